//! DHCPv4 (RFC 2131): the client state machine the stack runs per interface, and a small
//! server used by tests and simulations (one implementation, reused everywhere).

pub mod client;
pub mod server;
