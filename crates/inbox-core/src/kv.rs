//! The key-value operations the stores are written against.
//!
//! The trait is the subset of `wasi:keyvalue@0.2.0-draft2` that behaves the same on every Spin
//! backend we support. What we found by reading Spin's source and running it (see
//! `docs/dedup.md` for the experiment):
//!
//! - `atomics::increment` is atomic on both the local SQLite store (a transaction under one
//!   connection lock) and Redis (`INCRBY`). It is the only atomic primitive we rely on.
//! - `atomics::cas` is not usable: on SQLite a swap against an absent key is an upsert, so every
//!   concurrent "create if absent" wins; on Redis the swap reports failure even when it wrote.
//! - `batch::get-many` on Redis issues `KEYS` instead of `MGET`; we read keys one by one.
//! - `batch::set-many` is a transaction on SQLite and `MSET` on Redis: atomic on both.
//!
//! Counters written by `increment` must only ever be read through `increment(key, 0)`: SQLite
//! stores them as 8 little-endian bytes, Redis as decimal text.

#[cfg(any(test, feature = "testing"))]
use std::collections::BTreeMap;
#[cfg(any(test, feature = "testing"))]
use std::sync::Mutex;

use thiserror::Error;

/// A failed store operation. Callers answer 503 with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KvError {
    /// The store could not be opened or did not answer.
    #[error("key-value store unavailable: {0}")]
    Unavailable(String),
    /// The store refused the operation (for example, access to the store is not granted).
    #[error("key-value store refused the operation: {0}")]
    Refused(String),
}

/// A key-value store.
pub trait KeyValue {
    /// The value of `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Sets `key` to `value`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    /// Sets several keys in one atomic write.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError>;
    /// Removes `key`; removing an absent key is not an error.
    fn delete(&self, key: &str) -> Result<(), KvError>;
    /// Removes several keys in one atomic write (a transaction on SQLite, one `DEL` on Redis).
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError>;
    /// Atomically adds `delta` to the counter at `key` (absent counts as 0) and returns the new
    /// value. `delta = 0` reads a counter.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError>;
}

impl<K: KeyValue + ?Sized> KeyValue for &K {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        (**self).get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        (**self).set(key, value)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        (**self).set_many(entries)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        (**self).delete(key)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        (**self).delete_many(keys)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        (**self).increment(key, delta)
    }
}

/// The store of a component that is granted none (spin.toml lists no `key_value_stores`): every
/// operation is refused. It only exists to name a type; such components never call it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStore;

impl KeyValue for NoStore {
    fn get(&self, _: &str) -> Result<Option<Vec<u8>>, KvError> {
        Err(KvError::Refused(
            "this component has no key-value store".into(),
        ))
    }

    fn set(&self, _: &str, _: &[u8]) -> Result<(), KvError> {
        Err(KvError::Refused(
            "this component has no key-value store".into(),
        ))
    }

    fn set_many(&self, _: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        Err(KvError::Refused(
            "this component has no key-value store".into(),
        ))
    }

    fn delete(&self, _: &str) -> Result<(), KvError> {
        Err(KvError::Refused(
            "this component has no key-value store".into(),
        ))
    }

    fn delete_many(&self, _: &[String]) -> Result<(), KvError> {
        Err(KvError::Refused(
            "this component has no key-value store".into(),
        ))
    }

    fn increment(&self, _: &str, _: i64) -> Result<i64, KvError> {
        Err(KvError::Refused(
            "this component has no key-value store".into(),
        ))
    }
}

/// An in-memory store with the same semantics, for native tests (feature `testing`).
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct MemoryKv {
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
}

#[cfg(any(test, feature = "testing"))]
impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every key currently stored, sorted: for tests that check nothing was left behind.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}

#[cfg(any(test, feature = "testing"))]
impl KeyValue for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.lock().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.lock().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        let mut map = self.lock();
        for (key, value) in entries {
            map.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.lock().remove(key);
        Ok(())
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        let mut map = self.lock();
        for key in keys {
            map.remove(key);
        }
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let mut map = self.lock();
        let current = match map.get(key) {
            None => 0,
            Some(bytes) => {
                let array: [u8; 8] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| KvError::Refused(format!("`{key}` does not hold a counter")))?;
                i64::from_le_bytes(array)
            }
        };
        let next = current.saturating_add(delta);
        map.insert(key.to_owned(), next.to_le_bytes().to_vec());
        Ok(next)
    }
}

/// Fault injection for tests: a store that fails chosen operations (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Which operation a [`FaultyKv`] is asked to perform.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Op {
        /// `get`
        Get,
        /// `set`
        Set,
        /// `set_many`
        SetMany,
        /// `delete`
        Delete,
        /// `delete_many`
        DeleteMany,
        /// `increment`
        Increment,
    }

    /// Decides whether an operation fails: `(operation, key, operations so far)`.
    pub type FailWhen<'a> = Box<dyn Fn(Op, &str, usize) -> bool + Send + Sync + 'a>;

    /// Wraps a store and fails operations for which `fails(op, key, n)` is true, where `n`
    /// counts every operation so far (from 0).
    pub struct FaultyKv<'a, K: KeyValue> {
        inner: &'a K,
        fails: FailWhen<'a>,
        count: AtomicUsize,
    }

    impl<K: KeyValue> std::fmt::Debug for FaultyKv<'_, K> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("FaultyKv")
                .field("count", &self.count)
                .finish_non_exhaustive()
        }
    }

    impl<'a, K: KeyValue> FaultyKv<'a, K> {
        /// Wraps `inner`.
        pub fn new(
            inner: &'a K,
            fails: impl Fn(Op, &str, usize) -> bool + Send + Sync + 'a,
        ) -> Self {
            Self {
                inner,
                fails: Box::new(fails),
                count: AtomicUsize::new(0),
            }
        }

        /// How many operations were attempted.
        pub fn operations(&self) -> usize {
            self.count.load(Ordering::SeqCst)
        }

        fn check(&self, op: Op, key: &str) -> Result<(), KvError> {
            let n = self.count.fetch_add(1, Ordering::SeqCst);
            if (self.fails)(op, key, n) {
                Err(KvError::Unavailable(format!(
                    "injected failure of {op:?} {key}"
                )))
            } else {
                Ok(())
            }
        }
    }

    /// Counts the operations a store is asked for (every call is one host call on Spin, and a
    /// round trip on Redis): for tests that bound what a request costs.
    #[derive(Debug)]
    pub struct CountingKv<'a, K: KeyValue> {
        inner: &'a K,
        ops: Mutex<Vec<Op>>,
    }

    impl<'a, K: KeyValue> CountingKv<'a, K> {
        /// Wraps `inner`.
        pub fn new(inner: &'a K) -> Self {
            Self {
                inner,
                ops: Mutex::new(Vec::new()),
            }
        }

        /// The operations so far, in order; and forgets them.
        pub fn take(&self) -> Vec<Op> {
            std::mem::take(&mut *self.ops.lock().unwrap_or_else(|p| p.into_inner()))
        }

        fn record(&self, op: Op) {
            self.ops.lock().unwrap_or_else(|p| p.into_inner()).push(op);
        }
    }

    impl<K: KeyValue> KeyValue for CountingKv<'_, K> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            self.record(Op::Get);
            self.inner.get(key)
        }

        fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
            self.record(Op::Set);
            self.inner.set(key, value)
        }

        fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
            self.record(Op::SetMany);
            self.inner.set_many(entries)
        }

        fn delete(&self, key: &str) -> Result<(), KvError> {
            self.record(Op::Delete);
            self.inner.delete(key)
        }

        fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
            self.record(Op::DeleteMany);
            self.inner.delete_many(keys)
        }

        fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
            self.record(Op::Increment);
            self.inner.increment(key, delta)
        }
    }

    impl<K: KeyValue> KeyValue for FaultyKv<'_, K> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            self.check(Op::Get, key)?;
            self.inner.get(key)
        }

        fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
            self.check(Op::Set, key)?;
            self.inner.set(key, value)
        }

        fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
            let first = entries
                .first()
                .map(|(key, _)| key.as_str())
                .unwrap_or_default();
            self.check(Op::SetMany, first)?;
            self.inner.set_many(entries)
        }

        fn delete(&self, key: &str) -> Result<(), KvError> {
            self.check(Op::Delete, key)?;
            self.inner.delete(key)
        }

        fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
            let first = keys.first().map(String::as_str).unwrap_or_default();
            self.check(Op::DeleteMany, first)?;
            self.inner.delete_many(keys)
        }

        fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
            self.check(Op::Increment, key)?;
            self.inner.increment(key, delta)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increment_counts_from_zero_and_reads_with_zero() {
        let kv = MemoryKv::new();
        assert_eq!(kv.increment("c", 0), Ok(0));
        assert_eq!(kv.increment("c", 1), Ok(1));
        assert_eq!(kv.increment("c", 5), Ok(6));
        assert_eq!(kv.increment("c", -2), Ok(4));
    }

    #[test]
    fn increment_refuses_a_non_counter() {
        let kv = MemoryKv::new();
        kv.set("text", b"hello").unwrap();
        assert!(matches!(kv.increment("text", 1), Err(KvError::Refused(_))));
    }

    #[test]
    fn set_get_delete_round_trip() {
        let kv = MemoryKv::new();
        kv.set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])
            .unwrap();
        assert_eq!(kv.get("a").unwrap(), Some(b"1".to_vec()));
        kv.delete("a").unwrap();
        kv.delete("a").unwrap();
        assert_eq!(kv.get("a").unwrap(), None);
        assert_eq!(kv.keys(), ["b"]);
    }

    #[test]
    fn faulty_store_fails_what_it_is_told_to() {
        let kv = MemoryKv::new();
        let faulty = testing::FaultyKv::new(&kv, |op, _, _| op == testing::Op::Set);
        assert!(faulty.set("a", b"1").is_err());
        assert_eq!(faulty.get("a").unwrap(), None);
        assert_eq!(faulty.operations(), 2);
    }
}
