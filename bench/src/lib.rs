//! The native half of the benchmark suite (`bench/run.py` drives it):
//!
//! - [`native`]: the app's three services on hyper, over Spin's SQLite store layout, so the cost
//!   of the Wasm sandbox shows as a ratio;
//! - [`seed`]: stores N events through the real webhook service and bulk-loads them into Spin's
//!   SQLite file or Redis, so scaling runs start at 100 000 events in seconds;
//! - [`load`]: the load generator (unique signed deliveries per request), closed or open loop;
//! - [`copies`]: concurrent copies of one delivery, over one or more replicas;
//! - [`opcount`]: store operations per request, counted natively;
//! - [`receiver`]: a forwarding destination that answers 200 and counts what arrived.
#![forbid(unsafe_code)]

pub mod copies;
pub mod delivery;
pub mod load;
pub mod native;
pub mod opcount;
pub mod receiver;
pub mod seed;
pub mod sqlite_kv;
