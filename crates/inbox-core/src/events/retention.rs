//! Retention: the store stays bounded, with no scheduler of its own.
//!
//! - **By count** (`retention_max_events` = K): the request that stored sequence number `s`
//!   removes `s - K` once it has answered ([`EventStore::prune_for`]). Every sequence number has
//!   exactly one such request, so this needs no coordination and keeps the store at K events at
//!   any ingestion rate (sequence numbers that failed or were deleted count until theirs comes
//!   up). A sweep catches what such a request did not get to. Those requests also forget
//!   expired tombstones (below), twice as fast as they make them, so no rate of pruning outruns
//!   the sweeps' bounded steps.
//! - **By age** (`retention_processed_days`, `retention_pending_days`): [`EventStore::sweep`]
//!   walks up from the oldest sequence number, a bounded number of entries per call, removing
//!   what has expired. The dispatch tick runs it (`POST /api/dispatch`, which `scripts/dev` and
//!   the cluster's ticker call every few seconds). The floor it walks from stops at the first
//!   event that must be kept; expired events behind it within the call's window are removed
//!   anyway, further ones when the floor moves on.
//! - **Dedup after the body is gone** (`retention_dedup_days`): an event removed before
//!   `received_at + dedup` keeps its meta record (the dedup record: a redelivery is answered
//!   "duplicate") and gets a tombstone in a queue of its own; the sweep removes both once they
//!   expire.
//!
//! Removal is one atomic `delete_many`; the counters move once, through the same delete claim
//! the API's delete uses. Several sweeps at once (replicas, overlapping ticks) are safe, only
//! wasteful: each starts from the floor it read and moves it only over entries it examined.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::keys;
use super::model::{EventId, EventMeta, EventStatus};
use super::store::{encode, EventStore, StoreError};
use crate::clock::Clock;
use crate::config::Retention;
use crate::kv::KeyValue;
use crate::time::Timestamp;

/// Why an event was removed by retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PruneReason {
    /// Processed, and marked so more than `retention_processed_days` ago.
    ProcessedAge,
    /// Pending, and received more than `retention_pending_days` ago.
    PendingAge,
    /// More than `retention_max_events` newer sequence numbers exist.
    MaxEvents,
}

impl PruneReason {
    /// Every reason.
    pub const ALL: [PruneReason; 3] = [Self::ProcessedAge, Self::PendingAge, Self::MaxEvents];

    /// The name used in keys, stats and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProcessedAge => "processed_age",
            Self::PendingAge => "pending_age",
            Self::MaxEvents => "max_events",
        }
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Index entries and tombstones read.
    pub examined: usize,
    /// Events removed.
    pub pruned: usize,
    /// Dedup records removed (their dedup window passed).
    pub forgotten: usize,
    /// Another sweep had just started, so this one did nothing.
    pub skipped: bool,
}

/// What is left to forget of a pruned event, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tombstone {
    id: EventId,
    seq: u64,
    #[serde(default)]
    generation: u64,
    /// When it may go.
    until: Timestamp,
    /// Whether the dedup record (meta, claims) is still there; else only the delete claim is.
    dedup: bool,
}

/// How long a pruned event's delete claim outlives it, so that sweeps racing on it count it once.
const CLAIM_GRACE: Duration = Duration::from_secs(60);

/// The count rule forgets expired tombstones on every `TOMBS_EVERY`-th sequence number, up to
/// `TOMBS_PER_CALL` of them: two per request on average, one per request is made.
const TOMBS_EVERY: u64 = 8;
const TOMBS_PER_CALL: usize = 16;

/// How long a sweep keeps other sweeps away.
const SWEEP_HOLD: Duration = Duration::from_secs(2);

/// Why `meta` must go now, if it must.
fn expiry(
    meta: &EventMeta,
    retention: &Retention,
    now: Timestamp,
    over_cap: bool,
) -> Option<PruneReason> {
    let processed_expired = meta.status == EventStatus::Processed
        && meta
            .processed_at
            .unwrap_or(meta.received_at)
            .plus(retention.processed)
            <= now;
    let pending_expired =
        meta.status == EventStatus::Pending && meta.received_at.plus(retention.pending) <= now;
    if processed_expired {
        Some(PruneReason::ProcessedAge)
    } else if pending_expired {
        Some(PruneReason::PendingAge)
    } else if over_cap {
        Some(PruneReason::MaxEvents)
    } else {
        None
    }
}

impl<K: KeyValue, C: Clock> EventStore<K, C> {
    /// The count rule, for the request that stored sequence number `seq`: removes `seq - K`.
    /// Returns whether it removed an event.
    pub fn prune_for(&self, seq: u64, retention: &Retention) -> Result<bool, StoreError> {
        let Some(cap) = retention.max_events else {
            return Ok(false);
        };
        let Some(target) = seq.checked_sub(cap).filter(|target| *target >= 1) else {
            return Ok(false);
        };
        let pruned = match self.summary_at(target)? {
            Some(meta) => {
                self.prune(&meta, PruneReason::MaxEvents, retention)?;
                true
            }
            None => false,
        };
        // Every pruned event leaves a tombstone; the requests that make them forget expired
        // ones too (up to TOMBS_PER_CALL on every TOMBS_EVERY-th sequence number, so more than
        // one per request on average), or sustained pruning faster than sweeps run would pile
        // them up.
        if seq.is_multiple_of(TOMBS_EVERY) {
            self.sweep_tombstones(TOMBS_PER_CALL, self.clock.now(), &mut Swept::default())?;
        }
        Ok(pruned)
    }

    /// Removes expired events and expired dedup records, reading at most `budget` of each.
    /// Does nothing while another sweep started less than 2 s ago, unless `force`.
    pub fn sweep(
        &self,
        retention: &Retention,
        budget: usize,
        force: bool,
    ) -> Result<Swept, StoreError> {
        let now = self.clock.now();
        if !force {
            let hold = i64::try_from(SWEEP_HOLD.as_millis()).unwrap_or(i64::MAX);
            let started = self.read_decimal(keys::SWEEP)?;
            if started.is_some_and(|started| now.unix_millis().saturating_sub(started) < hold) {
                return Ok(Swept {
                    skipped: true,
                    ..Swept::default()
                });
            }
        }
        self.kv
            .set(keys::SWEEP, now.unix_millis().to_string().as_bytes())?;
        let mut swept = Swept::default();
        self.sweep_events(retention, budget, now, &mut swept)?;
        self.sweep_tombstones(budget, now, &mut swept)?;
        Ok(swept)
    }

    fn sweep_events(
        &self,
        retention: &Retention,
        budget: usize,
        now: Timestamp,
        swept: &mut Swept,
    ) -> Result<(), StoreError> {
        let floor = self.read_counter_text(keys::FLOOR)?;
        let newest = u64::try_from(self.kv.increment(keys::SEQ, 0)?).unwrap_or(0);
        let last_over_cap = retention
            .max_events
            .map_or(0, |cap| newest.saturating_sub(cap));
        let (mut seq, mut advanced_to, mut contiguous, mut examined) = (floor, floor, true, 0);
        while examined < budget && seq < newest {
            seq += 1;
            examined += 1;
            let removable = match self.summary_at(seq)? {
                None => true,
                Some(meta) => match expiry(&meta, retention, now, seq <= last_over_cap) {
                    Some(reason) => {
                        self.prune(&meta, reason, retention)?;
                        swept.pruned += 1;
                        true
                    }
                    None => false,
                },
            };
            contiguous &= removable;
            if contiguous {
                advanced_to = seq;
            }
        }
        swept.examined += examined;
        if advanced_to > floor {
            self.kv
                .set(keys::FLOOR, advanced_to.to_string().as_bytes())?;
        }
        Ok(())
    }

    fn sweep_tombstones(
        &self,
        budget: usize,
        now: Timestamp,
        swept: &mut Swept,
    ) -> Result<(), StoreError> {
        let floor = self.read_counter_text(keys::TOMB_FLOOR)?;
        let newest = u64::try_from(self.kv.increment(keys::TOMB_SEQ, 0)?).unwrap_or(0);
        let (mut n, mut examined) = (floor, 0);
        while examined < budget && n < newest {
            let key = keys::tombstone(n + 1);
            examined += 1;
            if let Some(bytes) = self.kv.get(&key)? {
                match serde_json::from_slice::<Tombstone>(&bytes) {
                    // Tombstones are made in pruning order, and expire roughly in it (up to the
                    // dedup window): stop at the first one still needed.
                    Ok(tomb) if tomb.until > now => break,
                    Ok(tomb) if tomb.dedup => {
                        self.forget(&tomb.id, tomb.seq, tomb.generation, &[key])?;
                        swept.forgotten += 1;
                    }
                    Ok(tomb) => {
                        self.kv
                            .delete_many(&[keys::delete_claim(&tomb.id, tomb.seq), key])?;
                    }
                    Err(error) => {
                        tracing::error!(key, reason = %error, "corrupt tombstone removed");
                        self.kv.delete(&key)?;
                    }
                }
            }
            n += 1;
        }
        swept.examined += examined;
        if n > floor {
            self.kv.set(keys::TOMB_FLOOR, n.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Removes an event for `reason`: its body and index entry at once, and its meta record
    /// (the dedup record) and claim keys too unless its dedup window is still open. A tombstone
    /// remembers what is left (the dedup record until the window passes; the delete claim for a
    /// minute, so sweeps racing on the event count it once). Counted once, through that claim.
    fn prune(
        &self,
        meta: &EventMeta,
        reason: PruneReason,
        retention: &Retention,
    ) -> Result<(), StoreError> {
        let first = self
            .kv
            .increment(&keys::delete_claim(&meta.id, meta.seq), 1)?
            == 1;
        let now = self.clock.now();
        let dedup_until = meta.received_at.plus(retention.dedup);
        let dedup = dedup_until > now;
        let n = u64::try_from(self.kv.increment(keys::TOMB_SEQ, 1)?).unwrap_or_default();
        let tomb = Tombstone {
            id: meta.id.clone(),
            seq: meta.seq,
            generation: meta.generation,
            until: if dedup {
                dedup_until
            } else {
                now.plus(CLAIM_GRACE)
            },
            dedup,
        };
        self.kv.set(&keys::tombstone(n), &encode(&tomb)?)?;
        if dedup {
            self.kv
                .delete_many(&[keys::body(&meta.id), keys::index(meta.seq)])?;
        } else {
            self.forget(&meta.id, meta.seq, meta.generation, &[])?;
        }
        if first {
            self.bump(meta.provider, meta.status, -1);
            if let Err(error) = self.kv.increment(&keys::pruned(reason.as_str()), 1) {
                tracing::error!(error = %error, "pruned counter not updated");
            }
        }
        Ok(())
    }

    /// Removes every record of one incarnation of an event (and `also`), in one atomic batch:
    /// a redelivery after this is a new delivery. The delete claim is the tombstone's to remove.
    fn forget(
        &self,
        id: &EventId,
        seq: u64,
        generation: u64,
        also: &[String],
    ) -> Result<(), StoreError> {
        let mut doomed = vec![
            keys::meta(id),
            keys::body(id),
            keys::index(seq),
            keys::generation(id),
            keys::processed_claim(id, seq),
        ];
        for g in 0..=generation {
            doomed.push(keys::claim(id, g));
            doomed.push(keys::lease(id, g));
        }
        // Its deliveries to destinations, and their claims.
        doomed.extend(crate::forwarding::ledger::keys_of(&self.kv, id)?);
        doomed.extend_from_slice(also);
        if also.iter().any(|key| key.starts_with("events:tomb:")) {
            doomed.push(keys::delete_claim(id, seq));
        }
        Ok(self.kv.delete_many(&doomed)?)
    }

    /// Pruned counts per reason (three reads).
    pub fn pruned(&self) -> Result<Vec<(PruneReason, u64)>, StoreError> {
        PruneReason::ALL
            .iter()
            .map(|reason| {
                let count = self.kv.increment(&keys::pruned(reason.as_str()), 0)?;
                Ok((*reason, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }

    /// A decimal written with `set` (not a counter); absent or unreadable is `None`.
    fn read_decimal(&self, key: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .kv
            .get(key)?
            .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.trim().parse().ok()))
    }

    fn read_counter_text(&self, key: &str) -> Result<u64, StoreError> {
        Ok(self
            .read_decimal(key)?
            .and_then(|value| u64::try_from(value).ok())
            .unwrap_or(0))
    }
}
