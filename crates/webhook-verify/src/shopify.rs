//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(client secret, raw body)>`.
//!
//! See <https://shopify.dev/docs/apps/build/webhooks/verify-deliveries> ("Each HTTPS delivery
//! includes a base64-encoded HMAC signature in the `X-Shopify-Hmac-SHA256` header, generated
//! using your app's client secret and the raw request body") and
//! <https://shopify.dev/docs/apps/build/webhooks/delivery-structure> for the other headers.
//! The header names are those of Shopify's own library (`ShopifyHeader` in
//! `Shopify/shopify-app-js`, `packages/apps/shopify-api/lib/types.ts`).
//!
//! Shopify signs no timestamp, so there is no replay window to check; replays are caught by
//! deduplicating on [`WEBHOOK_ID_HEADER`] instead, which is what Shopify's page says to do.
//! Deliveries also carry [`TRIGGERED_AT_HEADER`] (when the event fired), but it is not covered by
//! the signature and Shopify's verification page does not ask for it to be checked, so it is not
//! enforced here. After a secret rotation Shopify says it "can take up to an hour" before
//! deliveries are signed with the new secret: keep both secrets configured meanwhile.

use std::time::Duration;

use crate::scheme::{Digest, Encoding, Hashed, Keying, Part, Signature};
use crate::{sign_with, verify_with, VerifyError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-shopify-hmac-sha256";
/// The delivery id, the same on every retry of one delivery (not signed).
pub const WEBHOOK_ID_HEADER: &str = "x-shopify-webhook-id";
/// The event type, such as `orders/create` (not signed).
pub const TOPIC_HEADER: &str = "x-shopify-topic";
/// The shop's `myshopify.com` domain (not signed).
pub const SHOP_DOMAIN_HEADER: &str = "x-shopify-shop-domain";
/// When the event fired, as an ISO 8601 date-time (not signed, not enforced).
pub const TRIGGERED_AT_HEADER: &str = "x-shopify-triggered-at";

/// Shopify's scheme, as the provider catalogue's row has it.
pub const SCHEME: Hashed = Hashed {
    digest: Digest::Sha256,
    keying: Keying::Hmac,
    encoding: Encoding::Base64,
    signature: Signature::Header {
        name: SIGNATURE_HEADER,
        prefix: "",
        separator: None,
    },
    signed: &[Part::Body],
    timestamp: None,
};

/// Verifies a Shopify delivery against any of `secrets` (the app's client secrets), given the
/// `X-Shopify-Hmac-Sha256` value.
pub fn verify(signature: Option<&str>, body: &[u8], secrets: &[&[u8]]) -> Result<(), VerifyError> {
    verify_with(
        &SCHEME,
        &[(SIGNATURE_HEADER, signature)],
        body,
        secrets,
        0,
        Duration::ZERO,
    )
}

/// The `X-Shopify-Hmac-Sha256` value Shopify would send.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    sign_with(&SCHEME, &[], body, secret, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::hmac;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;
    use proptest::prelude::*;

    fn header(value: &str) -> Option<&str> {
        Some(value)
    }

    // Shopify publishes no worked example. This vector was computed independently of this code:
    // python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b"fake-shopify-client-secret", b"{\"id\":820982911946154508,\"email\":\"jon@example.com\",\"total_price\":\"10.00\"}", hashlib.sha256).digest()).decode())'
    const SECRET: &[u8] = b"fake-shopify-client-secret";
    const BODY: &[u8] =
        br#"{"id":820982911946154508,"email":"jon@example.com","total_price":"10.00"}"#;
    const SIGNATURE: &str = "ilon1KLhxwmEiCK7zVKgiNitGTXtuL6W+ZVrcPY38PM=";

    // The scheme (HMAC-SHA256 of the raw body) is GitHub's with base64 instead of hex, so GitHub's
    // published example is a second, externally published anchor, re-encoded with:
    // python3 -c 'import base64; print(base64.b64encode(bytes.fromhex("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")).decode())'
    const GITHUB_DOC_SECRET: &[u8] = b"It's a Secret to Everybody";
    const GITHUB_DOC_BODY: &[u8] = b"Hello, World!";
    const GITHUB_DOC_SIGNATURE_BASE64: &str = "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc=";

    fn malformed() -> VerifyError {
        VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "no signature of the expected form",
        }
    }

    #[test]
    fn verifies_an_independently_computed_signature() {
        assert_eq!(verify(header(SIGNATURE), BODY, &[SECRET]), Ok(()));
        assert_eq!(sign(SECRET, BODY), SIGNATURE);
    }

    #[test]
    fn verifies_githubs_published_example_in_base64() {
        assert_eq!(
            verify(
                header(GITHUB_DOC_SIGNATURE_BASE64),
                GITHUB_DOC_BODY,
                &[GITHUB_DOC_SECRET]
            ),
            Ok(())
        );
        assert_eq!(
            sign(GITHUB_DOC_SECRET, GITHUB_DOC_BODY),
            GITHUB_DOC_SIGNATURE_BASE64
        );
    }

    #[test]
    fn rejects_a_changed_body_or_secret() {
        let changed =
            br#"{"id":820982911946154508,"email":"jon@example.com","total_price":"99.00"}"#;
        assert_eq!(
            verify(header(SIGNATURE), changed, &[SECRET]),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify(header(SIGNATURE), BODY, &[b"other-secret"]),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rotation_accepts_either_secret() {
        assert_eq!(
            verify(header(SIGNATURE), BODY, &[b"new-secret", SECRET]),
            Ok(())
        );
        assert_eq!(
            verify(header(SIGNATURE), BODY, &[]),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn the_hex_encoding_of_the_right_hmac_is_not_accepted() {
        // Shopify sends base64; hex is 64 characters that decode (as base64) to 48 bytes.
        let hex_signature = hex::encode(hmac(Digest::Sha256, SECRET, BODY));
        assert_eq!(
            verify(header(&hex_signature), BODY, &[SECRET]),
            Err(malformed())
        );
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(
            verify(None, BODY, &[SECRET]),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        for bad in [
            "",
            "not base64!",
            // Valid base64 of 31 and 33 bytes.
            &BASE64.encode([0u8; 31]),
            &BASE64.encode([0u8; 33]),
            // Unpadded, URL-safe alphabet, a prefix, a space inside.
            SIGNATURE.trim_end_matches('='),
            &SIGNATURE.replace('+', "-"),
            &format!("sha256={SIGNATURE}"),
            &format!("{} {}", &SIGNATURE[..20], &SIGNATURE[20..]),
        ] {
            assert_eq!(
                verify(header(bad), BODY, &[SECRET]),
                Err(malformed()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn whitespace_around_the_value_is_not_part_of_it() {
        // RFC 9110 (5.5): a field value has no leading or trailing whitespace, so a parser
        // that kept some is not a reason to reject the signature it surrounds.
        for padded in [format!(" {SIGNATURE}"), format!("{SIGNATURE}\t")] {
            assert_eq!(
                verify(header(&padded), BODY, &[SECRET]),
                Ok(()),
                "{padded:?}"
            );
        }
    }

    #[test]
    fn errors_name_no_secret_and_no_signature() {
        for error in [
            verify(header(SIGNATURE), b"changed", &[SECRET]).unwrap_err(),
            verify(header("garbage"), BODY, &[SECRET]).unwrap_err(),
        ] {
            let text = format!("{error} {error:?}");
            assert!(!text.contains("fake-shopify"), "{text}");
            assert!(!text.contains(SIGNATURE), "{text}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(signature in ".{0,100}", body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = verify(header(&signature), &body, &[SECRET]);
        }

        #[test]
        fn a_correctly_signed_body_always_verifies(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            prop_assert_eq!(verify(header(&sign(&secret, &body)), &body, &[&secret]), Ok(()));
        }

        #[test]
        fn any_change_to_the_body_fails(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<prop::sample::Index>(),
            bit in 0u8..8,
            extra in proptest::collection::vec(any::<u8>(), 0..4),
        ) {
            let signature = sign(&secret, &body);
            let mut changed = body.clone();
            changed[index.index(body.len())] ^= 1 << bit;
            changed.extend(&extra);
            prop_assert_eq!(
                verify(header(&signature), &changed, &[&secret]),
                Err(VerifyError::SignatureMismatch)
            );
            let mut longer = body.clone();
            longer.push(extra.first().copied().unwrap_or(b'x'));
            prop_assert_eq!(
                verify(header(&signature), &longer, &[&secret]),
                Err(VerifyError::SignatureMismatch)
            );
        }

        #[test]
        fn any_change_to_the_signature_fails(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            index in 0usize..32,
            bit in 0u8..8,
        ) {
            let mut raw = hmac(Digest::Sha256, &secret, &body);
            raw[index] ^= 1 << bit;
            prop_assert_eq!(
                verify(header(&BASE64.encode(&raw)), &body, &[&secret]),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }
}
