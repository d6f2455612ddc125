//! The providers added after the first three (Shopify, Slack, Linear), labelled secrets and
//! untyped Standard Webhooks deliveries, against the real `spin up`: accepted, duplicated,
//! forged, stale, wrong media type; Slack's challenge; sources recorded and filtered.

// Test code: a panic here is a failed test, which is what these would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use e2e::signing::{self, configured, now, API_TOKEN};
use e2e::start_or_skip;

fn listed(client: &e2e::Client, query: &str) -> Vec<serde_json::Value> {
    let response = client
        .get(&format!("/api/events?{query}"))
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["items"].as_array().unwrap().clone()
}

#[test]
fn shopify_slack_and_linear_refuse_forged_stale_and_mistyped_deliveries() {
    let app = start_or_skip!("new providers refusals", configured());
    let client = app.client();
    let t = now();
    // Forged: signed with another secret.
    signing::shopify(
        &client,
        "sh-forged",
        "orders/create",
        "{}",
        "not-the-secret",
    )
    .send()
    .unwrap()
    .assert_problem(401);
    let forged = signing::slack(&client, &signing::slack_event("Ev-forged", "x"), t)
        .header("x-slack-signature", &format!("v0={}", "ab".repeat(32)));
    forged.send().unwrap().assert_problem(401);
    signing::linear(&client, "lin-forged", "Issue", "create", t * 1000)
        .header("linear-signature", &"cd".repeat(32))
        .send()
        .unwrap()
        .assert_problem(401);
    // Stale: 400 s old, the tolerance is 300 s.
    signing::slack(&client, &signing::slack_event("Ev-stale", "x"), t - 400)
        .send()
        .unwrap()
        .assert_problem(401);
    signing::linear(&client, "lin-stale", "Issue", "create", (t - 400) * 1000)
        .send()
        .unwrap()
        .assert_problem(401);
    // Wrong media type: 415 with Accept-Post.
    for (request, provider) in [
        (
            signing::shopify(
                &client,
                "sh-415",
                "orders/create",
                "{}",
                signing::SHOPIFY_SECRET,
            ),
            "shopify",
        ),
        (
            signing::slack(&client, &signing::slack_event("Ev-415", "x"), t),
            "slack",
        ),
        (
            signing::linear(&client, "lin-415", "Issue", "create", t * 1000),
            "linear",
        ),
    ] {
        let response = request.header("content-type", "text/plain").send().unwrap();
        let problem = response.assert_problem(415);
        assert!(problem["detail"].as_str().unwrap().contains(provider));
        assert_eq!(response.header("accept-post"), Some("application/json"));
    }
    // Nothing of that was stored.
    assert!(listed(&client, "").is_empty());
}

#[test]
fn slack_url_verification_is_answered_with_its_challenge_and_not_stored() {
    let app = start_or_skip!("slack challenge", configured());
    let client = app.client();
    // The request in Slack's documentation ("url_verification event").
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let response = signing::slack(&client, body, now()).send().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        response.text(),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    assert!(listed(&client, "provider=slack").is_empty());
    // A retry of an event (X-Slack-Retry-Num) is a duplicate.
    let event = signing::slack_event("Ev0RETRY", "message");
    let first = signing::slack(&client, &event, now()).send().unwrap();
    assert_eq!(first.status, 202);
    let retry = signing::slack(&client, &event, now())
        .header("x-slack-retry-num", "1")
        .header("x-slack-retry-reason", "http_timeout")
        .send()
        .unwrap();
    assert_eq!(retry.status, 200);
    assert_eq!(retry.json()["duplicate"], true);
    let items = listed(&client, "provider=slack");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["event_type"], "message");
}

#[test]
fn labelled_secrets_tell_senders_apart_and_are_filterable() {
    let secrets = format!(
        "org-a=e2e-org-a-secret org-b=e2e-org-b-old org-b={}",
        signing::GITHUB_SECRET
    );
    let app = start_or_skip!(
        "labelled secrets",
        configured().variable("webhook_github_secret", &secrets)
    );
    let client = app.client();
    let body = r#"{"action":"opened","issue":{"number":7}}"#;
    let sign = |secret: &str| webhook_verify::github::sign(secret.as_bytes(), body.as_bytes());
    for (delivery, secret) in [
        ("from-a", "e2e-org-a-secret".to_owned()),
        ("from-b-old", "e2e-org-b-old".to_owned()),
        ("from-b-new", signing::GITHUB_SECRET.to_owned()),
    ] {
        let response = signing::github(&client, delivery, "issues", body)
            .header("x-hub-signature-256", &sign(&secret))
            .send()
            .unwrap();
        assert_eq!(response.status, 202, "{delivery}: {}", response.text());
    }
    let sources = |query: &str| -> Vec<String> {
        listed(&client, query)
            .iter()
            .map(|item| item["delivery_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(sources("source=org-a"), ["from-a"]);
    assert_eq!(sources("source=org-b"), ["from-b-new", "from-b-old"]);
    // The action is recorded and filterable with the type (GitHub's `issues` + `opened`).
    assert_eq!(sources("type=issues&action=opened").len(), 3);
    assert!(sources("type=issues&action=closed").is_empty());
    let item = &listed(&client, "source=org-a")[0];
    assert_eq!(item["source"], "org-a");
    assert_eq!(item["action"], "opened");
    // A malformed label list takes the component out of rotation, naming the variable only.
    let broken = start_or_skip!(
        "labelled secrets malformed",
        configured().variable("webhook_github_secret", "-bad=e2e-very-secret")
    );
    let ready = broken.client().get("/webhooks/readyz").send().unwrap();
    let problem = ready.assert_problem(503);
    let text = problem.to_string();
    assert!(text.contains("webhook_github_secret"), "{text}");
    assert!(!text.contains("e2e-very-secret"), "{text}");
}

#[test]
fn standard_webhooks_without_a_type_are_stored_untyped_and_filterable() {
    let app = start_or_skip!("untyped standard", configured());
    let client = app.client();
    let t = now();
    let body = r#"{"data":{"n":1}}"#;
    let key = webhook_verify::standard::Key::parse(signing::STANDARD_SECRET).unwrap();
    let response = client
        .post("/webhooks/standard")
        .header("content-type", "application/json")
        .header("webhook-id", "msg_untyped_e2e")
        .header("webhook-timestamp", &t.to_string())
        .header(
            "webhook-signature",
            &webhook_verify::standard::sign(&key, "msg_untyped_e2e", t, body.as_bytes()),
        )
        .body(body)
        .send()
        .unwrap();
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(
        signing::standard(&client, "msg_typed_e2e", "user.created", t)
            .send()
            .unwrap()
            .status,
        202
    );
    let untyped = listed(&client, "has_type=false");
    assert_eq!(untyped.len(), 1);
    assert_eq!(untyped[0]["delivery_id"], "msg_untyped_e2e");
    assert!(untyped[0].get("event_type").is_none(), "{}", untyped[0]);
    assert_eq!(listed(&client, "has_type=true").len(), 1);
    // A type and no type at once matches nothing (a valid query, not an error).
    assert!(listed(&client, "has_type=false&type=user.created").is_empty());
}
