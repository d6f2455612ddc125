//! Whether the forwarder takes its configuration, as its readiness check last found it, for the
//! app's main `/readyz` (the health component is not granted `forward_destinations`, which holds
//! the destinations' signing secrets).
//!
//! | key | value | written by |
//! |---|---|---|
//! | `forwarding:status` | since when (RFC 3339), a newline, `ok`, or `refused` and a newline and the reason | the forwarder's readiness check, only when it changes |
//!
//! The reason is the readiness error: it names the variable, the destination entry and what is
//! wrong, never a secret or a URL's credentials (`ConfigError`'s text).

use crate::kv::{KeyValue, KvError};
use crate::time::Timestamp;

/// Where the record is.
pub const KEY: &str = "forwarding:status";

/// What the forwarder's readiness last found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Since when it has found this.
    pub since: Timestamp,
    /// `None`: it takes its configuration; `Some(reason)`: it refuses it.
    pub refused: Option<String>,
}

impl Status {
    fn encode(refused: Option<&str>, since: Timestamp) -> String {
        match refused {
            None => format!("{}\nok", since.to_rfc3339_millis()),
            Some(reason) => format!("{}\nrefused\n{reason}", since.to_rfc3339_millis()),
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (since, rest) = text.split_once('\n')?;
        let since = Timestamp::parse_rfc3339(since).ok()?;
        let refused = match rest.split_once('\n') {
            None if rest == "ok" => None,
            Some(("refused", reason)) => Some(reason.to_owned()),
            _ => return None,
        };
        Some(Self { since, refused })
    }
}

/// The record, or `None` if the forwarder never reported (or the record does not parse).
pub fn load(store: &impl KeyValue) -> Result<Option<Status>, KvError> {
    Ok(store.get(KEY)?.and_then(|bytes| Status::decode(&bytes)))
}

/// Records what readiness found (`refused`: its reason), unless the store already says exactly
/// that: a read per probe, a write only on a change. Returns whether it wrote.
pub fn record(
    store: &impl KeyValue,
    refused: Option<&str>,
    now: Timestamp,
) -> Result<bool, KvError> {
    if load(store)?.is_some_and(|known| known.refused.as_deref() == refused) {
        return Ok(false);
    }
    store.set(KEY, Status::encode(refused, now).as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::testing::{FaultyKv, Op};
    use crate::kv::MemoryKv;

    #[test]
    fn recorded_on_a_change_and_read_back() {
        let kv = MemoryKv::new();
        assert_eq!(load(&kv).unwrap(), None);
        let t0 = Timestamp::from_unix_seconds(1_800_000_000);
        assert!(record(&kv, None, t0).unwrap());
        assert_eq!(
            load(&kv).unwrap(),
            Some(Status {
                since: t0,
                refused: None
            })
        );
        // The same: read, not written.
        let no_writes = FaultyKv::new(&kv, |op, _, _| op == Op::Set);
        assert!(!record(&no_writes, None, t0).unwrap());
        let reason = "variable `forward_destinations` is malformed: entry 1 (url): a loop";
        let t1 = Timestamp::from_unix_seconds(1_800_000_060);
        assert!(record(&kv, Some(reason), t1).unwrap());
        let status = load(&kv).unwrap().unwrap();
        assert_eq!(status.refused.as_deref(), Some(reason));
        assert_eq!(status.since, t1);
        assert!(!record(&no_writes, Some(reason), t1).unwrap());
        // Fixed: ok again, since then.
        assert!(record(&kv, None, t1).unwrap());
        assert_eq!(load(&kv).unwrap().unwrap().refused, None);
    }

    #[test]
    fn a_corrupt_record_reads_as_unknown() {
        let kv = MemoryKv::new();
        for corrupt in [
            &b"nonsense"[..],
            b"yesterday\nok",
            b"2027-01-15T08:00:00.000Z\nmaybe",
            b"\xff",
        ] {
            kv.set(KEY, corrupt).unwrap();
            assert_eq!(load(&kv).unwrap(), None, "{corrupt:?}");
        }
    }
}
