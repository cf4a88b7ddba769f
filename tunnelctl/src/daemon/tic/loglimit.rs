//! A cap on the TIC server's log lines: anyone can connect, so anyone
//! could otherwise fill the log. At most `per_window` lines a window; what
//! was held back is counted and said in one line when the next window
//! opens.

use std::time::{Duration, Instant};

pub struct LogLimit {
    per_window: u32,
    window: Duration,
    start: Instant,
    used: u32,
    held: u64,
}

impl LogLimit {
    pub fn new(per_window: u32, window: Duration, now: Instant) -> Self {
        Self {
            per_window,
            window,
            start: now,
            used: 0,
            held: 0,
        }
    }

    /// Whether a line may be logged now, and how many were held back in
    /// the window that just closed (to be said once, before it).
    pub fn allow(&mut self, now: Instant) -> (bool, u64) {
        let mut held = 0;
        if now.duration_since(self.start) >= self.window {
            held = std::mem::take(&mut self.held);
            self.start = now;
            self.used = 0;
        }
        if self.used < self.per_window {
            self.used += 1;
            (true, held)
        } else {
            self.held += 1;
            (false, held)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_a_window_and_reports_what_it_held() {
        let t0 = Instant::now();
        let mut l = LogLimit::new(3, Duration::from_secs(60), t0);
        let got: Vec<bool> = (0..5).map(|_| l.allow(t0).0).collect();
        assert_eq!(got, [true, true, true, false, false]);
        assert_eq!(l.allow(t0 + Duration::from_secs(59)), (false, 0));
        // The next window: allowed again, and the 3 held back are told.
        assert_eq!(l.allow(t0 + Duration::from_secs(60)), (true, 3));
        assert_eq!(l.allow(t0 + Duration::from_secs(61)), (true, 0));
    }
}
