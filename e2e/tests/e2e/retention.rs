//! Retention against the real `spin up`: the count cap on the local SQLite store and on
//! `redis-server`, where the number of keys must level off however much arrives. (The age rules
//! work in days; the native tests drive them with a manual clock.)

// Test code: a panic here is a failed test, which is what these would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use e2e::redis::RedisServer;
use e2e::signing::{self, configured, API_TOKEN};
use e2e::{start_or_skip, Client};

const CAP: usize = 5;

fn ingest(client: &Client, delivery: &str) -> u16 {
    signing::github(client, delivery, "push", r#"{"n":1}"#)
        .send()
        .unwrap()
        .status
}

fn listed(client: &Client) -> Vec<String> {
    let page = client
        .get("/api/events?limit=100")
        .bearer(API_TOKEN)
        .send()
        .unwrap()
        .json();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["delivery_id"].as_str().unwrap().to_owned())
        .collect()
}

fn stats(client: &Client) -> serde_json::Value {
    client
        .get("/api/stats")
        .bearer(API_TOKEN)
        .send()
        .unwrap()
        .json()
}

#[test]
fn the_count_cap_keeps_the_newest_and_a_pruned_delivery_stays_a_duplicate() {
    let app = start_or_skip!(
        "retention cap",
        configured().variable("retention_max_events", &CAP.to_string())
    );
    let client = app.client();
    for n in 0..12 {
        assert_eq!(ingest(&client, &format!("cap-{n}")), 202);
    }
    // Each delivery prunes after its answer: wait for the last one's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while listed(&client).len() > CAP && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kept = listed(&client);
    assert_eq!(
        kept,
        (7..12)
            .rev()
            .map(|n| format!("cap-{n}"))
            .collect::<Vec<_>>()
    );
    let stats = stats(&client);
    assert_eq!(stats["pruned"]["max_events"], 7, "{stats}");
    assert_eq!(stats["max_events"], CAP, "{stats}");
    assert_eq!(stats["by_provider"]["github"]["pending"], CAP, "{stats}");
    // GitHub's redelivery of a pruned delivery, inside the dedup window: still a duplicate.
    assert_eq!(ingest(&client, "cap-0"), 200);
    assert_eq!(listed(&client).len(), CAP);
}

#[test]
fn on_redis_the_stored_events_level_off_past_the_cap() {
    let Some(redis) = RedisServer::start("retention redis") else {
        return;
    };
    // No dedup window: what a pruned event leaves behind is only its tombstone, which the
    // dispatch tick's sweep removes a minute later (native tests: events::tests).
    let app = start_or_skip!(
        "retention redis",
        configured()
            .variable("retention_max_events", &CAP.to_string())
            .variable("retention_dedup_days", "0")
            .runtime_config(&redis.runtime_config())
    );
    let client = app.client();
    let count = |pattern: &str| -> usize {
        let reply = redis.command(&["KEYS", pattern]);
        reply
            .lines()
            .next()
            .and_then(|line| line.strip_prefix('*'))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("KEYS {pattern}: {reply:?}"))
    };
    let mut rounds = Vec::new();
    for round in 0..4 {
        for n in 0..20 {
            assert_eq!(ingest(&client, &format!("r{round}-{n}")), 202);
        }
        // The cap is applied after each answer: wait, with a deadline, until it settles.
        let keys = || {
            [
                count("events:meta:*"),
                count("events:body:*"),
                count("events:idx:*"),
            ]
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while keys() != [CAP; 3] && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        rounds.push(keys());
    }
    eprintln!("[meta, body, index] keys after each 20 deliveries: {rounds:?}");
    assert!(
        rounds.iter().all(|r| *r == [CAP; 3]),
        "80 deliveries, {CAP} kept: {rounds:?}"
    );
    assert_eq!(listed(&client).len(), CAP);
    assert_eq!(stats(&client)["pruned"]["max_events"], 80 - CAP);
    // Without a dedup window, a pruned delivery's redelivery is stored again.
    assert_eq!(ingest(&client, "r0-0"), 202);
}
