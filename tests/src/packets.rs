//! Packet builders for the tests, on etherparse: an independent way to write
//! the bytes the datapath must produce.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{
    EtherType, Ethernet2Header, Icmpv6Header, Icmpv6Type, IpNumber, Ipv4Header, Ipv6Header,
};

pub type Mac = [u8; 6];

pub fn eth(src: Mac, dst: Mac, ether_type: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(14 + payload.len());
    Ethernet2Header {
        source: src,
        destination: dst,
        ether_type,
    }
    .write(&mut v)
    .unwrap();
    v.extend_from_slice(payload);
    v
}

/// An IPv6 ICMPv6 echo request of `payload_len` bytes of payload.
pub fn ipv6_echo(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, payload_len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..payload_len).map(|i| (i * 7 + 3) as u8).collect();
    let icmp = Icmpv6Header::with_checksum(
        Icmpv6Type::EchoRequest(etherparse::IcmpEchoHeader { id: 0x1234, seq: 1 }),
        src.octets(),
        dst.octets(),
        &payload,
    )
    .unwrap();
    ipv6(
        src,
        dst,
        hop_limit,
        IpNumber::IPV6_ICMP,
        &[icmp.to_bytes().as_slice(), &payload].concat(),
    )
}

/// An IPv6 packet with the given next header and payload.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, nh: IpNumber, payload: &[u8]) -> Vec<u8> {
    let h = Ipv6Header {
        traffic_class: 0,
        flow_label: Default::default(),
        payload_length: payload.len() as u16,
        next_header: nh,
        hop_limit,
        source: src.octets(),
        destination: dst.octets(),
    };
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// Sets the 2-bit ECN field of an IPv6 packet.
pub fn with_ipv6_ecn(mut p: Vec<u8>, ecn: u8) -> Vec<u8> {
    p[1] = (p[1] & 0xcf) | ((ecn & 3) << 4);
    p
}

/// Options of an outer IPv4 header.
#[derive(Clone, Copy)]
pub struct V4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub df: bool,
    pub id: u16,
    pub ecn: u8,
    pub more_fragments: bool,
}

impl V4 {
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        Self {
            src,
            dst,
            ttl: 64,
            df: true,
            id: 0,
            ecn: 0,
            more_fragments: false,
        }
    }
}

/// `inner` (an IPv6 packet) in an IPv4 header of protocol 41.
pub fn sixin4(o: V4, inner: &[u8]) -> Vec<u8> {
    let mut h = Ipv4Header::new(
        inner.len() as u16,
        o.ttl,
        IpNumber::IPV6,
        o.src.octets(),
        o.dst.octets(),
    )
    .unwrap();
    h.dont_fragment = o.df;
    h.more_fragments = o.more_fragments;
    h.identification = o.id;
    h.ecn = etherparse::Ipv4Ecn::try_new(o.ecn).unwrap();
    h.header_checksum = h.calc_header_checksum();
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(inner);
    v
}

/// The ICMPv6 error a router sends about `invoking` (an IPv6 packet): the
/// invoking packet is quoted up to the 1280-byte minimum MTU.
pub fn icmpv6_error(src: Ipv6Addr, dst: Ipv6Addr, t: Icmpv6Type, invoking: &[u8]) -> Vec<u8> {
    let quote = &invoking[..invoking.len().min(1280 - 48)];
    let icmp = Icmpv6Header::with_checksum(t, src.octets(), dst.octets(), quote).unwrap();
    ipv6(
        src,
        dst,
        64,
        IpNumber::IPV6_ICMP,
        &[icmp.to_bytes().as_slice(), quote].concat(),
    )
}

/// Decrements the hop limit of an IPv6 packet.
pub fn hop_decremented(p: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    v[7] -= 1;
    v
}

/// ICMPv6 NS/NA type numbers (RFC 4861 §4.3, §4.4).
pub const ICMPV6_NS: u8 = 135;
pub const ICMPV6_NA: u8 = 136;

/// An ICMPv6 message of a type etherparse has no struct for: `bytes5to8`
/// after the checksum, then `body`; checksum computed by etherparse.
pub fn icmpv6_raw(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    t: u8,
    bytes5to8: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let ty = Icmpv6Type::Unknown {
        type_u8: t,
        code_u8: 0,
        bytes5to8,
    };
    let h = Icmpv6Header::with_checksum(ty, src.octets(), dst.octets(), body).unwrap();
    ipv6(
        src,
        dst,
        hop_limit,
        IpNumber::IPV6_ICMP,
        &[h.to_bytes().as_slice(), body].concat(),
    )
}

/// A Neighbor Solicitation for `target` with raw `options`.
pub fn neighbor_solicitation(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    target: Ipv6Addr,
    options: &[u8],
) -> Vec<u8> {
    let body = [target.octets().as_slice(), options].concat();
    icmpv6_raw(src, dst, hop_limit, ICMPV6_NS, [0; 4], &body)
}

/// The Neighbor Advertisement a proxy sends: from the target, flags in the
/// first byte, with a target link-layer address option.
pub fn neighbor_advertisement(target: Ipv6Addr, dst: Ipv6Addr, flags: u8, mac: Mac) -> Vec<u8> {
    let mut body = target.octets().to_vec();
    body.extend_from_slice(&[2, 1]);
    body.extend_from_slice(&mac);
    icmpv6_raw(target, dst, 255, ICMPV6_NA, [flags, 0, 0, 0], &body)
}

/// ff02::1:ffXX:XXXX for `a`.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::from([
        0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet multicast address of an IPv6 group (RFC 2464 §7).
pub fn multicast_mac(a: Ipv6Addr) -> Mac {
    let o = a.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// A UDP datagram in IPv4 (DF, TTL 64), checksums set.
pub fn udp4(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ipv4(src.0.octets(), dst.0.octets(), 64).udp(src.1, dst.1);
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    // etherparse leaves DF off; senders (AICCU's kernel) set it.
    v[6] |= 0x40;
    let check = Ipv4Header::from_slice(&v).unwrap().0.calc_header_checksum();
    v[10..12].copy_from_slice(&check.to_be_bytes());
    v
}

/// A UDP datagram in IPv6 (hop limit 64), checksum set.
pub fn udp6(src: (Ipv6Addr, u16), dst: (Ipv6Addr, u16), payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ipv6(src.0.octets(), dst.0.octets(), 64).udp(src.1, dst.1);
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

/// Bytes from hex as specs print them (whitespace and line breaks
/// ignored): the worked examples of ayiya-spec.md.
pub fn from_hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Example A (spec §1.10): echo request from C's user to C's `::1`.
pub fn ayiya_example_a() -> Vec<u8> {
    from_hex(
        "45 00 00 80 00 00 40 00 40 11 b6 69 c0 00 02 02
         c0 00 02 01 c9 e0 13 d0 00 6c 38 05 41 52 11 29
         65 53 f1 00 20 01 0d b8 02 ff 00 01 00 00 00 00
         00 00 00 02 4d fa 26 72 e6 42 48 f4 de ed 48 a4
         25 60 e0 05 a6 bb 7a 73 60 00 00 00 00 10 3a 40
         20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 02
         20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 01
         80 00 de 89 12 34 00 01 41 59 49 59 41 6c 61 62",
    )
}

/// Example B (spec §1.10): the PoP's echo reply, epoch 1700000001, as the
/// spec prints it (UDP checksum set).
pub fn ayiya_example_b() -> Vec<u8> {
    from_hex(
        "45 00 00 80 00 00 40 00 40 11 b6 69 c0 00 02 01
         c0 00 02 02 13 d0 c9 e0 00 6c ec 7b 41 52 11 29
         65 53 f1 01 20 01 0d b8 02 ff 00 01 00 00 00 00
         00 00 00 01 c7 7d d5 18 88 3e 76 ac 65 61 3a 9a
         13 6a 68 66 d8 bd ad 48 60 00 00 00 00 10 3a 40
         20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 01
         20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 02
         81 00 dd 89 12 34 00 01 41 59 49 59 41 6c 61 62",
    )
}

/// An IPv4 fragment: `data` at `offset` bytes (a multiple of 8) of a
/// datagram of protocol `proto`, identification `id`, no DF, MF as given.
#[allow(clippy::too_many_arguments)]
pub fn v4_fragment(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    proto: IpNumber,
    id: u16,
    offset: u16,
    more: bool,
    data: &[u8],
) -> Vec<u8> {
    let mut h = Ipv4Header::new(data.len() as u16, ttl, proto, src.octets(), dst.octets()).unwrap();
    h.identification = id;
    h.dont_fragment = false;
    h.more_fragments = more;
    h.fragment_offset = etherparse::IpFragOffset::try_new(offset / 8).unwrap();
    h.header_checksum = h.calc_header_checksum();
    [h.to_bytes().as_slice(), data].concat()
}

/// An IPv6 fragment (RFC 8200 §4.5): a Fragment header for protocol
/// `next`, then `data` at `offset` bytes.
#[allow(clippy::too_many_arguments)]
pub fn v6_fragment(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    next: u8,
    id: u32,
    offset: u16,
    more: bool,
    data: &[u8],
) -> Vec<u8> {
    let word = (offset / 8) << 3 | more as u16;
    let mut body = vec![next, 0];
    body.extend_from_slice(&word.to_be_bytes());
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(data);
    ipv6(src, dst, hop_limit, IpNumber(44), &body)
}
