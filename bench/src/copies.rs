//! Concurrent copies of one delivery (issue 14): `copies` connections, spread round-robin over
//! one or more servers (replicas sharing a store), all send the same signed delivery at the same
//! moment; repeated for `rounds` fresh deliveries. What every copy was answered, and how long it
//! took, says how the store's exactly-once protocol behaves under its worst case: one owner, all
//! the others contenders waiting for its commit.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::delivery::Delivery;
use crate::load::{self, percentile};

/// One measurement.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The servers' loopback ports; copy `k` goes to `ports[k % ports.len()]`.
    pub ports: Vec<u16>,
    /// Copies per round.
    pub copies: usize,
    /// Rounds, each with a fresh delivery.
    pub rounds: usize,
    /// Body size in bytes.
    pub size: usize,
    /// Makes delivery ids unique across runs.
    pub run: String,
    /// Pause between rounds.
    pub pause: Duration,
}

/// One copy's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Copy {
    /// HTTP status (0: the exchange failed).
    pub status: u16,
    /// From the common start to the whole answer read.
    pub ms: f64,
    /// Which server (index into `ports`).
    pub server: usize,
    /// For 2xx: the event id of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// For 2xx: the answer's `duplicate` flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    /// For an error: the problem type of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// `Retry-After`, if sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
}

/// One round.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// The delivery id.
    pub delivery: String,
    /// Answers by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Exactly one 202, every other copy 200 `duplicate` with the 202's id.
    pub clean: bool,
    /// The 202's latency (when the owner's commit was answered), if there was one.
    pub owner_ms: Option<f64>,
    /// Every copy, in the order they were started.
    pub copies: Vec<Copy>,
}

/// Latency figures of a group of copies.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    /// How many.
    pub count: u64,
    /// Fastest.
    pub min_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Spread {
    fn of(samples_ms: impl IntoIterator<Item = f64>) -> Self {
        let mut us: Vec<u32> = samples_ms
            .into_iter()
            .map(|ms| (ms * 1000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32)
            .collect();
        us.sort_unstable();
        Self {
            count: us.len() as u64,
            min_ms: us.first().map_or(0.0, |v| f64::from(*v) / 1000.0),
            p50_ms: percentile(&us, 0.50),
            p99_ms: percentile(&us, 0.99),
            max_ms: us.last().map_or(0.0, |v| f64::from(*v) / 1000.0),
        }
    }
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Copies per round.
    pub copies: usize,
    /// Servers the copies were spread over.
    pub servers: usize,
    /// Rounds run.
    pub rounds: usize,
    /// Rounds with exactly one 202 and only duplicates otherwise.
    pub clean_rounds: usize,
    /// Answers by status, all rounds.
    pub statuses: BTreeMap<u16, u64>,
    /// Every copy's latency.
    pub all: Spread,
    /// By status (`"202"`, `"200"`, `"503"`, ...).
    pub by_status: BTreeMap<String, Spread>,
    /// The rounds themselves.
    pub round_details: Vec<Round>,
}

/// Runs the rounds and reports.
pub fn run(spec: &Spec) -> Report {
    let mut rounds = Vec::with_capacity(spec.rounds);
    for round in 0..spec.rounds {
        if round > 0 {
            std::thread::sleep(spec.pause);
        }
        rounds.push(one_round(spec, format!("{}-copies-{round}", spec.run)));
    }
    summarize(spec, rounds)
}

fn summarize(spec: &Spec, rounds: Vec<Round>) -> Report {
    let mut statuses = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for copy in rounds.iter().flat_map(|round| &round.copies) {
        *statuses.entry(copy.status).or_insert(0) += 1;
        groups
            .entry(copy.status.to_string())
            .or_default()
            .push(copy.ms);
    }
    Report {
        copies: spec.copies,
        servers: spec.ports.len(),
        rounds: rounds.len(),
        clean_rounds: rounds.iter().filter(|round| round.clean).count(),
        statuses,
        all: Spread::of(rounds.iter().flat_map(|r| r.copies.iter().map(|c| c.ms))),
        by_status: groups
            .into_iter()
            .map(|(status, samples)| (status, Spread::of(samples)))
            .collect(),
        round_details: rounds,
    }
}

fn one_round(spec: &Spec, id: String) -> Round {
    // The same signed delivery for every copy.
    let delivery = Delivery::github(id.clone(), spec.size);
    let request = Arc::new(load::github_request(
        &delivery,
        spec.ports.first().copied().unwrap_or(0),
    ));
    let copies = spec.copies.max(1);
    let barrier = Arc::new(Barrier::new(copies));
    let threads: Vec<_> = (0..copies)
        .map(|k| {
            let server = k % spec.ports.len().max(1);
            let port = spec.ports.get(server).copied().unwrap_or(0);
            let barrier = Arc::clone(&barrier);
            let request = Arc::clone(&request);
            std::thread::spawn(move || copy(port, server, &request, &barrier))
        })
        .collect();
    let copies: Vec<Copy> = threads
        .into_iter()
        .map(|thread| {
            thread.join().unwrap_or(Copy {
                status: 0,
                ms: 0.0,
                server: 0,
                id: None,
                duplicate: None,
                problem: None,
                retry_after: None,
            })
        })
        .collect();
    let mut statuses = BTreeMap::new();
    for c in &copies {
        *statuses.entry(c.status).or_insert(0) += 1;
    }
    let owner = copies.iter().find(|c| c.status == 202);
    let clean = owner.is_some_and(|owner| {
        owner.duplicate == Some(false)
            && copies.iter().filter(|c| c.status == 202).count() == 1
            && copies
                .iter()
                .filter(|c| c.status != 202)
                .all(|c| c.status == 200 && c.duplicate == Some(true) && c.id == owner.id)
    });
    Round {
        delivery: id,
        statuses,
        clean,
        owner_ms: owner.map(|c| c.ms),
        copies,
    }
}

/// One copy: connect, wait for every other copy to be connected, send, read the answer.
fn copy(port: u16, server: usize, request: &[u8], barrier: &Barrier) -> Copy {
    use std::io::Write;
    let mut answer = Copy {
        status: 0,
        ms: 0.0,
        server,
        id: None,
        duplicate: None,
        problem: None,
        retry_after: None,
    };
    let connection = load::connect(port);
    barrier.wait();
    let started = Instant::now();
    let Ok(mut conn) = connection else {
        return answer;
    };
    let outcome = conn
        .get_mut()
        .write_all(request)
        .and_then(|()| load::read_answer(&mut conn, true));
    answer.ms = started.elapsed().as_secs_f64() * 1000.0;
    let Ok(read) = outcome else {
        return answer;
    };
    answer.status = read.status;
    answer.retry_after = read.retry_after;
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&read.body) {
        if (200..300).contains(&read.status) {
            answer.id = json.get("id").and_then(|v| v.as_str()).map(str::to_owned);
            answer.duplicate = json.get("duplicate").and_then(serde_json::Value::as_bool);
        } else {
            answer.problem = json.get("type").and_then(|v| v.as_str()).map(str::to_owned);
        }
    }
    answer
}
