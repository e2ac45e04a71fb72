//! The `weft` command's library: capture decoding (`weft decode`) and scenario runs and sweeps
//! (`weft run`, `weft sweep`), shared by the binary and the integration tests.

pub mod decode;
pub mod dissect;
pub mod model;
pub mod plant;
pub mod render;
pub mod simulate;
