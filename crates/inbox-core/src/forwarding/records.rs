//! What is kept about one event's delivery to one destination, and the other stored shapes of
//! forwarding (due-attempt pointers, dead-letter entries) with their encoding.

use serde::{Deserialize, Serialize};

use super::destinations::DestinationName;
use crate::events::{EventId, StoreError};
use crate::time::Timestamp;

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for its next attempt (or in one).
    Pending,
    /// The destination answered 2xx.
    Delivered,
    /// Refused for good, or out of attempts: a dead letter until replayed.
    Dead,
}

impl State {
    /// Every state.
    pub const ALL: [State; 3] = [Self::Pending, Self::Delivered, Self::Dead];

    /// The name used in JSON, stats and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first; numbers keep counting across replays.
    pub n: u32,
    /// When it was sent.
    pub at: Timestamp,
    /// The destination's status code, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why there was no answer (connection, timeout, ...), or why the attempt was abandoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
    /// Its sender recorded no outcome (it stopped, or the store failed) and a later attempt took
    /// over after the lease: it may or may not have reached the destination.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub abandoned: bool,
}

impl Attempt {
    /// What an abandoned attempt's `error` says.
    pub const ABANDONED: &'static str = "abandoned: its sender recorded no outcome within the \
        lease (it stopped, or the store failed), so the outcome is unknown; it may have been \
        delivered, and the next attempt carries the same webhook-id";
}

/// The delivery of one event to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The event.
    pub event: EventId,
    /// The destination.
    pub destination: DestinationName,
    /// Where it is.
    pub state: State,
    /// The attempt number the next send uses (1 + the last claimed).
    pub next_attempt: u32,
    /// The attempts of the current round, oldest first (at most [`Record::KEPT_ATTEMPTS`]; a
    /// replay starts a new round).
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due, while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at: Option<Timestamp>,
    /// The attempt in flight and when it started, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<(u32, Timestamp)>,
    /// How many times it was replayed.
    #[serde(default)]
    pub replays: u32,
    /// The attempt number its current round started with (the schedule counts from it).
    #[serde(default = "one")]
    pub round_start: u32,
    /// Its newest entry in the dead-letter index, while dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_entry: Option<u64>,
    /// Replayed after it had an outcome (delivered or dead): an ordered destination's line has
    /// passed it, so it is sent outside the line and holds nothing up (`super::ordered`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub out_of_line: bool,
}

fn one() -> u32 {
    1
}

impl Record {
    /// Attempts kept per round (the schedule has at most 21).
    pub const KEPT_ATTEMPTS: usize = 24;

    /// A delivery nothing was tried for yet.
    pub fn new(event: EventId, destination: DestinationName, now: Timestamp) -> Self {
        Self {
            event,
            destination,
            state: State::Pending,
            next_attempt: 1,
            attempts: Vec::new(),
            next_at: Some(now),
            in_flight: None,
            replays: 0,
            round_start: 1,
            dead_entry: None,
            out_of_line: false,
        }
    }

    /// Adds an attempt to the history, forgetting the oldest beyond [`Record::KEPT_ATTEMPTS`].
    pub fn push_attempt(&mut self, attempt: Attempt) {
        self.attempts.push(attempt);
        if self.attempts.len() > Record::KEPT_ATTEMPTS {
            self.attempts.remove(0);
        }
    }

    /// Before attempt `next` is claimed: an earlier attempt still in flight was taken over (its
    /// sender recorded no outcome), so it goes into the history as abandoned, with its start.
    pub fn abandon_in_flight(&mut self, next: u32) {
        if let Some((n, since)) = self.in_flight.filter(|(n, _)| *n < next) {
            self.in_flight = None;
            self.push_attempt(Attempt {
                n,
                at: since,
                status: None,
                error: Some(Attempt::ABANDONED.to_owned()),
                duration_ms: 0,
                abandoned: true,
            });
        }
    }
}

/// A pointer to an attempt that is due.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Pointer {
    pub(super) event: EventId,
    pub(super) destination: DestinationName,
    pub(super) attempt: u32,
    /// A throttled delivery queued again: not before this (its bucket may start earlier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) not_before: Option<Timestamp>,
}

/// A dead letter's entry in the dead-letter index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct DeadEntry {
    pub(super) event: EventId,
    pub(super) destination: DestinationName,
    pub(super) at: Timestamp,
}

/// A stored value as JSON (a failure is reported as a corrupt record, which it would become).
pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Corrupt {
        key: String::new(),
        reason: format!("could not encode: {error}"),
    })
}
