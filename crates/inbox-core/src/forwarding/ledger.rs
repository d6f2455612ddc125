//! The stored side of forwarding, which needs no destination settings: delivery records, the
//! due-attempt queue, dead letters, the registered destination names and the counters. The
//! dispatcher (which sends) and the API component (which reads, and replays) both go through it,
//! so the API never sees the destinations' URLs or signing secrets.

use std::cell::Cell;

use serde::Deserialize;

use super::destinations::DestinationName;
use super::keys;
use super::records::{encode, DeadEntry, Pointer, Record, State};
use super::tuning::{millis, Tuning};
use crate::clock::Clock;
use crate::events::{EventId, EventMeta, StoreError};
use crate::kv::KeyValue;
use crate::time::Timestamp;

/// Why a replay was not queued.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// An attempt to this destination is being sent (or its sender died, until the check takes
    /// it over after the lease): replay once it has an outcome.
    #[error("an attempt to {0} is in flight; replay once it has an outcome")]
    InFlight(DestinationName),
    /// The store failed; nothing or part was queued (replaying again is safe).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Delivery records and the due-attempt queue over a store and a clock.
#[derive(Debug)]
pub struct Ledger<'a, K, C> {
    pub(super) kv: &'a K,
    pub(super) clock: &'a C,
    pub(super) tuning: Tuning,
    floor_known: Cell<bool>,
}

impl<'a, K: KeyValue, C: Clock> Ledger<'a, K, C> {
    /// A ledger with these bucket and margin settings.
    pub fn new(kv: &'a K, clock: &'a C, tuning: Tuning) -> Self {
        Self {
            kv,
            clock,
            tuning,
            floor_known: Cell::new(false),
        }
    }

    /// The record of `e`'s delivery to `d`, if an attempt was ever made.
    pub fn record(&self, e: &EventId, d: &DestinationName) -> Result<Option<Record>, StoreError> {
        let key = keys::record(e, d);
        match self.kv.get(&key)? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|error| StoreError::Corrupt {
                        key,
                        reason: error.to_string(),
                    })
            }
        }
    }

    /// Every delivery of `e` that was ever attempted, one per registered destination.
    pub fn records_of(&self, e: &EventId) -> Result<Vec<Record>, StoreError> {
        let mut records = Vec::new();
        for name in registered(self.kv)? {
            records.extend(self.record(e, &name)?);
        }
        Ok(records)
    }

    /// Queues an event's deliveries again (every one that was attempted, or the one to `only`):
    /// due now, counted as pending, the attempt history kept. Returns the replayed records: none
    /// when there is no such delivery. Refused, writing nothing, while one of them has an
    /// attempt in flight: its outcome would overwrite the replay.
    pub fn replay(
        &self,
        meta: &EventMeta,
        only: Option<&DestinationName>,
    ) -> Result<Vec<Record>, ReplayError> {
        let now = self.clock.now();
        let wanted: Vec<Record> = self
            .records_of(&meta.id)?
            .into_iter()
            .filter(|record| only.is_none_or(|name| *name == record.destination))
            .collect();
        if let Some(busy) = wanted.iter().find(|record| record.in_flight.is_some()) {
            return Err(ReplayError::InFlight(busy.destination.clone()));
        }
        let mut replayed = Vec::new();
        for record in wanted {
            replayed.push(self.requeue(now, record)?);
        }
        Ok(replayed)
    }

    /// Queues one delivery again, due `now`: pending, a new round, the history kept; its due
    /// pointer names the next attempt number, whose claim lets only one sender send it.
    pub(super) fn requeue(&self, now: Timestamp, mut record: Record) -> Result<Record, StoreError> {
        let previous = (!record.attempts.is_empty() || record.replays > 0).then_some(record.state);
        // An ordered destination's line has passed a delivery with an outcome: its replay is
        // sent outside the line.
        record.out_of_line |= record.state != State::Pending;
        record.state = State::Pending;
        record.next_at = Some(now);
        record.replays += 1;
        record.round_start = record.next_attempt;
        let (b, k) = self.slot(now)?;
        let pointer = Pointer {
            event: record.event.clone(),
            destination: record.destination.clone(),
            attempt: record.next_attempt,
            not_before: None,
        };
        self.kv.set_many(&[
            (
                keys::record(&record.event, &record.destination),
                encode(&record)?,
            ),
            (keys::pointer(b, k), encode(&pointer)?),
        ])?;
        self.count_transition(&record.destination, previous, Some(State::Pending));
        Ok(record)
    }

    /// A slot in the bucket of `due`. The first pointer ever written also starts the bucket
    /// floor, just below this replica's now (pointers are only ever written for now or later,
    /// and replicas' clocks agree within the margin), so no bucket is skipped.
    pub(super) fn slot(&self, due: Timestamp) -> Result<(i64, u64), StoreError> {
        if !self.floor_known.get() {
            if self.kv.get(keys::BUCKET_FLOOR)?.is_none() {
                let start = self.bucket_of(self.clock.now()) - self.margin_buckets() - 1;
                self.kv
                    .set(keys::BUCKET_FLOOR, start.to_string().as_bytes())?;
            }
            self.floor_known.set(true);
        }
        let b = self.bucket_of(due);
        let k = u64::try_from(self.kv.increment(&keys::bucket(b), 1)?).unwrap_or_default();
        Ok((b, k))
    }

    pub(super) fn bucket_of(&self, at: Timestamp) -> i64 {
        at.unix_millis() / millis(self.tuning.bucket).max(1)
    }

    pub(super) fn margin_buckets(&self) -> i64 {
        millis(self.tuning.margin) / millis(self.tuning.bucket).max(1) + 1
    }

    /// Moves the per-destination counters for one delivery from `from` to `to`.
    pub(super) fn count_transition(
        &self,
        d: &DestinationName,
        from: Option<State>,
        to: Option<State>,
    ) {
        if from == to {
            return;
        }
        for (state, delta) in [(from, -1), (to, 1)] {
            if let Some(state) = state {
                let key = keys::stats(d.as_str(), state.as_str());
                if let Err(error) = self.kv.increment(&key, delta) {
                    tracing::error!(key, error = %error, "forwarding counter not updated");
                }
            }
        }
    }
}

/// One page of dead letters, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeadLetters {
    /// The dead deliveries.
    pub items: Vec<Record>,
    /// Pass as `before` for the next page, if there may be more.
    pub next: Option<u64>,
}

/// Dead letters, newest first, optionally of one destination: at most `limit`, reading at most
/// `max_scan` index entries (a replayed delivery's old entry is skipped: its record points at
/// its newest dead entry, or is no longer dead).
pub fn dead_letters<K: KeyValue>(
    kv: &K,
    destination: Option<&DestinationName>,
    limit: usize,
    before: Option<u64>,
    max_scan: usize,
) -> Result<DeadLetters, StoreError> {
    let newest = u64::try_from(kv.increment(keys::DEAD_SEQ, 0)?).unwrap_or(0);
    let mut k = before.map_or(newest, |before| before.saturating_sub(1).min(newest));
    let (mut items, mut scanned) = (Vec::new(), 0);
    while k >= 1 && items.len() < limit && scanned < max_scan {
        scanned += 1;
        let key = keys::dead(k);
        k -= 1;
        let Some(entry) = kv
            .get(&key)?
            .and_then(|bytes| serde_json::from_slice::<DeadEntry>(&bytes).ok())
        else {
            continue;
        };
        if destination.is_some_and(|d| *d != entry.destination) {
            continue;
        }
        let record = kv
            .get(&keys::record(&entry.event, &entry.destination))?
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok());
        if let Some(record) = record {
            if record.state == State::Dead && record.dead_entry == Some(k + 1) {
                items.push(record);
            }
        }
    }
    Ok(DeadLetters {
        items,
        next: (k >= 1).then_some(k + 1),
    })
}

/// The keys of an event's deliveries, for retention to remove with the event: each registered
/// destination's record, claims and leases.
pub fn keys_of<K: KeyValue>(kv: &K, event: &EventId) -> Result<Vec<String>, StoreError> {
    let mut doomed = Vec::new();
    for name in registered(kv)? {
        let key = keys::record(event, &name);
        let Some(bytes) = kv.get(&key)? else {
            continue;
        };
        // Only the one field: a small deserializer in the components that prune.
        #[derive(Deserialize)]
        struct Attempts {
            next_attempt: u32,
        }
        let last = serde_json::from_slice::<Attempts>(&bytes).map_or(1, |r| r.next_attempt);
        for n in 1..=last {
            doomed.push(keys::claim(event, &name, n));
            doomed.push(keys::lease(event, &name, n));
        }
        doomed.push(key);
    }
    Ok(doomed)
}

/// The destination names forwarding has registered (configured now or before).
pub fn registered<K: KeyValue>(kv: &K) -> Result<Vec<DestinationName>, StoreError> {
    Ok(kv
        .get(keys::DESTINATIONS)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default())
}

/// The destinations configured `"ordered"`, as the forwarder last recorded its settings.
pub fn ordered_names<K: KeyValue>(kv: &K) -> Result<Vec<DestinationName>, StoreError> {
    Ok(super::settings::load(kv)?
        .into_iter()
        .filter(|s| s.ordered)
        .map(|s| s.name)
        .collect())
}

/// The registered destinations that are disabled for failing (a read per destination), each
/// with how many of its deliveries are parked ([`super::parked::waiting`]).
pub fn disabled<K: KeyValue>(
    kv: &K,
) -> Result<Vec<(String, super::circuit::Disabled, u64)>, StoreError> {
    let mut found = Vec::new();
    for name in registered(kv)? {
        if let Some(record) = super::circuit::disabled(kv, &name)? {
            let waiting = super::parked::waiting(kv, &name)?;
            found.push((name.as_str().to_owned(), record, waiting));
        }
    }
    Ok(found)
}

/// Per-destination counts: pending, delivered, dead (three reads per destination).
pub fn counts<K: KeyValue>(kv: &K) -> Result<Vec<(DestinationName, [u64; 3])>, StoreError> {
    Ok(per_destination(kv, "deliveries")?
        .into_iter()
        .filter_map(|(name, counts)| Some((DestinationName::parse(&name).ok()?, counts)))
        .collect())
}

/// Per registered destination, three counters: `deliveries` (pending, delivered, dead) or
/// `attempts` (delivered, retried, dead).
pub fn per_destination<K: KeyValue>(
    kv: &K,
    kind: &str,
) -> Result<Vec<(String, [u64; 3])>, StoreError> {
    registered(kv)?
        .into_iter()
        .map(|name| {
            let mut counts = [0u64; 3];
            for (slot, state) in counts.iter_mut().zip(State::ALL) {
                let key = match kind {
                    "attempts" => keys::attempts(name.as_str(), attempt_result(state)),
                    _ => keys::stats(name.as_str(), state.as_str()),
                };
                *slot = u64::try_from(kv.increment(&key, 0)?).unwrap_or(0);
            }
            Ok((name.as_str().to_owned(), counts))
        })
        .collect()
}

/// The attempt result an outcome state counts as.
fn attempt_result(state: State) -> &'static str {
    match state {
        State::Pending => "retry",
        State::Delivered => "delivered",
        State::Dead => "dead",
    }
}

pub(super) fn read_decimal<K: KeyValue>(kv: &K, key: &str) -> Result<u64, StoreError> {
    Ok(kv
        .get(key)?
        .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.trim().parse().ok())
        .unwrap_or(0))
}
