//! The event store, shared by the webhook processor (which writes) and the API (which reads,
//! updates and deletes).
//!
//! # Guarantees
//!
//! - **Exactly one acceptance per delivery.** Every copy of a delivery (same provider, same
//!   delivery id) maps to the same [`EventId`]. Of any number of copies, arriving one after the
//!   other or at the same moment, at one replica or several sharing one Redis, exactly one is
//!   answered "accepted" and stored; the others are answered "duplicate" with the same id, and
//!   only after the original is committed. The only atomic primitive used is `increment`, which
//!   is atomic on both Spin backends (see [`crate::kv`] for why compare-and-swap is not used).
//! - **An acknowledged delivery is never lost.** "Accepted" and "duplicate" are only returned
//!   once the event's meta record (the commit point) is written. A store failure before that
//!   returns an error (503 upstream) and leaves nothing a reader or a retry trips over.
//! - **Listings read only the page.** Sequence numbers order events; a page reads one index
//!   entry and one meta record per event it looks at, never the whole key space, and at most
//!   [`Tuning::max_scan`] entries when filters skip many.
//!
//! # Key layout
//!
//! | key | value | written by |
//! |---|---|---|
//! | `events:seq` | counter: the highest sequence number handed out | ingestion (`increment`) |
//! | `events:idx:{seq:020}` | the event id committed at `seq` | ingestion |
//! | `events:meta:{id}` | [`EventMeta`] JSON: ids, type, times, status. **Commit point.** | ingestion, status change |
//! | `events:body:{id}` | [`EventBody`] JSON: signature headers, raw body, parsed JSON | ingestion |
//! | `events:claim:{id}:{gen}` | counter: claims on generation `gen` of this delivery | ingestion (`increment`) |
//! | `events:lease:{id}:{gen}` | Unix ms when the claim's owner started; `0` once released | ingestion |
//! | `events:gen:{id}` | the newest generation (advisory) | ingestion takeovers |
//! | `events:processed:{id}:{seq}` | counter: requests that marked this incarnation processed | status change (`increment`) |
//! | `events:deleted:{id}:{seq}` | counter: requests that deleted this incarnation | deletion (`increment`) |
//! | `stats:{provider}:{status}` | counter: events per provider and status | all of the above (`increment`) |
//!
//! # Ingestion protocol
//!
//! 1. If `events:meta:{id}` exists, the delivery is a duplicate.
//! 2. Claim: `increment(events:claim:{id}:{gen}, 1)`. The request that gets `1` owns generation
//!    `gen`, writes its lease (now), and commits. Every other request is a contender.
//! 3. Commit (owner): `seq = increment(events:seq, 1)`; `set_many` body and index entry; then
//!    write the meta record (the commit point); count it; release the lease (write `0`).
//! 4. Contenders poll the meta record for up to [`Tuning::wait_for_commit`] and answer
//!    "duplicate" once it exists, or "in progress" (503, retry) if it does not appear.
//! 5. Takeover: if a contender finds the lease released or older than [`Tuning::lease`] (the
//!    owner failed, or crashed), it claims generation `gen + 1` the same way and, having won,
//!    re-checks the meta record before committing. Owners release only after committing or
//!    failing, so a committed event is never committed twice.
//!
//! A failure before the commit point leaves an index entry whose meta is missing (skipped by
//! listings) and possibly a body record (overwritten by the retry, which has the same id). The
//! only thing a failure can leave inaccurate is a counter in [`EventStore::stats`], and only
//! when the store fails between two of one request's writes.
//!
//! # Deletion and redelivery
//!
//! Deleting an event removes its meta record (so it disappears at once), then its body and index
//! entry. The dedup record goes with it: a later redelivery of the same delivery (for example
//! GitHub's "Redeliver" button) is stored again as a new incarnation with a new sequence number.

mod cursor;
mod keys;
mod model;
mod store;

pub use cursor::Cursor;
pub use model::{
    DeliveryId, EventBody, EventId, EventMeta, EventStatus, EventType, InvalidValue, NewEvent,
    Provider, StoredEvent,
};
pub use store::{
    Counts, EventStore, Ingested, ListFilter, Page, StatusChange, StoreError, Tuning,
    RETRY_AFTER_IN_PROGRESS_SECS, RETRY_AFTER_STORE_SECS,
};

#[cfg(test)]
mod tests;
