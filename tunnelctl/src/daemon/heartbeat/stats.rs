//! What the listener did with each datagram, by result, for `/metrics`:
//! `tunnelpop_heartbeats_total{result="ok|not_heartbeat|…"}` (the
//! `tunnelpop_` prefix of every metric of the daemon).

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::heartbeat::Refusal;

/// What became of one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Learned (or confirmed).
    Ok,
    /// Nothing changed, for this reason.
    Refused(Refusal),
    /// The daemon failed (reading the store, writing the maps): logged.
    Error,
}

/// One counter for `ok`, one per [`Refusal`] (in `Refusal::ALL`'s order)
/// and one for `error`.
#[derive(Debug, Default)]
pub struct Stats {
    ok: AtomicU64,
    refused: [AtomicU64; Refusal::ALL.len()],
    error: AtomicU64,
}

fn index(r: Refusal) -> usize {
    Refusal::ALL
        .iter()
        .position(|x| *x == r)
        .expect("every refusal is in ALL")
}

impl Stats {
    fn counter(&self, o: Outcome) -> &AtomicU64 {
        match o {
            Outcome::Ok => &self.ok,
            Outcome::Refused(r) => &self.refused[index(r)],
            Outcome::Error => &self.error,
        }
    }

    /// Counts one datagram's outcome.
    pub fn count(&self, o: Outcome) {
        self.counter(o).fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, o: Outcome) -> u64 {
        self.counter(o).load(Ordering::Relaxed)
    }

    /// The counters in the Prometheus text format, every result listed
    /// (zeros too: a rate over a series that appears late is wrong).
    pub fn render(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "# HELP tunnelpop_heartbeats_total Heartbeats received (UDP, heartbeat_listen), by result: ok (learned), why nothing changed, or error (the daemon failed, logged).\n# TYPE tunnelpop_heartbeats_total counter"
        );
        let all = std::iter::once(("ok", Outcome::Ok))
            .chain(Refusal::ALL.map(|r| (r.name(), Outcome::Refused(r))))
            .chain([("error", Outcome::Error)]);
        for (name, o) in all {
            let _ = writeln!(
                s,
                "tunnelpop_heartbeats_total{{result=\"{name}\"}} {}",
                self.get(o)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_result_has_its_own_line() {
        let st = Stats::default();
        st.count(Outcome::Ok);
        st.count(Outcome::Refused(Refusal::HashFail));
        st.count(Outcome::Refused(Refusal::HashFail));
        st.count(Outcome::Refused(Refusal::Conflict));
        st.count(Outcome::Error);
        let mut s = String::new();
        st.render(&mut s);
        assert!(
            s.contains("tunnelpop_heartbeats_total{result=\"ok\"} 1\n"),
            "{s}"
        );
        assert!(
            s.contains("tunnelpop_heartbeats_total{result=\"hash_fail\"} 2\n"),
            "{s}"
        );
        assert!(
            s.contains("tunnelpop_heartbeats_total{result=\"conflict\"} 1\n"),
            "{s}"
        );
        assert!(
            s.contains("tunnelpop_heartbeats_total{result=\"clock_off\"} 0\n"),
            "{s}"
        );
        assert!(
            s.contains("tunnelpop_heartbeats_total{result=\"error\"} 1\n"),
            "{s}"
        );
        let series = s.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(series, 2 + Refusal::ALL.len());
    }
}
