//! The direct backend: weft-core over links, driven by one generic driver loop, generic over a
//! [`Runtime`].
//!
//! ```text
//!   application tasks ──(UdpNet / inherent calls)──▶ DirectNet ─┐ Rc<RefCell<Inner>>
//!                                                              ▼
//!   driver task: rx from every link → handle_timeout → events (wake sockets) → tx → wait
//!                 (link readiness, the next stack deadline, or a kick from an application)
//! ```
//!
//! One [`Stack`] per `DirectNet`, any number of interfaces (each its own [`AsyncLink`]: TAP,
//! the simulator's link, [`crate::link::memory`]), several `DirectNet`s per program. The
//! driver never blocks; application calls borrow the stack briefly and never across an
//! `.await`. Wakers are woken while the stack is borrowed, so a [`Runtime`]'s wakers must only
//! schedule (tokio's and the simulator's do).
//!
//! It implements [`Net`], [`UdpNet`] and [`crate::TcpNet`] (in `direct/tcp.rs`).

mod tcp;

pub use tcp::{DirectFlow, DirectListener};

use crate::link::{AsyncLink, ErasedLink};
use crate::runtime::Runtime;
use crate::{ChaCha20Rng, IcmpError, Net, NetError, UdpNet, UdpSocket};
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::{Rc, Weak};
use weft_core::dhcp::client::Lease;
use weft_core::event::IcmpErrorKind;
use weft_core::udp::UdpError;
use weft_core::{
    ConfigError, Counters, Duration, Event, IfaceId, Instant, InterfaceConfig, Stack, StackConfig,
    UdpSocketId,
};

/// Frames taken from one link per driver turn before the others get theirs.
const RX_BATCH: usize = 64;
/// Driver turns with progress before it yields to other tasks.
const TURNS_BEFORE_YIELD: usize = 32;
/// ICMP errors kept per socket until the application reads them; older ones are dropped and
/// counted (`DirectCounters::socket_errors_dropped`).
const SOCKET_ERROR_QUEUE: usize = 16;
/// Outstanding pings kept at once.
const MAX_PINGS: usize = 1024;

/// Why a direct stack could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectError {
    /// The stack configuration is invalid.
    #[error("invalid stack configuration: {0}")]
    Config(#[from] ConfigError),
    /// More interfaces than `IfaceId` can number.
    #[error("at most 255 interfaces per stack")]
    TooManyInterfaces,
}

/// What the driver itself counts (the stack counts the rest: [`DirectNet::counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectCounters {
    /// Driver turns (each: receive, timers, events, transmit).
    pub turns: u64,
    /// Frames taken from links.
    pub frames_in: u64,
    /// Frames handed to links.
    pub frames_out: u64,
    /// Times the head of the transmit queue waited for a link with no room.
    pub tx_blocked: u64,
    /// ICMP errors for a socket dropped because its error queue was full.
    pub socket_errors_dropped: u64,
    /// Echo replies that matched no outstanding ping.
    pub unmatched_echo_replies: u64,
}

/// What the driver counts for one interface's link ([`DirectNet::link_counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames taken from the link.
    pub frames_in: u64,
    /// Frames handed to the link.
    pub frames_out: u64,
    /// Times the head of the transmit queue waited for this link to have room.
    pub tx_blocked: u64,
}

/// Builds a [`DirectNet`]: the stack's configuration and one link per interface.
pub struct DirectBuilder {
    config: StackConfig,
    links: Vec<Box<dyn ErasedLink>>,
}

impl core::fmt::Debug for DirectBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectBuilder")
            .field("config", &self.config)
            .field("links", &self.links.len())
            .finish()
    }
}

impl DirectBuilder {
    /// A builder for a stack with `config` (whose `interfaces` must be empty: they are
    /// added with their links by [`DirectBuilder::interface`]).
    pub fn new(mut config: StackConfig) -> DirectBuilder {
        config.interfaces.clear();
        DirectBuilder {
            config,
            links: Vec::new(),
        }
    }

    /// Adds an interface and the link it sends and receives on.
    pub fn interface(&mut self, iface: InterfaceConfig, link: impl AsyncLink) -> IfaceId {
        self.links.push(Box::new(link));
        self.config.add_interface(iface)
    }

    /// The configuration so far (limits, routes, TTL can be changed through it).
    pub fn config_mut(&mut self) -> &mut StackConfig {
        &mut self.config
    }

    /// Creates the stack and spawns its driver on `rt`.
    pub fn start<R: Runtime>(self, rt: R) -> Result<DirectNet<R>, DirectError> {
        if self.links.len() > usize::from(u8::MAX) {
            return Err(DirectError::TooManyInterfaces);
        }
        let seed = self.config.seed;
        let now = rt.now();
        let stack = Stack::new(self.config, now)?;
        let link_counters = vec![LinkCounters::default(); self.links.len()];
        let inner = Rc::new(RefCell::new(Inner {
            stack,
            links: self.links,
            link_counters,
            driver: None,
            sockets: BTreeMap::new(),
            tcp: FlowTable::default(),
            listeners: BTreeMap::new(),
            pings: BTreeMap::new(),
            next_ping_seq: 0,
            ping_ident: {
                use rand_core::RngCore;
                (crate::rng_for(seed, "direct/ping-ident").next_u32() & 0xffff) as u16
            },
            addr_waiters: Wakers::default(),
            tx_blocked: None,
            stopped: false,
            counters: DirectCounters::default(),
        }));
        let driver = Driver {
            rt: rt.clone(),
            inner: Rc::downgrade(&inner),
            sleep: None,
        };
        rt.spawn(Box::pin(driver));
        Ok(DirectNet { rt, inner, seed })
    }
}

/// A builder for a stack with `config`: `direct::builder(config)`, then
/// [`DirectBuilder::interface`] per link, then [`DirectBuilder::start`].
pub fn builder(config: StackConfig) -> DirectBuilder {
    DirectBuilder::new(config)
}

/// weft-core over links: implements [`Net`] and [`UdpNet`]. Clones share the stack.
pub struct DirectNet<R: Runtime> {
    rt: R,
    inner: Rc<RefCell<Inner>>,
    seed: u64,
}

impl<R: Runtime> Clone for DirectNet<R> {
    fn clone(&self) -> Self {
        DirectNet {
            rt: self.rt.clone(),
            inner: self.inner.clone(),
            seed: self.seed,
        }
    }
}

impl<R: Runtime> core::fmt::Debug for DirectNet<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectNet")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct SocketState {
    readers: Wakers,
    writers: Wakers,
    errors: VecDeque<NetError>,
}

#[derive(Debug)]
enum PingState {
    Waiting { sent: Instant, waker: Option<Waker> },
    Replied { rtt: Duration },
}

struct Inner {
    stack: Stack,
    links: Vec<Box<dyn ErasedLink>>,
    /// Per link, in interface order.
    link_counters: Vec<LinkCounters>,
    driver: Option<Waker>,
    sockets: BTreeMap<u32, SocketState>,
    /// TCP connections the application holds.
    tcp: FlowTable,
    /// Tasks waiting in `accept`, per listener.
    listeners: BTreeMap<u32, Wakers>,
    pings: BTreeMap<u16, PingState>,
    next_ping_seq: u16,
    /// The ICMP identifier of this stack's echo requests.
    ping_ident: u16,
    addr_waiters: Wakers,
    /// The interface whose link had no room for the head of the transmit queue.
    tx_blocked: Option<usize>,
    stopped: bool,
    counters: DirectCounters,
}

/// Tasks waiting for one thing, in the order they first waited. The first is kept inline:
/// waking the usual single waiter touches no memory beyond the record that holds it. The
/// others, rarely any, live out of line (24 bytes in all, so a connection's lists share a
/// cache line; see [`FlowTable`]).
#[derive(Debug, Default)]
struct Wakers {
    first: Option<Waker>,
    #[expect(
        clippy::box_collection,
        reason = "one pointer inline instead of a vector's three: the lists stay in one line"
    )]
    more: Option<Box<Vec<Waker>>>,
}

fn add_waker(list: &mut Wakers, w: &Waker) {
    match &list.first {
        None => list.first = Some(w.clone()),
        Some(f) if f.will_wake(w) => {}
        Some(_) => {
            let more = list.more.get_or_insert_with(Box::default);
            if !more.iter().any(|x| x.will_wake(w)) {
                more.push(w.clone());
            }
        }
    }
}

fn wake_all(list: &mut Wakers) {
    if let Some(w) = list.first.take() {
        w.wake();
    }
    if let Some(more) = list.more.as_mut() {
        for w in more.drain(..) {
            w.wake();
        }
    }
}

/// The application's TCP connections by slab index: one slot per index the stack hands out
/// (it reuses freed indexes, so this grows only to the connection limit), the generation
/// telling a connection from an earlier one on the same index. A lookup per event is one
/// indexed load, not an ordered-map search.
#[derive(Debug, Default)]
struct FlowTable {
    slots: Vec<Option<FlowSlot>>,
}

/// One connection's entry, aligned to a cache line: its generation and the state a segment
/// touches (the readers' and writers' lists, the outcome) share the first line, so with
/// thousands of connections, whose entries have left the caches between two of their
/// segments, a segment's wake-up costs one line of this table, not two or three.
#[derive(Debug)]
#[repr(C, align(64))]
struct FlowSlot {
    generation: u32,
    state: tcp::FlowState,
}

impl FlowTable {
    fn get(&self, id: &weft_core::tcp::TcpSocketId) -> Option<&tcp::FlowState> {
        match self.slots.get(id.index as usize) {
            Some(Some(s)) if s.generation == id.generation => Some(&s.state),
            _ => None,
        }
    }

    fn get_mut(&mut self, id: &weft_core::tcp::TcpSocketId) -> Option<&mut tcp::FlowState> {
        match self.slots.get_mut(id.index as usize) {
            Some(Some(s)) if s.generation == id.generation => Some(&mut s.state),
            _ => None,
        }
    }

    /// `id`'s state, created empty if it has none (replacing a stale generation's).
    fn get_or_default(&mut self, id: weft_core::tcp::TcpSocketId) -> Option<&mut tcp::FlowState> {
        let i = id.index as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        let slot = self.slots.get_mut(i)?;
        if !matches!(slot, Some(s) if s.generation == id.generation) {
            *slot = Some(FlowSlot {
                generation: id.generation,
                state: tcp::FlowState::default(),
            });
        }
        slot.as_mut().map(|s| &mut s.state)
    }

    fn remove(&mut self, id: &weft_core::tcp::TcpSocketId) {
        if let Some(slot) = self.slots.get_mut(id.index as usize)
            && matches!(slot, Some(s) if s.generation == id.generation)
        {
            *slot = None;
        }
    }

    /// Every connection's state, in slab-index order.
    fn values_mut(&mut self) -> impl Iterator<Item = &mut tcp::FlowState> {
        self.slots.iter_mut().flatten().map(|s| &mut s.state)
    }
}

fn icmp_error(kind: IcmpErrorKind) -> IcmpError {
    match kind {
        IcmpErrorKind::Unreachable { code: 3 } => IcmpError::PortUnreachable,
        IcmpErrorKind::Unreachable { code: 2 } => IcmpError::ProtocolUnreachable,
        IcmpErrorKind::Unreachable { code } => IcmpError::Unreachable { code },
        IcmpErrorKind::FragmentationNeeded { mtu } => IcmpError::FragmentationNeeded { mtu },
        IcmpErrorKind::TimeExceeded { code } => IcmpError::TimeExceeded { code },
        IcmpErrorKind::ParameterProblem { pointer } => IcmpError::ParameterProblem { pointer },
    }
}

fn udp_error(e: UdpError) -> NetError {
    match e {
        UdpError::AddrInUse { addr, port } => NetError::AddrInUse(SocketAddrV4::new(addr, port)),
        UdpError::NoSuchSocket(_) => NetError::Closed,
        UdpError::NoRoute(a) => NetError::NoRoute(a),
        UdpError::TooLarge { len } => NetError::TooLarge { len },
        other => NetError::Limit(other.to_string()),
    }
}

impl Inner {
    fn wake_driver(&mut self) {
        if let Some(w) = &self.driver {
            w.wake_by_ref();
        }
    }

    /// One driver turn: receive, timers, events, transmit. True when anything happened.
    fn turn(&mut self, now: Instant) -> bool {
        self.counters.turns += 1;
        let mut progress = false;
        let Inner {
            stack,
            links,
            link_counters,
            ..
        } = self;
        for (i, (link, lc)) in links.iter_mut().zip(link_counters.iter_mut()).enumerate() {
            let iface = IfaceId(u8::try_from(i).unwrap_or(u8::MAX));
            for _ in 0..RX_BATCH {
                if !link.recv_with(&mut |frame, meta| stack.handle_frame(now, iface, frame, meta)) {
                    break;
                }
                self.counters.frames_in += 1;
                lc.frames_in += 1;
                progress = true;
            }
        }
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
            progress = true;
        }
        while let Some(ev) = self.stack.poll_event() {
            self.dispatch(now, ev);
            progress = true;
        }
        if self.transmit(now) {
            progress = true;
        }
        progress
    }

    fn dispatch(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::UdpReadable { socket } => {
                if let Some(s) = self.sockets.get_mut(&socket.0) {
                    wake_all(&mut s.readers);
                }
            }
            Event::UdpError {
                socket,
                remote,
                kind,
                reporter,
            } => {
                if let Some(s) = self.sockets.get_mut(&socket.0) {
                    if s.errors.len() >= SOCKET_ERROR_QUEUE {
                        s.errors.pop_front();
                        self.counters.socket_errors_dropped += 1;
                    }
                    s.errors.push_back(NetError::Icmp {
                        peer: SocketAddrV4::new(remote.0, remote.1),
                        reporter,
                        error: icmp_error(kind),
                    });
                    wake_all(&mut s.readers);
                }
            }
            Event::EchoReply { ident, seq_no, .. } => {
                let matched = ident == self.ping_ident;
                match self.pings.get_mut(&seq_no) {
                    Some(p @ PingState::Waiting { .. }) if matched => {
                        if let PingState::Waiting { sent, waker } = p {
                            let rtt = now.saturating_since(*sent);
                            if let Some(w) = waker.take() {
                                w.wake();
                            }
                            *p = PingState::Replied { rtt };
                        }
                    }
                    _ => self.counters.unmatched_echo_replies += 1,
                }
            }
            Event::AddressUp { .. } | Event::AddressDown { .. } | Event::AddressConflict { .. } => {
                wake_all(&mut self.addr_waiters);
            }
            other => self.dispatch_tcp(other),
        }
    }

    /// Moves frames from the stack's transmit queue to the links, in queue order; stops at
    /// the first frame whose link is full (it waits at the head: links share one queue).
    fn transmit(&mut self, now: Instant) -> bool {
        self.tx_blocked = None;
        let mut sent = false;
        let Inner {
            stack,
            links,
            link_counters,
            ..
        } = self;
        loop {
            let mut head = None;
            for i in 0..links.len() {
                let iface = IfaceId(u8::try_from(i).unwrap_or(u8::MAX));
                if let Some((len, meta)) = stack.peek_transmit(now, iface) {
                    head = Some((i, len, meta));
                    break;
                }
            }
            let Some((i, len, meta)) = head else { break };
            let Some(link) = links.get_mut(i) else { break };
            let ok = link.send_with(len, meta, &mut |buf| {
                // The head frame is exactly `len` bytes, so it fits.
                let _ = stack.poll_transmit(now, buf);
            });
            let lc = link_counters.get_mut(i);
            if !ok {
                self.tx_blocked = Some(i);
                self.counters.tx_blocked += 1;
                if let Some(lc) = lc {
                    lc.tx_blocked += 1;
                }
                break;
            }
            self.counters.frames_out += 1;
            if let Some(lc) = lc {
                lc.frames_out += 1;
            }
            sent = true;
        }
        if sent {
            for s in self.sockets.values_mut() {
                wake_all(&mut s.writers);
            }
        }
        sent
    }
}

/// The driver task: turns until nothing happens, then waits for a link, the next stack
/// deadline, or a kick from an application call.
struct Driver<R: Runtime> {
    rt: R,
    inner: Weak<RefCell<Inner>>,
    sleep: Option<(Instant, Pin<Box<R::Sleep>>)>,
}

// The driver is never pin-projected: its timer is boxed.
impl<R: Runtime> Unpin for Driver<R> {}

impl<R: Runtime> Future for Driver<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(inner) = this.inner.upgrade() else {
            return Poll::Ready(());
        };
        let mut g = inner.borrow_mut();
        if g.driver.as_ref().is_none_or(|w| !w.will_wake(cx.waker())) {
            g.driver = Some(cx.waker().clone());
        }
        for _ in 0..TURNS_BEFORE_YIELD {
            if g.stopped {
                return Poll::Ready(());
            }
            if g.turn(this.rt.now()) {
                continue;
            }
            // Nothing to do now: register interest everywhere something can come from.
            let mut again = false;
            for link in g.links.iter_mut() {
                if link.poll_recv_ready(cx).is_ready() {
                    again = true;
                }
            }
            if let Some(i) = g.tx_blocked
                && let Some(link) = g.links.get_mut(i)
                && link.poll_send_ready(cx).is_ready()
            {
                again = true;
            }
            match g.stack.poll_timeout() {
                Some(deadline) if deadline <= this.rt.now() => again = true,
                Some(deadline) => {
                    if this.sleep.as_ref().is_none_or(|(at, _)| *at != deadline) {
                        this.sleep = Some((deadline, Box::pin(this.rt.sleep_until(deadline))));
                    }
                    if let Some((_, sleep)) = this.sleep.as_mut()
                        && sleep.as_mut().poll(cx).is_ready()
                    {
                        this.sleep = None;
                        again = true;
                    }
                }
                None => this.sleep = None,
            }
            if !again {
                return Poll::Pending;
            }
        }
        // Busy: let the application tasks run, then come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Polls `fut` until it completes or `deadline` passes.
async fn with_deadline<R: Runtime, T>(
    rt: &R,
    deadline: Instant,
    fut: impl Future<Output = T>,
) -> Option<T> {
    let mut fut = core::pin::pin!(fut);
    let mut sleep = Box::pin(rt.sleep_until(deadline));
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

impl<R: Runtime> DirectNet<R> {
    /// The runtime this stack runs on.
    pub fn runtime(&self) -> &R {
        &self.rt
    }

    /// Runs `f` on the stack (for what the API here does not cover: ARP lookups, DHCP
    /// leases, timers), then lets the driver send what `f` queued.
    pub fn with_stack<T>(&self, f: impl FnOnce(&mut Stack, Instant) -> T) -> T {
        let now = self.rt.now();
        let mut g = self.inner.borrow_mut();
        let r = f(&mut g.stack, now);
        g.wake_driver();
        r
    }

    /// The stack's counters.
    pub fn counters(&self) -> Counters {
        self.inner.borrow().stack.counters()
    }

    /// The driver's counters.
    pub fn driver_counters(&self) -> DirectCounters {
        self.inner.borrow().counters
    }

    /// The driver's counters for `iface`'s link (`None`: no such interface).
    pub fn link_counters(&self, iface: IfaceId) -> Option<LinkCounters> {
        self.inner
            .borrow()
            .link_counters
            .get(usize::from(iface.0))
            .copied()
    }

    /// The interface's address and prefix length, once it has one.
    pub fn address(&self, iface: IfaceId) -> Option<(Ipv4Addr, u8)> {
        self.inner.borrow().stack.iface_addr(iface)
    }

    /// The interface's DHCP lease, if it has one.
    pub fn dhcp_lease(&self, iface: IfaceId) -> Option<Lease> {
        self.inner.borrow().stack.dhcp_lease(iface).cloned()
    }

    /// Waits until `iface` has an address (static at once; DHCP when the lease is bound).
    pub async fn wait_address(
        &self,
        iface: IfaceId,
        timeout: Duration,
    ) -> Result<(Ipv4Addr, u8), NetError> {
        let deadline = self.rt.now().saturating_add(timeout);
        let wait = poll_fn(|cx| {
            let mut g = self.inner.borrow_mut();
            if g.stopped {
                return Poll::Ready(Err(NetError::Closed));
            }
            if let Some(a) = g.stack.iface_addr(iface) {
                return Poll::Ready(Ok(a));
            }
            add_waker(&mut g.addr_waiters, cx.waker());
            Poll::Pending
        });
        with_deadline(&self.rt, deadline, wait)
            .await
            .unwrap_or(Err(NetError::Timeout))
    }

    /// Sends one ICMP echo request to `dst` and waits for the reply: the round-trip time.
    pub async fn ping(&self, dst: Ipv4Addr, timeout: Duration) -> Result<Duration, NetError> {
        let seq = {
            let now = self.rt.now();
            let mut g = self.inner.borrow_mut();
            if g.pings.len() >= MAX_PINGS {
                return Err(NetError::Limit(format!(
                    "{MAX_PINGS} pings are outstanding already"
                )));
            }
            let mut seq = g.next_ping_seq;
            while g.pings.contains_key(&seq) {
                seq = seq.wrapping_add(1);
            }
            g.next_ping_seq = seq.wrapping_add(1);
            // RFC 792: the data is echoed; 56 bytes like ping(8).
            let mut data = [0u8; 56];
            for (i, b) in data.iter_mut().enumerate() {
                *b = i as u8;
            }
            let ident = g.ping_ident;
            g.stack
                .ping(now, dst, ident, seq, &data)
                .map_err(udp_error)?;
            g.pings.insert(
                seq,
                PingState::Waiting {
                    sent: now,
                    waker: None,
                },
            );
            g.wake_driver();
            seq
        };
        let deadline = self.rt.now().saturating_add(timeout);
        let wait = poll_fn(|cx| {
            let mut g = self.inner.borrow_mut();
            if g.stopped {
                return Poll::Ready(Err(NetError::Closed));
            }
            match g.pings.get_mut(&seq) {
                Some(PingState::Replied { rtt }) => Poll::Ready(Ok(*rtt)),
                Some(PingState::Waiting { waker, .. }) => {
                    *waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                None => Poll::Ready(Err(NetError::Closed)),
            }
        });
        let r = with_deadline(&self.rt, deadline, wait).await;
        self.inner.borrow_mut().pings.remove(&seq);
        r.unwrap_or(Err(NetError::Timeout))
    }

    /// Stops the driver: links are no longer served and every waiting call returns
    /// [`NetError::Closed`].
    pub fn shutdown(&self) {
        let mut g = self.inner.borrow_mut();
        g.stopped = true;
        g.wake_driver();
        wake_all(&mut g.addr_waiters);
        for s in g.sockets.values_mut() {
            wake_all(&mut s.readers);
            wake_all(&mut s.writers);
        }
        for s in g.tcp.values_mut() {
            s.wake_all();
        }
        for l in g.listeners.values_mut() {
            wake_all(l);
        }
        for p in g.pings.values_mut() {
            if let PingState::Waiting { waker: Some(w), .. } = p {
                w.wake_by_ref();
            }
        }
    }
}

impl<R: Runtime> Net for DirectNet<R> {
    fn now(&self) -> Instant {
        self.rt.now()
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + 'static {
        self.rt.sleep_until(deadline)
    }

    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        self.rt.spawn(Box::pin(task));
    }

    fn rng(&self, purpose: &str) -> ChaCha20Rng {
        crate::rng_for(self.seed, purpose)
    }
}

/// A UDP socket on a [`DirectNet`]; clones share it, the last one closes it.
pub struct DirectUdpSocket {
    handle: Rc<SocketHandle>,
}

impl Clone for DirectUdpSocket {
    fn clone(&self) -> Self {
        DirectUdpSocket {
            handle: self.handle.clone(),
        }
    }
}

impl core::fmt::Debug for DirectUdpSocket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectUdpSocket")
            .field("id", &self.handle.id)
            .field("local", &self.handle.local)
            .finish()
    }
}

struct SocketHandle {
    id: UdpSocketId,
    local: SocketAddrV4,
    inner: Rc<RefCell<Inner>>,
    now: Box<dyn Fn() -> Instant>,
}

impl Drop for SocketHandle {
    fn drop(&mut self) {
        let mut g = self.inner.borrow_mut();
        g.sockets.remove(&self.id.0);
        // Closing an id this handle owns cannot fail; nothing to report from a drop.
        let _ = g.stack.udp_close(self.id);
    }
}

impl<R: Runtime> UdpNet for DirectNet<R> {
    type UdpSocket = DirectUdpSocket;

    fn bind_udp(
        &self,
        local: SocketAddrV4,
    ) -> impl Future<Output = Result<DirectUdpSocket, NetError>> {
        let r = (|| {
            let mut g = self.inner.borrow_mut();
            if g.stopped {
                return Err(NetError::Closed);
            }
            let ip = *local.ip();
            if !ip.is_unspecified() {
                let ours = (0..g.links.len()).any(|i| {
                    let iface = IfaceId(u8::try_from(i).unwrap_or(u8::MAX));
                    g.stack.iface_addr(iface).is_some_and(|(a, _)| a == ip)
                });
                if !ours {
                    return Err(NetError::AddrNotAvailable(local));
                }
            }
            let id = g.stack.udp_bind(ip, local.port()).map_err(udp_error)?;
            let (a, p) = g.stack.udp_local(id).unwrap_or((ip, local.port()));
            g.sockets.insert(id.0, SocketState::default());
            let rt = self.rt.clone();
            Ok(DirectUdpSocket {
                handle: Rc::new(SocketHandle {
                    id,
                    local: SocketAddrV4::new(a, p),
                    inner: self.inner.clone(),
                    now: Box::new(move || rt.now()),
                }),
            })
        })();
        core::future::ready(r)
    }
}

impl UdpSocket for DirectUdpSocket {
    fn local_addr(&self) -> SocketAddrV4 {
        self.handle.local
    }

    async fn send_to(&self, payload: &[u8], to: SocketAddrV4) -> Result<(), NetError> {
        let h = &self.handle;
        poll_fn(|cx| {
            let now = (h.now)();
            let mut g = h.inner.borrow_mut();
            if g.stopped {
                return Poll::Ready(Err(NetError::Closed));
            }
            match g
                .stack
                .udp_send_to(now, h.id, (*to.ip(), to.port()), payload)
            {
                Ok(()) => {
                    g.wake_driver();
                    Poll::Ready(Ok(()))
                }
                Err(UdpError::TxQueueFull) => {
                    if let Some(s) = g.sockets.get_mut(&h.id.0) {
                        add_waker(&mut s.writers, cx.waker());
                    }
                    g.wake_driver();
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(udp_error(e))),
            }
        })
        .await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddrV4), NetError> {
        let h = &self.handle;
        poll_fn(|cx| {
            let mut g = h.inner.borrow_mut();
            if let Some(e) = g
                .sockets
                .get_mut(&h.id.0)
                .and_then(|s| s.errors.pop_front())
            {
                return Poll::Ready(Err(e));
            }
            match g.stack.udp_recv_into(h.id, buf) {
                Ok(Some(meta)) => Poll::Ready(Ok((
                    meta.len.min(buf.len()),
                    SocketAddrV4::new(meta.src.0, meta.src.1),
                ))),
                Ok(None) if g.stopped => Poll::Ready(Err(NetError::Closed)),
                Ok(None) => {
                    if let Some(s) = g.sockets.get_mut(&h.id.0) {
                        add_waker(&mut s.readers, cx.waker());
                    }
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(udp_error(e))),
            }
        })
        .await
    }
}
