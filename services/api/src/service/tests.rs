//! The API against the in-memory store, with events ingested the way the webhook processor
//! does it.

use std::collections::{BTreeMap, HashSet};

use super::*;
use inbox_core::clock::ManualClock;
use inbox_core::config::{names, StaticVariables};
use inbox_core::events::{Ingested, NewEvent, Provider};
use inbox_core::forwarding::poke::NoPoke;
use inbox_core::http::testing::{
    assert_problem as problem, body_json, call, error_fields as fields, header_of, request,
};
use inbox_core::kv::testing::{FaultyKv, Op};
use inbox_core::kv::MemoryKv;
use proptest::prelude::*;

const TOKEN: &str = "test-api-token";
const NOW: i64 = 1_800_000_000;

fn vars() -> StaticVariables {
    StaticVariables::from_pairs([
        (names::API_TOKEN, TOKEN),
        (names::RETENTION_MAX_EVENTS, "100000"),
        (names::FORWARD_DISPATCH_URL, "http://self"),
        (names::FORWARD_DISPATCH_TOKEN, "dispatch-token"),
    ])
}

fn api<K: KeyValue>(kv: K) -> Api<K, StaticVariables, ManualClock, NoPoke> {
    Api::new(kv, vars(), ManualClock::at_unix(NOW), NoPoke)
}

fn ingest(kv: &MemoryKv, provider: Provider, delivery: &str, kind: &str) -> String {
    let clock = ManualClock::at_unix(NOW);
    let mut event = NewEvent::example(provider, delivery, kind);
    event.headers = BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]);
    match EventStore::new(kv, &clock).ingest(event).unwrap() {
        Ingested::Accepted(meta) => meta.id.as_str().to_owned(),
        Ingested::Duplicate(id) => id.as_str().to_owned(),
    }
}

fn get(path: &str) -> Request {
    request(
        Method::GET,
        path,
        &[("authorization", &format!("Bearer {TOKEN}"))],
        b"",
    )
}

fn authed(method: Method, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    let auth = format!("Bearer {TOKEN}");
    let length = body.len().to_string();
    let mut all = vec![
        ("authorization", auth.as_str()),
        ("content-length", length.as_str()),
    ];
    all.extend_from_slice(headers);
    request(method, path, &all, body)
}

fn patch(id: &str, body: &str, extra: &[(&str, &str)]) -> Request {
    let mut headers = vec![("content-type", "application/merge-patch+json")];
    headers.extend_from_slice(extra);
    authed(
        Method::PATCH,
        &format!("/api/events/{id}"),
        &headers,
        body.as_bytes(),
    )
}

#[test]
fn every_route_template_is_well_formed() {
    let kv = MemoryKv::new();
    let component = api(&kv);
    let templates: Vec<_> = component.router.templates().collect();
    assert!(!templates.is_empty());
    for template in templates {
        assert_eq!(inbox_core::http::template_error(template), None);
    }
}

#[test]
fn every_route_requires_a_valid_bearer_token() {
    let kv = MemoryKv::new();
    let api = api(&kv);
    for op in Operation::ALL
        .iter()
        .filter(|op| op.server() == api_contract::Server::Api)
    {
        let path = op
            .route()
            .replace(":id", "evt_00000000000000000000000000000000");
        let method = Method::from_static(op.method().as_str());
        let response = call(
            &api,
            request(method.clone(), &path, &[("content-length", "2")], b"{}"),
        );
        if op.authenticated() {
            problem(&response, 401, "unauthorized");
            assert_eq!(
                header_of(&response, "www-authenticate"),
                Some("Bearer realm=\"webhook-inbox\"")
            );
            let wrong = call(
                &api,
                request(
                    method,
                    &path,
                    &[("authorization", "Bearer nope"), ("content-length", "2")],
                    b"{}",
                ),
            );
            problem(&wrong, 401, "unauthorized");
            assert!(header_of(&wrong, "www-authenticate")
                .unwrap()
                .contains("invalid_token"));
        } else {
            panic!("{} is unauthenticated but served by the api", op.id());
        }
    }
}

#[test]
fn no_configured_token_means_closed_not_open() {
    let kv = MemoryKv::new();
    let api = Api::new(
        &kv,
        StaticVariables::default(),
        ManualClock::at_unix(NOW),
        NoPoke,
    );
    let response = call(&api, get("/api/events"));
    let body = problem(&response, 503, "misconfigured");
    assert!(body["detail"].as_str().unwrap().contains("api_token"));
}

#[test]
fn every_response_is_no_store_and_nosniff() {
    let kv = MemoryKv::new();
    let id = ingest(&kv, Provider::Github, "h1", "push");
    let api = api(&kv);
    for req in [
        get("/api/events"),
        get(&format!("/api/events/{id}")),
        get("/api/stats"),
        get("/api/openapi.json"),
        get("/api/nowhere"),
        request(Method::GET, "/api/events", &[], b""),
    ] {
        let response = call(&api, req);
        assert_eq!(header_of(&response, "cache-control"), Some("no-store"));
        assert_eq!(
            header_of(&response, "x-content-type-options"),
            Some("nosniff")
        );
    }
}

#[test]
fn listing_is_newest_first_with_cursor_pagination_and_links() {
    let kv = MemoryKv::new();
    let ids: Vec<String> = (0..7)
        .map(|n| ingest(&kv, Provider::Github, &format!("d{n}"), "push"))
        .collect();
    let api = api(&kv);

    let first = call(&api, get("/api/events?limit=3"));
    assert_eq!(first.status(), StatusCode::OK);
    let body = body_json(&first);
    let page: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [&ids[6], &ids[5], &ids[4]]);
    assert!(
        body["items"][0].get("payload").is_none(),
        "listings omit the payload"
    );
    let cursor = body["next_cursor"].as_str().unwrap().to_owned();
    let link = header_of(&first, "link").unwrap();
    assert_eq!(
        link,
        format!("</api/events?limit=3&cursor={cursor}>; rel=\"next\"")
    );

    let mut seen: Vec<String> = page.iter().map(|s| (*s).to_owned()).collect();
    let mut next = Some(cursor);
    while let Some(cursor) = next {
        let body = body_json(&call(
            &api,
            get(&format!("/api/events?limit=3&cursor={cursor}")),
        ));
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        next = body["next_cursor"].as_str().map(str::to_owned);
    }
    let expected: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, expected);
}

#[test]
fn pagination_across_concurrent_inserts_neither_skips_nor_repeats() {
    let kv = MemoryKv::new();
    let before: HashSet<String> = (0..20)
        .map(|n| ingest(&kv, Provider::Stripe, &format!("b{n}"), "t"))
        .collect();
    let api = api(&kv);
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut round = 0;
    loop {
        // New deliveries land between every page.
        ingest(&kv, Provider::Github, &format!("during-{round}"), "push");
        round += 1;
        let path = match &next {
            Some(cursor) => format!("/api/events?limit=4&cursor={cursor}"),
            None => "/api/events?limit=4".to_owned(),
        };
        let body = body_json(&call(&api, get(&path)));
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        next = body["next_cursor"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "repeated: {seen:?}");
    assert!(
        before.is_subset(&unique),
        "skipped: {:?}",
        before.difference(&unique).collect::<Vec<_>>()
    );
}

#[test]
fn filters_by_provider_type_status_and_time() {
    let kv = MemoryKv::new();
    let gh = ingest(&kv, Provider::Github, "g1", "push");
    let st = ingest(&kv, Provider::Stripe, "s1", "invoice.paid");
    ingest(&kv, Provider::Standard, "m1", "user.created");
    let api = api(&kv);
    let ids = |path: &str| -> Vec<String> {
        body_json(&call(&api, get(path)))["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("/api/events?provider=github"), [gh.as_str()]);
    assert_eq!(ids("/api/events?type=invoice.paid"), [st.as_str()]);
    assert!(ids("/api/events?status=processed").is_empty());
    call(&api, patch(&gh, r#"{"status":"processed"}"#, &[]));
    assert_eq!(ids("/api/events?status=processed"), [gh]);
    assert_eq!(
        ids("/api/events?since=2027-01-15T08:00:00Z&until=2027-01-15T08:00:01Z").len(),
        3
    );
    assert!(ids("/api/events?since=2027-01-15T08:00:01Z").is_empty());
}

#[test]
fn invalid_query_parameters_are_400_naming_each() {
    let kv = MemoryKv::new();
    let response = call(
        &api(&kv),
        get("/api/events?limit=500&provider=nosuch&cursor=%21&sort=asc"),
    );
    let body = problem(&response, 400, "invalid-request");
    assert_eq!(fields(&body), ["limit", "provider", "cursor", "sort"]);
}

#[test]
fn get_returns_the_payload_with_a_strong_etag_and_honours_if_none_match() {
    let kv = MemoryKv::new();
    let id = ingest(&kv, Provider::Stripe, "evt_9", "charge.succeeded");
    let api = api(&kv);
    let response = call(&api, get(&format!("/api/events/{id}")));
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(&response);
    assert_eq!(body["id"], id);
    assert_eq!(body["payload"]["json"]["type"], "charge.succeeded");
    assert_eq!(
        body["payload"]["raw_body"],
        r#"{"id":"evt_9","type":"charge.succeeded"}"#
    );
    let tag = header_of(&response, "etag").unwrap().to_owned();
    assert!(tag.starts_with('"') && !tag.starts_with("W/"));

    let path = format!("/api/events/{id}");
    let auth = format!("Bearer {TOKEN}");
    let cached = call(
        &api,
        request(
            Method::GET,
            &path,
            &[("authorization", &auth), ("if-none-match", &tag)],
            b"",
        ),
    );
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert!(cached.body().is_empty());
    assert_eq!(header_of(&cached, "etag"), Some(tag.as_str()));
    let other = call(
        &api,
        request(
            Method::GET,
            &path,
            &[("authorization", &auth), ("if-none-match", "\"stale\"")],
            b"",
        ),
    );
    assert_eq!(other.status(), StatusCode::OK);
    let bad = call(
        &api,
        request(
            Method::GET,
            &path,
            &[("authorization", &auth), ("if-none-match", "stale")],
            b"",
        ),
    );
    assert_eq!(
        fields(&problem(&bad, 400, "invalid-request")),
        ["header:If-None-Match"]
    );
}

#[test]
fn unknown_and_malformed_ids_are_404() {
    let kv = MemoryKv::new();
    let api = api(&kv);
    problem(
        &call(
            &api,
            get("/api/events/evt_00000000000000000000000000000000"),
        ),
        404,
        "not-found",
    );
    let body = problem(&call(&api, get("/api/events/not-an-id")), 404, "not-found");
    assert_eq!(fields(&body), ["path:id"]);
}

#[test]
fn patch_marks_processed_with_if_match_and_moves_the_counters() {
    let kv = MemoryKv::new();
    let id = ingest(&kv, Provider::Github, "p1", "push");
    let api = api(&kv);
    let tag = header_of(&call(&api, get(&format!("/api/events/{id}"))), "etag")
        .unwrap()
        .to_owned();

    let stale = call(
        &api,
        patch(
            &id,
            r#"{"status":"processed"}"#,
            &[("if-match", "\"0000\"")],
        ),
    );
    problem(&stale, 412, "precondition-failed");

    let response = call(
        &api,
        patch(&id, r#"{"status":"processed"}"#, &[("if-match", &tag)]),
    );
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(response.body())
    );
    let body = body_json(&response);
    assert_eq!(body["status"], "processed");
    assert_eq!(body["processed_at"], "2027-01-15T08:00:00.000Z");
    let new_tag = header_of(&response, "etag").unwrap();
    assert_ne!(new_tag, tag);
    // The old tag is now stale.
    problem(
        &call(
            &api,
            patch(&id, r#"{"status":"processed"}"#, &[("if-match", &tag)]),
        ),
        412,
        "precondition-failed",
    );

    let stats = body_json(&call(&api, get("/api/stats")));
    assert_eq!(
        stats["by_provider"]["github"],
        serde_json::json!({"pending": 0, "processed": 1, "total": 1})
    );

    // Final: no way back to pending.
    let body = problem(
        &call(&api, patch(&id, r#"{"status":"pending"}"#, &[])),
        409,
        "conflict",
    );
    assert_eq!(fields(&body), ["/status"]);
    // A plain JSON content type works too, and an empty patch changes nothing.
    let response = call(
        &api,
        authed(
            Method::PATCH,
            &format!("/api/events/{id}"),
            &[("content-type", "application/json")],
            b"{}",
        ),
    );
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn bad_patches_get_specific_problems() {
    let kv = MemoryKv::new();
    let id = ingest(&kv, Provider::Github, "p2", "push");
    let api = api(&kv);
    let cases: [(&str, &[&str]); 5] = [
        (
            r#"{"status":"processed","note":"x","tags":[]}"#,
            &["/note", "/tags"],
        ),
        (r#"{"status":"done"}"#, &["/status"]),
        (r#"{"status":null}"#, &["/status"]),
        (r#"{"status":1}"#, &["/status"]),
        ("[]", &["body"]),
    ];
    for (body, expected) in cases {
        let response = call(&api, patch(&id, body, &[]));
        assert_eq!(
            fields(&problem(&response, 400, "invalid-request")),
            expected,
            "{body}"
        );
    }
    let body = problem(
        &call(&api, patch(&id, "{\"status\":", &[])),
        400,
        "invalid-request",
    );
    assert_eq!(fields(&body), ["body"]);

    let response = call(
        &api,
        authed(
            Method::PATCH,
            &format!("/api/events/{id}"),
            &[("content-type", "text/plain")],
            b"{}",
        ),
    );
    problem(&response, 415, "unsupported-media-type");
    assert_eq!(
        header_of(&response, "accept-patch"),
        Some("application/merge-patch+json, application/json")
    );

    let auth = format!("Bearer {TOKEN}");
    let no_length = request(
        Method::PATCH,
        &format!("/api/events/{id}"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        b"{}",
    );
    problem(&call(&api, no_length), 411, "length-required");

    let big = format!(
        r#"{{"status":"processed","pad":"{}"}}"#,
        "x".repeat(17 * 1024)
    );
    problem(&call(&api, patch(&id, &big, &[])), 413, "payload-too-large");
}

#[test]
fn delete_removes_the_event_once_and_honours_if_match() {
    let kv = MemoryKv::new();
    let id = ingest(&kv, Provider::Stripe, "x1", "t");
    ingest(&kv, Provider::Stripe, "x2", "t");
    let api = api(&kv);
    let path = format!("/api/events/{id}");
    problem(
        &call(
            &api,
            authed(Method::DELETE, &path, &[("if-match", "\"nope\"")], b""),
        ),
        412,
        "precondition-failed",
    );

    let response = call(&api, authed(Method::DELETE, &path, &[], b""));
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.body().is_empty());
    problem(
        &call(&api, authed(Method::DELETE, &path, &[], b"")),
        404,
        "not-found",
    );
    problem(&call(&api, get(&path)), 404, "not-found");
    let stats = body_json(&call(&api, get("/api/stats")));
    assert_eq!(
        stats["total"],
        serde_json::json!({"pending": 1, "processed": 0, "total": 1})
    );
}

#[test]
fn stats_count_per_provider_and_status() {
    let kv = MemoryKv::new();
    ingest(&kv, Provider::Github, "a", "push");
    ingest(&kv, Provider::Github, "b", "push");
    ingest(&kv, Provider::Standard, "c", "x");
    let body = body_json(&call(&api(&kv), get("/api/stats")));
    assert_eq!(body["total"]["pending"], 3);
    assert_eq!(body["by_provider"]["github"]["total"], 2);
    assert_eq!(body["by_provider"]["stripe"]["total"], 0);
    assert_eq!(body["by_provider"]["standard"]["pending"], 1);
}

#[test]
fn accept_must_admit_json() {
    let kv = MemoryKv::new();
    let api = api(&kv);
    let auth = format!("Bearer {TOKEN}");
    for accept in [
        "text/html",
        "application/xml, text/*",
        "application/json;q=0",
        "*/*;q=0.000",
    ] {
        let response = call(
            &api,
            request(
                Method::GET,
                "/api/events",
                &[("authorization", &auth), ("accept", accept)],
                b"",
            ),
        );
        problem(&response, 406, "not-acceptable");
    }
    for accept in [
        "application/json",
        "*/*",
        "text/html, application/*;q=0.5",
        "application/problem+json",
        "application/json;q=0.01",
    ] {
        let response = call(
            &api,
            request(
                Method::GET,
                "/api/events",
                &[("authorization", &auth), ("accept", accept)],
                b"",
            ),
        );
        assert_eq!(response.status(), StatusCode::OK, "{accept}");
    }
}

#[test]
fn wrong_methods_are_405_and_unknown_paths_404() {
    let kv = MemoryKv::new();
    let api = api(&kv);
    let response = call(&api, authed(Method::POST, "/api/events", &[], b"{}"));
    problem(&response, 405, "method-not-allowed");
    assert_eq!(header_of(&response, "allow"), Some("GET, HEAD"));
    let response = call(
        &api,
        authed(
            Method::PUT,
            "/api/events/evt_00000000000000000000000000000000",
            &[],
            b"{}",
        ),
    );
    assert_eq!(
        header_of(&response, "allow"),
        Some("GET, HEAD, PATCH, DELETE")
    );
    problem(&call(&api, get("/api/unknown")), 404, "not-found");
}

#[test]
fn store_failures_are_503_with_retry_after() {
    let kv = MemoryKv::new();
    let id = ingest(&kv, Provider::Github, "f1", "push");
    let faulty = FaultyKv::new(&kv, |op, _, _| op == Op::Get || op == Op::Increment);
    let api = api(&faulty);
    for path in [
        "/api/events".to_owned(),
        format!("/api/events/{id}"),
        "/api/stats".to_owned(),
    ] {
        let response = call(&api, get(&path));
        problem(&response, 503, "store-unavailable");
        assert_eq!(header_of(&response, "retry-after"), Some("5"));
    }
}

#[test]
fn the_openapi_document_covers_every_routed_operation() {
    let document = api_contract::openapi::document_value();
    assert_eq!(document["openapi"], "3.1.0");
    let kv = MemoryKv::new();
    let api = api(&kv);
    for op in Operation::ALL {
        let documented =
            &document["paths"][op.openapi_path()][op.method().as_str().to_ascii_lowercase()];
        assert_eq!(documented["operationId"], op.id());
        if op.server() != api_contract::Server::Api {
            // Another component's (e2e/tests/e2e/manifest.rs checks spin.toml routes it there).
            continue;
        }
        // And it is routed: neither "no such path" nor "no such method".
        let path = op
            .route()
            .replace(":id", "evt_00000000000000000000000000000000");
        let response = call(
            &api,
            authed(
                Method::from_static(op.method().as_str()),
                &path,
                &[("content-type", "application/json")],
                b"{}",
            ),
        );
        let detail = body_json(&response)["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_ne!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{}",
            op.id()
        );
        assert!(
            !detail.starts_with("nothing is served"),
            "{} is not routed",
            op.id()
        );
    }
    let documented_paths = document["paths"].as_object().unwrap().len();
    let routed_paths: HashSet<String> = Operation::ALL.iter().map(|op| op.openapi_path()).collect();
    assert_eq!(documented_paths, routed_paths.len());
}

proptest! {
    /// Whatever the query string, path id or patch body, the answer is never a 5xx.
    #[test]
    fn arbitrary_input_never_causes_a_server_error(
        query in "[ -~]{0,120}",
        id in "[a-zA-Z0-9_%.-]{0,40}",
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let kv = MemoryKv::new();
        let real = ingest(&kv, Provider::Github, "prop", "push");
        let api = api(&kv);
        let query = query.replace(['#', ' '], "");
        for req in [
            get(&format!("/api/events?{query}")),
            get(&format!("/api/events/{id}")),
            authed(Method::PATCH, &format!("/api/events/{real}"), &[("content-type", "application/json")], &body),
            authed(Method::DELETE, &format!("/api/events/{id}"), &[("if-match", &query)], b""),
        ] {
            let response = call(&api, req);
            prop_assert!(!response.status().is_server_error(), "{}", String::from_utf8_lossy(response.body()));
        }
    }
}

#[test]
fn probes_need_no_token_and_succeed_quietly() {
    let kv = MemoryKv::new();
    let mut vars = vars();
    vars.set(names::LOG_LEVEL, "info");
    let service = Api::new(&kv, vars, ManualClock::at_unix(1_800_000_000), NoPoke);
    let (responses, logs) = inbox_core::logging::CapturedLogs::capture(|| {
        ["/api/healthz", "/api/readyz"]
            .map(|path| call(&service, request(Method::GET, path, &[], b"")))
    });
    let [live, ready] = responses;
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(body_json(&live)["status"], "ok");
    assert_eq!(ready.status(), StatusCode::OK, "{}", body_json(&ready));
    assert!(logs.lines().is_empty(), "{}", logs.text());
    assert!(
        kv.keys().is_empty(),
        "the probe key is removed: {:?}",
        kv.keys()
    );
}

#[test]
fn readiness_fails_when_a_variable_is_missing() {
    // log_level is not set here: Spin always defines it (spin.toml has a default), so its absence
    // means the component was not granted it.
    let kv = MemoryKv::new();
    let response = call(&api(&kv), request(Method::GET, "/api/readyz", &[], b""));
    let problem = problem(&response, 503, "not-ready");
    assert!(problem["checks"][1]["error"]
        .as_str()
        .unwrap()
        .contains(names::LOG_LEVEL));
}

#[test]
fn handed_over_secrets_are_listed_per_provider_newest_first() {
    let kv = MemoryKv::new();
    let at = |s: i64| inbox_core::time::Timestamp::from_unix_seconds(s);
    let empty = body_json(&call(&api(&kv), get("/api/handshakes")));
    assert_eq!(empty, serde_json::json!({"secrets": []}));

    handshakes::keep(&kv, "asana", "first", at(NOW)).unwrap();
    handshakes::keep(&kv, "notion", "secret_n", at(NOW + 1)).unwrap();
    handshakes::keep(&kv, "asana", "second", at(NOW + 2)).unwrap();
    let response = call(&api(&kv), get("/api/handshakes"));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(&response, "cache-control"), Some("no-store"));
    let body = body_json(&response);
    let listed: Vec<(&str, &str)> = body["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["provider"].as_str().unwrap(),
                s["secret"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("asana", "second"),
            ("asana", "first"),
            ("notion", "secret_n")
        ]
    );
    assert_eq!(
        body["secrets"][0]["received_at"],
        "2027-01-15T08:00:02.000Z"
    );

    let failing = FaultyKv::new(&kv, |op, _, _| op == Op::Get);
    problem(
        &call(&api(&failing), get("/api/handshakes")),
        503,
        "store-unavailable",
    );
}

#[test]
fn the_catalogue_lists_the_generic_sources_the_webhook_reported() {
    let kv = MemoryKv::new();
    let body = body_json(&call(&api(&kv), get("/api/providers")));
    assert_eq!(body["sources"], serde_json::json!([]));
    assert_eq!(body["configured_as_of"], serde_json::Value::Null);

    let billing = configured::source_token("billing", "hmac-timestamped");
    let at = inbox_core::time::Timestamp::from_unix_seconds(NOW);
    configured::record(&kv, &["github", &billing], at).unwrap();
    let body = body_json(&call(&api(&kv), get("/api/providers")));
    assert_eq!(
        body["sources"],
        serde_json::json!([{
            "name": "billing",
            "path": "/webhooks/source/billing",
            "scheme_family": "hmac-timestamped",
            "secret_variable": "webhook_source_secret",
        }])
    );
    let github = body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slug"] == "github")
        .unwrap();
    assert_eq!(github["configured"], true);
    // A source's token is not a provider.
    assert!(body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| !p["slug"].as_str().unwrap().starts_with("source/")));
}

/// `parse_patch` as it was written over `serde_json::Value`: the patch parser must answer every
/// body exactly as this does (it reads the body without building a `Value`, to stay small).
fn parse_patch_over_value(body: &[u8]) -> Result<Option<EventStatus>, Problem> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|error| {
        Problem::invalid(
            format!("the patch is not valid JSON: {error}"),
            vec![FieldError::new("body", error.to_string())],
        )
    })?;
    let serde_json::Value::Object(members) = value else {
        return Err(Problem::invalid(
            "a merge patch of an event is a JSON object",
            vec![FieldError::new("body", "not an object")],
        ));
    };
    let mut errors: Vec<FieldError> = members
        .keys()
        .filter(|key| key.as_str() != "status")
        .map(|key| FieldError::new(format!("/{key}"), "unknown member; only status can change"))
        .collect();
    let status = match members.get("status") {
        None => None,
        Some(serde_json::Value::String(text)) => match EventStatus::parse(text) {
            Some(status) => Some(status),
            None => {
                errors.push(FieldError::new("/status", "must be pending or processed"));
                None
            }
        },
        Some(serde_json::Value::Null) => {
            errors.push(FieldError::new("/status", "cannot be removed"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("/status", "must be a string"));
            None
        }
    };
    if errors.is_empty() {
        Ok(status)
    } else {
        Err(Problem::invalid("the patch is invalid", errors))
    }
}

fn assert_patch_answer_as_over_value(body: &[u8]) {
    let ours = parse_patch(body).map_err(|problem| problem.into_response().body().to_vec());
    let reference =
        parse_patch_over_value(body).map_err(|problem| problem.into_response().body().to_vec());
    assert_eq!(
        ours.as_ref().map_err(|b| String::from_utf8_lossy(b)),
        reference.as_ref().map_err(|b| String::from_utf8_lossy(b)),
        "{}",
        String::from_utf8_lossy(body)
    );
}

#[test]
fn patches_are_read_as_a_json_value_would_read_them() {
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let deep_status = format!(r#"{{"status":{}1{}}}"#, "[".repeat(127), "]".repeat(127));
    for body in [
        "",
        " ",
        "{}",
        "null",
        "true",
        "1",
        "-1.5e3",
        r#""processed""#,
        "[]",
        r#"[{"status":"processed"}]"#,
        r#"{"status":"processed"}"#,
        r#"{"status":"pending"}"#,
        r#"{"status":"done"}"#,
        r#"{"status":"proc\u0065ssed"}"#,
        r#"{"status":null}"#,
        r#"{"status":1}"#,
        r#"{"status":1e400}"#,
        r#"{"status":"processed","x":1e400}"#,
        r#"{"status":"processed","x":[1,{"y":-0.0,"z":[null,true,"\ud800"]}]}"#,
        r#"{"status":"processed","x":"\ud800"}"#,
        r#"{"status":"processed","x":"\uDC00\uD800"}"#,
        r#"{"status":[],"zeta":{},"alpha":1,"zeta":2,"":3}"#,
        r#"{"status":"done","status":"processed"}"#,
        r#"{"status":"processed","status":null}"#,
        r#"{"status":"processed",}"#,
        r#"{"status":"processed"} x"#,
        r#"{"status":"processed"}{}"#,
        "{\"status\":",
        "{\"a\":\u{1}}",
        "\u{feff}{}",
        r#"{"a":18446744073709551616,"b":-9223372036854775809,"c":01}"#,
        nested.as_str(),
        deep_status.as_str(),
    ] {
        assert_patch_answer_as_over_value(body.as_bytes());
    }
    assert_patch_answer_as_over_value(b"{\"status\":\"\xff\"}");
    assert_patch_answer_as_over_value(b"{\"\xc3\":1}");
}

proptest! {
    /// Any body, and any object of JSON-ish members, gets the answer a `Value` would give.
    #[test]
    fn arbitrary_patches_are_read_as_a_json_value_would_read_them(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        members in proptest::collection::vec(
            ("(status|[a-z]{0,3})", r#"(null|true|-?[0-9]{1,25}(\.[0-9])?(e-?[0-9]{1,3})?|"[a-z\\"]{0,6}"|\[[0-9,]{0,6}\]|\{"[a-z]?":[0-9nul]{0,4}\})"#),
            0..5,
        ),
    ) {
        assert_patch_answer_as_over_value(&bytes);
        let object = members
            .iter()
            .map(|(name, value)| format!(r#""{name}":{value}"#))
            .collect::<Vec<_>>()
            .join(",");
        assert_patch_answer_as_over_value(format!("{{{object}}}").as_bytes());
    }
}
