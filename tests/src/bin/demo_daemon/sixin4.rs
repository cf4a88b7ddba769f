//! The 6in4 part: the real daemon on the demo namespaces of `topology`, a
//! static tunnel added by the CLI, traffic both ways and from the PoP
//! itself, what the CLI and /metrics show, a restart under pings; at the
//! end (after the other parts), its removal.

use std::time::Duration;

use anyhow::Result;
use tunnel_tests::{
    daemon::Daemon,
    peer6in4::{Peer6in4, PeerConfig},
    topology::{Namespaces, CLIENT_V4, POP_V4, UPSTREAM_V6},
};
use tunnelctl::{Datapath, DatapathOptions};

use crate::common::{ctl, metrics, ping, spawn_ping};

/// The tunnel user's address (the 6in4 peer's).
pub const USER: &str = "2001:db8:1::2";
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

/// The part's PoP, kept up for the NAT64 part and `--keep`. Field order
/// is drop order: the peer and the daemon before the programs and the
/// namespaces they use.
pub struct SixIn4 {
    _peer: Peer6in4,
    pub d: Daemon,
    _peers: Datapath,
    pub ns: Namespaces,
}

impl SixIn4 {
    pub fn run(failed: &mut Vec<&'static str>) -> Result<Self> {
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
        let peer = Peer6in4::start(
            &ns.client,
            &PeerConfig {
                ifname: "tun6in4",
                local: CLIENT_V4,
                remote: POP_V4,
                address: "2001:db8:1::2/64",
                mtu: 1480,
            },
        )?;
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
        Ok(Self {
            _peer: peer,
            d,
            _peers: peers,
            ns,
        })
    }

    /// `tunnel remove`: the user's traffic stops.
    pub fn remove(&self, failed: &mut Vec<&'static str>) -> Result<()> {
        ctl(&self.d, &["tunnel", "remove", "1"])?;
        if ping(
            &self.ns.client,
            "client -> upstream after removal",
            &["-c", "2", "-i", "0.2", UPSTREAM_V6],
        )? != 0
        {
            failed.push("removal stops traffic");
        }
        Ok(())
    }
}
