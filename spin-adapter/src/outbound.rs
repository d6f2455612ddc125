//! Outgoing HTTP requests over `wasi:http/outgoing-handler`, with one deadline for the whole
//! exchange.
//!
//! Spin 3.6 (the runtime in the SpinKube shim) and 4.1 honour the request options: the connect
//! and first-byte timeouts bound connecting and waiting for the response head
//! (`factor-outbound-http`, `send_request`: `timeout(first_byte_timeout, ...)`), and their
//! default is 600 s, so every request here sets them. Writing the body is bounded here too:
//! only what the host accepts is written, waiting on the stream's readiness and a timer together,
//! so a destination that stops reading cannot hold the instance past the deadline. The response
//! body is never read: the status and headers are the answer.

use std::time::{Duration, Instant};

// spin-sdk's own bindings of wasi:http (the component already links them for its incoming
// side; the `wasi` crate's copy of the same types would add their glue twice).
use spin_sdk::wit::wasi::clocks0_2_0::monotonic_clock;
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    ErrorCode, Fields, FutureIncomingResponse, Method, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use wasi::io::poll;
use wasi::io::streams::OutputStream;

/// A request to send.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// `POST`, ...
    pub method: &'a str,
    /// `https`, or `http`.
    pub https: bool,
    /// `host:port`; `None` for a request to this Spin app itself (a "self request": Spin
    /// routes it back to the app's own listener).
    pub authority: Option<String>,
    /// Path and query, starting with `/`.
    pub path_and_query: &'a str,
    /// Request headers (the host sets `host`; `content-length` is added here).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: &'a [u8],
    /// The whole exchange, from connecting to the response head, must fit in this.
    pub timeout: Duration,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The status code.
    pub status: u16,
    /// The response headers, names lower-cased, values that are text.
    pub headers: Vec<(String, String)>,
}

impl Answered {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a request and waits for the response head, never longer than `timeout`. The error is
/// safe to record (it names what failed, never the URL).
pub fn send(request: Outgoing<'_>) -> Result<Answered, String> {
    let deadline = Instant::now() + request.timeout;
    // With no length the host sends the body chunked, which some receivers refuse.
    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_bytes().to_vec()))
        .chain([(
            "content-length".to_owned(),
            request.body.len().to_string().into_bytes(),
        )])
        .collect();
    let fields =
        Fields::from_list(&entries).map_err(|e| format!("request headers refused: {e:?}"))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        other => Method::Other(other.to_owned()),
    };
    outgoing
        .set_method(&method)
        .and_then(|()| {
            outgoing.set_scheme(Some(if request.https {
                &Scheme::Https
            } else {
                &Scheme::Http
            }))
        })
        .and_then(|()| {
            outgoing.set_authority(Some(
                request
                    .authority
                    .as_deref()
                    .unwrap_or(self_authority(request.https)),
            ))
        })
        .and_then(|()| outgoing.set_path_with_query(Some(request.path_and_query)))
        .map_err(|()| "the request line was refused".to_owned())?;
    let body = outgoing
        .body()
        .map_err(|()| "the request body is unavailable".to_owned())?;

    let options = RequestOptions::new();
    let nanos = u64::try_from(request.timeout.as_nanos()).unwrap_or(u64::MAX);
    // A host that ignores an option is still bounded by the deadline below.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));
    // Handed over first, so the host reads the body while it is written.
    let future = outgoing_handler::handle(outgoing, Some(options)).map_err(describe)?;

    let stream = body
        .write()
        .map_err(|()| "the request body stream is unavailable".to_owned())?;
    let written = write_until(&stream, request.body, deadline);
    drop(stream);
    let finished = OutgoingBody::finish(body, None);
    written?;
    finished.map_err(describe)?;

    wait_for(&future, deadline);
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(error))) => return Err(describe(error)),
        Some(Err(())) => return Err("the response was already taken".into()),
        None => {
            return Err(format!(
                "no response within {} ms",
                request.timeout.as_millis()
            ))
        }
    };
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .filter_map(|(name, value)| Some((name, String::from_utf8(value).ok()?)))
        .collect();
    Ok(Answered {
        status: response.status(),
        headers,
    })
}

/// A `POST` with an empty body and `authorization` as its only other header, waited for at most
/// `timeout`: the status, or why there is none (never the header's value). Smaller than [`send`]
/// (the webhook component uses only this): no other request headers, no response headers.
pub fn post_empty(
    https: bool,
    authority: Option<&str>,
    path: &str,
    authorization: &str,
    timeout: Duration,
) -> Result<u16, String> {
    let deadline = Instant::now() + timeout;
    let refused = |()| "the request was refused".to_owned();
    let headers = [
        ("content-length".to_owned(), b"0".to_vec()),
        (
            "authorization".to_owned(),
            authorization.as_bytes().to_vec(),
        ),
    ];
    let fields =
        Fields::from_list(&headers).map_err(|_| "the request headers were refused".to_owned())?;
    let outgoing = OutgoingRequest::new(fields);
    outgoing.set_method(&Method::Post).map_err(refused)?;
    outgoing
        .set_scheme(Some(if https { &Scheme::Https } else { &Scheme::Http }))
        .map_err(refused)?;
    outgoing
        .set_authority(Some(authority.unwrap_or(self_authority(https))))
        .map_err(refused)?;
    outgoing.set_path_with_query(Some(path)).map_err(refused)?;
    let body = outgoing.body().map_err(refused)?;
    let options = RequestOptions::new();
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let future = outgoing_handler::handle(outgoing, Some(options)).map_err(describe)?;
    OutgoingBody::finish(body, None).map_err(describe)?;
    wait_for(&future, deadline);
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(error))) => Err(describe(error)),
        Some(Err(())) => Err("the response was already taken".into()),
        None => Err(format!("no response within {} ms", timeout.as_millis())),
    }
}

/// The authority of a self request: wasi:http needs one, and Spin treats an empty host as this
/// app (as spin-sdk's own conversion does).
const fn self_authority(https: bool) -> &'static str {
    if https {
        ":443"
    } else {
        ":80"
    }
}

/// Asks the forwarder over `wasi:http` (`inbox_core::forwarding::poke`; a self request for
/// `http://self`) with the API token, waiting at most 5 s for its 202.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpinPoke;

impl inbox_core::forwarding::poke::Poke for SpinPoke {
    fn post(
        &self,
        url: &inbox_core::forwarding::poke::DispatchUrl,
        path: &str,
        authorization: &str,
    ) -> Result<u16, String> {
        post_empty(
            url.https,
            url.authority.as_deref(),
            path,
            authorization,
            Duration::from_secs(5),
        )
    }
}

/// Writes `bytes` as the host accepts them, until `deadline`.
fn write_until(stream: &OutputStream, mut bytes: &[u8], deadline: Instant) -> Result<(), String> {
    while !bytes.is_empty() {
        let permit = stream.check_write().map_err(|_| {
            "the destination closed the connection while the body was sent".to_owned()
        })?;
        if permit == 0 {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err("the destination did not read the body in time".into());
            }
            let ready = stream.subscribe();
            let timer = monotonic_clock::subscribe_duration(
                u64::try_from(remaining.as_nanos()).unwrap_or(u64::MAX),
            );
            poll::poll(&[&ready, &timer]);
            continue;
        }
        let take = usize::try_from(permit)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let (now, rest) = bytes.split_at(take);
        stream.write(now).map_err(|_| {
            "the destination closed the connection while the body was sent".to_owned()
        })?;
        bytes = rest;
    }
    Ok(())
}

/// Waits for the response head until `deadline` (then `get` answers `None`).
fn wait_for(future: &FutureIncomingResponse, deadline: Instant) {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let ready = future.subscribe();
    let timer = monotonic_clock::subscribe_duration(
        u64::try_from(remaining.as_nanos()).unwrap_or(u64::MAX),
    );
    poll::poll(&[&ready, &timer]);
}

/// A transport error as text for an attempt record (no URL in it).
fn describe(error: ErrorCode) -> String {
    match error {
        ErrorCode::DnsTimeout | ErrorCode::DnsError(_) => "the host name did not resolve".into(),
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTimeout => "connecting timed out".into(),
        ErrorCode::ConnectionReadTimeout => "no response in time".into(),
        ErrorCode::ConnectionTerminated => "the connection was closed".into(),
        ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_) => "TLS failed".into(),
        ErrorCode::HttpRequestDenied => {
            "Spin refused the request: the host is not in allowed_outbound_hosts".into()
        }
        ErrorCode::HttpResponseTimeout => "no response in time".into(),
        ErrorCode::HttpRequestUriInvalid => "the request's URL was refused".into(),
        _ => "the request failed (an HTTP protocol or internal error)".into(),
    }
}
