//! The Spin side of every component, kept thin on purpose.
//!
//! This crate maps Spin's host interfaces onto the `shared` crate's traits and types and holds no
//! logic of its own: `wasi:http` requests become `http::Request`s for [`inbox_core::http::serve`],
//! `wasi:keyvalue` becomes [`inbox_core::kv::KeyValue`], Spin variables become
//! [`inbox_core::config::Variables`]. Everything it calls is a host import, so nothing here can run
//! under a native `cargo test`; the end-to-end tests exercise it against the real `spin up`.
//!
//! A component crate is one macro call, its name for the log lines and an expression that makes
//! its service: `spin_adapter::export_http_service!("health", make_service());`.

mod http_io;
mod key_value;
pub mod outbound;
mod variables;

pub use http_io::serve_incoming;
pub use key_value::SpinKv;
pub use outbound::SpinPoke;
pub use variables::SpinVariables;

// Re-exported for the macro below, so component crates name one dependency path.
#[doc(hidden)]
pub use spin_sdk;

/// Exports a `wasi:http` handler that runs every request through [`inbox_core::http::serve`].
///
/// `$make` is an expression evaluated per request (Spin starts a fresh instance per request)
/// that yields a value implementing [`inbox_core::http::Service`]. `$name` is the component name
/// used in log lines.
#[macro_export]
macro_rules! export_http_service {
    ($name:literal, $make:expr) => {
        // spin-sdk's export macro expands to `unsafe` handle conversions; they are confined to
        // this generated module. Exports only exist in the Wasm build: a native cdylib cannot
        // carry `wasi:http/...` symbol names, and native builds exist only for tests and lints.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        mod __spin_component {
            #[$crate::spin_sdk::http_component]
            async fn handle(
                request: $crate::spin_sdk::http::IncomingRequest,
                response_out: $crate::spin_sdk::http::ResponseOutparam,
            ) {
                $crate::serve_incoming($name, request, response_out, || $make).await
            }
        }
    };
}
