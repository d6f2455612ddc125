//! RFC 9457 problem details: the one error type every handler returns.
//!
//! A [`Problem`] carries the standard members (`type`, `title`, `status`, `detail`, `instance`),
//! an `errors` list that names each offending field, the request id (so a caller can quote it),
//! and the response headers some statuses require (`Allow` on 405, `Retry-After` on 503,
//! `WWW-Authenticate` on 401). Each kind of problem has a stable `type` URI listed in
//! `docs/problems.md`.

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::events::StoreError;
use crate::http::{Headers, Method, Response, StatusCode};

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem `type`. A URN rather than a URL: the types are documented in
/// `docs/problems.md`, and a fork should not send clients to someone else's web site.
pub const TYPE_PREFIX: &str = "urn:webhook-inbox:problem:";

/// The catalogue of problems this application reports. Adding a variant means documenting it in
/// `docs/problems.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The request is malformed: bad JSON, a bad query parameter, a malformed header.
    InvalidRequest,
    /// A signature header is missing or malformed (webhooks).
    InvalidSignatureHeader,
    /// Credentials are missing or wrong.
    Unauthorized,
    /// A webhook signature does not verify, or its timestamp is outside the tolerance.
    SignatureMismatch,
    /// Nothing is served at this path.
    NotFound,
    /// The path exists but not for this method.
    MethodNotAllowed,
    /// The client does not accept any media type we can produce.
    NotAcceptable,
    /// The change conflicts with the resource's state (e.g. reopening a processed event).
    Conflict,
    /// `If-Match` did not match the current representation.
    PreconditionFailed,
    /// A request with a body arrived without a length we can check.
    LengthRequired,
    /// The body is larger than this route accepts.
    PayloadTooLarge,
    /// The body's media type is not one this route accepts.
    UnsupportedMediaType,
    /// A setting is missing or malformed, so the feature is off until an operator fixes it.
    Misconfigured,
    /// The key-value store failed; nothing was (half-)written and the request may be retried.
    StoreUnavailable,
    /// The same delivery is being stored by a concurrent request; retry shortly.
    DeliveryInProgress,
    /// A readiness check failed (the `checks` member says which).
    NotReady,
    /// A webhook delivery was forwarded by this installation (a forwarding destination points
    /// back here), or went through too many installations: refused, not stored.
    LoopDetected,
    /// A bug: should never be seen. Logged with the request id.
    Internal,
}

impl ProblemKind {
    /// The HTTP status this kind of problem is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest | Self::InvalidSignatureHeader => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::SignatureMismatch => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::LengthRequired => StatusCode::LENGTH_REQUIRED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Misconfigured
            | Self::StoreUnavailable
            | Self::DeliveryInProgress
            | Self::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Self::LoopDetected => StatusCode::LOOP_DETECTED,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The last segment of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid-request",
            Self::InvalidSignatureHeader => "invalid-signature-header",
            Self::Unauthorized => "unauthorized",
            Self::SignatureMismatch => "signature-mismatch",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::NotAcceptable => "not-acceptable",
            Self::Conflict => "conflict",
            Self::PreconditionFailed => "precondition-failed",
            Self::LengthRequired => "length-required",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Misconfigured => "misconfigured",
            Self::StoreUnavailable => "store-unavailable",
            Self::DeliveryInProgress => "delivery-in-progress",
            Self::NotReady => "not-ready",
            Self::LoopDetected => "loop-detected",
            Self::Internal => "internal",
        }
    }

    /// A short, human-readable summary that does not change between occurrences.
    pub fn title(self) -> &'static str {
        match self {
            Self::InvalidRequest => "The request is invalid",
            Self::InvalidSignatureHeader => "The signature headers are missing or malformed",
            Self::Unauthorized => "Authentication is required",
            Self::SignatureMismatch => "The webhook signature does not verify",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::NotAcceptable => "Not acceptable",
            Self::Conflict => "Conflict",
            Self::PreconditionFailed => "Precondition failed",
            Self::LengthRequired => "Length required",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Misconfigured => "The service is not configured for this request",
            Self::StoreUnavailable => "The event store is unavailable",
            Self::DeliveryInProgress => "The same delivery is being processed",
            Self::NotReady => "The service is not ready",
            Self::LoopDetected => "The delivery came back to this installation: a forwarding loop",
            Self::Internal => "Internal error",
        }
    }

    /// Every kind, for documentation and tests.
    pub const ALL: [ProblemKind; 18] = [
        Self::InvalidRequest,
        Self::InvalidSignatureHeader,
        Self::Unauthorized,
        Self::SignatureMismatch,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::NotAcceptable,
        Self::Conflict,
        Self::PreconditionFailed,
        Self::LengthRequired,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Misconfigured,
        Self::StoreUnavailable,
        Self::DeliveryInProgress,
        Self::NotReady,
        Self::LoopDetected,
        Self::Internal,
    ];
}

/// One offending input, named so a client can point at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where the problem is: a query parameter (`limit`), a header (`header:If-Match`), a body
    /// member as a JSON pointer (`/status`), or a path segment (`path:id`).
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// An RFC 9457 problem, ready to be rendered as a response. Boxed: it travels in the `Err`
/// side of every handler's `Result`, which should stay small.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem(Box<Details>);

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Details {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    /// Problem-type-specific members (RFC 9457 section 3.2), e.g. `checks` on readiness.
    #[serde(flatten)]
    extensions: Extensions,
    #[serde(skip)]
    kind: ProblemKind,
    #[serde(skip)]
    headers: Headers,
}

/// Extension members, each serialized when added, in the order of their names (as a JSON object
/// map would hold them). Kept as JSON text rather than `serde_json::Value`: building a `Value`
/// from a type links serde_json's whole `Value` serializer (and, through its raw-value support,
/// a `Value` parser) into every component: 2 to 40 KB each.
#[derive(Debug, Clone, Default)]
struct Extensions(Vec<(String, Box<RawValue>)>);

impl Extensions {
    fn insert(&mut self, name: &str, value: Box<RawValue>) {
        match self.0.binary_search_by(|(held, _)| held.as_str().cmp(name)) {
            Ok(at) => {
                if let Some(member) = self.0.get_mut(at) {
                    member.1 = value;
                }
            }
            Err(at) => self.0.insert(at, (name.to_owned(), value)),
        }
    }
}

impl PartialEq for Extensions {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((a, x), (b, y))| a == b && x.get() == y.get())
    }
}

impl Serialize for Extensions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (name, value)))
    }
}

impl Problem {
    /// A problem of this kind with no detail yet.
    pub fn new(kind: ProblemKind) -> Self {
        Self(Box::new(Details {
            type_uri: format!("{TYPE_PREFIX}{}", kind.slug()),
            title: kind.title(),
            status: kind.status().as_u16(),
            detail: None,
            instance: None,
            errors: Vec::new(),
            request_id: None,
            extensions: Extensions::default(),
            kind,
            headers: Headers::new(),
        }))
    }

    /// Shorthand for `Problem::new(kind).with_detail(detail)`.
    pub fn of(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self::new(kind).with_detail(detail)
    }

    /// 400 naming the offending fields; `detail` summarises.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        let mut problem = Self::of(ProblemKind::InvalidRequest, detail);
        problem.0.errors = errors;
        problem
    }

    /// 503 for a failed store, with `Retry-After` so well-behaved clients come back.
    pub fn store_unavailable(retry_after_secs: u32) -> Self {
        Self::of(
            ProblemKind::StoreUnavailable,
            "the key-value store did not answer; nothing was stored, retry later",
        )
        .with_retry_after(retry_after_secs)
    }

    /// 405 with the `Allow` header listing what the route serves.
    pub fn method_not_allowed(method: &Method, allow: &[Method]) -> Self {
        let allow_list = allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        Self::of(
            ProblemKind::MethodNotAllowed,
            format!("{method} is not allowed here; allowed: {allow_list}"),
        )
        .with_header("allow", &allow_list)
    }

    /// 404 for a path nothing serves.
    pub fn route_not_found(path: &str) -> Self {
        Self::of(
            ProblemKind::NotFound,
            format!("nothing is served at {path}"),
        )
    }

    /// Adds or replaces the human-readable explanation of this occurrence.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// Adds one field error.
    pub fn with_error(mut self, error: FieldError) -> Self {
        self.0.errors.push(error);
        self
    }

    /// Sets `instance`, the URI reference of the resource the problem occurred on.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.0.instance = Some(instance.into());
        self
    }

    /// Adds an extension member (replacing one of the same name). The standard member names
    /// are reserved and ignored here, and so is a value that does not serialize.
    pub fn with_extension(mut self, name: &str, value: &impl Serialize) -> Self {
        const RESERVED: [&str; 7] = [
            "type",
            "title",
            "status",
            "detail",
            "instance",
            "errors",
            "request_id",
        ];
        if !RESERVED.contains(&name) {
            if let Ok(value) = serde_json::value::to_raw_value(value) {
                self.0.extensions.insert(name, value);
            }
        }
        self
    }

    /// Sets the request id extension member.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.0.request_id = Some(request_id.into());
        self
    }

    /// Adds `Retry-After: <seconds>`.
    pub fn with_retry_after(self, seconds: u32) -> Self {
        self.with_header("retry-after", &seconds.to_string())
    }

    /// Adds a response header. Values that are not valid header text are dropped rather than
    /// panicking: a problem must always render.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.0.headers.append(name, value);
        self
    }

    /// The kind of problem.
    pub fn kind(&self) -> ProblemKind {
        self.0.kind
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.kind.status()
    }

    /// The detail, if any.
    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }

    /// The field errors.
    pub fn errors(&self) -> &[FieldError] {
        &self.0.errors
    }

    /// Whether `instance` is already set.
    pub fn has_instance(&self) -> bool {
        self.0.instance.is_some()
    }

    /// Renders the problem as an `application/problem+json` response.
    pub fn into_response(self) -> Response {
        let body = serde_json::to_vec(&*self.0).unwrap_or_else(|_| {
            // Serializing plain strings and numbers cannot fail; keep a fallback anyway.
            br#"{"type":"about:blank","title":"Internal error","status":500}"#.to_vec()
        });
        let mut response = Response::new(self.status(), body)
            .with_header("content-type", PROBLEM_JSON)
            .with_header("cache-control", "no-store");
        for (name, value) in self.0.headers.iter() {
            response.headers_mut().append(name, value);
        }
        response
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.0.title, self.0.status)?;
        if let Some(detail) = &self.0.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

/// Seconds a client should wait after a store failure.
pub const RETRY_AFTER_STORE_SECS: u32 = 5;
/// Seconds a duplicate should wait while the original is still being stored.
pub const RETRY_AFTER_IN_PROGRESS_SECS: u32 = 2;

/// The answer to give the client when the event store fails (logged here, once, with what the
/// client is not told). The conversion lives at the HTTP edge: the store knows nothing of HTTP.
impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Kv(error) => {
                tracing::error!(error = %error, "store failed; nothing was stored");
                Problem::store_unavailable(RETRY_AFTER_STORE_SECS)
            }
            StoreError::InProgress => Problem::of(
                ProblemKind::DeliveryInProgress,
                "the same delivery is being stored by a concurrent request; retry shortly",
            )
            .with_retry_after(RETRY_AFTER_IN_PROGRESS_SECS),
            StoreError::Corrupt { key, reason } => {
                tracing::error!(key, reason, "corrupt record");
                Problem::of(ProblemKind::Internal, "a stored record is corrupt")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn body(response: &Response) -> Value {
        serde_json::from_slice(response.body()).unwrap_or(Value::Null)
    }

    #[test]
    fn renders_rfc9457_members_and_media_type() {
        let response = Problem::invalid(
            "the query is invalid",
            vec![FieldError::new("limit", "must be between 1 and 200")],
        )
        .with_instance("/api/events")
        .with_request_id("req-1")
        .into_response();

        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers().get("content-type"), Some(PROBLEM_JSON));
        let json = body(&response);
        assert_eq!(json["type"], "urn:webhook-inbox:problem:invalid-request");
        assert_eq!(json["title"], "The request is invalid");
        assert_eq!(json["status"], 400);
        assert_eq!(json["detail"], "the query is invalid");
        assert_eq!(json["instance"], "/api/events");
        assert_eq!(json["request_id"], "req-1");
        assert_eq!(json["errors"][0]["field"], "limit");
    }

    #[test]
    fn extensions_are_flattened_but_cannot_shadow_standard_members() {
        let json = body(
            &Problem::new(ProblemKind::StoreUnavailable)
                .with_extension("checks", &serde_json::json!([1]))
                .with_extension("status", &serde_json::json!(200))
                .into_response(),
        );
        assert_eq!(json["checks"], serde_json::json!([1]));
        assert_eq!(json["status"], 503);
    }

    #[test]
    fn extensions_follow_their_names_and_a_later_one_replaces() {
        let response = Problem::new(ProblemKind::NotFound)
            .with_extension("zeta", &1)
            .with_extension("alpha", &[true])
            .with_extension("zeta", &"two")
            .into_response();
        let text = String::from_utf8_lossy(response.body());
        assert!(text.ends_with(r#""alpha":[true],"zeta":"two"}"#), "{text}");
    }

    #[test]
    fn omits_empty_optional_members() {
        let json = body(&Problem::new(ProblemKind::NotFound).into_response());
        let object = json.as_object().cloned().unwrap_or_default();
        let mut keys: Vec<_> = object.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["status", "title", "type"]);
    }

    #[test]
    fn method_not_allowed_lists_allowed_methods() {
        let response = Problem::method_not_allowed(&Method::POST, &[Method::GET, Method::HEAD])
            .into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers().get("allow"), Some("GET, HEAD"));
    }

    #[test]
    fn store_unavailable_asks_to_retry() {
        let response = Problem::store_unavailable(5).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get("retry-after"), Some("5"));
    }

    #[test]
    fn store_errors_become_503_with_retry_after_or_500() {
        let unavailable: Problem =
            StoreError::Kv(crate::kv::KvError::Unavailable("down".into())).into();
        assert_eq!(unavailable.kind(), ProblemKind::StoreUnavailable);
        let response = unavailable.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get("retry-after"), Some("5"));
        assert!(!String::from_utf8_lossy(response.body()).contains("down"));

        let busy: Problem = StoreError::InProgress.into();
        assert_eq!(busy.kind(), ProblemKind::DeliveryInProgress);
        let response = busy.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get("retry-after"), Some("2"));

        let corrupt: Problem = StoreError::Corrupt {
            key: "event:secret-key".into(),
            reason: "bad json".into(),
        }
        .into();
        assert_eq!(corrupt.kind(), ProblemKind::Internal);
        let response = corrupt.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get("retry-after").is_none());
        assert!(!String::from_utf8_lossy(response.body()).contains("secret-key"));
    }

    #[test]
    fn invalid_header_values_are_dropped_not_panicked() {
        let response = Problem::new(ProblemKind::Unauthorized)
            .with_header("www-authenticate", "bad\nvalue")
            .into_response();
        assert!(response.headers().get("www-authenticate").is_none());
    }

    #[test]
    fn docs_problems_md_lists_every_kind_with_its_status() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/problems.md");
        let doc = std::fs::read_to_string(path).unwrap();
        for kind in ProblemKind::ALL {
            let row = format!("| `{}` | {} |", kind.slug(), kind.status().as_u16());
            assert!(doc.contains(&row), "docs/problems.md lacks {row}");
        }
    }

    #[test]
    fn every_kind_has_a_unique_slug_and_an_error_status() {
        let mut slugs: Vec<_> = ProblemKind::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemKind::ALL.len());
        assert!(ProblemKind::ALL
            .iter()
            .all(|k| k.status().is_client_error() || k.status().is_server_error()));
    }
}
