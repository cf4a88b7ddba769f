//! `tunnelctl`: the PoP's command-line tool. The daemon and its verbs come
//! with the daemon issue; today it can check that the programs load here.

use anyhow::Result;
use clap::{Parser, Subcommand};
use tunnelctl::{Datapath, DatapathOptions};

#[derive(Parser)]
#[command(version, about = "Tunnel-broker PoP control")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the eBPF programs into the running kernel (nothing is attached)
    /// and report whether the verifier accepts them.
    Check {
        /// Tunnel capacity to size the maps for.
        #[arg(long, default_value_t = tunnel_common::maps::DEFAULT_MAX_TUNNELS)]
        max_tunnels: u32,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Check { max_tunnels } => {
            let opts = DatapathOptions { max_tunnels, max_prefixes: max_tunnels.saturating_mul(4), ..Default::default() };
            Datapath::load(opts)?;
            println!("ok: programs load and verify on this kernel ({max_tunnels} tunnel slots)");
        }
    }
    Ok(())
}
