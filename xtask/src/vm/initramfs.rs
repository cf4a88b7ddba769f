//! The guest's root file system, packed as one initramfs: vm-init as
//! `/init`, the test binaries, the host's own tools the tests call (this is
//! Debian on both sides, so the host's binaries and their libraries, found
//! with ldd, run in the guest as they are), the kernel's modules the tests
//! need, and the plan vm-init follows.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::BufWriter,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use super::{artifacts::Artifacts, artifacts::TESTS, cpio, kernel::Kernel};

/// Modules the tests need, when the kernel has them as modules (Debian's
/// do); their dependencies come along. sch_ingress (clsact) and cls_bpf
/// carry `tunnel_tc` on kernels without TCX (before 6.6). The guest has
/// no modprobe, so what nftables would load on demand is listed too: the
/// NAT in front of the AYIYA client (l2_client: a nat chain, masquerade,
/// conntrack's netlink interface for `conntrack -L/-D`).
/// `crc32c_generic` before them: nf_tables needs libcrc32c, whose init asks
/// the crypto API for "crc32c", which only a modprobe would load (a
/// module soft dependency, not in `depends=`).
const MODULES: [&str; 10] = [
    "veth",
    "tun",
    "sit",
    "sch_ingress",
    "cls_bpf",
    "crc32c_generic",
    "nf_tables",
    "nft_chain_nat",
    "nft_masq",
    "nf_conntrack_netlink",
];
/// Programs the tests run (netns.rs, traffic.rs, daemon.rs, l2_client's
/// NAT) and the shell.
const TOOLS: [&str; 9] = [
    "ip",
    "ping",
    "ethtool",
    "sysctl",
    "cat",
    "nsenter",
    "bash",
    "nft",
    "conntrack",
];
/// Programs only some test binaries run, taken only when the plan has
/// them (they weigh: unbound brings ~12 MB of libraries, libpython among
/// them). l2_dns64 runs two Unbound servers and resolves through glibc's
/// `getent` (whose files and dns lookups are in libc itself since glibc
/// 2.34: nothing to dlopen).
const TEST_TOOLS: [(&str, &[&str]); 1] =
    [("l2_dns64", &["unbound", "unbound-checkconf", "getent"])];
/// Taken along when the host has them: for debugging in `--shell`.
const OPTIONAL_TOOLS: [&str; 9] = [
    "ls", "dmesg", "bpftool", "tcpdump", "ps", "mount", "grep", "sleep", "uname",
];
/// Merged /usr, as on Debian 12, so that paths from ldd work either way.
const SYMLINKS: [(&str, &str); 6] = [
    ("bin", "usr/bin"),
    ("sbin", "usr/bin"),
    ("usr/sbin", "bin"),
    ("lib", "usr/lib"),
    ("lib64", "usr/lib64"),
    ("var/run", "../run"),
];
const DIRS: [&str; 8] = ["dev", "proc", "sys", "run", "tmp", "root", "etc", "var"];

/// One line of /etc/vm-plan.
pub struct Step {
    pub label: String,
    pub argv: Vec<String>,
}

/// What `--only` selects: whether to print the verifier statistics, and
/// which test binaries to run.
pub fn select(only: &[String]) -> Result<(bool, Vec<&'static str>)> {
    let known = ["stats", "l1", "l2", "sit"];
    let is_test = |o: &str| TESTS.iter().any(|(name, _)| *name == o);
    if let Some(bad) = only
        .iter()
        .find(|o| !known.contains(&o.as_str()) && !is_test(o))
    {
        bail!(
            "--only {bad}: the steps are {} or a test binary's name (l2_heartbeat)",
            known.join(", ")
        );
    }
    let want =
        |name: &str, step: &str| only.is_empty() || only.iter().any(|o| o == step || o == name);
    Ok((
        want("stats", "stats"),
        TESTS
            .iter()
            .filter(|(name, step)| want(name, step))
            .map(|(name, _)| *name)
            .collect(),
    ))
}

/// The steps vm-init runs: the verifier statistics, then each test binary
/// on one thread (the tests share the kernel, as on the host).
pub fn plan(art: &Artifacts, stats: bool, test_args: &[String]) -> Vec<Step> {
    let mut steps = Vec::new();
    if stats {
        steps.push(Step {
            label: "stats".into(),
            argv: vec!["/usr/bin/verifier-stats".into()],
        });
    }
    for (name, _) in &art.tests {
        let mut argv = vec![format!("/tests/deps/{name}"), "--test-threads=1".into()];
        argv.extend(test_args.iter().cloned());
        steps.push(Step {
            label: name.clone(),
            argv,
        });
    }
    steps
}

/// Writes `<dir>/initramfs.cpio` for `kernel` and returns its path.
pub fn build(kernel: &Kernel, art: &Artifacts, plan: &[Step], dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    // guest path (relative) → host file; BTreeMap: parents sort before children.
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    files.insert("init".into(), art.init.clone());
    files.insert("usr/bin/verifier-stats".into(), art.verifier_stats.clone());
    // As in target/debug: tests in deps/, tunnelctl one level up, where
    // tests/src/daemon.rs looks for it.
    files.insert("tests/tunnelctl".into(), art.tunnelctl.clone());
    for (name, path) in &art.tests {
        files.insert(format!("tests/deps/{name}"), path.clone());
    }
    for t in TOOLS {
        files.insert(
            format!("usr/bin/{t}"),
            which(t).with_context(|| format!("{t} not found: run scripts/setup.sh"))?,
        );
    }
    let wanted = TEST_TOOLS
        .iter()
        .filter(|(test, _)| art.tests.iter().any(|(name, _)| name == test))
        .flat_map(|(_, tools)| tools.iter());
    for t in wanted {
        files.insert(
            format!("usr/bin/{t}"),
            which(t).with_context(|| format!("{t} not found: run scripts/setup.sh"))?,
        );
    }
    for t in OPTIONAL_TOOLS {
        if let Some(p) = which(t) {
            files.insert(format!("usr/bin/{t}"), p);
        }
    }
    let programs: Vec<PathBuf> = files.values().cloned().collect();
    for lib in libraries(&programs)? {
        files.insert(guest_lib_path(&lib), lib);
    }

    let mut generated: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let modules = match &kernel.modules {
        Some(m) => modules(m)?,
        None => Vec::new(),
    };
    let mut order = String::new();
    for (name, bytes) in modules {
        let path = format!("modules/{name}.ko");
        order += &format!("/{path}\n");
        generated.insert(path, bytes);
    }
    generated.insert("etc/vm-modules".into(), order.into_bytes());
    // `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over this
    // one (l2_dns64 gives namespaces their resolver so), which needs it
    // to exist; empty, glibc asks 127.0.0.1 as it would anyway.
    generated.insert("etc/resolv.conf".into(), Vec::new());
    let plan_text: String = plan
        .iter()
        .map(|s| format!("{}\t{}\n", s.label, s.argv.join("\t")))
        .collect();
    generated.insert("etc/vm-plan".into(), plan_text.into_bytes());

    let out = dir.join("initramfs.cpio");
    let mut w = cpio::Writer::new(BufWriter::new(std::fs::File::create(&out)?));
    let mut dirs: BTreeSet<String> = DIRS.iter().map(|d| d.to_string()).collect();
    for p in files.keys().chain(generated.keys()) {
        let mut parent = Path::new(p).parent();
        while let Some(d) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(d.to_string_lossy().into_owned());
            parent = d.parent();
        }
    }
    for d in &dirs {
        w.dir(d)?;
    }
    for (link, target) in SYMLINKS {
        w.symlink(link, target)?;
    }
    w.symlink("usr/bin/tunnelctl", "/tests/tunnelctl")?;
    for (guest, host) in &files {
        let data = std::fs::read(host).with_context(|| format!("reading {}", host.display()))?;
        w.file(guest, 0o755, &data)?;
    }
    for (guest, data) in &generated {
        w.file(guest, 0o644, data)?;
    }
    w.finish()?;
    Ok(out)
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file());
    found.and_then(|p| p.canonicalize().ok())
}

/// The shared libraries `programs` load, by ldd (the dynamic loader too).
fn libraries(programs: &[PathBuf]) -> Result<BTreeSet<PathBuf>> {
    let mut libs = BTreeSet::new();
    for p in programs {
        let out = Command::new("ldd").arg(p).output().context("running ldd")?;
        // Static programs make ldd fail; they need nothing.
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(path) = path.filter(|p| p.starts_with('/')) {
                libs.insert(PathBuf::from(path));
            }
        }
    }
    Ok(libs)
}

/// `/lib/x` and `/lib64/x` live under usr/ in the image (see SYMLINKS).
fn guest_lib_path(lib: &Path) -> String {
    let s = lib.to_string_lossy();
    let s = s.trim_start_matches('/');
    if s.starts_with("lib/") || s.starts_with("lib64/") {
        format!("usr/{s}")
    } else {
        s.to_owned()
    }
}

/// `MODULES` and their dependencies, dependencies first, uncompressed:
/// (name, contents). Modules built into the kernel are skipped.
fn modules(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = BTreeMap::new();
    index(&dir.join("kernel"), &mut files)?;
    let builtin = std::fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
    let mut loaded = Vec::new();
    for m in MODULES {
        add_module(m, &files, &builtin, &mut loaded)?;
    }
    Ok(loaded)
}

fn add_module(
    name: &str,
    files: &BTreeMap<String, PathBuf>,
    builtin: &str,
    loaded: &mut Vec<(String, Vec<u8>)>,
) -> Result<()> {
    if loaded.iter().any(|(n, _)| n == name) {
        return Ok(());
    }
    let Some(path) = files.get(name) else {
        let is_builtin = builtin
            .lines()
            .any(|l| module_name(l).as_deref() == Some(name));
        if is_builtin {
            return Ok(());
        }
        bail!("the kernel package has no module {name} and does not build it in");
    };
    let bytes = decompress(path)?;
    for dep in depends(&bytes) {
        add_module(&dep, files, builtin, loaded)?;
    }
    loaded.push((name.to_owned(), bytes));
    Ok(())
}

/// The `depends=` string of the module's .modinfo section: NUL-separated
/// `key=value` strings, so a byte search finds it without parsing ELF.
fn depends(ko: &[u8]) -> Vec<String> {
    let key = b"\0depends=";
    let Some(at) = ko.windows(key.len()).position(|w| w == key) else {
        return Vec::new();
    };
    let rest = &ko[at + key.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end])
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace('-', "_"))
        .collect()
}

/// Module name of a path like `kernel/net/ipv6/sit.ko.xz`.
fn module_name(path: &str) -> Option<String> {
    let base = path.rsplit('/').next()?;
    let stem = base.split(".ko").next()?;
    Some(stem.replace('-', "_"))
}

fn index(dir: &Path, files: &mut BTreeMap<String, PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            index(&p, files)?;
        } else if let Some(name) = module_name(&p.to_string_lossy()) {
            files.insert(name, p);
        }
    }
    Ok(())
}

/// Debian 12's 6.1 ships plain .ko, its 6.12 .ko.xz.
fn decompress(path: &Path) -> Result<Vec<u8>> {
    let s = path.to_string_lossy();
    let tool = if s.ends_with(".xz") {
        "xz"
    } else if s.ends_with(".zst") {
        "zstd"
    } else if s.ends_with(".gz") {
        "gzip"
    } else {
        return std::fs::read(path).with_context(|| format!("reading {s}"));
    };
    let out = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .with_context(|| format!("running {tool}"))?;
    if !out.status.success() {
        bail!("{tool} -dc {s} failed");
    }
    Ok(out.stdout)
}
