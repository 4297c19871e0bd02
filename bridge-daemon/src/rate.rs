//! Token buckets: a rate with a burst allowance, for requests and connects.

use std::time::{Duration, Instant};

/// `rate` events per second on average, `burst` at once.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. `rate` and `burst` are at least 1 (the configuration checks).
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket { rate: f64::from(rate.max(1)), burst, tokens: burst, last: Instant::now() }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes a token if there is one.
    pub(crate) fn try_take(&mut self) -> bool {
        self.refill(Instant::now());
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes `n` tokens (bytes, for a byte rate) if there are as many.
    pub(crate) fn try_take_n(&mut self, n: f64) -> bool {
        self.refill(Instant::now());
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// Takes a token, borrowing against the future if need be, and says how long to wait before
    /// using it. Callers that wait their turn are served in the order they took.
    pub(crate) fn take_turn(&mut self) -> Duration {
        self.refill(Instant::now());
        self.tokens -= 1.0;
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / self.rate) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(1, 3);
        assert!(b.try_take() && b.try_take() && b.try_take());
        assert!(!b.try_take(), "the burst is spent");
        let mut b = TokenBucket::new(10, 2);
        assert_eq!(b.take_turn(), Duration::ZERO);
        assert_eq!(b.take_turn(), Duration::ZERO);
        let third = b.take_turn();
        let fourth = b.take_turn();
        assert!(third > Duration::ZERO && third <= Duration::from_millis(100), "{third:?}");
        assert!(fourth > third, "later turns wait longer");
    }
}
