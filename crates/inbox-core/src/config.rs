//! Typed settings read from Spin variables.
//!
//! Components read variables through the [`Variables`] trait (Spin's variables API in
//! production, a map in tests). Every accessor returns a [`ConfigError`] that names the
//! variable, so a misconfiguration reads "variable `webhook_max_body_bytes` is malformed: ..."
//! in the readiness report, in the problem a client gets and in the log.
//!
//! Variable names are declared once, in [`names`], and must match `spin.toml`.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use thiserror::Error;

/// The application variables, as declared in `spin.toml`. (Each provider's secret variable,
/// `webhook_<provider>_secret`, is in the webhook component's provider table.)
pub mod names {
    /// Minimum level of log lines: `error`, `warn`, `info`, `debug` or `trace`.
    pub const LOG_LEVEL: &str = "log_level";
    /// Whitespace-separated bearer tokens for the API (several, to rotate without downtime).
    pub const API_TOKEN: &str = "api_token";
    /// Largest webhook body accepted, in bytes.
    pub const WEBHOOK_MAX_BODY_BYTES: &str = "webhook_max_body_bytes";
    /// How far a signed timestamp may be from now, in seconds, either way.
    pub const WEBHOOK_TIMESTAMP_TOLERANCE_SECS: &str = "webhook_timestamp_tolerance_secs";
    /// Where the webhook component asks for an event's first delivery attempts right after it
    /// stored the event: the forwarder's origin (`http://self` in one `spin up`; empty: do not
    /// ask, the dispatch tick sends them).
    pub const FORWARD_DISPATCH_URL: &str = "forward_dispatch_url";
    /// The credential the webhook and api components present to the forwarder's
    /// `POST /api/events/{id}/dispatch` (the forwarder also takes an API token there).
    pub const FORWARD_DISPATCH_TOKEN: &str = "forward_dispatch_token";
    /// Days a processed event is kept after it was marked processed.
    pub const RETENTION_PROCESSED_DAYS: &str = "retention_processed_days";
    /// Days a pending event is kept after it was received.
    pub const RETENTION_PENDING_DAYS: &str = "retention_pending_days";
    /// Most events kept in all, oldest pruned first (0: no cap).
    pub const RETENTION_MAX_EVENTS: &str = "retention_max_events";
    /// Days a pruned event's dedup record outlives its body, counted from its receipt.
    pub const RETENTION_DEDUP_DAYS: &str = "retention_dedup_days";
}

/// Why a variable could not be turned into a setting.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Neither the environment nor `spin.toml` gives the variable a value.
    #[error("variable `{name}` is not set")]
    Missing {
        /// The variable.
        name: String,
    },
    /// The variable has a value that is not what the setting needs.
    #[error("variable `{name}` is malformed: {reason}")]
    Malformed {
        /// The variable.
        name: String,
        /// What is wrong with its value (never the value itself: it may be a secret).
        reason: String,
    },
    /// The variables provider failed (for example a vault that did not answer).
    #[error("variable `{name}` could not be read: {reason}")]
    Unavailable {
        /// The variable.
        name: String,
        /// The provider's error.
        reason: String,
    },
}

impl ConfigError {
    /// The variable this error is about.
    pub fn variable(&self) -> &str {
        match self {
            Self::Missing { name }
            | Self::Malformed { name, .. }
            | Self::Unavailable { name, .. } => name,
        }
    }

    fn malformed(name: &str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Where variables come from.
pub trait Variables {
    /// The value of a variable; `Ok(None)` when it is not defined for this component.
    fn get(&self, name: &str) -> Result<Option<String>, ConfigError>;
}

/// Variables from a map: for tests and for tools.
#[derive(Debug, Clone, Default)]
pub struct StaticVariables(HashMap<String, String>);

impl StaticVariables {
    /// Variables from `(name, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        )
    }

    /// Sets one variable.
    pub fn set(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_owned(), value.to_owned());
    }
}

impl Variables for StaticVariables {
    fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.0.get(name).cloned())
    }
}

/// The variable's value, or [`ConfigError::Missing`].
pub fn required(vars: &dyn Variables, name: &str) -> Result<String, ConfigError> {
    vars.get(name)?.ok_or_else(|| ConfigError::Missing {
        name: name.to_owned(),
    })
}

/// A whole number within `min..=max`.
pub fn integer_in(
    vars: &dyn Variables,
    name: &str,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let raw = required(vars, name)?;
    let value: u64 = raw.trim().parse().map_err(|_| {
        ConfigError::malformed(name, format!("expected a whole number, got {raw:?}"))
    })?;
    if !(min..=max).contains(&value) {
        return Err(ConfigError::malformed(
            name,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(value)
}

/// A secret that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call sites are few and grep-able on purpose.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Whitespace-separated secrets: during a rotation the old and the new one are both valid. An
/// unset or blank variable gives an empty list, which callers treat as "feature disabled".
pub fn secret_list(vars: &dyn Variables, name: &str) -> Result<Vec<Secret>, ConfigError> {
    Ok(vars
        .get(name)?
        .unwrap_or_default()
        .split_whitespace()
        .map(Secret::new)
        .collect())
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// One line per request plus warnings and errors (the default).
    Info,
    /// Diagnostics.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The level from the `log_level` variable; unset means `info`.
    pub fn load(vars: &dyn Variables) -> Result<Self, ConfigError> {
        match vars.get(names::LOG_LEVEL)?.as_deref().map(str::trim) {
            None | Some("") => Ok(Self::Info),
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "error" => Ok(Self::Error),
                "warn" | "warning" => Ok(Self::Warn),
                "info" => Ok(Self::Info),
                "debug" => Ok(Self::Debug),
                "trace" => Ok(Self::Trace),
                _ => Err(ConfigError::malformed(
                    names::LOG_LEVEL,
                    format!("expected one of error, warn, info, debug, trace; got {text:?}"),
                )),
            },
        }
    }

    /// The matching `tracing` level.
    pub fn as_tracing(self) -> tracing::Level {
        match self {
            Self::Error => tracing::Level::ERROR,
            Self::Warn => tracing::Level::WARN,
            Self::Info => tracing::Level::INFO,
            Self::Debug => tracing::Level::DEBUG,
            Self::Trace => tracing::Level::TRACE,
        }
    }
}

/// The webhook limits every replica must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookLimits {
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// How far a signed timestamp may be from now, either way.
    pub timestamp_tolerance: Duration,
}

impl WebhookLimits {
    /// Default `webhook_max_body_bytes`: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
    /// Upper bound on `webhook_max_body_bytes`: 16 MiB. A body is held in memory twice (raw and
    /// stored), and Spin instances are small.
    pub const MAX_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
    /// Default `webhook_timestamp_tolerance_secs`: 300, as Stripe and Standard Webhooks advise.
    pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
    /// Upper bound on the tolerance: one day. Larger makes replay protection meaningless.
    pub const MAX_TOLERANCE_SECS: u64 = 86_400;

    /// Reads and validates both settings.
    pub fn load(vars: &dyn Variables) -> Result<Self, ConfigError> {
        let max_body_bytes = integer_in(
            vars,
            names::WEBHOOK_MAX_BODY_BYTES,
            1,
            Self::MAX_MAX_BODY_BYTES,
        )?;
        let tolerance = integer_in(
            vars,
            names::WEBHOOK_TIMESTAMP_TOLERANCE_SECS,
            1,
            Self::MAX_TOLERANCE_SECS,
        )?;
        Ok(Self {
            // Bounded by MAX_MAX_BODY_BYTES above, so this fits any usize we run on.
            max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
            timestamp_tolerance: Duration::from_secs(tolerance),
        })
    }
}

/// How long events are kept (enforced by `EventStore::prune_for` and `EventStore::sweep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// A processed event is removed this long after it was marked processed.
    pub processed: Duration,
    /// A pending event is removed this long after it was received.
    pub pending: Duration,
    /// At most this many events are kept (counted in sequence numbers); `None`: no cap.
    pub max_events: Option<u64>,
    /// A pruned event's dedup record is kept until this long after its receipt, so a provider
    /// retrying it within its retry window is still told "duplicate" (Stripe retries for up to
    /// 3 days, Svix about a day).
    pub dedup: Duration,
}

impl Retention {
    /// One day.
    const DAY: u64 = 86_400;
    /// Upper bound on every day count: ten years.
    const MAX_DAYS: u64 = 3_650;

    /// Reads and validates the four settings (unset means the spin.toml defaults: 30, 90,
    /// 100 000 and 3).
    pub fn load(vars: &dyn Variables) -> Result<Self, ConfigError> {
        let days = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(
                integer_or(vars, name, default, 1, Self::MAX_DAYS)? * Self::DAY,
            ))
        };
        let max_events = integer_or(vars, names::RETENTION_MAX_EVENTS, 100_000, 0, u64::MAX / 2)?;
        Ok(Self {
            processed: days(names::RETENTION_PROCESSED_DAYS, 30)?,
            pending: days(names::RETENTION_PENDING_DAYS, 90)?,
            max_events: (max_events > 0).then_some(max_events),
            // 0: a pruned event's redelivery is a new delivery (no dedup record is kept).
            dedup: Duration::from_secs(
                integer_or(vars, names::RETENTION_DEDUP_DAYS, 3, 0, Self::MAX_DAYS)? * Self::DAY,
            ),
        })
    }
}

/// A whole number within `min..=max`, or `default` when the variable is not defined for the
/// component or is blank.
pub fn integer_or(
    vars: &dyn Variables,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match vars.get(name)? {
        Some(value) if !value.trim().is_empty() => integer_in(vars, name, min, max),
        _ => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_has_defaults_and_bounds() {
        let defaults = Retention::load(&vars(&[])).unwrap();
        assert_eq!(defaults.processed, Duration::from_secs(30 * 86_400));
        assert_eq!(defaults.pending, Duration::from_secs(90 * 86_400));
        assert_eq!(defaults.max_events, Some(100_000));
        assert_eq!(defaults.dedup, Duration::from_secs(3 * 86_400));
        let uncapped = Retention::load(&vars(&[(names::RETENTION_MAX_EVENTS, "0")])).unwrap();
        assert_eq!(uncapped.max_events, None);
        let no_dedup = Retention::load(&vars(&[(names::RETENTION_DEDUP_DAYS, "0")])).unwrap();
        assert_eq!(no_dedup.dedup, Duration::ZERO);
        for (name, bad) in [
            (names::RETENTION_PROCESSED_DAYS, "0"),
            (names::RETENTION_PENDING_DAYS, "forever"),
            (names::RETENTION_DEDUP_DAYS, "99999"),
            (names::RETENTION_MAX_EVENTS, "-1"),
        ] {
            let error = Retention::load(&vars(&[(name, bad)])).unwrap_err();
            assert_eq!(error.variable(), name);
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> StaticVariables {
        StaticVariables::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn missing_variable_is_named() {
        let error = required(&vars(&[]), "api_token").unwrap_err();
        assert_eq!(error.to_string(), "variable `api_token` is not set");
        assert_eq!(error.variable(), "api_token");
    }

    #[test]
    fn integers_are_parsed_and_bounded() {
        let v = vars(&[("n", " 42 "), ("bad", "forty"), ("big", "1000")]);
        assert_eq!(integer_in(&v, "n", 1, 100), Ok(42));
        let error = integer_in(&v, "bad", 1, 100).unwrap_err();
        assert!(error.to_string().contains("`bad` is malformed"), "{error}");
        let error = integer_in(&v, "big", 1, 100).unwrap_err();
        assert!(error.to_string().contains("between 1 and 100"), "{error}");
    }

    #[test]
    fn secret_lists_split_on_whitespace_and_never_print() {
        let v = vars(&[("s", "  old-secret \n new-secret ")]);
        let secrets = secret_list(&v, "s").unwrap();
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets[1].expose(), "new-secret");
        assert!(!format!("{secrets:?}").contains("secret\""));
        assert!(!format!("{secrets:?}").contains("old-secret"));
        assert!(secret_list(&vars(&[]), "s").unwrap().is_empty());
    }

    #[test]
    fn webhook_limits_validate_both_settings() {
        let ok = vars(&[
            (names::WEBHOOK_MAX_BODY_BYTES, "1048576"),
            (names::WEBHOOK_TIMESTAMP_TOLERANCE_SECS, "300"),
        ]);
        let limits = WebhookLimits::load(&ok).unwrap();
        assert_eq!(limits.max_body_bytes, 1_048_576);
        assert_eq!(limits.timestamp_tolerance, Duration::from_secs(300));

        let bad = vars(&[
            (names::WEBHOOK_MAX_BODY_BYTES, "0"),
            (names::WEBHOOK_TIMESTAMP_TOLERANCE_SECS, "300"),
        ]);
        assert_eq!(
            WebhookLimits::load(&bad).unwrap_err().variable(),
            names::WEBHOOK_MAX_BODY_BYTES
        );
    }

    #[test]
    fn log_level_defaults_to_info_and_rejects_nonsense() {
        assert_eq!(LogLevel::load(&vars(&[])), Ok(LogLevel::Info));
        assert_eq!(
            LogLevel::load(&vars(&[(names::LOG_LEVEL, "DEBUG")])),
            Ok(LogLevel::Debug)
        );
        assert!(LogLevel::load(&vars(&[(names::LOG_LEVEL, "loud")])).is_err());
    }
}
