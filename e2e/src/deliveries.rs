//! A signed delivery for any provider, built from its catalogue row: the body carries the
//! delivery id and event type where the row says, the headers the rest, and the signature is the
//! row's scheme over it. One builder for every provider, so a new row is tested end to end with
//! nothing written for it here.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use provider_catalogue::{BodyFormat, Field, Provider, SecretFormat, FORM, JSON};
use webhook_verify::scheme::{Clock, Hashed, Request, Scheme, Signature, Timestamp, Unit};

use crate::http::{Client, RequestBuilder};

/// The test secret of a provider (what the e2e apps are configured with), in its format: the
/// named ones in `signing` where there is one, else derived from the slug.
pub fn secret_of(provider: Provider) -> String {
    if let Some(secret) = crate::signing::secret_of_variable(provider.secret_variable()) {
        return secret.to_owned();
    }
    if provider.is_generic() {
        return GENERIC_SOURCE_SECRETS.to_owned();
    }
    let slug = provider.as_str();
    match (provider.spec().secret_format, provider.spec().scheme) {
        (SecretFormat::StandardWebhooks, _) => {
            format!("whsec_{}", BASE64.encode(format!("e2e-{slug}-key")))
        }
        (SecretFormat::Base64, _) => BASE64.encode(format!("e2e-{slug}-key")),
        // `user:password`.
        (SecretFormat::Text, Scheme::Basic) => format!("inbox:e2e-{slug}-secret"),
        (SecretFormat::Text, _) => format!("e2e-{slug}-secret"),
    }
}

/// The generic sources the e2e tests configure (`webhook_sources`), and their secrets
/// (`webhook_source_secret`): an HMAC source, an API-key source and a Basic one.
pub const GENERIC_SOURCES: &str = "acme: auth=hmac digest=sha256 encoding=base64 \
    header=x-acme-signature prefix=v1= signed={timestamp}.{body} timestamp=x-acme-timestamp \
    id=header:x-acme-delivery type=/kind; billing: auth=api-key header=authorization \
    prefix=Bearer%20 id=/event/id type=/event/kind; legacy: auth=basic; \
    ledger: auth=hmac digest=sha512 header=x-ledger-signature id=/id type=/type";

/// The secrets of [`GENERIC_SOURCES`]: two for `acme` (a rotation, the new one labelled).
pub const GENERIC_SOURCE_SECRETS: &str =
    "acme:e2e-acme-old acme:next=e2e-acme-new billing:e2e-billing-key legacy:inbox:e2e-legacy \
     ledger:e2e-ledger-key";

/// The key the scheme uses for a secret.
pub fn key_of(provider: Provider, secret: &str) -> Vec<u8> {
    match provider.spec().secret_format {
        SecretFormat::Text => secret.as_bytes().to_vec(),
        SecretFormat::StandardWebhooks => BASE64
            .decode(secret.trim_start_matches("whsec_"))
            .unwrap_or_default(),
        SecretFormat::Base64 => BASE64.decode(secret).unwrap_or_default(),
    }
}

/// A delivery, ready to send.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `/webhooks/<slug>`.
    pub path: String,
    /// Every header, the signature's included.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
    /// The media type it is sent as.
    pub content_type: &'static str,
}

impl Delivery {
    /// The request, on `client`.
    pub fn request(&self, client: &Client) -> RequestBuilder {
        let mut request = client
            .post(&self.path)
            .header("content-type", self.content_type);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request.body(self.body.clone())
    }

    /// The same delivery sent as another media type.
    pub fn as_media_type(&self, content_type: &'static str) -> Self {
        Self {
            content_type,
            ..self.clone()
        }
    }
}

/// What a delivery should say.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    /// The delivery id (also made part of the body, so id-less providers' deliveries differ).
    pub id: &'a str,
    /// The event type.
    pub event_type: &'a str,
    /// When it was signed, Unix seconds.
    pub timestamp: i64,
    /// The URL the app is reached at (`http://127.0.0.1:PORT`), for schemes that sign it.
    pub base_url: &'a str,
}

/// Sets the string at a JSON pointer, creating objects (and arrays for numeric tokens) on the way.
fn set(value: &mut serde_json::Value, pointer: &str, text: &str) {
    let mut current = value;
    let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
    for (position, token) in tokens.iter().enumerate() {
        let last = position + 1 == tokens.len();
        let next_is_index = tokens
            .get(position + 1)
            .is_some_and(|t| t.parse::<usize>().is_ok());
        let fresh = || {
            if next_is_index {
                serde_json::json!([])
            } else {
                serde_json::json!({})
            }
        };
        current = match token.parse::<usize>() {
            Ok(index) if current.is_array() => {
                let items = current.as_array_mut().expect("checked");
                while items.len() <= index {
                    items.push(fresh());
                }
                &mut items[index]
            }
            _ => {
                let object = current.as_object_mut().expect("a pointer through objects");
                object.entry((*token).to_owned()).or_insert_with(fresh)
            }
        };
        if last {
            *current = serde_json::Value::String(text.to_owned());
        }
    }
}

/// A delivery for `provider` as `shape` says, signed with `secret`.
pub fn delivery(provider: Provider, shape: Shape<'_>, secret: &str) -> Delivery {
    let spec = provider.spec();
    let mut headers: Vec<(String, String)> = Vec::new();
    let batch = matches!(spec.event_type, Field::Json(p) if p.starts_with("/0/"))
        || matches!(spec.delivery_id, Field::Json(p) if p.starts_with("/0/"));
    let mut json = if batch {
        serde_json::json!([{}])
    } else {
        serde_json::json!({})
    };
    let nonce = if batch { "/0/nonce" } else { "/nonce" };
    set(&mut json, nonce, shape.id);
    for (field, text) in [
        (spec.delivery_id, shape.id),
        (spec.event_type, shape.event_type),
    ] {
        match field {
            Field::Header(name) => headers.push((name.to_owned(), text.to_owned())),
            Field::Json(pointer) => set(&mut json, pointer, text),
            Field::BodyDigest | Field::Absent => {}
        }
    }
    // Signed headers a scheme reads that no field sets (Zendesk's, Twitch's and Box's
    // timestamps, Standard Webhooks' id when it is not the delivery id).
    if let Scheme::Hashed(Hashed { signed, .. }) = spec.scheme {
        for part in signed {
            if let webhook_verify::scheme::Part::Header(name) = part {
                if !headers.iter().any(|(n, _)| n == name) {
                    headers.push(((*name).to_owned(), format!("e2e-{}", shape.timestamp)));
                }
            }
        }
    }
    let timestamp = match spec.scheme {
        Scheme::Hashed(Hashed {
            timestamp:
                Some(Timestamp {
                    unit: Unit::Millis,
                    clock,
                }),
            ..
        }) => {
            if let Clock::Body(pointer) = clock {
                set(&mut json, pointer, "");
                replace_with_number(&mut json, pointer, shape.timestamp * 1000);
            }
            (shape.timestamp * 1000).to_string()
        }
        Scheme::Hashed(Hashed {
            timestamp:
                Some(Timestamp {
                    clock: Clock::Body(pointer),
                    ..
                }),
            ..
        }) => {
            set(&mut json, pointer, &shape.timestamp.to_string());
            shape.timestamp.to_string()
        }
        _ => shape.timestamp.to_string(),
    };
    // Mailgun signs fields of the body and carries the signature in it.
    if let Scheme::Hashed(Hashed {
        signed,
        signature: Signature::Body(_),
        ..
    }) = spec.scheme
    {
        for part in signed {
            if let webhook_verify::scheme::Part::BodyField(pointer) = part {
                if json.pointer(pointer).is_none() {
                    set(&mut json, pointer, &format!("token-{}", shape.id));
                }
            }
        }
    }
    let (body, content_type) = match spec.body {
        BodyFormat::Form => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            if let Some(object) = json.as_object() {
                for (name, value) in object {
                    form.append_pair(name, value.as_str().unwrap_or_default());
                }
            }
            (form.finish(), FORM)
        }
        _ => (json.to_string(), JSON),
    };
    sign(
        provider,
        Unsigned {
            headers,
            body,
            json,
            content_type,
        },
        &timestamp,
        shape.base_url,
        secret,
    )
}

/// A delivery before its signature: headers, body (and its JSON, where the signature goes into
/// the body), media type.
#[derive(Debug, Clone)]
pub struct Unsigned {
    /// Headers besides the signature's.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: String,
    /// The body as JSON (for Mailgun, whose signature is a field of it).
    pub json: serde_json::Value,
    /// Its media type.
    pub content_type: &'static str,
}

/// `unsigned`, signed the provider's way at `timestamp` (its text in the scheme's unit).
pub fn sign(
    provider: Provider,
    unsigned: Unsigned,
    timestamp: &str,
    base_url: &str,
    secret: &str,
) -> Delivery {
    let spec = provider.spec();
    let Unsigned {
        mut headers,
        mut body,
        mut json,
        content_type,
    } = unsigned;
    let url = format!("{base_url}/webhooks/{}", provider.as_str());
    let key = key_of(provider, secret);
    let lookup = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let now_millis = timestamp.parse::<i64>().unwrap_or_default();
    let signed = {
        let request = Request {
            header: &lookup,
            body: body.as_bytes(),
            url: Some(&url),
            now_millis,
            tolerance: std::time::Duration::from_secs(300),
        };
        spec.scheme
            .sign(&request, &key, timestamp)
            .expect("every header the scheme signs is set")
    };
    for (name, value) in signed {
        // Mailgun's signature, and a shared value (Microsoft Graph's, Figma's), go in the body.
        let in_body = match (spec.scheme, name) {
            (
                Scheme::Hashed(Hashed {
                    signature: Signature::Body(pointer),
                    ..
                }),
                "body",
            ) => Some(pointer),
            (
                Scheme::Token(webhook_verify::scheme::Token {
                    pointer: Some(pointer),
                    ..
                }),
                "body",
            ) => Some(pointer),
            _ => None,
        };
        if let Some(pointer) = in_body {
            set(&mut json, pointer, &value);
            body = json.to_string();
        } else {
            headers.push((name.to_owned(), value));
        }
    }
    Delivery {
        path: format!("/webhooks/{}", provider.as_str()),
        headers,
        body,
        content_type,
    }
}

/// A JSON `body` for `provider` with `headers`, signed now with its test secret.
pub fn signed_json(
    provider: Provider,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
    base_url: &str,
) -> Delivery {
    let now = crate::signing::now();
    let timestamp = match provider.spec().scheme {
        Scheme::Hashed(Hashed {
            timestamp: Some(Timestamp {
                unit: Unit::Millis, ..
            }),
            ..
        }) => (now * 1000).to_string(),
        _ => now.to_string(),
    };
    let mut headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    if let Scheme::Hashed(Hashed { signed, .. }) = provider.spec().scheme {
        for part in signed {
            if let webhook_verify::scheme::Part::Header(name) = part {
                if !headers.iter().any(|(n, _)| n == name) {
                    headers.push(((*name).to_owned(), format!("e2e-{now}")));
                }
            }
        }
    }
    sign(
        provider,
        Unsigned {
            headers,
            body: body.to_string(),
            json: body.clone(),
            content_type: JSON,
        },
        &timestamp,
        base_url,
        &secret_of(provider),
    )
}

fn replace_with_number(json: &mut serde_json::Value, pointer: &str, number: i64) {
    if let Some(slot) = json.pointer_mut(pointer) {
        *slot = serde_json::Value::from(number);
    }
}

/// Whether the provider's scheme checks a signed Unix timestamp against the tolerance.
pub fn has_replay_window(provider: Provider) -> bool {
    matches!(
        provider.spec().scheme,
        Scheme::Hashed(Hashed {
            timestamp: Some(_),
            ..
        })
    )
}
