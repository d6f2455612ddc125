//! Standard Webhooks (<https://www.standardwebhooks.com>), as sent by Svix and others.
//!
//! `webhook-signature` holds space-separated `v1,<base64 HMAC-SHA256(key, "<webhook-id>.
//! <webhook-timestamp>.<raw body>")>` entries; entries of other versions (`v1a` asymmetric
//! signatures) are ignored. The key is the base64 part of a `whsec_<base64>` secret.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::scheme::{Clock, Digest, Encoding, Hashed, Keying, Part, Signature, Timestamp, Unit};
use crate::{sign_with, verify_with, VerifyError};

/// The delivery id header (also signed).
pub const ID_HEADER: &str = "webhook-id";
/// The timestamp header (Unix seconds, also signed).
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

const SECRET_PREFIX: &str = "whsec_";

/// The Standard Webhooks scheme, as the provider catalogue's row has it (the key is a [`Key`]'s
/// bytes).
pub const SCHEME: Hashed = Hashed {
    digest: Digest::Sha256,
    keying: Keying::Hmac,
    encoding: Encoding::Base64,
    signature: Signature::Header {
        name: SIGNATURE_HEADER,
        prefix: "v1,",
        separator: Some(' '),
    },
    signed: &[
        Part::Header(ID_HEADER),
        Part::Text("."),
        Part::Timestamp,
        Part::Text("."),
        Part::Body,
    ],
    timestamp: Some(Timestamp {
        clock: Clock::Header(TIMESTAMP_HEADER),
        unit: Unit::Seconds,
    }),
};

/// A signing key decoded from its `whsec_<base64>` text form.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// The secret is not `whsec_` followed by base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a Standard Webhooks secret is whsec_ followed by a base64-encoded key")]
pub struct InvalidSecret;

impl Key {
    /// Decodes `whsec_<base64>` (the prefix is optional, as in the reference libraries).
    pub fn parse(secret: &str) -> Result<Self, InvalidSecret> {
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        BASE64
            .decode(encoded)
            .ok()
            .filter(|key| !key.is_empty())
            .map(Self)
            .ok_or(InvalidSecret)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The three headers a Standard Webhooks signature covers or carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    /// `webhook-id`
    pub id: Option<&'a str>,
    /// `webhook-timestamp`
    pub timestamp: Option<&'a str>,
    /// `webhook-signature`
    pub signature: Option<&'a str>,
}

/// Verifies a Standard Webhooks delivery against any of `keys`, with `now` in Unix seconds.
pub fn verify(
    headers: SignedHeaders<'_>,
    body: &[u8],
    keys: &[&Key],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let keys: Vec<&[u8]> = keys.iter().map(|key| key.as_bytes()).collect();
    verify_with(
        &SCHEME,
        &[
            (ID_HEADER, headers.id),
            (TIMESTAMP_HEADER, headers.timestamp),
            (SIGNATURE_HEADER, headers.signature),
        ],
        body,
        &keys,
        now.saturating_mul(1000),
        tolerance,
    )
}

/// The `webhook-signature` value a sender would put on this message (empty for an empty `id`,
/// which no verifier accepts).
pub fn sign(key: &Key, id: &str, timestamp: i64, body: &[u8]) -> String {
    sign_with(
        &SCHEME,
        &[(ID_HEADER, Some(id))],
        body,
        key.as_bytes(),
        Some(&timestamp.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The test vector published with the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const T: i64 = 1_614_265_330;
    const T_TEXT: &str = "1614265330";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    fn headers<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(id),
            timestamp: Some(timestamp),
            signature: Some(signature),
        }
    }

    fn key() -> Key {
        Key::parse(SECRET).unwrap()
    }

    #[test]
    fn verifies_the_published_test_vector() {
        let h = headers(ID, T_TEXT, SIGNATURE);
        assert_eq!(verify(h, BODY, &[&key()], T, FIVE_MINUTES), Ok(()));
        assert_eq!(sign(&key(), ID, T, BODY), SIGNATURE);
    }

    #[test]
    fn the_prefix_is_optional_and_bad_secrets_are_rejected() {
        assert_eq!(Key::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Ok(key()));
        assert_eq!(Key::parse("whsec_not base64!"), Err(InvalidSecret));
        assert_eq!(Key::parse("whsec_"), Err(InvalidSecret));
        assert!(!format!("{:?}", key()).contains("MfKQ"));
    }

    #[test]
    fn any_listed_v1_may_match_and_other_versions_are_ignored() {
        let list = format!(
            "v1a,c29tZXRoaW5n v1,{} {SIGNATURE}",
            BASE64.encode([0u8; 32])
        );
        let h = headers(ID, T_TEXT, &list);
        assert_eq!(verify(h, BODY, &[&key()], T, FIVE_MINUTES), Ok(()));
    }

    #[test]
    fn id_and_timestamp_are_signed() {
        let h = headers("msg_other", T_TEXT, SIGNATURE);
        assert_eq!(
            verify(h, BODY, &[&key()], T, FIVE_MINUTES),
            Err(VerifyError::SignatureMismatch)
        );
        let later = (T + 1).to_string();
        let h = headers(ID, &later, SIGNATURE);
        assert_eq!(
            verify(h, BODY, &[&key()], T, FIVE_MINUTES),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn tolerance_edges_in_both_directions() {
        let h = headers(ID, T_TEXT, SIGNATURE);
        assert!(verify(h, BODY, &[&key()], T + 300, FIVE_MINUTES).is_ok());
        assert!(verify(h, BODY, &[&key()], T - 300, FIVE_MINUTES).is_ok());
        assert!(matches!(
            verify(h, BODY, &[&key()], T + 301, FIVE_MINUTES),
            Err(VerifyError::TimestampOutOfTolerance { .. })
        ));
        assert!(matches!(
            verify(h, BODY, &[&key()], T - 301, FIVE_MINUTES),
            Err(VerifyError::TimestampOutOfTolerance { .. })
        ));
    }

    #[test]
    fn rotation_accepts_either_key() {
        let other = Key::parse("whsec_c2Vjb25kLWtleS1mb3Itcm90YXRpb24=").unwrap();
        let h = headers(ID, T_TEXT, SIGNATURE);
        assert!(verify(h, BODY, &[&other, &key()], T, FIVE_MINUTES).is_ok());
        assert_eq!(
            verify(h, BODY, &[&other], T, FIVE_MINUTES),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn malformed_headers() {
        let t = T_TEXT;
        let cases = [
            (SignedHeaders::default(), "nothing"),
            (headers("", t, SIGNATURE), "empty id"),
            (headers(ID, "soon", SIGNATURE), "bad timestamp"),
            (
                headers(ID, t, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
                "no version",
            ),
            (headers(ID, t, "v1a,abc"), "no v1"),
            (headers(ID, t, "v1,!!!"), "not base64"),
        ];
        for (h, what) in cases {
            let error = verify(h, BODY, &[&key()], T, FIVE_MINUTES).unwrap_err();
            assert!(error.is_malformed(), "{what}: {error}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(id in ".{0,64}", timestamp in ".{0,20}", signature in ".{0,200}", body in proptest::collection::vec(any::<u8>(), 0..256), now in any::<i64>()) {
            let _ = verify(headers(&id, &timestamp, &signature), &body, &[&key()], now, FIVE_MINUTES);
        }

        #[test]
        fn a_correctly_signed_body_always_verifies(
            raw_key in proptest::collection::vec(any::<u8>(), 1..64),
            id in "[a-zA-Z0-9_]{1,40}",
            body in proptest::collection::vec(any::<u8>(), 0..512),
            timestamp in 0i64..4_000_000_000,
            skew in -300i64..=300,
        ) {
            let key = Key::parse(&format!("whsec_{}", BASE64.encode(&raw_key))).unwrap();
            let signature = sign(&key, &id, timestamp, &body);
            let timestamp_text = timestamp.to_string();
            let h = headers(&id, &timestamp_text, &signature);
            prop_assert_eq!(verify(h, &body, &[&key], timestamp + skew, FIVE_MINUTES), Ok(()));
        }
    }
}
