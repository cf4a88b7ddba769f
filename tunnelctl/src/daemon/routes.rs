//! Kernel routes for tunnel prefixes: each tunnel's /64 and routed prefixes
//! point at the tunnel device, with the tunnel's MTU, so the PoP's own
//! traffic (and any routing daemon that redistributes kernel routes) knows
//! them. NAT64's pool6 and each mapping's IPv4 side point there too, so a
//! routing daemon announces what the translator answers for. The MTU lets the kernel size what it sends (and answer Packet Too
//! Big for what it forwards) before the TC program sees it.
//!
//! Routes are derived state: they carry the daemon's own routing protocol
//! number, so `reconcile` can find all of them and make them match the
//! store, whatever happened since (a crash between a store commit and a
//! route change, an operator's `ip route flush`).

use std::collections::HashMap;

use anyhow::Result;
use tracing::warn;

use super::{
    nat64,
    netlink::{Netlink, Route},
    plan,
};
use crate::{
    api::{Nat64Spec, TunnelSpec},
    prefix::{Ipv4Prefix, Ipv6Prefix},
};

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

impl Routes {
    pub fn new(nl: Netlink, oif: u32, proto: u8) -> Self {
        Self { nl, oif, proto }
    }

    /// Writes (or replaces) the route for `p`.
    pub fn put(&self, p: &Ipv6Prefix, mtu: u16) -> Result<()> {
        self.nl.put_route(p, self.oif, mtu as u32, self.proto)
    }

    /// Deletes the route for `p`; absent is not an error.
    pub fn delete(&self, p: &Ipv6Prefix) -> Result<()> {
        self.nl.delete_route(p, self.proto)
    }

    /// Writes (or replaces) the IPv4 route for `p` (a NAT64 mapping's).
    pub fn put4(&self, p: &Ipv4Prefix, mtu: u16) -> Result<()> {
        self.nl.put_route4(p, self.oif, mtu as u32, self.proto)
    }

    /// Deletes the IPv4 route for `p`; absent is not an error.
    pub fn delete4(&self, p: &Ipv4Prefix) -> Result<()> {
        self.nl.delete_route4(p, self.proto)
    }

    /// Makes the kernel's routes of our protocol exactly those `tunnels`
    /// and `nat64` need: missing or different ones written, stale ones
    /// deleted, in both families.
    pub fn reconcile(&self, tunnels: &[TunnelSpec], nat64: &Nat64Spec) -> Result<RouteChanges> {
        let mut ch = RouteChanges::default();
        let want4: HashMap<Ipv4Prefix, Route> = nat64::routes4(nat64)
            .into_iter()
            .map(|(p, mtu)| {
                let r = Route {
                    oif: self.oif,
                    mtu: mtu as u32,
                };
                (p, r)
            })
            .collect();
        let have4 = self.nl.routes4(self.proto)?;
        for (p, r) in &want4 {
            if have4.get(p) != Some(r) {
                self.nl.put_route4(p, r.oif, r.mtu, self.proto)?;
                ch.written += 1;
            }
        }
        for p in have4.keys().filter(|p| !want4.contains_key(p)) {
            self.delete4(p)?;
            ch.removed += 1;
        }
        let mut want6 = plan::routes(tunnels);
        want6.extend(nat64::routes6(nat64));
        let want: HashMap<Ipv6Prefix, Route> = want6
            .into_iter()
            .map(|(p, mtu)| {
                let r = Route {
                    oif: self.oif,
                    mtu: mtu as u32,
                };
                (p, r)
            })
            .collect();
        let have = self.nl.routes(self.proto)?;
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
    pub fn restore(&self, tunnels: &[TunnelSpec], nat64: &Nat64Spec) {
        if let Err(e) = self.reconcile(tunnels, nat64) {
            warn!("restoring kernel routes: {e:#} (the next start reconciles them)");
        }
    }
}
