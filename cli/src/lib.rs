//! The `weft` command's library: capture decoding (`weft decode`), shared by the binary and
//! the integration tests.

pub mod decode;
pub mod dissect;
pub mod model;
pub mod render;
