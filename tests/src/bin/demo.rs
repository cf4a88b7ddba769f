//! Demo of the PoP (`cargo xtask demo`, root): builds the 6in4 test bed,
//! pings both ways, moves a few MB over TCP both ways through the XDP data
//! path, and prints what happened with the datapath's own counters. Exits
//! non-zero if any step failed, so it doubles as a smoke test.

use std::{net::Ipv6Addr, process::ExitCode};

use anyhow::Result;
use tunnel_common::stats::{Drop, Event};
use tunnel_tests::{
    topology::{
        Testbed, CLIENT_V4, POP_UPLINK_V6, POP_V4, ROUTED_PREFIX, TUNNEL_ID, TUNNEL_PREFIX,
        UPSTREAM_V6,
    },
    traffic::{ping, start_client_peer, tcp_transfer},
};

const MTU: u16 = 1480;
const PINGS: &str = "5";
const TRANSFER_BYTES: usize = 4 << 20;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            println!("\nDEMO FAILED (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Ok(false) when traffic failed but the report could still be printed.
fn run() -> Result<bool> {
    let mut tb = Testbed::new(MTU)?;
    let peer = start_client_peer(&tb, MTU)?;
    let user = tb.user_address();
    println!("== Topology (network namespaces)");
    println!(
        "  client {}: c0 {CLIENT_V4}/24, 6in4 peer on tun6in4 {user}/64",
        tb.client.name()
    );
    println!(
        "  pop    {}: p0 {POP_V4}/24, p1 {POP_UPLINK_V6}/64, XDP tunnel_xdp on p0 and p1",
        tb.pop.name()
    );
    println!("  upstream {}: u0 {UPSTREAM_V6}/64", tb.upstream.name());
    println!("  tunnel {TUNNEL_ID}: {POP_V4} <-> {CLIENT_V4}, {TUNNEL_PREFIX} (PoP {}), routed {ROUTED_PREFIX}, MTU {MTU}", tb.pop_address());

    let mut ok = true;
    let user_s = user.to_string();
    for (what, ns, dst) in [
        ("client -> upstream", &tb.client, UPSTREAM_V6),
        ("upstream -> client", &tb.upstream, &user_s),
    ] {
        let p = ping(ns, &["-c", PINGS, "-i", "0.2", dst])?;
        println!("\n== ping {what} ({dst})\n{}", indent(&p.summary()));
        ok &= p.ok;
    }

    let upstream: Ipv6Addr = UPSTREAM_V6.parse()?;
    println!(
        "\n== TCP transfer, {} MiB each way, FNV-1a of the bytes at both ends",
        TRANSFER_BYTES >> 20
    );
    for (what, from, to, addr) in [
        ("client -> upstream", &tb.client, &tb.upstream, upstream),
        ("upstream -> client", &tb.upstream, &tb.client, user),
    ] {
        match tcp_transfer(from, to, addr, TRANSFER_BYTES) {
            Ok(r) => {
                let verdict = if r.ok() {
                    "hash match"
                } else {
                    "HASH MISMATCH"
                };
                println!(
                    "  {what}: {:.1} MB in {:.2} s ({:.1} MiB/s), {verdict} ({:016x})",
                    r.received as f64 / 1e6,
                    r.elapsed.as_secs_f64(),
                    r.mib_per_sec(),
                    r.received_hash
                );
                ok &= r.ok();
            }
            Err(e) => {
                println!("  {what}: FAILED: {e:#}");
                ok = false;
            }
        }
    }

    let t = tb.dp.tunnel_counters(TUNNEL_ID)?;
    println!("\n== Tunnel {TUNNEL_ID} counters (inner IPv6 bytes)");
    println!(
        "  rx (from user): {} packets, {} bytes",
        t.rx_packets, t.rx_bytes
    );
    println!(
        "  tx (to user):   {} packets, {} bytes",
        t.tx_packets, t.tx_bytes
    );
    let c = tb.dp.counters()?;
    println!("\n== Events (non-zero)");
    for e in Event::ALL.iter().filter(|e| c.event(**e) > 0) {
        println!("  {:<20} {}", e.name(), c.event(*e));
    }
    println!("\n== Drops (non-zero)");
    let drops: Vec<&Drop> = Drop::ALL.iter().filter(|d| c.drop(**d) > 0).collect();
    if drops.is_empty() {
        println!("  none");
    }
    for d in drops {
        // The peer's own router solicitations and MLD reports are
        // link-local: expected, and not forwarded by design.
        let note = if *d == Drop::LinkScope {
            "  (the peer's RS/MLD chatter)"
        } else {
            ""
        };
        println!("  {:<20} {}{note}", d.name(), c.drop(*d));
    }
    peer.stop()?;
    Ok(ok)
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
