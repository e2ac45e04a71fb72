//! Applications written once against the `Net` traits, run on every backend.
//!
//! - UDP echo: [`udp_echo_server`] replies to each datagram with the same bytes;
//!   [`udp_request_response`] sends seeded requests and checks each reply.
//! - TCP echo (RFC 862): [`tcp_echo_server`] and [`tcp_echo_client`].
//! - TCP discard (RFC 863): [`discard_server`] counts what it receives; [`discard_client`]
//!   sends a given number of bytes.
//!
//! Clients return a [`Transcript`]: the application-level story of the run (what was sent
//! and received, lengths and content digests — no addresses, ports or times), so the same
//! work on any backend gives the same transcript, and the same seed the same payloads.
//!
//! [`run_example`] is what the crate's examples run (`udp_echo`, `udp_client`, `tcp_echo`,
//! `discard`): one service on one [`Backend`], as a server, a client or both.

use crate::{ConnectError, Flow, Listener, Net, NetError, TcpNet, UdpNet, UdpSocket};
use core::cell::{Cell, RefCell};
use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::task::{Poll, Waker};
use rand_core::RngCore;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use weft_core::{Duration, Instant};

/// How many times [`udp_request_response`] sends one request before giving up.
pub const UDP_ATTEMPTS: u32 = 5;

/// The well-known echo port (RFC 862).
pub const ECHO_PORT: u16 = 7;
/// The well-known discard port (RFC 863).
pub const DISCARD_PORT: u16 = 9;

/// Bytes per write of [`discard_client`].
pub const DISCARD_CHUNK: usize = 4096;

/// The receive buffer of the servers: the largest UDP datagram fits.
const SERVER_BUF: usize = 65_536;

/// Why an application failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A socket operation failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The connection could not be opened.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// No reply to a UDP request, however often it was sent.
    #[error(
        "no reply from {server} to UDP request {request} after {attempts} attempts of {timeout:?} \
         each: is the echo server running and reachable?"
    )]
    NoReply {
        /// The request's index (from 0).
        request: usize,
        /// Where it was sent.
        server: SocketAddrV4,
        /// How often it was sent.
        attempts: u32,
        /// How long each attempt waited.
        timeout: Duration,
    },
    /// The echo came back different from what was sent.
    #[error(
        "echo of {what} {index} differs: sent {sent} bytes (digest {sent_digest:016x}), got \
         {got} bytes (digest {got_digest:016x})"
    )]
    Mismatch {
        /// "request" (UDP) or "message" (TCP).
        what: &'static str,
        /// Its index (from 0).
        index: usize,
        /// Bytes sent.
        sent: usize,
        /// Digest of what was sent.
        sent_digest: u64,
        /// Bytes received.
        got: usize,
        /// Digest of what was received.
        got_digest: u64,
    },
    /// The peer closed the connection before echoing all of a message.
    #[error("peer closed the connection after {got} of the {expected} bytes of message {message}")]
    Truncated {
        /// The message's index (from 0).
        message: usize,
        /// Its length.
        expected: usize,
        /// How much of it came back.
        got: usize,
    },
    /// The peer sent bytes after our shutdown where none were due.
    #[error("peer sent {extra} unexpected bytes after our shutdown")]
    Unexpected {
        /// How many.
        extra: u64,
    },
    /// The backend asked for is not compiled into this build.
    #[error("the {backend} backend is not compiled in: enable the crate feature `{feature}`")]
    BackendUnavailable {
        /// The backend.
        backend: Backend,
        /// The cargo feature it needs.
        feature: &'static str,
    },
    /// The client role needs a server address.
    #[error("the client needs a server address with a nonzero port (got {0})")]
    NoServer(SocketAddrV4),
    /// The runtime or the simulation could not run.
    #[error("could not run: {0}")]
    Runtime(String),
}

/// 64-bit FNV-1a of `bytes`: the content digest in transcripts (stable across platforms and
/// releases, not cryptographic).
pub fn content_digest(bytes: &[u8]) -> u64 {
    let mut d = Digest::new();
    d.update(bytes);
    d.finish()
}

/// Incremental 64-bit FNV-1a.
#[derive(Debug, Clone, Copy)]
struct Digest(u64);

impl Digest {
    fn new() -> Digest {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(self) -> u64 {
        self.0
    }
}

/// The application-level story of a client's run, in order. Two transcripts are equal when
/// their lines are; the counters of network events ([`Transcript::retries`],
/// [`Transcript::ignored`]) are reported beside them and take no part in equality or the
/// digest, since a lossy network may need retries where a clean one does not.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    lines: Vec<String>,
    retries: u64,
    ignored: u64,
}

impl PartialEq for Transcript {
    fn eq(&self, other: &Transcript) -> bool {
        self.lines == other.lines
    }
}

impl Eq for Transcript {}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// Appends a line.
    pub fn push(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    /// The lines, in order.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// 64-bit FNV-1a over the lines, each ended by a newline.
    pub fn digest(&self) -> u64 {
        let mut d = Digest::new();
        for line in &self.lines {
            d.update(line.as_bytes());
            d.update(b"\n");
        }
        d.finish()
    }

    /// Requests sent again after a timeout (UDP).
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// Datagrams ignored: from another sender, or a late duplicate reply to an earlier
    /// request (UDP).
    pub fn ignored(&self) -> u64 {
        self.ignored
    }
}

impl core::fmt::Display for Transcript {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        write!(f, "transcript digest {:016x}", self.digest())
    }
}

/// A server's counts at one moment (see [`ServerStats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Datagrams answered or connections completed.
    pub served: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Replies or connections that failed.
    pub failed: u64,
}

/// What a server has done so far; clones share the counts. Single-threaded (`Rc`).
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    inner: Rc<StatsInner>,
}

#[derive(Debug, Default)]
struct StatsInner {
    served: Cell<u64>,
    bytes: Cell<u64>,
    failed: Cell<u64>,
    last_error: RefCell<Option<NetError>>,
    waiters: RefCell<Vec<Waker>>,
}

impl ServerStats {
    /// Datagrams answered (UDP echo) or connections completed (TCP: the client's end of
    /// stream was read).
    pub fn served(&self) -> u64 {
        self.inner.served.get()
    }

    /// Payload bytes received.
    pub fn bytes(&self) -> u64 {
        self.inner.bytes.get()
    }

    /// Connections or replies that failed.
    pub fn failed(&self) -> u64 {
        self.inner.failed.get()
    }

    /// The counts as plain numbers.
    pub fn counts(&self) -> Counts {
        Counts {
            served: self.served(),
            bytes: self.bytes(),
            failed: self.failed(),
        }
    }

    /// The latest failure, if any.
    pub fn last_error(&self) -> Option<NetError> {
        self.inner.last_error.borrow().clone()
    }

    /// Completes once [`ServerStats::served`] reaches `n`.
    pub async fn served_at_least(&self, n: u64) {
        poll_fn(|cx| {
            if self.served() >= n {
                return Poll::Ready(());
            }
            let mut waiters = self.inner.waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await;
    }

    fn add_bytes(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.inner.bytes.set(self.bytes().saturating_add(n));
    }

    fn served_one(&self) {
        self.inner.served.set(self.served().saturating_add(1));
        for w in self.inner.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    fn failed_one(&self, e: NetError) {
        self.inner.failed.set(self.failed().saturating_add(1));
        *self.inner.last_error.borrow_mut() = Some(e);
    }
}

fn wildcard(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)
}

fn io_err(e: &std::io::Error) -> NetError {
    NetError::from_io(e)
}

// The few stream helpers the applications need, over tokio's io traits alone (tokio's
// `AsyncReadExt`/`AsyncWriteExt` need its `io-util` feature, which this crate's featureless
// build does not have).

async fn read_some<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> Result<usize, NetError> {
    poll_fn(|cx| {
        let mut rb = ReadBuf::new(&mut *buf);
        match Pin::new(&mut *r).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(io_err(&e))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

async fn write_all<W: AsyncWrite + Unpin>(w: &mut W, mut buf: &[u8]) -> Result<(), NetError> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf))
            .await
            .map_err(|e| io_err(&e))?;
        if n == 0 {
            return Err(NetError::Closed);
        }
        buf = buf.get(n..).unwrap_or_default();
    }
    Ok(())
}

async fn shutdown<W: AsyncWrite + Unpin>(w: &mut W) -> Result<(), NetError> {
    poll_fn(|cx| Pin::new(&mut *w).poll_shutdown(cx))
        .await
        .map_err(|e| io_err(&e))
}

/// Runs `fut` until `deadline` on `net`'s clock: `None` when the deadline came first.
async fn until<N: Net, F: Future>(net: &N, deadline: Instant, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut sleep = pin!(net.sleep_until(deadline));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Runs `handler` on its own task for each connection `listener` accepts.
fn serve_tcp<N, H, F>(net: &N, listener: N::Listener, handler: H)
where
    N: TcpNet,
    H: Fn(N::Flow) -> F + 'static,
    F: Future<Output = ()> + 'static,
{
    let spawner = net.clone();
    net.spawn(async move {
        loop {
            match listener.accept().await {
                Ok((flow, _peer)) => spawner.spawn(handler(flow)),
                Err(e) if e.is_transient() => continue,
                Err(_) => break,
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// UDP echo

/// A UDP echo server on `port` of every local address (through [`UdpNet::listen_udp`]):
/// each datagram is sent back to its sender unchanged. Returns the bound address.
pub async fn udp_echo_server<N: UdpNet>(net: N, port: u16) -> Result<SocketAddrV4, NetError> {
    net.listen_udp(
        port,
        |socket: N::UdpSocket, from, payload: Vec<u8>| async move {
            // UDP is best effort: a reply that cannot be sent is dropped, like a lost one.
            let _ = socket.send_to(&payload, from).await;
        },
    )
    .await
}

/// A UDP echo server bound to `local`, counting what it does. Returns the bound address and
/// the counts.
pub async fn udp_echo_server_at<N: UdpNet>(
    net: N,
    local: SocketAddrV4,
) -> Result<(SocketAddrV4, ServerStats), NetError> {
    let socket = net.bind_udp(local).await?;
    let addr = socket.local_addr();
    let stats = ServerStats::default();
    let counts = stats.clone();
    net.spawn(async move {
        let mut buf = vec![0u8; SERVER_BUF];
        loop {
            match socket.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    counts.add_bytes(n);
                    let payload = buf.get(..n).unwrap_or_default();
                    match socket.send_to(payload, from).await {
                        Ok(()) => counts.served_one(),
                        Err(e) => counts.failed_one(e),
                    }
                }
                // An ICMP error for an earlier reply: the server works on.
                Err(e) if e.is_transient() => continue,
                Err(e) => {
                    counts.failed_one(e);
                    break;
                }
            }
        }
    });
    Ok((addr, stats))
}

/// Sends `requests` datagrams of `size` bytes to a UDP echo server at `server`, one at a
/// time, and checks each reply equals its request. Payloads come from `net.rng("udp-client")`,
/// so the same seed sends the same bytes on every backend.
///
/// Each request waits `timeout` for its reply and is sent again if none came, at most
/// [`UDP_ATTEMPTS`] times in all ([`AppError::NoReply`] then). Datagrams from elsewhere and
/// late duplicates of earlier replies are ignored. Retries and ignored datagrams are counted
/// in the transcript but are not part of its lines.
pub async fn udp_request_response<N: UdpNet>(
    net: N,
    server: SocketAddrV4,
    requests: usize,
    size: usize,
    timeout: Duration,
) -> Result<Transcript, AppError> {
    let socket = net.bind_udp(wildcard(0)).await?;
    let mut rng = net.rng("udp-client");
    let mut t = Transcript::new();
    t.push(format!("udp client: {requests} requests of {size} bytes"));
    // Digests of the requests already answered, to recognise late duplicates of their replies.
    let mut earlier: BTreeSet<u64> = BTreeSet::new();
    let mut buf = vec![0u8; SERVER_BUF];
    for index in 0..requests {
        let mut payload = vec![0u8; size];
        rng.fill_bytes(&mut payload);
        let sent_digest = content_digest(&payload);
        t.push(format!(
            "udp request {index}: sent {size} bytes, digest {sent_digest:016x}"
        ));
        let mut attempts = 0u32;
        'attempt: loop {
            if attempts == UDP_ATTEMPTS {
                return Err(AppError::NoReply {
                    request: index,
                    server,
                    attempts,
                    timeout,
                });
            }
            if attempts > 0 {
                t.retries = t.retries.saturating_add(1);
            }
            attempts = attempts.saturating_add(1);
            socket.send_to(&payload, server).await?;
            let deadline = net.now().saturating_add(timeout);
            loop {
                let Some(received) = until(&net, deadline, socket.recv_from(&mut buf)).await else {
                    continue 'attempt;
                };
                let (n, from) = received?;
                let got = buf.get(..n).unwrap_or_default();
                if from != server || earlier.contains(&content_digest(got)) {
                    t.ignored = t.ignored.saturating_add(1);
                    continue;
                }
                if got != payload.as_slice() {
                    return Err(AppError::Mismatch {
                        what: "request",
                        index,
                        sent: size,
                        sent_digest,
                        got: n,
                        got_digest: content_digest(got),
                    });
                }
                t.push(format!(
                    "udp reply {index}: {n} bytes, digest {:016x}, equal to the request",
                    content_digest(got)
                ));
                break 'attempt;
            }
        }
        earlier.insert(sent_digest);
    }
    Ok(t)
}

// ---------------------------------------------------------------------------------------
// TCP echo (RFC 862)

/// Echoes everything `flow` sends until its end of stream, then closes.
async fn echo_connection<F: Flow>(mut flow: F, stats: ServerStats) {
    let mut buf = vec![0u8; SERVER_BUF];
    let result = async {
        loop {
            let n = read_some(&mut flow, &mut buf).await?;
            if n == 0 {
                break;
            }
            stats.add_bytes(n);
            // RFC 862: "any data received is sent back".
            write_all(&mut flow, buf.get(..n).unwrap_or_default()).await?;
        }
        Ok::<(), NetError>(())
    }
    .await;
    match result {
        Ok(()) => {
            stats.served_one();
            // The client has closed its side and has every byte back: close ours.
            if let Err(e) = flow.close().await {
                stats.failed_one(e);
            }
        }
        Err(e) => stats.failed_one(e),
    }
}

/// An RFC 862 TCP echo server on `port` of every local address (through
/// [`TcpNet::listen_tcp`]): each connection gets back what it sends, and is closed after the
/// client's end of stream. Returns the bound address.
pub async fn tcp_echo_server<N: TcpNet>(net: N, port: u16) -> Result<SocketAddrV4, NetError> {
    net.listen_tcp(port, |flow| echo_connection(flow, ServerStats::default()))
        .await
}

/// An RFC 862 TCP echo server bound to `local`, counting what it does.
pub async fn tcp_echo_server_at<N: TcpNet>(
    net: N,
    local: SocketAddrV4,
) -> Result<(SocketAddrV4, ServerStats), NetError> {
    let listener = net.bind_tcp(local).await?;
    let addr = listener.local_addr();
    let stats = ServerStats::default();
    let counts = stats.clone();
    serve_tcp(&net, listener, move |flow| {
        echo_connection(flow, counts.clone())
    });
    Ok((addr, stats))
}

/// Connects to an echo server, writes `messages` messages of `size` bytes (from
/// `net.rng("tcp-echo-client")`), reading each one back in full and checking it, then
/// half-closes (shutdown) and reads to the server's end of stream, expecting nothing more.
pub async fn tcp_echo_client<N: TcpNet>(
    net: N,
    server: SocketAddrV4,
    messages: usize,
    size: usize,
) -> Result<Transcript, AppError> {
    let mut t = Transcript::new();
    t.push(format!(
        "tcp echo client: {messages} messages of {size} bytes"
    ));
    let mut flow = net.connect(server).await?;
    t.push("tcp connected");
    let mut rng = net.rng("tcp-echo-client");
    let mut back = vec![0u8; size];
    for index in 0..messages {
        let mut payload = vec![0u8; size];
        rng.fill_bytes(&mut payload);
        let sent_digest = content_digest(&payload);
        write_all(&mut flow, &payload).await?;
        t.push(format!(
            "tcp message {index}: sent {size} bytes, digest {sent_digest:016x}"
        ));
        let mut got = 0usize;
        while got < size {
            let rest = back.get_mut(got..).unwrap_or_default();
            let n = read_some(&mut flow, rest).await?;
            if n == 0 {
                return Err(AppError::Truncated {
                    message: index,
                    expected: size,
                    got,
                });
            }
            got = got.saturating_add(n);
        }
        if back != payload {
            return Err(AppError::Mismatch {
                what: "message",
                index,
                sent: size,
                sent_digest,
                got,
                got_digest: content_digest(&back),
            });
        }
        t.push(format!(
            "tcp message {index}: echoed {got} bytes, digest {:016x}, equal to the message",
            content_digest(&back)
        ));
    }
    shutdown(&mut flow).await?;
    t.push("tcp shutdown: our end of stream sent");
    let extra = read_to_end(&mut flow).await?;
    if extra > 0 {
        return Err(AppError::Unexpected { extra });
    }
    t.push("tcp end of stream from the server, nothing further");
    flow.close().await.or_else(closed_is_fine)?;
    t.push("tcp closed");
    Ok(t)
}

/// Reads until end of stream, counting the bytes.
async fn read_to_end<F: Flow>(flow: &mut F) -> Result<u64, NetError> {
    let mut buf = vec![0u8; 4096];
    let mut total = 0u64;
    loop {
        let n = read_some(flow, &mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        total = total.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

/// Closing a connection both sides have already finished is not a failure.
fn closed_is_fine(e: NetError) -> Result<(), NetError> {
    match e {
        NetError::Closed => Ok(()),
        e => Err(e),
    }
}

// ---------------------------------------------------------------------------------------
// TCP discard (RFC 863)

/// Reads and throws away everything `flow` sends, counting it, then closes.
async fn discard_connection<F: Flow>(mut flow: F, stats: ServerStats) {
    let mut buf = vec![0u8; SERVER_BUF];
    let result = async {
        loop {
            // RFC 863: "any data received is thrown away".
            let n = read_some(&mut flow, &mut buf).await?;
            if n == 0 {
                return Ok::<(), NetError>(());
            }
            stats.add_bytes(n);
        }
    }
    .await;
    match result {
        Ok(()) => {
            stats.served_one();
            if let Err(e) = flow.close().await {
                stats.failed_one(e);
            }
        }
        Err(e) => stats.failed_one(e),
    }
}

/// An RFC 863 TCP discard server on `port` of every local address (through
/// [`TcpNet::listen_tcp`]). Returns the bound address and the counts:
/// [`ServerStats::bytes`] is every byte received so far.
pub async fn discard_server<N: TcpNet>(
    net: N,
    port: u16,
) -> Result<(SocketAddrV4, ServerStats), NetError> {
    let stats = ServerStats::default();
    let counts = stats.clone();
    let addr = net
        .listen_tcp(port, move |flow| discard_connection(flow, counts.clone()))
        .await?;
    Ok((addr, stats))
}

/// An RFC 863 TCP discard server bound to `local`.
pub async fn discard_server_at<N: TcpNet>(
    net: N,
    local: SocketAddrV4,
) -> Result<(SocketAddrV4, ServerStats), NetError> {
    let listener = net.bind_tcp(local).await?;
    let addr = listener.local_addr();
    let stats = ServerStats::default();
    let counts = stats.clone();
    serve_tcp(&net, listener, move |flow| {
        discard_connection(flow, counts.clone())
    });
    Ok((addr, stats))
}

/// Connects to a discard server and sends `bytes` bytes (from `net.rng("discard-client")`)
/// in writes of [`DISCARD_CHUNK`], then half-closes and waits for the server's end of stream
/// (so the server has counted everything when this returns).
pub async fn discard_client<N: TcpNet>(
    net: N,
    server: SocketAddrV4,
    bytes: u64,
) -> Result<Transcript, AppError> {
    let mut t = Transcript::new();
    t.push(format!("tcp discard client: {bytes} bytes"));
    let mut flow = net.connect(server).await?;
    t.push("tcp connected");
    let mut rng = net.rng("discard-client");
    let mut chunk = vec![0u8; DISCARD_CHUNK];
    let mut digest = Digest::new();
    let mut left = bytes;
    let mut writes = 0u64;
    while left > 0 {
        let n = usize::try_from(left).map_or(DISCARD_CHUNK, |l| l.min(DISCARD_CHUNK));
        let part = chunk.get_mut(..n).unwrap_or_default();
        rng.fill_bytes(part);
        digest.update(part);
        write_all(&mut flow, part).await?;
        left = left.saturating_sub(u64::try_from(n).unwrap_or(u64::MAX));
        writes = writes.saturating_add(1);
    }
    t.push(format!(
        "tcp discard: sent {bytes} bytes in {writes} writes, digest {:016x}",
        digest.finish()
    ));
    shutdown(&mut flow).await?;
    t.push("tcp shutdown: our end of stream sent");
    let extra = read_to_end(&mut flow).await?;
    if extra > 0 {
        return Err(AppError::Unexpected { extra });
    }
    t.push("tcp end of stream from the server, nothing sent back");
    flow.close().await.or_else(closed_is_fine)?;
    t.push("tcp closed");
    Ok(t)
}

// ---------------------------------------------------------------------------------------
// The examples

/// A backend an example can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The host's sockets (`socket::SocketNet`, feature `tokio`), on 127.0.0.1.
    Socket,
    /// turmoil's simulated network (`turmoil_net::TurmoilNet`, feature `turmoil`): a
    /// simulation with a server host and a client host.
    Turmoil,
    /// weft's own stack (`direct::DirectNet`, feature `tokio`): a server stack and a client
    /// stack over an in-memory Ethernet cable in this process, on tokio's clock; both run
    /// whatever the role.
    Direct,
}

impl Backend {
    /// Every backend, by name.
    pub const ALL: &'static [Backend] = &[Backend::Socket, Backend::Turmoil, Backend::Direct];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Socket => "socket",
            Backend::Turmoil => "turmoil",
            Backend::Direct => "direct",
        }
    }
}

impl core::fmt::Display for Backend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A command-line word that names no choice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{got}`: expected one of {expected}")]
pub struct ParseChoiceError {
    what: &'static str,
    got: String,
    expected: String,
}

impl core::str::FromStr for Backend {
    type Err = ParseChoiceError;

    fn from_str(s: &str) -> Result<Backend, ParseChoiceError> {
        Backend::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| ParseChoiceError {
                what: "backend",
                got: s.to_string(),
                expected: Backend::ALL
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// The service an example runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// UDP echo: [`udp_echo_server_at`] and [`udp_request_response`].
    UdpEcho,
    /// TCP echo: [`tcp_echo_server_at`] and [`tcp_echo_client`].
    TcpEcho,
    /// TCP discard: [`discard_server_at`] and [`discard_client`].
    Discard,
}

impl Service {
    /// Its well-known port.
    pub fn well_known_port(self) -> u16 {
        match self {
            Service::UdpEcho | Service::TcpEcho => ECHO_PORT,
            Service::Discard => DISCARD_PORT,
        }
    }
}

impl core::fmt::Display for Service {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Service::UdpEcho => "udp echo",
            Service::TcpEcho => "tcp echo",
            Service::Discard => "tcp discard",
        })
    }
}

/// Which side(s) of a service an example runs. On the turmoil backend an example always
/// runs both, on two simulated hosts; on the direct backend both, on two weft stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Serve at [`ExampleConfig::addr`].
    Server,
    /// Talk to the server at [`ExampleConfig::addr`].
    Client,
    /// A server at [`ExampleConfig::addr`] and a client talking to it.
    Both,
}

impl core::str::FromStr for Role {
    type Err = ParseChoiceError;

    fn from_str(s: &str) -> Result<Role, ParseChoiceError> {
        match s {
            "server" => Ok(Role::Server),
            "client" => Ok(Role::Client),
            "both" => Ok(Role::Both),
            _ => Err(ParseChoiceError {
                what: "mode",
                got: s.to_string(),
                expected: "server, client, both".to_string(),
            }),
        }
    }
}

/// What [`run_example`] runs.
#[derive(Debug, Clone)]
pub struct ExampleConfig {
    /// The service.
    pub service: Service,
    /// Server, client or both.
    pub role: Role,
    /// Where.
    pub backend: Backend,
    /// Seeds the backend's [`Net::rng`] (the payloads) and, on turmoil, the simulation.
    pub seed: u64,
    /// Socket backend: the server's address (port 0 = ephemeral) for [`Role::Server`] and
    /// [`Role::Both`], the server to reach for [`Role::Client`]. Turmoil and direct: only
    /// the port counts (0 = the service's well-known port).
    pub addr: SocketAddrV4,
    /// Requests (UDP echo) or messages (TCP echo); unused by discard.
    pub count: usize,
    /// Bytes per request or message; discard: bytes in all.
    pub size: usize,
    /// UDP: how long each request waits for its reply.
    pub timeout: Duration,
    /// Socket backend, [`Role::Server`]: stop after this many datagrams or connections
    /// (`None`: serve until killed).
    pub serve: Option<u64>,
}

impl ExampleConfig {
    /// A configuration with the usual sizes: 8 requests or messages of 512 bytes (discard:
    /// 64 KiB), 1 s per UDP attempt, the server on 127.0.0.1 at an ephemeral port, serving
    /// forever.
    pub fn new(service: Service, role: Role, backend: Backend, seed: u64) -> ExampleConfig {
        ExampleConfig {
            service,
            role,
            backend,
            seed,
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            count: 8,
            size: match service {
                Service::Discard => 65_536,
                Service::UdpEcho | Service::TcpEcho => 512,
            },
            timeout: Duration::from_secs(1),
            serve: None,
        }
    }
}

impl ExampleConfig {
    /// Sets [`ExampleConfig::addr`] as the examples' command lines give it: `server` (the
    /// server to reach) for [`Role::Client`], 127.0.0.1:`port` (where to serve) for the others.
    pub fn set_addr(&mut self, port: u16, server: SocketAddrV4) {
        self.addr = match self.role {
            Role::Client => server,
            Role::Server | Role::Both => SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
        };
    }
}

/// What an example reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A server is listening at `addr`.
    Listening {
        /// The service.
        service: Service,
        /// Where (on turmoil: the server host's address).
        addr: SocketAddrV4,
    },
    /// Anything else worth printing.
    Line(String),
}

impl core::fmt::Display for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Event::Listening { service, addr } => write!(f, "{service} server listening on {addr}"),
            Event::Line(line) => f.write_str(line),
        }
    }
}

/// What an example did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExampleReport {
    /// The client's transcript (client and both roles; always on turmoil and direct).
    pub transcript: Option<Transcript>,
    /// The server's counts (server and both roles; always on turmoil and direct).
    pub served: Option<Counts>,
    /// Turmoil: the simulated time the run took.
    pub sim_elapsed: Option<Duration>,
}

/// Runs one example: `cfg.service` on `cfg.backend`, reporting to `out` as it goes. The
/// examples of this crate are this function behind a command line.
pub fn run_example(
    cfg: &ExampleConfig,
    out: &mut dyn FnMut(&Event),
) -> Result<ExampleReport, AppError> {
    out(&Event::Line(format!(
        "{} on the {} backend, seed {}",
        cfg.service, cfg.backend, cfg.seed
    )));
    // Each backend one arm: a new backend is a new variant and a new arm.
    match cfg.backend {
        Backend::Socket => run_on_socket(cfg, out),
        Backend::Turmoil => run_on_turmoil(cfg, out),
        Backend::Direct => run_on_direct(cfg, out),
    }
}

/// An example's `main` once its command line is read: [`run_example`] printing each event on
/// stdout; a failure is printed on stderr as `NAME: error` and makes the exit status 1.
pub fn example_main(name: &str, cfg: &ExampleConfig) -> std::process::ExitCode {
    match run_example(cfg, &mut |event| println!("{event}")) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

// Used by the backends compiled in (tokio, turmoil).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
async fn start_server<N: UdpNet + TcpNet>(
    net: &N,
    service: Service,
    local: SocketAddrV4,
) -> Result<(SocketAddrV4, ServerStats), NetError> {
    match service {
        Service::UdpEcho => udp_echo_server_at(net.clone(), local).await,
        Service::TcpEcho => tcp_echo_server_at(net.clone(), local).await,
        Service::Discard => discard_server_at(net.clone(), local).await,
    }
}

// Used by the backends compiled in (tokio, turmoil).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
async fn run_client<N: UdpNet + TcpNet>(
    net: &N,
    cfg: &ExampleConfig,
    server: SocketAddrV4,
) -> Result<Transcript, AppError> {
    match cfg.service {
        Service::UdpEcho => {
            udp_request_response(net.clone(), server, cfg.count, cfg.size, cfg.timeout).await
        }
        Service::TcpEcho => tcp_echo_client(net.clone(), server, cfg.count, cfg.size).await,
        Service::Discard => {
            let bytes = u64::try_from(cfg.size).unwrap_or(u64::MAX);
            discard_client(net.clone(), server, bytes).await
        }
    }
}

// Used by the backends compiled in (tokio, turmoil).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
fn report_transcript(t: &Transcript, out: &mut dyn FnMut(&Event)) {
    for line in t.lines() {
        out(&Event::Line(line.clone()));
    }
    out(&Event::Line(format!(
        "transcript digest {:016x} ({} retries, {} datagrams ignored)",
        t.digest(),
        t.retries(),
        t.ignored()
    )));
}

// Used by the backends compiled in (tokio, turmoil).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
fn report_stats(service: Service, stats: &ServerStats, out: &mut dyn FnMut(&Event)) {
    let unit = match service {
        Service::UdpEcho => "datagrams",
        Service::TcpEcho | Service::Discard => "connections",
    };
    out(&Event::Line(format!(
        "server: served {} {unit}, received {} bytes, {} failed{}",
        stats.served(),
        stats.bytes(),
        stats.failed(),
        stats
            .last_error()
            .map(|e| format!(" (last: {e})"))
            .unwrap_or_default()
    )));
}

#[cfg(feature = "tokio")]
fn run_on_socket(
    cfg: &ExampleConfig,
    out: &mut dyn FnMut(&Event),
) -> Result<ExampleReport, AppError> {
    use crate::socket::SocketNet;
    let run = async {
        let net = SocketNet::new(cfg.seed);
        let mut report = ExampleReport::default();
        let server = match cfg.role {
            Role::Server | Role::Both => {
                let (addr, stats) = start_server(&net, cfg.service, cfg.addr).await?;
                out(&Event::Listening {
                    service: cfg.service,
                    addr,
                });
                Some((addr, stats))
            }
            Role::Client => None,
        };
        if matches!(cfg.role, Role::Client | Role::Both) {
            let target = match &server {
                Some((addr, _)) => *addr,
                None => cfg.addr,
            };
            if target.port() == 0 {
                return Err(AppError::NoServer(target));
            }
            let t = run_client(&net, cfg, target).await?;
            report_transcript(&t, out);
            report.transcript = Some(t);
        }
        if let Some((_, stats)) = server {
            if cfg.role == Role::Server {
                match cfg.serve {
                    Some(n) => stats.served_at_least(n).await,
                    None => core::future::pending::<()>().await,
                }
            }
            report_stats(cfg.service, &stats, out);
            report.served = Some(stats.counts());
        }
        Ok(report)
    };
    crate::tokio_rt::block_on_local(run).map_err(|e| AppError::Runtime(e.to_string()))?
}

#[cfg(not(feature = "tokio"))]
fn run_on_socket(
    _cfg: &ExampleConfig,
    _out: &mut dyn FnMut(&Event),
) -> Result<ExampleReport, AppError> {
    Err(AppError::BackendUnavailable {
        backend: Backend::Socket,
        feature: "tokio",
    })
}

#[cfg(feature = "turmoil")]
fn run_on_turmoil(
    cfg: &ExampleConfig,
    out: &mut dyn FnMut(&Event),
) -> Result<ExampleReport, AppError> {
    use crate::turmoil_net::TurmoilNet;

    type Slot<T> = Rc<RefCell<Option<T>>>;
    let port = match cfg.addr.port() {
        0 => cfg.service.well_known_port(),
        p => p,
    };
    let seed = cfg.seed;
    let service = cfg.service;
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(3600))
        .build();

    // The server first, so it is bound before the client's first step.
    let stats_slot: Slot<ServerStats> = Rc::default();
    let slot = stats_slot.clone();
    sim.host("server", move || {
        let slot = slot.clone();
        async move {
            let net = TurmoilNet::new(seed);
            let (_, stats) = start_server(&net, service, wildcard(port)).await?;
            *slot.borrow_mut() = Some(stats);
            core::future::pending::<()>().await;
            Ok(())
        }
    });

    let result_slot: Slot<Result<Transcript, AppError>> = Rc::default();
    let slot = result_slot.clone();
    let client_cfg = cfg.clone();
    sim.client("client", async move {
        let result = match turmoil::lookup("server") {
            std::net::IpAddr::V4(ip) => {
                let net = TurmoilNet::new(seed);
                run_client(&net, &client_cfg, SocketAddrV4::new(ip, port)).await
            }
            std::net::IpAddr::V6(ip) => Err(AppError::Net(NetError::Io {
                kind: std::io::ErrorKind::Unsupported,
                message: format!("the server host has the IPv6 address {ip}; weft-net is IPv4"),
            })),
        };
        *slot.borrow_mut() = Some(result);
        Ok(())
    });

    if let std::net::IpAddr::V4(ip) = sim.lookup("server") {
        out(&Event::Listening {
            service,
            addr: SocketAddrV4::new(ip, port),
        });
    }
    sim.run()
        .map_err(|e| AppError::Runtime(format!("turmoil simulation: {e}")))?;
    let elapsed = sim.elapsed();
    let transcript = result_slot
        .borrow_mut()
        .take()
        .unwrap_or_else(|| Err(AppError::Runtime("the client did not finish".to_string())))?;
    report_transcript(&transcript, out);
    let stats = stats_slot.borrow_mut().take().unwrap_or_default();
    report_stats(service, &stats, out);
    out(&Event::Line(format!("simulated time {elapsed:?}")));
    Ok(ExampleReport {
        transcript: Some(transcript),
        served: Some(stats.counts()),
        sim_elapsed: Some(elapsed),
    })
}

/// Two weft stacks over an in-memory cable, the server on 10.7.0.1 and the client on
/// 10.7.0.2, both in this process whatever the role (as on turmoil): a lone server is sent
/// the client's requests, a lone client has a server to talk to.
#[cfg(feature = "tokio")]
fn run_on_direct(
    cfg: &ExampleConfig,
    out: &mut dyn FnMut(&Event),
) -> Result<ExampleReport, AppError> {
    use crate::direct;
    use crate::link::memory;
    use crate::tokio_rt::TokioRuntime;
    use weft_core::{InterfaceConfig, StackConfig};
    use weft_wire::MacAddr;

    match cfg.role {
        Role::Both => {}
        Role::Server => out(&Event::Line(
            "direct: its client runs on a second weft stack in this process".to_string(),
        )),
        Role::Client => out(&Event::Line(
            "direct: its server runs on a second weft stack in this process".to_string(),
        )),
    }
    let server_ip = Ipv4Addr::new(10, 7, 0, 1);
    let port = match cfg.addr.port() {
        0 => cfg.service.well_known_port(),
        p => p,
    };
    let run = async {
        let rt = TokioRuntime::new();
        let (ls, lc) = memory::pair(256, 1514);
        let mut s = direct::builder(StackConfig::new(cfg.seed ^ 0x5e77_e700));
        s.interface(
            InterfaceConfig::ethernet(MacAddr([2, 0x77, 0, 0, 0, 1]), server_ip, 24),
            ls,
        );
        let mut c = direct::builder(StackConfig::new(cfg.seed));
        c.interface(
            InterfaceConfig::ethernet(
                MacAddr([2, 0x77, 0, 0, 0, 2]),
                Ipv4Addr::new(10, 7, 0, 2),
                24,
            ),
            lc,
        );
        let map = |e: direct::DirectError| AppError::Runtime(e.to_string());
        let server = s.start(rt).map_err(map)?;
        let client = c.start(rt).map_err(map)?;
        let (addr, stats) =
            start_server(&server, cfg.service, SocketAddrV4::new(server_ip, port)).await?;
        out(&Event::Listening {
            service: cfg.service,
            addr,
        });
        let t = run_client(&client, cfg, addr).await?;
        if cfg.service != Service::UdpEcho {
            // The server counts a connection once it has seen the client's FIN.
            stats.served_at_least(1).await;
        }
        report_transcript(&t, out);
        report_stats(cfg.service, &stats, out);
        Ok(ExampleReport {
            transcript: Some(t),
            served: Some(stats.counts()),
            sim_elapsed: None,
        })
    };
    crate::tokio_rt::block_on_local(run).map_err(|e| AppError::Runtime(e.to_string()))?
}

#[cfg(not(feature = "tokio"))]
fn run_on_direct(
    _cfg: &ExampleConfig,
    _out: &mut dyn FnMut(&Event),
) -> Result<ExampleReport, AppError> {
    Err(AppError::BackendUnavailable {
        backend: Backend::Direct,
        feature: "tokio",
    })
}

#[cfg(not(feature = "turmoil"))]
fn run_on_turmoil(
    _cfg: &ExampleConfig,
    _out: &mut dyn FnMut(&Event),
) -> Result<ExampleReport, AppError> {
    Err(AppError::BackendUnavailable {
        backend: Backend::Turmoil,
        feature: "turmoil",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_content_digest_is_fnv1a() {
        // FNV-1a 64 test vectors.
        assert_eq!(content_digest(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(content_digest(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(content_digest(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn apps_transcript_equality_ignores_counters() {
        let mut a = Transcript::new();
        a.push("one");
        a.push("two");
        let mut b = a.clone();
        b.retries = 3;
        b.ignored = 1;
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.digest(), content_digest(b"one\ntwo\n"));
        b.push("three");
        assert_ne!(a, b);
        assert_ne!(a.digest(), b.digest());
        assert_eq!(
            a.to_string(),
            format!("one\ntwo\ntranscript digest {:016x}", a.digest())
        );
    }

    #[test]
    fn apps_parse_choices() {
        assert_eq!("socket".parse::<Backend>(), Ok(Backend::Socket));
        assert_eq!("turmoil".parse::<Backend>(), Ok(Backend::Turmoil));
        assert_eq!("direct".parse::<Backend>(), Ok(Backend::Direct));
        let err = "tap0".parse::<Backend>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown backend `tap0`: expected one of socket, turmoil, direct"
        );
        assert_eq!("both".parse::<Role>(), Ok(Role::Both));
        assert!("serve".parse::<Role>().is_err());
        for b in Backend::ALL {
            assert_eq!(b.to_string().parse::<Backend>().as_ref(), Ok(b));
        }
    }

    #[test]
    fn apps_server_stats_wake_waiters() {
        let stats = ServerStats::default();
        let waker = Waker::noop();
        let mut cx = core::task::Context::from_waker(waker);
        let mut wait = Box::pin(stats.served_at_least(2));
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        // The same waker is kept once.
        assert_eq!(stats.inner.waiters.borrow().len(), 1);
        stats.served_one();
        assert!(stats.inner.waiters.borrow().is_empty());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        stats.served_one();
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        stats.add_bytes(10);
        stats.failed_one(NetError::Reset);
        assert_eq!(
            stats.counts(),
            Counts {
                served: 2,
                bytes: 10,
                failed: 1
            }
        );
        assert_eq!(stats.last_error(), Some(NetError::Reset));
    }

    #[test]
    fn apps_errors_say_what_to_do() {
        let e = AppError::NoReply {
            request: 3,
            server: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7),
            attempts: 5,
            timeout: Duration::from_millis(200),
        };
        assert_eq!(
            e.to_string(),
            "no reply from 127.0.0.1:7 to UDP request 3 after 5 attempts of 200ms each: is the \
             echo server running and reachable?"
        );
        let e = AppError::BackendUnavailable {
            backend: Backend::Turmoil,
            feature: "turmoil",
        };
        assert_eq!(
            e.to_string(),
            "the turmoil backend is not compiled in: enable the crate feature `turmoil`"
        );
    }
}
