//! Address classes the tunnel checks need (RFC 4213 §3.6).

/// The address as two 64-bit words in network order read as native ones:
/// for equality and zero tests, one load each on the data path (see
/// tunnel-ebpf/build.rs) instead of sixteen byte compares.
#[inline(always)]
pub fn words(a: &[u8; 16]) -> (u64, u64) {
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&a[..8]);
    lo.copy_from_slice(&a[8..]);
    (u64::from_ne_bytes(hi), u64::from_ne_bytes(lo))
}

/// The address as four 32-bit words in network order read as native ones:
/// the same bytes, as `bpf_fib_lookup` and the data path's LPM keys take
/// them (four aligned word stores where a key is built on the stack).
#[inline(always)]
pub fn words32(a: &[u8; 16]) -> [u32; 4] {
    [
        u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
        u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
        u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
    ]
}

/// Sources a decapsulator must silently discard (RFC 4213 §3.6): multicast,
/// loopback, IPv4-compatible (which includes `::`), IPv4-mapped.
#[inline(always)]
pub fn is_invalid_tunnel_source(a: &[u8; 16]) -> bool {
    if a[0] == 0xff {
        return true;
    }
    // ::/96 (IPv4-compatible, unspecified, loopback) and ::ffff:0:0/96:
    // the first 80 bits zero, the next 16 all zeros or all ones.
    let (hi, lo) = words(a);
    let next32 = u64::from_be(lo) >> 32;
    hi == 0 && (next32 == 0 || next32 == 0xffff)
}

/// Whether `a` and `b` are the same address.
#[inline(always)]
pub fn same_addr(a: &[u8; 16], b: &[u8; 16]) -> bool {
    words(a) == words(b)
}

/// Whether `a` lies in the /64 `net` (its first 8 bytes).
#[inline(always)]
pub fn in_net64(a: &[u8; 16], net: &[u8; 8]) -> bool {
    words(a).0 == u64::from_ne_bytes(*net)
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

/// The address whose big-endian 64-bit halves are `hi` and `lo`.
#[inline(always)]
pub fn from_halves((hi, lo): (u64, u64)) -> [u8; 16] {
    let mut out = [0u8; 16];
    let (a, b) = out.split_at_mut(8);
    a.copy_from_slice(&hi.to_be_bytes());
    b.copy_from_slice(&lo.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn o(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn addresses_and_nets_compare_every_byte_they_cover() {
        let (a, b) = (o("2001:db8:1:2::1"), o("2001:db8:1:2:ffff::9"));
        assert!(same_addr(&a, &a));
        // Four words, the same bytes.
        let w = words32(&a);
        let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_ne_bytes()).collect();
        assert_eq!(bytes, a);
        assert!(!same_addr(&a, &b));
        // A difference in any one byte counts.
        for i in 0..16 {
            let mut c = a;
            c[i] ^= 0x80;
            assert!(!same_addr(&a, &c), "byte {i}");
        }
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
            // Bits 80..96 neither all zeros nor all ones, or a bit set
            // before them: outside both /96s.
            ("::fffe:192.0.2.1", false),
            ("::1:0:0", false),
            ("0:0:0:0:1:ffff:c000:201", false),
            ("0:0:0:1::", false),
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
