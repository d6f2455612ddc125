//! Spin variables as [`Variables`].

use inbox_core::config::{ConfigError, Variables};
use spin_sdk::variables::{self, Error};

/// Reads the component's variables from the Spin host.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpinVariables;

impl Variables for SpinVariables {
    fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match variables::get(name) {
            Ok(value) => Ok(Some(value)),
            // Not granted to this component in spin.toml, or no value from any provider.
            Err(Error::Undefined(_)) => Ok(None),
            Err(Error::InvalidName(reason)) => Err(ConfigError::Malformed {
                name: name.to_owned(),
                reason: format!("not a valid variable name: {reason}"),
            }),
            Err(Error::Provider(reason) | Error::Other(reason)) => Err(ConfigError::Unavailable {
                name: name.to_owned(),
                reason,
            }),
        }
    }
}
