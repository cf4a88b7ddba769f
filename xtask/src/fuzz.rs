//! `cargo xtask fuzz`: the long run of the L1 fuzz (tests/tests/l1_fuzz).
//! The same test as the short run in `cargo xtask test`, told by
//! environment variables how many frames to run and from which seed.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::exec::{cargo, require_root};

#[derive(clap::Args)]
pub struct Options {
    /// Frames to run.
    #[arg(long, default_value_t = 10_000_000)]
    frames: u64,
    /// PRNG seed, decimal or 0x-hex; a fresh one (printed) by default.
    #[arg(long)]
    seed: Option<String>,
    /// Replay one frame of a run (with that run's --seed) and print it.
    #[arg(long)]
    frame: Option<u64>,
    /// Use the unoptimised build of the test command (no release build;
    /// about 2.5 times slower per frame).
    #[arg(long)]
    dev: bool,
}

fn parse(s: &str) -> Result<u64> {
    let s = s.trim().replace('_', "");
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
    .with_context(|| format!("seed {s}: not a number"))
}

pub fn run(o: &Options) -> Result<()> {
    require_root("the fuzz")?;
    let seed = match &o.seed {
        Some(s) => parse(s)?,
        None => {
            let t = SystemTime::now().duration_since(UNIX_EPOCH)?;
            // SplitMix64's finaliser: nearby start times, unrelated seeds.
            let mut z = t.as_nanos() as u64 ^ (std::process::id() as u64) << 32;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    };
    eprintln!("xtask: fuzz: {} frames, seed {seed:#x}", o.frames);
    // The child cargo and the test inherit these.
    std::env::set_var("TUNNEL_FUZZ_FRAMES", o.frames.to_string());
    std::env::set_var("TUNNEL_FUZZ_SEED", format!("{seed:#x}"));
    if let Some(i) = o.frame {
        std::env::set_var("TUNNEL_FUZZ_FRAME", i.to_string());
    }
    let mut args = vec!["test", "-p", "tunnel-tests", "--test", "l1_fuzz"];
    if !o.dev {
        args.push("--release");
    }
    args.extend([
        "--",
        "--exact",
        "mutated_frames_keep_the_invariants",
        "--nocapture",
        "--test-threads=1",
    ]);
    cargo(&args)
}
