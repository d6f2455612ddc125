//! Exactly-once ingestion: the claim, lease and commit protocol (docs/dedup.md has the why).
//!
//! Only `increment` is atomic on every Spin backend, so ownership of a delivery is "the
//! increment of its claim counter that returned 1". On the uncontended path a new delivery costs
//! four store operations: the claim, the sequence number, one atomic `set_many` (body, index
//! entry, meta record and the released lease: the commit) and the counter.

use std::time::Duration;

use super::keys;
use super::model::{EventBody, EventId, EventMeta, EventStatus, NewEvent};
use super::store::{encode, EventStore, StoreError};
use crate::clock::Clock;
use crate::kv::KeyValue;
use crate::time::Timestamp;

/// The result of ingesting a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// First time we see it: stored now.
    Accepted(EventMeta),
    /// Already stored (by an earlier or a concurrent request).
    Duplicate(EventId),
}

/// What a claim on a delivery resolved to.
enum Claim {
    /// This request owns the generation and has not committed yet; it claimed at this time.
    Owner(u64, Timestamp),
    /// The delivery is committed.
    Duplicate,
    /// Another request holds a live claim and did not commit within the wait.
    Busy,
}

/// The state of a generation's lease.
enum Lease {
    /// The owner started recently (or a contender started the clock for it).
    Held,
    /// No lease recorded: the owner writes none before it commits.
    Unknown,
    /// Released (the owner failed and said so, or committed), or older than the lease.
    Expired,
}

/// How a wait for a concurrent owner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    /// The event is committed: this copy is a duplicate.
    Committed,
    /// The bound passed with the owner's claim still live.
    TimedOut,
    /// The owner released its claim (it failed), or its lease ran out.
    OwnerGone,
}

/// The value a lease holds once released.
pub(super) const RELEASED: &[u8] = b"0";

/// The longest pause between two polls of a wait.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(200);

impl<K: KeyValue, C: Clock> EventStore<K, C> {
    /// Stores a verified delivery exactly once.
    ///
    /// Returns [`Ingested::Accepted`] to the one request that stored it, and
    /// [`Ingested::Duplicate`] to every other copy once the original is committed. A copy that
    /// arrives while the original is still being written waits for it (see
    /// [`Tuning::wait_for_commit`](super::Tuning)); only if the original does not commit in that
    /// time does it get [`StoreError::InProgress`] (the caller answers 503 and the provider
    /// retries).
    pub fn ingest(&self, event: NewEvent) -> Result<Ingested, StoreError> {
        let id = EventId::for_delivery(event.provider, &event.delivery_id);
        // The fast path: a delivery nobody claimed before is owned by this request at once.
        let first = self.kv.increment(&keys::claim(&id, 0), 1)?;
        let claim = if first == 1 {
            Claim::Owner(0, self.clock.now())
        } else if self.kv.get(&keys::meta(&id))?.is_some() {
            return Ok(Ingested::Duplicate(id));
        } else {
            self.contend(&id, first)?
        };
        match claim {
            Claim::Duplicate => Ok(Ingested::Duplicate(id)),
            Claim::Busy => Err(StoreError::InProgress),
            Claim::Owner(generation, claimed_at) => {
                let result = self.commit(&id, generation, claimed_at, event);
                if result.is_err() {
                    // The next retry must be able to take over at once, not after the lease.
                    self.release(&id, generation);
                }
                result.map(Ingested::Accepted)
            }
        }
    }

    /// Generation 0 was claimed before (`first` is this request's count on it) and nothing is
    /// committed: a concurrent copy, a retry after a failed or crashed attempt, or a
    /// redelivery after a delete. Wait for the owner, or take over from one that is gone.
    fn contend(&self, id: &EventId, first: i64) -> Result<Claim, StoreError> {
        let mut generation = self.read_generation(id)?;
        let mut count = if generation == 0 { first } else { 0 };
        // Each step moves past one abandoned generation; a handful is plenty.
        for _ in 0..4 {
            if count == 0 {
                count = self.kv.increment(&keys::claim(id, generation), 1)?;
                if count == 1 {
                    return self.take_over(id, generation);
                }
            }
            let waited = match self.lease_state(id, generation)? {
                Lease::Expired => Waited::OwnerGone,
                Lease::Held => self.wait_for_commit(id, generation)?,
                // The owner writes no lease before committing. The first contender starts
                // the clock on its behalf, so that a claim whose owner died can expire; the
                // others wait, and start it themselves only if the wait ends with none.
                Lease::Unknown => {
                    if count == 2 {
                        self.start_lease(id, generation)?;
                    }
                    let waited = self.wait_for_commit(id, generation)?;
                    if waited == Waited::TimedOut
                        && matches!(self.lease_state(id, generation)?, Lease::Unknown)
                    {
                        self.start_lease(id, generation)?;
                    }
                    waited
                }
            };
            match waited {
                Waited::Committed => return Ok(Claim::Duplicate),
                Waited::TimedOut => return Ok(Claim::Busy),
                Waited::OwnerGone => {
                    generation += 1;
                    count = 0;
                }
            }
        }
        Ok(Claim::Busy)
    }

    /// Having won generation `generation > 0` from an owner that failed or died.
    fn take_over(&self, id: &EventId, generation: u64) -> Result<Claim, StoreError> {
        let claimed_at = self.clock.now();
        self.kv
            .set(&keys::generation(id), generation.to_string().as_bytes())?;
        // Owners release only after committing or failing, and a commit releases in the same
        // write that makes the event visible: re-check, so a committed event is never stored
        // twice.
        if self.kv.get(&keys::meta(id))?.is_some() {
            return Ok(Claim::Duplicate);
        }
        Ok(Claim::Owner(generation, claimed_at))
    }

    /// Polls for the commit, backing off from `poll_interval` to 200 ms, for up to
    /// `wait_for_commit`. Every few polls it also reads the lease: an owner that failed
    /// releases it, and then the caller takes over at once instead of waiting the bound out.
    fn wait_for_commit(&self, id: &EventId, generation: u64) -> Result<Waited, StoreError> {
        let mut waited = Duration::ZERO;
        let mut pause = self.tuning.poll_interval;
        let mut polls = 0u32;
        loop {
            if self.kv.get(&keys::meta(id))?.is_some() {
                return Ok(Waited::Committed);
            }
            if waited >= self.tuning.wait_for_commit {
                return Ok(Waited::TimedOut);
            }
            polls += 1;
            if polls.is_multiple_of(4)
                && matches!(self.lease_state(id, generation)?, Lease::Expired)
            {
                return Ok(Waited::OwnerGone);
            }
            self.clock.sleep(pause);
            waited += pause;
            pause = (pause * 2).min(MAX_POLL_INTERVAL);
        }
    }

    fn read_generation(&self, id: &EventId) -> Result<u64, StoreError> {
        Ok(self
            .kv
            .get(&keys::generation(id))?
            .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse().ok())
            .unwrap_or(0))
    }

    fn start_lease(&self, id: &EventId, generation: u64) -> Result<(), StoreError> {
        let now = self.clock.now().unix_millis().to_string();
        Ok(self.kv.set(&keys::lease(id, generation), now.as_bytes())?)
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
                let age_ms = self.clock.now().unix_millis().saturating_sub(started);
                if age_ms >= millis(self.tuning.lease) {
                    Lease::Expired
                } else {
                    Lease::Held
                }
            }
        })
    }

    /// Best effort: a release that fails only delays a takeover until the lease expires.
    fn release(&self, id: &EventId, generation: u64) {
        if let Err(error) = self.kv.set(&keys::lease(id, generation), RELEASED) {
            tracing::warn!(event_id = id.as_str(), error = %error, "could not release claim");
        }
    }

    /// Writes the event in one atomic `set_many`: the body, the index entry and the meta
    /// record (both carrying the summary a listing shows; the meta record's existence is the
    /// commit point), and the released lease. Before it, the owner checks that its claim is
    /// still young enough that no contender can have taken it over meanwhile.
    fn commit(
        &self,
        id: &EventId,
        generation: u64,
        claimed_at: Timestamp,
        event: NewEvent,
    ) -> Result<EventMeta, StoreError> {
        let seq = u64::try_from(self.kv.increment(keys::SEQ, 1)?).unwrap_or_default();
        let now = self.clock.now();
        // A contender takes over only once a lease it started (after this claim) is `lease`
        // old; committing later than `lease - clock_margin` after the claim could race it.
        let held_ms = now.unix_millis().saturating_sub(claimed_at.unix_millis());
        if held_ms >= millis(self.tuning.lease).saturating_sub(millis(self.tuning.commit_margin)) {
            tracing::error!(
                event_id = id.as_str(),
                held_ms,
                "claim held too long; not committing"
            );
            return Err(StoreError::InProgress);
        }
        let meta = EventMeta {
            id: id.clone(),
            seq,
            generation,
            provider: event.provider,
            delivery_id: event.delivery_id,
            event_type: event.event_type,
            action: event.action,
            source: event.source,
            received_at: now,
            status: EventStatus::Pending,
            processed_at: None,
        };
        let body = EventBody {
            headers: event.headers,
            content_type: event.content_type,
            raw_body: event.raw_body,
            json: event.json,
        };
        let summary = encode(&meta)?;
        self.kv.set_many(&[
            (keys::body(id), encode(&body)?),
            (keys::index(seq), summary.clone()),
            (keys::meta(id), summary),
            (keys::lease(id, generation), RELEASED.to_vec()),
        ])?;
        // The event is durable from here on; a failed counter must not turn that into a 503.
        self.bump(meta.provider, EventStatus::Pending, 1);
        Ok(meta)
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
