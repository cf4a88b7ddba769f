//! The daemon's operations. Each is one store transaction: validate, write
//! the store, make the derived state (maps, kernel routes, NDP proxy
//! entries) follow the transaction's rows, commit. Nothing is undone by
//! hand: on any failure the transaction is dropped and the derived state
//! re-synced from the committed store (`sync`).

use std::{sync::Arc, time::Instant};

use rusqlite::Transaction;
use tunnel_common::stats::{TunnelCounters, TunnelErrors};

use super::{
    checks,
    config::Config,
    proxies::{self, Uplink},
    routes::Routes,
    store::{self, Store},
    sync::{self, Derived},
    update, validate,
};
use crate::{
    api::{
        EndpointView, ProxySpec, ProxyView, StatsView, StatusView, TunnelChanges, TunnelSpec,
        TunnelState, TunnelStats, TunnelView, API_VERSION,
    },
    datapath::Datapath,
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
    /// What the start found and did, for the checks `status` shows; `None`
    /// outside the daemon (no checks then).
    pub startup: Option<checks::Startup>,
    /// What `/nic/update` answered (`update::server` counts, `/metrics`
    /// shows).
    pub updates: Arc<update::Counters>,
    /// The heartbeat listener's counters (zero while it is off).
    pub heartbeat: std::sync::Arc<super::heartbeat::Stats>,
    /// Tunnel states over time (`liveness::keep`).
    pub liveness: super::liveness::Tracker,
    /// The latency pinger's figures (`pinger::keep`).
    pub pings: super::pinger::table::Table,
    /// The TIC server's counters (zero when it is off), for /metrics.
    pub tic: std::sync::Arc<super::tic::Counters>,
    /// The NAT64 slow path's counters (`slowpath::spawn`), for /metrics.
    pub slowpath: Arc<super::slowpath::Counters>,
    started: Instant,
}

/// The tunnels whose derived state an operation may change: their rows are
/// read before and after the store is written, and the difference is made.
pub enum Scope {
    Tunnels(Vec<u32>),
    All,
}

impl Scope {
    fn rows(&self, tx: &Transaction) -> anyhow::Result<Vec<TunnelSpec>> {
        match self {
            Scope::All => store::read_tunnels(tx, None),
            Scope::Tunnels(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    out.extend(store::read_tunnels(tx, Some(*id))?);
                }
                Ok(out)
            }
        }
    }
}

fn stats(c: TunnelCounters, e: TunnelErrors) -> TunnelStats {
    let last = e.last_error();
    let now_ns = crate::datapath::clock::boot_ns().unwrap_or(0);
    TunnelStats {
        rx_packets: c.rx_packets,
        rx_bytes: c.rx_bytes,
        tx_packets: c.tx_packets,
        tx_bytes: c.tx_bytes,
        errors: e.errors,
        last_error: last.map(|d| d.name().to_owned()),
        last_error_s_ago: last.map(|_| now_ns.saturating_sub(e.last_ns) / 1_000_000_000),
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
            startup: None,
            updates: Arc::default(),
            heartbeat: Default::default(),
            liveness: Default::default(),
            pings: Default::default(),
            tic: Default::default(),
            slowpath: Default::default(),
            started: Instant::now(),
        }
    }

    /// One operation: `write` checks and changes the store inside a
    /// transaction (an error there drops it: nothing derived was touched);
    /// the derived state of `scope` then follows the rows (the proxy table
    /// too, when `proxies` or a tunnel in scope has `proxy_ndp`; NAT64's
    /// maps and routes when `nat64`, once its whole configuration has been
    /// checked against the tunnels: `conflict` otherwise); commit.
    pub(super) fn transact<T>(
        &mut self,
        scope: Scope,
        proxies: bool,
        nat64: bool,
        write: impl FnOnce(&Transaction) -> ApiResult<T>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> ApiResult<T> {
        let tx = self.store.transaction()?;
        let have = scope.rows(&tx)?;
        let (_, before) = store::count(&tx)?;
        let nat64_have = if nat64 {
            Some(store::read_nat64(&tx)?)
        } else {
            None
        };
        let out = write(&tx)?;
        let want = scope.rows(&tx)?;
        let (_, after) = store::count(&tx)?;
        let nat64_want = match nat64_have {
            Some(_) => {
                let n = store::read_nat64(&tx)?;
                validate::nat64(&n, &store::all_prefixes(&tx)?).map_err(Error::conflict)?;
                let max = tunnel_common::maps::DEFAULT_MAX_EAMS as usize;
                if n.eams.len() > max
                    && nat64_have
                        .as_ref()
                        .is_some_and(|h| n.eams.len() > h.eams.len())
                {
                    return Err(Error::MapFull(format!(
                        "the NAT64 mapping tables are full ({max} entries)"
                    )));
                }
                Some(n)
            }
            None => None,
        };
        // Refused before the maps are touched. Only growth is refused: a
        // store over a lowered max_prefixes can still shrink.
        let max = self.cfg.max_prefixes as u64;
        if after > max && after > before {
            return Err(Error::MapFull(format!(
                "prefix map is full ({max} entries, max_prefixes)"
            )));
        }
        let proxies = proxies || have.iter().chain(&want).any(|t| t.proxy_ndp);
        let mut d = Derived {
            dp: &mut self.dp,
            routes: self.routes.as_ref(),
            uplinks: &self.uplinks,
        };
        let nat64 = nat64_have.as_ref().zip(nat64_want.as_ref());
        let done = sync::follow(&mut d, &tx, &have, &want, proxies, nat64, progress)
            .and_then(|()| Ok(tx.commit()?));
        if let Err(e) = done {
            // The transaction is gone (rolled back when dropped, or its
            // commit failed): the committed store is the truth again.
            let mut d = Derived {
                dp: &mut self.dp,
                routes: self.routes.as_ref(),
                uplinks: &self.uplinks,
            };
            sync::resync(&mut d, &self.store);
            return Err(e.into());
        }
        Ok(out)
    }

    fn transact_one<T>(
        &mut self,
        scope: Scope,
        proxies: bool,
        write: impl FnOnce(&Transaction) -> ApiResult<T>,
    ) -> ApiResult<T> {
        self.transact(scope, proxies, false, write, &mut |_, _| {})
    }

    pub fn add_tunnel(&mut self, t: &TunnelSpec) -> ApiResult<()> {
        validate::tunnel(&self.cfg, t).map_err(Error::invalid)?;
        self.transact_one(Scope::Tunnels(vec![t.id]), false, |tx| {
            if !store::read_tunnels(tx, Some(t.id))?.is_empty() {
                return Err(Error::Conflict(format!("tunnel {} already exists", t.id)));
            }
            if let Some(other) = pair_user(tx, t)? {
                return Err(pair_taken(other, t));
            }
            let existing = store::all_prefixes(tx)?;
            for p in std::iter::once(&t.prefix).chain(&t.routed) {
                validate::overlap(&existing, p, t.id).map_err(Error::conflict)?;
                not_pool6(tx, p)?;
            }
            owner_exists(tx, t)?;
            Ok(store::insert_tunnel(tx, t)?)
        })
    }

    pub fn remove_tunnel(&mut self, id: u32) -> ApiResult<()> {
        self.transact_one(Scope::Tunnels(vec![id]), false, |tx| {
            if read_tunnel(tx, id)?.is_none() {
                return Err(no_tunnel(id));
            }
            Ok(store::delete_tunnel(tx, id)?)
        })
    }

    pub fn set_tunnel(&mut self, id: u32, c: &TunnelChanges) -> ApiResult<TunnelSpec> {
        let old = self.store.tunnel(id)?.ok_or_else(|| no_tunnel(id))?;
        let mut t = apply_changes(&old, c);
        if let Some(k) = &c.update_key {
            t.update_key = Some(super::update::key::stored(k).map_err(Error::invalid)?);
        }
        if let Some(pw) = &c.secret {
            // In the stored form (a `sha1:` key in lower case), as at add.
            let mut with = t.clone();
            with.secret = Some(pw.clone());
            t.secret = super::secrets::stored(&with)
                .map_err(Error::invalid)?
                .secret;
        }
        validate::tunnel(&self.cfg, &t).map_err(Error::invalid)?;
        self.transact_one(Scope::Tunnels(vec![id]), false, |tx| {
            if t.remote != old.remote {
                if let Some(other) = pair_user(tx, &t)? {
                    return Err(pair_taken(other, &t));
                }
            }
            owner_exists(tx, &t)?;
            Ok(store::update_tunnel(tx, &t)?)
        })?;
        Ok(t)
    }

    pub fn add_prefix(&mut self, id: u32, p: &Ipv6Prefix) -> ApiResult<()> {
        validate::routed_prefix(p).map_err(Error::invalid)?;
        self.transact_one(Scope::Tunnels(vec![id]), false, |tx| {
            if read_tunnel(tx, id)?.is_none() {
                return Err(no_tunnel(id));
            }
            validate::overlap(&store::all_prefixes(tx)?, p, id).map_err(Error::conflict)?;
            not_pool6(tx, p)?;
            Ok(store::insert_routed(tx, id, p)?)
        })
    }

    pub fn remove_prefix(&mut self, id: u32, p: &Ipv6Prefix) -> ApiResult<()> {
        // The owner first: the scope is read before the store changes.
        match store::routed_owner(self.store.conn(), p)? {
            Some(owner) if owner == id => {}
            // Not "not found": the prefix is there, and stays routed.
            Some(owner) => {
                return Err(Error::Conflict(format!(
                    "{p} is routed to tunnel {owner}, not {id}"
                )))
            }
            None => {
                return Err(Error::NotFound(format!(
                    "{p} is not a routed prefix (a tunnel's /64 goes with the tunnel)"
                )))
            }
        }
        self.transact_one(Scope::Tunnels(vec![id]), false, |tx| {
            store::delete_routed(tx, p)?;
            Ok(())
        })
    }

    pub fn add_proxy(&mut self, spec: &ProxySpec) -> ApiResult<()> {
        let rows = proxies::rows(spec, &self.uplinks).map_err(Error::invalid)?;
        self.transact_one(Scope::Tunnels(vec![]), true, |tx| {
            for r in &rows {
                if !store::insert_proxy(tx, r)? {
                    return Err(Error::Conflict(format!(
                        "{} is already proxied on {}",
                        r.0, r.1
                    )));
                }
            }
            Ok(())
        })
    }

    pub fn remove_proxy(
        &mut self,
        target: std::net::Ipv6Addr,
        uplink: Option<&str>,
    ) -> ApiResult<()> {
        self.transact_one(Scope::Tunnels(vec![]), true, |tx| {
            if store::delete_proxy(tx, target, uplink)? == 0 {
                return Err(Error::NotFound(match uplink {
                    Some(u) => format!("{target} is not proxied on {u} by a manual entry"),
                    None => format!("{target} is not proxied by a manual entry"),
                }));
            }
            Ok(())
        })
    }

    pub fn list_proxies(&self) -> ApiResult<Vec<ProxyView>> {
        Ok(proxies::views(self.store.conn(), &self.uplinks)?)
    }

    /// A tunnel as clients see it: with its counters, without its secret
    /// or update key (the socket's group may manage tunnels without holding
    /// users' keys), only whether it has the latter.
    pub fn view(&mut self, mut t: TunnelSpec) -> ApiResult<TunnelView> {
        let s = stats(self.dp.tunnel_counters(t.id)?, self.dp.tunnel_errors(t.id)?);
        let endpoint = self.endpoint_view(t.id)?;
        t.secret = None;
        let has_update_key = t.update_key.take().is_some();
        Ok(TunnelView {
            has_update_key,
            state: TunnelState::of(&t, endpoint.as_ref(), self.cfg.liveness_timeout.into()),
            latency: self.pings.view(t.id),
            spec: t,
            stats: s,
            endpoint,
        })
    }

    /// Where tunnel `id`'s user was last seen, if anything was learned.
    pub fn endpoint_view(&mut self, id: u32) -> ApiResult<Option<EndpointView>> {
        Ok(self.dp.endpoint(id)?.map(|e| endpoint_view(&e)))
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
        let mut v = StatsView {
            drops: c
                .drops
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(d, n)| (d.name().to_owned(), *n))
                .collect(),
            events: c
                .events
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(e, n)| (e.name().to_owned(), *n))
                .collect(),
            tunnels: Vec::new(),
        };
        for t in self.store.tunnels()? {
            let s = stats(self.dp.tunnel_counters(t.id)?, self.dp.tunnel_errors(t.id)?);
            v.tunnels.push((t.id, s));
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
            checks: match &self.startup {
                Some(s) => {
                    checks::evaluate(&checks::read::read(&self.cfg, &mut self.dp, &self.store), s)
                }
                None => Vec::new(),
            },
        })
    }
}

fn read_tunnel(tx: &Transaction, id: u32) -> anyhow::Result<Option<TunnelSpec>> {
    Ok(store::read_tunnels(tx, Some(id))?.pop())
}

/// `tunnel set`: absent fields stay as they are.
fn apply_changes(old: &TunnelSpec, c: &TunnelChanges) -> TunnelSpec {
    let mut t = old.clone();
    t.enabled = c.enabled.unwrap_or(t.enabled);
    t.mtu = c.mtu.unwrap_or(t.mtu);
    t.ttl = c.ttl.unwrap_or(t.ttl);
    t.pmtudisc = c.pmtudisc.unwrap_or(t.pmtudisc);
    t.remote = c.remote.or(t.remote);
    t.proxy_ndp = c.proxy_ndp.unwrap_or(t.proxy_ndp);
    match c.owner.as_deref() {
        None => {}
        Some("") => t.owner = None,
        Some(u) => t.owner = Some(u.to_owned()),
    }
    t
}

/// A tunnel's owner must be a user: said plainly, before the store's
/// foreign key would refuse it with SQLite's words.
pub(super) fn owner_exists(tx: &Transaction, t: &TunnelSpec) -> ApiResult<()> {
    match &t.owner {
        Some(u) if store::user(tx, u)?.is_none() => Err(Error::NotFound(format!(
            "tunnel {}: owner {u}: no such user (tunnelctl user add {u})",
            t.id
        ))),
        _ => Ok(()),
    }
}

/// A tunnel prefix may not overlap NAT64's pool6 (what is sent there is
/// translated, never tunnelled).
fn not_pool6(tx: &Transaction, p: &Ipv6Prefix) -> ApiResult<()> {
    match store::read_pool6(tx)? {
        Some(pool6) if pool6.prefix.overlaps(p) => Err(Error::Conflict(format!(
            "prefix {p} overlaps NAT64's pool6 {}",
            pool6.prefix
        ))),
        _ => Ok(()),
    }
}

pub(super) fn no_tunnel(id: u32) -> Error {
    Error::NotFound(format!("no tunnel {id}"))
}

/// The other tunnel with `t`'s configured outer pair, if any.
fn pair_user(tx: &Transaction, t: &TunnelSpec) -> anyhow::Result<Option<u32>> {
    match t.static_pair() {
        Some((local, remote)) => store::tunnel_by_pair(tx, local, remote),
        None => Ok(None),
    }
}

fn pair_taken(other: u32, t: &TunnelSpec) -> Error {
    let remote = t.remote.map_or_else(|| "?".into(), |r| r.to_string());
    Error::Conflict(format!(
        "tunnel {other} already uses {} -> {remote}",
        t.local
    ))
}

/// A learned endpoint for clients: addresses with ports (AYIYA; a
/// heartbeat's proto-41 endpoint has none), and its age from
/// the boot-time clock the data path stamps it with.
fn endpoint_view(e: &tunnel_common::tunnel::Endpoint) -> EndpointView {
    use std::net::{IpAddr, Ipv6Addr, SocketAddr};
    use tunnel_common::tunnel::{ENDPOINT_V4, ENDPOINT_VIA_AYIYA, ENDPOINT_VIA_HEARTBEAT};
    let addr = |a: [u8; 16], port: [u8; 2]| {
        let v6 = Ipv6Addr::from(a);
        let ip = match (e.family, v6.to_ipv4_mapped()) {
            (ENDPOINT_V4, Some(v4)) => IpAddr::V4(v4),
            _ => IpAddr::V6(v6),
        };
        // Proto-41 has no ports: a heartbeat endpoint is an address.
        match (e.via, u16::from_be_bytes(port)) {
            (ENDPOINT_VIA_HEARTBEAT, 0) => ip.to_string(),
            (_, port) => SocketAddr::new(ip, port).to_string(),
        }
    };
    let now_ns = crate::datapath::clock::boot_ns().unwrap_or(0);
    EndpointView {
        remote: addr(e.remote, e.remote_port),
        local: addr(e.local, e.local_port),
        via: match e.via {
            ENDPOINT_VIA_AYIYA => "ayiya",
            ENDPOINT_VIA_HEARTBEAT => "heartbeat",
            _ => "unknown",
        }
        .into(),
        seen_s_ago: now_ns.saturating_sub(e.last_seen_ns) / 1_000_000_000,
    }
}
