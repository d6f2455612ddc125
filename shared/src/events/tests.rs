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

fn new_event(provider: Provider, delivery: &str) -> NewEvent {
    let body = format!(r#"{{"id":"{delivery}","type":"thing.happened","n":1.50}}"#);
    NewEvent {
        provider,
        delivery_id: DeliveryId::parse(delivery).unwrap(),
        event_type: EventType::parse("thing.happened").unwrap(),
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

    let stats = store.stats().unwrap();
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
    let kv = Arc::new(MemoryKv::new());
    let clock = Arc::new(ManualClock::at_unix(T0));
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
    assert_eq!(store.stats().unwrap()[&Provider::Standard].pending, 1);
}

#[test]
fn a_failed_write_leaves_nothing_visible_and_the_retry_succeeds_at_once() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    for failing in [Op::SetMany, Op::Set] {
        // Fail the body/index batch, or the meta write (the only plain `set` of a `meta` key).
        let faulty = FaultyKv::new(&kv, move |op, key, _| {
            op == failing && (op == Op::SetMany || key.starts_with("events:meta:"))
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
        EventStore::new(&kv, &clock).stats().unwrap()[&Provider::Github].pending,
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
fn an_owner_that_fails_right_after_claiming_releases_so_the_retry_is_immediate() {
    let kv = MemoryKv::new();
    let clock = ManualClock::at_unix(T0);
    // The claim succeeds, then writing the lease fails (once).
    let failing_once = std::sync::atomic::AtomicBool::new(true);
    let once = FaultyKv::new(&kv, |op, key, _| {
        op == Op::Set
            && key.starts_with("events:lease:")
            && failing_once.swap(false, std::sync::atomic::Ordering::SeqCst)
    });
    let failed = EventStore::new(&once, &clock).ingest(new_event(Provider::Github, "lease-fail"));
    assert!(matches!(failed, Err(StoreError::Kv(_))), "{failed:?}");
    // No waiting for the lease: the next attempt takes over straight away.
    accepted(EventStore::new(&kv, &clock).ingest(new_event(Provider::Github, "lease-fail")));
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
    assert_eq!(store.stats().unwrap()[&Provider::Github].pending, 1);
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
        event_type: Some(EventType::parse("other.type").unwrap()),
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
        store.stats().unwrap()[&Provider::Github],
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
    assert_eq!(store.stats().unwrap()[&Provider::Stripe], Counts::default());
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
    assert!(matches!(
        store.meta(&bad.id),
        Err(StoreError::Corrupt { .. })
    ));
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    assert_eq!(page.items, vec![good]);
}
