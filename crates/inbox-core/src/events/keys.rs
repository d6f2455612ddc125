//! Every key the event store writes, in one place. See the module docs of [`crate::events`]
//! for what each key holds and why.

use super::model::{EventId, EventStatus, Provider};

/// Counter: the highest sequence number handed out.
pub const SEQ: &str = "events:seq";

/// Index entry for sequence number `seq` → event id. Zero-padded so a key listing sorts.
pub fn index(seq: u64) -> String {
    format!("events:idx:{seq:020}")
}

/// The event's metadata (JSON). Its existence is the commit point of an ingestion.
pub fn meta(id: &EventId) -> String {
    format!("events:meta:{id}")
}

/// The event's headers and payload (JSON).
pub fn body(id: &EventId) -> String {
    format!("events:body:{id}")
}

/// Counter: ingestion claims for generation `generation` of this event id.
pub fn claim(id: &EventId, generation: u64) -> String {
    format!("events:claim:{id}:{generation}")
}

/// When the owner of generation `generation` started (Unix ms, decimal), or `0` once released.
pub fn lease(id: &EventId, generation: u64) -> String {
    format!("events:lease:{id}:{generation}")
}

/// The newest claim generation of this event id (decimal; absent means 0). Advisory: it saves
/// contenders walking through expired generations.
pub fn generation(id: &EventId) -> String {
    format!("events:gen:{id}")
}

/// Counter: requests that marked incarnation `seq` of this event processed (the first one moves
/// the stats).
pub fn processed_claim(id: &EventId, seq: u64) -> String {
    format!("events:processed:{id}:{seq}")
}

/// Counter: requests that deleted incarnation `seq` of this event (the first one moves the
/// stats).
pub fn delete_claim(id: &EventId, seq: u64) -> String {
    format!("events:deleted:{id}:{seq}")
}

/// The lowest sequence number retention has not yet got past (decimal; absent means 0).
pub const FLOOR: &str = "events:floor";

/// When the running retention sweep started (Unix ms, decimal): one sweep at a time, usually.
pub const SWEEP: &str = "events:sweep";

/// Counter: the highest tombstone number handed out.
pub const TOMB_SEQ: &str = "events:tomb-seq";

/// Tombstone `n`: what is needed to forget a pruned event whose dedup record outlives it.
pub fn tombstone(n: u64) -> String {
    format!("events:tomb:{n:020}")
}

/// The highest tombstone number already expired and removed (decimal; absent means 0).
pub const TOMB_FLOOR: &str = "events:tomb-floor";

/// Counter: events removed by retention for this reason.
pub fn pruned(reason: &str) -> String {
    format!("stats:pruned:{reason}")
}

/// Counter: how many events of this provider are in this status.
pub fn stats(provider: Provider, status: EventStatus) -> String {
    format!("stats:{}:{}", provider.as_str(), status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_sort_by_sequence() {
        let mut keys = vec![index(10), index(9), index(100)];
        keys.sort();
        assert_eq!(keys, [index(9), index(10), index(100)]);
    }
}
