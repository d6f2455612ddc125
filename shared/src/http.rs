//! The request pipeline every component runs, written against the `http` crate's types.
//!
//! [`serve`] is what the Spin adapter calls once it has the request head: it assigns the request
//! id, enforces the service's body limit (from `Content-Length` before reading a byte, and again
//! while reading), hands the request to the service, strips bodies from `HEAD` answers, echoes
//! `x-request-id`, and writes one JSON log line. [`Router`] maps paths (routefinder syntax,
//! `/api/events/:id`) and methods to handlers and answers 404 and 405 (with `Allow`) itself.

use std::time::Instant;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{Method, StatusCode};
use serde::Serialize;

use crate::problem::{FieldError, Problem, ProblemKind};
use crate::request_id::{self, RequestId};

/// A request with its whole body.
pub type Request = http::Request<Vec<u8>>;
/// A response with its whole body.
pub type Response = http::Response<Vec<u8>>;

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
    fn body_policy(&self, head: &Parts) -> Result<BodyPolicy, Problem>;

    /// Answers a request. Problems are rendered with [`RequestContext::render`].
    fn handle(&self, ctx: &mut RequestContext, request: Request) -> Response;
}

/// Runs one request through the pipeline.
///
/// `read_body` is called at most once, with the limit, and must stop reading (returning
/// [`BodyError::TooLarge`]) as soon as more than `limit` bytes arrive.
pub fn serve<S: Service>(
    service: &S,
    head: Parts,
    read_body: impl FnOnce(usize) -> Result<Vec<u8>, BodyError>,
) -> Response {
    let started = Instant::now();
    let mut ctx = RequestContext::new(RequestId::from_headers(&head.headers), head.uri.path());
    let method = head.method.clone();

    let mut response = match admit(service, &head)
        .and_then(|limit| read_body(limit).map_err(|error| body_problem(&error)))
    {
        Ok(body) => service.handle(&mut ctx, Request::from_parts(head, body)),
        Err(problem) => ctx.render(problem),
    };

    if method == Method::HEAD {
        response.body_mut().clear();
    }
    if let Ok(value) = HeaderValue::from_str(ctx.request_id().as_str()) {
        response.headers_mut().insert(request_id::HEADER, value);
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

/// Checks the head against the service's body policy; returns the limit to read with.
fn admit<S: Service>(service: &S, head: &Parts) -> Result<usize, Problem> {
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
fn declared_length(head: &Parts) -> Result<Option<usize>, Problem> {
    let Some(value) = head.headers.get(CONTENT_LENGTH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
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
fn carries_body(head: &Parts) -> bool {
    head.headers.contains_key(http::header::TRANSFER_ENCODING)
        || matches!(head.method, Method::POST | Method::PUT | Method::PATCH)
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
    handlers: Vec<(Method, Handler<S>)>,
}

/// Maps paths and methods to handlers.
pub struct Router<S> {
    /// Template to index into `table`.
    routes: routefinder::Router<usize>,
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
        Self {
            routes: routefinder::Router::new(),
            table: Vec::new(),
        }
    }

    /// Serves `method` on `template` with `handler`. `GET` also serves `HEAD`. Fails only for a
    /// template routefinder cannot parse, which the services' unit tests rule out.
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
        } else {
            self.routes.add(template, self.table.len())?;
            self.table.push(Route {
                template,
                handlers: vec![(method, handler)],
            });
        }
        Ok(self)
    }

    /// Routes a request: 404 when no template matches, 405 (with `Allow`) when the template
    /// matches but not the method.
    pub fn dispatch(&self, state: &S, ctx: &mut RequestContext, request: Request) -> Response {
        let path = request.uri().path().to_owned();
        let Some((found, route)) = self
            .routes
            .best_match(&path)
            .and_then(|found| self.table.get(*found.handler()).map(|route| (found, route)))
        else {
            return ctx.render(Problem::route_not_found(&path));
        };
        ctx.route = route.template;
        ctx.params = found
            .captures()
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();

        let wanted = if request.method() == Method::HEAD {
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

/// A JSON response with `Cache-Control: no-store` (everything we serve is live state).
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Result<Response, Problem> {
    let bytes = serde_json::to_vec(body).map_err(|error| {
        Problem::of(
            ProblemKind::Internal,
            format!("could not encode the response: {error}"),
        )
    })?;
    let mut response = Response::new(bytes);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A header's value as text, if present and visible ASCII.
pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

/// The media type of the request body (`Content-Type` without parameters, lower-cased).
pub fn media_type(request: &Request) -> Option<String> {
    header(request, CONTENT_TYPE.as_str()).map(|value| {
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    })
}

/// Helpers for tests across the workspace: building requests and reading responses.
pub mod testing {
    use super::*;

    /// A request with the given method, URI, headers and body.
    pub fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(body.to_vec()).unwrap_or_default()
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

    /// The response body as JSON (`Null` if it is not JSON).
    pub fn body_json(response: &Response) -> serde_json::Value {
        serde_json::from_slice(response.body()).unwrap_or(serde_json::Value::Null)
    }

    /// A response header as text.
    pub fn header_of<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
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
        fn body_policy(&self, _: &Parts) -> Result<BodyPolicy, Problem> {
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
