//! The data path's Unix clock. eBPF reads `CLOCK_BOOTTIME`
//! (`bpf_ktime_get_boot_ns`), which never jumps; protocols that carry Unix
//! time (AYIYA's epoch) need `CLOCK_REALTIME`. The daemon keeps their
//! difference in `CLOCK` and refreshes it, so NTP steps and slews reach the
//! data path within one refresh.

use anyhow::{bail, Context, Result};
use aya::maps::{Array, MapData};
use tunnel_common::maps;

use super::Datapath;

/// `CLOCK_REALTIME - CLOCK_BOOTTIME`, in ns.
pub fn offset_ns() -> Result<u64> {
    let real = now_ns(libc::CLOCK_REALTIME)?;
    let boot = boot_ns()?;
    if real <= boot {
        bail!("the real-time clock is before the boot time: the system clock is not set");
    }
    Ok(real - boot)
}

/// `CLOCK_BOOTTIME` in ns: the clock the data path stamps learned state
/// with (`bpf_ktime_get_boot_ns`).
pub fn boot_ns() -> Result<u64> {
    now_ns(libc::CLOCK_BOOTTIME)
}

#[allow(unsafe_code)] // FFI: clock_gettime into a local timespec
fn now_ns(clock: libc::clockid_t) -> Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(std::io::Error::last_os_error()).context("clock_gettime");
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

impl Datapath {
    /// Writes the clock offset the data path adds to its boot clock.
    pub fn set_clock(&mut self, unix_minus_boot_ns: u64) -> Result<()> {
        let mut a: Array<&mut MapData, u64> =
            Array::try_from(self.ebpf.map_mut(maps::CLOCK).context(maps::CLOCK)?)?;
        a.set(0, unix_minus_boot_ns, 0)?;
        Ok(())
    }

    /// Sets the clock from this host's clocks; returns the offset written.
    pub fn sync_clock(&mut self) -> Result<u64> {
        let off = offset_ns()?;
        self.set_clock(off)?;
        Ok(off)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn offset_is_unix_time_minus_uptime() {
        let off = super::offset_ns().unwrap();
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let up: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let want = unix - (up * 1e9) as u64;
        // /proc/uptime has centiseconds; allow a second.
        assert!(off.abs_diff(want) < 1_000_000_000, "{off} vs {want}");
    }
}
