//! The real daemon in a test namespace: `tunnelctl daemon` started with
//! `nsenter --net` (not `ip netns exec`, whose private mount namespace would
//! hide the pins from the next start; the daemon refuses it unless told to
//! accept ephemeral pins), driven by the real CLI.

use std::{
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::netns::Netns;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// How the daemon enters its network namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    /// `nsenter --net=…`: the host's mount namespace, pins persist.
    Nsenter,
    /// `ip netns exec`: a mount namespace of its own, /sys remounted.
    IpNetnsExec,
}

pub struct Daemon {
    pub dir: PathBuf,
    pub pin_dir: PathBuf,
    pub socket: PathBuf,
    netns: String,
    child: Option<Child>,
}

/// The tunnelctl binary of the same build: next to a bin
/// (target/<profile>/) or one level up from a test binary (…/deps/).
pub fn tunnelctl_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let here = exe.parent().context("binary location")?;
    let candidates = [Some(here), here.parent()];
    let found = candidates
        .iter()
        .flatten()
        .map(|d| d.join("tunnelctl"))
        .find(|b| b.exists());
    let bin = found.unwrap_or_else(|| here.join("tunnelctl"));
    if !bin.exists() {
        bail!(
            "{} not found: build it first (cargo build -p tunnelctl; cargo xtask test does)",
            bin.display()
        );
    }
    Ok(bin)
}

/// SIGTERM to a child process (the daemon, the AYIYA client), for the
/// tests that stop one cleanly.
pub fn sigterm(c: &Child) {
    signal(c, libc::SIGTERM);
}

/// Signal `sig` to a child process.
pub fn signal(c: &Child, sig: i32) {
    // SAFETY: plain kill(2) on a child we have not reaped.
    unsafe { libc::kill(c.id() as i32, sig) };
}

impl Daemon {
    /// Writes a config for a daemon in `ns` with the given uplinks and map
    /// sizes. Nothing runs yet.
    pub fn new(ns: &Netns, uplinks: &[&str], max_tunnels: u32, max_prefixes: u32) -> Result<Self> {
        let tag = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(format!("tp-daemon-{tag}"));
        std::fs::create_dir_all(&dir)?;
        let pin_dir = PathBuf::from(format!("/sys/fs/bpf/tp-test-{tag}"));
        let socket = dir.join("api.sock");
        let uplinks: Vec<String> = uplinks.iter().map(|u| format!("\"{u}\"")).collect();
        let cfg = format!(
            "uplinks = [{}]\nstate_path = \"{}\"\nsocket_path = \"{}\"\npin_dir = \"{}\"\n\
             metrics_listen = \"127.0.0.1:9641\"\nmax_tunnels = {max_tunnels}\nmax_prefixes = {max_prefixes}\n",
            uplinks.join(", "),
            dir.join("state.db").display(),
            socket.display(),
            pin_dir.display()
        );
        std::fs::write(dir.join("tunnelctl.toml"), cfg)?;
        Ok(Self {
            dir,
            pin_dir,
            socket,
            netns: ns.name().to_owned(),
            child: None,
        })
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("tunnelctl.toml")
    }

    /// This daemon's config with `key = value` lines replaced (or added),
    /// written to `<dir>/<name>`; returns its path.
    pub fn config_with(&self, name: &str, changes: &[(&str, &str)]) -> Result<PathBuf> {
        let mut lines: Vec<String> = std::fs::read_to_string(self.config_path())?
            .lines()
            .map(str::to_owned)
            .collect();
        for (key, value) in changes {
            let line = format!("{key} = {value}");
            match lines
                .iter_mut()
                .find(|l| l.split('=').next().map(str::trim) == Some(key))
            {
                Some(l) => *l = line,
                None => lines.push(line),
            }
        }
        let path = self.dir.join(name);
        std::fs::write(&path, lines.join("\n") + "\n")?;
        Ok(path)
    }

    /// Moves this daemon's pins to `pin_dir` (a config change, before a
    /// start): where the tests look for them, and what drop removes.
    pub fn set_pin_dir(&mut self, pin_dir: &std::path::Path) -> Result<()> {
        let value = format!("\"{}\"", pin_dir.display());
        self.config_with("tunnelctl.toml", &[("pin_dir", &value)])?;
        self.pin_dir = pin_dir.to_owned();
        Ok(())
    }

    /// The running daemon's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn command(&self, how: Launch, config: &std::path::Path) -> Result<Command> {
        let mut c = match how {
            Launch::Nsenter => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{}", self.netns));
                c
            }
            Launch::IpNetnsExec => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &self.netns]);
                c
            }
        };
        c.arg(tunnelctl_bin()?).args(["daemon", "-c"]).arg(config);
        Ok(c)
    }

    /// Runs a daemon with `config` in this daemon's namespace, expecting it
    /// to refuse to start: its output once it exits. One still running
    /// after 20 s is killed and reported as an error.
    pub fn run_refused(&self, config: &std::path::Path, how: Launch) -> Result<Output> {
        let mut child = self
            .command(how, config)?
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(child.wait_with_output()?);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill()?;
        let out = child.wait_with_output()?;
        bail!(
            "the daemon started instead of refusing:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Starts the daemon and waits until its API answers.
    pub fn start(&mut self) -> Result<()> {
        self.start_with(Launch::Nsenter)
    }

    pub fn start_with(&mut self, how: Launch) -> Result<()> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))?;
        let child = self
            .command(how, &self.config_path())?
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting the daemon")?;
        self.child = Some(child);
        // Loading verifies every program: seconds on the host, more than
        // 15 s under the VM tests' software emulation.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.ctl(&["status"])?.status.success() {
                return Ok(());
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("daemon exited with {st}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("daemon did not answer within 60 s:\n{}", self.log())
    }

    /// SIGTERM, then wait: a clean stop.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            sigterm(&c);
            c.wait()?;
        }
        Ok(())
    }

    /// SIGKILL: a crash at an arbitrary point.
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// Runs `tunnelctl --socket <ours> <args>`.
    pub fn ctl(&self, args: &[&str]) -> Result<Output> {
        Ok(Command::new(tunnelctl_bin()?)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()?)
    }

    /// Like `ctl`, failing unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> Result<String> {
        let out = self.ctl(args)?;
        if !out.status.success() {
            bail!(
                "tunnelctl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Tunnel ids the daemon lists.
    pub fn tunnel_ids(&self) -> Result<Vec<u32>> {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["tunnel", "list", "--json"])?)?;
        Ok(v.as_array()
            .context("list is an array")?
            .iter()
            .filter_map(|t| t["id"].as_u64())
            .map(|i| i as u32)
            .collect())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.kill9();
        // Unpinning the links detaches the programs; the maps go with them.
        let _ = std::fs::remove_dir_all(&self.pin_dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bpffs mounted by the test in the host's mount namespace, outside
/// /sys: what README tells operators who start the daemon with `ip netns
/// exec` (which remounts /sys but leaves other mounts alone), so pins on
/// it outlive the daemon. Unmounting it drops its pins, which detaches
/// what they held; drop unmounts it (after the daemons using it).
pub struct HostBpffs(PathBuf);

impl HostBpffs {
    /// Mounts a bpffs on `dir` (created).
    pub fn mount(dir: &std::path::Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let st = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(dir)
            .status()?;
        if !st.success() {
            bail!("mount -t bpf bpf {}: {st}", dir.display());
        }
        Ok(Self(dir.to_owned()))
    }

    /// Mounts one on a directory of its own under the temporary directory.
    pub fn new() -> Result<Self> {
        let tag = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        Self::mount(&std::env::temp_dir().join(format!("tp-bpffs-{tag}")))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for HostBpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// GET /metrics of the daemon in `ns` (the beds' `metrics_listen`).
pub fn metrics(ns: &Netns) -> String {
    use std::io::{Read, Write};
    let _in = ns.enter().unwrap();
    let mut s = std::net::TcpStream::connect("127.0.0.1:9641").unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// The L2 daemon bed: the three namespaces of `topology` (client, PoP,
/// upstream), the peers' pass programs (`pass`), and the real daemon on
/// the PoP's uplinks p0 and p1, started. Field order is drop order: the
/// daemon stops before the namespaces go.
pub struct DaemonBed {
    pub daemon: Daemon,
    pub ns: crate::topology::Namespaces,
}

impl DaemonBed {
    pub fn new(max_tunnels: u32, max_prefixes: u32) -> Result<Self> {
        Self::on(
            crate::topology::Namespaces::new()?,
            max_tunnels,
            max_prefixes,
        )
    }

    /// The bed on namespaces the caller made (e.g. with a prefix of its own).
    pub fn on(
        ns: crate::topology::Namespaces,
        max_tunnels: u32,
        max_prefixes: u32,
    ) -> Result<Self> {
        crate::pass::attach(&ns.client, "c0")?;
        crate::pass::attach(&ns.upstream, "u0")?;
        let mut daemon = Daemon::new(&ns.pop, &["p0", "p1"], max_tunnels, max_prefixes)?;
        daemon.start()?;
        Ok(Self { daemon, ns })
    }
}
