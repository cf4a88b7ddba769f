//! The drop and event counters after every run, exactly and cheaply: one
//! BPF_MAP_LOOKUP_BATCH per map (Linux ≥ 5.6 for per-CPU arrays) reads
//! every slot of every CPU in one system call, where `Datapath::counters`
//! takes one call per slot. The fuzz compares two readings around each
//! run, so each frame's drops and events are known on their own.

use std::os::fd::{AsFd, AsRawFd, RawFd};

use anyhow::{bail, Context, Result};
use aya::maps::Map;
use tunnel_common::{
    maps,
    stats::{Drop, Event},
};
use tunnel_tests::prog::ProgBed;

const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// `union bpf_attr`'s `batch` member (uapi/linux/bpf.h).
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Totals over all CPUs of each drop reason and each event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Snapshot {
    pub drops: Vec<u64>,
    pub events: Vec<u64>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            drops: vec![0; Drop::COUNT as usize],
            events: vec![0; Event::COUNT as usize],
        }
    }
}

impl Snapshot {
    pub fn add(&mut self, o: &Snapshot) {
        for (a, b) in self.drops.iter_mut().zip(&o.drops) {
            *a += b;
        }
        for (a, b) in self.events.iter_mut().zip(&o.events) {
            *a += b;
        }
    }

    /// `self - before`, slot by slot.
    pub fn since(&self, before: &Snapshot) -> Snapshot {
        let d = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(x, y)| x.wrapping_sub(*y)).collect();
        Snapshot {
            drops: d(&self.drops, &before.drops),
            events: d(&self.events, &before.events),
        }
    }
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
    pub fn drop(&self, d: Drop) -> u64 {
        self.drops[d as usize]
    }
    pub fn event(&self, e: Event) -> u64 {
        self.events[e as usize]
    }
    /// Non-zero counters by name, for messages.
    pub fn describe(&self) -> String {
        let mut v: Vec<String> = Drop::ALL
            .iter()
            .filter(|d| self.drop(**d) > 0)
            .map(|d| format!("drop {}={}", d.name(), self.drop(*d)))
            .collect();
        v.extend(
            Event::ALL
                .iter()
                .filter(|e| self.event(**e) > 0)
                .map(|e| format!("{}={}", e.name(), self.event(*e))),
        );
        v.join(" ")
    }
}

pub struct Counters {
    drops_fd: RawFd,
    events_fd: RawFd,
    ncpu: usize,
    keys: Vec<u32>,
    values: Vec<u64>,
}

fn map_fd(bed: &mut ProgBed, name: &str) -> Result<RawFd> {
    match bed.dp.ebpf_mut().map(name).context(name.to_owned())? {
        Map::PerCpuArray(data) => Ok(data.fd().as_fd().as_raw_fd()),
        _ => bail!("{name} is not a per-CPU array"),
    }
}

impl Counters {
    /// The file descriptors stay the bed's: use this only while it lives.
    pub fn new(bed: &mut ProgBed) -> Result<Self> {
        let ncpu = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        let n = Drop::COUNT.max(Event::COUNT) as usize;
        Ok(Counters {
            drops_fd: map_fd(bed, maps::DROPS)?,
            events_fd: map_fd(bed, maps::EVENTS)?,
            ncpu,
            keys: vec![0; n],
            values: vec![0; n * ncpu],
        })
    }

    fn read(&mut self, fd: RawFd, n: u32) -> Result<Vec<u64>> {
        let mut out_batch = 0u32;
        let mut attr = BatchAttr {
            out_batch: &mut out_batch as *mut u32 as u64,
            keys: self.keys.as_mut_ptr() as u64,
            values: self.values.as_mut_ptr() as u64,
            count: n,
            map_fd: fd as u32,
            ..Default::default()
        };
        // SAFETY: every pointer in `attr` points at a buffer of this struct
        // large enough for `n` keys and `n` per-CPU values (8 bytes each).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &mut attr as *mut BatchAttr,
                std::mem::size_of::<BatchAttr>(),
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            // ENOENT: the map ended before `n` (never for these sizes).
            if e.raw_os_error() != Some(libc::ENOENT) || attr.count != n {
                bail!("BPF_MAP_LOOKUP_BATCH: {e} ({} of {n})", attr.count);
            }
        }
        if attr.count != n {
            bail!("BPF_MAP_LOOKUP_BATCH returned {} of {n} slots", attr.count);
        }
        Ok((0..n as usize)
            .map(|i| {
                debug_assert_eq!(self.keys[i], i as u32);
                self.values[i * self.ncpu..(i + 1) * self.ncpu].iter().sum()
            })
            .collect())
    }

    pub fn snapshot(&mut self) -> Result<Snapshot> {
        Ok(Snapshot {
            drops: self.read(self.drops_fd, Drop::COUNT)?,
            events: self.read(self.events_fd, Event::COUNT)?,
        })
    }
}
