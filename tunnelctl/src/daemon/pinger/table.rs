//! The pinger's bookkeeping, pure: which tunnel is due, which request is
//! still out, and the figures of the last replies. The data path stamps
//! each reply's round trip (`PINGS`); a request with no matching reply
//! `TIMEOUT` after it was sent is lost.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use tunnel_common::pinger::PingReply;

use crate::{api::LatencyView, prefix::Ipv6Prefix};

/// How long a reply may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The figures cover this many last requests (10 min at the default
/// interval).
pub const WINDOW: usize = 10;

#[derive(Default)]
struct Probe {
    next_due: Option<Instant>,
    seq: u16,
    pending: Option<(u16, Instant)>,
    /// The last results, newest last: a round trip in µs, or lost.
    window: VecDeque<Option<u32>>,
    sent: u64,
    received: u64,
}

#[derive(Default)]
pub struct Table {
    probes: HashMap<u32, Probe>,
}

/// Where in the interval tunnel `id` is pinged: spread by id, so that a
/// start does not ping every tunnel at once.
fn offset(id: u32, interval: Duration) -> Duration {
    let spread = (u64::from(id).wrapping_mul(2_654_435_761) % 1000) as u32;
    interval * spread / 1000
}

impl Table {
    /// The tunnels to ping now among those `up`, with the sequence number
    /// of each request; each is then due again one `interval` later. A
    /// tunnel no longer up is not pinged (its figures stay); a tunnel
    /// gone from `up` and from the configuration is dropped by `retain`.
    pub fn due(
        &mut self,
        now: Instant,
        up: &[(u32, Ipv6Prefix)],
        interval: Duration,
    ) -> Vec<(u32, Ipv6Prefix, u16)> {
        let mut out = Vec::new();
        for &(id, prefix) in up {
            let p = self.probes.entry(id).or_default();
            let due = *p.next_due.get_or_insert(now + offset(id, interval));
            if due > now || p.pending.is_some() {
                continue;
            }
            p.seq = p.seq.wrapping_add(1);
            p.pending = Some((p.seq, now));
            p.sent += 1;
            p.next_due = Some(due.max(now - interval) + interval);
            out.push((id, prefix, p.seq));
        }
        out
    }

    /// Requests out longer than `TIMEOUT`: their replies are read now.
    pub fn expired(&self, now: Instant) -> Vec<u32> {
        self.probes
            .iter()
            .filter(|(_, p)| {
                p.pending
                    .is_some_and(|(_, t)| now.duration_since(t) >= TIMEOUT)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// The reply found for tunnel `id`'s pending request (the slot's last
    /// reply, which may be to an older request: then it is lost).
    pub fn resolve(&mut self, id: u32, reply: Option<PingReply>) {
        let Some(p) = self.probes.get_mut(&id) else {
            return;
        };
        let Some((seq, _)) = p.pending.take() else {
            return;
        };
        let rtt = reply
            .filter(|r| r.seq == seq)
            .map(|r| (r.rtt_ns / 1000).min(u64::from(u32::MAX)) as u32);
        if rtt.is_some() {
            p.received += 1;
        }
        p.window.push_back(rtt);
        if p.window.len() > WINDOW {
            p.window.pop_front();
        }
    }

    /// Forgets tunnels that are no longer configured.
    pub fn retain(&mut self, configured: impl Fn(u32) -> bool) {
        self.probes.retain(|id, _| configured(*id));
    }

    /// Tunnel `id`'s figures, once a request has been answered or lost.
    pub fn view(&self, id: u32) -> Option<LatencyView> {
        let p = self.probes.get(&id)?;
        if p.window.is_empty() {
            return None;
        }
        let rtts: Vec<u32> = p.window.iter().flatten().copied().collect();
        let lost = p.window.len() - rtts.len();
        let avg = (!rtts.is_empty())
            .then(|| (rtts.iter().map(|&r| u64::from(r)).sum::<u64>() / rtts.len() as u64) as u32);
        Some(LatencyView {
            sent: p.sent,
            received: p.received,
            loss_pct: (lost * 100 / p.window.len()) as u8,
            rtt_min_us: rtts.iter().min().copied(),
            rtt_avg_us: avg,
            rtt_max_us: rtts.iter().max().copied(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u16) -> Ipv6Prefix {
        Ipv6Prefix::new(std::net::Ipv6Addr::new(0x2001, 0xdb8, n, 0, 0, 0, 0, 0), 64).unwrap()
    }

    fn reply(seq: u16, us: u64) -> Option<PingReply> {
        Some(PingReply {
            seq,
            rtt_ns: us * 1000,
            ..Default::default()
        })
    }

    /// Each up tunnel once per interval, at its own offset; never two
    /// requests out at once.
    #[test]
    fn once_per_interval_spread() {
        let (mut t, t0, i) = (Table::default(), Instant::now(), Duration::from_secs(60));
        let up = [(1, p(1)), (2, p(2)), (3, p(3))];
        let mut when: HashMap<u32, Vec<Duration>> = HashMap::new();
        for s in 0..180 {
            let now = t0 + Duration::from_secs(s);
            for (id, _, _) in t.due(now, &up, i) {
                when.entry(id).or_default().push(now - t0);
            }
            for id in t.expired(now) {
                t.resolve(id, None);
            }
        }
        for id in [1, 2, 3] {
            let w = &when[&id];
            assert_eq!(w.len(), 3, "tunnel {id}: {w:?}");
            assert!(w.windows(2).all(|x| x[1] - x[0] == i), "{w:?}");
        }
        let firsts: std::collections::HashSet<_> = when.values().map(|w| w[0]).collect();
        assert_eq!(firsts.len(), 3, "spread: {when:?}");
    }

    /// A reply to this request counts with its round trip; none, or one to
    /// an older request, is a loss.
    #[test]
    fn replies_and_losses() {
        let (mut t, t0, i) = (Table::default(), Instant::now(), Duration::from_secs(60));
        let up = [(7, p(7))];
        let mut now = t0;
        // Seq 1 answered, 2 lost, 3 answered too late (the slot still holds
        // seq 1's reply), 4 answered.
        let mut results = [reply(1, 1500), None, reply(1, 900), reply(4, 500)].into_iter();
        let (mut sent, mut resolved) = (0, 0);
        while resolved < 4 {
            if sent < 4 {
                sent += t.due(now, &up, i).len();
            }
            for id in t.expired(now) {
                t.resolve(id, results.next().unwrap());
                resolved += 1;
            }
            now += Duration::from_secs(1);
            assert!(now - t0 < Duration::from_secs(600), "stuck");
        }
        let v = t.view(7).unwrap();
        assert_eq!((v.sent, v.received, v.loss_pct), (4, 2, 50));
        assert_eq!(
            (v.rtt_min_us, v.rtt_avg_us, v.rtt_max_us),
            (Some(500), Some(1000), Some(1500))
        );
        assert!(t.view(8).is_none());
        t.retain(|id| id != 7);
        assert!(t.view(7).is_none());
    }
}
