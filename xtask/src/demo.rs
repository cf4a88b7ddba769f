//! `cargo xtask demo`: the main job on a machine without real users.

use anyhow::Result;

use crate::exec::{cargo, require_root};

pub fn run() -> Result<()> {
    require_root("the demo")?;
    cargo(&["run", "--quiet", "-p", "tunnel-tests", "--bin", "demo"])
}
