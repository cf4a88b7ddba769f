//! L2: DNS64 in front of the stateless NAT64 (issue 11). The real daemon
//! and CLI on the 6in4 test bed's namespaces (`dns64-*`): pool6
//! 2001:db8:64::/96 and the explicit address mappings set with `tunnelctl
//! nat64`, Unbound as DNS64 resolver (on upstream's 2001:db8:ffff::2)
//! configured with what `tunnelctl nat64 dns64-config unbound` prints, and
//! a second Unbound authoritative for an A-only zone (`tunnel_tests::dns64`).
//! An IPv6-only host (upstream) and a tunnel user (the client's 6in4 peer)
//! resolve `v4only.example.test` (A 192.0.2.2, the client's IPv4 address)
//! to its synthesized AAAA and reach it by name: ping and TCP.
//!
//! Needs root and Debian's `unbound` (scripts/setup.sh); `cargo xtask vm`
//! copies the host's into the image for this test.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use tunnel_common::nat64::rfc6052;
use tunnel_tests::{
    daemon::{metrics, DaemonBed},
    dns64::{self, query, resolve6, Dns64, NAME, TYPE_A, TYPE_AAAA},
    peer6in4::{Peer6in4, PeerConfig},
    topology::{Namespaces, CLIENT_V4, POP_UPLINK_V6, POP_V4, UPSTREAM_V6},
    traffic::{ping, tcp_transfer_via},
};

const POOL6: &str = "2001:db8:64::/96";
const USER: &str = "2001:db8:1::2";
const BYTES: usize = 2 << 20;

/// Field order is drop order: the resolvers (and their resolv.conf files)
/// before the daemon and the namespaces.
struct Bed {
    dns: Dns64,
    bed: DaemonBed,
}

/// What RFC 6052 makes of the IPv4 host under pool6: the only right AAAA.
fn host_v6() -> Ipv6Addr {
    let pool: Ipv6Addr = "2001:db8:64::".parse().unwrap();
    Ipv6Addr::from(rfc6052::embed(&pool.octets(), 96, CLIENT_V4.octets()))
}

fn upstream() -> Ipv6Addr {
    UPSTREAM_V6.parse().unwrap()
}

/// `tunnelpop_events_total{event="<event>"}` on the daemon's /metrics.
fn event(b: &Bed, event: &str) -> u64 {
    let m = metrics(&b.bed.ns.pop);
    let key = format!("tunnelpop_events_total{{event=\"{event}\"}} ");
    m.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} not on /metrics:\n{m}"))
}

/// The daemon with tunnel 1 and NAT64 configured as an operator would,
/// both sides routed to the PoP, and the DNS64 resolver running with the
/// CLI's snippet.
fn bed() -> Bed {
    let bed = DaemonBed::on(Namespaces::with_prefix("dns64").unwrap(), 8, 32).unwrap();
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
    ])
    .unwrap();
    d.ok(&["nat64", "pool6", "set", POOL6]).unwrap();
    // A stateless translator needs an IPv4 address for every IPv6 source.
    d.ok(&[
        "nat64",
        "eam",
        "add",
        &format!("{UPSTREAM_V6}/128"),
        "198.51.100.2/32",
    ])
    .unwrap();
    d.ok(&[
        "nat64",
        "eam",
        "add",
        &format!("{USER}/128"),
        "198.51.100.1/32",
    ])
    .unwrap();
    let ns = &bed.ns;
    ns.upstream
        .ip(&format!("-6 route add {POOL6} via {POP_UPLINK_V6}"))
        .unwrap();
    ns.client
        .ip(&format!("route add 198.51.100.0/24 via {POP_V4}"))
        .unwrap();

    let snippet = d.ok(&["nat64", "dns64-config", "unbound"]).unwrap();
    assert!(
        snippet.contains(&format!("dns64-prefix: {POOL6}")),
        "{snippet}"
    );
    let dns = Dns64::start(&ns.upstream, upstream(), &[("v4only", CLIENT_V4)], &snippet)
        .expect("unbound (DNS64 resolver and the zone's server)");
    Bed { dns, bed }
}

#[test]
fn ipv6_only_host_reaches_ipv4_host_by_name() {
    let mut b = bed();
    let up = &b.bed.ns.upstream;
    let resolver = SocketAddr::from((upstream(), 53));

    // The zone is A-only: its server has no AAAA for the name.
    let auth = Dns64::authoritative();
    let a = query(up, auth, NAME, TYPE_A).unwrap();
    assert_eq!(
        (a.rcode, a.addrs),
        (0, vec![IpAddr::from(CLIENT_V4)]),
        "A from the zone's server"
    );
    let none = query(up, auth, NAME, TYPE_AAAA).unwrap();
    assert_eq!((none.rcode, none.addrs), (0, vec![]), "no AAAA in the zone");

    // The resolver synthesizes the one AAAA under pool6.
    let aaaa = query(up, resolver, NAME, TYPE_AAAA).unwrap();
    assert_eq!(
        (aaaa.rcode, aaaa.addrs),
        (0, vec![IpAddr::from(host_v6())]),
        "synthesized AAAA\n{}",
        b.dns.logs()
    );
    // A name outside the zone stays unknown.
    let nx = query(up, resolver, &format!("nope.{}", dns64::ZONE), TYPE_AAAA).unwrap();
    assert_eq!((nx.rcode, nx.addrs), (3, vec![]), "NXDOMAIN");

    // What programs get through glibc, and traffic by name.
    b.dns.use_resolver(up, upstream()).unwrap();
    assert_eq!(resolve6(up, NAME).unwrap(), [host_v6()]);
    let before = event(&b, "nat64_6to4");
    let p = ping(up, &["-c", "3", "-i", "0.2", NAME]).unwrap();
    assert!(
        p.received() == 3 && p.stdout.contains(&host_v6().to_string()),
        "ping {NAME} from the IPv6-only host:\n{}",
        p.stdout
    );
    assert!(event(&b, "nat64_6to4") >= before + 3, "translated");

    let t = tcp_transfer_via(
        up,
        &b.bed.ns.client,
        IpAddr::from(CLIENT_V4),
        IpAddr::from(resolve6(up, NAME).unwrap()[0]),
        BYTES,
    )
    .unwrap();
    assert!(t.ok(), "TCP to {NAME}: {t:?}");
}

#[test]
fn tunnel_user_reaches_ipv4_host_by_name() {
    let mut b = bed();
    let client = &b.bed.ns.client;
    let _peer = Peer6in4::start(
        client,
        &PeerConfig {
            ifname: "tun6in4",
            local: CLIENT_V4,
            remote: POP_V4,
            address: &format!("{USER}/64"),
            mtu: 1480,
        },
    )
    .unwrap();
    // The user's resolver is across the tunnel, upstream.
    b.dns.use_resolver(client, upstream()).unwrap();
    let got = resolve6(client, NAME).unwrap_or_else(|e| panic!("{e:#}\n{}", b.dns.logs()));
    assert_eq!(got, [host_v6()]);

    let before = event(&b, "nat64_into_tunnel");
    let p = ping(client, &["-c", "3", "-i", "0.2", "-I", USER, NAME]).unwrap();
    assert!(
        p.received() == 3 && p.stdout.contains(&host_v6().to_string()),
        "ping {NAME} from the tunnel user:\n{}",
        p.stdout
    );
    assert!(
        event(&b, "nat64_into_tunnel") >= before + 3,
        "replies translated into the tunnel"
    );

    // The user's socket sends from its tunnel address (the default route
    // is the tunnel); the IPv4 host answers 198.51.100.1.
    let t = tcp_transfer_via(
        client,
        client,
        IpAddr::from(CLIENT_V4),
        IpAddr::from(got[0]),
        BYTES,
    )
    .unwrap();
    assert!(t.ok(), "TCP from the tunnel user to {NAME}: {t:?}");
}
