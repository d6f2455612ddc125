//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`.
//!
//! See <https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>.
//! GitHub signs no timestamp, so there is no replay window to check; replays are caught by
//! delivery-id deduplication instead.

use std::time::Duration;

use crate::scheme::{Digest, Encoding, Hashed, Keying, Part, Signature};
use crate::{sign_with, verify_with, VerifyError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// GitHub's scheme, as the provider catalogue's row has it.
pub const SCHEME: Hashed = Hashed {
    digest: Digest::Sha256,
    keying: Keying::Hmac,
    encoding: Encoding::Hex,
    signature: Signature::Header {
        name: SIGNATURE_HEADER,
        prefix: "sha256=",
        separator: None,
    },
    signed: &[Part::Body],
    timestamp: None,
};

/// Verifies a GitHub delivery against any of `secrets`, given the `X-Hub-Signature-256` value.
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

/// The `X-Hub-Signature-256` value GitHub would send.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    sign_with(&SCHEME, &[], body, secret, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(signature: &str) -> Option<&str> {
        Some(signature)
    }

    // The example from GitHub's documentation.
    const DOC_SECRET: &[u8] = b"It's a Secret to Everybody";
    const DOC_BODY: &[u8] = b"Hello, World!";
    const DOC_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn verifies_githubs_published_example() {
        assert_eq!(
            verify(headers(DOC_SIGNATURE), DOC_BODY, &[DOC_SECRET]),
            Ok(())
        );
        assert_eq!(sign(DOC_SECRET, DOC_BODY), DOC_SIGNATURE);
    }

    #[test]
    fn rejects_a_changed_body_or_secret() {
        assert_eq!(
            verify(headers(DOC_SIGNATURE), b"Hello, World?", &[DOC_SECRET]),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify(headers(DOC_SIGNATURE), DOC_BODY, &[b"other"]),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn accepts_any_secret_of_a_rotation() {
        assert_eq!(
            verify(
                headers(DOC_SIGNATURE),
                DOC_BODY,
                &[b"new-secret", DOC_SECRET]
            ),
            Ok(())
        );
        assert_eq!(
            verify(headers(DOC_SIGNATURE), DOC_BODY, &[]),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn malformed_headers_are_400_material() {
        assert_eq!(
            verify(None, DOC_BODY, &[DOC_SECRET]),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        for bad in [
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=zz",
            "sha256=757107ea",
            "sha256=",
        ] {
            let error = verify(headers(bad), DOC_BODY, &[DOC_SECRET]).unwrap_err();
            assert!(error.is_malformed(), "{bad}: {error}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(signature in ".{0,100}", body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = verify(headers(&signature), &body, &[DOC_SECRET]);
        }

        #[test]
        fn a_correctly_signed_body_always_verifies(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            prop_assert_eq!(verify(headers(&sign(&secret, &body)), &body, &[&secret]), Ok(()));
        }
    }
}
