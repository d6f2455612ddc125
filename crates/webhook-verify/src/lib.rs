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
//! The modules below are the reference signers (and verifiers) of the first six providers, each
//! with its published vectors: the end-to-end suite, the bench and the forwarding tests sign with
//! them, and their vectors are verified again through the catalogue's rows.
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

use hmac::{Hmac, Mac};
use sha2::Sha256;

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

/// HMAC-SHA256 over the concatenation of `parts`. `None` cannot happen (HMAC takes keys of any
/// length) but is handled as "does not verify" rather than unwrapped.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

/// Whether `candidate` is the HMAC of `parts` under any of `keys`, in constant time per key.
fn any_key_signs(keys: &[&[u8]], parts: &[&[u8]], candidate: &[u8]) -> bool {
    keys.iter()
        .any(|key| hmac_sha256(key, parts).is_some_and(|mac| mac.verify_slice(candidate).is_ok()))
}

/// `Ok` when `candidate` is the HMAC of `parts` under any of `keys`, else a signature mismatch.
fn signed_by_any(keys: &[&[u8]], parts: &[&[u8]], candidate: &[u8]) -> Result<(), VerifyError> {
    if any_key_signs(keys, parts, candidate) {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

/// A header's decoded HMAC-SHA256 (32 bytes), or why the header is malformed.
fn mac_bytes(
    decoded: Option<Vec<u8>>,
    header: &'static str,
    reason: &'static str,
) -> Result<Vec<u8>, VerifyError> {
    decoded
        .filter(|bytes| bytes.len() == 32)
        .ok_or(VerifyError::MalformedHeader { header, reason })
}

/// The raw HMAC-SHA256 of `parts` under `key`: for signing in tests and tools.
fn sign_raw(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    hmac_sha256(key, parts)
        .map(|mac| mac.finalize().into_bytes().to_vec())
        .unwrap_or_default()
}

/// The value of a header the scheme needs, or a missing-header error.
fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, VerifyError> {
    value.ok_or(VerifyError::MissingHeader(name))
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
