//! The bpffs the pins live on, and whether it outlives the daemon.
//!
//! A bpffs instance lives as long as some mount namespace has it mounted.
//! Under `ip netns exec` (which remounts /sys in a mount namespace of its
//! own) or in a service's private mount namespace, /sys/fs/bpf is not the
//! host's: the bpffs the daemon mounts there dies with the daemon, the
//! pinned links with it, and every restart detaches the programs and
//! empties the maps. The daemon looks for its bpffs in PID 1's mount table:
//! if it is there, it outlives the daemon.

use std::{os::unix::fs::MetadataExt, path::Path};

use anyhow::{bail, Context, Result};
use tracing::{info, warn};

/// Mounts bpffs on `dir` unless one is there already (it is not at boot on
/// every system; pinning needs it).
#[allow(unsafe_code)] // FFI: libc calls, each with a SAFETY note
pub fn ensure(dir: &Path) -> Result<()> {
    const BPF_FS_MAGIC: i64 = 0xcafe4a11;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())?;
    // SAFETY: statfs is plain integers; all-zero is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C path and an out struct of the right type.
    let found = unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0;
    if found && st.f_type == BPF_FS_MAGIC {
        return Ok(());
    }
    let fs = std::ffi::CString::new("bpf")?;
    // SAFETY: valid C strings; mounting bpffs has no data argument.
    if unsafe { libc::mount(fs.as_ptr(), c.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) } != 0 {
        bail!(
            "mounting bpffs on {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }
    info!(dir = %dir.display(), "mounted bpffs");
    Ok(())
}

/// How long the pins on a bpffs last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Mounted where PID 1 sees it: the pins outlive the daemon.
    Host,
    /// Only this process's mount namespace has it: the pins die with it.
    Process,
    /// PID 1's mount table could not be read.
    Unknown(String),
}

/// The lifetime of the bpffs mounted at `dir`.
pub fn lifetime(dir: &Path) -> Lifetime {
    let dev = match std::fs::metadata(dir) {
        Ok(m) => m.dev(),
        Err(e) => return Lifetime::Unknown(format!("{}: {e}", dir.display())),
    };
    match std::fs::read_to_string("/proc/1/mountinfo") {
        Ok(t) if mounted_in(&t, libc::major(dev), libc::minor(dev)) => Lifetime::Host,
        Ok(_) => Lifetime::Process,
        Err(e) => Lifetime::Unknown(format!("/proc/1/mountinfo: {e}")),
    }
}

/// Whether a mount table (/proc/PID/mountinfo) has a mount of the file
/// system with device `major:minor` (third field, decimal). A bpffs
/// instance has a device number of its own, whatever its mount point.
pub fn mounted_in(mountinfo: &str, major: u32, minor: u32) -> bool {
    let dev = format!("{major}:{minor}");
    mountinfo
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some(dev.as_str()))
}

/// Refuses pins that die with the daemon unless `allow` (the config's
/// `allow_ephemeral_pins`). Returns their lifetime.
pub fn check_lifetime(dir: &Path, pin_dir: &Path, allow: bool) -> Result<Lifetime> {
    let l = lifetime(dir);
    match &l {
        Lifetime::Host => Ok(l),
        Lifetime::Process if allow => {
            warn!(
                pin_dir = %pin_dir.display(),
                "EPHEMERAL PINS (allow_ephemeral_pins): the bpffs holding the pins is private to \
                 this daemon's mount namespace; when the daemon stops, the programs detach and \
                 the maps go: a restart drops all traffic"
            );
            Ok(l)
        }
        Lifetime::Process => bail!(
            "pin_dir {}: the bpffs at {} is private to this process's mount namespace (PID 1 \
             does not see it; `ip netns exec` and private mount namespaces do this), so the pins \
             would die with the daemon and a restart would drop all traffic. Mount bpffs on the \
             host (mount -t bpf bpf /sys/fs/bpf) and start the daemon with `nsenter \
             --net=/run/netns/NAME` instead of `ip netns exec`, or set pin_dir on a bpffs \
             mounted on the host outside /sys, or set allow_ephemeral_pins = true",
            pin_dir.display(),
            dir.display()
        ),
        Lifetime::Unknown(why) => {
            warn!("cannot tell whether the pins outlive the daemon ({why})");
            Ok(l)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
31 23 0:27 / /sys/fs/bpf rw,relatime shared:9 - bpf bpf rw
36 27 253:1 / /var rw,noatime - ext4 /dev/vda1 rw
";

    #[test]
    fn finds_a_file_system_by_device() {
        assert!(mounted_in(MOUNTINFO, 0, 27));
        assert!(mounted_in(MOUNTINFO, 253, 1));
        // A bpffs mounted in another namespace has another device number.
        assert!(!mounted_in(MOUNTINFO, 0, 99));
        // Not confused by other fields.
        assert!(!mounted_in(MOUNTINFO, 23, 27));
        assert!(!mounted_in("", 0, 27));
    }

    /// /proc is where PID 1 sees it, whatever namespace runs the tests.
    #[test]
    fn proc_outlives_us() {
        if std::fs::read_to_string("/proc/1/mountinfo").is_ok() {
            assert_eq!(lifetime(Path::new("/proc")), Lifetime::Host);
        }
    }
}
