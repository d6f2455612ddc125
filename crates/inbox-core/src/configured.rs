//! Which providers the webhook component has secrets for, as it last reported.
//!
//! The API's provider catalogue (`GET /api/providers`) says whether each provider is configured,
//! but the api component is not granted the providers' secret variables (least privilege: only
//! the webhook component is). So the webhook component reports: each time its readiness check
//! has validated its configuration, it records the configured providers in the shared store,
//! and the api reads that record. The record is rewritten only when the set changes (one read
//! per readiness probe, a write on a change); nothing on the delivery path touches it.
//!
//! | key | value | written by |
//! |---|---|---|
//! | `catalogue:configured` | [`Configured`] as text: since when (RFC 3339), a newline, the configured slugs and the generic sources that have a secret ([`source_token`]), separated by spaces | the webhook component's readiness check |
//!
//! Text, not JSON: serde's code for one more record costs the webhook component about 2.5 KB.
//!
//! Replicas configured differently (during a rollout) each rewrite it when they find it differs:
//! it follows the last one probed, and settles once the rollout does.

use crate::kv::{KeyValue, KvError};
use crate::time::Timestamp;

/// Where the record is.
pub const KEY: &str = "catalogue:configured";

/// What the webhook component last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    /// The configured providers' slugs, in the catalogue's order. Strings, not providers: a
    /// record written by a newer version (a rollout) may name one this version does not know.
    pub providers: Vec<String>,
    /// When the webhook component first reported this set (it is re-checked at every readiness
    /// probe, and the record rewritten only when it changes).
    pub since: Timestamp,
}

/// How a generic source with a secret is recorded among the slugs: `source/{name}={family}`.
pub fn source_token(name: &str, family: &str) -> String {
    format!("source/{name}={family}")
}

impl Configured {
    /// Whether `slug` is configured.
    pub fn contains(&self, slug: &str) -> bool {
        self.providers.iter().any(|p| p == slug)
    }

    /// The generic sources that have a secret ([`source_token`]): each one's name and scheme
    /// family, in the order of `webhook_sources`.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &str)> {
        self.providers
            .iter()
            .filter_map(|token| token.strip_prefix("source/")?.split_once('='))
    }

    /// A stored value, if it is one.
    fn decode(bytes: &[u8]) -> Option<Self> {
        let (since, slugs) = std::str::from_utf8(bytes).ok()?.split_once('\n')?;
        Some(Self {
            providers: slugs
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            since: Timestamp::parse_rfc3339(since).ok()?,
        })
    }
}

/// The record, or `None` if the webhook component never reported (or the record does not
/// parse: the next readiness probe rewrites it).
pub fn load(store: &impl KeyValue) -> Result<Option<Configured>, KvError> {
    Ok(store.get(KEY)?.and_then(|bytes| Configured::decode(&bytes)))
}

/// Records `providers` as the configured set, unless the store already says exactly that: a
/// read, and a write only on a change. Returns whether it wrote.
pub fn record(store: &impl KeyValue, providers: &[&str], now: Timestamp) -> Result<bool, KvError> {
    if load(store)?.is_some_and(|known| known.providers == providers) {
        return Ok(false);
    }
    let value = format!("{}\n{}", now.to_rfc3339_millis(), providers.join(" "));
    store.set(KEY, value.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::testing::{FaultyKv, Op};
    use crate::kv::MemoryKv;

    #[test]
    fn absent_until_reported() {
        let kv = MemoryKv::new();
        assert_eq!(load(&kv).unwrap(), None);
        let at = Timestamp::from_unix_seconds(1_800_000_000);
        assert!(record(&kv, &["github", "stripe"], at).unwrap());
        let known = load(&kv).unwrap().unwrap();
        assert_eq!(known.providers, &["github", "stripe"]);
        assert_eq!(known.since, at);
        assert!(known.contains("github"));
        assert!(!known.contains("slack"));
        assert_eq!(
            kv.get(KEY).unwrap().unwrap(),
            b"2027-01-15T08:00:00.000Z\ngithub stripe"
        );
    }

    #[test]
    fn generic_sources_are_recorded_beside_the_slugs() {
        let kv = MemoryKv::new();
        let billing = source_token("billing", "hmac-template");
        let ci = source_token("ci", "token");
        let at = Timestamp::from_unix_seconds(1_800_000_000);
        record(&kv, &["github", &billing, &ci], at).unwrap();
        let known = load(&kv).unwrap().unwrap();
        assert!(known.contains("github"));
        assert!(!known.contains("billing"));
        let sources: Vec<_> = known.sources().collect();
        assert_eq!(sources, [("billing", "hmac-template"), ("ci", "token")]);
    }

    #[test]
    fn written_only_when_the_set_changes() {
        let kv = MemoryKv::new();
        let first = Timestamp::from_unix_seconds(1_800_000_000);
        let later = Timestamp::from_unix_seconds(1_800_000_060);
        assert!(record(&kv, &["github"], first).unwrap());
        // The same set: nothing written, the time it was first seen stays.
        let faulty = FaultyKv::new(&kv, |op, _, _| op == Op::Set);
        assert!(!record(&faulty, &["github"], later).unwrap());
        assert_eq!(load(&kv).unwrap().unwrap().since, first);
        // Another set: rewritten, with the new time.
        assert!(record(&kv, &["github", "slack"], later).unwrap());
        assert_eq!(load(&kv).unwrap().unwrap().since, later);
        assert!(record(&kv, &[], later).unwrap());
        assert_eq!(load(&kv).unwrap().unwrap().providers, Vec::<String>::new());
    }

    #[test]
    fn a_corrupt_record_reads_as_unknown_and_is_rewritten() {
        let kv = MemoryKv::new();
        for corrupt in [&b"{not json"[..], b"yesterday\ngithub", b"\xff\n"] {
            kv.set(KEY, corrupt).unwrap();
            assert_eq!(load(&kv).unwrap(), None);
        }
        let at = Timestamp::from_unix_seconds(1_800_000_000);
        assert!(record(&kv, &["github"], at).unwrap());
        assert_eq!(load(&kv).unwrap().unwrap().providers, &["github"]);
    }

    #[test]
    fn store_failures_are_reported() {
        let kv = MemoryKv::new();
        let failing = FaultyKv::new(&kv, |op, _, _| op == Op::Get);
        assert!(load(&failing).is_err());
        assert!(record(&failing, &["github"], Timestamp::from_unix_seconds(0)).is_err());
    }
}
