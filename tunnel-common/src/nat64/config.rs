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
    /// Host bits of the RFC 6791 pool: `2^icmp_src4_bits` addresses from
    /// `icmp_src4` on (0: that one address, as pins written before the
    /// pool existed say), at most `POOL_BITS_MAX`.
    pub icmp_src4_bits: u8,
    pub _pad: u8,
    /// The source of ICMPv4 errors translated from IPv6 senders that have
    /// no IPv4 address of their own (routers: RFC 6791), the first of
    /// the pool; 0.0.0.0: none, such errors are counted drops.
    pub icmp_src4: [u8; 4],
}

/// The largest RFC 6791 pool: a /16.
pub const POOL_BITS_MAX: u8 = 16;
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

    /// The RFC 6791 source of an error from IPv6 address `from`, which
    /// has no mapping: an address of the pool picked by a hash of `from`
    /// (RFC 6791 §4 asks for addresses spread over the pool), the same for
    /// the same router: a traceroute shows one IPv4 address per hop, and
    /// different routers apart as far as the pool allows.
    #[inline(always)]
    pub fn pool_source_v4(&self, from: &[u8; 16]) -> [u8; 4] {
        let bits = self.icmp_src4_bits.min(POOL_BITS_MAX) as u32;
        if bits == 0 {
            return self.icmp_src4;
        }
        let w = |i: usize| u32::from_be_bytes([from[i], from[i + 1], from[i + 2], from[i + 3]]);
        // Fibonacci hashing: the multiply spreads every input bit into the
        // top bits, which pick the address.
        let h = (w(0) ^ w(4) ^ w(8) ^ w(12)).wrapping_mul(0x9e37_79b1) >> (32 - bits);
        let mask = (1u32 << bits) - 1;
        (u32::from_be_bytes(self.icmp_src4) & !mask | h).to_be_bytes()
    }

    /// Whether pool6 is the well-known prefix (where RFC 6052 §3.1 limits
    /// which IPv4 addresses may appear).
    #[inline(always)]
    pub fn is_wkp(&self) -> bool {
        self.pool6_len == 96 && self.pool6 == super::rfc6052::WKP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(first: [u8; 4], bits: u8) -> Nat64Config {
        Nat64Config {
            icmp_src4: first,
            icmp_src4_bits: bits,
            ..Default::default()
        }
    }

    fn router(n: u16) -> [u8; 16] {
        let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        a[14..].copy_from_slice(&n.to_be_bytes());
        a
    }

    #[test]
    fn one_address_without_bits() {
        let c = pool([192, 0, 2, 1], 0);
        for n in 0..50 {
            assert_eq!(c.pool_source_v4(&router(n)), [192, 0, 2, 1]);
        }
    }

    #[test]
    fn pool_addresses_stay_inside_are_stable_and_spread() {
        let c = pool([192, 0, 2, 8], 3);
        let mut seen = std::collections::HashSet::new();
        for n in 0..200 {
            let a = c.pool_source_v4(&router(n));
            assert_eq!(a[..3], [192, 0, 2], "{a:?}");
            assert!((8..16).contains(&a[3]), "{a:?} outside 192.0.2.8/29");
            assert_eq!(a, c.pool_source_v4(&router(n)), "same router, same address");
            seen.insert(a);
        }
        assert_eq!(seen.len(), 8, "200 routers use all 8 addresses");
    }

    #[test]
    fn bits_above_the_maximum_are_capped() {
        let c = pool([198, 51, 0, 0], 30);
        let a = c.pool_source_v4(&router(7));
        assert_eq!(a[..2], [198, 51], "{a:?} outside the /16 cap");
    }
}
