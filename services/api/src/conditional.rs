//! Strong entity tags and the conditional headers that use them (RFC 9110 section 13).
//!
//! The ETag of an event is derived from the exact bytes of its JSON representation, so it
//! changes whenever anything a client could see changes (status, `processed_at`).

use sha2::{Digest, Sha256};
use shared::problem::{FieldError, Problem, ProblemKind};

/// The strong ETag of a representation: `"` + 32 hex digits of its SHA-256 + `"`.
pub fn etag(representation: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(representation));
    format!("\"{}\"", digest.get(..32).unwrap_or(&digest))
}

/// One member of an `If-Match` / `If-None-Match` list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tag<'a> {
    Any,
    Strong(&'a str),
    Weak(&'a str),
}

/// Parses `*` or a comma-separated list of (possibly weak) entity tags.
fn parse<'a>(header: &'static str, value: &'a str) -> Result<Vec<Tag<'a>>, Problem> {
    let value = value.trim();
    if value == "*" {
        return Ok(vec![Tag::Any]);
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|member| !member.is_empty())
        .map(|member| {
            let (weak, quoted) = match member.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, member),
            };
            let valid = quoted.len() >= 2
                && quoted.starts_with('"')
                && quoted.ends_with('"')
                && !quoted
                    .get(1..quoted.len() - 1)
                    .unwrap_or("\"")
                    .contains('"');
            if !valid {
                return Err(Problem::invalid(
                    format!("{header} must be * or a list of quoted entity tags"),
                    vec![FieldError::new(
                        format!("header:{header}"),
                        format!("{member:?} is not an entity tag"),
                    )],
                ));
            }
            Ok(if weak {
                Tag::Weak(quoted)
            } else {
                Tag::Strong(quoted)
            })
        })
        .collect()
}

/// `If-None-Match` (weak comparison): whether the client already has `current`, so a GET can
/// answer 304.
pub fn none_match_says_not_modified(header: Option<&str>, current: &str) -> Result<bool, Problem> {
    let Some(value) = header else {
        return Ok(false);
    };
    Ok(parse("If-None-Match", value)?.iter().any(|tag| match tag {
        Tag::Any => true,
        Tag::Strong(tag) | Tag::Weak(tag) => *tag == current,
    }))
}

/// `If-Match` (strong comparison): fails with 412 unless the client's tag is current.
pub fn check_if_match(header: Option<&str>, current: &str) -> Result<(), Problem> {
    let Some(value) = header else {
        return Ok(());
    };
    let matches = parse("If-Match", value)?.iter().any(|tag| match tag {
        Tag::Any => true,
        Tag::Strong(tag) => *tag == current,
        // A weak tag never matches strongly.
        Tag::Weak(_) => false,
    });
    if matches {
        Ok(())
    } else {
        Err(Problem::of(
            ProblemKind::PreconditionFailed,
            format!("the event has changed; its current ETag is {current}"),
        )
        .with_error(FieldError::new(
            "header:If-Match",
            "does not match the current ETag",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn etags_are_strong_quoted_and_change_with_the_bytes() {
        let a = etag(b"{\"status\":\"pending\"}");
        assert_eq!(a.len(), 34);
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert_ne!(a, etag(b"{\"status\":\"processed\"}"));
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let current = "\"abc\"";
        assert!(none_match_says_not_modified(Some("\"abc\""), current).unwrap());
        assert!(none_match_says_not_modified(Some("W/\"abc\""), current).unwrap());
        assert!(none_match_says_not_modified(Some("\"x\", \"abc\""), current).unwrap());
        assert!(none_match_says_not_modified(Some("*"), current).unwrap());
        assert!(!none_match_says_not_modified(Some("\"x\""), current).unwrap());
        assert!(!none_match_says_not_modified(None, current).unwrap());
        assert!(none_match_says_not_modified(Some("abc"), current).is_err());
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        let current = "\"abc\"";
        assert!(check_if_match(Some("\"abc\""), current).is_ok());
        assert!(check_if_match(Some("*"), current).is_ok());
        assert!(check_if_match(None, current).is_ok());
        let stale = check_if_match(Some("\"old\""), current).unwrap_err();
        assert_eq!(stale.status().as_u16(), 412);
        assert_eq!(
            check_if_match(Some("W/\"abc\""), current)
                .unwrap_err()
                .status()
                .as_u16(),
            412
        );
        assert_eq!(
            check_if_match(Some("abc"), current)
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(value in ".{0,80}") {
            let _ = none_match_says_not_modified(Some(&value), "\"x\"");
            let _ = check_if_match(Some(&value), "\"x\"");
        }
    }
}
