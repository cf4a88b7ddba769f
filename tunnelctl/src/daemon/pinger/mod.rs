//! The latency pinger (as sixxsd's, ayiya-spec.md §4.1): every
//! `ping_interval` an ICMPv6 echo request from each UP tunnel's `::1` to
//! its `::2`, spread over the interval, not a burst. Requests leave through
//! the tunnel device like any of the PoP's own traffic (the kernel routes
//! the tunnel prefix there, `tunnel_tc` encapsulates); the user's reply
//! comes back through the uplink program, which stamps its round trip into
//! `PINGS` (`tunnel-ebpf/src/pinger.rs`). Loss and min/avg/max round trip
//! per tunnel show in `tunnel show|list` and `/metrics`.

mod packet;
pub mod table;

use std::{
    net::{Ipv6Addr, SocketAddrV6},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tracing::{info, warn};

use super::engine::Engine;

/// A raw IPv6 socket that sends whole packets (IPPROTO_RAW: the header is
/// ours, so the source can be a tunnel's `::1`, which the host does not
/// have as an address, or an IPv4 host under pool6: the NAT64 slow path's
/// fragments). Non-blocking: a full buffer is a failed send, not a wait.
pub(super) fn raw_socket() -> Result<Socket> {
    let s = Socket::new(
        Domain::IPV6,
        Type::RAW,
        Some(Protocol::from(libc::IPPROTO_RAW)),
    )
    .context("opening a raw IPv6 socket (IPPROTO_RAW)")?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Pings every `interval` until the daemon stops.
pub async fn keep(engine: Arc<Mutex<Engine>>, interval: Duration) {
    let sock = match raw_socket() {
        Ok(s) => s,
        Err(e) => {
            warn!("the latency pinger is off: {e:#}");
            return;
        }
    };
    info!(interval_s = interval.as_secs(), "latency pinger running");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut failed = 0u64;
    loop {
        tick.tick().await;
        let engine = engine.clone();
        let round = tokio::task::spawn_blocking(move || {
            let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
            round(&mut e, interval)
        })
        .await;
        let packets = match round {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                warn!("pinger: {e:#}");
                continue;
            }
            Err(e) => {
                warn!("pinger: {e}");
                continue;
            }
        };
        for (dst, p) in packets {
            let to = SockAddr::from(SocketAddrV6::new(dst, 0, 0, 0));
            if let Err(e) = sock.send_to(&p, &to) {
                failed += 1;
                // One line per power of two: a broken route says so without
                // a line per tunnel and second.
                if failed.is_power_of_two() {
                    warn!(failed, "pinger: sending to {dst}: {e}");
                }
            }
        }
    }
}

/// One second's work under the engine's lock: replies of the requests
/// that timed out read, the requests now due built.
fn round(e: &mut Engine, interval: Duration) -> Result<Vec<(Ipv6Addr, Vec<u8>)>> {
    let now = Instant::now();
    for id in e.pings.expired(now) {
        let reply = e.dp.ping_reply(id).ok();
        e.pings.resolve(id, reply);
    }
    let up = e.liveness.up();
    let sent_ns = crate::datapath::clock::boot_ns()?;
    let due = e.pings.due(now, &up, interval);
    let liveness = &e.liveness;
    e.pings.retain(|id| liveness.knows(id));
    Ok(due
        .into_iter()
        .map(|(_, prefix, seq)| {
            let (pop, user) = (prefix.host(1), prefix.host(2));
            (user, packet::echo_request(pop, user, seq, sent_ns))
        })
        .collect())
}
