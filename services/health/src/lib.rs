//! The `health` component: `/healthz`, `/readyz`, and the RFC 9457 404 for every path no other
//! component serves (spin.toml routes `/...` here).
//!
//! The logic is in [`service`], written against the shared traits and tested natively; the last
//! line of this file is the whole Spin adapter.

pub mod service;

pub use service::Health;

spin_adapter::export_http_service!(
    "health",
    crate::Health::new(
        spin_adapter::SpinKv::open_default(),
        spin_adapter::SpinVariables,
        inbox_core::clock::SystemClock,
        inbox_core::build_info!(),
    )
);
