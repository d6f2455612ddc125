//! Request ids: every response carries `x-request-id`, every log line and problem names it.
//!
//! A caller (a load balancer, a provider, a test) may send its own id so that its logs and ours
//! line up; we keep it when it is well-formed and mint a fresh one otherwise, so a hostile header
//! cannot inject text into our logs.

use std::fmt;

/// The header that carries the id in both directions.
pub const HEADER: &str = "x-request-id";

/// Longest caller-supplied id we keep.
pub const MAX_LEN: usize = 128;

/// A validated request id: 1 to 128 characters of `A-Z a-z 0-9 - _ . : /`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// Parses a caller-supplied id; `None` if it is empty, too long or has other characters.
    pub fn parse(candidate: &str) -> Option<Self> {
        let valid = !candidate.is_empty()
            && candidate.len() <= MAX_LEN
            && candidate.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/')
            });
        valid.then(|| Self(candidate.to_owned()))
    }

    /// Mints a new random id (128 bits, hex). Falls back to a time-based id if the host has no
    /// randomness, because a request must never fail for want of an id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            bytes = nanos.to_le_bytes();
        }
        Self(hex::encode(bytes))
    }

    /// Takes the caller's id from the request headers when valid, or mints one.
    pub fn from_headers(headers: &crate::http::Headers) -> Self {
        headers
            .get(HEADER)
            .and_then(Self::parse)
            .unwrap_or_else(Self::generate)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_a_well_formed_caller_id() {
        let mut headers = crate::http::Headers::new();
        headers.insert(HEADER, "abc-123_x.y:z/1");
        assert_eq!(
            RequestId::from_headers(&headers).as_str(),
            "abc-123_x.y:z/1"
        );
    }

    #[test]
    fn replaces_a_missing_or_hostile_id() {
        let mut headers = crate::http::Headers::new();
        let minted = RequestId::from_headers(&headers);
        assert_eq!(minted.as_str().len(), 32);

        headers.insert(HEADER, "evil\"} {\"injected");
        let replaced = RequestId::from_headers(&headers);
        assert_ne!(replaced.as_str(), "evil\"} {\"injected");
        assert_eq!(replaced.as_str().len(), 32);

        headers.insert(HEADER, &"a".repeat(MAX_LEN + 1));
        assert_eq!(RequestId::from_headers(&headers).as_str().len(), 32);
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(RequestId::generate(), RequestId::generate());
    }

    proptest! {
        #[test]
        fn parsed_ids_are_always_safe_to_log(candidate in ".{0,200}") {
            if let Some(id) = RequestId::parse(&candidate) {
                prop_assert!(id.as_str().len() <= MAX_LEN);
                prop_assert!(!id.as_str().contains(['"', '\\', '\n', ' ']));
            }
        }
    }
}
