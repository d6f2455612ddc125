//! A provider's secrets: a whitespace-separated list in one variable, several during a rotation,
//! each optionally labelled `label=secret` so that the event records which sender it came from.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use inbox_core::config::{ConfigError, Secret, Variables};
use inbox_core::events::SourceLabel;
use webhook_verify::standard;

pub use provider_catalogue::SecretFormat;

/// A decoded key. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    /// The key's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// The secret, decoded as `format` says, or why it cannot be.
fn decode(format: SecretFormat, secret: &str) -> Result<Key, String> {
    match format {
        SecretFormat::Text => Ok(Key(secret.as_bytes().to_vec())),
        SecretFormat::StandardWebhooks => standard::Key::parse(secret)
            .map(|key| Key(key.as_bytes().to_vec()))
            .map_err(|error| error.to_string()),
        SecretFormat::Base64 => BASE64
            .decode(secret)
            .ok()
            .filter(|key| !key.is_empty())
            .map(Key)
            .ok_or_else(|| "the secret is not base64".to_owned()),
    }
}

/// One configured secret and its label.
#[derive(Debug)]
pub struct Labelled<K> {
    /// The label (`label=` before the secret), if any.
    pub label: Option<SourceLabel>,
    /// The key.
    pub key: K,
}

/// A provider's configured secrets.
#[derive(Debug)]
pub enum Secrets {
    /// Used as HMAC keys as they are.
    Text(Vec<Labelled<Secret>>),
    /// Decoded keys (Standard Webhooks, base64).
    Decoded(Vec<Labelled<Key>>),
}

impl Secrets {
    /// Reads and validates the secrets in `variable`; an empty list means "not configured".
    ///
    /// An entry is `label=secret` when what comes before its first `=` is made only of `a-z`,
    /// `0-9` and `-` (the label must then be valid: 1 to 32 characters, not starting with `-`),
    /// otherwise the whole entry is the secret (a base64 secret's `==` stays part of it). `=secret`
    /// is an unlabelled secret that contains `=`. Errors name the variable and the entry's
    /// position, never its text.
    pub fn load(
        variable: &str,
        format: SecretFormat,
        vars: &dyn Variables,
    ) -> Result<Self, ConfigError> {
        let text = vars.get(variable)?.unwrap_or_default();
        Self::parse(variable, format, &mut text.split_whitespace())
    }

    /// Validates the entries of `variable` (as [`Secrets::load`] reads them). A `dyn` iterator:
    /// one copy of this function for both callers (900 bytes of the component).
    pub fn parse(
        variable: &str,
        format: SecretFormat,
        entries: &mut dyn Iterator<Item = &str>,
    ) -> Result<Self, ConfigError> {
        let malformed = |reason: String| ConfigError::Malformed {
            name: variable.to_owned(),
            reason,
        };
        let mut labelled = Vec::new();
        for (position, entry) in entries.enumerate() {
            let (label, secret) = match entry.split_once('=') {
                Some((label, secret))
                    if label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
                {
                    let label = if label.is_empty() {
                        None
                    } else {
                        Some(SourceLabel::parse(label).map_err(|error| {
                            malformed(format!("entry {}: {error}", position + 1))
                        })?)
                    };
                    (label, secret)
                }
                _ => (None, entry),
            };
            if secret.is_empty() {
                return Err(malformed(format!(
                    "entry {}: the secret after `label=` is empty",
                    position + 1
                )));
            }
            labelled.push((label, secret));
        }
        match format {
            SecretFormat::Text => Ok(Self::Text(
                labelled
                    .into_iter()
                    .map(|(label, secret)| Labelled {
                        label,
                        key: Secret::new(secret),
                    })
                    .collect(),
            )),
            SecretFormat::StandardWebhooks | SecretFormat::Base64 => labelled
                .into_iter()
                .enumerate()
                .map(|(position, (label, secret))| {
                    decode(format, secret)
                        .map(|key| Labelled { label, key })
                        .map_err(|error| malformed(format!("entry {}: {error}", position + 1)))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Decoded),
        }
    }

    /// The keys, as a scheme uses them.
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            Self::Text(secrets) => secrets.iter().map(|s| s.key.expose().as_bytes()).collect(),
            Self::Decoded(keys) => keys.iter().map(|k| k.key.as_slice()).collect(),
        }
    }

    /// Whether no secret is configured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many secrets are configured.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(secrets) => secrets.len(),
            Self::Decoded(keys) => keys.len(),
        }
    }

    /// The label of the secret at `position`.
    pub fn label(&self, position: usize) -> Option<&SourceLabel> {
        match self {
            Self::Text(secrets) => secrets.get(position)?.label.as_ref(),
            Self::Decoded(keys) => keys.get(position)?.label.as_ref(),
        }
    }

    /// Whether telling which secret verified a delivery can change its recorded source (more
    /// than one secret, and some labelled).
    pub fn labels_matter(&self) -> bool {
        self.len() > 1 && (0..self.len()).any(|position| self.label(position).is_some())
    }

    /// The secret at `position` alone.
    pub fn only(&self, position: usize) -> Self {
        match self {
            Self::Text(secrets) => Self::Text(
                secrets
                    .get(position)
                    .map(|s| Labelled {
                        label: s.label.clone(),
                        key: s.key.clone(),
                    })
                    .into_iter()
                    .collect(),
            ),
            Self::Decoded(keys) => Self::Decoded(
                keys.get(position)
                    .map(|k| Labelled {
                        label: k.label.clone(),
                        key: k.key.clone(),
                    })
                    .into_iter()
                    .collect(),
            ),
        }
    }
}
