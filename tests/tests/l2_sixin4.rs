//! L2: real traffic through the XDP PoP in network namespaces.
//! client (userspace 6in4 peer) ↔ pop (XDP) ↔ upstream. Needs root.
//! Each test builds its own test bed, so counters start at zero.

use std::net::Ipv6Addr;

use tunnel_common::stats::{Drop, Event};
use tunnel_tests::{
    peer6in4::Peer6in4,
    topology::{Testbed, TUNNEL_ID, UPSTREAM_V6},
    traffic::{ping, start_client_peer, tcp_transfer, TUN},
};
use tunnelctl::datapath::Counters;

fn testbed(mtu: u16) -> (Testbed, Peer6in4) {
    testbed_with_tun_mtu(mtu, mtu)
}

fn testbed_with_tun_mtu(tunnel_mtu: u16, tun_mtu: u16) -> (Testbed, Peer6in4) {
    let tb = Testbed::new(tunnel_mtu).expect("test bed");
    let peer = start_client_peer(&tb, tun_mtu).expect("6in4 peer");
    (tb, peer)
}

/// Drops other than the peer's own link-local chatter (RS, MLD), which is a
/// counted link-scope drop in every test.
fn unexpected_drops(c: &Counters) -> u64 {
    c.total_drops() - c.drop(Drop::LinkScope)
}

#[test]
fn ping_client_to_upstream_and_back() {
    let (mut tb, peer) = testbed(1480);
    let p = ping(&tb.client, &["-c", "3", "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert!(
        p.ok && p.received() == 3,
        "client → upstream ping failed:\n{}",
        p.stdout
    );
    let user = tb.user_address().to_string();
    let p = ping(&tb.upstream, &["-c", "3", "-i", "0.2", &user]).unwrap();
    assert!(
        p.ok && p.received() == 3,
        "upstream → client ping failed:\n{}",
        p.stdout
    );
    let c = tb.dp.tunnel_counters(TUNNEL_ID).unwrap();
    // 3 requests out and 3 replies back per direction, at least.
    assert!(c.rx_packets >= 6 && c.tx_packets >= 6, "{c:?}");
    assert_eq!(unexpected_drops(&tb.dp.counters().unwrap()), 0);
    peer.stop().unwrap();
}

/// 4 MiB each way: every segment is decapsulated or encapsulated by XDP,
/// and the hash proves no byte was lost, duplicated or altered.
#[test]
fn tcp_transfer_both_ways() {
    const BYTES: usize = 4 << 20;
    let (mut tb, peer) = testbed(1480);
    let user = tb.user_address();
    let upstream: Ipv6Addr = UPSTREAM_V6.parse().unwrap();

    let up = tcp_transfer(&tb.client, &tb.upstream, upstream, BYTES).unwrap();
    assert!(up.ok(), "client → upstream: {up:?}");
    let down = tcp_transfer(&tb.upstream, &tb.client, user, BYTES).unwrap();
    assert!(down.ok(), "upstream → client: {down:?}");

    let t = tb.dp.tunnel_counters(TUNNEL_ID).unwrap();
    // Payload bytes are a lower bound of inner bytes in each direction.
    assert!(
        t.rx_bytes >= BYTES as u64 && t.tx_bytes >= BYTES as u64,
        "{t:?}"
    );
    let c = tb.dp.counters().unwrap();
    assert_eq!(c.event(Event::Decap), t.rx_packets, "{c:?}");
    assert!(c.event(Event::Encap) >= t.tx_packets, "{c:?}");
    // Every decapsulated packet went out through the XDP fast path.
    assert_eq!(c.event(Event::Forwarded), t.rx_packets, "{c:?}");
    assert_eq!(unexpected_drops(&c), 0, "{c:?}");
    peer.stop().unwrap();
}

/// Upstream sends 1348 bytes with DF into a 1280-byte tunnel: the PoP
/// answers Packet Too Big from the tunnel's ::1 and forwards nothing.
#[test]
fn packet_too_big_toward_tunnel() {
    let (mut tb, peer) = testbed(1280);
    let user = tb.user_address().to_string();
    let p = ping(&tb.upstream, &["-c", "1", "-s", "1300", "-M", "do", &user]).unwrap();
    assert!(!p.ok, "{}", p.stdout);
    let want = format!(
        "From {} icmp_seq=1 Packet too big: mtu=1280",
        tb.pop_address()
    );
    assert!(p.stdout.contains(&want), "want {want:?} in:\n{}", p.stdout);
    let c = tb.dp.counters().unwrap();
    assert!(c.event(Event::IcmpPacketTooBig) >= 1, "{c:?}");
    assert_eq!(tb.dp.tunnel_counters(TUNNEL_ID).unwrap().tx_packets, 0);
    // Small packets still pass.
    let p = ping(&tb.upstream, &["-c", "1", "-s", "1000", &user]).unwrap();
    assert!(p.ok, "{}", p.stdout);
    peer.stop().unwrap();
}

/// The other direction: a client whose tun MTU (1480) exceeds the tunnel's
/// (1280). Its big echo request gets through (the PoP, like sit, does not
/// police the MTU on receive), but the same-size reply does not fit the
/// tunnel: the PoP sends Packet Too Big to upstream, whose kernel then
/// fragments its later replies to 1280, and those arrive.
#[test]
fn packet_too_big_for_reply_then_fragments() {
    let (mut tb, peer) = testbed_with_tun_mtu(1280, 1480);
    let p = ping(
        &tb.client,
        &[
            "-c",
            "3",
            "-i",
            "0.3",
            "-s",
            "1300",
            "-M",
            "do",
            UPSTREAM_V6,
        ],
    )
    .unwrap();
    // The first reply is lost to the PTB, the next ones come back.
    assert_eq!(p.received(), 2, "{}", p.stdout);
    let c = tb.dp.counters().unwrap();
    assert!(c.event(Event::IcmpPacketTooBig) >= 1, "{c:?}");
    let t = tb.dp.tunnel_counters(TUNNEL_ID).unwrap();
    // Each later reply arrives as two fragments within the tunnel MTU.
    assert!(t.tx_packets >= 4, "{t:?}");
    peer.stop().unwrap();
}

/// TCP path-MTU discovery through the PoP: the client advertises an MSS
/// for 1480 but the tunnel carries 1280, so upstream's first full segments
/// get Packet Too Big and it must shrink them; the data arrives intact.
#[test]
fn tcp_pmtud_through_smaller_tunnel() {
    let (mut tb, peer) = testbed_with_tun_mtu(1280, 1480);
    let r = tcp_transfer(&tb.upstream, &tb.client, tb.user_address(), 1 << 20).unwrap();
    assert!(r.ok(), "{r:?}");
    let c = tb.dp.counters().unwrap();
    assert!(c.event(Event::IcmpPacketTooBig) >= 1, "{c:?}");
    assert_eq!(c.drop(Drop::TooBig), 0, "PTB rate limited: {c:?}");
    peer.stop().unwrap();
}

/// An address of the routed /48 on the client works both ways.
#[test]
fn routed_prefix_both_ways() {
    let (mut tb, peer) = testbed(1480);
    let routed = "2001:db8:100::1";
    tb.client
        .ip(&format!("-6 addr add {routed}/128 dev {TUN} nodad"))
        .unwrap();
    let p = ping(
        &tb.client,
        &["-c", "3", "-i", "0.2", "-I", routed, UPSTREAM_V6],
    )
    .unwrap();
    assert!(p.ok && p.received() == 3, "{}", p.stdout);
    let p = ping(&tb.upstream, &["-c", "3", "-i", "0.2", routed]).unwrap();
    assert!(p.ok && p.received() == 3, "{}", p.stdout);
    let t = tb.dp.tunnel_counters(TUNNEL_ID).unwrap();
    assert!(t.rx_packets >= 6 && t.tx_packets >= 6, "{t:?}");
    let c = tb.dp.counters().unwrap();
    assert_eq!(unexpected_drops(&c), 0, "{c:?}");
    peer.stop().unwrap();
}

/// A source outside the tunnel's prefixes is dropped at decapsulation.
#[test]
fn spoofed_source_dropped() {
    let (mut tb, peer) = testbed(1480);
    let spoofed = "2001:db8:999::2";
    tb.client
        .ip(&format!("-6 addr add {spoofed}/128 dev {TUN} nodad"))
        .unwrap();
    let p = ping(
        &tb.client,
        &["-c", "2", "-i", "0.2", "-I", spoofed, UPSTREAM_V6],
    )
    .unwrap();
    assert!(!p.ok && p.received() == 0, "{}", p.stdout);
    let c = tb.dp.counters().unwrap();
    assert!(c.drop(Drop::SpoofedSource) >= 2, "{c:?}");
    assert_eq!(c.event(Event::Forwarded), 0, "{c:?}");
    assert_eq!(tb.dp.tunnel_counters(TUNNEL_ID).unwrap().rx_packets, 0);
    peer.stop().unwrap();
}

/// A disabled tunnel drops what its user sends and answers traffic toward
/// it with "administratively prohibited" (as sixxsd); enabling it again
/// restores traffic.
#[test]
fn disabled_tunnel_drops_then_recovers() {
    let (mut tb, peer) = testbed(1480);
    let user = tb.user_address().to_string();
    let mut t = tb.tunnel.clone();
    t.enabled = false;
    tb.dp.update_tunnel(TUNNEL_ID, &t).unwrap();

    let p = ping(&tb.client, &["-c", "2", "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert!(!p.ok, "{}", p.stdout);
    let from_client = tb.dp.counters().unwrap().drop(Drop::TunnelDisabled);
    assert!(from_client >= 2, "decap side: {from_client}");
    let p = ping(&tb.upstream, &["-c", "2", "-i", "0.2", &user]).unwrap();
    assert!(!p.ok, "{}", p.stdout);
    assert!(
        p.stdout.contains("Administratively prohibited"),
        "{}",
        p.stdout
    );
    let c = tb.dp.counters().unwrap();
    assert!(c.event(Event::IcmpUnreachable) >= 2, "encap side: {c:?}");
    // Nothing carried; the user's packets charged to the tunnel as drops.
    let t_counters = tb.dp.tunnel_counters(TUNNEL_ID).unwrap();
    assert_eq!(
        (t_counters.rx_packets, t_counters.tx_packets),
        (0, 0),
        "{t_counters:?}"
    );
    let errors = t_counters.errors();
    assert!(errors.errors >= 2, "{t_counters:?}");
    assert_eq!(errors.last_error(), Some(Drop::TunnelDisabled));

    t.enabled = true;
    tb.dp.update_tunnel(TUNNEL_ID, &t).unwrap();
    let p = ping(&tb.client, &["-c", "2", "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert!(p.ok && p.received() == 2, "{}", p.stdout);
    let p = ping(&tb.upstream, &["-c", "2", "-i", "0.2", &user]).unwrap();
    assert!(p.ok && p.received() == 2, "{}", p.stdout);
    peer.stop().unwrap();
}

/// Hop limit 1 through the PoP: Time Exceeded from the tunnel's ::1, in
/// both directions.
#[test]
fn hop_limit_time_exceeded_both_ways() {
    let (mut tb, peer) = testbed(1480);
    let pop = tb.pop_address();
    let p = ping(&tb.client, &["-c", "1", "-t", "1", UPSTREAM_V6]).unwrap();
    let want = format!("From {pop} icmp_seq=1 Time exceeded: Hop limit");
    assert!(p.stdout.contains(&want), "want {want:?} in:\n{}", p.stdout);
    assert_eq!(tb.dp.counters().unwrap().event(Event::IcmpTimeExceeded), 1);

    let user = tb.user_address().to_string();
    let p = ping(&tb.upstream, &["-c", "1", "-t", "1", &user]).unwrap();
    assert!(p.stdout.contains(&want), "want {want:?} in:\n{}", p.stdout);
    let c = tb.dp.counters().unwrap();
    assert_eq!(c.event(Event::IcmpTimeExceeded), 2, "{c:?}");
    assert_eq!(unexpected_drops(&c), 0, "{c:?}");
    peer.stop().unwrap();
}

#[test]
fn pop_end_of_the_tunnel_answers_ping_from_both_sides() {
    let (mut tb, _peer) = testbed(1480);
    let pop = tb.pop_address().to_string();
    let from_user = ping(&tb.client, &["-c", "3", "-i", "0.2", &pop]).unwrap();
    assert_eq!(from_user.received(), 3, "{}", from_user.stdout);
    let from_upstream = ping(&tb.upstream, &["-c", "2", "-i", "0.2", &pop]).unwrap();
    assert_eq!(from_upstream.received(), 2, "{}", from_upstream.stdout);
    let c = tb.dp.counters().unwrap();
    assert_eq!(c.event(Event::EchoReply), 5, "{c:?}");
    assert_eq!(unexpected_drops(&c), 0, "{c:?}");
}
