//! Forwarding against the in-memory store and a scripted sender: delivery semantics, retries,
//! dead letters, replay, claim races and store failures.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::bulk::{BulkReplay, Selection};
use super::destinations::{self, Destination, DestinationName, Filter};
use super::dispatch::{Dispatcher, Sender};
use super::keys;
use super::ledger::{counts, dead_letters, Ledger, ReplayError};
use super::policy::{Answer, Schedule};
use super::records::State;
use super::signing;
use super::tuning::Tuning;
use crate::clock::{Clock, ManualClock};
use crate::events::{EventId, EventStore, Ingested, NewEvent, Provider, StoredEvent};
use crate::kv::testing::{FaultyKv, Op};
use crate::kv::{KeyValue, MemoryKv};

#[path = "ordered_tests.rs"]
mod ordered_tests;

#[path = "circuit_tests.rs"]
mod circuit_tests;

const T0: i64 = 1_800_000_000;
/// `whsec_` + base64("forwarding-test-key").
const KEY: &str = "whsec_Zm9yd2FyZGluZy10ZXN0LWtleQ==";

/// Answers from a script per destination (the last answer repeats), and remembers every send.
#[derive(Default)]
struct Scripted {
    scripts: Mutex<HashMap<String, Vec<Answer>>>,
    sent: Mutex<Vec<(String, String, u32)>>,
    timeouts: Mutex<Vec<Duration>>,
    hops: Mutex<Vec<String>>,
}

impl Scripted {
    fn answering(destination: &str, answers: Vec<Answer>) -> Self {
        let scripted = Self::default();
        scripted.script(destination, answers);
        scripted
    }

    fn script(&self, destination: &str, answers: Vec<Answer>) {
        self.scripts
            .lock()
            .unwrap()
            .insert(destination.to_owned(), answers);
    }

    fn sent(&self) -> Vec<(String, String, u32)> {
        self.sent.lock().unwrap().clone()
    }
}

impl Sender for Scripted {
    fn send(
        &self,
        destination: &Destination,
        event: &StoredEvent,
        attempt: u32,
        hops: &str,
        timeout: Duration,
    ) -> Answer {
        self.timeouts.lock().unwrap().push(timeout);
        self.hops.lock().unwrap().push(hops.to_owned());
        self.sent.lock().unwrap().push((
            event.meta.id.as_str().to_owned(),
            destination.name.as_str().to_owned(),
            attempt,
        ));
        let mut scripts = self.scripts.lock().unwrap();
        let script = scripts
            .entry(destination.name.as_str().to_owned())
            .or_default();
        match script.len() {
            0 => ok(),
            1 => script[0].clone(),
            _ => script.remove(0),
        }
    }
}

fn ok() -> Answer {
    status(200)
}

fn status(code: u16) -> Answer {
    Answer::Status {
        code,
        retry_after: None,
    }
}

fn destinations(json: &str) -> Vec<Destination> {
    destinations::parse(json).unwrap()
}

fn one_destination() -> Vec<Destination> {
    destinations(&format!(
        r#"[{{"name":"sink","url":"http://127.0.0.1:9/in","secret":"{KEY}"}}]"#
    ))
}

fn ingest(
    kv: &MemoryKv,
    clock: &ManualClock,
    provider: Provider,
    delivery: &str,
    kind: &str,
) -> EventId {
    let event = NewEvent::example(provider, delivery, kind);
    match EventStore::new(kv, clock).ingest(event).unwrap() {
        Ingested::Accepted(meta) => meta.id,
        other => panic!("{other:?}"),
    }
}

fn dispatcher<'a, K: KeyValue, S: Sender>(
    kv: &'a K,
    clock: &'a ManualClock,
    sender: S,
    destinations: &'a [Destination],
    schedule: &'a Schedule,
) -> Dispatcher<'a, K, ManualClock, S> {
    Dispatcher::new(kv, clock, sender, destinations, schedule, Tuning::default())
}

#[test]
fn a_healthy_destination_gets_each_event_exactly_once() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::default();
    let ids: Vec<_> = (0..3)
        .map(|n| ingest(&kv, &clock, Provider::Github, &format!("d-{n}"), "push"))
        .collect();
    let report = dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    assert_eq!((report.sent, report.delivered, report.still_due), (3, 3, 0));
    for _ in 0..3 {
        clock.advance(Duration::from_secs(30));
        let report = dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap();
        assert_eq!(report.sent, 0, "{report:?}");
    }
    let sent = sender.sent();
    assert_eq!(sent.len(), 3);
    assert!(ids
        .iter()
        .all(|id| sent.iter().filter(|s| s.0 == id.as_str()).count() == 1));
    assert_eq!(counts(&kv).unwrap()[0].1, [0, 3, 0]);
    let meta = EventStore::new(&kv, &clock).meta(&ids[0]).unwrap().unwrap();
    let records = Ledger::new(&kv, &clock, Tuning::default())
        .records_of(&meta.id)
        .unwrap();
    assert_eq!(records[0].state, State::Delivered);
    assert_eq!(records[0].attempts.len(), 1);
    assert_eq!(records[0].attempts[0].status, Some(200));
}

#[test]
fn failures_are_retried_in_backoff_order_then_delivered() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::answering(
        "sink",
        vec![status(500), Answer::Failed("refused".into()), ok()],
    );
    let id = ingest(&kv, &clock, Provider::Stripe, "evt_r", "invoice.paid");
    let dispatch = || {
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap()
    };
    assert_eq!(dispatch().failed, 1);
    let meta = EventStore::new(&kv, &clock).meta(&id).unwrap().unwrap();
    let record = |clock: &ManualClock| {
        Ledger::new(&kv, clock, Tuning::default())
            .records_of(&meta.id)
            .unwrap()
            .remove(0)
    };
    let first_retry = record(&clock).next_at.unwrap();
    let wait = first_retry.unix_millis() - T0 * 1000;
    assert!((4_500..=5_500).contains(&wait), "5 s +- 10 %: {wait} ms");
    // Not before it is due.
    clock.advance(Duration::from_secs(2));
    assert_eq!(dispatch().sent, 0);
    clock.advance(Duration::from_secs(14));
    assert_eq!(dispatch().failed, 1);
    let second_retry = record(&clock).next_at.unwrap();
    let wait = second_retry.unix_millis() - clock.now().unix_millis();
    assert!(
        (270_000..=330_000).contains(&wait),
        "5 min +- 10 %: {wait} ms"
    );
    clock.advance(Duration::from_secs(340));
    assert_eq!(dispatch().delivered, 1);
    let done = record(&clock);
    assert_eq!(done.state, State::Delivered);
    let attempts: Vec<_> = done
        .attempts
        .iter()
        .map(|a| (a.n, a.status, a.error.clone()))
        .collect();
    assert_eq!(
        attempts,
        [
            (1, Some(500), None),
            (2, None, Some("refused".to_owned())),
            (3, Some(200), None)
        ]
    );
    assert_eq!(
        sender.sent().iter().map(|s| s.2).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[test]
fn retry_after_on_429_and_503_replaces_the_schedule() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::answering(
        "sink",
        vec![Answer::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(120)),
        }],
    );
    let id = ingest(&kv, &clock, Provider::Github, "ra", "push");
    dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    let meta = EventStore::new(&kv, &clock).meta(&id).unwrap().unwrap();
    let record = Ledger::new(&kv, &clock, Tuning::default())
        .records_of(&meta.id)
        .unwrap()
        .remove(0);
    assert_eq!(record.next_at.unwrap().unix_seconds(), T0 + 120);
}

#[test]
fn a_permanent_refusal_is_a_dead_letter_at_once_and_replay_delivers_it() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::answering("sink", vec![status(410)]);
    let id = ingest(&kv, &clock, Provider::Github, "gone", "push");
    let report = dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    assert_eq!(report.dead, 1);
    let page = dead_letters(&kv, None, 10, None, 100).unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].event, id);
    assert_eq!(page.items[0].attempts[0].status, Some(410));
    assert_eq!(counts(&kv).unwrap()[0].1, [0, 0, 1]);
    // Nothing more happens to a dead letter.
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap()
            .sent,
        0
    );
    // Replay: due now, pending, then delivered.
    sender.script("sink", vec![ok()]);
    let meta = EventStore::new(&kv, &clock).meta(&id).unwrap().unwrap();
    let replayed = Ledger::new(&kv, &clock, Tuning::default())
        .replay(&meta, None)
        .unwrap();
    assert_eq!(replayed[0].state, State::Pending);
    assert_eq!(counts(&kv).unwrap()[0].1, [1, 0, 0]);
    assert!(dead_letters(&kv, None, 10, None, 100)
        .unwrap()
        .items
        .is_empty());
    let report = dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(counts(&kv).unwrap()[0].1, [0, 1, 0]);
    assert_eq!(
        sender.sent().iter().map(|s| s.2).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn a_replayed_delivery_is_sent_when_its_event_is_asked_for_and_not_again_by_the_tick() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::answering("sink", vec![status(410)]);
    let id = ingest(&kv, &clock, Provider::Github, "asked", "push");
    dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch_event(&id)
        .unwrap();
    let meta = EventStore::new(&kv, &clock).meta(&id).unwrap().unwrap();
    let ledger = Ledger::new(&kv, &clock, Tuning::default());
    let unknown = DestinationName::parse("nowhere").unwrap();
    assert!(ledger.replay(&meta, Some(&unknown)).unwrap().is_empty());
    assert_eq!(ledger.replay(&meta, None).unwrap().len(), 1);

    sender.script("sink", vec![ok()]);
    let report = dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch_event(&id)
        .unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    // The replay's due pointer is resolved without a send.
    let report = dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    assert_eq!(report.sent, 0, "{report:?}");
    assert_eq!(
        sender.sent().iter().map(|s| s.2).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn an_exhausted_schedule_ends_in_a_dead_letter() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let targets = one_destination();
    let schedule = Schedule::parse("1s,1s").unwrap();
    let sender = Scripted::answering("sink", vec![status(503)]);
    ingest(&kv, &clock, Provider::Github, "tired", "push");
    for _ in 0..6 {
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap();
        clock.advance(Duration::from_secs(12));
    }
    assert_eq!(sender.sent().len(), 3, "1 + the two waits");
    assert_eq!(
        dead_letters(&kv, None, 10, None, 100).unwrap().items.len(),
        1
    );
}

#[test]
fn filters_choose_the_destinations() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let targets = destinations(&format!(
        r#"[{{"name":"billing","url":"http://127.0.0.1:9/b","secret":"{KEY}","filter":["stripe:invoice.*"]}},
            {{"name":"code","url":"http://127.0.0.1:9/c","secret":"{KEY}","filter":"github"}},
            {{"name":"all","url":"http://127.0.0.1:9/a","secret":"{KEY}"}}]"#
    ));
    let schedule = Schedule::default();
    let sender = Scripted::default();
    ingest(&kv, &clock, Provider::Stripe, "s1", "invoice.paid");
    ingest(&kv, &clock, Provider::Stripe, "s2", "customer.created");
    ingest(&kv, &clock, Provider::Github, "g1", "push");
    dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    let mut by_destination: BTreeMap<String, usize> = BTreeMap::new();
    for (_, destination, _) in sender.sent() {
        *by_destination.entry(destination).or_default() += 1;
    }
    assert_eq!(
        by_destination,
        BTreeMap::from([("all".into(), 3), ("billing".into(), 1), ("code".into(), 1)])
    );
}

#[test]
fn concurrent_dispatchers_send_each_attempt_once() {
    let kv = Arc::new(MemoryKv::new());
    let clock = Arc::new(ManualClock::at_unix(T0));
    let targets = Arc::new(one_destination());
    let schedule = Arc::new(Schedule::default());
    let sender = Arc::new(Scripted::default());
    for n in 0..30 {
        ingest(
            &kv,
            &clock,
            Provider::Standard,
            &format!("msg-{n}"),
            "user.created",
        );
    }
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (kv, clock, targets, schedule, sender) = (
                kv.clone(),
                clock.clone(),
                targets.clone(),
                schedule.clone(),
                sender.clone(),
            );
            std::thread::spawn(move || {
                for _ in 0..5 {
                    Dispatcher::new(
                        &*kv,
                        &*clock,
                        &*sender,
                        &targets,
                        &schedule,
                        Tuning::default(),
                    )
                    .dispatch()
                    .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let sent = sender.sent();
    assert_eq!(sent.len(), 30, "{sent:?}");
    let mut unique = sent.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 30);
}

/// The race the bench found (two of three runs with four concurrent dispatch callers on Redis):
/// a contender loses the claim, reads the delivery record before the winner wrote it, and reads
/// the lease after the winner finished and released it ("0"). A released lease means the
/// attempt is over, not that its sender died: the contender must not send attempt 2.
#[test]
fn a_contender_that_sees_the_released_lease_does_not_send_again() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::default();
    let id = ingest(&kv, &clock, Provider::Github, "race", "push");
    let name = &targets[0].name;
    let (claim, lease) = (keys::claim(&id, name, 1), keys::lease(&id, name, 1));
    let (claimed, released) = (AtomicBool::new(false), AtomicBool::new(false));
    // Runs before each of the contender's operations: the winner claims just before the
    // contender's claim, and has finished (released its lease, as `finish` does) just before
    // the contender reads the lease.
    let contender = FaultyKv::new(&kv, |op, key, _| {
        if op == Op::Increment && key == claim && !claimed.swap(true, Ordering::SeqCst) {
            kv.increment(&claim, 1).unwrap();
        }
        if op == Op::Get && key == lease && !released.swap(true, Ordering::SeqCst) {
            kv.set(&lease, b"0").unwrap();
        }
        false
    });
    dispatcher(&contender, &clock, &sender, &targets, &schedule)
        .dispatch_event(&id)
        .unwrap();
    assert!(claimed.load(Ordering::SeqCst) && released.load(Ordering::SeqCst));
    assert_eq!(sender.sent(), [], "the winner's attempt was the only one");
}

/// A replay while an attempt is in flight would be overwritten by that attempt's outcome (it
/// writes the record it read when it claimed), and the replay's pointer would then find
/// nothing to do: an accepted replay silently lost. It is refused instead, naming the
/// destination, and nothing is written.
#[test]
fn a_replay_while_an_attempt_is_in_flight_is_refused_and_writes_nothing() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::default();
    let id = ingest(&kv, &clock, Provider::Github, "in-flight", "push");
    // The outcome is never written: the record stays in flight, as during a send.
    let sending = FaultyKv::new(&kv, |op, key, _| {
        op == Op::SetMany && key.starts_with("fwd:lease:")
    });
    let _ = dispatcher(&sending, &clock, &sender, &targets, &schedule).dispatch_event(&id);
    let meta = EventStore::new(&kv, &clock).meta(&id).unwrap().unwrap();
    let ledger = Ledger::new(&kv, &clock, Tuning::default());
    let before = ledger.records_of(&id).unwrap();
    assert!(before[0].in_flight.is_some());
    match ledger.replay(&meta, None) {
        Err(ReplayError::InFlight(name)) => assert_eq!(name.as_str(), "sink"),
        other => panic!("{other:?}"),
    }
    let after = ledger.records_of(&id).unwrap();
    assert_eq!(
        (after[0].replays, after[0].in_flight),
        (before[0].replays, before[0].in_flight)
    );
}

/// A store that fails one chosen write of the outcome: the sender sent, then "died".
#[test]
fn a_sender_that_died_after_sending_is_taken_over_after_the_lease_not_before() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::default();
    let id = ingest(&kv, &clock, Provider::Github, "crash", "push");
    // The outcome batch (it carries the released lease) fails: the record stays in flight.
    let dies = FaultyKv::new(&kv, |op, key, _| {
        op == Op::SetMany && key.starts_with("fwd:lease:")
    });
    let _ = dispatcher(&dies, &clock, &sender, &targets, &schedule).dispatch();
    assert_eq!(sender.sent().len(), 1);
    // Within the lease, nobody sends it again.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(15));
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap();
    }
    assert_eq!(sender.sent().len(), 1, "no second send within the lease");
    // After it, the check takes over: attempt 2, once.
    for _ in 0..4 {
        clock.advance(Duration::from_secs(20));
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap();
    }
    let attempts: Vec<u32> = sender.sent().iter().map(|s| s.2).collect();
    assert_eq!(attempts, [1, 2]);
    let meta = EventStore::new(&kv, &clock).meta(&id).unwrap().unwrap();
    let record = Ledger::new(&kv, &clock, Tuning::default())
        .records_of(&meta.id)
        .unwrap()
        .remove(0);
    assert_eq!(record.state, State::Delivered);
}

/// Issue 25: the send succeeded, its outcome was not written (the store failed), and the
/// takeover's attempt 2 replaced attempt 1 in the history. Attempt 1 stays, as abandoned: its
/// start time, no status, and an outcome nobody knows.
#[test]
fn a_taken_over_attempt_stays_in_the_history_as_abandoned() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::default();
    let id = ingest(&kv, &clock, Provider::Github, "lost-outcome", "push");
    let claimed_at = clock.now();
    let dies = FaultyKv::new(&kv, |op, key, _| {
        op == Op::SetMany && key.starts_with("fwd:lease:")
    });
    let _ = dispatcher(&dies, &clock, &sender, &targets, &schedule).dispatch();
    assert_eq!(sender.sent().len(), 1, "attempt 1 was sent");
    for _ in 0..8 {
        clock.advance(Duration::from_secs(15));
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap();
    }
    let attempts: Vec<u32> = sender.sent().iter().map(|s| s.2).collect();
    assert_eq!(attempts, [1, 2], "taken over once");
    let record = Ledger::new(&kv, &clock, Tuning::default())
        .records_of(&id)
        .unwrap()
        .remove(0);
    assert_eq!(record.state, State::Delivered);
    let numbers: Vec<u32> = record.attempts.iter().map(|a| a.n).collect();
    assert_eq!(
        numbers,
        [1, 2],
        "both attempts are in the history: {record:?}"
    );
    let abandoned = &record.attempts[0];
    assert_eq!(abandoned.at, claimed_at, "attempt 1 keeps its start time");
    assert_eq!(abandoned.status, None);
    assert!(abandoned.abandoned, "{abandoned:?}");
    assert!(
        abandoned
            .error
            .as_deref()
            .is_some_and(|e| e.contains("may have been delivered")),
        "{abandoned:?}"
    );
    assert!(!record.attempts[1].abandoned);
    assert_eq!(record.attempts[1].status, Some(200));
    assert_eq!(record.in_flight, None);
}

#[test]
fn a_store_failure_at_any_step_leaves_the_delivery_due_never_dropped() {
    let schedule = Schedule::default();
    let targets = one_destination();
    for fail_at in 0..40 {
        let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
        let sender = Scripted::default();
        let id = ingest(&kv, &clock, Provider::Github, "fragile", "push");
        let once = std::sync::atomic::AtomicBool::new(true);
        let faulty = FaultyKv::new(&kv, |_, _, n| {
            n == fail_at && once.swap(false, std::sync::atomic::Ordering::SeqCst)
        });
        let _ = dispatcher(&faulty, &clock, &sender, &targets, &schedule).dispatch();
        // Later rounds on a healthy store deliver it.
        for _ in 0..8 {
            clock.advance(Duration::from_secs(40));
            dispatcher(&kv, &clock, &sender, &targets, &schedule)
                .dispatch()
                .unwrap();
        }
        let meta = EventStore::new(&kv, &clock).meta(&id).unwrap().unwrap();
        let record = Ledger::new(&kv, &clock, Tuning::default())
            .records_of(&meta.id)
            .unwrap()
            .remove(0);
        assert_eq!(
            record.state,
            State::Delivered,
            "failing operation {fail_at}: {record:?}"
        );
        assert!(!sender.sent().is_empty(), "failing operation {fail_at}");
    }
}

#[test]
fn the_floor_waits_at_a_gap_until_it_can_no_longer_fill() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::default();
    ingest(&kv, &clock, Provider::Github, "before", "push");
    // A sequence number handed out whose commit has not landed (or failed).
    kv.increment("events:seq", 1).unwrap();
    ingest(&kv, &clock, Provider::Github, "after", "push");
    dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    assert_eq!(sender.sent().len(), 2, "both events are sent anyway");
    assert_eq!(
        kv.get("fwd:floor").unwrap().as_deref(),
        Some(&b"1"[..]),
        "held before the gap"
    );
    clock.advance(Duration::from_secs(61));
    dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    assert_eq!(
        kv.get("fwd:floor").unwrap().as_deref(),
        Some(&b"3"[..]),
        "past it once old"
    );
    assert_eq!(sender.sent().len(), 2);
}

#[test]
fn one_event_can_be_dispatched_at_once() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::default();
    let first = ingest(&kv, &clock, Provider::Github, "one", "push");
    let second = ingest(&kv, &clock, Provider::Github, "two", "push");
    let report = dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch_event(&second)
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(sender.sent()[0].0, second.as_str());
    // The regular round sends the other, and not this one again.
    dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    let sent: Vec<_> = sender.sent().into_iter().map(|s| s.0).collect();
    assert_eq!(
        sent,
        [second.as_str().to_owned(), first.as_str().to_owned()]
    );
}

/// A sender whose every send takes `takes` on the injected clock.
struct Slow<'a> {
    clock: &'a ManualClock,
    takes: Duration,
    inner: Scripted,
}

impl Sender for Slow<'_> {
    fn send(
        &self,
        destination: &Destination,
        event: &StoredEvent,
        attempt: u32,
        hops: &str,
        timeout: Duration,
    ) -> Answer {
        self.clock.advance(self.takes);
        self.inner.send(destination, event, attempt, hops, timeout)
    }
}

#[test]
fn the_time_budget_and_send_durations_run_on_the_injected_clock() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let tuning = Tuning::default();
    // Longer than a call may run, shorter than the lease less the margin (so it is recorded).
    let takes = tuning.max_duration + Duration::from_secs(1);
    assert!(takes < tuning.lease - tuning.margin);
    let sender = Slow {
        clock: &clock,
        takes,
        inner: Scripted::default(),
    };
    let ids: Vec<_> = (0..3)
        .map(|n| ingest(&kv, &clock, Provider::Github, &format!("slow-{n}"), "push"))
        .collect();
    let report = Dispatcher::new(&kv, &clock, &sender, &targets, &schedule, tuning)
        .dispatch()
        .unwrap();
    // The first send used up the budget on the injected clock: the rest wait for the next call.
    assert_eq!((report.sent, report.still_due), (1, 2), "{report:?}");
    let record = Ledger::new(&kv, &clock, tuning)
        .record(&ids[0], &targets[0].name)
        .unwrap()
        .unwrap();
    assert_eq!(
        record.attempts[0].duration_ms,
        u64::try_from(takes.as_millis()).unwrap()
    );
}

#[test]
fn each_send_gets_the_dispatchers_send_timeout() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let tuning = Tuning {
        send_timeout: Duration::from_millis(2_500),
        ..Tuning::default()
    };
    assert_ne!(tuning.send_timeout, Tuning::default().send_timeout);
    let sender = Scripted::answering("sink", vec![status(500), ok()]);
    let id = ingest(&kv, &clock, Provider::Github, "deadline", "push");
    Dispatcher::new(&kv, &clock, &sender, &targets, &schedule, tuning)
        .dispatch()
        .unwrap();
    clock.advance(Duration::from_secs(600));
    Dispatcher::new(&kv, &clock, &sender, &targets, &schedule, tuning)
        .dispatch_event(&id)
        .unwrap();
    assert_eq!(sender.sent().len(), 2);
    assert_eq!(
        *sender.timeouts.lock().unwrap(),
        [tuning.send_timeout, tuning.send_timeout]
    );
}

/// Issue 25: every forwarded request names this installation (and those an event came through
/// before), so the webhook component can refuse it when it comes back; a 508 (what it answers
/// then) is a dead letter at once, never retried.
#[test]
fn every_send_carries_this_installations_mark_and_a_loop_is_dead_at_once() {
    use super::hops::{self, Installation};
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::answering("sink", vec![status(508)]);
    let plain = ingest(&kv, &clock, Provider::Github, "hop-1", "push");
    // An event that came from another installation (its hops header is kept with it).
    let other = "00000000000000aa";
    let mut event = NewEvent::example(Provider::Standard, "hop-2", "thing.done");
    event
        .headers
        .insert(hops::HOPS_HEADER.to_owned(), other.to_owned());
    let Ingested::Accepted(relayed) = EventStore::new(&kv, &clock).ingest(event).unwrap() else {
        panic!("not accepted");
    };
    dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    let me = Installation::load(&kv)
        .unwrap()
        .expect("made by the first send");
    assert_eq!(
        *sender.hops.lock().unwrap(),
        [me.to_string(), format!("{other},{me}")]
    );
    let ledger = Ledger::new(&kv, &clock, Tuning::default());
    for id in [&plain, &relayed.id] {
        let record = ledger.records_of(id).unwrap().remove(0);
        assert_eq!(record.state, State::Dead, "{record:?}");
    }
    // Later rounds send nothing more, and the id stays the same.
    for _ in 0..5 {
        clock.advance(Duration::from_secs(60));
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap();
    }
    assert_eq!(sender.sent().len(), 2);
    assert_eq!(Installation::load(&kv).unwrap(), Some(me));
}

#[test]
fn forwarded_requests_verify_with_a_standard_webhooks_verifier() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let id = ingest(&kv, &clock, Provider::Stripe, "evt_sig", "invoice.paid");
    let event = EventStore::new(&kv, &clock).get(&id).unwrap().unwrap();
    let keys = one_destination().remove(0).keys;
    let headers: HashMap<&str, String> =
        signing::headers(&keys, &event, 3, "0123456789abcdef", clock.now())
            .into_iter()
            .collect();
    let verifier_key = webhook_verify::standard::Key::parse(KEY).unwrap();
    let signed = webhook_verify::standard::SignedHeaders {
        id: headers.get("webhook-id").map(String::as_str),
        timestamp: headers.get("webhook-timestamp").map(String::as_str),
        signature: headers.get("webhook-signature").map(String::as_str),
    };
    webhook_verify::standard::verify(
        signed,
        event.body.raw_body.as_bytes(),
        &[&verifier_key],
        T0,
        Duration::from_secs(300),
    )
    .unwrap();
    assert_eq!(headers["webhook-id"], id.as_str());
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers[signing::PROVIDER_HEADER], "stripe");
    assert_eq!(headers[signing::EVENT_TYPE_HEADER], "invoice.paid");
    assert_eq!(headers[signing::DELIVERY_ID_HEADER], "evt_sig");
    assert_eq!(headers[signing::ATTEMPT_HEADER], "3");
    assert_eq!(headers[signing::HOPS_HEADER], "0123456789abcdef");
}

#[test]
fn destinations_are_validated_naming_the_entry_never_the_secret_or_url() {
    assert!(destinations::parse("").unwrap().is_empty());
    assert!(destinations::parse("  ").unwrap().is_empty());
    let secret = "whsec_c2VjcmV0LXZhbHVl";
    for (json, field) in [
        ("{}".to_owned(), "line"),
        (
            format!(r#"[{{"name":"Bad Name","url":"https://x.example","secret":"{secret}"}}]"#),
            "name",
        ),
        (
            format!(
                r#"[{{"name":"a","url":"http://hooks.example.com/s3cr3t-token","secret":"{secret}"}}]"#
            ),
            "url",
        ),
        (
            r#"[{"name":"a","url":"https://x.example","secret":"plain-s3cr3t"}]"#.to_owned(),
            "secret",
        ),
        (
            format!(
                r#"[{{"name":"a","url":"https://x.example","secret":"{secret}","filter":"nosuch:*"}}]"#
            ),
            "filter",
        ),
        (
            format!(
                r#"[{{"name":"a","url":"https://x.example","secret":"{secret}","filter":["*.created"]}}]"#
            ),
            "filter",
        ),
        (
            format!(
                r#"[{{"name":"a","url":"https://x.example","secret":"{secret}"}},{{"name":"a","url":"https://y.example","secret":"{secret}"}}]"#
            ),
            "name",
        ),
        (
            format!(r#"[{{"name":"a","url":"https://x.example","secret":"{secret}","extra":1}}]"#),
            "line",
        ),
    ] {
        let error = destinations::parse(&json).unwrap_err();
        let text = error.to_string();
        assert_eq!(error.variable(), destinations::VARIABLE);
        assert!(text.contains(field), "{field}: {text}");
        assert!(
            !text.contains("s3cr3t") && !text.contains("c2VjcmV0"),
            "{text}"
        );
    }
}

/// `whsec_` + base64("rotation-new-key") and base64("rotation-old-key").
const NEW_KEY: &str = "whsec_cm90YXRpb24tbmV3LWtleQ==";
const OLD_KEY: &str = "whsec_cm90YXRpb24tb2xkLWtleQ==";

fn verifies_with(headers: &HashMap<&str, String>, body: &[u8], secret: &str) -> bool {
    let key = webhook_verify::standard::Key::parse(secret).unwrap();
    webhook_verify::standard::verify(
        webhook_verify::standard::SignedHeaders {
            id: headers.get("webhook-id").map(String::as_str),
            timestamp: headers.get("webhook-timestamp").map(String::as_str),
            signature: headers.get("webhook-signature").map(String::as_str),
        },
        body,
        &[&key],
        T0,
        Duration::from_secs(300),
    )
    .is_ok()
}

#[test]
fn during_a_rotation_every_request_is_signed_with_each_secret() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let id = ingest(&kv, &clock, Provider::Stripe, "evt_rot", "invoice.paid");
    let event = EventStore::new(&kv, &clock).get(&id).unwrap().unwrap();
    let rotating = destinations(&format!(
        r#"[{{"name":"sink","url":"http://127.0.0.1:9/in","secret":["{NEW_KEY}","{OLD_KEY}"]}}]"#
    ))
    .remove(0);
    assert_eq!(rotating.keys.len(), 2);
    let headers: HashMap<&str, String> =
        signing::headers(&rotating.keys, &event, 1, "0123456789abcdef", clock.now())
            .into_iter()
            .collect();
    let body = event.body.raw_body.as_bytes();
    // Two entries, the new secret's first, each the signature that secret alone makes.
    let entries: Vec<&str> = headers["webhook-signature"].split(' ').collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let timestamp: i64 = headers["webhook-timestamp"].parse().unwrap();
    for (entry, key) in entries.iter().zip(&rotating.keys) {
        assert_eq!(
            *entry,
            signing::signature(key, id.as_str(), timestamp, body)
        );
    }
    // A receiver holding either secret verifies it; one holding neither does not.
    assert!(verifies_with(&headers, body, NEW_KEY), "the new secret");
    assert!(verifies_with(&headers, body, OLD_KEY), "the old secret");
    assert!(!verifies_with(&headers, body, KEY), "an unrelated secret");

    // One secret, as a string or a one-item list: one entry.
    for spec in [format!(r#""{KEY}""#), format!(r#"["{KEY}"]"#)] {
        let one = destinations(&format!(
            r#"[{{"name":"sink","url":"http://127.0.0.1:9/in","secret":{spec}}}]"#
        ))
        .remove(0);
        let headers: HashMap<&str, String> =
            signing::headers(&one.keys, &event, 1, "0123456789abcdef", clock.now())
                .into_iter()
                .collect();
        assert!(!headers["webhook-signature"].contains(' '), "{spec}");
        assert!(verifies_with(&headers, body, KEY), "{spec}");
    }
}

#[test]
fn a_malformed_secret_list_is_named_without_echoing_a_secret() {
    // Each secret's base64 contains this, so an echoed secret would show it.
    let (a, b, c, d) = (
        "whsec_c2VjcmV0LW9uZQ==",
        "whsec_c2VjcmV0LXR3bw==",
        "whsec_c2VjcmV0LXRocmVl",
        "whsec_c2VjcmV0LWZvdXI=",
    );
    for (secret, says) in [
        ("[]".to_owned(), "empty list"),
        (format!(r#"["{a}","{b}","{a}"]"#), "secrets 1 and 3"),
        (format!(r#"["{a}","{b}","{c}","{d}"]"#), "at most 3"),
        (
            format!(r#"["{a}","plain-c2VjcmV0"]"#),
            "secret 2 of the list",
        ),
        (format!(r#"["{a}","whsec_"]"#), "secret 2 of the list"),
        (
            r#""whsec_not base64 c2VjcmV0""#.to_owned(),
            "the secret must be whsec_",
        ),
        (format!(r#"["{a}",7]"#), "line"),
        ("{}".to_owned(), "line"),
    ] {
        let json = format!(r#"[{{"name":"sink","url":"https://x.example","secret":{secret}}}]"#);
        let error = destinations::parse(&json).unwrap_err();
        let text = error.to_string();
        assert_eq!(error.variable(), destinations::VARIABLE);
        assert!(text.contains(says), "{secret}: {text}");
        if says != "line" {
            assert!(text.contains("entry 1 (secret)"), "{secret}: {text}");
        }
        assert!(!text.contains("c2VjcmV0"), "{secret}: {text}");
    }
    // Three distinct secrets are allowed.
    let three =
        format!(r#"[{{"name":"sink","url":"https://x.example","secret":["{a}","{b}","{c}"]}}]"#);
    assert_eq!(
        destinations(&three)[0].keys.len(),
        destinations::MAX_SECRETS
    );
}

#[test]
fn plain_http_to_a_network_host_is_an_explicit_choice() {
    let entry = |extra: &str| {
        format!(
            r#"[{{"name": "in-cluster", "url": "http://10.88.0.1:8080/in", "secret": "whsec_c2VjcmV0"{extra}}}]"#
        )
    };
    let refused = destinations::parse(&entry("")).unwrap_err().to_string();
    assert!(refused.contains("plain_http"), "{refused}");
    assert!(
        !refused.contains("10.88.0.1"),
        "no URL in errors: {refused}"
    );
    let refused = destinations::parse(&entry(r#", "plain_http": false"#)).unwrap_err();
    assert!(refused.to_string().contains("(url)"), "{refused}");
    let allowed = destinations::parse(&entry(r#", "plain_http": true"#)).unwrap();
    assert_eq!(allowed[0].url.origin(), "http://10.88.0.1:8080");
    // Still a URL: the other rules hold.
    let bad = entry(r#", "plain_http": true"#).replace("http://10.88.0.1:8080", "ftp://x");
    assert!(destinations::parse(&bad).is_err());
    let bad = entry(r#", "plain_http": "yes""#);
    assert!(destinations::parse(&bad).is_err());
}

#[test]
fn urls_are_https_or_http_to_loopback() {
    for good in [
        "https://hooks.example.com/in?x=1",
        "http://127.0.0.1:9000/in",
        "http://localhost/in",
        "https://[2001:db8::1]:8443/in",
        "http://[::1]:9000",
    ] {
        assert!(destinations::Url::parse(good).is_ok(), "{good}");
    }
    for bad in [
        "ftp://x/y",
        "http://hooks.example.com/in",
        "https://user:pass@x.example/in",
        "https://x.example/in#frag",
        "https://x.example:0/",
        "https:///in",
        "hooks.example.com",
    ] {
        assert!(destinations::Url::parse(bad).is_err(), "{bad}");
    }
    let url = destinations::Url::parse("https://Hooks.Example.com?a=b").unwrap();
    assert_eq!(
        (url.host.as_str(), url.port, url.path_and_query.as_str()),
        ("hooks.example.com", 443, "/?a=b")
    );
}

#[test]
fn a_loopback_url_under_webhooks_is_this_apps_own_route() {
    for own in [
        "http://127.0.0.1:3000/webhooks/standard",
        "http://localhost/webhooks/github?x=1",
        "http://[::1]:80//webhooks/standard",
        "https://127.0.0.2/webhooks",
    ] {
        let url = destinations::Url::parse(own).unwrap();
        assert!(url.is_own_webhook_route(), "{own}");
    }
    for other in [
        "http://127.0.0.1:3000/hooks",
        "http://127.0.0.1:3000/webhooksink",
        "http://127.0.0.1:3000/api/webhooks/x",
        "https://hooks.example.com/webhooks/standard",
    ] {
        let url = destinations::Url::parse(other).unwrap();
        assert!(!url.is_own_webhook_route(), "{other}");
    }
}

// ---------------------------------------------------------------- bulk replay of dead letters

/// `n` GitHub `push` events, each dead at `sink` after a 410 (one second apart).
fn dead_letters_at_sink(kv: &MemoryKv, clock: &ManualClock, n: usize) -> Vec<EventId> {
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::answering("sink", vec![status(410)]);
    (0..n)
        .map(|i| {
            let id = ingest(kv, clock, Provider::Github, &format!("dead-{i}"), "push");
            dispatcher(kv, clock, &sender, &targets, &schedule)
                .dispatch_event(&id)
                .unwrap();
            clock.advance(Duration::from_secs(1));
            id
        })
        .collect()
}

fn replay_dead(
    kv: &MemoryKv,
    clock: &ManualClock,
    selection: &Selection,
    limit: usize,
    before: Option<u64>,
) -> BulkReplay {
    Ledger::new(kv, clock, Tuning::default())
        .replay_dead(selection, limit, before, 500)
        .unwrap()
}

fn ids(replay: &BulkReplay) -> Vec<String> {
    replay
        .replayed
        .iter()
        .map(|r| r.event.as_str().to_owned())
        .collect()
}

#[test]
fn bulk_replay_goes_in_bounded_batches_and_a_resumed_cursor_never_queues_one_twice() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let dead = dead_letters_at_sink(&kv, &clock, 5);
    let all = Selection::default();
    let first = replay_dead(&kv, &clock, &all, 2, None);
    // Newest first, at most the limit, and where to go on from.
    assert_eq!(ids(&first), [dead[4].as_str(), dead[3].as_str()]);
    assert!(first.replayed.iter().all(|r| r.state == State::Pending));
    assert_eq!(first.next, Some(4));
    let second = replay_dead(&kv, &clock, &all, 2, first.next);
    assert_eq!(ids(&second), [dead[2].as_str(), dead[1].as_str()]);
    // The client crashed before it saw the second answer: it resumes from the first cursor.
    let resumed = replay_dead(&kv, &clock, &all, 2, first.next);
    assert_eq!(ids(&resumed), [dead[0].as_str()]);
    assert_eq!(resumed.skipped.no_longer_dead, 2, "{resumed:?}");
    assert_eq!(resumed.next, None, "the oldest entry was read");
    assert_eq!(counts(&kv).unwrap()[0].1, [5, 0, 0]);

    // Sent once each, with the next attempt number; then nothing is dead.
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::default();
    for id in &dead {
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch_event(id)
            .unwrap();
    }
    for _ in 0..3 {
        clock.advance(Duration::from_secs(30));
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap();
    }
    let mut sent = sender.sent();
    sent.sort();
    let mut expected: Vec<_> = dead
        .iter()
        .map(|id| (id.as_str().to_owned(), "sink".to_owned(), 2))
        .collect();
    expected.sort();
    assert_eq!(sent, expected);
    assert_eq!(counts(&kv).unwrap()[0].1, [0, 5, 0]);
    let again = replay_dead(&kv, &clock, &all, 10, None);
    assert!(again.replayed.is_empty());
    assert_eq!(again.skipped.no_longer_dead, 5, "delivered: never replayed");
}

#[test]
fn bulk_replay_takes_only_the_destination_time_range_and_filter_selected() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let targets = destinations(&format!(
        r#"[{{"name":"billing","url":"http://127.0.0.1:9/b","secret":"{KEY}","filter":"stripe"}},
            {{"name":"all","url":"http://127.0.0.1:9/a","secret":"{KEY}"}}]"#
    ));
    let schedule = Schedule::default();
    let sender = Scripted::answering("billing", vec![status(410)]);
    sender.script("all", vec![status(410)]);
    let make = |provider, delivery: &str, kind: &str| {
        let id = ingest(&kv, &clock, provider, delivery, kind);
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch_event(&id)
            .unwrap();
        clock.advance(Duration::from_secs(60));
        id
    };
    let paid = make(Provider::Stripe, "s-paid", "invoice.paid");
    let created = make(Provider::Stripe, "s-created", "customer.created");
    let middle = clock.now();
    let failed = make(Provider::Stripe, "s-failed", "invoice.payment_failed");
    let push = make(Provider::Github, "g-push", "push");
    // Seven dead letters: the three Stripe events at billing and at all, the GitHub one at all.
    assert_eq!(
        dead_letters(&kv, None, 50, None, 500).unwrap().items.len(),
        7
    );

    let invoices = Selection {
        destination: Some(DestinationName::parse("all").unwrap()),
        filter: Filter::parse(["stripe:invoice.*"]).unwrap(),
        until: Some(middle),
        ..Selection::default()
    };
    let done = replay_dead(&kv, &clock, &invoices, 50, None);
    assert_eq!(ids(&done), [paid.as_str()]);
    assert_eq!(done.replayed[0].destination.as_str(), "all");
    assert_eq!(done.skipped.not_matching, 6, "{done:?}");
    assert_eq!(done.next, None);

    let recent = Selection {
        since: Some(middle),
        filter: Filter::parse(["github", "stripe:invoice.payment_failed"]).unwrap(),
        ..Selection::default()
    };
    let done = replay_dead(&kv, &clock, &recent, 50, None);
    let mut got: Vec<_> = done
        .replayed
        .iter()
        .map(|r| (r.event.as_str(), r.destination.as_str()))
        .collect();
    got.sort_unstable();
    let mut want = vec![
        (push.as_str(), "all"),
        (failed.as_str(), "all"),
        (failed.as_str(), "billing"),
    ];
    want.sort_unstable();
    assert_eq!(got, want);
    // The walk stops at the first entry older than the range: the rest are older still.
    assert_eq!(done.next, None);
    assert!(done.scanned < 7, "{done:?}");
    assert_eq!(
        Ledger::new(&kv, &clock, Tuning::default())
            .record(&created, &DestinationName::parse("billing").unwrap())
            .unwrap()
            .unwrap()
            .state,
        State::Dead,
        "not selected: still dead"
    );
    // A range that ends at or before it starts selects nothing.
    let empty = Selection {
        since: Some(middle),
        until: Some(middle),
        ..Selection::default()
    };
    assert!(replay_dead(&kv, &clock, &empty, 50, None)
        .replayed
        .is_empty());
}

#[test]
fn bulk_replay_passes_over_gone_events_claimed_entries_and_the_scan_bound() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let dead = dead_letters_at_sink(&kv, &clock, 4);
    let store = EventStore::new(&kv, &clock);
    store
        .delete(&store.meta(&dead[3]).unwrap().unwrap())
        .unwrap();
    // Another call is replaying entry 3 right now.
    kv.increment(&keys::revived(3), 1).unwrap();
    let ledger = Ledger::new(&kv, &clock, Tuning::default());
    let done = ledger
        .replay_dead(&Selection::default(), 10, None, 3)
        .unwrap();
    assert_eq!(ids(&done), [dead[1].as_str()]);
    assert_eq!(done.skipped.event_gone, 1, "{done:?}");
    assert_eq!(done.skipped.no_longer_dead, 1, "{done:?}");
    assert_eq!(
        (done.scanned, done.next),
        (3, Some(2)),
        "bounded by the scan"
    );
    let rest = ledger
        .replay_dead(&Selection::default(), 10, done.next, 3)
        .unwrap();
    assert_eq!(ids(&rest), [dead[0].as_str()]);
    assert_eq!(rest.next, None);
}

#[test]
fn a_store_failure_in_a_bulk_replay_leaves_each_dead_letter_replayable_once() {
    for fail_at in 0..30 {
        let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
        let dead = dead_letters_at_sink(&kv, &clock, 3);
        let once = std::sync::atomic::AtomicBool::new(true);
        let faulty = FaultyKv::new(&kv, |op, _, n| {
            op != Op::Get && n == fail_at && once.swap(false, std::sync::atomic::Ordering::SeqCst)
        });
        let _ = Ledger::new(&faulty, &clock, Tuning::default()).replay_dead(
            &Selection::default(),
            10,
            None,
            500,
        );
        // Resumed from the start on a healthy store: every dead letter is queued, none twice.
        let done = replay_dead(&kv, &clock, &Selection::default(), 10, None);
        let ledger = Ledger::new(&kv, &clock, Tuning::default());
        for id in &dead {
            let record = ledger.records_of(id).unwrap().remove(0);
            assert_eq!(
                record.state,
                State::Pending,
                "failing op {fail_at}: {done:?}"
            );
            assert_eq!(record.replays, 1, "failing op {fail_at}");
        }
    }
}

#[test]
fn a_dead_letter_replayed_by_id_and_delivered_is_never_taken_by_a_bulk_replay() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let dead = dead_letters_at_sink(&kv, &clock, 2);
    let ledger = Ledger::new(&kv, &clock, Tuning::default());
    let meta = EventStore::new(&kv, &clock)
        .meta(&dead[1])
        .unwrap()
        .unwrap();
    ledger.replay(&meta, None).unwrap();
    let (targets, schedule) = (one_destination(), Schedule::default());
    let sender = Scripted::default();
    dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch_event(&dead[1])
        .unwrap();
    assert_eq!(
        ledger.records_of(&dead[1]).unwrap()[0].state,
        State::Delivered
    );
    let done = replay_dead(&kv, &clock, &Selection::default(), 10, None);
    assert_eq!(ids(&done), [dead[0].as_str()]);
    assert_eq!(done.skipped.no_longer_dead, 1, "{done:?}");
    assert_eq!(
        ledger.records_of(&dead[1]).unwrap()[0].state,
        State::Delivered
    );
    assert_eq!(counts(&kv).unwrap()[0].1, [1, 1, 0]);
}

fn throttled_pair(limits: &str) -> Vec<Destination> {
    destinations(&format!(
        r#"[{{"name":"slow","url":"http://127.0.0.1:9/s","secret":"{KEY}",{limits}}},
            {{"name":"fast","url":"http://127.0.0.1:9/f","secret":"{KEY}"}}]"#
    ))
}

#[test]
fn a_throttled_destination_gets_its_rate_and_slows_no_other() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (throttled_pair(r#""max_per_second":2"#), Schedule::default());
    let sender = Scripted::default();
    let events = 7;
    for n in 0..events {
        ingest(&kv, &clock, Provider::Github, &format!("t-{n}"), "push");
    }
    let report = dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    let to = |who: &str| -> Vec<(String, String, u32)> {
        sender.sent().into_iter().filter(|s| s.1 == who).collect()
    };
    // One round: every event to the unthrottled one, the limit to the throttled one, the rest
    // left due (not failed), and the floor past all of them.
    assert_eq!(to("fast").len(), events, "{report:?}");
    assert_eq!(to("slow").len(), 2, "{report:?}");
    assert_eq!((report.failed, report.dead), (0, 0), "{report:?}");
    assert_eq!(report.still_due, 5, "{report:?}");
    assert_eq!(
        kv.get(keys::FLOOR).unwrap().as_deref(),
        Some(events.to_string().as_bytes())
    );

    // Rounds every 250 ms: never more than 2 sends started in a second, until all are sent.
    let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
    per_second.insert(T0, 2);
    for _ in 0..60 {
        if to("slow").len() == events {
            break;
        }
        clock.advance(Duration::from_millis(250));
        let before = to("slow").len();
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap();
        *per_second.entry(clock.now().unix_seconds()).or_default() += to("slow").len() - before;
    }
    assert!(per_second.values().all(|n| *n <= 2), "{per_second:?}");
    let slow = to("slow");
    assert_eq!(slow.len(), events, "all sent in the end: {per_second:?}");
    // Each once, as attempt 1: waiting was not an attempt.
    assert!(slow.iter().all(|s| s.2 == 1), "{slow:?}");
    let mut ids: Vec<_> = slow.iter().map(|s| s.0.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events);
    assert_eq!(to("fast").len(), events, "the other one got nothing twice");
    let retries = kv.increment(&keys::attempts("slow", "retry"), 0).unwrap();
    assert_eq!(retries, 0, "no failed attempt counted");
    let counted = counts(&kv).unwrap();
    let slow_counts = counted.iter().find(|(d, _)| d.as_str() == "slow").unwrap();
    assert_eq!(slow_counts.1, [0, events as u64, 0]);
}

/// A sender that, while it sends, lets another dispatcher (another instance or replica, same
/// store) run a round, and remembers the most sends each destination had under way at once.
struct Overlapping<'a> {
    kv: &'a MemoryKv,
    clock: &'a ManualClock,
    destinations: &'a [Destination],
    schedule: &'a Schedule,
    under_way: std::cell::RefCell<BTreeMap<String, (usize, usize)>>,
    sent: std::cell::RefCell<Vec<String>>,
}

impl Sender for &Overlapping<'_> {
    fn send(
        &self,
        destination: &Destination,
        _event: &StoredEvent,
        _attempt: u32,
        _hops: &str,
        _timeout: Duration,
    ) -> Answer {
        let name = destination.name.as_str().to_owned();
        self.sent.borrow_mut().push(name.clone());
        {
            let mut under_way = self.under_way.borrow_mut();
            let (now, most) = under_way.entry(name.clone()).or_default();
            *now += 1;
            *most = (*most).max(*now);
        }
        // Another instance runs while this send is under way (not too deep).
        if self.sent.borrow().len() < 40 {
            Dispatcher::new(
                self.kv,
                self.clock,
                *self,
                self.destinations,
                self.schedule,
                Tuning::default(),
            )
            .dispatch()
            .unwrap();
        }
        if let Some((now, _)) = self.under_way.borrow_mut().get_mut(&name) {
            *now -= 1;
        }
        ok()
    }
}

#[test]
fn in_flight_is_limited_across_dispatchers_and_freed_when_sends_end() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (throttled_pair(r#""max_in_flight":1"#), Schedule::default());
    for n in 0..4 {
        ingest(&kv, &clock, Provider::Github, &format!("f-{n}"), "push");
    }
    let sender = Overlapping {
        kv: &kv,
        clock: &clock,
        destinations: &targets,
        schedule: &schedule,
        under_way: std::cell::RefCell::new(BTreeMap::new()),
        sent: std::cell::RefCell::new(Vec::new()),
    };
    for _ in 0..20 {
        Dispatcher::new(&kv, &clock, &sender, &targets, &schedule, Tuning::default())
            .dispatch()
            .unwrap();
        clock.advance(Duration::from_secs(1));
    }
    let under_way = sender.under_way.borrow().clone();
    assert_eq!(under_way["slow"].1, 1, "never two at once: {under_way:?}");
    assert!(
        under_way["fast"].1 > 1,
        "the other one overlaps: {under_way:?}"
    );
    let sent = sender.sent.borrow().clone();
    assert_eq!(sent.iter().filter(|d| *d == "slow").count(), 4, "{sent:?}");
    assert_eq!(sent.iter().filter(|d| *d == "fast").count(), 4, "{sent:?}");
    // Every slot was given back.
    let slow = DestinationName::parse("slow").unwrap();
    let in_flight = super::throttle::in_flight(&kv, &slow, clock.now(), &Tuning::default());
    assert_eq!(in_flight.unwrap(), 0);
}

#[test]
fn throttle_limits_and_circuit_thresholds_are_validated_naming_the_field() {
    for (limits, field) in [
        (r#""max_per_second":0"#, "max_per_second"),
        (r#""max_per_second":1001"#, "max_per_second"),
        (r#""max_in_flight":0"#, "max_in_flight"),
        (r#""max_in_flight":101"#, "max_in_flight"),
        (r#""max_in_flight":-1"#, "line"),
        (r#""max_per_second":"5""#, "line"),
        (r#""max_per_second":2.5"#, "line"),
        (r#""disable_after_failures":0"#, "disable_after_failures"),
        (
            r#""disable_after_failures":100001"#,
            "disable_after_failures",
        ),
        (r#""disable_after_seconds":0"#, "disable_after_seconds"),
        (
            r#""disable_after_seconds":2592001"#,
            "disable_after_seconds",
        ),
        (r#""disable_after_seconds":true"#, "line"),
    ] {
        let json = format!(
            r#"[{{"name":"slow","url":"http://127.0.0.1:9/s","secret":"{KEY}",{limits}}}]"#
        );
        let error = destinations::parse(&json).unwrap_err();
        assert_eq!(error.variable(), destinations::VARIABLE);
        let text = error.to_string();
        assert!(text.contains(field), "{limits}: {text}");
        if field != "line" {
            assert!(
                text.contains("entry 1 (") && text.contains("from 1 to"),
                "{text}"
            );
        }
        assert!(!text.contains("Zm9y"), "{text}");
    }
    let both = throttled_pair(r#""max_per_second":1000,"max_in_flight":100"#);
    assert_eq!(both[0].throttle.max_per_second, Some(1000));
    assert_eq!(both[0].throttle.max_in_flight, Some(100));
    assert!(!both[1].throttle.is_set());
}

#[test]
fn a_store_failure_at_any_step_of_a_throttled_round_leaves_every_delivery_due() {
    let schedule = Schedule::default();
    let targets = destinations(&format!(
        r#"[{{"name":"slow","url":"http://127.0.0.1:9/s","secret":"{KEY}","max_per_second":1,"max_in_flight":1}}]"#
    ));
    // The failure in the first round (first attempts queued) or a later one (queued ones moved).
    for (round, fail_at) in (0..3).flat_map(|round| (0..150).map(move |n| (round, n))) {
        let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
        let sender = Scripted::default();
        let ids: Vec<EventId> = (0..5)
            .map(|n| {
                ingest(
                    &kv,
                    &clock,
                    Provider::Github,
                    &format!("fragile-{n}"),
                    "push",
                )
            })
            .collect();
        for _ in 0..round {
            dispatcher(&kv, &clock, &sender, &targets, &schedule)
                .dispatch()
                .unwrap();
            // Both queued ones are due then, and only one fits the second: the other is moved.
            clock.advance(Duration::from_millis(2_500));
        }
        let once = std::sync::atomic::AtomicBool::new(true);
        let faulty = FaultyKv::new(&kv, |_, _, n| {
            n == fail_at && once.swap(false, std::sync::atomic::Ordering::SeqCst)
        });
        let _ = dispatcher(&faulty, &clock, &sender, &targets, &schedule).dispatch();
        // Later rounds on a healthy store deliver them all (a slot whose release failed expires).
        for _ in 0..12 {
            clock.advance(Duration::from_secs(40));
            dispatcher(&kv, &clock, &sender, &targets, &schedule)
                .dispatch()
                .unwrap();
        }
        for id in &ids {
            let record = Ledger::new(&kv, &clock, Tuning::default())
                .records_of(id)
                .unwrap()
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("round {round}, operation {fail_at}: {id} never sent"));
            assert_eq!(
                record.state,
                State::Delivered,
                "round {round}, operation {fail_at}: {record:?}"
            );
        }
        if round == 1 && fail_at == 149 {
            // Past every operation: the round ran whole, and it moved a queued pointer.
            let moved = kv.keys().iter().any(|k| k.ends_with(":moved-to"));
            assert!(moved, "{:?}", kv.keys());
        }
        // At least once: a send whose outcome the failure kept from the record is sent again.
        let sent = sender.sent();
        assert!(
            sent.len() <= ids.len() + 1,
            "round {round}, operation {fail_at}: {sent:?}"
        );
    }
}
