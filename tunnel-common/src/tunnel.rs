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
/// AYIYA (IPv6 in UDP 5072, signed; its endpoint learned, `ENDPOINTS`).
pub const TUNNEL_KIND_AYIYA: u8 = 2;
/// 6in4 whose remote is learned from signed beats on UDP 3740 (SixXS
/// heartbeat), written to `ENDPOINTS` by the daemon.
pub const TUNNEL_KIND_HEARTBEAT: u8 = 3;

/// Whether a tunnel of `kind` learns where its user is (`ENDPOINTS`)
/// instead of being configured with it. Such a tunnel follows its user's
/// last valid packet or beat, whatever the protocol (`Endpoint::via`), as
/// sixxsd switches between AYIYA and heartbeat: its kind only says what the
/// user was told to run.
#[inline(always)]
pub const fn learns_endpoint(kind: u8) -> bool {
    kind == TUNNEL_KIND_AYIYA || kind == TUNNEL_KIND_HEARTBEAT
}

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

/// Value of `TUN_BY_V4`: the tunnel id and what decapsulation reads of the
/// tunnel, found by the same lookup. A packet from a user touches this one
/// hash element instead of the element and then the tunnel's `TUNNELS`
/// slot: at scale each is a cache and TLB miss of its own. The daemon
/// derives it from the same `TunnelInfo` it writes to `TUNNELS`
/// ([`DecapRef::new`]), so the two cannot disagree.
///
/// 16 bytes: with the 8-byte key the kernel's hash element stays within 72
/// bytes, the key and the value next to each other.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DecapRef {
    pub id: u32,
    /// `TUNNEL_KIND_*` of the tunnel.
    pub kind: u8,
    /// `TUNNEL_F_*` of the tunnel.
    pub flags: u8,
    pub _pad: [u8; 2],
    /// The tunnel's /64 (the first half of its `pop_v6`): the inner source
    /// check's fast path.
    pub net64: [u8; 8],
}
const _: () = assert!(core::mem::size_of::<DecapRef>() == 16);

impl DecapRef {
    /// Also built in eBPF (AYIYA's second stage): byte copies with a
    /// constant bound, no slice copy.
    #[inline(always)]
    pub fn new(id: u32, info: &TunnelInfo) -> Self {
        let mut net64 = [0; 8];
        let mut i = 0;
        while i < 8 {
            net64[i] = info.pop_v6[i];
            i += 1;
        }
        Self {
            id,
            kind: info.kind,
            flags: info.flags,
            _pad: [0; 2],
            net64,
        }
    }
    #[inline(always)]
    pub fn is_enabled(&self) -> bool {
        self.kind != 0 && self.flags & TUNNEL_F_ENABLED != 0
    }
}

/// `Endpoint::family` values (0: nothing learned).
pub const ENDPOINT_V4: u8 = 4;
pub const ENDPOINT_V6: u8 = 6;
/// `Endpoint::via`: what taught the PoP this endpoint.
pub const ENDPOINT_VIA_AYIYA: u8 = 1;
pub const ENDPOINT_VIA_HEARTBEAT: u8 = 2;

/// Value of `ENDPOINTS` (an array indexed by tunnel id): where the tunnel's
/// user was last seen, learned from authenticated packets (AYIYA) or beats
/// (heartbeat). Learned state, apart from the configuration: the data path
/// and the daemon's protocol handlers write it; reconciliation never does
/// (it only clears the slot of a tunnel that is removed or added, so a
/// reused id does not inherit the previous user's address).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Endpoint {
    /// The user's address; IPv4 as `::ffff:a.b.c.d`. Network order.
    pub remote: [u8; 16],
    /// The PoP's address the user sent to (the source of what goes back).
    pub local: [u8; 16],
    /// Network order.
    pub remote_port: [u8; 2],
    pub local_port: [u8; 2],
    /// `ENDPOINT_V4`, `ENDPOINT_V6`; 0 when nothing has been learned.
    pub family: u8,
    /// `ENDPOINT_VIA_*`.
    pub via: u8,
    pub _pad: [u8; 2],
    /// `CLOCK_BOOTTIME` in ns (`bpf_ktime_get_boot_ns`) of the last packet
    /// or beat that confirmed it.
    pub last_seen_ns: u64,
}
const _: () = assert!(core::mem::size_of::<Endpoint>() == 48);

impl Endpoint {
    #[inline(always)]
    pub fn is_learned(&self) -> bool {
        self.family != 0
    }
    /// Learned and confirmed less than `liveness_ns` before `now_ns`
    /// (`CLOCK_BOOTTIME`; see `RuntimeConfig::liveness_s`): the tunnel is
    /// UP. A `last_seen_ns` ahead of now (written by a racing CPU) counts
    /// as fresh.
    #[inline(always)]
    pub fn is_fresh(&self, now_ns: u64, liveness_ns: u64) -> bool {
        self.is_learned() && now_ns.saturating_sub(self.last_seen_ns) < liveness_ns
    }
}

/// Value of `SECRETS` (an array indexed by tunnel id): the key a tunnel's
/// packets are signed with (AYIYA: K = SHA-1 of the password). In its own
/// map so that the hot per-tunnel record stays small and a dump of the
/// tunnel table shows no key.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TunnelSecret {
    pub key: [u8; 20],
    /// Bytes of `key` in use (20 for SHA-1); 0 for no key.
    pub len: u8,
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<TunnelSecret>() == 24);

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
        assert_eq!(offset_of!(DecapRef, id), 0);
        assert_eq!(offset_of!(DecapRef, kind), 4);
        assert_eq!(offset_of!(DecapRef, flags), 5);
        assert_eq!(offset_of!(DecapRef, net64), 8);
        assert_eq!(offset_of!(Endpoint, remote), 0);
        assert_eq!(offset_of!(Endpoint, local), 16);
        assert_eq!(offset_of!(Endpoint, remote_port), 32);
        assert_eq!(offset_of!(Endpoint, local_port), 34);
        assert_eq!(offset_of!(Endpoint, family), 36);
        assert_eq!(offset_of!(Endpoint, via), 37);
        assert_eq!(offset_of!(Endpoint, last_seen_ns), 40);
        assert_eq!(offset_of!(TunnelSecret, key), 0);
        assert_eq!(offset_of!(TunnelSecret, len), 20);
    }

    /// The decap record says what the tunnel's entry says.
    #[test]
    fn decap_ref_follows_the_tunnel() {
        let mut pop_v6 = [0u8; 16];
        pop_v6[..8].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]);
        pop_v6[15] = 1;
        let mut info = TunnelInfo {
            pop_v6,
            kind: TUNNEL_KIND_6IN4,
            flags: TUNNEL_F_ENABLED | TUNNEL_F_PMTUDISC,
            ..Default::default()
        };
        let r = DecapRef::new(7, &info);
        assert_eq!((r.id, r.kind, r.flags), (7, TUNNEL_KIND_6IN4, info.flags));
        assert_eq!(r.net64, pop_v6[..8]);
        assert!(r.is_enabled());
        info.flags = TUNNEL_F_PMTUDISC;
        assert!(!DecapRef::new(7, &info).is_enabled());
        info.kind = 0;
        info.flags = TUNNEL_F_ENABLED;
        assert!(!DecapRef::new(7, &info).is_enabled());
    }

    /// UP until the liveness time after the last confirmation, DOWN from then on, and
    /// never UP when nothing was learned.
    #[test]
    fn freshness() {
        const L: u64 = 120_000_000_000;
        let mut ep = Endpoint {
            family: ENDPOINT_V4,
            last_seen_ns: 1_000,
            ..Default::default()
        };
        assert!(ep.is_fresh(1_000, L));
        assert!(ep.is_fresh(500, L), "a racing writer's newer stamp");
        assert!(ep.is_fresh(1_000 + L - 1, L));
        assert!(!ep.is_fresh(1_000 + L, L));
        ep.family = 0;
        assert!(!ep.is_fresh(1_000, L));
        assert!(learns_endpoint(TUNNEL_KIND_AYIYA) && learns_endpoint(TUNNEL_KIND_HEARTBEAT));
        assert!(!learns_endpoint(TUNNEL_KIND_6IN4) && !learns_endpoint(0));
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
