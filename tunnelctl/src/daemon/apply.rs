//! `apply`: the whole configuration at once. The desired state is checked
//! on its own first (ids, address pairs and prefixes unique, each tunnel
//! valid), then the store is rewritten in one transaction and the derived
//! state of every tunnel follows it: all or nothing. A `nat64` section
//! replaces NAT64's configuration in the same transaction; without one,
//! NAT64 is left as it is (and still checked against the new tunnels).

use std::collections::{HashMap, HashSet};

use super::{
    engine::{Engine, Scope},
    store, validate,
};
use crate::{
    api::{ApplyPlan, DesiredState, EamSpec, Nat64Plan, TunnelSpec},
    error::{ApiResult, Error},
    prefix::Ipv6Prefix,
};

impl Engine {
    /// Computes what `apply` changes; with `dry_run` that is all it does.
    /// `progress` is called with (done, total) in tunnels as the datapath
    /// follows.
    pub fn apply(
        &mut self,
        want: &DesiredState,
        dry_run: bool,
        mut progress: impl FnMut(usize, usize),
    ) -> ApiResult<ApplyPlan> {
        self.check_desired(want)?;
        let plan = self.plan(want)?;
        if dry_run {
            return Ok(plan);
        }
        let wanted: HashMap<u32, &TunnelSpec> = want.tunnels.iter().map(|t| (t.id, t)).collect();
        // In tunnels, as the plan counts them; the datapath works in map
        // operations, scaled to that.
        let total = plan.remove.len() + plan.change.len() + plan.add.len();
        let mut scaled = |done: usize, ops: usize| progress(done * total / ops.max(1), total);
        self.transact(
            Scope::All,
            true,
            true,
            |tx| {
                for id in plan.remove.iter().chain(&plan.change) {
                    store::delete_tunnel(tx, *id)?;
                }
                for id in plan.change.iter().chain(&plan.add) {
                    super::engine::owner_exists(tx, wanted[id])?;
                    store::insert_tunnel(tx, wanted[id])?;
                }
                if let Some(n) = &want.nat64 {
                    store::replace_nat64(tx, n)?;
                }
                Ok(())
            },
            &mut scaled,
        )?;
        Ok(plan)
    }

    /// The desired state on its own: every tunnel valid, no id, address
    /// pair or prefix twice. Anything wrong is `invalid`: the file
    /// contradicts itself, whatever runs now.
    fn check_desired(&self, want: &DesiredState) -> ApiResult<()> {
        let mut ids = HashSet::new();
        let mut pairs = HashSet::new();
        let mut all: Vec<(Ipv6Prefix, u32)> = Vec::new();
        for t in &want.tunnels {
            validate::tunnel(&self.cfg, t)
                .map_err(|e| Error::Invalid(format!("tunnel {}: {e:#}", t.id)))?;
            if !ids.insert(t.id) {
                return Err(Error::Invalid(format!("tunnel id {} appears twice", t.id)));
            }
            if let Some((local, remote)) = t.static_pair() {
                if !pairs.insert((local, remote)) {
                    return Err(Error::Invalid(format!(
                        "tunnel {}: {local} -> {remote} appears twice",
                        t.id
                    )));
                }
            }
            for p in std::iter::once(&t.prefix).chain(&t.routed) {
                all.push((*p, t.id));
            }
        }
        // Overlaps within the desired state (sorted, so neighbours suffice
        // for nested prefixes only after a full scan: n log n on the sort,
        // then each prefix against the ones it can contain).
        all.sort_by_key(|(p, _)| (u128::from(p.addr()), p.len()));
        for w in 0..all.len() {
            let (p, id) = all[w];
            for (q, other) in all[w + 1..].iter() {
                if !p.overlaps(q) {
                    break;
                }
                if *other != id || p == *q {
                    return Err(Error::Invalid(format!(
                        "prefix {q} of tunnel {other} overlaps {p} of tunnel {id}"
                    )));
                }
            }
        }
        if let Some(n) = &want.nat64 {
            let invalid = |e: anyhow::Error| Error::Invalid(format!("nat64: {e:#}"));
            if let Some(p) = &n.pool6 {
                validate::pool6(p).map_err(invalid)?;
            }
            for e in &n.eams {
                validate::eam(e).map_err(invalid)?;
            }
            validate::nat64(n, &all).map_err(invalid)?;
        }
        let max = self.cfg.max_prefixes as usize;
        if all.len() > max {
            return Err(Error::MapFull(format!(
                "{} prefixes do not fit the prefix map ({max} entries, max_prefixes)",
                all.len()
            )));
        }
        Ok(())
    }

    /// Which tunnels `want` adds, removes, changes or leaves alone.
    fn plan(&self, want: &DesiredState) -> ApiResult<ApplyPlan> {
        let have = self.store.tunnels()?;
        let mut plan = ApplyPlan::default();
        let have_by_id: HashMap<u32, &TunnelSpec> = have.iter().map(|t| (t.id, t)).collect();
        for t in &want.tunnels {
            match have_by_id.get(&t.id) {
                None => plan.add.push(t.id),
                Some(h) if **h == *t => plan.unchanged += 1,
                Some(_) => plan.change.push(t.id),
            }
        }
        let ids: HashSet<u32> = want.tunnels.iter().map(|t| t.id).collect();
        plan.remove = have
            .iter()
            .filter(|t| !ids.contains(&t.id))
            .map(|t| t.id)
            .collect();
        if let Some(n) = &want.nat64 {
            let now = self.store.nat64()?;
            let (have_eams, want_eams): (HashSet<&EamSpec>, HashSet<&EamSpec>) =
                (now.eams.iter().collect(), n.eams.iter().collect());
            let sorted = |mut v: Vec<EamSpec>| {
                v.sort_by_key(|e| (u128::from(e.v6.addr()), e.v6.len()));
                v
            };
            plan.nat64 = Some(Nat64Plan {
                pool6_changed: now.pool6 != n.pool6,
                eams_add: sorted(want_eams.difference(&have_eams).map(|e| **e).collect()),
                eams_remove: sorted(have_eams.difference(&want_eams).map(|e| **e).collect()),
            });
        }
        Ok(plan)
    }
}
