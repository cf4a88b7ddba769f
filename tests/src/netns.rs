//! Network namespaces for tests: created with iproute2, entered per thread
//! with setns(2), deleted on drop.

use std::{
    fs::File,
    os::fd::AsRawFd,
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

use anyhow::{bail, Context, Result};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A named network namespace (`/run/netns/<name>`), deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `tp-<role>-<pid>-<n>` with `lo` up.
    pub fn new(role: &str) -> Result<Self> {
        let name = format!(
            "tp-{role}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Self { name };
        ns.ip("link set lo up")?;
        Ok(ns)
    }

    /// Creates `name` exactly (a test's own prefix) with `lo` up.
    pub fn named(name: &str) -> Result<Self> {
        run(Command::new("ip").args(["netns", "add", name]))?;
        let ns = Self {
            name: name.to_owned(),
        };
        ns.ip("link set lo up")?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> <args>` (args split on whitespace).
    pub fn ip(&self, args: &str) -> Result<()> {
        run(Command::new("ip")
            .args(["-n", &self.name])
            .args(args.split_whitespace()))
        .map(|_| ())
    }

    /// Runs a command inside the namespace and returns its output; fails on
    /// a non-zero exit.
    pub fn run(&self, argv: &[&str]) -> Result<Output> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv))
    }

    /// Like `run`, without failing on a non-zero exit.
    pub fn output(&self, argv: &[&str]) -> Result<Output> {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .output()
            .with_context(|| format!("running {argv:?} in {}", self.name))
    }

    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.run(&["sysctl", "-qw", &format!("{key}={value}")])
            .map(|_| ())
    }

    /// Moves the calling thread into the namespace until the guard drops.
    pub fn enter(&self) -> Result<NetnsGuard> {
        let prev = File::open("/proc/thread-self/ns/net").context("current netns")?;
        let target = File::open(format!("/run/netns/{}", self.name)).context("netns file")?;
        setns(&target)?;
        Ok(NetnsGuard { prev })
    }

    /// MAC address of `ifname` inside the namespace.
    pub fn mac(&self, ifname: &str) -> Result<String> {
        let out = self.run(&["cat", &format!("/sys/class/net/{ifname}/address")])?;
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// Turns off checksum offload and segmentation on `ifname`, so XDP sees
    /// and forwards complete, checksummed frames (veth defaults to
    /// CHECKSUM_PARTIAL and TSO).
    pub fn plain_offloads(&self, ifname: &str) -> Result<()> {
        self.run(&[
            "ethtool", "-K", ifname, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
        ])
        .map(|_| ())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Restores the thread's previous namespace on drop.
pub struct NetnsGuard {
    prev: File,
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        setns(&self.prev).expect("returning to the previous network namespace");
    }
}

fn setns(f: &File) -> Result<()> {
    // SAFETY: a valid namespace fd; affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Connects `a:an` and `b:bn` with a veth pair.
pub fn veth(a: &Netns, an: &str, b: &Netns, bn: &str) -> Result<()> {
    a.ip(&format!(
        "link add {an} type veth peer name {bn} netns {}",
        b.name()
    ))?;
    a.ip(&format!("link set {an} up"))?;
    b.ip(&format!("link set {bn} up"))?;
    a.plain_offloads(an)?;
    b.plain_offloads(bn)?;
    Ok(())
}

fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}
