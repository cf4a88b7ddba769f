//! The corpus's input packets, built with etherparse (headers and
//! checksums) and by hand where it has no builder (fragments, options,
//! extension headers, ICMP types and codes of any value). Nothing here
//! calls the translator's code: both translators get these bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{
    Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type, IpNumber, Ipv4Header, PacketBuilder,
};
use tunnel_tests::packets::ipv6;

pub const ECHO_ID: u16 = 0x4242;
pub const ECHO_SEQ: u16 = 7;

/// The transport a packet carries, with its payload.
#[derive(Clone, Copy)]
pub enum L4<'a> {
    EchoRequest(&'a [u8]),
    EchoReply(&'a [u8]),
    Udp(&'a [u8]),
    Tcp(&'a [u8]),
}

/// An IPv6 packet, traffic class `tclass`, flow label 0.
pub fn v6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, tclass: u8, l4: L4) -> Vec<u8> {
    let b = PacketBuilder::ipv6(src.octets(), dst.octets(), hop_limit);
    let mut v = Vec::new();
    match l4 {
        L4::EchoRequest(p) => b.icmpv6_echo_request(ECHO_ID, ECHO_SEQ).write(&mut v, p),
        L4::EchoReply(p) => b.icmpv6_echo_reply(ECHO_ID, ECHO_SEQ).write(&mut v, p),
        L4::Udp(p) => b.udp(5353, 53).write(&mut v, p),
        L4::Tcp(p) => b.tcp(40000, 80, 0x0102_0304, 4096).write(&mut v, p),
    }
    .unwrap();
    v[0] = 0x60 | tclass >> 4;
    v[1] = tclass << 4;
    v
}

/// An IPv4 packet with TOS `tos`, identification `id`, DF as given.
pub fn v4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, tos: u8, df: bool, id: u16, l4: L4) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src.octets(), dst.octets(), ttl);
    let mut v = Vec::new();
    match l4 {
        L4::EchoRequest(p) => b.icmpv4_echo_request(ECHO_ID, ECHO_SEQ).write(&mut v, p),
        L4::EchoReply(p) => b.icmpv4_echo_reply(ECHO_ID, ECHO_SEQ).write(&mut v, p),
        L4::Udp(p) => b.udp(5353, 53).write(&mut v, p),
        L4::Tcp(p) => b.tcp(40000, 80, 0x0102_0304, 4096).write(&mut v, p),
    }
    .unwrap();
    v[1] = tos;
    v[4..6].copy_from_slice(&id.to_be_bytes());
    v[6] = if df { 0x40 } else { 0 };
    v[7] = 0;
    reseal_v4(v)
}

/// The IPv4 header checksum of `v`, after its header was edited.
pub fn reseal_v4(mut v: Vec<u8>) -> Vec<u8> {
    v[10] = 0;
    v[11] = 0;
    let check = Ipv4Header::from_slice(&v).unwrap().0.calc_header_checksum();
    v[10..12].copy_from_slice(&check.to_be_bytes());
    v
}

/// An IPv4 packet with `opts` (a multiple of 4 bytes) after its header.
pub fn with_v4_options(mut v: Vec<u8>, opts: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    v.splice(20..20, opts.iter().copied());
    v[0] = 0x40 | (5 + opts.len() / 4) as u8;
    let len = v.len() as u16;
    v[2..4].copy_from_slice(&len.to_be_bytes());
    reseal_v4(v)
}

/// An IPv6 packet with an extension header of type `ext` (hop-by-hop 0,
/// routing 43, destination options 60) whose bytes after its first two
/// are `body` (6 + a multiple of 8 bytes), put before the transport.
pub fn with_v6_ext(v: Vec<u8>, ext: u8, body: &[u8]) -> Vec<u8> {
    assert_eq!((body.len() + 2) % 8, 0);
    let mut h = vec![v[6], ((body.len() + 2) / 8 - 1) as u8];
    h.extend_from_slice(body);
    let mut out = v[..40].to_vec();
    out[6] = ext;
    let len = (v.len() - 40 + h.len()) as u16;
    out[4..6].copy_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&v[40..]);
    out
}

pub use tunnel_tests::packets::{v4_fragment, v6_fragment};

/// An ICMPv4 message of any type and code (`rest`: its bytes 4 to 7)
/// from `src` to `dst`, TTL 64, quoting (or carrying) `body`.
pub fn icmp4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let t = Icmpv4Type::Unknown {
        type_u8: ty,
        code_u8: code,
        bytes5to8: rest,
    };
    let icmp = Icmpv4Header::with_checksum(t, body);
    let mut ip = Ipv4Header::new(
        (icmp.header_len() + body.len()) as u16,
        64,
        IpNumber::ICMP,
        src.octets(),
        dst.octets(),
    )
    .unwrap();
    ip.header_checksum = ip.calc_header_checksum();
    [ip.to_bytes().as_slice(), &icmp.to_bytes(), body].concat()
}

/// An ICMPv6 message of any type and code (`rest`: its bytes 4 to 7)
/// from `src` to `dst`, hop limit 64, quoting (or carrying) `body`.
pub fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, ty: u8, code: u8, rest: u32, body: &[u8]) -> Vec<u8> {
    let t = Icmpv6Type::Unknown {
        type_u8: ty,
        code_u8: code,
        bytes5to8: rest.to_be_bytes(),
    };
    let icmp = Icmpv6Header::with_checksum(t, src.octets(), dst.octets(), body).unwrap();
    ipv6(
        src,
        dst,
        64,
        IpNumber::IPV6_ICMP,
        &[icmp.to_bytes().as_slice(), body].concat(),
    )
}

/// The transport part (after the 20-byte IPv4 or 40-byte IPv6 header) of
/// a whole datagram, to cut into fragments.
pub fn l4_of(p: &[u8]) -> Vec<u8> {
    let at = if p[0] >> 4 == 4 { 20 } else { 40 };
    p[at..].to_vec()
}
