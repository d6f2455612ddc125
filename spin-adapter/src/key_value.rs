//! `wasi:keyvalue@0.2.0-draft2` as [`KeyValue`]. See the `shared::kv` docs for which operations
//! we use and why.

use shared::kv::{KeyValue, KvError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

/// A bucket of the Spin key-value store.
#[derive(Debug)]
pub struct SpinKv {
    bucket: store::Bucket,
}

impl SpinKv {
    /// Opens the store labelled `default` (declared in spin.toml's `key_value_stores`).
    pub fn open_default() -> Result<Self, KvError> {
        Self::open("default")
    }

    /// Opens a store by label.
    pub fn open(label: &str) -> Result<Self, KvError> {
        store::open(label)
            .map(|bucket| Self { bucket })
            .map_err(map_error)
    }
}

fn map_error(error: store::Error) -> KvError {
    match error {
        store::Error::NoSuchStore => KvError::Refused("no such store".into()),
        store::Error::AccessDenied => KvError::Refused("access denied".into()),
        store::Error::Other(reason) => KvError::Unavailable(reason),
    }
}

impl KeyValue for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket.get(key).map_err(map_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.bucket.set(key, value).map_err(map_error)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        batch::set_many(&self.bucket, entries).map_err(map_error)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.bucket.delete(key).map_err(map_error)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        atomics::increment(&self.bucket, key, delta).map_err(map_error)
    }
}
