//! TCP interop in process: weft-core's `Stack` against smoltcp 0.14's `Interface`.
//!
//! The two exchange Ethernet frames over an in-memory wire: one queue per direction, each
//! frame delivered after its serialisation time (1 Gbit/s) plus a one-way delay of 500 µs.
//! Time is virtual: the clock jumps to the next deadline (weft's `poll_timeout`, smoltcp's
//! `poll_at`, the next frame's arrival) or by a fixed step when nothing is due, and each
//! step is at least 1 µs, smoltcp's clock resolution. Both sides compute and verify every
//! checksum (weft: `RxMeta::default()`; smoltcp: `ChecksumCapabilities::default()`), and ARP
//! runs for real (neither side knows the other's MAC at the start).
//!
//! The tests: the handshake both ways, 10 MiB each direction at once both ways (64 KiB
//! buffers on both sides, the payload compared byte for byte and by digest), graceful close
//! from either end, simultaneous close, half-close both ways, RST both ways, and the 10 MiB
//! transfer again over a lossy wire (seeded ChaCha: loss, duplication, reordering). Each
//! prints what happened in simulated terms: segments, retransmissions, virtual time.
//!
//! A wire tap parses every TCP segment put on the wire and counts, per direction, segments,
//! payload bytes and retransmissions (payload that ends at or below the highest sequence
//! number that direction already sent). An audit checks what weft does with each of
//! smoltcp's pure ACKs that acknowledges new data: `smoltcp_right_edge_acks_are_processed`
//! (ignored while it fails) shows weft dropping those whose SEG.SEQ sits at the right edge
//! of its receive window.
//!
//! `WEFT_SMOLTCP_SEED` replays the lossy test with another seed.

// Test code: a panic is a failure report, and indexes are checked by construction.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
use std::collections::{BTreeMap, VecDeque};
use weft_core::tcp::{ConnError, RecvError, State, TcpSocketId};
use weft_core::{
    ChecksumState, Event, IfaceId, Instant, InterfaceConfig, RxMeta, Stack, StackConfig, TcpError,
};
use weft_wire::{Ipv4Addr, MacAddr};

// ---------------------------------------------------------------------------------------
// The scenario.

const WEFT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SMOL_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const WEFT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SMOL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PREFIX: u8 = 24;
/// The server's port (either side).
const PORT: u16 = 8080;
/// smoltcp's local port when it is the client (smoltcp wants one chosen for it).
const SMOL_CLIENT_PORT: u16 = 50_000;
/// Send and receive buffers on both sides.
const BUF: usize = 64 * 1024;
/// The bulk transfer, per direction.
const BULK: usize = 10 << 20;

/// One-way propagation delay.
const LATENCY_NS: u64 = 500_000;
/// Serialisation time: 1 Gbit/s.
const NS_PER_BYTE: u64 = 8;
/// The clock's step when no timer and no frame is due (the applications poll at least this
/// often).
const STEP_NS: u64 = 10_000_000;
/// The smallest step: smoltcp's clock counts microseconds.
const MIN_STEP_NS: u64 = 1_000;

const SEED: u64 = 0x7466_7773_6d6f_6c74;

fn smol_addr(a: Ipv4Addr) -> IpAddress {
    IpAddress::Ipv4(a)
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

// ---------------------------------------------------------------------------------------
// The wire.

/// A lossy wire's fault model, drawn per frame from a seeded ChaCha stream.
#[derive(Debug, Clone, Copy)]
struct Faults {
    /// Probability that a frame is lost.
    loss: f64,
    /// Probability that a frame arrives twice.
    duplicate: f64,
    /// Probability that a frame is held back (and so overtaken by the frames behind it).
    reorder: f64,
    /// How long a held frame waits, in nanoseconds (uniform).
    hold_ns: (u64, u64),
}

/// The TCP fields of an Ethernet/IPv4/TCP frame (neither side sends IPv4 options or VLAN
/// tags; weft-wire's checked views are not needed to read what both sides just built).
#[derive(Debug, Clone, Copy)]
struct SegInfo {
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    rst: bool,
    len: usize,
}

fn seg_info(f: &[u8]) -> Option<SegInfo> {
    if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let t = 14 + ihl;
    let word = |at: usize| u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]]);
    let doff = usize::from(f[t + 12] >> 4) * 4;
    let flags = f[t + 13];
    Some(SegInfo {
        seq: word(t + 4),
        ack: (flags & 0x10 != 0).then(|| word(t + 8)),
        fin: flags & 0x01 != 0,
        syn: flags & 0x02 != 0,
        rst: flags & 0x04 != 0,
        len: total - ihl - doff,
    })
}

/// `a - b` in sequence space.
fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// What a wire tap saw of one direction's TCP segments (counted as sent, before faults).
#[derive(Debug, Default, Clone, Copy)]
struct TcpTap {
    segments: u64,
    data_segments: u64,
    payload_bytes: u64,
    /// Segments whose payload ends at or below the highest sequence number already sent.
    retransmissions: u64,
    syn: u64,
    fin: u64,
    rst: u64,
    /// Highest sequence number sent plus one (relative to the first segment seen).
    high: Option<u32>,
}

impl TcpTap {
    /// Counts one frame, if it is IPv4/TCP (neither side sends IPv4 options or VLAN tags).
    fn observe(&mut self, f: &[u8]) {
        let Some(SegInfo {
            seq,
            syn,
            fin,
            rst,
            len,
            ..
        }) = seg_info(f)
        else {
            return;
        };
        self.segments += 1;
        self.syn += u64::from(syn);
        self.fin += u64::from(fin);
        self.rst += u64::from(rst);
        let end = seq
            .wrapping_add(len as u32)
            .wrapping_add(u32::from(syn) + u32::from(fin));
        if len > 0 {
            self.data_segments += 1;
            self.payload_bytes += len as u64;
            if self.high.is_some_and(|h| seq_diff(end, h) <= 0) {
                self.retransmissions += 1;
            }
        }
        if !rst {
            match self.high {
                Some(h) if seq_diff(end, h) <= 0 => {}
                _ => self.high = Some(end),
            }
        }
    }
}

/// Frames counted on one direction of the wire.
#[derive(Debug, Default, Clone, Copy)]
struct LinkStats {
    frames: u64,
    bytes: u64,
    dropped: u64,
    duplicated: u64,
    reordered: u64,
    tcp: TcpTap,
}

/// One direction of the wire: frames in flight, ordered by arrival time.
struct Link {
    in_flight: BTreeMap<(u64, u64), Vec<u8>>,
    next_id: u64,
    busy_until: u64,
    faults: Option<(Faults, ChaCha8Rng)>,
    /// TCP segments with data to lose, by their index among this direction's data
    /// segments (0 = the first).
    drop_data: Vec<u64>,
    /// How many retransmissions of each of those to lose as well.
    drop_repeats: u32,
    /// Sequence numbers of lost segments, with the retransmissions still to lose.
    lost: Vec<(u32, u32)>,
    stats: LinkStats,
}

impl Link {
    fn new(faults: Option<(Faults, u64)>) -> Link {
        Link {
            in_flight: BTreeMap::new(),
            next_id: 0,
            busy_until: 0,
            faults: faults.map(|(f, seed)| (f, ChaCha8Rng::seed_from_u64(seed))),
            drop_data: Vec::new(),
            drop_repeats: 0,
            lost: Vec::new(),
            stats: LinkStats::default(),
        }
    }

    /// Puts a frame on the wire at `now`.
    fn send(&mut self, now: u64, frame: Vec<u8>) {
        self.stats.frames += 1;
        self.stats.bytes += frame.len() as u64;
        let data_index = self.stats.tcp.data_segments;
        self.stats.tcp.observe(&frame);
        if self.stats.tcp.data_segments > data_index {
            let seq = seg_info(&frame).map_or(0, |s| s.seq);
            if self.drop_data.contains(&data_index) {
                self.lost.push((seq, self.drop_repeats));
                self.stats.dropped += 1;
                return;
            }
            if let Some(l) = self.lost.iter_mut().find(|l| l.0 == seq && l.1 > 0) {
                l.1 -= 1;
                self.stats.dropped += 1;
                return;
            }
        }
        let start = self.busy_until.max(now);
        self.busy_until = start + frame.len() as u64 * NS_PER_BYTE;
        let mut at = self.busy_until + LATENCY_NS;
        let mut copies = 1;
        if let Some((f, rng)) = &mut self.faults {
            if rng.gen_bool(f.loss) {
                self.stats.dropped += 1;
                return;
            }
            if rng.gen_bool(f.duplicate) {
                self.stats.duplicated += 1;
                copies = 2;
            }
            if rng.gen_bool(f.reorder) {
                self.stats.reordered += 1;
                at += rng.gen_range(f.hold_ns.0..=f.hold_ns.1);
            }
        }
        for _ in 0..copies {
            self.in_flight.insert((at, self.next_id), frame.clone());
            self.next_id += 1;
        }
    }

    fn next_arrival(&self) -> Option<u64> {
        self.in_flight.keys().next().map(|k| k.0)
    }

    /// The next frame that has arrived by `now`.
    fn arrived(&mut self, now: u64) -> Option<Vec<u8>> {
        if self.next_arrival()? > now {
            return None;
        }
        self.in_flight.pop_first().map(|(_, f)| f)
    }
}

// ---------------------------------------------------------------------------------------
// smoltcp's device: frames that have arrived in, frames to send out.

struct WireDevice<'a> {
    rx: &'a mut VecDeque<Vec<u8>>,
    tx: &'a mut Vec<Vec<u8>>,
}

struct WireRx(Vec<u8>);

struct WireTx<'a>(&'a mut Vec<Vec<u8>>);

impl smoltcp::phy::RxToken for WireRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl smoltcp::phy::TxToken for WireTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        self.0.push(frame);
        r
    }
}

impl Device for WireDevice<'_> {
    type RxToken<'b>
        = WireRx
    where
        Self: 'b;
    type TxToken<'b>
        = WireTx<'b>
    where
        Self: 'b;

    fn receive(
        &mut self,
        _now: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let f = self.rx.pop_front()?;
        Some((WireRx(f), WireTx(self.tx)))
    }

    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(WireTx(self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        // `checksum` stays `ChecksumCapabilities::default()`: computed on send and verified
        // on receive for IPv4 and TCP.
        caps
    }
}

// ---------------------------------------------------------------------------------------
// The two hosts and the clock.

struct Net {
    /// Virtual time, nanoseconds.
    now: u64,
    weft: Stack,
    iface: Interface,
    sockets: SocketSet<'static>,
    to_smol: Link,
    to_weft: Link,
    smol_rx: VecDeque<Vec<u8>>,
    smol_tx: Vec<Vec<u8>>,
    /// Every event weft reported, with the time.
    events: Vec<(u64, Event)>,
    tx_buf: Vec<u8>,
    rx_buf: Vec<u8>,
    steps: u64,
    /// The connection whose incoming ACKs are audited.
    audit: Option<TcpSocketId>,
    acks: AckAudit,
}

/// What weft did with smoltcp's pure ACKs (no data, SYN, FIN or RST) that acknowledged new
/// data of weft's (SND.UNA < SEG.ACK =< SND.MAX): RFC 9293 §3.10.7.4 "fifth, check the ACK
/// field": SND.UNA <- SEG.ACK, once the segment passed the sequence number check.
#[derive(Debug, Default, Clone, Copy)]
struct AckAudit {
    /// Such ACKs.
    new_acks: u64,
    /// ... after which weft's SND.UNA had not moved to SEG.ACK: the ACK was dropped.
    ignored: u64,
    /// ... of which SEG.SEQ = RCV.NXT + RCV.WND (the right edge of weft's window).
    ignored_right_edge: u64,
    /// ... of which SEG.SEQ < RCV.NXT.
    ignored_below: u64,
    /// The first ignored one: virtual time, SEG.SEQ, SEG.ACK, and weft's RCV.NXT, RCV.WND,
    /// SND.UNA and SND.MAX before it arrived.
    first_ignored: Option<(u64, u32, u32, u32, u32, u32, u32)>,
}

impl Net {
    fn new(seed: u64, faults: Option<Faults>) -> Net {
        let mut config = StackConfig::new(seed);
        config.add_interface(InterfaceConfig::ethernet(
            MacAddr(WEFT_MAC),
            WEFT_IP,
            PREFIX,
        ));
        config.tcp.send_buffer = BUF;
        config.tcp.recv_buffer = BUF;
        let weft = Stack::new(config, Instant::ZERO).unwrap();

        let mut smol_rx = VecDeque::new();
        let mut smol_tx = Vec::new();
        let mut iface_config = Config::new(EthernetAddress(SMOL_MAC).into());
        iface_config.random_seed = seed ^ 0x5eed;
        let mut iface = Interface::new(
            iface_config,
            &mut WireDevice {
                rx: &mut smol_rx,
                tx: &mut smol_tx,
            },
            smoltcp::time::Instant::ZERO,
        );
        iface.update_ip_addrs(|addrs| {
            addrs.push(IpCidr::new(smol_addr(SMOL_IP), PREFIX)).unwrap();
        });
        let faults_for = |dir: u64| faults.map(|f| (f, seed.wrapping_add(dir)));
        Net {
            now: 0,
            weft,
            iface,
            sockets: SocketSet::new(Vec::new()),
            to_smol: Link::new(faults_for(1)),
            to_weft: Link::new(faults_for(2)),
            smol_rx,
            smol_tx,
            events: Vec::new(),
            tx_buf: vec![0u8; 2048],
            rx_buf: vec![0u8; 32 * 1024],
            steps: 0,
            audit: None,
            acks: AckAudit::default(),
        }
    }

    fn wnow(&self) -> Instant {
        Instant::from_nanos(self.now)
    }

    fn snow(&self) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros((self.now / 1_000) as i64)
    }

    /// Everything weft has to send goes on the wire; its events are recorded.
    fn weft_flush(&mut self) {
        let now = self.wnow();
        while let Some(t) = self.weft.poll_transmit(now, &mut self.tx_buf) {
            assert_eq!(t.iface, IfaceId(0));
            // Checksums computed in software (no offload on this wire).
            assert_eq!(t.meta.checksum, ChecksumState::Unknown);
            assert_eq!(t.meta.segment_size, None);
            self.to_smol.send(self.now, self.tx_buf[..t.len].to_vec());
        }
        while let Some(e) = self.weft.poll_event() {
            self.events.push((self.now, e));
        }
    }

    /// One `Interface::poll` (the frames that arrived, then egress); what it sent goes on
    /// the wire.
    fn smol_poll(&mut self) {
        let now = self.snow();
        let mut dev = WireDevice {
            rx: &mut self.smol_rx,
            tx: &mut self.smol_tx,
        };
        let _ = self.iface.poll(now, &mut dev, &mut self.sockets);
        for f in self.smol_tx.drain(..) {
            self.to_weft.send(self.now, f);
        }
    }

    /// Runs until `app` returns true (it is called once per step, after both sides have
    /// taken in what arrived and run their timers) or `limit_ns` of virtual time passed.
    /// Returns whether `app` finished.
    fn run(&mut self, limit_ns: u64, mut app: impl FnMut(&mut Net) -> bool) -> bool {
        let end = self.now + limit_ns;
        loop {
            self.steps += 1;
            let now = self.wnow();
            while let Some(f) = self.to_weft.arrived(self.now) {
                let before = self.audit.and_then(|s| self.weft.tcp_info(s));
                self.weft
                    .handle_frame(now, IfaceId(0), &f, RxMeta::default());
                if let Some(before) = before {
                    self.audit_ack(&before, &f);
                }
            }
            if self.weft.poll_timeout().is_some_and(|t| t <= now) {
                self.weft.handle_timeout(now);
            }
            self.weft_flush();
            while let Some(f) = self.to_smol.arrived(self.now) {
                self.smol_rx.push_back(f);
            }
            self.smol_poll();
            let done = app(self);
            self.weft_flush();
            self.smol_poll();
            if done {
                return true;
            }
            if self.now >= end {
                return false;
            }
            let snow = self.snow();
            let deadlines = [
                self.weft.poll_timeout().map(Instant::as_nanos),
                self.iface
                    .poll_at(snow, &self.sockets)
                    .map(|t| t.total_micros() as u64 * 1_000),
                self.to_smol.next_arrival(),
                self.to_weft.next_arrival(),
            ];
            let next = deadlines
                .into_iter()
                .flatten()
                .fold(self.now + STEP_NS, u64::min);
            self.now = next.max(self.now + MIN_STEP_NS).min(end);
        }
    }

    fn audit_ack(&mut self, before: &weft_core::TcpInfo, f: &[u8]) {
        let Some(seg) = seg_info(f) else { return };
        let Some(ack) = seg.ack else { return };
        if seg.len > 0 || seg.syn || seg.fin || seg.rst {
            return;
        }
        let (una, max) = (before.send.una.0, before.send.max.0);
        if seq_diff(ack, una) <= 0 || seq_diff(ack, max) > 0 {
            return;
        }
        self.acks.new_acks += 1;
        let after = self.audit.and_then(|s| self.weft.tcp_info(s));
        if after.is_some_and(|a| seq_diff(a.send.una.0, ack) >= 0) {
            return;
        }
        self.acks.ignored += 1;
        let r = &before.recv;
        self.acks
            .first_ignored
            .get_or_insert((self.now, seg.seq, ack, r.nxt.0, r.wnd, una, max));
        let from_nxt = seq_diff(seg.seq, before.recv.nxt.0);
        if from_nxt < 0 {
            self.acks.ignored_below += 1;
        } else if i64::from(from_nxt) == i64::from(before.recv.wnd) {
            self.acks.ignored_right_edge += 1;
        }
    }

    /// Lets `ns` of virtual time pass with no application activity.
    fn idle(&mut self, ns: u64) {
        self.run(ns, |_| false);
    }

    fn smol(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket<'static>>(h)
    }

    fn smol_state(&self, h: SocketHandle) -> tcp::State {
        self.sockets.get::<tcp::Socket<'static>>(h).state()
    }

    fn weft_state(&self, s: TcpSocketId) -> Option<State> {
        self.weft.tcp_info(s).map(|i| i.state)
    }

    fn has_event(&self, e: &Event) -> bool {
        self.events.iter().any(|(_, x)| x == e)
    }

    fn new_smol_socket(&mut self) -> SocketHandle {
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; BUF]),
            tcp::SocketBuffer::new(vec![0u8; BUF]),
        );
        self.sockets.add(socket)
    }

    // --- the applications' moves.

    /// weft sends as much of `src` as its send buffer takes.
    fn weft_send(&mut self, s: TcpSocketId, src: &mut Source) {
        let now = self.wnow();
        while src.off < src.data.len() {
            match self.weft.tcp_send(now, s, &src.data[src.off..]) {
                Ok(0) => break,
                Ok(n) => src.off += n,
                Err(e) => panic!("weft send at {}: {e}", src.off),
            }
        }
    }

    /// weft reads everything readable into `sink`.
    fn weft_recv(&mut self, s: TcpSocketId, sink: &mut Sink) {
        let now = self.wnow();
        loop {
            match self.weft.tcp_recv(now, s, &mut self.rx_buf) {
                Ok(0) => break,
                Ok(n) => sink.take("weft", &self.rx_buf[..n]),
                Err(TcpError::Recv(RecvError::Finished)) => {
                    sink.eof = true;
                    break;
                }
                Err(e) => panic!("weft recv after {} bytes: {e}", sink.got),
            }
        }
    }

    /// smoltcp sends as much of `src` as its send buffer takes.
    fn smol_send(&mut self, h: SocketHandle, src: &mut Source) {
        let data = &src.data[src.off..];
        let s = self.smol(h);
        if !data.is_empty() && s.may_send() {
            src.off += s.send_slice(data).unwrap();
        }
    }

    /// smoltcp reads everything readable into `sink`.
    fn smol_recv(&mut self, h: SocketHandle, sink: &mut Sink) {
        let s = self.sockets.get_mut::<tcp::Socket<'static>>(h);
        loop {
            match s.recv_slice(&mut self.rx_buf) {
                Ok(0) => break,
                Ok(n) => sink.take("smoltcp", &self.rx_buf[..n]),
                Err(tcp::RecvError::Finished) => {
                    sink.eof = true;
                    break;
                }
                Err(tcp::RecvError::InvalidState) => break,
            }
        }
    }

    /// What happened, in simulated terms.
    fn report(&self, label: &str, start_ns: u64, weft_sock: Option<TcpSocketId>) {
        let t = self.now - start_ns;
        let (ws, ss) = (self.to_smol.stats, self.to_weft.stats);
        println!(
            "{label}: {:.3} s virtual, {} clock steps",
            secs(t),
            self.steps
        );
        for (dir, s) in [("weft -> smoltcp", ws), ("smoltcp -> weft", ss)] {
            let tcp = s.tcp;
            println!(
                "  {dir}: {} frames ({} bytes), {} TCP segments ({} with data, {} payload \
                 bytes, {} retransmitted, SYN {} FIN {} RST {}), {:.1} Mbit/s payload; wire \
                 faults: {} dropped, {} duplicated, {} reordered",
                s.frames,
                s.bytes,
                tcp.segments,
                tcp.data_segments,
                tcp.payload_bytes,
                tcp.retransmissions,
                tcp.syn,
                tcp.fin,
                tcp.rst,
                tcp.payload_bytes as f64 * 8.0 / secs(t.max(1)) / 1e6,
                s.dropped,
                s.duplicated,
                s.reordered
            );
        }
        let a = self.acks;
        println!(
            "  smoltcp's pure ACKs of new data: {}; weft ignored {} ({} with SEG.SEQ = RCV.NXT + \
             RCV.WND, {} with SEG.SEQ < RCV.NXT)",
            a.new_acks, a.ignored, a.ignored_right_edge, a.ignored_below
        );
        if let Some((t, seq, ack, nxt, wnd, una, max)) = a.first_ignored {
            println!(
                "    the first at {:.6} s: SEG.SEQ {seq} (RCV.NXT {nxt} + {}; RCV.WND {wnd}), \
                 SEG.ACK {ack} (SND.UNA {una} + {}; SND.MAX {max})",
                secs(t),
                seq_diff(seq, nxt),
                seq_diff(ack, una)
            );
        }
        let c = self.weft.counters().tcp;
        println!(
            "  weft TCP counters: {} segments in, {} out, {} bad checksum, {} malformed, {} \
             to no socket, {} RST sent",
            c.rx_segments,
            c.tx_segments,
            c.rx_bad_checksum,
            c.rx_malformed,
            c.rx_no_socket,
            c.rst_sent
        );
        if let Some(info) = weft_sock.and_then(|s| self.weft.tcp_info(s)) {
            let st = info.stats;
            println!(
                "  weft connection: state {:?}, mss {}, cwnd {}, ssthresh {}, rto {:?}, srtt \
                 {:?}, send wscale {}, recv wscale {}; {} segments in, {} out, {} retransmitted \
                 ({} RTO expirations, {} fast retransmits), {} dup ACKs in, {} out-of-order \
                 stored, {} out-of-order dropped, {} unacceptable, {} challenge ACKs, {} window \
                 probes",
                info.state,
                info.send.mss,
                info.send.cwnd,
                info.send.ssthresh,
                info.send.rto,
                info.send.srtt,
                info.send.wscale,
                info.recv.wscale,
                st.segs_in,
                st.segs_out,
                st.retransmitted_segs,
                st.rto_expirations,
                st.fast_retransmits,
                st.dup_acks,
                st.ooo_segments,
                st.ooo_dropped,
                st.unacceptable,
                st.challenge_acks,
                st.window_probes
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Payloads.

/// A 64-bit FNV-1a digest.
fn digest(mut h: u64, data: &[u8]) -> u64 {
    for b in data {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

const DIGEST_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// What one side sends: seeded random bytes.
struct Source {
    data: Vec<u8>,
    off: usize,
}

impl Source {
    fn new(len: usize, seed: u64) -> Source {
        let mut data = vec![0u8; len];
        ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
        Source { data, off: 0 }
    }

    fn done(&self) -> bool {
        self.off == self.data.len()
    }

    fn sink(&self) -> Sink {
        Sink {
            expect: self.data.clone(),
            got: 0,
            digest: DIGEST_BASIS,
            eof: false,
        }
    }
}

/// What the other side receives, checked byte for byte against what was sent.
struct Sink {
    expect: Vec<u8>,
    got: usize,
    digest: u64,
    eof: bool,
}

impl Sink {
    fn take(&mut self, who: &str, data: &[u8]) {
        assert!(!self.eof, "{who} read data after the end of the stream");
        let end = self.got + data.len();
        assert!(
            end <= self.expect.len(),
            "{who} received {end} bytes, {} were sent",
            self.expect.len()
        );
        if let Some(i) = (0..data.len()).find(|&i| data[i] != self.expect[self.got + i]) {
            panic!(
                "{who} received byte {} = {:#04x}, {:#04x} was sent",
                self.got + i,
                data[i],
                self.expect[self.got + i]
            );
        }
        self.digest = digest(self.digest, data);
        self.got = end;
    }

    fn complete(&self) -> bool {
        self.got == self.expect.len()
    }

    /// Everything arrived, and the digests of both ends agree.
    fn check(&self, who: &str) {
        assert_eq!(self.got, self.expect.len(), "{who}: bytes received");
        let sent = digest(DIGEST_BASIS, &self.expect);
        assert_eq!(self.digest, sent, "{who}: digest of the received bytes");
        println!(
            "  {who} received {} bytes, FNV-1a-64 {:#018x} (sender's {sent:#018x})",
            self.got, self.digest
        );
    }
}

// ---------------------------------------------------------------------------------------
// Connections.

/// Which side opens the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Weft,
    Smol,
}

const BOTH: [Client; 2] = [Client::Weft, Client::Smol];

/// One connection, seen from both sides.
#[derive(Debug, Clone, Copy)]
struct Pair {
    weft: TcpSocketId,
    smol: SocketHandle,
}

/// Opens a connection (`client` connects to the other's listener on `PORT`) and runs until
/// both sides report it established. Returns the pair and the virtual time it took.
fn establish(net: &mut Net, client: Client) -> (Pair, u64) {
    let start = net.now;
    let smol = net.new_smol_socket();
    let mut weft = None;
    match client {
        Client::Weft => {
            net.smol(smol).listen(PORT).unwrap();
            let now = net.wnow();
            weft = Some(
                net.weft
                    .tcp_connect(now, (SMOL_IP, PORT), (Ipv4Addr::UNSPECIFIED, 0))
                    .unwrap(),
            );
        }
        Client::Smol => {
            let listener = net.weft.tcp_listen(Ipv4Addr::UNSPECIFIED, PORT, 8).unwrap();
            let cx = net.iface.context();
            net.sockets
                .get_mut::<tcp::Socket<'static>>(smol)
                .connect(cx, (smol_addr(WEFT_IP), PORT), SMOL_CLIENT_PORT)
                .unwrap();
            let ok = net.run(10_000_000_000, |net| {
                if weft.is_none() {
                    weft = net.weft.tcp_accept(listener).unwrap();
                }
                weft.is_some()
            });
            assert!(ok, "weft accepted no connection from smoltcp");
            assert!(net.has_event(&Event::TcpAcceptable { listener }));
        }
    }
    let weft = weft.unwrap();
    net.audit = Some(weft);
    let ok = net.run(10_000_000_000, |net| {
        net.smol_state(smol) == tcp::State::Established
            && net.weft_state(weft) == Some(State::Established)
    });
    assert!(
        ok,
        "handshake ({client:?} client) did not complete: weft {:?}, smoltcp {}",
        net.weft_state(weft),
        net.smol_state(smol)
    );
    (Pair { weft, smol }, net.now - start)
}

// ---------------------------------------------------------------------------------------
// (1) The handshake.

#[test]
fn smoltcp_handshake_both_ways() {
    for client in BOTH {
        let mut net = Net::new(SEED, None);
        let (p, took) = establish(&mut net, client);
        let info = net.weft.tcp_info(p.weft).unwrap();
        let s = net.sockets.get::<tcp::Socket<'static>>(p.smol);
        // The endpoints agree.
        let local = s.local_endpoint().unwrap();
        let remote = s.remote_endpoint().unwrap();
        assert_eq!(local.addr, smol_addr(SMOL_IP));
        assert_eq!(remote.addr, smol_addr(WEFT_IP));
        assert_eq!((info.local.0, info.remote.0), (WEFT_IP, SMOL_IP));
        assert_eq!(info.local.1, remote.port);
        assert_eq!(info.remote.1, local.port);
        match client {
            Client::Weft => {
                assert_eq!(local.port, PORT);
                assert!(info.local.1 >= 49152, "an RFC 6056 ephemeral port");
                assert!(net.has_event(&Event::TcpConnected { socket: p.weft }));
            }
            Client::Smol => {
                assert_eq!((info.local.1, info.remote.1), (PORT, SMOL_CLIENT_PORT));
            }
        }
        // MSS both ways: 1500 - 40 (RFC 9293 §3.7.1).
        assert_eq!(info.send.mss, 1460, "the MSS weft took from smoltcp's SYN");
        // RFC 7323: both offered window scaling, so both apply it; smoltcp's 64 KiB
        // receive buffer needs a shift of 1.
        assert_eq!(info.send.wscale, 1, "smoltcp's window shift");
        // Nothing was retransmitted, nothing refused, no checksum failed.
        let c = net.weft.counters().tcp;
        assert_eq!(c.rx_bad_checksum + c.rx_malformed + c.rst_sent, 0, "{c:?}");
        assert_eq!(info.stats.retransmitted_segs, 0);
        assert_eq!(net.to_smol.stats.tcp.syn, 1);
        assert_eq!(net.to_weft.stats.tcp.syn, 1);
        assert_eq!(net.to_smol.stats.tcp.rst + net.to_weft.stats.tcp.rst, 0);
        println!(
            "handshake, {client:?} client: established on both sides after {:.3} ms virtual \
             (ARP both ways, then SYN, SYN-ACK, ACK); weft {}:{} <-> smoltcp {}:{}; weft \
             advertises shift {}, smoltcp shift {}",
            took as f64 / 1e6,
            info.local.0,
            info.local.1,
            info.remote.0,
            info.remote.1,
            info.recv.wscale,
            info.send.wscale
        );
        net.report("handshake", 0, Some(p.weft));
    }
}

// ---------------------------------------------------------------------------------------
// (2) 10 MiB each direction, at once.

/// Sends `BULK` bytes each way at once over `net` and checks both ends. Returns the pair.
fn bulk_both_ways(net: &mut Net, client: Client, label: &str, limit_ns: u64) -> Pair {
    let (p, _) = establish(net, client);
    let start = net.now;
    let mut w2s = Source::new(BULK, SEED ^ 1);
    let mut s2w = Source::new(BULK, SEED ^ 2);
    let mut at_smol = w2s.sink();
    let mut at_weft = s2w.sink();
    let ok = net.run(limit_ns, |net| {
        net.weft_send(p.weft, &mut w2s);
        net.smol_send(p.smol, &mut s2w);
        net.weft_recv(p.weft, &mut at_weft);
        net.smol_recv(p.smol, &mut at_smol);
        at_weft.complete() && at_smol.complete()
    });
    net.report(label, start, Some(p.weft));
    assert!(
        ok,
        "{label}: transfer incomplete after {:.1} s virtual: smoltcp got {} of {BULK}, weft \
         got {} of {BULK} (weft {:?}, smoltcp {})",
        secs(net.now - start),
        at_smol.got,
        at_weft.got,
        net.weft_state(p.weft),
        net.smol_state(p.smol)
    );
    assert!(w2s.done() && s2w.done());
    at_smol.check("smoltcp");
    at_weft.check("weft");
    let c = net.weft.counters().tcp;
    assert_eq!(c.rx_bad_checksum + c.rx_malformed, 0, "{c:?}");
    assert_eq!(net.to_smol.stats.tcp.rst + net.to_weft.stats.tcp.rst, 0);
    // Still open both ways.
    assert_eq!(net.weft_state(p.weft), Some(State::Established));
    assert_eq!(net.smol_state(p.smol), tcp::State::Established);
    p
}

#[test]
fn smoltcp_ten_mebibytes_both_ways_weft_client() {
    let mut net = Net::new(SEED, None);
    let p = bulk_both_ways(
        &mut net,
        Client::Weft,
        "10 MiB each way, weft client",
        60e9 as u64,
    );
    // A clean wire: nothing lost, so nothing should need sending twice.
    let st = net.weft.tcp_info(p.weft).unwrap().stats;
    assert_eq!(st.rto_expirations, 0, "{st:?}");
}

#[test]
fn smoltcp_ten_mebibytes_both_ways_smoltcp_client() {
    let mut net = Net::new(SEED + 1, None);
    let p = bulk_both_ways(
        &mut net,
        Client::Smol,
        "10 MiB each way, smoltcp client",
        60e9 as u64,
    );
    let st = net.weft.tcp_info(p.weft).unwrap().stats;
    assert_eq!(st.rto_expirations, 0, "{st:?}");
}

// ---------------------------------------------------------------------------------------
// (3) Graceful close and half-close.

/// weft shuts down first: weft FIN-WAIT-1/2 → TIME-WAIT, smoltcp CLOSE-WAIT → LAST-ACK →
/// CLOSED; weft's TIME-WAIT ends after 2·MSL with `TcpClosed`.
#[test]
fn smoltcp_graceful_close_weft_first() {
    for client in BOTH {
        let mut net = Net::new(SEED + 10, None);
        let (p, _) = establish(&mut net, client);
        let start = net.now;
        let now = net.wnow();
        net.weft.tcp_shutdown(now, p.weft).unwrap();
        let mut at_smol = Source::new(0, 0).sink();
        let ok = net.run(5_000_000_000, |net| {
            net.smol_recv(p.smol, &mut at_smol);
            at_smol.eof && net.weft_state(p.weft) == Some(State::FinWait2)
        });
        assert!(
            ok,
            "smoltcp saw no FIN from weft (eof {}), or weft saw no ACK of it (weft {:?})",
            at_smol.eof,
            net.weft_state(p.weft)
        );
        assert_eq!(net.smol_state(p.smol), tcp::State::CloseWait);
        assert_eq!(net.weft_state(p.weft), Some(State::FinWait2));
        net.smol(p.smol).close();
        let ok = net.run(5_000_000_000, |net| {
            net.smol_state(p.smol) == tcp::State::Closed
                && net.weft_state(p.weft) == Some(State::TimeWait)
        });
        assert!(
            ok,
            "close ({client:?} client): weft {:?}, smoltcp {}",
            net.weft_state(p.weft),
            net.smol_state(p.smol)
        );
        assert!(net.has_event(&Event::TcpPeerClosed { socket: p.weft }));
        let mut eof = Source::new(0, 0).sink();
        net.weft_recv(p.weft, &mut eof);
        assert!(eof.eof, "weft's recv reports the end of the stream");
        net.report(
            &format!("close, weft first, {client:?} client"),
            start,
            Some(p.weft),
        );
        assert_eq!(net.to_smol.stats.tcp.fin, 1);
        assert_eq!(net.to_weft.stats.tcp.fin, 1);
        assert_eq!(net.to_smol.stats.tcp.rst + net.to_weft.stats.tcp.rst, 0);
        // RFC 9293 §3.6: TIME-WAIT lasts 2·MSL (60 s by default), then CLOSED.
        net.idle(59_000_000_000);
        assert_eq!(net.weft_state(p.weft), Some(State::TimeWait));
        net.idle(2_000_000_000);
        assert_eq!(net.weft_state(p.weft), Some(State::Closed));
        assert!(net.has_event(&Event::TcpClosed { socket: p.weft }));
        assert_eq!(net.to_smol.stats.tcp.rst + net.to_weft.stats.tcp.rst, 0);
    }
}

/// smoltcp closes first: smoltcp FIN-WAIT → TIME-WAIT, weft CLOSE-WAIT → LAST-ACK → CLOSED.
#[test]
fn smoltcp_graceful_close_smoltcp_first() {
    for client in BOTH {
        let mut net = Net::new(SEED + 11, None);
        let (p, _) = establish(&mut net, client);
        let start = net.now;
        net.smol(p.smol).close();
        let mut at_weft = Source::new(0, 0).sink();
        let ok = net.run(5_000_000_000, |net| {
            net.weft_recv(p.weft, &mut at_weft);
            at_weft.eof && net.smol_state(p.smol) == tcp::State::FinWait2
        });
        assert!(
            ok,
            "weft saw no FIN from smoltcp (eof {}), or smoltcp saw no ACK of it ({})",
            at_weft.eof,
            net.smol_state(p.smol)
        );
        assert!(net.has_event(&Event::TcpPeerClosed { socket: p.weft }));
        assert_eq!(net.weft_state(p.weft), Some(State::CloseWait));
        assert_eq!(net.smol_state(p.smol), tcp::State::FinWait2);
        let now = net.wnow();
        net.weft.tcp_shutdown(now, p.weft).unwrap();
        let ok = net.run(5_000_000_000, |net| {
            net.smol_state(p.smol) == tcp::State::TimeWait
                && net.weft_state(p.weft) == Some(State::Closed)
        });
        assert!(
            ok,
            "close ({client:?} client): weft {:?}, smoltcp {}",
            net.weft_state(p.weft),
            net.smol_state(p.smol)
        );
        assert!(net.has_event(&Event::TcpClosed { socket: p.weft }));
        assert!(
            !net.events
                .iter()
                .any(|(_, e)| matches!(e, Event::TcpFailed { .. })),
            "{:?}",
            net.events
        );
        net.report(
            &format!("close, smoltcp first, {client:?} client"),
            start,
            Some(p.weft),
        );
        assert_eq!(net.to_smol.stats.tcp.fin, 1);
        assert_eq!(net.to_weft.stats.tcp.fin, 1);
        assert_eq!(net.to_smol.stats.tcp.rst + net.to_weft.stats.tcp.rst, 0);
    }
}

/// Both close at the same instant: FIN-WAIT-1 → CLOSING → TIME-WAIT on both sides
/// (RFC 9293 §3.6, figure 13).
#[test]
fn smoltcp_simultaneous_close() {
    let mut net = Net::new(SEED + 12, None);
    let (p, _) = establish(&mut net, Client::Weft);
    let start = net.now;
    let now = net.wnow();
    net.weft.tcp_shutdown(now, p.weft).unwrap();
    net.smol(p.smol).close();
    let ok = net.run(5_000_000_000, |net| {
        net.smol_state(p.smol) == tcp::State::TimeWait
            && net.weft_state(p.weft) == Some(State::TimeWait)
    });
    net.report("simultaneous close", start, Some(p.weft));
    assert!(
        ok,
        "simultaneous close: weft {:?}, smoltcp {}",
        net.weft_state(p.weft),
        net.smol_state(p.smol)
    );
    assert!(net.has_event(&Event::TcpPeerClosed { socket: p.weft }));
    assert_eq!(net.to_smol.stats.tcp.rst + net.to_weft.stats.tcp.rst, 0);
}

/// weft shuts down its direction after 1 MiB; smoltcp reads to the end, then sends 1 MiB
/// into the half-closed connection (weft in FIN-WAIT-2 reads it all) and closes.
#[test]
fn smoltcp_half_close_weft_shuts_down() {
    for client in BOTH {
        let mut net = Net::new(SEED + 13, None);
        let (p, _) = establish(&mut net, client);
        let start = net.now;
        let mut w2s = Source::new(1 << 20, 21);
        let mut s2w = Source::new(1 << 20, 22);
        let mut at_smol = w2s.sink();
        let mut at_weft = s2w.sink();
        let mut shut = false;
        let mut closed = false;
        let mut fin_wait_2_reads = 0usize;
        let ok = net.run(30_000_000_000, |net| {
            net.weft_send(p.weft, &mut w2s);
            if w2s.done() && !shut {
                let now = net.wnow();
                net.weft.tcp_shutdown(now, p.weft).unwrap();
                shut = true;
            }
            net.smol_recv(p.smol, &mut at_smol);
            if at_smol.eof {
                // Half-closed: smoltcp keeps sending.
                if !closed {
                    assert_eq!(net.smol_state(p.smol), tcp::State::CloseWait);
                }
                net.smol_send(p.smol, &mut s2w);
                if s2w.done() && !closed {
                    net.smol(p.smol).close();
                    closed = true;
                }
            }
            let before = at_weft.got;
            net.weft_recv(p.weft, &mut at_weft);
            if at_weft.got > before && net.weft_state(p.weft) == Some(State::FinWait2) {
                fin_wait_2_reads += at_weft.got - before;
            }
            at_weft.eof
                && net.weft_state(p.weft) == Some(State::TimeWait)
                && net.smol_state(p.smol) == tcp::State::Closed
        });
        net.report(
            &format!("half-close, weft shuts down, {client:?} client"),
            start,
            Some(p.weft),
        );
        assert!(
            ok,
            "half-close: weft {:?} got {} eof {}, smoltcp {} got {} eof {}",
            net.weft_state(p.weft),
            at_weft.got,
            at_weft.eof,
            net.smol_state(p.smol),
            at_smol.got,
            at_smol.eof
        );
        at_smol.check("smoltcp");
        at_weft.check("weft");
        assert!(fin_wait_2_reads > 0, "weft read data while in FIN-WAIT-2");
        assert_eq!(net.to_smol.stats.tcp.rst + net.to_weft.stats.tcp.rst, 0);
    }
}

/// smoltcp closes its direction after 1 MiB; weft reads to the end, then sends 1 MiB from
/// CLOSE-WAIT (smoltcp in FIN-WAIT-2 reads it all) and shuts down.
#[test]
fn smoltcp_half_close_smoltcp_shuts_down() {
    for client in BOTH {
        let mut net = Net::new(SEED + 14, None);
        let (p, _) = establish(&mut net, client);
        let start = net.now;
        let mut s2w = Source::new(1 << 20, 23);
        let mut w2s = Source::new(1 << 20, 24);
        let mut at_weft = s2w.sink();
        let mut at_smol = w2s.sink();
        let mut closed = false;
        let mut shut = false;
        let ok = net.run(30_000_000_000, |net| {
            net.smol_send(p.smol, &mut s2w);
            if s2w.done() && !closed {
                net.smol(p.smol).close();
                closed = true;
            }
            net.weft_recv(p.weft, &mut at_weft);
            if at_weft.eof {
                if !shut {
                    assert_eq!(net.weft_state(p.weft), Some(State::CloseWait));
                }
                net.weft_send(p.weft, &mut w2s);
                if w2s.done() && !shut {
                    let now = net.wnow();
                    net.weft.tcp_shutdown(now, p.weft).unwrap();
                    shut = true;
                }
            }
            net.smol_recv(p.smol, &mut at_smol);
            at_smol.eof
                && net.weft_state(p.weft) == Some(State::Closed)
                && net.smol_state(p.smol) == tcp::State::TimeWait
        });
        net.report(
            &format!("half-close, smoltcp shuts down, {client:?} client"),
            start,
            Some(p.weft),
        );
        assert!(
            ok,
            "half-close: weft {:?} got {} eof {}, smoltcp {} got {} eof {}",
            net.weft_state(p.weft),
            at_weft.got,
            at_weft.eof,
            net.smol_state(p.smol),
            at_smol.got,
            at_smol.eof
        );
        at_weft.check("weft");
        at_smol.check("smoltcp");
        assert!(net.has_event(&Event::TcpClosed { socket: p.weft }));
        assert_eq!(net.to_smol.stats.tcp.rst + net.to_weft.stats.tcp.rst, 0);
    }
}

// ---------------------------------------------------------------------------------------
// (4) Reset.

/// smoltcp aborts (RST) in the middle of a transfer: weft reports `TcpFailed { Reset }`,
/// goes to CLOSED, and its calls fail with the reset.
#[test]
fn smoltcp_abort_resets_weft() {
    for client in BOTH {
        let mut net = Net::new(SEED + 20, None);
        let (p, _) = establish(&mut net, client);
        let start = net.now;
        let mut w2s = Source::new(1 << 20, 31);
        let mut at_smol = w2s.sink();
        // Some data flowing, then the abort.
        let ok = net.run(10_000_000_000, |net| {
            net.weft_send(p.weft, &mut w2s);
            net.smol_recv(p.smol, &mut at_smol);
            at_smol.got >= 100_000
        });
        assert!(ok);
        net.smol(p.smol).abort();
        let failed = Event::TcpFailed {
            socket: p.weft,
            error: ConnError::Reset,
        };
        let ok = net.run(5_000_000_000, |net| net.has_event(&failed));
        net.report(
            &format!("smoltcp abort, {client:?} client"),
            start,
            Some(p.weft),
        );
        assert!(ok, "weft events: {:?}", net.events);
        // The abort's RST, then one for each of weft's segments in flight that met the
        // closed socket.
        assert!(net.to_weft.stats.tcp.rst >= 1);
        assert_eq!(net.weft_state(p.weft), Some(State::Closed));
        assert_eq!(net.smol_state(p.smol), tcp::State::Closed);
        let now = net.wnow();
        assert_eq!(
            net.weft.tcp_send(now, p.weft, b"x"),
            Err(TcpError::Send(weft_core::tcp::SendError::Failed(
                ConnError::Reset
            )))
        );
        let mut buf = [0u8; 16];
        assert_eq!(
            net.weft.tcp_recv(now, p.weft, &mut buf),
            Err(TcpError::Recv(RecvError::Failed(ConnError::Reset)))
        );
        // weft answers nothing to the RST (RFC 9293 §3.10.7.4: a RST is never answered).
        let c = net.weft.counters().tcp;
        assert_eq!(c.rst_sent, 0, "{c:?}");
    }
}

/// weft aborts: smoltcp receives the RST and goes to CLOSED.
#[test]
fn smoltcp_weft_abort_resets_smoltcp() {
    for client in BOTH {
        let mut net = Net::new(SEED + 21, None);
        let (p, _) = establish(&mut net, client);
        let start = net.now;
        let mut s2w = Source::new(1 << 20, 32);
        let mut at_weft = s2w.sink();
        let ok = net.run(10_000_000_000, |net| {
            net.smol_send(p.smol, &mut s2w);
            net.weft_recv(p.weft, &mut at_weft);
            at_weft.got >= 100_000
        });
        assert!(ok);
        let now = net.wnow();
        net.weft.tcp_abort(now, p.weft).unwrap();
        let ok = net.run(5_000_000_000, |net| {
            net.smol_state(p.smol) == tcp::State::Closed
        });
        net.report(&format!("weft abort, {client:?} client"), start, None);
        assert!(ok, "smoltcp is still {}", net.smol_state(p.smol));
        // The abort's RST, and one for each of smoltcp's segments in flight that met no
        // connection (RFC 9293 §3.10.7.1) or, weft being the server, the listener
        // (§3.10.7.2: an ACK in LISTEN gets <SEQ=SEG.ACK><CTL=RST>).
        let c = net.weft.counters().tcp;
        assert_eq!(net.to_smol.stats.tcp.rst, 1 + c.rst_sent, "{c:?}");
        // smoltcp's calls now fail; the handle weft gave up is gone.
        assert!(!net.smol(p.smol).may_send());
        assert_eq!(
            net.weft.tcp_send(now, p.weft, b"x"),
            Err(TcpError::NoSuchSocket)
        );
        // smoltcp (CLOSED) answers none of those RSTs; once what was in flight has
        // arrived, the wire goes quiet.
        net.idle(100_000_000);
        let segments = (
            net.to_smol.stats.tcp.segments,
            net.to_weft.stats.tcp.segments,
        );
        net.idle(5_000_000_000);
        assert_eq!(net.weft.tcp_connections(), 0);
        assert_eq!(net.to_weft.stats.tcp.rst, 0);
        assert_eq!(
            (
                net.to_smol.stats.tcp.segments,
                net.to_weft.stats.tcp.segments
            ),
            segments
        );
    }
}

// ---------------------------------------------------------------------------------------
// (5) 10 MiB each way over a lossy wire.

#[test]
fn smoltcp_ten_mebibytes_both_ways_lossy_wire() {
    let seed = std::env::var("WEFT_SMOLTCP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let faults = Faults {
        loss: 0.01,
        duplicate: 0.005,
        reorder: 0.005,
        hold_ns: (1_000_000, 5_000_000),
    };
    println!("lossy wire: seed {seed} (set WEFT_SMOLTCP_SEED to replay another), {faults:?}");
    for client in BOTH {
        let mut net = Net::new(seed, Some(faults));
        let label = format!("10 MiB each way over the lossy wire, {client:?} client");
        let p = bulk_both_ways(&mut net, client, &label, 600e9 as u64);
        let (a, b) = (net.to_smol.stats, net.to_weft.stats);
        for (dir, s) in [("weft -> smoltcp", a), ("smoltcp -> weft", b)] {
            assert!(
                s.dropped > 0 && s.duplicated > 0 && s.reordered > 0,
                "{dir}: the faults happened: {s:?}"
            );
        }
        let st = net.weft.tcp_info(p.weft).unwrap().stats;
        println!(
            "  weft retransmission statistics: {} segments retransmitted, {} RTO expirations, \
             {} fast retransmits, {} duplicate ACKs received, {} out-of-order segments stored",
            st.retransmitted_segs,
            st.rto_expirations,
            st.fast_retransmits,
            st.dup_acks,
            st.ooo_segments
        );
        assert!(
            st.retransmitted_segs > 0,
            "weft lost segments, so it retransmitted"
        );
        assert!(net.to_weft.stats.tcp.retransmissions > 0, "so did smoltcp");
    }
}

// ---------------------------------------------------------------------------------------
// ACKs at the right edge of the window.

/// One of smoltcp's data segments is lost while both sides send, and so is its fast
/// retransmission: smoltcp waits for its retransmission timeout (at least 1 s). Until it
/// repairs the hole, it has filled weft's window, so its pure ACKs (SEG.SEQ = SND.NXT) sit exactly at
/// the right edge of that window: SEG.SEQ = RCV.NXT + RCV.WND. They acknowledge weft's data,
/// and weft must take that acknowledgment in, as Linux (`tcp_sequence`: a segment is out of
/// window only when SEG.SEQ is *after* RCV.NXT + RCV.WND) and FreeBSD (`tcp_input`: nothing
/// is trimmed from a zero-length segment at the edge) do.
#[test]
fn smoltcp_right_edge_acks_are_processed() {
    for client in BOTH {
        let mut net = Net::new(SEED + 30, None);
        let (p, _) = establish(&mut net, client);
        let start = net.now;
        // smoltcp's 101st data segment is lost, and its first retransmission.
        net.to_weft.drop_data.push(100);
        net.to_weft.drop_repeats = 3;
        let mut w2s = Source::new(1 << 20, 41);
        let mut s2w = Source::new(1 << 20, 42);
        let mut at_smol = w2s.sink();
        let mut at_weft = s2w.sink();
        let ok = net.run(60_000_000_000, |net| {
            net.weft_send(p.weft, &mut w2s);
            net.smol_send(p.smol, &mut s2w);
            net.weft_recv(p.weft, &mut at_weft);
            net.smol_recv(p.smol, &mut at_smol);
            at_weft.complete() && at_smol.complete()
        });
        net.report(
            &format!("one smoltcp segment lost, {client:?} client"),
            start,
            Some(p.weft),
        );
        assert!(ok);
        at_smol.check("smoltcp");
        at_weft.check("weft");
        assert_eq!(net.to_weft.stats.dropped, 4);
        let a = net.acks;
        assert_eq!(
            a.ignored_right_edge, 0,
            "weft dropped {} of smoltcp's pure ACKs at the right edge of its window ({a:?})",
            a.ignored_right_edge
        );
        // Nothing of weft's was lost: no retransmission timeout can be right.
        let st = net.weft.tcp_info(p.weft).unwrap().stats;
        assert_eq!(st.rto_expirations, 0, "{st:?}");
    }
}
