//! Ethernet II frames (IEEE 802.3 §3.2.6 "Length/Type" ≥ 0x0600) with up to two VLAN tags:
//! an IEEE 802.1Q C-tag, or an 802.1ad S-tag followed by a C-tag (QinQ).
//!
//! The frame check sequence is not part of the view: links and captures hand frames over
//! without it.

use crate::{EmitError, MacAddr, be16, need, put16};
use arrayvec::ArrayVec;

/// An EtherType (IEEE 802 numbers). Values below 0x0600 are 802.3 length fields, not types.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct EtherType(pub u16);

impl EtherType {
    /// Internet Protocol version 4.
    pub const IPV4: EtherType = EtherType(0x0800);
    /// Address Resolution Protocol.
    pub const ARP: EtherType = EtherType(0x0806);
    /// Internet Protocol version 6.
    pub const IPV6: EtherType = EtherType(0x86dd);
    /// IEEE 802.1Q customer VLAN tag (C-tag).
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IEEE 802.1ad service VLAN tag (S-tag).
    pub const QINQ: EtherType = EtherType(0x88a8);
    /// Pre-standard QinQ S-tag still seen in the wild.
    pub const QINQ_LEGACY: EtherType = EtherType(0x9100);

    /// True for the tag protocol identifiers this module parses as VLAN tags.
    pub fn is_vlan_tpid(self) -> bool {
        matches!(self, Self::VLAN | Self::QINQ | Self::QINQ_LEGACY)
    }
}

impl core::fmt::Debug for EtherType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

impl core::fmt::Display for EtherType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::IPV4 => f.write_str("IPv4"),
            Self::ARP => f.write_str("ARP"),
            Self::IPV6 => f.write_str("IPv6"),
            Self::VLAN => f.write_str("802.1Q"),
            Self::QINQ => f.write_str("802.1ad"),
            other => write!(f, "{:#06x}", other.0),
        }
    }
}

/// Why bytes are not a valid Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EthernetError {
    /// Fewer than the 14 bytes of destination, source and type.
    #[error("ethernet frame truncated: {len} bytes, header needs 14")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// A VLAN tag was announced but its 4 bytes (TCI and inner type) are missing.
    #[error("ethernet frame truncated inside VLAN tag {index}: {len} bytes, need {needed}")]
    TruncatedVlanTag {
        /// Which tag (0 = outermost).
        index: usize,
        /// Bytes present.
        len: usize,
        /// Bytes the tag needs.
        needed: usize,
    },
    /// More than two stacked VLAN tags (802.1ad defines S-tag + C-tag).
    #[error("more than 2 stacked VLAN tags")]
    TooManyVlanTags,
    /// The Length/Type field is below 0x0600: an IEEE 802.3 length, not an Ethernet II type.
    #[error("802.3 length field {0} (LLC frame), not an Ethernet II type")]
    Ieee8023Length(u16),
}

/// One VLAN tag: tag protocol identifier and tag control information (IEEE 802.1Q §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag {
    /// Tag protocol identifier (0x8100 C-tag, 0x88a8 S-tag, 0x9100 legacy S-tag).
    pub tpid: EtherType,
    /// Priority code point (3 bits).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier (12 bits).
    pub vid: u16,
}

impl VlanTag {
    fn tci(&self) -> u16 {
        (u16::from(self.pcp & 7) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0fff)
    }
    fn from_tci(tpid: EtherType, tci: u16) -> Self {
        VlanTag {
            tpid,
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }
}

/// A checked view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
    /// Number of VLAN tags (0..=2), established by `new_checked`.
    tags: usize,
}

/// Length of the untagged header.
pub const HEADER_LEN: usize = 14;
const TAG_LEN: usize = 4;

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Validates the header and any VLAN tags.
    pub fn new_checked(buffer: T) -> Result<Self, EthernetError> {
        let b = buffer.as_ref();
        let len = b.len();
        if len < HEADER_LEN {
            return Err(EthernetError::Truncated { len });
        }
        let mut tags = 0;
        loop {
            let at = 12 + tags * TAG_LEN;
            let ty = EtherType(be16(b, at).ok_or(EthernetError::Truncated { len })?);
            if ty.is_vlan_tpid() {
                if tags == 2 {
                    return Err(EthernetError::TooManyVlanTags);
                }
                let needed = HEADER_LEN + (tags + 1) * TAG_LEN;
                if len < needed {
                    return Err(EthernetError::TruncatedVlanTag {
                        index: tags,
                        len,
                        needed,
                    });
                }
                tags += 1;
                continue;
            }
            if ty.0 < 0x0600 {
                return Err(EthernetError::Ieee8023Length(ty.0));
            }
            break;
        }
        Ok(EthernetFrame { buffer, tags })
    }

    /// Destination address.
    pub fn dst(&self) -> MacAddr {
        MacAddr::from_slice(self.buffer.as_ref()).unwrap_or_default()
    }
    /// Source address.
    pub fn src(&self) -> MacAddr {
        self.buffer
            .as_ref()
            .get(6..)
            .and_then(MacAddr::from_slice)
            .unwrap_or_default()
    }
    /// The VLAN tags, outermost first.
    pub fn vlan_tags(&self) -> ArrayVec<VlanTag, 2> {
        let b = self.buffer.as_ref();
        let mut out = ArrayVec::new();
        for i in 0..self.tags {
            let at = 12 + i * TAG_LEN;
            if let (Some(tpid), Some(tci)) = (be16(b, at), be16(b, at + 2)) {
                out.push(VlanTag::from_tci(EtherType(tpid), tci));
            }
        }
        out
    }
    /// The EtherType of the payload (after any tags).
    pub fn ethertype(&self) -> EtherType {
        EtherType(be16(self.buffer.as_ref(), 12 + self.tags * TAG_LEN).unwrap_or(0))
    }
    /// Header length including tags.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.tags * TAG_LEN
    }
    /// Everything after the header (including any link-layer padding).
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// Writes an untagged Ethernet II header from `src` to `dst` with `ethertype` at the start of
/// `buf` (IEEE 802.3 §3.2), for a sender that writes one per frame: the same bytes as
/// [`EthernetRepr::emit`] without VLAN tags, without building a `Repr`. Returns
/// [`HEADER_LEN`].
pub fn emit_untagged(
    buf: &mut [u8],
    dst: MacAddr,
    src: MacAddr,
    ethertype: EtherType,
) -> Result<usize, EmitError> {
    if ethertype.0 < 0x0600 || ethertype.is_vlan_tpid() {
        return Err(EmitError::Unencodable {
            field: "ethertype",
            reason: "must be an Ethernet II type (>= 0x0600) that is not a VLAN TPID",
        });
    }
    need(buf, HEADER_LEN)?;
    let Some(h) = buf.get_mut(..HEADER_LEN) else {
        return Err(EmitError::BufferTooSmall {
            needed: HEADER_LEN,
            available: buf.len(),
        });
    };
    let (d, rest) = h.split_at_mut(6);
    let (s, t) = rest.split_at_mut(6);
    d.copy_from_slice(&dst.0);
    s.copy_from_slice(&src.0);
    t.copy_from_slice(&ethertype.0.to_be_bytes());
    Ok(HEADER_LEN)
}

/// The meaning of an Ethernet II header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Destination address.
    pub dst: MacAddr,
    /// Source address.
    pub src: MacAddr,
    /// VLAN tags, outermost first (at most two).
    pub vlans: ArrayVec<VlanTag, 2>,
    /// Type of the payload.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Self {
        EthernetRepr {
            dst: frame.dst(),
            src: frame.src(),
            vlans: frame.vlan_tags(),
            ethertype: frame.ethertype(),
        }
    }

    /// Bytes `emit` writes.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.vlans.len() * TAG_LEN
    }

    /// Writes the header at the start of `buf`; the payload goes at `buf[header_len()..]`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let n = self.header_len();
        need(buf, n)?;
        if self.ethertype.0 < 0x0600 || self.ethertype.is_vlan_tpid() {
            return Err(EmitError::Unencodable {
                field: "ethertype",
                reason: "must be an Ethernet II type (>= 0x0600) that is not a VLAN TPID",
            });
        }
        for tag in &self.vlans {
            if !tag.tpid.is_vlan_tpid() || tag.pcp > 7 || tag.vid > 0x0fff {
                return Err(EmitError::Unencodable {
                    field: "vlans",
                    reason: "TPID must be 0x8100/0x88a8/0x9100, PCP < 8 and VID < 4096",
                });
            }
        }
        if let Some(h) = buf.get_mut(..12) {
            let (d, s) = h.split_at_mut(6);
            d.copy_from_slice(&self.dst.0);
            s.copy_from_slice(&self.src.0);
        }
        let mut at = 12;
        for tag in &self.vlans {
            put16(buf, at, tag.tpid.0);
            put16(buf, at + 2, tag.tci());
            at += TAG_LEN;
        }
        put16(buf, at, self.ethertype.0);
        Ok(n)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for VlanTag {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let tpid = *u.choose(&[EtherType::VLAN, EtherType::QINQ, EtherType::QINQ_LEGACY])?;
        Ok(VlanTag {
            tpid,
            pcp: u.int_in_range(0..=7)?,
            dei: u.arbitrary()?,
            vid: u.int_in_range(0..=0x0fff)?,
        })
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for EthernetRepr {
    /// Valid by construction: an Ethernet II type that is not a VLAN TPID, 0..=2 valid tags.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut vlans = ArrayVec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            vlans.push(u.arbitrary()?);
        }
        let ethertype = loop {
            let t = EtherType(u.int_in_range(0x0600..=0xffff)?);
            if !t.is_vlan_tpid() {
                break t;
            }
        };
        Ok(EthernetRepr {
            dst: u.arbitrary()?,
            src: u.arbitrary()?,
            vlans,
            ethertype,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARP_BROADCAST: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06, 0xaa, 0xbb,
    ];

    #[test]
    fn ethernet_emit_untagged_writes_the_bytes_of_the_repr() {
        let (dst, src) = (MacAddr([2, 0, 0, 0, 0, 9]), MacAddr([2, 0, 0, 0, 0, 1]));
        for ethertype in [
            EtherType::IPV4,
            EtherType::ARP,
            EtherType(0x0600),
            EtherType(0x05ff),
            EtherType(0x8100),
        ] {
            let repr = EthernetRepr {
                dst,
                src,
                vlans: ArrayVec::new(),
                ethertype,
            };
            let (mut a, mut b) = ([0xa5u8; 16], [0xa5u8; 16]);
            assert_eq!(
                emit_untagged(&mut a, dst, src, ethertype),
                repr.emit(&mut b),
                "{ethertype:?}"
            );
            assert_eq!(a, b, "{ethertype:?}");
        }
        assert!(matches!(
            emit_untagged(&mut [0u8; 13], dst, src, EtherType::IPV4),
            Err(EmitError::BufferTooSmall { needed: 14, .. })
        ));
    }

    #[test]
    fn ethernet_parses_untagged() {
        let f = EthernetFrame::new_checked(&ARP_BROADCAST[..]).unwrap();
        assert_eq!(f.dst(), MacAddr::BROADCAST);
        assert_eq!(f.src(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.ethertype(), EtherType::ARP);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn ethernet_rejects_short_and_8023() {
        assert_eq!(
            EthernetFrame::new_checked(&ARP_BROADCAST[..13]).unwrap_err(),
            EthernetError::Truncated { len: 13 }
        );
        let mut llc = ARP_BROADCAST;
        llc[12..14].copy_from_slice(&46u16.to_be_bytes());
        assert_eq!(
            EthernetFrame::new_checked(&llc[..]).unwrap_err(),
            EthernetError::Ieee8023Length(46)
        );
    }

    #[test]
    fn ethernet_qinq_and_truncated_tag() {
        let mut b = [0u8; 24];
        b[12..14].copy_from_slice(&0x88a8u16.to_be_bytes());
        b[14..16].copy_from_slice(&0xa064u16.to_be_bytes()); // pcp 5, vid 100
        b[16..18].copy_from_slice(&0x8100u16.to_be_bytes());
        b[18..20].copy_from_slice(&0x0fffu16.to_be_bytes());
        b[20..22].copy_from_slice(&0x0800u16.to_be_bytes());
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        let r = EthernetRepr::parse(&f);
        assert_eq!(r.vlans.len(), 2);
        assert_eq!(
            r.vlans[0],
            VlanTag {
                tpid: EtherType::QINQ,
                pcp: 5,
                dei: false,
                vid: 100
            }
        );
        assert_eq!(r.vlans[1].vid, 0x0fff);
        assert_eq!(r.ethertype, EtherType::IPV4);
        assert_eq!(f.header_len(), 22);
        let mut out = [0u8; 22];
        assert_eq!(r.emit(&mut out).unwrap(), 22);
        assert_eq!(&out[..], &b[..22]);
        assert!(matches!(
            EthernetFrame::new_checked(&b[..21]).unwrap_err(),
            EthernetError::TruncatedVlanTag { index: 1, .. }
        ));
        let mut three = [0u8; 30];
        three[..22].copy_from_slice(&b[..22]);
        three[20..22].copy_from_slice(&0x8100u16.to_be_bytes());
        assert_eq!(
            EthernetFrame::new_checked(&three[..]).unwrap_err(),
            EthernetError::TooManyVlanTags
        );
    }

    #[test]
    fn ethernet_emit_refuses_bad_repr_and_small_buffer() {
        let r = EthernetRepr {
            dst: MacAddr::BROADCAST,
            src: MacAddr::ZERO,
            vlans: ArrayVec::new(),
            ethertype: EtherType(100),
        };
        assert!(matches!(
            r.emit(&mut [0u8; 14]),
            Err(EmitError::Unencodable { .. })
        ));
        let r = EthernetRepr {
            ethertype: EtherType::IPV4,
            ..r
        };
        assert_eq!(
            r.emit(&mut [0u8; 13]),
            Err(EmitError::BufferTooSmall {
                needed: 14,
                available: 13
            })
        );
    }
}
