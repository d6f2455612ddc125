//! Forwarding: every stored event is pushed to the destinations that want it, signed per
//! Standard Webhooks, with retries, dead letters and replay. Spin-free, like the event store:
//! the forwarder component ties it to HTTP and to `wasi:http` for sending.
//!
//! | module | job |
//! |---|---|
//! | [`destinations`] | the `forward_destinations` variable: names, URLs, keys, filters |
//! | [`allowed`] | which URLs Spin's `allowed_outbound_hosts` lets the forwarder reach |
//! | [`policy`] | the retry schedule, what an answer means, `Retry-After` |
//! | [`records`] | what is kept about one event's delivery to one destination |
//! | [`dispatch`] | sending: rounds over new events and due attempts, claims, leases |
//! | [`ledger`] | what is stored: records, the due queue, dead letters, counters, replay |
//! | [`poke`] | asking the forwarder for an event's attempts right away (`forward_dispatch_url`) |
//! | [`signing`] | the Standard Webhooks headers of a forwarded request |

pub mod allowed;
pub mod destinations;
pub mod dispatch;
pub mod keys;
pub mod ledger;
pub mod poke;
pub mod policy;
pub mod records;
pub mod signing;

pub use destinations::{Destination, DestinationName, Filter, Url};
pub use dispatch::{Dispatcher, Report, Sender, Tuning};
pub use ledger::Ledger;
pub use policy::{Answer, Schedule, Verdict};
pub use records::{Attempt, Record, State};

#[cfg(test)]
mod tests;
