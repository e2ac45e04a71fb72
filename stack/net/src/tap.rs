//! The Linux TAP adapter.
