//! Prints the catalogue as JSON, one object per row in the order of `Provider::ALL`: what
//! `tools/provider-lists` derives the hand-read lists from (spin.toml's variables, the SpinApps',
//! the collector's mapping, docs/providers.md). `cargo run -q -p provider-catalogue --bin catalogue`.
#![allow(clippy::print_stdout)]

use provider_catalogue::{specs, Proof, Scheme, SecretFormat};

fn main() {
    let rows: Vec<serde_json::Value> = specs()
        .map(|(provider, spec)| {
            serde_json::json!({
                "slug": provider.as_str(),
                "name": provider.name(),
                "docs": provider.docs(),
                "family": spec.scheme.family(),
                "secret_variable": provider.secret_variable(),
                "secret_format": match (spec.secret_format, spec.scheme) {
                    (_, Scheme::Basic) => "basic",
                    (SecretFormat::Text, _) => "text",
                    (SecretFormat::StandardWebhooks, _) => "standard-webhooks",
                    (SecretFormat::Base64, _) => "base64",
                },
                "handshake": spec.handshake.map(|handshake| handshake.name()),
                "proof": spec.proof.kind(),
                "sdk": match spec.proof {
                    Proof::Sdk(package) => Some(package),
                    Proof::Published | Proof::Computed => None,
                },
            })
        })
        .collect();
    println!("{}", serde_json::Value::Array(rows));
}
