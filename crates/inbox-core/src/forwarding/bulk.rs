//! Replaying dead letters in bulk: every dead letter (of one destination, dead within a time
//! range, of events a filter matches), a bounded batch per call, resumable from a cursor.
//!
//! A call walks the dead-letter index from the newest entry down (or from the cursor it is
//! given), queues each selected dead letter again exactly as a replay by id does
//! ([`Ledger::replay`]), and stops after `limit` replays or `max_scan` index entries, answering
//! where to go on from. Resuming is safe at any point, even with a cursor handed out before a
//! crash: a dead letter that was queued again is no longer dead (its record is pending, delivered,
//! or dead again under a newer index entry, above any cursor of this pass), so it is passed over.
//! Two calls over the same entries at once queue each dead letter once: a per-entry claim counter
//! (`keys::revived`) lets one of them have it. Either way, what reaches a destination is bounded
//! by the attempt claims: one attempt number is sent once.

use super::destinations::{DestinationName, Filter};
use super::keys;
use super::ledger::Ledger;
use super::records::{DeadEntry, Record, State};
use crate::clock::Clock;
use crate::events::{EventStore, StoreError};
use crate::kv::KeyValue;
use crate::time::Timestamp;

/// Which dead letters a bulk replay takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only this destination's (`None`: every destination's).
    pub destination: Option<DestinationName>,
    /// Only those that became dead letters at or after this.
    pub since: Option<Timestamp>,
    /// Only those that became dead letters before this (at or before `since`: none).
    pub until: Option<Timestamp>,
    /// Only those of events this filter matches (no patterns: every event).
    pub filter: Filter,
}

/// Index entries a bulk replay passed over, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// The destination, the time range or the filter does not select it.
    pub not_matching: u32,
    /// Not a dead letter any more: replayed already (by an earlier call, another client, or by
    /// id), delivered since, or dead again under a newer entry (which counts instead).
    pub no_longer_dead: u32,
    /// Its event was deleted or pruned: there is nothing to send.
    pub event_gone: u32,
    /// Its record or its event's metadata is corrupt (left for a person to look at).
    pub unreadable: u32,
}

/// What one bulk replay call did.
#[derive(Debug, Clone, Default)]
pub struct BulkReplay {
    /// The deliveries queued again (due now), newest dead letter first.
    pub replayed: Vec<Record>,
    /// What it passed over.
    pub skipped: Skipped,
    /// Index entries read.
    pub scanned: u32,
    /// Where to go on from (pass as `before`), while older entries remain.
    pub next: Option<u64>,
}

impl<K: KeyValue, C: Clock> Ledger<'_, K, C> {
    /// Queues again at most `limit` dead letters that `selection` takes, reading at most
    /// `max_scan` index entries below `before` (`None`: from the newest). With `since`, the walk
    /// ends at the first entry older than `since` by more than the clock margin: the index is in
    /// the order dead letters were recorded, so every older entry is older still.
    pub fn replay_dead(
        &self,
        selection: &Selection,
        limit: usize,
        before: Option<u64>,
        max_scan: usize,
    ) -> Result<BulkReplay, StoreError> {
        let newest = u64::try_from(self.kv.increment(keys::DEAD_SEQ, 0)?).unwrap_or(0);
        let mut k = before.map_or(newest, |before| before.saturating_sub(1).min(newest));
        let mut done = BulkReplay::default();
        let now = self.clock.now();
        let events = EventStore::new(self.kv, self.clock);
        while k >= 1 && done.replayed.len() < limit && (done.scanned as usize) < max_scan {
            done.scanned += 1;
            let at = k;
            k -= 1;
            let Some(entry) = self.dead_entry(at)? else {
                // Numbered, never written (its writer failed): no dead letter.
                done.skipped.no_longer_dead += 1;
                continue;
            };
            if selection.since.is_some_and(|since| {
                entry.at.plus(self.tuning.margin).unix_millis() < since.unix_millis()
            }) {
                // Older than the range by more than any replica's clock is off: so is the rest.
                done.skipped.not_matching += 1;
                k = 0;
                break;
            }
            let in_range = selection.since.is_none_or(|since| entry.at >= since)
                && selection.until.is_none_or(|until| entry.at < until);
            if !in_range
                || selection
                    .destination
                    .as_ref()
                    .is_some_and(|d| *d != entry.destination)
            {
                done.skipped.not_matching += 1;
                continue;
            }
            match self.dead_record(&entry, at)? {
                Read::Found(_) => {}
                Read::Unreadable => {
                    done.skipped.unreadable += 1;
                    continue;
                }
                Read::Absent => {
                    done.skipped.no_longer_dead += 1;
                    continue;
                }
            }
            let meta = match events.meta(&entry.event) {
                Ok(Some(meta)) => meta,
                Ok(None) => {
                    done.skipped.event_gone += 1;
                    continue;
                }
                Err(StoreError::Corrupt { .. }) => {
                    done.skipped.unreadable += 1;
                    continue;
                }
                Err(error) => return Err(error),
            };
            if !selection.filter.matches(&meta) {
                done.skipped.not_matching += 1;
                continue;
            }
            // Ours alone from here; read again, since a replay by id may have come first.
            if self.kv.increment(&keys::revived(at), 1)? != 1 {
                done.skipped.no_longer_dead += 1;
                continue;
            }
            let Read::Found(record) = self.dead_record(&entry, at)? else {
                done.skipped.no_longer_dead += 1;
                continue;
            };
            match self.requeue(now, record) {
                Ok(record) => done.replayed.push(record),
                Err(error) => {
                    // Still dead: give the claim back so a later call can replay it (if this
                    // fails too, a replay by id still can; the list still shows it).
                    if let Err(again) = self.kv.increment(&keys::revived(at), -1) {
                        tracing::error!(entry = at, error = %again, "bulk replay claim kept");
                    }
                    return Err(error);
                }
            }
        }
        done.next = (k >= 1).then_some(k + 1);
        Ok(done)
    }

    fn dead_entry(&self, k: u64) -> Result<Option<DeadEntry>, StoreError> {
        Ok(self
            .kv
            .get(&keys::dead(k))?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// The delivery `entry` (number `k`) names, if that entry is its current dead letter.
    fn dead_record(&self, entry: &DeadEntry, k: u64) -> Result<Read, StoreError> {
        match self.record(&entry.event, &entry.destination) {
            Ok(Some(record)) if record.state == State::Dead && record.dead_entry == Some(k) => {
                Ok(Read::Found(record))
            }
            Ok(_) => Ok(Read::Absent),
            Err(StoreError::Corrupt { .. }) => Ok(Read::Unreadable),
            Err(error) => Err(error),
        }
    }
}

/// A dead letter's record, as read.
enum Read {
    /// Dead, under the entry read.
    Found(Record),
    /// Gone, or no longer dead under that entry.
    Absent,
    /// Stored, but not a record this version can read.
    Unreadable,
}
