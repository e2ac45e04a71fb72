//! The fault tape: every fault decision that did something, keyed by what it hit — the link,
//! the direction, which frame it was and which occurrence of that frame — not by its
//! position in the run. Removing one entry therefore leaves the others aimed at the same
//! frames, which is what makes shrinking by deletion work.
//!
//! "Which frame" is a digest of what identifies a frame from one run to another
//! ([`FrameIdentity`]), not of all its bytes: a host's IPv4 identification counter, the IPv4
//! and TCP checksums, a TCP segment's window, its options after the SYN and the absolute
//! sequence numbers (a clock-driven ISN, RFC 6528) all change when an earlier fault is
//! removed, although the frame is the same. A TCP segment is known by its connection, its
//! sequence number relative to the sender's ISN, its flags and its data (a segment without
//! data, SYN or FIN by its acknowledgment number relative to the peer's ISN too), so its
//! first transmission is occurrence 0 and each retransmission the next one: "the response's
//! segment, lost twice" stays the same two entries whatever else is removed.
//!
//! Text format, one entry per line (`#` starts a comment):
//!
//! ```text
//! weft-tape 2
//! <link> <dir> <digest:16 hex> <occurrence> <fault>[,<fault>...]   # what the frame was
//! ```
//! with faults `drop`, `dup`, `reorder=<ns>`, `corrupt=<bit>`. Format 1 keyed frames by all
//! their bytes; its tapes are refused with a request to record them again.

use crate::fabric::{FNV_OFFSET, fnv};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use weft_wire::ethernet::{EtherType, EthernetFrame};
use weft_wire::ipv4::{IpProtocol, Ipv4Packet};
use weft_wire::tcp::TcpPacket;

/// The header line of the current text format.
const HEADER: &str = "weft-tape 2";
/// Directed TCP flows whose ISN [`FrameIdentity`] remembers; segments of flows beyond are
/// keyed by their sequence numbers as sent (and counted).
pub const MAX_KEYED_FLOWS: usize = 1 << 16;

/// What a fault decision hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameKey {
    /// Link index (in the order links were added).
    pub link: u32,
    /// 0: host → switch, 1: switch → host.
    pub dir: u8,
    /// FNV-1a of what identifies the frame ([`FrameIdentity`]).
    pub digest: u64,
    /// How many frames with these bytes went this way before (0 = the first).
    pub occurrence: u32,
}

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The frame is lost.
    Drop,
    /// The frame arrives twice.
    Duplicate,
    /// The frame is held back this long.
    Reorder {
        /// Extra delay in nanoseconds.
        delay_ns: u64,
    },
    /// One bit is flipped (bit `bit` of the frame, from the start, LSB first in each byte).
    Corrupt {
        /// Bit index.
        bit: u32,
    },
}

/// One tape entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapeEntry {
    /// What it hit.
    pub key: FrameKey,
    /// What happened to it.
    pub faults: Vec<Fault>,
    /// A one-line description of the frame (informational; not used for matching).
    pub describe: String,
}

/// A run's fault decisions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tape {
    /// Entries in the order they fired.
    pub entries: Vec<TapeEntry>,
}

/// A tape file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tape line {line}: {problem}")]
pub struct TapeError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub problem: String,
}

impl Tape {
    /// Entries by key, for replay.
    pub fn index(&self) -> BTreeMap<FrameKey, Vec<Fault>> {
        let mut m: BTreeMap<FrameKey, Vec<Fault>> = BTreeMap::new();
        for e in &self.entries {
            m.entry(e.key).or_default().extend(e.faults.iter().copied());
        }
        m
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing fired.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = format!("{HEADER}\n");
        for e in &self.entries {
            let faults: Vec<String> = e
                .faults
                .iter()
                .map(|f| match f {
                    Fault::Drop => "drop".to_string(),
                    Fault::Duplicate => "dup".to_string(),
                    Fault::Reorder { delay_ns } => format!("reorder={delay_ns}"),
                    Fault::Corrupt { bit } => format!("corrupt={bit}"),
                })
                .collect();
            s.push_str(&format!(
                "{} {} {:016x} {} {}",
                e.key.link,
                e.key.dir,
                e.key.digest,
                e.key.occurrence,
                faults.join(",")
            ));
            if !e.describe.is_empty() {
                s.push_str("  # ");
                s.push_str(&e.describe);
            }
            s.push('\n');
        }
        s
    }

    /// Parses the text form.
    pub fn from_text(text: &str) -> Result<Tape, TapeError> {
        let mut entries = Vec::new();
        let mut saw_header = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let (body, comment) = match raw.split_once('#') {
                Some((b, c)) => (b.trim(), c.trim()),
                None => (raw.trim(), ""),
            };
            if body.is_empty() {
                continue;
            }
            if !saw_header {
                if body == "weft-tape 1" {
                    return Err(TapeError {
                        line,
                        problem: "format 1 keyed frames by all their bytes, which this version \
                                  no longer does: record the tape again (`weft run … \
                                  --record-tape FILE`)"
                            .to_string(),
                    });
                }
                if body != HEADER {
                    return Err(TapeError {
                        line,
                        problem: format!("expected the header `{HEADER}`, found `{body}`"),
                    });
                }
                saw_header = true;
                continue;
            }
            let err = |problem: String| TapeError { line, problem };
            let f: Vec<&str> = body.split_whitespace().collect();
            let [link, dir, digest, occ, faults] = f.as_slice() else {
                return Err(err(format!(
                    "expected `<link> <dir> <digest> <occurrence> <faults>`, found {} fields",
                    f.len()
                )));
            };
            let key = FrameKey {
                link: link
                    .parse()
                    .map_err(|_| err(format!("link `{link}` is not a number")))?,
                dir: match *dir {
                    "0" => 0,
                    "1" => 1,
                    d => return Err(err(format!("direction `{d}` must be 0 or 1"))),
                },
                digest: u64::from_str_radix(digest, 16)
                    .map_err(|_| err(format!("digest `{digest}` is not 16 hex digits")))?,
                occurrence: occ
                    .parse()
                    .map_err(|_| err(format!("occurrence `{occ}` is not a number")))?,
            };
            let mut list = Vec::new();
            for f in faults.split(',') {
                let fault = match f.split_once('=') {
                    None if f == "drop" => Fault::Drop,
                    None if f == "dup" => Fault::Duplicate,
                    Some(("reorder", v)) => Fault::Reorder {
                        delay_ns: v
                            .parse()
                            .map_err(|_| err(format!("reorder delay `{v}` is not a number")))?,
                    },
                    Some(("corrupt", v)) => Fault::Corrupt {
                        bit: v
                            .parse()
                            .map_err(|_| err(format!("corrupt bit `{v}` is not a number")))?,
                    },
                    _ => {
                        return Err(err(format!(
                            "unknown fault `{f}` (expected drop, dup, reorder=<ns>, corrupt=<bit>)"
                        )));
                    }
                };
                list.push(fault);
            }
            entries.push(TapeEntry {
                key,
                faults: list,
                describe: comment.to_string(),
            });
        }
        if !saw_header {
            return Err(TapeError {
                line: 1,
                problem: format!("empty file: expected the header `{HEADER}`"),
            });
        }
        Ok(Tape { entries })
    }
}

/// A directed TCP flow: source address and port, destination address and port.
type Flow = (Ipv4Addr, u16, Ipv4Addr, u16);

/// The flow and ISN of a whole TCP SYN (without RST) in an IPv4 frame.
fn syn_of(frame: &[u8]) -> Option<(Flow, u32)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let whole = !ip.more_frags() && ip.frag_offset_bytes() == 0;
    if ip.protocol() != IpProtocol::TCP || !whole {
        return None;
    }
    let t = TcpPacket::new_checked(ip.payload()).ok()?;
    let flags = t.flags();
    (flags.syn() && !flags.rst()).then(|| {
        (
            (ip.src(), t.src_port(), ip.dst(), t.dst_port()),
            t.seq_number(),
        )
    })
}

/// What makes a frame the same frame in two runs whose faults differ: the digest a
/// [`FrameKey`] carries. Learns each directed TCP flow's ISN from its SYN.
#[derive(Debug, Default)]
pub(crate) struct FrameIdentity {
    isns: BTreeMap<Flow, u32>,
    /// SYNs of flows not remembered because [`MAX_KEYED_FLOWS`] were.
    pub(crate) untracked: u64,
}

impl FrameIdentity {
    /// The digest of what identifies `frame`; a frame that is not IPv4 (ARP) or does not
    /// parse is identified by all its bytes.
    /// Learns the ISN of a SYN first ([`FrameIdentity::observe`]).
    pub(crate) fn digest(&mut self, frame: &[u8]) -> u64 {
        self.observe(frame);
        self.digest_known(frame)
    }

    /// The digest of what identifies `frame` with the ISNs learnt so far.
    pub(crate) fn digest_known(&self, frame: &[u8]) -> u64 {
        self.ipv4_digest(frame)
            .unwrap_or_else(|| fnv(FNV_OFFSET, frame))
    }

    /// Learns the ISN of a TCP SYN (RFC 9293 §3.4.1: the SYN carries the sender's ISN), so
    /// that later segments of its flow are keyed relative to it.
    pub(crate) fn observe(&mut self, frame: &[u8]) {
        let Some((flow, isn)) = syn_of(frame) else {
            return;
        };
        self.learn(flow, isn);
    }

    fn ipv4_digest(&self, frame: &[u8]) -> Option<u64> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        if eth.ethertype() != EtherType::IPV4 {
            return None;
        }
        let raw = eth.payload();
        let ip = Ipv4Packet::new_checked(raw).ok()?;
        let hl = ip.header_len();
        let mut h = fnv(FNV_OFFSET, b"ipv4");
        h = fnv(h, frame.get(..14)?);
        // RFC 791 §3.1: version, IHL and type of service; flags, fragment offset, TTL and
        // protocol; addresses and options. Not the identification (a per-host counter) nor
        // the header checksum (which covers it).
        h = fnv(h, raw.get(0..2)?);
        h = fnv(h, raw.get(6..10)?);
        h = fnv(h, raw.get(12..hl)?);
        let whole = !ip.more_frags() && ip.frag_offset_bytes() == 0;
        if ip.protocol() == IpProtocol::TCP
            && whole
            && let Some(t) = self.tcp_digest(h, ip.src(), ip.dst(), ip.payload())
        {
            return Some(t);
        }
        // Anything else: the total length and every byte after the header.
        h = fnv(h, raw.get(2..4)?);
        Some(fnv(h, raw.get(hl..)?))
    }

    fn tcp_digest(&self, h: u64, src: Ipv4Addr, dst: Ipv4Addr, seg: &[u8]) -> Option<u64> {
        let t = TcpPacket::new_checked(seg).ok()?;
        let flags = t.flags();
        let flow = (src, t.src_port(), dst, t.dst_port());
        let (seq, ack) = self.relative(&t, flow);
        let payload = t.payload();
        let mut h = fnv(h, b"tcp");
        h = fnv(h, seg.get(0..4)?);
        h = fnv(h, &seq.to_be_bytes());
        h = fnv(h, &flags.bits().to_be_bytes());
        // A segment without data, SYN or FIN (an ACK, a RST) is what it acknowledges.
        if payload.is_empty() && !flags.syn() && !flags.fin() && flags.ack() {
            h = fnv(h, &ack.to_be_bytes());
        }
        // The SYN's options are part of it (RFC 9293 §3.7.1, RFC 7323 §2); later options
        // (timestamps, SACK blocks) change with timing.
        if flags.syn() {
            h = fnv(h, t.options_raw());
        }
        h = fnv(h, &(payload.len() as u64).to_be_bytes());
        Some(fnv(h, payload))
    }

    fn learn(&mut self, flow: Flow, isn: u32) {
        if self.isns.len() >= MAX_KEYED_FLOWS && !self.isns.contains_key(&flow) {
            self.untracked += 1;
            return;
        }
        self.isns.insert(flow, isn);
    }

    /// The segment's sequence number relative to its sender's ISN and its acknowledgment
    /// number relative to the peer's (each as sent when the ISN is unknown).
    fn relative<T: AsRef<[u8]>>(&self, t: &TcpPacket<T>, flow: Flow) -> (u32, u32) {
        let (src, sport, dst, dport) = flow;
        let isn = |f: &Flow| self.isns.get(f).copied().unwrap_or(0);
        (
            t.seq_number().wrapping_sub(isn(&flow)),
            t.ack_number().wrapping_sub(isn(&(dst, dport, src, sport))),
        )
    }

    /// [`describe`], with a TCP segment's flags, sequence and acknowledgment numbers
    /// relative to the ISNs, and data length.
    pub(crate) fn describe(&self, frame: &[u8]) -> String {
        let mut d = describe(frame);
        let tcp = EthernetFrame::new_checked(frame)
            .ok()
            .filter(|e| e.ethertype() == EtherType::IPV4)
            .and_then(|e| {
                let ip = Ipv4Packet::new_checked(e.payload()).ok()?;
                let whole = !ip.more_frags() && ip.frag_offset_bytes() == 0;
                (ip.protocol() == IpProtocol::TCP && whole).then_some(())?;
                let t = TcpPacket::new_checked(ip.payload()).ok()?;
                let flow = (ip.src(), t.src_port(), ip.dst(), t.dst_port());
                let (seq, ack) = self.relative(&t, flow);
                let f = t.flags();
                let names: String = [
                    (f.syn(), 'S'),
                    (f.fin(), 'F'),
                    (f.rst(), 'R'),
                    (f.psh(), 'P'),
                    (f.ack(), '.'),
                ]
                .iter()
                .filter_map(|&(on, c)| on.then_some(c))
                .collect();
                Some(format!(
                    " [{names}] seq +{seq} ack +{ack} data {}",
                    t.payload().len()
                ))
            });
        if let Some(t) = tcp {
            d.push_str(&t);
        }
        d
    }
}

/// A short description of a frame for humans reading a tape.
pub(crate) fn describe(frame: &[u8]) -> String {
    use weft_wire::ipv4::Ipv4Packet;
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return format!("{} bytes, not Ethernet", frame.len());
    };
    match eth.ethertype() {
        weft_wire::ethernet::EtherType::ARP => "arp".to_string(),
        weft_wire::ethernet::EtherType::IPV4 => match Ipv4Packet::new_checked(eth.payload()) {
            Ok(ip) => {
                let p = ip.payload();
                let proto = ip.protocol();
                let ports = match (p.get(0..2), p.get(2..4)) {
                    (Some(&[s0, s1]), Some(&[d0, d1]))
                        if proto == weft_wire::ipv4::IpProtocol::UDP
                            || proto == weft_wire::ipv4::IpProtocol::TCP =>
                    {
                        format!(
                            " ports {} > {}",
                            u16::from_be_bytes([s0, s1]),
                            u16::from_be_bytes([d0, d1])
                        )
                    }
                    _ => String::new(),
                };
                format!(
                    "{proto} {} > {}{ports} len {}",
                    ip.src(),
                    ip.dst(),
                    ip.total_len()
                )
            }
            Err(_) => "ipv4 (malformed)".to_string(),
        },
        other => format!("ethertype {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use weft_wire::ipv4::Ipv4Repr;
    use weft_wire::tcp::{TcpFlags, TcpOption, TcpRepr};

    const A: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 0, 1), 7);
    const B: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 0, 10), 40000);

    /// An Ethernet frame with one TCP segment from `src` to `dst`.
    fn tcp(
        ident: u16,
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        (seq, ack): (u32, u32),
        flags: TcpFlags,
        window: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut options = weft_wire::tcp::TcpOptionList::new();
        if flags.syn() {
            options.push(TcpOption::Mss(1460));
        }
        let seg = TcpRepr {
            src_port: src.1,
            dst_port: dst.1,
            seq_number: seq,
            ack_number: ack,
            flags,
            window_len: window,
            urgent_pointer: 0,
            options,
            options_trailer: &[],
            payload,
        };
        let ip = Ipv4Repr {
            src: src.0,
            dst: dst.0,
            protocol: IpProtocol::TCP,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident,
            reserved_flag: false,
            dont_frag: true,
            more_frags: false,
            frag_offset_units: 0,
            options: Default::default(),
            options_padding: &[],
            payload_len: seg.buffer_len(),
        };
        let mut f = vec![0u8; 14 + ip.buffer_len()];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        ip.emit(&mut f[14..]).unwrap();
        seg.emit(src.0, dst.0, &mut f[34..]).unwrap();
        f
    }

    /// Opens A → B with ISNs `a` and `b` and returns A's data segment at relative sequence
    /// number `rel` and B's pure ACK of it, with the given IP identifications, ACK numbers
    /// and windows: their digests.
    fn connection(a: u32, b: u32, ident: u16, window: u16, rel: u32) -> (u64, u64) {
        let mut id = FrameIdentity::default();
        let syn = TcpFlags::SYN;
        let mut synack = TcpFlags::SYN;
        synack.insert(TcpFlags::ACK);
        id.digest(&tcp(ident, A, B, (a, 0), syn, 65535, &[]));
        id.digest(&tcp(ident + 1, B, A, (b, a + 1), synack, 65535, &[]));
        let data = id.digest(&tcp(
            ident + 2,
            A,
            B,
            (a + rel, b + 1 + u32::from(window)),
            TcpFlags::ACK,
            window,
            b"request",
        ));
        let ack = id.digest(&tcp(
            ident + 3,
            B,
            A,
            (b + 1, a + rel + 7),
            TcpFlags::ACK,
            window,
            &[],
        ));
        (data, ack)
    }

    #[test]
    fn a_tcp_segment_is_known_by_its_place_in_the_stream_not_by_counters_and_clocks() {
        // Other ISNs (a clock-driven ISN moves when a connection starts later), other IP
        // identifications (a per-host counter), windows and data segments' ACK numbers:
        // the same segments.
        let one = connection(1_000, 9_000, 10, 1000, 1);
        let two = connection(77_777, 123_456, 500, 2000, 1);
        assert_eq!(one, two);
        // Another place in the stream: other segments.
        let three = connection(1_000, 9_000, 10, 1000, 501);
        assert_ne!(one.0, three.0);
        assert_ne!(one.1, three.1, "a pure ACK is what it acknowledges");
    }

    #[test]
    fn frames_other_than_tcp_ignore_the_ip_identification_only() {
        let mut id = FrameIdentity::default();
        let mut f = tcp(1, A, B, (5, 0), TcpFlags::SYN, 65535, &[]);
        // Make it UDP (the TCP bytes as its payload, nothing parses them).
        f[14 + 9] = 17;
        let d = id.digest(&f);
        let mut g = f.clone();
        g[14 + 5] ^= 0x33; // identification
        g[14 + 11] ^= 0x33; // header checksum
        assert_eq!(id.digest(&g), d);
        let mut h = f.clone();
        h[40] ^= 1; // payload
        assert_ne!(id.digest(&h), d);
        // Not IPv4: all the bytes.
        let arp = [0xffu8; 42];
        assert_eq!(id.digest(&arp), fnv(FNV_OFFSET, &arp));
    }

    #[test]
    fn flows_past_the_bound_are_counted_and_keyed_as_sent() {
        let mut id = FrameIdentity::default();
        for i in 0..MAX_KEYED_FLOWS as u32 + 3 {
            let host = Ipv4Addr::from(0x0a00_0000 + (i >> 16));
            let port = (i & 0xffff) as u16;
            id.learn((host, port, A.0, A.1), i);
        }
        assert_eq!(id.isns.len(), MAX_KEYED_FLOWS);
        assert_eq!(id.untracked, 3);
    }

    #[test]
    fn tape_text_round_trips_and_errors_name_the_line() {
        let t = Tape {
            entries: vec![
                TapeEntry {
                    key: FrameKey {
                        link: 3,
                        dir: 1,
                        digest: 0xdead_beef_0123_4567,
                        occurrence: 2,
                    },
                    faults: vec![Fault::Duplicate, Fault::Corrupt { bit: 77 }],
                    describe: "udp".to_string(),
                },
                TapeEntry {
                    key: FrameKey {
                        link: 0,
                        dir: 0,
                        digest: 1,
                        occurrence: 0,
                    },
                    faults: vec![Fault::Drop, Fault::Reorder { delay_ns: 5 }],
                    describe: String::new(),
                },
            ],
        };
        assert_eq!(Tape::from_text(&t.to_text()), Ok(t));
        let e = Tape::from_text("weft-tape 2\n0 0 00 0 drop\n1 2 00 0 drop\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.problem.contains("direction"), "{e}");
        let e = Tape::from_text("# old\nweft-tape 1\n0 0 00 0 drop\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.problem.contains("record the tape again"), "{e}");
        let e = Tape::from_text("weft-tape 2\n0 0 00 0 explode\n").unwrap_err();
        assert!(e.problem.contains("unknown fault `explode`"), "{e}");
        assert_eq!(Tape::from_text("").unwrap_err().line, 1);
    }
}
