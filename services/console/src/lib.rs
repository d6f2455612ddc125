//! The `console` component: the single-page UI at `/console/` (spin.toml routes `/console/...`
//! here), its liveness and readiness at `/console/healthz` and `/console/readyz`.
//!
//! The page's HTML, CSS, JavaScript and icon are in `ui/`, compiled in by [`assets`]: nothing is
//! fetched at run time, and the browser only ever calls the same-origin API. The logic is in
//! [`service`], tested natively; the last line of this file is the whole Spin adapter.

pub mod assets;
pub mod service;

pub use service::Console;

/// The API's OpenAPI 3.1 document, generated from `api-contract` by the build script and served
/// at `/api/openapi.json` (spin.toml routes that path here).
pub const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

spin_adapter::export_http_service!(
    "console",
    crate::Console::new(
        spin_adapter::SpinVariables,
        inbox_core::clock::SystemClock,
        inbox_core::build_info!(),
    )
);
