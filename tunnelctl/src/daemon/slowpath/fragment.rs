//! Cutting a translated IPv6 packet into fragments that fit a tunnel
//! (RFC 7915 §4, RFC 8200 §4.5). The data path hands over the packet as
//! one fragment: an IPv6 header, a Fragment header (the translated IPv4
//! identification, offset and M: offset 0 and M 0 for a whole datagram),
//! then the fragment's data. Each piece keeps the IPv6 header (payload
//! length rewritten) and the Fragment header (offset moved on, M set on
//! all but the original's last piece, where the original's M stays).

use thiserror::Error;

const IPV6_LEN: usize = 40;
const FRAG_LEN: usize = 8;
const NEXT_HEADER_FRAGMENT: u8 = 44;
/// The largest fragment offset plus data (RFC 8200 §4.5: a reassembled
/// payload of at most 65,535 bytes; the offset field counts to 8191 × 8).
const MAX_END: usize = 0xffff;

/// Why a packet was not cut.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    #[error("shorter than an IPv6 and a Fragment header")]
    Short,
    #[error("not IPv6")]
    NotIpv6,
    #[error("the payload length does not match the packet")]
    Length,
    #[error("no Fragment header right after the IPv6 header")]
    NoFragmentHeader,
    #[error("a fragment with more to come whose data is not a multiple of 8 bytes")]
    Unaligned,
    #[error("no data after the Fragment header")]
    Empty,
    #[error("offset and data end beyond 65,535 bytes")]
    TooLong,
    #[error("an MTU below the headers and 8 bytes of data")]
    MtuTooSmall,
}

/// `packet` cut into fragments of at most `mtu` bytes; the packet itself
/// when it fits. Every piece's data but the last is a multiple of 8.
pub fn fragment(packet: &[u8], mtu: usize) -> Result<Vec<Vec<u8>>, Refused> {
    if packet.len() < IPV6_LEN + FRAG_LEN {
        return Err(Refused::Short);
    }
    if packet[0] >> 4 != 6 {
        return Err(Refused::NotIpv6);
    }
    let payload = u16::from_be_bytes([packet[4], packet[5]]) as usize;
    if IPV6_LEN + payload != packet.len() {
        return Err(Refused::Length);
    }
    if packet[6] != NEXT_HEADER_FRAGMENT {
        return Err(Refused::NoFragmentHeader);
    }
    let frag = &packet[IPV6_LEN..IPV6_LEN + FRAG_LEN];
    let word = u16::from_be_bytes([frag[2], frag[3]]);
    let (offset, more) = ((word & !7) as usize, word & 1 != 0);
    let data = &packet[IPV6_LEN + FRAG_LEN..];
    if data.is_empty() {
        return Err(Refused::Empty);
    }
    if more && !data.len().is_multiple_of(8) {
        return Err(Refused::Unaligned);
    }
    if offset + data.len() > MAX_END {
        return Err(Refused::TooLong);
    }
    if packet.len() <= mtu {
        return Ok(vec![packet.to_vec()]);
    }
    // Data per piece: what the MTU leaves after the headers, down to a
    // multiple of 8.
    let step = mtu.saturating_sub(IPV6_LEN + FRAG_LEN) & !7;
    if step == 0 {
        return Err(Refused::MtuTooSmall);
    }
    let pieces = data
        .chunks(step)
        .enumerate()
        .map(|(i, chunk)| {
            let at = i * step;
            let last = at + chunk.len() == data.len();
            piece(packet, offset + at, !last || more, chunk)
        })
        .collect();
    Ok(pieces)
}

/// An IPv4 datagram (a 20-byte header, no options) cut into fragments of
/// at most `max` bytes (RFC 791): each piece the datagram's header with
/// its total length, MF on all but the last, its offset, DF clear and the
/// header checksum; its data a multiple of 8 but the last's. The datagram
/// itself when it fits. `max` below 28 bytes is taken as 28.
pub fn fragment_v4(datagram: &[u8], max: usize) -> Vec<Vec<u8>> {
    const IPV4_LEN: usize = 20;
    if datagram.len() <= max || datagram.len() <= IPV4_LEN {
        return vec![datagram.to_vec()];
    }
    let step = (max.max(IPV4_LEN + 8) - IPV4_LEN) & !7;
    let data = &datagram[IPV4_LEN..];
    data.chunks(step)
        .enumerate()
        .map(|(i, chunk)| {
            let at = i * step;
            let more = at + chunk.len() < data.len();
            let mut p = Vec::with_capacity(IPV4_LEN + chunk.len());
            p.extend_from_slice(&datagram[..IPV4_LEN]);
            p[2..4].copy_from_slice(&((IPV4_LEN + chunk.len()) as u16).to_be_bytes());
            // Flags (DF clear, MF) and the offset in 8-byte units.
            let word = (more as u16) << 13 | (at / 8) as u16;
            p[6..8].copy_from_slice(&word.to_be_bytes());
            super::icmp::set_header_checksum(&mut p);
            p.extend_from_slice(chunk);
            p
        })
        .collect()
}

/// One piece: the original's headers with the payload length, offset and
/// M of this piece, then its data.
fn piece(original: &[u8], offset: usize, more: bool, chunk: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(IPV6_LEN + FRAG_LEN + chunk.len());
    p.extend_from_slice(&original[..IPV6_LEN + FRAG_LEN]);
    let payload = (FRAG_LEN + chunk.len()) as u16;
    p[4..6].copy_from_slice(&payload.to_be_bytes());
    // Offset in 8-byte units in the upper 13 bits, the reserved bits
    // kept zero, M last.
    let word = offset as u16 | more as u16;
    p[IPV6_LEN + 2..IPV6_LEN + 4].copy_from_slice(&word.to_be_bytes());
    p.extend_from_slice(chunk);
    p
}

#[cfg(test)]
mod tests {
    use etherparse::{IpNumber, Ipv6Header};

    use super::*;

    const SRC: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2];
    const DST: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    /// The Fragment header as RFC 8200 §4.5 draws it, for UDP: next
    /// header, reserved, offset (13 bits, 8-byte units), 2 reserved bits,
    /// M, then the identification. Literal bytes: etherparse 0.16's
    /// `Ipv6FragmentHeader::to_bytes` puts M and the offset's low bits in
    /// the wrong places.
    fn frag_header(id: u32, offset_bytes: u16, more: bool) -> [u8; 8] {
        let word = ((offset_bytes / 8) << 3 | more as u16).to_be_bytes();
        let id = id.to_be_bytes();
        [17, 0, word[0], word[1], id[0], id[1], id[2], id[3]]
    }

    /// A packet: IPv6 as etherparse builds it (hop limit 63, traffic
    /// class 0x28), a Fragment header for UDP with `id`, then `data`.
    fn packet(id: u32, offset_bytes: u16, more: bool, data: &[u8]) -> Vec<u8> {
        let ip = Ipv6Header {
            traffic_class: 0x28,
            flow_label: Default::default(),
            payload_length: (8 + data.len()) as u16,
            next_header: IpNumber::IPV6_FRAGMENTATION_HEADER,
            hop_limit: 63,
            source: SRC,
            destination: DST,
        };
        let mut v = ip.to_bytes().to_vec();
        v.extend_from_slice(&frag_header(id, offset_bytes, more));
        v.extend_from_slice(data);
        v
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn a_whole_datagram_is_cut_at_multiples_of_8() {
        // 1408 bytes of UDP (header and data) through a 1280-byte tunnel:
        // 1280 - 48 = 1232 bytes of data per piece (a multiple of 8).
        let d = data(1408);
        let got = fragment(&packet(0x1234, 0, false, &d), 1280).unwrap();
        let want = vec![
            packet(0x1234, 0, true, &d[..1232]),
            packet(0x1234, 1232, false, &d[1232..]),
        ];
        assert_eq!(got, want);
        assert_eq!(got[0].len(), 1280);
        assert_eq!(got[1].len(), 48 + 176);
    }

    #[test]
    fn the_step_rounds_down_to_8() {
        // MTU 1283: 1235 bytes would fit, 1232 are taken.
        let d = data(3000);
        let got = fragment(&packet(9, 0, false, &d), 1283).unwrap();
        let want = vec![
            packet(9, 0, true, &d[..1232]),
            packet(9, 1232, true, &d[1232..2464]),
            packet(9, 2464, false, &d[2464..]),
        ];
        assert_eq!(got, want);
        assert!(got.iter().all(|p| p.len() <= 1283));
    }

    #[test]
    fn a_fragment_is_cut_with_its_offset_added_and_its_m_kept() {
        // An IPv4 fragment at offset 1480 with more to come, 1480 bytes.
        let d = data(1480);
        let got = fragment(&packet(77, 1480, true, &d), 1280).unwrap();
        let want = vec![
            packet(77, 1480, true, &d[..1232]),
            packet(77, 1480 + 1232, true, &d[1232..]),
        ];
        assert_eq!(got, want);
        // The datagram's last fragment: the last piece has M clear.
        let d = data(1000);
        let got = fragment(&packet(77, 2960, false, &d), 1000).unwrap();
        let want = vec![
            packet(77, 2960, true, &d[..952]),
            packet(77, 2960 + 952, false, &d[952..]),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn what_fits_goes_as_it_is() {
        let p = packet(1, 0, false, &data(1232));
        assert_eq!(fragment(&p, 1280).unwrap(), vec![p]);
    }

    #[test]
    fn every_byte_lands_once_at_its_offset() {
        for len in [1, 7, 8, 1232, 1233, 2464, 4000, 65_000] {
            for mtu in [56, 1280, 1281, 1480] {
                let d = data(len);
                let pieces = fragment(&packet(5, 0, false, &d), mtu).unwrap();
                let mut joined = Vec::new();
                for (i, p) in pieces.iter().enumerate() {
                    assert!(p.len() <= mtu || pieces.len() == 1);
                    let (h, rest) = Ipv6Header::from_slice(p).unwrap();
                    assert_eq!(h.payload_length as usize, rest.len());
                    let (f, body) = rest.split_at(8);
                    assert_eq!(f[0], 17);
                    assert_eq!(&f[4..], &[0, 0, 0, 5], "the identification");
                    let word = u16::from_be_bytes([f[2], f[3]]);
                    assert_eq!((word & !7) as usize, joined.len(), "offset");
                    let more = word & 1 == 1;
                    assert_eq!(more, i + 1 < pieces.len());
                    if more {
                        assert!(body.len().is_multiple_of(8), "len {len} mtu {mtu}");
                    }
                    joined.extend_from_slice(body);
                }
                assert_eq!(joined, d, "len {len} mtu {mtu}");
            }
        }
    }

    /// An IPv4 fragment as etherparse builds it: id 0x1234, TTL 63,
    /// protocol ICMP, DF clear, `data` at `offset` bytes.
    fn v4(offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
        let mut h = etherparse::Ipv4Header::new(
            data.len() as u16,
            63,
            IpNumber::ICMP,
            [198, 51, 100, 1],
            [192, 0, 2, 2],
        )
        .unwrap();
        h.identification = 0x1234;
        h.dont_fragment = false;
        h.more_fragments = more;
        h.fragment_offset = etherparse::IpFragOffset::try_new(offset / 8).unwrap();
        h.header_checksum = h.calc_header_checksum();
        [h.to_bytes().as_slice(), data].concat()
    }

    #[test]
    fn ipv4_datagrams_are_cut_no_bigger_than_asked() {
        let d = data(3008);
        let whole = v4(0, false, &d);
        // The largest fragment received was 1468 bytes (an IPv6 link of
        // 1500: 1448 bytes of data): pieces of 1448, 1448 and 112.
        let rows: Vec<(&str, usize, Vec<Vec<u8>>)> = vec![
            (
                "1468",
                1468,
                vec![
                    v4(0, true, &d[..1448]),
                    v4(1448, true, &d[1448..2896]),
                    v4(2896, false, &d[2896..]),
                ],
            ),
            (
                "1471: down to 8",
                1471,
                vec![
                    v4(0, true, &d[..1448]),
                    v4(1448, true, &d[1448..2896]),
                    v4(2896, false, &d[2896..]),
                ],
            ),
            ("fits", 3028, vec![whole.clone()]),
            (
                "3027: one byte short",
                3027,
                vec![v4(0, true, &d[..3000]), v4(3000, false, &d[3000..])],
            ),
        ];
        for (name, max, want) in rows {
            assert_eq!(fragment_v4(&whole, max), want, "{name}");
        }
        // A tiny maximum still moves on, 8 bytes at a time.
        let pieces = fragment_v4(&v4(0, false, &d[..24]), 0);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces[2], v4(16, false, &d[16..24]));
    }

    #[test]
    fn malformed_input_is_refused() {
        let good = packet(1, 0, false, &data(2000));
        let mut v6 = good.clone();
        v6[0] = 0x45;
        let mut long = good.clone();
        long.push(0);
        let mut no_frag = good.clone();
        no_frag[6] = 17;
        let cases: Vec<(&str, Vec<u8>, Refused)> = vec![
            ("empty", vec![], Refused::Short),
            ("headers cut", good[..47].to_vec(), Refused::Short),
            ("IPv4", v6, Refused::NotIpv6),
            ("trailing byte", long, Refused::Length),
            ("UDP after IPv6", no_frag, Refused::NoFragmentHeader),
            (
                "M with 7 bytes",
                packet(1, 0, true, &data(7)),
                Refused::Unaligned,
            ),
            ("no data", packet(1, 8, false, &[]), Refused::Empty),
            (
                "past 65535",
                packet(1, 65_528, false, &data(16)),
                Refused::TooLong,
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(fragment(&p, 1280), Err(want), "{name}");
        }
        assert_eq!(fragment(&good, 55), Err(Refused::MtuTooSmall));
    }
}
