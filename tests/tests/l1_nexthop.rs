//! L1: the next-hop cache (`ROUTES4`/`ROUTES6` → `NEXTHOPS`) in front of
//! `bpf_fib_lookup`: a cached next hop is used as it stands (its MACs and
//! interface, no FIB call), and anything the cache cannot answer for (no
//! route, slot 0, an invalid slot, a packet over the cached MTU) takes the
//! FIB as before. The cached MACs differ from the bed's neighbour entries,
//! so the output bytes tell which one answered.

use std::net::Ipv6Addr;

use etherparse::EtherType;
use tunnel_common::{
    nexthop::{NextHopEntry, NEXTHOP_KERNEL, NH_F_VALID},
    stats::Event,
};
use tunnel_tests::{cases::*, packets::*, prog::*};
use tunnelctl::daemon::nexthops::plan::Tables;

/// The cached gateways' MACs: no neighbour entry of the bed has them.
const GW6_MAC: Mac = [2, 0, 0, 0, 1, 0x66];
const GW4_MAC: Mac = [2, 0, 0, 0, 0, 0x44];

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn hop(ifindex: u32, smac: Mac, dmac: Mac, mtu: u16) -> NextHopEntry {
    NextHopEntry {
        ifindex,
        mtu,
        flags: NH_F_VALID,
        smac,
        dmac,
    }
}

/// ::/0 via slot 1 (x1, GW6_MAC), 0.0.0.0/0 via slot 2 (x0, GW4_MAC).
fn cache(b: &ProgBed, mtu6: u16, mtu4: u16, valid: bool) -> Tables {
    let mut t = Tables::default();
    let mut h6 = hop(b.x1, X1_MAC, GW6_MAC, mtu6);
    let mut h4 = hop(b.x0, X0_MAC, GW4_MAC, mtu4);
    if !valid {
        h6.flags = 0;
        h4.flags = 0;
    }
    t.nexthops.insert(1, h6);
    t.nexthops.insert(2, h4);
    t.routes6.insert(([0; 16], 0), 1);
    t.routes4.insert(([0; 4], 0), 2);
    t
}

fn cached(b: &mut ProgBed) {
    let t = cache(b, 1500, 1500, true);
    b.dp.sync_nexthops(&t).unwrap();
}
fn cached_small_mtu(b: &mut ProgBed) {
    let t = cache(b, 64, 64, true);
    b.dp.sync_nexthops(&t).unwrap();
}
fn cached_invalid(b: &mut ProgBed) {
    let t = cache(b, 1500, 1500, false);
    b.dp.sync_nexthops(&t).unwrap();
}
/// The route exists but says "ask the kernel" (slot 0): an on-link net.
fn kernel_slot(b: &mut ProgBed) {
    let mut t = cache(b, 1500, 1500, true);
    t.routes6.insert(([0; 16], 0), NEXTHOP_KERNEL);
    t.routes4.insert(([0; 4], 0), NEXTHOP_KERNEL);
    b.dp.sync_nexthops(&t).unwrap();
}

fn decap_input() -> (Vec<u8>, Vec<u8>) {
    let inner = ipv6_echo(a6("2001:db8:1::2"), UPSTREAM, 64, 32);
    let frame = eth(
        CLIENT_A_MAC,
        X0_MAC,
        EtherType::IPV4,
        &sixin4(V4::new(CLIENT_A, POP_V4), &inner),
    );
    (frame, inner)
}

/// Which of the two answered: the cache or `bpf_fib_lookup`.
fn answered_by(event: Event) -> &'static [(Event, u64)] {
    match event {
        Event::NexthopCached => &[(Event::NexthopCached, 1), (Event::NexthopKernel, 0)],
        _ => &[(Event::NexthopCached, 0), (Event::NexthopKernel, 1)],
    }
}

fn decap_case(name: &'static str, setup: fn(&mut ProgBed), dmac: Mac, event: Event) -> Case {
    let (input, inner) = decap_input();
    Case::xdp(name, input)
        .on(x0)
        .setup(setup)
        .redirect(eth(X1_MAC, dmac, EtherType::IPV6, &hop_decremented(&inner)))
        .events(answered_by(event))
        .tunnel(TUNNEL_A, 1, 0)
}

fn encap_case(name: &'static str, setup: fn(&mut ProgBed), dmac: Mac, event: Event) -> Case {
    let inner = ipv6_echo(UPSTREAM, a6("2001:db8:1::2"), 64, 32);
    Case::xdp(name, eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, &inner))
        .on(x1)
        .setup(setup)
        .redirect(eth(
            X0_MAC,
            dmac,
            EtherType::IPV4,
            &sixin4(V4::new(POP_V4, CLIENT_A), &hop_decremented(&inner)),
        ))
        .events(answered_by(event))
        .tunnel(TUNNEL_A, 0, 1)
}

/// No next-hop cache (as `reset` leaves the bed).
fn nothing(_: &mut ProgBed) {}

#[test]
fn nexthop_cache_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let k = Event::NexthopKernel;
    let c = Event::NexthopCached;
    check(
        &mut bed,
        vec![
            decap_case("decap, cached gateway", cached, GW6_MAC, c),
            decap_case("decap, no cache: the fib", nothing, UPSTREAM_MAC, k),
            decap_case("decap, slot 0: the fib", kernel_slot, UPSTREAM_MAC, k),
            decap_case(
                "decap, invalid slot: the fib",
                cached_invalid,
                UPSTREAM_MAC,
                k,
            ),
            decap_case(
                "decap, over the cached mtu: the fib",
                cached_small_mtu,
                UPSTREAM_MAC,
                k,
            ),
            encap_case("encap, cached gateway", cached, GW4_MAC, c),
            encap_case("encap, no cache: the fib", nothing, CLIENT_A_MAC, k),
            encap_case("encap, slot 0: the fib", kernel_slot, CLIENT_A_MAC, k),
            encap_case(
                "encap, over the cached mtu: the fib",
                cached_small_mtu,
                CLIENT_A_MAC,
                k,
            ),
        ],
    );
}
