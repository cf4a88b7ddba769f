//! L1: the NDP proxy (RFC 4861 §7.1.1, §7.2.4, §7.2.8) through `tunnel_xdp`,
//! which tail-calls `ndp_proxy`: verdict, exact bytes of the advertisement,
//! counters. Needs root.

use std::net::Ipv6Addr;

use etherparse::EtherType;
use tunnel_common::stats::{Drop, Event};
use tunnel_tests::{cases::*, packets::*, prog::*};
use tunnelctl::datapath::ProxyEntry;

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The upstream router's link-local address, the usual NS source.
fn router_ll() -> Ipv6Addr {
    a6("fe80::2")
}

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const NA_ROUTER: u8 = 0x80;
const NA_SOLICITED: u8 = 0x40;

/// Source link-layer address option with the upstream MAC.
fn sll() -> Vec<u8> {
    [[1u8, 1].as_slice(), &UPSTREAM_MAC].concat()
}
/// A nonce option (RFC 7527 §4.2).
const NONCE: [u8; 8] = [14, 1, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02];

/// An NS frame from upstream, arriving at x1's MAC (or a multicast MAC).
fn ns_frame(
    dst_mac: Mac,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop: u8,
    target: Ipv6Addr,
    opts: &[u8],
) -> Vec<u8> {
    eth(
        UPSTREAM_MAC,
        dst_mac,
        EtherType::IPV6,
        &neighbor_solicitation(src, dst, hop, target, opts),
    )
}

/// The usual multicast NS for `target` from the upstream router.
fn ns_for(target: Ipv6Addr, hop: u8, opts: &[u8]) -> Vec<u8> {
    let group = solicited_node(target);
    ns_frame(multicast_mac(group), router_ll(), group, hop, target, opts)
}

/// The proxy's answer to `dst` (at `dst_mac`), from x1.
fn na_frame(dst_mac: Mac, target: Ipv6Addr, dst: Ipv6Addr, flags: u8) -> Vec<u8> {
    eth(
        X1_MAC,
        dst_mac,
        EtherType::IPV6,
        &neighbor_advertisement(target, dst, flags, X1_MAC),
    )
}

fn answered(output: Vec<u8>) -> Expect {
    Expect {
        action: XDP_TX,
        output: Some(output),
        drops: &[],
        events: &[(Event::NdpAdvertised, 1)],
        tunnel: None,
    }
}

fn invalid() -> Expect {
    Expect {
        action: XDP_DROP,
        output: None,
        drops: &[(Drop::NdpInvalid, 1)],
        events: &[(Event::NdpAdvertised, 0)],
        tunnel: None,
    }
}

fn passed() -> Expect {
    Expect {
        action: XDP_PASS,
        output: None,
        drops: &[],
        events: &[(Event::NdpAdvertised, 0), (Event::NotOurs, 1)],
        tunnel: None,
    }
}

fn routed_target() -> Ipv6Addr {
    a6("2001:db8:100::1")
}

fn proxy_router(bed: &mut ProgBed) {
    bed.dp
        .put_proxy(&ProxyEntry {
            ifindex: bed.x1,
            target: routed_target(),
            router: true,
        })
        .unwrap();
}

#[test]
fn solicitation_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let t = PROXIED_A;
    let group = solicited_node(t);
    let mut bad_sum = ns_for(t, 255, &sll());
    let n = bad_sum.len();
    bad_sum[n - 1] ^= 0x55;
    let mut padded = ns_for(t, 255, &sll());
    padded.extend_from_slice(&[0xee; 14]);
    let mut truncated = ns_for(t, 255, &sll());
    truncated.truncate(truncated.len() - 4);
    let nine_options: Vec<u8> = (0..9).flat_map(|_| NONCE).collect();
    let cases = vec![
        Case {
            name: "multicast NS with source link-layer address: NA to the solicitor",
            setup: nothing,
            input: ns_for(t, 255, &sll()),
            ingress: x1,
            expect: answered(na_frame(UPSTREAM_MAC, t, router_ll(), NA_SOLICITED)),
        },
        Case {
            name: "unicast NUD probe without options",
            setup: nothing,
            input: ns_frame(X1_MAC, router_ll(), t, 255, t, &[]),
            ingress: x1,
            expect: answered(na_frame(UPSTREAM_MAC, t, router_ll(), NA_SOLICITED)),
        },
        Case {
            name: "global source address, options sll + nonce",
            setup: nothing,
            input: ns_frame(
                multicast_mac(group),
                UPSTREAM,
                group,
                255,
                t,
                &[sll(), NONCE.to_vec()].concat(),
            ),
            ingress: x1,
            expect: answered(na_frame(UPSTREAM_MAC, t, UPSTREAM, NA_SOLICITED)),
        },
        Case {
            name: "DAD probe: NA to all-nodes, not solicited",
            setup: nothing,
            input: ns_frame(
                multicast_mac(group),
                Ipv6Addr::UNSPECIFIED,
                group,
                255,
                t,
                &NONCE,
            ),
            ingress: x1,
            expect: answered(na_frame(multicast_mac(ALL_NODES), t, ALL_NODES, 0)),
        },
        Case {
            name: "target proxied as a router: R flag",
            setup: proxy_router,
            input: ns_for(routed_target(), 255, &sll()),
            ingress: x1,
            expect: answered(na_frame(
                UPSTREAM_MAC,
                routed_target(),
                router_ll(),
                NA_ROUTER | NA_SOLICITED,
            )),
        },
        Case {
            name: "Ethernet padding after the NS is not part of it",
            setup: nothing,
            input: padded,
            ingress: x1,
            expect: answered(na_frame(UPSTREAM_MAC, t, router_ll(), NA_SOLICITED)),
        },
        Case {
            name: "target not proxied: the kernel's",
            setup: nothing,
            input: ns_for(a6("2001:db8:1::3"), 255, &sll()),
            ingress: x1,
            expect: passed(),
        },
        Case {
            name: "proxied on x1, arriving on x0: the kernel's",
            setup: nothing,
            input: ns_for(t, 255, &sll()),
            ingress: x0,
            expect: passed(),
        },
        Case {
            name: "longer than the datapath handles (SEND-sized): the kernel's",
            setup: nothing,
            input: ns_for(t, 255, &nine_options),
            ingress: x1,
            expect: passed(),
        },
        Case {
            name: "hop limit 254: came through a router",
            setup: nothing,
            input: ns_for(t, 254, &sll()),
            ingress: x1,
            expect: invalid(),
        },
        Case {
            name: "bad checksum",
            setup: nothing,
            input: bad_sum,
            ingress: x1,
            expect: invalid(),
        },
        Case {
            name: "option of length zero",
            setup: nothing,
            input: ns_for(t, 255, &[1, 0, 0, 0, 0, 0, 0, 0]),
            ingress: x1,
            expect: invalid(),
        },
        Case {
            name: "option running past the end",
            setup: nothing,
            input: ns_for(t, 255, &[1, 2, 0, 0, 0, 0, 0, 0]),
            ingress: x1,
            expect: invalid(),
        },
        Case {
            name: "DAD probe with a source link-layer address",
            setup: nothing,
            input: ns_frame(
                multicast_mac(group),
                Ipv6Addr::UNSPECIFIED,
                group,
                255,
                t,
                &sll(),
            ),
            ingress: x1,
            expect: invalid(),
        },
        Case {
            name: "destination neither the target nor its group",
            setup: nothing,
            input: ns_frame(X1_MAC, router_ll(), a6("2001:db8:ffff::1"), 255, t, &sll()),
            ingress: x1,
            expect: invalid(),
        },
        Case {
            name: "IPv6 payload length past the frame's end",
            setup: nothing,
            input: truncated,
            ingress: x1,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::Malformed, 1)],
                events: &[],
                tunnel: None,
            },
        },
    ];
    check(&mut bed, cases);
}

/// A removed proxy entry stops the answers; the NS goes to the kernel.
#[test]
fn removed_proxy_is_not_answered() {
    let mut bed = ProgBed::new().expect("prog bed");
    let x1 = bed.x1;
    let frame = ns_for(PROXIED_A, 255, &sll());
    assert_eq!(bed.run(&frame, x1).unwrap().action, XDP_TX);
    bed.dp.remove_proxy(x1, PROXIED_A).unwrap();
    assert!(bed.dp.proxies().unwrap().is_empty());
    assert_eq!(bed.run(&frame, x1).unwrap().action, XDP_PASS);
}
