//! Address classes the tunnel checks need (RFC 4213 §3.6).

/// Sources a decapsulator must silently discard (RFC 4213 §3.6): multicast,
/// loopback, IPv4-compatible (which includes `::`), IPv4-mapped.
#[inline(always)]
pub fn is_invalid_tunnel_source(a: &[u8; 16]) -> bool {
    if a[0] == 0xff {
        return true;
    }
    // ::/96 (IPv4-compatible, unspecified, loopback) and ::ffff:0:0/96.
    let zero80 = a[0..10].iter().all(|b| *b == 0);
    zero80 && ((a[10] == 0 && a[11] == 0) || (a[10] == 0xff && a[11] == 0xff))
}

/// Whether the first `N` bytes of `a` and `b` are equal. Branch-free, no
/// call: a slice `==` becomes a call to a byte-at-a-time `memcmp` loop on
/// the BPF target.
#[inline(always)]
pub fn same_prefix<const N: usize>(a: &[u8; 16], b: &[u8; 16]) -> bool {
    let mut d = 0u8;
    let mut i = 0;
    while i < N {
        d |= a[i] ^ b[i];
        i += 1;
    }
    d == 0
}

/// Whether `a` lies in the /64 `net` (its first 8 bytes).
#[inline(always)]
pub fn in_net64(a: &[u8; 16], net: &[u8; 8]) -> bool {
    let mut d = 0u8;
    let mut i = 0;
    while i < 8 {
        d |= a[i] ^ net[i];
        i += 1;
    }
    d == 0
}

/// fe80::/10.
#[inline(always)]
pub fn is_link_local(a: &[u8; 16]) -> bool {
    a[0] == 0xfe && a[1] & 0xc0 == 0x80
}

/// ff00::/8.
#[inline(always)]
pub fn is_multicast(a: &[u8; 16]) -> bool {
    a[0] == 0xff
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn o(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn prefixes_compare_their_first_bytes_only() {
        let (a, b) = (o("2001:db8:1:2::1"), o("2001:db8:1:2:ffff::9"));
        assert!(same_prefix::<8>(&a, &b));
        assert!(!same_prefix::<9>(&a, &b));
        assert!(same_prefix::<16>(&a, &a));
        assert!(!same_prefix::<8>(&a, &o("2001:db8:1:3::1")));
        let net: [u8; 8] = a[..8].try_into().unwrap();
        assert!(in_net64(&b, &net));
        assert!(!in_net64(&o("2001:db8:1:3::2"), &net));
        // The last byte of the /64 counts too.
        assert!(!in_net64(
            &o("2001:db8:1:2:100::"),
            &[0x20, 1, 0x0d, 0xb8, 0, 1, 0, 3]
        ));
    }

    #[test]
    fn classes() {
        let cases = [
            ("::", true),
            ("::1", true),
            ("::192.0.2.1", true),
            ("::ffff:192.0.2.1", true),
            ("ff02::1", true),
            ("ff0e::1", true),
            ("2001:db8::2", false),
            ("fe80::1", false),
            ("::1:0:0:1", false),
            ("64:ff9b::192.0.2.1", false),
        ];
        for (s, want) in cases {
            assert_eq!(is_invalid_tunnel_source(&o(s)), want, "{s}");
        }
        assert!(is_link_local(&o("fe80::1")));
        assert!(is_link_local(&o("febf::1")));
        assert!(!is_link_local(&o("fec0::1")));
        assert!(is_multicast(&o("ff02::1:ff00:2")));
    }
}
