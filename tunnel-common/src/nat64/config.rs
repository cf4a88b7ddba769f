//! The translator's settings: one slot of the `NAT64` map, written by the
//! daemon. A zero `pool6_len` means no pool6: IPv6 toward RFC 6052
//! addresses is not translated (EAM still is).

/// Refuse (count and drop) IPv4 addresses that are not global behind the
/// well-known prefix (RFC 6052 §3.1). Set by default.
pub const NAT64_F_WKP_STRICT: u8 = 1;
/// Translate IPv4 UDP with checksum 0 by computing the checksum (RFC 7915
/// §4.5 allows either); without the flag such datagrams are dropped and
/// counted.
pub const NAT64_F_UDP0_COMPUTE: u8 = 2;

/// The EAM tables hold entries: the root program looks IPv4 destinations
/// up in `EAM4` only then (the daemon keeps the flag true to the tables).
pub const NAT64_F_EAM: u8 = 4;

/// `NAT64` map value.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nat64Config {
    /// pool6: the RFC 6052 prefix IPv4 hosts are seen under.
    pub pool6: [u8; 16],
    /// Its length, one of `rfc6052::LENGTHS`, or 0: no pool6.
    pub pool6_len: u8,
    /// `NAT64_F_*`.
    pub flags: u8,
    pub _pad: [u8; 2],
    /// The source of ICMPv4 errors translated from IPv6 senders that have
    /// no IPv4 address of their own (routers: RFC 6791); 0.0.0.0: none,
    /// such errors are counted drops.
    pub icmp_src4: [u8; 4],
}
const _: () = assert!(core::mem::size_of::<Nat64Config>() == 24);

impl Nat64Config {
    /// Whether IPv6 address `addr` is an IPv4 host seen through pool6.
    #[inline(always)]
    pub fn in_pool6(&self, addr: &[u8; 16]) -> bool {
        self.pool6_len != 0 && super::rfc6052::in_prefix(addr, &self.pool6, self.pool6_len)
    }

    /// Whether `EAM4` is worth a lookup.
    #[inline(always)]
    pub fn has_eams(&self) -> bool {
        self.flags & NAT64_F_EAM != 0
    }

    /// Whether pool6 is the well-known prefix (where RFC 6052 §3.1 limits
    /// which IPv4 addresses may appear).
    #[inline(always)]
    pub fn is_wkp(&self) -> bool {
        self.pool6_len == 96 && self.pool6 == super::rfc6052::WKP
    }
}
