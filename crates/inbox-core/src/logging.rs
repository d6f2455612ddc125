//! Structured logs: one JSON object per line on stderr.
//!
//! Spin forwards a component's stderr to its own log (and to the pod log on SpinKube), so a
//! JSON line per event is all a log pipeline needs. This is a deliberately small `tracing`
//! subscriber rather than `tracing-subscriber`'s JSON formatter: it supports events (what we
//! emit), not spans, and keeps each component well under its size budget.
//!
//! What is logged is decided at the call sites, which only ever pass methods, routes, statuses,
//! ids and outcomes: never a header value, a body, a token or a secret. Tests in the services
//! capture these lines and check that.

use std::fmt;
use std::io::Write;
#[cfg(any(test, feature = "testing"))]
use std::sync::Arc;
use std::sync::{Mutex, OnceLock};

use serde::{Serialize, Serializer};
#[cfg(any(test, feature = "testing"))]
use serde_json::Value;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Level, LevelFilter, Metadata, Subscriber};

use crate::clock::{Clock, SystemClock};
use crate::config::LogLevel;

/// Where the level comes from when it is first needed.
type LevelSource = Box<dyn Fn() -> LogLevel + Send + Sync>;

/// A `tracing` subscriber that writes each event as one JSON line.
///
/// The level can be resolved lazily, at the first event: on Spin it comes from the `log_level`
/// variable, and a variable lookup is a host call that costs more than everything else a
/// `/healthz` answer does (Spin runs each lookup under `block_in_place`; BENCHMARKS.md). A request
/// that logs nothing never looks it up.
pub struct JsonLines {
    max_level: OnceLock<Level>,
    level_source: LevelSource,
    component: &'static str,
    writer: Mutex<Box<dyn Write + Send>>,
}

impl fmt::Debug for JsonLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLines")
            .field("max_level", &self.max_level.get())
            .field("component", &self.component)
            .finish_non_exhaustive()
    }
}

impl JsonLines {
    /// Writes to `writer`, tagging each line with the component name.
    pub fn new(component: &'static str, level: LogLevel, writer: Box<dyn Write + Send>) -> Self {
        let lines = Self::deferred(component, move || level, writer);
        lines.level();
        lines
    }

    /// Like [`JsonLines::new`], with the level read from `level_source` when the first event
    /// needs it.
    pub fn deferred(
        component: &'static str,
        level_source: impl Fn() -> LogLevel + Send + Sync + 'static,
        writer: Box<dyn Write + Send>,
    ) -> Self {
        Self {
            max_level: OnceLock::new(),
            level_source: Box::new(level_source),
            component,
            writer: Mutex::new(writer),
        }
    }

    fn level(&self) -> Level {
        *self
            .max_level
            .get_or_init(|| (self.level_source)().as_tracing())
    }
}

/// Installs a stderr [`JsonLines`] at a fixed level as the global subscriber (tools, native
/// servers). If a subscriber is already installed (native tests), the existing one is kept.
pub fn init(component: &'static str, level: LogLevel) {
    // An Err only means a subscriber is already installed, which is fine.
    let _ = tracing::subscriber::set_global_default(JsonLines::new(
        component,
        level,
        Box::new(std::io::stderr()),
    ));
}

/// Installs a stderr [`JsonLines`] whose level is read from `level_source` at the first event.
/// On Spin every request runs in a fresh instance, so this runs once per request.
pub fn init_deferred(
    component: &'static str,
    level_source: impl Fn() -> LogLevel + Send + Sync + 'static,
) {
    let subscriber = JsonLines::deferred(component, level_source, Box::new(std::io::stderr()));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

impl Subscriber for JsonLines {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // `Level` orders TRACE as the greatest: "at most as verbose as max_level".
        *metadata.level() <= self.level()
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // The default asks `enabled` now, which would resolve a deferred level as soon as any
        // call site registers; "sometimes" defers the question to the event itself.
        match self.max_level.get() {
            Some(level) if metadata.level() <= level => Interest::always(),
            Some(_) => Interest::never(),
            None => Interest::sometimes(),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // Unknown until resolved: every event reaches `enabled`, which resolves it.
        self.max_level.get().copied().map(LevelFilter::from_level)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        // Spans are not recorded; every span gets the same id.
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Line::default();
        fields.insert("ts", Member::Text(SystemClock.now().to_rfc3339_millis()));
        fields.insert(
            "level",
            Member::Text(event.metadata().level().as_str().to_ascii_lowercase()),
        );
        fields.insert("component", Member::Text(self.component.into()));
        event.record(&mut fields);

        let mut line = serde_json::to_vec(&fields).unwrap_or_default();
        line.push(b'\n');
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A log line that cannot be written must not fail the request.
        let _ = writer.write_all(&line);
        let _ = writer.flush();
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// One log line: its members in the order of their names, each name once (the last value
/// recorded wins). Not a `serde_json::Map` of `Value`s: that B-tree's code is about 5 KB of each
/// component, for a handful of members.
#[derive(Default)]
struct Line(Vec<(&'static str, Member)>);

/// A member's value.
enum Member {
    Text(String),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl Line {
    fn insert(&mut self, name: &'static str, value: Member) {
        match self.0.binary_search_by(|(held, _)| held.cmp(&name)) {
            Ok(at) => {
                if let Some(member) = self.0.get_mut(at) {
                    member.1 = value;
                }
            }
            Err(at) => self.0.insert(at, (name, value)),
        }
    }
}

impl Serialize for Line {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (name, value)))
    }
}

impl Serialize for Member {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(text) => serializer.serialize_str(text),
            Self::Unsigned(value) => serializer.serialize_u64(*value),
            Self::Signed(value) => serializer.serialize_i64(*value),
            // As a JSON number when finite, `null` otherwise (JSON has no infinities).
            Self::Float(value) if value.is_finite() => serializer.serialize_f64(*value),
            Self::Float(_) | Self::Null => serializer.serialize_unit(),
            Self::Bool(value) => serializer.serialize_bool(*value),
        }
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        // Empty means "not known for this request" (e.g. the delivery id of a request rejected
        // before it was read): leave the field out rather than log "".
        if !value.is_empty() {
            self.insert(field.name(), Member::Text(value.into()));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field.name(), Member::Unsigned(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field.name(), Member::Signed(value));
    }

    // 128-bit integers as numbers when they fit (none is logged today): the default formats
    // them through `Debug`, which links 128-bit formatting into every component (1.5 KB).
    fn record_i128(&mut self, field: &Field, value: i128) {
        let value = i64::try_from(value).map_or(Member::Null, Member::Signed);
        self.insert(field.name(), value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let value = u64::try_from(value).map_or(Member::Null, Member::Unsigned);
        self.insert(field.name(), value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field.name(), Member::Float(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field.name(), Member::Bool(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert(field.name(), Member::Text(format!("{value:?}")));
    }
}

/// Log capture for tests, across the workspace.
///
/// `tracing` caches per call site whether anyone is interested in it, and that cache races when
/// parallel tests install and drop scoped subscribers. So tests share one global subscriber at
/// `debug` level whose output goes to the buffer of whichever test thread is capturing.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

#[cfg(any(test, feature = "testing"))]
thread_local! {
    static CAPTURE: std::cell::RefCell<Option<CapturedLogs>> = const { std::cell::RefCell::new(None) };
}

/// Writes into the capturing test thread's buffer, if any.
#[cfg(any(test, feature = "testing"))]
struct ThreadSink;

#[cfg(any(test, feature = "testing"))]
impl Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(logs) = capture.borrow().as_ref() {
                logs.0
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(any(test, feature = "testing"))]
impl CapturedLogs {
    /// Runs `f` and returns what it logged on this thread.
    pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Self) {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            let subscriber = JsonLines::new("test", LogLevel::Debug, Box::new(ThreadSink));
            // If a test binary installed its own global subscriber first, captures stay empty
            // and the assertions that read them fail loudly.
            let _ = tracing::subscriber::set_global_default(subscriber);
        });
        let logs = Self::default();
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(logs.clone()));
        let result = f();
        CAPTURE.with(|capture| *capture.borrow_mut() = None);
        (result, logs)
    }

    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Every line parsed as JSON (a line that is not JSON becomes `Value::Null`).
    pub fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_json_object_per_event() {
        let ((), logs) = CapturedLogs::capture(|| {
            tracing::info!(
                method = "GET",
                status = 200_u64,
                latency_ms = 1.5,
                ok = true,
                "request"
            );
            tracing::warn!(reason = ?"quoted", unknown = "", "second");
        });
        let lines = logs.lines();
        assert_eq!(lines.len(), 2, "{}", logs.text());
        assert_eq!(lines[0]["message"], "request");
        assert_eq!(lines[0]["method"], "GET");
        assert_eq!(lines[0]["status"], 200);
        assert_eq!(lines[0]["latency_ms"], 1.5);
        assert_eq!(lines[0]["ok"], true);
        assert_eq!(lines[0]["level"], "info");
        assert_eq!(lines[0]["component"], "test");
        assert!(lines[0]["ts"].as_str().is_some_and(|ts| ts.ends_with('Z')));
        assert_eq!(lines[1]["reason"], "\"quoted\"");
        assert!(
            lines[1].get("unknown").is_none(),
            "empty fields are left out: {}",
            lines[1]
        );
    }

    #[test]
    fn a_line_is_what_a_json_map_of_its_members_would_write() {
        let ((), logs) = CapturedLogs::capture(|| {
            tracing::info!(
                zeta = 1_u64,
                alpha = -2_i64,
                big = u128::MAX,
                small = -3_i128,
                ratio = 0.25,
                infinite = f64::INFINITY,
                yes = false,
                level = "shadowed",
                detail = ?Some("x"),
                "msg \"quoted\" \u{1}"
            );
        });
        let text = logs.text();
        let line = text.lines().next().unwrap_or_default();
        // The members as a `serde_json::Map` of `Value`s would hold them: sorted, a later
        // member of one name replacing the earlier.
        let parsed: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        let ts = parsed["ts"].as_str().unwrap().to_owned();
        let mut map = serde_json::Map::new();
        for (name, value) in [
            ("ts", Value::from(ts)),
            ("level", Value::from("info")),
            ("component", Value::from("test")),
            ("zeta", Value::from(1_u64)),
            ("alpha", Value::from(-2_i64)),
            ("big", Value::Null),
            ("small", Value::from(-3_i64)),
            ("ratio", Value::from(0.25)),
            ("infinite", Value::from(f64::INFINITY)),
            ("yes", Value::from(false)),
            ("level", Value::from("shadowed")),
            ("detail", Value::from("Some(\"x\")")),
            ("message", Value::from("msg \"quoted\" \u{1}")),
        ] {
            map.insert(name.to_owned(), value);
        }
        assert_eq!(line, serde_json::to_string(&map).unwrap());
    }

    #[test]
    fn filters_below_the_configured_level() {
        let warn = JsonLines::new("test", LogLevel::Warn, Box::new(std::io::sink()));
        assert_eq!(warn.max_level_hint(), Some(LevelFilter::WARN));
        let debug = JsonLines::new("test", LogLevel::Debug, Box::new(std::io::sink()));
        assert_eq!(debug.max_level_hint(), Some(LevelFilter::DEBUG));
    }

    #[test]
    fn a_deferred_level_is_read_once_and_only_when_an_event_needs_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let reads = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&reads);
        let lines = JsonLines::deferred(
            "test",
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                LogLevel::Warn
            },
            Box::new(std::io::sink()),
        );
        assert_eq!(lines.max_level_hint(), None);
        assert_eq!(reads.load(Ordering::SeqCst), 0, "not read before an event");
        assert!(Level::INFO > lines.level(), "warn filters info");
        assert_eq!(lines.max_level_hint(), Some(LevelFilter::WARN));
        lines.level();
        assert_eq!(reads.load(Ordering::SeqCst), 1, "read once");
    }

    #[test]
    fn hostile_field_values_stay_inside_one_line() {
        let ((), logs) = CapturedLogs::capture(|| {
            tracing::info!(path = "/x\n{\"level\":\"error\"}", "request");
        });
        assert_eq!(logs.text().lines().count(), 1);
        assert_eq!(logs.lines()[0]["level"], "info");
    }
}
