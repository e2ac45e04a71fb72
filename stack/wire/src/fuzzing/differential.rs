//! Differential check of weft's checked parsers against etherparse 0.21, one Ethernet II frame
//! at a time.
//!
//! [`compare`] runs two independent decoders over the same bytes:
//!
//! * weft's checked chain: [`EthernetFrame`] (with its VLAN tags), then [`ArpPacket`] or
//!   [`Ipv4Packet`], then, for a datagram that is not a fragment, [`TcpPacket`],
//!   [`UdpPacket`] or [`Icmpv4Packet`];
//! * etherparse's strict slicers, layer by layer, the way `SlicedPacket::from_ethernet` chains
//!   them (`Ethernet2Slice::from_slice_without_fcs`, up to three `SingleVlanSlice`s,
//!   `ArpPacketSlice`, `Ipv4Slice`, then `TcpSlice`, `UdpSlice` or `Icmpv4Slice`). The whole
//!   frame also goes through `SlicedPacket::from_ethernet`, and its verdict must be the one the
//!   layer-by-layer chain reached ([`SlicedPacketCheck`]), so the chain is etherparse's real
//!   behaviour and not a paraphrase of it.
//!
//! Layer by layer, the outcome is: both accept and every field both decoders expose is equal;
//! both reject; or exactly one rejects. A one-sided rejection must be one of the
//! [`AllowedDivergence`]s, each matched on weft's error variant and etherparse's error kind.
//! The first layer where the two do not both accept ends the comparison.
//!
//! Observed agreements that one might expect to differ (so they are not in the list): an IPv4
//! total length of 0 is rejected by both (weft's `ZeroTotalLen`; etherparse 0.21's strict
//! `Ipv4Slice` reports a length error, and only its lax slicer reads 0 as "length from the
//! frame"); a total length beyond the frame, a UDP length beyond the datagram and a TCP data
//! offset beyond the segment are length errors on both sides; Ethernet padding after the IPv4
//! total length is cut off by both.
//!
//! Checksums are not enforced by either chain (etherparse's slicers never check them), but both
//! verdicts are reported ([`ChecksumReport`]) and must agree where etherparse can compute one.
//!
//! [`etherparse_differential`] is the fuzz body: it panics on a field mismatch, an
//! unclassified divergence, a disagreement with `SlicedPacket`, or a checksum verdict that
//! differs.

use crate::arp::{ArpError, ArpPacket, ArpRepr};
use crate::ethernet::{EtherType, EthernetError, EthernetFrame};
use crate::icmpv4::{Icmpv4Error, Icmpv4Packet};
use crate::ipv4::{IpProtocol, Ipv4Error, Ipv4Packet};
use crate::tcp::{TcpError, TcpOption, TcpPacket};
use crate::udp::{UdpChecksumVerdict, UdpError, UdpPacket};
use core::fmt;
use etherparse::err::{self as ep_err, Layer as EpLayer, LenError};
use etherparse::{
    ArpPacketSlice, Ethernet2Slice, Icmpv4Slice, Icmpv4Type, Ipv4Slice, SingleVlanSlice,
    SlicedPacket, TcpOptionElement, TcpOptionReadError, TcpSlice, UdpHeaderSlice, UdpSlice,
};

/// A layer of the chain; the rows of an agreement matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// The Ethernet II header: addresses and the Length/Type field.
    Link,
    /// The VLAN tags (802.1Q C-tag, 802.1ad S-tag) and the EtherType after them.
    Vlan,
    /// ARP (RFC 826).
    Arp,
    /// IPv4 (RFC 791).
    Ipv4,
    /// TCP (RFC 9293), a transport layer.
    Tcp,
    /// UDP (RFC 768), a transport layer.
    Udp,
    /// ICMPv4 (RFC 792), a transport layer in both chains.
    Icmpv4,
}

impl Layer {
    /// Every layer, in chain order.
    pub const ALL: [Layer; 7] = [
        Layer::Link,
        Layer::Vlan,
        Layer::Arp,
        Layer::Ipv4,
        Layer::Tcp,
        Layer::Udp,
        Layer::Icmpv4,
    ];

    /// A short name: "link", "vlan", "arp", "ipv4", "transport/tcp", ...
    pub fn name(self) -> &'static str {
        match self {
            Layer::Link => "link",
            Layer::Vlan => "vlan",
            Layer::Arp => "arp",
            Layer::Ipv4 => "ipv4",
            Layer::Tcp => "transport/tcp",
            Layer::Udp => "transport/udp",
            Layer::Icmpv4 => "transport/icmpv4",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// weft's rejection at a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeftError {
    /// From [`EthernetFrame::new_checked`].
    Ethernet(EthernetError),
    /// From [`ArpPacket::new_checked`].
    Arp(ArpError),
    /// From [`Ipv4Packet::new_checked`].
    Ipv4(Ipv4Error),
    /// From [`TcpPacket::new_checked`].
    Tcp(TcpError),
    /// From [`UdpPacket::new_checked`].
    Udp(UdpError),
    /// From [`Icmpv4Packet::new_checked`].
    Icmpv4(Icmpv4Error),
}

impl fmt::Display for WeftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeftError::Ethernet(e) => e.fmt(f),
            WeftError::Arp(e) => e.fmt(f),
            WeftError::Ipv4(e) => e.fmt(f),
            WeftError::Tcp(e) => e.fmt(f),
            WeftError::Udp(e) => e.fmt(f),
            WeftError::Icmpv4(e) => e.fmt(f),
        }
    }
}

/// etherparse's rejection at a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtherparseError {
    /// A length error (`err::LenError`), which names the etherparse layer it arose in.
    Len(LenError),
    /// An IPv4 header content error (`err::ipv4::HeaderError`).
    Ipv4(ep_err::ipv4::HeaderError),
    /// An IP Authentication Header content error (`err::ip_auth::HeaderError`).
    IpAuth(ep_err::ip_auth::HeaderError),
    /// A TCP header content error (`err::tcp::HeaderError`).
    Tcp(ep_err::tcp::HeaderError),
}

impl EtherparseError {
    /// The same error as one `SlicedPacket::from_ethernet` returns. Length errors are compared
    /// on their layer and lengths: the slicer rewrites the offset and sometimes the length
    /// source.
    fn matches(&self, e: &ep_err::packet::SliceError) -> bool {
        use ep_err::packet::SliceError as S;
        match (self, e) {
            (EtherparseError::Len(a), S::Len(b)) => {
                a.layer == b.layer && a.required_len == b.required_len && a.len == b.len
            }
            (EtherparseError::Ipv4(a), S::Ipv4(b)) => a == b,
            (EtherparseError::IpAuth(a), S::Ipv4Exts(b)) => a == b,
            (EtherparseError::Tcp(a), S::Tcp(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for EtherparseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherparseError::Len(e) => e.fmt(f),
            EtherparseError::Ipv4(e) => e.fmt(f),
            EtherparseError::IpAuth(e) => e.fmt(f),
            EtherparseError::Tcp(e) => e.fmt(f),
        }
    }
}

/// Which decoder rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// weft rejected, etherparse accepted.
    Weft,
    /// etherparse rejected, weft accepted.
    Etherparse,
}

/// The closed list of ways in which exactly one decoder may reject a layer. Each is matched on
/// weft's error variant and etherparse's error kind (see [`compare`]); any other one-sided
/// rejection is [`Verdict::Unclassified`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AllowedDivergence {
    /// weft: [`EthernetError::Ieee8023Length`] for a Length/Type field below 0x0600, outside
    /// or inside the VLAN tags. Such a value is an IEEE 802.3 length (an LLC frame), not an
    /// Ethernet II type (IEEE 802.3 §3.2.6). etherparse accepts: `Ethernet2Slice` reads any
    /// value as an EtherType, and the slicer stops, accepting, at a type it does not know.
    Ieee8023Length,
    /// weft: [`EthernetError::TooManyVlanTags`] at a third VLAN TPID. weft reads an 802.1ad
    /// S-tag plus a C-tag, which is as deep as IEEE 802.1ad stacks them. etherparse accepts:
    /// it slices up to three link extensions and then stops, accepting.
    MoreThanTwoVlanTags,
    /// weft: [`Ipv4Error::OptionTruncated`], [`Ipv4Error::OptionLengthTooSmall`] or
    /// [`Ipv4Error::OptionOverrunsHeader`]. weft walks the IPv4 options and checks each length
    /// octet: it must be present, at least 2 and inside the header (RFC 791 §3.1; RFC 1122
    /// §3.2.1.8). etherparse accepts: it keeps the option area as raw bytes and never walks it.
    Ipv4OptionFraming,
    /// weft: [`Ipv4Error::BadOptionLength`] or [`Ipv4Error::BadOptionPointer`]. weft checks
    /// the length and pointer rules of the options it knows: route options with 3 + 4n bytes
    /// and a pointer of at least 4, timestamps of 4 + 4n or 4 + 8n bytes and a pointer of at
    /// least 5 (RFC 791 §3.1), Router Alert of 4 bytes (RFC 2113 §2.1), Stream ID of 4 bytes,
    /// Security of at least 3 bytes (RFC 1108 §2). etherparse accepts: it does not read
    /// option contents.
    Ipv4OptionRules,
    /// etherparse: an `err::ip_auth::HeaderError`, or a length error in
    /// `Layer::IpAuthHeader`. When the protocol is 51, etherparse decodes an IP Authentication
    /// Header (RFC 4302) as part of its IPv4 layer and rejects a malformed or truncated one.
    /// weft accepts: it treats protocol 51 as opaque payload, for the layer above to handle.
    IpAuthHeader,
    /// weft: [`TcpError::OptionTruncated`], [`TcpError::OptionLengthTooSmall`] or
    /// [`TcpError::OptionOverrun`]. weft walks the TCP options when it checks a segment: every
    /// option other than End of Option List and No-Operation needs a length octet of at least
    /// 2 that ends inside the option area (RFC 9293 §3.1, and §3.2 MUST-7 on illegal option
    /// lengths). etherparse's `TcpSlice` accepts, because it checks only the data offset. The
    /// classification also requires that etherparse's own option iterator fails no later than
    /// the offending option: the same bytes are not well-formed options to etherparse either.
    TcpOptionFraming,
    /// weft: [`TcpError::OptionBadLength`]. A typed option has a length its definition does
    /// not allow: MSS 4 (RFC 9293 §3.7.1), Window Scale 3 and Timestamps 10 (RFC 7323 §2.2,
    /// §3.2), SACK-Permitted 2 and SACK 10/18/26/34 (RFC 2018 §2, §3). etherparse's `TcpSlice`
    /// accepts. As for [`TcpOptionFraming`](Self::TcpOptionFraming), the classification
    /// requires etherparse's option iterator to fail at or before that option.
    TcpOptionLength,
    /// weft: [`UdpError::LengthTooSmall`] with length 0. RFC 768 makes 8 the minimum length.
    /// etherparse accepts: it reads a length of 0 as "use the slice length", which is the
    /// IPv6 jumbogram convention (RFC 2675 §4), also in IPv4.
    UdpZeroLength,
    /// etherparse: a length error in `Layer::Icmpv4Timestamp` or
    /// `Layer::Icmpv4TimestampReply`. etherparse requires a Timestamp or Timestamp Reply
    /// (type 13 or 14, code 0, RFC 792) to be exactly 20 bytes. weft accepts: it checks only
    /// the 8-byte ICMP header and keeps the rest as data.
    IcmpTimestampLength,
}

impl AllowedDivergence {
    /// Every allowed divergence.
    pub const ALL: [AllowedDivergence; 9] = [
        AllowedDivergence::Ieee8023Length,
        AllowedDivergence::MoreThanTwoVlanTags,
        AllowedDivergence::Ipv4OptionFraming,
        AllowedDivergence::Ipv4OptionRules,
        AllowedDivergence::IpAuthHeader,
        AllowedDivergence::TcpOptionFraming,
        AllowedDivergence::TcpOptionLength,
        AllowedDivergence::UdpZeroLength,
        AllowedDivergence::IcmpTimestampLength,
    ];

    /// The decoder that rejects.
    pub fn rejected_by(self) -> Side {
        match self {
            AllowedDivergence::IpAuthHeader | AllowedDivergence::IcmpTimestampLength => {
                Side::Etherparse
            }
            _ => Side::Weft,
        }
    }

    /// The layer it arises in (the Length/Type check can be at the link or after the tags).
    pub fn layers(self) -> &'static [Layer] {
        match self {
            AllowedDivergence::Ieee8023Length => &[Layer::Link, Layer::Vlan],
            AllowedDivergence::MoreThanTwoVlanTags => &[Layer::Vlan],
            AllowedDivergence::Ipv4OptionFraming
            | AllowedDivergence::Ipv4OptionRules
            | AllowedDivergence::IpAuthHeader => &[Layer::Ipv4],
            AllowedDivergence::TcpOptionFraming | AllowedDivergence::TcpOptionLength => {
                &[Layer::Tcp]
            }
            AllowedDivergence::UdpZeroLength => &[Layer::Udp],
            AllowedDivergence::IcmpTimestampLength => &[Layer::Icmpv4],
        }
    }

    /// Why the decoders differ, in one line.
    pub fn reason(self) -> &'static str {
        match self {
            AllowedDivergence::Ieee8023Length => {
                "weft rejects a Length/Type below 0x0600 (an 802.3 length, not an Ethernet II \
                 type); etherparse reads it as an unknown EtherType and stops"
            }
            AllowedDivergence::MoreThanTwoVlanTags => {
                "weft reads at most an S-tag and a C-tag (802.1ad); etherparse slices up to \
                 three VLAN tags, then stops"
            }
            AllowedDivergence::Ipv4OptionFraming => {
                "weft checks each IPv4 option length octet (RFC 791 §3.1); etherparse keeps \
                 options as raw bytes"
            }
            AllowedDivergence::Ipv4OptionRules => {
                "weft checks the length and pointer rules of known IPv4 options (RFC 791 §3.1, \
                 RFC 2113, RFC 1108); etherparse does not read options"
            }
            AllowedDivergence::IpAuthHeader => {
                "etherparse decodes an IP Authentication Header (RFC 4302) inside its IPv4 \
                 layer; weft treats protocol 51 as payload"
            }
            AllowedDivergence::TcpOptionFraming => {
                "weft checks TCP option length octets when it checks the segment (RFC 9293 \
                 §3.1, §3.2 MUST-7); etherparse's slicer checks only the data offset"
            }
            AllowedDivergence::TcpOptionLength => {
                "weft checks the fixed lengths of typed TCP options (RFC 9293 §3.7.1, RFC 7323, \
                 RFC 2018); etherparse's slicer does not walk options"
            }
            AllowedDivergence::UdpZeroLength => {
                "weft rejects UDP length 0 (RFC 768: at least 8); etherparse reads 0 as 'use the \
                 slice length' (RFC 2675 jumbogram convention)"
            }
            AllowedDivergence::IcmpTimestampLength => {
                "etherparse requires ICMP Timestamp/Timestamp Reply to be exactly 20 bytes; \
                 weft checks only the 8-byte header"
            }
        }
    }
}

impl fmt::Display for AllowedDivergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// The outcome at one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Both accepted and every shared field is equal.
    Agree,
    /// Both rejected.
    BothReject {
        /// weft's error.
        weft: WeftError,
        /// etherparse's error.
        etherparse: EtherparseError,
    },
    /// Only weft rejected, for an allowed reason.
    OnlyWeftRejects {
        /// weft's error.
        weft: WeftError,
        /// The allowed divergence it is.
        reason: AllowedDivergence,
    },
    /// Only etherparse rejected, for an allowed reason.
    OnlyEtherparseRejects {
        /// etherparse's error.
        etherparse: EtherparseError,
        /// The allowed divergence it is.
        reason: AllowedDivergence,
    },
    /// Both accepted but a shared field differs: a bug in one of the decoders.
    FieldMismatch {
        /// The field.
        field: &'static str,
        /// weft's value.
        weft: String,
        /// etherparse's value.
        etherparse: String,
    },
    /// Exactly one side rejected, and it is none of the [`AllowedDivergence`]s.
    Unclassified {
        /// weft's error, if weft rejected.
        weft: Option<WeftError>,
        /// etherparse's error, if etherparse rejected.
        etherparse: Option<EtherparseError>,
    },
}

impl Verdict {
    /// True for a field mismatch or an unclassified divergence.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Verdict::FieldMismatch { .. } | Verdict::Unclassified { .. }
        )
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Agree => f.write_str("both accept, fields equal"),
            Verdict::BothReject { weft, etherparse } => {
                write!(f, "both reject (weft: {weft}; etherparse: {etherparse})")
            }
            Verdict::OnlyWeftRejects { weft, reason } => {
                write!(f, "only weft rejects ({reason}): {weft}")
            }
            Verdict::OnlyEtherparseRejects { etherparse, reason } => {
                write!(f, "only etherparse rejects ({reason}): {etherparse}")
            }
            Verdict::FieldMismatch {
                field,
                weft,
                etherparse,
            } => write!(
                f,
                "field {field} differs: weft {weft}, etherparse {etherparse}"
            ),
            Verdict::Unclassified { weft, etherparse } => write!(
                f,
                "unclassified divergence: weft {weft:?}, etherparse {etherparse:?}"
            ),
        }
    }
}

/// One layer's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerOutcome {
    /// The layer.
    pub layer: Layer,
    /// What happened there.
    pub verdict: Verdict,
}

/// A checksum verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChecksumVerdict {
    /// Present and correct.
    Good,
    /// Present and wrong.
    Bad,
    /// Absent (a UDP checksum field of zero, RFC 768).
    Absent,
}

/// Both decoders' verdicts on one checksum of a layer both accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumReport {
    /// The layer whose checksum it is (IPv4 header, TCP, UDP or ICMP).
    pub layer: Layer,
    /// weft's verdict (`verify_checksum` of the view).
    pub weft: ChecksumVerdict,
    /// etherparse's: its computed checksum compared with the field, accepting 0xffff for a
    /// computed 0x0000 (the other ones'-complement zero, RFC 1624 §3). `None` where
    /// etherparse's model loses a bit the checksum covers: the IPv4 reserved flag, which its
    /// `Ipv4Header` has no field for.
    pub etherparse: Option<ChecksumVerdict>,
}

impl ChecksumReport {
    /// True when etherparse has a verdict and it differs from weft's.
    pub fn disagrees(&self) -> bool {
        self.etherparse.is_some_and(|e| e != self.weft)
    }
}

/// Whether `SlicedPacket::from_ethernet` reached the verdict of etherparse's layer-by-layer
/// chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlicedPacketCheck {
    /// Same acceptance, and the same error when both reject.
    Consistent,
    /// The slicer goes on into a layer weft does not decode (IPv6, MACsec, IGMP, ICMPv6, an
    /// IP Authentication Header's payload), so its verdict can differ without meaning
    /// anything here.
    NotModelled,
    /// The layer-by-layer chain is not what the slicer does: a bug in this module.
    Inconsistent {
        /// The chain's first error.
        chain: Option<EtherparseError>,
        /// The slicer's error, if any.
        sliced: Option<String>,
    },
}

/// The result of [`compare`]: layers in chain order, up to and including the first one where
/// the decoders do not both accept (or where the fields differ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Per layer, in chain order.
    pub layers: Vec<LayerOutcome>,
    /// Checksum verdicts of the layers both accepted.
    pub checksums: Vec<ChecksumReport>,
    /// The cross-check against `SlicedPacket::from_ethernet`.
    pub sliced_packet: SlicedPacketCheck,
}

impl Outcome {
    /// The verdict at `layer`, if the comparison got there.
    pub fn verdict(&self, layer: Layer) -> Option<&Verdict> {
        self.layers
            .iter()
            .find(|l| l.layer == layer)
            .map(|l| &l.verdict)
    }

    /// The first field mismatch or unclassified divergence.
    pub fn first_failure(&self) -> Option<&LayerOutcome> {
        self.layers.iter().find(|l| l.verdict.is_failure())
    }

    /// No failure, the slicer agrees, and no checksum verdict differs.
    pub fn is_clean(&self) -> bool {
        self.first_failure().is_none()
            && !matches!(self.sliced_packet, SlicedPacketCheck::Inconsistent { .. })
            && !self.checksums.iter().any(ChecksumReport::disagrees)
    }
}

/// Fuzz body: `data` is an Ethernet II frame without FCS. Panics when both decoders accept a
/// layer and a shared field differs, when exactly one rejects for a reason that is not an
/// [`AllowedDivergence`], when `SlicedPacket::from_ethernet` disagrees with etherparse's
/// layer-by-layer chain, or when the checksum verdicts differ.
pub fn etherparse_differential(data: &[u8]) {
    let o = compare(data);
    if let Some(l) = o.first_failure() {
        panic!("{}: {} (frame {:02x?})", l.layer, l.verdict, data);
    }
    if let SlicedPacketCheck::Inconsistent { chain, sliced } = &o.sliced_packet {
        panic!(
            "SlicedPacket::from_ethernet ({sliced:?}) disagrees with the layer chain \
             ({chain:?}) (frame {data:02x?})"
        );
    }
    for c in &o.checksums {
        assert!(
            !c.disagrees(),
            "{} checksum: weft {:?}, etherparse {:?} (frame {data:02x?})",
            c.layer,
            c.weft,
            c.etherparse
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The two chains, run independently.

fn is_vlan_tpid(t: u16) -> bool {
    // The TPIDs both decoders read as tags: 802.1Q 0x8100, 802.1ad 0x88a8, legacy 0x9100.
    EtherType(t).is_vlan_tpid()
}

/// A VLAN tag as etherparse slices it, with the TPID that announced it.
type EpTag<'a> = (u16, SingleVlanSlice<'a>);

/// etherparse's layers, as `SlicedPacketCursor::slice_ethernet2` chains them.
struct EpChain<'a> {
    link: Result<Ethernet2Slice<'a>, LenError>,
    /// Present when the outer type is a VLAN TPID: (TPID, tag) pairs, then the error.
    vlan: Option<(Vec<EpTag<'a>>, Result<(), LenError>)>,
    /// The type and payload after the tags (when the link and tags were accepted).
    after_link: Option<(u16, &'a [u8])>,
    arp: Option<Result<ArpPacketSlice<'a>, LenError>>,
    ipv4: Option<Result<Ipv4Slice<'a>, EtherparseError>>,
    tcp: Option<Result<TcpSlice<'a>, EtherparseError>>,
    udp: Option<Result<UdpSlice<'a>, LenError>>,
    icmpv4: Option<Result<Icmpv4Slice<'a>, LenError>>,
    /// False when the slicer would go on into a layer this chain does not model.
    modelled: bool,
}

impl<'a> EpChain<'a> {
    fn run(frame: &'a [u8]) -> EpChain<'a> {
        let mut c = EpChain {
            link: Ethernet2Slice::from_slice_without_fcs(frame),
            vlan: None,
            after_link: None,
            arp: None,
            ipv4: None,
            tcp: None,
            udp: None,
            icmpv4: None,
            modelled: true,
        };
        let Ok(eth) = &c.link else { return c };
        let mut payload = eth.payload();
        if is_vlan_tpid(payload.ether_type.0) {
            let mut tags = Vec::new();
            let mut result = Ok(());
            // The slicer takes at most LINK_EXTS_CAP (3) extensions, then stops, accepting.
            while is_vlan_tpid(payload.ether_type.0) {
                if tags.len() == SlicedPacket::LINK_EXTS_CAP {
                    c.vlan = Some((tags, Ok(())));
                    return c;
                }
                match SingleVlanSlice::from_slice(payload.payload) {
                    Ok(v) => {
                        tags.push((payload.ether_type.0, v.clone()));
                        payload = v.payload();
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let failed = result.is_err();
            c.vlan = Some((tags, result));
            if failed {
                return c;
            }
        }
        c.after_link = Some((payload.ether_type.0, payload.payload));
        match payload.ether_type {
            etherparse::EtherType::ARP => c.arp = Some(ArpPacketSlice::from_slice(payload.payload)),
            etherparse::EtherType::IPV4 => c.run_ipv4(payload.payload),
            etherparse::EtherType::IPV6 | etherparse::EtherType::MACSEC => c.modelled = false,
            _ => {}
        }
        c
    }

    fn run_ipv4(&mut self, b: &'a [u8]) {
        use ep_err::ipv4::SliceError as I;
        let ip = Ipv4Slice::from_slice(b).map_err(|e| match e {
            I::Len(l) => EtherparseError::Len(l),
            I::Header(h) => EtherparseError::Ipv4(h),
            I::Exts(x) => EtherparseError::IpAuth(x),
        });
        let next = ip.as_ref().ok().map(|ip| ip.payload().clone());
        let has_auth = ip.as_ref().is_ok_and(|ip| ip.extensions().auth.is_some());
        self.ipv4 = Some(ip);
        let Some(p) = next else { return };
        if has_auth {
            self.modelled = false;
            return;
        }
        if p.fragmented {
            return;
        }
        match p.ip_number {
            etherparse::IpNumber::TCP => {
                self.tcp = Some(TcpSlice::from_slice(p.payload).map_err(|e| match e {
                    ep_err::tcp::HeaderSliceError::Len(l) => EtherparseError::Len(l),
                    ep_err::tcp::HeaderSliceError::Content(c) => EtherparseError::Tcp(c),
                }));
            }
            etherparse::IpNumber::UDP => self.udp = Some(UdpSlice::from_slice(p.payload)),
            etherparse::IpNumber::ICMP => self.icmpv4 = Some(Icmpv4Slice::from_slice(p.payload)),
            etherparse::IpNumber::IGMP | etherparse::IpNumber::IPV6_ICMP => self.modelled = false,
            _ => {}
        }
    }

    /// The first error along the chain.
    fn first_error(&self) -> Option<EtherparseError> {
        let len = |r: Result<(), &LenError>| r.err().cloned().map(EtherparseError::Len);
        if let Err(e) = &self.link {
            return Some(EtherparseError::Len(e.clone()));
        }
        if let Some((_, Err(e))) = &self.vlan {
            return Some(EtherparseError::Len(e.clone()));
        }
        [
            self.arp.as_ref().and_then(|r| len(r.as_ref().map(|_| ()))),
            self.ipv4.as_ref().and_then(|r| r.as_ref().err().cloned()),
            self.tcp.as_ref().and_then(|r| r.as_ref().err().cloned()),
            self.udp.as_ref().and_then(|r| len(r.as_ref().map(|_| ()))),
            self.icmpv4
                .as_ref()
                .and_then(|r| len(r.as_ref().map(|_| ()))),
        ]
        .into_iter()
        .flatten()
        .next()
    }
}

/// weft's layers.
struct WeftChain<'a> {
    frame: Result<EthernetFrame<&'a [u8]>, EthernetError>,
    arp: Option<Result<ArpPacket<&'a [u8]>, ArpError>>,
    ipv4: Option<Result<Ipv4Packet<&'a [u8]>, Ipv4Error>>,
    tcp: Option<Result<TcpPacket<&'a [u8]>, TcpError>>,
    udp: Option<Result<UdpPacket<&'a [u8]>, UdpError>>,
    icmpv4: Option<Result<Icmpv4Packet<&'a [u8]>, Icmpv4Error>>,
}

impl<'a> WeftChain<'a> {
    fn run(frame: &'a [u8]) -> WeftChain<'a> {
        let mut c = WeftChain {
            frame: EthernetFrame::new_checked(frame),
            arp: None,
            ipv4: None,
            tcp: None,
            udp: None,
            icmpv4: None,
        };
        let Ok(f) = &c.frame else { return c };
        let payload: &'a [u8] = frame.get(f.header_len()..).unwrap_or(&[]);
        match f.ethertype() {
            EtherType::ARP => c.arp = Some(ArpPacket::new_checked(payload)),
            EtherType::IPV4 => {
                let ip = Ipv4Packet::new_checked(payload);
                if let Ok(p) = &ip {
                    // Only an unfragmented datagram carries a whole transport header (a
                    // receiver reassembles first; RFC 791 §3.2, RFC 815).
                    if !p.is_fragment() {
                        let end = p.header_len() + p.payload().len();
                        let body: &'a [u8] = payload.get(p.header_len()..end).unwrap_or(&[]);
                        match p.protocol() {
                            IpProtocol::TCP => c.tcp = Some(TcpPacket::new_checked(body)),
                            IpProtocol::UDP => c.udp = Some(UdpPacket::new_checked(body)),
                            IpProtocol::ICMP => c.icmpv4 = Some(Icmpv4Packet::new_checked(body)),
                            _ => {}
                        }
                    }
                }
                c.ipv4 = Some(ip);
            }
            _ => {}
        }
        c
    }
}

// ---------------------------------------------------------------------------------------------
// Comparison.

/// Collects the first field that differs.
struct Fields {
    first: Option<(&'static str, String, String)>,
}

impl Fields {
    fn new() -> Self {
        Fields { first: None }
    }
    fn eq<T: PartialEq + fmt::Debug>(&mut self, field: &'static str, weft: T, ep: T) {
        if self.first.is_none() && weft != ep {
            self.first = Some((field, format!("{weft:?}"), format!("{ep:?}")));
        }
    }
    fn verdict(self) -> Verdict {
        match self.first {
            None => Verdict::Agree,
            Some((field, weft, etherparse)) => Verdict::FieldMismatch {
                field,
                weft,
                etherparse,
            },
        }
    }
}

/// etherparse's verdict on a checksum `field` given the checksum it computes, `calc`, which is
/// the complement of the ones'-complement sum S of everything else. The field verifies when
/// S + field is 0xffff (RFC 1071 §1). That holds for field == calc, and also for field 0xffff
/// when calc is 0x0000 (S is 0xffff, and 0xffff + 0xffff folds to 0xffff: the two zeros of
/// RFC 1624 §3). It does not hold for field 0x0000 when calc is 0xffff: S is then +0 (all
/// covered bytes zero) and so is the total.
fn sum_matches(calc: u16, field: u16) -> bool {
    field == calc || (calc == 0 && field == 0xffff)
}

fn good(ok: bool) -> ChecksumVerdict {
    if ok {
        ChecksumVerdict::Good
    } else {
        ChecksumVerdict::Bad
    }
}

/// How etherparse's TCP option iterator ends over an option area: `Some((offset, error))` at
/// its first error, `None` if it ends cleanly.
fn ep_option_failure(opts: &[u8]) -> Option<(usize, TcpOptionReadError)> {
    let mut it = etherparse::TcpOptionsIterator::from_slice(opts);
    loop {
        let at = opts.len() - it.rest().len();
        match it.next() {
            None => return None,
            Some(Ok(_)) => {}
            Some(Err(e)) => return Some((at, e)),
        }
    }
}

/// The classifier: the allowed divergence a one-sided rejection is, if any. `weft` and `ep`
/// are the two results at `layer`; exactly one is an error.
fn classify(
    layer: Layer,
    weft: Option<&WeftError>,
    ep: Option<&EtherparseError>,
    tcp_options: Option<&[u8]>,
) -> Option<AllowedDivergence> {
    use AllowedDivergence as A;
    match (layer, weft, ep) {
        (
            Layer::Link | Layer::Vlan,
            Some(WeftError::Ethernet(EthernetError::Ieee8023Length(_))),
            None,
        ) => Some(A::Ieee8023Length),
        (Layer::Vlan, Some(WeftError::Ethernet(EthernetError::TooManyVlanTags)), None) => {
            Some(A::MoreThanTwoVlanTags)
        }
        (
            Layer::Ipv4,
            Some(WeftError::Ipv4(
                Ipv4Error::OptionTruncated { .. }
                | Ipv4Error::OptionLengthTooSmall { .. }
                | Ipv4Error::OptionOverrunsHeader { .. },
            )),
            None,
        ) => Some(A::Ipv4OptionFraming),
        (
            Layer::Ipv4,
            Some(WeftError::Ipv4(
                Ipv4Error::BadOptionLength { .. } | Ipv4Error::BadOptionPointer { .. },
            )),
            None,
        ) => Some(A::Ipv4OptionRules),
        (Layer::Ipv4, None, Some(EtherparseError::IpAuth(_))) => Some(A::IpAuthHeader),
        (Layer::Ipv4, None, Some(EtherparseError::Len(l))) if l.layer == EpLayer::IpAuthHeader => {
            Some(A::IpAuthHeader)
        }
        (Layer::Tcp, Some(WeftError::Tcp(e)), None) => {
            let (offset, reason) = match *e {
                TcpError::OptionTruncated { offset, .. }
                | TcpError::OptionLengthTooSmall { offset, .. }
                | TcpError::OptionOverrun { offset, .. } => (offset, A::TcpOptionFraming),
                TcpError::OptionBadLength { offset, .. } => (offset, A::TcpOptionLength),
                _ => return None,
            };
            // etherparse's iterator must not read these options as well formed: it stops at
            // an unknown kind at or before weft's offending option, or fails on that option's
            // size.
            let at = offset.checked_sub(crate::tcp::HEADER_LEN)?;
            match ep_option_failure(tcp_options?)? {
                (p, TcpOptionReadError::UnknownId(_)) if p <= at => Some(reason),
                (
                    p,
                    TcpOptionReadError::UnexpectedSize { .. }
                    | TcpOptionReadError::UnexpectedEndOfSlice { .. },
                ) if p == at => Some(reason),
                _ => None,
            }
        }
        (Layer::Udp, Some(WeftError::Udp(UdpError::LengthTooSmall { length: 0 })), None) => {
            Some(A::UdpZeroLength)
        }
        (Layer::Icmpv4, None, Some(EtherparseError::Len(l)))
            if matches!(
                l.layer,
                EpLayer::Icmpv4Timestamp | EpLayer::Icmpv4TimestampReply
            ) =>
        {
            Some(A::IcmpTimestampLength)
        }
        _ => None,
    }
}

/// The verdict when at least one side rejected.
fn rejection(
    layer: Layer,
    weft: Option<WeftError>,
    ep: Option<EtherparseError>,
    tcp_options: Option<&[u8]>,
) -> Verdict {
    match (weft, ep) {
        (Some(weft), Some(etherparse)) => Verdict::BothReject { weft, etherparse },
        (weft, ep) => match classify(layer, weft.as_ref(), ep.as_ref(), tcp_options) {
            Some(reason) => match (weft, ep) {
                (Some(weft), None) if reason.rejected_by() == Side::Weft => {
                    Verdict::OnlyWeftRejects { weft, reason }
                }
                (None, Some(etherparse)) if reason.rejected_by() == Side::Etherparse => {
                    Verdict::OnlyEtherparseRejects { etherparse, reason }
                }
                (weft, etherparse) => Verdict::Unclassified { weft, etherparse },
            },
            None => Verdict::Unclassified {
                weft,
                etherparse: ep,
            },
        },
    }
}

/// Runs both decoders over `frame` (an Ethernet II frame without FCS) and compares them layer
/// by layer; see the module documentation.
pub fn compare(frame: &[u8]) -> Outcome {
    let weft = WeftChain::run(frame);
    let ep = EpChain::run(frame);
    let mut out = Outcome {
        layers: Vec::new(),
        checksums: Vec::new(),
        sliced_packet: SlicedPacketCheck::Consistent,
    };
    compare_layers(frame, &weft, &ep, &mut out);
    out.sliced_packet = sliced_check(frame, &ep);
    out
}

/// Compares `SlicedPacket::from_ethernet` with the layer-by-layer chain.
fn sliced_check(frame: &[u8], ep: &EpChain<'_>) -> SlicedPacketCheck {
    if !ep.modelled {
        return SlicedPacketCheck::NotModelled;
    }
    let chain = ep.first_error();
    match (SlicedPacket::from_ethernet(frame), &chain) {
        (Ok(_), None) => SlicedPacketCheck::Consistent,
        (Err(s), Some(c)) if c.matches(&s) => SlicedPacketCheck::Consistent,
        (s, _) => SlicedPacketCheck::Inconsistent {
            chain,
            sliced: s.err().map(|e| format!("{e:?}")),
        },
    }
}

/// Pushes `verdict` for `layer`; true if the comparison goes on to the next layer.
fn push(out: &mut Outcome, layer: Layer, verdict: Verdict) -> bool {
    let go_on = verdict == Verdict::Agree;
    out.layers.push(LayerOutcome { layer, verdict });
    go_on
}

fn compare_layers(frame: &[u8], weft: &WeftChain<'_>, ep: &EpChain<'_>, out: &mut Outcome) {
    // Link: weft reports a short header, and an 802.3 length in the outer type field, here;
    // its VLAN errors belong to the next layer.
    let outer = frame.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let outer_is_vlan = outer.is_some_and(is_vlan_tpid);
    let weft_link_err = match &weft.frame {
        Err(e) if !outer_is_vlan || matches!(e, EthernetError::Truncated { .. }) => Some(*e),
        _ => None,
    };
    let ep_link = ep.link.as_ref().err().cloned();
    if weft_link_err.is_some() || ep_link.is_some() {
        let v = rejection(
            Layer::Link,
            weft_link_err.map(WeftError::Ethernet),
            ep_link.map(EtherparseError::Len),
            None,
        );
        push(out, Layer::Link, v);
        return;
    }
    let Ok(eth) = &ep.link else { return };
    let mut f = Fields::new();
    if let Ok(w) = &weft.frame {
        // Without a weft view (a VLAN error) only the acceptance is compared here.
        f.eq("link.dst", w.dst().0, eth.destination());
        f.eq("link.src", w.src().0, eth.source());
        let w_outer = w.vlan_tags().first().map_or(w.ethertype(), |t| t.tpid);
        f.eq("link.type", w_outer.0, eth.ether_type().0);
        if ep.vlan.is_none() {
            f.eq(
                "link.payload_len",
                Some(w.payload().len()),
                ep.after_link.map(|(_, p)| p.len()),
            );
        }
    }
    if !push(out, Layer::Link, f.verdict()) {
        return;
    }

    // VLAN tags.
    if let Some((tags, result)) = &ep.vlan {
        let weft_err = weft.frame.as_ref().err().copied();
        let ep_err = result.as_ref().err().cloned();
        if weft_err.is_some() || ep_err.is_some() {
            let v = rejection(
                Layer::Vlan,
                weft_err.map(WeftError::Ethernet),
                ep_err.map(EtherparseError::Len),
                None,
            );
            push(out, Layer::Vlan, v);
            return;
        }
        let Ok(w) = &weft.frame else { return };
        let wt = w.vlan_tags();
        let mut f = Fields::new();
        f.eq("vlan.count", wt.len(), tags.len());
        for (a, (tpid, b)) in wt.iter().zip(tags) {
            f.eq("vlan.tpid", a.tpid.0, *tpid);
            f.eq("vlan.pcp", a.pcp, b.priority_code_point().value());
            f.eq("vlan.dei", a.dei, b.drop_eligible_indicator());
            f.eq("vlan.vid", a.vid, b.vlan_identifier().value());
        }
        f.eq(
            "vlan.inner_type",
            Some(w.ethertype().0),
            ep.after_link.map(|(t, _)| t),
        );
        f.eq(
            "vlan.payload_len",
            Some(w.payload().len()),
            ep.after_link.map(|(_, p)| p.len()),
        );
        if !push(out, Layer::Vlan, f.verdict()) {
            return;
        }
    }

    match (&weft.arp, &ep.arp) {
        (Some(wa), Some(ea)) => compare_arp(wa, ea, out),
        (None, None) => {}
        (wa, ea) => {
            let mut f = Fields::new();
            f.eq("arp.decoded", wa.is_some(), ea.is_some());
            push(out, Layer::Arp, f.verdict());
            return;
        }
    }
    match (&weft.ipv4, &ep.ipv4) {
        (Some(wi), Some(ei)) => {
            if !compare_ipv4(wi, ei, out) {
                return;
            }
        }
        (None, None) => return,
        (wi, ei) => {
            let mut f = Fields::new();
            f.eq("ipv4.decoded", wi.is_some(), ei.is_some());
            push(out, Layer::Ipv4, f.verdict());
            return;
        }
    }
    let (Some(Ok(wi)), Some(Ok(ei))) = (&weft.ipv4, &ep.ipv4) else {
        return;
    };
    if ei.extensions().auth.is_some() {
        // weft does not decode what follows an Authentication Header.
        return;
    }
    let (src, dst) = (wi.src(), wi.dst());
    // Both chains pick the transport from the same protocol and fragment fields (compared
    // equal above), so they decode the same one.
    for (layer, w, e) in [
        (Layer::Tcp, weft.tcp.is_some(), ep.tcp.is_some()),
        (Layer::Udp, weft.udp.is_some(), ep.udp.is_some()),
        (Layer::Icmpv4, weft.icmpv4.is_some(), ep.icmpv4.is_some()),
    ] {
        if w != e {
            let mut f = Fields::new();
            f.eq("transport.decoded", w, e);
            push(out, layer, f.verdict());
            return;
        }
    }
    if let (Some(wt), Some(et)) = (&weft.tcp, &ep.tcp) {
        compare_tcp(wt, et, src, dst, out);
    }
    if let (Some(wu), Some(eu)) = (&weft.udp, &ep.udp) {
        compare_udp(wu, eu, src, dst, out);
    }
    if let (Some(wc), Some(ec)) = (&weft.icmpv4, &ep.icmpv4) {
        compare_icmpv4(wc, ec, out);
    }
}

fn compare_arp(
    weft: &Result<ArpPacket<&[u8]>, ArpError>,
    ep: &Result<ArpPacketSlice<'_>, LenError>,
    out: &mut Outcome,
) {
    let (w, e) = match (weft, ep) {
        (Ok(w), Ok(e)) => (w, e),
        (w, e) => {
            let v = rejection(
                Layer::Arp,
                w.as_ref().err().copied().map(WeftError::Arp),
                e.as_ref().err().cloned().map(EtherparseError::Len),
                None,
            );
            push(out, Layer::Arp, v);
            return;
        }
    };
    let mut f = Fields::new();
    f.eq("arp.htype", w.hardware_type().0, e.hw_addr_type().0);
    f.eq("arp.ptype", w.protocol_type().0, e.proto_addr_type().0);
    f.eq("arp.hlen", w.hardware_len(), e.hw_addr_size());
    f.eq("arp.plen", w.protocol_len(), e.proto_addr_size());
    f.eq("arp.op", w.operation().0, e.operation().0);
    f.eq("arp.sha", w.sender_hardware_addr(), e.sender_hw_addr());
    f.eq(
        "arp.spa",
        w.sender_protocol_addr(),
        e.sender_protocol_addr(),
    );
    f.eq("arp.tha", w.target_hardware_addr(), e.target_hw_addr());
    f.eq(
        "arp.tpa",
        w.target_protocol_addr(),
        e.target_protocol_addr(),
    );
    f.eq("arp.len", w.packet().len(), e.slice().len());
    let e_eth = e.to_packet().try_eth_ipv4().ok();
    f.eq(
        "arp.is_ethernet_ipv4",
        w.is_ethernet_ipv4(),
        e_eth.is_some(),
    );
    if let (Ok(r), Some(p)) = (ArpRepr::parse(w), e_eth) {
        f.eq("arp.repr.op", r.operation.0, p.operation.0);
        f.eq("arp.repr.sender_mac", r.sender_mac.0, p.sender_mac);
        f.eq("arp.repr.sender_ip", r.sender_ip.octets(), p.sender_ipv4);
        f.eq("arp.repr.target_mac", r.target_mac.0, p.target_mac);
        f.eq("arp.repr.target_ip", r.target_ip.octets(), p.target_ipv4);
    }
    push(out, Layer::Arp, f.verdict());
}

/// True if the comparison goes on to the transport layer.
fn compare_ipv4(
    weft: &Result<Ipv4Packet<&[u8]>, Ipv4Error>,
    ep: &Result<Ipv4Slice<'_>, EtherparseError>,
    out: &mut Outcome,
) -> bool {
    let (w, e) = match (weft, ep) {
        (Ok(w), Ok(e)) => (w, e),
        (w, e) => {
            let v = rejection(
                Layer::Ipv4,
                w.as_ref().err().copied().map(WeftError::Ipv4),
                e.as_ref().err().cloned(),
                None,
            );
            push(out, Layer::Ipv4, v);
            return false;
        }
    };
    let h = e.header();
    let mut f = Fields::new();
    f.eq("ipv4.header_len", w.header_len(), h.slice().len());
    f.eq("ipv4.ihl", w.header_len() / 4, usize::from(h.ihl()));
    f.eq("ipv4.dscp", w.dscp(), h.dcp().value());
    f.eq("ipv4.ecn", w.ecn(), h.ecn().value());
    f.eq("ipv4.total_len", w.total_len(), h.total_len());
    f.eq("ipv4.ident", w.ident(), h.identification());
    f.eq("ipv4.dont_frag", w.dont_frag(), h.dont_fragment());
    f.eq("ipv4.more_frags", w.more_frags(), h.more_fragments());
    f.eq(
        "ipv4.frag_offset",
        w.frag_offset_units(),
        h.fragments_offset().value(),
    );
    f.eq(
        "ipv4.is_fragment",
        w.is_fragment(),
        e.is_payload_fragmented(),
    );
    f.eq("ipv4.ttl", w.ttl(), h.ttl());
    f.eq("ipv4.protocol", w.protocol().0, h.protocol().0);
    f.eq("ipv4.checksum", w.checksum(), h.header_checksum());
    f.eq("ipv4.src", w.src().octets(), h.source());
    f.eq("ipv4.dst", w.dst().octets(), h.destination());
    f.eq("ipv4.options", w.options_bytes(), h.options());
    if e.extensions().auth.is_none() {
        f.eq("ipv4.payload", w.payload(), e.payload().payload);
    }
    // etherparse's Ipv4Header keeps no reserved flag, so its checksum leaves that bit out.
    let ep_sum = (!w.reserved_flag()).then(|| {
        good(sum_matches(
            h.to_header().calc_header_checksum(),
            h.header_checksum(),
        ))
    });
    out.checksums.push(ChecksumReport {
        layer: Layer::Ipv4,
        weft: good(w.verify_checksum()),
        etherparse: ep_sum,
    });
    push(out, Layer::Ipv4, f.verdict())
}

fn compare_tcp(
    weft: &Result<TcpPacket<&[u8]>, TcpError>,
    ep: &Result<TcpSlice<'_>, EtherparseError>,
    src: crate::Ipv4Addr,
    dst: crate::Ipv4Addr,
    out: &mut Outcome,
) {
    let (w, e) = match (weft, ep) {
        (Ok(w), Ok(e)) => (w, e),
        (w, e) => {
            let opts = e.as_ref().ok().map(|e| e.options());
            let v = rejection(
                Layer::Tcp,
                w.as_ref().err().copied().map(WeftError::Tcp),
                e.as_ref().err().cloned(),
                opts,
            );
            push(out, Layer::Tcp, v);
            return;
        }
    };
    let mut f = Fields::new();
    f.eq("tcp.src_port", w.src_port(), e.source_port());
    f.eq("tcp.dst_port", w.dst_port(), e.destination_port());
    f.eq("tcp.seq", w.seq_number(), e.sequence_number());
    f.eq("tcp.ack", w.ack_number(), e.acknowledgment_number());
    f.eq("tcp.data_offset", w.data_offset(), e.data_offset());
    f.eq("tcp.header_len", w.header_len(), e.header_len());
    let fl = w.flags();
    f.eq("tcp.fin", fl.fin(), e.fin());
    f.eq("tcp.syn", fl.syn(), e.syn());
    f.eq("tcp.rst", fl.rst(), e.rst());
    f.eq("tcp.psh", fl.psh(), e.psh());
    f.eq("tcp.ack_flag", fl.ack(), e.ack());
    f.eq("tcp.urg", fl.urg(), e.urg());
    f.eq("tcp.ece", fl.ece(), e.ece());
    f.eq("tcp.cwr", fl.cwr(), e.cwr());
    f.eq("tcp.ae_ns", fl.ae(), e.ns());
    f.eq("tcp.window", w.window_len(), e.window_size());
    f.eq("tcp.checksum", w.checksum(), e.checksum());
    f.eq("tcp.urgent", w.urgent_pointer(), e.urgent_pointer());
    f.eq("tcp.options_raw", w.options_raw(), e.options());
    f.eq("tcp.payload", w.payload(), e.payload());
    compare_tcp_options(w, e, &mut f);
    let calc = e.calc_checksum_ipv4(src.octets(), dst.octets()).ok();
    out.checksums.push(ChecksumReport {
        layer: Layer::Tcp,
        weft: good(w.verify_checksum(src, dst)),
        etherparse: calc.map(|c| good(sum_matches(c, e.checksum()))),
    });
    push(out, Layer::Tcp, f.verdict());
}

/// Each option etherparse decodes must be weft's option at the same position. etherparse's
/// iterator stops at the first kind it does not know (weft's `Unknown`) and at End of Option
/// List.
fn compare_tcp_options(w: &TcpPacket<&[u8]>, e: &TcpSlice<'_>, f: &mut Fields) {
    let mut wi = w.options();
    for item in e.options_iterator() {
        let wo = wi.next();
        match item {
            Ok(eo) => {
                let mapped = match eo {
                    TcpOptionElement::Noop => TcpOption::Nop,
                    TcpOptionElement::MaximumSegmentSize(v) => TcpOption::Mss(v),
                    TcpOptionElement::WindowScale(v) => TcpOption::WindowScale(v),
                    TcpOptionElement::SelectiveAcknowledgementPermitted => TcpOption::SackPermitted,
                    TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                        let mut blocks = arrayvec::ArrayVec::new();
                        blocks.push(first);
                        for b in rest.into_iter().flatten() {
                            blocks.push(b);
                        }
                        TcpOption::Sack(blocks)
                    }
                    TcpOptionElement::Timestamp(tsval, tsecr) => {
                        TcpOption::Timestamps { tsval, tsecr }
                    }
                };
                f.eq("tcp.option", wo, Some(mapped));
            }
            Err(TcpOptionReadError::UnknownId(k)) => {
                let w_kind = match wo {
                    Some(TcpOption::Unknown { kind, .. }) => Some(kind),
                    _ => None,
                };
                f.eq("tcp.option.unknown_kind", w_kind, Some(k));
                return;
            }
            Err(err) => {
                // weft accepted the option area, so its options are well formed.
                f.eq("tcp.option", format!("{wo:?}"), format!("{err:?}"));
                return;
            }
        }
    }
    // etherparse ended: at End of Option List or at the end of the area.
    let rest = wi.next();
    f.eq(
        "tcp.option.end",
        rest.is_none() || rest == Some(TcpOption::EndOfList),
        true,
    );
}

fn compare_udp(
    weft: &Result<UdpPacket<&[u8]>, UdpError>,
    ep: &Result<UdpSlice<'_>, LenError>,
    src: crate::Ipv4Addr,
    dst: crate::Ipv4Addr,
    out: &mut Outcome,
) {
    let (w, e) = match (weft, ep) {
        (Ok(w), Ok(e)) => (w, e),
        (w, e) => {
            let v = rejection(
                Layer::Udp,
                w.as_ref().err().copied().map(WeftError::Udp),
                e.as_ref().err().cloned().map(EtherparseError::Len),
                None,
            );
            push(out, Layer::Udp, v);
            return;
        }
    };
    let mut f = Fields::new();
    f.eq("udp.src_port", w.src_port(), e.source_port());
    f.eq("udp.dst_port", w.dst_port(), e.destination_port());
    f.eq("udp.length", w.len_field(), e.length());
    f.eq("udp.checksum", w.checksum(), e.checksum());
    f.eq("udp.datagram_len", w.datagram().len(), e.slice().len());
    f.eq("udp.payload", w.payload(), e.payload());
    let weft_sum = match w.verify_checksum(src, dst) {
        UdpChecksumVerdict::Good => ChecksumVerdict::Good,
        UdpChecksumVerdict::Bad { .. } => ChecksumVerdict::Bad,
        UdpChecksumVerdict::Absent => ChecksumVerdict::Absent,
    };
    let ep_sum = if e.checksum() == 0 {
        Some(ChecksumVerdict::Absent)
    } else {
        UdpHeaderSlice::from_slice(e.slice())
            .ok()
            .and_then(|h| {
                h.to_header()
                    .calc_checksum_ipv4_raw(src.octets(), dst.octets(), e.payload())
                    .ok()
            })
            .map(|c| good(sum_matches(c, e.checksum())))
    };
    out.checksums.push(ChecksumReport {
        layer: Layer::Udp,
        weft: weft_sum,
        etherparse: ep_sum,
    });
    push(out, Layer::Udp, f.verdict());
}

fn compare_icmpv4(
    weft: &Result<Icmpv4Packet<&[u8]>, Icmpv4Error>,
    ep: &Result<Icmpv4Slice<'_>, LenError>,
    out: &mut Outcome,
) {
    let (w, e) = match (weft, ep) {
        (Ok(w), Ok(e)) => (w, e),
        (w, e) => {
            let v = rejection(
                Layer::Icmpv4,
                w.as_ref().err().copied().map(WeftError::Icmpv4),
                e.as_ref().err().cloned().map(EtherparseError::Len),
                None,
            );
            push(out, Layer::Icmpv4, v);
            return;
        }
    };
    let mut f = Fields::new();
    f.eq("icmpv4.type", w.msg_type().0, e.type_u8());
    f.eq("icmpv4.code", w.code(), e.code_u8());
    f.eq("icmpv4.checksum", w.checksum(), e.checksum());
    f.eq(
        "icmpv4.rest_of_header",
        w.rest_of_header().to_be_bytes(),
        e.bytes5to8(),
    );
    f.eq("icmpv4.message_len", w.message_len(), e.slice().len());
    // etherparse's payload starts after 20 bytes for Timestamp messages, after 8 otherwise.
    f.eq(
        "icmpv4.payload",
        w.data().get(e.header_len() - 8..),
        Some(e.payload()),
    );
    // Checksum over the raw header and everything after it: etherparse's typed model of some
    // messages drops bytes ("unused" fields), its Unknown form keeps all of them.
    let raw = Icmpv4Type::Unknown {
        type_u8: e.type_u8(),
        code_u8: e.code_u8(),
        bytes5to8: e.bytes5to8(),
    };
    let calc = raw.calc_checksum(e.slice().get(8..).unwrap_or(&[]));
    out.checksums.push(ChecksumReport {
        layer: Layer::Icmpv4,
        weft: good(w.verify_checksum()),
        etherparse: Some(good(sum_matches(calc, e.checksum()))),
    });
    push(out, Layer::Icmpv4, f.verdict());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An untagged IPv4/UDP frame, 10.0.0.1:5353 -> 10.0.0.2:53, payload "hi", checksums right.
    fn udp_frame() -> Vec<u8> {
        let mut f = vec![
            0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, // ethernet
            0x45, 0, 0, 30, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0,
            2, // ipv4
            0x14, 0xe9, 0, 53, 0, 10, 0, 0, b'h', b'i', // udp
        ];
        let mut ip = Ipv4Packet::new_checked(&mut f[14..]).unwrap();
        ip.fill_checksum();
        let (s, d) = (ip.src(), ip.dst());
        let mut u = UdpPacket::new_checked(&mut f[34..]).unwrap();
        u.fill_checksum(s, d);
        f
    }

    #[test]
    fn differential_valid_udp_frame_agrees_at_every_layer() {
        let f = udp_frame();
        let o = compare(&f);
        assert_eq!(
            o.layers.iter().map(|l| l.layer).collect::<Vec<_>>(),
            [Layer::Link, Layer::Ipv4, Layer::Udp]
        );
        assert!(o.layers.iter().all(|l| l.verdict == Verdict::Agree));
        assert_eq!(o.sliced_packet, SlicedPacketCheck::Consistent);
        assert!(o.checksums.iter().all(
            |c| c.weft == ChecksumVerdict::Good && c.etherparse == Some(ChecksumVerdict::Good)
        ));
        etherparse_differential(&f);
    }

    #[test]
    fn differential_udp_zero_length_is_allowed() {
        let mut f = udp_frame();
        f[38..40].copy_from_slice(&[0, 0]);
        let o = compare(&f);
        assert!(matches!(
            o.verdict(Layer::Udp),
            Some(Verdict::OnlyWeftRejects {
                reason: AllowedDivergence::UdpZeroLength,
                ..
            })
        ));
        etherparse_differential(&f);
    }

    #[test]
    fn differential_zero_total_length_is_rejected_by_both() {
        let mut f = udp_frame();
        f[16..18].copy_from_slice(&[0, 0]);
        let o = compare(&f);
        assert!(matches!(
            o.verdict(Layer::Ipv4),
            Some(Verdict::BothReject {
                weft: WeftError::Ipv4(Ipv4Error::ZeroTotalLen),
                etherparse: EtherparseError::Len(_),
            })
        ));
    }

    #[test]
    fn differential_802_3_length_is_allowed() {
        let mut f = udp_frame();
        f[12..14].copy_from_slice(&[0x05, 0xdc]);
        let o = compare(&f);
        assert!(matches!(
            o.verdict(Layer::Link),
            Some(Verdict::OnlyWeftRejects {
                reason: AllowedDivergence::Ieee8023Length,
                ..
            })
        ));
    }

    #[test]
    fn differential_all_zero_icmp_checksum_is_bad_for_both() {
        // An all-zero ICMP message sums to +0; a checksum field of 0 does not verify, though
        // etherparse computes 0xffff for it.
        let mut f = udp_frame();
        f[23] = 1; // protocol ICMP
        f[34..].fill(0);
        let o = compare(&f);
        assert_eq!(o.verdict(Layer::Icmpv4), Some(&Verdict::Agree));
        let c = o
            .checksums
            .iter()
            .find(|c| c.layer == Layer::Icmpv4)
            .unwrap();
        assert_eq!(c.weft, ChecksumVerdict::Bad);
        assert_eq!(c.etherparse, Some(ChecksumVerdict::Bad));
        assert!(sum_matches(0, 0xffff));
        assert!(!sum_matches(0xffff, 0));
    }

    #[test]
    fn differential_unclassified_divergence_is_reported() {
        // A one-sided rejection the classifier does not know: weft's UDP error with
        // etherparse accepting, but not a length of 0.
        let v = rejection(
            Layer::Udp,
            Some(WeftError::Udp(UdpError::LengthTooSmall { length: 3 })),
            None,
            None,
        );
        assert!(matches!(v, Verdict::Unclassified { .. }));
        assert!(v.is_failure());
    }
}
