//! Bearer tokens (RFC 6750), compared in constant time.
//!
//! Tokens come from the secret variable `api_token`; several whitespace-separated tokens may be
//! valid at once so a rotation needs no downtime. With no token configured the API refuses
//! every request (503): it fails closed, never open.

use crate::config::{self, names, Variables};
use crate::problem::{FieldError, Problem, ProblemKind};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The realm named in `WWW-Authenticate`.
pub const REALM: &str = "webhook-inbox";

/// Checks the `Authorization` header against the configured tokens.
pub fn authorize(authorization: Option<&str>, vars: &dyn Variables) -> Result<(), Problem> {
    authorize_any(authorization, vars, &[names::API_TOKEN])
}

/// Checks the `Authorization` header against the tokens of any of `variables` (the forwarder's
/// per-event dispatch takes an API token or the dispatch token).
pub fn authorize_any(
    authorization: Option<&str>,
    vars: &dyn Variables,
    variables: &[&str],
) -> Result<(), Problem> {
    let mut tokens = Vec::new();
    for variable in variables {
        tokens.extend(config::secret_list(vars, variable).map_err(|error| {
            Problem::of(ProblemKind::Misconfigured, error.to_string()).with_retry_after(60)
        })?);
    }
    if tokens.is_empty() {
        return Err(Problem::of(
            ProblemKind::Misconfigured,
            "no API token is configured (variable api_token), so the API is closed",
        )
        .with_retry_after(60));
    }
    let Some(header) = authorization else {
        return Err(challenge(
            "an Authorization: Bearer <token> header is required",
            None,
        ));
    };
    let presented = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            challenge(
                "the Authorization header must be `Bearer <token>`",
                Some("invalid_request"),
            )
        })?;
    // Hash both sides first so the comparison takes the same time whatever the lengths.
    let presented = Sha256::digest(presented.as_bytes());
    let matches = tokens.iter().fold(subtle::Choice::from(0), |found, token| {
        found | Sha256::digest(token.expose().as_bytes()).ct_eq(&presented)
    });
    if bool::from(matches) {
        Ok(())
    } else {
        Err(challenge(
            "the bearer token is not valid",
            Some("invalid_token"),
        ))
    }
}

fn challenge(detail: &str, error: Option<&str>) -> Problem {
    let value = match error {
        Some(error) => format!("Bearer realm=\"{REALM}\", error=\"{error}\""),
        None => format!("Bearer realm=\"{REALM}\""),
    };
    Problem::of(ProblemKind::Unauthorized, detail)
        .with_error(FieldError::new("header:Authorization", detail))
        .with_header("www-authenticate", &value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StaticVariables;

    fn vars(tokens: &str) -> StaticVariables {
        StaticVariables::from_pairs([(names::API_TOKEN, tokens)])
    }

    #[test]
    fn accepts_any_configured_token() {
        let v = vars("old-token new-token");
        assert!(authorize(Some("Bearer old-token"), &v).is_ok());
        assert!(authorize(Some("bearer new-token"), &v).is_ok());
    }

    #[test]
    fn refuses_missing_malformed_and_wrong_tokens_with_a_challenge() {
        let v = vars("secret-token");
        for (header, error) in [
            (None, None),
            (Some("secret-token"), Some("invalid_request")),
            (Some("Basic c2VjcmV0"), Some("invalid_request")),
            (Some("Bearer "), Some("invalid_request")),
            (Some("Bearer secret-tokenX"), Some("invalid_token")),
            (Some("Bearer secret"), Some("invalid_token")),
        ] {
            let problem = authorize(header, &v).unwrap_err();
            assert_eq!(problem.kind(), ProblemKind::Unauthorized, "{header:?}");
            let response = problem.into_response();
            let challenge = response.headers().get("www-authenticate").unwrap();
            assert!(
                challenge.starts_with("Bearer realm=\"webhook-inbox\""),
                "{challenge}"
            );
            if let Some(error) = error {
                assert!(challenge.contains(error), "{header:?}: {challenge}");
            }
        }
    }

    #[test]
    fn fails_closed_without_a_token() {
        for configured in ["", "   "] {
            let problem = authorize(Some("Bearer anything"), &vars(configured)).unwrap_err();
            assert_eq!(problem.status().as_u16(), 503);
        }
        let problem = authorize(Some("Bearer anything"), &StaticVariables::default()).unwrap_err();
        assert_eq!(problem.status().as_u16(), 503);
    }
}
