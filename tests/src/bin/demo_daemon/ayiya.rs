//! The AYIYA part: its own namespaces and daemon (`tunnel_tests::ayiya_nat`).

use std::time::Duration;

use anyhow::Result;
use tunnel_tests::ayiya_nat::{
    self as nat, forget_mappings, set_masquerade, AyiyaBed, NAT_PUBLIC_V4, PASSWORD, PORTS_A,
    PORTS_B, TUNNEL_PREFIX, USER_V6,
};
use tunnel_tests::{topology::UPSTREAM_V6, traffic::tcp_transfer};

use crate::common::{ctl, indent, ping, spawn_ping};

/// AYIYA: a user behind a masquerading NAT runs `tunnelctl client`;
/// pings and TCP both ways, the NAT's public port changes, the daemon
/// restarts under traffic (`tunnel_tests::ayiya_nat`'s bed).
pub fn ayiya(failed: &mut Vec<&'static str>) -> Result<()> {
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
