//! Explicit address mappings (RFC 7757): an IPv6 prefix and an IPv4 prefix
//! that stand for each other. Two LPM tries hold them, one per direction
//! (`EAM6`: IPv6 prefix → [`Eam`], `EAM4`: IPv4 prefix → [`Eam`]); the
//! longest match wins, as RFC 7757 §3.2 says.
//!
//! The part of an address past its prefix (the suffix) is carried over bit
//! for bit from the most significant end: with equal suffix lengths (the
//! usual `2001:db8::5/128` ↔ `198.51.100.5/32`, or a /120 ↔ a /24) the
//! mapping is one to one; a longer IPv6 suffix keeps only its first bits
//! toward IPv4, and IPv4 → IPv6 pads the IPv6 suffix with zeros.

/// Both sides of one mapping, the value of both tries.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Eam {
    /// IPv6 prefix (bits past `v6_len` zero).
    pub v6: [u8; 16],
    /// IPv4 prefix (bits past `v4_len` zero).
    pub v4: [u8; 4],
    pub v6_len: u8,
    pub v4_len: u8,
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<Eam>() == 24);

impl Eam {
    /// How many suffix bits cross over: the shorter of the two suffixes.
    #[inline(always)]
    fn carried(&self) -> (u32, u32) {
        let v4_suffix = 32 - (self.v4_len as u32).min(32);
        let v6_suffix = 128 - (self.v6_len as u32).min(128);
        (v4_suffix, v4_suffix.min(v6_suffix))
    }

    /// The IPv4 address for `addr`, which the `EAM6` lookup matched.
    #[inline(always)]
    pub fn to_v4(&self, addr: &[u8; 16]) -> [u8; 4] {
        let (v4_suffix, n) = self.carried();
        if n == 0 {
            return self.v4;
        }
        // The n bits after the IPv6 prefix, from the top of a 64-bit
        // window that starts there (BPF has no 128-bit shifts).
        let taken = (window(addr, self.v6_len as u32) >> (64 - n)) as u32;
        (u32::from_be_bytes(self.v4) | taken << (v4_suffix - n)).to_be_bytes()
    }

    /// The IPv6 address for `addr`, which the `EAM4` lookup matched.
    #[inline(always)]
    pub fn to_v6(&self, addr: [u8; 4]) -> [u8; 16] {
        crate::addr::from_halves(self.to_v6_halves(addr))
    }

    /// `to_v6` as two big-endian 64-bit halves: what the eBPF programs
    /// write into the packet, with no 16-byte array on their stack.
    #[inline(always)]
    pub fn to_v6_halves(&self, addr: [u8; 4]) -> (u64, u64) {
        let (v4_suffix, n) = self.carried();
        if n == 0 {
            return halves(&self.v6);
        }
        // The first n bits of the IPv4 suffix, placed right after the
        // IPv6 prefix: bits [v6_len, v6_len + n) of the address.
        let suffix = u32::from_be_bytes(addr) & (u32::MAX >> (32 - v4_suffix));
        let taken = (suffix >> (v4_suffix - n)) as u64;
        let (mut hi, mut lo) = halves(&self.v6);
        // Distance of the bits' lowest from the address's lowest bit.
        let s = 128 - n - (self.v6_len as u32).min(128 - n);
        if s >= 64 {
            hi |= taken << (s - 64);
        } else {
            lo |= taken << s;
            if s + n > 64 {
                hi |= taken >> (64 - s);
            }
        }
        (hi, lo)
    }
}

/// The address as two big-endian 64-bit halves.
#[inline(always)]
fn halves(a: &[u8; 16]) -> (u64, u64) {
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&a[..8]);
    lo.copy_from_slice(&a[8..]);
    (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
}

/// The 64 bits of `a` from bit `p` (0 = the most significant) on; bits
/// past the address's end are zero.
#[inline(always)]
fn window(a: &[u8; 16], p: u32) -> u64 {
    let (hi, lo) = halves(a);
    match p {
        0 => hi,
        1..=63 => hi << p | lo >> (64 - p),
        64 => lo,
        65..=127 => lo << (p - 64),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    fn eam(v6: &str, v6_len: u8, v4: &str, v4_len: u8) -> Eam {
        Eam {
            v6: v6.parse::<Ipv6Addr>().unwrap().octets(),
            v4: v4.parse::<Ipv4Addr>().unwrap().octets(),
            v6_len,
            v4_len,
            _pad: [0; 2],
        }
    }

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn single_host() {
        let e = eam("2001:db8:1::2", 128, "198.51.100.5", 32);
        assert_eq!(e.to_v4(&v6("2001:db8:1::2")), [198, 51, 100, 5]);
        assert_eq!(e.to_v6([198, 51, 100, 5]), v6("2001:db8:1::2"));
    }

    /// RFC 7757 §3.3's example shape: a /120 and a /24 map the last octet.
    #[test]
    fn equal_suffixes() {
        let e = eam("2001:db8:6::", 120, "192.0.2.0", 24);
        assert_eq!(e.to_v4(&v6("2001:db8:6::8")), [192, 0, 2, 8]);
        assert_eq!(e.to_v6([192, 0, 2, 255]), v6("2001:db8:6::ff"));
    }

    #[test]
    fn unaligned_lengths() {
        // /61 ↔ /29: a 67-bit IPv6 suffix, a 3-bit IPv4 one.
        let e = eam("2001:db8:0:8::", 61, "203.0.113.8", 29);
        assert_eq!(e.to_v6([203, 0, 113, 13]), v6("2001:db8:0:d::"));
        assert_eq!(e.to_v4(&v6("2001:db8:0:d::")), [203, 0, 113, 13]);
        assert_eq!(e.to_v4(&v6("2001:db8:0:d:ffff::1")), [203, 0, 113, 13]);
    }

    proptest! {
        /// With equal suffix lengths, IPv4 → IPv6 → IPv4 is the identity.
        #[test]
        fn equal_suffix_round_trip(suffix in 0u32..=32, a in any::<[u8; 4]>(), p6 in any::<[u8; 16]>()) {
            let v4_len = (32 - suffix) as u8;
            let v6_len = (128 - suffix) as u8;
            let keep4 = if suffix == 32 { 0 } else { u32::MAX << suffix };
            let v4 = (u32::from_be_bytes(a) & keep4).to_be_bytes();
            let p = u128::from_be_bytes(p6);
            let keep6 = if suffix == 0 { u128::MAX } else { u128::MAX << suffix };
            let e = Eam { v6: (p & keep6).to_be_bytes(), v4, v6_len, v4_len, _pad: [0; 2] };
            let host = (u32::from_be_bytes(a) & !keep4) | u32::from_be_bytes(v4);
            let mapped = e.to_v6(host.to_be_bytes());
            prop_assert_eq!(u128::from_be_bytes(mapped) & keep6, p & keep6);
            prop_assert_eq!(e.to_v4(&mapped), host.to_be_bytes());
        }
    }
}
