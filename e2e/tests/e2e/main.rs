//! The black-box suite against the real `spin up`, one test binary (zero2prod's `tests/api/`
//! layout): `spin build` runs once per Spin binary for all of it, not once per file. Each module is
//! one area; `e2e/tests/cluster.rs` (the real cluster) stays a binary of its own, run once by the
//! test command's `cluster` step whatever Spin the suite runs on.
//!
//! `cargo test -p e2e --test e2e MODULE::` runs one area (e.g. `forwarding::`).

mod api;
mod catalogue;
mod contract;
mod docs;
mod forwarding;
mod health;
mod manifest;
mod providers;
mod registry;
mod retention;
mod sdk;
mod store_ops;
mod webhook;
