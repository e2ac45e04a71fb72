//! Address Resolution Protocol packets (RFC 826), with the probe and announcement forms of
//! IPv4 address conflict detection (RFC 5227).
//!
//! [`ArpPacket`] is a view over any ARP packet: `new_checked` only checks that the fixed
//! 8-byte header and the four variable-length addresses it announces are present, so a decoder
//! can show the generic fields of a packet for any hardware/protocol pair. [`ArpRepr`] is the
//! meaning of the one combination a stack uses, Ethernet hardware with IPv4 protocol
//! addresses; [`ArpRepr::parse`] rejects every other combination with a typed error.
//!
//! Bytes after the addresses (Ethernet pads frames to 60 bytes) are not part of the packet:
//! they are reachable through [`ArpPacket::padding`] and never enter the `Repr`.

use crate::ethernet::EtherType;
use crate::{EmitError, Ipv4Addr, MacAddr, be16, ipv4_at, need, put16};

/// An ARP hardware type (RFC 826 `ar$hrd`; IANA "Hardware Types" registry).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ArpHardware(pub u16);

impl ArpHardware {
    /// Ethernet (10Mb), hardware type 1.
    pub const ETHERNET: ArpHardware = ArpHardware(1);
}

impl core::fmt::Debug for ArpHardware {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::fmt::Display for ArpHardware {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::ETHERNET => f.write_str("Ethernet"),
            ArpHardware(other) => write!(f, "Unknown Hardware ({other})"),
        }
    }
}

/// An ARP operation code (RFC 826 `ar$op`). Values other than request and reply are kept as
/// they are (RFC 903 reverse ARP uses 3 and 4, and fuzzed or broken senders use anything) and
/// shown as unknown.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ArpOperation(pub u16);

impl ArpOperation {
    /// `ares_op$REQUEST` (RFC 826).
    pub const REQUEST: ArpOperation = ArpOperation(1);
    /// `ares_op$REPLY` (RFC 826).
    pub const REPLY: ArpOperation = ArpOperation(2);

    /// True for request and reply, the two operations RFC 826 defines.
    pub fn is_known(self) -> bool {
        matches!(self, Self::REQUEST | Self::REPLY)
    }
}

impl core::fmt::Debug for ArpOperation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::fmt::Display for ArpOperation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::REQUEST => f.write_str("Request"),
            Self::REPLY => f.write_str("Reply"),
            ArpOperation(other) => write!(f, "Unknown ({other})"),
        }
    }
}

/// Why bytes are not an ARP packet, or not an Ethernet/IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArpError {
    /// Fewer bytes than the fixed header (8) or than the header plus the four addresses its
    /// length fields announce (8 + 2 × (hlen + plen)).
    #[error("ARP packet truncated: {len} bytes, need {needed}")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes the header and addresses need.
        needed: usize,
    },
    /// The hardware type is not Ethernet (1).
    #[error("unsupported ARP hardware type {0} (only Ethernet, 1, is supported)")]
    UnsupportedHardwareType(u16),
    /// The protocol type is not IPv4 (0x0800).
    #[error("unsupported ARP protocol type {0:#06x} (only IPv4, 0x0800, is supported)")]
    UnsupportedProtocolType(u16),
    /// Ethernet/IPv4 with address lengths other than 6 and 4.
    #[error("ARP address lengths hlen {hlen}, plen {plen}: Ethernet/IPv4 needs 6 and 4")]
    WrongAddressLengths {
        /// Hardware address length found.
        hlen: u8,
        /// Protocol address length found.
        plen: u8,
    },
}

/// Length of the fixed header: hardware type, protocol type, hlen, plen, operation.
pub const FIXED_HEADER_LEN: usize = 8;
/// Length of an Ethernet/IPv4 ARP packet: 8 + 2 × (6 + 4).
pub const ETHERNET_IPV4_LEN: usize = 28;

const HTYPE: usize = 0;
const PTYPE: usize = 2;
const HLEN: usize = 4;
const PLEN: usize = 5;
const OPER: usize = 6;

/// A checked view of an ARP packet (RFC 826 "Packet format").
///
/// Invariant: the buffer holds at least [`packet_len`](Self::packet_len) =
/// 8 + 2 × (hlen + plen) bytes, so every address accessor returns a slice of its announced
/// length.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Checks that the fixed header and the four addresses it announces are present. Any
    /// hardware and protocol type is accepted here; [`ArpRepr::parse`] checks for
    /// Ethernet/IPv4.
    pub fn new_checked(buffer: T) -> Result<Self, ArpError> {
        let b = buffer.as_ref();
        let len = b.len();
        if len < FIXED_HEADER_LEN {
            return Err(ArpError::Truncated {
                len,
                needed: FIXED_HEADER_LEN,
            });
        }
        let hlen = b.get(HLEN).copied().unwrap_or(0);
        let plen = b.get(PLEN).copied().unwrap_or(0);
        // RFC 826: sender hardware address, sender protocol address, target hardware address,
        // target protocol address follow, of ar$hln and ar$pln bytes each.
        let needed = packet_len(hlen, plen);
        if len < needed {
            return Err(ArpError::Truncated { len, needed });
        }
        Ok(ArpPacket { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Hardware type (`ar$hrd`).
    pub fn hardware_type(&self) -> ArpHardware {
        ArpHardware(be16(self.b(), HTYPE).unwrap_or(0))
    }
    /// Protocol type (`ar$pro`), in EtherType space.
    pub fn protocol_type(&self) -> EtherType {
        EtherType(be16(self.b(), PTYPE).unwrap_or(0))
    }
    /// Hardware address length (`ar$hln`).
    pub fn hardware_len(&self) -> u8 {
        self.b().get(HLEN).copied().unwrap_or(0)
    }
    /// Protocol address length (`ar$pln`).
    pub fn protocol_len(&self) -> u8 {
        self.b().get(PLEN).copied().unwrap_or(0)
    }
    /// Operation (`ar$op`).
    pub fn operation(&self) -> ArpOperation {
        ArpOperation(be16(self.b(), OPER).unwrap_or(0))
    }
    /// True when the packet is Ethernet/IPv4 with 6- and 4-byte addresses.
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.check_ethernet_ipv4().is_ok()
    }
    /// Checks the hardware type, protocol type and address lengths for Ethernet/IPv4.
    pub fn check_ethernet_ipv4(&self) -> Result<(), ArpError> {
        let hw = self.hardware_type();
        if hw != ArpHardware::ETHERNET {
            return Err(ArpError::UnsupportedHardwareType(hw.0));
        }
        let pro = self.protocol_type();
        if pro != EtherType::IPV4 {
            return Err(ArpError::UnsupportedProtocolType(pro.0));
        }
        let (hlen, plen) = (self.hardware_len(), self.protocol_len());
        if (hlen, plen) != (6, 4) {
            return Err(ArpError::WrongAddressLengths { hlen, plen });
        }
        Ok(())
    }

    fn field(&self, at: usize, len: u8) -> &[u8] {
        self.b().get(at..at + usize::from(len)).unwrap_or(&[])
    }
    /// Sender hardware address (`ar$sha`), `hardware_len` bytes.
    pub fn sender_hardware_addr(&self) -> &[u8] {
        self.field(FIXED_HEADER_LEN, self.hardware_len())
    }
    /// Sender protocol address (`ar$spa`), `protocol_len` bytes.
    pub fn sender_protocol_addr(&self) -> &[u8] {
        let at = FIXED_HEADER_LEN + usize::from(self.hardware_len());
        self.field(at, self.protocol_len())
    }
    /// Target hardware address (`ar$tha`), `hardware_len` bytes.
    pub fn target_hardware_addr(&self) -> &[u8] {
        let at =
            FIXED_HEADER_LEN + usize::from(self.hardware_len()) + usize::from(self.protocol_len());
        self.field(at, self.hardware_len())
    }
    /// Target protocol address (`ar$tpa`), `protocol_len` bytes.
    pub fn target_protocol_addr(&self) -> &[u8] {
        let at = FIXED_HEADER_LEN
            + 2 * usize::from(self.hardware_len())
            + usize::from(self.protocol_len());
        self.field(at, self.protocol_len())
    }
    /// Length of the packet proper: 8 + 2 × (hlen + plen).
    pub fn packet_len(&self) -> usize {
        packet_len(self.hardware_len(), self.protocol_len())
    }
    /// The packet without trailing bytes.
    pub fn packet(&self) -> &[u8] {
        self.b().get(..self.packet_len()).unwrap_or(&[])
    }
    /// Bytes after the packet (link-layer padding), not part of ARP.
    pub fn padding(&self) -> &[u8] {
        self.b().get(self.packet_len()..).unwrap_or(&[])
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Rewrites the operation (for example to turn a received request into a reply in place).
    pub fn set_operation(&mut self, op: ArpOperation) {
        put16(self.buffer.as_mut(), OPER, op.0);
    }
}

fn packet_len(hlen: u8, plen: u8) -> usize {
    FIXED_HEADER_LEN + 2 * (usize::from(hlen) + usize::from(plen))
}

/// The meaning of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Operation; values other than request and reply are kept.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (ignored in requests; RFC 5227 §2.1.1 wants zero in probes).
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an Ethernet/IPv4 packet; any other hardware type, protocol type or address
    /// lengths is an error. Trailing padding is ignored.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<Self, ArpError> {
        packet.check_ethernet_ipv4()?;
        let b = packet.b();
        // With hlen 6 and plen 4 the addresses sit at 8, 14, 18 and 24 (RFC 826).
        Ok(ArpRepr {
            operation: packet.operation(),
            sender_mac: b.get(8..).and_then(MacAddr::from_slice).unwrap_or_default(),
            sender_ip: ipv4_at(b, 14).unwrap_or(Ipv4Addr::UNSPECIFIED),
            target_mac: b
                .get(18..)
                .and_then(MacAddr::from_slice)
                .unwrap_or_default(),
            target_ip: ipv4_at(b, 24).unwrap_or(Ipv4Addr::UNSPECIFIED),
        })
    }

    /// A request for `target_ip` from `sender_mac`/`sender_ip`, target hardware address zero.
    pub fn request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Self {
        ArpRepr {
            operation: ArpOperation::REQUEST,
            sender_mac,
            sender_ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }

    /// An ARP Probe for `probed` (RFC 5227 §2.1.1): a request with sender IP 0.0.0.0 and
    /// target hardware address zero.
    pub fn probe(sender_mac: MacAddr, probed: Ipv4Addr) -> Self {
        Self::request(sender_mac, Ipv4Addr::UNSPECIFIED, probed)
    }

    /// An ARP Announcement of `claimed` (RFC 5227 §2.3): a request with sender and target IP
    /// both the claimed address and target hardware address zero.
    pub fn announcement(sender_mac: MacAddr, claimed: Ipv4Addr) -> Self {
        Self::request(sender_mac, claimed, claimed)
    }

    /// The reply that the owner of `target_ip`, at `my_mac`, sends to this request
    /// (RFC 826 "Packet Reception": swap sender and target, fill in the hardware address,
    /// set the opcode to reply).
    pub fn reply(&self, my_mac: MacAddr) -> Self {
        ArpRepr {
            operation: ArpOperation::REPLY,
            sender_mac: my_mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }

    /// An ARP Probe (RFC 5227 §1.1, §2.1.1): a request whose sender IP address is all zeroes,
    /// asking for a (non-zero) target IP address. The target hardware address is ignored.
    pub fn is_probe(&self) -> bool {
        self.operation == ArpOperation::REQUEST
            && self.sender_ip.is_unspecified()
            && !self.target_ip.is_unspecified()
    }

    /// An ARP Announcement (RFC 5227 §1.1, §2.3): a request whose sender and target IP
    /// addresses are both the (non-zero) address being claimed.
    pub fn is_announcement(&self) -> bool {
        self.operation == ArpOperation::REQUEST && self.is_gratuitous()
    }

    /// A gratuitous ARP (RFC 5227 §3; RFC 2002 §4.6): a request or a reply whose sender and
    /// target IP addresses are both the sender's own, non-zero address, sent to update other
    /// hosts' caches rather than to resolve anything. Every announcement is gratuitous.
    pub fn is_gratuitous(&self) -> bool {
        self.operation.is_known()
            && self.sender_ip == self.target_ip
            && !self.sender_ip.is_unspecified()
    }

    /// Bytes `emit` writes (always 28).
    pub fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Writes the 28-byte packet at the start of `buf`. Every `ArpRepr` is encodable.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        need(buf, ETHERNET_IPV4_LEN)?;
        let Some(out) = buf.get_mut(..ETHERNET_IPV4_LEN) else {
            return Err(EmitError::BufferTooSmall {
                needed: ETHERNET_IPV4_LEN,
                available: 0,
            });
        };
        put16(out, HTYPE, ArpHardware::ETHERNET.0);
        put16(out, PTYPE, EtherType::IPV4.0);
        if let Some(l) = out.get_mut(HLEN..=PLEN) {
            l.copy_from_slice(&[6, 4]);
        }
        put16(out, OPER, self.operation.0);
        let (_, addrs) = out.split_at_mut(FIXED_HEADER_LEN);
        let parts: [&[u8]; 4] = [
            &self.sender_mac.0,
            &self.sender_ip.octets(),
            &self.target_mac.0,
            &self.target_ip.octets(),
        ];
        let mut at = 0;
        for p in parts {
            if let Some(dst) = addrs.get_mut(at..at + p.len()) {
                dst.copy_from_slice(p);
            }
            at += p.len();
        }
        Ok(ETHERNET_IPV4_LEN)
    }
}

impl core::fmt::Display for ArpRepr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.operation {
            ArpOperation::REQUEST => write!(
                f,
                "ARP Request who-has {} tell {} ({})",
                self.target_ip, self.sender_ip, self.sender_mac
            ),
            ArpOperation::REPLY => {
                write!(f, "ARP Reply {} is-at {}", self.sender_ip, self.sender_mac)
            }
            op => write!(
                f,
                "ARP {op} sender {} ({}) target {} ({})",
                self.sender_ip, self.sender_mac, self.target_ip, self.target_mac
            ),
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for ArpRepr {
    /// Every Ethernet/IPv4 ARP packet is encodable; the generator leans towards requests,
    /// replies, probes and announcements so those paths are exercised.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let operation = match u.int_in_range(0..=3u8)? {
            0 => ArpOperation::REQUEST,
            1 => ArpOperation::REPLY,
            _ => ArpOperation(u.arbitrary()?),
        };
        let sender_ip = match u.int_in_range(0..=3u8)? {
            0 => Ipv4Addr::UNSPECIFIED,
            _ => Ipv4Addr::from(u32::arbitrary(u)?),
        };
        let target_ip = match u.int_in_range(0..=3u8)? {
            0 => sender_ip,
            _ => Ipv4Addr::from(u32::arbitrary(u)?),
        };
        Ok(ArpRepr {
            operation,
            sender_mac: u.arbitrary()?,
            sender_ip,
            target_mac: u.arbitrary()?,
            target_ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::EthernetFrame;

    const MAC_A: MacAddr = MacAddr([0x00, 0x1f, 0x29, 0xda, 0x2d, 0x79]);
    const MAC_B: MacAddr = MacAddr([0x00, 0x21, 0xd8, 0x35, 0x03, 0x45]);
    const IP_A: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 104);
    const IP_B: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

    /// A who-has 192.168.1.1 tell 192.168.1.104 request as a 46-byte Ethernet payload
    /// (28 bytes of ARP, 18 of padding).
    fn request_bytes() -> Vec<u8> {
        let mut b = vec![0, 1, 8, 0, 6, 4, 0, 1];
        b.extend_from_slice(&MAC_A.0);
        b.extend_from_slice(&IP_A.octets());
        b.extend_from_slice(&[0; 6]);
        b.extend_from_slice(&IP_B.octets());
        b.extend_from_slice(&[0xa5; 18]);
        b
    }

    /// Frames of an Ethernet capture, in order.
    fn frames(name: &str) -> Vec<Vec<u8>> {
        crate::testutil::ethernet_frames(name)
    }

    #[test]
    fn arp_parses_request_and_ignores_padding() {
        let b = request_bytes();
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.hardware_type(), ArpHardware::ETHERNET);
        assert_eq!(p.protocol_type(), EtherType::IPV4);
        assert_eq!((p.hardware_len(), p.protocol_len()), (6, 4));
        assert_eq!(p.operation(), ArpOperation::REQUEST);
        assert_eq!(p.sender_hardware_addr(), &MAC_A.0);
        assert_eq!(p.sender_protocol_addr(), &IP_A.octets());
        assert_eq!(p.target_hardware_addr(), &[0; 6]);
        assert_eq!(p.target_protocol_addr(), &IP_B.octets());
        assert_eq!(p.packet_len(), 28);
        assert_eq!(p.padding(), &[0xa5; 18]);
        let r = ArpRepr::parse(&p).unwrap();
        assert_eq!(r, ArpRepr::request(MAC_A, IP_A, IP_B));
        assert_eq!(
            r.to_string(),
            "ARP Request who-has 192.168.1.1 tell 192.168.1.104 (00:1f:29:da:2d:79)"
        );
        // Emit reproduces the packet without the padding.
        let mut out = [0xffu8; 30];
        assert_eq!(r.emit(&mut out).unwrap(), 28);
        assert_eq!(&out[..28], p.packet());
        assert_eq!(&out[28..], &[0xff, 0xff], "nothing written past the packet");
        // The reply built from it swaps the roles.
        let reply = r.reply(MAC_B);
        assert_eq!(reply.operation, ArpOperation::REPLY);
        assert_eq!((reply.sender_mac, reply.sender_ip), (MAC_B, IP_B));
        assert_eq!((reply.target_mac, reply.target_ip), (MAC_A, IP_A));
        assert_eq!(
            reply.to_string(),
            "ARP Reply 192.168.1.1 is-at 00:21:d8:35:03:45"
        );
    }

    #[test]
    fn arp_truncated_header_and_addresses() {
        let b = request_bytes();
        assert_eq!(
            ArpPacket::new_checked(&b[..7]).unwrap_err(),
            ArpError::Truncated { len: 7, needed: 8 }
        );
        assert_eq!(
            ArpPacket::new_checked(&b[..0]).unwrap_err(),
            ArpError::Truncated { len: 0, needed: 8 }
        );
        assert_eq!(
            ArpPacket::new_checked(&b[..27]).unwrap_err(),
            ArpError::Truncated {
                len: 27,
                needed: 28
            }
        );
        // hlen 255, plen 255 announce 8 + 2 * 510 bytes.
        let mut big = b.clone();
        big[4] = 255;
        big[5] = 255;
        assert_eq!(
            ArpPacket::new_checked(&big[..]).unwrap_err(),
            ArpError::Truncated {
                len: 46,
                needed: 1028
            }
        );
        assert_eq!(
            ArpError::Truncated {
                len: 27,
                needed: 28
            }
            .to_string(),
            "ARP packet truncated: 27 bytes, need 28"
        );
    }

    #[test]
    fn arp_unsupported_combinations_keep_a_usable_view() {
        let mut b = request_bytes();
        b[0..2].copy_from_slice(&6u16.to_be_bytes()); // IEEE 802 networks
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            ArpRepr::parse(&p).unwrap_err(),
            ArpError::UnsupportedHardwareType(6)
        );
        assert_eq!(p.hardware_type().to_string(), "Unknown Hardware (6)");
        assert_eq!(p.sender_protocol_addr(), &IP_A.octets());

        let mut b = request_bytes();
        b[2..4].copy_from_slice(&0x86ddu16.to_be_bytes());
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            ArpRepr::parse(&p).unwrap_err(),
            ArpError::UnsupportedProtocolType(0x86dd)
        );
        assert_eq!(
            ArpError::UnsupportedProtocolType(0x86dd).to_string(),
            "unsupported ARP protocol type 0x86dd (only IPv4, 0x0800, is supported)"
        );

        // Ethernet/IPv4 with a 14-byte hardware address (arp-oobr frame 28): the view reads
        // every address with the announced lengths, the Repr refuses it.
        let mut b = vec![0, 1, 8, 0, 14, 4, 0, 1];
        b.extend((0u8..).take(2 * (14 + 4)));
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.packet_len(), 44);
        assert_eq!(p.sender_hardware_addr(), &(0u8..14).collect::<Vec<_>>()[..]);
        assert_eq!(p.sender_protocol_addr(), &[14, 15, 16, 17]);
        assert_eq!(
            p.target_hardware_addr(),
            &(18u8..32).collect::<Vec<_>>()[..]
        );
        assert_eq!(p.target_protocol_addr(), &[32, 33, 34, 35]);
        assert!(p.padding().is_empty());
        assert!(!p.is_ethernet_ipv4());
        assert_eq!(
            ArpRepr::parse(&p).unwrap_err(),
            ArpError::WrongAddressLengths { hlen: 14, plen: 4 }
        );

        // Zero-length addresses are a valid (if useless) generic packet.
        let z = [0u8, 1, 8, 0, 0, 0, 0, 2];
        let p = ArpPacket::new_checked(&z[..]).unwrap();
        assert!(p.sender_hardware_addr().is_empty() && p.target_protocol_addr().is_empty());
        assert_eq!(
            ArpRepr::parse(&p).unwrap_err(),
            ArpError::WrongAddressLengths { hlen: 0, plen: 0 }
        );
    }

    #[test]
    fn arp_unknown_operation_is_kept_and_reported() {
        let mut b = request_bytes();
        b[6..8].copy_from_slice(&29953u16.to_be_bytes());
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        let r = ArpRepr::parse(&p).unwrap();
        assert_eq!(r.operation, ArpOperation(29953));
        assert!(!r.operation.is_known());
        assert_eq!(r.operation.to_string(), "Unknown (29953)");
        let mut out = [0u8; 28];
        r.emit(&mut out).unwrap();
        assert_eq!(&out[..], p.packet());
        assert!(!r.is_probe() && !r.is_announcement() && !r.is_gratuitous());

        // set_operation rewrites it in place.
        let mut p = ArpPacket::new_checked(&mut b[..]).unwrap();
        p.set_operation(ArpOperation::REPLY);
        assert_eq!(p.operation(), ArpOperation::REPLY);
    }

    #[test]
    fn arp_probe_announcement_gratuitous() {
        let probe = ArpRepr::probe(MAC_A, IP_B);
        assert!(probe.is_probe());
        assert!(!probe.is_announcement() && !probe.is_gratuitous());
        assert_eq!(probe.target_mac, MacAddr::ZERO);

        let ann = ArpRepr::announcement(MAC_A, IP_A);
        assert!(ann.is_announcement() && ann.is_gratuitous());
        assert!(!ann.is_probe());

        // A gratuitous reply is gratuitous but not an announcement (which is a request).
        let grat_reply = ArpRepr {
            operation: ArpOperation::REPLY,
            target_mac: MacAddr::BROADCAST,
            ..ann
        };
        assert!(grat_reply.is_gratuitous() && !grat_reply.is_announcement());

        // An ordinary request is none of them; a probe-shaped reply is not a probe.
        let req = ArpRepr::request(MAC_A, IP_A, IP_B);
        assert!(!req.is_probe() && !req.is_announcement() && !req.is_gratuitous());
        let reply = ArpRepr {
            operation: ArpOperation::REPLY,
            ..probe
        };
        assert!(!reply.is_probe());
        // 0.0.0.0 asking for 0.0.0.0 is neither a probe nor an announcement.
        let zero = ArpRepr::request(MAC_A, Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
        assert!(!zero.is_probe() && !zero.is_announcement() && !zero.is_gratuitous());

        // They survive the wire.
        for r in [probe, ann, grat_reply] {
            let mut out = [0u8; 28];
            r.emit(&mut out).unwrap();
            let back = ArpRepr::parse(&ArpPacket::new_checked(&out[..]).unwrap()).unwrap();
            assert_eq!(back, r);
            assert_eq!(
                (
                    back.is_probe(),
                    back.is_announcement(),
                    back.is_gratuitous()
                ),
                (r.is_probe(), r.is_announcement(), r.is_gratuitous())
            );
        }
    }

    #[test]
    fn arp_emit_small_buffer() {
        let r = ArpRepr::request(MAC_A, IP_A, IP_B);
        assert_eq!(r.buffer_len(), 28);
        assert_eq!(
            r.emit(&mut [0u8; 27]),
            Err(EmitError::BufferTooSmall {
                needed: 28,
                available: 27
            })
        );
        // With headroom for an Ethernet header in front.
        let mut frame = [0u8; 14 + 28];
        assert_eq!(r.emit(&mut frame[14..]).unwrap(), 28);
        assert_eq!(&frame[..14], &[0; 14]);
        assert_eq!(&frame[14..22], &[0, 1, 8, 0, 6, 4, 0, 1]);
    }

    #[test]
    fn arp_oobr_capture_every_frame_parses_or_errs() {
        // 2282 fuzzed ARP frames. Expected counts were derived independently from the raw
        // bytes (truncation first, then hardware type, protocol type, address lengths).
        let frames = frames("arp-oobr.pcap");
        assert_eq!(frames.len(), 2282);
        let (mut ok, mut unknown_op, mut trunc, mut hw, mut pro, mut lens) = (0, 0, 0, 0, 0, 0);
        for f in &frames {
            let eth = EthernetFrame::new_checked(&f[..]).unwrap();
            assert_eq!(eth.ethertype(), EtherType::ARP);
            let p = match ArpPacket::new_checked(eth.payload()) {
                Ok(p) => p,
                Err(ArpError::Truncated { len, needed }) => {
                    assert!(len < needed);
                    trunc += 1;
                    continue;
                }
                Err(e) => panic!("unexpected {e}"),
            };
            // Generic accessors work whatever the combination.
            let h = usize::from(p.hardware_len());
            let l = usize::from(p.protocol_len());
            assert_eq!(p.sender_hardware_addr().len(), h);
            assert_eq!(p.target_protocol_addr().len(), l);
            assert_eq!(p.packet().len() + p.padding().len(), eth.payload().len());
            match ArpRepr::parse(&p) {
                Ok(r) => {
                    ok += 1;
                    if !r.operation.is_known() {
                        unknown_op += 1;
                    }
                    let mut out = [0u8; 28];
                    r.emit(&mut out).unwrap();
                    assert_eq!(&out[..], p.packet());
                }
                Err(ArpError::UnsupportedHardwareType(_)) => hw += 1,
                Err(ArpError::UnsupportedProtocolType(_)) => pro += 1,
                Err(ArpError::WrongAddressLengths { hlen, plen }) => {
                    assert_ne!((hlen, plen), (6, 4));
                    lens += 1
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        println!(
            "arp-oobr: {ok} Ethernet/IPv4 ({unknown_op} with unknown operations), {trunc} \
             truncated, {hw} unsupported hardware, {pro} unsupported protocol, {lens} wrong \
             lengths"
        );
        assert_eq!(ok, 2023);
        assert_eq!(unknown_op, 74);
        assert_eq!(trunc, 82);
        assert_eq!(hw, 73);
        assert_eq!(pro, 89);
        assert_eq!(lens, 15);
        assert_eq!(ok + trunc + hw + pro + lens, frames.len());
        // Frame 1 (tcpdump): Request who-has 192.168.1.1 tell 192.168.1.104.
        let eth = EthernetFrame::new_checked(&frames[0][..]).unwrap();
        let r = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(
            r,
            ArpRepr::request(MacAddr([0, 0x1f, 0x29, 0xda, 0x2d, 0x79]), IP_A, IP_B)
        );
        // Frame 15: opcode 29953 (tcpdump "Unknown (29953)").
        let eth = EthernetFrame::new_checked(&frames[14][..]).unwrap();
        let r = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(r.operation, ArpOperation(29953));
    }

    #[test]
    fn arp_too_long_tha_capture() {
        // tcpdump -v: "ARP, Unknown Hardware (12336) (len 14), IPv4 (len 4), Request who-has
        // 48.48.48.48 (30:30:…:30) tell 48.48.48.48" behind an 802.1ad tag.
        let frames = frames("arp-too-long-tha.pcap");
        assert_eq!(frames.len(), 1);
        let eth = EthernetFrame::new_checked(&frames[0][..]).unwrap();
        assert_eq!(eth.vlan_tags().len(), 1);
        assert_eq!(eth.ethertype(), EtherType::ARP);
        let p = ArpPacket::new_checked(eth.payload()).unwrap();
        assert_eq!(p.hardware_type(), ArpHardware(12336));
        assert_eq!(p.protocol_type(), EtherType::IPV4);
        assert_eq!((p.hardware_len(), p.protocol_len()), (14, 4));
        assert_eq!(p.operation(), ArpOperation::REQUEST);
        assert_eq!(p.target_hardware_addr(), &[0x30; 14]);
        assert_eq!(p.target_protocol_addr(), &[48, 48, 48, 48]);
        assert_eq!(p.sender_protocol_addr(), &[48, 48, 48, 48]);
        assert_eq!(
            ArpRepr::parse(&p).unwrap_err(),
            ArpError::UnsupportedHardwareType(12336)
        );
        // Cut before the target protocol address: truncated, naming what it needs.
        assert_eq!(
            ArpPacket::new_checked(&eth.payload()[..41]).unwrap_err(),
            ArpError::Truncated {
                len: 41,
                needed: 44
            }
        );
    }

    #[test]
    fn arp_qinq_capture() {
        // tcpdump -e: vlan 200 (802.1ad) / vlan 2001 (802.1Q) / ARP, "Request who-has
        // 172.21.79.100 tell 172.21.79.97" then "Reply 172.21.79.100 is-at 00:80:ea:81:88:63".
        let frames = frames("802.1ad_QinQ.pcap");
        assert_eq!(frames.len(), 2);
        let mut reprs = Vec::new();
        for f in &frames {
            let eth = EthernetFrame::new_checked(&f[..]).unwrap();
            let tags = eth.vlan_tags();
            assert_eq!(tags.len(), 2);
            assert_eq!((tags[0].vid, tags[1].vid), (200, 2001));
            assert_eq!(eth.ethertype(), EtherType::ARP);
            let p = ArpPacket::new_checked(eth.payload()).unwrap();
            assert_eq!(p.packet_len(), 28);
            assert_eq!(p.padding().len(), eth.payload().len() - 28);
            reprs.push(ArpRepr::parse(&p).unwrap());
        }
        let (req, rep) = (reprs[0], reprs[1]);
        assert_eq!(req.operation, ArpOperation::REQUEST);
        assert_eq!(req.target_ip, Ipv4Addr::new(172, 21, 79, 100));
        assert_eq!(req.sender_ip, Ipv4Addr::new(172, 21, 79, 97));
        assert_eq!(
            req.sender_mac,
            MacAddr([0x00, 0x20, 0xd2, 0x5a, 0xfb, 0x3f])
        );
        assert_eq!(rep.operation, ArpOperation::REPLY);
        assert_eq!(rep.sender_ip, Ipv4Addr::new(172, 21, 79, 100));
        assert_eq!(
            rep.sender_mac,
            MacAddr([0x00, 0x80, 0xea, 0x81, 0x88, 0x63])
        );
        // The reply answers the request exactly as `reply` builds it.
        assert_eq!(req.reply(rep.sender_mac), rep);
    }

    #[cfg(feature = "fuzzing")]
    #[test]
    fn arp_fuzz_bodies_on_captures_and_mutations() {
        use rand::{Rng, SeedableRng};
        let seed = 5227;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut runs = 0;
        for name in [
            "arp-oobr.pcap",
            "arp-too-long-tha.pcap",
            "802.1ad_QinQ.pcap",
        ] {
            for f in frames(name) {
                crate::fuzzing::ethernet::ethernet_frame(&f);
                let eth = EthernetFrame::new_checked(&f[..]).unwrap();
                crate::fuzzing::arp::arp_packet(eth.payload());
                let mut x = f.clone();
                let at = rng.gen_range(0..x.len());
                x[at] = rng.r#gen();
                crate::fuzzing::ethernet::ethernet_frame(&x);
                crate::fuzzing::arp::arp_packet(x.get(14..).unwrap_or(&[]));
                runs += 1;
            }
        }
        println!("{runs} arp/ethernet frames and mutations checked");
    }

    #[cfg(feature = "arbitrary")]
    #[test]
    fn arp_arbitrary_round_trips() {
        use arbitrary::{Arbitrary, Unstructured};
        use rand::{RngCore, SeedableRng};
        let seed = 826;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut raw = [0u8; 64];
        let mut out = [0u8; 28 + 64];
        let (mut n, mut probes, mut announcements) = (0, 0, 0);
        while n < 10_000 {
            rng.fill_bytes(&mut raw);
            let mut u = Unstructured::new(&raw);
            let Ok(r) = ArpRepr::arbitrary(&mut u) else {
                continue;
            };
            let headroom = (rng.next_u32() % 64) as usize;
            let w = r.emit(&mut out[headroom..]).unwrap();
            assert_eq!(w, r.buffer_len());
            let p = ArpPacket::new_checked(&out[headroom..headroom + w]).unwrap();
            let back = ArpRepr::parse(&p).unwrap();
            assert_eq!(back, r);
            assert_eq!(p.operation(), r.operation);
            assert_eq!(p.sender_hardware_addr(), &r.sender_mac.0);
            assert_eq!(p.target_protocol_addr(), &r.target_ip.octets());
            probes += usize::from(r.is_probe());
            announcements += usize::from(r.is_announcement());
            n += 1;
        }
        assert!(
            probes > 100 && announcements > 100,
            "{probes} {announcements}"
        );
        println!("{n} arp round trips checked");
    }
}
