//! The engine against vectors published by providers (or computed independently, said where),
//! and properties: no input panics, and any change to what is signed fails.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

const FIVE_MINUTES: Duration = Duration::from_secs(300);

use crate::github::SCHEME as GITHUB;
use crate::linear::SCHEME as LINEAR;
use crate::slack::SCHEME as SLACK;
use crate::standard::SCHEME as STANDARD;
use crate::stripe::SCHEME as STRIPE;

/// Twilio's scheme for a JSON body is the URL (with its `bodySHA256` parameter) HMAC-SHA1'd.
const URL_SHA1: Hashed = Hashed {
    digest: Digest::Sha1,
    keying: Keying::Hmac,
    encoding: Encoding::Base64,
    signature: Signature::Header {
        name: "x-twilio-signature",
        prefix: "",
        separator: None,
    },
    signed: &[Part::Url, Part::SortedForm],
    timestamp: None,
};

const SHA256_BASE64URL: Hashed = Hashed {
    digest: Digest::Sha256,
    keying: Keying::Hmac,
    encoding: Encoding::Base64Url,
    signature: Signature::Header {
        name: "x-sig",
        prefix: "",
        separator: None,
    },
    signed: &[Part::Body],
    timestamp: None,
};

const CONTENT_SHA1: Hashed = Hashed {
    digest: Digest::Sha1,
    keying: Keying::SecretInContent,
    encoding: Encoding::Hex,
    signature: Signature::Header {
        name: "x-cld-signature",
        prefix: "",
        separator: None,
    },
    signed: &[Part::Body, Part::Timestamp, Part::Secret],
    timestamp: Some(Timestamp {
        clock: Clock::Header("x-cld-timestamp"),
        unit: Unit::Seconds,
    }),
};

struct Delivery {
    headers: HashMap<&'static str, String>,
    body: Vec<u8>,
    url: Option<String>,
    now_millis: i64,
}

impl Delivery {
    fn new(body: &[u8], now_secs: i64) -> Self {
        Self {
            headers: HashMap::new(),
            body: body.to_vec(),
            url: None,
            now_millis: now_secs * 1000,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.insert(name, value.to_owned());
        self
    }

    fn verify(&self, scheme: &Hashed, keys: &[&[u8]]) -> Result<(), VerifyError> {
        let lookup = |name: &str| self.headers.get(name).map(String::as_str);
        let request = Request {
            header: &lookup,
            body: &self.body,
            url: self.url.as_deref(),
            now_millis: self.now_millis,
            tolerance: FIVE_MINUTES,
        };
        scheme.verify(&request, keys)
    }

    fn sign(&self, scheme: &Hashed, key: &[u8], timestamp: Option<&str>) -> String {
        let lookup = |name: &str| self.headers.get(name).map(String::as_str);
        let request = Request {
            header: &lookup,
            body: &self.body,
            url: self.url.as_deref(),
            now_millis: self.now_millis,
            tolerance: FIVE_MINUTES,
        };
        scheme.sign(&request, key, timestamp).unwrap()
    }
}

#[test]
fn githubs_published_example() {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let delivery = Delivery::new(b"Hello, World!", 0).header("x-hub-signature-256", signature);
    let key: &[u8] = b"It's a Secret to Everybody";
    assert_eq!(delivery.verify(&GITHUB, &[key]), Ok(()));
    assert_eq!(delivery.sign(&GITHUB, key, None), signature);
    assert_eq!(
        delivery.verify(&GITHUB, &[b"another secret"]),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn hmac_sha512_rfc_4231_test_case_2() {
    // https://www.rfc-editor.org/rfc/rfc4231#section-4.3
    let expected = "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";
    let delivery =
        Delivery::new(b"what do ya want for nothing?", 0).header("x-signature", expected);
    assert_eq!(delivery.verify(&SHA512_HEX, &[b"Jefe"]), Ok(()));
    assert_eq!(delivery.sign(&SHA512_HEX, b"Jefe", None), expected);
    assert_eq!(
        hex::encode(hmac(
            Digest::Sha512,
            b"Jefe",
            b"what do ya want for nothing?"
        )),
        expected
    );
    assert_eq!(
        delivery.verify(&SHA512_HEX, &[b"jefe"]),
        Err(VerifyError::SignatureMismatch)
    );
    // A SHA-256-length signature under a SHA-512 scheme never verifies.
    let short =
        Delivery::new(b"what do ya want for nothing?", 0).header("x-signature", &expected[..64]);
    assert!(short.verify(&SHA512_HEX, &[b"Jefe"]).is_err());
}

#[test]
fn slacks_published_example() {
    // https://docs.slack.dev/authentication/verifying-requests-from-slack
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    let key: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    let delivery = Delivery::new(body, 1_531_420_618)
        .header("x-slack-request-timestamp", "1531420618")
        .header("x-slack-signature", signature);
    assert_eq!(delivery.verify(&SLACK, &[key]), Ok(()));
    assert_eq!(delivery.sign(&SLACK, key, Some("1531420618")), signature);
    let late = Delivery {
        now_millis: (1_531_420_618 + 301) * 1000,
        ..delivery
    };
    assert!(matches!(
        late.verify(&SLACK, &[key]),
        Err(VerifyError::TimestampOutOfTolerance {
            skew_secs: 301,
            tolerance_secs: 300
        })
    ));
}

#[test]
fn standard_webhooks_published_example() {
    // The vector published with the Standard Webhooks reference libraries; the key is the
    // base64 part of whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw.
    let key = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let delivery = Delivery::new(br#"{"test": 2432232314}"#, 1_614_265_330)
        .header("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
        .header("webhook-timestamp", "1614265330")
        .header("webhook-signature", &format!("v1a,c29tZQ== {signature}"));
    assert_eq!(delivery.verify(&STANDARD, &[&key]), Ok(()));
    assert_eq!(
        delivery.sign(&STANDARD, &key, Some("1614265330")),
        signature
    );
    let other_id = delivery.header("webhook-id", "msg_other");
    assert_eq!(
        other_id.verify(&STANDARD, &[&key]),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn stripe_pairs_with_rotation() {
    // Computed independently: hmac.new(SECRET, b"1700000000." + BODY, sha256).hexdigest()
    let key: &[u8] = b"whsec_test_secret_for_unit_tests";
    let body = br#"{"id":"evt_1NG8Du2eZvKYlo2CUI3gP9fP","object":"event","type":"payment_intent.succeeded"}"#;
    let v1 = "90761ba8319a3469376197497e5f5895444c4e4e6afb245291d2182b1e223050";
    let header = format!("t=1700000000,v1={},v0=abc,v1={v1}", "0".repeat(64));
    let delivery = Delivery::new(body, 1_700_000_000).header("stripe-signature", &header);
    assert_eq!(delivery.verify(&STRIPE, &[b"old", key]), Ok(()));
    assert_eq!(
        delivery.sign(&STRIPE, key, Some("1700000000")),
        format!("t=1700000000,v1={v1}")
    );
    for bad in ["v1=00", "t=1700000000", "t=1,t=2,v1=00", "nonsense"] {
        let error = Delivery::new(body, 1_700_000_000)
            .header("stripe-signature", bad)
            .verify(&STRIPE, &[key])
            .unwrap_err();
        assert!(error.is_malformed(), "{bad}: {error}");
    }
}

#[test]
fn linear_body_timestamp_in_millis_is_read_after_the_signature() {
    // Computed independently (Python's hmac over the body).
    let key: &[u8] = b"fake-linear-signing-secret";
    let body = br#"{"action":"create","type":"Issue","data":{"id":"issue-1","title":"Fake issue"},"webhookTimestamp":1700000000000}"#;
    let signature = "1911c7bfb70af3c6b3af5f9b8d97f4180f2cd956aa9e1fabeffcc324b247395b";
    let delivery = Delivery::new(body, 1_700_000_030).header("linear-signature", signature);
    assert_eq!(delivery.verify(&LINEAR, &[key]), Ok(()));
    let stale = Delivery::new(body, 1_700_000_000 + 301).header("linear-signature", signature);
    assert!(matches!(
        stale.verify(&LINEAR, &[key]),
        Err(VerifyError::TimestampOutOfTolerance { .. })
    ));
    // A body without the field is only reported once its signature verified.
    let bare = Delivery::new(b"{}", 0);
    let unsigned = bare.sign(&LINEAR, key, None);
    let bare = bare.header("linear-signature", &unsigned);
    assert!(matches!(
        bare.verify(&LINEAR, &[key]),
        Err(VerifyError::MalformedBody { .. })
    ));
    let forged = Delivery::new(b"{}", 0).header("linear-signature", &"0".repeat(64));
    assert_eq!(
        forged.verify(&LINEAR, &[key]),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn a_skew_in_millis_just_over_the_tolerance_reads_as_over_it() {
    let key: &[u8] = b"k";
    let body = br#"{"webhookTimestamp":1700000000000}"#;
    let signature = Delivery::new(body, 0).sign(&LINEAR, key, None);
    let mut late = Delivery::new(body, 0).header("linear-signature", &signature);
    late.now_millis = 1_700_000_000_000 + 300_001;
    assert_eq!(
        late.verify(&LINEAR, &[key]),
        Err(VerifyError::TimestampOutOfTolerance {
            skew_secs: 301,
            tolerance_secs: 300
        })
    );
    late.now_millis -= 1;
    assert_eq!(late.verify(&LINEAR, &[key]), Ok(()));
}

#[test]
fn an_empty_signed_header_is_malformed_even_when_signed() {
    let key: &[u8] = b"k";
    // What a sender that signed an empty webhook-id would send.
    let signature = format!(
        "v1,{}",
        BASE64.encode(hmac(Digest::Sha256, key, b".1700000000.{}"))
    );
    let mut delivery = Delivery::new(b"{}", 1_700_000_000)
        .header("webhook-id", "")
        .header("webhook-timestamp", "1700000000")
        .header("webhook-signature", &signature);
    assert_eq!(
        delivery.verify(&STANDARD, &[key]),
        Err(VerifyError::MalformedHeader {
            header: "webhook-id",
            reason: "empty"
        })
    );
    delivery.headers.remove("webhook-id");
    assert_eq!(
        delivery.verify(&STANDARD, &[key]),
        Err(VerifyError::MissingHeader("webhook-id"))
    );
}

#[test]
fn twilios_published_url_example() {
    // https://www.twilio.com/docs/usage/security#validating-requests: the auth token
    // 12345, the URL with the POST parameters appended in sorted order, HMAC-SHA1, base64.
    let key: &[u8] = b"12345";
    let body = b"To=%2B18005551212&CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030";
    let mut delivery =
        Delivery::new(body, 0).header("x-twilio-signature", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    delivery.url = Some("https://mycompany.com/myapp.php?foo=1&bar=2".to_owned());
    assert_eq!(delivery.verify(&URL_SHA1, &[key]), Ok(()));
}

#[test]
fn base64url_and_a_plain_hash_with_the_secret_in_the_content() {
    // Round trips: the published Sanity vector (provider-catalogue) covers base64url against
    // a sender, Cloudinary's computed vector the plain hash.
    let delivery = Delivery::new(b"body", 0);
    let signature = delivery.sign(&SHA256_BASE64URL, b"k", None);
    assert!(!signature.contains('=') && !signature.contains('+'));
    assert_eq!(
        delivery
            .header("x-sig", &signature)
            .verify(&SHA256_BASE64URL, &[b"k"]),
        Ok(())
    );
    let delivery = Delivery::new(b"body", 1_700_000_000).header("x-cld-timestamp", "1700000000");
    let signature = delivery.sign(&CONTENT_SHA1, b"k", Some("1700000000"));
    let delivery = delivery.header("x-cld-signature", &signature);
    assert_eq!(delivery.verify(&CONTENT_SHA1, &[b"k"]), Ok(()));
    assert_eq!(
        delivery.verify(&CONTENT_SHA1, &[b"j"]),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn tokens_and_basic_credentials() {
    let token = Token {
        header: "x-gitlab-token",
        prefix: "",
        pointer: None,
    };
    let lookup_for =
        |value: &'static str| move |name: &str| (name == "x-gitlab-token").then_some(value);
    let right = lookup_for("s3cret");
    let request = |lookup: &'static dyn Fn(&str) -> Option<&'static str>| Request {
        header: lookup,
        body: b"",
        url: None,
        now_millis: 0,
        tolerance: FIVE_MINUTES,
    };
    let right: &'static dyn Fn(&str) -> Option<&'static str> = Box::leak(Box::new(right));
    let wrong: &'static dyn Fn(&str) -> Option<&'static str> =
        Box::leak(Box::new(lookup_for("s3cre")));
    assert_eq!(
        token.verify(&request(right), &[b"other", b"s3cret"]),
        Ok(())
    );
    assert_eq!(
        token.verify(&request(wrong), &[b"s3cret"]),
        Err(VerifyError::SignatureMismatch)
    );
    let basic = sign_basic("user:pass");
    let basic: &'static str = Box::leak(basic.into_boxed_str());
    let auth: &'static dyn Fn(&str) -> Option<&'static str> =
        Box::leak(Box::new(move |name: &str| {
            (name == "authorization").then_some(basic)
        }));
    assert_eq!(verify_basic(&request(auth), &[b"user:pass"]), Ok(()));
    assert_eq!(
        verify_basic(&request(auth), &[b"user:other"]),
        Err(VerifyError::SignatureMismatch)
    );
    let none: &'static dyn Fn(&str) -> Option<&'static str> = Box::leak(Box::new(|_: &str| None));
    assert_eq!(
        verify_basic(&request(none), &[b"user:pass"]),
        Err(VerifyError::MissingHeader("authorization"))
    );
}

/// A generic source's HMAC-SHA512 over the body, hex.
const SHA512_HEX: Hashed = Hashed {
    digest: Digest::Sha512,
    signature: Signature::Header {
        name: "x-signature",
        prefix: "",
        separator: None,
    },
    ..GITHUB
};

const SCHEMES: [&Hashed; 9] = [
    &GITHUB,
    &SHA512_HEX,
    &STRIPE,
    &SLACK,
    &STANDARD,
    &LINEAR,
    &URL_SHA1,
    &SHA256_BASE64URL,
    &CONTENT_SHA1,
];

/// A delivery signed for `scheme` at `now`, with every header its content needs.
fn signed(scheme: &Hashed, key: &[u8], body: &[u8], id: &str, now: i64) -> Delivery {
    let t = match scheme.timestamp.map(|t| t.unit) {
        Some(Unit::Millis) => (now * 1000).to_string(),
        _ => now.to_string(),
    };
    let mut delivery = Delivery::new(body, now).header("webhook-id", id);
    delivery.url = Some(format!("https://example.test/hook?id={id}"));
    if let Some(Timestamp {
        clock: Clock::Header(header),
        ..
    }) = scheme.timestamp
    {
        delivery = delivery.header(header, &t);
    }
    let signature = delivery.sign(scheme, key, Some(&t));
    delivery.header(scheme.signature.header(), &signature)
}

proptest! {
    #[test]
    fn no_input_panics(
        which in 0..SCHEMES.len(),
        signature in ".{0,160}",
        timestamp in ".{0,20}",
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in any::<i64>(),
    ) {
        let scheme = SCHEMES[which];
        let mut delivery = Delivery::new(&body, 0)
            .header(scheme.signature.header(), &signature)
            .header("webhook-id", "id")
            .header("webhook-timestamp", &timestamp)
            .header("x-slack-request-timestamp", &timestamp)
            .header("x-cld-timestamp", &timestamp);
        delivery.now_millis = now;
        let _ = delivery.verify(scheme, &[b"key"]);
    }

    #[test]
    fn a_signed_delivery_verifies_and_any_change_to_what_is_signed_fails(
        which in 0..SCHEMES.len(),
        key in proptest::collection::vec(any::<u8>(), 1..48),
        body in "[a-z0-9 ]{0,64}",
        id in "[a-z0-9]{1,16}",
        now in 1_000_000_000i64..4_000_000_000,
        flip in any::<prop::sample::Index>(),
    ) {
        let scheme = SCHEMES[which];
        // Linear's scheme reads its timestamp from the body.
        let body = if scheme.timestamp.map(|t| t.clock) == Some(Clock::Body("/webhookTimestamp")) {
            format!(r#"{{"b":"{body}","webhookTimestamp":{}}}"#, now * 1000)
        } else {
            body
        };
        let delivery = signed(scheme, &key, body.as_bytes(), &id, now);
        prop_assert_eq!(delivery.verify(scheme, &[&key]), Ok(()));

        // A changed body byte.
        let mut changed = body.clone().into_bytes();
        let at = flip.index(changed.len().max(1));
        if let Some(byte) = changed.get_mut(at) {
            *byte ^= 0x01;
            let mut tampered = signed(scheme, &key, body.as_bytes(), &id, now);
            tampered.body = changed;
            prop_assert!(tampered.verify(scheme, &[&key]).is_err());
        }
        // Another key.
        let mut other = key.clone();
        other.push(1);
        prop_assert!(delivery.verify(scheme, &[&other]).is_err());
        // A changed signed header, URL or timestamp, where the scheme signs one.
        let parts = scheme.signed;
        if parts.contains(&Part::Header("webhook-id")) {
            let moved = signed(scheme, &key, body.as_bytes(), &id, now).header("webhook-id", &format!("{id}x"));
            prop_assert!(moved.verify(scheme, &[&key]).is_err());
        }
        if parts.contains(&Part::Url) {
            let mut moved = signed(scheme, &key, body.as_bytes(), &id, now);
            moved.url = Some(format!("https://example.test/other?id={id}"));
            prop_assert!(moved.verify(scheme, &[&key]).is_err());
        }
        if let Some(Timestamp { clock: Clock::Header(header), .. }) = scheme.timestamp {
            let moved = signed(scheme, &key, body.as_bytes(), &id, now).header(header, &(now + 1).to_string());
            prop_assert!(moved.verify(scheme, &[&key]).is_err());
        }
    }
}
