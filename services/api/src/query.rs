//! The query string of `GET /api/events`: every parameter validated, every problem named.

use inbox_core::events::{
    Cursor, EventAction, EventStatus, EventType, ListFilter, Provider, SourceLabel, TypeFilter,
};
use inbox_core::problem::{FieldError, Problem};
use inbox_core::time::Timestamp;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub const MAX_LIMIT: usize = 200;

const KNOWN: [&str; 10] = [
    "limit", "cursor", "provider", "type", "has_type", "action", "source", "status", "since",
    "until",
];

/// A validated listing query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size.
    pub limit: usize,
    /// Where to continue.
    pub cursor: Option<Cursor>,
    /// Which events.
    pub filter: ListFilter,
    /// The parameters other than `cursor`, in order, for the `Link` header.
    pub carried: Vec<(String, String)>,
}

/// Parses the query string; unknown, repeated and invalid parameters are all reported at once.
pub fn parse(query: Option<&str>) -> Result<ListQuery, Problem> {
    let mut parsed = ListQuery {
        limit: DEFAULT_LIMIT,
        cursor: None,
        filter: ListFilter::default(),
        carried: Vec::new(),
    };
    let mut errors = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let (name, value) = (name.into_owned(), value.into_owned());
        if !KNOWN.contains(&name.as_str()) {
            errors.push(FieldError::new(
                name,
                format!("unknown parameter; known are {}", KNOWN.join(", ")),
            ));
            continue;
        }
        if seen.contains(&name) {
            errors.push(FieldError::new(name, "given more than once"));
            continue;
        }
        seen.push(name.clone());
        if let Err(detail) = apply(&mut parsed, &name, &value) {
            errors.push(FieldError::new(name.clone(), detail));
        } else if name != "cursor" {
            parsed.carried.push((name, value));
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Problem::invalid("the query is invalid", errors))
    }
}

fn apply(parsed: &mut ListQuery, name: &str, value: &str) -> Result<(), String> {
    match name {
        "limit" => {
            parsed.limit = value
                .parse::<usize>()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| format!("must be a whole number from 1 to {MAX_LIMIT}"))?;
        }
        "cursor" => {
            parsed.cursor = Some(Cursor::decode(value).map_err(|e| e.to_string())?);
        }
        "provider" => {
            parsed.filter.provider = Some(
                Provider::parse(value)
                    .ok_or_else(|| format!("must be one of {}", Provider::names()))?,
            );
        }
        "type" => {
            let kind = EventType::parse(value).map_err(|e| e.to_string())?;
            parsed.filter.event_type = match parsed.filter.event_type {
                // A type, and no type: nothing matches.
                TypeFilter::Untyped => TypeFilter::Never,
                _ => TypeFilter::Is(kind),
            };
        }
        "has_type" => {
            parsed.filter.event_type = match (value, &parsed.filter.event_type) {
                ("false", TypeFilter::Is(_)) => TypeFilter::Never,
                ("false", _) => TypeFilter::Untyped,
                // A `type` is narrower than "has one"; keep it.
                ("true", TypeFilter::Is(kind)) => TypeFilter::Is(kind.clone()),
                ("true", _) => TypeFilter::Typed,
                _ => return Err("must be true or false".into()),
            };
        }
        "action" => {
            parsed.filter.action = Some(EventAction::parse(value).map_err(|e| e.to_string())?);
        }
        "source" => {
            parsed.filter.source = Some(SourceLabel::parse(value).map_err(|e| e.to_string())?);
        }
        "status" => {
            parsed.filter.status = Some(
                EventStatus::parse(value)
                    .ok_or_else(|| "must be pending or processed".to_owned())?,
            );
        }
        "since" => parsed.filter.since = Some(timestamp(value)?),
        "until" => parsed.filter.until = Some(timestamp(value)?),
        _ => {}
    }
    Ok(())
}

fn timestamp(value: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(value)
        .map_err(|_| "must be an RFC 3339 timestamp, e.g. 2026-11-24T13:00:00Z".to_owned())
}

/// The `next` link for a page: the same query with the new cursor.
pub fn next_link(carried: &[(String, String)], cursor: Cursor) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in carried {
        query.append_pair(name, value);
    }
    query.append_pair("cursor", &cursor.encode());
    format!("</api/events?{}>; rel=\"next\"", query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(query: &str) -> Vec<String> {
        parse(Some(query))
            .unwrap_err()
            .errors()
            .iter()
            .map(|e| e.field.clone())
            .collect()
    }

    #[test]
    fn defaults() {
        let parsed = parse(None).unwrap();
        assert_eq!(parsed.limit, 50);
        assert_eq!(parsed.cursor, None);
        assert_eq!(parsed.filter, ListFilter::default());
    }

    #[test]
    fn parses_every_parameter() {
        let cursor = Cursor { before_seq: 9 }.encode();
        let parsed = parse(Some(&format!(
            "limit=10&cursor={cursor}&provider=stripe&type=invoice.paid&status=processed&since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00%2B01:00"
        )))
        .unwrap();
        assert_eq!(parsed.limit, 10);
        assert_eq!(parsed.cursor, Some(Cursor { before_seq: 9 }));
        assert_eq!(parsed.filter.provider, Some(Provider::Stripe));
        assert_eq!(
            parsed.filter.event_type,
            TypeFilter::Is(EventType::parse("invoice.paid").unwrap())
        );
        assert_eq!(parsed.filter.status, Some(EventStatus::Processed));
        assert_eq!(
            parsed.filter.until.unwrap().to_rfc3339_seconds(),
            "2026-01-31T23:00:00Z"
        );
        assert_eq!(
            parsed.carried.len(),
            6,
            "everything but the cursor is carried"
        );
    }

    #[test]
    fn names_every_offending_parameter_at_once() {
        assert_eq!(
            fields("limit=0&provider=nosuch&status=done&since=yesterday&cursor=zzz&colour=red"),
            ["limit", "provider", "status", "since", "cursor", "colour"]
        );
        assert_eq!(fields("limit=201"), ["limit"]);
        assert_eq!(fields("limit=abc"), ["limit"]);
        assert_eq!(fields("limit=5&limit=6"), ["limit"]);
        assert_eq!(fields("type=has%20space"), ["type"]);
        // An empty window is a valid query that matches nothing (the document cannot express
        // "later than since", so the server does not refuse it).
        assert!(parse(Some(
            "since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z"
        ))
        .is_ok());
    }

    #[test]
    fn next_links_keep_filters() {
        let parsed = parse(Some("limit=5&type=a+b.c")).unwrap_err();
        assert_eq!(parsed.errors()[0].field, "type");
        let parsed = parse(Some("limit=5&provider=github")).unwrap();
        assert_eq!(
            next_link(&parsed.carried, Cursor { before_seq: 3 }),
            format!(
                "</api/events?limit=5&provider=github&cursor={}>; rel=\"next\"",
                Cursor { before_seq: 3 }.encode()
            )
        );
    }

    /// A strategy for the strings a documented pattern matches (anchors dropped).
    fn matching(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
        proptest::string::string_regex(pattern.trim_start_matches('^').trim_end_matches('$'))
            .unwrap()
    }

    fn accepted(name: &str, value: &str) -> bool {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair(name, value)
            .finish();
        parse(Some(&query)).is_ok()
    }

    proptest! {
        #[test]
        fn parsing_never_panics(query in ".{0,200}") {
            let _ = parse(Some(&query));
        }

        /// Every If-Match / If-None-Match the document's pattern admits parses, so it can only be
        /// answered 2xx, 304 or 412, never 400.
        #[test]
        fn every_documented_entity_tag_header_parses(
            value in matching(api_contract::patterns::ENTITY_TAGS)
        ) {
            use inbox_core::http::conditional::{check_if_match, none_match_says_not_modified};
            prop_assert!(none_match_says_not_modified(Some(&value), "\"x\"").is_ok(), "{:?}", value);
            let answer = check_if_match(Some(&value), "\"x\"");
            prop_assert!(answer.is_ok() || answer.unwrap_err().status().as_u16() == 412, "{:?}", value);
        }

        /// The OpenAPI document's patterns are exactly what the parser accepts.
        #[test]
        fn documented_cursors_and_types_are_accepted(
            cursor in matching(api_contract::patterns::CURSOR),
            kind in matching(api_contract::patterns::EVENT_TYPE),
        ) {
            prop_assert!(accepted("cursor", &cursor), "{}", cursor);
            prop_assert!(accepted("type", &kind), "{}", kind);
        }

        #[test]
        fn strings_outside_the_documented_patterns_are_refused(
            cursor in matching(api_contract::patterns::CURSOR),
            kind in matching(api_contract::patterns::EVENT_TYPE),
            cut in 0usize..64,
            odd in prop_oneof![Just(' '), Just('é'), Just('A'), Just('\u{7f}'), Just('g')],
        ) {
            // Cursor: a character replaced by one the pattern excludes, one digit pair too
            // many, or a truncation that leaves half a pair or no digits.
            let mut broken: Vec<char> = cursor.chars().collect();
            let at = cut % broken.len();
            broken[at] = odd;
            prop_assert!(!accepted("cursor", &broken.iter().collect::<String>()));
            let too_long = cursor.clone() + "30".repeat(21).as_str();
            prop_assert!(!accepted("cursor", &too_long));
            prop_assert!(!accepted("cursor", &cursor[..(6 + cut % 2).min(cursor.len() - 1)]));
            // Type: a space, non-ASCII or DEL inside, empty, or over 128 characters.
            if odd != 'A' && odd != 'g' {
                let mut broken: Vec<char> = kind.chars().collect();
                let at = cut % broken.len();
                broken[at] = odd;
                prop_assert!(!accepted("type", &broken.iter().collect::<String>()));
            }
            prop_assert!(!accepted("type", ""));
            prop_assert!(!accepted("type", &"x".repeat(129)));
        }
    }
}
