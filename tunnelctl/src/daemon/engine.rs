//! The daemon's operations: each validates, writes the store inside a
//! transaction, changes the maps and the kernel routes, then commits; a map
//! or route failure rolls the store back and undoes the map and route
//! changes made so far. Routes are added after the maps (the tunnel can
//! carry what the kernel sends once the route is there) and removed before
//! them.

use std::time::Instant;

use anyhow::{Context, Result};
use tunnel_common::stats::TunnelCounters;

use super::{
    config::Config,
    proxies::{self, Uplink},
    routes::Routes,
    store,
    store::Store,
    validate,
};
use crate::{
    api::{
        ApplyPlan, DesiredState, ProxySpec, ProxyView, StatsView, StatusView, TunnelChanges,
        TunnelSpec, TunnelStats, TunnelView, API_VERSION,
    },
    datapath::{Datapath, Tunnel},
    error::{ApiResult, Error},
    prefix::Ipv6Prefix,
};

pub struct Engine {
    pub cfg: Config,
    pub store: Store,
    pub dp: Datapath,
    /// Kernel routes toward the tunnel device; `None` when the daemon has
    /// no tunnel device (`local_device = ""`).
    pub routes: Option<Routes>,
    /// The uplinks the NDP proxy answers on.
    pub uplinks: Vec<Uplink>,
    started: Instant,
}

/// How the library sees a configured tunnel.
pub fn to_tunnel(t: &TunnelSpec) -> Tunnel {
    Tunnel {
        local: t.local,
        remote: t.remote,
        prefix: t.prefix,
        mtu: t.mtu,
        ttl: t.ttl,
        pmtudisc: t.pmtudisc,
        enabled: t.enabled,
    }
}

fn stats(c: TunnelCounters) -> TunnelStats {
    TunnelStats {
        rx_packets: c.rx_packets,
        rx_bytes: c.rx_bytes,
        tx_packets: c.tx_packets,
        tx_bytes: c.tx_bytes,
    }
}

impl Engine {
    pub fn new(
        cfg: Config,
        store: Store,
        dp: Datapath,
        routes: Option<Routes>,
        uplinks: Vec<Uplink>,
    ) -> Self {
        Self {
            cfg,
            store,
            dp,
            routes,
            uplinks,
            started: Instant::now(),
        }
    }

    /// After a failed operation: the proxy table back to the committed
    /// store (the failure being reported is the one that matters).
    fn restore_proxies(&mut self) {
        if let Err(e) = proxies::sync(&mut self.dp, self.store.conn(), &self.uplinks) {
            tracing::warn!("restoring the NDP proxy table: {e:#}");
        }
    }

    pub fn add_proxy(&mut self, spec: &ProxySpec) -> ApiResult<()> {
        let rows = proxies::rows(spec, &self.uplinks).map_err(Error::invalid)?;
        let tx = self.store.transaction()?;
        for r in &rows {
            if !store::insert_proxy(&tx, r)? {
                return Err(Error::Conflict(format!(
                    "{} is already proxied on {}",
                    r.0, r.1
                )));
            }
        }
        let synced = proxies::sync(&mut self.dp, &tx, &self.uplinks);
        match synced.and_then(|_| Ok(tx.commit()?)) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.restore_proxies();
                Err(e.into())
            }
        }
    }

    pub fn remove_proxy(
        &mut self,
        target: std::net::Ipv6Addr,
        uplink: Option<&str>,
    ) -> ApiResult<()> {
        let tx = self.store.transaction()?;
        if store::delete_proxy(&tx, target, uplink)? == 0 {
            return Err(Error::NotFound(match uplink {
                Some(u) => format!("{target} is not proxied on {u} by a manual entry"),
                None => format!("{target} is not proxied by a manual entry"),
            }));
        }
        let synced = proxies::sync(&mut self.dp, &tx, &self.uplinks);
        match synced.and_then(|_| Ok(tx.commit()?)) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.restore_proxies();
                Err(e.into())
            }
        }
    }

    pub fn list_proxies(&self) -> ApiResult<Vec<ProxyView>> {
        Ok(proxies::views(self.store.conn(), &self.uplinks)?)
    }

    pub fn add_tunnel(&mut self, t: &TunnelSpec) -> ApiResult<()> {
        validate::tunnel(&self.cfg, t).map_err(Error::invalid)?;
        if self.store.tunnel(t.id)?.is_some() {
            return Err(Error::Conflict(format!("tunnel {} already exists", t.id)));
        }
        let tx = self.store.transaction()?;
        if let Some(other) = store::tunnel_by_pair(&tx, t.local, t.remote)? {
            return Err(pair_taken(other, t));
        }
        let existing = store::all_prefixes(&tx)?;
        for p in std::iter::once(&t.prefix).chain(&t.routed) {
            validate::overlap(&existing, p, t.id).map_err(Error::conflict)?;
        }
        room_for_prefixes(&self.cfg, existing.len() + 1 + t.routed.len())?;
        store::insert_tunnel(&tx, t)?;
        install(&mut self.dp, t)?;
        if let Some(r) = &self.routes {
            if let Err(e) = r.add_tunnel(t) {
                uninstall(&mut self.dp, t)?;
                return Err(e.into());
            }
        }
        let synced = match t.proxy_ndp {
            true => proxies::sync(&mut self.dp, &tx, &self.uplinks).map(|_| ()),
            false => Ok(()),
        };
        if let Err(e) = synced.and_then(|_| Ok(tx.commit()?)) {
            if let Some(r) = &self.routes {
                let _ = r.remove_tunnel(t);
            }
            uninstall(&mut self.dp, t)?;
            self.restore_proxies();
            return Err(e.into());
        }
        Ok(())
    }

    pub fn remove_tunnel(&mut self, id: u32) -> ApiResult<()> {
        let Some(t) = self.store.tunnel(id)? else {
            return Err(no_tunnel(id));
        };
        let tx = self.store.transaction()?;
        store::delete_tunnel(&tx, id)?;
        if t.proxy_ndp {
            // Stop answering for the user first: the address is going away.
            proxies::sync(&mut self.dp, &tx, &self.uplinks)?;
        }
        if let Some(r) = &self.routes {
            r.remove_tunnel(&t)?;
        }
        if let Err(e) = uninstall(&mut self.dp, &t) {
            if let Some(r) = &self.routes {
                let _ = r.add_tunnel(&t);
            }
            return Err(e.into());
        }
        tx.commit()?;
        Ok(())
    }

    pub fn set_tunnel(&mut self, id: u32, c: &TunnelChanges) -> ApiResult<TunnelSpec> {
        let Some(old) = self.store.tunnel(id)? else {
            return Err(no_tunnel(id));
        };
        let mut t = old.clone();
        if let Some(v) = c.enabled {
            t.enabled = v;
        }
        if let Some(v) = c.mtu {
            t.mtu = v;
        }
        if let Some(v) = c.ttl {
            t.ttl = v;
        }
        if let Some(v) = c.pmtudisc {
            t.pmtudisc = v;
        }
        if let Some(v) = c.remote {
            t.remote = v;
        }
        if let Some(v) = c.proxy_ndp {
            t.proxy_ndp = v;
        }
        validate::tunnel(&self.cfg, &t).map_err(Error::invalid)?;
        let tx = self.store.transaction()?;
        if t.remote != old.remote {
            if let Some(other) = store::tunnel_by_pair(&tx, t.local, t.remote)? {
                return Err(pair_taken(other, &t));
            }
        }
        store::update_tunnel(&tx, &t)?;
        if t.proxy_ndp != old.proxy_ndp {
            if let Err(e) = proxies::sync(&mut self.dp, &tx, &self.uplinks) {
                drop(tx);
                self.restore_proxies();
                return Err(e.into());
            }
        }
        if let Err(e) = self.dp.update_tunnel(id, &to_tunnel(&t)) {
            drop(tx);
            self.restore_proxies();
            return Err(e.into());
        }
        let routes = self.routes.as_ref().filter(|_| t.mtu != old.mtu);
        if let Some(r) = routes {
            if let Err(e) = r.add_tunnel(&t) {
                drop(tx);
                self.dp.update_tunnel(id, &to_tunnel(&old))?;
                let _ = r.add_tunnel(&old);
                let _ = proxies::sync(&mut self.dp, self.store.conn(), &self.uplinks);
                return Err(e.into());
            }
        }
        if let Err(e) = tx.commit() {
            self.dp.update_tunnel(id, &to_tunnel(&old))?;
            if let Some(r) = routes {
                let _ = r.add_tunnel(&old);
            }
            let _ = proxies::sync(&mut self.dp, self.store.conn(), &self.uplinks);
            return Err(e.into());
        }
        Ok(t)
    }

    pub fn add_prefix(&mut self, id: u32, p: &Ipv6Prefix) -> ApiResult<()> {
        validate::routed_prefix(p).map_err(Error::invalid)?;
        let Some(t) = self.store.tunnel(id)? else {
            return Err(no_tunnel(id));
        };
        let tx = self.store.transaction()?;
        let existing = store::all_prefixes(&tx)?;
        validate::overlap(&existing, p, id).map_err(Error::conflict)?;
        room_for_prefixes(&self.cfg, existing.len() + 1)?;
        store::insert_routed(&tx, id, p)?;
        self.dp.add_prefix(id, p)?;
        if let Some(r) = &self.routes {
            if let Err(e) = r.put(p, t.mtu) {
                self.dp.remove_prefix(p)?;
                return Err(e.into());
            }
        }
        if let Err(e) = tx.commit() {
            if let Some(r) = &self.routes {
                let _ = r.delete(p);
            }
            self.dp.remove_prefix(p)?;
            return Err(e.into());
        }
        Ok(())
    }

    pub fn remove_prefix(&mut self, p: &Ipv6Prefix) -> ApiResult<()> {
        let tx = self.store.transaction()?;
        if store::delete_routed(&tx, p)?.is_none() {
            return Err(Error::NotFound(format!(
                "{p} is not a routed prefix (a tunnel's /64 goes with the tunnel)"
            )));
        }
        if let Some(r) = &self.routes {
            r.delete(p)?;
        }
        if let Err(e) = self.dp.remove_prefix(p) {
            drop(tx);
            if let Some(r) = &self.routes {
                r.restore(&self.store.tunnels()?);
            }
            return Err(e.into());
        }
        tx.commit()?;
        Ok(())
    }

    pub fn view(&mut self, t: TunnelSpec) -> ApiResult<TunnelView> {
        let s = stats(self.dp.tunnel_counters(t.id)?);
        Ok(TunnelView { spec: t, stats: s })
    }

    pub fn list(&mut self) -> ApiResult<Vec<TunnelView>> {
        let tunnels = self.store.tunnels()?;
        tunnels.into_iter().map(|t| self.view(t)).collect()
    }

    pub fn show(&mut self, id: u32) -> ApiResult<TunnelView> {
        let Some(t) = self.store.tunnel(id)? else {
            return Err(no_tunnel(id));
        };
        self.view(t)
    }

    pub fn stats(&mut self) -> ApiResult<StatsView> {
        let c = self.dp.counters()?;
        let mut v = StatsView::default();
        v.drops = c
            .drops
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(d, n)| (d.name().to_owned(), *n))
            .collect();
        v.events = c
            .events
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(e, n)| (e.name().to_owned(), *n))
            .collect();
        for t in self.store.tunnels()? {
            v.tunnels
                .push((t.id, stats(self.dp.tunnel_counters(t.id)?)));
        }
        Ok(v)
    }

    pub fn status(&mut self) -> ApiResult<StatusView> {
        let (tunnels, prefixes) = self.store.count()?;
        Ok(StatusView {
            version: env!("CARGO_PKG_VERSION").into(),
            api_version: API_VERSION,
            abi_version: tunnel_common::ABI_VERSION,
            uplinks: self.cfg.uplinks.clone(),
            xdp_mode: format!("{:?}", self.cfg.xdp_mode).to_lowercase(),
            tunnels,
            prefixes,
            max_tunnels: self.cfg.max_tunnels,
            max_prefixes: self.cfg.max_prefixes,
            proxies: self.dp.proxies()?.len() as u64,
            max_proxies: self.cfg.max_proxies,
            pin_dir: self
                .dp
                .pin_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            uptime_s: self.started.elapsed().as_secs(),
            reused_pins: self.dp.reused_pins(),
        })
    }

    /// Computes what `apply` changes; with `dry_run` that is all it does.
    /// Applying is one store transaction: all or nothing. `progress` is
    /// called with (done, total) as tunnels are installed.
    pub fn apply(
        &mut self,
        want: &DesiredState,
        dry_run: bool,
        mut progress: impl FnMut(usize, usize),
    ) -> ApiResult<ApplyPlan> {
        let mut ids = std::collections::HashSet::new();
        let mut pairs = std::collections::HashSet::new();
        let mut all: Vec<(Ipv6Prefix, u32)> = Vec::new();
        for t in &want.tunnels {
            validate::tunnel(&self.cfg, t)
                .map_err(|e| Error::Invalid(format!("tunnel {}: {e:#}", t.id)))?;
            if !ids.insert(t.id) {
                return Err(Error::Invalid(format!("tunnel id {} appears twice", t.id)));
            }
            if !pairs.insert((t.local, t.remote)) {
                return Err(Error::Invalid(format!(
                    "tunnel {}: {} -> {} appears twice",
                    t.id, t.local, t.remote
                )));
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
        room_for_prefixes(&self.cfg, all.len())?;

        let have = self.store.tunnels()?;
        let mut plan = ApplyPlan::default();
        let have_by_id: std::collections::HashMap<u32, &TunnelSpec> =
            have.iter().map(|t| (t.id, t)).collect();
        for t in &want.tunnels {
            match have_by_id.get(&t.id) {
                None => plan.add.push(t.id),
                Some(h) if **h == *t => plan.unchanged += 1,
                Some(_) => plan.change.push(t.id),
            }
        }
        plan.remove = have
            .iter()
            .filter(|t| !ids.contains(&t.id))
            .map(|t| t.id)
            .collect();
        if dry_run {
            return Ok(plan);
        }

        // Removals first (they free pairs and prefixes), then changes as
        // remove + add, then additions, all in one transaction.
        let want_by_id: std::collections::HashMap<u32, &TunnelSpec> =
            want.tunnels.iter().map(|t| (t.id, t)).collect();
        let total = plan.remove.len() + plan.change.len() + plan.add.len();
        let tx = self.store.transaction()?;
        let mut done = 0;
        let result = (|| -> Result<()> {
            for id in plan.remove.iter().chain(&plan.change) {
                let old = have_by_id[id];
                store::delete_tunnel(&tx, *id)?;
                uninstall(&mut self.dp, old)?;
                done += 1;
                progress(done, total);
            }
            for id in plan.change.iter().chain(&plan.add) {
                let t = want_by_id[id];
                store::insert_tunnel(&tx, t)?;
                install(&mut self.dp, t).with_context(|| format!("tunnel {id}"))?;
                done += 1;
                progress(done, total);
            }
            // Routes in one pass against the desired state: a dump and a
            // difference rather than a request per unchanged tunnel.
            if let Some(r) = &self.routes {
                r.reconcile(&want.tunnels)?;
            }
            proxies::sync(&mut self.dp, &tx, &self.uplinks)?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                tx.commit()?;
                Ok(plan)
            }
            Err(e) => {
                drop(tx);
                // The store is unchanged; put the maps and routes back to
                // match it.
                super::reconcile::reconcile(&mut self.dp, &self.store)
                    .context("restoring the maps after a failed apply")?;
                if let Some(r) = &self.routes {
                    r.restore(&self.store.tunnels()?);
                }
                self.restore_proxies();
                Err(e.into())
            }
        }
    }
}

fn no_tunnel(id: u32) -> Error {
    Error::NotFound(format!("no tunnel {id}"))
}

fn pair_taken(other: u32, t: &TunnelSpec) -> Error {
    Error::Conflict(format!(
        "tunnel {other} already uses {} -> {}",
        t.local, t.remote
    ))
}

/// `MapFull` before anything is written when `n` prefixes (each tunnel's
/// /64 and every routed prefix) would not fit the prefix map.
fn room_for_prefixes(cfg: &Config, n: usize) -> ApiResult<()> {
    if n > cfg.max_prefixes as usize {
        return Err(Error::MapFull(format!(
            "prefix map is full ({} entries, max_prefixes)",
            cfg.max_prefixes
        )));
    }
    Ok(())
}

/// Puts a tunnel and its routed prefixes in the maps; on failure removes
/// what it added.
fn install(dp: &mut Datapath, t: &TunnelSpec) -> Result<()> {
    dp.add_tunnel(t.id, &to_tunnel(t))?;
    for (i, p) in t.routed.iter().enumerate() {
        if let Err(e) = dp.add_prefix(t.id, p) {
            for q in &t.routed[..i] {
                dp.remove_prefix(q)?;
            }
            dp.remove_tunnel(t.id)?;
            return Err(e);
        }
    }
    Ok(())
}

/// Removes a tunnel's routed prefixes, then the tunnel.
fn uninstall(dp: &mut Datapath, t: &TunnelSpec) -> Result<()> {
    for p in &t.routed {
        dp.remove_prefix_if_present(p)?;
    }
    dp.remove_tunnel(t.id)
}
