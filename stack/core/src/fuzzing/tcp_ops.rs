//! Fuzz target body `tcp_ops`: two [`Stack`]s back to back on one Ethernet segment and a
//! virtual clock, driven by an arbitrary sequence of socket calls on both sides and of
//! network and time events, with TCP's end-to-end promises as the oracle.
//!
//! The input is a small configuration (each side's [`TcpConfig`], connection and backlog
//! limits, the start time), then operations, one selector byte each plus arguments:
//! listen and unlisten (two ports), connect (ephemeral or fixed local ports, so simultaneous
//! opens and reused 4-tuples happen), accept, send (pattern bytes of a chosen length), receive,
//! shutdown, close, abort, configure; on the wire (a queue per direction, nothing moves by
//! itself) deliver, drop, duplicate or reorder the next frame, or deliver everything; time
//! passing with frames held, timer by timer, or with a perfect network for a while.
//!
//! Checks:
//! * every frame either stack sends parses with valid checksums;
//! * bytes read on a connection are a prefix of what the peer's application wrote on the
//!   connection with the same 4-tuple and ISN, in order, at every read;
//! * events name only sockets and listeners the application holds; never the application's
//!   own abort; connection counts stay within `Limits::tcp_connections`; a held handle stays
//!   valid;
//! * no endless exchange: 10,000 segments without data in a row at one instant is a loop;
//! * at the end the network turns perfect and time runs on (20 minutes of virtual time) with
//!   both applications accepting and reading: everything the peer's connection had
//!   acknowledged is read, followed by the end of the stream when its FIN was acknowledged;
//!   two connections that both hold their handles and saw no failure have nothing left
//!   unacknowledged and are both Closed when both shut down, in FIN-WAIT-2 / CLOSE-WAIT when
//!   one did, ESTABLISHED when neither did (unless data was still flowing after a budget of
//!   rounds — megabytes through a window of a few bytes — which is counted, `unfinished`);
//! * then every handle is closed, every listener closed, and after another 30 minutes the
//!   stacks hold no connection the applications did not know of, and none but FIN-WAIT-2
//!   whose peer is gone (RFC 9293 has no timer to leave FIN-WAIT-2; such orphans are
//!   counted, not failed).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::expect_used,
    missing_docs
)]

use super::Res;
use crate::config::{IfaceId, InterfaceConfig, Limits, StackConfig};
use crate::event::Event;
use crate::link::RxMeta;
use crate::stack::{Stack, TcpError, TcpInfo};
use crate::tcp::conn::WindowScale;
use crate::tcp::{ConnError, RecvError, State, TcpConfig, TcpListenerId, TcpSocketId};
use crate::time::{Duration, Instant};
use arbitrary::Unstructured;
use std::collections::VecDeque;
use std::string::String;
use std::vec;
use std::vec::Vec;
use weft_wire::ethernet::{EtherType, EthernetFrame};
use weft_wire::ipv4::{IpProtocol, Ipv4Packet};
use weft_wire::tcp::TcpPacket;
use weft_wire::{Ipv4Addr, MacAddr};

/// Operations per input at most.
const MAX_OPS: usize = 400;
/// Frames waiting per direction; beyond, the oldest is lost.
const WIRE_FRAMES: usize = 512;
/// Frames one `poll_transmit` loop or one `deliver_all` may see before the network is
/// declared stuck in a loop.
const STORM: usize = 200_000;
/// Frames without data delivered in a row at one instant before the stacks are declared
/// stuck in an exchange of empty segments.
const EMPTY_STORM: usize = 10_000;
/// Rounds of deliveries and timers in one stretch of the final perfect network.
const FINAL_ROUNDS: usize = 4000;
/// Stretches of FINAL_ROUNDS the final perfect network runs while the applications still
/// read data (each costs a few milliseconds).
const FINAL_CHUNKS: usize = 8;
/// The two ports listeners use.
const PORTS: [u16; 2] = [80, 81];
const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
const NAMES: [&str; 2] = ["a", "b"];

/// Fuzz body: never panics unless a stack breaks one of the promises above.
pub fn tcp_ops(data: &[u8]) {
    let _ = run(data);
}

/// What one run reached (for the seeded test and the seed corpus).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpOpsOutcome {
    /// Operations run.
    pub ops: usize,
    /// Connections either application got (connect or accept).
    pub connections: usize,
    /// Connections that reached ESTABLISHED (seen by `tcp_info`).
    pub established: usize,
    /// Bytes read by the applications.
    pub bytes_read: u64,
    /// Connections read to the end of the stream.
    pub eofs: usize,
    /// Pairs found both Closed by the final check.
    pub closed_pairs: usize,
    /// Pairs the final checks compared (stream contents or states).
    pub checked_pairs: usize,
    /// Frames that crossed the wire.
    pub frames: u64,
    /// Frames the input dropped, duplicated or reordered.
    pub faults: u64,
    /// Connections that failed (reset, refused, timed out).
    pub failures: usize,
    /// FIN-WAIT-2 connections left behind by a vanished peer.
    pub orphans: usize,
    /// 1 when the final perfect network was still moving data after its budget of rounds
    /// (the end-to-end checks of the pairs were then skipped).
    pub unfinished: usize,
    /// Ring memory `tcp_release_buffers` gave back (called after every application read:
    /// the streams must come out whole all the same).
    pub buffer_bytes_released: u64,
}

/// The byte an application writes at offset `off` of a connection's stream (`salt` tells
/// the connections apart).
fn stream_byte(salt: u32, off: usize) -> u8 {
    let x = salt.wrapping_add(off as u32).wrapping_mul(0x9e37_79b1);
    (x >> 24) as u8 ^ (off >> 8) as u8
}

type Tuple = (Ipv4Addr, u16, Ipv4Addr, u16);

fn reversed(t: Tuple) -> Tuple {
    (t.2, t.3, t.0, t.1)
}

/// A connection an application got.
#[derive(Debug, Clone)]
struct Conn {
    id: TcpSocketId,
    tuple: Tuple,
    iss: u32,
    /// The peer's ISS once synchronized.
    irs: Option<u32>,
    salt: u32,
    held: bool,
    shut: bool,
    /// Shut down before the handshake completed (the connection is just forgotten).
    shut_early: bool,
    aborted: bool,
    sent: Vec<u8>,
    received: Vec<u8>,
    eof: bool,
    failed: Option<ConnError>,
    /// `tcp_info` when last seen alive.
    last: Option<TcpInfo>,
    established: bool,
}

struct Side {
    stack: Stack,
    listeners: Vec<(TcpListenerId, u16)>,
    conns: Vec<Conn>,
    limits: Limits,
    events_dropped: bool,
}

struct World {
    now: Instant,
    sides: [Side; 2],
    /// Frames in flight: [0] from a to b, [1] from b to a.
    wire: [VecDeque<Vec<u8>>; 2],
    out: TcpOpsOutcome,
    buf: Vec<u8>,
    /// The applications' read buffer.
    rbuf: Vec<u8>,
    trace: bool,
    /// Frames without TCP data delivered in a row, at this instant.
    empty_run: (Instant, usize),
}

fn gen_config(u: &mut Unstructured<'_>) -> Res<TcpConfig> {
    let mut c = TcpConfig::default();
    if u.int_in_range(0..=3u8)? == 0 {
        return Ok(c);
    }
    let buffer = |u: &mut Unstructured<'_>| -> Res<usize> {
        Ok(match u.int_in_range(0..=5u8)? {
            0 => u.int_in_range(1..=600)?,
            1 => u.int_in_range(601..=8192)?,
            2 => 200_000,
            _ => 65_536,
        })
    };
    c.send_buffer = buffer(u)?;
    c.recv_buffer = buffer(u)?;
    c.max_ooo_ranges = u.int_in_range(0..=8)?;
    c.mss = match u.int_in_range(0..=3u8)? {
        // (Down to 32: an MSS of a few bytes is stack_frames' to explore; here it would
        // only make every transfer thousands of segments long.)
        0 => Some(u.int_in_range(32..=1460)?),
        _ => None,
    };
    c.window_scale = match u.int_in_range(0..=3u8)? {
        0 => WindowScale::Off,
        1 => WindowScale::Shift(u.int_in_range(0..=14)?),
        _ => WindowScale::Auto,
    };
    c.initial_window = match u.int_in_range(0..=3u8)? {
        0 => Some(u.int_in_range(1..=10)?),
        _ => None,
    };
    c.time_wait = Duration::from_millis(u.int_in_range(1..=60_000)?);
    c.delayed_ack = Duration::from_millis(u.int_in_range(0..=200)?);
    c.nodelay = u.arbitrary()?;
    if u.ratio(1u8, 4u8)? {
        c.min_rto = Duration::from_millis(u.int_in_range(1..=1000)?);
    }
    Ok(c)
}

impl World {
    fn new(u: &mut Unstructured<'_>) -> Res<World> {
        let seed: u64 = u.arbitrary()?;
        let start = match u.int_in_range(0..=3u8)? {
            0 => Instant::from_nanos(u.int_in_range(0..=1u64 << 42)?),
            _ => Instant::ZERO,
        };
        let mut sides = Vec::new();
        for (k, addr) in ADDRS.iter().enumerate() {
            let mut config = StackConfig::new(seed ^ k as u64);
            config.add_interface(InterfaceConfig::ethernet(
                MacAddr([2, 0, 0, 0, 0, k as u8 + 1]),
                *addr,
                24,
            ));
            config.tcp = gen_config(u)?;
            config.limits.tcp_connections = u.int_in_range(1..=6)?;
            config.limits.tcp_backlog = u.int_in_range(1..=3)?;
            config.limits.tcp_challenge_acks_per_sec = u.int_in_range(0..=20)?;
            let limits = config.limits;
            let stack = Stack::new(config, start).expect("a valid configuration");
            sides.push(Side {
                stack,
                listeners: Vec::new(),
                conns: Vec::new(),
                limits,
                events_dropped: false,
            });
        }
        let [a, b]: [Side; 2] = sides.try_into().ok().unwrap();
        Ok(World {
            now: start,
            sides: [a, b],
            wire: [VecDeque::new(), VecDeque::new()],
            out: TcpOpsOutcome::default(),
            buf: vec![0u8; 65_536],
            rbuf: Vec::new(),
            trace: std::env::var_os("WEFT_FUZZ_TRACE").is_some(),
            empty_run: (start, 0),
        })
    }

    fn log(&self, what: impl FnOnce() -> String) {
        if self.trace {
            std::eprintln!("[{}] {}", self.now, what());
        }
    }

    // ---- the driver: timers, transmissions, events ----

    /// Timers due, then every frame onto the wire, then every event; then the bounds.
    fn settle(&mut self) {
        for s in 0..2 {
            let mut rounds = 0;
            loop {
                let stack = &mut self.sides[s].stack;
                if stack.poll_timeout().is_some_and(|t| t <= self.now) {
                    stack.handle_timeout(self.now);
                    assert!(
                        stack.poll_timeout().is_none_or(|t| t > self.now),
                        "a timer is due right after handle_timeout"
                    );
                }
                self.transmit(s);
                self.events(s);
                rounds += 1;
                if self.sides[s]
                    .stack
                    .poll_timeout()
                    .is_none_or(|t| t > self.now)
                {
                    break;
                }
                assert!(rounds < 64, "timers keep coming due at {}", self.now);
            }
            self.observe(s);
        }
    }

    fn transmit(&mut self, s: usize) {
        let mut buf = std::mem::take(&mut self.buf);
        let mut n = 0;
        while let Some(t) = self.sides[s].stack.poll_transmit(self.now, &mut buf) {
            n += 1;
            assert!(n <= STORM, "poll_transmit does not run dry");
            assert_eq!(t.iface, IfaceId(0));
            let frame = &buf[..t.len];
            check_frame(frame);
            self.log(|| format!("{} sends {}", NAMES[s], describe(frame)));
            let q = &mut self.wire[s];
            if q.len() >= WIRE_FRAMES {
                q.pop_front();
                self.out.faults += 1;
            }
            q.push_back(frame.to_vec());
        }
        self.buf = buf;
    }

    fn events(&mut self, s: usize) {
        let side = &mut self.sides[s];
        while let Some(e) = side.stack.poll_event() {
            if self.trace {
                std::eprintln!("[{}] {} event {e:?}", self.now, NAMES[s]);
            }
            let conn = |side: &mut Side, socket: TcpSocketId| -> usize {
                side.conns
                    .iter()
                    .position(|c| c.id == socket && c.held)
                    .unwrap_or_else(|| panic!("{e:?} for a socket the application does not hold"))
            };
            match e {
                Event::TcpAcceptable { listener } => assert!(
                    side.listeners.iter().any(|l| l.0 == listener),
                    "{e:?} for a listener that is closed"
                ),
                Event::TcpFailed { socket, error } => {
                    assert!(
                        error != ConnError::Aborted,
                        "{e:?} after the application's abort"
                    );
                    let c = conn(side, socket);
                    side.conns[c].failed = Some(error);
                    self.out.failures += 1;
                }
                Event::TcpConnected { socket }
                | Event::TcpReadable { socket }
                | Event::TcpWritable { socket }
                | Event::TcpPeerClosed { socket }
                | Event::TcpUrgent { socket }
                | Event::TcpIcmpError { socket, .. }
                | Event::TcpRetransmitting { socket }
                | Event::TcpClosed { socket } => {
                    conn(side, socket);
                }
                _ => {}
            }
        }
        side.events_dropped |= side.stack.counters().queues.events_dropped > 0;
    }

    /// Reads every connection's `tcp_info`: handles stay valid, counts stay bounded.
    fn observe(&mut self, s: usize) {
        let side = &mut self.sides[s];
        let live = side.stack.tcp_connections();
        assert!(
            live <= side.limits.tcp_connections,
            "{}: {live} connections, limit {}",
            NAMES[s],
            side.limits.tcp_connections
        );
        let mut alive = 0;
        for c in &mut side.conns {
            match side.stack.tcp_info(c.id) {
                Some(info) => {
                    alive += 1;
                    assert_eq!(info.send.iss.0, c.iss, "ISS changed");
                    if info.state.is_synchronized() {
                        c.established = true;
                        let irs = info.recv.irs.0;
                        assert!(c.irs.is_none_or(|x| x == irs), "IRS changed");
                        c.irs = Some(irs);
                    }
                    c.last = Some(info);
                }
                None => assert!(!c.held, "{}: held handle {:?} is gone", NAMES[s], c.id),
            }
        }
        assert!(alive <= live, "{alive} connections answer, {live} counted");
    }

    // ---- the wire ----

    fn deliver_head(&mut self, dir: usize, keep: bool) -> bool {
        let frame = if keep {
            self.wire[dir].front().cloned()
        } else {
            self.wire[dir].pop_front()
        };
        let Some(frame) = frame else {
            return false;
        };
        if carries_tcp_data(&frame) || self.empty_run.0 != self.now {
            self.empty_run = (self.now, 0);
        } else {
            self.empty_run.1 += 1;
        }
        if self.empty_run.1 > EMPTY_STORM {
            panic!(
                "{EMPTY_STORM} segments without data exchanged at {}, the last: {}",
                self.now,
                describe(&frame)
            );
        }
        let to = 1 - dir;
        self.log(|| format!("{} gets {}", NAMES[to], describe(&frame)));
        self.out.frames += 1;
        self.sides[to]
            .stack
            .handle_frame(self.now, IfaceId(0), &frame, RxMeta::default());
        self.settle();
        true
    }

    /// Delivers everything in flight, both ways, until the wire is empty.
    fn deliver_all(&mut self) {
        let mut n = 0;
        loop {
            let mut any = false;
            for dir in 0..2 {
                while self.deliver_head(dir, false) {
                    any = true;
                    n += 1;
                    assert!(
                        n <= STORM,
                        "the stacks keep exchanging frames at {}: {} and {} queued",
                        self.now,
                        self.wire[0].len(),
                        self.wire[1].len()
                    );
                }
            }
            if !any {
                break;
            }
        }
    }

    /// Time passes to `until`, timer by timer, frames held; after `max` timers it stops
    /// at the last one.
    fn sleep(&mut self, until: Instant, max: usize) {
        for _ in 0..max {
            let next = (0..2)
                .filter_map(|s| self.sides[s].stack.poll_timeout())
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.settle();
                }
                _ => {
                    self.now = self.now.max(until);
                    self.settle();
                    return;
                }
            }
        }
    }

    /// A perfect network until `until` (at most `max` rounds of deliveries and timers): frames
    /// delivered at once. True when it stopped because nothing was left to do before `until`.
    fn run_perfect(&mut self, until: Instant, max: usize, apps: bool) -> bool {
        let mut quiet = false;
        for _ in 0..max {
            self.deliver_all();
            if apps {
                self.apps_work();
                if !self.wire.iter().all(VecDeque::is_empty) {
                    continue;
                }
            }
            let next = (0..2)
                .filter_map(|s| self.sides[s].stack.poll_timeout())
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.settle();
                }
                _ => {
                    quiet = true;
                    break;
                }
            }
        }
        self.deliver_all();
        if apps {
            self.apps_work();
            self.deliver_all();
        }
        quiet
    }

    /// Both applications accept everything and read everything.
    fn apps_work(&mut self) {
        for s in 0..2 {
            for l in 0..self.sides[s].listeners.len() {
                let id = self.sides[s].listeners[l].0;
                while self.accept_one(s, id) {}
            }
            for c in 0..self.sides[s].conns.len() {
                if self.sides[s].conns[c].held {
                    self.read(s, c, 65_536, 64);
                }
            }
        }
        self.settle();
    }

    // ---- the applications ----

    fn held_conn(&self, s: usize, pick: u8) -> Option<usize> {
        let conns = &self.sides[s].conns;
        if conns.is_empty() {
            return None;
        }
        let held: Vec<usize> = (0..conns.len()).filter(|&c| conns[c].held).collect();
        if pick & 0x80 != 0 || held.is_empty() {
            // Any connection, released ones included (their handles are stale).
            return Some(usize::from(pick & 0x7f) % conns.len());
        }
        Some(held[usize::from(pick) % held.len()])
    }

    fn listen(&mut self, s: usize, port: u16, backlog: usize) {
        let r = self.sides[s]
            .stack
            .tcp_listen(Ipv4Addr::UNSPECIFIED, port, backlog);
        self.log(|| format!("{} listen {port}: {r:?}", NAMES[s]));
        let side = &mut self.sides[s];
        let exists = side.listeners.iter().any(|l| l.1 == port);
        match r {
            Ok(id) => {
                assert!(!exists, "port {port} listened twice");
                side.listeners.push((id, port));
            }
            Err(TcpError::AddrInUse { .. }) => assert!(exists, "listen {port}: {r:?}"),
            Err(e) => panic!("listen failed: {e}"),
        }
    }

    fn unlisten(&mut self, s: usize, idx: u8) {
        let side = &mut self.sides[s];
        if side.listeners.is_empty() {
            return;
        }
        let (id, port) = side
            .listeners
            .remove(usize::from(idx) % side.listeners.len());
        self.log(|| format!("{} unlisten {port}", NAMES[s]));
        self.sides[s].stack.tcp_unlisten(self.now, id);
    }

    fn register(&mut self, s: usize, id: TcpSocketId) {
        let side = &mut self.sides[s];
        assert!(
            !side.conns.iter().any(|c| c.id == id && c.held),
            "{id:?} handed out twice"
        );
        let info = side.stack.tcp_info(id).expect("a new connection has info");
        let n = side.conns.len() as u32;
        side.conns.push(Conn {
            id,
            tuple: (info.local.0, info.local.1, info.remote.0, info.remote.1),
            iss: info.send.iss.0,
            irs: None,
            salt: (s as u32 + 1).wrapping_mul(0x0100_0193) ^ n.wrapping_mul(0x2545_f491),
            held: true,
            shut: false,
            shut_early: false,
            aborted: false,
            sent: Vec::new(),
            received: Vec::new(),
            eof: false,
            failed: None,
            last: Some(info),
            established: false,
        });
        self.out.connections += 1;
    }

    fn accept_one(&mut self, s: usize, id: TcpListenerId) -> bool {
        let r = self.sides[s].stack.tcp_accept(id);
        self.log(|| format!("{} accept: {r:?}", NAMES[s]));
        match r {
            Ok(Some(sock)) => {
                self.register(s, sock);
                true
            }
            Ok(None) => false,
            Err(e) => panic!("accept on a listener failed: {e}"),
        }
    }

    fn connect(&mut self, s: usize, port: u16, local: u16) {
        let remote = (ADDRS[1 - s], port);
        let before = self.sides[s].stack.tcp_connections();
        let r = self.sides[s]
            .stack
            .tcp_connect(self.now, remote, (Ipv4Addr::UNSPECIFIED, local));
        self.log(|| format!("{} connect :{local} -> {remote:?}: {r:?}", NAMES[s]));
        match r {
            Ok(id) => self.register(s, id),
            Err(TcpError::TooManyConnections(_)) => {
                assert!(before >= self.sides[s].limits.tcp_connections);
            }
            Err(TcpError::AddrInUse { .. } | TcpError::NoFreePort(_)) => {}
            Err(e) => panic!("connect failed: {e}"),
        }
    }

    fn send(&mut self, s: usize, c: usize, len: usize) {
        let conn = &self.sides[s].conns[c];
        let start = conn.sent.len();
        let data: Vec<u8> = (start..start + len)
            .map(|o| stream_byte(conn.salt, o))
            .collect();
        let id = conn.id;
        let r = self.sides[s].stack.tcp_send(self.now, id, &data);
        self.log(|| format!("{} send {} bytes on {id:?}: {r:?}", NAMES[s], data.len()));
        let conn = &mut self.sides[s].conns[c];
        match r {
            Ok(n) => {
                assert!(conn.held && n <= len);
                conn.sent.extend_from_slice(&data[..n]);
            }
            Err(TcpError::NoSuchSocket) => assert!(!conn.held, "send on a held handle: {r:?}"),
            Err(_) => assert!(conn.held),
        }
    }

    /// Reads up to `rounds` times into a `size`-byte buffer; checks what was read.
    fn read(&mut self, s: usize, c: usize, size: usize, rounds: usize) {
        let mut buf = std::mem::take(&mut self.rbuf);
        buf.resize(size, 0);
        self.read_into(s, c, &mut buf, rounds);
        self.rbuf = buf;
        // Give back whatever rings the read emptied (on both ends of every connection of
        // this side): later data must grow them again without a byte lost or changed.
        let released = self.sides[s].stack.tcp_release_buffers();
        self.out.buffer_bytes_released += released as u64;
    }

    fn read_into(&mut self, s: usize, c: usize, buf: &mut [u8], rounds: usize) {
        for _ in 0..rounds {
            let id = self.sides[s].conns[c].id;
            let readable = self.sides[s].stack.tcp_info(id).map_or(0, |i| i.readable);
            let r = self.sides[s].stack.tcp_recv(self.now, id, buf);
            self.log(|| format!("{} recv on {id:?}: {r:?}", NAMES[s]));
            let conn = &mut self.sides[s].conns[c];
            match r {
                Ok(0) => break,
                Ok(n) => {
                    assert!(conn.held && !conn.eof, "data after the end of the stream");
                    conn.received.extend_from_slice(&buf[..n]);
                    self.out.bytes_read += n as u64;
                    self.check_prefix(s, c);
                }
                Err(TcpError::Recv(RecvError::Finished)) => {
                    assert!(conn.held);
                    assert_eq!(readable, 0, "end of stream with {readable} bytes unread");
                    if !conn.eof {
                        self.out.eofs += 1;
                    }
                    conn.eof = true;
                    break;
                }
                Err(TcpError::NoSuchSocket) => {
                    assert!(!conn.held, "recv on a held handle: {r:?}");
                    break;
                }
                Err(_) => {
                    assert!(conn.held);
                    break;
                }
            }
        }
    }

    /// The connections on the other side that `c` on side `s` talks to: the mirrored
    /// 4-tuple, and an ISS equal to `c`'s IRS.
    fn counterparts(&self, s: usize, c: usize) -> Vec<usize> {
        let conn = &self.sides[s].conns[c];
        let Some(irs) = conn.irs else {
            return Vec::new();
        };
        let t = reversed(conn.tuple);
        let other = &self.sides[1 - s].conns;
        (0..other.len())
            .filter(|&k| other[k].tuple == t && other[k].iss == irs)
            .collect()
    }

    /// What `c` read is a prefix of what its peer's application wrote.
    fn check_prefix(&mut self, s: usize, c: usize) {
        if self.sides[s].conns[c].irs.is_none() {
            self.observe(s);
        }
        let peers = self.counterparts(s, c);
        let got = &self.sides[s].conns[c].received;
        assert!(
            !peers.is_empty(),
            "{} read {} bytes on {:?} from no connection of {}",
            NAMES[s],
            got.len(),
            self.sides[s].conns[c].tuple,
            NAMES[1 - s]
        );
        let ok = peers.iter().any(|&k| {
            let sent = &self.sides[1 - s].conns[k].sent;
            sent.len() >= got.len() && sent[..got.len()] == got[..]
        });
        if !ok {
            let sent = &self.sides[1 - s].conns[peers[0]].sent;
            let at = got
                .iter()
                .zip(sent.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(sent.len().min(got.len()));
            panic!(
                "{} read {} bytes on {:?}; they differ from the {} bytes {} wrote at offset {at}",
                NAMES[s],
                got.len(),
                self.sides[s].conns[c].tuple,
                sent.len(),
                NAMES[1 - s]
            );
        }
    }

    fn shutdown(&mut self, s: usize, c: usize) {
        let id = self.sides[s].conns[c].id;
        let state = self.sides[s].stack.tcp_info(id).map(|i| i.state);
        let r = self.sides[s].stack.tcp_shutdown(self.now, id);
        self.log(|| format!("{} shutdown {id:?}: {r:?}", NAMES[s]));
        let conn = &mut self.sides[s].conns[c];
        assert_eq!(r.is_ok(), conn.held, "shutdown: {r:?}");
        if r.is_ok() {
            if !conn.shut && state == Some(State::SynSent) {
                conn.shut_early = true;
            }
            conn.shut = true;
        }
    }

    fn close(&mut self, s: usize, c: usize, abort: bool) {
        let id = self.sides[s].conns[c].id;
        let r = if abort {
            self.sides[s].stack.tcp_abort(self.now, id)
        } else {
            self.sides[s].stack.tcp_close(self.now, id)
        };
        self.log(|| format!("{} close (abort {abort}) {id:?}: {r:?}", NAMES[s]));
        let conn = &mut self.sides[s].conns[c];
        assert_eq!(r.is_ok(), conn.held, "close: {r:?}");
        if r.is_ok() {
            conn.held = false;
            conn.aborted |= abort;
            conn.shut |= !abort;
        }
    }

    // ---- one operation ----

    fn step(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let op = u.int_in_range(0..=47u8)?;
        let s = usize::from(u.int_in_range(0..=1u8)?);
        match op {
            0..=2 => {
                let port = PORTS[usize::from(u.int_in_range(0..=1u8)?)];
                let backlog = u.int_in_range(0..=4)?;
                self.listen(s, port, backlog);
            }
            3 => {
                let idx = u.arbitrary()?;
                self.unlisten(s, idx);
            }
            4..=7 => {
                let port = PORTS[usize::from(u.int_in_range(0..=1u8)?)];
                let local = match u.int_in_range(0..=5u8)? {
                    0..=2 => 0,
                    3 => 5000,
                    4 => 80,
                    _ => 81,
                };
                self.connect(s, port, local);
            }
            8..=10 => {
                let pick: u8 = u.arbitrary()?;
                if !self.sides[s].listeners.is_empty() {
                    let n = self.sides[s].listeners.len();
                    let id = self.sides[s].listeners[usize::from(pick) % n].0;
                    self.accept_one(s, id);
                }
            }
            11..=16 => {
                let pick = u.arbitrary()?;
                let len = match u.int_in_range(0..=7u8)? {
                    0..=3 => u.int_in_range(1..=100)?,
                    4 | 5 => u.int_in_range(100..=3000)?,
                    6 => 0,
                    _ => u.int_in_range(3000..=70_000)?,
                };
                if let Some(c) = self.held_conn(s, pick) {
                    self.send(s, c, len);
                }
            }
            17..=21 => {
                let pick = u.arbitrary()?;
                let size = match u.int_in_range(0..=3u8)? {
                    0 => 0,
                    1 => u.int_in_range(1..=16)?,
                    _ => 65_536,
                };
                if let Some(c) = self.held_conn(s, pick) {
                    self.read(s, c, size, 4);
                }
            }
            22 | 23 => {
                if let Some(c) = self.held_conn(s, u.arbitrary()?) {
                    self.shutdown(s, c);
                }
            }
            24 | 25 => {
                if let Some(c) = self.held_conn(s, u.arbitrary()?) {
                    self.close(s, c, false);
                }
            }
            26 => {
                if let Some(c) = self.held_conn(s, u.arbitrary()?) {
                    self.close(s, c, true);
                }
            }
            27 => {
                let pick = u.arbitrary()?;
                let nodelay: bool = u.arbitrary()?;
                if let Some(c) = self.held_conn(s, pick) {
                    let id = self.sides[s].conns[c].id;
                    let r = self.sides[s]
                        .stack
                        .tcp_configure(self.now, id, |cfg| cfg.nodelay = nodelay);
                    assert_eq!(r.is_ok(), self.sides[s].conns[c].held);
                }
            }
            28..=33 => {
                for _ in 0..u.int_in_range(1..=8u8)? {
                    self.deliver_head(s, false);
                }
            }
            34 | 35 => {
                if let Some(f) = self.wire[s].pop_front() {
                    self.log(|| format!("drop {}", describe(&f)));
                    self.out.faults += 1;
                }
            }
            36 => {
                if self.deliver_head(s, true) {
                    self.out.faults += 1;
                }
            }
            37 => {
                if self.wire[s].len() >= 2 {
                    let f = self.wire[s].pop_front().unwrap();
                    self.wire[s].push_back(f);
                    self.out.faults += 1;
                }
            }
            38..=41 => self.deliver_all(),
            42..=44 => {
                let until = self.now + Duration::from_millis(u.int_in_range(0..=200)?);
                self.sleep(until, 16);
            }
            45 | 46 => {
                let n = u.int_in_range(1..=8)?;
                self.sleep(self.now + Duration::from_secs(600), n);
            }
            _ => {
                let until = self.now + Duration::from_secs(u.int_in_range(1..=300)?);
                let _ = self.run_perfect(until, 400, false);
            }
        }
        self.settle();
        Ok(())
    }

    // ---- the end ----

    /// Perfect network, applications accepting and reading, 20 minutes: the final checks.
    fn finish(&mut self) {
        let until = self.now + Duration::from_secs(20 * 60);
        // Rounds of FINAL_ROUNDS while the applications still read data: a transfer through a
        // receive window of a few bytes takes a round trip per few bytes.
        let mut chunks = 0;
        loop {
            let read = self.out.bytes_read;
            if self.run_perfect(until, FINAL_ROUNDS, true) || self.out.bytes_read == read {
                break;
            }
            chunks += 1;
            if chunks == FINAL_CHUNKS {
                // Still moving data: too long a transfer through too small a window to end
                // within the budget; its end-to-end checks cannot conclude.
                self.out.unfinished += 1;
                self.log(|| "final transfer unfinished".into());
                break;
            }
        }
        self.now = self.now.max(until);
        self.settle();
        self.apps_work();
        if self.out.unfinished == 0 {
            for s in 0..2 {
                for c in 0..self.sides[s].conns.len() {
                    self.check_pair(s, c);
                }
            }
        }
        // Close everything; after 30 minutes no connection is left.
        for s in 0..2 {
            for c in 0..self.sides[s].conns.len() {
                if self.sides[s].conns[c].held {
                    self.close(s, c, false);
                }
            }
            while !self.sides[s].listeners.is_empty() {
                self.unlisten(s, 0);
            }
        }
        self.settle();
        let until = self.now + Duration::from_secs(30 * 60);
        let _ = self.run_perfect(until, FINAL_ROUNDS, false);
        self.now = self.now.max(until);
        self.settle();
        for s in 0..2 {
            self.check_empty(s);
        }
    }

    /// The end-to-end checks for connection `c` of side `s` (the receiving end) and its
    /// counterpart.
    fn check_pair(&mut self, s: usize, c: usize) {
        let x = self.sides[s].conns[c].clone();
        if !x.held || x.failed.is_some() {
            return;
        }
        let peers = self.counterparts(s, c);
        let [k] = peers[..] else {
            return;
        };
        let y = self.sides[1 - s].conns[k].clone();
        let Some(last) = y.last else {
            return;
        };
        let (me, other) = (NAMES[s], NAMES[1 - s]);
        // Everything the peer's connection had acknowledged, it delivered.
        if last.unacked == 0 && y.failed.is_none() {
            self.out.checked_pairs += 1;
            assert!(
                x.received == y.sent,
                "{me} read {} bytes on {:?}; {other} wrote {} and they were acknowledged",
                x.received.len(),
                x.tuple,
                y.sent.len()
            );
            let fin_acked = matches!(last.state, State::FinWait2 | State::TimeWait)
                || (y.held && last.state == State::Closed);
            if y.shut && !y.shut_early && fin_acked {
                assert!(
                    x.eof,
                    "{me} never saw the end of the stream {other} closed on {:?} ({:?})",
                    x.tuple, last.state
                );
            }
        }
        // States, when both ends hold their handles and nothing failed (checked once per
        // pair, from a's side).
        let events_lost = self.sides[0].events_dropped || self.sides[1].events_dropped;
        if s > 0 || !y.held || y.failed.is_some() || events_lost || x.shut_early || y.shut_early {
            return;
        }
        let ix = self.sides[s].stack.tcp_info(x.id).unwrap();
        let iy = self.sides[1 - s].stack.tcp_info(y.id).unwrap();
        let (sx, sy) = (ix.state, iy.state);
        // Everything written was acknowledged: each end read all the other sent.
        for (who, info, whom) in [(me, &ix, other), (other, &iy, me)] {
            assert_eq!(
                info.unacked, 0,
                "{who} still has {} bytes unacknowledged after 20 minutes of a perfect \
                 network, {whom} reading\n{who}: {info:?}",
                info.unacked
            );
        }
        let expected = match (x.shut, y.shut) {
            (true, true) => (State::Closed, State::Closed),
            (true, false) => (State::FinWait2, State::CloseWait),
            (false, true) => (State::CloseWait, State::FinWait2),
            (false, false) => (State::Established, State::Established),
        };
        self.out.checked_pairs += 1;
        if expected.0 == State::Closed {
            self.out.closed_pairs += 1;
        }
        assert_eq!(
            (sx, sy),
            expected,
            "{:?}: {me} shut {}, {other} shut {}, after 20 minutes of a perfect network\n\
             {me}: {ix:?}\n{other}: {iy:?}",
            x.tuple,
            x.shut,
            y.shut
        );
    }

    /// After everything was closed: no connection left but FIN-WAIT-2 orphans.
    fn check_empty(&mut self, s: usize) {
        let live = self.sides[s].stack.tcp_connections();
        let mut known = 0;
        for c in 0..self.sides[s].conns.len() {
            let conn = &self.sides[s].conns[c];
            let Some(info) = self.sides[s].stack.tcp_info(conn.id) else {
                continue;
            };
            known += 1;
            let t = reversed(conn.tuple);
            let peer_alive = self.sides[1 - s]
                .conns
                .iter()
                .any(|o| o.tuple == t && self.sides[1 - s].stack.tcp_info(o.id).is_some());
            assert!(
                info.state == State::FinWait2 && !peer_alive,
                "{}: {:?} is still {:?} 30 minutes after everything was closed",
                NAMES[s],
                conn.tuple,
                info.state
            );
            self.out.orphans += 1;
        }
        assert_eq!(
            known, live,
            "{}: {live} connections left, {known} of them known to the application",
            NAMES[s]
        );
    }
}

/// Every frame parses, with valid checksums.
fn check_frame(frame: &[u8]) {
    let eth = EthernetFrame::new_checked(frame)
        .unwrap_or_else(|e| panic!("a stack sent a bad Ethernet frame: {e}"));
    if eth.ethertype() != EtherType::IPV4 {
        return;
    }
    let ip = Ipv4Packet::new_checked(eth.payload())
        .unwrap_or_else(|e| panic!("a stack sent a bad IPv4 datagram: {e}"));
    assert!(ip.verify_checksum(), "IPv4 checksum");
    if ip.protocol() == IpProtocol::TCP && !ip.more_frags() && ip.frag_offset_units() == 0 {
        let t = TcpPacket::new_checked(ip.payload())
            .unwrap_or_else(|e| panic!("a stack sent a bad TCP segment: {e}"));
        assert!(t.verify_checksum(ip.src(), ip.dst()), "TCP checksum");
    }
}

/// The frame is a TCP segment with data.
fn carries_tcp_data(frame: &[u8]) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return false;
    };
    if eth.ethertype() != EtherType::IPV4 || ip.protocol() != IpProtocol::TCP {
        return false;
    }
    TcpPacket::new_checked(ip.payload()).is_ok_and(|t| !t.payload().is_empty())
}

/// One line about a frame, for traces.
fn describe(frame: &[u8]) -> String {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return format!("{} bytes", frame.len());
    };
    if eth.ethertype() == EtherType::ARP {
        return "ARP".into();
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return format!("{} bytes", frame.len());
    };
    match TcpPacket::new_checked(ip.payload()) {
        Ok(t) if ip.protocol() == IpProtocol::TCP => format!(
            "TCP {}:{} -> {}:{} seq {} ack {} {:?} len {} wnd {}",
            ip.src(),
            t.src_port(),
            ip.dst(),
            t.dst_port(),
            t.seq_number(),
            t.ack_number(),
            t.flags(),
            t.payload().len(),
            t.window_len()
        ),
        _ => format!("IPv4 {} bytes", frame.len()),
    }
}

/// Runs the body on `data` and reports how far it got.
pub fn run(data: &[u8]) -> TcpOpsOutcome {
    let mut u = Unstructured::new(data);
    let Ok(mut w) = World::new(&mut u) else {
        return TcpOpsOutcome::default();
    };
    w.settle();
    while w.out.ops < MAX_OPS && !u.is_empty() {
        w.out.ops += 1;
        if w.step(&mut u).is_err() {
            break;
        }
    }
    w.finish();
    w.out.established = w
        .sides
        .iter()
        .map(|s| s.conns.iter().filter(|c| c.established).count())
        .sum();
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    /// Writes `tcp_ops` inputs operation by operation: the bytes `World::new` and
    /// `World::step` read (one byte per choice below 256, big-endian offsets above).
    struct Script(Vec<u8>);

    impl Script {
        /// A seed, time zero.
        fn new(seed: u64) -> Script {
            let mut v = seed.to_le_bytes().to_vec();
            v.push(1);
            Script(v)
        }
        /// A side with the default TCP settings and these limits.
        fn side(mut self, conns: u8, backlog: u8) -> Script {
            self.0.extend([0, conns - 1, backlog - 1, 10]);
            self
        }
        /// A side with a small receive buffer (1..=600 bytes), Nagle on.
        fn side_small_rcv(mut self, rcv: u16, conns: u8, backlog: u8) -> Script {
            let [hi, lo] = (rcv - 1).to_be_bytes();
            let [th, tl] = 999u16.to_be_bytes(); // TIME-WAIT 1 s
            self.0
                .extend([1, 3, 0, hi, lo, 4, 1, 2, 1, th, tl, 40, 0, 1]);
            self.0.extend([conns - 1, backlog - 1, 10]);
            self
        }
        /// A side with a 601..=8192-byte receive buffer and an explicit window scale shift.
        fn side_shift(mut self, rcv: u16, shift: u8, conns: u8, backlog: u8) -> Script {
            let [hi, lo] = (rcv - 601).to_be_bytes();
            let [th, tl] = 999u16.to_be_bytes();
            self.0
                .extend([1, 3, 1, hi, lo, 4, 1, 1, shift, 1, th, tl, 40, 0, 1]);
            self.0.extend([conns - 1, backlog - 1, 10]);
            self
        }
        fn op(mut self, sel: u8, side: u8, args: &[u8]) -> Script {
            self.0.extend([sel, side]);
            self.0.extend_from_slice(args);
            self
        }
        fn listen(self, s: u8, port: u8) -> Script {
            self.op(0, s, &[port, 4])
        }
        /// Local port: 0..=2 ephemeral, 3 = 5000, 4 = 80, 5 = 81.
        fn connect(self, s: u8, port: u8, local: u8) -> Script {
            self.op(4, s, &[port, local])
        }
        fn accept(self, s: u8) -> Script {
            self.op(8, s, &[0])
        }
        /// Sends `len` pattern bytes on the `pick`th held connection.
        fn send(self, s: u8, pick: u8, len: u32) -> Script {
            match len {
                1..=100 => self.op(11, s, &[pick, 0, (len - 1) as u8]),
                101..=3000 => {
                    let [_, _, hi, lo] = (len - 100).to_be_bytes();
                    self.op(11, s, &[pick, 4, hi, lo])
                }
                _ => {
                    let [_, a, b, c] = (len - 3000).to_be_bytes();
                    self.op(11, s, &[pick, 7, a, b, c])
                }
            }
        }
        fn recv(self, s: u8, pick: u8) -> Script {
            self.op(17, s, &[pick, 2])
        }
        /// A receive into an empty buffer.
        fn recv_nothing(self, s: u8, pick: u8) -> Script {
            self.op(17, s, &[pick, 0])
        }
        fn shutdown(self, s: u8, pick: u8) -> Script {
            self.op(22, s, &[pick])
        }
        fn close(self, s: u8, pick: u8) -> Script {
            self.op(24, s, &[pick])
        }
        fn abort(self, s: u8, pick: u8) -> Script {
            self.op(26, s, &[pick])
        }
        /// Delivers the next `n` (1..=8) frames `from` sent.
        fn deliver(self, from: u8, n: u8) -> Script {
            self.op(28, from, &[n - 1])
        }
        fn drop_next(self, from: u8) -> Script {
            self.op(34, from, &[])
        }
        fn duplicate(self, from: u8) -> Script {
            self.op(36, from, &[])
        }
        fn reorder(self, from: u8) -> Script {
            self.op(37, from, &[])
        }
        fn deliver_all(self) -> Script {
            self.op(38, 0, &[])
        }
        fn timers(self, n: u8) -> Script {
            self.op(45, 0, &[n - 1])
        }
        /// A perfect network for `secs` (1..=300) seconds.
        fn run(self, secs: u16) -> Script {
            let [hi, lo] = (secs - 1).to_be_bytes();
            self.op(47, 0, &[hi, lo])
        }
    }

    /// The hand-made seeds of fuzz/corpus/tcp_ops.
    fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        let connected = |s: Script, port: u8, local: u8| {
            s.listen(0, port)
                .connect(1, port, local)
                .deliver_all()
                .accept(0)
        };
        vec![
            (
                "exchange-then-close",
                connected(Script::new(1).side(4, 2).side(4, 2), 0, 0)
                    .send(1, 0, 100)
                    .deliver_all()
                    .recv(0, 0)
                    .send(0, 0, 200)
                    .deliver_all()
                    .recv(1, 0)
                    .shutdown(1, 0)
                    .deliver_all()
                    .recv(0, 0)
                    .shutdown(0, 0)
                    .deliver_all()
                    .recv(1, 0)
                    .run(120)
                    .0,
            ),
            (
                "bulk-with-loss",
                connected(Script::new(2).side(4, 2).side(4, 2), 1, 3)
                    .send(1, 0, 60_000)
                    .deliver(1, 3)
                    .drop_next(1)
                    .deliver(1, 2)
                    .drop_next(0)
                    .deliver_all()
                    .timers(4)
                    .deliver_all()
                    .recv(0, 0)
                    .deliver_all()
                    .run(5)
                    .recv(0, 0)
                    .close(1, 0)
                    .run(30)
                    .recv(0, 0)
                    .close(0, 0)
                    .run(200)
                    .0,
            ),
            (
                "simultaneous-open",
                Script::new(3)
                    .side(4, 2)
                    .side(4, 2)
                    .connect(0, 0, 4)
                    .connect(1, 0, 4)
                    .deliver_all()
                    .send(0, 0, 50)
                    .send(1, 0, 60)
                    .deliver_all()
                    .recv(0, 0)
                    .recv(1, 0)
                    .shutdown(0, 0)
                    .shutdown(1, 0)
                    .deliver_all()
                    .recv(0, 0)
                    .recv(1, 0)
                    .run(200)
                    .0,
            ),
            (
                "reset-by-abort",
                connected(Script::new(4).side(4, 2).side(4, 2), 0, 0)
                    .send(0, 0, 3000)
                    .deliver_all()
                    .recv(1, 0)
                    .send(0, 0, 2000)
                    .deliver(0, 1)
                    .abort(1, 0)
                    .deliver_all()
                    .recv(0, 0)
                    .send(0, 0, 10)
                    .run(10)
                    .0,
            ),
            (
                "duplicates-and-reordering",
                connected(Script::new(5).side(4, 2).side(4, 2), 0, 1)
                    .send(1, 0, 5000)
                    .duplicate(1)
                    .reorder(1)
                    .deliver(1, 1)
                    .reorder(1)
                    .duplicate(1)
                    .deliver_all()
                    .recv(0, 0)
                    .send(0, 0, 2000)
                    .reorder(0)
                    .deliver_all()
                    .recv(1, 0)
                    .close(1, 0)
                    .deliver_all()
                    .recv(0, 0)
                    .close(0, 0)
                    .run(100)
                    .0,
            ),
            (
                "small-receive-window",
                connected(Script::new(6).side_small_rcv(300, 4, 2).side(4, 2), 0, 0)
                    .send(1, 0, 4000)
                    .deliver_all()
                    .recv(0, 0)
                    .deliver_all()
                    .recv(0, 0)
                    .deliver_all()
                    .shutdown(1, 0)
                    .recv(0, 0)
                    .deliver_all()
                    .run(60)
                    .recv(0, 0)
                    .0,
            ),
        ]
    }

    /// Inputs that failed because of bugs in the TCP code, now fixed (fuzz/regressions/tcp_ops,
    /// replayed by `cargo test -p weft-tests --test corpus_replay`).
    fn regressions() -> Vec<(&'static str, Vec<u8>)> {
        let connected = |s: Script| s.listen(0, 0).connect(1, 0, 0).deliver_all().accept(0);
        vec![
            (
                "recv-empty-buffer-reports-eof",
                connected(Script::new(11).side(4, 2).side(4, 2))
                    .send(1, 0, 10)
                    .shutdown(1, 0)
                    .deliver_all()
                    .recv_nothing(0, 0)
                    .recv(0, 0)
                    .0,
            ),
            (
                "zero-window-probe-byte-stalls-the-sender",
                connected(Script::new(12).side_small_rcv(100, 4, 2).side(4, 2))
                    .send(1, 0, 150)
                    .deliver_all()
                    .timers(1)
                    .deliver_all()
                    .timers(1)
                    .deliver_all()
                    .recv(0, 0)
                    .deliver_all()
                    .run(300)
                    .0,
            ),
            (
                "window-below-scale-unit-advertised-as-zero",
                connected(Script::new(14).side_shift(1000, 10, 4, 2).side(4, 2))
                    .send(1, 0, 60_000)
                    .deliver_all()
                    .recv(0, 0)
                    .deliver_all()
                    .run(300)
                    .0,
            ),
            (
                "fin-on-zero-window-never-retransmitted",
                connected(Script::new(13).side_small_rcv(100, 4, 2).side(4, 2))
                    .send(1, 0, 100)
                    .deliver_all()
                    .shutdown(1, 0)
                    .deliver_all()
                    .timers(3)
                    .deliver_all()
                    .recv(0, 0)
                    .deliver_all()
                    .run(300)
                    .0,
            ),
        ]
    }

    fn corpus_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/tcp_ops")
    }

    fn regressions_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/tcp_ops")
    }

    /// The scripted regression inputs are the files (`WEFT_WRITE_SEEDS=1` rewrites them) and
    /// each gets its connection through.
    #[test]
    fn tcp_ops_regression_inputs_match_and_run_strictly() {
        let dir = regressions_dir();
        let write = std::env::var_os("WEFT_WRITE_SEEDS").is_some();
        for (name, bytes) in regressions() {
            let path = dir.join(name);
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            }
            assert!(
                std::fs::read(&path).unwrap_or_default() == bytes,
                "{} is stale: rerun with WEFT_WRITE_SEEDS=1",
                path.display()
            );
            let o = run(&bytes);
            println!("{name}: {o:?}");
            assert!(o.established >= 2, "{name}: {o:?}");
        }
    }

    /// The committed seeds are exactly the scripts above (`WEFT_WRITE_SEEDS=1` rewrites them
    /// after a change of the input format).
    #[test]
    fn tcp_ops_seed_corpus_matches_the_scripts() {
        let dir = corpus_dir();
        let write = std::env::var_os("WEFT_WRITE_SEEDS").is_some();
        for (name, bytes) in seeds() {
            let path = dir.join(name);
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            }
            let committed = std::fs::read(&path).unwrap_or_default();
            assert!(
                committed == bytes,
                "{} is stale: rerun with WEFT_WRITE_SEEDS=1",
                path.display()
            );
        }
    }

    /// Each seed gets where it was written to go: data across, ends of streams, closes.
    #[test]
    fn tcp_ops_seeds_reach_transfer_and_close() {
        let seeds: Vec<(&str, TcpOpsOutcome)> =
            seeds().into_iter().map(|(n, b)| (n, run(&b))).collect();
        for (name, o) in &seeds {
            println!("{name}: {o:?}");
            assert!(o.established >= 2, "{name}: {o:?}");
            assert!(o.bytes_read > 0, "{name}: {o:?}");
        }
        let get = |n: &str| seeds.iter().find(|s| s.0 == n).unwrap().1;
        let hello = get("exchange-then-close");
        assert_eq!(hello.bytes_read, 300);
        assert!(hello.eofs == 2 && hello.closed_pairs == 1, "{hello:?}");
        let bulk = get("bulk-with-loss");
        assert_eq!(bulk.bytes_read, 60_000, "{bulk:?}");
        assert!(bulk.buffer_bytes_released > 0, "{bulk:?}");
        assert!(bulk.faults >= 1 && bulk.eofs == 1, "{bulk:?}");
        let simultaneous = get("simultaneous-open");
        assert_eq!(simultaneous.bytes_read, 110);
        assert!(simultaneous.closed_pairs == 1, "{simultaneous:?}");
        let reset = get("reset-by-abort");
        assert!(reset.failures >= 1, "{reset:?}");
        let reordered = get("duplicates-and-reordering");
        assert_eq!(reordered.bytes_read, 7000, "{reordered:?}");
        let small = get("small-receive-window");
        assert_eq!(small.bytes_read, 4000, "{small:?}");
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
    fn tcp_ops_seeded_random_inputs_keep_every_promise() {
        let seed = std::env::var("WEFT_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x7c9_0b5u64);
        println!("tcp_ops: seed {seed} (set WEFT_FUZZ_SEED to replay)");
        let n = 2000;
        let mut total = TcpOpsOutcome::default();
        for (k, data) in inputs(seed, n).enumerate() {
            let o = run(&data);
            if k < 100 {
                assert_eq!(o, run(&data), "input {k} is not deterministic");
            }
            total.established += o.established;
            total.bytes_read += o.bytes_read;
            total.eofs += o.eofs;
            total.checked_pairs += o.checked_pairs;
            total.closed_pairs += o.closed_pairs;
            total.faults += o.faults;
            total.failures += o.failures;
            total.unfinished += o.unfinished;
        }
        println!("{n} tcp_ops inputs: {total:?}");
        assert!(total.established > 0 && total.bytes_read > 0 && total.eofs > 0);
        assert!(total.checked_pairs > 0 && total.faults > 0 && total.failures > 0);
        // Transfers still moving after the final budget skip their end-to-end checks: they
        // must stay the exception, or the checks above would mostly not run.
        assert!(
            total.unfinished * 20 <= n,
            "{} of {n} inputs unfinished",
            total.unfinished
        );
    }

    #[test]
    fn tcp_ops_empty_and_tiny_inputs() {
        tcp_ops(&[]);
        for b in 0..=255u8 {
            tcp_ops(&[b]);
            tcp_ops(&[b; 40]);
        }
    }
}
