//! A forwarding destination for the benchmark suite (`bench receive`): a small HTTP server that
//! answers every `POST` with `200` at once (or the status `PUT /answer` set) and counts what it
//! received, so `tools/python/inbox_tools/bench/forwarding.py` can measure forwarding throughput
//! and check that every event arrived exactly once.
//!
//! Each request is checked as a receiving service would check it: the Standard Webhooks
//! signature against the destination's secret (the project's own verifier, 5 minute tolerance),
//! and the body against the delivery it claims to be (the suite's deliveries carry their own id
//! in the body, `"delivery":"<id>"`, and the forwarder names it in `webhook-inbox-delivery-id`).
//! `GET /stats` answers the tally as JSON; `GET /healthz` answers 200 (the suite's start probe).
//!
//! `PUT /answer` with a status code as its body (`500`) makes it a failing destination: every
//! `POST` then gets that status and is counted as `failed`, not as an arrival (what the suite's
//! circuit-breaking measurement needs); `PUT /answer` with `200` makes it healthy again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use webhook_verify::standard::{self, Key, SignedHeaders};

/// What the receiver counted. Times are milliseconds since it started.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// `POST` requests answered.
    pub requests: u64,
    /// Distinct `webhook-id`s among them (the event id: one per event).
    pub unique: u64,
    /// Requests whose `webhook-id` had arrived before.
    pub duplicates: u64,
    /// The first few of those: the id, and the `webhook-inbox-attempt` of every arrival.
    pub duplicated: Vec<(String, Vec<String>)>,
    /// Requests whose Standard Webhooks signature did not verify (or was missing).
    pub bad_signature: u64,
    /// Requests whose body is not the delivery named by `webhook-inbox-delivery-id`.
    pub body_mismatch: u64,
    /// When the first `POST` arrived.
    pub first_ms: Option<f64>,
    /// When the last `POST` arrived.
    pub last_ms: Option<f64>,
    /// `POST` requests answered with a failing status (`PUT /answer`): not arrivals, not in
    /// the counts above.
    pub failed: u64,
    /// When the last of those came.
    pub last_failed_ms: Option<f64>,
    /// The status every `POST` gets now (200 unless `PUT /answer` said otherwise).
    pub answer: u16,
    /// Now (to line the receiver's clock up with the caller's).
    pub now_ms: f64,
}

/// The receiver's state: the key it verifies with and what it counted.
#[derive(Debug)]
pub struct Receiver {
    key: Key,
    started: Instant,
    tally: Mutex<Tally>,
    /// What a `POST` gets: 200 (recorded), or a failing status (counted as failed).
    answer: AtomicU16,
}

#[derive(Debug, Default)]
struct Tally {
    stats: Stats,
    /// Each id seen, with the attempt numbers it arrived as.
    seen: HashMap<String, Vec<String>>,
}

/// How many duplicated ids [`Stats::duplicated`] lists.
const DUPLICATES_LISTED: usize = 20;

/// The parts of a forwarded request the receiver checks.
#[derive(Debug, Clone, Copy)]
pub struct Forwarded<'a> {
    /// `webhook-id`
    pub id: Option<&'a str>,
    /// `webhook-timestamp`
    pub timestamp: Option<&'a str>,
    /// `webhook-signature`
    pub signature: Option<&'a str>,
    /// `webhook-inbox-delivery-id`
    pub delivery_id: Option<&'a str>,
    /// `webhook-inbox-attempt`
    pub attempt: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

impl Receiver {
    /// A receiver verifying with `secret` (`whsec_<base64>`).
    pub fn new(secret: &str) -> Result<Self, standard::InvalidSecret> {
        Ok(Self {
            key: Key::parse(secret)?,
            started: Instant::now(),
            tally: Mutex::new(Tally::default()),
            answer: AtomicU16::new(200),
        })
    }

    fn ms(&self, at: Instant) -> f64 {
        at.duration_since(self.started).as_secs_f64() * 1000.0
    }

    /// Counts one forwarded request.
    pub fn record(&self, request: Forwarded<'_>) {
        let at = Instant::now();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let signed = standard::verify(
            SignedHeaders {
                id: request.id,
                timestamp: request.timestamp,
                signature: request.signature,
            },
            request.body,
            &[&self.key],
            now,
            Duration::from_secs(300),
        )
        .is_ok();
        let faithful = request.delivery_id.is_some_and(|delivery| {
            let needle = format!(r#""delivery":"{delivery}""#);
            request
                .body
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        });
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        let ms = self.ms(at);
        let stats = &mut tally.stats;
        stats.requests += 1;
        stats.bad_signature += u64::from(!signed);
        stats.body_mismatch += u64::from(!faithful);
        stats.first_ms.get_or_insert(ms);
        stats.last_ms = Some(ms);
        let id = request.id.unwrap_or_default().to_owned();
        let attempts = tally.seen.entry(id.clone()).or_default();
        attempts.push(request.attempt.unwrap_or("?").to_owned());
        let arrivals = attempts.clone();
        if arrivals.len() == 1 {
            tally.stats.unique += 1;
        } else {
            tally.stats.duplicates += 1;
            let listed = &mut tally.stats.duplicated;
            if let Some(entry) = listed.iter_mut().find(|(listed_id, _)| *listed_id == id) {
                entry.1 = arrivals;
            } else if listed.len() < DUPLICATES_LISTED {
                listed.push((id, arrivals));
            }
        }
    }

    /// What it counted so far.
    pub fn stats(&self) -> Stats {
        let tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        Stats {
            now_ms: self.ms(Instant::now()),
            answer: self.answer(),
            ..tally.stats.clone()
        }
    }

    /// The status a `POST` gets now.
    pub fn answer(&self) -> u16 {
        self.answer.load(Ordering::SeqCst)
    }

    /// Answers every `POST` with `status` from now on: 200 records them, anything else counts
    /// them as failed. A status outside 200..=599 is refused (`false`).
    pub fn set_answer(&self, status: u16) -> bool {
        if !(200..=599).contains(&status) {
            return false;
        }
        self.answer.store(status, Ordering::SeqCst);
        true
    }

    /// Counts one `POST` answered with a failing status.
    pub fn refuse(&self) {
        let at = Instant::now();
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        let ms = self.ms(at);
        tally.stats.failed += 1;
        tally.stats.last_failed_ms = Some(ms);
    }
}

/// Serves `receiver` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, receiver: Arc<Receiver>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let receiver = Arc::clone(&receiver);
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&receiver), request));
            // A connection error is the client's business; nothing to report.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    receiver: Arc<Receiver>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let (status, answer) = match (parts.method.as_str(), parts.uri.path()) {
        ("PUT", "/answer") => match body.collect().await {
            Ok(collected) => {
                let status = std::str::from_utf8(&collected.to_bytes())
                    .ok()
                    .and_then(|text| text.trim().parse::<u16>().ok());
                match status {
                    Some(status) if receiver.set_answer(status) => (204, Vec::new()),
                    _ => (400, b"expected a status code, 200 to 599".to_vec()),
                }
            }
            Err(_) => (400, Vec::new()),
        },
        ("POST", _) if receiver.answer() != 200 => {
            // Read it whole, as a destination would, then fail it.
            let _ = body.collect().await;
            receiver.refuse();
            (receiver.answer(), Vec::new())
        }
        ("POST", _) => match body.collect().await {
            Ok(collected) => {
                let body = collected.to_bytes();
                let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
                receiver.record(Forwarded {
                    id: header(standard::ID_HEADER),
                    timestamp: header(standard::TIMESTAMP_HEADER),
                    signature: header(standard::SIGNATURE_HEADER),
                    delivery_id: header("webhook-inbox-delivery-id"),
                    attempt: header("webhook-inbox-attempt"),
                    body: &body,
                });
                (200, Vec::new())
            }
            Err(_) => (400, Vec::new()),
        },
        ("GET", "/healthz") => (200, b"ok".to_vec()),
        ("GET", "/stats") => (
            200,
            serde_json::to_vec(&receiver.stats()).unwrap_or_default(),
        ),
        _ => (404, Vec::new()),
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(answer)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `whsec_` + base64 of "bench-destination-key". Obviously fake.
    const SECRET: &str = "whsec_YmVuY2gtZGVzdGluYXRpb24ta2V5";

    fn forwarded<'a>(
        id: &'a str,
        timestamp: &'a str,
        signature: &'a str,
        body: &'a [u8],
    ) -> Forwarded<'a> {
        Forwarded {
            id: Some(id),
            timestamp: Some(timestamp),
            signature: Some(signature),
            delivery_id: Some("d-1"),
            attempt: Some("1"),
            body,
        }
    }

    #[test]
    fn counts_each_event_once_and_flags_what_a_receiver_would_reject() {
        let receiver = Receiver::new(SECRET).unwrap();
        let key = Key::parse(SECRET).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let now = i64::try_from(now).unwrap();
        let body = br#"{"ref":"refs/heads/main","delivery":"d-1","pad":""}"#;
        let signature = standard::sign(&key, "evt_1", now, body);
        let t = now.to_string();
        receiver.record(forwarded("evt_1", &t, &signature, body));
        receiver.record(forwarded("evt_1", &t, &signature, body));
        // Signed with another key, and a body that is not the delivery it names.
        let other = Key::parse("whsec_b3RoZXIta2V5").unwrap();
        let forged = standard::sign(&other, "evt_2", now, body);
        receiver.record(forwarded("evt_2", &t, &forged, body));
        let swapped = br#"{"delivery":"d-2"}"#;
        let signed_swap = standard::sign(&key, "evt_3", now, swapped);
        receiver.record(forwarded("evt_3", &t, &signed_swap, swapped));
        let stats = receiver.stats();
        assert_eq!(stats.requests, 4);
        assert_eq!(stats.unique, 3);
        assert_eq!(stats.duplicates, 1);
        assert_eq!(
            stats.duplicated,
            [("evt_1".to_owned(), vec!["1".to_owned(); 2])]
        );
        assert_eq!(stats.bad_signature, 1);
        assert_eq!(stats.body_mismatch, 1);
        assert!(stats.first_ms.unwrap() <= stats.last_ms.unwrap());
        assert!(stats.last_ms.unwrap() <= stats.now_ms);
    }

    #[test]
    fn a_failing_answer_counts_failures_not_arrivals() {
        let receiver = Receiver::new(SECRET).unwrap();
        assert_eq!(receiver.answer(), 200);
        assert!(receiver.set_answer(500));
        assert!(!receiver.set_answer(99));
        assert!(!receiver.set_answer(600));
        receiver.refuse();
        receiver.refuse();
        let stats = receiver.stats();
        assert_eq!(
            (stats.answer, stats.failed, stats.requests, stats.unique),
            (500, 2, 0, 0)
        );
        assert!(stats.last_failed_ms.is_some() && stats.last_ms.is_none());
        assert!(receiver.set_answer(200));
        assert_eq!(receiver.stats().answer, 200);
    }

    #[test]
    fn rejects_a_secret_that_is_not_standard_webhooks() {
        assert!(Receiver::new("whsec_").is_err());
    }
}
