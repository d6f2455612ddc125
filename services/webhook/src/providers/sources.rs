//! Generic sources: senders the catalogue does not name, configured without code. The
//! `webhook_sources` variable (not secret) describes each one on a line (or after a `;`):
//!
//! ```text
//! acme: auth=hmac digest=sha256 encoding=hex header=x-acme-signature prefix=sha256=
//!       signed={timestamp}.{body} timestamp=x-acme-timestamp id=header:x-acme-delivery type=/type
//! billing: auth=api-key header=authorization prefix=Bearer%20 id=/event/id type=/event/kind
//! legacy: auth=basic
//! ```
//!
//! and `webhook_source_secret` (secret) holds their secrets, `name:secret` or
//! `name:label=secret` entries, several per source during a rotation. A source is then a
//! catalogue row built at run time, verified, deduplicated and stored like a named provider's
//! (provider `source`, its name the event's source), at `POST /webhooks/source/{name}`.
//!
//! Keys (values are percent-decoded, so a prefix may hold a space as `%20`):
//! - `auth`: `hmac`, `api-key` or `basic` (required).
//! - hmac: `digest` (`sha1`, `sha256`, `sha512`; default `sha256`), `encoding` (`hex`, `base64`,
//!   `base64url`; default `hex`), `header` (required), `prefix`, `separator` (the header holds a
//!   list), `signed` (a template of `{body}`, `{timestamp}`, `{url}`, `{header:NAME}` and text;
//!   default `{body}`), `timestamp` (the header of a signed Unix timestamp, checked against the
//!   tolerance) and `timestamp-unit` (`s` or `ms`).
//! - api-key: `header` (required) and `prefix`: the header is the prefix and one of the secrets.
//! - `id`: `header:NAME`, a JSON pointer, or `body-digest` (the default: retries resend the same
//!   bytes); `type`: `header:NAME` or a JSON pointer (optional); `media`: comma-separated media
//!   types (default `application/json`).
//!
//! Parsed configurations are kept for the instance's life (one per distinct text), so the rows
//! can be `'static` like the catalogue's.

use std::sync::Mutex;

use inbox_core::config::{ConfigError, Variables};
use inbox_core::events::{DeliveryId, SourceLabel};
use inbox_core::problem::{FieldError, Problem};
use provider_catalogue::{BodyFormat, Field, Proof, SecretFormat, Spec, JSON};
use webhook_verify::scheme::{
    Clock, Digest, Encoding, Hashed, Keying, Part, Scheme, Signature, Timestamp, Token, Unit,
};

use super::secrets::Secrets;

/// The variable describing the generic sources.
pub const CONFIG_VARIABLE: &str = "webhook_sources";

/// One configured source.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its name (`[a-z0-9-]`, 1 to 32 characters): the path segment and the event's source.
    pub name: &'static str,
    /// The same, as an event's source label.
    pub label: SourceLabel,
    /// Its row.
    pub spec: &'static Spec,
}

/// Every parsed configuration text, and its sources.
static PARSED: Mutex<Vec<(String, &'static [Source])>> = Mutex::new(Vec::new());

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

fn percent_decoded(value: &str) -> String {
    form_urlencoded::parse(format!("v={}", value.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// `header:NAME`, a JSON pointer, or `body-digest`.
fn field(value: &str, what: &str) -> Result<Field, String> {
    if let Some(name) = value.strip_prefix("header:") {
        if name.is_empty() {
            return Err(format!("{what} names no header"));
        }
        return Ok(Field::Header(leak(&name.to_ascii_lowercase())));
    }
    if value == "body-digest" {
        return Ok(Field::BodyDigest);
    }
    if value.starts_with('/') {
        return Ok(Field::Json(leak(value)));
    }
    Err(format!(
        "{what} must be header:NAME, a JSON pointer (/…) or body-digest"
    ))
}

/// `{body}`, `{timestamp}`, `{url}`, `{header:NAME}` and text between them.
fn template(value: &str) -> Result<&'static [Part], String> {
    let mut parts = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest
                    .find('}')
                    .ok_or_else(|| "signed has an unclosed {".to_owned())?;
                let name = &rest[1..end];
                parts.push(match name {
                    "body" => Part::Body,
                    "timestamp" => Part::Timestamp,
                    "url" => Part::Url,
                    _ => match name.strip_prefix("header:") {
                        Some(header) if !header.is_empty() => {
                            Part::Header(leak(&header.to_ascii_lowercase()))
                        }
                        _ => return Err(format!("signed has an unknown placeholder {{{name}}}")),
                    },
                });
                rest = &rest[end + 1..];
            }
            Some(at) => {
                parts.push(Part::Text(leak(&rest[..at])));
                rest = &rest[at..];
            }
            None => {
                parts.push(Part::Text(leak(rest)));
                rest = "";
            }
        }
    }
    if parts.is_empty() {
        return Err("signed is empty".to_owned());
    }
    Ok(Box::leak(parts.into_boxed_slice()))
}

/// One source's definition, from its `key=value` words.
fn source(words: &[(&str, String)]) -> Result<Spec, String> {
    let get = |key: &str| {
        words
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    };
    for (key, _) in words {
        let known = [
            "auth",
            "digest",
            "encoding",
            "header",
            "prefix",
            "separator",
            "signed",
            "timestamp",
            "timestamp-unit",
            "id",
            "type",
            "media",
        ];
        if !known.contains(key) {
            return Err(format!("unknown key {key}"));
        }
    }
    let header = || {
        get("header")
            .filter(|h| !h.is_empty())
            .map(|h| leak(&h.to_ascii_lowercase()))
            .ok_or_else(|| "header is required".to_owned())
    };
    let prefix = leak(get("prefix").unwrap_or_default());
    let scheme = match get("auth") {
        Some("hmac") => {
            let digest = match get("digest").unwrap_or("sha256") {
                "sha1" => Digest::Sha1,
                "sha256" => Digest::Sha256,
                "sha512" => Digest::Sha512,
                other => return Err(format!("digest {other:?} is not sha1, sha256 or sha512")),
            };
            let encoding = match get("encoding").unwrap_or("hex") {
                "hex" => Encoding::Hex,
                "base64" => Encoding::Base64,
                "base64url" => Encoding::Base64Url,
                other => {
                    return Err(format!(
                        "encoding {other:?} is not hex, base64 or base64url"
                    ))
                }
            };
            let separator = match get("separator") {
                None => None,
                Some(text) => {
                    let mut chars = text.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Some(c),
                        _ => return Err("separator must be one character".to_owned()),
                    }
                }
            };
            let timestamp = match get("timestamp") {
                None => None,
                Some(header) => Some(Timestamp {
                    clock: Clock::Header(leak(&header.to_ascii_lowercase())),
                    unit: match get("timestamp-unit").unwrap_or("s") {
                        "s" => Unit::Seconds,
                        "ms" => Unit::Millis,
                        other => return Err(format!("timestamp-unit {other:?} is not s or ms")),
                    },
                }),
            };
            let signed = template(get("signed").unwrap_or("{body}"))?;
            if signed.contains(&Part::Timestamp) && timestamp.is_none() {
                return Err("signed uses {timestamp} but no timestamp header is named".to_owned());
            }
            Scheme::Hashed(Hashed {
                digest,
                keying: Keying::Hmac,
                encoding,
                signature: Signature::Header {
                    name: header()?,
                    prefix,
                    separator,
                },
                signed,
                timestamp,
            })
        }
        Some("api-key") => Scheme::Token(Token {
            header: header()?,
            prefix,
            pointer: None,
        }),
        Some("basic") => Scheme::Basic,
        Some(other) => return Err(format!("auth {other:?} is not hmac, api-key or basic")),
        None => return Err("auth is required".to_owned()),
    };
    let delivery_id = field(get("id").unwrap_or("body-digest"), "id")?;
    let event_type = match get("type") {
        Some(value) => field(value, "type")?,
        None => Field::Absent,
    };
    let media_types: Vec<&'static str> = get("media")
        .unwrap_or(JSON)
        .split(',')
        .map(|m| leak(m.trim()))
        .collect();
    Ok(Spec {
        scheme,
        secret_format: SecretFormat::Text,
        body: BodyFormat::JsonAny,
        media_types: Box::leak(media_types.into_boxed_slice()),
        extra_headers: &[],
        delivery_id,
        event_type,
        type_required: false,
        action: None,
        handshake: None,
        proof: Proof::Computed,
    })
}

/// The sources of a configuration text, or what is wrong with it (naming the source and key).
pub fn parse(text: &str) -> Result<Vec<Source>, String> {
    let mut sources: Vec<Source> = Vec::new();
    for line in text
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("{line:.20}…: expected NAME: key=value ..."))?;
        let name = name.trim();
        let label = SourceLabel::parse(name).map_err(|_| {
            format!("source {name:?}: a name is 1 to 32 of a-z, 0-9 and -, not starting with -")
        })?;
        if sources.iter().any(|s| s.name == name) {
            return Err(format!("source {name}: defined twice"));
        }
        let words: Vec<(&str, String)> = rest
            .split_whitespace()
            .map(|word| {
                word.split_once('=')
                    .map(|(k, v)| (k, percent_decoded(v)))
                    .ok_or_else(|| format!("source {name}: {word:?} is not key=value"))
            })
            .collect::<Result<_, _>>()?;
        let spec = source(&words).map_err(|reason| format!("source {name}: {reason}"))?;
        sources.push(Source {
            name: leak(name),
            label,
            spec: Box::leak(Box::new(spec)),
        });
    }
    Ok(sources)
}

/// The configured sources (none when the variable is unset or empty).
pub fn load(vars: &dyn Variables) -> Result<&'static [Source], ConfigError> {
    let text = vars.get(CONFIG_VARIABLE)?.unwrap_or_default();
    let mut parsed = PARSED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, sources)) = parsed.iter().find(|(seen, _)| *seen == text) {
        return Ok(sources);
    }
    let sources = parse(&text).map_err(|reason| ConfigError::Malformed {
        name: CONFIG_VARIABLE.to_owned(),
        reason,
    })?;
    let sources: &'static [Source] = Box::leak(sources.into_boxed_slice());
    parsed.push((text, sources));
    Ok(sources)
}

/// The secrets of source `name`, from the `name:`-prefixed entries of `variable` (errors name
/// the variable and never a secret).
pub fn secrets(variable: &str, name: &str, vars: &dyn Variables) -> Result<Secrets, ConfigError> {
    let text = vars.get(variable)?.unwrap_or_default();
    let prefix = format!("{name}:");
    let mut mine = text
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix(&prefix));
    Secrets::parse(variable, SecretFormat::Text, &mut mine)
}

/// The event's source: the source's name, with its secret's label after a `-` when it has one
/// and the two fit in a label.
pub fn label(source: &Source, secret: Option<&SourceLabel>) -> SourceLabel {
    secret
        .and_then(|label| SourceLabel::parse(&format!("{}-{}", source.name, label.as_str())).ok())
        .unwrap_or_else(|| source.label.clone())
}

/// The stored delivery id: the sender's, under the source's name, so two sources never collide.
pub fn delivery_id(source: &Source, id: &DeliveryId) -> Result<DeliveryId, Problem> {
    DeliveryId::parse(&format!("{}:{}", source.name, id.as_str())).map_err(|error| {
        Problem::invalid(
            "the delivery id is too long for this source",
            vec![FieldError::new("delivery_id", error.to_string())],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use inbox_core::config::StaticVariables;

    #[test]
    fn a_full_hmac_source_parses_into_a_row() {
        let sources = parse(
            "acme: auth=hmac digest=sha1 encoding=base64 header=X-Acme-Sig prefix=v1= \
             signed={timestamp}.{header:x-acme-id}.{body} timestamp=x-acme-ts timestamp-unit=ms \
             id=header:x-acme-id type=/kind media=application/json,application/cloudevents+json",
        )
        .unwrap();
        let [acme] = sources.as_slice() else {
            panic!("one source")
        };
        assert_eq!(acme.name, "acme");
        let Scheme::Hashed(hashed) = acme.spec.scheme else {
            panic!("hmac")
        };
        assert_eq!(hashed.digest, Digest::Sha1);
        assert_eq!(hashed.encoding, Encoding::Base64);
        assert_eq!(hashed.signature.header(), "x-acme-sig");
        assert_eq!(
            hashed.signed,
            [
                Part::Timestamp,
                Part::Text("."),
                Part::Header("x-acme-id"),
                Part::Text("."),
                Part::Body
            ]
        );
        assert_eq!(
            hashed.timestamp.map(|t| (t.clock, t.unit)),
            Some((Clock::Header("x-acme-ts"), Unit::Millis))
        );
        assert_eq!(acme.spec.delivery_id, Field::Header("x-acme-id"));
        assert_eq!(acme.spec.event_type, Field::Json("/kind"));
        assert_eq!(acme.spec.media_types.len(), 2);

        for (text, digest) in [
            ("sha1", Digest::Sha1),
            ("sha256", Digest::Sha256),
            ("sha512", Digest::Sha512),
        ] {
            let sources = parse(&format!("x: auth=hmac header=x-sig digest={text}")).unwrap();
            let Scheme::Hashed(hashed) = sources[0].spec.scheme else {
                panic!("hmac")
            };
            assert_eq!(hashed.digest, digest);
        }
    }

    #[test]
    fn api_key_and_basic_sources_and_defaults() {
        let sources = parse(
            "billing: auth=api-key header=authorization prefix=Bearer%20; legacy: auth=basic",
        )
        .unwrap();
        assert_eq!(sources.len(), 2);
        assert!(matches!(
            sources[0].spec.scheme,
            Scheme::Token(Token {
                header: "authorization",
                prefix: "Bearer ",
                ..
            })
        ));
        assert!(matches!(sources[1].spec.scheme, Scheme::Basic));
        assert_eq!(sources[1].spec.delivery_id, Field::BodyDigest);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn each_mistake_is_named_with_its_source() {
        for (text, wanted) in [
            ("acme auth=hmac", "expected NAME"),
            ("Acme: auth=basic", "a name is"),
            ("acme: auth=basic; acme: auth=basic", "defined twice"),
            ("acme: auth=hmac", "header is required"),
            ("acme: auth=hmac header=x digest=md5", "digest"),
            (
                "acme: auth=hmac header=x signed={timestamp}.{body}",
                "no timestamp header",
            ),
            (
                "acme: auth=hmac header=x signed={nonce}",
                "unknown placeholder",
            ),
            ("acme: auth=oauth", "auth"),
            ("acme: auth=basic colour=red", "unknown key colour"),
            ("acme: auth=basic id=nowhere", "id must be"),
            ("acme: auth", "not key=value"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(wanted), "{text}: {error}");
        }
    }

    #[test]
    fn secrets_are_the_sources_own_entries() {
        let vars = StaticVariables::from_pairs([(
            "webhook_source_secret",
            "acme:one acme:eu=two billing:three",
        )]);
        let acme = secrets("webhook_source_secret", "acme", &vars).unwrap();
        assert_eq!(acme.len(), 2);
        assert_eq!(acme.label(1).map(|l| l.as_str()), Some("eu"));
        let none = secrets("webhook_source_secret", "other", &vars).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_configuration_is_parsed_once() {
        let vars = StaticVariables::from_pairs([(CONFIG_VARIABLE, "once: auth=basic")]);
        let first = load(&vars).unwrap();
        let second = load(&vars).unwrap();
        assert!(std::ptr::eq(first, second));
    }
}
