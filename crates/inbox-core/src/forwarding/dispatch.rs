//! Delivering stored events: at least once to every matching destination, nothing lost, never
//! the same attempt twice within a lease.
//!
//! Work comes from two places, both walked in bounded steps by [`Dispatcher::dispatch`]:
//!
//! 1. **New events**: the event index itself, from `fwd:floor` up. For each event and each
//!    destination whose filter matches, attempt 1 is made unless its delivery record exists.
//!    The floor moves past an event once each of its deliveries has a record, and past a gap
//!    (a failed or deleted sequence number) once an event above it is older than the lease
//!    (an ingestion older than that can no longer commit: docs/dedup.md). [`Dispatcher::dispatch_event`]
//!    does the same for one event at once: the webhook component asks for it right after it
//!    answered the provider.
//! 2. **Due attempts**: pointers in 10-second buckets (`fwd:due:{bucket}:{k}`), written with the
//!    record of each attempt: a *check* at `start + lease` (if its sender dies, the check finds
//!    the attempt unfinished and takes it over), and the *retry* at the next attempt's time.
//!    A bucket is left behind once every pointer in it is resolved.
//!
//! **Claims** work as ingestion's do, on `increment` alone: the request whose increment of
//! `fwd:try:{e}:{d}:{n}` returns 1 sends attempt `n`. The sender writes no lease; the first
//! contender starts the clock for it. A contender takes over (attempt `n + 1`) only once that
//! lease is `lease` old, and a sender neither starts a send nor writes its outcome once its claim
//! is older than `lease - timeout - margin`, so two replicas never send the same delivery at
//! the same time. A store failure anywhere leaves the attempt due: its pointer stays unresolved,
//! or its event's floor does not move.
//!
//! **Throttling** ([`super::throttle`]) is asked before the claim: a throttled attempt is not
//! claimed, recorded or counted. It stays due without holding up anything else: a new event's
//! first attempt gets a due pointer (so the floor moves on), and a due pointer is moved to a later
//! bucket (once: `fwd:due:{b}:{k}:moved`), spaced by the destination's limit.
//!
//! **Disabled destinations** ([`super::circuit`]) are held before the claim like throttled
//! ones: nothing is claimed, recorded or counted. Their due pointers (and a new event's first
//! attempt) are parked aside ([`super::parked`]) instead of moved on in the due queue, and each
//! round puts a batch of an enabled destination's parked pointers back, due now. Each attempt's
//! outcome is counted towards its destination's thresholds.
//!
//! **Ordered destinations** ([`super::ordered`]) are sent from their line instead: each round
//! attempts the head of each line (the next one at once when it is delivered or dead), the floor
//! passes their events without a first attempt, and an attempt of anything but the head is held
//! before the claim (not claimed, recorded or counted; its pointer is dropped: the line finds it).

use std::time::Duration;

use serde::Serialize;

use super::circuit;
use super::destinations::{Destination, DestinationName};
use super::hops::{self, Installation, HOPS_HEADER};
use super::keys;
use super::ledger::{read_decimal, registered, Ledger};
use super::ordered;
use super::parked;
use super::policy::{classify, jitter, Answer, Schedule, Verdict};
use super::records::{encode, Attempt, DeadEntry, Pointer, Record, State};
use super::throttle::{self, Admission, Ticket};
use super::tuning::{millis, Tuning};
use crate::clock::Clock;
use crate::events::{EventId, EventMeta, EventStore, StoreError, StoredEvent};
use crate::kv::KeyValue;
use crate::time::Timestamp;

/// Sends one attempt: the stored delivery, signed for the destination. Implemented over
/// `wasi:http` by the forwarder component and by a scripted receiver in tests.
pub trait Sender {
    /// Sends `event` to `destination` as attempt `attempt`, with `hops` as its
    /// [`super::hops::HOPS_HEADER`], and returns what came back, giving up after `timeout` (the
    /// dispatcher's [`Tuning::send_timeout`], which its leases allow for).
    fn send(
        &self,
        destination: &Destination,
        event: &StoredEvent,
        attempt: u32,
        hops: &str,
        timeout: Duration,
    ) -> Answer;
}

impl<S: Sender + ?Sized> Sender for &S {
    fn send(
        &self,
        destination: &Destination,
        event: &StoredEvent,
        attempt: u32,
        hops: &str,
        timeout: Duration,
    ) -> Answer {
        (**self).send(destination, event, attempt, hops, timeout)
    }
}

/// What a dispatch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Attempts sent.
    pub sent: u32,
    /// Of those, delivered (2xx).
    pub delivered: u32,
    /// Of those, failed and scheduled again.
    pub failed: u32,
    /// Of those, or of abandoned ones, now dead letters.
    pub dead: u32,
    /// Work seen but left for a later call (a bound was reached, a sender is still busy, or
    /// a store operation failed).
    pub still_due: u32,
    /// New events examined.
    pub events: u32,
}

/// What an attempt (or a wish to make one) came to.
enum Step {
    /// Sent, with this verdict (or abandoned into a dead letter).
    Done(Verdict),
    /// Another request holds the claim; look again later.
    Busy,
    /// Nothing to do (already done, or no longer wanted).
    Nothing,
    /// A bound was reached before sending.
    Deferred,
    /// The destination is throttled: not claimed; it has room again at about this time.
    Throttled(Timestamp),
    /// Not the head of its ordered destination's line: not claimed; the line sends it in turn.
    Held,
}

/// The state of a claim's lease.
enum Lease {
    /// Its sender is within the lease.
    Held,
    /// Claimed, and no clock started yet.
    Unknown,
    /// Its sender is gone: take over.
    Expired,
    /// Its sender finished and wrote the outcome (`finish` writes "0" with the record).
    Released,
}

/// One attempt's outcome, as [`Dispatcher::finish`] records it.
struct Outcome<'d> {
    /// The delivery's record, holding the attempt's claim (`in_flight`).
    record: Record,
    /// Where the attempt went.
    destination: &'d Destination,
    /// The delivery's state before this attempt (`None` for a new delivery): the counters move
    /// from it.
    previous: Option<State>,
    /// When the attempt was claimed: a retry is scheduled from it.
    claimed_at: Timestamp,
    /// The attempt, for the record's history.
    attempt: Attempt,
    /// What the answer means.
    verdict: Verdict,
    /// The destination's `Retry-After` (429 and 503 only): replaces the schedule's wait.
    retry_after: Option<Duration>,
}

/// Forwarding over a key-value store, a clock and a sender.
#[derive(Debug)]
pub struct Dispatcher<'a, K, C, S> {
    events: EventStore<&'a K, &'a C>,
    kv: &'a K,
    clock: &'a C,
    sender: S,
    destinations: &'a [Destination],
    schedule: &'a Schedule,
    tuning: Tuning,
    /// The clock's monotonic reading when this dispatcher was made: `max_duration` counts from it.
    started: Duration,
    sends: std::cell::Cell<usize>,
    ledger: Ledger<'a, K, C>,
    /// This installation's id, read (or made) before the first claim.
    installation: std::cell::OnceCell<Installation>,
    /// Destinations found throttled by this dispatcher, and when the next of their deliveries
    /// queued again is due: they are not asked again within one call.
    throttled: std::cell::RefCell<Vec<(DestinationName, Timestamp)>>,
    /// Destinations whose throttle counters this dispatcher made sure the sweep covers.
    swept: std::cell::RefCell<Vec<DestinationName>>,
    /// Destinations this dispatcher found enabled (`false`) or disabled (`true`): read once per
    /// call, then as this call's own outcomes disable them.
    disabled: std::cell::RefCell<Vec<(DestinationName, bool)>>,
}

impl<'a, K: KeyValue, C: Clock, S: Sender> Dispatcher<'a, K, C, S> {
    /// A dispatcher for these destinations and schedule.
    pub fn new(
        kv: &'a K,
        clock: &'a C,
        sender: S,
        destinations: &'a [Destination],
        schedule: &'a Schedule,
        tuning: Tuning,
    ) -> Self {
        Self {
            events: EventStore::new(kv, clock),
            kv,
            clock,
            sender,
            destinations,
            schedule,
            tuning,
            started: clock.monotonic(),
            sends: std::cell::Cell::new(0),
            ledger: Ledger::new(kv, clock, tuning),
            installation: std::cell::OnceCell::new(),
            throttled: std::cell::RefCell::new(Vec::new()),
            swept: std::cell::RefCell::new(Vec::new()),
            disabled: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// One bounded round: new events from the floor, then due attempts.
    pub fn dispatch(&self) -> Result<Report, StoreError> {
        let mut report = Report::default();
        if self.destinations.is_empty() {
            return Ok(report);
        }
        self.register_destinations()?;
        self.new_events(&mut report)?;
        for destination in self.destinations {
            if destination.ordered {
                self.line(destination, &mut report)?;
            } else {
                self.left_in_line(destination, &mut report)?;
            }
        }
        self.put_back_parked()?;
        self.due_attempts(&mut report)?;
        self.sweep_throttles();
        Ok(report)
    }

    /// Attempt 1 of `id`'s deliveries that have not started (the webhook component asks right
    /// after it stored the event), and the next attempt of those that are due now (the API asks
    /// right after a replay). The floor and the due queue are left to [`Self::dispatch`], which
    /// finds anything this did not get to; the claims keep the two from sending twice.
    pub fn dispatch_event(&self, id: &EventId) -> Result<Report, StoreError> {
        let mut report = Report::default();
        if self.destinations.is_empty() {
            return Ok(report);
        }
        // Before any record is written: the API and retention find records by these names.
        self.register_destinations()?;
        let Some(meta) = self.events.meta(id)? else {
            return Ok(report);
        };
        // A throttled first attempt is left to the floor (the tick), which queues it.
        self.first_attempts(&meta, &mut report, false)?;
        let now = self.clock.now();
        for destination in self.destinations.iter().filter(|d| d.filter.matches(&meta)) {
            let Some(record) = self.ledger.record(&meta.id, &destination.name)? else {
                continue;
            };
            let due = record.state == State::Pending
                && record.in_flight.is_none()
                && record.next_at.is_some_and(|at| at <= now);
            if due {
                let step = self.attempt(&meta, destination, record.next_attempt)?;
                self.tally(step, &mut report);
            }
        }
        for destination in self.destinations.iter().filter(|d| d.ordered) {
            if destination.filter.matches(&meta) {
                self.line(destination, &mut report)?;
            }
        }
        Ok(report)
    }

    /// First attempts of the events a destination's line held when it stopped being ordered.
    fn left_in_line(
        &self,
        destination: &Destination,
        report: &mut Report,
    ) -> Result<(), StoreError> {
        for meta in ordered::left_behind(self.kv, self.clock, destination, &self.tuning)? {
            let step = self.attempt(&meta, destination, 1)?;
            self.tally(step, report);
        }
        Ok(())
    }

    /// Sends the head of an ordered destination's line (its next attempt, once due), and the next
    /// head as soon as one is delivered or dead, within this call's bounds.
    fn line(&self, destination: &Destination, report: &mut Report) -> Result<(), StoreError> {
        while !self.spent() {
            let Some(meta) = ordered::head(self.kv, self.clock, destination, &self.tuning)? else {
                return Ok(());
            };
            let step = match self.ledger.record(&meta.id, &destination.name)? {
                None => self.attempt(&meta, destination, 1)?,
                // Finished since the walk read it: the next round's walk passes it.
                Some(record) if record.state != State::Pending || record.out_of_line => {
                    return Ok(())
                }
                // Its sender may be gone: the lease decides, as for a check pointer.
                Some(record) => match record.in_flight {
                    Some((n, _)) => self.contend(&meta, destination, n, None)?,
                    None if record.next_at.is_none_or(|at| at <= self.clock.now()) => {
                        self.attempt(&meta, destination, record.next_attempt)?
                    }
                    // Waiting for its retry: the line waits with it.
                    None => return Ok(()),
                },
            };
            let moved_on = matches!(step, Step::Done(Verdict::Delivered | Verdict::Permanent));
            self.tally(step, report);
            if !moved_on {
                return Ok(());
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ new events

    fn new_events(&self, report: &mut Report) -> Result<(), StoreError> {
        let floor = read_decimal(self.kv, keys::FLOOR)?;
        let newest = self.events.newest_seq()?;
        let old_enough = self.clock.now().minus(self.tuning.lease);
        let (mut seq, mut advanced_to, mut contiguous) = (floor, floor, true);
        let mut gap_since: Option<u64> = None;
        while seq < newest && (report.events as usize) < self.tuning.max_events {
            seq += 1;
            report.events += 1;
            let covered = match self.events.summary_at(seq)? {
                None => {
                    gap_since.get_or_insert(seq);
                    continue;
                }
                Some(meta) => {
                    // A gap below an event older than the lease can no longer fill.
                    if gap_since.take().is_some() && meta.received_at > old_enough {
                        contiguous = false;
                    }
                    self.first_attempts(&meta, report, true)?
                }
            };
            contiguous &= covered;
            if contiguous {
                advanced_to = seq;
            }
        }
        if advanced_to > floor {
            self.kv
                .set(keys::FLOOR, advanced_to.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Attempt 1 for each matching destination without a record. Returns whether every one of
    /// them has a record now, or (`queue_throttled`) a due pointer because it was throttled.
    fn first_attempts(
        &self,
        meta: &EventMeta,
        report: &mut Report,
        queue_throttled: bool,
    ) -> Result<bool, StoreError> {
        let mut covered = true;
        for destination in self.destinations.iter().filter(|d| d.filter.matches(meta)) {
            if destination.ordered {
                // The line sends it in turn (started now if it has not been).
                ordered::position(self.kv, destination)?;
                continue;
            }
            if self.ledger.record(&meta.id, &destination.name)?.is_some() {
                continue;
            }
            let step = self.attempt(meta, destination, 1)?;
            if let (Step::Throttled(until), true) = (&step, queue_throttled) {
                let first = Pointer {
                    event: meta.id.clone(),
                    destination: destination.name.clone(),
                    attempt: 1,
                    not_before: None,
                };
                self.queue_again(first, destination, *until, None)?;
                self.tally(step, report);
                continue;
            }
            covered &= self.tally(step, report);
        }
        Ok(covered)
    }

    /// Puts the parked pointers of each enabled destination back into the due queue (a bounded
    /// batch per round).
    fn put_back_parked(&self) -> Result<(), StoreError> {
        for destination in self.destinations {
            if !self.is_disabled(destination)? {
                parked::put_back(
                    self.kv,
                    self.clock,
                    &self.ledger,
                    &destination.name,
                    self.tuning.max_pointer_reads,
                )?;
            }
        }
        Ok(())
    }

    /// Queues a throttled delivery's pointer again for when its destination has room, spaced
    /// after the others this dispatcher queued for it, or parks it while its destination is
    /// disabled; `from`: the pointer it replaces, whose [`keys::moved_to`] is written after it.
    fn queue_again(
        &self,
        mut pointer: Pointer,
        destination: &Destination,
        until: Timestamp,
        from: Option<(i64, u64)>,
    ) -> Result<(), StoreError> {
        if self.is_disabled(destination)? {
            let k = parked::park(self.kv, &pointer)?;
            if let Some((ob, ok)) = from {
                self.kv
                    .set(&keys::moved_to(ob, ok), format!("parked:{k}").as_bytes())?;
            }
            return Ok(());
        }
        let at = {
            let mut throttled = self.throttled.borrow_mut();
            let spacing = destination.throttle.spacing();
            match throttled.iter_mut().find(|(d, _)| *d == destination.name) {
                Some((_, next)) => {
                    let at = if *next > until { *next } else { until };
                    *next = at.plus(spacing);
                    at
                }
                None => {
                    throttled.push((destination.name.clone(), until.plus(spacing)));
                    until
                }
            }
        };
        pointer.not_before = Some(at);
        let (b, k) = self.ledger.slot(at)?;
        let mut writes = vec![(keys::pointer(b, k), encode(&pointer)?)];
        if let Some((ob, ok)) = from {
            writes.push((keys::moved_to(ob, ok), format!("{b}:{k}").into_bytes()));
        }
        self.kv.set_many(&writes)?;
        Ok(())
    }

    // ------------------------------------------------------------------ due attempts

    fn due_attempts(&self, report: &mut Report) -> Result<(), StoreError> {
        let now = self.clock.now();
        let now_bucket = self.ledger.bucket_of(now);
        let Some(floor) = self
            .kv
            .get(keys::BUCKET_FLOOR)?
            .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.trim().parse::<i64>().ok())
        else {
            // No pointer was ever written.
            return Ok(());
        };
        // Buckets this far behind now can get no new pointer from a replica with a sane clock.
        let settled = now_bucket - 1 - self.ledger.margin_buckets();
        let mut reads = 0usize;
        let mut advanced_to = floor;
        let mut contiguous = true;
        let mut b = floor;
        while b <= now_bucket && reads < self.tuning.max_pointer_reads {
            reads += 1;
            let count = u64::try_from(self.kv.increment(&keys::bucket(b), 0)?).unwrap_or(0);
            let hint = read_decimal(self.kv, &keys::resolved(b))?.min(count);
            let (mut k, mut resolved_to, mut all) = (hint, hint, true);
            while k < count && reads < self.tuning.max_pointer_reads {
                k += 1;
                reads += 1;
                let resolved = self.resolve(b, k, report)?;
                all &= resolved;
                if all {
                    resolved_to = k;
                }
            }
            all &= k == count;
            if resolved_to > hint {
                self.kv
                    .set(&keys::resolved(b), resolved_to.to_string().as_bytes())?;
            }
            contiguous &= all && b <= settled;
            if contiguous {
                advanced_to = b + 1;
            }
            b += 1;
        }
        if advanced_to > floor {
            self.kv
                .set(keys::BUCKET_FLOOR, advanced_to.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Whether pointer `k` of bucket `b` needs nothing more.
    fn resolve(&self, b: i64, k: u64, report: &mut Report) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let Some(bytes) = self.kv.get(&keys::pointer(b, k))? else {
            // Its slot was taken but the write failed or has not landed yet.
            return Ok(b < self.ledger.bucket_of(now) - self.ledger.margin_buckets());
        };
        let Ok(pointer) = serde_json::from_slice::<Pointer>(&bytes) else {
            tracing::error!(b, k, "corrupt forwarding pointer skipped");
            return Ok(true);
        };
        let n = pointer.attempt;
        let Some(destination) = self
            .destinations
            .iter()
            .find(|d| d.name == pointer.destination)
        else {
            // The destination was removed from the configuration.
            return Ok(true);
        };
        if pointer.not_before.is_some_and(|at| at > now) {
            // Queued again after a throttle, for a moment inside this bucket.
            return Ok(false);
        }
        let Some(record) = self.ledger.record(&pointer.event, &destination.name)? else {
            // A throttled first attempt, queued with no record yet; anything else: retention
            // removed it.
            if n == 1 && pointer.not_before.is_some() {
                if let Some(meta) = self.events.meta(&pointer.event)? {
                    let step = self.attempt(&meta, destination, 1)?;
                    return self.settle(step, b, k, pointer, destination, report);
                }
            }
            return Ok(true);
        };
        let step = match record.in_flight {
            // Another attempt is in flight: this pointer is stale if that one is newer.
            Some((m, _)) if m != n => return Ok(m > n),
            // A check: attempt `n` has not finished. Its claim decides (the lease).
            Some(_) => match self.events.meta(&pointer.event)? {
                Some(meta) => self.contend(&meta, destination, n, None)?,
                None => return self.abandon(&record, destination, "the event was deleted"),
            },
            // Finished, replaced by a later attempt, or not due yet (a replica's clock ahead).
            None if record.state != State::Pending || record.next_attempt != n => return Ok(true),
            None if record.next_at.is_some_and(|due| due > now) => return Ok(false),
            None => match self.events.meta(&pointer.event)? {
                Some(meta) => self.attempt(&meta, destination, n)?,
                None => return self.abandon(&record, destination, "the event was deleted"),
            },
        };
        self.settle(step, b, k, pointer, destination, report)
    }

    /// Tallies a pointer's step; a throttled one is moved to a later bucket by the one resolver
    /// that claims the move, which resolves this one once the new pointer is written (a move
    /// that failed leaves this one unresolved: it is tried as it is, never lost or doubled).
    fn settle(
        &self,
        step: Step,
        b: i64,
        k: u64,
        pointer: Pointer,
        destination: &Destination,
        report: &mut Report,
    ) -> Result<bool, StoreError> {
        if let Step::Held = step {
            // The line finds it when it is the head.
            self.tally(step, report);
            return Ok(true);
        }
        let Step::Throttled(until) = step else {
            return Ok(self.tally(step, report));
        };
        self.tally(step, report);
        if self.kv.increment(&keys::moved(b, k), 1)? == 1 {
            self.queue_again(pointer, destination, until, Some((b, k)))?;
            return Ok(true);
        }
        Ok(self.kv.get(&keys::moved_to(b, k))?.is_some())
    }

    // ------------------------------------------------------------------ one attempt

    /// Claims and sends attempt `n`, or contends for it.
    fn attempt(
        &self,
        meta: &EventMeta,
        destination: &Destination,
        n: u32,
    ) -> Result<Step, StoreError> {
        if self.spent() {
            return Ok(Step::Deferred);
        }
        if destination.ordered
            && !ordered::allows(self.kv, self.clock, meta, destination, &self.tuning)?
        {
            return Ok(Step::Held);
        }
        // Before the claim: a store failure here leaves the attempt due, not in flight.
        let me = self.installation()?;
        let claimed_at = self.clock.now();
        let ticket = match self.admit(destination, claimed_at)? {
            Admission::Admitted(ticket) => ticket,
            Admission::Throttled(until) => return Ok(Step::Throttled(until)),
        };
        self.attempt_admitted(meta, destination, n, me, (ticket, claimed_at))
    }

    /// Claims and sends attempt `n` with room the throttle gave at `claimed_at` (released when
    /// the send is over, or handed on to the attempt that takes over).
    fn attempt_admitted(
        &self,
        meta: &EventMeta,
        destination: &Destination,
        n: u32,
        me: Installation,
        (ticket, claimed_at): (Ticket, Timestamp),
    ) -> Result<Step, StoreError> {
        let claimed = self
            .kv
            .increment(&keys::claim(&meta.id, &destination.name, n), 1)
            .map_err(StoreError::from);
        let result = match claimed {
            Ok(1) => self.send_claimed(meta, destination, n, me, claimed_at),
            Ok(_) => return self.contend(meta, destination, n, Some((ticket, claimed_at))),
            Err(error) => Err(error),
        };
        // Sent, given up, or failed: the send is over either way.
        throttle::release(self.kv, &destination.name, ticket);
        result
    }

    /// Asks the destination's throttle for room at `now` (once throttled, not again this call);
    /// a disabled destination has none until [`circuit::RECHECK`] from now.
    fn admit(&self, destination: &Destination, now: Timestamp) -> Result<Admission, StoreError> {
        if self.is_disabled(destination)? {
            return Ok(Admission::Throttled(now.plus(circuit::RECHECK)));
        }
        if !destination.throttle.is_set() {
            return Ok(Admission::Admitted(Ticket::FREE));
        }
        if let Some((_, next)) = self
            .throttled
            .borrow()
            .iter()
            .find(|(d, _)| *d == destination.name)
        {
            return Ok(Admission::Throttled(*next));
        }
        if !self.swept.borrow().contains(&destination.name) {
            throttle::start_sweep(self.kv, &destination.name, now)?;
            self.swept.borrow_mut().push(destination.name.clone());
        }
        let admission = throttle::admit(
            self.kv,
            &destination.name,
            destination.throttle,
            now,
            &self.tuning,
        )?;
        if let Admission::Throttled(until) = admission {
            tracing::debug!(destination = destination.name.as_str(), "throttled");
            self.throttled
                .borrow_mut()
                .push((destination.name.clone(), until));
        }
        Ok(admission)
    }

    /// Whether `destination` is disabled (its record is read once per call).
    fn is_disabled(&self, destination: &Destination) -> Result<bool, StoreError> {
        if let Some((_, disabled)) = self
            .disabled
            .borrow()
            .iter()
            .find(|(d, _)| *d == destination.name)
        {
            return Ok(*disabled);
        }
        let disabled = circuit::disabled(self.kv, &destination.name)?.is_some();
        self.disabled
            .borrow_mut()
            .push((destination.name.clone(), disabled));
        Ok(disabled)
    }

    /// Counts an attempt's outcome towards its destination's thresholds (a store failure is
    /// logged: the outcome itself is recorded).
    fn count_towards_circuit(&self, destination: &Destination, delivered: bool) {
        let counted = if delivered {
            circuit::succeeded(self.kv, &destination.name, destination.circuit)
                .map(|()| circuit::Counted::Failing)
        } else {
            circuit::failed(
                self.kv,
                &destination.name,
                destination.circuit,
                self.clock.now(),
            )
        };
        match counted {
            Ok(circuit::Counted::Failing) => {}
            // Disabled by this failure, or before it by another instance: send it nothing more.
            Ok(circuit::Counted::Disabled(_) | circuit::Counted::AlreadyDisabled) => {
                let mut disabled = self.disabled.borrow_mut();
                disabled.retain(|(d, _)| *d != destination.name);
                disabled.push((destination.name.clone(), true));
            }
            Err(error) => tracing::error!(
                destination = destination.name.as_str(),
                error = %error,
                "outcome not counted towards the destination's circuit"
            ),
        }
    }

    /// Deletes the throttled destinations' old counters (each dispatch round; a failure is
    /// logged, the next round goes on from where this one got).
    fn sweep_throttles(&self) {
        for destination in self.destinations.iter().filter(|d| d.throttle.is_set()) {
            let now = self.clock.now();
            if let Err(error) = throttle::sweep(self.kv, &destination.name, now, &self.tuning) {
                tracing::warn!(destination = destination.name.as_str(), error = %error, "throttle counters not swept");
            }
        }
    }

    /// Attempt `n`, claimed at `claimed_at` by this request: records it as in flight, sends it
    /// and records the outcome.
    fn send_claimed(
        &self,
        meta: &EventMeta,
        destination: &Destination,
        n: u32,
        me: Installation,
        claimed_at: Timestamp,
    ) -> Result<Step, StoreError> {
        self.sends.set(self.sends.get() + 1);
        let mut record = self
            .ledger
            .record(&meta.id, &destination.name)?
            .unwrap_or_else(|| Record::new(meta.id.clone(), destination.name.clone(), claimed_at));
        let previous = (!record.attempts.is_empty() || record.replays > 0).then_some(record.state);
        // A takeover: the attempt it takes over stays in the history.
        record.abandon_in_flight(n);
        record.in_flight = Some((n, claimed_at));
        record.next_attempt = n + 1;
        // The check: if this sender dies, a dispatch finds the attempt unfinished after the lease.
        let (b, k) = self.ledger.slot(claimed_at.plus(self.tuning.lease))?;
        let check = Pointer {
            event: meta.id.clone(),
            destination: destination.name.clone(),
            attempt: n,
            not_before: None,
        };
        self.kv.set_many(&[
            (keys::record(&meta.id, &destination.name), encode(&record)?),
            (keys::pointer(b, k), encode(&check)?),
        ])?;

        let Some(event) = self.events.get(&meta.id)? else {
            return Ok(Step::Done(self.finish(Outcome {
                record,
                destination,
                previous,
                claimed_at,
                attempt: Attempt {
                    n,
                    at: claimed_at,
                    status: None,
                    error: Some("the event was deleted before it could be sent".into()),
                    duration_ms: 0,
                    abandoned: false,
                },
                verdict: Verdict::Permanent,
                retry_after: None,
            })?));
        };
        if !self.young(claimed_at, self.tuning.send_timeout + self.tuning.margin) {
            // Too late to send safely: a contender may take over; leave it to the check.
            return Ok(Step::Deferred);
        }
        let incoming = event.body.headers.get(HOPS_HEADER).map(String::as_str);
        let hops = hops::outgoing(incoming, me);
        let sent_at = self.clock.monotonic();
        let answer = self
            .sender
            .send(destination, &event, n, &hops, self.tuning.send_timeout);
        let took = self.clock.monotonic().saturating_sub(sent_at);
        let duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        let verdict = classify(&answer);
        let (status, error, retry_after) = match answer {
            Answer::Status { code, retry_after } => (Some(code), None, retry_after),
            Answer::Failed(reason) => (None, Some(reason), None),
        };
        if !self.young(claimed_at, self.tuning.margin) {
            tracing::warn!(
                event_id = meta.id.as_str(),
                destination = destination.name.as_str(),
                attempt = n,
                "outcome not recorded: the claim outlived its lease (the check retries it)"
            );
            return Ok(Step::Deferred);
        }
        let attempt = Attempt {
            n,
            at: claimed_at,
            status,
            error,
            duration_ms,
            abandoned: false,
        };
        let retry_after = retry_after.filter(|_| matches!(status, Some(429 | 503)));
        let verdict = self.finish(Outcome {
            record,
            destination,
            previous,
            claimed_at,
            attempt,
            verdict,
            retry_after,
        })?;
        // 429 asks for less, not for the destination to be given up on: it counts for nothing.
        if status != Some(429) {
            self.count_towards_circuit(destination, verdict == Verdict::Delivered);
        }
        Ok(Step::Done(verdict))
    }

    /// Records an attempt's outcome in one batch (the record, the released lease, and the next
    /// pointer or the dead letter), then the counters. Returns the final verdict (a retry with
    /// the schedule used up is a dead letter).
    fn finish(&self, outcome: Outcome<'_>) -> Result<Verdict, StoreError> {
        let Outcome {
            mut record,
            destination,
            previous,
            claimed_at,
            attempt,
            verdict,
            retry_after,
        } = outcome;
        let n = attempt.n;
        record.in_flight = None;
        record.push_attempt(attempt);
        let round = n.saturating_sub(record.round_start) + 1;
        let wait = match verdict {
            Verdict::Retry => {
                retry_after.or_else(|| self.schedule.wait_before(round + 1, jitter()))
            }
            Verdict::Delivered | Verdict::Permanent => None,
        };
        let verdict = match (verdict, wait) {
            (Verdict::Retry, None) => Verdict::Permanent,
            (verdict, _) => verdict,
        };
        let mut writes = vec![(
            keys::lease(&record.event, &destination.name, n),
            b"0".to_vec(),
        )];
        match (verdict, wait) {
            (Verdict::Delivered, _) => {
                record.state = State::Delivered;
                record.next_at = None;
            }
            (Verdict::Retry, Some(wait)) => {
                let due = claimed_at.plus(wait);
                record.state = State::Pending;
                record.next_at = Some(due);
                let (b, k) = self.ledger.slot(due)?;
                let pointer = Pointer {
                    event: record.event.clone(),
                    destination: destination.name.clone(),
                    attempt: n + 1,
                    not_before: None,
                };
                writes.push((keys::pointer(b, k), encode(&pointer)?));
            }
            _ => {
                record.state = State::Dead;
                record.next_at = None;
                let k = u64::try_from(self.kv.increment(keys::DEAD_SEQ, 1)?).unwrap_or_default();
                record.dead_entry = Some(k);
                let entry = DeadEntry {
                    event: record.event.clone(),
                    destination: destination.name.clone(),
                    at: self.clock.now(),
                };
                writes.push((keys::dead(k), encode(&entry)?));
            }
        }
        writes.push((
            keys::record(&record.event, &destination.name),
            encode(&record)?,
        ));
        self.kv.set_many(&writes)?;
        self.ledger
            .count_transition(&destination.name, previous, Some(record.state));
        let result = match record.state {
            State::Delivered => "delivered",
            State::Pending => "retry",
            State::Dead => "dead",
        };
        if let Err(error) = self
            .kv
            .increment(&keys::attempts(destination.name.as_str(), result), 1)
        {
            tracing::error!(error = %error, "attempt counter not updated");
        }
        tracing::info!(
            event_id = record.event.as_str(),
            destination = destination.name.as_str(),
            attempt = n,
            outcome = result,
            "forward"
        );
        Ok(verdict)
    }

    /// Another request claimed attempt `n`: wait for it, or take over from a sender that is gone.
    /// `admitted`: the throttle's room this request already has (the takeover uses it; else it
    /// is released).
    fn contend(
        &self,
        meta: &EventMeta,
        destination: &Destination,
        n: u32,
        admitted: Option<(Ticket, Timestamp)>,
    ) -> Result<Step, StoreError> {
        let mut room = admitted;
        let step = self.contend_for(meta, destination, n, &mut room);
        // Not handed on to a takeover (which releases it): the room is not used.
        if let Some((ticket, _)) = room {
            throttle::release(self.kv, &destination.name, ticket);
        }
        step
    }

    fn contend_for(
        &self,
        meta: &EventMeta,
        destination: &Destination,
        n: u32,
        room: &mut Option<(Ticket, Timestamp)>,
    ) -> Result<Step, StoreError> {
        let lease = match self.ledger.record(&meta.id, &destination.name)? {
            Some(record) if record.in_flight.map(|(m, _)| m) == Some(n) => {
                // The sender recorded when it claimed: that is the lease's start.
                let since = record
                    .in_flight
                    .map_or(self.clock.now(), |(_, since)| since);
                if self.young(since, Duration::ZERO) {
                    Lease::Held
                } else {
                    Lease::Expired
                }
            }
            Some(record) if record.next_attempt > n || record.state != State::Pending => {
                return Ok(Step::Nothing);
            }
            // Claimed, and its sender has written nothing yet (or died before it could).
            _ => self.lease_state(&meta.id, &destination.name, n)?,
        };
        match lease {
            Lease::Released => Ok(Step::Nothing),
            Lease::Held => Ok(Step::Busy),
            Lease::Unknown => {
                let now = self.clock.now().unix_millis().to_string();
                self.kv
                    .set(&keys::lease(&meta.id, &destination.name, n), now.as_bytes())?;
                Ok(Step::Busy)
            }
            Lease::Expired if n < 200 => {
                tracing::warn!(
                    event_id = meta.id.as_str(),
                    destination = destination.name.as_str(),
                    attempt = n,
                    "taking over an attempt whose sender did not finish"
                );
                if room.is_some() && self.spent() {
                    // The room is released by `contend`.
                    return Ok(Step::Deferred);
                }
                match room.take() {
                    Some(room) => {
                        let me = self.installation()?;
                        self.attempt_admitted(meta, destination, n + 1, me, room)
                    }
                    None => self.attempt(meta, destination, n + 1),
                }
            }
            Lease::Expired => Ok(Step::Busy),
        }
    }

    /// Turns a delivery whose event is gone into a dead letter without sending.
    fn abandon(
        &self,
        record: &Record,
        destination: &Destination,
        why: &str,
    ) -> Result<bool, StoreError> {
        let n = record.next_attempt;
        if self
            .kv
            .increment(&keys::claim(&record.event, &destination.name, n), 1)?
            != 1
        {
            return Ok(false);
        }
        let now = self.clock.now();
        let mut claimed = record.clone();
        claimed.abandon_in_flight(n);
        claimed.next_attempt = n + 1;
        self.finish(Outcome {
            record: claimed,
            destination,
            previous: Some(record.state),
            claimed_at: now,
            attempt: Attempt {
                n,
                at: now,
                status: None,
                error: Some(why.to_owned()),
                duration_ms: 0,
                abandoned: false,
            },
            verdict: Verdict::Permanent,
            retry_after: None,
        })?;
        Ok(true)
    }

    // ------------------------------------------------------------------ helpers

    fn tally(&self, step: Step, report: &mut Report) -> bool {
        match step {
            Step::Done(verdict) => {
                report.sent += 1;
                match verdict {
                    Verdict::Delivered => report.delivered += 1,
                    Verdict::Retry => report.failed += 1,
                    Verdict::Permanent => report.dead += 1,
                }
                true
            }
            Step::Nothing => true,
            Step::Busy | Step::Deferred | Step::Throttled(_) | Step::Held => {
                report.still_due += 1;
                false
            }
        }
    }

    fn lease_state(&self, e: &EventId, d: &DestinationName, n: u32) -> Result<Lease, StoreError> {
        let key = keys::lease(e, d, n);
        Ok(match self.kv.get(&key)? {
            None => Lease::Unknown,
            Some(bytes) => match std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
            {
                // Released in the same batch as the outcome: the attempt is over, whatever a
                // record read before it said (taking over here sent attempts twice).
                Some(0) => Lease::Released,
                None => Lease::Expired,
                Some(started) => {
                    let age = self.clock.now().unix_millis().saturating_sub(started);
                    if age >= millis(self.tuning.lease) {
                        Lease::Expired
                    } else {
                        Lease::Held
                    }
                }
            },
        })
    }

    /// Whether this call has used up its sends or its time.
    fn spent(&self) -> bool {
        self.sends.get() >= self.tuning.max_sends
            || self.clock.monotonic().saturating_sub(self.started) >= self.tuning.max_duration
    }

    /// This installation's id (made on first use: [`hops`]), read once per dispatcher.
    fn installation(&self) -> Result<Installation, StoreError> {
        if let Some(me) = self.installation.get() {
            return Ok(*me);
        }
        let me = Installation::load_or_create(self.kv)?;
        Ok(*self.installation.get_or_init(|| me))
    }

    /// Whether a claim made at `claimed_at` is still `leeway` short of its lease.
    fn young(&self, claimed_at: Timestamp, leeway: Duration) -> bool {
        let age = self
            .clock
            .now()
            .unix_millis()
            .saturating_sub(claimed_at.unix_millis());
        age < millis(self.tuning.lease).saturating_sub(millis(leeway))
    }

    /// Keeps `fwd:destinations` listing every configured name (read by the API's stats and by
    /// retention) and `fwd:settings` their settings (shown by the API), each written only when
    /// it changes.
    fn register_destinations(&self) -> Result<(), StoreError> {
        let mut names = registered(self.kv)?;
        let before = names.len();
        for destination in self.destinations {
            if !names.contains(&destination.name) {
                names.push(destination.name.clone());
            }
        }
        if names.len() != before {
            self.kv.set(keys::DESTINATIONS, &encode(&names)?)?;
        }
        super::settings::record(self.kv, self.destinations)
    }
}
