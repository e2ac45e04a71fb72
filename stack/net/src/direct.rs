//! The direct backend (in progress).
