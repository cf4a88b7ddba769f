//! Bulk add through the daemon's API: `tunnelctl apply -f FILE` of N
//! generated tunnels against a real daemon in a test namespace, timed from
//! the command's start to its exit (reading the file, the request, the
//! daemon's validation, store transaction and map writes, the answer):
//! what an operator waits for. The tunnels are the rate bench's table
//! (`topology::tunnel`: distinct documentation address pairs, one /64
//! each), none of them ever sees a packet.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::topology::{tunnel, MAX_TUNNELS};
use crate::daemon::{tunnelctl_bin, Daemon};

#[derive(Clone, Debug)]
pub struct ApplyResult {
    pub tunnels: u32,
    pub elapsed: Duration,
    /// Size of the generated file.
    pub file_bytes: u64,
    /// Tunnels the daemon reports afterwards.
    pub listed: u64,
}

impl ApplyResult {
    pub fn per_second(&self) -> f64 {
        f64::from(self.tunnels) / self.elapsed.as_secs_f64()
    }
}

/// `{"tunnels": [...]}` with tunnels 0..n, in the daemon's own format.
fn desired_state(n: u32) -> serde_json::Value {
    let tunnels: Vec<serde_json::Value> = (0..n)
        .map(|id| {
            let t = tunnel(id);
            serde_json::json!({
                "id": id,
                "local": t.local.to_string(),
                "remote": t.remote.to_string(),
                "prefix": t.prefix.to_string(),
            })
        })
        .collect();
    serde_json::json!({ "tunnels": tunnels })
}

/// Applies `n` tunnels (ids 0..n) to a daemon that holds none.
pub fn run(d: &Daemon, n: u32) -> Result<ApplyResult> {
    if !(1..=MAX_TUNNELS).contains(&n) {
        bail!("--apply-tunnels must be in 1..={MAX_TUNNELS}");
    }
    let file = d.dir.join("apply.json");
    std::fs::write(&file, desired_state(n).to_string())
        .with_context(|| format!("writing {}", file.display()))?;
    let file_bytes = std::fs::metadata(&file)?.len();
    let t0 = Instant::now();
    let out = Command::new(tunnelctl_bin()?)
        .arg("--socket")
        .arg(&d.socket)
        .args(["apply", "--json", "-f"])
        .arg(&file)
        .output()
        .context("running tunnelctl apply")?;
    let elapsed = t0.elapsed();
    if !out.status.success() {
        bail!(
            "tunnelctl apply failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            d.log()
        );
    }
    let _ = std::fs::remove_file(&file);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("tunnelctl apply --json output")?;
    let added = v["plan"]["add"].as_array().map_or(0, Vec::len);
    if v["applied"] != serde_json::Value::Bool(true) || added != n as usize {
        bail!(
            "apply reported {added} additions of {n}, applied = {}",
            v["applied"]
        );
    }
    let status: serde_json::Value = serde_json::from_str(&d.ok(&["status", "--json"])?)?;
    let listed = status["tunnels"].as_u64().context("status: tunnels")?;
    if listed != u64::from(n) {
        bail!("the daemon lists {listed} tunnels after applying {n}");
    }
    Ok(ApplyResult {
        tunnels: n,
        elapsed,
        file_bytes,
        listed,
    })
}
