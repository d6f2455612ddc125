//! Circuit breaking in the dispatcher (`super::super::circuit`): a destination failing too often
//! is disabled, its deliveries wait without being attempted, counted or dead-lettered, the
//! others go on, and once re-enabled it drains every one exactly once (in order, if ordered).

use super::ordered_tests::{burst, ids, sent_to, sequence, state_of};
use super::*;
use crate::forwarding::circuit;

/// `sink` disabled after 3 failed attempts in a row (`ordered` as given), `other` healthy.
fn breaking_pair(ordered: bool) -> Vec<Destination> {
    destinations(&format!(
        r#"[{{"name":"sink","url":"http://127.0.0.1:9/s","secret":"{KEY}","disable_after_failures":3,"ordered":{ordered}}},
            {{"name":"other","url":"http://127.0.0.1:9/o","secret":"{KEY}"}}]"#
    ))
}

fn sink() -> DestinationName {
    DestinationName::parse("sink").unwrap()
}

#[test]
fn a_disabled_destination_waits_without_attempts_and_drains_exactly_once_when_re_enabled() {
    for ordered in [false, true] {
        let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
        let (targets, schedule) = (breaking_pair(ordered), Schedule::default());
        let sender = Scripted::answering("sink", vec![status(500)]);
        let events = burst(&kv, &clock, 5);
        let dispatch = || {
            dispatcher(&kv, &clock, &sender, &targets, &schedule)
                .dispatch()
                .unwrap()
        };
        // Long enough for three failed attempts (retries 5 s and 5 min apart).
        for _ in 0..10 {
            dispatch();
            clock.advance(Duration::from_secs(120));
        }
        // Then an hour disabled: nothing is sent, and no pointer is added to the due queue (its
        // pointers are parked), however long it lasts.
        let queued = || {
            kv.keys()
                .iter()
                .filter(|k| {
                    let parts: Vec<&str> = k.split(':').collect();
                    parts.len() == 4
                        && parts[1] == "due"
                        && parts[2..].iter().all(|p| p.parse::<u64>().is_ok())
                })
                .count()
        };
        let before = queued();
        for _ in 0..30 {
            dispatch();
            clock.advance(Duration::from_secs(120));
        }
        assert_eq!(queued(), before, "ordered: {ordered}");
        let disabled = circuit::disabled(&kv, &sink()).unwrap();
        assert_eq!(
            disabled.map(|d| d.reason).as_deref(),
            Some("3 failed attempts in a row"),
            "ordered: {ordered}"
        );
        assert_eq!(sent_to(&sender, "sink").len(), 3, "ordered: {ordered}");
        // The healthy one went on; nothing of the disabled one died or was counted.
        assert_eq!(sent_to(&sender, "other").len(), 5);
        for id in &events {
            assert_ne!(state_of(&kv, &clock, id, "sink"), Some(State::Dead));
        }
        let figures: BTreeMap<_, _> = counts(&kv).unwrap().into_iter().collect();
        assert_eq!(figures[&sink()][2], 0, "no dead letters: {figures:?}");

        // Fixed and re-enabled: everything drains, each event delivered once.
        sender.script("sink", vec![ok()]);
        assert!(circuit::enable(&kv, &sink()).unwrap().is_some());
        // The first round after the re-enable drains it.
        clock.advance(Duration::from_secs(1));
        dispatch();
        for id in &events {
            assert_eq!(
                state_of(&kv, &clock, id, "sink"),
                Some(State::Delivered),
                "ordered: {ordered}"
            );
        }
        let sends = sent_to(&sender, "sink");
        assert_eq!(sends.len(), 3 + 5, "ordered: {ordered}: {sends:?}");
        if ordered {
            assert_eq!(sequence(&sends), ids(&events));
        }
        assert_eq!(circuit::disabled(&kv, &sink()).unwrap(), None);
    }
}

#[test]
fn a_success_ends_the_run_and_429_counts_for_nothing() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (breaking_pair(false), Schedule::default());
    // Two failures, a success, two failures, then "slow down" for ever: never three in a row.
    let too_many = Answer::Status {
        code: 429,
        retry_after: Some(Duration::from_secs(1)),
    };
    let sender = Scripted::answering(
        "sink",
        vec![
            status(500),
            status(500),
            ok(),
            status(502),
            status(502),
            too_many,
        ],
    );
    burst(&kv, &clock, 8);
    for _ in 0..60 {
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap();
        clock.advance(Duration::from_secs(5));
    }
    assert!(sent_to(&sender, "sink").len() > 10);
    assert_eq!(circuit::disabled(&kv, &sink()).unwrap(), None);
}

#[test]
fn an_unreadable_circuit_leaves_the_delivery_due() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (breaking_pair(false), Schedule::default());
    let sender = Scripted::default();
    let events = burst(&kv, &clock, 1);
    let faulty = FaultyKv::new(&kv, |op, key, _| op == Op::Get && key == "fwd:circuit:sink");
    assert!(dispatcher(&faulty, &clock, &sender, &targets, &schedule)
        .dispatch()
        .is_err());
    assert!(sent_to(&sender, "sink").is_empty());
    dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    assert_eq!(
        state_of(&kv, &clock, &events[0], "sink"),
        Some(State::Delivered)
    );
}

/// Fails every send to `sink`; the first one also plays another replica, which fails three attempts of
/// its own meanwhile and so disables the destination.
struct OtherReplicaTrips<'a> {
    kv: &'a MemoryKv,
    circuit: circuit::Circuit,
    sends: std::sync::atomic::AtomicUsize,
}

impl Sender for OtherReplicaTrips<'_> {
    fn send(&self, to: &Destination, _: &StoredEvent, _: u32, _: &str, _: Duration) -> Answer {
        use std::sync::atomic::Ordering;
        if to.name != sink() {
            return ok();
        }
        if self.sends.fetch_add(1, Ordering::SeqCst) == 0 {
            for _ in 0..3 {
                circuit::failed(
                    self.kv,
                    &sink(),
                    self.circuit,
                    crate::time::Timestamp::from_unix_seconds(T0),
                )
                .unwrap();
            }
        }
        status(500)
    }
}

/// Issue 25, found on two replicas: a round that found the destination enabled when it began
/// went on sending after another replica had disabled it (six attempts for a threshold of
/// three). Its own next failure now finds it disabled, and the round stops sending to it.
#[test]
fn a_round_stops_sending_once_another_replica_disabled_the_destination() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
    let (targets, schedule) = (breaking_pair(false), Schedule::default());
    burst(&kv, &clock, 6);
    let sender = OtherReplicaTrips {
        kv: &kv,
        circuit: targets[0].circuit,
        sends: std::sync::atomic::AtomicUsize::new(0),
    };
    let report = dispatcher(&kv, &clock, &sender, &targets, &schedule)
        .dispatch()
        .unwrap();
    assert_eq!(
        sender.sends.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "{report:?}"
    );
    assert!(circuit::disabled(&kv, &sink()).unwrap().is_some());
}

/// A store failure at any step of a round that parks a disabled destination's deliveries, or of
/// the first round after its re-enable (which puts them back), loses none: later rounds on a
/// healthy store deliver every one, and at most one more send than deliveries (a send whose
/// outcome the failure kept from the record).
#[test]
fn a_store_failure_at_any_step_of_parking_or_putting_back_loses_nothing() {
    let schedule = Schedule::default();
    let targets = breaking_pair(false);
    for (putting_back, fail_at) in [false, true]
        .into_iter()
        .flat_map(|phase| (0..160).map(move |n| (phase, n)))
    {
        let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(T0));
        let sender = Scripted::answering("sink", vec![status(500)]);
        let events = burst(&kv, &clock, 6);
        // Three fail and disable it; the other three are parked.
        dispatcher(&kv, &clock, &sender, &targets, &schedule)
            .dispatch()
            .unwrap();
        clock.advance(Duration::from_secs(10));
        let once = std::sync::atomic::AtomicBool::new(true);
        let faulty = FaultyKv::new(&kv, |_, _, n| {
            n == fail_at && once.swap(false, std::sync::atomic::Ordering::SeqCst)
        });
        if putting_back {
            // The failed ones' retries came due and were parked too; then it is re-enabled.
            dispatcher(&kv, &clock, &sender, &targets, &schedule)
                .dispatch()
                .unwrap();
            sender.script("sink", vec![ok()]);
            circuit::enable(&kv, &sink()).unwrap();
        }
        let _ = dispatcher(&faulty, &clock, &sender, &targets, &schedule).dispatch();
        sender.script("sink", vec![ok()]);
        if circuit::disabled(&kv, &sink()).unwrap().is_some() {
            circuit::enable(&kv, &sink()).unwrap();
        }
        for _ in 0..10 {
            clock.advance(Duration::from_secs(40));
            dispatcher(&kv, &clock, &sender, &targets, &schedule)
                .dispatch()
                .unwrap();
        }
        for id in &events {
            assert_eq!(
                state_of(&kv, &clock, id, "sink"),
                Some(State::Delivered),
                "putting back: {putting_back}, operation {fail_at}"
            );
        }
        // They were parked (at least the three never attempted), and all were put back.
        let parked = kv.increment("fwd:park:sink", 0).unwrap();
        assert!(
            parked >= 3,
            "putting back: {putting_back}, operation {fail_at}"
        );
        let back = kv.get("fwd:park:sink:back").unwrap().unwrap();
        assert_eq!(String::from_utf8(back).unwrap(), parked.to_string());
        let sends = sent_to(&sender, "sink").len();
        assert!(
            (3 + 6..=3 + 6 + 1).contains(&sends),
            "putting back: {putting_back}, operation {fail_at}: {sends} sends"
        );
    }
}
