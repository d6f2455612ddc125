//! `POST /webhooks/{provider}`: verify, deduplicate, store, answer.
//!
//! The checks run cheapest-and-most-fundamental first, and authentication comes before anything
//! that reads the payload, so an unauthenticated caller learns nothing about what we accept:
//!
//! | step | failure |
//! |---|---|
//! | body within `webhook_max_body_bytes` (from `Content-Length` before reading, then while reading) | 413 |
//! | provider known | 404 |
//! | provider's secret configured (and well-formed) | 404 (503 if malformed) |
//! | signature headers present and well-formed | 400 |
//! | signature (and, for Stripe and Standard Webhooks, timestamp) verifies | 401 |
//! | not forwarded by this installation (`webhook-inbox-hops`: a forwarding loop) | 508 |
//! | `Content-Type` is one the provider sends | 415 |
//! | UTF-8 JSON object (GitHub forms: in `payload`) | 400 |
//! | delivery id and event type present | 400 |
//! | stored, or found already stored | 202 / 200, else 503 with `Retry-After` |

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Instant;

use inbox_core::build_info::BuildInfo;
use inbox_core::clock::Clock;
use inbox_core::config::{names, ConfigError, LogLevel, Retention, Variables, WebhookLimits};
use inbox_core::configured;
use inbox_core::events::{
    EventId, EventMeta, EventStore, Ingested, NewEvent, Provider, StoreError,
};
use inbox_core::forwarding::hops::{self, Installation};
use inbox_core::forwarding::poke::{DispatchUrl, Poke};
use inbox_core::handshakes;
use inbox_core::http::{
    json, media_type, BodyPolicy, Head, Method, Request, RequestContext, Response, Router, Service,
    StatusCode,
};
use inbox_core::kv::KeyValue;
use inbox_core::probes::{self, Probed};
use inbox_core::problem::{FieldError, Problem, ProblemKind};
use serde::Serialize;

use crate::providers::{self, sources, Secrets, Signed};

/// The webhook component's state for one request.
pub struct Webhooks<K, V, C, P> {
    store: K,
    vars: V,
    clock: C,
    router: Router<Self>,
    /// The event this request stored, for the work done once the provider has its answer.
    accepted: RefCell<Option<EventMeta>>,
    /// How the forwarder is asked for an event's first attempts.
    poke: P,
}

impl<K, V, C, P> std::fmt::Debug for Webhooks<K, V, C, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

/// The answer to an accepted or duplicate delivery.
#[derive(Debug, Serialize)]
struct Receipt<'a> {
    id: &'a str,
    duplicate: bool,
}

/// What the delivery log line says, filled in as the request progresses.
#[derive(Debug, Default)]
struct DeliveryLog {
    provider: &'static str,
    delivery_id: String,
    event_type: String,
    source: String,
    event_id: String,
    /// Set when the answer is neither a receipt nor a problem (a handshake).
    outcome: Option<&'static str>,
}

impl<K: KeyValue, V: Variables, C: Clock, P: Poke> Webhooks<K, V, C, P> {
    /// The component over a store, variables, a clock and a way to ask the forwarder.
    pub fn new(store: K, vars: V, clock: C, poke: P) -> Self {
        let router = probes::route(
            Router::new()
                .route("/webhooks/:provider", Method::POST, Self::receive)
                .route("/webhooks/source/:name", Method::POST, Self::receive)
                .route("/webhooks/:provider", Method::GET, Self::challenge),
        );
        Self {
            store,
            vars,
            clock,
            router,
            accepted: RefCell::new(None),
            poke,
        }
    }

    fn receive(&self, ctx: &RequestContext, request: Request) -> Result<Response, Problem> {
        let started = Instant::now();
        let mut log = DeliveryLog::default();
        let result = self.process(ctx, &request, &mut log);
        let (outcome, status) = match &result {
            Ok(response) if response.status() == StatusCode::ACCEPTED => {
                ("accepted", response.status())
            }
            Ok(response) => (log.outcome.unwrap_or("duplicate"), response.status()),
            Err(problem) => (problem.kind().slug(), problem.status()),
        };
        tracing::info!(
            provider = log.provider,
            delivery_id = log.delivery_id.as_str(),
            event_type = log.event_type.as_str(),
            source = log.source.as_str(),
            event_id = log.event_id.as_str(),
            outcome,
            status = u64::from(status.as_u16()),
            latency_ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0,
            request_id = ctx.request_id().as_str(),
            "delivery"
        );
        result
    }

    /// The provider the path names: 404 for an unknown one (and for `source`, whose senders are
    /// at `/webhooks/source/{name}`).
    fn provider(ctx: &RequestContext) -> Result<Provider, Problem> {
        let name = ctx.param("provider").unwrap_or_default();
        Provider::parse(name)
            .filter(|p| !p.is_generic())
            .ok_or_else(|| {
                Problem::of(
                    ProblemKind::NotFound,
                    format!(
                        "unknown provider {name:?}; this service accepts {}",
                        Provider::names()
                    ),
                )
            })
    }

    /// The provider's secrets: 404 while none is configured, 503 when they are malformed.
    fn secrets(&self, provider: Provider) -> Result<Secrets, Problem> {
        let spec = providers::spec(provider);
        let secrets = Secrets::load(provider.secret_variable(), spec.secret_format, &self.vars)
            .map_err(misconfigured)?;
        if secrets.is_empty() {
            return Err(Problem::of(
                ProblemKind::NotFound,
                format!(
                    "the {provider} provider is not configured: set the {} variable to enable it",
                    provider.secret_variable()
                ),
            ));
        }
        Ok(secrets)
    }

    /// A generic source and its secrets: 404 for one that is not configured (or has no secret),
    /// 503 when the configuration is malformed.
    fn source(&self, name: &str) -> Result<(sources::Source, Secrets), Problem> {
        let configured = sources::load(&self.vars).map_err(misconfigured)?;
        let source = configured
            .iter()
            .find(|source| source.name == name)
            .cloned()
            .ok_or_else(|| {
                Problem::of(
                    ProblemKind::NotFound,
                    format!(
                        "no source {name:?} is configured in {}",
                        sources::CONFIG_VARIABLE
                    ),
                )
            })?;
        let secrets = sources::secrets(Provider::Source.secret_variable(), name, &self.vars)
            .map_err(misconfigured)?;
        if secrets.is_empty() {
            return Err(Problem::of(
                ProblemKind::NotFound,
                format!(
                    "the source {name} has no secret: add {name}:<secret> to {}",
                    Provider::Source.secret_variable()
                ),
            ));
        }
        Ok((source, secrets))
    }

    /// `GET` (and `HEAD`) `/webhooks/{provider}`: the provider's `GET` handshake, if it has one;
    /// a `HEAD` endpoint check (Trello, Intercom) of a configured provider is answered 200;
    /// any other `GET` is 405.
    fn challenge(&self, ctx: &RequestContext, request: Request) -> Result<Response, Problem> {
        let provider = Self::provider(ctx)?;
        let spec = providers::spec(provider);
        let head = *request.method() == Method::HEAD;
        if !head && !spec.handshake.is_some_and(|handshake| handshake.is_get()) {
            return Err(Problem::of(
                ProblemKind::MethodNotAllowed,
                format!("{provider} deliveries are POSTed"),
            )
            .with_header("allow", "HEAD, POST"));
        }
        let secrets = self.secrets(provider)?;
        match providers::before_verification(spec, request.query(), request.headers(), &secrets)? {
            Some(answer) => Ok(answer.response()),
            None => Ok(Response::new(StatusCode::OK, Vec::new())),
        }
    }

    fn process(
        &self,
        ctx: &RequestContext,
        request: &Request,
        log: &mut DeliveryLog,
    ) -> Result<Response, Problem> {
        let (provider, spec, secrets, generic) = match ctx.param("name") {
            Some(name) => {
                let (source, secrets) = self.source(name)?;
                (Provider::Source, source.spec, secrets, Some(source))
            }
            None => {
                let provider = Self::provider(ctx)?;
                if let Some(answer) =
                    providers::post_challenge(providers::spec(provider), request.query())
                {
                    log.provider = provider.as_str();
                    log.outcome = Some("handshake");
                    return Ok(answer.response());
                }
                if let Some((secret, answer)) = providers::handed_over(
                    providers::spec(provider),
                    request.headers(),
                    request.body(),
                )? {
                    // Kept for the operator (`GET /api/handshakes`), never trusted by itself.
                    log.provider = provider.as_str();
                    log.outcome = Some("handshake");
                    handshakes::keep(&self.store, provider.as_str(), &secret, self.clock.now())
                        .map_err(StoreError::from)?;
                    return Ok(answer.response());
                }
                let secrets = self.secrets(provider)?;
                (provider, providers::spec(provider), secrets, None)
            }
        };
        log.provider = provider.as_str();
        let limits = WebhookLimits::load(&self.vars).map_err(misconfigured)?;

        let signed = Signed {
            headers: request.headers(),
            body: request.body(),
            now: self.clock.now(),
            tolerance: limits.timestamp_tolerance,
            url: request.headers().get("spin-full-url"),
        };
        let source = providers::verify_labelled(&spec.scheme, &secrets, signed)
            .map_err(|error| providers::verify_problem(&error))?;
        // A generic source's events carry its name (and its secret's label) as their source.
        let source = match &generic {
            Some(generic) => Some(sources::label(generic, source.as_ref())),
            None => source,
        };
        log.source = source
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();

        // Forwarded by this installation (a destination that points back here): refused before
        // anything is stored, and only once the signature verified. One store read, and only for
        // a delivery that carries the header.
        if let Some(marks) = request.headers().get(hops::HOPS_HEADER) {
            let me = Installation::load(&self.store)?;
            hops::check(marks, me).map_err(|error| {
                Problem::of(ProblemKind::LoopDetected, error.detail()).with_error(FieldError::new(
                    hops::HOPS_FIELD,
                    "names this installation, or too many",
                ))
            })?;
        }

        let media = media_type(request).unwrap_or_default();
        if !spec.media_types.contains(&media.as_str()) {
            let detail = if media.is_empty() {
                "the request has no Content-Type".to_owned()
            } else {
                format!("{media} is not accepted")
            };
            return Err(Problem::of(
                ProblemKind::UnsupportedMediaType,
                format!(
                    "{detail}; {provider} deliveries are {}",
                    spec.media_types.join(" or ")
                ),
            )
            .with_header("accept-post", &spec.media_types.join(", ")));
        }
        let text = std::str::from_utf8(request.body()).map_err(|error| {
            Problem::invalid(
                "the body is not UTF-8",
                vec![FieldError::new("body", error.to_string())],
            )
        })?;
        // A shared value carried in the body (Microsoft Graph's `clientState`, Figma's
        // `passcode`) is the credential: verified above, never stored or forwarded.
        let redacted = providers::redact_token(&spec.scheme, text);
        let text = redacted.as_deref().unwrap_or(text);
        let payload = providers::payload(spec.body, &media, text)?;
        if let Some(answer) =
            providers::after_verification(spec, request.headers(), &payload, &secrets)?
        {
            // Answered as the provider documents it, and not stored.
            log.outcome = Some("handshake");
            return Ok(answer.response());
        }
        let mut identity = providers::identify(spec, request.headers(), &payload, request.body())?;
        if let Some(generic) = &generic {
            // Two sources never share a delivery id: each one's are under its name.
            identity.delivery_id = sources::delivery_id(generic, &identity.delivery_id)?;
        }
        log.delivery_id = identity.delivery_id.as_str().to_owned();
        log.event_type = identity
            .event_type
            .as_ref()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default();

        // With a forwarded delivery's installations (checked above), whatever the provider:
        // continued when this event is forwarded on. (Pushed to the names and collected once:
        // a `BTreeMap::insert` links about 3 KB more, an iterator chain 700 bytes.)
        let mut kept = spec.kept_headers();
        kept.push(hops::HOPS_HEADER);
        let headers: BTreeMap<String, String> = kept
            .iter()
            .filter_map(|name| {
                let value = request.headers().get(name)?;
                Some(((*name).to_owned(), value.to_owned()))
            })
            .collect();
        let event = NewEvent {
            provider,
            delivery_id: identity.delivery_id,
            event_type: identity.event_type,
            action: identity.action,
            source,
            headers,
            content_type: media,
            raw_body: text.to_owned(),
            json: payload,
        };

        let store = EventStore::new(&self.store, &self.clock);
        let (id, status, duplicate) = match store.ingest(event)? {
            Ingested::Accepted(meta) => {
                let id = meta.id.clone();
                self.accepted.replace(Some(meta));
                (id, StatusCode::ACCEPTED, false)
            }
            Ingested::Duplicate(id) => (id, StatusCode::OK, true),
        };
        log.event_id = id.as_str().to_owned();
        receipt(&id, status, duplicate)
    }
}

fn receipt(id: &EventId, status: StatusCode, duplicate: bool) -> Result<Response, Problem> {
    let mut response = json(
        status,
        &Receipt {
            id: id.as_str(),
            duplicate,
        },
    )?;
    response
        .headers_mut()
        .insert("location", &format!("/api/events/{id}"));
    Ok(response)
}

fn misconfigured(error: ConfigError) -> Problem {
    tracing::error!(variable = error.variable(), error = %error, "webhook misconfigured");
    Problem::of(ProblemKind::Misconfigured, error.to_string()).with_retry_after(60)
}

impl<K: KeyValue, V: Variables, C: Clock, P: Poke> Service for Webhooks<K, V, C, P> {
    fn body_policy(&self, head: &Head) -> Result<BodyPolicy, Problem> {
        // Only deliveries have bodies; a probe must not pay for reading the limits.
        if head.method != Method::POST {
            return Ok(BodyPolicy::SMALL);
        }
        let limits = WebhookLimits::load(&self.vars).map_err(misconfigured)?;
        Ok(BodyPolicy {
            limit: limits.max_body_bytes,
            // Providers send a length, but chunked bodies are still bounded while reading.
            require_length: false,
        })
    }

    fn handle(&self, ctx: &mut RequestContext, request: Request) -> Response {
        self.router.dispatch(self, ctx, request)
    }

    /// After an accepted delivery has its 202: the forwarder is asked for its first delivery
    /// attempts, then the retention count rule runs for this sequence number (the age rules are
    /// the dispatch tick's sweep). A failure changes nothing the provider was told: the tick
    /// finds the event in the index, and its sweep applies the count rule too.
    fn after_response(&self) {
        let Some(meta) = self.accepted.take() else {
            return;
        };
        if let Err(error) = self.poke.ask(&self.vars, &meta.id) {
            tracing::warn!(
                event_id = meta.id.as_str(),
                error,
                "the forwarder was not asked; the dispatch tick sends the event"
            );
        }
        let retention = match Retention::load(&self.vars) {
            Ok(retention) => retention,
            Err(error) => {
                tracing::error!(variable = error.variable(), error = %error, "retention misconfigured");
                return;
            }
        };
        let store = EventStore::new(&self.store, &self.clock);
        if let Err(error) = store.prune_for(meta.seq, &retention) {
            tracing::warn!(error = %error, "retention: the count rule will be applied by a sweep");
        }
    }
}

/// Ready when the store answers and every variable the component sees parses (a malformed
/// secret or limit keeps this replica out of rotation instead of failing deliveries).
impl<K: KeyValue, V: Variables, C: Clock, P: Poke> Probed for Webhooks<K, V, C, P> {
    type Store = K;
    type Vars = V;
    type Clock = C;
    // Literal segments win over `:provider` (and no provider is called `healthz` or `readyz`).
    const LIVENESS: &'static str = "/webhooks/healthz";
    const READINESS: &'static str = "/webhooks/readyz";
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

    /// The log level, the limits and every provider's secrets parse.
    fn validate(vars: &V) -> Result<(), ConfigError> {
        configured_providers(vars).map(drop)
    }

    /// Validates, then records which providers are configured for the API's catalogue (the
    /// api component is not granted the secrets): a read per probe, a write only when the set
    /// changed. A store failure is logged, not a readiness failure (the store check reports
    /// the store; the catalogue is not worth taking deliveries out of rotation for).
    fn check_configuration(&self) -> Result<(), ConfigError> {
        let (providers, sources) = configured_providers(&self.vars)?;
        let mut slugs: Vec<&str> = providers.iter().map(|provider| provider.as_str()).collect();
        slugs.extend(sources.iter().map(String::as_str));
        if let Err(error) = configured::record(&self.store, &slugs, self.clock.now()) {
            tracing::warn!(
                error = %error,
                "the configured providers were not recorded; the next readiness probe retries"
            );
        }
        Ok(())
    }
}

/// Parses every setting the component reads, and returns the providers that have secrets and
/// the generic sources that have one, as [`configured::source_token`]s.
fn configured_providers(vars: &dyn Variables) -> Result<(Vec<Provider>, Vec<String>), ConfigError> {
    LogLevel::load(vars)?;
    WebhookLimits::load(vars)?;
    Retention::load(vars)?;
    DispatchUrl::load(vars)?;
    // Read, not parsed: any text is tokens (the forwarder checks them).
    vars.get(names::FORWARD_DISPATCH_TOKEN)?;
    let mut with_secrets = Vec::new();
    for source in sources::load(vars)? {
        if !sources::secrets(Provider::Source.secret_variable(), source.name, vars)?.is_empty() {
            with_secrets.push(configured::source_token(
                source.name,
                source.spec.scheme.family(),
            ));
        }
    }
    let mut configured = Vec::new();
    for &provider in Provider::ALL {
        let secrets = Secrets::load(
            provider.secret_variable(),
            provider.spec().secret_format,
            vars,
        )?;
        if !secrets.is_empty() {
            configured.push(provider);
        }
    }
    Ok((configured, with_secrets))
}

/// The variables the webhook component reads (spin.toml's `[component.webhook.variables]`): the
/// shared settings and one secret variable per provider, from the provider table.
pub fn variables() -> Vec<&'static str> {
    [
        names::LOG_LEVEL,
        names::WEBHOOK_MAX_BODY_BYTES,
        names::WEBHOOK_TIMESTAMP_TOLERANCE_SECS,
        names::FORWARD_DISPATCH_URL,
        names::FORWARD_DISPATCH_TOKEN,
        names::RETENTION_PROCESSED_DAYS,
        names::RETENTION_PENDING_DAYS,
        names::RETENTION_MAX_EVENTS,
        names::RETENTION_DEDUP_DAYS,
    ]
    .into_iter()
    .chain([sources::CONFIG_VARIABLE])
    .chain(providers::secret_variables())
    .collect()
}

#[cfg(test)]
mod tests;
