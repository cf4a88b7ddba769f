//! Packet-rate, program-cost and scale bench of the PoP (root, ≥ 2 CPUs).
//!
//! See `usage()`. Prints ratios to baselines measured in the same run and
//! the scale figures with their goals, and writes them, with the raw
//! figures, to FILE (default target/bench/bench-<UTC time>.txt). Exits 1
//! when a scale piece could not be measured (after writing the report).

use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context, Result};
use tunnel_tests::bench::{self, Options, Part};

fn usage() -> &'static str {
    "usage: bench [--only rates|scale|ayiya|nat64|costs] [--runs N] [--seconds S] [--warmup S] [--calls N] [--tunnels N]\n\
     \x20            [--apply-tunnels N] [--scale-tunnels N] [--out FILE]\n\
     \n\
     --only rates    packet-rate ratios to baselines and program costs only (--tunnels loaded), 6in4 and AYIYA\n\
     --only ayiya    the rates part's AYIYA paths alone: decap and encap at 64 and 1280 B inner packets as ratios\n\
     \x20               to an XDP_TX baseline of the same size (goals ≥ 0.4 at 64 B, ≥ 0.125 at 1280 B; sixxsd's\n\
     \x20               figures beside them), their program costs and SHA-1 cost per 64-byte block\n\
     --only nat64    the rates part's NAT64 paths alone: 6→4 and 4→6 at 64 and 1280 B IPv6 and tunnel user → IPv4,\n\
     \x20               as ratios to an XDP_TX baseline of the same size and to Tayga on the same bed (goals ≥ 0.9,\n\
     \x20               tunnel user → IPv4 ≥ 0.8), and their program costs\n\
     --only costs    the rates part's program costs alone (BPF_PROG_TEST_RUN, ~1 min): no rate figure\n\
     --only scale    the scale part only: `tunnelctl apply -f` of --apply-tunnels tunnels to a real daemon\n\
     \x20               (goal < 10 s), map memory per tunnel (goal ≤ 256 B), packets lost across a daemon\n\
     \x20               restart under a 20,000 pps 6in4 stream (goal 0), decap pps with --scale-tunnels\n\
     \x20               tunnels loaded relative to 10 (goal ≥ 0.95 one flow, ≥ 0.75 spread flows; --runs rounds of --warmup + --seconds)\n\
     --json FILE     also write every figure with its goal as JSON: [{name, value, goal, met}, ...]\n\
     --runs, --seconds, --warmup apply to both parts; --calls and --tunnels to the rates part\n\
     defaults: both parts, 5 runs, 2 s counted + 1 s warm-up per measurement, 20000 test-run calls,\n\
     100001 tunnels, 100000 applied, 1000000 in the scale decap table"
}

fn parse() -> Result<(Options, Option<PathBuf>, Option<PathBuf>)> {
    let mut o = Options::default();
    let mut out = None;
    let mut json = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "-h" || a == "--help" {
            println!("{}", usage());
            std::process::exit(0);
        }
        let v = args
            .next()
            .with_context(|| format!("{a} needs a value\n{}", usage()))?;
        let bad = || format!("bad value {v:?} for {a}");
        match a.as_str() {
            "--runs" => o.runs = v.parse().with_context(bad)?,
            "--seconds" => o.seconds = v.parse().with_context(bad)?,
            "--warmup" => o.warmup = v.parse().with_context(bad)?,
            "--calls" => o.calls = v.parse().with_context(bad)?,
            "--tunnels" => o.tunnels = v.parse().with_context(bad)?,
            "--apply-tunnels" => o.scale.apply_tunnels = v.parse().with_context(bad)?,
            "--scale-tunnels" => o.scale.table_tunnels = v.parse().with_context(bad)?,
            "--only" => {
                o.only = Some(match v.as_str() {
                    "rates" => Part::Rates,
                    "scale" => Part::Scale,
                    "ayiya" => Part::Ayiya,
                    "nat64" => Part::Nat64,
                    "costs" => Part::Costs,
                    _ => bail!(
                        "--only takes rates, scale, ayiya, nat64 or costs\n{}",
                        usage()
                    ),
                })
            }
            "--out" => out = Some(PathBuf::from(v)),
            "--json" => json = Some(PathBuf::from(v)),
            _ => bail!("unknown argument {a}\n{}", usage()),
        }
    }
    Ok((o, out, json))
}

/// target/bench/bench-<UTC time>.txt next to the workspace's target dir.
fn default_out() -> Result<PathBuf> {
    let t = Command::new("date")
        .args(["-u", "+%Y%m%dT%H%M%SZ"])
        .output()?;
    let stamp = String::from_utf8(t.stdout)?.trim().to_owned();
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join("target")
        });
    Ok(dir.join("bench").join(format!("bench-{stamp}.txt")))
}

fn main() -> Result<()> {
    let (o, out, json) = parse()?;
    let out = match out {
        Some(p) => p,
        None => default_out()?,
    };
    let r = bench::run(&o)?;
    print!("{}", r.summary());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, r.full()).with_context(|| format!("writing {}", out.display()))?;
    println!("\nwritten (with raw figures) to {}", out.display());
    if let Some(path) = json {
        let figures = bench::report::json_figures(&r.measurements, &r.costs, r.scale.as_ref());
        std::fs::write(&path, serde_json::to_string_pretty(&figures)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "figures with their goals (JSON) written to {}",
            path.display()
        );
    }
    if r.failed() {
        bail!("a scale measurement failed (see the report)");
    }
    Ok(())
}
