//! The next-hop cache's keeper: follows the kernel's routes, neighbours,
//! links and rules (rtnetlink events, plus a full pass every few seconds
//! as a safety net) and keeps `ROUTES4`, `ROUTES6` and `NEXTHOPS` equal to
//! what `plan` makes of them. A change is in the maps a few milliseconds
//! after the kernel announces it. The gateways the cache sends to are
//! marked in use on every pass, so the kernel keeps checking they are
//! still there (a router replaced without announcing its new MAC is
//! found by the kernel's probes, then re-resolved).

mod gather;
pub mod plan;

use std::{
    collections::BTreeSet,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use netlink_sys::{AsyncSocket, SocketAddr};
use rtnetlink::{
    packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST},
    packet_route::{
        neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage},
        AddressFamily, RouteNetlinkMessage,
    },
    Handle,
};
use tracing::{debug, info, warn};

use super::engine::Engine;

/// rtnetlink multicast groups (RTMGRP_* bits; the IPv6 rule group is
/// RTNLGRP_IPV6_RULE = 19).
const GROUPS: u32 = 0x1 /* LINK */ | 0x4 /* NEIGH */ | 0x40 /* IPV4_ROUTE */
    | 0x80 /* IPV4_RULE */ | 0x400 /* IPV6_ROUTE */ | (1 << (19 - 1));
/// Events arrive in bursts (a link change brings routes and neighbours):
/// wait this long for the burst to end before one pass.
const SETTLE: Duration = Duration::from_millis(20);
/// A full pass even without events (sysctls send none).
const PERIOD: Duration = Duration::from_secs(2);

/// Runs until the daemon stops. Errors are logged and retried next round:
/// a stale cache entry is still what the kernel last said.
pub async fn keep(engine: Arc<Mutex<Engine>>) {
    if let Err(e) = run(engine).await {
        warn!("next-hop cache keeper stopped: {e:#}; the data path asks the kernel's FIB");
    }
}

async fn run(engine: Arc<Mutex<Engine>>) -> Result<()> {
    let (mut conn, handle, mut events) =
        rtnetlink::new_connection().context("rtnetlink socket for the next-hop cache")?;
    conn.socket_mut()
        .socket_mut()
        .bind(&SocketAddr::new(0, GROUPS))
        .context("joining the rtnetlink groups")?;
    tokio::spawn(conn);
    let mut slots = plan::Slots::default();
    let mut last_uncached = Vec::new();
    loop {
        match gather::kernel(&handle).await {
            Ok(k) => {
                let tables = plan::plan(&k, &mut slots);
                if tables.uncached != last_uncached {
                    for why in &tables.uncached {
                        warn!("next-hop cache off for {why}: those packets take bpf_fib_lookup");
                    }
                    last_uncached = tables.uncached.clone();
                }
                let synced = {
                    let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
                    e.dp.sync_nexthops(&tables)
                };
                match synced {
                    Ok(0) => {}
                    Ok(n) => info!(
                        changes = n,
                        routes4 = tables.routes4.len(),
                        routes6 = tables.routes6.len(),
                        nexthops = tables.nexthops.len(),
                        "next-hop cache updated"
                    ),
                    Err(e) => warn!("writing the next-hop cache: {e:#}"),
                }
                keep_in_use(&handle, &tables.gateways).await;
            }
            Err(e) => warn!("reading routes and neighbours: {e:#}"),
        }
        // Wait for an event or the period, then let the burst settle.
        tokio::select! {
            ev = events.next() => if ev.is_none() { anyhow::bail!("rtnetlink event stream ended") },
            _ = tokio::time::sleep(PERIOD) => {}
        }
        tokio::time::sleep(SETTLE).await;
        while let Ok(Some(_)) = tokio::time::timeout(Duration::ZERO, events.next()).await {}
    }
}

/// One pass outside the daemon (tests, the bench, tools): reads the
/// calling thread's network namespace and fills `dp`'s cache. Returns the
/// tables written.
pub fn fill_once(dp: &mut crate::datapath::Datapath) -> Result<plan::Tables> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("runtime")?;
    let kernel = rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().context("rtnetlink socket")?;
        tokio::spawn(conn);
        gather::kernel(&handle).await
    })?;
    let tables = plan::plan(&kernel, &mut plan::Slots::default());
    dp.sync_nexthops(&tables)?;
    Ok(tables)
}

/// Tells the kernel the cached gateways' neighbour entries are in use
/// (`NTF_USE`, as if it had sent a packet through each): an entry the data
/// path relies on goes through the kernel's unreachability detection
/// (STALE → DELAY → unicast probes) instead of staying STALE forever with a
/// MAC nobody checks. Without `NLM_F_CREATE`: an entry gone meanwhile is
/// not brought back (the next pass drops its slot). Failures only cost the
/// re-validation, so they are logged at debug.
async fn keep_in_use(h: &Handle, gateways: &BTreeSet<(u32, IpAddr)>) {
    for (ifindex, gw) in gateways {
        let mut m = NeighbourMessage::default();
        m.header.ifindex = *ifindex;
        m.header.flags = NeighbourFlags::Use;
        let (family, dst) = match gw {
            IpAddr::V4(a) => (AddressFamily::Inet, NeighbourAddress::Inet(*a)),
            IpAddr::V6(a) => (AddressFamily::Inet6, NeighbourAddress::Inet6(*a)),
        };
        m.header.family = family;
        m.attributes.push(NeighbourAttribute::Destination(dst));
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(m));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        let mut answers = match h.clone().request(req) {
            Ok(a) => a,
            Err(e) => {
                debug!(%gw, ifindex, "marking the neighbour in use: {e}");
                continue;
            }
        };
        while let Some(a) = answers.next().await {
            if let NetlinkPayload::Error(e) = a.payload {
                if e.code.is_some() {
                    debug!(%gw, ifindex, "marking the neighbour in use: {e}");
                }
            }
        }
    }
}
