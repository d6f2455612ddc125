//! The `forwarder` component: delivers stored events to destinations. It serves the contract's
//! `Server::Forwarder` operations, `POST /api/dispatch` (a bounded round of due attempts and a
//! retention sweep) and `POST /api/events/{id}/dispatch` (one event's due attempts now, after
//! ingestion or a replay), and its probes; the deliveries, replays and dead letters it records
//! are read and queued by the api component.
//!
//! The protocol is `inbox_core::forwarding`, spin-free and tested natively; [`service`] ties it to
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
        inbox_core::clock::SystemClock,
        crate::sender::SpinSender,
    )
);
