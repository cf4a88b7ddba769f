//! The NAT64 + DNS64 part, on the 6in4 part's namespaces and daemon.

use std::net::Ipv6Addr;

use anyhow::Result;
use tunnel_common::nat64::rfc6052;
use tunnel_tests::{
    daemon::Daemon,
    dns64::{resolve6, Dns64, AUTH, NAME, ZONE},
    topology::{Namespaces, CLIENT_V4, POP_UPLINK_V6, POP_V4, UPSTREAM_V6},
    traffic::tcp_transfer_via,
};

use crate::{
    common::{ctl, metrics, ping},
    sixin4::USER,
};

/// NAT64's pool6 (RFC 6052), a documentation prefix: the well-known
/// 64:ff9b::/96 would refuse the documentation IPv4 host (non-global).
const POOL6: &str = "2001:db8:64::/96";
const POOL6_PREFIX: &str = "2001:db8:64::";

/// NAT64 with DNS64: the operator sets pool6 and the explicit address
/// mappings with `tunnelctl`, runs Unbound with the snippet `tunnelctl
/// nat64 dns64-config unbound` prints; the IPv6-only upstream host and the
/// tunnel user resolve an A-only name and reach the IPv4-only host (the
/// client namespace's 192.0.2.2) by it: ping and TCP.
pub fn nat64_dns64(d: &Daemon, ns: &Namespaces, failed: &mut Vec<&'static str>) -> Result<Dns64> {
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
