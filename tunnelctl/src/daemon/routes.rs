//! Kernel routes for tunnel prefixes: each tunnel's /64 and routed prefixes
//! point at the tunnel device, with the tunnel's MTU, so the PoP's own
//! traffic (and any routing daemon that redistributes kernel routes) knows
//! them. The MTU lets the kernel size what it sends (and answer Packet Too
//! Big for what it forwards) before the TC program sees it.
//!
//! Routes are derived state: they carry the daemon's own routing protocol
//! number, so `reconcile` can find all of them and make them match the
//! store, whatever happened since (a crash between a store commit and a
//! route change, an operator's `ip route flush`).

use std::collections::HashMap;

use anyhow::{Context, Result};
use tracing::warn;

use super::netlink::{Netlink, Route};
use crate::{api::TunnelSpec, prefix::Ipv6Prefix};

pub struct Routes {
    nl: Netlink,
    /// The tunnel device.
    oif: u32,
    proto: u8,
}

/// What a reconciliation changed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RouteChanges {
    pub written: usize,
    pub removed: usize,
}

/// The routes a tunnel needs: its prefixes, each with the tunnel MTU.
fn wanted(t: &TunnelSpec) -> impl Iterator<Item = (Ipv6Prefix, u32)> + '_ {
    std::iter::once(&t.prefix)
        .chain(&t.routed)
        .map(|p| (*p, t.mtu as u32))
}

impl Routes {
    pub fn new(nl: Netlink, oif: u32, proto: u8) -> Self {
        Self { nl, oif, proto }
    }

    pub fn put(&self, p: &Ipv6Prefix, mtu: u16) -> Result<()> {
        self.nl.put_route(p, self.oif, mtu as u32, self.proto)
    }

    pub fn delete(&self, p: &Ipv6Prefix) -> Result<()> {
        self.nl.delete_route(p, self.proto)
    }

    /// Routes for all of `t`'s prefixes; on failure, removes those it added.
    pub fn add_tunnel(&self, t: &TunnelSpec) -> Result<()> {
        let all: Vec<_> = wanted(t).collect();
        for (i, (p, mtu)) in all.iter().enumerate() {
            if let Err(e) = self.nl.put_route(p, self.oif, *mtu, self.proto) {
                for (q, _) in &all[..i] {
                    let _ = self.delete(q);
                }
                return Err(e).with_context(|| format!("tunnel {}", t.id));
            }
        }
        Ok(())
    }

    /// Removes `t`'s routes; on failure, puts back those it removed.
    pub fn remove_tunnel(&self, t: &TunnelSpec) -> Result<()> {
        let all: Vec<_> = wanted(t).collect();
        for (i, (p, _)) in all.iter().enumerate() {
            if let Err(e) = self.delete(p) {
                for (q, mtu) in &all[..i] {
                    let _ = self.nl.put_route(q, self.oif, *mtu, self.proto);
                }
                return Err(e).with_context(|| format!("tunnel {}", t.id));
            }
        }
        Ok(())
    }

    /// Makes the kernel's routes of our protocol exactly those `tunnels`
    /// need: missing or different ones written, stale ones deleted.
    pub fn reconcile(&self, tunnels: &[TunnelSpec]) -> Result<RouteChanges> {
        let want: HashMap<Ipv6Prefix, Route> = tunnels
            .iter()
            .flat_map(wanted)
            .map(|(p, mtu)| (p, Route { oif: self.oif, mtu }))
            .collect();
        let have = self.nl.routes(self.proto)?;
        let mut ch = RouteChanges::default();
        for (p, r) in &want {
            if have.get(p) != Some(r) {
                self.nl.put_route(p, r.oif, r.mtu, self.proto)?;
                ch.written += 1;
            }
        }
        for p in have.keys().filter(|p| !want.contains_key(p)) {
            self.delete(p)?;
            ch.removed += 1;
        }
        Ok(ch)
    }

    /// `reconcile`, for paths that are already failing: logs instead of
    /// adding a second error.
    pub fn restore(&self, tunnels: &[TunnelSpec]) {
        if let Err(e) = self.reconcile(tunnels) {
            warn!("restoring kernel routes: {e:#} (the next start reconciles them)");
        }
    }
}
