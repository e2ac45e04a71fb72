//! The TCP part of the `stack_frames` harness: listeners and connections in the configured
//! stack, a remote peer played by the harness, the socket calls, and the checks on every TCP
//! segment and event the stack produces.
//!
//! The peer ([`Peer`], one per 4-tuple) learns from the stack's own output: the ISN of each
//! SYN or SYN-ACK the stack sends (so SYN-ACKs and ACKs acknowledge what the stack really
//! sent), the highest sequence number sent, the window it advertises. It then sends SYNs,
//! SYN-ACKs, data (in order, out of order, retransmitted, beyond the window), FINs, RSTs and
//! ACKs with plausible and implausible numbers, options of every kind (MSS, window scale,
//! SACK-permitted, SACK, timestamps, unknown kinds, malformed lengths) and windows from zero
//! up. Every payload byte the harness sends is a function of its sequence number
//! ([`peer_byte`]), so overlapping and retransmitted copies agree and the bytes the
//! application reads can be checked.
//!
//! Independently of the peer's plans, every TCP segment handed to the stack is recorded per
//! 4-tuple ([`Seen`]): the sequence ranges it covered, the MSS and window scale options of
//! its SYNs, whether it carried a FIN. A tuple that received a segment not built by the
//! harness (mutated or random bytes that happen to parse) is marked tainted and the checks
//! that depend on what the peer sent are skipped for it.
//!
//! Checks, on every segment the stack emits:
//! * it parses with weft-wire's checked parser and its checksum verifies; flags are sane
//!   (no SYN with RST or FIN, an ACK on everything but SYNs and resets, no data on RSTs or
//!   SYNs); MSS and window scale options only on SYNs, MSS always on them (MUST-14); window
//!   scale on a SYN-ACK only after the peer offered it (RFC 7323 §2.2);
//! * no payload is larger than the MSS the peer announced (536 without one, RFC 9293
//!   §3.7.1; an MSS option of 0 counts as none);
//! * every acknowledgment number lies within (or at the end of) a segment the peer sent on
//!   that 4-tuple: the stack never acknowledges what it was not sent;
//! * for connections the application opened or accepted (their [`TcpInfo`] read before and
//!   after the stack sent): new data (beyond what had been sent before, SND.MAX) ends within
//!   SND.UNA + max(SND.WND, 1) (the 1 is a zero-window probe; SYN and FIN take sequence space
//!   but are not counted; RFC 1122 §4.2.2.16 lets old data be retransmitted beyond a shrunk
//!   window); nothing ends beyond SND.MAX afterwards; a SYN carries the ISS; the payload is
//!   exactly the bytes the application wrote at that offset; a FIN comes only after
//!   `tcp_shutdown`/`tcp_close` and right after the last byte written; the advertised window
//!   never exceeds the receive buffer (rounded up to the window scale unit). (Skipped for the frames of a step in which an ARP
//!   reply released datagrams built earlier, before the snapshot.)
//!
//! On every step: the number of connections is within `Limits::tcp_connections`; a handle the
//! application holds stays valid (`tcp_info` answers) until it closes or aborts it; SND.UNA
//! <= SND.NXT <= SND.MAX and what is in flight fits in the send buffer (plus SYN and FIN);
//! `tcp_accept` never yields more connections in a row than the listener's backlog; events
//! name only listeners that listen and sockets the application holds, `TcpConnected` only
//! for sockets it connected, once, nothing after `TcpClosed`, and never the application's own
//! abort; sends take exactly what `writable` said; reads return the peer's bytes in order
//! and the end of stream only after a FIN, with nothing left to read.

use super::{Harness, Res, mac_of, payload};
use crate::event::Event;
use crate::link::{ChecksumState, RxMeta};
use crate::stack::{TcpError, TcpInfo};
use crate::tcp::conn::WindowScale;
use crate::tcp::seq::Seq;
use crate::tcp::{ConnError, RecvError, SendError, State, TcpConfig, TcpListenerId, TcpSocketId};
use crate::time::Duration;
use arbitrary::Unstructured;
use arrayvec::ArrayVec;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::vec;
use std::vec::Vec;
use weft_wire::checksum::Checksum;
use weft_wire::ethernet::{EtherType, EthernetFrame};
use weft_wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
use weft_wire::tcp::{TcpFlags, TcpOption, TcpOptionList, TcpPacket, TcpRepr};
use weft_wire::{ChecksumMode, Ipv4Addr};

/// (stack's address, stack's port, peer's address, peer's port).
pub(super) type Tuple = (Ipv4Addr, u16, Ipv4Addr, u16);

/// A transmit queue no step fills: TCP's output is never held back.
pub(super) const BIG_TX_QUEUE: usize = 65_536;

/// Sequence ranges remembered per 4-tuple; beyond, the tuple's acknowledgment check is off.
const MAX_RANGES: usize = 4096;
/// Application bytes remembered per connection (the payload check stops beyond).
const MAX_SENT: usize = 1 << 20;
/// Data bytes for an unknown option.
static OPTION_DATA: [u8; 38] = [
    0xf9, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36,
];

/// The byte the harness's peers send at sequence number `s`.
pub(super) fn peer_byte(s: u32) -> u8 {
    (s.wrapping_mul(0x9e37_79b1) >> 24) as u8 ^ (s as u8)
}

/// What every TCP segment handed to the stack said, per 4-tuple.
#[derive(Debug, Clone, Default)]
pub(super) struct Seen {
    /// (SEG.SEQ, SEG.LEN) of each segment.
    ranges: VecDeque<(u32, u32)>,
    /// More than `MAX_RANGES` segments: the acknowledgment check is off.
    lost: bool,
    /// The largest MSS any SYN allowed (its option, or 536 without one or with 0); 0
    /// before any SYN.
    mss_bound: usize,
    /// Some SYN carried window scale.
    ws: bool,
    /// Some segment carried FIN.
    fin: bool,
}

/// The harness playing the remote end of one 4-tuple.
#[derive(Debug, Clone, Default)]
pub(super) struct Peer {
    /// Our ISS, once we sent a SYN.
    iss: Option<u32>,
    /// Next in-order sequence number we send.
    nxt: u32,
    /// Our FIN was sent.
    fin: bool,
    /// The last acknowledgment we sent.
    our_ack: Option<u32>,
    /// Our SYN offered window scale (with this shift).
    our_ws: Option<u8>,
    /// The stack's ISS, from its SYN or SYN-ACK.
    stack_iss: Option<u32>,
    /// The stack opened (its SYN had no ACK): we answer with SYN-ACK.
    stack_active: bool,
    /// Highest sequence number the stack sent, plus one.
    stack_max: u32,
    /// The stack's last acknowledgment and window field.
    stack_ack: Option<u32>,
    stack_wnd: u16,
    /// The window scale the stack's SYN offered.
    stack_ws: Option<u8>,
}

impl Peer {
    /// The stack's receive window as we believe it, from `nxt`.
    fn room(&self) -> usize {
        let Some(ack) = self.stack_ack else {
            return 0;
        };
        let scale = match (self.our_ws, self.stack_ws) {
            (Some(_), Some(s)) => s.min(14),
            _ => 0,
        };
        let edge = Seq(ack) + ((self.stack_wnd as usize) << scale);
        edge.since(Seq(self.nxt))
    }
}

/// A connection the application holds or held.
#[derive(Debug, Clone)]
pub(super) struct Sock {
    tuple: Tuple,
    iss: Seq,
    /// Opened by `tcp_connect` (not accepted).
    active: bool,
    /// The application holds the handle (not closed or aborted).
    held: bool,
    /// `tcp_shutdown` or `tcp_close` was called: a FIN may follow the data.
    shut: bool,
    /// Every byte `tcp_send` took, in order.
    sent: Vec<u8>,
    /// Bytes read, and whether the end of the stream was.
    read: usize,
    eof: bool,
    /// Events seen.
    connected: bool,
    closed: bool,
    recv_buffer: usize,
    send_buffer: usize,
}

/// A listener as the application opened it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Listening {
    addr: Ipv4Addr,
    port: u16,
    /// The backlog in effect: the one asked, within 1..=Limits::tcp_backlog.
    backlog: usize,
}

/// How far the inputs got into TCP (for the seeded test's coverage report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCoverage {
    /// Connections the application accepted.
    pub accepted: u64,
    /// `TcpConnected` events (active opens that completed).
    pub connected: u64,
    /// Bytes the application read.
    pub bytes_read: u64,
    /// Data segments the stack sent.
    pub data_segments: u64,
    /// FINs the stack sent.
    pub fins: u64,
    /// `TcpPeerClosed` events.
    pub peer_closed: u64,
    /// `TcpFailed` events.
    pub failed: u64,
    /// Segments the harness's peers sent.
    pub peer_segments: u64,
}

impl TcpModel {
    pub(super) fn new(config: TcpConfig) -> TcpModel {
        TcpModel {
            config,
            ..Default::default()
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct TcpModel {
    /// The stack's default connection settings.
    pub(super) config: TcpConfig,
    listeners: BTreeMap<TcpListenerId, Listening>,
    ever_listeners: BTreeSet<TcpListenerId>,
    /// Connections the application holds or held, until they are gone.
    socks: BTreeMap<TcpSocketId, Sock>,
    ever_socks: BTreeSet<TcpSocketId>,
    peers: BTreeMap<Tuple, Peer>,
    /// Peer tuples, oldest first (for picking).
    order: Vec<Tuple>,
    seen: BTreeMap<Tuple, Seen>,
    tainted: BTreeSet<Tuple>,
    taint_all: bool,
    /// The frames being delivered are the TCP generator's (it recorded them itself).
    generating: bool,
    /// An ARP packet arrived while datagrams awaited resolution: frames sent next may have
    /// been built before the last snapshot.
    pub(super) stale: bool,
    /// `tcp_info` of the application's connections before and after the stack sent.
    pre: BTreeMap<Tuple, (TcpSocketId, TcpInfo)>,
    post: BTreeMap<TcpSocketId, TcpInfo>,
    pub(super) cov: TcpCoverage,
}

/// A segment the peer sends.
#[derive(Debug, Clone)]
struct SegSpec {
    seq: u32,
    ack: Option<u32>,
    flags: TcpFlags,
    window: u16,
    urgent: u16,
    options: TcpOptionList<'static>,
    /// Option bytes written as they are (malformed lengths), instead of `options`.
    raw_options: Option<Vec<u8>>,
    payload: Vec<u8>,
    bad_checksum: bool,
}

impl SegSpec {
    fn new(seq: u32, flags: TcpFlags) -> SegSpec {
        SegSpec {
            seq,
            ack: None,
            flags,
            window: 65_535,
            urgent: 0,
            options: TcpOptionList::new(),
            raw_options: None,
            payload: Vec::new(),
            bad_checksum: false,
        }
    }

    /// The payload: the peer's bytes from `start` (its first sequence number).
    fn fill(&mut self, start: u32, len: usize) {
        self.payload = (0..len as u32)
            .map(|k| peer_byte(start.wrapping_add(k)))
            .collect();
    }
}

/// The segment's bytes (header, options, payload, checksum) from `src` to `dst`.
fn tcp_bytes(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, s: &SegSpec) -> Vec<u8> {
    let mut seg = match &s.raw_options {
        None => {
            let mut repr = TcpRepr {
                src_port: sport,
                dst_port: dport,
                seq_number: s.seq,
                ack_number: s.ack.unwrap_or(0),
                flags: s.flags,
                window_len: s.window,
                urgent_pointer: s.urgent,
                options: s.options.clone(),
                options_trailer: &[],
                payload: &s.payload,
            };
            if repr.try_header_len().is_err() {
                repr.options.clear();
            }
            let mut b = vec![0u8; repr.buffer_len()];
            repr.emit(src, dst, &mut b)
                .expect("a generated TCP segment emits");
            b
        }
        Some(raw) => {
            // Options as given (possibly malformed), padded with zeros to a 4-byte boundary.
            let opt_len = raw.len().min(40).next_multiple_of(4);
            let hl = 20 + opt_len;
            let mut b = vec![0u8; hl + s.payload.len()];
            b[0..2].copy_from_slice(&sport.to_be_bytes());
            b[2..4].copy_from_slice(&dport.to_be_bytes());
            b[4..8].copy_from_slice(&s.seq.to_be_bytes());
            b[8..12].copy_from_slice(&s.ack.unwrap_or(0).to_be_bytes());
            let word = ((hl as u16 / 4) << 12) | s.flags.bits();
            b[12..14].copy_from_slice(&word.to_be_bytes());
            b[14..16].copy_from_slice(&s.window.to_be_bytes());
            b[18..20].copy_from_slice(&s.urgent.to_be_bytes());
            let n = raw.len().min(40);
            b[20..20 + n].copy_from_slice(&raw[..n]);
            b[hl..].copy_from_slice(&s.payload);
            let mut c = Checksum::new();
            c.add_pseudo_header(src, dst, 6, b.len() as u16)
                .add_bytes(&b);
            let sum = c.finish();
            b[16..18].copy_from_slice(&sum.to_be_bytes());
            b
        }
    };
    if s.bad_checksum {
        seg[17] ^= 0x5a;
    }
    seg
}

/// A TCP configuration: the defaults, or small buffers and short timers so that full
/// windows, out-of-order limits, timeouts and TIME-WAIT are reached within an input.
pub(super) fn gen_tcp_config(u: &mut Unstructured<'_>) -> Res<TcpConfig> {
    let mut c = TcpConfig::default();
    if u.ratio(1u8, 4u8)? {
        return Ok(c);
    }
    let buffer = |u: &mut Unstructured<'_>| -> Res<usize> {
        Ok(match u.int_in_range(0..=7u8)? {
            0 => u.int_in_range(0..=64)?,
            1 | 2 => u.int_in_range(65..=1500)?,
            3 | 4 => u.int_in_range(1501..=8192)?,
            5 => 300_000,
            _ => 65_536,
        })
    };
    c.send_buffer = buffer(u)?;
    c.recv_buffer = buffer(u)?;
    c.max_ooo_ranges = u.int_in_range(0..=8)?;
    c.mss = match u.int_in_range(0..=5u8)? {
        0 => Some(u.arbitrary()?),
        1 => Some(u.int_in_range(1..=200)?),
        2 => Some(536),
        _ => None,
    };
    c.window_scale = match u.int_in_range(0..=3u8)? {
        0 => WindowScale::Off,
        1 => WindowScale::Shift(u.int_in_range(0..=15)?),
        _ => WindowScale::Auto,
    };
    c.initial_window = match u.int_in_range(0..=3u8)? {
        0 => Some(u.int_in_range(0..=12)?),
        _ => None,
    };
    if u.ratio(1u8, 3u8)? {
        c.min_rto = Duration::from_millis(u.int_in_range(1..=1000)?);
        c.max_rto = Duration::from_millis(u.int_in_range(1000..=60_000)?);
        c.initial_rto = Duration::from_millis(u.int_in_range(1..=3000)?);
    }
    c.r1 = u.int_in_range(0..=5)?;
    if u.ratio(1u8, 2u8)? {
        c.r2 = Duration::from_secs(u.int_in_range(1..=120)?);
        c.r2_syn = Duration::from_secs(u.int_in_range(1..=200)?);
    }
    c.user_timeout = match u.int_in_range(0..=5u8)? {
        0 => Some(Duration::from_millis(u.int_in_range(1..=100_000)?)),
        _ => None,
    };
    c.time_wait = Duration::from_millis(match u.int_in_range(0..=3u8)? {
        0 => u.int_in_range(1..=1000)?,
        1 => u.int_in_range(1000..=240_000)?,
        _ => 60_000,
    });
    c.delayed_ack = Duration::from_millis(u.int_in_range(0..=500)?);
    c.nodelay = u.arbitrary()?;
    c.keepalive = match u.int_in_range(0..=5u8)? {
        0 => Some(Duration::from_millis(u.int_in_range(1..=10_000)?)),
        1 => Some(TcpConfig::KEEPALIVE_DEFAULT),
        _ => None,
    };
    c.keepalive_probes = u.int_in_range(0..=9)?;
    Ok(c)
}

/// Sequence-space helpers.
fn seq_le(a: u32, b: u32) -> bool {
    Seq(a).le(Seq(b))
}

impl Harness {
    // ---- setup ----

    /// Listeners and connections opened before the first step.
    pub(super) fn tcp_setup(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        for _ in 0..u.int_in_range(0..=2u8)? {
            self.tcp_listen(u)?;
        }
        for _ in 0..u.int_in_range(0..=2u8)? {
            self.tcp_connect(u)?;
        }
        Ok(())
    }

    fn tcp_port(&self, u: &mut Unstructured<'_>) -> Res<u16> {
        Ok(match u.int_in_range(0..=9u8)? {
            0..=3 => 80,
            4 => 443,
            5 => 7,
            6 => 5000,
            7 => u.int_in_range(49152..=65535)?,
            _ => u.arbitrary()?,
        })
    }

    // ---- the application's calls ----

    /// A socket call, chosen by the input.
    pub(super) fn op_tcp_app(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        match u.int_in_range(0..=19u8)? {
            0 | 1 => self.tcp_listen(u),
            2 => self.tcp_unlisten(u),
            3..=5 => self.tcp_accept(u),
            6 | 7 => self.tcp_connect(u),
            8..=10 => self.tcp_send(u),
            11..=13 => self.tcp_recv(u),
            14 => self.tcp_shutdown(u),
            15 => self.tcp_close(u),
            16 => self.tcp_abort(u),
            17 => self.tcp_configure(u),
            _ => {
                // Accept what is there, read what arrived, send more: an application at work,
                // which now and then gives back the memory of its connections' empty rings.
                self.stack.tcp_release_buffers();
                self.tcp_accept(u)?;
                self.tcp_recv(u)?;
                self.tcp_send(u)
            }
        }
    }

    fn pick_listener(&self, u: &mut Unstructured<'_>) -> Res<TcpListenerId> {
        if !self.tcp.listeners.is_empty() && !u.ratio(1u8, 8u8)? {
            let n = u.int_in_range(0..=self.tcp.listeners.len() - 1)?;
            return Ok(*self.tcp.listeners.keys().nth(n).unwrap());
        }
        if !self.tcp.ever_listeners.is_empty() && u.arbitrary()? {
            let n = u.int_in_range(0..=self.tcp.ever_listeners.len() - 1)?;
            return Ok(*self.tcp.ever_listeners.iter().nth(n).unwrap());
        }
        Ok(TcpListenerId(u.int_in_range(0..=4)?))
    }

    fn pick_sock(&self, u: &mut Unstructured<'_>) -> Res<TcpSocketId> {
        let held: Vec<TcpSocketId> = self
            .tcp
            .socks
            .iter()
            .filter(|(_, s)| s.held)
            .map(|(id, _)| *id)
            .collect();
        if !held.is_empty() && !u.ratio(1u8, 8u8)? {
            // The newest more often: the connection being worked on.
            let n = if u.arbitrary()? {
                held.len() - 1
            } else {
                u.int_in_range(0..=held.len() - 1)?
            };
            return Ok(held[n]);
        }
        if !self.tcp.ever_socks.is_empty() && u.arbitrary()? {
            let n = u.int_in_range(0..=self.tcp.ever_socks.len() - 1)?;
            return Ok(*self.tcp.ever_socks.iter().nth(n).unwrap());
        }
        Ok(TcpSocketId {
            index: u.int_in_range(0..=4)?,
            generation: u.int_in_range(0..=2)?,
        })
    }

    fn held(&self, id: TcpSocketId) -> bool {
        self.tcp.socks.get(&id).is_some_and(|s| s.held)
    }

    fn tcp_listen(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = self.pick_iface(u)?;
        let addr = match u.int_in_range(0..=5u8)? {
            0..=3 => Ipv4Addr::UNSPECIFIED,
            4 => self.addr(i).map_or(Ipv4Addr::UNSPECIFIED, |a| a.0),
            _ => self.pick_remote(u, i)?,
        };
        let port = if !self.tcp.listeners.is_empty() && u.ratio(1u8, 6u8)? {
            self.tcp.listeners.values().next().unwrap().port
        } else {
            self.tcp_port(u)?
        };
        let backlog = u.int_in_range(0..=6)?;
        let r = self.stack.tcp_listen(addr, port, backlog);
        self.log(|| format!("tcp listen {addr}:{port} backlog {backlog}: {r:?}"));
        let live = |m: &BTreeMap<TcpListenerId, Listening>| {
            m.values().any(|l| l.addr == addr && l.port == port)
        };
        match r {
            Ok(id) => {
                assert!(!live(&self.tcp.listeners), "{addr}:{port} listened twice");
                assert!(
                    !self.tcp.listeners.contains_key(&id),
                    "listener id {id:?} reused while listening"
                );
                let backlog = backlog.clamp(1, self.limits.tcp_backlog.max(1));
                self.tcp.listeners.insert(
                    id,
                    Listening {
                        addr,
                        port,
                        backlog,
                    },
                );
                self.tcp.ever_listeners.insert(id);
            }
            Err(TcpError::AddrInUse { addr: a, port: p }) => {
                assert_eq!((a, p), (addr, port));
                assert!(
                    live(&self.tcp.listeners),
                    "{addr}:{port} refused as in use, but nothing listens there"
                );
            }
            Err(TcpError::AddrNotAvailable(a)) => {
                assert_eq!(a, addr);
                assert!(
                    (0..self.ifaces.len()).all(|j| self.addr(j).map(|x| x.0) != Some(a)),
                    "listen on our own address {a} refused"
                );
            }
            Err(e) => panic!("tcp_listen failed with {e}"),
        }
        Ok(())
    }

    fn tcp_unlisten(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let id = self.pick_listener(u)?;
        self.stack.tcp_unlisten(self.now, id);
        self.log(|| format!("tcp unlisten {id:?}"));
        self.tcp.listeners.remove(&id);
        assert!(
            self.stack.tcp_accept(id).is_err(),
            "accept on a listener that was closed"
        );
        Ok(())
    }

    fn tcp_accept(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let id = self.pick_listener(u)?;
        let listening = self.tcp.listeners.get(&id).copied();
        let mut n = 0;
        loop {
            let r = self.stack.tcp_accept(id);
            self.log(|| format!("tcp accept {id:?}: {r:?}"));
            let Some(l) = listening else {
                assert_eq!(r, Err(TcpError::NoSuchSocket), "accept on {id:?}");
                break;
            };
            let sock = match r {
                Ok(Some(s)) => s,
                Ok(None) => break,
                Err(e) => panic!("accept on a listening socket failed: {e}"),
            };
            n += 1;
            assert!(
                n <= l.backlog,
                "{n} connections accepted in a row from a listener with backlog {}",
                l.backlog
            );
            assert!(!self.held(sock), "accept returned {sock:?}, already held");
            let info = self
                .stack
                .tcp_info(sock)
                .expect("an accepted connection has info");
            assert_eq!(info.local.1, l.port, "accepted on another port");
            if !l.addr.is_unspecified() {
                assert_eq!(info.local.0, l.addr, "accepted on another address");
            }
            assert!(
                info.state.is_synchronized() || info.state == State::Closed,
                "accepted in state {:?}",
                info.state
            );
            self.tcp.cov.accepted += 1;
            self.track(sock, &info, false, self.tcp.config);
            if !u.ratio(3u8, 4u8)? {
                break;
            }
        }
        Ok(())
    }

    fn track(&mut self, id: TcpSocketId, info: &TcpInfo, active: bool, cfg: TcpConfig) {
        self.tcp.ever_socks.insert(id);
        self.tcp.socks.insert(
            id,
            Sock {
                tuple: (info.local.0, info.local.1, info.remote.0, info.remote.1),
                iss: info.send.iss,
                active,
                held: true,
                shut: false,
                sent: Vec::new(),
                read: 0,
                eof: false,
                connected: false,
                closed: false,
                recv_buffer: cfg.recv_buffer,
                send_buffer: cfg.send_buffer,
            },
        );
    }

    fn tcp_connect(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = self.pick_iface(u)?;
        let remote_addr = match u.int_in_range(0..=7u8)? {
            0..=4 => self.onlink_peer(i, u.arbitrary()?),
            5 if !self.tcp.order.is_empty() => {
                let n = u.int_in_range(0..=self.tcp.order.len() - 1)?;
                self.tcp.order[n].2
            }
            _ => self.pick_remote(u, i)?,
        };
        let remote = (remote_addr, self.tcp_port(u)?);
        let local = match u.int_in_range(0..=7u8)? {
            0..=4 => (Ipv4Addr::UNSPECIFIED, 0),
            5 => (self.addr(i).map_or(Ipv4Addr::UNSPECIFIED, |a| a.0), 0),
            6 => (Ipv4Addr::UNSPECIFIED, *u.choose(&[5000, 80, 49152])?),
            _ => (self.pick_remote(u, i)?, u.arbitrary()?),
        };
        let mut cfg = self.tcp.config;
        let custom = u.ratio(1u8, 4u8)?;
        if custom {
            cfg = gen_tcp_config(u)?;
        }
        let before = self.stack.tcp_connections();
        let r = if custom {
            self.stack.tcp_connect_with(self.now, remote, local, cfg)
        } else {
            self.stack.tcp_connect(self.now, remote, local)
        };
        self.log(|| format!("tcp connect {local:?} -> {remote:?}: {r:?}"));
        match r {
            Ok(id) => {
                assert!(
                    before < self.limits.tcp_connections,
                    "connect succeeded with {before} connections, limit {}",
                    self.limits.tcp_connections
                );
                assert!(!self.held(id), "connect returned {id:?}, already held");
                let info = self.stack.tcp_info(id).expect("a new connection has info");
                assert_eq!(info.state, State::SynSent);
                assert_eq!(info.remote, remote, "connected elsewhere");
                if local.1 == 0 {
                    assert!(info.local.1 >= 49152, "ephemeral port {}", info.local.1);
                } else {
                    assert_eq!(info.local.1, local.1, "local port");
                }
                if !local.0.is_unspecified() {
                    assert_eq!(info.local.0, local.0, "local address");
                }
                self.track(id, &info, true, cfg);
            }
            Err(TcpError::TooManyConnections(limit)) => {
                assert_eq!(limit, self.limits.tcp_connections);
                assert!(before >= limit, "refused with {before} of {limit}");
            }
            Err(TcpError::InvalidDestination(a)) => {
                assert_eq!(a, remote.0, "refused destination");
                assert!(
                    !(0..self.ifaces.len()).any(|j| self.addr(j).map(|x| x.0) == Some(a)),
                    "connect to our own address {a} refused as invalid"
                );
            }
            Err(
                TcpError::NoRoute(_)
                | TcpError::AddrNotAvailable(_)
                | TcpError::AddrInUse { .. }
                | TcpError::NoFreePort(_),
            ) => {}
            Err(e) => panic!("tcp_connect failed with {e}"),
        }
        Ok(())
    }

    fn tcp_send(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let id = self.pick_sock(u)?;
        let data = payload(u, 6000)?;
        let writable = self.stack.tcp_info(id).map(|i| i.writable);
        let r = self.stack.tcp_send(self.now, id, &data);
        self.log(|| format!("tcp send {id:?} {} bytes: {r:?}", data.len()));
        let held = self.held(id);
        match r {
            Ok(n) => {
                assert!(held, "send on {id:?}, not held, took {n} bytes");
                let w = writable.expect("a held connection has info");
                assert_eq!(n, data.len().min(w), "send took {n}, writable was {w}");
                let s = self.tcp.socks.get_mut(&id).unwrap();
                assert!(!s.shut || n == 0, "send took data after shutdown");
                if s.sent.len() < MAX_SENT {
                    s.sent.extend_from_slice(&data[..n]);
                }
            }
            Err(TcpError::NoSuchSocket) => assert!(!held, "send on held {id:?}: no such socket"),
            Err(TcpError::Send(SendError::Closing)) => {
                assert!(
                    self.tcp.socks.get(&id).is_some_and(|s| s.shut),
                    "send refused as closing before shutdown"
                );
            }
            Err(TcpError::Send(_)) => assert!(held),
            Err(e) => panic!("tcp_send failed with {e}"),
        }
        Ok(())
    }

    fn tcp_recv(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let id = self.pick_sock(u)?;
        let held = self.held(id);
        let size = match u.int_in_range(0..=7u8)? {
            0 => 0,
            1 | 2 => u.int_in_range(1..=64)?,
            _ => u.int_in_range(1..=8192)?,
        };
        let mut buf = vec![0u8; size];
        for _ in 0..u.int_in_range(1..=4u8)? {
            let info = self.stack.tcp_info(id);
            let r = self.stack.tcp_recv(self.now, id, &mut buf);
            self.log(|| format!("tcp recv {id:?} into {size}: {r:?}"));
            let readable = info.map_or(0, |i| i.readable);
            match r {
                Ok(n) => {
                    assert!(held, "recv on {id:?}, not held");
                    assert!(
                        n <= size && n <= readable,
                        "read {n} of {readable} into {size}"
                    );
                    if size > 0 {
                        assert_eq!(n == 0, readable == 0, "read {n} with {readable} readable");
                    }
                    let irs = info.expect("held").recv.irs;
                    let s = self.tcp.socks.get_mut(&id).unwrap();
                    assert!(!s.eof || n == 0, "data after the end of the stream");
                    let clean = !(self.tcp.taint_all || self.tcp.tainted.contains(&s.tuple));
                    if clean {
                        for (k, b) in buf[..n].iter().enumerate() {
                            let at = (irs + 1 + s.read + k).0;
                            assert_eq!(
                                *b,
                                peer_byte(at),
                                "byte {} of the stream (sequence number {at}) is not the \
                                 peer's",
                                s.read + k
                            );
                        }
                    }
                    s.read += n;
                    self.tcp.cov.bytes_read += n as u64;
                    if n == 0 {
                        break;
                    }
                }
                Err(TcpError::NoSuchSocket) => {
                    assert!(!held, "recv on held {id:?}: no such socket");
                    break;
                }
                Err(TcpError::Recv(RecvError::Finished)) => {
                    assert!(held);
                    assert_eq!(readable, 0, "end of stream with {readable} bytes readable");
                    let s = self.tcp.socks.get_mut(&id).unwrap();
                    s.eof = true;
                    let clean = !(self.tcp.taint_all || self.tcp.tainted.contains(&s.tuple));
                    if clean {
                        assert!(
                            self.tcp.seen.get(&s.tuple).is_some_and(|x| x.fin),
                            "end of stream on {:?} but the peer sent no FIN",
                            s.tuple
                        );
                    }
                    break;
                }
                Err(TcpError::Recv(_)) => {
                    assert!(held);
                    break;
                }
                Err(e) => panic!("tcp_recv failed with {e}"),
            }
        }
        Ok(())
    }

    fn tcp_shutdown(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let id = self.pick_sock(u)?;
        let r = self.stack.tcp_shutdown(self.now, id);
        self.log(|| format!("tcp shutdown {id:?}: {r:?}"));
        assert_eq!(r.is_ok(), self.held(id), "shutdown of {id:?}: {r:?}");
        if let Some(s) = self.tcp.socks.get_mut(&id).filter(|s| s.held) {
            s.shut = true;
        }
        Ok(())
    }

    fn tcp_close(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let id = self.pick_sock(u)?;
        let r = self.stack.tcp_close(self.now, id);
        self.log(|| format!("tcp close {id:?}: {r:?}"));
        assert_eq!(r.is_ok(), self.held(id), "close of {id:?}: {r:?}");
        if let Some(s) = self.tcp.socks.get_mut(&id).filter(|s| s.held) {
            s.shut = true;
            s.held = false;
        }
        Ok(())
    }

    fn tcp_abort(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let id = self.pick_sock(u)?;
        let r = self.stack.tcp_abort(self.now, id);
        self.log(|| format!("tcp abort {id:?}: {r:?}"));
        assert_eq!(r.is_ok(), self.held(id), "abort of {id:?}: {r:?}");
        if let Some(s) = self.tcp.socks.get_mut(&id).filter(|s| s.held) {
            s.held = false;
        }
        Ok(())
    }

    fn tcp_configure(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let id = self.pick_sock(u)?;
        let nodelay: bool = u.arbitrary()?;
        let keepalive = match u.int_in_range(0..=3u8)? {
            0 => Some(Duration::from_millis(u.int_in_range(1..=20_000)?)),
            1 => Some(TcpConfig::KEEPALIVE_DEFAULT),
            _ => None,
        };
        let user_timeout = match u.int_in_range(0..=3u8)? {
            0 => Some(Duration::from_millis(u.int_in_range(1..=60_000)?)),
            _ => None,
        };
        let r = self.stack.tcp_configure(self.now, id, |c| {
            c.nodelay = nodelay;
            c.keepalive = keepalive;
            c.user_timeout = user_timeout;
        });
        self.log(|| format!("tcp configure {id:?}: {r:?}"));
        assert_eq!(r.is_ok(), self.held(id), "configure of {id:?}: {r:?}");
        Ok(())
    }

    // ---- the peer's segments ----

    /// Answers every ARP request the stack made on interface `i` (so that its segments to
    /// the peers leave instead of waiting for resolution).
    fn answer_arp(&mut self, u: &mut Unstructured<'_>, i: usize) {
        let Some((ours, _)) = self.addr(i) else {
            return;
        };
        let mut targets: Vec<Ipv4Addr> = self
            .arp_targets
            .iter()
            .filter(|t| usize::from(t.0) == i)
            .map(|t| t.1)
            .collect();
        targets.sort();
        targets.dedup();
        for ip in targets {
            let repr = weft_wire::arp::ArpRepr {
                operation: weft_wire::arp::ArpOperation::REPLY,
                sender_mac: mac_of(ip),
                sender_ip: ip,
                target_mac: self.ifaces[i].mac,
                target_ip: ours,
            };
            let mut body = [0u8; 28];
            repr.emit(&mut body).expect("an ARP reply emits");
            let f = super::eth_frame(self.ifaces[i].mac, mac_of(ip), EtherType::ARP, &body, true);
            self.deliver(u, i, &f, RxMeta::default());
        }
    }

    /// A segment from a peer (a known one, a new one opening to a listener, or a stray),
    /// carried in one or more frames.
    pub(super) fn op_tcp_segment(&mut self, u: &mut Unstructured<'_>) -> Res<()> {
        let i = self.pick_iface(u)?;
        if u.ratio(1u8, 2u8)? {
            self.answer_arp(u, i);
        }
        let (tuple, spec) = self.gen_tcp(u, i)?;
        let frames = self.tcp_frames(u, i, tuple, &spec)?;
        let meta = if u.ratio(15u8, 16u8)? {
            RxMeta::default()
        } else {
            Self::rx_meta(u)?
        };
        if frames.len() > 1 && meta.checksum != ChecksumState::Unknown {
            // Fragments reassembled without checksum verification may mix with other
            // datagrams' pieces: what the stack gets is unknown.
            self.tcp.tainted.insert(tuple);
        }
        self.tcp.cov.peer_segments += 1;
        self.tcp.generating = true;
        for f in frames {
            self.deliver(u, i, &f, meta);
        }
        self.tcp.generating = false;
        Ok(())
    }

    /// One frame of a generated segment, not delivered (for `op_mutated`).
    pub(super) fn gen_tcp_frame(&mut self, u: &mut Unstructured<'_>, i: usize) -> Res<Vec<u8>> {
        let (tuple, spec) = self.gen_tcp(u, i)?;
        Ok(self.tcp_frames(u, i, tuple, &spec)?.swap_remove(0))
    }

    /// A generated segment's frames (the datagram fragmented now and then); the segment is
    /// recorded here, as fragments are not parsed by `record_tcp_input`.
    fn tcp_frames(
        &mut self,
        u: &mut Unstructured<'_>,
        i: usize,
        tuple: Tuple,
        spec: &SegSpec,
    ) -> Res<Vec<Vec<u8>>> {
        let (local, lport, peer, pport) = tuple;
        let seg = tcp_bytes(peer, local, pport, lport, spec);
        let repr = Ipv4Repr {
            src: peer,
            dst: local,
            protocol: IpProtocol::TCP,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: u.arbitrary()?,
            reserved_flag: false,
            dont_frag: u.ratio(1u8, 2u8)?,
            more_frags: false,
            frag_offset_units: 0,
            options: ArrayVec::new(),
            options_padding: &[],
            payload_len: seg.len(),
        };
        let datagrams = if seg.len() > 8 && u.ratio(1u8, 16u8)? {
            if let Ok(p) = TcpPacket::new_checked(&seg[..]) {
                self.record_segment(tuple, &p);
            }
            self.fragment(u, &repr, &seg)?
        } else {
            vec![super::ipv4_datagram(&repr, &seg)]
        };
        let dst_mac = if u.ratio(15u8, 16u8)? {
            self.ifaces[i].mac
        } else {
            self.pick_dst_mac(u, i)?
        };
        Ok(datagrams
            .iter()
            .map(|d| super::eth_frame(dst_mac, mac_of(peer), EtherType::IPV4, d, true))
            .collect())
    }

    fn new_iss(u: &mut Unstructured<'_>) -> Res<u32> {
        Ok(match u.int_in_range(0..=7u8)? {
            // Across the wrap of sequence space.
            0 => u32::MAX - u.int_in_range(0..=2000)?,
            1 => 0,
            _ => u.arbitrary()?,
        })
    }

    /// Picks the 4-tuple and builds the segment.
    fn gen_tcp(&mut self, u: &mut Unstructured<'_>, i: usize) -> Res<(Tuple, SegSpec)> {
        let kind = u.int_in_range(0..=15u8)?;
        // Peers the stack is waiting for: it sent something not yet acknowledged.
        let waiting: Vec<Tuple> = self
            .tcp
            .order
            .iter()
            .filter(|t| {
                self.tcp.peers.get(t).is_some_and(|p| {
                    p.stack_iss.is_some() && (p.iss.is_none() || p.our_ack != Some(p.stack_max))
                })
            })
            .copied()
            .collect();
        let tuple = match kind {
            0..=5 if !waiting.is_empty() => waiting[u.int_in_range(0..=waiting.len() - 1)?],
            0..=10 if !self.tcp.order.is_empty() => {
                let len = self.tcp.order.len();
                let n = if u.ratio(1u8, 2u8)? {
                    len - 1 - u.int_in_range(0..=(len - 1).min(3))?
                } else {
                    u.int_in_range(0..=len - 1)?
                };
                self.tcp.order[n]
            }
            0..=12 => {
                // A new peer opening a connection, to a listener most of the time.
                let ours = self.addr(i).map_or_else(|| super::dhcp_pool(i, 0), |a| a.0);
                let (local, lport) = match self.tcp.listeners.values().next() {
                    Some(_) if !u.ratio(1u8, 6u8)? => {
                        let n = u.int_in_range(0..=self.tcp.listeners.len() - 1)?;
                        let l = *self.tcp.listeners.values().nth(n).unwrap();
                        (
                            if l.addr.is_unspecified() {
                                ours
                            } else {
                                l.addr
                            },
                            l.port,
                        )
                    }
                    _ => (ours, self.tcp_port(u)?),
                };
                let local = if u.ratio(1u8, 16u8)? {
                    self.pick_dst_for_us(u, i)?
                } else {
                    local
                };
                let peer = if u.ratio(3u8, 4u8)? {
                    self.onlink_peer(i, u.arbitrary()?)
                } else {
                    self.pick_remote(u, i)?
                };
                let pport = match u.int_in_range(0..=3u8)? {
                    0 => 40_000 + u16::from(u.int_in_range(0..=1u8)?),
                    _ => u.int_in_range(1024..=65535)?,
                };
                (local, lport, peer, pport)
            }
            _ => {
                // A stray: any flags and numbers to any port.
                let local = self.pick_dst_for_us(u, i)?;
                let lport = self.tcp_port(u)?;
                let peer = self.pick_remote(u, i)?;
                let tuple = (local, lport, peer, u.arbitrary()?);
                let mut s =
                    SegSpec::new(u.arbitrary()?, TcpFlags::from_bits_truncate(u.arbitrary()?));
                if s.flags.ack() {
                    s.ack = Some(u.arbitrary()?);
                }
                s.window = u.arbitrary()?;
                let len = u.int_in_range(0..=40)?;
                s.fill(s.seq.wrapping_add(u32::from(s.flags.syn())), len);
                self.gen_options(u, &mut s)?;
                return Ok((tuple, s));
            }
        };
        if let Entry::Vacant(e) = self.tcp.peers.entry(tuple) {
            e.insert(Peer::default());
            self.tcp.order.push(tuple);
        }
        let spec = self.gen_peer_segment(u, tuple)?;
        Ok((tuple, spec))
    }

    /// The next segment of the peer on `tuple`: the natural next step of a well-behaved peer
    /// most of the time, anything otherwise.
    fn gen_peer_segment(&mut self, u: &mut Unstructured<'_>, tuple: Tuple) -> Res<SegSpec> {
        let mut p = self.tcp.peers.get(&tuple).cloned().unwrap_or_default();
        #[derive(Clone, Copy, Debug)]
        enum Kind {
            Syn,
            Ack,
            Data,
            Fin,
            Rst,
            Odd,
        }
        let kind = if u.ratio(2u8, 3u8)? {
            if p.iss.is_none() || p.stack_iss.is_none() {
                Kind::Syn
            } else if p.our_ack.is_none_or(|a| a != p.stack_max) && u.arbitrary()? {
                Kind::Ack
            } else if !p.fin && u.ratio(1u8, 8u8)? {
                Kind::Fin
            } else {
                Kind::Data
            }
        } else {
            match u.int_in_range(0..=11u8)? {
                0 | 1 => Kind::Syn,
                2 | 3 => Kind::Ack,
                4..=6 => Kind::Data,
                7 => Kind::Fin,
                8 | 9 => Kind::Rst,
                _ => Kind::Odd,
            }
        };
        let mut s = match kind {
            Kind::Syn => {
                let iss = match p.iss {
                    Some(iss) if !u.ratio(1u8, 8u8)? => iss,
                    _ => {
                        let iss = Self::new_iss(u)?;
                        p.iss = Some(iss);
                        p.nxt = iss.wrapping_add(1);
                        p.fin = false;
                        iss
                    }
                };
                let mut s = SegSpec::new(iss, TcpFlags::SYN);
                let answer = p.stack_active && p.stack_iss.is_some();
                if answer != u.ratio(1u8, 8u8)? {
                    s.flags |= TcpFlags::ACK;
                    s.ack = Some(if u.ratio(7u8, 8u8)? {
                        p.stack_iss.map_or(0, |x| x.wrapping_add(1))
                    } else {
                        self.choose_ack(u, &p)?
                    });
                }
                if u.ratio(1u8, 16u8)? {
                    let n = u.int_in_range(1..=100)?;
                    s.fill(iss.wrapping_add(1), n);
                }
                if u.ratio(1u8, 16u8)? {
                    s.flags |= TcpFlags::FIN;
                }
                self.gen_syn_options(u, &mut s)?;
                p.our_ws = s.options.iter().find_map(|o| match o {
                    TcpOption::WindowScale(w) => Some(*w),
                    _ => None,
                });
                s
            }
            Kind::Ack => {
                let mut s = SegSpec::new(self.choose_seq(u, &p)?, TcpFlags::ACK);
                s.ack = Some(self.choose_ack(u, &p)?);
                s
            }
            Kind::Data | Kind::Fin => {
                let room = p.room();
                let (seq, in_order) = match u.int_in_range(0..=11u8)? {
                    0..=6 => (p.nxt, true),
                    7 => (
                        p.nxt.wrapping_add(u.int_in_range(1..=room.max(1) as u32)?),
                        false,
                    ),
                    8 => {
                        let back = p.iss.map_or(0, |iss| Seq(p.nxt).since(Seq(iss)));
                        let k = u.int_in_range(0..=back as u32)?;
                        (p.nxt.wrapping_sub(k), false)
                    }
                    9 => (
                        p.nxt
                            .wrapping_add(room as u32)
                            .wrapping_add(u.int_in_range(0..=2000)?),
                        false,
                    ),
                    _ => (u.arbitrary()?, false),
                };
                let mss = self
                    .tcp
                    .seen
                    .get(&tuple)
                    .map_or(536, |x| x.mss_bound.max(1));
                let len = match u.int_in_range(0..=9u8)? {
                    0..=2 => u.int_in_range(1..=64)?,
                    3 | 4 => u.int_in_range(1..=room.clamp(1, 1460))?,
                    5 => room.min(mss),
                    6 => 0,
                    7 => u.int_in_range(1..=3000)?,
                    _ => room,
                }
                .min(4000);
                let fin = matches!(kind, Kind::Fin);
                let mut flags = TcpFlags::ACK;
                if fin {
                    flags |= TcpFlags::FIN;
                }
                if u.arbitrary()? {
                    flags |= TcpFlags::PSH;
                }
                let mut s = SegSpec::new(seq, flags);
                s.fill(seq, len);
                s.ack = Some(self.choose_ack(u, &p)?);
                if u.ratio(1u8, 16u8)? {
                    s.flags |= TcpFlags::URG;
                    s.urgent = u.int_in_range(0..=len as u16)?;
                }
                if u.ratio(1u8, 16u8)? {
                    // ACK bit clear: a data segment a synchronized connection drops.
                    s.flags.remove(TcpFlags::ACK);
                }
                if in_order {
                    p.nxt = seq.wrapping_add(len as u32 + u32::from(fin));
                    p.fin |= fin;
                }
                s
            }
            Kind::Rst => {
                let seq = match u.int_in_range(0..=5u8)? {
                    0..=2 => p.nxt,
                    3 => p
                        .nxt
                        .wrapping_add(u.int_in_range(1..=p.room().max(1) as u32)?),
                    4 => p.stack_ack.unwrap_or(p.nxt),
                    _ => u.arbitrary()?,
                };
                let mut s = SegSpec::new(seq, TcpFlags::RST);
                if u.arbitrary()? {
                    s.flags |= TcpFlags::ACK;
                    s.ack = Some(self.choose_ack(u, &p)?);
                }
                s.window = 0;
                s
            }
            Kind::Odd => {
                let mut s = SegSpec::new(
                    self.choose_seq(u, &p)?,
                    TcpFlags::from_bits_truncate(u.arbitrary()?),
                );
                if s.flags.ack() || u.arbitrary()? {
                    s.ack = Some(self.choose_ack(u, &p)?);
                }
                let len = u.int_in_range(0..=100)?;
                s.fill(s.seq.wrapping_add(u32::from(s.flags.syn())), len);
                s.urgent = u.arbitrary()?;
                s
            }
        };
        if !s.flags.syn() {
            self.gen_options(u, &mut s)?;
        }
        s.window = match u.int_in_range(0..=15u8)? {
            0 | 1 => 0,
            2 => u.int_in_range(1..=16)?,
            3 => u.int_in_range(17..=600)?,
            4 => u.arbitrary()?,
            5 => 4096,
            _ if s.flags.rst() => s.window,
            _ => 65_535,
        };
        if u.ratio(1u8, 32u8)? {
            s.bad_checksum = true;
        }
        if let Some(a) = s.ack
            && seq_le(a, p.stack_max)
        {
            p.our_ack = Some(a);
        }
        self.log(|| {
            format!(
                "tcp peer {tuple:?} {kind:?} seq {} ack {:?} flags {:?} len {} wnd {}",
                s.seq,
                s.ack,
                s.flags,
                s.payload.len(),
                s.window
            )
        });
        self.tcp.peers.insert(tuple, p);
        Ok(s)
    }

    fn choose_seq(&self, u: &mut Unstructured<'_>, p: &Peer) -> Res<u32> {
        Ok(match u.int_in_range(0..=7u8)? {
            0..=4 => p.nxt,
            5 => p.nxt.wrapping_sub(u.int_in_range(1..=3000)?),
            6 => p.nxt.wrapping_add(u.int_in_range(1..=70_000)?),
            _ => u.arbitrary()?,
        })
    }

    /// An acknowledgment number: everything the stack sent most of the time, part of it, or
    /// numbers it never sent (ahead, far behind, anywhere).
    fn choose_ack(&self, u: &mut Unstructured<'_>, p: &Peer) -> Res<u32> {
        let Some(iss) = p.stack_iss else {
            return u.arbitrary();
        };
        let sent = Seq(p.stack_max).since(Seq(iss)) as u32;
        Ok(match u.int_in_range(0..=11u8)? {
            0..=5 => p.stack_max,
            6 | 7 => iss.wrapping_add(u.int_in_range(1..=sent.max(1))?),
            8 => p.stack_max.wrapping_add(u.int_in_range(1..=70_000)?),
            9 => iss.wrapping_sub(u.int_in_range(0..=70_000)?),
            10 => p.stack_max.wrapping_add(1 << 31),
            _ => u.arbitrary()?,
        })
    }

    /// Options for a SYN: MSS, window scale, SACK-permitted, timestamps, unknown kinds, in
    /// the input's order and values, or malformed option bytes.
    fn gen_syn_options(&mut self, u: &mut Unstructured<'_>, s: &mut SegSpec) -> Res<()> {
        if u.ratio(1u8, 16u8)? {
            return self.gen_bad_options(u, s);
        }
        let bits: u8 = u.arbitrary()?;
        let mut o = TcpOptionList::new();
        let push = |o: &mut TcpOptionList<'static>, opt: TcpOption<'static>| {
            let used: usize = o.iter().map(TcpOption::encoded_len).sum();
            if used + opt.encoded_len() <= 40 {
                o.push(opt);
            }
        };
        if bits & 0x03 != 0 {
            let mss = match u.int_in_range(0..=9u8)? {
                0 => 0,
                1 => u.int_in_range(1..=63)?,
                2 => 64,
                3 => u.int_in_range(65..=535)?,
                4 => 65_535,
                5 => 9000,
                6 => u.arbitrary()?,
                7 => 536,
                _ => 1460,
            };
            push(&mut o, TcpOption::Mss(mss));
        }
        if bits & 0x0c != 0 {
            push(&mut o, TcpOption::Nop);
            let ws = match u.int_in_range(0..=7u8)? {
                0 => 0,
                1 => 14,
                2 => 15,
                3 => u.arbitrary()?,
                _ => u.int_in_range(1..=9)?,
            };
            push(&mut o, TcpOption::WindowScale(ws));
        }
        if bits & 0x10 != 0 {
            push(&mut o, TcpOption::SackPermitted);
        }
        if bits & 0x20 != 0 {
            push(
                &mut o,
                TcpOption::Timestamps {
                    tsval: u.arbitrary()?,
                    tsecr: 0,
                },
            );
        }
        if bits & 0x40 != 0 {
            let n = u.int_in_range(0..=12)?;
            push(
                &mut o,
                TcpOption::Unknown {
                    kind: *u.choose(&[30, 34, 253, 99])?,
                    data: &OPTION_DATA[..n],
                },
            );
        }
        if bits & 0x80 != 0 {
            // A second MSS (the stack takes the last), or an end-of-list marker.
            if u.arbitrary()? {
                push(&mut o, TcpOption::Mss(u.arbitrary()?));
            } else {
                push(&mut o, TcpOption::EndOfList);
            }
        }
        if u.ratio(1u8, 4u8)? {
            o.reverse();
            // End of list stays last.
            if let Some(pos) = o.iter().position(|x| *x == TcpOption::EndOfList) {
                let e = o.remove(pos);
                o.push(e);
            }
        }
        s.options = o;
        Ok(())
    }

    /// Options on other segments: timestamps, SACK blocks, unknown kinds, now and then an
    /// MSS or window scale (ignored outside SYNs), or malformed bytes.
    fn gen_options(&mut self, u: &mut Unstructured<'_>, s: &mut SegSpec) -> Res<()> {
        match u.int_in_range(0..=15u8)? {
            0 => {
                s.options.push(TcpOption::Nop);
                s.options.push(TcpOption::Nop);
                s.options.push(TcpOption::Timestamps {
                    tsval: u.arbitrary()?,
                    tsecr: u.arbitrary()?,
                });
            }
            1 => {
                let base = s.ack.unwrap_or(0);
                let mut blocks = ArrayVec::new();
                for _ in 0..u.int_in_range(1..=3u8)? {
                    let a = base.wrapping_add(u.int_in_range(0..=5000)?);
                    blocks.push((a, a.wrapping_add(u.int_in_range(1..=3000)?)));
                }
                s.options.push(TcpOption::Nop);
                s.options.push(TcpOption::Nop);
                s.options.push(TcpOption::Sack(blocks));
            }
            2 => s.options.push(TcpOption::Unknown {
                kind: u.arbitrary::<u8>()?.max(9),
                data: &OPTION_DATA[..u.int_in_range(0..=38)?],
            }),
            3 => {
                s.options.push(TcpOption::Mss(u.arbitrary()?));
                s.options.push(TcpOption::WindowScale(u.arbitrary()?));
            }
            4 => return self.gen_bad_options(u, s),
            _ => {}
        }
        Ok(())
    }

    /// Option bytes with a wrong length (too small, past the header, not the kind's), cut
    /// short, or raw input bytes.
    fn gen_bad_options(&mut self, u: &mut Unstructured<'_>, s: &mut SegSpec) -> Res<()> {
        let raw: Vec<u8> = match u.int_in_range(0..=7u8)? {
            0 => vec![2, 3, 5, 0],
            1 => vec![3, 4, 7, 0],
            2 => vec![8, u.int_in_range(0..=1)?],
            3 => vec![30, 40, 1, 2],
            4 => vec![1, 1, 1, 2],
            5 => vec![5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            6 => vec![4, 3, 0, 0],
            _ => super::bytes_up_to(u, 40)?.to_vec(),
        };
        s.raw_options = Some(raw);
        Ok(())
    }

    // ---- what the stack was sent ----

    /// Records the TCP segment in a frame handed to the stack (called for every frame).
    pub(super) fn record_tcp_input(&mut self, frame: &[u8], meta: RxMeta) {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        if eth.ethertype() != EtherType::IPV4 {
            return;
        }
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            return;
        };
        if ip.protocol() != IpProtocol::TCP {
            return;
        }
        let (src, dst) = (ip.src(), ip.dst());
        let body = ip.payload();
        if ip.more_frags() || ip.frag_offset_units() != 0 {
            if self.tcp.generating && meta.checksum == ChecksumState::Unknown {
                // The generator recorded the whole segment.
                return;
            }
            // What a reassembled segment holds is unknown here: leave its tuple alone.
            if ip.frag_offset_units() == 0 {
                match body.get(..4) {
                    Some(b) => {
                        let sport = u16::from_be_bytes([b[0], b[1]]);
                        let dport = u16::from_be_bytes([b[2], b[3]]);
                        self.tcp.tainted.insert((dst, dport, src, sport));
                    }
                    None => self.tcp.taint_all = true,
                }
            }
            return;
        }
        let Ok(p) = TcpPacket::new_checked(body) else {
            return;
        };
        let tuple = (dst, p.dst_port(), src, p.src_port());
        if !self.tcp.generating {
            self.tcp.tainted.insert(tuple);
        }
        self.record_segment(tuple, &p);
    }

    fn record_segment(&mut self, tuple: Tuple, p: &TcpPacket<&[u8]>) {
        let f = p.flags();
        let seq = p.seq_number();
        let len = p.payload().len() as u32 + u32::from(f.syn()) + u32::from(f.fin());
        let data_at = seq.wrapping_add(u32::from(f.syn()));
        let foreign = p
            .payload()
            .iter()
            .enumerate()
            .any(|(k, b)| *b != peer_byte(data_at.wrapping_add(k as u32)));
        if foreign {
            self.tcp.tainted.insert(tuple);
        }
        let s = self.tcp.seen.entry(tuple).or_default();
        if s.ranges.len() >= MAX_RANGES {
            s.lost = true;
        } else {
            s.ranges.push_back((seq, len));
        }
        if f.syn() {
            let mut bound = 0usize;
            for o in p.options() {
                match o {
                    // RFC 9293 §3.7.1 (MUST-16): however small; 0 is taken as no option.
                    TcpOption::Mss(0) => bound = bound.max(536),
                    TcpOption::Mss(m) => bound = bound.max(usize::from(m)),
                    TcpOption::WindowScale(_) => s.ws = true,
                    _ => {}
                }
            }
            s.mss_bound = s.mss_bound.max(if bound == 0 { 536 } else { bound });
        }
        s.fin |= f.fin();
    }

    // ---- what the stack sent ----

    /// Reads `tcp_info` of every connection the application holds or held, before the
    /// stack is polled for frames.
    pub(super) fn tcp_snapshot(&mut self) {
        self.tcp.pre.clear();
        for id in self.tcp.socks.keys() {
            if let Some(info) = self.stack.tcp_info(*id) {
                self.tcp.pre.insert(
                    (info.local.0, info.local.1, info.remote.0, info.remote.1),
                    (*id, info),
                );
            }
        }
    }

    /// The same after polling: call before checking the frames.
    pub(super) fn tcp_snapshot_after(&mut self) {
        self.tcp.post.clear();
        for (id, _) in self.tcp.pre.values() {
            if let Some(info) = self.stack.tcp_info(*id) {
                self.tcp.post.insert(*id, info);
            }
        }
    }

    /// Checks one TCP segment the stack sent (`r` is its IPv4 header) and lets the peer
    /// learn from it.
    pub(super) fn check_tcp(&mut self, r: &Ipv4Repr<'_>, body: &[u8]) {
        let p = TcpPacket::new_checked(body)
            .unwrap_or_else(|e| panic!("stack sent a bad TCP segment: {e}"));
        assert!(p.verify_checksum(r.src, r.dst), "TCP checksum");
        let t = TcpRepr::parse(&p, r.src, r.dst, ChecksumMode::Verify)
            .unwrap_or_else(|e| panic!("stack sent a bad TCP segment: {e}"));
        let f = t.flags;
        let tuple: Tuple = (r.src, t.src_port, r.dst, t.dst_port);
        let len = t.payload.len();
        self.log(|| {
            format!(
                "tcp out {tuple:?} seq {} ack {} flags {:?} len {len} wnd {}",
                t.seq_number, t.ack_number, f, t.window_len
            )
        });
        assert!(
            f.reserved() == 0 && !f.ece() && !f.cwr() && !f.ae(),
            "stack sent flags {f:?}"
        );
        assert!(!(f.syn() && (f.rst() || f.fin())), "stack sent {f:?}");
        assert!(f.ack() || f.syn() || f.rst(), "segment without ACK: {f:?}");
        if f.rst() || f.syn() {
            assert_eq!(len, 0, "data on {f:?}");
        }
        if f.syn() {
            assert!(t.mss().is_some(), "MUST-14: a SYN without the MSS option");
        } else {
            assert!(
                t.mss().is_none() && t.window_scale().is_none(),
                "MSS or window scale outside a SYN"
            );
        }
        let clean = !(self.tcp.taint_all || self.tcp.tainted.contains(&tuple));
        let seen = self.tcp.seen.get(&tuple);
        if f.syn() && f.ack() && t.window_scale().is_some() && clean {
            assert!(
                seen.is_some_and(|s| s.ws),
                "RFC 7323 §2.2: window scale in a SYN-ACK to a SYN without it"
            );
        }
        if len > 0 && clean {
            let bound = seen.map_or(0, |s| s.mss_bound);
            assert!(bound > 0, "data on {tuple:?}, where the peer sent no SYN");
            assert!(
                len <= bound,
                "{len}-byte segment; the peer's MSS allows {bound}"
            );
        }
        if f.ack() && clean {
            let a = t.ack_number;
            match seen {
                Some(s) if s.lost => {}
                Some(s) => assert!(
                    s.ranges.iter().any(|&(q, l)| a.wrapping_sub(q) <= l),
                    "ACK {a} on {tuple:?} acknowledges nothing the peer sent"
                ),
                None => panic!("ACK {a} on {tuple:?}, where the peer never sent anything"),
            }
        }
        if len > 0 {
            self.tcp.cov.data_segments += 1;
        }
        if f.fin() {
            self.tcp.cov.fins += 1;
        }
        self.check_tcp_conn(tuple, &t);
        self.learn(tuple, &t);
    }

    /// Checks against the connection's `tcp_info` and what its application wrote.
    fn check_tcp_conn(&mut self, tuple: Tuple, t: &TcpRepr<'_>) {
        // A frame released now from the ARP queue may be older than the snapshot, even from
        // an earlier connection on the same 4-tuple.
        if self.tcp.stale {
            return;
        }
        let Some(&(id, pre)) = self.tcp.pre.get(&tuple) else {
            return;
        };
        let f = t.flags;
        if f.rst() {
            return;
        }
        let seq = Seq(t.seq_number);
        let len = t.payload.len();
        let end = seq + len;
        let Some(s) = self.tcp.socks.get(&id) else {
            return;
        };
        if let Some(post) = self.tcp.post.get(&id) {
            let full = end + usize::from(f.syn()) + usize::from(f.fin());
            assert!(
                full.le(post.send.max),
                "segment ends at {full}, beyond SND.MAX {}",
                post.send.max
            );
        }
        if f.syn() {
            assert_eq!(seq, s.iss, "SYN with a sequence number other than the ISS");
        }
        // The advertised window fits the receive buffer, rounded up to the scale unit (a
        // window below the unit is announced as one unit, RFC 7323 §2.3).
        let shift = if f.syn() { 0 } else { pre.recv.wscale };
        let wnd = usize::from(t.window_len) << shift;
        assert!(
            wnd <= s.recv_buffer.next_multiple_of(1 << shift),
            "window {wnd} advertised with a {}-byte receive buffer",
            s.recv_buffer
        );
        if len > 0 {
            let (una, wnd) = (pre.send.una, pre.send.wnd as usize);
            if end.gt(pre.send.max) {
                // RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: one byte past a zero window.
                let edge = una + wnd.max(1);
                assert!(
                    end.le(edge),
                    "new data to {end}, beyond SND.UNA {una} + SND.WND {wnd}"
                );
            }
            let off = seq.0.wrapping_sub((s.iss + 1).0) as usize;
            if off + len <= s.sent.len() {
                assert!(
                    s.sent[off..off + len] == *t.payload,
                    "segment at stream offset {off} is not the application's bytes"
                );
            } else {
                assert!(
                    s.sent.len() >= MAX_SENT,
                    "segment at stream offset {off}, {len} bytes: the application wrote {}",
                    s.sent.len()
                );
            }
        }
        if f.fin() {
            assert!(s.shut, "FIN on {tuple:?} before shutdown or close");
            if s.sent.len() < MAX_SENT {
                assert_eq!(
                    end,
                    s.iss + 1 + s.sent.len(),
                    "FIN not right after the last byte written"
                );
            }
        }
    }

    /// The peer learns the stack's ISN, how far it sent, its window.
    fn learn(&mut self, tuple: Tuple, t: &TcpRepr<'_>) {
        let f = t.flags;
        if f.rst() {
            return;
        }
        let p = match self.tcp.peers.entry(tuple) {
            Entry::Occupied(e) => e.into_mut(),
            // A peer appears with the stack's SYN to it.
            Entry::Vacant(_) if !f.syn() => return,
            Entry::Vacant(e) => {
                self.tcp.order.push(tuple);
                e.insert(Peer::default())
            }
        };
        let end = Seq(t.seq_number) + t.payload.len() + usize::from(f.syn()) + usize::from(f.fin());
        if f.syn() {
            if p.stack_iss != Some(t.seq_number) {
                // A new connection on this tuple (or the first).
                p.stack_iss = Some(t.seq_number);
                p.stack_max = end.0;
                if !f.ack() {
                    // Its SYN: we have not answered this one.
                    p.iss = None;
                    p.our_ack = None;
                }
            }
            p.stack_active = !f.ack();
            p.stack_ws = t.window_scale();
        }
        if p.stack_iss.is_some() && end.gt(Seq(p.stack_max)) {
            p.stack_max = end.0;
        }
        if f.ack() {
            p.stack_ack = Some(t.ack_number);
            p.stack_wnd = t.window_len;
        }
    }

    /// Keeps the stack's TCP datagrams for ICMP errors that quote them.
    pub(super) fn remember_tcp_datagram(&mut self, datagram: &[u8]) {
        if self.sent_datagrams.len() >= super::MEMORY {
            self.sent_datagrams.pop_front();
        }
        let hl = usize::from(datagram[0] & 0x0f) * 4;
        self.sent_datagrams
            .push_back(datagram[..(hl + 8).min(datagram.len())].to_vec());
    }

    // ---- events and state ----

    pub(super) fn check_tcp_event(&mut self, e: &Event) {
        match *e {
            Event::TcpAcceptable { listener } => {
                assert!(
                    self.tcp.listeners.contains_key(&listener),
                    "{e:?} for a listener that is not listening"
                );
            }
            Event::TcpConnected { socket } => {
                let s = self.held_sock(socket, e);
                assert!(s.active, "{e:?} for an accepted connection");
                assert!(!s.connected, "{e:?} twice");
                s.connected = true;
                self.tcp.cov.connected += 1;
            }
            Event::TcpReadable { socket }
            | Event::TcpIcmpError { socket, .. }
            | Event::TcpWritable { socket }
            | Event::TcpUrgent { socket }
            | Event::TcpRetransmitting { socket } => {
                self.held_sock(socket, e);
            }
            Event::TcpPeerClosed { socket } => {
                self.held_sock(socket, e);
                self.tcp.cov.peer_closed += 1;
            }
            Event::TcpFailed { socket, error } => {
                self.held_sock(socket, e);
                assert!(
                    error != ConnError::Aborted,
                    "{e:?}: the application's own abort releases the handle"
                );
                self.tcp.cov.failed += 1;
            }
            Event::TcpClosed { socket } => {
                let s = self.held_sock(socket, e);
                s.closed = true;
            }
            _ => {}
        }
    }

    fn held_sock(&mut self, socket: TcpSocketId, e: &Event) -> &mut Sock {
        let s = self
            .tcp
            .socks
            .get_mut(&socket)
            .filter(|s| s.held)
            .unwrap_or_else(|| panic!("{e:?} for a socket the application does not hold"));
        assert!(!s.closed, "{e:?} after TcpClosed");
        s
    }

    /// Connection count, handles, sequence variables and buffers.
    pub(super) fn check_tcp_state(&mut self) {
        let live = self.stack.tcp_connections();
        assert!(
            live <= self.limits.tcp_connections,
            "{live} TCP connections, limit {}",
            self.limits.tcp_connections
        );
        let mut alive = 0;
        let mut gone = Vec::new();
        for (id, s) in &self.tcp.socks {
            let Some(info) = self.stack.tcp_info(*id) else {
                assert!(!s.held, "the handle {id:?} the application holds is gone");
                gone.push(*id);
                continue;
            };
            alive += 1;
            let tuple = (info.local.0, info.local.1, info.remote.0, info.remote.1);
            assert_eq!(tuple, s.tuple, "{id:?} changed its 4-tuple");
            assert_eq!(info.send.iss, s.iss, "{id:?} changed its ISS");
            let v = info.send;
            assert!(
                v.una.le(v.nxt) && v.nxt.le(v.max),
                "SND.UNA {} SND.NXT {} SND.MAX {} out of order",
                v.una,
                v.nxt,
                v.max
            );
            assert!(
                v.max.since(v.una) <= info.unacked + 2,
                "{} in flight with {} bytes unacknowledged",
                v.max.since(v.una),
                info.unacked
            );
            assert!(info.unacked <= s.send_buffer, "send buffer over its size");
            assert!(info.writable <= s.send_buffer, "writable over the buffer");
            // (Plus the slack for windows rounded up to the scale unit, RFC 7323 §2.3.)
            assert!(
                info.readable < s.recv_buffer + (1 << info.recv.wscale),
                "receive buffer over its size"
            );
            assert!(
                info.recv.wnd as usize <= s.recv_buffer.next_multiple_of(1 << info.recv.wscale),
                "RCV.WND {} over the {}-byte buffer",
                info.recv.wnd,
                s.recv_buffer
            );
        }
        for id in gone {
            self.tcp.socks.remove(&id);
        }
        assert!(
            alive <= live,
            "{alive} connections answer tcp_info, {live} counted"
        );
    }

    /// Frames a drain may produce beyond the queue bound: TCP segments for every connection.
    pub(super) fn tcp_frame_allowance(&self) -> usize {
        let buf = self.tcp.config.send_buffer.max(300_000);
        self.stack.tcp_connections() * (buf / 64 + 16)
    }
}
