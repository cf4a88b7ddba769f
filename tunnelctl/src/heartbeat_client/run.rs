//! The heartbeat client's loop: one task on a current-thread runtime,
//! waiting on the tun device, the raw socket, the beat timer, the probe's
//! deadline and the signals. Nothing a peer sends and no send or receive
//! error ends it: only SIGTERM or SIGINT (or a failure to set up) does.

use std::{
    fmt,
    net::{Ipv6Addr, SocketAddr, SocketAddrV4, UdpSocket},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use tokio::{
    signal::unix::{signal, SignalKind},
    time::sleep_until,
};
use tracing::{info, warn};
use tun_rs::AsyncDevice;

use super::{
    params::HeartbeatParams,
    raw::{self, NotInner, Raw},
};
use crate::{
    ayiya_client::{
        limit::{more, utc, Every},
        probe, tun, RunOptions,
    },
    heartbeat::{codec, Sender},
};

/// Beats at start, one a second (as the AYIYA client), before the
/// interval takes over; the probe goes with the second, once the PoP has
/// had time to learn the first.
const START_BEATS: u32 = 3;
/// Room for any packet (IPv4 reassembled, or the largest tun read).
const BUF: usize = 65_536;

/// What the client did, for the line it logs when it stops.
#[derive(Default, Debug)]
pub struct Counters {
    pub tx_packets: u64,
    pub tx_beats: u64,
    pub tx_probes: u64,
    pub tx_errors: u64,
    pub rx_packets: u64,
    pub rx_probe_replies: u64,
    /// Proto-41 from another address than the PoP's.
    pub rx_not_from_pop: u64,
    pub rx_malformed: u64,
    pub rx_errors: u64,
    pub tun_errors: u64,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} packets, {} beats, {} probes ({} send errors); received {} packets, \
             {} probe replies ({} not from the PoP, {} malformed, {} receive errors); \
             tun errors {}",
            self.tx_packets,
            self.tx_beats,
            self.tx_probes,
            self.tx_errors,
            self.rx_packets,
            self.rx_probe_replies,
            self.rx_not_from_pop,
            self.rx_malformed,
            self.rx_errors,
            self.tun_errors
        )
    }
}

/// Runs the client until SIGTERM or SIGINT; returns its counters.
pub fn run(params: HeartbeatParams, opts: RunOptions) -> Result<Counters> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    rt.block_on(async move {
        let mut c = Client::start(params, opts).await?;
        c.run().await?;
        Ok(c.counters)
    })
}

#[derive(Clone, Copy)]
struct Probe {
    seq: u16,
    sent: Instant,
}

/// Log limiters, one per kind of line.
struct Limits {
    beat: Every,
    send: Every,
    recv: Every,
    stray: Every,
    tun: Every,
    silent: Every,
}

impl Limits {
    fn new() -> Self {
        let s = Duration::from_secs;
        Self {
            beat: Every::new(s(10)),
            send: Every::new(s(10)),
            recv: Every::new(s(10)),
            stray: Every::new(s(60)),
            tun: Every::new(s(10)),
            silent: Every::new(s(300)),
        }
    }
}

struct Client {
    p: HeartbeatParams,
    o: RunOptions,
    local: Ipv6Addr,
    pop_inner: Ipv6Addr,
    raw: Raw,
    dev: AsyncDevice,
    counters: Counters,
    limits: Limits,
    last_rx: Option<Instant>,
    probe: Option<Probe>,
    next_seq: u16,
    answering: bool,
}

/// Our clock, Unix seconds.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Client {
    async fn start(p: HeartbeatParams, o: RunOptions) -> Result<Self> {
        let (local, pop_inner) = (p.local(), p.pop_inner());
        let raw = Raw::open(*p.pop.ip())?;
        let dev = tun::open(&o.tun_name, p.mtu, local, o.default_route).await?;
        info!(
            "heartbeat tunnel {}: {} on {} (MTU {}), PoP {} at {} (proto-41; beats to UDP {}); beats every {} s{}",
            p.prefix,
            local,
            o.tun_name,
            p.mtu,
            pop_inner,
            p.pop.ip(),
            p.pop.port(),
            p.beat_interval.as_secs(),
            if o.default_route {
                "; default route ::/0 via the tunnel"
            } else {
                ""
            },
        );
        Ok(Self {
            p,
            o,
            local,
            pop_inner,
            raw,
            dev,
            counters: Counters::default(),
            limits: Limits::new(),
            last_rx: None,
            probe: None,
            next_seq: 1,
            answering: false,
        })
    }

    /// Our epoch as beats carry it: Unix seconds plus the test-only offset.
    fn epoch(&self) -> u64 {
        (unix_now() + self.o.clock_offset).max(0) as u64
    }

    async fn run(&mut self) -> Result<()> {
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        let mut tx = vec![0u8; BUF];
        let mut rx = vec![0u8; BUF];
        let mut next_beat = Instant::now();
        let mut start_beats = START_BEATS;
        let far = Duration::from_secs(86_400 * 365);
        loop {
            let probe_deadline = self
                .probe
                .map_or_else(|| Instant::now() + far, |pr| pr.sent + self.o.probe_timeout);
            tokio::select! {
                _ = term.recv() => {
                    info!("SIGTERM: stopping");
                    break;
                }
                _ = int.recv() => {
                    info!("SIGINT: stopping");
                    break;
                }
                r = self.dev.recv(&mut tx) => match r {
                    Ok(n) => self.send_packet(&tx[..n]).await,
                    Err(e) => {
                        self.counters.tun_errors += 1;
                        if let Some(m) = self.limits.tun.check(Instant::now()) {
                            warn!("reading {}: {e}{}", self.o.tun_name, more(m));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                r = self.raw.recv(&mut rx) => match r {
                    Ok(n) => self.received(&rx[..n]).await,
                    Err(e) => {
                        self.counters.rx_errors += 1;
                        if let Some(m) = self.limits.recv.check(Instant::now()) {
                            warn!("receiving proto-41: {e}{}", more(m));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                _ = sleep_until(next_beat.into()) => {
                    self.beat();
                    if start_beats == START_BEATS - 1 {
                        self.send_probe().await;
                    }
                    if start_beats > 1 {
                        start_beats -= 1;
                        next_beat = Instant::now() + Duration::from_secs(1);
                    } else {
                        start_beats = 0;
                        next_beat = Instant::now() + self.p.beat_interval;
                        self.probe_if_silent().await;
                    }
                }
                _ = sleep_until(probe_deadline.into()), if self.probe.is_some() => {
                    self.probe_unanswered();
                }
            }
        }
        info!("stopped: {}", self.counters);
        Ok(())
    }

    /// One beat, from a new UDP socket (as AICCU: a new source port each
    /// time, and the source address the host has now).
    fn beat(&mut self) {
        let line = codec::build(self.local, Sender::Source, self.epoch(), self.p.password());
        let pop = SocketAddr::V4(self.p.pop);
        let sent = UdpSocket::bind(SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|s| s.connect(pop).map(|()| s))
            .and_then(|s| s.send(line.as_bytes()));
        match sent {
            Ok(_) => self.counters.tx_beats += 1,
            Err(e) => {
                self.counters.tx_errors += 1;
                if let Some(m) = self.limits.beat.check(Instant::now()) {
                    warn!("sending a beat to {pop}: {e}; still trying{}", more(m));
                }
            }
        }
    }

    async fn send_packet(&mut self, packet: &[u8]) {
        // Only IPv6 belongs in a 6in4 tunnel.
        if packet.first().is_none_or(|v| v >> 4 != 6) {
            return;
        }
        match self.raw.send(packet).await {
            Ok(()) => self.counters.tx_packets += 1,
            Err(e) => self.send_error(&e),
        }
    }

    fn send_error(&mut self, e: &std::io::Error) {
        self.counters.tx_errors += 1;
        if let Some(m) = self.limits.send.check(Instant::now()) {
            warn!(
                "sending proto-41 to the PoP {}: {e}; still trying{}",
                self.p.pop.ip(),
                more(m)
            );
        }
    }

    async fn send_probe(&mut self) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let pkt = probe::request(self.local, self.pop_inner, seq);
        match self.raw.send(&pkt).await {
            Ok(()) => self.counters.tx_probes += 1,
            Err(e) => self.send_error(&e),
        }
        self.probe = Some(Probe {
            seq,
            sent: Instant::now(),
        });
    }

    /// At a regular beat: nothing from the PoP for a whole interval (or
    /// ever) and no probe out: ask.
    async fn probe_if_silent(&mut self) {
        let silent = self
            .last_rx
            .is_none_or(|t| t.elapsed() >= self.p.beat_interval);
        if silent && self.probe.is_none() {
            self.send_probe().await;
        }
    }

    fn probe_unanswered(&mut self) {
        self.probe = None;
        if std::mem::replace(&mut self.answering, false) {
            self.limits.silent.reset();
        }
        if let Some(m) = self.limits.silent.check(Instant::now()) {
            let ours = self.epoch() as i64;
            warn!(
                "no answer from the PoP: an echo to {} through the tunnel got no reply within {} s. \
                 Check the password (the PoP ignores beats with a wrong MD5 and says nothing), \
                 our clock (now {}, epoch {}; the PoP refuses beats more than 120 s from its own), \
                 that UDP port {} and IP protocol 41 reach {} from here (a NAT must pass protocol 41 both ways){}",
                self.pop_inner,
                self.o.probe_timeout.as_secs(),
                utc(ours),
                ours,
                self.p.pop.port(),
                self.p.pop.ip(),
                more(m)
            );
        }
    }

    async fn received(&mut self, packet: &[u8]) {
        let now = Instant::now();
        let p = match raw::inner(packet, *self.p.pop.ip()) {
            Ok(p) => p,
            Err(why) => {
                match why {
                    NotInner::NotFromPop => self.counters.rx_not_from_pop += 1,
                    NotInner::Malformed => self.counters.rx_malformed += 1,
                }
                if let Some(m) = self.limits.stray.check(now) {
                    warn!(
                        "dropped a proto-41 packet ({}){}",
                        match why {
                            NotInner::NotFromPop => "not from the PoP",
                            NotInner::Malformed => "malformed",
                        },
                        more(m)
                    );
                }
                return;
            }
        };
        self.last_rx = Some(now);
        if let Some(seq) = probe::reply_seq(p, self.pop_inner, self.local) {
            self.probe_reply(seq, now);
            return;
        }
        match self.dev.send(p).await {
            Ok(_) => self.counters.rx_packets += 1,
            Err(e) => {
                self.counters.tun_errors += 1;
                if let Some(m) = self.limits.tun.check(now) {
                    warn!("writing to {}: {e}{}", self.o.tun_name, more(m));
                }
            }
        }
    }

    fn probe_reply(&mut self, seq: u16, now: Instant) {
        self.counters.rx_probe_replies += 1;
        let Some(pr) = self.probe.filter(|pr| pr.seq == seq) else {
            return;
        };
        self.probe = None;
        if !std::mem::replace(&mut self.answering, true) {
            self.limits.silent.reset();
            info!(
                "the PoP answers: tunnel up ({} → {} in {} ms)",
                self.local,
                self.pop_inner,
                now.duration_since(pr.sent).as_millis()
            );
        }
    }
}
