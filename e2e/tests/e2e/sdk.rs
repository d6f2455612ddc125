//! Every provider whose row says `Proof::Sdk(package)`, proven against the real `spin up` with
//! that package (e2e/sdk/prove.mjs, one node process per batch; docs/providers-proof.md):
//!
//! - a library that signs signs a delivery per provider; the app accepts it (202) and answers the
//!   same delivery again as a duplicate (200);
//! - a library that only verifies is given the delivery our own signer (the row's scheme) builds:
//!   it must find it valid, and a copy with one byte of the body changed invalid; the app accepts
//!   ours (202).
//!
//! The rows and the harness must agree both ways: a row claiming a library the harness has no
//! case for fails, so does a harness case whose row does not name that package.
//!
//! Needs node and `e2e/sdk/node_modules` (`npm ci` there; the test command installs it): without
//! them the test SKIPs loudly, and fails when `REQUIRE_SPIN=1`.

// Test code: a panic here is a failed test, which is what these would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::signing::{configured, now};
use e2e::start_or_skip;
use provider_catalogue::{specs, BodyFormat, Field, Proof, Provider, Scheme, SecretFormat, Spec};
use serde_json::{json, Value};
use webhook_verify::scheme::{Clock, Hashed, Request, Timestamp, Unit};

/// At least this many providers are proven by their own library (issue 24).
const AT_LEAST: usize = 25;

/// The harness's directory.
fn sdk_dir() -> PathBuf {
    e2e::repo_root().join("e2e/sdk")
}

/// Node and the installed harness, or `None` after a loud SKIP (a failure when required).
pub(crate) fn harness(test: &str) -> Option<PathBuf> {
    let node = e2e::require_program("NODE_BIN", "node", test)?;
    let installed = sdk_dir().join("node_modules/.package-lock.json");
    if installed.is_file() {
        return Some(node);
    }
    let hint = "run `npm ci --ignore-scripts --no-audit --no-fund` in e2e/sdk \
                (scripts/test.sh e2e does it when missing)";
    if e2e::prerequisites_required() {
        panic!("REQUIRE_SPIN=1 but e2e/sdk/node_modules is not installed: {hint}");
    }
    eprintln!(
        "\n\
         ************************************************************************\n\
         SKIPPED {test}: e2e/sdk/node_modules is not installed ({hint}).\n\
         Set REQUIRE_SPIN=1 to make this a failure.\n\
         ************************************************************************\n"
    );
    None
}

/// Runs prove.mjs with `args` and `input` on stdin; its JSON answer.
pub(crate) fn prove(node: &Path, args: &[&str], input: &Value) -> Value {
    let mut child = Command::new(node)
        .arg("prove.mjs")
        .args(args)
        .current_dir(sdk_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prove.mjs {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "prove.mjs answered no JSON ({error}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// What the harness proves: slug -> (package, signs).
fn harness_cases(node: &Path) -> BTreeMap<String, (String, bool)> {
    let list = prove(node, &["--list"], &Value::Null);
    list.as_object()
        .unwrap()
        .iter()
        .map(|(slug, case)| {
            (
                slug.clone(),
                (
                    case["package"].as_str().unwrap().to_owned(),
                    case["kind"] == "signs",
                ),
            )
        })
        .collect()
}

/// The test secret of a provider, in its row's format.
fn secret(provider: Provider, format: SecretFormat) -> String {
    match format {
        SecretFormat::Text => format!("e2e-sdk-{provider}-secret"),
        SecretFormat::StandardWebhooks => {
            // `whsec_` and the base64 of 24 bytes of key (no padding, so no `=`).
            let mut key = format!("e2e-sdk-key-{provider}-");
            key.truncate(24);
            while key.len() < 24 {
                key.push('-');
            }
            format!("whsec_{}", base64_of(key.as_bytes()))
        }
        SecretFormat::Base64 => base64_of(format!("e2e-sdk-{provider}-key").as_bytes()),
    }
}

/// Standard base64 with padding (the test needs it for a few secrets only).
fn base64_of(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The key our signer uses for that secret.
fn key(format: SecretFormat, secret: &str) -> Vec<u8> {
    match format {
        SecretFormat::Text => secret.as_bytes().to_vec(),
        SecretFormat::StandardWebhooks => webhook_verify::standard::Key::parse(secret)
            .unwrap()
            .as_bytes()
            .to_vec(),
        SecretFormat::Base64 => panic!("no SDK case keys with a base64 secret yet"),
    }
}

/// `t` as RFC 3339 UTC (`2026-12-06T20:00:00Z`): Box's and Twitch's timestamp headers, written
/// by the project's own `Timestamp`.
fn rfc3339(t: i64) -> String {
    inbox_core::time::Timestamp::from_unix_seconds(t).to_rfc3339_seconds()
}

/// Sets `value` at a JSON pointer, creating objects (or arrays, for numeric segments) on the way.
fn set(root: &mut Value, pointer: &str, value: Value) {
    let mut here = root;
    for segment in pointer.trim_start_matches('/').split('/') {
        if let Ok(index) = segment.parse::<usize>() {
            if !here.is_array() {
                *here = json!([]);
            }
            let list = here.as_array_mut().unwrap();
            while list.len() <= index {
                list.push(Value::Null);
            }
            here = &mut list[index];
        } else {
            if !here.is_object() {
                *here = json!({});
            }
            here = here
                .as_object_mut()
                .unwrap()
                .entry(segment)
                .or_insert(Value::Null);
        }
    }
    *here = value;
}

/// A delivery as the provider would send it, before signing.
struct Delivery {
    provider: Provider,
    spec: &'static Spec,
    secret: String,
    body: String,
    /// Every header but the signature's (and a signed timestamp's).
    headers: Vec<(String, String)>,
    /// The URL the app sees (`spin-full-url`).
    url: String,
}

/// The body and headers a row reads: its delivery id, event type and action where the row says,
/// a signed timestamp in the body, and the headers a provider's library insists on.
fn delivery(provider: Provider, spec: &'static Spec, base_url: &str, t: i64) -> Delivery {
    let mut body = Value::Null;
    let mut headers = vec![("content-type".to_owned(), spec.media_types[0].to_owned())];
    let fields = [
        (Some(spec.delivery_id), format!("e2e-sdk-{provider}-1")),
        (Some(spec.event_type), "e2e.sdk_proof".to_owned()),
        (spec.action, "proven".to_owned()),
    ];
    for (field, value) in fields {
        match field {
            Some(Field::Header(name)) => headers.push((name.to_owned(), value)),
            Some(Field::Json(pointer)) => set(&mut body, pointer, Value::String(value)),
            _ => {}
        }
    }
    if let Scheme::Hashed(Hashed {
        timestamp:
            Some(Timestamp {
                clock: Clock::Body(pointer),
                unit,
            }),
        ..
    }) = spec.scheme
    {
        let value = if unit == Unit::Millis { t * 1000 } else { t };
        set(&mut body, pointer, json!(value));
    }
    match provider {
        Provider::Shopify => {
            headers.push(("x-shopify-shop-domain".into(), "e2e.myshopify.com".into()));
            headers.push(("x-shopify-api-version".into(), "2025-10".into()));
        }
        Provider::Twitch => {
            headers.push(("twitch-eventsub-message-timestamp".into(), rfc3339(t)));
            headers.push(("twitch-eventsub-message-type".into(), "notification".into()));
        }
        Provider::Box => {
            headers.push(("box-delivery-timestamp".into(), rfc3339(t)));
            headers.push(("box-signature-version".into(), "1".into()));
            headers.push(("box-signature-algorithm".into(), "HmacSHA256".into()));
        }
        _ => {}
    }
    let body = if spec.body == BodyFormat::Form {
        format!("AccountSid=ACe2e&Body=SDK+proof+%E2%9C%93&From=%2B15550001111&MessageSid=SMe2e{provider}")
    } else {
        match body {
            Value::Null => json!({"sdk_proof": provider.as_str()}),
            Value::Object(mut object) => {
                object.insert("sdk_proof".into(), json!(provider.as_str()));
                Value::Object(object)
            }
            other => other,
        }
        .to_string()
    };
    Delivery {
        provider,
        spec,
        secret: secret(provider, spec.secret_format),
        body,
        headers,
        url: format!("{base_url}/webhooks/{provider}"),
    }
}

impl Delivery {
    /// The signature headers our own signer (the row's scheme) adds.
    fn signed_by_us(&self, body: &str, t: i64) -> Vec<(String, String)> {
        let unit = match self.spec.scheme {
            Scheme::Hashed(Hashed {
                timestamp: Some(Timestamp { unit, .. }),
                ..
            }) => unit,
            _ => Unit::Seconds,
        };
        let timestamp = if unit == Unit::Millis { t * 1000 } else { t }.to_string();
        let lookup = |name: &str| {
            self.headers
                .iter()
                .find(|(header, _)| header == name)
                .map(|(_, value)| value.as_str())
        };
        let request = Request {
            header: &lookup,
            body: body.as_bytes(),
            url: Some(&self.url),
            now_millis: t * 1000,
            tolerance: Duration::from_secs(300),
        };
        let key = key(self.spec.secret_format, &self.secret);
        self.spec
            .scheme
            .sign(&request, &key, &timestamp)
            .unwrap_or_else(|error| panic!("{}: our signer: {error}", self.provider))
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    /// POSTs `body` with our headers and `extra` to the app.
    fn post(&self, app: &e2e::SpinApp, body: &str, extra: &[(String, String)]) -> e2e::Response {
        let mut request = app.client().post(&format!("/webhooks/{}", self.provider));
        for (name, value) in self.headers.iter().chain(extra) {
            request = request.header(name, value);
        }
        request.body(body).send().unwrap()
    }
}

/// The body with its last letter or digit changed (still well-formed JSON or form).
fn tampered(body: &str) -> String {
    let mut bytes = body.as_bytes().to_vec();
    let last = bytes
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .expect("a body with a letter");
    bytes[last] = if bytes[last] == b'x' { b'y' } else { b'x' };
    String::from_utf8(bytes).unwrap()
}

fn headers_object(headers: &[(String, String)]) -> Value {
    Value::Object(
        headers
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect(),
    )
}

#[test]
fn every_sdk_proven_provider_is_proven_by_its_own_library_against_spin() {
    let test = "sdk proofs";
    let Some(node) = harness(test) else { return };
    let cases = harness_cases(&node);

    // The rows and the harness agree, both ways.
    let mut problems = Vec::new();
    let mut proven = Vec::new();
    for (provider, spec) in specs() {
        let case = cases.get(provider.as_str());
        match (spec.proof, case) {
            (Proof::Sdk(package), Some((used, signs))) if package == used => {
                proven.push((provider, spec, *signs));
            }
            (Proof::Sdk(package), Some((used, _))) => problems.push(format!(
                "{provider}: the row names {package}, the harness uses {used}"
            )),
            (Proof::Sdk(package), None) => problems.push(format!(
                "{provider}: the row claims {package}, and e2e/sdk/prove.mjs has no case for it"
            )),
            (other, Some((used, _))) => problems.push(format!(
                "{provider}: the harness proves it with {used}, but the row says {}",
                other.kind()
            )),
            (_, None) => {}
        }
    }
    for slug in cases.keys() {
        if Provider::parse(slug).is_none() {
            problems.push(format!("the harness has a case for {slug}, not a provider"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        proven.len() >= AT_LEAST,
        "{} providers proven by their own library, at least {AT_LEAST} wanted",
        proven.len()
    );

    let mut options = configured();
    // Every proven provider configured with its test secret (one app for all of them).
    let secrets: Vec<(Provider, String)> = proven
        .iter()
        .map(|(provider, spec, _)| (*provider, secret(*provider, spec.secret_format)))
        .collect();
    for (provider, secret) in &secrets {
        options = options.variable(provider.secret_variable(), secret);
    }
    let app = start_or_skip!(test, options);
    // After the start: `spin build` may take minutes, and the timestamps are checked.
    let t = now();
    let deliveries: Vec<(Delivery, bool)> = proven
        .iter()
        .map(|(provider, spec, signs)| (delivery(*provider, spec, &app.base_url, t), *signs))
        .collect();

    // Libraries that sign: one node process signs a delivery per provider.
    let signers: Vec<&Delivery> = deliveries
        .iter()
        .filter(|(_, signs)| *signs)
        .map(|(d, _)| d)
        .collect();
    let batch: Vec<Value> = signers
        .iter()
        .map(|d| {
            let id = d
                .headers
                .iter()
                .find(|(name, _)| name.ends_with("-id"))
                .map_or(String::new(), |(_, value)| value.clone());
            json!({"mode": "sign", "provider": d.provider.as_str(), "secret": d.secret,
                   "body": d.body, "timestamp": t, "url": d.url, "id": id})
        })
        .collect();
    let signed = prove(&node, &[], &Value::Array(batch));
    for (d, answer) in signers.iter().zip(signed.as_array().unwrap()) {
        let package = match d.spec.proof {
            Proof::Sdk(package) => package,
            _ => unreachable!(),
        };
        assert!(answer.get("error").is_none(), "{}: {answer}", d.provider);
        assert_eq!(answer["package"], package, "{}", d.provider);
        let body = answer["body"].as_str().unwrap();
        let headers: Vec<(String, String)> = answer["headers"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, _)| !d.headers.iter().any(|(ours, _)| ours == *name))
            .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned()))
            .collect();
        let first = d.post(&app, body, &headers);
        assert_eq!(
            first.status,
            202,
            "{} signed by {package}: {}\n{}",
            d.provider,
            first.text(),
            app.component_logs()
        );
        let again = d.post(&app, body, &headers);
        assert_eq!(again.status, 200, "{} again: {}", d.provider, again.text());
        assert_eq!(again.json()["duplicate"], true, "{}", d.provider);
        eprintln!(
            "sdk: {} signed by {package}: 202, then 200 duplicate",
            d.provider
        );
    }

    // Libraries that only verify: ours signs, theirs must agree, and refuse a changed body.
    let verifiers: Vec<(&Delivery, Vec<(String, String)>)> = deliveries
        .iter()
        .filter(|(_, signs)| !*signs)
        .map(|(d, _)| {
            let mut headers = d.headers.clone();
            headers.extend(d.signed_by_us(&d.body, t));
            (d, headers)
        })
        .collect();
    let batch: Vec<Value> = verifiers
        .iter()
        .flat_map(|(d, headers)| {
            [d.body.clone(), tampered(&d.body)].map(|body| {
                json!({"mode": "verify", "provider": d.provider.as_str(), "secret": d.secret,
                       "body": body, "headers": headers_object(headers), "url": d.url,
                       "now": t + 1})
            })
        })
        .collect();
    let verdicts = prove(&node, &[], &Value::Array(batch));
    let verdicts = verdicts.as_array().unwrap();
    for ((d, headers), pair) in verifiers.iter().zip(verdicts.chunks(2)) {
        let package = match d.spec.proof {
            Proof::Sdk(package) => package,
            _ => unreachable!(),
        };
        let (ours, changed) = (&pair[0], &pair[1]);
        assert_eq!(ours["package"], package, "{}: {ours}", d.provider);
        assert_eq!(
            ours["valid"], true,
            "{}: {package} refuses the delivery our signer built: {ours}",
            d.provider
        );
        assert_eq!(
            changed["valid"], false,
            "{}: {package} accepts a changed body: {changed}",
            d.provider
        );
        let signature: Vec<(String, String)> = headers[d.headers.len()..].to_vec();
        let response = d.post(&app, &d.body, &signature);
        assert_eq!(
            response.status,
            202,
            "{}: {}\n{}",
            d.provider,
            response.text(),
            app.component_logs()
        );
        eprintln!(
            "sdk: {} verified by {package} (and a changed body refused): 202",
            d.provider
        );
    }
    eprintln!(
        "sdk: {} providers proven by their own library ({} sign, {} verify)",
        proven.len(),
        signers.len(),
        verifiers.len()
    );
}

#[test]
fn the_test_helpers_write_what_the_libraries_read() {
    assert_eq!(base64_of(b"e2e"), "ZTJl");
    assert_eq!(base64_of(b"e2e-"), "ZTJlLQ==");
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    let mut body = Value::Null;
    set(&mut body, "/0/subscriptionType", json!("a"));
    set(&mut body, "/0/id", json!(1));
    assert_eq!(body, json!([{"subscriptionType": "a", "id": 1}]));
    let mut body = Value::Null;
    set(&mut body, "/events/0/type", json!("b"));
    assert_eq!(body, json!({"events": [{"type": "b"}]}));
    assert_eq!(tampered(r#"{"a":"bc"}"#), r#"{"a":"bx"}"#);
    for provider in Provider::ALL {
        let format = provider.spec().secret_format;
        if format == SecretFormat::StandardWebhooks {
            assert!(!secret(*provider, format).contains('='));
            assert_eq!(key(format, &secret(*provider, format)).len(), 24);
        }
    }
}
