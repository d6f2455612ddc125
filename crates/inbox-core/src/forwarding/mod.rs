//! Forwarding: every stored event is pushed to the destinations that want it, signed per
//! Standard Webhooks, with retries, dead letters and replay. Spin-free, like the event store:
//! the forwarder component ties it to HTTP and to `wasi:http` for sending.
//!
//! | module | job |
//! |---|---|
//! | [`destinations`] | the `forward_destinations` variable: names, URLs, keys, filters |
//! | [`allowed`] | which URLs Spin's `allowed_outbound_hosts` lets the forwarder reach |
//! | [`policy`] | the retry schedule, what an answer means, `Retry-After` |
//! | [`records`] | what is stored: a delivery's record, due pointers, dead-letter entries |
//! | [`tuning`] | timing and bounds: lease, send deadline, buckets, per-call budgets |
//! | [`dispatch`] | sending: rounds over new events and due attempts, claims, leases |
//! | [`ledger`] | reading and writing them: records, the due queue, dead letters, counters, replay |
//! | [`bulk`] | replaying dead letters in bounded, resumable batches (a destination, a time range, a filter) |
//! | [`poke`] | asking the forwarder for an event's attempts right away (`forward_dispatch_url`) |
//! | [`hops`] | loop protection: this installation's id and the `webhook-inbox-hops` header |
//! | [`signing`] | the Standard Webhooks headers of a forwarded request |
//! | [`throttle`] | per-destination limits: sends per second, sends in flight |
//! | [`status`] | whether the forwarder takes its configuration, for the app's main `/readyz` |
//! | [`ordered`] | ordered delivery: one line per `"ordered"` destination, head of line only |
//! | [`circuit`] | circuit breaking: a destination failing too long is disabled until re-enabled |
//! | [`parked`] | a disabled destination's due pointers, kept aside until it is enabled again |
//! | [`settings`] | each destination's limits, secrets and thresholds, recorded for the API |

pub mod allowed;
pub mod bulk;
pub mod circuit;
pub mod destinations;
pub mod dispatch;
pub mod hops;
pub mod keys;
pub mod ledger;
pub mod ordered;
pub mod parked;
pub mod poke;
pub mod policy;
pub mod records;
pub mod settings;
pub mod signing;
pub mod status;
pub mod throttle;
pub mod tuning;

pub use destinations::{Destination, DestinationName, Filter, Url};
pub use dispatch::{Dispatcher, Report, Sender};
pub use ledger::Ledger;
pub use policy::{Answer, Schedule, Verdict};
pub use records::{Attempt, Record, State};
pub use tuning::Tuning;

#[cfg(test)]
mod tests;
