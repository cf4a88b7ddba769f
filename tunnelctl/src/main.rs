//! `tunnelctl`: the PoP daemon and the CLI that drives it, one binary.
//! Errors are one line on stderr and a non-zero exit.

use std::path::PathBuf;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use tunnelctl::{
    cli::{
        self, client::ClientArgs, nat64::Nat64Cmd, prefix::PrefixCmd, proxy::ProxyCmd,
        tunnel::TunnelCmd, user::UserCmd, ApiClient,
    },
    daemon::config::{DEFAULT_CONFIG, DEFAULT_SOCKET},
    Datapath, DatapathOptions,
};

#[derive(Parser)]
#[command(
    name = "tunnelctl",
    version,
    about = "IPv6 tunnel-broker PoP: daemon and control"
)]
struct Cli {
    /// The daemon's API socket.
    #[arg(long, global = true, default_value = DEFAULT_SOCKET, env = "TUNNELCTL_SOCKET")]
    socket: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the PoP daemon (loads the datapath, serves the API and metrics).
    Daemon {
        /// Configuration file (TOML).
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Tunnels.
    #[command(subcommand)]
    Tunnel(TunnelCmd),
    /// Routed prefixes.
    #[command(subcommand)]
    Prefix(PrefixCmd),
    /// NDP proxy entries: addresses the PoP answers Neighbor Solicitations
    /// for on its uplinks.
    #[command(subcommand)]
    Proxy(ProxyCmd),
    /// TIC users (AICCU's logins) and the tunnels they own.
    #[command(subcommand)]
    User(UserCmd),
    /// Stateless NAT64: pool6, explicit address mappings, DNS64 settings.
    #[command(subcommand)]
    Nat64(Nat64Cmd),
    /// Datapath counters: drops by reason, events, per tunnel.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Daemon status.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Make the running configuration equal to a file (JSON or TOML).
    Apply {
        #[arg(short, long)]
        file: PathBuf,
        /// Print the difference only.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Load the eBPF programs into this kernel (nothing attached) and report
    /// whether the verifier accepts them.
    Check {
        #[arg(long, default_value_t = tunnel_common::maps::DEFAULT_MAX_TUNNELS)]
        max_tunnels: u32,
    },
    /// Run an AYIYA tunnel's user end: a tun device with the tunnel's ::2,
    /// beats, signed traffic to and from the PoP (until SIGTERM/SIGINT).
    Client(ClientArgs),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff).
    Man,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        // One line: the message, then the code scripts can also read from
        // the exit status (cli::exit_status).
        let code = cli::error_code(&e);
        eprintln!("tunnelctl: {e:#} [{}]", code.name());
        std::process::exit(cli::exit_status(code));
    }
}

fn run(cli: Cli) -> Result<()> {
    let client = || ApiClient::connect(&cli.socket);
    match cli.command {
        Command::Daemon { config } => tunnelctl::daemon::run(&config),
        Command::Tunnel(cmd) => cli::tunnel::run(&mut client()?, cmd),
        Command::Prefix(cmd) => cli::prefix::run(&mut client()?, cmd),
        Command::Proxy(cmd) => cli::proxy::run(&mut client()?, cmd),
        Command::Nat64(cmd) => cli::nat64::run(&mut client()?, cmd),
        Command::User(cmd) => cli::user::run(&mut client()?, cmd),
        Command::Stats { json } => cli::stats::run(&mut client()?, json),
        Command::Status { json } => cli::status::run(&mut client()?, json),
        Command::Apply {
            file,
            dry_run,
            json,
        } => cli::apply::run(&mut client()?, &file, dry_run, json),
        Command::Check { max_tunnels } => {
            let opts = DatapathOptions {
                max_tunnels,
                max_prefixes: max_tunnels.saturating_mul(4),
                ..Default::default()
            };
            Datapath::load(opts)?;
            println!("ok: programs load and verify on this kernel ({max_tunnels} tunnel slots)");
            Ok(())
        }
        Command::Client(args) => cli::client::run(&args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "tunnelctl",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(())
        }
    }
}
