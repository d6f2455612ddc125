//! Circuit breaking per destination: one that keeps failing is disabled, its deliveries kept due
//! (not attempted, not counted, not dead-lettered) until an operator re-enables it through the
//! API (`POST /api/destinations/{name}/enable`); it then drains what waited, in the usual way.
//!
//! `"disable_after_failures": n` disables it after `n` failed attempts in a row (anything but
//! a 2xx: an error status, a timeout, a refused connection); `"disable_after_seconds": s` once it
//! has failed for `s` seconds with nothing delivered in between (the first failure of the run
//! `s` seconds ago). Either, both (the first reached wins) or neither (the default: never
//! disabled). A delivery that succeeds ends the run. A throttled delivery is not an attempt and
//! counts for nothing.
//!
//! Built on `increment` alone, like the claims (docs/dedup.md), across every replica:
//!
//! | key | value |
//! |---|---|
//! | `fwd:circuit:{d}:failures` | counter: failed attempts, ever |
//! | `fwd:circuit:{d}:base` | that counter when the run began (a success, or a re-enable, sets it) |
//! | `fwd:circuit:{d}:since` | the counter's value at the run's first failure, a newline, when (Unix ms) |
//! | `fwd:circuit:{d}` | disabled: since when (RFC 3339), a newline, why; absent: enabled |
//!
//! A run's length is the counter minus the base, so a success and a failure racing never lose a
//! failure; the time a run began is trusted only when it belongs to this run (its counter value
//! is above the base), else the run is taken to begin now (later, never sooner).
//!
//! While disabled, [`super::dispatch`] holds the destination's attempts before the claim, like a
//! throttled one's, and parks their due pointers aside ([`super::parked`]): a long-disabled
//! destination costs nothing per round, and the first round after its re-enable starts draining
//! what waited.

use std::time::Duration;

use super::destinations::DestinationName;
use super::keys;
use crate::kv::{KeyValue, KvError};
use crate::time::Timestamp;

/// The most failed attempts `disable_after_failures` may name.
pub const MAX_FAILURES: u32 = 100_000;
/// The most seconds `disable_after_seconds` may name (30 days).
pub const MAX_SECONDS: u32 = 30 * 24 * 3600;
/// When a held attempt of a disabled destination is asked about again at the earliest (its
/// pointer is parked, so in practice: once it is enabled).
pub const RECHECK: Duration = Duration::from_secs(30);

/// When a destination is disabled (none set: never).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Circuit {
    /// After this many failed attempts in a row.
    pub after_failures: Option<u32>,
    /// After failing for this many seconds with nothing delivered.
    pub after_seconds: Option<u32>,
}

impl Circuit {
    /// Whether either threshold is set.
    pub fn is_set(&self) -> bool {
        self.after_failures.is_some() || self.after_seconds.is_some()
    }
}

/// A disabled destination's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    /// When it was disabled.
    pub since: Timestamp,
    /// Why (the threshold it reached).
    pub reason: String,
}

impl Disabled {
    fn encode(&self) -> String {
        format!("{}\n{}", self.since.to_rfc3339_millis(), self.reason)
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (since, reason) = text.split_once('\n')?;
        Some(Self {
            since: Timestamp::parse_rfc3339(since).ok()?,
            reason: reason.to_owned(),
        })
    }
}

/// Whether `d` is disabled, and since when and why. A record that does not parse still disables
/// (it was written as a disable), with its time unknown.
pub fn disabled(kv: &impl KeyValue, d: &DestinationName) -> Result<Option<Disabled>, KvError> {
    Ok(kv.get(&keys::circuit(d))?.map(|bytes| {
        Disabled::decode(&bytes).unwrap_or(Disabled {
            since: Timestamp::from_unix_millis(0),
            reason: "unreadable record".into(),
        })
    }))
}

fn decimal(kv: &impl KeyValue, key: &str) -> Result<i64, KvError> {
    Ok(kv
        .get(key)?
        .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.trim().parse().ok())
        .unwrap_or(0))
}

/// What counting a failure found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Below every threshold.
    Failing,
    /// This failure disabled it (the record written).
    Disabled(Disabled),
    /// A threshold is reached and it was already disabled (by another instance or replica, or
    /// by an earlier failure of a send that was under way): send it nothing more either.
    AlreadyDisabled,
}

/// Counts a failed attempt to `d` at `now`; says whether it is disabled now.
pub fn failed(
    kv: &impl KeyValue,
    d: &DestinationName,
    circuit: Circuit,
    now: Timestamp,
) -> Result<Counted, KvError> {
    if !circuit.is_set() {
        return Ok(Counted::Failing);
    }
    let count = kv.increment(&keys::circuit_failures(d), 1)?;
    let base = decimal(kv, &keys::circuit_base(d))?;
    let run = (count - base).max(1);
    let began = match kv
        .get(&keys::circuit_since(d))?
        .as_deref()
        .and_then(run_start)
    {
        Some((at_count, at)) if at_count > base && at_count <= count && run > 1 => at,
        _ => {
            kv.set(
                &keys::circuit_since(d),
                format!("{count}\n{}", now.unix_millis()).as_bytes(),
            )?;
            now
        }
    };
    let failing_for = now.unix_seconds().saturating_sub(began.unix_seconds());
    let reason = if circuit.after_failures.is_some_and(|n| run >= i64::from(n)) {
        let s = if run == 1 { "" } else { "s" };
        format!("{run} failed attempt{s} in a row")
    } else if circuit
        .after_seconds
        .is_some_and(|s| failing_for >= i64::from(s))
    {
        format!("failing for {failing_for} s ({run} failed attempts in a row)")
    } else {
        return Ok(Counted::Failing);
    };
    if disabled(kv, d)?.is_some() {
        return Ok(Counted::AlreadyDisabled);
    }
    let record = Disabled { since: now, reason };
    kv.set(&keys::circuit(d), record.encode().as_bytes())?;
    tracing::warn!(
        destination = d.as_str(),
        reason = record.reason.as_str(),
        "destination disabled: its deliveries wait until it is re-enabled"
    );
    Ok(Counted::Disabled(record))
}

fn run_start(bytes: &[u8]) -> Option<(i64, Timestamp)> {
    let (count, at) = std::str::from_utf8(bytes).ok()?.split_once('\n')?;
    Some((
        count.parse().ok()?,
        Timestamp::from_unix_millis(at.parse().ok()?),
    ))
}

/// Counts a delivered attempt to `d`: the run of failures, if any, is over.
pub fn succeeded(kv: &impl KeyValue, d: &DestinationName, circuit: Circuit) -> Result<(), KvError> {
    if !circuit.is_set() {
        return Ok(());
    }
    let count = kv.increment(&keys::circuit_failures(d), 0)?;
    if count > decimal(kv, &keys::circuit_base(d))? {
        kv.set(&keys::circuit_base(d), count.to_string().as_bytes())?;
    }
    Ok(())
}

/// Re-enables `d` with a fresh run; returns the record it removed (`None`: it was enabled).
pub fn enable(kv: &impl KeyValue, d: &DestinationName) -> Result<Option<Disabled>, KvError> {
    let was = disabled(kv, d)?;
    if was.is_some() {
        // The run restarts before the record goes: a failure counted in between sees a short run.
        let count = kv.increment(&keys::circuit_failures(d), 0)?;
        kv.set(&keys::circuit_base(d), count.to_string().as_bytes())?;
        kv.delete(&keys::circuit(d))?;
        tracing::info!(destination = d.as_str(), "destination re-enabled");
    }
    Ok(was)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::testing::{FaultyKv, Op};
    use crate::kv::MemoryKv;

    fn name() -> DestinationName {
        DestinationName::parse("billing").unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_seconds(1_800_000_000 + seconds)
    }

    /// A failure at each of `seconds`, none of which disables the destination.
    fn fails_without_disabling<K: KeyValue>(kv: &K, circuit: Circuit, seconds: &[i64]) {
        for &s in seconds {
            let counted = failed(kv, &name(), circuit, at(s)).unwrap();
            assert_eq!(counted, Counted::Failing, "the failure at {s} s");
        }
    }

    #[test]
    fn unset_counts_nothing_and_never_disables() {
        let kv = MemoryKv::new();
        let seconds: Vec<i64> = (0..50).collect();
        fails_without_disabling(&kv, Circuit::default(), &seconds);
        succeeded(&kv, &name(), Circuit::default()).unwrap();
        assert_eq!(kv.get(&keys::circuit_failures(&name())).unwrap(), None);
        assert_eq!(disabled(&kv, &name()).unwrap(), None);
    }

    #[test]
    fn disabled_after_n_failures_in_a_row_and_a_success_ends_the_run() {
        let kv = MemoryKv::new();
        let circuit = Circuit {
            after_failures: Some(3),
            after_seconds: None,
        };
        fails_without_disabling(&kv, circuit, &[0, 1]);
        succeeded(&kv, &name(), circuit).unwrap();
        fails_without_disabling(&kv, circuit, &[2, 3]);
        assert_eq!(disabled(&kv, &name()).unwrap(), None);
        let Counted::Disabled(tripped) = failed(&kv, &name(), circuit, at(4)).unwrap() else {
            panic!("not disabled")
        };
        assert_eq!(tripped.reason, "3 failed attempts in a row");
        assert_eq!(tripped.since, at(4));
        assert_eq!(disabled(&kv, &name()).unwrap(), Some(tripped.clone()));
        // Failures of sends already under way do not rewrite it, and say it is disabled.
        assert_eq!(
            failed(&kv, &name(), circuit, at(9)).unwrap(),
            Counted::AlreadyDisabled
        );
        assert_eq!(disabled(&kv, &name()).unwrap(), Some(tripped.clone()));
        // Re-enabled: a fresh run.
        assert_eq!(enable(&kv, &name()).unwrap(), Some(tripped));
        assert_eq!(disabled(&kv, &name()).unwrap(), None);
        assert_eq!(enable(&kv, &name()).unwrap(), None);
        fails_without_disabling(&kv, circuit, &[10, 11]);
        assert!(matches!(
            failed(&kv, &name(), circuit, at(12)).unwrap(),
            Counted::Disabled(_)
        ));
    }

    #[test]
    fn disabled_after_failing_for_a_while_with_nothing_delivered() {
        let kv = MemoryKv::new();
        let circuit = Circuit {
            after_failures: None,
            after_seconds: Some(600),
        };
        fails_without_disabling(&kv, circuit, &[0, 599]);
        // A success restarts the clock.
        succeeded(&kv, &name(), circuit).unwrap();
        fails_without_disabling(&kv, circuit, &[600, 1199]);
        let Counted::Disabled(tripped) = failed(&kv, &name(), circuit, at(1200)).unwrap() else {
            panic!("not disabled")
        };
        assert_eq!(
            tripped.reason,
            "failing for 600 s (3 failed attempts in a row)"
        );
        // A single failure, however old the last success, does not trip it: a run needs time.
        let kv = MemoryKv::new();
        fails_without_disabling(&kv, circuit, &[100_000]);
    }

    #[test]
    fn a_stale_run_start_is_not_trusted() {
        let kv = MemoryKv::new();
        let circuit = Circuit {
            after_failures: None,
            after_seconds: Some(600),
        };
        fails_without_disabling(&kv, circuit, &[0]);
        succeeded(&kv, &name(), circuit).unwrap();
        // The new run's first failure could not record when it began.
        let no_since = FaultyKv::new(&kv, |op, key, _| op == Op::Set && key.ends_with(":since"));
        assert!(failed(&no_since, &name(), circuit, at(700)).is_err());
        // The next one finds the old run's start and starts the clock now instead.
        fails_without_disabling(&kv, circuit, &[800, 1399]);
        assert!(matches!(
            failed(&kv, &name(), circuit, at(1400)).unwrap(),
            Counted::Disabled(_)
        ));
    }

    #[test]
    fn a_corrupt_record_still_disables() {
        let kv = MemoryKv::new();
        kv.set(&keys::circuit(&name()), b"\xff").unwrap();
        let record = disabled(&kv, &name()).unwrap().unwrap();
        assert_eq!(record.reason, "unreadable record");
        assert!(enable(&kv, &name()).unwrap().is_some());
        assert_eq!(disabled(&kv, &name()).unwrap(), None);
    }
}
