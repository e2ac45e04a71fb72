//! Link-layer header types (the tcpdump.org LINKTYPE_ registry) and stripping the link header
//! down to the network layer.

use core::fmt;

/// A capture's link-layer header type (LINKTYPE_ value, tcpdump.org/linktypes.html).
///
/// [`LinkType::from_code`] maps every code it knows to its named variant, so `Other` only
/// holds codes without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_NULL (0): BSD loopback, a 4-byte address family in the capturing host's
    /// byte order.
    Null,
    /// LINKTYPE_ETHERNET (1): Ethernet II / IEEE 802.3.
    Ethernet,
    /// LINKTYPE_RAW (101): raw IPv4 or IPv6, told apart by the version nibble.
    RawIp,
    /// LINKTYPE_LINUX_SLL (113): Linux "cooked" capture, a 16-byte pseudo-header.
    LinuxSll,
    /// LINKTYPE_IPV4 (228): raw IPv4.
    Ipv4,
    /// LINKTYPE_IPV6 (229): raw IPv6.
    Ipv6,
    /// Any other code; weft has no decoder for it.
    Other(u32),
}

impl LinkType {
    /// The link type for a LINKTYPE_ code.
    pub const fn from_code(code: u32) -> LinkType {
        match code {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            101 => LinkType::RawIp,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            other => LinkType::Other(other),
        }
    }

    /// The LINKTYPE_ code.
    pub const fn code(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Other(code) => code,
        }
    }

    /// True if [`network_payload`] has a decoder for this link type.
    pub const fn is_known(self) -> bool {
        !matches!(self, LinkType::Other(_))
    }
}

impl From<u32> for LinkType {
    fn from(code: u32) -> Self {
        LinkType::from_code(code)
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            LinkType::Null => "BSD loopback",
            LinkType::Ethernet => "Ethernet",
            LinkType::RawIp => "raw IP",
            LinkType::LinuxSll => "Linux cooked capture",
            LinkType::Ipv4 => "raw IPv4",
            LinkType::Ipv6 => "raw IPv6",
            LinkType::Other(_) => "link type",
        };
        write!(f, "{name} ({})", self.code())
    }
}

/// The protocol of the bytes [`network_payload`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkProto {
    /// A whole Ethernet frame, link header included: parse it with weft-wire's
    /// `EthernetFrame`.
    Ethernet,
    /// An IPv4 packet.
    Ipv4,
    /// An IPv6 packet.
    Ipv6,
    /// An ARP packet.
    Arp,
}

/// Why a frame's link-layer header could not be stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The frame is shorter than its link-layer header.
    #[error("{link_type} header truncated: {available} bytes, the header needs {needed}")]
    Truncated {
        /// The frame's link type.
        link_type: LinkType,
        /// Bytes the header needs.
        needed: usize,
        /// Bytes the frame has.
        available: usize,
    },
    /// A BSD loopback header names an address family that is neither IPv4 nor IPv6.
    #[error("BSD loopback address family {family} is neither IPv4 (2) nor IPv6 (24, 28 or 30)")]
    UnknownFamily {
        /// The address family, after byte-order correction.
        family: u32,
    },
    /// A Linux cooked-capture header names a protocol other than IPv4, ARP or IPv6.
    #[error(
        "Linux cooked-capture protocol {protocol:#06x} (ARPHRD {arphrd}) is not IPv4 (0x0800), \
         ARP (0x0806) or IPv6 (0x86dd)"
    )]
    UnknownProtocol {
        /// The header's protocol field.
        protocol: u16,
        /// The header's ARPHRD_ device type.
        arphrd: u16,
    },
    /// A LINKTYPE_RAW packet whose version nibble is neither 4 nor 6.
    #[error("raw IP packet has IP version {version}, expected 4 or 6")]
    NotIp {
        /// The version nibble.
        version: u8,
    },
    /// The link type has no decoder here.
    #[error("{link_type} has no network-layer decoder")]
    Unsupported {
        /// The link type.
        link_type: LinkType,
    },
    /// The record came from a pcapng packet block naming an interface the file never
    /// described, so its link type is unknown.
    #[error("record has no link type: its interface was never described")]
    NoLinkType,
}

/// BSD loopback header length (a 4-byte address family).
const NULL_HEADER_LEN: usize = 4;
/// Linux cooked-capture (SLL v1) header length.
const SLL_HEADER_LEN: usize = 16;

/// Strips the link-layer header of a captured frame.
///
/// * Ethernet: the frame is returned whole as [`NetworkProto::Ethernet`] (its header,
///   VLAN tags included, is weft-wire's to parse).
/// * BSD loopback (0): a 4-byte address family in the capturing host's byte order; like
///   tcpdump, a value with any of its upper 16 bits set is byte-swapped. 2 is IPv4; 24, 28
///   and 30 are IPv6 (NetBSD/OpenBSD, FreeBSD, Darwin).
/// * Raw IP (101): the version nibble picks IPv4 or IPv6.
/// * IPv4 (228), IPv6 (229): the frame is the packet (the IP parser checks the version).
/// * Linux cooked capture (113): 16 bytes (packet type, ARPHRD type, address length, 8
///   address bytes, protocol); protocol 0x0800 is IPv4, 0x0806 ARP, 0x86dd IPv6.
pub fn network_payload(
    link_type: LinkType,
    data: &[u8],
) -> Result<(NetworkProto, &[u8]), LinkError> {
    let truncated = |needed: usize| LinkError::Truncated {
        link_type,
        needed,
        available: data.len(),
    };
    match link_type {
        LinkType::Ethernet => Ok((NetworkProto::Ethernet, data)),
        LinkType::Null => {
            let header: [u8; NULL_HEADER_LEN] = data
                .get(..NULL_HEADER_LEN)
                .and_then(|h| h.try_into().ok())
                .ok_or(truncated(NULL_HEADER_LEN))?;
            let mut family = u32::from_le_bytes(header);
            // The family is small; upper bits set means the capturing host was big-endian.
            if family & 0xffff_0000 != 0 {
                family = family.swap_bytes();
            }
            let proto = match family {
                2 => NetworkProto::Ipv4,
                24 | 28 | 30 => NetworkProto::Ipv6,
                family => return Err(LinkError::UnknownFamily { family }),
            };
            Ok((proto, data.get(NULL_HEADER_LEN..).unwrap_or_default()))
        }
        LinkType::RawIp => {
            let first = data.first().ok_or(truncated(1))?;
            match first >> 4 {
                4 => Ok((NetworkProto::Ipv4, data)),
                6 => Ok((NetworkProto::Ipv6, data)),
                version => Err(LinkError::NotIp { version }),
            }
        }
        LinkType::Ipv4 => Ok((NetworkProto::Ipv4, data)),
        LinkType::Ipv6 => Ok((NetworkProto::Ipv6, data)),
        LinkType::LinuxSll => {
            let header = data
                .get(..SLL_HEADER_LEN)
                .ok_or(truncated(SLL_HEADER_LEN))?;
            let be16 = |at: usize| crate::rd16(crate::Endianness::Big, header, at).unwrap_or(0);
            let arphrd = be16(2);
            let protocol = be16(14);
            let proto = match protocol {
                0x0800 => NetworkProto::Ipv4,
                0x0806 => NetworkProto::Arp,
                0x86dd => NetworkProto::Ipv6,
                protocol => return Err(LinkError::UnknownProtocol { protocol, arphrd }),
            };
            Ok((proto, data.get(SLL_HEADER_LEN..).unwrap_or_default()))
        }
        LinkType::Other(_) => Err(LinkError::Unsupported { link_type }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_type_codes_round_trip() {
        for code in [0, 1, 101, 113, 228, 229, 105, 276, u32::MAX] {
            assert_eq!(LinkType::from_code(code).code(), code);
            assert_eq!(LinkType::from(code), LinkType::from_code(code));
        }
        assert_eq!(LinkType::from_code(113), LinkType::LinuxSll);
        assert!(LinkType::Ipv4.is_known());
        assert!(!LinkType::Other(105).is_known());
        assert_eq!(LinkType::Null.to_string(), "BSD loopback (0)");
        assert_eq!(LinkType::Other(105).to_string(), "link type (105)");
    }

    #[test]
    fn link_ethernet_is_left_whole() {
        let frame = [0u8; 20];
        assert_eq!(
            network_payload(LinkType::Ethernet, &frame),
            Ok((NetworkProto::Ethernet, &frame[..]))
        );
    }

    #[test]
    fn link_null_families_in_both_byte_orders() {
        let ip = [0x45u8, 0, 0, 20];
        for (header, proto) in [
            ([2u8, 0, 0, 0], NetworkProto::Ipv4),
            ([0, 0, 0, 2], NetworkProto::Ipv4),
            ([24, 0, 0, 0], NetworkProto::Ipv6),
            ([0, 0, 0, 28], NetworkProto::Ipv6),
            ([30, 0, 0, 0], NetworkProto::Ipv6),
        ] {
            let mut frame = header.to_vec();
            frame.extend_from_slice(&ip);
            assert_eq!(
                network_payload(LinkType::Null, &frame),
                Ok((proto, &ip[..])),
                "{header:?}"
            );
        }
        assert_eq!(
            network_payload(LinkType::Null, &[7, 0, 0, 0, 1]),
            Err(LinkError::UnknownFamily { family: 7 })
        );
        assert_eq!(
            network_payload(LinkType::Null, &[0, 0, 0, 23]),
            Err(LinkError::UnknownFamily { family: 23 })
        );
        assert_eq!(
            network_payload(LinkType::Null, &[2, 0]),
            Err(LinkError::Truncated {
                link_type: LinkType::Null,
                needed: 4,
                available: 2
            })
        );
        // A bare header is fine: the payload is empty.
        assert_eq!(
            network_payload(LinkType::Null, &[2, 0, 0, 0]),
            Ok((NetworkProto::Ipv4, &[][..]))
        );
    }

    #[test]
    fn link_raw_checks_the_version_nibble() {
        assert_eq!(
            network_payload(LinkType::RawIp, &[0x45, 0]),
            Ok((NetworkProto::Ipv4, &[0x45, 0][..]))
        );
        assert_eq!(
            network_payload(LinkType::RawIp, &[0x60, 0]),
            Ok((NetworkProto::Ipv6, &[0x60, 0][..]))
        );
        assert_eq!(
            network_payload(LinkType::RawIp, &[0x55]),
            Err(LinkError::NotIp { version: 5 })
        );
        assert_eq!(
            network_payload(LinkType::RawIp, &[]),
            Err(LinkError::Truncated {
                link_type: LinkType::RawIp,
                needed: 1,
                available: 0
            })
        );
        // LINKTYPE_IPV4 and _IPV6 declare the protocol; the IP parser checks the version.
        assert_eq!(
            network_payload(LinkType::Ipv4, &[0x60]),
            Ok((NetworkProto::Ipv4, &[0x60][..]))
        );
        assert_eq!(
            network_payload(LinkType::Ipv6, &[0x60]),
            Ok((NetworkProto::Ipv6, &[0x60][..]))
        );
    }

    fn sll(protocol: u16) -> Vec<u8> {
        let mut h = vec![0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
        h.extend_from_slice(&protocol.to_be_bytes());
        h.extend_from_slice(&[0xaa, 0xbb]);
        h
    }

    #[test]
    fn link_linux_sll_protocols() {
        for (protocol, proto) in [
            (0x0800, NetworkProto::Ipv4),
            (0x0806, NetworkProto::Arp),
            (0x86dd, NetworkProto::Ipv6),
        ] {
            let frame = sll(protocol);
            assert_eq!(
                network_payload(LinkType::LinuxSll, &frame),
                Ok((proto, &[0xaa, 0xbb][..]))
            );
        }
        assert_eq!(
            network_payload(LinkType::LinuxSll, &sll(0x0004)),
            Err(LinkError::UnknownProtocol {
                protocol: 4,
                arphrd: 1
            })
        );
        assert_eq!(
            network_payload(LinkType::LinuxSll, &sll(0x0800)[..15]),
            Err(LinkError::Truncated {
                link_type: LinkType::LinuxSll,
                needed: 16,
                available: 15
            })
        );
    }

    #[test]
    fn link_unsupported_and_messages() {
        let err = network_payload(LinkType::Other(105), &[1, 2]).unwrap_err();
        assert_eq!(
            err,
            LinkError::Unsupported {
                link_type: LinkType::Other(105)
            }
        );
        assert_eq!(
            err.to_string(),
            "link type (105) has no network-layer decoder"
        );
        assert_eq!(
            network_payload(LinkType::LinuxSll, &[0; 3])
                .unwrap_err()
                .to_string(),
            "Linux cooked capture (113) header truncated: 3 bytes, the header needs 16"
        );
        assert_eq!(
            LinkError::UnknownProtocol {
                protocol: 0x8100,
                arphrd: 1
            }
            .to_string(),
            "Linux cooked-capture protocol 0x8100 (ARPHRD 1) is not IPv4 (0x0800), ARP (0x0806) \
             or IPv6 (0x86dd)"
        );
        assert_eq!(
            LinkError::NoLinkType.to_string(),
            "record has no link type: its interface was never described"
        );
    }
}
