//! `wasi:keyvalue@0.2.0-draft2` as [`KeyValue`]. See the `inbox_core::kv` docs for which operations
//! we use and why.

use std::cell::OnceCell;

use inbox_core::kv::{KeyValue, KvError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

/// A bucket of the Spin key-value store, opened on first use: a request that never touches the
/// store (`/healthz`, a rejected webhook, an unauthenticated API call) never pays for opening it.
#[derive(Debug)]
pub struct SpinKv {
    label: String,
    bucket: OnceCell<Result<store::Bucket, KvError>>,
}

impl SpinKv {
    /// The store labelled `default` (declared in spin.toml's `key_value_stores`). Opening is
    /// deferred to the first operation, which reports a store that cannot be opened.
    pub fn open_default() -> Self {
        Self::open("default")
    }

    /// A store by label, opened on first use.
    pub fn open(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            bucket: OnceCell::new(),
        }
    }

    fn bucket(&self) -> Result<&store::Bucket, KvError> {
        self.bucket
            .get_or_init(|| store::open(&self.label).map_err(map_error))
            .as_ref()
            .map_err(Clone::clone)
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
        self.bucket()?.get(key).map_err(map_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.bucket()?.set(key, value).map_err(map_error)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        batch::set_many(self.bucket()?, entries).map_err(map_error)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.bucket()?.delete(key).map_err(map_error)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        batch::delete_many(self.bucket()?, keys).map_err(map_error)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        atomics::increment(self.bucket()?, key, delta).map_err(map_error)
    }
}
