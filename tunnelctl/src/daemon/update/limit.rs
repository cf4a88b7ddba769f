//! The per-tunnel rate limit of `/nic/update` (`abuse`): at most
//! `requests` answered requests in any `window`, and at most one change of
//! the remote per `change_interval`. Only requests that authenticated are
//! counted: strangers sending wrong keys for a tunnel cannot lock its user
//! out (their guesses are bounded by the key's length and the server's
//! connection limit instead). A refused request is not counted, so a
//! client that retries too fast gets answers again as soon as it slows
//! down.
//!
//! Pure: the caller gives the time. State exists only for tunnels whose
//! user updated within the last window or interval, so it is bounded by
//! the tunnels there are.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub requests: usize,
    pub window: Duration,
    pub change_interval: Duration,
}

/// HE asks clients to update only on address changes; a router checks
/// every few minutes. Ten requests a minute leaves room for retries and
/// a person with curl, one change a minute for a flapping line.
pub const LIMITS: Limits = Limits {
    requests: 10,
    window: Duration::from_secs(60),
    change_interval: Duration::from_secs(60),
};

#[derive(Debug, Default)]
struct State {
    /// When the answered requests of the last window came.
    requests: VecDeque<Instant>,
    last_change: Option<Instant>,
}

#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    tunnels: HashMap<u32, State>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            tunnels: HashMap::new(),
        }
    }

    /// An authenticated request for tunnel `id` at `now`: `false` (and
    /// not counted) when the tunnel had its `requests` within the window.
    pub fn request(&mut self, id: u32, now: Instant) -> bool {
        if self.tunnels.len() >= 1024 {
            self.forget_idle(now);
        }
        let window = self.limits.window;
        let s = self.tunnels.entry(id).or_default();
        while s
            .requests
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            s.requests.pop_front();
        }
        if s.requests.len() >= self.limits.requests {
            return false;
        }
        s.requests.push_back(now);
        true
    }

    /// Whether tunnel `id`'s remote may change at `now`.
    pub fn may_change(&self, id: u32, now: Instant) -> bool {
        self.tunnels
            .get(&id)
            .and_then(|s| s.last_change)
            .is_none_or(|t| now.saturating_duration_since(t) >= self.limits.change_interval)
    }

    /// Tunnel `id`'s remote changed at `now`.
    pub fn changed(&mut self, id: u32, now: Instant) {
        self.tunnels.entry(id).or_default().last_change = Some(now);
    }

    /// Drops what no longer limits anything.
    fn forget_idle(&mut self, now: Instant) {
        let l = self.limits;
        self.tunnels.retain(|_, s| {
            let recent = |t: &Instant, d: Duration| now.saturating_duration_since(*t) < d;
            s.requests.back().is_some_and(|t| recent(t, l.window))
                || s.last_change.is_some_and(|t| recent(&t, l.change_interval))
        });
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.tunnels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        requests: 3,
        window: Duration::from_secs(60),
        change_interval: Duration::from_secs(60),
    };

    #[test]
    fn requests_per_window_per_tunnel() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut l = Limiter::new(L);
        assert!(l.request(1, at(0)) && l.request(1, at(10)) && l.request(1, at(20)));
        // The fourth within 60 s of the first is refused, and not counted.
        assert!(!l.request(1, at(30)));
        assert!(!l.request(1, at(59)));
        // Another tunnel has its own budget.
        assert!(l.request(2, at(30)));
        // The first request leaves the window at 60 s: one more fits.
        assert!(l.request(1, at(60)));
        assert!(!l.request(1, at(69)));
        assert!(l.request(1, at(70)));
    }

    #[test]
    fn one_change_per_interval() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut l = Limiter::new(L);
        assert!(l.may_change(1, at(0)));
        l.changed(1, at(0));
        assert!(!l.may_change(1, at(59)));
        assert!(l.may_change(2, at(59)));
        assert!(l.may_change(1, at(60)));
    }

    #[test]
    fn idle_tunnels_are_forgotten() {
        let t0 = Instant::now();
        let mut l = Limiter::new(L);
        for id in 0..1024 {
            l.request(id, t0);
        }
        l.changed(5000, t0 + Duration::from_secs(30));
        assert_eq!(l.tracked(), 1025);
        // A minute on, only the change still limits anything.
        assert!(l.request(7, t0 + Duration::from_secs(61)));
        assert_eq!(l.tracked(), 2);
        assert!(!l.may_change(5000, t0 + Duration::from_secs(61)));
    }
}
