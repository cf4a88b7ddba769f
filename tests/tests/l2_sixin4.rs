//! L2: real traffic through the XDP PoP in network namespaces.
//! client (userspace 6in4 peer) ↔ pop (XDP) ↔ upstream. Needs root.

use tunnel_common::stats::Drop;
use tunnel_tests::{
    peer6in4::{Peer6in4, PeerConfig},
    topology::{Testbed, CLIENT_V4, POP_V4, UPSTREAM_V6},
};

fn testbed(mtu: u16) -> (Testbed, Peer6in4) {
    let tb = Testbed::new(mtu).expect("test bed");
    let addr = format!("{}/64", tb.user_address());
    let peer = Peer6in4::start(
        &tb.client,
        &PeerConfig { ifname: "tun6in4", local: CLIENT_V4, remote: POP_V4, address: &addr, mtu },
    )
    .expect("6in4 peer");
    (tb, peer)
}

fn ping(ns: &tunnel_tests::netns::Netns, args: &[&str]) -> (bool, String) {
    let mut argv = vec!["ping", "-6", "-n", "-W", "2"];
    argv.extend_from_slice(args);
    let out = ns.output(&argv).expect("ping");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn ping_client_to_upstream_and_back() {
    let (mut tb, peer) = testbed(1480);
    let (ok, out) = ping(&tb.client, &["-c", "3", "-i", "0.2", UPSTREAM_V6]);
    assert!(ok, "client → upstream ping failed:\n{out}");
    assert!(out.contains("3 received"), "{out}");
    let user = tb.user_address().to_string();
    let (ok, out) = ping(&tb.upstream, &["-c", "3", "-i", "0.2", &user]);
    assert!(ok, "upstream → client ping failed:\n{out}");
    let c = tb.dp.tunnel_counters(1).unwrap();
    // 3 requests out and 3 replies back per direction, at least.
    assert!(c.rx_packets >= 6 && c.tx_packets >= 6, "{c:?}");
    // The peer's own link-local chatter (RS, MLD) is a counted link-scope
    // drop; nothing else may be dropped.
    let counters = tb.dp.counters().unwrap();
    let other = counters.total_drops() - counters.drop(Drop::LinkScope);
    assert_eq!(other, 0, "{counters:?}");
    peer.stop().unwrap();
}
