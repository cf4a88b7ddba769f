//! L2: traffic the PoP's own kernel sends into a tunnel. The PoP namespace
//! routes the tunnel's prefixes to its tunnel device, whose TC egress
//! program encapsulates and redirects to the uplink; replies come back
//! through the XDP decapsulation. Needs root.

use std::net::Ipv6Addr;

use tunnel_common::stats::{Drop, Event};
use tunnel_tests::{
    peer6in4::Peer6in4,
    topology::{Testbed, POP_UPLINK_V6, TUNNEL_ID},
    traffic::{ping, start_client_peer, tcp_transfer, TUN},
};
use tunnelctl::datapath::Counters;

fn testbed(mtu: u16) -> (Testbed, Peer6in4) {
    let mut tb = Testbed::new(mtu).expect("test bed");
    tb.add_local_device().expect("tunnel device");
    let peer = start_client_peer(&tb, mtu).expect("6in4 peer");
    (tb, peer)
}

/// Drops other than the peer's link-local chatter (see l2_sixin4).
fn unexpected_drops(c: &Counters) -> u64 {
    c.total_drops() - c.drop(Drop::LinkScope)
}

#[test]
fn ping_from_the_pop_to_the_user() {
    let (mut tb, peer) = testbed(1480);
    let user = tb.user_address().to_string();
    let p = ping(&tb.pop, &["-c", "3", "-i", "0.2", &user]).unwrap();
    assert!(
        p.ok && p.received() == 3,
        "PoP → user ping failed:\n{}",
        p.stdout
    );
    let c = tb.dp.counters().unwrap();
    assert!(c.event(Event::LocalEncap) >= 3, "{c:?}");
    let t = tb.dp.tunnel_counters(TUNNEL_ID).unwrap();
    assert!(t.tx_packets >= 3 && t.rx_packets >= 3, "{t:?}");
    assert_eq!(unexpected_drops(&c), 0, "{c:?}");
    peer.stop().unwrap();
}

/// The routed /48 too, and the biggest packet the tunnel carries: the
/// route's MTU (the tunnel's) sizes what the kernel sends.
#[test]
fn ping_routed_prefix_and_full_mtu() {
    let (mut tb, peer) = testbed(1400);
    let routed = "2001:db8:100::1";
    tb.client
        .ip(&format!("-6 addr add {routed}/128 dev {TUN} nodad"))
        .unwrap();
    let p = ping(&tb.pop, &["-c", "2", "-i", "0.2", routed]).unwrap();
    assert!(p.ok && p.received() == 2, "{}", p.stdout);
    // 1400 - 40 (IPv6) - 8 (ICMPv6): exactly the tunnel MTU, DF.
    let user = tb.user_address().to_string();
    let p = ping(
        &tb.pop,
        &["-c", "2", "-i", "0.2", "-s", "1352", "-M", "do", &user],
    )
    .unwrap();
    assert!(p.ok && p.received() == 2, "{}", p.stdout);
    // One byte more is refused by the kernel itself (route MTU), before
    // the program: nothing is dropped as too big in the datapath.
    let p = ping(&tb.pop, &["-c", "1", "-s", "1353", "-M", "do", &user]).unwrap();
    assert!(!p.ok, "{}", p.stdout);
    let c = tb.dp.counters().unwrap();
    assert_eq!(c.drop(Drop::LocalTooBig), 0, "{c:?}");
    assert_eq!(unexpected_drops(&c), 0, "{c:?}");
    peer.stop().unwrap();
}

/// 4 MiB each way between the PoP itself and the user: the PoP's segments
/// (GSO packets at the tunnel device: veth keeps its offloads) are
/// encapsulated by TC and cut to size at the uplink; the hash proves every
/// byte arrived once and unaltered.
#[test]
fn tcp_between_the_pop_and_the_user() {
    const BYTES: usize = 4 << 20;
    let (mut tb, peer) = testbed(1480);
    let user = tb.user_address();
    let pop: Ipv6Addr = POP_UPLINK_V6.parse().unwrap();

    let down = tcp_transfer(&tb.pop, &tb.client, user, BYTES).unwrap();
    assert!(down.ok(), "PoP → user: {down:?}");
    let up = tcp_transfer(&tb.client, &tb.pop, pop, BYTES).unwrap();
    assert!(up.ok(), "user → PoP: {up:?}");

    let t = tb.dp.tunnel_counters(TUNNEL_ID).unwrap();
    assert!(
        t.tx_bytes >= BYTES as u64 && t.rx_bytes >= BYTES as u64,
        "{t:?}"
    );
    let c = tb.dp.counters().unwrap();
    // A GSO packet counts once (as sit counts it), so fewer encapsulations
    // than the ~3000 segments on the wire show GSO was in play.
    assert!(c.event(Event::LocalEncap) > 0, "{c:?}");
    assert_eq!(unexpected_drops(&c), 0, "{c:?}");
    peer.stop().unwrap();
}

/// A disabled tunnel drops what the PoP sends into it (counted), and
/// carries it again once enabled.
#[test]
fn disabled_tunnel_drops_local_traffic() {
    let (mut tb, peer) = testbed(1480);
    let user = tb.user_address().to_string();
    let mut t = tb.tunnel.clone();
    t.enabled = false;
    tb.dp.update_tunnel(TUNNEL_ID, &t).unwrap();
    let p = ping(&tb.pop, &["-c", "2", "-i", "0.2", &user]).unwrap();
    assert!(!p.ok, "{}", p.stdout);
    let c = tb.dp.counters().unwrap();
    assert!(c.drop(Drop::TunnelDisabled) >= 2, "{c:?}");
    assert_eq!(c.event(Event::LocalEncap), 0, "{c:?}");

    t.enabled = true;
    tb.dp.update_tunnel(TUNNEL_ID, &t).unwrap();
    let p = ping(&tb.pop, &["-c", "2", "-i", "0.2", &user]).unwrap();
    assert!(p.ok && p.received() == 2, "{}", p.stdout);
    peer.stop().unwrap();
}
