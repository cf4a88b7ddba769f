//! The scale part of the bench: the four figures, each with its
//! goal.
//!
//! 1. `apply`: N tunnels (100,000) added through the daemon's API with
//!    `tunnelctl apply -f`: seconds (goal < 10 s) and tunnels/s.
//! 2. `memory`: kernel-charged map memory per tunnel (goal ≤ 256 B), of
//!    the daemon's maps after (1), and of the big decap table in (3).
//! 3. `bigtable`: decap pps with 1,000,000 tunnels loaded relative to 10
//!    (goal ≥ 0.95), interleaved pairs, median [min–max] over rounds.
//! 4. `restart`: packets lost across a daemon restart under a 20,000 pps
//!    stream (goal 0), with the table of (1) loaded.
//!
//! Each piece that fails is reported as such and the others still run, so
//! one broken piece does not cost the whole (several-minute) run; the
//! binary exits non-zero when any did.

use std::time::Duration;

use anyhow::{Context, Result};
use tunnel_common::maps::{DEFAULT_MAX_PREFIXES, DEFAULT_MAX_TUNNELS};
use tunnelctl::Datapath;

use super::{
    apply::{self, ApplyResult},
    bigtable::{self, TableResults},
    memory::Memory,
    restart::{self, RestartResult},
    sys,
    topology::GEN_CPU,
};
use crate::{daemon::Daemon, topology::Namespaces};

#[derive(Clone, Debug)]
pub struct ScaleOptions {
    /// Tunnels applied through the daemon (the issue: 100,000).
    pub apply_tunnels: u32,
    /// Tunnels in the big decap table (the issue: 1,000,000).
    pub table_tunnels: u32,
}

impl Default for ScaleOptions {
    fn default() -> Self {
        Self {
            apply_tunnels: 100_000,
            table_tunnels: 1_000_000,
        }
    }
}

pub const GOAL_APPLY_S: f64 = 10.0;
pub const GOAL_BYTES: f64 = 256.0;
/// Decap with the big table over the small one: one flow (the table's size
/// alone), and many flows spread over it (Core v2: ≥ 0.75).
pub const GOAL_RATIO: f64 = 0.95;
pub const GOAL_RATIO_SPREAD: f64 = 0.75;

/// What the daemon part gave.
pub struct DaemonResults {
    pub apply: Result<ApplyResult>,
    pub memory: Result<Memory>,
    pub restart: Result<RestartResult>,
}

pub struct ScaleResults {
    pub options: ScaleOptions,
    pub daemon: Result<DaemonResults>,
    pub table: Result<TableResults>,
}

impl ScaleResults {
    /// Whether any piece failed to measure (not: missed its goal).
    pub fn failed(&self) -> bool {
        let daemon = match &self.daemon {
            Err(_) => true,
            Ok(d) => d.apply.is_err() || d.memory.is_err() || d.restart.is_err(),
        };
        daemon || self.table.is_err()
    }
}

/// The daemon on the L2 bed (client ─ pop ─ upstream), with the default
/// map sizes an operator gets: apply, memory, then restart under load.
/// Everything it made (namespaces, pins, state dir, daemon) goes on drop.
fn daemon_part(o: &ScaleOptions, log: &mut dyn FnMut(&str)) -> Result<DaemonResults> {
    let ns = Namespaces::new()?;
    // The bed's peers run testbed_pass so that XDP redirects into them are
    // delivered (as in the L2 tests).
    let mut peers = Datapath::load(tunnelctl::DatapathOptions {
        max_tunnels: 1,
        max_prefixes: 1,
        ..Default::default()
    })?;
    ns.attach_peers(&mut peers)?;
    let mut d = Daemon::new(
        &ns.pop,
        &["p0", "p1"],
        DEFAULT_MAX_TUNNELS,
        DEFAULT_MAX_PREFIXES,
    )?;
    d.start().context("starting the daemon")?;
    log(&format!(
        "scale: daemon up; applying {} tunnels with tunnelctl apply -f",
        o.apply_tunnels
    ));
    let apply = apply::run(&d, o.apply_tunnels);
    if let Ok(a) = &apply {
        log(&format!(
            "scale: applied {} tunnels in {:.2} s ({:.0} tunnels/s)",
            a.tunnels,
            a.elapsed.as_secs_f64(),
            a.per_second()
        ));
    }
    let loaded = apply.as_ref().map_or(0, |a| a.tunnels);
    let memory = super::memory::of_pins(
        &format!("daemon, {loaded} tunnels applied"),
        &tunnelctl::datapath::pins::versioned_dir(&d.pin_dir),
        DEFAULT_MAX_TUNNELS,
        loaded,
    );
    log("scale: restarting the daemon under a 6in4 stream");
    // The traffic tunnel's id: the first one after the applied table.
    let restart = restart::run(&ns, &mut d, o.apply_tunnels);
    if let Ok(r) = &restart {
        log(&format!(
            "scale: restart: {} sent, {} received, {} lost",
            r.sent, r.received, r.lost
        ));
    }
    drop(d);
    drop(peers);
    Ok(DaemonResults {
        apply,
        memory,
        restart,
    })
}

pub fn run(
    o: &ScaleOptions,
    runs: usize,
    warmup: Duration,
    window: Duration,
    log: &mut dyn FnMut(&str),
) -> Result<ScaleResults> {
    // The daemon and tunnelctl inherit this thread's CPU set: give them
    // both CPUs, as a PoP would, then pin again for the packet rates.
    sys::unpin(0)?;
    let daemon = daemon_part(o, log);
    sys::pin_to_cpu(0, GEN_CPU)?;
    let table = bigtable::run(o.table_tunnels, runs, warmup, window, log);
    Ok(ScaleResults {
        options: o.clone(),
        daemon,
        table,
    })
}
