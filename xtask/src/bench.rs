//! `cargo xtask bench`: packet rates and program costs, as ratios to
//! baselines measured in the same run (see tests/src/bench).

use anyhow::Result;

use crate::exec::{cargo, require_root};

#[derive(clap::Args)]
pub struct Options {
    /// Arguments for the bench binary (e.g. --runs 7 --seconds 4).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn run(o: &Options) -> Result<()> {
    require_root("the bench")?;
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
