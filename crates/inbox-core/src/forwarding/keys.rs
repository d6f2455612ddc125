//! Every key forwarding writes. `{e}` is an event id, `{d}` a destination name, `{n}` an attempt
//! number (1 is the first), `{b}` a 10-second bucket (Unix seconds / 10).

use super::destinations::DestinationName;
use crate::events::EventId;

/// Counter: this installation's id (`super::hops`), made on the first send and never removed.
pub const INSTALLATION: &str = "install:id";

/// The highest event sequence number whose deliveries have all started (decimal).
pub const FLOOR: &str = "fwd:floor";

/// The delivery record of event `e` to destination `d` (JSON).
pub fn record(e: &EventId, d: &DestinationName) -> String {
    format!("fwd:dlv:{e}:{d}")
}

/// Counter: claims on attempt `n` of delivering `e` to `d` (the one that gets 1 sends it).
pub fn claim(e: &EventId, d: &DestinationName, n: u32) -> String {
    format!("fwd:try:{e}:{d}:{n}")
}

/// When a contender started the clock on attempt `n`'s claim (Unix ms), `0` once its owner wrote
/// the outcome.
pub fn lease(e: &EventId, d: &DestinationName, n: u32) -> String {
    format!("fwd:lease:{e}:{d}:{n}")
}

/// Counter: pointers queued in bucket `b`.
pub fn bucket(b: i64) -> String {
    format!("fwd:due:{b}")
}

/// Pointer `k` of bucket `b`: an attempt that is due then (JSON).
pub fn pointer(b: i64, k: u64) -> String {
    format!("fwd:due:{b}:{k}")
}

/// Counter: claims on moving pointer `k` of bucket `b` to a later bucket (its destination was
/// throttled); the one that gets 1 writes the new pointer.
pub fn moved(b: i64, k: u64) -> String {
    format!("fwd:due:{b}:{k}:moved")
}

/// Where pointer `k` of bucket `b` was moved (`{b}:{k}`), written with the new pointer: until it
/// exists the old one stays unresolved (and is tried as it is).
pub fn moved_to(b: i64, k: u64) -> String {
    format!("fwd:due:{b}:{k}:moved-to")
}

/// How many of bucket `b`'s pointers, from the first, are resolved (decimal; a hint).
pub fn resolved(b: i64) -> String {
    format!("fwd:due:{b}:resolved")
}

/// The lowest bucket not yet fully resolved (decimal).
pub const BUCKET_FLOOR: &str = "fwd:due-floor";

/// Counter: dead letters recorded (the newest is highest).
pub const DEAD_SEQ: &str = "fwd:dead-seq";

/// Dead letter `k`: which delivery died (JSON; the record says why).
pub fn dead(k: u64) -> String {
    format!("fwd:dead:{k:020}")
}

/// Counter: bulk replays of dead letter `k` (the one that gets 1 queues it again; a failed one
/// gives its claim back).
pub fn revived(k: u64) -> String {
    format!("fwd:revived:{k:020}")
}

/// Counter: deliveries to `d` in `state` (`pending`, `delivered`, `dead`).
pub fn stats(d: &str, state: &str) -> String {
    format!("stats:fwd:{d}:{state}")
}

/// Counter: attempts to `d` with `result` (`delivered`, `retry`, `dead`).
pub fn attempts(d: &str, result: &str) -> String {
    format!("stats:fwd-attempts:{d}:{result}")
}

/// The position of ordered destination `d`'s line (`super::ordered`): every event up to this
/// sequence number is passed (decimal).
pub fn line(d: &DestinationName) -> String {
    format!("fwd:line:{d}")
}

/// The destination names forwarding has seen configured (JSON list), so the API's stats and
/// retention know which per-destination keys exist without reading the secret variable.
pub const DESTINATIONS: &str = "fwd:destinations";

/// Counter: sends to `d` started in Unix second `s` (`super::throttle`, `max_per_second`).
pub fn throttle_rate(d: &DestinationName, s: i64) -> String {
    format!("fwd:thr:{d}:rate:{s}")
}

/// Counter: sends to `d` started in 5-second bucket `b` (`super::throttle`, `max_in_flight`).
pub fn throttle_started(d: &DestinationName, b: i64) -> String {
    format!("fwd:thr:{d}:fly:{b}")
}

/// Counter: of those, the ones over (or refused).
pub fn throttle_done(d: &DestinationName, b: i64) -> String {
    format!("fwd:thr:{d}:fly:{b}:done")
}

/// The Unix second up to which `d`'s throttle counters are deleted (decimal).
pub fn throttle_swept(d: &DestinationName) -> String {
    format!("fwd:thr:{d}:swept")
}

/// `d` is disabled (`super::circuit`): since when (RFC 3339), a newline, why; absent: enabled.
pub fn circuit(d: &DestinationName) -> String {
    format!("fwd:circuit:{d}")
}

/// Counter: failed attempts to `d`, ever (`super::circuit`).
pub fn circuit_failures(d: &DestinationName) -> String {
    format!("fwd:circuit:{d}:failures")
}

/// [`circuit_failures`] when `d`'s current run of failures began (decimal).
pub fn circuit_base(d: &DestinationName) -> String {
    format!("fwd:circuit:{d}:base")
}

/// The failure counter's value at the run's first failure, a newline, when (Unix ms).
pub fn circuit_since(d: &DestinationName) -> String {
    format!("fwd:circuit:{d}:since")
}

/// The destinations' settings as the forwarder last found them (JSON, `super::settings`), so
/// the API can show them without reading the secret variable.
pub const SETTINGS: &str = "fwd:settings";

/// Counter: pointers parked for disabled destination `d` (`super::parked`).
pub fn parked_count(d: &DestinationName) -> String {
    format!("fwd:park:{d}")
}

/// Parked pointer `k` of `d` (JSON).
pub fn parked(d: &DestinationName, k: u64) -> String {
    format!("fwd:park:{d}:{k}")
}

/// Attempt `n` of `e` is parked for `d` as pointer `k` (decimal), until it is put back.
pub fn parked_attempt(d: &DestinationName, e: &EventId, n: u32) -> String {
    format!("fwd:park:{d}:at:{e}:{n}")
}

/// How many of `d`'s parked pointers, from the first, are back in the due queue (decimal).
pub fn parked_back(d: &DestinationName) -> String {
    format!("fwd:park:{d}:back")
}
