//! The catalogue against itself and against the vectors in `vectors.json` (written by
//! `tools/provider-vectors/vectors.py`, independently of this code, from each provider's
//! documentation, or copied from what the provider published).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use webhook_verify::scheme::Request;

use super::*;

#[derive(Debug, serde::Deserialize)]
struct Vector {
    provider: String,
    proof: String,
    secret: String,
    headers: BTreeMap<String, String>,
    body: String,
    url: Option<String>,
    now: i64,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("../vectors.json")).unwrap()
}

/// The key a secret stands for, as the provider's secret format says.
fn key(format: SecretFormat, secret: &str) -> Vec<u8> {
    match format {
        SecretFormat::Text => secret.as_bytes().to_vec(),
        SecretFormat::StandardWebhooks => {
            BASE64.decode(secret.trim_start_matches("whsec_")).unwrap()
        }
        SecretFormat::Base64 => BASE64.decode(secret).unwrap(),
    }
}

fn verify(provider: Provider, vector: &Vector, body: &[u8], key: &[u8]) -> bool {
    let lookup = |name: &str| vector.headers.get(name).map(String::as_str);
    let request = Request {
        header: &lookup,
        body,
        url: vector.url.as_deref(),
        now_millis: vector.now * 1000,
        tolerance: Duration::from_secs(300),
    };
    provider.spec().scheme.verify(&request, &[key]).is_ok()
}

#[test]
fn every_provider_has_a_vector_its_scheme_verifies_and_a_change_fails() {
    let vectors = vectors();
    let covered: BTreeSet<&str> = vectors.iter().map(|v| v.provider.as_str()).collect();
    for provider in Provider::ALL {
        assert!(
            covered.contains(provider.as_str()),
            "{provider} has no vector"
        );
    }
    for vector in &vectors {
        let provider = Provider::parse(&vector.provider).unwrap();
        let spec = provider.spec();
        let key = key(spec.secret_format, &vector.secret);
        assert!(
            verify(provider, vector, vector.body.as_bytes(), &key),
            "{provider}: its vector does not verify"
        );
        let mut other = key.clone();
        other.push(b'x');
        assert!(
            !verify(provider, vector, vector.body.as_bytes(), &other),
            "{provider}: another key"
        );
        // A body the scheme signs cannot change (Mailgun signs only its timestamp and token).
        let signs_body = matches!(spec.scheme, Scheme::Hashed(_)) && provider != Provider::Mailgun;
        if signs_body {
            let mut changed = vector.body.clone().into_bytes();
            if let Some(last) = changed.iter().rposition(|b| b.is_ascii_alphanumeric()) {
                changed[last] ^= 0x01;
            }
            assert!(
                !verify(provider, vector, &changed, &key),
                "{provider}: a changed body"
            );
        }
        if spec.proof == Proof::Published {
            assert_eq!(vector.proof, "published", "{provider}");
        }
    }
}

#[test]
fn slugs_are_path_and_variable_safe_and_unique() {
    let mut seen = BTreeSet::new();
    for provider in Provider::ALL {
        let slug = provider.as_str();
        assert!(
            !slug.is_empty()
                && slug
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{slug}"
        );
        assert!(seen.insert(slug), "{slug} twice");
        assert_eq!(provider.secret_variable(), format!("webhook_{slug}_secret"));
        assert_eq!(Provider::parse(slug), Some(*provider));
        let spec = provider.spec();
        assert!(
            !provider.name().is_empty() && provider.docs().starts_with("https://"),
            "{slug}"
        );
        assert!(!spec.media_types.is_empty(), "{slug}");
    }
    assert!(
        Provider::ALL.len() >= 60,
        "{} providers",
        Provider::ALL.len()
    );
}

#[test]
fn every_header_a_row_reads_is_kept_and_credentials_are_not() {
    for (provider, spec) in specs() {
        let kept = spec.kept_headers();
        for field in [Some(spec.delivery_id), Some(spec.event_type), spec.action]
            .into_iter()
            .flatten()
        {
            if let Field::Header(name) = field {
                assert!(kept.contains(&name), "{provider}: {name}");
            }
        }
        match spec.scheme {
            Scheme::Basic => assert!(!kept.contains(&"authorization"), "{provider}"),
            Scheme::Token(token) => assert!(!kept.contains(&token.header), "{provider}"),
            Scheme::Hashed(_) => {}
        }
    }
}

