//! `wasi:http` incoming requests in, `http::Response`s out.

use inbox_core::config::LogLevel;
use inbox_core::http::{BodyError, Head, Method, Response, Service};
use inbox_core::problem::{FieldError, Problem};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::{OutputStream, StreamError};

use crate::SpinVariables;

/// Bytes asked of the host per read.
const READ_CHUNK: u64 = 64 * 1024;

/// Serves one request: sets up logging, converts the head, lets [`inbox_core::http::serve`] decide
/// (reading the body only if the head is admissible), and writes the response.
pub async fn serve_incoming<S: Service>(
    component: &'static str,
    request: IncomingRequest,
    response_out: ResponseOutparam,
    make_service: impl FnOnce() -> S,
) {
    // The level is read at the first event (a variable lookup is a costly host call, and a
    // successful probe logs nothing). A malformed log_level must not take the service down:
    // log at info and let readiness report the variable.
    inbox_core::logging::init_deferred(component, || {
        LogLevel::load(&SpinVariables).unwrap_or(LogLevel::Info)
    });

    let service = match head_of(&request) {
        Ok(head) => {
            let service = make_service();
            let response =
                inbox_core::http::serve(&service, head, |limit| read_body(&request, limit));
            respond(response_out, response);
            service
        }
        Err(problem) => {
            respond(response_out, problem.into_response());
            return;
        }
    };
    // The response is complete (its body finished) before this runs.
    service.after_response();
}

/// The request line and headers as the shared types.
fn head_of(request: &IncomingRequest) -> Result<Head, Problem> {
    let method = Method::parse(&request.method().to_string()).ok_or_else(|| {
        Problem::invalid(
            "the request method is not a valid token",
            vec![FieldError::new("method", "invalid")],
        )
    })?;
    let target = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let mut head = Head::new(method, &target);
    for (name, value) in request.headers().entries() {
        // Header values that are not text are dropped: every header we read is text, so a
        // handler that needs one answers "missing or malformed" (400) instead.
        if let Ok(value) = String::from_utf8(value) {
            head.headers.append(&name, &value);
        }
    }
    Ok(head)
}

/// Reads the body, stopping as soon as it exceeds `limit`.
fn read_body(request: &IncomingRequest, limit: usize) -> Result<Vec<u8>, BodyError> {
    let body = request
        .consume()
        .map_err(|()| BodyError::Read("the body was already consumed".into()))?;
    let stream = body
        .stream()
        .map_err(|()| BodyError::Read("the body stream is unavailable".into()))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                if bytes.len().saturating_add(chunk.len()) > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(BodyError::Read(error.to_debug_string()));
            }
        }
    }
    Ok(bytes)
}

/// Writes the response. A failure here means the client went away; there is no one left to
/// tell, so it is logged.
///
/// The body goes into the host's buffer *before* the response is handed over, as much of it as
/// the host takes without waiting (all of it, for every body this app sends). Handing the head
/// over first, as `ResponseOutparam::set_with_body` does, lets the host flush the head on its
/// own; Spin's listener keeps Nagle's algorithm on, so the body then waits for the client's
/// delayed ACK: ~40 ms on a share of responses (BENCHMARKS.md, "Findings").
fn respond(response_out: ResponseOutparam, mut response: Response) {
    let headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_owned(), value.as_bytes().to_vec()))
        .collect();
    let status = response.status().as_u16();
    let body = std::mem::take(response.body_mut());
    let fields = Fields::from_list(&headers).unwrap_or_else(|error| {
        tracing::error!(error = ?error, "response headers rejected by the host");
        Fields::new()
    });
    let outgoing = OutgoingResponse::new(fields);
    if outgoing.set_status_code(status).is_err() {
        tracing::error!(status, "status rejected by the host");
    }
    let Ok(outgoing_body) = outgoing.body() else {
        tracing::error!("the response body was already taken");
        response_out.set(outgoing);
        return;
    };
    let Ok(stream) = outgoing_body.write() else {
        tracing::error!("the response body stream is unavailable");
        response_out.set(outgoing);
        return;
    };
    // Before the head is handed over, only write what the host accepts right now: a blocking
    // write here could wait for a reader that only starts once the head is set.
    let mut written = write_ready(&stream, &body);
    response_out.set(outgoing);
    if let Some(rest) = body.get(written..) {
        written += write_all(&stream, rest);
    }
    // Only bytes the host did not take mean the client did not get the body. A flush that fails
    // after every byte was taken does not: the host stops reading once it has `Content-Length`
    // bytes and closes the stream, and the client has the whole response by then.
    if written < body.len() {
        tracing::warn!(
            written,
            length = body.len(),
            "the client went away before the whole response body was written"
        );
    } else {
        let _ = stream.blocking_flush();
    }
    drop(stream);
    if OutgoingBody::finish(outgoing_body, None).is_err() && written < body.len() {
        tracing::debug!("could not finish the response body");
    }
}

/// Writes what the stream accepts without waiting; returns how many bytes it took.
fn write_ready(stream: &OutputStream, bytes: &[u8]) -> usize {
    let permit = stream
        .check_write()
        .ok()
        .and_then(|permit| usize::try_from(permit).ok())
        .unwrap_or(0)
        .min(bytes.len());
    match bytes.get(..permit) {
        Some(now) if !now.is_empty() && stream.write(now).is_ok() => now.len(),
        _ => 0,
    }
}

/// Writes `bytes`, waiting for the host to take them; returns how many it took (fewer only if
/// the stream closed or failed first). No flush per write: a flush can fail once the host has
/// everything it was promised, which is not a failure to deliver.
fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> usize {
    let mut written = 0;
    while !bytes.is_empty() {
        let permit = match stream.check_write() {
            Ok(0) => {
                stream.subscribe().block();
                continue;
            }
            Ok(permit) => usize::try_from(permit)
                .unwrap_or(usize::MAX)
                .min(bytes.len()),
            Err(_) => break,
        };
        let (now, rest) = bytes.split_at(permit);
        if stream.write(now).is_err() {
            break;
        }
        written += now.len();
        bytes = rest;
    }
    written
}
