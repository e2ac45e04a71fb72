//! Fuzz target body `stack_frames`: a configured [`Stack`] driven by an arbitrary sequence of
//! operations, with the stack's invariants checked after every one.
//!
//! The input is read with [`arbitrary::Unstructured`] into a small configuration (one or two
//! interfaces, static or DHCP addresses, small [`Limits`] so every bound is reached quickly)
//! and then, step by step, into operations:
//!
//! * a received frame built from weft-wire `Repr`s with valid checksums (Ethernet + ARP, or
//!   IPv4, possibly fragmented, carrying UDP, ICMP, DHCP or another protocol), its addresses
//!   biased to the stack's own and to what the stack itself sent (ARP targets it asked for,
//!   the xid of its last DHCP message, datagrams it sent to quote in ICMP errors), so frames
//!   get past the MAC and IP filters into the protocols;
//! * now and then raw or mutated bytes, or a frame the link claims to have checksummed;
//! * time steps, small and large, with `handle_timeout` whenever `poll_timeout` is due;
//! * UDP bind, send, receive and close, ping, DHCP release and restart, a `poll_transmit`
//!   into a buffer too small for the frame;
//! * TCP (see [`stack_tcp`]): listeners and connections opened with the configuration, a
//!   peer per 4-tuple played by the harness (SYN, SYN-ACK to the stack's SYN with the ISN it
//!   really sent, data in and out of order, FIN, RST, ACKs with plausible and implausible
//!   numbers, every kind of option, zero and small windows), and the socket calls (listen,
//!   accept, connect, send, receive, shutdown, close, abort, configure).
//!
//! After every step the harness does what a driver does (timers, then every transmission,
//! then every event) and panics on a broken invariant:
//!
//! * every frame the stack emits parses with weft-wire's checked parsers, with checksums that
//!   verify, from the interface's MAC and one of the host's addresses, within the MTU; emitted
//!   fragments are reassembled here and their transport checksum verified;
//! * `poll_timeout` is never due any more right after `handle_timeout(now)`;
//! * once `poll_transmit` has run dry, no ARP cache, DHCP client or the reassembly buffer has
//!   work due before its deadline in the stack's deadline set (none is late or missing);
//! * counters never decrease; every received frame and every queued frame is accounted for;
//! * bounds hold: transmit queue, event queue, ARP cache and pending datagrams, UDP sockets and
//!   UDP receive queues, TCP connections and listen backlogs never exceed their `Limits`;
//! * every TCP segment and event is checked as [`stack_tcp`] describes.
//!
//! The second target, [`tcp_ops`], drives two stacks back to back through the socket API.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::expect_used,
    missing_docs
)]

use crate::config::{IfaceId, InterfaceConfig, Ipv4Config, Limits, Route, StackConfig};
use crate::counters::Counters;
use crate::dhcp::client::DhcpMessage;
use crate::event::{Event, UdpSocketId};
use crate::link::{ChecksumState, RxMeta, TxMeta};
use crate::stack::{Stack, Transmit};
use crate::time::{Duration, Instant};
use arbitrary::Unstructured;
use arrayvec::ArrayVec;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::string::String;
use std::vec;
use std::vec::Vec;
use weft_wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use weft_wire::dhcp::{DhcpMessageType, DhcpOp, DhcpPacket, DhcpRepr};
use weft_wire::ethernet::{EtherType, EthernetFrame, EthernetRepr, HEADER_LEN, VlanTag};
use weft_wire::icmpv4::{
    DstUnreachableCode, Icmpv4Packet, Icmpv4Repr, Icmpv4Type, ParamProblemCode, QuotedDatagram,
    TimeExceededCode,
};
use weft_wire::ipv4::{IpProtocol, Ipv4Option, Ipv4Packet, Ipv4Repr};
use weft_wire::udp::{UdpChecksumVerdict, UdpPacket, UdpRepr};
use weft_wire::{ChecksumMode, Ipv4Addr, MacAddr};

mod stack_tcp;
pub mod tcp_ops;

pub use stack_tcp::TcpCoverage;
pub use tcp_ops::tcp_ops;

type Res<T> = arbitrary::Result<T>;

/// Operations per input at most.
const MAX_STEPS: usize = 256;
/// Room for the largest frame: a 65535-byte datagram behind an Ethernet header.
const BUF_LEN: usize = 65_535 + HEADER_LEN;
/// Fragments in one generated datagram at most.
const MAX_FRAGS: usize = 24;
/// What the harness remembers of the stack's output (ARP targets, datagrams, echoes).
const MEMORY: usize = 8;
/// Partial datagrams the harness reassembles from the stack's output at once.
const MAX_REASSEMBLY: usize = 32;
/// The first instant is below this (2^50 ns, about 13 days): far from `Instant::MAX`.
const MAX_START_NS: u64 = 1 << 50;

/// Fuzz body: never panics unless the stack breaks one of the invariants above.
pub fn stack_frames(data: &[u8]) {
    let _ = run(data);
}

/// What one run produced: a digest of every frame and event, in order (equal for equal
/// inputs: the stack is deterministic), the final counters, and the steps taken.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub digest: u64,
    pub counters: Counters,
    pub steps: usize,
    pub frames_out: u64,
    pub tcp: TcpCoverage,
}

/// Runs the body on `data` and reports what happened.
pub fn run(data: &[u8]) -> Outcome {
    let mut u = Unstructured::new(data);
    let mut h = match Harness::new(&mut u) {
        Ok(h) => h,
        Err(_) => return Harness::empty_outcome(),
    };
    if h.tcp_setup(&mut u).is_ok() {
        h.settle();
    }
    let mut steps = 0;
    while steps < MAX_STEPS && !u.is_empty() {
        steps += 1;
        if h.step(&mut u).is_err() {
            break;
        }
        h.settle();
    }
    // Then three days pass, deadline by deadline (64 at most): timers keep their promises
    // and the bounds still hold.
    let end = h.now + Duration::from_secs(3 * 86_400);
    h.run_timers(end, 64);
    h.settle();
    Outcome {
        digest: h.digest,
        counters: h.stack.counters(),
        steps,
        frames_out: h.emitted,
        tcp: h.tcp.cov,
    }
}

/// One interface as configured.
#[derive(Debug, Clone, Copy)]
struct IfcInfo {
    mac: MacAddr,
    mtu: u16,
    multicast: Option<MacAddr>,
    gateway: Option<Ipv4Addr>,
}

/// The last DHCP client message the stack sent on an interface.
#[derive(Debug, Clone, Copy)]
struct SeenDhcp {
    xid: u32,
    kind: Option<DhcpMessageType>,
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
    ciaddr: Ipv4Addr,
}

/// The datagram a fragment the stack sent belongs to: (src, dst, protocol, ident).
type FragKey = (Ipv4Addr, Ipv4Addr, u8, u16);

struct Harness {
    stack: Stack,
    now: Instant,
    limits: Limits,
    ttl: u8,
    ifaces: Vec<IfcInfo>,
    /// Every address an interface has held (static, or from `AddressUp`).
    ever_addrs: BTreeSet<Ipv4Addr>,
    /// Socket ids ever returned by `udp_bind`, and the ones still open with their address.
    ever_sockets: BTreeSet<UdpSocketId>,
    open: BTreeMap<UdpSocketId, (Ipv4Addr, u16)>,
    /// An application socket was bound to port 68 (the DHCP client's).
    app_port68: bool,
    /// ARP target addresses the stack asked for, per interface, newest last.
    arp_targets: VecDeque<(u8, Ipv4Addr)>,
    /// The last message of each interface's DHCP client (to answer it).
    dhcp_seen: BTreeMap<u8, SeenDhcp>,
    /// Leading bytes of datagrams the stack sent (to quote in ICMP errors).
    sent_datagrams: VecDeque<Vec<u8>>,
    /// Echo requests the stack sent: (destination, ident, seq_no, data).
    sent_echoes: VecDeque<(Ipv4Addr, u16, u16, Vec<u8>)>,
    /// The stack's fragments, reassembled to verify transport checksums.
    out_frags: BTreeMap<FragKey, BTreeMap<u16, (Vec<u8>, bool)>>,
    /// Frames handed to `handle_frame`, and frames taken from `poll_transmit`.
    frames_in: u64,
    emitted: u64,
    counters: Counters,
    digest: u64,
    buf: Vec<u8>,
    trace: bool,
    tcp: stack_tcp::TcpModel,
}

/// FNV-1a.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Asserts that no counter of `$new` is below the same counter of `$old`.
macro_rules! monotonic {
    ($old:expr, $new:expr; $($layer:ident { $($f:ident),* $(,)? })*) => {{
        let (old, new) = ($old, $new);
        $($(
            assert!(
                new.$layer.$f >= old.$layer.$f,
                "counter {}.{} went down: {} -> {}",
                stringify!($layer),
                stringify!($f),
                old.$layer.$f,
                new.$layer.$f
            );
        )*)*
    }};
}

/// Every counter of `new` is at least the one in `old`.
fn assert_monotonic(old: &Counters, new: &Counters) {
    if old == new {
        return;
    }
    monotonic!(old, new;
        ethernet { rx_frames, tx_frames, rx_malformed, rx_not_for_us, rx_unknown_ethertype,
            rx_vlan_tagged, rx_no_such_iface }
        arp { rx_packets, rx_malformed, replies_sent, requests_sent, entries_updated, evictions,
            expirations, pending_dropped, resolution_failed, conflicts }
        ipv4 { rx_datagrams, rx_delivered, rx_malformed, rx_bad_checksum, rx_not_for_us,
            rx_unknown_protocol, rx_fragments, reassembled, reassembly_overlaps, reassembly_full,
            reassembly_timeouts, tx_datagrams, tx_fragments, tx_no_route, tx_too_big }
        icmp { rx_messages, rx_malformed, echo_replies_sent, errors_delivered, errors_unmatched,
            errors_sent, errors_rate_limited }
        udp { rx_datagrams, rx_delivered, rx_malformed, rx_bad_checksum, rx_no_socket,
            rx_queue_full, tx_datagrams }
        dhcp { tx_messages, rx_messages, rx_ignored, leases, renewals, leases_lost, declines }
        queues { tx_queue_full, tx_buffer_too_small, events_dropped }
        tcp { rx_segments, rx_predicted, rx_bad_checksum, rx_malformed, rx_no_socket, rx_broadcast, tx_segments,
            rst_sent, backlog_drops, connection_limit, challenge_acks_limited, connects,
            passive_opens, tx_deferred, demux_ops }
    );
}

fn mac_of(ip: Ipv4Addr) -> MacAddr {
    let o = ip.octets();
    MacAddr([0x02, 0x01, o[0], o[1], o[2], o[3]])
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

fn subnet_broadcast((addr, prefix): (Ipv4Addr, u8)) -> Option<Ipv4Addr> {
    (prefix <= 30).then(|| Ipv4Addr::from(u32::from(addr) | !mask(prefix)))
}

/// The DHCP server this harness plays on interface `i`, and its pool.
fn dhcp_server(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 100 + i as u8, 0, 1)
}
fn dhcp_pool(i: usize, k: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 100 + i as u8, 0, 10 + k % 8)
}

fn bytes_up_to<'a>(u: &mut Unstructured<'a>, max: usize) -> Res<&'a [u8]> {
    let n = u.int_in_range(0..=max)?.min(u.len());
    u.bytes(n)
}

/// A payload of `len` bytes: from the input when it has them, else a pattern.
fn payload(u: &mut Unstructured<'_>, max: usize) -> Res<Vec<u8>> {
    let len = match u.int_in_range(0..=7u8)? {
        0..=4 => u.int_in_range(0..=64usize)?,
        5 | 6 => u.int_in_range(0..=max.min(1600))?,
        _ => u.int_in_range(0..=max)?,
    };
    let mut v: Vec<u8> = u.bytes(len.min(u.len()).min(32))?.to_vec();
    let fill = v.len();
    v.extend((fill..len).map(|i| (i as u8).wrapping_mul(31)));
    Ok(v)
}

fn eth_frame(dst: MacAddr, src: MacAddr, ethertype: EtherType, body: &[u8], pad: bool) -> Vec<u8> {
    let repr = EthernetRepr {
        dst,
        src,
        vlans: ArrayVec::new(),
        ethertype,
    };
    let mut f = vec![0u8; HEADER_LEN + body.len()];
    repr.emit(&mut f)
        .expect("an untagged Ethernet header emits");
    f[HEADER_LEN..].copy_from_slice(body);
    // Real links pad short frames to the 60-byte minimum; the stack must go by the lengths
    // in the headers.
    if pad && f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

fn ipv4_datagram(repr: &Ipv4Repr<'_>, body: &[u8]) -> Vec<u8> {
    debug_assert_eq!(repr.payload_len, body.len());
    let mut d = vec![0u8; repr.header_len() + body.len()];
    repr.emit(&mut d).expect("generated IPv4 header emits");
    d[repr.header_len()..].copy_from_slice(body);
    d
}

fn udp_bytes(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, body: &[u8]) -> Vec<u8> {
    let r = UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload: body,
    };
    let mut s = vec![0u8; r.buffer_len()];
    r.emit(src, dst, &mut s)
        .expect("generated UDP datagram emits");
    s
}

fn icmp_bytes(repr: &Icmpv4Repr<'_>) -> Vec<u8> {
    let mut m = vec![0u8; repr.buffer_len()];
    repr.emit(&mut m).expect("generated ICMP message emits");
    m
}

impl Harness {
    fn empty_outcome() -> Outcome {
        Outcome {
            digest: 0,
            counters: Counters::default(),
            steps: 0,
            frames_out: 0,
            tcp: TcpCoverage::default(),
        }
    }

    /// Reads the configuration and builds the stack.
    fn new(u: &mut Unstructured<'_>) -> Res<Harness> {
        let seed: u64 = u.arbitrary()?;
        let mut config = StackConfig::new(seed);
        let count = if u.ratio(1u8, 3u8)? { 2 } else { 1 };
        let mut ifaces = Vec::new();
        let mut static_addrs = Vec::new();
        for i in 0..count {
            let mac = if u.ratio(1u8, 8u8)? {
                let mut b: [u8; 6] = u.arbitrary()?;
                b[0] &= 0xfe; // unicast
                b[5] |= 1; // non-zero
                MacAddr(b)
            } else {
                MacAddr([0x02, 0, 0, 0, 0xaa, i as u8 + 1])
            };
            let mtu = match u.int_in_range(0..=5u8)? {
                0 => 68,
                1 => 576,
                2 => 9000,
                3 => u.int_in_range(68..=1600)?,
                _ => 1500,
            };
            let (ipv4, gateway) = match u.int_in_range(0..=7u8)? {
                0..=4 => {
                    let addr = match u.int_in_range(0..=3u8)? {
                        // Two interfaces on one network is allowed, and interesting.
                        0 => Ipv4Addr::new(10, 0, 0, 1 + i as u8),
                        1 => Ipv4Addr::new(192, 168, i as u8, 6),
                        _ => Ipv4Addr::new(10, i as u8, 0, 1),
                    };
                    let prefix_len = match u.int_in_range(0..=7u8)? {
                        0 => 16,
                        1 => 30,
                        2 => 31,
                        3 => 32,
                        4 => u.int_in_range(0..=32)?,
                        _ => 24,
                    };
                    let gateway = match u.int_in_range(0..=3u8)? {
                        0 => None,
                        1 => Some(Ipv4Addr::from(u32::from(addr) ^ 3)),
                        _ => Some(Ipv4Addr::from(
                            (u32::from(addr) & mask(prefix_len)) | (0xfe & !mask(prefix_len)),
                        )),
                    };
                    static_addrs.push(addr);
                    (
                        Ipv4Config::Static {
                            addr,
                            prefix_len,
                            gateway,
                        },
                        gateway,
                    )
                }
                5 | 6 => (Ipv4Config::Dhcp, None),
                _ => (Ipv4Config::None, None),
            };
            let multicast = u.ratio(1u8, 4u8)?.then_some(MacAddr([1, 0, 0x5e, 0, 0, 1]));
            config.add_interface(InterfaceConfig {
                mac,
                mtu,
                ipv4,
                multicast: multicast.into_iter().collect(),
            });
            ifaces.push(IfcInfo {
                mac,
                mtu,
                multicast,
                gateway,
            });
        }
        for _ in 0..u.int_in_range(0..=2u8)? {
            let iface = IfaceId(u.int_in_range(0..=count as u8 - 1)?);
            let route = match u.int_in_range(0..=2u8)? {
                0 => Route {
                    dest: Ipv4Addr::new(192, 0, 2, 0),
                    prefix_len: 24,
                    via: Some(Ipv4Addr::new(10, 0, 0, 254)),
                    iface,
                },
                1 => Route {
                    dest: Ipv4Addr::new(198, 51, 100, 0),
                    prefix_len: 24,
                    via: None,
                    iface,
                },
                _ => Route {
                    dest: Ipv4Addr::UNSPECIFIED,
                    prefix_len: 0,
                    via: Some(Ipv4Addr::new(10, 0, 0, 254)),
                    iface,
                },
            };
            config.routes.push(route);
        }
        let limits = if u.ratio(1u8, 8u8)? {
            Limits::default()
        } else {
            Limits {
                arp_cache_entries: u.int_in_range(1..=4)?,
                arp_entry_lifetime: Duration::from_millis(u.int_in_range(1..=120_000)?),
                arp_pending_per_dest: u.int_in_range(0..=4)?,
                arp_pending_total: u.int_in_range(1..=8)?,
                arp_retry_interval: Duration::from_millis(u.int_in_range(0..=3000)?),
                arp_max_requests: u.int_in_range(0..=4)?,
                reassembly_datagrams: u.int_in_range(1..=4)?,
                reassembly_bytes: match u.int_in_range(0..=3u8)? {
                    0 => u.int_in_range(0..=2048)?,
                    1 => 70_000,
                    _ => 8192,
                },
                reassembly_timeout: Duration::from_millis(u.int_in_range(0..=60_000)?),
                udp_sockets: u.int_in_range(1..=4)?,
                udp_rx_datagrams: u.int_in_range(1..=4)?,
                udp_rx_bytes: u.int_in_range(0..=4096)?,
                tx_queue_frames: match u.int_in_range(0..=3u8)? {
                    0 | 1 => u.int_in_range(1..=16)?,
                    _ => stack_tcp::BIG_TX_QUEUE,
                },
                event_queue: u.int_in_range(1..=8)?,
                icmp_errors_per_sec: u.int_in_range(0..=20)?,
                icmp_error_burst: u.int_in_range(0..=5)?,
                tcp_connections: u.int_in_range(1..=4)?,
                tcp_backlog: u.int_in_range(1..=4)?,
                tcp_challenge_acks_per_sec: u.int_in_range(0..=4)?,
            }
        };
        config.limits = limits;
        config.ttl = match u.int_in_range(0..=4u8)? {
            0 => 1,
            1 => 255,
            2 => u.arbitrary()?,
            _ => 64,
        };
        let now = match u.int_in_range(0..=3u8)? {
            0 => Instant::from_nanos(u.int_in_range(0..=MAX_START_NS)?),
            _ => Instant::ZERO,
        };
        config.tcp = stack_tcp::gen_tcp_config(u)?;
        if std::env::var_os("WEFT_FUZZ_TRACE").is_some() {
            std::eprintln!("{config:?}");
        }
        let ttl = config.ttl;
        let stack = Stack::new(config.clone(), now)
            .unwrap_or_else(|e| panic!("harness built an invalid configuration: {e}\n{config:?}"));
        let counters = stack.counters();
        Ok(Harness {
            stack,
            now,
            limits,
            ttl,
            ifaces,
            ever_addrs: static_addrs.into_iter().collect(),
            ever_sockets: BTreeSet::new(),
            open: BTreeMap::new(),
            app_port68: false,
            arp_targets: VecDeque::new(),
            dhcp_seen: BTreeMap::new(),
            sent_datagrams: VecDeque::new(),
            sent_echoes: VecDeque::new(),
            out_frags: BTreeMap::new(),
            frames_in: 0,
            emitted: 0,
            counters,
            digest: 0xcbf2_9ce4_8422_2325,
            buf: vec![0u8; BUF_LEN],
            trace: std::env::var_os("WEFT_FUZZ_TRACE").is_some(),
            tcp: stack_tcp::TcpModel::new(config.tcp),
        })
    }

    fn log(&self, what: impl FnOnce() -> String) {
        if self.trace {
            std::eprintln!("[{}] {}", self.now, what());
        }
    }

    // ---- choices biased to the stack's own addresses and to what it sent ----

    fn pick_iface(&self, u: &mut Unstructured<'_>) -> Res<usize> {
        u.int_in_range(0..=self.ifaces.len() - 1)
    }

    fn addr(&self, i: usize) -> Option<(Ipv4Addr, u8)> {
        self.stack.iface_addr(IfaceId(i as u8))
    }

    /// A neighbour on interface `i`'s network (or in the DHCP pool while it has no address).
    fn onlink_peer(&self, i: usize, k: u8) -> Ipv4Addr {
        match self.addr(i) {
            Some((a, p)) if p <= 30 => {
                let m = mask(p);
                let host = (u32::from(a).wrapping_add(1 + u32::from(k % 4))) & !m;
                Ipv4Addr::from((u32::from(a) & m) | host)
            }
            Some((a, _)) => Ipv4Addr::from(u32::from(a) ^ 1),
            None => dhcp_pool(i, k.wrapping_add(3)),
        }
    }

    fn gateway(&self, i: usize) -> Ipv4Addr {
        let lease = self
            .stack
            .dhcp_lease(IfaceId(i as u8))
            .and_then(|l| l.router);
        lease
            .or(self.ifaces[i].gateway)
            .unwrap_or_else(|| dhcp_server(i))
    }

    /// Any address a peer might use as a source or destination.
    fn pick_remote(&self, u: &mut Unstructured<'_>, i: usize) -> Res<Ipv4Addr> {
        let k: u8 = u.arbitrary()?;
        Ok(match u.int_in_range(0..=15u8)? {
            0..=5 => self.onlink_peer(i, k),
            6 => self.gateway(i),
            7 | 8 => self
                .arp_targets
                .iter()
                .rev()
                .find(|t| usize::from(t.0) == i)
                .map_or_else(|| self.onlink_peer(i, k), |t| t.1),
            9 => {
                let j = usize::from(k) % self.ifaces.len();
                self.addr(j).map_or(Ipv4Addr::UNSPECIFIED, |a| a.0)
            }
            10 => Ipv4Addr::new(192, 0, 2, k),
            11 => Ipv4Addr::UNSPECIFIED,
            12 => Ipv4Addr::BROADCAST,
            13 => self
                .addr(i)
                .and_then(subnet_broadcast)
                .unwrap_or(Ipv4Addr::new(224, 0, 0, 1)),
            14 => Ipv4Addr::new(224, 0, 0, k),
            _ => Ipv4Addr::from(u.arbitrary::<u32>()?),
        })
    }

    /// A destination address for a datagram to the stack.
    fn pick_dst_for_us(&self, u: &mut Unstructured<'_>, i: usize) -> Res<Ipv4Addr> {
        Ok(match u.int_in_range(0..=11u8)? {
            0..=6 => self.addr(i).map_or_else(|| dhcp_pool(i, 0), |a| a.0),
            7 => Ipv4Addr::BROADCAST,
            8 => self
                .addr(i)
                .and_then(subnet_broadcast)
                .unwrap_or(Ipv4Addr::BROADCAST),
            9 => {
                let j = (i + 1) % self.ifaces.len();
                self.addr(j).map_or(Ipv4Addr::BROADCAST, |a| a.0)
            }
            _ => self.pick_remote(u, i)?,
        })
    }

    fn pick_dst_mac(&self, u: &mut Unstructured<'_>, i: usize) -> Res<MacAddr> {
        let ifc = self.ifaces[i];
        Ok(match u.int_in_range(0..=15u8)? {
            0..=9 => ifc.mac,
            10 | 11 => MacAddr::BROADCAST,
            12 => ifc.multicast.unwrap_or(MacAddr([1, 0, 0x5e, 0, 0, 1])),
            13 => self.ifaces[(i + 1) % self.ifaces.len()].mac,
            14 => mac_of(Ipv4Addr::new(10, 0, 0, 2)),
            _ => MacAddr(u.arbitrary()?),
        })
    }

    fn pick_src_mac(&self, u: &mut Unstructured<'_>, i: usize, ip: Ipv4Addr) -> Res<MacAddr> {
        Ok(match u.int_in_range(0..=15u8)? {
            0..=11 => mac_of(ip),
            12 => self.ifaces[i].mac,
            13 => MacAddr::BROADCAST,
            14 => MacAddr::ZERO,
            _ => MacAddr(u.arbitrary()?),
        })
    }

    fn pick_socket(&self, u: &mut Unstructured<'_>) -> Res<UdpSocketId> {
        if !self.open.is_empty() && !u.ratio(1u8, 8u8)? {
            let n = u.int_in_range(0..=self.open.len() - 1)?;
            return Ok(*self.open.keys().nth(n).unwrap());
        }
        if !self.ever_sockets.is_empty() && u.ratio(1u8, 2u8)? {
            let n = u.int_in_range(0..=self.ever_sockets.len() - 1)?;
            return Ok(*self.ever_sockets.iter().nth(n).unwrap());
        }
        Ok(UdpSocketId(u.int_in_range(0..=8)?))
    }

    fn pick_port_for_us(&self, u: &mut Unstructured<'_>) -> Res<u16> {
        Ok(match u.int_in_range(0..=11u8)? {
            0..=5 if !self.open.is_empty() => {
                let n = u.int_in_range(0..=self.open.len() - 1)?;
                self.open.values().nth(n).unwrap().1
            }
            6 => 68,
            7 => 67,
            8 => 7,
            9 => u.int_in_range(49152..=65535)?,
            _ => u.arbitrary()?,
        })
    }

    // ---- steps ----

    fn step(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        match u.int_in_range(0..=159u8)? {
            100..=139 => self.op_tcp_segment(u),
            140..=159 => self.op_tcp_app(u),
            0..=29 => self.op_ipv4(u),
            30..=43 => self.op_arp(u),
            44..=55 => self.op_time(u),
            56..=62 => self.op_bind(u),
            63..=72 => self.op_send(u),
            73..=77 => self.op_recv(u),
            78..=80 => self.op_close(u),
            81..=85 => self.op_ping(u),
            86..=90 => self.op_mutated(u),
            91..=93 => self.op_odd_frame(u),
            94..=95 => self.op_dhcp_control(u),
            _ => self.op_small_poll(u),
        }
    }

    fn rx_meta(u: &mut Unstructured<'_>) -> Res<RxMeta> {
        Ok(RxMeta {
            checksum: match u.int_in_range(0..=15u8)? {
                0 => ChecksumState::Verified,
                1 => ChecksumState::Blank,
                _ => ChecksumState::Unknown,
            },
        })
    }

    /// Hands one frame to the stack, after an optional small delay, and checks the bounds.
    fn deliver(&mut self, u: &mut Unstructured<'_>, iface: usize, frame: &[u8], meta: RxMeta) {
        if let Ok(true) = u.ratio(1u8, 4u8) {
            let dt = u.int_in_range(0..=2_000_000u64).unwrap_or(0);
            self.now = self.now + Duration::from_nanos(dt);
        }
        let id = if let Ok(true) = u.ratio(1u8, 64u8) {
            // A frame on an interface the stack does not have: counted, nothing else.
            IfaceId(self.ifaces.len() as u8)
        } else {
            IfaceId(iface as u8)
        };
        self.log(|| format!("rx if{} {} bytes {:02x?}", id.0, frame.len(), frame));
        self.frames_in += 1;
        if usize::from(id.0) < self.ifaces.len() {
            self.record_tcp_input(frame, meta);
            let arp =
                EthernetFrame::new_checked(frame).is_ok_and(|f| f.ethertype() == EtherType::ARP);
            let pending = (0..self.ifaces.len()).any(|j| {
                self.stack
                    .arp_cache_len(IfaceId(j as u8))
                    .is_some_and(|(_, p)| p > 0)
            });
            self.tcp.stale |= arp && pending;
        }
        self.stack.handle_frame(self.now, id, frame, meta);
        self.check_bounds();
    }

    /// An IPv4 datagram (possibly fragmented) to the stack.
    fn op_ipv4(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = self.pick_iface(u)?;
        let frames = self.gen_ipv4(u, i)?;
        let meta = Self::rx_meta(u)?;
        for f in frames {
            self.deliver(u, i, &f, meta);
        }
        Ok(())
    }

    /// Frames of one IPv4 datagram, valid checksums, addressed (mostly) to the stack.
    fn gen_ipv4(&mut self, u: &mut Unstructured<'_>, i: usize) -> Res<Vec<Vec<u8>>> {
        let kind = u.int_in_range(0..=11u8)?;
        let (mut src, mut dst) = (self.pick_remote(u, i)?, self.pick_dst_for_us(u, i)?);
        let mut dst_mac = self.pick_dst_mac(u, i)?;
        let (protocol, body) = match kind {
            0..=3 => {
                let (sport, dport) = (
                    if u.ratio(1u8, 4u8)? {
                        53
                    } else {
                        u.arbitrary()?
                    },
                    self.pick_port_for_us(u)?,
                );
                let body = payload(u, 4000)?;
                let mut seg = udp_bytes(src, dst, sport, dport, &body);
                if u.ratio(1u8, 8u8)? {
                    // RFC 768: checksum zero means none was computed.
                    seg[6] = 0;
                    seg[7] = 0;
                }
                (IpProtocol::UDP, seg)
            }
            4 | 5 => {
                let (s, d, m, seg) = self.gen_dhcp_reply(u, i)?;
                (src, dst, dst_mac) = (s, d, m);
                (IpProtocol::UDP, seg)
            }
            6..=9 => {
                let (s, d, msg) = self.gen_icmp(u, i, src, dst)?;
                (src, dst) = (s, d);
                (IpProtocol::ICMP, msg)
            }
            _ => {
                let p = match u.int_in_range(0..=3u8)? {
                    0 => IpProtocol::TCP,
                    1 => IpProtocol::IGMP,
                    2 => IpProtocol(47),
                    _ => IpProtocol(u.arbitrary()?),
                };
                (p, bytes_up_to(u, 64)?.to_vec())
            }
        };
        let options: ArrayVec<Ipv4Option<'static>, 40> = match u.int_in_range(0..=15u8)? {
            0 => [Ipv4Option::RouterAlert(0)].into_iter().collect(),
            1 => [Ipv4Option::Nop; 4].into_iter().collect(),
            2 => [Ipv4Option::RecordRoute {
                pointer: 4,
                addresses: &[0; 8],
            }]
            .into_iter()
            .collect(),
            _ => ArrayVec::new(),
        };
        let flags: u8 = if u.ratio(1u8, 8u8)? {
            u.arbitrary()?
        } else {
            0
        };
        let repr = Ipv4Repr {
            src,
            dst,
            protocol,
            ttl: if u.ratio(1u8, 8u8)? {
                u.arbitrary()?
            } else {
                64
            },
            dscp: flags & 0x3f,
            ecn: flags >> 6,
            ident: u.arbitrary()?,
            reserved_flag: flags & 0x40 != 0 && flags & 1 != 0,
            dont_frag: flags & 0x80 != 0,
            more_frags: false,
            frag_offset_units: 0,
            options,
            options_padding: &[],
            payload_len: body.len(),
        };
        let pad = u.ratio(1u8, 2u8)?;
        let src_mac = self.pick_src_mac(u, i, src)?;
        let datagrams = if body.len() > 8 && u.ratio(1u8, 5u8)? {
            self.fragment(u, &repr, &body)?
        } else {
            vec![ipv4_datagram(&repr, &body)]
        };
        Ok(datagrams
            .iter()
            .map(|d| eth_frame(dst_mac, src_mac, EtherType::IPV4, d, pad))
            .collect())
    }

    /// Splits a datagram into fragments (RFC 791 §3.2), then reorders, drops, duplicates or
    /// adds overlapping or oversized pieces as the input says.
    fn fragment(
        &mut self,
        u: &mut Unstructured<'_>,
        repr: &Ipv4Repr<'static>,
        body: &[u8],
    ) -> Res<Vec<Vec<u8>>> {
        let parts = u.int_in_range(2..=6usize)?;
        let chunk = body.len().div_ceil(parts).next_multiple_of(8).max(8);
        let mut pieces: Vec<(u16, Vec<u8>, bool)> = Vec::new();
        let mut off = 0;
        while off < body.len() && pieces.len() < MAX_FRAGS {
            let end = (off + chunk).min(body.len());
            pieces.push(((off / 8) as u16, body[off..end].to_vec(), end < body.len()));
            off = end;
        }
        match u.int_in_range(0..=11u8)? {
            0 => pieces.reverse(),
            1 => {
                let (a, b) = (
                    u.int_in_range(0..=pieces.len() - 1)?,
                    u.int_in_range(0..=pieces.len() - 1)?,
                );
                pieces.swap(a, b);
            }
            2 => {
                let a = u.int_in_range(0..=pieces.len() - 1)?;
                pieces.remove(a);
            }
            3 => {
                let a = u.int_in_range(0..=pieces.len() - 1)?;
                let p = pieces[a].clone();
                pieces.push(p);
            }
            4 | 5 => {
                // An overlapping piece, with the same bytes or different ones.
                let start = u.int_in_range(0..=body.len() / 8)? * 8;
                let len = u.int_in_range(1..=body.len() + 16)?;
                let data: Vec<u8> = if u.ratio(1u8, 2u8)? {
                    (start..start + len)
                        .map(|j| body.get(j).copied().unwrap_or(0))
                        .collect()
                } else {
                    (0..len).map(|j| j as u8 ^ 0x5a).collect()
                };
                let at = u.int_in_range(0..=pieces.len())?;
                pieces.insert(at, ((start / 8) as u16, data, u.arbitrary()?));
            }
            6 => {
                // Past the 65535-byte limit when reassembled (the "ping of death").
                let len = u.int_in_range(8..=400)?;
                pieces.push((u.int_in_range(8180..=8191)?, vec![0x77; len], false));
            }
            7 => {
                if let Some(last) = pieces.last_mut() {
                    last.2 = true;
                }
            }
            _ => {}
        }
        Ok(pieces
            .into_iter()
            .map(|(units, data, mf)| {
                let r = Ipv4Repr {
                    more_frags: mf,
                    frag_offset_units: units,
                    payload_len: data.len(),
                    options: repr.options.clone(),
                    ..*repr
                };
                ipv4_datagram(&r, &data)
            })
            .collect())
    }

    /// A DHCP reply from the server this harness plays: (src, dst, dst MAC, UDP bytes).
    fn gen_dhcp_reply(
        &mut self,
        u: &mut Unstructured<'_>,
        i: usize,
    ) -> Res<(Ipv4Addr, Ipv4Addr, MacAddr, Vec<u8>)> {
        let mac = self.ifaces[i].mac;
        let seen = self.dhcp_seen.get(&(i as u8)).copied();
        let xid = match seen {
            Some(s) if !u.ratio(1u8, 16u8)? => s.xid,
            _ => u.arbitrary()?,
        };
        // Answer what the client asked (OFFER to DISCOVER, ACK or NAK to REQUEST), or not.
        let kind = match (u.int_in_range(0..=9u8)?, seen.and_then(|s| s.kind)) {
            (0..=6, Some(DhcpMessageType::Discover)) => DhcpMessageType::Offer,
            (0..=5, Some(DhcpMessageType::Request)) => DhcpMessageType::Ack,
            (6, Some(DhcpMessageType::Request)) => DhcpMessageType::Nak,
            (7, _) => DhcpMessageType::Offer,
            (8, _) => DhcpMessageType::Ack,
            _ => *u.choose(&[
                DhcpMessageType::Nak,
                DhcpMessageType::Discover,
                DhcpMessageType::Request,
                DhcpMessageType::Inform,
                DhcpMessageType::Other(13),
            ])?,
        };
        let server = match seen.and_then(|s| s.server) {
            Some(s) if !u.ratio(1u8, 8u8)? => s,
            _ => {
                if u.ratio(1u8, 8u8)? {
                    self.pick_remote(u, i)?
                } else {
                    dhcp_server(i)
                }
            }
        };
        let yiaddr = match u.int_in_range(0..=9u8)? {
            0..=6 => seen
                .and_then(|s| s.requested)
                .or_else(|| {
                    seen.map(|s| s.ciaddr)
                        .filter(|a| !a.is_unspecified() && kind == DhcpMessageType::Ack)
                })
                .unwrap_or_else(|| dhcp_pool(i, 0)),
            7 => dhcp_pool(i, u.arbitrary().unwrap_or(0)),
            8 => *u.choose(&[
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::BROADCAST,
                Ipv4Addr::new(224, 0, 0, 1),
                Ipv4Addr::new(127, 0, 0, 1),
                Ipv4Addr::new(10, 100 + i as u8, 0, 255),
                Ipv4Addr::new(10, 100 + i as u8, 0, 0),
            ])?,
            _ => Ipv4Addr::from(u.arbitrary::<u32>()?),
        };
        let mut m = DhcpMessage::new(DhcpOp::Reply, kind, xid, mac);
        if u.ratio(1u8, 16u8)? {
            m.op = DhcpOp::Request;
        }
        if u.ratio(1u8, 16u8)? {
            m.client_hardware_address = MacAddr(u.arbitrary()?);
        }
        if kind != DhcpMessageType::Nak {
            m.your_ip = yiaddr;
        }
        m.broadcast = u.arbitrary()?;
        m.server_identifier = (!u.ratio(1u8, 16u8)?).then_some(server);
        m.subnet_mask = match u.int_in_range(0..=7u8)? {
            0 => None,
            1 => Some(Ipv4Addr::new(255, 255, 0, 0)),
            2 => Some(Ipv4Addr::new(255, 255, 255, 252)),
            3 => Some(Ipv4Addr::new(255, 255, 255, 255)),
            4 => Some(Ipv4Addr::from(u.arbitrary::<u32>()?)),
            _ => Some(Ipv4Addr::new(255, 255, 255, 0)),
        };
        m.router = match u.int_in_range(0..=3u8)? {
            0 => None,
            1 => Some(self.pick_remote(u, i)?),
            _ => Some(server),
        };
        let secs = |u: &mut Unstructured<'_>| -> Res<u32> {
            Ok(match u.int_in_range(0..=7u8)? {
                0 => 0,
                1 => u32::MAX,
                2 => u.arbitrary()?,
                3 => u.int_in_range(1..=10)?,
                _ => u.int_in_range(10..=3600)?,
            })
        };
        if kind != DhcpMessageType::Nak {
            m.lease_time = if u.ratio(1u8, 16u8)? {
                None
            } else {
                Some(secs(u)?)
            };
            if u.ratio(1u8, 4u8)? {
                m.renewal_time = Some(secs(u)?);
            }
            if u.ratio(1u8, 4u8)? {
                m.rebinding_time = Some(secs(u)?);
            }
        }
        let mut msg = vec![0u8; m.buffer_len()];
        m.emit(&mut msg).expect("generated DHCP message emits");
        // RFC 2131 §4.1: to the client's MAC and yiaddr, or broadcast.
        let (dst, dst_mac) = match u.int_in_range(0..=3u8)? {
            0 => (yiaddr, mac),
            1 => (Ipv4Addr::BROADCAST, mac),
            2 => (self.pick_dst_for_us(u, i)?, self.pick_dst_mac(u, i)?),
            _ => (Ipv4Addr::BROADCAST, MacAddr::BROADCAST),
        };
        let sport = if u.ratio(1u8, 16u8)? { 1067 } else { 67 };
        let seg = udp_bytes(server, dst, sport, 68, &msg);
        self.log(|| format!("dhcp {kind:?} xid {xid:#x} yiaddr {yiaddr} to {dst}"));
        Ok((server, dst, dst_mac, seg))
    }

    /// An ICMP message: echo request or reply, an error quoting a datagram the stack sent,
    /// or another type. Returns (src, dst, message).
    fn gen_icmp(
        &mut self,
        u: &mut Unstructured<'_>,
        i: usize,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Res<(Ipv4Addr, Ipv4Addr, Vec<u8>)> {
        Ok(match u.int_in_range(0..=9u8)? {
            0..=2 => {
                let data = payload(u, 3000)?;
                let r = Icmpv4Repr::EchoRequest {
                    ident: u.arbitrary()?,
                    seq_no: u.arbitrary()?,
                    data: &data,
                };
                (src, dst, icmp_bytes(&r))
            }
            3 => {
                let echo = if self.sent_echoes.is_empty() || u.ratio(1u8, 4u8)? {
                    (src, u.arbitrary()?, u.arbitrary()?, payload(u, 64)?)
                } else {
                    let n = u.int_in_range(0..=self.sent_echoes.len() - 1)?;
                    self.sent_echoes[n].clone()
                };
                let r = Icmpv4Repr::EchoReply {
                    ident: echo.1,
                    seq_no: echo.2,
                    data: &echo.3,
                };
                (echo.0, dst, icmp_bytes(&r))
            }
            4..=8 => {
                // Quote a datagram the stack sent (so the error reaches its socket), a
                // synthesized one from a bound socket, or arbitrary bytes.
                let quoted: Vec<u8> = match u.int_in_range(0..=5u8)? {
                    0..=2 if !self.sent_datagrams.is_empty() => {
                        let n = u.int_in_range(0..=self.sent_datagrams.len() - 1)?;
                        self.sent_datagrams[n].clone()
                    }
                    0..=3 => {
                        let ours = self.addr(i).map_or(Ipv4Addr::UNSPECIFIED, |a| a.0);
                        let sport = self.open.values().next().map_or(49152, |s| s.1);
                        let body = payload(u, 32)?;
                        let seg = udp_bytes(ours, src, sport, u.arbitrary()?, &body);
                        let r = Ipv4Repr {
                            src: ours,
                            dst: src,
                            protocol: IpProtocol::UDP,
                            ttl: 64,
                            dscp: 0,
                            ecn: 0,
                            ident: 1,
                            reserved_flag: false,
                            dont_frag: false,
                            more_frags: false,
                            frag_offset_units: 0,
                            options: ArrayVec::new(),
                            options_padding: &[],
                            payload_len: seg.len(),
                        };
                        let mut d = ipv4_datagram(&r, &seg);
                        d.truncate(28);
                        d
                    }
                    _ => bytes_up_to(u, 60)?.to_vec(),
                };
                // The error comes from a router or the destination the datagram went to.
                let reporter = match Ipv4Packet::new_quoted(&quoted[..]) {
                    Ok(p) if u.ratio(1u8, 2u8)? => p.dst(),
                    _ => src,
                };
                let dst = match Ipv4Packet::new_quoted(&quoted[..]) {
                    Ok(p) if !u.ratio(1u8, 8u8)? => p.src(),
                    _ => dst,
                };
                let r = match u.int_in_range(0..=3u8)? {
                    0 | 1 => Icmpv4Repr::DstUnreachable {
                        code: DstUnreachableCode(u.int_in_range(0..=15)?),
                        next_hop_mtu: if u.ratio(1u8, 2u8)? {
                            u.arbitrary()?
                        } else {
                            0
                        },
                        unused: 0,
                        quoted: &quoted,
                    },
                    2 => Icmpv4Repr::TimeExceeded {
                        code: TimeExceededCode(u.int_in_range(0..=1)?),
                        unused: 0,
                        quoted: &quoted,
                    },
                    _ => Icmpv4Repr::ParameterProblem {
                        code: ParamProblemCode(0),
                        pointer: u.arbitrary()?,
                        unused: 0,
                        quoted: &quoted,
                    },
                };
                (reporter, dst, icmp_bytes(&r))
            }
            _ => {
                let data = bytes_up_to(u, 40)?;
                let r = Icmpv4Repr::Other {
                    msg_type: Icmpv4Type(*u.choose(&[13, 15, 17, 5, 9, 10, 42])?),
                    code: u.arbitrary()?,
                    rest_of_header: u.arbitrary()?,
                    data,
                };
                (src, dst, icmp_bytes(&r))
            }
        })
    }

    /// An ARP packet from a peer: a request for our address, a reply to what we asked, an
    /// announcement, a probe, a conflict with our address, or odd fields.
    fn gen_arp(&mut self, u: &mut Unstructured<'_>, i: usize) -> Res<Vec<u8>> {
        let ours = self.addr(i).map(|a| a.0);
        let asked = self
            .arp_targets
            .iter()
            .rev()
            .filter(|t| usize::from(t.0) == i)
            .nth(u.int_in_range(0..=2)?)
            .map(|t| t.1);
        let peer = self.pick_remote(u, i)?;
        let our_ip = ours.unwrap_or_else(|| dhcp_pool(i, 0));
        let mac = self.ifaces[i].mac;
        let mut repr = match u.int_in_range(0..=9u8)? {
            0..=2 => ArpRepr::request(mac_of(peer), peer, our_ip),
            3..=5 => {
                let ip = asked.unwrap_or(peer);
                ArpRepr {
                    operation: ArpOperation::REPLY,
                    sender_mac: mac_of(ip),
                    sender_ip: ip,
                    target_mac: mac,
                    target_ip: ours.unwrap_or(Ipv4Addr::UNSPECIFIED),
                }
            }
            6 => ArpRepr::announcement(mac_of(peer), peer),
            7 => ArpRepr::probe(mac_of(peer), asked.unwrap_or(our_ip)),
            // Another host claims our address, or the one we probe (RFC 5227 §2.1.1, §2.4).
            8 => ArpRepr::announcement(mac_of(peer), asked.unwrap_or(our_ip)),
            _ => ArpRepr {
                operation: ArpOperation(u.int_in_range(0..=3)?),
                sender_mac: MacAddr(u.arbitrary()?),
                sender_ip: self.pick_remote(u, i)?,
                target_mac: MacAddr(u.arbitrary()?),
                target_ip: self.pick_dst_for_us(u, i)?,
            },
        };
        if u.ratio(1u8, 16u8)? {
            repr.sender_mac = *u.choose(&[mac, MacAddr::BROADCAST, MacAddr::ZERO])?;
        }
        let mut body = [0u8; 28];
        repr.emit(&mut body).expect("generated ARP packet emits");
        let dst = match u.int_in_range(0..=7u8)? {
            0..=3 if repr.operation == ArpOperation::REPLY => mac,
            0..=5 => MacAddr::BROADCAST,
            6 => mac,
            _ => self.pick_dst_mac(u, i)?,
        };
        let src = if u.ratio(1u8, 16u8)? {
            MacAddr(u.arbitrary()?)
        } else {
            repr.sender_mac
        };
        self.log(|| format!("arp {repr}"));
        Ok(eth_frame(dst, src, EtherType::ARP, &body, u.arbitrary()?))
    }

    fn op_arp(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = self.pick_iface(u)?;
        let f = self.gen_arp(u, i)?;
        let meta = Self::rx_meta(u)?;
        self.deliver(u, i, &f, meta);
        Ok(())
    }

    /// A generated frame with some bytes changed, cut or extended, or plain input bytes.
    fn op_mutated(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = self.pick_iface(u)?;
        let mut frame = match u.int_in_range(0..=4u8)? {
            0 => {
                // Our MAC, then input bytes (any EtherType or length field, any payload).
                let mut f = self.ifaces[i].mac.0.to_vec();
                f.extend_from_slice(bytes_up_to(u, 200)?);
                f
            }
            1 => self.gen_arp(u, i)?,
            2 => self.gen_tcp_frame(u, i)?,
            _ => self.gen_ipv4(u, i)?.swap_remove(0),
        };
        for _ in 0..u.int_in_range(1..=4u8)? {
            match u.int_in_range(0..=5u8)? {
                0..=3 if !frame.is_empty() => {
                    let at = u.int_in_range(0..=frame.len() - 1)?;
                    frame[at] ^= u.int_in_range(1..=255u8)?;
                }
                4 => frame.truncate(u.int_in_range(0..=frame.len())?),
                _ => frame.extend_from_slice(bytes_up_to(u, 16)?),
            }
        }
        let meta = Self::rx_meta(u)?;
        self.deliver(u, i, &frame, meta);
        Ok(())
    }

    /// Frames the stack drops early: VLAN-tagged, unknown EtherType, runts.
    fn op_odd_frame(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = self.pick_iface(u)?;
        let dst = self.pick_dst_mac(u, i)?;
        let src = mac_of(Ipv4Addr::new(10, 0, 0, 2));
        let frame = match u.int_in_range(0..=2u8)? {
            0 => {
                let mut vlans = ArrayVec::new();
                vlans.push(VlanTag {
                    tpid: EtherType::VLAN,
                    pcp: 0,
                    dei: false,
                    vid: u.int_in_range(0..=4094)?,
                });
                let repr = EthernetRepr {
                    dst,
                    src,
                    vlans,
                    ethertype: EtherType::IPV4,
                };
                let mut f = vec![0u8; repr.header_len() + 40];
                repr.emit(&mut f).expect("a tagged Ethernet header emits");
                f
            }
            1 => eth_frame(dst, src, EtherType::IPV6, &[0x60; 40], false),
            _ => bytes_up_to(u, 14)?.to_vec(),
        };
        self.deliver(u, i, &frame, RxMeta::default());
        Ok(())
    }

    /// Time passes: a small or large step, or from timer to timer.
    fn op_time(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        match u.int_in_range(0..=7u8)? {
            0 => self.now = self.now + Duration::from_nanos(u.int_in_range(0..=1_000_000)?),
            1 | 2 => self.now = self.now + Duration::from_millis(u.int_in_range(0..=2_000)?),
            3 => self.now = self.now + Duration::from_secs(u.int_in_range(1..=120)?),
            4 => self.now = self.now + Duration::from_secs(u.int_in_range(120..=7 * 86_400)?),
            _ => {
                // Run timers one deadline at a time, as a driver sleeping until each would.
                let until = self.now + Duration::from_secs(u.int_in_range(1..=4_000)?);
                let max = u.int_in_range(1..=40)?;
                self.run_timers(until, max);
            }
        }
        self.log(|| "time".into());
        Ok(())
    }

    /// Jumps to each deadline up to `until` (at most `max` of them), handling it.
    fn run_timers(&mut self, until: Instant, max: usize) {
        for _ in 0..max {
            match self.stack.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = self
            .now
            .max(until.min(self.stack.poll_timeout().unwrap_or(until)));
    }

    fn op_bind(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = self.pick_iface(u)?;
        let addr = match u.int_in_range(0..=5u8)? {
            0..=2 => Ipv4Addr::UNSPECIFIED,
            3 | 4 => self.addr(i).map_or(Ipv4Addr::UNSPECIFIED, |a| a.0),
            _ => self.pick_remote(u, i)?,
        };
        let port = match u.int_in_range(0..=7u8)? {
            0..=2 => 0,
            3 => 68,
            4 => *u.choose(&[7, 53, 67, 1000, 5000])?,
            5 if !self.open.is_empty() => self.open.values().next().unwrap().1,
            _ => u.arbitrary()?,
        };
        let before = self.open.len();
        let r = self.stack.udp_bind(addr, port);
        self.log(|| format!("bind {addr}:{port} -> {r:?}"));
        match r {
            Ok(id) => {
                assert!(
                    before < self.limits.udp_sockets,
                    "bind succeeded with {before} sockets open, limit {}",
                    self.limits.udp_sockets
                );
                assert!(!self.open.contains_key(&id), "socket id {id:?} reused");
                let local = self
                    .stack
                    .udp_local(id)
                    .expect("a bound socket has an address");
                assert_eq!(local.0, addr, "bound address");
                if port == 0 {
                    assert!(
                        crate::udp::EPHEMERAL_PORTS.contains(&local.1),
                        "ephemeral port {} outside the dynamic range",
                        local.1
                    );
                } else {
                    assert_eq!(local.1, port, "bound port");
                }
                assert!(
                    !self.open.values().any(|l| *l == local),
                    "{local:?} bound twice"
                );
                self.open.insert(id, local);
                self.ever_sockets.insert(id);
                self.app_port68 |= local.1 == 68;
            }
            Err(crate::udp::UdpError::TooManySockets { limit }) => {
                assert_eq!(limit, self.limits.udp_sockets);
                assert!(
                    before >= limit,
                    "bind refused with {before} of {limit} open"
                );
            }
            Err(crate::udp::UdpError::AddrInUse { addr, port }) => {
                assert!(
                    self.open.values().any(|l| *l == (addr, port)),
                    "{addr}:{port} refused as in use, but no open socket holds it"
                );
            }
            Err(_) => {}
        }
        Ok(())
    }

    fn op_send(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = self.pick_iface(u)?;
        let socket = self.pick_socket(u)?;
        let dst = match u.int_in_range(0..=3u8)? {
            0 | 1 => self.onlink_peer(i, u.arbitrary()?),
            _ => self.pick_remote(u, i)?,
        };
        let port = if u.ratio(1u8, 8u8)? {
            67
        } else {
            u.arbitrary()?
        };
        let body = if u.ratio(1u8, 64u8)? {
            vec![0xab; u.int_in_range(65_400..=65_600)?]
        } else {
            payload(u, 9000)?
        };
        let r = self.stack.udp_send_to(self.now, socket, (dst, port), &body);
        self.log(|| {
            format!(
                "send {socket:?} -> {dst}:{port} {} bytes: {r:?}",
                body.len()
            )
        });
        if r.is_ok() {
            assert!(
                self.open.contains_key(&socket),
                "send from closed socket {socket:?} accepted"
            );
            assert!(body.len() <= 65_507, "{} byte payload accepted", body.len());
        }
        if !self.open.contains_key(&socket) {
            assert!(r.is_err(), "send from unbound socket {socket:?} succeeded");
        }
        self.check_bounds();
        Ok(())
    }

    fn op_recv(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let socket = self.pick_socket(u)?;
        let local = self.open.get(&socket).copied();
        let (mut count, mut bytes) = (0usize, 0usize);
        loop {
            match self.stack.udp_recv(socket) {
                Ok(Some(d)) => {
                    let local = local.expect("datagram from a socket that is not open");
                    count += 1;
                    bytes += d.payload.len();
                    assert_eq!(d.dst.1, local.1, "datagram for another port");
                    if !local.0.is_unspecified() {
                        assert_eq!(d.dst.0, local.0, "datagram for another address");
                    }
                    self.digest = fnv(self.digest, &d.payload);
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(local.is_none(), "recv on open socket failed: {e}");
                    break;
                }
            }
        }
        assert!(
            count <= self.limits.udp_rx_datagrams,
            "{count} datagrams were queued, limit {}",
            self.limits.udp_rx_datagrams
        );
        assert!(
            bytes <= self.limits.udp_rx_bytes,
            "{bytes} bytes were queued, limit {}",
            self.limits.udp_rx_bytes
        );
        Ok(())
    }

    fn op_close(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let socket = self.pick_socket(u)?;
        let r = self.stack.udp_close(socket);
        assert_eq!(
            r.is_ok(),
            self.open.remove(&socket).is_some(),
            "close of {socket:?}: {r:?}"
        );
        assert_eq!(self.stack.udp_local(socket), None);
        Ok(())
    }

    fn op_ping(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = self.pick_iface(u)?;
        let dst = self.pick_remote(u, i)?;
        let (ident, seq_no) = (u.arbitrary()?, u.arbitrary()?);
        let data = payload(u, 3000)?;
        let r = self.stack.ping(self.now, dst, ident, seq_no, &data);
        self.log(|| format!("ping {dst} {} bytes: {r:?}", data.len()));
        self.check_bounds();
        Ok(())
    }

    fn op_dhcp_control(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = IfaceId(self.pick_iface(u)? as u8);
        if u.arbitrary()? {
            let r = self.stack.dhcp_release(self.now, i);
            self.log(|| format!("dhcp release if{}: {r:?}", i.0));
        } else {
            self.stack.dhcp_restart(self.now, i);
            self.log(|| format!("dhcp restart if{}", i.0));
        }
        self.check_bounds();
        Ok(())
    }

    /// A link with a small buffer: the next frame is dropped if it does not fit (and counted).
    fn op_small_poll(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        // Something to send first (the queue is empty after every step).
        if u.arbitrary()? {
            self.op_ping(u)?;
        } else {
            self.op_send(u)?;
        }
        let i = IfaceId(self.pick_iface(u)? as u8);
        self.tcp_snapshot();
        let mut frames = Vec::new();
        if let Some(len) = self.stack.peek_transmit_len(self.now, i) {
            let mut buf = std::mem::take(&mut self.buf);
            let t = self
                .stack
                .poll_transmit(self.now, &mut buf)
                .expect("peek_transmit_len promised a frame");
            assert_eq!((t.iface, t.len), (i, len), "peeked frame differs");
            self.emitted += 1;
            frames.push((t, buf[..t.len].to_vec()));
            self.buf = buf;
        }
        let n = u.int_in_range(0..=100usize)?;
        let mut small = vec![0u8; n];
        if let Some(t) = self.stack.poll_transmit(self.now, &mut small) {
            assert!(t.len <= n);
            self.emitted += 1;
            frames.push((t, small[..t.len].to_vec()));
        }
        self.tcp_snapshot_after();
        for (t, f) in frames {
            self.check_frame(t, &f);
        }
        self.tcp.stale = false;
        self.check_bounds();
        Ok(())
    }

    // ---- the driver's part, and the invariants ----

    /// Timers when due, then every transmission, then every event; then the bounds.
    fn settle(&mut self) {
        let mut rounds = 0;
        loop {
            if self.stack.poll_timeout().is_some_and(|t| t <= self.now) {
                self.stack.handle_timeout(self.now);
                if let Some(t) = self.stack.poll_timeout() {
                    assert!(
                        t > self.now,
                        "poll_timeout {t} is due right after handle_timeout({})",
                        self.now
                    );
                }
            }
            self.drain();
            // The deadline a driver sleeps until is never later than due work.
            if let Some((owner, set, due)) = self.stack.late_timer() {
                panic!("{owner:?} has work due at {due} but its deadline is {set:?}");
            }
            self.check_bounds();
            self.check_counters();
            self.check_tcp_state();
            if self.stack.poll_timeout().is_none_or(|t| t > self.now) {
                break;
            }
            rounds += 1;
            assert!(rounds < 64, "timers keep coming due at {}", self.now);
        }
    }

    fn drain(&mut self) {
        let addrs_before: Vec<_> = (0..self.ifaces.len()).map(|i| self.addr(i)).collect();
        for a in addrs_before.into_iter().flatten() {
            self.ever_addrs.insert(a.0);
        }
        // Events dropped since the last drain (`self.counters` is from then).
        let dropped_before = self.counters.queues.events_dropped;
        self.tcp_snapshot();
        let mut buf = std::mem::take(&mut self.buf);
        let mut frames = Vec::new();
        while let Some(t) = self.stack.poll_transmit(self.now, &mut buf) {
            self.emitted += 1;
            assert!(
                frames.len() <= self.limits.tx_queue_frames + 64 + self.tcp_frame_allowance(),
                "poll_transmit does not run dry"
            );
            frames.push((t, buf[..t.len].to_vec()));
            self.check_bounds();
        }
        self.buf = buf;
        let mut events = 0;
        while let Some(e) = self.stack.poll_event() {
            events += 1;
            assert!(
                events <= self.limits.event_queue,
                "{events} events queued, limit {}",
                self.limits.event_queue
            );
            self.check_event(&e);
        }
        for i in 0..self.ifaces.len() {
            if let Some(a) = self.addr(i) {
                self.ever_addrs.insert(a.0);
            }
        }
        // Addresses become known through the events drained after the frames; an address
        // whose `AddressUp` was dropped (queue full) since the last drain cannot be checked.
        let strict = self.stack.counters().queues.events_dropped == dropped_before;
        self.tcp_snapshot_after();
        for (t, f) in frames {
            self.check_frame_inner(t, &f, strict);
        }
        self.tcp.stale = false;
    }

    fn check_event(&mut self, e: &Event) {
        self.log(|| format!("event {e:?}"));
        self.digest = fnv(self.digest, format!("{e:?}").as_bytes());
        let n = self.ifaces.len();
        match *e {
            Event::UdpReadable { socket } | Event::UdpError { socket, .. } => {
                assert!(
                    self.ever_sockets.contains(&socket),
                    "event for a socket never bound: {e:?}"
                );
            }
            Event::EchoReply { .. } => {}
            Event::AddressUp {
                iface,
                addr,
                prefix_len,
            } => {
                assert!(usize::from(iface.0) < n, "{e:?}");
                assert!(prefix_len <= 32, "{e:?}");
                assert!(
                    !(addr.is_unspecified()
                        || addr.is_broadcast()
                        || addr.is_multicast()
                        || subnet_broadcast((addr, prefix_len)) == Some(addr)),
                    "not a host address: {e:?}"
                );
                self.ever_addrs.insert(addr);
            }
            Event::AddressDown { iface, .. } | Event::AddressConflict { iface, .. } => {
                assert!(usize::from(iface.0) < n, "{e:?}");
            }
            Event::TcpConnected { .. }
            | Event::TcpAcceptable { .. }
            | Event::TcpReadable { .. }
            | Event::TcpWritable { .. }
            | Event::TcpPeerClosed { .. }
            | Event::TcpUrgent { .. }
            | Event::TcpFailed { .. }
            | Event::TcpIcmpError { .. }
            | Event::TcpRetransmitting { .. }
            | Event::TcpClosed { .. } => self.check_tcp_event(e),
        }
    }

    /// The queue bounds: transmit queue, ARP cache and pending datagrams, UDP sockets.
    fn check_bounds(&self) {
        let l = self.limits;
        let q = self.stack.tx_queue_len();
        assert!(
            q <= l.tx_queue_frames,
            "{q} frames queued, limit {}",
            l.tx_queue_frames
        );
        for i in 0..self.ifaces.len() {
            let (entries, pending) = self
                .stack
                .arp_cache_len(IfaceId(i as u8))
                .expect("interface exists");
            assert!(
                entries <= l.arp_cache_entries,
                "if{i}: {entries} ARP entries, limit {}",
                l.arp_cache_entries
            );
            assert!(
                pending <= l.arp_pending_total,
                "if{i}: {pending} datagrams awaiting resolution, limit {}",
                l.arp_pending_total
            );
        }
        assert!(self.open.len() <= l.udp_sockets);
        assert!(
            self.stack.tcp_connections() <= l.tcp_connections,
            "{} TCP connections, limit {}",
            self.stack.tcp_connections(),
            l.tcp_connections
        );
    }

    /// Counters never decrease, and every frame in and out is accounted for.
    fn check_counters(&mut self) {
        let c = self.stack.counters();
        assert_monotonic(&self.counters, &c);
        assert_eq!(
            c.ethernet.rx_frames, self.frames_in,
            "every received frame is counted"
        );
        assert_eq!(
            c.ethernet.tx_frames,
            self.emitted + c.queues.tx_buffer_too_small + self.stack.tx_queue_len() as u64,
            "every queued frame is sent, dropped for the buffer, or still queued"
        );
        self.counters = c;
    }

    fn check_frame(&mut self, t: Transmit, frame: &[u8]) {
        self.check_frame_inner(t, frame, false);
    }

    /// Every frame the stack sends parses with weft-wire's checked parsers and its checksums
    /// verify. `strict_src` checks the IPv4 source against every address the host has had.
    fn check_frame_inner(&mut self, t: Transmit, frame: &[u8], strict_src: bool) {
        self.digest = fnv(self.digest, &[t.iface.0]);
        self.digest = fnv(self.digest, frame);
        self.log(|| format!("tx if{} {} bytes {:02x?}", t.iface.0, frame.len(), frame));
        let i = usize::from(t.iface.0);
        assert!(i < self.ifaces.len(), "frame for interface {}", t.iface.0);
        assert_eq!(t.len, frame.len());
        assert_eq!(
            t.meta,
            TxMeta::default(),
            "checksums are computed in software"
        );
        let ifc = self.ifaces[i];
        let eth = EthernetFrame::new_checked(frame)
            .unwrap_or_else(|e| panic!("stack sent a bad Ethernet frame: {e}"));
        assert_eq!(eth.src(), ifc.mac, "source MAC");
        assert_eq!(eth.header_len(), HEADER_LEN, "untagged");
        assert!(eth.dst() != MacAddr::ZERO, "destination MAC zero");
        let body = eth.payload();
        match eth.ethertype() {
            EtherType::ARP => {
                let p = ArpPacket::new_checked(body)
                    .unwrap_or_else(|e| panic!("stack sent a bad ARP packet: {e}"));
                let r = ArpRepr::parse(&p)
                    .unwrap_or_else(|e| panic!("stack sent a bad ARP packet: {e}"));
                assert_eq!(body.len(), 28, "ARP packet length");
                assert_eq!(r.sender_mac, ifc.mac, "ARP sender MAC");
                match r.operation {
                    ArpOperation::REQUEST => {
                        assert_eq!(eth.dst(), MacAddr::BROADCAST, "ARP requests are broadcast");
                        assert!(
                            !(r.target_ip.is_broadcast()
                                || r.target_ip.is_multicast()
                                || r.target_ip.is_unspecified()),
                            "ARP request for {}",
                            r.target_ip
                        );
                        if self.arp_targets.len() >= MEMORY {
                            self.arp_targets.pop_front();
                        }
                        self.arp_targets.push_back((t.iface.0, r.target_ip));
                    }
                    ArpOperation::REPLY => {
                        assert_eq!(eth.dst(), r.target_mac, "ARP replies go to the asker");
                    }
                    op => panic!("stack sent ARP operation {op}"),
                }
            }
            EtherType::IPV4 => self.check_ipv4(i, body, strict_src),
            other => panic!("stack sent EtherType {other}"),
        }
    }

    fn check_ipv4(&mut self, i: usize, d: &[u8], strict_src: bool) {
        let p = Ipv4Packet::new_checked(d)
            .unwrap_or_else(|e| panic!("stack sent a bad IPv4 datagram: {e}"));
        let r = Ipv4Repr::parse(&p, ChecksumMode::Verify)
            .unwrap_or_else(|e| panic!("stack sent a bad IPv4 datagram: {e}"));
        assert_eq!(usize::from(p.total_len()), d.len(), "IPv4 total length");
        assert!(
            d.len() <= usize::from(self.ifaces[i].mtu),
            "{}-byte datagram over the {} MTU",
            d.len(),
            self.ifaces[i].mtu
        );
        assert_eq!(r.ttl, self.ttl.max(1), "TTL of originated datagrams");
        assert!(r.ttl > 0, "RFC 1122 §3.2.1.7: a host MUST NOT send TTL 0");
        assert!(
            !(r.dst.is_unspecified() || r.src.is_broadcast() || r.src.is_multicast()),
            "{} -> {}",
            r.src,
            r.dst
        );
        // RFC 1122 §3.2.1.3 (a): 0.0.0.0 only while initializing: a UDP broadcast (a DHCP
        // client, in the stack or in the application) before the interface has an address.
        let init = r.protocol == IpProtocol::UDP && r.dst.is_broadcast();
        if strict_src && !(r.src.is_unspecified() && init) {
            assert!(
                self.ever_addrs.contains(&r.src),
                "RFC 1122 §3.2.1.3: source {} is not one of the host's addresses {:?}",
                r.src,
                self.ever_addrs
            );
        }
        if r.more_frags || r.frag_offset_units != 0 {
            self.collect_fragment(&r, p.payload());
            return;
        }
        self.check_transport(i, &r, p.payload(), d);
    }

    /// Keeps a fragment the stack sent; checks the whole datagram once every piece is there.
    fn collect_fragment(&mut self, r: &Ipv4Repr<'_>, body: &[u8]) {
        let start = r.frag_offset_bytes();
        assert!(start + body.len() <= 65_535 - 20, "fragment past 65535");
        if r.more_frags {
            assert_eq!(body.len() % 8, 0, "non-final fragment length");
        }
        let key = (r.src, r.dst, r.protocol.0, r.ident);
        if !self.out_frags.contains_key(&key) && self.out_frags.len() >= MAX_REASSEMBLY {
            self.out_frags.pop_first();
        }
        let e = self.out_frags.entry(key).or_default();
        e.insert(r.frag_offset_units, (body.to_vec(), r.more_frags));
        // Whole when the pieces run from 0 without a gap to one without MF (looked for only
        // once the last piece is there: a datagram may come in a thousand fragments).
        if e.last_key_value().is_none_or(|(_, (_, mf))| *mf) {
            return;
        }
        let mut next = 0usize;
        let mut done = false;
        for (units, (data, mf)) in e.iter() {
            if usize::from(*units) * 8 != next {
                break;
            }
            next += data.len();
            if !mf {
                done = true;
                break;
            }
        }
        if done {
            let whole: Vec<u8> = e
                .values()
                .flat_map(|(data, _)| data.iter().copied())
                .take(next)
                .collect();
            self.out_frags.remove(&key);
            let repr = Ipv4Repr {
                more_frags: false,
                frag_offset_units: 0,
                payload_len: whole.len(),
                options: ArrayVec::new(),
                options_padding: &[],
                ..*r
            };
            let d = ipv4_datagram(&repr, &whole);
            self.check_transport(usize::MAX, &repr, &whole, &d);
        }
    }

    fn check_transport(&mut self, i: usize, r: &Ipv4Repr<'_>, body: &[u8], datagram: &[u8]) {
        match r.protocol {
            IpProtocol::UDP => {
                let p = UdpPacket::new_checked(body)
                    .unwrap_or_else(|e| panic!("stack sent a bad UDP datagram: {e}"));
                assert_eq!(
                    p.verify_checksum(r.src, r.dst),
                    UdpChecksumVerdict::Good,
                    "UDP checksum"
                );
                UdpRepr::parse(&p, r.src, r.dst, ChecksumMode::Verify)
                    .unwrap_or_else(|e| panic!("stack sent a bad UDP datagram: {e}"));
                assert_eq!(usize::from(p.len_field()), body.len(), "UDP length");
                if p.src_port() == 68 && p.dst_port() == 67 {
                    self.check_dhcp(p.payload());
                }
                if self.sent_datagrams.len() >= MEMORY {
                    self.sent_datagrams.pop_front();
                }
                let hl = usize::from(datagram[0] & 0x0f) * 4;
                self.sent_datagrams
                    .push_back(datagram[..(hl + 8).min(datagram.len())].to_vec());
            }
            IpProtocol::ICMP => {
                let p = Icmpv4Packet::new_checked(body)
                    .unwrap_or_else(|e| panic!("stack sent a bad ICMP message: {e}"));
                let m = Icmpv4Repr::parse(&p, ChecksumMode::Verify)
                    .unwrap_or_else(|e| panic!("stack sent a bad ICMP message: {e}"));
                let unicast = !(r.dst.is_broadcast()
                    || r.dst.is_multicast()
                    || (i != usize::MAX && self.addr(i).and_then(subnet_broadcast) == Some(r.dst)));
                match m {
                    Icmpv4Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    } => {
                        if self.sent_echoes.len() >= MEMORY {
                            self.sent_echoes.pop_front();
                        }
                        self.sent_echoes
                            .push_back((r.dst, ident, seq_no, data.to_vec()));
                    }
                    Icmpv4Repr::EchoReply { .. } => {
                        assert!(unicast, "echo reply to {}", r.dst);
                    }
                    Icmpv4Repr::DstUnreachable { quoted, .. }
                    | Icmpv4Repr::TimeExceeded { quoted, .. }
                    | Icmpv4Repr::ParameterProblem { quoted, .. } => {
                        // RFC 1122 §3.2.2: errors only to unicast sources, quoting the header
                        // and at least 8 data bytes.
                        assert!(unicast, "ICMP error to {}", r.dst);
                        let q = QuotedDatagram::parse(quoted).unwrap_or_else(|e| {
                            panic!("stack sent an ICMP error with a bad quote: {e}")
                        });
                        assert_eq!(q.header.src(), r.dst, "error goes to the quoted source");
                    }
                    Icmpv4Repr::Other { msg_type, .. } => {
                        panic!("stack sent ICMP type {msg_type}")
                    }
                }
            }
            IpProtocol::TCP => {
                self.check_tcp(r, body);
                self.remember_tcp_datagram(datagram);
            }
            other => panic!("stack sent IP protocol {other}"),
        }
    }

    /// A message from port 68: the stack's DHCP client's, unless an application socket was
    /// bound to port 68 (its datagrams are whatever the application sent).
    fn check_dhcp(&mut self, msg: &[u8]) {
        if self.app_port68 {
            return;
        }
        let p = DhcpPacket::new_checked(msg)
            .unwrap_or_else(|e| panic!("stack sent a bad DHCP message: {e}"));
        let r =
            DhcpRepr::parse(&p).unwrap_or_else(|e| panic!("stack sent a bad DHCP message: {e}"));
        assert_eq!(r.op, DhcpOp::Request, "clients send BOOTREQUEST");
        // The client is the interface whose MAC is `chaddr` (a unicast renewal may leave
        // through another interface, by the routes).
        let i = self
            .ifaces
            .iter()
            .position(|f| f.mac == r.client_hardware_address)
            .unwrap_or_else(|| panic!("DHCP chaddr {} is none of ours", r.client_hardware_address));
        self.dhcp_seen.insert(
            i as u8,
            SeenDhcp {
                xid: r.xid,
                kind: r.message_type,
                requested: r.requested_ip,
                server: r.server_identifier,
                ciaddr: r.client_ip,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    /// The seed of the random inputs; `WEFT_FUZZ_SEED` overrides it.
    fn seed() -> u64 {
        std::env::var("WEFT_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_f00d)
    }

    fn inputs(seed: u64, n: usize) -> impl Iterator<Item = Vec<u8>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(move |_| {
            let len = [16, 64, 256, 1024, 4096][(rng.next_u32() % 5) as usize];
            let mut v = vec![0u8; len];
            rng.fill_bytes(&mut v);
            v
        })
    }

    #[test]
    fn stack_frames_seeded_random_inputs_hold_every_invariant() {
        let seed = seed();
        println!("stack_frames: seed {seed} (set WEFT_FUZZ_SEED to replay)");
        let n = 3000;
        let (mut delivered, mut echoes, mut reassembled, mut arp_replies, mut leases) =
            (0, 0, 0, 0, 0);
        let (mut queue_full, mut frames) = (0, 0);
        let (mut accepted, mut connected, mut read, mut sent_data, mut fins, mut failed) =
            (0, 0, 0, 0, 0, 0);
        let save = std::env::var_os("WEFT_FUZZ_SAVE");
        for (k, data) in inputs(seed, n).enumerate() {
            if let Some(path) = &save {
                // The input being run, left behind if it fails (replay it with the test below).
                std::fs::write(path, &data).unwrap();
            }
            let o = run(&data);
            let c = o.counters;
            delivered += u64::from(c.udp.rx_delivered > 0);
            echoes += u64::from(c.icmp.echo_replies_sent > 0);
            reassembled += u64::from(c.ipv4.reassembled > 0);
            arp_replies += u64::from(c.arp.entries_updated > 0);
            leases += u64::from(c.dhcp.leases > 0);
            queue_full += u64::from(c.queues.tx_queue_full > 0);
            frames += o.frames_out;
            let t = o.tcp;
            accepted += u64::from(t.accepted > 0);
            connected += u64::from(t.connected > 0);
            read += u64::from(t.bytes_read > 0);
            sent_data += u64::from(t.data_segments > 0);
            fins += u64::from(t.fins > 0);
            failed += u64::from(t.failed > 0);
            if k < 200 {
                assert_eq!(
                    o.digest,
                    run(&data).digest,
                    "input {k} is not deterministic"
                );
            }
        }
        println!(
            "{n} stack_frames inputs: {frames} frames sent; inputs with UDP delivered \
             {delivered}, echo replies {echoes}, reassembly {reassembled}, ARP learned \
             {arp_replies}, DHCP lease {leases}, tx queue full {queue_full}; TCP: accepted \
             {accepted}, connected {connected}, data read {read}, data sent {sent_data}, FIN \
             sent {fins}, failed {failed}"
        );
        // The inputs get past the filters into the protocols.
        assert!(delivered > 0 && echoes > 0 && arp_replies > 0 && queue_full > 0);
        assert!(accepted > 0 && connected > 0 && read > 0 && sent_data > 0 && fins > 0);
        assert!(failed > 0);
    }

    // A single input (a crash from `cargo xtask fuzz`) is replayed with
    // `cargo run -p weft-core --features fuzzing --example replay_stack_frames -- FILE`.

    #[test]
    fn stack_frames_empty_and_tiny_inputs() {
        stack_frames(&[]);
        for b in 0..=255u8 {
            stack_frames(&[b]);
            stack_frames(&[b; 40]);
        }
    }
}
