//! Internet checksum arithmetic (RFC 1071, RFC 1624), pure and bounded so the
//! same code runs in eBPF and is tested on the host against etherparse.

/// Folds a 64-bit one's-complement accumulator to 16 bits (not inverted).
#[inline(always)]
pub const fn fold(mut sum: u64) -> u16 {
    // Four folds are enough for any 64-bit value.
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Adds 16-bit big-endian words of `data` to `sum`; an odd last byte is
/// padded with zero.
#[inline(always)]
pub fn add_bytes(mut sum: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [b] = chunks.remainder() {
        sum += (*b as u64) << 8;
    }
    sum
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1) for `len` bytes of
/// upper-layer data with next header `nh`.
#[inline(always)]
pub fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], len: u32, nh: u8) -> u64 {
    let mut sum = add_bytes(0, src);
    sum = add_bytes(sum, dst);
    sum + (len >> 16) as u64 + (len & 0xffff) as u64 + nh as u64
}

/// Header checksum of a 20-byte IPv4 header; bytes 10..12 (the checksum
/// field) are skipped, so the field may hold anything.
#[inline(always)]
pub fn ipv4_header(h: &[u8; 20]) -> u16 {
    let mut sum = 0u64;
    let mut i = 0;
    while i < 20 {
        if i != 10 {
            sum += u16::from_be_bytes([h[i], h[i + 1]]) as u64;
        }
        i += 2;
    }
    !fold(sum)
}

/// RFC 1624 eqn. 3: the checksum after one 16-bit word changed from `old`
/// to `new`.
#[inline(always)]
pub const fn update16(check: u16, old: u16, new: u16) -> u16 {
    !fold((!check) as u64 + (!old) as u64 + new as u64)
}

/// RFC 1624 eqn. 3 over many words: the checksum after words whose sum
/// was `old` were replaced by words whose sum is `new` (both unfolded
/// one's-complement sums, as `add_bytes` returns them). A translator uses
/// it to swap a pseudo-header, or to add or remove one.
#[inline(always)]
pub const fn replace(check: u16, old: u64, new: u64) -> u16 {
    !fold((!check) as u64 + (!fold(old)) as u64 + fold(new) as u64)
}

/// Sum of the IPv4 pseudo-header's addresses (RFC 768, RFC 793): what a
/// translator swaps for the IPv6 ones; length and protocol sum the same
/// in both pseudo-headers.
#[inline(always)]
pub fn addrs_v4(src: [u8; 4], dst: [u8; 4]) -> u64 {
    add_bytes(add_bytes(0, &src), &dst)
}

/// Sum of the 16-bit words of a 64-bit big-endian value (half an IPv6
/// address, as `addr::words` and the translator hold them).
#[inline(always)]
pub const fn add_u64(sum: u64, v: u64) -> u64 {
    sum + (v >> 48) + (v >> 32 & 0xffff) + (v >> 16 & 0xffff) + (v & 0xffff)
}

/// The same for IPv6 addresses.
#[inline(always)]
pub fn addrs_v6(src: &[u8; 16], dst: &[u8; 16]) -> u64 {
    add_bytes(add_bytes(0, src), dst)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn etherparse_v4(h: &[u8; 20]) -> u16 {
        let (hdr, _) = etherparse::Ipv4Header::from_slice(h).unwrap();
        hdr.calc_header_checksum()
    }

    proptest! {
        #[test]
        fn ipv4_matches_etherparse(
            tos in any::<u8>(), len in 20u16.., id in any::<u16>(), ttl in any::<u8>(),
            proto in any::<u8>(), src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
            junk in any::<u16>(),
        ) {
            let mut h = [0u8; 20];
            h[0] = 0x45; h[1] = tos;
            h[2..4].copy_from_slice(&len.to_be_bytes());
            h[4..6].copy_from_slice(&id.to_be_bytes());
            h[8] = ttl; h[9] = proto;
            h[10..12].copy_from_slice(&junk.to_be_bytes());
            h[12..16].copy_from_slice(&src);
            h[16..20].copy_from_slice(&dst);
            prop_assert_eq!(ipv4_header(&h), etherparse_v4(&h));
        }

        #[test]
        fn icmpv6_matches_etherparse(
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            // ICMPv6 echo request with arbitrary payload: our pseudo-header +
            // byte sums against etherparse's checksum.
            let icmp = etherparse::Icmpv6Header::with_checksum(
                etherparse::Icmpv6Type::EchoRequest(etherparse::IcmpEchoHeader { id: 1, seq: 2 }),
                src, dst, &body).unwrap();
            let mut msg = icmp.to_bytes().to_vec();
            msg[2] = 0; msg[3] = 0;
            msg.extend_from_slice(&body);
            let sum = add_bytes(pseudo_v6(&src, &dst, msg.len() as u32, 58), &msg);
            prop_assert_eq!(!fold(sum), icmp.checksum);
        }

        #[test]
        fn update16_matches_full(h in any::<[u8; 20]>(), word in 0usize..10, new in any::<u16>()) {
            prop_assume!(word != 5);
            let mut h = h;
            let before = ipv4_header(&h);
            let old = u16::from_be_bytes([h[2 * word], h[2 * word + 1]]);
            h[2 * word..2 * word + 2].copy_from_slice(&new.to_be_bytes());
            let after = ipv4_header(&h);
            // One's complement has two zeros: compare folded values.
            prop_assert_eq!(fold(update16(before, old, new) as u64) % 0xffff, fold(after as u64) % 0xffff);
        }

        /// Swapping an IPv4 pseudo-header for an IPv6 one incrementally
        /// gives the checksum computed from scratch (the translator's TCP
        /// and UDP rule).
        #[test]
        fn replace_swaps_pseudo_headers(
            src4 in any::<[u8; 4]>(), dst4 in any::<[u8; 4]>(),
            src6 in any::<[u8; 16]>(), dst6 in any::<[u8; 16]>(),
            body in proptest::collection::vec(any::<u8>(), 8..64),
        ) {
            let len = body.len() as u32;
            let v4 = add_bytes(add_bytes(addrs_v4(src4, dst4), &[0, 17]), &(len as u16).to_be_bytes());
            let check4 = !fold(add_bytes(v4, &body));
            let check6 = !fold(add_bytes(pseudo_v6(&src6, &dst6, len, 17), &body));
            let got = replace(check4, addrs_v4(src4, dst4), addrs_v6(&src6, &dst6));
            prop_assert_eq!(fold(got as u64) % 0xffff, fold(check6 as u64) % 0xffff);
            let back = replace(check6, addrs_v6(&src6, &dst6), addrs_v4(src4, dst4));
            prop_assert_eq!(fold(back as u64) % 0xffff, fold(check4 as u64) % 0xffff);
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example words 0001 f203 f4f5 f6f7 → sum ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add_bytes(0, &data)), 0xddf2);
    }
}
