//! Where events are forwarded: the `forward_destinations` variable, a JSON array of
//! `{"name", "url", "secret", "filter", "plain_http", "max_per_second", "max_in_flight",
//! "ordered", "disable_after_failures", "disable_after_seconds"}`, and the filter grammar.
//!
//! ```json
//! [{"name": "billing", "url": "https://billing.internal/hooks", "secret": "whsec_...",
//!   "filter": ["stripe:invoice.*", "stripe:customer.subscription.*"]},
//!  {"name": "all-github", "url": "http://127.0.0.1:9000/in", "secret": "whsec_...",
//!   "filter": "github:*"}]
//! ```
//!
//! **Plain HTTP.** A URL is `https://`, or `http://` to loopback. `"plain_http": true` also allows
//! `http://` to any host: a destination inside the operator's own network, such as an in-cluster
//! Service (`http://billing.team.svc:8080/hooks`) that has no certificate a public root signs (the
//! Spin host trusts the public web roots only). Requests stay signed, so the receiver still
//! authenticates them, but body and signature travel unencrypted: an explicit choice per
//! destination, never a default.
//!
//! **Secret rotation.** `secret` is one `whsec_` secret, or a list of 1 to [`MAX_SECRETS`] distinct
//! ones during a rotation (`["whsec_new...", "whsec_old..."]`): every request is then signed with
//! each, `webhook-signature` carrying one space-separated `v1,<sig>` per secret, so a receiver
//! holding any one of them verifies it. Rotate by adding the new secret beside the old, switching
//! the receiver to the new one, then removing the old one.
//!
//! **Throttling.** `"max_per_second"` (1 to 1000) caps the sends started in any one second,
//! `"max_in_flight"` (1 to 100) the sends under way at once, across every replica
//! ([`super::throttle`]). A delivery held back waits, without counting as a failed attempt.
//!
//! **Ordered delivery.** `"ordered": true` sends events to the destination in ingestion order,
//! one at a time: a failing event holds the ones behind it until it is delivered or becomes a
//! dead letter ([`super::ordered`]). `max_in_flight` above 1 is refused beside it.
//!
//! **Circuit breaking.** `"disable_after_failures"` (1 to 100000 failed attempts in a row) and
//! `"disable_after_seconds"` (1 to 2592000, failing that long with nothing delivered) disable a
//! destination that keeps failing: its deliveries wait, kept due, until it is re-enabled through
//! the API ([`super::circuit`]). Neither is set by default.
//!
//! **Filters.** `filter` is a pattern or a list of patterns (any may match; absent: every
//! event). A pattern is `provider:type`, `provider` or `type`, where `type` is an event type
//! that may end in `*` (a prefix match: `invoice.*` matches `invoice.paid`, `*` matches every
//! type, including none) and `provider` is a provider name or `*`. `github:issues` matches
//! GitHub's `issues` events; `stripe` every Stripe event; `*.created` is not a pattern (`*` only
//! at the end).

use std::fmt;

use serde::Deserialize;

use super::circuit::{self, Circuit};
use super::throttle::{Throttle, MAX_IN_FLIGHT, MAX_PER_SECOND};
use crate::config::ConfigError;
use crate::events::{EventMeta, Provider};

/// The variable holding the destinations (secret: it carries their signing secrets).
pub const VARIABLE: &str = "forward_destinations";

crate::slug::slug_type!(
    /// A destination's name: 1 to 40 of `a-z`, `0-9` and `-`, unique in the list. It names the
    /// destination in records, stats, metrics and logs (never its URL or secret).
    DestinationName,
    max = 40,
    what = "a destination name"
);

/// One pattern of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// `None`: any provider.
    provider: Option<Provider>,
    /// The type, or its prefix when `prefix`; `None`: any type (and none).
    kind: Option<String>,
    prefix: bool,
}

impl Pattern {
    /// Parses `provider:type`, `provider` or `type` (see the module docs).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (provider, kind) = match text.split_once(':') {
            Some((provider, kind)) => (Some(provider), Some(kind)),
            None => match Provider::parse(text) {
                Some(_) => (Some(text), None),
                None => (None, Some(text)),
            },
        };
        let provider = match provider {
            None | Some("*") => None,
            Some(name) => Some(Provider::parse(name).ok_or_else(|| {
                format!("{name:?} is not a provider (one of {})", Provider::names())
            })?),
        };
        let (kind, prefix) = match kind {
            None | Some("*") => (None, false),
            Some(kind) => {
                let (stem, prefix) = match kind.strip_suffix('*') {
                    Some(stem) => (stem, true),
                    None => (kind, false),
                };
                if stem.is_empty()
                    || stem.contains('*')
                    || !stem.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(format!(
                        "{kind:?} is not an event type pattern (visible ASCII, `*` only at the end)"
                    ));
                }
                (Some(stem.to_owned()), prefix)
            }
        };
        Ok(Self {
            provider,
            kind,
            prefix,
        })
    }

    fn matches(&self, meta: &EventMeta) -> bool {
        let provider = self.provider.is_none_or(|p| p == meta.provider);
        let kind = match (&self.kind, meta.event_type.as_ref().map(|t| t.as_str())) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(stem), Some(kind)) if self.prefix => kind.starts_with(stem.as_str()),
            (Some(stem), Some(kind)) => kind == stem,
        };
        provider && kind
    }
}

/// A destination's filter: any of its patterns matches (no patterns: every event).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter(Vec<Pattern>);

impl Filter {
    /// A filter of these patterns (none: every event); the error names the first bad one.
    pub fn parse<'p>(patterns: impl IntoIterator<Item = &'p str>) -> Result<Self, String> {
        patterns
            .into_iter()
            .map(Pattern::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether the event goes to the destination.
    pub fn matches(&self, meta: &EventMeta) -> bool {
        self.0.is_empty() || self.0.iter().any(|pattern| pattern.matches(meta))
    }
}

/// Where a destination's signing secret comes from: `whsec_` and base64 (Standard Webhooks).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// The key bytes (the HMAC-SHA256 key).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// The most secrets a destination signs with at once (a rotation needs two; a third leaves room
/// for a rotation started before the last one finished).
pub const MAX_SECRETS: usize = 3;

/// One destination.
#[derive(Debug, Clone)]
pub struct Destination {
    /// Its name.
    pub name: DestinationName,
    /// Where requests go: `https://...`, or `http://` to a loopback host (any host with
    /// `"plain_http": true`).
    pub url: Url,
    /// The Standard Webhooks keys requests are signed with, in the order configured: 1 to
    /// [`MAX_SECRETS`], distinct (several during a rotation: each signs every request).
    pub keys: Vec<SigningKey>,
    /// Which events it receives.
    pub filter: Filter,
    /// Its limits (`max_per_second`, `max_in_flight`; none by default).
    pub throttle: Throttle,
    /// Events reach it in ingestion order, one at a time (`"ordered": true`; [`super::ordered`]).
    pub ordered: bool,
    /// When it is disabled for failing (`disable_after_failures`, `disable_after_seconds`;
    /// never by default).
    pub circuit: Circuit,
}

/// A destination URL, split the way requests and allowed-host checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`.
    pub scheme: String,
    /// The host (lower case; an IPv6 literal keeps its brackets).
    pub host: String,
    /// The port, explicit or the scheme's default.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path_and_query: String,
}

impl Url {
    /// Parses an absolute `http(s)` URL without user info or fragment. Plain `http` is allowed
    /// only to loopback (`localhost`, `127.x.x.x`, `[::1]`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Self::parse_plain_http(text)?;
        if url.scheme == "http" && !url.is_loopback() {
            return Err(
                "plain http is only allowed to loopback (use https, or \"plain_http\": true for a destination inside your network)"
                    .into(),
            );
        }
        Ok(url)
    }

    /// Parses like [`Url::parse`], with plain `http` to any host (`"plain_http": true`).
    pub fn parse_plain_http(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or("the url must be absolute (https://host/path)")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err("the url's scheme must be https (or http to loopback)".into()),
        };
        if rest.contains('#')
            || rest
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("the url must not have a fragment, spaces or control characters".into());
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err("the url must not carry user info".into());
        }
        let (host, port) = match authority.strip_prefix('[') {
            // An IPv6 literal: `[::1]:8080`.
            Some(rest) => {
                let (inside, after) = rest.split_once(']').ok_or("the url's host is malformed")?;
                let port = match after {
                    "" => None,
                    _ => Some(
                        after
                            .strip_prefix(':')
                            .ok_or("the url's host is malformed")?,
                    ),
                };
                (format!("[{inside}]"), port)
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (authority.to_owned(), None),
            },
        };
        let port = match port {
            Some(digits) => digits
                .parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .ok_or("the url's port is not a number from 1 to 65535")?,
            None => default_port,
        };
        let host = host.to_ascii_lowercase();
        if host.is_empty() || host.contains('/') {
            return Err("the url has no host".into());
        }
        let path_and_query = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Ok(Self {
            scheme,
            host,
            port,
            path_and_query,
        })
    }

    /// Whether the host is this machine.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self.host == "[::1]"
            || self.host.strip_prefix("127.").is_some_and(|rest| {
                rest.split('.').count() == 3
                    && rest.split('.').all(|part| part.parse::<u8>().is_ok())
            })
    }

    /// Whether this is, as far as a URL can tell, this app's own webhook route: a loopback host
    /// (or Spin's `self`) and a path under `/webhooks` (the webhook component's route).
    /// Forwarding there stores each event again and forwards it again (issue 25). A destination
    /// that reaches this app another way (a public host name, a proxy) is caught when it comes
    /// back instead ([`super::hops`]).
    pub fn is_own_webhook_route(&self) -> bool {
        let path = self.path_and_query.trim_start_matches('/');
        let webhooks = path
            .strip_prefix("webhooks")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
        webhooks && (self.is_loopback() || self.host == "self")
    }

    /// `scheme://host:port`: what Spin's `allowed_outbound_hosts` matches.
    pub fn origin(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    url: String,
    secret: OneOrMany,
    #[serde(default)]
    filter: Option<OneOrMany>,
    #[serde(default)]
    plain_http: bool,
    #[serde(default)]
    max_per_second: Option<u32>,
    #[serde(default)]
    max_in_flight: Option<u32>,
    #[serde(default)]
    ordered: bool,
    #[serde(default)]
    disable_after_failures: Option<u32>,
    #[serde(default)]
    disable_after_seconds: Option<u32>,
}

/// `"text"` or `["text", ...]` (a filter's patterns, a destination's secrets). Deserialized by
/// hand: `#[serde(untagged)]` buffers the value through serde's content tree, several KB of Wasm
/// for a two-way choice.
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Spec;
        impl<'de> serde::de::Visitor<'de> for Spec {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(text.to_owned()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany::Many(items))
            }
        }
        deserializer.deserialize_any(Spec)
    }
}

/// A destination's secrets: one `whsec_` secret, or a list of 1 to [`MAX_SECRETS`] distinct ones.
/// The error says which item and why, never the secret.
fn signing_keys(spec: OneOrMany) -> Result<Vec<SigningKey>, String> {
    let (texts, listed) = match spec {
        OneOrMany::One(text) => (vec![text], false),
        OneOrMany::Many(texts) => (texts, true),
    };
    if texts.is_empty() {
        return Err(
            "an empty list signs nothing: give one secret, or two during a rotation".into(),
        );
    }
    if texts.len() > MAX_SECRETS {
        return Err(format!(
            "{} secrets listed, at most {MAX_SECRETS} (a rotation needs two: the new and the old)",
            texts.len()
        ));
    }
    let mut keys: Vec<SigningKey> = Vec::with_capacity(texts.len());
    for (at, text) in texts.iter().enumerate() {
        let which = if listed {
            format!("secret {} of the list", at + 1)
        } else {
            "the secret".to_owned()
        };
        let key = text
            .strip_prefix("whsec_")
            .and_then(|encoded| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
            })
            .filter(|key| !key.is_empty())
            .map(SigningKey)
            .ok_or_else(|| {
                format!("{which} must be whsec_ followed by base64 (Standard Webhooks)")
            })?;
        if let Some(same) = keys.iter().position(|k| *k == key) {
            return Err(format!(
                "secrets {} and {} of the list are the same key: list each once",
                same + 1,
                at + 1
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// Parses the variable's value. Empty or blank: no destinations. Errors name the entry and the
/// field, never a secret or a URL (URLs can carry tokens).
pub fn parse(value: &str) -> Result<Vec<Destination>, ConfigError> {
    let malformed = |reason: String| ConfigError::Malformed {
        name: VARIABLE.to_owned(),
        reason,
    };
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<Entry> = serde_json::from_slice(value.as_bytes()).map_err(|error| {
        // serde's message can quote the input: keep only where it failed.
        malformed(format!(
            "not a JSON array of {{name, url, secret, filter, plain_http, max_per_second, max_in_flight, ordered, disable_after_failures, disable_after_seconds}} objects (line {}, column {})",
            error.line(),
            error.column()
        ))
    })?;
    let mut destinations: Vec<Destination> = Vec::with_capacity(entries.len());
    for (position, entry) in entries.into_iter().enumerate() {
        let at = |field: &str, reason: String| {
            malformed(format!("entry {} ({field}): {reason}", position + 1))
        };
        let name = DestinationName::parse(&entry.name).map_err(|e| at("name", e.0))?;
        if destinations.iter().any(|d| d.name == name) {
            return Err(at("name", format!("{name} is used twice")));
        }
        let url = if entry.plain_http {
            Url::parse_plain_http(&entry.url)
        } else {
            Url::parse(&entry.url)
        }
        .map_err(|e| at("url", e))?;
        let keys = signing_keys(entry.secret).map_err(|e| at("secret", e))?;
        let patterns = match entry.filter {
            None => Vec::new(),
            Some(OneOrMany::One(pattern)) => vec![pattern],
            Some(OneOrMany::Many(patterns)) if patterns.is_empty() => {
                return Err(at(
                    "filter",
                    "an empty list matches nothing; leave filter out for every event".into(),
                ))
            }
            Some(OneOrMany::Many(patterns)) => patterns,
        };
        let filter =
            Filter::parse(patterns.iter().map(String::as_str)).map_err(|e| at("filter", e))?;
        let limit = |field: &str, value: Option<u32>, max: u32| match value {
            Some(n) if n == 0 || n > max => Err(at(field, format!("{n} is not from 1 to {max}"))),
            _ => Ok(value),
        };
        let throttle = Throttle {
            max_per_second: limit("max_per_second", entry.max_per_second, MAX_PER_SECOND)?,
            max_in_flight: limit("max_in_flight", entry.max_in_flight, MAX_IN_FLIGHT)?,
        };
        if entry.ordered && throttle.max_in_flight.is_some_and(|n| n > 1) {
            return Err(at(
                "max_in_flight",
                "an ordered destination gets one send at a time: leave max_in_flight out (or 1)"
                    .into(),
            ));
        }
        let circuit = Circuit {
            after_failures: limit(
                "disable_after_failures",
                entry.disable_after_failures,
                circuit::MAX_FAILURES,
            )?,
            after_seconds: limit(
                "disable_after_seconds",
                entry.disable_after_seconds,
                circuit::MAX_SECONDS,
            )?,
        };
        destinations.push(Destination {
            name,
            url,
            keys,
            filter,
            throttle,
            ordered: entry.ordered,
            circuit,
        });
    }
    Ok(destinations)
}
