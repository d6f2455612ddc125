//! The webhook service against the in-memory store: every answer of the table in the module
//! docs, and what is logged.

use super::*;
use inbox_core::clock::ManualClock;
use inbox_core::config::StaticVariables;
use inbox_core::events::ListFilter;
use inbox_core::http::testing::{assert_problem, body_json, call, header_of, request};
use inbox_core::kv::testing::{FaultyKv, Op};
use inbox_core::kv::MemoryKv;
use inbox_core::logging::CapturedLogs;
use proptest::prelude::*;
use webhook_verify::{github, linear, shopify, slack, standard, stripe};

const NOW: i64 = 1_800_000_000;
const GITHUB_SECRET: &str = "gh-test-secret";
const STRIPE_SECRET: &str = "whsec_stripe_test_secret";
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SHOPIFY_SECRET: &str = "shopify-test-client-secret";
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const LINEAR_SECRET: &str = "lin_wh_test_signing_secret";

/// Every variable spin.toml gives the component: the six providers below configured, the others
/// declared and empty.
fn vars() -> StaticVariables {
    let configured = [
        ("webhook_github_secret", GITHUB_SECRET),
        ("webhook_stripe_secret", STRIPE_SECRET),
        ("webhook_standard_secret", STANDARD_SECRET),
        ("webhook_shopify_secret", SHOPIFY_SECRET),
        ("webhook_slack_secret", SLACK_SECRET),
        ("webhook_linear_secret", LINEAR_SECRET),
        (names::RETENTION_PROCESSED_DAYS, "30"),
        (names::RETENTION_PENDING_DAYS, "90"),
        (names::RETENTION_MAX_EVENTS, "100000"),
        (names::RETENTION_DEDUP_DAYS, "3"),
        (names::FORWARD_DISPATCH_URL, "http://self"),
        (names::WEBHOOK_MAX_BODY_BYTES, "1024"),
        (names::WEBHOOK_TIMESTAMP_TOLERANCE_SECS, "300"),
        (
            names::FORWARD_DISPATCH_TOKEN,
            "webhook-test-token other-token",
        ),
        (sources::CONFIG_VARIABLE, ""),
    ];
    let unset = Provider::ALL
        .iter()
        .map(|provider| (provider.secret_variable(), ""))
        .filter(|(name, _)| !configured.iter().any(|(set, _)| set == name));
    StaticVariables::from_pairs(configured.into_iter().chain(unset))
}

/// Records what the forwarder was asked; answers `status` (or fails when it is 0).
#[derive(Debug, Default)]
struct Recorded {
    asked: std::sync::Mutex<Vec<(Option<String>, String)>>,
    tokens: std::sync::Mutex<Vec<String>>,
    status: u16,
}

impl Poke for &Recorded {
    fn post(&self, url: &DispatchUrl, path: &str, authorization: &str) -> Result<u16, String> {
        self.tokens.lock().unwrap().push(authorization.to_owned());
        self.asked
            .lock()
            .unwrap()
            .push((url.authority.clone(), path.to_owned()));
        match self.status {
            0 => Err("connection refused".into()),
            status => Ok(status),
        }
    }
}

static ACCEPTING: Recorded = Recorded {
    asked: std::sync::Mutex::new(Vec::new()),
    tokens: std::sync::Mutex::new(Vec::new()),
    status: 202,
};

fn service<K: KeyValue>(
    kv: K,
    vars: StaticVariables,
) -> Webhooks<K, StaticVariables, ManualClock, &'static Recorded> {
    Webhooks::new(kv, vars, ManualClock::at_unix(NOW), &ACCEPTING)
}

fn github_request(delivery: &str, body: &str) -> Request {
    let signature = github::sign(GITHUB_SECRET.as_bytes(), body.as_bytes());
    request(
        Method::POST,
        "/webhooks/github",
        &[
            ("content-type", "application/json"),
            ("x-github-delivery", delivery),
            ("x-github-event", "push"),
            ("x-hub-signature-256", &signature),
        ],
        body.as_bytes(),
    )
}

fn stripe_request(body: &str, timestamp: i64) -> Request {
    let signature = stripe::sign(STRIPE_SECRET.as_bytes(), timestamp, body.as_bytes());
    request(
        Method::POST,
        "/webhooks/stripe",
        &[
            ("content-type", "application/json"),
            ("stripe-signature", &signature),
        ],
        body.as_bytes(),
    )
}

fn standard_request(id: &str, body: &str, timestamp: i64) -> Request {
    let key = standard::Key::parse(STANDARD_SECRET).unwrap();
    let signature = standard::sign(&key, id, timestamp, body.as_bytes());
    request(
        Method::POST,
        "/webhooks/standard",
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("webhook-id", id),
            ("webhook-timestamp", &timestamp.to_string()),
            ("webhook-signature", &signature),
        ],
        body.as_bytes(),
    )
}

fn shopify_request(id: &str, topic: &str, body: &str) -> Request {
    let signature = shopify::sign(SHOPIFY_SECRET.as_bytes(), body.as_bytes());
    request(
        Method::POST,
        "/webhooks/shopify",
        &[
            ("content-type", "application/json"),
            ("x-shopify-webhook-id", id),
            ("x-shopify-topic", topic),
            ("x-shopify-shop-domain", "example.myshopify.com"),
            ("x-shopify-hmac-sha256", &signature),
        ],
        body.as_bytes(),
    )
}

fn slack_request(body: &str, timestamp: i64, retry: Option<&str>) -> Request {
    let signature = slack::sign(SLACK_SECRET.as_bytes(), timestamp, body.as_bytes());
    let timestamp = timestamp.to_string();
    let mut headers = vec![
        ("content-type", "application/json"),
        ("x-slack-request-timestamp", timestamp.as_str()),
        ("x-slack-signature", signature.as_str()),
    ];
    if let Some(retry) = retry {
        headers.push(("x-slack-retry-num", retry));
    }
    request(Method::POST, "/webhooks/slack", &headers, body.as_bytes())
}

fn linear_request(delivery: &str, event: &str, body: &str) -> Request {
    let signature = linear::sign(LINEAR_SECRET.as_bytes(), body.as_bytes());
    request(
        Method::POST,
        "/webhooks/linear",
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("linear-delivery", delivery),
            ("linear-event", event),
            ("linear-signature", &signature),
        ],
        body.as_bytes(),
    )
}

fn linear_body(action: &str, at_ms: i64) -> String {
    format!(
        r#"{{"action":"{action}","type":"Issue","data":{{"id":"i1"}},"webhookTimestamp":{at_ms}}}"#
    )
}

fn slack_event(event_id: &str, kind: &str) -> String {
    format!(
        r#"{{"token":"x","team_id":"T1","type":"event_callback","event_id":"{event_id}","event_time":1,"event":{{"type":"{kind}","text":"hi"}}}}"#
    )
}

#[test]
fn every_route_template_is_well_formed() {
    let kv = MemoryKv::new();
    let component = service(&kv, vars());
    let templates: Vec<_> = component.router.templates().collect();
    assert!(!templates.is_empty());
    for template in templates {
        assert_eq!(inbox_core::http::template_error(template), None);
    }
}

#[test]
fn each_provider_is_accepted_once_then_reported_duplicate() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let requests = [
        github_request("d-1", r#"{"ref":"refs/heads/main"}"#),
        stripe_request(r#"{"id":"evt_1","type":"invoice.paid"}"#, NOW - 10),
        standard_request("msg_1", r#"{"type":"user.created","data":{}}"#, NOW + 10),
        shopify_request(
            "b54557e4-1",
            "orders/create",
            r#"{"id":820982911946154508}"#,
        ),
        slack_request(&slack_event("Ev01", "app_mention"), NOW - 5, None),
        linear_request("lin-1", "Issue", &linear_body("create", NOW * 1000 - 2_000)),
    ];
    for req in requests {
        let first = call(&svc, req.clone());
        assert_eq!(
            first.status(),
            StatusCode::ACCEPTED,
            "{}",
            String::from_utf8_lossy(first.body())
        );
        let receipt = body_json(&first);
        assert_eq!(receipt["duplicate"], false);
        let id = receipt["id"].as_str().unwrap().to_owned();
        assert_eq!(
            header_of(&first, "location"),
            Some(format!("/api/events/{id}").as_str())
        );

        let again = call(&svc, req);
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(
            body_json(&again),
            serde_json::json!({"id": id, "duplicate": true})
        );
    }
    let store = EventStore::new(&kv, ManualClock::at_unix(NOW));
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    assert_eq!(page.items.len(), 6);
    let types: Vec<_> = page
        .items
        .iter()
        .map(|m| {
            m.event_type
                .as_ref()
                .map(|t| t.as_str())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        types,
        [
            "Issue",
            "app_mention",
            "orders/create",
            "user.created",
            "invoice.paid",
            "push"
        ]
    );
}

#[test]
fn stored_events_keep_raw_body_json_and_signature_headers() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let body = r#"{"id":"evt_9",  "type":"charge.refunded","amount":1.10}"#;
    let response = call(&svc, stripe_request(body, NOW));
    let id = EventId::parse(body_json(&response)["id"].as_str().unwrap()).unwrap();
    let stored = EventStore::new(&kv, ManualClock::at_unix(NOW))
        .get(&id)
        .unwrap()
        .unwrap();
    assert_eq!(stored.body.raw_body, body);
    assert_eq!(stored.body.json.get(), body);
    assert!(stored.body.headers["stripe-signature"].starts_with(&format!("t={NOW},v1=")));
    assert_eq!(stored.body.headers["content-type"], "application/json");
    assert_eq!(stored.meta.delivery_id.as_str(), "evt_9");
    // A consumer can re-verify from what is stored.
    let mut headers = inbox_core::http::Headers::new();
    headers.insert("stripe-signature", &stored.body.headers["stripe-signature"]);
    assert_eq!(
        stripe::verify(
            headers.get("stripe-signature"),
            stored.body.raw_body.as_bytes(),
            &[STRIPE_SECRET.as_bytes()],
            NOW,
            std::time::Duration::from_secs(300)
        ),
        Ok(())
    );
}

#[test]
fn github_form_deliveries_are_accepted() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let body = "payload=%7B%22zen%22%3A%22Keep+it+logically+awesome.%22%7D";
    let signature = github::sign(GITHUB_SECRET.as_bytes(), body.as_bytes());
    let req = request(
        Method::POST,
        "/webhooks/github",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-github-delivery", "form-1"),
            ("x-github-event", "ping"),
            ("x-hub-signature-256", &signature),
        ],
        body.as_bytes(),
    );
    let response = call(&svc, req);
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = EventId::parse(body_json(&response)["id"].as_str().unwrap()).unwrap();
    let stored = EventStore::new(&kv, ManualClock::at_unix(NOW))
        .get(&id)
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.body.raw_body, body,
        "the raw form is kept for re-verification"
    );
    assert_eq!(
        stored.body.json.get(),
        r#"{"zen":"Keep it logically awesome."}"#
    );
}

#[test]
fn rotation_accepts_old_and_new_secrets() {
    let kv = MemoryKv::new();
    let mut v = vars();
    v.set(
        "webhook_github_secret",
        &format!("new-secret {GITHUB_SECRET}"),
    );
    let response = call(&service(&kv, v), github_request("rot-1", "{}"));
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[test]
fn unknown_and_unconfigured_providers_are_404() {
    let kv = MemoryKv::new();
    let response = call(
        &service(&kv, vars()),
        request(Method::POST, "/webhooks/nosuch", &[], b"{}"),
    );
    let body = assert_problem(&response, 404, "not-found");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("github, stripe, standard"));

    let mut v = vars();
    v.set("webhook_stripe_secret", "   ");
    let response = call(&service(&kv, v), stripe_request("{}", NOW));
    let body = assert_problem(&response, 404, "not-found");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("webhook_stripe_secret"),
        "{body}"
    );
}

#[test]
fn signature_headers_missing_or_malformed_are_400() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let mut req = github_request("d", "{}");
    req.headers_mut().remove("x-hub-signature-256");
    let body = assert_problem(&call(&svc, req), 400, "invalid-signature-header");
    assert_eq!(body["errors"][0]["field"], "header:x-hub-signature-256");

    let mut req = stripe_request("{}", NOW);
    req.headers_mut()
        .insert("stripe-signature", "t=soon,v1=abc");
    assert_problem(&call(&svc, req), 400, "invalid-signature-header");

    let mut req = standard_request("msg", "{}", NOW);
    req.headers_mut().remove("webhook-timestamp");
    let body = assert_problem(&call(&svc, req), 400, "invalid-signature-header");
    assert_eq!(body["errors"][0]["field"], "header:webhook-timestamp");
}

#[test]
fn wrong_signatures_and_stale_timestamps_are_401() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let mut req = github_request("d", "{}");
    *req.body_mut() = b"{\"tampered\":true}".to_vec();
    let response = call(&svc, req);
    assert_problem(&response, 401, "signature-mismatch");
    assert!(header_of(&response, "www-authenticate").is_some());

    let response = call(&svc, stripe_request(r#"{"id":"e","type":"t"}"#, NOW - 301));
    let body = assert_problem(&response, 401, "signature-mismatch");
    assert!(body["detail"].as_str().unwrap().contains("301 s"), "{body}");
    let response = call(&svc, standard_request("m", r#"{"type":"t"}"#, NOW + 301));
    assert_problem(&response, 401, "signature-mismatch");
    assert!(kv.keys().is_empty(), "nothing stored: {:?}", kv.keys());
}

#[test]
fn the_tolerance_is_configurable() {
    let kv = MemoryKv::new();
    let mut v = vars();
    v.set(names::WEBHOOK_TIMESTAMP_TOLERANCE_SECS, "600");
    let response = call(
        &service(&kv, v),
        stripe_request(r#"{"id":"e","type":"t"}"#, NOW - 500),
    );
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[test]
fn unsupported_or_missing_content_types_are_415() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let mut req = stripe_request(r#"{"id":"e","type":"t"}"#, NOW);
    req.headers_mut().insert("content-type", "text/plain");
    let response = call(&svc, req);
    assert_problem(&response, 415, "unsupported-media-type");
    assert_eq!(
        header_of(&response, "accept-post"),
        Some("application/json")
    );

    let mut req = github_request("d", "{}");
    req.headers_mut().remove("content-type");
    assert_problem(&call(&svc, req), 415, "unsupported-media-type");
}

#[test]
fn invalid_payloads_are_400_naming_the_field() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let body = assert_problem(
        &call(&svc, stripe_request("{\"id\":", NOW)),
        400,
        "invalid-request",
    );
    assert_eq!(body["errors"][0]["field"], "body");
    let body = assert_problem(
        &call(&svc, stripe_request(r#"{"type":"x"}"#, NOW)),
        400,
        "invalid-request",
    );
    assert_eq!(body["errors"][0]["field"], "/id");
    let body = assert_problem(
        &call(&svc, standard_request("m", r#"{"type":[7]}"#, NOW)),
        400,
        "invalid-request",
    );
    assert_eq!(body["errors"][0]["field"], "/type");
    let body = assert_problem(
        &call(
            &svc,
            stripe_request(r#"{"id":"has space","type":"x"}"#, NOW),
        ),
        400,
        "invalid-request",
    );
    assert_eq!(body["errors"][0]["field"], "/id");

    let mut req = github_request("d", "{}");
    req.headers_mut().remove("x-github-event");
    let body = assert_problem(&call(&svc, req), 400, "invalid-request");
    assert_eq!(body["errors"][0]["field"], "header:x-github-event");

    let bytes = [b'{', 0xff, b'}'];
    let signature = github::sign(GITHUB_SECRET.as_bytes(), &bytes);
    let req = request(
        Method::POST,
        "/webhooks/github",
        &[
            ("content-type", "application/json"),
            ("x-hub-signature-256", &signature),
        ],
        &bytes,
    );
    assert_problem(&call(&svc, req), 400, "invalid-request");
    assert!(kv.keys().is_empty());
}

#[test]
fn oversized_bodies_are_413_before_verification() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(1100));
    assert_problem(
        &call(&svc, github_request("d", &big)),
        413,
        "payload-too-large",
    );
    let mut req = github_request("d", "{}");
    req.headers_mut().insert("content-length", "1025");
    assert_problem(&call(&svc, req), 413, "payload-too-large");
}

#[test]
fn other_methods_are_405() {
    let kv = MemoryKv::new();
    let response = call(
        &service(&kv, vars()),
        request(Method::GET, "/webhooks/github", &[], b""),
    );
    assert_problem(&response, 405, "method-not-allowed");
    assert_eq!(header_of(&response, "allow"), Some("HEAD, POST"));
    // A HEAD endpoint check (Trello, Intercom) of a configured provider is 200.
    let response = call(
        &service(&kv, vars()),
        request(Method::HEAD, "/webhooks/github", &[], b""),
    );
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn a_failing_store_is_503_with_retry_after_and_the_retry_is_stored() {
    let kv = MemoryKv::new();
    let faulty = FaultyKv::new(&kv, |op, _, _| op == Op::SetMany);
    let response = call(&service(&faulty, vars()), github_request("flaky", "{}"));
    assert_problem(&response, 503, "store-unavailable");
    assert_eq!(header_of(&response, "retry-after"), Some("5"));

    let response = call(&service(&kv, vars()), github_request("flaky", "{}"));
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[test]
fn a_misconfigured_limit_is_503_naming_the_variable() {
    let kv = MemoryKv::new();
    let mut v = vars();
    v.set(names::WEBHOOK_MAX_BODY_BYTES, "huge");
    let body = assert_problem(
        &call(&service(&kv, v), github_request("d", "{}")),
        503,
        "misconfigured",
    );
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("webhook_max_body_bytes"));
}

#[test]
fn one_log_line_per_delivery_without_secrets_signatures_or_bodies() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let body = r#"{"secret_payload_marker":true}"#;
    let req = github_request("log-1", body);
    let signature = header_of_request(&req, "x-hub-signature-256");
    let (_, logs) = CapturedLogs::capture(|| {
        call(&svc, req.clone());
        let mut bad = req;
        *bad.body_mut() = b"{}".to_vec();
        call(&svc, bad);
    });
    let deliveries: Vec<_> = logs
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "delivery")
        .collect();
    assert_eq!(deliveries.len(), 2, "{}", logs.text());
    assert_eq!(deliveries[0]["provider"], "github");
    assert_eq!(deliveries[0]["delivery_id"], "log-1");
    assert_eq!(deliveries[0]["event_type"], "push");
    assert_eq!(deliveries[0]["outcome"], "accepted");
    assert!(deliveries[0]["latency_ms"].is_number());
    assert_eq!(deliveries[1]["outcome"], "signature-mismatch");
    let text = logs.text();
    for secret in [
        GITHUB_SECRET,
        STRIPE_SECRET,
        STANDARD_SECRET,
        &signature,
        "secret_payload_marker",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into logs:\n{text}");
    }
}

fn header_of_request(request: &Request, name: &str) -> String {
    request.headers().get(name).unwrap().to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever arrives, the answer is a deliberate 2xx or 4xx, never a 5xx or a panic.
    #[test]
    fn arbitrary_requests_never_cause_a_server_error(
        provider in prop_oneof![Just("github".to_owned()), Just("stripe".to_owned()), Just("standard".to_owned()), ".{0,12}"],
        headers in proptest::collection::vec(
            (prop_oneof![
                Just("content-type".to_owned()), Just("x-hub-signature-256".to_owned()),
                Just("stripe-signature".to_owned()), Just("webhook-id".to_owned()),
                Just("webhook-timestamp".to_owned()), Just("webhook-signature".to_owned()),
                Just("x-github-delivery".to_owned()), Just("x-github-event".to_owned()),
            ], "[ -~]{0,80}"),
            0..8,
        ),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let kv = MemoryKv::new();
        let svc = service(&kv, vars());
        let header_refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let uri = format!("/webhooks/{}", provider.replace(|c: char| !c.is_ascii_alphanumeric(), "x"));
        let response = call(&svc, request(Method::POST, &uri, &header_refs, &body));
        prop_assert!(!response.status().is_server_error(), "{}", String::from_utf8_lossy(response.body()));
    }

    /// A correctly signed arbitrary JSON object is always stored.
    #[test]
    fn correctly_signed_deliveries_are_always_accepted(
        delivery in "[!-~]{1,64}",
        text in "[ -~]{0,200}",
    ) {
        let kv = MemoryKv::new();
        let svc = service(&kv, vars());
        let body = serde_json::json!({"text": text}).to_string();
        let response = call(&svc, github_request(&delivery, &body));
        prop_assert_eq!(response.status(), StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(response.body()));
    }
}

fn probe_vars() -> StaticVariables {
    let mut vars = vars();
    vars.set(names::LOG_LEVEL, "info");
    vars
}

#[test]
fn probes_answer_under_the_prefix_and_succeed_quietly() {
    let kv = MemoryKv::new();
    let service = service(&kv, probe_vars());
    let (responses, logs) = CapturedLogs::capture(|| {
        ["/webhooks/healthz", "/webhooks/readyz"]
            .map(|path| call(&service, request(Method::GET, path, &[], b"")))
    });
    let [live, ready] = responses;
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(body_json(&live)["status"], "ok");
    assert_eq!(ready.status(), StatusCode::OK, "{}", body_json(&ready));
    assert_eq!(body_json(&ready)["status"], "ready");
    assert!(logs.lines().is_empty(), "{}", logs.text());
    // The probe key is gone again; what stays is the configured providers' record.
    assert_eq!(kv.keys(), [configured::KEY]);
}

#[test]
fn readiness_records_the_configured_providers_writing_only_on_a_change() {
    let kv = MemoryKv::new();
    let probe = |kv: &dyn KeyValue, vars: StaticVariables, at: i64| {
        let service = Webhooks::new(kv, vars, ManualClock::at_unix(at), &ACCEPTING);
        call(&service, request(Method::GET, "/webhooks/readyz", &[], b""))
    };
    // A delivery does not touch the record: only readiness writes it.
    let response = call(
        &service(&kv, probe_vars()),
        github_request("d1", r#"{"zen":"x"}"#),
    );
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(configured::load(&kv).unwrap(), None);

    assert_eq!(probe(&kv, probe_vars(), NOW).status(), StatusCode::OK);
    let record = configured::load(&kv).unwrap().unwrap();
    assert_eq!(
        record.providers,
        ["github", "stripe", "standard", "shopify", "slack", "linear"]
    );
    assert_eq!(record.since.unix_seconds(), NOW);

    // The same configuration: read, not written (a failing write would be logged).
    let no_writes = FaultyKv::new(&kv, |op, key, _| op == Op::Set && key == configured::KEY);
    let (response, logs) = CapturedLogs::capture(|| probe(&no_writes, probe_vars(), NOW + 60));
    assert_eq!(response.status(), StatusCode::OK);
    assert!(logs.lines().is_empty(), "{}", logs.text());
    assert_eq!(
        configured::load(&kv).unwrap().unwrap().since.unix_seconds(),
        NOW
    );

    // Another configuration: rewritten, since then.
    let mut fewer = probe_vars();
    fewer.set("webhook_slack_secret", "");
    assert_eq!(probe(&kv, fewer, NOW + 120).status(), StatusCode::OK);
    let record = configured::load(&kv).unwrap().unwrap();
    assert!(!record.contains("slack") && record.contains("github"));
    assert_eq!(record.since.unix_seconds(), NOW + 120);

    // A configuration that does not validate is not recorded.
    let mut malformed = probe_vars();
    malformed.set("webhook_standard_secret", "whsec_not*base64");
    malformed.set("webhook_slack_secret", "");
    malformed.set("webhook_github_secret", "");
    assert_eq!(
        probe(&kv, malformed, NOW + 180).status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(configured::load(&kv).unwrap().unwrap().contains("github"));

    // A failing write is logged, not a readiness failure.
    let (response, logs) = CapturedLogs::capture(|| probe(&no_writes, probe_vars(), NOW + 240));
    assert_eq!(response.status(), StatusCode::OK);
    assert!(logs.text().contains("not recorded"), "{}", logs.text());
}

#[test]
fn readiness_names_a_malformed_secret_and_a_failing_store() {
    let kv = MemoryKv::new();
    let mut vars = probe_vars();
    vars.set("webhook_standard_secret", "whsec_not*base64");
    let (response, logs) = CapturedLogs::capture(|| {
        call(
            &service(&kv, vars),
            request(Method::GET, "/webhooks/readyz", &[], b""),
        )
    });
    let problem = assert_problem(&response, 503, "not-ready");
    assert!(problem["checks"][1]["error"]
        .as_str()
        .unwrap()
        .contains("webhook_standard_secret"));
    assert_eq!(logs.lines().len(), 1, "a failed probe is logged");

    let inner = MemoryKv::new();
    let faulty = FaultyKv::new(&inner, |op, _, _| op == Op::Set);
    let response = call(
        &service(&faulty, probe_vars()),
        request(Method::GET, "/webhooks/readyz", &[], b""),
    );
    let problem = assert_problem(&response, 503, "not-ready");
    assert_eq!(problem["checks"][0]["name"], "key_value");
    assert_eq!(problem["checks"][0]["status"], "fail");
}

#[test]
fn new_providers_refuse_forged_stale_and_mistyped_deliveries() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    // Forged: the body changed after signing.
    let mut forged = shopify_request("s-forged", "orders/create", r#"{"id":1}"#);
    *forged.body_mut() = br#"{"id":2}"#.to_vec();
    assert_problem(&call(&svc, forged), 401, "signature-mismatch");
    let mut forged = linear_request("l-forged", "Issue", &linear_body("create", NOW * 1000));
    *forged.body_mut() = linear_body("remove", NOW * 1000).into_bytes();
    assert_problem(&call(&svc, forged), 401, "signature-mismatch");
    let mut forged = slack_request(&slack_event("Ev-forged", "x"), NOW, None);
    forged.body_mut().push(b' ');
    assert_problem(&call(&svc, forged), 401, "signature-mismatch");
    // Stale: outside the 300 s tolerance (Slack's header, Linear's signed body field).
    let stale = slack_request(&slack_event("Ev-stale", "x"), NOW - 301, None);
    assert_problem(&call(&svc, stale), 401, "signature-mismatch");
    let stale = linear_request(
        "l-stale",
        "Issue",
        &linear_body("create", (NOW - 301) * 1000),
    );
    assert_problem(&call(&svc, stale), 401, "signature-mismatch");
    // A signed Linear body without its timestamp is malformed (400), naming the field.
    let body = r#"{"action":"create","type":"Issue"}"#;
    let problem = assert_problem(
        &call(&svc, linear_request("l-nots", "Issue", body)),
        400,
        "invalid-request",
    );
    assert_eq!(problem["errors"][0]["field"], "/webhookTimestamp");
    // Missing signature headers are 400.
    let mut unsigned = shopify_request("s-unsigned", "orders/create", "{}");
    unsigned.headers_mut().remove("x-shopify-hmac-sha256");
    assert_problem(&call(&svc, unsigned), 400, "invalid-signature-header");
    // Wrong media type: 415 with Accept-Post.
    let mut form = shopify_request("s-form", "orders/create", "{}");
    form.headers_mut()
        .insert("content-type", "application/x-www-form-urlencoded");
    let response = call(&svc, form);
    assert_problem(&response, 415, "unsupported-media-type");
    assert_eq!(
        header_of(&response, "accept-post"),
        Some("application/json")
    );
    assert!(
        kv.keys().iter().all(|k| !k.starts_with("events:meta:")),
        "nothing stored"
    );
}

#[test]
fn slack_url_verification_is_answered_with_the_challenge_and_not_stored() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let response = call(&svc, slack_request(body, NOW, None));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_of(&response, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        response.body(),
        b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    assert!(kv.keys().is_empty(), "{:?}", kv.keys());
    // Only after the signature check.
    let mut forged = slack_request(body, NOW, None);
    forged
        .headers_mut()
        .insert("x-slack-signature", &format!("v0={}", "0".repeat(64)));
    assert_problem(&call(&svc, forged), 401, "signature-mismatch");
}

#[test]
fn slack_retries_are_duplicates() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let body = slack_event("Ev-retry", "message");
    let first = call(&svc, slack_request(&body, NOW, None));
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let retry = call(&svc, slack_request(&body, NOW + 60, Some("1")));
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(body_json(&retry)["duplicate"], true);
    assert_eq!(body_json(&retry)["id"], body_json(&first)["id"]);
}

#[test]
fn labelled_secrets_record_the_source_and_rotation_keeps_it() {
    let kv = MemoryKv::new();
    let mut v = vars();
    // Two GitHub organisations; org-b is rotating (two secrets, one label).
    v.set(
        "webhook_github_secret",
        &format!("org-a=org-a-secret org-b=org-b-old org-b={GITHUB_SECRET}"),
    );
    let svc = service(&kv, v);
    let signed_with = |secret: &str, delivery: &str| {
        let body = r#"{"zen":"hi"}"#;
        let mut req = github_request(delivery, body);
        req.headers_mut().insert(
            "x-hub-signature-256",
            &github::sign(secret.as_bytes(), body.as_bytes()),
        );
        req
    };
    for (secret, delivery) in [
        ("org-a-secret", "from-a"),
        ("org-b-old", "from-b-old"),
        (GITHUB_SECRET, "from-b-new"),
    ] {
        let response = call(&svc, signed_with(secret, delivery));
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{delivery}");
    }
    let store = EventStore::new(&kv, ManualClock::at_unix(NOW));
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    let sources: Vec<_> = page
        .items
        .iter()
        .map(|m| {
            (
                m.delivery_id.as_str(),
                m.source.as_ref().map(|s| s.as_str()),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("from-b-new", Some("org-b")),
            ("from-b-old", Some("org-b")),
            ("from-a", Some("org-a"))
        ]
    );
    // A bare secret records no source.
    let plain = call(&service(&kv, vars()), github_request("plain", "{}"));
    assert_eq!(plain.status(), StatusCode::ACCEPTED);
}

#[test]
fn a_malformed_label_keeps_the_replica_out_of_rotation_without_echoing_secrets() {
    let kv = MemoryKv::new();
    let mut v = probe_vars();
    v.set("webhook_slack_secret", "-bad=super-secret-value");
    let response = call(
        &service(&kv, v),
        request(Method::GET, "/webhooks/readyz", &[], b""),
    );
    let problem = assert_problem(&response, 503, "not-ready");
    let text = problem.to_string();
    assert!(text.contains("webhook_slack_secret"), "{text}");
    assert!(!text.contains("super-secret-value"), "{text}");
}

#[test]
fn standard_webhooks_without_a_type_and_github_actions_are_stored() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    let untyped = call(
        &svc,
        standard_request("msg_untyped", r#"{"data":{"n":1}}"#, NOW),
    );
    assert_eq!(
        untyped.status(),
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(untyped.body())
    );
    let mut issue = github_request("gh-issue", r#"{"action":"opened","issue":{"number":1}}"#);
    issue.headers_mut().insert("x-github-event", "issues");
    assert_eq!(call(&svc, issue).status(), StatusCode::ACCEPTED);
    let store = EventStore::new(&kv, ManualClock::at_unix(NOW));
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    assert_eq!(
        page.items[0].action.as_ref().map(|a| a.as_str()),
        Some("opened")
    );
    assert_eq!(
        page.items[0].event_type.as_ref().map(|t| t.as_str()),
        Some("issues")
    );
    assert_eq!(page.items[1].event_type, None);
}

#[test]
fn accepted_deliveries_apply_the_retention_cap_after_answering() {
    let kv = MemoryKv::new();
    let mut v = vars();
    v.set(names::RETENTION_MAX_EVENTS, "3");
    let svc = service(&kv, v);
    for n in 0..5 {
        let response = call(&svc, github_request(&format!("cap-{n}"), "{}"));
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let store = EventStore::new(&kv, ManualClock::at_unix(NOW));
    let page = store.list(&ListFilter::default(), 10, None).unwrap();
    let kept: Vec<_> = page.items.iter().map(|m| m.delivery_id.as_str()).collect();
    assert_eq!(kept, ["cap-4", "cap-3", "cap-2"]);
    // A malformed retention setting never fails a delivery; readiness names it.
    let mut v = vars();
    v.set(names::RETENTION_MAX_EVENTS, "lots");
    let response = call(&service(&kv, v), github_request("cap-bad", "{}"));
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[test]
fn an_accepted_delivery_asks_the_forwarder_and_a_failure_changes_nothing() {
    let kv = MemoryKv::new();
    let poke = Recorded {
        status: 0,
        ..Recorded::default()
    };
    let mut v = vars();
    v.set(
        names::FORWARD_DISPATCH_URL,
        "http://webhook-inbox-forwarder:80",
    );
    let svc = Webhooks::new(&kv, v, ManualClock::at_unix(NOW), &poke);
    let first = call(&svc, github_request("poke-1", "{}"));
    assert_eq!(
        first.status(),
        StatusCode::ACCEPTED,
        "the refused poke changed nothing"
    );
    let id = body_json(&first)["id"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&svc, github_request("poke-1", "{}")).status(),
        StatusCode::OK
    );
    // Asked once, for the accepted copy only, at the configured origin.
    assert_eq!(
        poke.asked.lock().unwrap().as_slice(),
        [(
            Some("webhook-inbox-forwarder:80".to_owned()),
            format!("/api/events/{id}/dispatch")
        )]
    );
    // With the first API token, as the dispatch tick presents it.
    assert_eq!(
        poke.tokens.lock().unwrap().as_slice(),
        ["Bearer webhook-test-token"]
    );
}

/// A Standard Webhooks delivery with extra headers (a forwarded one carries its hops).
fn standard_request_with(id: &str, body: &str, extra: &[(&str, &str)]) -> Request {
    let key = standard::Key::parse(STANDARD_SECRET).unwrap();
    let signature = standard::sign(&key, id, NOW, body.as_bytes());
    let timestamp = NOW.to_string();
    let mut headers = vec![
        ("content-type", "application/json"),
        ("webhook-id", id),
        ("webhook-timestamp", timestamp.as_str()),
        ("webhook-signature", signature.as_str()),
    ];
    headers.extend_from_slice(extra);
    request(
        Method::POST,
        "/webhooks/standard",
        &headers,
        body.as_bytes(),
    )
}

/// Issue 25: a destination pointing back at this app's webhook route turned one event into 119
/// in 8 s. A delivery carrying this installation's mark is refused (508, not stored, the
/// forwarder not asked); one from another webhook-inbox installation is stored, with its marks
/// kept so that forwarding it again continues the list; a forged one is a 401 as ever.
#[test]
fn a_delivery_this_installation_forwarded_is_refused_as_a_loop_and_not_stored() {
    let kv = MemoryKv::new();
    let me = Installation::load_or_create(&kv).unwrap();
    let other = "00000000000000aa";
    let poke = Recorded {
        status: 202,
        ..Recorded::default()
    };
    let svc = Webhooks::new(&kv, vars(), ManualClock::at_unix(NOW), &poke);
    let body = r#"{"type":"thing.done"}"#;
    let ours = me.to_string();
    let back = format!("{other},{me}");
    for (id, marks) in [("msg_loop_1", ours.as_str()), ("msg_loop_2", back.as_str())] {
        let (response, logs) = CapturedLogs::capture(|| {
            call(
                &svc,
                standard_request_with(id, body, &[(hops::HOPS_HEADER, marks)]),
            )
        });
        let problem = assert_problem(&response, 508, "loop-detected");
        assert_eq!(problem["errors"][0]["field"], "header:webhook-inbox-hops");
        assert_eq!(
            logs.lines()[0]["outcome"],
            "loop-detected",
            "{}",
            logs.text()
        );
    }
    // Too many installations is a loop too, whoever they are.
    let many = (1..=8)
        .map(|n| format!("{n:016x}"))
        .collect::<Vec<_>>()
        .join(",");
    let response = call(
        &svc,
        standard_request_with("msg_loop_3", body, &[(hops::HOPS_HEADER, &many)]),
    );
    assert_problem(&response, 508, "loop-detected");
    // Without the secret, the mark changes nothing: 401 as for any forged delivery.
    let wrong_key = standard::Key::parse("whsec_Zm9yZ2VkLWtleS1mb3ItdGhlLWxvb3AtdGVzdA==").unwrap();
    let forged_signature = standard::sign(&wrong_key, "msg_forged", NOW, body.as_bytes());
    let forged = request(
        Method::POST,
        "/webhooks/standard",
        &[
            ("content-type", "application/json"),
            ("webhook-id", "msg_forged"),
            ("webhook-timestamp", &NOW.to_string()),
            ("webhook-signature", &forged_signature),
            (hops::HOPS_HEADER, &ours),
        ],
        body.as_bytes(),
    );
    assert_problem(&call(&svc, forged), 401, "signature-mismatch");
    let store = EventStore::new(&kv, ManualClock::at_unix(NOW));
    assert!(store
        .list(&ListFilter::default(), 10, None)
        .unwrap()
        .items
        .is_empty());
    assert!(poke.asked.lock().unwrap().is_empty(), "nothing to forward");

    // Another installation's delivery is stored, its marks kept with it.
    let response = call(
        &svc,
        standard_request_with("msg_from_afar", body, &[(hops::HOPS_HEADER, other)]),
    );
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = EventId::parse(body_json(&response)["id"].as_str().unwrap()).unwrap();
    let stored = store.get(&id).unwrap().unwrap();
    assert_eq!(
        stored
            .body
            .headers
            .get(hops::HOPS_HEADER)
            .map(String::as_str),
        Some(other)
    );
    assert_eq!(poke.asked.lock().unwrap().len(), 1);
}

#[test]
fn asana_and_notion_hand_over_their_secret_kept_for_the_operator_and_never_stored() {
    let kv = MemoryKv::new();
    // Neither provider configured: the handshake is how the operator learns the secret.
    let svc = service(&kv, vars());
    let asana = request(
        Method::POST,
        "/webhooks/asana",
        &[("x-hook-secret", "b537207f20cbfa02357cf448134da559")],
        b"",
    );
    let (response, logs) = CapturedLogs::capture(|| call(&svc, asana));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_of(&response, "x-hook-secret"),
        Some("b537207f20cbfa02357cf448134da559")
    );
    assert!(response.body().is_empty());
    assert!(
        logs.text().contains("\"outcome\":\"handshake\""),
        "{}",
        logs.text()
    );
    assert!(!logs.text().contains("b537207f"), "{}", logs.text());

    let notion = request(
        Method::POST,
        "/webhooks/notion",
        &[("content-type", "application/json")],
        br#"{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}"#,
    );
    assert_eq!(call(&svc, notion).status(), StatusCode::OK);

    let kept = handshakes::recent(&kv, "asana").unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].secret, "b537207f20cbfa02357cf448134da559");
    assert_eq!(kept[0].received_at.unix_seconds(), NOW);
    let kept = handshakes::recent(&kv, "notion").unwrap();
    assert_eq!(
        kept[0].secret,
        "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
    );
    // Nothing but the kept secrets: no event, no delivery id.
    assert!(
        kv.keys().iter().all(|key| key.starts_with("handshake:")),
        "{:?}",
        kv.keys()
    );
}

#[test]
fn a_signed_request_is_never_a_handover_and_a_malformed_secret_is_400() {
    let kv = MemoryKv::new();
    let svc = service(&kv, vars());
    // A delivery carries the signature: it goes to verification (Asana is not configured
    // here: 404), whatever else it carries.
    let signed = request(
        Method::POST,
        "/webhooks/asana",
        &[
            ("x-hook-secret", "attacker-chosen"),
            ("x-hook-signature", &"0".repeat(64)),
            ("content-type", "application/json"),
        ],
        b"{}",
    );
    assert_problem(&call(&svc, signed), 404, "not-found");
    let notion = request(
        Method::POST,
        "/webhooks/notion",
        &[
            ("content-type", "application/json"),
            ("x-notion-signature", "sha256=00"),
        ],
        br#"{"verification_token":"secret_x"}"#,
    );
    assert_problem(&call(&svc, notion), 404, "not-found");
    // Neither a secret nor a signature: not a handshake either.
    let neither = request(
        Method::POST,
        "/webhooks/notion",
        &[("content-type", "application/json")],
        br#"{"type":"page.created"}"#,
    );
    assert_problem(&call(&svc, neither), 404, "not-found");
    assert!(kv.keys().is_empty(), "{:?}", kv.keys());

    for bad in ["has space", &"x".repeat(300)] {
        let asana = request(
            Method::POST,
            "/webhooks/asana",
            &[("x-hook-secret", bad)],
            b"",
        );
        let problem = assert_problem(&call(&svc, asana), 400, "invalid-request");
        assert_eq!(problem["errors"][0]["field"], "x-hook-secret");
    }
    let notion = request(
        Method::POST,
        "/webhooks/notion",
        &[("content-type", "application/json")],
        br#"{"verification_token":""}"#,
    );
    let problem = assert_problem(&call(&svc, notion), 400, "invalid-request");
    assert_eq!(problem["errors"][0]["field"], "/verification_token");
    assert!(kv.keys().is_empty(), "{:?}", kv.keys());

    // A store that fails: 503, nothing answered as if kept.
    let failing = FaultyKv::new(&kv, |op, _, _| op == Op::Set);
    let asana = request(
        Method::POST,
        "/webhooks/asana",
        &[("x-hook-secret", "abc")],
        b"",
    );
    assert_problem(
        &call(&service(&failing, vars()), asana),
        503,
        "store-unavailable",
    );
}

#[test]
fn readiness_records_the_generic_sources_that_have_a_secret() {
    let kv = MemoryKv::new();
    let mut vars = probe_vars();
    vars.set(
        sources::CONFIG_VARIABLE,
        "billing: auth=hmac header=x-sig signed={timestamp}.{body} timestamp=x-ts; ci: auth=basic",
    );
    vars.set("webhook_source_secret", "billing:s3cret");
    let svc = Webhooks::new(&kv, vars, ManualClock::at_unix(NOW), &ACCEPTING);
    let response = call(&svc, request(Method::GET, "/webhooks/readyz", &[], b""));
    assert_eq!(response.status(), StatusCode::OK);
    let record = configured::load(&kv).unwrap().unwrap();
    assert!(record.contains("github"));
    let sources: Vec<_> = record.sources().collect();
    // `ci` has no secret: not configured, not listed.
    assert_eq!(sources, [("billing", "hmac-timestamped")]);
}
