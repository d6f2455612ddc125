//! The event store: deduplicated ingestion, listing, status changes, deletion and counters, on
//! nothing but [`KeyValue`]. The protocol is described in the [module docs](crate::events).

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cursor::Cursor;
use super::ingest::RELEASED;
use super::keys;
use super::model::{
    EventAction, EventBody, EventId, EventMeta, EventStatus, EventType, Provider, SourceLabel,
    StoredEvent,
};
use crate::clock::Clock;
use crate::kv::{KeyValue, KvError};
use crate::time::Timestamp;

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The key-value store failed. Nothing visible was half-written; retrying is safe.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// A concurrent request is storing the same delivery and has not finished yet.
    #[error("a concurrent request is storing the same delivery")]
    InProgress,
    /// A stored record does not parse (written by something other than this code).
    #[error("stored record `{key}` is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// The parse error.
        reason: String,
    },
}

/// The result of a status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    /// The status changed; the updated metadata.
    Updated(EventMeta),
    /// The event already had that status; nothing was written.
    Unchanged(EventMeta),
    /// Processed events cannot return to pending.
    Illegal,
    /// The event was deleted meanwhile.
    Gone,
}

/// Timing and bounds of the store's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// After this long an unfinished claim is considered abandoned and may be taken over.
    pub lease: Duration,
    /// How long a duplicate waits for the concurrent original to be committed.
    pub wait_for_commit: Duration,
    /// The first pause while waiting; it doubles up to 200 ms.
    pub poll_interval: Duration,
    /// An owner does not commit later than `lease - commit_margin` after its claim (a
    /// contender could be taking over by then); it answers "in progress" instead.
    pub commit_margin: Duration,
    /// Most index entries one listing request reads (returned plus filtered out).
    pub max_scan: usize,
    /// How far replica clocks may disagree; bounds the `since` early stop.
    pub clock_skew: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            wait_for_commit: Duration::from_secs(5),
            poll_interval: Duration::from_millis(5),
            commit_margin: Duration::from_secs(5),
            max_scan: 500,
            clock_skew: Duration::from_secs(300),
        }
    }
}

/// Which event types a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TypeFilter {
    /// Every event.
    #[default]
    Any,
    /// Only events of this type.
    Is(EventType),
    /// Only events whose delivery named a type.
    Typed,
    /// Only events whose delivery named no type.
    Untyped,
    /// No event (a type was asked for together with "no type").
    Never,
}

impl TypeFilter {
    fn matches(&self, event_type: Option<&EventType>) -> bool {
        match self {
            Self::Any => true,
            Self::Is(wanted) => event_type == Some(wanted),
            Self::Typed => event_type.is_some(),
            Self::Untyped => event_type.is_none(),
            Self::Never => false,
        }
    }
}

/// Which events a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this provider.
    pub provider: Option<Provider>,
    /// Which event types.
    pub event_type: TypeFilter,
    /// Only this action (GitHub's `action`).
    pub action: Option<EventAction>,
    /// Only events verified by the secret with this label.
    pub source: Option<SourceLabel>,
    /// Only this status.
    pub status: Option<EventStatus>,
    /// Received at or after.
    pub since: Option<Timestamp>,
    /// Received before.
    pub until: Option<Timestamp>,
}

impl ListFilter {
    fn matches(&self, meta: &EventMeta) -> bool {
        self.provider.is_none_or(|p| p == meta.provider)
            && self.event_type.matches(meta.event_type.as_ref())
            && self
                .action
                .as_ref()
                .is_none_or(|a| Some(a) == meta.action.as_ref())
            && self
                .source
                .as_ref()
                .is_none_or(|s| Some(s) == meta.source.as_ref())
            && self.status.is_none_or(|s| s == meta.status)
            && self.since.is_none_or(|since| meta.received_at >= since)
            && self.until.is_none_or(|until| meta.received_at < until)
    }
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The events.
    pub items: Vec<EventMeta>,
    /// Where the next page starts, if there may be more.
    pub next: Option<Cursor>,
    /// How many index entries were read (returned plus skipped).
    pub scanned: usize,
}

/// Event counts for one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Pending events.
    pub pending: u64,
    /// Processed events.
    pub processed: u64,
}

/// The event store over a key-value store and a clock.
#[derive(Debug)]
pub struct EventStore<K, C> {
    pub(super) kv: K,
    pub(super) clock: C,
    pub(super) tuning: Tuning,
}

impl<K: KeyValue, C: Clock> EventStore<K, C> {
    /// A store with the default tuning.
    pub fn new(kv: K, clock: C) -> Self {
        Self::with_tuning(kv, clock, Tuning::default())
    }

    /// A store with explicit tuning (tests shorten the lease).
    pub fn with_tuning(kv: K, clock: C, tuning: Tuning) -> Self {
        Self { kv, clock, tuning }
    }

    // ---------------------------------------------------------------- reading

    /// The metadata of an event.
    pub fn meta(&self, id: &EventId) -> Result<Option<EventMeta>, StoreError> {
        self.read_json(&keys::meta(id))
    }

    /// A whole event. An event whose body is missing (a delete racing a read) is absent.
    pub fn get(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        let Some(meta) = self.meta(id)? else {
            return Ok(None);
        };
        Ok(self
            .read_json::<EventBody>(&keys::body(id))?
            .map(|body| StoredEvent { meta, body }))
    }

    /// A page of events, newest first, matching `filter`.
    ///
    /// Reads at most `max_scan` index entries (and one meta record per entry that points
    /// somewhere). When the page is full, or the scan bound is reached first, `next` says where
    /// to continue.
    pub fn list(
        &self,
        filter: &ListFilter,
        limit: usize,
        after: Option<Cursor>,
    ) -> Result<Page, StoreError> {
        let empty_window =
            matches!((filter.since, filter.until), (Some(since), Some(until)) if since >= until);
        if empty_window || filter.event_type == TypeFilter::Never {
            // Nothing can match: nothing to read.
            return Ok(Page {
                items: Vec::new(),
                next: None,
                scanned: 0,
            });
        }
        let mut position = match after {
            Some(cursor) => cursor.before_seq.saturating_sub(1),
            None => u64::try_from(self.kv.increment(keys::SEQ, 0)?).unwrap_or_default(),
        };
        let stop_before = filter
            .since
            .map(|since| since.minus(self.tuning.clock_skew));
        let mut items = Vec::new();
        let mut scanned = 0;
        let mut exhausted = false;
        while position >= 1 && items.len() < limit && scanned < self.tuning.max_scan {
            let seq = position;
            position -= 1;
            scanned += 1;
            let Some(meta) = self.summary_at(seq)? else {
                continue;
            };
            if stop_before.is_some_and(|stop| meta.received_at < stop) {
                // Everything further down is older still (sequence order follows arrival, up
                // to the replicas' clock skew).
                exhausted = true;
                break;
            }
            if filter.matches(&meta) {
                items.push(meta);
            }
        }
        let next = (!exhausted && position >= 1).then_some(Cursor {
            before_seq: position + 1,
        });
        Ok(Page {
            items,
            next,
            scanned,
        })
    }

    /// The highest sequence number handed out (one read).
    pub fn newest_seq(&self) -> Result<u64, StoreError> {
        Ok(u64::try_from(self.kv.increment(keys::SEQ, 0)?).unwrap_or_default())
    }

    /// The event committed at `seq`, from its index entry alone: one read. An entry holds the
    /// event's summary (the same record as its meta, written in the same atomic batch). An
    /// entry in the previous layout holds only the event id; it is resolved through the meta
    /// record, which must carry the same sequence number (entries of superseded attempts are
    /// skipped), until a status change rewrites it in the current layout.
    pub fn summary_at(&self, seq: u64) -> Result<Option<EventMeta>, StoreError> {
        let key = keys::index(seq);
        let Some(entry) = self.kv.get(&key)? else {
            return Ok(None);
        };
        if entry.first() == Some(&b'{') {
            return match serde_json::from_slice::<EventMeta>(&entry) {
                Ok(meta) if meta.seq == seq => Ok(Some(meta)),
                Ok(_) => Ok(None),
                Err(error) => {
                    tracing::error!(key, reason = %error, "corrupt index entry skipped in listing");
                    Ok(None)
                }
            };
        }
        let Some(id) = std::str::from_utf8(&entry)
            .ok()
            .and_then(|text| EventId::parse(text).ok())
        else {
            tracing::error!(
                seq,
                "index entry holds neither a summary nor an event id; skipped"
            );
            return Ok(None);
        };
        match self.meta(&id) {
            Ok(Some(meta)) if meta.seq == seq => Ok(Some(meta)),
            Ok(_) => Ok(None),
            Err(StoreError::Corrupt { key, reason }) => {
                tracing::error!(key, reason, "corrupt event record skipped in listing");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    // ---------------------------------------------------------------- changes

    /// Sets the status of an event. `pending` → `processed` moves the counters once, however
    /// many requests race; `processed` → `processed` is a no-op; `processed` → `pending` is
    /// refused. The meta record and the index entry are rewritten in one atomic batch, so a
    /// listing shows the change at once.
    ///
    /// `meta` is the metadata the caller read (and checked preconditions against).
    pub fn set_status(
        &self,
        meta: EventMeta,
        status: EventStatus,
    ) -> Result<StatusChange, StoreError> {
        match (meta.status, status) {
            (from, to) if from == to => Ok(StatusChange::Unchanged(meta)),
            (EventStatus::Processed, EventStatus::Pending) => Ok(StatusChange::Illegal),
            _ => {
                if self
                    .kv
                    .increment(&keys::processed_claim(&meta.id, meta.seq), 1)?
                    == 1
                {
                    self.bump(meta.provider, EventStatus::Pending, -1);
                    self.bump(meta.provider, EventStatus::Processed, 1);
                }
                // Writing the records back after a concurrent delete would resurrect them; the
                // delete claim narrows that window to the next two operations.
                if self
                    .kv
                    .increment(&keys::delete_claim(&meta.id, meta.seq), 0)?
                    > 0
                {
                    return Ok(StatusChange::Gone);
                }
                let updated = EventMeta {
                    status: EventStatus::Processed,
                    processed_at: Some(self.clock.now()),
                    ..meta
                };
                let summary = encode(&updated)?;
                self.kv.set_many(&[
                    (keys::meta(&updated.id), summary.clone()),
                    (keys::index(updated.seq), summary),
                ])?;
                Ok(StatusChange::Updated(updated))
            }
        }
    }

    /// Deletes an event: its meta record, body and index entry in one atomic batch (it
    /// disappears from reads and listings at once), then releases its claim so a redelivery
    /// is stored again straight away. The counters move once, however many requests race.
    pub fn delete(&self, meta: &EventMeta) -> Result<(), StoreError> {
        if self
            .kv
            .increment(&keys::delete_claim(&meta.id, meta.seq), 1)?
            == 1
        {
            self.bump(meta.provider, meta.status, -1);
        }
        self.kv.delete_many(&[
            keys::meta(&meta.id),
            keys::body(&meta.id),
            keys::index(meta.seq),
        ])?;
        // A contender of the original delivery may have started the lease after the commit
        // released it; released again, a redelivery takes over at once instead of waiting.
        if let Err(error) = self
            .kv
            .set(&keys::lease(&meta.id, meta.generation), RELEASED)
        {
            tracing::warn!(event_id = meta.id.as_str(), error = %error, "could not release claim");
        }
        Ok(())
    }

    // ---------------------------------------------------------------- counters

    /// Event counts of every provider, in the order of `Provider::ALL` (which is the order of
    /// `Provider`), from the counters (two reads per provider, no scan). A list, not a map: a
    /// `BTreeMap` of providers would link a B-tree's code into the api component (about 5 KB).
    pub fn stats(&self) -> Result<Vec<(Provider, Counts)>, StoreError> {
        let mut stats = Vec::with_capacity(Provider::ALL.len());
        for &provider in Provider::ALL {
            let read = |status| -> Result<u64, StoreError> {
                // Clamped: a counter can only drift below zero if a request died between two
                // increments, and a negative count helps nobody.
                Ok(
                    u64::try_from(self.kv.increment(&keys::stats(provider, status), 0)?)
                        .unwrap_or(0),
                )
            };
            stats.push((
                provider,
                Counts {
                    pending: read(EventStatus::Pending)?,
                    processed: read(EventStatus::Processed)?,
                },
            ));
        }
        Ok(stats)
    }

    pub(super) fn bump(&self, provider: Provider, status: EventStatus, delta: i64) {
        let key = keys::stats(provider, status);
        if let Err(error) = self.kv.increment(&key, delta) {
            tracing::error!(key, delta, error = %error, "counter not updated; stats drift by one");
        }
    }

    // ---------------------------------------------------------------- helpers

    fn read_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.kv.get(key)? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|error| StoreError::Corrupt {
                        key: key.to_owned(),
                        reason: error.to_string(),
                    })
            }
        }
    }
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Corrupt {
        key: String::new(),
        reason: format!("could not encode: {error}"),
    })
}
