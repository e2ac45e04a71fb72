//! The turmoil backend: turmoil's simulated sockets.
//!
//! [`TurmoilNet`] implements [`Net`], [`UdpNet`] and [`TcpNet`] over
//! `turmoil::net::{UdpSocket, TcpStream, TcpListener}`. Create it inside a turmoil host or
//! client (turmoil's sockets and clock belong to the host whose software is running):
//!
//! ```no_run
//! use weft_net::{apps, turmoil_net::TurmoilNet};
//!
//! let seed = 7;
//! let mut sim = turmoil::Builder::new().rng_seed(seed).build();
//! sim.host("server", move || async move {
//!     apps::udp_echo_server(TurmoilNet::new(seed), 7).await?;
//!     std::future::pending::<()>().await;
//!     Ok(())
//! });
//! ```
//!
//! # What turmoil models, and what it does not
//!
//! - Addresses are IPv4 (turmoil's default 192.168.0.0/16). A simulation built with
//!   `ip_version(IpVersion::V6)` gives IPv6 addresses, which this backend reports as
//!   [`NetError::Io`] (turmoil itself panics when a v4 wildcard is bound on a v6 host).
//! - Sockets bind only the wildcard `0.0.0.0` or loopback; another address is
//!   [`NetError::AddrNotAvailable`].
//! - A connection to a port nobody listens on, to an address no host has, or across a
//!   partitioned link is [`ConnectError::Refused`] at once (turmoil drops the SYN and with it
//!   the handshake); a held link (`turmoil::hold`) delays the SYN, so the connect timeout
//!   gives [`ConnectError::Timeout`].
//! - No ICMP: a datagram to a closed port vanishes.
//!
//! # Determinism
//!
//! Time is tokio's clock, which turmoil drives per host; randomness is [`crate::rng_for`] of
//! the seed given here. A simulation built with `turmoil::Builder::new().rng_seed(seed)` and
//! the same hosts replays the same run, so applications see identical transcripts.

use crate::socket::{bind_error, check_udp_len, close_error, to_v4, tokio_now, tokio_sleep_until};
use crate::{ChaCha20Rng, ConnectError, Flow, Listener, Net, NetError, TcpNet, UdpNet, UdpSocket};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::net::{SocketAddr, SocketAddrV4};
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use weft_core::{Duration, Instant};

/// How long [`TurmoilNet`] waits for a connection by default (simulated time).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// turmoil's simulated network, seen from the host it was created on.
#[derive(Debug, Clone, Copy)]
pub struct TurmoilNet {
    seed: u64,
    origin: tokio::time::Instant,
    connect_timeout: Duration,
}

impl TurmoilNet {
    /// A backend for the current turmoil host: time zero is now on the host's clock, the
    /// [`Net::rng`] streams come from `seed`. Call inside the host's software.
    pub fn new(seed: u64) -> TurmoilNet {
        TurmoilNet {
            seed,
            origin: tokio::time::Instant::now(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Gives up on [`TcpNet::connect`] after `timeout` of simulated time with
    /// [`ConnectError::Timeout`].
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> TurmoilNet {
        self.connect_timeout = timeout;
        self
    }

    /// The configured connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The seed the [`Net::rng`] streams derive from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl Net for TurmoilNet {
    fn now(&self) -> Instant {
        tokio_now(self.origin)
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + 'static {
        tokio_sleep_until(self.origin, deadline)
    }

    /// # Panics
    ///
    /// Outside a turmoil host (turmoil runs each host's software on a `LocalSet`).
    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        drop(tokio::task::spawn_local(task));
    }

    fn rng(&self, purpose: &str) -> ChaCha20Rng {
        crate::rng_for(self.seed, purpose)
    }
}

/// A simulated UDP socket; clones share it.
#[derive(Debug, Clone)]
pub struct TurmoilUdp {
    socket: Rc<turmoil::net::UdpSocket>,
    local: SocketAddrV4,
}

impl UdpSocket for TurmoilUdp {
    fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    async fn send_to(&self, payload: &[u8], to: SocketAddrV4) -> Result<(), NetError> {
        check_udp_len(payload)?;
        match self.socket.send_to(payload, SocketAddr::V4(to)).await {
            Ok(_) => Ok(()),
            Err(e) => Err(NetError::from_io(&e)),
        }
    }

    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddrV4), NetError> {
        match self.socket.recv_from(buf).await {
            Ok((n, from)) => Ok((n, to_v4(from)?)),
            Err(e) => Err(NetError::from_io(&e)),
        }
    }
}

impl UdpNet for TurmoilNet {
    type UdpSocket = TurmoilUdp;

    async fn bind_udp(&self, local: SocketAddrV4) -> Result<TurmoilUdp, NetError> {
        let socket = turmoil::net::UdpSocket::bind(SocketAddr::V4(local))
            .await
            .map_err(|e| bind_error(local, &e))?;
        let bound = socket.local_addr().map_err(|e| NetError::from_io(&e))?;
        Ok(TurmoilUdp {
            socket: Rc::new(socket),
            local: to_v4(bound)?,
        })
    }
}

/// A simulated TCP connection.
#[derive(Debug)]
pub struct TurmoilFlow {
    stream: turmoil::net::TcpStream,
    local: SocketAddrV4,
    peer: SocketAddrV4,
}

impl TurmoilFlow {
    fn new(stream: turmoil::net::TcpStream) -> Result<TurmoilFlow, NetError> {
        let local = to_v4(stream.local_addr().map_err(|e| NetError::from_io(&e))?)?;
        let peer = to_v4(stream.peer_addr().map_err(|e| NetError::from_io(&e))?)?;
        Ok(TurmoilFlow {
            stream,
            local,
            peer,
        })
    }
}

impl AsyncRead for TurmoilFlow {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TurmoilFlow {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Flow for TurmoilFlow {
    fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    fn peer_addr(&self) -> SocketAddrV4 {
        self.peer
    }

    /// Sends our FIN, then drops the stream (turmoil resets instead when unread data is left,
    /// as RFC 9293 §3.10.4 asks).
    async fn close(mut self) -> Result<(), NetError> {
        let shut = self.stream.shutdown().await;
        drop(self);
        shut.map_err(|e| close_error(&e))
    }
}

/// A simulated listening TCP socket.
pub struct TurmoilListener {
    listener: turmoil::net::TcpListener,
    local: SocketAddrV4,
}

impl core::fmt::Debug for TurmoilListener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TurmoilListener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Listener for TurmoilListener {
    type Flow = TurmoilFlow;

    async fn accept(&self) -> Result<(TurmoilFlow, SocketAddrV4), NetError> {
        let (stream, _) = self
            .listener
            .accept()
            .await
            .map_err(|e| NetError::from_io(&e))?;
        let flow = TurmoilFlow::new(stream)?;
        let peer = flow.peer;
        Ok((flow, peer))
    }

    fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }
}

impl TcpNet for TurmoilNet {
    type Flow = TurmoilFlow;
    type Listener = TurmoilListener;

    async fn connect(&self, to: SocketAddrV4) -> Result<TurmoilFlow, ConnectError> {
        let connecting = turmoil::net::TcpStream::connect(SocketAddr::V4(to));
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Err(_elapsed) => Err(ConnectError::Timeout(to)),
            Ok(Err(e)) => Err(ConnectError::from_io(to, &e)),
            Ok(Ok(stream)) => {
                TurmoilFlow::new(stream).map_err(|error| ConnectError::Other { to, error })
            }
        }
    }

    async fn bind_tcp(&self, local: SocketAddrV4) -> Result<TurmoilListener, NetError> {
        let listener = turmoil::net::TcpListener::bind(SocketAddr::V4(local))
            .await
            .map_err(|e| bind_error(local, &e))?;
        let bound = listener.local_addr().map_err(|e| NetError::from_io(&e))?;
        Ok(TurmoilListener {
            listener,
            local: to_v4(bound)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn turmoil_clock_flow_addresses_and_rng() {
        let mut sim = turmoil::Builder::new().rng_seed(3).build();
        sim.host("server", || async {
            let net = TurmoilNet::new(3);
            let listener = net
                .bind_tcp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80))
                .await?;
            assert_eq!(listener.local_addr().port(), 80);
            let (flow, peer) = listener.accept().await?;
            assert_eq!(flow.peer_addr(), peer);
            flow.close().await?;
            Ok(())
        });
        sim.client("client", async {
            let net = TurmoilNet::new(3).with_connect_timeout(Duration::from_secs(5));
            assert_eq!(net.connect_timeout(), Duration::from_secs(5));
            assert_eq!(net.seed(), 3);
            let IpAddr::V4(server) = turmoil::lookup("server") else {
                panic!("IPv4 expected");
            };
            let IpAddr::V4(me) = turmoil::lookup("client") else {
                panic!("IPv4 expected");
            };
            // Simulated time: a sleep takes exactly as long as asked.
            let t0 = net.now();
            net.sleep(Duration::from_millis(250)).await;
            assert_eq!(net.now().saturating_since(t0), Duration::from_millis(250));
            let flow = net.connect(SocketAddrV4::new(server, 80)).await?;
            assert_eq!(flow.peer_addr(), SocketAddrV4::new(server, 80));
            assert_eq!(*flow.local_addr().ip(), me);
            use rand_core::RngCore;
            assert_eq!(net.rng("a").next_u64(), crate::rng_for(3, "a").next_u64());
            Ok(())
        });
        sim.run().unwrap();
    }

    #[test]
    fn turmoil_udp_socket_clones_share_one_binding() {
        let mut sim = turmoil::Builder::new().rng_seed(4).build();
        sim.client("solo", async {
            let net = TurmoilNet::new(4);
            let a = net
                .bind_udp(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
                .await?;
            let b = a.clone();
            assert_ne!(a.local_addr().port(), 0);
            b.send_to(b"ping", a.local_addr()).await?;
            let mut buf = [0u8; 16];
            let (n, from) = a.recv_from(&mut buf).await?;
            assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()));
            let big = vec![0u8; crate::socket::MAX_UDP_PAYLOAD + 1];
            assert_eq!(
                a.send_to(&big, a.local_addr()).await,
                Err(NetError::TooLarge { len: big.len() })
            );
            Ok(())
        });
        sim.run().unwrap();
    }
}
