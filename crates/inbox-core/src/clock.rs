//! Time, injected.
//!
//! Signature tolerances, lease expiry and `received_at` all depend on "now", and time budgets on
//! how long something took; tests need to pin both and to move them. Production code takes `&dyn Clock` and gets [`SystemClock`], which works both
//! natively and on `wasm32-wasip2` (where `std` reads `wasi:clocks`).

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::time::Timestamp;

/// A source of the current time that can also wait.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// A monotonic reading: the time since an arbitrary origin, never going backwards (the wall
    /// clock of [`Clock::now`] can). Measure how long something took as the difference of two.
    fn monotonic(&self) -> Duration;

    /// Blocks the current request for `duration`. On Spin this suspends only this instance.
    fn sleep(&self, duration: Duration);
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }

    fn monotonic(&self) -> Duration {
        (**self).monotonic()
    }

    fn sleep(&self, duration: Duration) {
        (**self).sleep(duration);
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_unix_millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    /// Since the first reading in this process (on Spin, this instance).
    fn monotonic(&self) -> Duration {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock that only moves when told to (or when something sleeps on it): for tests. Its
/// monotonic reading is the time it was moved by.
#[derive(Debug)]
pub struct ManualClock {
    /// Now, and how far the clock has moved since it was made.
    now: Mutex<(Timestamp, Duration)>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn at(now: Timestamp) -> Self {
        Self {
            now: Mutex::new((now, Duration::ZERO)),
        }
    }

    /// A clock stopped at the given Unix time in seconds.
    pub fn at_unix(seconds: i64) -> Self {
        Self::at(Timestamp::from_unix_seconds(seconds))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.read();
        *now = (now.0.plus(by), now.1.saturating_add(by));
    }

    fn read(&self) -> std::sync::MutexGuard<'_, (Timestamp, Duration)> {
        self.now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.read().0
    }

    fn monotonic(&self) -> Duration {
        self.read().1
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration);
        // Let other test threads run, as a real sleep would.
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_unix(1_700_000_000);
        assert_eq!(clock.now().unix_seconds(), 1_700_000_000);
        clock.sleep(Duration::from_secs(3));
        assert_eq!(clock.now().unix_seconds(), 1_700_000_003);
    }

    #[test]
    fn manual_clock_monotonic_reading_moves_with_it() {
        let clock = ManualClock::at_unix(1_700_000_000);
        assert_eq!(clock.monotonic(), Duration::ZERO);
        clock.advance(Duration::from_millis(1_500));
        clock.sleep(Duration::from_secs(2));
        assert_eq!(clock.monotonic(), Duration::from_millis(3_500));
    }

    #[test]
    fn system_clock_monotonic_reading_never_goes_back() {
        let first = SystemClock.monotonic();
        std::thread::sleep(Duration::from_millis(2));
        assert!(SystemClock.monotonic() > first);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now().unix_seconds() > 1_577_836_800);
    }
}
