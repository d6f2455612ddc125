//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
//!
//! See <https://docs.stripe.com/webhooks#verify-manually>. The header may carry several `v1`
//! entries (Stripe signs with every active secret during a rotation) and other schemes (`v0`,
//! test mode) that are ignored. The secret is used as given, `whsec_` prefix included.

use std::time::Duration;

use crate::scheme::{Clock, Digest, Encoding, Hashed, Keying, Part, Signature, Timestamp, Unit};
use crate::{sign_with, verify_with, VerifyError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// Stripe's scheme, as the provider catalogue's row has it.
pub const SCHEME: Hashed = Hashed {
    digest: Digest::Sha256,
    keying: Keying::Hmac,
    encoding: Encoding::Hex,
    signature: Signature::Pairs {
        name: SIGNATURE_HEADER,
        separator: ',',
        timestamp_key: "t",
        signature_key: "v1",
    },
    signed: &[Part::Timestamp, Part::Text("."), Part::Body],
    timestamp: Some(Timestamp {
        clock: Clock::Pairs,
        unit: Unit::Seconds,
    }),
};

/// Verifies a Stripe delivery against any of `secrets`, given the `Stripe-Signature` value, with
/// `now` in Unix seconds.
pub fn verify(
    signature: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    verify_with(
        &SCHEME,
        &[(SIGNATURE_HEADER, signature)],
        body,
        secrets,
        now.saturating_mul(1000),
        tolerance,
    )
}

/// The `Stripe-Signature` value Stripe would send at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    sign_with(&SCHEME, &[], body, secret, Some(&timestamp.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"whsec_test_secret_for_unit_tests";
    const BODY: &[u8] =
        br#"{"id":"evt_1NG8Du2eZvKYlo2CUI3gP9fP","object":"event","type":"payment_intent.succeeded"}"#;
    const T: i64 = 1_700_000_000;
    // Computed independently of this code, with Python's hmac module:
    // hmac.new(SECRET, b"1700000000." + BODY, hashlib.sha256).hexdigest()
    const V1: &str = "90761ba8319a3469376197497e5f5895444c4e4e6afb245291d2182b1e223050";
    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    fn headers(value: &str) -> Option<&str> {
        Some(value)
    }

    #[test]
    fn verifies_an_independently_computed_signature() {
        let header = format!("t={T},v1={V1}");
        assert_eq!(
            verify(headers(&header), BODY, &[SECRET], T, FIVE_MINUTES),
            Ok(())
        );
        assert_eq!(sign(SECRET, T, BODY), header);
    }

    #[test]
    fn any_v1_may_match_and_other_schemes_are_ignored() {
        let header = format!("t={T},v1={},v0=abc,v1={V1},v9=x", "0".repeat(64));
        assert_eq!(
            verify(headers(&header), BODY, &[SECRET], T, FIVE_MINUTES),
            Ok(())
        );
    }

    #[test]
    fn tolerance_edges_in_both_directions() {
        let header = format!("t={T},v1={V1}");
        for now in [T - 300, T + 300] {
            assert_eq!(
                verify(headers(&header), BODY, &[SECRET], now, FIVE_MINUTES),
                Ok(())
            );
        }
        for now in [T - 301, T + 301] {
            assert!(matches!(
                verify(headers(&header), BODY, &[SECRET], now, FIVE_MINUTES),
                Err(VerifyError::TimestampOutOfTolerance {
                    skew_secs: 301,
                    tolerance_secs: 300
                })
            ));
        }
    }

    #[test]
    fn the_timestamp_is_signed() {
        let header = format!("t={},v1={V1}", T + 1);
        assert_eq!(
            verify(headers(&header), BODY, &[SECRET], T, FIVE_MINUTES),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rotation_accepts_either_secret() {
        let header = format!("t={T},v1={V1}");
        assert_eq!(
            verify(
                headers(&header),
                BODY,
                &[b"whsec_new", SECRET],
                T,
                FIVE_MINUTES
            ),
            Ok(())
        );
        assert_eq!(
            verify(headers(&header), BODY, &[b"whsec_new"], T, FIVE_MINUTES),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(
            verify(None, BODY, &[SECRET], T, FIVE_MINUTES),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        for bad in [
            "",
            "garbage",
            &format!("v1={V1}"),
            &format!("t=abc,v1={V1}"),
            &format!("t=-5,v1={V1}"),
            &format!("t={T}"),
            &format!("t={T},v1=nothex"),
            &format!("t={T},t={T},v1={V1}"),
        ] {
            let error = verify(headers(bad), BODY, &[SECRET], T, FIVE_MINUTES).unwrap_err();
            assert!(error.is_malformed(), "{bad:?}: {error}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(header in ".{0,200}", body in proptest::collection::vec(any::<u8>(), 0..256), now in any::<i64>()) {
            let _ = verify(headers(&header), &body, &[SECRET], now, FIVE_MINUTES);
        }

        #[test]
        fn a_correctly_signed_body_always_verifies(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            timestamp in 0i64..4_000_000_000,
            skew in -300i64..=300,
        ) {
            let header = sign(&secret, timestamp, &body);
            prop_assert_eq!(
                verify(headers(&header), &body, &[&secret], timestamp + skew, FIVE_MINUTES),
                Ok(())
            );
        }
    }
}
