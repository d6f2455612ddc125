//! What differs between providers: where the secret comes from, how the signature is checked,
//! which media types are accepted, where the delivery id and event type are, and which headers a
//! consumer needs to re-verify a stored delivery.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use shared::config::{self, names, ConfigError, Secret, Variables};
use shared::events::{DeliveryId, EventType, Provider};
use shared::http::Headers;
use shared::problem::{FieldError, Problem, ProblemKind};
use webhook_verify::{github, standard, stripe, VerifyError};

/// JSON.
pub const JSON: &str = "application/json";
/// GitHub's alternative delivery format: a form with the JSON in its `payload` field.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// The variable holding a provider's secrets.
pub fn secret_variable(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => names::WEBHOOK_GITHUB_SECRET,
        Provider::Stripe => names::WEBHOOK_STRIPE_SECRET,
        Provider::Standard => names::WEBHOOK_STANDARD_SECRET,
    }
}

/// Media types a provider sends.
pub fn media_types(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Github => &[JSON, FORM],
        Provider::Stripe | Provider::Standard => &[JSON],
    }
}

/// The headers kept with a stored event: everything needed to re-verify it, plus the ids.
pub fn kept_headers(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Github => &[
            "content-type",
            "user-agent",
            "x-github-delivery",
            "x-github-event",
            "x-github-hook-id",
            "x-github-hook-installation-target-id",
            "x-github-hook-installation-target-type",
            github::SIGNATURE_HEADER,
        ],
        Provider::Stripe => &["content-type", "user-agent", stripe::SIGNATURE_HEADER],
        Provider::Standard => &[
            "content-type",
            "user-agent",
            standard::ID_HEADER,
            standard::TIMESTAMP_HEADER,
            standard::SIGNATURE_HEADER,
        ],
    }
}

/// A provider's configured secrets.
#[derive(Debug)]
pub enum Secrets {
    /// Shared secrets used as HMAC keys as they are (GitHub, Stripe).
    Hmac(Vec<Secret>),
    /// Decoded Standard Webhooks keys.
    Standard(Vec<standard::Key>),
}

impl Secrets {
    /// Reads and validates the provider's secrets; an empty list means "not configured".
    pub fn load(provider: Provider, vars: &dyn Variables) -> Result<Self, ConfigError> {
        let name = secret_variable(provider);
        let secrets = config::secret_list(vars, name)?;
        match provider {
            Provider::Github | Provider::Stripe => Ok(Self::Hmac(secrets)),
            Provider::Standard => secrets
                .iter()
                .map(|secret| standard::Key::parse(secret.expose()))
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Standard)
                .map_err(|error| ConfigError::Malformed {
                    name: name.to_owned(),
                    reason: error.to_string(),
                }),
        }
    }

    /// Whether no secret is configured.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Hmac(secrets) => secrets.is_empty(),
            Self::Standard(keys) => keys.is_empty(),
        }
    }
}

/// Checks the signature of a delivery.
pub fn verify(
    provider: Provider,
    secrets: &Secrets,
    headers: &Headers,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    match secrets {
        Secrets::Hmac(secrets) => {
            let keys: Vec<&[u8]> = secrets.iter().map(|s| s.expose().as_bytes()).collect();
            match provider {
                Provider::Stripe => stripe::verify(
                    headers.get(stripe::SIGNATURE_HEADER),
                    body,
                    &keys,
                    now,
                    tolerance,
                ),
                // Standard secrets never load as `Hmac`; GitHub is the remaining case.
                Provider::Github | Provider::Standard => {
                    github::verify(headers.get(github::SIGNATURE_HEADER), body, &keys)
                }
            }
        }
        Secrets::Standard(keys) => {
            let keys: Vec<&standard::Key> = keys.iter().collect();
            let signed = standard::SignedHeaders {
                id: headers.get(standard::ID_HEADER),
                timestamp: headers.get(standard::TIMESTAMP_HEADER),
                signature: headers.get(standard::SIGNATURE_HEADER),
            };
            standard::verify(signed, body, &keys, now, tolerance)
        }
    }
}

/// The problem for a failed verification: 400 for a malformed or missing header, 401 otherwise.
pub fn verify_problem(error: &VerifyError) -> Problem {
    let header = match error {
        VerifyError::MissingHeader(header) | VerifyError::MalformedHeader { header, .. } => {
            Some(*header)
        }
        _ => None,
    };
    match header {
        Some(header) => {
            Problem::of(ProblemKind::InvalidSignatureHeader, error.to_string()).with_error(
                FieldError::new(format!("header:{header}"), error.to_string()),
            )
        }
        None => Problem::of(ProblemKind::SignatureMismatch, error.to_string())
            .with_header("www-authenticate", "Signature realm=\"webhooks\""),
    }
}

/// The JSON payload of a verified body: the body itself, or GitHub's form field `payload`.
pub fn payload(media_type: &str, body: &str) -> Result<Box<RawValue>, Problem> {
    let (json, field) = if media_type == FORM {
        let payload = form_urlencoded::parse(body.as_bytes())
            .find(|(name, _)| name == "payload")
            .map(|(_, value)| value.into_owned())
            .ok_or_else(|| {
                Problem::invalid(
                    "the form has no payload field",
                    vec![FieldError::new("form:payload", "missing")],
                )
            })?;
        (payload, "form:payload")
    } else {
        (body.to_owned(), "body")
    };
    let value: Box<RawValue> = serde_json::from_str(&json).map_err(|error| {
        Problem::invalid(
            format!("the payload is not valid JSON: {error}"),
            vec![FieldError::new(field, error.to_string())],
        )
    })?;
    if !value.get().trim_start().starts_with('{') {
        return Err(Problem::invalid(
            "the payload must be a JSON object",
            vec![FieldError::new(field, "not an object")],
        ));
    }
    Ok(value)
}

/// Where the delivery id and event type are, per provider.
pub fn identify(
    provider: Provider,
    headers: &Headers,
    payload: &RawValue,
) -> Result<(DeliveryId, EventType), Problem> {
    #[derive(Deserialize)]
    struct Envelope {
        id: Option<serde_json::Value>,
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
    }
    let envelope: Envelope = serde_json::from_str(payload.get()).map_err(|error| {
        Problem::invalid(format!("the payload could not be read: {error}"), vec![])
    })?;
    let from_header = |name: &str| -> Result<String, FieldError> {
        headers
            .get(name)
            .map(str::to_owned)
            .ok_or_else(|| FieldError::new(format!("header:{name}"), "missing"))
    };
    let from_body =
        |value: Option<serde_json::Value>, pointer: &str| -> Result<String, FieldError> {
            match value {
                Some(serde_json::Value::String(text)) => Ok(text),
                Some(_) => Err(FieldError::new(pointer, "must be a string")),
                None => Err(FieldError::new(pointer, "missing")),
            }
        };
    let (delivery, kind) = match provider {
        Provider::Github => (
            from_header("x-github-delivery"),
            from_header("x-github-event"),
        ),
        Provider::Stripe => (
            from_body(envelope.id, "/id"),
            from_body(envelope.kind, "/type"),
        ),
        Provider::Standard => (
            from_header(standard::ID_HEADER),
            from_body(envelope.kind, "/type"),
        ),
    };
    let mut errors = Vec::new();
    let delivery = delivery.map_err(|e| errors.push(e)).ok().and_then(|text| {
        DeliveryId::parse(&text)
            .map_err(|e| errors.push(FieldError::new(delivery_field(provider), e.to_string())))
            .ok()
    });
    let kind = kind.map_err(|e| errors.push(e)).ok().and_then(|text| {
        EventType::parse(&text)
            .map_err(|e| errors.push(FieldError::new(type_field(provider), e.to_string())))
            .ok()
    });
    match (delivery, kind) {
        (Some(delivery), Some(kind)) => Ok((delivery, kind)),
        _ => Err(Problem::invalid(
            "the delivery id or event type is missing or invalid",
            errors,
        )),
    }
}

fn delivery_field(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => "header:x-github-delivery",
        Provider::Stripe => "/id",
        Provider::Standard => "header:webhook-id",
    }
}

fn type_field(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => "header:x-github-event",
        Provider::Stripe | Provider::Standard => "/type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::StaticVariables;

    #[test]
    fn standard_secrets_must_decode() {
        let vars = StaticVariables::from_pairs([(names::WEBHOOK_STANDARD_SECRET, "whsec_!!")]);
        let error = Secrets::load(Provider::Standard, &vars).unwrap_err();
        assert_eq!(error.variable(), names::WEBHOOK_STANDARD_SECRET);
        assert!(
            !error.to_string().contains("!!"),
            "never echo a secret: {error}"
        );
    }

    #[test]
    fn unset_secrets_mean_not_configured() {
        for provider in Provider::ALL {
            assert!(Secrets::load(provider, &StaticVariables::default())
                .unwrap()
                .is_empty());
        }
    }

    #[test]
    fn github_forms_carry_json_in_payload() {
        let json = payload(FORM, "payload=%7B%22zen%22%3A%22ok%22%7D&other=1").unwrap();
        assert_eq!(json.get(), r#"{"zen":"ok"}"#);
        assert_eq!(
            payload(FORM, "other=1").unwrap_err().errors()[0].field,
            "form:payload"
        );
        assert!(payload(FORM, "payload=nope").is_err());
    }

    #[test]
    fn payload_must_be_a_json_object() {
        assert!(payload(JSON, " {\"a\":1}").is_ok());
        for bad in ["", "[1]", "\"text\"", "{", "{\"a\":1} trailing"] {
            assert_eq!(
                payload(JSON, bad).unwrap_err().status(),
                shared::http::StatusCode::BAD_REQUEST,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn identify_names_each_missing_field() {
        let json = payload(JSON, r#"{"id": 5}"#).unwrap();
        let problem = identify(Provider::Stripe, &Headers::new(), &json).unwrap_err();
        let fields: Vec<_> = problem.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["/id", "/type"]);

        let problem = identify(Provider::Github, &Headers::new(), &json).unwrap_err();
        let fields: Vec<_> = problem.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["header:x-github-delivery", "header:x-github-event"]
        );
    }

    #[test]
    fn identify_reads_each_providers_locations() {
        let mut headers = Headers::new();
        headers.insert("x-github-delivery", "d-1");
        headers.insert("x-github-event", "push");
        headers.insert("webhook-id", "msg_1");
        let json = payload(JSON, r#"{"id":"evt_1","type":"invoice.paid"}"#).unwrap();
        let (d, t) = identify(Provider::Github, &headers, &json).unwrap();
        assert_eq!((d.as_str(), t.as_str()), ("d-1", "push"));
        let (d, t) = identify(Provider::Stripe, &headers, &json).unwrap();
        assert_eq!((d.as_str(), t.as_str()), ("evt_1", "invoice.paid"));
        let (d, t) = identify(Provider::Standard, &headers, &json).unwrap();
        assert_eq!((d.as_str(), t.as_str()), ("msg_1", "invoice.paid"));
    }
}
