//! The prefix tables: `NETS` (exact hash per prefix length in use), the
//! `PREFIXES` trie for lengths beyond those, and `POOLS`, which tells the
//! data path which addresses can be ours at all and which lengths to try
//! (see `tunnel_common::nets`). Inserts, removals and the listing, in one
//! place.
//!
//! `POOLS` only grows while the maps live: a stale aggregate or length
//! costs a lookup for some packets, never a wrong answer. A prefix's table
//! follows from its length and the lengths in `POOLS`, which never lose a
//! member, so a prefix is always looked for where it was put.
//!
//! The first version put /64, /56 and /48 in three hashes in front of a
//! trie holding everything: packets for no tunnel paid three hash misses
//! and decap with many tunnels did not get faster. The pool test in front
//! is what makes exact lookups pay: traffic that is not for a tunnel never
//! reaches a hash.

use anyhow::{Context, Result};
use aya::maps::{
    lpm_trie::{Key, LpmTrie},
    Array, HashMap, MapData, MapError,
};
use tunnel_common::{
    maps,
    nets::{
        net_key, NetKey, PoolEntry, Pools, FAST_LENGTHS, POOLS_F_ALL, POOLS_F_TRIE, POOL_SLOTS,
    },
};

use super::Datapath;
use crate::prefix::Ipv6Prefix;

fn lpm_key(p: &Ipv6Prefix) -> Key<[u8; 16]> {
    Key::new(p.len() as u32, p.addr().octets())
}

fn nets_key(p: &Ipv6Prefix) -> NetKey {
    net_key(&p.addr().octets(), p.len() as u32)
}

/// Where prefixes of length `len` live, given the lengths in `pools`.
fn is_fast(pools: &Pools, len: u8) -> bool {
    pools.lengths[..pools.n_lengths as usize].contains(&len)
}

/// `pools` grown to take `p`: its length among the exact ones if there is
/// room (/64, the tunnels' own, goes first), and an aggregate covering it.
/// Aggregates stay as specific as the slots allow: a new prefix gets its
/// own (up to /64), and when the slots run out the two closest aggregates
/// merge into their common supernet, so addresses next to a broker's
/// pools (its upstream, the rest of its /32) stay "not ours". Returns
/// whether anything changed.
pub fn grow(pools: &mut Pools, p: &Ipv6Prefix) -> bool {
    let mut changed = false;
    let len = p.len();
    let n = pools.n_lengths as usize;
    if !is_fast(pools, len) {
        if n < FAST_LENGTHS {
            pools.lengths[n] = len;
            pools.n_lengths += 1;
            if len == 64 {
                pools.lengths[..=n].rotate_right(1);
            }
        } else {
            pools.flags |= POOLS_F_TRIE;
        }
        changed = true;
    }
    if pools.flags & POOLS_F_ALL == 0 && !pools.covers(&p.addr().octets()) {
        let mut v: Vec<PoolEntry> = pools.pools[..pools.count as usize].to_vec();
        add_aggregate(
            &mut v,
            PoolEntry::of(&p.addr().octets(), len.min(64) as u32),
        );
        pools.pools = [PoolEntry::default(); POOL_SLOTS];
        pools.pools[..v.len()].copy_from_slice(&v);
        pools.count = v.len() as u32;
        if pools.count == 0 {
            // Merged down to ::/0: that is "everything".
            pools.flags |= POOLS_F_ALL;
        }
        changed = true;
    }
    changed
}

fn bits(e: &PoolEntry) -> u32 {
    e.mask.count_ones()
}

fn covers(outer: &PoolEntry, inner: &PoolEntry) -> bool {
    bits(outer) <= bits(inner) && inner.net & outer.mask == outer.net
}

/// Adds `new` to `v`, dropping entries it covers, then merges the closest
/// pair until `v` fits the slots.
fn add_aggregate(v: &mut Vec<PoolEntry>, new: PoolEntry) {
    v.retain(|e| !covers(&new, e));
    v.push(new);
    while v.len() > POOL_SLOTS {
        let mut best = (0, 1, 0u32);
        for i in 0..v.len() {
            for j in i + 1..v.len() {
                let common = (v[i].net ^ v[j].net)
                    .leading_zeros()
                    .min(bits(&v[i]))
                    .min(bits(&v[j]));
                if common >= best.2 {
                    best = (i, j, common);
                }
            }
        }
        let (i, _, common) = best;
        let mask = tunnel_common::nets::mask64(common);
        let merged = PoolEntry {
            net: v[i].net & mask,
            mask,
        };
        if common == 0 {
            v.clear();
            return;
        }
        v.retain(|e| !covers(&merged, e));
        v.push(merged);
    }
}

impl Datapath {
    fn trie(&mut self) -> Result<LpmTrie<&mut MapData, [u8; 16], u32>> {
        Ok(LpmTrie::try_from(
            self.ebpf.map_mut(maps::PREFIXES).context(maps::PREFIXES)?,
        )?)
    }

    fn nets(&mut self) -> Result<HashMap<&mut MapData, NetKey, u32>> {
        Ok(HashMap::try_from(
            self.ebpf.map_mut(maps::NETS).context(maps::NETS)?,
        )?)
    }

    fn pools_map(&mut self) -> Result<Array<&mut MapData, Pools>> {
        Ok(Array::try_from(
            self.ebpf.map_mut(maps::POOLS).context(maps::POOLS)?,
        )?)
    }

    /// What `POOLS` holds now.
    pub fn pools(&mut self) -> Result<Pools> {
        Ok(self.pools_map()?.get(&0, 0)?)
    }

    /// Inserts `p` → `id` (`flags`: BPF_ANY/BPF_NOEXIST). The entry is
    /// written before `POOLS` leads packets to it.
    pub(super) fn prefix_insert(
        &mut self,
        p: &Ipv6Prefix,
        id: u32,
        flags: u64,
    ) -> Result<std::result::Result<(), MapError>> {
        let mut pools = self.pools()?;
        let grown = grow(&mut pools, p);
        let written = if is_fast(&pools, p.len()) {
            self.nets()?.insert(nets_key(p), id, flags)
        } else {
            self.trie()?.insert(&lpm_key(p), id, flags)
        };
        if written.is_ok() && grown {
            self.pools_map()?.set(0, pools, 0)?;
        }
        Ok(written)
    }

    pub(super) fn prefix_remove(
        &mut self,
        p: &Ipv6Prefix,
    ) -> Result<std::result::Result<(), MapError>> {
        let pools = self.pools()?;
        if is_fast(&pools, p.len()) {
            Ok(self.nets()?.remove(&nets_key(p)))
        } else {
            Ok(self.trie()?.remove(&lpm_key(p)))
        }
    }

    /// Every prefix with its tunnel.
    pub(super) fn prefix_entries(&mut self) -> Result<Vec<(Ipv6Prefix, u32)>> {
        let mut out = Vec::new();
        for kv in self.nets()?.iter() {
            let (k, id) = kv?;
            let p = Ipv6Prefix::new(std::net::Ipv6Addr::from(k.addr), k.len as u8)?;
            out.push((p, id));
        }
        for kv in self.trie()?.iter() {
            let (k, id) = kv?;
            let p = Ipv6Prefix::new(std::net::Ipv6Addr::from(k.data()), k.prefix_len() as u8)?;
            out.push((p, id));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Ipv6Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn lengths_go_fast_until_full_then_to_the_trie() {
        let mut pools = Pools::default();
        assert!(grow(&mut pools, &p("2001:db8:100::/48")));
        assert!(grow(&mut pools, &p("2001:db8:1::/64")));
        // /64 first: most lookups are for a tunnel's own /64.
        assert_eq!(&pools.lengths[..2], &[64, 48]);
        assert!(!grow(&mut pools, &p("2001:db8:1::/64")), "nothing new");
        for len in [56u8, 60, 80, 96, 112, 128] {
            grow(
                &mut pools,
                &Ipv6Prefix::new("2001:db8:5::".parse().unwrap(), len).unwrap(),
            );
        }
        assert_eq!(pools.n_lengths as usize, FAST_LENGTHS);
        assert_eq!(pools.flags & POOLS_F_TRIE, 0);
        grow(&mut pools, &p("2001:db8::/40"));
        assert!(!is_fast(&pools, 40));
        assert_ne!(pools.flags & POOLS_F_TRIE, 0);
    }

    fn a(s: &str) -> [u8; 16] {
        s.parse::<std::net::Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn pools_stay_specific_and_merge_when_full() {
        let mut pools = Pools::default();
        grow(&mut pools, &p("2001:db8:1::/64"));
        grow(&mut pools, &p("2001:db8:1:0:1::/80"));
        assert_eq!(pools.count, 1, "the /64 covers the /80");
        assert!(!pools.covers(&a("2001:db8:2::1")));
        // Many /64s in one /48: merged, yet the rest of the /32 stays out.
        for i in 0..1000u16 {
            grow(
                &mut pools,
                &Ipv6Prefix::new(
                    std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x10, i, 0, 0, 0, 0),
                    64,
                )
                .unwrap(),
            );
        }
        assert!(pools.count as usize <= POOL_SLOTS);
        assert_eq!(pools.flags & POOLS_F_ALL, 0);
        for i in 0..1000u16 {
            let x = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x10, i, 0, 0, 0, 2).octets();
            assert!(pools.covers(&x), "every prefix stays covered");
        }
        assert!(pools.covers(&a("2001:db8:1::2")));
        assert!(
            !pools.covers(&a("2001:db8:eeee::2")),
            "far addresses stay out"
        );
        assert!(!pools.covers(&a("3fff::1")));
        // A prefix shorter than /64 is its own aggregate.
        let mut pools = Pools::default();
        grow(&mut pools, &p("2001:d00::/24"));
        assert!(pools.covers(&a("2001:dff::1")));
        // Scattered prefixes: merged pairwise, every one still covered.
        let mut pools = Pools::default();
        let his: Vec<u16> = (0..=2 * POOL_SLOTS as u16)
            .map(|i| if i % 2 == 0 { 0x2000 + i } else { 0xa000 + i })
            .collect();
        for hi in &his {
            grow(
                &mut pools,
                &Ipv6Prefix::new(std::net::Ipv6Addr::new(*hi, 0, 0, 0, 0, 0, 0, 0), 16).unwrap(),
            );
        }
        for hi in &his {
            assert!(pools.covers(&std::net::Ipv6Addr::new(*hi, 0, 0, 0, 0, 0, 0, 1).octets()));
        }
    }
}
