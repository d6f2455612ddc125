//! What differs between providers is data: one row per provider in `provider-catalogue`. What
//! the webhook component does with a row lives here: reading its secrets, verifying with its
//! scheme, reading the payload and the delivery id, event type and action from where the row
//! says, and answering its handshakes.
//!
//! Adding a provider is its row (and its test vectors) in `provider-catalogue`; everything else
//! that lists providers is derived from `Provider::ALL` or checked against it by a test
//! (docs/architecture.md, "Adding a provider").

mod extract;
mod handshake;
mod secrets;
pub mod sources;
mod verifiers;

pub use extract::{identify, payload, redact_token, Identity, REDACTED};
pub use handshake::{after_verification, before_verification, handed_over, post_challenge, Answer};
pub use inbox_core::events::Provider;
pub use provider_catalogue::{BodyFormat, Field, Handshake, SecretFormat, Spec, FORM, JSON};
pub use secrets::{Key, Secrets};
pub use verifiers::{verify_labelled, verify_problem, Signed};

/// The provider's row.
pub fn spec(provider: Provider) -> &'static Spec {
    provider.spec()
}

/// The variables the webhook component reads for its providers: one per provider.
pub fn secret_variables() -> impl Iterator<Item = &'static str> {
    Provider::ALL
        .iter()
        .map(|provider| provider.secret_variable())
}

#[cfg(test)]
mod tests;
