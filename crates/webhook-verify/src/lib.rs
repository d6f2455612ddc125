//! Webhook signature verification.
//!
//! [`scheme`] holds the schemes as data and the one verifier (and signer) that serves them all:
//! every provider of `provider-catalogue` and every generic source is a [`scheme::Scheme`] value.
//! It takes a header lookup (so it works with any HTTP library), the raw body bytes, the
//! configured secrets (several during a rotation) and the current time, so tests pin time instead
//! of sleeping. Signatures are compared in constant time (`hmac`'s `verify_slice`, `subtle`).
//! Nothing here logs, and no error carries a secret or a signature. [`json`] reads one value of a
//! JSON body without building a document.
//!
//! The modules below hold the schemes of the first six providers (each a `SCHEME` constant, the
//! value `provider-catalogue`'s row uses) with their published vectors, and reference signers
//! (and verifiers) that are thin wrappers over the engine with typed arguments: the end-to-end
//! suite, the bench and the forwarding tests sign with them.
//!
//! | provider | header | signed bytes | encoding | replay window |
//! |---|---|---|---|---|
//! | [`github`] | `X-Hub-Signature-256: sha256=<sig>` | body | hex | none |
//! | [`stripe`] | `Stripe-Signature: t=<ts>,v1=<sig>[,v1=<sig>...]` | `<ts>.<body>` | hex | `t=` (s) |
//! | [`standard`] | `webhook-signature: v1,<sig> [v1,<sig>...]` | `<webhook-id>.<webhook-timestamp>.<body>` | base64 | `webhook-timestamp` (s) |
//! | [`shopify`] | `X-Shopify-Hmac-Sha256: <sig>` | body | base64 | none |
//! | [`slack`] | `X-Slack-Signature: v0=<sig>` | `v0:<X-Slack-Request-Timestamp>:<body>` | hex | `X-Slack-Request-Timestamp` (s) |
//! | [`linear`] | `Linear-Signature: <sig>` | body | hex | the body's `webhookTimestamp` (ms) |
#![forbid(unsafe_code)]

pub mod github;
pub mod json;
pub mod linear;
pub mod scheme;
pub mod shopify;
pub mod slack;
pub mod standard;
pub mod stripe;

use std::time::Duration;

/// Why a delivery was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the scheme needs is absent.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// A header is present but does not have the scheme's shape.
    #[error("the {header} header is malformed: {reason}")]
    MalformedHeader {
        /// The header.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A field of the body that the scheme reads (Linear's signed `webhookTimestamp`) is absent or
    /// does not have the scheme's shape. Only reported for a body whose signature verified.
    #[error("the body's {field} field is malformed: {reason}")]
    MalformedBody {
        /// The field, as named in the body.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signed timestamp is too far from now (a replay, or a badly wrong clock).
    #[error(
        "the signed timestamp is {skew_secs} s from now, more than the {tolerance_secs} s allowed"
    )]
    TimestampOutOfTolerance {
        /// How far from now, in seconds (either direction).
        skew_secs: u64,
        /// The tolerance.
        tolerance_secs: u64,
    },
    /// No signature matches any configured secret.
    #[error("no signature matches the configured secret")]
    SignatureMismatch,
}

impl VerifyError {
    /// Whether the caller sent something malformed (400) rather than something unauthentic
    /// (401).
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            Self::MissingHeader(_) | Self::MalformedHeader { .. } | Self::MalformedBody { .. }
        )
    }
}

/// Runs `run` on a request of `headers` (lower-case name, value if sent) and `body`, without a
/// URL.
fn with_request<T>(
    headers: &[(&str, Option<&str>)],
    body: &[u8],
    now_millis: i64,
    tolerance: Duration,
    run: impl FnOnce(&scheme::Request<'_>) -> T,
) -> T {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(header, _)| *header == name)
            .and_then(|(_, value)| *value)
    };
    run(&scheme::Request {
        header: &header,
        body,
        url: None,
        now_millis,
        tolerance,
    })
}

/// The reference modules' verifiers: `scheme` over a delivery of `headers` and `body`.
fn verify_with(
    scheme: &scheme::Hashed,
    headers: &[(&str, Option<&str>)],
    body: &[u8],
    keys: &[&[u8]],
    now_millis: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    with_request(headers, body, now_millis, tolerance, |request| {
        scheme.verify(request, keys)
    })
}

/// The reference modules' signers: the signature header's value for `body` and the signed
/// `headers`, empty where one of them is missing or empty (which no verifier accepts).
fn sign_with(
    scheme: &scheme::Hashed,
    headers: &[(&str, Option<&str>)],
    body: &[u8],
    key: &[u8],
    timestamp: Option<&str>,
) -> String {
    with_request(headers, body, 0, Duration::ZERO, |request| {
        scheme.sign(request, key, timestamp)
    })
    .unwrap_or_default()
}

/// Checks `|now - timestamp| <= tolerance`, in both directions.
fn check_timestamp(timestamp: i64, now: i64, tolerance: Duration) -> Result<(), VerifyError> {
    let skew_secs = now.abs_diff(timestamp);
    if skew_secs > tolerance.as_secs() {
        return Err(VerifyError::TimestampOutOfTolerance {
            skew_secs,
            tolerance_secs: tolerance.as_secs(),
        });
    }
    Ok(())
}

/// A Unix timestamp in seconds: only ASCII digits, at most 12 of them (no signs, no spaces).
fn parse_timestamp(text: &str, header: &'static str) -> Result<i64, VerifyError> {
    let malformed = VerifyError::MalformedHeader {
        header,
        reason: "the timestamp is not a Unix time in seconds",
    };
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed);
    }
    text.parse().map_err(|_| malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_checked_in_both_directions_inclusively() {
        let tolerance = Duration::from_secs(300);
        assert!(check_timestamp(1000, 1300, tolerance).is_ok());
        assert!(check_timestamp(1300, 1000, tolerance).is_ok());
        assert!(check_timestamp(999, 1300, tolerance).is_err());
        assert!(check_timestamp(1301, 1000, tolerance).is_err());
    }

    #[test]
    fn malformed_input_is_400_material_and_the_rest_401() {
        let malformed = [
            VerifyError::MissingHeader("h"),
            VerifyError::MalformedHeader {
                header: "h",
                reason: "r",
            },
            VerifyError::MalformedBody {
                field: "webhookTimestamp",
                reason: "missing",
            },
        ];
        for error in malformed {
            assert!(error.is_malformed(), "{error}");
        }
        let unauthentic = [
            VerifyError::SignatureMismatch,
            VerifyError::TimestampOutOfTolerance {
                skew_secs: 301,
                tolerance_secs: 300,
            },
        ];
        for error in unauthentic {
            assert!(!error.is_malformed(), "{error}");
        }
        assert_eq!(
            VerifyError::MalformedBody {
                field: "webhookTimestamp",
                reason: "missing",
            }
            .to_string(),
            "the body's webhookTimestamp field is malformed: missing"
        );
    }

    #[test]
    fn timestamps_are_digits_only() {
        assert_eq!(parse_timestamp("1614265330", "h"), Ok(1_614_265_330));
        for bad in ["", "-1", "+1", " 1", "1.5", "1e9", "9999999999999"] {
            assert!(parse_timestamp(bad, "h").is_err(), "{bad:?}");
        }
    }
}
