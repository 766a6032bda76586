//! `matrix_sdk::ruma` without matrix-sdk: see Cargo.toml.
pub use ruma;
