//! TCP workloads: echo, bulk transfer, request/response and many concurrent connections,
//! on weft-core's TCP through the direct backend's `TcpNet` (the same flows applications
//! use), every byte written and read recorded in the run's ledger for the stream oracle.
//!
//! Every connection starts with a 20-byte header from the client: a magic number, the
//! stream's kind, the stream's id in the ledger, and two arguments (how many bytes the
//! server sends back for a bulk transfer; request and response sizes for request/response).
//! One TCP server per host and port serves all kinds: it reads the header, claims the
//! stream in the ledger (a header that names no stream a client opened is a phantom, as a
//! datagram nobody sent is), and then echoes, sinks and sources, or answers requests.
//!
//! A connection that fails (reset, refused, timed out, or idle for the workload's
//! `idle_timeout`) is recorded with its time and error for the oracle, and the client opens
//! a new one for what is left, up to `attempts` failures in all. A server shuts its sending
//! side only after it read the client's end, so a client that read the server's end knows
//! both directions arrived whole.

use super::{finished, host_of, ledger, net_name, response_to, stats, until};
use crate::executor::HostId;
use crate::oracle::StreamError;
use crate::sim::SimNet;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll};
use rand_core::RngCore;
use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use weft_core::{Duration, Instant};
use weft_net::{Listener, Net, TcpNet};

type Flow = <SimNet as TcpNet>::Flow;

/// The stream header's length.
pub(crate) const HEADER: usize = 20;
const MAGIC: [u8; 3] = [0x57, 0xef, 0x7c];

/// What a connection does, as its header tells the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Echo every byte.
    Echo = 1,
    /// Read everything, send `arg1` bytes.
    Bulk = 2,
    /// Answer each `arg1`-byte request with `arg2` bytes ([`response_to`]).
    Request = 3,
}

fn header(kind: Kind, id: u64, arg1: u32, arg2: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    let bytes = MAGIC
        .iter()
        .copied()
        .chain([kind as u8])
        .chain(id.to_be_bytes())
        .chain(arg1.to_be_bytes())
        .chain(arg2.to_be_bytes());
    for (slot, b) in h.iter_mut().zip(bytes) {
        *slot = b;
    }
    h
}

fn parse_header(h: &[u8]) -> Option<(Kind, u64, u32, u32)> {
    if h.get(..3)? != MAGIC {
        return None;
    }
    let kind = match h.get(3)? {
        1 => Kind::Echo,
        2 => Kind::Bulk,
        3 => Kind::Request,
        _ => return None,
    };
    let id = u64::from_be_bytes(h.get(4..12)?.try_into().ok()?);
    let a = u32::from_be_bytes(h.get(12..16)?.try_into().ok()?);
    let b = u32::from_be_bytes(h.get(16..20)?.try_into().ok()?);
    Some((kind, id, a, b))
}

/// How long a server connection waits for its client before giving up on it.
const SERVER_IDLE: Duration = Duration::from_secs(600);
/// The largest request or response a scenario can ask for (`size`, `response_size`).
pub(crate) const MAX_MESSAGE: usize = 1 << 20;

/// The most connections an echo workload opens at once: each is a task and a socket to one
/// server port, no more than a client has ephemeral ports (RFC 6056's 49152-65535).
pub(crate) const MAX_CONCURRENT: usize = 16_384;

/// A TCP echo workload: each client opens `connections` connections one after another
/// (concurrently with [`TcpEcho::concurrent`]) and sends `messages` messages of `size`
/// bytes on each, waiting for each echo before the next, `interval` apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpEcho {
    /// Name in reports (default: `tcp-echo<index>`).
    pub name: String,
    /// The server's host.
    pub server: String,
    /// Its port.
    pub port: u16,
    /// Client hosts.
    pub clients: Vec<String>,
    /// Connections per client.
    pub connections: u32,
    /// Whether a client's connections run at once (all opened before any sends) rather
    /// than one after another: many concurrent connections.
    pub concurrent: bool,
    /// Messages per connection.
    pub messages: u32,
    /// Message bytes.
    pub size: usize,
    /// Pause between a connection's messages.
    pub interval: Duration,
    /// Delay before the clients start.
    pub start: Duration,
    /// A connection on which nothing moves for this long is given up (and replaced).
    pub idle_timeout: Duration,
    /// Failed connections (refused, reset, timed out, idle) a client accepts before it
    /// gives up on the rest of its work.
    pub attempts: u32,
}

impl Default for TcpEcho {
    fn default() -> Self {
        TcpEcho {
            name: String::new(),
            server: String::new(),
            port: 7,
            clients: Vec::new(),
            connections: 1,
            concurrent: false,
            messages: 50,
            size: 512,
            interval: Duration::ZERO,
            start: Duration::ZERO,
            idle_timeout: Duration::from_secs(20),
            attempts: 10,
        }
    }
}

/// A TCP bulk transfer: each client opens one connection and writes `upload` bytes while
/// the server writes `download` bytes back, both at once; `chunk` bytes at a time,
/// `interval` apart (zero: as fast as the windows allow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpBulk {
    /// Name in reports (default: `tcp-bulk<index>`).
    pub name: String,
    /// The server's host.
    pub server: String,
    /// Its port.
    pub port: u16,
    /// Client hosts.
    pub clients: Vec<String>,
    /// Bytes each client sends.
    pub upload: u64,
    /// Bytes the server sends each client.
    pub download: u64,
    /// Bytes per write.
    pub chunk: usize,
    /// Pause between the client's writes (pacing).
    pub interval: Duration,
    /// Delay before the clients start.
    pub start: Duration,
    /// A connection on which nothing moves for this long is given up (and replaced).
    pub idle_timeout: Duration,
    /// Failed connections a client accepts before it gives up.
    pub attempts: u32,
}

impl Default for TcpBulk {
    fn default() -> Self {
        TcpBulk {
            name: String::new(),
            server: String::new(),
            port: 7,
            clients: Vec::new(),
            upload: 256 * 1024,
            download: 256 * 1024,
            chunk: 16 * 1024,
            interval: Duration::ZERO,
            start: Duration::ZERO,
            idle_timeout: Duration::from_secs(20),
            attempts: 10,
        }
    }
}

/// TCP request/response: each client sends `requests` requests of `size` bytes on one
/// connection, one at a time, each answered by `response_size` bytes derived from it
/// ([`response_to`]), which the client checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRequestResponse {
    /// Name in reports (default: `tcp-request-response<index>`).
    pub name: String,
    /// The server's host.
    pub server: String,
    /// Its port.
    pub port: u16,
    /// Client hosts.
    pub clients: Vec<String>,
    /// Requests per client.
    pub requests: u32,
    /// Request bytes.
    pub size: usize,
    /// Response bytes.
    pub response_size: usize,
    /// Pause between requests.
    pub interval: Duration,
    /// Delay before the clients start.
    pub start: Duration,
    /// A connection on which nothing moves for this long is given up (and replaced).
    pub idle_timeout: Duration,
    /// Failed connections a client accepts before it gives up.
    pub attempts: u32,
}

impl Default for TcpRequestResponse {
    fn default() -> Self {
        TcpRequestResponse {
            name: String::new(),
            server: String::new(),
            port: 7,
            clients: Vec::new(),
            requests: 100,
            size: 64,
            response_size: 256,
            interval: Duration::ZERO,
            start: Duration::ZERO,
            idle_timeout: Duration::from_secs(20),
            attempts: 10,
        }
    }
}

/// One client's plan, whatever the kind.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) workload: usize,
    pub(crate) name: String,
    pub(crate) server: SocketAddrV4,
    pub(crate) server_host: HostId,
    pub(crate) job: Job,
    pub(crate) start: Duration,
    pub(crate) idle: Duration,
    pub(crate) attempts: u32,
    /// Planted bug: give up on a response after this long (the client's own impatience).
    pub(crate) impatient: Option<Duration>,
    /// Planted bug, until the first connection takes it: name a stream no client opened.
    pub(crate) foreign: core::cell::Cell<bool>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Job {
    Echo {
        connections: u32,
        concurrent: bool,
        messages: u32,
        size: usize,
        interval: Duration,
    },
    Bulk {
        upload: u64,
        download: u64,
        chunk: usize,
        interval: Duration,
    },
    Request {
        requests: u32,
        size: usize,
        response_size: usize,
        interval: Duration,
    },
}

/// Why a connection ended early: the error (recorded already).
type Failed = StreamError;

/// A client connection: the flow and its stream id.
struct Conn {
    flow: Flow,
    id: u64,
}

/// One client's sequence of connections doing one piece of work (a transfer, a series of
/// messages or requests), with the failures it had so far.
struct Client {
    plan: Rc<Plan>,
    host: HostId,
    failures: core::cell::Cell<u32>,
}

impl Client {
    fn new(plan: &Rc<Plan>, host: HostId) -> Client {
        Client {
            plan: plan.clone(),
            host,
            failures: core::cell::Cell::new(0),
        }
    }

    /// Counts a failure; false once this piece of work has no attempts left.
    fn failed(&self) -> bool {
        let f = self.failures.get() + 1;
        self.failures.set(f);
        f < self.plan.attempts
    }

    /// Opens a connection and sends its header.
    async fn connect(&self, net: &SimNet, kind: Kind, a: u32, b: u32) -> Option<Conn> {
        loop {
            let started = net.now();
            match net.connect(self.plan.server).await {
                Ok(flow) => {
                    let id = ledger(net).borrow_mut().stream_open(
                        self.plan.workload,
                        self.host,
                        self.plan.server_host,
                        net.now(),
                    );
                    let mut c = Conn { flow, id };
                    let named = if self.plan.foreign.replace(false) {
                        id ^ (1 << 40)
                    } else {
                        id
                    };
                    let h = header(kind, named, a, b);
                    match write_all(net, &mut c, 0, &h, self.plan.idle).await {
                        Ok(()) => return Some(c),
                        Err(e) => {
                            // Recorded (and judged by the stream oracle) like any failure.
                            fail(net, c, 0, e);
                            if !self.failed() {
                                return None;
                            }
                            net.sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                Err(e) => {
                    let error = match e {
                        weft_net::ConnectError::Refused(_) => StreamError::Refused,
                        weft_net::ConnectError::Timeout(_) => StreamError::ConnectTimeout,
                        _ => StreamError::Other,
                    };
                    ledger(net).borrow_mut().connect_failed(
                        self.plan.workload,
                        self.host,
                        self.plan.server_host,
                        started,
                        net.now(),
                        error,
                    );
                    if !self.failed() {
                        return None;
                    }
                    // Not at once: a refusing server may be coming back.
                    net.sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

fn poll_read(
    flow: &mut Flow,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<std::io::Result<usize>> {
    let mut rb = ReadBuf::new(buf);
    match Pin::new(flow).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// Records `e` on the stream and aborts it (a RST, so the peer is not left waiting).
fn fail(net: &SimNet, c: Conn, side: usize, e: StreamError) -> Failed {
    ledger(net)
        .borrow_mut()
        .stream_error(c.id, side, net.now(), e);
    c.flow.abort();
    e
}

fn io_failure(e: &std::io::Error) -> StreamError {
    StreamError::from_io(e.kind())
}

/// Writes all of `data` on direction `dir` (0: client to server), recording it.
async fn write_all(
    net: &SimNet,
    c: &mut Conn,
    dir: usize,
    data: &[u8],
    idle: Duration,
) -> Result<(), StreamError> {
    let mut pos = 0;
    while pos < data.len() {
        let rest = data.get(pos..).unwrap_or_default();
        let deadline = net.now().saturating_add(idle);
        let w = until(
            net,
            deadline,
            poll_fn(|cx| Pin::new(&mut c.flow).poll_write(cx, rest)),
        )
        .await;
        match w {
            None => return Err(StreamError::Idle),
            Some(Ok(0)) => return Err(StreamError::Other),
            Some(Ok(n)) => {
                ledger(net)
                    .borrow_mut()
                    .stream_sent(c.id, dir, rest.get(..n).unwrap_or_default());
                pos += n;
            }
            Some(Err(e)) => return Err(io_failure(&e)),
        }
    }
    Ok(())
}

/// Reads up to `buf.len()` bytes of direction `dir`: 0 at the stream's end.
async fn read_some(
    net: &SimNet,
    c: &mut Conn,
    dir: usize,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, StreamError> {
    let r = until(net, deadline, poll_fn(|cx| poll_read(&mut c.flow, cx, buf))).await;
    match r {
        None => Err(StreamError::Idle),
        Some(Ok(0)) => {
            ledger(net).borrow_mut().stream_end(c.id, dir);
            Ok(0)
        }
        Some(Ok(n)) => {
            ledger(net)
                .borrow_mut()
                .stream_received(c.id, dir, buf.get(..n).unwrap_or_default());
            Ok(n)
        }
        Some(Err(e)) => Err(io_failure(&e)),
    }
}

/// Reads exactly `n` bytes of direction `dir`; `limit` bounds the whole wait (the planted
/// impatient client), `idle` each read.
async fn read_exact(
    net: &SimNet,
    c: &mut Conn,
    dir: usize,
    n: usize,
    idle: Duration,
    limit: Option<Instant>,
) -> Result<Vec<u8>, StreamError> {
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let mut deadline = net.now().saturating_add(idle);
        if let Some(l) = limit {
            deadline = deadline.min(l);
        }
        let Some(slot) = out.get_mut(got..) else {
            break;
        };
        match read_some(net, c, dir, slot, deadline).await? {
            0 => return Err(StreamError::UnexpectedEnd),
            k => got += k,
        }
    }
    Ok(out)
}

/// Shuts the sending side, then reads until the peer's end (nothing else may come).
async fn finish(
    net: &SimNet,
    c: &mut Conn,
    dir_in: usize,
    idle: Duration,
) -> Result<(), StreamError> {
    let shut = poll_fn(|cx| Pin::new(&mut c.flow).poll_shutdown(cx)).await;
    if let Err(e) = shut {
        return Err(io_failure(&e));
    }
    let mut buf = [0u8; 2048];
    loop {
        let deadline = net.now().saturating_add(idle);
        match read_some(net, c, dir_in, &mut buf, deadline).await? {
            0 => return Ok(()),
            // More than the protocol owed: the ledger has it; the oracle judges the bytes.
            _ => continue,
        }
    }
}

/// Moves data both ways at once: writes `out` bytes (from `fill`, `chunk` at a time,
/// `interval` apart) on direction `dir_out` while reading direction `1 - dir_out` to its
/// end. The sending side is shut when everything is written, or, with `shut_after_end`,
/// once the peer's end was read too. Returns (bytes written, bytes read).
#[allow(clippy::too_many_arguments)]
async fn pump(
    net: &SimNet,
    c: &mut Conn,
    dir_out: usize,
    out: u64,
    fill: &mut dyn FnMut(&mut [u8]),
    chunk: usize,
    interval: Duration,
    idle: Duration,
    shut_after_end: bool,
) -> Result<(u64, u64), (StreamError, u64, u64)> {
    let dir_in = 1 - dir_out;
    let mut pending: Vec<u8> = Vec::new();
    let mut pos = 0usize;
    let mut written = 0u64;
    let mut read = 0u64;
    let mut ended = false;
    let mut shut = false;
    let mut next_chunk = net.now();
    let mut idle_at = net.now().saturating_add(idle);
    let mut buf = vec![0u8; 16 * 1024];
    let mut timer: Option<(Instant, Timer)> = None;
    let id = c.id;
    poll_fn(|cx| {
        loop {
            let now = net.now();
            let mut progress = false;
            if !ended {
                match poll_read(&mut c.flow, cx, &mut buf) {
                    Poll::Ready(Ok(0)) => {
                        ended = true;
                        progress = true;
                        ledger(net).borrow_mut().stream_end(id, dir_in);
                    }
                    Poll::Ready(Ok(n)) => {
                        progress = true;
                        read += n as u64;
                        ledger(net).borrow_mut().stream_received(
                            id,
                            dir_in,
                            buf.get(..n).unwrap_or_default(),
                        );
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err((io_failure(&e), written, read)));
                    }
                    Poll::Pending => {}
                }
            }
            if pos >= pending.len() && written < out && now >= next_chunk {
                let n = usize::try_from(out - written)
                    .unwrap_or(usize::MAX)
                    .min(chunk.max(1));
                pending.resize(n, 0);
                fill(&mut pending);
                pos = 0;
            }
            if pos < pending.len() {
                let rest = pending.get(pos..).unwrap_or_default();
                match Pin::new(&mut c.flow).poll_write(cx, rest) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err((StreamError::Other, written, read)));
                    }
                    Poll::Ready(Ok(n)) => {
                        progress = true;
                        ledger(net).borrow_mut().stream_sent(
                            id,
                            dir_out,
                            rest.get(..n).unwrap_or_default(),
                        );
                        pos += n;
                        written += n as u64;
                        if pos >= pending.len() {
                            next_chunk = now.saturating_add(interval);
                        }
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err((io_failure(&e), written, read)));
                    }
                    Poll::Pending => {}
                }
            }
            if !shut && written >= out && pos >= pending.len() && (ended || !shut_after_end) {
                match Pin::new(&mut c.flow).poll_shutdown(cx) {
                    Poll::Ready(Ok(())) => {
                        shut = true;
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err((io_failure(&e), written, read)));
                    }
                    Poll::Pending => {}
                }
            }
            if shut && ended {
                return Poll::Ready(Ok((written, read)));
            }
            if progress {
                idle_at = now.saturating_add(idle);
                continue;
            }
            if now >= idle_at {
                return Poll::Ready(Err((StreamError::Idle, written, read)));
            }
            // Sleep until the idle limit, or the next paced chunk.
            let mut wake = idle_at;
            if written < out && pos >= pending.len() {
                wake = wake.min(next_chunk);
            }
            if timer.as_ref().is_none_or(|(at, _)| *at != wake) {
                timer = Some((wake, Box::pin(net.sleep_until(wake))));
            }
            if let Some((_, t)) = timer.as_mut()
                && t.as_mut().poll(cx).is_ready()
            {
                timer = None;
                continue;
            }
            return Poll::Pending;
        }
    })
    .await
}

/// A sleep of the pump's, pinned.
type Timer = Pin<Box<dyn Future<Output = ()>>>;

/// Bytes from `rng`.
fn filler(mut rng: weft_net::ChaCha20Rng) -> impl FnMut(&mut [u8]) {
    move |b| rng.fill_bytes(b)
}

/// Runs one client of a TCP workload.
pub(crate) async fn client(net: SimNet, plan: Rc<Plan>) {
    net.sleep(plan.start).await;
    let host = host_of(&net);
    let c = Client::new(&plan, host);
    let purpose = format!("workload/{}/{}", plan.name, net_name(&net));
    match plan.job {
        Job::Echo {
            connections,
            concurrent,
            messages,
            size,
            interval,
        } => {
            if concurrent {
                let left = Rc::new(RefCell::new(connections));
                let gate = Rc::new(Gate::default());
                for i in 0..connections {
                    let (net2, left, gate) = (net.clone(), left.clone(), gate.clone());
                    let c = Client::new(&plan, host);
                    let purpose = format!("{purpose}/{i}");
                    net.spawn(async move {
                        echo(
                            &net2,
                            &c,
                            &purpose,
                            messages,
                            size,
                            interval,
                            Some((&*gate, connections)),
                        )
                        .await;
                        *left.borrow_mut() -= 1;
                        gate.open();
                    });
                }
                poll_fn(|cx| {
                    if *left.borrow() == 0 {
                        Poll::Ready(())
                    } else {
                        gate.wait(cx);
                        Poll::Pending
                    }
                })
                .await;
            } else {
                for i in 0..connections {
                    echo(
                        &net,
                        &c,
                        &format!("{purpose}/{i}"),
                        messages,
                        size,
                        interval,
                        None,
                    )
                    .await;
                }
            }
        }
        Job::Bulk {
            upload,
            download,
            chunk,
            interval,
        } => bulk(&net, &c, &purpose, upload, download, chunk, interval).await,
        Job::Request {
            requests,
            size,
            response_size,
            interval,
        } => request_response(&net, &c, &purpose, requests, size, response_size, interval).await,
    }
    finished(&net, plan.workload);
}

/// Wakers of tasks waiting for one another (the concurrent connections' start line, and
/// their client waiting for all of them).
#[derive(Default)]
struct Gate {
    arrived: RefCell<u32>,
    wakers: RefCell<Vec<core::task::Waker>>,
}

impl Gate {
    fn wait(&self, cx: &Context<'_>) {
        let mut w = self.wakers.borrow_mut();
        if !w.iter().any(|x| x.will_wake(cx.waker())) {
            w.push(cx.waker().clone());
        }
    }
    fn open(&self) {
        for w in self.wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }
    /// Arrives at the start line: resolves once `n` have.
    async fn arrive(&self, n: u32) {
        *self.arrived.borrow_mut() += 1;
        self.open();
        poll_fn(|cx| {
            if *self.arrived.borrow() >= n {
                Poll::Ready(())
            } else {
                self.wait(cx);
                Poll::Pending
            }
        })
        .await;
    }
}

/// One echo connection's work: `messages` messages, reconnecting after failures.
async fn echo(
    net: &SimNet,
    c: &Client,
    purpose: &str,
    messages: u32,
    size: usize,
    interval: Duration,
    mut start_line: Option<(&Gate, u32)>,
) {
    let w = c.plan.workload;
    let idle = c.plan.idle;
    let mut rng = net.rng(purpose);
    let mut done = 0u32;
    let mut msg = vec![0u8; size];
    rng.fill_bytes(&mut msg);
    loop {
        let Some(mut conn) = c.connect(net, Kind::Echo, 0, 0).await else {
            if let Some((g, n)) = start_line.take() {
                g.arrive(n).await;
            }
            stats(net, w, |s| s.failed += u64::from(messages - done));
            return;
        };
        if let Some((g, n)) = start_line.take() {
            g.arrive(n).await;
        }
        let r: Result<(), StreamError> = async {
            while done < messages {
                if done > 0 && !interval.is_zero() {
                    net.sleep(interval).await;
                }
                write_all(net, &mut conn, 0, &msg, idle).await?;
                stats(net, w, |s| s.sent += 1);
                read_exact(net, &mut conn, 1, size, idle, None).await?;
                stats(net, w, |s| {
                    s.received += 1;
                    s.completed += 1;
                });
                done += 1;
                rng.fill_bytes(&mut msg);
            }
            finish(net, &mut conn, 1, idle).await
        }
        .await;
        match r {
            Ok(()) => {
                drop(conn);
                return;
            }
            Err(e) => {
                fail(net, conn, 0, e);
                if !c.failed() {
                    stats(net, w, |s| s.failed += u64::from(messages - done));
                    return;
                }
                stats(net, w, |s| s.retries += 1);
            }
        }
    }
}

/// A bulk transfer, reconnecting after failures with what is left.
async fn bulk(
    net: &SimNet,
    c: &Client,
    purpose: &str,
    upload: u64,
    download: u64,
    chunk: usize,
    interval: Duration,
) {
    let w = c.plan.workload;
    let mut fill = filler(net.rng(purpose));
    let (mut up_left, mut down_left) = (upload, download);
    loop {
        let ask = u32::try_from(down_left).unwrap_or(u32::MAX);
        let Some(mut conn) = c.connect(net, Kind::Bulk, ask, 0).await else {
            stats(net, w, |s| s.failed += 1);
            return;
        };
        stats(net, w, |s| s.sent += 1);
        let r = pump(
            net,
            &mut conn,
            0,
            up_left,
            &mut fill,
            chunk,
            interval,
            c.plan.idle,
            false,
        )
        .await;
        match r {
            Ok((_, read)) => {
                stats(net, w, |s| {
                    s.received += 1;
                    if read == u64::from(ask) {
                        s.completed += 1;
                    } else {
                        s.failed += 1;
                    }
                });
                drop(conn);
                return;
            }
            Err((e, written, read)) => {
                fail(net, conn, 0, e);
                up_left -= written.min(up_left);
                down_left -= read.min(down_left);
                if !c.failed() {
                    stats(net, w, |s| s.failed += 1);
                    return;
                }
                stats(net, w, |s| s.retries += 1);
            }
        }
    }
}

/// Requests one at a time, reconnecting after failures and going on from the request
/// that failed.
#[allow(clippy::too_many_arguments)]
async fn request_response(
    net: &SimNet,
    c: &Client,
    purpose: &str,
    requests: u32,
    size: usize,
    response_size: usize,
    interval: Duration,
) {
    let w = c.plan.workload;
    let idle = c.plan.idle;
    let mut rng = net.rng(purpose);
    let mut done = 0u32;
    let mut req = vec![0u8; size];
    rng.fill_bytes(&mut req);
    let (a, b) = (
        u32::try_from(size).unwrap_or(u32::MAX),
        u32::try_from(response_size).unwrap_or(u32::MAX),
    );
    loop {
        let Some(mut conn) = c.connect(net, Kind::Request, a, b).await else {
            stats(net, w, |s| s.failed += u64::from(requests - done));
            return;
        };
        let r: Result<(), StreamError> = async {
            while done < requests {
                if done > 0 && !interval.is_zero() {
                    net.sleep(interval).await;
                }
                write_all(net, &mut conn, 0, &req, idle).await?;
                stats(net, w, |s| s.sent += 1);
                let limit = c.plan.impatient.map(|d| net.now().saturating_add(d));
                let got = match read_exact(net, &mut conn, 1, response_size, idle, limit).await {
                    Err(StreamError::Idle) if c.plan.impatient.is_some() => {
                        // The planted bug: the client stops waiting although TCP would
                        // have delivered the answer, and calls the request lost.
                        let failure = crate::oracle::OracleFailure::WrongReply {
                            workload: c.plan.name.clone(),
                            host: net_name(net),
                            request: done,
                        };
                        ledger(net).borrow_mut().app_failures.push(failure);
                        return Err(StreamError::Idle);
                    }
                    r => r?,
                };
                stats(net, w, |s| s.received += 1);
                if got != response_to(&req, response_size) {
                    // The name first: the ledger is borrowed for it.
                    let failure = crate::oracle::OracleFailure::WrongReply {
                        workload: c.plan.name.clone(),
                        host: net_name(net),
                        request: done,
                    };
                    ledger(net).borrow_mut().app_failures.push(failure);
                }
                stats(net, w, |s| s.completed += 1);
                done += 1;
                rng.fill_bytes(&mut req);
            }
            finish(net, &mut conn, 1, idle).await
        }
        .await;
        match r {
            Ok(()) => {
                drop(conn);
                return;
            }
            Err(e) => {
                fail(net, conn, 0, e);
                if !c.failed() {
                    stats(net, w, |s| s.failed += u64::from(requests - done));
                    return;
                }
                stats(net, w, |s| s.retries += 1);
            }
        }
    }
}

/// The TCP server of every TCP workload on `port`: one task per connection.
pub(crate) async fn server(net: SimNet, port: u16) {
    let Ok(listener) = net
        .bind_tcp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .await
    else {
        return;
    };
    loop {
        match listener.accept().await {
            Ok((flow, from)) => {
                let n = net.clone();
                net.spawn(async move { serve(n, flow, from).await });
            }
            Err(_) => return,
        }
    }
}

/// One server connection: the header, then the kind's service.
async fn serve(net: SimNet, flow: Flow, from: SocketAddrV4) {
    let h = host_of(&net);
    let mut flow = flow;
    // The header, read before the stream is known (then recorded against it).
    let mut head = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        let Some(slot) = head.get_mut(got..) else {
            break;
        };
        let deadline = net.now().saturating_add(SERVER_IDLE);
        match until(&net, deadline, poll_fn(|cx| poll_read(&mut flow, cx, slot))).await {
            Some(Ok(n)) if n > 0 => got += n,
            // The client went away before saying which stream this is.
            _ => {
                flow.abort();
                return;
            }
        }
    }
    let Some((kind, id, a, b)) = parse_header(&head) else {
        ledger(&net)
            .borrow_mut()
            .stream_attach(u64::MAX, h, from, net.now());
        flow.abort();
        return;
    };
    if !ledger(&net)
        .borrow_mut()
        .stream_attach(id, h, from, net.now())
    {
        flow.abort();
        return;
    }
    ledger(&net).borrow_mut().stream_received(id, 0, &head);
    // Sizes come off the wire: a request or response outside what a scenario can ask for
    // (1 byte to 1 MiB) is a header the stack damaged, which the ledger has just reported; it
    // is not served (no allocation of what a corrupted length says).
    let sane = |n: u32| (1..=MAX_MESSAGE).contains(&(n as usize));
    if kind == Kind::Request && !(sane(a) && sane(b)) {
        flow.abort();
        return;
    }
    let mut c = Conn { flow, id };
    let r = match kind {
        Kind::Echo => serve_echo(&net, &mut c).await,
        Kind::Bulk => {
            let mut fill = filler(net.rng(&format!("stream/{id}")));
            pump(
                &net,
                &mut c,
                1,
                u64::from(a),
                &mut fill,
                16 * 1024,
                Duration::ZERO,
                SERVER_IDLE,
                true,
            )
            .await
            .map(|_| ())
            .map_err(|(e, _, _)| e)
        }
        Kind::Request => serve_requests(&net, &mut c, a as usize, b as usize).await,
    };
    match r {
        Ok(()) => {
            drop(c);
        }
        Err(e) => {
            fail(&net, c, 1, e);
        }
    }
}

async fn serve_echo(net: &SimNet, c: &mut Conn) -> Result<(), StreamError> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let deadline = net.now().saturating_add(SERVER_IDLE);
        let n = read_some(net, c, 0, &mut buf, deadline).await?;
        if n == 0 {
            let shut = poll_fn(|cx| Pin::new(&mut c.flow).poll_shutdown(cx)).await;
            return shut.map_err(|e| io_failure(&e));
        }
        let data = buf.get(..n).unwrap_or_default().to_vec();
        write_all(net, c, 1, &data, SERVER_IDLE).await?;
    }
}

async fn serve_requests(
    net: &SimNet,
    c: &mut Conn,
    size: usize,
    response_size: usize,
) -> Result<(), StreamError> {
    let mut req = Vec::with_capacity(size);
    let mut buf = vec![0u8; size.clamp(1, 16 * 1024)];
    loop {
        let deadline = net.now().saturating_add(SERVER_IDLE);
        let want = (size - req.len()).min(buf.len());
        let slot = buf.get_mut(..want).unwrap_or_default();
        let n = read_some(net, c, 0, slot, deadline).await?;
        if n == 0 {
            let shut = poll_fn(|cx| Pin::new(&mut c.flow).poll_shutdown(cx)).await;
            return shut.map_err(|e| io_failure(&e));
        }
        req.extend_from_slice(buf.get(..n).unwrap_or_default());
        if req.len() == size {
            let answer = response_to(&req, response_size);
            write_all(net, c, 1, &answer, SERVER_IDLE).await?;
            req.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_headers_round_trip_and_reject_strangers() {
        let h = header(Kind::Bulk, 0x0102_0304_0506_0708, 65_536, 7);
        assert_eq!(
            parse_header(&h),
            Some((Kind::Bulk, 0x0102_0304_0506_0708, 65_536, 7))
        );
        let mut bad = h;
        bad[0] ^= 1;
        assert_eq!(parse_header(&bad), None);
        let mut bad = h;
        bad[3] = 9;
        assert_eq!(parse_header(&bad), None);
        assert_eq!(parse_header(&h[..10]), None);
    }
}
