//! Requests, responses, methods, status codes and headers: the few HTTP types the components
//! need.
//!
//! Written here rather than taken from the `http` crate for one reason: size. `http`'s
//! standard-header tables, `HeaderMap`, `Uri` and `Bytes` cost more than a tenth of each
//! component's 400 KB budget (measured in docs/architecture.md, "Size budget"). These types keep the same
//! method names (`status()`, `headers_mut()`, `Method::GET`, `StatusCode::OK`) so the code
//! reads the same, and they never panic: an invalid header value is refused, not unwrapped.

use std::borrow::Cow;
use std::fmt;

/// An HTTP method (a token, upper-case by convention).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Method(Cow<'static, str>);

impl Method {
    /// `GET`
    pub const GET: Method = Method(Cow::Borrowed("GET"));
    /// `HEAD`
    pub const HEAD: Method = Method(Cow::Borrowed("HEAD"));
    /// `POST`
    pub const POST: Method = Method(Cow::Borrowed("POST"));
    /// `PUT`
    pub const PUT: Method = Method(Cow::Borrowed("PUT"));
    /// `PATCH`
    pub const PATCH: Method = Method(Cow::Borrowed("PATCH"));
    /// `DELETE`
    pub const DELETE: Method = Method(Cow::Borrowed("DELETE"));
    /// `OPTIONS`
    pub const OPTIONS: Method = Method(Cow::Borrowed("OPTIONS"));

    /// A method known at compile time (for route tables).
    pub const fn from_static(token: &'static str) -> Self {
        Self(Cow::Borrowed(token))
    }

    /// A method from the request line; `None` unless it is an RFC 9110 token.
    pub fn parse(token: &str) -> Option<Self> {
        let valid = !token.is_empty()
            && token.len() <= 32
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        valid.then(|| Self(Cow::Owned(token.to_owned())))
    }

    /// The method as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether requests with this method usually carry a body.
    pub fn expects_body(&self) -> bool {
        matches!(self.as_str(), "POST" | "PUT" | "PATCH")
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An HTTP status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 200
    pub const OK: Self = Self(200);
    /// 202
    pub const ACCEPTED: Self = Self(202);
    /// 204
    pub const NO_CONTENT: Self = Self(204);
    /// 304
    pub const NOT_MODIFIED: Self = Self(304);
    /// 308
    pub const PERMANENT_REDIRECT: Self = Self(308);
    /// 400
    pub const BAD_REQUEST: Self = Self(400);
    /// 401
    pub const UNAUTHORIZED: Self = Self(401);
    /// 404
    pub const NOT_FOUND: Self = Self(404);
    /// 405
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    /// 406
    pub const NOT_ACCEPTABLE: Self = Self(406);
    /// 409
    pub const CONFLICT: Self = Self(409);
    /// 411
    pub const LENGTH_REQUIRED: Self = Self(411);
    /// 412
    pub const PRECONDITION_FAILED: Self = Self(412);
    /// 413
    pub const PAYLOAD_TOO_LARGE: Self = Self(413);
    /// 415
    pub const UNSUPPORTED_MEDIA_TYPE: Self = Self(415);
    /// 500
    pub const INTERNAL_SERVER_ERROR: Self = Self(500);
    /// 503
    pub const SERVICE_UNAVAILABLE: Self = Self(503);
    /// 508 (RFC 5842)
    pub const LOOP_DETECTED: Self = Self(508);

    /// The numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// 2xx
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// 4xx
    pub fn is_client_error(self) -> bool {
        (400..500).contains(&self.0)
    }

    /// 5xx
    pub fn is_server_error(self) -> bool {
        (500..600).contains(&self.0)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Header fields in arrival order. Names are stored lower-case (HTTP names are
/// case-insensitive); values are text, and a value with a control character is refused so a
/// response can never be split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn valid_value(value: &str) -> bool {
    !value.bytes().any(|b| b.is_ascii_control() && b != b'\t')
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether `name` is present.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Adds a value, keeping existing ones. Returns whether it was valid (and so added).
    pub fn append(&mut self, name: &str, value: &str) -> bool {
        let ok = valid_name(name) && valid_value(value);
        if ok {
            self.0.push((name.to_ascii_lowercase(), value.to_owned()));
        }
        ok
    }

    /// Replaces every value of `name` with `value`. Returns whether it was valid.
    pub fn insert(&mut self, name: &str, value: &str) -> bool {
        if !(valid_name(name) && valid_value(value)) {
            return false;
        }
        self.remove(name);
        self.append(name, value)
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(key, _)| !key.eq_ignore_ascii_case(name));
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The request line and headers: what is known before the body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// The headers.
    pub headers: Headers,
}

impl Head {
    /// A head from a method and a request target (`/path?query`).
    pub fn new(method: Method, target: &str) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (target, None),
        };
        Self {
            method,
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
            query,
            headers: Headers::new(),
        }
    }
}

/// A request with its whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    head: Head,
    body: Vec<u8>,
}

impl Request {
    /// A request from its head and body.
    pub fn from_parts(head: Head, body: Vec<u8>) -> Self {
        Self { head, body }
    }

    /// The head and body.
    pub fn into_parts(self) -> (Head, Vec<u8>) {
        (self.head, self.body)
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        &self.head.path
    }

    /// The query string, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.head.query.as_deref()
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.head.headers
    }

    /// The headers, to change.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.head.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, to change.
    pub fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
}

/// A response with its whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: StatusCode,
    headers: Headers,
    body: Vec<u8>,
}

impl Response {
    /// A response with a status and a body and no headers yet.
    pub fn new(status: StatusCode, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: Headers::new(),
            body,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The headers, to change.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, to change.
    pub fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }

    /// Adds a header (ignored if invalid) and returns the response.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name, value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_case_insensitive_and_values_cannot_split_a_response() {
        let mut headers = Headers::new();
        assert!(headers.append("X-Thing", "a"));
        assert!(headers.append("x-thing", "b"));
        assert_eq!(headers.get("X-THING"), Some("a"));
        assert!(!headers.insert("x-evil", "a\r\nset-cookie: x"));
        assert!(!headers.insert("bad name", "v"));
        assert!(headers.insert("X-Thing", "c"));
        assert_eq!(headers.iter().collect::<Vec<_>>(), [("x-thing", "c")]);
        headers.remove("X-THING");
        assert!(headers.is_empty());
    }

    #[test]
    fn methods_are_tokens() {
        assert_eq!(Method::parse("GET"), Some(Method::GET));
        assert_eq!(
            Method::parse("PROPFIND").map(|m| m.as_str().to_owned()),
            Some("PROPFIND".into())
        );
        assert_eq!(Method::parse("GE T"), None);
        assert_eq!(Method::parse(""), None);
    }

    #[test]
    fn heads_split_path_and_query() {
        let head = Head::new(Method::GET, "/api/events?limit=5&cursor=x");
        assert_eq!(head.path, "/api/events");
        assert_eq!(head.query.as_deref(), Some("limit=5&cursor=x"));
        assert_eq!(Head::new(Method::GET, "").path, "/");
    }
}
