//! Fills a store with `n` events exactly as the webhook component stores them: every event is a
//! signed delivery run through the real `webhook` service (in-process, natively) over a recording
//! store, which is then written out for the backend under test in one bulk load.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use inbox_core::clock::SystemClock;
use inbox_core::config::StaticVariables;
use inbox_core::http::{Head, Method};
use inbox_core::kv::{KeyValue, KvError};
use thiserror::Error;

use crate::delivery::{Delivery, GITHUB_SECRET};
use crate::sqlite_kv::SqliteKv;

/// Why seeding stopped.
#[derive(Debug, Error)]
pub enum SeedError {
    /// The webhook service did not store a delivery.
    #[error("delivery {index} was answered {status}: {body}")]
    Rejected {
        /// Which delivery.
        index: usize,
        /// The status it got.
        status: u16,
        /// The response body.
        body: String,
    },
    /// Writing the store out failed.
    #[error(transparent)]
    Store(#[from] KvError),
    /// The app's manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] crate::native::ManifestError),
    /// Writing the Redis protocol stream failed.
    #[error("could not write the Redis stream: {0}")]
    Io(#[from] std::io::Error),
}

/// A store that keeps plain values and counters apart, so each backend gets its own counter
/// encoding (SQLite: 8 little-endian bytes; Redis: decimal text).
#[derive(Debug, Default)]
pub struct Recorded {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    values: BTreeMap<String, Vec<u8>>,
    counters: BTreeMap<String, i64>,
}

impl Recorded {
    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, KvError> {
        self.state
            .lock()
            .map_err(|_| KvError::Unavailable("poisoned".into()))
    }

    /// How many keys were written.
    pub fn len(&self) -> usize {
        self.state()
            .map(|state| state.values.len() + state.counters.len())
            .unwrap_or_default()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bulk-loads everything into Spin's SQLite store (one transaction).
    pub fn write_sqlite(&self, kv: &SqliteKv) -> Result<(), SeedError> {
        let state = self.state()?;
        let values = state.values.iter().map(|(k, v)| (k.clone(), v.clone()));
        let counters = state
            .counters
            .iter()
            .map(|(k, n)| (k.clone(), n.to_le_bytes().to_vec()));
        Ok(kv.load(values.chain(counters))?)
    }

    /// Writes everything as a Redis protocol stream of `SET`s, for `redis-cli --pipe`.
    pub fn write_resp(&self, out: &mut impl Write) -> Result<(), SeedError> {
        let state = self.state()?;
        for (key, value) in &state.values {
            resp_set(out, key, value)?;
        }
        for (key, count) in &state.counters {
            resp_set(out, key, count.to_string().as_bytes())?;
        }
        Ok(out.flush()?)
    }
}

fn resp_set(out: &mut impl Write, key: &str, value: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n",
        key.len(),
        value.len()
    )?;
    out.write_all(value)?;
    out.write_all(b"\r\n")
}

impl KeyValue for Recorded {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.state()?.values.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.state()?.values.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        let mut state = self.state()?;
        for (key, value) in entries {
            state.values.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        let mut state = self.state()?;
        state.values.remove(key);
        state.counters.remove(key);
        Ok(())
    }

    #[cfg(kv_delete_many)] // see build.rs
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        let mut state = self.state()?;
        for key in keys {
            state.values.remove(key);
            state.counters.remove(key);
        }
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let mut state = self.state()?;
        let counter = state.counters.entry(key.to_owned()).or_default();
        *counter = counter.saturating_add(delta);
        Ok(*counter)
    }
}

/// Stores `n` signed deliveries of about `size` bytes through the webhook service.
pub fn seed(n: usize, size: usize, progress: impl Fn(usize)) -> Result<Recorded, SeedError> {
    let store = Recorded::default();
    let mut pairs = crate::native::manifest_defaults()?;
    pairs.insert("webhook_github_secret".to_owned(), GITHUB_SECRET.to_owned());
    let vars = StaticVariables::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    for index in 0..n {
        let delivery = Delivery::github(format!("seed-{index:08}"), size);
        let mut head = Head::new(Method::POST, "/webhooks/github");
        for (name, value) in delivery.headers() {
            head.headers.append(name, value);
        }
        let service = webhook::Webhooks::new(
            &store,
            vars.clone(),
            SystemClock,
            inbox_core::forwarding::poke::NoPoke,
        );
        let response = inbox_core::http::serve(&service, head, |_| Ok(delivery.body.clone()));
        let status = response.status().as_u16();
        if status != 202 {
            return Err(SeedError::Rejected {
                index,
                status,
                body: String::from_utf8_lossy(response.body()).into_owned(),
            });
        }
        if (index + 1) % 10_000 == 0 {
            progress(index + 1);
        }
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use inbox_core::events::{EventStore, ListFilter};

    #[test]
    fn seeded_events_list_from_sqlite_newest_first() {
        let recorded = seed(120, 256, |_| ()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kv = SqliteKv::open(&dir.path().join("kv.db")).unwrap();
        recorded.write_sqlite(&kv).unwrap();
        let store = EventStore::new(&kv, SystemClock);
        let page = store.list(&ListFilter::default(), 50, None).unwrap();
        assert_eq!(page.items.len(), 50);
        assert_eq!(page.items[0].delivery_id.as_str(), "seed-00000119");
    }

    #[test]
    fn redis_stream_sets_counters_as_decimal_text() {
        let recorded = seed(3, 100, |_| ()).unwrap();
        let mut out = Vec::new();
        recorded.write_resp(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("$10\r\nevents:seq\r\n$1\r\n3\r\n"), "{text}");
        assert_eq!(text.matches("*3\r\n$3\r\nSET\r\n").count(), recorded.len());
    }
}
