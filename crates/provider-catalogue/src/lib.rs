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
        Self::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown provider {name:?}")))
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
        Self::ALL
            .iter()
            .copied()
            .filter(|provider| !provider.is_generic())
    }
}

/// What the API's catalogue shows of a row: its strings alone, computed from the row at compile
/// time, so a component that lists the catalogue does not link the rows themselves (their
/// schemes, fields and media types: 10 KB of the api component, measured). Not the docs URLs
/// (5 KB): the API does not list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    /// [`Provider::name`].
    pub name: &'static str,
    /// The scheme's family ([`Scheme::family`]).
    pub scheme_family: &'static str,
    /// The handshake's name ([`Handshake::name`]), if it has one.
    pub handshake: Option<&'static str>,
    /// The proof's kind ([`Proof::kind`]).
    pub proof: &'static str,
}

/// One [`Listing`] per row, in the order of [`Provider::ALL`].
// Evaluated at compile time: an index out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
static LISTINGS: [Listing; catalogue::SPECS.len()] = {
    let mut listings = [Listing {
        name: "",
        scheme_family: "",
        handshake: None,
        proof: "",
    }; catalogue::SPECS.len()];
    let mut index = 0;
    while index < catalogue::SPECS.len() {
        let spec = &catalogue::SPECS[index];
        listings[index] = Listing {
            name: Provider::ALL[index].name(),
            scheme_family: spec.scheme.family(),
            handshake: match spec.handshake {
                Some(handshake) => Some(handshake.name()),
                None => None,
            },
            proof: spec.proof.kind(),
        };
        index += 1;
    }
    listings
};

impl Provider {
    /// What the API's catalogue shows of its row.
    // `LISTINGS` has `Provider::ALL.len()` entries, like `SPECS`.
    #[allow(clippy::indexing_slicing)]
    pub fn listing(self) -> &'static Listing {
        &LISTINGS[self.index()]
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
