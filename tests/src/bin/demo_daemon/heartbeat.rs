//! The heartbeat part: a 6in4 user behind a NAT whose public address
//! changes keeps its tunnel with signed beats (`tunnelctl client --kind
//! heartbeat`); the daemon's latency pings fill `tunnel list`; once the
//! user is gone the tunnel goes down and traffic toward it gets ICMPv6
//! "no route" (`tunnel_tests::ayiya_nat`'s heartbeat bed).

use anyhow::Result;
use tunnel_tests::ayiya_nat::{
    AyiyaBed, CLIENT_V4, HEARTBEAT_PORT, NAT_PUBLIC_V4, NAT_PUBLIC_V4_B, PASSWORD, POP_V4,
    TUNNEL_PREFIX, UPSTREAM_V6, USER_V6,
};

use crate::common::{ctl, indent, ping, ping_shown, plain, wait_until};

/// Seconds: the shortest the config takes, so the demo sees the pinger
/// and the liveness timeout at work (defaults: 60 and 120).
const PING_INTERVAL: &str = "10";
const LIVENESS_TIMEOUT: &str = "10";

pub fn heartbeat(failed: &mut Vec<&'static str>) -> Result<()> {
    println!(
        "\n== Heartbeat: a 6in4 user behind a NAT ({CLIENT_V4} masqueraded as {NAT_PUBLIC_V4}) \
         with `tunnelctl client --kind heartbeat`; the NAT's address changes"
    );
    let mut b = AyiyaBed::new_heartbeat()?;
    b.daemon.stop()?;
    b.daemon.config_with(
        "tunnelctl.toml",
        &[
            ("ping_interval", PING_INTERVAL),
            ("liveness_timeout", LIVENESS_TIMEOUT),
        ],
    )?;
    b.daemon.start()?;
    println!(
        "\n# config: heartbeat_listen = \"0.0.0.0:{HEARTBEAT_PORT}\", \
         ping_interval = {PING_INTERVAL}, liveness_timeout = {LIVENESS_TIMEOUT}"
    );
    println!(
        "\n$ tunnelctl tunnel add 1 --kind heartbeat --local {POP_V4} --password {PASSWORD} --prefix {TUNNEL_PREFIX}"
    );
    ctl(&b.daemon, &["tunnel", "show", "1"])?;
    if b.state()? != "down" {
        failed.push("heartbeat: down before its user");
    }

    println!(
        "\n$ tunnelctl client --pop {POP_V4} --kind heartbeat --prefix {TUNNEL_PREFIX} \
         --password {PASSWORD} --default-route   # on the user's host, a beat every 2 s here"
    );
    b.start_client(&["--kind", "heartbeat", "--password", PASSWORD])?;
    b.wait_endpoint_ip(NAT_PUBLIC_V4)?;
    b.wait_tunnel_up()?;
    println!("# the PoP learned the NAT's public address from a beat: proto-41 goes there");
    ctl(&b.daemon, &["tunnel", "show", "1"])?;
    both_ways(&b, "", failed)?;

    println!(
        "\n# the NAT gets a new public address, {NAT_PUBLIC_V4_B} (the old one deleted, \
         as after a new lease upstream)"
    );
    b.renumber_nat(NAT_PUBLIC_V4_B)?;
    let ep = b.wait_endpoint_ip(NAT_PUBLIC_V4_B)?;
    println!("# the next beat moved the tunnel: endpoint {ep}");
    both_ways(&b, " after the change", failed)?;

    println!("\n# waiting for the daemon's latency ping (::1 -> ::2 of every up tunnel)");
    // Up to a liveness check for the tunnel to count as up, then up to an
    // interval for its turn, then the reply time: 40 s as l2_liveness.
    let answered = wait_until(40, || {
        Ok(show(&b)?["latency"]["received"].as_u64().unwrap_or(0) >= 1)
    })?;
    match answered {
        Some(t) => println!("# answered, {:.0} s later", t.as_secs_f64()),
        None => failed.push("heartbeat: a latency ping answered"),
    }
    // Tunnel 1's row has a loss figure once a ping was read ("-" before).
    let list = ctl(&b.daemon, &["tunnel", "list"])?;
    if !list.lines().any(|l| l.starts_with("1 ") && l.contains('%')) {
        failed.push("heartbeat: latency in tunnel list");
    }

    println!("\n# the user goes away: its client stopped, no more beats");
    if let Some(mut c) = b.client_proc.take() {
        c.stop()?;
    }
    match wait_until(30, || Ok(b.state()? == "down"))? {
        Some(t) => println!("# down {:.0} s later", t.as_secs_f64()),
        None => failed.push("heartbeat: down after the liveness timeout"),
    }
    ctl(&b.daemon, &["tunnel", "list"])?;
    let out = ping_shown(&b.upstream, "upstream -> user, tunnel down", USER_V6)?;
    if !out.contains("Destination unreachable: No route") {
        failed.push("heartbeat: icmpv6 no route (code 0) toward a down tunnel");
    }
    println!("\n# the daemon's log:");
    let log = plain(&b.daemon.log());
    let said = log
        .lines()
        .filter(|l| l.contains("tunnel 1:") || l.contains("tunnel state changed"));
    print!("{}", indent(&said.collect::<Vec<_>>().join("\n")));
    Ok(())
}

/// Pings user -> upstream and upstream -> user through the tunnel.
fn both_ways(b: &AyiyaBed, when: &str, failed: &mut Vec<&'static str>) -> Result<()> {
    for (what, netns, dst) in [
        ("user -> upstream (6in4 decap, XDP)", &b.client, UPSTREAM_V6),
        (
            "upstream -> user (encap to the learned address)",
            &b.upstream,
            USER_V6,
        ),
    ] {
        if ping(
            netns,
            &format!("{what}{when}"),
            &["-c", "3", "-i", "0.2", dst],
        )? != 3
        {
            failed.push("heartbeat ping");
        }
    }
    Ok(())
}

fn show(b: &AyiyaBed) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(
        &b.daemon.ok(&["tunnel", "show", "1", "--json"])?,
    )?)
}
