//! When to try again, and what an answer means.
//!
//! - **Schedule** (`forward_retry_schedule`): the waits after each failed attempt, by default
//!   `5s, 5m, 30m, 2h, 5h, 10h, 10h` (eight attempts over about 28 hours, as Svix does), each
//!   stretched or shrunk by up to 10 % at random so that many failures do not retry in step.
//! - **Classification**: 2xx is delivered; 4xx other than 408, 409, 425 and 429 is permanent (the
//!   destination refuses it: a dead letter at once); anything else, and every transport error or
//!   timeout, is retried until the schedule is used up (then a dead letter).
//! - **`Retry-After`** on 429 and 503 (seconds, or an HTTP date) replaces the schedule's wait,
//!   up to a day.

use std::time::Duration;

use crate::config::ConfigError;
use crate::time::Timestamp;

/// The variable holding the retry schedule.
pub const SCHEDULE_VARIABLE: &str = "forward_retry_schedule";

/// The default schedule.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// The longest wait a `Retry-After` can ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// The waits after each failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(Vec<Duration>);

impl Schedule {
    /// Parses `5s,5m,30m,2h` (units s, m, h, d; 1 to 20 entries, each at most 7 days).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let malformed = |reason: String| ConfigError::Malformed {
            name: SCHEDULE_VARIABLE.to_owned(),
            reason,
        };
        let waits = text
            .split(',')
            .map(str::trim)
            .map(|item| {
                let split = item.char_indices().last().map_or(0, |(at, _)| at);
                let (digits, unit) = item.split_at(split);
                let seconds = match unit {
                    "s" => 1,
                    "m" => 60,
                    "h" => 3_600,
                    "d" => 86_400,
                    _ => return Err(malformed(format!("{item:?} needs a unit: s, m, h or d"))),
                };
                let n: u64 = digits.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    malformed(format!(
                        "{item:?} is not a positive whole number and a unit"
                    ))
                })?;
                let wait = n.saturating_mul(seconds);
                if wait > 7 * 86_400 {
                    return Err(malformed(format!("{item:?} is longer than 7 days")));
                }
                Ok(Duration::from_secs(wait))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if waits.is_empty() || waits.len() > 20 {
            return Err(malformed("1 to 20 waits, comma-separated".into()));
        }
        Ok(Self(waits))
    }

    /// Attempts in all: the first and one per wait.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.0.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The wait before attempt `next` (2 for the first retry), jittered by `jitter` in
    /// [-1, 1] (10 % of the wait at most); `None` when the schedule is used up.
    pub fn wait_before(&self, next: u32, jitter: f64) -> Option<Duration> {
        let index = usize::try_from(next.checked_sub(2)?).ok()?;
        let base = *self.0.get(index)?;
        let factor = 1.0 + 0.1 * jitter.clamp(-1.0, 1.0);
        Some(Duration::from_secs_f64(base.as_secs_f64() * factor))
    }
}

impl Default for Schedule {
    fn default() -> Self {
        // The default parses; a failure here would be a typo caught by the tests.
        Self::parse(DEFAULT_SCHEDULE).unwrap_or(Self(vec![Duration::from_secs(5)]))
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The destination answered with this status.
    Status {
        /// The status code.
        code: u16,
        /// Its `Retry-After`, parsed, if any.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, DNS, TLS, a timeout, a denied host.
    Failed(String),
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done.
    Delivered,
    /// Try again (after the schedule's wait or the `Retry-After`).
    Retry,
    /// The destination refuses it for good.
    Permanent,
}

/// Classifies an answer.
pub fn classify(answer: &Answer) -> Verdict {
    match answer {
        Answer::Status { code, .. } if (200..300).contains(code) => Verdict::Delivered,
        Answer::Status { code, .. }
            if (400..500).contains(code) && !matches!(code, 408 | 409 | 425 | 429) =>
        {
            Verdict::Permanent
        }
        // Loop Detected: the destination is (or leads back to) this installation, which will
        // refuse every attempt (`hops`).
        Answer::Status { code: 508, .. } => Verdict::Permanent,
        Answer::Status { .. } | Answer::Failed(_) => Verdict::Retry,
    }
}

/// `Retry-After` (RFC 9110 10.2.3): delay-seconds or an HTTP date, relative to `now`; capped at
/// [`MAX_RETRY_AFTER`]. Anything else is ignored.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = parse_http_date(value)?;
        Duration::from_millis(
            u64::try_from(at.unix_millis().saturating_sub(now.unix_millis())).unwrap_or(0),
        )
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The IMF-fixdate form of an HTTP date: `Sun, 06 Nov 1994 08:49:37 GMT` (the only form a
/// sender may generate; RFC 9110 5.6.7).
fn parse_http_date(value: &str) -> Option<Timestamp> {
    let rest = value.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() || day.len() != 2 || year.len() != 4 {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    Timestamp::parse_rfc3339(&format!("{year}-{month:02}-{day}T{time}Z")).ok()
}

/// A random jitter in [-1, 1].
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 2];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.0;
    }
    f64::from(u16::from_le_bytes(bytes)) / f64::from(u16::MAX) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_default_schedule_spans_about_a_day_in_eight_attempts() {
        let schedule = Schedule::default();
        assert_eq!(schedule.attempts(), 8);
        let total: Duration = (2..=8).filter_map(|n| schedule.wait_before(n, 0.0)).sum();
        assert_eq!(
            total,
            Duration::from_secs(5 + 300 + 1_800 + 7_200 + 18_000 + 36_000 * 2)
        );
        assert_eq!(schedule.wait_before(1, 0.0), None);
        assert_eq!(schedule.wait_before(2, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(schedule.wait_before(9, 0.0), None, "used up");
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let schedule = Schedule::parse("100s").unwrap();
        assert_eq!(schedule.wait_before(2, 1.0), Some(Duration::from_secs(110)));
        assert_eq!(schedule.wait_before(2, -1.0), Some(Duration::from_secs(90)));
        assert_eq!(
            schedule.wait_before(2, 7.0),
            Some(Duration::from_secs(110)),
            "clamped"
        );
        for _ in 0..100 {
            let j = jitter();
            assert!((-1.0..=1.0).contains(&j), "{j}");
        }
    }

    #[test]
    fn schedules_are_validated_naming_the_variable() {
        assert_eq!(
            Schedule::parse(" 1s, 2m ,3h,1d").unwrap().0,
            [1, 120, 10_800, 86_400].map(Duration::from_secs)
        );
        for bad in [
            "",
            "5",
            "5x",
            "0s",
            "-5s",
            "8d",
            "1s,,2s",
            &"1s,".repeat(21),
        ] {
            let error = Schedule::parse(bad).unwrap_err();
            assert_eq!(error.variable(), SCHEDULE_VARIABLE, "{bad:?}");
        }
    }

    #[test]
    fn answers_are_classified_as_the_issue_says() {
        let status = |code| Answer::Status {
            code,
            retry_after: None,
        };
        for code in [200, 201, 204, 299] {
            assert_eq!(classify(&status(code)), Verdict::Delivered, "{code}");
        }
        for code in [400, 401, 403, 404, 410, 413, 415, 422, 451] {
            assert_eq!(classify(&status(code)), Verdict::Permanent, "{code}");
        }
        for code in [408, 409, 425, 429, 500, 502, 503, 504, 301, 100] {
            assert_eq!(classify(&status(code)), Verdict::Retry, "{code}");
        }
        assert_eq!(classify(&Answer::Failed("timeout".into())), Verdict::Retry);
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = Timestamp::parse_rfc3339("1994-11-06T08:49:00Z").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:48:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("99999999999", now), Some(MAX_RETRY_AFTER));
        for bad in [
            "",
            "soon",
            "-5",
            "1.5",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn retry_after_parsing_never_panics(value in ".{0,60}") {
            let _ = parse_retry_after(&value, Timestamp::from_unix_seconds(1_800_000_000));
        }

        #[test]
        fn schedule_parsing_never_panics(value in ".{0,60}") {
            let _ = Schedule::parse(&value);
        }
    }
}
