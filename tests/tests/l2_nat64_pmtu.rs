//! L2: path MTU through the stateless NAT64 (issue 11), on a network whose
//! neighbours every kernel resolves itself:
//!
//! ```text
//!  upstream u0 ── p1 pop p0 ── r0 router r1 ── h0 v4host
//!                                        r2 ── c0 client ── tun6in4 (the user)
//!
//!  upstream  2001:db8:ffff::2/64, the IPv6-only host (EAM 198.51.100.2)
//!  pop       p1 2001:db8:ffff::1/64, p0 192.0.2.1/24; the daemon on p0, p1
//!  router    r0 192.0.2.254/24, r1 203.0.113.1/25, r2 203.0.113.129/25
//!  v4host    h0 203.0.113.2/25, the IPv4-only host
//!  client    c0 203.0.113.130/25, the 6in4 peer of tunnel 1; its user
//!            2001:db8:1::2 (EAM 198.51.100.1) on tun6in4
//! ```
//! pool6 is 2001:db8:64::/96, set with the CLI as an operator would. The
//! IPv4 MTU that matters is a hop beyond the PoP: the router's route
//! toward v4host carries an `mtu` (a PPPoE or tunnel hop in the middle of
//! the IPv4 path). On v4host's own link it would not do: v4host would
//! advertise the smaller MSS and TCP would never send what does not fit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tunnel_common::nat64::rfc6052;
use tunnel_tests::{
    daemon::{metrics, Daemon},
    icmp6watch::{Icmp6Watch, Ptb},
    netns::{veth, Netns},
    pass,
    peer6in4::{Peer6in4, PeerConfig},
    traffic::tcp_transfer_via,
};

const POOL6: &str = "2001:db8:64::/96";
const UPSTREAM: &str = "2001:db8:ffff::2";
const USER: &str = "2001:db8:1::2";
const UPSTREAM_MAPPED: &str = "198.51.100.2";
const USER_MAPPED: &str = "198.51.100.1";
const POP_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const V4HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 130);
/// Enough segments for PMTUD to matter, little enough for the VM.
const BYTES: usize = 256 << 10;

/// Field order is drop order: the peer and the daemon before the
/// namespaces.
struct Net {
    peer: Option<Peer6in4>,
    _daemon: Daemon,
    upstream: Netns,
    pop: Netns,
    router: Netns,
    v4host: Netns,
    client: Netns,
}

/// The network with the daemon running: tunnel 1 (MTU `tunnel_mtu`, set
/// at creation), pool6 and both mappings, routes on every side.
fn net(tunnel_mtu: u16) -> Net {
    let upstream = Netns::new("upstream").unwrap();
    let pop = Netns::new("pop").unwrap();
    let router = Netns::new("router").unwrap();
    let v4host = Netns::new("v4host").unwrap();
    let client = Netns::new("client").unwrap();
    veth(&upstream, "u0", &pop, "p1").unwrap();
    veth(&pop, "p0", &router, "r0").unwrap();
    veth(&router, "r1", &v4host, "h0").unwrap();
    veth(&router, "r2", &client, "c0").unwrap();
    pop.sysctl("net.ipv4.ip_forward", "1").unwrap();
    pop.sysctl("net.ipv6.conf.all.forwarding", "1").unwrap();
    router.sysctl("net.ipv4.ip_forward", "1").unwrap();
    let ip = |ns: &Netns, cmds: &[&str]| {
        for c in cmds {
            ns.ip(c).unwrap();
        }
    };
    ip(
        &upstream,
        &[
            &format!("-6 addr add {UPSTREAM}/64 dev u0 nodad"),
            &format!("-6 route add {POOL6} via 2001:db8:ffff::1"),
        ],
    );
    ip(
        &pop,
        &[
            "-6 addr add 2001:db8:ffff::1/64 dev p1 nodad",
            "addr add 192.0.2.1/24 dev p0",
            "route add 203.0.113.0/24 via 192.0.2.254",
        ],
    );
    ip(
        &router,
        &[
            "addr add 192.0.2.254/24 dev r0",
            "addr add 203.0.113.1/25 dev r1",
            "addr add 203.0.113.129/25 dev r2",
            "route add 198.51.100.0/24 via 192.0.2.1",
        ],
    );
    ip(
        &v4host,
        &[
            "addr add 203.0.113.2/25 dev h0",
            "route add default via 203.0.113.1",
        ],
    );
    ip(
        &client,
        &[
            "addr add 203.0.113.130/25 dev c0",
            "route add default via 203.0.113.129",
        ],
    );

    // What the PoP sends with XDP (redirects, XDP_TX) reaches a veth only
    // if its peer runs a program.
    pass::attach(&upstream, "u0").unwrap();
    pass::attach(&router, "r0").unwrap();

    let mut daemon = Daemon::new(&pop, &["p0", "p1"], 8, 32).unwrap();
    daemon.start().unwrap();
    let mtu = tunnel_mtu.to_string();
    for cmd in [
        &[
            "tunnel",
            "add",
            "1",
            "--local",
            "192.0.2.1",
            "--remote",
            "203.0.113.130",
            "--prefix",
            "2001:db8:1::/64",
            "--mtu",
            &mtu,
        ][..],
        &["nat64", "pool6", "set", POOL6],
        &[
            "nat64",
            "eam",
            "add",
            &format!("{UPSTREAM}/128"),
            &format!("{UPSTREAM_MAPPED}/32"),
        ],
        &[
            "nat64",
            "eam",
            "add",
            &format!("{USER}/128"),
            &format!("{USER_MAPPED}/32"),
        ],
    ] {
        daemon.ok(cmd).unwrap();
    }
    Net {
        peer: None,
        _daemon: daemon,
        upstream,
        pop,
        router,
        v4host,
        client,
    }
}

impl Net {
    /// The router's route toward v4host, with `mtu`.
    fn ipv4_hop_mtu(&self, mtu: u16) {
        self.router
            .ip(&format!(
                "route replace 203.0.113.0/25 dev r1 proto kernel scope link src 203.0.113.1 mtu {mtu}"
            ))
            .unwrap();
    }

    /// `tunnelpop_events_total{event=...}` or `tunnelpop_drops_total{reason=...}`.
    fn metric(&self, family: &str, label: &str, name: &str) -> u64 {
        let m = metrics(&self.pop);
        let key = format!("tunnelpop_{family}_total{{{label}=\"{name}\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} not on /metrics:\n{m}"))
    }

    fn event(&self, name: &str) -> u64 {
        self.metric("events", "event", name)
    }
}

/// v4host as IPv6 hosts reach it: RFC 6052 under pool6 (/96: the last 32
/// bits).
fn v4host_v6() -> Ipv6Addr {
    let pool: Ipv6Addr = "2001:db8:64::".parse().unwrap();
    Ipv6Addr::from(rfc6052::embed(&pool.octets(), 96, V4HOST.octets()))
}

/// The path MTU `ip route get` shows for `dst` in `ns` (a learned one
/// appears as `mtu N` on the route or its cache line), or None.
fn route_mtu(ns: &Netns, dst: &str) -> Option<u32> {
    let out = ns.run(&["ip", "route", "get", dst]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "mtu" {
            return words.next().and_then(|n| n.parse().ok());
        }
    }
    None
}

/// One counter of `ip netns exec <ns> cat /proc/net/snmp` (`Ip`, `ReasmOKs`).
fn snmp(ns: &Netns, group: &str, field: &str) -> u64 {
    let out = ns.run(&["cat", "/proc/net/snmp"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let prefix = format!("{group}:");
    let mut rows = text.lines().filter(|l| l.starts_with(&prefix));
    let (names, values) = (rows.next().unwrap(), rows.next().unwrap());
    let at = names.split_whitespace().position(|n| n == field).unwrap();
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

/// An IPv4 hop of MTU 1400 beyond the PoP, then one of 1000.
///
/// 1400: the router answers the translated 1480-byte segments (DF, RFC
/// 7915 §5.1: above 1260 bytes) with Fragmentation Needed, MTU 1400; the
/// translator makes it a Packet Too Big of 1420 (RFC 7915 §4.2: + 20)
/// with the quoted packet translated back to what the IPv6 host sent; the
/// IPv6 host learns 1420 and the transfer completes.
///
/// 1000: 1020 would be below the IPv6 minimum MTU, and RFC 8201 §4 says a
/// host receiving a Packet Too Big below 1280 discards it (Linux does: a
/// translator that passed 1020 on stalled this transfer, the host's
/// learned MTU staying 1420) and never goes below 1280 anyway: a black
/// hole. So the translator says 1280 (the same
/// floor as RFC 7915 §4.2's plateau rule for an MTU of 0); the host sends
/// 1280-byte packets, whose 1260-byte translations go without DF (RFC
/// 7915 §5.1), and the router fragments them: v4host reassembles.
#[test]
fn small_ipv4_mtu_beyond_the_pop() {
    let net = net(1480);
    let mut watch = Icmp6Watch::open(&net.upstream).unwrap();
    let to = v4host_v6();
    let upstream: Ipv6Addr = UPSTREAM.parse().unwrap();
    assert_eq!(route_mtu(&net.upstream, &to.to_string()), None, "fresh");

    net.ipv4_hop_mtu(1400);
    let errors_before = net.event("nat64_error_4to6");
    let t = tcp_transfer_via(
        &net.upstream,
        &net.v4host,
        IpAddr::V4(V4HOST),
        IpAddr::V6(to),
        BYTES,
    )
    .unwrap();
    assert!(t.ok(), "IPv6 → IPv4 across the 1400 hop: {t:?}");
    let ptbs = watch.take_ptbs().unwrap();
    assert!(!ptbs.is_empty(), "no Packet Too Big reached the IPv6 host");
    for p in &ptbs {
        assert_eq!(
            *p,
            Ptb {
                mtu: 1420,
                quoted: (upstream, to, 6)
            }
        );
    }
    assert_eq!(route_mtu(&net.upstream, &to.to_string()), Some(1420));
    let errors = net.event("nat64_error_4to6") - errors_before;
    assert!(
        errors >= ptbs.len() as u64,
        "{errors} errors translated, {} Packet Too Big received",
        ptbs.len()
    );

    // Below what IPv6 allows: the 1420-byte packets now meet a 1000 hop.
    net.ipv4_hop_mtu(1000);
    let reasm_before = snmp(&net.v4host, "Ip", "ReasmOKs");
    let t = tcp_transfer_via(
        &net.upstream,
        &net.v4host,
        IpAddr::V4(V4HOST),
        IpAddr::V6(to),
        BYTES,
    );
    let ptbs = watch.take_ptbs().unwrap();
    let learned = route_mtu(&net.upstream, &to.to_string());
    let t = t.unwrap_or_else(|e| {
        panic!("IPv6 → IPv4 across the 1000 hop: {e:#}; Packet Too Big seen: {ptbs:?}; learned: {learned:?}")
    });
    assert!(t.ok(), "IPv6 → IPv4 across the 1000 hop: {t:?}");
    assert!(!ptbs.is_empty(), "no Packet Too Big reached the IPv6 host");
    for p in &ptbs {
        assert_eq!(
            *p,
            Ptb {
                mtu: 1280,
                quoted: (upstream, to, 6)
            }
        );
    }
    assert_eq!(route_mtu(&net.upstream, &to.to_string()), Some(1280));
    assert!(
        snmp(&net.v4host, "Ip", "ReasmOKs") > reasm_before,
        "the router fragmented nothing: were the 1260-byte translations sent with DF?"
    );
    assert_eq!(net.metric("drops", "reason", "nat64_icmp_dropped"), 0);
}

/// Tunnel 1 has MTU 1280 (set at creation); its user's side thinks 1480,
/// a mismatch PMTUD must cover. An IPv4 packet with DF that would be 1281
/// bytes once translated gets Fragmentation Needed, MTU 1260, from the
/// tunnel's local address (RFC 7915 §4; Jool's issue #442); one of exactly
/// 1280 passes. A TCP transfer from v4host then learns the same on its own.
#[test]
fn tunnel_mtu_toward_a_tunnel_user() {
    let mut net = net(1280);
    net.peer = Some(
        Peer6in4::start(
            &net.client,
            &PeerConfig {
                ifname: "tun6in4",
                local: CLIENT_V4,
                remote: POP_V4,
                address: &format!("{USER}/64"),
                mtu: 1480,
            },
        )
        .unwrap(),
    );
    let h = &net.v4host;
    let ping = |size: u16| {
        let out = h
            .output(&[
                "ping",
                "-4",
                "-n",
                "-c",
                "1",
                "-W",
                "3",
                "-M",
                "do",
                "-s",
                &size.to_string(),
                USER_MAPPED,
            ])
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let sent_before = net.event("nat64_icmp4_sent");

    // 1233 bytes of data: 1261 as IPv4, 1281 as IPv6. One too many.
    let out = ping(1233);
    assert!(
        out.contains(&format!(
            "From {POP_V4} icmp_seq=1 Frag needed and DF set (mtu = 1260)"
        )),
        "{out}"
    );
    assert_eq!(route_mtu(h, USER_MAPPED), Some(1260));
    assert_eq!(net.event("nat64_icmp4_sent"), sent_before + 1);
    assert_eq!(net.metric("drops", "reason", "nat64_too_big"), 0);
    // 1232: exactly the tunnel's 1280 once translated.
    let out = ping(1232);
    assert!(out.contains(" 1 received"), "{out}");

    // TCP learns it by itself: the user advertises an MSS for 1480, so
    // v4host's first full segments are 1460 bytes.
    h.ip("route flush cache").unwrap();
    assert_eq!(route_mtu(h, USER_MAPPED), None, "cache flushed");
    let t = tcp_transfer_via(
        h,
        &net.client,
        IpAddr::V6(USER.parse().unwrap()),
        USER_MAPPED.parse().unwrap(),
        BYTES,
    )
    .unwrap();
    assert!(t.ok(), "IPv4 → tunnel user: {t:?}");
    assert_eq!(route_mtu(h, USER_MAPPED), Some(1260));
    assert!(net.event("nat64_icmp4_sent") > sent_before + 1);
    assert_eq!(net.metric("drops", "reason", "nat64_too_big"), 0);
}
