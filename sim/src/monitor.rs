//! The sender-side monitor: every frame a host's NIC emits is checked before any fault is
//! applied to it, so a violation here is the sender's own doing (the stack, or the glue
//! between it and the link), never the network's.
//!
//! Rules, each counted separately (frames checked, frames that broke it):
//!
//! | rule              | what it requires                                                   |
//! |-------------------|--------------------------------------------------------------------|
//! | `ethernet.header` | a complete Ethernet header                                         |
//! | `ethernet.src`    | the source MAC is the sending interface's own                      |
//! | `ethernet.mtu`    | what follows the Ethernet header (and any VLAN tags) no longer than the interface's MTU |
//! | `arp.format`      | Ethernet/IPv4 hardware and protocol types and lengths, request or reply |
//! | `arp.sender`      | sender MAC is the interface's, sender IP one of the host's (or 0.0.0.0, a probe) |
//! | `ipv4.header`     | version, header length, total length within the frame              |
//! | `ipv4.checksum`   | the header checksum verifies (RFC 791 §3.1)                        |
//! | `ipv4.length`     | nothing after the datagram but padding to the minimum frame (60 bytes, plus any VLAN tags) |
//! | `ipv4.src`        | the source is one of the host's addresses (0.0.0.0 only for DHCP)  |
//! | `udp.header`      | length field equals the IP payload length (RFC 768)                |
//! | `udp.checksum`    | present and correct (RFC 768; weft always computes it)             |
//! | `icmp.checksum`   | a complete message whose checksum verifies (RFC 792)               |
//! | `dhcp.message`    | a DHCP message that parses, the right op for its direction, Ethernet hardware type and length |
//! | `dhcp.chaddr`     | a client's `chaddr` is its own MAC (RFC 2131 §2)                   |
//! | `dhcp.xid`        | a SELECTING REQUEST keeps its DISCOVER's xid; a server answers only xids clients used (RFC 2131 §4.4.1) |
//! | `tcp.header`      | data offset of at least 5 words within the segment, well-formed options (RFC 9293 §3.1) |
//! | `tcp.checksum`    | the checksum verifies (RFC 9293 §3.1)                              |
//! | `tcp.ack`         | an ACK acknowledges only what the peer sent: ISN < SEG.ACK <= the peer's highest sequence number sent, in one of its incarnations (RFC 9293 §3.10.7.4) |
//! | `tcp.window`      | data starts after the SYN (ISN + 1, RFC 9293 §3.4) and ends at or before the right edge SND.UNA + SND.WND the sender can hold from what the peer advertised: SEG.ACK + SEG.WND (scaled per RFC 7323 §2.2 when both SYNs carried the option), or a newer SEG.ACK with the window of a segment further on in the peer's sequence space, which RFC 9293 §3.10.7.4 keeps (SND.WL1); a zero-window probe may carry one octet past it (RFC 9293 §3.8.6) |
//! | `tcp.mss`         | data plus TCP and IP options fit the MSS the peer announced, 536 without the option (RFC 9293 §3.7.1) |
//! | `tcp.fin`         | a FIN takes one sequence number after the last data, every retransmission at the same place, and no data follows it (RFC 9293 §3.5) |
//! | `tcp.rst`         | a RST's SEQ is 0 with an ACK (an answer to a segment without ACK), in the sender's own sequence space (up to the peer's window's right edge plus one: an abort's SND.NXT counts segments dropped inside the host, e.g. from the ARP queue), or an ACK number the peer sent (RFC 9293 §3.10.7.1, §3.10.4) |
//!
//! The TCP rules keep state per connection from the segments both ends emit (before any
//! fault, so the monitor knows exactly what each end sent and advertised); see
//! [`tcp`](self) for how incarnations (a crashed host, a reused 4-tuple) are told apart.
//!
//! Fragments other than the first carry no transport header: only the IPv4 rules apply to
//! them, and the UDP checksum of a fragmented datagram is not checked here.

mod tcp;

use crate::executor::HostId;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use weft_core::Instant;
use weft_wire::MacAddr;
use weft_wire::arp::{ArpHardware, ArpOperation, ArpPacket};
use weft_wire::dhcp::{DhcpMessageType, DhcpOp, DhcpPacket, DhcpRepr};
use weft_wire::ethernet::{EtherType, EthernetFrame};
use weft_wire::icmpv4::Icmpv4Packet;
use weft_wire::ipv4::{IpProtocol, Ipv4Packet};
use weft_wire::udp::{UdpChecksumVerdict, UdpPacket};

/// Every rule the monitor knows, in report order (the names of [`Rule::ALL`]).
// Evaluated at compile time: an index out of range would fail the build, not a run.
#[allow(clippy::indexing_slicing)]
pub const RULES: [&str; 22] = {
    let mut names = [""; Rule::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Rule::ALL[i].name();
        i += 1;
    }
    names
};

/// A rule, by its place in [`RULES`] (counted in an array, not looked up by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    EthernetHeader,
    EthernetSrc,
    EthernetMtu,
    ArpFormat,
    ArpSender,
    Ipv4Header,
    Ipv4Checksum,
    Ipv4Length,
    Ipv4Src,
    UdpHeader,
    UdpChecksum,
    IcmpChecksum,
    DhcpMessage,
    DhcpChaddr,
    DhcpXid,
    TcpHeader,
    TcpChecksum,
    TcpAck,
    TcpWindow,
    TcpMss,
    TcpFin,
    TcpRst,
}

impl Rule {
    /// Every rule, in report order: each one's place here is its discriminant (a test
    /// checks it), its index into the monitor's counts.
    const ALL: [Rule; 22] = [
        Rule::EthernetHeader,
        Rule::EthernetSrc,
        Rule::EthernetMtu,
        Rule::ArpFormat,
        Rule::ArpSender,
        Rule::Ipv4Header,
        Rule::Ipv4Checksum,
        Rule::Ipv4Length,
        Rule::Ipv4Src,
        Rule::UdpHeader,
        Rule::UdpChecksum,
        Rule::IcmpChecksum,
        Rule::DhcpMessage,
        Rule::DhcpChaddr,
        Rule::DhcpXid,
        Rule::TcpHeader,
        Rule::TcpChecksum,
        Rule::TcpAck,
        Rule::TcpWindow,
        Rule::TcpMss,
        Rule::TcpFin,
        Rule::TcpRst,
    ];

    /// The rule's name as reports give it (a rule added without one does not compile).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Rule::EthernetHeader => "ethernet.header",
            Rule::EthernetSrc => "ethernet.src",
            Rule::EthernetMtu => "ethernet.mtu",
            Rule::ArpFormat => "arp.format",
            Rule::ArpSender => "arp.sender",
            Rule::Ipv4Header => "ipv4.header",
            Rule::Ipv4Checksum => "ipv4.checksum",
            Rule::Ipv4Length => "ipv4.length",
            Rule::Ipv4Src => "ipv4.src",
            Rule::UdpHeader => "udp.header",
            Rule::UdpChecksum => "udp.checksum",
            Rule::IcmpChecksum => "icmp.checksum",
            Rule::DhcpMessage => "dhcp.message",
            Rule::DhcpChaddr => "dhcp.chaddr",
            Rule::DhcpXid => "dhcp.xid",
            Rule::TcpHeader => "tcp.header",
            Rule::TcpChecksum => "tcp.checksum",
            Rule::TcpAck => "tcp.ack",
            Rule::TcpWindow => "tcp.window",
            Rule::TcpMss => "tcp.mss",
            Rule::TcpFin => "tcp.fin",
            Rule::TcpRst => "tcp.rst",
        }
    }
}

/// Violations kept in full; beyond, only counted.
pub const MAX_VIOLATIONS: usize = 64;

/// One frame that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// When it was emitted.
    pub at: Instant,
    /// The sending host's name.
    pub host: String,
    /// The rule (one of [`RULES`]).
    pub rule: &'static str,
    /// What was wrong.
    pub detail: String,
}

/// Frames checked and failed, per rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCount {
    /// Frames the rule applied to.
    pub checked: u64,
    /// Frames that broke it.
    pub failed: u64,
}

/// What the monitor saw in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorReport {
    /// Frames checked (every frame a NIC emitted).
    pub frames: u64,
    /// Per rule, in [`RULES`] order.
    pub rules: BTreeMap<&'static str, RuleCount>,
    /// The first [`MAX_VIOLATIONS`] violations.
    pub violations: Vec<Violation>,
    /// All violations, including those not kept.
    pub total_violations: u64,
    /// TCP segments of connections beyond the tracked limit (65,536 at once): not checked.
    pub tcp_untracked: u64,
    /// DHCP client xids beyond the [`MAX_DHCP_XIDS`] remembered: not remembered, and a
    /// server reply to an xid the monitor does not know is then not judged (counted in
    /// `dhcp_replies_unchecked`).
    pub dhcp_xids_untracked: u64,
    /// Server replies not judged by `dhcp.xid` because some client xid was not remembered.
    pub dhcp_replies_unchecked: u64,
}

impl MonitorReport {
    /// Frames a rule checked (0 for an unknown rule).
    pub fn checked(&self, rule: &str) -> u64 {
        self.rules.get(rule).map_or(0, |c| c.checked)
    }

    /// True when no frame broke a rule.
    pub fn clean(&self) -> bool {
        self.total_violations == 0
    }
}

/// A host's interface as the monitor knows it.
#[derive(Debug, Clone)]
struct Nic {
    host: HostId,
    mac: MacAddr,
    /// The IP MTU: the most bytes after the Ethernet header and its tags.
    mtu: usize,
}

/// DHCP client xids the monitor remembers (a server may only answer these); beyond, new ones
/// are counted in [`MonitorReport::dhcp_xids_untracked`].
pub const MAX_DHCP_XIDS: usize = 1 << 16;

/// The shortest Ethernet frame without its FCS (IEEE 802.3 §4.4.2: 64 bytes with it); VLAN
/// tags add to it.
const MIN_FRAME: usize = 60;

#[derive(Debug, Default)]
struct HostView {
    name: String,
    /// Every address the host has had (static, or seen leased).
    addrs: BTreeSet<Ipv4Addr>,
    /// The xid of the host's latest DISCOVER.
    discover_xid: Option<u32>,
}

/// The monitor's state over a run.
#[derive(Debug, Default)]
pub(crate) struct Monitor {
    /// By endpoint (indexes are the fabric's, dense).
    nics: Vec<Option<Nic>>,
    /// By host (indexes are the simulation's, dense).
    hosts: Vec<HostView>,
    /// xids of client messages seen (a server may only answer these), at most
    /// `max_dhcp_xids`.
    client_xids: BTreeSet<u32>,
    /// [`MAX_DHCP_XIDS`] (smaller in tests).
    max_dhcp_xids: usize,
    /// TCP connections, both ends.
    tcp: tcp::TcpTracker,
    /// What the last TCP segment was checked against (reused from segment to segment).
    verdict: tcp::Verdict,
    /// Per rule, in [`RULES`] order.
    counts: [RuleCount; RULES.len()],
    /// Everything else the report holds (its `rules` are filled in from `counts`).
    report: MonitorReport,
}

/// The addresses a host holds now, asked for lazily (only when a frame names an address the
/// monitor has not seen the host hold).
pub(crate) type AddrLookup<'a> = dyn FnMut(HostId) -> Vec<Ipv4Addr> + 'a;

fn ip(b: &[u8]) -> Ipv4Addr {
    match b {
        [a, b, c, d] => Ipv4Addr::new(*a, *b, *c, *d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

impl Monitor {
    pub(crate) fn new() -> Monitor {
        Monitor {
            max_dhcp_xids: MAX_DHCP_XIDS,
            ..Monitor::default()
        }
    }

    /// Host `host` (named `name`) sends on `endpoint` with `mac`; `addrs` are its static
    /// addresses.
    pub(crate) fn register(
        &mut self,
        endpoint: usize,
        host: HostId,
        name: &str,
        mac: MacAddr,
        mtu: u16,
        addrs: &[Ipv4Addr],
    ) {
        if self.nics.len() <= endpoint {
            self.nics.resize(endpoint + 1, None);
        }
        let Some(slot) = self.nics.get_mut(endpoint) else {
            return;
        };
        *slot = Some(Nic {
            host,
            mac,
            mtu: usize::from(mtu),
        });
        let Some(h) = self.view(host) else { return };
        h.name = name.to_string();
        h.addrs.extend(addrs.iter().copied());
    }

    /// Host `host`'s view, created empty on first use.
    fn view(&mut self, host: HostId) -> Option<&mut HostView> {
        if self.hosts.len() <= host {
            self.hosts.resize_with(host + 1, HostView::default);
        }
        self.hosts.get_mut(host)
    }

    pub(crate) fn report(&self) -> MonitorReport {
        let mut r = self.report.clone();
        r.rules = RULES.iter().copied().zip(self.counts).collect();
        r.tcp_untracked = self.tcp.untracked;
        r
    }

    fn rule(&mut self, rule: Rule, ok: bool) -> bool {
        let Some(c) = self.counts.get_mut(rule as usize) else {
            return ok;
        };
        c.checked += 1;
        if !ok {
            c.failed += 1;
        }
        ok
    }

    fn violation(&mut self, at: Instant, host: HostId, rule: Rule, detail: String) {
        self.report.total_violations += 1;
        if self.report.violations.len() < MAX_VIOLATIONS {
            let host = self
                .hosts
                .get(host)
                .map(|h| h.name.clone())
                .unwrap_or_default();
            self.report.violations.push(Violation {
                at,
                host,
                rule: rule.name(),
                detail,
            });
        }
    }

    /// Checks `rule`; on failure records a violation with `detail()`.
    fn expect(
        &mut self,
        at: Instant,
        host: HostId,
        rule: Rule,
        ok: bool,
        detail: impl FnOnce() -> String,
    ) -> bool {
        if !self.rule(rule, ok) {
            self.violation(at, host, rule, detail());
        }
        ok
    }

    /// True when `a` is (or was) one of the host's addresses, asking `lookup` once if it is
    /// not known yet.
    fn holds(&mut self, host: HostId, a: Ipv4Addr, lookup: &mut AddrLookup<'_>) -> bool {
        let Some(view) = self.view(host) else {
            return false;
        };
        if view.addrs.contains(&a) {
            return true;
        }
        view.addrs.extend(lookup(host));
        view.addrs.contains(&a)
    }

    /// Checks one frame emitted by the NIC at `endpoint`.
    pub(crate) fn check(
        &mut self,
        at: Instant,
        endpoint: usize,
        frame: &[u8],
        lookup: &mut AddrLookup<'_>,
    ) {
        let Some(Some(nic)) = self.nics.get(endpoint).cloned() else {
            return;
        };
        let h = nic.host;
        self.report.frames += 1;
        let eth = EthernetFrame::new_checked(frame);
        let ok = self.expect(at, h, Rule::EthernetHeader, eth.is_ok(), || {
            format!("{} bytes: not an Ethernet frame", frame.len())
        });
        let Ok(eth) = eth else { return };
        let src = eth.src();
        self.expect(at, h, Rule::EthernetSrc, src == nic.mac, || {
            format!("source MAC {src} is not the interface's {}", nic.mac)
        });
        // The MTU limits what follows the header: an 802.1Q tag makes a full frame 4 bytes
        // longer (IEEE 802.3 §3.5).
        let payload = eth.payload().len();
        self.expect(at, h, Rule::EthernetMtu, payload <= nic.mtu, || {
            format!(
                "{payload} bytes after the Ethernet header exceed the MTU {}",
                nic.mtu
            )
        });
        if !ok {
            return;
        }
        match eth.ethertype() {
            EtherType::ARP => self.check_arp(at, &nic, eth.payload(), lookup),
            EtherType::IPV4 => {
                let header = eth.header_len();
                self.check_ipv4(at, &nic, (header, frame.len()), eth.payload(), lookup);
            }
            _ => {}
        }
    }

    fn check_arp(&mut self, at: Instant, nic: &Nic, p: &[u8], lookup: &mut AddrLookup<'_>) {
        let h = nic.host;
        // RFC 826: Ethernet (1) / IPv4 (0x0800), 6- and 4-byte addresses.
        let pkt = ArpPacket::new_checked(p);
        let format = match &pkt {
            Ok(a) => {
                let op = a.operation();
                match a.check_ethernet_ipv4() {
                    Err(e) => Err(e.to_string()),
                    Ok(()) if op == ArpOperation::REQUEST || op == ArpOperation::REPLY => Ok(()),
                    Ok(()) => Err(format!("operation {} is neither request nor reply", op.0)),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let ok = self.expect(at, h, Rule::ArpFormat, format.is_ok(), || {
            format.clone().err().unwrap_or_default()
        });
        let Ok(a) = pkt else { return };
        if !ok || a.hardware_type() != ArpHardware::ETHERNET {
            return;
        }
        let sha = a.sender_hardware_addr();
        let spa = ip(a.sender_protocol_addr());
        let mac_ok = sha == nic.mac.0.as_slice();
        // RFC 5227 §2.1.1: a probe's sender IP is zero.
        let ip_ok = spa.is_unspecified() || self.holds(h, spa, lookup);
        let mac = nic.mac;
        self.expect(at, h, Rule::ArpSender, mac_ok && ip_ok, || {
            format!(
                "sender {sha:02x?} / {spa} is not the interface's {mac} / an address of the host"
            )
        });
    }

    /// Checks an IPv4 datagram `p` that follows `header` bytes of Ethernet header in a frame of
    /// `frame_len` bytes.
    fn check_ipv4(
        &mut self,
        at: Instant,
        nic: &Nic,
        (header, frame_len): (usize, usize),
        p: &[u8],
        lookup: &mut AddrLookup<'_>,
    ) {
        let h = nic.host;
        let pkt = Ipv4Packet::new_checked(p);
        let detail = pkt.as_ref().err().map(ToString::to_string);
        if !self.expect(at, h, Rule::Ipv4Header, pkt.is_ok(), || {
            detail.unwrap_or_default()
        }) {
            return;
        }
        let Ok(ip4) = pkt else { return };
        let sum = ip4.checksum();
        self.expect(at, h, Rule::Ipv4Checksum, ip4.verify_checksum(), || {
            format!("header checksum {sum:#06x} does not verify")
        });
        // RFC 894: frames are padded to the minimum (60 bytes, tags on top); anything else
        // after the datagram is junk.
        let total = usize::from(ip4.total_len());
        let min_frame = MIN_FRAME + header.saturating_sub(14);
        let ok_len =
            header + total == frame_len || (frame_len <= min_frame && header + total <= frame_len);
        self.expect(at, h, Rule::Ipv4Length, ok_len, || {
            format!("total length {total} in a frame of {frame_len} bytes")
        });
        let src = ip4.src();
        let proto = ip4.protocol();
        let payload = ip4.payload();
        let udp_ports = (proto == IpProtocol::UDP && !ip4.is_fragment())
            .then(|| UdpPacket::new_checked(payload).ok())
            .flatten()
            .map(|u| (u.src_port(), u.dst_port()));
        // RFC 2131 §4.1: a client without an address sends from 0.0.0.0.
        let dhcp_client = udp_ports == Some((68, 67));
        let src_ok = (src.is_unspecified() && dhcp_client) || self.holds(h, src, lookup);
        self.expect(at, h, Rule::Ipv4Src, src_ok, || {
            format!("source {src} is not an address of the host")
        });
        if ip4.is_fragment() {
            return;
        }
        let dst = ip4.dst();
        if proto == IpProtocol::UDP {
            let u = UdpPacket::new_checked(payload);
            let len_ok = u
                .as_ref()
                .is_ok_and(|u| usize::from(u.len_field()) == payload.len());
            let d = match &u {
                Ok(u) => format!(
                    "length field {} for {} bytes of IP payload",
                    u.len_field(),
                    payload.len()
                ),
                Err(e) => e.to_string(),
            };
            self.expect(at, h, Rule::UdpHeader, len_ok, || d);
            let Ok(u) = u else { return };
            let verdict = u.verify_checksum(src, dst);
            self.expect(
                at,
                h,
                Rule::UdpChecksum,
                verdict == UdpChecksumVerdict::Good,
                || match verdict {
                    UdpChecksumVerdict::Bad { found, expected } => {
                        format!("checksum {found:#06x}, expected {expected:#06x}")
                    }
                    UdpChecksumVerdict::Absent | UdpChecksumVerdict::Good => {
                        "no checksum (zero)".to_string()
                    }
                },
            );
            let (sp, dp) = (u.src_port(), u.dst_port());
            if (sp, dp) == (68, 67) || (sp == 67 && (dp == 68 || dp == 67)) {
                self.check_dhcp(at, nic, sp == 68, u.payload());
            }
        } else if proto == IpProtocol::TCP {
            let mut verdict = core::mem::take(&mut self.verdict);
            self.tcp.check(
                src,
                dst,
                ip4.header_len().saturating_sub(20),
                payload,
                &mut verdict,
            );
            for (rule, broken) in verdict.0.drain(..) {
                let ok = broken.is_none();
                self.expect(at, h, rule, ok, || broken.unwrap_or_default());
            }
            self.verdict = verdict;
        } else if proto == IpProtocol::ICMP {
            let ok = Icmpv4Packet::new_checked(payload).is_ok_and(|i| i.verify_checksum());
            self.expect(at, h, Rule::IcmpChecksum, ok, || {
                format!(
                    "{}-byte ICMP message is truncated or fails its checksum",
                    payload.len()
                )
            });
        }
    }

    fn check_dhcp(&mut self, at: Instant, nic: &Nic, from_client: bool, p: &[u8]) {
        let h = nic.host;
        let pkt = DhcpPacket::new_checked(p);
        let parsed = pkt
            .as_ref()
            .map_err(ToString::to_string)
            .and_then(|pk| DhcpRepr::parse(pk).map_err(|e| e.to_string()));
        let want = if from_client {
            DhcpOp::Request
        } else {
            DhcpOp::Reply
        };
        // RFC 2131 §2: op 1 from clients, 2 from servers; htype 1 and hlen 6 for Ethernet.
        let side = if from_client { "client" } else { "server" };
        let fmt: Result<(), String> = match (&pkt, &parsed) {
            (_, Err(e)) => Err(e.clone()),
            (Err(e), Ok(_)) => Err(e.to_string()),
            (Ok(pk), Ok(r)) => {
                if r.op != want {
                    Err(format!("op {:?} in a message from the {side} port", r.op))
                } else if (pk.htype(), pk.hlen()) != (1, 6) {
                    Err(format!("htype {} hlen {}", pk.htype(), pk.hlen()))
                } else {
                    Ok(())
                }
            }
        };
        let ok = self.expect(at, h, Rule::DhcpMessage, fmt.is_ok(), || {
            fmt.clone().err().unwrap_or_default()
        });
        let Ok(r) = parsed else { return };
        if !ok {
            return;
        }
        if from_client {
            let mac = nic.mac;
            let chaddr = r.client_hardware_address;
            self.expect(at, h, Rule::DhcpChaddr, chaddr == mac, || {
                format!("chaddr {chaddr} is not the interface's {mac}")
            });
            if self.client_xids.len() < self.max_dhcp_xids || self.client_xids.contains(&r.xid) {
                self.client_xids.insert(r.xid);
            } else {
                self.report.dhcp_xids_untracked += 1;
            }
            let Some(view) = self.view(h) else { return };
            match r.message_type {
                Some(DhcpMessageType::Discover) => {
                    view.discover_xid = Some(r.xid);
                    self.rule(Rule::DhcpXid, true);
                }
                // RFC 2131 §4.4.1: the REQUEST answering an OFFER carries the DISCOVER's xid.
                Some(DhcpMessageType::Request) if r.server_identifier.is_some() => {
                    let last = view.discover_xid;
                    let xid = r.xid;
                    self.expect(at, h, Rule::DhcpXid, last == Some(xid), || {
                        let discover = last.map_or_else(
                            || "no DISCOVER".to_string(),
                            |x| format!("DISCOVER xid {x:#010x}"),
                        );
                        format!("SELECTING REQUEST xid {xid:#010x}, {discover}")
                    });
                }
                _ => {}
            }
        } else {
            let xid = r.xid;
            let known = self.client_xids.contains(&xid);
            if !known && self.report.dhcp_xids_untracked > 0 {
                // It may answer an xid the monitor could not remember.
                self.report.dhcp_replies_unchecked += 1;
                return;
            }
            self.expect(at, h, Rule::DhcpXid, known, || {
                format!("reply xid {xid:#010x} answers no client message")
            });
        }
    }
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn monitor_rules_are_numbered_in_report_order() {
        for (i, r) in Rule::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert_eq!(Some(&r.name()), RULES.get(i));
        }
        // Each rule once (a variant listed twice in ALL would leave another out).
        let names: BTreeSet<&str> = RULES.iter().copied().collect();
        assert_eq!(names.len(), RULES.len());
        // The report lists every rule, checked or not, in RULES order of names.
        let m = Monitor::new();
        let report = m.report();
        assert_eq!(report.rules.len(), RULES.len());
        assert!(RULES.iter().all(|r| report.rules.contains_key(r)));
    }

    /// A DHCP message of `op` and `kind` with `xid` from hardware address `mac`.
    fn dhcp(op: DhcpOp, kind: DhcpMessageType, xid: u32, mac: MacAddr) -> Vec<u8> {
        let r = DhcpRepr {
            op,
            hops: 0,
            xid,
            secs: 0,
            broadcast: false,
            client_ip: Ipv4Addr::UNSPECIFIED,
            your_ip: Ipv4Addr::UNSPECIFIED,
            server_ip: Ipv4Addr::UNSPECIFIED,
            relay_agent_ip: Ipv4Addr::UNSPECIFIED,
            client_hardware_address: mac,
            server_name: &[],
            boot_file: &[],
            message_type: Some(kind),
            subnet_mask: None,
            routers: None,
            dns_servers: None,
            host_name: None,
            requested_ip: None,
            lease_time: None,
            server_identifier: None,
            parameter_request_list: None,
            renewal_time: None,
            rebinding_time: None,
            client_identifier: None,
            other_options: weft_wire::dhcp::DhcpOptions::new(),
        };
        let mut p = vec![0u8; r.buffer_len()];
        assert!(r.emit(&mut p).is_ok());
        p
    }

    #[test]
    fn monitor_remembers_a_bounded_number_of_dhcp_xids() {
        let mut m = Monitor::new();
        m.max_dhcp_xids = 4;
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let nic = Nic {
            host: 0,
            mac,
            mtu: 1500,
        };
        let at = Instant::ZERO;
        let offer = |xid| dhcp(DhcpOp::Reply, DhcpMessageType::Offer, xid, mac);
        for xid in 1..=4 {
            m.check_dhcp(
                at,
                &nic,
                true,
                &dhcp(DhcpOp::Request, DhcpMessageType::Discover, xid, mac),
            );
        }
        // Within the bound, a reply to an xid no client used is a violation; one to a
        // remembered xid is not.
        m.check_dhcp(at, &nic, false, &offer(3));
        m.check_dhcp(at, &nic, false, &offer(99));
        assert_eq!(m.report().total_violations, 1);
        // A fifth xid is not remembered (counted), a repeated one is no new entry.
        m.check_dhcp(
            at,
            &nic,
            true,
            &dhcp(DhcpOp::Request, DhcpMessageType::Discover, 4, mac),
        );
        m.check_dhcp(
            at,
            &nic,
            true,
            &dhcp(DhcpOp::Request, DhcpMessageType::Discover, 5, mac),
        );
        assert_eq!(m.client_xids.len(), 4);
        assert_eq!(m.report().dhcp_xids_untracked, 1);
        // From then on a reply to an unknown xid may answer the forgotten one: not judged,
        // counted; replies to remembered xids are still judged.
        m.check_dhcp(at, &nic, false, &offer(5));
        m.check_dhcp(at, &nic, false, &offer(1));
        let r = m.report();
        assert_eq!(r.dhcp_replies_unchecked, 1);
        assert_eq!(r.total_violations, 1);
    }
}
