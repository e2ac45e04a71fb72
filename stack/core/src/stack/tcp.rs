//! TCP in the stack: segments in (checksum, demultiplexing, listeners, RST for closed
//! ports), segments out (IPv4 over the route), per-connection timers in the global deadline
//! set, events, and the socket calls applications make.

use super::Stack;
use super::input::LinkInfo;
use super::tcp_path::{self, TcpPath, emit_tcp_frame, tcp_header_len};
use crate::event::Event;
use crate::link::ChecksumState;
use crate::tcp::conn::{
    Conn, ConnStats, RecvError, SegmentIn, SegmentOut, SendError, TcpConfig, events,
};
use crate::tcp::seq::Seq;
use crate::tcp::sockets::{FourTuple, Owner};
use crate::tcp::{ConnError, State, TcpListenerId, TcpSocketId};
use crate::time::Instant;
use crate::timer::TimerOwner;
use alloc::vec;
use alloc::vec::Vec;
use weft_wire::Ipv4Addr;
use weft_wire::ipv4::IpProtocol;
use weft_wire::tcp::{TcpFlags, TcpHeader, TcpOption, TcpPacket};

/// Why a TCP call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// No route to the destination.
    #[error("no route to {0}")]
    NoRoute(Ipv4Addr),
    /// The destination is a broadcast, multicast or unspecified address: TCP connects to one
    /// host only (RFC 9293 §3.9.1.1, MUST-46).
    #[error("{0} is a broadcast, multicast or unspecified address: TCP needs one host")]
    InvalidDestination(Ipv4Addr),
    /// The address is not one of this host's.
    #[error("{0} is not an address of this host")]
    AddrNotAvailable(Ipv4Addr),
    /// Something already listens on the address and port.
    #[error("{addr}:{port} already has a listener")]
    AddrInUse {
        /// The address (0.0.0.0 = any).
        addr: Ipv4Addr,
        /// The port.
        port: u16,
    },
    /// Every ephemeral port to that destination is in use.
    #[error("no free ephemeral port in 49152-65535 towards {0}")]
    NoFreePort(Ipv4Addr),
    /// The connection limit (`Limits::tcp_connections`) is reached.
    #[error("TCP connection limit of {0} reached")]
    TooManyConnections(usize),
    /// The handle does not name a live connection or listener.
    #[error("no such TCP socket")]
    NoSuchSocket,
    /// Sending or receiving on a connection that is not open for it.
    #[error("{0}")]
    Send(SendError),
    /// The end of the stream, or a failure, when receiving.
    #[error("{0}")]
    Recv(RecvError),
}

/// What tools and tests can see of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// State.
    pub state: State,
    /// Local address and port.
    pub local: (Ipv4Addr, u16),
    /// Remote address and port.
    pub remote: (Ipv4Addr, u16),
    /// Send-side variables, cwnd, ssthresh, RTO.
    pub send: crate::tcp::conn::SendVars,
    /// Receive-side variables.
    pub recv: crate::tcp::conn::RecvVars,
    /// Counters.
    pub stats: crate::tcp::conn::ConnStats,
    /// Bytes readable now.
    pub readable: usize,
    /// Bytes writable now.
    pub writable: usize,
    /// Bytes sent and not yet acknowledged, plus queued.
    pub unacked: usize,
    /// Bytes of memory the send and receive rings hold (see
    /// [`Stack::tcp_release_buffers`]).
    pub buffer_bytes: usize,
}

/// What became of a segment `Stack::write_direct` was given.
enum Direct {
    /// Written into the buffer: the interface and the frame's length.
    Written(crate::config::IfaceId, usize),
    /// Not for this path (no path, or too long for the MTU or the buffer): the general one
    /// takes it.
    General,
    /// Could not be written (nothing counted as sent).
    Failed,
}

/// The options a segment of ours carries: MSS and window scale on SYNs (MUST-14; RFC 7323
/// §2.2), a NOP before the window scale to align it.
fn tcp_options(seg: &SegmentOut) -> arrayvec::ArrayVec<TcpOption<'static>, 3> {
    let mut options = arrayvec::ArrayVec::new();
    if let Some(m) = seg.mss {
        options.push(TcpOption::Mss(m));
    }
    if let Some(s) = seg.window_scale {
        options.push(TcpOption::Nop);
        options.push(TcpOption::WindowScale(s));
    }
    options
}

/// The header of `seg` from port `lport` to `rport`.
fn tcp_header<'a>(
    lport: u16,
    rport: u16,
    seg: &SegmentOut,
    options: &'a [TcpOption<'static>],
) -> TcpHeader<'a> {
    let flags = tcp_path::flags(seg);
    TcpHeader {
        src_port: lport,
        dst_port: rport,
        seq_number: seg.seq.0,
        ack_number: seg.ack.map_or(0, |a| a.0),
        flags,
        window_len: seg.window,
        urgent_pointer: seg.urgent.unwrap_or(0),
        options,
        options_trailer: &[],
    }
}

/// The segment's fields, read straight from the checked view (no copy of the option list:
/// the stack uses only MSS and window scale, and only on SYNs).
fn seg_in<'a, T: AsRef<[u8]> + ?Sized>(p: &TcpPacket<&'a T>) -> SegmentIn<'a> {
    let f = p.flags();
    let syn = f.contains(TcpFlags::SYN);
    let mut mss = None;
    let mut window_scale = None;
    // MUST-5/6: options in any segment are read; unknown ones ignored. MSS and window scale
    // count only on SYNs (RFC 9293 §3.7.1, RFC 7323 §2.2); a repeated option's last copy
    // counts.
    if syn {
        for o in p.options_ref() {
            match o {
                TcpOption::Mss(m) => mss = Some(m),
                TcpOption::WindowScale(s) => window_scale = Some(s),
                _ => {}
            }
        }
    }
    SegmentIn {
        seq: Seq(p.seq_number()),
        ack: f.contains(TcpFlags::ACK).then_some(Seq(p.ack_number())),
        syn,
        fin: f.contains(TcpFlags::FIN),
        rst: f.contains(TcpFlags::RST),
        psh: f.contains(TcpFlags::PSH),
        urgent: f.contains(TcpFlags::URG).then_some(p.urgent_pointer()),
        window: p.window_len(),
        mss,
        window_scale,
        payload: p.payload_ref(),
    }
}

impl Stack {
    /// RFC 9293 §3.10.7: a segment arrives.
    pub(super) fn input_tcp(
        &mut self,
        now: Instant,
        link: LinkInfo,
        payload: &[u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        dst_broadcast: bool,
    ) {
        let Ok(p) = TcpPacket::new_checked(payload) else {
            self.tcp.counters.rx_malformed += 1;
            return;
        };
        // MUST-3: the receiver checks the checksum (unless the link did). The option area was
        // checked by `new_checked` (MUST-7: an illegal option length is a malformed segment).
        if link.checksum == ChecksumState::Unknown && !p.verify_checksum(src, dst) {
            self.tcp.counters.rx_bad_checksum += 1;
            return;
        }
        // RFC 1122 §4.2.3.10 (MUST-57, MUST-63): segments to broadcast or multicast
        // addresses are discarded, and so are segments from addresses no host can have
        // (broadcast, multicast, the network's own address, 0.0.0.0, loopback: RFC 1122
        // §3.2.1.3).
        if dst_broadcast
            || dst.is_multicast()
            || src.is_multicast()
            || src.is_loopback()
            || self.routes.is_broadcast(link.iface, src)
        {
            self.tcp.counters.rx_broadcast += 1;
            return;
        }
        self.tcp.counters.rx_segments += 1;
        let (src_port, dst_port) = (p.src_port(), p.dst_port());
        if let Some(index) = self.tcp.lookup_parts(dst, dst_port, src, src_port) {
            let predict = self.tcp_header_prediction;
            let limiter = &mut self.tcp_challenge;
            if let Some(slot) = self.tcp.slot_at(index) {
                // The common data segment (only ACK, perhaps PSH) first tries header
                // prediction, which handles it as the general rules would or leaves it.
                let flags = p.flags().bits() & !TcpFlags::PSH.bits();
                let predicted = predict
                    && flags == TcpFlags::ACK.bits()
                    && slot.conn.handle_data_fast(
                        now,
                        Seq(p.seq_number()),
                        Seq(p.ack_number()),
                        p.window_len(),
                        p.flags().contains(TcpFlags::PSH),
                        p.payload_ref(),
                    );
                if predicted {
                    self.tcp.counters.rx_predicted += 1;
                } else {
                    slot.conn
                        .handle_segment(now, &seg_in(&p), &mut || limiter.allow(now));
                }
            }
            self.tcp_touch(now, index);
            return;
        }
        let seg = seg_in(&p);
        let tuple: FourTuple = (dst, dst_port, src, src_port);
        // LISTEN (RFC 9293 §3.10.7.2).
        if let Some(l) = self.tcp.listener_for(dst, dst_port) {
            if seg.rst {
                return;
            }
            if let Some(ack) = seg.ack {
                self.send_rst(now, tuple, ack, None);
                return;
            }
            if !seg.syn {
                return;
            }
            let Some((backlog, pending, config)) = self
                .tcp
                .listener(TcpListenerId(l))
                .map(|ls| (ls.backlog, ls.pending, ls.config))
            else {
                return;
            };
            if pending >= backlog {
                self.tcp.counters.backlog_drops += 1;
                return;
            }
            let mtu = self
                .ifaces
                .get(usize::from(link.iface.0))
                .map_or(576, |i| i.mtu);
            let iss = self.tcp.isn(now, tuple);
            let conn = Conn::accept(config, mtu.saturating_sub(40), iss, now, &seg);
            if let Some(index) = self.tcp.insert(conn, tuple, Owner::Listener(l)) {
                if let Some(ls) = self.tcp.listener(TcpListenerId(l)) {
                    ls.pending += 1;
                }
                self.tcp.counters.passive_opens += 1;
                self.tcp_touch(now, index);
            }
            return;
        }
        // CLOSED (RFC 9293 §3.10.7.1): answer everything but a RST with a RST.
        self.tcp.counters.rx_no_socket += 1;
        if seg.rst {
            return;
        }
        match seg.ack {
            Some(ack) => self.send_rst(now, tuple, ack, None),
            None => self.send_rst(now, tuple, Seq(0), Some(seg.seq + seg.len())),
        }
    }

    /// A RST for a segment that matched no connection: <SEQ=seq>[<ACK=ack>]<CTL=RST[,ACK]>.
    fn send_rst(&mut self, now: Instant, tuple: FourTuple, seq: Seq, ack: Option<Seq>) {
        let mut out = SegmentOut {
            seq,
            ack,
            syn: false,
            fin: false,
            rst: true,
            psh: false,
            urgent: None,
            window: 0,
            mss: None,
            window_scale: None,
            payload_offset: 0,
            payload_len: 0,
        };
        out.ack = ack;
        self.tcp.counters.rst_sent += 1;
        self.output_tcp(now, tuple, &out);
    }

    /// Builds and sends one segment without payload from `tuple.0:tuple.1` to
    /// `tuple.2:tuple.3`.
    fn output_tcp(&mut self, now: Instant, tuple: FourTuple, seg: &SegmentOut) {
        self.output_tcp_dscp(now, tuple, seg, None, 0);
    }

    /// [`Stack::output_tcp`] with the connection's Diffserv code point, and with `seg`'s
    /// payload read from the send buffer of the connection at slab index `from` (none when
    /// `from` is `None`).
    fn output_tcp_dscp(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        seg: &SegmentOut,
        from: Option<u32>,
        dscp: u8,
    ) {
        // The common case — the next hop's MAC is known and the segment fits the MTU — builds
        // the whole frame in one buffer (a reused one when `poll_transmit` gave one back).
        let path = match from {
            Some(index) => self.tcp_path(now, index),
            None => self.tcp_path_for(now, tuple),
        };
        let payload_len = if from.is_some() { seg.payload_len } else { 0 };
        if let Some(path) = &path
            && let Some(len) = path.frame_len(seg, payload_len)
        {
            let mut frame = self.frame_pool.pop().unwrap_or_default();
            // Every byte is written by `write_tcp_segment` (the frame is cut to what it wrote).
            frame.resize(len, 0);
            if let Some(n) = self.write_tcp_segment(path, tuple, seg, from, dscp, &mut frame) {
                frame.truncate(n);
                self.push_frame(path.iface, frame);
            }
            return;
        }
        let Some((iface, next_hop, src)) = self.route(tuple.2) else {
            self.counters.ipv4.tx_no_route += 1;
            return;
        };
        let (local, lport, remote, rport) = tuple;
        let src = if local.is_unspecified() { src } else { local };
        let payload_len = if from.is_some() { seg.payload_len } else { 0 };
        let mut payload = vec![0u8; payload_len];
        if let Some(index) = from {
            let Some(slot) = self.tcp.slot_at(index) else {
                return;
            };
            let n = slot.conn.read_payload(seg.payload_offset, &mut payload);
            payload.truncate(n);
        }
        let options = tcp_options(seg);
        let header = tcp_header(lport, rport, seg, &options);
        let Ok(header_len) = header.try_header_len() else {
            return;
        };
        let mut buf = vec![0u8; header_len + payload.len()];
        if let Some(p) = buf.get_mut(header_len..) {
            p.copy_from_slice(&payload);
        }
        // MUST-2: the sender computes the checksum.
        if header
            .emit_around_payload(src, remote, payload.len(), &mut buf)
            .is_err()
        {
            return;
        }
        self.tcp.counters.tx_segments += 1;
        // TCP sizes its segments to the MSS; no DF without path MTU discovery.
        let _ = self.output_ipv4_dscp(
            now,
            iface,
            next_hop,
            src,
            remote,
            IpProtocol::TCP,
            &buf,
            false,
            dscp,
        );
    }

    /// Makes the output path cached in the slot of the connection at slab index `index`
    /// current: kept while it holds (no route or ARP change since, the ARP entry alive:
    /// `TcpPath::valid`), else worked out anew (`None` as for [`Stack::tcp_path_for`]).
    /// True when the slot has a path.
    fn tcp_path_ready(&mut self, now: Instant, index: u32) -> bool {
        let route_gen = self.routes.generation();
        let Some(slot) = self.tcp.slot_at(index) else {
            return false;
        };
        if let Some(p) = &slot.path
            && let Some(ifc) = self.ifaces.get(usize::from(p.iface.0))
            && p.valid(now, route_gen, ifc.arp.generation())
        {
            return true;
        }
        let tuple = slot.tuple;
        let p = self.tcp_path_for(now, tuple);
        if let Some(slot) = self.tcp.slot_at(index) {
            slot.path = p;
        }
        p.is_some()
    }

    /// The connection's current output path (see [`Stack::tcp_path_ready`]), copied.
    fn tcp_path(&mut self, now: Instant, index: u32) -> Option<TcpPath> {
        if !self.tcp_path_ready(now, index) {
            return None;
        }
        self.tcp.slot_at(index).and_then(|s| s.path)
    }

    /// How segments from `tuple.0:tuple.1` to `tuple.2:tuple.3` become Ethernet frames
    /// without help: the route, the source address, both MAC addresses (the next hop's from
    /// the ARP cache); `None` when the route is missing, the next hop unresolved or broadcast
    /// (then the general IPv4 path resolves or counts it).
    fn tcp_path_for(&self, now: Instant, tuple: FourTuple) -> Option<TcpPath> {
        let (local, lport, remote, rport) = tuple;
        let (iface, next_hop, src) = self.route(remote)?;
        let src = if local.is_unspecified() { src } else { local };
        let ifc = self.ifaces.get(usize::from(iface.0))?;
        if self.routes.is_broadcast(iface, next_hop) {
            return None;
        }
        let (their_mac, expires) = ifc.arp.lookup_until(now, next_hop)?;
        Some(TcpPath::new(
            (self.routes.generation(), ifc.arp.generation(), expires),
            iface,
            ifc.mtu,
            (ifc.mac, their_mac),
            self.ttl,
            (src, lport),
            (remote, rport),
        ))
    }

    /// Writes the frame of `seg` along `path` into `buf` (at least `path.frame_len` bytes):
    /// the payload read from the send buffer of connection `from` (none when `None`)
    /// straight into place, then the headers and checksums around it. Returns the frame's
    /// length (shorter than planned if the send buffer held less), `None` if it could not be
    /// written (nothing counted as sent then).
    fn write_tcp_segment(
        &mut self,
        path: &TcpPath,
        tuple: FourTuple,
        seg: &SegmentOut,
        from: Option<u32>,
        dscp: u8,
        buf: &mut [u8],
    ) -> Option<usize> {
        let at = tcp_path::HEADERS_LEN + tcp_header_len(seg) - weft_wire::tcp::HEADER_LEN;
        let read = match from {
            None => 0,
            Some(index) => {
                let slot = self.tcp.slot_at(index)?;
                let dst = buf.get_mut(at..at + seg.payload_len)?;
                slot.conn.read_payload(seg.payload_offset, dst)
            }
        };
        let ident = self.next_ident;
        self.next_ident = self.next_ident.wrapping_add(1);
        let n = emit_tcp_frame(path, tuple, seg, (ident, dscp, self.ttl), read, buf)?;
        self.tcp.counters.tx_segments += 1;
        self.counters.ipv4.tx_datagrams += 1;
        Some(n)
    }

    /// A connection changed: its output, its events and its deadline are handled at the next
    /// flush (`poll_transmit`, which the caller runs until `None` before it reads
    /// `poll_timeout`). The deadline is set once there, after the segments went out, instead
    /// of here and again there: a segment in arms the delayed ACK, the answer sent clears it.
    fn tcp_touch(&mut self, now: Instant, index: u32) {
        let _ = now;
        self.tcp.mark_dirty(index);
    }

    /// An ICMP error about a segment of connection `index` whose quoted sequence number is
    /// `seq` (RFC 9293 §3.9.2.2, RFC 5927 §4.1). The application hears of it (MUST-47).
    #[cfg(feature = "icmp")]
    pub(super) fn tcp_icmp_error(
        &mut self,
        index: u32,
        kind: crate::event::IcmpErrorKind,
        seq: u32,
        reporter: Ipv4Addr,
    ) {
        use crate::event::IcmpErrorKind as K;
        // RFC 1122 §4.2.3.9: destination unreachable codes 2 (protocol), 3 (port) and 4
        // (fragmentation needed) are hard errors; 0, 1 and 5 (network, host, source route)
        // soft (MUST NOT abort, MUST-56), as are time exceeded and parameter problem.
        let hard = matches!(kind, K::Unreachable { code: 2 | 3 });
        let mut tell = None;
        if let Some(slot) = self.tcp.slot_at(index) {
            let before = slot.conn.stats().icmp_errors;
            slot.conn.icmp_error(hard, Seq(seq));
            // Reported when it concerned outstanding data (forged quotes are ignored).
            if slot.conn.stats().icmp_errors > before && slot.owner == Owner::App {
                tell = self.tcp.id_of(index);
            }
        }
        if let Some(socket) = tell {
            self.push_event(Event::TcpIcmpError {
                socket,
                kind,
                reporter,
            });
        }
        self.tcp.mark_dirty(index);
    }

    pub(super) fn tcp_timeout(&mut self, now: Instant, index: u32) {
        if let Some(slot) = self.tcp.slot_at(index) {
            slot.conn.handle_timeout(now);
        }
        self.tcp_touch(now, index);
    }

    /// Turns every changed connection's segments into frames and its events into stack
    /// events; frees connections nobody holds once closed. Each changed connection is visited
    /// once: while the transmit queue is full its segments wait (it stays marked, and the
    /// next flush — the next `poll_transmit` — goes on), but its events are delivered now.
    pub(super) fn flush_tcp(&mut self, now: Instant) {
        // Connections held back by a full transmit queue, marked again once every changed
        // connection was visited (marking them at once would visit them again, forever).
        let mut deferred = Vec::new();
        // A connection `poll_transmit` was part way through comes first (it is off the list).
        let mut next = self.tcp_flushing.take();
        loop {
            let index = match next.take() {
                Some(i) => i,
                None => {
                    let Some(i) = self.tcp.dirty.pop_front() else {
                        break;
                    };
                    let Some(slot) = self.tcp.slot_at(i) else {
                        continue;
                    };
                    slot.dirty = false;
                    i
                }
            };
            let mut held_back = false;
            loop {
                if self.tx.len() >= self.limits.tx_queue_frames {
                    self.tcp.counters.tx_deferred += 1;
                    held_back = true;
                    break;
                }
                let Some(slot) = self.tcp.slot_at(index) else {
                    break;
                };
                let Some(seg) = slot.conn.poll_segment(now) else {
                    break;
                };
                let tuple = slot.tuple;
                let dscp = slot.conn.dscp();
                self.output_tcp_dscp(now, tuple, &seg, Some(index), dscp);
            }
            self.tcp_flushed(index, held_back);
            if held_back {
                deferred.push(index);
            }
        }
        for index in deferred {
            self.tcp.mark_dirty(index);
        }
    }

    /// A connection's segments are all out (or, `held_back`, waiting for room in the
    /// transmit queue): its events go to the application, its deadline is updated, and it
    /// is freed once closed and nobody holds it.
    fn tcp_flushed(&mut self, index: u32, held_back: bool) {
        self.tcp_events(index);
        let Some(slot) = self.tcp.slot_at(index) else {
            return;
        };
        let closed = slot.conn.state() == State::Closed;
        let t = slot.conn.poll_timeout();
        // (A closed connection held back may still owe its RST.)
        let free = closed && !held_back && !slot.dirty && slot.owner != Owner::App;
        if free {
            self.tcp.remove(index);
            self.deadlines.set(TimerOwner::Tcp(index), None);
        } else {
            self.deadlines.set(TimerOwner::Tcp(index), t);
        }
    }

    /// `poll_transmit`'s TCP step: the next segment of the changed connections, written
    /// straight into `buf` when it can be built in one piece (see `tcp_path_for`). Any
    /// other segment takes the general path into the transmit queue, and `None` is returned
    /// as soon as the queue holds a frame (the caller sends it first, then calls again) or
    /// when no connection has anything more to send. A connection left part way keeps its
    /// place (`tcp_flushing`) for the next call or `flush_tcp`.
    pub(super) fn tcp_transmit_direct(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<crate::stack::Transmit> {
        loop {
            if !self.tx.is_empty() {
                return None;
            }
            let index = match self.tcp_flushing {
                Some(i) => i,
                None => {
                    let i = self.tcp.dirty.pop_front()?;
                    let Some(slot) = self.tcp.slot_at(i) else {
                        continue;
                    };
                    slot.dirty = false;
                    self.tcp_flushing = Some(i);
                    i
                }
            };
            let Some(slot) = self.tcp.slot_at(index) else {
                self.tcp_flushing = None;
                continue;
            };
            let (tuple, dscp) = (slot.tuple, slot.conn.dscp());
            // Borrowed where it was returned, not moved: a copy of it straight after the
            // callee's narrow stores would stall on store forwarding.
            let next = slot.conn.poll_segment(now);
            let Some(seg) = &next else {
                self.tcp_flushing = None;
                self.tcp_flushed(index, false);
                continue;
            };
            if self.tcp_path_ready(now, index) {
                match self.write_direct(index, seg, dscp, buf) {
                    Direct::Written(iface, len) => {
                        self.counters.ethernet.tx_frames += 1;
                        return Some(crate::stack::Transmit {
                            iface,
                            len,
                            meta: crate::link::TxMeta::default(),
                        });
                    }
                    Direct::Failed => continue,
                    Direct::General => {}
                }
            }
            // Unresolved, too long for the MTU or for `buf`: queued (or counted) as ever.
            self.output_tcp_dscp(now, tuple, seg, Some(index), dscp);
        }
    }

    /// Writes `seg` of the connection at slab index `index` into `buf` along the path cached
    /// in its slot (made current by `tcp_path_ready`), the payload read from its send
    /// buffer straight into place: [`Stack::write_tcp_segment`] without copying the path
    /// out of the slot.
    fn write_direct(&mut self, index: u32, seg: &SegmentOut, dscp: u8, buf: &mut [u8]) -> Direct {
        let Stack {
            tcp,
            counters,
            next_ident,
            ttl,
            ..
        } = self;
        let Some(slot) = tcp.slot_at(index) else {
            return Direct::Failed;
        };
        let Some(path) = &slot.path else {
            return Direct::General;
        };
        if path
            .frame_len(seg, seg.payload_len)
            .is_none_or(|len| buf.len() < len)
        {
            return Direct::General;
        }
        let at = tcp_path::HEADERS_LEN + tcp_header_len(seg) - weft_wire::tcp::HEADER_LEN;
        let Some(dst) = buf.get_mut(at..at + seg.payload_len) else {
            return Direct::Failed;
        };
        let read = slot.conn.read_payload(seg.payload_offset, dst);
        let ident = *next_ident;
        *next_ident = ident.wrapping_add(1);
        let Some(n) = emit_tcp_frame(path, slot.tuple, seg, (ident, dscp, *ttl), read, buf) else {
            return Direct::Failed;
        };
        let iface = path.iface;
        tcp.counters.tx_segments += 1;
        counters.ipv4.tx_datagrams += 1;
        Direct::Written(iface, n)
    }

    fn tcp_events(&mut self, index: u32) {
        let Some(id) = self.tcp.id_of(index) else {
            return;
        };
        let Some(slot) = self.tcp.slot_at(index) else {
            return;
        };
        let ev = slot.conn.take_events();
        let owner = slot.owner;
        let error = slot.conn.error();
        let remote = slot.tuple.2;
        if ev == 0 {
            return;
        }
        if ev & events::PATH_SUSPECT != 0 {
            // MUST-20's negative advice: forget the next hop's link-layer address so the
            // next retransmission asks ARP again (a wrong or stale entry heals).
            if let Some((iface, next_hop, _)) = self.route(remote)
                && let Some(ifc) = self.ifaces.get_mut(usize::from(iface.0))
            {
                ifc.arp.forget(next_hop);
            }
        }
        if ev & events::PATH_SUSPECT != 0 && owner == Owner::App {
            // MUST-47: excessive retransmissions are reported to the application.
            self.push_event(Event::TcpRetransmitting { socket: id });
        }
        if let Owner::Listener(l) = owner {
            if ev & events::CONNECTED != 0 {
                if let Some(slot) = self.tcp.slot_at(index) {
                    slot.queued = true;
                }
                if let Some(ls) = self.tcp.listener(TcpListenerId(l)) {
                    ls.accept_queue.push_back(index);
                }
                self.push_event(Event::TcpAcceptable {
                    listener: TcpListenerId(l),
                });
            }
            return;
        }
        if owner != Owner::App {
            return;
        }
        let socket = id;
        if ev & events::CONNECTED != 0 {
            self.push_event(Event::TcpConnected { socket });
        }
        if ev & events::READABLE != 0 {
            self.push_event(Event::TcpReadable { socket });
        }
        if ev & events::URGENT != 0 {
            self.push_event(Event::TcpUrgent { socket });
        }
        if ev & events::PEER_CLOSED != 0 {
            self.push_event(Event::TcpPeerClosed { socket });
        }
        if ev & events::WRITABLE != 0 {
            self.push_event(Event::TcpWritable { socket });
        }
        if ev & events::FAILED != 0 {
            self.push_event(Event::TcpFailed {
                socket,
                error: error.unwrap_or(ConnError::Reset),
            });
        }
        if ev & events::CLOSED != 0 {
            self.push_event(Event::TcpClosed { socket });
        }
    }

    // ------------------------------------------------------------------ socket calls

    /// Listens on `addr:port` (0.0.0.0 = every local address) with room for `backlog`
    /// connections handshaking or waiting for [`Stack::tcp_accept`] (capped at
    /// `Limits::tcp_backlog`).
    pub fn tcp_listen(
        &mut self,
        addr: Ipv4Addr,
        port: u16,
        backlog: usize,
    ) -> Result<TcpListenerId, TcpError> {
        if !addr.is_unspecified() && self.routes.is_local(addr).is_none() {
            return Err(TcpError::AddrNotAvailable(addr));
        }
        let config = self.tcp.config;
        self.tcp
            .listen((addr, port), backlog, config)
            .ok_or(TcpError::AddrInUse { addr, port })
    }

    /// The listener's connection settings (inherited by the connections it accepts).
    pub fn tcp_listener_config(&mut self, listener: TcpListenerId) -> Option<&mut TcpConfig> {
        self.tcp.listener(listener).map(|l| &mut l.config)
    }

    /// Stops listening. Connections it held that were not accepted are reset.
    pub fn tcp_unlisten(&mut self, now: Instant, listener: TcpListenerId) {
        for index in self.tcp.unlisten(listener) {
            if let Some(slot) = self.tcp.slot_at(index) {
                slot.conn.abort();
            }
            self.tcp_touch(now, index);
        }
    }

    /// The next established connection of `listener`, if one is waiting.
    pub fn tcp_accept(&mut self, listener: TcpListenerId) -> Result<Option<TcpSocketId>, TcpError> {
        let Some(ls) = self.tcp.listener(listener) else {
            return Err(TcpError::NoSuchSocket);
        };
        let Some(index) = ls.accept_queue.pop_front() else {
            return Ok(None);
        };
        ls.pending = ls.pending.saturating_sub(1);
        let Some(slot) = self.tcp.slot_at(index) else {
            return Ok(None);
        };
        slot.owner = Owner::App;
        slot.queued = false;
        let state = slot.conn.state();
        let readable = slot.conn.readable() > 0 || slot.conn.at_eof();
        let id = self.tcp.id_of(index);
        if let Some(socket) = id {
            // What happened before the accept is told now.
            if readable {
                self.push_event(Event::TcpReadable { socket });
            }
            if state == State::Closed {
                self.push_event(Event::TcpClosed { socket });
            }
        }
        Ok(id)
    }

    /// Opens a connection to `remote` from `local` (address 0.0.0.0: the route's source;
    /// port 0: an RFC 6056 ephemeral port) with the stack's TCP settings.
    pub fn tcp_connect(
        &mut self,
        now: Instant,
        remote: (Ipv4Addr, u16),
        local: (Ipv4Addr, u16),
    ) -> Result<TcpSocketId, TcpError> {
        let config = self.tcp.config;
        self.tcp_connect_with(now, remote, local, config)
    }

    /// [`Stack::tcp_connect`] with settings for this connection (SYN option profile, no-delay,
    /// keepalive, user timeout, buffers).
    pub fn tcp_connect_with(
        &mut self,
        now: Instant,
        remote: (Ipv4Addr, u16),
        local: (Ipv4Addr, u16),
        config: TcpConfig,
    ) -> Result<TcpSocketId, TcpError> {
        // MUST-46: one host, never a group.
        if remote.0.is_broadcast() || remote.0.is_multicast() || remote.0.is_unspecified() {
            return Err(TcpError::InvalidDestination(remote.0));
        }
        let Some((iface, _, src)) = self.route(remote.0) else {
            self.counters.ipv4.tx_no_route += 1;
            return Err(TcpError::NoRoute(remote.0));
        };
        if self.routes.is_broadcast(iface, remote.0) {
            return Err(TcpError::InvalidDestination(remote.0));
        }
        let src = if local.0.is_unspecified() {
            src
        } else if self.routes.is_local(local.0).is_some() {
            local.0
        } else {
            return Err(TcpError::AddrNotAvailable(local.0));
        };
        let port = match local.1 {
            0 => self
                .tcp
                .ephemeral_port(src, remote)
                .ok_or(TcpError::NoFreePort(remote.0))?,
            p => p,
        };
        let tuple = (src, port, remote.0, remote.1);
        if self.tcp.lookup(tuple).is_some() {
            return Err(TcpError::AddrInUse { addr: src, port });
        }
        let mtu = self.ifaces.get(usize::from(iface.0)).map_or(576, |i| i.mtu);
        let iss = self.tcp.isn(now, tuple);
        let conn = Conn::connect(config, mtu.saturating_sub(40), iss, now);
        let limit = self.tcp.max_connections;
        let index = self
            .tcp
            .insert(conn, tuple, Owner::App)
            .ok_or(TcpError::TooManyConnections(limit))?;
        self.tcp.counters.connects += 1;
        self.tcp_touch(now, index);
        self.tcp.id_of(index).ok_or(TcpError::NoSuchSocket)
    }

    fn conn_mut(&mut self, id: TcpSocketId) -> Result<&mut Conn, TcpError> {
        self.tcp
            .slot_mut(id)
            .filter(|s| s.owner == Owner::App)
            .map(|s| &mut s.conn)
            .ok_or(TcpError::NoSuchSocket)
    }

    /// Queues `data`; returns how much fit in the send buffer (0 when full: wait for
    /// `TcpWritable`).
    pub fn tcp_send(
        &mut self,
        now: Instant,
        id: TcpSocketId,
        data: &[u8],
    ) -> Result<usize, TcpError> {
        let n = self.conn_mut(id)?.send(data).map_err(TcpError::Send)?;
        if n > 0 {
            self.tcp_touch(now, id.index);
        }
        Ok(n)
    }

    /// Queues urgent data (RFC 9293 §3.8.5, MUST-30): like [`Stack::tcp_send`], and the urgent
    /// pointer marks its end.
    pub fn tcp_send_urgent(
        &mut self,
        now: Instant,
        id: TcpSocketId,
        data: &[u8],
    ) -> Result<usize, TcpError> {
        let n = self
            .conn_mut(id)?
            .send_urgent(data)
            .map_err(TcpError::Send)?;
        if n > 0 {
            self.tcp_touch(now, id.index);
        }
        Ok(n)
    }

    /// Reads into `buf`: `Ok(0)` when nothing is there yet (wait for `TcpReadable`), the end
    /// of the stream as `Err(TcpError::Recv(RecvError::Finished))`.
    pub fn tcp_recv(
        &mut self,
        now: Instant,
        id: TcpSocketId,
        buf: &mut [u8],
    ) -> Result<usize, TcpError> {
        let n = self.conn_mut(id)?.recv(buf).map_err(TcpError::Recv)?;
        if n > 0 {
            // A window update may be due.
            self.tcp_touch(now, id.index);
        }
        Ok(n)
    }

    /// [`Stack::tcp_recv`] without a copy: `f` is lent the received bytes that lie
    /// contiguous in the connection's receive buffer (never empty; the rest, if the buffer
    /// wraps, comes at the next call) and returns how many it consumed. Not called when
    /// nothing is readable: the result is then `Ok(0)` or the end of the stream or failure,
    /// as for `tcp_recv`.
    pub fn tcp_recv_with(
        &mut self,
        now: Instant,
        id: TcpSocketId,
        f: impl FnOnce(&[u8]) -> usize,
    ) -> Result<usize, TcpError> {
        let n = self.conn_mut(id)?.recv_with(f).map_err(TcpError::Recv)?;
        if n > 0 {
            // A window update may be due.
            self.tcp_touch(now, id.index);
        }
        Ok(n)
    }

    /// Ends our direction (FIN after the queued data); receiving goes on.
    pub fn tcp_shutdown(&mut self, now: Instant, id: TcpSocketId) -> Result<(), TcpError> {
        self.conn_mut(id)?.shutdown();
        self.tcp_touch(now, id.index);
        Ok(())
    }

    /// Closes the connection and gives up the handle: a graceful FIN, continued by the stack
    /// (the handle is invalid afterwards). Unread data makes it an abort (RST).
    pub fn tcp_close(&mut self, now: Instant, id: TcpSocketId) -> Result<(), TcpError> {
        self.conn_mut(id)?.close();
        if let Some(s) = self.tcp.slot_mut(id) {
            s.owner = Owner::Released;
        }
        self.tcp_touch(now, id.index);
        Ok(())
    }

    /// Aborts (RST when synchronized) and gives up the handle.
    pub fn tcp_abort(&mut self, now: Instant, id: TcpSocketId) -> Result<(), TcpError> {
        self.conn_mut(id)?.abort();
        if let Some(s) = self.tcp.slot_mut(id) {
            s.owner = Owner::Released;
        }
        self.tcp_touch(now, id.index);
        Ok(())
    }

    /// Changes a connection's settings (no-delay, keepalive, user timeout) from now on.
    pub fn tcp_configure(
        &mut self,
        now: Instant,
        id: TcpSocketId,
        f: impl FnOnce(&mut TcpConfig),
    ) -> Result<(), TcpError> {
        self.conn_mut(id)?.configure(now, f);
        self.tcp_touch(now, id.index);
        Ok(())
    }

    /// Introspection: state, sequence variables, congestion state, RTO, counters.
    pub fn tcp_info(&self, id: TcpSocketId) -> Option<TcpInfo> {
        let s = self.tcp.slot(id)?;
        let (l, lp, r, rp) = s.tuple;
        Some(TcpInfo {
            state: s.conn.state(),
            local: (l, lp),
            remote: (r, rp),
            send: s.conn.send_vars(),
            recv: s.conn.recv_vars(),
            stats: s.conn.stats(),
            readable: s.conn.readable(),
            writable: s.conn.writable(),
            unacked: s.conn.unacked(),
            buffer_bytes: s.conn.buffer_bytes(),
        })
    }

    /// A listener's address and port.
    pub fn tcp_listener_local(&self, id: TcpListenerId) -> Option<(Ipv4Addr, u16)> {
        self.tcp
            .listeners
            .get(id.0 as usize)
            .and_then(|s| s.as_ref())
            .map(|l| l.local)
    }

    /// Gives back the memory of every connection's send and receive rings that hold nothing
    /// (all sent bytes acknowledged, all received bytes read); returns the bytes given back.
    /// A connection's rings otherwise keep what they grew to while it lives (up to
    /// `send_buffer` + `recv_buffer` each, 128 KiB by default): call this now and then on a
    /// stack with many mostly idle connections. They grow again with the next data. One pass
    /// over the live connections; nothing a connection does changes.
    pub fn tcp_release_buffers(&mut self) -> usize {
        self.tcp
            .slots
            .iter_mut()
            .flatten()
            .map(|s| s.conn.release_empty_buffers())
            .sum()
    }

    /// Live TCP connections (every state).
    pub fn tcp_connections(&self) -> usize {
        self.tcp.live
    }

    /// The per-connection counts ([`ConnStats`]: retransmission timeouts, fast retransmits,
    /// retransmitted segments, duplicate ACKs, window probes …) summed over every connection
    /// this stack has had, live or freed. Costs one pass over the live connections.
    pub fn tcp_stats_total(&self) -> ConnStats {
        let mut total = self.tcp.closed_stats;
        for s in self.tcp.slots.iter().flatten() {
            total.accumulate(&s.conn.stats());
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IfaceId;
    use crate::config::{InterfaceConfig, StackConfig};
    use crate::link::RxMeta;
    use crate::time::Duration;
    use weft_wire::MacAddr;

    fn stack(n: u8) -> Stack {
        let mut c = StackConfig::new(u64::from(n));
        c.add_interface(InterfaceConfig::ethernet(
            MacAddr([2, 0, 0, 0, 0, n]),
            Ipv4Addr::new(10, 0, 0, n),
            24,
        ));
        Stack::new(c, Instant::ZERO).expect("a valid configuration")
    }

    /// Frames from `from` to `to` until `from` runs dry; then no timer of `from` may be late.
    fn pump(from: &mut Stack, to: &mut Stack, now: Instant) -> usize {
        let mut buf = [0u8; 1514];
        let mut n = 0;
        while let Some(t) = from.poll_transmit(now, &mut buf) {
            to.handle_frame(now, t.iface, &buf[..t.len], RxMeta::default());
            n += 1;
        }
        assert_eq!(from.late_timer(), None, "at {now}");
        n
    }

    #[test]
    fn tcp_deadlines_are_set_by_the_flush_and_never_late() {
        // A connection's deadline is set when `poll_transmit` flushes it, not when a segment
        // arrives: once `poll_transmit` has run dry every connection's earliest timer (RTO,
        // delayed ACK, ...) is in the deadline set, on both sides of a transfer.
        let (mut a, mut b) = (stack(1), stack(2));
        let mut now = Instant::ZERO;
        let (l, c) = listen_and_connect(&mut a, &mut b, now);
        let data = [7u8; 5000];
        let (mut sent, mut got, mut server) = (0, 0, None);
        for _ in 0..200 {
            if sent < 50_000 {
                sent += a.tcp_send(now, c, &data).unwrap_or(0);
            }
            pump(&mut a, &mut b, now);
            server = server.or_else(|| b.tcp_accept(l).unwrap());
            if let Some(s) = server {
                let mut buf = [0u8; 3000];
                got += b.tcp_recv(now, s, &mut buf).unwrap_or(0);
            }
            pump(&mut b, &mut a, now);
            now = now + Duration::from_millis(5);
            for s in [&mut a, &mut b] {
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
            }
        }
        assert_eq!(got, sent, "the transfer finished");
        assert!(sent >= 50_000);
        // Planted: with data outstanding the sender's RTO runs; dropping the connection's
        // entry from the deadline set is a late timer, and the check sees it.
        a.tcp_send(now, c, &data).unwrap();
        pump(&mut a, &mut b, now);
        let index = c.index;
        assert!(a.deadlines.get(TimerOwner::Tcp(index)).is_some());
        a.deadlines.set(TimerOwner::Tcp(index), None);
        assert!(
            matches!(a.late_timer(), Some((TimerOwner::Tcp(i), None, _)) if i == index),
            "{:?}",
            a.late_timer()
        );
    }

    /// A connection from `a` (10.0.0.1) to a listener on `b` (10.0.0.2) with some data
    /// moved, so `a` has cached its path; returns the socket and the time.
    /// `b` (10.0.0.2) listens on port 80 and `a` connects to it (the SYN not yet sent).
    fn listen_and_connect(
        a: &mut Stack,
        b: &mut Stack,
        now: Instant,
    ) -> (TcpListenerId, TcpSocketId) {
        let l = b.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
        let c = a
            .tcp_connect(
                now,
                (Ipv4Addr::new(10, 0, 0, 2), 80),
                (Ipv4Addr::UNSPECIFIED, 0),
            )
            .unwrap();
        (l, c)
    }

    fn connected_pair(a: &mut Stack, b: &mut Stack) -> (TcpSocketId, Instant) {
        let now = Instant::ZERO;
        let (l, c) = listen_and_connect(a, b, now);
        for _ in 0..4 {
            pump(a, b, now);
            pump(b, a, now);
        }
        assert!(b.tcp_accept(l).unwrap().is_some());
        assert_eq!(a.tcp_send(now, c, &[1u8; 3000]).unwrap(), 3000);
        assert!(pump(a, b, now) > 0);
        pump(b, a, now);
        assert!(
            a.tcp.slot_at(c.index).unwrap().path.is_some(),
            "path cached"
        );
        (c, now)
    }

    /// The frames `from` sends now, in order.
    fn frames_out(from: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 1514];
        let mut out = Vec::new();
        while let Some(t) = from.poll_transmit(now, &mut buf) {
            out.push(buf[..t.len].to_vec());
        }
        out
    }

    fn is_tcp(frame: &[u8]) -> bool {
        frame[12..14] == [0x08, 0x00] && frame[23] == 6
    }

    /// An idle connection's rings keep what they grew to until `tcp_release_buffers` gives
    /// the empty ones back; a ring still holding data keeps it; data flows as before after.
    #[test]
    fn tcp_release_buffers_gives_back_only_empty_rings() {
        let (mut a, mut b) = (stack(1), stack(2));
        let mut now = Instant::ZERO;
        let (l, c) = listen_and_connect(&mut a, &mut b, now);
        for _ in 0..4 {
            pump(&mut a, &mut b, now);
            pump(&mut b, &mut a, now);
        }
        let s = b.tcp_accept(l).unwrap().unwrap();
        // Moves `n` bytes of `fill` from a to b (time going on, so delayed ACKs come) and
        // reads them there; true when b read exactly those and a has them acknowledged.
        let mut transfer = |a: &mut Stack, b: &mut Stack, fill: u8, n: usize| {
            let data = vec![fill; n];
            let (mut sent, mut got) = (0, Vec::new());
            for _ in 0..200 {
                sent += a.tcp_send(now, c, &data[sent..]).unwrap();
                pump(a, b, now);
                let mut buf = [0u8; 4096];
                let k = b.tcp_recv(now, s, &mut buf).unwrap();
                got.extend_from_slice(&buf[..k]);
                pump(b, a, now);
                if got.len() == n && a.tcp_info(c).unwrap().unacked == 0 {
                    break;
                }
                now = now + Duration::from_millis(10);
                for st in [&mut *a, &mut *b] {
                    if st.poll_timeout().is_some_and(|t| t <= now) {
                        st.handle_timeout(now);
                    }
                }
            }
            got == data && a.tcp_info(c).unwrap().unacked == 0
        };
        assert!(transfer(&mut a, &mut b, 1, 20_000), "the first transfer");
        let (held_a, held_b) = (
            a.tcp_info(c).unwrap().buffer_bytes,
            b.tcp_info(s).unwrap().buffer_bytes,
        );
        assert!(held_a >= 4096 && held_b >= 4096, "{held_a} {held_b}");
        assert_eq!(a.tcp_release_buffers(), held_a);
        assert_eq!(b.tcp_release_buffers(), held_b);
        assert_eq!(a.tcp_info(c).unwrap().buffer_bytes, 0);
        assert_eq!(b.tcp_info(s).unwrap().buffer_bytes, 0);
        assert_eq!(a.tcp_release_buffers(), 0);
        // The rings grow again, and the stream goes on where it was.
        assert!(
            transfer(&mut a, &mut b, 2, 10_000),
            "the transfer after the release"
        );
        // Data not yet acknowledged keeps the send ring; unread data the receive ring.
        assert_eq!(a.tcp_send(now, c, &[3; 3000]).unwrap(), 3000);
        let before = a.tcp_info(c).unwrap().buffer_bytes;
        assert!(before >= 3000);
        assert_eq!(a.tcp_release_buffers(), 0);
        assert_eq!(a.tcp_info(c).unwrap().buffer_bytes, before);
        for _ in 0..3 {
            pump(&mut a, &mut b, now);
            pump(&mut b, &mut a, now);
        }
        let unread = b.tcp_info(s).unwrap().buffer_bytes;
        assert!(unread >= 3000 && b.tcp_info(s).unwrap().readable == 3000);
        assert_eq!(b.tcp_release_buffers(), 0);
        assert_eq!(b.tcp_info(s).unwrap().buffer_bytes, unread);
        let mut buf = [0u8; 4096];
        assert_eq!(b.tcp_recv(now, s, &mut buf).unwrap(), 3000);
        assert!(buf[..3000].iter().all(|&x| x == 3));
    }

    #[test]
    fn cached_path_follows_an_arp_change() {
        // The peer's MAC changes (an ARP reply from its address with another MAC, RFC 826's
        // merge): the next segment goes to the new MAC, not to the one the path cached.
        let (mut a, mut b) = (stack(1), stack(2));
        let (c, now) = connected_pair(&mut a, &mut b);
        let new_mac = MacAddr([2, 0, 0, 0, 0, 0x99]);
        let reply = weft_wire::ArpRepr {
            operation: weft_wire::ArpOperation::REPLY,
            sender_mac: new_mac,
            sender_ip: Ipv4Addr::new(10, 0, 0, 2),
            target_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            target_ip: Ipv4Addr::new(10, 0, 0, 1),
        };
        let mut frame = vec![0u8; 42];
        frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        frame[6..12].copy_from_slice(&new_mac.0);
        frame[12..14].copy_from_slice(&[0x08, 0x06]);
        reply.emit(&mut frame[14..]).unwrap();
        a.handle_frame(now, IfaceId(0), &frame, RxMeta::default());
        assert_eq!(
            a.arp_lookup(now, IfaceId(0), Ipv4Addr::new(10, 0, 0, 2)),
            Some(new_mac)
        );
        assert_eq!(a.tcp_send(now, c, &[2u8; 3000]).unwrap(), 3000);
        let sent: Vec<_> = frames_out(&mut a, now)
            .into_iter()
            .filter(|f| is_tcp(f))
            .collect();
        assert!(!sent.is_empty());
        for f in &sent {
            assert_eq!(
                f[..6],
                new_mac.0,
                "segment to the MAC the ARP cache now holds"
            );
        }
    }

    #[test]
    fn cached_path_ends_with_its_arp_entry() {
        // Past the ARP entry's lifetime (no ARP traffic renewed it, and no timer removed it
        // yet) the next segment waits for resolution: an ARP request goes out, not the
        // segment to the MAC the path cached.
        let (mut a, mut b) = (stack(1), stack(2));
        let (c, _) = connected_pair(&mut a, &mut b);
        let later = Instant::ZERO + Duration::from_secs(61);
        assert_eq!(
            a.arp_lookup(later, IfaceId(0), Ipv4Addr::new(10, 0, 0, 2)),
            None
        );
        assert_eq!(a.tcp_send(later, c, &[2u8; 3000]).unwrap(), 3000);
        let sent = frames_out(&mut a, later);
        assert!(
            sent.iter().all(|f| !is_tcp(f)),
            "no segment without a live ARP entry"
        );
        assert!(
            sent.iter()
                .any(|f| f[..6] == [0xff; 6] && f[12..14] == [0x08, 0x06]),
            "an ARP request instead"
        );
    }

    #[test]
    fn cached_path_follows_a_route_change() {
        // The interface loses its address: no route to the peer any more, so the next
        // segment is counted (`tx_no_route`) instead of sent along the cached path.
        let (mut a, mut b) = (stack(1), stack(2));
        let (c, now) = connected_pair(&mut a, &mut b);
        let before = a.counters().ipv4.tx_no_route;
        a.routes.set_iface_addr(IfaceId(0), None).unwrap();
        assert_eq!(a.tcp_send(now, c, &[2u8; 3000]).unwrap(), 3000);
        let sent = frames_out(&mut a, now);
        assert!(
            sent.iter().all(|f| !is_tcp(f)),
            "no segment without a route"
        );
        assert!(a.counters().ipv4.tx_no_route > before);
    }

    /// One seeded run of a two-way transfer over a lossy, duplicating, reordering link,
    /// with header prediction on or off on both stacks: every frame either stack sent, in
    /// order, both connections' final state, and how many segments were predicted.
    fn prediction_run(seed: u64, predict: bool) -> (Vec<Vec<u8>>, [TcpInfo; 2], u64) {
        use rand_chacha::ChaCha20Rng;
        use rand_core::{RngCore, SeedableRng};
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (mut a, mut b) = (stack(1), stack(2));
        a.tcp_header_prediction = predict;
        b.tcp_header_prediction = predict;
        let mut now = Instant::ZERO;
        let (l, ca) = listen_and_connect(&mut a, &mut b, now);
        let mut cb = None;
        let mut log = Vec::new();
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut buf = vec![0u8; 20_000];
        // Keepalive on both ends, so the idle spells below send probes (whose timing
        // depends on when each side last heard from the other).
        let keepalive = |c: &mut TcpConfig| c.keepalive = Some(Duration::from_millis(300));
        a.tcp_configure(now, ca, keepalive).unwrap();
        for turn in 0..3000 {
            // Each side writes and reads a random amount (sometimes nothing: the windows
            // fill and close), but for a silent spell every 500 turns; at the end both
            // close their direction (the FINs lost, duplicated or reordered too).
            let quiet = turn % 500 >= 450;
            let n = if quiet {
                0
            } else {
                (rng.next_u32() % 6000) as usize
            };
            let _ = a.tcp_send(now, ca, &data[..n]);
            if turn == 2900 {
                a.tcp_shutdown(now, ca).unwrap();
            }
            if cb.is_none() {
                cb = b.tcp_accept(l).unwrap();
                if let Some(cb) = cb {
                    b.tcp_configure(now, cb, keepalive).unwrap();
                }
            }
            if let Some(cb) = cb {
                if turn == 2800 {
                    b.tcp_shutdown(now, cb).unwrap();
                }
                if !quiet && rng.next_u32() % 4 == 0 {
                    let n = (rng.next_u32() % 3000) as usize;
                    let _ = b.tcp_send(now, cb, &data[..n]);
                }
                if rng.next_u32() % 3 != 0 {
                    let n = (rng.next_u32() % 20_000) as usize;
                    let _ = b.tcp_recv(now, cb, &mut buf[..n]);
                }
            }
            let n = (rng.next_u32() % 20_000) as usize;
            let _ = a.tcp_recv(now, ca, &mut buf[..n]);
            // Frames each way: lost, duplicated or swapped with the next now and then.
            for dir in 0..2 {
                let (from, to) = if dir == 0 {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                let mut frames = frames_out(from, now);
                log.extend(frames.iter().cloned());
                let mut i = 0;
                while i < frames.len() {
                    match rng.next_u32() % 40 {
                        0 => {
                            frames.remove(i);
                            continue;
                        }
                        1 => frames.insert(i, frames[i].clone()),
                        2 if i + 1 < frames.len() => frames.swap(i, i + 1),
                        _ => {}
                    }
                    i += 1;
                }
                for f in &frames {
                    to.handle_frame(now, IfaceId(0), f, RxMeta::default());
                }
            }
            while a.poll_event().is_some() {}
            while b.poll_event().is_some() {}
            now = now + Duration::from_micros(u64::from(rng.next_u32() % 30_000));
            for s in [&mut a, &mut b] {
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
            }
        }
        let infos = [a.tcp_info(ca).unwrap(), b.tcp_info(cb.unwrap()).unwrap()];
        (
            log,
            infos,
            a.tcp.counters.rx_predicted + b.tcp.counters.rx_predicted,
        )
    }

    #[test]
    fn header_prediction_changes_nothing() {
        // Seeded: the same two-way transfer with loss, duplicates and reordering, header
        // prediction on and off, sends exactly the same frames and ends in the same state.
        for seed in 0..6u64 {
            println!("seed {seed}");
            let (on, on_info, predicted) = prediction_run(seed, true);
            let (off, off_info, none) = prediction_run(seed, false);
            println!("{predicted} segments predicted, {} frames", on.len());
            assert_eq!(none, 0);
            assert!(
                predicted > 1000,
                "seed {seed}: only {predicted} segments predicted"
            );
            assert!(on_info[0].stats.segs_out > 3000 && on_info[1].stats.ooo_segments > 0);
            assert!(on_info[0].stats.keepalives > 0 && on_info[1].stats.keepalives > 0);
            // `b` closed first (TIME-WAIT), `a` after it (LAST-ACK, then CLOSED).
            assert_eq!(
                (on_info[0].state, on_info[1].state),
                (State::Closed, State::TimeWait),
                "seed {seed}: both ends closed"
            );
            assert_eq!(on.len(), off.len(), "seed {seed}: frame counts differ");
            for (i, (x, y)) in on.iter().zip(&off).enumerate() {
                assert_eq!(x, y, "seed {seed}: frame {i} differs");
            }
            assert_eq!(on_info, off_info, "seed {seed}");
        }
    }

    /// A scripted run with header prediction on or off: after an idle spell `b`'s keepalive
    /// probe goes unanswered (`a`'s answer is lost) when `a`'s data arrives; then `a`'s FIN
    /// arrives before the data in front of it. Every frame both sent, `b`'s final state, and
    /// how many segments were predicted.
    fn scripted_run(predict: bool) -> (Vec<Vec<u8>>, State, u64) {
        let (mut a, mut b) = (stack(1), stack(2));
        a.tcp_header_prediction = predict;
        b.tcp_header_prediction = predict;
        let (c, mut now) = connected_pair(&mut a, &mut b);
        let keepalive = |c: &mut TcpConfig| c.keepalive = Some(Duration::from_millis(300));
        let mut log = Vec::new();
        let step = |a: &mut Stack, b: &mut Stack, now: Instant, log: &mut Vec<Vec<u8>>| {
            for s in [&mut *a, &mut *b] {
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
            }
            let fa = frames_out(a, now);
            let fb = frames_out(b, now);
            log.extend(fa.iter().cloned());
            log.extend(fb.iter().cloned());
            (fa, fb)
        };
        // `b`'s end of the connection (the only one it has).
        let cb = b.tcp.id_of(0).unwrap();
        b.tcp_configure(now, cb, keepalive).unwrap();
        let mut buf = [0u8; 10_000];
        let _ = b.tcp_recv(now, cb, &mut buf);
        // Idle until `b` probes; `a` answers, and the answer is lost.
        let mut probed = false;
        for _ in 0..40 {
            now = now + Duration::from_millis(50);
            let (fa, fb) = step(&mut a, &mut b, now, &mut log);
            for f in &fa {
                b.handle_frame(now, IfaceId(0), f, RxMeta::default());
            }
            for f in &fb {
                a.handle_frame(now, IfaceId(0), f, RxMeta::default());
            }
            probed = b.tcp_info(cb).unwrap().stats.keepalives > 0;
            if probed {
                let lost = frames_out(&mut a, now);
                log.extend(lost);
                break;
            }
        }
        assert!(probed);
        // `a`'s data arrives while `b`'s probe is unanswered; then a quiet spell (when `b`
        // probes next depends on whether that data reset its probes).
        a.tcp_send(now, c, &[5u8; 2000]).unwrap();
        let (fa, _) = step(&mut a, &mut b, now, &mut log);
        for f in &fa {
            b.handle_frame(now, IfaceId(0), f, RxMeta::default());
        }
        let _ = b.tcp_recv(now, cb, &mut buf);
        for _ in 0..30 {
            now = now + Duration::from_millis(50);
            let (fa, fb) = step(&mut a, &mut b, now, &mut log);
            for f in &fa {
                b.handle_frame(now, IfaceId(0), f, RxMeta::default());
            }
            for f in &fb {
                a.handle_frame(now, IfaceId(0), f, RxMeta::default());
            }
        }
        assert_eq!(a.tcp_info(c).unwrap().unacked, 0);
        // Data, then a FIN alone; the FIN arrives first.
        now = now + Duration::from_millis(10);
        a.tcp_send(now, c, &[6u8; 500]).unwrap();
        let (data, _) = step(&mut a, &mut b, now, &mut log);
        a.tcp_shutdown(now, c).unwrap();
        let (fin, _) = step(&mut a, &mut b, now, &mut log);
        assert!(data.len() == 1 && fin.len() == 1, "data, then a FIN alone");
        for f in fin.iter().chain(&data) {
            b.handle_frame(now, IfaceId(0), f, RxMeta::default());
        }
        // Then everything is delivered for a while.
        for _ in 0..100 {
            now = now + Duration::from_millis(50);
            let (fa, fb) = step(&mut a, &mut b, now, &mut log);
            for f in &fa {
                b.handle_frame(now, IfaceId(0), f, RxMeta::default());
            }
            for f in &fb {
                a.handle_frame(now, IfaceId(0), f, RxMeta::default());
            }
        }
        let state = b.tcp_info(cb).unwrap().state;
        (
            log,
            state,
            a.tcp.counters.rx_predicted + b.tcp.counters.rx_predicted,
        )
    }

    #[test]
    fn header_prediction_leaves_probes_and_early_fins_to_the_general_rules() {
        // A data segment that answers an outstanding keepalive probe, and one that fills the
        // gap before a FIN already received, take the general rules (which reset the probes
        // and take the FIN): the same frames and the same end state with prediction on or
        // off.
        let (on, on_state, predicted) = scripted_run(true);
        let (off, off_state, _) = scripted_run(false);
        assert!(predicted > 0);
        assert_eq!(on_state, State::CloseWait, "the FIN was taken");
        assert_eq!(on_state, off_state);
        assert_eq!(on.len(), off.len());
        for (i, (x, y)) in on.iter().zip(&off).enumerate() {
            assert_eq!(x, y, "frame {i} differs");
        }
    }
}
