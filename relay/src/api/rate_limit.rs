//! An in-memory token bucket per key (friend requests by handle per sender account, invite
//! lookups and redemptions per account).
//!
//! Each key's bucket holds up to `burst` tokens and refills at a steady rate; a request takes
//! one token or is refused with the time until the next one. A full bucket is
//! the same as no bucket, so only keys with spent tokens are remembered, and those are
//! forgotten again once refilled. The state is per relay instance: behind N instances a sender
//! gets at most N times the rate, which still bounds a flood.
//!
//! Written here rather than taken from the `governor` crate: this is one small keyed bucket
//! with an injectable clock for tests, and `governor` would add a dependency tree (dashmap,
//! quanta, …) for it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// How many remembered keys trigger a sweep of refilled buckets (the threshold then grows with
/// the number of keys still remembered, so sweeping stays amortized constant per request).
const SWEEP_AT: usize = 4096;

/// A keyed token bucket rate limiter.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    /// Tokens per second.
    rate: f64,
    state: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    buckets: HashMap<Uuid, Bucket>,
    sweep_at: usize,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A limiter allowing `burst` requests at once and `per_hour` an hour after that (both at
    /// least 1; zero is treated as 1).
    #[must_use]
    pub fn new(per_hour: u32, burst: u32) -> Self {
        Self::with_rate(f64::from(per_hour.max(1)) / 3600.0, burst)
    }

    /// A limiter allowing `burst` requests at once and `per_minute` a minute after that (both
    /// at least 1; zero is treated as 1).
    #[must_use]
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self::with_rate(f64::from(per_minute.max(1)) / 60.0, burst)
    }

    /// `rate` tokens a second, up to `burst` (at least 1) held.
    fn with_rate(rate: f64, burst: u32) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            rate,
            state: Mutex::new(Buckets {
                buckets: HashMap::new(),
                sweep_at: SWEEP_AT,
            }),
        }
    }

    /// Takes a token for `key` now.
    ///
    /// # Errors
    /// How long until a token is available, if none is.
    pub fn check(&self, key: Uuid) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    /// [`RateLimiter::check`] at a given time (for tests).
    ///
    /// # Errors
    /// As [`RateLimiter::check`].
    pub fn check_at(&self, key: Uuid, now: Instant) -> Result<(), Duration> {
        // A panic while holding the lock cannot leave a bucket half-updated in a way that
        // matters more than losing the limiter, so a poisoned lock is used as it is.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.buckets.len() >= state.sweep_at {
            self.sweep(&mut state.buckets, now);
            state.sweep_at = SWEEP_AT.max(state.buckets.len() * 2);
        }
        let bucket = state.buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let tokens = self.refilled(bucket, now);
        bucket.updated = now.max(bucket.updated);
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            Err(Duration::from_secs_f64((1.0 - tokens) / self.rate))
        }
    }

    /// The tokens in `bucket` at `now`.
    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.rate).min(self.burst)
    }

    /// Forgets buckets that are full again.
    fn sweep(&self, buckets: &mut HashMap<Uuid, Bucket>, now: Instant) {
        buckets.retain(|_, bucket| self.refilled(bucket, now) < self.burst);
    }

    /// How many keys are remembered (for tests).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_hourly_rate() {
        let limiter = RateLimiter::new(20, 5);
        let sender = Uuid::from_u128(1);
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(limiter.check_at(sender, start), Ok(()));
        }
        let wait = limiter.check_at(sender, start).expect_err("burst spent");
        // One token every 3 minutes.
        assert!(
            wait > Duration::from_secs(179) && wait <= Duration::from_secs(180),
            "{wait:?}"
        );
        // Other senders have their own bucket.
        assert_eq!(limiter.check_at(Uuid::from_u128(2), start), Ok(()));
        // Refusals take no token: one refill later, one request passes, the next waits again.
        let later = start + Duration::from_secs(180);
        assert_eq!(limiter.check_at(sender, later), Ok(()));
        assert!(limiter.check_at(sender, later).is_err());
        // A long pause refills up to the burst, not beyond.
        let much_later = later + Duration::from_secs(24 * 3600);
        for _ in 0..5 {
            assert_eq!(limiter.check_at(sender, much_later), Ok(()));
        }
        assert!(limiter.check_at(sender, much_later).is_err());
    }

    #[test]
    fn per_minute_rate() {
        let limiter = RateLimiter::per_minute(30, 2);
        let account = Uuid::from_u128(7);
        let start = Instant::now();
        assert_eq!(limiter.check_at(account, start), Ok(()));
        assert_eq!(limiter.check_at(account, start), Ok(()));
        // One token every 2 s.
        let wait = limiter.check_at(account, start).expect_err("burst spent");
        assert!(
            wait > Duration::from_millis(1999) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        let later = start + Duration::from_secs(2);
        assert_eq!(limiter.check_at(account, later), Ok(()));
        assert!(limiter.check_at(account, later).is_err());
    }

    #[test]
    fn refilled_buckets_are_forgotten() {
        let limiter = RateLimiter::new(3600, 1);
        let start = Instant::now();
        for n in 0..SWEEP_AT as u128 {
            assert_eq!(limiter.check_at(Uuid::from_u128(n), start), Ok(()));
        }
        assert_eq!(limiter.remembered(), SWEEP_AT);
        // One token a second: after two seconds every bucket is full again.
        let later = start + Duration::from_secs(2);
        assert_eq!(limiter.check_at(Uuid::from_u128(u128::MAX), later), Ok(()));
        assert_eq!(limiter.remembered(), 1);
    }
}
