//! Timing and bounds of forwarding, shared by the dispatcher (which sends) and the ledger (which
//! stores): the lease, the send deadline, the due-attempt buckets and the per-call budgets.

use std::time::Duration;

/// Timing and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// A claimed attempt whose sender has not finished after this is taken over.
    pub lease: Duration,
    /// The longest one send may take (handed to the [`Sender`](super::Sender) with each send,
    /// which enforces it).
    pub send_timeout: Duration,
    /// Slack for clock skew between replicas.
    pub margin: Duration,
    /// Width of a due-attempt bucket.
    pub bucket: Duration,
    /// Events one call reads at most.
    pub max_events: usize,
    /// Store reads of due-attempt buckets and pointers one call makes at most.
    pub max_pointer_reads: usize,
    /// Attempts one call sends at most.
    pub max_sends: usize,
    /// A call starts no send after it has run this long.
    pub max_duration: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            send_timeout: Duration::from_secs(10),
            margin: Duration::from_secs(5),
            bucket: Duration::from_secs(10),
            max_events: 50,
            max_pointer_reads: 200,
            max_sends: 25,
            max_duration: Duration::from_secs(20),
        }
    }
}

/// A duration in whole milliseconds, saturating.
pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
