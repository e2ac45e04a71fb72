//! RFC 9293's MUST requirements checked through the whole stack: a `Stack` fed crafted
//! Ethernet/IPv4/TCP frames by a scripted peer (`Wire`), its output read back from
//! `poll_transmit` and decoded, and a few scenarios between two stacks on the testkit. Each
//! test names the MUST label(s) it checks; `docs/conformance/rfc9293.md` maps every label to
//! its tests, and `cargo xtask conformance` keeps the two in step.

#![cfg(feature = "testkit")]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use weft_core::tcp::{ConnError, RecvError, State, TcpConfig, TcpSocketId};
use weft_core::testkit::TestNet;
use weft_core::time::{Duration, Instant};
use weft_core::{
    Event, IfaceId, InterfaceConfig, Ipv4Config, RxMeta, Stack, StackConfig, TcpError,
};
#[cfg(feature = "icmp")]
use weft_wire::Icmpv4Repr;
use weft_wire::checksum::{Checksum, checksum};
#[cfg(feature = "icmp")]
use weft_wire::icmpv4::{DstUnreachableCode, Icmpv4Type, ParamProblemCode, TimeExceededCode};
use weft_wire::tcp::TcpOptionList;
use weft_wire::{
    ArpPacket, ArpRepr, EtherType, EthernetFrame, IpProtocol, Ipv4Addr, Ipv4Packet, MacAddr,
    TcpFlags, TcpOption, TcpPacket, TcpRepr,
};

// ---------------------------------------------------------------------------------------------
// The host under test and its scripted peer.

const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const US_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
/// A second network for the multihoming tests.
const US2: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const US2_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
const PEER2: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const PEER2_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 2]);
/// The peer's port and initial sequence number.
const PPORT: u16 = 40_000;
const PISS: u32 = 7_000_000;
const T0: Instant = Instant::from_secs(1);

fn base_config() -> StackConfig {
    let mut c = StackConfig::new(11);
    c.add_interface(InterfaceConfig::ethernet(US_MAC, US, 24));
    c
}

fn two_homed_config() -> StackConfig {
    let mut c = base_config();
    c.add_interface(InterfaceConfig::ethernet(US2_MAC, US2, 24));
    c
}

fn with_tcp(f: impl FnOnce(&mut TcpConfig)) -> StackConfig {
    let mut c = base_config();
    f(&mut c.tcp);
    c
}

/// TCP option encodings.
fn opt_mss(v: u16) -> Vec<u8> {
    let [h, l] = v.to_be_bytes();
    vec![2, 4, h, l]
}
const NOP: u8 = 1;
const EOL: u8 = 0;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 253) as u8).collect()
}

/// An IPv4 datagram, header built by hand (options padded with zeros).
fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let hl = 20 + options.len().next_multiple_of(4);
    let total = hl + payload.len();
    let mut d = vec![0u8; total];
    d[0] = 0x40 | (hl / 4) as u8;
    d[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    d[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    d[8] = ttl;
    d[9] = proto;
    d[12..16].copy_from_slice(&src.octets());
    d[16..20].copy_from_slice(&dst.octets());
    d[20..20 + options.len()].copy_from_slice(options);
    let c = checksum(&d[..hl]);
    d[10..12].copy_from_slice(&c.to_be_bytes());
    d[hl..].copy_from_slice(payload);
    assert!(
        Ipv4Packet::new_checked(&d[..]).is_ok(),
        "a well-formed datagram"
    );
    d
}

fn ethernet(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The Ethernet address a datagram to `dst`, sent over interface `iface`, goes to: our MAC
/// on that interface for our addresses (either of them: the weak host model), the mapped
/// group address for multicast, broadcast otherwise.
fn mac_for(dst: Ipv4Addr, iface: IfaceId) -> MacAddr {
    if dst == US || dst == US2 {
        if iface == IfaceId(1) { US2_MAC } else { US_MAC }
    } else if dst.is_multicast() {
        let o = dst.octets();
        MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    } else {
        MacAddr::BROADCAST
    }
}

/// A segment the peer sends, built byte by byte so that anything (bad checksums, illegal
/// options, odd addresses) can be expressed.
#[derive(Debug, Clone)]
struct Seg {
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: Option<u32>,
    flags: TcpFlags,
    window: u16,
    urgent: u16,
    options: Vec<u8>,
    payload: Vec<u8>,
    ttl: u8,
    ip_options: Vec<u8>,
    corrupt: bool,
    iface: IfaceId,
    src_mac: MacAddr,
}

impl Seg {
    fn new(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16)) -> Seg {
        Seg {
            src,
            dst,
            seq: 0,
            ack: None,
            flags: TcpFlags::EMPTY,
            window: 65_535,
            urgent: 0,
            options: Vec::new(),
            payload: Vec::new(),
            ttl: 64,
            ip_options: Vec::new(),
            corrupt: false,
            iface: IfaceId(0),
            src_mac: PEER_MAC,
        }
    }
    fn seq(mut self, v: u32) -> Seg {
        self.seq = v;
        self
    }
    fn ack(mut self, v: u32) -> Seg {
        self.ack = Some(v);
        self
    }
    fn no_ack(mut self) -> Seg {
        self.ack = None;
        self
    }
    fn flags(mut self, f: TcpFlags) -> Seg {
        self.flags |= f;
        self
    }
    fn window(mut self, w: u16) -> Seg {
        self.window = w;
        self
    }
    fn urgent(mut self, up: u16) -> Seg {
        self.urgent = up;
        self.flags |= TcpFlags::URG;
        self
    }
    fn opts(mut self, o: &[u8]) -> Seg {
        self.options = o.to_vec();
        self
    }
    fn data(mut self, d: &[u8]) -> Seg {
        self.payload = d.to_vec();
        self
    }
    fn corrupt(mut self) -> Seg {
        self.corrupt = true;
        self
    }
    fn ip_opts(mut self, o: &[u8]) -> Seg {
        self.ip_options = o.to_vec();
        self
    }

    /// The TCP segment's bytes, checksum filled (then spoiled if asked).
    fn tcp_bytes(&self) -> Vec<u8> {
        let hl = 20 + self.options.len().next_multiple_of(4);
        let mut b = vec![0u8; hl + self.payload.len()];
        b[0..2].copy_from_slice(&self.src.1.to_be_bytes());
        b[2..4].copy_from_slice(&self.dst.1.to_be_bytes());
        b[4..8].copy_from_slice(&self.seq.to_be_bytes());
        b[8..12].copy_from_slice(&self.ack.unwrap_or(0).to_be_bytes());
        let mut flags = self.flags;
        if self.ack.is_some() {
            flags |= TcpFlags::ACK;
        }
        let word = ((hl as u16 / 4) << 12) | flags.bits();
        b[12..14].copy_from_slice(&word.to_be_bytes());
        b[14..16].copy_from_slice(&self.window.to_be_bytes());
        b[18..20].copy_from_slice(&self.urgent.to_be_bytes());
        b[20..20 + self.options.len()].copy_from_slice(&self.options);
        b[hl..].copy_from_slice(&self.payload);
        let mut c = Checksum::new();
        c.add_pseudo_header(self.src.0, self.dst.0, 6, b.len() as u16)
            .add_bytes(&b);
        let mut sum = c.finish();
        if self.corrupt {
            sum ^= 0x5a5a;
        }
        b[16..18].copy_from_slice(&sum.to_be_bytes());
        b
    }

    fn frame(&self) -> Vec<u8> {
        let ip = ipv4(
            self.src.0,
            self.dst.0,
            6,
            self.ttl,
            &self.ip_options,
            &self.tcp_bytes(),
        );
        ethernet(mac_for(self.dst.0, self.iface), self.src_mac, 0x0800, &ip)
    }
}

/// A TCP segment the stack sent, decoded.
#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    iface: IfaceId,
    eth_dst: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    /// The IPv4 datagram as sent (for quoting in ICMP errors).
    ip: Vec<u8>,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    /// The option area, padding included.
    options: Vec<u8>,
    payload: Vec<u8>,
    checksum_ok: bool,
}

impl Sent {
    fn syn(&self) -> bool {
        self.flags.syn()
    }
    fn rst(&self) -> bool {
        self.flags.rst()
    }
    fn fin(&self) -> bool {
        self.flags.fin()
    }
    /// The sequence number after this segment (data, SYN and FIN).
    fn end(&self) -> u32 {
        self.seq
            .wrapping_add(self.payload.len() as u32)
            .wrapping_add(u32::from(self.syn()) + u32::from(self.fin()))
    }
    /// The options in the option area, as (kind, whole option bytes), checking each option's
    /// length on the way (MUST-68).
    fn option_list(&self) -> Vec<(u8, Vec<u8>)> {
        let o = &self.options;
        let mut v = Vec::new();
        let mut i = 0;
        while i < o.len() {
            match o[i] {
                EOL => {
                    v.push((EOL, vec![EOL]));
                    break;
                }
                NOP => {
                    v.push((NOP, vec![NOP]));
                    i += 1;
                }
                k => {
                    let len = usize::from(*o.get(i + 1).expect("a length byte"));
                    assert!(len >= 2 && i + len <= o.len(), "option {k} length {len}");
                    v.push((k, o[i..i + len].to_vec()));
                    i += len;
                }
            }
        }
        v
    }
    fn mss(&self) -> Option<u16> {
        self.option_list()
            .iter()
            .find(|(k, _)| *k == 2)
            .map(|(_, b)| u16::from_be_bytes([b[2], b[3]]))
    }
}

fn decode(at: Instant, iface: IfaceId, frame: &[u8]) -> Option<Sent> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.protocol() != IpProtocol::TCP {
        return None;
    }
    assert!(
        !(ip.more_frags() || ip.frag_offset_units() != 0),
        "a TCP segment was fragmented ({} bytes)",
        ip.total_len()
    );
    let t = TcpPacket::new_checked(ip.payload()).expect("the stack sends well-formed TCP");
    Some(Sent {
        at,
        iface,
        eth_dst: eth.dst(),
        src: ip.src(),
        dst: ip.dst(),
        ttl: ip.ttl(),
        ip: eth.payload()[..usize::from(ip.total_len())].to_vec(),
        sport: t.src_port(),
        dport: t.dst_port(),
        seq: t.seq_number(),
        ack: t.ack_number(),
        flags: t.flags(),
        options: t.options_raw().to_vec(),
        payload: t.payload().to_vec(),
        checksum_ok: t.verify_checksum(ip.src(), ip.dst()),
    })
}

/// One stack and the frames it exchanged with a scripted peer.
struct Wire {
    stack: Stack,
    now: Instant,
    /// Every frame the stack sent.
    frames: Vec<(Instant, IfaceId, Vec<u8>)>,
    /// The TCP segments among them.
    sent: Vec<Sent>,
    events: Vec<(Instant, Event)>,
    /// The peers, which answer ARP requests for their addresses.
    peers: Vec<(IfaceId, Ipv4Addr, MacAddr)>,
}

impl Wire {
    fn new(cfg: StackConfig) -> Wire {
        Wire::with_peers(cfg, &[(IfaceId(0), PEER, PEER_MAC)])
    }

    /// A stack whose ARP caches already know `peers` (each asked for our address).
    fn with_peers(cfg: StackConfig, peers: &[(IfaceId, Ipv4Addr, MacAddr)]) -> Wire {
        let stack = Stack::new(cfg, T0).unwrap();
        let mut w = Wire {
            stack,
            now: T0,
            frames: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
            peers: peers.to_vec(),
        };
        for &(iface, ip, mac) in peers {
            let ours = w.stack.iface_addr(iface).unwrap().0;
            let mut arp = [0u8; 28];
            ArpRepr::request(mac, ip, ours).emit(&mut arp).unwrap();
            let f = ethernet(MacAddr::BROADCAST, mac, 0x0806, &arp);
            w.inject(iface, &f);
        }
        w.poll();
        w
    }

    /// A peer's answer to an ARP request for its address.
    fn arp_reply(&self, iface: IfaceId, frame: &[u8]) -> Option<Vec<u8>> {
        let e = EthernetFrame::new_checked(frame).ok()?;
        if e.ethertype() != EtherType::ARP {
            return None;
        }
        let req = ArpRepr::parse(&ArpPacket::new_checked(e.payload()).ok()?).ok()?;
        if req.operation != weft_wire::ArpOperation::REQUEST {
            return None;
        }
        let &(_, ip, mac) = self
            .peers
            .iter()
            .find(|(i, ip, _)| *i == iface && *ip == req.target_ip)?;
        let reply = ArpRepr {
            operation: weft_wire::ArpOperation::REPLY,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: req.sender_mac,
            target_ip: req.sender_ip,
        };
        let mut arp = [0u8; 28];
        reply.emit(&mut arp).ok()?;
        Some(ethernet(req.sender_mac, mac, 0x0806, &arp))
    }

    fn inject(&mut self, iface: IfaceId, frame: &[u8]) {
        self.stack
            .handle_frame(self.now, iface, frame, RxMeta::default());
    }

    fn send(&mut self, s: &Seg) {
        let f = s.frame();
        self.inject(s.iface, &f);
    }

    /// Drains transmit and events; returns the TCP segments sent.
    fn poll(&mut self) -> Vec<Sent> {
        let mut buf = vec![0u8; 70_000];
        let mut out = Vec::new();
        while let Some(t) = self.stack.poll_transmit(self.now, &mut buf) {
            let f = buf[..t.len].to_vec();
            if let Some(s) = decode(self.now, t.iface, &f) {
                out.push(s);
            }
            if let Some(reply) = self.arp_reply(t.iface, &f) {
                self.inject(t.iface, &reply);
            }
            self.frames.push((self.now, t.iface, f));
        }
        while let Some(e) = self.stack.poll_event() {
            self.events.push((self.now, e));
        }
        self.sent.extend(out.iter().cloned());
        out
    }

    /// Runs timers up to `until`; `peer` sees each segment sent and may answer.
    fn run_until_with(
        &mut self,
        until: Instant,
        peer: &mut dyn FnMut(&Sent) -> Vec<Seg>,
    ) -> Vec<Sent> {
        let mut all = Vec::new();
        for _ in 0..1_000_000 {
            let out = self.poll();
            let mut answered = false;
            for s in &out {
                for a in peer(s) {
                    self.send(&a);
                    answered = true;
                }
            }
            all.extend(out);
            if answered {
                continue;
            }
            match self.stack.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.stack.handle_timeout(self.now);
                }
                _ => {
                    self.now = self.now.max(until);
                    all.extend(self.poll());
                    return all;
                }
            }
        }
        panic!("the stack never went quiet");
    }

    fn run_until(&mut self, until: Instant) -> Vec<Sent> {
        self.run_until_with(until, &mut |_| Vec::new())
    }

    fn advance(&mut self, d: Duration) -> Vec<Sent> {
        let until = self.now + d;
        self.run_until(until)
    }

    /// Passive open: a listener on `port` (made if missing) takes the peer's SYN (from
    /// `PPORT`, with `syn_opts`); the handshake completes and the connection is accepted.
    fn accept(&mut self, port: u16, syn_opts: &[u8]) -> (Flow, Sent) {
        self.accept_from(port, PPORT, syn_opts)
    }

    fn accept_from(&mut self, port: u16, pport: u16, syn_opts: &[u8]) -> (Flow, Sent) {
        let listener = match self.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, port, 16) {
            Ok(l) => l,
            Err(TcpError::AddrInUse { .. }) => panic!("use a fresh port"),
            Err(e) => panic!("{e}"),
        };
        self.send(
            &Seg::new((PEER, pport), (US, port))
                .seq(PISS)
                .flags(TcpFlags::SYN)
                .opts(syn_opts),
        );
        let out = self.poll();
        let synack = out
            .iter()
            .find(|s| s.syn() && s.flags.ack())
            .expect("a SYN-ACK")
            .clone();
        assert_eq!(synack.ack, PISS + 1);
        self.send(
            &Seg::new((PEER, pport), (US, port))
                .seq(PISS + 1)
                .ack(synack.seq + 1),
        );
        self.poll();
        let sock = self
            .stack
            .tcp_accept(listener)
            .unwrap()
            .expect("an established connection to accept");
        let f = Flow {
            sock,
            us: (US, port),
            peer: (PEER, pport),
            iface: IfaceId(0),
            snd: PISS + 1,
            rcv: synack.seq + 1,
        };
        (f, synack)
    }

    /// Active open to `PEER:port`; the peer answers with a SYN-ACK carrying `synack_opts`.
    fn connect(&mut self, port: u16, synack_opts: &[u8]) -> (Flow, Sent) {
        let now = self.now;
        let sock = self
            .stack
            .tcp_connect(now, (PEER, port), (Ipv4Addr::UNSPECIFIED, 0))
            .unwrap();
        let syn = self.poll().into_iter().find(Sent::syn).expect("our SYN");
        self.send(
            &Seg::new((PEER, port), (syn.src, syn.sport))
                .seq(PISS)
                .ack(syn.seq + 1)
                .flags(TcpFlags::SYN)
                .opts(synack_opts),
        );
        let ack = self.poll();
        assert!(ack.iter().any(|s| s.flags.ack() && !s.syn()), "our ACK");
        assert_eq!(self.stack.tcp_info(sock).unwrap().state, State::Established);
        let f = Flow {
            sock,
            us: (syn.src, syn.sport),
            peer: (PEER, port),
            iface: IfaceId(0),
            snd: PISS + 1,
            rcv: syn.seq + 1,
        };
        (f, syn)
    }

    /// The peer sends `d` on the flow (PSH, ACK of everything it has).
    fn data(&mut self, f: &mut Flow, d: &[u8]) {
        self.send(&f.seg().flags(TcpFlags::PSH).data(d));
        f.snd = f.snd.wrapping_add(d.len() as u32);
    }

    /// The peer acknowledges everything in `sent` that belongs to the flow.
    fn ack_all(&mut self, f: &mut Flow, sent: &[Sent], window: u16) {
        let flow = *f;
        for s in sent.iter().filter(|s| flow.owns(s)) {
            if s.end().wrapping_sub(f.rcv) as i32 > 0 {
                f.rcv = s.end();
            }
        }
        self.send(&f.seg().window(window));
    }

    /// Events naming `sock` since index `from`.
    fn events_of(&self, sock: TcpSocketId, from: usize) -> Vec<Event> {
        self.events[from..]
            .iter()
            .map(|(_, e)| e.clone())
            .filter(|e| event_socket(e) == Some(sock))
            .collect()
    }

    fn read_all(&mut self, sock: TcpSocketId) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.stack.tcp_recv(self.now, sock, &mut buf) {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }
}

fn event_socket(e: &Event) -> Option<TcpSocketId> {
    match e {
        Event::TcpConnected { socket }
        | Event::TcpReadable { socket }
        | Event::TcpWritable { socket }
        | Event::TcpPeerClosed { socket }
        | Event::TcpUrgent { socket }
        | Event::TcpFailed { socket, .. }
        | Event::TcpIcmpError { socket, .. }
        | Event::TcpRetransmitting { socket }
        | Event::TcpClosed { socket } => Some(*socket),
        _ => None,
    }
}

/// One connection as the peer sees it.
#[derive(Debug, Clone, Copy)]
struct Flow {
    sock: TcpSocketId,
    us: (Ipv4Addr, u16),
    peer: (Ipv4Addr, u16),
    iface: IfaceId,
    /// The peer's next sequence number.
    snd: u32,
    /// The next sequence number the peer expects from us.
    rcv: u32,
}

impl Flow {
    /// A segment from the peer on this flow: `<SEQ=snd><ACK=rcv><CTL=ACK>`.
    fn seg(&self) -> Seg {
        let mut s = Seg::new(self.peer, self.us).seq(self.snd).ack(self.rcv);
        s.iface = self.iface;
        if self.iface == IfaceId(1) {
            s.src_mac = PEER2_MAC;
        }
        s
    }
    fn owns(&self, s: &Sent) -> bool {
        (s.src, s.sport, s.dst, s.dport) == (self.us.0, self.us.1, self.peer.0, self.peer.1)
    }
}

// ---------------------------------------------------------------------------------------------
// §3.1 Header format: window, checksum, options.

#[test]
fn tcp_conf_window_above_32k_is_unsigned_must_1() {
    // MUST-1: a window of 32768 or more is a large window, not a negative one.
    let mut w = Wire::new(with_tcp(|t| t.nodelay = true));
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().send.wnd, 65_535);
    let data = pattern(65_536);
    // The peer acknowledges each segment with a window of 40000 (0x9c40: the top bit set)
    // until the congestion window allows more than 32768 octets in flight.
    let mut max_flight = 0u32;
    for _ in 0..10 {
        let now = w.now;
        w.stack.tcp_send(now, f.sock, &data).unwrap();
        let out: Vec<Sent> = w.poll().into_iter().filter(|s| f.owns(s)).collect();
        if out.is_empty() {
            break;
        }
        let flight = out.last().unwrap().end().wrapping_sub(f.rcv);
        max_flight = max_flight.max(flight);
        for s in &out {
            f.rcv = s.end();
            w.send(&f.seg().window(40_000));
        }
    }
    assert!(
        max_flight > 32_768 && max_flight <= 40_000,
        "flight of {max_flight} octets"
    );
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().send.wnd, 40_000);
}

#[test]
fn tcp_conf_every_segment_sent_has_a_valid_checksum_must_2() {
    // MUST-2: the sender computes the checksum (over the pseudo-header), for every kind of
    // segment: SYN-ACK, ACK, odd-length data, FIN, RST for a closed port, challenge ACK.
    let mut w = Wire::new(base_config());
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    w.data(&mut f, b"odd-length data!!");
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(1001)).unwrap();
    w.advance(Duration::from_millis(300));
    let sent = w.sent.clone();
    w.ack_all(&mut f, &sent, 65_535);
    w.stack.tcp_shutdown(now, f.sock).unwrap();
    w.poll();
    // A SYN to a closed port (RST), an in-window SYN on the connection (challenge ACK).
    w.send(
        &Seg::new((PEER, 41_000), (US, 9))
            .seq(1)
            .flags(TcpFlags::SYN),
    );
    w.send(&f.seg().no_ack().flags(TcpFlags::SYN));
    w.poll();
    let kinds = (
        w.sent.iter().any(|s| s.syn()),
        w.sent.iter().any(|s| s.rst()),
        w.sent.iter().any(|s| s.fin()),
        w.sent.iter().any(|s| s.payload.len() % 2 == 1),
    );
    assert_eq!(kinds, (true, true, true, true), "{:?}", w.sent);
    for s in &w.sent {
        assert!(s.checksum_ok, "bad checksum on {s:?}");
    }
}

#[test]
fn tcp_conf_bad_checksum_is_dropped_silently_must_3() {
    // MUST-3: the receiver checks the checksum: a segment that fails is dropped without a
    // reply and counted.
    let mut w = Wire::new(base_config());
    w.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 16).unwrap();
    let syn = Seg::new((PEER, PPORT), (US, 80))
        .seq(PISS)
        .flags(TcpFlags::SYN)
        .opts(&opt_mss(1460));
    w.send(&syn.clone().corrupt());
    assert!(w.poll().is_empty(), "no answer to a corrupted SYN");
    let c = w.stack.counters().tcp;
    assert_eq!((c.rx_bad_checksum, c.passive_opens), (1, 0));
    // The same SYN intact is answered.
    let (mut f, _) = {
        w.stack
            .tcp_unlisten(w.now, weft_core::tcp::TcpListenerId(0));
        w.accept(80, &opt_mss(1460))
    };
    // Corrupted data on the connection is neither delivered nor acknowledged.
    w.send(&f.seg().flags(TcpFlags::PSH).data(b"garbled").corrupt());
    let out = w.advance(Duration::from_secs(1));
    assert!(out.is_empty(), "{out:?}");
    assert!(w.read_all(f.sock).is_empty());
    assert_eq!(w.stack.counters().tcp.rx_bad_checksum, 2);
    w.data(&mut f, b"intact");
    w.advance(Duration::from_secs(1));
    assert_eq!(w.read_all(f.sock), b"intact");
}

#[test]
fn tcp_conf_eol_nop_and_mss_options_are_supported_must_4() {
    // MUST-4: End of Option List, No-Operation and MSS are understood on receipt, and what
    // the stack sends uses them correctly.
    let mut w = Wire::new(base_config());
    let mut opts = vec![NOP, NOP];
    opts.extend(opt_mss(1000));
    opts.extend([EOL, 0]);
    let (f, synack) = w.accept(80, &opts);
    let kinds: Vec<u8> = synack.option_list().iter().map(|(k, _)| *k).collect();
    assert!(kinds.contains(&2), "the SYN-ACK carries MSS: {kinds:?}");
    assert!(
        kinds.iter().all(|k| [EOL, NOP, 2, 3].contains(k)),
        "{kinds:?}"
    );
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(5000)).unwrap();
    let out = w.poll();
    assert!(!out.is_empty());
    assert!(
        out.iter().all(|s| s.payload.len() <= 1000),
        "the MSS after NOPs (and before EOL) was read"
    );
}

#[test]
fn tcp_conf_options_on_any_segment_are_received_must_5() {
    // MUST-5: options may come on any segment; data and ACKs carrying them are processed.
    let mut w = Wire::new(base_config());
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    let mut ts = vec![NOP, NOP, 8, 10];
    ts.extend([0, 0, 0, 1, 0, 0, 0, 0]);
    w.send(
        &f.seg()
            .flags(TcpFlags::PSH)
            .opts(&ts)
            .data(b"with timestamps"),
    );
    f.snd += 15;
    w.send(
        &f.seg()
            .flags(TcpFlags::PSH)
            .opts(&[99, 4, 0xab, 0xcd])
            .data(b" and more"),
    );
    f.snd += 9;
    let out = w.advance(Duration::from_secs(1));
    assert_eq!(w.read_all(f.sock), b"with timestamps and more");
    assert_eq!(out.last().unwrap().ack, f.snd, "both acknowledged");
    // An ACK carrying options acknowledges our data.
    let now = w.now;
    w.stack.tcp_send(now, f.sock, b"reply").unwrap();
    let out = w.poll();
    f.rcv = out[0].end();
    w.send(&f.seg().opts(&ts));
    w.poll();
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().unacked, 0);
}

#[test]
fn tcp_conf_unknown_options_are_ignored_must_6() {
    // MUST-6: options the stack does not implement (with a length field) are skipped.
    let mut w = Wire::new(base_config());
    let mut opts = vec![253, 6, 0xf9, 0x89, 1, 2, 99, 2, 34, 4, 0, 0];
    opts.extend(opt_mss(900));
    let (f, synack) = w.accept(80, &opts);
    assert!(
        synack
            .option_list()
            .iter()
            .all(|(k, _)| [EOL, NOP, 2, 3].contains(k)),
        "nothing unknown echoed"
    );
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(3000)).unwrap();
    let out = w.poll();
    assert!(!out.is_empty() && out.iter().all(|s| s.payload.len() <= 900));
}

#[test]
fn tcp_conf_illegal_option_lengths_are_survived_must_7() {
    // MUST-7: an illegal option length (0, 1, past the option area, a fixed-length option
    // with the wrong length) is handled: the segment is dropped and counted, the connection
    // goes on.
    let mut w = Wire::new(base_config());
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    let bad: [&[u8]; 5] = [
        &[2, 0, 5, 0xb4],
        &[99, 1, 0, 0],
        &[99, 40, 0, 0],
        &[2, 3, 5, 0],
        &[NOP, NOP, NOP, 8],
    ];
    for o in bad {
        w.send(&f.seg().flags(TcpFlags::PSH).opts(o).data(b"bad"));
    }
    w.advance(Duration::from_secs(1));
    assert!(w.read_all(f.sock).is_empty());
    assert_eq!(w.stack.counters().tcp.rx_malformed, 5);
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().state, State::Established);
    w.data(&mut f, b"good");
    w.advance(Duration::from_secs(1));
    assert_eq!(w.read_all(f.sock), b"good");
    // A SYN with a zero option length creates nothing; the listener still works.
    w.send(
        &Seg::new((PEER, 41_000), (US, 80))
            .seq(1)
            .flags(TcpFlags::SYN)
            .opts(&[2, 0, 0, 0]),
    );
    assert!(w.poll().is_empty());
    assert_eq!(w.stack.counters().tcp.passive_opens, 1);
}

// ---------------------------------------------------------------------------------------------
// §3.4.1 Initial sequence numbers.

#[test]
fn tcp_conf_isn_follows_a_4us_clock_must_8() {
    // MUST-8: for one 4-tuple the ISN advances with a clock ticking every 4 µs (RFC 6528 M).
    let mut w = Wire::new(base_config());
    let iss_at = |w: &mut Wire| {
        let now = w.now;
        let s = w.stack.tcp_connect(now, (PEER, 80), (US, 45_000)).unwrap();
        let iss = w.stack.tcp_info(s).unwrap().send.iss.0;
        w.stack.tcp_abort(now, s).unwrap();
        w.poll();
        assert_eq!(w.stack.tcp_connections(), 0);
        iss
    };
    let a = iss_at(&mut w);
    w.advance(Duration::from_secs(1));
    let b = iss_at(&mut w);
    w.advance(Duration::from_millis(10));
    let c = iss_at(&mut w);
    assert_eq!(b.wrapping_sub(a), 250_000, "1 s = 250000 ticks of 4 µs");
    assert_eq!(c.wrapping_sub(b), 2_500);
}

#[test]
fn tcp_conf_isn_is_keyed_by_a_secret_must_9() {
    // MUST-9: F() is a keyed PRF (SipHash keyed from the stack's seed, RFC 6528 §3): the same
    // 4-tuple at the same time gives unrelated ISNs under different keys, the same ISN under
    // the same key, and unrelated ISNs for neighbouring 4-tuples.
    let iss = |seed: u64, port: u16| {
        let mut cfg = base_config();
        cfg.seed = seed;
        let mut s = Stack::new(cfg, T0).unwrap();
        let id = s.tcp_connect(T0, (PEER, 80), (US, port)).unwrap();
        s.tcp_info(id).unwrap().send.iss.0
    };
    assert_eq!(iss(11, 45_000), iss(11, 45_000));
    assert_ne!(iss(11, 45_000), iss(12, 45_000));
    let d = iss(11, 45_001).wrapping_sub(iss(11, 45_000));
    assert!(d > 1_000_000 && d < u32::MAX - 1_000_000, "{d}");
    // The clock part alone would be T0 / 4 µs.
    let m = (T0.as_nanos() / 4_000) as u32;
    assert_ne!(iss(11, 45_000), m);
}

// ---------------------------------------------------------------------------------------------
// §3.5 Opening.

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn testnet_pair() -> (TestNet, usize, usize) {
    let host = |seed: u64, n: u8, addr: Ipv4Addr| {
        let mut c = StackConfig::new(seed);
        c.add_interface(InterfaceConfig::ethernet(
            MacAddr([2, 0, 0, 0, 0, n]),
            addr,
            24,
        ));
        c
    };
    let mut net = TestNet::new();
    let a = net.add_host("a", host(1, 1, A));
    let b = net.add_host("b", host(2, 2, B));
    net.add_segment(
        &[(a, IfaceId(0)), (b, IfaceId(0))],
        Duration::from_micros(50),
    );
    (net, a, b)
}

#[test]
fn tcp_conf_simultaneous_open_between_two_stacks_must_10() {
    // MUST-10: both sides open actively to each other at once: the SYNs cross, both go
    // through SYN-RECEIVED to ESTABLISHED, and data flows.
    let (mut net, a, b) = testnet_pair();
    net.run_for(Duration::from_secs(3));
    let now = net.now();
    let sa = net.stack(a).tcp_connect(now, (B, 5000), (A, 6000)).unwrap();
    let sb = net.stack(b).tcp_connect(now, (A, 6000), (B, 5000)).unwrap();
    net.run_for(Duration::from_millis(100));
    let st = |net: &TestNet, h, s| net.stack_ref(h).tcp_info(s).unwrap().state;
    assert_eq!(st(&net, a, sa), State::Established);
    assert_eq!(st(&net, b, sb), State::Established);
    // Each side saw the other's bare SYN: a simultaneous open, not a listener's handshake.
    let syns_without_ack = net
        .frames()
        .iter()
        .filter_map(|(_, f)| {
            let e = EthernetFrame::new_checked(&f[..]).ok()?;
            let ip = Ipv4Packet::new_checked(e.payload()).ok()?;
            let t = TcpPacket::new_checked(ip.payload()).ok()?;
            (ip.protocol() == IpProtocol::TCP && t.flags().syn() && !t.flags().ack()).then_some(())
        })
        .count();
    assert_eq!(syns_without_ack, 2);
    let now = net.now();
    net.stack(a).tcp_send(now, sa, b"across").unwrap();
    net.run_for(Duration::from_millis(100));
    let mut buf = [0u8; 16];
    let now = net.now();
    assert_eq!(net.stack(b).tcp_recv(now, sb, &mut buf), Ok(6));
    assert!(
        net.events(a)
            .iter()
            .any(|(_, e)| *e == Event::TcpConnected { socket: sa })
    );
}

#[test]
fn tcp_conf_rst_in_passive_syn_received_returns_to_listen_must_11() {
    // MUST-11: a connection in SYN-RECEIVED that came from a passive OPEN goes back to
    // LISTEN on an acceptable RST: the half-open connection disappears without a report and
    // the listener keeps listening (the active case is in src/tcp/conformance_tests.rs).
    let mut w = Wire::new(base_config());
    let l = w.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 16).unwrap();
    w.send(
        &Seg::new((PEER, PPORT), (US, 80))
            .seq(PISS)
            .flags(TcpFlags::SYN),
    );
    let synack = w.poll().into_iter().find(Sent::syn).unwrap();
    assert_eq!(w.stack.tcp_connections(), 1);
    let events_before = w.events.len();
    w.send(
        &Seg::new((PEER, PPORT), (US, 80))
            .seq(PISS + 1)
            .flags(TcpFlags::RST),
    );
    w.poll();
    assert_eq!(
        w.stack.tcp_connections(),
        0,
        "the half-open connection is gone"
    );
    assert_eq!(
        w.events.len(),
        events_before,
        "nothing to report: no user yet"
    );
    assert_eq!(w.stack.tcp_accept(l), Ok(None));
    // LISTEN again: a new SYN is answered and accepted.
    let _ = synack;
    w.send(
        &Seg::new((PEER, PPORT + 1), (US, 80))
            .seq(PISS)
            .flags(TcpFlags::SYN),
    );
    let synack = w.poll().into_iter().find(Sent::syn).expect("a SYN-ACK");
    w.send(
        &Seg::new((PEER, PPORT + 1), (US, 80))
            .seq(PISS + 1)
            .ack(synack.seq + 1),
    );
    w.poll();
    assert!(w.stack.tcp_accept(l).unwrap().is_some());
}

// ---------------------------------------------------------------------------------------------
// §3.6 Closing.

#[test]
fn tcp_conf_peer_close_and_reset_are_told_apart_must_12() {
    // MUST-12: a connection closed by the peer's FIN and one aborted by its RST reach the
    // application differently: end of stream and `TcpPeerClosed`, or `TcpFailed` with
    // `Reset`.
    let (mut net, a, b) = testnet_pair();
    let l = net
        .stack(b)
        .tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4)
        .unwrap();
    let now = net.now();
    let s1 = net.stack(a).tcp_connect(now, (B, 80), (A, 0)).unwrap();
    let s2 = net.stack(a).tcp_connect(now, (B, 80), (A, 0)).unwrap();
    net.run_for(Duration::from_millis(100));
    let b1 = net.stack(b).tcp_accept(l).unwrap().unwrap();
    let b2 = net.stack(b).tcp_accept(l).unwrap().unwrap();
    let peer_of = |net: &TestNet, s| net.stack_ref(a).tcp_info(s).unwrap().local.1;
    let port_b1 = net.stack_ref(b).tcp_info(b1).unwrap().remote.1;
    let (fin_side, rst_side) = if port_b1 == peer_of(&net, s1) {
        (s1, s2)
    } else {
        (s2, s1)
    };
    let now = net.now();
    net.stack(b).tcp_shutdown(now, b1).unwrap();
    net.stack(b).tcp_abort(now, b2).unwrap();
    net.run_for(Duration::from_millis(100));
    let evs: Vec<Event> = net.events(a).iter().map(|(_, e)| e.clone()).collect();
    assert!(evs.contains(&Event::TcpPeerClosed { socket: fin_side }));
    assert!(
        !evs.iter()
            .any(|e| matches!(e, Event::TcpFailed { socket, .. } if *socket == fin_side))
    );
    let mut buf = [0u8; 8];
    let now = net.now();
    assert_eq!(
        net.stack(a).tcp_recv(now, fin_side, &mut buf),
        Err(TcpError::Recv(RecvError::Finished))
    );
    assert!(evs.contains(&Event::TcpFailed {
        socket: rst_side,
        error: ConnError::Reset
    }));
    assert_eq!(
        net.stack(a).tcp_recv(now, rst_side, &mut buf),
        Err(TcpError::Recv(RecvError::Failed(ConnError::Reset)))
    );
}

#[test]
fn tcp_conf_time_wait_lasts_two_msl_must_13() {
    // MUST-13: the side that closes first lingers in TIME-WAIT for 2·MSL (configured here to
    // RFC 9293's MSL of 2 minutes: 240 s), answering a retransmitted FIN meanwhile.
    let mut w = Wire::new(with_tcp(|t| t.time_wait = Duration::from_secs(240)));
    let (mut f, _) = w.connect(80, &opt_mss(1460));
    let now = w.now;
    w.stack.tcp_shutdown(now, f.sock).unwrap();
    let fin = w.poll().into_iter().find(Sent::fin).expect("our FIN");
    f.rcv = fin.end();
    w.send(&f.seg().flags(TcpFlags::FIN));
    let ack = w.poll();
    assert_eq!(ack.last().unwrap().ack, f.snd + 1);
    let entered = w.now;
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().state, State::TimeWait);
    w.advance(Duration::from_secs(100));
    // The peer did not get our ACK and sends its FIN again: it is acknowledged again.
    w.send(&f.seg().flags(TcpFlags::FIN));
    let again = w.poll();
    assert!(
        again.iter().any(|s| s.ack == f.snd + 1 && !s.rst()),
        "{again:?}"
    );
    w.run_until(entered + Duration::from_secs(239));
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().state, State::TimeWait);
    assert_eq!(w.stack.tcp_connections(), 1);
    w.run_until(entered + Duration::from_secs(481));
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().state, State::Closed);
}

// ---------------------------------------------------------------------------------------------
// §3.7.1 Maximum segment size.

#[test]
fn tcp_conf_mss_option_is_sent_and_received_must_14() {
    // MUST-14: our SYN and SYN-ACK carry MSS (the interface MTU less 40), and the peer's MSS
    // bounds what we send.
    let mut w = Wire::new(base_config());
    let (f, syn) = w.connect(80, &opt_mss(700));
    assert_eq!(syn.mss(), Some(1460));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(4000)).unwrap();
    let out = w.poll();
    assert!(!out.is_empty() && out.iter().all(|s| s.payload.len() <= 700));
    let (_, synack) = w.accept(81, &opt_mss(1460));
    assert_eq!(synack.mss(), Some(1460));
}

#[test]
fn tcp_conf_default_send_mss_is_536_must_15() {
    // MUST-15: without an MSS option the send MSS is 536 (IPv4).
    let mut w = Wire::new(with_tcp(|t| t.nodelay = true));
    let (f, _) = w.accept(80, &[]);
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().send.mss, 536);
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(3000)).unwrap();
    let out = w.poll();
    assert!(!out.is_empty());
    assert!(out.iter().all(|s| s.payload.len() <= 536), "{out:?}");
}

#[test]
fn tcp_conf_effective_send_mss_is_the_smaller_bound_must_16() {
    // MUST-16: Eff.snd.MSS = min(SendMSS + 20, MMS_S) - 20 (no IP or TCP options on data):
    // a 576-octet MTU bounds segments below a peer's 1460; a peer's 1000 bounds them on a
    // 1500-octet link.
    let mut cfg = StackConfig::new(11);
    let mut ifc = InterfaceConfig::ethernet(US_MAC, US, 24);
    ifc.mtu = 576;
    cfg.add_interface(ifc);
    let mut w = Wire::new(cfg);
    let (f, syn) = w.connect(80, &opt_mss(1460));
    assert_eq!(syn.mss(), Some(536));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(4000)).unwrap();
    let out = w.poll();
    assert!(!out.is_empty());
    assert!(
        out.iter()
            .all(|s| s.payload.len() <= 536 && s.ip.len() <= 576)
    );
    let mut w = Wire::new(base_config());
    let (f, _) = w.accept(80, &opt_mss(1000));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(4000)).unwrap();
    let out = w.poll();
    assert!(out.iter().any(|s| s.payload.len() == 1000));
    assert!(out.iter().all(|s| s.payload.len() <= 1000));
}

#[test]
fn tcp_conf_small_peer_mss_is_respected_must_16() {
    // MUST-16: the effective send MSS is never above the peer's MSS, however small.
    let mut w = Wire::new(with_tcp(|t| t.nodelay = true));
    let (f, _) = w.accept(80, &opt_mss(40));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(400)).unwrap();
    let out = w.poll();
    assert!(!out.is_empty());
    assert!(out.iter().all(|s| s.payload.len() <= 40), "{out:?}");
}

#[test]
fn tcp_conf_configured_mss_does_not_lift_the_mtu_bound_must_16() {
    // MUST-16: MMS_S (the interface MTU less the IP header) bounds the segment size whatever
    // MSS the application configured to announce.
    let mut w = Wire::new(with_tcp(|t| {
        t.mss = Some(8960);
        t.nodelay = true;
    }));
    let (f, _) = w.accept(80, &opt_mss(8960));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(20_000)).unwrap();
    // `decode` fails the test on a fragmented segment; a whole one must fit the MTU.
    let out = w.poll();
    assert!(!out.is_empty());
    assert!(out.iter().all(|s| s.ip.len() <= 1500));
}

#[test]
fn tcp_conf_announced_mss_fits_what_can_be_received_must_67() {
    // MUST-67: the MSS announced is at most MMS_R - 20; by default it is the interface MTU
    // less 40, which needs no reassembly at all.
    for (mtu, mss) in [(1500u16, 1460u16), (576, 536), (9000, 8960)] {
        let mut cfg = StackConfig::new(11);
        let mut ifc = InterfaceConfig::ethernet(US_MAC, US, 24);
        ifc.mtu = mtu;
        cfg.add_interface(ifc);
        let mut w = Wire::new(cfg);
        let (_, syn) = w.connect(80, &opt_mss(1460));
        assert_eq!(syn.mss(), Some(mss));
        let (_, synack) = w.accept(81, &opt_mss(1460));
        assert_eq!(synack.mss(), Some(mss));
    }
}

#[test]
fn tcp_conf_configured_mss_is_capped_by_mms_r_must_67() {
    // MUST-67: whatever the configuration, the MSS announced never promises more than the IP
    // layer can receive and reassemble.
    let mut w = Wire::new(with_tcp(|t| t.mss = Some(65_535)));
    let (_, syn) = w.connect(80, &opt_mss(1460));
    assert!(syn.mss().unwrap() <= 65_495, "{:?}", syn.mss());
}

// ---------------------------------------------------------------------------------------------
// §3.7.4 Nagle, §3.8.3 R1/R2.

#[test]
fn tcp_conf_nodelay_through_the_socket_api_must_17() {
    // MUST-17: the application can turn Nagle's algorithm off on one connection.
    let mut w = Wire::new(base_config());
    let (f, _) = w.accept(80, &opt_mss(1460));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, b"a").unwrap();
    assert_eq!(w.poll().len(), 1);
    w.stack.tcp_send(now, f.sock, b"b").unwrap();
    assert!(
        w.poll().is_empty(),
        "Nagle holds a small segment while one is unacknowledged"
    );
    w.stack
        .tcp_configure(now, f.sock, |c| c.nodelay = true)
        .unwrap();
    let out = w.poll();
    assert_eq!(out.len(), 1, "no-delay sends it at once");
    assert_eq!(out[0].payload, b"b");
}

#[test]
fn tcp_conf_r2_closes_and_reports_must_20() {
    // MUST-20 (c): when retransmissions of one segment reach R2 the connection is closed and
    // the application told; R1 is counted on the way.
    let mut w = Wire::new(with_tcp(|t| t.r2 = Duration::from_secs(30)));
    let (f, _) = w.accept(80, &opt_mss(1460));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, b"into the void").unwrap();
    let start = w.now;
    let out = w.advance(Duration::from_secs(120));
    let retx = out.iter().filter(|s| !s.payload.is_empty()).count();
    assert!(retx >= 4, "{retx} transmissions");
    let failed = w
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::TcpFailed { socket, error: ConnError::TimedOut } if *socket == f.sock))
        .expect("TcpFailed(TimedOut)");
    let took = failed.0.saturating_since(start);
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(90),
        "{took:?}"
    );
    assert!(w.stack.tcp_info(f.sock).unwrap().stats.r1_reached >= 1);
}

fn is_arp_request_for(frame: &[u8], target: Ipv4Addr) -> bool {
    let Ok(e) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    if e.ethertype() != EtherType::ARP {
        return false;
    }
    let Ok(p) = ArpPacket::new_checked(e.payload()) else {
        return false;
    };
    ArpRepr::parse(&p).is_ok_and(|r| {
        r.operation == weft_wire::ArpOperation::REQUEST
            && r.target_ip == target
            && r.sender_ip != r.target_ip
    })
}

#[test]
fn tcp_conf_r1_advises_ip_to_revalidate_the_next_hop_must_20() {
    // MUST-20 (b): "When the number of transmissions of the same segment reaches or exceeds
    // threshold R1, pass negative advice (RFC 1122 §3.3.1.4) to the IP layer, to trigger
    // dead-gateway diagnosis" — here, the next hop's address resolution is checked again.
    let mut w = Wire::new(base_config());
    let (f, _) = w.accept(80, &opt_mss(1460));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, b"anyone there?").unwrap();
    let frames_before = w.frames.len();
    // Well inside the ARP entry's lifetime (60 s from T0).
    w.run_until(T0 + Duration::from_secs(20));
    assert!(w.stack.tcp_info(f.sock).unwrap().stats.r1_reached >= 1);
    let asked = w.frames[frames_before..]
        .iter()
        .any(|(_, _, fr)| is_arp_request_for(fr, PEER));
    assert!(asked, "the next hop is re-validated after R1");
}

#[test]
fn tcp_conf_application_sets_r2_must_21() {
    // MUST-21: the application sets R2 for one connection: a user timeout of 10 s, or R2 so
    // large that retransmission goes on for an hour.
    let mut w = Wire::new(base_config());
    let (f, _) = w.accept(80, &opt_mss(1460));
    let now = w.now;
    w.stack
        .tcp_configure(now, f.sock, |c| {
            c.user_timeout = Some(Duration::from_secs(10))
        })
        .unwrap();
    w.stack.tcp_send(now, f.sock, b"hello?").unwrap();
    w.advance(Duration::from_secs(60));
    let (t, _) = w
        .events
        .iter()
        .find(|(_, e)| {
            matches!(
                e,
                Event::TcpFailed {
                    error: ConnError::TimedOut,
                    ..
                }
            )
        })
        .expect("timed out")
        .clone();
    let took = t.saturating_since(now);
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(30),
        "{took:?}"
    );

    let mut w = Wire::new(base_config());
    let (f, _) = w.accept(80, &opt_mss(1460));
    let now = w.now;
    w.stack
        .tcp_configure(now, f.sock, |c| c.r2 = Duration::from_secs(100 * 3600))
        .unwrap();
    w.stack.tcp_send(now, f.sock, b"hello?").unwrap();
    let out = w.advance(Duration::from_secs(3600));
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().state, State::Established);
    let late = out
        .iter()
        .filter(|s| !s.payload.is_empty() && s.at > now + Duration::from_secs(3000))
        .count();
    assert!(late > 0, "still retransmitting after 50 minutes");
}

#[test]
fn tcp_conf_syn_retransmissions_follow_r1_r2_and_report_must_22_23() {
    // MUST-22: SYN retransmissions are handled like data ones (R1 counted, R2 closes and the
    // application is told); MUST-23: R2 for a SYN covers at least 3 minutes.
    let mut w = Wire::new(base_config());
    let now = w.now;
    let s = w
        .stack
        .tcp_connect(now, (PEER, 80), (Ipv4Addr::UNSPECIFIED, 0))
        .unwrap();
    let out = w.advance(Duration::from_secs(600));
    let syns: Vec<&Sent> = out.iter().filter(|s| s.syn()).collect();
    assert!(syns.len() >= 5, "{} SYNs", syns.len());
    assert!(syns.iter().all(|x| x.seq == syns[0].seq));
    let (t, e) = w
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::TcpFailed { .. }))
        .expect("the application is told")
        .clone();
    assert_eq!(
        e,
        Event::TcpFailed {
            socket: s,
            error: ConnError::TimedOut
        }
    );
    assert!(
        t.saturating_since(now) >= Duration::from_secs(180),
        "MUST-23"
    );
    assert!(
        syns.last().unwrap().at.saturating_since(now) >= Duration::from_secs(60),
        "SYNs go on for minutes"
    );
    assert!(
        w.stack.tcp_info(s).unwrap().stats.r1_reached >= 1,
        "R1 for SYNs"
    );
}

// ---------------------------------------------------------------------------------------------
// §3.8.4 Keep-alives.

/// A peer that answers keep-alive probes (`SEG.SEQ = SND.NXT - 1`, no data) on `f`.
fn keepalive_answerer(f: Flow) -> impl FnMut(&Sent) -> Vec<Seg> {
    move |s| {
        if f.owns(s) && s.payload.is_empty() && s.seq == f.rcv.wrapping_sub(1) {
            vec![f.seg()]
        } else {
            Vec::new()
        }
    }
}

fn keepalive_probes(sent: &[Sent], f: &Flow) -> Vec<Instant> {
    sent.iter()
        .filter(|s| f.owns(s) && s.payload.is_empty() && s.seq == f.rcv.wrapping_sub(1))
        .map(|s| s.at)
        .collect()
}

#[test]
fn tcp_conf_keepalive_is_off_by_default_and_per_connection_must_24_25() {
    // MUST-25: keep-alives are off by default; MUST-24: the application turns them on and
    // off for each connection.
    assert_eq!(StackConfig::new(1).tcp.keepalive, None);
    let mut w = Wire::new(base_config());
    let (fa, _) = w.accept(80, &opt_mss(1460));
    let (fb, _) = w.accept_from(81, PPORT + 1, &opt_mss(1460));
    let now = w.now;
    w.stack
        .tcp_configure(now, fb.sock, |c| {
            c.keepalive = Some(Duration::from_secs(600))
        })
        .unwrap();
    let mut answer = keepalive_answerer(fb);
    let out = w.run_until_with(now + Duration::from_secs(3600), &mut answer);
    assert!(keepalive_probes(&out, &fa).is_empty(), "off by default");
    let on = keepalive_probes(&out, &fb);
    assert!((5..=7).contains(&on.len()), "every 10 minutes: {on:?}");
    let now = w.now;
    w.stack
        .tcp_configure(now, fb.sock, |c| c.keepalive = None)
        .unwrap();
    let out = w.run_until_with(now + Duration::from_secs(3600), &mut answer);
    assert!(keepalive_probes(&out, &fb).is_empty(), "turned off again");
    assert_eq!(w.stack.tcp_info(fb.sock).unwrap().state, State::Established);
}

#[test]
fn tcp_conf_keepalive_interval_is_configurable_must_27() {
    // MUST-27: the idle interval is configurable; MUST-26: the first probe comes once the
    // connection has been idle that long.
    let mut w = Wire::new(with_tcp(|t| t.keepalive = Some(Duration::from_secs(900))));
    let (f, _) = w.accept(80, &opt_mss(1460));
    let idle_from = w.now;
    let mut answer = keepalive_answerer(f);
    let out = w.run_until_with(idle_from + Duration::from_secs(2000), &mut answer);
    let probes = keepalive_probes(&out, &f);
    assert!(!probes.is_empty());
    let first = probes[0].saturating_since(idle_from);
    assert!(
        first >= Duration::from_secs(900) && first < Duration::from_secs(901),
        "{first:?}"
    );
}

#[test]
fn tcp_conf_keepalive_default_interval_is_two_hours_must_28() {
    // MUST-28: the interval defaults to no less than two hours (the value to use when turning
    // keep-alives on is `TcpConfig::KEEPALIVE_DEFAULT`).
    assert!(TcpConfig::KEEPALIVE_DEFAULT >= Duration::from_secs(7200));
    let mut w = Wire::new(with_tcp(|t| {
        t.keepalive = Some(TcpConfig::KEEPALIVE_DEFAULT)
    }));
    let (f, _) = w.accept(80, &opt_mss(1460));
    let idle_from = w.now;
    let mut answer = keepalive_answerer(f);
    let out = w.run_until_with(idle_from + Duration::from_secs(7199), &mut answer);
    assert!(
        keepalive_probes(&out, &f).is_empty(),
        "nothing before two hours"
    );
    let out = w.run_until_with(idle_from + Duration::from_secs(7300), &mut answer);
    assert_eq!(keepalive_probes(&out, &f).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// §3.8.5 Urgent data.

#[test]
fn tcp_conf_urgent_data_is_received_must_30() {
    // MUST-30: the urgent mechanism: a segment with URG sets the receive urgent pointer and
    // its data is delivered in sequence. (Sending urgent data has no socket call: see the
    // checklist.)
    let mut w = Wire::new(base_config());
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    w.send(&f.seg().flags(TcpFlags::PSH).urgent(3).data(b"!!!rest"));
    f.snd += 7;
    w.advance(Duration::from_secs(1));
    let info = w.stack.tcp_info(f.sock).unwrap();
    assert_eq!(info.recv.up.map(|u| u.0), Some(PISS + 1 + 3));
    assert_eq!(w.read_all(f.sock), b"!!!rest");
}

#[test]
fn tcp_conf_urgent_arrival_is_reported_asynchronously_must_32() {
    // MUST-32: the application is told when an urgent pointer arrives with no urgent data
    // pending, and again when the pointer advances, without having to read.
    let mut w = Wire::new(base_config());
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    let from = w.events.len();
    w.send(&f.seg().flags(TcpFlags::PSH).urgent(1).data(b"!"));
    f.snd += 1;
    w.poll();
    let sock = f.sock;
    let urgent = |w: &Wire, from| {
        w.events_of(sock, from)
            .iter()
            .filter(|e| matches!(e, Event::TcpUrgent { .. }))
            .count()
    };
    assert_eq!(urgent(&w, from), 1);
    // Plain data: no new report. The pointer advances: reported again.
    w.data(&mut f, b"plain");
    w.poll();
    assert_eq!(urgent(&w, from), 1);
    w.send(&f.seg().flags(TcpFlags::PSH).urgent(2).data(b"!!"));
    w.poll();
    assert_eq!(urgent(&w, from), 2);
}

#[test]
fn tcp_conf_application_learns_how_much_urgent_data_remains_must_33() {
    // MUST-33: `tcp_info` gives RCV.UP, RCV.NXT and the octets not yet read, so the
    // application knows how much urgent data is still ahead of its read position.
    let mut w = Wire::new(base_config());
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    w.send(&f.seg().flags(TcpFlags::PSH).urgent(6).data(b"abcXYZdef"));
    f.snd += 9;
    w.advance(Duration::from_secs(1));
    let remaining = |w: &Wire| {
        let i = w.stack.tcp_info(f.sock).unwrap();
        let read_pos = i.recv.nxt - i.readable;
        i.recv.up.map_or(0, |up| up.since(read_pos))
    };
    assert_eq!(remaining(&w), 6);
    let mut buf = [0u8; 4];
    let now = w.now;
    assert_eq!(w.stack.tcp_recv(now, f.sock, &mut buf), Ok(4));
    assert_eq!(remaining(&w), 2);
    let mut buf = [0u8; 16];
    assert_eq!(w.stack.tcp_recv(now, f.sock, &mut buf), Ok(5));
    assert_eq!(remaining(&w), 0);
}

// ---------------------------------------------------------------------------------------------
// §3.9.1 The application's calls.

#[test]
fn tcp_conf_passive_open_leaves_other_connections_alone_must_41() {
    // MUST-41: a passive OPEN creates a listener or fails; either way existing connections
    // and listeners are untouched.
    let mut w = Wire::new(base_config());
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    assert_eq!(
        w.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4),
        Err(TcpError::AddrInUse {
            addr: Ipv4Addr::UNSPECIFIED,
            port: 80
        })
    );
    let specific = w.stack.tcp_listen(US, 80, 4).unwrap();
    w.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 81, 4).unwrap();
    // The established connection on port 80 carries on.
    w.data(&mut f, b"still here");
    w.advance(Duration::from_secs(1));
    assert_eq!(w.read_all(f.sock), b"still here");
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().state, State::Established);
    // The new, more specific listener takes new connections to its address.
    w.send(
        &Seg::new((PEER, PPORT + 7), (US, 80))
            .seq(1)
            .flags(TcpFlags::SYN),
    );
    let synack = w.poll().into_iter().find(Sent::syn).unwrap();
    w.send(
        &Seg::new((PEER, PPORT + 7), (US, 80))
            .seq(2)
            .ack(synack.seq + 1),
    );
    w.poll();
    assert!(w.stack.tcp_accept(specific).unwrap().is_some());
}

#[test]
fn tcp_conf_listen_while_a_same_port_connection_is_opening_must_42() {
    // MUST-42: the application can LISTEN on a port while a connection with the same local
    // port is in SYN-SENT or SYN-RECEIVED.
    let mut w = Wire::new(base_config());
    let now = w.now;
    let active = w.stack.tcp_connect(now, (PEER, 80), (US, 5000)).unwrap();
    let syn = w.poll().into_iter().find(Sent::syn).unwrap();
    assert_eq!(w.stack.tcp_info(active).unwrap().state, State::SynSent);
    let l = w.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 5000, 4).unwrap();
    // A SYN from another peer port reaches the listener: SYN-RECEIVED beside SYN-SENT.
    w.send(
        &Seg::new((PEER, 41_000), (US, 5000))
            .seq(100)
            .flags(TcpFlags::SYN),
    );
    let synack = w.poll().into_iter().find(Sent::syn).expect("SYN-ACK");
    assert_eq!(w.stack.tcp_info(active).unwrap().state, State::SynSent);
    // And another listener on the same port, bound to our address, while that one is
    // in SYN-RECEIVED.
    w.stack.tcp_listen(US, 5000, 4).unwrap();
    // Both connections complete.
    w.send(
        &Seg::new((PEER, 41_000), (US, 5000))
            .seq(101)
            .ack(synack.seq + 1),
    );
    w.send(
        &Seg::new((PEER, 80), (US, 5000))
            .seq(PISS)
            .ack(syn.seq + 1)
            .flags(TcpFlags::SYN),
    );
    w.poll();
    assert!(w.stack.tcp_accept(l).unwrap().is_some());
    assert_eq!(w.stack.tcp_info(active).unwrap().state, State::Established);
}

fn two_homed() -> Wire {
    Wire::with_peers(
        two_homed_config(),
        &[(IfaceId(0), PEER, PEER_MAC), (IfaceId(1), PEER2, PEER2_MAC)],
    )
}

#[test]
fn tcp_conf_local_address_parameter_must_43() {
    // MUST-43: OPEN takes an optional local address: an active open from it, a passive one
    // that waits for connections to it only.
    let mut w = two_homed();
    let now = w.now;
    let s = w.stack.tcp_connect(now, (PEER, 80), (US2, 0)).unwrap();
    let syn = w.poll().into_iter().find(Sent::syn).unwrap();
    assert_eq!(syn.src, US2, "the SYN comes from the address asked for");
    assert_eq!(w.stack.tcp_info(s).unwrap().local.0, US2);
    w.stack.tcp_listen(US2, 90, 4).unwrap();
    w.send(
        &Seg::new((PEER, PPORT), (US, 90))
            .seq(1)
            .flags(TcpFlags::SYN),
    );
    let out = w.poll();
    assert!(
        out.iter().all(|s| !s.syn()) && out.iter().any(Sent::rst),
        "not for US:90"
    );
    w.send(
        &Seg::new((PEER, PPORT), (US2, 90))
            .seq(1)
            .flags(TcpFlags::SYN),
    );
    let out = w.poll();
    let synack = out.iter().find(|s| s.syn()).expect("a SYN-ACK for US2:90");
    assert_eq!(synack.src, US2);
}

#[test]
fn tcp_conf_source_address_chosen_before_the_first_syn_must_44() {
    // MUST-44: with no local address given, the IP layer picks the source (the route's
    // interface address) before the first SYN.
    let mut w = two_homed();
    let now = w.now;
    let s1 = w
        .stack
        .tcp_connect(now, (PEER2, 80), (Ipv4Addr::UNSPECIFIED, 0))
        .unwrap();
    let s0 = w
        .stack
        .tcp_connect(now, (PEER, 80), (Ipv4Addr::UNSPECIFIED, 0))
        .unwrap();
    assert_eq!(w.stack.tcp_info(s1).unwrap().local.0, US2);
    assert_eq!(w.stack.tcp_info(s0).unwrap().local.0, US);
    let syns: Vec<Sent> = w.poll().into_iter().filter(Sent::syn).collect();
    assert_eq!(syns.len(), 2);
    for s in syns {
        if s.dst == PEER2 {
            assert_eq!((s.src, s.iface), (US2, IfaceId(1)));
        } else {
            assert_eq!((s.src, s.iface), (US, IfaceId(0)));
        }
    }
}

#[test]
fn tcp_conf_connection_keeps_its_local_address_must_45() {
    // MUST-45: once a segment was sent or received, every later one uses the same local
    // address: a connection accepted on US2 (arriving over the other interface) answers
    // from US2 throughout — SYN-ACK, data, FIN, and the RST of an abort.
    let mut w = two_homed();
    let l = w.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    w.send(
        &Seg::new((PEER, PPORT), (US2, 80))
            .seq(PISS)
            .flags(TcpFlags::SYN),
    );
    let synack = w.poll().into_iter().find(Sent::syn).unwrap();
    w.send(
        &Seg::new((PEER, PPORT), (US2, 80))
            .seq(PISS + 1)
            .ack(synack.seq + 1),
    );
    w.poll();
    let sock = w.stack.tcp_accept(l).unwrap().unwrap();
    let now = w.now;
    w.stack.tcp_send(now, sock, b"data").unwrap();
    w.stack.tcp_shutdown(now, sock).unwrap();
    w.advance(Duration::from_millis(500));
    let now = w.now;
    w.stack.tcp_abort(now, sock).unwrap();
    w.poll();
    let ours: Vec<&Sent> = w.sent.iter().filter(|s| s.dst == PEER).collect();
    assert!(ours.iter().any(|s| s.fin()) && ours.iter().any(|s| s.rst()));
    assert!(ours.iter().all(|s| s.src == US2), "{ours:?}");
    assert!(ours.iter().all(|s| s.eth_dst == PEER_MAC), "{ours:?}");
}

#[test]
fn tcp_conf_open_to_broadcast_or_multicast_is_rejected_must_46() {
    // MUST-46: an active OPEN to a broadcast or multicast address is refused as an error,
    // and nothing is sent.
    let mut cfg = StackConfig::new(11);
    cfg.add_interface(InterfaceConfig {
        mac: US_MAC,
        mtu: 1500,
        ipv4: Ipv4Config::Static {
            addr: US,
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 0, 0, 254)),
        },
        multicast: Vec::new(),
    });
    let mut w = Wire::new(cfg);
    let now = w.now;
    for dst in [
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(10, 0, 0, 255),
        Ipv4Addr::new(224, 0, 0, 9),
        Ipv4Addr::new(239, 1, 2, 3),
    ] {
        let r = w
            .stack
            .tcp_connect(now, (dst, 80), (Ipv4Addr::UNSPECIFIED, 0));
        assert!(r.is_err(), "OPEN to {dst} accepted: {r:?}");
    }
    assert!(w.poll().is_empty());
}

// ---------------------------------------------------------------------------------------------
// §3.9.1.8, §3.9.2 The lower layer: TTL, IP options, ICMP.

/// An ICMP message from the peer (as a router would send it) to us.
#[cfg(feature = "icmp")]
fn icmp_frame(repr: &Icmpv4Repr<'_>) -> Vec<u8> {
    let mut msg = vec![0u8; repr.buffer_len()];
    repr.emit(&mut msg).unwrap();
    let ip = ipv4(PEER, US, 1, 64, &[], &msg);
    ethernet(US_MAC, PEER_MAC, 0x0800, &ip)
}

/// An established connection with data outstanding: the last segment we sent (to quote).
#[cfg(feature = "icmp")]
fn flow_with_data_in_flight(w: &mut Wire) -> (Flow, Sent) {
    let (f, _) = w.accept(80, &opt_mss(1460));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, b"in flight").unwrap();
    let seg = w
        .poll()
        .into_iter()
        .find(|s| !s.payload.is_empty())
        .unwrap();
    (f, seg)
}

#[cfg(feature = "icmp")]
#[test]
fn tcp_conf_icmp_error_is_reported_to_the_application_must_47() {
    // MUST-47: the error report mechanism covers "ICMP error message arrived": a soft error
    // about a live connection reaches the application asynchronously (and does not close
    // the connection, MUST-56).
    let mut w = Wire::new(base_config());
    let (f, seg) = flow_with_data_in_flight(&mut w);
    let from = w.events.len();
    w.inject(
        IfaceId(0),
        &icmp_frame(&Icmpv4Repr::DstUnreachable {
            code: DstUnreachableCode(1),
            next_hop_mtu: 0,
            unused: 0,
            quoted: &seg.ip,
        }),
    );
    w.poll();
    assert_eq!(w.stack.counters().icmp.errors_delivered, 1);
    let evs = w.events_of(f.sock, from);
    assert!(!evs.is_empty(), "the application hears of the ICMP error");
}

#[test]
fn tcp_conf_ttl_is_configurable_must_49() {
    // MUST-49: the TTL of TCP segments is configurable (stack-wide).
    let mut cfg = base_config();
    cfg.ttl = 17;
    let mut w = Wire::new(cfg);
    let (f, _) = w.accept(80, &opt_mss(1460));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, b"ttl").unwrap();
    w.send(
        &Seg::new((PEER, 41_000), (US, 9))
            .seq(1)
            .flags(TcpFlags::SYN),
    );
    w.poll();
    assert!(w.sent.len() >= 3);
    assert!(w.sent.iter().all(|s| s.ttl == 17), "{:?}", w.sent);
}

#[test]
fn tcp_conf_unknown_ip_options_are_ignored_must_50() {
    // MUST-50: IP options TCP does not understand (Record Route, Router Alert, an unknown
    // type) are ignored: the SYN and the data they ride on are processed as usual.
    let ip_opts = [
        NOP, 7, 7, 4, 0, 0, 0, 0, // Record Route with one free slot
        148, 4, 0, 0, // Router Alert
        0x5e, 4, 0xab, 0xcd, // an unassigned type
        EOL,
    ];
    let mut w = Wire::new(base_config());
    let l = w.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    w.send(
        &Seg::new((PEER, PPORT), (US, 80))
            .seq(PISS)
            .flags(TcpFlags::SYN)
            .ip_opts(&ip_opts),
    );
    let synack = w.poll().into_iter().find(Sent::syn).expect("SYN-ACK");
    w.send(
        &Seg::new((PEER, PPORT), (US, 80))
            .seq(PISS + 1)
            .ack(synack.seq + 1)
            .flags(TcpFlags::PSH)
            .data(b"opt")
            .ip_opts(&ip_opts),
    );
    w.poll();
    let s = w.stack.tcp_accept(l).unwrap().unwrap();
    assert_eq!(w.read_all(s), b"opt");
}

#[cfg(feature = "icmp")]
#[test]
fn tcp_conf_icmp_errors_reach_the_connection_must_54() {
    // MUST-54: an ICMP error is passed to the connection named by the quoted header (its
    // 4-tuple and an outstanding sequence number); one quoting nothing we have is not.
    let mut w = Wire::new(base_config());
    let (f, seg) = flow_with_data_in_flight(&mut w);
    let err = |quoted: &[u8]| {
        icmp_frame(&Icmpv4Repr::DstUnreachable {
            code: DstUnreachableCode(0),
            next_hop_mtu: 0,
            unused: 0,
            quoted,
        })
    };
    w.inject(IfaceId(0), &err(&seg.ip));
    // The same quote with a sequence number outside the flight (RFC 5927 §4.1).
    let mut stale = seg.ip.clone();
    let hl = usize::from(stale[0] & 0x0f) * 4;
    stale[hl + 4..hl + 8].copy_from_slice(&seg.seq.wrapping_sub(100_000).to_be_bytes());
    w.inject(IfaceId(0), &err(&stale));
    w.poll();
    let stats = w.stack.tcp_info(f.sock).unwrap().stats;
    assert_eq!((stats.icmp_errors, stats.icmp_ignored), (1, 1));
    assert_eq!(w.stack.counters().icmp.errors_delivered, 2);
    // A hard error (port unreachable) about an opening connection fails it.
    let now = w.now;
    let s = w
        .stack
        .tcp_connect(now, (PEER, 81), (Ipv4Addr::UNSPECIFIED, 0))
        .unwrap();
    let syn = w.poll().into_iter().find(Sent::syn).unwrap();
    w.inject(
        IfaceId(0),
        &icmp_frame(&Icmpv4Repr::DstUnreachable {
            code: DstUnreachableCode(3),
            next_hop_mtu: 0,
            unused: 0,
            quoted: &syn.ip,
        }),
    );
    w.poll();
    assert!(w.events.iter().any(|(_, e)| *e
        == Event::TcpFailed {
            socket: s,
            error: ConnError::Unreachable
        }));
}

#[cfg(feature = "icmp")]
#[test]
fn tcp_conf_source_quench_is_silently_discarded_must_55() {
    // MUST-55: a Source Quench changes nothing and is answered by nothing.
    let mut w = Wire::new(base_config());
    let (f, seg) = flow_with_data_in_flight(&mut w);
    let before = w.stack.tcp_info(f.sock).unwrap();
    let frames = w.frames.len();
    let events = w.events.len();
    w.inject(
        IfaceId(0),
        &icmp_frame(&Icmpv4Repr::Other {
            msg_type: Icmpv4Type::SOURCE_QUENCH,
            code: 0,
            rest_of_header: 0,
            data: &seg.ip,
        }),
    );
    w.poll();
    let after = w.stack.tcp_info(f.sock).unwrap();
    assert_eq!(w.frames.len(), frames, "nothing sent");
    assert_eq!(w.events.len(), events, "nothing reported");
    assert_eq!(after.send.cwnd, before.send.cwnd);
    assert_eq!(after.stats.icmp_errors, 0);
    assert_eq!(after.state, State::Established);
}

#[cfg(feature = "icmp")]
#[test]
fn tcp_conf_soft_icmp_errors_do_not_abort_must_56() {
    // MUST-56: Destination Unreachable codes 0, 1 and 5, Time Exceeded and Parameter
    // Problem never abort a connection, established or opening.
    let mut w = Wire::new(base_config());
    let (mut f, seg) = flow_with_data_in_flight(&mut w);
    let soft = |q: &[u8]| -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = [0u8, 1, 5]
            .iter()
            .map(|c| {
                icmp_frame(&Icmpv4Repr::DstUnreachable {
                    code: DstUnreachableCode(*c),
                    next_hop_mtu: 0,
                    unused: 0,
                    quoted: q,
                })
            })
            .collect();
        for c in [0u8, 1] {
            v.push(icmp_frame(&Icmpv4Repr::TimeExceeded {
                code: TimeExceededCode(c),
                unused: 0,
                quoted: q,
            }));
        }
        v.push(icmp_frame(&Icmpv4Repr::ParameterProblem {
            code: ParamProblemCode(0),
            pointer: 1,
            unused: 0,
            quoted: q,
        }));
        v
    };
    for fr in soft(&seg.ip) {
        w.inject(IfaceId(0), &fr);
    }
    w.poll();
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().stats.icmp_errors, 6);
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().state, State::Established);
    let sent = w.sent.clone();
    w.ack_all(&mut f, &sent, 65_535);
    w.poll();
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().unacked, 0);
    // An opening connection too: it keeps retransmitting its SYN and completes.
    let now = w.now;
    let s = w
        .stack
        .tcp_connect(now, (PEER, 81), (Ipv4Addr::UNSPECIFIED, 0))
        .unwrap();
    let syn = w.poll().into_iter().find(Sent::syn).unwrap();
    for fr in soft(&syn.ip) {
        w.inject(IfaceId(0), &fr);
    }
    let out = w.advance(Duration::from_secs(2));
    let again = out
        .iter()
        .find(|x| x.syn())
        .expect("the SYN is retransmitted");
    w.send(
        &Seg::new((PEER, 81), (again.src, again.sport))
            .seq(PISS)
            .ack(again.seq + 1)
            .flags(TcpFlags::SYN),
    );
    w.poll();
    assert_eq!(w.stack.tcp_info(s).unwrap().state, State::Established);
}

#[test]
fn tcp_conf_segments_to_broadcast_or_multicast_are_dropped_must_57() {
    // MUST-57: a SYN (or any segment) addressed to a broadcast or multicast address is
    // silently discarded, even with a listener on every address.
    let mut cfg = StackConfig::new(11);
    let mut ifc = InterfaceConfig::ethernet(US_MAC, US, 24);
    ifc.multicast.push(MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]));
    cfg.add_interface(ifc);
    let mut w = Wire::new(cfg);
    w.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    for dst in [
        Ipv4Addr::new(10, 0, 0, 255),
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 1),
    ] {
        w.send(
            &Seg::new((PEER, PPORT), (dst, 80))
                .seq(PISS)
                .flags(TcpFlags::SYN),
        );
        w.send(
            &Seg::new((PEER, PPORT), (dst, 80))
                .seq(PISS)
                .ack(5)
                .data(b"x"),
        );
    }
    let out = w.advance(Duration::from_secs(1));
    assert!(out.is_empty(), "{out:?}");
    let c = w.stack.counters().tcp;
    assert_eq!((c.passive_opens, c.rst_sent), (0, 0));
    assert!(c.rx_broadcast >= 4, "{c:?}");
}

// ---------------------------------------------------------------------------------------------
// §3.10.7.4 ACK aggregation; §3.9.1.2 PUSH.

#[test]
fn tcp_conf_queued_segments_get_one_ack_must_58_59() {
    // MUST-58/59: segments that arrive together are all processed before one ACK for all of
    // them is sent.
    let mut w = Wire::new(base_config());
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    let chunk = pattern(1460);
    for _ in 0..6 {
        w.send(&f.seg().data(&chunk));
        f.snd += 1460;
    }
    let out = w.poll();
    assert_eq!(out.len(), 1, "one ACK for the six segments: {out:?}");
    assert_eq!(out[0].ack, f.snd);
    assert_eq!(w.read_all(f.sock).len(), 6 * 1460);
}

#[test]
fn tcp_conf_data_is_never_held_forever_must_60() {
    // MUST-60: with no PUSH flag on SEND, data is never buffered indefinitely: a small write
    // held by Nagle goes once the outstanding data is acknowledged, and data held back by a
    // small window goes at the override timeout.
    let mut w = Wire::new(base_config());
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, b"first").unwrap();
    let a = w.poll();
    w.stack.tcp_send(now, f.sock, b"second").unwrap();
    assert!(w.poll().is_empty());
    w.ack_all(&mut f, &a, 65_535);
    let b = w.poll();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].payload, b"second");
    // A window of 100 octets and 5000 to send: it trickles out without any further call.
    w.ack_all(&mut f, &b, 100);
    w.poll();
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(5000)).unwrap();
    let mut got = 0usize;
    let mut ff = f;
    let mut answer = move |s: &Sent| {
        if ff.owns(s) && !s.payload.is_empty() {
            ff.rcv = s.end();
            vec![ff.seg().window(100)]
        } else {
            Vec::new()
        }
    };
    let out = w.run_until_with(now + Duration::from_secs(600), &mut answer);
    for s in &out {
        got += s.payload.len();
    }
    assert_eq!(got, 5000, "everything went out");
    assert_eq!(w.stack.tcp_info(f.sock).unwrap().unacked, 0);
}

#[test]
fn tcp_conf_last_queued_segment_carries_psh_must_61() {
    // MUST-61: the segment that empties the send queue carries PSH.
    let mut w = Wire::new(base_config());
    let (mut f, _) = w.accept(80, &opt_mss(1460));
    let now = w.now;
    w.stack.tcp_send(now, f.sock, &pattern(10_000)).unwrap();
    let mut all = Vec::new();
    for _ in 0..20 {
        let out = w.poll();
        if out.is_empty() {
            break;
        }
        w.ack_all(&mut f, &out, 65_535);
        all.extend(out);
    }
    let data: Vec<&Sent> = all.iter().filter(|s| !s.payload.is_empty()).collect();
    let total: usize = data.iter().map(|s| s.payload.len()).sum();
    assert_eq!(total, 10_000);
    let last = data.last().unwrap();
    assert!(last.flags.psh(), "the last segment carries PSH");
}

// ---------------------------------------------------------------------------------------------
// §3.9.2.3 Address validation.

#[test]
fn tcp_conf_syn_from_broadcast_or_multicast_source_is_ignored_must_63() {
    // MUST-63: a SYN from an invalid source address — here the limited broadcast and a
    // multicast address — is ignored: no state, no answer.
    let mut w = Wire::new(base_config());
    w.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    for src in [Ipv4Addr::BROADCAST, Ipv4Addr::new(224, 0, 0, 5)] {
        w.send(
            &Seg::new((src, PPORT), (US, 80))
                .seq(PISS)
                .flags(TcpFlags::SYN),
        );
    }
    assert!(w.poll().is_empty());
    assert_eq!(w.stack.counters().tcp.passive_opens, 0);
    assert_eq!(w.stack.tcp_connections(), 0);
}

#[test]
fn tcp_conf_syn_from_other_invalid_sources_is_ignored_must_63() {
    // MUST-63 with RFC 1122 §3.2.1.3: {net, -1} (directed broadcast), {0, 0} and {127, any}
    // are never valid sources of a SYN.
    let mut w = Wire::new(base_config());
    w.stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    for src in [
        Ipv4Addr::new(10, 0, 0, 255),
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(127, 0, 0, 1),
    ] {
        w.send(
            &Seg::new((src, PPORT), (US, 80))
                .seq(PISS)
                .flags(TcpFlags::SYN),
        );
    }
    let out = w.poll();
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(w.stack.counters().tcp.passive_opens, 0);
    assert_eq!(w.stack.tcp_connections(), 0);
}

// ---------------------------------------------------------------------------------------------
// §3.1, §3.2 Options again: alignment, MSS placement, encoding, padding.

#[test]
fn tcp_conf_options_are_read_at_any_alignment_must_64() {
    // MUST-64: options need not start on a word boundary: MSS at offset 1 and window scale
    // at offset 5 are both read.
    let mut w = Wire::new(base_config());
    let mut opts = vec![NOP];
    opts.extend(opt_mss(900));
    opts.extend([3, 3, 2]);
    let (f, synack) = w.accept(80, &opts);
    let info = w.stack.tcp_info(f.sock).unwrap();
    assert_eq!(info.send.mss, 900);
    assert_eq!(info.send.wscale, 2, "window scale at an odd offset");
    assert!(synack.option_list().iter().any(|(k, _)| *k == 3));
}

/// A connection that goes through most kinds of segment: handshake both ways, data both
/// ways, retransmission, window probe, FIN, RST. Returns everything the stack sent.
fn busy_exchange() -> Vec<Sent> {
    let mut w = Wire::new(with_tcp(|t| t.nodelay = true));
    let (mut a, _) = w.accept(80, &opt_mss(1460));
    let (mut b, _) = w.connect(443, &opt_mss(1460));
    let now = w.now;
    w.stack.tcp_send(now, a.sock, &pattern(3000)).unwrap();
    w.data(&mut b, b"request");
    let out = w.advance(Duration::from_millis(300));
    w.ack_all(&mut a, &out, 0);
    w.stack.tcp_send(w.now, a.sock, b"more").unwrap();
    let out = w.advance(Duration::from_secs(3));
    w.ack_all(&mut a, &out, 65_535);
    let now = w.now;
    w.stack.tcp_shutdown(now, a.sock).unwrap();
    w.stack.tcp_abort(now, b.sock).unwrap();
    w.advance(Duration::from_secs(1));
    w.sent
}

#[test]
fn tcp_conf_mss_only_on_syn_segments_must_65() {
    // MUST-65: the MSS option goes on SYNs only.
    let sent = busy_exchange();
    assert!(sent.len() > 10);
    for s in &sent {
        let has_mss = s.option_list().iter().any(|(k, _)| *k == 2);
        assert_eq!(has_mss, s.syn(), "{s:?}");
    }
}

#[test]
fn tcp_conf_options_sent_carry_their_length_must_68() {
    // MUST-68: every option sent other than EOL and NOP has a length field, and the lengths
    // tile the option area exactly (`option_list` checks each).
    let sent = busy_exchange();
    let mut seen = 0;
    for s in &sent {
        for (k, bytes) in s.option_list() {
            if k != EOL && k != NOP {
                assert_eq!(usize::from(bytes[1]), bytes.len());
                seen += 1;
            }
        }
    }
    assert!(seen >= 3, "SYN and SYN-ACK options were seen");
}

#[test]
fn tcp_conf_option_padding_is_zero_must_69() {
    // MUST-69: the header beyond the options (after EOL, or when the options do not fill a
    // word) is zeros. The stack's own option lists fill whole words; the emitter pads any
    // other list with zeros.
    for s in busy_exchange() {
        if let Some(p) = s.options.iter().position(|b| *b == EOL) {
            assert!(s.options[p..].iter().all(|b| *b == 0), "{s:?}");
        }
        assert_eq!(s.options.len() % 4, 0);
    }
    let mut options = TcpOptionList::new();
    options.push(TcpOption::Mss(1460));
    options.push(TcpOption::WindowScale(7));
    let repr = TcpRepr {
        src_port: 1,
        dst_port: 2,
        seq_number: 3,
        ack_number: 0,
        flags: TcpFlags::SYN,
        window_len: 1000,
        urgent_pointer: 0,
        options,
        options_trailer: &[],
        payload: &[],
    };
    let mut buf = vec![0xffu8; repr.buffer_len()];
    let n = repr.emit(US, PEER, &mut buf).unwrap();
    assert_eq!(n, 28, "7 octets of options padded to 8");
    assert_eq!(buf[27], 0, "the pad is zero");
}
