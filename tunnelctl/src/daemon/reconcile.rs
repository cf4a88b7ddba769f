//! Makes the maps say what the store says. Run at start (after a crash, a
//! kill -9 or a reboot with pinned maps) and after any failed operation.
//! Learned state (`ENDPOINTS`) is read, never written, but for the slots of
//! tunnels that are gone; the pairs beats taught (`TUN_BY_V4`) are rebuilt
//! from it.
//! Order keeps the datapath consistent at every step: forward entries are
//! written before the reverse ones that lead to them, and stale reverse
//! entries are deleted before the forward ones they point to.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use tunnel_common::tunnel::DecapRef;

use super::{plan::to_tunnel, store::Store};
use crate::{
    datapath::{Datapath, DecapKey},
    prefix::Ipv6Prefix,
};

/// What reconciliation changed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub tunnels_written: usize,
    pub tunnels_cleared: usize,
    pub pairs_written: usize,
    pub pairs_removed: usize,
    pub prefixes_written: usize,
    pub prefixes_removed: usize,
    /// Pairs learned from beats, kept.
    pub learned_pairs: usize,
}

pub fn reconcile(dp: &mut Datapath, store: &Store) -> Result<Changes> {
    let want = store.tunnels()?;
    let snap = dp.snapshot()?;
    let mut ch = Changes::default();

    let have_info: HashMap<u32, _> = snap.tunnels.iter().copied().collect();
    let want_info: HashMap<u32, _> = want
        .iter()
        .map(|t| (t.id, to_tunnel(t).to_info()))
        .collect();
    let mut want_pairs: HashMap<DecapKey, DecapRef> = want
        .iter()
        .map(|t| {
            let tun = to_tunnel(t);
            (tun.decap_key(), tun.decap_ref(t.id))
        })
        .collect();
    // Learned state, not configuration, but kept: the pair a dynamic
    // tunnel's last beat taught it, as `ENDPOINTS` records it (a restart
    // loses no user). Configuration wins a pair both claim; a pair from
    // before the tunnel's local address changed is dropped.
    let mut learned = Vec::new();
    for t in want.iter().filter(|t| t.kind.learns_remote()) {
        let Some(k) = dp.learned_beat_key(t.id)? else {
            continue;
        };
        let key = DecapKey::V4(k);
        if k.local != t.local.octets() || want_pairs.contains_key(&key) {
            continue;
        }
        want_pairs.insert(key, to_tunnel(t).decap_ref(t.id));
        learned.push((t.id, k));
    }
    let have_pairs: HashMap<DecapKey, DecapRef> = snap.pairs.iter().copied().collect();
    let mut want_prefixes: HashMap<Ipv6Prefix, u32> = HashMap::new();
    for t in &want {
        want_prefixes.insert(t.prefix, t.id);
        for p in &t.routed {
            want_prefixes.insert(*p, t.id);
        }
    }
    let have_prefixes: HashMap<Ipv6Prefix, u32> = snap.prefixes.iter().copied().collect();

    // 1. Forward entries.
    for t in &want {
        if have_info.get(&t.id) != want_info.get(&t.id) {
            dp.put_info(t.id, &to_tunnel(t))?;
            ch.tunnels_written += 1;
        }
    }
    // 2. Reverse entries that lead to them.
    for (k, r) in &want_pairs {
        if have_pairs.get(k) != Some(r) {
            dp.put_pair(*k, *r)?;
            ch.pairs_written += 1;
        }
    }
    for (p, id) in &want_prefixes {
        if have_prefixes.get(p) != Some(id) {
            dp.put_prefix(p, *id)?;
            ch.prefixes_written += 1;
        }
    }
    // 3. Stale reverse entries.
    for k in have_pairs.keys().filter(|k| !want_pairs.contains_key(k)) {
        dp.remove_pair(k)?;
        ch.pairs_removed += 1;
    }
    for p in have_prefixes
        .keys()
        .filter(|p| !want_prefixes.contains_key(p))
    {
        dp.remove_prefix_if_present(p)?;
        ch.prefixes_removed += 1;
    }
    // 4. Stale forward entries.
    let want_ids: HashSet<u32> = want.iter().map(|t| t.id).collect();
    for id in have_info.keys().filter(|id| !want_ids.contains(id)) {
        dp.clear_info(*id)?;
        // The only write reconciliation makes to learned state: the slot's
        // tunnel is gone, and a later one must not inherit its user.
        dp.clear_learned(*id)?;
        ch.tunnels_cleared += 1;
    }
    ch.learned_pairs = learned.len();
    dp.set_learned_pairs(learned);
    Ok(ch)
}
