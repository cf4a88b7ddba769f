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

/// An NS on x1 answered with the advertisement `na`.
fn answered(name: &str, ns: Vec<u8>, na: Vec<u8>) -> Case {
    Case::xdp(name, ns)
        .on(x1)
        .tx(na)
        .events(&[(Event::NdpAdvertised, 1)])
}

/// An NS on x1 that breaks RFC 4861 §7.1.1: a counted drop.
fn invalid(name: &str, ns: Vec<u8>) -> Case {
    Case::xdp(name, ns)
        .on(x1)
        .dropped(Drop::NdpInvalid)
        .events(&[(Event::NdpAdvertised, 0)])
}

/// An NS on `on` that is the kernel's: passed on untouched.
fn passed(name: &str, ns: Vec<u8>, on: fn(&ProgBed) -> u32) -> Case {
    Case::xdp(name, ns)
        .on(on)
        .pass_unchanged()
        .events(&[(Event::NdpAdvertised, 0), (Event::NotOurs, 1)])
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
    let na_to_router = na_frame(UPSTREAM_MAC, t, router_ll(), NA_SOLICITED);
    let cases = vec![
        answered(
            "multicast NS with source link-layer address: NA to the solicitor",
            ns_for(t, 255, &sll()),
            na_to_router.clone(),
        ),
        answered(
            "unicast NUD probe without options",
            ns_frame(X1_MAC, router_ll(), t, 255, t, &[]),
            na_to_router.clone(),
        ),
        answered(
            "global source address, options sll + nonce",
            ns_frame(
                multicast_mac(group),
                UPSTREAM,
                group,
                255,
                t,
                &[sll(), NONCE.to_vec()].concat(),
            ),
            na_frame(UPSTREAM_MAC, t, UPSTREAM, NA_SOLICITED),
        ),
        answered(
            "DAD probe: NA to all-nodes, not solicited",
            ns_frame(
                multicast_mac(group),
                Ipv6Addr::UNSPECIFIED,
                group,
                255,
                t,
                &NONCE,
            ),
            na_frame(multicast_mac(ALL_NODES), t, ALL_NODES, 0),
        ),
        answered(
            "target proxied as a router: R flag",
            ns_for(routed_target(), 255, &sll()),
            na_frame(
                UPSTREAM_MAC,
                routed_target(),
                router_ll(),
                NA_ROUTER | NA_SOLICITED,
            ),
        )
        .setup(proxy_router),
        answered(
            "Ethernet padding after the NS is not part of it",
            padded,
            na_to_router.clone(),
        ),
        passed(
            "target not proxied: the kernel's",
            ns_for(a6("2001:db8:1::3"), 255, &sll()),
            x1,
        ),
        passed(
            "proxied on x1, arriving on x0: the kernel's",
            ns_for(t, 255, &sll()),
            x0,
        ),
        passed(
            "longer than the datapath handles (SEND-sized): the kernel's",
            ns_for(t, 255, &nine_options),
            x1,
        ),
        passed(
            "proxy entry removed: the kernel's",
            ns_for(t, 255, &sll()),
            x1,
        )
        .setup(|b| {
            b.dp.remove_proxy(b.x1, PROXIED_A).unwrap();
            assert!(b.dp.proxies().unwrap().is_empty());
        }),
        invalid(
            "hop limit 254: came through a router",
            ns_for(t, 254, &sll()),
        ),
        invalid("bad checksum", bad_sum),
        invalid(
            "option of length zero",
            ns_for(t, 255, &[1, 0, 0, 0, 0, 0, 0, 0]),
        ),
        invalid(
            "option running past the end",
            ns_for(t, 255, &[1, 2, 0, 0, 0, 0, 0, 0]),
        ),
        invalid(
            "DAD probe with a source link-layer address",
            ns_frame(
                multicast_mac(group),
                Ipv6Addr::UNSPECIFIED,
                group,
                255,
                t,
                &sll(),
            ),
        ),
        invalid(
            "destination neither the target nor its group",
            ns_frame(X1_MAC, router_ll(), a6("2001:db8:ffff::1"), 255, t, &sll()),
        ),
        Case::xdp("IPv6 payload length past the frame's end", truncated)
            .on(x1)
            .dropped(Drop::Malformed),
    ];
    check(&mut bed, cases);
}
