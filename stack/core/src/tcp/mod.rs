//! TCP (RFC 9293).

pub mod buffer;
pub mod cc;
pub mod conn;
pub mod rtt;
pub mod seq;
pub mod sockets;

pub use conn::{ConnError, RecvError, SendError, State, TcpConfig, WindowScale};
pub use sockets::{TcpCounters, TcpListenerId, TcpSocketId};

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod tests;
