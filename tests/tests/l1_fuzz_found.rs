//! L1: what the fuzz (`l1_fuzz`) found, as exact cases in the table
//! harness of `cases`, one test each; each failed before its fix. Needs
//! root.

use std::net::Ipv6Addr;

use etherparse::EtherType;
use tunnel_common::stats::Event;
use tunnel_tests::{cases::*, packets::*, prog::*};

const USER_A: &str = "2001:db8:1::2";

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Ethernet type IPv6, version 4: no IPv6 packet. It went into tunnel A
/// (XDP_REDIRECT); now the kernel gets it untouched (and drops it).
fn not_version_6() -> Case {
    let mut p = ipv6_echo(UPSTREAM, a6(USER_A), 64, 16);
    p[0] = 0x40 | (p[0] & 0x0f);
    let frame = eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, &p);
    Case {
        name: "ipv6 frame of version 4 toward a tunnel: passed untouched",
        setup: nothing,
        input: frame.clone(),
        ingress: x1,
        expect: Expect {
            action: XDP_PASS,
            output: Some(frame),
            drops: &[],
            events: &[(Event::NotOurs, 1), (Event::Encap, 0)],
            tunnel: Some((TUNNEL_A, 0, 0)),
        },
    }
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
    Case {
        name: "ns over 64 bytes with trailing bytes: passed untouched",
        setup: nothing,
        input: frame.clone(),
        ingress: x1,
        expect: Expect {
            action: XDP_PASS,
            output: Some(frame),
            drops: &[],
            events: &[(Event::NotOurs, 1), (Event::NdpAdvertised, 0)],
            tunnel: None,
        },
    }
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
