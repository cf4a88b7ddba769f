//! PID 1 of the test VM that `cargo xtask vm` boots. It mounts what the
//! tests need, loads the kernel modules the initramfs lists, runs the steps
//! of `/etc/vm-plan` one by one with their output on the console, prints
//! `init: success` or `init: failure` (the host reads that line) and powers
//! off. With `tunnel.shell` on the kernel command line it opens a shell on
//! the console instead of running the plan.
//!
//! Files it reads, all written by xtask/src/vm/initramfs.rs:
//! - `/etc/vm-modules`: module files, one a line, dependencies first;
//! - `/etc/vm-plan`: one step a line, `label<TAB>program<TAB>arg<TAB>...`.
// Test and tooling code: raw syscalls (bpf, setns, sockets) and libc calls.
#![allow(unsafe_code)]

use std::{
    ffi::CString,
    fs::{self, File},
    os::{fd::AsRawFd, unix::process::CommandExt},
    process::{Command, Stdio},
    time::Instant,
};

const PLAN: &str = "/etc/vm-plan";
const MODULES: &str = "/etc/vm-modules";
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

fn main() {
    let ok = match setup() {
        Ok(()) if cmdline().split_whitespace().any(|w| w == "tunnel.shell") => {
            shell();
            true
        }
        Ok(()) => run_plan(),
        Err(e) => {
            println!("init: set-up failed: {e}");
            false
        }
    };
    println!("init: {}", if ok { "success" } else { "failure" });
    power_off();
}

fn setup() -> Result<(), String> {
    // (source, target, fstype): what tests and iproute2 expect to find.
    let mounts = [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
        // /dev/ptmx opens only with devpts on /dev/pts (l2_daemon reads
        // `tunnelctl apply`'s progress bar through a pty).
        ("devpts", "/dev/pts", "devpts"),
        ("tmpfs", "/run", "tmpfs"),
        ("tmpfs", "/tmp", "tmpfs"),
        ("bpf", "/sys/fs/bpf", "bpf"),
    ];
    for (src, target, fstype) in mounts {
        let _ = fs::create_dir_all(target);
        mount(src, target, fstype)?;
    }
    // `ip netns` keeps its namespaces under /run/netns.
    let _ = fs::create_dir_all("/run/netns");
    println!(
        "init: kernel {}",
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    for module in fs::read_to_string(MODULES)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
    {
        load_module(module)?;
    }
    Ok(())
}

fn mount(src: &str, target: &str, fstype: &str) -> Result<(), String> {
    let c = |s: &str| CString::new(s).expect("no NUL in mount arguments");
    let (src_c, target_c, fstype_c) = (c(src), c(target), c(fstype));
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            src_c.as_ptr(),
            target_c.as_ptr(),
            fstype_c.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(format!(
            "mount {fstype} on {target}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// finit_module(2) on a file; a module that is already there (built in, or
/// pulled in earlier) is fine.
fn load_module(path: &str) -> Result<(), String> {
    let f = File::open(path).map_err(|e| format!("module {path}: {e}"))?;
    let params = CString::default();
    // SAFETY: a valid fd and an empty parameter string.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0) };
    let err = std::io::Error::last_os_error();
    if rc != 0 && err.raw_os_error() != Some(libc::EEXIST) {
        return Err(format!("loading module {path}: {err}"));
    }
    Ok(())
}

fn cmdline() -> String {
    fs::read_to_string("/proc/cmdline").unwrap_or_default()
}

/// Runs every step, even after a failure, so that one run shows all of
/// them; returns whether all passed.
fn run_plan() -> bool {
    let plan = match fs::read_to_string(PLAN) {
        Ok(p) => p,
        Err(e) => {
            println!("init: {PLAN}: {e}");
            return false;
        }
    };
    let mut all_ok = true;
    for line in plan.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split('\t');
        let (Some(label), Some(program)) = (words.next(), words.next()) else {
            println!("init: bad plan line {line:?}");
            all_ok = false;
            continue;
        };
        println!("init: step {label} begin");
        let start = Instant::now();
        let status = Command::new(program).args(words).envs(env()).status();
        let secs = start.elapsed().as_secs_f64();
        match status {
            Ok(s) if s.success() => println!("init: step {label} ok ({secs:.1} s)"),
            Ok(s) => {
                println!("init: step {label} FAILED: {s} ({secs:.1} s)");
                all_ok = false;
            }
            Err(e) => {
                println!("init: step {label} FAILED: cannot run {program}: {e}");
                all_ok = false;
            }
        }
    }
    all_ok
}

/// The environment of every step. `TUNNEL_VM` tells tests that need a
/// kernel feature the host lacks (sit) that they must not skip here.
fn env() -> [(&'static str, &'static str); 4] {
    [
        ("PATH", PATH),
        ("TUNNEL_VM", "1"),
        ("RUST_BACKTRACE", "1"),
        ("HOME", "/root"),
    ]
}

/// An interactive shell with the console as its controlling terminal (so
/// that Ctrl-C reaches the foreground job, not init).
fn shell() {
    println!("init: shell on the console; `exit` powers the VM off (QEMU: Ctrl-A X quits at once)");
    let tty = match File::options().read(true).write(true).open("/dev/ttyS0") {
        Ok(t) => t,
        Err(e) => return println!("init: /dev/ttyS0: {e}"),
    };
    let stdio = |f: &File| f.try_clone().map(Stdio::from).expect("dup console");
    let mut cmd = Command::new("/bin/bash");
    cmd.envs(env())
        .env("PS1", "vm# ")
        .stdin(stdio(&tty))
        .stdout(stdio(&tty))
        .stderr(stdio(&tty));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 1);
            Ok(())
        });
    }
    if let Err(e) = cmd.status() {
        println!("init: cannot start /bin/bash: {e}");
    }
}

fn power_off() -> ! {
    // SAFETY: plain syscalls; init is about to end anyway.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    // Only if power-off failed: init exiting panics the kernel, and QEMU
    // runs with -no-reboot and panic=-1, so it exits either way.
    std::process::exit(1)
}
