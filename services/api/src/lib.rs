//! The `api` component: an authenticated REST API over the stored events (an event inbox).
//!
//! Routes come from `api_contract::Operation::ALL`; the handlers in [`service`] (events, stats),
//! `deliveries` (forwarding's records) and `destinations` (re-enabling one) are plain code over
//! the shared traits, tested natively. The last line of this file is the Spin adapter.

mod deliveries;
mod destinations;
pub mod query;
pub mod representation;
pub mod service;

pub use service::Api;

spin_adapter::export_http_service!(
    "api",
    crate::Api::new(
        spin_adapter::SpinKv::open_default(),
        spin_adapter::SpinVariables,
        inbox_core::clock::SystemClock,
        spin_adapter::SpinPoke,
    )
);
