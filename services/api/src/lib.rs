//! The `api` component: an authenticated REST API over the stored events (an event inbox).
//!
//! Routes come from `api_contract::Operation::ALL`; the handlers in [`service`] are plain code
//! over the shared traits, tested natively. The last line of this file is the Spin adapter.

pub mod auth;
pub mod query;
pub mod representation;
pub mod service;

pub use service::Api;

/// The OpenAPI 3.1 document, generated from `api-contract` by the build script.
pub const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

spin_adapter::export_http_service!(
    "api",
    crate::Api::new(
        spin_adapter::SpinKv::open_default(),
        spin_adapter::SpinVariables,
        shared::clock::SystemClock,
    )
);
