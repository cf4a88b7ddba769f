//! One daemon per PoP. A PoP is its state (`state_path`) and its datapath
//! (`pin_dir`): a second daemon on either would rewrite the first one's
//! maps or store behind its back. So a daemon takes an exclusive flock(2)
//! on both before it reads or changes anything, and holds them until it
//! exits; the kernel drops them then, after a kill -9 too, so a stale lock
//! cannot outlive its daemon.

use std::{
    fs::File,
    io::Write,
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

/// A lock held until dropped (the file stays; only the lock goes).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// `<state_path>.lock`, next to the state.
pub fn state_lock_path(state_path: &Path) -> PathBuf {
    let mut p = state_path.as_os_str().to_owned();
    p.push(".lock");
    p.into()
}

/// Locks the state through `<state_path>.lock` (a SQLite file cannot be
/// flock'ed without getting in SQLite's way) and writes our pid in it, for
/// operators and for holders in another PID namespace.
pub fn state(state_path: &Path) -> Result<Lock> {
    if let Some(dir) = state_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let path = state_lock_path(state_path);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    if !try_lock(&file)? {
        let pid = holder(&file).or_else(|| read_pid(&path));
        bail!(
            "state_path {} is in use by {} (lock {}): one daemon per state_path and pin_dir; \
             stop it, or give this daemon its own state_path and pin_dir",
            state_path.display(),
            who(pid),
            path.display()
        );
    }
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    Ok(Lock { _file: file })
}

/// Locks the pin directory itself: bpffs holds no regular files, but a
/// directory can be flock'ed, and every daemon that would share the pins
/// sees this same directory.
pub fn pins(pin_dir: &Path) -> Result<Lock> {
    std::fs::create_dir_all(pin_dir).with_context(|| format!("creating {}", pin_dir.display()))?;
    let file = File::open(pin_dir).with_context(|| format!("opening {}", pin_dir.display()))?;
    if !try_lock(&file)? {
        bail!(
            "pin_dir {} is in use by {}: one daemon per state_path and pin_dir; \
             stop it, or give this daemon its own state_path and pin_dir",
            pin_dir.display(),
            who(holder(&file))
        );
    }
    Ok(Lock { _file: file })
}

fn who(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("another tunnelctl daemon (pid {pid})"),
        None => "another tunnelctl daemon".into(),
    }
}

/// Takes the lock without waiting; `false` if someone else holds it.
#[allow(unsafe_code)] // FFI: libc calls, each with a SAFETY note
fn try_lock(file: &File) -> Result<bool> {
    // SAFETY: flock(2) on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(false);
    }
    Err(e).context("flock")
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The pid holding a flock on `file`, from /proc/locks (which has it for
/// every file, the pin directory included).
fn holder(file: &File) -> Option<u32> {
    let m = file.metadata().ok()?;
    let dev = m.dev();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    flock_holder(&locks, libc::major(dev), libc::minor(dev), m.ino())
}

/// The pid of the FLOCK on (major:minor, inode) in /proc/locks text. Lines
/// look like `3: FLOCK  ADVISORY  WRITE 4711 00:19:1234 0 EOF` (device in
/// hex); waiters are marked `->` and do not hold anything.
pub fn flock_holder(locks: &str, major: u32, minor: u32, ino: u64) -> Option<u32> {
    let file = format!("{major:02x}:{minor:02x}:{ino}");
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.as_slice() {
            [_, "FLOCK", _, _, pid, id, ..] if *id == file => pid.parse().ok().filter(|&p| p > 0),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines() {
        let text = "1: POSIX  ADVISORY  WRITE 99 00:19:1234 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 4711 00:19:1234 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 4712 00:19:1234 0 EOF\n\
                    3: FLOCK  ADVISORY  WRITE 42 fd:01:77 0 EOF\n";
        assert_eq!(flock_holder(text, 0, 0x19, 1234), Some(4711));
        assert_eq!(flock_holder(text, 0xfd, 1, 77), Some(42));
        assert_eq!(flock_holder(text, 0, 0x19, 1235), None);
    }

    #[test]
    fn second_state_lock_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sub/state.db");
        let first = state(&db).unwrap();
        // flock conflicts between open files, even in one process.
        let e = state(&db).unwrap_err().to_string();
        let me = std::process::id();
        assert!(e.contains(&format!("pid {me})")), "{e}");
        assert!(e.contains("state.db.lock"), "{e}");
        assert_eq!(
            std::fs::read_to_string(state_lock_path(&db)).unwrap(),
            format!("{me}\n")
        );
        drop(first);
        state(&db).unwrap();
    }

    #[test]
    fn second_pin_lock_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("pins");
        let first = pins(&dir).unwrap();
        let e = pins(&dir).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {})", std::process::id())), "{e}");
        drop(first);
        pins(&dir).unwrap();
    }
}
