//! What differs between providers, as data: one [`Spec`] per provider in [`SPECS`], in the order
//! of [`Provider::ALL`]. Everything the webhook component does per provider is a read of that
//! table: which variable holds its secrets, how a signature is checked, which media types it
//! sends, which headers a consumer needs to re-verify a stored delivery, and where its delivery
//! id, event type and action are (a header, or a JSON pointer into the payload).
//!
//! Adding a provider (docs/architecture.md, "Adding a provider", has every step and the test that
//! catches each one left out): its line in `inbox_core::events::Provider`, its verifier module in
//! `webhook-verify` with the provider's test vectors, its function in `verifiers.rs` and its entry
//! here (the table's length is `Provider::ALL.len()`, so one without the other does not compile,
//! and a test checks they line up), its secret variable in spin.toml, the kustomize manifests and
//! the dev secrets example, its end-to-end test secret and signer, the collector's label, and the
//! docs' provider lists. Each of those is checked against `Provider::ALL` or this table's
//! [`secret_variables`]; `scripts/dev` and obscheck derive their lists.

mod extract;
mod secrets;
mod verifiers;

use inbox_core::events::Provider;
use webhook_verify::{github, linear, shopify, slack, standard, stripe};

pub use extract::{handshake_answer, identify, payload, Identity};
pub use secrets::{SecretFormat, Secrets};
pub use verifiers::{verify_labelled, verify_problem, Signed, Verifier};

/// JSON.
pub const JSON: &str = "application/json";
/// GitHub's alternative delivery format: a form with the JSON in its `payload` field.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// Where a value of a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A request header (lower-case name).
    Header(&'static str),
    /// A JSON pointer (RFC 6901) into the payload; the value must be a string.
    Json(&'static str),
}

impl Field {
    /// How problems name it: `header:x-github-delivery`, or the pointer itself (`/id`).
    pub fn name(self) -> String {
        match self {
            Self::Header(name) => format!("header:{name}"),
            Self::Json(pointer) => pointer.to_owned(),
        }
    }
}

/// A request that is answered without being stored, once its signature verified: Slack's
/// `url_verification`, whose `challenge` must be echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Where the payload says what it is.
    pub kind: &'static str,
    /// The value of `kind` that makes it a handshake.
    pub value: &'static str,
    /// The string to answer with, as `text/plain`.
    pub echo: &'static str,
}

/// One provider.
#[derive(Debug)]
pub struct Spec {
    /// Which provider this entry is for (checked against `Provider::ALL`'s order).
    pub provider: Provider,
    /// The variable holding its secrets (a whitespace-separated list, `label=secret` entries).
    pub secret_variable: &'static str,
    /// What its secrets look like.
    pub secret_format: SecretFormat,
    /// How its signature is checked.
    pub verifier: Verifier,
    /// Media types it sends.
    pub media_types: &'static [&'static str],
    /// The headers kept with a stored event: everything needed to re-verify it, plus the ids.
    pub kept_headers: &'static [&'static str],
    /// Where its delivery id is.
    pub delivery_id: Field,
    /// Where its event type is, and whether a delivery must have one.
    pub event_type: Field,
    /// Whether a delivery without an event type is refused (400) rather than stored untyped.
    pub type_required: bool,
    /// Where the action within the type is, if the provider has one (recorded when present and
    /// a string).
    pub action: Option<Field>,
    /// A request to answer without storing it.
    pub handshake: Option<Handshake>,
}

/// Every provider, in the order of [`Provider::ALL`].
pub const SPECS: [Spec; Provider::ALL.len()] = [
    Spec {
        provider: Provider::Github,
        secret_variable: "webhook_github_secret",
        secret_format: SecretFormat::Text,
        verifier: verifiers::github,
        media_types: &[JSON, FORM],
        kept_headers: &[
            "content-type",
            "user-agent",
            "x-github-delivery",
            "x-github-event",
            "x-github-hook-id",
            "x-github-hook-installation-target-id",
            "x-github-hook-installation-target-type",
            github::SIGNATURE_HEADER,
        ],
        delivery_id: Field::Header("x-github-delivery"),
        event_type: Field::Header("x-github-event"),
        type_required: true,
        action: Some(Field::Json("/action")),
        handshake: None,
    },
    Spec {
        provider: Provider::Stripe,
        secret_variable: "webhook_stripe_secret",
        secret_format: SecretFormat::Text,
        verifier: verifiers::stripe,
        media_types: &[JSON],
        kept_headers: &["content-type", "user-agent", stripe::SIGNATURE_HEADER],
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/type"),
        type_required: true,
        action: None,
        handshake: None,
    },
    Spec {
        provider: Provider::Standard,
        secret_variable: "webhook_standard_secret",
        secret_format: SecretFormat::StandardWebhooks,
        verifier: verifiers::standard_webhooks,
        media_types: &[JSON],
        kept_headers: &[
            "content-type",
            "user-agent",
            standard::ID_HEADER,
            standard::TIMESTAMP_HEADER,
            standard::SIGNATURE_HEADER,
        ],
        delivery_id: Field::Header(standard::ID_HEADER),
        // The specification only recommends a `type`.
        event_type: Field::Json("/type"),
        type_required: false,
        action: None,
        handshake: None,
    },
    Spec {
        provider: Provider::Shopify,
        secret_variable: "webhook_shopify_secret",
        secret_format: SecretFormat::Text,
        verifier: verifiers::shopify,
        media_types: &[JSON],
        kept_headers: &[
            "content-type",
            "user-agent",
            shopify::WEBHOOK_ID_HEADER,
            shopify::TOPIC_HEADER,
            shopify::SHOP_DOMAIN_HEADER,
            shopify::TRIGGERED_AT_HEADER,
            "x-shopify-api-version",
            shopify::SIGNATURE_HEADER,
        ],
        delivery_id: Field::Header(shopify::WEBHOOK_ID_HEADER),
        event_type: Field::Header(shopify::TOPIC_HEADER),
        type_required: true,
        action: None,
        handshake: None,
    },
    Spec {
        provider: Provider::Slack,
        secret_variable: "webhook_slack_secret",
        secret_format: SecretFormat::Text,
        verifier: verifiers::slack,
        media_types: &[JSON],
        kept_headers: &[
            "content-type",
            "user-agent",
            slack::TIMESTAMP_HEADER,
            slack::SIGNATURE_HEADER,
            slack::RETRY_NUM_HEADER,
            slack::RETRY_REASON_HEADER,
        ],
        // An `event_callback`'s id; Slack's retries (`X-Slack-Retry-Num`) carry the same one, so
        // they are duplicates.
        delivery_id: Field::Json("/event_id"),
        event_type: Field::Json("/event/type"),
        type_required: true,
        action: None,
        handshake: Some(Handshake {
            kind: "/type",
            value: "url_verification",
            echo: "/challenge",
        }),
    },
    Spec {
        provider: Provider::Linear,
        secret_variable: "webhook_linear_secret",
        secret_format: SecretFormat::Text,
        verifier: verifiers::linear,
        media_types: &[JSON],
        kept_headers: &[
            "content-type",
            "user-agent",
            linear::DELIVERY_HEADER,
            linear::EVENT_HEADER,
            linear::SIGNATURE_HEADER,
        ],
        delivery_id: Field::Header(linear::DELIVERY_HEADER),
        event_type: Field::Header(linear::EVENT_HEADER),
        type_required: true,
        action: Some(Field::Json("/action")),
        handshake: None,
    },
];

/// The provider's entry.
// `SPECS` has `Provider::ALL.len()` entries and `index()` is a position in `Provider::ALL`, so
// the index is always in range (and the entry is the provider's: tested).
#[allow(clippy::indexing_slicing)]
pub fn spec(provider: Provider) -> &'static Spec {
    &SPECS[provider.index()]
}

/// The variables the webhook component reads for its providers: one per provider.
pub fn secret_variables() -> impl Iterator<Item = &'static str> {
    SPECS.iter().map(|spec| spec.secret_variable)
}

#[cfg(test)]
mod tests;
