//! The prefix table (`PREFIXES`, an LPM trie): inserts, removals and the
//! listing, in one place.
//!
//! An exact hash per common length (/64, /56, /48) in front of the trie was
//! tried and measured: it made packets that are not for a tunnel pay three
//! hash misses (+95 ns in test-run), and its buckets, charged even when
//! empty, took map memory past 256 B per tunnel, while decap with many
//! active tunnels did not get faster (cache misses on the per-tunnel
//! entries dominate). So one trie it is.

use anyhow::{Context, Result};
use aya::maps::{
    lpm_trie::{Key, LpmTrie},
    MapData, MapError,
};
use tunnel_common::maps;

use super::Datapath;
use crate::prefix::Ipv6Prefix;

fn lpm_key(p: &Ipv6Prefix) -> Key<[u8; 16]> {
    Key::new(p.len() as u32, p.addr().octets())
}

impl Datapath {
    fn trie(&mut self) -> Result<LpmTrie<&mut MapData, [u8; 16], u32>> {
        Ok(LpmTrie::try_from(
            self.ebpf.map_mut(maps::PREFIXES).context(maps::PREFIXES)?,
        )?)
    }

    /// Inserts `p` → `id` (`flags`: BPF_ANY/BPF_NOEXIST).
    pub(super) fn prefix_insert(
        &mut self,
        p: &Ipv6Prefix,
        id: u32,
        flags: u64,
    ) -> Result<std::result::Result<(), MapError>> {
        Ok(self.trie()?.insert(&lpm_key(p), id, flags))
    }

    pub(super) fn prefix_remove(
        &mut self,
        p: &Ipv6Prefix,
    ) -> Result<std::result::Result<(), MapError>> {
        Ok(self.trie()?.remove(&lpm_key(p)))
    }

    /// Every prefix with its tunnel.
    pub(super) fn prefix_entries(&mut self) -> Result<Vec<(Ipv6Prefix, u32)>> {
        let mut out = Vec::new();
        for kv in self.trie()?.iter() {
            let (k, id) = kv?;
            let p = Ipv6Prefix::new(std::net::Ipv6Addr::from(k.data()), k.prefix_len() as u8)?;
            out.push((p, id));
        }
        Ok(out)
    }
}
