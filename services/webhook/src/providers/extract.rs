//! Reading a verified body: the JSON payload, and the delivery id, event type and action from
//! where the provider's row says they are.

use inbox_core::events::{DeliveryId, EventAction, EventType};
use inbox_core::http::Headers;
use inbox_core::problem::{FieldError, Problem};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use webhook_verify::scheme::{Scheme, Token};

use super::{BodyFormat, Field, Spec, FORM};

/// The JSON payload of a verified body, as the row's body format says: the body itself (an
/// object, or for batching senders an array), GitHub's form field `payload`, or a form's fields
/// as an object.
pub fn payload(format: BodyFormat, media_type: &str, body: &str) -> Result<Box<RawValue>, Problem> {
    let (json, field) = match (format, media_type == FORM) {
        (BodyFormat::JsonOrFormPayload, true) => {
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
        }
        (BodyFormat::Form, _) => {
            // An object of the fields in order; a repeated field keeps its last value (a JSON
            // reader takes the last of duplicate members).
            let pairs: Vec<_> = form_urlencoded::parse(body.as_bytes()).collect();
            let json = json_object(&mut pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref())));
            return RawValue::from_string(json).map_err(|error| {
                Problem::invalid(
                    "the form cannot be read",
                    vec![FieldError::new("body", error.to_string())],
                )
            });
        }
        _ => (body.to_owned(), "body"),
    };
    let value: Box<RawValue> = serde_json::from_slice(json.as_bytes()).map_err(|error| {
        Problem::invalid(
            format!("the payload is not valid JSON: {error}"),
            vec![FieldError::new(field, error.to_string())],
        )
    })?;
    let text = value.get().trim_start();
    let shape_ok =
        text.starts_with('{') || (format == BodyFormat::JsonAny && text.starts_with('['));
    if !shape_ok {
        let expected = if format == BodyFormat::JsonAny {
            "the payload must be a JSON object or array"
        } else {
            "the payload must be a JSON object"
        };
        return Err(Problem::invalid(
            expected,
            vec![FieldError::new(field, "not an object")],
        ));
    }
    Ok(value)
}

/// What a delivery says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's delivery id.
    pub delivery_id: DeliveryId,
    /// Its event type, if it has one.
    pub event_type: Option<EventType>,
    /// The action within the type, if the provider has one and the delivery says.
    pub action: Option<EventAction>,
}

pub(super) use webhook_verify::json::Found;

fn find(field: Field, headers: &Headers, payload: &RawValue, body: &[u8]) -> Found {
    match field {
        Field::Header(name) => headers
            .get(name)
            .map_or(Found::Missing, |value| Found::Text(value.to_owned())),
        Field::Json(pointer) => pointer_text(payload, pointer),
        Field::BodyDigest => Found::Text(hex::encode(Sha256::digest(body))),
        Field::Absent => Found::Missing,
    }
}

/// The string (or whole number) at a JSON pointer of the payload.
pub(super) fn pointer_text(payload: &RawValue, pointer: &str) -> Found {
    webhook_verify::json::text_at(payload.get(), pointer)
}

/// The delivery id (required), the event type (required where the provider always sends one)
/// and the action (recorded when present and a string). Every missing or invalid one is named.
pub fn identify(
    spec: &Spec,
    headers: &Headers,
    payload: &RawValue,
    body: &[u8],
) -> Result<Identity, Problem> {
    let mut errors = Vec::new();
    let delivery_id = match find(spec.delivery_id, headers, payload, body) {
        Found::Text(text) => DeliveryId::parse(&text)
            .map_err(|e| errors.push(FieldError::new(spec.delivery_id.name(), e.to_string())))
            .ok(),
        Found::Missing => {
            errors.push(FieldError::new(spec.delivery_id.name(), "missing"));
            None
        }
        Found::NotText => {
            errors.push(FieldError::new(spec.delivery_id.name(), "must be a string"));
            None
        }
    };
    let event_type = match find(spec.event_type, headers, payload, body) {
        Found::Text(text) => EventType::parse(&text)
            .map_err(|e| errors.push(FieldError::new(spec.event_type.name(), e.to_string())))
            .ok(),
        Found::Missing if !spec.type_required => None,
        Found::Missing => {
            errors.push(FieldError::new(spec.event_type.name(), "missing"));
            None
        }
        Found::NotText => {
            errors.push(FieldError::new(spec.event_type.name(), "must be a string"));
            None
        }
    };
    // An action that is absent, or not a string (GitHub's payloads vary), is simply not
    // recorded; one that is a string must be valid.
    let action = match spec
        .action
        .map(|field| (field, find(field, headers, payload, body)))
    {
        Some((field, Found::Text(text))) => EventAction::parse(&text)
            .map_err(|e| errors.push(FieldError::new(field.name(), e.to_string())))
            .ok(),
        _ => None,
    };
    match delivery_id {
        Some(delivery_id) if errors.is_empty() => Ok(Identity {
            delivery_id,
            event_type,
            action,
        }),
        _ => Err(Problem::invalid(
            "the delivery id or event type is missing or invalid",
            errors,
        )),
    }
}

/// What replaces a body token ([`redact_token`]).
pub const REDACTED: &str = "\"[redacted]\"";

/// `body` with the token of a body-token scheme (its JSON string, as serde_json writes it)
/// replaced by [`REDACTED`], or `None` for any other scheme (or when the body does not carry it
/// as a string).
pub fn redact_token(scheme: &Scheme, body: &str) -> Option<String> {
    let Scheme::Token(Token {
        pointer: Some(pointer),
        ..
    }) = scheme
    else {
        return None;
    };
    let Found::Text(token) = webhook_verify::json::text_at(body, pointer) else {
        return None;
    };
    let literal = serde_json::to_string(&token).ok()?;
    Some(body.replace(&literal, REDACTED))
}

/// `{"name":"value",...}`, each string escaped by serde_json (written in place: no joined
/// `Vec<String>`, whose `join` alone is a kilobyte of the component).
pub fn json_object<'a>(members: &mut dyn Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut object = String::from("{");
    for (name, value) in members {
        if object.len() > 1 {
            object.push(',');
        }
        object.push_str(&serde_json::to_string(name).unwrap_or_default());
        object.push(':');
        object.push_str(&serde_json::to_string(value).unwrap_or_default());
    }
    object.push('}');
    object
}
