//! `tunnelctl apply -f FILE`: declarative configuration. The daemon works
//! out the difference to what runs and applies it in one transaction.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{output, ApiClient};
use crate::{
    api::{ApplyPlan, DesiredState, Request, Response},
    error::Error,
};

/// Reads a desired state from JSON or TOML (by extension, else by content).
/// A file that cannot be read or parsed is bad input (`invalid`).
pub fn read(path: &Path) -> Result<DesiredState> {
    let invalid = |e: anyhow::Error| Error::invalid(e).into();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(invalid)?;
    let toml_ext = path.extension().is_some_and(|e| e == "toml");
    if toml_ext || !text.trim_start().starts_with('{') {
        toml::from_str(&text)
            .with_context(|| format!("{} (TOML)", path.display()))
            .map_err(invalid)
    } else {
        serde_json::from_str(&text)
            .with_context(|| format!("{} (JSON)", path.display()))
            .map_err(invalid)
    }
}

pub fn run(c: &mut ApiClient, file: &Path, dry_run: bool, json: bool) -> Result<()> {
    let state = read(file)?;
    let bar = (!dry_run && !json).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} tunnels {elapsed}")
                .expect("template"),
        );
        b
    });
    let resp = c.call(Request::Apply { state, dry_run }, |done, total| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let Response::Plan { plan, applied } = resp else {
        bail!("unexpected response")
    };
    if json {
        return output::json(&serde_json::json!({ "plan": plan, "applied": applied }));
    }
    print_plan(&plan, applied);
    Ok(())
}

fn print_plan(p: &ApplyPlan, applied: bool) {
    let verb = if applied { "" } else { "would " };
    let list = |ids: &[u32]| {
        ids.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "{verb}add {} tunnel(s){}",
        p.add.len(),
        if p.add.is_empty() {
            String::new()
        } else {
            format!(": {}", list(&p.add))
        }
    );
    println!(
        "{verb}change {}{}",
        p.change.len(),
        if p.change.is_empty() {
            String::new()
        } else {
            format!(": {}", list(&p.change))
        }
    );
    println!(
        "{verb}remove {}{}",
        p.remove.len(),
        if p.remove.is_empty() {
            String::new()
        } else {
            format!(": {}", list(&p.remove))
        }
    );
    println!("unchanged {}", p.unchanged);
    if let Some(n) = &p.nat64 {
        let eams = |v: &[crate::api::EamSpec]| {
            v.iter()
                .map(|e| format!(" {}={}", e.v6, e.v4))
                .collect::<String>()
        };
        if n.pool6_changed {
            println!("nat64: {verb}change pool6");
        }
        println!(
            "nat64: {verb}add {} eam(s){}",
            n.eams_add.len(),
            eams(&n.eams_add)
        );
        println!(
            "nat64: {verb}remove {} eam(s){}",
            n.eams_remove.len(),
            eams(&n.eams_remove)
        );
    }
}
