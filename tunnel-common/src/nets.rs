//! The destination lookup's layouts: which tunnel owns an IPv6 address.
//!
//! Tunnel prefixes never overlap (the daemon refuses overlaps), so an
//! address belongs to at most one prefix and any exact hit is the answer:
//! no longest-match walk is needed. The data path
//! 1. tests the address against `POOLS`, a handful of aggregates that cover
//!    every tunnel prefix: traffic that is not for a tunnel stops here;
//! 2. looks the address up in `NETS` (exact hash) at each prefix length in
//!    use, /64 first;
//! 3. falls back to the `PREFIXES` trie only for prefixes of lengths beyond
//!    the `FAST_LENGTHS` most common ones (rare; none in a usual broker).

/// Aggregates in `Pools`.
pub const POOL_SLOTS: usize = 16;
/// Prefix lengths looked up exactly; prefixes of other lengths go to the trie.
pub const FAST_LENGTHS: usize = 8;

/// `Pools::flags`: the aggregates overflowed; every address may be ours.
pub const POOLS_F_ALL: u32 = 1 << 0;
/// `Pools::flags`: the trie holds prefixes; look there after a miss.
pub const POOLS_F_TRIE: u32 = 1 << 1;

/// Key of `NETS`: the prefix length and the address masked to it. Aligned
/// to 8 with the padding explicit (and zero: it is hashed): the data path
/// writes the address as two 64-bit words on its stack, which the verifier
/// only accepts aligned (see tunnel-ebpf/build.rs).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NetKey {
    pub len: u32,
    pub _pad: u32,
    pub addr: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<NetKey>() == 24);

/// One aggregate: the first 64 bits of an address, as a big-endian value,
/// masked.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PoolEntry {
    pub net: u64,
    pub mask: u64,
}

/// Value of `POOLS` (an array of one).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pools {
    /// Entries of `pools` in use.
    pub count: u32,
    /// `POOLS_F_*`.
    pub flags: u32,
    /// Entries of `lengths` in use.
    pub n_lengths: u32,
    pub _pad: u32,
    /// Prefix lengths with entries in `NETS`, most common first.
    pub lengths: [u8; FAST_LENGTHS],
    pub pools: [PoolEntry; POOL_SLOTS],
}
const _: () = assert!(core::mem::size_of::<Pools>() == 24 + 16 * POOL_SLOTS);

/// Mask of the first `len` bits of a 64-bit big-endian value.
#[inline(always)]
pub const fn mask64(len: u32) -> u64 {
    if len == 0 {
        0
    } else if len >= 64 {
        u64::MAX
    } else {
        u64::MAX << (64 - len)
    }
}

/// The address's two halves as big-endian values.
#[inline(always)]
pub fn halves(addr: &[u8; 16]) -> (u64, u64) {
    let (hi, lo) = crate::addr::words(addr);
    (u64::from_be(hi), u64::from_be(lo))
}

/// `addr` with every bit past `len` cleared: the `NETS` key for that length.
#[inline(always)]
pub fn net_key(addr: &[u8; 16], len: u32) -> NetKey {
    let (hi, lo) = halves(addr);
    let hi = hi & mask64(len);
    let lo = if len > 64 { lo & mask64(len - 64) } else { 0 };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hi.to_be_bytes());
    out[8..].copy_from_slice(&lo.to_be_bytes());
    NetKey {
        len,
        _pad: 0,
        addr: out,
    }
}

impl PoolEntry {
    /// The aggregate of `len` bits (at most 64) holding `addr`.
    pub fn of(addr: &[u8; 16], len: u32) -> Self {
        let mask = mask64(len.min(64));
        Self {
            net: halves(addr).0 & mask,
            mask,
        }
    }
    #[inline(always)]
    pub fn holds(&self, hi: u64) -> bool {
        hi & self.mask == self.net
    }
}

impl Pools {
    /// Whether `addr` may belong to a tunnel prefix.
    #[inline(always)]
    pub fn covers(&self, addr: &[u8; 16]) -> bool {
        if self.flags & POOLS_F_ALL != 0 {
            return true;
        }
        let hi = halves(addr).0;
        let mut i = 0;
        while i < POOL_SLOTS {
            if i as u32 >= self.count {
                break;
            }
            if self.pools[i].holds(hi) {
                return true;
            }
            i += 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> [u8; 16] {
        s.parse::<std::net::Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn net_keys_mask_every_length() {
        let x = a("2001:db8:1234:5678:9abc:def0:1234:5678");
        assert_eq!(net_key(&x, 64).addr, a("2001:db8:1234:5678::"));
        assert_eq!(net_key(&x, 48).addr, a("2001:db8:1234::"));
        assert_eq!(net_key(&x, 56).addr, a("2001:db8:1234:5600::"));
        assert_eq!(net_key(&x, 80).addr, a("2001:db8:1234:5678:9abc::"));
        assert_eq!(net_key(&x, 128).addr, x);
        assert_eq!(net_key(&x, 0).addr, [0; 16]);
        assert_eq!(net_key(&x, 1).addr, a("::"));
        assert_eq!(net_key(&a("8000::1"), 1).addr, a("8000::"));
    }

    #[test]
    fn pools_cover_their_aggregates_only() {
        let mut p = Pools::default();
        assert!(!p.covers(&a("2001:db8::1")), "empty pools cover nothing");
        p.pools[0] = PoolEntry::of(&a("2001:db8::"), 32);
        p.count = 1;
        assert!(p.covers(&a("2001:db8:ffff::1")));
        assert!(!p.covers(&a("2001:db9::1")));
        // An entry past `count` is ignored.
        p.pools[1] = PoolEntry::of(&a("2001:db9::"), 32);
        assert!(!p.covers(&a("2001:db9::1")));
        p.flags = POOLS_F_ALL;
        assert!(p.covers(&a("3fff::1")));
    }
}
