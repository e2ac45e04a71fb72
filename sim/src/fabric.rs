//! The simulated network: links with a fault model, learning switches, and the NICs hosts
//! see ([`SimLink`], an [`AsyncLink`]).
//!
//! A frame a host transmits goes to the fabric's outbox; after the host's tasks are idle the
//! simulation moves it over its link: partition, MTU, drop-tail queue and serialisation at the
//! link's bandwidth, then the fault decisions (loss, duplication, reordering, corruption),
//! then an arrival event at the far end after latency and jitter. Fault decisions come from
//! the link direction's own ChaCha stream, or from a fault tape; either way each decision
//! that did something is recorded on the run's tape, keyed by what it hit.

use crate::executor::HostId;
use crate::marks::{Carried, Delivery, MarkKind, Marks};
use crate::monitor::{AddrLookup, Monitor};
#[cfg(feature = "planted-bugs")]
use crate::oracle::PlantedBug;
use crate::tape::{Fault, FrameIdentity, FrameKey, Tape, TapeEntry};
use core::task::{Context, Poll, Waker};
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use weft_core::link::{Link, RxMeta, RxToken, TxMeta, TxToken};
use weft_core::{Duration, Instant};
use weft_net::link::AsyncLink;
use weft_wire::MacAddr;

/// Frames a NIC holds for its host before it drops (and counts) more.
pub const NIC_RX_RING: usize = 4096;
/// MAC addresses a switch learns; beyond it, unknown destinations are flooded.
pub const SWITCH_TABLE: usize = 4096;

/// Packet loss.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Loss {
    /// None.
    #[default]
    None,
    /// Each frame independently with probability `p`.
    Bernoulli {
        /// Loss probability.
        p: f64,
    },
    /// Gilbert-Elliott bursts: a two-state Markov chain per frame.
    GilbertElliott {
        /// Probability of going from the good to the bad state.
        p_good_to_bad: f64,
        /// Probability of going from the bad to the good state.
        p_bad_to_good: f64,
        /// Loss probability in the good state.
        loss_good: f64,
        /// Loss probability in the bad state.
        loss_bad: f64,
    },
}

/// One direction of a link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Propagation delay.
    pub latency: Duration,
    /// Extra delay, uniform in `0..=jitter`, per frame (never reorders by itself: a frame
    /// arrives no earlier than the one before it on the same direction).
    pub jitter: Duration,
    /// Bits per second; 0 = unlimited (no serialisation delay).
    pub bandwidth_bps: u64,
    /// Frames waiting for the wire beyond which new ones are dropped (drop-tail).
    pub queue_frames: usize,
    /// IP MTU: frames longer than `mtu` bytes after their Ethernet header (14 bytes, 4 more per
    /// 802.1Q tag) are dropped (and counted).
    pub mtu: u16,
    /// Loss model.
    pub loss: Loss,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a frame is held back by `reorder_delay`, letting later ones pass.
    pub reorder: f64,
    /// How long a reordered frame is held back.
    pub reorder_delay: Duration,
    /// Probability that one bit of the frame is flipped (never a second one on a frame that
    /// already had one flipped on an earlier hop).
    pub corrupt: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Duration::from_micros(100),
            jitter: Duration::ZERO,
            bandwidth_bps: 0,
            queue_frames: 1000,
            mtu: 1500,
            loss: Loss::None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            corrupt: 0.0,
        }
    }
}

impl LinkConfig {
    /// Whether a fault can ever be drawn for a frame on this direction (a probability above
    /// zero).
    pub fn can_fault(&self) -> bool {
        let lossy = match self.loss {
            Loss::None => false,
            Loss::Bernoulli { p } => p > 0.0,
            Loss::GilbertElliott {
                loss_good,
                loss_bad,
                ..
            } => loss_good > 0.0 || loss_bad > 0.0,
        };
        lossy || self.duplicate > 0.0 || self.reorder > 0.0 || self.corrupt > 0.0
    }
}

/// Both directions of a link (`a_to_b` is from the host to the switch).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkSpec {
    /// Host → switch.
    pub a_to_b: LinkConfig,
    /// Switch → host.
    pub b_to_a: LinkConfig,
}

impl LinkSpec {
    /// The same configuration both ways.
    pub fn symmetric(c: LinkConfig) -> LinkSpec {
        LinkSpec {
            a_to_b: c.clone(),
            b_to_a: c,
        }
    }
}

/// What happened on one direction of a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames offered to the link.
    pub frames_in: u64,
    /// Frames (copies) that arrived at the far end.
    pub delivered: u64,
    /// Bytes that arrived.
    pub bytes_delivered: u64,
    /// Lost to the loss model.
    pub lost: u64,
    /// Dropped by the full drop-tail queue.
    pub queue_drops: u64,
    /// Dropped because the link was partitioned.
    pub partition_drops: u64,
    /// Lost to a crash of the host at this direction's far end (switch → host only): frames
    /// that arrived while it was down (never delivered), and frames its NIC's receive ring
    /// held, delivered but not yet taken by its stack, when it crashed.
    pub down_drops: u64,
    /// Delivered to a NIC whose receive ring was full ([`NIC_RX_RING`] frames its host had
    /// not taken yet), and dropped there (switch → host only).
    pub ring_drops: u64,
    /// Dropped as longer than the MTU.
    pub mtu_drops: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Frames held back so later ones passed them.
    pub reordered: u64,
    /// Frames with a bit flipped.
    pub corrupted: u64,
}

impl LinkCounters {
    pub(crate) fn add(&mut self, o: &LinkCounters) {
        self.frames_in += o.frames_in;
        self.delivered += o.delivered;
        self.bytes_delivered += o.bytes_delivered;
        self.lost += o.lost;
        self.queue_drops += o.queue_drops;
        self.partition_drops += o.partition_drops;
        self.down_drops += o.down_drops;
        self.ring_drops += o.ring_drops;
        self.mtu_drops += o.mtu_drops;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.corrupted += o.corrupted;
    }
}

/// Who owns an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Nic { host: HostId },
    SwitchPort { switch: usize },
}

#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) owner: Owner,
    pub(crate) link: usize,
    /// 0: the link's `a` end (the host), 1: its `b` end (the switch).
    pub(crate) side: usize,
    rx: VecDeque<Vec<u8>>,
    rx_waker: Option<Waker>,
    /// A NIC whose host is down (crashed, not yet restarted): it takes no frames.
    down: bool,
}

#[derive(Debug)]
struct DirState {
    cfg: LinkConfig,
    busy_until: Instant,
    last_arrival: Instant,
    /// Departure times of frames queued for the wire.
    queued: VecDeque<Instant>,
    bad_state: bool,
    /// The fault decisions' stream (boxed: read only on directions that can draw a fault,
    /// it would spread the fields every frame reads over more cache lines).
    rng: Box<ChaCha20Rng>,
    /// Key for per-frame jitter, independent of the decision stream.
    jitter_key: u64,
    /// Whether frames here need their tape key: faults can be drawn (random source) or the
    /// tape has entries for this direction (tape source). Otherwise no key is ever looked at,
    /// and neither the identity digest nor its occurrence is computed.
    keyed: bool,
    /// Frames seen per identity digest (the tape's occurrences); only when `keyed`.
    occurrences: Occurrences,
    /// Frames seen per digest of all their bytes (the jitter's occurrences); only with
    /// jitter.
    byte_occurrences: Occurrences,
    counters: LinkCounters,
}

/// Digests of frames one link direction remembers the occurrences of, per generation: when
/// the current generation holds this many, it becomes the previous one and the one before is
/// forgotten, so at most twice this many are held.
pub const OCCURRENCE_WINDOW: usize = 1 << 16;

/// How many frames with each digest went one way: the occurrence numbers of the tape's keys
/// and of the jitter draws. Bounded by generations ([`OCCURRENCE_WINDOW`]): a digest seen in
/// neither of the last two generations is forgotten (and counted), and its next frame counts
/// as occurrence 0 again. A digest seen again moves to the current generation, so a frame
/// retransmitted while fewer than [`OCCURRENCE_WINDOW`] other frames went its way keeps its
/// count. Which digests are forgotten depends only on the sequence of frames on the
/// direction, so a run and its tape's full replay forget the same ones.
#[derive(Debug, Default)]
struct Occurrences {
    current: BTreeMap<u64, u32>,
    previous: BTreeMap<u64, u32>,
    /// Digests forgotten with their generation.
    forgotten: u64,
}

impl Occurrences {
    /// The number of earlier frames with `digest`, counting this one for the next.
    fn next(&mut self, digest: u64) -> u32 {
        if let Some(n) = self.current.get_mut(&digest) {
            let seen = *n;
            *n = n.saturating_add(1);
            return seen;
        }
        let seen = self.previous.remove(&digest).unwrap_or(0);
        self.current.insert(digest, seen.saturating_add(1));
        if self.current.len() >= OCCURRENCE_WINDOW {
            self.forgotten += self.previous.len() as u64;
            self.previous = std::mem::take(&mut self.current);
        }
        seen
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// What travels with a frame from hop to hop besides its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FrameTag {
    /// A bit of it was flipped on an earlier hop.
    pub(crate) flipped: bool,
    /// FNV-1a of its bytes, once a hop computed it: a frame's bytes stay the same from hop
    /// to hop (a flipped bit recomputes it), so every frame is hashed once, not per hop.
    pub(crate) bytes_digest: Option<u64>,
    /// Its identity digest (the tape key's), once a keyed hop computed it (cleared with a
    /// flipped bit).
    pub(crate) identity: Option<u64>,
    /// The UDP datagram (or fragment of one) it carries, as read on its first hop before any
    /// fault ([`crate::marks`]).
    pub(crate) carried: Option<Carried>,
    /// A switch flooded it (its destination MAC was unknown there).
    pub(crate) flooded: bool,
}

#[derive(Debug)]
pub(crate) struct SimLinkState {
    pub(crate) name: String,
    pub(crate) ends: [usize; 2],
    dirs: [DirState; 2],
    pub(crate) up: bool,
    pub(crate) pcap: Option<weft_pcap::Writer<Vec<u8>>>,
}

#[derive(Debug, Default)]
pub(crate) struct Switch {
    pub(crate) name: String,
    pub(crate) ports: Vec<usize>,
    table: BTreeMap<[u8; 6], usize>,
    /// Frames sent out of every port but the one they came in on: to a group address, or to
    /// one not in the table.
    pub(crate) flooded: u64,
    /// Frames dropped because their destination was learned on the port they came in on
    /// (IEEE 802.1D filtering).
    pub(crate) filtered: u64,
    /// Source addresses not learned because the table held [`SWITCH_TABLE`] already.
    pub(crate) table_full: u64,
}

impl Switch {
    /// Addresses in its table.
    pub(crate) fn learned(&self) -> usize {
        self.table.len()
    }
}

/// Where fault decisions come from.
#[derive(Debug, Clone)]
pub enum FaultSource {
    /// Drawn from each link direction's random stream.
    Random,
    /// Read from a tape: exactly its entries fire, nothing else.
    Tape(Tape),
}

#[derive(Debug)]
pub(crate) struct Fabric {
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) links: Vec<SimLinkState>,
    pub(crate) switches: Vec<Switch>,
    /// Frames to move: (from endpoint, bytes, what earlier hops learnt about them).
    pub(crate) outbox: Vec<(usize, Vec<u8>, FrameTag)>,
    source: FaultSource,
    /// Whether any direction is keyed: then every frame's SYN teaches the identity its ISN
    /// on the frame's first hop.
    any_keyed: bool,
    tape_index: BTreeMap<FrameKey, Vec<Fault>>,
    /// What identifies a frame for the tape's keys (and the per-frame jitter).
    pub(crate) identity: FrameIdentity,
    /// Faults that fired, in order.
    pub(crate) tape: Tape,
    /// Running digest of every delivery (time, endpoint, frame), for golden hashes and the
    /// determinism check.
    pub(crate) trace_digest: u64,
    /// Frames offered by hosts (before any fault).
    pub(crate) frames_sent: u64,
    /// The sender-side monitor (None when switched off).
    pub(crate) monitor: Option<Monitor>,
    /// When a fault last fired (a tape entry, a full queue, an oversized frame).
    pub(crate) last_fault: Option<Instant>,
    /// What happened to frames carrying UDP datagrams, for the loss and duplicate oracles.
    pub(crate) marks: Marks,
    /// UDP frames NICs emitted (planted bugs count them).
    #[cfg(feature = "planted-bugs")]
    udp_from_nics: u64,
    /// IPv4 frames NICs emitted.
    #[cfg(feature = "planted-bugs")]
    ipv4_from_nics: u64,
    /// UDP frames stacks handed their NICs.
    #[cfg(feature = "planted-bugs")]
    udp_to_nics: u64,
    /// ICMP frames NICs emitted.
    #[cfg(feature = "planted-bugs")]
    icmp_from_nics: u64,
    #[cfg(feature = "planted-bugs")]
    pub(crate) planted: Vec<PlantedBug>,
    /// TCP segments NICs emitted: all, with ACK, with data, RSTs.
    #[cfg(feature = "planted-bugs")]
    tcp_from_nics: [u64; 4],
    /// TCP data segments past the monitor.
    #[cfg(feature = "planted-bugs")]
    tcp_data_after_monitor: u64,
    /// This run is an odd one of those planting `Nondeterminism` in this process.
    #[cfg(feature = "planted-bugs")]
    odd_run: bool,
}

#[cfg(feature = "planted-bugs")]
static NONDETERMINISTIC_RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// True for an untagged Ethernet frame carrying IPv4 (and, with `udp`, UDP).
#[cfg(feature = "planted-bugs")]
fn is_ipv4(frame: &[u8], udp: bool) -> bool {
    frame.get(12..14) == Some(&[0x08, 0x00]) && (!udp || frame.get(23) == Some(&17))
}

/// A planted bug's frame surgery: flip a payload bit of a UDP frame and fix its checksum.
#[cfg(feature = "planted-bugs")]
fn corrupt_udp_payload(frame: &mut [u8]) {
    let ihl = usize::from(frame.get(14).copied().unwrap_or(0x45) & 0x0f) * 4;
    let (src, dst) = match (frame.get(26..30), frame.get(30..34)) {
        (Some(&[a, b, c, d]), Some(&[e, f, g, h])) => (
            weft_wire::Ipv4Addr::new(a, b, c, d),
            weft_wire::Ipv4Addr::new(e, f, g, h),
        ),
        _ => return,
    };
    let start = 14 + ihl;
    let Some(udp) = frame.get_mut(start..) else {
        return;
    };
    if let Some(b) = udp.get_mut(8) {
        *b ^= 0x01;
    }
    if let Ok(mut u) = weft_wire::udp::UdpPacket::new_checked(udp) {
        u.fill_checksum(src, dst);
    }
}

/// A planted bug's frame surgery: a UDP frame readdressed to `to` and broadcast, its
/// checksums fixed.
#[cfg(feature = "planted-bugs")]
fn readdress_udp(frame: &mut [u8], to: std::net::Ipv4Addr) {
    if let Some(mac) = frame.get_mut(0..6) {
        mac.copy_from_slice(&[0xff; 6]);
    }
    let Some(ip) = frame.get_mut(14..) else {
        return;
    };
    let Ok(mut p) = weft_wire::ipv4::Ipv4Packet::new_checked(&mut *ip) else {
        return;
    };
    let src = p.src();
    let o = to.octets();
    let dst = weft_wire::Ipv4Addr::new(o[0], o[1], o[2], o[3]);
    p.set_dst(dst);
    p.fill_checksum();
    let ihl = usize::from(ip.first().copied().unwrap_or(0x45) & 0x0f) * 4;
    if let Some(udp) = ip.get_mut(ihl..)
        && let Ok(mut u) = weft_wire::udp::UdpPacket::new_checked(udp)
    {
        u.fill_checksum(src, dst);
    }
}

/// The (src, dst, TCP segment) of an untagged IPv4/TCP frame, for planted bugs' surgery.
#[cfg(feature = "planted-bugs")]
fn tcp_of(frame: &mut [u8]) -> Option<(weft_wire::Ipv4Addr, weft_wire::Ipv4Addr, &mut [u8])> {
    if !is_ipv4(frame, false) || frame.get(23) != Some(&6) {
        return None;
    }
    let ihl = usize::from(frame.get(14).copied().unwrap_or(0x45) & 0x0f) * 4;
    let (src, dst) = match (frame.get(26..30), frame.get(30..34)) {
        (Some(&[a, b, c, d]), Some(&[e, f, g, h])) => (
            weft_wire::Ipv4Addr::new(a, b, c, d),
            weft_wire::Ipv4Addr::new(e, f, g, h),
        ),
        _ => return None,
    };
    let total = frame
        .get(16..18)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map_or(0, |b| usize::from(u16::from_be_bytes(b)));
    let seg = frame.get_mut(14 + ihl..14 + total.max(ihl))?;
    Some((src, dst, seg))
}

/// Planted TCP bugs that change a segment before the monitor sees it.
#[cfg(feature = "planted-bugs")]
fn plant_tcp(planted: &[PlantedBug], counts: &mut [u64; 4], frame: &mut [u8]) {
    use weft_wire::tcp::TcpPacket;
    let Some((src, dst, seg)) = tcp_of(frame) else {
        return;
    };
    let Ok(mut t) = TcpPacket::new_checked(&mut *seg) else {
        return;
    };
    let flags = t.flags();
    let data = !t.payload().is_empty();
    let [all, acks, datas, rsts] = *counts;
    counts[0] += 1;
    let mut fix = false;
    if flags.ack() && !flags.rst() {
        counts[1] += 1;
        if planted.contains(&PlantedBug::TcpAckUnsent { nth: acks }) {
            let a = t.ack_number().wrapping_add(1 << 24);
            t.set_ack_number(a);
            fix = true;
        }
    }
    if data {
        counts[2] += 1;
        if planted.contains(&PlantedBug::TcpBeyondWindow { nth: datas }) {
            let q = t.seq_number().wrapping_add(1 << 24);
            t.set_seq_number(q);
            fix = true;
        }
        if planted.contains(&PlantedBug::TcpEarlyFin { nth: datas }) {
            let mut f = flags;
            f.insert(weft_wire::tcp::TcpFlags::FIN);
            t.set_flags(f);
            fix = true;
        }
    }
    if flags.rst() {
        counts[3] += 1;
        if planted.contains(&PlantedBug::TcpRstSeq { nth: rsts }) {
            let q = t.seq_number().wrapping_add(1 << 30);
            t.set_seq_number(q);
            fix = true;
        }
    }
    if fix {
        t.fill_checksum(src, dst);
    }
    if planted.contains(&PlantedBug::TcpBadChecksum { nth: all }) {
        let c = t.checksum() ^ 0x0100;
        t.set_checksum(c);
    }
    if planted.contains(&PlantedBug::TcpBadHeader { nth: all })
        && let Some(b) = seg.get_mut(12)
    {
        *b = (*b & 0x0f) | 0x40;
    }
}

/// The planted `TcpMssInflated`: a SYN's MSS option raised to 1460 (after the monitor).
#[cfg(feature = "planted-bugs")]
fn inflate_mss(frame: &mut [u8]) {
    use weft_wire::tcp::TcpPacket;
    let Some((src, dst, seg)) = tcp_of(frame) else {
        return;
    };
    let syn = TcpPacket::new_checked(&*seg).is_ok_and(|t| t.flags().syn());
    if !syn {
        return;
    }
    let hl = usize::from(seg.get(12).copied().unwrap_or(0x50) >> 4) * 4;
    let mut i = 20;
    while i + 1 < hl {
        match seg.get(i).copied() {
            Some(0) | None => break,
            Some(1) => i += 1,
            Some(2) => {
                if let Some(v) = seg.get_mut(i + 2..i + 4) {
                    v.copy_from_slice(&1460u16.to_be_bytes());
                }
                break;
            }
            Some(_) => i += usize::from(seg.get(i + 1).copied().unwrap_or(2)).max(2),
        }
    }
    if let Ok(mut t) = TcpPacket::new_checked(&mut *seg) {
        t.fill_checksum(src, dst);
    }
}

/// FNV-1a over bytes, continuing from `h`.
pub(crate) fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn chance(rng: &mut ChaCha20Rng, p: f64) -> bool {
    if p <= 0.0 {
        return false;
    }
    // 53 random bits → [0, 1).
    let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    x < p
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Fabric {
    pub(crate) fn new(source: FaultSource, monitor: bool) -> Fabric {
        let tape_index = match &source {
            FaultSource::Random => BTreeMap::new(),
            FaultSource::Tape(t) => t.index(),
        };
        Fabric {
            endpoints: Vec::new(),
            links: Vec::new(),
            switches: Vec::new(),
            outbox: Vec::new(),
            source,
            tape_index,
            any_keyed: false,
            identity: FrameIdentity::default(),
            tape: Tape::default(),
            trace_digest: FNV_OFFSET,
            frames_sent: 0,
            monitor: monitor.then(Monitor::new),
            last_fault: None,
            marks: Marks::default(),
            #[cfg(feature = "planted-bugs")]
            udp_from_nics: 0,
            #[cfg(feature = "planted-bugs")]
            udp_to_nics: 0,
            #[cfg(feature = "planted-bugs")]
            ipv4_from_nics: 0,
            #[cfg(feature = "planted-bugs")]
            icmp_from_nics: 0,
            #[cfg(feature = "planted-bugs")]
            planted: Vec::new(),
            #[cfg(feature = "planted-bugs")]
            tcp_from_nics: [0; 4],
            #[cfg(feature = "planted-bugs")]
            tcp_data_after_monitor: 0,
            #[cfg(feature = "planted-bugs")]
            odd_run: false,
        }
    }

    /// Plants `bugs` (test builds only).
    #[cfg(feature = "planted-bugs")]
    pub(crate) fn plant(&mut self, bugs: &[PlantedBug]) {
        self.planted = bugs.to_vec();
        if bugs
            .iter()
            .any(|b| matches!(b, PlantedBug::Nondeterminism { .. }))
        {
            let n = NONDETERMINISTIC_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.odd_run = n % 2 == 1;
        }
    }

    /// The longest one link direction can take to deliver a frame that is not lost: latency,
    /// jitter, reordering delay, and a full queue of MTU-sized frames at its rate.
    pub(crate) fn slowest_hop(&self) -> Duration {
        let mut worst = Duration::ZERO;
        for l in &self.links {
            for d in &l.dirs {
                let c = &d.cfg;
                let frame_bits = (u64::from(c.mtu) + 14) * 8;
                let queue = (c.queue_frames as u64 + 1)
                    .saturating_mul(frame_bits)
                    .saturating_mul(1_000_000_000)
                    .checked_div(c.bandwidth_bps)
                    .unwrap_or(0);
                let t = c.latency + c.jitter + c.reorder_delay + Duration::from_nanos(queue);
                worst = worst.max(t);
            }
        }
        worst
    }

    /// Whether faults that lose frames (`.0`) or duplicate them (`.1`) touched `link`, in
    /// either direction, or its NIC dropped frames (a full ring, its host down).
    pub(crate) fn link_faults(&self, link: usize) -> (bool, bool) {
        let Some(l) = self.links.get(link) else {
            return (true, true);
        };
        let mut lossy = false;
        let mut dup = false;
        for d in &l.dirs {
            let c = &d.counters;
            lossy |= c.lost
                + c.corrupted
                + c.partition_drops
                + c.down_drops
                + c.ring_drops
                + c.queue_drops
                + c.mtu_drops
                > 0;
            dup |= c.duplicated > 0;
        }
        (lossy, dup)
    }

    /// The host at the NIC end of `link`.
    fn link_host(&self, link: usize) -> HostId {
        self.links
            .get(link)
            .and_then(|l| self.endpoints.get(l.ends[0]))
            .map_or(HostId::MAX, |e| match e.owner {
                Owner::Nic { host } => host,
                Owner::SwitchPort { .. } => HostId::MAX,
            })
    }

    pub(crate) fn add_switch(&mut self, name: String) -> usize {
        self.switches.push(Switch {
            name,
            ..Switch::default()
        });
        self.switches.len() - 1
    }

    /// Connects host `host` to `switch`; returns the host's endpoint.
    pub(crate) fn connect(
        &mut self,
        name: String,
        host: HostId,
        switch: usize,
        spec: &LinkSpec,
        seed: u64,
        pcap: bool,
    ) -> usize {
        let link = self.links.len();
        let a = self.endpoints.len();
        let b = a + 1;
        self.endpoints.push(Endpoint {
            owner: Owner::Nic { host },
            link,
            side: 0,
            rx: VecDeque::new(),
            rx_waker: None,
            down: false,
        });
        self.endpoints.push(Endpoint {
            owner: Owner::SwitchPort { switch },
            link,
            side: 1,
            rx: VecDeque::new(),
            rx_waker: None,
            down: false,
        });
        if let Some(s) = self.switches.get_mut(switch) {
            s.ports.push(b);
        }
        let link_id = self.links.len() as u32;
        let dir = |cfg: &LinkConfig, d: u8| {
            let purpose = format!("link/{name}/{d}");
            let keyed = match &self.source {
                FaultSource::Random => cfg.can_fault(),
                FaultSource::Tape(_) => self
                    .tape_index
                    .keys()
                    .any(|k| k.link == link_id && k.dir == d),
            };
            DirState {
                keyed,
                cfg: cfg.clone(),
                busy_until: Instant::ZERO,
                last_arrival: Instant::ZERO,
                queued: VecDeque::new(),
                bad_state: false,
                rng: Box::new(weft_net::rng_for(seed, &purpose)),
                jitter_key: fnv(seed ^ FNV_OFFSET, format!("jitter/{purpose}").as_bytes()),
                occurrences: Occurrences::default(),
                byte_occurrences: Occurrences::default(),
                counters: LinkCounters::default(),
            }
        };
        let pcap = pcap
            .then(|| {
                weft_pcap::Writer::new(
                    Vec::new(),
                    weft_pcap::LinkType::Ethernet,
                    65_535,
                    weft_pcap::TimestampResolution::Nanosecond,
                )
                .ok()
            })
            .flatten();
        let dirs = [dir(&spec.a_to_b, 0), dir(&spec.b_to_a, 1)];
        self.any_keyed |= dirs.iter().any(|d| d.keyed);
        self.links.push(SimLinkState {
            ends: [a, b],
            dirs,
            name,
            up: true,
            pcap,
        });
        a
    }

    /// Digests whose occurrence counts were forgotten ([`OCCURRENCE_WINDOW`]): the tape
    /// keys' (`.0`) and the jitter's (`.1`), over every direction.
    pub(crate) fn occurrences_forgotten(&self) -> (u64, u64) {
        self.links
            .iter()
            .flat_map(|l| l.dirs.iter())
            .fold((0, 0), |(t, j), d| {
                (
                    t + d.occurrences.forgotten,
                    j + d.byte_occurrences.forgotten,
                )
            })
    }

    pub(crate) fn counters(&self, link: usize) -> [LinkCounters; 2] {
        self.links
            .get(link)
            .map(|l| [l.dirs[0].counters, l.dirs[1].counters])
            .unwrap_or_default()
    }

    /// The host of NIC `endpoint` crashed: what its receive ring held is lost, and frames
    /// arriving until [`Fabric::nic_up`] are dropped; both counted as `down_drops` of the
    /// direction towards it.
    pub(crate) fn nic_down(&mut self, endpoint: usize) {
        let Some(e) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        let held = e.rx.len() as u64;
        e.rx.clear();
        e.rx_waker = None;
        e.down = true;
        let (link, side) = (e.link, e.side);
        if let Some(d) = self
            .links
            .get_mut(link)
            .and_then(|l| l.dirs.get_mut(1 - side))
        {
            d.counters.down_drops += held;
        }
    }

    /// The host of NIC `endpoint` boots: its NIC takes frames again.
    pub(crate) fn nic_up(&mut self, endpoint: usize) {
        if let Some(e) = self.endpoints.get_mut(endpoint) {
            e.down = false;
        }
    }

    /// Moves every frame in the outbox onto its link; arrivals become events.
    /// `lookup` tells the monitor which addresses a host holds now.
    pub(crate) fn drain_outbox(
        &mut self,
        now: Instant,
        mut schedule: impl FnMut(Instant, usize, Vec<u8>, FrameTag),
        lookup: &mut AddrLookup<'_>,
    ) {
        while !self.outbox.is_empty() {
            let batch = std::mem::take(&mut self.outbox);
            for (from, frame, tag) in batch {
                self.send(now, from, frame, tag, &mut schedule, lookup);
            }
        }
    }

    fn send(
        &mut self,
        now: Instant,
        from: usize,
        mut frame: Vec<u8>,
        tag: FrameTag,
        schedule: &mut impl FnMut(Instant, usize, Vec<u8>, FrameTag),
        lookup: &mut AddrLookup<'_>,
    ) {
        let Some(ep) = self.endpoints.get(from) else {
            return;
        };
        let (link_id, side) = (ep.link, ep.side);
        let first_hop = matches!(ep.owner, Owner::Nic { .. });
        let link_host = self.link_host(link_id);
        let mut carried = tag.carried;
        // From a switch to a NIC: whether the datagram it carries reaches its receiver this
        // way, as the frame is addressed.
        let misaddressed = match (carried, first_hop) {
            (Some(_), false) => {
                let to = self
                    .links
                    .get(link_id)
                    .and_then(|l| l.ends.get(1 - side))
                    .copied()
                    .unwrap_or(usize::MAX);
                match self
                    .marks
                    .misaddressed(to, &frame, tag.flooded, || lookup(link_host))
                {
                    Delivery::Fine => None,
                    Delivery::WrongMac => Some(link_host),
                    // The datagram's receiver is not this host: the mark names no host, and
                    // counts for the datagram whoever its hosts are.
                    Delivery::WrongHost => Some(HostId::MAX),
                }
            }
            _ => None,
        };
        #[cfg(feature = "planted-bugs")]
        let mut planted_copy = false;
        #[cfg(feature = "planted-bugs")]
        let mut planted_delay = 0u64;
        if first_hop {
            #[cfg(feature = "planted-bugs")]
            if is_ipv4(&frame, true) {
                let n = self.udp_to_nics;
                self.udp_to_nics += 1;
                if self
                    .planted
                    .contains(&PlantedBug::SwallowBeforeWire { nth: n })
                {
                    return;
                }
            }
            self.frames_sent += 1;
            // What it carries, as the sender emitted it.
            carried = self.marks.first_hop(&frame, link_host, now);
            #[cfg(feature = "planted-bugs")]
            if is_ipv4(&frame, false) {
                let n = self.ipv4_from_nics;
                self.ipv4_from_nics += 1;
                if self
                    .planted
                    .contains(&PlantedBug::BadIpv4Checksum { nth: n })
                    && let Some(b) = frame.get_mut(24)
                {
                    *b ^= 0x40;
                }
            }
            #[cfg(feature = "planted-bugs")]
            plant_tcp(&self.planted, &mut self.tcp_from_nics, &mut frame);
            // The sender's output, before any fault: the monitor's view.
            if let Some(m) = self.monitor.as_mut() {
                m.check(now, from, &frame, lookup);
            }
            #[cfg(feature = "planted-bugs")]
            {
                if self.planted.contains(&PlantedBug::TcpMssInflated) {
                    inflate_mss(&mut frame);
                }
                if let Some((src, dst, seg)) = tcp_of(&mut frame)
                    && let Ok(mut t) = weft_wire::tcp::TcpPacket::new_checked(&mut *seg)
                    && !t.payload().is_empty()
                {
                    let n = self.tcp_data_after_monitor;
                    self.tcp_data_after_monitor += 1;
                    if self
                        .planted
                        .contains(&PlantedBug::TcpCorruptAfterMonitor { nth: n })
                    {
                        if let Some(b) = t.payload_mut().first_mut() {
                            *b ^= 0x01;
                        }
                        t.fill_checksum(src, dst);
                    }
                    if self
                        .planted
                        .contains(&PlantedBug::TcpResetAfterMonitor { nth: n })
                    {
                        t.set_flags(weft_wire::tcp::TcpFlags::RST);
                        t.fill_checksum(src, dst);
                    }
                }
            }
            #[cfg(feature = "planted-bugs")]
            {
                if self.planted.contains(&PlantedBug::Nondeterminism {
                    nth: self.frames_sent - 1,
                }) && self.odd_run
                {
                    planted_delay = 1;
                }
                if is_ipv4(&frame, false) && frame.get(23) == Some(&1) {
                    let n = self.icmp_from_nics;
                    self.icmp_from_nics += 1;
                    if self
                        .planted
                        .contains(&PlantedBug::SilentIcmpDrop { nth: n })
                    {
                        return;
                    }
                }
                if is_ipv4(&frame, true) {
                    let n = self.udp_from_nics;
                    self.udp_from_nics += 1;
                    if self.planted.contains(&PlantedBug::SilentDrop { nth: n }) {
                        return;
                    }
                    if self
                        .planted
                        .contains(&PlantedBug::CorruptAfterMonitor { nth: n })
                    {
                        corrupt_udp_payload(&mut frame);
                    }
                    for bug in &self.planted {
                        if let PlantedBug::Misdeliver { nth, to } = bug
                            && *nth == n
                        {
                            readdress_udp(&mut frame, *to);
                        }
                    }
                    planted_copy = self
                        .planted
                        .contains(&PlantedBug::SilentDuplicate { nth: n });
                }
            }
        }
        let Some(link) = self.links.get_mut(link_id) else {
            return;
        };
        let Some(&to) = link.ends.get(1 - side) else {
            return;
        };
        let up = link.up;
        let Some(d) = link.dirs.get_mut(side) else {
            return;
        };
        d.counters.frames_in += 1;
        let marks = &mut self.marks;
        // A frame on its way to a host that will not take it: whatever happens to it on
        // this hop happens to the datagram, wherever that was going.
        let mark_host = misaddressed.unwrap_or(link_host);
        let mut mark = |kind| {
            if let Some(c) = carried {
                marks.push(c, kind, mark_host, now);
            }
        };
        if !up {
            d.counters.partition_drops += 1;
            mark(MarkKind::Lost);
            return;
        }
        // The MTU limits what follows the Ethernet header and its 802.1Q tags (IEEE 802.3
        // §3.5: a tag makes a full frame 4 bytes longer), as the monitor judges it.
        let header = weft_wire::ethernet::EthernetFrame::new_checked(frame.as_slice())
            .map_or(14, |e| e.header_len());
        if frame.len() > usize::from(d.cfg.mtu) + header {
            d.counters.mtu_drops += 1;
            mark(MarkKind::Lost);
            self.last_fault = Some(now);
            return;
        }
        // Drop-tail queue and serialisation at the link's rate.
        while d.queued.front().is_some_and(|t| *t <= now) {
            d.queued.pop_front();
        }
        if d.queued.len() >= d.cfg.queue_frames {
            d.counters.queue_drops += 1;
            mark(MarkKind::Lost);
            self.last_fault = Some(now);
            return;
        }
        let start = d.busy_until.max(now);
        // Serialisation delay; 0 bits per second means unlimited.
        let tx_time = (frame.len() as u64 * 8)
            .saturating_mul(1_000_000_000)
            .checked_div(d.cfg.bandwidth_bps)
            .unwrap_or(0);
        let departs = start + Duration::from_nanos(tx_time);
        d.busy_until = departs;
        d.queued.push_back(departs);

        // The decisions.
        // Jitter is drawn from the frame's bytes and their occurrence, as before tapes keyed
        // frames by identity, so every seed's run stays what it was (seeds that sweeps found
        // failing keep failing the same way); the tape key below is the stable identity.
        // Occurrences are counted only where they are used: jitter's on directions with
        // jitter, the tape key's on keyed directions (identities learn every SYN's ISN on its
        // first hop whenever any direction is keyed, as the key needs it on later hops).
        let bytes_digest = tag.bytes_digest.unwrap_or_else(|| fnv(FNV_OFFSET, &frame));
        let jitter_ns = nanos(d.cfg.jitter);
        let byte_occurrence = if jitter_ns == 0 {
            0
        } else {
            d.byte_occurrences.next(bytes_digest)
        };
        let key = if d.keyed {
            let digest = match tag.identity {
                Some(digest) => digest,
                None if first_hop => self.identity.digest(&frame),
                None => self.identity.digest_known(&frame),
            };
            Some(FrameKey {
                link: link_id as u32,
                dir: side as u8,
                digest,
                occurrence: d.occurrences.next(digest),
            })
        } else {
            if first_hop && self.any_keyed {
                self.identity.observe(&frame);
            }
            None
        };
        let mut faults: Vec<Fault> = match (&self.source, &key) {
            (FaultSource::Tape(_), Some(key)) => {
                self.tape_index.get(key).cloned().unwrap_or_default()
            }
            (FaultSource::Tape(_), None) => Vec::new(),
            (FaultSource::Random, Some(_)) => Self::draw(d, frame.len()),
            // A direction that can never draw a fault (every probability zero: not keyed)
            // draws nothing: its stream is read by nothing else, so skipping the draws
            // changes no decision, and a frame does not touch the stream's state (a cache
            // line or two per hop once thousands of links' states have left the caches).
            (FaultSource::Random, None) => Vec::new(),
        };
        // One bit flip per frame, end to end: two flips (on two hops, or two on one) can
        // cancel in the 16-bit Internet checksum and reach an application, which is the
        // checksum's known limit rather than anything a stack could catch.
        let mut flips = u8::from(tag.flipped);
        faults.retain(|f| {
            if matches!(f, Fault::Corrupt { .. }) {
                flips += 1;
                flips == 1
            } else {
                true
            }
        });
        let corrupted = faults.iter().any(|f| matches!(f, Fault::Corrupt { .. }));
        let mut drop_it = false;
        let mut copies = 1u32;
        let mut extra = Duration::ZERO;
        let mut reordered = false;
        for f in &faults {
            match *f {
                Fault::Drop => drop_it = true,
                Fault::Duplicate => copies = 2,
                Fault::Reorder { delay_ns } => {
                    extra = Duration::from_nanos(delay_ns);
                    reordered = true;
                }
                Fault::Corrupt { bit } => {
                    let byte = (bit / 8) as usize;
                    if let Some(b) = frame.get_mut(byte) {
                        *b ^= 1 << (bit % 8);
                    }
                }
            }
        }
        if !faults.is_empty() {
            self.last_fault = Some(now);
            // A direction without a key draws no faults (it is keyed when it can).
            if let Some(key) = key {
                self.tape.entries.push(TapeEntry {
                    key,
                    faults: faults.clone(),
                    describe: self.identity.describe(&frame),
                });
            }
        }
        for f in &faults {
            match f {
                Fault::Drop => {
                    d.counters.lost += 1;
                    mark(MarkKind::Lost);
                }
                Fault::Duplicate => {
                    d.counters.duplicated += 1;
                    // Both copies of a misaddressed frame are lost to the datagram (marked
                    // below): no duplicate reaches anyone, so none is excused.
                    if misaddressed.is_none() {
                        mark(MarkKind::Duplicated);
                    }
                }
                Fault::Reorder { .. } => d.counters.reordered += 1,
                // A flipped bit: the receiver's checksums drop the frame.
                Fault::Corrupt { .. } => {
                    d.counters.corrupted += 1;
                    mark(MarkKind::Corrupted);
                }
            }
        }
        if drop_it {
            return;
        }
        if let (Some(c), Some(h)) = (carried, misaddressed) {
            self.marks.push(c, MarkKind::Lost, h, now);
        }
        let jitter = match jitter_ns {
            0 => 0,
            j => {
                fnv(
                    d.jitter_key,
                    &[
                        bytes_digest.to_le_bytes(),
                        u64::from(byte_occurrence).to_le_bytes(),
                    ]
                    .concat(),
                ) % (j + 1)
            }
        };
        let mut arrival = departs + d.cfg.latency + Duration::from_nanos(jitter);
        #[cfg(feature = "planted-bugs")]
        {
            arrival = arrival + Duration::from_nanos(planted_delay);
            if planted_copy {
                copies += 1;
            }
        }
        if reordered {
            arrival = arrival + extra;
        } else {
            // Jitter alone keeps the direction in order.
            arrival = arrival.max(d.last_arrival);
            d.last_arrival = arrival;
        }
        let tag = if corrupted {
            FrameTag {
                flipped: true,
                bytes_digest: Some(fnv(FNV_OFFSET, &frame)),
                identity: None,
                carried,
                flooded: false,
            }
        } else {
            FrameTag {
                flipped: tag.flipped,
                bytes_digest: Some(bytes_digest),
                identity: key.map(|k| k.digest).or(tag.identity),
                carried,
                flooded: false,
            }
        };
        for _ in 1..copies {
            schedule(arrival, to, frame.clone(), tag);
        }
        schedule(arrival, to, frame, tag);
    }

    /// Draws this frame's faults from the direction's stream. Always the same number of
    /// draws per frame, so one decision never shifts the next frame's.
    fn draw(d: &mut DirState, len: usize) -> Vec<Fault> {
        let mut faults = Vec::new();
        let lost = match d.cfg.loss {
            Loss::None => {
                let _ = d.rng.next_u64();
                false
            }
            Loss::Bernoulli { p } => chance(&mut d.rng, p),
            Loss::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_good,
                loss_bad,
            } => {
                let flip = if d.bad_state {
                    p_bad_to_good
                } else {
                    p_good_to_bad
                };
                if chance(&mut d.rng, flip) {
                    d.bad_state = !d.bad_state;
                }
                chance(&mut d.rng, if d.bad_state { loss_bad } else { loss_good })
            }
        };
        let dup = chance(&mut d.rng, d.cfg.duplicate);
        let reorder = chance(&mut d.rng, d.cfg.reorder);
        let corrupt = chance(&mut d.rng, d.cfg.corrupt);
        let bit_draw = d.rng.next_u64();
        if lost {
            faults.push(Fault::Drop);
            return faults;
        }
        if dup {
            faults.push(Fault::Duplicate);
        }
        if reorder {
            faults.push(Fault::Reorder {
                delay_ns: nanos(d.cfg.reorder_delay),
            });
        }
        if corrupt && len > 0 {
            let bits = (len as u64) * 8;
            faults.push(Fault::Corrupt {
                bit: (bit_draw % bits) as u32,
            });
        }
        faults
    }

    /// A frame finished arriving at `endpoint`.
    pub(crate) fn arrive(&mut self, now: Instant, endpoint: usize, frame: Vec<u8>, tag: FrameTag) {
        let Some(ep) = self.endpoints.get(endpoint) else {
            return;
        };
        let (link_id, side, owner, down) = (ep.link, ep.side, ep.owner, ep.down);
        if let Some(link) = self.links.get_mut(link_id) {
            // The direction that carried it is the other side's.
            if let Some(d) = link.dirs.get_mut(1 - side) {
                if down {
                    d.counters.down_drops += 1;
                } else {
                    d.counters.delivered += 1;
                    d.counters.bytes_delivered += frame.len() as u64;
                }
            }
            if let Some(w) = link.pcap.as_mut().filter(|_| !down) {
                // A capture that fails to grow in memory loses only itself.
                let _ = w.write(now.as_nanos(), &frame);
            }
        }
        if down {
            // A crashed host's NIC is off: the frame reaches nothing (nor the capture), and
            // the datagram it carries is lost to that crash.
            if let (Owner::Nic { host }, Some(c)) = (owner, tag.carried) {
                self.marks.push(c, MarkKind::Lost, host, now);
            }
            return;
        }
        self.trace_digest = fnv(self.trace_digest, &now.as_nanos().to_le_bytes());
        self.trace_digest = fnv(self.trace_digest, &(endpoint as u64).to_le_bytes());
        // The frame by its digest, computed once per frame (see `FrameTag`).
        let bytes_digest = tag.bytes_digest.unwrap_or_else(|| fnv(FNV_OFFSET, &frame));
        self.trace_digest = fnv(self.trace_digest, &bytes_digest.to_le_bytes());
        match owner {
            Owner::Nic { host } => {
                let Some(ep) = self.endpoints.get_mut(endpoint) else {
                    return;
                };
                if ep.rx.len() >= NIC_RX_RING {
                    if let Some(d) = self
                        .links
                        .get_mut(link_id)
                        .and_then(|l| l.dirs.get_mut(1 - side))
                    {
                        d.counters.ring_drops += 1;
                    }
                    if let Some(c) = tag.carried {
                        self.marks.push(c, MarkKind::Lost, host, now);
                    }
                    return;
                }
                ep.rx.push_back(frame);
                if let Some(w) = ep.rx_waker.take() {
                    w.wake();
                }
            }
            Owner::SwitchPort { switch } => self.switch_frame(now, switch, endpoint, frame, tag),
        }
    }

    /// A learning switch (IEEE 802.1D in miniature): learn the source, forward to the known
    /// port, flood unknown and group destinations.
    fn switch_frame(
        &mut self,
        now: Instant,
        switch: usize,
        in_port: usize,
        frame: Vec<u8>,
        tag: FrameTag,
    ) {
        let (Some(dst), Some(src)) = (frame.get(0..6), frame.get(6..12)) else {
            return;
        };
        let mut dst_mac = [0u8; 6];
        dst_mac.copy_from_slice(dst);
        let mut src_mac = [0u8; 6];
        src_mac.copy_from_slice(src);
        let Some(sw) = self.switches.get_mut(switch) else {
            return;
        };
        if src_mac[0] & 1 == 0 {
            if sw.table.len() < SWITCH_TABLE || sw.table.contains_key(&src_mac) {
                sw.table.insert(src_mac, in_port);
            } else {
                sw.table_full += 1;
            }
        }
        let known = if dst_mac[0] & 1 == 0 {
            sw.table.get(&dst_mac).copied()
        } else {
            None
        };
        match known {
            // Filtered: the destination is where the frame came from (IEEE 802.1D). Only a
            // table a corrupted source MAC taught does that to a datagram: it is lost.
            Some(p) if p == in_port => {
                sw.filtered += 1;
                if let Some(c) = tag.carried {
                    self.marks.push(c, MarkKind::Lost, HostId::MAX, now);
                }
            }
            Some(p) => self.outbox.push((p, frame, tag)),
            None => {
                sw.flooded += 1;
                let ports: Vec<usize> =
                    sw.ports.iter().copied().filter(|p| *p != in_port).collect();
                let tag = FrameTag {
                    flooded: true,
                    ..tag
                };
                for p in ports {
                    self.outbox.push((p, frame.clone(), tag));
                }
            }
        }
    }
}

/// A host's NIC on the simulated network: what a weft host's stack drives, and what a raw
/// host's application gets ([`crate::SimBuilder::raw_host`]). Frames go in and out through
/// weft-core's [`Link`] (`transmit` always has room: the link's queue decides what is
/// dropped), readiness through [`AsyncLink`].
#[derive(Debug)]
pub struct SimLink {
    pub(crate) fabric: Rc<RefCell<Fabric>>,
    pub(crate) endpoint: usize,
    pub(crate) max_frame: usize,
    pub(crate) mac: MacAddr,
}

impl SimLink {
    /// The interface's MAC address, as the simulator assigned it (locally administered,
    /// unique per host and interface). The sender-side monitor expects it as the source of
    /// every frame sent on this NIC.
    pub fn mac(&self) -> MacAddr {
        self.mac
    }
}

/// A received frame.
#[derive(Debug)]
pub struct SimRx(Vec<u8>);

impl RxToken for SimRx {
    fn consume<R>(self, f: impl FnOnce(&[u8], RxMeta) -> R) -> R {
        f(&self.0, RxMeta::default())
    }
}

/// Room for a frame: the simulated NIC always takes one (the link's queue decides).
#[derive(Debug)]
pub struct SimTx<'a>(&'a SimLink);

impl TxToken for SimTx<'_> {
    fn consume<R>(self, len: usize, _meta: TxMeta, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        self.0
            .fabric
            .borrow_mut()
            .outbox
            .push((self.0.endpoint, frame, FrameTag::default()));
        r
    }
}

impl Link for SimLink {
    type Rx<'a> = SimRx;
    type Tx<'a> = SimTx<'a>;

    fn receive(&mut self) -> Option<SimRx> {
        let mut f = self.fabric.borrow_mut();
        f.endpoints
            .get_mut(self.endpoint)?
            .rx
            .pop_front()
            .map(SimRx)
    }

    fn transmit(&mut self) -> Option<SimTx<'_>> {
        Some(SimTx(self))
    }

    fn max_frame_len(&self) -> usize {
        self.max_frame
    }
}

impl AsyncLink for SimLink {
    fn poll_recv_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut f = self.fabric.borrow_mut();
        match f.endpoints.get_mut(self.endpoint) {
            Some(e) if e.rx.is_empty() => {
                e.rx_waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Some(_) => Poll::Ready(()),
            None => Poll::Pending,
        }
    }

    fn poll_send_ready(&mut self, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrences_count_repeats_and_stay_bounded_forgetting_the_least_recent() {
        let mut o = Occurrences::default();
        assert_eq!((o.next(7), o.next(7), o.next(7)), (0, 1, 2));
        // 7 is seen again in every generation: it keeps its count however many frames pass.
        let w = OCCURRENCE_WINDOW as u64;
        for i in 0..5 * w {
            assert_eq!(o.next(1_000 + i), 0);
            if i % (w / 2) == 0 {
                o.next(7);
            }
            assert!(o.len() <= 2 * OCCURRENCE_WINDOW, "{} held", o.len());
        }
        let seen_7 = 3 + 10;
        assert_eq!(o.next(7), seen_7);
        // Everything not held was forgotten, and counted.
        assert_eq!(o.forgotten + o.len() as u64, 5 * w + 1);
        // A digest unseen for two generations is forgotten: it starts again from 0.
        assert_eq!(o.next(1_000), 0);
        // One still in the previous generation is not.
        assert_eq!(o.next(1_000 + 5 * w - 1), 1);
    }

    #[test]
    fn a_down_nic_drops_and_counts_what_it_held_and_what_arrives() {
        let mut f = Fabric::new(FaultSource::Random, false);
        f.add_switch("lan".into());
        let nic = f.connect("h-lan".into(), 0, 0, &LinkSpec::default(), 1, true);
        let t = Instant::from_millis(1);
        let frame = |n: u8| vec![n; 60];
        let towards = |f: &Fabric| f.counters(0)[1];
        for n in 0..3 {
            f.arrive(t, nic, frame(n), FrameTag::default());
        }
        assert_eq!(f.endpoints[nic].rx.len(), 3);
        let digest = f.trace_digest;
        // The crash: the ring's frames are lost, and counted.
        f.nic_down(nic);
        assert!(f.endpoints[nic].rx.is_empty());
        assert_eq!((towards(&f).delivered, towards(&f).down_drops), (3, 3));
        // While down: dropped on arrival, not delivered, captured or traced.
        f.arrive(t, nic, frame(3), FrameTag::default());
        assert!(f.endpoints[nic].rx.is_empty());
        assert_eq!((towards(&f).delivered, towards(&f).down_drops), (3, 4));
        assert_eq!(f.trace_digest, digest);
        let captured = f.links[0].pcap.as_ref().map(|w| w.get_ref().len());
        // Booted again: frames are taken.
        f.nic_up(nic);
        f.arrive(t, nic, frame(4), FrameTag::default());
        assert_eq!(f.endpoints[nic].rx.len(), 1);
        assert_eq!((towards(&f).delivered, towards(&f).down_drops), (4, 4));
        assert!(f.links[0].pcap.as_ref().map(|w| w.get_ref().len()) > captured);
        assert_eq!(
            f.counters(0)[0],
            LinkCounters::default(),
            "the other direction"
        );
        // A full ring drops and counts what does not fit.
        for n in 0..NIC_RX_RING + 1 {
            f.arrive(t, nic, frame(n as u8), FrameTag::default());
        }
        assert_eq!(f.endpoints[nic].rx.len(), NIC_RX_RING);
        assert_eq!(towards(&f).ring_drops, 2);
        let (lossy, dup) = f.link_faults(0);
        assert!(lossy && !dup);
    }

    #[test]
    fn only_directions_that_can_draw_a_fault_are_keyed() {
        assert!(!LinkConfig::default().can_fault());
        let jittery = LinkConfig {
            jitter: Duration::from_millis(3),
            ..LinkConfig::default()
        };
        assert!(!jittery.can_fault());
        for c in [
            LinkConfig {
                loss: Loss::Bernoulli { p: 0.01 },
                ..LinkConfig::default()
            },
            LinkConfig {
                loss: Loss::GilbertElliott {
                    p_good_to_bad: 0.1,
                    p_bad_to_good: 0.5,
                    loss_good: 0.0,
                    loss_bad: 0.5,
                },
                ..LinkConfig::default()
            },
            LinkConfig {
                duplicate: 0.01,
                ..LinkConfig::default()
            },
            LinkConfig {
                reorder: 0.01,
                ..LinkConfig::default()
            },
            LinkConfig {
                corrupt: 0.01,
                ..LinkConfig::default()
            },
        ] {
            assert!(c.can_fault(), "{c:?}");
        }
        let mut f = Fabric::new(FaultSource::Random, false);
        f.add_switch("lan".into());
        f.connect("quiet".into(), 0, 0, &LinkSpec::default(), 1, false);
        assert!(!f.any_keyed);
        let one_way = LinkSpec {
            a_to_b: LinkConfig::default(),
            b_to_a: LinkConfig {
                duplicate: 0.5,
                ..LinkConfig::default()
            },
        };
        f.connect("dup".into(), 1, 0, &one_way, 1, false);
        assert!(f.any_keyed);
        assert_eq!(
            f.links
                .iter()
                .map(|l| [l.dirs[0].keyed, l.dirs[1].keyed])
                .collect::<Vec<_>>(),
            [[false, false], [false, true]]
        );
    }
}
