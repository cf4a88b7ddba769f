//! `tunnelctl proxy add|remove|list`: manual NDP proxy entries. A tunnel's
//! own user address is proxied with `tunnel add --proxy-ndp` instead.

use std::net::Ipv6Addr;

use anyhow::{bail, Result};
use clap::Subcommand;

use super::{output, ApiClient};
use crate::api::{ProxySpec, Request, Response};

#[derive(Subcommand)]
pub enum ProxyCmd {
    /// Answer Neighbor Solicitations for an address.
    Add {
        target: Ipv6Addr,
        /// The uplink to answer on (default: every uplink).
        #[arg(long)]
        uplink: Option<String>,
        /// Set the Router flag in the answers (the target is a router).
        #[arg(long)]
        router: bool,
    },
    /// Stop answering for an address (on one uplink, or on all).
    Remove {
        target: Ipv6Addr,
        #[arg(long)]
        uplink: Option<String>,
    },
    /// Every answered address, manual and from tunnels.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(c: &mut ApiClient, cmd: ProxyCmd) -> Result<()> {
    match cmd {
        ProxyCmd::Add {
            target,
            uplink,
            router,
        } => {
            let proxy = ProxySpec {
                target,
                uplink,
                router,
            };
            c.simple(Request::ProxyAdd { proxy })?;
            println!("{target} proxied");
        }
        ProxyCmd::Remove { target, uplink } => {
            c.simple(Request::ProxyRemove { target, uplink })?;
            println!("{target} no longer proxied");
        }
        ProxyCmd::List { json } => {
            let Response::Proxies { proxies } = c.simple(Request::ProxyList)? else {
                bail!("unexpected response")
            };
            if json {
                return output::json(&proxies);
            }
            let rows: Vec<Vec<String>> = proxies
                .iter()
                .map(|p| {
                    vec![
                        p.target.to_string(),
                        p.uplink.clone(),
                        if p.router { "router" } else { "host" }.into(),
                        p.source.clone(),
                    ]
                })
                .collect();
            output::table(&["TARGET", "UPLINK", "FLAGS", "SOURCE"], &rows);
        }
    }
    Ok(())
}
