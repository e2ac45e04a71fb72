//! UDP sockets (RFC 768; RFC 1122 §4.1): binding, demultiplexing and bounded receive queues.
//!
//! `UdpSockets` is a plain state machine: the stack feeds it checked datagrams and takes what
//! the sockets send. Demultiplexing is one or two seeded-table lookups whatever the number of
//! sockets (exact local address first, then the wildcard), never a scan.

use crate::config::Limits;
use crate::counters::UdpCounters;
use crate::event::UdpSocketId;
use crate::rng::{Purpose, Rngs};
use crate::table::{SeededState, Table, table};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use weft_wire::Ipv4Addr;

/// RFC 6056 §2.1 / IANA: the dynamic port range used for ephemeral ports.
pub const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 49152..=65535;

/// A received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Sender address and port.
    pub src: (Ipv4Addr, u16),
    /// Destination address (ours, or a broadcast) and port.
    pub dst: (Ipv4Addr, u16),
    /// Payload.
    pub payload: Vec<u8>,
}

/// Why a bind or send is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UdpError {
    /// Another socket holds this address and port.
    #[error("{addr}:{port} is already bound")]
    AddrInUse {
        /// Address (0.0.0.0 = any).
        addr: Ipv4Addr,
        /// Port.
        port: u16,
    },
    /// Every ephemeral port is in use.
    #[error("no free ephemeral port in 49152-65535")]
    NoFreePort,
    /// The socket limit is reached.
    #[error("socket limit of {limit} reached")]
    TooManySockets {
        /// The limit (`Limits::udp_sockets`).
        limit: usize,
    },
    /// The socket id is not bound.
    #[error("UDP socket {0:?} is not bound")]
    NoSuchSocket(UdpSocketId),
    /// No route to the destination.
    #[error("no route to {0}")]
    NoRoute(Ipv4Addr),
    /// The datagram is larger than UDP can carry (65507 bytes of payload over IPv4).
    #[error("payload of {len} bytes exceeds the 65507-byte UDP/IPv4 maximum")]
    TooLarge {
        /// Payload length.
        len: usize,
    },
    /// Too big for the path and the don't-fragment flag is set.
    #[error("datagram of {len} bytes exceeds the path MTU {mtu} with DF set")]
    NeedsFragmentation {
        /// Datagram length.
        len: usize,
        /// The MTU.
        mtu: u16,
    },
    /// The transmit queue is full; try again after `poll_transmit`.
    #[error("transmit queue full")]
    TxQueueFull,
}

/// A received datagram's addresses and length; its payload sits in the socket's byte ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// Sender address and port.
    pub src: (Ipv4Addr, u16),
    /// Destination address (ours, or a broadcast) and port.
    pub dst: (Ipv4Addr, u16),
    /// The datagram's payload length.
    pub len: usize,
    /// True when the buffer given to `recv_into` was shorter than the payload: the rest was
    /// discarded (like `recvfrom`'s MSG_TRUNC).
    pub truncated: bool,
}

/// A socket's receive queue: datagram boundaries in `meta`, payload bytes back to back in one
/// ring, so receiving copies into memory the socket already holds (no allocation per datagram
/// once the ring has grown to its working size, at most `Limits::udp_rx_bytes`).
#[derive(Debug)]
struct Socket {
    local: (Ipv4Addr, u16),
    meta: VecDeque<RecvMeta>,
    bytes: VecDeque<u8>,
}

/// Sockets bound to one port: the wildcard one inline, and how many are bound to a specific
/// address (those are in the second table), so the common case is one hash lookup.
#[derive(Debug, Clone, Copy, Default)]
struct PortEntry {
    wildcard: Option<UdpSocketId>,
    exact: u32,
}

/// Socket ids index a slab: the low 20 bits are the slot, the high 12 a generation that
/// changes when the slot is reused, so a closed socket's id is refused, not aliased.
const SLOT_BITS: u32 = 20;
/// Most sockets a stack can hold (`Limits::udp_sockets` is checked against it).
pub const MAX_SOCKETS: usize = 1 << SLOT_BITS;

fn slot_of(id: UdpSocketId) -> usize {
    (id.0 & ((1 << SLOT_BITS) - 1)) as usize
}

/// All bound UDP sockets.
#[derive(Debug)]
pub struct UdpSockets {
    slots: Vec<Option<(UdpSocketId, Socket)>>,
    free: Vec<u32>,
    generations: Vec<u16>,
    bound: usize,
    ports: Table<u16, PortEntry>,
    exact: Table<(Ipv4Addr, u16), UdpSocketId>,
    max_sockets: usize,
    max_datagrams: usize,
    max_bytes: usize,
    counters: UdpCounters,
    /// Hash-table operations performed, for operation-count tests.
    pub ops: u64,
}

impl UdpSockets {
    /// No sockets; bounds from `limits`, table keys from `rngs`.
    pub fn new(limits: &Limits, rngs: &mut Rngs) -> Self {
        let (a, b) = (rngs.u64(Purpose::TableKeys), rngs.u64(Purpose::TableKeys));
        let (c, d) = (rngs.u64(Purpose::TableKeys), rngs.u64(Purpose::TableKeys));
        UdpSockets {
            slots: Vec::new(),
            free: Vec::new(),
            generations: Vec::new(),
            bound: 0,
            ports: table(SeededState::new(a, b)),
            exact: table(SeededState::new(c, d)),
            max_sockets: limits.udp_sockets.min(MAX_SOCKETS),
            max_datagrams: limits.udp_rx_datagrams,
            max_bytes: limits.udp_rx_bytes,
            counters: UdpCounters::default(),
            ops: 0,
        }
    }

    fn is_bound(&mut self, addr: Ipv4Addr, port: u16) -> bool {
        self.ops += 1;
        let Some(e) = self.ports.get(&port).copied() else {
            return false;
        };
        if addr.is_unspecified() {
            return e.wildcard.is_some();
        }
        if e.exact == 0 {
            return false;
        }
        self.ops += 1;
        self.exact.contains_key(&(addr, port))
    }

    /// Binds `addr:port` (0.0.0.0 for any local address; port 0 for an ephemeral port chosen
    /// by RFC 6056 §3.3.1 "Algorithm 1": a random start, then the next free port).
    pub fn bind(
        &mut self,
        addr: Ipv4Addr,
        port: u16,
        rngs: &mut Rngs,
    ) -> Result<UdpSocketId, UdpError> {
        if self.bound >= self.max_sockets {
            return Err(UdpError::TooManySockets {
                limit: self.max_sockets,
            });
        }
        let port = if port == 0 {
            self.ephemeral(addr, rngs)?
        } else {
            port
        };
        if self.is_bound(addr, port) {
            return Err(UdpError::AddrInUse { addr, port });
        }
        let slot = match self.free.pop() {
            Some(s) => s as usize,
            None => {
                self.slots.push(None);
                self.generations.push(0);
                self.slots.len() - 1
            }
        };
        let generation = self.generations.get(slot).copied().unwrap_or(0);
        let id = UdpSocketId((u32::from(generation & 0x0fff) << SLOT_BITS) | slot as u32);
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some((
                id,
                Socket {
                    local: (addr, port),
                    meta: VecDeque::new(),
                    bytes: VecDeque::new(),
                },
            ));
        }
        let entry = self.ports.entry(port).or_default();
        if addr.is_unspecified() {
            entry.wildcard = Some(id);
        } else {
            entry.exact += 1;
            self.exact.insert((addr, port), id);
            self.ops += 1;
        }
        self.ops += 1;
        self.bound += 1;
        Ok(id)
    }

    fn ephemeral(&mut self, addr: Ipv4Addr, rngs: &mut Rngs) -> Result<u16, UdpError> {
        let span = u32::from(EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start()) + 1;
        let start = rngs.below(Purpose::EphemeralPorts, span);
        for i in 0..span {
            let port = *EPHEMERAL_PORTS.start() + u16::try_from((start + i) % span).unwrap_or(0);
            if !self.is_bound(addr, port) && !self.is_bound(Ipv4Addr::UNSPECIFIED, port) {
                return Ok(port);
            }
        }
        Err(UdpError::NoFreePort)
    }

    fn socket(&self, id: UdpSocketId) -> Option<&Socket> {
        match self.slots.get(slot_of(id))? {
            Some((sid, s)) if *sid == id => Some(s),
            _ => None,
        }
    }

    #[inline]
    fn socket_mut(&mut self, id: UdpSocketId) -> Option<&mut Socket> {
        match self.slots.get_mut(slot_of(id))? {
            Some((sid, s)) if *sid == id => Some(s),
            _ => None,
        }
    }

    /// Closes a socket, dropping what it had queued.
    pub fn close(&mut self, id: UdpSocketId) -> Result<(), UdpError> {
        let local = self.socket(id).ok_or(UdpError::NoSuchSocket(id))?.local;
        let slot = slot_of(id);
        if let Some(s) = self.slots.get_mut(slot) {
            *s = None;
        }
        if let Some(g) = self.generations.get_mut(slot) {
            *g = g.wrapping_add(1) & 0x0fff;
        }
        self.free.push(slot as u32);
        self.bound -= 1;
        let (addr, port) = local;
        self.ops += 1;
        if let Some(e) = self.ports.get_mut(&port) {
            if addr.is_unspecified() {
                e.wildcard = None;
            } else {
                e.exact = e.exact.saturating_sub(1);
                self.exact.remove(&local);
                self.ops += 1;
            }
            if e.wildcard.is_none() && e.exact == 0 {
                self.ports.remove(&port);
            }
        }
        Ok(())
    }

    /// The socket's local address and port.
    pub fn local(&self, id: UdpSocketId) -> Option<(Ipv4Addr, u16)> {
        self.socket(id).map(|s| s.local)
    }

    /// The socket a datagram to `dst:port` goes to: the exact local address first, then the
    /// wildcard (RFC 1122 §4.1.3.4 leaves the choice to the host; this is the usual one).
    /// One hash lookup when the port has no address-specific binding, two otherwise.
    #[inline]
    pub fn lookup(&mut self, dst: Ipv4Addr, port: u16) -> Option<UdpSocketId> {
        self.ops += 1;
        let e = *self.ports.get(&port)?;
        if e.exact > 0 {
            self.ops += 1;
            if let Some(id) = self.exact.get(&(dst, port)) {
                return Some(*id);
            }
        }
        e.wildcard
    }

    /// Queues a received datagram for its socket (its payload is copied into the socket's
    /// ring). Returns the socket, or `NoSocket` when no socket is bound (counted
    /// `rx_no_socket`; the stack may answer with port unreachable), or `QueueFull` when the
    /// queue is full (counted `rx_queue_full`, the datagram is dropped).
    #[inline]
    pub fn deliver(
        &mut self,
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        payload: &[u8],
    ) -> Deliver {
        self.counters.rx_datagrams += 1;
        let Some(id) = self.lookup(dst.0, dst.1) else {
            self.counters.rx_no_socket += 1;
            return Deliver::NoSocket;
        };
        let (max_datagrams, max_bytes) = (self.max_datagrams, self.max_bytes);
        let Some(s) = self.socket_mut(id) else {
            self.counters.rx_no_socket += 1;
            return Deliver::NoSocket;
        };
        if s.meta.len() >= max_datagrams || s.bytes.len() + payload.len() > max_bytes {
            self.counters.rx_queue_full += 1;
            return Deliver::QueueFull(id);
        }
        let was_empty = s.meta.is_empty();
        s.bytes.extend(payload);
        s.meta.push_back(RecvMeta {
            src,
            dst,
            len: payload.len(),
            truncated: false,
        });
        self.counters.rx_delivered += 1;
        Deliver::Queued {
            socket: id,
            was_empty,
        }
    }

    /// The next datagram queued for `id`, as an owned value.
    pub fn recv(&mut self, id: UdpSocketId) -> Result<Option<Datagram>, UdpError> {
        let s = self.socket_mut(id).ok_or(UdpError::NoSuchSocket(id))?;
        let Some(m) = s.meta.pop_front() else {
            return Ok(None);
        };
        let payload: Vec<u8> = s.bytes.drain(..m.len.min(s.bytes.len())).collect();
        Ok(Some(Datagram {
            src: m.src,
            dst: m.dst,
            payload,
        }))
    }

    /// Copies the next datagram queued for `id` into `buf` without allocating; a payload
    /// longer than `buf` is cut and the rest discarded (`truncated` says so).
    #[inline]
    pub fn recv_into(
        &mut self,
        id: UdpSocketId,
        buf: &mut [u8],
    ) -> Result<Option<RecvMeta>, UdpError> {
        let s = self.socket_mut(id).ok_or(UdpError::NoSuchSocket(id))?;
        let Some(mut m) = s.meta.pop_front() else {
            return Ok(None);
        };
        let len = m.len.min(s.bytes.len());
        let n = len.min(buf.len());
        let (a, b) = s.bytes.as_slices();
        let from_a = n.min(a.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..from_a), a.get(..from_a)) {
            dst.copy_from_slice(src);
        }
        if let (Some(dst), Some(src)) = (buf.get_mut(from_a..n), b.get(..n - from_a)) {
            dst.copy_from_slice(src);
        }
        s.bytes.drain(..len);
        if s.meta.is_empty() {
            // An empty ring starts again at its front, so a socket drained after each burst
            // never has a datagram wrapped around the end (see `recv_with`).
            s.bytes.clear();
        }
        m.truncated = n < m.len;
        m.len = n;
        Ok(Some(m))
    }

    /// Lends the next datagram queued for `id` to `f` without copying it out (the payload is
    /// a slice of the socket's ring; a datagram that wraps around the ring's end is first made
    /// contiguous, which a socket read after each burst never needs), then drops it.
    #[inline]
    pub fn recv_with<R>(
        &mut self,
        id: UdpSocketId,
        f: impl FnOnce(&RecvMeta, &[u8]) -> R,
    ) -> Result<Option<R>, UdpError> {
        let s = self.socket_mut(id).ok_or(UdpError::NoSuchSocket(id))?;
        let Some(m) = s.meta.pop_front() else {
            return Ok(None);
        };
        let len = m.len.min(s.bytes.len());
        if s.bytes.as_slices().0.len() < len {
            s.bytes.make_contiguous();
        }
        let r = f(&m, s.bytes.as_slices().0.get(..len).unwrap_or_default());
        s.bytes.drain(..len);
        if s.meta.is_empty() {
            s.bytes.clear();
        }
        Ok(Some(r))
    }

    /// Number of bound sockets.
    pub fn len(&self) -> usize {
        self.bound
    }

    /// True when no socket is bound.
    pub fn is_empty(&self) -> bool {
        self.bound == 0
    }

    /// Counters.
    pub fn counters(&self) -> &UdpCounters {
        &self.counters
    }

    /// Counters, for the stack to add what it counts itself (malformed, bad checksum, sent).
    pub fn counters_mut(&mut self) -> &mut UdpCounters {
        &mut self.counters
    }
}

/// What became of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deliver {
    /// Queued; `was_empty` tells the stack to raise a readable event.
    Queued {
        /// The socket.
        socket: UdpSocketId,
        /// The queue was empty before.
        was_empty: bool,
    },
    /// No socket is bound to the destination.
    NoSocket,
    /// The socket's queue was full; dropped.
    QueueFull(UdpSocketId),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(dst: Ipv4Addr, port: u16, len: usize) -> Datagram {
        Datagram {
            src: (Ipv4Addr::new(192, 0, 2, 9), 5000),
            dst: (dst, port),
            payload: alloc::vec![7; len],
        }
    }

    impl UdpSockets {
        fn deliver_owned(&mut self, d: Datagram) -> Deliver {
            self.deliver(d.src, d.dst, &d.payload)
        }
    }

    #[test]
    fn udp_exact_binding_wins_over_wildcard() {
        // RFC 1122 §4.1.3.4: the host chooses; the most specific binding is the usual rule.
        let mut rngs = Rngs::new(1);
        let mut u = UdpSockets::new(&Limits::default(), &mut rngs);
        let any = u.bind(Ipv4Addr::UNSPECIFIED, 53, &mut rngs).unwrap();
        let one = u.bind(Ipv4Addr::new(10, 0, 0, 1), 53, &mut rngs).unwrap();
        assert_eq!(u.lookup(Ipv4Addr::new(10, 0, 0, 1), 53), Some(one));
        assert_eq!(u.lookup(Ipv4Addr::new(10, 0, 0, 2), 53), Some(any));
        assert_eq!(u.lookup(Ipv4Addr::new(10, 0, 0, 2), 54), None);
        assert_eq!(
            u.bind(Ipv4Addr::UNSPECIFIED, 53, &mut rngs),
            Err(UdpError::AddrInUse {
                addr: Ipv4Addr::UNSPECIFIED,
                port: 53
            })
        );
        u.close(any).unwrap();
        assert_eq!(u.lookup(Ipv4Addr::new(10, 0, 0, 2), 53), None);
    }

    #[test]
    fn udp_receive_queue_is_bounded_and_drops_are_counted() {
        let limits = Limits {
            udp_rx_datagrams: 2,
            udp_rx_bytes: 100,
            ..Limits::default()
        };
        let mut rngs = Rngs::new(1);
        let mut u = UdpSockets::new(&limits, &mut rngs);
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let s = u.bind(a, 7, &mut rngs).unwrap();
        assert_eq!(
            u.deliver_owned(d(a, 7, 10)),
            Deliver::Queued {
                socket: s,
                was_empty: true
            }
        );
        assert_eq!(
            u.deliver_owned(d(a, 7, 10)),
            Deliver::Queued {
                socket: s,
                was_empty: false
            }
        );
        assert_eq!(u.deliver_owned(d(a, 7, 10)), Deliver::QueueFull(s));
        assert_eq!(u.recv(s).unwrap().unwrap().payload.len(), 10);
        // Bytes bound: 10 queued + 95 > 100.
        assert_eq!(u.deliver_owned(d(a, 7, 95)), Deliver::QueueFull(s));
        assert_eq!(u.deliver_owned(d(a, 8, 1)), Deliver::NoSocket);
        let c = u.counters();
        assert_eq!(
            (
                c.rx_datagrams,
                c.rx_delivered,
                c.rx_queue_full,
                c.rx_no_socket
            ),
            (5, 2, 2, 1)
        );
    }

    #[test]
    fn udp_recv_into_copies_without_allocating_and_reports_truncation() {
        let mut rngs = Rngs::new(9);
        let mut u = UdpSockets::new(&Limits::default(), &mut rngs);
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let s = u.bind(a, 7, &mut rngs).unwrap();
        let src = (Ipv4Addr::new(192, 0, 2, 9), 5000);
        // Enough traffic to wrap the byte ring.
        for round in 0..50u8 {
            let p1: Vec<u8> = (0..100).map(|i| i ^ round).collect();
            let p2 = alloc::vec![round; 30];
            assert!(matches!(
                u.deliver(src, (a, 7), &p1),
                Deliver::Queued { .. }
            ));
            assert!(matches!(
                u.deliver(src, (a, 7), &p2),
                Deliver::Queued { .. }
            ));
            let mut buf = [0u8; 100];
            let m = u.recv_into(s, &mut buf).unwrap().unwrap();
            assert_eq!((m.src, m.len, m.truncated), (src, 100, false));
            assert_eq!(&buf[..], &p1[..]);
            let mut small = [0u8; 10];
            let m = u.recv_into(s, &mut small).unwrap().unwrap();
            assert_eq!((m.len, m.truncated), (10, true), "cut to the buffer");
            assert_eq!(small, [round; 10]);
        }
        assert_eq!(
            u.recv_into(s, &mut [0u8; 4]).unwrap(),
            None,
            "the rest of a cut datagram is gone"
        );
    }

    #[test]
    fn udp_recv_with_lends_each_payload_even_across_the_ring_end() {
        let mut rngs = Rngs::new(11);
        let limits = Limits {
            udp_rx_bytes: 1000,
            ..Limits::default()
        };
        let mut u = UdpSockets::new(&limits, &mut rngs);
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let s = u.bind(a, 7, &mut rngs).unwrap();
        let src = (Ipv4Addr::new(192, 0, 2, 9), 5000);
        // Keep one datagram queued at all times so the ring never empties and must wrap.
        let mut next = 0u32;
        let payload = |n: u32| -> Vec<u8> { (0..(100 + n % 300)).map(|i| (i ^ n) as u8).collect() };
        assert!(matches!(
            u.deliver(src, (a, 7), &payload(0)),
            Deliver::Queued { .. }
        ));
        for n in 1..500u32 {
            assert!(matches!(
                u.deliver(src, (a, 7), &payload(n)),
                Deliver::Queued { .. }
            ));
            let got = u.recv_with(s, |m, p| (m.len, p.to_vec())).unwrap().unwrap();
            assert_eq!(got.1, payload(next), "datagram {next}");
            assert_eq!(got.0, got.1.len());
            next += 1;
        }
        let last = u.recv_with(s, |_, p| p.to_vec()).unwrap().unwrap();
        assert_eq!(last, payload(next));
        assert_eq!(u.recv_with(s, |_, p| p.len()).unwrap(), None);
    }

    #[test]
    fn udp_closed_socket_id_is_refused_after_its_slot_is_reused() {
        let mut rngs = Rngs::new(5);
        let mut u = UdpSockets::new(&Limits::default(), &mut rngs);
        let old = u.bind(Ipv4Addr::UNSPECIFIED, 7, &mut rngs).unwrap();
        u.close(old).unwrap();
        let new = u.bind(Ipv4Addr::UNSPECIFIED, 8, &mut rngs).unwrap();
        assert_ne!(old, new, "the slot is reused under a new generation");
        assert_eq!(u.recv(old), Err(UdpError::NoSuchSocket(old)));
        assert_eq!(u.close(old), Err(UdpError::NoSuchSocket(old)));
        assert_eq!(u.local(new), Some((Ipv4Addr::UNSPECIFIED, 8)));
        assert_eq!(u.len(), 1);
    }

    #[test]
    fn udp_ephemeral_ports_are_random_in_range_and_unique() {
        // RFC 6056 §3.3.1: a random starting point in the dynamic range.
        let seed = 6056;
        println!("seed {seed}");
        let mut rngs = Rngs::new(seed);
        let mut u = UdpSockets::new(&Limits::default(), &mut rngs);
        let mut ports = alloc::collections::BTreeSet::new();
        for _ in 0..1000 {
            let s = u.bind(Ipv4Addr::UNSPECIFIED, 0, &mut rngs).unwrap();
            let (_, p) = u.local(s).unwrap();
            assert!(EPHEMERAL_PORTS.contains(&p));
            assert!(ports.insert(p), "port {p} handed out twice");
        }
        let limits = Limits {
            udp_sockets: 3,
            ..Limits::default()
        };
        let mut small = UdpSockets::new(&limits, &mut rngs);
        for _ in 0..3 {
            small.bind(Ipv4Addr::UNSPECIFIED, 0, &mut rngs).unwrap();
        }
        assert_eq!(
            small.bind(Ipv4Addr::UNSPECIFIED, 0, &mut rngs),
            Err(UdpError::TooManySockets { limit: 3 })
        );
    }

    #[test]
    fn udp_demux_cost_does_not_grow_with_sockets() {
        // Operation counts, not time: one delivery costs the same with 10, 10,000 and 100,000
        // bound sockets.
        let mut costs = Vec::new();
        for n in [10u32, 10_000, 100_000] {
            let limits = Limits {
                udp_sockets: 200_000,
                ..Limits::default()
            };
            let mut rngs = Rngs::new(3);
            let mut u = UdpSockets::new(&limits, &mut rngs);
            for i in 0..n {
                u.bind(Ipv4Addr::from(0x0a00_0000 + i), 9, &mut rngs)
                    .unwrap();
            }
            let before = u.ops;
            let r = u.deliver_owned(d(Ipv4Addr::from(0x0a00_0000 + n / 2), 9, 4));
            assert!(matches!(r, Deliver::Queued { .. }));
            costs.push(u.ops - before);
        }
        println!("table operations per delivery at 10 / 10k / 100k sockets: {costs:?}");
        assert!(costs.windows(2).all(|w| w[0] == w[1]), "{costs:?}");
    }
}
