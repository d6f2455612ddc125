//! The contract of the event inbox API: what goes over the wire, and which operations exist.
//!
//! Both the `api` component and its OpenAPI document are built from this crate: the component's
//! router registers exactly [`Operation::ALL`], and the document (feature `openapi`, generated
//! with utoipa at build time) describes the same operations with schemas derived from these
//! types. A route cannot be served without being documented, or documented without being
//! served; the `api` crate's tests check both directions.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[cfg(feature = "openapi")]
pub mod openapi;
pub mod serve;

/// The exact shapes of the API's string inputs, as the OpenAPI document declares them. The `api`
/// crate's property tests check that the server accepts every string matching each pattern
/// and refuses every other, so the document and the parsers cannot drift apart.
pub mod patterns {
    /// An event id.
    pub const EVENT_ID: &str = "^evt_[0-9a-f]{32}$";
    /// A listing cursor: hex of `v1:` and 1 to 20 decimal digits (opaque to clients).
    pub const CURSOR: &str = "^76313a(3[0-9]){1,20}$";
    /// An event type: 1 to 128 visible ASCII characters.
    pub const EVENT_TYPE: &str = "^[!-~]{1,128}$";
    /// An action: 1 to 64 visible ASCII characters.
    pub const ACTION: &str = "^[!-~]{1,64}$";
    /// A destination name: 1 to 40 of a-z, 0-9 and `-`, not starting with `-`.
    pub const DESTINATION: &str = "^[a-z0-9][a-z0-9-]{0,39}$";
    /// A dead-letter cursor: a decimal position.
    pub const DEAD_CURSOR: &str = "^[1-9][0-9]{0,18}$";
    /// One pattern of an event filter, in the grammar of a forwarding destination's `filter`:
    /// `provider:type`, `provider` or `type`, where `provider` is a provider's name or `*` and
    /// `type` is visible ASCII that may end in `*` (a prefix), or `*`.
    pub fn filter_pattern() -> String {
        let providers: Vec<&str> = inbox_core::events::Provider::ALL
            .iter()
            .map(|p| p.as_str())
            .collect();
        format!(
            r"^(?:(?:\*|{}):(?:\*|[!-)+-~]+\*?)|\*|[!-)+-9;-~]+\*?)$",
            providers.join("|")
        )
    }
    /// The longest filter pattern.
    pub const FILTER_PATTERN_MAX: usize = 200;
    /// The most patterns in a filter.
    pub const FILTER_PATTERNS_MAX: usize = 20;
    /// A source label: 1 to 32 of a-z, 0-9 and `-`, not starting with `-`.
    pub const SOURCE: &str = "^[a-z0-9][a-z0-9-]{0,31}$";
    /// `If-Match` / `If-None-Match`: `*` or a list of entity tags (RFC 9110: `W/` optional,
    /// quoted, any visible ASCII but `"` inside, commas between, empty members allowed).
    pub const ENTITY_TAGS: &str =
        r#"^[ \t]*(\*|((W/)?"[!#-~]*")?([ \t]*,[ \t]*((W/)?"[!#-~]*")?)*)[ \t]*$"#;
}

/// Who sent an event: one of `inbox_core::events::Provider::ALL`, by name. The OpenAPI enum is
/// built from that list, so a provider added there is documented here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Provider(pub inbox_core::events::Provider);

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Provider {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("Who sent it."))
            .enum_values(Some(
                inbox_core::events::Provider::ALL.iter().map(|p| p.as_str()),
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Provider {
    fn name() -> std::borrow::Cow<'static, str> {
        "Provider".into()
    }
}

/// Where a consumer is with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Stored, not yet handled by a consumer.
    Pending,
    /// Handled by a consumer. Final.
    Processed,
}

/// An event as listed (no payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventSummary {
    /// `evt_` and 32 hex digits: the first 128 bits of SHA-256(provider "\n" delivery_id).
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^evt_[0-9a-f]{32}$",
            example = "evt_45c7e4d103b89e99d136273d963606e0"
        )
    )]
    pub id: String,
    /// Who sent it.
    pub provider: Provider,
    /// The provider's delivery id (`X-GitHub-Delivery`, Stripe event id, `webhook-id`).
    pub delivery_id: String,
    /// The provider's event type (`X-GitHub-Event`, the body's `type`, ...). Absent when the
    /// delivery named none (Standard Webhooks only recommends a `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// What happened within the type, where the provider says: GitHub's `action` (`issues` +
    /// `opened`), Linear's `action` (`Issue` + `create`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The label of the secret that verified it (`label=secret` in the provider's secret
    /// list): tells two senders of one provider apart. Absent for unlabelled secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Pending or processed.
    pub status: Status,
    /// When the delivery was accepted (RFC 3339, UTC).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub received_at: String,
    /// When a consumer marked it processed (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub processed_at: Option<String>,
}

/// What was delivered, kept so a consumer can act on it and re-verify its signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payload {
    /// The delivery's `Content-Type`.
    pub content_type: String,
    /// The signature-relevant request headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The request body, byte for byte; but where a provider's credential is a value in the body
    /// (Microsoft Graph's `clientState`, Figma's `passcode`), that value reads `"[redacted]"`,
    /// here and in `json`.
    pub raw_body: String,
    /// The JSON payload (the body, or GitHub's form field `payload`), exactly as sent.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub json: Box<RawValue>,
}

/// A whole event: the listed fields and what was delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventDetail {
    /// The fields a listing shows.
    #[serde(flatten)]
    pub summary: EventSummary,
    /// What was delivered.
    pub payload: Payload,
}

/// One page of events, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventPage {
    /// The events on this page.
    pub items: Vec<EventSummary>,
    /// Pass as `cursor` to get the next page; `null` on the last page. Also in the `Link`
    /// header (`rel="next"`).
    pub next_cursor: Option<String>,
}

/// A JSON merge patch (RFC 7396) of an event. Only `status` can change, and only from
/// `pending` to `processed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    /// The new status. May be left out (no change), never `null`: a status cannot be removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub status: Option<Status>,
}

/// Event counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counts {
    /// Pending events.
    pub pending: u64,
    /// Processed events.
    pub processed: u64,
    /// Both.
    pub total: u64,
}

/// Event counts, kept by atomic counters (no scan).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    /// All providers together.
    pub total: Counts,
    /// Per provider (every provider, including those with no events).
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Counts>))]
    pub by_provider: ByName<Counts>,
    /// Events removed by retention, per reason (`processed_age`, `pending_age`, `max_events`).
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, u64>))]
    pub pruned: ByName<u64>,
    /// The retention cap (`retention_max_events`; 0: none).
    pub max_events: u64,
    /// Forwarding, per destination forwarding has seen configured.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, ForwardingCounts>))]
    pub forwarding: ByName<ForwardingCounts>,
}

/// A JSON object of values by name, held in the order of the names: on the wire exactly what a
/// `BTreeMap<String, T>` is, without a B-tree's code for each `T` in the component (about 5 KB
/// per value type; the few dozen members here need no tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByName<T>(Vec<(String, T)>);

impl<T> Default for ByName<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> ByName<T> {
    /// Sets the value of `name`, returning the one it had.
    pub fn insert(&mut self, name: String, value: T) -> Option<T> {
        match self
            .0
            .binary_search_by(|(held, _)| held.as_str().cmp(&name))
        {
            Ok(at) => self
                .0
                .get_mut(at)
                .map(|(_, held)| std::mem::replace(held, value)),
            Err(at) => {
                self.0.insert(at, (name, value));
                None
            }
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.0
            .binary_search_by(|(held, _)| held.as_str().cmp(name))
            .ok()
            .and_then(|at| self.0.get(at))
            .map(|(_, value)| value)
    }

    /// The names and their values, in the order of the names.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// How many names there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Serialize> Serialize for ByName<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (name, value)))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ByName<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, T>::deserialize(deserializer).map(|map| Self(map.into_iter().collect()))
    }
}

/// One provider of the catalogue: what the webhook component verifies at
/// `POST /webhooks/{slug}`, and whether it is configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogueEntry {
    /// Its name in paths (`/webhooks/{slug}`), events and filters.
    pub slug: Provider,
    /// Its name as people write it.
    #[cfg_attr(feature = "openapi", schema(example = "GitHub"))]
    pub name: String,
    /// How its deliveries are authenticated: `hmac-body` (a keyed hash of the body),
    /// `hmac-timestamped` (of a string with a timestamp), `hmac-pairs` (`t=…,v1=…`-style
    /// pairs), `hmac-template` (of other parts: URL, headers, form), `hash-with-secret` (the
    /// secret hashed with the content), `token` (a shared token in a header), `basic-auth`.
    #[cfg_attr(feature = "openapi", schema(example = "hmac-body"))]
    pub scheme_family: String,
    /// The variable holding its secrets (`webhook_{slug}_secret`), read by the webhook
    /// component only.
    #[cfg_attr(feature = "openapi", schema(example = "webhook_github_secret"))]
    pub secret_variable: String,
    /// Whether its secret variable holds a secret, as the webhook component last reported
    /// (`configured_as_of`); `null` when it never has.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub configured: Option<bool>,
    /// The challenge it sends to check an endpoint, answered and never stored
    /// (`echo-challenge`, `get-challenge`, `x-crc`, ...); `null` if none.
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, example = "echo-challenge")
    )]
    pub handshake: Option<String>,
    /// How its verifier is proven: `sdk` (against the provider's own library),
    /// `published-vector` (the provider's documented example), `computed-vector` (a vector
    /// computed independently from the documented algorithm).
    #[cfg_attr(feature = "openapi", schema(example = "sdk"))]
    pub proof: String,
}

/// Every provider the webhook component can verify, in the catalogue's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderCatalogue {
    /// The providers.
    pub providers: Vec<CatalogueEntry>,
    /// When the webhook component first reported the configuration that `configured` shows
    /// (RFC 3339): it reports at every readiness probe and the record changes only with the
    /// configuration. `null` when it has never reported (no readiness probe has reached it
    /// yet); `configured` is then `null` too. The api component is not granted the providers'
    /// secrets, so it cannot tell by itself.
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    pub configured_as_of: Option<String>,
    /// The generic sources (`webhook_sources`) that have a secret, as the webhook component
    /// last reported, in their configured order; empty until it reports.
    pub sources: Vec<SourceEntry>,
}

/// A generic source, configured without code (docs/sources.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceEntry {
    /// Its name, as `webhook_sources` declares it.
    #[cfg_attr(feature = "openapi", schema(example = "billing"))]
    pub name: String,
    /// Where its deliveries are POSTed.
    #[cfg_attr(feature = "openapi", schema(example = "/webhooks/source/billing"))]
    pub path: String,
    /// How its deliveries are authenticated (the families of [`CatalogueEntry`]).
    #[cfg_attr(feature = "openapi", schema(example = "hmac-template"))]
    pub scheme_family: String,
    /// The variable holding its secrets (as `{name}:{secret}` entries).
    #[cfg_attr(feature = "openapi", schema(example = "webhook_source_secret"))]
    pub secret_variable: String,
}

/// A secret a provider handed over in its handshake (Asana's `X-Hook-Secret`, Notion's
/// `verification_token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandedOverSecret {
    /// Who sent it.
    pub provider: Provider,
    /// When (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub received_at: String,
    /// The secret: configure it as the provider's secret once it is known to be the
    /// provider's (anyone who can reach the endpoint can send a handshake).
    pub secret: String,
}

/// The newest secrets handed over in handshakes, per provider newest first, a few per provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandedOverSecrets {
    /// The secrets.
    pub secrets: Vec<HandedOverSecret>,
}

/// Deliveries to one destination, by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForwardingCounts {
    /// Waiting for a retry.
    pub pending: u64,
    /// Delivered (2xx).
    pub delivered: u64,
    /// Dead letters.
    pub dead: u64,
    /// Configured `"ordered"`: events reach it in ingestion order, one at a time, a failing one
    /// holding those behind it until it is delivered or becomes a dead letter. As the forwarder
    /// recorded it at its last dispatch (the api component does not read the destinations).
    #[serde(default)]
    pub ordered: bool,
    /// Its settings as the forwarder last found them (absent until it first dispatched with
    /// this destination configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<DestinationSettings>,
    /// Present while it is disabled for failing: its deliveries wait, kept due, until it is
    /// re-enabled (`POST /api/destinations/{name}/enable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<DestinationDisabled>,
}

/// A destination's settings from `forward_destinations` (never its URL or a secret).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DestinationSettings {
    /// How many secrets sign each request (more than one during a rotation: each signs it).
    pub secrets: u32,
    /// Sends started per second, at most (`max_per_second`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_second: Option<u32>,
    /// Sends under way at once, at most (`max_in_flight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// Disabled after this many failed attempts in a row (`disable_after_failures`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_after_failures: Option<u32>,
    /// Disabled after failing this many seconds with nothing delivered
    /// (`disable_after_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_after_seconds: Option<u32>,
}

/// Why and since when a destination is disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DestinationDisabled {
    /// When it was disabled (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub since: String,
    /// The threshold it reached.
    pub reason: String,
    /// About how many deliveries are set aside while it is disabled, sent once it is
    /// re-enabled: first attempts of events that came in meanwhile, and retries that came due
    /// (the ones with a record also count as `pending`; a retry not yet due waits in the queue
    /// as usual). One set aside by two replicas at the same moment counts twice (it is sent
    /// once).
    #[serde(default)]
    pub waiting: u64,
}

/// What re-enabling a destination did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DestinationEnabled {
    /// The destination.
    pub destination: String,
    /// What it was disabled for (`null`: it was not disabled; nothing changed).
    pub was_disabled: Option<DestinationDisabled>,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its next attempt (or in one).
    Pending,
    /// The destination answered 2xx.
    Delivered,
    /// Refused for good or out of attempts: a dead letter until replayed.
    Dead,
}

/// One attempt to deliver an event to a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// 1 for the first; numbers keep counting across replays.
    pub attempt: u32,
    /// When it was sent (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
    /// The destination's status code, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why there was no answer (connection refused, timeout, ...), or why its outcome is
    /// unknown (abandoned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took (0 when abandoned: unknown).
    pub duration_ms: u64,
    /// Its outcome is unknown: the forwarder sending it stopped, or could not record the
    /// answer, and a later attempt took over after the lease. It may have been delivered (the
    /// next attempt carries the same `webhook-id`, for the receiver to deduplicate); `at` is
    /// when it started.
    #[serde(default)]
    pub abandoned: bool,
}

/// An event's delivery to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// The event.
    pub event_id: String,
    /// The destination (`forward_destinations`' name).
    pub destination: String,
    /// Where it is.
    pub state: DeliveryState,
    /// The attempts, oldest first (replays keep the history).
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due, while pending (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub next_attempt_at: Option<String>,
    /// How many times it was replayed.
    pub replays: u32,
    /// The destination is configured `"ordered"`: events reach it in ingestion order, one at a
    /// time; an event waiting behind a failing one has no delivery yet. A replay after an
    /// outcome is sent outside that order. As the forwarder recorded it at its last dispatch.
    #[serde(default)]
    pub ordered: bool,
}

/// An event's deliveries, one per destination whose filter matches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deliveries {
    /// The event.
    pub event_id: String,
    /// Its deliveries.
    pub deliveries: Vec<Delivery>,
}

/// One page of dead letters, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeadLetterPage {
    /// The dead deliveries.
    pub items: Vec<Delivery>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A replay: every destination whose filter matches, or the one named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Only this destination (absent: all; `null` is refused, as the document says).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, pattern = "^[a-z0-9][a-z0-9-]{0,39}$")
    )]
    pub destination: Option<String>,
}

/// Dead letters one bulk replay call queues again at most.
pub const BULK_REPLAY_MAX: u32 = 100;
/// The default of a bulk replay's `limit`.
pub const BULK_REPLAY_DEFAULT: u32 = 20;
/// Dead-letter index entries one bulk replay call reads at most.
pub const BULK_REPLAY_MAX_SCAN: usize = 500;

/// A bulk replay of dead letters: which ones, and how many this call. Every member may be left
/// out (none given: the newest dead letters of every destination); none may be `null`. Its
/// schema is written by hand in the OpenAPI document (the filter's pattern is built from the
/// provider list).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterReplayRequest {
    /// Only this destination's dead letters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub destination: Option<String>,
    /// Only those that became dead letters at or after this (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub since: Option<String>,
    /// Only those that became dead letters before this (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub until: Option<String>,
    /// Only those of events one of these patterns matches (`patterns::filter_pattern`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub filter: Option<Vec<String>>,
    /// Replay at most this many (1 to [`BULK_REPLAY_MAX`], default [`BULK_REPLAY_DEFAULT`]).
    /// A number, since JSON Schema's integers include `68.0`; the server takes whole ones.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub limit: Option<f64>,
    /// Go on from here: the `next_cursor` of the previous call.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub cursor: Option<String>,
}

/// One delivery a bulk replay queued again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayedDelivery {
    /// The event.
    pub event_id: String,
    /// The destination.
    pub destination: String,
}

/// Dead-letter index entries a bulk replay passed over, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplaySkips {
    /// The destination, the time range or the filter does not select it.
    pub not_matching: u32,
    /// No longer a dead letter: replayed already (by an earlier call, a call at the same time,
    /// or by id), delivered since, or dead again later (its newer entry counts instead).
    pub no_longer_dead: u32,
    /// Its event was deleted or pruned: nothing to send.
    pub event_gone: u32,
    /// Its stored record or event is corrupt (left as it is).
    pub unreadable: u32,
}

/// What one bulk replay call did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeadLetterReplay {
    /// The deliveries queued again (due now; the forwarder is asked for each), newest dead
    /// letter first.
    pub replayed: Vec<ReplayedDelivery>,
    /// The dead-letter index entries passed over, by why.
    pub skipped: ReplaySkips,
    /// Dead-letter index entries read (at most 500 per call).
    pub scanned: u32,
    /// Pass as `cursor`, with the same selection, to go on; `null` when every entry was read.
    pub next_cursor: Option<String>,
}

/// A field that may be left out but, when given, is not `null`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// What one dispatch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DispatchReport {
    /// Attempts sent.
    pub sent: u32,
    /// Of those, delivered.
    pub delivered: u32,
    /// Of those, failed and scheduled again.
    pub failed: u32,
    /// Now dead letters.
    pub dead: u32,
    /// Work left for a later dispatch (a bound was reached, or a sender is still busy).
    pub still_due: u32,
    /// Events removed by the retention sweep.
    pub pruned: u32,
}

/// One offending input of a 4xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// `limit` (query parameter), `header:If-Match`, `/status` (JSON pointer), `path:id`.
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

/// An RFC 9457 problem (`application/problem+json`): every error this API returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// `urn:webhook-inbox:problem:<slug>`; see docs/problems.md.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Each offending input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The request id (`x-request-id`), to quote when asking for help.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The HTTP methods the API's operations use. A method of its own, not a string, so the router
/// and the OpenAPI document map it exhaustively (a new `POST` cannot be documented as a `GET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `GET` (the router also serves `HEAD` with it).
    Get,
    /// `POST`
    Post,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl HttpMethod {
    /// The method token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// Which component serves an operation (spin.toml routes its path there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Server {
    /// The `api` component (`/api/...`).
    Api,
    /// The `console` component, which serves the app's static documents: the OpenAPI document
    /// is a compiled-in file like the console's own, and the api component keeps its size
    /// budget for the API.
    Console,
    /// The `forwarder` component: the operations that send to destinations (the only component
    /// that reaches out to other services); reading and replaying what it recorded is the API's.
    Forwarder,
}

/// Every operation of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GET /api/events`
    ListEvents,
    /// `GET /api/events/{id}`
    GetEvent,
    /// `PATCH /api/events/{id}`
    UpdateEvent,
    /// `DELETE /api/events/{id}`
    DeleteEvent,
    /// `GET /api/stats`
    GetStats,
    /// `GET /api/metrics`
    GetMetrics,
    /// `GET /api/providers`
    ListProviders,
    /// `GET /api/handshakes`
    ListHandshakes,
    /// `GET /api/events/{id}/deliveries`
    GetDeliveries,
    /// `POST /api/events/{id}/replay`
    ReplayEvent,
    /// `POST /api/events/{id}/dispatch`
    DispatchEvent,
    /// `GET /api/dead-letters`
    ListDeadLetters,
    /// `POST /api/dead-letters/replay`
    ReplayDeadLetters,
    /// `POST /api/destinations/{name}/enable`
    EnableDestination,
    /// `POST /api/dispatch`
    Dispatch,
    /// `GET /api/openapi.json`
    GetOpenApi,
}

impl Operation {
    /// All operations, in documentation order.
    pub const ALL: [Operation; 16] = [
        Self::ListEvents,
        Self::GetEvent,
        Self::UpdateEvent,
        Self::DeleteEvent,
        Self::GetStats,
        Self::GetMetrics,
        Self::ListProviders,
        Self::ListHandshakes,
        Self::GetDeliveries,
        Self::ReplayEvent,
        Self::DispatchEvent,
        Self::ListDeadLetters,
        Self::ReplayDeadLetters,
        Self::EnableDestination,
        Self::Dispatch,
        Self::GetOpenApi,
    ];

    /// The HTTP method.
    pub const fn method(self) -> HttpMethod {
        match self {
            Self::ListEvents
            | Self::GetEvent
            | Self::GetStats
            | Self::GetMetrics
            | Self::ListProviders
            | Self::ListHandshakes
            | Self::GetDeliveries
            | Self::ListDeadLetters
            | Self::GetOpenApi => HttpMethod::Get,
            Self::ReplayEvent
            | Self::DispatchEvent
            | Self::ReplayDeadLetters
            | Self::EnableDestination
            | Self::Dispatch => HttpMethod::Post,
            Self::UpdateEvent => HttpMethod::Patch,
            Self::DeleteEvent => HttpMethod::Delete,
        }
    }

    /// The route in the router's syntax (`:name` parameters).
    pub const fn route(self) -> &'static str {
        match self {
            Self::ListEvents => "/api/events",
            Self::GetEvent | Self::UpdateEvent | Self::DeleteEvent => "/api/events/:id",
            Self::GetStats => "/api/stats",
            Self::GetMetrics => "/api/metrics",
            Self::ListProviders => "/api/providers",
            Self::ListHandshakes => "/api/handshakes",
            Self::GetDeliveries => "/api/events/:id/deliveries",
            Self::ReplayEvent => "/api/events/:id/replay",
            Self::DispatchEvent => "/api/events/:id/dispatch",
            Self::ListDeadLetters => "/api/dead-letters",
            Self::ReplayDeadLetters => "/api/dead-letters/replay",
            Self::EnableDestination => "/api/destinations/:name/enable",
            Self::Dispatch => "/api/dispatch",
            Self::GetOpenApi => "/api/openapi.json",
        }
    }

    /// The path in OpenAPI's syntax (`{name}` parameters).
    pub fn openapi_path(self) -> String {
        self.route()
            .split('/')
            .map(|segment| match segment.strip_prefix(':') {
                Some(name) => format!("{{{name}}}"),
                None => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The OpenAPI `operationId`.
    pub const fn id(self) -> &'static str {
        match self {
            Self::ListEvents => "listEvents",
            Self::GetEvent => "getEvent",
            Self::UpdateEvent => "updateEvent",
            Self::DeleteEvent => "deleteEvent",
            Self::GetStats => "getStats",
            Self::GetMetrics => "getMetrics",
            Self::ListProviders => "listProviders",
            Self::ListHandshakes => "listHandshakes",
            Self::GetDeliveries => "getDeliveries",
            Self::ReplayEvent => "replayEvent",
            Self::DispatchEvent => "dispatchEvent",
            Self::ListDeadLetters => "listDeadLetters",
            Self::ReplayDeadLetters => "replayDeadLetters",
            Self::EnableDestination => "enableDestination",
            Self::Dispatch => "dispatch",
            Self::GetOpenApi => "getOpenApi",
        }
    }

    /// Which component serves it.
    pub const fn server(self) -> Server {
        match self {
            Self::GetOpenApi => Server::Console,
            // What sends: the forwarder. What reads and queues (deliveries, replays, dead
            // letters) works on the stored records alone and is the API's, under `/api/...`.
            Self::DispatchEvent | Self::Dispatch => Server::Forwarder,
            Self::ListEvents
            | Self::GetEvent
            | Self::UpdateEvent
            | Self::DeleteEvent
            | Self::GetStats
            | Self::GetMetrics
            | Self::ListProviders
            | Self::ListHandshakes
            | Self::GetDeliveries
            | Self::ReplayEvent
            | Self::ListDeadLetters
            | Self::ReplayDeadLetters
            | Self::EnableDestination => Server::Api,
        }
    }

    /// Whether a bearer token is required. Only the document is open. (Hurrying one event's
    /// attempts was open until issue 25: it told anyone whether an event id is stored, and a
    /// flood of it slowed ingestion.)
    pub const fn authenticated(self) -> bool {
        !matches!(self, Self::GetOpenApi)
    }

    /// The OpenAPI tag it is listed under.
    pub const fn tag(self) -> &'static str {
        match self {
            Self::GetDeliveries
            | Self::ReplayEvent
            | Self::DispatchEvent
            | Self::ListDeadLetters
            | Self::ReplayDeadLetters
            | Self::EnableDestination
            | Self::Dispatch => "forwarding",
            Self::ListProviders | Self::ListHandshakes => "providers",
            Self::ListEvents
            | Self::GetEvent
            | Self::UpdateEvent
            | Self::DeleteEvent
            | Self::GetStats
            | Self::GetMetrics
            | Self::GetOpenApi => "events",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_name_is_a_btree_map_on_the_wire() {
        let names = [
            "stripe", "github", "", "a-b", "a", "github", "Zeta", "é", "b",
        ];
        let mut ours = ByName::default();
        let mut map = BTreeMap::new();
        for (value, name) in (0u64..).zip(names) {
            assert_eq!(
                ours.insert(name.to_owned(), value),
                map.insert(name.to_owned(), value),
                "{name}"
            );
        }
        assert_eq!(ours.len(), map.len());
        assert!(!ours.is_empty() && ByName::<u64>::default().is_empty());
        assert_eq!(ours.get("github"), Some(&5));
        assert_eq!(ours.get("gitlab"), None);
        assert!(ours.iter().map(|(n, v)| (n.to_owned(), *v)).eq(map.clone()));
        let text = serde_json::to_string(&ours).unwrap();
        assert_eq!(text, serde_json::to_string(&map).unwrap());
        let back: ByName<u64> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ours);
        assert_eq!(
            serde_json::to_string(&ByName::<u64>::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn openapi_paths_use_braces() {
        assert_eq!(Operation::GetEvent.openapi_path(), "/api/events/{id}");
        assert_eq!(Operation::ListEvents.openapi_path(), "/api/events");
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<_> = Operation::ALL.iter().map(|op| op.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Operation::ALL.len());
    }

    #[test]
    fn patches_reject_unknown_fields() {
        assert!(serde_json::from_str::<EventPatch>(r#"{"status":"processed"}"#).is_ok());
        assert!(serde_json::from_str::<EventPatch>(r#"{"statuss":"processed"}"#).is_err());
    }
}
