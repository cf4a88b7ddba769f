//! The operator's demo (`cargo xtask demo`, second part; root): the real
//! `tunnelctl daemon` on the demo namespaces, driven by the real CLI. Each
//! step prints the command and what it answered: add a tunnel, traffic
//! both ways and from the PoP itself, list/stats/proxy list and /metrics, a
//! daemon restart with pings flowing; NAT64 with DNS64 (pool6 and address
//! mappings by the CLI, Unbound with the CLI's snippet): the IPv6-only
//! upstream host and the tunnel user ping and send TCP to an IPv4-only host
//! by name; removal. Then AYIYA: a user behind a
//! NAT runs `tunnelctl client`; pings and TCP both ways, a NAT rebinding,
//! a daemon restart under traffic. `--keep` leaves everything
//! up until Enter, for trying `tunnelctl` by hand. Exits non-zero if a step
//! failed.

use std::{
    io::{Read, Write},
    net::{Ipv6Addr, TcpStream},
    process::{Command, ExitCode, Stdio},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use tunnel_common::nat64::rfc6052;
use tunnel_tests::{
    ayiya_nat::{
        self as nat, forget_mappings, set_masquerade, AyiyaBed, NAT_PUBLIC_V4, PASSWORD, PORTS_A,
        PORTS_B, TUNNEL_PREFIX, USER_V6,
    },
    daemon::{tunnelctl_bin, Daemon},
    dns64::{resolve6, Dns64, AUTH, NAME, ZONE},
    netns::Netns,
    peer6in4::{Peer6in4, PeerConfig},
    topology::{Namespaces, CLIENT_V4, POP_UPLINK_V6, POP_V4, UPSTREAM_V6},
    traffic::{tcp_transfer, tcp_transfer_via},
};
use tunnelctl::{Datapath, DatapathOptions};

const USER: &str = "2001:db8:1::2";
/// NAT64's pool6 (RFC 6052), a documentation prefix: the well-known
/// 64:ff9b::/96 would refuse the documentation IPv4 host (non-global).
const POOL6: &str = "2001:db8:64::/96";
const POOL6_PREFIX: &str = "2001:db8:64::";
const ADD: &[&str] = &[
    "tunnel",
    "add",
    "1",
    "--local",
    "192.0.2.1",
    "--remote",
    "192.0.2.2",
    "--prefix",
    "2001:db8:1::/64",
    "--routed",
    "2001:db8:100::/48",
    "--proxy-ndp",
];

fn main() -> ExitCode {
    let keep = std::env::args().any(|a| a == "--keep");
    match run(keep) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nDAEMON DEMO FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs and prints `tunnelctl <args>`; fails if it does.
fn ctl(d: &Daemon, args: &[&str]) -> Result<String> {
    println!("\n$ tunnelctl {}", args.join(" "));
    let out = d.ok(args)?;
    print!("{}", indent(&out));
    Ok(out)
}

/// `ping` in `ns`; returns the replies received.
fn ping(ns: &Netns, what: &str, args: &[&str]) -> Result<u32> {
    let mut argv = vec!["ping", "-6", "-n", "-q", "-W", "2"];
    argv.extend_from_slice(args);
    let out = ns.output(&argv)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("no summary");
    println!("\n# ping {what}: {summary}");
    let received = summary
        .split(", ")
        .find_map(|f| f.strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Ok(received)
}

fn run(keep: bool) -> Result<()> {
    let ns = Namespaces::new()?;
    // The client and upstream veths need an XDP program for the PoP's
    // redirects to reach them (veth's rule); the daemon runs the PoP.
    let mut peers = Datapath::load(DatapathOptions {
        max_tunnels: 1,
        max_prefixes: 1,
        ..Default::default()
    })?;
    ns.attach_peers(&mut peers)?;
    // The upstream router has the tunnel /64 on-link: it must resolve the
    // user's address, which the PoP's NDP proxy answers.
    ns.upstream.ip("-6 route replace 2001:db8:1::/64 dev u0")?;
    let mut d = Daemon::new(&ns.pop, &["p0", "p1"], 1024, 4096)?;
    d.start()?;
    println!(
        "== tunnelctl daemon running in namespace {} (uplinks p0, p1; config {}/tunnelctl.toml)",
        ns.pop.name(),
        d.dir.display()
    );

    ctl(&d, ADD)?;
    let _peer = Peer6in4::start(
        &ns.client,
        &PeerConfig {
            ifname: "tun6in4",
            local: CLIENT_V4,
            remote: POP_V4,
            address: "2001:db8:1::2/64",
            mtu: 1480,
        },
    )?;
    let mut failed = Vec::new();
    for (what, netns, dst) in [
        (
            "client -> upstream (6in4 decap, XDP)",
            &ns.client,
            UPSTREAM_V6,
        ),
        (
            "upstream -> user (NDP proxy, encap, XDP)",
            &ns.upstream,
            USER,
        ),
        ("the PoP itself -> user (tunnel_tc)", &ns.pop, USER),
    ] {
        if ping(netns, what, &["-c", "3", "-i", "0.2", dst])? != 3 {
            failed.push(what);
        }
    }
    ctl(&d, &["tunnel", "list"])?;
    ctl(&d, &["proxy", "list"])?;
    ctl(&d, &["stats"])?;
    println!("\n$ curl -s 127.0.0.1:9641/metrics | grep 'tunnel=\"1\"'");
    for l in metrics(&ns.pop)?
        .lines()
        .filter(|l| l.contains("tunnel=\"1\""))
    {
        println!("  {l}");
    }

    // A restart while pings flow: the datapath stays attached and pinned.
    println!("\n# restarting the daemon while 300 pings (10 ms apart) flow upstream -> user");
    let flood = spawn_ping(&ns.upstream, &["-c", "300", "-i", "0.01", USER])?;
    std::thread::sleep(Duration::from_millis(500));
    d.stop()?;
    d.start()?;
    let out = flood.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("no summary");
    println!("  {summary}");
    if !summary.contains("300 received") {
        failed.push("no loss across the restart");
    }
    ctl(&d, &["status"])?;

    // Kept until the end: `--keep` lets one resolve by hand.
    let _dns = nat64_dns64(&d, &ns, &mut failed)?;

    if keep {
        hands_on(&d, &ns)?;
    }
    // Its own namespaces and daemon: the 6in4 part's stay as they are.
    ayiya(&mut failed)?;
    ctl(&d, &["tunnel", "remove", "1"])?;
    if ping(
        &ns.client,
        "client -> upstream after removal",
        &["-c", "2", "-i", "0.2", UPSTREAM_V6],
    )? != 0
    {
        failed.push("removal stops traffic");
    }
    if !failed.is_empty() {
        bail!("failed steps: {failed:?}\ndaemon log:\n{}", d.log());
    }
    println!("\n== daemon demo: every step passed");
    Ok(())
}

/// NAT64 with DNS64: the operator sets pool6 and the explicit address
/// mappings with `tunnelctl`, runs Unbound with the snippet `tunnelctl
/// nat64 dns64-config unbound` prints; the IPv6-only upstream host and the
/// tunnel user resolve an A-only name and reach the IPv4-only host (the
/// client namespace's 192.0.2.2) by it: ping and TCP.
fn nat64_dns64(d: &Daemon, ns: &Namespaces, failed: &mut Vec<&'static str>) -> Result<Dns64> {
    println!(
        "\n== NAT64 + DNS64: the IPv6-only host {UPSTREAM_V6} and the tunnel user {USER} \
         reach the IPv4-only host {CLIENT_V4} by name"
    );
    ctl(d, &["nat64", "pool6", "set", POOL6])?;
    println!("\n# a stateless translator: each IPv6 source gets an IPv4 address");
    ctl(
        d,
        &[
            "nat64",
            "eam",
            "add",
            &format!("{UPSTREAM_V6}/128"),
            "198.51.100.2/32",
        ],
    )?;
    ctl(
        d,
        &[
            "nat64",
            "eam",
            "add",
            &format!("{USER}/128"),
            "198.51.100.1/32",
        ],
    )?;
    ctl(d, &["nat64", "eam", "list"])?;
    // The IPv4 host's router and upstream's know the PoP for these.
    ns.upstream
        .ip(&format!("-6 route add {POOL6} via {POP_UPLINK_V6}"))?;
    ns.client
        .ip(&format!("route add 198.51.100.0/24 via {POP_V4}"))?;
    let snippet = ctl(d, &["nat64", "dns64-config", "unbound"])?;
    let upstream: Ipv6Addr = UPSTREAM_V6.parse()?;
    let mut dns = Dns64::start(&ns.upstream, upstream, &[("v4only", CLIENT_V4)], &snippet)?;
    println!(
        "\n# Unbound, DNS64 resolver on [{UPSTREAM_V6}]:53, includes that snippet; \
         the zone {ZONE} (A only: v4only {CLIENT_V4}) is served by a second Unbound on \
         {AUTH} (stub-zone)"
    );
    dns.use_resolver(&ns.upstream, upstream)?;
    dns.use_resolver(&ns.client, upstream)?;
    let want = Ipv6Addr::from(rfc6052::embed(
        &POOL6_PREFIX.parse::<Ipv6Addr>()?.octets(),
        96,
        CLIENT_V4.octets(),
    ));
    for (who, note, netns, src) in [
        ("the IPv6-only host", "", &ns.upstream, UPSTREAM_V6),
        (
            "the tunnel user",
            ", its resolver across the tunnel",
            &ns.client,
            USER,
        ),
    ] {
        println!("\n$ getent ahostsv6 {NAME}   # on {who}{note}");
        let got = resolve6(netns, NAME)?;
        for a in &got {
            println!("  {a}");
        }
        if got != [want] {
            println!("  WRONG: want {want} ({CLIENT_V4} under {POOL6}, RFC 6052)");
            failed.push("dns64 synthesis");
            continue;
        }
        if ping(
            netns,
            &format!("{who} -> {NAME}"),
            &["-c", "3", "-i", "0.2", "-I", src, NAME],
        )? != 3
        {
            failed.push("ping by name through nat64");
        }
        let r = tcp_transfer_via(netns, &ns.client, CLIENT_V4.into(), want.into(), 4 << 20)?;
        println!(
            "\n# TCP {who} -> {NAME} ([{want}]): {} of {} bytes, hashes {}, {:.1} MiB/s",
            r.received,
            r.sent,
            if r.ok() { "equal" } else { "DIFFER" },
            r.mib_per_sec()
        );
        if !r.ok() {
            failed.push("tcp by name through nat64");
        }
    }
    println!("\n$ curl -s 127.0.0.1:9641/metrics | grep nat64 | grep -v ' 0$'");
    for l in metrics(&ns.pop)?
        .lines()
        .filter(|l| l.contains("nat64") && !l.starts_with('#') && !l.ends_with(" 0"))
    {
        println!("  {l}");
    }
    Ok(dns)
}

/// AYIYA: a user behind a masquerading NAT runs `tunnelctl client`;
/// pings and TCP both ways, the NAT's public port changes, the daemon
/// restarts under traffic (`tunnel_tests::ayiya_nat`'s bed).
fn ayiya(failed: &mut Vec<&'static str>) -> Result<()> {
    println!(
        "\n== AYIYA: a user behind a NAT ({} masqueraded as {NAT_PUBLIC_V4}) with `tunnelctl client`",
        nat::CLIENT_V4
    );
    let mut b = AyiyaBed::new()?;
    println!(
        "\n$ tunnelctl tunnel add 1 --kind ayiya --local {} --password {PASSWORD} --prefix {TUNNEL_PREFIX}",
        nat::POP_V4
    );
    ctl(&b.daemon, &["tunnel", "show", "1"])?;
    println!(
        "\n$ tunnelctl client --pop {} --prefix {TUNNEL_PREFIX} --password {PASSWORD} --default-route   # on the user's host",
        nat::POP_V4
    );
    b.start_client(&["--password", PASSWORD])?;
    b.wait_tunnel_up()?;
    let seen = b.wait_endpoint(PORTS_A)?;
    println!("# the PoP learned the NAT's public address and port: {seen}");
    ctl(&b.daemon, &["tunnel", "show", "1"])?;
    for (what, netns, dst) in [
        (
            "user -> upstream (AYIYA decap, XDP)",
            &b.client,
            UPSTREAM_V6,
        ),
        (
            "upstream -> user (AYIYA encap, signed in XDP)",
            &b.upstream,
            USER_V6,
        ),
    ] {
        if ping(netns, what, &["-c", "3", "-i", "0.2", dst])? != 3 {
            failed.push("ayiya ping");
        }
    }
    let (user, up) = (USER_V6.parse()?, UPSTREAM_V6.parse()?);
    for (what, from, to, addr) in [
        ("user -> upstream", &b.client, &b.upstream, up),
        ("upstream -> user", &b.upstream, &b.client, user),
    ] {
        let r = tcp_transfer(from, to, addr, 4 << 20)?;
        println!(
            "\n# TCP {what}: {} of {} bytes, hashes {}, {:.1} MiB/s",
            r.received,
            r.sent,
            if r.ok() { "equal" } else { "DIFFER" },
            r.mib_per_sec()
        );
        if !r.ok() {
            failed.push("ayiya tcp");
        }
    }

    println!("\n# the NAT rebinds: masquerade onto ports 30000-30999, its UDP mappings flushed (conntrack -D)");
    set_masquerade(b.nat(), PORTS_B)?;
    forget_mappings(b.nat());
    if ping(
        &b.client,
        "user -> upstream after the rebinding",
        &["-c", "5", "-i", "0.5", UPSTREAM_V6],
    )? < 4
    {
        failed.push("ayiya after the nat rebinding");
    }
    let moved = b.wait_endpoint(PORTS_B)?;
    println!("# the tunnel followed the user at once: {moved}");

    println!("\n# restarting the daemon while 200 pings (10 ms apart) flow upstream -> user");
    let flood = spawn_ping(&b.upstream, &["-c", "200", "-i", "0.01", USER_V6])?;
    std::thread::sleep(Duration::from_millis(300));
    b.daemon.stop()?;
    b.daemon.start()?;
    let out = flood.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("no summary");
    println!("  {summary}");
    if !summary.contains("200 received") {
        failed.push("ayiya: no loss across the restart");
    }
    ctl(&b.daemon, &["tunnel", "show", "1"])?;
    println!("\n# the client's log:");
    print!("{}", indent(&b.client_log()));
    Ok(())
}

fn spawn_ping(ns: &Netns, args: &[&str]) -> Result<std::process::Child> {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "ping",
            "-6",
            "-n",
            "-q",
            "-W",
            "2",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting ping")
}

/// GET /metrics inside `ns`.
fn metrics(ns: &Netns) -> Result<String> {
    let _in = ns.enter()?;
    let mut s = TcpStream::connect("127.0.0.1:9641")?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: demo\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// Prints how to drive the running demo by hand, then waits for Enter.
fn hands_on(d: &Daemon, ns: &Namespaces) -> Result<()> {
    let bin = tunnelctl_bin()?;
    println!(
        "\n== The demo is up. In another shell:\n\
         export TUNNELCTL_SOCKET={}\n\
         {bin} tunnel list\n\
         {bin} tunnel add 2 --local 192.0.2.1 --remote 192.0.2.3 --prefix 2001:db8:2::/64\n\
         {bin} stats; {bin} proxy list; {bin} status\n\
         ip netns exec {} ping -6 {USER}\n\
         ip netns exec {} ping -6 {NAME}   # NAT64 + DNS64\n\
         ip netns exec {} curl -s 127.0.0.1:9641/metrics\n\
         Press Enter here to remove tunnel 1 and tear everything down.",
        d.socket.display(),
        ns.upstream.name(),
        ns.upstream.name(),
        ns.pop.name(),
        bin = bin.display(),
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(())
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}
