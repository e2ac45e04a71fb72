//! weft-sim: the deterministic network simulator.
//!
//! Many weft hosts — each a weft-core stack on the direct backend plus the user's own async
//! code — run over simulated links with the faults real networks have, on virtual time:
//!
//! ```no_run
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use weft_net::{UdpNet, UdpSocket};
//! use weft_sim::{HostConfig, Sim};
//!
//! let report = Sim::builder()
//!     .switch("lan")
//!     .host("server", HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 1), 24), |net| async move {
//!         net.listen_udp(7, |s, from, p| async move { let _ = s.send_to(&p, from).await; })
//!             .await
//!             .expect("listen");
//!     })
//!     .host("client", HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 2), 24), |net| async move {
//!         let s = net.bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).await.expect("bind");
//!         s.send_to(b"hi", SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 7)).await.expect("send");
//!     })
//!     .run(42)
//!     .expect("valid simulation");
//! println!("{}", report.summary());
//! ```
//!
//! The engine is next-event: one queue of (time, sequence number) events — frame arrivals,
//! timers, scheduled faults — and a FIFO executor that runs the tasks an event woke until
//! none is ready. Cost grows with events, not with ticks × hosts. No tokio inside; nothing
//! reads a clock or OS entropy; the run is a function of the seed (or the fault tape).

mod executor;
mod fabric;
pub mod scenario;
mod sim;
pub mod tape;

pub use executor::{HostId, SimRuntime, Sleep};
pub use fabric::{FaultSource, LinkConfig, LinkCounters, LinkSpec, Loss, SimLink};
pub use sim::{
    Action, HostConfig, HostReport, LinkReport, Report, Sim, SimBuilder, SimError, SimNet, secs,
};
pub use tape::{Fault, FrameKey, Tape, TapeEntry, TapeError};
