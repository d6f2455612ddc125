//! Reading a verified body: the JSON payload, and the delivery id, event type and action from
//! where the provider's table entry says they are.

use std::collections::HashMap;

use inbox_core::events::{DeliveryId, EventAction, EventType};
use inbox_core::http::Headers;
use inbox_core::problem::{FieldError, Problem};
use serde_json::value::RawValue;

use super::{Field, Spec, FORM};

/// The JSON payload of a verified body: the body itself, or GitHub's form field `payload`. It
/// must be a JSON object.
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
    let value: Box<RawValue> = serde_json::from_slice(json.as_bytes()).map_err(|error| {
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

/// A value of the delivery, from a header or the payload.
enum Found {
    Text(String),
    Missing,
    NotText,
}

fn find(field: Field, headers: &Headers, payload: &RawValue) -> Found {
    match field {
        Field::Header(name) => headers
            .get(name)
            .map_or(Found::Missing, |value| Found::Text(value.to_owned())),
        Field::Json(pointer) => pointer_string(payload, pointer),
    }
}

/// The string at a JSON pointer, parsing only the objects on the way (the payload can be a
/// megabyte; the rest of it stays raw text).
fn pointer_string(payload: &RawValue, pointer: &str) -> Found {
    let mut current: &RawValue = payload;
    let mut owned: Box<RawValue>;
    for token in pointer.split('/').skip(1) {
        let key = token.replace("~1", "/").replace("~0", "~");
        let Ok(members) = serde_json::from_str::<HashMap<String, Box<RawValue>>>(current.get())
        else {
            return Found::Missing;
        };
        let Some(member) = members
            .into_iter()
            .find_map(|(k, v)| (k == key).then_some(v))
        else {
            return Found::Missing;
        };
        owned = member;
        current = &owned;
    }
    // A string, null, or anything else (read without building a `Value`: smaller code).
    match serde_json::from_str::<Option<String>>(current.get()) {
        Ok(Some(text)) => Found::Text(text),
        Ok(None) => Found::Missing,
        Err(_) => Found::NotText,
    }
}

/// The delivery id (required), the event type (required where the provider always sends one)
/// and the action (recorded when present and a string). Every missing or invalid one is named.
pub fn identify(spec: &Spec, headers: &Headers, payload: &RawValue) -> Result<Identity, Problem> {
    let mut errors = Vec::new();
    let delivery_id = match find(spec.delivery_id, headers, payload) {
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
    let event_type = match find(spec.event_type, headers, payload) {
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
        .map(|field| (field, find(field, headers, payload)))
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

/// The text a handshake answers with, if this payload is the provider's handshake.
pub fn handshake_answer(spec: &Spec, payload: &RawValue) -> Result<Option<String>, Problem> {
    let Some(handshake) = spec.handshake else {
        return Ok(None);
    };
    match pointer_string(payload, handshake.kind) {
        Found::Text(kind) if kind == handshake.value => {}
        _ => return Ok(None),
    }
    match pointer_string(payload, handshake.echo) {
        Found::Text(challenge) => Ok(Some(challenge)),
        _ => Err(Problem::invalid(
            format!(
                "a {} request must carry a string {}",
                handshake.value, handshake.echo
            ),
            vec![FieldError::new(handshake.echo, "missing or not a string")],
        )),
    }
}
