//! A deliberately small HTTP/1.1 client over `TcpStream`.
//!
//! Hand-written because the tests must be able to send what a well-behaved client library would
//! refuse to: wrong `Content-Length`s, bodies without lengths, odd methods, raw bytes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Talks to one app.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    port: u16,
}

impl Client {
    /// A client for `127.0.0.1:<port>`.
    pub fn new(port: u16) -> Self {
        Self { port }
    }

    /// The URL the app is reached at: `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A request with any method.
    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        RequestBuilder {
            port: self.port,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            content_length: true,
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request("GET", path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request("POST", path)
    }

    /// Sends raw bytes and reads the response.
    pub fn raw(&self, bytes: &[u8]) -> std::io::Result<Response> {
        exchange(self.port, bytes)
    }
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    port: u16,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    content_length: bool,
}

impl RequestBuilder {
    /// Sets a header, replacing one of the same name (so a test can take a correctly signed
    /// request and change one header).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a header, keeping any of the same name (to send a repeated header).
    pub fn append_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Sets the body (and, unless [`Self::chunked`] is used, `Content-Length`).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends a JSON body with `Content-Type: application/json`.
    pub fn json(self, value: &serde_json::Value) -> Self {
        self.header("content-type", "application/json")
            .body(serde_json::to_vec(value).unwrap_or_default())
    }

    /// Sends the body with chunked transfer encoding instead of `Content-Length`.
    pub fn chunked(mut self) -> Self {
        self.content_length = false;
        self
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> std::io::Result<Response> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\nconnection: close\r\n",
            self.method, self.path, self.port
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut bytes;
        if self.content_length {
            let declared = self
                .headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
            if !declared
                && (!self.body.is_empty()
                    || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH"))
            {
                head.push_str(&format!("content-length: {}\r\n", self.body.len()));
            }
            head.push_str("\r\n");
            bytes = head.into_bytes();
            bytes.extend_from_slice(&self.body);
        } else {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            bytes = head.into_bytes();
            for chunk in self.body.chunks(8192) {
                bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                bytes.extend_from_slice(chunk);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
        }
        exchange(self.port, &bytes)
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The (de-chunked) body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts an RFC 9457 problem with this status; returns its body.
    pub fn assert_problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "not a problem: {}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["status"], status, "{body}");
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:webhook-inbox:problem:")),
            "{body}"
        );
        assert!(body["title"].is_string(), "{body}");
        body
    }
}

fn exchange(port: u16, request: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(request)?;
    let mut raw = Vec::new();
    // The server may answer (e.g. 413) and close before reading the whole body; a reset then is
    // fine as long as a response arrived.
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(error) if !raw.is_empty() => {
            let _ = error;
        }
        Err(error) => return Err(error),
    }
    parse(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unparseable response: {:?}", String::from_utf8_lossy(&raw)),
        )
    })
}

fn parse(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..split)?).ok()?;
    let rest = raw.get(split + 4..)?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(data.get(..line_end)?).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = data.get(line_end + 2..)?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunked_responses() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let response = parse(raw).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("Content-Type"), Some("text/plain"));
        assert_eq!(response.text(), "hello world");
    }

    #[test]
    fn parses_length_delimited_responses() {
        let response = parse(b"HTTP/1.1 204 No Content\r\nx: y\r\n\r\n").unwrap();
        assert_eq!(response.status, 204);
        assert!(response.body.is_empty());
    }
}
