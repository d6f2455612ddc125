//! The rows. Each is checked against the provider's documentation (`docs`) and proven as its
//! `proof` says (tests in `tests.rs` and the end-to-end suite).

use webhook_verify::scheme::{
    Clock, Digest, Encoding, Hashed, Keying, Part, Scheme, Signature, Timestamp, Token, Unit,
};
use webhook_verify::{github, linear, shopify, slack, standard, stripe};

use crate::spec::{BodyFormat, Field, Handshake, Proof, SecretFormat, Spec, FORM, JSON};

/// Declares [`Provider`] and the table from one list of `Variant => "slug", "Name", "docs URL",
/// row,`. The name and the docs are kept apart from the rows, so a component that only verifies
/// does not link them.
macro_rules! catalogue {
    ($($variant:ident => $slug:literal, $name:literal, $docs:literal, $row:expr,)+) => {
        /// A webhook provider this service verifies. In JSON it is its slug (serialized by
        /// hand through [`Provider::as_str`] and [`Provider::parse`]: a derive would generate a
        /// match over every slug twice, in every component).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Provider {
            $(
                #[doc = concat!("`", $slug, "`")]
                $variant,
            )+
        }

        impl Provider {
            /// Every provider, in a stable order (the order of the catalogue).
            pub const ALL: &'static [Provider] = &[$(Self::$variant,)+];

            /// The name used in paths (`/webhooks/github`), keys and JSON.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $slug,)+
                }
            }

            /// Its name as people write it.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// Where its signing is documented.
            pub const fn docs(self) -> &'static str {
                match self {
                    $(Self::$variant => $docs,)+
                }
            }

            /// The variable holding its secrets: `webhook_<slug>_secret`.
            pub const fn secret_variable(self) -> &'static str {
                match self {
                    $(Self::$variant => concat!("webhook_", $slug, "_secret"),)+
                }
            }
        }

        /// The rows, in the order of [`Provider::ALL`].
        pub(crate) const SPECS: &[Spec] = &[$($row,)+];
    };
}

/// What most rows share: HMAC-SHA256 of the raw JSON body, hex, proven by a computed vector.
const ROW: Spec = Spec {
    scheme: Scheme::Hashed(SHA256_HEX),
    secret_format: SecretFormat::Text,
    body: BodyFormat::Json,
    media_types: &[JSON],
    extra_headers: &[],
    delivery_id: Field::BodyDigest,
    event_type: Field::Absent,
    type_required: false,
    action: None,
    handshake: None,
    proof: Proof::Computed,
};

/// HMAC-SHA256 of the raw body, hex, in a header still to be named.
const SHA256_HEX: Hashed = Hashed {
    digest: Digest::Sha256,
    keying: Keying::Hmac,
    encoding: Encoding::Hex,
    signature: header("", ""),
    signed: &[Part::Body],
    timestamp: None,
};

/// HMAC-SHA256 of the raw body, hex, in `name` after `prefix`.
const fn hex_body(name: &'static str, prefix: &'static str) -> Scheme {
    Scheme::Hashed(Hashed {
        signature: header(name, prefix),
        ..SHA256_HEX
    })
}

/// HMAC-SHA256 of the raw body, base64, in `name` after `prefix`.
const fn base64_body(name: &'static str, prefix: &'static str) -> Scheme {
    Scheme::Hashed(Hashed {
        encoding: Encoding::Base64,
        signature: header(name, prefix),
        ..SHA256_HEX
    })
}

/// `t=…,v1=…`-style pairs over `<t>.<body>`, HMAC-SHA256 hex: Stripe's scheme, other names.
const fn dotted_pairs(
    name: &'static str,
    timestamp_key: &'static str,
    signature_key: &'static str,
    unit: Unit,
) -> Scheme {
    Scheme::Hashed(Hashed {
        signature: Signature::Pairs {
            name,
            separator: ',',
            timestamp_key,
            signature_key,
        },
        timestamp: Some(Timestamp {
            clock: Clock::Pairs,
            unit,
        }),
        ..stripe::SCHEME
    })
}

/// `v0:<timestamp>:<body>`, hex, after `prefix`, the timestamp (seconds) in its own header:
/// Slack's scheme, other names.
const fn v0(name: &'static str, timestamp: &'static str, prefix: &'static str) -> Scheme {
    Scheme::Hashed(Hashed {
        signature: header(name, prefix),
        timestamp: seconds_in(timestamp),
        ..slack::SCHEME
    })
}

/// Standard Webhooks (<https://www.standardwebhooks.com>).
const STANDARD_WEBHOOKS: Scheme = Scheme::Hashed(standard::SCHEME);

/// Standard Webhooks as Svix sends it, with `svix-` header names (the signature's prefix and
/// separator are Standard Webhooks').
const SVIX: Scheme = Scheme::Hashed(Hashed {
    signature: match standard::SCHEME.signature {
        Signature::Header {
            prefix, separator, ..
        } => Signature::Header {
            name: "svix-signature",
            prefix,
            separator,
        },
        other => other,
    },
    signed: &[
        Part::Header("svix-id"),
        Part::Text("."),
        Part::Timestamp,
        Part::Text("."),
        Part::Body,
    ],
    timestamp: seconds_in("svix-timestamp"),
    ..standard::SCHEME
});

/// A shared value at a JSON pointer of the body.
const fn body_token(pointer: &'static str) -> Scheme {
    Scheme::Token(Token {
        header: "body",
        prefix: "",
        pointer: Some(pointer),
    })
}

/// A shared token in `header`.
const fn token(header: &'static str) -> Scheme {
    Scheme::Token(Token {
        header,
        prefix: "",
        pointer: None,
    })
}

const fn header(name: &'static str, prefix: &'static str) -> Signature {
    Signature::Header {
        name,
        prefix,
        separator: None,
    }
}

const fn seconds_in(name: &'static str) -> Option<Timestamp> {
    Some(Timestamp {
        clock: Clock::Header(name),
        unit: Unit::Seconds,
    })
}

catalogue! {
    Github => "github",
        "GitHub",
        "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
        Spec {
        scheme: Scheme::Hashed(github::SCHEME),
        body: BodyFormat::JsonOrFormPayload,
        media_types: &[JSON, FORM],
        extra_headers: &[
            "x-github-hook-id",
            "x-github-hook-installation-target-id",
            "x-github-hook-installation-target-type",
        ],
        delivery_id: Field::Header("x-github-delivery"),
        event_type: Field::Header("x-github-event"),
        type_required: true,
        action: Some(Field::Json("/action")),
        proof: Proof::Sdk("@octokit/webhooks-methods"),
        ..ROW
    },
    Stripe => "stripe",
        "Stripe",
        "https://docs.stripe.com/webhooks#verify-manually",
        Spec {
        scheme: Scheme::Hashed(stripe::SCHEME),
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/type"),
        type_required: true,
        proof: Proof::Sdk("stripe"),
        ..ROW
    },
    Standard => "standard",
        "Standard Webhooks",
        "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
        Spec {
        scheme: STANDARD_WEBHOOKS,
        secret_format: SecretFormat::StandardWebhooks,
        delivery_id: Field::Header("webhook-id"),
        // The specification only recommends a `type`.
        event_type: Field::Json("/type"),
        proof: Proof::Sdk("standardwebhooks"),
        ..ROW
    },
    Shopify => "shopify",
        "Shopify",
        "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook",
        Spec {
        scheme: Scheme::Hashed(shopify::SCHEME),
        extra_headers: &["x-shopify-shop-domain", "x-shopify-triggered-at", "x-shopify-api-version"],
        delivery_id: Field::Header("x-shopify-webhook-id"),
        event_type: Field::Header("x-shopify-topic"),
        type_required: true,
        proof: Proof::Sdk("@shopify/shopify-api"),
        ..ROW
    },
    Slack => "slack",
        "Slack",
        "https://docs.slack.dev/authentication/verifying-requests-from-slack",
        Spec {
        scheme: Scheme::Hashed(slack::SCHEME),
        extra_headers: &["x-slack-retry-num", "x-slack-retry-reason"],
        // An `event_callback`'s id; Slack's retries (`X-Slack-Retry-Num`) carry the same one.
        delivery_id: Field::Json("/event_id"),
        event_type: Field::Json("/event/type"),
        type_required: true,
        handshake: Some(Handshake::Echo {
            kind: Field::Json("/type"),
            value: "url_verification",
            echo: "/challenge",
        }),
        proof: Proof::Sdk("@slack/bolt"),
        ..ROW
    },
    Linear => "linear",
        "Linear",
        "https://linear.app/developers/webhooks#securing-webhooks",
        Spec {
        scheme: Scheme::Hashed(linear::SCHEME),
        delivery_id: Field::Header("linear-delivery"),
        event_type: Field::Header("linear-event"),
        type_required: true,
        action: Some(Field::Json("/action")),
        proof: Proof::Sdk("@linear/sdk"),
        ..ROW
    },
    Gitlab => "gitlab",
        "GitLab",
        "https://docs.gitlab.com/user/project/integrations/webhooks/",
        Spec {
        scheme: token("x-gitlab-token"),
        extra_headers: &["x-gitlab-event-uuid", "x-gitlab-instance", "x-gitlab-webhook-uuid"],
        // GitLab 17.4 and later: the same key on automatic and manual retries.
        delivery_id: Field::Header("idempotency-key"),
        event_type: Field::Header("x-gitlab-event"),
        type_required: true,
        action: Some(Field::Json("/object_attributes/action")),
        ..ROW
    },
    Bitbucket => "bitbucket",
        "Bitbucket Cloud",
        "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/",
        Spec {
        scheme: hex_body("x-hub-signature", "sha256="),
        extra_headers: &["x-hook-uuid", "x-attempt-number"],
        delivery_id: Field::Header("x-request-uuid"),
        event_type: Field::Header("x-event-key"),
        type_required: true,
        ..ROW
    },
    Gitea => "gitea",
        "Gitea",
        "https://docs.gitea.com/usage/repository/webhooks",
        Spec {
        scheme: hex_body("x-gitea-signature", ""),
        delivery_id: Field::Header("x-gitea-delivery"),
        event_type: Field::Header("x-gitea-event"),
        type_required: true,
        action: Some(Field::Json("/action")),
        ..ROW
    },
    Forgejo => "forgejo",
        "Forgejo",
        "https://forgejo.org/docs/latest/user/webhooks/",
        Spec {
        scheme: hex_body("x-forgejo-signature", ""),
        delivery_id: Field::Header("x-forgejo-delivery"),
        event_type: Field::Header("x-forgejo-event"),
        type_required: true,
        action: Some(Field::Json("/action")),
        ..ROW
    },
    AzureDevops => "azuredevops",
        "Azure DevOps",
        "https://learn.microsoft.com/azure/devops/service-hooks/services/webhooks",
        Spec {
        scheme: Scheme::Basic,
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/eventType"),
        type_required: true,
        ..ROW
    },
    Jira => "jira",
        "Jira (admin webhooks)",
        "https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks",
        Spec {
        scheme: hex_body("x-hub-signature", "sha256="),
        delivery_id: Field::Header("x-atlassian-webhook-identifier"),
        event_type: Field::Json("/webhookEvent"),
        type_required: true,
        ..ROW
    },
    Twilio => "twilio",
        "Twilio",
        "https://www.twilio.com/docs/usage/webhooks/webhooks-security",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            digest: Digest::Sha1,
            encoding: Encoding::Base64,
            signature: header("x-twilio-signature", ""),
            signed: &[Part::Url, Part::SortedForm],
            ..SHA256_HEX
        }),
        body: BodyFormat::Form,
        media_types: &[FORM],
        delivery_id: Field::Header("i-twilio-idempotency-token"),
        proof: Proof::Sdk("twilio"),
        ..ROW
    },
    Mailgun => "mailgun",
        "Mailgun",
        "https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks",
        Spec {
        // Only the timestamp and token are signed, not the event data (Mailgun's design): a
        // replayed token is a duplicate here, since the event id is the delivery id.
        scheme: Scheme::Hashed(Hashed {
            signature: Signature::Body("/signature/signature"),
            signed: &[
                Part::BodyField("/signature/timestamp"),
                Part::BodyField("/signature/token"),
            ],
            timestamp: Some(Timestamp {
                clock: Clock::Body("/signature/timestamp"),
                unit: Unit::Seconds,
            }),
            ..SHA256_HEX
        }),
        delivery_id: Field::Json("/event-data/id"),
        event_type: Field::Json("/event-data/event"),
        type_required: true,
        ..ROW
    },
    Postmark => "postmark",
        "Postmark",
        "https://postmarkapp.com/developer/webhooks/webhooks-overview",
        Spec {
        scheme: Scheme::Basic,
        event_type: Field::Json("/RecordType"),
        type_required: true,
        ..ROW
    },
    Mandrill => "mandrill",
        "Mandrill",
        "https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/#authenticating-webhook-requests",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            digest: Digest::Sha1,
            encoding: Encoding::Base64,
            signature: header("x-mandrill-signature", ""),
            signed: &[Part::Url, Part::SortedForm],
            ..SHA256_HEX
        }),
        body: BodyFormat::Form,
        media_types: &[FORM],
        ..ROW
    },
    Paddle => "paddle",
        "Paddle Billing",
        "https://developer.paddle.com/webhooks/signature-verification",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            signature: Signature::Pairs {
                name: "paddle-signature",
                separator: ';',
                timestamp_key: "ts",
                signature_key: "h1",
            },
            signed: &[Part::Timestamp, Part::Text(":"), Part::Body],
            timestamp: Some(Timestamp {
                clock: Clock::Pairs,
                unit: Unit::Seconds,
            }),
            ..SHA256_HEX
        }),
        delivery_id: Field::Json("/notification_id"),
        event_type: Field::Json("/event_type"),
        type_required: true,
        proof: Proof::Sdk("@paddle/paddle-node-sdk"),
        ..ROW
    },
    LemonSqueezy => "lemonsqueezy",
        "Lemon Squeezy",
        "https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
        Spec {
        scheme: hex_body("x-signature", ""),
        event_type: Field::Header("x-event-name"),
        type_required: true,
        ..ROW
    },
    Square => "square",
        "Square",
        "https://developer.squareup.com/docs/webhooks/step3validate",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            encoding: Encoding::Base64,
            signature: header("x-square-hmacsha256-signature", ""),
            signed: &[Part::Url, Part::Body],
            ..SHA256_HEX
        }),
        delivery_id: Field::Json("/event_id"),
        event_type: Field::Json("/type"),
        type_required: true,
        proof: Proof::Sdk("square"),
        ..ROW
    },
    Razorpay => "razorpay",
        "Razorpay",
        "https://razorpay.com/docs/webhooks/validate-test/",
        Spec {
        scheme: hex_body("x-razorpay-signature", ""),
        delivery_id: Field::Header("x-razorpay-event-id"),
        event_type: Field::Json("/event"),
        type_required: true,
        proof: Proof::Sdk("razorpay"),
        ..ROW
    },
    Gocardless => "gocardless",
        "GoCardless",
        "https://developer.gocardless.com/getting-started/staying-up-to-date-with-webhooks",
        Spec {
        scheme: hex_body("webhook-signature", ""),
        delivery_id: Field::Json("/meta/webhook_id"),
        event_type: Field::Json("/events/0/resource_type"),
        action: Some(Field::Json("/events/0/action")),
        proof: Proof::Sdk("gocardless-nodejs"),
        ..ROW
    },
    Coinbase => "coinbase",
        "Coinbase Commerce",
        "https://docs.cdp.coinbase.com/commerce/api-architecture/webhooks-security",
        Spec {
        scheme: hex_body("x-cc-webhook-signature", ""),
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/event/type"),
        type_required: true,
        proof: Proof::Sdk("coinbase-commerce-node"),
        ..ROW
    },
    Xero => "xero",
        "Xero",
        "https://developer.xero.com/documentation/guides/webhooks/overview/",
        Spec {
        scheme: base64_body("x-xero-signature", ""),
        body: BodyFormat::Json,
        event_type: Field::Json("/events/0/eventType"),
        // Intent to receive: a signed delivery with no events, answered 200 (and a badly signed
        // one 401, as for every provider).
        handshake: Some(Handshake::EmptyList("/events")),
        ..ROW
    },
    Quickbooks => "quickbooks",
        "Intuit QuickBooks",
        "https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks",
        Spec {
        scheme: base64_body("intuit-signature", ""),
        body: BodyFormat::JsonAny,
        ..ROW
    },
    Hubspot => "hubspot",
        "HubSpot",
        "https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation",
        Spec {
        // Signature v3: method, URL, body and the timestamp (milliseconds).
        scheme: Scheme::Hashed(Hashed {
            encoding: Encoding::Base64,
            signature: header("x-hubspot-signature-v3", ""),
            signed: &[Part::Text("POST"), Part::Url, Part::Body, Part::Timestamp],
            timestamp: Some(Timestamp {
                clock: Clock::Header("x-hubspot-request-timestamp"),
                unit: Unit::Millis,
            }),
            ..SHA256_HEX
        }),
        body: BodyFormat::JsonAny,
        event_type: Field::Json("/0/subscriptionType"),
        proof: Proof::Sdk("@hubspot/api-client"),
        ..ROW
    },
    Intercom => "intercom",
        "Intercom",
        "https://developers.intercom.com/docs/webhooks/setting-up-webhooks",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            digest: Digest::Sha1,
            signature: header("x-hub-signature", "sha1="),
            ..SHA256_HEX
        }),
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/topic"),
        type_required: true,
        ..ROW
    },
    Zendesk => "zendesk",
        "Zendesk",
        "https://developer.zendesk.com/documentation/webhooks/verifying/",
        Spec {
        // The timestamp is ISO 8601 text, signed but not a Unix time: no replay window.
        scheme: Scheme::Hashed(Hashed {
            encoding: Encoding::Base64,
            signature: header("x-zendesk-webhook-signature", ""),
            signed: &[Part::Header("x-zendesk-webhook-signature-timestamp"), Part::Body],
            ..SHA256_HEX
        }),
        delivery_id: Field::Header("x-zendesk-webhook-invocation-id"),
        event_type: Field::Json("/type"),
        ..ROW
    },
    Helpscout => "helpscout",
        "Help Scout",
        "https://developer.helpscout.com/webhooks/",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            digest: Digest::Sha1,
            encoding: Encoding::Base64,
            signature: header("x-helpscout-signature", ""),
            ..SHA256_HEX
        }),
        event_type: Field::Header("x-helpscout-event"),
        type_required: true,
        ..ROW
    },
    Front => "front",
        "Front",
        "https://dev.frontapp.com/docs/application-webhooks",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            encoding: Encoding::Base64,
            signature: header("x-front-signature", ""),
            signed: &[Part::Timestamp, Part::Text(":"), Part::Body],
            timestamp: Some(Timestamp {
                clock: Clock::Header("x-front-request-timestamp"),
                unit: Unit::Millis,
            }),
            ..SHA256_HEX
        }),
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/type"),
        handshake: Some(Handshake::EchoHeader("x-front-challenge")),
        ..ROW
    },
    Zoom => "zoom",
        "Zoom",
        "https://developers.zoom.us/docs/api/webhooks/",
        Spec {
        scheme: v0("x-zm-signature", "x-zm-request-timestamp", "v0="),
        event_type: Field::Json("/event"),
        type_required: true,
        handshake: Some(Handshake::ZoomUrlValidation),
        proof: Proof::Sdk("@zoom/rivet"),
        ..ROW
    },
    Calendly => "calendly",
        "Calendly",
        "https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures",
        Spec {
        scheme: dotted_pairs("calendly-webhook-signature", "t", "v1", Unit::Seconds),
        event_type: Field::Json("/event"),
        type_required: true,
        ..ROW
    },
    Typeform => "typeform",
        "Typeform",
        "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
        Spec {
        scheme: base64_body("typeform-signature", "sha256="),
        delivery_id: Field::Json("/event_id"),
        event_type: Field::Json("/event_type"),
        type_required: true,
        ..ROW
    },
    Asana => "asana",
        "Asana",
        "https://developers.asana.com/docs/webhooks-guide",
        Spec {
        scheme: hex_body("x-hook-signature", ""),
        event_type: Field::Json("/events/0/action"),
        handshake: Some(Handshake::SecretHandover {
            secret: Field::Header("x-hook-secret"),
            unless: "x-hook-signature",
        }),
        ..ROW
    },
    Trello => "trello",
        "Trello",
        "https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/",
        Spec {
        // The body, then the callback URL as registered.
        scheme: Scheme::Hashed(Hashed {
            digest: Digest::Sha1,
            encoding: Encoding::Base64,
            signature: header("x-trello-webhook", ""),
            signed: &[Part::Body, Part::Url],
            ..SHA256_HEX
        }),
        delivery_id: Field::Json("/action/id"),
        event_type: Field::Json("/action/type"),
        type_required: true,
        ..ROW
    },
    Notion => "notion",
        "Notion",
        "https://developers.notion.com/reference/webhooks",
        Spec {
        scheme: hex_body("x-notion-signature", "sha256="),
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/type"),
        type_required: true,
        handshake: Some(Handshake::SecretHandover {
            secret: Field::Json("/verification_token"),
            unless: "x-notion-signature",
        }),
        ..ROW
    },
    Airtable => "airtable",
        "Airtable",
        "https://airtable.com/developers/web/api/webhooks-overview",
        Spec {
        scheme: hex_body("x-airtable-content-mac", "hmac-sha256="),
        secret_format: SecretFormat::Base64,
        ..ROW
    },
    Telegram => "telegram",
        "Telegram",
        "https://core.telegram.org/bots/api#setwebhook",
        Spec {
        scheme: token("x-telegram-bot-api-secret-token"),
        delivery_id: Field::Json("/update_id"),
        ..ROW
    },
    MicrosoftGraph => "msgraph",
        "Microsoft Graph change notifications",
        "https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks",
        Spec {
        // The subscription's `clientState`, in each notification of the batch (the first is
        // checked; the stored copy has it redacted).
        scheme: body_token("/value/0/clientState"),
        event_type: Field::Json("/value/0/changeType"),
        handshake: Some(Handshake::PostQueryEcho("validationToken")),
        ..ROW
    },
    Figma => "figma",
        "Figma",
        "https://www.figma.com/developers/api#webhooks-v2",
        Spec {
        // The webhook's `passcode` (redacted in the stored copy).
        scheme: body_token("/passcode"),
        event_type: Field::Json("/event_type"),
        type_required: true,
        ..ROW
    },
    Meta => "meta",
        "Meta (WhatsApp, Messenger, Instagram)",
        "https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications",
        Spec {
        scheme: hex_body("x-hub-signature-256", "sha256="),
        event_type: Field::Json("/object"),
        handshake: Some(Handshake::MetaVerify),
        ..ROW
    },
    Line => "line",
        "LINE Messaging API",
        "https://developers.line.biz/en/reference/messaging-api/#signature-validation",
        Spec {
        scheme: base64_body("x-line-signature", ""),
        delivery_id: Field::Json("/events/0/webhookEventId"),
        event_type: Field::Json("/events/0/type"),
        type_required: true,
        handshake: Some(Handshake::EmptyList("/events")),
        proof: Proof::Sdk("@line/bot-sdk"),
        ..ROW
    },
    Twitch => "twitch",
        "Twitch EventSub",
        "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
        Spec {
        // The timestamp is RFC 3339 text, signed; the id is signed and the delivery id.
        scheme: Scheme::Hashed(Hashed {
            signature: header("twitch-eventsub-message-signature", "sha256="),
            signed: &[
                Part::Header("twitch-eventsub-message-id"),
                Part::Header("twitch-eventsub-message-timestamp"),
                Part::Body,
            ],
            ..SHA256_HEX
        }),
        delivery_id: Field::Header("twitch-eventsub-message-id"),
        event_type: Field::Header("twitch-eventsub-subscription-type"),
        handshake: Some(Handshake::Echo {
            kind: Field::Header("twitch-eventsub-message-type"),
            value: "webhook_callback_verification",
            echo: "/challenge",
        }),
        ..ROW
    },
    X => "x",
        "X (Account Activity)",
        "https://docs.x.com/x-api/webhooks/quickstart",
        Spec {
        scheme: base64_body("x-twitter-webhooks-signature", "sha256="),
        handshake: Some(Handshake::XCrc),
        ..ROW
    },
    Dropbox => "dropbox",
        "Dropbox",
        "https://www.dropbox.com/developers/reference/webhooks",
        Spec {
        scheme: hex_body("x-dropbox-signature", ""),
        handshake: Some(Handshake::GetEcho("challenge")),
        proof: Proof::Published,
        ..ROW
    },
    Box => "box",
        "Box",
        "https://developer.box.com/guides/webhooks/v2/signatures-v2/",
        Spec {
        // The body, then the delivery timestamp (RFC 3339 text, signed); a retry changes
        // `box-delivery-id` but not the body's `id`.
        scheme: Scheme::Hashed(Hashed {
            encoding: Encoding::Base64,
            signature: header("box-signature-primary", ""),
            signed: &[Part::Body, Part::Header("box-delivery-timestamp")],
            ..SHA256_HEX
        }),
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/trigger"),
        type_required: true,
        proof: Proof::Sdk("box-node-sdk"),
        ..ROW
    },
    Docusign => "docusign",
        "DocuSign Connect",
        "https://developers.docusign.com/platform/webhooks/connect/hmac/",
        Spec {
        scheme: base64_body("x-docusign-signature-1", ""),
        event_type: Field::Json("/event"),
        ..ROW
    },
    Okta => "okta",
        "Okta event hooks",
        "https://developer.okta.com/docs/concepts/event-hooks/",
        Spec {
        scheme: token("authorization"),
        delivery_id: Field::Json("/eventId"),
        event_type: Field::Json("/data/events/0/eventType"),
        handshake: Some(Handshake::OktaVerification),
        ..ROW
    },
    Workos => "workos",
        "WorkOS",
        "https://workos.com/docs/events/data-syncing/webhooks",
        Spec {
        scheme: dotted_pairs("workos-signature", "t", "v1", Unit::Millis),
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/event"),
        type_required: true,
        proof: Proof::Sdk("@workos-inc/node"),
        ..ROW
    },
    Clerk => "clerk",
        "Clerk",
        "https://clerk.com/docs/webhooks/sync-data",
        Spec {
        scheme: SVIX,
        secret_format: SecretFormat::StandardWebhooks,
        delivery_id: Field::Header("svix-id"),
        event_type: Field::Json("/type"),
        type_required: true,
        proof: Proof::Sdk("@clerk/backend"),
        ..ROW
    },
    Resend => "resend",
        "Resend",
        "https://resend.com/docs/webhooks/verify-webhooks-requests",
        Spec {
        scheme: SVIX,
        secret_format: SecretFormat::StandardWebhooks,
        delivery_id: Field::Header("svix-id"),
        event_type: Field::Json("/type"),
        type_required: true,
        proof: Proof::Sdk("resend"),
        ..ROW
    },
    Svix => "svix",
        "Svix",
        "https://docs.svix.com/receiving/verifying-payloads/how-manual",
        Spec {
        scheme: SVIX,
        secret_format: SecretFormat::StandardWebhooks,
        delivery_id: Field::Header("svix-id"),
        event_type: Field::Json("/type"),
        proof: Proof::Sdk("svix"),
        ..ROW
    },
    Vercel => "vercel",
        "Vercel",
        "https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            digest: Digest::Sha1,
            signature: header("x-vercel-signature", ""),
            ..SHA256_HEX
        }),
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/type"),
        type_required: true,
        ..ROW
    },
    Sentry => "sentry",
        "Sentry",
        "https://docs.sentry.io/organization/integrations/integration-platform/webhooks/",
        Spec {
        scheme: hex_body("sentry-hook-signature", ""),
        extra_headers: &["sentry-hook-timestamp"],
        delivery_id: Field::Header("request-id"),
        event_type: Field::Header("sentry-hook-resource"),
        type_required: true,
        action: Some(Field::Json("/action")),
        ..ROW
    },
    Pagerduty => "pagerduty",
        "PagerDuty (v3)",
        "https://developer.pagerduty.com/docs/webhooks/webhook-signatures/",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            signature: Signature::Header {
                name: "x-pagerduty-signature",
                prefix: "v1=",
                separator: Some(','),
            },
            ..SHA256_HEX
        }),
        extra_headers: &["x-webhook-id"],
        delivery_id: Field::Json("/event/id"),
        event_type: Field::Json("/event/event_type"),
        type_required: true,
        ..ROW
    },
    Grafana => "grafana",
        "Grafana Alerting",
        "https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/",
        Spec {
        scheme: hex_body("x-grafana-alerting-signature", ""),
        event_type: Field::Json("/status"),
        ..ROW
    },
    Sanity => "sanity",
        "Sanity",
        "https://www.sanity.io/docs/webhooks",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            encoding: Encoding::Base64Url,
            signature: Signature::Pairs {
                name: "sanity-webhook-signature",
                separator: ',',
                timestamp_key: "t",
                signature_key: "v1",
            },
            timestamp: Some(Timestamp {
                clock: Clock::Pairs,
                unit: Unit::Millis,
            }),
            // Stripe's `<t>.<body>`.
            ..stripe::SCHEME
        }),
        extra_headers: &["sanity-project-id", "sanity-dataset", "sanity-document-id"],
        delivery_id: Field::Header("idempotency-key"),
        event_type: Field::Header("sanity-operation"),
        proof: Proof::Sdk("@sanity/webhook"),
        ..ROW
    },
    Mux => "mux",
        "Mux",
        "https://www.mux.com/docs/core/verify-webhook-signatures",
        Spec {
        scheme: dotted_pairs("mux-signature", "t", "v1", Unit::Seconds),
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/type"),
        type_required: true,
        proof: Proof::Sdk("@mux/mux-node"),
        ..ROW
    },
    Cloudinary => "cloudinary",
        "Cloudinary",
        "https://cloudinary.com/documentation/notification_signatures",
        Spec {
        // A plain SHA-1 of the body, the timestamp and the API secret (not an HMAC).
        scheme: Scheme::Hashed(Hashed {
            digest: Digest::Sha1,
            keying: Keying::SecretInContent,
            signature: header("x-cld-signature", ""),
            signed: &[Part::Body, Part::Timestamp, Part::Secret],
            timestamp: seconds_in("x-cld-timestamp"),
            ..SHA256_HEX
        }),
        event_type: Field::Json("/notification_type"),
        proof: Proof::Sdk("cloudinary"),
        ..ROW
    },
    Customerio => "customerio",
        "Customer.io",
        "https://docs.customer.io/api/webhooks/#section/Securely-Verifying-Requests",
        Spec {
        scheme: v0("x-cio-signature", "x-cio-timestamp", ""),
        delivery_id: Field::Json("/event_id"),
        event_type: Field::Json("/metric"),
        ..ROW
    },
    Segment => "segment",
        "Segment",
        "https://segment.com/docs/connections/destinations/catalog/webhooks/",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            digest: Digest::Sha1,
            signature: header("x-signature", ""),
            ..SHA256_HEX
        }),
        delivery_id: Field::Json("/messageId"),
        event_type: Field::Json("/type"),
        type_required: true,
        ..ROW
    },
    Launchdarkly => "launchdarkly",
        "LaunchDarkly",
        "https://launchdarkly.com/docs/home/infrastructure/webhooks#sign-a-webhook",
        Spec {
        scheme: hex_body("x-ld-signature", ""),
        delivery_id: Field::Json("/_id"),
        event_type: Field::Json("/kind"),
        ..ROW
    },
    Circleci => "circleci",
        "CircleCI",
        "https://circleci.com/docs/guides/integration/outbound-webhooks/#payload-signature",
        Spec {
        scheme: Scheme::Hashed(Hashed {
            signature: Signature::Header {
                name: "circleci-signature",
                prefix: "v1=",
                separator: Some(','),
            },
            ..SHA256_HEX
        }),
        delivery_id: Field::Json("/id"),
        event_type: Field::Header("circleci-event-type"),
        type_required: true,
        ..ROW
    },
    Buildkite => "buildkite",
        "Buildkite",
        "https://buildkite.com/docs/apis/webhooks/pipelines#webhook-signature",
        Spec {
        scheme: dotted_pairs("x-buildkite-signature", "timestamp", "signature", Unit::Seconds),
        event_type: Field::Header("x-buildkite-event"),
        type_required: true,
        ..ROW
    },
    Heroku => "heroku",
        "Heroku app webhooks",
        "https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests",
        Spec {
        scheme: base64_body("heroku-webhook-hmac-sha256", ""),
        extra_headers: &["heroku-webhook-id"],
        delivery_id: Field::Json("/webhook_metadata/delivery/id"),
        event_type: Field::Json("/webhook_metadata/event/include"),
        type_required: true,
        action: Some(Field::Json("/action")),
        ..ROW
    },
    Polar => "polar",
        "Polar",
        "https://docs.polar.sh/integrate/webhooks/delivery",
        Spec {
        // Standard Webhooks, keyed with the secret's text (Polar's SDK base64-encodes it for
        // the Standard Webhooks library).
        scheme: STANDARD_WEBHOOKS,
        delivery_id: Field::Header("webhook-id"),
        event_type: Field::Json("/type"),
        type_required: true,
        proof: Proof::Sdk("@polar-sh/sdk"),
        ..ROW
    },
    Persona => "persona",
        "Persona",
        "https://docs.withpersona.com/docs/webhooks-best-practices#checking-signatures",
        Spec {
        scheme: dotted_pairs("persona-signature", "t", "v1", Unit::Seconds),
        delivery_id: Field::Json("/data/id"),
        event_type: Field::Json("/data/attributes/name"),
        type_required: true,
        ..ROW
    },
    Calcom => "calcom",
        "Cal.com",
        "https://cal.com/docs/developing/guides/automation/webhooks",
        Spec {
        scheme: hex_body("x-cal-signature-256", ""),
        event_type: Field::Json("/triggerEvent"),
        type_required: true,
        ..ROW
    },
    Replicate => "replicate",
        "Replicate",
        "https://replicate.com/docs/topics/webhooks/verify-webhook",
        Spec {
        scheme: STANDARD_WEBHOOKS,
        secret_format: SecretFormat::StandardWebhooks,
        delivery_id: Field::Header("webhook-id"),
        event_type: Field::Json("/status"),
        proof: Proof::Sdk("replicate"),
        ..ROW
    },
    Tally => "tally",
        "Tally",
        "https://tally.so/help/webhooks",
        Spec {
        scheme: base64_body("tally-signature", ""),
        delivery_id: Field::Json("/eventId"),
        event_type: Field::Json("/eventType"),
        type_required: true,
        ..ROW
    },
    Pipedrive => "pipedrive",
        "Pipedrive",
        "https://pipedrive.readme.io/docs/guide-for-webhooks-v2",
        Spec {
        scheme: Scheme::Basic,
        event_type: Field::Json("/meta/entity"),
        action: Some(Field::Json("/meta/action")),
        ..ROW
    },
    Auth0 => "auth0",
        "Auth0 log streams",
        "https://auth0.com/docs/customize/log-streams/custom-log-streams",
        Spec {
        scheme: token("authorization"),
        body: BodyFormat::JsonAny,
        ..ROW
    },
    Source => "source",
        "Generic sources",
        "https://github.com/example-org/webhook-inbox/blob/main/docs/sources.md",
        // Not a provider: the senders configured without code (`webhook_sources`), each a row
        // built at run time and served at `/webhooks/source/{name}`; this row only names them
        // in the store and holds their secrets' variable.
        Spec {
            scheme: Scheme::Basic,
            ..ROW
        },
}
