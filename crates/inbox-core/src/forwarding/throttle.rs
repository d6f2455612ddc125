//! Throttling per destination: at most `max_per_second` sends started in any one second, and at
//! most `max_in_flight` sends under way at once, across every forwarder instance and replica that
//! shares the store (Spin makes an instance per request, so the store is the only shared state).
//! On top of the answers' own `Retry-After`, never instead of it.
//!
//! Built on `increment` alone, like the claims (docs/dedup.md):
//!
//! - **Rate**: a counter per destination and Unix second, `fwd:thr:{d}:rate:{s}` ([`super::keys`] names them all). A send
//!   increments the current second's; one that gets more than the limit is throttled.
//! - **In flight**: a *started* and a *done* counter per destination and 5-second bucket,
//!   `fwd:thr:{d}:fly:{b}` and `...:done`. A send adds 1 to its bucket's started; what that
//!   returns, plus the window's other buckets' started, is its place in line. It then reads the
//!   window's done counters (before the other started counters: a read in between can only
//!   overcount) and is throttled when its place is more than the limit above them, taking its
//!   start back (adding -1); it adds 1 to done when it finishes. Of racing sends the one with the
//!   lower place goes and the later ones see it, so the limit is never exceeded and one of them
//!   always goes: with every racer's start counted instead, each refused the others, and rounds
//!   in step (two tickers) could refuse them all round after round. The window spans the send timeout and the clock margin: a send that
//!   started earlier has finished or been cut off, so a sender that died without adding to done
//!   holds its slot for that long at most (the lease), never forever.
//!
//! A throttled delivery is not an attempt: nothing is recorded against it, it is not counted as a
//! failure, and it stays due ([`super::dispatch`] queues it again for when the destination has
//! room). Other destinations are not affected. Old counters are deleted by the dispatch tick's
//! sweep (`fwd:thr:{d}:swept` remembers how far it got).

use std::time::Duration;

use super::destinations::DestinationName;
use super::keys;
use super::tuning::{millis, Tuning};
use crate::kv::{KeyValue, KvError};
use crate::time::Timestamp;

/// The highest `max_per_second`.
pub const MAX_PER_SECOND: u32 = 1_000;
/// The highest `max_in_flight`.
pub const MAX_IN_FLIGHT: u32 = 100;
/// Width of an in-flight bucket.
pub const FLY_BUCKET: Duration = Duration::from_secs(5);
/// Seconds the sweep deletes per destination and call at most.
const SWEEP_SECONDS: i64 = 300;

/// A destination's limits (none: unthrottled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throttle {
    /// Sends started per Unix second, at most.
    pub max_per_second: Option<u32>,
    /// Sends under way at once, at most.
    pub max_in_flight: Option<u32>,
}

impl Throttle {
    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.max_per_second.is_some() || self.max_in_flight.is_some()
    }

    /// How far apart throttled deliveries are queued again: one limit's worth of a second.
    pub fn spacing(&self) -> Duration {
        let per = self
            .max_per_second
            .or(self.max_in_flight)
            .unwrap_or(1)
            .max(1);
        Duration::from_secs(1) / per
    }
}

/// What [`admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send; hand the ticket to [`release`] when the send is over.
    Admitted(Ticket),
    /// Not now: the destination has room again at about this time.
    Throttled(Timestamp),
}

/// An admitted send's place in the in-flight counters (`None`: no in-flight limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(Option<i64>);

impl Ticket {
    /// A send no limit applies to.
    pub const FREE: Ticket = Ticket(None);
}

fn fly_bucket(at: Timestamp) -> i64 {
    at.unix_millis().div_euclid(millis(FLY_BUCKET))
}

/// The buckets whose sends may still be under way at `now`: back over the send timeout and the
/// margin, and ahead over the margin (a replica whose clock is ahead).
fn window(now: Timestamp, tuning: &Tuning) -> std::ops::RangeInclusive<i64> {
    fly_bucket(now.minus(tuning.send_timeout + tuning.margin))..=fly_bucket(now.plus(tuning.margin))
}

/// Asks for room to send to `d` at `now`.
pub fn admit<K: KeyValue>(
    kv: &K,
    d: &DestinationName,
    throttle: Throttle,
    now: Timestamp,
    tuning: &Tuning,
) -> Result<Admission, KvError> {
    let mut ticket = Ticket::FREE;
    if let Some(max) = throttle.max_in_flight {
        let b = fly_bucket(now);
        // This send's place: what its own increment returned, plus the other buckets' sends.
        let mine = kv.increment(&keys::throttle_started(d, b), 1)?;
        ticket = Ticket(Some(b));
        let mut done = 0i64;
        for w in window(now, tuning) {
            done = done.saturating_add(kv.increment(&keys::throttle_done(d, w), 0)?);
        }
        let mut place = mine;
        for w in window(now, tuning).filter(|w| *w != b) {
            place = place.saturating_add(kv.increment(&keys::throttle_started(d, w), 0)?);
        }
        if place.saturating_sub(done) > i64::from(max) {
            // Undone by taking its start back, not by counting it done: a later send's place
            // then stays above every earlier one still deciding, so of racing sends the first
            // always goes (counting all of them, each refused the others, and rounds that run in
            // step, as two tickers do, could refuse every one of them again and again).
            if let Err(error) = kv.increment(&keys::throttle_started(d, b), -1) {
                tracing::warn!(destination = d.as_str(), error = %error, "in-flight slot not given back; it expires");
            }
            return Ok(Admission::Throttled(now.plus(Duration::from_millis(500))));
        }
    }
    if let Some(max) = throttle.max_per_second {
        let second = now.unix_seconds();
        if kv.increment(&keys::throttle_rate(d, second), 1)? > i64::from(max) {
            release(kv, d, ticket);
            return Ok(Admission::Throttled(Timestamp::from_unix_seconds(
                second + 1,
            )));
        }
    }
    Ok(Admission::Admitted(ticket))
}

/// The send is over (sent, or given up before sending): its in-flight slot is free. A store
/// failure here is logged; the slot frees itself when its bucket leaves the window.
pub fn release<K: KeyValue>(kv: &K, d: &DestinationName, ticket: Ticket) {
    if let Ticket(Some(b)) = ticket {
        if let Err(error) = kv.increment(&keys::throttle_done(d, b), 1) {
            tracing::warn!(destination = d.as_str(), error = %error, "in-flight slot not released; it expires");
        }
    }
}

/// Sends to `d` under way now, as [`admit`] counts them.
pub fn in_flight<K: KeyValue>(
    kv: &K,
    d: &DestinationName,
    now: Timestamp,
    tuning: &Tuning,
) -> Result<i64, KvError> {
    let mut count = 0i64;
    for w in window(now, tuning) {
        count = count
            .saturating_add(kv.increment(&keys::throttle_started(d, w), 0)?)
            .saturating_sub(kv.increment(&keys::throttle_done(d, w), 0)?);
    }
    Ok(count)
}

/// Makes sure the sweep starts no later than `now` minus a minute for `d`: called before `d`'s
/// first counter is written by a dispatcher.
pub fn start_sweep<K: KeyValue>(
    kv: &K,
    d: &DestinationName,
    now: Timestamp,
) -> Result<(), KvError> {
    if kv.get(&keys::throttle_swept(d))?.is_none() {
        kv.set(
            &keys::throttle_swept(d),
            (now.unix_seconds() - 60).to_string().as_bytes(),
        )?;
    }
    Ok(())
}

/// Deletes `d`'s counters that no admission reads any more (older than the in-flight window and
/// the margin again), at most [`SWEEP_SECONDS`] seconds' worth per call. Returns how many seconds
/// it covered.
pub fn sweep<K: KeyValue>(
    kv: &K,
    d: &DestinationName,
    now: Timestamp,
    tuning: &Tuning,
) -> Result<i64, KvError> {
    let Some(from) = kv
        .get(&keys::throttle_swept(d))?
        .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.trim().parse::<i64>().ok())
    else {
        return Ok(0);
    };
    let horizon = now
        .minus(tuning.send_timeout + tuning.margin * 2 + FLY_BUCKET * 2)
        .unix_seconds();
    let to = horizon.min(from.saturating_add(SWEEP_SECONDS));
    if to <= from {
        return Ok(0);
    }
    let fly_seconds = i64::try_from(FLY_BUCKET.as_secs()).unwrap_or(5).max(1);
    let mut doomed = Vec::new();
    for second in from + 1..=to {
        doomed.push(keys::throttle_rate(d, second));
        if second.rem_euclid(fly_seconds) == 0 {
            let b = second.div_euclid(fly_seconds);
            doomed.push(keys::throttle_started(d, b));
            doomed.push(keys::throttle_done(d, b));
        }
    }
    kv.delete_many(&doomed)?;
    kv.set(&keys::throttle_swept(d), to.to_string().as_bytes())?;
    Ok(to - from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    const T0: i64 = 1_800_000_000;

    fn name() -> DestinationName {
        DestinationName::parse("slow").unwrap()
    }

    fn admitted(a: Admission) -> Option<Ticket> {
        match a {
            Admission::Admitted(ticket) => Some(ticket),
            Admission::Throttled(_) => None,
        }
    }

    /// A store on which every send's start waits for the other racers' (a barrier): both start,
    /// then both read, as two dispatch rounds in step do.
    struct Lockstep<'a> {
        inner: &'a MemoryKv,
        started: std::sync::Barrier,
    }

    impl KeyValue for Lockstep<'_> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
            self.inner.set(key, value)
        }
        fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
            self.inner.set_many(entries)
        }
        fn delete(&self, key: &str) -> Result<(), KvError> {
            self.inner.delete(key)
        }
        fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
            self.inner.delete_many(keys)
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
            let value = self.inner.increment(key, delta)?;
            if delta == 1 && key.contains(":fly:") && !key.ends_with(":done") {
                self.started.wait();
            }
            Ok(value)
        }
    }

    /// Two sends racing for the one slot, both starting before either reads: one goes. (Counting
    /// every start, each refused the other, and two tickers in step did so round after round:
    /// the e2e test's destination then got nothing for 15 s.)
    #[test]
    fn of_sends_racing_for_the_last_slot_one_always_goes() {
        let tuning = Tuning::default();
        let limit = Throttle {
            max_per_second: None,
            max_in_flight: Some(1),
        };
        let at = Timestamp::from_unix_seconds(T0);
        for round in 0..20 {
            let kv = MemoryKv::new();
            let store = Lockstep {
                inner: &kv,
                started: std::sync::Barrier::new(2),
            };
            let outcomes: Vec<bool> = std::thread::scope(|scope| {
                let racers: Vec<_> = (0..2)
                    .map(|_| {
                        scope.spawn(|| {
                            admitted(admit(&store, &name(), limit, at, &tuning).unwrap()).is_some()
                        })
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert_eq!(
                outcomes.iter().filter(|went| **went).count(),
                1,
                "round {round}: {outcomes:?}"
            );
            assert_eq!(in_flight(&kv, &name(), at, &tuning).unwrap(), 1);
        }
    }

    #[test]
    fn the_rate_admits_the_limit_per_second_and_names_the_next_one() {
        let (kv, tuning, d) = (MemoryKv::new(), Tuning::default(), name());
        let limit = Throttle {
            max_per_second: Some(3),
            max_in_flight: None,
        };
        let at = Timestamp::from_unix_millis(T0 * 1000 + 250);
        let results: Vec<Admission> = (0..5)
            .map(|_| admit(&kv, &d, limit, at, &tuning).unwrap())
            .collect();
        assert_eq!(
            results.iter().filter(|a| admitted(**a).is_some()).count(),
            3
        );
        assert_eq!(
            results[4],
            Admission::Throttled(Timestamp::from_unix_seconds(T0 + 1))
        );
        // The next second has room again; another destination never had less.
        let next = Timestamp::from_unix_seconds(T0 + 1);
        assert!(admitted(admit(&kv, &d, limit, next, &tuning).unwrap()).is_some());
        let other = DestinationName::parse("fast").unwrap();
        assert!(admitted(admit(&kv, &other, limit, at, &tuning).unwrap()).is_some());
    }

    #[test]
    fn in_flight_is_bounded_released_and_a_dead_senders_slot_expires() {
        let (kv, tuning, d) = (MemoryKv::new(), Tuning::default(), name());
        let limit = Throttle {
            max_per_second: None,
            max_in_flight: Some(2),
        };
        let at = Timestamp::from_unix_seconds(T0);
        let first = admitted(admit(&kv, &d, limit, at, &tuning).unwrap()).unwrap();
        let _dies = admitted(admit(&kv, &d, limit, at, &tuning).unwrap()).unwrap();
        assert!(admitted(admit(&kv, &d, limit, at, &tuning).unwrap()).is_none());
        assert_eq!(
            in_flight(&kv, &d, at, &tuning).unwrap(),
            2,
            "the refused one undid itself"
        );
        release(&kv, &d, first);
        let third = admitted(admit(&kv, &d, limit, at, &tuning).unwrap()).unwrap();
        assert!(admitted(admit(&kv, &d, limit, at, &tuning).unwrap()).is_none());
        release(&kv, &d, third);
        // The second sender never releases: its slot is held through the send timeout...
        let later = at.plus(tuning.send_timeout);
        let again = admitted(admit(&kv, &d, limit, later, &tuning).unwrap()).unwrap();
        assert!(admitted(admit(&kv, &d, limit, later, &tuning).unwrap()).is_none());
        release(&kv, &d, again);
        // ...and no longer once its bucket left the window (send timeout, margin, a bucket).
        let expired = at.plus(tuning.send_timeout + tuning.margin * 2 + FLY_BUCKET * 2);
        assert_eq!(in_flight(&kv, &d, expired, &tuning).unwrap(), 0);
        let a = admitted(admit(&kv, &d, limit, expired, &tuning).unwrap());
        let b = admitted(admit(&kv, &d, limit, expired, &tuning).unwrap());
        assert!(a.is_some() && b.is_some(), "both slots free again");
    }

    #[test]
    fn a_rate_refusal_gives_back_the_in_flight_slot() {
        let (kv, tuning, d) = (MemoryKv::new(), Tuning::default(), name());
        let limit = Throttle {
            max_per_second: Some(1),
            max_in_flight: Some(5),
        };
        let at = Timestamp::from_unix_seconds(T0);
        let ticket = admitted(admit(&kv, &d, limit, at, &tuning).unwrap()).unwrap();
        for _ in 0..4 {
            assert!(admitted(admit(&kv, &d, limit, at, &tuning).unwrap()).is_none());
        }
        assert_eq!(in_flight(&kv, &d, at, &tuning).unwrap(), 1);
        release(&kv, &d, ticket);
        assert_eq!(in_flight(&kv, &d, at, &tuning).unwrap(), 0);
    }

    #[test]
    fn the_sweep_deletes_only_counters_no_admission_reads() {
        let (kv, tuning, d) = (MemoryKv::new(), Tuning::default(), name());
        let limit = Throttle {
            max_per_second: Some(10),
            max_in_flight: Some(10),
        };
        let at = Timestamp::from_unix_seconds(T0);
        start_sweep(&kv, &d, at).unwrap();
        let old = admitted(admit(&kv, &d, limit, at, &tuning).unwrap()).unwrap();
        release(&kv, &d, old);
        let now = at.plus(Duration::from_secs(120));
        let live = admitted(admit(&kv, &d, limit, now, &tuning).unwrap()).unwrap();
        // Reading a counter (`increment` by 0) makes it, on every store: the window's too.
        let old = |keys: &[String]| {
            keys.iter()
                .filter(|k| {
                    k.ends_with(&format!(":rate:{T0}")) || k.contains(&format!(":fly:{}", T0 / 5))
                })
                .count()
        };
        assert_eq!(old(&kv.keys()), 3, "{:?}", kv.keys());
        assert!(sweep(&kv, &d, now, &tuning).unwrap() > 0);
        // Every counter the sweep passed is gone (the old second's among them); the live send's
        // are kept.
        let horizon = (now.unix_seconds() - 30) / 5;
        assert_eq!(old(&kv.keys()), 0, "{:?}", kv.keys());
        for key in kv.keys().iter().filter(|k| k.contains(":fly:")) {
            let b: i64 = key.split(':').nth(4).unwrap().parse().unwrap();
            assert!(b > horizon, "{key} is older than the window");
        }
        assert_eq!(in_flight(&kv, &d, now, &tuning).unwrap(), 1);
        release(&kv, &d, live);
        // Bounded per call: far behind, it catches up over several calls.
        let far = now.plus(Duration::from_secs(3_600));
        assert_eq!(sweep(&kv, &d, far, &tuning).unwrap(), SWEEP_SECONDS);
    }
}
