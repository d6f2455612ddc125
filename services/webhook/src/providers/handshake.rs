//! Handshakes: requests a provider sends to check an endpoint, answered as its documentation
//! says and never stored. `GET` challenges come before any signature check (the sender does not
//! sign them; where it proves something, the proof is checked here); the others are signed
//! deliveries, answered once verified.

use inbox_core::http::{Headers, Response, StatusCode};
use inbox_core::problem::{FieldError, Problem, ProblemKind};
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;
use webhook_verify::scheme::Digest;

use super::extract::{json_object, pointer_text, Found};
use super::secrets::Secrets;
use super::{Field, Handshake, Spec};

/// What a handshake is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `text/plain`.
    Text(String),
    /// `application/json`: an object of string members, in order.
    Json(Vec<(&'static str, String)>),
    /// 200 with no body.
    Empty,
    /// 200 with no body and this header (Asana's `X-Hook-Secret`, echoed).
    Header(&'static str, String),
}

impl Answer {
    /// The response.
    pub fn response(self) -> Response {
        let (body, content_type) = match self {
            Self::Text(text) => (text.into_bytes(), "text/plain; charset=utf-8"),
            Self::Json(members) => (
                json_object(&mut members.iter().map(|(n, v)| (*n, v.as_str()))).into_bytes(),
                "application/json",
            ),
            Self::Empty => (Vec::new(), "text/plain; charset=utf-8"),
            Self::Header(name, value) => {
                return Response::new(StatusCode::OK, Vec::new())
                    .with_header(name, &value)
                    .with_header("cache-control", "no-store");
            }
        };
        Response::new(StatusCode::OK, body)
            .with_header("content-type", content_type)
            .with_header("x-content-type-options", "nosniff")
            .with_header("cache-control", "no-store")
    }
}

fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn missing(what: &str) -> Problem {
    Problem::invalid(
        format!("the handshake has no {what}"),
        vec![FieldError::new(what.to_owned(), "missing")],
    )
}

/// Through the engine's HMAC (one copy of HMAC-SHA256 in the component).
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    webhook_verify::scheme::hmac(Digest::Sha256, key, message)
}

/// A `POST` challenge answered before any check ([`Handshake::PostQueryEcho`]: Microsoft
/// Graph's `?validationToken=`), or `None` when the request is not one.
pub fn post_challenge(spec: &Spec, query: Option<&str>) -> Option<Answer> {
    let Some(Handshake::PostQueryEcho(parameter)) = spec.handshake else {
        return None;
    };
    query_value(query?, parameter).map(Answer::Text)
}

/// A secret handover ([`Handshake::SecretHandover`]: Asana's, Notion's): the secret and the
/// answer, or `None` for a request that is not one (it then goes on as a delivery, and fails
/// verification if it is neither). Checked before the provider's secrets: it is how the
/// operator learns them.
pub fn handed_over(
    spec: &Spec,
    headers: &Headers,
    body: &[u8],
) -> Result<Option<(String, Answer)>, Problem> {
    let Some(Handshake::SecretHandover { secret, unless }) = spec.handshake else {
        return Ok(None);
    };
    if headers.get(unless).is_some() {
        return Ok(None);
    }
    let (name, found, answer) = match secret {
        Field::Header(name) => {
            let value = headers.get(name).map(str::to_owned);
            (name, value.clone(), value.map(|v| Answer::Header(name, v)))
        }
        Field::Json(pointer) => {
            let text = std::str::from_utf8(body).unwrap_or_default();
            match webhook_verify::json::text_at(text, pointer) {
                Found::Text(value) => (pointer, Some(value), Some(Answer::Empty)),
                _ => (pointer, None, None),
            }
        }
        Field::BodyDigest | Field::Absent => return Ok(None),
    };
    let (Some(found), Some(answer)) = (found, answer) else {
        return Ok(None);
    };
    inbox_core::handshakes::check(&found).map_err(|error| {
        Problem::invalid(
            format!("the handed-over secret {error}"),
            vec![FieldError::new(name, error.to_string())],
        )
    })?;
    Ok(Some((found, answer)))
}

/// The answer to a `GET` handshake, or `None` when the provider has none (the `GET` is then
/// refused like any other method the route does not take).
pub fn before_verification(
    spec: &Spec,
    query: Option<&str>,
    headers: &Headers,
    secrets: &Secrets,
) -> Result<Option<Answer>, Problem> {
    let query = query.unwrap_or_default();
    let Some(handshake) = spec.handshake.filter(|h| h.is_get()) else {
        return Ok(None);
    };
    match handshake {
        Handshake::GetEcho(parameter) => query_value(query, parameter)
            .map(|value| Some(Answer::Text(value)))
            .ok_or_else(|| missing(&format!("query:{parameter}"))),
        Handshake::MetaVerify => {
            let mode = query_value(query, "hub.mode").ok_or_else(|| missing("query:hub.mode"))?;
            let token = query_value(query, "hub.verify_token")
                .ok_or_else(|| missing("query:hub.verify_token"))?;
            let challenge = query_value(query, "hub.challenge")
                .ok_or_else(|| missing("query:hub.challenge"))?;
            let known = secrets
                .keys()
                .iter()
                .any(|key| bool::from(token.as_bytes().ct_eq(key)));
            if mode != "subscribe" || !known {
                return Err(Problem::of(
                    ProblemKind::SignatureMismatch,
                    "the verify token is not a configured secret",
                ));
            }
            Ok(Some(Answer::Text(challenge)))
        }
        Handshake::XCrc => {
            let token =
                query_value(query, "crc_token").ok_or_else(|| missing("query:crc_token"))?;
            let key = secrets.keys().first().copied().unwrap_or_default();
            let digest = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                hmac_sha256(key, token.as_bytes()),
            );
            Ok(Some(Answer::Json(vec![(
                "response_token",
                format!("sha256={digest}"),
            )])))
        }
        Handshake::OktaVerification => headers
            .get("x-okta-verification-challenge")
            .map(|value| Some(Answer::Json(vec![("verification", value.to_owned())])))
            .ok_or_else(|| missing("header:x-okta-verification-challenge")),
        Handshake::Echo { .. }
        | Handshake::EmptyList(_)
        | Handshake::ZoomUrlValidation
        | Handshake::EchoHeader(_)
        | Handshake::SecretHandover { .. }
        | Handshake::PostQueryEcho(_) => Ok(None),
    }
}

/// The answer to a verified delivery that is the provider's handshake, or `None` for a
/// delivery to store.
pub fn after_verification(
    spec: &Spec,
    headers: &Headers,
    payload: &RawValue,
    secrets: &Secrets,
) -> Result<Option<Answer>, Problem> {
    let Some(handshake) = spec.handshake else {
        return Ok(None);
    };
    match handshake {
        Handshake::Echo { kind, value, echo } => {
            let is = match kind {
                Field::Header(name) => headers.get(name) == Some(value),
                Field::Json(pointer) => {
                    matches!(pointer_text(payload, pointer), Found::Text(text) if text == value)
                }
                Field::BodyDigest | Field::Absent => false,
            };
            if !is {
                return Ok(None);
            }
            match pointer_text(payload, echo) {
                Found::Text(challenge) => Ok(Some(Answer::Text(challenge))),
                _ => Err(Problem::invalid(
                    format!("a {value} request must carry a string {echo}"),
                    vec![FieldError::new(echo, "missing or not a string")],
                )),
            }
        }
        Handshake::EmptyList(pointer) => {
            Ok(webhook_verify::json::is_empty_array(payload.get(), pointer)
                .then_some(Answer::Empty))
        }
        Handshake::ZoomUrlValidation => {
            match pointer_text(payload, "/event") {
                Found::Text(event) if event == "endpoint.url_validation" => {}
                _ => return Ok(None),
            }
            let Found::Text(plain) = pointer_text(payload, "/payload/plainToken") else {
                return Err(missing("/payload/plainToken"));
            };
            let key = secrets.keys().first().copied().unwrap_or_default();
            let encrypted = hex::encode(hmac_sha256(key, plain.as_bytes()));
            Ok(Some(Answer::Json(vec![
                ("plainToken", plain),
                ("encryptedToken", encrypted),
            ])))
        }
        Handshake::EchoHeader(name) => Ok(headers.get(name).map(|v| Answer::Text(v.to_owned()))),
        Handshake::GetEcho(_)
        | Handshake::MetaVerify
        | Handshake::XCrc
        | Handshake::OktaVerification
        | Handshake::SecretHandover { .. }
        | Handshake::PostQueryEcho(_) => Ok(None),
    }
}
