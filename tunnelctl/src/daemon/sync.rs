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
    plan::{self, MapOp},
    proxies::{self, Uplink},
    reconcile,
    routes::Routes,
    store::Store,
};
use crate::{api::TunnelSpec, datapath::Datapath};

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
/// `progress` gets (map operations done, total).
pub fn follow(
    d: &mut Derived,
    conn: &Connection,
    have: &[TunnelSpec],
    want: &[TunnelSpec],
    proxies: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<()> {
    let ops = plan::map_ops(&plan::model(have), &plan::model(want));
    let routes = plan::route_ops(&plan::routes(have), &plan::routes(want));
    if let Some(r) = d.routes {
        for p in &routes.delete {
            r.delete(p)
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
    if let Some(r) = d.routes {
        for (p, mtu) in &routes.put {
            r.put(p, *mtu)
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
    if let Some(r) = d.routes {
        match store.tunnels() {
            Ok(tunnels) => r.restore(&tunnels),
            Err(e) => warn!("restoring kernel routes: reading the store: {e:#}"),
        }
    }
    if let Err(e) = proxies::sync(d.dp, store.conn(), d.uplinks) {
        warn!("restoring the NDP proxy table: {e:#} (the next start reconciles it)");
    }
}
