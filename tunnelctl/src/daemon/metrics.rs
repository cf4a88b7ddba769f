//! Prometheus metrics over HTTP (text format 0.0.4), served from the maps
//! and the store on each scrape. "Last seen" is sampled here, at scrape
//! time, from the rx counters: the datapath spends nothing on it.

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Result;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tracing::warn;

use super::engine::Engine;
use crate::api::CheckStatus;

/// tunnel id → (rx packets at the last change, unix time of that change).
pub type LastSeen = HashMap<u32, (u64, u64)>;

pub async fn serve(listener: TcpListener, engine: Arc<Mutex<Engine>>) {
    let seen = Arc::new(Mutex::new(LastSeen::new()));
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let (engine, seen) = (engine.clone(), seen.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n =
                match tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf))
                    .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
            let req = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if req.starts_with("GET /metrics ") || req.starts_with("GET / ") {
                let text = tokio::task::spawn_blocking(move || {
                    let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
                    let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                    render(&mut e, &mut s)
                })
                .await;
                match text {
                    Ok(Ok(t)) => ("200 OK", t),
                    Ok(Err(e)) => ("500 Internal Server Error", format!("{e:#}\n")),
                    Err(e) => ("500 Internal Server Error", format!("{e}\n")),
                }
            } else {
                ("404 Not Found", "try /metrics\n".to_owned())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            if let Err(e) = sock
                .write_all(head.as_bytes())
                .await
                .and(sock.write_all(body.as_bytes()).await)
            {
                warn!("metrics write: {e}");
            }
        });
    }
}

pub fn render(e: &mut Engine, seen: &mut LastSeen) -> Result<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut s = String::new();
    let tunnels = e.list()?;
    type Field = fn(&crate::api::TunnelStats) -> u64;
    let fields: [(&str, &str, Field); 5] = [
        (
            "rx_packets",
            "Packets received from the tunnel's user.",
            |t| t.rx_packets,
        ),
        (
            "rx_bytes",
            "Inner IPv6 bytes received from the tunnel's user.",
            |t| t.rx_bytes,
        ),
        ("tx_packets", "Packets sent to the tunnel's user.", |t| {
            t.tx_packets
        }),
        (
            "tx_bytes",
            "Inner IPv6 bytes sent to the tunnel's user.",
            |t| t.tx_bytes,
        ),
        (
            "errors",
            "Packets of or toward the tunnel dropped (by reason: tunnelpop_drops_total).",
            |t| t.errors,
        ),
    ];
    for (name, help, get) in fields {
        let _ = writeln!(s, "# HELP tunnelpop_tunnel_{name}_total {help}\n# TYPE tunnelpop_tunnel_{name}_total counter");
        for t in &tunnels {
            let _ = writeln!(
                s,
                "tunnelpop_tunnel_{name}_total{{tunnel=\"{}\"}} {}",
                t.spec.id,
                get(&t.stats)
            );
        }
    }
    let _ = writeln!(s, "# HELP tunnelpop_tunnel_enabled 1 if the tunnel is enabled.\n# TYPE tunnelpop_tunnel_enabled gauge");
    for t in &tunnels {
        let _ = writeln!(
            s,
            "tunnelpop_tunnel_enabled{{tunnel=\"{}\"}} {}",
            t.spec.id, t.spec.enabled as u8
        );
    }
    let _ = writeln!(s, "# HELP tunnelpop_tunnel_up 1 if traffic toward the tunnel flows (enabled, and for kinds that learn their user's address, the user seen).\n# TYPE tunnelpop_tunnel_up gauge");
    for t in &tunnels {
        let _ = writeln!(
            s,
            "tunnelpop_tunnel_up{{tunnel=\"{}\"}} {}",
            t.spec.id,
            (t.state == crate::api::TunnelState::Up) as u8
        );
    }
    liveness(&mut s, e, &tunnels);
    let _ = writeln!(s, "# HELP tunnelpop_tunnel_endpoint_seen_seconds_ago Seconds since the user's last authenticated packet or beat (kinds that learn their user's address, once seen).\n# TYPE tunnelpop_tunnel_endpoint_seen_seconds_ago gauge");
    for t in &tunnels {
        if let Some(e) = &t.endpoint {
            let _ = writeln!(
                s,
                "tunnelpop_tunnel_endpoint_seen_seconds_ago{{tunnel=\"{}\"}} {}",
                t.spec.id, e.seen_s_ago
            );
        }
    }
    let _ = writeln!(
        s,
        "# HELP tunnelpop_tunnel_last_seen_seconds Unix time the tunnel's rx counter last grew (sampled at scrape; 0: never).\n# TYPE tunnelpop_tunnel_last_seen_seconds gauge"
    );
    seen.retain(|id, _| tunnels.iter().any(|t| t.spec.id == *id));
    for t in &tunnels {
        let entry = seen.entry(t.spec.id).or_insert((0, 0));
        if t.stats.rx_packets > entry.0 {
            *entry = (t.stats.rx_packets, now);
        }
        let _ = writeln!(
            s,
            "tunnelpop_tunnel_last_seen_seconds{{tunnel=\"{}\"}} {}",
            t.spec.id, entry.1
        );
    }
    let c = e.dp.counters()?;
    let _ = writeln!(s, "# HELP tunnelpop_drops_total Packets dropped by the datapath, by reason.\n# TYPE tunnelpop_drops_total counter");
    for (d, n) in &c.drops {
        let _ = writeln!(s, "tunnelpop_drops_total{{reason=\"{}\"}} {n}", d.name());
    }
    let _ = writeln!(
        s,
        "# HELP tunnelpop_events_total Datapath events.\n# TYPE tunnelpop_events_total counter"
    );
    for (ev, n) in &c.events {
        let _ = writeln!(s, "tunnelpop_events_total{{event=\"{}\"}} {n}", ev.name());
    }
    let _ = writeln!(
        s,
        "# HELP tunnelpop_updates_total /nic/update requests by answer: good, nochg, badauth, nohost, abuse, bad (malformed, another path or method, too large), error (911).\n# TYPE tunnelpop_updates_total counter"
    );
    for o in super::update::answer::Outcome::ALL {
        let _ = writeln!(
            s,
            "tunnelpop_updates_total{{result=\"{}\"}} {}",
            o.name(),
            e.updates.get(o)
        );
    }
    e.heartbeat.render(&mut s);
    let st = e.status()?;
    let _ = writeln!(
        s,
        "# HELP tunnelpop_map_entries Entries in use.\n# TYPE tunnelpop_map_entries gauge"
    );
    let _ = writeln!(s, "tunnelpop_map_entries{{map=\"tunnels\"}} {}", st.tunnels);
    let _ = writeln!(
        s,
        "tunnelpop_map_entries{{map=\"prefixes\"}} {}",
        st.prefixes
    );
    let _ = writeln!(s, "tunnelpop_map_entries{{map=\"proxies\"}} {}", st.proxies);
    let _ = writeln!(s, "# HELP tunnelpop_map_capacity Entries the map can hold.\n# TYPE tunnelpop_map_capacity gauge");
    let _ = writeln!(
        s,
        "tunnelpop_map_capacity{{map=\"tunnels\"}} {}",
        st.max_tunnels
    );
    let _ = writeln!(
        s,
        "tunnelpop_map_capacity{{map=\"prefixes\"}} {}",
        st.max_prefixes
    );
    let _ = writeln!(
        s,
        "tunnelpop_map_capacity{{map=\"proxies\"}} {}",
        st.max_proxies
    );
    let _ = writeln!(
        s,
        "# HELP tunnelpop_check_ok 1 if what the data path needs from the kernel is there, 0 if not (tunnelctl status says what it costs); uplink \"\" for host-wide checks.\n# TYPE tunnelpop_check_ok gauge"
    );
    for c in &st.checks {
        let _ = writeln!(
            s,
            "tunnelpop_check_ok{{check=\"{}\",uplink=\"{}\"}} {}",
            c.name,
            c.uplink.as_deref().unwrap_or(""),
            u8::from(c.status == CheckStatus::Ok)
        );
    }
    e.tic.render(&mut s);
    e.slowpath.render(&mut s);
    Ok(s)
}

/// State changes and the latency pinger's figures.
fn liveness(s: &mut String, e: &Engine, tunnels: &[crate::api::TunnelView]) {
    use crate::api::TunnelState;
    let _ = writeln!(s, "# HELP tunnelpop_tunnel_state_changes_total Tunnel state changes since the daemon started, by the state entered.\n# TYPE tunnelpop_tunnel_state_changes_total counter");
    for st in [TunnelState::Up, TunnelState::Down, TunnelState::Disabled] {
        let _ = writeln!(
            s,
            "tunnelpop_tunnel_state_changes_total{{to=\"{}\"}} {}",
            st.name(),
            e.liveness.changes_to(st)
        );
    }
    let pinged = || {
        tunnels
            .iter()
            .filter_map(|t| Some((t.spec.id, t.latency.as_ref()?)))
    };
    let _ = writeln!(s, "# HELP tunnelpop_tunnel_pings_sent_total Latency pings sent to the tunnel's user (::1 to ::2).\n# TYPE tunnelpop_tunnel_pings_sent_total counter");
    for (id, l) in pinged() {
        let _ = writeln!(
            s,
            "tunnelpop_tunnel_pings_sent_total{{tunnel=\"{id}\"}} {}",
            l.sent
        );
    }
    let _ = writeln!(s, "# HELP tunnelpop_tunnel_pings_received_total Latency pings the tunnel's user answered in time.\n# TYPE tunnelpop_tunnel_pings_received_total counter");
    for (id, l) in pinged() {
        let _ = writeln!(
            s,
            "tunnelpop_tunnel_pings_received_total{{tunnel=\"{id}\"}} {}",
            l.received
        );
    }
    let _ = writeln!(s, "# HELP tunnelpop_tunnel_ping_loss_ratio Share of the last latency pings not answered in time.\n# TYPE tunnelpop_tunnel_ping_loss_ratio gauge");
    for (id, l) in pinged() {
        let _ = writeln!(
            s,
            "tunnelpop_tunnel_ping_loss_ratio{{tunnel=\"{id}\"}} {}",
            f64::from(l.loss_pct) / 100.0
        );
    }
    let _ = writeln!(s, "# HELP tunnelpop_tunnel_rtt_seconds Round trip of the last answered latency pings: min, avg, max.\n# TYPE tunnelpop_tunnel_rtt_seconds gauge");
    for (id, l) in pinged() {
        for (stat, v) in [
            ("min", l.rtt_min_us),
            ("avg", l.rtt_avg_us),
            ("max", l.rtt_max_us),
        ] {
            if let Some(us) = v {
                let _ = writeln!(
                    s,
                    "tunnelpop_tunnel_rtt_seconds{{tunnel=\"{id}\",stat=\"{stat}\"}} {}",
                    f64::from(us) / 1e6
                );
            }
        }
    }
}
