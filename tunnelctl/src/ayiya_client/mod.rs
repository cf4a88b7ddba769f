//! `tunnelctl client`: an AYIYA client, the user's end of an AYIYA tunnel
//! (what AICCU was for SixXS; wire format and behaviour: `ayiya-spec.md`
//! §1). Given the tunnel's parameters it creates a tun device with the
//! tunnel's `::2/64`, sends beats (three at start, then one per interval),
//! carries what the kernel routes into the tun device to the PoP in
//! signed op 1 datagrams and writes the PoP's authentic op 1 packets back,
//! probes the PoP's `::1` at start and after silence, and says in its log,
//! rate-limited, what it sees going wrong (a wrong password, a clock off,
//! no answer at all).
//!
//! - `params`: the tunnel ([`TunnelParams`], which a future TIC login
//!   fills) and the host's options ([`RunOptions`]);
//! - `frames`: the datagrams sent and the checks on those received;
//! - `probe`: the ICMPv6 echo that tells whether the PoP answers;
//! - `tun`: the tun device and its address and routes;
//! - `limit`: rate-limited log lines;
//! - `run`: the loop.

pub mod frames;
pub mod limit;
pub mod params;
pub mod probe;
pub mod run;
pub mod tun;

pub use params::{RunOptions, TunnelParams};
pub use run::{run, Counters};

/// Logs to stderr at `info` unless `TUNNELCTL_LOG` says otherwise (as the
/// daemon).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TUNNELCTL_LOG")
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
