//! What a request costs the store, counted on the real backend: `MONITOR` on the `redis-server`
//! one `spin up` uses. Every key-value operation is a host call and, on Redis, a round trip
//! (docs/dedup.md has the table; the native tests count the same operations in memory).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2e::redis::RedisServer;
use e2e::signing::{self, API_TOKEN};
use e2e::start_or_skip;

#[test]
fn a_new_delivery_costs_at_most_six_commands_and_a_page_of_fifty_at_most_fifty_two() {
    let Some(redis) = RedisServer::start("store ops") else {
        return;
    };
    let app = start_or_skip!(
        "store ops",
        signing::configured().runtime_config(&redis.runtime_config())
    );
    let client = app.client();
    for n in 0..60 {
        let body = format!(r#"{{"n":{n}}}"#);
        let response = signing::github(&client, &format!("ops-{n}"), "push", &body)
            .send()
            .unwrap();
        assert_eq!(response.status, 202);
    }
    let monitor = redis.monitor();

    let body = r#"{"n":"new"}"#;
    let response = signing::github(&client, "ops-new", "push", body)
        .send()
        .unwrap();
    assert_eq!(response.status, 202, "{}", response.text());
    let new_delivery = monitor.take();
    eprintln!("new delivery: {new_delivery:?}");
    assert!(new_delivery.len() <= 6, "{new_delivery:?}");

    let response = signing::github(&client, "ops-new", "push", body)
        .send()
        .unwrap();
    assert_eq!(response.status, 200);
    let duplicate = monitor.take();
    eprintln!("duplicate: {duplicate:?}");
    assert!(duplicate.len() <= 3, "{duplicate:?}");

    let response = client
        .get("/api/events?limit=50")
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["items"].as_array().unwrap().len(), 50);
    let page = monitor.take();
    eprintln!("page of 50: {} commands", page.len());
    assert!(page.len() <= 52, "{} commands: {page:?}", page.len());
    assert!(!page.iter().any(|c| c == "KEYS"), "{page:?}");
}
