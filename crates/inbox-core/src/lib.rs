//! The Spin-free core of webhook-inbox.
//!
//! Everything the components (one crate each under `services/`, one component each in spin.toml)
//! have in common lives here, and none of it depends on `spin-sdk`: calling a Spin host API from a
//! native `cargo test` aborts the process, so the logic is written against small traits
//! ([`kv::KeyValue`], [`config::Variables`], [`clock::Clock`]) and tested natively. The
//! `spin-adapter` crate implements those traits over the Spin host and is the only code that
//! talks to Spin.
//!
//! | module | job |
//! |---|---|
//! | [`auth`] | the API's bearer tokens, compared in constant time |
//! | [`problem`] | one error type, rendered as RFC 9457 `application/problem+json` |
//! | [`http`] | the request pipeline: request ids, body limits, routing, one log line per request |
//! | [`request_id`] | `x-request-id`: taken from the caller when well-formed, otherwise minted |
//! | [`slug`] | short `[a-z0-9-]` names (source labels, destination names) and their newtypes |
//! | [`build_info`] | crate version and git commit baked in at build time |
//! | [`config`] | typed settings read from Spin variables, with errors that name the variable |
//! | [`configured`] | which providers the webhook component has secrets for, as it last reported (for the API's catalogue) |
//! | [`clock`] | an injectable clock, so time-dependent code is tested with fixed time |
//! | [`time`] | UTC instants and RFC 3339, without chrono's size |
//! | [`logging`] | a `tracing` subscriber that writes one JSON object per line to stderr |
//! | [`kv`] | the key-value trait the stores are written against, plus an in-memory store |
//! | [`events`] | the event store: deduplicated ingestion, listing, status, retention, stats (key layout inside) |
//! | [`forwarding`] | delivery to destinations: signing, retries, dead letters, replay |
//! | [`probes`] | liveness and readiness answers, the same in every component |
#![forbid(unsafe_code)]

pub mod auth;
pub mod build_info;
pub mod clock;
pub mod config;
pub mod configured;
pub mod events;
pub mod forwarding;
pub mod handshakes;

pub mod http;
pub mod kv;
pub mod logging;
pub mod probes;
pub mod problem;
pub mod request_id;
pub mod slug;
pub mod time;

pub use problem::{FieldError, Problem, ProblemKind};
