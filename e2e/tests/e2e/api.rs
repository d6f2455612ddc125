//! The event inbox API against the real `spin up`, over events ingested through the real
//! webhook processor.

// Test code: a panic here is a failed test, which is what these would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;

use e2e::receiver::Receiver;
use e2e::signing::{self, configured, now, API_TOKEN};
use e2e::{start_or_skip, Client, SpinOptions};

fn ingest_github(client: &Client, delivery: &str, event: &str) -> String {
    let response = signing::github(
        client,
        delivery,
        event,
        &format!(r#"{{"delivery":"{delivery}"}}"#),
    )
    .send()
    .unwrap();
    assert_eq!(response.status, 202, "{}", response.text());
    response.json()["id"].as_str().unwrap().to_owned()
}

fn get(client: &Client, path: &str) -> e2e::Response {
    client.get(path).bearer(API_TOKEN).send().unwrap()
}

#[test]
fn pages_through_250_deliveries_exactly_once_newest_first() {
    let app = start_or_skip!("api pagination", configured());
    let client = app.client();
    let t = now();
    let mut ingested = Vec::new();
    for n in 0..250 {
        let response = match n % 3 {
            0 => signing::github(
                &client,
                &format!("gh-{n}"),
                "push",
                &format!(r#"{{"n":{n}}}"#),
            ),
            1 => signing::stripe(&client, &format!("evt_{n}"), "invoice.paid", t),
            _ => signing::standard(&client, &format!("msg_{n}"), "user.created", t),
        }
        .send()
        .unwrap();
        assert_eq!(response.status, 202, "delivery {n}: {}", response.text());
        ingested.push(response.json()["id"].as_str().unwrap().to_owned());
    }

    let mut seen = Vec::new();
    let mut path = "/api/events?limit=50".to_owned();
    let mut pages = 0;
    loop {
        let response = get(&client, &path);
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        let body = response.json();
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 50);
        assert!(items.iter().all(|item| item.get("payload").is_none()));
        seen.extend(
            items
                .iter()
                .map(|item| item["id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                let link = response.header("link").unwrap();
                assert!(
                    link.contains(cursor) && link.ends_with("rel=\"next\""),
                    "{link}"
                );
                path = format!("/api/events?limit=50&cursor={cursor}");
            }
            None => {
                assert!(response.header("link").is_none());
                break;
            }
        }
    }
    assert_eq!(pages, 5);
    let newest_first: Vec<String> = ingested.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first, "every event exactly once, newest first");
}

#[test]
fn filters_read_update_delete_and_stats() {
    let app = start_or_skip!("api lifecycle", configured());
    let client = app.client();
    let push = ingest_github(&client, "life-1", "push");
    let issue = ingest_github(&client, "life-2", "issues");
    let t = now();
    let stripe = signing::stripe(&client, "evt_life", "invoice.paid", t)
        .send()
        .unwrap()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Filters.
    let ids = |path: &str| -> Vec<String> {
        let response = get(&client, path);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        response.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids("/api/events?provider=github"),
        [issue.clone(), push.clone()]
    );
    assert_eq!(ids("/api/events?type=invoice.paid"), [stripe.as_str()]);
    assert_eq!(
        ids("/api/events?provider=github&type=push&status=pending"),
        [push.as_str()]
    );
    assert_eq!(
        ids("/api/events?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z").len(),
        3
    );
    assert!(ids("/api/events?until=2000-01-01T00:00:00Z").is_empty());

    // Read one, with its payload and ETag; If-None-Match.
    let response = get(&client, &format!("/api/events/{push}"));
    assert_eq!(response.status, 200);
    let event = response.json();
    assert_eq!(event["payload"]["json"]["delivery"], "life-1");
    assert_eq!(event["payload"]["raw_body"], r#"{"delivery":"life-1"}"#);
    assert!(event["payload"]["headers"]["x-hub-signature-256"]
        .as_str()
        .unwrap()
        .starts_with("sha256="));
    let etag = response.header("etag").unwrap().to_owned();
    let cached = client
        .get(&format!("/api/events/{push}"))
        .bearer(API_TOKEN)
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());

    // Mark processed: a stale If-Match is refused, the current one works, and no If-Match too.
    let path = format!("/api/events/{push}");
    let stale = client
        .request("PATCH", &path)
        .bearer(API_TOKEN)
        .header("content-type", "application/merge-patch+json")
        .header("if-match", "\"00000000000000000000000000000000\"")
        .body(r#"{"status":"processed"}"#)
        .send()
        .unwrap();
    stale.assert_problem(412);
    let updated = client
        .request("PATCH", &path)
        .bearer(API_TOKEN)
        .header("content-type", "application/merge-patch+json")
        .header("if-match", &etag)
        .body(r#"{"status":"processed"}"#)
        .send()
        .unwrap();
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(updated.json()["status"], "processed");
    assert_ne!(updated.header("etag"), Some(etag.as_str()));
    let unconditional = client
        .request("PATCH", &format!("/api/events/{issue}"))
        .bearer(API_TOKEN)
        .json(&serde_json::json!({"status": "processed"}))
        .send()
        .unwrap();
    assert_eq!(unconditional.status, 200);
    // Processed is final.
    client
        .request("PATCH", &path)
        .bearer(API_TOKEN)
        .json(&serde_json::json!({"status": "pending"}))
        .send()
        .unwrap()
        .assert_problem(409);
    assert_eq!(
        ids("/api/events?status=processed"),
        [issue.clone(), push.clone()]
    );

    // Delete.
    let deleted = client
        .request("DELETE", &format!("/api/events/{stripe}"))
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(deleted.status, 204);
    get(&client, &format!("/api/events/{stripe}")).assert_problem(404);
    client
        .request("DELETE", &format!("/api/events/{stripe}"))
        .bearer(API_TOKEN)
        .send()
        .unwrap()
        .assert_problem(404);

    // Stats.
    let stats = get(&client, "/api/stats").json();
    assert_eq!(
        stats["total"],
        serde_json::json!({"pending": 0, "processed": 2, "total": 2})
    );
    assert_eq!(stats["by_provider"]["github"]["processed"], 2);
    assert_eq!(stats["by_provider"]["stripe"]["total"], 0);
}

#[test]
fn every_auth_failure() {
    let app = start_or_skip!("api auth", configured());
    let client = app.client();
    for (header, error) in [
        (None, None),
        (Some("Bearer wrong-token"), Some("invalid_token")),
        (
            Some(format!("Basic {API_TOKEN}").as_str()),
            Some("invalid_request"),
        ),
        (Some("Bearer"), Some("invalid_request")),
    ] {
        let mut request = client.get("/api/events");
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.send().unwrap();
        response.assert_problem(401);
        let challenge = response.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with("Bearer realm=\"webhook-inbox\""),
            "{challenge}"
        );
        if let Some(error) = error {
            assert!(challenge.contains(error), "{header:?}: {challenge}");
        }
    }
    // The document is public.
    assert_eq!(client.get("/api/openapi.json").send().unwrap().status, 200);
}

#[test]
fn without_a_configured_token_the_api_is_closed() {
    let app = start_or_skip!("api closed", SpinOptions::default());
    let response = get(&app.client(), "/api/events");
    let body = response.assert_problem(503);
    assert!(
        body["detail"].as_str().unwrap().contains("api_token"),
        "{body}"
    );
    assert!(response.header("retry-after").is_some());
}

#[test]
fn rotation_accepts_old_and_new_tokens() {
    let app = start_or_skip!(
        "api rotation",
        SpinOptions::default().variable("api_token", "old-one new-one")
    );
    for token in ["old-one", "new-one"] {
        assert_eq!(
            app.client()
                .get("/api/stats")
                .bearer(token)
                .send()
                .unwrap()
                .status,
            200
        );
    }
}

#[test]
fn every_bad_input_gets_its_own_problem() {
    let app = start_or_skip!("api bad input", configured());
    let client = app.client();
    let id = ingest_github(&client, "bad-1", "push");
    let path = format!("/api/events/{id}");

    // 400: each invalid query parameter named.
    let body = get(
        &client,
        "/api/events?limit=0&provider=nosuch&status=open&since=soon&cursor=zz&order=asc",
    )
    .assert_problem(400);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["limit", "provider", "status", "since", "cursor", "order"]
    );
    get(&client, "/api/events?limit=201").assert_problem(400);
    get(&client, "/api/events?type=").assert_problem(400);
    get(&client, "/api/events?cursor=").assert_problem(400);
    // An empty window is a valid query: it matches nothing (the document cannot say "later
    // than since", so the server does not refuse it).
    let empty = get(
        &client,
        "/api/events?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
    );
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["items"], serde_json::json!([]));

    // 404: malformed and unknown ids, unknown API paths.
    let body = get(&client, "/api/events/nope").assert_problem(404);
    assert_eq!(body["errors"][0]["field"], "path:id");
    get(&client, "/api/events/evt_00000000000000000000000000000000").assert_problem(404);
    get(&client, "/api/everything").assert_problem(404);

    // PATCH: unknown members, invalid JSON, invalid status, wrong media type, no length, too big.
    let patch = |body: &str, content_type: &str| {
        client
            .request("PATCH", &path)
            .bearer(API_TOKEN)
            .header("content-type", content_type)
            .body(body.to_owned())
    };
    let body = patch(
        r#"{"status":"processed","colour":"red"}"#,
        "application/merge-patch+json",
    )
    .send()
    .unwrap()
    .assert_problem(400);
    assert_eq!(body["errors"][0]["field"], "/colour");
    let body = patch("{", "application/json")
        .send()
        .unwrap()
        .assert_problem(400);
    assert_eq!(body["errors"][0]["field"], "body");
    let body = patch(r#"{"status":"done"}"#, "application/json")
        .send()
        .unwrap()
        .assert_problem(400);
    assert_eq!(body["errors"][0]["field"], "/status");
    let response = patch(r#"{"status":"processed"}"#, "text/plain")
        .send()
        .unwrap();
    response.assert_problem(415);
    assert!(response
        .header("accept-patch")
        .unwrap()
        .contains("application/merge-patch+json"));
    patch(r#"{"status":"processed"}"#, "application/json")
        .chunked()
        .send()
        .unwrap()
        .assert_problem(411);
    let big = format!(r#"{{"status":"processed","pad":"{}"}}"#, "x".repeat(20_000));
    patch(&big, "application/json")
        .send()
        .unwrap()
        .assert_problem(413);

    // 412: a malformed or stale If-Match on DELETE; the event survives.
    client
        .request("DELETE", &path)
        .bearer(API_TOKEN)
        .header("if-match", "\"stale\"")
        .send()
        .unwrap()
        .assert_problem(412);
    let body = client
        .request("DELETE", &path)
        .bearer(API_TOKEN)
        .header("if-match", "stale")
        .send()
        .unwrap()
        .assert_problem(400);
    assert_eq!(body["errors"][0]["field"], "header:If-Match");
    assert_eq!(get(&client, &path).status, 200);

    // 406 and 405.
    client
        .get("/api/events")
        .bearer(API_TOKEN)
        .header("accept", "text/html")
        .send()
        .unwrap()
        .assert_problem(406);
    let response = client
        .post("/api/events")
        .bearer(API_TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    response.assert_problem(405);
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
}

/// Every operation the OpenAPI document lists is called, and answers with one of the statuses
/// the document declares for it.
#[test]
fn every_documented_operation_answers_as_documented() {
    // One destination, so that the operations on destinations have one to work on.
    let receiver = Receiver::ok();
    let destinations = serde_json::json!([{"name": "contract", "url": receiver.url("/in"),
        "secret": "whsec_ZTJlLWNvbnRyYWN0LWtleQ=="}]); // obviously fake
    let options = configured().variable("forward_destinations", &destinations.to_string());
    let app = start_or_skip!("api contract", options);
    let client = app.client();
    let id = ingest_github(&client, "contract-1", "push");
    // A dispatch round registers the destination (whatever the ask after the 202 did).
    let round = client
        .post("/api/dispatch")
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(round.status, 200, "{}", round.text());
    let document = client.get("/api/openapi.json").send().unwrap().json();
    assert_eq!(document["openapi"], "3.1.0");

    let mut exercised = HashSet::new();
    let paths = document["paths"].as_object().unwrap();
    // DELETE last, so the event still exists for the others.
    let mut operations: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (path.clone(), m.clone()))
        })
        .collect();
    operations.sort_by_key(|(_, method)| method == "delete");
    for (template, method) in operations {
        let path = template.replace("{id}", &id).replace("{name}", "contract");
        let mut request = client
            .request(&method.to_ascii_uppercase(), &path)
            .bearer(API_TOKEN);
        if method == "patch" {
            request = request.json(&serde_json::json!({"status": "processed"}));
        }
        let response = request.send().unwrap();
        let declared = document["paths"][&template][&method]["responses"]
            .as_object()
            .unwrap();
        assert!(
            declared.contains_key(&response.status.to_string()),
            "{method} {template} answered {} which is not documented: {}",
            response.status,
            response.text()
        );
        assert!(
            response.status < 300,
            "{method} {template}: {}",
            response.text()
        );
        exercised.insert(
            document["paths"][&template][&method]["operationId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let expected: HashSet<String> = api_contract::Operation::ALL
        .iter()
        .map(|operation| operation.id().to_owned())
        .collect();
    assert_eq!(exercised, expected);
}

/// Every answer declares its length instead of being sent chunked. A chunked answer made Spin
/// write the head, the body and the closing chunk separately, and with Nagle's algorithm on its
/// listener a share of them waited ~40 ms for the client's delayed ACK (BENCHMARKS.md).
#[test]
fn answers_are_length_framed_not_chunked() {
    let app = start_or_skip!("api framing", configured());
    let client = app.client();
    ingest_github(&client, "e2e-framing-1", "push");
    for (path, status) in [
        ("/api/events?limit=50", 200),
        ("/api/stats", 200),
        ("/api/events/evt_00000000000000000000000000000000", 404),
        ("/healthz", 200),
        ("/nowhere", 404),
    ] {
        let response = get(&client, path);
        assert_eq!(response.status, status, "{path}: {}", response.text());
        assert_eq!(response.header("transfer-encoding"), None, "{path}");
        let length = response.body.len().to_string();
        assert_eq!(
            response.header("content-length"),
            Some(length.as_str()),
            "{path}"
        );
    }
    let head = client
        .request("HEAD", "/api/stats")
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}
