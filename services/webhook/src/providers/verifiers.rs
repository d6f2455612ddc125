//! The verifiers of `webhook-verify` behind one signature, so a provider's table entry can name
//! its own, and the problems a failed verification becomes.

use std::time::Duration;

use inbox_core::events::SourceLabel;
use inbox_core::http::Headers;
use inbox_core::problem::{FieldError, Problem, ProblemKind};
use inbox_core::time::Timestamp;
use webhook_verify::{github, linear, shopify, slack, standard, stripe, VerifyError};

use super::secrets::Secrets;

/// What a verifier is given.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// The request headers.
    pub headers: &'a Headers,
    /// The raw body.
    pub body: &'a [u8],
    /// Now.
    pub now: Timestamp,
    /// How far a signed timestamp may be from now, either way.
    pub tolerance: Duration,
}

/// Checks a delivery against every configured secret.
pub type Verifier = fn(&Secrets, Signed<'_>) -> Result<(), VerifyError>;

fn hmac_keys(secrets: &Secrets) -> Vec<&[u8]> {
    match secrets {
        Secrets::Text(secrets) => secrets.iter().map(|s| s.key.expose().as_bytes()).collect(),
        // A provider whose secrets are Standard Webhooks keys uses `standard_webhooks`.
        Secrets::StandardWebhooks(_) => Vec::new(),
    }
}

/// GitHub: `X-Hub-Signature-256`.
pub fn github(secrets: &Secrets, signed: Signed<'_>) -> Result<(), VerifyError> {
    let signature = signed.headers.get(github::SIGNATURE_HEADER);
    github::verify(signature, signed.body, &hmac_keys(secrets))
}

/// Stripe: `Stripe-Signature`, timestamped.
pub fn stripe(secrets: &Secrets, signed: Signed<'_>) -> Result<(), VerifyError> {
    stripe::verify(
        signed.headers.get(stripe::SIGNATURE_HEADER),
        signed.body,
        &hmac_keys(secrets),
        signed.now.unix_seconds(),
        signed.tolerance,
    )
}

/// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
pub fn standard_webhooks(secrets: &Secrets, signed: Signed<'_>) -> Result<(), VerifyError> {
    let keys: Vec<&standard::Key> = match secrets {
        Secrets::StandardWebhooks(keys) => keys.iter().map(|k| &k.key).collect(),
        Secrets::Text(_) => Vec::new(),
    };
    let headers = standard::SignedHeaders {
        id: signed.headers.get(standard::ID_HEADER),
        timestamp: signed.headers.get(standard::TIMESTAMP_HEADER),
        signature: signed.headers.get(standard::SIGNATURE_HEADER),
    };
    standard::verify(
        headers,
        signed.body,
        &keys,
        signed.now.unix_seconds(),
        signed.tolerance,
    )
}

/// Shopify: `X-Shopify-Hmac-Sha256` (no signed timestamp).
pub fn shopify(secrets: &Secrets, signed: Signed<'_>) -> Result<(), VerifyError> {
    let signature = signed.headers.get(shopify::SIGNATURE_HEADER);
    shopify::verify(signature, signed.body, &hmac_keys(secrets))
}

/// Slack: `X-Slack-Signature` over `v0:{X-Slack-Request-Timestamp}:{body}`.
pub fn slack(secrets: &Secrets, signed: Signed<'_>) -> Result<(), VerifyError> {
    let headers = slack::SignedHeaders {
        timestamp: signed.headers.get(slack::TIMESTAMP_HEADER),
        signature: signed.headers.get(slack::SIGNATURE_HEADER),
    };
    slack::verify(
        headers,
        signed.body,
        &hmac_keys(secrets),
        signed.now.unix_seconds(),
        signed.tolerance,
    )
}

/// Linear: `Linear-Signature`, and the body's `webhookTimestamp` (milliseconds).
pub fn linear(secrets: &Secrets, signed: Signed<'_>) -> Result<(), VerifyError> {
    linear::verify(
        signed.headers.get(linear::SIGNATURE_HEADER),
        signed.body,
        &hmac_keys(secrets),
        signed.now.unix_millis(),
        signed.tolerance,
    )
}

/// Verifies a delivery and says which labelled secret verified it: the label when the one
/// secret that signs it has one (with several secrets, the first that verifies on its own: a
/// rotation gives both of a sender's secrets the same label).
pub fn verify_labelled(
    verifier: Verifier,
    secrets: &Secrets,
    signed: Signed<'_>,
) -> Result<Option<SourceLabel>, VerifyError> {
    verifier(secrets, signed)?;
    if !secrets.labels_matter() {
        return Ok(secrets.label(0).cloned());
    }
    Ok((0..secrets.len())
        .find(|position| verifier(&secrets.only(*position), signed).is_ok())
        .and_then(|position| secrets.label(position).cloned()))
}

/// The problem for a failed verification: 400 for a missing or malformed header or signed body
/// field, 401 otherwise.
pub fn verify_problem(error: &VerifyError) -> Problem {
    match error {
        VerifyError::MissingHeader(header) | VerifyError::MalformedHeader { header, .. } => {
            Problem::of(ProblemKind::InvalidSignatureHeader, error.to_string()).with_error(
                FieldError::new(format!("header:{header}"), error.to_string()),
            )
        }
        // A signed field of the body (Linear's `webhookTimestamp`), reported only once the
        // signature verified.
        VerifyError::MalformedBody { field, .. } => Problem::invalid(
            error.to_string(),
            vec![FieldError::new(format!("/{field}"), error.to_string())],
        ),
        VerifyError::TimestampOutOfTolerance { .. } | VerifyError::SignatureMismatch => {
            Problem::of(ProblemKind::SignatureMismatch, error.to_string())
                .with_header("www-authenticate", "Signature realm=\"webhooks\"")
        }
    }
}
