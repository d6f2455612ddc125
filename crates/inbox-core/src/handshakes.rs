//! Secrets providers hand over in a handshake, kept for the operator.
//!
//! Asana (`X-Hook-Secret`) and Notion (`verification_token`) do not let the operator choose the
//! signing secret: they send it, unsigned, to the endpoint when a subscription is created, and
//! sign every later delivery with it. Anyone who can reach the endpoint can send such a request,
//! so a handed-over secret is never trusted by itself: the webhook component answers the
//! handshake, keeps the secret here, and the operator reads it from the API
//! (`GET /api/handshakes`) and configures it (`webhook_asana_secret`, `webhook_notion_secret`),
//! which is also how Notion's subscription is confirmed (its verification token is pasted back
//! into Notion).
//!
//! | key | value | written by |
//! |---|---|---|
//! | `handshake:{provider}:seq` | a counter, on `increment` | the webhook component |
//! | `handshake:{provider}:{n}` | the time received (RFC 3339), a newline, the secret; `n` is the counter modulo [`SLOTS`] | the webhook component |
//!
//! A ring of [`SLOTS`] per provider: an unauthenticated sender can overwrite it, never grow it.

use crate::kv::{KeyValue, KvError};
use crate::time::Timestamp;

/// The catalogue's name of the handshake that hands a secret over.
pub const HANDSHAKE: &str = provider_catalogue::Handshake::SecretHandover {
    secret: provider_catalogue::Field::Absent,
    unless: "",
}
.name();

/// How many handed-over secrets are kept per provider (the newest).
pub const SLOTS: i64 = 4;

/// The longest secret kept (Asana's and Notion's are far shorter).
pub const MAX_SECRET_LEN: usize = 256;

/// One handed-over secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedOver {
    /// When the handshake came.
    pub received_at: Timestamp,
    /// The secret it carried.
    pub secret: String,
}

/// Why a handed-over secret is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Empty, longer than [`MAX_SECRET_LEN`], or not visible ASCII (it must be configurable as a
    /// variable's value).
    #[error("must be 1 to 256 visible ASCII characters")]
    Malformed,
}

/// Checks a handed-over secret's form.
pub fn check(secret: &str) -> Result<(), SecretError> {
    if secret.is_empty()
        || secret.len() > MAX_SECRET_LEN
        || !secret.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(SecretError::Malformed);
    }
    Ok(())
}

/// Keeps `secret` as `provider`'s newest handed-over secret (an `increment`, then a `set`).
pub fn keep(
    store: &impl KeyValue,
    provider: &str,
    secret: &str,
    now: Timestamp,
) -> Result<(), KvError> {
    let n = store.increment(&format!("handshake:{provider}:seq"), 1)?;
    let value = format!("{}\n{secret}", now.to_rfc3339_millis());
    store.set(
        &format!("handshake:{provider}:{}", n.rem_euclid(SLOTS)),
        value.as_bytes(),
    )
}

/// `provider`'s kept secrets, newest first ([`SLOTS`] reads; a slot that does not parse is
/// left out).
pub fn recent(store: &impl KeyValue, provider: &str) -> Result<Vec<HandedOver>, KvError> {
    let mut kept = Vec::new();
    for slot in 0..SLOTS {
        let Some(bytes) = store.get(&format!("handshake:{provider}:{slot}"))? else {
            continue;
        };
        let parsed = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| text.split_once('\n'))
            .and_then(|(at, secret)| {
                Some(HandedOver {
                    received_at: Timestamp::parse_rfc3339(at).ok()?,
                    secret: secret.to_owned(),
                })
            });
        kept.extend(parsed);
    }
    kept.sort_by_key(|kept| std::cmp::Reverse(kept.received_at));
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::testing::{FaultyKv, Op};
    use crate::kv::MemoryKv;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_seconds(seconds)
    }

    #[test]
    fn kept_newest_first_in_a_bounded_ring() {
        let kv = MemoryKv::new();
        assert_eq!(recent(&kv, "asana").unwrap(), vec![]);
        for i in 0..10 {
            keep(&kv, "asana", &format!("secret{i}"), at(1_800_000_000 + i)).unwrap();
        }
        let kept = recent(&kv, "asana").unwrap();
        let secrets: Vec<&str> = kept.iter().map(|k| k.secret.as_str()).collect();
        assert_eq!(secrets, ["secret9", "secret8", "secret7", "secret6"]);
        assert_eq!(kept[0].received_at, at(1_800_000_009));
        // Ten handshakes, never more than the ring and its counter.
        assert_eq!(kv.keys().len(), 1 + 4);
        // Per provider.
        assert_eq!(recent(&kv, "notion").unwrap(), vec![]);
    }

    #[test]
    fn a_corrupt_slot_is_left_out() {
        let kv = MemoryKv::new();
        keep(&kv, "notion", "secret_abc", at(1_800_000_000)).unwrap();
        kv.set("handshake:notion:3", b"yesterday\nx").unwrap();
        kv.set("handshake:notion:2", b"\xff").unwrap();
        let kept = recent(&kv, "notion").unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].secret, "secret_abc");
    }

    #[test]
    fn the_form_is_checked() {
        assert_eq!(check("0123456789abcdef"), Ok(()));
        assert_eq!(check("secret_Zx9-._~"), Ok(()));
        for bad in ["", "has space", "tab\there", "caf\u{e9}", &"x".repeat(257)] {
            assert_eq!(check(bad), Err(SecretError::Malformed), "{bad:?}");
        }
        assert_eq!(check(&"x".repeat(256)), Ok(()));
    }

    #[test]
    fn store_failures_are_reported() {
        let kv = MemoryKv::new();
        let failing = FaultyKv::new(&kv, |op, _, _| op == Op::Set);
        assert!(keep(&failing, "asana", "s", at(0)).is_err());
        let failing = FaultyKv::new(&kv, |op, _, _| op == Op::Get);
        assert!(recent(&failing, "asana").is_err());
    }
}
