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
    for provider in Provider::ALL {
        let slug = provider.as_str();
        let id = format!("{slug}-e2e-{}", now());
        let shape = Shape {
            id: &id,
            event_type: "e2e.test",
            timestamp: now(),
            base_url: &base_url,
        };
        let good = delivery(*provider, shape, &secret_of(*provider));
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
            &delivery(*provider, shape, &forged_secret(*provider)),
            401,
        );
        if has_replay_window(*provider) {
            let stale = Shape {
                timestamp: now() - 3600,
                ..shape
            };
            expect(
                "stale",
                &delivery(*provider, stale, &secret_of(*provider)),
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
    for provider in Provider::ALL {
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
