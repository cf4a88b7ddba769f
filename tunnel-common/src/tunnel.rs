//! Per-tunnel map layouts.

/// Key of `TUN_BY_V4`: the outer addresses of a 6in4 packet as received.
/// Addresses in network byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TunnelV4Key {
    /// The PoP's address (outer destination on decap, source on encap).
    pub local: [u8; 4],
    /// The user's address (outer source on decap, destination on encap).
    pub remote: [u8; 4],
}
const _: () = assert!(core::mem::size_of::<TunnelV4Key>() == 8);

/// `flags` bit: the tunnel carries traffic. A disabled tunnel's packets are
/// counted drops in both directions.
pub const TUNNEL_F_ENABLED: u8 = 1 << 0;
/// `flags` bit: path-MTU discovery as sit's `pmtudisc`: the outer header
/// gets DF. Off means a static MTU, and RFC 4213 §3.2.1 forbids DF then.
pub const TUNNEL_F_PMTUDISC: u8 = 1 << 1;

/// Tunnel kinds (`kind`).
pub const TUNNEL_KIND_6IN4: u8 = 1;

/// Smallest and largest tunnel MTU, RFC 4213 §3.2.1.
pub const MTU_MIN: u16 = 1280;
pub const MTU_MAX: u16 = 1480;
/// HE's and sit's default (1500 minus the outer IPv4 header).
pub const MTU_DEFAULT: u16 = 1480;
/// Outer TTL when none is given; 0 means "inherit the inner hop limit".
pub const TTL_DEFAULT: u8 = 64;

/// Value of `TUNNELS` (an array indexed by tunnel id). Aligned to 8 so
/// that copies are four word moves: at alignment 2, LLVM's BPF backend
/// copies it with a byte-at-a-time `memmove` call (~100 instructions).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TunnelInfo {
    /// PoP's outer IPv4, network order.
    pub local_v4: [u8; 4],
    /// User's outer IPv4, network order.
    pub remote_v4: [u8; 4],
    /// The PoP's address inside the tunnel (`prefix::1`): the source of the
    /// ICMPv6 errors the PoP sends into or about this tunnel.
    pub pop_v6: [u8; 16],
    /// Tunnel MTU for inner packets (1280..=1480), host order.
    pub mtu: u16,
    /// `TUNNEL_KIND_*`; 0 marks an empty slot.
    pub kind: u8,
    /// `TUNNEL_F_*`.
    pub flags: u8,
    /// Outer TTL; 0 copies the inner hop limit (sit's `ttl inherit`).
    pub ttl: u8,
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<TunnelInfo>() == 32);

impl TunnelInfo {
    #[inline(always)]
    pub fn is_enabled(&self) -> bool {
        self.kind != 0 && self.flags & TUNNEL_F_ENABLED != 0
    }
    #[inline(always)]
    pub fn pmtudisc(&self) -> bool {
        self.flags & TUNNEL_F_PMTUDISC != 0
    }
}

#[cfg(test)]
mod tests {
    use core::mem::offset_of;

    use super::*;

    /// The eBPF side and user space share these layouts byte for byte; a
    /// field moved by accident shows up here (and needs an ABI_VERSION bump).
    #[test]
    fn layouts() {
        assert_eq!(offset_of!(TunnelV4Key, local), 0);
        assert_eq!(offset_of!(TunnelV4Key, remote), 4);
        assert_eq!(offset_of!(TunnelInfo, local_v4), 0);
        assert_eq!(offset_of!(TunnelInfo, remote_v4), 4);
        assert_eq!(offset_of!(TunnelInfo, pop_v6), 8);
        assert_eq!(offset_of!(TunnelInfo, mtu), 24);
        assert_eq!(offset_of!(TunnelInfo, kind), 26);
        assert_eq!(offset_of!(TunnelInfo, flags), 27);
        assert_eq!(offset_of!(TunnelInfo, ttl), 28);
        assert_eq!(core::mem::align_of::<TunnelInfo>(), 8);
    }

    #[test]
    fn flags() {
        let mut t = TunnelInfo {
            kind: TUNNEL_KIND_6IN4,
            flags: TUNNEL_F_ENABLED,
            ..Default::default()
        };
        assert!(t.is_enabled() && !t.pmtudisc());
        t.flags |= TUNNEL_F_PMTUDISC;
        assert!(t.pmtudisc());
        // An empty slot is never enabled, whatever its flags.
        t.kind = 0;
        assert!(!t.is_enabled());
    }
}
