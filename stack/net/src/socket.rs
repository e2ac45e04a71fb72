//! The socket backend: the host operating system's sockets through tokio.
//!
//! [`SocketNet`] implements [`Net`], [`UdpNet`] and [`TcpNet`] over tokio's `UdpSocket`,
//! `TcpStream` and `TcpListener`. Handles are not `Send` (see the crate docs): run it on a
//! current-thread runtime inside a `LocalSet`, as [`crate::tokio_rt::block_on_local`] does.
//!
//! ```no_run
//! use weft_net::{socket::SocketNet, tokio_rt::block_on_local, apps};
//!
//! block_on_local(async {
//!     let net = SocketNet::new(7);
//!     let addr = apps::udp_echo_server(net, 0).await.unwrap();
//!     println!("echoing on {addr}");
//! })
//! .unwrap();
//! ```

use crate::{ChaCha20Rng, ConnectError, Flow, Listener, Net, NetError, TcpNet, UdpNet, UdpSocket};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::net::{SocketAddr, SocketAddrV4};
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use weft_core::{Duration, Instant};

/// The largest UDP payload IPv4 can carry: 65535 − 20 (IPv4 header) − 8 (UDP header).
pub(crate) const MAX_UDP_PAYLOAD: usize = 65_507;

/// How long [`SocketNet`] waits for a connection by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The host's sockets. Cheap to clone (all fields are small values); clones share nothing but
/// the seed, origin and configuration.
#[derive(Debug, Clone, Copy)]
pub struct SocketNet {
    seed: u64,
    origin: tokio::time::Instant,
    connect_timeout: Duration,
}

impl SocketNet {
    /// A backend whose time zero is now and whose [`Net::rng`] streams come from `seed`.
    /// Sockets must be used inside a tokio runtime with IO and time enabled, on a `LocalSet`.
    pub fn new(seed: u64) -> SocketNet {
        SocketNet {
            seed,
            origin: tokio::time::Instant::now(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Gives up on [`TcpNet::connect`] after `timeout` with [`ConnectError::Timeout`] (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]; the operating system may give up earlier).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> SocketNet {
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

/// `now` as nanoseconds since `origin` on tokio's clock (which turmoil and paused tests drive).
pub(crate) fn tokio_now(origin: tokio::time::Instant) -> Instant {
    let since = tokio::time::Instant::now().saturating_duration_since(origin);
    Instant::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
}

/// A tokio sleep until `deadline` counted from `origin`.
pub(crate) fn tokio_sleep_until(
    origin: tokio::time::Instant,
    deadline: Instant,
) -> tokio::time::Sleep {
    let at = origin
        .checked_add(Duration::from_nanos(deadline.as_nanos()))
        // Beyond tokio's range: far enough to mean never.
        .unwrap_or_else(|| origin + Duration::from_secs(86_400 * 365 * 30));
    tokio::time::sleep_until(at)
}

/// An IPv4 socket address from a std one; an IPv6 one is an error (weft is IPv4).
pub(crate) fn to_v4(addr: SocketAddr) -> Result<SocketAddrV4, NetError> {
    match addr {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(a) => Ok(match a.ip().to_ipv4_mapped() {
            Some(ip) => SocketAddrV4::new(ip, a.port()),
            None => {
                return Err(NetError::Io {
                    kind: std::io::ErrorKind::Unsupported,
                    message: format!("{a} is an IPv6 address; weft-net speaks IPv4 only"),
                });
            }
        }),
    }
}

/// Classifies an error from binding `local`.
pub(crate) fn bind_error(local: SocketAddrV4, e: &std::io::Error) -> NetError {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => NetError::AddrInUse(local),
        std::io::ErrorKind::AddrNotAvailable => NetError::AddrNotAvailable(local),
        kind => NetError::Io {
            kind,
            message: format!("binding {local}: {e}"),
        },
    }
}

/// Refuses payloads UDP/IPv4 cannot carry, before the operating system does.
pub(crate) fn check_udp_len(payload: &[u8]) -> Result<(), NetError> {
    if payload.len() > MAX_UDP_PAYLOAD {
        return Err(NetError::TooLarge { len: payload.len() });
    }
    Ok(())
}

/// Classifies an error from shutting down or closing a connection.
pub(crate) fn close_error(e: &std::io::Error) -> NetError {
    match e.kind() {
        // The connection is already gone (reset by the peer, or never fully open).
        std::io::ErrorKind::NotConnected => NetError::Closed,
        _ => NetError::from_io(e),
    }
}

impl Net for SocketNet {
    fn now(&self) -> Instant {
        tokio_now(self.origin)
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + 'static {
        tokio_sleep_until(self.origin, deadline)
    }

    /// # Panics
    ///
    /// Outside a tokio `LocalSet` (tokio's `spawn_local` rule).
    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        drop(tokio::task::spawn_local(task));
    }

    fn rng(&self, purpose: &str) -> ChaCha20Rng {
        crate::rng_for(self.seed, purpose)
    }
}

/// A UDP socket of the host; clones share it.
#[derive(Debug, Clone)]
pub struct SocketUdp {
    socket: Rc<tokio::net::UdpSocket>,
    local: SocketAddrV4,
}

impl UdpSocket for SocketUdp {
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

impl UdpNet for SocketNet {
    type UdpSocket = SocketUdp;

    async fn bind_udp(&self, local: SocketAddrV4) -> Result<SocketUdp, NetError> {
        let socket = tokio::net::UdpSocket::bind(SocketAddr::V4(local))
            .await
            .map_err(|e| bind_error(local, &e))?;
        let bound = socket.local_addr().map_err(|e| NetError::from_io(&e))?;
        Ok(SocketUdp {
            socket: Rc::new(socket),
            local: to_v4(bound)?,
        })
    }
}

/// A TCP connection of the host.
#[derive(Debug)]
pub struct SocketFlow {
    stream: tokio::net::TcpStream,
    local: SocketAddrV4,
    peer: SocketAddrV4,
}

impl SocketFlow {
    fn new(stream: tokio::net::TcpStream) -> Result<SocketFlow, NetError> {
        // Request/response applications want each write on the wire at once.
        stream
            .set_nodelay(true)
            .map_err(|e| NetError::from_io(&e))?;
        let local = to_v4(stream.local_addr().map_err(|e| NetError::from_io(&e))?)?;
        let peer = to_v4(stream.peer_addr().map_err(|e| NetError::from_io(&e))?)?;
        Ok(SocketFlow {
            stream,
            local,
            peer,
        })
    }
}

impl AsyncRead for SocketFlow {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SocketFlow {
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

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Flow for SocketFlow {
    fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    fn peer_addr(&self) -> SocketAddrV4 {
        self.peer
    }

    /// Sends our FIN after the queued data (`shutdown(SHUT_WR)`), then closes the socket.
    async fn close(mut self) -> Result<(), NetError> {
        let shut = self.stream.shutdown().await;
        drop(self);
        shut.map_err(|e| close_error(&e))
    }
}

/// A listening TCP socket of the host.
#[derive(Debug)]
pub struct SocketListener {
    listener: tokio::net::TcpListener,
    local: SocketAddrV4,
}

impl Listener for SocketListener {
    type Flow = SocketFlow;

    async fn accept(&self) -> Result<(SocketFlow, SocketAddrV4), NetError> {
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => match SocketFlow::new(stream) {
                    Ok(flow) => {
                        let peer = flow.peer;
                        return Ok((flow, peer));
                    }
                    // Reset between the handshake and here: not the listener's concern.
                    Err(NetError::Reset | NetError::Closed) => continue,
                    Err(NetError::Io {
                        kind: std::io::ErrorKind::NotConnected,
                        ..
                    }) => continue,
                    Err(e) => return Err(e),
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) =>
                {
                    // A connection that died in the accept queue; the listener works on.
                    continue;
                }
                Err(e) => return Err(NetError::from_io(&e)),
            }
        }
    }

    fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }
}

impl TcpNet for SocketNet {
    type Flow = SocketFlow;
    type Listener = SocketListener;

    async fn connect(&self, to: SocketAddrV4) -> Result<SocketFlow, ConnectError> {
        let connecting = tokio::net::TcpStream::connect(SocketAddr::V4(to));
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Err(_elapsed) => Err(ConnectError::Timeout(to)),
            Ok(Err(e)) => Err(ConnectError::from_io(to, &e)),
            Ok(Ok(stream)) => {
                SocketFlow::new(stream).map_err(|error| ConnectError::Other { to, error })
            }
        }
    }

    async fn bind_tcp(&self, local: SocketAddrV4) -> Result<SocketListener, NetError> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::V4(local))
            .await
            .map_err(|e| bind_error(local, &e))?;
        let bound = listener.local_addr().map_err(|e| NetError::from_io(&e))?;
        Ok(SocketListener {
            listener,
            local: to_v4(bound)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokio_rt::block_on_local;
    use std::net::Ipv4Addr;

    const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

    #[test]
    fn socket_udp_bind_conflict_is_addr_in_use() {
        block_on_local(async {
            let net = SocketNet::new(1);
            let a = net.bind_udp(SocketAddrV4::new(LOCALHOST, 0)).await.unwrap();
            assert_ne!(a.local_addr().port(), 0);
            let err = net.bind_udp(a.local_addr()).await.unwrap_err();
            assert_eq!(err, NetError::AddrInUse(a.local_addr()));
        })
        .unwrap();
    }

    #[test]
    fn socket_tcp_bind_conflict_is_addr_in_use() {
        block_on_local(async {
            let net = SocketNet::new(1);
            let l = net.bind_tcp(SocketAddrV4::new(LOCALHOST, 0)).await.unwrap();
            let err = net.bind_tcp(l.local_addr()).await.unwrap_err();
            assert_eq!(err, NetError::AddrInUse(l.local_addr()));
        })
        .unwrap();
    }

    #[test]
    fn socket_bind_foreign_address_is_addr_not_available() {
        block_on_local(async {
            let net = SocketNet::new(1);
            // TEST-NET-1 (RFC 5737) is no address of this host.
            let foreign = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 0);
            assert_eq!(
                net.bind_udp(foreign).await.unwrap_err(),
                NetError::AddrNotAvailable(foreign)
            );
            assert_eq!(
                net.bind_tcp(foreign).await.unwrap_err(),
                NetError::AddrNotAvailable(foreign)
            );
        })
        .unwrap();
    }

    #[test]
    fn socket_udp_too_large_is_refused() {
        block_on_local(async {
            let net = SocketNet::new(1);
            let s = net.bind_udp(SocketAddrV4::new(LOCALHOST, 0)).await.unwrap();
            let big = vec![0u8; MAX_UDP_PAYLOAD + 1];
            assert_eq!(
                s.send_to(&big, s.local_addr()).await.unwrap_err(),
                NetError::TooLarge {
                    len: MAX_UDP_PAYLOAD + 1
                }
            );
            // The largest payload goes through, to ourselves.
            let max = vec![7u8; MAX_UDP_PAYLOAD];
            s.send_to(&max, s.local_addr()).await.unwrap();
            let mut buf = vec![0u8; 65_536];
            let (n, from) = s.recv_from(&mut buf).await.unwrap();
            assert_eq!((n, from), (MAX_UDP_PAYLOAD, s.local_addr()));
        })
        .unwrap();
    }

    #[test]
    fn socket_udp_short_buffer_truncates() {
        block_on_local(async {
            let net = SocketNet::new(1);
            let s = net.bind_udp(SocketAddrV4::new(LOCALHOST, 0)).await.unwrap();
            let clone = s.clone();
            clone.send_to(b"0123456789", s.local_addr()).await.unwrap();
            let mut buf = [0u8; 4];
            let (n, _) = s.recv_from(&mut buf).await.unwrap();
            assert_eq!((n, &buf), (4, b"0123"));
        })
        .unwrap();
    }

    #[test]
    fn socket_connect_timeout_is_typed() {
        block_on_local(async {
            // A listener with a backlog of 0 holds one unaccepted connection; Linux drops the
            // SYNs of the next (its accept queue is full), so that connect hears nothing.
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket
                .bind(SocketAddr::V4(SocketAddrV4::new(LOCALHOST, 0)))
                .unwrap();
            let listener = socket.listen(0).unwrap();
            let SocketAddr::V4(addr) = listener.local_addr().unwrap() else {
                panic!("IPv4 expected");
            };
            let timeout = Duration::from_millis(300);
            let net = SocketNet::new(1).with_connect_timeout(timeout);
            assert_eq!(net.connect_timeout(), timeout);
            let _queued = net.connect(addr).await.unwrap();
            let t0 = net.now();
            let err = net.connect(addr).await.unwrap_err();
            assert_eq!(err, ConnectError::Timeout(addr));
            assert!(net.now().saturating_since(t0) >= timeout);
            drop(listener);
        })
        .unwrap();
    }

    #[test]
    fn socket_clock_and_rng() {
        block_on_local(async {
            let net = SocketNet::new(42);
            let t0 = net.now();
            net.sleep(Duration::from_millis(5)).await;
            assert!(net.now().saturating_since(t0) >= Duration::from_millis(5));
            use rand_core::RngCore;
            assert_eq!(net.rng("x").next_u64(), crate::rng_for(42, "x").next_u64());
            assert_eq!(net.seed(), 42);
        })
        .unwrap();
    }

    #[test]
    fn socket_v6_address_is_an_io_error() {
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        assert!(matches!(
            to_v4(v6),
            Err(NetError::Io {
                kind: std::io::ErrorKind::Unsupported,
                ..
            })
        ));
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:80".parse().unwrap();
        assert_eq!(
            to_v4(mapped).unwrap(),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80)
        );
    }
}
