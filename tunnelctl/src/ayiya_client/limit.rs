//! Rate-limited log lines: a datagram flood (a wrong password, a PoP whose
//! clock is off, a restart refusing every packet) must not become a flood
//! of lines. Each kind of line has its own [`Every`]: the first occurrence
//! is logged at once, then at most one line per period, saying how many
//! occurrences it stood for.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Every {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Every {
    pub const fn new(period: Duration) -> Self {
        Self {
            period,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether to log an occurrence at `now`: `Some(n)` with the number of
    /// occurrences not logged since the last line, else `None` (counted).
    pub fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.period => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// Forgets the last line: the next occurrence is logged at once (after
    /// a state change, e.g. the PoP answered again).
    pub fn reset(&mut self) {
        self.last = None;
        self.suppressed = 0;
    }
}

/// ", and N more like it since" or nothing: the tail of a limited line.
pub fn more(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} more since the last such line)")
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`, for the clock hints (the
/// civil-from-days algorithm of the proleptic Gregorian calendar).
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_then_one_per_period() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut e = Every::new(s(10));
        assert_eq!(e.check(t0), Some(0));
        assert_eq!(e.check(t0 + s(1)), None);
        assert_eq!(e.check(t0 + s(9)), None);
        assert_eq!(e.check(t0 + s(10)), Some(2));
        assert_eq!(e.check(t0 + s(11)), None);
        e.reset();
        assert_eq!(e.check(t0 + s(12)), Some(0));
        assert_eq!(more(0), "");
        assert!(more(3).contains("3 more"));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        // The spec's example epochs.
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(1_063_665_852), "2003-09-15 22:44:12 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(4_102_444_799), "2099-12-31 23:59:59 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
    }
}
