//! Strong entity tags and the conditional headers that use them (RFC 9110 section 13).
//!
//! The ETag of an event is derived from the exact bytes of its JSON representation, so it
//! changes whenever anything a client could see changes (status, `processed_at`).

use crate::problem::{FieldError, Problem, ProblemKind};
use sha2::{Digest, Sha256};

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

/// Parses `*` or a list of entity tags, per RFC 9110's grammar (sections 8.8.3 and 5.6.1):
///
/// ```text
/// If-Match = "*" / #entity-tag      entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
/// etagc    = %x21 / %x23-7E / obs-text   (any visible character but DQUOTE; commas included)
/// #element = [ element ] *( OWS "," OWS [ element ] )   (empty members are ignored)
/// ```
///
/// So `W/",a", "b"` is two tags, `",a"` and `"b"`: a comma inside quotes belongs to the tag.
fn parse<'a>(header: &'static str, value: &'a str) -> Result<Vec<Tag<'a>>, Problem> {
    let invalid = |reason: String| {
        Problem::invalid(
            format!("{header} must be * or a list of quoted entity tags"),
            vec![FieldError::new(format!("header:{header}"), reason)],
        )
    };
    let is_ows = |c: char| c == ' ' || c == '\t';
    if value.trim_matches(is_ows) == "*" {
        return Ok(vec![Tag::Any]);
    }
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| is_ows(c) || c == ',');
        if rest.is_empty() {
            return Ok(tags);
        }
        let (weak, quoted) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let Some(opaque) = quoted.strip_prefix('"') else {
            return Err(invalid(format!(
                "{} is not an entity tag",
                first_member(rest)
            )));
        };
        let Some(end) = opaque.find('"') else {
            return Err(invalid("an entity tag is missing its closing quote".into()));
        };
        let (inner, after) = opaque.split_at(end);
        if let Some(bad) = inner.chars().find(|c| !etagc(*c)) {
            return Err(invalid(format!(
                "an entity tag contains {bad:?}, which RFC 9110 does not allow"
            )));
        }
        let tag = quoted.get(..end + 2).unwrap_or(quoted);
        tags.push(if weak {
            Tag::Weak(tag)
        } else {
            Tag::Strong(tag)
        });
        rest = after
            .get(1..)
            .unwrap_or_default()
            .trim_start_matches(is_ows);
        if !rest.is_empty() && !rest.starts_with(',') {
            return Err(invalid(format!(
                "{} follows an entity tag without a comma",
                first_member(rest)
            )));
        }
    }
}

/// `etagc`: any visible ASCII character but `"`, or a non-ASCII one (RFC 9110 `obs-text`).
fn etagc(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x7e') || !c.is_ascii()
}

/// The start of an unparseable member, quoted for the error (short; the header is not a secret).
fn first_member(rest: &str) -> String {
    let member: String = rest.chars().take_while(|c| *c != ',').take(40).collect();
    format!("{member:?}")
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

    #[test]
    fn commas_inside_quotes_belong_to_the_tag() {
        let tags = parse("If-None-Match", "W/\",a\", \"b\"").unwrap();
        assert_eq!(tags, [Tag::Weak("\",a\""), Tag::Strong("\"b\"")]);
        assert!(none_match_says_not_modified(Some("W/\",a\", \"b\""), "\",a\"").unwrap());
        assert!(none_match_says_not_modified(Some("W/\",a\", \"b\""), "\"b\"").unwrap());
        assert!(!none_match_says_not_modified(Some("W/\",a\", \"b\""), "\"a\"").unwrap());
    }

    #[test]
    fn list_syntax_follows_rfc_9110() {
        // Empty members and optional whitespace (spaces and tabs) are allowed.
        assert_eq!(parse("If-Match", " ,\t\"a\" ,, \"b\",").unwrap().len(), 2);
        assert_eq!(parse("If-Match", "\"\"").unwrap(), [Tag::Strong("\"\"")]);
        assert_eq!(parse("If-Match", "").unwrap(), []);
        for bad in [
            "abc",
            "\"a",
            "\"a\" \"b\"",
            "\"a\"b",
            "w/\"a\"",
            "W/ \"a\"",
            "\"a b\"",
            "\"a\u{7f}\"",
            "*, \"a\"",
            "W/",
        ] {
            let problem = parse("If-Match", bad).unwrap_err();
            assert_eq!(problem.status().as_u16(), 400, "{bad:?}");
            assert_eq!(problem.errors()[0].field, "header:If-Match", "{bad:?}");
        }
    }

    /// An RFC 9110 `etagc` string.
    fn opaque() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('!'),
                (0x23u8..=0x7e).prop_map(char::from),
                Just(','),
                Just('é'),
            ],
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn parsing_never_panics(value in ".{0,80}") {
            let _ = none_match_says_not_modified(Some(&value), "\"x\"");
            let _ = check_if_match(Some(&value), "\"x\"");
        }

        #[test]
        fn every_well_formed_list_parses_back_to_its_tags(
            tags in proptest::collection::vec((any::<bool>(), opaque()), 1..6),
            separators in proptest::collection::vec("[ \t]{0,2},[ \t,]{0,3}", 6),
        ) {
            let rendered: Vec<String> = tags
                .iter()
                .map(|(weak, opaque)| format!("{}\"{opaque}\"", if *weak { "W/" } else { "" }))
                .collect();
            let mut header = String::new();
            for (i, tag) in rendered.iter().enumerate() {
                if i > 0 {
                    header.push_str(&separators[i]);
                }
                header.push_str(tag);
            }
            let parsed = parse("If-None-Match", &header).unwrap();
            let expected: Vec<Tag<'_>> = tags
                .iter()
                .zip(&rendered)
                .map(|((weak, _), text)| {
                    if *weak {
                        Tag::Weak(text.strip_prefix("W/").unwrap())
                    } else {
                        Tag::Strong(text.as_str())
                    }
                })
                .collect();
            prop_assert_eq!(parsed, expected);
        }
    }
}
