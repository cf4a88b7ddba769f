//! Where a prefix lives: `NETS` (exact hash) for the lengths in
//! `EXACT_LENS`, the `PREFIXES` trie for the others. The datapath looks in
//! both; this is the one place that decides which map a prefix goes to.

use anyhow::{Context, Result};
use aya::maps::{
    lpm_trie::{Key, LpmTrie},
    HashMap, MapData, MapError,
};
use tunnel_common::{
    maps,
    tunnel::{net_key, NetKey, EXACT_LENS},
};

use super::Datapath;
use crate::prefix::Ipv6Prefix;

fn exact(p: &Ipv6Prefix) -> Option<NetKey> {
    EXACT_LENS
        .contains(&p.len())
        .then(|| net_key(&p.addr().octets(), p.len()))
}

fn lpm_key(p: &Ipv6Prefix) -> Key<[u8; 16]> {
    Key::new(p.len() as u32, p.addr().octets())
}

impl Datapath {
    fn nets(&mut self) -> Result<HashMap<&mut MapData, NetKey, u32>> {
        Ok(HashMap::try_from(
            self.ebpf.map_mut(maps::NETS).context(maps::NETS)?,
        )?)
    }
    fn trie(&mut self) -> Result<LpmTrie<&mut MapData, [u8; 16], u32>> {
        Ok(LpmTrie::try_from(
            self.ebpf.map_mut(maps::PREFIXES).context(maps::PREFIXES)?,
        )?)
    }

    /// Inserts `p` → `id` into its map (`flags`: BPF_ANY/BPF_NOEXIST).
    pub(super) fn prefix_insert(
        &mut self,
        p: &Ipv6Prefix,
        id: u32,
        flags: u64,
    ) -> Result<std::result::Result<(), MapError>> {
        Ok(match exact(p) {
            Some(k) => self.nets()?.insert(k, id, flags),
            None => self.trie()?.insert(&lpm_key(p), id, flags),
        })
    }

    pub(super) fn prefix_remove(
        &mut self,
        p: &Ipv6Prefix,
    ) -> Result<std::result::Result<(), MapError>> {
        Ok(match exact(p) {
            Some(k) => self.nets()?.remove(&k),
            None => self.trie()?.remove(&lpm_key(p)),
        })
    }

    /// Every prefix in either map, with its tunnel.
    pub(super) fn prefix_entries(&mut self) -> Result<Vec<(Ipv6Prefix, u32)>> {
        let mut out = Vec::new();
        for kv in self.nets()?.iter() {
            let (k, id) = kv?;
            let mut a = [0u8; 16];
            a[..8].copy_from_slice(&k.net);
            out.push((
                Ipv6Prefix::new(std::net::Ipv6Addr::from(a), k.len as u8)?,
                id,
            ));
        }
        for kv in self.trie()?.iter() {
            let (k, id) = kv?;
            let p = Ipv6Prefix::new(std::net::Ipv6Addr::from(k.data()), k.prefix_len() as u8)?;
            out.push((p, id));
        }
        Ok(out)
    }
}
