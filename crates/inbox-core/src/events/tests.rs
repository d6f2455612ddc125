//! The event store against the in-memory key-value store: the protocol's guarantees under
//! concurrency and under injected store failures.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::kv::testing::{FaultyKv, Op};
use crate::kv::{KeyValue, MemoryKv};

const T0: i64 = 1_800_000_000;

/// What the store counts for `provider`.
fn counts_of<K: KeyValue, C: Clock>(store: &EventStore<K, C>, provider: Provider) -> Counts {
    let stats = store.stats().unwrap();
    stats.into_iter().find(|(p, _)| *p == provider).unwrap().1
}

fn new_event(provider: Provider, delivery: &str) -> NewEvent {
    let body = format!(r#"{{"id":"{delivery}","type":"thing.happened","n":1.50}}"#);
    NewEvent {
        provider,
        delivery_id: DeliveryId::parse(delivery).unwrap(),
        event_type: Some(EventType::parse("thing.happened").unwrap()),
        action: None,
        source: None,
        headers: BTreeMap::from([("x-signature".to_owned(), "sig".to_owned())]),
        content_type: "application/json".into(),
        raw_body: body.clone(),
        json: serde_json::value::RawValue::from_string(body).unwrap(),
    }
}

fn accepted(result: Result<Ingested, StoreError>) -> EventMeta {
    match result {
        Ok(Ingested::Accepted(meta)) => meta,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

#[test]
fn first_copy_is_accepted_later_copies_are_duplicates() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);

    let meta = accepted(store.ingest(new_event(Provider::Github, "d-1")));
    assert_eq!(meta.seq, 1);
    assert_eq!(meta.status, EventStatus::Pending);
    assert_eq!(meta.received_at.unix_seconds(), T0);
    assert_eq!(
        store.ingest(new_event(Provider::Github, "d-1")),
        Ok(Ingested::Duplicate(meta.id.clone()))
    );
    // Same delivery id from another provider is another delivery.
    accepted(store.ingest(new_event(Provider::Stripe, "d-1")));

    let stored = store.get(&meta.id).unwrap().unwrap();
    assert_eq!(stored.meta, meta);
    assert_eq!(
        stored.body.raw_body,
        r#"{"id":"d-1","type":"thing.happened","n":1.50}"#
    );
    // The parsed JSON keeps the provider's text (number formatting, key order).
    assert_eq!(stored.body.json.get(), stored.body.raw_body);
    assert_eq!(stored.body.headers["x-signature"], "sig");

    let listed = store.stats().unwrap();
    let providers: Vec<Provider> = listed.iter().map(|(provider, _)| *provider).collect();
    assert_eq!(providers, Provider::ALL, "every provider, in order");
    assert!(providers.is_sorted(), "the order of Provider");
    let stats = listed.into_iter().collect::<BTreeMap<_, _>>();
    assert_eq!(
        stats[&Provider::Github],
        Counts {
            pending: 1,
            processed: 0
        }
    );
    assert_eq!(
        stats[&Provider::Stripe],
        Counts {
            pending: 1,
            processed: 0
        }
    );
    assert_eq!(stats[&Provider::Standard], Counts::default());
}

#[test]
fn fifty_concurrent_copies_are_stored_once() {
    // A real clock: the copies really wait for the owner (a shared manual clock would run the
    // wait out forty-nine times as fast as the owner works).
    let kv = Arc::new(MemoryKv::new());
    let clock = Arc::new(crate::clock::SystemClock);
    let barrier = Arc::new(std::sync::Barrier::new(50));
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let (kv, clock, barrier) = (kv.clone(), clock.clone(), barrier.clone());
            std::thread::spawn(move || {
                let store = EventStore::new(&*kv, &*clock);
                barrier.wait();
                store.ingest(new_event(Provider::Standard, "msg_same"))
            })
        })
        .collect();
    let outcomes: Vec<Result<Ingested, StoreError>> = handles
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect();

    let accepted_count = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Ingested::Accepted(_))))
        .count();
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Ingested::Duplicate(_))))
        .count();
    assert_eq!(accepted_count, 1, "{outcomes:?}");
    assert_eq!(duplicates, 49, "{outcomes:?}");

    let store = EventStore::new(&*kv, &*clock);
    let page = store.list(&ListFilter::default(), 100, None).unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(counts_of(&store, Provider::Standard).pending, 1);
}

#[test]
fn a_failed_write_leaves_nothing_visible_and_the_retry_succeeds_at_once() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    for failing in [Op::SetMany, Op::Increment] {
        // Fail the commit batch, or the sequence number after the claim.
        let faulty = FaultyKv::new(&kv, move |op, key, _| {
            op == failing && (op == Op::SetMany || key == "events:seq")
        });
        let delivery = format!("fail-{failing:?}");
        let failed =
            EventStore::new(&faulty, &clock).ingest(new_event(Provider::Github, &delivery));
        assert!(matches!(failed, Err(StoreError::Kv(_))), "{failed:?}");

        let store = EventStore::new(&kv, &clock);
        let page = store.list(&ListFilter::default(), 100, None).unwrap();
        assert!(page
            .items
            .iter()
            .all(|m| m.delivery_id.as_str() != delivery));
        // The failed owner released its claim: the provider's retry is stored right away.
        let meta = accepted(store.ingest(new_event(Provider::Github, &delivery)));
        let page = store.list(&ListFilter::default(), 100, None).unwrap();
        let copies = page.items.iter().filter(|m| m.id == meta.id).count();
        assert_eq!(
            copies, 1,
            "listed once despite the failed attempt's index entry"
        );
    }
    assert_eq!(
        counts_of(&EventStore::new(&kv, &clock), Provider::Github).pending,
        2
    );
}

#[test]
fn an_abandoned_claim_is_taken_over_after_the_lease() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let tuning = Tuning {
        lease: Duration::from_secs(30),
        wait_for_commit: Duration::from_millis(100),
        ..Tuning::default()
    };
    // The owner claims and then the store goes away for it (as if its process died): every
    // operation after the claim fails, including the release.
    let crashed = FaultyKv::new(&kv, |op, key, _| {
        !(op == Op::Get || key.starts_with("events:claim:"))
    });
    let result = EventStore::with_tuning(&crashed, &clock, tuning)
        .ingest(new_event(Provider::Stripe, "evt_crash"));
    assert!(matches!(result, Err(StoreError::Kv(_))), "{result:?}");

    // A retry within the lease waits, then is told to come back later.
    let store = EventStore::with_tuning(&kv, &clock, tuning);
    assert_eq!(
        store.ingest(new_event(Provider::Stripe, "evt_crash")),
        Err(StoreError::InProgress)
    );
    // Once the lease (started by that retry, since the owner never wrote one) expires, the next
    // retry takes over and stores it.
    clock.advance(Duration::from_secs(31));
    let meta = accepted(store.ingest(new_event(Provider::Stripe, "evt_crash")));
    assert_eq!(
        store.ingest(new_event(Provider::Stripe, "evt_crash")),
        Ok(Ingested::Duplicate(meta.id))
    );
}

#[test]
fn a_deleted_event_can_be_delivered_again() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let first = accepted(store.ingest(new_event(Provider::Github, "again")));
    store.delete(&first).unwrap();
    assert_eq!(store.get(&first.id).unwrap().map(|e| e.meta), None);

    let second = accepted(store.ingest(new_event(Provider::Github, "again")));
    assert_eq!(second.id, first.id);
    assert!(second.seq > first.seq);
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    assert_eq!(page.items, vec![second]);
    assert_eq!(counts_of(&store, Provider::Github).pending, 1);
}

#[test]
fn listing_is_newest_first_with_cursors() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    for n in 0..25 {
        accepted(store.ingest(new_event(Provider::Github, &format!("d{n}"))));
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list(&ListFilter::default(), 10, cursor).unwrap();
        assert!(page.items.len() <= 10);
        assert!(page.scanned <= 10, "a page reads only what it returns");
        seen.extend(page.items.iter().map(|m| m.seq));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (1..=25).rev().collect::<Vec<_>>());
}

#[test]
fn filters_apply_and_the_scan_bound_returns_a_cursor() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let tuning = Tuning {
        max_scan: 20,
        ..Tuning::default()
    };
    let store = EventStore::with_tuning(&kv, &clock, tuning);
    let first = accepted(store.ingest(new_event(Provider::Stripe, "old-stripe")));
    for n in 0..30 {
        clock.advance(Duration::from_secs(1));
        accepted(store.ingest(new_event(Provider::Github, &format!("g{n}"))));
    }
    let only_stripe = ListFilter {
        provider: Some(Provider::Stripe),
        ..ListFilter::default()
    };
    // 30 newer GitHub events are in the way: the first request stops at the bound with a cursor.
    let page = store.list(&only_stripe, 10, None).unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.scanned, 20);
    let next = page.next.expect("a cursor when the scan bound is reached");
    let page = store.list(&only_stripe, 10, Some(next)).unwrap();
    assert_eq!(page.items, vec![first.clone()]);
    assert_eq!(page.next, None);

    let processed = ListFilter {
        status: Some(EventStatus::Processed),
        ..ListFilter::default()
    };
    store
        .set_status(first.clone(), EventStatus::Processed)
        .unwrap();
    let page = store.list(&processed, 10, Some(next)).unwrap();
    assert_eq!(page.items.len(), 1);

    let typed = ListFilter {
        event_type: TypeFilter::Is(EventType::parse("other.type").unwrap()),
        ..ListFilter::default()
    };
    assert!(store.list(&typed, 50, Some(next)).unwrap().items.is_empty());
}

#[test]
fn since_and_until_filter_by_receipt_time_and_since_stops_early() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let mut metas = Vec::new();
    for n in 0..10 {
        metas.push(accepted(
            store.ingest(new_event(Provider::Github, &format!("t{n}"))),
        ));
        clock.advance(Duration::from_secs(3600));
    }
    let window = ListFilter {
        since: Some(metas[3].received_at),
        until: Some(metas[6].received_at),
        ..ListFilter::default()
    };
    let page = store.list(&window, 50, None).unwrap();
    let seqs: Vec<_> = page.items.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [6, 5, 4]);
    // Events more than the clock skew older than `since` end the scan: no cursor, and the
    // three oldest events were never read.
    assert_eq!(page.next, None);
    assert!(page.scanned <= 8, "scanned {}", page.scanned);
}

#[test]
fn pagination_during_concurrent_inserts_skips_and_repeats_nothing() {
    let kv = Arc::new(MemoryKv::new());
    let clock = Arc::new(ManualClock::at_unix(T0));
    {
        let store = EventStore::new(&*kv, &*clock);
        for n in 0..100 {
            accepted(store.ingest(new_event(Provider::Github, &format!("before-{n}"))));
        }
    }
    let writer = {
        let (kv, clock) = (kv.clone(), clock.clone());
        std::thread::spawn(move || {
            let store = EventStore::new(&*kv, &*clock);
            for n in 0..100 {
                accepted(store.ingest(new_event(Provider::Stripe, &format!("during-{n}"))));
                std::thread::yield_now();
            }
        })
    };
    let store = EventStore::new(&*kv, &*clock);
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list(&ListFilter::default(), 7, cursor).unwrap();
        seen.extend(page.items.into_iter().map(|m| (m.seq, m.delivery_id)));
        std::thread::yield_now();
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    writer.join().unwrap();

    let seqs: Vec<u64> = seen.iter().map(|(seq, _)| *seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first: {seqs:?}"
    );
    let deliveries: HashSet<_> = seen.iter().map(|(_, d)| d.as_str().to_owned()).collect();
    assert_eq!(deliveries.len(), seen.len(), "no event repeated");
    for n in 0..100 {
        assert!(
            deliveries.contains(&format!("before-{n}")),
            "before-{n} skipped"
        );
    }
}

#[test]
fn marking_processed_moves_the_counters_once_and_is_final() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let meta = accepted(store.ingest(new_event(Provider::Github, "p1")));

    // Two racing requests that both read "pending".
    let first = store
        .set_status(meta.clone(), EventStatus::Processed)
        .unwrap();
    let second = store
        .set_status(meta.clone(), EventStatus::Processed)
        .unwrap();
    let StatusChange::Updated(updated) = first else {
        panic!("{first:?}")
    };
    assert!(matches!(second, StatusChange::Updated(_)));
    assert_eq!(updated.status, EventStatus::Processed);
    assert_eq!(updated.processed_at, Some(clock.now()));
    assert_eq!(
        counts_of(&store, Provider::Github),
        Counts {
            pending: 0,
            processed: 1
        }
    );
    assert_eq!(
        store.set_status(updated.clone(), EventStatus::Processed),
        Ok(StatusChange::Unchanged(updated.clone()))
    );
    assert_eq!(
        store.set_status(updated, EventStatus::Pending),
        Ok(StatusChange::Illegal)
    );
}

#[test]
fn a_status_change_racing_a_delete_does_not_resurrect_the_event() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let meta = accepted(store.ingest(new_event(Provider::Github, "race")));
    store.delete(&meta).unwrap();
    assert_eq!(
        store.set_status(meta.clone(), EventStatus::Processed),
        Ok(StatusChange::Gone)
    );
    assert_eq!(store.meta(&meta.id), Ok(None));
}

#[test]
fn deletes_move_the_counters_once_and_clean_up() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let meta = accepted(store.ingest(new_event(Provider::Stripe, "x1")));
    store.delete(&meta).unwrap();
    store.delete(&meta).unwrap();
    assert_eq!(counts_of(&store, Provider::Stripe), Counts::default());
    let leftovers: Vec<_> = kv
        .keys()
        .into_iter()
        .filter(|k| {
            k.starts_with("events:meta:")
                || k.starts_with("events:body:")
                || k.starts_with("events:idx:")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn store_failures_surface_as_errors_not_panics() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let down = FaultyKv::new(&kv, |_, _, _| true);
    let store = EventStore::new(&down, &clock);
    assert!(matches!(
        store.ingest(new_event(Provider::Github, "x")),
        Err(StoreError::Kv(_))
    ));
    assert!(matches!(
        store.list(&ListFilter::default(), 10, None),
        Err(StoreError::Kv(_))
    ));
    assert!(matches!(store.stats(), Err(StoreError::Kv(_))));
    assert!(kv.keys().is_empty());
}

#[test]
fn corrupt_records_are_reported_on_read_and_skipped_in_listings() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let good = accepted(store.ingest(new_event(Provider::Github, "good")));
    let bad = accepted(store.ingest(new_event(Provider::Github, "bad")));
    kv.set(&format!("events:meta:{}", bad.id), b"{not json")
        .unwrap();
    kv.set(&format!("events:idx:{:020}", bad.seq), b"{not json")
        .unwrap();
    assert!(matches!(
        store.meta(&bad.id),
        Err(StoreError::Corrupt { .. })
    ));
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    assert_eq!(page.items, vec![good]);
}

#[test]
fn a_new_delivery_costs_four_operations_and_a_duplicate_two() {
    use crate::kv::testing::CountingKv;
    let kv = MemoryKv::new();
    let counting = CountingKv::new(&kv);
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&counting, &clock);
    accepted(store.ingest(new_event(Provider::Github, "count-me")));
    // Claim, sequence number, the commit batch (body, index, meta, released lease), counter.
    assert_eq!(
        counting.take(),
        [Op::Increment, Op::Increment, Op::SetMany, Op::Increment]
    );
    assert!(matches!(
        store.ingest(new_event(Provider::Github, "count-me")),
        Ok(Ingested::Duplicate(_))
    ));
    assert_eq!(counting.take(), [Op::Increment, Op::Get]);
}

#[test]
fn a_page_of_fifty_costs_fifty_one_reads() {
    use crate::kv::testing::CountingKv;
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    for n in 0..120 {
        accepted(store.ingest(new_event(Provider::Stripe, &format!("page-{n}"))));
    }
    let counting = CountingKv::new(&kv);
    let page = EventStore::new(&counting, &clock)
        .list(&ListFilter::default(), 50, None)
        .unwrap();
    assert_eq!(page.items.len(), 50);
    let ops = counting.take();
    assert_eq!(ops.len(), 51, "{ops:?}");
    assert_eq!(ops[0], Op::Increment, "the newest sequence number");
    assert!(ops[1..].iter().all(|op| *op == Op::Get));
}

#[test]
fn status_changes_and_deletes_show_in_listings_at_once() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let first = accepted(store.ingest(new_event(Provider::Github, "seen-1")));
    let second = accepted(store.ingest(new_event(Provider::Github, "seen-2")));
    store
        .set_status(first.clone(), EventStatus::Processed)
        .unwrap();
    let processed = ListFilter {
        status: Some(EventStatus::Processed),
        ..ListFilter::default()
    };
    let page = store.list(&processed, 10, None).unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, first.id);
    assert!(page.items[0].processed_at.is_some());
    store.delete(&second).unwrap();
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    assert_eq!(
        page.items.iter().map(|m| &m.id).collect::<Vec<_>>(),
        [&first.id]
    );
}

/// A store written by the previous layout (index entries holding only the event id, meta
/// records without the fields added since) is listed and read as before, and a status change
/// rewrites the entry in the current layout.
#[test]
fn events_in_the_previous_layout_are_listed_read_and_migrated_on_write() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let id = EventId::for_delivery(Provider::Github, &DeliveryId::parse("old-1").unwrap());
    kv.increment("events:seq", 7).unwrap();
    kv.set("events:idx:00000000000000000007", id.as_str().as_bytes())
        .unwrap();
    let old_meta = format!(
        r#"{{"id":"{id}","seq":7,"provider":"github","delivery_id":"old-1","event_type":"push","received_at":"2026-11-24T14:34:37.086Z","status":"pending"}}"#
    );
    kv.set(&format!("events:meta:{id}"), old_meta.as_bytes())
        .unwrap();
    kv.set(
        &format!("events:body:{id}"),
        br#"{"headers":{},"content_type":"application/json","raw_body":"{}","json":{}}"#,
    )
    .unwrap();
    // A superseded entry of the old layout (its meta moved on to another sequence number).
    kv.set("events:idx:00000000000000000006", id.as_str().as_bytes())
        .unwrap();

    let store = EventStore::new(&kv, &clock);
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    assert_eq!(page.items.len(), 1, "{page:?}");
    let meta = page.items[0].clone();
    assert_eq!((meta.seq, meta.delivery_id.as_str()), (7, "old-1"));
    assert_eq!(
        meta.event_type.as_ref().map(EventType::as_str),
        Some("push")
    );
    assert!(store.get(&id).unwrap().is_some());
    // A duplicate of it is recognised (its claim counter predates the fast path too).
    kv.increment(&format!("events:claim:{id}:0"), 1).unwrap();
    assert_eq!(
        store.ingest(new_event(Provider::Github, "old-1")),
        Ok(Ingested::Duplicate(id.clone()))
    );

    store.set_status(meta, EventStatus::Processed).unwrap();
    let entry = kv.get("events:idx:00000000000000000007").unwrap().unwrap();
    assert_eq!(entry.first(), Some(&b'{'), "rewritten as a summary");
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    assert_eq!(page.items[0].status, EventStatus::Processed);
}

#[test]
fn a_contender_takes_over_at_once_when_the_owner_fails() {
    use crate::clock::SystemClock;
    let kv = Arc::new(MemoryKv::new());
    let event = new_event(Provider::Github, "owner-fails");
    let id = EventId::for_delivery(Provider::Github, &event.delivery_id);
    // An owner holds generation 0 and has not committed.
    kv.increment(&format!("events:claim:{id}:0"), 1).unwrap();
    let tuning = Tuning {
        wait_for_commit: Duration::from_secs(10),
        ..Tuning::default()
    };
    let contender = {
        let kv = kv.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let result = EventStore::with_tuning(&*kv, SystemClock, tuning).ingest(event);
            (result, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    // The owner's commit fails, and it releases its claim.
    kv.set(&format!("events:lease:{id}:0"), b"0").unwrap();
    let (result, took) = contender.join().unwrap();
    let meta = accepted(result);
    assert_eq!(meta.generation, 1);
    assert!(took < Duration::from_secs(5), "waited {took:?}");
}

#[test]
fn an_owner_that_held_its_claim_too_long_does_not_commit() {
    /// Advances the clock by `lag` when the sequence number is taken (a stalled owner).
    struct Stalling<'a> {
        kv: &'a MemoryKv,
        clock: &'a ManualClock,
        lag: Duration,
    }
    impl KeyValue for Stalling<'_> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, crate::kv::KvError> {
            self.kv.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), crate::kv::KvError> {
            self.kv.set(key, value)
        }
        fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), crate::kv::KvError> {
            self.kv.set_many(entries)
        }
        fn delete(&self, key: &str) -> Result<(), crate::kv::KvError> {
            self.kv.delete(key)
        }
        fn delete_many(&self, keys: &[String]) -> Result<(), crate::kv::KvError> {
            self.kv.delete_many(keys)
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, crate::kv::KvError> {
            if key == "events:seq" {
                self.clock.advance(self.lag);
            }
            self.kv.increment(key, delta)
        }
    }
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let stalled = Stalling {
        kv: &kv,
        clock: &clock,
        lag: Duration::from_secs(26),
    };
    assert_eq!(
        EventStore::new(&stalled, &clock).ingest(new_event(Provider::Github, "stalled")),
        Err(StoreError::InProgress)
    );
    let store = EventStore::new(&kv, &clock);
    assert!(store
        .list(&ListFilter::default(), 10, None)
        .unwrap()
        .items
        .is_empty());
    // It released its claim: the retry is stored at once.
    accepted(store.ingest(new_event(Provider::Github, "stalled")));
}

#[test]
fn a_redelivery_after_a_delete_is_stored_at_once_even_after_a_contended_first_delivery() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let first = accepted(store.ingest(new_event(Provider::Github, "contended")));
    // A contender of the first delivery started the lease just after the commit released it.
    kv.set(
        &format!("events:lease:{}:0", first.id),
        (T0 * 1000).to_string().as_bytes(),
    )
    .unwrap();
    store.delete(&first).unwrap();
    // With a manual clock a wait would run the bound out at once and answer InProgress.
    let second = accepted(store.ingest(new_event(Provider::Github, "contended")));
    assert!(second.seq > first.seq);
}

// ---------------------------------------------------------------- retention

fn retention(max_events: Option<u64>) -> crate::config::Retention {
    crate::config::Retention {
        processed: Duration::from_secs(30 * 86_400),
        pending: Duration::from_secs(90 * 86_400),
        max_events,
        dedup: Duration::from_secs(3 * 86_400),
    }
}

fn pruned_count(store: &EventStore<&MemoryKv, &ManualClock>, reason: PruneReason) -> u64 {
    store
        .pruned()
        .unwrap()
        .into_iter()
        .find(|(r, _)| *r == reason)
        .map_or(0, |(_, n)| n)
}

#[test]
fn the_count_cap_keeps_the_newest_k_and_a_pruned_delivery_is_still_a_duplicate() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let rules = retention(Some(10));
    for n in 0..25 {
        let meta = accepted(store.ingest(new_event(Provider::Github, &format!("cap-{n}"))));
        store.prune_for(meta.seq, &rules).unwrap();
    }
    let page = store.list(&ListFilter::default(), 100, None).unwrap();
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.items.last().unwrap().delivery_id.as_str(), "cap-15");
    assert_eq!(counts_of(&store, Provider::Github).pending, 10);
    assert_eq!(pruned_count(&store, PruneReason::MaxEvents), 15);
    // Within the dedup window, a provider's retry of a pruned delivery is still a duplicate,
    // and the event reads as gone.
    let retry = store.ingest(new_event(Provider::Github, "cap-0")).unwrap();
    let Ingested::Duplicate(id) = retry else {
        panic!("{retry:?}")
    };
    assert!(store.get(&id).unwrap().is_none());
    // Once the window has passed, a sweep forgets it, and a redelivery is a new delivery.
    clock.advance(Duration::from_secs(3 * 86_400 + 1));
    let swept = store.sweep(&rules, 100, false).unwrap();
    assert_eq!(swept.forgotten, 15);
    accepted(store.ingest(new_event(Provider::Github, "cap-0")));
}

/// Sustained pruning by count, faster than sweeps run (the bench: a sweep removes at most 100
/// tombstones per tick, 20 a second at a 5 s tick): the requests that prune also forget
/// expired tombstones, so what pruning leaves behind stays bounded without any sweep.
#[test]
fn count_pruning_alone_keeps_what_it_leaves_behind_bounded() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let mut rules = retention(Some(5));
    rules.dedup = Duration::ZERO;
    let left = || {
        kv.keys()
            .iter()
            .filter(|k| k.starts_with("events:tomb:") || k.starts_with("events:meta:"))
            .count()
    };
    let mut most = 0;
    // 50 deliveries a second for 200 s; a tombstone lives a minute (3,000 at this rate).
    for n in 0..10_000 {
        let meta = accepted(store.ingest(new_event(Provider::Github, &format!("s-{n}"))));
        store.prune_for(meta.seq, &rules).unwrap();
        clock.advance(Duration::from_millis(20));
        if n % 100 == 0 {
            most = most.max(left());
        }
    }
    assert_eq!(pruned_count(&store, PruneReason::MaxEvents), 9_995);
    // Without sweeps, tombstones used to pile up: 9,995 here.
    assert!(most <= 3_000 + 5 + 64, "{most} tombstones and meta records");
    assert!(left() <= 3_000 + 5 + 64, "{}", left());
}

#[test]
fn age_rules_prune_processed_and_pending_events_and_leave_nothing_behind() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let rules = retention(None);
    let old_processed = accepted(store.ingest(new_event(Provider::Stripe, "old-p")));
    let old_pending = accepted(store.ingest(new_event(Provider::Stripe, "old-q")));
    store
        .set_status(old_processed.clone(), EventStatus::Processed)
        .unwrap();
    clock.advance(Duration::from_secs(31 * 86_400));
    let young = accepted(store.ingest(new_event(Provider::Stripe, "young")));
    // 31 days on: the processed one goes; the pending one (90 days) stays, and so does the
    // young one.
    let swept = store.sweep(&rules, 100, true).unwrap();
    assert_eq!(swept.pruned, 1);
    let ids: Vec<_> = store
        .list(&ListFilter::default(), 10, None)
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [young.id.clone(), old_pending.id.clone()]);
    assert_eq!(pruned_count(&store, PruneReason::ProcessedAge), 1);
    // 90 days on: the old pending one goes; nothing of either is left but counters.
    clock.advance(Duration::from_secs(60 * 86_400));
    store.sweep(&rules, 100, true).unwrap();
    assert_eq!(pruned_count(&store, PruneReason::PendingAge), 1);
    // A minute later the delete claims go too (they outlive the events so that racing sweeps
    // count each once).
    clock.advance(Duration::from_secs(61));
    store.sweep(&rules, 100, true).unwrap();
    let leftovers: Vec<_> = kv
        .keys()
        .into_iter()
        .filter(|k| k.contains(old_processed.id.as_str()) || k.contains(old_pending.id.as_str()))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(counts_of(&store, Provider::Stripe).pending, 1);
    assert_eq!(counts_of(&store, Provider::Stripe).processed, 0);
}

#[test]
fn the_sweep_floor_stops_at_an_event_it_must_keep_and_looks_past_it() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let rules = retention(None);
    let blocker = accepted(store.ingest(new_event(Provider::Github, "blocker")));
    let behind = accepted(store.ingest(new_event(Provider::Github, "behind")));
    store.set_status(behind, EventStatus::Processed).unwrap();
    clock.advance(Duration::from_secs(31 * 86_400));
    store.sweep(&rules, 100, true).unwrap();
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    assert_eq!(
        page.items.iter().map(|m| &m.id).collect::<Vec<_>>(),
        [&blocker.id]
    );
    assert_eq!(
        kv.get("events:floor").unwrap(),
        None,
        "the floor stays below the blocker"
    );
    clock.advance(Duration::from_secs(60 * 86_400));
    store.sweep(&rules, 100, true).unwrap();
    assert_eq!(kv.get("events:floor").unwrap().as_deref(), Some(&b"2"[..]));
}

#[test]
fn sweeps_hold_off_each_other_and_work_in_bounded_steps() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let rules = retention(None);
    for n in 0..30 {
        accepted(store.ingest(new_event(Provider::Github, &format!("aged-{n}"))));
    }
    clock.advance(Duration::from_secs(91 * 86_400));
    let first = store.sweep(&rules, 10, false).unwrap();
    // Ten index entries, and the first tombstone (not due for a minute).
    assert_eq!(
        (first.examined, first.pruned, first.skipped),
        (11, 10, false)
    );
    assert!(
        store.sweep(&rules, 10, false).unwrap().skipped,
        "within 2 s of the last"
    );
    clock.advance(Duration::from_secs(3));
    assert_eq!(store.sweep(&rules, 10, false).unwrap().pruned, 10);
    assert_eq!(store.sweep(&rules, 100, true).unwrap().pruned, 10);
    assert!(store
        .list(&ListFilter::default(), 10, None)
        .unwrap()
        .items
        .is_empty());
}

#[test]
fn concurrent_sweeps_prune_each_event_once_and_skip_none() {
    let kv = Arc::new(MemoryKv::new());
    let clock = Arc::new(ManualClock::at_unix(T0));
    let rules = retention(None);
    {
        let store = EventStore::new(&*kv, &*clock);
        for n in 0..200 {
            accepted(store.ingest(new_event(Provider::Standard, &format!("c-{n}"))));
        }
    }
    clock.advance(Duration::from_secs(91 * 86_400));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (kv, clock) = (kv.clone(), clock.clone());
            std::thread::spawn(move || {
                let store = EventStore::new(&*kv, &*clock);
                for _ in 0..20 {
                    store.sweep(&rules, 7, true).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    // Racing sweeps may re-read a floor another moved past, so how far eight of them got
    // depends on scheduling; what must hold is that whatever they left, one more sweep finds
    // (nothing was skipped for good) and that each event was counted once.
    let store = EventStore::new(&*kv, &*clock);
    let mut rounds = 0;
    while !store
        .list(&ListFilter::default(), 10, None)
        .unwrap()
        .items
        .is_empty()
    {
        rounds += 1;
        assert!(rounds <= 200 / 7 + 1, "a sweep made no progress");
        assert!(store.sweep(&rules, 7, true).unwrap().examined > 0);
    }
    assert_eq!(pruned_count(&store, PruneReason::PendingAge), 200);
    assert_eq!(counts_of(&store, Provider::Standard).pending, 0);
}

#[test]
fn a_store_failure_during_a_sweep_loses_nothing_that_must_be_kept() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let rules = retention(None);
    let store = EventStore::new(&kv, &clock);
    for n in 0..5 {
        accepted(store.ingest(new_event(Provider::Github, &format!("f-{n}"))));
    }
    clock.advance(Duration::from_secs(91 * 86_400));
    let young = accepted(store.ingest(new_event(Provider::Github, "keep-me")));
    // Every third operation fails.
    let faulty = FaultyKv::new(&kv, |_, _, n| n % 3 == 2);
    for _ in 0..20 {
        let _ = EventStore::new(&faulty, &clock).sweep(&rules, 100, true);
    }
    store.sweep(&rules, 100, true).unwrap();
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    assert_eq!(
        page.items.iter().map(|m| &m.id).collect::<Vec<_>>(),
        [&young.id]
    );
    assert!(store.get(&young.id).unwrap().is_some());
}

#[test]
fn a_capped_store_stays_bounded() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    let store = EventStore::new(&kv, &clock);
    let rules = retention(Some(50));
    let mut sizes = Vec::new();
    for n in 0..2_000 {
        let meta = accepted(store.ingest(new_event(Provider::Github, &format!("b-{n}"))));
        store.prune_for(meta.seq, &rules).unwrap();
        if n % 10 == 0 {
            // A day passes every ten deliveries: dedup records expire as they go.
            clock.advance(Duration::from_secs(86_400 / 10 * 10));
            store.sweep(&rules, 20, true).unwrap();
        }
        if n % 500 == 499 {
            sizes.push(kv.keys().len());
        }
    }
    // Level: the key count after 1 000 deliveries and after 2 000 is the same, within noise.
    assert!(sizes.windows(2).all(|w| w[1] <= w[0] + 20), "{sizes:?}");
    assert!(*sizes.last().unwrap() < 50 * 12, "{sizes:?}");
}
