//! The HE-style router part: a static 6in4 tunnel whose user's IPv4
//! address changes; the router tells the PoP with `/nic/update` (curl, as
//! ddclient or OpenWrt's 6in4 would) and its traffic follows. Its own
//! namespaces (`topology`'s drawing) and daemon, with `update_listen`.

use anyhow::{Context, Result};
use tunnel_tests::{
    daemon::DaemonBed,
    netns::Netns,
    peer6in4::{Peer6in4, PeerConfig},
    topology::{CLIENT_V4, POP_V4, UPSTREAM_V6},
};

use crate::{
    common::{ctl, ping},
    sixin4::USER,
};

const UPDATE: &str = "192.0.2.1:8053";
/// The router's WAN address after the change.
const NEW: &str = "192.0.2.3";

pub fn update(failed: &mut Vec<&'static str>) -> Result<()> {
    println!(
        "\n== HE-style router: a static 6in4 tunnel's user gets a new IPv4 address \
         and tells the PoP over /nic/update"
    );
    let mut bed = DaemonBed::new(8, 32)?;
    let d = &mut bed.daemon;
    d.stop()?;
    d.config_with(
        "tunnelctl.toml",
        &[("update_listen", &format!("\"{UPDATE}\""))],
    )?;
    d.start()?;
    println!("\n# config: update_listen = \"{UPDATE}\" (plain HTTP: TLS is a reverse proxy's job)");
    let pw = d.dir.join("alice.pw");
    std::fs::write(&pw, "alice-tic-password\n")?;
    ctl(
        d,
        &[
            "user",
            "add",
            "alice",
            "--password-file",
            &pw.display().to_string(),
        ],
    )?;
    let old = CLIENT_V4.to_string();
    ctl(
        d,
        &[
            "tunnel",
            "add",
            "1",
            "--local",
            "192.0.2.1",
            "--remote",
            &old,
            "--prefix",
            "2001:db8:1::/64",
            "--owner",
            "alice",
        ],
    )?;
    let out = ctl(d, &["tunnel", "set", "1", "--generate-update-key"])?;
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("update key: "))
        .context("no update key printed")?
        .to_owned();

    let ns = &bed.ns;
    let peer = router(&ns.client, &old)?;
    if ping(
        &ns.client,
        "router -> upstream",
        &["-c", "3", "-i", "0.2", UPSTREAM_V6],
    )? != 3
    {
        failed.push("update: ping before the change");
    }

    println!("\n# the router's WAN address changes: {old} -> {NEW}; its 6in4 now comes from {NEW}");
    drop(peer);
    ns.client.ip(&format!("addr del {old}/24 dev c0"))?;
    ns.client.ip(&format!("addr add {NEW}/24 dev c0"))?;
    let _peer = router(&ns.client, NEW)?;
    if ping(
        &ns.client,
        "router -> upstream, the PoP not told yet",
        &["-c", "2", "-i", "0.2", UPSTREAM_V6],
    )? != 0
    {
        failed.push("update: an unknown address's 6in4 dropped");
    }

    if curl(&ns.client, &key)? != format!("good {NEW}") {
        failed.push("update: good");
    }
    ctl(&bed.daemon, &["tunnel", "show", "1"])?;
    for (what, netns, dst) in [
        (
            "router -> upstream after the update",
            &ns.client,
            UPSTREAM_V6,
        ),
        ("upstream -> user after the update", &ns.upstream, USER),
    ] {
        if ping(netns, what, &["-c", "3", "-i", "0.2", dst])? != 3 {
            failed.push("update: ping after the update");
        }
    }
    println!("\n# the router asks again (it does, periodically): nothing to change");
    if curl(&ns.client, &key)? != format!("nochg {NEW}") {
        failed.push("update: nochg");
    }
    Ok(())
}

/// The router's 6in4 end from `local` (a userspace one: no sit here).
fn router(ns: &Netns, local: &str) -> Result<Peer6in4> {
    Peer6in4::start(
        ns,
        &PeerConfig {
            ifname: "tun6in4",
            local: local.parse()?,
            remote: POP_V4,
            address: "2001:db8:1::2/64",
            mtu: 1480,
        },
    )
}

/// The update request from the router, as dyndns2 clients send it; prints
/// it and returns the answer's body.
fn curl(ns: &Netns, key: &str) -> Result<String> {
    let url = format!("http://{UPDATE}/nic/update?hostname=1&myip={NEW}");
    let creds = format!("alice:{key}");
    println!("\n$ curl -u {creds} '{url}'   # on the router");
    let out = ns
        .output(&["curl", "-s", "-S", "--max-time", "10", "-u", &creds, &url])
        .context("curl (scripts/setup.sh installs it)")?;
    let body = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    println!("  {body}{}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(body)
}
