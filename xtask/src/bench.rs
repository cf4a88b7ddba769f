//! `cargo xtask bench`: packet rates and program costs, as ratios to
//! baselines measured in the same run (see tests/src/bench).

use anyhow::Result;

use crate::exec::{cargo, require_root};

#[derive(clap::Args)]
pub struct Options {
    /// Arguments for the bench binary (e.g. --runs 7 --seconds 4, --only scale; --help lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn run(o: &Options) -> Result<()> {
    require_root("the bench")?;
    // The scale part drives the real daemon with the release tunnelctl,
    // which the bench finds next to itself (target/release/).
    cargo(&[
        "build",
        "--release",
        "--quiet",
        "-p",
        "tunnelctl",
        "--bin",
        "tunnelctl",
    ])?;
    let mut args = vec![
        "run",
        "--release",
        "--quiet",
        "-p",
        "tunnel-tests",
        "--bin",
        "bench",
        "--",
    ];
    args.extend(o.args.iter().map(String::as_str));
    cargo(&args)
}
