//! The forwarder's routes against the in-memory store and a scripted sender.

use std::sync::Mutex;

use super::*;
use inbox_core::clock::ManualClock;
use inbox_core::config::StaticVariables;
use inbox_core::events::{Ingested, NewEvent, Provider, StoredEvent};
use inbox_core::forwarding::{Answer, Destination};
use inbox_core::http::testing::{self, assert_problem, body_json, call, header_of, request};
use inbox_core::http::Method;
use inbox_core::kv::MemoryKv;
use inbox_core::logging::CapturedLogs;

const NOW: i64 = 1_800_000_000;
const TOKEN: &str = "forwarder-test-token";
const KEY: &str = "whsec_Zm9yd2FyZGluZy10ZXN0LWtleQ==";

#[derive(Default)]
struct Scripted {
    answers: Mutex<Vec<Answer>>,
    sent: Mutex<Vec<(String, u32)>>,
    timeouts: Mutex<Vec<std::time::Duration>>,
}

impl Sender for Scripted {
    fn send(
        &self,
        destination: &Destination,
        event: &StoredEvent,
        attempt: u32,
        _hops: &str,
        timeout: std::time::Duration,
    ) -> Answer {
        self.timeouts.lock().unwrap().push(timeout);
        self.sent
            .lock()
            .unwrap()
            .push((format!("{}:{}", destination.name, event.meta.id), attempt));
        let mut answers = self.answers.lock().unwrap();
        if answers.len() > 1 {
            answers.remove(0)
        } else {
            answers.first().cloned().unwrap_or(Answer::Status {
                code: 200,
                retry_after: None,
            })
        }
    }
}

fn destinations() -> String {
    format!(
        r#"[{{"name":"sink","url":"http://127.0.0.1:9/in","secret":"{KEY}"}},
            {{"name":"billing","url":"https://billing.example.com/in","secret":"{KEY}","filter":"stripe:*"}}]"#
    )
}

fn vars() -> StaticVariables {
    StaticVariables::from_pairs([
        (names::LOG_LEVEL, "info"),
        (names::API_TOKEN, TOKEN),
        (names::FORWARD_DISPATCH_TOKEN, "dispatch-token"),
        ("forward_destinations", destinations().as_str()),
        ("forward_retry_schedule", "5s,5m"),
        ("forward_allowed_host_a", "https://billing.example.com"),
        ("forward_allowed_host_b", "https://unset.invalid"),
        ("forward_allowed_host_c", "https://unset.invalid"),
        ("forward_allowed_host_d", "https://unset.invalid"),
        (names::RETENTION_PROCESSED_DAYS, "30"),
        (names::RETENTION_PENDING_DAYS, "90"),
        (names::RETENTION_MAX_EVENTS, "100000"),
        (names::RETENTION_DEDUP_DAYS, "3"),
    ])
}

fn forwarder<'a>(
    kv: &'a MemoryKv,
    vars: StaticVariables,
    sender: &'a Scripted,
) -> Forwarder<&'a MemoryKv, StaticVariables, ManualClock, &'a Scripted> {
    Forwarder::new(kv, vars, ManualClock::at_unix(NOW), sender)
}

fn ingest(kv: &MemoryKv, provider: Provider, delivery: &str) -> EventId {
    let event = NewEvent::example(provider, delivery, "thing");
    match EventStore::new(kv, ManualClock::at_unix(NOW))
        .ingest(event)
        .unwrap()
    {
        Ingested::Accepted(meta) => meta.id,
        other => panic!("{other:?}"),
    }
}

fn authed(method: Method, path: &str, body: &[u8], content_type: Option<&str>) -> Request {
    testing::authed(method, path, TOKEN, body, content_type)
}

#[test]
fn every_route_template_is_well_formed_and_only_forwarding_routes_are_served() {
    let (kv, sender) = (MemoryKv::new(), Scripted::default());
    let service = forwarder(&kv, vars(), &sender);
    let templates: Vec<_> = service.router.templates().collect();
    for template in &templates {
        assert_eq!(inbox_core::http::template_error(template), None);
    }
    for op in Operation::ALL {
        let served = templates.contains(&op.route());
        assert_eq!(served, op.server() == Server::Forwarder, "{}", op.id());
    }
}

#[test]
fn a_dispatch_delivers_to_matching_destinations_and_reports_it() {
    let (kv, sender) = (MemoryKv::new(), Scripted::default());
    ingest(&kv, Provider::Github, "gh-1");
    ingest(&kv, Provider::Stripe, "evt_1");
    let service = forwarder(&kv, vars(), &sender);
    let response = call(&service, request(Method::POST, "/api/dispatch", &[], b""));
    assert_problem(&response, 401, "unauthorized");
    let response = call(&service, authed(Method::POST, "/api/dispatch", b"", None));
    assert_eq!(response.status(), StatusCode::OK);
    let report = body_json(&response);
    assert_eq!(report["sent"], 3, "{report}");
    assert_eq!(report["delivered"], 3);
    assert_eq!(report["still_due"], 0);
    assert_eq!(sender.sent.lock().unwrap().len(), 3);
    // Each send's deadline is the one the dispatcher's leases allow for.
    assert_eq!(
        *sender.timeouts.lock().unwrap(),
        [Tuning::default().send_timeout; 3]
    );
}

#[test]
fn ticks_log_only_what_they_send_and_refusals() {
    let (kv, sender) = (MemoryKv::new(), Scripted::default());
    let service = forwarder(&kv, vars(), &sender);
    let tick = || call(&service, authed(Method::POST, "/api/dispatch", b"", None));
    let (idle, logs) = CapturedLogs::capture(tick);
    assert_eq!(idle.status(), StatusCode::OK);
    assert!(logs.lines().is_empty(), "{}", logs.text());

    ingest(&kv, Provider::Github, "gh-logged");
    let (busy, logs) = CapturedLogs::capture(tick);
    assert_eq!(busy.status(), StatusCode::OK);
    let lines = logs.lines();
    assert_eq!(lines.len(), 1, "{}", logs.text());
    assert_eq!(lines[0]["message"], "forward");
    assert_eq!(lines[0]["destination"], "sink");

    let (refused, logs) =
        CapturedLogs::capture(|| call(&service, request(Method::POST, "/api/dispatch", &[], b"")));
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(logs.lines().len(), 1, "a refused tick is logged");
}

#[test]
fn an_events_first_attempts_follow_a_202_to_a_caller_with_the_token() {
    let (kv, sender) = (MemoryKv::new(), Scripted::default());
    let id = ingest(&kv, Provider::Github, "gh-now");
    let service = forwarder(&kv, vars(), &sender);
    let response = call(
        &service,
        authed(
            Method::POST,
            &format!("/api/events/{id}/dispatch"),
            b"",
            None,
        ),
    );
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        sender.sent.lock().unwrap().as_slice(),
        [(format!("sink:{id}"), 1)]
    );
    let unknown = call(
        &service,
        authed(
            Method::POST,
            "/api/events/evt_00000000000000000000000000000000/dispatch",
            b"",
            None,
        ),
    );
    assert_problem(&unknown, 404, "not-found");
}

/// Issue 25: without a token it answered 202 for a stored id and 404 for any other (an oracle),
/// and each call read the store. Now every caller without the token gets the same 401, and
/// costs no store operation and no send.
#[test]
fn an_events_dispatch_without_the_token_is_401_whatever_is_stored_and_reads_nothing() {
    let (kv, sender) = (MemoryKv::new(), Scripted::default());
    let id = ingest(&kv, Provider::Github, "gh-oracle");
    let counting = inbox_core::kv::testing::CountingKv::new(&kv);
    let service = Forwarder::new(&counting, vars(), ManualClock::at_unix(NOW), &sender);
    let stored = format!("/api/events/{id}/dispatch");
    let unstored = "/api/events/evt_00000000000000000000000000000000/dispatch";
    let mut answers = Vec::new();
    for path in [stored.as_str(), unstored] {
        for headers in [
            &[][..],
            &[("authorization", "Bearer not-the-token")][..],
            &[("authorization", "Basic Zm9vOmJhcg==")][..],
        ] {
            let response = call(&service, request(Method::POST, path, headers, b""));
            let problem = assert_problem(&response, 401, "unauthorized");
            assert!(header_of(&response, "www-authenticate").is_some());
            answers.push((headers.len(), problem["detail"].clone()));
        }
    }
    // The stored and the unstored id are answered alike.
    assert_eq!(answers[..3], answers[3..]);
    assert_eq!(counting.take(), [], "an unauthenticated call reads nothing");
    assert!(sender.sent.lock().unwrap().is_empty(), "and sends nothing");
}

#[test]
fn readiness_names_a_destination_the_manifest_does_not_allow() {
    let (kv, sender) = (MemoryKv::new(), Scripted::default());
    let ready = call(
        &forwarder(&kv, vars(), &sender),
        request(Method::GET, "/forwarder/readyz", &[], b""),
    );
    assert_eq!(ready.status(), StatusCode::OK, "{}", body_json(&ready));
    let mut refused = vars();
    refused.set("forward_allowed_host_a", "https://unset.invalid");
    let response = call(
        &forwarder(&kv, refused, &sender),
        request(Method::GET, "/forwarder/readyz", &[], b""),
    );
    let problem = assert_problem(&response, 503, "not-ready");
    let text = problem.to_string();
    assert!(text.contains("destination billing"), "{text}");
    assert!(
        !text.contains("billing.example.com"),
        "no URL in it: {text}"
    );
    assert!(!text.contains("Zm9y"), "no secret in it: {text}");
    // Recorded for the app's main /readyz (the health component cannot read the destinations).
    let recorded = status::load(&kv).unwrap().unwrap();
    let reason = recorded.refused.expect("refused");
    assert!(reason.contains("destination billing"), "{reason}");
    assert!(!reason.contains("billing.example.com") && !reason.contains("Zm9y"));
    // A malformed list is named, never echoed.
    let mut malformed = vars();
    malformed.set(
        "forward_destinations",
        r#"[{"name":"x","url":"https://x","secret":"s3cret"}]"#,
    );
    let response = call(
        &forwarder(&kv, malformed, &sender),
        request(Method::GET, "/forwarder/readyz", &[], b""),
    );
    let text = assert_problem(&response, 503, "not-ready").to_string();
    assert!(
        text.contains("forward_destinations") && !text.contains("s3cret"),
        "{text}"
    );
    // The response carries the usual headers.
    assert_eq!(header_of(&response, "cache-control"), Some("no-store"));
    assert!(!kv
        .get(status::KEY)
        .unwrap()
        .unwrap()
        .windows(6)
        .any(|w| w == b"s3cret"));
    // Fixed: recorded as taken again.
    let ready = call(
        &forwarder(&kv, vars(), &sender),
        request(Method::GET, "/forwarder/readyz", &[], b""),
    );
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(status::load(&kv).unwrap().unwrap().refused, None);
}

/// A rotation's secret list: two secrets are ready; a list readiness refuses (or a throttle limit
/// out of range) is named with the variable, the entry and what is wrong, never a secret.
#[test]
fn readiness_names_a_malformed_secret_list_or_limit_without_echoing_a_secret() {
    let (kv, sender) = (MemoryKv::new(), Scripted::default());
    let with_secret = |secret: &str| {
        let mut vars = vars();
        vars.set(
            "forward_destinations",
            &format!(r#"[{{"name":"sink","url":"http://127.0.0.1:9/in","secret":{secret}}}]"#),
        );
        vars
    };
    let other = "whsec_b3RoZXIta2V5LWZvci1yb3RhdGlvbg==";
    let rotating = with_secret(&format!(r#"["{other}","{KEY}"]"#));
    let ready = call(
        &forwarder(&kv, rotating, &sender),
        request(Method::GET, "/forwarder/readyz", &[], b""),
    );
    assert_eq!(ready.status(), StatusCode::OK, "{}", body_json(&ready));
    for (secret, says) in [
        (
            format!(r#""{KEY}","max_per_second":0"#),
            "entry 1 (max_per_second)",
        ),
        (
            format!(r#""{KEY}","max_in_flight":101"#),
            "entry 1 (max_in_flight)",
        ),
        (
            format!(r#""{KEY}","ordered":true,"max_in_flight":2"#),
            "entry 1 (max_in_flight): an ordered destination gets one send at a time",
        ),
        (
            format!(r#""{KEY}","ordered":"yes""#),
            "not a JSON array of {name, url, secret, filter, plain_http, max_per_second, \
             max_in_flight, ordered, disable_after_failures, disable_after_seconds} objects",
        ),
        (
            format!(r#""{KEY}","disable_after_failures":0"#),
            "entry 1 (disable_after_failures): 0 is not from 1 to 100000",
        ),
        (
            format!(r#""{KEY}","disable_after_seconds":2592001"#),
            "entry 1 (disable_after_seconds)",
        ),
        ("[]".to_owned(), "entry 1 (secret): an empty list"),
        (format!(r#"["{KEY}","{KEY}"]"#), "same key"),
        (
            format!(r#"["{KEY}","{other}","whsec_YQ==","whsec_Yg=="]"#),
            "at most 3",
        ),
        (
            format!(r#"["{KEY}","Zm9yd2FyZA=="]"#),
            "secret 2 of the list",
        ),
    ] {
        let response = call(
            &forwarder(&kv, with_secret(&secret), &sender),
            request(Method::GET, "/forwarder/readyz", &[], b""),
        );
        let text = assert_problem(&response, 503, "not-ready").to_string();
        assert!(text.contains("forward_destinations"), "{text}");
        assert!(text.contains(says), "{says}: {text}");
        assert!(!text.contains("Zm9y") && !text.contains("b3Ro"), "{text}");
    }
}

/// Issue 25: a destination at this app's own webhook route turned one event into 119 in 8 s.
/// Readiness names it (never its URL or secret), and nothing is sent while it is configured.
#[test]
fn readiness_names_a_destination_that_is_this_apps_own_webhook_route() {
    let (kv, sender) = (MemoryKv::new(), Scripted::default());
    let id = ingest(&kv, Provider::Github, "gh-self");
    let mut own = vars();
    own.set(
        "forward_destinations",
        &format!(
            r#"[{{"name":"myself","url":"http://127.0.0.1:3000/webhooks/standard","secret":"{KEY}"}}]"#
        ),
    );
    let service = forwarder(&kv, own, &sender);
    let response = call(
        &service,
        request(Method::GET, "/forwarder/readyz", &[], b""),
    );
    let text = assert_problem(&response, 503, "not-ready").to_string();
    assert!(
        text.contains("destination myself") && text.contains("own webhook route"),
        "{text}"
    );
    assert!(!text.contains("127.0.0.1:3000"), "no URL in it: {text}");
    assert!(!text.contains("Zm9y"), "no secret in it: {text}");
    let tick = call(&service, authed(Method::POST, "/api/dispatch", b"", None));
    assert_problem(&tick, 503, "misconfigured");
    let ask = call(
        &service,
        authed(
            Method::POST,
            &format!("/api/events/{id}/dispatch"),
            b"",
            None,
        ),
    );
    assert_problem(&ask, 503, "misconfigured");
    assert!(sender.sent.lock().unwrap().is_empty());
}

#[test]
fn without_destinations_a_dispatch_does_nothing_but_retention() {
    let (kv, sender) = (MemoryKv::new(), Scripted::default());
    ingest(&kv, Provider::Github, "gh-quiet");
    let mut v = vars();
    v.set("forward_destinations", "");
    let response = call(
        &forwarder(&kv, v, &sender),
        authed(Method::POST, "/api/dispatch", b"", None),
    );
    assert_eq!(body_json(&response)["sent"], 0);
    assert!(sender.sent.lock().unwrap().is_empty());
}
