//! weft-wire against etherparse 0.21 over mutated valid frames.
//!
//! Base frames: every Ethernet frame of the real captures in ../shared/captures/tcpdump, and
//! frames built from valid-by-construction `Repr`s (the `Arbitrary` impls of EthernetRepr,
//! ArpRepr, Ipv4Repr, TcpRepr, UdpRepr and Icmpv4Repr emitted into one frame). Each base frame
//! is compared as it is, truncated at every header boundary (and one byte either side), and
//! mutated by a seeded ChaCha stream: single bit flips, random byte sets, edits of length
//! fields (IPv4 IHL and total length, TCP data offset, UDP length, IPv4 and TCP option length
//! octets, ARP address lengths) and of type fields (EtherType, IP protocol, ICMP type).
//!
//! Every case goes through `weft_wire::fuzzing::differential::compare`. The test prints the
//! agreement matrix and the allowed divergences seen, and asserts: no field mismatch, no
//! unclassified divergence, `SlicedPacket::from_ethernet` consistent with the layer chain, no
//! checksum verdict that differs, and every column that should be populated populated.
//!
//! Set WEFT_DIFF_SEED to replay another stream, WEFT_DIFF_MUTATIONS for more mutations per frame.

// Test code: a panic is a failure report, and indexes are checked by construction.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use arbitrary::Unstructured;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use weft_pcap::{NetworkProto, Reader};
use weft_wire::fuzzing::differential::{
    AllowedDivergence, ChecksumVerdict, EtherparseError, Layer, Outcome, Side, SlicedPacketCheck,
    Verdict, WeftError, compare,
};
use weft_wire::icmpv4::Icmpv4Type;
use weft_wire::ipv4::IpProtocol;
use weft_wire::{
    ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Repr, Ipv4Packet, Ipv4Repr, TcpRepr,
    UdpRepr,
};

const DEFAULT_SEED: u64 = 0xd1ff_e7e1;
/// Random mutations of each base frame (on top of the frame itself and its truncations);
/// WEFT_DIFF_MUTATIONS overrides it for a longer run.
const MUTATIONS_PER_FRAME: usize = 24;

fn mutations_per_frame() -> usize {
    std::env::var("WEFT_DIFF_MUTATIONS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(MUTATIONS_PER_FRAME)
}
/// Frames generated from Reprs.
const GENERATED: usize = 3_000;

fn seed() -> u64 {
    weft_tests::seed_from_env("WEFT_DIFF_SEED", DEFAULT_SEED)
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/tcpdump")
}

/// Every Ethernet frame of every capture, in file order.
fn capture_frames() -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(captures_dir())
        .expect("the shared captures directory exists beside the repository")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    let mut frames = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let Ok(reader) = Reader::new(&bytes) else {
            continue;
        };
        for record in reader {
            // A corrupt record ends the file; the records before it are kept.
            let Ok(record) = record else { break };
            if let Ok((NetworkProto::Ethernet, frame)) = record.network_payload() {
                frames.push(frame.to_vec());
            }
        }
    }
    frames
}

/// A frame built from Reprs drawn from `u`: Ethernet (0-2 VLAN tags) carrying ARP, or IPv4
/// (with options half the time) carrying TCP, UDP, ICMP or an opaque payload.
fn generated_frame(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    let mut eth: EthernetRepr = u.arbitrary()?;
    let kind = u.int_in_range(0..=7u8)?;
    let mut frame = if kind == 0 {
        eth.ethertype = EtherType::ARP;
        let arp: ArpRepr = u.arbitrary()?;
        let mut f = vec![0u8; eth.header_len() + arp.buffer_len()];
        let n = eth.emit(&mut f).unwrap();
        arp.emit(&mut f[n..]).unwrap();
        f
    } else {
        eth.ethertype = EtherType::IPV4;
        let mut ip: Ipv4Repr<'_> = u.arbitrary()?;
        if u.ratio(7, 8)? {
            ip.more_frags = false;
            ip.frag_offset_units = 0;
        }
        let (src, dst) = (ip.src, ip.dst);
        let (protocol, body) = match kind {
            1..=3 => {
                let t: TcpRepr<'_> = u.arbitrary()?;
                let mut b = vec![0u8; t.buffer_len()];
                t.emit(src, dst, &mut b).unwrap();
                (IpProtocol::TCP, b)
            }
            4 | 5 => {
                let d: UdpRepr<'_> = u.arbitrary()?;
                let mut b = vec![0u8; d.buffer_len()];
                d.emit(src, dst, &mut b).unwrap();
                (IpProtocol::UDP, b)
            }
            6 => {
                let m: Icmpv4Repr<'_> = u.arbitrary()?;
                let mut b = vec![0u8; m.buffer_len()];
                m.emit(&mut b).unwrap();
                (IpProtocol::ICMP, b)
            }
            _ => {
                let n = u.int_in_range(0..=64)?;
                (u.arbitrary()?, u.bytes(n)?.to_vec())
            }
        };
        ip.protocol = protocol;
        ip.payload_len = body.len();
        let eh = eth.header_len();
        let ih = ip.header_len();
        let mut f = vec![0u8; eh + ih + body.len()];
        eth.emit(&mut f).unwrap();
        ip.emit(&mut f[eh..]).unwrap();
        f[eh + ih..].copy_from_slice(&body);
        f
    };
    // Links pad short frames to the 60-byte minimum (IEEE 802.3 §4.2.3.3), with zeros or not.
    if frame.len() < 60 && u.ratio(1, 2)? {
        let fill: u8 = if u.ratio(1, 2)? { 0 } else { u.arbitrary()? };
        frame.resize(60, fill);
    }
    Ok(frame)
}

fn generated_frames(rng: &mut ChaCha8Rng, n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    let mut data = vec![0u8; 4096];
    while out.len() < n {
        // At least 512 bytes: TcpOption's generator never returns once its input is exhausted
        // (it draws kinds until one is untyped, and an empty input yields 0 forever), and the
        // Reprs drawn before it consume less than that.
        let len = rng.gen_range(512..data.len());
        rng.fill_bytes(&mut data[..len]);
        if let Ok(f) = generated_frame(&mut Unstructured::new(&data[..len])) {
            out.push(f);
        }
    }
    out
}

/// Where a base frame's headers and length fields are (as far as its bytes allow).
#[derive(Debug, Default)]
struct Landmarks {
    /// Offsets of EtherType fields: 12, then after each VLAN tag.
    type_fields: Vec<usize>,
    /// Header boundaries, for truncation.
    boundaries: Vec<usize>,
    /// The IPv4 header's offset.
    ipv4: Option<usize>,
    /// ARP's offset.
    arp: Option<usize>,
    /// The transport header's offset and protocol.
    transport: Option<(usize, IpProtocol)>,
    /// Offsets of option length octets (IPv4 and TCP).
    option_lengths: Vec<usize>,
}

/// Offsets (relative to `opts`) of the length octets of an option area laid out as IPv4 and
/// TCP options are: 0 ends it, 1 is one byte, anything else has a length octet.
fn option_length_octets(opts: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&k) = opts.get(i) {
        match k {
            0 => break,
            1 => i += 1,
            _ => {
                let Some(&l) = opts.get(i + 1) else { break };
                out.push(i + 1);
                if l < 2 {
                    break;
                }
                i += usize::from(l);
            }
        }
    }
    out
}

fn landmarks(f: &[u8]) -> Landmarks {
    let mut lm = Landmarks::default();
    lm.boundaries.extend([0, 6, 12, 14]);
    lm.type_fields.push(12);
    let mut at = 12;
    while let Some(t) = f.get(at..at + 2) {
        if !EtherType(u16::from_be_bytes([t[0], t[1]])).is_vlan_tpid() || at >= 20 {
            break;
        }
        at += 4;
        lm.type_fields.push(at);
        lm.boundaries.push(at + 2);
    }
    let Ok(frame) = EthernetFrame::new_checked(f) else {
        return lm;
    };
    let l2 = frame.header_len();
    match frame.ethertype() {
        EtherType::ARP => {
            lm.arp = Some(l2);
            lm.boundaries.extend([l2 + 8, l2 + 28]);
        }
        EtherType::IPV4 => {
            lm.ipv4 = Some(l2);
            lm.boundaries.extend([l2 + 1, l2 + 20]);
            let Some(&vihl) = f.get(l2) else { return lm };
            let hl = usize::from(vihl & 0x0f) * 4;
            lm.boundaries.push(l2 + hl);
            if let Some(opts) = f.get(l2 + 20..l2 + hl) {
                lm.option_lengths
                    .extend(option_length_octets(opts).into_iter().map(|o| l2 + 20 + o));
            }
            let Ok(ip) = Ipv4Packet::new_checked(&f[l2..]) else {
                return lm;
            };
            let t = l2 + ip.header_len();
            lm.boundaries.push(l2 + usize::from(ip.total_len()));
            lm.transport = Some((t, ip.protocol()));
            lm.boundaries.extend([t + 4, t + 8]);
            if ip.protocol() == IpProtocol::TCP {
                lm.boundaries.extend([t + 13, t + 20]);
                if let Some(&d) = f.get(t + 12) {
                    let th = usize::from(d >> 4) * 4;
                    lm.boundaries.push(t + th);
                    if let Some(opts) = f.get(t + 20..t + th) {
                        lm.option_lengths
                            .extend(option_length_octets(opts).into_iter().map(|o| t + 20 + o));
                    }
                }
            }
        }
        _ => {}
    }
    lm
}

/// How a case was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Mutation {
    None,
    Truncate,
    BitFlip,
    ByteSet,
    LengthField,
    TypeField,
    /// Two or three of the above, one after the other.
    Stacked,
}

/// A position, mostly inside the headers.
fn position(rng: &mut ChaCha8Rng, f: &[u8], lm: &Landmarks) -> usize {
    let headers_end = lm
        .boundaries
        .iter()
        .copied()
        .filter(|&b| b <= f.len())
        .max()
        .unwrap_or(f.len())
        .max(1);
    if rng.gen_ratio(3, 4) {
        rng.gen_range(0..headers_end.min(f.len()).max(1))
    } else {
        rng.gen_range(0..f.len().max(1))
    }
}

fn put16(f: &mut [u8], at: usize, v: u16) {
    if let Some(s) = f.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

fn get16(f: &[u8], at: usize) -> u16 {
    f.get(at..at + 2)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]))
}

/// A value near `v` or at an edge, for a 16-bit length field.
fn length_value(rng: &mut ChaCha8Rng, v: u16, available: usize, edges: &[u16]) -> u16 {
    match rng.gen_range(0..6) {
        0 => *edges.get(rng.gen_range(0..edges.len())).unwrap_or(&0),
        1 => v.wrapping_sub(rng.gen_range(1..=4)),
        2 => v.wrapping_add(rng.gen_range(1..=4)),
        3 => available.min(0xffff) as u16,
        4 => (available + 1).min(0xffff) as u16,
        _ => rng.r#gen(),
    }
}

/// Edits one length field of `f`.
fn edit_length(rng: &mut ChaCha8Rng, f: &mut [u8], lm: &Landmarks) {
    let mut choices: Vec<u8> = Vec::new();
    if lm.ipv4.is_some() {
        choices.extend([0, 1]);
    }
    if lm.transport.is_some_and(|(_, p)| p == IpProtocol::TCP) {
        choices.push(2);
    }
    if lm.transport.is_some_and(|(_, p)| p == IpProtocol::UDP) {
        choices.push(3);
    }
    if !lm.option_lengths.is_empty() {
        choices.extend([4, 4]);
    }
    if lm.arp.is_some() {
        choices.push(5);
    }
    let Some(&which) = choices.get(rng.gen_range(0..choices.len().max(1))) else {
        return;
    };
    match which {
        0 => {
            // IPv4 IHL: any nibble, or one word either side.
            let at = lm.ipv4.unwrap();
            if let Some(b) = f.get_mut(at) {
                let ihl = *b & 0x0f;
                let new = match rng.gen_range(0..3) {
                    0 => ihl.wrapping_sub(1) & 0x0f,
                    1 => (ihl + 1) & 0x0f,
                    _ => rng.gen_range(0..16),
                };
                *b = (*b & 0xf0) | new;
            }
        }
        1 => {
            // IPv4 total length.
            let at = lm.ipv4.unwrap();
            let v = get16(f, at + 2);
            let hl = f.get(at).map_or(20, |b| u16::from(b & 0x0f) * 4);
            let avail = f.len().saturating_sub(at);
            let nv = length_value(
                rng,
                v,
                avail,
                &[0, 1, 19, 20, hl.wrapping_sub(1), hl, 0xffff],
            );
            put16(f, at + 2, nv);
        }
        2 => {
            // TCP data offset.
            let (t, _) = lm.transport.unwrap();
            if let Some(b) = f.get_mut(t + 12) {
                let d = *b >> 4;
                let new = match rng.gen_range(0..3) {
                    0 => d.wrapping_sub(1) & 0x0f,
                    1 => (d + 1) & 0x0f,
                    _ => rng.gen_range(0..16),
                };
                *b = (*b & 0x0f) | (new << 4);
            }
        }
        3 => {
            // UDP length.
            let (t, _) = lm.transport.unwrap();
            let v = get16(f, t + 4);
            let avail = f.len().saturating_sub(t);
            let nv = length_value(rng, v, avail, &[0, 1, 7, 8, 9]);
            put16(f, t + 4, nv);
        }
        4 => {
            // An option length octet.
            let at = lm.option_lengths[rng.gen_range(0..lm.option_lengths.len())];
            if let Some(b) = f.get_mut(at) {
                *b = match rng.gen_range(0..5) {
                    0 => rng.gen_range(0..=3),
                    1 => b.wrapping_sub(1),
                    2 => b.wrapping_add(1),
                    3 => b.wrapping_add(rng.gen_range(2..=16)),
                    _ => rng.r#gen(),
                };
            }
        }
        _ => {
            // ARP hardware or protocol address length.
            let at = lm.arp.unwrap() + rng.gen_range(4..=5);
            if let Some(b) = f.get_mut(at) {
                *b = if rng.gen_ratio(1, 2) {
                    rng.gen_range(0..=16)
                } else {
                    rng.r#gen()
                };
            }
        }
    }
}

/// Edits one type field: an EtherType, the IP protocol or the ICMP type and code.
fn edit_type(rng: &mut ChaCha8Rng, f: &mut [u8], lm: &Landmarks) {
    const ETHERTYPES: [u16; 12] = [
        0x0000, 0x002e, 0x05dc, 0x05ff, 0x0600, 0x0800, 0x0806, 0x86dd, 0x88e5, 0x8100, 0x88a8,
        0x9100,
    ];
    const PROTOCOLS: [u8; 7] = [1, 2, 6, 17, 51, 58, 0];
    let icmp = lm.transport.filter(|&(_, p)| p == IpProtocol::ICMP);
    match rng.gen_range(0..4) {
        0 | 1 if !lm.type_fields.is_empty() => {
            let at = lm.type_fields[rng.gen_range(0..lm.type_fields.len())];
            let v = if rng.gen_ratio(7, 8) {
                ETHERTYPES[rng.gen_range(0..ETHERTYPES.len())]
            } else {
                rng.r#gen()
            };
            put16(f, at, v);
        }
        2 if lm.ipv4.is_some() => {
            let at = lm.ipv4.unwrap() + 9;
            if let Some(b) = f.get_mut(at) {
                *b = PROTOCOLS[rng.gen_range(0..PROTOCOLS.len())];
            }
        }
        _ => {
            if let Some((t, _)) = icmp {
                // Timestamp and Timestamp Reply have a length rule in etherparse.
                let ty = match rng.gen_range(0..4) {
                    0 => Icmpv4Type::TIMESTAMP.0,
                    1 => Icmpv4Type::TIMESTAMP_REPLY.0,
                    _ => rng.r#gen(),
                };
                if let Some(b) = f.get_mut(t) {
                    *b = ty;
                }
                if let Some(b) = f.get_mut(t + 1) {
                    *b = if rng.gen_ratio(3, 4) { 0 } else { rng.r#gen() };
                }
            } else if let Some(&at) = lm.type_fields.first() {
                put16(f, at, ETHERTYPES[rng.gen_range(0..ETHERTYPES.len())]);
            }
        }
    }
}

fn mutate_once(rng: &mut ChaCha8Rng, f: &mut [u8], lm: &Landmarks) -> Mutation {
    let kind = match rng.gen_range(0..10) {
        0..=2 => Mutation::BitFlip,
        3 | 4 => Mutation::ByteSet,
        5..=7 => Mutation::LengthField,
        _ => Mutation::TypeField,
    };
    match kind {
        Mutation::BitFlip => {
            if !f.is_empty() {
                let at = position(rng, f, lm);
                f[at] ^= 1 << rng.gen_range(0..8);
            }
        }
        Mutation::ByteSet => {
            for _ in 0..rng.gen_range(1..=4) {
                if !f.is_empty() {
                    let at = position(rng, f, lm);
                    f[at] = rng.r#gen();
                }
            }
        }
        Mutation::LengthField => edit_length(rng, f, lm),
        _ => edit_type(rng, f, lm),
    }
    kind
}

fn mutate(rng: &mut ChaCha8Rng, base: &[u8], lm: &Landmarks) -> (Mutation, Vec<u8>) {
    let mut f = base.to_vec();
    if rng.gen_ratio(1, 5) {
        for _ in 0..rng.gen_range(2..=3) {
            mutate_once(rng, &mut f, lm);
        }
        if rng.gen_ratio(1, 2) {
            // And cut at a random point.
            let n = rng.gen_range(0..=f.len());
            f.truncate(n);
        }
        (Mutation::Stacked, f)
    } else {
        let m = mutate_once(rng, &mut f, lm);
        (m, f)
    }
}

/// The row of the agreement matrix for one layer.
#[derive(Debug, Default)]
struct Row {
    agree: usize,
    both_reject: usize,
    only_weft: BTreeMap<AllowedDivergence, usize>,
    only_etherparse: BTreeMap<AllowedDivergence, usize>,
    mismatch: usize,
    unclassified: usize,
}

#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    by_mutation: BTreeMap<Mutation, usize>,
    rows: BTreeMap<Layer, Row>,
    divergences: BTreeMap<AllowedDivergence, usize>,
    both_reject_kinds: BTreeMap<(Layer, String, String), usize>,
    checksums: BTreeMap<(Layer, ChecksumVerdict, Option<ChecksumVerdict>), usize>,
    sliced: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

/// The variant name of a Debug string: "Truncated { len: 3 }" -> "Truncated".
fn head(s: &str) -> &str {
    s.split([' ', '(', '{']).next().unwrap_or(s)
}

fn weft_kind(e: &WeftError) -> String {
    let (outer, inner) = match e {
        WeftError::Ethernet(e) => ("Ethernet", format!("{e:?}")),
        WeftError::Arp(e) => ("Arp", format!("{e:?}")),
        WeftError::Ipv4(e) => ("Ipv4", format!("{e:?}")),
        WeftError::Tcp(e) => ("Tcp", format!("{e:?}")),
        WeftError::Udp(e) => ("Udp", format!("{e:?}")),
        WeftError::Icmpv4(e) => ("Icmpv4", format!("{e:?}")),
    };
    format!("{outer}::{}", head(&inner))
}

fn etherparse_kind(e: &EtherparseError) -> String {
    match e {
        EtherparseError::Len(l) => format!("Len({:?}, {:?})", l.layer, l.len_source),
        EtherparseError::Ipv4(h) => format!("Ipv4::{}", head(&format!("{h:?}"))),
        EtherparseError::IpAuth(h) => format!("IpAuth::{}", head(&format!("{h:?}"))),
        EtherparseError::Tcp(h) => format!("Tcp::{}", head(&format!("{h:?}"))),
    }
}

impl Tally {
    fn record(&mut self, m: Mutation, frame: &[u8], o: &Outcome) {
        self.cases += 1;
        *self.by_mutation.entry(m).or_default() += 1;
        for l in &o.layers {
            let row = self.rows.entry(l.layer).or_default();
            match &l.verdict {
                Verdict::Agree => row.agree += 1,
                Verdict::BothReject { weft, etherparse } => {
                    row.both_reject += 1;
                    let k = (l.layer, weft_kind(weft), etherparse_kind(etherparse));
                    *self.both_reject_kinds.entry(k).or_default() += 1;
                }
                Verdict::OnlyWeftRejects { reason, .. } => {
                    *row.only_weft.entry(*reason).or_default() += 1;
                    *self.divergences.entry(*reason).or_default() += 1;
                }
                Verdict::OnlyEtherparseRejects { reason, .. } => {
                    *row.only_etherparse.entry(*reason).or_default() += 1;
                    *self.divergences.entry(*reason).or_default() += 1;
                }
                Verdict::FieldMismatch { .. } => row.mismatch += 1,
                Verdict::Unclassified { .. } => row.unclassified += 1,
            }
            if l.verdict.is_failure() && self.failures.len() < 20 {
                self.failures.push(format!(
                    "{m:?} {}: {} frame {}",
                    l.layer,
                    l.verdict,
                    hex(frame)
                ));
            }
        }
        for c in &o.checksums {
            *self
                .checksums
                .entry((c.layer, c.weft, c.etherparse))
                .or_default() += 1;
            if c.disagrees() && self.failures.len() < 20 {
                self.failures.push(format!(
                    "{m:?} {} checksum: weft {:?} etherparse {:?} frame {}",
                    c.layer,
                    c.weft,
                    c.etherparse,
                    hex(frame)
                ));
            }
        }
        let s = match &o.sliced_packet {
            SlicedPacketCheck::Consistent => "consistent",
            SlicedPacketCheck::NotModelled => "not modelled (IPv6, MACsec, IGMP, ICMPv6, AH)",
            SlicedPacketCheck::Inconsistent { chain, sliced } => {
                if self.failures.len() < 20 {
                    self.failures.push(format!(
                        "{m:?} SlicedPacket {sliced:?} vs chain {chain:?} frame {}",
                        hex(frame)
                    ));
                }
                "INCONSISTENT"
            }
        };
        *self.sliced.entry(s).or_default() += 1;
    }

    fn print(&self) {
        println!("\nagreement matrix ({} cases)", self.cases);
        println!(
            "{:<18} {:>9} {:>11} {:>10} {:>16} {:>9} {:>13}",
            "layer",
            "agree",
            "both reject",
            "only weft",
            "only etherparse",
            "mismatch",
            "unclassified"
        );
        let empty = Row::default();
        for layer in Layer::ALL {
            let r = self.rows.get(&layer).unwrap_or(&empty);
            println!(
                "{:<18} {:>9} {:>11} {:>10} {:>16} {:>9} {:>13}",
                layer.name(),
                r.agree,
                r.both_reject,
                r.only_weft.values().sum::<usize>(),
                r.only_etherparse.values().sum::<usize>(),
                r.mismatch,
                r.unclassified
            );
            for (reason, n) in &r.only_weft {
                println!("{:<18}   only weft rejects, {reason}: {n}", "");
            }
            for (reason, n) in &r.only_etherparse {
                println!("{:<18}   only etherparse rejects, {reason}: {n}", "");
            }
        }
        println!("\nallowed divergences");
        for d in AllowedDivergence::ALL {
            let side = match d.rejected_by() {
                Side::Weft => "weft rejects",
                Side::Etherparse => "etherparse rejects",
            };
            println!(
                "  {:<22} {:>7}  ({side}) {}",
                d.to_string(),
                self.divergences.get(&d).copied().unwrap_or(0),
                d.reason()
            );
        }
        println!("\nboth reject, by error pair");
        for ((layer, w, e), n) in &self.both_reject_kinds {
            println!("  {:<18} {w:<38} {e:<48} {n}", layer.name());
        }
        println!("\nchecksum verdicts (layer, weft, etherparse)");
        for ((layer, w, e), n) in &self.checksums {
            println!("  {:<18} {w:?} / {e:?}: {n}", layer.name());
        }
        println!("\nSlicedPacket::from_ethernet cross-check");
        for (k, n) in &self.sliced {
            println!("  {k}: {n}");
        }
        println!("\ncases by mutation");
        for (m, n) in &self.by_mutation {
            println!("  {m:?}: {n}");
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn differential_weft_against_etherparse_on_mutated_frames() {
    let seed = seed();
    println!("seed {seed:#x} (set WEFT_DIFF_SEED to replay another)");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    let captured = capture_frames();
    assert!(
        captured.len() > 500,
        "only {} Ethernet frames in the captures",
        captured.len()
    );
    let generated = generated_frames(&mut rng, GENERATED);
    println!(
        "{} captured Ethernet frames, {} generated from Reprs",
        captured.len(),
        generated.len()
    );
    let bases: Vec<Vec<u8>> = captured.into_iter().chain(generated).collect();
    let marks: Vec<Landmarks> = bases.iter().map(|f| landmarks(f)).collect();

    let per_frame = mutations_per_frame();
    let mut tally = Tally::default();
    for (base, lm) in bases.iter().zip(&marks) {
        tally.record(Mutation::None, base, &compare(base));
        // Truncation at every header boundary, and one byte either side.
        let mut cuts: Vec<usize> = lm
            .boundaries
            .iter()
            .flat_map(|&b| [b.saturating_sub(1), b, b + 1])
            .filter(|&c| c < base.len())
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        for c in cuts {
            tally.record(Mutation::Truncate, &base[..c], &compare(&base[..c]));
        }
    }
    for (base, lm) in bases.iter().zip(&marks) {
        for _ in 0..per_frame {
            let (m, f) = mutate(&mut rng, base, lm);
            tally.record(m, &f, &compare(&f));
        }
    }
    tally.print();

    for f in &tally.failures {
        println!("FAILURE {f}");
    }
    assert!(tally.cases >= 100_000, "{} cases", tally.cases);
    assert!(
        tally.failures.is_empty(),
        "{} failures (first: {})",
        tally.failures.len(),
        tally.failures[0]
    );
    for (layer, r) in &tally.rows {
        assert_eq!(r.mismatch, 0, "{layer}: field mismatches");
        assert_eq!(r.unclassified, 0, "{layer}: unclassified divergences");
    }
    assert!(!tally.sliced.contains_key("INCONSISTENT"));
    // Non-trivial: every layer has agreements and common rejections, and every allowed
    // divergence was produced, in the column of the side that rejects.
    for layer in Layer::ALL {
        let r = tally
            .rows
            .get(&layer)
            .unwrap_or_else(|| panic!("{layer}: no case"));
        assert!(r.agree > 0, "{layer}: no agreement");
        assert!(r.both_reject > 0, "{layer}: no common rejection");
    }
    for d in AllowedDivergence::ALL {
        for &layer in d.layers() {
            let r = &tally.rows[&layer];
            let n = match d.rejected_by() {
                Side::Weft => r.only_weft.get(&d),
                Side::Etherparse => r.only_etherparse.get(&d),
            };
            assert!(n.is_some_and(|&n| n > 0), "{d} never seen at {layer}");
        }
    }
    // Both checksum verdicts occur, and etherparse judges most checksums.
    let judged: usize = tally
        .checksums
        .iter()
        .filter(|((_, _, e), _)| e.is_some())
        .map(|(_, n)| n)
        .sum();
    assert!(judged > 10_000, "{judged} checksums judged by both");
    for v in [ChecksumVerdict::Good, ChecksumVerdict::Bad] {
        assert!(
            tally
                .checksums
                .keys()
                .any(|(_, w, e)| *w == v && *e == Some(v)),
            "no checksum judged {v:?} by both"
        );
    }
}

#[test]
fn differential_every_captured_frame_is_clean() {
    for f in capture_frames() {
        let o = compare(&f);
        assert!(o.is_clean(), "{o:?} frame {}", hex(&f));
    }
}
