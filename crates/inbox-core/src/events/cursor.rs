//! Opaque pagination cursors.
//!
//! A cursor says "continue with events older than sequence number N". It is hex text so
//! clients treat it as opaque (and it needs no escaping in a URL), and versioned so the format
//! can change without breaking clients that hold an old one mid-walk.
//!
//! Exactly the strings `^76313a(3[0-9]){1,20}$` decode (lower-case hex of `v1:` and 1 to 20
//! decimal digits): the API's OpenAPI document declares that pattern, and a property test holds
//! the two together. `before_seq = 0` is a valid cursor for an empty page, and a number above
//! `u64::MAX` means "from the newest" (no sequence number is that high).

use super::model::InvalidValue;

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The next page holds events with a sequence number strictly below this one.
    pub before_seq: u64,
}

impl Cursor {
    const VERSION: &'static str = "v1:";
    /// Most digits: enough for `u64::MAX`.
    const MAX_DIGITS: usize = 20;

    /// The cursor as an opaque string.
    pub fn encode(self) -> String {
        hex::encode(format!("{}{}", Self::VERSION, self.before_seq))
    }

    /// Parses a cursor a client sent back.
    pub fn decode(text: &str) -> Result<Self, InvalidValue> {
        let invalid = || InvalidValue("not a cursor this API issued".into());
        // Lower-case hex only: the encoding is ours, and one spelling per cursor keeps the
        // accepted set exactly the documented pattern.
        if text.len() > 2 * (Self::VERSION.len() + Self::MAX_DIGITS)
            || text.bytes().any(|b| b.is_ascii_uppercase())
        {
            return Err(invalid());
        }
        let bytes = hex::decode(text).map_err(|_| invalid())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
        let seq = text
            .strip_prefix(Self::VERSION)
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u128>().ok())
            .map(|seq| u64::try_from(seq).unwrap_or(u64::MAX))
            .ok_or_else(invalid)?;
        Ok(Self { before_seq: seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips() {
        let cursor = Cursor { before_seq: 42 };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn rejects_what_we_did_not_issue() {
        for bad in [
            "",
            "!!",
            "76313a",
            "76313A31",
            "76323a3432",
            &hex::encode("v1:-1"),
            &hex::encode("v1:+4"),
            &hex::encode("v1:999999999999999999999"),
            &hex::encode("v1:000000000000000000001"),
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn decoding_never_panics(text in ".{0,100}") {
            let _ = Cursor::decode(&text);
        }

        #[test]
        fn every_issued_cursor_decodes(seq in 1u64..) {
            prop_assert_eq!(Cursor::decode(&Cursor { before_seq: seq }.encode()), Ok(Cursor { before_seq: seq }));
        }
    }
}
