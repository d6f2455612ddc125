//! The `webhook` component: `POST /webhooks/{provider}`.
//!
//! Verification lives in the `webhook-verify` crate, storage in `shared::events`; [`service`]
//! ties them to HTTP and is tested natively. The last line of this file is the Spin adapter.

pub mod providers;
pub mod service;

pub use service::Webhooks;

/// Asks the forwarder over `wasi:http` (a self request for `http://self`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpinPoke;

impl service::Poke for SpinPoke {
    fn post(&self, url: &service::DispatchUrl, path: &str) -> Result<u16, String> {
        let timeout = std::time::Duration::from_secs(5);
        spin_adapter::outbound::post_empty(url.https, url.authority.as_deref(), path, timeout)
    }
}

spin_adapter::export_http_service!(
    "webhook",
    crate::Webhooks::new(
        spin_adapter::SpinKv::open_default(),
        spin_adapter::SpinVariables,
        shared::clock::SystemClock,
        crate::SpinPoke,
    )
);
