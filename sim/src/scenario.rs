//! TOML scenarios: a layer over the Rust API.
