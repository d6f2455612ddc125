//! The request pipeline every component runs.
//!
//! [`serve`] is what the Spin adapter calls once it has the request head: it assigns the request
//! id, enforces the service's body limit (from `Content-Length` before reading a byte, and again
//! while reading), hands the request to the service, strips bodies from `HEAD` answers, echoes
//! `x-request-id`, and writes one JSON log line. [`Router`] maps paths (Spin's and routefinder's syntax,
//! `/api/events/:id`) and methods to handlers and answers 404 and 405 (with `Allow`) itself.

mod message;

use std::time::Instant;

use serde::Serialize;

pub use message::{Head, Headers, Method, Request, Response, StatusCode};

use crate::problem::{FieldError, Problem, ProblemKind};
use crate::request_id::{self, RequestId};

/// What the pipeline knows about a request besides the request itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    request_id: RequestId,
    path: String,
    route: &'static str,
    params: Vec<(String, String)>,
}

impl RequestContext {
    /// A context for a request to `path`, with the given id.
    pub fn new(request_id: RequestId, path: impl Into<String>) -> Self {
        Self {
            request_id,
            path: path.into(),
            route: "unmatched",
            params: Vec::new(),
        }
    }

    /// The request id.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The request path (without the query).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The route template that matched, e.g. `/api/events/:id` (`unmatched` before routing).
    pub fn route(&self) -> &'static str {
        self.route
    }

    /// A path parameter captured by the route.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Renders a problem for this request: `instance` is the path unless the handler named a
    /// more specific resource, and the request id is included so a caller can quote it.
    pub fn render(&self, problem: Problem) -> Response {
        let problem = if problem.has_instance() {
            problem
        } else {
            problem.with_instance(self.path.clone())
        };
        problem
            .with_request_id(self.request_id.as_str())
            .into_response()
    }
}

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
    /// The component name, used in log lines.
    fn name(&self) -> &'static str;

    /// The body policy for this request, or a problem that answers it without reading the body
    /// (for example a misconfigured limit).
    fn body_policy(&self, head: &Head) -> Result<BodyPolicy, Problem>;

    /// Answers a request. Problems are rendered with [`RequestContext::render`].
    fn handle(&self, ctx: &mut RequestContext, request: Request) -> Response;

    /// Whether the pipeline writes the request log line for this answer. Every answer is logged
    /// unless a service says otherwise (health probes that succeed: the kubelet asks every few
    /// seconds, and a line per probe is noise that also costs a `log_level` lookup).
    fn logs_request(&self, _route: &'static str, _status: StatusCode) -> bool {
        true
    }
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

/// A handler: the service state, the request context and the request, to a response or a
/// problem.
pub type Handler<S> = fn(&S, &RequestContext, Request) -> Result<Response, Problem>;

struct Route<S> {
    template: &'static str,
    segments: Vec<Segment>,
    handlers: Vec<(Method, Handler<S>)>,
}

/// Path parameters captured by a route: `(name, value)`.
type Captures = Vec<(String, String)>;

/// One `/`-separated part of a route template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches exactly this text.
    Literal(&'static str),
    /// `:name`: matches any one non-empty segment and captures it.
    Param(&'static str),
}

impl<S> Route<S> {
    /// The captures if `path` matches, with a specificity score: literal segments earlier in
    /// the path win over parameters (`/api/events/stats` beats `/api/events/:id`).
    fn matches(&self, path: &str) -> Option<(Vec<bool>, Captures)> {
        let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut score = Vec::with_capacity(parts.len());
        let mut captures = Vec::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(text) if *text == part => score.push(true),
                Segment::Param(name) if !part.is_empty() => {
                    score.push(false);
                    captures.push(((*name).to_owned(), part.to_owned()));
                }
                _ => return None,
            }
        }
        Some((score, captures))
    }
}

/// Maps paths and methods to handlers.
///
/// Templates are `/`-separated literals and `:name` parameters (the syntax of routefinder,
/// which `spin_sdk::http::Router` uses). This matcher is a few dozen lines rather than
/// routefinder itself because the whole route table of a component has a handful of entries
/// and routefinder's general matcher costs about 9 KB of each component's size budget.
pub struct Router<S> {
    table: Vec<Route<S>>,
}

impl<S> std::fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.table.len())
            .finish()
    }
}

impl<S> Default for Router<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Router<S> {
    /// An empty router: every path is a 404.
    pub fn new() -> Self {
        Self { table: Vec::new() }
    }

    /// Serves `method` on `template` with `handler`. `GET` also serves `HEAD`. Fails only for a
    /// malformed template (not starting with `/`, or with an empty or unnamed segment), which
    /// the services' unit tests rule out.
    pub fn route(
        mut self,
        template: &'static str,
        method: Method,
        handler: Handler<S>,
    ) -> Result<Self, String> {
        if let Some(route) = self
            .table
            .iter_mut()
            .find(|route| route.template == template)
        {
            route.handlers.push((method, handler));
            return Ok(self);
        }
        let segments = template
            .strip_prefix('/')
            .ok_or_else(|| format!("route {template:?} must start with /"))?
            .split('/')
            .map(|segment| match segment.strip_prefix(':') {
                Some("") | None if segment.is_empty() || segment == ":" => {
                    Err(format!("route {template:?} has an empty segment"))
                }
                Some(name) => Ok(Segment::Param(name)),
                None => Ok(Segment::Literal(segment)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.table.push(Route {
            template,
            segments,
            handlers: vec![(method, handler)],
        });
        Ok(self)
    }

    /// Routes a request: 404 when no template matches, 405 (with `Allow`) when the template
    /// matches but not the method.
    pub fn dispatch(&self, state: &S, ctx: &mut RequestContext, request: Request) -> Response {
        let best = self
            .table
            .iter()
            .filter_map(|route| {
                route
                    .matches(request.path())
                    .map(|(score, captures)| (score, captures, route))
            })
            .max_by(|a, b| a.0.cmp(&b.0));
        let Some((_, captures, route)) = best else {
            return ctx.render(Problem::route_not_found(request.path()));
        };
        ctx.route = route.template;
        ctx.params = captures;

        let wanted = if *request.method() == Method::HEAD {
            Method::GET
        } else {
            request.method().clone()
        };
        let handler = route
            .handlers
            .iter()
            .find(|(method, _)| *method == wanted)
            .map(|(_, handler)| *handler);
        match handler {
            Some(handler) => {
                handler(state, ctx, request).unwrap_or_else(|problem| ctx.render(problem))
            }
            None => {
                let mut allow: Vec<Method> = Vec::new();
                for (method, _) in &route.handlers {
                    allow.push(method.clone());
                    if *method == Method::GET {
                        allow.push(Method::HEAD);
                    }
                }
                ctx.render(Problem::method_not_allowed(request.method(), &allow))
            }
        }
    }
}

/// Dispatches through a router built at start-up; a router that failed to build (a malformed
/// template, ruled out by each service's unit tests) answers 500 rather than panicking.
pub fn dispatch<S>(
    router: &Result<Router<S>, String>,
    state: &S,
    ctx: &mut RequestContext,
    request: Request,
) -> Response {
    match router {
        Ok(router) => router.dispatch(state, ctx, request),
        Err(error) => ctx.render(Problem::of(
            ProblemKind::Internal,
            format!("the route table is invalid: {error}"),
        )),
    }
}

/// A JSON response with `Cache-Control: no-store` (everything we serve is live state).
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Result<Response, Problem> {
    let bytes = serde_json::to_vec(body).map_err(|error| {
        Problem::of(
            ProblemKind::Internal,
            format!("could not encode the response: {error}"),
        )
    })?;
    Ok(Response::new(status, bytes)
        .with_header("content-type", "application/json")
        .with_header("cache-control", "no-store"))
}

/// A header's value as text.
pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers().get(name)
}

/// The media type of the request body (`Content-Type` without parameters, lower-cased).
pub fn media_type(request: &Request) -> Option<String> {
    header(request, "content-type").map(|value| {
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    })
}

/// Helpers for tests across the workspace: building requests and reading responses.
// Indexing a `serde_json::Value` by key yields `Null` when absent; it cannot panic.
#[allow(clippy::indexing_slicing)]
pub mod testing {
    use super::*;

    /// A request with the given method, target, headers and body.
    pub fn request(method: Method, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        let mut head = Head::new(method, target);
        for (name, value) in headers {
            head.headers.append(name, value);
        }
        Request::from_parts(head, body.to_vec())
    }

    /// Runs a request through [`serve`] with an in-memory body.
    pub fn call<S: Service>(service: &S, request: Request) -> Response {
        let (head, body) = request.into_parts();
        serve(service, head, |limit| {
            if body.len() > limit {
                Err(BodyError::TooLarge { limit })
            } else {
                Ok(body)
            }
        })
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
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
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
            .route("/things/:id", Method::GET, echo_body)
            .and_then(|r| r.route("/things/:id", Method::PUT, echo_body))
            .and_then(|r| r.route("/fail", Method::POST, fail))
            .unwrap();
        Echo { router, policy }
    }

    impl Service for Echo {
        fn name(&self) -> &'static str {
            "echo"
        }
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
        service.router = std::mem::take(&mut service.router)
            .route("/things/special", Method::GET, literal)
            .unwrap();
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
    fn malformed_templates_are_refused() {
        for template in ["", "no-slash", "/a//b", "/a/:"] {
            assert!(
                Router::<Echo>::new()
                    .route(template, Method::GET, fail)
                    .is_err(),
                "{template}"
            );
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
