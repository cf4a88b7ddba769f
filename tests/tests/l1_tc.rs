//! L1: BPF_PROG_TEST_RUN of `tunnel_tc`, the egress program of the tunnel
//! device: what the PoP's own kernel sends toward a tunnel leaves
//! encapsulated and redirected to the uplink; the verdict, the exact output
//! bytes and the counters. Needs root.

use std::net::Ipv6Addr;

use etherparse::{EtherType, IpNumber};
use tunnel_common::stats::{Drop, Event};
use tunnel_tests::{
    cases::{check_counters, hex},
    packets::*,
    prog::*,
};

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

struct Expect {
    action: u32,
    output: Option<Vec<u8>>,
    drops: &'static [(Drop, u64)],
    events: &'static [(Event, u64)],
    /// Tunnel A's tx packets.
    tx_a: u64,
}

struct Case {
    name: &'static str,
    setup: fn(&mut ProgBed),
    input: Vec<u8>,
    gso_size: u32,
    expect: Expect,
}

fn nothing(_: &mut ProgBed) {}

fn check(bed: &mut ProgBed, cases: Vec<Case>) {
    for c in cases {
        bed.reset().unwrap();
        (c.setup)(bed);
        // The tunnel device stands in as x1: any device of the namespace
        // does for the FIB lookup (forwarding is on everywhere).
        let run = bed.run_tc(&c.input, bed.x1, c.gso_size).unwrap();
        let counters = bed.counters();
        assert_eq!(
            tc_action_name(run.action),
            tc_action_name(c.expect.action),
            "{}: verdict (drops {:?})",
            c.name,
            counters
                .drops
                .iter()
                .filter(|d| d.1 > 0)
                .collect::<Vec<_>>()
        );
        if let Some(want) = &c.expect.output {
            assert_eq!(hex(&run.output), hex(want), "{}: output bytes", c.name);
        }
        check_counters(bed, c.name, c.expect.drops, c.expect.events);
        assert_eq!(
            bed.tunnel(TUNNEL_A).tx_packets,
            c.expect.tx_a,
            "{}: tunnel A tx",
            c.name
        );
    }
}

fn set_a(bed: &mut ProgBed, f: impl FnOnce(&mut tunnelctl::Tunnel)) {
    let mut t = ProgBed::tunnel_a();
    f(&mut t);
    bed.dp.update_tunnel(TUNNEL_A, &t).unwrap();
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
    let cases = vec![
        Case {
            name: "to a tunnel's user: encapsulated, redirected to the uplink",
            setup: nothing,
            input: local(&echo),
            gso_size: 0,
            expect: Expect {
                action: TC_ACT_REDIRECT,
                output: Some(to_client_a(&echo)),
                drops: &[],
                events: &[(Event::Encap, 1), (Event::LocalEncap, 1)],
                tx_a: 1,
            },
        },
        Case {
            name: "to a routed prefix of the tunnel",
            setup: nothing,
            input: local(&routed),
            gso_size: 0,
            expect: Expect {
                action: TC_ACT_REDIRECT,
                output: Some(to_client_a(&routed)),
                drops: &[],
                events: &[(Event::LocalEncap, 1)],
                tx_a: 1,
            },
        },
        Case {
            name: "ECN copied to the outer header (RFC 6040)",
            setup: nothing,
            input: local(&ect0),
            gso_size: 0,
            expect: Expect {
                action: TC_ACT_REDIRECT,
                output: Some(to_client_a(&ect0)),
                drops: &[],
                events: &[],
                tx_a: 1,
            },
        },
        Case {
            name: "ttl inherit: the outer TTL is the hop limit as the kernel left it",
            setup: |b| set_a(b, |t| t.ttl = 0),
            input: local(&ect0),
            gso_size: 0,
            expect: Expect {
                action: TC_ACT_REDIRECT,
                output: Some({
                    let mut o = V4::new(POP_V4, CLIENT_A);
                    o.ttl = 5;
                    o.ecn = 2;
                    eth(X0_MAC, CLIENT_A_MAC, EtherType::IPV4, &sixin4(o, &ect0))
                }),
                drops: &[],
                events: &[],
                tx_a: 1,
            },
        },
        Case {
            name: "disabled tunnel: counted drop",
            setup: |b| set_a(b, |t| t.enabled = false),
            input: local(&echo),
            gso_size: 0,
            expect: Expect {
                action: TC_ACT_SHOT,
                output: None,
                drops: &[(Drop::TunnelDisabled, 1)],
                events: &[(Event::Encap, 0)],
                tx_a: 0,
            },
        },
        Case {
            name: "not for a tunnel: passed untouched",
            setup: nothing,
            input: local(&upstream),
            gso_size: 0,
            expect: Expect {
                action: TC_ACT_OK,
                output: Some(local(&upstream)),
                drops: &[],
                events: &[(Event::NotOurs, 1), (Event::Encap, 0)],
                tx_a: 0,
            },
        },
        Case {
            name: "not IPv6: passed untouched",
            setup: nothing,
            input: eth(TNL_MAC, TNL_MAC, EtherType::ARP, &[0u8; 28]),
            gso_size: 0,
            expect: Expect {
                action: TC_ACT_OK,
                output: Some(eth(TNL_MAC, TNL_MAC, EtherType::ARP, &[0u8; 28])),
                drops: &[],
                events: &[(Event::NotOurs, 1)],
                tx_a: 0,
            },
        },
        Case {
            name: "bigger than the tunnel MTU: the route should have said so; drop",
            setup: nothing,
            input: local(&big),
            gso_size: 0,
            expect: Expect {
                action: TC_ACT_SHOT,
                output: None,
                drops: &[(Drop::LocalTooBig, 1)],
                events: &[],
                tx_a: 0,
            },
        },
        Case {
            name: "no IPv4 route to the tunnel's remote: counted drop",
            setup: |b| set_a(b, |t| t.remote = "203.0.113.9".parse().unwrap()),
            input: local(&echo),
            gso_size: 0,
            expect: Expect {
                action: TC_ACT_SHOT,
                output: None,
                drops: &[(Drop::LocalFib, 1)],
                events: &[],
                tx_a: 0,
            },
        },
        Case {
            name: "next hop not resolved: the kernel resolves it (redirect_neigh)",
            setup: |b| set_a(b, |t| t.remote = "192.0.2.77".parse().unwrap()),
            input: local(&echo),
            gso_size: 0,
            expect: Expect {
                action: TC_ACT_REDIRECT,
                output: None,
                drops: &[],
                events: &[(Event::FibNoNeigh, 1), (Event::LocalEncap, 1)],
                tx_a: 1,
            },
        },
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
