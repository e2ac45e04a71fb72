//! `TcpNet` on the direct backend: weft-core's TCP behind tokio's `AsyncRead`/`AsyncWrite`.

use super::{DirectNet, Inner, Wakers, add_waker, wake_all};
use crate::runtime::Runtime;
use crate::{ConnectError, Flow, Listener, Net, NetError, TcpNet};
use core::future::poll_fn;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::net::{Ipv4Addr, SocketAddrV4};
use weft_core::tcp::{ConnError, RecvError, SendError, State, TcpListenerId, TcpSocketId};
use weft_core::{Duration, Event, Instant, TcpError};

/// How long `connect` waits for the handshake before giving up (the core's own SYN
/// retransmissions would go on for R2, three minutes).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Listen backlog of `bind_tcp`.
pub const BACKLOG: usize = 128;

/// Wakers and outcome of one connection. In this order (`repr(C)`): what a segment's
/// wake-up touches first, all within the entry's first cache line (see `FlowSlot`); the
/// connect waiters, needed once, after.
#[derive(Debug, Default)]
#[repr(C)]
pub(super) struct FlowState {
    readers: Wakers,
    writers: Wakers,
    connected: bool,
    failed: Option<ConnError>,
    closed: bool,
    connect: Wakers,
}

impl FlowState {
    pub(super) fn wake_all(&mut self) {
        wake_all(&mut self.readers);
        wake_all(&mut self.writers);
        wake_all(&mut self.connect);
    }
}

impl Inner {
    pub(super) fn dispatch_tcp(&mut self, ev: Event) {
        match ev {
            Event::TcpAcceptable { listener } => {
                if let Some(w) = self.listeners.get_mut(&listener.0) {
                    wake_all(w);
                }
            }
            Event::TcpConnected { socket } => {
                if let Some(s) = self.tcp.get_mut(&socket) {
                    s.connected = true;
                    wake_all(&mut s.connect);
                    wake_all(&mut s.writers);
                }
            }
            Event::TcpReadable { socket }
            | Event::TcpPeerClosed { socket }
            | Event::TcpUrgent { socket } => {
                if let Some(s) = self.tcp.get_mut(&socket) {
                    wake_all(&mut s.readers);
                }
            }
            Event::TcpWritable { socket } => {
                if let Some(s) = self.tcp.get_mut(&socket) {
                    wake_all(&mut s.writers);
                }
            }
            Event::TcpFailed { socket, error } => {
                if let Some(s) = self.tcp.get_mut(&socket) {
                    s.failed = Some(error);
                    s.wake_all();
                }
            }
            Event::TcpClosed { socket } => {
                if let Some(s) = self.tcp.get_mut(&socket) {
                    s.closed = true;
                    s.wake_all();
                }
            }
            _ => {}
        }
    }
}

fn tcp_error(e: TcpError, at: SocketAddrV4) -> NetError {
    match e {
        TcpError::AddrInUse { addr, port } => NetError::AddrInUse(SocketAddrV4::new(addr, port)),
        TcpError::AddrNotAvailable(_) => NetError::AddrNotAvailable(at),
        TcpError::NoRoute(a) => NetError::NoRoute(a),
        TcpError::NoSuchSocket => NetError::Closed,
        other => NetError::Limit(other.to_string()),
    }
}

fn io_error(e: ConnError) -> std::io::Error {
    use std::io::ErrorKind as K;
    let kind = match e {
        ConnError::Refused => K::ConnectionRefused,
        ConnError::Reset => K::ConnectionReset,
        ConnError::TimedOut => K::TimedOut,
        _ => K::ConnectionAborted,
    };
    std::io::Error::new(kind, e)
}

/// A TCP connection on the direct backend. Dropping it closes it gracefully.
pub struct DirectFlow<R: Runtime> {
    net: DirectNet<R>,
    id: TcpSocketId,
    local: SocketAddrV4,
    peer: SocketAddrV4,
    released: bool,
}

impl<R: Runtime> core::fmt::Debug for DirectFlow<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectFlow")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

// Never pin-projected: the runtime handle inside is only cloned and called.
impl<R: Runtime> Unpin for DirectFlow<R> {}

impl<R: Runtime> DirectFlow<R> {
    fn new(net: DirectNet<R>, id: TcpSocketId) -> DirectFlow<R> {
        let info = net.inner.borrow().stack.tcp_info(id);
        let (local, peer) = info.map_or(
            (
                SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
                SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            ),
            |i| {
                (
                    SocketAddrV4::new(i.local.0, i.local.1),
                    SocketAddrV4::new(i.remote.0, i.remote.1),
                )
            },
        );
        net.inner.borrow_mut().tcp.get_or_default(id);
        DirectFlow {
            net,
            id,
            local,
            peer,
            released: false,
        }
    }

    /// The connection's state, sequence variables, congestion window and RTO.
    pub fn info(&self) -> Option<weft_core::TcpInfo> {
        self.net.inner.borrow().stack.tcp_info(self.id)
    }

    /// Turns Nagle's algorithm off (or on again).
    pub fn set_nodelay(&self, on: bool) -> Result<(), NetError> {
        let id = self.id;
        self.net
            .with_stack(|s, now| s.tcp_configure(now, id, |c| c.nodelay = on))
            .map_err(|e| tcp_error(e, self.local))
    }

    /// Aborts the connection: RST to the peer.
    pub fn abort(mut self) {
        self.released = true;
        let id = self.id;
        let _ = self.net.with_stack(|s, now| s.tcp_abort(now, id));
        self.net.inner.borrow_mut().tcp.remove(&id);
    }

    fn release(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        let id = self.id;
        // The stack finishes the close; an already failed connection has nothing to say.
        let _ = self.net.with_stack(|s, now| s.tcp_close(now, id));
        self.net.inner.borrow_mut().tcp.remove(&id);
    }
}

impl<R: Runtime> Drop for DirectFlow<R> {
    fn drop(&mut self) {
        if let Ok(mut g) = self.net.inner.try_borrow_mut() {
            if self.released {
                return;
            }
            self.released = true;
            let now = self.net.rt.now();
            let _ = g.stack.tcp_close(now, self.id);
            g.tcp.remove(&self.id);
            g.wake_driver();
        }
    }
}

impl<R: Runtime> tokio::io::AsyncRead for DirectFlow<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let now = this.net.rt.now();
        let mut g = this.net.inner.borrow_mut();
        let dst = buf.initialize_unfilled();
        match g.stack.tcp_recv(now, this.id, dst) {
            Ok(0) if dst.is_empty() => Poll::Ready(Ok(())),
            Ok(0) => {
                if let Some(e) = g.tcp.get(&this.id).and_then(|s| s.failed) {
                    return Poll::Ready(Err(io_error(e)));
                }
                if g.stopped {
                    return Poll::Ready(Err(std::io::ErrorKind::NotConnected.into()));
                }
                if let Some(s) = g.tcp.get_mut(&this.id) {
                    add_waker(&mut s.readers, cx.waker());
                }
                Poll::Pending
            }
            Ok(n) => {
                buf.advance(n);
                g.wake_driver();
                Poll::Ready(Ok(()))
            }
            Err(TcpError::Recv(RecvError::Finished)) => Poll::Ready(Ok(())),
            Err(TcpError::Recv(RecvError::Failed(e))) => Poll::Ready(Err(io_error(e))),
            Err(e) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                e,
            ))),
        }
    }
}

impl<R: Runtime> tokio::io::AsyncWrite for DirectFlow<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let now = this.net.rt.now();
        let mut g = this.net.inner.borrow_mut();
        match g.stack.tcp_send(now, this.id, data) {
            Ok(0) => {
                if g.stopped {
                    return Poll::Ready(Err(std::io::ErrorKind::NotConnected.into()));
                }
                if let Some(s) = g.tcp.get_mut(&this.id) {
                    add_waker(&mut s.writers, cx.waker());
                }
                g.wake_driver();
                Poll::Pending
            }
            Ok(n) => {
                g.wake_driver();
                Poll::Ready(Ok(n))
            }
            Err(TcpError::Send(SendError::Failed(e))) => Poll::Ready(Err(io_error(e))),
            Err(TcpError::Send(SendError::Closing)) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the sending direction is shut down",
            ))),
            Err(e) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                e,
            ))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // Written data is in the stack's send buffer: as flushed as a kernel socket's.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let id = this.id;
        match this.net.with_stack(|s, now| s.tcp_shutdown(now, id)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                e,
            ))),
        }
    }
}

impl<R: Runtime> Flow for DirectFlow<R> {
    fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    fn peer_addr(&self) -> SocketAddrV4 {
        self.peer
    }

    async fn close(mut self) -> Result<(), NetError> {
        self.release();
        Ok(())
    }
}

/// A listening socket on the direct backend; dropping it stops listening.
pub struct DirectListener<R: Runtime> {
    net: DirectNet<R>,
    id: TcpListenerId,
    local: SocketAddrV4,
}

impl<R: Runtime> core::fmt::Debug for DirectListener<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectListener")
            .field("local", &self.local)
            .finish()
    }
}

impl<R: Runtime> Drop for DirectListener<R> {
    fn drop(&mut self) {
        if let Ok(mut g) = self.net.inner.try_borrow_mut() {
            let now = self.net.rt.now();
            g.stack.tcp_unlisten(now, self.id);
            g.listeners.remove(&self.id.0);
            g.wake_driver();
        }
    }
}

impl<R: Runtime> Listener for DirectListener<R> {
    type Flow = DirectFlow<R>;

    async fn accept(&self) -> Result<(DirectFlow<R>, SocketAddrV4), NetError> {
        let id = self.id;
        let socket = poll_fn(|cx| {
            let mut g = self.net.inner.borrow_mut();
            if g.stopped {
                return Poll::Ready(Err(NetError::Closed));
            }
            match g.stack.tcp_accept(id) {
                Ok(Some(s)) => Poll::Ready(Ok(s)),
                Ok(None) => {
                    add_waker(g.listeners.entry(id.0).or_default(), cx.waker());
                    Poll::Pending
                }
                Err(_) => Poll::Ready(Err(NetError::Closed)),
            }
        })
        .await?;
        let flow = DirectFlow::new(self.net.clone(), socket);
        let peer = flow.peer;
        Ok((flow, peer))
    }

    fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }
}

impl<R: Runtime> TcpNet for DirectNet<R> {
    type Flow = DirectFlow<R>;
    type Listener = DirectListener<R>;

    fn release_idle_buffers(&self) -> usize {
        self.with_stack(|s, _| s.tcp_release_buffers())
    }

    async fn connect(&self, to: SocketAddrV4) -> Result<DirectFlow<R>, ConnectError> {
        let started = self.with_stack(|s, now| {
            s.tcp_connect(now, (*to.ip(), to.port()), (Ipv4Addr::UNSPECIFIED, 0))
        });
        let id = match started {
            Ok(id) => id,
            Err(TcpError::NoRoute(_)) => return Err(ConnectError::Unreachable(to)),
            Err(e) => {
                return Err(ConnectError::Other {
                    to,
                    error: tcp_error(e, to),
                });
            }
        };
        self.inner.borrow_mut().tcp.get_or_default(id);
        let wait = poll_fn(|cx| {
            let mut g = self.inner.borrow_mut();
            if g.stopped {
                return Poll::Ready(Err(ConnectError::Other {
                    to,
                    error: NetError::Closed,
                }));
            }
            let established = g.stack.tcp_info(id).is_some_and(|i| {
                !matches!(i.state, State::SynSent | State::SynReceived | State::Closed)
            });
            let Some(s) = g.tcp.get_mut(&id) else {
                return Poll::Ready(Err(ConnectError::Other {
                    to,
                    error: NetError::Closed,
                }));
            };
            match s.failed {
                Some(ConnError::Refused) | Some(ConnError::Reset) => {
                    return Poll::Ready(Err(ConnectError::Refused(to)));
                }
                Some(ConnError::TimedOut) => return Poll::Ready(Err(ConnectError::Timeout(to))),
                Some(ConnError::Unreachable) => {
                    return Poll::Ready(Err(ConnectError::Unreachable(to)));
                }
                Some(e) => {
                    return Poll::Ready(Err(ConnectError::Other {
                        to,
                        error: NetError::Io {
                            kind: std::io::ErrorKind::ConnectionAborted,
                            message: e.to_string(),
                        },
                    }));
                }
                None => {}
            }
            if established || s.connected {
                return Poll::Ready(Ok(()));
            }
            add_waker(&mut s.connect, cx.waker());
            Poll::Pending
        });
        let deadline: Instant = self.rt.now().saturating_add(CONNECT_TIMEOUT);
        match super::with_deadline(&self.rt, deadline, wait).await {
            Some(Ok(())) => Ok(DirectFlow::new(self.clone(), id)),
            Some(Err(e)) => {
                let _ = self.with_stack(|s, now| s.tcp_abort(now, id));
                self.inner.borrow_mut().tcp.remove(&id);
                Err(e)
            }
            None => {
                let _ = self.with_stack(|s, now| s.tcp_abort(now, id));
                self.inner.borrow_mut().tcp.remove(&id);
                Err(ConnectError::Timeout(to))
            }
        }
    }

    async fn bind_tcp(&self, local: SocketAddrV4) -> Result<DirectListener<R>, NetError> {
        let ip = *local.ip();
        let id = if local.port() != 0 {
            self.with_stack(|s, _| s.tcp_listen(ip, local.port(), BACKLOG))
                .map_err(|e| tcp_error(e, local))?
        } else {
            // An ephemeral port for the listener: the first free one from a seeded offset.
            let start = {
                use rand_core::RngCore;
                self.rng("direct/listen-port").next_u32()
            };
            let mut found = None;
            for i in 0..16_384u32 {
                let port = 49_152 + ((start.wrapping_add(i)) % 16_384) as u16;
                match self.with_stack(|s, _| s.tcp_listen(ip, port, BACKLOG)) {
                    Ok(id) => {
                        found = Some(id);
                        break;
                    }
                    Err(TcpError::AddrInUse { .. }) => continue,
                    Err(e) => return Err(tcp_error(e, local)),
                }
            }
            found.ok_or_else(|| NetError::Limit("no free port for a listener".to_string()))?
        };
        let port = if local.port() != 0 {
            local.port()
        } else {
            // Read back the port the loop chose.
            self.inner
                .borrow()
                .stack
                .tcp_listener_local(id)
                .map_or(0, |(_, p)| p)
        };
        Ok(DirectListener {
            net: self.clone(),
            id,
            local: SocketAddrV4::new(ip, port),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::FlowSlot;
    use super::FlowState;
    use core::mem::{offset_of, size_of};

    #[test]
    fn a_connections_wakeup_state_is_in_its_entrys_first_cache_line() {
        let state = offset_of!(FlowSlot, state);
        assert!(state + offset_of!(FlowState, closed) < 64);
        assert!(state + offset_of!(FlowState, writers) + size_of::<super::Wakers>() <= 64);
        assert_eq!(size_of::<Option<FlowSlot>>(), 128);
    }
}
