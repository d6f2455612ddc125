//! Forwarding against the real `spin up`: stored events pushed to a receiver the test runs on a
//! loopback port, which verifies every request with the project's Standard Webhooks verifier and
//! answers as each test scripts it.

// Test code: a panic here is a failed test, which is what these would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e::receiver::{Received, Receiver, Reply};
use e2e::redis::RedisServer;
use e2e::signing::{self, configured, API_TOKEN, STANDARD_SECRET};
use e2e::ticker::Ticker;
use e2e::{start_or_skip, Client, SpinApp, SpinOptions};
use serde_json::{json, Value};

mod circuit;

/// The destinations' signing secret (`whsec_` + base64 of "e2e-forwarding-key"). Obviously fake.
const DESTINATION_SECRET: &str = "whsec_ZTJlLWZvcndhcmRpbmcta2V5";
/// How often the tests' ticker calls `POST /api/dispatch`.
const TICK: Duration = Duration::from_millis(200);

/// The app with these destinations (`(name, url)`), all signed with [`DESTINATION_SECRET`].
fn forwarding_to(destinations: &[(&str, String)], schedule: &str) -> SpinOptions {
    let list: Vec<Value> = destinations
        .iter()
        .map(|(name, url)| json!({"name": name, "url": url, "secret": DESTINATION_SECRET}))
        .collect();
    configured()
        .variable("forward_destinations", &Value::Array(list).to_string())
        .variable("forward_retry_schedule", schedule)
}

fn ingest(client: &Client, delivery: &str, body: &str) -> String {
    let response = signing::github(client, delivery, "push", body)
        .send()
        .unwrap();
    assert_eq!(response.status, 202, "{}", response.text());
    response.json()["id"].as_str().unwrap().to_owned()
}

fn deliveries(client: &Client, id: &str) -> Value {
    let response = client
        .get(&format!("/api/events/{id}/deliveries"))
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// The delivery of `id` to `destination`, once `done` says it is in the wanted state.
fn wait_for_delivery(
    client: &Client,
    id: &str,
    destination: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let all = deliveries(client, id);
        let one = all["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["destination"] == destination)
            .cloned()
            .unwrap_or(Value::Null);
        if done(&one) {
            return one;
        }
        assert!(
            Instant::now() < deadline,
            "delivery of {id} to {destination} never got there: {all}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_verified(received: &[Received]) {
    for request in received {
        request
            .verify(DESTINATION_SECRET)
            .unwrap_or_else(|e| panic!("{} does not verify: {e}", request.path));
    }
}

fn attempt_numbers(received: &[Received]) -> Vec<u32> {
    received
        .iter()
        .map(|r| r.header("webhook-inbox-attempt").unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_healthy_destination_gets_each_event_once_signed_and_byte_for_byte() {
    let receiver = Receiver::ok();
    let app = start_or_skip!(
        "forwarding healthy",
        forwarding_to(&[("inbox", receiver.url("/hooks"))], "1s")
    );
    let client = app.client();
    // Spacing, key order and non-ASCII text that a re-serialization would change.
    let body = "{ \"zeta\": 1,\n  \"alpha\": \"caf\u{e9} \u{2603}\" }";
    let id = ingest(&client, "healthy-1", body);

    // Asked for by the webhook component right after it answered: no tick needed.
    let got = receiver.wait_for("/hooks", 1, Duration::from_secs(15));
    assert_eq!(got.len(), 1, "the first attempt follows the commit");
    let request = &got[0];
    assert_verified(&got);
    assert_eq!(request.body, body.as_bytes());
    // Sent with its length, not chunked (some receivers refuse chunked requests).
    assert_eq!(
        request.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(request.header("transfer-encoding"), None);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("webhook-id"), Some(id.as_str()));
    assert_eq!(request.header("webhook-inbox-provider"), Some("github"));
    assert_eq!(request.header("webhook-inbox-event-type"), Some("push"));
    assert_eq!(
        request.header("webhook-inbox-delivery-id"),
        Some("healthy-1")
    );
    assert_eq!(request.header("webhook-inbox-attempt"), Some("1"));

    // The provider's retry is a duplicate, and ticks find nothing more to send.
    let again = signing::github(&client, "healthy-1", "push", body)
        .send()
        .unwrap();
    assert_eq!(again.status, 200, "{}", again.text());
    let ticker = Ticker::start(client, API_TOKEN, TICK);
    ticker.wait_rounds(10, Duration::from_secs(30));
    drop(ticker);
    assert_eq!(receiver.received("/hooks").len(), 1, "exactly once");

    let delivery = wait_for_delivery(&client, &id, "inbox", Duration::from_secs(5), |d| {
        d["state"] == "delivered"
    });
    assert_eq!(delivery["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(delivery["attempts"][0]["status_code"], 200);
    assert!(delivery["next_attempt_at"].is_null());

    let stats = client
        .get("/api/stats")
        .bearer(API_TOKEN)
        .send()
        .unwrap()
        .json();
    assert_eq!(stats["forwarding"]["inbox"]["delivered"], 1, "{stats}");
    assert_eq!(stats["forwarding"]["inbox"]["pending"], 0, "{stats}");
}

/// Issue 25, secret rotation with overlap: a destination configured with the new and the old
/// secret signs each request with both, so a receiver still holding only the old secret and one
/// already holding only the new one verify the very same request: with the project's verifier and
/// with the standardwebhooks npm library (e2e/sdk). A secret it was not given does not verify it.
#[test]
fn during_a_secret_rotation_receivers_holding_either_secret_verify_the_same_delivery() {
    /// `whsec_` + base64 of "e2e-rotated-key" and of "e2e-unrelated-key". Obviously fake.
    const NEW_SECRET: &str = "whsec_ZTJlLXJvdGF0ZWQta2V5";
    const UNRELATED: &str = "whsec_ZTJlLXVucmVsYXRlZC1rZXk=";
    let receiver = Receiver::ok();
    let list = json!([{"name": "rotating", "url": receiver.url("/rotating"),
        "secret": [NEW_SECRET, DESTINATION_SECRET]}]);
    let app = start_or_skip!(
        "forwarding secret rotation",
        configured()
            .variable("forward_destinations", &list.to_string())
            .variable("forward_retry_schedule", "1s")
    );
    let client = app.client();
    let ready = client.get("/forwarder/readyz").send().unwrap();
    assert_eq!(ready.status, 200, "{}", ready.text());
    let body = "{\"rotation\": \"overlap\"}";
    let id = ingest(&client, "rotation-1", body);
    let got = receiver.wait_for("/rotating", 1, Duration::from_secs(15));
    assert_eq!(got.len(), 1);
    let request = &got[0];
    let signature = request.header("webhook-signature").unwrap();
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
    for secret in [DESTINATION_SECRET, NEW_SECRET] {
        request
            .verify(secret)
            .unwrap_or_else(|e| panic!("a receiver holding one of the secrets: {e}"));
    }
    assert!(
        request.verify(UNRELATED).is_err(),
        "a secret it was not given"
    );
    wait_for_delivery(&client, &id, "rotating", Duration::from_secs(10), |d| {
        d["state"] == "delivered"
    });

    // The same request through an independent library, as a destination would check it.
    let Some(node) = crate::sdk::harness("forwarding secret rotation (standardwebhooks)") else {
        return;
    };
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let cases: Vec<Value> = [DESTINATION_SECRET, NEW_SECRET, UNRELATED]
        .iter()
        .map(|secret| {
            json!({"mode": "verify-forwarded", "secret": secret, "body": body,
                "headers": headers, "now": signing::now()})
        })
        .collect();
    let verdicts = crate::sdk::prove(&node, &[], &Value::Array(cases));
    let valid: Vec<&Value> = verdicts
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["valid"])
        .collect();
    assert_eq!(
        valid,
        [&json!(true), &json!(true), &json!(false)],
        "{verdicts}"
    );
    assert_eq!(verdicts[0]["package"], "standardwebhooks", "{verdicts}");
}

/// Issue 25, throttling: a destination limited to 1 send per second gets no more than that in any
/// second (the forwarder's own record of when each attempt started), each event once as attempt 1
/// (waiting is not a failed attempt), while the unthrottled destination beside it has every event
/// before the throttled one is through.
#[test]
fn a_throttled_destination_gets_its_limit_per_second_and_slows_no_other() {
    let receiver = Receiver::ok();
    let list = json!([
        {"name": "slow", "url": receiver.url("/slow"), "secret": DESTINATION_SECRET,
         "max_per_second": 1},
        {"name": "fast", "url": receiver.url("/fast"), "secret": DESTINATION_SECRET},
    ]);
    let app = start_or_skip!(
        "forwarding throttle",
        configured()
            .variable("forward_destinations", &list.to_string())
            .variable("forward_retry_schedule", "1m")
    );
    let client = app.client();
    let ready = client.get("/forwarder/readyz").send().unwrap();
    assert_eq!(ready.status, 200, "{}", ready.text());
    let events = 8;
    let ids: Vec<String> = (0..events)
        .map(|n| ingest(&client, &format!("throttle-{n}"), "{}"))
        .collect();
    let ticker = Ticker::start(client, API_TOKEN, TICK);

    // The unthrottled one has every event while the throttled one (8 need at least 7 s at one a
    // second) is still going.
    let fast = receiver.wait_for("/fast", events, Duration::from_secs(30));
    let slow_then = receiver.received("/slow").len();
    assert!(slow_then < events, "{slow_then} sent at 1/s by then");
    let slow = receiver.wait_for("/slow", events, Duration::from_secs(60));
    ticker.wait_rounds(5, Duration::from_secs(20));
    drop(ticker);
    assert_eq!(receiver.received("/slow").len(), events, "each once");
    assert_eq!(receiver.received("/fast").len(), events, "each once");
    assert_verified(&fast);
    assert_verified(&slow);
    assert!(
        attempt_numbers(&slow).iter().all(|n| *n == 1),
        "never a failed attempt"
    );

    // When each attempt started, as the forwarder recorded it: at most 1 per second.
    let mut per_second: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        let delivery = wait_for_delivery(&client, id, "slow", Duration::from_secs(10), |d| {
            d["state"] == "delivered"
        });
        let attempts = delivery["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{delivery}");
        let at = attempts[0]["at"].as_str().unwrap();
        *per_second.entry(at[..19].to_owned()).or_default() += 1;
    }
    assert!(per_second.values().all(|n| *n <= 1), "{per_second:?}");
    assert_eq!(per_second.len(), events, "{per_second:?}");
}

/// Throttling in flight: a destination allowed one send at a time that holds each request (until
/// the 10 s send timeout cuts it off) gets no second one while the first is under way, however
/// many rounds run, and the next one once the first is over.
#[test]
fn a_destination_allowed_one_in_flight_gets_no_second_request_while_one_is_held() {
    let receiver = Receiver::start(|_, _| Reply::Hang);
    let list = json!([{"name": "held", "url": receiver.url("/held"),
        "secret": DESTINATION_SECRET, "max_in_flight": 1}]);
    let app = start_or_skip!(
        "forwarding in flight",
        configured()
            .variable("forward_destinations", &list.to_string())
            .variable("forward_retry_schedule", "1m")
    );
    let client = app.client();
    // The three asks after the 202s race for the one slot: all may be refused (never two let
    // through), and the tick's rounds send then. Two tickers: a round that sends the held
    // request waits with it, the other ticker's rounds go on.
    let tickers = [
        Ticker::start(client, API_TOKEN, TICK),
        Ticker::start(client, API_TOKEN, TICK),
    ];
    for n in 0..3 {
        ingest(&client, &format!("in-flight-{n}"), "{}");
    }
    assert_eq!(
        receiver.wait_for("/held", 1, Duration::from_secs(15)).len(),
        1
    );
    // Complete rounds run (each would send the two others) while the first is held.
    let rounds = || tickers.iter().map(Ticker::ticks).sum::<usize>();
    let (target, deadline) = (rounds() + 5, Instant::now() + Duration::from_secs(6));
    while rounds() < target {
        assert!(Instant::now() < deadline, "no dispatch rounds completed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(receiver.received("/held").len(), 1, "one at a time");
    // The timeout ends the first; the next one follows, still one at a time.
    assert!(receiver.wait_for("/held", 2, Duration::from_secs(30)).len() >= 2);
    drop(tickers);
    let got = receiver.received("/held");
    let ids: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids.len(), got.len(), "each a different event: {ids:?}");
}

#[test]
fn failures_are_retried_in_backoff_order_then_dead_lettered_and_replay_delivers() {
    // 500 to the first three attempts, 200 after: the schedule (3 attempts) is used up first.
    let receiver = Receiver::start(|_, nth| {
        if nth <= 3 {
            Reply::Status(500)
        } else {
            Reply::Status(200)
        }
    });
    let app = start_or_skip!(
        "forwarding retries",
        forwarding_to(&[("flaky", receiver.url("/flaky"))], "1s,3s")
    );
    let client = app.client();
    let id = ingest(&client, "retried-1", "{}");
    let ticker = Ticker::start(client, API_TOKEN, TICK);

    let got = receiver.wait_for("/flaky", 3, Duration::from_secs(30));
    assert_eq!(attempt_numbers(&got), [1, 2, 3]);
    assert_verified(&got);

    let dead = wait_for_delivery(&client, &id, "flaky", Duration::from_secs(10), |d| {
        d["state"] == "dead"
    });
    assert_eq!(dead["attempts"].as_array().unwrap().len(), 3);
    // 1 s then 3 s, each jittered by at most 10 %: measured between the attempts' recorded
    // starts, which the schedule is kept from (the receiver's arrival times also carry each
    // send's latency, which a loaded machine stretches: a 0.84 s gap was seen that way).
    let started: Vec<i64> = dead["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            inbox_core::time::Timestamp::parse_rfc3339(a["at"].as_str().unwrap())
                .unwrap()
                .unix_millis()
        })
        .collect();
    let (first_wait, second_wait) = (started[1] - started[0], started[2] - started[1]);
    assert!(first_wait >= 900, "{first_wait} ms");
    assert!(second_wait >= 2700, "{second_wait} ms");
    assert!(second_wait > first_wait, "backoff grows");
    assert!(dead["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["status_code"] == 500));
    let letters = client
        .get("/api/dead-letters?destination=flaky")
        .bearer(API_TOKEN)
        .send()
        .unwrap()
        .json();
    assert_eq!(letters["items"].as_array().unwrap().len(), 1, "{letters}");
    assert_eq!(letters["items"][0]["event_id"], id.as_str());

    // Nothing more is sent to a dead letter: three more complete rounds send nothing.
    ticker.wait_rounds(3, Duration::from_secs(10));
    assert_eq!(receiver.received("/flaky").len(), 3);

    // Replay: sent again (attempt numbers keep counting), and this time it lands.
    let replay = client
        .post(&format!("/api/events/{id}/replay"))
        .bearer(API_TOKEN)
        .json(&json!({"destination": "flaky"}))
        .send()
        .unwrap();
    assert_eq!(replay.status, 202, "{}", replay.text());
    let got = receiver.wait_for("/flaky", 4, Duration::from_secs(15));
    assert_eq!(attempt_numbers(&got), [1, 2, 3, 4]);
    let delivered = wait_for_delivery(&client, &id, "flaky", Duration::from_secs(10), |d| {
        d["state"] == "delivered"
    });
    assert_eq!(delivered["replays"], 1);
    drop(ticker);
    let letters = client
        .get("/api/dead-letters")
        .bearer(API_TOKEN)
        .send()
        .unwrap()
        .json();
    assert_eq!(letters["items"], json!([]), "replayed, no longer dead");
}

#[test]
fn gone_is_dead_at_once_and_retry_after_replaces_the_schedule() {
    let receiver = Receiver::start(|path, nth| match (path, nth) {
        ("/gone", _) => Reply::Status(410),
        ("/limited", 1) => Reply::RetryAfter(429, 2),
        _ => Reply::Status(200),
    });
    // A 30 s schedule: a second attempt within seconds can only be the Retry-After.
    let app = start_or_skip!(
        "forwarding 410 and 429",
        forwarding_to(
            &[
                ("gone", receiver.url("/gone")),
                ("limited", receiver.url("/limited"))
            ],
            "30s"
        )
    );
    let client = app.client();
    let id = ingest(&client, "fan-out-1", "{}");
    let ticker = Ticker::start(client, API_TOKEN, TICK);

    let limited = receiver.wait_for("/limited", 2, Duration::from_secs(20));
    assert_eq!(attempt_numbers(&limited), [1, 2]);
    let wait = limited[1].at - limited[0].at;
    assert!(wait >= Duration::from_millis(1900), "{wait:?}");
    assert!(
        wait < Duration::from_secs(25),
        "{wait:?}: the schedule's 30 s, not Retry-After"
    );
    wait_for_delivery(&client, &id, "limited", Duration::from_secs(5), |d| {
        d["state"] == "delivered"
    });

    let gone = wait_for_delivery(&client, &id, "gone", Duration::from_secs(5), |d| {
        d["state"] == "dead"
    });
    assert_eq!(gone["attempts"].as_array().unwrap().len(), 1, "{gone}");
    assert_eq!(gone["attempts"][0]["status_code"], 410);
    drop(ticker);
    assert_eq!(
        receiver.received("/gone").len(),
        1,
        "permanent: never retried"
    );

    // With no ticker running, a replay is still sent at once: the api component asks the
    // forwarder right after its 202.
    let replay = client
        .post(&format!("/api/events/{id}/replay"))
        .bearer(API_TOKEN)
        .json(&json!({"destination": "gone"}))
        .send()
        .unwrap();
    assert_eq!(replay.status, 202, "{}", replay.text());
    let gone = receiver.wait_for("/gone", 2, Duration::from_secs(10));
    assert_eq!(attempt_numbers(&gone), [1, 2]);
    assert_verified(&receiver.all());
}

#[test]
fn a_hanging_destination_is_cut_off_and_does_not_slow_ingestion() {
    let receiver = Receiver::start(|_, _| Reply::Hang);
    let app = start_or_skip!(
        "forwarding hang",
        forwarding_to(&[("stuck", receiver.url("/hang"))], "1m")
    );
    let client = app.client();
    let started = Instant::now();
    let id = ingest(&client, "hang-1", "{}");
    let answered = started.elapsed();
    // The destination got the request and holds it...
    assert_eq!(
        receiver.wait_for("/hang", 1, Duration::from_secs(10)).len(),
        1
    );
    // ...while more deliveries are answered as usual (the webhook component never waits for
    // forwarding; the send timeout is 10 s).
    for n in 0..5 {
        let started = Instant::now();
        ingest(&client, &format!("hang-more-{n}"), "{}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "ingestion waited for the destination: {:?}",
            started.elapsed()
        );
    }
    assert!(answered < Duration::from_secs(5), "{answered:?}");

    // The attempt is cut off by the send timeout, recorded as an error, and retried later.
    let delivery = wait_for_delivery(&client, &id, "stuck", Duration::from_secs(40), |d| {
        d["attempts"][0]["error"].is_string()
    });
    assert!(
        delivery["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("no response"),
        "{delivery}"
    );
    assert!(delivery["attempts"][0]["status_code"].is_null());
    assert_eq!(delivery["state"], "pending");
    assert!(delivery["next_attempt_at"].is_string());
    let duration = delivery["attempts"][0]["duration_ms"].as_u64().unwrap();
    assert!(
        (9_000..20_000).contains(&duration),
        "cut off by the 10 s timeout: {duration} ms"
    );
}

#[test]
fn two_replicas_ticking_one_redis_store_never_send_an_attempt_twice() {
    let Some(redis) = RedisServer::start("forwarding replicas") else {
        return;
    };
    // Every first attempt fails, so retries race too.
    let receiver = Receiver::start(|_, _| Reply::Status(200));
    let flaky = Receiver::start(|_, _| Reply::Status(503));
    let options = forwarding_to(
        &[
            ("steady", receiver.url("/steady")),
            ("flaky", flaky.url("/flaky")),
        ],
        "1s,1s",
    )
    // Only the ticks dispatch: the webhook component does not ask.
    .variable("forward_dispatch_url", "")
    .runtime_config(&redis.runtime_config());
    let a = start_or_skip!("forwarding replicas", options.clone());
    let b = start_or_skip!("forwarding replicas", options);
    let events = 20;
    let ids: Vec<String> = (0..events)
        .map(|n| ingest(&a.client(), &format!("replica-{n}"), "{}"))
        .collect();
    // Two tickers per replica, so ticks overlap within one replica as well as across them.
    let tickers: Vec<Ticker> = [&a, &b, &a, &b]
        .into_iter()
        .map(|app: &SpinApp| Ticker::start(app.client(), API_TOKEN, Duration::from_millis(50)))
        .collect();
    receiver.wait_for("/steady", events, Duration::from_secs(60));
    flaky.wait_for("/flaky", events * 3, Duration::from_secs(60));
    // Every ticker completes two more rounds (nothing due is left unsent), then stops.
    for ticker in &tickers {
        ticker.wait_rounds(2, Duration::from_secs(20));
    }
    drop(tickers);

    let mut sent: BTreeMap<(String, String, u32), usize> = BTreeMap::new();
    for (path, request) in receiver
        .all()
        .into_iter()
        .chain(flaky.all())
        .map(|r| (r.path.clone(), r))
    {
        let key = (
            path,
            request.header("webhook-id").unwrap().to_owned(),
            request
                .header("webhook-inbox-attempt")
                .unwrap()
                .parse()
                .unwrap(),
        );
        *sent.entry(key).or_default() += 1;
    }
    let twice: Vec<_> = sent.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    for id in &ids {
        assert!(
            sent.contains_key(&("/steady".into(), id.clone(), 1)),
            "{id}"
        );
        for attempt in 1..=3 {
            assert!(
                sent.contains_key(&("/flaky".into(), id.clone(), attempt)),
                "{id} attempt {attempt}"
            );
        }
    }
    assert_eq!(
        receiver.all().len(),
        events,
        "one attempt each to the healthy one"
    );
    assert_eq!(
        flaky.all().len(),
        events * 3,
        "three each (the budget) to the failing one"
    );
}

/// Throttling across replicas: two apps on one Redis store, four tickers, a destination limited
/// to 2 sends per second: the limit holds for the two together (each attempt's start, as the
/// forwarder recorded it), and every event arrives once, as attempt 1.
#[test]
fn two_replicas_on_one_redis_store_share_a_destinations_rate_limit() {
    let Some(redis) = RedisServer::start("forwarding throttle replicas") else {
        return;
    };
    let receiver = Receiver::ok();
    let list = json!([{"name": "slow", "url": receiver.url("/slow"),
        "secret": DESTINATION_SECRET, "max_per_second": 2}]);
    let options = configured()
        .variable("forward_destinations", &list.to_string())
        .variable("forward_retry_schedule", "1m")
        // Only the ticks dispatch: the replicas race for every send.
        .variable("forward_dispatch_url", "")
        .runtime_config(&redis.runtime_config());
    let a = start_or_skip!("forwarding throttle replicas", options.clone());
    let b = start_or_skip!("forwarding throttle replicas", options);
    let events = 10;
    let ids: Vec<String> = (0..events)
        .map(|n| ingest(&a.client(), &format!("shared-limit-{n}"), "{}"))
        .collect();
    let tickers: Vec<Ticker> = [&a, &b, &a, &b]
        .into_iter()
        .map(|app: &SpinApp| Ticker::start(app.client(), API_TOKEN, Duration::from_millis(50)))
        .collect();
    let got = receiver.wait_for("/slow", events, Duration::from_secs(60));
    assert_eq!(got.len(), events);
    for ticker in &tickers {
        ticker.wait_rounds(2, Duration::from_secs(20));
    }
    drop(tickers);
    assert_eq!(receiver.received("/slow").len(), events, "each once");
    assert!(
        attempt_numbers(&got).iter().all(|n| *n == 1),
        "never a failed attempt"
    );
    let mut per_second: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        let delivery = wait_for_delivery(&b.client(), id, "slow", Duration::from_secs(10), |d| {
            d["state"] == "delivered"
        });
        let at = delivery["attempts"][0]["at"].as_str().unwrap().to_owned();
        *per_second.entry(at[..19].to_owned()).or_default() += 1;
    }
    assert!(per_second.values().all(|n| *n <= 2), "{per_second:?}");
    assert!(per_second.len() >= events / 2, "{per_second:?}");
}

/// Issue 25, ordered delivery: two replicas on one Redis store, each with two tickers and its
/// webhook component asking for every event at once, a burst of events, and a receiver that fails
/// the first attempts of some of them. The ordered destination gets them in ingestion order, each
/// delivered exactly once, a failed one retried before the next is sent (the line held); the
/// unordered destination beside it gets every one, each once.
#[test]
fn an_ordered_destination_gets_a_burst_in_ingestion_order_through_failures_on_two_replicas() {
    let Some(redis) = RedisServer::start("forwarding ordered") else {
        return;
    };
    // The 1st, 2nd, 6th and 11th requests to the ordered destination fail: the first event's
    // first two attempts, and the first attempt of two later ones.
    const FAILED: [usize; 4] = [1, 2, 6, 11];
    let receiver = Receiver::start(|path, nth| match path {
        "/ordered" if FAILED.contains(&nth) => Reply::Status(500),
        _ => Reply::Status(200),
    });
    let list = json!([
        {"name": "ordered", "url": receiver.url("/ordered"), "secret": DESTINATION_SECRET,
         "ordered": true},
        {"name": "unordered", "url": receiver.url("/unordered"), "secret": DESTINATION_SECRET},
    ]);
    let options = configured()
        .variable("forward_destinations", &list.to_string())
        .variable("forward_retry_schedule", "1s,1s,1s,1s")
        .runtime_config(&redis.runtime_config());
    let a = start_or_skip!("forwarding ordered", options.clone());
    let b = start_or_skip!("forwarding ordered", options);
    for app in [&a, &b] {
        let ready = app.client().get("/forwarder/readyz").send().unwrap();
        assert_eq!(ready.status, 200, "{}", ready.text());
    }
    // The burst, alternating between the replicas: each one's webhook component asks its own
    // forwarder for the event at once, so both send while the tickers run.
    let events = 12;
    let tickers: Vec<Ticker> = [&a, &b, &a, &b]
        .into_iter()
        .map(|app: &SpinApp| Ticker::start(app.client(), API_TOKEN, Duration::from_millis(50)))
        .collect();
    let ids: Vec<String> = (0..events)
        .map(|n| {
            let app = if n % 2 == 0 { &a } else { &b };
            ingest(&app.client(), &format!("ordered-{n}"), "{}")
        })
        .collect();
    receiver.wait_for("/unordered", events, Duration::from_secs(60));
    receiver.wait_for("/ordered", events + FAILED.len(), Duration::from_secs(90));
    // Every ticker completes more rounds (anything sent twice or early would be by now).
    for ticker in &tickers {
        ticker.wait_rounds(3, Duration::from_secs(20));
    }
    drop(tickers);

    let got = receiver.received("/ordered");
    assert_verified(&got);
    let seen: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(got.len(), events + FAILED.len(), "{seen:?}");
    // Answered 2xx: exactly once each, in the order ingested.
    let delivered: Vec<&str> = seen
        .iter()
        .enumerate()
        .filter(|(i, _)| !FAILED.contains(&(i + 1)))
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(delivered, ids, "delivered in ingestion order, once each");
    // A failed attempt is followed by the same event's next attempt: nothing behind it was sent.
    for nth in FAILED {
        assert_eq!(seen[nth - 1], seen[nth], "request {nth} failed: {seen:?}");
        let attempt = |i: usize| -> u32 {
            got[i]
                .header("webhook-inbox-attempt")
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(attempt(nth), attempt(nth - 1) + 1, "{seen:?}");
    }

    let unordered = receiver.received("/unordered");
    assert_eq!(unordered.len(), events, "each once");
    let mut all: Vec<&str> = unordered
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    all.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(all, expected);

    // The API shows the setting, and each delivery's outcome.
    let client = a.client();
    let first = wait_for_delivery(&client, &ids[0], "ordered", Duration::from_secs(10), |d| {
        d["state"] == "delivered"
    });
    assert_eq!(first["ordered"], true, "{first}");
    assert_eq!(first["attempts"].as_array().unwrap().len(), 3, "{first}");
    let stats = client
        .get("/api/stats")
        .bearer(API_TOKEN)
        .send()
        .unwrap()
        .json();
    assert_eq!(stats["forwarding"]["ordered"]["ordered"], true, "{stats}");
    assert_eq!(
        stats["forwarding"]["ordered"]["delivered"], events,
        "{stats}"
    );
    assert_eq!(
        stats["forwarding"]["unordered"]["ordered"], false,
        "{stats}"
    );
}

/// An ordered destination allowed more than one send in flight is a contradiction, named by
/// readiness with the entry and the field.
#[test]
fn readiness_names_an_ordered_destination_with_more_than_one_in_flight() {
    let receiver = Receiver::ok();
    let list = json!([{"name": "line", "url": receiver.url("/line"),
        "secret": DESTINATION_SECRET, "ordered": true, "max_in_flight": 4}]);
    let app = start_or_skip!(
        "forwarding ordered readiness",
        configured()
            .variable("forward_destinations", &list.to_string())
            .component("forwarder", "/forwarder/healthz")
    );
    let response = app.client().get("/forwarder/readyz").send().unwrap();
    assert_eq!(response.status, 503, "{}", response.text());
    let text = response.text();
    assert!(text.contains("entry 1 (max_in_flight)"), "{text}");
    assert!(text.contains("one send at a time"), "{text}");
    assert!(!text.contains(DESTINATION_SECRET), "{text}");
}

#[test]
fn readiness_names_a_malformed_or_unreachable_destination_without_echoing_it() {
    let secret_like = "whsec_do-not-echo-me";
    let app = start_or_skip!(
        "forwarding readiness",
        configured()
            .variable(
                "forward_destinations",
                &format!("[{{\"secret\": \"{secret_like}\"")
            )
            .component("forwarder", "/forwarder/healthz")
    );
    let response = app.client().get("/forwarder/readyz").send().unwrap();
    assert_eq!(response.status, 503, "{}", response.text());
    let text = response.text();
    assert!(text.contains("forward_destinations"), "{text}");
    assert!(!text.contains(secret_like), "{text}");
    drop(app);

    let external = json!([{"name": "billing", "url": "https://billing.example.com/hooks",
        "secret": DESTINATION_SECRET}])
    .to_string();
    let app = start_or_skip!(
        "forwarding readiness",
        configured()
            .variable("forward_destinations", &external)
            .component("forwarder", "/forwarder/healthz")
            .component("health", "/healthz")
    );
    // The app's main /readyz (the health component, not granted the destinations) has nothing
    // to say until the forwarder's readiness has looked.
    let main = app.client().get("/readyz").send().unwrap();
    assert_eq!(
        main.json()["checks"].as_array().unwrap().len(),
        2,
        "{}",
        main.text()
    );
    let response = app.client().get("/forwarder/readyz").send().unwrap();
    assert_eq!(response.status, 503, "{}", response.text());
    let text = response.text();
    assert!(text.contains("billing"), "{text}");
    assert!(text.contains("forward_allowed_host_a"), "{text}");
    assert!(!text.contains("billing.example.com/hooks"), "{text}");
    // Then it says the forwarder refuses its configuration, and why, while staying ready
    // (ingestion works; events wait for forwarding to be fixed).
    let main = app.client().get("/readyz").send().unwrap();
    assert_eq!(main.status, 200, "{}", main.text());
    let forwarding = &main.json()["checks"][2];
    assert_eq!(forwarding["name"], "forwarding", "{}", main.text());
    assert_eq!(forwarding["status"], "warn");
    let warning = forwarding["error"].as_str().unwrap();
    assert!(
        warning.contains("billing") && warning.contains("forward_allowed_host_a"),
        "{warning}"
    );
    assert!(
        !warning.contains("billing.example.com/hooks") && !warning.contains(DESTINATION_SECRET)
    );
    drop(app);

    let app = start_or_skip!(
        "forwarding readiness",
        configured()
            .variable("forward_destinations", &external)
            .variable("forward_allowed_host_a", "https://billing.example.com")
            .component("forwarder", "/forwarder/healthz")
    );
    let response = app.client().get("/forwarder/readyz").send().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
}

/// Issue 25: `POST /api/events/{id}/dispatch` answered 202 for a stored id and 404 for any other
/// without a token (an oracle anyone could flood). Now a caller without the API token gets the
/// same 401 whatever is stored; the webhook component's ask (with the token) still sends at
/// once, and so does a caller with the token.
#[test]
fn an_events_dispatch_needs_the_api_token_whatever_is_stored() {
    let receiver = Receiver::ok();
    let app = start_or_skip!(
        "forwarding dispatch token",
        forwarding_to(&[("inbox", receiver.url("/hooks"))], "1s")
    );
    let client = app.client();
    let id = ingest(&client, "dispatch-token-1", "{}");
    // The webhook component asked with the token: sent without any tick.
    let got = receiver.wait_for("/hooks", 1, Duration::from_secs(15));
    assert_eq!(got.len(), 1, "the ask after the 202 carries the token");

    let stored = format!("/api/events/{id}/dispatch");
    let unstored = "/api/events/evt_00000000000000000000000000000000/dispatch";
    let mut details = Vec::new();
    for path in [stored.as_str(), unstored] {
        for authorization in [None, Some("Bearer not-the-token")] {
            let mut request = client.post(path);
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            let response = request.send().unwrap();
            let problem = response.assert_problem(401);
            assert!(
                response
                    .header("www-authenticate")
                    .is_some_and(|c| c.starts_with("Bearer")),
                "{problem}"
            );
            details.push(problem["detail"].clone());
        }
    }
    assert_eq!(details[..2], details[2..], "stored or not, the same answer");

    // With the token: 202 for the stored event (nothing more is due: still one send), 404 else.
    let ok = client.post(&stored).bearer(API_TOKEN).send().unwrap();
    assert_eq!(ok.status, 202, "{}", ok.text());
    client
        .post(unstored)
        .bearer(API_TOKEN)
        .send()
        .unwrap()
        .assert_problem(404);
    let replay = client
        .post(&format!("/api/events/{id}/replay"))
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(replay.status, 202, "{}", replay.text());
    // The api component's ask after the replay carries the token too: sent with no tick.
    let got = receiver.wait_for("/hooks", 2, Duration::from_secs(15));
    assert_eq!(attempt_numbers(&got), [1, 2]);
}

fn events_stored(client: &Client) -> u64 {
    let stats = client
        .get("/api/stats")
        .bearer(API_TOKEN)
        .send()
        .unwrap()
        .json();
    stats["total"]["total"].as_u64().unwrap()
}

/// Issue 25: a destination at the app's own `/webhooks/standard` with the same secret turned one
/// event into 119 in 8 s. The forwarder's readiness names it (never its URL), nothing is sent,
/// and one event stays one.
#[test]
fn a_destination_at_this_apps_own_webhook_route_is_refused_and_one_event_stays_one() {
    let port = e2e::free_port();
    let own = json!([{"name": "myself",
        "url": format!("http://127.0.0.1:{port}/webhooks/standard"),
        "secret": STANDARD_SECRET}])
    .to_string();
    let app = start_or_skip!(
        "forwarding to itself",
        configured()
            .variable("forward_destinations", &own)
            .variable("forward_retry_schedule", "1s")
            .port(port)
    );
    let client = app.client();
    let ready = client.get("/forwarder/readyz").send().unwrap();
    assert_eq!(ready.status, 503, "{}", ready.text());
    let text = ready.text();
    assert!(
        text.contains("destination myself") && text.contains("own webhook route"),
        "{text}"
    );
    assert!(!text.contains(&format!("127.0.0.1:{port}")), "{text}");

    ingest(&client, "self-loop-1", "{}");
    // Dispatch rounds refuse (503, naming the variable) instead of sending.
    for _ in 0..5 {
        let round = client
            .post("/api/dispatch")
            .bearer(API_TOKEN)
            .send()
            .unwrap();
        let problem = round.assert_problem(503);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("own webhook route"),
            "{problem}"
        );
    }
    assert_eq!(events_stored(&client), 1, "one event stays one");
}

/// Issue 25, the case no URL reveals: the destination reaches this app through something else
/// (here a relay on another port, as a proxy or a public host name would). The forwarded request
/// carries this installation's mark, the webhook component refuses it (508, not stored), the
/// forwarder makes it a dead letter at once, and one event stays one.
#[test]
fn a_destination_that_leads_back_to_this_app_is_refused_there_and_one_event_stays_one() {
    let port = e2e::free_port();
    let back_here = format!("http://127.0.0.1:{port}/webhooks/standard");
    let relay = Receiver::start(move |_, _| Reply::Relay(back_here.clone()));
    let destinations = json!([{"name": "loop", "url": relay.url("/relay"),
        "secret": STANDARD_SECRET}])
    .to_string();
    let app = start_or_skip!(
        "forwarding loop through a relay",
        configured()
            .variable("forward_destinations", &destinations)
            .variable("forward_retry_schedule", "1s,1s,1s")
            .port(port)
    );
    let client = app.client();
    let ready = client.get("/forwarder/readyz").send().unwrap();
    assert_eq!(
        ready.status,
        200,
        "nothing in the URL says so: {}",
        ready.text()
    );
    let id = ingest(&client, "relay-loop-1", "{}");

    let dead = wait_for_delivery(&client, &id, "loop", Duration::from_secs(30), |d| {
        d["state"] == "dead"
    });
    assert_eq!(dead["attempts"].as_array().unwrap().len(), 1, "{dead}");
    assert_eq!(dead["attempts"][0]["status_code"], 508, "{dead}");
    // Rounds of the tick find nothing more to send.
    let ticker = Ticker::start(client, API_TOKEN, TICK);
    ticker.wait_rounds(10, Duration::from_secs(30));
    drop(ticker);
    let relayed = relay.received("/relay");
    assert_eq!(relayed.len(), 1, "sent once, refused, never again");
    let mark = relayed[0].header("webhook-inbox-hops").unwrap();
    assert!(
        mark.len() == 16 && mark.bytes().all(|b| b.is_ascii_hexdigit()),
        "{mark}"
    );
    assert_eq!(events_stored(&client), 1, "one event stays one");
}

/// How many requests at `path` carried each `webhook-id` (the event id).
fn by_webhook_id(receiver: &Receiver, path: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for request in receiver.received(path) {
        *counts
            .entry(request.header("webhook-id").unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

/// One call of `POST /api/dead-letters/replay`.
fn bulk_replay(client: &Client, body: &Value) -> Value {
    let response = client
        .post("/api/dead-letters/replay")
        .bearer(API_TOKEN)
        .json(body)
        .send()
        .unwrap();
    assert_eq!(response.status, 200, "{body}: {}", response.text());
    response.json()
}

fn replayed_ids(answer: &Value) -> Vec<String> {
    answer["replayed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn bulk_replay_after_an_outage_delivers_each_dead_letter_once_in_resumed_batches() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // `flaky` is gone (410: a dead letter at once) until it recovers; `steady` always takes.
    let up = Arc::new(AtomicBool::new(false));
    let receiver = {
        let up = Arc::clone(&up);
        Receiver::start(move |path, _| match path {
            "/flaky" if !up.load(Ordering::SeqCst) => Reply::Status(410),
            _ => Reply::Status(200),
        })
    };
    let app = start_or_skip!(
        "forwarding bulk replay",
        forwarding_to(
            &[
                ("flaky", receiver.url("/flaky")),
                ("steady", receiver.url("/steady"))
            ],
            "30s"
        )
    );
    let client = app.client();
    let dead_at_flaky = |delivery: &str, kind: &str| {
        let response = signing::github(&client, delivery, kind, "{}")
            .send()
            .unwrap();
        assert_eq!(response.status, 202, "{}", response.text());
        let id = response.json()["id"].as_str().unwrap().to_owned();
        let dead = wait_for_delivery(&client, &id, "flaky", Duration::from_secs(15), |d| {
            d["state"] == "dead"
        });
        (id, dead)
    };
    // The outage: four dead letters, then (later) two more.
    let early: Vec<String> = [
        ("p1", "push"),
        ("p2", "push"),
        ("p3", "push"),
        ("i1", "issues"),
    ]
    .iter()
    .map(|(delivery, kind)| dead_at_flaky(delivery, kind).0)
    .collect();
    let (p4, dead) = dead_at_flaky("p4", "push");
    // Every dead letter of p4 and later died at or after this; every earlier one before.
    let later_from = dead["attempts"][0]["at"].as_str().unwrap().to_owned();
    let (i2, _) = dead_at_flaky("i2", "issues");
    for id in early.iter().chain([&p4, &i2]) {
        wait_for_delivery(&client, id, "steady", Duration::from_secs(15), |d| {
            d["state"] == "delivered"
        });
    }
    up.store(true, Ordering::SeqCst);
    // Delivered at the first attempt after the recovery: never part of a bulk replay.
    let (p5, _) = {
        let response = signing::github(&client, "p5", "push", "{}").send().unwrap();
        assert_eq!(response.status, 202, "{}", response.text());
        let id = response.json()["id"].as_str().unwrap().to_owned();
        let done = wait_for_delivery(&client, &id, "flaky", Duration::from_secs(15), |d| {
            d["state"] == "delivered"
        });
        (id, done)
    };

    // A time range and a filter select only what they say: the later issues event.
    let answer = bulk_replay(
        &client,
        &json!({"destination": "flaky", "since": later_from, "filter": ["github:issues"]}),
    );
    assert_eq!(replayed_ids(&answer), [i2.as_str()], "{answer}");
    assert_eq!(answer["next_cursor"], Value::Null, "{answer}");

    // The earlier pushes, one per call, resumed from each answer's cursor. The second answer is
    // lost, as to a client that crashed: it calls again with the same cursor, which goes on
    // past what the lost call queued without queuing it again.
    let selection =
        json!({"destination": "flaky", "until": later_from, "filter": ["push"], "limit": 1});
    let mut replayed = Vec::new();
    let mut cursor = Value::Null;
    for call in 1..=20 {
        let mut body = selection.clone();
        if !cursor.is_null() {
            body["cursor"] = cursor.clone();
        }
        let mut answer = bulk_replay(&client, &body);
        assert!(
            replayed_ids(&answer).len() <= 1,
            "the limit holds: {answer}"
        );
        if call == 2 {
            let lost = replayed_ids(&answer);
            assert_eq!(lost.len(), 1, "{answer}");
            replayed.extend(lost.clone());
            answer = bulk_replay(&client, &body);
            assert!(!replayed_ids(&answer).contains(&lost[0]), "{answer}");
            assert_eq!(answer["skipped"]["no_longer_dead"], 1, "{answer}");
        }
        replayed.extend(replayed_ids(&answer));
        cursor = answer["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert!(cursor.is_null(), "the pass ends");
    replayed.sort();
    let mut pushes = early[..3].to_vec();
    pushes.sort();
    assert_eq!(replayed, pushes, "each once");

    // The rest of every destination's, two per call: only i1 and p4 are still dead.
    let mut rest = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..20 {
        let mut body = json!({"limit": 2});
        if !cursor.is_null() {
            body["cursor"] = cursor.clone();
        }
        let answer = bulk_replay(&client, &body);
        rest.extend(replayed_ids(&answer));
        cursor = answer["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    rest.sort();
    let mut want = vec![early[3].clone(), p4.clone()];
    want.sort();
    assert_eq!(rest, want);

    // Each dead letter lands exactly once (the replays are sent at once, no tick needed); ticks
    // then find nothing more to send.
    let every: Vec<&String> = early.iter().chain([&p4, &i2]).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while by_webhook_id(&receiver, "/flaky").values().sum::<usize>() < every.len() * 2 + 1 {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            by_webhook_id(&receiver, "/flaky")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let ticker = Ticker::start(app.client(), API_TOKEN, TICK);
    ticker.wait_rounds(10, Duration::from_secs(30));
    drop(ticker);
    let flaky = by_webhook_id(&receiver, "/flaky");
    for id in &every {
        assert_eq!(
            flaky.get(*id),
            Some(&2),
            "the 410, then one replay: {flaky:?}"
        );
    }
    assert_eq!(flaky.get(&p5), Some(&1), "delivered: never re-sent");
    let steady = by_webhook_id(&receiver, "/steady");
    assert_eq!(steady.len(), 7, "{steady:?}");
    assert!(
        steady.values().all(|n| *n == 1),
        "delivered: never re-sent: {steady:?}"
    );
    for id in &every {
        wait_for_delivery(&client, id, "flaky", Duration::from_secs(10), |d| {
            d["state"] == "delivered" && d["replays"] == 1
        });
    }
    let letters = client
        .get("/api/dead-letters")
        .bearer(API_TOKEN)
        .send()
        .unwrap()
        .json();
    assert_eq!(letters["items"], json!([]), "{letters}");
    assert_verified(&receiver.all());
}
