//! TCP (RFC 9293).

pub mod buffer;
pub mod conn;
pub mod rtt;
pub mod seq;

#[cfg(test)]
mod tests;
