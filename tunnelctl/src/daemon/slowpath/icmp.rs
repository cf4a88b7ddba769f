//! Translating a whole ICMP echo message put back together from its
//! fragments (RFC 7915 §4.2 and §5.2): the data path translated each
//! fragment's IP header and left the ICMP header as it came. Only echo
//! request and reply are translated (what the data path translates of
//! unfragmented ICMP); every other type is dropped here, as the data path
//! drops it.

use tunnel_common::csum;

const IPV6_LEN: usize = 40;
const IPV4_LEN: usize = 20;
const PROTO_ICMP: u8 = 1;
const PROTO_ICMPV6: u8 = 58;
const NEXT_HEADER_FRAGMENT: u8 = 44;
/// The ICMP header: type, code, checksum, then the echo's id and sequence.
const ICMP_MIN: usize = 8;

/// Why a message was not translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// Shorter than an ICMP echo header, or a header not as the data path
    /// writes it.
    Malformed,
    /// The message's checksum is wrong.
    Checksum,
    /// Not an echo request or reply.
    NotEcho,
}

/// The internet checksum of `data` with `sum` already added.
fn checksum(sum: u64, data: &[u8]) -> u16 {
    !csum::fold(csum::add_bytes(sum, data))
}

/// An ICMPv4 message (from IPv4 fragments translated to IPv6 fragments:
/// `header` the first one's IPv6 header, `id` their identification) as
/// one IPv6 packet with a Fragment header (offset 0, M clear), ready for
/// `fragment::fragment`: echo types 8/0 become 128/129 and the checksum
/// covers the IPv6 pseudo-header (RFC 4443 §2.3).
pub fn to_icmpv6(header: &[u8], id: u32, msg: &[u8]) -> Result<Vec<u8>, Bad> {
    if header.len() != IPV6_LEN || header[0] >> 4 != 6 || msg.len() < ICMP_MIN {
        return Err(Bad::Malformed);
    }
    // RFC 792: the checksum covers the message alone.
    if checksum(0, msg) != 0 {
        return Err(Bad::Checksum);
    }
    let ty = match msg[0] {
        8 => 128,
        0 => 129,
        _ => return Err(Bad::NotEcho),
    };
    let payload = u16::try_from(8 + msg.len()).map_err(|_| Bad::Malformed)?;
    let mut p = Vec::with_capacity(IPV6_LEN + 8 + msg.len());
    p.extend_from_slice(header);
    p[4..6].copy_from_slice(&payload.to_be_bytes());
    p[6] = NEXT_HEADER_FRAGMENT;
    p.extend_from_slice(&[PROTO_ICMPV6, 0, 0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    let at = p.len();
    p.extend_from_slice(msg);
    p[at] = ty;
    p[at + 2..at + 4].copy_from_slice(&[0, 0]);
    let src: [u8; 16] = header[8..24].try_into().map_err(|_| Bad::Malformed)?;
    let dst: [u8; 16] = header[24..40].try_into().map_err(|_| Bad::Malformed)?;
    let c = checksum(
        csum::pseudo_v6(&src, &dst, msg.len() as u32, PROTO_ICMPV6),
        &p[at..],
    );
    p[at + 2..at + 4].copy_from_slice(&c.to_be_bytes());
    Ok(p)
}

/// An ICMPv6 message (from IPv6 fragments translated to IPv4 fragments:
/// `header` the first one's IPv4 header, `addr_sum` the sum of the IPv6
/// addresses they had) as one IPv4 datagram: the ICMPv6 checksum checked
/// over the pseudo-header of those addresses, echo types 128/129 become
/// 8/0, and the ICMPv4 checksum covers the message alone.
pub fn to_icmpv4(header: &[u8], addr_sum: u64, msg: &[u8]) -> Result<Vec<u8>, Bad> {
    if header.len() != IPV4_LEN || header[0] != 0x45 || msg.len() < ICMP_MIN {
        return Err(Bad::Malformed);
    }
    let tot_len = u16::try_from(IPV4_LEN + msg.len()).map_err(|_| Bad::Malformed)?;
    // RFC 8200 §8.1: addresses, the upper-layer length, 58.
    let len = msg.len() as u64;
    if checksum(
        addr_sum + (len >> 16) + (len & 0xffff) + PROTO_ICMPV6 as u64,
        msg,
    ) != 0
    {
        return Err(Bad::Checksum);
    }
    let ty = match msg[0] {
        128 => 8,
        129 => 0,
        _ => return Err(Bad::NotEcho),
    };
    let mut p = Vec::with_capacity(IPV4_LEN + msg.len());
    p.extend_from_slice(header);
    p[2..4].copy_from_slice(&tot_len.to_be_bytes());
    // A whole datagram: no MF, no offset (fragment_v4 sets its pieces').
    p[6..8].copy_from_slice(&[0, 0]);
    p[9] = PROTO_ICMP;
    p.extend_from_slice(msg);
    p[IPV4_LEN] = ty;
    p[IPV4_LEN + 2..IPV4_LEN + 4].copy_from_slice(&[0, 0]);
    let c = checksum(0, &p[IPV4_LEN..]);
    p[IPV4_LEN + 2..IPV4_LEN + 4].copy_from_slice(&c.to_be_bytes());
    // The kernel gives a header-included packet with id 0 an id of its
    // own, each piece another (raw(7)): the pieces of one datagram would
    // no longer be one datagram's. An IPv6 identification whose low half
    // is 0 gets one here instead, as the data path picks ids: the
    // checksum XOR the length, never 0.
    if p[4..6] == [0, 0] {
        let id = (c ^ tot_len).max(1);
        p[4..6].copy_from_slice(&id.to_be_bytes());
    }
    set_header_checksum(&mut p);
    Ok(p)
}

/// The IPv4 header checksum of `p`'s first 20 bytes, written in place.
pub fn set_header_checksum(p: &mut [u8]) {
    p[10..12].copy_from_slice(&[0, 0]);
    let c = checksum(0, &p[..IPV4_LEN]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use etherparse::{IcmpEchoHeader, Icmpv4Type, Icmpv6Type, PacketBuilder};

    use super::*;
    use crate::daemon::slowpath::test_packets::*;

    const ECHO: IcmpEchoHeader = IcmpEchoHeader { id: 0x4242, seq: 3 };

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 5) as u8).collect()
    }

    /// An IPv6 header as the data path writes a translated fragment's
    /// (traffic class 0x28, hop limit 63); its payload length and next
    /// header are anything.
    fn header6() -> Vec<u8> {
        let mut h = vec![0x62, 0x80, 0, 0, 0x05, 0xb0, 44, 63];
        h.extend_from_slice(&HOST6);
        h.extend_from_slice(&USER6);
        h
    }

    /// An IPv4 header as the data path writes a translated fragment's:
    /// MF and an offset, id 0x1234, TTL 63; total length anything.
    fn header4() -> Vec<u8> {
        let mut h = vec![0x45, 0, 0x05, 0xdc, 0x12, 0x34, 0x20, 0xb9, 63, 1, 0, 0];
        h.extend_from_slice(&USER4);
        h.extend_from_slice(&HOST4);
        h
    }

    fn sum16(b: &[u8]) -> u64 {
        b.chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u64)
            .sum()
    }

    #[test]
    fn icmpv4_messages_to_icmpv6() {
        let d = data(3000);
        let mut bad = icmp4(Icmpv4Type::EchoRequest(ECHO), &d);
        bad[100] ^= 1;
        let ts = Icmpv4Type::TimestampRequest(etherparse::icmpv4::TimestampMessage {
            id: 1,
            seq: 2,
            originate_timestamp: 3,
            receive_timestamp: 4,
            transmit_timestamp: 5,
        });
        let rows: Vec<(&str, Vec<u8>, Result<Icmpv6Type, Bad>)> = vec![
            (
                "echo request → 128",
                icmp4(Icmpv4Type::EchoRequest(ECHO), &d),
                Ok(Icmpv6Type::EchoRequest(ECHO)),
            ),
            (
                "echo reply → 129",
                icmp4(Icmpv4Type::EchoReply(ECHO), &d),
                Ok(Icmpv6Type::EchoReply(ECHO)),
            ),
            (
                "odd length",
                icmp4(Icmpv4Type::EchoRequest(ECHO), &d[..2999]),
                Ok(Icmpv6Type::EchoRequest(ECHO)),
            ),
            ("a byte flipped: bad checksum", bad, Err(Bad::Checksum)),
            ("timestamp: not echo", icmp4(ts, &[]), Err(Bad::NotEcho)),
            (
                "7 bytes",
                vec![8, 0, 0xf7, 0xff, 0, 0, 0],
                Err(Bad::Malformed),
            ),
        ];
        for (name, msg, want) in rows {
            let got = to_icmpv6(&header6(), 0x1234, &msg);
            match want {
                Err(e) => assert_eq!(got, Err(e), "{name}"),
                Ok(t) => {
                    let body = &msg[8..];
                    let want_msg = icmp6(HOST6, USER6, t, body);
                    let mut want = header6();
                    want[4..6].copy_from_slice(&((8 + want_msg.len()) as u16).to_be_bytes());
                    want.extend_from_slice(&[58, 0, 0, 0, 0, 0, 0x12, 0x34]);
                    want.extend_from_slice(&want_msg);
                    assert_eq!(got.as_ref(), Ok(&want), "{name}");
                    // And etherparse reads the checksum as right.
                    let p = got.unwrap();
                    let icmp = etherparse::Icmpv6Slice::from_slice(&p[48..]).unwrap();
                    assert_eq!(
                        icmp.header()
                            .icmp_type
                            .calc_checksum(HOST6, USER6, icmp.payload())
                            .unwrap(),
                        icmp.checksum(),
                        "{name}"
                    );
                }
            }
        }
        assert_eq!(
            to_icmpv6(&header4(), 1, &d),
            Err(Bad::Malformed),
            "an IPv4 header"
        );
    }

    #[test]
    fn icmpv6_messages_to_icmpv4() {
        let d = data(3000);
        // The IPv6 side: the user (2001:db8:1::2) to 192.0.2.2 under pool6.
        let addr_sum = sum16(&USER6) + sum16(&HOST6);
        let mut bad = icmp6(USER6, HOST6, Icmpv6Type::EchoRequest(ECHO), &d);
        bad[2999] ^= 0x10;
        let other_addrs = icmp6(USER6, USER6, Icmpv6Type::EchoRequest(ECHO), &d);
        let rows: Vec<(&str, Vec<u8>, Result<Icmpv4Type, Bad>)> = vec![
            (
                "128 → echo request",
                icmp6(USER6, HOST6, Icmpv6Type::EchoRequest(ECHO), &d),
                Ok(Icmpv4Type::EchoRequest(ECHO)),
            ),
            (
                "129 → echo reply",
                icmp6(USER6, HOST6, Icmpv6Type::EchoReply(ECHO), &d),
                Ok(Icmpv4Type::EchoReply(ECHO)),
            ),
            (
                "odd length",
                icmp6(USER6, HOST6, Icmpv6Type::EchoReply(ECHO), &d[..1001]),
                Ok(Icmpv4Type::EchoReply(ECHO)),
            ),
            ("a byte flipped: bad checksum", bad, Err(Bad::Checksum)),
            (
                "a checksum over other addresses",
                other_addrs,
                Err(Bad::Checksum),
            ),
            (
                "neighbour solicitation: not echo",
                icmp6(
                    USER6,
                    HOST6,
                    Icmpv6Type::Unknown {
                        type_u8: 135,
                        code_u8: 0,
                        bytes5to8: [0; 4],
                    },
                    &d[..16],
                ),
                Err(Bad::NotEcho),
            ),
            ("7 bytes", vec![128, 0, 0, 0, 0, 0, 0], Err(Bad::Malformed)),
        ];
        for (name, msg, want) in rows {
            let got = to_icmpv4(&header4(), addr_sum, &msg);
            match want {
                Err(e) => assert_eq!(got, Err(e), "{name}"),
                Ok(t) => {
                    // etherparse's datagram: its ICMP checksum, then the
                    // header as the data path wrote it, whole (no MF, no
                    // offset), with its checksum.
                    let mut want = Vec::new();
                    PacketBuilder::ipv4(USER4, HOST4, 63)
                        .icmpv4(t)
                        .write(&mut want, &msg[8..])
                        .unwrap();
                    let mut h = etherparse::Ipv4Header::from_slice(&want).unwrap().0;
                    h.identification = 0x1234;
                    h.dont_fragment = false;
                    h.more_fragments = false;
                    h.fragment_offset = Default::default();
                    h.header_checksum = h.calc_header_checksum();
                    want[..20].copy_from_slice(&h.to_bytes());
                    assert_eq!(got.as_ref(), Ok(&want), "{name}");
                }
            }
        }
        assert_eq!(
            to_icmpv4(&header6(), addr_sum, &d),
            Err(Bad::Malformed),
            "an IPv6 header"
        );
        // Identification 0: the kernel would give each piece its own.
        let mut zero = header4();
        zero[4..6].copy_from_slice(&[0, 0]);
        let msg = icmp6(USER6, HOST6, Icmpv6Type::EchoRequest(ECHO), &d);
        let p = to_icmpv4(&zero, addr_sum, &msg).unwrap();
        let h = etherparse::Ipv4Header::from_slice(&p).unwrap().0;
        assert_ne!(h.identification, 0);
        assert_eq!(h.header_checksum, h.calc_header_checksum());
    }
}
