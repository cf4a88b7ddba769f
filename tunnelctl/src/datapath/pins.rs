//! Pinned maps and links, so that the datapath outlives the daemon: a
//! restart (or an upgrade) reuses the maps, and replaces the program on the
//! pinned XDP links atomically (BPF_LINK_UPDATE), with no gap in traffic.
//!
//! aya reuses a pinned map without looking at its layout (aya#837), so the
//! pins are checked here first: a map of another shape is refused, never
//! misread. Pins live in `<pin_dir>/v<ABI_VERSION>/`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aya::maps::MapInfo;
use tunnel_common::{
    ayiya::SignWork,
    config::{RateLimitState, RuntimeConfig},
    jump::JumpArgs,
    maps,
    nat64::{config::Nat64Config, eam::Eam},
    ndp::{ProxyKey, UplinkInfo, NS_MAX},
    nets::{NetKey, Pools},
    nexthop::{self, NextHopEntry},
    pinger::PingReply,
    stats::TunnelCounters,
    tunnel::{DecapRef, Endpoint, TunnelInfo, TunnelSecret, TunnelV4Key},
    ABI_VERSION,
};

use super::DatapathOptions;

/// Shape of one map as this build creates it.
#[derive(Debug, PartialEq, Eq)]
pub struct Layout {
    pub name: &'static str,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

const fn size<T>() -> u32 {
    core::mem::size_of::<T>() as u32
}

/// Every map of the object, with the sizes `opts` gives them.
pub fn layouts(opts: &DatapathOptions) -> Vec<Layout> {
    let l = |name, key_size, value_size, max_entries| Layout {
        name,
        key_size,
        value_size,
        max_entries,
    };
    vec![
        l(maps::TUNNELS, 4, size::<TunnelInfo>(), opts.max_tunnels),
        l(
            maps::TUN_BY_V4,
            size::<TunnelV4Key>(),
            size::<DecapRef>(),
            opts.max_tunnels,
        ),
        l(maps::ENDPOINTS, 4, size::<Endpoint>(), opts.max_tunnels),
        l(maps::PINGS, 4, size::<PingReply>(), opts.max_tunnels),
        l(maps::SECRETS, 4, size::<TunnelSecret>(), opts.max_tunnels),
        l(maps::TUN_BY_ID6, 16, size::<DecapRef>(), opts.max_tunnels),
        l(maps::CLOCK, 4, 8, 1),
        l(maps::SHA_WORK, 4, size::<SignWork>(), 1),
        l(maps::AYIYA_SEEN, 16, 4, maps::AYIYA_SEEN_SLOTS),
        // LPM key: prefix length (u32) then the address.
        l(maps::PREFIXES, 4 + 16, 4, opts.max_prefixes),
        l(
            maps::TUN_STATS,
            4,
            size::<TunnelCounters>(),
            opts.max_tunnels,
        ),
        l(maps::DROPS, 4, 8, maps::COUNTER_SLOTS),
        l(maps::EVENTS, 4, 8, maps::COUNTER_SLOTS),
        l(maps::CONFIG, 4, size::<RuntimeConfig>(), 1),
        l(maps::ICMP_RATE, 4, size::<RateLimitState>(), 1),
        // struct bpf_devmap_val: ifindex and a program fd/id.
        l(maps::TX_PORTS, 4, 8, maps::MAX_TX_PORTS),
        l(maps::PROXIES, size::<ProxyKey>(), 4, opts.max_proxies),
        l(maps::UPLINKS, 4, size::<UplinkInfo>(), maps::MAX_TX_PORTS),
        l(maps::JUMPS, 4, 4, maps::MAX_JUMPS),
        l(maps::JUMPS_LOCAL, 4, 4, maps::MAX_JUMPS_LOCAL),
        l(maps::SCRATCH, 4, NS_MAX as u32, 1),
        l(maps::JUMP_ARGS, 4, size::<JumpArgs>(), 1),
        l(maps::NETS, size::<NetKey>(), 4, opts.max_prefixes),
        l(maps::POOLS, 4, size::<Pools>(), 1),
        l(
            maps::NEXTHOPS,
            4,
            size::<NextHopEntry>(),
            nexthop::NEXTHOP_SLOTS,
        ),
        l(maps::ROUTES4, 4 + 4, 4, nexthop::MAX_ROUTES),
        l(maps::ROUTES6, 4 + 16, 4, nexthop::MAX_ROUTES),
        l(maps::NAT64, 4, size::<Nat64Config>(), 1),
        l(maps::EAM6, 4 + 16, size::<Eam>(), maps::DEFAULT_MAX_EAMS),
        l(maps::EAM4, 4 + 4, size::<Eam>(), maps::DEFAULT_MAX_EAMS),
        // Perf event array: CPU → ring fd; one slot per possible CPU, as
        // the loader sizes it.
        l(maps::SLOWPATH, 4, 4, possible_cpus()),
    ]
}

/// The possible CPUs (what the loader sizes a perf event array to); 0 if
/// the kernel does not say, which no pinned map matches.
pub fn possible_cpus() -> u32 {
    aya::util::nr_cpus().map_or(0, |n| n as u32)
}

/// `<pin_dir>/v<ABI>`: where this build's pins live.
pub fn versioned_dir(pin_dir: &Path) -> PathBuf {
    pin_dir.join(format!("v{ABI_VERSION}"))
}

pub fn map_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("maps").join(name)
}

pub fn link_path(dir: &Path, ifname: &str) -> PathBuf {
    dir.join("links").join(format!("xdp-{ifname}"))
}

/// The TCX link of `tunnel_tc` on the egress of `ifname`.
pub fn tc_link_path(dir: &Path, ifname: &str) -> PathBuf {
    dir.join("links").join(format!("tc-egress-{ifname}"))
}

/// Checks the pins under `dir` against this build. Returns whether maps are
/// pinned there (a restart) or none are (a first start). A pinned map of
/// another shape is an error.
pub fn check(dir: &Path, opts: &DatapathOptions) -> Result<bool> {
    let want = layouts(opts);
    let present: Vec<&Layout> = want
        .iter()
        .filter(|l| map_path(dir, l.name).exists())
        .collect();
    if present.is_empty() {
        return Ok(false);
    }
    // A map missing among present ones was added by this build (maps are
    // only ever added within one ABI version): aya creates and pins it,
    // empty. Maps that are present must match exactly.
    for l in present {
        let path = map_path(dir, l.name);
        let info = MapInfo::from_pin(&path)
            .with_context(|| format!("reading pinned map {}", path.display()))?;
        let have = Layout {
            name: l.name,
            key_size: info.key_size(),
            value_size: info.value_size(),
            max_entries: info.max_entries(),
        };
        if have != *l {
            bail!(
                "pinned map {} does not match this build: pinned key/value/entries {}/{}/{}, expected {}/{}/{}. \
                 If max_tunnels, max_prefixes or max_proxies changed, put them back or remove {} (this stops traffic)",
                path.display(),
                have.key_size,
                have.value_size,
                have.max_entries,
                l.key_size,
                l.value_size,
                l.max_entries,
                dir.display()
            );
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    /// Every map of the object is pinned and checked: a map left out of
    /// `layouts` would silently stop surviving restarts.
    #[test]
    fn layouts_cover_every_map() {
        let opts = super::DatapathOptions::default();
        let mut have: Vec<&str> = super::layouts(&opts).iter().map(|l| l.name).collect();
        let mut want = tunnel_common::maps::ALL.to_vec();
        have.sort();
        want.sort();
        assert_eq!(have, want);
    }
}
