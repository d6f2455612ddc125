//! Each destination's settings as the forwarder last found them (`fwd:settings`, written only
//! when they change), so the API and the console can show them: the api component is not granted
//! `forward_destinations`, which holds the signing secrets. Names, limits and thresholds only:
//! never a URL (URLs can carry tokens) or a secret (only how many there are).

use serde::{Deserialize, Serialize};

use super::destinations::{Destination, DestinationName};
use super::keys;
use super::records::encode;
use crate::events::StoreError;
use crate::kv::KeyValue;

/// One destination's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Its name.
    pub name: DestinationName,
    /// How many secrets sign each request (2 or 3 during a rotation).
    pub secrets: u32,
    /// `"ordered"`.
    #[serde(default)]
    pub ordered: bool,
    /// `"max_per_second"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_second: Option<u32>,
    /// `"max_in_flight"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// `"disable_after_failures"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_after_failures: Option<u32>,
    /// `"disable_after_seconds"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_after_seconds: Option<u32>,
}

impl Settings {
    /// What `destination` is configured with.
    pub fn of(destination: &Destination) -> Self {
        Self {
            name: destination.name.clone(),
            secrets: u32::try_from(destination.keys.len()).unwrap_or(u32::MAX),
            ordered: destination.ordered,
            max_per_second: destination.throttle.max_per_second,
            max_in_flight: destination.throttle.max_in_flight,
            disable_after_failures: destination.circuit.after_failures,
            disable_after_seconds: destination.circuit.after_seconds,
        }
    }
}

/// The settings last recorded (none if never, or unreadable).
pub fn load<K: KeyValue>(kv: &K) -> Result<Vec<Settings>, StoreError> {
    Ok(kv
        .get(keys::SETTINGS)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default())
}

/// Records `destinations`' settings unless the store already has exactly these.
pub fn record<K: KeyValue>(kv: &K, destinations: &[Destination]) -> Result<(), StoreError> {
    let now: Vec<Settings> = destinations.iter().map(Settings::of).collect();
    if load(kv)? != now {
        kv.set(keys::SETTINGS, &encode(&now)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forwarding::destinations;
    use crate::kv::testing::{FaultyKv, Op};
    use crate::kv::MemoryKv;

    #[test]
    fn recorded_on_a_change_without_urls_or_secrets() {
        let kv = MemoryKv::new();
        let configured = destinations::parse(
            r#"[{"name": "a", "url": "https://a.example/in?token=t0p", "secret": ["whsec_c2VjcmV0LWE=", "whsec_c2VjcmV0LWI="],
                 "max_per_second": 5, "disable_after_failures": 20, "disable_after_seconds": 3600},
                {"name": "b", "url": "https://b.example/in", "secret": "whsec_c2VjcmV0LWI=", "ordered": true}]"#,
        )
        .unwrap();
        record(&kv, &configured).unwrap();
        let stored = String::from_utf8(kv.get(keys::SETTINGS).unwrap().unwrap()).unwrap();
        assert!(
            !stored.contains("example") && !stored.contains("whsec"),
            "{stored}"
        );
        let loaded = load(&kv).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].secrets, 2);
        assert_eq!(loaded[0].max_per_second, Some(5));
        assert_eq!(loaded[0].disable_after_failures, Some(20));
        assert_eq!(loaded[0].disable_after_seconds, Some(3600));
        assert!(!loaded[0].ordered && loaded[1].ordered);
        // The same again: read, not written.
        let no_writes = FaultyKv::new(&kv, |op, _, _| op == Op::Set);
        record(&no_writes, &configured).unwrap();
        record(&kv, &configured[1..]).unwrap();
        assert_eq!(load(&kv).unwrap().len(), 1);
    }
}
