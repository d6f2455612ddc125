//! Linear: `Linear-Signature: <hex HMAC-SHA256(signing secret, raw body)>`, with the replay
//! window in the signed body: `webhookTimestamp`, a JSON number of Unix milliseconds.
//!
//! See <https://linear.app/developers/webhooks#securing-webhooks> (the page Linear's SDK cites)
//! and the SDK helper documented at <https://linear.app/docs/api/sdk-webhooks>, whose source
//! (`linear/linear`, `packages/sdk/src/webhooks/client.ts`) is the reference read for this
//! module: it compares the hex HMAC-SHA256 of the raw body with the `linear-signature` header,
//! then requires the body's `webhookTimestamp` (`LINEAR_WEBHOOK_TS_FIELD`) to be within one
//! minute of now, in either direction. Here the window is the caller's `tolerance`, and unlike the SDK (which
//! skips the check when the field is absent) a body without the field is rejected: otherwise a
//! captured delivery could be replayed forever.
//!
//! The signature is checked first and the body is read only once it is authentic, so an
//! unauthenticated body is never parsed, and the timestamp it carries is known to be Linear's.
//! Only that one field is deserialised; the rest of the document is skipped.

use std::time::Duration;

use crate::scheme::{Clock, Digest, Encoding, Hashed, Keying, Part, Signature, Timestamp, Unit};
use crate::{sign_with, verify_with, VerifyError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "linear-signature";
/// The delivery id (not signed).
pub const DELIVERY_HEADER: &str = "linear-delivery";
/// The entity type the event is about, such as `Issue` (not signed; the body's `type`).
pub const EVENT_HEADER: &str = "linear-event";
/// The signed body field holding the time of sending, in Unix milliseconds.
pub const TIMESTAMP_FIELD: &str = "webhookTimestamp";

/// Linear's scheme, as the provider catalogue's row has it.
pub const SCHEME: Hashed = Hashed {
    digest: Digest::Sha256,
    keying: Keying::Hmac,
    encoding: Encoding::Hex,
    signature: Signature::Header {
        name: SIGNATURE_HEADER,
        prefix: "",
        separator: None,
    },
    signed: &[Part::Body],
    timestamp: Some(Timestamp {
        clock: Clock::Body("/webhookTimestamp"),
        unit: Unit::Millis,
    }),
};

/// Verifies a Linear delivery against any of `secrets` (webhook signing secrets), given the
/// `Linear-Signature` value, with `now_ms` in Unix milliseconds: the signature, then the body's
/// `webhookTimestamp`.
pub fn verify(
    signature: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now_ms: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    verify_with(
        &SCHEME,
        &[(SIGNATURE_HEADER, signature)],
        body,
        secrets,
        now_ms,
        tolerance,
    )
}

/// The `Linear-Signature` value Linear would send for `body` (which should carry a
/// `webhookTimestamp` to verify).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    sign_with(&SCHEME, &[], body, secret, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::hmac;
    use proptest::prelude::*;

    // Linear publishes no fixed example (its SDK tests sign at run time). This vector was
    // computed independently of this code with:
    // python3 -c 'import hmac,hashlib; print(hmac.new(b"fake-linear-signing-secret", b"{\"action\":\"create\",\"type\":\"Issue\",\"data\":{\"id\":\"issue-1\",\"title\":\"Fake issue\"},\"webhookTimestamp\":1700000000000}", hashlib.sha256).hexdigest())'
    const SECRET: &[u8] = b"fake-linear-signing-secret";
    const BODY: &[u8] = br#"{"action":"create","type":"Issue","data":{"id":"issue-1","title":"Fake issue"},"webhookTimestamp":1700000000000}"#;
    const T_MS: i64 = 1_700_000_000_000;
    const SIGNATURE: &str = "1911c7bfb70af3c6b3af5f9b8d97f4180f2cd956aa9e1fabeffcc324b247395b";
    // Linear's SDK allows one minute.
    const MINUTE: Duration = Duration::from_secs(60);

    fn header(value: &str) -> Option<&str> {
        Some(value)
    }

    fn body_at(timestamp_ms: i64) -> Vec<u8> {
        format!(r#"{{"action":"update","type":"Comment","data":{{"id":"c-1"}},"webhookTimestamp":{timestamp_ms}}}"#)
            .into_bytes()
    }

    fn malformed_body(reason: &'static str) -> VerifyError {
        VerifyError::MalformedBody {
            field: TIMESTAMP_FIELD,
            reason,
        }
    }

    #[test]
    fn verifies_an_independently_computed_signature() {
        assert_eq!(
            verify(header(SIGNATURE), BODY, &[SECRET], T_MS, MINUTE),
            Ok(())
        );
        assert_eq!(sign(SECRET, BODY), SIGNATURE);
    }

    #[test]
    fn tolerance_edges_in_both_directions() {
        for now in [T_MS - 60_000, T_MS + 60_000] {
            assert_eq!(
                verify(header(SIGNATURE), BODY, &[SECRET], now, MINUTE),
                Ok(())
            );
        }
        for now in [T_MS - 60_001, T_MS + 60_001] {
            assert_eq!(
                verify(header(SIGNATURE), BODY, &[SECRET], now, MINUTE),
                Err(VerifyError::TimestampOutOfTolerance {
                    skew_secs: 61,
                    tolerance_secs: 60
                })
            );
        }
        // The unit is milliseconds: read as seconds, "now" would be thousands of years away.
        assert!(matches!(
            verify(header(SIGNATURE), BODY, &[SECRET], T_MS / 1000, MINUTE),
            Err(VerifyError::TimestampOutOfTolerance { .. })
        ));
    }

    #[test]
    fn the_timestamp_is_signed() {
        let later = body_at(T_MS + 1);
        let signature = sign(SECRET, &body_at(T_MS));
        assert_eq!(
            verify(header(&signature), &later, &[SECRET], T_MS, MINUTE),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_a_changed_body_or_secret() {
        let changed = String::from_utf8(BODY.to_vec())
            .unwrap()
            .replace("Fake issue", "Real issue");
        assert_eq!(
            verify(
                header(SIGNATURE),
                changed.as_bytes(),
                &[SECRET],
                T_MS,
                MINUTE
            ),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify(header(SIGNATURE), BODY, &[b"other-secret"], T_MS, MINUTE),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rotation_accepts_either_secret() {
        assert_eq!(
            verify(
                header(SIGNATURE),
                BODY,
                &[b"new-secret", SECRET],
                T_MS,
                MINUTE
            ),
            Ok(())
        );
        assert_eq!(
            verify(header(SIGNATURE), BODY, &[], T_MS, MINUTE),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn an_unsigned_body_is_not_read() {
        // Not JSON, no timestamp: still only "the signature does not match" (401), since
        // nothing about an unauthenticated body is reported.
        let signature = sign(b"someone-else", b"garbage");
        assert_eq!(
            verify(header(&signature), b"garbage", &[SECRET], T_MS, MINUTE),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn malformed_headers() {
        let bad = VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "no signature of the expected form",
        };
        assert_eq!(
            verify(None, BODY, &[SECRET], T_MS, MINUTE),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        for value in [
            "",
            "zz",
            &SIGNATURE[..62],
            &format!("{SIGNATURE}00"),
            &format!("sha256={SIGNATURE}"),
            &format!("v0={SIGNATURE}"),
            &format!("{} {}", &SIGNATURE[..32], &SIGNATURE[32..]),
            // Base64 of the right HMAC (Shopify's encoding) is not Linear's:
            // python3 -c 'import base64; print(base64.b64encode(bytes.fromhex("1911c7bfb70af3c6b3af5f9b8d97f4180f2cd956aa9e1fabeffcc324b247395b")).decode())'
            "GRHHv7cK88azr1+bjZf0GA8s2Vaqnh+r7/zDJLJHOVs=",
        ] {
            assert_eq!(
                verify(header(value), BODY, &[SECRET], T_MS, MINUTE),
                Err(bad.clone()),
                "{value:?}"
            );
        }
    }

    #[test]
    fn whitespace_around_the_header_value_is_not_part_of_it() {
        // RFC 9110 (5.5): a field value has no leading or trailing whitespace.
        for padded in [format!(" {SIGNATURE}"), format!("{SIGNATURE} ")] {
            assert_eq!(
                verify(header(&padded), BODY, &[SECRET], T_MS, MINUTE),
                Ok(()),
                "{padded:?}"
            );
        }
    }

    #[test]
    fn a_signed_body_without_a_usable_timestamp_is_malformed() {
        let not_utf8 = malformed_body("the body is not UTF-8 JSON");
        let missing = malformed_body("missing, or not a string or a whole number");
        let not_a_time = malformed_body("not a Unix time");
        let cases: [(&[u8], VerifyError); 17] = [
            (b"\xff{}", not_utf8),
            (b"", missing.clone()),
            (b"garbage", missing.clone()),
            (b"[1700000000000]", missing.clone()),
            (b"1700000000000", missing.clone()),
            (b"\"webhookTimestamp\"", missing.clone()),
            (b"{", missing.clone()),
            (br#"{"webhookTimestamp":1700000000000"#, missing.clone()),
            (b"{}", missing.clone()),
            (br#"{"webhookTimestamp":null}"#, missing.clone()),
            (
                br#"{"data":{"webhookTimestamp":1700000000000}}"#,
                missing.clone(),
            ),
            (br#"{"webhookTimestamp":1700000000000.5}"#, missing.clone()),
            (br#"{"webhookTimestamp":1.7e12}"#, missing.clone()),
            (br#"{"webhookTimestamp":-1700000000000}"#, missing.clone()),
            (br#"{"webhookTimestamp":true}"#, missing),
            (
                br#"{"webhookTimestamp":99999999999999999999}"#,
                not_a_time.clone(),
            ),
            (br#"{"webhookTimestamp":"soon"}"#, not_a_time),
        ];
        for (body, expected) in cases {
            let signature = sign(SECRET, body);
            let error = verify(header(&signature), body, &[SECRET], T_MS, MINUTE).unwrap_err();
            assert!(error.is_malformed(), "{error}");
            assert_eq!(error, expected, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_signed_timestamp_written_as_digits_in_a_string_or_repeated_is_read() {
        // Both are in the signed body, so only Linear could have written them: the digits of a
        // string count (as in Linear's SDK, whose JavaScript subtracts it from now), and of a
        // repeated field the last one does (as in JSON.parse), each still within the tolerance.
        for body in [
            format!(r#"{{"webhookTimestamp":"{T_MS}"}}"#),
            format!(r#"{{"webhookTimestamp":0,"webhookTimestamp":{T_MS}}}"#),
        ] {
            let signature = sign(SECRET, body.as_bytes());
            assert_eq!(
                verify(header(&signature), body.as_bytes(), &[SECRET], T_MS, MINUTE),
                Ok(()),
                "{body}"
            );
            assert!(matches!(
                verify(
                    header(&signature),
                    body.as_bytes(),
                    &[SECRET],
                    T_MS + 60_001,
                    MINUTE
                ),
                Err(VerifyError::TimestampOutOfTolerance { .. })
            ));
        }
    }

    #[test]
    fn whitespace_and_unknown_fields_are_fine() {
        let body = format!(
            " \n{{ \"nested\": {{\"webhookTimestamp\": \"x\"}}, \"list\": [1, {{}}], \"webhookTimestamp\" : {T_MS} }}\n"
        );
        let signature = sign(SECRET, body.as_bytes());
        assert_eq!(
            verify(header(&signature), body.as_bytes(), &[SECRET], T_MS, MINUTE),
            Ok(())
        );
    }

    #[test]
    fn errors_name_no_secret_and_no_signature() {
        for error in [
            verify(header(SIGNATURE), b"x", &[SECRET], T_MS, MINUTE).unwrap_err(),
            verify(header("zz"), BODY, &[SECRET], T_MS, MINUTE).unwrap_err(),
            verify(header(SIGNATURE), BODY, &[SECRET], 0, MINUTE).unwrap_err(),
            verify(header(&sign(SECRET, b"{}")), b"{}", &[SECRET], T_MS, MINUTE).unwrap_err(),
        ] {
            let text = format!("{error} {error:?}");
            assert!(!text.contains("fake-linear"), "{text}");
            assert!(!text.contains(SIGNATURE), "{text}");
        }
    }

    fn json_body(timestamp_ms: i64, id: &str, title: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "action": "create",
            "type": "Issue",
            "data": { "id": id, "title": title },
            "webhookTimestamp": timestamp_ms,
        }))
        .unwrap()
    }

    proptest! {
        #[test]
        fn never_panics(
            signature in ".{0,100}",
            body in proptest::collection::vec(any::<u8>(), 0..256),
            now in any::<i64>(),
            tolerance_ms in any::<u64>(),
        ) {
            let _ = verify(header(&signature), &body, &[SECRET], now, Duration::from_millis(tolerance_ms));
        }

        #[test]
        fn never_panics_reading_a_signed_body(
            body in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..256),
                r#"\{"webhookTimestamp":[-+0-9.eE]{0,30}\}"#.prop_map(String::into_bytes),
                r#"[ \{\}\[\]",:0-9a-zA-Z]{0,64}"#.prop_map(String::into_bytes),
            ],
            now in any::<i64>(),
        ) {
            // A signed body reaches the body parser; whatever it holds, the answer is one of
            // these, never a panic, and never a claim about the (correct) signature.
            let result = verify(header(&sign(SECRET, &body)), &body, &[SECRET], now, MINUTE);
            prop_assert!(
                matches!(
                    result,
                    Ok(()) | Err(VerifyError::MalformedBody { .. } | VerifyError::TimestampOutOfTolerance { .. })
                ),
                "{:?}",
                result
            );
        }

        #[test]
        fn a_correctly_signed_body_always_verifies(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            // Any Unix time of up to 15 digits of milliseconds (to the year 33658).
            timestamp in 0i64..1_000_000_000_000_000,
            skew in -60_000i64..=60_000,
            id in ".{0,40}",
            title in ".{0,80}",
        ) {
            let body = json_body(timestamp, &id, &title);
            let now = timestamp.saturating_add(skew);
            prop_assume!(now.abs_diff(timestamp) <= 60_000);
            prop_assert_eq!(
                verify(header(&sign(&secret, &body)), &body, &[&secret], now, MINUTE),
                Ok(())
            );
        }

        #[test]
        fn any_change_to_the_body_fails(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            timestamp in 0i64..4_000_000_000_000,
            title in ".{0,80}",
            index in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let body = json_body(timestamp, "issue-1", &title);
            let signature = sign(&secret, &body);
            let mut changed = body.clone();
            changed[index.index(body.len())] ^= 1 << bit;
            prop_assert_eq!(
                verify(header(&signature), &changed, &[&secret], timestamp, MINUTE),
                Err(VerifyError::SignatureMismatch)
            );
            changed = body.clone();
            changed.push(b' ');
            prop_assert_eq!(
                verify(header(&signature), &changed, &[&secret], timestamp, MINUTE),
                Err(VerifyError::SignatureMismatch)
            );
        }

        #[test]
        fn any_change_to_the_timestamp_fails(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            timestamp in 0i64..4_000_000_000_000,
            delta in (-60_000i64..=60_000).prop_filter("a change", |d| *d != 0),
        ) {
            // A fresher (or older) webhookTimestamp within the tolerance: only the signature
            // can notice.
            let signature = sign(&secret, &body_at(timestamp));
            let changed = body_at(timestamp + delta);
            prop_assert_eq!(
                verify(header(&signature), &changed, &[&secret], timestamp, MINUTE),
                Err(VerifyError::SignatureMismatch)
            );
        }

        #[test]
        fn any_change_to_the_signature_fails(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            timestamp in 0i64..4_000_000_000_000,
            index in 0usize..32,
            bit in 0u8..8,
        ) {
            let body = body_at(timestamp);
            let mut raw = hmac(Digest::Sha256, &secret, &body);
            raw[index] ^= 1 << bit;
            prop_assert_eq!(
                verify(header(&hex::encode(raw)), &body, &[&secret], timestamp, MINUTE),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }
}
