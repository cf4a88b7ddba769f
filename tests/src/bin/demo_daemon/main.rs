//! The operator's demo (`cargo xtask demo`, second part; root): the real
//! `tunnelctl daemon` on the demo namespaces, driven by the real CLI. Each
//! step prints the command and what it answered. The parts, one module
//! each:
//! - `sixin4`: add a tunnel, traffic both ways and from the PoP itself,
//!   list/stats/proxy list and /metrics, a daemon restart with pings
//!   flowing (its removal comes last);
//! - `nat64`: NAT64 with DNS64 (pool6 and address mappings by the CLI,
//!   Unbound with the CLI's snippet): the IPv6-only upstream host and the
//!   tunnel user ping and send TCP to an IPv4-only host by name;
//! - `ayiya`: a user behind a NAT runs `tunnelctl client`; pings and TCP
//!   both ways, a NAT rebinding, a daemon restart under traffic;
//! - `heartbeat`: a 6in4 user behind a NAT with `client --kind heartbeat`:
//!   down until its first beat, learned, followed when the NAT is
//!   renumbered, latency in `tunnel list`, down again once it is gone
//!   (ICMPv6 "no route" toward it);
//! - `update`: an HE-style router's new IPv4 address sent with curl to
//!   `/nic/update` (`good`, then `nochg`), its traffic following;
//! - `tic`: a user behind a NAT logs in with `client --tic` and gets IPv6.
//!
//! `--keep` leaves the 6in4 and NAT64 parts up until Enter, for trying
//! `tunnelctl` by hand. Exits non-zero if a step failed.

mod ayiya;
mod common;
mod heartbeat;
mod nat64;
mod sixin4;
mod tic;
mod update;

use std::process::ExitCode;

use anyhow::{bail, Result};
use tunnel_tests::{
    daemon::{tunnelctl_bin, Daemon},
    dns64::NAME,
    topology::Namespaces,
};

use crate::sixin4::{SixIn4, USER};

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

fn run(keep: bool) -> Result<()> {
    let mut failed = Vec::new();
    let pop = SixIn4::run(&mut failed)?;
    // Kept until the end: `--keep` lets one resolve by hand.
    let _dns = nat64::nat64_dns64(&pop.d, &pop.ns, &mut failed)?;

    if keep {
        hands_on(&pop.d, &pop.ns)?;
    }
    // Its own namespaces and daemon: the 6in4 part's stay as they are.
    ayiya::ayiya(&mut failed)?;
    heartbeat::heartbeat(&mut failed)?;
    update::update(&mut failed)?;
    tic::tic(&mut failed)?;
    pop.remove(&mut failed)?;
    if !failed.is_empty() {
        bail!("failed steps: {failed:?}\ndaemon log:\n{}", pop.d.log());
    }
    println!("\n== daemon demo: every step passed");
    Ok(())
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
         Press Enter here to go on (the AYIYA, heartbeat, update and TIC parts), then remove tunnel 1.",
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
