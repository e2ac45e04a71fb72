//! weft-net: the application API of weft and its backends.
//!
//! An application is written once against [`Net`], [`UdpNet`] and [`TcpNet`] — as
//! `async fn app(net: impl TcpNet)` — and runs on any backend:
//!
//! - **direct** ([`direct::DirectNet`]): weft-core over one or more links (a TAP device, the
//!   simulator's link, an in-memory pair), driven by one generic driver loop and generic over a
//!   small [`Runtime`] (clock, timers, spawn): [`tokio_rt::TokioRuntime`] with the real clock
//!   here (feature `tokio`), the simulator's virtual-time executor there;
//! - **socket** (`socket::SocketNet`, feature `tokio`): the host operating system's sockets;
//! - **turmoil** (`turmoil_net::TurmoilNet`, feature `turmoil`): turmoil's simulated sockets.
//!
//! # Threads
//!
//! Decided once: handles and tasks are **not `Send`**. A stack and the tasks that use it live on
//! one thread (the simulator is single-threaded; a deployment runs one stack per core). Handles
//! are cheap `Rc` clones; [`Net::spawn`] takes `'static` futures that need not be `Send`. Under
//! tokio that means a current-thread runtime with a `LocalSet` (see `tokio_rt`).
//!
//! # Addresses and time
//!
//! Addresses are `std::net::SocketAddrV4` (weft is IPv4). Time is weft-core's [`Instant`]: a
//! nanosecond count from an origin chosen by the backend (the moment it started, or the
//! simulation's zero).

use core::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4};

pub use rand_chacha::ChaCha20Rng;
pub use weft_core::{Duration, Instant};

pub mod apps;
pub mod direct;
pub mod link;
pub mod runtime;

#[cfg(feature = "tokio")]
pub mod socket;
#[cfg(all(feature = "tap", target_os = "linux"))]
pub mod tap;
#[cfg(feature = "tokio")]
pub mod tokio_rt;
#[cfg(feature = "turmoil")]
pub mod turmoil_net;

pub use runtime::Runtime;

/// Clock, timers, tasks and randomness: what every backend provides.
pub trait Net: Clone + 'static {
    /// The current time on this backend's clock.
    fn now(&self) -> Instant;

    /// Completes at `deadline` (at once when it has passed).
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + 'static;

    /// Completes after `d`.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + 'static {
        self.sleep_until(self.now().saturating_add(d))
    }

    /// Runs `task` concurrently on this backend's executor (not `Send`; see the crate docs).
    fn spawn(&self, task: impl Future<Output = ()> + 'static);

    /// A random stream for `purpose`, derived from the backend's seed: the same seed and
    /// purpose give the same stream, different purposes independent ones. Deterministic under
    /// simulation; a deployment seeds its backend from real entropy.
    fn rng(&self, purpose: &str) -> ChaCha20Rng;
}

/// UDP over IPv4.
pub trait UdpNet: Net {
    /// A bound UDP socket; clones share it.
    type UdpSocket: UdpSocket;

    /// Binds a socket to `local` (`0.0.0.0` = every local address, port 0 = an ephemeral
    /// port).
    fn bind_udp(
        &self,
        local: SocketAddrV4,
    ) -> impl Future<Output = Result<Self::UdpSocket, NetError>>;

    /// Binds `port` on every local address and runs `handler` for each datagram received
    /// there, one after another, in arrival order, on a spawned task. The handler gets the
    /// socket (to reply with), the sender and the payload. Returns the bound address.
    fn listen_udp<H, F>(
        &self,
        port: u16,
        handler: H,
    ) -> impl Future<Output = Result<SocketAddrV4, NetError>>
    where
        H: FnMut(Self::UdpSocket, SocketAddrV4, Vec<u8>) -> F + 'static,
        F: Future<Output = ()> + 'static,
    {
        async move {
            let socket = self
                .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
                .await?;
            let local = socket.local_addr();
            let mut handler = handler;
            self.spawn(async move {
                let mut buf = vec![0u8; 65_536];
                loop {
                    match socket.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            let payload = buf.get(..n).unwrap_or_default().to_vec();
                            handler(socket.clone(), from, payload).await;
                        }
                        // An ICMP error for an earlier reply is not the listener's concern.
                        Err(e) if e.is_transient() => continue,
                        Err(_) => break,
                    }
                }
            });
            Ok(local)
        }
    }
}

/// A bound UDP socket.
pub trait UdpSocket: Clone + 'static {
    /// The address the socket is bound to (the port is known even when 0 was asked for).
    fn local_addr(&self) -> SocketAddrV4;

    /// Sends one datagram to `to`. Larger than the MTU is fragmented (DF clear); waits while
    /// the transmit queue is full.
    fn send_to(
        &self,
        payload: &[u8],
        to: SocketAddrV4,
    ) -> impl Future<Output = Result<(), NetError>>;

    /// Receives one datagram into `buf`: its length and sender. A payload longer than `buf`
    /// is cut to fit (the rest is discarded, like `recvfrom`). An ICMP error that concerns a
    /// datagram this socket sent is returned as an error ([`NetError::Icmp`]) in its place.
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = Result<(usize, SocketAddrV4), NetError>>;
}

/// TCP over IPv4.
pub trait TcpNet: Net {
    /// An established connection: tokio's `AsyncRead`/`AsyncWrite`. `poll_shutdown` (tokio's
    /// `AsyncWriteExt::shutdown`) closes our direction only (a FIN; the peer may go on
    /// sending); [`Flow::close`] closes both; dropping a flow closes it too.
    type Flow: Flow;
    /// A listening socket.
    type Listener: Listener<Flow = Self::Flow>;

    /// Opens a connection to `to`.
    fn connect(&self, to: SocketAddrV4) -> impl Future<Output = Result<Self::Flow, ConnectError>>;

    /// Gives back the memory of connections' empty send and receive buffers — all sent bytes
    /// acknowledged, all received bytes read — and returns how many bytes that was. A
    /// connection's buffers otherwise keep what they grew to (up to the configured sizes)
    /// while it lives, so an application holding many idle connections calls this now and
    /// then; buffers grow again with the next data. On the direct backend (weft-core in this
    /// process) this is `Stack::tcp_release_buffers`; the host's sockets and turmoil keep
    /// their buffers themselves, and give back nothing here (0).
    fn release_idle_buffers(&self) -> usize {
        0
    }

    /// Listens on `local` (port 0 = ephemeral).
    fn bind_tcp(
        &self,
        local: SocketAddrV4,
    ) -> impl Future<Output = Result<Self::Listener, NetError>>;

    /// Listens on `port` on every local address and runs `handler` on its own task for each
    /// accepted connection. Returns the bound address.
    fn listen_tcp<H, F>(
        &self,
        port: u16,
        handler: H,
    ) -> impl Future<Output = Result<SocketAddrV4, NetError>>
    where
        H: Fn(Self::Flow) -> F + 'static,
        F: Future<Output = ()> + 'static,
    {
        async move {
            let listener = self
                .bind_tcp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
                .await?;
            let local = listener.local_addr();
            let net = self.clone();
            self.spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((flow, _peer)) => net.spawn(handler(flow)),
                        Err(e) if e.is_transient() => continue,
                        Err(_) => break,
                    }
                }
            });
            Ok(local)
        }
    }
}

/// An established TCP connection.
pub trait Flow: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static {
    /// Our end.
    fn local_addr(&self) -> SocketAddrV4;
    /// The peer's end.
    fn peer_addr(&self) -> SocketAddrV4;
    /// Closes both directions gracefully (FIN after the queued data) and waits until the
    /// stack has taken the close.
    fn close(self) -> impl Future<Output = Result<(), NetError>>;
}

/// A listening TCP socket.
pub trait Listener: 'static {
    /// The connections it yields.
    type Flow: Flow;
    /// The next established connection and its peer.
    fn accept(&self) -> impl Future<Output = Result<(Self::Flow, SocketAddrV4), NetError>>;
    /// The bound address.
    fn local_addr(&self) -> SocketAddrV4;
}

/// An ICMP error reported by the network about a datagram we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IcmpError {
    /// Destination unreachable, code 3: nothing listens on that port.
    PortUnreachable,
    /// Destination unreachable, code 2: the host does not speak that protocol.
    ProtocolUnreachable,
    /// Destination unreachable, codes 0, 1 and the rest: no way to the network or host.
    Unreachable {
        /// The ICMP code (RFC 792, RFC 1812 §5.2.7.1).
        code: u8,
    },
    /// Destination unreachable, code 4: too big for a hop and DF was set.
    FragmentationNeeded {
        /// The next-hop MTU (0 when the router did not say; RFC 1191).
        mtu: u16,
    },
    /// Time exceeded (code 0: TTL in transit; 1: reassembly).
    TimeExceeded {
        /// The ICMP code.
        code: u8,
    },
    /// Parameter problem.
    ParameterProblem {
        /// Octet offset of the problem.
        pointer: u8,
    },
}

impl core::fmt::Display for IcmpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IcmpError::PortUnreachable => write!(f, "port unreachable"),
            IcmpError::ProtocolUnreachable => write!(f, "protocol unreachable"),
            IcmpError::Unreachable { code } => write!(f, "destination unreachable (code {code})"),
            IcmpError::FragmentationNeeded { mtu } => {
                write!(f, "fragmentation needed (next-hop MTU {mtu})")
            }
            IcmpError::TimeExceeded { code } => write!(f, "time exceeded (code {code})"),
            IcmpError::ParameterProblem { pointer } => {
                write!(f, "parameter problem at octet {pointer}")
            }
        }
    }
}

/// Why a network operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Another socket holds the address and port.
    #[error("{0} is already in use")]
    AddrInUse(SocketAddrV4),
    /// The address is not one of this host's.
    #[error("{0} is not an address of this host")]
    AddrNotAvailable(SocketAddrV4),
    /// No route to the destination (no interface address, no gateway).
    #[error("no route to {0}")]
    NoRoute(Ipv4Addr),
    /// The network answered a datagram we sent to `peer` with an ICMP error.
    #[error("{reporter} reported {error} for a datagram to {peer}")]
    Icmp {
        /// Where our datagram was going.
        peer: SocketAddrV4,
        /// Who sent the ICMP error (the peer itself or a router).
        reporter: Ipv4Addr,
        /// What it said.
        error: IcmpError,
    },
    /// The host's stack refused a datagram earlier sent to a closed port (socket backend:
    /// the operating system reports ECONNREFUSED without saying which datagram).
    #[error("connection refused (an earlier datagram reached a closed port)")]
    Refused,
    /// The payload is larger than UDP/IPv4 can carry.
    #[error("payload of {len} bytes exceeds the 65507-byte UDP/IPv4 maximum")]
    TooLarge {
        /// Payload length.
        len: usize,
    },
    /// A configured limit was reached (sockets, ephemeral ports).
    #[error("limit reached: {0}")]
    Limit(String),
    /// The socket or the stack behind it is closed.
    #[error("socket closed")]
    Closed,
    /// The operation did not finish in time.
    #[error("timed out")]
    Timeout,
    /// The connection was reset by the peer.
    #[error("connection reset by peer")]
    Reset,
    /// An operating-system error (socket and TAP backends).
    #[error("{kind:?}: {message}")]
    Io {
        /// The error's kind.
        kind: std::io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
}

impl NetError {
    /// True for errors about one earlier datagram (ICMP reports, refused), after which the
    /// socket works on.
    pub fn is_transient(&self) -> bool {
        matches!(self, NetError::Icmp { .. } | NetError::Refused)
    }

    /// Converts an operating-system error.
    pub fn from_io(e: &std::io::Error) -> NetError {
        match e.kind() {
            std::io::ErrorKind::ConnectionRefused => NetError::Refused,
            std::io::ErrorKind::ConnectionReset => NetError::Reset,
            std::io::ErrorKind::TimedOut => NetError::Timeout,
            kind => NetError::Io {
                kind,
                message: e.to_string(),
            },
        }
    }
}

/// Why a TCP connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No answer within the connect timeout.
    #[error("connection to {0} timed out")]
    Timeout(SocketAddrV4),
    /// The peer answered with RST: nothing listens there.
    #[error("connection to {0} refused")]
    Refused(SocketAddrV4),
    /// No route, or the network reported the destination unreachable.
    #[error("{0} is unreachable")]
    Unreachable(SocketAddrV4),
    /// Anything else.
    #[error("connect to {to}: {error}")]
    Other {
        /// The destination.
        to: SocketAddrV4,
        /// What went wrong.
        error: NetError,
    },
}

impl ConnectError {
    /// Classifies an operating-system error from `connect(2)`.
    pub fn from_io(to: SocketAddrV4, e: &std::io::Error) -> ConnectError {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => ConnectError::Refused(to),
            K::TimedOut => ConnectError::Timeout(to),
            K::HostUnreachable | K::NetworkUnreachable => ConnectError::Unreachable(to),
            _ => ConnectError::Other {
                to,
                error: NetError::from_io(e),
            },
        }
    }
}

/// The stream of [`Net::rng`]: ChaCha20 keyed by the seed, on a stream numbered by a stable
/// (FNV-1a) hash of `purpose`. Backends share it so equal seeds mean equal streams everywhere.
pub fn rng_for(seed: u64, purpose: &str) -> ChaCha20Rng {
    use rand_core::SeedableRng;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in purpose.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(h);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::RngCore;

    #[test]
    fn rng_streams_are_stable_and_independent() {
        let a1 = rng_for(7, "workload").next_u64();
        let a2 = rng_for(7, "workload").next_u64();
        let b = rng_for(7, "ports").next_u64();
        let c = rng_for(8, "workload").next_u64();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
    }

    #[test]
    fn io_errors_are_classified() {
        let to = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 7);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            ConnectError::from_io(to, &refused),
            ConnectError::Refused(to)
        );
        assert_eq!(NetError::from_io(&refused), NetError::Refused);
        // EHOSTUNREACH and ENETUNREACH from connect(2).
        for kind in [
            std::io::ErrorKind::HostUnreachable,
            std::io::ErrorKind::NetworkUnreachable,
        ] {
            assert_eq!(
                ConnectError::from_io(to, &std::io::Error::from(kind)),
                ConnectError::Unreachable(to),
                "{kind:?}"
            );
        }
        // As connect(2) reports them on Linux: ENETUNREACH (101), EHOSTUNREACH (113).
        #[cfg(target_os = "linux")]
        for errno in [101, 113] {
            assert_eq!(
                ConnectError::from_io(to, &std::io::Error::from_raw_os_error(errno)),
                ConnectError::Unreachable(to),
                "errno {errno}"
            );
        }
        assert_eq!(
            ConnectError::from_io(to, &std::io::Error::from(std::io::ErrorKind::TimedOut)),
            ConnectError::Timeout(to)
        );
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            ConnectError::from_io(to, &denied),
            ConnectError::Other {
                to,
                error: NetError::from_io(&denied)
            }
        );
        assert_eq!(
            ConnectError::Unreachable(to).to_string(),
            "10.0.0.1:7 is unreachable"
        );
        assert!(NetError::Refused.is_transient());
        assert!(!NetError::Closed.is_transient());
    }
}
