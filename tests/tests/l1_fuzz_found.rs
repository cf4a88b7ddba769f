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

fn run(case: Case) {
    let mut bed = ProgBed::new().expect("prog bed");
    check(&mut bed, vec![case]);
}

#[test]
fn found_ipv6_frame_of_another_version() {
    run(not_version_6());
}
