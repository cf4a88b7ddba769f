//! `tunnelctl status`: is the daemon up, and what it runs.

use anyhow::{bail, Result};

use super::{output, Client};
use crate::api::{Request, Response};

pub fn run(c: &mut Client, json: bool) -> Result<()> {
    let Response::Status { status: s } = c.simple(Request::Status)? else {
        bail!("unexpected response")
    };
    if json {
        return output::json(&s);
    }
    println!(
        "tunnelctl daemon {} (api {}, datapath abi {}), up {} s",
        s.version, s.api_version, s.abi_version, s.uptime_s
    );
    println!("uplinks    {} (xdp {})", s.uplinks.join(", "), s.xdp_mode);
    println!("tunnels    {} of {}", s.tunnels, s.max_tunnels);
    println!("prefixes   {} of {}", s.prefixes, s.max_prefixes);
    println!("ndp proxy  {} of {}", s.proxies, s.max_proxies);
    println!(
        "pins       {} ({})",
        s.pin_dir,
        if s.reused_pins {
            "reused at start"
        } else {
            "created at start"
        }
    );
    Ok(())
}
