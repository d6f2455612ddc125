//! Prints the API's OpenAPI document: `cargo run -p api-contract --features openapi --bin openapi`.
#![allow(clippy::print_stdout)]

fn main() {
    println!("{}", api_contract::openapi::document_json());
}
