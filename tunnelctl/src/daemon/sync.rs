//! Derived state (the maps, the kernel routes, the NDP proxy table) made to
//! follow the store. `follow` runs inside an operation's transaction, from
//! the rows before the change to the rows after it (`plan` says what to
//! do); `resync` runs after a failure, once the transaction is gone, and
//! brings everything back to the committed store, whatever part of the
//! change was made: the same reconciliation as at start, which reads what
//! the maps and the kernel hold rather than trusting what was attempted.

use anyhow::{Context, Result};
use rusqlite::Connection;
use tracing::warn;

use super::{
    nat64,
    plan::{self, MapOp},
    proxies::{self, Uplink},
    reconcile,
    routes::Routes,
    store::Store,
};
use crate::{
    api::{Nat64Spec, TunnelSpec},
    datapath::Datapath,
};

/// What the derived state is made of.
pub struct Derived<'a> {
    pub dp: &'a mut Datapath,
    /// `None` without a tunnel device.
    pub routes: Option<&'a Routes>,
    pub uplinks: &'a [Uplink],
}

/// Brings the derived state of the tunnels in `have` and `want` from the
/// first to the second; `conn` (the transaction) has the proxy entries to
/// answer when `proxies`. What goes away goes first: routes (the kernel
/// stops sending toward the tunnel) and proxy entries (the upstream stops
/// resolving its user), then the maps; what comes is announced last.
/// `progress` gets (map operations done, total). With `nat64` (the NAT64
/// configuration before and after), its maps and routes follow too:
/// routes withdrawn with the tunnels' first (a prefix may pass from a
/// tunnel to pool6 or back in one `apply`), maps after the tunnels', routes
/// announced last.
pub fn follow(
    d: &mut Derived,
    conn: &Connection,
    have: &[TunnelSpec],
    want: &[TunnelSpec],
    proxies: bool,
    nat64: Option<(&Nat64Spec, &Nat64Spec)>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<()> {
    let ops = plan::map_ops(&plan::model(have), &plan::model(want));
    let routes = plan::route_ops(&plan::routes(have), &plan::routes(want));
    let none = Nat64Spec::default();
    let (n_have, n_want) = nat64.unwrap_or((&none, &none));
    let n_routes6 = plan::route_ops(&nat64::routes6(n_have), &nat64::routes6(n_want));
    let (have4, want4) = (nat64::routes4(n_have), nat64::routes4(n_want));
    if let Some(r) = d.routes {
        for p in routes.delete.iter().chain(&n_routes6.delete) {
            r.delete(p)
                .with_context(|| format!("deleting the route for {p}"))?;
        }
        for p in have4.keys().filter(|p| !want4.contains_key(p)) {
            r.delete4(p)
                .with_context(|| format!("deleting the route for {p}"))?;
        }
    }
    if proxies {
        proxies::withdraw(d.dp, conn, d.uplinks)?;
    }
    for (i, op) in ops.iter().enumerate() {
        run(d.dp, op)?;
        progress(i + 1, ops.len());
    }
    if nat64.is_some() {
        let ch = nat64::reconcile(d.dp, n_want).context("NAT64 maps")?;
        tracing::debug!(?ch, "nat64 maps follow the store");
    }
    if let Some(r) = d.routes {
        for (p, mtu) in routes.put.iter().chain(&n_routes6.put) {
            r.put(p, *mtu)
                .with_context(|| format!("writing the route for {p}"))?;
        }
        for (p, mtu) in want4.iter().filter(|(p, m)| have4.get(p) != Some(m)) {
            r.put4(p, *mtu)
                .with_context(|| format!("writing the route for {p}"))?;
        }
    }
    if proxies {
        proxies::sync(d.dp, conn, d.uplinks)?;
    }
    Ok(())
}

fn run(dp: &mut Datapath, op: &MapOp) -> Result<()> {
    match op {
        MapOp::AddTunnel(id, t) => dp
            .add_tunnel(*id, t)
            .with_context(|| format!("tunnel {id}")),
        MapOp::UpdateTunnel(id, t) => dp
            .update_tunnel(*id, t)
            .with_context(|| format!("tunnel {id}")),
        MapOp::RemoveTunnel(id) => dp
            .remove_tunnel(*id)
            .with_context(|| format!("tunnel {id}")),
        MapOp::AddPrefix(id, p) => dp
            .add_prefix(*id, p)
            .with_context(|| format!("tunnel {id}")),
        MapOp::RemovePrefix(id, p) => dp
            .remove_prefix_if_present(p)
            .with_context(|| format!("tunnel {id}: removing {p}")),
    }
}

/// After a failed operation: maps, routes and proxy entries back to the
/// committed store. Failures here are logged, not returned: the error that
/// made the operation fail is the one to report, and the next start
/// reconciles again.
pub fn resync(d: &mut Derived, store: &Store) {
    if let Err(e) = reconcile::reconcile(d.dp, store) {
        warn!("restoring the maps: {e:#} (the next start reconciles them)");
    }
    let nat64 = store.nat64();
    match &nat64 {
        Ok(n) => {
            if let Err(e) = nat64::reconcile(d.dp, n) {
                warn!("restoring the NAT64 maps: {e:#} (the next start reconciles them)");
            }
        }
        Err(e) => warn!("restoring the NAT64 maps: reading the store: {e:#}"),
    }
    if let Some(r) = d.routes {
        match (store.tunnels(), nat64) {
            (Ok(tunnels), Ok(n)) => r.restore(&tunnels, &n),
            (Err(e), _) | (_, Err(e)) => {
                warn!("restoring kernel routes: reading the store: {e:#}")
            }
        }
    }
    if let Err(e) = proxies::sync(d.dp, store.conn(), d.uplinks) {
        warn!("restoring the NDP proxy table: {e:#} (the next start reconciles it)");
    }
}
