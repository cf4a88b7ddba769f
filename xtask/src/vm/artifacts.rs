//! The guest's own programs: vm-init, the verifier-stats tool and the test
//! binaries, built on the host with cargo and found in its JSON messages
//! (test executables have hashed names), then stripped of debug info, which
//! is most of their size and only slows the VM's start.

use std::{
    io::BufRead,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};

/// Test binaries of tunnel-tests run in the VM, with the step names that
/// `--only` selects them by: what depends on the kernel (the data path,
/// netlink, sockets, NAT, and l2_dns64, whose Unbound the image carries
/// when it is asked for: initramfs.rs). Host only, in `cargo xtask test`:
/// diff_tayga (it runs Tayga, which the image does not carry), and the
/// control-plane protocols whose kernel use is a TCP socket and map writes
/// the other suites already make (l2_users, l2_update, l2_tic): the VM run
/// is the longest part of CI. A slice, not an array: work landing in parallel
/// adds entries without having to agree on a count.
pub const TESTS: &[(&str, &str)] = &[
    ("l1_sixin4", "l1"),
    ("l1_robustness", "l1"),
    ("l1_ndp", "l1"),
    ("l1_tc", "l1"),
    ("l1_nexthop", "l1"),
    ("l1_ayiya", "l1"),
    ("l1_ayiya_encap", "l1"),
    ("l1_nat64", "l1"),
    ("l1_dynamic", "l1"),
    ("l1_fuzz_found", "l1"),
    ("l1_fuzz", "l1"),
    ("l2_sixin4", "l2"),
    ("l2_local", "l2"),
    ("l2_daemon", "l2"),
    ("l2_operator", "l2"),
    ("l2_operator_net", "l2"),
    ("l2_learned", "l2"),
    ("l2_ayiya", "l2"),
    ("l2_nat64", "l2"),
    ("l2_nat64_pmtu", "l2"),
    ("l2_dns64", "l2"),
    ("l2_nat64_slow", "l2"),
    ("l2_client", "l2"),
    ("l2_heartbeat", "l2"),
    ("l2_liveness", "l2"),
    ("vm_sit", "sit"),
];

pub struct Artifacts {
    pub init: PathBuf,
    pub verifier_stats: PathBuf,
    pub tunnelctl: PathBuf,
    /// (test target name, executable), in the order asked for.
    pub tests: Vec<(String, PathBuf)>,
}

/// Builds the guest's programs and the test binaries named in `tests`.
pub fn build(out: &Path, tests: &[&str]) -> Result<Artifacts> {
    let built = cargo_executables(&["build", "-p", "vm-init", "-p", "tunnelctl", "--bins"])?;
    let tests_built = if tests.is_empty() {
        Vec::new()
    } else {
        let mut args = vec!["test", "-p", "tunnel-tests", "--no-run"];
        for name in tests {
            args.extend(["--test", name]);
        }
        cargo_executables(&args)?
    };

    std::fs::create_dir_all(out)?;
    let find = |list: &[(String, PathBuf)], name: &str| -> Result<PathBuf> {
        let (_, path) = list
            .iter()
            .find(|(n, _)| n == name)
            .with_context(|| format!("cargo built no {name}"))?;
        strip(path, &out.join(name))
    };
    Ok(Artifacts {
        init: find(&built, "vm-init")?,
        verifier_stats: find(&built, "verifier-stats")?,
        tunnelctl: find(&built, "tunnelctl")?,
        tests: tests
            .iter()
            .map(|n| Ok((n.to_string(), find(&tests_built, n)?)))
            .collect::<Result<_>>()?,
    })
}

/// Runs cargo with `--message-format=json-render-diagnostics` and returns
/// (target name, executable) of what it built.
fn cargo_executables(args: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    let mut child = Command::new(&cargo)
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(super::root())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {cargo}"))?;
    let mut found = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines() {
        let msg: serde_json::Value = serde_json::from_str(&line?).unwrap_or_default();
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if let (Some(name), Some(exe)) =
            (msg["target"]["name"].as_str(), msg["executable"].as_str())
        {
            found.push((name.to_owned(), PathBuf::from(exe)));
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(found)
}

/// `strip --strip-debug` into `dst` (symbols stay, for backtraces); a
/// plain copy when binutils is missing.
fn strip(src: &Path, dst: &Path) -> Result<PathBuf> {
    let stripped = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(dst)
        .arg(src)
        .status();
    if !matches!(stripped, Ok(s) if s.success()) {
        eprintln!(
            "xtask: strip failed or missing (binutils); copying {} whole",
            src.display()
        );
        std::fs::copy(src, dst).with_context(|| format!("copying {}", src.display()))?;
    }
    Ok(dst.to_owned())
}
