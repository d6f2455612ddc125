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
//! - **Listings read one record per event.** Sequence numbers order events; each index entry
//!   carries the event's summary, so a page of `n` costs `n` reads plus one (the newest
//!   sequence number), never the whole key space, and at most [`Tuning::max_scan`] entries when
//!   filters skip many.
//!
//! # Key layout
//!
//! | key | value | written by |
//! |---|---|---|
//! | `events:seq` | counter: the highest sequence number handed out | ingestion (`increment`) |
//! | `events:idx:{seq:020}` | [`EventMeta`] JSON: the summary a listing shows (the previous layout: the event id) | ingestion, status change |
//! | `events:meta:{id}` | [`EventMeta`] JSON, the same record: ids, type, times, status. **Commit point.** | ingestion, status change |
//! | `events:body:{id}` | [`EventBody`] JSON: signature headers, raw body, parsed JSON | ingestion |
//! | `events:claim:{id}:{gen}` | counter: claims on generation `gen` of this delivery | ingestion (`increment`) |
//! | `events:lease:{id}:{gen}` | Unix ms when a contender started the clock on the claim; `0` once released | ingestion, deletion |
//! | `events:gen:{id}` | the newest generation (advisory) | ingestion takeovers |
//! | `events:processed:{id}:{seq}` | counter: requests that marked this incarnation processed | status change (`increment`) |
//! | `events:deleted:{id}:{seq}` | counter: requests that deleted this incarnation | deletion (`increment`) |
//! | `stats:{provider}:{status}` | counter: events per provider and status | all of the above (`increment`) |
//!
//! The index entry and the meta record are always written together, in one atomic `set_many`
//! (ingestion, status change) or removed together in one atomic `delete_many` (deletion), so a
//! listing never shows a status the event no longer has.
//!
//! # Ingestion protocol
//!
//! 1. Claim: `increment(events:claim:{id}:0, 1)`. The request that gets `1` owns the delivery
//!    and commits (the fast path: four operations in all).
//! 2. Commit (owner): `seq = increment(events:seq, 1)`; one atomic `set_many` of the body, the
//!    index entry, the meta record (the commit point) and the released lease (`0`); count it.
//!    An owner whose claim is older than `lease - commit_margin` by then does not commit.
//! 3. Any other request reads the meta record: if it exists, the delivery is a duplicate.
//!    Otherwise it is a contender: the first one starts the lease clock (the owner writes no
//!    lease before committing), and each polls the meta record with backoff for up to
//!    [`Tuning::wait_for_commit`], answering "duplicate" once it exists, or "in progress" (503,
//!    retry) if the original is genuinely stuck.
//! 4. Takeover: a contender that finds the lease released (the owner failed and said so; it
//!    looks every few polls) or older than [`Tuning::lease`] (the owner died) claims generation
//!    `gen + 1` the same way and, having won, re-checks the meta record before committing.
//!    Owners release only after failing, or in the commit itself, so a committed event is
//!    never committed twice.
//!
//! A failure before the commit point leaves nothing a reader sees: the commit is one atomic
//! batch, so at most a sequence number goes unused. The only thing a failure can leave
//! inaccurate is a counter in [`EventStore::stats`], and only when the store fails between two
//! of one request's writes.
//!
//! # Deletion and redelivery
//!
//! Deleting an event removes its meta record, body and index entry in one batch (it disappears
//! at once) and releases its claim. The dedup record goes with it: a later redelivery of the
//! same delivery (for example GitHub's "Redeliver" button) is stored again, at once, as a new
//! incarnation with a new sequence number.

mod cursor;
mod ingest;
mod keys;
mod model;
mod retention;
mod store;

pub use cursor::Cursor;
pub use ingest::Ingested;
pub use model::{
    DeliveryId, EventAction, EventBody, EventId, EventMeta, EventStatus, EventType, InvalidValue,
    NewEvent, Provider, SourceLabel, StoredEvent,
};
pub use retention::{PruneReason, Swept};
pub use store::{
    Counts, EventStore, ListFilter, Page, StatusChange, StoreError, Tuning, TypeFilter,
};

#[cfg(test)]
mod tests;
