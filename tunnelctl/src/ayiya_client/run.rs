//! The client's loop: one task on a current-thread runtime, waiting on
//! the tun device, the UDP socket, the beat timer, the probe's deadline
//! and the signals. Nothing a peer sends and no send or receive error ends
//! it: only SIGTERM or SIGINT (or a failure to set up) does.

use std::{
    collections::BTreeMap,
    fmt,
    io::ErrorKind,
    net::{Ipv6Addr, SocketAddr},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use tokio::{
    net::UdpSocket,
    signal::unix::{signal, SignalKind},
    time::sleep_until,
};
use tracing::{info, warn};
use tun_rs::AsyncDevice;
use tunnel_common::ayiya::{epoch_skew, sign::unix_now, HEADER_LEN};

use super::{
    frames::{inbound, Framer, Inbound, Refused},
    limit::{more, utc, Every},
    params::{RunOptions, TunnelParams},
    probe, tun,
};

/// Beats sent at start, one a second (AICCU sends three), before the
/// regular interval takes over.
const START_BEATS: u32 = 3;
/// Room for any datagram (the tunnel MTU is at most 1428; a PoP may send
/// more than we asked for, and it is checked, not truncated).
const BUF: usize = 65_536;
/// An accepted datagram this many seconds off our clock gets a warning
/// (the window is ±120 s).
const DRIFT_WARN: u32 = 30;

/// What the client did, for the line it logs when it stops.
#[derive(Default, Debug)]
pub struct Counters {
    pub tx_packets: u64,
    pub tx_beats: u64,
    pub tx_probes: u64,
    pub tx_errors: u64,
    pub rx_packets: u64,
    pub rx_probe_replies: u64,
    /// Authentic datagrams the client does not act on.
    pub rx_other: u64,
    pub rx_errors: u64,
    /// Refused datagrams by class.
    pub refused: BTreeMap<&'static str, u64>,
    pub tun_errors: u64,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} packets, {} beats, {} probes ({} send errors); received {} packets, \
             {} probe replies, {} other ({} receive errors); tun write errors {}",
            self.tx_packets,
            self.tx_beats,
            self.tx_probes,
            self.tx_errors,
            self.rx_packets,
            self.rx_probe_replies,
            self.rx_other,
            self.rx_errors,
            self.tun_errors
        )?;
        for (class, n) in &self.refused {
            write!(f, "; refused {class} {n}")?;
        }
        Ok(())
    }
}

/// Runs the client until SIGTERM or SIGINT; returns its counters.
pub fn run(params: TunnelParams, opts: RunOptions) -> Result<Counters> {
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

/// One probe in flight.
#[derive(Clone, Copy)]
struct Probe {
    seq: u16,
    sent: Instant,
}

/// Log limiters, one per kind of line.
struct Limits {
    hash: Every,
    clock: Every,
    identity: Every,
    malformed: Every,
    other: Every,
    send: Every,
    recv: Every,
    tun: Every,
    silent: Every,
    drift: Every,
}

impl Limits {
    fn new() -> Self {
        let s = Duration::from_secs;
        Self {
            hash: Every::new(s(10)),
            clock: Every::new(s(10)),
            identity: Every::new(s(10)),
            malformed: Every::new(s(10)),
            other: Every::new(s(60)),
            send: Every::new(s(10)),
            recv: Every::new(s(10)),
            tun: Every::new(s(10)),
            silent: Every::new(s(300)),
            drift: Every::new(s(600)),
        }
    }
}

struct Client {
    p: TunnelParams,
    o: RunOptions,
    framer: Framer,
    local: Ipv6Addr,
    pop_inner: Ipv6Addr,
    sock: UdpSocket,
    /// The socket is connected to the PoP.
    connected: bool,
    dev: AsyncDevice,
    counters: Counters,
    limits: Limits,
    /// The last authentic datagram from the PoP.
    last_rx: Option<Instant>,
    probe: Option<Probe>,
    next_seq: u16,
    /// The last probe was answered.
    answering: bool,
    /// When the socket was last replaced.
    renewed: Option<Instant>,
}

impl Client {
    async fn start(p: TunnelParams, o: RunOptions) -> Result<Self> {
        let local = p.local();
        let pop_inner = p.pop_inner();
        let dev = tun::open(&o.tun_name, p.mtu, local, o.default_route).await?;
        // A connected socket (as AICCU's): only the PoP's address and port
        // get through, and ICMP errors about our datagrams come back as
        // errors on it.
        let sock = UdpSocket::bind(unspecified(p.pop))
            .await
            .context("UDP socket")?;
        // No route to the PoP yet (the uplink still coming up) is no
        // reason to stop: connecting is tried again (and logged) before
        // each send.
        let connected = sock.connect(p.pop).await.is_ok();
        info!(
            "tunnel {}: {} on {} (MTU {}), PoP {} at {} (from {}); beats every {} s{}",
            p.prefix,
            local,
            o.tun_name,
            p.mtu,
            pop_inner,
            p.pop,
            sock.local_addr()
                .map_or_else(|_| "?".into(), |a| a.to_string()),
            p.beat_interval.as_secs(),
            if o.default_route {
                "; default route ::/0 via the tunnel"
            } else {
                ""
            },
        );
        let framer = Framer::new(local, p.key, o.clock_offset);
        Ok(Self {
            p,
            o,
            framer,
            local,
            pop_inner,
            sock,
            connected,
            dev,
            counters: Counters::default(),
            limits: Limits::new(),
            last_rx: None,
            probe: None,
            next_seq: 1,
            answering: false,
            renewed: None,
        })
    }

    /// Our clock as the client uses it: Unix seconds plus the test-only
    /// offset (the same offset the sent epochs carry).
    fn now_epoch(&self) -> u32 {
        self.framer.epoch(unix_now())
    }

    async fn run(&mut self) -> Result<()> {
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        let mut tx = vec![0u8; HEADER_LEN + BUF];
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
                r = self.dev.recv(&mut tx[HEADER_LEN..]) => match r {
                    Ok(n) => self.send_packet(&mut tx, n).await,
                    Err(e) => {
                        self.counters.tun_errors += 1;
                        if let Some(m) = self.limits.tun.check(Instant::now()) {
                            warn!("reading {}: {e}{}", self.o.tun_name, more(m));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                r = self.sock.recv(&mut rx), if self.connected => match r {
                    Ok(n) => self.received(&rx[..n]).await,
                    Err(e) => self.recv_error(&e).await,
                },
                _ = sleep_until(next_beat.into()) => {
                    self.beat().await;
                    if start_beats == START_BEATS {
                        // At start, once the first beat is out: is the
                        // PoP there?
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

    /// Connects the socket if it is not yet; false (logged, limited) if
    /// that fails again.
    async fn ensure_connected(&mut self) -> bool {
        if !self.connected {
            match self.sock.connect(self.p.pop).await {
                Ok(()) => {
                    self.connected = true;
                    info!(
                        "connected to the PoP {} from {}",
                        self.p.pop,
                        self.sock
                            .local_addr()
                            .map_or_else(|_| "?".into(), |a| a.to_string())
                    );
                }
                Err(e) => {
                    self.counters.tx_errors += 1;
                    if let Some(m) = self.limits.send.check(Instant::now()) {
                        warn!(
                            "connecting to the PoP {}: {e}{}; still trying{}",
                            self.p.pop,
                            hint_for(&e),
                            more(m)
                        );
                    }
                }
            }
        }
        self.connected
    }

    async fn send_datagram(&mut self, d: &[u8]) -> bool {
        if !self.ensure_connected().await {
            return false;
        }
        match self.sock.send(d).await {
            Ok(_) => true,
            Err(e) => {
                self.counters.tx_errors += 1;
                if let Some(m) = self.limits.send.check(Instant::now()) {
                    warn!(
                        "sending to the PoP {}: {e}{}; still trying{}",
                        self.p.pop,
                        hint_for(&e),
                        more(m)
                    );
                }
                // A refusal is the PoP's side; anything else may be ours:
                // a connected socket keeps the source address it was
                // given, so after a renumbering it can never send again.
                if e.kind() != ErrorKind::ConnectionRefused {
                    self.renew_socket().await;
                }
                false
            }
        }
    }

    /// A fresh socket, connected at the next send (at most one a second):
    /// it picks the source address the host has now.
    async fn renew_socket(&mut self) {
        if self
            .renewed
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.renewed = Some(Instant::now());
        match UdpSocket::bind(unspecified(self.p.pop)).await {
            Ok(s) => {
                self.sock = s;
                self.connected = false;
            }
            Err(e) => warn!("a new UDP socket: {e}"),
        }
    }

    async fn beat(&mut self) {
        let b = self.framer.beat(unix_now());
        if self.send_datagram(&b).await {
            self.counters.tx_beats += 1;
        }
    }

    /// An IPv6 packet read from the tun device into `tx[44..44 + n]`.
    async fn send_packet(&mut self, tx: &mut [u8], n: usize) {
        let d = self.framer.forward(tx, n, unix_now());
        if self.send_datagram(d).await {
            self.counters.tx_packets += 1;
        }
    }

    async fn send_probe(&mut self) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let pkt = probe::request(self.local, self.pop_inner, seq);
        let mut buf = vec![0u8; HEADER_LEN + pkt.len()];
        buf[HEADER_LEN..].copy_from_slice(&pkt);
        let d = self
            .framer
            .forward(&mut buf, pkt.len(), unix_now())
            .to_vec();
        // Sent or not, it counts as in flight: a send error is itself no
        // answer.
        if self.send_datagram(&d).await {
            self.counters.tx_probes += 1;
        }
        self.probe = Some(Probe {
            seq,
            sent: Instant::now(),
        });
    }

    /// At a regular beat: nothing authentic from the PoP for a whole
    /// interval (or ever) and no probe out: ask.
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
        let was = std::mem::replace(&mut self.answering, false);
        if was {
            self.limits.silent.reset();
        }
        if let Some(m) = self.limits.silent.check(Instant::now()) {
            let ours = i64::from(unix_now()) + self.o.clock_offset;
            warn!(
                "no answer from the PoP: an echo to {} through the tunnel got no reply within {} s. \
                 Check the password (the PoP drops datagrams with a wrong signature and says nothing), \
                 our clock (now {}, epoch {}; the PoP refuses epochs more than 120 s from its own), \
                 and the PoP's address {} (UDP port {} reachable from here?){}",
                self.pop_inner,
                self.o.probe_timeout.as_secs(),
                utc(ours),
                ours,
                self.p.pop,
                self.p.pop.port(),
                more(m)
            );
        }
    }

    async fn received(&mut self, d: &[u8]) {
        let now = Instant::now();
        let now_epoch = self.now_epoch();
        let r = inbound(d, &self.p.key, &self.pop_inner, now_epoch);
        if r.is_ok() {
            self.drift(d, now_epoch, now);
        }
        match r {
            Ok(Inbound::Packet(p)) => {
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
            Ok(Inbound::Other {
                opcode,
                next_header,
            }) => {
                self.last_rx = Some(now);
                self.counters.rx_other += 1;
                if let Some(m) = self.limits.other.check(now) {
                    info!(
                        "the PoP sent an authentic datagram with opcode {opcode}, next header \
                         {next_header}: nothing a client forwards; counted{}",
                        more(m)
                    );
                }
            }
            Err(r) => {
                *self.counters.refused.entry(r.name()).or_default() += 1;
                self.refused(r, now_epoch, now);
            }
        }
    }

    /// Warns, before the window closes, when an accepted datagram's epoch
    /// is well off ours: at 120 s the two sides stop taking each other's
    /// datagrams.
    fn drift(&mut self, d: &[u8], now_epoch: u32, now: Instant) {
        let Some(epoch) = d.get(4..8) else { return };
        let skew = epoch_skew(
            now_epoch,
            u32::from_be_bytes([epoch[0], epoch[1], epoch[2], epoch[3]]),
        );
        if skew.unsigned_abs() < DRIFT_WARN {
            return;
        }
        if let Some(m) = self.limits.drift.check(now) {
            warn!(
                "the PoP's clock is {} s {} ours (ours: {}): still accepted, but at more than 120 s                  each side refuses the other's datagrams: fix the time (NTP) on whichever side is wrong{}",
                skew.unsigned_abs(),
                if skew > 0 { "ahead of" } else { "behind" },
                utc(i64::from(now_epoch)),
                more(m)
            );
        }
    }

    fn probe_reply(&mut self, seq: u16, now: Instant) {
        self.counters.rx_probe_replies += 1;
        let Some(pr) = self.probe.filter(|pr| pr.seq == seq) else {
            // A late answer to an earlier probe: the PoP is there all the
            // same.
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

    fn refused(&mut self, r: Refused, now_epoch: u32, now: Instant) {
        let pop = self.p.pop;
        match r {
            Refused::HashFail => {
                if let Some(m) = self.limits.hash.check(now) {
                    warn!(
                        "dropped a datagram from the PoP {pop}: signature mismatch (wrong password? \
                         the PoP signs with the tunnel's password, we with ours){}",
                        more(m)
                    );
                }
            }
            Refused::ClockOff { skew } => {
                if let Some(m) = self.limits.clock.check(now) {
                    let ours = i64::from(now_epoch);
                    warn!(
                        "dropped a datagram from the PoP {pop}: its clock is {} s {} ours (ours: {}), \
                         AYIYA allows 120 s: fix the time (NTP) on whichever side is wrong{}",
                        skew.unsigned_abs(),
                        if skew > 0 { "ahead of" } else { "behind" },
                        utc(ours),
                        more(m)
                    );
                }
            }
            Refused::WrongIdentity(id) => {
                if let Some(m) = self.limits.identity.check(now) {
                    warn!(
                        "dropped a datagram from {pop}: its identity {} is not the PoP's {} \
                         (wrong --prefix?){}",
                        Ipv6Addr::from(id),
                        self.pop_inner,
                        more(m)
                    );
                }
            }
            Refused::Malformed(e) => {
                if let Some(m) = self.limits.malformed.check(now) {
                    warn!("dropped a datagram from {pop}: {e}{}", more(m));
                }
            }
        }
    }

    async fn recv_error(&mut self, e: &std::io::Error) {
        self.counters.rx_errors += 1;
        if let Some(m) = self.limits.recv.check(Instant::now()) {
            warn!(
                "receiving from the PoP {}: {e}{}; still trying{}",
                self.p.pop,
                hint_for(e),
                more(m)
            );
        }
        // A refusal is reported once per ICMP error; anything else may
        // repeat at once: do not spin on it.
        if e.kind() != ErrorKind::ConnectionRefused {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The wildcard address of `pop`'s family, any port.
fn unspecified(pop: SocketAddr) -> SocketAddr {
    if pop.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    }
}

/// What an I/O error on the PoP's socket most likely means.
fn hint_for(e: &std::io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::ConnectionRefused => {
            " (ICMP port unreachable: nothing listens on the PoP's AYIYA port right now, \
             e.g. while it restarts)"
        }
        ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => {
            " (no route to the PoP from here)"
        }
        _ => "",
    }
}
