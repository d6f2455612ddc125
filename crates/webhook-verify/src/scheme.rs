//! Signature schemes as data. Most senders sign the same way with different parameters: a keyed
//! hash (HMAC-SHA1/256/512) of a string built from the body, a timestamp, a header or the URL,
//! sent hex or base64 in a header, after a prefix (`sha256=`), or as `t=…,v1=…` pairs. A provider
//! is then a [`Scheme`] value, and one verifier and one signer serve every such provider.
//!
//! Verification order is fixed: required headers, their shape, the signature (constant time,
//! against every configured key), and only then a signed timestamp's tolerance, so an unsigned
//! body field is never trusted before the signature is.

use std::borrow::Cow;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as BASE64URL};
use base64::Engine;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::{check_timestamp, parse_timestamp, VerifyError};

/// The hash under the HMAC (or, for a [`Keying::SecretInContent`] scheme, the plain hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// SHA-1 (Twilio, Intercom, Help Scout, Segment, Vercel, Trello, Cloudinary).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512 (generic sources: no named provider signs with it).
    Sha512,
}

/// How the signature is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hexadecimal (either case).
    Hex,
    /// Standard base64 with padding.
    Base64,
    /// URL-safe base64 without padding.
    Base64Url,
}

/// Where the signature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// A header holding `prefix` and the signature; with a `separator`, a list of such entries
    /// (any may match: senders list one per active secret during a rotation). Entries that lack
    /// the prefix are other schemes' and ignored.
    Header {
        /// The header (lower case).
        name: &'static str,
        /// What precedes the signature (`sha256=`, `v0=`), possibly empty.
        prefix: &'static str,
        /// What separates entries, if the header may carry several.
        separator: Option<char>,
    },
    /// A header of `key=value` pairs (`t=1492774577,v1=5257a8…`): the timestamp under
    /// `timestamp_key`, one or more signatures under `signature_key`, other keys ignored.
    Pairs {
        /// The header (lower case).
        name: &'static str,
        /// What separates the pairs (`,` or `;`); spaces around pairs are ignored.
        separator: char,
        /// The key of the signed timestamp.
        timestamp_key: &'static str,
        /// The key of a signature.
        signature_key: &'static str,
    },
    /// A string at a JSON pointer into the body (Mailgun).
    Body(&'static str),
}

impl Signature {
    /// The header that carries the signature (`body` when the body does).
    pub const fn header(self) -> &'static str {
        match self {
            Self::Header { name, .. } | Self::Pairs { name, .. } => name,
            Self::Body(_) => "body",
        }
    }
}

/// A piece of the signed content, concatenated in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The raw body.
    Body,
    /// Fixed text (separators, versions: `v0:`).
    Text(&'static str),
    /// The signed timestamp exactly as sent.
    Timestamp,
    /// A header's value exactly as sent; a delivery without it, or with it empty, is malformed.
    Header(&'static str),
    /// The URL the sender called (scheme, host, path and query).
    Url,
    /// The secret itself (for a [`Keying::SecretInContent`] scheme).
    Secret,
    /// A string (or number) at a JSON pointer into the body.
    BodyField(&'static str),
    /// A form body's parameters, sorted by name, each name followed by its decoded value
    /// (Twilio, Mandrill); empty for a body that is not a form.
    SortedForm,
}

/// Where the signed timestamp is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// In a header of its own.
    Header(&'static str),
    /// In the signature header's pairs ([`Signature::Pairs`]).
    Pairs,
    /// A number at a JSON pointer into the body (read only once the signature verified).
    Body(&'static str),
}

/// The timestamp's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Unix seconds.
    Seconds,
    /// Unix milliseconds.
    Millis,
}

/// The signed timestamp, checked against the tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Where it is.
    pub clock: Clock,
    /// Its unit.
    pub unit: Unit,
}

/// How the secret enters the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keying {
    /// It is the HMAC key.
    Hmac,
    /// It is part of the hashed content ([`Part::Secret`]) and the digest is a plain hash
    /// (Cloudinary).
    SecretInContent,
}

/// A keyed-hash scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashed {
    /// The hash.
    pub digest: Digest,
    /// How the secret is used.
    pub keying: Keying,
    /// How the signature is written.
    pub encoding: Encoding,
    /// Where it is.
    pub signature: Signature,
    /// What is signed.
    pub signed: &'static [Part],
    /// The signed timestamp, if the scheme has one.
    pub timestamp: Option<Timestamp>,
}

/// A shared secret sent as it is, compared in constant time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// The header carrying it (lower case), or `body` for a JSON body's `pointer`.
    pub header: &'static str,
    /// What precedes it (`Bearer `), possibly empty.
    pub prefix: &'static str,
    /// A JSON pointer into the body, when the body carries it (Figma's `passcode`).
    pub pointer: Option<&'static str>,
}

/// What a verifier is given.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// A header's value by lower-case name.
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
    /// The raw body.
    pub body: &'a [u8],
    /// The URL the sender called, if known.
    pub url: Option<&'a str>,
    /// Now, in Unix milliseconds.
    pub now_millis: i64,
    /// How far a signed timestamp may be from now, either way.
    pub tolerance: Duration,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("body_len", &self.body.len())
            .field("url", &self.url)
            .field("now_millis", &self.now_millis)
            .finish_non_exhaustive()
    }
}

fn required<'a>(request: &Request<'a>, name: &'static str) -> Result<&'a str, VerifyError> {
    (request.header)(name).ok_or(VerifyError::MissingHeader(name))
}

fn malformed(header: &'static str, reason: &'static str) -> VerifyError {
    VerifyError::MalformedHeader { header, reason }
}

/// The digest's output length in bytes.
const fn output_len(digest: Digest) -> usize {
    match digest {
        Digest::Sha1 => 20,
        Digest::Sha256 => 32,
        Digest::Sha512 => 64,
    }
}

fn mac_of<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<M> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

fn hash_of<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = D::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

/// HMAC of `message` under `key` with `digest` (for handshakes that answer with one).
pub fn hmac(digest: Digest, key: &[u8], message: &[u8]) -> Vec<u8> {
    raw(digest, Keying::Hmac, key, &[message])
}

/// The raw signature of `parts` under `key`.
fn raw(digest: Digest, keying: Keying, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match (keying, digest) {
        (Keying::Hmac, Digest::Sha1) => {
            mac_of::<Hmac<sha1::Sha1>>(key, parts).map(|mac| mac.finalize().into_bytes().to_vec())
        }
        (Keying::Hmac, Digest::Sha256) => {
            mac_of::<Hmac<sha2::Sha256>>(key, parts).map(|mac| mac.finalize().into_bytes().to_vec())
        }
        (Keying::Hmac, Digest::Sha512) => {
            mac_of::<Hmac<sha2::Sha512>>(key, parts).map(|mac| mac.finalize().into_bytes().to_vec())
        }
        (Keying::SecretInContent, Digest::Sha1) => Some(hash_of::<sha1::Sha1>(parts)),
        (Keying::SecretInContent, Digest::Sha256) => Some(hash_of::<sha2::Sha256>(parts)),
        // No scheme hashes its secret into the content with SHA-512 (only Cloudinary keys that
        // way, with SHA-1 or SHA-256; a generic source is always HMAC): not linked, and an
        // empty signature never verifies.
        (Keying::SecretInContent, Digest::Sha512) => None,
    }
    .unwrap_or_default()
}

fn decode(encoding: Encoding, text: &str) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => hex::decode(text).ok(),
        Encoding::Base64 => BASE64.decode(text).ok(),
        Encoding::Base64Url => BASE64URL.decode(text.trim_end_matches('=')).ok(),
    }
}

fn encode(encoding: Encoding, bytes: &[u8]) -> String {
    match encoding {
        Encoding::Hex => hex::encode(bytes),
        Encoding::Base64 => BASE64.encode(bytes),
        Encoding::Base64Url => BASE64URL.encode(bytes),
    }
}

/// The signatures and the timestamp text a delivery carries.
struct Carried<'a> {
    signatures: Vec<Vec<u8>>,
    timestamp: Option<&'a str>,
}

fn carried<'a>(scheme: &Hashed, request: &Request<'a>) -> Result<Carried<'a>, VerifyError> {
    let length = output_len(scheme.digest);
    let usable = |text: &str| decode(scheme.encoding, text).filter(|sig| sig.len() == length);
    match scheme.signature {
        Signature::Header {
            name,
            prefix,
            separator,
        } => {
            let value = required(request, name)?;
            let entries: Vec<&str> = match separator {
                Some(separator) => value.split(separator).map(str::trim).collect(),
                None => vec![value.trim()],
            };
            let signatures: Vec<Vec<u8>> = entries
                .iter()
                .filter_map(|entry| entry.strip_prefix(prefix))
                .filter_map(usable)
                .collect();
            if signatures.is_empty() {
                return Err(malformed(name, "no signature of the expected form"));
            }
            let timestamp = match scheme.timestamp.map(|t| t.clock) {
                Some(Clock::Header(header)) => Some(required(request, header)?),
                _ => None,
            };
            Ok(Carried {
                signatures,
                timestamp,
            })
        }
        Signature::Pairs {
            name,
            separator,
            timestamp_key,
            signature_key,
        } => {
            let value = required(request, name)?;
            let mut timestamp = None;
            let mut signatures = Vec::new();
            for pair in value
                .split(separator)
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let (key, val) = pair
                    .split_once('=')
                    .ok_or(malformed(name, "expected key=value pairs"))?;
                if key == timestamp_key {
                    if timestamp.replace(val).is_some() {
                        return Err(malformed(name, "more than one timestamp"));
                    }
                } else if key == signature_key {
                    // One that cannot match is skipped, so a well-formed sibling still verifies.
                    signatures.extend(usable(val));
                }
            }
            if signatures.is_empty() {
                return Err(malformed(name, "no signature of the expected form"));
            }
            let timestamp = match scheme.timestamp.map(|t| t.clock) {
                Some(Clock::Pairs) => Some(timestamp.ok_or(malformed(name, "no timestamp"))?),
                Some(Clock::Header(header)) => Some(required(request, header)?),
                _ => None,
            };
            Ok(Carried {
                signatures,
                timestamp,
            })
        }
        Signature::Body(pointer) => {
            let field = pointer.trim_start_matches('/');
            let signatures: Vec<Vec<u8>> = body_text(request.body, pointer)
                .ok()
                .as_deref()
                .and_then(usable)
                .into_iter()
                .collect();
            if signatures.is_empty() {
                return Err(VerifyError::MalformedBody {
                    field,
                    reason: "no signature of the expected form",
                });
            }
            let timestamp = match scheme.timestamp.map(|t| t.clock) {
                Some(Clock::Header(header)) => Some(required(request, header)?),
                _ => None,
            };
            Ok(Carried {
                signatures,
                timestamp,
            })
        }
    }
}

/// The signed content's pieces, `secret` standing in for [`Part::Secret`].
fn content<'r: 'c, 'c>(
    scheme: &Hashed,
    request: &Request<'r>,
    timestamp: Option<&'c str>,
    secret: &'c [u8],
) -> Result<Vec<Cow<'c, [u8]>>, VerifyError> {
    scheme
        .signed
        .iter()
        .map(|part| match *part {
            Part::Body => Ok(Cow::Borrowed(request.body)),
            Part::Text(text) => Ok(Cow::Borrowed(text.as_bytes())),
            Part::Timestamp => Ok(Cow::Borrowed(timestamp.unwrap_or_default().as_bytes())),
            // An empty value identifies nothing (Standard Webhooks' reference libraries reject an
            // empty `webhook-id`).
            Part::Header(name) => match required(request, name)? {
                "" => Err(malformed(name, "empty")),
                value => Ok(Cow::Borrowed(value.as_bytes())),
            },
            Part::Url => Ok(Cow::Borrowed(request.url.unwrap_or_default().as_bytes())),
            Part::Secret => Ok(Cow::Borrowed(secret)),
            Part::SortedForm => Ok(Cow::Owned(sorted_form(request.body))),
            Part::BodyField(pointer) => {
                body_text(request.body, pointer).map(|text| Cow::Owned(text.into_bytes()))
            }
        })
        .collect()
}

/// A form's parameters sorted by name (then value), each name followed by its value.
fn sorted_form(body: &[u8]) -> Vec<u8> {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    pairs.sort();
    pairs
        .into_iter()
        .flat_map(|(name, value)| [name.into_bytes(), value.into_bytes()])
        .flatten()
        .collect()
}

fn slices<'s>(parts: &'s [Cow<'_, [u8]>]) -> Vec<&'s [u8]> {
    parts.iter().map(AsRef::as_ref).collect()
}

/// Whether `candidate` is the signature of `parts` under `key`, in constant time.
fn matches(scheme: &Hashed, key: &[u8], parts: &[&[u8]], candidate: &[u8]) -> bool {
    match (scheme.keying, scheme.digest) {
        (Keying::Hmac, Digest::Sha1) => mac_of::<Hmac<sha1::Sha1>>(key, parts)
            .is_some_and(|mac| mac.verify_slice(candidate).is_ok()),
        (Keying::Hmac, Digest::Sha256) => mac_of::<Hmac<sha2::Sha256>>(key, parts)
            .is_some_and(|mac| mac.verify_slice(candidate).is_ok()),
        // SHA-512 through `raw` (one instantiation of its HMAC, shared with signing); `ct_eq`
        // compares in constant time (a length mismatch, not secret, returns at once).
        (Keying::SecretInContent, _) | (Keying::Hmac, Digest::Sha512) => {
            bool::from(raw(scheme.digest, scheme.keying, key, parts).ct_eq(candidate))
        }
    }
}

/// A signed timestamp, in the unit of `now`'s comparison (seconds), from its text.
fn timestamp_seconds(
    text: &str,
    unit: Unit,
    header: &'static str,
) -> Result<(i64, i64), VerifyError> {
    match unit {
        Unit::Seconds => parse_timestamp(text, header).map(|t| (t, 1)),
        Unit::Millis => {
            if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed(
                    header,
                    "the timestamp is not a Unix time in milliseconds",
                ));
            }
            text.parse()
                .map(|t| (t, 1000))
                .map_err(|_| malformed(header, "the timestamp is not a Unix time in milliseconds"))
        }
    }
}

fn check(value: i64, per_second: i64, request: &Request<'_>) -> Result<(), VerifyError> {
    let now = request.now_millis / (1000 / per_second);
    let tolerance = Duration::from_secs(request.tolerance.as_secs() * per_second.unsigned_abs());
    check_timestamp(value, now, tolerance).map_err(|error| match error {
        VerifyError::TimestampOutOfTolerance { skew_secs, .. } => {
            VerifyError::TimestampOutOfTolerance {
                // Rounded up, so a skew just over the tolerance never reads as equal to it.
                skew_secs: skew_secs.div_ceil(per_second.unsigned_abs()),
                tolerance_secs: request.tolerance.as_secs(),
            }
        }
        other => other,
    })
}

/// The string or whole number at a JSON pointer of the body, as text.
fn body_text(body: &[u8], pointer: &'static str) -> Result<String, VerifyError> {
    let field = pointer.trim_start_matches('/');
    let text = std::str::from_utf8(body).map_err(|_| VerifyError::MalformedBody {
        field,
        reason: "the body is not UTF-8 JSON",
    })?;
    match crate::json::text_at(text, pointer) {
        crate::json::Found::Text(text) => Ok(text),
        _ => Err(VerifyError::MalformedBody {
            field,
            reason: "missing, or not a string or a whole number",
        }),
    }
}

impl Hashed {
    /// Verifies a delivery against any of `keys`.
    pub fn verify(&self, request: &Request<'_>, keys: &[&[u8]]) -> Result<(), VerifyError> {
        let carried = carried(self, request)?;
        let header_clock = match self.timestamp {
            Some(Timestamp {
                clock: Clock::Header(header),
                unit,
            }) => Some((header, unit)),
            Some(Timestamp {
                clock: Clock::Pairs,
                unit,
            }) => Some((self.signature.header(), unit)),
            _ => None,
        };
        // A timestamp in a header must be well formed before anything is computed.
        let parsed = match (header_clock, carried.timestamp) {
            (Some((header, unit)), Some(text)) => Some(timestamp_seconds(text, unit, header)?),
            _ => None,
        };
        let verified = keys.iter().any(|key| {
            content(self, request, carried.timestamp, key).is_ok_and(|parts| {
                carried
                    .signatures
                    .iter()
                    .any(|candidate| matches(self, key, &slices(&parts), candidate))
            })
        });
        if !verified {
            // A missing header the content needs is malformed, not a mismatch.
            content(self, request, carried.timestamp, b"")?;
            return Err(VerifyError::SignatureMismatch);
        }
        if let Some((value, per_second)) = parsed {
            check(value, per_second, request)?;
        }
        if let Some(Timestamp {
            clock: Clock::Body(pointer),
            unit,
        }) = self.timestamp
        {
            let text = body_text(request.body, pointer)?;
            let field = pointer.trim_start_matches('/');
            let (value, per_second) =
                timestamp_seconds(&text, unit, "body").map_err(|_| VerifyError::MalformedBody {
                    field,
                    reason: "not a Unix time",
                })?;
            check(value, per_second, request)?;
        }
        Ok(())
    }

    /// The signature header's value a sender would send: `timestamp` is the signed timestamp's
    /// text (also sent in its own header by the caller where the scheme has one).
    pub fn sign(
        &self,
        request: &Request<'_>,
        key: &[u8],
        timestamp: Option<&str>,
    ) -> Result<String, VerifyError> {
        let parts = content(self, request, timestamp, key)?;
        let signature = encode(
            self.encoding,
            &raw(self.digest, self.keying, key, &slices(&parts)),
        );
        Ok(match self.signature {
            Signature::Header { prefix, .. } => format!("{prefix}{signature}"),
            // The sender puts it at the pointer.
            Signature::Body(_) => signature,
            Signature::Pairs {
                separator,
                timestamp_key,
                signature_key,
                ..
            } => match (self.timestamp.map(|t| t.clock), timestamp) {
                (Some(Clock::Pairs), Some(t)) => {
                    format!("{timestamp_key}={t}{separator}{signature_key}={signature}")
                }
                _ => format!("{signature_key}={signature}"),
            },
        })
    }
}

impl Token {
    /// Verifies that the header carries one of `secrets`, in constant time per secret.
    pub fn verify(&self, request: &Request<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        let from_body;
        let value = match self.pointer {
            Some(pointer) => {
                from_body = body_text(request.body, pointer)?;
                from_body.as_str()
            }
            None => required(request, self.header)?,
        };
        let token = value.strip_prefix(self.prefix).ok_or(malformed(
            self.header,
            "the token does not have the expected prefix",
        ))?;
        if secrets
            .iter()
            .any(|secret| bool::from(token.as_bytes().ct_eq(secret)))
        {
            Ok(())
        } else {
            Err(VerifyError::SignatureMismatch)
        }
    }

    /// The header's value a sender would send.
    pub fn sign(&self, secret: &str) -> String {
        format!("{}{secret}", self.prefix)
    }
}

/// HTTP Basic authentication (RFC 7617): the secret is `user:password`.
pub fn verify_basic(request: &Request<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
    let value = required(request, "authorization")?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        .ok_or(malformed("authorization", "expected Basic credentials"))?;
    let decoded = BASE64
        .decode(encoded.trim())
        .map_err(|_| malformed("authorization", "the credentials are not base64"))?;
    if secrets
        .iter()
        .any(|secret| bool::from(decoded.as_slice().ct_eq(secret)))
    {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

/// The `Authorization` value for Basic credentials `user:password`.
pub fn sign_basic(secret: &str) -> String {
    format!("Basic {}", BASE64.encode(secret))
}

#[cfg(test)]
mod tests;

/// How a provider authenticates its deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// A keyed hash of the delivery.
    Hashed(Hashed),
    /// A shared token in a header.
    Token(Token),
    /// HTTP Basic credentials.
    Basic,
}

impl Scheme {
    /// The scheme family's name, as the provider catalogue shows it.
    pub const fn family(&self) -> &'static str {
        match self {
            Self::Hashed(Hashed {
                keying: Keying::SecretInContent,
                ..
            }) => "hash-with-secret",
            Self::Hashed(Hashed {
                signature: Signature::Pairs { .. },
                ..
            }) => "hmac-pairs",
            Self::Hashed(Hashed {
                timestamp: Some(_), ..
            }) => "hmac-timestamped",
            Self::Hashed(Hashed { signed, .. }) if signed.len() == 1 => "hmac-body",
            Self::Hashed(_) => "hmac-template",
            Self::Token(_) => "token",
            Self::Basic => "basic-auth",
        }
    }

    /// Verifies a delivery against any of `keys`.
    pub fn verify(&self, request: &Request<'_>, keys: &[&[u8]]) -> Result<(), VerifyError> {
        match self {
            Self::Hashed(hashed) => hashed.verify(request, keys),
            Self::Token(token) => token.verify(request, keys),
            Self::Basic => verify_basic(request, keys),
        }
    }

    /// The headers a sender sets to authenticate: the signature (or token, or credentials)
    /// and, where the scheme has one in a header of its own, the timestamp.
    pub fn sign(
        &self,
        request: &Request<'_>,
        key: &[u8],
        timestamp: &str,
    ) -> Result<Vec<(&'static str, String)>, VerifyError> {
        let text = || String::from_utf8_lossy(key).into_owned();
        Ok(match self {
            Self::Hashed(hashed) => {
                let mut headers = Vec::new();
                if let Some(Timestamp {
                    clock: Clock::Header(header),
                    ..
                }) = hashed.timestamp
                {
                    headers.push((header, timestamp.to_owned()));
                }
                let lookup = |name: &str| {
                    headers
                        .iter()
                        .find(|(header, _)| *header == name)
                        .map(|(_, value)| value.as_str())
                        .or_else(|| (request.header)(name))
                };
                let with_timestamp = Request {
                    header: &lookup,
                    ..*request
                };
                let signature = hashed.sign(&with_timestamp, key, Some(timestamp))?;
                headers.push((hashed.signature.header(), signature));
                headers
            }
            Self::Token(token) => vec![(token.header, token.sign(&text()))],
            Self::Basic => vec![("authorization", sign_basic(&text()))],
        })
    }
}
