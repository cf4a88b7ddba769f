//! The next-hop cache's maps (`NEXTHOPS`, `ROUTES4`, `ROUTES6`; see
//! `tunnel_common::nexthop`), brought to the daemon's plan with as few
//! writes as possible. Order: next hops before the routes that point at
//! them, routes, then the next hops nothing points at any more, so no
//! packet follows a route to an empty slot.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aya::maps::{
    lpm_trie::{Key, LpmTrie},
    Array, MapData,
};
use tunnel_common::{
    maps,
    nexthop::{NextHopEntry, NEXTHOP_SLOTS},
};

use super::Datapath;
use crate::daemon::nexthops::plan::Tables;

impl Datapath {
    fn nexthop_array(&mut self) -> Result<Array<&mut MapData, NextHopEntry>> {
        Ok(Array::try_from(
            self.ebpf.map_mut(maps::NEXTHOPS).context(maps::NEXTHOPS)?,
        )?)
    }

    /// Brings the cache to `want`; returns the number of map writes.
    pub fn sync_nexthops(&mut self, want: &Tables) -> Result<usize> {
        let mut writes = 0;
        let mut have = BTreeMap::new();
        {
            let arr = self.nexthop_array()?;
            for slot in 1..NEXTHOP_SLOTS {
                have.insert(slot, arr.get(&slot, 0)?);
            }
        }
        for (slot, e) in &want.nexthops {
            if have.get(slot) != Some(e) {
                self.nexthop_array()?.set(*slot, *e, 0)?;
                writes += 1;
            }
        }
        writes += sync_trie::<4>(self, maps::ROUTES4, &want.routes4)?;
        writes += sync_trie::<16>(self, maps::ROUTES6, &want.routes6)?;
        for (slot, e) in have {
            if !want.nexthops.contains_key(&slot) && e != NextHopEntry::default() {
                self.nexthop_array()?
                    .set(slot, NextHopEntry::default(), 0)?;
                writes += 1;
            }
        }
        Ok(writes)
    }
}

fn sync_trie<const N: usize>(
    dp: &mut Datapath,
    name: &str,
    want: &BTreeMap<([u8; N], u8), u32>,
) -> Result<usize> {
    let mut trie: LpmTrie<&mut MapData, [u8; N], u32> =
        LpmTrie::try_from(dp.ebpf.map_mut(name).context(name.to_owned())?)?;
    let mut have = BTreeMap::new();
    for kv in trie.iter() {
        let (k, v) = kv?;
        have.insert((k.data(), k.prefix_len() as u8), v);
    }
    let mut writes = 0;
    for ((addr, len), slot) in want {
        if have.get(&(*addr, *len)) != Some(slot) {
            trie.insert(&Key::new(*len as u32, *addr), *slot, 0)
                .with_context(|| format!("writing {name}"))?;
            writes += 1;
        }
    }
    for (addr, len) in have.keys() {
        if !want.contains_key(&(*addr, *len)) {
            trie.remove(&Key::new(*len as u32, *addr))
                .with_context(|| format!("pruning {name}"))?;
            writes += 1;
        }
    }
    Ok(writes)
}
