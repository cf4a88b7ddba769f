//! What the verifier made of each program: a regression guard for the
//! instruction budget, printed per kernel by `tunnelctl check --stats` and
//! collected across kernels by `cargo xtask vm`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aya::{
    programs::{Program, ProgramInfo},
    EbpfLoader,
};
use tunnel_common::maps;

use super::{raise_memlock, DatapathOptions, OBJECT};

pub struct ProgramStats {
    pub name: String,
    /// Instructions the verifier walked (kernel ≥ 5.16), the number its
    /// one-million complexity limit applies to.
    pub verified_insns: Option<u32>,
    /// Program length after the verifier's rewrites, in instructions.
    pub xlated_insns: Option<u32>,
    pub jited_bytes: u32,
    /// Wall time of BPF_PROG_LOAD, which verification dominates: aya 0.14
    /// drops the verifier log, and with it "verification time", on success.
    pub load_time: Duration,
}

/// Loads every program of the object once more, on its own (maps sized as
/// `opts` says, nothing pinned or attached), and reports what the verifier
/// made of each.
pub fn verifier_stats(opts: &DatapathOptions) -> Result<Vec<ProgramStats>> {
    raise_memlock();
    let mut ebpf = EbpfLoader::new()
        .map_max_entries(maps::TUNNELS, opts.max_tunnels)
        .map_max_entries(maps::TUN_BY_V4, opts.max_tunnels)
        .map_max_entries(maps::TUN_BY_ID6, opts.max_tunnels)
        .map_max_entries(maps::TUN_STATS, opts.max_tunnels)
        .map_max_entries(maps::PREFIXES, opts.max_prefixes)
        .map_max_entries(maps::PROXIES, opts.max_proxies)
        .load(OBJECT)
        .context("loading the eBPF object")?;
    let mut stats = Vec::new();
    // Every program is tried: one rejection must not hide the others'
    // figures (they are printed before the error).
    let mut rejected = Vec::new();
    for (name, prog) in ebpf.programs_mut() {
        let start = Instant::now();
        let info = match load(prog) {
            Ok(info) => info,
            Err(e) => {
                rejected.push(format!("verifier rejected {name}: {e:#}"));
                continue;
            }
        };
        let load_time = start.elapsed();
        stats.push(ProgramStats {
            name: name.to_owned(),
            verified_insns: info.verified_instruction_count(),
            xlated_insns: info.size_translated().map(|bytes| bytes / 8),
            jited_bytes: info.size_jitted(),
            load_time,
        });
    }
    stats.sort_by(|a, b| a.name.cmp(&b.name));
    if !rejected.is_empty() {
        eprint!("{}", format_table(&stats));
        anyhow::bail!("{}", rejected.join("\n"));
    }
    Ok(stats)
}

/// Loads one program of the kinds the object holds.
fn load(prog: &mut Program) -> Result<ProgramInfo> {
    Ok(match prog {
        Program::Xdp(p) => {
            p.load().map_err(super::verifier::short)?;
            p.info()?
        }
        Program::SchedClassifier(p) => {
            p.load().map_err(super::verifier::short)?;
            p.info()?
        }
        other => anyhow::bail!("unexpected program type {:?}", other.prog_type()),
    })
}

/// The statistics as a table: a header line, then one line per program,
/// whitespace-separated so that tools (`cargo xtask vm`) can read it back.
pub fn format_table(stats: &[ProgramStats]) -> String {
    let opt = |v: Option<u32>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let mut s = format!(
        "{:<16} {:>14} {:>12} {:>11} {:>9}\n",
        "program", "verified_insns", "xlated_insns", "jited_bytes", "load_ms"
    );
    for p in stats {
        s += &format!(
            "{:<16} {:>14} {:>12} {:>11} {:>9.1}\n",
            p.name,
            opt(p.verified_insns),
            opt(p.xlated_insns),
            p.jited_bytes,
            p.load_time.as_secs_f64() * 1e3
        );
    }
    s
}
