//! weft-core: the `direct` stack, sans-IO.
//!
//! Frames, time and a seed go in; frames and events come out. No I/O, no clock, no entropy of
//! its own, `no_std` + `alloc`.
//!
//! Each protocol's state lives in a plain `&mut self` state machine with explicit time
//! (`arp::ArpCache`, `reassembly::Reassembler`, `udp::UdpSockets`, `dhcp::client::DhcpClient`,
//! ...), usable and tested on its own; `Stack` composes them behind the surface of
//! DESIGN.md ("The core's surface").
#![cfg_attr(not(any(feature = "std", test)), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod arp;
pub mod config;
pub mod counters;
#[cfg(feature = "dhcp")]
pub mod dhcp;
pub mod event;
pub mod fragment;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(feature = "icmp")]
pub mod icmp;
pub mod link;
pub mod reassembly;
pub mod rng;
pub mod route;
mod stack;
pub mod table;
pub mod tcp;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod time;
pub mod timer;
pub mod udp;

pub use config::{ConfigError, IfaceId, InterfaceConfig, Ipv4Config, Limits, Route, StackConfig};
pub use counters::Counters;
pub use event::{Event, IcmpErrorKind, UdpSocketId};
pub use link::{ChecksumState, Link, RxMeta, RxToken, TxMeta, TxToken};
#[cfg(feature = "dhcp")]
pub use stack::{DHCP_GRANTS_KEPT, DhcpGrant};
pub use stack::{Stack, TcpError, TcpInfo, Transmit};
pub use time::{Duration, Instant};
