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
    for provider in Provider::named() {
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
        Provider::named().count() >= 60,
        "{} providers",
        Provider::named().count()
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

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// No row's verifier panics, whatever the headers and body: every header a row reads is
        /// replaced by arbitrary text.
        #[test]
        fn no_verifier_panics(
            which in any::<prop::sample::Index>(),
            junk in ".{0,120}",
            body in proptest::collection::vec(any::<u8>(), 0..300),
            now in any::<i64>(),
        ) {
            let vectors = vectors();
            let vector = &vectors[which.index(vectors.len())];
            let provider = Provider::parse(&vector.provider).unwrap();
            let headers: BTreeMap<String, String> = vector
                .headers
                .keys()
                .map(|name| (name.clone(), junk.clone()))
                .collect();
            let lookup = |name: &str| headers.get(name).map(String::as_str);
            let request = Request {
                header: &lookup,
                body: &body,
                url: Some(&junk),
                now_millis: now,
                tolerance: Duration::from_secs(300),
            };
            let _ = provider.spec().scheme.verify(&request, &[b"key"]);
        }

        /// For every row that signs its body, any one-byte change of the body, or of a signed
        /// header's value, fails.
        #[test]
        fn any_change_to_what_is_signed_fails(
            which in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let vectors = vectors();
            let vector = &vectors[which.index(vectors.len())];
            let provider = Provider::parse(&vector.provider).unwrap();
            let spec = provider.spec();
            let Scheme::Hashed(hashed) = spec.scheme else {
                return Ok(());
            };
            let key = key(spec.secret_format, &vector.secret);
            if provider != Provider::Mailgun {
                let mut body = vector.body.clone().into_bytes();
                let i = at.index(body.len().max(1));
                if let Some(byte) = body.get_mut(i) {
                    *byte ^= flip;
                    prop_assert!(!verify(provider, vector, &body, &key), "{provider}: body byte {i}");
                }
            }
            for part in hashed.signed {
                if let webhook_verify::scheme::Part::Header(name) = part {
                    let mut changed = Vector { headers: vector.headers.clone(), ..clone(vector) };
                    let value = changed.headers.get_mut(*name).unwrap();
                    value.push('x');
                    prop_assert!(
                        !verify(provider, &changed, vector.body.as_bytes(), &key),
                        "{provider}: header {name}"
                    );
                }
            }
        }
    }

    fn clone(vector: &Vector) -> Vector {
        Vector {
            provider: vector.provider.clone(),
            proof: vector.proof.clone(),
            secret: vector.secret.clone(),
            headers: vector.headers.clone(),
            body: vector.body.clone(),
            url: vector.url.clone(),
            now: vector.now,
        }
    }
}

#[test]
fn each_listing_is_its_row() {
    for &provider in Provider::ALL {
        let (spec, listing) = (provider.spec(), provider.listing());
        assert_eq!(listing.name, provider.name());
        assert_eq!(listing.scheme_family, spec.scheme.family());
        assert_eq!(listing.handshake, spec.handshake.map(Handshake::name));
        assert_eq!(listing.proof, spec.proof.kind());
    }
}
