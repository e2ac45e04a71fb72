//! `cargo xtask bench [NAME]`: benchmarks that run a peer on the same work in the same
//! process, alternate A/B runs, check that both sides did the same work (equal digests) and
//! print `RATIO name x` (x > 1: weft is faster).
//!
//! `sim_udp_scale` (bench_sim.rs) has no peer: it prints the simulator's events and frames per
//! wall second at 100, 1,000 and 10,000 hosts.
//!
//! `wire_parse_vs_etherparse`: the checked parse of Ethernet → IPv4 → TCP (with options) by
//! weft-wire's views against etherparse's slices, over a fixed mix of frames: every
//! Ethernet/IPv4/TCP frame of the real captures in ../shared/captures/tcpdump plus frames
//! generated from a seeded ChaCha stream with the option layouts real stacks send. Both sides
//! extract the same fields and fold them into one 64-bit digest.

use anyhow::{Context, Result, bail};
use etherparse::{
    Ethernet2Slice, Ipv4Slice, SingleVlanSlice, TcpOptionElement, TcpOptionReadError,
    TcpOptionsIterator, TcpSlice,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};
use weft_pcap::{NetworkProto, Reader};
use weft_wire::ethernet::{EtherType, EthernetFrame, EthernetRepr, VlanTag};
use weft_wire::ipv4::{IpProtocol, Ipv4Option, Ipv4Packet, Ipv4Repr};
use weft_wire::tcp::{TcpFlags, TcpOption, TcpOptionList, TcpPacket, TcpRepr};
use weft_wire::{Ipv4Addr, MacAddr};

/// A benchmark: its name and what runs it.
type Bench = (&'static str, fn(&Path) -> Result<()>);

/// Every benchmark, in the order `cargo xtask bench` runs them.
const BENCHES: &[Bench] = &[
    ("wire_parse_vs_etherparse", wire_parse_vs_etherparse),
    ("udp_rx_vs_smoltcp", crate::bench_udp::udp_rx_vs_smoltcp),
    ("sim_udp_scale", crate::bench_sim::sim_udp_scale),
    ("tcp_bulk_vs_smoltcp", crate::bench_tcp::tcp_bulk_vs_smoltcp),
    (
        "sim_echo_vs_turmoil",
        crate::bench_echo::sim_echo_vs_turmoil,
    ),
    ("tcp_conns_segments", crate::bench_conns::tcp_conns_segments),
];

/// Runs the named benchmark, or every one when `name` is `None`.
pub fn run(root: &Path, name: Option<&str>) -> Result<()> {
    let chosen: Vec<&Bench> = match name {
        None => BENCHES.iter().collect(),
        Some(n) => match BENCHES.iter().find(|(b, _)| *b == n) {
            Some(b) => vec![b],
            None => {
                let known: Vec<&str> = BENCHES.iter().map(|(b, _)| *b).collect();
                bail!("unknown benchmark {n:?}; known: {}", known.join(", "));
            }
        },
    };
    for (bench_name, f) in chosen {
        println!("== bench {bench_name}");
        f(root).with_context(|| format!("benchmark {bench_name}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The digest both sides fold their fields into.

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over 64-bit values (one xor and one multiply per value). Each frame is hashed from
/// the basis on its own and the frame hashes are chained with one more FNV step, so the
/// multiply chain inside a frame does not serialise the whole run.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    #[inline(always)]
    fn new() -> Self {
        Fnv(FNV_BASIS)
    }
    #[inline(always)]
    fn add(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(FNV_PRIME);
    }
}

/// Chains one frame's hash (or a rejection) into the running digest.
#[inline(always)]
fn chain(acc: u64, frame: Option<u64>) -> u64 {
    (acc ^ frame.unwrap_or(0xdead_beef)).wrapping_mul(FNV_PRIME)
}

fn mac_u64(m: [u8; 6]) -> u64 {
    let [a, b, c, d, e, f] = m;
    u64::from_be_bytes([0, 0, a, b, c, d, e, f])
}

// Option tags in the digest: the option kind in bits 32..40 plus its small fields.
const OPT_EOL: u64 = 0;
const OPT_NOP: u64 = 1;
const OPT_MSS: u64 = 2 << 32;
const OPT_WS: u64 = 3 << 32;
const OPT_SACK_PERM: u64 = 4 << 32;
const OPT_SACK: u64 = 5 << 32;
const OPT_TS: u64 = 8 << 32;
const OPT_UNKNOWN: u64 = 1 << 48;

// ---------------------------------------------------------------------------------------
// The two parsers. Each returns the frame's hash, or None if it rejects the frame (not
// Ethernet II/IPv4/TCP, a fragment, or malformed by its own rules).

/// weft-wire: checked views, accessors and the infallible option iterator.
#[inline(never)]
fn weft_frame(frame: &[u8]) -> Option<u64> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.protocol() != IpProtocol::TCP || ip.is_fragment() {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    let mut h = Fnv::new();
    h.add((mac_u64(eth.dst().0) << 16) | u64::from(eth.ethertype().0));
    h.add((mac_u64(eth.src().0) << 8) | eth.header_len() as u64);
    h.add((u64::from(u32::from(ip.src())) << 32) | u64::from(u32::from(ip.dst())));
    h.add(
        (u64::from(ip.total_len()) << 48)
            | (u64::from(ip.ident()) << 32)
            | (u64::from(ip.ttl()) << 24)
            | (u64::from(ip.protocol().0) << 16)
            | ip.header_len() as u64,
    );
    h.add(
        (u64::from(ip.dont_frag()) << 15)
            | (u64::from(ip.more_frags()) << 14)
            | u64::from(ip.frag_offset_units()),
    );
    h.add(
        (u64::from(tcp.src_port()) << 48)
            | (u64::from(tcp.dst_port()) << 32)
            | (u64::from(tcp.window_len()) << 16)
            | u64::from(tcp.urgent_pointer()),
    );
    h.add((u64::from(tcp.seq_number()) << 32) | u64::from(tcp.ack_number()));
    h.add(
        (u64::from(tcp.flags().bits() & 0x1ff) << 40)
            | (u64::from(tcp.data_offset()) << 32)
            | tcp.payload().len() as u64,
    );
    for opt in tcp.options() {
        match opt {
            TcpOption::EndOfList => h.add(OPT_EOL),
            TcpOption::Nop => h.add(OPT_NOP),
            TcpOption::Mss(v) => h.add(OPT_MSS | u64::from(v)),
            TcpOption::WindowScale(s) => h.add(OPT_WS | u64::from(s)),
            TcpOption::SackPermitted => h.add(OPT_SACK_PERM),
            TcpOption::Sack(blocks) => {
                h.add(OPT_SACK | blocks.len() as u64);
                for (l, r) in blocks {
                    h.add((u64::from(l) << 32) | u64::from(r));
                }
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                h.add(OPT_TS);
                h.add((u64::from(tsval) << 32) | u64::from(tsecr));
            }
            TcpOption::Unknown { kind, data } => {
                h.add(OPT_UNKNOWN | (u64::from(kind) << 32) | (data.len() as u64 + 2));
            }
        }
    }
    Some(h.0)
}

/// True for the tag protocol identifiers both sides treat as VLAN tags.
#[inline(always)]
fn ep_is_vlan(t: etherparse::EtherType) -> bool {
    t == etherparse::EtherType::VLAN_TAGGED_FRAME
        || t == etherparse::EtherType::PROVIDER_BRIDGING
        || t == etherparse::EtherType::VLAN_DOUBLE_TAGGED_FRAME
}

/// etherparse: Ethernet2Slice, up to two SingleVlanSlice tags, Ipv4Slice (which checks the
/// total length against the slice), TcpSlice and its options iterator. The iterator stops at
/// an unknown kind with an error; like weft, the option is then skipped by its length byte.
#[inline(never)]
fn etherparse_frame(frame: &[u8]) -> Option<u64> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).ok()?;
    let mut ether_type = eth.ether_type();
    let mut rest = eth.payload_slice();
    let mut link_len = eth.header_len();
    for _ in 0..2 {
        if !ep_is_vlan(ether_type) {
            break;
        }
        let tag = SingleVlanSlice::from_slice(rest).ok()?;
        ether_type = tag.ether_type();
        rest = tag.payload_slice();
        link_len += tag.header_len();
    }
    if ether_type != etherparse::EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Slice::from_slice(rest).ok()?;
    let iph = ip.header();
    if iph.protocol() != etherparse::IpNumber::TCP || iph.is_fragmenting_payload() {
        return None;
    }
    let tcp = TcpSlice::from_slice(ip.payload().payload).ok()?;
    let mut h = Fnv::new();
    h.add((mac_u64(eth.destination()) << 16) | u64::from(ether_type.0));
    h.add((mac_u64(eth.source()) << 8) | link_len as u64);
    h.add(
        (u64::from(u32::from_be_bytes(iph.source())) << 32)
            | u64::from(u32::from_be_bytes(iph.destination())),
    );
    h.add(
        (u64::from(iph.total_len()) << 48)
            | (u64::from(iph.identification()) << 32)
            | (u64::from(iph.ttl()) << 24)
            | (u64::from(iph.protocol().0) << 16)
            | iph.slice().len() as u64,
    );
    h.add(
        (u64::from(iph.dont_fragment()) << 15)
            | (u64::from(iph.more_fragments()) << 14)
            | u64::from(iph.fragments_offset().value()),
    );
    h.add(
        (u64::from(tcp.source_port()) << 48)
            | (u64::from(tcp.destination_port()) << 32)
            | (u64::from(tcp.window_size()) << 16)
            | u64::from(tcp.urgent_pointer()),
    );
    h.add((u64::from(tcp.sequence_number()) << 32) | u64::from(tcp.acknowledgment_number()));
    let flags = u64::from(tcp.fin())
        | (u64::from(tcp.syn()) << 1)
        | (u64::from(tcp.rst()) << 2)
        | (u64::from(tcp.psh()) << 3)
        | (u64::from(tcp.ack()) << 4)
        | (u64::from(tcp.urg()) << 5)
        | (u64::from(tcp.ece()) << 6)
        | (u64::from(tcp.cwr()) << 7)
        | (u64::from(tcp.ns()) << 8);
    h.add((flags << 40) | (u64::from(tcp.data_offset()) << 32) | tcp.payload().len() as u64);
    let mut it = tcp.options_iterator();
    loop {
        let before = it.rest();
        match it.next() {
            None => {
                // The iterator ends at End of Option List as well as at the end of the area.
                if before.first() == Some(&0) {
                    h.add(OPT_EOL);
                }
                break;
            }
            Some(Ok(TcpOptionElement::Noop)) => h.add(OPT_NOP),
            Some(Ok(TcpOptionElement::MaximumSegmentSize(v))) => h.add(OPT_MSS | u64::from(v)),
            Some(Ok(TcpOptionElement::WindowScale(s))) => h.add(OPT_WS | u64::from(s)),
            Some(Ok(TcpOptionElement::SelectiveAcknowledgementPermitted)) => h.add(OPT_SACK_PERM),
            Some(Ok(TcpOptionElement::SelectiveAcknowledgement(first, more))) => {
                let n = 1 + more.iter().flatten().count();
                h.add(OPT_SACK | n as u64);
                h.add((u64::from(first.0) << 32) | u64::from(first.1));
                for (l, r) in more.into_iter().flatten() {
                    h.add((u64::from(l) << 32) | u64::from(r));
                }
            }
            Some(Ok(TcpOptionElement::Timestamp(tsval, tsecr))) => {
                h.add(OPT_TS);
                h.add((u64::from(tsval) << 32) | u64::from(tsecr));
            }
            Some(Err(TcpOptionReadError::UnknownId(kind))) => {
                let len = *before.get(1)?;
                if len < 2 {
                    return None;
                }
                let tail = before.get(usize::from(len)..)?;
                h.add(OPT_UNKNOWN | (u64::from(kind) << 32) | u64::from(len));
                it = TcpOptionsIterator::from_slice(tail);
            }
            Some(Err(_)) => return None,
        }
    }
    Some(h.0)
}

// ---------------------------------------------------------------------------------------
// The frame mix.

/// Where a frame of the mix came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A real capture.
    Capture,
    /// A Linux-layout SYN or SYN-ACK: MSS, SACK-permitted, Timestamps, NOP, Window Scale.
    Syn,
    /// A data segment or pure ACK: NOP, NOP, Timestamps.
    Data,
    /// NOP, NOP, Timestamps, NOP, NOP, SACK with 1-3 blocks.
    Sack,
    /// A data segment whose IPv4 header carries options.
    Ipv4Options,
    /// A data or SACK segment behind one 802.1Q tag or an 802.1ad + 802.1Q pair.
    Vlan,
}

const KINDS: [Kind; 6] = [
    Kind::Capture,
    Kind::Syn,
    Kind::Data,
    Kind::Sack,
    Kind::Ipv4Options,
    Kind::Vlan,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Capture => "capture",
            Kind::Syn => "syn",
            Kind::Data => "data",
            Kind::Sack => "sack",
            Kind::Ipv4Options => "ipv4-options",
            Kind::Vlan => "vlan",
        }
    }
}

/// The generated frames: their count and the ChaCha seed.
const GENERATED: usize = 2048;
const SEED: u64 = 0x7765_6674_6265_6e63;

/// Frames from the captures whose link layer is Ethernet and whose network layer is IPv4
/// carrying TCP (by their header fields alone; acceptance by both parsers is checked later).
fn capture_frames(root: &Path) -> Result<(Vec<Vec<u8>>, usize)> {
    let dir = root.join("../shared/captures/tcpdump");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    let mut files_used = 0;
    for path in &files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let Ok(reader) = Reader::new(&bytes) else {
            continue;
        };
        let before = out.len();
        for rec in reader.flatten() {
            let Ok((NetworkProto::Ethernet, net)) = rec.network_payload() else {
                continue;
            };
            if looks_like_ipv4_tcp(net) {
                out.push(net.to_vec());
            }
        }
        if out.len() > before {
            files_used += 1;
        }
    }
    Ok((out, files_used))
}

/// Ethernet II, up to two VLAN tags, EtherType IPv4, protocol 6: a candidate for the mix.
fn looks_like_ipv4_tcp(frame: &[u8]) -> bool {
    let mut at = 12;
    for _ in 0..3 {
        match frame.get(at..at + 2) {
            Some([0x81, 0x00] | [0x88, 0xa8] | [0x91, 0x00]) => at += 4,
            Some([0x08, 0x00]) => {
                return frame.get(at + 2).is_some_and(|b| b >> 4 == 4)
                    && frame.get(at + 2 + 9) == Some(&6);
            }
            _ => return false,
        }
    }
    false
}

/// Payload bytes for generated segments.
fn payload_bytes() -> Vec<u8> {
    (0..1460u32)
        .map(|i| (i.wrapping_mul(31) ^ 0x5a) as u8)
        .collect()
}

/// Builds one frame of `kind` with weft-wire's Reprs.
fn generate(rng: &mut ChaCha8Rng, kind: Kind, payload: &[u8]) -> Result<Vec<u8>> {
    let hosts = [
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        Ipv4Addr::new(192, 168, 1, 10),
        Ipv4Addr::new(192, 168, 1, 20),
        Ipv4Addr::new(172, 16, 5, 4),
        Ipv4Addr::new(93, 184, 216, 34),
    ];
    let pick = |rng: &mut ChaCha8Rng| hosts.get(rng.gen_range(0..hosts.len())).copied();
    let src = pick(rng).context("host")?;
    let dst = pick(rng).context("host")?;
    let mut mac = || {
        let mut m: [u8; 6] = rng.r#gen();
        if let Some(b) = m.first_mut() {
            *b &= 0xfe; // unicast
        }
        MacAddr(m)
    };
    let mut eth = EthernetRepr {
        dst: mac(),
        src: mac(),
        vlans: Default::default(),
        ethertype: EtherType::IPV4,
    };
    if kind == Kind::Vlan {
        let qinq = rng.gen_bool(0.2);
        let mut tag = |tpid| VlanTag {
            tpid,
            pcp: rng.gen_range(0..8),
            dei: false,
            vid: rng.gen_range(1..4095),
        };
        if qinq {
            eth.vlans.push(tag(EtherType::QINQ));
        }
        eth.vlans.push(tag(EtherType::VLAN));
    }

    // TCP options in the layouts Linux sends.
    let tsval: u32 = rng.r#gen();
    let tsecr: u32 = rng.r#gen();
    let ts = TcpOption::Timestamps { tsval, tsecr };
    let mut options = TcpOptionList::new();
    let seq: u32 = rng.r#gen();
    let mut ack: u32 = rng.r#gen();
    let mut flags = TcpFlags::ACK;
    let mut payload_len = 0;
    let sack_layout = kind == Kind::Sack || (kind == Kind::Vlan && rng.gen_bool(0.3));
    match kind {
        Kind::Syn => {
            let server = rng.gen_bool(0.5);
            flags = if server {
                TcpFlags::SYN | TcpFlags::ACK
            } else {
                ack = 0;
                TcpFlags::SYN
            };
            options.push(TcpOption::Mss(
                *[1460u16, 1448, 1400, 8960]
                    .get(rng.gen_range(0..4))
                    .context("mss")?,
            ));
            options.push(TcpOption::SackPermitted);
            options.push(TcpOption::Timestamps {
                tsval,
                tsecr: if server { tsecr } else { 0 },
            });
            options.push(TcpOption::Nop);
            options.push(TcpOption::WindowScale(rng.gen_range(0..=14)));
        }
        _ => {
            options.push(TcpOption::Nop);
            options.push(TcpOption::Nop);
            options.push(ts);
            if sack_layout {
                let n = rng.gen_range(1..=3);
                let mut blocks = Vec::new();
                let mut left = ack.wrapping_add(rng.gen_range(1..20_000));
                for _ in 0..n {
                    let right = left.wrapping_add(rng.gen_range(1..=16) * 1448);
                    blocks.push((left, right));
                    left = right.wrapping_add(rng.gen_range(1..=8) * 1448);
                }
                options.push(TcpOption::Nop);
                options.push(TcpOption::Nop);
                // At most 3 blocks: ArrayVec's collect cannot overflow its 4.
                options.push(TcpOption::Sack(blocks.into_iter().collect()));
            } else {
                // Pure ACKs, small and full-sized segments.
                payload_len = match rng.gen_range(0..10) {
                    0..=3 => 0,
                    4..=6 => rng.gen_range(1..=200),
                    _ => rng.gen_range(201..=1448),
                };
                if payload_len > 0 && rng.gen_bool(0.5) {
                    flags |= TcpFlags::PSH;
                }
                if rng.gen_bool(0.03) {
                    flags |= TcpFlags::FIN;
                }
            }
        }
    }
    let tcp = TcpRepr {
        src_port: if rng.gen_bool(0.5) {
            *[80u16, 443, 22, 5201]
                .get(rng.gen_range(0..4))
                .context("port")?
        } else {
            rng.gen_range(32768..61000)
        },
        dst_port: rng.gen_range(1..=u16::MAX),
        seq_number: seq,
        ack_number: ack,
        flags,
        window_len: rng.gen_range(200..=u16::MAX),
        urgent_pointer: 0,
        options,
        options_trailer: &[],
        payload: payload.get(..payload_len).context("payload")?,
    };

    // IPv4 options: Router Alert, NOP + Record Route, or Internet Timestamp.
    let route: Vec<u8> = (0..36).map(|_| rng.r#gen()).collect();
    let mut ip_options = Vec::new();
    if kind == Kind::Ipv4Options {
        match rng.gen_range(0..3) {
            0 => ip_options.push(Ipv4Option::RouterAlert(0)),
            1 => {
                let slots = rng.gen_range(1..=9);
                let filled = rng.gen_range(0..=slots) as u8;
                ip_options.push(Ipv4Option::Nop);
                ip_options.push(Ipv4Option::RecordRoute {
                    pointer: 4 + 4 * filled,
                    addresses: route.get(..4 * slots).context("route")?,
                });
            }
            _ => {
                let slots = rng.gen_range(1..=9);
                let filled = rng.gen_range(0..=slots) as u8;
                ip_options.push(Ipv4Option::Timestamp {
                    pointer: 5 + 4 * filled,
                    overflow: 0,
                    flags: 0,
                    data: route.get(..4 * slots).context("timestamps")?,
                });
            }
        }
    }
    let ip = Ipv4Repr {
        src,
        dst,
        protocol: IpProtocol::TCP,
        ttl: *[64u8, 63, 128, 57, 255]
            .get(rng.gen_range(0..5))
            .context("ttl")?,
        dscp: 0,
        ecn: if rng.gen_bool(0.1) { 2 } else { 0 },
        ident: rng.r#gen(),
        reserved_flag: false,
        dont_frag: true,
        more_frags: false,
        frag_offset_units: 0,
        // At most two options: within the 40 the ArrayVec holds.
        options: ip_options.into_iter().collect(),
        options_padding: &[],
        payload_len: tcp.buffer_len(),
    };

    let eth_len = eth.header_len();
    let ip_len = ip.header_len();
    let mut buf = vec![0u8; eth_len + ip.buffer_len()];
    eth.emit(&mut buf)?;
    ip.emit(buf.get_mut(eth_len..).context("ipv4 buffer")?)?;
    tcp.emit(
        src,
        dst,
        buf.get_mut(eth_len + ip_len..).context("tcp buffer")?,
    )?;
    Ok(buf)
}

/// One frame of the mix.
struct Frame {
    kind: Kind,
    bytes: Vec<u8>,
}

/// Builds the mix: capture frames, then generated ones in a fixed order; keeps the frames
/// both parsers accept, checking that each one's digests agree.
fn build_mix(root: &Path) -> Result<Vec<Frame>> {
    let (captured, files_used) = capture_frames(root)?;
    let mut candidates: Vec<Frame> = captured
        .into_iter()
        .map(|bytes| Frame {
            kind: Kind::Capture,
            bytes,
        })
        .collect();
    let from_captures = candidates.len();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let payload = payload_bytes();
    for _ in 0..GENERATED {
        // Mostly data segments and ACKs, as on a real link.
        let kind = match rng.gen_range(0..100) {
            0..=9 => Kind::Syn,
            10..=59 => Kind::Data,
            60..=74 => Kind::Sack,
            75..=84 => Kind::Ipv4Options,
            _ => Kind::Vlan,
        };
        let bytes = generate(&mut rng, kind, &payload)
            .with_context(|| format!("generating a {} frame", kind.name()))?;
        candidates.push(Frame { kind, bytes });
    }

    let mut kept = Vec::new();
    let (mut weft_only, mut etherparse_only, mut neither) = (0, 0, 0);
    for (i, f) in candidates.into_iter().enumerate() {
        let (w, e) = (weft_frame(&f.bytes), etherparse_frame(&f.bytes));
        if f.kind != Kind::Capture && (w.is_none() || e.is_none()) {
            bail!(
                "generated {} frame {i} rejected (weft {}, etherparse {}): the generator is \
                 wrong; frame {:02x?}",
                f.kind.name(),
                if w.is_some() { "accepts" } else { "rejects" },
                if e.is_some() { "accepts" } else { "rejects" },
                f.bytes
            );
        }
        match (w, e) {
            (Some(a), Some(b)) if a == b => kept.push(f),
            (Some(a), Some(b)) => bail!(
                "frame {i} ({}): digests differ (weft {a:#018x}, etherparse {b:#018x}): the two \
                 sides do not extract the same fields; frame {:02x?}",
                f.kind.name(),
                f.bytes
            ),
            (Some(_), None) => weft_only += 1,
            (None, Some(_)) => etherparse_only += 1,
            (None, None) => neither += 1,
        }
    }
    let counts: Vec<String> = KINDS
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                k.name(),
                kept.iter().filter(|f| f.kind == *k).count()
            )
        })
        .collect();
    println!(
        "mix: {} frames ({}); seed {SEED:#018x} for {GENERATED} generated frames",
        kept.len(),
        counts.join(", ")
    );
    println!(
        "captures: {from_captures} Ethernet/IPv4/TCP candidates from {files_used} files; \
         dropped: {weft_only} accepted by weft only, {etherparse_only} by etherparse only, \
         {neither} by neither (fragments, truncated, malformed)"
    );
    Ok(kept)
}

// ---------------------------------------------------------------------------------------
// Timing.

/// Runs per side (at least 15; odd, so the median is one run).
const RUNS: usize = 21;
/// Wall time one run aims at.
const RUN_TARGET: Duration = Duration::from_millis(75);
/// Warm-up before calibration.
const WARMUP: Duration = Duration::from_millis(300);

/// Runs `parse` over the whole mix `reps` times; returns the time taken and the digest of the
/// last pass. The frame list goes through `black_box` on every pass so no pass can be hoisted
/// or merged with another.
// xtask measures wall time; the stack itself never reads a clock.
#[allow(clippy::disallowed_methods)]
fn time_side(
    frames: &[&[u8]],
    reps: usize,
    parse: impl Fn(&[u8]) -> Option<u64>,
) -> (Duration, u64) {
    let start = Instant::now();
    let mut digest = 0;
    for _ in 0..reps {
        let frames = black_box(frames);
        let mut acc = FNV_BASIS;
        for f in frames {
            acc = chain(acc, parse(f));
        }
        digest = black_box(acc);
    }
    (start.elapsed(), digest)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn wire_parse_vs_etherparse(root: &Path) -> Result<()> {
    let mix = build_mix(root)?;
    let frames: Vec<&[u8]> = mix.iter().map(|f| f.bytes.as_slice()).collect();
    let n = frames.len();
    if n == 0 {
        bail!("the frame mix is empty");
    }
    println!(
        "weft settings: EthernetFrame::new_checked -> Ipv4Packet::new_checked -> \
         TcpPacket::new_checked, view accessors and options(); checksums not verified; \
         new_checked validates strictly more than etherparse: IPv4 options and every TCP option \
         length, up front"
    );
    println!(
        "etherparse settings: Ethernet2Slice::from_slice_without_fcs, SingleVlanSlice (<= 2 \
         tags) -> Ipv4Slice::from_slice -> TcpSlice::from_slice, accessors and \
         options_iterator() (an unknown kind is skipped by its length byte); checksums not \
         verified; IPv4 options not validated, TCP options checked only as iterated"
    );

    // Warm up both sides, then size a run to RUN_TARGET.
    let (_, reference) = time_side(&frames, 1, weft_frame);
    let mut warm = Duration::ZERO;
    let (mut per_weft, mut per_ep) = (Duration::ZERO, Duration::ZERO);
    let mut warm_reps = 1;
    while warm < WARMUP {
        let (tw, _) = time_side(&frames, warm_reps, weft_frame);
        let (te, _) = time_side(&frames, warm_reps, etherparse_frame);
        warm += tw + te;
        per_weft = tw / warm_reps as u32;
        per_ep = te / warm_reps as u32;
        warm_reps *= 2;
    }
    let per_pass = (per_weft + per_ep) / 2;
    let reps = (RUN_TARGET.as_nanos() / per_pass.as_nanos().max(1)).max(1) as usize;
    println!(
        "method: {} ms warm-up, then {RUNS} alternating runs per side (weft, etherparse, weft, \
         ...), each {reps} passes over the {n}-frame mix (~{} ms), std::hint::black_box on the \
         frames and the digest, std::time::Instant; per-frame functions #[inline(never)]",
        warm.as_millis(),
        RUN_TARGET.as_millis()
    );

    let frames_per_run = (reps * n) as f64;
    let (mut ns_weft, mut ns_ep, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut digest_weft, mut digest_ep) = (0, 0);
    for _ in 0..RUNS {
        let (tw, dw) = time_side(&frames, reps, weft_frame);
        let (te, de) = time_side(&frames, reps, etherparse_frame);
        if dw != reference || de != reference {
            bail!(
                "digests differ: weft {dw:#018x}, etherparse {de:#018x}, reference \
                 {reference:#018x}: the two sides did not do the same work"
            );
        }
        (digest_weft, digest_ep) = (dw, de);
        ns_weft.push(tw.as_nanos() as f64 / frames_per_run);
        ns_ep.push(te.as_nanos() as f64 / frames_per_run);
        ratios.push(te.as_secs_f64() / tw.as_secs_f64());
    }
    let spread = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        format!("min {lo:.2}, max {hi:.2}")
    };
    println!("frames: {n} per pass, {} per run", reps * n);
    println!("digest: weft {digest_weft:#018x}, etherparse {digest_ep:#018x} (equal)");
    println!(
        "weft:       median {:.2} ns/frame ({})",
        median(&ns_weft),
        spread(&ns_weft)
    );
    println!(
        "etherparse: median {:.2} ns/frame ({})",
        median(&ns_ep),
        spread(&ns_ep)
    );
    println!("per-pair ratio etherparse/weft: {}", spread(&ratios));
    breakdown(&mix);
    println!("RATIO wire_parse_vs_etherparse {:.2}", median(&ratios));
    Ok(())
}

/// Diagnostic: the same measurement over each kind of frame alone (shorter runs; a
/// homogeneous subset predicts branches better than the mix, so these are not the result).
fn breakdown(mix: &[Frame]) {
    const KIND_RUNS: usize = 7;
    const KIND_TARGET: Duration = Duration::from_millis(20);
    let mut parts = Vec::new();
    for kind in KINDS {
        let frames: Vec<&[u8]> = mix
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.bytes.as_slice())
            .collect();
        if frames.is_empty() {
            continue;
        }
        let (tw, _) = time_side(&frames, 50, weft_frame);
        let (te, _) = time_side(&frames, 50, etherparse_frame);
        let per_pass = (tw + te) / 100;
        let reps = (KIND_TARGET.as_nanos() / per_pass.as_nanos().max(1)).max(1) as usize;
        let per_run = (reps * frames.len()) as f64;
        let (mut w, mut e, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..KIND_RUNS {
            let (tw, _) = time_side(&frames, reps, weft_frame);
            let (te, _) = time_side(&frames, reps, etherparse_frame);
            w.push(tw.as_nanos() as f64 / per_run);
            e.push(te.as_nanos() as f64 / per_run);
            r.push(te.as_secs_f64() / tw.as_secs_f64());
        }
        parts.push(format!(
            "{} {:.1}/{:.1} ({:.2})",
            kind.name(),
            median(&w),
            median(&e),
            median(&r)
        ));
    }
    println!(
        "by kind, weft/etherparse ns/frame (ratio), diagnostic: {}",
        parts.join(", ")
    );
}
