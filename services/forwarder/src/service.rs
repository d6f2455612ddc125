//! The forwarder's routes (`api_contract::Operation`s served by `Server::Forwarder`: the dispatch
//! tick, and asking for one event's attempts) and its probes. It is what sends; reading and
//! replaying deliveries is the API component's (they need only the stored records). Sending for
//! one event happens after the answer: the webhook component (after storing it) and the API
//! (after a replay) do not wait for a destination.

use std::cell::RefCell;

use api_contract::serve::{event_not_found, path_event_id};
use api_contract::{DispatchReport, Operation, Server};
use inbox_core::auth;
use inbox_core::build_info::BuildInfo;
use inbox_core::clock::Clock;
use inbox_core::config::{names, ConfigError, LogLevel, Retention, Variables};
use inbox_core::events::{EventId, EventMeta, EventStore};
use inbox_core::forwarding::allowed;
use inbox_core::forwarding::dispatch::{Dispatcher, Sender};
use inbox_core::forwarding::{destinations, policy, status, Tuning};
use inbox_core::http::{
    accepts_json, json, BodyPolicy, Handler, Head, Request, RequestContext, Response, Router,
    Service, StatusCode,
};
use inbox_core::kv::KeyValue;
use inbox_core::probes::{self, Probed};
use inbox_core::problem::{Problem, ProblemKind};

use crate::config::Settings;

/// Index entries a retention sweep reads per dispatch.
const SWEEP_BUDGET: usize = 100;

/// The forwarder component's state for one request.
pub struct Forwarder<K, V, C, S> {
    store: K,
    vars: V,
    clock: C,
    sender: S,
    router: Router<Self>,
    /// The event whose due attempts to make once the answer is sent.
    later: RefCell<Option<EventId>>,
}

impl<K, V, C, S> std::fmt::Debug for Forwarder<K, V, C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder").finish_non_exhaustive()
    }
}

impl<K: KeyValue, V: Variables, C: Clock, S: Sender> Forwarder<K, V, C, S> {
    /// The component over a store, variables, a clock and a sender.
    pub fn new(store: K, vars: V, clock: C, sender: S) -> Self {
        let router = api_contract::serve::router(Self::handler);
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
            Operation::GetDeliveries
            | Operation::ReplayEvent
            | Operation::ListDeadLetters
            | Operation::ReplayDeadLetters
            | Operation::EnableDestination
            | Operation::ListEvents
            | Operation::GetEvent
            | Operation::UpdateEvent
            | Operation::DeleteEvent
            | Operation::GetStats
            | Operation::GetMetrics
            | Operation::ListProviders
            | Operation::ListHandshakes
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
    /// An API token or the dispatch token first (what the webhook and api components present:
    /// `forward_dispatch_token`): without one the answer
    /// is 401 whatever is stored, and nothing is read. Without destinations nothing is read
    /// either: the webhook component asks after every delivery.
    fn dispatch_event(&self, ctx: &RequestContext, request: Request) -> Result<Response, Problem> {
        auth::authorize_any(
            request.headers().get("authorization"),
            &self.vars,
            &[names::API_TOKEN, names::FORWARD_DISPATCH_TOKEN],
        )?;
        if self.settings()?.destinations.is_empty() {
            path_event_id(ctx)?;
        } else {
            let meta = self.load(ctx)?;
            self.later.replace(Some(meta.id));
        }
        Ok(Response::new(StatusCode::ACCEPTED, Vec::new()))
    }

    /// The event named by the path, or 404.
    fn load(&self, ctx: &RequestContext) -> Result<EventMeta, Problem> {
        EventStore::new(&self.store, &self.clock)
            .meta(&path_event_id(ctx)?)?
            .ok_or_else(|| event_not_found(ctx))
    }
}

fn misconfigured(error: ConfigError) -> Problem {
    tracing::error!(variable = error.variable(), error = %error, "forwarding misconfigured");
    Problem::of(ProblemKind::Misconfigured, error.to_string()).with_retry_after(60)
}

impl<K: KeyValue, V: Variables, C: Clock, S: Sender> Service for Forwarder<K, V, C, S> {
    /// Its requests carry no body.
    fn body_policy(&self, _: &Head) -> Result<BodyPolicy, Problem> {
        Ok(BodyPolicy::SMALL)
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

    /// An event's due attempts (its first ones, or a replayed one): the caller has its answer.
    fn after_response(&self) {
        let Some(id) = self.later.take() else {
            return;
        };
        let settings = match Settings::load(&self.vars) {
            Ok(settings) => settings,
            Err(error) => {
                tracing::error!(variable = error.variable(), error = %error, "forwarding misconfigured");
                return;
            }
        };
        if let Err(error) = self.dispatcher(&settings).dispatch_event(&id) {
            tracing::warn!(error = %error, "dispatch failed; the next one resumes it");
        }
    }
}

/// The variables the forwarder reads (spin.toml's `[component.forwarder.variables]`).
pub fn variables() -> Vec<&'static str> {
    [
        names::LOG_LEVEL,
        names::API_TOKEN,
        names::FORWARD_DISPATCH_TOKEN,
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
        inbox_core::build_info!()
    }

    fn validate(vars: &V) -> Result<(), ConfigError> {
        LogLevel::load(vars)?;
        Retention::load(vars)?;
        inbox_core::config::secret_list(vars, names::API_TOKEN)?;
        Settings::load(vars).map(drop)
    }

    /// Validates, then records whether the forwarder takes its configuration for the app's main
    /// `/readyz` (`forwarding::status`: a read per probe, a write on a change). A store failure
    /// is logged, not a readiness failure (the store check reports the store).
    fn check_configuration(&self) -> Result<(), ConfigError> {
        let result = Self::validate(&self.vars);
        let reason = result.as_ref().err().map(ToString::to_string);
        if let Err(error) = status::record(&self.store, reason.as_deref(), self.clock.now()) {
            tracing::warn!(
                error = %error,
                "the forwarding status was not recorded; the next readiness probe retries"
            );
        }
        result
    }
}

#[cfg(test)]
mod tests;
