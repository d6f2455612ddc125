//! Reading one value out of a JSON body without building a `serde_json::Value` (the body can be
//! a megabyte, and a `Value` costs code size in every component that links it): only the
//! containers on the pointer's way are parsed, their members kept as raw text.

use std::fmt;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Reads an object's members, keeping only the raw value of one (the last, if repeated), without
/// a map of all of them.
struct Member<'k>(&'k str);

impl<'de> Visitor<'de> for Member<'_> {
    type Value = Option<Box<RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.0 {
                found = Some(map.next_value::<Box<RawValue>>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// A value at a pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A string, or a whole number as its digits.
    Text(String),
    /// Absent, or `null`.
    Missing,
    /// Something else (an object, an array, `true`, a fraction).
    NotText,
}

/// Reads an array's elements, keeping only the raw value of one.
struct Element(usize);

impl<'de> Visitor<'de> for Element {
    type Value = Option<Box<RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut position = 0;
        loop {
            if position == self.0 {
                found = seq.next_element::<Box<RawValue>>()?;
                if found.is_none() {
                    break;
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            position += 1;
        }
        Ok(found)
    }
}

/// The raw value at a JSON pointer (RFC 6901) into `json`, if there is one.
pub fn at(json: &str, pointer: &str) -> Option<Box<RawValue>> {
    let mut current: Box<RawValue> = serde_json::from_str(json).ok()?;
    for token in pointer.split('/').skip(1) {
        let key = token.replace("~1", "/").replace("~0", "~");
        let text = current.get().trim_start();
        current = if text.starts_with('[') {
            let index = key.parse::<usize>().ok()?;
            let mut deserializer = serde_json::Deserializer::from_str(text);
            serde::Deserializer::deserialize_seq(&mut deserializer, Element(index)).ok()??
        } else {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            serde::Deserializer::deserialize_map(&mut deserializer, Member(&key)).ok()??
        };
    }
    Some(current)
}

/// The string or whole number at a JSON pointer into `json`.
pub fn text_at(json: &str, pointer: &str) -> Found {
    at(json, pointer).map_or(Found::Missing, |value| text_of(&value))
}

/// A string, a whole number as text, `null` as missing, anything else not text.
pub fn text_of(value: &RawValue) -> Found {
    let text = value.get().trim();
    if text.starts_with('"') {
        return serde_json::from_str::<String>(text).map_or(Found::NotText, Found::Text);
    }
    if text == "null" {
        return Found::Missing;
    }
    if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Found::Text(text.to_owned());
    }
    Found::NotText
}

/// Whether the value at a JSON pointer is an empty array.
pub fn is_empty_array(json: &str, pointer: &str) -> bool {
    at(json, pointer).is_some_and(|value| {
        value
            .get()
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .is_some_and(|inside| inside.trim().is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_walk_objects_and_arrays_with_rfc_6901_escapes() {
        let json =
            r#"{"a/b":{"c~d":"found"},"list":[{"id":7},{"id":"x"}],"n":null,"f":1.5,"e":[]}"#;
        assert_eq!(text_at(json, "/a~1b/c~0d"), Found::Text("found".into()));
        assert_eq!(text_at(json, "/list/0/id"), Found::Text("7".into()));
        assert_eq!(text_at(json, "/list/1/id"), Found::Text("x".into()));
        assert_eq!(text_at(json, "/list/2/id"), Found::Missing);
        assert_eq!(text_at(json, "/n"), Found::Missing);
        assert_eq!(text_at(json, "/f"), Found::NotText);
        assert_eq!(text_at(json, "/list"), Found::NotText);
        assert_eq!(text_at("not json", "/a"), Found::Missing);
        assert!(is_empty_array(json, "/e"));
        assert!(!is_empty_array(json, "/list"));
        assert!(!is_empty_array(json, "/missing"));
    }
}
