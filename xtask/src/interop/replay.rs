//! Replays of the interop captures (captures/interop/*.pcap, recorded by `cargo xtask
//! interop --record`): every frame Linux and weft exchanged must decode through weft-wire's
//! checked parsers with verified checksums, and the frames Linux sent, fed to a fresh weft
//! stack configured as the weft side was, must draw the same answers again (ARP replies, echo
//! replies, a reassembled 4000-byte datagram on the echo port, an RST for a SYN to a closed
//! TCP port). The TCP captures must also hold each step's story: handshakes, the bytes of each
//! direction, FINs, RSTs, retransmissions.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use weft_core::{Counters, IfaceId, Instant, InterfaceConfig, RxMeta, Stack, StackConfig};
use weft_pcap::{NetworkProto, Reader};
use weft_wire::ethernet::{EtherType, EthernetFrame};
use weft_wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
use weft_wire::{
    ArpPacket, ArpRepr, ChecksumMode, DhcpMessageType, DhcpPacket, DhcpRepr, Icmpv4Packet,
    Icmpv4Repr, MacAddr, TcpFlags, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../captures/interop")
}

/// (capture time in ns, Ethernet frame) of every record.
fn frames(name: &str) -> Vec<(u128, Vec<u8>)> {
    let path = dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = Reader::new(&bytes).unwrap();
    reader
        .map(|r| {
            let r = r.unwrap();
            assert!(
                r.issues.is_empty(),
                "{name} #{}: {:?}",
                r.number(),
                r.issues
            );
            let (proto, net) = r.network_payload().unwrap();
            assert_eq!(proto, NetworkProto::Ethernet);
            (r.timestamp.unwrap().as_nanos(), net.to_vec())
        })
        .collect()
}

/// What one frame was, decoded all the way with checksums verified.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Arp,
    Fragment,
    Udp { dst_port: u16, len: usize },
    Dhcp(Option<DhcpMessageType>),
    Icmp,
    Tcp(Seg),
}

/// A TCP segment, checksum verified.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seg {
    src: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    flags: TcpFlags,
    seq: u32,
    len: usize,
}

impl Seg {
    fn has(&self, f: TcpFlags) -> bool {
        self.flags.contains(f)
    }
}

fn decode(name: &str, n: usize, frame: &[u8]) -> Kind {
    let at = format!("{name} frame {n}");
    let eth = EthernetFrame::new_checked(frame).unwrap_or_else(|e| panic!("{at}: {e}"));
    match eth.ethertype() {
        EtherType::ARP => {
            let p = ArpPacket::new_checked(eth.payload()).unwrap_or_else(|e| panic!("{at}: {e}"));
            ArpRepr::parse(&p).unwrap_or_else(|e| panic!("{at}: {e}"));
            Kind::Arp
        }
        EtherType::IPV4 => {
            let p = Ipv4Packet::new_checked(eth.payload()).unwrap_or_else(|e| panic!("{at}: {e}"));
            let ip =
                Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap_or_else(|e| panic!("{at}: {e}"));
            if p.more_frags() || p.frag_offset_bytes() > 0 {
                return Kind::Fragment;
            }
            match p.protocol() {
                IpProtocol::UDP => {
                    let u =
                        UdpPacket::new_checked(p.payload()).unwrap_or_else(|e| panic!("{at}: {e}"));
                    let r = UdpRepr::parse(&u, ip.src, ip.dst, ChecksumMode::Verify)
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                    if r.src_port == 67 || r.src_port == 68 {
                        let d = DhcpPacket::new_checked(r.payload)
                            .unwrap_or_else(|e| panic!("{at}: {e}"));
                        let d = DhcpRepr::parse(&d).unwrap_or_else(|e| panic!("{at}: {e}"));
                        return Kind::Dhcp(d.message_type);
                    }
                    Kind::Udp {
                        dst_port: r.dst_port,
                        len: r.payload.len(),
                    }
                }
                IpProtocol::TCP => {
                    let t =
                        TcpPacket::new_checked(p.payload()).unwrap_or_else(|e| panic!("{at}: {e}"));
                    let r = TcpRepr::parse(&t, ip.src, ip.dst, ChecksumMode::Verify)
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                    Kind::Tcp(Seg {
                        src: ip.src,
                        src_port: r.src_port,
                        dst_port: r.dst_port,
                        flags: r.flags,
                        seq: r.seq_number,
                        len: r.payload.len(),
                    })
                }
                IpProtocol::ICMP => {
                    let i = Icmpv4Packet::new_checked(p.payload())
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                    Icmpv4Repr::parse(&i, ChecksumMode::Verify)
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                    Kind::Icmp
                }
                other => panic!("{at}: unexpected protocol {other:?}"),
            }
        }
        other => panic!("{at}: unexpected EtherType {other:?}"),
    }
}

fn decode_all(name: &str) -> Vec<Kind> {
    let f = frames(name);
    assert!(!f.is_empty(), "{name} holds no frames");
    f.iter()
        .enumerate()
        .map(|(i, (_, frame))| decode(name, i + 1, frame))
        .collect()
}

const WEFT_MAC: MacAddr = MacAddr([0x02, 0x77, 0x00, 0x01, 0x00, 0x02]);

/// Feeds the frames Linux sent in `name` to a new stack set up as the weft side of the
/// static steps (10.77.1.2/24, WEFT_MAC), at their capture times; the stack's counters, the
/// frames it sent and the UDP payload lengths received on port 7.
fn replay(name: &str) -> (Counters, usize, Vec<usize>) {
    replay_as(name, WEFT_MAC, Ipv4Addr::new(10, 77, 1, 2))
}

/// [`replay`] with the weft side at `mac`, `addr`/24.
fn replay_as(name: &str, mac: MacAddr, addr: Ipv4Addr) -> (Counters, usize, Vec<usize>) {
    let mut cfg = StackConfig::new(1);
    cfg.add_interface(InterfaceConfig::ethernet(mac, addr, 24));
    let f = frames(name);
    let t0 = f.first().map(|(t, _)| *t).unwrap_or(0);
    let at = |t: u128| Instant::from_nanos(u64::try_from(t - t0).unwrap() + 1_000_000_000);
    let mut stack = Stack::new(cfg, at(t0)).unwrap();
    let echo = stack.udp_bind(Ipv4Addr::UNSPECIFIED, 7).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut sent = 0;
    let mut received = Vec::new();
    for (t, frame) in &f {
        let now = at(*t);
        stack.handle_timeout(now);
        if EthernetFrame::new_checked(frame.as_slice()).unwrap().src() == mac {
            continue;
        }
        stack.handle_frame(now, IfaceId(0), frame, RxMeta::default());
        while stack.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
        while let Some(d) = stack.udp_recv(echo).unwrap() {
            received.push(d.payload.len());
        }
    }
    (stack.counters(), sent, received)
}

fn clean(name: &str, c: &Counters) {
    assert_eq!(c.ethernet.rx_malformed, 0, "{name}");
    assert_eq!(c.arp.rx_malformed, 0, "{name}");
    assert_eq!(c.ipv4.rx_malformed + c.ipv4.rx_bad_checksum, 0, "{name}");
    assert_eq!(c.icmp.rx_malformed, 0, "{name}");
    assert_eq!(c.udp.rx_malformed + c.udp.rx_bad_checksum, 0, "{name}");
    assert_eq!(c.tcp.rx_malformed + c.tcp.rx_bad_checksum, 0, "{name}");
}

#[test]
fn interop_replay_arp() {
    let kinds = decode_all("arp.pcap");
    assert_eq!(kinds.iter().filter(|k| **k == Kind::Arp).count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == Kind::Icmp).count(), 4);
    let (c, sent, _) = replay("arp.pcap");
    clean("arp", &c);
    // Linux's ARP request for 10.77.1.2 is answered, and its echo request.
    assert_eq!(c.arp.replies_sent, 1);
    assert_eq!(c.icmp.echo_replies_sent, 1);
    assert!(sent >= 2, "{sent} frames sent");
}

#[test]
fn interop_replay_pings() {
    for name in ["ping_linux_to_weft.pcap", "ping_weft_to_linux.pcap"] {
        let kinds = decode_all(name);
        assert_eq!(kinds, vec![Kind::Icmp; 6], "{name}");
    }
    // The replies wait for an ARP answer the capture does not hold (Linux knew weft's MAC
    // already): counted as answered, not yet on the wire.
    let (c, _, _) = replay("ping_linux_to_weft.pcap");
    clean("ping_linux_to_weft", &c);
    assert_eq!(c.icmp.echo_replies_sent, 3);
    // Replies to pings this stack never sent: received, answered by nothing.
    let (c, _, _) = replay("ping_weft_to_linux.pcap");
    clean("ping_weft_to_linux", &c);
    assert_eq!(c.icmp.rx_messages, 3);
    assert_eq!(c.icmp.echo_replies_sent, 0);
}

#[test]
fn interop_replay_udp_echo_with_fragments() {
    for name in ["udp_echo_linux_to_weft.pcap", "udp_echo_weft_to_linux.pcap"] {
        let kinds = decode_all(name);
        // Each way: one 64-byte datagram, one 4000-byte one in three fragments.
        assert_eq!(
            kinds.iter().filter(|k| **k == Kind::Fragment).count(),
            6,
            "{name}"
        );
        assert_eq!(
            kinds
                .iter()
                .filter(|k| matches!(k, Kind::Udp { len: 64, .. }))
                .count(),
            2,
            "{name}"
        );
    }
    let (c, _, got) = replay("udp_echo_linux_to_weft.pcap");
    clean("udp_echo_linux_to_weft", &c);
    assert_eq!(c.ipv4.rx_fragments, 3);
    assert_eq!(c.ipv4.reassembled, 1);
    assert_eq!(got, vec![64, 4000]);
}

#[test]
fn interop_replay_port_unreachable() {
    let kinds = decode_all("icmp_port_unreachable.pcap");
    assert_eq!(
        kinds,
        vec![
            Kind::Udp {
                dst_port: 9,
                len: 16
            },
            Kind::Icmp
        ]
    );
    let (c, _, _) = replay("icmp_port_unreachable.pcap");
    clean("icmp_port_unreachable", &c);
    assert_eq!(c.icmp.rx_messages, 1);
}

#[test]
fn interop_replay_dhcp() {
    use DhcpMessageType::*;
    let dhcp = |name| -> Vec<DhcpMessageType> {
        decode_all(name)
            .into_iter()
            .filter_map(|k| match k {
                Kind::Dhcp(t) => Some(t.unwrap()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(dhcp("dhcp_lease.pcap"), vec![Discover, Offer, Request, Ack]);
    assert_eq!(dhcp("dhcp_renew.pcap"), vec![Request, Ack]);
}

#[test]
fn interop_replay_two_taps() {
    let kinds = decode_all("two_taps.pcap");
    let udp = kinds
        .iter()
        .filter(|k| matches!(k, Kind::Udp { len: 1000, .. }))
        .count();
    assert!(udp >= 10, "{udp} datagrams of 1000 bytes");
}

/// The TCP namespace's addresses (xtask/src/interop/tcp.rs).
const TCP_LINUX: Ipv4Addr = Ipv4Addr::new(10, 77, 5, 1);
const TCP_WEFT: Ipv4Addr = Ipv4Addr::new(10, 77, 5, 2);
const TCP_WEFT_MAC: MacAddr = MacAddr([0x02, 0x77, 0x00, 0x05, 0x00, 0x02]);

/// The TCP segments of a capture, every frame decoded (ARP may come between them).
fn segments(name: &str) -> Vec<Seg> {
    let kinds = decode_all(name);
    let segs: Vec<Seg> = kinds
        .iter()
        .filter_map(|k| match k {
            Kind::Tcp(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert!(
        kinds.iter().all(|k| matches!(k, Kind::Tcp(_) | Kind::Arp)),
        "{name}: {kinds:?}"
    );
    assert!(
        segs.iter().all(|s| s.src == TCP_LINUX || s.src == TCP_WEFT),
        "{name}"
    );
    segs
}

/// Payload bytes `from` sent, each sequence range once (a retransmission is not counted
/// again).
fn stream_bytes(segs: &[Seg], from: Ipv4Addr) -> usize {
    let ranges: std::collections::BTreeSet<(u32, usize)> = segs
        .iter()
        .filter(|s| s.src == from && s.len > 0)
        .map(|s| (s.seq, s.len))
        .collect();
    ranges.iter().map(|(_, l)| l).sum()
}

/// How many segments from `from` carry all of `flags`.
fn with_flags(segs: &[Seg], from: Ipv4Addr, flags: TcpFlags) -> usize {
    segs.iter()
        .filter(|s| s.src == from && s.has(flags))
        .count()
}

/// One handshake, `client` first: SYN, SYN-ACK, and no other SYN.
fn handshake(name: &str, segs: &[Seg], client: Ipv4Addr) {
    let syns: Vec<&Seg> = segs.iter().filter(|s| s.has(TcpFlags::SYN)).collect();
    assert_eq!(syns.len(), 2, "{name}: {syns:?}");
    assert!(
        syns[0].src == client && !syns[0].has(TcpFlags::ACK),
        "{name}"
    );
    assert!(
        syns[1].src != client && syns[1].has(TcpFlags::ACK),
        "{name}"
    );
}

/// The RSTs of a capture, by sender.
fn rsts(segs: &[Seg]) -> (usize, usize) {
    (
        with_flags(segs, TCP_LINUX, TcpFlags::RST),
        with_flags(segs, TCP_WEFT, TcpFlags::RST),
    )
}

#[test]
fn interop_replay_tcp_echo() {
    // socat → weft's echo on port 7: lines of 64, 1460 and 20000 bytes, each echoed; FINs
    // both ways, Linux's first.
    let segs = segments("tcp_echo_linux_to_weft.pcap");
    handshake("tcp_echo_linux_to_weft", &segs, TCP_LINUX);
    assert!(segs.iter().all(|s| s.dst_port == 7 || s.src_port == 7));
    assert_eq!(stream_bytes(&segs, TCP_LINUX), 64 + 1460 + 20_000);
    assert_eq!(stream_bytes(&segs, TCP_WEFT), 64 + 1460 + 20_000);
    assert_eq!(with_flags(&segs, TCP_LINUX, TcpFlags::FIN), 1);
    assert_eq!(with_flags(&segs, TCP_WEFT, TcpFlags::FIN), 1);
    assert_eq!(rsts(&segs), (0, 0));
    // weft → socat's echo on port 7007: 30000 bytes there and back; weft's FIN first. No RST:
    // weft sends no window update once it has the peer's FIN (Linux, closed by then, would
    // answer one with an RST).
    let segs = segments("tcp_echo_weft_to_linux.pcap");
    handshake("tcp_echo_weft_to_linux", &segs, TCP_WEFT);
    assert_eq!(stream_bytes(&segs, TCP_WEFT), 30_000);
    assert_eq!(stream_bytes(&segs, TCP_LINUX), 30_000);
    assert_eq!(with_flags(&segs, TCP_WEFT, TcpFlags::FIN), 1);
    assert_eq!(with_flags(&segs, TCP_LINUX, TcpFlags::FIN), 1);
    assert_eq!(rsts(&segs), (0, 0));
}

#[test]
fn interop_replay_tcp_half_close() {
    // Linux sends 20000 bytes and its FIN first; weft sends them back after it, then its FIN.
    let segs = segments("tcp_half_close_linux_to_weft.pcap");
    handshake("tcp_half_close_linux_to_weft", &segs, TCP_LINUX);
    let fin = |from| {
        segs.iter()
            .position(|s| s.src == from && s.has(TcpFlags::FIN))
            .unwrap()
    };
    let (linux_fin, weft_fin) = (fin(TCP_LINUX), fin(TCP_WEFT));
    assert!(linux_fin < weft_fin);
    let weft_data_after = segs
        .iter()
        .skip(linux_fin)
        .filter(|s| s.src == TCP_WEFT && s.len > 0)
        .map(|s| s.len)
        .sum::<usize>();
    assert_eq!(weft_data_after, 20_000, "weft's reply follows Linux's FIN");
    assert_eq!(stream_bytes(&segs, TCP_LINUX), 20_000);
    assert_eq!(rsts(&segs), (0, 0));
    // weft sends 20000 bytes and its FIN first; Linux sends 50000 after it.
    let segs = segments("tcp_half_close_weft_to_linux.pcap");
    handshake("tcp_half_close_weft_to_linux", &segs, TCP_WEFT);
    let weft_fin = segs
        .iter()
        .position(|s| s.src == TCP_WEFT && s.has(TcpFlags::FIN))
        .unwrap();
    let linux_before = segs
        .iter()
        .take(weft_fin)
        .filter(|s| s.src == TCP_LINUX)
        .map(|s| s.len)
        .sum::<usize>();
    assert_eq!(linux_before, 0, "Linux sends only after weft's FIN");
    assert_eq!(stream_bytes(&segs, TCP_WEFT), 20_000);
    assert_eq!(stream_bytes(&segs, TCP_LINUX), 50_000);
    assert!(rsts(&segs).0 <= 1 && rsts(&segs).1 == 0);
}

#[test]
fn interop_replay_tcp_resets() {
    // Linux's abortive close: one RST from Linux, after weft's "ready".
    let segs = segments("tcp_rst_linux_to_weft.pcap");
    handshake("tcp_rst_linux_to_weft", &segs, TCP_LINUX);
    assert_eq!(rsts(&segs), (1, 0));
    assert_eq!(stream_bytes(&segs, TCP_WEFT), "ready\n".len());
    assert!(segs.last().unwrap().has(TcpFlags::RST));
    // weft's abort: "hello" in, "ready" out, then one RST from weft.
    let segs = segments("tcp_rst_weft_to_linux.pcap");
    handshake("tcp_rst_weft_to_linux", &segs, TCP_WEFT);
    assert_eq!(rsts(&segs), (0, 1));
    assert_eq!(stream_bytes(&segs, TCP_WEFT), "hello\n".len());
    assert_eq!(stream_bytes(&segs, TCP_LINUX), "ready\n".len());
}

#[test]
fn interop_replay_tcp_closed_ports() {
    // A SYN to port 9 and the RST that answers it (RFC 9293 §3.10.7.1: ACK set, SEG.SEQ+1).
    for (name, client) in [
        ("tcp_syn_closed_port_linux_to_weft.pcap", TCP_LINUX),
        ("tcp_syn_closed_port_weft_to_linux.pcap", TCP_WEFT),
    ] {
        let segs = segments(name);
        assert_eq!(segs.len(), 2, "{name}: {segs:?}");
        assert!(
            segs[0].src == client && segs[0].flags == TcpFlags::SYN,
            "{name}"
        );
        assert_eq!(segs[0].dst_port, 9, "{name}");
        assert!(
            segs[1].src != client && segs[1].flags == (TcpFlags::RST | TcpFlags::ACK),
            "{name}"
        );
    }
    // Linux's SYN, fed to a fresh stack set up as weft was, draws the RST again.
    let (c, _, _) = replay_as(
        "tcp_syn_closed_port_linux_to_weft.pcap",
        TCP_WEFT_MAC,
        TCP_WEFT,
    );
    clean("tcp_syn_closed_port_linux_to_weft", &c);
    assert_eq!(c.tcp.rx_no_socket, 1);
    assert_eq!(c.tcp.rst_sent, 1);
}

#[test]
fn interop_replay_tcp_vanished_peer() {
    // While everything Linux sent was dropped before the TAP, only weft's segments pass: the
    // longest stretch without a segment from Linux holds the first unacknowledged segment
    // again and again (RTO backoff).
    let segs = segments("tcp_vanished_peer.pcap");
    handshake("tcp_vanished_peer", &segs, TCP_WEFT);
    let silent = segs
        .split(|s| s.src == TCP_LINUX)
        .max_by_key(|run| run.len())
        .unwrap();
    let first = silent.iter().find(|s| s.len > 0).unwrap().seq;
    let again = silent
        .iter()
        .filter(|s| s.seq == first && s.len > 0)
        .count();
    assert!(again >= 5, "the first lost segment sent {again} times");
    // No RST from Linux; weft's only RST answers Linux's FIN once its own side has given up.
    let (linux, weft) = rsts(&segs);
    assert_eq!(linux, 0);
    assert!(weft <= 1);
    if let Some(r) = segs.iter().position(|s| s.has(TcpFlags::RST)) {
        assert!(
            segs[..r]
                .iter()
                .any(|s| s.src == TCP_LINUX && s.has(TcpFlags::FIN))
        );
    }
}
