//! L1: what the fuzz (`l1_fuzz`) found, as exact cases in the table
//! harness of `cases`, one test each; each failed before its fix. Needs
//! root.

use std::net::Ipv6Addr;

use etherparse::{EtherType, IcmpEchoHeader, Icmpv6Header, Icmpv6Type, IpNumber};
use tunnel_common::stats::Event;
use tunnel_tests::{cases::*, packets::*, prog::*};

const USER_A: &str = "2001:db8:1::2";
const POP_A: &str = "2001:db8:1::1";

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Ethernet type IPv6, version 4: no IPv6 packet. It went into tunnel A
/// (XDP_REDIRECT); now the kernel gets it untouched (and drops it).
fn not_version_6() -> Case {
    let mut p = ipv6_echo(UPSTREAM, a6(USER_A), 64, 16);
    p[0] = 0x40 | (p[0] & 0x0f);
    let frame = eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, &p);
    Case::xdp(
        "ipv6 frame of version 4 toward a tunnel: passed untouched",
        frame,
    )
    .on(x1)
    .pass_unchanged()
    .events(&[(Event::NotOurs, 1), (Event::Encap, 0)])
    .tunnel(TUNNEL_A, 0, 0)
}

/// An NS for a proxied target, 72 bytes long (over the proxy's 64), in a
/// frame with 4 bytes after it: "to the kernel untouched", but the
/// program cut the trailing bytes before deciding it was too long.
fn long_ns_with_trailer() -> Case {
    let mut opts = [&[1u8, 1][..], &UPSTREAM_MAC].concat();
    for i in 0..5 {
        opts.extend_from_slice(&[14, 1, i, 2, 3, 4, 5, 6]);
    }
    let ns = neighbor_solicitation(UPSTREAM, solicited_node(PROXIED_A), 255, PROXIED_A, &opts);
    assert_eq!(ns.len(), 40 + 72);
    let mut frame = eth(
        UPSTREAM_MAC,
        multicast_mac(solicited_node(PROXIED_A)),
        EtherType::IPV6,
        &ns,
    );
    frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    Case::xdp(
        "ns over 64 bytes with trailing bytes: passed untouched",
        frame,
    )
    .on(x1)
    .pass_unchanged()
    .events(&[(Event::NotOurs, 1), (Event::NdpAdvertised, 0)])
}

/// A user's echo request to the PoP's `::1` marked ECT(1): the reply
/// keeps the request's traffic class (as Linux's does), and its outer
/// header must copy that ECN field (RFC 6040 §4.1). It had Not-ECT.
fn echo_reply_ecn() -> Case {
    let (user, pop) = (a6(USER_A), a6(POP_A));
    let request = with_ipv6_ecn(ipv6_echo(user, pop, 64, 20), 1);
    let input = eth(
        CLIENT_A_MAC,
        X0_MAC,
        EtherType::IPV4,
        &sixin4(V4::new(CLIENT_A, POP_V4), &request),
    );
    let data: Vec<u8> = (0..20).map(|i| (i * 7 + 3) as u8).collect();
    let icmp = Icmpv6Header::with_checksum(
        Icmpv6Type::EchoReply(IcmpEchoHeader { id: 0x1234, seq: 1 }),
        pop.octets(),
        user.octets(),
        &data,
    )
    .unwrap();
    let reply = with_ipv6_ecn(
        ipv6(
            pop,
            user,
            64,
            IpNumber::IPV6_ICMP,
            &[icmp.to_bytes().as_slice(), &data].concat(),
        ),
        1,
    );
    let outer = V4 {
        ecn: 1,
        ..V4::new(POP_V4, CLIENT_A)
    };
    Case::xdp(
        "echo reply with ECT(1) into the tunnel: outer ECN copied",
        input,
    )
    .on(x0)
    .tx(eth(
        X0_MAC,
        CLIENT_A_MAC,
        EtherType::IPV4,
        &sixin4(outer, &reply),
    ))
    .events(&[(Event::Decap, 1), (Event::EchoReply, 1), (Event::Encap, 1)])
    .tunnel(TUNNEL_A, 1, 1)
}

fn run(case: Case) {
    let mut bed = ProgBed::new().expect("prog bed");
    check(&mut bed, vec![case]);
}

#[test]
fn found_ipv6_frame_of_another_version() {
    run(not_version_6());
}

#[test]
fn found_long_ns_cut_before_the_pass() {
    run(long_ns_with_trailer());
}

#[test]
fn found_echo_reply_ecn_not_copied() {
    run(echo_reply_ecn());
}
