//! The event store: deduplicated ingestion, listing, status changes, deletion and counters, on
//! nothing but [`KeyValue`]. The protocol is described in the [module docs](crate::events).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cursor::Cursor;
use super::keys;
use super::model::{
    EventBody, EventId, EventMeta, EventStatus, EventType, NewEvent, Provider, StoredEvent,
};
use crate::clock::Clock;
use crate::kv::{KeyValue, KvError};
use crate::problem::{Problem, ProblemKind};
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

/// Seconds a client should wait after a store failure.
pub const RETRY_AFTER_STORE_SECS: u32 = 5;
/// Seconds a duplicate should wait while the original is still being stored.
pub const RETRY_AFTER_IN_PROGRESS_SECS: u32 = 2;

/// The answer to give the client (logged here, once, with what the client is not told).
impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Kv(error) => {
                tracing::error!(error = %error, "store failed; nothing was stored");
                Problem::store_unavailable(RETRY_AFTER_STORE_SECS)
            }
            StoreError::InProgress => Problem::of(
                ProblemKind::DeliveryInProgress,
                "the same delivery is being stored by a concurrent request; retry shortly",
            )
            .with_retry_after(RETRY_AFTER_IN_PROGRESS_SECS),
            StoreError::Corrupt { key, reason } => {
                tracing::error!(key, reason, "corrupt record");
                Problem::of(ProblemKind::Internal, "a stored record is corrupt")
            }
        }
    }
}

/// The result of ingesting a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// First time we see it: stored now.
    Accepted(EventMeta),
    /// Already stored (by an earlier or a concurrent request).
    Duplicate(EventId),
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
    /// Polling interval while waiting.
    pub poll_interval: Duration,
    /// Most index entries one listing request reads (returned plus filtered out).
    pub max_scan: usize,
    /// How far replica clocks may disagree; bounds the `since` early stop.
    pub clock_skew: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            wait_for_commit: Duration::from_secs(3),
            poll_interval: Duration::from_millis(20),
            max_scan: 500,
            clock_skew: Duration::from_secs(300),
        }
    }
}

/// Which events a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this provider.
    pub provider: Option<Provider>,
    /// Only this event type.
    pub event_type: Option<EventType>,
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
            && self
                .event_type
                .as_ref()
                .is_none_or(|t| *t == meta.event_type)
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

/// What a claim on a delivery resolved to.
enum Claim {
    Owner(u64),
    Duplicate,
    Busy,
}

/// The event store over a key-value store and a clock.
#[derive(Debug)]
pub struct EventStore<K, C> {
    kv: K,
    clock: C,
    tuning: Tuning,
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

    // ---------------------------------------------------------------- ingestion

    /// Stores a verified delivery exactly once.
    ///
    /// Returns [`Ingested::Accepted`] to the one request that stored it, and
    /// [`Ingested::Duplicate`] to every other copy once the original is committed. A copy that
    /// arrives while the original is still being written waits up to `wait_for_commit`, then
    /// gets [`StoreError::InProgress`] (the caller answers 503 and the provider retries).
    pub fn ingest(&self, event: NewEvent) -> Result<Ingested, StoreError> {
        let id = EventId::for_delivery(event.provider, &event.delivery_id);
        if self.kv.get(&keys::meta(&id))?.is_some() {
            return Ok(Ingested::Duplicate(id));
        }
        match self.claim(&id)? {
            Claim::Duplicate => Ok(Ingested::Duplicate(id)),
            Claim::Busy => Err(StoreError::InProgress),
            Claim::Owner(generation) => {
                let result = self.commit(&id, event);
                // Released in both cases: after a commit the meta key answers duplicates, and
                // after a failure the next retry must be able to take over at once.
                self.release(&id, generation);
                result.map(Ingested::Accepted)
            }
        }
    }

    /// Decides which request stores the delivery. Only `increment` is atomic on every Spin
    /// backend, so ownership of a generation is "the increment that returned 1".
    fn claim(&self, id: &EventId) -> Result<Claim, StoreError> {
        let mut generation = self.read_generation(id)?;
        // Each step moves past one abandoned generation; a handful is plenty.
        for _ in 0..4 {
            if self.kv.increment(&keys::claim(id, generation), 1)? == 1 {
                return match self.take_ownership(id, generation) {
                    Ok(claim) => Ok(claim),
                    Err(error) => {
                        // Let the next retry take over at once instead of after the lease.
                        self.release(id, generation);
                        Err(error)
                    }
                };
            }
            match self.lease_state(id, generation)? {
                Lease::Held => return self.wait_for_commit(id),
                Lease::Unknown => {
                    // The owner crashed before writing its lease, or has not written it yet:
                    // start the clock on its behalf so the claim can expire.
                    self.kv.set(
                        &keys::lease(id, generation),
                        self.now_ms().to_string().as_bytes(),
                    )?;
                    return self.wait_for_commit(id);
                }
                Lease::Expired => generation += 1,
            }
        }
        Ok(Claim::Busy)
    }

    /// The steps after winning a claim: record the lease and, on a takeover, make sure the
    /// event was not committed meanwhile.
    fn take_ownership(&self, id: &EventId, generation: u64) -> Result<Claim, StoreError> {
        self.kv.set(
            &keys::lease(id, generation),
            self.now_ms().to_string().as_bytes(),
        )?;
        if generation > 0 {
            self.kv
                .set(&keys::generation(id), generation.to_string().as_bytes())?;
            // A takeover happens after a release, and owners release after committing:
            // re-check so a committed event is never stored twice.
            if self.kv.get(&keys::meta(id))?.is_some() {
                self.release(id, generation);
                return Ok(Claim::Duplicate);
            }
        }
        Ok(Claim::Owner(generation))
    }

    fn wait_for_commit(&self, id: &EventId) -> Result<Claim, StoreError> {
        let mut waited = Duration::ZERO;
        loop {
            if self.kv.get(&keys::meta(id))?.is_some() {
                return Ok(Claim::Duplicate);
            }
            if waited >= self.tuning.wait_for_commit {
                return Ok(Claim::Busy);
            }
            self.clock.sleep(self.tuning.poll_interval);
            waited += self.tuning.poll_interval;
        }
    }

    fn read_generation(&self, id: &EventId) -> Result<u64, StoreError> {
        Ok(self
            .kv
            .get(&keys::generation(id))?
            .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse().ok())
            .unwrap_or(0))
    }

    fn lease_state(&self, id: &EventId, generation: u64) -> Result<Lease, StoreError> {
        let started = self
            .kv
            .get(&keys::lease(id, generation))?
            .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse::<i64>().ok());
        Ok(match started {
            None => Lease::Unknown,
            Some(0) => Lease::Expired,
            Some(started) => {
                let age_ms = self.now_ms().saturating_sub(started);
                let lease_ms = i64::try_from(self.tuning.lease.as_millis()).unwrap_or(i64::MAX);
                if age_ms >= lease_ms {
                    Lease::Expired
                } else {
                    Lease::Held
                }
            }
        })
    }

    /// Best effort: a release that fails only delays a takeover until the lease expires.
    fn release(&self, id: &EventId, generation: u64) {
        if let Err(error) = self.kv.set(&keys::lease(id, generation), b"0") {
            tracing::warn!(event_id = id.as_str(), error = %error, "could not release claim");
        }
    }

    /// Writes the event. Order matters: body and index first, then the meta key, whose
    /// existence makes the event visible. A failure before the meta write leaves only records
    /// nobody reads (an index entry whose meta is missing is skipped; a body is overwritten by
    /// the retry).
    fn commit(&self, id: &EventId, event: NewEvent) -> Result<EventMeta, StoreError> {
        let seq = u64::try_from(self.kv.increment(keys::SEQ, 1)?).unwrap_or_default();
        let meta = EventMeta {
            id: id.clone(),
            seq,
            provider: event.provider,
            delivery_id: event.delivery_id,
            event_type: event.event_type,
            received_at: self.clock.now(),
            status: EventStatus::Pending,
            processed_at: None,
        };
        let body = EventBody {
            headers: event.headers,
            content_type: event.content_type,
            raw_body: event.raw_body,
            json: event.json,
        };
        self.kv.set_many(&[
            (keys::body(id), encode(&body)?),
            (keys::index(seq), id.as_str().as_bytes().to_vec()),
        ])?;
        self.kv.set(&keys::meta(id), &encode(&meta)?)?;
        // The event is durable from here on; a failed counter must not turn that into a 503.
        self.bump(meta.provider, EventStatus::Pending, 1);
        Ok(meta)
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
            let Some(meta) = self.meta_at(seq)? else {
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

    /// The event committed at `seq`, if the index entry still points at a live event of that
    /// incarnation (entries left by failed or superseded ingestions are skipped).
    fn meta_at(&self, seq: u64) -> Result<Option<EventMeta>, StoreError> {
        let Some(id_bytes) = self.kv.get(&keys::index(seq))? else {
            return Ok(None);
        };
        let Some(id) = std::str::from_utf8(&id_bytes)
            .ok()
            .and_then(|text| EventId::parse(text).ok())
        else {
            tracing::error!(seq, "index entry does not hold an event id; skipped");
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
    /// refused.
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
                // Writing the meta back after a concurrent delete would resurrect it; the
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
                self.kv.set(&keys::meta(&updated.id), &encode(&updated)?)?;
                Ok(StatusChange::Updated(updated))
            }
        }
    }

    /// Deletes an event: its meta key first (it disappears from reads at once), then its body
    /// and index entry. The counters move once, however many requests race.
    pub fn delete(&self, meta: &EventMeta) -> Result<(), StoreError> {
        if self
            .kv
            .increment(&keys::delete_claim(&meta.id, meta.seq), 1)?
            == 1
        {
            self.bump(meta.provider, meta.status, -1);
        }
        self.kv.delete(&keys::meta(&meta.id))?;
        for key in [keys::body(&meta.id), keys::index(meta.seq)] {
            // Leftovers are unreachable (no meta points at them) and harmless.
            if let Err(error) = self.kv.delete(&key) {
                tracing::warn!(key, error = %error, "could not delete; left unreachable");
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- counters

    /// Event counts per provider, from the counters (six reads, no scan).
    pub fn stats(&self) -> Result<BTreeMap<Provider, Counts>, StoreError> {
        let mut stats = BTreeMap::new();
        for provider in Provider::ALL {
            let read = |status| -> Result<u64, StoreError> {
                // Clamped: a counter can only drift below zero if a request died between two
                // increments, and a negative count helps nobody.
                Ok(
                    u64::try_from(self.kv.increment(&keys::stats(provider, status), 0)?)
                        .unwrap_or(0),
                )
            };
            stats.insert(
                provider,
                Counts {
                    pending: read(EventStatus::Pending)?,
                    processed: read(EventStatus::Processed)?,
                },
            );
        }
        Ok(stats)
    }

    fn bump(&self, provider: Provider, status: EventStatus, delta: i64) {
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

    fn now_ms(&self) -> i64 {
        self.clock.now().unix_millis()
    }
}

enum Lease {
    /// The owner started recently.
    Held,
    /// No lease recorded.
    Unknown,
    /// Released, or older than the lease duration.
    Expired,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Corrupt {
        key: String::new(),
        reason: format!("could not encode: {error}"),
    })
}
