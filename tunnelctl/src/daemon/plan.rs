//! What the datapath and the kernel routes must do to go from one set of
//! store rows to another: pure functions, tested on the host. The engine
//! runs the result inside the store transaction that made the change.
//!
//! Ordering, so that every intermediate state is one the datapath accepts
//! and no packet meets a half-installed tunnel:
//! - removals first (routed prefixes, then the tunnel: `Datapath::
//!   remove_tunnel` takes its pair and /64 out before its `TUNNELS` entry),
//!   so what they free (ids, pairs, prefixes, map room) is free for what
//!   follows;
//! - then updates in place;
//! - then additions (the tunnel: `Datapath::add_tunnel` writes `TUNNELS`
//!   before the /64 and pair that lead to it; then its routed prefixes).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::{
    api::{TunnelKind, TunnelSpec},
    datapath::{Kind, Tunnel},
    prefix::Ipv6Prefix,
};

/// How the library sees a configured tunnel. The store holds only kinds
/// the datapath has (`validate::kind` refuses the others): 6in4 with its
/// remote; AYIYA and heartbeat with the AYIYA key of their secret
/// (`secrets`; a malformed one, which the daemon never writes, gives a key
/// no client matches).
pub fn to_tunnel(t: &TunnelSpec) -> Tunnel {
    let key = || super::secrets::ayiya_key(t).unwrap_or([0; 20]);
    let kind = match t.kind {
        TunnelKind::Ayiya => Kind::Ayiya { key: key() },
        TunnelKind::Heartbeat => Kind::Heartbeat { key: key() },
        TunnelKind::Sixin4 => Kind::Sixin4,
    };
    Tunnel {
        kind,
        local: t.local,
        remote: t.remote.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
        prefix: t.prefix,
        mtu: t.mtu,
        ttl: t.ttl,
        pmtudisc: t.pmtudisc,
        enabled: t.enabled,
    }
}

/// What the maps hold of one tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    pub tunnel: Tunnel,
    pub routed: HashSet<Ipv6Prefix>,
}

/// Tunnels by id, as the maps hold (or should hold) them.
pub type Model = BTreeMap<u32, Installed>;

pub fn model(rows: &[TunnelSpec]) -> Model {
    rows.iter()
        .map(|t| {
            let i = Installed {
                tunnel: to_tunnel(t),
                routed: t.routed.iter().copied().collect(),
            };
            (t.id, i)
        })
        .collect()
}

/// One call into the `Datapath`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapOp {
    AddTunnel(u32, Tunnel),
    /// Same id, local address and /64; anything else may change.
    UpdateTunnel(u32, Tunnel),
    /// Only once its routed prefixes are gone.
    RemoveTunnel(u32),
    AddPrefix(u32, Ipv6Prefix),
    RemovePrefix(u32, Ipv6Prefix),
}

impl MapOp {
    /// The model after the operation (for tests: a plan run on `have`
    /// must end at `want`).
    pub fn apply(&self, m: &mut Model) {
        match self {
            MapOp::AddTunnel(id, t) => {
                m.insert(
                    *id,
                    Installed {
                        tunnel: t.clone(),
                        routed: HashSet::new(),
                    },
                );
            }
            MapOp::UpdateTunnel(id, t) => {
                if let Some(i) = m.get_mut(id) {
                    i.tunnel = t.clone();
                }
            }
            MapOp::RemoveTunnel(id) => {
                m.remove(id);
            }
            MapOp::AddPrefix(id, p) => {
                if let Some(i) = m.get_mut(id) {
                    i.routed.insert(*p);
                }
            }
            MapOp::RemovePrefix(id, p) => {
                if let Some(i) = m.get_mut(id) {
                    i.routed.remove(p);
                }
            }
        }
    }
}

/// The datapath calls that turn `have` into `want`.
pub fn map_ops(have: &Model, want: &Model) -> Vec<MapOp> {
    let (mut removes, mut updates, mut adds) = (Vec::new(), Vec::new(), Vec::new());
    // Which id holds each decap key (outer pair, AYIYA identity) now: an
    // update may take a key in place only if no other tunnel holds it (a
    // swap of remotes between two tunnels is two replacements).
    let pairs: HashMap<_, u32> = have
        .iter()
        .map(|(id, i)| (i.tunnel.decap_key(), *id))
        .collect();
    let ids: BTreeSet<u32> = have.keys().chain(want.keys()).copied().collect();
    for id in ids {
        match (have.get(&id), want.get(&id)) {
            (Some(h), None) => remove(&mut removes, id, h),
            (None, Some(w)) => add(&mut adds, id, w),
            (Some(h), Some(w)) => {
                let (ht, wt) = (&h.tunnel, &w.tunnel);
                let pair_taken = pairs.get(&wt.decap_key()).is_some_and(|other| *other != id);
                let kind_changed =
                    std::mem::discriminant(&ht.kind) != std::mem::discriminant(&wt.kind);
                if ht.local != wt.local || ht.prefix != wt.prefix || pair_taken || kind_changed {
                    remove(&mut removes, id, h);
                    add(&mut adds, id, w);
                    continue;
                }
                for p in sorted(h.routed.difference(&w.routed)) {
                    removes.push(MapOp::RemovePrefix(id, p));
                }
                if ht != wt {
                    updates.push(MapOp::UpdateTunnel(id, wt.clone()));
                }
                for p in sorted(w.routed.difference(&h.routed)) {
                    adds.push(MapOp::AddPrefix(id, p));
                }
            }
            (None, None) => {}
        }
    }
    removes.extend(updates);
    removes.extend(adds);
    removes
}

fn remove(ops: &mut Vec<MapOp>, id: u32, h: &Installed) {
    for p in sorted(h.routed.iter()) {
        ops.push(MapOp::RemovePrefix(id, p));
    }
    ops.push(MapOp::RemoveTunnel(id));
}

fn add(ops: &mut Vec<MapOp>, id: u32, w: &Installed) {
    ops.push(MapOp::AddTunnel(id, w.tunnel.clone()));
    for p in sorted(w.routed.iter()) {
        ops.push(MapOp::AddPrefix(id, p));
    }
}

/// A stable order, so plans (and logs) are reproducible.
fn sorted<'a>(ps: impl Iterator<Item = &'a Ipv6Prefix>) -> Vec<Ipv6Prefix> {
    let mut v: Vec<Ipv6Prefix> = ps.copied().collect();
    v.sort_by_key(|p| (u128::from(p.addr()), p.len()));
    v
}

/// Kernel routes the rows need: each tunnel's prefixes with its MTU.
pub fn routes(rows: &[TunnelSpec]) -> HashMap<Ipv6Prefix, u16> {
    rows.iter()
        .flat_map(|t| {
            std::iter::once(&t.prefix)
                .chain(&t.routed)
                .map(|p| (*p, t.mtu))
        })
        .collect()
}

/// Route changes from `have` to `want`: deletions (made before the maps
/// change: nothing is sent toward a tunnel on its way out) and routes to
/// write, new or with a new MTU (made after: the tunnel carries what the
/// route attracts).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RouteOps {
    pub delete: Vec<Ipv6Prefix>,
    pub put: Vec<(Ipv6Prefix, u16)>,
}

pub fn route_ops(have: &HashMap<Ipv6Prefix, u16>, want: &HashMap<Ipv6Prefix, u16>) -> RouteOps {
    let mut ops = RouteOps {
        delete: sorted(have.keys().filter(|p| !want.contains_key(p))),
        put: want
            .iter()
            .filter(|(p, mtu)| have.get(p) != Some(mtu))
            .map(|(p, mtu)| (*p, *mtu))
            .collect(),
    };
    ops.put
        .sort_by_key(|(p, _)| (u128::from(p.addr()), p.len()));
    ops
}

#[cfg(test)]
mod tests;
