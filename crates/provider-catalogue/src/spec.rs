//! What a row says.

use webhook_verify::scheme::{Clock, Hashed, Part, Scheme, Signature, Timestamp};

/// JSON.
pub const JSON: &str = "application/json";
/// A form (`application/x-www-form-urlencoded`).
pub const FORM: &str = "application/x-www-form-urlencoded";

/// Where a value of a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A request header (lower-case name).
    Header(&'static str),
    /// A JSON pointer (RFC 6901) into the payload; the value must be a string or a whole number.
    Json(&'static str),
    /// The SHA-256 of the raw body, hex: for a provider that sends no delivery id, whose retries
    /// resend the same bytes.
    BodyDigest,
    /// Nowhere: the provider does not say (an event type only).
    Absent,
}

impl Field {
    /// How problems name it: `header:x-github-delivery`, or the pointer itself (`/id`).
    pub fn name(self) -> String {
        match self {
            Self::Header(name) => format!("header:{name}"),
            Self::Json(pointer) => pointer.to_owned(),
            Self::BodyDigest => "body".to_owned(),
            Self::Absent => String::new(),
        }
    }
}

/// What a provider's secrets look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFormat {
    /// Used as the key as written.
    Text,
    /// Standard Webhooks: `whsec_` and the base64 of the key.
    StandardWebhooks,
    /// The base64 of the key (Airtable's `macSecretBase64`).
    Base64,
}

/// How the payload is read from a verified body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// A JSON object.
    Json,
    /// A JSON object or array (senders that batch events).
    JsonAny,
    /// JSON, or a form whose `payload` field holds it (GitHub).
    JsonOrFormPayload,
    /// A form, stored as a JSON object of its fields (Twilio, Mandrill).
    Form,
}

/// A request answered as the provider documents it, and never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// A verified delivery whose `kind` equals `value`: answered with the string at the JSON
    /// pointer `echo`, as `text/plain` (Slack's `url_verification`, Twitch's
    /// `webhook_callback_verification`).
    Echo {
        /// Where it says what it is.
        kind: Field,
        /// What makes it a handshake.
        value: &'static str,
        /// The JSON pointer of the string to answer with.
        echo: &'static str,
    },
    /// A verified delivery whose list at the JSON pointer is empty: answered 200 (LINE's and
    /// Xero's endpoint checks).
    EmptyList(&'static str),
    /// Zoom's `endpoint.url_validation`: answered with `{"plainToken", "encryptedToken"}`, the
    /// latter the hex HMAC-SHA256 of the plain token under the secret.
    ZoomUrlValidation,
    /// A verified delivery carrying this header: answered with its value as `text/plain`
    /// (Front's `x-front-challenge`).
    EchoHeader(&'static str),
    /// A `GET` with this query parameter, answered with its value as `text/plain` (Dropbox's
    /// `challenge`).
    GetEcho(&'static str),
    /// Meta's `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`: the challenge
    /// echoed when the verify token is one of the configured secrets.
    MetaVerify,
    /// X's CRC: `GET ?crc_token=…`, answered `{"response_token": "sha256=<base64 HMAC-SHA256
    /// of the token under the secret>"}`.
    XCrc,
    /// Okta's one-time verification: a `GET` with `x-okta-verification-challenge`, answered
    /// `{"verification": <its value>}`.
    OktaVerification,
    /// A `POST` with this query parameter, answered before any check with its value as
    /// `text/plain` (Microsoft Graph's `?validationToken=` when a subscription is created).
    PostQueryEcho(&'static str),
    /// An unsigned `POST` that hands over the secret the provider will sign with: Asana's
    /// `X-Hook-Secret` header (answered 200 with the same header), Notion's
    /// `verification_token` (answered 200). Recognised by `secret` present and the `unless`
    /// signature header absent, before any signature check (there is none to check); the
    /// secret is kept for the operator to read and configure (`GET /api/handshakes`), never
    /// trusted by itself: anyone can send one.
    SecretHandover {
        /// Where the secret is: a header or a JSON pointer.
        secret: Field,
        /// The signature header every real delivery carries.
        unless: &'static str,
    },
}

impl Handshake {
    /// Whether it is a `GET`, answered before (and instead of) a signature check.
    pub const fn is_get(self) -> bool {
        matches!(
            self,
            Self::GetEcho(_) | Self::MetaVerify | Self::XCrc | Self::OktaVerification
        )
    }

    /// Its name in the catalogue.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Echo { .. } => "echo-challenge",
            Self::EmptyList(_) => "empty-ping",
            Self::ZoomUrlValidation => "zoom-url-validation",
            Self::EchoHeader(_) => "echo-header",
            Self::GetEcho(_) => "get-challenge",
            Self::MetaVerify => "meta-hub-challenge",
            Self::XCrc => "x-crc",
            Self::OktaVerification => "okta-verification",
            Self::SecretHandover { .. } => "secret-handover",
            Self::PostQueryEcho(_) => "post-query-echo",
        }
    }
}

/// How a row is proven (each kind backed by a test that fails when the row is wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Signed or verified in a test by the provider's own library (npm).
    Sdk(&'static str),
    /// The provider's documented example vector.
    Published,
    /// A vector computed independently (Python's `hmac`) from the documented algorithm.
    Computed,
}

impl Proof {
    /// Its name in the catalogue.
    pub const fn kind(self) -> &'static str {
        match self {
            Self::Sdk(_) => "sdk",
            Self::Published => "published-vector",
            Self::Computed => "computed-vector",
        }
    }
}

/// One provider's row.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// How its deliveries are authenticated.
    pub scheme: Scheme,
    /// What its secrets look like.
    pub secret_format: SecretFormat,
    /// How its payload is read.
    pub body: BodyFormat,
    /// Media types it sends.
    pub media_types: &'static [&'static str],
    /// Headers kept with a stored event besides those the scheme and the fields read.
    pub extra_headers: &'static [&'static str],
    /// Where its delivery id is (the same on its retries, so a retry is a duplicate).
    pub delivery_id: Field,
    /// Where its event type is.
    pub event_type: Field,
    /// Whether a delivery without an event type is refused (400) rather than stored untyped.
    pub type_required: bool,
    /// Where the action within the type is, if the provider has one.
    pub action: Option<Field>,
    /// A request to answer without storing it.
    pub handshake: Option<Handshake>,
    /// How the row is proven.
    pub proof: Proof,
}

impl Spec {
    /// The headers a stored delivery keeps: enough to re-verify and re-identify it.
    pub fn kept_headers(&self) -> Vec<&'static str> {
        let mut headers = vec!["content-type", "user-agent"];
        headers.extend(scheme_headers(&self.scheme));
        for field in [Some(self.delivery_id), Some(self.event_type), self.action]
            .into_iter()
            .flatten()
        {
            if let Field::Header(name) = field {
                headers.push(name);
            }
        }
        if let Some(Handshake::Echo {
            kind: Field::Header(name),
            ..
        }) = self.handshake
        {
            headers.push(name);
        }
        headers.extend(self.extra_headers);
        let mut seen = Vec::with_capacity(headers.len());
        for header in headers {
            if !seen.contains(&header) {
                seen.push(header);
            }
        }
        seen
    }
}

/// The headers a scheme reads.
pub fn scheme_headers(scheme: &Scheme) -> Vec<&'static str> {
    match scheme {
        Scheme::Hashed(Hashed {
            signature,
            signed,
            timestamp,
            ..
        }) => {
            let mut headers = Vec::new();
            if !matches!(signature, Signature::Body(_)) {
                headers.push(signature.header());
            }
            if let Some(Timestamp {
                clock: Clock::Header(name),
                ..
            }) = timestamp
            {
                headers.push(*name);
            }
            headers.extend(signed.iter().filter_map(|part| match part {
                Part::Header(name) => Some(*name),
                _ => None,
            }));
            headers
        }
        // A token or credentials are the secret itself: never kept.
        Scheme::Token(_) | Scheme::Basic => Vec::new(),
    }
}
