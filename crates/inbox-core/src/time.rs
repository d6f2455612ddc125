//! UTC instants and their RFC 3339 text form.
//!
//! Hand-written instead of `chrono` for size: chrono's generic parser and formatter cost tens of
//! KB in a component (measured in docs/architecture.md, "Size budget"), and we need one type (milliseconds since the Unix epoch, UTC) with one
//! format. The calendar arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`;
//! the property tests check formatting and parsing against chrono (a dev-dependency only).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant, in whole milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Text that is not an RFC 3339 date-time (or is outside years 0000 to 9999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 timestamp (e.g. 2026-11-24T13:00:00Z)")]
pub struct InvalidTimestamp;

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Timestamp {
    /// The earliest instant that formats: 0000-01-01T00:00:00Z.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200_000);
    /// The latest instant that formats: 9999-12-31T23:59:59.999Z.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// From milliseconds since the epoch, clamped to years 0000 to 9999.
    pub fn from_unix_millis(millis: i64) -> Self {
        Self(millis.clamp(Self::MIN.0, Self::MAX.0))
    }

    /// From seconds since the epoch.
    pub fn from_unix_seconds(seconds: i64) -> Self {
        Self::from_unix_millis(seconds.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant moved forward (saturating at the end of year 9999).
    pub fn plus(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self::from_unix_millis(self.0.saturating_add(millis))
    }

    /// This instant moved back (saturating at the start of year 0000).
    pub fn minus(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self::from_unix_millis(self.0.saturating_sub(millis))
    }

    fn parts(self) -> (i64, i64, i64, i64, i64, i64, i64) {
        let days = self.0.div_euclid(MS_PER_DAY);
        let in_day = self.0.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        (
            year,
            month,
            day,
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000,
        )
    }

    /// `2026-11-24T13:24:53Z`: second precision, as `/healthz` reports it.
    pub fn to_rfc3339_seconds(self) -> String {
        let (y, mo, d, h, mi, s, _) = self.parts();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }

    /// `2026-11-24T13:24:53.120Z`: millisecond precision, as events are stored and listed.
    pub fn to_rfc3339_millis(self) -> String {
        let (y, mo, d, h, mi, s, ms) = self.parts();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }

    /// Parses an RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T`/`Z` in
    /// either case. Fractions beyond milliseconds are truncated; a leap second (`:60`) is read
    /// as the last millisecond of that minute.
    pub fn parse_rfc3339(text: &str) -> Result<Self, InvalidTimestamp> {
        let bytes = text.as_bytes();
        let number = |from: usize, len: usize| -> Result<i64, InvalidTimestamp> {
            let digits = bytes.get(from..from + len).ok_or(InvalidTimestamp)?;
            digits.iter().try_fold(0i64, |acc, b| {
                b.is_ascii_digit()
                    .then(|| acc * 10 + i64::from(b - b'0'))
                    .ok_or(InvalidTimestamp)
            })
        };
        let expect = |at: usize, allowed: &[u8]| -> Result<(), InvalidTimestamp> {
            bytes
                .get(at)
                .filter(|b| allowed.contains(b))
                .map(drop)
                .ok_or(InvalidTimestamp)
        };
        let year = number(0, 4)?;
        expect(4, b"-")?;
        let month = number(5, 2)?;
        expect(7, b"-")?;
        let day = number(8, 2)?;
        expect(10, b"Tt")?;
        let hour = number(11, 2)?;
        expect(13, b":")?;
        let minute = number(14, 2)?;
        expect(16, b":")?;
        let second = number(17, 2)?;
        if !(1..=12).contains(&month)
            || !(1..=days_in_month(year, month)).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(InvalidTimestamp);
        }

        let mut at = 19;
        let mut millis = 0;
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            let start = at;
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                if at - start < 3 {
                    millis = millis * 10 + i64::from(bytes.get(at).map_or(0, |b| b - b'0'));
                }
                at += 1;
            }
            if at == start {
                return Err(InvalidTimestamp);
            }
            for _ in (at - start)..3 {
                millis *= 10;
            }
        }
        let offset_minutes = match bytes.get(at) {
            Some(b'Z' | b'z') if at + 1 == bytes.len() => 0,
            Some(sign @ (b'+' | b'-')) if at + 6 == bytes.len() => {
                expect(at + 3, b":")?;
                let (oh, om) = (number(at + 1, 2)?, number(at + 4, 2)?);
                if oh > 23 || om > 59 {
                    return Err(InvalidTimestamp);
                }
                let minutes = oh * 60 + om;
                if *sign == b'-' {
                    -minutes
                } else {
                    minutes
                }
            }
            _ => return Err(InvalidTimestamp),
        };
        let (second, millis) = if second == 60 {
            (59, 999)
        } else {
            (second, millis)
        };
        let local = days_from_civil(year, month, day) * MS_PER_DAY
            + ((hour * 60 + minute) * 60 + second) * 1000
            + millis;
        let utc = local - offset_minutes * 60_000;
        if (Self::MIN.0..=Self::MAX.0).contains(&utc) {
            Ok(Self(utc))
        } else {
            Err(InvalidTimestamp)
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_millis())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339_millis())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, SecondsFormat, Utc};
    use proptest::prelude::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Timestamp::from_unix_millis(0).to_rfc3339_seconds(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(1_800_000_000_123).to_rfc3339_millis(),
            "2027-01-15T08:00:00.123Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(-1).to_rfc3339_millis(),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Timestamp::MAX.to_rfc3339_millis(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(Timestamp::MIN.to_rfc3339_seconds(), "0000-01-01T00:00:00Z");
    }

    #[test]
    fn parses_offsets_fractions_and_leap_days() {
        let at = |text| Timestamp::parse_rfc3339(text).map(Timestamp::unix_millis);
        assert_eq!(at("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(at("1970-01-01t01:00:00+01:00"), Ok(0));
        assert_eq!(at("1969-12-31T19:00:00.5-05:00"), Ok(500));
        assert_eq!(at("2024-02-29T00:00:00.123456789z"), Ok(1_709_164_800_123));
        assert_eq!(at("2016-12-31T23:59:60Z"), Ok(1_483_228_799_999));
        for bad in [
            "",
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+0100",
            "2026-01-01T00:00:00Z ",
            "+2026-01-01T00:00:00Z",
            "2026-1-01T00:00:00Z",
            "2026-01-01T00:00:00+24:00",
        ] {
            assert_eq!(
                Timestamp::parse_rfc3339(bad),
                Err(InvalidTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn serde_uses_millisecond_rfc3339() {
        let ts = Timestamp::from_unix_millis(1_800_000_000_000);
        let json = serde_json::to_string(&ts).unwrap();
        assert_eq!(json, "\"2027-01-15T08:00:00.000Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), ts);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }

    proptest! {
        #[test]
        fn formatting_matches_chrono(millis in Timestamp::MIN.0..=Timestamp::MAX.0) {
            let ours = Timestamp::from_unix_millis(millis);
            let theirs = DateTime::<Utc>::from_timestamp_millis(millis).unwrap();
            prop_assert_eq!(ours.to_rfc3339_millis(), theirs.to_rfc3339_opts(SecondsFormat::Millis, true));
            prop_assert_eq!(ours.to_rfc3339_seconds(), theirs.to_rfc3339_opts(SecondsFormat::Secs, true));
        }

        #[test]
        fn parsing_matches_chrono(
            millis in 0i64..=Timestamp::MAX.0,
            offset_minutes in -1439i32..=1439,
            fraction_digits in 0usize..9,
        ) {
            let instant = DateTime::<Utc>::from_timestamp_millis(millis).unwrap();
            let offset = chrono::FixedOffset::east_opt(offset_minutes * 60).unwrap();
            let local = instant.with_timezone(&offset);
            let format = match fraction_digits { 0 => SecondsFormat::Secs, 1..=3 => SecondsFormat::Millis, 4..=6 => SecondsFormat::Micros, _ => SecondsFormat::Nanos };
            let text = local.to_rfc3339_opts(format, true);
            if let Ok(theirs) = DateTime::parse_from_rfc3339(&text) {
                let ours = Timestamp::parse_rfc3339(&text).unwrap();
                prop_assert_eq!(ours.unix_millis(), theirs.timestamp_millis(), "{}", text);
            }
        }

        #[test]
        fn parsing_never_panics(text in ".{0,40}") {
            let _ = Timestamp::parse_rfc3339(&text);
        }
    }
}
