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
//! Fragments of ICMP messages (RFC 7915 §4.2, §5.2: the ICMPv6 checksum
//! covers the whole message) come translated but for their ICMP header:
//! they are put back together here (`reassembly`, a bounded table shared
//! by the rings' readers), the message checked and translated (`icmp`),
//! then sent as fragments again: IPv6 ones cut to the meta's MTU as above,
//! IPv4 ones no bigger than the largest fragment received, on a raw IPv4
//! socket with the header included (the kernel does not fragment those),
//! routed by the kernel.
//!
//! One reader task per CPU ring. What a ring cannot take is counted by the
//! data path (`nat64_slow_path_lost`) and reported here as `lost`: the
//! rings' size bounds the work handed over.

pub mod counters;
pub mod fragment;
pub mod icmp;
pub mod reassembly;
#[cfg(test)]
mod test_packets;

use std::{
    fmt::Display,
    net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tracing::{info, warn};
use tunnel_common::slowpath::{
    SlowMeta, REASON_ICMP6_FRAGMENT, REASON_ICMP_FRAGMENT, REASON_TOO_BIG,
};

pub use self::counters::{Counters, Outcome};
use self::reassembly::{Added, Fragment, Key, Refused, Table};
use crate::datapath::slowpath::{drain, Ring};

/// Pages of each CPU's ring (a power of two): 256 KiB with 4 KiB pages,
/// some 170 packets of 1,500 bytes waiting per CPU.
pub const RING_PAGES: usize = 64;

/// How often messages waiting too long are swept from the reassembly
/// table when no fragment comes to sweep them.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A raw IPv4 socket that sends whole datagrams (IPPROTO_RAW implies
/// IP_HDRINCL, raw(7)): the source is an IPv6 host's IPv4 mapping, which
/// the host does not have, and the kernel does not fragment what it
/// sends. Non-blocking, as the IPv6 one.
pub fn raw_socket_v4() -> Result<Socket> {
    let s = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(libc::IPPROTO_RAW)),
    )
    .context("opening a raw IPv4 socket (IPPROTO_RAW)")?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// The slow path's state, shared by the rings' readers.
pub struct Slow {
    pub counters: Arc<Counters>,
    /// IPv6 out (`None` without a tunnel device: counted, not sent).
    pub v6: Option<Socket>,
    /// IPv4 out (`None` if it could not be opened).
    pub v4: Option<Socket>,
    pub table: Mutex<Table>,
}

impl Slow {
    pub fn new(counters: Arc<Counters>, v6: Option<Socket>, v4: Option<Socket>) -> Self {
        Slow {
            counters,
            v6,
            v4,
            table: Mutex::new(Table::default()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads every ring until the daemon stops.
pub fn spawn(rings: Vec<Ring>, slow: Slow) {
    let slow = Arc::new(slow);
    info!(
        rings = rings.len(),
        sending_v6 = slow.v6.is_some(),
        sending_v4 = slow.v4.is_some(),
        "nat64 slow path reading"
    );
    for ring in rings {
        let slow = slow.clone();
        tokio::spawn(async move {
            if let Err(e) = read(ring, &slow).await {
                warn!("nat64 slow path: a ring's reader stopped: {e:#}");
            }
        });
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tick.tick().await;
            let n = slow.table().expire(Instant::now());
            slow.counters.add(Outcome::FragmentExpired, n);
        }
    });
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

async fn read(ring: Ring, slow: &Slow) -> anyhow::Result<()> {
    let c = &slow.counters;
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
            handle(s, slow, Instant::now());
        }
    }
}

/// What one sample leaves to send: IPv6 packets or IPv4 ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    V6(Vec<Vec<u8>>),
    V4(Vec<Vec<u8>>),
}

/// Counts `o` and logs `what` about it (at most a line per outcome and
/// 10 s).
fn refuse(c: &Counters, o: Outcome, now: Instant, tunnel: u32, what: impl Display) {
    c.add(o, 1);
    if c.may_log(o, now) {
        warn!(tunnel, result = o.name(), "nat64 slow path: {what}");
    }
}

/// One sample: parsed, cut (or put back together and translated), sent.
fn handle(sample: &[u8], slow: &Slow, now: Instant) {
    let c = &slow.counters;
    let Some((tunnel, out)) = process(sample, c, &slow.table, now) else {
        return;
    };
    let (sock, packets, v6) = match out {
        Out::V6(p) => (slow.v6.as_ref(), p, true),
        Out::V4(p) => (slow.v4.as_ref(), p, false),
    };
    let Some(sock) = sock else {
        c.add(Outcome::NoDevice, 1);
        if c.may_log(Outcome::NoDevice, now) {
            warn!("nat64 slow path: no local_device (its raw socket goes with it) or no raw IPv4 socket; packets to send are not sent");
        }
        return;
    };
    for p in packets {
        match sock.send_to(&p, &destination(&p, v6)) {
            Ok(_) => c.add(Outcome::Sent, 1),
            Err(e) => refuse(
                c,
                Outcome::SendFailed,
                now,
                tunnel,
                format_args!("sending a fragment: {e}"),
            ),
        }
    }
}

/// Where a packet goes: its IP header's destination (the fragmenter and
/// the translation wrote the header, so it is there).
fn destination(p: &[u8], v6: bool) -> SockAddr {
    if v6 {
        let dst: [u8; 16] = p
            .get(24..40)
            .and_then(|d| d.try_into().ok())
            .unwrap_or([0; 16]);
        SockAddr::from(SocketAddrV6::new(Ipv6Addr::from(dst), 0, 0, 0))
    } else {
        let dst: [u8; 4] = p
            .get(16..20)
            .and_then(|d| d.try_into().ok())
            .unwrap_or([0; 4]);
        SockAddr::from(SocketAddrV4::new(Ipv4Addr::from(dst), 0))
    }
}

/// The packets one sample makes, with its tunnel; `None` when it makes
/// none (each such outcome counted).
pub fn process(
    sample: &[u8],
    c: &Counters,
    table: &Mutex<Table>,
    now: Instant,
) -> Option<(u32, Out)> {
    c.add(Outcome::Received, 1);
    let Some((meta, packet)) = SlowMeta::parse(sample) else {
        refuse(
            c,
            Outcome::Malformed,
            now,
            0,
            format_args!("a sample of {} bytes shorter than its meta", sample.len()),
        );
        return None;
    };
    let tunnel = meta.tunnel;
    let out = match meta.reason {
        REASON_TOO_BIG => cut_v6(packet, &meta, c, now)?,
        REASON_ICMP_FRAGMENT | REASON_ICMP6_FRAGMENT => {
            let v6 = meta.reason == REASON_ICMP_FRAGMENT;
            let parsed = if v6 {
                parse_v6_fragment(packet)
            } else {
                parse_v4_fragment(packet)
            };
            let Some(f) = parsed else {
                refuse(
                    c,
                    Outcome::Malformed,
                    now,
                    tunnel,
                    "a fragment of ICMP not as the data path makes them",
                );
                return None;
            };
            let added = {
                let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
                c.add(Outcome::FragmentExpired, t.expire(now));
                t.add(f, now)
            };
            let msg = match added {
                Ok(Added::Pending) => return None,
                Ok(Added::Complete(m)) => m,
                Err(r) => {
                    let o = match r {
                        Refused::Duplicate => Outcome::FragmentDuplicate,
                        Refused::Overlap => Outcome::FragmentOverlap,
                        Refused::TooBig => Outcome::FragmentTooBig,
                        Refused::TableFull => Outcome::FragmentTableFull,
                        Refused::Malformed => Outcome::Malformed,
                    };
                    refuse(c, o, now, tunnel, format_args!("a fragment of ICMP: {r:?}"));
                    return None;
                }
            };
            c.add(Outcome::Reassembled, 1);
            let translated = match f.key {
                Key::V6 { id, .. } => icmp::to_icmpv6(&msg.header, id, &msg.data),
                Key::V4 { .. } => icmp::to_icmpv4(&msg.header, meta.addr_sum, &msg.data),
            };
            let p = match translated {
                Ok(p) => p,
                Err(b) => {
                    let o = match b {
                        icmp::Bad::Checksum => Outcome::IcmpBadChecksum,
                        icmp::Bad::NotEcho => Outcome::IcmpNotEcho,
                        icmp::Bad::Malformed => Outcome::Malformed,
                    };
                    refuse(
                        c,
                        o,
                        now,
                        tunnel,
                        format_args!("an ICMP message put back together: {b:?}"),
                    );
                    return None;
                }
            };
            if v6 {
                cut_v6(&p, &meta, c, now)?
            } else {
                let pieces = fragment::fragment_v4(&p, msg.largest);
                if pieces.len() > 1 {
                    c.add(Outcome::Fragmented, 1);
                }
                Out::V4(pieces)
            }
        }
        r => {
            refuse(
                c,
                Outcome::Malformed,
                now,
                tunnel,
                format_args!("a sample of an unknown reason {r}"),
            );
            return None;
        }
    };
    Some((tunnel, out))
}

/// An IPv6 packet with a Fragment header cut to the meta's MTU.
fn cut_v6(packet: &[u8], meta: &SlowMeta, c: &Counters, now: Instant) -> Option<Out> {
    match fragment::fragment(packet, meta.mtu as usize) {
        Ok(p) => {
            if p.len() > 1 {
                c.add(Outcome::Fragmented, 1);
            }
            Some(Out::V6(p))
        }
        Err(e) => {
            refuse(
                c,
                Outcome::Malformed,
                now,
                meta.tunnel,
                format_args!("not cut: {e}"),
            );
            None
        }
    }
}

/// A translated IPv6 fragment of ICMPv6 (`REASON_ICMP_FRAGMENT`): the
/// IPv6 header, a Fragment header for 58, the data.
fn parse_v6_fragment(p: &[u8]) -> Option<Fragment<'_>> {
    if p.len() < 48 || p[0] >> 4 != 6 || p[6] != 44 || p[40] != 58 {
        return None;
    }
    if 40 + u16::from_be_bytes([p[4], p[5]]) as usize != p.len() {
        return None;
    }
    let word = u16::from_be_bytes([p[42], p[43]]);
    Some(Fragment {
        key: Key::V6 {
            src: p[8..24].try_into().ok()?,
            dst: p[24..40].try_into().ok()?,
            id: u32::from_be_bytes(p[44..48].try_into().ok()?),
        },
        header: &p[..40],
        offset: (word & !7) as usize,
        more: word & 1 != 0,
        data: &p[48..],
        len: p.len(),
    })
}

/// A translated IPv4 fragment of ICMP (`REASON_ICMP6_FRAGMENT`): a
/// 20-byte header for protocol 1, the data.
fn parse_v4_fragment(p: &[u8]) -> Option<Fragment<'_>> {
    if p.len() < 20 || p[0] != 0x45 || p[9] != 1 {
        return None;
    }
    if u16::from_be_bytes([p[2], p[3]]) as usize != p.len() {
        return None;
    }
    let word = u16::from_be_bytes([p[6], p[7]]);
    Some(Fragment {
        key: Key::V4 {
            src: p[12..16].try_into().ok()?,
            dst: p[16..20].try_into().ok()?,
            id: u16::from_be_bytes([p[4], p[5]]),
            proto: p[9],
        },
        header: &p[..20],
        offset: (word & 0x1fff) as usize * 8,
        more: word & 0x2000 != 0,
        data: &p[20..],
        len: p.len(),
    })
}

#[cfg(test)]
mod tests {
    use etherparse::{IcmpEchoHeader, Icmpv4Type, Icmpv6Type, IpNumber, Ipv4Header, PacketBuilder};

    use super::test_packets::*;
    use super::*;

    /// A sample as the data path writes it: the meta in native order
    /// (`addr_sum` last), the packet, then padding.
    fn sample_of(reason: u32, mtu: u32, addr_sum: u64, packet: &[u8]) -> Vec<u8> {
        let meta = [reason, 1, mtu, packet.len() as u32];
        let mut s: Vec<u8> = meta.iter().flat_map(|w| w.to_ne_bytes()).collect();
        s.extend_from_slice(&addr_sum.to_ne_bytes());
        s.extend_from_slice(packet);
        s.extend_from_slice(&[0; 4]);
        s
    }

    /// A `REASON_TOO_BIG`-shaped sample: an IPv6 header and a Fragment
    /// header, 16 bytes of data.
    fn sample(reason: u32) -> Vec<u8> {
        let mut packet = vec![0x60, 0, 0, 0, 0, 24, 44, 63];
        packet.extend_from_slice(&[0x20; 32]);
        packet.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 1]);
        packet.extend_from_slice(&[0xab; 16]);
        sample_of(reason, 1280, 0, &packet)
    }

    fn counts(c: &Counters) -> Vec<(&'static str, u64)> {
        Outcome::ALL
            .iter()
            .map(|o| (o.name(), c.get(*o)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    fn slow(v6: Option<Socket>) -> Slow {
        Slow::new(Arc::default(), v6, None)
    }

    #[test]
    fn without_a_device_packets_are_counted_not_sent() {
        let s = slow(None);
        handle(&sample(REASON_TOO_BIG), &s, Instant::now());
        assert_eq!(counts(&s.counters), [("received", 1), ("no_device", 1)]);
    }

    #[test]
    fn unknown_reasons_and_short_samples_are_malformed() {
        let s = slow(None);
        handle(&sample(99), &s, Instant::now());
        handle(&sample(REASON_TOO_BIG)[..20], &s, Instant::now());
        assert_eq!(counts(&s.counters), [("received", 2), ("malformed", 2)]);
    }

    const ECHO: IcmpEchoHeader = IcmpEchoHeader { id: 0x4242, seq: 1 };

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + 7) as u8).collect()
    }

    /// An IPv6 fragment host → user (hop limit 63: the data path
    /// decremented it) of protocol 58, identification 0x1234: the
    /// header as RFC 8200 §4.5 draws it, in literal bytes.
    fn frag6(offset: usize, more: bool, d: &[u8]) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&((8 + d.len()) as u16).to_be_bytes());
        v.extend_from_slice(&[44, 63]);
        v.extend_from_slice(&HOST6);
        v.extend_from_slice(&USER6);
        let word = (offset as u16) | more as u16;
        v.extend_from_slice(&[58, 0]);
        v.extend_from_slice(&word.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0x12, 0x34]);
        v.extend_from_slice(d);
        v
    }

    /// An IPv4 fragment user → host of protocol ICMP, id 0x1234, TTL 63,
    /// DF clear, as etherparse makes it.
    fn frag4(offset: usize, more: bool, d: &[u8]) -> Vec<u8> {
        let mut h = Ipv4Header::new(d.len() as u16, 63, IpNumber::ICMP, USER4, HOST4).unwrap();
        h.identification = 0x1234;
        h.dont_fragment = false;
        h.more_fragments = more;
        h.fragment_offset = etherparse::IpFragOffset::try_new((offset / 8) as u16).unwrap();
        h.header_checksum = h.calc_header_checksum();
        [h.to_bytes().as_slice(), d].concat()
    }

    /// The sum of the 16-bit words of both IPv6 addresses.
    fn addr_sum(a: &[u8; 16], b: &[u8; 16]) -> u64 {
        a.chunks(2)
            .chain(b.chunks(2))
            .map(|c| u16::from_be_bytes([c[0], c[1]]) as u64)
            .sum()
    }

    /// `msg` cut as a sender with `step` bytes of data per fragment does:
    /// (offset, more, bytes).
    fn cuts(msg: &[u8], step: usize) -> Vec<(usize, bool, Vec<u8>)> {
        msg.chunks(step)
            .enumerate()
            .map(|(i, c)| (i * step, (i + 1) * step < msg.len(), c.to_vec()))
            .collect()
    }

    /// The table: each row a run of samples (seconds after the first,
    /// sample), what the last one makes, and every counter at the end.
    #[test]
    fn icmp_fragments_put_back_together_and_translated() {
        let d = data(3000);
        // 4→6: an echo request of 3,008 bytes in the IPv4 sender's
        // fragments of 1,480; sent as IPv6 fragments of a 1,280 MTU.
        let req4 = icmp4(Icmpv4Type::EchoRequest(ECHO), &d);
        let in6: Vec<Vec<u8>> = cuts(&req4, 1480)
            .into_iter()
            .map(|(o, m, b)| sample_of(REASON_ICMP_FRAGMENT, 1280, 0, &frag6(o, m, &b)))
            .collect();
        let req6 = icmp6(HOST6, USER6, Icmpv6Type::EchoRequest(ECHO), &d);
        let out6 = Out::V6(
            cuts(&req6, 1232)
                .into_iter()
                .map(|(o, m, b)| frag6(o, m, &b))
                .collect(),
        );
        let mut bad4 = req4.clone();
        bad4[2000] ^= 0xff;
        let bad6: Vec<Vec<u8>> = cuts(&bad4, 1480)
            .into_iter()
            .map(|(o, m, b)| sample_of(REASON_ICMP_FRAGMENT, 1280, 0, &frag6(o, m, &b)))
            .collect();
        let other4 = icmp4(
            Icmpv4Type::Unknown {
                type_u8: 13,
                code_u8: 0,
                bytes5to8: [0; 4],
            },
            &d,
        );
        let other6: Vec<Vec<u8>> = cuts(&other4, 1480)
            .into_iter()
            .map(|(o, m, b)| sample_of(REASON_ICMP_FRAGMENT, 1280, 0, &frag6(o, m, &b)))
            .collect();
        // 6→4: an echo reply of 3,008 bytes in the IPv6 sender's
        // fragments of 1,232 (its 1,280 MTU), translated to IPv4
        // fragments of 1,252 bytes; sent as IPv4 fragments of 1,252.
        let sum = addr_sum(&USER6, &HOST6);
        let rep6 = icmp6(USER6, HOST6, Icmpv6Type::EchoReply(ECHO), &d);
        let in4 = |sum: u64, msg: &[u8]| -> Vec<Vec<u8>> {
            cuts(msg, 1232)
                .into_iter()
                .map(|(o, m, b)| sample_of(REASON_ICMP6_FRAGMENT, 0, sum, &frag4(o, m, &b)))
                .collect()
        };
        let rep4 = {
            let mut v = Vec::new();
            PacketBuilder::ipv4(USER4, HOST4, 63)
                .icmpv4(Icmpv4Type::EchoReply(ECHO))
                .write(&mut v, &d)
                .unwrap();
            v[20..].to_vec()
        };
        let out4 = Out::V4(
            cuts(&rep4, 1232)
                .into_iter()
                .map(|(o, m, b)| frag4(o, m, &b))
                .collect(),
        );
        let solicit = icmp6(
            USER6,
            HOST6,
            Icmpv6Type::Unknown {
                type_u8: 135,
                code_u8: 0,
                bytes5to8: [0; 4],
            },
            &d,
        );
        let at0 =
            |v: &[Vec<u8>]| -> Vec<(u64, Vec<u8>)> { v.iter().map(|s| (0, s.clone())).collect() };
        let pick = |v: &[Vec<u8>], order: &[usize]| -> Vec<(u64, Vec<u8>)> {
            order.iter().map(|&i| (0, v[i].clone())).collect()
        };
        // A fragment overlapping the first's last 8 bytes.
        let overlap = sample_of(
            REASON_ICMP_FRAGMENT,
            1280,
            0,
            &frag6(1472, true, &req4[1472..2952]),
        );
        // 1,600 bytes at 64,000: past 65,515.
        let too_big = sample_of(
            REASON_ICMP_FRAGMENT,
            1280,
            0,
            &frag6(64_000, false, &d[..1600]),
        );
        // 64 messages' first fragments, then a 65th message's.
        let full: Vec<(u64, Vec<u8>)> = (0..=MAX_FLIGHT)
            .map(|i| {
                let mut p = frag6(0, true, &req4[..16]);
                p[44..48].copy_from_slice(&(i as u32).to_be_bytes());
                (0, sample_of(REASON_ICMP_FRAGMENT, 1280, 0, &p))
            })
            .collect();
        let not_a_fragment = {
            let mut p = frag6(0, true, &req4[..16]);
            p[40] = 17;
            sample_of(REASON_ICMP_FRAGMENT, 1280, 0, &p)
        };
        type Row = (
            &'static str,
            Vec<(u64, Vec<u8>)>,
            Option<Out>,
            Vec<(&'static str, u64)>,
        );
        let done6 = vec![("received", 3), ("fragmented", 1), ("reassembled", 1)];
        let rows: Vec<Row> = vec![
            ("4→6 in order", at0(&in6), Some(out6.clone()), done6.clone()),
            (
                "4→6 reversed",
                pick(&in6, &[2, 1, 0]),
                Some(out6.clone()),
                done6.clone(),
            ),
            (
                "4→6 a duplicate dropped, the message kept",
                pick(&in6, &[0, 0, 2, 1]),
                Some(out6.clone()),
                vec![
                    ("received", 4),
                    ("fragmented", 1),
                    ("reassembled", 1),
                    ("fragment_duplicate", 1),
                ],
            ),
            (
                "4→6 an overlap drops the message; its rest waits in vain",
                vec![(0, in6[0].clone()), (0, overlap), (0, in6[2].clone())],
                None,
                vec![("received", 3), ("fragment_overlap", 1)],
            ),
            (
                "4→6 a missing piece, then the timeout",
                vec![
                    (0, in6[0].clone()),
                    (0, in6[2].clone()),
                    (6, in6[1].clone()),
                ],
                None,
                vec![("received", 3), ("fragment_expired", 1)],
            ),
            (
                "4→6 past the largest message",
                vec![(0, too_big)],
                None,
                vec![("received", 1), ("fragment_too_big", 1)],
            ),
            (
                "4→6 too many messages in flight",
                full,
                None,
                vec![("received", 65), ("fragment_table_full", 1)],
            ),
            (
                "4→6 a bad icmp checksum",
                at0(&bad6),
                None,
                vec![
                    ("received", 3),
                    ("reassembled", 1),
                    ("icmp_bad_checksum", 1),
                ],
            ),
            (
                "4→6 timestamp request: not echo",
                at0(&other6),
                None,
                vec![("received", 3), ("reassembled", 1), ("icmp_not_echo", 1)],
            ),
            (
                "4→6 udp behind the fragment header",
                vec![(0, not_a_fragment)],
                None,
                vec![("received", 1), ("malformed", 1)],
            ),
            (
                "6→4 in order",
                at0(&in4(sum, &rep6)),
                Some(out4),
                vec![("received", 3), ("fragmented", 1), ("reassembled", 1)],
            ),
            (
                "6→4 a checksum over other addresses",
                at0(&in4(sum + 1, &rep6)),
                None,
                vec![
                    ("received", 3),
                    ("reassembled", 1),
                    ("icmp_bad_checksum", 1),
                ],
            ),
            (
                "6→4 neighbour solicitation: not echo",
                at0(&in4(sum, &solicit)),
                None,
                vec![("received", 3), ("reassembled", 1), ("icmp_not_echo", 1)],
            ),
        ];
        for (name, samples, want, want_counts) in rows {
            let c = Counters::default();
            let table = Mutex::new(Table::default());
            let t0 = Instant::now();
            let mut last = None;
            for (secs, s) in &samples {
                last = process(s, &c, &table, t0 + Duration::from_secs(*secs));
            }
            let got = last.map(|(_, out)| out);
            assert!(got == want, "{name}: got {got:?}");
            assert_eq!(counts(&c), want_counts, "{name}");
        }
    }

    const MAX_FLIGHT: usize = reassembly::MAX_DATAGRAMS;
}
