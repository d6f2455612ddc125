//! Time, injected.
//!
//! Signature tolerances, lease expiry and `received_at` all depend on "now"; tests need to pin it
//! and to move it. Production code takes `&dyn Clock` and gets [`SystemClock`], which works both
//! natively and on `wasm32-wasip2` (where `std` reads `wasi:clocks`).

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

/// A source of the current time that can also wait.
pub trait Clock: Send + Sync {
    /// The current UTC time.
    fn now(&self) -> DateTime<Utc>;

    /// Blocks the current request for `duration`. On Spin this suspends only this instance.
    fn sleep(&self, duration: Duration);
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }

    fn sleep(&self, duration: Duration) {
        (**self).sleep(duration);
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock that only moves when told to (or when something sleeps on it): for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// A clock stopped at the given Unix time in seconds.
    pub fn at_unix(seconds: i64) -> Self {
        Self::at(DateTime::from_timestamp(seconds, 0).unwrap_or_default())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += chrono::Duration::from_std(by).unwrap_or_default();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration);
        // Let other test threads run, as a real sleep would.
        std::thread::yield_now();
    }
}

/// RFC 3339 in UTC with second precision and a `Z`, e.g. `2026-11-24T13:24:53Z`.
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// RFC 3339 in UTC with millisecond precision, for stored timestamps that order events.
pub fn rfc3339_millis(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_unix(1_700_000_000);
        assert_eq!(clock.now().timestamp(), 1_700_000_000);
        clock.sleep(Duration::from_secs(3));
        assert_eq!(clock.now().timestamp(), 1_700_000_003);
    }

    #[test]
    fn formats_rfc3339_utc() {
        let clock = ManualClock::at_unix(0);
        assert_eq!(rfc3339(clock.now()), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_millis(clock.now()), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now().timestamp() > 1_577_836_800);
    }
}
