//! The providers webhook-inbox verifies, one row each in [`catalogue`]: its name, where its
//! signing is documented, its [`Scheme`] (as data, interpreted by `webhook-verify`), what its
//! secrets look like, its media types, where its delivery id, event type and action are, the
//! handshake it expects, and how the row is proven.
//!
//! The same macro declares [`Provider`] and the table, so a provider is its row (and its test
//! vectors); everything else that lists providers (spin.toml's variables, the manifests, the
//! collector, the docs, the API's catalogue) is derived from [`Provider::ALL`] or checked against
//! it by a test.
#![forbid(unsafe_code)]

mod catalogue;
mod spec;

pub use catalogue::Provider;
pub use spec::{BodyFormat, Field, Handshake, Proof, SecretFormat, Spec, FORM, JSON};
pub use webhook_verify::scheme::Scheme;

impl Provider {
    /// The provider named `name`, if we support it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|provider| provider.as_str() == name)
    }

    /// Its position in [`Provider::ALL`] (for tables indexed by provider).
    pub fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|provider| *provider == self)
            .unwrap_or_default()
    }

    /// The provider names, comma-separated, for messages.
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|provider| provider.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Its row.
    // `catalogue::SPECS` has `Provider::ALL.len()` entries and `index()` is a position in
    // `Provider::ALL`.
    #[allow(clippy::indexing_slicing)]
    pub fn spec(self) -> &'static Spec {
        &catalogue::SPECS[self.index()]
    }
}

impl serde::Serialize for Provider {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Provider {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format_args!("unknown provider {name:?}"))
        })
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Provider {
    /// Whether this is the row of the generic sources (configured at run time, not a provider).
    pub const fn is_generic(self) -> bool {
        matches!(self, Self::Source)
    }

    /// The named providers: every row but the generic sources'.
    pub fn named() -> impl Iterator<Item = Provider> {
        Self::ALL.iter().copied().filter(|provider| !provider.is_generic())
    }
}

/// Every row, in the order of [`Provider::ALL`].
pub fn specs() -> impl Iterator<Item = (Provider, &'static Spec)> {
    Provider::ALL
        .iter()
        .map(|provider| (*provider, provider.spec()))
}

#[cfg(test)]
mod tests;
