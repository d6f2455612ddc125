//! Generates the OpenAPI document from `api-contract` and writes it to `$OUT_DIR/openapi.json`,
//! which the component embeds with `include_str!`. Any error fails the build.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo did not set OUT_DIR")?);
    let json = serde_json::to_string(&api_contract::openapi::document_value())?;
    std::fs::write(out_dir.join("openapi.json"), json)?;
    println!("cargo::rerun-if-changed=../api/contract/src");
    Ok(())
}
