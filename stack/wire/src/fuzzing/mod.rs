//! Fuzz target bodies. `fuzz/` holds thin cargo-fuzz wrappers around these functions, and
//! `cargo test` replays every committed corpus and regression file through them on stable.
//!
//! A target panics only on a broken invariant (a parse that succeeds but does not survive
//! emit and re-parse, an accessor that disagrees with the Repr): that is the bug being hunted.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

pub mod arp;
pub mod dhcp;
pub mod differential;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod roundtrip;
pub mod tcp;
pub mod udp;
