//! The request pipeline every HTTP component runs, by module:
//!
//! | module | job |
//! |---|---|
//! | `message` | the request, response, method, status and header types |
//! | `context` | [`RequestContext`]: what the pipeline knows besides the request: id, route, params |
//! | `pipeline` | [`serve`]: request id, body limits, the service, `HEAD`, one log line |
//! | `router` | [`Router`]: paths (`/api/events/:id`) and methods to handlers; 404 and 405 with `Allow` |
//! | [`conditional`] | strong ETags and `If-Match` / `If-None-Match` (RFC 9110 grammar) |
//!
//! `testing` (feature `testing`) builds requests and reads responses in tests.

pub mod conditional;
mod context;
mod message;
mod pipeline;
mod router;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use serde::Serialize;

pub use context::RequestContext;
pub use message::{Head, Headers, Method, Request, Response, StatusCode};
pub use pipeline::{serve, BodyError, BodyPolicy, Service};
pub use router::{template_error, Handler, Router};

use crate::problem::{FieldError, Problem, ProblemKind};

/// A JSON response with `Cache-Control: no-store` (everything we serve is live state).
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Result<Response, Problem> {
    json_response(status, serde_json::to_vec(body))
}

/// The part of [`json`] that does not depend on the body's type: one copy in each component
/// instead of one per type served (about 150 bytes each).
fn json_response(
    status: StatusCode,
    encoded: Result<Vec<u8>, serde_json::Error>,
) -> Result<Response, Problem> {
    let bytes = encoded.map_err(|error| {
        Problem::of(
            ProblemKind::Internal,
            format!("could not encode the response: {error}"),
        )
    })?;
    Ok(Response::new(status, bytes)
        .with_header("content-type", "application/json")
        .with_header("cache-control", "no-store"))
}

/// The media type of the request body (`Content-Type` without parameters, lower-cased).
pub fn media_type(request: &Request) -> Option<String> {
    request.headers().get("content-type").map(|value| {
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    })
}

/// 406 unless `Accept` (if sent) admits JSON.
pub fn accepts_json(accept: Option<&str>) -> Result<(), Problem> {
    let Some(accept) = accept else {
        return Ok(());
    };
    let acceptable = accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        // q=0 (written 0, 0., 0.0, 0.00 or 0.000) is the only weight that refuses a type.
        let refused = parts.any(|param| {
            param.strip_prefix("q=").is_some_and(|q| {
                q.strip_prefix('0').is_some_and(|rest| {
                    rest.is_empty() || rest.trim_start_matches(['.', '0']).is_empty()
                })
            })
        });
        !refused
            && matches!(
                media.as_str(),
                "*/*" | "application/*" | "application/json" | "application/problem+json"
            )
    });
    if acceptable {
        Ok(())
    } else {
        Err(Problem::of(
            ProblemKind::NotAcceptable,
            "this API only produces application/json; the Accept header excludes it",
        )
        .with_error(FieldError::new(
            "header:Accept",
            "must admit application/json",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::request;
    use super::*;

    #[test]
    fn media_type_drops_parameters() {
        let request = request(
            Method::POST,
            "/",
            &[("content-type", "Application/JSON; charset=utf-8")],
            b"",
        );
        assert_eq!(media_type(&request).as_deref(), Some("application/json"));
    }
}
