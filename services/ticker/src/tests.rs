//! The loop against a fake host: its schedule, the token it presents, what it logs and what it
//! never logs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use inbox_core::config::{ConfigError, Secret, Variables};
use inbox_core::logging::CapturedLogs;
use serde_json::Value;

use super::*;

const TOKEN: &str = "tok-0f3c9a7e-never-logged";

/// One dispatch call as the fake host saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    at: Duration,
    token: String,
    timeout: Duration,
}

/// A host whose clock moves only when it sleeps or a call takes time; calls answer from a script
/// (200 once the script is used up).
#[derive(Debug, Default)]
struct Fake {
    now: Duration,
    answers: VecDeque<(Result<u16, String>, Duration)>,
    calls: Vec<Call>,
    slept: Vec<Duration>,
}

impl Fake {
    fn answering(answers: impl IntoIterator<Item = Result<u16, String>>) -> Self {
        Self {
            answers: answers.into_iter().map(|a| (a, Duration::ZERO)).collect(),
            ..Self::default()
        }
    }
}

impl Host for Fake {
    fn dispatch(&mut self, token: &Secret, timeout: Duration) -> Result<u16, String> {
        self.calls.push(Call {
            at: self.now,
            token: token.expose().to_owned(),
            timeout,
        });
        let (answer, takes) = self
            .answers
            .pop_front()
            .unwrap_or((Ok(200), Duration::ZERO));
        self.now += takes;
        answer
    }

    fn now(&self) -> Duration {
        self.now
    }

    fn sleep(&mut self, duration: Duration) {
        self.slept.push(duration);
        self.now += duration;
    }
}

/// Variables a test may change while the ticker holds them.
#[derive(Debug, Clone, Default)]
struct Vars(Rc<RefCell<Option<Result<String, String>>>>);

impl Vars {
    fn token(value: &str) -> Self {
        let vars = Self::default();
        vars.set(Some(Ok(value.to_owned())));
        vars
    }

    fn set(&self, value: Option<Result<String, String>>) {
        *self.0.borrow_mut() = value;
    }
}

impl Variables for Vars {
    fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        assert_eq!(name, "api_token", "the ticker reads api_token only");
        match self.0.borrow().clone() {
            None => Ok(None),
            Some(Ok(value)) => Ok(Some(value)),
            Some(Err(reason)) => Err(ConfigError::Unavailable {
                name: name.to_owned(),
                reason,
            }),
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn messages(logs: &CapturedLogs) -> Vec<String> {
    logs.lines()
        .iter()
        .map(|line| line["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_first_round_waits_one_interval_then_one_round_every_five_seconds() {
    let mut ticker = Ticker::new(Fake::default(), Vars::token(TOKEN));
    for _ in 0..4 {
        ticker.tick().unwrap();
    }
    let at: Vec<Duration> = ticker.host.calls.iter().map(|c| c.at).collect();
    assert_eq!(at, [secs(5), secs(10), secs(15), secs(20)]);
    assert!(ticker.host.calls.iter().all(|c| c.timeout == secs(40)));
}

#[test]
fn a_slow_round_is_followed_at_once_and_the_cadence_resumes_from_it() {
    let mut fake = Fake::default();
    fake.answers.push_back((Ok(200), secs(2)));
    fake.answers.push_back((Ok(200), secs(12)));
    fake.answers
        .push_back((Err("no response within 40000 ms".into()), secs(40)));
    let mut ticker = Ticker::new(fake, Vars::token(TOKEN));
    for _ in 0..5 {
        let _ = ticker.tick();
    }
    let at: Vec<Duration> = ticker.host.calls.iter().map(|c| c.at).collect();
    // 5 (takes 2) -> 10 (takes 12, ends at 22) -> 22 at once (takes 40, ends at 62) -> 62 -> 67:
    // late rounds start at once, one at a time, with no burst to catch up.
    assert_eq!(at, [secs(5), secs(10), secs(22), secs(62), secs(67)]);
    assert!(ticker.host.slept.iter().all(|d| !d.is_zero()));
}

#[test]
fn it_presents_the_first_of_several_tokens() {
    assert_eq!(
        first_token(&Vars::token("  new-token\n old-token  ")).unwrap(),
        Secret::new("new-token")
    );
    let mut ticker = Ticker::new(Fake::default(), Vars::token("a b\tc"));
    ticker.tick().unwrap();
    assert_eq!(ticker.host.calls[0].token, "a");
}

#[test]
fn a_missing_token_is_logged_and_read_again_each_round_without_calling() {
    let vars = Vars::default();
    let mut ticker = Ticker::new(Fake::default(), vars.clone());
    let ((), logs) = CapturedLogs::capture(|| {
        assert_eq!(ticker.tick(), Err(RoundError::NoToken));
        vars.set(Some(Ok("   ".into())));
        assert_eq!(ticker.tick(), Err(RoundError::NoToken));
        vars.set(Some(Err("the vault did not answer".into())));
        assert!(matches!(ticker.tick(), Err(RoundError::Token(_))));
        vars.set(Some(Ok(TOKEN.into())));
        ticker.tick().unwrap();
    });
    assert_eq!(ticker.host.calls.len(), 1, "no call without a token");
    assert_eq!(ticker.host.calls[0].token, TOKEN);
    let lines = logs.lines();
    assert_eq!(
        messages(&logs),
        [
            "dispatch failed",
            "dispatch answers again after failed rounds"
        ]
    );
    assert_eq!(lines[0]["level"], "warn");
    assert_eq!(lines[0]["component"], "test");
    assert!(lines[0]["error"]
        .as_str()
        .unwrap()
        .contains("api_token is empty"));
    assert_eq!(lines[1]["failures"], 3);
}

#[test]
fn every_answer_but_200_is_a_failure_with_its_status() {
    for status in [201, 204, 401, 404, 429, 500, 503] {
        let mut ticker = Ticker::new(Fake::answering([Ok(status)]), Vars::token(TOKEN));
        let (result, logs) = CapturedLogs::capture(|| ticker.tick());
        assert_eq!(result, Err(RoundError::Status(status)));
        let lines = logs.lines();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["message"], "dispatch failed");
        assert_eq!(
            lines[0]["error"],
            format!("the forwarder answered HTTP {status}")
        );
        assert_eq!(lines[0]["failures"], 1);
    }
}

#[test]
fn failures_log_the_first_then_one_line_per_twelve_then_the_recovery() {
    let mut answers: Vec<Result<u16, String>> = vec![Err("connection refused".into()); 30];
    answers.extend([Ok(200), Ok(200), Err("connection refused".into()), Ok(200)]);
    let mut ticker = Ticker::new(Fake::answering(answers), Vars::token(TOKEN));
    let ((), logs) = CapturedLogs::capture(|| {
        for _ in 0..34 {
            let _ = ticker.tick();
        }
    });
    let lines = logs.lines();
    let summary: Vec<(String, Value)> = lines
        .iter()
        .map(|l| {
            (
                l["message"].as_str().unwrap().to_owned(),
                l["failures"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("dispatch failed".to_owned(), Value::from(1)),
            ("dispatch failed".to_owned(), Value::from(12)),
            ("dispatch failed".to_owned(), Value::from(24)),
            (
                "dispatch answers again after failed rounds".to_owned(),
                Value::from(30)
            ),
            // The second success after a recovery says nothing; a new failure is a first again.
            ("dispatch failed".to_owned(), Value::from(1)),
            (
                "dispatch answers again after failed rounds".to_owned(),
                Value::from(1)
            ),
        ]
    );
    assert_eq!(lines[0]["error"], "no answer: connection refused");
}

#[test]
fn successes_log_once_then_once_an_hour() {
    let mut ticker = Ticker::new(Fake::default(), Vars::token(TOKEN));
    let ((), logs) = CapturedLogs::capture(|| {
        for _ in 0..(2 * ROUNDS_PER_ALIVE_LINE + 5) {
            ticker.tick().unwrap();
        }
    });
    let rounds: Vec<Value> = logs.lines().iter().map(|l| l["rounds"].clone()).collect();
    assert_eq!(
        rounds,
        [Value::from(1), Value::from(720), Value::from(1440)]
    );
    assert!(messages(&logs)
        .iter()
        .all(|m| m == "alive: dispatch rounds answer"));
    // An hour of rounds at 5 s.
    assert_eq!(
        INTERVAL * u32::try_from(ROUNDS_PER_ALIVE_LINE).unwrap(),
        secs(3600)
    );
}

#[test]
fn the_token_is_never_logged_nor_printed() {
    let vars = Vars::token(&format!("{TOKEN} second-token"));
    let answers = [
        Err("connection refused".to_owned()),
        Ok(401),
        Ok(503),
        Ok(200),
        Err("no response within 40000 ms".to_owned()),
        Ok(200),
    ];
    let mut ticker = Ticker::new(Fake::answering(answers), vars.clone());
    let ((), logs) = CapturedLogs::capture(|| {
        for _ in 0..6 {
            let _ = ticker.tick();
        }
        vars.set(Some(Err("provider failed".into())));
        let _ = ticker.tick();
        for _ in 0..(ROUNDS_PER_ALIVE_LINE + 1) {
            vars.set(Some(Ok(TOKEN.into())));
            let _ = ticker.tick();
        }
    });
    assert!(logs.lines().len() >= 6, "{}", logs.text());
    assert!(!logs.text().contains(TOKEN), "{}", logs.text());
    assert!(!logs.text().contains("second-token"));
    assert!(!format!("{ticker:?}").contains(TOKEN));
    assert!(ticker.host.calls.iter().all(|c| c.token == TOKEN));
}
