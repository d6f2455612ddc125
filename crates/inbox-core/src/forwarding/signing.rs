//! The headers of a forwarded request: Standard Webhooks' three (`webhook-id` = the event id,
//! `webhook-timestamp`, `webhook-signature` = `v1,` base64 of HMAC-SHA256 over
//! `{id}.{timestamp}.{body}` with the destination's key; during a secret rotation one such entry
//! per key, space-separated, as the specification allows), so any Standard Webhooks library
//! holding any one of the keys verifies it, and a few that say what it is.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::destinations::SigningKey;
use crate::events::StoredEvent;
use crate::time::Timestamp;

/// The provider of the forwarded event.
pub const PROVIDER_HEADER: &str = "webhook-inbox-provider";
/// Its event type (absent for an untyped event).
pub const EVENT_TYPE_HEADER: &str = "webhook-inbox-event-type";
/// The provider's delivery id.
pub const DELIVERY_ID_HEADER: &str = "webhook-inbox-delivery-id";
/// Which attempt this is (1 for the first; it keeps counting across replays).
pub const ATTEMPT_HEADER: &str = "webhook-inbox-attempt";
/// The installations it went through, ending with this one ([`super::hops`]).
pub use super::hops::HOPS_HEADER;

/// `v1,<base64 signature>` of `body` as message `id` at `timestamp` (Unix seconds).
pub fn signature(key: &SigningKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; unreachable, and an unverifiable signature if it were.
        Err(_) => return "v1,".to_owned(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The `webhook-signature` value: one `v1,<sig>` per key, in the keys' order, space-separated.
pub fn signatures(keys: &[SigningKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| signature(key, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every header of a forwarded request but `host` and `content-length`, signed with each of
/// `keys` (a destination's); `hops` is its [`HOPS_HEADER`] ([`super::hops::outgoing`]).
pub fn headers(
    keys: &[SigningKey],
    event: &StoredEvent,
    attempt: u32,
    hops: &str,
    now: Timestamp,
) -> Vec<(&'static str, String)> {
    let id = event.meta.id.as_str();
    let timestamp = now.unix_seconds();
    let mut headers = vec![
        ("content-type", event.body.content_type.clone()),
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            signatures(keys, id, timestamp, event.body.raw_body.as_bytes()),
        ),
        (PROVIDER_HEADER, event.meta.provider.as_str().to_owned()),
        (
            DELIVERY_ID_HEADER,
            event.meta.delivery_id.as_str().to_owned(),
        ),
        (ATTEMPT_HEADER, attempt.to_string()),
        (HOPS_HEADER, hops.to_owned()),
        (
            "user-agent",
            concat!("webhook-inbox/", env!("CARGO_PKG_VERSION")).to_owned(),
        ),
    ];
    if let Some(kind) = &event.meta.event_type {
        headers.push((EVENT_TYPE_HEADER, kind.as_str().to_owned()));
    }
    headers
}
