//! Packet-rate and program-cost bench of the PoP (root, ≥ 2 CPUs).
//!
//! `bench [--runs N] [--seconds S] [--warmup S] [--calls N] [--tunnels N] [--out FILE]`
//!
//! Prints ratios to baselines measured in the same run and writes them,
//! with the raw figures, to FILE (default target/bench/bench-<UTC time>.txt).

use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context, Result};
use tunnel_tests::bench::{self, Options};

fn usage() -> &'static str {
    "usage: bench [--runs N] [--seconds S] [--warmup S] [--calls N] [--tunnels N] [--out FILE]\n\
     defaults: 5 runs, 2 s counted + 1 s warm-up per measurement, 20000 test-run calls, 100001 tunnels"
}

fn parse() -> Result<(Options, Option<PathBuf>)> {
    let mut o = Options::default();
    let mut out = None;
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
            "--out" => out = Some(PathBuf::from(v)),
            _ => bail!("unknown argument {a}\n{}", usage()),
        }
    }
    Ok((o, out))
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
    let (o, out) = parse()?;
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
    Ok(())
}
