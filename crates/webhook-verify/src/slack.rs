//! Slack (Events API): `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret,
//! "v0:<X-Slack-Request-Timestamp>:<raw body>")>`.
//!
//! See <https://docs.slack.dev/authentication/verifying-requests-from-slack> (formerly
//! <https://api.slack.com/authentication/verifying-requests-from-slack>). `v0` is the only
//! version Slack has defined so far. The timestamp is Unix seconds, checked against now in both directions
//! (Slack's own verifier, `SignatureVerifier` in `slackapi/python-slack-sdk`, allows five
//! minutes) and signed exactly as the header carries it.
//!
//! Slack retries a delivery that failed or timed out, marking the retry with
//! [`RETRY_NUM_HEADER`] and [`RETRY_REASON_HEADER`]. A retry is a duplicate of the first delivery
//! (the same `event_id` in the body): recognising it is the caller's deduplication, not this
//! verifier's job, and a retry verifies like any other request.

use std::time::Duration;

use crate::scheme::{Clock, Digest, Encoding, Hashed, Keying, Part, Signature, Timestamp, Unit};
use crate::{sign_with, verify_with, VerifyError};

/// The timestamp header (Unix seconds, also signed).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// On a retry, which attempt this is (`1`, `2`, ...); absent on the first delivery.
pub const RETRY_NUM_HEADER: &str = "x-slack-retry-num";
/// On a retry, why Slack retried (for example `http_timeout`).
pub const RETRY_REASON_HEADER: &str = "x-slack-retry-reason";

/// Slack's scheme, as the provider catalogue's row has it.
pub const SCHEME: Hashed = Hashed {
    digest: Digest::Sha256,
    keying: Keying::Hmac,
    encoding: Encoding::Hex,
    signature: Signature::Header {
        name: SIGNATURE_HEADER,
        prefix: "v0=",
        separator: None,
    },
    signed: &[
        Part::Text("v0:"),
        Part::Timestamp,
        Part::Text(":"),
        Part::Body,
    ],
    timestamp: Some(Timestamp {
        clock: Clock::Header(TIMESTAMP_HEADER),
        unit: Unit::Seconds,
    }),
};

/// The two headers Slack's signature covers or carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    /// `X-Slack-Request-Timestamp`
    pub timestamp: Option<&'a str>,
    /// `X-Slack-Signature`
    pub signature: Option<&'a str>,
}

/// Verifies a Slack request against any of `secrets` (signing secrets), with `now` in Unix
/// seconds.
pub fn verify(
    headers: SignedHeaders<'_>,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    verify_with(
        &SCHEME,
        &[
            (TIMESTAMP_HEADER, headers.timestamp),
            (SIGNATURE_HEADER, headers.signature),
        ],
        body,
        secrets,
        now.saturating_mul(1000),
        tolerance,
    )
}

/// The `X-Slack-Signature` value Slack would send with `X-Slack-Request-Timestamp: <timestamp>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    sign_with(&SCHEME, &[], body, secret, Some(&timestamp.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::hmac;
    use proptest::prelude::*;

    // The worked example of Slack's "Verifying requests from Slack" page
    // (https://docs.slack.dev/authentication/verifying-requests-from-slack), as also used by
    // Slack's own SDK test (slackapi/python-slack-sdk,
    // tests/slack_sdk/signature/test_signature_verifier.py). Recomputed independently with:
    // python3 -c 'import hmac,hashlib; print("v0="+hmac.new(b"8f742231b10e8888abcd99yyyzzz85a5", b"v0:1531420618:token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c", hashlib.sha256).hexdigest())'
    const DOC_SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_T: i64 = 1_531_420_618;
    const DOC_T_TEXT: &str = "1531420618";
    const DOC_BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    // An Events API body (JSON), computed independently of this code with:
    // python3 -c 'import hmac,hashlib; print("v0="+hmac.new(b"fake-slack-signing-secret", b"v0:1700000000:" + b"{\"type\":\"event_callback\",\"event_id\":\"Ev0FAKE0001\",\"event\":{\"type\":\"app_mention\",\"text\":\"hi\"}}", hashlib.sha256).hexdigest())'
    const SECRET: &[u8] = b"fake-slack-signing-secret";
    const T: i64 = 1_700_000_000;
    const T_TEXT: &str = "1700000000";
    const BODY: &[u8] =
        br#"{"type":"event_callback","event_id":"Ev0FAKE0001","event":{"type":"app_mention","text":"hi"}}"#;
    const SIGNATURE: &str = "v0=3d97b49b2f655471a01b1a6b91c1bdb03ae5234922add34c66185e94046bfb42";

    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    fn headers<'a>(timestamp: &'a str, signature: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            timestamp: Some(timestamp),
            signature: Some(signature),
        }
    }

    #[test]
    fn verifies_slacks_published_example() {
        let h = headers(DOC_T_TEXT, DOC_SIGNATURE);
        assert_eq!(
            verify(h, DOC_BODY, &[DOC_SECRET], DOC_T, FIVE_MINUTES),
            Ok(())
        );
        assert_eq!(sign(DOC_SECRET, DOC_T, DOC_BODY), DOC_SIGNATURE);
    }

    #[test]
    fn verifies_an_independently_computed_events_api_signature() {
        let h = headers(T_TEXT, SIGNATURE);
        assert_eq!(verify(h, BODY, &[SECRET], T, FIVE_MINUTES), Ok(()));
        assert_eq!(sign(SECRET, T, BODY), SIGNATURE);
    }

    #[test]
    fn upper_case_hex_is_the_same_signature() {
        let upper = format!("v0={}", SIGNATURE[3..].to_ascii_uppercase());
        let h = headers(T_TEXT, &upper);
        assert_eq!(verify(h, BODY, &[SECRET], T, FIVE_MINUTES), Ok(()));
    }

    #[test]
    fn rejects_a_changed_body_or_secret() {
        let h = headers(DOC_T_TEXT, DOC_SIGNATURE);
        let mut changed = DOC_BODY.to_vec();
        changed.extend_from_slice(b"------");
        assert_eq!(
            verify(h, &changed, &[DOC_SECRET], DOC_T, FIVE_MINUTES),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify(h, DOC_BODY, &[SECRET], DOC_T, FIVE_MINUTES),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn the_timestamp_is_signed_as_sent() {
        let later = (T + 1).to_string();
        assert_eq!(
            verify(headers(&later, SIGNATURE), BODY, &[SECRET], T, FIVE_MINUTES),
            Err(VerifyError::SignatureMismatch)
        );
        // The same number written differently is different signed bytes.
        let padded = format!("0{T_TEXT}");
        assert_eq!(
            verify(
                headers(&padded, SIGNATURE),
                BODY,
                &[SECRET],
                T,
                FIVE_MINUTES
            ),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn tolerance_edges_in_both_directions() {
        let h = headers(T_TEXT, SIGNATURE);
        for now in [T - 300, T + 300] {
            assert_eq!(verify(h, BODY, &[SECRET], now, FIVE_MINUTES), Ok(()));
        }
        for now in [T - 301, T + 301] {
            assert_eq!(
                verify(h, BODY, &[SECRET], now, FIVE_MINUTES),
                Err(VerifyError::TimestampOutOfTolerance {
                    skew_secs: 301,
                    tolerance_secs: 300
                })
            );
        }
        // Slack's own example is years old: against a real clock it is stale.
        assert!(matches!(
            verify(
                headers(DOC_T_TEXT, DOC_SIGNATURE),
                DOC_BODY,
                &[DOC_SECRET],
                T,
                FIVE_MINUTES
            ),
            Err(VerifyError::TimestampOutOfTolerance { .. })
        ));
    }

    #[test]
    fn rotation_accepts_either_secret() {
        let h = headers(T_TEXT, SIGNATURE);
        assert_eq!(
            verify(h, BODY, &[b"new-secret", SECRET], T, FIVE_MINUTES),
            Ok(())
        );
        assert_eq!(
            verify(h, BODY, &[b"new-secret"], T, FIVE_MINUTES),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify(h, BODY, &[], T, FIVE_MINUTES),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn malformed_headers() {
        let bad_timestamp = VerifyError::MalformedHeader {
            header: TIMESTAMP_HEADER,
            reason: "the timestamp is not a Unix time in seconds",
        };
        // Without the v0= prefix or with a value that is not 64 hex digits after it, there is
        // no signature of Slack's form.
        let no_prefix = VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "no signature of the expected form",
        };
        let bad_hex = no_prefix.clone();
        let hex = &SIGNATURE[3..];
        let v1 = SIGNATURE.replace("v0=", "v1=");
        let upper_version = SIGNATURE.replace("v0=", "V0=");
        let github_style = format!("sha256={hex}");
        let too_long = format!("{SIGNATURE}00");
        let inner_space = format!("v0= {hex}");
        let cases = [
            (
                SignedHeaders::default(),
                VerifyError::MissingHeader(SIGNATURE_HEADER),
            ),
            (
                SignedHeaders {
                    timestamp: None,
                    signature: Some(SIGNATURE),
                },
                VerifyError::MissingHeader(TIMESTAMP_HEADER),
            ),
            (
                SignedHeaders {
                    timestamp: Some(T_TEXT),
                    signature: None,
                },
                VerifyError::MissingHeader(SIGNATURE_HEADER),
            ),
            (headers("", SIGNATURE), bad_timestamp.clone()),
            (headers("soon", SIGNATURE), bad_timestamp.clone()),
            (headers("-1700000000", SIGNATURE), bad_timestamp.clone()),
            (headers("1700000000.5", SIGNATURE), bad_timestamp.clone()),
            (headers("1700000000000", SIGNATURE), bad_timestamp),
            (headers(T_TEXT, ""), no_prefix.clone()),
            (headers(T_TEXT, hex), no_prefix.clone()),
            (headers(T_TEXT, &v1), no_prefix.clone()),
            (headers(T_TEXT, &upper_version), no_prefix.clone()),
            (headers(T_TEXT, &github_style), no_prefix),
            (headers(T_TEXT, "v0="), bad_hex.clone()),
            (headers(T_TEXT, "v0=zz"), bad_hex.clone()),
            (
                headers(T_TEXT, &SIGNATURE[..SIGNATURE.len() - 2]),
                bad_hex.clone(),
            ),
            (headers(T_TEXT, &too_long), bad_hex.clone()),
            (headers(T_TEXT, &inner_space), bad_hex),
        ];
        for (h, expected) in cases {
            assert_eq!(
                verify(h, BODY, &[SECRET], T, FIVE_MINUTES),
                Err(expected),
                "{h:?}"
            );
        }
    }

    #[test]
    fn whitespace_around_the_value_is_not_part_of_it() {
        // RFC 9110 (5.5): a field value has no leading or trailing whitespace.
        for padded in [format!("{SIGNATURE} "), format!(" {SIGNATURE}")] {
            let h = headers(T_TEXT, &padded);
            assert_eq!(
                verify(h, BODY, &[SECRET], T, FIVE_MINUTES),
                Ok(()),
                "{padded:?}"
            );
        }
    }

    #[test]
    fn a_malformed_header_is_reported_before_a_stale_timestamp() {
        let h = headers(T_TEXT, "v0=zz");
        assert!(verify(h, BODY, &[SECRET], T + 10_000, FIVE_MINUTES)
            .unwrap_err()
            .is_malformed());
    }

    #[test]
    fn errors_name_no_secret_and_no_signature() {
        for error in [
            verify(headers(T_TEXT, SIGNATURE), b"x", &[SECRET], T, FIVE_MINUTES).unwrap_err(),
            verify(headers(T_TEXT, "v0=zz"), BODY, &[SECRET], T, FIVE_MINUTES).unwrap_err(),
            verify(headers(T_TEXT, SIGNATURE), BODY, &[SECRET], 0, FIVE_MINUTES).unwrap_err(),
        ] {
            let text = format!("{error} {error:?}");
            assert!(!text.contains("fake-slack"), "{text}");
            assert!(!text.contains(&SIGNATURE[3..]), "{text}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(
            timestamp in ".{0,20}",
            signature in ".{0,100}",
            body in proptest::collection::vec(any::<u8>(), 0..256),
            now in any::<i64>(),
            tolerance in any::<u64>(),
        ) {
            let h = headers(&timestamp, &signature);
            let _ = verify(h, &body, &[SECRET], now, Duration::from_secs(tolerance));
        }

        #[test]
        fn never_panics_on_well_formed_headers(
            timestamp in "[0-9]{1,12}",
            hex in "[0-9a-fA-F]{64}",
            now in any::<i64>(),
        ) {
            let signature = format!("v0={hex}");
            let _ = verify(headers(&timestamp, &signature), BODY, &[SECRET], now, FIVE_MINUTES);
        }

        #[test]
        fn a_correctly_signed_body_always_verifies(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            timestamp in 0i64..100_000_000_000,
            skew in -300i64..=300,
        ) {
            let signature = sign(&secret, timestamp, &body);
            let t = timestamp.to_string();
            prop_assert_eq!(
                verify(headers(&t, &signature), &body, &[&secret], timestamp + skew, FIVE_MINUTES),
                Ok(())
            );
        }

        #[test]
        fn any_change_to_the_body_fails(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<prop::sample::Index>(),
            bit in 0u8..8,
            timestamp in 0i64..100_000_000_000,
        ) {
            let signature = sign(&secret, timestamp, &body);
            let t = timestamp.to_string();
            let mut changed = body.clone();
            changed[index.index(body.len())] ^= 1 << bit;
            prop_assert_eq!(
                verify(headers(&t, &signature), &changed, &[&secret], timestamp, FIVE_MINUTES),
                Err(VerifyError::SignatureMismatch)
            );
            changed = body.clone();
            changed.pop();
            prop_assert_eq!(
                verify(headers(&t, &signature), &changed, &[&secret], timestamp, FIVE_MINUTES),
                Err(VerifyError::SignatureMismatch)
            );
        }

        #[test]
        fn any_change_to_the_timestamp_fails(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            timestamp in 0i64..100_000_000_000,
            delta in (-300i64..=300).prop_filter("a change", |d| *d != 0),
        ) {
            // Within the tolerance, so only the signature can notice the change.
            let signature = sign(&secret, timestamp, &body);
            let t = (timestamp + delta).max(0).to_string();
            prop_assume!(t != timestamp.to_string());
            prop_assert_eq!(
                verify(headers(&t, &signature), &body, &[&secret], timestamp, FIVE_MINUTES),
                Err(VerifyError::SignatureMismatch)
            );
        }

        #[test]
        fn any_change_to_the_signature_fails(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            timestamp in 0i64..100_000_000_000,
            index in 0usize..32,
            bit in 0u8..8,
        ) {
            let t = timestamp.to_string();
            let mut raw = hmac(Digest::Sha256, &secret, &[b"v0:", t.as_bytes(), b":", &body].concat());
            raw[index] ^= 1 << bit;
            let signature = format!("v0={}", hex::encode(raw));
            prop_assert_eq!(
                verify(headers(&t, &signature), &body, &[&secret], timestamp, FIVE_MINUTES),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }
}
