//! L2: the NAT64 slow path (issue 11, RFC 7915 §4). The real daemon on
//! the 6in4 test bed's namespaces (`n64slow-*`): tunnel 1 with MTU 1280,
//! its user (the client's 6in4 peer, `2001:db8:1::2`) mapped to
//! 198.51.100.1, pool6 `2001:db8:64::/96`. The client is also the
//! IPv4-only host (192.0.2.2): it sends UDP datagrams without DF that are
//! too big for the tunnel once translated. The data path hands them to
//! the daemon, which sends them as IPv6 fragments into the tunnel; the
//! user's kernel puts them back together, and the receiving socket gets
//! every byte. Fragmented pings cross the slow path both ways (issue 11,
//! RFC 7915 §4.2, §5.2): the daemon puts the ICMP messages back together
//! and translates them. Needs root.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use tunnel_common::nat64::rfc6052;
use tunnel_tests::{
    daemon::{metrics, DaemonBed},
    netns::Netns,
    peer6in4::{Peer6in4, PeerConfig},
    topology::{Namespaces, CLIENT_V4, POP_UPLINK_V6, POP_V4, UPSTREAM_V6},
    traffic::{ping, udp_socket, without_df, Ping},
};

const USER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const USER_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PORT: u16 = 4000;

/// The IPv4 host as the user sees it: under pool6 (RFC 6052).
fn host_v6() -> Ipv6Addr {
    let pool: Ipv6Addr = "2001:db8:64::".parse().unwrap();
    Ipv6Addr::from(rfc6052::embed(&pool.octets(), 96, CLIENT_V4.octets()))
}

/// The value of the /metrics line that starts with `key` (0 if absent:
/// counters of a label not yet seen).
fn metric(ns: &Netns, key: &str) -> u64 {
    let m = metrics(ns);
    m.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} not on /metrics:\n{m}"))
}

fn slow(ns: &Netns, result: &str) -> u64 {
    metric(
        ns,
        &format!("tunnelpop_nat64_slow_path_total{{result=\"{result}\"}} "),
    )
}

fn lost(ns: &Netns) -> u64 {
    metric(
        ns,
        "tunnelpop_drops_total{reason=\"nat64_slow_path_lost\"} ",
    )
}

/// Bytes no two datagrams share at any offset.
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn non_df_datagrams_too_big_for_the_tunnel_arrive_whole() {
    let mut bed = DaemonBed::on(Namespaces::with_prefix("n64slow").unwrap(), 8, 32).unwrap();
    let d = &bed.daemon;
    d.ok(&[
        "tunnel",
        "add",
        "1",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--prefix",
        "2001:db8:1::/64",
        "--mtu",
        "1280",
    ])
    .unwrap();
    d.ok(&["nat64", "pool6", "set", "2001:db8:64::/96"])
        .unwrap();
    d.ok(&[
        "nat64",
        "eam",
        "add",
        &format!("{USER}/128"),
        &format!("{USER_V4}/32"),
    ])
    .unwrap();
    let (client, pop) = (&bed.ns.client, &bed.ns.pop);
    client
        .ip(&format!("route add 198.51.100.0/24 via {POP_V4}"))
        .unwrap();
    let _peer = Peer6in4::start(
        client,
        &PeerConfig {
            ifname: "tun6in4",
            local: CLIENT_V4,
            remote: POP_V4,
            address: &format!("{USER}/64"),
            mtu: 1280,
        },
    )
    .unwrap();
    let rx = udp_socket(client, SocketAddr::V6(SocketAddrV6::new(USER, PORT, 0, 0))).unwrap();
    let tx = udp_socket(client, SocketAddr::V4(SocketAddrV4::new(CLIENT_V4, 0))).unwrap();
    without_df(&tx).unwrap();
    let to = SocketAddrV4::new(USER_V4, PORT);
    let send_and_receive = |len: usize, seed: u8| {
        let p = payload(len, seed);
        tx.send_to(&p, to).unwrap();
        let mut buf = vec![0u8; 65_536];
        let (n, from) = rx
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("{len} bytes: nothing received: {e}"));
        assert_eq!(
            from,
            SocketAddr::V6(SocketAddrV6::new(host_v6(), from.port(), 0, 0)),
            "{len} bytes: the IPv4 host under pool6"
        );
        assert!(
            buf[..n] == p[..],
            "{len} bytes: received {n}, not the datagram sent"
        );
    };

    // 1,400 bytes of data: 1,456 bytes of IPv6 with its Fragment header,
    // cut into two. 3,000: the sender's kernel makes three IPv4
    // fragments; the two of 1,480 bytes are cut into two each, the last
    // fits the tunnel as it is.
    send_and_receive(1400, 1);
    send_and_receive(3000, 2);
    assert_eq!(slow(pop, "received"), 3);
    assert_eq!(slow(pop, "fragmented"), 3);
    assert_eq!(slow(pop, "sent"), 6);
    for bad in ["malformed", "send_failed", "no_device", "lost"] {
        assert_eq!(slow(pop, bad), 0, "{bad}");
    }
    assert_eq!(
        metric(pop, "tunnelpop_events_total{event=\"nat64_slow_path\"} "),
        3
    );
    assert_eq!(lost(pop), 0);

    // With the daemon stopped nothing reads the rings: a counted drop.
    bed.daemon.stop().unwrap();
    let p = payload(1400, 3);
    tx.send_to(&p, to).unwrap();
    bed.daemon.start().unwrap();
    assert_eq!(lost(pop), 1, "the hand-over without a reader");
    // Restarted on the pinned maps, it reads again.
    send_and_receive(1400, 4);
    assert_eq!(slow(pop, "fragmented"), 1, "counted since the restart");
}

/// The IPv6-only upstream host's mapping.
const UPSTREAM_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// An IPv4 ping from `ns` (the `ping` helper's are IPv6).
fn ping4(ns: &Netns, args: &[&str]) -> Ping {
    let mut argv = vec!["ping", "-4", "-n", "-W", "2"];
    argv.extend_from_slice(args);
    let out = ns.output(&argv).unwrap();
    let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout.push_str(&String::from_utf8_lossy(&out.stderr));
    Ping {
        ok: out.status.success(),
        stdout,
    }
}

/// Every result of the slow path that is no success.
const BAD: [&str; 11] = [
    "malformed",
    "send_failed",
    "no_device",
    "lost",
    "fragment_duplicate",
    "fragment_overlap",
    "fragment_too_big",
    "fragment_expired",
    "fragment_table_full",
    "icmp_bad_checksum",
    "icmp_not_echo",
];

/// `ping -s 3000`: 3,008 bytes of ICMP, fragments each way. The IPv4
/// host's request to the tunnel user: three IPv4 fragments (its link's
/// 1,500), each handed over, the message put back together, translated
/// and cut to the tunnel's 1,280; the user's reply: three IPv6 fragments
/// (its tunnel's 1,280), the same the other way, sent as IPv4 fragments no
/// bigger than those it came in. Then the IPv6-only upstream host pings
/// the IPv4 host under pool6, its reply going out of the uplink in
/// fragments of 1,280.
#[test]
fn fragmented_pings_cross_both_ways() {
    let bed = DaemonBed::on(Namespaces::with_prefix("n64frag").unwrap(), 8, 32).unwrap();
    let d = &bed.daemon;
    d.ok(&[
        "tunnel",
        "add",
        "1",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--prefix",
        "2001:db8:1::/64",
        "--mtu",
        "1280",
    ])
    .unwrap();
    d.ok(&["nat64", "pool6", "set", "2001:db8:64::/96"])
        .unwrap();
    for (v6, v4) in [
        (USER.to_string(), USER_V4),
        (UPSTREAM_V6.to_string(), UPSTREAM_V4),
    ] {
        d.ok(&[
            "nat64",
            "eam",
            "add",
            &format!("{v6}/128"),
            &format!("{v4}/32"),
        ])
        .unwrap();
    }
    let (client, pop, upstream) = (&bed.ns.client, &bed.ns.pop, &bed.ns.upstream);
    client
        .ip(&format!("route add 198.51.100.0/24 via {POP_V4}"))
        .unwrap();
    upstream
        .ip(&format!(
            "-6 route add 2001:db8:64::/96 via {POP_UPLINK_V6}"
        ))
        .unwrap();
    let _peer = Peer6in4::start(
        client,
        &PeerConfig {
            ifname: "tun6in4",
            local: CLIENT_V4,
            remote: POP_V4,
            address: &format!("{USER}/64"),
            mtu: 1280,
        },
    )
    .unwrap();

    // IPv4 host → tunnel user.
    let p = ping4(
        client,
        &["-s", "3000", "-c", "3", "-i", "0.2", &USER_V4.to_string()],
    );
    assert!(
        p.ok && p.received() == 3,
        "IPv4 host → tunnel user:\n{}",
        p.stdout
    );
    // Three requests and three replies, each of three fragments.
    assert_eq!(slow(pop, "received"), 18);
    assert_eq!(slow(pop, "reassembled"), 6);
    // Each message cut again into three: 3,008 bytes in pieces of 1,232.
    assert_eq!(slow(pop, "fragmented"), 6);
    assert_eq!(slow(pop, "sent"), 18);
    for bad in BAD {
        assert_eq!(slow(pop, bad), 0, "{bad}");
    }

    // IPv6-only host → IPv4 host under pool6, through the uplink.
    let p = ping(
        upstream,
        &["-s", "3000", "-c", "3", "-i", "0.2", &host_v6().to_string()],
    )
    .unwrap();
    assert!(
        p.ok && p.received() == 3,
        "IPv6-only host → IPv4 host:\n{}",
        p.stdout
    );
    assert_eq!(slow(pop, "received"), 36);
    assert_eq!(slow(pop, "reassembled"), 12);
    assert_eq!(slow(pop, "fragmented"), 12);
    assert_eq!(slow(pop, "sent"), 36);
    for bad in BAD {
        assert_eq!(slow(pop, bad), 0, "{bad}");
    }
    assert_eq!(
        metric(pop, "tunnelpop_events_total{event=\"nat64_slow_path\"} "),
        36
    );
    assert_eq!(lost(pop), 0);
}
