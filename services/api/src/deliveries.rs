//! The forwarding resources of the API: an event's deliveries, replaying them, and the dead
//! letters. They read and queue the stored delivery records (`inbox_core::forwarding::ledger`) and
//! never need the destinations' settings, so the API never sees a destination's URL or secret;
//! the forwarder component sends. After a replay the forwarder is asked to send at once
//! (`forward_dispatch_url`); if that fails, the next dispatch tick sends it.

use api_contract::serve::{event_not_found, path_event_id};
use api_contract::{
    patterns, DeadLetterPage, DeadLetterReplay, DeadLetterReplayRequest, Deliveries, Delivery,
    DeliveryAttempt, DeliveryState, ReplayRequest, ReplaySkips, ReplayedDelivery,
    BULK_REPLAY_DEFAULT, BULK_REPLAY_MAX, BULK_REPLAY_MAX_SCAN,
};
use inbox_core::clock::Clock;
use inbox_core::config::Variables;
use inbox_core::events::{EventId, EventMeta};
use inbox_core::forwarding::bulk::Selection;
use inbox_core::forwarding::ledger::{self, Ledger, ReplayError};
use inbox_core::forwarding::poke::Poke;
use inbox_core::forwarding::Filter;
use inbox_core::forwarding::{DestinationName, Record, State, Tuning};
use inbox_core::http::{json, media_type, Request, RequestContext, Response, StatusCode};
use inbox_core::kv::KeyValue;
use inbox_core::problem::{FieldError, Problem, ProblemKind};
use inbox_core::time::Timestamp;
use serde::de::DeserializeOwned;

use crate::service::Api;

/// A replay refused while an attempt is in flight: try again after about one send's deadline.
const IN_FLIGHT_RETRY_S: u32 = 10;

/// Dead letters: default and largest page.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

impl<K: KeyValue, V: Variables, C: Clock, P: Poke> Api<K, V, C, P> {
    fn ledger(&self) -> Ledger<'_, K, C> {
        Ledger::new(&self.store, &self.clock, Tuning::default())
    }

    /// `GET /api/events/{id}/deliveries`: one entry per destination an attempt was made to.
    pub(crate) fn get_deliveries(
        &self,
        ctx: &RequestContext,
        request: Request,
    ) -> Result<Response, Problem> {
        self.admit(&request)?;
        let meta = self.load_meta(ctx)?;
        let records = self.ledger().records_of(&meta.id)?;
        let ordered = ledger::ordered_names(&self.store)?;
        json(StatusCode::OK, &deliveries(&meta.id, &records, &ordered))
    }

    /// `POST /api/events/{id}/replay`: queued now; the forwarder is asked after the answer.
    pub(crate) fn replay_event(
        &self,
        ctx: &RequestContext,
        request: Request,
    ) -> Result<Response, Problem> {
        self.admit(&request)?;
        let wanted = replay_request(&request)?;
        let meta = self.load_meta(ctx)?;
        let only = wanted
            .destination
            .map(|name| {
                DestinationName::parse(&name).map_err(|e| {
                    Problem::invalid(e.0.clone(), vec![FieldError::new("/destination", e.0)])
                })
            })
            .transpose()?;
        let replayed = self
            .ledger()
            .replay(&meta, only.as_ref())
            .map_err(|error| match error {
                ReplayError::InFlight(name) => Problem::of(
                    ProblemKind::Conflict,
                    format!("an attempt to {name} is in flight; replay once it has an outcome"),
                )
                .with_error(FieldError::new(
                    "/destination",
                    format!("{name}: an attempt is being sent"),
                ))
                .with_retry_after(IN_FLIGHT_RETRY_S),
                ReplayError::Store(error) => Problem::from(error),
            })?;
        // Replaying all of nothing is nothing to do; a named destination must have a delivery.
        if let (Some(name), true) = (&only, replayed.is_empty()) {
            return Err(Problem::of(
                ProblemKind::Conflict,
                format!("event {} has no delivery to {name}", meta.id),
            )
            .with_error(FieldError::new(
                "/destination",
                "no attempt was ever made to deliver this event there (forwarding off, or \
                 the destination's filter does not match it)",
            )));
        }
        if !replayed.is_empty() {
            self.ask_after_response(meta.id.clone());
        }
        let ordered = ledger::ordered_names(&self.store)?;
        json(
            StatusCode::ACCEPTED,
            &deliveries(&meta.id, &replayed, &ordered),
        )
    }

    /// `GET /api/dead-letters`.
    pub(crate) fn list_dead_letters(
        &self,
        _: &RequestContext,
        request: Request,
    ) -> Result<Response, Problem> {
        self.admit(&request)?;
        let query = DeadLetterQuery::parse(request.query())?;
        let page = ledger::dead_letters(
            &self.store,
            query.destination.as_ref(),
            query.limit,
            query.before,
            inbox_core::events::Tuning::default().max_scan,
        )?;
        let ordered = ledger::ordered_names(&self.store)?;
        json(
            StatusCode::OK,
            &DeadLetterPage {
                items: page
                    .items
                    .iter()
                    .map(|record| delivery(record, &ordered))
                    .collect(),
                next_cursor: page.next.map(|k| k.to_string()),
            },
        )
    }

    /// `POST /api/dead-letters/replay`: one bounded batch; the forwarder is asked for each
    /// replayed event after the answer.
    pub(crate) fn replay_dead_letters(
        &self,
        _: &RequestContext,
        request: Request,
    ) -> Result<Response, Problem> {
        self.admit(&request)?;
        let wanted: DeadLetterReplayRequest = json_body(
            &request,
            "a bulk replay request",
            "expected {\"destination\", \"since\", \"until\", \"filter\": [...], \"limit\", \
             \"cursor\"}, each optional",
        )?;
        let bulk = BulkRequest::parse(wanted)?;
        let done = self.ledger().replay_dead(
            &bulk.selection,
            bulk.limit,
            bulk.before,
            BULK_REPLAY_MAX_SCAN,
        )?;
        for record in &done.replayed {
            self.ask_after_response(record.event.clone());
        }
        let skipped = done.skipped;
        json(
            StatusCode::OK,
            &DeadLetterReplay {
                replayed: done
                    .replayed
                    .iter()
                    .map(|record| ReplayedDelivery {
                        event_id: record.event.as_str().to_owned(),
                        destination: record.destination.as_str().to_owned(),
                    })
                    .collect(),
                skipped: ReplaySkips {
                    not_matching: skipped.not_matching,
                    no_longer_dead: skipped.no_longer_dead,
                    event_gone: skipped.event_gone,
                    unreadable: skipped.unreadable,
                },
                scanned: done.scanned,
                next_cursor: done.next.map(|k| k.to_string()),
            },
        )
    }

    fn load_meta(&self, ctx: &RequestContext) -> Result<EventMeta, Problem> {
        self.event_store()
            .meta(&path_event_id(ctx)?)?
            .ok_or_else(|| event_not_found(ctx))
    }
}

/// The optional JSON body of a replay.
fn replay_request(request: &Request) -> Result<ReplayRequest, Problem> {
    json_body(
        request,
        "a replay request",
        "expected {\"destination\": \"<name>\"} or {}",
    )
}

/// An optional JSON body (none: the default) of `what`; `expected` describes it.
fn json_body<T: DeserializeOwned + Default>(
    request: &Request,
    what: &str,
    expected: &str,
) -> Result<T, Problem> {
    if request.body().is_empty() {
        return Ok(T::default());
    }
    let media = media_type(request).unwrap_or_default();
    if media != "application/json" {
        return Err(Problem::of(
            ProblemKind::UnsupportedMediaType,
            format!("{what} is application/json"),
        )
        .with_header("accept-post", "application/json"));
    }
    serde_json::from_slice(request.body()).map_err(|error| {
        Problem::invalid(
            format!("the body is not {what}: {error}"),
            vec![FieldError::new("body", expected)],
        )
    })
}

/// A bulk replay request, checked: each bad member is named (as a JSON pointer).
struct BulkRequest {
    selection: Selection,
    limit: usize,
    before: Option<u64>,
}

impl BulkRequest {
    fn parse(wanted: DeadLetterReplayRequest) -> Result<Self, Problem> {
        let mut errors = Vec::new();
        let mut selection = Selection::default();
        if let Some(name) = wanted.destination {
            match DestinationName::parse(&name) {
                Ok(name) => selection.destination = Some(name),
                Err(e) => errors.push(FieldError::new("/destination", e.0)),
            }
        }
        for (field, value, slot) in [
            ("/since", wanted.since, &mut selection.since),
            ("/until", wanted.until, &mut selection.until),
        ] {
            if let Some(value) = value {
                match Timestamp::parse_rfc3339(&value) {
                    Ok(at) => *slot = Some(at),
                    Err(_) => errors.push(FieldError::new(
                        field,
                        "must be an RFC 3339 timestamp, e.g. 2026-11-24T13:00:00Z",
                    )),
                }
            }
        }
        if let Some(patterns) = wanted.filter {
            match filter(&patterns) {
                Ok(filter) => selection.filter = filter,
                Err(error) => errors.push(error),
            }
        }
        // A whole number (`68.0` is one, as JSON Schema says) from 1 to the maximum.
        let limit = wanted.limit.unwrap_or(f64::from(BULK_REPLAY_DEFAULT));
        let whole = (1..=BULK_REPLAY_MAX).find(|n| f64::from(*n) == limit);
        if whole.is_none() {
            errors.push(FieldError::new(
                "/limit",
                format!("must be a whole number from 1 to {BULK_REPLAY_MAX}"),
            ));
        }
        let mut before = None;
        if let Some(cursor) = wanted.cursor {
            match dead_cursor(&cursor) {
                Ok(k) => before = Some(k),
                Err(detail) => errors.push(FieldError::new("/cursor", detail)),
            }
        }
        if !errors.is_empty() {
            return Err(Problem::invalid(
                "the bulk replay request is invalid",
                errors,
            ));
        }
        Ok(Self {
            selection,
            limit: whole.map_or(1, |n| usize::try_from(n).unwrap_or(1)),
            before,
        })
    }
}

/// A filter of the destinations' grammar, exactly as the document's pattern says: no
/// surrounding space (which the destinations' parser forgives), bounded lengths.
fn filter(patterns: &[String]) -> Result<Filter, FieldError> {
    if patterns.is_empty() || patterns.len() > patterns::FILTER_PATTERNS_MAX {
        return Err(FieldError::new(
            "/filter",
            format!(
                "from 1 to {} patterns (leave filter out for every event)",
                patterns::FILTER_PATTERNS_MAX
            ),
        ));
    }
    for (i, pattern) in patterns.iter().enumerate() {
        let shape = if pattern.trim() != pattern || pattern.len() > patterns::FILTER_PATTERN_MAX {
            Err(format!(
                "{pattern:?} is not a pattern: at most {} characters, no surrounding space",
                patterns::FILTER_PATTERN_MAX
            ))
        } else {
            Filter::parse([pattern.as_str()]).map(drop)
        };
        if let Err(detail) = shape {
            return Err(FieldError::new(format!("/filter/{i}"), detail));
        }
    }
    Filter::parse(patterns.iter().map(String::as_str)).map_err(|e| FieldError::new("/filter", e))
}

/// A dead-letter cursor: a decimal position this API issued.
fn dead_cursor(value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|k| *k >= 1 && !value.starts_with('0') && value.len() <= 19)
        .ok_or_else(|| "not a cursor this API issued".to_owned())
}

/// The query of `GET /api/dead-letters`.
struct DeadLetterQuery {
    destination: Option<DestinationName>,
    limit: usize,
    before: Option<u64>,
}

impl DeadLetterQuery {
    fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let mut parsed = Self {
            destination: None,
            limit: DEFAULT_LIMIT,
            before: None,
        };
        let mut errors = Vec::new();
        let mut seen = Vec::new();
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if seen.contains(&name) {
                errors.push(FieldError::new(name.clone(), "given more than once"));
                continue;
            }
            seen.push(name.clone());
            let result = match name.as_ref() {
                "destination" => DestinationName::parse(&value)
                    .map(|d| parsed.destination = Some(d))
                    .map_err(|e| e.0),
                "limit" => value
                    .parse::<usize>()
                    .ok()
                    .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                    .map(|limit| parsed.limit = limit)
                    .ok_or_else(|| format!("must be a whole number from 1 to {MAX_LIMIT}")),
                "cursor" => dead_cursor(&value).map(|k| parsed.before = Some(k)),
                _ => Err("unknown parameter; known are destination, limit, cursor".to_owned()),
            };
            if let Err(detail) = result {
                errors.push(FieldError::new(name.into_owned(), detail));
            }
        }
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(Problem::invalid("the query is invalid", errors))
        }
    }
}

fn state(state: State) -> DeliveryState {
    match state {
        State::Pending => DeliveryState::Pending,
        State::Delivered => DeliveryState::Delivered,
        State::Dead => DeliveryState::Dead,
    }
}

fn delivery(record: &Record, ordered: &[DestinationName]) -> Delivery {
    Delivery {
        event_id: record.event.as_str().to_owned(),
        destination: record.destination.as_str().to_owned(),
        state: state(record.state),
        attempts: record
            .attempts
            .iter()
            .map(|attempt| DeliveryAttempt {
                attempt: attempt.n,
                at: attempt.at.to_rfc3339_millis(),
                status_code: attempt.status,
                error: attempt.error.clone(),
                duration_ms: attempt.duration_ms,
                abandoned: attempt.abandoned,
            })
            .collect(),
        next_attempt_at: record
            .next_at
            .filter(|_| record.state == State::Pending)
            .map(|at| at.to_rfc3339_millis()),
        replays: record.replays,
        ordered: ordered.contains(&record.destination),
    }
}

fn deliveries(id: &EventId, records: &[Record], ordered: &[DestinationName]) -> Deliveries {
    Deliveries {
        event_id: id.as_str().to_owned(),
        deliveries: records
            .iter()
            .map(|record| delivery(record, ordered))
            .collect(),
    }
}

#[cfg(test)]
mod tests;
