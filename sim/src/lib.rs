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
//! A host need not be a weft stack: [`SimBuilder::raw_host`] puts anything else that speaks
//! Ethernet on the network — another TCP/IP stack, a frame generator — as an application that
//! gets the bare NIC ([`SimLink`]: weft-core's `Link` and weft-net's `AsyncLink`, with the MAC
//! the simulator assigned) and the virtual-time runtime ([`SimRuntime`]). Its link has the
//! same faults, tape, pcap and monitor as any other.
//!
//! The engine is next-event: one queue of (time, sequence number) events — frame arrivals,
//! timers, scheduled faults — and a FIFO executor that runs the tasks an event woke until
//! none is ready. Cost grows with events, not with ticks × hosts. No tokio inside; nothing
//! reads a clock or OS entropy; the run is a function of the seed (or the fault tape).
//!
//! Around the engine:
//!
//! - [`workload`]: ready-made applications on named hosts ([`UdpEcho`],
//!   [`UdpRequestResponse`], [`DhcpAcquisition`], [`ArpChurn`], and over TCP [`TcpEcho`],
//!   [`TcpBulk`], [`TcpRequestResponse`]) added with [`SimBuilder::workload`], recording
//!   what they send and receive;
//! - [`oracle`]: judges every run — datagram and TCP stream integrity, loss, duplicates and
//!   connection failures accounted to the faults that fired, the sender-side [`monitor`], liveness once faults stop, the
//!   workloads' own checks — into [`Report::oracles`] ([`Report::ok`]);
//! - [`determinism`]: a seed run twice (in one process or two) and the first divergent event;
//! - [`shrink`]: a failing run's fault tape reduced by delta debugging, saved with its pcaps
//!   and the command that replays it;
//! - [`tape`]: fault decisions keyed by the frames they hit, written and replayed.
//!
//! Features: `planted-bugs` compiles bugs that tests plant (`SimBuilder::plant`) to prove
//! each oracle catches what it is for; `fuzzing` compiles the `sim_tape` fuzz target's body.

pub mod determinism;
mod executor;
mod fabric;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod marks;
pub mod monitor;
pub mod oracle;
pub mod scenario;
pub mod shrink;
mod sim;
pub mod tape;
pub mod workload;

pub use determinism::{TraceEvent, TraceKind};
pub use executor::{HostId, SimRuntime, Sleep};
pub use fabric::{
    FaultSource, LinkConfig, LinkCounters, LinkSpec, Loss, NIC_RX_RING, OCCURRENCE_WINDOW,
    SWITCH_TABLE, SimLink, SimRx, SimTx,
};
pub use marks::{FRAGMENT_WINDOW, MAX_PARTIAL_DATAGRAMS, MAX_PENDING_MARKS};
pub use monitor::MonitorReport;
#[cfg(feature = "planted-bugs")]
pub use oracle::PlantedBug;
pub use oracle::{
    DatagramTotals, Oracle, OracleConfig, OracleFailure, StreamError, StreamTotals, WorkloadReport,
};
pub use sim::{
    Action, HostConfig, HostReport, LinkReport, Report, Sim, SimBuilder, SimError, SimNet,
    SwitchReport, secs,
};
pub use tape::{Fault, FrameKey, Tape, TapeEntry, TapeError};
pub use workload::{
    ArpChurn, DhcpAcquisition, TcpBulk, TcpEcho, TcpRequestResponse, UdpEcho, UdpRequestResponse,
    Workload,
};
