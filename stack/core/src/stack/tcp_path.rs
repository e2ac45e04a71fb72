//! A TCP connection's way out — interface, source address, the next hop's MAC address — worked
//! out once and used for every segment while nothing it came from has changed, and the writer
//! that puts a segment's Ethernet, IPv4 and TCP headers around its payload along it.
//!
//! A path is computed from the route table and the interface's ARP cache. It is used only
//! while both are as they were (each has a generation counter that every change bumps) and
//! while the ARP entry it used is alive (`ArpCache::lookup`'s rule: until its expiry time,
//! exclusive). So a segment goes out exactly as a route lookup and an ARP lookup made for it
//! would send it.

use crate::config::IfaceId;
use crate::tcp::conn::SegmentOut;
use crate::tcp::sockets::FourTuple;
use crate::time::Instant;
use weft_wire::checksum::Checksum;
use weft_wire::ipv4::IpProtocol;
use weft_wire::tcp::TcpFlags;
use weft_wire::{Ipv4Addr, MacAddr};

/// Ethernet II header length.
const ETH_LEN: usize = weft_wire::ethernet::HEADER_LEN;
/// IPv4 header without options.
const IP_LEN: usize = 20;
/// Ethernet, IPv4 and the fixed TCP header: the bytes before a segment's options.
pub(crate) const HEADERS_LEN: usize = ETH_LEN + IP_LEN + weft_wire::tcp::HEADER_LEN;

/// Everything about a connection's frames that does not change from segment to segment, but
/// the 4-tuple (the slot's) and the stack's TTL, which the writer is given.
///
/// 40 bytes, so that it shares one cache line with the rest of the slot's per-segment fields
/// (4-tuple, owner, dirty flag: `Slot`'s layout test): the two generations are kept as their
/// sum (both only grow, so the sum is unchanged exactly when neither changed), the Ethernet
/// header as its two addresses (the type is IPv4's), the header sums folded to 16 bits
/// (ones'-complement sums fold without changing what they add up to: RFC 1071 §2(D), deferred
/// carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpPath {
    /// `RouteTable::generation` plus the interface's `ArpCache::generation` when it was
    /// worked out.
    generations: u64,
    /// The next hop's ARP entry holds until then (exclusive).
    pub(crate) arp_expires: Instant,
    pub(crate) src: Ipv4Addr,
    /// The next hop's MAC address, then ours: the Ethernet header but its type.
    macs: [u8; 12],
    pub(crate) iface: IfaceId,
    pub(crate) mtu: u16,
    /// The IPv4 header words the same in every datagram: TTL and protocol, source,
    /// destination (no flags, no fragment offset), summed once and folded.
    ip_sum: u16,
    /// The TCP pseudo-header's addresses and protocol and the two ports, summed once and
    /// folded.
    tcp_sum: u16,
}

impl TcpPath {
    /// The path from `src`:`lport` to `remote`:`rport` out of `iface` to the next hop at
    /// `their_mac` (whose ARP entry holds until `arp_expires`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        (route_gen, arp_gen, arp_expires): (u64, u64, Instant),
        iface: IfaceId,
        mtu: u16,
        (our_mac, their_mac): (MacAddr, MacAddr),
        ttl: u8,
        (src, lport): (Ipv4Addr, u16),
        (remote, rport): (Ipv4Addr, u16),
    ) -> TcpPath {
        let mut macs = [0u8; 12];
        let (d, s) = macs.split_at_mut(6);
        d.copy_from_slice(&their_mac.0);
        s.copy_from_slice(&our_mac.0);
        let (ip_sum, tcp_sum) = fixed_sums(ttl, (src, lport), (remote, rport));
        TcpPath {
            generations: route_gen.wrapping_add(arp_gen),
            arp_expires,
            src,
            macs,
            iface,
            mtu,
            ip_sum,
            tcp_sum,
        }
    }

    /// True while the path is what a route lookup and an ARP lookup at `now` would give:
    /// neither table changed since and the ARP entry is alive.
    #[inline]
    pub(crate) fn valid(&self, now: Instant, route_gen: u64, arp_gen: u64) -> bool {
        self.generations == route_gen.wrapping_add(arp_gen) && now < self.arp_expires
    }

    /// The whole frame's length for `seg` with `payload_len` bytes, if the datagram fits the
    /// interface's MTU (segments are sized to it; anything longer takes the general IPv4 path,
    /// which fragments or counts it).
    #[inline]
    pub(crate) fn frame_len(&self, seg: &SegmentOut, payload_len: usize) -> Option<usize> {
        let datagram = IP_LEN + tcp_header_len(seg) + payload_len;
        (datagram <= usize::from(self.mtu)).then_some(ETH_LEN + datagram)
    }
}

/// The sums of the header words the same in every datagram of a connection, folded: the
/// IPv4 header's TTL and protocol, source and destination; the TCP pseudo-header's addresses
/// and protocol and the two ports.
fn fixed_sums(
    ttl: u8,
    (src, lport): (Ipv4Addr, u16),
    (remote, rport): (Ipv4Addr, u16),
) -> (u16, u16) {
    let mut ip = Checksum::new();
    ip.add_u16(ttl_protocol(ttl))
        .add_u32(u32::from(src))
        .add_u32(u32::from(remote));
    let mut tcp = Checksum::new();
    tcp.add_u32(u32::from(src))
        .add_u32(u32::from(remote))
        .add_u16(u16::from(IpProtocol::TCP.0))
        .add_u16(lport)
        .add_u16(rport);
    (ip.sum(), tcp.sum())
}

/// TTL and protocol (TCP), the IPv4 header's fifth word.
fn ttl_protocol(ttl: u8) -> u16 {
    u16::from_be_bytes([ttl, IpProtocol::TCP.0])
}

/// The length of `seg`'s TCP header: 20 bytes, 4 more for MSS, 4 for NOP and window scale
/// (a whole number of 32-bit words).
#[inline]
pub(crate) fn tcp_header_len(seg: &SegmentOut) -> usize {
    weft_wire::tcp::HEADER_LEN
        + if seg.mss.is_some() { 4 } else { 0 }
        + if seg.window_scale.is_some() { 4 } else { 0 }
}

/// The flags of `seg` (the one mapping from a [`SegmentOut`] to header flags).
#[inline]
pub(crate) fn flags(seg: &SegmentOut) -> TcpFlags {
    let mut f = TcpFlags::EMPTY;
    for (on, flag) in [
        (seg.fin, TcpFlags::FIN),
        (seg.syn, TcpFlags::SYN),
        (seg.rst, TcpFlags::RST),
        (seg.psh, TcpFlags::PSH),
        (seg.ack.is_some(), TcpFlags::ACK),
        (seg.urgent.is_some(), TcpFlags::URG),
    ] {
        if on {
            f |= flag;
        }
    }
    f
}

fn put16(b: &mut [u8; HEADERS_LEN], at: usize, v: u16) {
    if let Some(d) = b.get_mut(at..at + 2) {
        d.copy_from_slice(&v.to_be_bytes());
    }
}

fn put32(b: &mut [u8; HEADERS_LEN], at: usize, v: u32) {
    if let Some(d) = b.get_mut(at..at + 4) {
        d.copy_from_slice(&v.to_be_bytes());
    }
}

/// Writes `seg`'s frame along `path` into `frame`, whose `payload_len` bytes of payload are
/// already in place after the headers (at `HEADERS_LEN + options`): the Ethernet header, the
/// IPv4 header (identification `ident`, Diffserv `dscp`, no options, no fragmentation) with
/// its checksum, the TCP header with the options of a SYN (MSS, then NOP and window scale:
/// MUST-14, RFC 7323 §2.2) and the checksum over pseudo-header, header and payload (MUST-2).
/// The bytes equal those of weft-wire's `EthernetRepr`, `Ipv4Repr` and `TcpRepr` emitters
/// for the same fields. Returns the frame's length, `None` when `frame` is too short.
///
/// The ports, the remote address and `ttl` must be those `path` was made with: its header
/// sums include them (the stack passes the slot's 4-tuple, which never changes, and its own
/// TTL, set once). The source address is the path's (the 4-tuple's may be unspecified).
pub(crate) fn emit_tcp_frame(
    path: &TcpPath,
    (_, lport, remote, rport): FourTuple,
    seg: &SegmentOut,
    (ident, dscp, ttl): (u16, u8, u8),
    payload_len: usize,
    frame: &mut [u8],
) -> Option<usize> {
    debug_assert_eq!(
        fixed_sums(ttl, (path.src, lport), (remote, rport)),
        (path.ip_sum, path.tcp_sum),
        "the 4-tuple or TTL differs from the path's"
    );
    let header_len = tcp_header_len(seg);
    let options_len = header_len - weft_wire::tcp::HEADER_LEN;
    let tcp_len = header_len + payload_len;
    let total = ETH_LEN + IP_LEN + tcp_len;
    let (h, rest) = frame
        .get_mut(..total)?
        .split_first_chunk_mut::<HEADERS_LEN>()?;
    // Options (SYNs only): MSS, then NOP and window scale, as `TcpRepr` writes them.
    let mut at = 0;
    if let Some(mss) = seg.mss {
        let [hi, lo] = mss.to_be_bytes();
        rest.get_mut(at..at + 4)?.copy_from_slice(&[2, 4, hi, lo]);
        at += 4;
    }
    if let Some(shift) = seg.window_scale {
        rest.get_mut(at..at + 4)?.copy_from_slice(&[1, 3, 3, shift]);
    }
    h[..12].copy_from_slice(&path.macs);
    h[12..ETH_LEN].copy_from_slice(&weft_wire::ethernet::EtherType::IPV4.0.to_be_bytes());
    // RFC 791 §3.1: version 4, IHL 5, the type of service byte (Diffserv, ECN 0).
    let word0 = 0x4500 | (u16::from(dscp & 0x3f) << 2);
    let ip_total = (IP_LEN + tcp_len) as u16;
    let mut ip = Checksum::new();
    ip.add_u16(path.ip_sum)
        .add_u16(word0)
        .add_u16(ip_total)
        .add_u16(ident);
    put16(h, ETH_LEN, word0);
    put16(h, ETH_LEN + 2, ip_total);
    put16(h, ETH_LEN + 4, ident);
    put16(h, ETH_LEN + 6, 0);
    put16(h, ETH_LEN + 8, ttl_protocol(ttl));
    put16(h, ETH_LEN + 10, ip.finish());
    put32(h, ETH_LEN + 12, u32::from(path.src));
    put32(h, ETH_LEN + 16, u32::from(remote));
    // RFC 9293 §3.1: the TCP header.
    let t = ETH_LEN + IP_LEN;
    let ack = seg.ack.map_or(0, |a| a.0);
    // Data offset (4 bits), then the 12 flag bits.
    let word = ((header_len as u16 / 4) << 12) | flags(seg).bits();
    let urgent = seg.urgent.unwrap_or(0);
    put16(h, t, lport);
    put16(h, t + 2, rport);
    put32(h, t + 4, seg.seq.0);
    put32(h, t + 8, ack);
    put16(h, t + 12, word);
    put16(h, t + 14, seg.window);
    put16(h, t + 18, urgent);
    // The fixed header's words are summed from the values (a read straight after narrower
    // writes to the same bytes would stall); options and payload from the buffer.
    let mut c = Checksum::new();
    c.add_u16(path.tcp_sum)
        .add_u16(tcp_len as u16)
        .add_u32(seg.seq.0)
        .add_u32(ack)
        .add_u16(word)
        .add_u16(seg.window)
        .add_u16(urgent)
        .add_bytes(rest.get(..options_len + payload_len)?);
    put16(h, t + 16, c.finish());
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::seq::Seq;
    use alloc::vec;
    use alloc::vec::Vec;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};
    use weft_wire::ethernet::{EtherType, EthernetRepr};
    use weft_wire::ipv4::Ipv4Repr;
    use weft_wire::tcp::{TcpOption, TcpRepr};

    /// A value below `n`.
    fn below(rng: &mut ChaCha20Rng, n: u32) -> u32 {
        rng.next_u32() % n
    }

    /// True one time in `n`.
    fn one_in(rng: &mut ChaCha20Rng, n: u32) -> bool {
        below(rng, n) == 0
    }

    fn random_seg(rng: &mut ChaCha20Rng, payload_len: usize) -> SegmentOut {
        let syn = one_in(rng, 10);
        SegmentOut {
            seq: Seq(rng.next_u32()),
            ack: (!one_in(rng, 10)).then(|| Seq(rng.next_u32())),
            syn,
            fin: one_in(rng, 10),
            rst: one_in(rng, 20),
            psh: one_in(rng, 2),
            urgent: one_in(rng, 20).then(|| rng.next_u32() as u16),
            window: rng.next_u32() as u16,
            mss: (syn && !one_in(rng, 5)).then(|| rng.next_u32() as u16),
            window_scale: (syn && !one_in(rng, 3)).then(|| below(rng, 15) as u8),
            payload_offset: 0,
            payload_len,
        }
    }

    /// What the path and segment give a frame: addresses, ports, TTL.
    struct Ends {
        our_mac: MacAddr,
        their_mac: MacAddr,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        lport: u16,
        rport: u16,
        ttl: u8,
    }

    /// The same frame built by weft-wire's general emitters.
    fn reference(e: &Ends, seg: &SegmentOut, ident: u16, dscp: u8, payload: &[u8]) -> Vec<u8> {
        let mut options = weft_wire::tcp::TcpOptionList::new();
        if let Some(m) = seg.mss {
            options.push(TcpOption::Mss(m));
        }
        if let Some(s) = seg.window_scale {
            options.push(TcpOption::Nop);
            options.push(TcpOption::WindowScale(s));
        }
        let mut flags = TcpFlags::EMPTY;
        for (on, f) in [
            (seg.syn, TcpFlags::SYN),
            (seg.fin, TcpFlags::FIN),
            (seg.rst, TcpFlags::RST),
            (seg.psh, TcpFlags::PSH),
            (seg.ack.is_some(), TcpFlags::ACK),
            (seg.urgent.is_some(), TcpFlags::URG),
        ] {
            if on {
                flags |= f;
            }
        }
        let tcp = TcpRepr {
            src_port: e.lport,
            dst_port: e.rport,
            seq_number: seg.seq.0,
            ack_number: seg.ack.map_or(0, |a| a.0),
            flags,
            window_len: seg.window,
            urgent_pointer: seg.urgent.unwrap_or(0),
            options,
            options_trailer: &[],
            payload,
        };
        let mut tcp_bytes = vec![0u8; tcp.buffer_len()];
        tcp.emit(e.src, e.dst, &mut tcp_bytes).unwrap();
        let ip = Ipv4Repr {
            src: e.src,
            dst: e.dst,
            protocol: IpProtocol::TCP,
            ttl: e.ttl,
            dscp,
            ecn: 0,
            ident,
            reserved_flag: false,
            dont_frag: false,
            more_frags: false,
            frag_offset_units: 0,
            options: arrayvec::ArrayVec::new(),
            options_padding: &[],
            payload_len: tcp_bytes.len(),
        };
        let mut ip_bytes = vec![0u8; ip.buffer_len()];
        ip.emit(&mut ip_bytes).unwrap();
        ip_bytes[20..].copy_from_slice(&tcp_bytes);
        let eth = EthernetRepr {
            dst: e.their_mac,
            src: e.our_mac,
            vlans: arrayvec::ArrayVec::new(),
            ethertype: EtherType::IPV4,
        };
        let mut frame = vec![0u8; 14 + ip_bytes.len()];
        eth.emit(&mut frame).unwrap();
        frame[14..].copy_from_slice(&ip_bytes);
        frame
    }

    fn mac(rng: &mut ChaCha20Rng) -> MacAddr {
        let [a, b, c, d] = rng.next_u32().to_be_bytes();
        MacAddr([2, a, b, c, d, 1])
    }

    #[test]
    fn frames_equal_the_general_emitters() {
        // Seeded: every field, flag combination, SYN options and payload length; the frame
        // written along a path equals the one weft-wire's emitters build field by field.
        let seed = 0x7463_705f_7061_7468u64;
        println!("seed {seed:#x}");
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        for _ in 0..5000 {
            let e = Ends {
                our_mac: mac(&mut rng),
                their_mac: mac(&mut rng),
                src: Ipv4Addr::from(rng.next_u32()),
                dst: Ipv4Addr::from(rng.next_u32()),
                lport: rng.next_u32() as u16,
                rport: rng.next_u32() as u16,
                ttl: rng.next_u32() as u8,
            };
            let path = TcpPath::new(
                (0, 0, Instant::ZERO),
                IfaceId(0),
                1500,
                (e.our_mac, e.their_mac),
                e.ttl,
                (e.src, e.lport),
                (e.dst, e.rport),
            );
            let tuple = (e.src, e.lport, e.dst, e.rport);
            let payload_len = match below(&mut rng, 4) {
                0 => 0,
                1 => 1452,
                _ => 1 + below(&mut rng, 1452) as usize,
            };
            let payload: Vec<u8> = (0..payload_len).map(|_| rng.next_u32() as u8).collect();
            let seg = random_seg(&mut rng, payload_len);
            let (ident, dscp) = (rng.next_u32() as u16, below(&mut rng, 64) as u8);
            let want = reference(&e, &seg, ident, dscp, &payload);
            let len = path.frame_len(&seg, payload_len).expect("fits 1500");
            assert_eq!(len, want.len());
            let mut frame = vec![0xa5u8; len + 7];
            let at = HEADERS_LEN + tcp_header_len(&seg) - weft_wire::tcp::HEADER_LEN;
            frame[at..at + payload_len].copy_from_slice(&payload);
            let emit = |frame: &mut [u8]| {
                emit_tcp_frame(&path, tuple, &seg, (ident, dscp, e.ttl), payload_len, frame)
            };
            assert_eq!(emit(&mut frame), Some(len));
            assert_eq!(&frame[..len], &want[..], "{seg:?}");
            // Too short a buffer is refused, not written past.
            assert_eq!(emit(&mut frame[..len - 1]), None);
        }
    }

    #[test]
    fn frame_len_keeps_to_the_mtu() {
        let path = TcpPath::new(
            (0, 0, Instant::ZERO),
            IfaceId(0),
            576,
            (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])),
            64,
            (Ipv4Addr::new(10, 0, 0, 1), 1),
            (Ipv4Addr::new(10, 0, 0, 2), 2),
        );
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let seg = SegmentOut {
            mss: None,
            window_scale: None,
            syn: false,
            ..random_seg(&mut rng, 536)
        };
        assert_eq!(path.frame_len(&seg, 536), Some(14 + 576));
        assert_eq!(path.frame_len(&seg, 537), None);
        let syn = SegmentOut {
            syn: true,
            mss: Some(536),
            window_scale: Some(7),
            ..seg
        };
        assert_eq!(path.frame_len(&syn, 0), Some(14 + 48));
        assert_eq!(path.frame_len(&syn, 529), None);
    }
}

#[cfg(test)]
mod size_tests {
    /// docs/bounds.md: a connection's slot (its state machine, 4-tuple, owner and cached
    /// output path) is at most the 1,024 bytes it states.
    #[test]
    fn a_connection_slot_is_as_large_as_documented() {
        let slot = core::mem::size_of::<crate::tcp::sockets::Slot>();
        let conn = core::mem::size_of::<crate::tcp::conn::Conn>();
        let path = core::mem::size_of::<Option<super::TcpPath>>();
        println!("Slot {slot} bytes: Conn {conn}, cached path {path}");
        assert!(slot <= 1024, "{slot}");
        assert_eq!(
            path, 40,
            "the cached path fits the slot's last line with the rest"
        );
    }
}
