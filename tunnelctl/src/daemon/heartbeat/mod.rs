//! The daemon's heartbeat listener (`heartbeat_listen`, UDP 3740 by
//! convention; `ayiya-spec.md` §2.1). Each datagram is parsed
//! (`crate::heartbeat::codec`), its identity looked up (`lookup`: the
//! `::2` of a tunnel's /64), checked against that tunnel (`check`: a
//! dynamic kind, enabled, sender, clock, MD5 over the stored password, the
//! PoP address it reached), and only then learned, under the engine's lock
//! (`Datapath::learn_beat`: `ENDPOINTS` and the `TUN_BY_V4` pair). Every
//! datagram is counted by result (`stats`, in `/metrics`); refusals are
//! logged at most once per reason per 10 s, with the number left out.
//!
//! - `socket`: the UDP socket with `IP_PKTINFO`;
//! - `sweep`: drops learned pairs whose user has moved to AYIYA since.

pub mod check;
pub mod lookup;
pub mod socket;
pub mod stats;
pub mod sweep;

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddrV4},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::Result;
use tracing::{debug, info, warn};
use tunnel_common::tunnel::{Endpoint, ENDPOINT_VIA_AYIYA, ENDPOINT_VIA_HEARTBEAT};

pub use self::stats::{Outcome, Stats};
use self::{check::check, lookup::Lookup};
use super::engine::Engine;
use crate::{
    ayiya_client::limit::{more, Every},
    datapath::NotLearned,
    heartbeat::{Beat, Refusal},
};

/// At most one log line per reason in this long.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Bigger than any beat (`codec::MAX_LEN`): longer datagrams are refused
/// whole, not read in part.
const BUF: usize = 512;

/// Rate-limited log lines: one limiter per reason, one per tunnel and kind
/// of change for accepted beats that change something (they need the
/// password: a user flapping between two addresses is the most that can
/// come of them), one for the daemon's own failures.
#[derive(Default)]
struct Logs {
    refused: HashMap<Refusal, Every>,
    learned: HashMap<(u32, Change), Every>,
    error: Option<Every>,
}

/// What an accepted beat changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Change {
    First,
    Moved,
    FromAyiya,
}

/// Tunnels whose state-change limiter is kept; beyond, they start afresh.
const LEARNED_LIMITERS: usize = 10_000;

impl Logs {
    fn refused(&mut self, r: Refusal, line: impl FnOnce() -> String) {
        let now = Instant::now();
        let e = self
            .refused
            .entry(r)
            .or_insert_with(|| Every::new(LOG_EVERY));
        if let Some(m) = e.check(now) {
            warn!("heartbeat refused ({r}): {}{}", line(), more(m));
        }
    }

    fn error(&mut self, line: impl FnOnce() -> String) {
        let e = self.error.get_or_insert_with(|| Every::new(LOG_EVERY));
        if let Some(m) = e.check(Instant::now()) {
            warn!("heartbeat: {}{}", line(), more(m));
        }
    }

    fn learned(&mut self, id: u32, change: Change, line: impl FnOnce() -> String) {
        let key = (id, change);
        if self.learned.len() >= LEARNED_LIMITERS && !self.learned.contains_key(&key) {
            self.learned.clear();
        }
        let e = self
            .learned
            .entry(key)
            .or_insert_with(|| Every::new(LOG_EVERY));
        if let Some(m) = e.check(Instant::now()) {
            info!("{}{}", line(), more(m));
        }
    }
}

/// Runs the listener on `sock` until the daemon stops. `state_path` is the
/// store, opened read-only here.
pub async fn serve(
    sock: std::net::UdpSocket,
    state_path: PathBuf,
    engine: Arc<Mutex<Engine>>,
    stats: Arc<Stats>,
) {
    if let Err(e) = run(sock, state_path, engine, stats).await {
        warn!("the heartbeat listener stopped: {e:#}; heartbeat tunnels learn nothing until a restart");
    }
}

async fn run(
    sock: std::net::UdpSocket,
    state_path: PathBuf,
    engine: Arc<Mutex<Engine>>,
    stats: Arc<Stats>,
) -> Result<()> {
    let sock = socket::into_tokio(sock)?;
    let mut lookup = Lookup::open(&state_path)?;
    info!(listen = %sock.local_addr()?, "heartbeat listening");
    let mut logs = Logs::default();
    let mut buf = vec![0u8; BUF];
    let mut errors = Every::new(LOG_EVERY);
    loop {
        let r = match socket::recv(&sock, &mut buf).await {
            Ok(r) => r,
            Err(e) => {
                if let Some(m) = errors.check(Instant::now()) {
                    warn!("heartbeat socket: {e}{}", more(m));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let d = buf[..r.len].to_vec();
        let outcome = match handle(&d, r.source, r.dest, &mut lookup, &engine, &mut logs).await {
            Ok(()) => Outcome::Ok,
            Err(Some(r)) => Outcome::Refused(r),
            Err(None) => Outcome::Error,
        };
        stats.count(outcome);
    }
}

/// Unix seconds now.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A short, printable excerpt of what was received, for log lines.
fn excerpt(d: &[u8]) -> String {
    let cut = &d[..d.len().min(100)];
    let mut s = cut.escape_ascii().to_string();
    if d.len() > cut.len() {
        s.push_str("...");
    }
    s
}

/// One datagram, from parse to learned: why not (`None`: the daemon
/// failed, logged).
async fn handle(
    d: &[u8],
    from: SocketAddrV4,
    dest: Option<Ipv4Addr>,
    lookup: &mut Lookup,
    engine: &Arc<Mutex<Engine>>,
    logs: &mut Logs,
) -> Result<(), Option<Refusal>> {
    let beat = match Beat::parse(d) {
        Ok(b) => b,
        Err(r) => {
            logs.refused(r, || format!("from {from}: \"{}\"", excerpt(d)));
            return Err(Some(r));
        }
    };
    let t = match lookup.by_identity(beat.identity) {
        Ok(Some(t)) => t,
        Ok(None) => {
            let r = Refusal::UnknownTunnel;
            logs.refused(r, || {
                format!(
                    "from {from}: {} is no tunnel's user address (::2 of its /64)",
                    beat.identity
                )
            });
            return Err(Some(r));
        }
        Err(e) => {
            logs.error(|| format!("reading the store for a beat from {from}: {e:#}"));
            return Err(None);
        }
    };
    let now = unix_now();
    // A socket bound to one address gets no other; without the kernel's
    // word, that is the tunnel's own.
    let dest = dest.unwrap_or(t.local);
    let source = *from.ip();
    let id = t.id;
    if let Err(r) = check(&beat, &t, source, dest, now) {
        logs.refused(r, || refusal_detail(r, id, from, dest, &beat, now));
        return Err(Some(r));
    }
    // Learned under the engine's lock, off the runtime's threads (an
    // `apply` may hold the lock for seconds).
    let engine = engine.clone();
    let owned = d.to_vec();
    let learned = tokio::task::spawn_blocking(move || learn(&engine, &owned, t, source, dest, now))
        .await
        .unwrap_or_else(|join| Err(Failed::Error(format!("{join}"))));
    match learned {
        Ok((a, before)) => {
            log_learned(logs, &a, before.as_ref());
            Ok(())
        }
        Err(Failed::Refused(r, holder)) => {
            logs.refused(r, || match holder {
                Some(h) => format!(
                    "tunnel {id} from {from}: {source} -> {dest} is tunnel {h}'s (a static 6in4 tunnel, or another user behind the same address); not learned"
                ),
                None => refusal_detail(r, id, from, dest, &beat, now),
            });
            Err(Some(r))
        }
        Err(Failed::Error(e)) => {
            logs.error(|| format!("tunnel {id}: learning a beat from {from}: {e}"));
            Err(None)
        }
    }
}

/// Why a checked beat was not learned.
enum Failed {
    /// A refusal (`holder`: the tunnel whose pair it is, for `conflict`).
    Refused(Refusal, Option<u32>),
    Error(String),
}

/// Under the engine's lock: the tunnel read again (if an operation changed
/// it since the listener read it, the checks run again on what the maps
/// now follow), then learned.
fn learn(
    engine: &Mutex<Engine>,
    d: &[u8],
    t: crate::api::TunnelSpec,
    source: Ipv4Addr,
    dest: Ipv4Addr,
    now: u64,
) -> Result<(check::Accepted, Option<Endpoint>), Failed> {
    let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
    let fresh = match e.store.tunnel(t.id) {
        Ok(Some(f)) => f,
        Ok(None) => return Err(Failed::Refused(Refusal::UnknownTunnel, None)),
        Err(err) => return Err(Failed::Error(format!("reading the store: {err:#}"))),
    };
    let a = if fresh == t {
        check::Accepted {
            id: t.id,
            local: dest,
            remote: source,
        }
    } else {
        let beat = Beat::parse(d).map_err(|r| Failed::Refused(r, None))?;
        check(&beat, &fresh, source, dest, now).map_err(|r| Failed::Refused(r, None))?
    };
    match e.dp.learn_beat(a.id, a.local, a.remote) {
        Ok(Ok(before)) => Ok((a, before)),
        Ok(Err(NotLearned { reason, holder })) => Err(Failed::Refused(reason, holder)),
        Err(err) => Err(Failed::Error(format!("{err:#}"))),
    }
}

/// The log line of a refused beat whose tunnel is known.
fn refusal_detail(
    r: Refusal,
    id: u32,
    from: SocketAddrV4,
    dest: Ipv4Addr,
    beat: &Beat,
    now: u64,
) -> String {
    let why = match r {
        Refusal::NotDynamic => "a static 6in4 tunnel learns nothing".to_owned(),
        Refusal::Disabled => "the tunnel is disabled".to_owned(),
        Refusal::SenderMismatch => format!(
            "the beat names {}, the packet comes from {} (behind a NAT the client must send 'sender')",
            beat.sender_text(),
            from.ip()
        ),
        Refusal::ClockOff => {
            let skew = i128::from(beat.epoch) - i128::from(now);
            format!(
                "its clock is {} s {} ours (the window is ±120 s): fix the time (NTP) on whichever side is wrong",
                skew.unsigned_abs(),
                if skew > 0 { "ahead of" } else { "behind" }
            )
        }
        Refusal::HashFail => "the MD5 does not match the tunnel's password".to_owned(),
        Refusal::NoPassword => "the store keeps only the tunnel's AYIYA key (sha1:...), not its password: set the password again".to_owned(),
        Refusal::WrongLocal => format!("sent to {dest}, which is not the tunnel's local address"),
        other => other.name().to_owned(),
    };
    format!("tunnel {id} from {from}: {why}")
}

/// A state change is logged (first beat, a move, a switch from AYIYA); a
/// beat that confirms what was learned is not.
fn log_learned(logs: &mut Logs, a: &check::Accepted, before: Option<&Endpoint>) {
    let now_v4 = |e: &Endpoint| std::net::Ipv6Addr::from(e.remote).to_ipv4_mapped();
    match before {
        None => logs.learned(a.id, Change::First, || {
            format!(
                "tunnel {}: first beat, from {} to {}: proto-41 goes there",
                a.id, a.remote, a.local
            )
        }),
        Some(e) if e.via == ENDPOINT_VIA_AYIYA => logs.learned(a.id, Change::FromAyiya, || {
            format!(
                "tunnel {}: its user switched from AYIYA to heartbeat, proto-41 to {}",
                a.id, a.remote
            )
        }),
        Some(e) if e.via == ENDPOINT_VIA_HEARTBEAT && now_v4(e) != Some(a.remote) => {
            logs.learned(a.id, Change::Moved, || {
                let old = now_v4(e).map_or_else(|| "?".into(), |x| x.to_string());
                format!("tunnel {}: its user moved from {old} to {}", a.id, a.remote)
            })
        }
        Some(_) => debug!(tunnel = a.id, remote = %a.remote, "beat"),
    }
}
