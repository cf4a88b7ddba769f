//! Packets lost across a daemon restart under load. The daemon runs on the
//! L2 bed (client ─ pop ─ upstream namespaces, `topology::Namespaces`);
//! the client sends a bounded, paced stream of 6in4 packets (a raw
//! proto-41 socket: 192.0.2.2 → 192.0.2.1, inner UDP 2001:db8:1::2 →
//! 2001:db8:ffff::2, a sequence number as payload) while the daemon is
//! stopped with SIGTERM and started again; a UDP socket in the upstream
//! namespace counts what arrives. Stopping leaves the pinned datapath
//! running and the new daemon swaps its program onto the pinned links, so
//! the goal is 0 lost. The L2 test does the same with 100 pings a second;
//! this is 200 times the rate, with the daemon's full table loaded.

use std::{
    net::{Ipv6Addr, SocketAddr, UdpSocket},
    os::fd::AsFd,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use etherparse::{IpNumber, Ipv6Header, UdpHeader};

use super::sys;
use crate::{
    daemon::Daemon,
    netns::Netns,
    packets::ipv6,
    topology::{Namespaces, CLIENT_V4, POP_V4, TUNNEL_PREFIX, UPSTREAM_V6},
};

/// Offered rate, packets per second.
pub const RATE: f64 = 20_000.0;
/// The stream lasts this long at least...
pub const MIN_STREAM: Duration = Duration::from_secs(3);
/// ...and goes on until this long after the restart ended (a slow start
/// still lies inside the stream)...
pub const AFTER_RESTART: Duration = Duration::from_millis(500);
/// ...but never past this: the count is bounded whatever happens.
pub const MAX_STREAM: Duration = Duration::from_secs(30);
/// The restart begins this far into the stream.
pub const RESTART_AT: Duration = Duration::from_millis(1000);
const PORT: u16 = 40_001;
const USER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);

#[derive(Clone, Debug)]
pub struct RestartResult {
    /// Tunnels the daemon held (its table, plus the one carrying traffic).
    pub tunnels: u64,
    pub sent: u64,
    /// Sends the client's kernel refused (not offered, so not lost).
    pub send_errors: u64,
    pub received: u64,
    /// Sequence numbers never received.
    pub lost: u64,
    /// Longest run of consecutive lost sequence numbers.
    pub longest_gap: u64,
    /// Decapsulated by the PoP for the traffic tunnel (its rx counter).
    pub decapsulated: u64,
    pub stream: Duration,
    /// When the SIGTERM went out, how long the old daemon took to exit,
    /// and how long the new one took to answer its API.
    pub restart_at: Duration,
    pub stop: Duration,
    pub start: Duration,
    pub reused_pins: bool,
}

/// IPv6/UDP from the tunnel's user to the upstream host, payload `seq`.
fn packet(seq: u64) -> Vec<u8> {
    let dst: Ipv6Addr = UPSTREAM_V6.parse().expect("address");
    let payload = seq.to_be_bytes();
    let h = Ipv6Header {
        payload_length: (8 + payload.len()) as u16,
        next_header: IpNumber::UDP,
        hop_limit: 64,
        source: USER_V6.octets(),
        destination: dst.octets(),
        ..Default::default()
    };
    let udp = UdpHeader::with_ipv6_checksum(PORT, PORT, &h, &payload).expect("small UDP");
    let mut l4 = udp.to_bytes().to_vec();
    l4.extend_from_slice(&payload);
    ipv6(USER_V6, dst, 64, IpNumber::UDP, &l4)
}

/// Sets a flag when dropped, so threads end on every path out.
struct StopOnDrop(Arc<AtomicBool>);
impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn join<T>(h: JoinHandle<Result<T>>) -> Result<T> {
    h.join().map_err(|_| anyhow!("thread panicked"))?
}

/// Counts the sequence numbers that arrive at upstream:PORT until `stop`.
fn receiver(ns: &Netns, cap: u64, stop: Arc<AtomicBool>) -> Result<JoinHandle<Result<Vec<bool>>>> {
    let sock = {
        let _in = ns.enter()?;
        let a: Ipv6Addr = UPSTREAM_V6.parse()?;
        UdpSocket::bind(SocketAddr::from((a, PORT))).context("binding the receiver")?
    };
    sys::set_rcvbuf(sock.as_fd(), 16 << 20)?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    Ok(std::thread::spawn(move || {
        let mut seen = vec![false; cap as usize];
        let mut buf = [0u8; 64];
        loop {
            match sock.recv(&mut buf) {
                Ok(8) => {
                    let seq = u64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
                    if let Some(s) = seen.get_mut(seq as usize) {
                        *s = true;
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(seen);
                    }
                }
                Err(e) => return Err(e).context("receiving"),
            }
        }
    }))
}

/// What a sender sent, and the sequence numbers it could not send.
type Sent = (u64, Vec<u64>);

/// Sends sequence numbers from `first` at RATE, in bursts of what is due,
/// until `stop` or `cap`; returns how many went out and the sequence
/// numbers the client's own kernel refused (never offered, so not lost).
fn sender(
    ns: &Netns,
    first: u64,
    cap: u64,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<Result<Sent>>> {
    let sock = {
        let _in = ns.enter()?;
        sys::raw_6in4_socket(CLIENT_V4, POP_V4)?
    };
    Ok(std::thread::spawn(move || {
        let t0 = Instant::now();
        let (mut seq, mut sent, mut refused) = (first, 0u64, Vec::new());
        while seq < cap && !stop.load(Ordering::Relaxed) {
            let due = first + (t0.elapsed().as_secs_f64() * RATE) as u64;
            while seq < due.min(cap) {
                match sys::send(sock.as_fd(), &packet(seq)) {
                    Ok(_) => sent += 1,
                    Err(_) => refused.push(seq),
                }
                seq += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        Ok((sent, refused))
    }))
}

fn tunnel_rx(d: &Daemon, id: u32) -> Result<u64> {
    let v: serde_json::Value =
        serde_json::from_str(&d.ok(&["tunnel", "show", &id.to_string(), "--json"])?)?;
    v["stats"]["rx_packets"]
        .as_u64()
        .context("tunnel show: stats.rx_packets")
}

/// Adds the traffic tunnel `id` (192.0.2.1 ↔ 192.0.2.2, 2001:db8:1::/64),
/// checks the path with a short burst, then streams while restarting.
pub fn run(ns: &Namespaces, d: &mut Daemon, id: u32) -> Result<RestartResult> {
    let id_s = id.to_string();
    d.ok(&[
        "tunnel",
        "add",
        &id_s,
        "--local",
        &POP_V4.to_string(),
        "--remote",
        &CLIENT_V4.to_string(),
        "--prefix",
        TUNNEL_PREFIX,
    ])?;
    let cap = (RATE * MAX_STREAM.as_secs_f64()) as u64;
    // Sequence numbers 0..PRECHECK: the path works before the restart.
    const PRECHECK: u64 = 200;
    let stop_rx = Arc::new(AtomicBool::new(false));
    let _stop_rx = StopOnDrop(stop_rx.clone());
    let rx = receiver(&ns.upstream, PRECHECK + cap, stop_rx.clone())?;
    {
        let stop = Arc::new(AtomicBool::new(false));
        let pre = sender(&ns.client, 0, PRECHECK, stop)?;
        join(pre)?;
    }
    std::thread::sleep(Duration::from_millis(200));
    let rx0 = tunnel_rx(d, id)?;

    let stop_tx = Arc::new(AtomicBool::new(false));
    let _stop_tx = StopOnDrop(stop_tx.clone());
    let t0 = Instant::now();
    let tx = sender(&ns.client, PRECHECK, PRECHECK + cap, stop_tx.clone())?;
    std::thread::sleep(RESTART_AT);
    let restart_at = t0.elapsed();
    d.stop()?;
    let stop = t0.elapsed() - restart_at;
    d.start()?;
    let start = t0.elapsed() - restart_at - stop;
    let end = MIN_STREAM.max(t0.elapsed() + AFTER_RESTART);
    if let Some(rest) = end.checked_sub(t0.elapsed()) {
        std::thread::sleep(rest);
    }
    stop_tx.store(true, Ordering::Relaxed);
    let (sent, refused) = join(tx)?;
    let stream = t0.elapsed();
    // What is in flight arrives well within this.
    std::thread::sleep(Duration::from_millis(500));
    stop_rx.store(true, Ordering::Relaxed);
    let seen = join(rx)?;

    let pre_seen = seen[..PRECHECK as usize].iter().filter(|s| **s).count() as u64;
    if pre_seen != PRECHECK {
        bail!("the bed loses packets without a restart: {pre_seen} of {PRECHECK} arrived");
    }
    let mut seen = seen;
    for &r in &refused {
        // Not offered: counts as neither received nor lost.
        seen[r as usize] = true;
    }
    let offered = sent + refused.len() as u64;
    let window = &seen[PRECHECK as usize..(PRECHECK + offered) as usize];
    let received = window.iter().filter(|s| **s).count() as u64 - refused.len() as u64;
    let longest_gap = window
        .split(|s| *s)
        .map(|run| run.len() as u64)
        .max()
        .unwrap_or(0);
    let status: serde_json::Value = serde_json::from_str(&d.ok(&["status", "--json"])?)?;
    let decapsulated = tunnel_rx(d, id)? - rx0;
    Ok(RestartResult {
        tunnels: status["tunnels"].as_u64().unwrap_or(0),
        sent,
        send_errors: refused.len() as u64,
        received,
        lost: sent - received,
        longest_gap,
        decapsulated,
        stream,
        restart_at,
        stop,
        start,
        reused_pins: status["reused_pins"] == serde_json::Value::Bool(true),
    })
}
