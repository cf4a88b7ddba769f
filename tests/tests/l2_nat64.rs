//! L2: stateless NAT64 with real traffic. The 6in4 test bed's namespaces:
//! `upstream` is an IPv6-only host, `client` is both an IPv4-only host
//! (192.0.2.2 on the PoP's IPv4 link) and, through its 6in4 peer, a
//! tunnel user. pool6 is `2001:db8:64::/96`; upstream is mapped to
//! 198.51.100.2 and the tunnel user to 198.51.100.1 (EAM). Needs root.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use tunnel_common::{
    nat64::{config::NAT64_F_WKP_STRICT, rfc6052},
    stats::{Drop, Event},
};
use tunnel_tests::{
    topology::{Testbed, CLIENT_V4, POP_UPLINK_V6, POP_V4, UPSTREAM_V6},
    traffic::{ping, start_client_peer, tcp_transfer_via, udp_socket},
};
use tunnelctl::datapath::{EamEntry, Nat64Settings};

const POOL6: &str = "2001:db8:64::";
const UPSTREAM_MAPPED: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const USER_MAPPED: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// An IPv4 address as IPv6 hosts reach it.
fn under_pool6(v4: Ipv4Addr) -> Ipv6Addr {
    let pool: Ipv6Addr = POOL6.parse().unwrap();
    Ipv6Addr::from(rfc6052::embed(&pool.octets(), 96, v4.octets()))
}

/// The IPv4 host as IPv6 hosts reach it.
fn host_v6() -> Ipv6Addr {
    under_pool6(CLIENT_V4)
}

/// The test bed with the translator on and both sides routed to it.
fn testbed() -> Testbed {
    let mut tb = Testbed::new(1480).expect("test bed");
    tb.dp
        .set_nat64(
            &Nat64Settings {
                pool6: Some((POOL6.parse().unwrap(), 96)),
                flags: NAT64_F_WKP_STRICT,
                icmp_source: Some((POP_V4, 32)),
            },
            true,
        )
        .unwrap();
    let upstream: Ipv6Addr = UPSTREAM_V6.parse().unwrap();
    for (v6, v4) in [
        (upstream, UPSTREAM_MAPPED),
        (tb.user_address(), USER_MAPPED),
    ] {
        tb.dp
            .add_eam(&EamEntry::new(v6, 128, v4, 32).unwrap())
            .unwrap();
    }
    tb.upstream
        .ip(&format!("-6 route add {POOL6}/96 via {POP_UPLINK_V6}"))
        .unwrap();
    tb.client
        .ip(&format!("route add 198.51.100.0/24 via {POP_V4}"))
        .unwrap();
    tb
}

#[test]
fn ipv6_host_pings_and_sends_tcp_to_ipv4_host() {
    let mut tb = testbed();
    let p = ping(
        &tb.upstream,
        &["-6", "-c", "3", "-i", "0.2", &host_v6().to_string()],
    )
    .unwrap();
    assert!(
        p.ok && p.received() == 3,
        "upstream → IPv4 host:\n{}",
        p.stdout
    );

    // 2 MiB each way; the hash proves every byte crossed both translations.
    const BYTES: usize = 2 << 20;
    let v6_to_v4 = tcp_transfer_via(
        &tb.upstream,
        &tb.client,
        IpAddr::V4(CLIENT_V4),
        IpAddr::V6(host_v6()),
        BYTES,
    )
    .unwrap();
    assert!(v6_to_v4.ok(), "IPv6 → IPv4: {v6_to_v4:?}");
    let v4_to_v6 = tcp_transfer_via(
        &tb.client,
        &tb.upstream,
        IpAddr::V6(UPSTREAM_V6.parse().unwrap()),
        IpAddr::V4(UPSTREAM_MAPPED),
        BYTES,
    )
    .unwrap();
    assert!(v4_to_v6.ok(), "IPv4 → IPv6: {v4_to_v6:?}");

    // Traceroute's first probe: hop limit 1 expires in the translator,
    // which answers from its own source under pool6 (192.0.2.1).
    let pool: Ipv6Addr = POOL6.parse().unwrap();
    let pop_under_pool6 =
        Ipv6Addr::from(rfc6052::embed(&pool.octets(), 96, POP_V4.octets())).to_string();
    let p = ping(
        &tb.upstream,
        &[
            "-6",
            "-c",
            "1",
            "-t",
            "1",
            "-W",
            "2",
            &host_v6().to_string(),
        ],
    )
    .unwrap();
    assert!(
        p.stdout.contains(&pop_under_pool6) && p.stdout.contains("Time exceeded"),
        "hop limit 1 toward the IPv4 host:\n{}",
        p.stdout
    );

    let c = tb.dp.counters().unwrap();
    assert!(
        c.event(Event::Nat64To4) > 3 && c.event(Event::Nat64To6) > 3,
        "{c:?}"
    );
    assert_eq!(c.total_drops() - c.drop(Drop::LinkScope), 0, "{c:?}");
}

#[test]
fn tunnel_user_reaches_ipv4_host() {
    let mut tb = testbed();
    let peer = start_client_peer(&tb, 1480).expect("6in4 peer");
    // The user pings from its tunnel address (the peer's tun device).
    let user = tb.user_address().to_string();
    let p = ping(
        &tb.client,
        &[
            "-6",
            "-c",
            "3",
            "-i",
            "0.2",
            "-I",
            &user,
            &host_v6().to_string(),
        ],
    )
    .unwrap();
    assert!(
        p.ok && p.received() == 3,
        "tunnel user → IPv4 host:\n{}",
        p.stdout
    );
    let c = tb.dp.counters().unwrap();
    assert!(c.event(Event::Nat64IntoTunnel) >= 3, "{c:?}");
    let t = tb
        .dp
        .tunnel_counters(tunnel_tests::topology::TUNNEL_ID)
        .unwrap();
    assert!(t.rx_packets >= 3 && t.tx_packets >= 3, "{t:?}");
    peer.stop().unwrap();
}

/// Hairpinning (RFC 7757 §4.2): the IPv6-only host and the tunnel user
/// reach each other through their mapped IPv4 addresses under pool6, each
/// packet translated to IPv4 and back in the PoP; the user's port
/// unreachable about a datagram comes back the same way.
#[test]
fn ipv6_hosts_reach_each_other_through_their_ipv4_addresses() {
    let mut tb = testbed();
    let peer = start_client_peer(&tb, 1480).expect("6in4 peer");
    let user_seen = under_pool6(USER_MAPPED);
    let p = ping(
        &tb.upstream,
        &["-6", "-c", "3", "-i", "0.2", &user_seen.to_string()],
    )
    .unwrap();
    assert!(
        p.ok && p.received() == 3 && p.stdout.contains(&user_seen.to_string()),
        "upstream → the tunnel user's IPv4 address under pool6:\n{}",
        p.stdout
    );
    // A datagram to a port nobody listens on: the user's kernel answers
    // port unreachable to upstream's IPv4 address under pool6, which the
    // PoP hairpins too; the connected socket learns it as a refusal.
    let upstream: Ipv6Addr = UPSTREAM_V6.parse().unwrap();
    let s = udp_socket(
        &tb.upstream,
        SocketAddr::V6(SocketAddrV6::new(upstream, 0, 0, 0)),
    )
    .unwrap();
    s.connect(SocketAddr::V6(SocketAddrV6::new(user_seen, 9, 0, 0)))
        .unwrap();
    s.send(b"anyone there?").unwrap();
    let got = s.recv(&mut [0u8; 64]);
    assert_eq!(
        got.as_ref().map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
        "the hairpinned port unreachable: {got:?}"
    );
    let c = tb.dp.counters().unwrap();
    // 3 requests, 3 replies, the datagram and its error.
    assert!(c.event(Event::Nat64Hairpin) >= 8, "{c:?}");
    assert!(
        c.event(Event::Nat64ErrorTo4) >= 1 && c.event(Event::Nat64ErrorTo6) >= 1,
        "{c:?}"
    );
    peer.stop().unwrap();
}
