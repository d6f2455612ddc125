//! The `ticker` component: the forwarder's clock, inside the forwarder's own pod.
//!
//! Spin components run only while they serve a trigger, so something has to call
//! `POST /api/dispatch` for retries to go out and retention's age rules to run
//! (docs/architecture.md, "What drives retries"). On Kubernetes this component does: the forwarder
//! SpinApp retains it next to the forwarder, and the SpinKube shim runs its command trigger
//! (`wasi:cli/run`, one instance, once) alongside the HTTP trigger. It loops forever, one call at
//! a time, to the pod's own listener ([`DISPATCH_AUTHORITY`]) with the first token of `api_token`,
//! which the forwarder in the same pod reads from the same variable. If it ever returned, the
//! shim would end the container (it stops as soon as any trigger ends), so it never does.
//!
//! The loop is written against [`Host`] (one dispatch call, a monotonic clock, a sleep) and
//! [`inbox_core::config::Variables`], and tested natively; `main.rs` gives it Spin's outbound HTTP.
//!
//! What it logs (one JSON line each, on stderr): the first failed round, then one line per
//! [`FAILURES_PER_LINE`] failures in a row, a line when dispatch answers again, and an "alive"
//! line on the first success and every [`ROUNDS_PER_ALIVE_LINE`] successes (an hour at 5 s).
//! Never the token: it is only ever in the request header.
#![forbid(unsafe_code)]

use std::fmt;
use std::time::Duration;

use inbox_core::config::{self, names, ConfigError, Secret, Variables};

/// The variables the ticker is granted in spin.toml: the API token it calls dispatch with
/// (`e2e/tests/e2e/manifest.rs` checks spin.toml against this).
pub const VARIABLES: [&str; 1] = [names::API_TOKEN];

/// How often a round starts (when the previous one ended in time).
pub const INTERVAL: Duration = Duration::from_secs(5);
/// The longest one dispatch call may take: a round starts no send after 20 s and each send has
/// 10 s, so the forwarder answers within about 30 s.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(40);
/// The pod's own HTTP listener: spin-operator sets `SPIN_HTTP_LISTEN_ADDR=0.0.0.0:80`, so
/// loopback reaches it without DNS, a Service or a NetworkPolicy (spin.toml allows exactly this
/// origin).
pub const DISPATCH_AUTHORITY: &str = "127.0.0.1:80";
/// The forwarder's dispatch route.
pub const DISPATCH_PATH: &str = "/api/dispatch";
/// While rounds fail, one log line per this many (a minute at 5 s), after the first.
pub const FAILURES_PER_LINE: u64 = 12;
/// One "alive" line per this many successful rounds (an hour at 5 s), and one for the first.
pub const ROUNDS_PER_ALIVE_LINE: u64 = 720;

/// What the loop needs from its runtime.
pub trait Host {
    /// One `POST` of [`DISPATCH_PATH`] to [`DISPATCH_AUTHORITY`] with
    /// `Authorization: Bearer <token>` and an empty body, waited for at most `timeout`: the
    /// status, or why there is none (a text that never contains the token).
    fn dispatch(&mut self, token: &Secret, timeout: Duration) -> Result<u16, String>;

    /// A monotonic clock: the time since any fixed origin.
    fn now(&self) -> Duration;

    /// Waits for `duration`.
    fn sleep(&mut self, duration: Duration);
}

/// Why a round did not dispatch.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoundError {
    /// `api_token` is empty or unset: nothing to authenticate with (the forwarder would answer
    /// 503 or 401 anyway). Read again next round.
    #[error("no API token: the variable api_token is empty")]
    NoToken,
    /// The variable could not be read (its error names the variable, never its value).
    #[error("the API token could not be read: {0}")]
    Token(#[from] ConfigError),
    /// No answer within the deadline, or the connection failed.
    #[error("no answer: {0}")]
    Transport(String),
    /// The forwarder answered, but not 200.
    #[error("the forwarder answered HTTP {0}")]
    Status(u16),
}

/// The loop: [`Ticker::run`] in the component, [`Ticker::tick`] one round at a time in tests.
pub struct Ticker<H, V> {
    host: H,
    vars: V,
    /// When the next round is due, on the host's clock.
    next: Duration,
    /// Successful rounds since the start.
    successes: u64,
    /// Failed rounds in a row.
    failures: u64,
}

impl<H, V> fmt::Debug for Ticker<H, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticker")
            .field("next", &self.next)
            .field("successes", &self.successes)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl<H: Host, V: Variables> Ticker<H, V> {
    /// A ticker whose first round is due one [`INTERVAL`] from now: the HTTP listener it calls
    /// starts at the same time as this component.
    pub fn new(host: H, vars: V) -> Self {
        let next = host.now() + INTERVAL;
        Self {
            host,
            vars,
            next,
            successes: 0,
            failures: 0,
        }
    }

    /// Rounds forever. Never returns: on the shim, a command trigger that ends ends the pod's
    /// container (and the kubelet restarts it).
    pub fn run(mut self) -> ! {
        tracing::info!(
            url = %format_args!("http://{DISPATCH_AUTHORITY}{DISPATCH_PATH}"),
            every_s = INTERVAL.as_secs(),
            "ticker started: one dispatch round per interval, one call at a time"
        );
        loop {
            let _ = self.tick();
        }
    }

    /// Waits until the next round is due, runs it and logs what needs logging. A round starts
    /// [`INTERVAL`] after the previous one started, or at once when that one took longer (no
    /// catching up: a late round is not followed by a burst).
    pub fn tick(&mut self) -> Result<(), RoundError> {
        loop {
            let now = self.host.now();
            if now >= self.next {
                break;
            }
            self.host.sleep(self.next - now);
        }
        let started = self.host.now();
        let outcome = self.round();
        self.next = started + INTERVAL;
        self.record(&outcome);
        outcome
    }

    fn round(&mut self) -> Result<(), RoundError> {
        let token = first_token(&self.vars)?;
        match self.host.dispatch(&token, CALL_TIMEOUT) {
            Ok(200) => Ok(()),
            Ok(status) => Err(RoundError::Status(status)),
            Err(reason) => Err(RoundError::Transport(reason)),
        }
    }

    fn record(&mut self, outcome: &Result<(), RoundError>) {
        match outcome {
            Ok(()) => {
                self.successes += 1;
                if self.failures > 0 {
                    tracing::info!(
                        failures = self.failures,
                        "dispatch answers again after failed rounds"
                    );
                    self.failures = 0;
                } else if self.successes == 1
                    || self.successes.is_multiple_of(ROUNDS_PER_ALIVE_LINE)
                {
                    tracing::info!(rounds = self.successes, "alive: dispatch rounds answer");
                }
            }
            Err(error) => {
                self.failures += 1;
                if self.failures == 1 || self.failures.is_multiple_of(FAILURES_PER_LINE) {
                    tracing::warn!(error = %error, failures = self.failures, "dispatch failed");
                }
            }
        }
    }
}

/// The token to present: the first of `api_token`'s whitespace-separated tokens. During a
/// rotation the forwarder accepts each of them, and it reads the same variable, so the first is
/// always one it accepts.
pub fn first_token(vars: &dyn Variables) -> Result<Secret, RoundError> {
    config::secret_list(vars, names::API_TOKEN)?
        .into_iter()
        .next()
        .ok_or(RoundError::NoToken)
}

#[cfg(test)]
mod tests;
