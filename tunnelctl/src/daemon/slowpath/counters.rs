//! What the slow path did, for `/metrics`
//! (`tunnelpop_nat64_slow_path_total{result}`), and its log lines: at
//! most one per result and 10 s, so a flood of bad packets cannot flood
//! the log.

use std::{
    fmt::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

/// One outcome of the slow path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Packets handed over by the data path and read.
    Received,
    /// Of those, packets cut into fragments.
    Fragmented,
    /// Packets sent (each fragment, or a packet that fit as it was).
    Sent,
    /// Packets refused: a sample or packet not as the data path makes
    /// them, or a reason this build does not know.
    Malformed,
    /// Sends the kernel refused (no route, a full socket buffer, ...).
    SendFailed,
    /// Packets not sent: the daemon has no tunnel device
    /// (`local_device = ""`) to send IPv6 through, or no raw IPv4 socket.
    NoDevice,
    /// Samples the kernel lost because a ring was full (the data path
    /// counts them too, as the drop `nat64_slow_path_lost`).
    Lost,
    /// Fragmented ICMP messages put back together (`reassembly`).
    Reassembled,
    /// Fragments dropped as exact copies of one held (the message kept).
    FragmentDuplicate,
    /// Messages dropped for overlapping fragments (RFC 5722), or a
    /// fragment beyond the end a last one set.
    FragmentOverlap,
    /// Messages dropped for a fragment ending beyond the largest message.
    FragmentTooBig,
    /// Messages dropped incomplete after the reassembly timeout.
    FragmentExpired,
    /// Fragments of a new message dropped: as many messages in flight as
    /// the table holds.
    FragmentTableFull,
    /// Messages put back together whose ICMP checksum was wrong.
    IcmpBadChecksum,
    /// Messages put back together that were no echo request or reply
    /// (RFC 7915 §4.2, §5.2 translate no other fragmented type here).
    IcmpNotEcho,
}

impl Outcome {
    pub const ALL: [Outcome; 15] = [
        Outcome::Received,
        Outcome::Fragmented,
        Outcome::Sent,
        Outcome::Malformed,
        Outcome::SendFailed,
        Outcome::NoDevice,
        Outcome::Lost,
        Outcome::Reassembled,
        Outcome::FragmentDuplicate,
        Outcome::FragmentOverlap,
        Outcome::FragmentTooBig,
        Outcome::FragmentExpired,
        Outcome::FragmentTableFull,
        Outcome::IcmpBadChecksum,
        Outcome::IcmpNotEcho,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Received => "received",
            Outcome::Fragmented => "fragmented",
            Outcome::Sent => "sent",
            Outcome::Malformed => "malformed",
            Outcome::SendFailed => "send_failed",
            Outcome::NoDevice => "no_device",
            Outcome::Lost => "lost",
            Outcome::Reassembled => "reassembled",
            Outcome::FragmentDuplicate => "fragment_duplicate",
            Outcome::FragmentOverlap => "fragment_overlap",
            Outcome::FragmentTooBig => "fragment_too_big",
            Outcome::FragmentExpired => "fragment_expired",
            Outcome::FragmentTableFull => "fragment_table_full",
            Outcome::IcmpBadChecksum => "icmp_bad_checksum",
            Outcome::IcmpNotEcho => "icmp_not_echo",
        }
    }
}

/// Shortest time between two log lines of one outcome.
const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Counters {
    counts: [AtomicU64; Outcome::ALL.len()],
    /// When each outcome was last logged.
    logged: Mutex<[Option<Instant>; Outcome::ALL.len()]>,
}

impl Counters {
    pub fn add(&self, o: Outcome, n: u64) {
        self.counts[o as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self, o: Outcome) -> u64 {
        self.counts[o as usize].load(Ordering::Relaxed)
    }

    /// Whether a line about `o` may be logged now (and if so, the clock
    /// for the next one starts).
    pub fn may_log(&self, o: Outcome, now: Instant) -> bool {
        let mut last = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut last[o as usize];
        match slot {
            Some(t) if now.saturating_duration_since(*t) < LOG_EVERY => false,
            _ => {
                *slot = Some(now);
                true
            }
        }
    }

    /// The counters in Prometheus' text format.
    pub fn render(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "# HELP tunnelpop_nat64_slow_path_total NAT64 packets the data path handed to the daemon (non-DF IPv4 too big for the user's tunnel or the IPv6 minimum MTU, sent as IPv6 fragments; fragments of ICMP messages, put back together and translated), by result: received, fragmented, sent (fragments), malformed, send_failed, no_device, lost (ring full), reassembled, fragment_duplicate (fragments), fragment_overlap, fragment_too_big, fragment_expired (messages), fragment_table_full (fragments), icmp_bad_checksum, icmp_not_echo (messages).\n# TYPE tunnelpop_nat64_slow_path_total counter"
        );
        for o in Outcome::ALL {
            let _ = writeln!(
                s,
                "tunnelpop_nat64_slow_path_total{{result=\"{}\"}} {}",
                o.name(),
                self.get(o)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_in_slot_order_with_unique_names() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
        let mut names: Vec<_> = Outcome::ALL.iter().map(|o| o.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Outcome::ALL.len());
    }

    #[test]
    fn one_line_per_outcome_and_ten_seconds() {
        let c = Counters::default();
        let t0 = Instant::now();
        assert!(c.may_log(Outcome::Malformed, t0));
        assert!(!c.may_log(Outcome::Malformed, t0 + Duration::from_secs(9)));
        assert!(c.may_log(Outcome::SendFailed, t0), "another outcome");
        assert!(c.may_log(Outcome::Malformed, t0 + Duration::from_secs(10)));
    }

    #[test]
    fn render_shows_every_outcome() {
        let c = Counters::default();
        c.add(Outcome::Sent, 3);
        let mut s = String::new();
        c.render(&mut s);
        assert!(s.contains("tunnelpop_nat64_slow_path_total{result=\"sent\"} 3\n"));
        assert!(s.contains("tunnelpop_nat64_slow_path_total{result=\"lost\"} 0\n"));
    }
}
