//! The NAT64 slow path: what the XDP translator cannot send as one frame.
//! A non-DF IPv4 packet too big for its user's tunnel is translated there
//! as an IPv6 fragment and handed over through the `SLOWPATH` rings
//! (`tunnel_common::slowpath`); here it is cut into fragments that fit the
//! tunnel (RFC 7915 §4) and each is sent on a raw IPv6 socket, header
//! included, as the latency pinger sends: the kernel routes it to the
//! tunnel device, whose `tunnel_tc` encapsulates it into the tunnel. A
//! non-DF packet bigger than the IPv6 minimum MTU toward an IPv6 host on
//! the uplink (`slowpath::NO_TUNNEL`) is cut to 1280 bytes the same way
//! and the kernel routes the pieces out of the uplink.
//!
//! One reader task per CPU ring. What a ring cannot take is counted by the
//! data path (`nat64_slow_path_lost`) and reported here as `lost`: the
//! rings' size bounds the work handed over.

pub mod counters;
pub mod fragment;
pub mod icmp;
pub mod reassembly;

use std::{
    net::{Ipv6Addr, SocketAddrV6},
    sync::Arc,
    time::Instant,
};

use socket2::{SockAddr, Socket};
use tokio::io::unix::AsyncFd;
use tracing::{info, warn};
use tunnel_common::slowpath::{SlowMeta, REASON_TOO_BIG};

pub use self::counters::{Counters, Outcome};
use crate::datapath::slowpath::{drain, Ring};

/// Pages of each CPU's ring (a power of two): 256 KiB with 4 KiB pages,
/// some 170 packets of 1,500 bytes waiting per CPU.
pub const RING_PAGES: usize = 64;

/// Reads every ring until the daemon stops. `sock` is `None` without a
/// tunnel device: packets are read and counted (`no_device`), not sent.
pub fn spawn(rings: Vec<Ring>, counters: Arc<Counters>, sock: Option<Socket>) {
    let sock = sock.map(Arc::new);
    info!(
        rings = rings.len(),
        sending = sock.is_some(),
        "nat64 slow path reading"
    );
    for ring in rings {
        let (counters, sock) = (counters.clone(), sock.clone());
        tokio::spawn(async move {
            if let Err(e) = read(ring, &counters, sock.as_deref()).await {
                warn!("nat64 slow path: a ring's reader stopped: {e:#}");
            }
        });
    }
}

/// The ring under tokio's reactor: readable when the kernel has woken
/// the ring (one wake-up per sample, as aya opens it).
#[allow(unsafe_code)] // one registration, its SAFETY note below
fn watch(ring: Ring) -> std::io::Result<AsyncFd<Ring>> {
    // SAFETY: the ring owns its perf event fd and is moved into the
    // `AsyncFd`, which deregisters the fd before it drops the ring (and so
    // closes it); nothing else closes or replaces that fd meanwhile.
    unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
        .map_err(std::io::Error::from)
}

async fn read(ring: Ring, c: &Counters, sock: Option<&Socket>) -> anyhow::Result<()> {
    let mut fd = watch(ring)?;
    loop {
        let mut guard = fd.readable_mut().await?;
        let got = drain(guard.get_inner_mut());
        guard.clear_ready();
        drop(guard);
        if got.lost > 0 {
            c.add(Outcome::Lost, got.lost);
            if c.may_log(Outcome::Lost, Instant::now()) {
                warn!(
                    lost = got.lost,
                    "nat64 slow path: a ring was full, packets lost"
                );
            }
        }
        for s in &got.samples {
            handle(s, c, sock);
        }
    }
}

/// One sample: parsed, cut to the tunnel's MTU, sent.
fn handle(sample: &[u8], c: &Counters, sock: Option<&Socket>) {
    c.add(Outcome::Received, 1);
    let now = Instant::now();
    let Some((meta, packet)) = SlowMeta::parse(sample).filter(|(m, _)| m.reason == REASON_TOO_BIG)
    else {
        c.add(Outcome::Malformed, 1);
        if c.may_log(Outcome::Malformed, now) {
            warn!(
                len = sample.len(),
                "nat64 slow path: a sample that is no known hand-over"
            );
        }
        return;
    };
    let Some(sock) = sock else {
        c.add(Outcome::NoDevice, 1);
        if c.may_log(Outcome::NoDevice, now) {
            warn!("nat64 slow path: no local_device (its raw socket goes with it); non-DF packets to fragment are not sent");
        }
        return;
    };
    let pieces = match fragment::fragment(packet, meta.mtu as usize) {
        Ok(p) => p,
        Err(e) => {
            c.add(Outcome::Malformed, 1);
            if c.may_log(Outcome::Malformed, now) {
                warn!(tunnel = meta.tunnel, "nat64 slow path: not cut: {e}");
            }
            return;
        }
    };
    if pieces.len() > 1 {
        c.add(Outcome::Fragmented, 1);
    }
    // The fragmenter checked the IPv6 header is there.
    let dst: [u8; 16] = packet[24..40].try_into().unwrap_or([0; 16]);
    let to = SockAddr::from(SocketAddrV6::new(Ipv6Addr::from(dst), 0, 0, 0));
    for p in pieces {
        match sock.send_to(&p, &to) {
            Ok(_) => c.add(Outcome::Sent, 1),
            Err(e) => {
                c.add(Outcome::SendFailed, 1);
                if c.may_log(Outcome::SendFailed, now) {
                    warn!(
                        tunnel = meta.tunnel,
                        "nat64 slow path: sending a fragment: {e}"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample as the data path writes it: the meta in native order,
    /// the packet (an IPv6 header and a Fragment header, 16 bytes of
    /// data), then padding.
    fn sample(reason: u32) -> Vec<u8> {
        let mut packet = vec![0x60, 0, 0, 0, 0, 24, 44, 63];
        packet.extend_from_slice(&[0x20; 32]);
        packet.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 1]);
        packet.extend_from_slice(&[0xab; 16]);
        let meta = [reason, 1, 1280, packet.len() as u32];
        let mut s: Vec<u8> = meta.iter().flat_map(|w| w.to_ne_bytes()).collect();
        s.extend_from_slice(&packet);
        s.extend_from_slice(&[0; 4]);
        s
    }

    fn counts(c: &Counters) -> Vec<(&'static str, u64)> {
        Outcome::ALL
            .iter()
            .map(|o| (o.name(), c.get(*o)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    #[test]
    fn without_a_device_packets_are_counted_not_sent() {
        let c = Counters::default();
        handle(&sample(REASON_TOO_BIG), &c, None);
        assert_eq!(counts(&c), [("received", 1), ("no_device", 1)]);
    }

    #[test]
    fn unknown_reasons_and_short_samples_are_malformed() {
        let c = Counters::default();
        handle(&sample(99), &c, None);
        handle(&sample(REASON_TOO_BIG)[..20], &c, None);
        assert_eq!(counts(&c), [("received", 2), ("malformed", 2)]);
    }
}
