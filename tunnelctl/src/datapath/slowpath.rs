//! The NAT64 slow path's rings (`SLOWPATH`, see
//! `tunnel_common::slowpath`): one perf ring per online CPU, opened by
//! whoever reads them (the daemon, a test). A ring is attached to the map
//! through the file that opened it: when the reader goes, so do its rings,
//! and the data path counts what it cannot hand over
//! (`nat64_slow_path_lost`) until the next reader opens new ones.

use std::ops::ControlFlow;

use anyhow::{Context, Result};
use aya::maps::{
    perf::{PerfEvent, PerfEventArrayBuffer},
    MapData, PerfEventArray,
};
use tunnel_common::maps;

use super::Datapath;

/// One CPU's ring.
pub type Ring = PerfEventArrayBuffer<MapData>;

/// What one drain of a ring found.
#[derive(Debug, Default)]
pub struct Drained {
    /// Each sample's bytes (meta, packet, the kernel's padding).
    pub samples: Vec<Vec<u8>>,
    /// Samples the kernel could not write (the ring was full).
    pub lost: u64,
}

impl Datapath {
    /// Opens a ring of `pages` pages (a power of two) on every online CPU.
    /// The map leaves the object: this works once per `Datapath`.
    pub fn slowpath_rings(&mut self, pages: usize) -> Result<Vec<Ring>> {
        let map = self
            .ebpf
            .take_map(maps::SLOWPATH)
            .context("the SLOWPATH map is missing or already taken")?;
        let mut array = PerfEventArray::try_from(map)?;
        let cpus =
            aya::util::online_cpus().map_err(|(what, e)| anyhow::anyhow!("reading {what}: {e}"))?;
        cpus.into_iter()
            .map(|cpu| {
                array
                    .open(cpu, Some(pages))
                    .with_context(|| format!("opening the slow path's ring on CPU {cpu}"))
            })
            .collect()
    }
}

/// Everything in `ring` now, copied out (a sample may wrap around the
/// ring's end: its two parts are joined).
pub fn drain(ring: &mut Ring) -> Drained {
    let mut out = Drained::default();
    let _: ControlFlow<(), ()> = ring.try_fold((), |(), ev| {
        match ev {
            PerfEvent::Sample { head, tail } => out.samples.push([head, tail].concat()),
            PerfEvent::Lost { count } => out.lost += count,
        }
        ControlFlow::Continue(())
    });
    out
}
