//! L1: BPF_PROG_TEST_RUN of `tunnel_tc`, the egress program of the tunnel
//! device: what the PoP's own kernel sends toward a tunnel leaves
//! encapsulated and redirected to the uplink; the verdict, the exact output
//! bytes and the counters. Needs root.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{EtherType, IpNumber};
use tunnel_common::stats::{Drop, Event};
use tunnel_tests::{cases::*, packets::*, prog::*};

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The tunnel device's address: the kernel's neighbour entry on a NOARP
/// device carries the device's own address, so frames leave with it as
/// both source and destination.
const TNL_MAC: Mac = [2, 0, 0, 0, 2, 1];
/// The PoP's own address, source of what it sends.
const POP_LOCAL: &str = "2001:db8:ffff::1";
const USER_A: &str = "2001:db8:1::2";

/// A frame as the kernel hands it to the tunnel device's egress.
fn local(inner: &[u8]) -> Vec<u8> {
    eth(TNL_MAC, TNL_MAC, EtherType::IPV6, inner)
}

/// `inner` encapsulated toward client A, out x0, hop limit untouched: the
/// kernel was the router.
fn to_client_a(inner: &[u8]) -> Vec<u8> {
    let mut o = V4::new(POP_V4, CLIENT_A);
    o.ecn = inner[1] >> 4 & 3;
    eth(X0_MAC, CLIENT_A_MAC, EtherType::IPV4, &sixin4(o, inner))
}

#[test]
fn local_egress_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let echo = ipv6_echo(a6(POP_LOCAL), a6(USER_A), 64, 32);
    let routed = ipv6_echo(a6(POP_LOCAL), a6("2001:db8:100:7::1"), 63, 16);
    let ect0 = with_ipv6_ecn(ipv6_echo(a6(POP_LOCAL), a6(USER_A), 5, 8), 2);
    let upstream = ipv6_echo(a6(POP_LOCAL), UPSTREAM, 64, 8);
    // 1481 bytes of IPv6: one more than tunnel A's MTU. (GSO packets, which
    // may be longer, are for L2: a test run cannot set the skb's gso_type,
    // and bpf_skb_adjust_room refuses a GSO skb without one.)
    let big = ipv6(a6(POP_LOCAL), a6(USER_A), 64, IpNumber::UDP, &[7u8; 1441]);
    let unresolved: Ipv4Addr = "192.0.2.77".parse().unwrap();
    let arp = eth(TNL_MAC, TNL_MAC, EtherType::ARP, &[0u8; 28]);
    let cases = vec![
        Case::tc(
            "to a tunnel's user: encapsulated, redirected to the uplink",
            local(&echo),
        )
        .redirect(to_client_a(&echo))
        .events(&[(Event::Encap, 1), (Event::LocalEncap, 1)])
        .tunnel(TUNNEL_A, 0, 1),
        Case::tc("to a routed prefix of the tunnel", local(&routed))
            .redirect(to_client_a(&routed))
            .events(&[(Event::LocalEncap, 1)])
            .tunnel(TUNNEL_A, 0, 1),
        Case::tc("ECN copied to the outer header (RFC 6040)", local(&ect0))
            .redirect(to_client_a(&ect0))
            .tunnel(TUNNEL_A, 0, 1),
        Case::tc(
            "ttl inherit: the outer TTL is the hop limit as the kernel left it",
            local(&ect0),
        )
        .setup(|b| b.change_tunnel(TUNNEL_A, |t| t.ttl = 0))
        .redirect({
            let mut o = V4::new(POP_V4, CLIENT_A);
            o.ttl = 5;
            o.ecn = 2;
            eth(X0_MAC, CLIENT_A_MAC, EtherType::IPV4, &sixin4(o, &ect0))
        })
        .tunnel(TUNNEL_A, 0, 1),
        Case::tc("disabled tunnel: counted drop", local(&echo))
            .setup(|b| b.change_tunnel(TUNNEL_A, |t| t.enabled = false))
            .dropped(Drop::TunnelDisabled)
            .events(&[(Event::Encap, 0)])
            .tunnel(TUNNEL_A, 0, 0),
        Case::tc("not for a tunnel: passed untouched", local(&upstream))
            .pass_unchanged()
            .events(&[(Event::NotOurs, 1), (Event::Encap, 0)])
            .tunnel(TUNNEL_A, 0, 0),
        Case::tc("not IPv6: passed untouched", arp)
            .pass_unchanged()
            .events(&[(Event::NotOurs, 1)])
            .tunnel(TUNNEL_A, 0, 0),
        Case::tc(
            "bigger than the tunnel MTU: the route should have said so; drop",
            local(&big),
        )
        .dropped(Drop::LocalTooBig)
        .tunnel(TUNNEL_A, 0, 0),
        Case::tc(
            "no IPv4 route to the tunnel's remote: counted drop",
            local(&echo),
        )
        .setup(|b| b.change_tunnel(TUNNEL_A, |t| t.remote = "203.0.113.9".parse().unwrap()))
        .dropped(Drop::LocalFib)
        .tunnel(TUNNEL_A, 0, 0),
        // A GSO skb whose gso_type does not say what it carries (a test
        // run can set gso_size but not gso_type): bpf_skb_adjust_room will
        // not grow it, and the program drops it, counted, rather than send
        // it on unencapsulated.
        Case::tc(
            "gso skb the kernel refuses to grow: counted drop",
            local(&echo),
        )
        .gso(1280)
        .dropped(Drop::AdjustFailed)
        .tunnel(TUNNEL_A, 0, 0),
        // The kernel writes the Ethernet header when it has resolved the
        // next hop: the program leaves the addresses as the tunnel device
        // had them, with the type of what it now carries.
        Case::tc(
            "next hop not resolved: the kernel resolves it (redirect_neigh)",
            local(&echo),
        )
        .setup(move |b| b.change_tunnel(TUNNEL_A, |t| t.remote = unresolved))
        .redirect(eth(
            TNL_MAC,
            TNL_MAC,
            EtherType::IPV4,
            &sixin4(V4::new(POP_V4, unresolved), &echo),
        ))
        .events(&[(Event::FibNoNeigh, 1), (Event::LocalEncap, 1)])
        .tunnel(TUNNEL_A, 0, 1),
    ];
    check(&mut bed, cases);
}

/// Every truncation of a frame for a tunnel: no verdict but a pass or a
/// counted drop, and nothing redirected that is not whole.
#[test]
fn truncated_frames() {
    let mut bed = ProgBed::new().expect("prog bed");
    let frame = local(&ipv6_echo(a6(POP_LOCAL), a6(USER_A), 64, 16));
    for len in 0..frame.len() {
        bed.reset().unwrap();
        let run = bed.run_tc(&frame[..len], bed.x1, 0);
        // The kernel refuses frames shorter than an Ethernet header.
        let Ok(run) = run else { continue };
        assert!(
            matches!(run.action, TC_ACT_OK | TC_ACT_SHOT | TC_ACT_REDIRECT),
            "len {len}: {}",
            run.action
        );
        if len < 14 + 40 {
            assert_eq!(run.action, TC_ACT_OK, "len {len}: too short to be ours");
        }
    }
}
