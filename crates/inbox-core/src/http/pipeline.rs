//! [`serve`]: what happens to every request before and after the component's handler.
//!
//! It assigns the request id, enforces the service's body limit (from `Content-Length` before
//! reading a byte, and again while reading), hands the request to the service, strips bodies
//! from `HEAD` answers, declares the body's length, echoes `x-request-id`, and writes one JSON
//! log line.

use std::time::Instant;

use super::{Head, Method, Request, RequestContext, Response, StatusCode};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::request_id::{self, RequestId};

/// How much body a service accepts for a given request, decided from the head alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPolicy {
    /// Largest body accepted, in bytes.
    pub limit: usize,
    /// Whether a request without `Content-Length` is refused with 411 (for bodies that are
    /// always small and always sent with a length, e.g. JSON API calls).
    pub require_length: bool,
}

impl BodyPolicy {
    /// Requests that should carry no meaningful body (health checks, GETs).
    pub const SMALL: Self = Self {
        limit: 16 * 1024,
        require_length: false,
    };
}

/// Why the body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// More bytes arrived than the limit allows.
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The connection failed while reading.
    #[error("the body could not be read: {0}")]
    Read(String),
}

/// A component: decides its body policy from the head, then handles whole requests.
pub trait Service {
    /// The body policy for this request, or a problem that answers it without reading the body
    /// (for example a misconfigured limit).
    fn body_policy(&self, head: &Head) -> Result<BodyPolicy, Problem>;

    /// Answers a request. Problems are rendered with [`RequestContext::render`].
    fn handle(&self, ctx: &mut RequestContext, request: Request) -> Response;

    /// Whether the pipeline writes the request log line for this answer. Every answer is logged
    /// but probes that succeed: the kubelet asks every few seconds, and a line per probe is
    /// noise that also costs a `log_level` lookup (BENCHMARKS.md).
    fn logs_request(&self, route: &'static str, status: StatusCode) -> bool {
        !crate::probes::is_quiet(route, status)
    }

    /// Work to do once the response has been handed to the client (the host sends it while this
    /// runs, so the client never waits for it): a first forwarding attempt, a bounded pruning
    /// step. Nothing here may change the answer, and a failure is only logged.
    fn after_response(&self) {}
}

/// Runs one request through the pipeline.
///
/// `read_body` is called at most once, with the limit, and must stop reading (returning
/// [`BodyError::TooLarge`]) as soon as more than `limit` bytes arrive.
pub fn serve<S: Service>(
    service: &S,
    head: Head,
    read_body: impl FnOnce(usize) -> Result<Vec<u8>, BodyError>,
) -> Response {
    let started = Instant::now();
    let mut ctx = RequestContext::new(RequestId::from_headers(&head.headers), head.path.as_str());
    let method = head.method.clone();

    let mut response = match admit(service, &head)
        .and_then(|limit| read_body(limit).map_err(|error| body_problem(&error)))
    {
        Ok(body) => service.handle(&mut ctx, Request::from_parts(head, body)),
        Err(problem) => ctx.render(problem),
    };

    if method == Method::HEAD {
        response.body_mut().clear();
    } else if carries_length(response.status()) {
        // Without a length Spin sends the body chunked, after the head and before the closing
        // chunk, in separate small writes; its listener keeps Nagle's algorithm on, so a share of
        // responses then waits out the client's delayed ACK (~40 ms). BENCHMARKS.md measures it.
        let length = response.body().len().to_string();
        response.headers_mut().insert("content-length", &length);
    }
    response
        .headers_mut()
        .insert(request_id::HEADER, ctx.request_id().as_str());

    if !service.logs_request(ctx.route(), response.status()) {
        return response;
    }
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        method = method.as_str(),
        route = ctx.route(),
        status = u64::from(response.status().as_u16()),
        latency_ms = (latency_ms * 1000.0).round() / 1000.0,
        request_id = ctx.request_id().as_str(),
        "request"
    );
    response
}

/// Whether a response with this status is framed by a `Content-Length` (RFC 9110 8.6: not
/// 1xx, 204 or 304).
fn carries_length(status: StatusCode) -> bool {
    let code = status.as_u16();
    code >= 200 && code != 204 && code != 304
}

/// Checks the head against the service's body policy; returns the limit to read with.
fn admit<S: Service>(service: &S, head: &Head) -> Result<usize, Problem> {
    let policy = service.body_policy(head)?;
    match declared_length(head)? {
        Some(length) if length > policy.limit => Err(body_problem(&BodyError::TooLarge {
            limit: policy.limit,
        })),
        Some(_) => Ok(policy.limit),
        None if policy.require_length && carries_body(head) => Err(Problem::of(
            ProblemKind::LengthRequired,
            "this route needs a Content-Length header",
        )
        .with_error(FieldError::new("header:Content-Length", "missing"))),
        None => Ok(policy.limit),
    }
}

/// The `Content-Length` the client declared, if any.
fn declared_length(head: &Head) -> Result<Option<usize>, Problem> {
    let Some(value) = head.headers.get("content-length") else {
        return Ok(None);
    };
    let digits = value.trim();
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<usize>().ok())
        .flatten()
        .map(Some)
        .ok_or_else(|| {
            Problem::invalid(
                "Content-Length is not a number",
                vec![FieldError::new(
                    "header:Content-Length",
                    "must be a non-negative integer",
                )],
            )
        })
}

/// Whether the request says it has a body (a length, or chunked transfer).
fn carries_body(head: &Head) -> bool {
    head.headers.contains_key("transfer-encoding") || head.method.expects_body()
}

fn body_problem(error: &BodyError) -> Problem {
    match error {
        BodyError::TooLarge { limit } => Problem::of(
            ProblemKind::PayloadTooLarge,
            format!("the body must not exceed {limit} bytes"),
        ),
        BodyError::Read(_) => Problem::of(ProblemKind::InvalidRequest, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::*;
    use crate::http::{json, Handler, Router};
    use crate::logging::CapturedLogs;

    struct Echo {
        router: Router<Echo>,
        policy: BodyPolicy,
    }

    fn echo_body(_: &Echo, ctx: &RequestContext, request: Request) -> Result<Response, Problem> {
        json(
            StatusCode::OK,
            &serde_json::json!({
                "len": request.body().len(),
                "id": ctx.param("id"),
            }),
        )
    }

    fn fail(_: &Echo, _: &RequestContext, _: Request) -> Result<Response, Problem> {
        Err(Problem::of(ProblemKind::InvalidRequest, "nope"))
    }

    fn echo(policy: BodyPolicy) -> Echo {
        let router = Router::new()
            .route("/things/:id", Method::GET, echo_body as Handler<Echo>)
            .route("/things/:id", Method::PUT, echo_body)
            .route("/fail", Method::POST, fail);
        Echo { router, policy }
    }

    impl Service for Echo {
        fn body_policy(&self, _: &Head) -> Result<BodyPolicy, Problem> {
            Ok(self.policy)
        }
        fn handle(&self, ctx: &mut RequestContext, request: Request) -> Response {
            self.router.dispatch(self, ctx, request)
        }
    }

    const POLICY: BodyPolicy = BodyPolicy {
        limit: 10,
        require_length: false,
    };

    #[test]
    fn routes_by_path_and_captures_params() {
        let response = call(&echo(POLICY), request(Method::GET, "/things/42", &[], b""));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_json(&response)["id"], "42");
    }

    #[test]
    fn literal_segments_beat_parameters_and_lengths_must_match() {
        fn literal(_: &Echo, _: &RequestContext, _: Request) -> Result<Response, Problem> {
            json(StatusCode::OK, &"literal")
        }
        let mut service = echo(POLICY);
        service.router =
            std::mem::take(&mut service.router).route("/things/special", Method::GET, literal);
        let response = call(&service, request(Method::GET, "/things/special", &[], b""));
        assert_eq!(body_json(&response), "literal");
        let response = call(&service, request(Method::GET, "/things/other", &[], b""));
        assert_eq!(body_json(&response)["id"], "other");
        for path in ["/things", "/things/", "/things/1/2", "things/1"] {
            let response = call(&service, request(Method::GET, path, &[], b""));
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn unknown_path_is_a_problem_404() {
        let response = call(&echo(POLICY), request(Method::GET, "/nothing", &[], b""));
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            header_of(&response, "content-type"),
            Some("application/problem+json")
        );
        assert_eq!(body_json(&response)["instance"], "/nothing");
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let response = call(
            &echo(POLICY),
            request(Method::DELETE, "/things/1", &[], b""),
        );
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header_of(&response, "allow"), Some("GET, HEAD, PUT"));
    }

    #[test]
    fn head_is_served_by_get_without_a_body() {
        let response = call(&echo(POLICY), request(Method::HEAD, "/things/1", &[], b""));
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.body().is_empty());
        assert_eq!(
            header_of(&response, "content-type"),
            Some("application/json")
        );
    }

    #[test]
    fn responses_with_a_body_declare_its_length() {
        let service = echo(POLICY);
        let response = call(&service, request(Method::GET, "/things/1", &[], b""));
        let length = response.body().len().to_string();
        assert_eq!(
            header_of(&response, "content-length"),
            Some(length.as_str())
        );
        let problem = call(&service, request(Method::GET, "/nothing", &[], b""));
        let length = problem.body().len().to_string();
        assert_eq!(header_of(&problem, "content-length"), Some(length.as_str()));
        // HEAD answers carry no body, so no length of one (the host would refuse the mismatch).
        let head = call(&service, request(Method::HEAD, "/things/1", &[], b""));
        assert_eq!(header_of(&head, "content-length"), None);
    }

    #[test]
    fn statuses_without_a_body_declare_no_length() {
        for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
            assert!(!carries_length(status), "{status}");
        }
        for status in [StatusCode::OK, StatusCode::NOT_FOUND] {
            assert!(carries_length(status), "{status}");
        }
    }

    #[test]
    fn declared_length_over_the_limit_is_refused_before_reading() {
        let service = echo(POLICY);
        let (head, _) =
            request(Method::PUT, "/things/1", &[("content-length", "11")], b"").into_parts();
        let response = serve(&service, head, |_| panic!("the body must not be read"));
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn undeclared_oversized_body_is_refused_while_reading() {
        let response = call(
            &echo(POLICY),
            request(Method::PUT, "/things/1", &[], &[0; 11]),
        );
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn malformed_content_length_is_400() {
        let response = call(
            &echo(POLICY),
            request(Method::PUT, "/things/1", &[("content-length", "ten")], b""),
        );
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            body_json(&response)["errors"][0]["field"],
            "header:Content-Length"
        );
    }

    #[test]
    fn length_can_be_required() {
        let strict = BodyPolicy {
            limit: 10,
            require_length: true,
        };
        let response = call(&echo(strict), request(Method::PUT, "/things/1", &[], b"{}"));
        assert_eq!(response.status(), StatusCode::LENGTH_REQUIRED);
        let response = call(
            &echo(strict),
            request(Method::PUT, "/things/1", &[("content-length", "2")], b"{}"),
        );
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn request_id_is_echoed_or_minted_and_in_problems() {
        let response = call(
            &echo(POLICY),
            request(Method::POST, "/fail", &[("x-request-id", "abc-1")], b""),
        );
        assert_eq!(header_of(&response, "x-request-id"), Some("abc-1"));
        assert_eq!(body_json(&response)["request_id"], "abc-1");

        let response = call(&echo(POLICY), request(Method::GET, "/things/1", &[], b""));
        assert_eq!(header_of(&response, "x-request-id").map(str::len), Some(32));
    }

    #[test]
    fn logs_one_line_per_request_without_the_body() {
        let (_, logs) = CapturedLogs::capture(|| {
            call(
                &echo(POLICY),
                request(
                    Method::PUT,
                    "/things/7?token=s3cret",
                    &[("x-request-id", "r1")],
                    b"s3cret",
                ),
            );
        });
        let lines = logs.lines();
        assert_eq!(lines.len(), 1, "{}", logs.text());
        let line = &lines[0];
        assert_eq!(line["method"], "PUT");
        assert_eq!(line["route"], "/things/:id");
        assert_eq!(line["status"], 200);
        assert_eq!(line["request_id"], "r1");
        assert!(line["latency_ms"].as_f64().is_some());
        assert!(!logs.text().contains("s3cret"));
    }
}
