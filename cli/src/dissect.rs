//! Turns one captured record into a [`FrameReport`]: every header through weft-wire's checked
//! parsers, checksum verdicts computed (never assumed), and the first typed error kept as the
//! reason decoding stopped.
//!
//! Frames cut by the capture's snapshot length are decoded as far as their headers go: an
//! IPv4 header whose total length runs past the captured bytes is read with the lenient view
//! (`Ipv4Packet::new_quoted`) only when the record says bytes were cut, and checksums that
//! cover missing bytes are reported `unverified`.

use crate::model::{
    ChecksumReport, FrameReport, Layer, Rejection, TcpOptionReport, Verdict, VlanReport,
};
use std::fmt::Write as _;
use weft_pcap::{LinkType, NetworkProto, Record};
use weft_wire::arp::{ArpPacket, ArpRepr};
use weft_wire::dhcp::{DhcpOp, DhcpPacket, DhcpRepr};
use weft_wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use weft_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use weft_wire::ipv4::{Ipv4Error, Ipv4Option, Ipv4Packet};
use weft_wire::tcp::{TcpOption, TcpPacket};
use weft_wire::udp::{UdpChecksumVerdict, UdpError, UdpPacket};
use weft_wire::{ChecksumMode, Ipv4Addr};

/// A stable reason key from an error's Debug form: `layer.Variant`.
fn reason<E: std::fmt::Debug>(layer: &str, e: &E) -> String {
    let dbg = format!("{e:?}");
    let variant: String = dbg
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    format!("{layer}.{variant}")
}

fn reject<E: std::fmt::Debug + std::fmt::Display>(layer: &'static str, e: &E) -> Rejection {
    Rejection {
        layer,
        reason: reason(layer, e),
        message: e.to_string(),
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Decodes one record.
pub fn dissect(rec: &Record<'_>) -> FrameReport {
    let mut f = FrameReport {
        number: usize::try_from(rec.number()).unwrap_or(usize::MAX),
        offset: rec.offset,
        timestamp_ns: rec.timestamp.map(|t| t.as_nanos()),
        caplen: rec.data.len(),
        orig_len: rec.orig_len,
        link_type: rec
            .link_type
            .map_or_else(|| "unknown".to_string(), |l| format!("{l:?}")),
        layers: Vec::new(),
        payload_len: 0,
        rejected: None,
        notes: rec.issues.iter().map(|i| i.to_string()).collect(),
        claims: Vec::new(),
    };
    let cut = rec.is_truncated();
    if cut {
        f.notes.push(format!(
            "captured {} of {} bytes",
            rec.data.len(),
            rec.orig_len
        ));
    }
    let (proto, net) = match rec.network_payload() {
        Ok(x) => x,
        Err(e) => {
            f.rejected = Some(reject("link", &e));
            return f;
        }
    };
    match rec.link_type {
        Some(LinkType::LinuxSll) => {
            let b = rec.data;
            let u16at = |i: usize| {
                b.get(i..i + 2)
                    .and_then(|s| s.try_into().ok())
                    .map_or(0, u16::from_be_bytes)
            };
            f.layers.push(Layer::LinuxSll {
                packet_type: u16at(0),
                protocol: u16at(14),
            });
        }
        Some(LinkType::Null) => {
            let fam = rec
                .data
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .map_or(0, u32::from_le_bytes);
            let fam = if fam & 0xffff_0000 != 0 {
                fam.swap_bytes()
            } else {
                fam
            };
            f.layers.push(Layer::Loopback { family: fam });
        }
        _ => {}
    }
    match proto {
        NetworkProto::Ethernet => ethernet(&mut f, net, cut),
        NetworkProto::Ipv4 => ipv4(&mut f, net, cut),
        NetworkProto::Arp => arp(&mut f, net),
        NetworkProto::Ipv6 => {
            f.payload_len = net.len();
            f.notes.push("not decoded further: IPv6".into());
        }
    }
    f
}

fn ethernet(f: &mut FrameReport, b: &[u8], cut: bool) {
    let frame = match EthernetFrame::new_checked(b) {
        Ok(x) => x,
        Err(e) => {
            f.rejected = Some(reject("ethernet", &e));
            return;
        }
    };
    let r = EthernetRepr::parse(&frame);
    f.layers.push(Layer::Ethernet {
        src: r.src.to_string(),
        dst: r.dst.to_string(),
        vlans: r
            .vlans
            .iter()
            .map(|v| VlanReport {
                tpid: v.tpid.0,
                pcp: v.pcp,
                dei: v.dei,
                vid: v.vid,
            })
            .collect(),
        ethertype: r.ethertype.0,
    });
    let payload = b.get(frame.header_len()..).unwrap_or_default();
    match r.ethertype {
        EtherType::IPV4 => ipv4(f, payload, cut),
        EtherType::ARP => arp(f, payload),
        other => {
            f.payload_len = payload.len();
            f.notes
                .push(format!("not decoded further: ethertype {other}"));
        }
    }
}

fn arp(f: &mut FrameReport, b: &[u8]) {
    f.claim("arp");
    let p = match ArpPacket::new_checked(b) {
        Ok(p) => p,
        Err(e) => {
            f.rejected = Some(reject("arp", &e));
            return;
        }
    };
    match ArpRepr::parse(&p) {
        Ok(r) => {
            f.layers.push(Layer::Arp {
                operation: r.operation.0,
                sender_mac: r.sender_mac.to_string(),
                sender_ip: r.sender_ip.to_string(),
                target_mac: r.target_mac.to_string(),
                target_ip: r.target_ip.to_string(),
            });
            f.payload_len = p.padding().len();
        }
        Err(e) => f.rejected = Some(reject("arp", &e)),
    }
}

fn ipv4_option_text(o: &Ipv4Option<'_>) -> String {
    match o {
        Ipv4Option::EndOfList => "EOL".into(),
        Ipv4Option::Nop => "NOP".into(),
        Ipv4Option::RouterAlert(v) => format!("RA value {v}"),
        other => format!("{other:?}"),
    }
}

/// What an IPv4 header says it carries, read before validation (see `FrameReport::claims`).
fn claim_ipv4(f: &mut FrameReport, b: &[u8]) {
    let (Some(&vihl), Some(&proto)) = (b.first(), b.get(9)) else {
        return;
    };
    if vihl >> 4 != 4 || b.len() < 20 {
        return;
    }
    f.claim("ipv4");
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 || ihl > b.len() {
        return;
    }
    let first_fragment = matches!(b.get(6..8), Some([hi, 0]) if hi & 0x1f == 0);
    // A non-first fragment carries no transport header.
    if !first_fragment {
        return;
    }
    match proto {
        1 => f.claim("icmp"),
        6 => f.claim("tcp"),
        17 => {
            f.claim("udp");
            let port = |at: usize| {
                b.get(ihl + at..ihl + at + 2)
                    .and_then(|x| x.try_into().ok())
                    .map(u16::from_be_bytes)
            };
            let dhcp = |p: Option<u16>| matches!(p, Some(67 | 68));
            if dhcp(port(0)) || dhcp(port(2)) {
                f.claim("dhcp");
            }
        }
        _ => {}
    }
}

fn ipv4(f: &mut FrameReport, b: &[u8], cut: bool) {
    claim_ipv4(f, b);
    let p = match Ipv4Packet::new_checked(b) {
        Ok(p) => p,
        // The snapshot length cut the datagram: read the header leniently.
        Err(Ipv4Error::TotalLenExceedsBuffer { .. }) if cut => match Ipv4Packet::new_quoted(b) {
            Ok(p) => p,
            Err(e) => {
                f.rejected = Some(reject("ipv4", &e));
                return;
            }
        },
        Err(e) => {
            f.rejected = Some(reject("ipv4", &e));
            return;
        }
    };
    let verdict = if p.verify_checksum() {
        Verdict::Good
    } else {
        let mut hdr = [0u8; 60];
        let n = p.header_len();
        let expected = match hdr.get_mut(..n).zip(p.header().get(..n)) {
            Some((dst, src)) => {
                dst.copy_from_slice(src);
                if let Some(c) = dst.get_mut(10..12) {
                    c.fill(0);
                }
                weft_wire::checksum::checksum(dst)
            }
            None => 0,
        };
        Verdict::Bad { expected }
    };
    f.layers.push(Layer::Ipv4 {
        src: p.src().to_string(),
        dst: p.dst().to_string(),
        header_len: p.header_len(),
        total_len: p.total_len(),
        dscp: p.dscp(),
        ecn: p.ecn(),
        ident: p.ident(),
        dont_frag: p.dont_frag(),
        more_frags: p.more_frags(),
        frag_offset: p.frag_offset_bytes(),
        ttl: p.ttl(),
        protocol: p.protocol().0,
        options: p.options().map(|o| ipv4_option_text(&o)).collect(),
        checksum: ChecksumReport {
            value: p.checksum(),
            verdict,
        },
    });
    let payload = p.payload();
    if p.frag_offset_units() != 0 {
        f.payload_len = payload.len();
        f.notes
            .push(format!("fragment at offset {}", p.frag_offset_bytes()));
        return;
    }
    // The transport checksum covers the whole datagram: not checkable when cut or fragmented.
    let partial = p.is_truncated() || p.more_frags();
    let (src, dst) = (p.src(), p.dst());
    match p.protocol().0 {
        1 => icmp(f, payload, partial),
        6 => tcp(f, payload, src, dst, partial),
        17 => udp(f, payload, src, dst, partial),
        n => {
            f.payload_len = payload.len();
            f.notes
                .push(format!("not decoded further: IP protocol {n}"));
        }
    }
}

fn icmp(f: &mut FrameReport, b: &[u8], partial: bool) {
    let p = match Icmpv4Packet::new_checked(b) {
        Ok(p) => p,
        Err(e) => {
            f.rejected = Some(reject("icmp", &e));
            return;
        }
    };
    let verdict = if partial {
        Verdict::Unverified
    } else if p.verify_checksum() {
        Verdict::Good
    } else {
        let mut c = weft_wire::checksum::Checksum::new();
        c.add_bytes(b.get(..2).unwrap_or_default())
            .add_bytes(b.get(4..).unwrap_or_default());
        Verdict::Bad {
            expected: c.finish(),
        }
    };
    let summary = match Icmpv4Repr::parse(&p, ChecksumMode::Trust) {
        Ok(Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        }) => {
            format!(
                "echo request, id {ident}, seq {seq_no}, length {}",
                data.len()
            )
        }
        Ok(Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        }) => {
            format!(
                "echo reply, id {ident}, seq {seq_no}, length {}",
                data.len()
            )
        }
        Ok(Icmpv4Repr::DstUnreachable {
            code,
            next_hop_mtu,
            quoted,
            ..
        }) => {
            let mut s = format!("unreachable {code:?}");
            if code.0 == 4 {
                let _ = write!(s, ", next-hop MTU {next_hop_mtu}");
            }
            let _ = write!(s, ", quoted {} bytes", quoted.len());
            s
        }
        Ok(Icmpv4Repr::TimeExceeded { code, quoted, .. }) => {
            format!("time exceeded {code:?}, quoted {} bytes", quoted.len())
        }
        Ok(Icmpv4Repr::ParameterProblem {
            pointer, quoted, ..
        }) => {
            format!(
                "parameter problem, pointer {pointer}, quoted {} bytes",
                quoted.len()
            )
        }
        Ok(Icmpv4Repr::Other {
            msg_type,
            code,
            data,
            ..
        }) => {
            format!("type {} code {code}, length {}", msg_type.0, data.len())
        }
        Err(e) => {
            f.rejected = Some(reject("icmp", &e));
            return;
        }
    };
    f.layers.push(Layer::Icmpv4 {
        icmp_type: p.msg_type().0,
        code: p.code(),
        summary,
        checksum: ChecksumReport {
            value: p.checksum(),
            verdict,
        },
    });
}

fn tcp(f: &mut FrameReport, b: &[u8], src: Ipv4Addr, dst: Ipv4Addr, partial: bool) {
    let p = match TcpPacket::new_checked(b) {
        Ok(p) => p,
        Err(e) => {
            f.rejected = Some(reject("tcp", &e));
            return;
        }
    };
    let verdict = if partial {
        Verdict::Unverified
    } else if p.verify_checksum(src, dst) {
        Verdict::Good
    } else {
        Verdict::Bad {
            expected: p.compute_checksum(src, dst),
        }
    };
    let options = p
        .options()
        .map(|o| match o {
            TcpOption::EndOfList => TcpOptionReport::Eol,
            TcpOption::Nop => TcpOptionReport::Nop,
            TcpOption::Mss(value) => TcpOptionReport::Mss { value },
            TcpOption::WindowScale(shift) => TcpOptionReport::WindowScale { shift },
            TcpOption::SackPermitted => TcpOptionReport::SackPermitted,
            TcpOption::Sack(blocks) => TcpOptionReport::Sack {
                blocks: blocks.to_vec(),
            },
            TcpOption::Timestamps { tsval, tsecr } => TcpOptionReport::Timestamps { tsval, tsecr },
            TcpOption::Unknown { kind, data } => TcpOptionReport::Unknown {
                code: kind,
                data: hex(data),
            },
        })
        .collect();
    let flags = p.flags();
    f.layers.push(Layer::Tcp {
        src_port: p.src_port(),
        dst_port: p.dst_port(),
        seq: p.seq_number(),
        ack: p.ack_number(),
        flags: flags.to_string(),
        flag_bits: flags.bits(),
        window: p.window_len(),
        urgent: p.urgent_pointer(),
        header_len: p.header_len(),
        options,
        payload_len: p.payload().len(),
        checksum: ChecksumReport {
            value: p.checksum(),
            verdict,
        },
    });
    f.payload_len = p.payload().len();
}

fn udp(f: &mut FrameReport, b: &[u8], src: Ipv4Addr, dst: Ipv4Addr, partial: bool) {
    let p = match UdpPacket::new_checked(b) {
        Ok(p) => p,
        // A first fragment or a datagram cut by the capture: the 8-byte header is whole but
        // the length field covers bytes that are not here. Report the header as it stands.
        Err(UdpError::LengthBeyondBuffer { length, .. }) if partial => {
            let field = |at: usize| {
                b.get(at..at + 2)
                    .and_then(|x| x.try_into().ok())
                    .map_or(0, u16::from_be_bytes)
            };
            f.layers.push(Layer::Udp {
                src_port: field(0),
                dst_port: field(2),
                length,
                payload_len: b.len().saturating_sub(8),
                checksum: ChecksumReport {
                    value: field(6),
                    verdict: if field(6) == 0 {
                        Verdict::Absent
                    } else {
                        Verdict::Unverified
                    },
                },
            });
            f.payload_len = b.len().saturating_sub(8);
            f.notes
                .push(format!("UDP length {length} runs past the bytes present"));
            return;
        }
        Err(e) => {
            f.rejected = Some(reject("udp", &e));
            return;
        }
    };
    let verdict = if p.checksum() == 0 {
        Verdict::Absent
    } else if partial {
        Verdict::Unverified
    } else {
        match p.verify_checksum(src, dst) {
            UdpChecksumVerdict::Good => Verdict::Good,
            UdpChecksumVerdict::Bad { expected, .. } => Verdict::Bad { expected },
            UdpChecksumVerdict::Absent => Verdict::Absent,
        }
    };
    f.layers.push(Layer::Udp {
        src_port: p.src_port(),
        dst_port: p.dst_port(),
        length: p.len_field(),
        payload_len: p.payload().len(),
        checksum: ChecksumReport {
            value: p.checksum(),
            verdict,
        },
    });
    f.payload_len = p.payload().len();
    let is_dhcp = |port: u16| port == 67 || port == 68;
    if is_dhcp(p.src_port()) || is_dhcp(p.dst_port()) {
        dhcp(f, p.payload());
    }
}

fn dhcp(f: &mut FrameReport, b: &[u8]) {
    let p = match DhcpPacket::new_checked(b) {
        Ok(p) => p,
        Err(e) => {
            f.rejected = Some(reject("dhcp", &e));
            return;
        }
    };
    let r = match DhcpRepr::parse(&p) {
        Ok(r) => r,
        Err(e) => {
            f.rejected = Some(reject("dhcp", &e));
            return;
        }
    };
    let mut options = Vec::new();
    let list = |l: &weft_wire::dhcp::Ipv4List<'_>| {
        l.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if let Some(m) = r.subnet_mask {
        options.push(format!("subnet {m}"));
    }
    if let Some(l) = &r.routers {
        options.push(format!("router {}", list(l)));
    }
    if let Some(l) = &r.dns_servers {
        options.push(format!("dns {}", list(l)));
    }
    if let Some(h) = r.host_name {
        options.push(format!("hostname {:?}", String::from_utf8_lossy(h)));
    }
    if let Some(a) = r.requested_ip {
        options.push(format!("requested {a}"));
    }
    if let Some(t) = r.lease_time {
        options.push(format!("lease {t}s"));
    }
    if let Some(a) = r.server_identifier {
        options.push(format!("server-id {a}"));
    }
    if let Some(prl) = r.parameter_request_list {
        let codes: Vec<String> = prl.iter().map(u8::to_string).collect();
        options.push(format!("request-list {}", codes.join(",")));
    }
    if let Some(t) = r.renewal_time {
        options.push(format!("T1 {t}s"));
    }
    if let Some(t) = r.rebinding_time {
        options.push(format!("T2 {t}s"));
    }
    if let Some(c) = &r.client_identifier {
        options.push(format!("client-id {c:?}"));
    }
    for o in r.other_options.iter() {
        options.push(format!("opt-{} {}", o.code, hex(o.data)));
    }
    f.layers.push(Layer::Dhcp {
        op: match r.op {
            DhcpOp::Request => "request".into(),
            DhcpOp::Reply => "reply".into(),
        },
        xid: r.xid,
        message_type: r.message_type.map(|m| format!("{m:?}")),
        ciaddr: r.client_ip.to_string(),
        yiaddr: r.your_ip.to_string(),
        siaddr: r.server_ip.to_string(),
        giaddr: r.relay_agent_ip.to_string(),
        chaddr: r.client_hardware_address.to_string(),
        options,
    });
    f.payload_len = 0;
}
