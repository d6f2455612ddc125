//! The forwarder's routes (`api_contract::Operation`s served by `Server::Forwarder`) and its
//! probes. Sending happens after the answer wherever the caller does not need to wait for it:
//! an event's first attempts (asked for by the webhook component) and replays.

use std::cell::RefCell;

use api_contract::{
    DeadLetterPage, Deliveries, Delivery, DeliveryAttempt, DeliveryState, DispatchReport,
    HttpMethod, Operation, ReplayRequest, Server,
};
use shared::auth;
use shared::build_info::BuildInfo;
use shared::clock::Clock;
use shared::config::{names, ConfigError, LogLevel, Retention, Variables};
use shared::events::{EventId, EventMeta, EventStore};
use shared::forwarding::allowed;
use shared::forwarding::dispatch::{self, Dispatcher, Sender};
use shared::forwarding::{destinations, policy, DestinationName, Record, State, Tuning};
use shared::http::{
    accepts_json, json, media_type, BodyPolicy, Handler, Head, Method, Request, RequestContext,
    Response, Router, Service, StatusCode,
};
use shared::kv::KeyValue;
use shared::probes::{self, Probed};
use shared::problem::{FieldError, Problem, ProblemKind};

use crate::config::Settings;

/// Largest replay body.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// Index entries a retention sweep reads per dispatch.
const SWEEP_BUDGET: usize = 100;
/// Dead letters: default and largest page.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

/// What to do once the answer is sent.
#[derive(Debug)]
enum Later {
    /// The first attempts of one event.
    Event(EventId),
    /// A dispatch round (after a replay queued attempts).
    Round,
}

/// The forwarder component's state for one request.
pub struct Forwarder<K, V, C, S> {
    store: K,
    vars: V,
    clock: C,
    sender: S,
    router: Router<Self>,
    later: RefCell<Option<Later>>,
}

impl<K, V, C, S> std::fmt::Debug for Forwarder<K, V, C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder").finish_non_exhaustive()
    }
}

impl<K: KeyValue, V: Variables, C: Clock, S: Sender> Forwarder<K, V, C, S> {
    /// The component over a store, variables, a clock and a sender.
    pub fn new(store: K, vars: V, clock: C, sender: S) -> Self {
        let router = Operation::ALL
            .iter()
            .filter_map(|op| Some((op, Self::handler(*op)?)))
            .fold(Router::new(), |router, (op, handler)| {
                router.route(op.route(), method(op.method()), handler)
            });
        Self {
            store,
            vars,
            clock,
            sender,
            router: probes::route(router),
            later: RefCell::new(None),
        }
    }

    /// The handler of each operation this component serves (the others are another
    /// component's: `Operation::server`).
    fn handler(op: Operation) -> Option<Handler<Self>> {
        match op.server() {
            Server::Forwarder => {}
            Server::Api | Server::Console => return None,
        }
        Some(match op {
            Operation::Dispatch => Self::dispatch,
            Operation::DispatchEvent => Self::dispatch_event,
            Operation::GetDeliveries => Self::get_deliveries,
            Operation::ReplayEvent => Self::replay,
            Operation::ListDeadLetters => Self::list_dead_letters,
            Operation::ListEvents
            | Operation::GetEvent
            | Operation::UpdateEvent
            | Operation::DeleteEvent
            | Operation::GetStats
            | Operation::GetMetrics
            | Operation::GetOpenApi => return None,
        })
    }

    fn admit(&self, request: &Request) -> Result<(), Problem> {
        auth::authorize(request.headers().get("authorization"), &self.vars)?;
        accepts_json(request.headers().get("accept"))
    }

    fn settings(&self) -> Result<Settings, Problem> {
        Settings::load(&self.vars).map_err(misconfigured)
    }

    fn dispatcher<'a>(&'a self, settings: &'a Settings) -> Dispatcher<'a, K, C, &'a S> {
        Dispatcher::new(
            &self.store,
            &self.clock,
            &self.sender,
            &settings.destinations,
            &settings.schedule,
            Tuning::default(),
        )
    }

    /// `POST /api/dispatch`: one bounded round, and a retention sweep.
    fn dispatch(&self, _: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        let settings = self.settings()?;
        let report = self.dispatcher(&settings).dispatch()?;
        let retention = Retention::load(&self.vars).map_err(misconfigured)?;
        let swept =
            EventStore::new(&self.store, &self.clock).sweep(&retention, SWEEP_BUDGET, false)?;
        json(
            StatusCode::OK,
            &DispatchReport {
                sent: report.sent,
                delivered: report.delivered,
                failed: report.failed,
                dead: report.dead,
                still_due: report.still_due,
                pruned: u32::try_from(swept.pruned).unwrap_or(u32::MAX),
            },
        )
    }

    /// `POST /api/events/{id}/dispatch`: 202 at once, the first attempts after the answer.
    /// Without destinations nothing is read: the webhook component asks after every delivery.
    fn dispatch_event(&self, ctx: &RequestContext, _: Request) -> Result<Response, Problem> {
        if self.settings()?.destinations.is_empty() {
            event_id(ctx)?;
        } else {
            let meta = self.load(ctx)?;
            self.later.replace(Some(Later::Event(meta.id)));
        }
        Ok(Response::new(StatusCode::ACCEPTED, Vec::new()))
    }

    /// `GET /api/events/{id}/deliveries`.
    fn get_deliveries(&self, ctx: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        let meta = self.load(ctx)?;
        let settings = self.settings()?;
        let records = self.dispatcher(&settings).records(&meta)?;
        json(StatusCode::OK, &deliveries(&meta.id, &records))
    }

    /// `POST /api/events/{id}/replay`: queued now, sent after the answer.
    fn replay(&self, ctx: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        let wanted = replay_request(&request)?;
        let meta = self.load(ctx)?;
        let settings = self.settings()?;
        let only = match wanted.destination {
            None => None,
            Some(name) => {
                let name = DestinationName::parse(&name).map_err(|e| {
                    Problem::invalid(e.clone(), vec![FieldError::new("/destination", e)])
                })?;
                let receives = settings
                    .destinations
                    .iter()
                    .any(|d| d.name == name && d.filter.matches(&meta));
                if !receives {
                    return Err(Problem::of(
                        ProblemKind::Conflict,
                        format!("no configured destination {name} receives this event"),
                    )
                    .with_error(FieldError::new(
                        "/destination",
                        "unknown, or its filter does not match the event",
                    )));
                }
                Some(name)
            }
        };
        let records = self.dispatcher(&settings).replay(&meta, only.as_ref())?;
        self.later.replace(Some(Later::Round));
        json(StatusCode::ACCEPTED, &deliveries(&meta.id, &records))
    }

    /// `GET /api/dead-letters`.
    fn list_dead_letters(&self, _: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        let query = DeadLetterQuery::parse(request.query())?;
        let page = dispatch::dead_letters(
            &self.store,
            query.destination.as_ref(),
            query.limit,
            query.before,
            shared::events::Tuning::default().max_scan,
        )?;
        json(
            StatusCode::OK,
            &DeadLetterPage {
                items: page.items.iter().map(delivery).collect(),
                next_cursor: page.next.map(|k| k.to_string()),
            },
        )
    }

    /// The event named by the path, or 404.
    fn load(&self, ctx: &RequestContext) -> Result<EventMeta, Problem> {
        let id = event_id(ctx)?;
        EventStore::new(&self.store, &self.clock)
            .meta(&id)?
            .ok_or_else(|| not_found(id.as_str()))
    }
}

fn not_found(raw: &str) -> Problem {
    Problem::of(ProblemKind::NotFound, format!("there is no event {raw}"))
}

/// The path's event id, or 404 naming what is wrong with it.
fn event_id(ctx: &RequestContext) -> Result<EventId, Problem> {
    let raw = ctx.param("id").unwrap_or_default();
    EventId::parse(raw)
        .map_err(|error| not_found(raw).with_error(FieldError::new("path:id", error.to_string())))
}

fn misconfigured(error: ConfigError) -> Problem {
    tracing::error!(variable = error.variable(), error = %error, "forwarding misconfigured");
    Problem::of(ProblemKind::Misconfigured, error.to_string()).with_retry_after(60)
}

/// The router's method for a contract method.
fn method(method: HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
    }
}

/// The optional JSON body of a replay.
fn replay_request(request: &Request) -> Result<ReplayRequest, Problem> {
    if request.body().is_empty() {
        return Ok(ReplayRequest::default());
    }
    let media = media_type(request).unwrap_or_default();
    if media != "application/json" {
        return Err(Problem::of(
            ProblemKind::UnsupportedMediaType,
            "a replay request is application/json",
        )
        .with_header("accept-post", "application/json"));
    }
    serde_json::from_slice(request.body()).map_err(|error| {
        Problem::invalid(
            format!("the body is not a replay request: {error}"),
            vec![FieldError::new(
                "body",
                "expected {\"destination\": \"<name>\"} or {}",
            )],
        )
    })
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
                "destination" => {
                    DestinationName::parse(&value).map(|d| parsed.destination = Some(d))
                }
                "limit" => value
                    .parse::<usize>()
                    .ok()
                    .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                    .map(|limit| parsed.limit = limit)
                    .ok_or_else(|| format!("must be a whole number from 1 to {MAX_LIMIT}")),
                "cursor" => value
                    .parse::<u64>()
                    .ok()
                    .filter(|k| *k >= 1 && !value.starts_with('0') && value.len() <= 19)
                    .map(|k| parsed.before = Some(k))
                    .ok_or_else(|| "not a cursor this API issued".to_owned()),
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

fn delivery(record: &Record) -> Delivery {
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
            })
            .collect(),
        next_attempt_at: record
            .next_at
            .filter(|_| record.state == State::Pending)
            .map(|at| at.to_rfc3339_millis()),
        replays: record.replays,
    }
}

fn deliveries(id: &EventId, records: &[Record]) -> Deliveries {
    Deliveries {
        event_id: id.as_str().to_owned(),
        deliveries: records.iter().map(delivery).collect(),
    }
}

impl<K: KeyValue, V: Variables, C: Clock, S: Sender> Service for Forwarder<K, V, C, S> {
    fn body_policy(&self, head: &Head) -> Result<BodyPolicy, Problem> {
        Ok(if head.method == Method::POST {
            BodyPolicy {
                limit: MAX_BODY_BYTES,
                require_length: false,
            }
        } else {
            BodyPolicy::SMALL
        })
    }

    /// The ticker calls `POST /api/dispatch` every few seconds: a round that succeeds writes
    /// no request line (each attempt it makes logs its own `forward` line).
    fn logs_request(&self, route: &'static str, status: StatusCode) -> bool {
        let tick = route == Operation::Dispatch.route() && status == StatusCode::OK;
        !tick && !probes::is_quiet(route, status)
    }

    fn handle(&self, ctx: &mut RequestContext, request: Request) -> Response {
        let mut response = self.router.dispatch(self, ctx, request);
        let headers = response.headers_mut();
        headers.insert("cache-control", "no-store");
        headers.insert("x-content-type-options", "nosniff");
        response
    }

    /// The first attempts of an event, or a round after a replay: the caller has its answer.
    fn after_response(&self) {
        let Some(later) = self.later.take() else {
            return;
        };
        let settings = match Settings::load(&self.vars) {
            Ok(settings) => settings,
            Err(error) => {
                tracing::error!(variable = error.variable(), error = %error, "forwarding misconfigured");
                return;
            }
        };
        let dispatcher = self.dispatcher(&settings);
        let result = match later {
            Later::Event(id) => dispatcher.dispatch_event(&id),
            Later::Round => dispatcher.dispatch(),
        };
        if let Err(error) = result {
            tracing::warn!(error = %error, "dispatch failed; the next one resumes it");
        }
    }
}

/// The variables the forwarder reads (spin.toml's `[component.forwarder.variables]`).
pub fn variables() -> Vec<&'static str> {
    [
        names::LOG_LEVEL,
        names::API_TOKEN,
        destinations::VARIABLE,
        policy::SCHEDULE_VARIABLE,
        names::RETENTION_PROCESSED_DAYS,
        names::RETENTION_PENDING_DAYS,
        names::RETENTION_MAX_EVENTS,
        names::RETENTION_DEDUP_DAYS,
    ]
    .into_iter()
    .chain(allowed::SLOT_VARIABLES)
    .collect()
}

/// Ready when the store answers and forwarding's settings parse, and every destination is
/// one the manifest lets it reach (a misconfigured destination is named here, not at send time).
impl<K: KeyValue, V: Variables, C: Clock, S: Sender> Probed for Forwarder<K, V, C, S> {
    type Store = K;
    type Vars = V;
    type Clock = C;
    const LIVENESS: &'static str = "/forwarder/healthz";
    const READINESS: &'static str = "/forwarder/readyz";

    fn visible_variables() -> Vec<&'static str> {
        variables()
    }

    fn store(&self) -> Option<&K> {
        Some(&self.store)
    }

    fn vars(&self) -> &V {
        &self.vars
    }

    fn clock(&self) -> &C {
        &self.clock
    }

    fn build(&self) -> BuildInfo {
        shared::build_info!()
    }

    fn validate(vars: &V) -> Result<(), ConfigError> {
        LogLevel::load(vars)?;
        Retention::load(vars)?;
        shared::config::secret_list(vars, names::API_TOKEN)?;
        Settings::load(vars).map(drop)
    }
}

#[cfg(test)]
mod tests;
