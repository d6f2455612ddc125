//! Circuit breaking against the real `spin up`: two replicas on one Redis store share a
//! destination's failure count; once disabled it is sent nothing and its deliveries stay due
//! (not dead-lettered) past the point the retry schedule would have killed them; the API, the
//! metrics and the stats show it; re-enabled through the API it drains every delivery once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;

fn stats(client: &Client) -> Value {
    let response = client.get("/api/stats").bearer(API_TOKEN).send().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

#[test]
fn a_destination_disabled_for_failing_keeps_its_deliveries_and_drains_them_once_re_enabled() {
    let Some(redis) = RedisServer::start("forwarding circuit") else {
        return;
    };
    let healthy = Arc::new(AtomicBool::new(false));
    let answers = Arc::clone(&healthy);
    let receiver = Receiver::start(move |path, _| match path {
        "/flaky" if !answers.load(Ordering::SeqCst) => Reply::Status(500),
        _ => Reply::Status(200),
    });
    let list = json!([
        {"name": "flaky", "url": receiver.url("/flaky"), "secret": DESTINATION_SECRET,
         "disable_after_failures": 3},
        {"name": "steady", "url": receiver.url("/steady"), "secret": DESTINATION_SECRET},
    ]);
    // Without the circuit, five attempts a second apart would make every delivery to `flaky` a
    // dead letter within about 4 s.
    let options = configured()
        .variable("forward_destinations", &list.to_string())
        .variable("forward_retry_schedule", "1s,1s,1s,1s")
        // Only the ticks dispatch: the replicas race for every attempt.
        .variable("forward_dispatch_url", "")
        .runtime_config(&redis.runtime_config());
    let a = start_or_skip!("forwarding circuit", options.clone());
    let b = start_or_skip!("forwarding circuit", options);
    let mut ids: Vec<String> = (0..6)
        .map(|n| ingest(&a.client(), &format!("circuit-{n}"), "{}"))
        .collect();
    let tickers: Vec<Ticker> = [&a, &b]
        .into_iter()
        .map(|app: &SpinApp| Ticker::start(app.client(), API_TOKEN, Duration::from_millis(50)))
        .collect();

    // Disabled after three failed attempts, whichever replica made them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let disabled = loop {
        let now = stats(&b.client());
        if let Some(disabled) = now["forwarding"]["flaky"].get("disabled") {
            break disabled.clone();
        }
        assert!(Instant::now() < deadline, "never disabled: {now}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        disabled["reason"]
            .as_str()
            .unwrap()
            .ends_with("failed attempts in a row"),
        "{disabled}"
    );
    // A send already under way when it was disabled finishes within its round.
    for ticker in &tickers {
        ticker.wait_rounds(2, Duration::from_secs(20));
    }
    let failed = receiver.received("/flaky").len();
    assert!(
        (3..=4).contains(&failed),
        "{failed} attempts before it was disabled"
    );

    // Disabled: events keep coming, nothing is sent to it, nothing dies, for longer than the
    // retry schedule would have taken; the healthy destination is not affected.
    ids.extend((6..10).map(|n| ingest(&a.client(), &format!("circuit-{n}"), "{}")));
    let window = Instant::now() + Duration::from_secs(6);
    while Instant::now() < window {
        assert_eq!(
            receiver.received("/flaky").len(),
            failed,
            "sent while disabled"
        );
        let now = stats(&a.client());
        assert_eq!(now["forwarding"]["flaky"]["dead"], 0, "{now}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every delivery waits parked: the retries of those that failed (due after 1 s), the first
    // attempts of the others. Two replicas' rounds may both park one at the same moment (it is
    // then counted twice and sent once).
    let waiting = stats(&a.client())["forwarding"]["flaky"]["disabled"]["waiting"].clone();
    let events = ids.len() as u64;
    assert!(
        (events..=2 * events).contains(&waiting.as_u64().unwrap()),
        "{waiting}"
    );
    receiver.wait_for("/steady", ids.len(), Duration::from_secs(20));
    let metrics = a
        .client()
        .get("/api/metrics")
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert!(
        metrics
            .text()
            .contains("webhook_inbox_forward_destination_disabled{destination=\"flaky\"} 1\n"),
        "{}",
        metrics.text()
    );
    let settings = &stats(&a.client())["forwarding"]["flaky"]["settings"];
    assert_eq!(settings["disable_after_failures"], 3, "{settings}");

    // Fixed, then re-enabled on the other replica: each of the ten arrives once.
    healthy.store(true, Ordering::SeqCst);
    let enabled = b
        .client()
        .post("/api/destinations/flaky/enable")
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(enabled.status, 200, "{}", enabled.text());
    assert_eq!(enabled.json()["was_disabled"]["reason"], disabled["reason"]);
    receiver.wait_for("/flaky", failed + ids.len(), Duration::from_secs(30));
    for ticker in &tickers {
        ticker.wait_rounds(2, Duration::from_secs(20));
    }
    drop(tickers);
    let after: Vec<String> = receiver.received("/flaky")[failed..]
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    let mut got = after.clone();
    got.sort();
    assert_eq!(got, expected, "each event once after the re-enable");
    assert_verified(&receiver.all());
    assert_eq!(receiver.received("/steady").len(), ids.len(), "each once");
    let now = stats(&a.client());
    let flaky = &now["forwarding"]["flaky"];
    assert!(flaky.get("disabled").is_none(), "{now}");
    assert_eq!(
        (&flaky["delivered"], &flaky["dead"]),
        (&json!(10), &json!(0)),
        "{now}"
    );
    // Re-enabling again changes nothing, and says so; an unknown name is a 404 problem.
    let again = a
        .client()
        .post("/api/destinations/flaky/enable")
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(again.json()["was_disabled"], Value::Null);
    let unknown = a
        .client()
        .post("/api/destinations/nowhere/enable")
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(unknown.status, 404, "{}", unknown.text());
}
