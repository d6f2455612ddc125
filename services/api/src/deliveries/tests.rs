//! Deliveries, replays and dead letters over records a real dispatcher wrote (a scripted
//! sender answers), against the in-memory store.

use std::sync::Mutex;

use inbox_core::clock::ManualClock;
use inbox_core::config::{names, StaticVariables};
use inbox_core::events::{EventId, EventStore, Ingested, NewEvent, Provider, StoredEvent};
use inbox_core::forwarding::poke::{DispatchUrl, Poke};
use inbox_core::forwarding::{
    destinations, Answer, Destination, Dispatcher, Schedule, Sender, Tuning,
};
use inbox_core::http::testing::{self, assert_problem, body_json, call};
use inbox_core::http::{Method, Request, StatusCode};
use inbox_core::kv::MemoryKv;

use crate::service::Api;

const TOKEN: &str = "deliveries-test-token";
const NOW: i64 = 1_800_000_000;
const KEY: &str = "whsec_ZGVsaXZlcmllcy10ZXN0LWtleQ==";

/// Answers every attempt with the same status.
struct Answering(Mutex<u16>);

impl Sender for Answering {
    fn send(
        &self,
        _: &Destination,
        _: &StoredEvent,
        _: u32,
        _: &str,
        _: std::time::Duration,
    ) -> Answer {
        Answer::Status {
            code: *self.0.lock().unwrap(),
            retry_after: None,
        }
    }
}

/// Records what the forwarder was asked.
#[derive(Default)]
struct Asked(Mutex<Vec<String>>);

impl Poke for &Asked {
    fn post(&self, _: &DispatchUrl, path: &str, authorization: &str) -> Result<u16, String> {
        assert_eq!(
            authorization, "Bearer dispatch-token",
            "the dispatch token is presented, not the API token"
        );
        self.0.lock().unwrap().push(path.to_owned());
        Ok(202)
    }
}

fn destinations() -> Vec<Destination> {
    destinations::parse(&format!(
        r#"[{{"name":"sink","url":"http://127.0.0.1:9/in","secret":"{KEY}"}},
            {{"name":"billing","url":"http://127.0.0.1:9/bill","secret":"{KEY}","filter":"stripe"}}]"#
    ))
    .unwrap()
}

fn vars() -> StaticVariables {
    StaticVariables::from_pairs([
        (names::API_TOKEN, TOKEN),
        (names::RETENTION_MAX_EVENTS, "100000"),
        (names::FORWARD_DISPATCH_URL, "http://self"),
        (names::FORWARD_DISPATCH_TOKEN, "dispatch-token"),
    ])
}

fn ingest(kv: &MemoryKv, clock: &ManualClock, delivery: &str) -> EventId {
    let event = NewEvent::example(Provider::Github, delivery, "push");
    match EventStore::new(kv, clock).ingest(event).unwrap() {
        Ingested::Accepted(meta) => meta.id,
        other => panic!("{other:?}"),
    }
}

fn dispatch(kv: &MemoryKv, clock: &ManualClock, id: &EventId, status: u16) {
    let (targets, schedule) = (destinations(), Schedule::parse("5s").unwrap());
    let sender = Answering(Mutex::new(status));
    Dispatcher::new(kv, clock, &sender, &targets, &schedule, Tuning::default())
        .dispatch_event(id)
        .unwrap();
}

fn authed(method: Method, path: &str, body: &[u8], content_type: Option<&str>) -> Request {
    testing::authed(method, path, TOKEN, body, content_type)
}

#[test]
fn deliveries_and_dead_letters_show_what_was_attempted_and_a_replay_queues_it_again() {
    let (kv, clock, asked) = (MemoryKv::new(), ManualClock::at_unix(NOW), Asked::default());
    let id = ingest(&kv, &clock, "gh-dead");
    dispatch(&kv, &clock, &id, 410);
    let api = Api::new(&kv, vars(), &clock, &asked);
    let path = format!("/api/events/{id}/deliveries");
    let body = body_json(&call(&api, authed(Method::GET, &path, b"", None)));
    // billing's filter does not match a GitHub event: only sink was attempted.
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["deliveries"][0]["destination"], "sink");
    assert_eq!(body["deliveries"][0]["state"], "dead");
    assert_eq!(body["deliveries"][0]["attempts"][0]["status_code"], 410);
    let dead = body_json(&call(
        &api,
        authed(Method::GET, "/api/dead-letters", b"", None),
    ));
    assert_eq!(dead["items"][0]["event_id"], id.as_str());

    let replay = format!("/api/events/{id}/replay");
    let response = call(
        &api,
        authed(
            Method::POST,
            &replay,
            br#"{"destination":"sink"}"#,
            Some("application/json"),
        ),
    );
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let queued = body_json(&response);
    assert_eq!(queued["deliveries"][0]["state"], "pending");
    assert_eq!(queued["deliveries"][0]["replays"], 1);
    assert_eq!(
        asked.0.lock().unwrap().as_slice(),
        [format!("/api/events/{id}/dispatch")],
        "the forwarder is asked once the answer is sent"
    );
    let dead = body_json(&call(
        &api,
        authed(Method::GET, "/api/dead-letters", b"", None),
    ));
    assert_eq!(
        dead["items"],
        serde_json::json!([]),
        "replayed, no longer dead"
    );

    // What the forwarder then does, and what the API shows of it.
    dispatch(&kv, &clock, &id, 200);
    let body = body_json(&call(&api, authed(Method::GET, &path, b"", None)));
    assert_eq!(body["deliveries"][0]["state"], "delivered", "{body}");
    assert_eq!(
        body["deliveries"][0]["attempts"].as_array().unwrap().len(),
        2
    );
    assert!(body["deliveries"][0]["next_attempt_at"].is_null());
}

#[test]
fn bad_replays_and_queries_are_specific_problems() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(NOW));
    let id = ingest(&kv, &clock, "gh-bad");
    let api = Api::new(&kv, vars(), &clock, inbox_core::forwarding::poke::NoPoke);
    let replay = format!("/api/events/{id}/replay");
    // Nothing was attempted yet: nothing to replay, and that is no error.
    let response = call(&api, authed(Method::POST, &replay, b"", None));
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(body_json(&response)["deliveries"], serde_json::json!([]));
    dispatch(&kv, &clock, &id, 500);
    for (body, content_type, status, slug) in [
        // billing only receives Stripe events: never attempted for this one.
        (
            &br#"{"destination":"billing"}"#[..],
            "application/json",
            409,
            "conflict",
        ),
        (
            br#"{"destination":"nope"}"#,
            "application/json",
            409,
            "conflict",
        ),
        (
            br#"{"destination":null}"#,
            "application/json",
            400,
            "invalid-request",
        ),
        (
            br#"{"destination":"Bad Name"}"#,
            "application/json",
            400,
            "invalid-request",
        ),
        (
            br#"{"other":1}"#,
            "application/json",
            400,
            "invalid-request",
        ),
        (b"not json", "application/json", 400, "invalid-request"),
        (br#"{}"#, "text/plain", 415, "unsupported-media-type"),
    ] {
        let response = call(
            &api,
            authed(Method::POST, &replay, body, Some(content_type)),
        );
        assert_problem(&response, status, slug);
    }
    let missing = call(
        &api,
        authed(
            Method::POST,
            "/api/events/evt_00000000000000000000000000000000/replay",
            b"",
            None,
        ),
    );
    assert_problem(&missing, 404, "not-found");
    for query in [
        "limit=0",
        "limit=x",
        "cursor=0",
        "cursor=01",
        "destination=Bad",
        "colour=red",
        "limit=1&limit=2",
    ] {
        let path = format!("/api/dead-letters?{query}");
        let response = call(&api, authed(Method::GET, &path, b"", None));
        assert_problem(&response, 400, "invalid-request");
    }
    // And an empty body replays every delivery that was attempted.
    let response = call(&api, authed(Method::POST, &replay, b"", None));
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[test]
fn a_replay_while_an_attempt_is_in_flight_is_a_conflict_to_retry() {
    use inbox_core::kv::testing::{FaultyKv, Op};
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(NOW));
    let id = ingest(&kv, &clock, "gh-busy");
    // The attempt's outcome is never written: it stays in flight, as during a send.
    let sending = FaultyKv::new(&kv, |op, key, _| {
        op == Op::SetMany && key.starts_with("fwd:lease:")
    });
    let (targets, schedule) = (destinations(), Schedule::parse("5s").unwrap());
    let sender = Answering(Mutex::new(200));
    let _ = Dispatcher::new(
        &sending,
        &clock,
        &sender,
        &targets,
        &schedule,
        Tuning::default(),
    )
    .dispatch_event(&id);
    let api = Api::new(&kv, vars(), &clock, inbox_core::forwarding::poke::NoPoke);
    let response = call(
        &api,
        authed(Method::POST, &format!("/api/events/{id}/replay"), b"", None),
    );
    let problem = assert_problem(&response, 409, "conflict");
    assert!(
        problem["detail"].as_str().unwrap().contains("in flight"),
        "{problem}"
    );
    assert_eq!(testing::header_of(&response, "retry-after"), Some("10"));
}

/// An attempt whose outcome was never written and which a later attempt took over is shown as
/// abandoned, with its start time, before the attempt that took over.
#[test]
fn an_abandoned_attempt_is_shown_as_such() {
    use inbox_core::kv::testing::{FaultyKv, Op};
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(NOW));
    let id = ingest(&kv, &clock, "gh-abandoned");
    let (targets, schedule) = (destinations(), Schedule::parse("5s").unwrap());
    let sender = Answering(Mutex::new(200));
    // The outcome batch (it releases the lease) fails: attempt 1 stays in flight.
    let dies = FaultyKv::new(&kv, |op, key, _| {
        op == Op::SetMany && key.starts_with("fwd:lease:")
    });
    let _ = Dispatcher::new(
        &dies,
        &clock,
        &sender,
        &targets,
        &schedule,
        Tuning::default(),
    )
    .dispatch_event(&id);
    for _ in 0..8 {
        clock.advance(std::time::Duration::from_secs(15));
        Dispatcher::new(&kv, &clock, &sender, &targets, &schedule, Tuning::default())
            .dispatch()
            .unwrap();
    }
    let api = Api::new(&kv, vars(), &clock, inbox_core::forwarding::poke::NoPoke);
    let response = call(
        &api,
        authed(
            Method::GET,
            &format!("/api/events/{id}/deliveries"),
            b"",
            None,
        ),
    );
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(&response);
    let attempts = &body["deliveries"][0]["attempts"];
    assert_eq!(attempts[0]["attempt"], 1, "{body}");
    assert_eq!(attempts[0]["abandoned"], true, "{body}");
    assert_eq!(attempts[0]["at"], "2027-01-15T08:00:00.000Z", "{body}");
    assert!(attempts[0]["status_code"].is_null(), "{body}");
    assert_eq!(attempts[1]["attempt"], 2, "{body}");
    assert_eq!(attempts[1]["abandoned"], false, "{body}");
    assert_eq!(attempts[1]["status_code"], 200, "{body}");
    assert_eq!(body["deliveries"][0]["state"], "delivered", "{body}");
}

fn bulk(
    api: &Api<&MemoryKv, StaticVariables, &ManualClock, &Asked>,
    body: &str,
) -> serde_json::Value {
    let response = call(
        api,
        authed(
            Method::POST,
            "/api/dead-letters/replay",
            body.as_bytes(),
            Some("application/json"),
        ),
    );
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_json(&response)
    );
    body_json(&response)
}

#[test]
fn bulk_replay_queues_dead_letters_in_batches_asks_for_each_and_resumes_from_its_cursor() {
    let (kv, clock, asked) = (MemoryKv::new(), ManualClock::at_unix(NOW), Asked::default());
    let ids: Vec<EventId> = (0..3)
        .map(|n| {
            let id = ingest(&kv, &clock, &format!("gh-bulk-{n}"));
            dispatch(&kv, &clock, &id, 410);
            id
        })
        .collect();
    let api = Api::new(&kv, vars(), &clock, &asked);
    // 2.0 is a whole number, as JSON Schema counts integers.
    let first = bulk(&api, r#"{"destination":"sink","limit":2.0}"#);
    assert_eq!(first["replayed"][0]["event_id"], ids[2].as_str(), "{first}");
    assert_eq!(first["replayed"][1]["event_id"], ids[1].as_str(), "{first}");
    assert_eq!(first["replayed"][0]["destination"], "sink");
    assert_eq!(first["scanned"], 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        asked.0.lock().unwrap().as_slice(),
        [
            format!("/api/events/{}/dispatch", ids[2]),
            format!("/api/events/{}/dispatch", ids[1])
        ],
        "the forwarder is asked for each, after the answer"
    );
    let rest = bulk(&api, &format!(r#"{{"cursor":"{cursor}","limit":2}}"#));
    assert_eq!(rest["replayed"][0]["event_id"], ids[0].as_str(), "{rest}");
    assert_eq!(rest["next_cursor"], serde_json::Value::Null);
    // The same cursor again (a client that never saw the answer): nothing is queued twice.
    let again = bulk(&api, &format!(r#"{{"cursor":"{cursor}","limit":2}}"#));
    assert_eq!(again["replayed"], serde_json::json!([]), "{again}");
    assert_eq!(again["skipped"]["no_longer_dead"], 1, "{again}");
    // Nothing dead is left; an empty body is every destination's newest.
    let none = call(
        &api,
        authed(Method::POST, "/api/dead-letters/replay", b"", None),
    );
    let none = body_json(&none);
    assert_eq!(none["replayed"], serde_json::json!([]));
    assert_eq!(none["skipped"]["no_longer_dead"], 3, "{none}");
}

#[test]
fn a_bulk_filter_and_destination_select_only_theirs() {
    let (kv, clock, asked) = (MemoryKv::new(), ManualClock::at_unix(NOW), Asked::default());
    let id = ingest(&kv, &clock, "gh-filtered");
    dispatch(&kv, &clock, &id, 410);
    let api = Api::new(&kv, vars(), &clock, &asked);
    for body in [
        r#"{"filter":["stripe"]}"#,
        r#"{"filter":["github:issues","*:pull_request*"]}"#,
        r#"{"destination":"billing"}"#,
        r#"{"since":"2100-01-01T00:00:00Z"}"#,
        r#"{"until":"2000-01-01T00:00:00Z"}"#,
    ] {
        let done = bulk(&api, body);
        assert_eq!(done["replayed"], serde_json::json!([]), "{body}: {done}");
        assert_eq!(done["skipped"]["not_matching"], 1, "{body}: {done}");
    }
    assert!(asked.0.lock().unwrap().is_empty());
    let done = bulk(
        &api,
        r#"{"filter":["github:pu*"],"since":"2000-01-01T00:00:00Z"}"#,
    );
    assert_eq!(done["replayed"][0]["event_id"], id.as_str(), "{done}");
}

#[test]
fn bad_bulk_replays_are_specific_problems_naming_each_member() {
    let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(NOW));
    let api = Api::new(&kv, vars(), &clock, inbox_core::forwarding::poke::NoPoke);
    let path = "/api/dead-letters/replay";
    let response = call(
        &api,
        authed(
            Method::POST,
            path,
            br#"{"destination":"Bad Name","since":"yesterday","until":"2026-13-01T00:00:00Z",
                 "filter":["nosuch:push"],"limit":0,"cursor":"01"}"#,
            Some("application/json"),
        ),
    );
    let problem = assert_problem(&response, 400, "invalid-request");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "/destination",
            "/since",
            "/until",
            "/filter/0",
            "/limit",
            "/cursor"
        ],
        "{problem}"
    );
    for (body, field) in [
        (r#"{"filter":[]}"#, "/filter"),
        (r#"{"filter":[" github"]}"#, "/filter/0"),
        (r#"{"filter":["push","a*b"]}"#, "/filter/1"),
        (r#"{"limit":101}"#, "/limit"),
        (r#"{"limit":2.5}"#, "/limit"),
        (r#"{"limit":-1}"#, "/limit"),
        (r#"{"limit":"5"}"#, "body"),
        (r#"{"limit":null}"#, "body"),
        (r#"{"colour":"red"}"#, "body"),
        (r#"{"filter":"github"}"#, "body"),
    ] {
        let response = call(
            &api,
            authed(
                Method::POST,
                path,
                body.as_bytes(),
                Some("application/json"),
            ),
        );
        let problem = assert_problem(&response, 400, "invalid-request");
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    let response = call(&api, authed(Method::POST, path, b"{}", Some("text/plain")));
    assert_problem(&response, 415, "unsupported-media-type");
    let response = call(&api, testing::request(Method::POST, path, &[], b""));
    assert_problem(&response, 401, "unauthorized");
}

mod patterns {
    use super::*;
    use proptest::prelude::*;

    fn accepted(pattern: &str) -> bool {
        let (kv, clock) = (MemoryKv::new(), ManualClock::at_unix(NOW));
        let api = Api::new(&kv, vars(), &clock, inbox_core::forwarding::poke::NoPoke);
        let body = serde_json::json!({ "filter": [pattern] }).to_string();
        let response = call(
            &api,
            authed(
                Method::POST,
                "/api/dead-letters/replay",
                body.as_bytes(),
                Some("application/json"),
            ),
        );
        response.status() == StatusCode::OK
    }

    proptest! {
        /// Every pattern the document admits is accepted: never a 400 for schema-valid input.
        #[test]
        fn every_documented_filter_pattern_is_accepted(
            pattern in proptest::string::string_regex(
                api_contract::patterns::filter_pattern()
                    .trim_start_matches('^')
                    .trim_end_matches('$'),
            )
            .unwrap()
        ) {
            prop_assume!(pattern.len() <= api_contract::patterns::FILTER_PATTERN_MAX);
            prop_assert!(accepted(&pattern), "{:?}", pattern);
        }

        /// A documented pattern broken the ways the document excludes is refused: space
        /// around it, a non-ASCII character, an unknown provider, `*` before the end, nothing.
        #[test]
        fn patterns_outside_the_document_are_refused(
            pattern in proptest::string::string_regex(
                api_contract::patterns::filter_pattern()
                    .trim_start_matches('^')
                    .trim_end_matches('$'),
            )
            .unwrap(),
            cut in 0usize..64,
        ) {
            let mut inner: Vec<char> = pattern.chars().collect();
            inner.insert(cut % (inner.len() + 1), '\u{e9}');
            for broken in [
                format!("{pattern} "),
                format!("\t{pattern}"),
                inner.into_iter().collect::<String>(),
                format!("nosuch:{pattern}"),
                format!("*{pattern}"),
                format!("{pattern}**"),
            ] {
                prop_assert!(!accepted(&broken), "{:?}", broken);
            }
            prop_assert!(!accepted(""));
            prop_assert!(!accepted(&"x".repeat(api_contract::patterns::FILTER_PATTERN_MAX + 1)));
        }
    }
}

/// The forwarder records which destinations are `"ordered"`; the API shows it on their
/// deliveries, dead letters and stats, without reading the destinations' settings.
#[test]
fn an_ordered_destination_is_shown_as_such() {
    let (kv, clock, asked) = (MemoryKv::new(), ManualClock::at_unix(NOW), Asked::default());
    let id = ingest(&kv, &clock, "gh-ordered");
    let targets = destinations::parse(&format!(
        r#"[{{"name":"sink","url":"http://127.0.0.1:9/in","secret":"{KEY}","ordered":true}},
            {{"name":"free","url":"http://127.0.0.1:9/free","secret":"{KEY}"}}]"#
    ))
    .unwrap();
    let (schedule, sender) = (Schedule::parse("5s").unwrap(), Answering(Mutex::new(410)));
    Dispatcher::new(&kv, &clock, &sender, &targets, &schedule, Tuning::default())
        .dispatch()
        .unwrap();
    let api = Api::new(&kv, vars(), &clock, &asked);
    let path = format!("/api/events/{id}/deliveries");
    let body = body_json(&call(&api, authed(Method::GET, &path, b"", None)));
    let ordered = |name: &str| {
        body["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["destination"] == name)
            .map(|d| d["ordered"].clone())
    };
    assert_eq!(ordered("sink"), Some(serde_json::json!(true)), "{body}");
    assert_eq!(ordered("free"), Some(serde_json::json!(false)), "{body}");
    let dead = body_json(&call(
        &api,
        authed(Method::GET, "/api/dead-letters?destination=sink", b"", None),
    ));
    assert_eq!(dead["items"][0]["ordered"], true, "{dead}");
    let stats = body_json(&call(&api, authed(Method::GET, "/api/stats", b"", None)));
    assert_eq!(stats["forwarding"]["sink"]["ordered"], true, "{stats}");
    assert_eq!(stats["forwarding"]["free"]["ordered"], false, "{stats}");
}

/// Circuit breaking: the stats show each destination's settings and, once one is disabled for
/// failing, since when and why; the metrics have a gauge for the alert; re-enabling it through
/// the API clears it (and says what it was for), and bad names are specific problems.
#[test]
fn a_destination_disabled_for_failing_is_shown_and_re_enabled() {
    let (kv, clock, asked) = (MemoryKv::new(), ManualClock::at_unix(NOW), Asked::default());
    let targets = destinations::parse(&format!(
        r#"[{{"name":"sink","url":"http://127.0.0.1:9/in","secret":["{KEY}","whsec_b3RoZXIta2V5"],
              "disable_after_failures":2,"max_per_second":50}},
            {{"name":"free","url":"http://127.0.0.1:9/free","secret":"{KEY}"}}]"#
    ))
    .unwrap();
    let (schedule, sender) = (Schedule::parse("5s").unwrap(), Answering(Mutex::new(500)));
    for n in 0..2 {
        ingest(&kv, &clock, &format!("gh-failing-{n}"));
        Dispatcher::new(&kv, &clock, &sender, &targets, &schedule, Tuning::default())
            .dispatch()
            .unwrap();
    }
    // One more while it is disabled: its first attempt is parked, waiting.
    ingest(&kv, &clock, "gh-while-disabled");
    Dispatcher::new(&kv, &clock, &sender, &targets, &schedule, Tuning::default())
        .dispatch()
        .unwrap();
    let api = Api::new(&kv, vars(), &clock, &asked);
    let stats = body_json(&call(&api, authed(Method::GET, "/api/stats", b"", None)));
    let sink = &stats["forwarding"]["sink"];
    assert_eq!(
        sink["disabled"]["reason"], "2 failed attempts in a row",
        "{stats}"
    );
    assert_eq!(sink["disabled"]["waiting"], 1, "{stats}");
    assert_eq!(sink["pending"], 2, "{stats}");
    assert_eq!(
        sink["disabled"]["since"], "2027-01-15T08:00:00.000Z",
        "{stats}"
    );
    assert_eq!(
        sink["settings"],
        serde_json::json!({"secrets": 2, "max_per_second": 50, "disable_after_failures": 2}),
        "{stats}"
    );
    assert!(
        stats["forwarding"]["free"].get("disabled").is_none(),
        "{stats}"
    );
    assert_eq!(
        stats["forwarding"]["free"]["settings"]["secrets"], 1,
        "{stats}"
    );
    let metrics = call(&api, authed(Method::GET, "/api/metrics", b"", None));
    let text = String::from_utf8_lossy(metrics.body());
    assert!(
        text.contains("webhook_inbox_forward_destination_disabled{destination=\"sink\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("webhook_inbox_forward_destination_disabled{destination=\"free\"} 0\n"));

    let enable = |name: &str| {
        let path = format!("/api/destinations/{name}/enable");
        call(&api, authed(Method::POST, &path, b"", None))
    };
    let answer = enable("sink");
    assert_eq!(answer.status(), StatusCode::OK);
    let body = body_json(&answer);
    assert_eq!(body["destination"], "sink");
    assert_eq!(body["was_disabled"]["reason"], "2 failed attempts in a row");
    assert_eq!(body["was_disabled"]["waiting"], 1);
    let stats = body_json(&call(&api, authed(Method::GET, "/api/stats", b"", None)));
    assert!(
        stats["forwarding"]["sink"].get("disabled").is_none(),
        "{stats}"
    );
    // Again: nothing to do, said as such.
    assert_eq!(
        body_json(&enable("sink"))["was_disabled"],
        serde_json::Value::Null
    );

    assert_problem(&enable("nowhere"), 404, "not-found");
    let bad = assert_problem(&enable("Not_A_Name"), 404, "not-found");
    assert_eq!(testing::error_fields(&bad), ["path:name"]);
    let anonymous = testing::request(Method::POST, "/api/destinations/sink/enable", &[], b"");
    assert_problem(&call(&api, anonymous), 401, "unauthorized");
}
