//! `tunnelctl prefix add|remove`.

use anyhow::Result;
use clap::Subcommand;

use super::ApiClient;
use crate::{api::Request, prefix::Ipv6Prefix};

#[derive(Subcommand)]
pub enum PrefixCmd {
    /// Route a prefix into a tunnel (also accepted as its inner source).
    Add { id: u32, prefix: Ipv6Prefix },
    /// Stop routing a prefix into a tunnel.
    Remove { id: u32, prefix: Ipv6Prefix },
}

pub fn run(c: &mut ApiClient, cmd: PrefixCmd) -> Result<()> {
    match cmd {
        PrefixCmd::Add { id, prefix } => {
            c.simple(Request::PrefixAdd { id, prefix })?;
            println!("{prefix} routed to tunnel {id}");
        }
        PrefixCmd::Remove { id, prefix } => {
            c.simple(Request::PrefixRemove { id, prefix })?;
            println!("{prefix} removed from tunnel {id}");
        }
    }
    Ok(())
}
