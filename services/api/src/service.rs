//! The API's handlers. Each request is, in order: routed (404/405), authenticated (401/503),
//! checked against `Accept` (406), then handled. Every response carries
//! `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.

use std::cell::RefCell;

use api_contract::serve::{event_not_found, path_event_id};
use api_contract::{EventPage, HandedOverSecret, HandedOverSecrets, Operation};
use inbox_core::build_info::BuildInfo;
use inbox_core::clock::Clock;
use inbox_core::config::{self, names, ConfigError, LogLevel, Retention, Variables};
use inbox_core::configured;
use inbox_core::events::{
    EventId, EventStatus, EventStore, Provider, StatusChange, StoreError, StoredEvent,
};
use inbox_core::forwarding;
use inbox_core::forwarding::poke::{DispatchUrl, Poke};
use inbox_core::handshakes;
use inbox_core::http::{
    accepts_json, json, media_type, BodyPolicy, Handler, Head, Method, Request, RequestContext,
    Response, Router, Service, StatusCode,
};
use inbox_core::kv::KeyValue;
use inbox_core::probes::{self, Probed};
use inbox_core::problem::{FieldError, Problem, ProblemKind};

use crate::{query, representation};
use inbox_core::auth;
use inbox_core::http::conditional::{check_if_match, etag, none_match_says_not_modified};

/// Largest PATCH body.
const MAX_PATCH_BYTES: usize = 16 * 1024;
/// Media types a PATCH may use.
const PATCH_TYPES: [&str; 2] = ["application/merge-patch+json", "application/json"];

/// Largest replay body.
const MAX_REPLAY_BYTES: usize = 16 * 1024;

/// The API component's state for one request.
pub struct Api<K, V, C, P> {
    pub(crate) store: K,
    vars: V,
    pub(crate) clock: C,
    router: Router<Self>,
    /// How the forwarder is asked to send at once (after a replay).
    poke: P,
    /// The events to ask the forwarder about once the answer is sent.
    ask: RefCell<Vec<EventId>>,
}

impl<K, V, C, P> std::fmt::Debug for Api<K, V, C, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

impl<K: KeyValue, V: Variables, C: Clock, P: Poke> Api<K, V, C, P> {
    /// The component over a store, variables, a clock and a way to ask the forwarder.
    pub fn new(store: K, vars: V, clock: C, poke: P) -> Self {
        let router = api_contract::serve::router(Self::handler);
        // The pod's probes: operational, unauthenticated, and not part of the API contract.
        let router = probes::route(router);
        Self {
            store,
            vars,
            clock,
            router,
            poke,
            ask: RefCell::new(Vec::new()),
        }
    }

    /// The handler of each operation this component serves: exhaustive, so a new operation
    /// cannot go unserved (the others are another component's: `Operation::server`).
    fn handler(op: Operation) -> Option<Handler<Self>> {
        match op {
            Operation::ListEvents => Some(Self::list_events),
            Operation::GetEvent => Some(Self::get_event),
            Operation::UpdateEvent => Some(Self::update_event),
            Operation::DeleteEvent => Some(Self::delete_event),
            Operation::GetStats => Some(Self::get_stats),
            Operation::GetMetrics => Some(Self::get_metrics),
            Operation::ListProviders => Some(Self::list_providers),
            Operation::ListHandshakes => Some(Self::list_handshakes),
            Operation::GetDeliveries => Some(Self::get_deliveries),
            Operation::ReplayEvent => Some(Self::replay_event),
            Operation::ListDeadLetters => Some(Self::list_dead_letters),
            Operation::ReplayDeadLetters => Some(Self::replay_dead_letters),
            Operation::EnableDestination => Some(Self::enable_destination),
            Operation::GetOpenApi | Operation::DispatchEvent | Operation::Dispatch => None,
        }
    }

    pub(crate) fn event_store(&self) -> EventStore<&K, &C> {
        EventStore::new(&self.store, &self.clock)
    }

    /// Authentication and content negotiation, shared by every authenticated operation.
    pub(crate) fn admit(&self, request: &Request) -> Result<(), Problem> {
        auth::authorize(request.headers().get("authorization"), &self.vars)?;
        accepts_json(request.headers().get("accept"))
    }

    fn list_events(&self, _: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        let query = query::parse(request.query())?;
        let page = self
            .event_store()
            .list(&query.filter, query.limit, query.cursor)?;
        let body = EventPage {
            items: page.items.iter().map(representation::summary).collect(),
            next_cursor: page.next.map(|cursor| cursor.encode()),
        };
        let mut response = json(StatusCode::OK, &body)?;
        if let Some(cursor) = page.next {
            response
                .headers_mut()
                .insert("link", &query::next_link(&query.carried, cursor));
        }
        Ok(response)
    }

    fn get_event(&self, ctx: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        let event = self.load(ctx)?;
        let (body, tag) = render(event)?;
        if none_match_says_not_modified(request.headers().get("if-none-match"), &tag)? {
            return Ok(Response::new(StatusCode::NOT_MODIFIED, Vec::new())
                .with_header("etag", &tag)
                .with_header("cache-control", "no-store"));
        }
        Ok(Response::new(StatusCode::OK, body)
            .with_header("content-type", "application/json")
            .with_header("cache-control", "no-store")
            .with_header("etag", &tag))
    }

    fn update_event(&self, ctx: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        let media = media_type(&request).unwrap_or_default();
        if !PATCH_TYPES.contains(&media.as_str()) {
            return Err(Problem::of(
                ProblemKind::UnsupportedMediaType,
                format!(
                    "a patch is {}; got {}",
                    PATCH_TYPES.join(" or "),
                    if media.is_empty() {
                        "no Content-Type"
                    } else {
                        &media
                    }
                ),
            )
            .with_header("accept-patch", &PATCH_TYPES.join(", ")));
        }
        let wanted = parse_patch(request.body())?;

        let event = self.load(ctx)?;
        let (_, tag) = render(event.clone())?;
        check_if_match(request.headers().get("if-match"), &tag)?;
        let Some(status) = wanted else {
            // An empty merge patch changes nothing.
            return self.respond_with(event, StatusCode::OK);
        };
        let store = self.event_store();
        match store.set_status(event.meta.clone(), status)? {
            StatusChange::Updated(meta) | StatusChange::Unchanged(meta) => self.respond_with(
                StoredEvent {
                    meta,
                    body: event.body,
                },
                StatusCode::OK,
            ),
            StatusChange::Illegal => Err(Problem::of(
                ProblemKind::Conflict,
                "the event is processed; processed events cannot return to pending",
            )
            .with_error(FieldError::new(
                "/status",
                "cannot change from processed to pending",
            ))),
            StatusChange::Gone => Err(event_not_found(ctx)),
        }
    }

    fn delete_event(&self, ctx: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        let event = self.load(ctx)?;
        if request.headers().contains_key("if-match") {
            let (_, tag) = render(event.clone())?;
            check_if_match(request.headers().get("if-match"), &tag)?;
        }
        self.event_store().delete(&event.meta)?;
        Ok(Response::new(StatusCode::NO_CONTENT, Vec::new())
            .with_header("cache-control", "no-store"))
    }

    fn get_stats(&self, _: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        json(StatusCode::OK, &representation::stats(&self.figures()?))
    }

    fn get_metrics(&self, _: &RequestContext, request: Request) -> Result<Response, Problem> {
        auth::authorize(request.headers().get("authorization"), &self.vars)?;
        let body = representation::metrics(&self.figures()?);
        Ok(Response::new(StatusCode::OK, body.into_bytes())
            .with_header("content-type", "text/plain; version=0.0.4; charset=utf-8"))
    }

    /// The provider catalogue: the rows are compiled in; whether each is configured is the
    /// webhook component's last report (one store read).
    fn list_providers(&self, _: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        let known = configured::load(&self.store).map_err(StoreError::from)?;
        json(StatusCode::OK, &representation::catalogue(known.as_ref()))
    }

    /// The secrets providers handed over in their handshakes (a few reads per provider that
    /// hands one over).
    fn list_handshakes(&self, _: &RequestContext, request: Request) -> Result<Response, Problem> {
        self.admit(&request)?;
        let mut secrets = Vec::new();
        for &provider in Provider::ALL {
            // From the listing, not the row: `spec()` would link every row into the api.
            if provider.listing().handshake != Some(handshakes::HANDSHAKE) {
                continue;
            }
            let kept =
                handshakes::recent(&self.store, provider.as_str()).map_err(StoreError::from)?;
            secrets.extend(kept.into_iter().map(|kept| HandedOverSecret {
                provider: api_contract::Provider(provider),
                received_at: kept.received_at.to_rfc3339_millis(),
                secret: kept.secret,
            }));
        }
        let body = HandedOverSecrets { secrets };
        Ok(json(StatusCode::OK, &body)?.with_header("cache-control", "no-store"))
    }

    /// Every counter the stats and metrics report.
    fn figures(&self) -> Result<representation::Figures, Problem> {
        let store = self.event_store();
        let retention = Retention::load(&self.vars).map_err(|error| {
            Problem::of(ProblemKind::Misconfigured, error.to_string()).with_retry_after(60)
        })?;
        let read = |kind: &str| forwarding::ledger::per_destination(&self.store, kind);
        Ok(representation::Figures {
            events: store.stats()?,
            pruned: store.pruned()?,
            max_events: retention.max_events.unwrap_or(0),
            forwarding: read("deliveries")?,
            settings: forwarding::settings::load(&self.store)?,
            disabled: forwarding::ledger::disabled(&self.store)?,
            attempts: read("attempts")?,
        })
    }

    /// The event named by the path, or 404.
    fn load(&self, ctx: &RequestContext) -> Result<StoredEvent, Problem> {
        self.event_store()
            .get(&path_event_id(ctx)?)?
            .ok_or_else(|| event_not_found(ctx))
    }

    fn respond_with(&self, event: StoredEvent, status: StatusCode) -> Result<Response, Problem> {
        let (body, tag) = render(event)?;
        Ok(Response::new(status, body)
            .with_header("content-type", "application/json")
            .with_header("cache-control", "no-store")
            .with_header("etag", &tag))
    }
}

/// The JSON of an event and its ETag.
fn render(event: StoredEvent) -> Result<(Vec<u8>, String), Problem> {
    let body = serde_json::to_vec(&representation::detail(event)).map_err(|error| {
        Problem::of(
            ProblemKind::Internal,
            format!("could not encode the event: {error}"),
        )
    })?;
    let tag = etag(&body);
    Ok((body, tag))
}

/// A merge patch of an event: only `status`, only as a string. `None` means "no change".
fn parse_patch(body: &[u8]) -> Result<Option<EventStatus>, Problem> {
    let patch: PatchDocument = serde_json::from_slice(body).map_err(|error| {
        Problem::invalid(
            format!("the patch is not valid JSON: {error}"),
            vec![FieldError::new("body", error.to_string())],
        )
    })?;
    let PatchDocument::Object {
        mut unknown,
        status,
    } = patch
    else {
        return Err(Problem::invalid(
            "a merge patch of an event is a JSON object",
            vec![FieldError::new("body", "not an object")],
        ));
    };
    // In the order of their names, each once, as the members of a JSON object.
    unknown.sort_unstable();
    unknown.dedup();
    let mut errors: Vec<FieldError> = unknown
        .iter()
        .map(|key| FieldError::new(format!("/{key}"), "unknown member; only status can change"))
        .collect();
    let status = match status {
        None => None,
        Some(PatchMember::Text(text)) => match EventStatus::parse(&text) {
            Some(status) => Some(status),
            None => {
                errors.push(FieldError::new("/status", "must be pending or processed"));
                None
            }
        },
        Some(PatchMember::Null) => {
            errors.push(FieldError::new("/status", "cannot be removed"));
            None
        }
        Some(PatchMember::Other) => {
            errors.push(FieldError::new("/status", "must be a string"));
            None
        }
    };
    if errors.is_empty() {
        Ok(status)
    } else {
        Err(Problem::invalid("the patch is invalid", errors))
    }
}

/// A patch body as far as `parse_patch` cares: any JSON document, parsed whole (every value,
/// nested or not, is read as `serde_json::Value` would be, so what that refuses this refuses),
/// keeping only the member names of an object and what its last `status` member holds. Not a
/// `serde_json::Value`: deserializing one links a second JSON parser (for its raw-value
/// support) into the component, about 10 KB.
enum PatchDocument {
    Object {
        unknown: Vec<String>,
        status: Option<PatchMember>,
    },
    NotObject,
}

/// What a member of a patch holds.
enum PatchMember {
    Text(String),
    Null,
    Other,
}

impl<'de> serde::Deserialize<'de> for PatchDocument {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Document;
        impl<'de> serde::de::Visitor<'de> for Document {
            type Value = PatchDocument;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PatchDocument, A::Error> {
                let mut unknown = Vec::new();
                let mut status = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value_seed(Member)?;
                    if key == "status" {
                        status = Some(value);
                    } else {
                        unknown.push(key);
                    }
                }
                Ok(PatchDocument::Object { unknown, status })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<PatchDocument, A::Error> {
                Member.visit_seq(seq).map(|_| PatchDocument::NotObject)
            }
            fn visit_bool<E>(self, _: bool) -> Result<PatchDocument, E> {
                Ok(PatchDocument::NotObject)
            }
            fn visit_i64<E>(self, _: i64) -> Result<PatchDocument, E> {
                Ok(PatchDocument::NotObject)
            }
            fn visit_u64<E>(self, _: u64) -> Result<PatchDocument, E> {
                Ok(PatchDocument::NotObject)
            }
            fn visit_f64<E>(self, _: f64) -> Result<PatchDocument, E> {
                Ok(PatchDocument::NotObject)
            }
            fn visit_str<E>(self, _: &str) -> Result<PatchDocument, E> {
                Ok(PatchDocument::NotObject)
            }
            fn visit_unit<E>(self) -> Result<PatchDocument, E> {
                Ok(PatchDocument::NotObject)
            }
        }
        deserializer.deserialize_any(Document)
    }
}

/// Reads any JSON value (nested ones through itself) into a [`PatchMember`].
#[derive(Clone, Copy)]
struct Member;

impl<'de> serde::de::DeserializeSeed<'de> for Member {
    type Value = PatchMember;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<PatchMember, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Member {
    type Value = PatchMember;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PatchMember, A::Error> {
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(PatchMember::Other)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<PatchMember, A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(PatchMember::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<PatchMember, E> {
        Ok(PatchMember::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<PatchMember, E> {
        Ok(PatchMember::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<PatchMember, E> {
        Ok(PatchMember::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<PatchMember, E> {
        Ok(PatchMember::Other)
    }
    fn visit_str<E>(self, text: &str) -> Result<PatchMember, E> {
        Ok(PatchMember::Text(text.to_owned()))
    }
    fn visit_unit<E>(self) -> Result<PatchMember, E> {
        Ok(PatchMember::Null)
    }
}

impl<K: KeyValue, V: Variables, C: Clock, P: Poke> Api<K, V, C, P> {
    /// Asks the forwarder about `id` once the answer has been sent (once per event).
    pub(crate) fn ask_after_response(&self, id: EventId) {
        let mut ask = self.ask.borrow_mut();
        if !ask.contains(&id) {
            ask.push(id);
        }
    }
}

impl<K: KeyValue, V: Variables, C: Clock, P: Poke> Service for Api<K, V, C, P> {
    fn body_policy(&self, head: &Head) -> Result<BodyPolicy, Problem> {
        Ok(if head.method == Method::PATCH {
            BodyPolicy {
                limit: MAX_PATCH_BYTES,
                require_length: true,
            }
        } else if head.method == Method::POST {
            BodyPolicy {
                limit: MAX_REPLAY_BYTES,
                require_length: false,
            }
        } else {
            BodyPolicy::SMALL
        })
    }

    /// After a replay's answer: the forwarder sends it now (else the next tick does).
    fn after_response(&self) {
        for id in self.ask.take() {
            if let Err(error) = self.poke.ask(&self.vars, &id) {
                tracing::warn!(
                    event_id = id.as_str(),
                    error,
                    "the forwarder was not asked; the dispatch tick sends the replay"
                );
            }
        }
    }

    fn handle(&self, ctx: &mut RequestContext, request: Request) -> Response {
        let mut response = self.router.dispatch(self, ctx, request);
        let headers = response.headers_mut();
        headers.insert("cache-control", "no-store");
        headers.insert("x-content-type-options", "nosniff");
        response
    }
}

/// The variables the api component reads (spin.toml's `[component.api.variables]`).
pub const VARIABLES: [&str; 5] = [
    names::LOG_LEVEL,
    names::API_TOKEN,
    names::RETENTION_MAX_EVENTS,
    names::FORWARD_DISPATCH_URL,
    names::FORWARD_DISPATCH_TOKEN,
];

/// Ready when the store answers and the variables parse (a malformed token list keeps this
/// replica out of rotation).
impl<K: KeyValue, V: Variables, C: Clock, P: Poke> Probed for Api<K, V, C, P> {
    type Store = K;
    type Vars = V;
    type Clock = C;
    const LIVENESS: &'static str = "/api/healthz";
    const READINESS: &'static str = "/api/readyz";
    fn visible_variables() -> Vec<&'static str> {
        VARIABLES.to_vec()
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

    /// The log level, retention, the forwarder's origin and the token list parse.
    fn validate(vars: &V) -> Result<(), ConfigError> {
        LogLevel::load(vars)?;
        Retention::load(vars)?;
        DispatchUrl::load(vars)?;
        config::secret_list(vars, names::API_TOKEN).map(drop)
    }
}

#[cfg(test)]
mod tests;
