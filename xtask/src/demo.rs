//! `cargo xtask demo`: the main job on a machine without real users. First
//! the data path on its own (the library drives it), then the operator's
//! view: the real daemon on the same kind of namespaces, driven by the CLI.

use anyhow::Result;

use crate::exec::{cargo, require_root};

#[derive(clap::Args)]
pub struct Options {
    /// Leave the daemon demo running until Enter, to try `tunnelctl` by hand.
    #[arg(long)]
    keep: bool,
    /// Only the daemon demo.
    #[arg(long)]
    daemon_only: bool,
}

pub fn run(o: &Options) -> Result<()> {
    require_root("the demo")?;
    if !o.daemon_only {
        cargo(&["run", "--quiet", "-p", "tunnel-tests", "--bin", "demo"])?;
    }
    // The daemon demo runs the tunnelctl binary of the same build.
    cargo(&["build", "--quiet", "-p", "tunnelctl"])?;
    let mut args = vec![
        "run",
        "--quiet",
        "-p",
        "tunnel-tests",
        "--bin",
        "demo_daemon",
    ];
    if o.keep {
        args.extend(["--", "--keep"]);
    }
    cargo(&args)
}
