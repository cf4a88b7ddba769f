//! Values the daemon can change at run time (the `CONFIG` array, one slot).

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// ICMPv6 errors (time exceeded, packet too big) per second and CPU.
    pub icmp_rate_per_sec: u32,
    /// Burst of ICMPv6 errors allowed at once, per CPU.
    pub icmp_burst: u32,
    /// Seconds without a packet or beat after which a tunnel that learns
    /// its endpoint is DOWN (sixxsd: 120; clients that beat every 300 s
    /// need more).
    pub liveness_s: u32,
    pub _pad: u32,
}
const _: () = assert!(core::mem::size_of::<RuntimeConfig>() == 16);

impl Default for RuntimeConfig {
    fn default() -> Self {
        // Linux's icmpv6 ratelimit is 1 per ms per destination with a global
        // 1000/s cap (net.ipv6.icmp.ratelimit, icmp_msgs_per_sec): same order.
        Self {
            icmp_rate_per_sec: 1000,
            icmp_burst: 50,
            liveness_s: LIVENESS_S_DEFAULT,
            _pad: 0,
        }
    }
}

/// sixxsd's timeout: DOWN ≥ 120 s after the last beat (AICCU beats every
/// 60 s).
pub const LIVENESS_S_DEFAULT: u32 = 120;

impl RuntimeConfig {
    /// `liveness_s` in ns; 0 (a slot never written) is the default.
    #[inline(always)]
    pub fn liveness_ns(&self) -> u64 {
        let s = if self.liveness_s == 0 {
            LIVENESS_S_DEFAULT
        } else {
            self.liveness_s
        };
        s as u64 * 1_000_000_000
    }
}

/// Token bucket state, one per CPU (`ICMP_RATE`). Tokens are kept scaled by
/// 2^10 so refills below one token per call are not lost.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitState {
    pub last_ns: u64,
    pub tokens_scaled: u64,
}
const _: () = assert!(core::mem::size_of::<RateLimitState>() == 16);

pub const RATE_SCALE_SHIFT: u32 = 10;

/// One token-bucket step: given the state, the time, and the config, returns
/// whether an ICMP error may be sent now and updates `state`. Pure, so it is
/// tested on the host and used unchanged in eBPF.
#[inline(always)]
pub fn rate_limit_take(state: &mut RateLimitState, now_ns: u64, cfg: &RuntimeConfig) -> bool {
    let cap = (cfg.icmp_burst as u64) << RATE_SCALE_SHIFT;
    let elapsed = now_ns.saturating_sub(state.last_ns);
    // tokens/ns = rate / 1e9; elapsed is capped at 10 s to stay in range.
    let elapsed = if elapsed > 10_000_000_000 {
        10_000_000_000
    } else {
        elapsed
    };
    // milli-tokens first (elapsed * rate <= 1e10 * 2^32 would overflow only
    // for rates above 1.8e9/s), then scaled tokens.
    let milli = elapsed * cfg.icmp_rate_per_sec as u64 / 1_000_000;
    let refill = (milli << RATE_SCALE_SHIFT) / 1000;
    let mut tokens = state.tokens_scaled + refill;
    if tokens > cap {
        tokens = cap;
    }
    state.last_ns = now_ns;
    let one = 1u64 << RATE_SCALE_SHIFT;
    if tokens >= one {
        state.tokens_scaled = tokens - one;
        true
    } else {
        state.tokens_scaled = tokens;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_defaults_to_sixxsd() {
        let mut c = RuntimeConfig::default();
        assert_eq!(c.liveness_ns(), 120_000_000_000);
        c.liveness_s = 0;
        assert_eq!(c.liveness_ns(), 120_000_000_000);
        c.liveness_s = 300;
        assert_eq!(c.liveness_ns(), 300_000_000_000);
    }

    #[test]
    fn burst_then_refill() {
        let cfg = RuntimeConfig {
            icmp_rate_per_sec: 1000,
            icmp_burst: 5,
            ..Default::default()
        };
        let mut s = RateLimitState::default();
        // Fresh state: a long elapsed time fills the bucket to the burst.
        let t0 = 20_000_000_000;
        let sent = (0..10)
            .filter(|_| rate_limit_take(&mut s, t0, &cfg))
            .count();
        assert_eq!(sent, 5);
        // 1 ms later at 1000/s: exactly one more.
        assert!(rate_limit_take(&mut s, t0 + 1_000_000, &cfg));
        assert!(!rate_limit_take(&mut s, t0 + 1_000_000, &cfg));
        // 0.5 ms: not yet; another 0.5 ms: yes (fractions accumulate).
        assert!(!rate_limit_take(&mut s, t0 + 1_500_000, &cfg));
        assert!(rate_limit_take(&mut s, t0 + 2_000_000, &cfg));
    }

    #[test]
    fn zero_rate_sends_only_nothing() {
        let cfg = RuntimeConfig {
            icmp_rate_per_sec: 0,
            icmp_burst: 0,
            ..Default::default()
        };
        let mut s = RateLimitState::default();
        assert!(!rate_limit_take(&mut s, 5_000_000_000, &cfg));
    }
}
