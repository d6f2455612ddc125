//! Helpers for tests across the workspace: building requests and reading responses
//! (feature `testing`).
// Indexing a `serde_json::Value` by key yields `Null` when absent; it cannot panic.
#![allow(clippy::indexing_slicing)]

use super::{serve, BodyError, Head, Method, Request, Response, Service};

/// A request with the given method, target, headers and body.
pub fn request(method: Method, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    let mut head = Head::new(method, target);
    for (name, value) in headers {
        head.headers.append(name, value);
    }
    Request::from_parts(head, body.to_vec())
}

/// A request with `Authorization: Bearer {token}` and, if given, a `Content-Type`.
pub fn authed(
    method: Method,
    target: &str,
    token: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> Request {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str())];
    if let Some(content_type) = content_type {
        headers.push(("content-type", content_type));
    }
    request(method, target, &headers, body)
}

/// Runs a request through [`serve`] with an in-memory body, then the service's
/// [`Service::after_response`] work, as the Spin adapter does.
pub fn call<S: Service>(service: &S, request: Request) -> Response {
    let (head, body) = request.into_parts();
    let response = serve(service, head, |limit| {
        if body.len() > limit {
            Err(BodyError::TooLarge { limit })
        } else {
            Ok(body)
        }
    });
    service.after_response();
    response
}

/// Asserts an RFC 9457 problem with this status and `type` slug; returns its body.
pub fn assert_problem(response: &Response, status: u16, slug: &str) -> serde_json::Value {
    let text = String::from_utf8_lossy(response.body()).into_owned();
    assert_eq!(response.status().as_u16(), status, "{text}");
    assert_eq!(
        header_of(response, "content-type"),
        Some(crate::problem::PROBLEM_JSON),
        "{text}"
    );
    let body = body_json(response);
    assert_eq!(
        body["type"],
        format!("{}{slug}", crate::problem::TYPE_PREFIX),
        "{text}"
    );
    body
}

/// The `field` of each entry of a problem's `errors`.
pub fn error_fields(problem: &serde_json::Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The response body as JSON (`Null` if it is not JSON).
pub fn body_json(response: &Response) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap_or(serde_json::Value::Null)
}

/// A response header as text.
pub fn header_of<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name)
}
