//! Reading the datapath's counters (the global ones per CPU, summed; a
//! tunnel's in one shared slot).

use anyhow::{Context, Result};
use aya::maps::{Array, MapData, PerCpuArray};
use tunnel_common::{
    maps,
    stats::{Drop, Event, TunnelCounters, TunnelErrors},
};

use super::Datapath;

/// A snapshot of the global counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub drops: Vec<(Drop, u64)>,
    pub events: Vec<(Event, u64)>,
}

impl Counters {
    pub fn drop(&self, d: Drop) -> u64 {
        self.drops
            .iter()
            .find(|(k, _)| *k == d)
            .map_or(0, |(_, v)| *v)
    }
    pub fn event(&self, e: Event) -> u64 {
        self.events
            .iter()
            .find(|(k, _)| *k == e)
            .map_or(0, |(_, v)| *v)
    }
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(|(_, v)| v).sum()
    }
}

impl Datapath {
    fn sum(&mut self, map: &str, index: u32) -> Result<u64> {
        let a: PerCpuArray<&mut MapData, u64> =
            PerCpuArray::try_from(self.ebpf.map_mut(map).context(map.to_owned())?)?;
        Ok(a.get(&index, 0)?.iter().sum())
    }

    pub fn counters(&mut self) -> Result<Counters> {
        let mut c = Counters::default();
        for d in Drop::ALL {
            c.drops.push((*d, self.sum(maps::DROPS, *d as u32)?));
        }
        for e in Event::ALL {
            c.events.push((*e, self.sum(maps::EVENTS, *e as u32)?));
        }
        Ok(c)
    }

    fn tunnel_slots(&mut self) -> Result<Array<&mut MapData, TunnelCounters>> {
        Ok(Array::try_from(
            self.ebpf
                .map_mut(maps::TUN_STATS)
                .context(maps::TUN_STATS)?,
        )?)
    }

    /// Tunnel `id`'s traffic and drops.
    pub fn tunnel_counters(&mut self, id: u32) -> Result<TunnelCounters> {
        Ok(self.tunnel_slots()?.get(&id, 0)?)
    }

    /// The drops charged to tunnel `id`.
    pub fn tunnel_errors(&mut self, id: u32) -> Result<TunnelErrors> {
        Ok(self.tunnel_counters(id)?.errors())
    }

    /// Zeroes tunnel `id`'s counters (a reused slot starts from zero).
    pub fn reset_tunnel_counters(&mut self, id: u32) -> Result<()> {
        self.tunnel_slots()?.set(id, TunnelCounters::default(), 0)?;
        Ok(())
    }

    /// Zeroes the global counters (tests, bench runs).
    pub fn reset_counters(&mut self) -> Result<()> {
        let ncpu = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        for (map, n) in [(maps::DROPS, Drop::COUNT), (maps::EVENTS, Event::COUNT)] {
            let mut a: PerCpuArray<&mut MapData, u64> =
                PerCpuArray::try_from(self.ebpf.map_mut(map).context(map.to_owned())?)?;
            for i in 0..n {
                a.set(i, aya::maps::PerCpuValues::try_from(vec![0u64; ncpu])?, 0)?;
            }
        }
        Ok(())
    }

    /// Refills the ICMPv6 error token buckets of every CPU (tests, so that
    /// one case's exhausted bucket does not leak into the next).
    pub fn reset_rate_limits(&mut self) -> Result<()> {
        let ncpu = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        let mut a: PerCpuArray<&mut MapData, tunnel_common::config::RateLimitState> =
            PerCpuArray::try_from(
                self.ebpf
                    .map_mut(maps::ICMP_RATE)
                    .context(maps::ICMP_RATE)?,
            )?;
        // last_ns 0 reads as "long ago": the next packet finds a full bucket.
        let fresh = vec![Default::default(); ncpu];
        a.set(0, aya::maps::PerCpuValues::try_from(fresh)?, 0)?;
        Ok(())
    }
}
