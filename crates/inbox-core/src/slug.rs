//! Slugs: short names of `a-z`, `0-9` and `-` that appear in keys, metrics, logs and URLs (a
//! secret's source label, a destination's name). One rule, one macro for the newtypes.

/// Whether `value` is 1 to `max` of `a-z`, `0-9` and `-`, not starting with `-`.
pub fn is_slug(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && !value.starts_with('-')
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Declares a slug newtype: validated by `parse` and when deserialized, written as itself.
macro_rules! slug_type {
    ($(#[$doc:meta])* $name:ident, max = $max:literal, what = $what:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value.
            pub const MAX_LEN: usize = $max;

            /// Validates a value.
            pub fn parse(value: &str) -> Result<Self, $crate::events::InvalidValue> {
                if $crate::slug::is_slug(value, Self::MAX_LEN) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err($crate::events::InvalidValue(format!(
                        concat!($what, " is 1 to {} of a-z, 0-9 and -, not starting with -"),
                        Self::MAX_LEN
                    )))
                }
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::events::InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use slug_type;

#[cfg(test)]
mod tests {
    use super::is_slug;

    #[test]
    fn slugs_are_short_lowercase_names() {
        for ok in ["a", "org-1", "0", "a-b-c"] {
            assert!(is_slug(ok, 8), "{ok}");
        }
        for bad in ["", "-a", "A", "a_b", "a b", "é", "123456789"] {
            assert!(!is_slug(bad, 8), "{bad}");
        }
    }
}
