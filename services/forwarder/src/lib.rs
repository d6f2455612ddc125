//! The `forwarder` component: delivers stored events to destinations (`/api/dispatch`, the
//! first attempts of one event, replays, dead letters, deliveries).
//!
//! The protocol is `shared::forwarding`, spin-free and tested natively; [`service`] ties it to
//! HTTP, and [`sender`] sends over `wasi:http`. The last line of this file is the Spin adapter.

pub mod config;
pub mod sender;
pub mod service;

pub use service::Forwarder;

spin_adapter::export_http_service!(
    "forwarder",
    crate::Forwarder::new(
        spin_adapter::SpinKv::open_default(),
        spin_adapter::SpinVariables,
        shared::clock::SystemClock,
        crate::sender::SpinSender,
    )
);
