//! Ordered delivery, opt-in per destination (`"ordered": true`): events reach the destination in
//! ingestion order (their sequence numbers), one at a time. A failing event holds the ones behind
//! it (head-of-line blocking) through its whole retry schedule; it releases the line when it is
//! delivered or becomes a dead letter.
//!
//! **The line.** Per ordered destination, `fwd:line:{d}` holds its position: every event up to it
//! has been passed (delivered, dead, not matching the filter, or a gap that can no longer fill).
//! The *head* is the first event above the position that matches the filter and has no final
//! delivery; only the head may be attempted ([`allows`], asked before every claim). Events behind
//! it have no record and no due pointer: the line is their queue, walked by every dispatch round
//! ([`head`]); the floor passes them (the line owns them), so a blocked line holds up no other
//! destination. The head is attempted with the usual claims, leases and retry schedule.
//!
//! **On `increment` alone.** The position is only ever *set* to a value a walker verified: every
//! event up to it was final when read, and a final delivery stays final (a replay marks the
//! record [`Record::out_of_line`](super::Record), so it still counts as passed). Two walkers may
//! race and set the position back a little; the next walk reads the same final records and moves
//! it on again, so a race costs reads, never order. Nothing behind the head is ever claimed, so
//! nothing is sent early or twice; the head's own attempts are claimed like any other.
//!
//! **Gaps** are passed as the floor passes them: once an event above the gap is older than the
//! lease (an ingestion older than that can no longer commit: docs/dedup.md). Until then the line
//! waits, since the gap may still become the next event.
//!
//! **Starting.** The line starts at the floor as read before the line was seen absent: every
//! event up to that floor already had its first attempt (sent unordered, before the setting), so
//! ordering applies to the events after it. Racing starters write floors read while the line did
//! not exist, each of them safe.
//!
//! **Turning it off.** The floor passed the events behind the head without a first attempt. A
//! destination no longer `"ordered"` whose line still exists is drained ([`left_behind`]): those
//! events get their first attempt (unordered now), and the line is deleted once it reaches the
//! floor.
//!
//! **Replays.** A replayed dead letter (or delivered event) is sent at once, *outside* the line:
//! the line had passed it, and holding newer events back behind an operator's resend would block
//! the destination again for an event it already gave up on. Its order against the others is not
//! restored. A replay of the head while it waits for a retry keeps it the head (sent now).

use super::destinations::Destination;
use super::keys;
use super::ledger::{read_decimal, Ledger};
use super::records::State;
use super::tuning::Tuning;
use crate::clock::Clock;
use crate::events::{EventMeta, EventStore, StoreError};
use crate::kv::KeyValue;

/// The line's position for `d`, started at the floor if it has none yet.
pub fn position<K: KeyValue>(kv: &K, d: &Destination) -> Result<u64, StoreError> {
    let key = keys::line(&d.name);
    if let Some(at) = read_position(kv, &key)? {
        return Ok(at);
    }
    // The floor first, then the line seen absent: the floor was reached without it.
    let floor = read_decimal(kv, keys::FLOOR)?;
    if let Some(at) = read_position(kv, &key)? {
        return Ok(at);
    }
    kv.set(&key, floor.to_string().as_bytes())?;
    Ok(floor)
}

fn read_position<K: KeyValue>(kv: &K, key: &str) -> Result<Option<u64>, StoreError> {
    Ok(kv
        .get(key)?
        .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.trim().parse().ok()))
}

/// The head of `d`'s line: the first event above the position that matches and is not final.
/// `None`: nothing waits, a young gap holds the line, or the walk reached its bound
/// ([`Tuning::max_events`]; the next call goes on from where this one got). Moves the position
/// past what it found final.
pub fn head<K: KeyValue, C: Clock>(
    kv: &K,
    clock: &C,
    d: &Destination,
    tuning: &Tuning,
) -> Result<Option<EventMeta>, StoreError> {
    let from = position(kv, d)?;
    let events = EventStore::new(kv, clock);
    let ledger = Ledger::new(kv, clock, *tuning);
    let newest = events.newest_seq()?;
    let old_enough = clock.now().minus(tuning.lease);
    let (mut seq, mut passed, mut gap, mut steps) = (from, from, false, 0usize);
    let head = loop {
        if seq >= newest || steps >= tuning.max_events {
            break None;
        }
        seq += 1;
        steps += 1;
        let Some(meta) = events.summary_at(seq)? else {
            gap = true;
            continue;
        };
        if std::mem::take(&mut gap) && meta.received_at > old_enough {
            // The gap below may still fill: it could be the next event.
            break None;
        }
        if d.filter.matches(&meta) {
            let done = ledger
                .record(&meta.id, &d.name)?
                .is_some_and(|r| r.state != State::Pending || r.out_of_line);
            if !done {
                break Some(meta);
            }
        }
        passed = seq;
    };
    if passed > from {
        kv.set(&keys::line(&d.name), passed.to_string().as_bytes())?;
    }
    Ok(head)
}

/// Whether `meta`'s delivery to the ordered destination `d` may be attempted now: it is the head
/// of the line, or outside it (at or below the position: sent before the line started; or a
/// replay after an outcome).
pub fn allows<K: KeyValue, C: Clock>(
    kv: &K,
    clock: &C,
    meta: &EventMeta,
    d: &Destination,
    tuning: &Tuning,
) -> Result<bool, StoreError> {
    if meta.seq <= position(kv, d)? {
        return Ok(true);
    }
    let ledger = Ledger::new(kv, clock, *tuning);
    if ledger
        .record(&meta.id, &d.name)?
        .is_some_and(|r| r.out_of_line)
    {
        return Ok(true);
    }
    Ok(head(kv, clock, d, tuning)?.is_some_and(|h| h.id == meta.id))
}

/// For a destination no longer ordered: the events its line still owns (matching, between its
/// position and the floor, with no delivery yet), as many as one walk of [`Tuning::max_events`]
/// reads; they need their first attempt. The position moves past those that have one; the line is
/// deleted once it reaches the floor. Nothing to do (no line): one read.
pub fn left_behind<K: KeyValue, C: Clock>(
    kv: &K,
    clock: &C,
    d: &Destination,
    tuning: &Tuning,
) -> Result<Vec<EventMeta>, StoreError> {
    let key = keys::line(&d.name);
    let Some(from) = read_position(kv, &key)? else {
        return Ok(Vec::new());
    };
    let floor = read_decimal(kv, keys::FLOOR)?;
    let events = EventStore::new(kv, clock);
    let ledger = Ledger::new(kv, clock, *tuning);
    let (mut seq, mut passed, mut waiting) = (from, from, Vec::new());
    while seq < floor && seq - from < tuning.max_events as u64 {
        seq += 1;
        // Below the floor a gap can no longer fill.
        let Some(meta) = events.summary_at(seq)? else {
            if waiting.is_empty() {
                passed = seq;
            }
            continue;
        };
        if d.filter.matches(&meta) && ledger.record(&meta.id, &d.name)?.is_none() {
            waiting.push(meta);
        } else if waiting.is_empty() {
            passed = seq;
        }
    }
    if passed >= floor {
        kv.delete(&key)?;
    } else if passed > from {
        kv.set(&key, passed.to_string().as_bytes())?;
    }
    Ok(waiting)
}
