//! The HTTP/1.1 load generator, in two modes:
//!
//! - **closed loop** (the default): `concurrency` keep-alive connections, each sending its next
//!   request as soon as the previous answer is read, for a fixed duration. It measures
//!   throughput: the server sets the pace. Its latencies under-report the tail under load
//!   (coordinated omission): while a slow answer is outstanding, the connection sends nothing, so
//!   the requests a real client would have sent meanwhile, and their waiting, are never measured.
//! - **open loop** (`rate`): requests are scheduled at a constant arrival rate (request `i` at
//!   `start + i / rate`) whatever the server does, sent over up to `concurrency` connections, and
//!   each latency is measured from the request's *scheduled* send time, so time spent queued
//!   behind a slow answer (waiting for a free connection) counts, as it does for a real sender.
//!   It measures latency at a given load: the figures the latency targets use.
//!
//! Why not `hey` or `oha`: the webhook benchmark needs every request to carry a unique delivery
//! id and a valid HMAC over its own body, which neither can generate. One generator for every
//! endpoint keeps the numbers comparable; `bench/run.py` cross-checks it against `hey` on
//! `/healthz`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::delivery::Delivery;

/// What to send.
#[derive(Debug, Clone)]
pub enum Target {
    /// `GET path`, optionally with a bearer token.
    Get {
        /// The path and query.
        path: String,
        /// `Authorization: Bearer` token.
        bearer: Option<String>,
    },
    /// `POST /webhooks/github` with a fresh delivery id and signature per request.
    GithubPost {
        /// Body size in bytes.
        size: usize,
        /// A prefix that makes delivery ids unique across runs.
        run: String,
    },
}

/// One load run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The server's loopback port.
    pub port: u16,
    /// What to send.
    pub target: Target,
    /// Connections (each on its own thread).
    pub concurrency: usize,
    /// How long to measure.
    pub duration: Duration,
    /// How long to send before measuring (connections and caches warm up).
    pub warmup: Duration,
    /// The status every answer should have; anything else counts as an error.
    pub expect: u16,
    /// Open loop: requests per second, scheduled at a constant rate (`None`: closed loop).
    pub rate: Option<f64>,
}

/// Open loop: a request whose send would start this long after the end of the measured window
/// is not sent but counted as unsent (the server fell that far behind the schedule).
const OPEN_LOOP_GRACE: Duration = Duration::from_secs(2);

/// The outcome, in the units the reports use.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Answered requests in the measured window.
    pub requests: u64,
    /// Requests per second in the measured window.
    pub rps: f64,
    /// Answers with another status than expected, plus I/O failures.
    pub errors: u64,
    /// Answers by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Connections (open loop: the most requests in flight).
    pub concurrency: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Open loop: the scheduled arrival rate, requests per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Open loop: requests scheduled in the measured window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<u64>,
    /// Open loop: scheduled requests not sent at all, because the server was more than
    /// [`OPEN_LOOP_GRACE`] behind the schedule at the end: it could not sustain the rate, and
    /// the latency figures are then a lower bound. Not counted in `errors` (the server answered
    /// everything it was sent); reports flag it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsent: Option<u64>,
    /// Open loop: latency from the actual send (the service time, what a closed loop sees),
    /// 50th percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_p50_ms: Option<f64>,
    /// Open loop: service time, 99th percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_p99_ms: Option<f64>,
    /// Open loop: how late sends started against their schedule, 99th percentile (the
    /// generator's own lag plus waiting for a free connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_lag_p99_ms: Option<f64>,
}

#[derive(Debug, Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    io_errors: u64,
    // Open loop only.
    service_us: Vec<u32>,
    lag_us: Vec<u32>,
    scheduled: u64,
    unsent: u64,
}

impl WorkerResult {
    fn merge(&mut self, other: Self) {
        self.latencies_us.extend(other.latencies_us);
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_insert(0) += count;
        }
        self.io_errors += other.io_errors;
        self.service_us.extend(other.service_us);
        self.lag_us.extend(other.lag_us);
        self.scheduled += other.scheduled;
        self.unsent += other.unsent;
    }
}

fn micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

/// Runs the load (closed loop, or open loop if `spec.rate` is set) and reports.
pub fn run(spec: &Spec) -> Report {
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.duration;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = (0..spec.concurrency.max(1))
        .map(|worker| {
            let spec = spec.clone();
            let next = std::sync::Arc::clone(&next);
            std::thread::spawn(move || match spec.rate {
                Some(rate) => work_open(&spec, rate, worker, &next, start, measure_from, end),
                None => work(&spec, worker, measure_from, end),
            })
        })
        .collect();
    let mut all = WorkerResult::default();
    for worker in workers {
        all.merge(worker.join().unwrap_or_default());
    }
    report(spec, all)
}

fn report(spec: &Spec, mut all: WorkerResult) -> Report {
    all.latencies_us.sort_unstable();
    all.service_us.sort_unstable();
    all.lag_us.sort_unstable();
    let latencies = &all.latencies_us;
    let seconds = spec.duration.as_secs_f64();
    let requests = latencies.len() as u64;
    let wrong: u64 = all
        .statuses
        .iter()
        .filter(|(status, _)| **status != spec.expect)
        .map(|(_, count)| count)
        .sum();
    let open = spec.rate.is_some();
    let when_open = |value: f64| open.then_some(value);
    Report {
        requests,
        rps: requests as f64 / seconds,
        errors: wrong + all.io_errors,
        statuses: all.statuses,
        p50_ms: percentile(latencies, 0.50),
        p90_ms: percentile(latencies, 0.90),
        p99_ms: percentile(latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |us| f64::from(*us) / 1000.0),
        concurrency: spec.concurrency,
        seconds,
        mode: if open { "open" } else { "closed" },
        rate: spec.rate,
        scheduled: open.then_some(all.scheduled),
        unsent: open.then_some(all.unsent),
        service_p50_ms: when_open(percentile(&all.service_us, 0.50)),
        service_p99_ms: when_open(percentile(&all.service_us, 0.99)),
        send_lag_p99_ms: when_open(percentile(&all.lag_us, 0.99)),
    }
}

/// The time request `index` is scheduled at, `rate` requests per second from `start`.
fn scheduled_at(start: Instant, rate: f64, index: u64) -> Instant {
    start + Duration::from_secs_f64(index as f64 / rate)
}

/// One open-loop connection: takes the next request of the shared schedule, waits for its time
/// (if it is not already late), sends it, and measures from the scheduled time.
fn work_open(
    spec: &Spec,
    rate: f64,
    worker: usize,
    next: &std::sync::atomic::AtomicU64,
    start: Instant,
    measure_from: Instant,
    end: Instant,
) -> WorkerResult {
    let mut result = WorkerResult::default();
    let mut connection: Option<BufReader<TcpStream>> = None;
    loop {
        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let scheduled = scheduled_at(start, rate, index);
        if scheduled >= end {
            break;
        }
        let measured = scheduled >= measure_from;
        result.scheduled += u64::from(measured);
        let now = Instant::now();
        if now > end + OPEN_LOOP_GRACE {
            result.unsent += u64::from(measured);
            continue;
        }
        if scheduled > now {
            std::thread::sleep(scheduled - now);
        }
        // Requests are numbered by their place in the schedule, so ids stay unique.
        let request = build(&spec.target, spec.port, worker, index);
        let sent = Instant::now();
        let outcome = connection
            .take()
            .map_or_else(|| connect(spec.port), Ok)
            .and_then(|mut conn| exchange(&mut conn, &request).map(|answer| (conn, answer)));
        let done = Instant::now();
        match outcome {
            Ok((conn, (status, keep_alive))) => {
                if keep_alive {
                    connection = Some(conn);
                }
                if measured {
                    result.latencies_us.push(micros(done - scheduled));
                    result.service_us.push(micros(done - sent));
                    result
                        .lag_us
                        .push(micros(sent.saturating_duration_since(scheduled)));
                    *result.statuses.entry(status).or_insert(0) += 1;
                }
            }
            Err(_) => {
                result.io_errors += u64::from(measured);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    result
}

/// The nearest-rank percentile of sorted microsecond samples, in milliseconds.
pub(crate) fn percentile(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us
        .get(rank - 1)
        .map_or(0.0, |us| f64::from(*us) / 1000.0)
}

fn work(spec: &Spec, worker: usize, measure_from: Instant, end: Instant) -> WorkerResult {
    let mut result = WorkerResult::default();
    let mut connection: Option<BufReader<TcpStream>> = None;
    let mut sequence = 0u64;
    while Instant::now() < end {
        let request = build(&spec.target, spec.port, worker, sequence);
        sequence += 1;
        let sent = Instant::now();
        let outcome = connection
            .take()
            .map_or_else(|| connect(spec.port), Ok)
            .and_then(|mut conn| exchange(&mut conn, &request).map(|answer| (conn, answer)));
        let done = Instant::now();
        // Throughput is answers completed in the measured window, whenever they were sent:
        // requiring the send to be in the window too would drop the first `latency` of it, and
        // a cell whose latency exceeds the window would count nothing.
        let measured = done >= measure_from && done <= end;
        match outcome {
            Ok((conn, (status, keep_alive))) => {
                if keep_alive {
                    connection = Some(conn);
                }
                if measured {
                    result.latencies_us.push(micros(done - sent));
                    *result.statuses.entry(status).or_insert(0) += 1;
                }
            }
            Err(_) => {
                result.io_errors += u64::from(measured);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    result
}

pub(crate) fn connect(port: u16) -> std::io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(BufReader::with_capacity(64 * 1024, stream))
}

pub(crate) fn build(target: &Target, port: u16, worker: usize, sequence: u64) -> Vec<u8> {
    match target {
        Target::Get { path, bearer } => {
            let auth = bearer
                .as_ref()
                .map(|token| format!("authorization: Bearer {token}\r\n"))
                .unwrap_or_default();
            format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n{auth}\r\n").into_bytes()
        }
        Target::GithubPost { size, run } => github_request(
            &Delivery::github(format!("{run}-{worker}-{sequence}"), *size),
            port,
        ),
    }
}

/// `POST /webhooks/github` carrying `delivery`.
pub(crate) fn github_request(delivery: &Delivery, port: u16) -> Vec<u8> {
    let mut request = format!(
        "POST /webhooks/github HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-length: {}\r\n",
        delivery.body.len()
    );
    for (name, value) in delivery.headers() {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(&delivery.body);
    bytes
}

/// Sends one request and reads one whole response: (status, whether the connection stays open).
pub(crate) fn exchange(
    conn: &mut BufReader<TcpStream>,
    request: &[u8],
) -> std::io::Result<(u16, bool)> {
    conn.get_mut().write_all(request)?;
    read_answer(conn, false).map(|answer| (answer.status, answer.keep_alive))
}

/// One response as read off the wire.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answer {
    pub status: u16,
    pub keep_alive: bool,
    /// The body, if asked for (otherwise empty: it is read and discarded).
    pub body: Vec<u8>,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

/// Reads one whole response (status line, headers, a `Content-Length` or chunked body).
pub(crate) fn read_answer(
    conn: &mut BufReader<TcpStream>,
    keep_body: bool,
) -> std::io::Result<Answer> {
    let mut line = String::new();
    conn.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("bad status line {line:?}")))?;
    let mut answer = Answer {
        status,
        keep_alive: true,
        ..Answer::default()
    };
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(invalid("connection closed in the headers".into()));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => answer.keep_alive = !value.eq_ignore_ascii_case("close"),
                "retry-after" => answer.retry_after = Some(value.to_owned()),
                _ => {}
            }
        }
    }
    let mut body = keep_body.then(Vec::new);
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16)
                .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
            consume(conn, size, body.as_mut())?;
            discard(conn, 2)?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = length {
        consume(conn, length, body.as_mut())?;
    } else if status != 204 && status != 304 {
        return Err(invalid("response without length".into()));
    }
    answer.body = body.unwrap_or_default();
    Ok(answer)
}

/// Reads `n` body bytes into `body`, or discards them.
fn consume(
    conn: &mut BufReader<TcpStream>,
    n: usize,
    body: Option<&mut Vec<u8>>,
) -> std::io::Result<()> {
    let Some(body) = body else {
        return discard(conn, n);
    };
    let before = body.len();
    conn.by_ref().take(n as u64).read_to_end(body)?;
    if body.len() - before == n {
        Ok(())
    } else {
        Err(invalid("connection closed in the body".into()))
    }
}

fn discard(conn: &mut BufReader<TcpStream>, n: usize) -> std::io::Result<()> {
    let copied = std::io::copy(&mut conn.by_ref().take(n as u64), &mut std::io::sink())?;
    if copied == n as u64 {
        Ok(())
    } else {
        Err(invalid("connection closed in the body".into()))
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile(&samples, 0.50), 50.0);
        assert_eq!(percentile(&samples, 0.99), 99.0);
        assert_eq!(percentile(&samples, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[7000], 0.99), 7.0);
    }

    #[test]
    fn reads_length_and_chunked_responses_on_one_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
                .unwrap();
            let _ = stream.read(&mut buf).unwrap();
            stream
                .write_all(b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
                .unwrap();
        });
        let mut conn = connect(port).unwrap();
        let get = build(
            &Target::Get {
                path: "/".into(),
                bearer: None,
            },
            port,
            0,
            0,
        );
        assert_eq!(exchange(&mut conn, &get).unwrap(), (200, true));
        assert_eq!(exchange(&mut conn, &get).unwrap(), (202, true));
        server.join().unwrap();
    }

    /// A server that answers every request after `delay`, one request at a time per
    /// connection, `200` with an empty body.
    fn slow_server(delay: Duration) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    loop {
                        let mut line = String::new();
                        // The request head (GET, no body), up to its empty line.
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        std::thread::sleep(delay);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if reader.get_mut().write_all(answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    fn spec(port: u16, concurrency: usize, rate: Option<f64>, ms: u64) -> Spec {
        Spec {
            port,
            target: Target::Get {
                path: "/".into(),
                bearer: None,
            },
            concurrency,
            duration: Duration::from_millis(ms),
            warmup: Duration::from_millis(50),
            expect: 200,
            rate,
        }
    }

    #[test]
    fn closed_loop_counts_answers_completed_in_the_window() {
        // 200 ms per answer, a 50 ms warm-up and a 300 ms window: each connection's first
        // answer (sent at 0, done at ~200 ms) lands in the window, its second (~400 ms) after it.
        let port = slow_server(Duration::from_millis(200));
        let closed = run(&spec(port, 2, None, 300));
        assert_eq!(closed.requests, 2, "{closed:?}");
        assert_eq!(closed.errors, 0, "{closed:?}");
    }

    #[test]
    fn open_loop_counts_the_queueing_a_closed_loop_hides() {
        // One connection, 20 ms per answer: the server handles 50 req/s. Offered 100 req/s,
        // the schedule runs ahead of it, so latency from the scheduled send grows through the
        // run, while the service time stays at 20 ms, which is all a closed loop would see.
        let port = slow_server(Duration::from_millis(20));
        let closed = run(&spec(port, 1, None, 600));
        assert_eq!(closed.mode, "closed");
        assert!(closed.p99_ms < 60.0, "{closed:?}");
        let open = run(&spec(port, 1, Some(100.0), 600));
        assert_eq!(open.mode, "open");
        assert_eq!(open.scheduled, Some(60));
        assert_eq!(open.unsent, Some(0));
        assert_eq!(open.requests, 60, "late requests are still sent: {open:?}");
        let service_p99 = open.service_p99_ms.unwrap();
        assert!(service_p99 < 60.0, "{open:?}");
        // Request k of the window is scheduled at 10k ms but answered at about 20k ms (plus the
        // warm-up's backlog): the last ones wait more than half a second.
        assert!(open.p99_ms > 300.0, "{open:?}");
        assert!(open.p99_ms > 5.0 * service_p99, "{open:?}");
        assert!(open.send_lag_p99_ms.unwrap() > 250.0, "{open:?}");
    }

    #[test]
    fn open_loop_keeps_to_the_rate_when_the_server_keeps_up() {
        let port = slow_server(Duration::from_millis(1));
        let open = run(&spec(port, 8, Some(200.0), 500));
        assert_eq!(open.scheduled, Some(100));
        assert_eq!(open.requests, 100, "{open:?}");
        assert_eq!(open.errors, 0, "{open:?}");
        assert!((open.rps - 200.0).abs() < 1.0, "{open:?}");
        assert!(open.p50_ms < 20.0, "{open:?}");
    }

    #[test]
    fn answers_keep_their_body_and_retry_after_when_asked() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).unwrap();
            stream
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
                .unwrap();
        });
        let mut conn = connect(port).unwrap();
        conn.get_mut().write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let answer = read_answer(&mut conn, true).unwrap();
        assert_eq!(answer.status, 503);
        assert_eq!(answer.body, b"{}");
        assert_eq!(answer.retry_after.as_deref(), Some("1"));
        server.join().unwrap();
    }
}
