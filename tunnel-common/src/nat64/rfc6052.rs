//! IPv4-embedded IPv6 addresses (RFC 6052 §2.2). The prefix length says
//! where the 32 bits go; bits 64..72 (the "u" octet) are always zero, so
//! for lengths 40 to 56 the IPv4 address is split around it:
//!
//! ```text
//! PL  | 0..PL  | IPv4 bytes at               | then
//! 32  | prefix | 4 5 6 7                     | u=8, suffix
//! 40  | prefix | 5 6 7, (u=8), 9             | suffix
//! 48  | prefix | 6 7, (u=8), 9 10            | suffix
//! 56  | prefix | 7, (u=8), 9 10 11           | suffix
//! 64  | prefix | (u=8), 9 10 11 12           | suffix
//! 96  | prefix | 12 13 14 15                 |
//! ```

/// The prefix lengths RFC 6052 allows.
pub const LENGTHS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// The well-known prefix `64:ff9b::/96` (RFC 6052 §2.1).
pub const WKP: [u8; 16] = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// The byte of the IPv6 address that holds byte `i` of the IPv4 address,
/// for prefix length `len` (one of [`LENGTHS`]).
#[inline(always)]
const fn position(len: u8, i: usize) -> usize {
    let start = (len / 8) as usize;
    let at = start + i;
    // Bytes from 8 on move one up to leave the u octet alone; /96 starts
    // past it.
    if len < 96 && at >= 8 {
        at + 1
    } else {
        at
    }
}

/// Whether `len` is one of RFC 6052's prefix lengths.
#[inline(always)]
pub const fn valid_length(len: u8) -> bool {
    matches!(len, 32 | 40 | 48 | 56 | 64 | 96)
}

/// The IPv6 address for IPv4 `v4` under `prefix`/`len` (bits past `len`
/// of `prefix` are taken as zero; suffix and u octet are zero).
#[inline(always)]
pub fn embed(prefix: &[u8; 16], len: u8, v4: [u8; 4]) -> [u8; 16] {
    crate::addr::from_halves(embed_halves(prefix, len, v4))
}

/// `embed` as two big-endian 64-bit halves (no 16-byte array on an eBPF
/// program's stack).
#[inline(always)]
pub fn embed_halves(prefix: &[u8; 16], len: u8, v4: [u8; 4]) -> (u64, u64) {
    let (mut hi, mut lo) = crate::addr::words(prefix);
    // `words` gives native-order halves of the bytes; as numbers:
    hi = u64::from_be(hi);
    lo = u64::from_be(lo);
    // Keep the prefix bits only (every RFC 6052 length is whole bytes).
    let bits = (len as u32).min(128);
    hi &= if bits >= 64 {
        u64::MAX
    } else if bits == 0 {
        0
    } else {
        u64::MAX << (64 - bits)
    };
    lo &= if bits <= 64 {
        0
    } else if bits >= 128 {
        u64::MAX
    } else {
        u64::MAX << (128 - bits)
    };
    let mut j = 0;
    while j < 4 {
        let at = position(len, j) & 15;
        let b = v4[j] as u64;
        if at < 8 {
            hi |= b << (56 - 8 * at as u32);
        } else {
            lo |= b << (56 - 8 * (at as u32 - 8));
        }
        j += 1;
    }
    (hi, lo)
}

/// The IPv4 address embedded in `addr` under a prefix of length `len`.
/// The caller has checked that `addr` is inside the prefix. The u octet
/// and the suffix are not looked at (RFC 6052 §2.2: a translator SHOULD
/// ignore the suffix).
#[inline(always)]
pub fn extract(addr: &[u8; 16], len: u8) -> [u8; 4] {
    [
        addr[position(len, 0) & 15],
        addr[position(len, 1) & 15],
        addr[position(len, 2) & 15],
        addr[position(len, 3) & 15],
    ]
}

/// Whether `addr` lies inside `prefix`/`len` (whole bytes: every RFC 6052
/// length is a multiple of 8).
#[inline(always)]
pub fn in_prefix(addr: &[u8; 16], prefix: &[u8; 16], len: u8) -> bool {
    let n = (len / 8) as usize;
    let mut i = 0;
    while i < 16 {
        if i < n && addr[i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether an IPv4 address may appear behind the well-known prefix (RFC
/// 6052 §3.1: not the private, shared, loopback, link-local, reserved or
/// documentation ranges of RFC 6890 that are not globally reachable).
/// Documentation ranges count as non-global here too; an operator who
/// tests with them uses a network-specific prefix or turns the rule off.
#[inline(always)]
pub const fn is_global_v4(a: [u8; 4]) -> bool {
    !matches!(
        a,
        [0, ..]
            | [10, ..]
            | [127, ..]
            | [169, 254, ..]
            | [172, 16..=31, ..]
            | [192, 0, 0, ..]
            | [192, 0, 2, ..]
            | [192, 88, 99, ..]
            | [192, 168, ..]
            | [198, 18..=19, ..]
            | [198, 51, 100, ..]
            | [203, 0, 113, ..]
            | [224..=255, ..]
    ) && !matches!(a, [100, 64..=127, ..])
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    /// RFC 6052 §2.4, the table of examples: 192.0.2.33 under each length.
    const EXAMPLES: [(&str, u8, &str); 7] = [
        ("2001:db8::", 32, "2001:db8:c000:221::"),
        ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
        ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"),
        ("2001:db8:122:344::", 96, "2001:db8:122:344::192.0.2.33"),
        ("64:ff9b::", 96, "64:ff9b::192.0.2.33"),
    ];

    #[test]
    fn rfc6052_examples_both_ways() {
        let v4 = Ipv4Addr::new(192, 0, 2, 33).octets();
        for (prefix, len, want) in EXAMPLES {
            let got = embed(&v6(prefix), len, v4);
            assert_eq!(
                Ipv6Addr::from(got),
                want.parse::<Ipv6Addr>().unwrap(),
                "/{len}"
            );
            assert_eq!(extract(&v6(want), len), v4, "/{len}");
            assert!(in_prefix(&got, &v6(prefix), len));
        }
    }

    #[test]
    fn u_octet_and_suffix_stay_zero() {
        for len in LENGTHS {
            let a = embed(&[0xff; 16], len, [0xff; 4]);
            if len < 96 {
                assert_eq!(a[8], 0, "u octet, /{len}");
            }
            // prefix bits + 32 address bits + the u octet when it is inside
            let ones: u32 = a.iter().map(|b| b.count_ones()).sum();
            assert_eq!(ones, len as u32 + 32, "/{len}");
        }
    }

    #[test]
    fn extract_ignores_suffix_and_u_octet() {
        let mut a = embed(&v6("2001:db8::"), 40, [198, 51, 100, 7]);
        a[8] = 0xaa;
        a[15] = 0x55;
        assert_eq!(extract(&a, 40), [198, 51, 100, 7]);
    }

    #[test]
    fn prefix_membership() {
        assert!(in_prefix(&v6("64:ff9b::1"), &WKP, 96));
        assert!(!in_prefix(&v6("64:ff9b:1::1"), &WKP, 96));
        assert!(in_prefix(&v6("64:ff9b:1:2::"), &v6("64:ff9b:1::"), 48));
    }

    #[test]
    fn global_v4() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.1.1",
        ] {
            assert!(is_global_v4(a.parse::<Ipv4Addr>().unwrap().octets()), "{a}");
        }
        for a in [
            "10.1.2.3",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "0.1.2.3",
            "192.0.0.8",
            "192.88.99.1",
        ] {
            assert!(
                !is_global_v4(a.parse::<Ipv4Addr>().unwrap().octets()),
                "{a}"
            );
        }
    }

    #[test]
    fn lengths() {
        for l in 0..=128u8 {
            assert_eq!(valid_length(l), LENGTHS.contains(&l), "{l}");
        }
    }
}
