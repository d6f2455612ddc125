//! The verifiers of `webhook-verify` behind one signature, so a provider's table entry can name
//! its own, and the problems a failed verification becomes.

use std::time::Duration;

use inbox_core::events::SourceLabel;
use inbox_core::http::Headers;
use inbox_core::problem::{FieldError, Problem, ProblemKind};
use inbox_core::time::Timestamp;
use webhook_verify::scheme::{Request, Scheme};
use webhook_verify::VerifyError;

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
    /// The URL the sender called, for schemes that sign it.
    pub url: Option<&'a str>,
}

/// Verifies a delivery with the provider's scheme against every configured secret.
fn verify(scheme: &Scheme, secrets: &Secrets, signed: Signed<'_>) -> Result<(), VerifyError> {
    let lookup = |name: &str| signed.headers.get(name);
    let request = Request {
        header: &lookup,
        body: signed.body,
        url: signed.url,
        now_millis: signed.now.unix_millis(),
        tolerance: signed.tolerance,
    };
    scheme.verify(&request, &secrets.keys())
}

/// Verifies a delivery and says which labelled secret verified it: the label when the one
/// secret that signs it has one (with several secrets, the first that verifies on its own: a
/// rotation gives both of a sender's secrets the same label).
pub fn verify_labelled(
    verifier: &Scheme,
    secrets: &Secrets,
    signed: Signed<'_>,
) -> Result<Option<SourceLabel>, VerifyError> {
    verify(verifier, secrets, signed)?;
    if !secrets.labels_matter() {
        return Ok(secrets.label(0).cloned());
    }
    Ok((0..secrets.len())
        .find(|position| verify(verifier, &secrets.only(*position), signed).is_ok())
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
