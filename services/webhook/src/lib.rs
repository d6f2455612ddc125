//! The `webhook` component: `POST /webhooks/{provider}`.
//!
//! Verification lives in the `webhook-verify` crate, storage in `inbox_core::events`; [`service`]
//! ties them to HTTP and is tested natively. The last line of this file is the Spin adapter.

pub mod providers;
pub mod service;

pub use service::Webhooks;

spin_adapter::export_http_service!(
    "webhook",
    crate::Webhooks::new(
        spin_adapter::SpinKv::open_default(),
        spin_adapter::SpinVariables,
        inbox_core::clock::SystemClock,
        spin_adapter::SpinPoke,
    )
);
