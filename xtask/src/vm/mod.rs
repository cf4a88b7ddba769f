//! `cargo xtask vm`: the L1 and L2 suites, the kernel-sit interop test and
//! the verifier statistics on Debian's kernels, each booted in QEMU.
//!
//! Per kernel: fetch the package (kernel.rs), pack an initramfs with the
//! test binaries, the tools they call, their libraries and the kernel's
//! modules (initramfs.rs), boot it and read the console (qemu.rs). The
//! guest's PID 1 is the `vm-init` crate; it prints `init: success` or
//! `init: failure` when the plan is done.

mod artifacts;
mod cpio;
mod initramfs;
mod kernel;
mod qemu;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};

use self::{kernel::Kernel, qemu::Verdict};

/// Kernel lines tested when `--kernel` is not given.
const DEFAULT_KERNELS: [&str; 2] = ["6.1", "6.12"];

#[derive(clap::Args)]
pub struct Options {
    /// Kernels to boot: `6.1` or `6.12` (Debian's packages), or a path to a
    /// linux-image .deb, an unpacked one, or a bare kernel image (modules
    /// built in). Repeat or separate with commas; default: 6.1 and 6.12.
    #[arg(long, value_delimiter = ',')]
    kernel: Vec<String>,
    /// Boot one kernel to a shell on this terminal instead of running the
    /// tests (Ctrl-A X quits QEMU).
    #[arg(long)]
    shell: bool,
    /// Run only these steps: stats, l1, l2, sit (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// More kernel command-line arguments (e.g. `loglevel=7`).
    #[arg(long, default_value = "")]
    append: String,
    /// Seconds a VM may run before it is killed and the run fails.
    /// A whole run takes about 25 min per kernel here (2026-11-30); the
    /// margin is for slower machines, the bound for CI's 90 minutes.
    #[arg(long, default_value_t = 3300)]
    timeout: u64,
    /// How many kernels boot at once (each guest uses one host core).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Arguments for every test binary (a name filter, `--nocapture`).
    #[arg(last = true)]
    test_args: Vec<String>,
}

/// What one kernel's run produced, for the summary.
struct Report {
    kernel: Kernel,
    verdict: Verdict,
    boot: Duration,
    initramfs: Duration,
    tests: qemu::TestCounts,
    steps: Vec<qemu::StepTime>,
    stats: Vec<Vec<String>>,
}

fn root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

pub fn run(o: &Options) -> Result<()> {
    let qemu = qemu::find()?;
    let specs: Vec<String> = if o.kernel.is_empty() {
        DEFAULT_KERNELS.iter().map(|s| s.to_string()).collect()
    } else {
        o.kernel.clone()
    };
    if o.shell && specs.len() != 1 {
        bail!("--shell boots one kernel: give one --kernel");
    }
    let (stats, tests) = initramfs::select(&o.only)?;
    let target = root().join("target");
    let cache = target.join("vm-cache");

    let t = Instant::now();
    let kernels = specs
        .iter()
        .map(|s| kernel::resolve(s, &cache))
        .collect::<Result<Vec<_>>>()?;
    let fetch = t.elapsed();

    let t = Instant::now();
    let art = artifacts::build(&target.join("vm/bin"), &tests)?;
    let build = t.elapsed();
    let plan = initramfs::plan(&art, stats, &o.test_args);

    let mut boots = Vec::new();
    for k in kernels {
        let t = Instant::now();
        let dir = target.join("vm").join(&k.label);
        let initrd = initramfs::build(&k, &art, &plan, &dir)?;
        let initramfs = t.elapsed();
        eprintln!(
            "vm: {}: initramfs {} ({:.1} s)",
            k.label,
            initrd.display(),
            initramfs.as_secs_f64()
        );
        if o.shell {
            return qemu::shell(&qemu, &k, &initrd, &o.append);
        }
        boots.push((k, initrd, initramfs));
    }

    // The kernels boot side by side, `--jobs` at a time: each guest has
    // one vCPU (see qemu.rs), so two of them keep this machine's two cores
    // busy and the matrix takes the time of its slowest kernel.
    let mut reports = Vec::new();
    for batch in boots.chunks(o.jobs.max(1)) {
        let done = std::thread::scope(|s| {
            let runs: Vec<_> = batch
                .iter()
                .map(|(k, initrd, initramfs)| {
                    let qemu = &qemu;
                    s.spawn(move || boot(qemu, k, initrd, *initramfs, o))
                })
                .collect();
            runs.into_iter()
                .map(|r| r.join().expect("a VM thread panicked"))
                .collect::<Result<Vec<_>>>()
        })?;
        reports.extend(done);
    }
    summary(&reports, fetch, build)
}

/// One kernel's run, booted once more if it panicked before init started.
fn boot(
    qemu: &std::path::Path,
    k: &Kernel,
    initrd: &std::path::Path,
    initramfs: Duration,
    o: &Options,
) -> Result<Report> {
    let t = Instant::now();
    let timeout = Duration::from_secs(o.timeout);
    let mut out = qemu::run(qemu, k, initrd, &o.append, timeout)?;
    // Debian's kernels have been seen to oops in early boot under TCG (int3
    // while patching static keys, before any of our code ran). One more
    // boot tells that flake from a real failure; a panic once init has
    // started is never retried.
    if matches!(out.verdict, Verdict::Panic(_)) && !out.init_started {
        eprintln!(
            "vm: {}: the kernel panicked before init started (boot flake under TCG); booting once more",
            k.label
        );
        out = qemu::run(qemu, k, initrd, &o.append, timeout)?;
    }
    let boot = t.elapsed();
    eprintln!(
        "vm: {}: {} ({:.1} s)",
        k.label,
        out.verdict,
        boot.as_secs_f64()
    );
    Ok(Report {
        kernel: k.clone(),
        verdict: out.verdict,
        boot,
        initramfs,
        tests: out.tests,
        steps: out.steps,
        stats: out.stats,
    })
}

fn summary(reports: &[Report], fetch: Duration, build: Duration) -> Result<()> {
    println!(
        "\nvm: kernel packages {:.1} s, build {:.1} s",
        fetch.as_secs_f64(),
        build.as_secs_f64()
    );
    println!(
        "{:<8} {:<52} {:>10} {:>9} {:>7} {:>7}  verdict",
        "kernel", "package", "initramfs", "boot+run", "passed", "failed"
    );
    for r in reports {
        println!(
            "{:<8} {:<52} {:>8.1} s {:>7.1} s {:>7} {:>7}  {}",
            r.kernel.label,
            r.kernel.package,
            r.initramfs.as_secs_f64(),
            r.boot.as_secs_f64(),
            r.tests.passed,
            r.tests.failed,
            r.verdict
        );
    }
    step_table(reports);
    stats_table(reports);
    let failed: Vec<_> = reports
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Success))
        .collect();
    let (passed, nfailed) = reports
        .iter()
        .fold((0, 0), |(p, f), r| (p + r.tests.passed, f + r.tests.failed));
    println!("vm: {passed} passed, {nfailed} failed");
    if !failed.is_empty() {
        let names: Vec<_> = failed
            .iter()
            .map(|r| format!("{} ({})", r.kernel.label, r.verdict))
            .collect();
        bail!("VM run failed on {}", names.join(", "));
    }
    Ok(())
}

/// Seconds each step (test binary) took, a column per kernel, the slowest
/// first: where the VM run's time goes.
fn step_table(reports: &[Report]) {
    let mut labels: Vec<&str> = Vec::new();
    for r in reports {
        for st in &r.steps {
            if !labels.contains(&st.label.as_str()) {
                labels.push(&st.label);
            }
        }
    }
    if labels.is_empty() {
        return;
    }
    let time = |r: &Report, label: &str| {
        r.steps
            .iter()
            .find(|st| st.label == label)
            .map(|st| (st.secs, st.ok))
    };
    let slowest = |label: &str| {
        reports
            .iter()
            .filter_map(|r| time(r, label).and_then(|(s, _)| s))
            .fold(0.0, f64::max)
    };
    labels.sort_by(|a, b| slowest(b).total_cmp(&slowest(a)));
    print!("\nstep times (s, under TCG)\n{:<18}", "step");
    for r in reports {
        print!(" {:>10}", r.kernel.label);
    }
    println!();
    for label in &labels {
        print!("{label:<18}");
        for r in reports {
            let cell = match time(r, label) {
                Some((Some(s), ok)) => format!("{s:.1}{}", if ok { "" } else { "!" }),
                Some((None, _)) => "failed".into(),
                None => "-".into(),
            };
            print!(" {cell:>10}");
        }
        println!();
    }
    print!("{:<18}", "total");
    for r in reports {
        let total: f64 = r.steps.iter().filter_map(|st| st.secs).sum();
        print!(" {total:>10.1}");
    }
    println!("\n(!: the step failed; -: it did not run or did not end)");
}

/// One table for all kernels: a row per (program, kernel).
fn stats_table(reports: &[Report]) {
    if reports.iter().all(|r| r.stats.is_empty()) {
        return;
    }
    println!("\nverifier statistics (load_ms: wall time of BPF_PROG_LOAD under TCG, mostly verification)");
    let mut header_done = false;
    for r in reports {
        let Some((header, rows)) = r.stats.split_first() else {
            println!("{:<8} (no statistics)", r.kernel.label);
            continue;
        };
        if !header_done {
            println!("{:<8} {}", "kernel", fmt_row(header));
            header_done = true;
        }
        for row in rows {
            println!("{:<8} {}", r.kernel.label, fmt_row(row));
        }
    }
}

fn fmt_row(cols: &[String]) -> String {
    let mut s = format!("{:<16}", cols.first().map_or("", |c| c.as_str()));
    for c in cols.iter().skip(1) {
        s += &format!(" {c:>14}");
    }
    s
}
