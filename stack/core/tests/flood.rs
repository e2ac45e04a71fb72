//! Memory under floods (DESIGN.md, "Bounded everything"; docs/bounds.md).
//!
//! A million valid frames of one kind go to a `Stack` through `handle_frame`, with a driver
//! that services timers, drains `poll_transmit` and `poll_event` after every batch. A counting
//! global allocator measures the live heap: its peak during the flood must stay under a bound
//! computed from the `Limits` that docs/bounds.md documents (it must not grow with the number
//! of frames), the drop counters of the bound must show that the flood reached it, and once
//! the flood is over and its state has expired the heap must be back near where it started.
//!
//! The allocator is global to this test binary, so the tests take a lock and run one at a
//! time; every buffer the flood needs is allocated before the baseline is read.

#![allow(unsafe_code)] // the counting allocator wraps `System`
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;
use common::{IFACE, US, US_MAC, eth, peer};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use weft_core::reassembly::{DATAGRAM_OVERHEAD, FRAGMENT_OVERHEAD};
use weft_core::time::{Duration, Instant};
use weft_core::{InterfaceConfig, Limits, RxMeta, Stack, StackConfig};
use weft_wire::arp::{ArpOperation, ArpRepr};
use weft_wire::ethernet::EtherType;
use weft_wire::ipv4::{IpProtocol, Ipv4Repr};
use weft_wire::udp::UdpRepr;
use weft_wire::{Ipv4Addr, MacAddr};

// ---------------------------------------------------------------------------------------------
// The counting allocator.

/// `System`, counting the bytes currently allocated and their high-water mark.
#[derive(Debug)]
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(n: usize) {
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator (hence by `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The floods measure one global counter: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a measurement: the peak restarts from the bytes live now, which are returned.
fn baseline() -> usize {
    let l = live();
    PEAK.store(l, Ordering::Relaxed);
    l
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// Costs used in the bounds. Each is the heap one unit of bounded state may take, generously
// rounded up from what the data structures hold (docs/bounds.md, "Memory per bound").

/// An ARP cache entry: docs/bounds.md says ~40 bytes plus two table slots; B-tree nodes are
/// at least half full, so a slot costs at most twice its size (the map's is 20 bytes, the
/// expiry index's 16) plus the interior nodes.
const ARP_ENTRY_COST: usize = 256;
/// A datagram held while its next hop is resolved: its bytes (an ICMP error is at most 576,
/// RFC 1812 §4.3.2.3) plus ~32 bytes (docs/bounds.md) and its queue slot.
const ARP_PENDING_COST: usize = 576 + 128;
/// A next hop being resolved: its map entry, its schedule entry and its queue.
const ARP_RESOLUTION_COST: usize = 512;
/// A frame waiting in the transmit queue: its slot and buffer, besides the frame's bytes.
const TX_FRAME_COST: usize = 96;
/// A queued UDP datagram: payload plus ~48 bytes (docs/bounds.md) and its queue slot.
const UDP_DATAGRAM_COST: usize = 128;
/// What the stack's emptied structures keep after a flood: the transmit queue's ring keeps
/// the capacity it grew to (a slot is 32 bytes; the event ring stays small, events being
/// drained every batch), emptied trees keep a root node. Per transmit queue slot:
const RING_SLOT: usize = 48;
/// Headroom for everything else, in the bounds and after the flood (the test harness
/// allocates a little on other threads, too).
const SLACK: usize = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// The host under test and its driver.

/// Frames handled between two services of the stack (timers, transmit, events).
const BATCH: u64 = 4096;
const FRAMES: u64 = 1_000_000;

fn config(limits: Limits) -> StackConfig {
    let mut c = StackConfig::new(0x5eed);
    // A /8: every flooding source is on-link, so each answer needs its own ARP resolution.
    c.add_interface(InterfaceConfig::ethernet(US_MAC, US, 8));
    c.limits = limits;
    c
}

/// A driver as DESIGN.md describes it, with every buffer allocated up front.
struct Driver {
    stack: Stack,
    now: Instant,
    tx_buf: Vec<u8>,
    frame: Vec<u8>,
    payload: Vec<u8>,
    transmitted: u64,
    events: u64,
}

impl Driver {
    fn new(limits: Limits) -> Driver {
        let now = Instant::ZERO;
        let mut d = Driver {
            stack: Stack::new(config(limits), now).unwrap(),
            now,
            tx_buf: vec![0; 65_536],
            frame: vec![0; 1514],
            payload: (0..1480).map(|i| i as u8).collect(),
            transmitted: 0,
            events: 0,
        };
        // Start-up: the address comes up and is announced (RFC 5227 §2.3, twice, 2 s apart).
        d.advance_to(Instant::from_secs(5));
        d
    }

    /// Timers due, then every frame to send, then every event.
    fn service(&mut self) {
        if self.stack.poll_timeout().is_some_and(|t| t <= self.now) {
            self.stack.handle_timeout(self.now);
        }
        while self
            .stack
            .poll_transmit(self.now, &mut self.tx_buf)
            .is_some()
        {
            self.transmitted += 1;
        }
        while self.stack.poll_event().is_some() {
            self.events += 1;
        }
    }

    /// Lets time pass to `t`, firing every timer on the way at its own instant.
    fn advance_to(&mut self, t: Instant) {
        while let Some(due) = self.stack.poll_timeout().filter(|&d| d <= t) {
            self.now = self.now.max(due);
            self.service();
        }
        self.now = self.now.max(t);
        self.service();
    }

    /// Hands the first `len` bytes of `self.frame` to the stack.
    fn deliver(&mut self, len: usize) {
        self.stack
            .handle_frame(self.now, IFACE, &self.frame[..len], RxMeta::default());
    }

    /// Runs `frames` frames built by `build(i, driver)` (which returns the frame's length),
    /// `step` apart in time, servicing the stack after every batch.
    fn flood(
        &mut self,
        frames: u64,
        step: Duration,
        mut build: impl FnMut(u64, &mut Driver) -> usize,
    ) {
        for i in 0..frames {
            let len = build(i, self);
            self.deliver(len);
            self.now = self.now + step;
            if (i + 1) % BATCH == 0 {
                self.service();
            }
        }
        self.service();
    }
}

/// An Ethernet frame carrying `arp`, from its sender.
fn arp_frame(buf: &mut [u8], dst: MacAddr, arp: &ArpRepr) -> usize {
    let h = eth(buf, arp.sender_mac, dst, EtherType::ARP);
    h + arp.emit(&mut buf[h..]).unwrap()
}

fn ipv4_header<'a>(
    src: Ipv4Addr,
    protocol: IpProtocol,
    ident: u16,
    payload_len: usize,
) -> Ipv4Repr<'a> {
    Ipv4Repr {
        src,
        dst: US,
        protocol,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident,
        reserved_flag: false,
        dont_frag: false,
        more_frags: false,
        frag_offset_units: 0,
        options: Default::default(),
        options_padding: &[],
        payload_len,
    }
}

/// Prints and checks one flood's measurement.
fn report(name: &str, frames: u64, base: usize, bound: usize) -> usize {
    let growth = peak() - base;
    println!(
        "{name}: {frames} frames, peak {growth} bytes above the baseline of {base}, bound {bound}"
    );
    assert!(
        growth <= bound,
        "{name}: peak heap grew by {growth} bytes, over the bound of {bound}"
    );
    growth
}

/// After the flood and its expiry: the heap is back near the baseline.
fn check_returned(name: &str, base: usize, allowance: usize) {
    let now = live();
    let left = now.saturating_sub(base);
    println!("{name}: {left} bytes left above the baseline after expiry (allowed {allowance})");
    assert!(
        left <= allowance,
        "{name}: {left} bytes still held after the flood expired (allowed {allowance})"
    );
}

/// What emptied queues and trees may keep: the transmit ring's capacity.
fn retained(l: &Limits) -> usize {
    l.tx_queue_frames * RING_SLOT + SLACK
}

// ---------------------------------------------------------------------------------------------
// (a) ARP.

#[test]
fn flood_arp_distinct_senders_stays_within_the_cache_bound() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let limits = Limits::default();
    let mut d = Driver::new(limits);
    let before = d.stack.counters();
    let base = baseline();

    // Requests for our address and replies to us from a million distinct hosts: RFC 826 has
    // us learn every one (we are the target) and answer each request.
    d.flood(FRAMES, Duration::from_micros(10), |i, d| {
        let (ip, mac) = peer(i);
        if i % 2 == 0 {
            let req = ArpRepr::request(mac, ip, US);
            arp_frame(&mut d.frame, MacAddr::BROADCAST, &req)
        } else {
            let reply = ArpRepr {
                operation: ArpOperation::REPLY,
                sender_mac: mac,
                sender_ip: ip,
                target_mac: US_MAC,
                target_ip: US,
            };
            arp_frame(&mut d.frame, US_MAC, &reply)
        }
    });

    // Bound: the cache, and the transmit queue full of 42-byte replies. Nothing is pending.
    let bound = limits.arp_cache_entries * ARP_ENTRY_COST
        + limits.tx_queue_frames * (TX_FRAME_COST + 42)
        + SLACK;
    report("ARP flood", FRAMES, base, bound);
    let c = d.stack.counters();
    assert_eq!(c.arp.rx_packets - before.arp.rx_packets, FRAMES);
    assert_eq!(c.arp.entries_updated - before.arp.entries_updated, FRAMES);
    assert_eq!(c.arp.replies_sent - before.arp.replies_sent, FRAMES / 2);
    // The cache bound was hit: every entry beyond the 256th evicted one (none expired yet).
    assert_eq!(
        c.arp.evictions,
        FRAMES - limits.arp_cache_entries as u64,
        "{:?}",
        c.arp
    );
    assert!(c.queues.tx_queue_full > 0, "{:?}", c.queues);
    println!(
        "ARP flood: {} evictions, {} replies dropped on a full transmit queue, {} sent",
        c.arp.evictions, c.queues.tx_queue_full, d.transmitted
    );
    // The last 256 senders are the ones held.
    let (last_ip, last_mac) = peer(FRAMES - 1);
    assert_eq!(d.stack.arp_lookup(d.now, IFACE, last_ip), Some(last_mac));
    assert_eq!(d.stack.arp_lookup(d.now, IFACE, peer(0).0), None);

    // RFC 1122 §2.3.2.1: entries time out; afterwards nothing of the flood is left.
    let end = d.now + limits.arp_entry_lifetime + Duration::from_secs(1);
    d.advance_to(end);
    let c = d.stack.counters();
    assert_eq!(c.arp.expirations, limits.arp_cache_entries as u64);
    assert_eq!(d.stack.arp_lookup(d.now, IFACE, last_ip), None);
    assert_eq!(d.stack.poll_timeout(), None);
    check_returned("ARP flood", base, retained(&limits));
}

// ---------------------------------------------------------------------------------------------
// (b) Fragments.

/// The `i`th fragment of a flood: each from its own source, of its own datagram, never
/// completed. A quarter are fragment zero (MF set), so their expiry sends ICMP time exceeded
/// (RFC 1122 §3.3.2); the rest are middle or last fragments. `data` bytes long (a non-zero
/// multiple of 8 for all but last fragments).
fn fragment_frame(d: &mut Driver, i: u64, data: usize) -> usize {
    let (src, mac) = peer(i);
    let mut ip = ipv4_header(src, IpProtocol::UDP, i as u16, data);
    match i % 4 {
        0 => ip.more_frags = true,
        1 | 2 => {
            ip.more_frags = true;
            ip.frag_offset_units = 1 + (i % 1000) as u16;
        }
        _ => ip.frag_offset_units = 1 + (i % 1000) as u16,
    }
    let h = eth(&mut d.frame, mac, US_MAC, EtherType::IPV4);
    let n = ip.emit(&mut d.frame[h..]).unwrap();
    let at = h + n;
    d.frame[at..at + data].copy_from_slice(&d.payload[..data]);
    at + data
}

/// Bound on the ARP side of a flood whose ICMP errors go to distinct on-link sources: every
/// error waits for a resolution that never completes, at most `arp_pending_total` of them.
fn pending_bound(l: &Limits) -> usize {
    l.arp_pending_total * (ARP_PENDING_COST + ARP_RESOLUTION_COST)
}

#[test]
fn flood_fragments_of_distinct_datagrams_stays_within_the_reassembly_bound() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let limits = Limits::default();
    let mut d = Driver::new(limits);
    let base = baseline();

    // 50 µs apart: the flood lasts 50 s, so the first partial datagrams time out (30 s) and
    // make room for others while it runs.
    d.flood(FRAMES, Duration::from_micros(50), |i, d| {
        let data = 8 * (1 + (i % 185) as usize); // 8..=1480 bytes
        fragment_frame(d, i, data)
    });

    // Bound: `reassembly_datagrams` partial datagrams of one fragment each, at most 1480
    // bytes of data, each costing at most twice its charge (DATAGRAM_OVERHEAD and
    // FRAGMENT_OVERHEAD estimate the nodes and state); never more than twice
    // `reassembly_bytes`. Plus the ICMP errors their expiry sends, waiting on ARP, and the
    // transmit queue of ARP requests.
    let per_datagram = 2 * (DATAGRAM_OVERHEAD + FRAGMENT_OVERHEAD + 1480);
    let reassembly = (limits.reassembly_datagrams * per_datagram).min(2 * limits.reassembly_bytes);
    let bound =
        reassembly + pending_bound(&limits) + limits.tx_queue_frames * (TX_FRAME_COST + 60) + SLACK;
    report("fragment flood", FRAMES, base, bound);
    let c = d.stack.counters();
    println!(
        "fragment flood: {} fragments, {} refused (reassembly full), {} timed out, {} ICMP errors sent, {} rate-limited",
        c.ipv4.rx_fragments,
        c.ipv4.reassembly_full,
        c.ipv4.reassembly_timeouts,
        c.icmp.errors_sent,
        c.icmp.errors_rate_limited
    );
    assert_eq!(c.ipv4.rx_fragments, FRAMES);
    assert_eq!(c.ipv4.reassembled, 0);
    assert!(c.ipv4.reassembly_full > 0, "{:?}", c.ipv4);
    assert!(c.ipv4.reassembly_timeouts > 0, "{:?}", c.ipv4);

    // RFC 1122 §3.3.2: partial datagrams are dropped after the timeout; the resolutions for
    // the ICMP errors fail after `arp_max_requests` requests.
    let end = d.now + limits.reassembly_timeout + Duration::from_secs(10);
    d.advance_to(end);
    let c = d.stack.counters();
    // Every fragment was refused or timed out with its datagram.
    assert_eq!(c.ipv4.reassembly_full + c.ipv4.reassembly_timeouts, FRAMES);
    assert_eq!(d.stack.poll_timeout(), None);
    check_returned("fragment flood", base, retained(&limits));
}

#[test]
fn flood_tiny_fragments_stays_within_the_reassembly_byte_budget() {
    // docs/bounds.md: each fragment is charged its data + 64 bytes and each datagram 256
    // bytes, "so floods of tiny fragments stay bounded". With the datagram limit out of the
    // way, only the byte budget holds a flood of 8-byte fragments back.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let limits = Limits {
        reassembly_datagrams: 1 << 20,
        ..Limits::default()
    };
    let mut d = Driver::new(limits);
    let base = baseline();

    d.flood(FRAMES, Duration::from_micros(10), |i, d| {
        // Middle fragments only: no fragment zero, so no ICMP on expiry.
        let (src, mac) = peer(i);
        let mut ip = ipv4_header(src, IpProtocol::UDP, i as u16, 8);
        ip.more_frags = true;
        ip.frag_offset_units = 1;
        let h = eth(&mut d.frame, mac, US_MAC, EtherType::IPV4);
        let n = ip.emit(&mut d.frame[h..]).unwrap();
        d.frame[h + n..h + n + 8].copy_from_slice(&d.payload[..8]);
        h + n + 8
    });

    let charge = DATAGRAM_OVERHEAD + FRAGMENT_OVERHEAD + 8;
    let held = limits.reassembly_bytes / charge;
    let growth = peak() - base;
    println!(
        "tiny-fragment flood: at most {held} partial datagrams charged {charge} bytes each; {} bytes of heap each at the peak",
        growth / held
    );
    // Bound: the byte budget itself, plus a quarter for allocator rounding and the shared
    // map nodes: the per-datagram charge (DATAGRAM_OVERHEAD) is the measured heap cost of a
    // datagram holding one fragment (its state, a B-tree leaf, its expiry entry).
    let bound = limits.reassembly_bytes + limits.reassembly_bytes / 4 + SLACK;
    report("tiny-fragment flood", FRAMES, base, bound);
    let c = d.stack.counters();
    assert_eq!(c.ipv4.rx_fragments, FRAMES);
    assert!(c.ipv4.reassembly_full > 0, "{:?}", c.ipv4);
    assert_eq!(c.icmp.errors_sent, 0);

    let end = d.now + limits.reassembly_timeout + Duration::from_secs(1);
    d.advance_to(end);
    let c = d.stack.counters();
    assert_eq!(c.ipv4.reassembly_timeouts + c.ipv4.reassembly_full, FRAMES);
    assert_eq!(d.stack.poll_timeout(), None);
    check_returned("tiny-fragment flood", base, retained(&limits));
}

// ---------------------------------------------------------------------------------------------
// (c) UDP.

const BOUND_PORT: u16 = 7;

/// A UDP datagram from the `i`th peer to `dst_port` with `len` bytes of payload.
fn udp_frame(d: &mut Driver, i: u64, dst_port: u16, len: usize) -> usize {
    let (src, mac) = peer(i);
    let udp = UdpRepr {
        src_port: 1024 + (i % 60_000) as u16,
        dst_port,
        payload: &d.payload[..len],
    };
    let ip = ipv4_header(src, IpProtocol::UDP, i as u16, udp.buffer_len());
    let h = eth(&mut d.frame, mac, US_MAC, EtherType::IPV4);
    let n = ip.emit(&mut d.frame[h..]).unwrap();
    h + n + udp.emit(src, US, &mut d.frame[h + n..]).unwrap()
}

#[test]
fn flood_udp_to_an_unread_socket_and_closed_ports_stays_within_the_queue_bounds() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let limits = Limits::default();
    let mut d = Driver::new(limits);
    let socket = d.stack.udp_bind(Ipv4Addr::UNSPECIFIED, BOUND_PORT).unwrap();
    let events_before = d.events;
    let base = baseline();

    // A million datagrams to the socket, which is never read, and one in five of the flood
    // to ports nobody listens on: RFC 1122 §4.1.3.1 port unreachables, rate-limited
    // (RFC 1812 §4.3.2.8), each to a distinct on-link source that never answers ARP.
    let to_socket = FRAMES;
    let total = to_socket + to_socket / 4;
    d.flood(total, Duration::from_micros(8), |i, d| {
        let len = 1 + (i % 512) as usize;
        if i % 5 == 4 {
            let port = 20_000 + (i % 20_000) as u16;
            udp_frame(d, i, port, len)
        } else {
            udp_frame(d, i, BOUND_PORT, len)
        }
    });

    // Bound: the socket's queue (at most `udp_rx_datagrams` of at most 512 bytes, and never
    // more than `udp_rx_bytes` of payload), the port unreachables waiting on ARP, and the
    // transmit queue of ARP requests.
    let socket_queue = (limits.udp_rx_datagrams * 512).min(limits.udp_rx_bytes)
        + limits.udp_rx_datagrams * UDP_DATAGRAM_COST;
    let bound = socket_queue
        + pending_bound(&limits)
        + limits.tx_queue_frames * (TX_FRAME_COST + 60)
        + SLACK;
    report("UDP flood", total, base, bound);
    let c = d.stack.counters();
    println!(
        "UDP flood: {} delivered, {} dropped on the full socket queue, {} to closed ports, {} port unreachables sent, {} rate-limited, {} waiting on ARP dropped, {} failed resolution",
        c.udp.rx_delivered,
        c.udp.rx_queue_full,
        c.udp.rx_no_socket,
        c.icmp.errors_sent,
        c.icmp.errors_rate_limited,
        c.arp.pending_dropped,
        c.arp.resolution_failed
    );
    assert_eq!(c.udp.rx_datagrams, total);
    assert_eq!(c.udp.rx_delivered, limits.udp_rx_datagrams as u64);
    assert_eq!(
        c.udp.rx_queue_full,
        to_socket - limits.udp_rx_datagrams as u64
    );
    assert_eq!(c.udp.rx_no_socket, total - to_socket);
    if cfg!(feature = "icmp") {
        assert!(c.icmp.errors_sent > 0);
        assert!(c.icmp.errors_rate_limited > 0, "{:?}", c.icmp);
        // 10 s of flood: at most the burst plus 100 a second.
        let allowed =
            u64::from(limits.icmp_error_burst) + 11 * u64::from(limits.icmp_errors_per_sec);
        assert!(c.icmp.errors_sent <= allowed, "{:?}", c.icmp);
        // More unreachables wait for ARP than `arp_pending_total` allows.
        assert!(c.arp.pending_dropped > 0, "{:?}", c.arp);
    }
    // One readable event: the queue never emptied.
    assert_eq!(d.events - events_before, 1);

    // The ARP resolutions fail (RFC 1122 §2.3.2.2 leaves the reaction to the upper
    // layers); the socket still holds what it queued.
    let end = d.now + Duration::from_secs(10);
    d.advance_to(end);
    assert_eq!(d.stack.poll_timeout(), None);
    check_returned(
        "UDP flood (socket still bound)",
        base,
        socket_queue + retained(&limits),
    );
    d.stack.udp_close(socket).unwrap();
    check_returned("UDP flood (socket closed)", base, retained(&limits));
}
