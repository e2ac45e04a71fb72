//! The `Stack`: one host's interfaces, routes, ARP caches, IPv4, ICMP, UDP and DHCP clients
//! behind the sans-IO surface of DESIGN.md ("The core's surface"):
//!
//! ```text
//! stack.handle_frame(now, iface, &frame, RxMeta { .. });      // one received frame
//! stack.poll_transmit(now, &mut buf) -> Option<Transmit>;      // one frame to send
//! stack.poll_timeout() -> Option<Instant>;  stack.handle_timeout(now);
//! stack.poll_event() -> Option<Event>;
//! ```
//!
//! A driver loop calls, in order: `handle_frame` for every frame the link has, then
//! `handle_timeout` when `poll_timeout` has passed, then `poll_transmit` until it returns
//! `None`, then `poll_event` until `None`, then waits for a frame or the next timeout. Each
//! method's doc says when to call it. Nothing here reads a clock or draws entropy of its own.
//!
//! Internally every protocol is its own state machine (`ArpCache`, `Reassembler`,
//! `UdpSockets`, `DhcpClient`); this module routes frames between them and the bounded
//! transmit and event queues.

#[cfg(feature = "dhcp")]
mod dhcp;
#[cfg(feature = "dhcp")]
pub use dhcp::{DHCP_GRANTS_KEPT, DhcpGrant};
#[cfg(feature = "icmp")]
mod icmp;
mod input;
mod output;
mod tcp;
mod tcp_path;

pub use tcp::{TcpError, TcpInfo};
pub(crate) use tcp_path::TcpPath;

use crate::arp::ArpCache;
use crate::config::{ConfigError, IfaceId, InterfaceConfig, Ipv4Config, Limits, StackConfig};
use crate::counters::Counters;
#[cfg(feature = "dhcp")]
use crate::dhcp::client::DhcpClient;
use crate::event::{Event, UdpSocketId};
#[cfg(feature = "icmp")]
use crate::icmp::RateLimiter;
use crate::link::{RxMeta, TxMeta};
use crate::reassembly::Reassembler;
use crate::rng::Rngs;
use crate::route::RouteTable;
use crate::time::Instant;
use crate::timer::{Deadlines, TimerOwner};
use crate::udp::{Datagram, UdpError, UdpSockets};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use weft_wire::{Ipv4Addr, MacAddr};

/// A frame `poll_transmit` wrote into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Interface to send it on.
    pub iface: IfaceId,
    /// Bytes written at the start of the buffer.
    pub len: usize,
    /// What the link should know.
    pub meta: TxMeta,
}

/// One interface's state.
#[derive(Debug)]
pub(crate) struct Iface {
    pub(crate) mac: MacAddr,
    pub(crate) mtu: u16,
    pub(crate) multicast: Vec<MacAddr>,
    /// Current address and prefix (static, or the DHCP lease).
    pub(crate) addr: Option<(Ipv4Addr, u8)>,
    pub(crate) arp: ArpCache,
}

/// A frame waiting for `poll_transmit`.
#[derive(Debug)]
pub(crate) struct TxFrame {
    pub(crate) iface: IfaceId,
    pub(crate) bytes: Vec<u8>,
    pub(crate) meta: TxMeta,
}

/// How many sent frames' buffers the stack keeps for reuse: a 64 KiB window of 1500-byte
/// segments is about 45 frames queued at once.
const FRAME_POOL_MAX: usize = 64;
/// The largest buffer kept for reuse: a full Ethernet frame of a 9000-byte jumbo MTU with
/// two VLAN tags (larger ones, such as reassembled or rare jumbo datagrams, are freed).
const FRAME_POOL_MAX_CAPACITY: usize = 9022;

/// One host's network stack. See the module documentation for the calling protocol.
#[derive(Debug)]
pub struct Stack {
    pub(crate) limits: Limits,
    pub(crate) ttl: u8,
    pub(crate) ifaces: Vec<Iface>,
    pub(crate) routes: RouteTable,
    pub(crate) reassembly: Reassembler,
    pub(crate) udp: UdpSockets,
    pub(crate) tcp: crate::tcp::sockets::TcpSockets,
    pub(crate) tcp_challenge: crate::tcp::sockets::ChallengeLimiter,
    #[cfg(feature = "icmp")]
    pub(crate) icmp_limiter: RateLimiter,
    #[cfg(feature = "dhcp")]
    pub(crate) dhcp: Vec<Option<DhcpClient>>,
    /// The leases granted on any interface, newest last (at most [`DHCP_GRANTS_KEPT`]).
    #[cfg(feature = "dhcp")]
    pub(crate) dhcp_grants: VecDeque<dhcp::DhcpGrant>,
    /// Grants dropped from the front of `dhcp_grants` to keep it bounded.
    #[cfg(feature = "dhcp")]
    pub(crate) dhcp_grants_dropped: u64,
    pub(crate) tx: VecDeque<TxFrame>,
    /// Buffers of frames `poll_transmit` has copied out, kept for the next TCP segments
    /// instead of an allocation each (at most [`FRAME_POOL_MAX`], each at most
    /// [`FRAME_POOL_MAX_CAPACITY`] bytes).
    pub(crate) frame_pool: Vec<Vec<u8>>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) deadlines: Deadlines,
    pub(crate) rngs: Rngs,
    pub(crate) counters: Counters,
    pub(crate) next_ident: u16,
    /// Some timer owner changed since the deadline set was last refreshed.
    pub(crate) timers_dirty: bool,
    /// The connection whose segments `poll_transmit` is writing one per call straight into
    /// the caller's buffer (taken off the dirty list; finished when it has no more).
    pub(crate) tcp_flushing: Option<u32>,
    /// Received data segments try `Conn::handle_data_fast` before the general rules (off
    /// only in tests that compare the two).
    pub(crate) tcp_header_prediction: bool,
}

fn validate(config: &StackConfig) -> Result<(), ConfigError> {
    let count = config.interfaces.len();
    if count > 255 {
        return Err(ConfigError::TooManyInterfaces { count });
    }
    for (i, ifc) in config.interfaces.iter().enumerate() {
        let iface = u8::try_from(i).unwrap_or(u8::MAX);
        if ifc.mac.is_multicast() || ifc.mac == MacAddr::ZERO {
            return Err(ConfigError::BadMac {
                iface,
                mac: ifc.mac,
            });
        }
        if ifc.mtu < 68 {
            return Err(ConfigError::BadMtu {
                iface,
                mtu: ifc.mtu,
            });
        }
        if let Ipv4Config::Static {
            addr, prefix_len, ..
        } = ifc.ipv4
        {
            if prefix_len > 32 {
                return Err(ConfigError::BadPrefix { addr, prefix_len });
            }
            let bcast = if prefix_len >= 31 {
                Ipv4Addr::BROADCAST
            } else {
                Ipv4Addr::from(u32::from(addr) | (u32::MAX >> prefix_len))
            };
            if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() || addr == bcast
            {
                return Err(ConfigError::BadAddress { iface, addr });
            }
        }
    }
    for r in &config.routes {
        if r.prefix_len > 32 {
            return Err(ConfigError::BadPrefix {
                addr: r.dest,
                prefix_len: r.prefix_len,
            });
        }
        if usize::from(r.iface.0) >= count {
            return Err(ConfigError::NoSuchInterface {
                dest: r.dest,
                prefix_len: r.prefix_len,
                iface: r.iface.0,
                count,
            });
        }
    }
    let l = &config.limits;
    for (name, v) in [
        ("arp_cache_entries", l.arp_cache_entries),
        ("arp_pending_total", l.arp_pending_total),
        ("reassembly_datagrams", l.reassembly_datagrams),
        ("udp_sockets", l.udp_sockets),
        ("udp_rx_datagrams", l.udp_rx_datagrams),
        ("tx_queue_frames", l.tx_queue_frames),
        ("event_queue", l.event_queue),
    ] {
        if v == 0 {
            return Err(ConfigError::ZeroLimit { name });
        }
    }
    Ok(())
}

impl Stack {
    /// Builds a stack from a validated configuration. Static addresses are up at once (an
    /// `AddressUp` event each, and gratuitous ARP announcements, RFC 5227 §2.3); DHCP
    /// interfaces start their client (call `poll_transmit` to send the DISCOVER).
    pub fn new(config: StackConfig, now: Instant) -> Result<Stack, ConfigError> {
        validate(&config)?;
        let mut rngs = Rngs::new(config.seed);
        let limits = config.limits;
        let routes = RouteTable::from_config(&config)?;
        let mut ifaces = Vec::with_capacity(config.interfaces.len());
        #[cfg(feature = "dhcp")]
        let mut dhcp = Vec::with_capacity(config.interfaces.len());
        let mut up = Vec::new();
        for (i, ifc) in config.interfaces.iter().enumerate() {
            let id = IfaceId(u8::try_from(i).unwrap_or(u8::MAX));
            let InterfaceConfig {
                mac,
                mtu,
                ipv4,
                multicast,
            } = ifc.clone();
            // A static gateway lives in the route table, built from the same configuration.
            let addr = match ipv4 {
                Ipv4Config::Static {
                    addr, prefix_len, ..
                } => Some((addr, prefix_len)),
                _ => None,
            };
            if let Some((a, p)) = addr {
                // Through the bounded queue below (`push_event`), like every other event.
                up.push(Event::AddressUp {
                    iface: id,
                    addr: a,
                    prefix_len: p,
                });
            }
            let mut arp = ArpCache::new(mac, &limits);
            if let Some((a, _)) = addr {
                arp.announce(now, a);
            }
            #[cfg(feature = "dhcp")]
            dhcp.push(match ipv4 {
                Ipv4Config::Dhcp => Some(DhcpClient::new(
                    now,
                    mac,
                    crate::rng::stream_for(config.seed, crate::rng::Purpose::Dhcp, u32::from(id.0)),
                    None,
                )),
                _ => None,
            });
            ifaces.push(Iface {
                mac,
                mtu,
                multicast,
                addr,
                arp,
            });
        }
        let udp = UdpSockets::new(&limits, &mut rngs);
        let tcp = {
            use rand_core::RngCore;
            // Their own streams: drawing them shifts no other key.
            let mut k = crate::rng::stream_for(config.seed, crate::rng::Purpose::TcpIsn, 0);
            let keys = core::array::from_fn(|_| k.next_u64());
            crate::tcp::sockets::TcpSockets::new(
                keys,
                config.tcp,
                limits.tcp_connections,
                limits.tcp_backlog,
            )
        };
        let mut stack = Stack {
            limits,
            // RFC 1122 §3.2.1.7: a host MUST NOT send a datagram with TTL 0.
            ttl: config.ttl.max(1),
            ifaces,
            routes,
            reassembly: Reassembler::new(&limits),
            udp,
            tcp,
            tcp_challenge: crate::tcp::sockets::ChallengeLimiter::new(
                limits.tcp_challenge_acks_per_sec,
            ),
            #[cfg(feature = "icmp")]
            icmp_limiter: RateLimiter::new(limits.icmp_errors_per_sec, limits.icmp_error_burst),
            #[cfg(feature = "dhcp")]
            dhcp,
            #[cfg(feature = "dhcp")]
            dhcp_grants: VecDeque::new(),
            #[cfg(feature = "dhcp")]
            dhcp_grants_dropped: 0,
            tx: VecDeque::new(),
            frame_pool: Vec::new(),
            events: VecDeque::new(),
            deadlines: Deadlines::default(),
            rngs,
            counters: Counters::default(),
            next_ident: 0,
            timers_dirty: true,
            tcp_flushing: None,
            tcp_header_prediction: true,
        };
        stack.next_ident = (stack.rngs.u32(crate::rng::Purpose::Ipv4Ident) & 0xffff) as u16;
        for e in up {
            stack.push_event(e);
        }
        for i in 0..stack.ifaces.len() {
            stack.refresh_timers(IfaceId(u8::try_from(i).unwrap_or(u8::MAX)));
        }
        Ok(stack)
    }

    /// Call for every frame received on `iface`, in arrival order. The frame is parsed with
    /// weft-wire's checked parsers; checksums are verified unless `meta` says the link did.
    /// Every frame the stack does not use is counted under a reason (see `counters`).
    pub fn handle_frame(&mut self, now: Instant, iface: IfaceId, frame: &[u8], meta: RxMeta) {
        self.input_frame(now, iface, frame, meta);
        // Only when the frame touched a timer owner (ARP, reassembly, DHCP): a datagram
        // delivered to a socket moves no deadline, and skips this work.
        if self.timers_dirty {
            self.refresh_all_timers();
        }
    }

    /// Call until it returns `None` after every `handle_frame`, `handle_timeout` and socket
    /// operation: writes the next frame to send into `buf` and says which interface it goes
    /// to. A frame larger than `buf` is dropped and counted (`queues.tx_buffer_too_small`).
    ///
    /// TCP segments are built here, one per call, straight into `buf` (no copy through the
    /// transmit queue); a connection's events and its next deadline are settled once it has
    /// nothing more to send, so `poll_event` and `poll_timeout` are complete only after this
    /// has returned `None`. A `buf` of the interface's MTU plus 14 bytes always suffices.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        // Queued frames first, in order; then TCP segments, each written straight into `buf`
        // (no queue, no second copy) while the queue stays empty; then ARP and DHCP.
        loop {
            if let Some(t) = self.pop_transmit(buf) {
                return Some(t);
            }
            if let Some(t) = self.tcp_transmit_direct(now, buf) {
                return Some(t);
            }
            if self.tx.is_empty() {
                break;
            }
        }
        self.generate_pending(now);
        self.pop_transmit(buf)
    }

    /// Copies the next queued frame into `buf` (dropping and counting frames too large for
    /// it) and recycles its buffer.
    fn pop_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(f) = self.tx.pop_front() {
            let Some(dst) = buf.get_mut(..f.bytes.len()) else {
                self.counters.queues.tx_buffer_too_small += 1;
                continue;
            };
            dst.copy_from_slice(&f.bytes);
            let sent = Transmit {
                iface: f.iface,
                len: f.bytes.len(),
                meta: f.meta,
            };
            if self.frame_pool.len() < FRAME_POOL_MAX
                && f.bytes.capacity() <= FRAME_POOL_MAX_CAPACITY
            {
                self.frame_pool.push(f.bytes);
            }
            return Some(sent);
        }
        None
    }

    /// The length of the next frame `poll_transmit` would write for `iface`, if the next
    /// queued frame goes out of that interface (lets a link size its buffer or token first).
    /// It turns every pending TCP segment into a queued frame first (bounded by
    /// `Limits::tx_queue_frames`; the rest wait), so a driver that peeks pays a copy per
    /// frame that one calling `poll_transmit` with an MTU-sized buffer does not.
    pub fn peek_transmit_len(&mut self, now: Instant, iface: IfaceId) -> Option<usize> {
        self.peek_transmit(now, iface).map(|(len, _)| len)
    }

    /// The length and link metadata of the next frame `poll_transmit` would write for
    /// `iface`, as [`Stack::peek_transmit_len`] (same cost): a link whose transmit token
    /// takes the metadata up front (a virtio-net header written before the frame) gets it
    /// here, equal to the `meta` of the [`Transmit`] that `poll_transmit` then returns.
    pub fn peek_transmit(&mut self, now: Instant, iface: IfaceId) -> Option<(usize, TxMeta)> {
        self.generate_pending(now);
        self.tx
            .front()
            .filter(|f| f.iface == iface)
            .map(|f| (f.bytes.len(), f.meta))
    }

    /// The earliest instant at which `handle_timeout` must be called, if any timer is armed.
    /// O(1): the top of the deadline heap, kept exact.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// Call when `poll_timeout`'s instant has passed (calling early is harmless): runs every
    /// due timer (ARP retries and expiry, reassembly timeouts, DHCP retransmissions and lease
    /// times).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(owner) = self.deadlines.pop_due(now) {
            // A popped owner other than a TCP connection (which re-arms its own deadline)
            // must be put back by the refresh below.
            if !matches!(owner, TimerOwner::Tcp(_)) {
                self.timers_dirty = true;
            }
            match owner {
                TimerOwner::Arp(i) => {
                    if let Some(iface) = self.ifaces.get_mut(usize::from(i)) {
                        // Failed resolutions are counted by the cache (`resolution_failed`).
                        let _failed = iface.arp.handle_timeout(now);
                    }
                    self.drain_arp(now, IfaceId(i));
                }
                TimerOwner::Reassembly => {
                    let mut expired = Vec::new();
                    self.reassembly
                        .handle_timeout(now, &mut self.counters.ipv4, |e| expired.push(e));
                    // RFC 1122 §3.3.2: time exceeded (code 1) when fragment zero arrived.
                    #[cfg(feature = "icmp")]
                    for e in expired {
                        if let Some(q) = e.quote {
                            self.output_reassembly_timeout(now, q.as_bytes());
                        }
                    }
                    #[cfg(not(feature = "icmp"))]
                    drop(expired);
                }
                #[cfg(feature = "dhcp")]
                TimerOwner::Dhcp(i) => self.dhcp_timeout(now, IfaceId(i)),
                #[cfg(not(feature = "dhcp"))]
                TimerOwner::Dhcp(_) => {}
                TimerOwner::IcmpRate => {}
                TimerOwner::Tcp(i) => self.tcp_timeout(now, i),
            }
        }
        if self.timers_dirty {
            self.refresh_all_timers();
        }
    }

    /// Call until `None` after each of the other calls: the next event for the layer above.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// All counters.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        c.udp = *self.udp.counters();
        c.tcp = self.tcp.counters;
        c.tcp.challenge_acks_limited = self.tcp_challenge.limited;
        let mut arp = crate::counters::ArpCounters::default();
        for i in &self.ifaces {
            let a = i.arp.counters();
            arp.rx_packets += a.rx_packets;
            arp.rx_malformed += a.rx_malformed;
            arp.replies_sent += a.replies_sent;
            arp.requests_sent += a.requests_sent;
            arp.entries_updated += a.entries_updated;
            arp.evictions += a.evictions;
            arp.expirations += a.expirations;
            arp.pending_dropped += a.pending_dropped;
            arp.resolution_failed += a.resolution_failed;
            arp.conflicts += a.conflicts;
            arp.revalidations += a.revalidations;
        }
        c.arp = arp;
        #[cfg(feature = "dhcp")]
        for d in self.dhcp.iter().flatten() {
            let x = d.counters();
            c.dhcp.tx_messages += x.tx_messages;
            c.dhcp.rx_messages += x.rx_messages;
            c.dhcp.rx_ignored += x.rx_ignored;
            c.dhcp.leases += x.leases;
            c.dhcp.renewals += x.renewals;
            c.dhcp.leases_lost += x.leases_lost;
            c.dhcp.declines += x.declines;
        }
        c
    }

    /// The interface's current IPv4 address and prefix length.
    pub fn iface_addr(&self, iface: IfaceId) -> Option<(Ipv4Addr, u8)> {
        self.ifaces.get(usize::from(iface.0)).and_then(|i| i.addr)
    }

    /// The interface's MAC address.
    pub fn iface_mac(&self, iface: IfaceId) -> Option<MacAddr> {
        self.ifaces.get(usize::from(iface.0)).map(|i| i.mac)
    }

    /// The MAC the ARP cache holds for `addr` on `iface` (for tools and tests).
    pub fn arp_lookup(&self, now: Instant, iface: IfaceId, addr: Ipv4Addr) -> Option<MacAddr> {
        self.ifaces
            .get(usize::from(iface.0))
            .and_then(|i| i.arp.lookup(now, addr))
    }

    /// Timer-set operations performed so far (operation-count tests).
    pub fn timer_ops(&self) -> u64 {
        self.deadlines.ops
    }

    /// Frames waiting for `poll_transmit` (at most `Limits::tx_queue_frames`).
    pub fn tx_queue_len(&self) -> usize {
        self.tx.len()
    }

    /// The interface's ARP cache entries and datagrams awaiting resolution (at most
    /// `Limits::arp_cache_entries` and `Limits::arp_pending_total`).
    pub fn arp_cache_len(&self, iface: IfaceId) -> Option<(usize, usize)> {
        self.ifaces
            .get(usize::from(iface.0))
            .map(|i| (i.arp.len(), i.arp.pending_packets()))
    }

    /// UDP demultiplexing table operations performed so far (operation-count tests).
    pub fn udp_ops(&self) -> u64 {
        self.udp.ops
    }

    /// Binds a UDP socket to `addr:port` (0.0.0.0 = any local address, port 0 = ephemeral).
    pub fn udp_bind(&mut self, addr: Ipv4Addr, port: u16) -> Result<UdpSocketId, UdpError> {
        self.udp.bind(addr, port, &mut self.rngs)
    }

    /// Closes a UDP socket.
    pub fn udp_close(&mut self, socket: UdpSocketId) -> Result<(), UdpError> {
        self.udp.close(socket)
    }

    /// The socket's local address and port.
    pub fn udp_local(&self, socket: UdpSocketId) -> Option<(Ipv4Addr, u16)> {
        self.udp.local(socket)
    }

    /// The next datagram received on `socket`.
    pub fn udp_recv(&mut self, socket: UdpSocketId) -> Result<Option<Datagram>, UdpError> {
        self.udp.recv(socket)
    }

    /// Copies the next datagram received on `socket` into `buf` without allocating; a
    /// payload longer than `buf` is cut and the rest discarded (`RecvMeta::truncated`).
    pub fn udp_recv_into(
        &mut self,
        socket: UdpSocketId,
        buf: &mut [u8],
    ) -> Result<Option<crate::udp::RecvMeta>, UdpError> {
        self.udp.recv_into(socket, buf)
    }

    /// Lends the next datagram received on `socket` to `f` without copying it out (the
    /// payload is a slice of the socket's receive ring), then drops it from the queue.
    pub fn udp_recv_with<R>(
        &mut self,
        socket: UdpSocketId,
        f: impl FnOnce(&crate::udp::RecvMeta, &[u8]) -> R,
    ) -> Result<Option<R>, UdpError> {
        self.udp.recv_with(socket, f)
    }

    /// Sends `payload` from `socket` to `dst`. The datagram is routed, fragmented if larger
    /// than the interface MTU (DF clear), and queued (resolution by ARP may hold it back);
    /// call `poll_transmit` afterwards.
    pub fn udp_send_to(
        &mut self,
        now: Instant,
        socket: UdpSocketId,
        dst: (Ipv4Addr, u16),
        payload: &[u8],
    ) -> Result<(), UdpError> {
        let r = self.output_udp(now, socket, dst, payload);
        // Only a new ARP resolution moves a deadline here (`link_output` marks it).
        if self.timers_dirty {
            self.refresh_all_timers();
        }
        r
    }

    /// Sends an ICMP echo request (ping) to `dst`.
    #[cfg(feature = "icmp")]
    pub fn ping(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        ident: u16,
        seq_no: u16,
        data: &[u8],
    ) -> Result<(), UdpError> {
        let r = self.output_echo(now, dst, ident, seq_no, data);
        // Only a new ARP resolution moves a deadline here (`link_output` marks it).
        if self.timers_dirty {
            self.refresh_all_timers();
        }
        r
    }

    /// Pushes an event, counting a drop when the queue is full.
    pub(crate) fn push_event(&mut self, e: Event) {
        if self.events.len() >= self.limits.event_queue {
            self.counters.queues.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    /// Queues a frame, counting a drop when the queue is full.
    pub(crate) fn push_frame(&mut self, iface: IfaceId, bytes: Vec<u8>) {
        if self.tx.len() >= self.limits.tx_queue_frames {
            self.counters.queues.tx_queue_full += 1;
            return;
        }
        self.counters.ethernet.tx_frames += 1;
        self.tx.push_back(TxFrame {
            iface,
            bytes,
            meta: TxMeta::default(),
        });
    }

    /// Updates the global deadline set for one interface's timers.
    pub(crate) fn refresh_timers(&mut self, iface: IfaceId) {
        let i = usize::from(iface.0);
        let arp = self.ifaces.get(i).and_then(|x| x.arp.next_deadline());
        self.deadlines.set(TimerOwner::Arp(iface.0), arp);
        #[cfg(feature = "dhcp")]
        {
            let d = self
                .dhcp
                .get(i)
                .and_then(|c| c.as_ref())
                .and_then(|c| c.next_deadline());
            self.deadlines.set(TimerOwner::Dhcp(iface.0), d);
        }
    }

    /// The first timer owner — an ARP cache, a DHCP client, the reassembly buffer or a TCP
    /// connection — whose deadline in the global set is later than its own next deadline, or
    /// missing (a deadline left early is harmless: `handle_timeout` re-arms it; a late one
    /// loses a timer). With the set's and the owner's instants. For the fuzz harness and
    /// tests: none may be late whenever `poll_transmit` has run dry (TCP connections' deadlines
    /// are set when they are flushed there).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn late_timer(&self) -> Option<(TimerOwner, Option<Instant>, Instant)> {
        let mut owners: Vec<(TimerOwner, Option<Instant>)> = Vec::new();
        for (i, ifc) in self.ifaces.iter().enumerate() {
            let i = u8::try_from(i).unwrap_or(u8::MAX);
            owners.push((TimerOwner::Arp(i), ifc.arp.next_deadline()));
            #[cfg(feature = "dhcp")]
            {
                let d = self
                    .dhcp
                    .get(usize::from(i))
                    .and_then(|c| c.as_ref())
                    .and_then(|c| c.next_deadline());
                owners.push((TimerOwner::Dhcp(i), d));
            }
        }
        owners.push((TimerOwner::Reassembly, self.reassembly.next_deadline()));
        for (i, slot) in self.tcp.slots.iter().enumerate() {
            if let (Some(slot), Ok(i)) = (slot, u32::try_from(i)) {
                owners.push((TimerOwner::Tcp(i), slot.conn.poll_timeout()));
            }
        }
        owners.into_iter().find_map(|(owner, due)| {
            let due = due?;
            let set = self.deadlines.get(owner);
            set.is_none_or(|t| t > due).then_some((owner, set, due))
        })
    }

    pub(crate) fn refresh_all_timers(&mut self) {
        self.timers_dirty = false;
        for i in 0..self.ifaces.len() {
            self.refresh_timers(IfaceId(u8::try_from(i).unwrap_or(u8::MAX)));
        }
        let r = self.reassembly.next_deadline();
        self.deadlines.set(TimerOwner::Reassembly, r);
    }
}
