//! The event domain types. Each newtype validates on construction, so a value that exists is a
//! value we are willing to store, log and put in a key.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::time::Timestamp;

/// Why an input could not become a domain value. The message is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// The providers: declared, one row each, by `provider-catalogue`.
pub use provider_catalogue::Provider;

/// Visible ASCII (no spaces or control characters), between 1 and `max` bytes.
fn visible_ascii(what: &str, value: &str, max: usize) -> Result<String, InvalidValue> {
    if value.is_empty() {
        return Err(InvalidValue(format!("{what} is empty")));
    }
    if value.len() > max {
        return Err(InvalidValue(format!(
            "{what} is longer than {max} characters"
        )));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidValue(format!(
            "{what} must be printable ASCII without spaces"
        )));
    }
    Ok(value.to_owned())
}

/// The provider's id of one delivery (`X-GitHub-Delivery`, Stripe's event `id`, `webhook-id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeliveryId(String);

impl DeliveryId {
    /// Longest accepted delivery id.
    pub const MAX_LEN: usize = 256;

    /// Validates a delivery id.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        visible_ascii("the delivery id", value, Self::MAX_LEN).map(Self)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeliveryId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DeliveryId> for String {
    fn from(value: DeliveryId) -> Self {
        value.0
    }
}

/// The provider's event type (`X-GitHub-Event`, Stripe's and Standard Webhooks' body `type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

impl EventType {
    /// Longest accepted event type.
    pub const MAX_LEN: usize = 128;

    /// Validates an event type.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        visible_ascii("the event type", value, Self::MAX_LEN).map(Self)
    }

    /// The type as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventType {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EventType> for String {
    fn from(value: EventType) -> Self {
        value.0
    }
}

/// What happened within an event type, where the provider says (GitHub's `action`: an `issues`
/// event is `opened`, `closed`, ...). Visible ASCII, 1 to 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventAction(String);

impl EventAction {
    /// Longest accepted action.
    pub const MAX_LEN: usize = 64;

    /// Validates an action.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        visible_ascii("the action", value, Self::MAX_LEN).map(Self)
    }

    /// The action as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventAction {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EventAction> for String {
    fn from(value: EventAction) -> Self {
        value.0
    }
}

crate::slug::slug_type!(
    /// The label of the secret that verified a delivery (`label=secret` in a provider's secret
    /// list): tells two senders of one provider apart. 1 to 32 of `[a-z0-9-]`, starting with a
    /// letter or digit.
    SourceLabel,
    max = 32,
    what = "a source label"
);

/// An event id: `evt_` and 32 lower-case hex digits.
///
/// Derived from the provider and the delivery id (the first 128 bits of
/// `SHA-256(provider "\n" delivery_id)`), so every copy of a delivery maps to the same id, the
/// id leaks nothing the caller did not send, and a consumer can compute it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(String);

impl EventId {
    const PREFIX: &'static str = "evt_";
    const HEX_LEN: usize = 32;

    /// The id of this provider's delivery.
    pub fn for_delivery(provider: Provider, delivery_id: &DeliveryId) -> Self {
        let digest = Sha256::new()
            .chain_update(provider.as_str())
            .chain_update(b"\n")
            .chain_update(delivery_id.as_str())
            .finalize();
        let hex = hex::encode(digest);
        Self(format!(
            "{}{}",
            Self::PREFIX,
            hex.get(..Self::HEX_LEN).unwrap_or(&hex)
        ))
    }

    /// Validates an id from a URL or a stored record.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let valid = value.strip_prefix(Self::PREFIX).is_some_and(|hex| {
            hex.len() == Self::HEX_LEN
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidValue(
                "event ids look like evt_ followed by 32 lower-case hex digits".into(),
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EventId> for String {
    fn from(value: EventId) -> Self {
        value.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a consumer is with an event. Events start `pending`; a consumer marks them
/// `processed`, which is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Stored, not yet handled by a consumer.
    Pending,
    /// Handled by a consumer.
    Processed,
}

impl EventStatus {
    /// Both statuses.
    pub const ALL: [EventStatus; 2] = [Self::Pending, Self::Processed];

    /// The name used in queries, keys and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processed => "processed",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

/// What the webhook processor hands the store: a verified delivery.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Who sent it.
    pub provider: Provider,
    /// The provider's delivery id.
    pub delivery_id: DeliveryId,
    /// The provider's event type, if the delivery names one (Standard Webhooks only recommends
    /// a `type`).
    pub event_type: Option<EventType>,
    /// What happened within the type, where the provider says (GitHub's `action`).
    pub action: Option<EventAction>,
    /// The label of the secret that verified it, if the secret had one.
    pub source: Option<SourceLabel>,
    /// The headers a consumer needs to re-verify the signature, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The request's `Content-Type`.
    pub content_type: String,
    /// The request body, byte for byte (accepted bodies are UTF-8: JSON or a URL-encoded form).
    pub raw_body: String,
    /// The JSON payload: the body itself, or GitHub's form field `payload`. Kept as the
    /// provider's text, so no key order or number precision is lost.
    pub json: Box<RawValue>,
}

#[cfg(any(test, feature = "testing"))]
impl NewEvent {
    /// For tests: a JSON delivery `{"id": delivery, "type": kind}` of `provider`, typed `kind`,
    /// with no kept headers. Panics on an invalid delivery id or type (test input).
    #[allow(clippy::expect_used)]
    pub fn example(provider: Provider, delivery: &str, kind: &str) -> Self {
        let body = serde_json::json!({"id": delivery, "type": kind}).to_string();
        Self {
            provider,
            delivery_id: DeliveryId::parse(delivery).expect("a test delivery id"),
            event_type: Some(EventType::parse(kind).expect("a test event type")),
            action: None,
            source: None,
            headers: BTreeMap::new(),
            content_type: "application/json".into(),
            raw_body: body.clone(),
            json: RawValue::from_string(body).expect("JSON"),
        }
    }
}

/// The small, mutable part of a stored event: what listings read. Written twice, atomically: as
/// the meta record (the commit point, read by id) and as the event's index entry (read by
/// listings, one record per listed event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// The event id.
    pub id: EventId,
    /// Position in the global order (newest is highest).
    pub seq: u64,
    /// The claim generation that stored it (0 unless a crashed attempt was taken over).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    /// Who sent it.
    pub provider: Provider,
    /// The provider's delivery id.
    pub delivery_id: DeliveryId,
    /// The provider's event type, if the delivery named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventType>,
    /// What happened within the type (GitHub's `action`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<EventAction>,
    /// The label of the secret that verified it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceLabel>,
    /// When we accepted it.
    pub received_at: Timestamp,
    /// Pending or processed.
    pub status: EventStatus,
    /// When a consumer marked it processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<Timestamp>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// The large, immutable part of a stored event: what a consumer needs to act on and re-verify
/// it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventBody {
    /// The signature-relevant request headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The request's `Content-Type`.
    pub content_type: String,
    /// The request body, byte for byte.
    pub raw_body: String,
    /// The parsed JSON payload, as the provider's text.
    pub json: Box<RawValue>,
}

/// A whole stored event.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Metadata and status.
    pub meta: EventMeta,
    /// Headers and payload.
    pub body: EventBody,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn event_ids_are_stable_and_provider_scoped() {
        let delivery = DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap();
        let github = EventId::for_delivery(Provider::Github, &delivery);
        assert_eq!(github, EventId::for_delivery(Provider::Github, &delivery));
        assert_ne!(github, EventId::for_delivery(Provider::Stripe, &delivery));
        assert_eq!(EventId::parse(github.as_str()), Ok(github.clone()));
        // Pinned so that a change of derivation (which would break dedup of in-flight
        // retries across an upgrade) cannot go unnoticed.
        assert_eq!(github.as_str(), "evt_45c7e4d103b89e99d136273d963606e0");
    }

    #[test]
    fn event_id_parsing_is_strict() {
        for bad in [
            "",
            "evt_",
            "evt_XYZ",
            "EVT_3c0e9d9cdc6e3a5caa7ed0fb8d6b3ad6",
            "evt_3C0E9D9CDC6E3A5CAA7ED0FB8D6B3AD6",
            "evt_3c0e9d9cdc6e3a5caa7ed0fb8d6b3ad60",
        ] {
            assert!(EventId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn delivery_ids_and_types_must_be_visible_ascii() {
        assert!(DeliveryId::parse("evt_1NG8Du2eZvKYlo2CUI3gP9fP").is_ok());
        assert!(DeliveryId::parse("").is_err());
        assert!(DeliveryId::parse("has space").is_err());
        assert!(DeliveryId::parse("line\nbreak").is_err());
        assert!(DeliveryId::parse(&"x".repeat(257)).is_err());
        assert!(EventType::parse("payment_intent.succeeded").is_ok());
        assert!(EventType::parse("é").is_err());
    }

    #[test]
    fn providers_and_statuses_round_trip_their_names() {
        for (index, provider) in Provider::ALL.iter().enumerate() {
            assert_eq!(Provider::parse(provider.as_str()), Some(*provider));
            assert_eq!(provider.index(), index);
            // Serde uses the same name.
            let json = serde_json::to_string(provider).unwrap();
            assert_eq!(json, format!("\"{}\"", provider.as_str()));
            assert_eq!(serde_json::from_str::<Provider>(&json).unwrap(), *provider);
        }
        assert!(serde_json::from_str::<Provider>("\"nosuch\"").is_err());
        for status in EventStatus::ALL {
            assert_eq!(EventStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(Provider::parse("nosuch"), None);
    }

    proptest! {
        #[test]
        fn every_delivery_gets_a_parseable_id(provider in 0usize..Provider::ALL.len(), delivery in "[!-~]{1,256}") {
            let delivery = DeliveryId::parse(&delivery).unwrap();
            let id = EventId::for_delivery(Provider::ALL[provider], &delivery);
            prop_assert!(EventId::parse(id.as_str()).is_ok());
        }
    }
}
