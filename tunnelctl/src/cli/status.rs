//! `tunnelctl status`: is the daemon up, what it runs, and what the data
//! path has of what it needs from the kernel (the checks).

use anyhow::{bail, Result};

use super::{output, ApiClient};
use crate::api::{CheckStatus, CheckView, Request, Response};

pub fn run(c: &mut ApiClient, json: bool) -> Result<()> {
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
    if !s.checks.is_empty() {
        println!("checks");
        let label = |c: &CheckView| match &c.uplink {
            Some(u) => format!("{} {u}", c.name),
            None => c.name.clone(),
        };
        let width = s.checks.iter().map(|c| label(c).len()).max().unwrap_or(0);
        for c in &s.checks {
            let status = match c.status {
                CheckStatus::Ok => "ok",
                CheckStatus::Warn => "WARN",
            };
            println!("  {status:<4}  {:<width$}  {}", label(c), c.detail);
        }
    }
    Ok(())
}
