//! Signed deliveries, built the way each provider builds them (with the project's own
//! `webhook-verify` signers, which are checked against the providers' published vectors).

use std::time::{SystemTime, UNIX_EPOCH};

use webhook_verify::{github, linear, shopify, slack, standard, stripe};

use crate::http::{Client, RequestBuilder};

/// Test secrets, one per provider. Obviously fake.
pub const GITHUB_SECRET: &str = "e2e-github-secret";
/// Test secret for Stripe.
pub const STRIPE_SECRET: &str = "whsec_e2e_stripe_secret";
/// Test secret for Standard Webhooks (`whsec_` + base64 of "e2e-standard-webhooks-key").
pub const STANDARD_SECRET: &str = "whsec_ZTJlLXN0YW5kYXJkLXdlYmhvb2tzLWtleQ==";
/// Test secret for Shopify.
pub const SHOPIFY_SECRET: &str = "e2e-shopify-client-secret";
/// Test signing secret for Slack.
pub const SLACK_SECRET: &str = "e2e-slack-signing-secret";
/// Test signing secret for Linear.
pub const LINEAR_SECRET: &str = "lin_wh_e2e_signing_secret";
/// The dispatch token the e2e apps are started with (what the webhook and api present).
pub const DISPATCH_TOKEN: &str = "e2e-dispatch-token";
/// The API token the e2e apps are started with.
pub const API_TOKEN: &str = "e2e-api-token";

/// Every secret variable the tests configure, with its test value: the API token and one secret
/// per provider.
pub const SECRETS: [(&str, &str); 8] = [
    ("webhook_github_secret", GITHUB_SECRET),
    ("webhook_stripe_secret", STRIPE_SECRET),
    ("webhook_standard_secret", STANDARD_SECRET),
    ("webhook_shopify_secret", SHOPIFY_SECRET),
    ("webhook_slack_secret", SLACK_SECRET),
    ("webhook_linear_secret", LINEAR_SECRET),
    ("api_token", API_TOKEN),
    ("forward_dispatch_token", DISPATCH_TOKEN),
];

/// The test value of a secret variable (a Secret key on Kubernetes), if the tests configure it.
pub fn secret_of_variable(name: &str) -> Option<&'static str> {
    SECRETS
        .iter()
        .find(|(variable, _)| *variable == name)
        .map(|(_, value)| *value)
}

/// Every secret variable the e2e apps are configured with, and its value: the ones named above,
/// and for every other provider of the catalogue its derived test secret.
pub fn all_secrets() -> Vec<(&'static str, String)> {
    let named = SECRETS
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()));
    let derived = provider_catalogue::Provider::ALL
        .iter()
        .filter(|provider| secret_of_variable(provider.secret_variable()).is_none())
        .map(|provider| {
            (
                provider.secret_variable(),
                crate::deliveries::secret_of(*provider),
            )
        });
    named.chain(derived).collect()
}

/// The test value of any secret variable (a Secret key on Kubernetes), derived ones included.
pub fn secret_value(name: &str) -> Option<String> {
    all_secrets()
        .into_iter()
        .find(|(variable, _)| *variable == name)
        .map(|(_, value)| value)
}

/// The app options with every provider and the API configured.
pub fn configured() -> crate::SpinOptions {
    all_secrets()
        .iter()
        .fold(crate::SpinOptions::default(), |options, (name, value)| {
            options.variable(name, value)
        })
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// A GitHub delivery of `body` with JSON content type.
pub fn github(client: &Client, delivery: &str, event: &str, body: &str) -> RequestBuilder {
    client
        .post("/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-delivery", delivery)
        .header("x-github-event", event)
        .header(
            "x-hub-signature-256",
            &github::sign(GITHUB_SECRET.as_bytes(), body.as_bytes()),
        )
        .body(body)
}

/// A Stripe event `{"id": id, "type": kind, ...}` signed at `timestamp`.
pub fn stripe(client: &Client, id: &str, kind: &str, timestamp: i64) -> RequestBuilder {
    let body =
        serde_json::json!({"id": id, "object": "event", "type": kind, "data": {"object": {}}})
            .to_string();
    stripe_raw(client, &body, timestamp, Some("application/json"))
}

/// Any body, correctly signed the Stripe way at `timestamp`, with the given `Content-Type` (or
/// none): for the cases where the signature is right and something else is wrong.
pub fn stripe_raw(
    client: &Client,
    body: &str,
    timestamp: i64,
    content_type: Option<&str>,
) -> RequestBuilder {
    let mut request = client.post("/webhooks/stripe").header(
        "stripe-signature",
        &stripe::sign(STRIPE_SECRET.as_bytes(), timestamp, body.as_bytes()),
    );
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(body)
}

/// A Standard Webhooks message `{"type": kind, ...}` with id `id`, signed at `timestamp`.
pub fn standard(client: &Client, id: &str, kind: &str, timestamp: i64) -> RequestBuilder {
    let body = serde_json::json!({"type": kind, "timestamp": "2026-01-01T00:00:00Z", "data": {}})
        .to_string();
    let key = standard::Key::parse(STANDARD_SECRET).expect("the test secret is valid");
    client
        .post("/webhooks/standard")
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", &timestamp.to_string())
        .header(
            "webhook-signature",
            &standard::sign(&key, id, timestamp, body.as_bytes()),
        )
        .body(body)
}

/// A Shopify delivery of `body` (`X-Shopify-Topic: topic`), signed with `secret`.
pub fn shopify(client: &Client, id: &str, topic: &str, body: &str, secret: &str) -> RequestBuilder {
    client
        .post("/webhooks/shopify")
        .header("content-type", "application/json")
        .header("x-shopify-webhook-id", id)
        .header("x-shopify-topic", topic)
        .header("x-shopify-shop-domain", "e2e.myshopify.com")
        .header(
            "x-shopify-hmac-sha256",
            &shopify::sign(secret.as_bytes(), body.as_bytes()),
        )
        .body(body)
}

/// A Slack Events API request of `body`, signed at `timestamp`.
pub fn slack(client: &Client, body: &str, timestamp: i64) -> RequestBuilder {
    client
        .post("/webhooks/slack")
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", &timestamp.to_string())
        .header(
            "x-slack-signature",
            &slack::sign(SLACK_SECRET.as_bytes(), timestamp, body.as_bytes()),
        )
        .body(body)
}

/// A Slack `event_callback` with this `event_id` and inner event type.
pub fn slack_event(event_id: &str, kind: &str) -> String {
    serde_json::json!({
        "token": "e2e", "team_id": "T0E2E", "api_app_id": "A0E2E", "type": "event_callback",
        "event_id": event_id, "event_time": 1, "event": {"type": kind, "text": "hello"}
    })
    .to_string()
}

/// A Linear delivery (`Linear-Event: event`, body `action`), timestamped at `at_ms`.
pub fn linear(
    client: &Client,
    delivery: &str,
    event: &str,
    action: &str,
    at_ms: i64,
) -> RequestBuilder {
    let body = serde_json::json!({
        "action": action, "type": event, "data": {"id": "e2e"}, "webhookTimestamp": at_ms
    })
    .to_string();
    client
        .post("/webhooks/linear")
        .header("content-type", "application/json; charset=utf-8")
        .header("linear-delivery", delivery)
        .header("linear-event", event)
        .header(
            "linear-signature",
            &linear::sign(LINEAR_SECRET.as_bytes(), body.as_bytes()),
        )
        .body(body)
}
