//! Every provider of the catalogue end to end against the real `spin up`, each delivery built
//! from its row (e2e/src/deliveries.rs): accepted, its retry a duplicate, forged refused, stale
//! refused where the scheme signs a Unix timestamp, a wrong media type refused; and the
//! handshakes answered as each provider documents them, never stored.

// Test code: a panic here is a failed test, which is what these would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use e2e::deliveries::{delivery, has_replay_window, secret_of, Shape};
use e2e::signing::{configured, now, API_TOKEN};
use e2e::start_or_skip;
use provider_catalogue::{Provider, Scheme, SecretFormat};

/// Another valid secret of the same format: what a forger would sign with.
fn forged_secret(provider: Provider) -> String {
    match (provider.spec().secret_format, provider.spec().scheme) {
        (SecretFormat::StandardWebhooks, _) => format!("whsec_{}", BASE64.encode("forged-key")),
        (SecretFormat::Base64, _) => BASE64.encode("forged-key"),
        (SecretFormat::Text, Scheme::Basic) => "inbox:forged".to_owned(),
        (SecretFormat::Text, _) => "forged-secret".to_owned(),
    }
}

#[test]
fn every_provider_accepts_dedups_and_refuses_forged_stale_and_mistyped_deliveries() {
    let app = start_or_skip!("every provider end to end", configured());
    let client = app.client();
    let base_url = client.base_url();
    let mut failures = Vec::new();
    for provider in Provider::named() {
        let slug = provider.as_str();
        let id = format!("{slug}-e2e-{}", now());
        let shape = Shape {
            id: &id,
            event_type: "e2e.test",
            timestamp: now(),
            base_url: &base_url,
        };
        let good = delivery(provider, shape, &secret_of(provider));
        let mut expect = |what: &str, request: &e2e::deliveries::Delivery, status: u16| {
            let response = request.request(&client).send().unwrap();
            if response.status != status {
                failures.push(format!(
                    "{slug} {what}: {} (wanted {status}): {}",
                    response.status,
                    response.text()
                ));
            }
        };
        expect(
            "forged",
            &delivery(provider, shape, &forged_secret(provider)),
            401,
        );
        if has_replay_window(provider) {
            let stale = Shape {
                timestamp: now() - 3600,
                ..shape
            };
            expect(
                "stale",
                &delivery(provider, stale, &secret_of(provider)),
                401,
            );
        }
        expect("wrong media type", &good.as_media_type("text/plain"), 415);
        expect("accepted", &good, 202);
        expect("retried", &good, 200);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Each provider's one event is stored under it, and the list filter finds it.
    for provider in Provider::named() {
        let response = client
            .get(&format!(
                "/api/events?provider={}&limit=5",
                provider.as_str()
            ))
            .bearer(API_TOKEN)
            .send()
            .unwrap();
        assert_eq!(response.status, 200, "{}", response.text());
        let items = response.json()["items"].as_array().unwrap().len();
        assert_eq!(items, 1, "{provider}: {items} events stored");
    }
}

/// How many events are stored for `provider`.
fn stored(client: &e2e::Client, provider: Provider) -> usize {
    let response = client
        .get(&format!(
            "/api/events?provider={}&limit=50",
            provider.as_str()
        ))
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["items"].as_array().unwrap().len()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[test]
fn every_documented_handshake_is_answered_as_documented_and_never_stored() {
    let app = start_or_skip!("provider handshakes", configured());
    let client = app.client();
    let base = client.base_url();
    let json = |text: &str| -> serde_json::Value { serde_json::from_str(text).unwrap() };

    // Twitch: a signed webhook_callback_verification, answered with the raw challenge.
    let twitch = e2e::deliveries::signed_json(
        Provider::Twitch,
        &[
            ("twitch-eventsub-message-id", "tw-challenge-1"),
            (
                "twitch-eventsub-message-type",
                "webhook_callback_verification",
            ),
        ],
        &json(
            r#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}"#,
        ),
        &base,
    );
    let response = twitch.request(&client).send().unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "pogchamp-kappa-360noscope-vohiyo")
    );
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));

    // Zoom: endpoint.url_validation, answered with the token and its HMAC under the secret.
    let zoom = e2e::deliveries::signed_json(
        Provider::Zoom,
        &[],
        &json(
            r#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#,
        ),
        &base,
    );
    let response = zoom.request(&client).send().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let answer = response.json();
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    let expected = hex_encode(&hmac_sha256(
        secret_of(Provider::Zoom).as_bytes(),
        b"qgg8vlvZRS6UYooatFL8Aw",
    ));
    assert_eq!(answer["encryptedToken"], expected.as_str());

    // LINE's and Xero's endpoint checks: signed, with no events; 200.
    for provider in [Provider::Line, Provider::Xero] {
        let check = e2e::deliveries::signed_json(provider, &[], &json(r#"{"events":[]}"#), &base);
        let response = check.request(&client).send().unwrap();
        assert_eq!(response.status, 200, "{provider}: {}", response.text());
    }

    // Front: a signed request carrying x-front-challenge, answered with its value.
    let front = e2e::deliveries::signed_json(
        Provider::Front,
        &[("x-front-challenge", "front-challenge-value")],
        &json(r#"{"type":"sync"}"#),
        &base,
    );
    let response = front.request(&client).send().unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "front-challenge-value")
    );

    // Slack: url_verification (also in providers.rs), here through the row.
    let slack = e2e::deliveries::signed_json(
        Provider::Slack,
        &[],
        &json(r#"{"type":"url_verification","challenge":"slack-challenge"}"#),
        &base,
    );
    let response = slack.request(&client).send().unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "slack-challenge")
    );

    // Dropbox: GET ?challenge=, echoed as text/plain with nosniff.
    let response = client
        .get("/webhooks/dropbox?challenge=dbx-123")
        .send()
        .unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "dbx-123")
    );
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    client
        .get("/webhooks/dropbox")
        .send()
        .unwrap()
        .assert_problem(400);

    // Meta: GET hub.* with the verify token set to a configured secret.
    let meta_secret = secret_of(Provider::Meta);
    let response = client
        .get(&format!(
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token={meta_secret}&hub.challenge=1158201444"
        ))
        .send()
        .unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "1158201444")
    );
    client
        .get("/webhooks/meta?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")
        .send()
        .unwrap()
        .assert_problem(401);

    // X: GET ?crc_token=, answered with sha256=<base64 HMAC of the token>.
    let response = client.get("/webhooks/x?crc_token=crc-abc").send().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let expected = format!(
        "sha256={}",
        BASE64.encode(hmac_sha256(secret_of(Provider::X).as_bytes(), b"crc-abc"))
    );
    assert_eq!(response.json()["response_token"], expected.as_str());

    // Okta: GET with x-okta-verification-challenge, answered {"verification": value}.
    let response = client
        .get("/webhooks/okta")
        .header("x-okta-verification-challenge", "okta-challenge-1")
        .send()
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["verification"], "okta-challenge-1");

    // A HEAD endpoint check (Trello) is 200; a GET where the provider has no GET handshake 405.
    let response = client.request("HEAD", "/webhooks/trello").send().unwrap();
    assert_eq!(response.status, 200);
    client
        .get("/webhooks/github")
        .send()
        .unwrap()
        .assert_problem(405);

    // Asana and Notion hand over their signing secret, unsigned: answered (Asana's header
    // echoed), kept for the operator, listed by the API, never stored as an event.
    let response = client
        .post("/webhooks/asana")
        .header("x-hook-secret", "e2e-asana-handed-over-0f3a")
        .send()
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("x-hook-secret"),
        Some("e2e-asana-handed-over-0f3a")
    );
    let response = client
        .post("/webhooks/notion")
        .header("content-type", "application/json")
        .body(r#"{"verification_token":"secret_e2eNotionHandedOver"}"#)
        .send()
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let response = client
        .get("/api/handshakes")
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let secrets: Vec<(String, String)> = response.json()["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["provider"].as_str().unwrap().to_owned(),
                s["secret"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        secrets,
        [
            ("asana".to_owned(), "e2e-asana-handed-over-0f3a".to_owned()),
            ("notion".to_owned(), "secret_e2eNotionHandedOver".to_owned()),
        ]
    );
    client
        .get("/api/handshakes")
        .send()
        .unwrap()
        .assert_problem(401);

    // Microsoft Graph validates a subscription's URL with a POST carrying ?validationToken=,
    // answered with the decoded token as text/plain.
    let response = client
        .post("/webhooks/msgraph?validationToken=Validation%3A%20Testing%20client%20application%20reachability")
        .header("content-type", "text/plain; charset=utf-8")
        .send()
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.text(),
        "Validation: Testing client application reachability"
    );
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    // Nothing of the above was stored.
    for provider in [
        Provider::MicrosoftGraph,
        Provider::Asana,
        Provider::Notion,
        Provider::Twitch,
        Provider::Zoom,
        Provider::Line,
        Provider::Xero,
        Provider::Front,
        Provider::Slack,
        Provider::Dropbox,
        Provider::Meta,
        Provider::X,
        Provider::Okta,
        Provider::Trello,
    ] {
        assert_eq!(stored(&client, provider), 0, "{provider}");
    }

    // A shared value in the body (Graph's clientState) authenticates the notification and is
    // not stored: the payload and the raw body keep "[redacted]" in its place.
    let secret = secret_of(Provider::MicrosoftGraph);
    let notification = serde_json::json!({"value": [{
        "subscriptionId": "sub-e2e", "clientState": secret, "changeType": "updated",
        "resource": "users/u-1"}]});
    let delivery =
        e2e::deliveries::signed_json(Provider::MicrosoftGraph, &[], &notification, &base);
    let response = delivery.request(&client).send().unwrap();
    assert_eq!(response.status, 202, "{}", response.text());
    let id = response.json()["id"].as_str().unwrap().to_owned();
    let event = client
        .get(&format!("/api/events/{id}"))
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(event.status, 200, "{}", event.text());
    assert_eq!(
        event.json()["payload"]["json"]["value"][0]["clientState"],
        "[redacted]"
    );
    assert_eq!(event.json()["event_type"], "updated");
    assert!(!event.text().contains(&secret), "{}", event.text());
    let forged = serde_json::json!({"value": [{"clientState": "guess", "changeType": "updated"}]});
    client
        .post("/webhooks/msgraph")
        .header("content-type", "application/json")
        .body(forged.to_string())
        .send()
        .unwrap()
        .assert_problem(401);
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn generic_sources_configured_without_code_verify_dedup_and_refuse() {
    use e2e::deliveries::GENERIC_SOURCES;
    let app = start_or_skip!(
        "generic sources",
        configured().variable("webhook_sources", GENERIC_SOURCES)
    );
    let client = app.client();
    let t = now().to_string();
    let hmac = |secret: &str, body: &str| {
        BASE64.encode(hmac_sha256(
            secret.as_bytes(),
            format!("{t}.{body}").as_bytes(),
        ))
    };
    let acme = |delivery: &str, secret: &str, timestamp: &str| {
        let body = format!(r#"{{"kind":"order.paid","n":"{delivery}"}}"#);
        client
            .post("/webhooks/source/acme")
            .header("content-type", "application/json")
            .header("x-acme-delivery", delivery)
            .header("x-acme-timestamp", timestamp)
            .header("x-acme-signature", &format!("v1={}", hmac(secret, &body)))
            .body(body)
    };

    // HMAC over a template with a timestamp, either secret of a rotation; the retry a duplicate.
    let response = acme("a-1", "e2e-acme-old", &t).send().unwrap();
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(acme("a-1", "e2e-acme-old", &t).send().unwrap().status, 200);
    assert_eq!(acme("a-2", "e2e-acme-new", &t).send().unwrap().status, 202);
    acme("a-3", "forged", &t)
        .send()
        .unwrap()
        .assert_problem(401);
    // A stale timestamp fails (the signature is computed over the current one, so the
    // timestamp header alone moves: a mismatch; a correctly signed stale one: out of tolerance).
    let old = (now() - 3600).to_string();
    let body = r#"{"kind":"order.paid","n":"a-4"}"#;
    let stale = BASE64.encode(hmac_sha256(
        b"e2e-acme-old",
        format!("{old}.{body}").as_bytes(),
    ));
    client
        .post("/webhooks/source/acme")
        .header("content-type", "application/json")
        .header("x-acme-delivery", "a-4")
        .header("x-acme-timestamp", &old)
        .header("x-acme-signature", &format!("v1={stale}"))
        .body(body)
        .send()
        .unwrap()
        .assert_problem(401);

    // An API key, and Basic credentials.
    let billing = |key: &str, id: &str| {
        client
            .post("/webhooks/source/billing")
            .header("content-type", "application/json")
            .header("authorization", &format!("Bearer {key}"))
            .body(format!(
                r#"{{"event":{{"id":"{id}","kind":"invoice.created"}}}}"#
            ))
    };
    assert_eq!(
        billing("e2e-billing-key", "b-1").send().unwrap().status,
        202
    );
    assert_eq!(
        billing("e2e-billing-key", "b-1").send().unwrap().status,
        200
    );
    billing("wrong", "b-2").send().unwrap().assert_problem(401);
    let legacy = |credentials: &str| {
        client
            .post("/webhooks/source/legacy")
            .header("content-type", "application/json")
            .header(
                "authorization",
                &format!("Basic {}", BASE64.encode(credentials)),
            )
            .body(r#"{"hello":"legacy"}"#)
    };
    assert_eq!(legacy("inbox:e2e-legacy").send().unwrap().status, 202);
    assert_eq!(legacy("inbox:e2e-legacy").send().unwrap().status, 200);
    legacy("inbox:wrong").send().unwrap().assert_problem(401);

    // HMAC-SHA512 of the body, hex.
    let ledger = |secret: &[u8], id: &str| {
        use hmac::{Hmac, Mac};
        let body = format!(r#"{{"id":"{id}","type":"entry.posted"}}"#);
        let mut mac = <Hmac<sha2::Sha512> as Mac>::new_from_slice(secret).unwrap();
        mac.update(body.as_bytes());
        let signature = hex_encode(&mac.finalize().into_bytes());
        client
            .post("/webhooks/source/ledger")
            .header("content-type", "application/json")
            .header("x-ledger-signature", &signature)
            .body(body)
    };
    let response = ledger(b"e2e-ledger-key", "l-1").send().unwrap();
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(ledger(b"e2e-ledger-key", "l-1").send().unwrap().status, 200);
    ledger(b"forged", "l-2").send().unwrap().assert_problem(401);

    // Unknown sources, and the generic row at the named providers' route, are 404.
    client
        .post("/webhooks/source/nosuch")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap()
        .assert_problem(404);
    client
        .post("/webhooks/source")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap()
        .assert_problem(404);

    // Stored under provider `source`, each source's name (and label) its source, its delivery
    // ids under its name.
    let response = client
        .get("/api/events?provider=source&limit=50")
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    let items = response.json()["items"].as_array().unwrap().clone();
    let mut seen: Vec<(String, String)> = items
        .iter()
        .map(|item| {
            (
                item["source"].as_str().unwrap_or_default().to_owned(),
                item["delivery_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(seen.len(), 5, "{items:?}");
    assert_eq!(seen[0].0, "acme");
    assert_eq!(seen[0].1, "acme:a-1");
    assert_eq!(seen[1], ("acme-next".to_owned(), "acme:a-2".to_owned()));
    assert_eq!(seen[2], ("billing".to_owned(), "billing:b-1".to_owned()));
    assert_eq!(seen[3], ("ledger".to_owned(), "ledger:l-1".to_owned()));
    assert_eq!(seen[4].0, "legacy");

    // The API's catalogue lists them, as the webhook component's readiness recorded them.
    let response = client.get("/webhooks/readyz").send().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let response = client
        .get("/api/providers")
        .bearer(API_TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let listed: Vec<(String, String, String)> = response.json()["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["path"].as_str().unwrap().to_owned(),
                s["scheme_family"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = |name: &str, family: &str| {
        (
            name.to_owned(),
            format!("/webhooks/source/{name}"),
            family.to_owned(),
        )
    };
    assert_eq!(
        listed,
        [
            expect("acme", "hmac-timestamped"),
            expect("billing", "token"),
            expect("legacy", "basic-auth"),
            expect("ledger", "hmac-body"),
        ]
    );
}

#[test]
fn a_bad_source_configuration_is_named_by_readiness_without_its_secrets() {
    let app = start_or_skip!(
        "a bad generic source",
        configured().variable("webhook_sources", "acme: auth=hmac digest=md5 header=x")
    );
    let client = app.client();
    let response = client.get("/webhooks/readyz").send().unwrap();
    assert_eq!(response.status, 503, "{}", response.text());
    let text = response.text();
    assert!(
        text.contains("webhook_sources") && text.contains("source acme"),
        "{text}"
    );
    assert!(!text.contains("e2e-acme"), "{text}");
}
