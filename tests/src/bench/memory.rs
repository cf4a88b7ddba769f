//! Map memory per tunnel, as the kernel charges it: the `memlock:` line of
//! each map's /proc/self/fdinfo entry (what bpftool prints; aya 0.14's
//! `MapInfo` has no accessor for it, only `ProgramInfo` does). Summed over
//! the maps that grow with the tunnel table, divided by the slots the
//! table was created with (max_tunnels) and by the tunnels it holds.
//!
//! The per-tunnel maps: `TUNNELS` (array), `TUN_BY_V4` (hash, preallocated:
//! charged in full at creation), `TUN_STATS` (array of 64-byte counter
//! slots, traffic and drops), `NETS` (exact hash of the prefixes, not preallocated:
//! its bucket array is charged for max_prefixes, its entries per prefix
//! loaded), `PREFIXES` (LPM trie for the rare lengths, not
//! preallocated: charged per entry in use), and the maps sized by the
//! tunnel table for the kinds with a learned endpoint or a key:
//! `ENDPOINTS` and `SECRETS` (arrays) and `TUN_BY_ID6` (AYIYA identities,
//! hash, preallocated).
//! Every other map of the object (counters, config, TX_PORTS, the NDP
//! proxy's PROXIES, sized by max_proxies, …) is listed apart and left out
//! of the per-tunnel figure.

use std::{
    io::{BufRead, BufReader},
    os::fd::{AsFd, AsRawFd, BorrowedFd},
    path::Path,
};

use anyhow::{Context, Result};
use aya::maps::{Map, MapData};
use tunnel_common::maps;
use tunnelctl::Datapath;

/// Maps whose size follows the tunnel table.
pub const PER_TUNNEL: [&str; 8] = [
    maps::TUNNELS,
    maps::TUN_BY_V4,
    maps::TUN_STATS,
    maps::NETS,
    maps::PREFIXES,
    maps::ENDPOINTS,
    maps::SECRETS,
    maps::TUN_BY_ID6,
];

/// The object's other maps.
fn others() -> Vec<&'static str> {
    maps::ALL
        .iter()
        .copied()
        .filter(|n| !PER_TUNNEL.contains(n))
        .collect()
}

#[derive(Clone, Debug)]
pub struct MapMemory {
    pub name: &'static str,
    pub max_entries: u32,
    /// The kernel's memlock figure, bytes.
    pub bytes: u64,
}

#[derive(Clone, Debug)]
pub struct Memory {
    /// Which datapath (the daemon's, the bench's big table).
    pub what: String,
    pub slots: u32,
    pub loaded: u32,
    pub per_tunnel: Vec<MapMemory>,
    pub others: Vec<MapMemory>,
}

impl Memory {
    pub fn per_tunnel_bytes(&self) -> u64 {
        self.per_tunnel.iter().map(|m| m.bytes).sum()
    }
    pub fn per_slot(&self) -> f64 {
        self.per_tunnel_bytes() as f64 / f64::from(self.slots.max(1))
    }
    pub fn per_loaded(&self) -> f64 {
        self.per_tunnel_bytes() as f64 / f64::from(self.loaded.max(1))
    }
    pub fn other_bytes(&self) -> u64 {
        self.others.iter().map(|m| m.bytes).sum()
    }
}

/// The `memlock:` figure of a map fd.
pub fn memlock(fd: BorrowedFd<'_>) -> Result<u64> {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let f = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    for line in BufReader::new(f).lines() {
        let line = line?;
        if let Some(v) = line.strip_prefix("memlock:") {
            return v.trim().parse().with_context(|| format!("{path}: {line}"));
        }
    }
    anyhow::bail!("{path} has no memlock line")
}

fn one(name: &'static str, m: &MapData) -> Result<MapMemory> {
    Ok(MapMemory {
        name,
        max_entries: m.info()?.max_entries(),
        bytes: memlock(m.fd().as_fd())?,
    })
}

/// The daemon's maps, opened from their pins in `dir` (`<pin_dir>/v<ABI>`).
pub fn of_pins(what: &str, dir: &Path, slots: u32, loaded: u32) -> Result<Memory> {
    let read = |names: &[&'static str]| -> Result<Vec<MapMemory>> {
        names
            .iter()
            .map(|&n| {
                let path = tunnelctl::datapath::pins::map_path(dir, n);
                let m = MapData::from_pin(&path)
                    .with_context(|| format!("opening pinned map {}", path.display()))?;
                one(n, &m)
            })
            .collect()
    };
    Ok(Memory {
        what: what.into(),
        slots,
        loaded,
        per_tunnel: read(&PER_TUNNEL)?,
        others: read(&others())?,
    })
}

/// The `MapData` inside any `Map` (every variant of aya 0.14's has one;
/// a new variant in a later aya fails to compile here, not at run time).
fn data(m: &Map) -> &MapData {
    macro_rules! any {
        ($($v:ident),*) => {
            match m {
                $(Map::$v(d))|* => d,
            }
        };
    }
    any!(
        Array,
        ArrayOfMaps,
        BloomFilter,
        CgroupArray,
        CgroupStorage,
        CgrpStorage,
        CpuMap,
        DevMap,
        DevMapHash,
        HashMap,
        HashOfMaps,
        InodeStorage,
        LpmTrie,
        LruHashMap,
        PerCpuArray,
        PerCpuCgroupStorage,
        PerCpuHashMap,
        PerCpuLruHashMap,
        PerfEventArray,
        ProgramArray,
        Queue,
        ReusePortSockArray,
        RingBuf,
        SockHash,
        SockMap,
        SkStorage,
        Stack,
        StackTraceMap,
        Unsupported,
        XskMap
    )
}

/// The maps of a datapath this process loaded.
pub fn of_datapath(what: &str, dp: &mut Datapath, loaded: u32) -> Result<Memory> {
    let slots = dp.options().max_tunnels;
    let ebpf = dp.ebpf_mut();
    let read = |names: &[&'static str]| -> Result<Vec<MapMemory>> {
        names
            .iter()
            .map(|&n| {
                let data = data(ebpf.map(n).with_context(|| format!("no map {n}"))?);
                one(n, data)
            })
            .collect()
    };
    Ok(Memory {
        what: what.into(),
        slots,
        loaded,
        per_tunnel: read(&PER_TUNNEL)?,
        others: read(&others())?,
    })
}
