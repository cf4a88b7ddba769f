//! L1: stateless NAT64 (RFC 7915) through `tunnel_xdp`: one table per
//! direction, every row with the exact bytes that must leave, built here
//! with etherparse from the RFC's rules (not from the translator's code).
//!
//! The bed: IPv6-only hosts on x1 (`UPSTREAM`) and inside tunnel A
//! (`USER_A`), IPv4 hosts on x0 (192.0.2.2, 192.0.2.3). pool6 is the
//! network-specific `2001:db8:64::/96`; each IPv6 host has an explicit
//! mapping (EAM) to an IPv4 address of 198.51.100.0/24.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{EtherType, Icmpv6Type, PacketBuilder};
use tunnel_common::{
    nat64::{
        config::{NAT64_F_UDP0_COMPUTE, NAT64_F_WKP_STRICT},
        rfc6052,
    },
    slowpath::{SlowMeta, NO_TUNNEL, REASON_ICMP6_FRAGMENT, REASON_ICMP_FRAGMENT, REASON_TOO_BIG},
    stats::{Drop, Event},
};
use tunnel_tests::{cases::*, packets::*, prog::*};
use tunnelctl::datapath::{
    slowpath::{drain, Ring},
    EamEntry, Nat64Settings,
};

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
fn a4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

const POOL6: &str = "2001:db8:64::";
const USER_A: &str = "2001:db8:1::2";
const POP_A: &str = "2001:db8:1::1";
/// The IPv4 addresses the IPv6 hosts are mapped to.
const UPSTREAM_V4: &str = "198.51.100.2";
const USER_A_V4: &str = "198.51.100.1";

/// An IPv4 host as the IPv6 side sees it: under pool6 (RFC 6052).
fn p6(v4: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::from(rfc6052::embed(&a6(POOL6).octets(), 96, v4.octets()))
}

/// The translator on: pool6 `2001:db8:64::/96` with `flags`, and the
/// mappings of upstream and of tunnel A's user.
fn nat64_with(b: &mut ProgBed, pool: (&str, u8), flags: u8) {
    b.dp.set_nat64(
        &Nat64Settings {
            pool6: Some((a6(pool.0), pool.1)),
            flags,
            icmp_source: Some((POP_V4, 32)),
        },
        true,
    )
    .unwrap();
    for (v6, v4) in [(UPSTREAM, a4(UPSTREAM_V4)), (a6(USER_A), a4(USER_A_V4))] {
        b.dp.add_eam(&EamEntry::new(v6, 128, v4, 32).unwrap())
            .unwrap();
    }
}

/// The translator without an RFC 6791 source of its own.
fn no_icmp_source(b: &mut ProgBed) {
    b.dp.set_nat64(
        &Nat64Settings {
            pool6: Some((a6(POOL6), 96)),
            flags: NAT64_F_WKP_STRICT,
            icmp_source: None,
        },
        true,
    )
    .unwrap();
}

fn nat64_on(b: &mut ProgBed) {
    nat64_with(b, (POOL6, 96), NAT64_F_WKP_STRICT);
}

/// The transport a packet carries, with its payload.
#[derive(Clone, Copy)]
enum L4<'a> {
    EchoRequest(&'a [u8]),
    EchoReply(&'a [u8]),
    Udp(&'a [u8]),
    Tcp(&'a [u8]),
}

const ECHO_ID: u16 = 0x4242;
const ECHO_SEQ: u16 = 7;

/// An IPv6 packet with traffic class `tclass`.
fn v6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, tclass: u8, l4: L4) -> Vec<u8> {
    let b = PacketBuilder::ipv6(src.octets(), dst.octets(), hop_limit);
    let mut v = Vec::new();
    match l4 {
        L4::EchoRequest(p) => b.icmpv6_echo_request(ECHO_ID, ECHO_SEQ).write(&mut v, p),
        L4::EchoReply(p) => b.icmpv6_echo_reply(ECHO_ID, ECHO_SEQ).write(&mut v, p),
        L4::Udp(p) => b.udp(5353, 53).write(&mut v, p),
        L4::Tcp(p) => b.tcp(40000, 80, 0x01020304, 4096).write(&mut v, p),
    }
    .unwrap();
    v[0] = 0x60 | tclass >> 4;
    v[1] = tclass << 4;
    v
}

/// Where each transport's checksum sits, from the network header's end.
fn l4_check_at(l4: L4) -> usize {
    match l4 {
        L4::EchoRequest(_) | L4::EchoReply(_) => 2,
        L4::Udp(_) => 6,
        L4::Tcp(_) => 16,
    }
}

/// An IPv4 packet as a sender makes it (DF, id 0, TOS `tos`).
fn v4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, tos: u8, l4: L4) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src.octets(), dst.octets(), ttl);
    let mut v = Vec::new();
    match l4 {
        L4::EchoRequest(p) => b.icmpv4_echo_request(ECHO_ID, ECHO_SEQ).write(&mut v, p),
        L4::EchoReply(p) => b.icmpv4_echo_reply(ECHO_ID, ECHO_SEQ).write(&mut v, p),
        L4::Udp(p) => b.udp(5353, 53).write(&mut v, p),
        L4::Tcp(p) => b.tcp(40000, 80, 0x01020304, 4096).write(&mut v, p),
    }
    .unwrap();
    v[1] = tos;
    with_v4_id(v, 0, true)
}

/// Sets the identification and DF of an IPv4 packet; the header checksum
/// follows.
fn with_v4_id(mut v: Vec<u8>, id: u16, df: bool) -> Vec<u8> {
    v[4..6].copy_from_slice(&id.to_be_bytes());
    v[6] = if df { 0x40 } else { 0 };
    v[7] = 0;
    reseal_v4(v)
}

fn reseal_v4(mut v: Vec<u8>) -> Vec<u8> {
    v[10] = 0;
    v[11] = 0;
    let check = etherparse::Ipv4Header::from_slice(&v)
        .unwrap()
        .0
        .calc_header_checksum();
    v[10..12].copy_from_slice(&check.to_be_bytes());
    v
}

/// What RFC 7915 §5.1 makes of an IPv6 packet: DF only above 1260 bytes;
/// below, the id is this translator's choice, which must stay stable for
/// a datagram: its transport checksum XOR its total length.
fn translated_v4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, tos: u8, l4: L4) -> Vec<u8> {
    let v = v4(src, dst, ttl, tos, l4);
    if v.len() > 1260 {
        return with_v4_id(v, 0, true);
    }
    let at = 20 + l4_check_at(l4);
    let id = u16::from_be_bytes([v[at], v[at + 1]]) ^ v.len() as u16;
    with_v4_id(v, id, false)
}

fn from_upstream(p: &[u8]) -> Vec<u8> {
    eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, p)
}

fn to_upstream(p: &[u8]) -> Vec<u8> {
    eth(X1_MAC, UPSTREAM_MAC, EtherType::IPV6, p)
}

fn from_v4_host(mac: Mac, p: &[u8]) -> Vec<u8> {
    eth(mac, X0_MAC, EtherType::IPV4, p)
}

fn to_v4_host(mac: Mac, p: &[u8]) -> Vec<u8> {
    eth(X0_MAC, mac, EtherType::IPV4, p)
}

/// 6in4 from tunnel A's client, and toward it.
fn from_client_a(inner: &[u8]) -> Vec<u8> {
    eth(
        CLIENT_A_MAC,
        X0_MAC,
        EtherType::IPV4,
        &sixin4(V4::new(CLIENT_A, POP_V4), inner),
    )
}

fn to_client_a(inner: &[u8]) -> Vec<u8> {
    eth(
        X0_MAC,
        CLIENT_A_MAC,
        EtherType::IPV4,
        &sixin4(V4::new(POP_V4, CLIENT_A), inner),
    )
}

const PAYLOAD: &[u8] = b"stateless translation, byte for byte";

#[test]
fn ipv6_to_ipv4() {
    let mut bed = ProgBed::new().expect("prog bed");
    let host = CLIENT_A; // 192.0.2.2 on x0
    let up4 = a4(UPSTREAM_V4);
    let row = |name: &str, l4: L4, tclass: u8| {
        let input = v6(UPSTREAM, p6(host), 64, tclass, l4);
        Case::xdp(name.to_string(), from_upstream(&input))
            .on(x1)
            .setup(nat64_on)
            .redirect(to_v4_host(
                CLIENT_A_MAC,
                &translated_v4(up4, host, 63, tclass, l4),
            ))
            .events(&[
                (Event::Nat64To4, 1),
                (Event::Nat64To4Bytes, input.len() as u64),
            ])
    };
    let big = [0x5au8; 1300];
    let mut cases = vec![
        row(
            "icmpv6 echo request → icmp echo request",
            L4::EchoRequest(PAYLOAD),
            0,
        ),
        row(
            "icmpv6 echo reply → icmp echo reply",
            L4::EchoReply(PAYLOAD),
            0,
        ),
        row("udp: pseudo-header swapped", L4::Udp(PAYLOAD), 0),
        row("tcp: pseudo-header swapped", L4::Tcp(PAYLOAD), 0),
        row("traffic class → type of service", L4::Udp(PAYLOAD), 0xb8),
        row("empty udp payload", L4::Udp(b""), 0),
        row("over 1260 bytes: DF set, id 0", L4::Udp(&big), 0),
        row("1260 bytes exactly: no DF", L4::Udp(&big[..1260 - 28]), 0),
    ];
    // pool6 of every RFC 6052 length.
    for (prefix, len) in [
        ("2001:db8::", 32),
        ("2001:db8:100::", 40),
        ("2001:db8:122::", 48),
        ("2001:db8:122:300::", 56),
        ("2001:db8:122:344::", 64),
        ("2001:db8:122:344::", 96),
    ] {
        let dst = Ipv6Addr::from(rfc6052::embed(&a6(prefix).octets(), len, host.octets()));
        let input = v6(UPSTREAM, dst, 64, 0, L4::Udp(PAYLOAD));
        cases.push(
            Case::xdp(format!("pool6 {prefix}/{len}"), from_upstream(&input))
                .on(x1)
                .setup(move |b| nat64_with(b, (prefix, len), NAT64_F_WKP_STRICT))
                .redirect(to_v4_host(
                    CLIENT_A_MAC,
                    &translated_v4(up4, host, 63, 0, L4::Udp(PAYLOAD)),
                ))
                .events(&[(Event::Nat64To4, 1)]),
        );
    }
    let echo = |src: Ipv6Addr, dst: Ipv6Addr, hl: u8| v6(src, dst, hl, 0, L4::EchoRequest(PAYLOAD));
    let wkp_dst: Ipv6Addr = "64:ff9b::192.0.2.2".parse().unwrap();
    let unrouted = a4("203.0.113.9");
    // A Fragment header (first fragment) for ICMPv4, which no IPv6 host
    // may send to IPv4 (`other_transports`).
    let fragment = v6_fragment(
        UPSTREAM,
        p6(host),
        64,
        1,
        9,
        0,
        true,
        &[8, 0, 0, 0, 0, 0, 0, 0],
    );
    // An informational type other than echo (here 139, node information
    // query): RFC 7915 §5.2 drops it.
    let mut informational = echo(UPSTREAM, p6(host), 64);
    informational[40] = 139;
    let mut udp_no_check = v6(UPSTREAM, p6(host), 64, 0, L4::Udp(PAYLOAD));
    udp_no_check[46..48].copy_from_slice(&[0, 0]);
    cases.extend([
        Case::xdp(
            "no route to the IPv4 host: the kernel gets the translated packet, TTL untouched",
            from_upstream(&echo(UPSTREAM, p6(unrouted), 64)),
        )
        .on(x1)
        .setup(nat64_on)
        .pass(eth(
            UPSTREAM_MAC,
            X1_MAC,
            EtherType::IPV4,
            &translated_v4(up4, unrouted, 64, 0, L4::EchoRequest(PAYLOAD)),
        ))
        .events(&[(Event::Nat64To4, 1), (Event::FibPass, 1)]),
        Case::xdp(
            "source without a mapping: counted drop",
            from_upstream(&echo(a6("2001:db8:ffff::99"), p6(host), 64)),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Nat64NoMapping),
        Case::xdp(
            "hop limit 1 from the uplink: time exceeded from the translator's source under pool6",
            from_upstream(&echo(UPSTREAM, p6(host), 1)),
        )
        .on(x1)
        .setup(nat64_on)
        .tx(eth(
            X1_MAC,
            UPSTREAM_MAC,
            EtherType::IPV6,
            &icmpv6_error(
                p6(POP_V4),
                UPSTREAM,
                Icmpv6Type::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded),
                &echo(UPSTREAM, p6(host), 1),
            ),
        ))
        .events(&[(Event::IcmpTimeExceeded, 1), (Event::Nat64To4, 0)]),
        Case::xdp(
            "hop limit 1 from the uplink, no translator source set: counted drop",
            from_upstream(&echo(UPSTREAM, p6(host), 1)),
        )
        .on(x1)
        .setup(|b| {
            nat64_on(b);
            no_icmp_source(b);
        })
        .dropped(Drop::Nat64TtlExpired),
        Case::xdp(
            "well-known prefix, non-global IPv4 (RFC 6052 §3.1): counted drop",
            from_upstream(&echo(UPSTREAM, wkp_dst, 64)),
        )
        .on(x1)
        .setup(|b| nat64_with(b, ("64:ff9b::", 96), NAT64_F_WKP_STRICT))
        .dropped(Drop::Nat64NonGlobal),
        Case::xdp(
            "well-known prefix with the rule off: translated",
            from_upstream(&echo(UPSTREAM, wkp_dst, 64)),
        )
        .on(x1)
        .setup(|b| nat64_with(b, ("64:ff9b::", 96), 0))
        .redirect(to_v4_host(
            CLIENT_A_MAC,
            &translated_v4(up4, host, 63, 0, L4::EchoRequest(PAYLOAD)),
        )),
        Case::xdp(
            "fragment header for icmpv4: counted",
            from_upstream(&fragment),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Nat64Unsupported),
        Case::xdp(
            "icmpv6 informational other than echo: dropped, counted",
            from_upstream(&informational),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Nat64IcmpDropped),
        Case::xdp(
            "ipv6 udp without a checksum (RFC 8200 §8.1): malformed",
            from_upstream(&udp_no_check),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Malformed),
        Case::xdp(
            "hairpin (RFC 7757 §4.2): to another IPv6 host's IPv4 address, translated back at once into its tunnel",
            from_upstream(&v6(UPSTREAM, p6(a4(USER_A_V4)), 64, 0, L4::Udp(PAYLOAD))),
        )
        .on(x1)
        .setup(nat64_on)
        .redirect(to_client_a(&v6(p6(up4), a6(USER_A), 62, 0, L4::Udp(PAYLOAD))))
        .events(&[
            (Event::Nat64Hairpin, 1),
            (Event::Nat64To4, 1),
            (Event::Nat64To6, 1),
            (Event::Nat64IntoTunnel, 1),
        ])
        .tunnel(TUNNEL_A, 0, 1),
        Case::xdp(
            "hairpinned error: the tunnel user's port unreachable about it goes back the same way",
            from_client_a(&hairpin_error(
                a6(USER_A),
                p6(up4),
                64,
                &v6(p6(up4), a6(USER_A), 62, 0, L4::Udp(PAYLOAD)),
            )),
        )
        .on(x0)
        .setup(nat64_on)
        .redirect(to_upstream(&hairpin_error(
            p6(a4(USER_A_V4)),
            UPSTREAM,
            62,
            &v6(UPSTREAM, p6(a4(USER_A_V4)), 62, 0, L4::Udp(PAYLOAD)),
        )))
        .events(&[
            (Event::Nat64Hairpin, 1),
            (Event::Nat64ErrorTo4, 1),
            (Event::Nat64ErrorTo6, 1),
        ]),
        // Both legs cap the MTU: out of tunnel A (MTU 1400) 1600 − 20 →
        // 1380 (no IPv4 hop in a hairpin), back 1380 + 20 toward x1 (1500).
        Case::xdp(
            "hairpinned packet too big 1600 out of a 1400 tunnel: fragmentation needed 1380, back as packet too big 1400",
            from_client_a(&icmpv6_of(
                Icmpv6Type::PacketTooBig { mtu: 1600 },
                a6(USER_A),
                p6(up4),
                64,
                &v6(p6(up4), a6(USER_A), 62, 0, L4::Udp(PAYLOAD)),
            )),
        )
        .on(x0)
        .setup(|b| {
            nat64_on(b);
            b.change_tunnel(TUNNEL_A, |t| t.mtu = 1400);
        })
        .redirect(to_upstream(&icmpv6_of(
            Icmpv6Type::PacketTooBig { mtu: 1400 },
            p6(a4(USER_A_V4)),
            UPSTREAM,
            62,
            &v6(UPSTREAM, p6(a4(USER_A_V4)), 62, 0, L4::Udp(PAYLOAD)),
        )))
        .events(&[
            (Event::Nat64Hairpin, 1),
            (Event::Nat64ErrorTo4, 1),
            (Event::Nat64ErrorTo6, 1),
        ]),
        Case::xdp(
            "translator off: pool6 traffic is the kernel's",
            from_upstream(&echo(UPSTREAM, p6(host), 64)),
        )
        .on(x1)
        .pass_unchanged(),
    ]);
    check(&mut bed, cases);
}

/// An ICMPv6 port unreachable from `src` to `dst` (hop limit
/// `hop_limit`) quoting `quote`.
fn hairpin_error(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, quote: &[u8]) -> Vec<u8> {
    let t = Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port);
    icmpv6_of(t, src, dst, hop_limit, quote)
}

/// An ICMPv6 message of type `t` from `src` to `dst` (hop limit
/// `hop_limit`) quoting `quote`.
fn icmpv6_of(t: Icmpv6Type, src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, quote: &[u8]) -> Vec<u8> {
    let icmp =
        etherparse::Icmpv6Header::with_checksum(t, src.octets(), dst.octets(), quote).unwrap();
    let body = [icmp.to_bytes().as_slice(), quote].concat();
    ipv6(src, dst, hop_limit, etherparse::IpNumber::IPV6_ICMP, &body)
}

#[test]
fn ipv4_to_ipv6() {
    let mut bed = ProgBed::new().expect("prog bed");
    let host = CLIENT_A;
    let up4 = a4(UPSTREAM_V4);
    let row = |name: &str, l4: L4, tos: u8| {
        let input = v4(host, up4, 64, tos, l4);
        Case::xdp(name.to_string(), from_v4_host(CLIENT_A_MAC, &input))
            .on(x0)
            .setup(nat64_on)
            .redirect(to_upstream(&v6(p6(host), UPSTREAM, 63, tos, l4)))
            .events(&[
                (Event::Nat64To6, 1),
                (Event::Nat64To6Bytes, input.len() as u64),
            ])
    };
    let mut cases = vec![
        row(
            "icmp echo reply → icmpv6 echo reply",
            L4::EchoReply(PAYLOAD),
            0,
        ),
        row(
            "icmp echo request → icmpv6 echo request",
            L4::EchoRequest(PAYLOAD),
            0,
        ),
        row("udp: pseudo-header swapped", L4::Udp(PAYLOAD), 0),
        row("tcp: pseudo-header swapped", L4::Tcp(PAYLOAD), 0),
        row("type of service → traffic class", L4::Tcp(PAYLOAD), 0x2e),
    ];
    let udp = v4(host, up4, 64, 0, L4::Udp(PAYLOAD));
    let mut udp_zero = udp.clone();
    udp_zero[26..28].copy_from_slice(&[0, 0]);
    // IPv4 with options (RFC 791): each a copy of `udp` with them added.
    let with_options = |opts: &[u8]| {
        let mut v = v4(host, up4, 64, 0, L4::Udp(PAYLOAD));
        v.splice(20..20, opts.iter().copied());
        v[0] = 0x40 | (5 + opts.len() / 4) as u8;
        let len = v.len() as u16;
        v[2..4].copy_from_slice(&len.to_be_bytes());
        reseal_v4(v)
    };
    let nops = with_options(&[1, 1, 1, 0]); // NOP NOP NOP EOL
                                            // Loose source route (131), length 7, pointer 4: one hop still to go.
    let lsrr = with_options(&[131, 7, 4, 203, 0, 113, 1, 0]);
    // The same, used up (pointer 8 > length 7).
    let lsrr_done = with_options(&[131, 7, 8, 203, 0, 113, 1, 0]);
    // Strict source route (137), unexpired, after a NOP.
    let ssrr = with_options(&[1, 137, 7, 4, 203, 0, 113, 1]);
    // Record route (7), 36 bytes of it: the longest header there is.
    let mut rr = vec![7u8, 39, 4];
    rr.extend_from_slice(&[0; 36]);
    rr.push(0);
    let record_route = with_options(&rr);
    let mut options_bad_check = nops.clone();
    options_bad_check[21] ^= 0x10;
    let plain6 = v6(p6(host), UPSTREAM, 63, 0, L4::Udp(PAYLOAD));
    let mut bad_check = udp.clone();
    bad_check[10] ^= 0xff;
    let mut unreachable = v4(host, up4, 64, 0, L4::EchoRequest(PAYLOAD));
    unreachable[20] = 3; // destination unreachable: an error, not echo
    let mut quench = v4(host, up4, 64, 0, L4::EchoRequest(PAYLOAD));
    quench[20] = 4;
    let unknown_dst = v4(host, a4("198.51.100.77"), 64, 0, L4::Udp(PAYLOAD));
    cases.extend([
        Case::xdp(
            "udp checksum 0, computing off: counted drop",
            from_v4_host(CLIENT_A_MAC, &udp_zero),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::Nat64UdpZeroChecksum),
        Case::xdp(
            "udp checksum 0, computing on (RFC 7915 §4.5): full checksum",
            from_v4_host(CLIENT_A_MAC, &udp_zero),
        )
        .on(x0)
        .setup(|b| nat64_with(b, (POOL6, 96), NAT64_F_WKP_STRICT | NAT64_F_UDP0_COMPUTE))
        .redirect(to_upstream(&v6(
            p6(host),
            UPSTREAM,
            63,
            0,
            L4::Udp(PAYLOAD),
        ))),
        Case::xdp(
            "ttl 1: time exceeded from the translator's source, back to the sender",
            from_v4_host(CLIENT_A_MAC, &v4(host, up4, 1, 0, L4::Udp(PAYLOAD))),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(icmp4_error(
            CLIENT_A_MAC,
            host,
            etherparse::Icmpv4Type::TimeExceeded(
                etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
            ),
            &v4(host, up4, 1, 0, L4::Udp(PAYLOAD)),
        ))
        .events(&[(Event::Nat64IcmpSent, 1), (Event::Nat64To6, 0)]),
        Case::xdp(
            "ttl 1, no translator source set: counted drop",
            from_v4_host(CLIENT_A_MAC, &v4(host, up4, 1, 0, L4::Udp(PAYLOAD))),
        )
        .on(x0)
        .setup(|b| {
            nat64_on(b);
            no_icmp_source(b);
        })
        .dropped(Drop::Nat64TtlExpired),
        Case::xdp(
            "ipv4 options (NOP, EOL): ignored (RFC 7915 §4.1), translated as without",
            from_v4_host(CLIENT_A_MAC, &nops),
        )
        .on(x0)
        .setup(nat64_on)
        .redirect(to_upstream(&plain6))
        .events(&[(Event::Nat64OptionsStripped, 1), (Event::Nat64To6, 1)]),
        Case::xdp(
            "record route over the whole 60-byte header: ignored, translated",
            from_v4_host(CLIENT_A_MAC, &record_route),
        )
        .on(x0)
        .setup(nat64_on)
        .redirect(to_upstream(&plain6)),
        Case::xdp(
            "a source route already used up: ignored, translated",
            from_v4_host(CLIENT_A_MAC, &lsrr_done),
        )
        .on(x0)
        .setup(nat64_on)
        .redirect(to_upstream(&plain6)),
        Case::xdp(
            "unexpired loose source route: not translated, source route failed (RFC 7915 §4.1)",
            from_v4_host(CLIENT_A_MAC, &lsrr),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(icmp4_error(
            CLIENT_A_MAC,
            host,
            etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::SourceRouteFailed,
            ),
            &lsrr,
        ))
        .events(&[(Event::Nat64IcmpSent, 1), (Event::Nat64To6, 0)]),
        Case::xdp(
            "unexpired strict source route after a NOP: source route failed, options quoted",
            from_v4_host(CLIENT_A_MAC, &ssrr),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(icmp4_error(
            CLIENT_A_MAC,
            host,
            etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::SourceRouteFailed,
            ),
            &ssrr,
        )),
        Case::xdp(
            "unexpired source route, no translator source set: discarded, counted",
            from_v4_host(CLIENT_A_MAC, &lsrr),
        )
        .on(x0)
        .setup(|b| {
            nat64_on(b);
            no_icmp_source(b);
        })
        .dropped(Drop::Nat64SourceRoute),
        Case::xdp(
            "options with a wrong header checksum: counted drop",
            from_v4_host(CLIENT_A_MAC, &options_bad_check),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::BadChecksum),
        Case::xdp(
            "icmp error quoting no IPv4 header: counted",
            from_v4_host(CLIENT_A_MAC, &reseal_icmp(unreachable)),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::Nat64Unsupported),
        Case::xdp(
            "icmp source quench (RFC 7915 §4.2: dropped): counted",
            from_v4_host(CLIENT_A_MAC, &reseal_icmp(quench)),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::Nat64IcmpDropped),
        Case::xdp(
            "bad header checksum: counted drop",
            from_v4_host(CLIENT_A_MAC, &bad_check),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::BadChecksum),
        Case::xdp(
            "no mapping for the destination: the kernel's",
            from_v4_host(CLIENT_A_MAC, &unknown_dst),
        )
        .on(x0)
        .setup(nat64_on)
        .pass_unchanged(),
        Case::xdp(
            "non-global source behind the well-known prefix: counted drop",
            from_v4_host(CLIENT_A_MAC, &udp),
        )
        .on(x0)
        .setup(|b| nat64_with(b, ("64:ff9b::", 96), NAT64_F_WKP_STRICT))
        .dropped(Drop::Nat64NonGlobal),
        Case::xdp(
            "translator off: the kernel's",
            from_v4_host(CLIENT_A_MAC, &udp),
        )
        .on(x0)
        .pass_unchanged(),
    ]);
    check(&mut bed, cases);
}

/// The ICMP checksum of an IPv4 ICMP packet, after its header was edited.
fn reseal_icmp(mut v: Vec<u8>) -> Vec<u8> {
    v[22] = 0;
    v[23] = 0;
    let sum = tunnel_common::csum::add_bytes(0, &v[20..]);
    let c = !tunnel_common::csum::fold(sum);
    v[22..24].copy_from_slice(&c.to_be_bytes());
    v
}

/// Users inside tunnels: decapsulated then translated in one pass, and
/// translated then encapsulated in one pass.
#[test]
fn tunnel_users() {
    let mut bed = ProgBed::new().expect("prog bed");
    let host = CLIENT_B; // 192.0.2.3 on x0
    let user4 = a4(USER_A_V4);
    let out = v6(a6(USER_A), p6(host), 64, 0, L4::Tcp(PAYLOAD));
    let back = v4(host, user4, 64, 0, L4::Tcp(PAYLOAD));
    let spoofed = v6(a6("2001:db8:2::2"), p6(host), 64, 0, L4::Tcp(PAYLOAD));
    let last_hop = v6(a6(USER_A), p6(host), 1, 0, L4::Tcp(PAYLOAD));
    // Tunnel A's MTU is 1480: 1481 bytes of IPv6 (40 + 8 of UDP + data)
    // do not fit.
    let too_big = v4(host, user4, 64, 0, L4::Udp(&[1u8; 1481 - 48]));
    let fits = v4(host, user4, 64, 0, L4::Udp(&[1u8; 1480 - 48]));
    let cases = vec![
        Case::xdp(
            "6in4 user to an IPv4 host: decap, translate, out",
            from_client_a(&out),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(to_v4_host(
            CLIENT_B_MAC,
            &translated_v4(user4, host, 63, 0, L4::Tcp(PAYLOAD)),
        ))
        .events(&[(Event::Decap, 1), (Event::Nat64To4, 1)])
        .tunnel(TUNNEL_A, 1, 0),
        Case::xdp(
            "IPv4 host to a 6in4 user: translate, encapsulate into tunnel A",
            from_v4_host(CLIENT_B_MAC, &back),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(to_client_a(&v6(
            p6(host),
            a6(USER_A),
            63,
            0,
            L4::Tcp(PAYLOAD),
        )))
        .events(&[
            (Event::Nat64To6, 1),
            (Event::Nat64IntoTunnel, 1),
            (Event::Encap, 1),
        ])
        .tunnel(TUNNEL_A, 0, 1),
        Case::xdp(
            "translated packet that just fits the tunnel MTU",
            from_v4_host(CLIENT_B_MAC, &fits),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(to_client_a(&v6(
            p6(host),
            a6(USER_A),
            63,
            0,
            L4::Udp(&[1u8; 1480 - 48]),
        )))
        .tunnel(TUNNEL_A, 0, 1),
        Case::xdp(
            "bigger than the tunnel MTU with DF: fragmentation needed, MTU 1460, back to the sender",
            from_v4_host(CLIENT_B_MAC, &too_big),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(frag_needed(CLIENT_B_MAC, host, 1460, &too_big))
        .events(&[(Event::Nat64IcmpSent, 1), (Event::Nat64To6, 0)])
        .tunnel(TUNNEL_A, 0, 0),
        Case::xdp(
            "bigger than the tunnel MTU with DF, no ICMP budget left: counted drop",
            from_v4_host(CLIENT_B_MAC, &too_big),
        )
        .on(x0)
        .setup(|b| {
            nat64_on(b);
            b.no_icmp_budget();
        })
        .dropped(Drop::Nat64TooBig),
        Case::xdp(
            "bigger than the tunnel MTU without DF, no slow path reading: counted drop",
            from_v4_host(CLIENT_B_MAC, &with_v4_id(too_big.clone(), 0x77, false)),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::Nat64SlowPathLost)
        .events(&[(Event::Nat64SlowPath, 0)])
        .tunnel(TUNNEL_A, 0, 0),
        Case::xdp(
            "IPv4 host to a disabled tunnel's user: counted drop",
            from_v4_host(CLIENT_B_MAC, &back),
        )
        .on(x0)
        .setup(|b| {
            nat64_on(b);
            b.change_tunnel(TUNNEL_A, |t| t.enabled = false);
        })
        .dropped(Drop::TunnelDisabled)
        .tunnel(TUNNEL_A, 0, 0),
        Case::xdp(
            "a spoofed inner source never reaches the translator",
            from_client_a(&spoofed),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::SpoofedSource)
        .events(&[(Event::Nat64To4, 0)]),
        Case::xdp(
            "hop limit 1 inside the tunnel: time exceeded back into it",
            from_client_a(&last_hop),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(to_client_a(&icmpv6_error(
            a6(POP_A),
            a6(USER_A),
            Icmpv6Type::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded),
            &last_hop,
        )))
        .events(&[(Event::IcmpTimeExceeded, 1), (Event::Nat64To4, 0)])
        .tunnel(TUNNEL_A, 1, 1),
    ];
    check(&mut bed, cases);
}

/// The ICMPv4 error (RFC 792, RFC 1191) the PoP sends from tunnel A's
/// local address back to `sender`'s MAC about `invoking`: fragmentation
/// needed with `mtu`, the invoking packet quoted up to 576 bytes in all.
fn frag_needed(sender_mac: Mac, sender: Ipv4Addr, mtu: u16, invoking: &[u8]) -> Vec<u8> {
    icmp4_error(
        sender_mac,
        sender,
        etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu },
        ),
        invoking,
    )
}

/// An ICMPv4 error the PoP sends from 192.0.2.1 back to `sender` about
/// `invoking`, quoted up to 576 bytes in all (RFC 1812 §4.3.2.3).
fn icmp4_error(
    sender_mac: Mac,
    sender: Ipv4Addr,
    t: etherparse::Icmpv4Type,
    invoking: &[u8],
) -> Vec<u8> {
    let quote = &invoking[..invoking.len().min(576 - 28)];
    let icmp = etherparse::Icmpv4Header::with_checksum(t, quote);
    let mut ip = etherparse::Ipv4Header::new(
        (icmp.header_len() + quote.len()) as u16,
        64,
        etherparse::IpNumber::ICMP,
        POP_V4.octets(),
        sender.octets(),
    )
    .unwrap();
    ip.dont_fragment = true;
    ip.header_checksum = ip.calc_header_checksum();
    let mut v = ip.to_bytes().to_vec();
    v.extend_from_slice(&icmp.to_bytes());
    v.extend_from_slice(quote);
    eth(X0_MAC, sender_mac, EtherType::IPV4, &v)
}

/// Every truncation of valid frames, both ways: a pass or a counted drop,
/// never an abort, and nothing sent on that is not whole.
#[test]
fn truncated_frames() {
    let mut bed = ProgBed::new().expect("prog bed");
    let frames = [
        (
            from_upstream(&v6(UPSTREAM, p6(CLIENT_A), 64, 0, L4::Tcp(PAYLOAD))),
            bed.x1,
        ),
        (
            from_v4_host(
                CLIENT_A_MAC,
                &v4(CLIENT_A, a4(UPSTREAM_V4), 64, 0, L4::EchoRequest(PAYLOAD)),
            ),
            bed.x0,
        ),
        (
            from_client_a(&v6(a6(USER_A), p6(CLIENT_B), 64, 0, L4::Udp(PAYLOAD))),
            bed.x0,
        ),
    ];
    for (frame, ifindex) in frames {
        for len in 14..frame.len() {
            bed.reset().unwrap();
            nat64_on(&mut bed);
            let run = bed.run(&frame[..len], ifindex).unwrap();
            assert!(
                matches!(run.action, XDP_PASS | XDP_DROP),
                "{} bytes of {}: {}",
                len,
                frame.len(),
                action_name(run.action)
            );
            if run.action == XDP_DROP {
                let c = bed.dp.counters().unwrap();
                let drops: u64 = c.drops.iter().map(|(_, n)| n).sum();
                assert_eq!(drops, 1, "{len} bytes: a drop must be counted once");
            }
        }
    }
}

/// An ICMPv4 error from `router` to `to` about `quote` (the IPv4 packet
/// the translator made).
fn error_v4(router: Ipv4Addr, to: Ipv4Addr, t: etherparse::Icmpv4Type, quote: &[u8]) -> Vec<u8> {
    let icmp = etherparse::Icmpv4Header::with_checksum(t, quote);
    let mut ip = etherparse::Ipv4Header::new(
        (icmp.header_len() + quote.len()) as u16,
        64,
        etherparse::IpNumber::ICMP,
        router.octets(),
        to.octets(),
    )
    .unwrap();
    ip.header_checksum = ip.calc_header_checksum();
    let mut v = ip.to_bytes().to_vec();
    v.extend_from_slice(&icmp.to_bytes());
    v.extend_from_slice(quote);
    v
}

/// The ICMPv6 error (hop limit 63 once routed) from `src` to `dst`
/// quoting `quote`.
fn error_v6(src: Ipv6Addr, dst: Ipv6Addr, t: Icmpv6Type, quote: &[u8]) -> Vec<u8> {
    let icmp =
        etherparse::Icmpv6Header::with_checksum(t, src.octets(), dst.octets(), quote).unwrap();
    let mut body = icmp.to_bytes().to_vec();
    body.extend_from_slice(quote);
    ipv6(src, dst, 63, etherparse::IpNumber::IPV6_ICMP, &body)
}

/// Sets the TTL of an IPv4 packet (the header checksum follows).
fn with_ttl(mut v: Vec<u8>, ttl: u8) -> Vec<u8> {
    v[8] = ttl;
    reseal_v4(v)
}

/// RFC 7915 §4.2 with the quoted packet (§4.3): ICMPv4 errors from an
/// IPv4 router about what an IPv6 host sent through the translator become
/// ICMPv6 errors quoting the IPv6 packet the host sent (its hop limit as
/// the router saw the TTL).
#[test]
fn icmp_errors_4to6() {
    use etherparse::{icmpv4, icmpv6, Icmpv4Type};
    let mut bed = ProgBed::new().expect("prog bed");
    let (host, router, up4) = (CLIENT_A, CLIENT_B, a4(UPSTREAM_V4));
    let l4 = L4::Udp(PAYLOAD);
    // What the router saw one hop on, and the IPv6 packet that was.
    let seen = with_ttl(translated_v4(up4, host, 63, 0, l4), 62);
    let quote6 = v6(UPSTREAM, p6(host), 62, 0, l4);
    let row = |name: &str, t4: Icmpv4Type, t6: Icmpv6Type| {
        Case::xdp(
            name.to_string(),
            from_v4_host(CLIENT_B_MAC, &error_v4(router, up4, t4, &seen)),
        )
        .on(x0)
        .setup(nat64_on)
        .redirect(to_upstream(&error_v6(p6(router), UPSTREAM, t6, &quote6)))
        .events(&[(Event::Nat64ErrorTo6, 1)])
    };
    let unreach4 = Icmpv4Type::DestinationUnreachable;
    let unreach6 = Icmpv6Type::DestinationUnreachable;
    let frag4 =
        |mtu| unreach4(icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu });
    let ptb6 = |mtu| Icmpv6Type::PacketTooBig { mtu };
    let pointer4 =
        |p| Icmpv4Type::ParameterProblem(icmpv4::ParameterProblemHeader::PointerIndicatesError(p));
    let pointer6 = |p| {
        Icmpv6Type::ParameterProblem(icmpv6::ParameterProblemHeader {
            code: icmpv6::ParameterProblemCode::ErroneousHeaderField,
            pointer: p,
        })
    };
    let mut cases = vec![
        row(
            "time exceeded → time exceeded (traceroute through the translator)",
            Icmpv4Type::TimeExceeded(icmpv4::TimeExceededCode::TtlExceededInTransit),
            Icmpv6Type::TimeExceeded(icmpv6::TimeExceededCode::HopLimitExceeded),
        ),
        row(
            "port unreachable → port unreachable",
            unreach4(icmpv4::DestUnreachableHeader::Port),
            unreach6(icmpv6::DestUnreachableCode::Port),
        ),
        row(
            "host unreachable → no route",
            unreach4(icmpv4::DestUnreachableHeader::Host),
            unreach6(icmpv6::DestUnreachableCode::NoRoute),
        ),
        row(
            "communication administratively prohibited → prohibited",
            unreach4(icmpv4::DestUnreachableHeader::FilterProhibited),
            unreach6(icmpv6::DestUnreachableCode::Prohibited),
        ),
        row(
            "protocol unreachable → parameter problem, next header, pointer 6",
            unreach4(icmpv4::DestUnreachableHeader::Protocol),
            Icmpv6Type::ParameterProblem(icmpv6::ParameterProblemHeader {
                code: icmpv6::ParameterProblemCode::UnrecognizedNextHeader,
                pointer: 6,
            }),
        ),
        // RFC 7915 §4.2: the least of the MTU + 20, the IPv6 next hop's
        // (x1's toward upstream) and the IPv4 device's the error came in
        // on (x0) + 20; both devices at 1500 unless the row sets them.
        row(
            "fragmentation needed, MTU 1400 → packet too big, MTU 1420 (its own the least)",
            frag4(1400),
            ptb6(1420),
        ),
        row(
            "fragmentation needed, MTU 1000 → packet too big, MTU 1280 (never less, RFC 7915 §4.2)",
            frag4(1000),
            ptb6(1280),
        ),
        row(
            "fragmentation needed, MTU 1600 → packet too big 1500: x1's MTU the least (x0: 1520)",
            frag4(1600),
            ptb6(1500),
        ),
        row(
            "fragmentation needed, MTU 1600, x1 (the IPv6 egress) at 1450 → packet too big 1450",
            frag4(1600),
            ptb6(1450),
        )
        .setup(|b| {
            nat64_on(b);
            b.set_mtu("x1", 1450);
        }),
        row(
            "fragmentation needed, MTU 1600, x0 (where it came in) at 1400 → packet too big 1420",
            frag4(1600),
            ptb6(1420),
        )
        .setup(|b| {
            nat64_on(b);
            b.set_mtu("x0", 1400);
        }),
        row(
            "parameter problem at the TTL (8) → at the hop limit (7)",
            pointer4(8),
            pointer6(7),
        ),
        row(
            "parameter problem in the destination (17) → the destination (24)",
            pointer4(17),
            pointer6(24),
        ),
        row(
            "parameter problem at the protocol (9) → the next header (6)",
            pointer4(9),
            pointer6(6),
        ),
    ];
    // A router of RFC 792's day quotes the header and 8 bytes: the UDP
    // header, checksum included, is still translated.
    cases.push(
        Case::xdp(
            "quote of header + 8 bytes: translated as far as it goes",
            from_v4_host(
                CLIENT_B_MAC,
                &error_v4(
                    router,
                    up4,
                    unreach4(icmpv4::DestUnreachableHeader::Port),
                    &seen[..28],
                ),
            ),
        )
        .on(x0)
        .setup(nat64_on)
        .redirect(to_upstream(&error_v6(
            p6(router),
            UPSTREAM,
            unreach6(icmpv6::DestUnreachableCode::Port),
            &quote6[..48],
        ))),
    );
    // A 1300-byte datagram quoted whole: MTU 0 means the RFC 1191
    // plateau below its length (1328 → 1006), 1026 as IPv6, raised to the
    // IPv6 minimum 1280 (hosts discard less, RFC 8201 §4); the ICMPv6
    // error is cut to 1280 bytes (1232 quoted).
    let big = L4::Udp(&[9u8; 1300]);
    let big_seen = with_ttl(translated_v4(up4, host, 63, 0, big), 62);
    let big_quote6 = v6(UPSTREAM, p6(host), 62, 0, big);
    cases.push(
        Case::xdp(
            "fragmentation needed with MTU 0: plateau 1006 + 20, raised to 1280; cut to 1280 bytes",
            from_v4_host(
                CLIENT_B_MAC,
                &error_v4(
                    router,
                    up4,
                    unreach4(icmpv4::DestUnreachableHeader::FragmentationNeeded {
                        next_hop_mtu: 0,
                    }),
                    &big_seen,
                ),
            ),
        )
        .on(x0)
        .setup(nat64_on)
        .redirect(to_upstream(&error_v6(
            p6(router),
            UPSTREAM,
            Icmpv6Type::PacketTooBig { mtu: 1280 },
            &big_quote6[..1232],
        ))),
    );
    // A 1500-byte datagram, its first 548 bytes quoted (576 in all): the
    // plateau below its total length (1492) + 20; x1 at 9000, so that its
    // MTU is not the least.
    let full = L4::Udp(&[9u8; 1472]);
    let full_seen = with_ttl(translated_v4(up4, host, 63, 0, full), 62);
    let full_quote6 = v6(UPSTREAM, p6(host), 62, 0, full);
    cases.push(
        Case::xdp(
            "fragmentation needed with MTU 0 about 1500 bytes, quoted in part: plateau 1492 + 20",
            from_v4_host(
                CLIENT_B_MAC,
                &error_v4(
                    router,
                    up4,
                    unreach4(icmpv4::DestUnreachableHeader::FragmentationNeeded {
                        next_hop_mtu: 0,
                    }),
                    &full_seen[..548],
                ),
            ),
        )
        .on(x0)
        .setup(|b| {
            nat64_on(b);
            b.set_mtu("x1", 9000);
        })
        .redirect(to_upstream(&error_v6(
            p6(router),
            UPSTREAM,
            Icmpv6Type::PacketTooBig { mtu: 1512 },
            &full_quote6[..568],
        ))),
    );
    let stranger = with_ttl(translated_v4(a4("198.51.100.99"), host, 63, 0, l4), 62);
    cases.extend([
        Case::xdp(
            "parameter problem at the identification: no IPv6 field, counted drop",
            from_v4_host(CLIENT_B_MAC, &error_v4(router, up4, pointer4(4), &seen)),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::Nat64IcmpDropped),
        Case::xdp(
            "host precedence violation (RFC 7915: dropped): counted drop",
            from_v4_host(
                CLIENT_B_MAC,
                &error_v4(
                    router,
                    up4,
                    unreach4(icmpv4::DestUnreachableHeader::HostPrecedenceViolation),
                    &seen,
                ),
            ),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::Nat64IcmpDropped),
        Case::xdp(
            "error quoting a packet from an unmapped source: counted drop",
            from_v4_host(
                CLIENT_B_MAC,
                &error_v4(
                    router,
                    up4,
                    unreach4(icmpv4::DestUnreachableHeader::Port),
                    &stranger,
                ),
            ),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::Nat64IcmpDropped),
    ]);
    // About a tunnel user's packet: the error goes into tunnel A.
    let user4 = a4(USER_A_V4);
    let user_seen = with_ttl(translated_v4(user4, host, 63, 0, l4), 62);
    cases.push(
        Case::xdp(
            "error about a tunnel user's packet: into the tunnel",
            from_v4_host(
                CLIENT_B_MAC,
                &error_v4(
                    router,
                    user4,
                    unreach4(icmpv4::DestUnreachableHeader::Port),
                    &user_seen,
                ),
            ),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(to_client_a(&error_v6(
            p6(router),
            a6(USER_A),
            unreach6(icmpv6::DestUnreachableCode::Port),
            &v6(a6(USER_A), p6(host), 62, 0, l4),
        )))
        .tunnel(TUNNEL_A, 0, 1),
    );
    // Into tunnel A: its MTU is the IPv6 next hop's.
    cases.push(
        Case::xdp(
            "fragmentation needed, MTU 1600, about a tunnel user's packet, tunnel MTU 1400 → packet too big 1400",
            from_v4_host(CLIENT_B_MAC, &error_v4(router, user4, frag4(1600), &user_seen)),
        )
        .on(x0)
        .setup(|b| {
            nat64_on(b);
            b.change_tunnel(TUNNEL_A, |t| t.mtu = 1400);
        })
        .tx(to_client_a(&error_v6(
            p6(router),
            a6(USER_A),
            ptb6(1400),
            &v6(a6(USER_A), p6(host), 62, 0, l4),
        )))
        .tunnel(TUNNEL_A, 0, 1),
    );
    // x0 below the IPv6 minimum (no IPv6 on it: the FIB forwards none from
    // it, so the row goes into the tunnel): 1200 + 20, raised to 1280.
    cases.push(
        Case::xdp(
            "fragmentation needed, MTU 1600, about a tunnel user's packet, x0 at 1200 → 1220, raised to 1280",
            from_v4_host(CLIENT_B_MAC, &error_v4(router, user4, frag4(1600), &user_seen)),
        )
        .on(x0)
        .setup(|b| {
            nat64_on(b);
            b.set_mtu("x0", 1200);
        })
        .tx(to_client_a(&error_v6(
            p6(router),
            a6(USER_A),
            ptb6(1280),
            &v6(a6(USER_A), p6(host), 62, 0, l4),
        )))
        .tunnel(TUNNEL_A, 0, 1),
    );
    check(&mut bed, cases);
}

/// An IPv4 ICMP error as the translator sends it: TTL 63 once routed,
/// no DF below 1260 bytes, the id its rule gives (checksum XOR length).
fn translated_error_v4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    t: etherparse::Icmpv4Type,
    quote: &[u8],
) -> Vec<u8> {
    let icmp = etherparse::Icmpv4Header::with_checksum(t, quote);
    let len = (20 + icmp.header_len() + quote.len()) as u16;
    let mut ip = etherparse::Ipv4Header::new(
        len - 20,
        63,
        etherparse::IpNumber::ICMP,
        src.octets(),
        dst.octets(),
    )
    .unwrap();
    ip.dont_fragment = false;
    ip.identification = icmp.checksum ^ len;
    ip.header_checksum = ip.calc_header_checksum();
    let mut v = ip.to_bytes().to_vec();
    v.extend_from_slice(&icmp.to_bytes());
    v.extend_from_slice(quote);
    v
}

/// The RFC 6791 pool of the pool cases, and the address the README's rule
/// picks in it for an IPv6 router: the XOR of the address's four 32-bit
/// words, times 0x9e3779b1 (mod 2^32), its top 3 bits the host part.
const POOL_FIRST: [u8; 4] = [192, 0, 2, 8];
fn pool_pick(router: Ipv6Addr) -> Ipv4Addr {
    let o = router.octets();
    let x = (0..4).fold(0u32, |x, i| {
        x ^ u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
    });
    let host = x.wrapping_mul(0x9e37_79b1) >> 29;
    Ipv4Addr::from(u32::from_be_bytes(POOL_FIRST) | host)
}

/// Builds an ICMPv6 error: (source, type, quote) → the packet.
type MakeError6<'a> = dyn Fn(Ipv6Addr, Icmpv6Type, &[u8]) -> Vec<u8> + 'a;

/// An error from `router` (no mapping) with the pool 192.0.2.8/29 set:
/// from the pool's address for that router.
fn pooled_row(router: Ipv6Addr, error6: &MakeError6<'_>, seen6: &[u8], quote4: &[u8]) -> Case {
    use etherparse::{icmpv4, icmpv6, Icmpv4Type};
    let host = CLIENT_A;
    Case::xdp(
        format!("time exceeded from {router}, pool 192.0.2.8/29 → from its pool address"),
        from_upstream(&error6(
            router,
            Icmpv6Type::TimeExceeded(icmpv6::TimeExceededCode::HopLimitExceeded),
            seen6,
        )),
    )
    .on(x1)
    .setup(|b| {
        nat64_on(b);
        b.dp.set_nat64(
            &Nat64Settings {
                pool6: Some((a6(POOL6), 96)),
                flags: NAT64_F_WKP_STRICT,
                icmp_source: Some((Ipv4Addr::from(POOL_FIRST), 29)),
            },
            true,
        )
        .unwrap();
    })
    .redirect(to_v4_host(
        CLIENT_A_MAC,
        &translated_error_v4(
            pool_pick(router),
            host,
            Icmpv4Type::TimeExceeded(icmpv4::TimeExceededCode::TtlExceededInTransit),
            quote4,
        ),
    ))
    .events(&[(Event::Nat64ErrorTo4, 1)])
}

/// RFC 7915 §5.2 with the quoted packet (§5.3): ICMPv6 errors about what
/// an IPv4 host sent through the translator become ICMPv4 errors quoting
/// the IPv4 packet it was. Errors from routers without a mapping take the
/// RFC 6791 source (here the PoP's 192.0.2.1).
#[test]
fn icmp_errors_6to4() {
    use etherparse::{icmpv4, icmpv6, Icmpv4Type};
    let mut bed = ProgBed::new().expect("prog bed");
    let (host, up4) = (CLIENT_A, a4(UPSTREAM_V4));
    let l4 = L4::Udp(PAYLOAD);
    // What the IPv6 side saw: the host's datagram, translated, one hop on.
    let seen6 = v6(p6(host), UPSTREAM, 62, 0, l4);
    // The IPv4 packet it was, as the translator can rebuild it: no id,
    // no DF (the original's are not carried), TTL the hop limit seen.
    let quote4 = with_v4_id(v4(host, up4, 62, 0, l4), 0, false);
    let router: Ipv6Addr = a6("2001:db8:ffff::99");
    let other_router: Ipv6Addr = a6("2001:db8:ffff::1:98");
    assert_ne!(
        pool_pick(router),
        pool_pick(other_router),
        "the pool cases want two routers that get different addresses"
    );
    let error6 = |src: Ipv6Addr, t: Icmpv6Type, quote: &[u8]| {
        let icmp =
            etherparse::Icmpv6Header::with_checksum(t, src.octets(), p6(host).octets(), quote)
                .unwrap();
        let mut body = icmp.to_bytes().to_vec();
        body.extend_from_slice(quote);
        ipv6(src, p6(host), 64, etherparse::IpNumber::IPV6_ICMP, &body)
    };
    let row = |name: &str, src: Ipv6Addr, src4: Ipv4Addr, t6: Icmpv6Type, t4: Icmpv4Type| {
        Case::xdp(name.to_string(), from_upstream(&error6(src, t6, &seen6)))
            .on(x1)
            .setup(nat64_on)
            .redirect(to_v4_host(
                CLIENT_A_MAC,
                &translated_error_v4(src4, host, t4, &quote4),
            ))
            .events(&[(Event::Nat64ErrorTo4, 1)])
    };
    let unreach6 = Icmpv6Type::DestinationUnreachable;
    let unreach4 = Icmpv4Type::DestinationUnreachable;
    let frag4 =
        |mtu| unreach4(icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu });
    let ptb6 = |mtu| Icmpv6Type::PacketTooBig { mtu };
    // Tunnel A's user's host answers, through its 6in4 tunnel, a datagram
    // an IPv4 host (192.0.2.3) sent it: `t6` about it, as the user sends it.
    let user4 = a4(USER_A_V4);
    let user_seen = v6(p6(CLIENT_B), a6(USER_A), 62, 0, l4);
    let from_user = |t6: Icmpv6Type| {
        let icmp = etherparse::Icmpv6Header::with_checksum(
            t6,
            a6(USER_A).octets(),
            p6(CLIENT_B).octets(),
            &user_seen,
        )
        .unwrap();
        let mut body = icmp.to_bytes().to_vec();
        body.extend_from_slice(&user_seen);
        from_client_a(&ipv6(
            a6(USER_A),
            p6(CLIENT_B),
            64,
            etherparse::IpNumber::IPV6_ICMP,
            &body,
        ))
    };
    let to_b_about_user = |t4: Icmpv4Type| {
        to_v4_host(
            CLIENT_B_MAC,
            &translated_error_v4(
                user4,
                CLIENT_B,
                t4,
                &with_v4_id(v4(CLIENT_B, user4, 62, 0, l4), 0, false),
            ),
        )
    };
    let mut cases = vec![
        row(
            "port unreachable from the mapped host → port unreachable from its IPv4 address",
            UPSTREAM,
            up4,
            unreach6(icmpv6::DestUnreachableCode::Port),
            unreach4(icmpv4::DestUnreachableHeader::Port),
        ),
        row(
            "time exceeded from a router without a mapping → from the RFC 6791 source",
            router,
            POP_V4,
            Icmpv6Type::TimeExceeded(icmpv6::TimeExceededCode::HopLimitExceeded),
            Icmpv4Type::TimeExceeded(icmpv4::TimeExceededCode::TtlExceededInTransit),
        ),
        row(
            "no route → host unreachable",
            router,
            POP_V4,
            unreach6(icmpv6::DestUnreachableCode::NoRoute),
            unreach4(icmpv4::DestUnreachableHeader::Host),
        ),
        row(
            "address unreachable → host unreachable",
            router,
            POP_V4,
            unreach6(icmpv6::DestUnreachableCode::Address),
            unreach4(icmpv4::DestUnreachableHeader::Host),
        ),
        row(
            "administratively prohibited → host administratively prohibited (10)",
            router,
            POP_V4,
            unreach6(icmpv6::DestUnreachableCode::Prohibited),
            unreach4(icmpv4::DestUnreachableHeader::HostProhibited),
        ),
        // RFC 7915 §5.2: the least of the MTU − 20, the IPv4 egress
        // device's (x0, toward the host) and the IPv6 side's the error came
        // from (x1) − 20; both devices at 1500 unless the row sets them.
        row(
            "packet too big, MTU 1400 → fragmentation needed, MTU 1380 (its own the least)",
            router,
            POP_V4,
            ptb6(1400),
            frag4(1380),
        ),
        row(
            "packet too big, MTU 1600 → fragmentation needed 1480: x1's MTU − 20 the least",
            router,
            POP_V4,
            ptb6(1600),
            frag4(1480),
        ),
        row(
            "packet too big, MTU 1600, x0 (the IPv4 egress) at 1400 → fragmentation needed 1400",
            router,
            POP_V4,
            ptb6(1600),
            frag4(1400),
        )
        .setup(|b| {
            nat64_on(b);
            b.set_mtu("x0", 1400);
        }),
        row(
            "packet too big, MTU 1600, x1 (where it came in) at 1450 → fragmentation needed 1430",
            router,
            POP_V4,
            ptb6(1600),
            frag4(1430),
        )
        .setup(|b| {
            nat64_on(b);
            b.set_mtu("x1", 1450);
        }),
        row(
            "parameter problem at the hop limit (7) → at the TTL (8)",
            router,
            POP_V4,
            Icmpv6Type::ParameterProblem(icmpv6::ParameterProblemHeader {
                code: icmpv6::ParameterProblemCode::ErroneousHeaderField,
                pointer: 7,
            }),
            Icmpv4Type::ParameterProblem(icmpv4::ParameterProblemHeader::PointerIndicatesError(8)),
        ),
        row(
            "unrecognized next header → protocol unreachable",
            router,
            POP_V4,
            Icmpv6Type::ParameterProblem(icmpv6::ParameterProblemHeader {
                code: icmpv6::ParameterProblemCode::UnrecognizedNextHeader,
                pointer: 6,
            }),
            unreach4(icmpv4::DestUnreachableHeader::Protocol),
        ),
        pooled_row(router, &error6, &seen6, &quote4),
        pooled_row(other_router, &error6, &seen6, &quote4),
        Case::xdp(
            "a router without a mapping and no RFC 6791 source: counted drop",
            from_upstream(&error6(
                router,
                unreach6(icmpv6::DestUnreachableCode::Port),
                &seen6,
            )),
        )
        .on(x1)
        .setup(|b| {
            nat64_on(b);
            b.dp.set_nat64(
                &Nat64Settings {
                    pool6: Some((a6(POOL6), 96)),
                    flags: NAT64_F_WKP_STRICT,
                    icmp_source: None,
                },
                true,
            )
            .unwrap();
        })
        .dropped(Drop::Nat64IcmpDropped),
        Case::xdp(
            "parameter problem at the flow label: no IPv4 field, counted drop",
            from_upstream(&error6(
                router,
                Icmpv6Type::ParameterProblem(icmpv6::ParameterProblemHeader {
                    code: icmpv6::ParameterProblemCode::ErroneousHeaderField,
                    pointer: 2,
                }),
                &seen6,
            )),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Nat64IcmpDropped),
        Case::xdp(
            "unreachable code 5 (failed policy, RFC 7915: dropped): counted drop",
            from_upstream(&error6(
                router,
                unreach6(icmpv6::DestUnreachableCode::SourceAddressFailedPolicy),
                &seen6,
            )),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Nat64IcmpDropped),
        // Decap, then translate the error in the same pass.
        Case::xdp(
            "port unreachable from a tunnel user's host: decap, translate, out",
            from_user(unreach6(icmpv6::DestUnreachableCode::Port)),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(to_b_about_user(unreach4(
            icmpv4::DestUnreachableHeader::Port,
        )))
        .tunnel(TUNNEL_A, 1, 0),
    ];
    // Out of tunnel A: its MTU is the IPv6 side's (not x0's, which the
    // 6in4 packet came in on).
    cases.push(
        Case::xdp(
            "packet too big, MTU 1600, from a tunnel user's host, tunnel MTU 1400 → fragmentation needed 1380",
            from_user(ptb6(1600)),
        )
        .on(x0)
        .setup(|b| {
            nat64_on(b);
            b.change_tunnel(TUNNEL_A, |t| t.mtu = 1400);
        })
        .tx(to_b_about_user(frag4(1380)))
        .tunnel(TUNNEL_A, 1, 0),
    );
    check(&mut bed, cases);
}

/// RFC 7915 §4.1 and §5.1.1: fragments are translated one by one, with
/// no reassembly: an IPv4 fragment becomes an IPv6 packet with a Fragment
/// header (identification's low half, offset and M carried), and back.
/// The transport checksum covers the whole datagram, so the first
/// fragment's is swapped like any other; later fragments carry none.
#[test]
fn fragments() {
    let mut bed = ProgBed::new().expect("prog bed");
    let (host, up4) = (CLIENT_A, a4(UPSTREAM_V4));
    let data = [0x42u8; 64];
    // The whole datagram in each family: UDP header and data, each with
    // its own family's checksum.
    let udp4 = v4(host, up4, 64, 0, L4::Udp(&data))[20..].to_vec();
    let udp6 = v6(p6(host), UPSTREAM, 64, 0, L4::Udp(&data))[40..].to_vec();
    let (first, later) = (24usize, 24u16);
    let udp = etherparse::IpNumber::UDP;
    let icmp4 = v4(host, up4, 64, 0, L4::EchoRequest(&data))[20..].to_vec();
    let udp6_up = v6(UPSTREAM, p6(host), 64, 0, L4::Udp(&data))[40..].to_vec();
    let udp4_up = v4(up4, host, 64, 0, L4::Udp(&data))[20..].to_vec();
    let mut udp4_zero = udp4.clone();
    udp4_zero[6..8].copy_from_slice(&[0, 0]);
    let icmp6_up = v6(UPSTREAM, p6(host), 64, 0, L4::EchoRequest(&data))[40..].to_vec();
    let cases = vec![
        Case::xdp(
            "ipv4 first fragment → ipv6 with a fragment header, udp checksum swapped",
            from_v4_host(
                CLIENT_A_MAC,
                &v4_fragment(host, up4, 64, udp, 0x1234, 0, true, &udp4[..first]),
            ),
        )
        .on(x0)
        .setup(nat64_on)
        .redirect(to_upstream(&v6_fragment(
            p6(host),
            UPSTREAM,
            63,
            17,
            0x1234,
            0,
            true,
            &udp6[..first],
        )))
        .events(&[(Event::Nat64To6, 1)]),
        Case::xdp(
            "ipv4 later fragment → ipv6 fragment at the same offset, data untouched",
            from_v4_host(
                CLIENT_A_MAC,
                &v4_fragment(host, up4, 64, udp, 0x1234, later, false, &udp4[first..]),
            ),
        )
        .on(x0)
        .setup(nat64_on)
        .redirect(to_upstream(&v6_fragment(
            p6(host),
            UPSTREAM,
            63,
            17,
            0x1234,
            later,
            false,
            &udp6[first..],
        ))),
        Case::xdp(
            "ipv4 first fragment of icmp: for the slow path, which no one reads here: counted \
             (icmp_fragments_hand_over reads it)",
            from_v4_host(
                CLIENT_A_MAC,
                &v4_fragment(
                    host,
                    up4,
                    64,
                    etherparse::IpNumber::ICMP,
                    7,
                    0,
                    true,
                    &icmp4[..first],
                ),
            ),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::Nat64SlowPathLost),
        Case::xdp(
            "ipv4 first fragment with udp checksum 0: cannot be computed, counted",
            from_v4_host(
                CLIENT_A_MAC,
                &v4_fragment(host, up4, 64, udp, 7, 0, true, &udp4_zero[..first]),
            ),
        )
        .on(x0)
        .setup(|b| nat64_with(b, (POOL6, 96), NAT64_F_WKP_STRICT | NAT64_F_UDP0_COMPUTE))
        .dropped(Drop::Nat64UdpZeroChecksum),
        Case::xdp(
            "ipv6 first fragment → ipv4 fragment: id's low half, MF, no DF",
            from_upstream(&v6_fragment(
                UPSTREAM,
                p6(host),
                64,
                17,
                0xabcd_1234,
                0,
                true,
                &udp6_up[..first],
            )),
        )
        .on(x1)
        .setup(nat64_on)
        .redirect(to_v4_host(
            CLIENT_A_MAC,
            &v4_fragment(up4, host, 63, udp, 0x1234, 0, true, &udp4_up[..first]),
        ))
        .events(&[(Event::Nat64To4, 1)]),
        Case::xdp(
            "ipv6 later fragment → ipv4 fragment at the same offset",
            from_upstream(&v6_fragment(
                UPSTREAM,
                p6(host),
                64,
                17,
                0xabcd_1234,
                later,
                false,
                &udp6_up[first..],
            )),
        )
        .on(x1)
        .setup(nat64_on)
        .redirect(to_v4_host(
            CLIENT_A_MAC,
            &v4_fragment(up4, host, 63, udp, 0x1234, later, false, &udp4_up[first..]),
        )),
        Case::xdp(
            "ipv6 first fragment of icmpv6: for the slow path, which no one reads here: counted",
            from_upstream(&v6_fragment(
                UPSTREAM,
                p6(host),
                64,
                58,
                9,
                0,
                true,
                &icmp6_up[..first],
            )),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Nat64SlowPathLost),
        Case::xdp(
            "ipv6 fragment of icmpv6 hairpinned (to a mapping under pool6): the slow path \
             sends ipv4 only, counted",
            from_upstream(&v6_fragment(
                UPSTREAM,
                p6(a4(USER_A_V4)),
                64,
                58,
                9,
                0,
                true,
                &icmp6_up[..first],
            )),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Nat64Unsupported),
    ];
    check(&mut bed, cases);
}

/// One's-complement sum of `bytes` (RFC 1071), unfolded: the tests'
/// own, to build the checksums the translator must leave.
fn ones_sum(bytes: &[u8]) -> u64 {
    bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u64)
        .sum()
}

fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// A transport segment of protocol `proto` (DCCP or UDP-Lite) whose
/// checksum at offset 6 covers a pseudo-header of `addrs` (both
/// addresses' bytes), the length and the protocol, then `covered` bytes
/// of the segment (all of them for DCCP's CsCov 0).
fn pseudo_checked(mut seg: Vec<u8>, addrs: &[u8], proto: u8, covered: usize) -> Vec<u8> {
    seg[6] = 0;
    seg[7] = 0;
    let s = ones_sum(addrs) + seg.len() as u64 + proto as u64 + ones_sum(&seg[..covered]);
    let mut c = !fold(s);
    if c == 0 && proto == 136 {
        c = 0xffff;
    }
    seg[6..8].copy_from_slice(&c.to_be_bytes());
    seg
}

fn addr_bytes6(a: Ipv6Addr, b: Ipv6Addr) -> Vec<u8> {
    [a.octets(), b.octets()].concat()
}

fn addr_bytes4(a: Ipv4Addr, b: Ipv4Addr) -> Vec<u8> {
    [a.octets(), b.octets()].concat()
}

/// An IPv4 packet of protocol `proto` as the translator makes it from
/// IPv6 (RFC 7915 §5.1): no DF below 1260 bytes, and an id of ours: for a
/// transport without a pseudo-header checksum, the one's-complement sum
/// of its first 8 bytes (as two 32-bit words, folded) XOR the length.
fn translated_raw_v4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    proto: u8,
    payload: &[u8],
    id: Option<u16>,
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src.octets(), dst.octets(), ttl)
        .write(&mut v, etherparse::IpNumber(proto), payload)
        .unwrap();
    let id = id.unwrap_or_else(|| {
        let w = |i: usize| u32::from_be_bytes(payload[i..i + 4].try_into().unwrap()) as u64;
        fold(w(0) + w(4)) ^ v.len() as u16
    });
    with_v4_id(v, id, false)
}

/// RFC 7915 §4.5 and §5.5: every transport crosses; DCCP and UDP-Lite get
/// their pseudo-header checksum fixed, others go as they are; what an
/// IPv6 or IPv4 host would read as an extension header, ICMPv4 in IPv6
/// and ICMPv6 in IPv4 are counted drops.
#[test]
fn other_transports() {
    let mut bed = ProgBed::new().expect("prog bed");
    let host = CLIENT_A;
    let up4 = a4(UPSTREAM_V4);
    // GRE: flags 0, protocol 0x0800, then an inner stand-in.
    let gre: Vec<u8> = [&[0u8, 0, 0x08, 0x00][..], PAYLOAD].concat();
    // ESP: SPI, sequence number, then ciphertext.
    let esp: Vec<u8> = [&[0u8, 0, 0x10, 0x01, 0, 0, 0, 9][..], PAYLOAD].concat();
    // DCCP-Request (type 0, X 0): ports, data offset 3 words, CsCov 0,
    // checksum, type, sequence number, service code.
    let dccp = |addrs: &[u8]| {
        let seg: Vec<u8> = [
            &[
                0x9c, 0x40, 0x00, 0x50, 3, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x2a,
            ][..],
            PAYLOAD,
        ]
        .concat();
        let n = seg.len();
        pseudo_checked(seg, addrs, 33, n)
    };
    // UDP-Lite with checksum coverage 8: the header alone (RFC 3828).
    let udplite = |addrs: &[u8]| {
        let seg: Vec<u8> = [&[0x14, 0xe9, 0x00, 0x35, 0, 8, 0, 0][..], PAYLOAD].concat();
        pseudo_checked(seg, addrs, 136, 8)
    };
    let (a6s, a4s) = (addr_bytes6(UPSTREAM, p6(host)), addr_bytes4(up4, host));
    let (b4s, b6s) = (addr_bytes4(host, up4), addr_bytes6(p6(host), UPSTREAM));
    let to4 = |name: &str, proto: u8, seg6: Vec<u8>, seg4: Vec<u8>, id: Option<u16>| {
        let input = ipv6(UPSTREAM, p6(host), 64, etherparse::IpNumber(proto), &seg6);
        Case::xdp(format!("6→4 {name}"), from_upstream(&input))
            .on(x1)
            .setup(nat64_on)
            .redirect(to_v4_host(
                CLIENT_A_MAC,
                &translated_raw_v4(up4, host, 63, proto, &seg4, id),
            ))
            .events(&[(Event::Nat64To4, 1)])
    };
    let to6 = |name: &str, proto: u8, seg4: Vec<u8>, seg6: Vec<u8>| {
        let mut input = Vec::new();
        PacketBuilder::ipv4(host.octets(), up4.octets(), 64)
            .write(&mut input, etherparse::IpNumber(proto), &seg4)
            .unwrap();
        Case::xdp(format!("4→6 {name}"), from_v4_host(CLIENT_A_MAC, &input))
            .on(x0)
            .setup(nat64_on)
            .redirect(to_upstream(&ipv6(
                p6(host),
                UPSTREAM,
                63,
                etherparse::IpNumber(proto),
                &seg6,
            )))
            .events(&[(Event::Nat64To6, 1)])
    };
    // The id of a DCCP or UDP-Lite datagram is its checksum XOR length.
    let id_of =
        |seg4: &[u8]| Some(u16::from_be_bytes([seg4[6], seg4[7]]) ^ (20 + seg4.len()) as u16);
    let refused6 = |name: &str, proto: u8| {
        Case::xdp(
            format!("6→4 {name}: counted"),
            from_upstream(&ipv6(
                UPSTREAM,
                p6(host),
                64,
                etherparse::IpNumber(proto),
                &gre,
            )),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Nat64Unsupported)
    };
    let refused4 = |name: &str, proto: u8| {
        let mut input = Vec::new();
        PacketBuilder::ipv4(host.octets(), up4.octets(), 64)
            .write(&mut input, etherparse::IpNumber(proto), &gre)
            .unwrap();
        Case::xdp(
            format!("4→6 {name}: counted"),
            from_v4_host(CLIENT_A_MAC, &input),
        )
        .on(x0)
        .setup(nat64_on)
        .dropped(Drop::Nat64Unsupported)
    };
    // Errors quoting them (RFC 7915 §4.3, §5.3): an IPv4 router's time
    // exceeded about what the IPv6 host sent, and the IPv6 host's port
    // unreachable about what the IPv4 host sent.
    let (router, up6) = (CLIENT_B, UPSTREAM);
    let exceeded4 = etherparse::Icmpv4Type::TimeExceeded(
        etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
    );
    let exceeded6 =
        Icmpv6Type::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded);
    let err_to6 = |name: &str, proto: u8, seg6: Vec<u8>, seg4: Vec<u8>| {
        let seen = with_ttl(translated_raw_v4(up4, host, 63, proto, &seg4, Some(0)), 62);
        let quote6 = ipv6(up6, p6(host), 62, etherparse::IpNumber(proto), &seg6);
        Case::xdp(
            format!("4→6 time exceeded quoting {name}"),
            from_v4_host(
                CLIENT_B_MAC,
                &error_v4(router, up4, exceeded4.clone(), &seen),
            ),
        )
        .on(x0)
        .setup(nat64_on)
        .redirect(to_upstream(&error_v6(p6(router), up6, exceeded6, &quote6)))
        .events(&[(Event::Nat64ErrorTo6, 1)])
    };
    let port6 = Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port);
    let port4 = etherparse::Icmpv4Type::DestinationUnreachable(
        etherparse::icmpv4::DestUnreachableHeader::Port,
    );
    let err_to4 = |name: &str, proto: u8, seg6: Vec<u8>, seg4: Vec<u8>| {
        let seen6 = ipv6(p6(host), up6, 62, etherparse::IpNumber(proto), &seg6);
        let icmp =
            etherparse::Icmpv6Header::with_checksum(port6, up6.octets(), p6(host).octets(), &seen6)
                .unwrap();
        let error = ipv6(
            up6,
            p6(host),
            64,
            etherparse::IpNumber::IPV6_ICMP,
            &[icmp.to_bytes().as_slice(), &seen6].concat(),
        );
        let mut quote4 = Vec::new();
        PacketBuilder::ipv4(host.octets(), up4.octets(), 62)
            .write(&mut quote4, etherparse::IpNumber(proto), &seg4)
            .unwrap();
        let quote4 = with_v4_id(quote4, 0, false);
        Case::xdp(
            format!("6→4 port unreachable quoting {name}"),
            from_upstream(&error),
        )
        .on(x1)
        .setup(nat64_on)
        .redirect(to_v4_host(
            CLIENT_A_MAC,
            &translated_error_v4(up4, host, port4.clone(), &quote4),
        ))
        .events(&[(Event::Nat64ErrorTo4, 1)])
    };
    let cases = vec![
        err_to6("gre", 47, gre.clone(), gre.clone()),
        err_to6("dccp: its checksum fixed", 33, dccp(&a6s), dccp(&a4s)),
        err_to4("gre", 47, gre.clone(), gre.clone()),
        err_to4(
            "udp-lite: its checksum fixed",
            136,
            udplite(&b6s),
            udplite(&b4s),
        ),
        to4("gre: as it is", 47, gre.clone(), gre.clone(), None),
        to4("esp: as it is", 50, esp.clone(), esp.clone(), None),
        to4(
            "dccp: pseudo-header swapped",
            33,
            dccp(&a6s),
            dccp(&a4s),
            id_of(&dccp(&a4s)),
        ),
        to4(
            "udp-lite, partial coverage: pseudo-header swapped",
            136,
            udplite(&a6s),
            udplite(&a4s),
            id_of(&udplite(&a4s)),
        ),
        to6("gre: as it is", 47, gre.clone(), gre.clone()),
        to6("esp: as it is", 50, esp.clone(), esp.clone()),
        to6("dccp: pseudo-header swapped", 33, dccp(&b4s), dccp(&b6s)),
        to6(
            "udp-lite, partial coverage: pseudo-header swapped",
            136,
            udplite(&b4s),
            udplite(&b6s),
        ),
        refused6("icmpv4 inside ipv6", 1),
        refused6("mobility header (135)", 135),
        refused4("icmpv6 inside ipv4", 58),
        refused4("protocol 44, an IPv6 fragment header to an IPv6 host", 44),
        refused4("protocol 0, hop-by-hop to an IPv6 host", 0),
    ];
    check(&mut bed, cases);
}

/// Extension headers `exts` (each: its type, then its bytes after the
/// next-header byte, 8n − 1 of them) inserted behind the IPv6 header of
/// `p`, chained in order, the last one pointing at `p`'s own next header.
fn with_ext(p: &[u8], exts: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = p[..40].to_vec();
    let mut next = p[6];
    let mut chain = Vec::new();
    for (i, (_, rest)) in exts.iter().enumerate() {
        let nh = exts.get(i + 1).map_or(next, |e| e.0);
        assert_eq!((rest.len() + 1) % 8, 0, "an extension header is 8n bytes");
        chain.push(nh);
        chain.extend_from_slice(rest);
    }
    if let Some(first) = exts.first() {
        next = first.0;
    }
    out[6] = next;
    let payload = (p.len() - 40 + chain.len()) as u16;
    out[4..6].copy_from_slice(&payload.to_be_bytes());
    out.extend_from_slice(&chain);
    out.extend_from_slice(&p[40..]);
    out
}

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const DEST_OPTIONS: u8 = 60;
/// Hop-by-Hop with a router alert (RFC 2711: type 5, length 2, value 0)
/// and a PadN of 0 bytes: 8 bytes.
const ROUTER_ALERT: &[u8] = &[0, 5, 2, 0, 0, 1, 0];
/// Destination Options with one PadN filling 6 bytes.
const PAD6: &[u8] = &[0, 1, 4, 0, 0, 0, 0];
/// A segment routing header (type 4) with one segment and `left` still to
/// visit: length 2 (24 bytes).
fn srh(left: u8) -> Vec<u8> {
    let mut r = vec![2, 4, left, 0, 0, 0, 0];
    r.extend_from_slice(&a6("2001:db8:ffff::7").octets());
    r
}

/// RFC 7915 §5.1: Hop-by-Hop, Destination Options and a Routing header
/// with Segments Left 0 are ignored, the length and protocol adjusted;
/// a Routing header with segments left is not translated and its sender
/// gets Parameter Problem (code 0) pointing at Segments Left.
#[test]
fn extension_headers() {
    let mut bed = ProgBed::new().expect("prog bed");
    let (host, up4) = (CLIENT_A, a4(UPSTREAM_V4));
    let udp = v6(UPSTREAM, p6(host), 64, 0, L4::Udp(PAYLOAD));
    let tcp = v6(UPSTREAM, p6(host), 64, 0, L4::Tcp(PAYLOAD));
    let spent = srh(0);
    let live = srh(1);
    let live_packet = with_ext(&udp, &[(ROUTING, &live)]);
    let behind_hbh = with_ext(&udp, &[(HOP_BY_HOP, ROUTER_ALERT), (ROUTING, &live)]);
    let data = [0x42u8; 64];
    let udp6_whole = v6(UPSTREAM, p6(host), 64, 0, L4::Udp(&data))[40..].to_vec();
    let udp4_whole = v4(up4, host, 64, 0, L4::Udp(&data))[20..].to_vec();
    let first = v6_fragment(
        UPSTREAM,
        p6(host),
        64,
        17,
        0xabcd_1234,
        0,
        true,
        &udp6_whole[..24],
    );
    let user_live = with_ext(
        &v6(a6(USER_A), p6(up4), 64, 0, L4::Udp(PAYLOAD)),
        &[(ROUTING, &live)],
    );
    let too_many = with_ext(
        &udp,
        &[
            (HOP_BY_HOP, PAD6),
            (DEST_OPTIONS, PAD6),
            (ROUTING, &spent),
            (DEST_OPTIONS, PAD6),
            (DEST_OPTIONS, PAD6),
        ],
    );
    let mut overlong = with_ext(&udp, &[(HOP_BY_HOP, ROUTER_ALERT)]);
    overlong[41] = 200; // 1608 bytes claimed, far more than the packet
    let cases = vec![
        Case::xdp(
            "hop-by-hop (router alert) before udp: stripped, translated",
            from_upstream(&with_ext(&udp, &[(HOP_BY_HOP, ROUTER_ALERT)])),
        )
        .on(x1)
        .setup(nat64_on)
        .redirect(to_v4_host(
            CLIENT_A_MAC,
            &translated_v4(up4, host, 63, 0, L4::Udp(PAYLOAD)),
        ))
        .events(&[(Event::Nat64ExtStripped, 1), (Event::Nat64To4, 1)]),
        Case::xdp(
            "destination options and a spent routing header before tcp: stripped, translated",
            from_upstream(&with_ext(&tcp, &[(DEST_OPTIONS, PAD6), (ROUTING, &spent)])),
        )
        .on(x1)
        .setup(nat64_on)
        .redirect(to_v4_host(
            CLIENT_A_MAC,
            &translated_v4(up4, host, 63, 0, L4::Tcp(PAYLOAD)),
        ))
        .events(&[(Event::Nat64ExtStripped, 1), (Event::Nat64To4, 1)]),
        Case::xdp(
            "hop-by-hop before a fragment header: stripped, the fragment translated",
            from_upstream(&with_ext(&first, &[(HOP_BY_HOP, ROUTER_ALERT)])),
        )
        .on(x1)
        .setup(nat64_on)
        .redirect(to_v4_host(
            CLIENT_A_MAC,
            &v4_fragment(up4, host, 63, etherparse::IpNumber::UDP, 0x1234, 0, true, &udp4_whole[..24]),
        ))
        .events(&[(Event::Nat64ExtStripped, 1), (Event::Nat64To4, 1)]),
        Case::xdp(
            "routing header with a segment left: parameter problem at segments left, from the translator",
            from_upstream(&live_packet),
        )
        .on(x1)
        .setup(nat64_on)
        .tx(eth(
            X1_MAC,
            UPSTREAM_MAC,
            EtherType::IPV6,
            &icmpv6_error(
                p6(POP_V4),
                UPSTREAM,
                Icmpv6Type::ParameterProblem(etherparse::icmpv6::ParameterProblemHeader {
                    code: etherparse::icmpv6::ParameterProblemCode::ErroneousHeaderField,
                    pointer: 40 + 3,
                }),
                &live_packet,
            ),
        ))
        .events(&[(Event::IcmpParameterProblem, 1), (Event::Nat64To4, 0)]),
        Case::xdp(
            "live routing header behind hop-by-hop: the pointer counts the hop-by-hop header",
            from_upstream(&behind_hbh),
        )
        .on(x1)
        .setup(nat64_on)
        .tx(eth(
            X1_MAC,
            UPSTREAM_MAC,
            EtherType::IPV6,
            &icmpv6_error(
                p6(POP_V4),
                UPSTREAM,
                Icmpv6Type::ParameterProblem(etherparse::icmpv6::ParameterProblemHeader {
                    code: etherparse::icmpv6::ParameterProblemCode::ErroneousHeaderField,
                    pointer: 40 + 8 + 3,
                }),
                &behind_hbh,
            ),
        )),
        Case::xdp(
            "live routing header, no translator source set: counted",
            from_upstream(&live_packet),
        )
        .on(x1)
        .setup(|b| {
            nat64_on(b);
            no_icmp_source(b);
        })
        .dropped(Drop::Nat64SourceRoute),
        Case::xdp(
            "live routing header from a tunnel user: parameter problem from its ::1, back into the tunnel",
            from_client_a(&user_live),
        )
        .on(x0)
        .setup(nat64_on)
        .tx(to_client_a(&icmpv6_error(
            a6(POP_A),
            a6(USER_A),
            Icmpv6Type::ParameterProblem(etherparse::icmpv6::ParameterProblemHeader {
                code: etherparse::icmpv6::ParameterProblemCode::ErroneousHeaderField,
                pointer: 40 + 3,
            }),
            &user_live,
        ))),
        Case::xdp(
            "hop-by-hop after destination options (RFC 8200 §4.3): malformed",
            from_upstream(&with_ext(&udp, &[(DEST_OPTIONS, PAD6), (HOP_BY_HOP, PAD6)])),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Malformed),
        Case::xdp(
            "five extension headers, more than the walk takes: counted",
            from_upstream(&too_many),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Nat64Unsupported),
        Case::xdp(
            "an extension header longer than the packet: malformed",
            from_upstream(&overlong),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Malformed),
        Case::xdp(
            "destination options behind a fragment header (fragmentable part): counted",
            from_upstream(&v6_fragment(UPSTREAM, p6(host), 64, DEST_OPTIONS, 5, 0, true, &[17, 0, 1, 4, 0, 0, 0, 0])),
        )
        .on(x1)
        .setup(nat64_on)
        .dropped(Drop::Nat64Unsupported),
    ];
    check(&mut bed, cases);
}

/// Random mutations of valid NAT64 frames of every kind above (both
/// directions, errors, fragments, tunnel users), from a fixed seed: the
/// programs never abort, a drop is counted exactly once, and whatever
/// leaves is a well-formed packet (its IP header's length matches the
/// frame; an IPv4 header's checksum holds).
#[test]
fn mutated_frames() {
    let mut bed = ProgBed::new().expect("prog bed");
    let (host, up4) = (CLIENT_A, a4(UPSTREAM_V4));
    let udp6 = v6(p6(host), UPSTREAM, 64, 0, L4::Udp(PAYLOAD))[40..].to_vec();
    let seeds: Vec<(Vec<u8>, u32)> = vec![
        (
            from_upstream(&v6(UPSTREAM, p6(host), 64, 0, L4::Tcp(PAYLOAD))),
            bed.x1,
        ),
        (
            from_upstream(&with_ext(
                &v6(UPSTREAM, p6(host), 64, 0, L4::Tcp(PAYLOAD)),
                &[(HOP_BY_HOP, ROUTER_ALERT), (ROUTING, &srh(0))],
            )),
            bed.x1,
        ),
        (
            from_upstream(&v6(UPSTREAM, p6(host), 64, 0, L4::EchoRequest(PAYLOAD))),
            bed.x1,
        ),
        (
            from_v4_host(CLIENT_A_MAC, &v4(host, up4, 64, 0, L4::Udp(PAYLOAD))),
            bed.x0,
        ),
        (
            from_v4_host(CLIENT_A_MAC, &v4(host, up4, 64, 0, L4::EchoReply(PAYLOAD))),
            bed.x0,
        ),
        (
            from_v4_host(
                CLIENT_B_MAC,
                &error_v4(
                    CLIENT_B,
                    up4,
                    etherparse::Icmpv4Type::TimeExceeded(
                        etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
                    ),
                    &with_ttl(translated_v4(up4, host, 63, 0, L4::Udp(PAYLOAD)), 1),
                ),
            ),
            bed.x0,
        ),
        (
            from_upstream(&icmpv6_error(
                a6("2001:db8:ffff::99"),
                p6(host),
                Icmpv6Type::PacketTooBig { mtu: 1400 },
                &v6(p6(host), UPSTREAM, 62, 0, L4::Udp(PAYLOAD)),
            )),
            bed.x1,
        ),
        (
            from_upstream(&v6_fragment(
                UPSTREAM,
                p6(host),
                64,
                17,
                0xabcd,
                0,
                true,
                &udp6[..24],
            )),
            bed.x1,
        ),
        (
            from_client_a(&v6(a6(USER_A), p6(CLIENT_B), 64, 0, L4::Udp(PAYLOAD))),
            bed.x0,
        ),
        (
            from_v4_host(
                CLIENT_B_MAC,
                &v4(CLIENT_B, a4(USER_A_V4), 64, 0, L4::Tcp(PAYLOAD)),
            ),
            bed.x0,
        ),
    ];
    let mut rng: u64 = 0x6e61_7436_345f_6675;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    bed.reset().unwrap();
    nat64_on(&mut bed);
    let mut outcomes = std::collections::BTreeMap::<&str, u64>::new();
    for i in 0..6000 {
        let (seed, ifindex) = &seeds[(next() % seeds.len() as u64) as usize];
        let mut f = seed.clone();
        // 1 to 4 byte changes past the Ethernet header, sometimes a cut.
        for _ in 0..1 + next() % 4 {
            let at = 14 + (next() as usize) % (f.len() - 14);
            f[at] = next() as u8;
        }
        if next() % 5 == 0 {
            f.truncate(14 + (next() as usize) % (f.len() - 14));
        }
        let before = bed.dp.counters().unwrap().total_drops();
        let run = bed.run(&f, *ifindex).unwrap();
        let after = bed.dp.counters().unwrap().total_drops();
        *outcomes.entry(action_name(run.action)).or_default() += 1;
        match run.action {
            XDP_DROP => assert_eq!(after - before, 1, "frame {i}: a drop must be counted once"),
            XDP_PASS | XDP_TX | XDP_REDIRECT => {
                assert_eq!(after, before, "frame {i}: counted a drop yet sent it on");
                if run.action != XDP_PASS || run.output != f {
                    well_formed(&run.output)
                        .unwrap_or_else(|e| panic!("frame {i}: {e}: {:02x?}", run.output));
                }
            }
            a => panic!("frame {i}: verdict {}", action_name(a)),
        }
    }
    // The mutations must reach the translators, not only the drops.
    assert!(
        outcomes.get("XDP_REDIRECT").copied().unwrap_or(0) > 100,
        "{outcomes:?}"
    );
    assert!(
        outcomes.get("XDP_DROP").copied().unwrap_or(0) > 100,
        "{outcomes:?}"
    );
}

/// What a translated or encapsulated frame must be at least: Ethernet,
/// then IPv4 or IPv6 whose length field matches the frame, and a valid
/// IPv4 header checksum (outer and, for 6in4, none inside to check).
fn well_formed(frame: &[u8]) -> Result<(), String> {
    if frame.len() < 14 {
        return Err("shorter than Ethernet".into());
    }
    let ip = &frame[14..];
    match u16::from_be_bytes([frame[12], frame[13]]) {
        0x0800 => {
            let (h, _) = etherparse::Ipv4Header::from_slice(ip).map_err(|e| e.to_string())?;
            if h.total_len as usize != ip.len() {
                return Err(format!(
                    "IPv4 total length {} for {} bytes",
                    h.total_len,
                    ip.len()
                ));
            }
            if h.header_checksum != h.calc_header_checksum() {
                return Err("IPv4 header checksum".into());
            }
            Ok(())
        }
        0x86dd => {
            let (h, _) = etherparse::Ipv6Header::from_slice(ip).map_err(|e| e.to_string())?;
            if h.payload_length as usize + 40 != ip.len() {
                return Err(format!(
                    "IPv6 payload length {} for {} bytes",
                    h.payload_length,
                    ip.len()
                ));
            }
            Ok(())
        }
        t => Err(format!("ether type {t:#06x}")),
    }
}

/// Every sample waiting in the slow path's rings (the test run ran on one
/// CPU; which one is the scheduler's choice).
fn samples(rings: &mut [Ring]) -> Vec<Vec<u8>> {
    rings.iter_mut().flat_map(|r| drain(r).samples).collect()
}

/// RFC 7915 §4: a non-DF IPv4 packet too big for the user's tunnel is
/// translated as a fragment (a Fragment header with IPv4's id, offset and
/// M), its hop limit decremented as the router would have, and handed to
/// the daemon's slow path through the `SLOWPATH` ring, which cuts it to
/// the tunnel's MTU (`tunnelctl` `daemon::slowpath::fragment`). The
/// frame itself is dropped here, counted as `nat64_slow_path`.
#[test]
fn slow_path_hand_over() {
    let mut bed = ProgBed::new().expect("prog bed");
    let mut rings = bed.dp.slowpath_rings(8).expect("the slow path's rings");
    let host = CLIENT_B;
    let user4 = a4(USER_A_V4);
    // Tunnel A's MTU is 1480; 1481 bytes of IPv6 do not fit.
    let data = [0x5au8; 1481 - 48];
    let tos = 0x28;
    let whole = with_v4_id(v4(host, user4, 64, tos, L4::Udp(&data)), 0x77, false);
    // What the user gets once the fragments are put back together: the
    // datagram with IPv6's UDP checksum.
    let udp6 = v6(p6(host), a6(USER_A), 64, tos, L4::Udp(&data))[40..].to_vec();
    let with_tclass = |mut p: Vec<u8>| {
        p[0] = 0x60 | tos >> 4;
        p[1] = tos << 4;
        p
    };
    let want_whole = with_tclass(v6_fragment(
        p6(host),
        a6(USER_A),
        63,
        17,
        0x77,
        0,
        false,
        &udp6,
    ));
    // A later IPv4 fragment, too big as it is: its offset and M carried.
    let later = [0xc3u8; 1480];
    let frag = v4_fragment(
        host,
        user4,
        64,
        etherparse::IpNumber::UDP,
        0xbeef,
        1480,
        true,
        &later,
    );
    let want_frag = v6_fragment(p6(host), a6(USER_A), 63, 17, 0xbeef, 1480, true, &later);
    // Toward the uplink: 1281 bytes of IPv6 exceed the IPv6 minimum MTU,
    // which is all a non-DF sender can count on (RFC 7915 §4).
    let up4 = a4(UPSTREAM_V4);
    let data_up = [0x3cu8; 1281 - 48];
    let up = with_v4_id(v4(host, up4, 64, 0, L4::Udp(&data_up)), 0x1281, false);
    let udp6_up = v6(p6(host), UPSTREAM, 64, 0, L4::Udp(&data_up))[40..].to_vec();
    let want_up = v6_fragment(p6(host), UPSTREAM, 63, 17, 0x1281, 0, false, &udp6_up);

    for (name, input, want, tunnel, mtu) in [
        ("a whole datagram", whole, want_whole, TUNNEL_A, 1480),
        ("an ipv4 fragment", frag, want_frag, TUNNEL_A, 1480),
        ("toward the uplink, over 1280", up, want_up, NO_TUNNEL, 1280),
    ] {
        bed.reset().unwrap();
        nat64_on(&mut bed);
        let run = bed
            .run(&from_v4_host(CLIENT_B_MAC, &input), bed.x0)
            .unwrap();
        assert_eq!(run.action, XDP_DROP, "{name}: {}", action_name(run.action));
        let c = bed.counters();
        assert_eq!(c.event(Event::Nat64SlowPath), 1, "{name}: {c:?}");
        assert_eq!(
            c.event(Event::Nat64IntoTunnel),
            (tunnel != NO_TUNNEL) as u64,
            "{name}: {c:?}"
        );
        assert_eq!(c.total_drops(), 0, "{name}: {c:?}");
        assert_eq!(
            bed.tunnel(TUNNEL_A).tx_packets,
            0,
            "{name}: XDP sent nothing"
        );
        let got = samples(&mut rings);
        assert_eq!(got.len(), 1, "{name}: one sample");
        let (meta, packet) = SlowMeta::parse(&got[0]).expect("a sample with its meta");
        assert_eq!(
            (
                meta.reason,
                meta.tunnel,
                meta.mtu,
                meta.len as usize,
                meta.addr_sum
            ),
            (REASON_TOO_BIG, tunnel, mtu, want.len(), 0),
            "{name}"
        );
        if packet != want.as_slice() {
            panic!(
                "{name}: the packet handed over:\n{}",
                hex_diff(&want, packet)
            );
        }
    }

    // Toward the uplink at exactly 1280 bytes of IPv6: the fast path.
    bed.reset().unwrap();
    nat64_on(&mut bed);
    let data_1280 = [0x3cu8; 1280 - 48];
    let fits = with_v4_id(v4(host, up4, 64, 0, L4::Udp(&data_1280)), 5, false);
    let run = bed.run(&from_v4_host(CLIENT_B_MAC, &fits), bed.x0).unwrap();
    assert_eq!(run.action, XDP_REDIRECT, "{}", action_name(run.action));
    assert_eq!(bed.counters().event(Event::Nat64SlowPath), 0);
    assert!(samples(&mut rings).is_empty());

    // DF set: no hand-over, fragmentation needed as before.
    bed.reset().unwrap();
    nat64_on(&mut bed);
    let df = v4(host, user4, 64, 0, L4::Udp(&data));
    let run = bed.run(&from_v4_host(CLIENT_B_MAC, &df), bed.x0).unwrap();
    assert_eq!(run.action, XDP_TX);
    assert_eq!(bed.counters().event(Event::Nat64SlowPath), 0);
    assert!(samples(&mut rings).is_empty());

    // The rings closed (the daemon gone): a counted drop, nothing waits.
    drop(rings);
    bed.reset().unwrap();
    nat64_on(&mut bed);
    let input = with_v4_id(v4(host, user4, 64, 0, L4::Udp(&data)), 1, false);
    let run = bed
        .run(&from_v4_host(CLIENT_B_MAC, &input), bed.x0)
        .unwrap();
    assert_eq!(run.action, XDP_DROP);
    let c = bed.counters();
    assert_eq!(c.drop(Drop::Nat64SlowPathLost), 1, "{c:?}");
    assert_eq!(c.event(Event::Nat64SlowPath), 0, "{c:?}");
}

/// The sum of the 16-bit words of two IPv6 addresses (the pseudo-header's
/// address part), as `SlowMeta::addr_sum` carries it.
fn addr_words(a: Ipv6Addr, b: Ipv6Addr) -> u64 {
    a.segments()
        .iter()
        .chain(b.segments().iter())
        .map(|w| *w as u64)
        .sum()
}

/// RFC 7915 §4.2 and §5.2: a fragment of an ICMP message cannot be
/// translated alone (the ICMPv6 checksum covers the whole message and its
/// length). Each fragment's IP header is translated as any fragment's
/// (identification, offset, M; the hop limit or TTL decremented as the
/// router would), its bytes after that left as they came, and it goes to
/// the daemon's slow path with its own reason: toward IPv6 with the
/// tunnel and its MTU (or none and 1280 toward the uplink), toward IPv4
/// with the tunnel it came from (or none) and the IPv6 addresses' sum,
/// which the daemon checks the ICMPv6 checksum with. First, middle and
/// last fragment each way, from and to a tunnel and the uplink.
#[test]
fn icmp_fragments_hand_over() {
    let mut bed = ProgBed::new().expect("prog bed");
    let mut rings = bed.dp.slowpath_rings(8).expect("the slow path's rings");
    let host = CLIENT_B;
    let (user4, up4) = (a4(USER_A_V4), a4(UPSTREAM_V4));
    // Data of 3s: a later fragment's first byte reads as ICMP type 3
    // (unreachable), which must not send it to the error translator.
    let data = [0x03u8; 100];
    let cut: [(u16, bool, std::ops::Range<usize>); 3] =
        [(0, true, 0..32), (32, true, 32..64), (64, false, 64..108)];
    let icmp = etherparse::IpNumber::ICMP;
    // 4→6: the echo request as the IPv4 host sent it; its bytes cross
    // unchanged (type 8 and the ICMPv4 checksum).
    let to_user = v4(host, user4, 64, 0, L4::EchoRequest(&data))[20..].to_vec();
    let to_up = v4(host, up4, 64, 0, L4::EchoRequest(&data))[20..].to_vec();
    // 6→4: echo replies as the IPv6 hosts sent them (type 129 and the
    // ICMPv6 checksum).
    let from_user = v6(a6(USER_A), p6(host), 64, 0, L4::EchoReply(&data))[40..].to_vec();
    let from_up = v6(UPSTREAM, p6(host), 64, 0, L4::EchoReply(&data))[40..].to_vec();
    struct Row {
        name: String,
        frame: Vec<u8>,
        on: fn(&ProgBed) -> u32,
        /// The packet handed over, and its meta: reason, tunnel, MTU,
        /// address sum.
        want: Vec<u8>,
        meta: (u32, u32, u32, u64),
    }
    let mut rows = Vec::new();
    for (which, (offset, more, r)) in ["first", "middle", "last"].iter().zip(cut) {
        rows.push(Row {
            name: format!("4→6 {which} fragment into tunnel A"),
            frame: from_v4_host(
                CLIENT_B_MAC,
                &v4_fragment(
                    host,
                    user4,
                    64,
                    icmp,
                    0x5151,
                    offset,
                    more,
                    &to_user[r.clone()],
                ),
            ),
            on: x0,
            want: v6_fragment(
                p6(host),
                a6(USER_A),
                63,
                58,
                0x5151,
                offset,
                more,
                &to_user[r.clone()],
            ),
            meta: (REASON_ICMP_FRAGMENT, TUNNEL_A, 1480, 0),
        });
        rows.push(Row {
            name: format!("4→6 {which} fragment toward the uplink"),
            frame: from_v4_host(
                CLIENT_B_MAC,
                &v4_fragment(host, up4, 64, icmp, 0x5252, offset, more, &to_up[r.clone()]),
            ),
            on: x0,
            want: v6_fragment(
                p6(host),
                UPSTREAM,
                63,
                58,
                0x5252,
                offset,
                more,
                &to_up[r.clone()],
            ),
            meta: (REASON_ICMP_FRAGMENT, NO_TUNNEL, 1280, 0),
        });
        rows.push(Row {
            name: format!("6→4 {which} fragment out of tunnel A"),
            frame: from_client_a(&v6_fragment(
                a6(USER_A),
                p6(host),
                64,
                58,
                0xdead_5353,
                offset,
                more,
                &from_user[r.clone()],
            )),
            on: x0,
            want: v4_fragment(
                user4,
                host,
                63,
                icmp,
                0x5353,
                offset,
                more,
                &from_user[r.clone()],
            ),
            meta: (
                REASON_ICMP6_FRAGMENT,
                TUNNEL_A,
                0,
                addr_words(a6(USER_A), p6(host)),
            ),
        });
        rows.push(Row {
            name: format!("6→4 {which} fragment from the uplink"),
            frame: from_upstream(&v6_fragment(
                UPSTREAM,
                p6(host),
                64,
                58,
                0xbeef_5454,
                offset,
                more,
                &from_up[r.clone()],
            )),
            on: x1,
            want: v4_fragment(up4, host, 63, icmp, 0x5454, offset, more, &from_up[r]),
            meta: (
                REASON_ICMP6_FRAGMENT,
                NO_TUNNEL,
                0,
                addr_words(UPSTREAM, p6(host)),
            ),
        });
    }
    let mut failures = Vec::new();
    for row in rows {
        bed.reset().unwrap();
        nat64_on(&mut bed);
        let name = &row.name;
        let run = bed.run(&row.frame, (row.on)(&bed)).unwrap();
        let c = bed.counters();
        let into_tunnel = row.meta.0 == REASON_ICMP_FRAGMENT && row.meta.1 != NO_TUNNEL;
        let got = samples(&mut rings);
        let mut problems = Vec::new();
        if run.action != XDP_DROP {
            problems.push(format!("verdict {}", action_name(run.action)));
        }
        if c.event(Event::Nat64SlowPath) != 1 || c.total_drops() != 0 {
            problems.push(format!("counters {c:?}"));
        }
        if c.event(Event::Nat64IntoTunnel) != into_tunnel as u64 {
            problems.push(format!("nat64_into_tunnel {c:?}"));
        }
        match got.as_slice() {
            [one] => match SlowMeta::parse(one) {
                Some((meta, packet)) => {
                    let m = (meta.reason, meta.tunnel, meta.mtu, meta.addr_sum);
                    if m != row.meta || meta.len as usize != row.want.len() {
                        problems.push(format!("meta {meta:?}, want {:?}", row.meta));
                    }
                    if packet != row.want.as_slice() {
                        problems.push(format!("packet:\n{}", hex_diff(&row.want, packet)));
                    }
                }
                None => problems.push("a sample without its meta".into()),
            },
            other => problems.push(format!("{} samples", other.len())),
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
