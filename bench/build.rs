//! Which `KeyValue` trait this crate is built against. The suite builds this same crate over an
//! older revision's services too (the store layout's before/after comparison, `bench/run.py
//! --baseline-rev`), and the trait gained `delete_many` with the current layout: the crate
//! implements it only where the trait has it (`cfg(kv_delete_many)`).
#![allow(clippy::print_stdout)] // cargo reads a build script's directives from stdout

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").ok_or("no CARGO_MANIFEST_DIR")?);
    // crates/inbox-core since the crates/ layout; `shared` in older revisions (the baseline).
    let kv = ["crates/inbox-core/src/kv.rs", "shared/src/kv.rs"]
        .iter()
        .map(|rel| dir.join("..").join(rel))
        .find(|path| path.is_file())
        .ok_or("no kv.rs under crates/inbox-core or shared")?;
    let source = std::fs::read_to_string(&kv)?;
    println!("cargo::rerun-if-changed={}", kv.display());
    println!("cargo::rustc-check-cfg=cfg(kv_delete_many)");
    if source.contains("fn delete_many(") {
        println!("cargo::rustc-cfg=kv_delete_many");
    }
    Ok(())
}
