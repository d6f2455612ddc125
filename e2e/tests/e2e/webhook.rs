//! The webhook processor against the real `spin up`: signed deliveries, every rejection,
//! concurrent duplicates on one instance and across two replicas sharing one Redis, and a
//! failing store.

// Test code: a panic here is a failed test, which is what these would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::{Arc, Barrier};

use e2e::redis::RedisServer;
use e2e::signing::{self, configured, now};
use e2e::{start_or_skip, Response, SpinApp, SpinOptions};

fn receipt(response: &Response, status: u16) -> (String, bool) {
    assert_eq!(response.status, status, "{}", response.text());
    let body = response.json();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["duplicate"].as_bool().unwrap(),
    )
}

#[test]
fn signed_deliveries_of_every_provider_are_stored_once() {
    let app = start_or_skip!("webhook providers", configured());
    let client = app.client();
    let t = now();
    let deliveries = [
        signing::github(&client, "e2e-gh-1", "push", r#"{"ref":"refs/heads/main"}"#),
        signing::stripe(&client, "evt_e2e_1", "invoice.paid", t),
        signing::standard(&client, "msg_e2e_1", "user.created", t),
        signing::shopify(
            &client,
            "b54557e4-e2e",
            "orders/create",
            r#"{"id":820982911946154508}"#,
            signing::SHOPIFY_SECRET,
        ),
        signing::slack(&client, &signing::slack_event("Ev0E2E", "app_mention"), t),
        signing::linear(&client, "lin-e2e-1", "Issue", "create", t * 1000),
    ];
    for delivery in deliveries {
        let (id, duplicate) = receipt(&delivery.clone().send().unwrap(), 202);
        assert!(!duplicate);
        assert!(id.starts_with("evt_") && id.len() == 36, "{id}");
        let again = delivery.send().unwrap();
        assert_eq!(receipt(&again, 200), (id.clone(), true));
        assert_eq!(
            again.header("location"),
            Some(format!("/api/events/{id}").as_str())
        );
    }
}

#[test]
fn github_form_encoded_deliveries_are_accepted() {
    let app = start_or_skip!("webhook github form", configured());
    let body = "payload=%7B%22zen%22%3A%22Design+for+failure.%22%2C%22hook_id%22%3A1%7D";
    let response = app
        .client()
        .post("/webhooks/github")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-github-delivery", "e2e-form-1")
        .header("x-github-event", "ping")
        .header(
            "x-hub-signature-256",
            &webhook_verify::github::sign(signing::GITHUB_SECRET.as_bytes(), body.as_bytes()),
        )
        .body(body)
        .send()
        .unwrap();
    receipt(&response, 202);
}

#[test]
fn every_bad_input_gets_its_own_problem() {
    let app = start_or_skip!(
        "webhook bad input",
        configured().variable("webhook_max_body_bytes", "2048")
    );
    let client = app.client();
    let t = now();

    // 404: unknown provider.
    let body = client
        .post("/webhooks/nosuch")
        .json(&serde_json::json!({}))
        .send()
        .unwrap()
        .assert_problem(404);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("github, stripe, standard"),
        "{body}"
    );

    // 400: signature header missing, and malformed.
    let body = client
        .post("/webhooks/github")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap()
        .assert_problem(400);
    assert_eq!(body["errors"][0]["field"], "header:x-hub-signature-256");
    let body = client
        .post("/webhooks/stripe")
        .header("content-type", "application/json")
        .header("stripe-signature", "t=yesterday,v1=zz")
        .body(r#"{"id":"evt_x","type":"t"}"#)
        .send()
        .unwrap()
        .assert_problem(400);
    assert_eq!(
        body["type"],
        "urn:webhook-inbox:problem:invalid-signature-header"
    );

    // 401: wrong signature, and a timestamp outside the tolerance (both directions).
    let response = client
        .post("/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-delivery", "d")
        .header("x-github-event", "push")
        .header("x-hub-signature-256", &format!("sha256={}", "0".repeat(64)))
        .body("{}")
        .send()
        .unwrap();
    response.assert_problem(401);
    assert!(response.header("www-authenticate").is_some());
    // Well outside the 300 s tolerance: `t` was read before earlier requests, so a skew of just
    // 301 s would be inside it by the time the request arrives (the exact edges are unit-tested
    // with an injected clock in webhook-verify).
    for skew in [-400, 400] {
        let body = signing::stripe(&client, "evt_stale", "t", now() + skew)
            .send()
            .unwrap()
            .assert_problem(401);
        assert!(
            body["detail"].as_str().unwrap().contains("s from now"),
            "{body}"
        );
        signing::standard(&client, "msg_stale", "t", now() + skew)
            .send()
            .unwrap()
            .assert_problem(401);
    }

    // 413: declared too large (refused before reading), and too large while reading.
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(4096));
    signing::github(&client, "big-1", "push", &big)
        .send()
        .unwrap()
        .assert_problem(413);
    signing::github(&client, "big-2", "push", &big)
        .chunked()
        .send()
        .unwrap()
        .assert_problem(413);

    // 415: unsupported and missing content type.
    let body = r#"{"id":"evt_ct","type":"t"}"#;
    let response = signing::stripe_raw(&client, body, t, Some("text/plain"))
        .send()
        .unwrap();
    response.assert_problem(415);
    assert_eq!(response.header("accept-post"), Some("application/json"));
    signing::stripe_raw(&client, body, t, None)
        .send()
        .unwrap()
        .assert_problem(415);

    // 400: invalid JSON, and a JSON object without the event type.
    let body = signing::github(&client, "bad-json", "push", "{\"unterminated\": ")
        .send()
        .unwrap()
        .assert_problem(400);
    assert_eq!(body["errors"][0]["field"], "body");
    let body = signing::stripe_raw(
        &client,
        r#"{"id":"evt_no_type"}"#,
        t,
        Some("application/json"),
    )
    .send()
    .unwrap()
    .assert_problem(400);
    assert_eq!(body["errors"][0]["field"], "/type");

    // 405: other methods (GET is taken only by providers with a GET handshake, HEAD is an
    // endpoint check).
    for method in ["GET", "PUT", "DELETE"] {
        let response = client.request(method, "/webhooks/github").send().unwrap();
        response.assert_problem(405);
        let allow = response.header("allow").unwrap_or_default();
        assert!(allow.contains("POST") && !allow.contains("PUT"), "{method}: {allow}");
    }
}

#[test]
fn a_provider_without_a_secret_is_404_saying_so() {
    let app = start_or_skip!(
        "webhook unconfigured",
        SpinOptions::default().variable("webhook_github_secret", signing::GITHUB_SECRET)
    );
    let body = signing::stripe(&app.client(), "evt_1", "t", now())
        .send()
        .unwrap()
        .assert_problem(404);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("webhook_stripe_secret"),
        "{body}"
    );
    // The configured provider still works.
    receipt(
        &signing::github(&app.client(), "ok-1", "push", "{}")
            .send()
            .unwrap(),
        202,
    );
}

#[test]
fn a_body_at_the_default_limit_is_stored() {
    let app = start_or_skip!("webhook 1 MiB", configured());
    // `{"pad":"` + padding + `"}` is exactly 1 MiB, the default webhook_max_body_bytes.
    let padding = "x".repeat(1024 * 1024 - 10);
    let body = format!(r#"{{"pad":"{padding}"}}"#);
    assert_eq!(body.len(), 1024 * 1024);
    receipt(
        &signing::github(&app.client(), "big-ok", "push", &body)
            .send()
            .unwrap(),
        202,
    );
    let over = format!(r#"{{"pad":"{padding}x"}}"#);
    signing::github(&app.client(), "big-no", "push", &over)
        .send()
        .unwrap()
        .assert_problem(413);
}

/// Fires `copies` identical deliveries at the given apps at once (round-robin) and returns
/// the statuses and ids. No copy is retried: every copy but the first must be told "duplicate"
/// within the store's wait for the commit (a 503 `delivery-in-progress` is only for an original
/// that is genuinely stuck, and a sender that gets one does not know its delivery was stored).
fn race(
    apps: &[&SpinApp],
    copies: usize,
    make: impl Fn(&e2e::Client) -> e2e::http::RequestBuilder + Sync,
) -> Vec<(u16, String)> {
    race_once(apps, copies, &make)
        .into_iter()
        .map(|(status, id, _)| (status, id))
        .collect()
}

fn race_once(
    apps: &[&SpinApp],
    copies: usize,
    make: &(impl Fn(&e2e::Client) -> e2e::http::RequestBuilder + Sync),
) -> Vec<(u16, String, String)> {
    let barrier = Arc::new(Barrier::new(copies));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..copies)
            .map(|n| {
                let request = make(&apps[n % apps.len()].client());
                let barrier = barrier.clone();
                scope.spawn(move || {
                    barrier.wait();
                    let response = request.send().unwrap();
                    let body = response.json();
                    let id = body["id"].as_str().unwrap_or_default().to_owned();
                    let slug = body["type"]
                        .as_str()
                        .and_then(|t| t.rsplit(':').next())
                        .unwrap_or_default()
                        .to_owned();
                    if response.status == 503 {
                        assert_eq!(response.header("retry-after"), Some("2"), "{body}");
                    }
                    (response.status, id, slug)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_stored_once(outcomes: &[(u16, String)]) {
    let accepted = outcomes.iter().filter(|(s, _)| *s == 202).count();
    let duplicates = outcomes.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(accepted, 1, "exactly one copy is accepted: {outcomes:?}");
    assert_eq!(
        duplicates,
        outcomes.len() - 1,
        "all others are duplicates: {outcomes:?}"
    );
    let first = &outcomes[0].1;
    assert!(
        outcomes.iter().all(|(_, id)| id == first),
        "one event id: {outcomes:?}"
    );
}

#[test]
fn fifty_concurrent_copies_are_stored_once() {
    let app = start_or_skip!("webhook race", configured());
    let t = now();
    let outcomes = race(&[&app], 50, |client| {
        signing::standard(client, "msg_race", "race.test", t)
    });
    assert_stored_once(&outcomes);
}

#[test]
fn two_replicas_sharing_redis_store_a_racing_delivery_once() {
    let Some(redis) = RedisServer::start("webhook replicas") else {
        return;
    };
    let options = configured().runtime_config(&redis.runtime_config());
    let a = start_or_skip!("webhook replicas", options.clone());
    let b = start_or_skip!("webhook replicas", options);
    let t = now();
    let outcomes = race(&[&a, &b], 50, |client| {
        signing::stripe(client, "evt_replica_race", "race.test", t)
    });
    assert_stored_once(&outcomes);

    // One event, one index entry, in the shared store.
    let metas = redis.command(&["KEYS", "events:meta:*"]);
    assert!(metas.starts_with("*1\r\n"), "{metas}");
    let index = redis.command(&["KEYS", "events:idx:*"]);
    assert!(index.starts_with("*1\r\n"), "{index}");

    // And a later copy at either replica is a duplicate.
    for app in [&a, &b] {
        let response = signing::stripe(&app.client(), "evt_replica_race", "race.test", now())
            .send()
            .unwrap();
        assert!(receipt(&response, 200).1, "a duplicate");
    }
}

#[test]
fn a_failing_store_is_503_with_retry_after_and_nothing_is_half_written() {
    let Some(redis) = RedisServer::start("webhook store failure") else {
        return;
    };
    let app = start_or_skip!(
        "webhook store failure",
        configured().runtime_config(&redis.runtime_config())
    );
    redis.refuse_writes();
    let response = signing::github(&app.client(), "while-down", "push", "{}")
        .send()
        .unwrap();
    response.assert_problem(503);
    assert_eq!(response.header("retry-after"), Some("5"));
    assert!(redis
        .command(&["KEYS", "events:meta:*"])
        .starts_with("*0\r\n"));

    // The provider retries once the store is back: stored, exactly once.
    redis.accept_writes();
    let (id, duplicate) = receipt(
        &signing::github(&app.client(), "while-down", "push", "{}")
            .send()
            .unwrap(),
        202,
    );
    assert!(!duplicate);
    let (again, duplicate) = receipt(
        &signing::github(&app.client(), "while-down", "push", "{}")
            .send()
            .unwrap(),
        200,
    );
    assert_eq!((again, duplicate), (id, true));
}

#[test]
fn one_log_line_per_delivery_and_no_secret_in_logs() {
    let app = start_or_skip!("webhook logs", configured());
    receipt(
        &signing::github(
            &app.client(),
            "log-e2e-1",
            "push",
            r#"{"marker":"body-secret-ish"}"#,
        )
        .send()
        .unwrap(),
        202,
    );
    signing::stripe(&app.client(), "evt_log", "t", now() - 1000)
        .send()
        .unwrap()
        .assert_problem(401);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let logs = app.component_logs();
        let deliveries: Vec<serde_json::Value> = logs
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .filter(|line: &serde_json::Value| line["message"] == "delivery")
            .collect();
        if deliveries.len() >= 2 {
            assert_eq!(deliveries.len(), 2, "{logs}");
            assert_eq!(deliveries[0]["provider"], "github");
            assert_eq!(deliveries[0]["delivery_id"], "log-e2e-1");
            assert_eq!(deliveries[0]["event_type"], "push");
            assert_eq!(deliveries[0]["outcome"], "accepted");
            assert!(deliveries[0]["latency_ms"].is_number());
            assert_eq!(deliveries[1]["provider"], "stripe");
            assert_eq!(deliveries[1]["outcome"], "signature-mismatch");
            for secret in [
                signing::GITHUB_SECRET,
                signing::STRIPE_SECRET,
                signing::STANDARD_SECRET,
                "body-secret-ish",
                "sha256=",
            ] {
                assert!(!logs.contains(secret), "{secret} in logs:\n{logs}");
            }
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "delivery lines missing:\n{logs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
