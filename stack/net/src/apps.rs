//! Applications written once against the `Net` traits, run on every backend.
