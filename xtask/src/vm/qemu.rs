//! Booting a kernel and the initramfs in QEMU and reading the serial
//! console. Software emulation (TCG): this machine's /dev/kvm cannot run
//! stock kernels. The run ends on init's verdict, on a kernel panic (the
//! kernel reboots at once with panic=-1, QEMU exits with -no-reboot), or
//! at the deadline, when QEMU is killed: never a hung CI.

use std::{
    fmt,
    io::BufRead,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc::{self, RecvTimeoutError},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::kernel::Kernel;

const QEMU: &str = "qemu-system-x86_64";
/// oops=panic: a kernel oops ends the run now instead of at the deadline.
const APPEND: &str = "console=ttyS0 panic=-1 oops=panic quiet";
/// How long QEMU may take to power off once init has given its verdict.
const GRACE: Duration = Duration::from_secs(30);

pub enum Verdict {
    Success,
    /// init ran the plan; these steps failed.
    Failure(Vec<String>),
    Panic(String),
    Timeout(Duration),
    /// QEMU ended without a verdict from init (or a panic line).
    Silent(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Success => write!(f, "success"),
            Self::Failure(steps) if steps.is_empty() => {
                write!(f, "failure (see the console above)")
            }
            Self::Failure(steps) => write!(f, "failure in {}", steps.join(", ")),
            Self::Panic(line) => write!(f, "kernel panic: {line}"),
            Self::Timeout(d) => write!(
                f,
                "timeout: no verdict within {} s, QEMU killed",
                d.as_secs()
            ),
            Self::Silent(how) => write!(f, "no verdict from init: {how}"),
        }
    }
}

/// libtest's "test result:" lines, added up.
#[derive(Default)]
pub struct TestCounts {
    pub passed: u32,
    pub failed: u32,
}

/// One step of the plan as init reported its end: `init: step <label> ok
/// (12.3 s)` or `... FAILED: <why> (12.3 s)`.
pub struct StepTime {
    pub label: String,
    pub ok: bool,
    /// None when the step could not start (no time printed).
    pub secs: Option<f64>,
}

pub struct Outcome {
    pub verdict: Verdict,
    pub tests: TestCounts,
    /// The steps that ended, in order.
    pub steps: Vec<StepTime>,
    /// The verifier-stats table: header row first.
    pub stats: Vec<Vec<String>>,
    /// Whether the guest's init said anything: a panic before that is the
    /// kernel failing to boot, not a test's doing.
    pub init_started: bool,
}

pub fn find() -> Result<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    match path
        .split(':')
        .map(|d| Path::new(d).join(QEMU))
        .find(|p| p.is_file())
    {
        Some(p) => Ok(p),
        None => bail!("{QEMU} not found: install Debian's qemu-system-x86 (scripts/setup.sh does)"),
    }
}

/// Two vCPUs on one host thread (`thread=single`): with a thread per vCPU,
/// TCG has been seen to run a stale translation of kernel text that the
/// other vCPU had just patched (static keys flipped when a test attaches
/// XDP or TC), an `int3` oops in `__netif_receive_skb_core` in the middle
/// of a test. Taking turns on one thread, the vCPUs never race, and two
/// guests fill the host's two cores. Two vCPUs rather than one: with one,
/// the daemon's program loads (seconds of verifier work under TCG) starve
/// packet processing, and the restart-under-load test counts pings lost.
fn command(qemu: &Path, k: &Kernel, initrd: &Path, append: &str) -> Command {
    let mut cmd = Command::new(qemu);
    cmd.args([
        "-accel",
        "tcg,thread=single",
        "-machine",
        "q35",
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        "2G",
    ])
    .args([
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "mon:stdio",
        "-no-reboot",
    ])
    .arg("-kernel")
    .arg(&k.image)
    .arg("-initrd")
    .arg(initrd)
    .args(["-append", append]);
    cmd
}

/// Boots to a shell on this terminal (vm-init's `tunnel.shell`).
pub fn shell(qemu: &Path, k: &Kernel, initrd: &Path, append: &str) -> Result<()> {
    eprintln!(
        "vm: booting {} to a shell; Ctrl-A X quits QEMU, `exit` powers off",
        k.label
    );
    command(qemu, k, initrd, &format!("{APPEND} tunnel.shell {append}"))
        .status()
        .context("running QEMU")?;
    Ok(())
}

pub fn run(
    qemu: &Path,
    k: &Kernel,
    initrd: &Path,
    append: &str,
    timeout: Duration,
) -> Result<Outcome> {
    let mut child = command(qemu, k, initrd, &format!("{APPEND} {append}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting QEMU")?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(stdout);
        let mut buf = Vec::new();
        while matches!(r.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_owned();
            if tx.send(line).is_err() {
                break;
            }
            buf.clear();
        }
    });

    let start = Instant::now();
    let mut console = Console::default();
    let mut deadline = start + timeout;
    let verdict = loop {
        let line = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                kill(&mut child);
                break console.verdict().unwrap_or(Verdict::Timeout(timeout));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = child.wait()?;
                break console
                    .verdict()
                    .unwrap_or_else(|| Verdict::Silent(format!("QEMU exited ({status})")));
            }
        };
        // Seconds since boot on every line: libtest prints a test's name
        // when it ends, so the differences are each test's time.
        println!("{}|{:>7.1}| {line}", k.label, start.elapsed().as_secs_f64());
        if console.read(&line) {
            // init is done or the kernel panicked: QEMU should exit by itself.
            deadline = deadline.min(Instant::now() + GRACE);
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(Outcome {
        verdict,
        tests: console.tests,
        steps: console.steps,
        stats: console.stats,
        init_started: console.init_started,
    })
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// What the console has said so far.
#[derive(Default)]
struct Console {
    step: Option<String>,
    failed_steps: Vec<String>,
    init: Option<bool>,
    init_started: bool,
    panic: Option<String>,
    tests: TestCounts,
    steps: Vec<StepTime>,
    stats: Vec<Vec<String>>,
}

impl Console {
    /// Takes one line; true once the run is over (verdict or panic).
    fn read(&mut self, line: &str) -> bool {
        self.init_started |= line.starts_with("init: ");
        if let Some(rest) = line.strip_prefix("init: step ") {
            let (label, what) = rest.split_once(' ').unwrap_or((rest, ""));
            if what == "begin" {
                self.step = Some(label.to_owned());
            } else {
                let ok = !what.starts_with("FAILED");
                if !ok {
                    self.failed_steps.push(label.to_owned());
                }
                // The time is last, in parentheses: "(12.3 s)".
                let secs = what
                    .rsplit_once('(')
                    .and_then(|(_, t)| t.strip_suffix(" s)"))
                    .and_then(|t| t.parse().ok());
                self.steps.push(StepTime {
                    label: label.to_owned(),
                    ok,
                    secs,
                });
                self.step = None;
            }
        } else if line == "init: success" || line == "init: failure" {
            self.init = Some(line.ends_with("success"));
            return true;
        } else if line.contains("Kernel panic - not syncing") {
            self.panic = line.find("Kernel panic").map(|at| line[at..].to_owned());
            return true;
        } else if let Some(result) = line.strip_prefix("test result: ") {
            // "ok. 12 passed; 0 failed; 0 ignored; ..."
            for part in result.split(['.', ';']) {
                let mut words = part.split_whitespace();
                if let (Some(n), Some(kind)) = (
                    words.next().and_then(|n| n.parse::<u32>().ok()),
                    words.next(),
                ) {
                    match kind {
                        "passed" => self.tests.passed += n,
                        "failed" => self.tests.failed += n,
                        _ => {}
                    }
                }
            }
        } else if self.step.as_deref() == Some("stats") {
            // The header ("program ..."), then rows of numbers (or "-").
            let cols: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
            let numeric = |c: &String| c == "-" || c.parse::<f64>().is_ok();
            let header = cols.first().is_some_and(|c| c == "program");
            let row = !self.stats.is_empty() && cols.len() > 1 && cols[1..].iter().all(numeric);
            if header || row {
                self.stats.push(cols);
            }
        }
        false
    }

    fn verdict(&self) -> Option<Verdict> {
        if let Some(p) = &self.panic {
            return Some(Verdict::Panic(p.clone()));
        }
        match self.init? {
            true if self.failed_steps.is_empty() => Some(Verdict::Success),
            _ => Some(Verdict::Failure(self.failed_steps.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_times_from_init_lines() {
        let mut c = Console::default();
        for line in [
            "init: step l1_nat64 begin",
            "init: step l1_nat64 ok (81.4 s)",
            "init: step l2_dns64 begin",
            "init: step l2_dns64 FAILED: exit status: 101 (12.0 s)",
            "init: step vm_sit FAILED: cannot run /tests/deps/vm_sit: No such file",
        ] {
            assert!(!c.read(line));
        }
        let got: Vec<_> = c
            .steps
            .iter()
            .map(|s| (s.label.as_str(), s.ok, s.secs))
            .collect();
        assert_eq!(
            got,
            [
                ("l1_nat64", true, Some(81.4)),
                ("l2_dns64", false, Some(12.0)),
                ("vm_sit", false, None),
            ]
        );
        assert_eq!(c.failed_steps, ["l2_dns64", "vm_sit"]);
    }
}
