//! Spin's local key-value store, natively: the same SQLite table, the same statements, the same
//! encodings (counters as 8 little-endian bytes), so the native baseline pays for storage what
//! `spin up` pays, and the seeder can fill a database that `spin up` then serves.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use inbox_core::kv::{KeyValue, KvError};
use rusqlite::{params, Connection, OptionalExtension};

/// The store name Spin uses for `spin_sdk::key_value::Store::open_default()`.
pub const DEFAULT_STORE: &str = "default";

/// The file `spin up` keeps the default store in, under its state directory.
pub const SPIN_DB_FILE: &str = "sqlite_key_value.db";

/// One connection behind a lock, as Spin holds it.
#[derive(Debug, Clone)]
pub struct SqliteKv {
    connection: Arc<Mutex<Connection>>,
    store: String,
}

impl SqliteKv {
    /// Opens (creating if needed) the database at `path`, with Spin's table.
    pub fn open(path: &Path) -> Result<Self, KvError> {
        let connection = Connection::open(path).map_err(unavailable)?;
        connection
            .execute(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL,
                    key   TEXT NOT NULL,
                    value BLOB NOT NULL,
                    PRIMARY KEY (store, key)
                )",
                [],
            )
            .map_err(unavailable)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            store: DEFAULT_STORE.to_owned(),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, KvError> {
        self.connection
            .lock()
            .map_err(|_| KvError::Unavailable("the connection lock is poisoned".into()))
    }

    /// Writes many entries in one transaction (the seeder's bulk load).
    pub fn load(
        &self,
        entries: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction().map_err(unavailable)?;
        {
            let mut insert = transaction.prepare_cached(UPSERT).map_err(unavailable)?;
            for (key, value) in entries {
                insert
                    .execute(params![self.store, key, value])
                    .map_err(unavailable)?;
            }
        }
        transaction.commit().map_err(unavailable)
    }
}

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
     ON CONFLICT(store, key) DO UPDATE SET value=$3";

fn unavailable(error: rusqlite::Error) -> KvError {
    KvError::Unavailable(error.to_string())
}

fn read(connection: &Connection, store: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
    connection
        .prepare_cached("SELECT value FROM spin_key_value WHERE store=$1 AND key=$2")
        .map_err(unavailable)?
        .query_row(params![store, key], |row| row.get::<_, Vec<u8>>(0))
        .optional()
        .map_err(unavailable)
}

impl KeyValue for SqliteKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let connection = self.lock()?;
        read(&connection, &self.store, key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.lock()?
            .prepare_cached(UPSERT)
            .map_err(unavailable)?
            .execute(params![self.store, key, value])
            .map(drop)
            .map_err(unavailable)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        self.load(entries.iter().cloned())
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.lock()?
            .prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")
            .map_err(unavailable)?
            .execute(params![self.store, key])
            .map(drop)
            .map_err(unavailable)
    }

    #[cfg(kv_delete_many)] // see build.rs
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        // As Spin does it: one statement (Spin binds the keys as an array).
        let mut connection = self.lock()?;
        let transaction = connection.transaction().map_err(unavailable)?;
        for key in keys {
            transaction
                .prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")
                .map_err(unavailable)?
                .execute(params![self.store, key])
                .map_err(unavailable)?;
        }
        transaction.commit().map_err(unavailable)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        // As Spin does it: read, add, upsert, in one transaction under the connection lock.
        let mut connection = self.lock()?;
        let transaction = connection.transaction().map_err(unavailable)?;
        let current = match read(&transaction, &self.store, key)? {
            Some(bytes) => i64::from_le_bytes(
                bytes
                    .try_into()
                    .map_err(|_| KvError::Refused(format!("{key} does not hold a counter")))?,
            ),
            None => 0,
        };
        let next = current.saturating_add(delta);
        transaction
            .prepare_cached(UPSERT)
            .map_err(unavailable)?
            .execute(params![self.store, key, next.to_le_bytes()])
            .map_err(unavailable)?;
        transaction.commit().map_err(unavailable)?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn behaves_like_the_spin_store() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SqliteKv::open(&dir.path().join(SPIN_DB_FILE)).unwrap();
        assert_eq!(kv.get("a").unwrap(), None);
        kv.set("a", b"1").unwrap();
        assert_eq!(kv.get("a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(kv.increment("n", 2).unwrap(), 2);
        assert_eq!(kv.increment("n", 0).unwrap(), 2);
        // Spin's encoding, so `spin up` reads what the seeder wrote.
        assert_eq!(kv.get("n").unwrap(), Some(2i64.to_le_bytes().to_vec()));
        assert!(kv.increment("a", 1).is_err(), "not a counter");
        kv.delete("a").unwrap();
        assert_eq!(kv.get("a").unwrap(), None);
    }
}
