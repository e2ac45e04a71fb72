//! What `weft decode` reports about one frame: plain, serialisable values built from the
//! weft-wire Reprs. The text renderer (`render`) and `--json` both print these.

use serde::Serialize;
use std::collections::BTreeMap;

/// A checksum field and what checking it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChecksumReport {
    /// The value carried in the packet.
    pub value: u16,
    /// The verdict.
    pub verdict: Verdict,
}

/// A checksum verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// The checksum verifies.
    Good,
    /// The checksum is wrong; `expected` is what it should be.
    Bad {
        /// The value a correct sender would have put there.
        expected: u16,
    },
    /// UDP only: zero means the sender computed none (RFC 768).
    Absent,
    /// The covered bytes are not all present (cut by the capture's snapshot length, or an IP
    /// fragment), so the checksum cannot be checked.
    Unverified,
}

impl Verdict {
    /// Short text for the one-line format.
    pub fn text(&self) -> String {
        match self {
            Verdict::Good => "ok".into(),
            Verdict::Bad { expected } => format!("bad, expected {expected:#06x}"),
            Verdict::Absent => "none".into(),
            Verdict::Unverified => "unverified".into(),
        }
    }
}

/// One VLAN tag.
#[derive(Debug, Clone, Serialize)]
pub struct VlanReport {
    /// Tag protocol identifier.
    pub tpid: u16,
    /// Priority code point.
    pub pcp: u8,
    /// Drop eligible.
    pub dei: bool,
    /// VLAN id.
    pub vid: u16,
}

/// One TCP option as decoded.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TcpOptionReport {
    /// End of option list.
    Eol,
    /// No-operation.
    Nop,
    /// Maximum segment size.
    Mss {
        /// Value.
        value: u16,
    },
    /// Window scale shift.
    WindowScale {
        /// Shift count.
        shift: u8,
    },
    /// SACK permitted.
    SackPermitted,
    /// SACK blocks.
    Sack {
        /// (left, right) edges.
        blocks: Vec<(u32, u32)>,
    },
    /// Timestamps.
    Timestamps {
        /// TSval.
        tsval: u32,
        /// TSecr.
        tsecr: u32,
    },
    /// Any other option, kept with its bytes.
    Unknown {
        /// Option kind.
        code: u8,
        /// Option data (hex).
        data: String,
    },
}

/// A decoded protocol layer.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "layer", rename_all = "snake_case")]
pub enum Layer {
    /// Ethernet II.
    Ethernet {
        /// Source MAC.
        src: String,
        /// Destination MAC.
        dst: String,
        /// VLAN tags, outermost first.
        vlans: Vec<VlanReport>,
        /// EtherType of the payload.
        ethertype: u16,
    },
    /// Linux cooked capture (SLL) header.
    LinuxSll {
        /// Packet type (0 to us, 1 broadcast, 4 outgoing, ...).
        packet_type: u16,
        /// Protocol of the payload.
        protocol: u16,
    },
    /// BSD loopback (NULL) header.
    Loopback {
        /// Address family.
        family: u32,
    },
    /// ARP for Ethernet/IPv4.
    Arp {
        /// Operation (1 request, 2 reply, ...).
        operation: u16,
        /// Sender MAC.
        sender_mac: String,
        /// Sender IPv4.
        sender_ip: String,
        /// Target MAC.
        target_mac: String,
        /// Target IPv4.
        target_ip: String,
    },
    /// IPv4.
    Ipv4 {
        /// Source.
        src: String,
        /// Destination.
        dst: String,
        /// Header length in bytes.
        header_len: usize,
        /// Total length field.
        total_len: u16,
        /// DSCP.
        dscp: u8,
        /// ECN.
        ecn: u8,
        /// Identification.
        ident: u16,
        /// Don't fragment.
        dont_frag: bool,
        /// More fragments.
        more_frags: bool,
        /// Fragment offset in bytes.
        frag_offset: u16,
        /// Time to live.
        ttl: u8,
        /// Protocol number.
        protocol: u8,
        /// Options, one text each.
        options: Vec<String>,
        /// Header checksum.
        checksum: ChecksumReport,
    },
    /// ICMPv4.
    Icmpv4 {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
        /// Human-readable summary ("echo request id 1 seq 2", "unreachable port", ...).
        summary: String,
        /// Checksum.
        checksum: ChecksumReport,
    },
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Length field.
        length: u16,
        /// Payload bytes.
        payload_len: usize,
        /// Checksum.
        checksum: ChecksumReport,
    },
    /// TCP.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number.
        ack: u32,
        /// Flags, tcpdump letters.
        flags: String,
        /// Raw flag bits (12 bits).
        flag_bits: u16,
        /// Window field (unscaled).
        window: u16,
        /// Urgent pointer.
        urgent: u16,
        /// Header length in bytes.
        header_len: usize,
        /// Options in order.
        options: Vec<TcpOptionReport>,
        /// Payload bytes.
        payload_len: usize,
        /// Checksum.
        checksum: ChecksumReport,
    },
    /// DHCPv4.
    Dhcp {
        /// "request" or "reply".
        op: String,
        /// Transaction id.
        xid: u32,
        /// Message type (option 53) if present.
        message_type: Option<String>,
        /// Client address.
        ciaddr: String,
        /// "Your" address.
        yiaddr: String,
        /// Server address.
        siaddr: String,
        /// Relay address.
        giaddr: String,
        /// Client hardware address.
        chaddr: String,
        /// Options, one text each.
        options: Vec<String>,
    },
}

impl Layer {
    /// The protocol name used in totals.
    pub fn name(&self) -> &'static str {
        match self {
            Layer::Ethernet { .. } => "ethernet",
            Layer::LinuxSll { .. } => "linux_sll",
            Layer::Loopback { .. } => "loopback",
            Layer::Arp { .. } => "arp",
            Layer::Ipv4 { .. } => "ipv4",
            Layer::Icmpv4 { .. } => "icmp",
            Layer::Udp { .. } => "udp",
            Layer::Tcp { .. } => "tcp",
            Layer::Dhcp { .. } => "dhcp",
        }
    }
}

/// Why decoding stopped before the payload: the layer and the typed error.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// The layer whose parser rejected the bytes ("ipv4", "tcp", ...).
    pub layer: &'static str,
    /// A stable reason key, `layer.Variant` ("ipv4.BadVersion").
    pub reason: String,
    /// The error's message.
    pub message: String,
}

/// Everything `weft decode` knows about one captured frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameReport {
    /// 1-based frame number.
    pub number: usize,
    /// Byte offset of the record in the file.
    pub offset: u64,
    /// Capture timestamp in nanoseconds since the Unix epoch (None when the record's
    /// timestamp is invalid).
    pub timestamp_ns: Option<u128>,
    /// Bytes captured.
    pub caplen: usize,
    /// Bytes on the wire.
    pub orig_len: u32,
    /// Link type name.
    pub link_type: String,
    /// Layers decoded, outermost first.
    pub layers: Vec<Layer>,
    /// Bytes after the last decoded header.
    pub payload_len: usize,
    /// Why decoding stopped early, if it did.
    pub rejected: Option<Rejection>,
    /// Notes that do not stop decoding ("timestamp invalid", "captured 68 of 1514 bytes",
    /// "not decoded further: IPv6").
    pub notes: Vec<String>,
    /// Protocols the frame's headers claim to carry, valid or not: the EtherType, and the
    /// IPv4 protocol field of any version-4 header whose header length fits the capture
    /// (so a rejected header still says what it carried). Decoded layers are in `layers`.
    pub claims: Vec<&'static str>,
}

impl FrameReport {
    /// Records a claimed protocol once.
    pub fn claim(&mut self, proto: &'static str) {
        if !self.claims.contains(&proto) {
            self.claims.push(proto);
        }
    }
}

/// Totals over a capture.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Frames read.
    pub frames: usize,
    /// Frames that carried each protocol layer.
    pub protocols: BTreeMap<&'static str, usize>,
    /// Frames rejected, by reason key.
    pub rejected: BTreeMap<String, usize>,
    /// Records with an invalid timestamp.
    pub invalid_timestamps: usize,
    /// Checksum verdicts: "ipv4 bad" -> count, etc.
    pub checksums: BTreeMap<String, usize>,
}

impl Totals {
    /// Adds one frame.
    pub fn add(&mut self, f: &FrameReport) {
        self.frames += 1;
        for l in &f.layers {
            *self.protocols.entry(l.name()).or_default() += 1;
            let ck = match l {
                Layer::Ipv4 { checksum, .. }
                | Layer::Icmpv4 { checksum, .. }
                | Layer::Udp { checksum, .. }
                | Layer::Tcp { checksum, .. } => Some(checksum),
                _ => None,
            };
            if let Some(c) = ck {
                let v = match c.verdict {
                    Verdict::Good => "good",
                    Verdict::Bad { .. } => "bad",
                    Verdict::Absent => "absent",
                    Verdict::Unverified => "unverified",
                };
                *self
                    .checksums
                    .entry(format!("{} {v}", l.name()))
                    .or_default() += 1;
            }
        }
        if let Some(r) = &f.rejected {
            *self.rejected.entry(r.reason.clone()).or_default() += 1;
        }
        if f.timestamp_ns.is_none() {
            self.invalid_timestamps += 1;
        }
    }
}
