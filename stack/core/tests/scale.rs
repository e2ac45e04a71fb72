//! Operation counts at the `Stack` level (DESIGN.md, "Timers that scale"): the work one frame
//! or one timeout costs must not grow with the number of sockets, cache entries or partial
//! datagrams held. The stack counts its table operations (`udp_ops`) and its deadline-set
//! operations (`timer_ops`); each test builds the same situation at 10, 10,000 and 100,000
//! and asserts the counts are equal. Counts, not timings: the tests are deterministic.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;
use common::{IFACE, US, US_MAC, eth, peer};
use weft_core::time::{Duration, Instant};
use weft_core::{Event, InterfaceConfig, Limits, RxMeta, Stack, StackConfig, UdpSocketId};
use weft_wire::arp::ArpRepr;
use weft_wire::ethernet::EtherType;
use weft_wire::ipv4::{IpProtocol, Ipv4Repr};
use weft_wire::udp::UdpRepr;
use weft_wire::{Ipv4Addr, MacAddr};

const SIZES: [u64; 3] = [10, 10_000, 100_000];

/// Every bound raised past the largest size.
fn limits() -> Limits {
    Limits {
        udp_sockets: 200_000,
        arp_cache_entries: 200_000,
        reassembly_datagrams: 200_000,
        reassembly_bytes: 1 << 30,
        ..Limits::default()
    }
}

/// A stack and the buffers its driver uses.
struct Host {
    stack: Stack,
    now: Instant,
    tx: Vec<u8>,
    frame: Vec<u8>,
}

impl Host {
    /// A host at 10.0.0.1/8 whose start-up announcements (RFC 5227 §2.3) are over, so no
    /// timer is armed.
    fn new() -> Host {
        let mut c = StackConfig::new(7);
        c.add_interface(InterfaceConfig::ethernet(US_MAC, US, 8));
        c.limits = limits();
        let mut h = Host {
            stack: Stack::new(c, Instant::ZERO).unwrap(),
            now: Instant::ZERO,
            tx: vec![0; 2048],
            frame: vec![0; 1514],
        };
        while let Some(t) = h.stack.poll_timeout() {
            h.now = t;
            h.stack.handle_timeout(t);
            h.drain();
        }
        h.drain();
        assert_eq!(h.stack.poll_timeout(), None);
        h
    }

    fn drain(&mut self) {
        while self.stack.poll_transmit(self.now, &mut self.tx).is_some() {}
        while self.stack.poll_event().is_some() {}
    }

    fn deliver(&mut self, len: usize) {
        self.stack
            .handle_frame(self.now, IFACE, &self.frame[..len], RxMeta::default());
    }

    /// Handles the frame and returns the (UDP table, deadline set) operations it cost.
    fn ops_of_frame(&mut self, len: usize) -> (u64, u64) {
        let (u, t) = (self.stack.udp_ops(), self.stack.timer_ops());
        self.deliver(len);
        (self.stack.udp_ops() - u, self.stack.timer_ops() - t)
    }

    /// Runs `handle_timeout` at `at` and returns the deadline-set operations it cost.
    fn ops_of_timeout(&mut self, at: Instant) -> u64 {
        self.now = at;
        let t = self.stack.timer_ops();
        self.stack.handle_timeout(at);
        self.stack.timer_ops() - t
    }

    /// An ARP request for our address from the `i`th peer.
    fn arp_request(&mut self, i: u64) -> usize {
        let (ip, mac) = peer(i);
        let h = eth(&mut self.frame, mac, MacAddr::BROADCAST, EtherType::ARP);
        h + ArpRepr::request(mac, ip, US)
            .emit(&mut self.frame[h..])
            .unwrap()
    }

    /// An IPv4 datagram from the `i`th peer: `payload` at byte `offset` of datagram `ident`.
    fn ipv4(&mut self, i: u64, ident: u16, offset: usize, more: bool, payload: &[u8]) -> usize {
        let (src, mac) = peer(i);
        let ip = Ipv4Repr {
            src,
            dst: US,
            protocol: IpProtocol::UDP,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident,
            reserved_flag: false,
            dont_frag: false,
            more_frags: more,
            frag_offset_units: (offset / 8) as u16,
            options: Default::default(),
            options_padding: &[],
            payload_len: payload.len(),
        };
        let h = eth(&mut self.frame, mac, US_MAC, EtherType::IPV4);
        let n = ip.emit(&mut self.frame[h..]).unwrap();
        self.frame[h + n..h + n + payload.len()].copy_from_slice(payload);
        h + n + payload.len()
    }

    /// A whole UDP datagram from the `i`th peer to our `port`.
    fn udp(&mut self, i: u64, port: u16, payload: &[u8]) -> usize {
        let seg = udp_bytes(i, port, payload);
        self.ipv4(i, i as u16, 0, false, &seg)
    }
}

/// A UDP header and payload from the `i`th peer, port 5000, to our `port`, with its
/// checksum.
fn udp_bytes(i: u64, port: u16, payload: &[u8]) -> Vec<u8> {
    let repr = UdpRepr {
        src_port: 5000,
        dst_port: port,
        payload,
    };
    let mut seg = vec![0; repr.buffer_len()];
    repr.emit(peer(i).0, US, &mut seg).unwrap();
    seg
}

// ---------------------------------------------------------------------------------------------
// (a) Demultiplexing.

/// Operations (UDP table, deadline set) per step of the demultiplexing test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DemuxOps {
    bind: u64,
    exact: (u64, u64),
    wildcard: (u64, u64),
    unbound: (u64, u64),
}

/// `n` sockets: half bound to our address on ports 1 upwards, half to the wildcard on
/// ports 65534 downwards; port 65535 stays free. Then one datagram each to an exact-bound
/// port, a wildcard-bound port and the free port.
fn demux(n: u64) -> DemuxOps {
    let mut h = Host::new();
    let half = (n / 2) as u16;
    let mut bind = 0;
    let mut first_exact = None;
    let mut last_wildcard = None;
    for p in 1..=half {
        let before = h.stack.udp_ops();
        let id = h.stack.udp_bind(US, p).unwrap();
        bind = h.stack.udp_ops() - before;
        first_exact.get_or_insert(id);
    }
    for p in (65535 - half)..=65534 {
        last_wildcard = Some(h.stack.udp_bind(Ipv4Addr::UNSPECIFIED, p).unwrap());
    }
    let (exact_id, wild_id): (UdpSocketId, UdpSocketId) =
        (first_exact.unwrap(), last_wildcard.unwrap());
    assert_eq!(h.stack.udp_local(exact_id), Some((US, 1)));
    assert_eq!(
        h.stack.udp_local(wild_id),
        Some((Ipv4Addr::UNSPECIFIED, 65534))
    );

    let len = h.udp(0, 1, b"exact");
    let exact = h.ops_of_frame(len);
    let len = h.udp(0, 65534, b"wildcard");
    let wildcard = h.ops_of_frame(len);
    let len = h.udp(0, 65535, b"nobody");
    let unbound = h.ops_of_frame(len);

    // Each went where RFC 1122 §4.1.3.4's demultiplexing sends it.
    let d = h.stack.udp_recv(exact_id).unwrap().unwrap();
    assert_eq!((d.payload.as_slice(), d.dst), (&b"exact"[..], (US, 1)));
    let d = h.stack.udp_recv(wild_id).unwrap().unwrap();
    assert_eq!(d.payload, b"wildcard");
    assert_eq!(d.src, (peer(0).0, 5000));
    let c = h.stack.counters();
    assert_eq!(c.udp.rx_delivered, 2);
    assert_eq!(c.udp.rx_no_socket, 1);
    // RFC 1122 §4.1.3.1: the free port is answered with a port unreachable (it waits for
    // the peer's MAC), when the stack has ICMP.
    assert_eq!(c.icmp.errors_sent, u64::from(cfg!(feature = "icmp")));
    let mut readable = 0;
    while let Some(e) = h.stack.poll_event() {
        if matches!(e, Event::UdpReadable { .. }) {
            readable += 1;
        }
    }
    assert_eq!(readable, 2);
    DemuxOps {
        bind,
        exact,
        wildcard,
        unbound,
    }
}

#[test]
fn scale_udp_demultiplexing_costs_the_same_at_any_socket_count() {
    let mut all = Vec::new();
    for n in SIZES {
        let ops = demux(n);
        println!(
            "{n:>7} sockets: bind {} table ops; (table, deadline-set) ops per datagram: to an exact-bound port {:?}, to a wildcard-bound port {:?}, to a free port {:?}",
            ops.bind, ops.exact, ops.wildcard, ops.unbound
        );
        all.push(ops);
    }
    assert!(all.iter().all(|o| *o == all[0]), "{all:?}");
    // Hash lookups only (the socket itself is a slab slot): the port, then the address when
    // the port has an address-specific binding; never a scan.
    assert_eq!(all[0].exact.0, 2);
    assert_eq!(all[0].wildcard.0, 1);
    assert_eq!(all[0].unbound.0, 1);
}

// ---------------------------------------------------------------------------------------------
// (b) Timers.

/// Deadline-set operations per step of a timer test, and the earliest deadline seen
/// relative to where it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimerOps {
    /// A frame adding one more timer (not the earliest).
    add: u64,
    /// A frame that removes or moves the earliest timer.
    move_earliest: u64,
    /// `handle_timeout` at the earliest deadline: one timer fires.
    fire_one: u64,
    /// `handle_timeout` again at the same instant: nothing is due.
    fire_none: u64,
}

/// `n` ARP cache entries learned 1 µs apart (RFC 826: requests for our address teach us
/// their sender), each expiring `arp_entry_lifetime` later (RFC 1122 §2.3.2.1).
fn arp_timers(n: u64) -> TimerOps {
    let mut h = Host::new();
    let lifetime = limits().arp_entry_lifetime;
    let t0 = Instant::from_secs(10);
    let at = |i: u64| t0 + Duration::from_micros(i);
    for i in 0..n {
        h.now = at(i);
        let len = h.arp_request(i);
        h.deliver(len);
        if i % 512 == 511 {
            h.drain();
        }
    }
    h.drain();
    assert_eq!(h.stack.counters().arp.entries_updated, n);
    assert_eq!(h.stack.poll_timeout(), Some(at(0) + lifetime));

    // A new sender: one more entry, expiring last; the earliest deadline does not move.
    h.now = at(n);
    let len = h.arp_request(n);
    let (_, add) = h.ops_of_frame(len);
    assert_eq!(h.stack.poll_timeout(), Some(at(0) + lifetime));
    // The first sender again: its entry is refreshed (RFC 826 merge), so the earliest is
    // now the second sender's.
    let len = h.arp_request(0);
    let (_, move_earliest) = h.ops_of_frame(len);
    assert_eq!(h.stack.poll_timeout(), Some(at(1) + lifetime));
    // It expires, and only it.
    let fire_one = h.ops_of_timeout(at(1) + lifetime);
    assert_eq!(h.stack.poll_timeout(), Some(at(2) + lifetime));
    assert_eq!(h.stack.arp_lookup(h.now, IFACE, peer(1).0), None);
    assert_eq!(h.stack.arp_lookup(h.now, IFACE, peer(2).0), Some(peer(2).1));
    assert_eq!(h.stack.arp_lookup(h.now, IFACE, peer(0).0), Some(peer(0).1));
    assert_eq!(h.stack.counters().arp.expirations, 1);
    let fire_none = h.ops_of_timeout(at(1) + lifetime);
    assert_eq!(h.stack.poll_timeout(), Some(at(2) + lifetime));
    TimerOps {
        add,
        move_earliest,
        fire_one,
        fire_none,
    }
}

/// `n` partial datagrams, each missing its first fragment, started 1 µs apart, each expiring
/// `reassembly_timeout` after its first fragment (RFC 1122 §3.3.2).
fn reassembly_timers(n: u64) -> TimerOps {
    let mut h = Host::new();
    let timeout = limits().reassembly_timeout;
    let socket = h.stack.udp_bind(Ipv4Addr::UNSPECIFIED, 9).unwrap();
    let t0 = Instant::from_secs(10);
    let at = |i: u64| t0 + Duration::from_micros(i);
    // Datagram `i`: a UDP datagram of 16 bytes to port 9 in two 8-byte fragments; the
    // second (last, MF clear) is sent first.
    fn second_half(h: &mut Host, i: u64) -> usize {
        let seg = udp_bytes(i, 9, &i.to_be_bytes());
        h.ipv4(i, i as u16, 8, false, &seg[8..])
    }
    for i in 0..n {
        h.now = at(i);
        let len = second_half(&mut h, i);
        h.deliver(len);
    }
    h.drain();
    assert_eq!(h.stack.counters().ipv4.rx_fragments, n);
    assert_eq!(h.stack.poll_timeout(), Some(at(0) + timeout));

    // A new datagram's fragment: its deadline is the latest; the earliest does not move.
    h.now = at(n);
    let len = second_half(&mut h, n);
    let (_, add) = h.ops_of_frame(len);
    assert_eq!(h.stack.poll_timeout(), Some(at(0) + timeout));
    // The first datagram's first fragment completes it (RFC 791 §3.2); it is delivered and
    // the earliest deadline becomes the second datagram's.
    let seg = udp_bytes(0, 9, &0u64.to_be_bytes());
    let len = h.ipv4(0, 0, 0, true, &seg[..8]);
    let (_, move_earliest) = h.ops_of_frame(len);
    assert_eq!(h.stack.poll_timeout(), Some(at(1) + timeout));
    let d = h.stack.udp_recv(socket).unwrap().unwrap();
    assert_eq!(
        (d.src, d.payload),
        ((peer(0).0, 5000), 0u64.to_be_bytes().to_vec())
    );
    // The second datagram times out, and only it (no fragment zero: no ICMP, RFC 1122
    // §3.3.2).
    let fire_one = h.ops_of_timeout(at(1) + timeout);
    assert_eq!(h.stack.poll_timeout(), Some(at(2) + timeout));
    let c = h.stack.counters();
    assert_eq!((c.ipv4.reassembled, c.ipv4.reassembly_timeouts), (1, 1));
    assert_eq!(c.icmp.errors_sent, 0);
    let fire_none = h.ops_of_timeout(at(1) + timeout);
    assert_eq!(h.stack.poll_timeout(), Some(at(2) + timeout));
    TimerOps {
        add,
        move_earliest,
        fire_one,
        fire_none,
    }
}

fn check_timers(what: &str, run: fn(u64) -> TimerOps) {
    let mut all = Vec::new();
    for n in SIZES {
        let ops = run(n);
        println!(
            "{n:>7} {what}: deadline-set ops for a frame adding a timer {}, a frame moving the earliest {}, a timeout firing one {}, a timeout with nothing due {}",
            ops.add, ops.move_earliest, ops.fire_one, ops.fire_none
        );
        all.push(ops);
    }
    assert!(all.iter().all(|o| *o == all[0]), "{what}: {all:?}");
    // Nothing moves for a timer that is not the earliest; moving the earliest later pops the
    // heap's top entry and pushes it back (the deadline set updates lazily, see
    // weft_core::timer); firing is a pop and the owner's next deadline pushed back.
    assert_eq!(
        all[0],
        TimerOps {
            add: 0,
            move_earliest: 2,
            fire_one: 2,
            fire_none: 0
        },
        "{what}"
    );
}

#[test]
fn scale_arp_expiry_timers_cost_the_same_at_any_cache_size() {
    check_timers("ARP entries", arp_timers);
}

#[test]
fn scale_reassembly_timers_cost_the_same_at_any_number_of_partial_datagrams() {
    check_timers("partial datagrams", reassembly_timers);
}
