//! A closed-loop HTTP/1.1 load generator: `concurrency` keep-alive connections, each sending its
//! next request as soon as the previous answer is read, for a fixed duration.
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
}

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
    /// Connections.
    pub concurrency: usize,
    /// Measured seconds.
    pub seconds: f64,
}

#[derive(Debug, Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    io_errors: u64,
}

/// Runs the load and reports.
pub fn run(spec: &Spec) -> Report {
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.duration;
    let workers: Vec<_> = (0..spec.concurrency.max(1))
        .map(|worker| {
            let spec = spec.clone();
            std::thread::spawn(move || work(&spec, worker, measure_from, end))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut statuses = BTreeMap::new();
    let mut io_errors = 0;
    for worker in workers {
        let result = worker.join().unwrap_or_default();
        latencies.extend(result.latencies_us);
        for (status, count) in result.statuses {
            *statuses.entry(status).or_insert(0) += count;
        }
        io_errors += result.io_errors;
    }
    latencies.sort_unstable();
    let seconds = spec.duration.as_secs_f64();
    let requests = latencies.len() as u64;
    let wrong: u64 = statuses
        .iter()
        .filter(|(status, _)| **status != spec.expect)
        .map(|(_, count)| count)
        .sum();
    Report {
        requests,
        rps: requests as f64 / seconds,
        errors: wrong + io_errors,
        statuses,
        p50_ms: percentile(&latencies, 0.50),
        p90_ms: percentile(&latencies, 0.90),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |us| f64::from(*us) / 1000.0),
        concurrency: spec.concurrency,
        seconds,
    }
}

/// The nearest-rank percentile of sorted microsecond samples, in milliseconds.
fn percentile(sorted_us: &[u32], q: f64) -> f64 {
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
        let elapsed = sent.elapsed();
        match outcome {
            Ok((conn, (status, keep_alive))) => {
                if keep_alive {
                    connection = Some(conn);
                }
                if sent >= measure_from && Instant::now() <= end {
                    let us = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
                    result.latencies_us.push(us);
                    *result.statuses.entry(status).or_insert(0) += 1;
                }
            }
            Err(_) => {
                if sent >= measure_from {
                    result.io_errors += 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    result
}

fn connect(port: u16) -> std::io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(BufReader::with_capacity(64 * 1024, stream))
}

fn build(target: &Target, port: u16, worker: usize, sequence: u64) -> Vec<u8> {
    match target {
        Target::Get { path, bearer } => {
            let auth = bearer
                .as_ref()
                .map(|token| format!("authorization: Bearer {token}\r\n"))
                .unwrap_or_default();
            format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n{auth}\r\n").into_bytes()
        }
        Target::GithubPost { size, run } => {
            let delivery = Delivery::github(format!("{run}-{worker}-{sequence}"), *size);
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
    }
}

/// Sends one request and reads one whole response: (status, whether the connection stays open).
fn exchange(conn: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<(u16, bool)> {
    conn.get_mut().write_all(request)?;
    let mut line = String::new();
    conn.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("bad status line {line:?}")))?;
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = true;
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
                "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16)
                .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
            discard(conn, size + 2)?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = length {
        discard(conn, length)?;
    } else if status != 204 && status != 304 {
        return Err(invalid("response without length".into()));
    }
    Ok((status, keep_alive))
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
}
