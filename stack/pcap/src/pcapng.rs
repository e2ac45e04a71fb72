//! pcapng sections: block framing, interface descriptions and packet blocks.
//!
//! Blocks are framed here (so a bad length is reported with its numbers and offset) and
//! then handed to `pcap-file`'s `PcapNgParser` one block at a time. Where pcap-file rejects
//! a block whose framing is sound (options that are not valid UTF-8, an `if_tzone` of the
//! specified four bytes, which pcap-file 2.0 wants as one), the fixed fields are read here
//! instead and the record is flagged, so one odd option does not end the read.

use core::fmt;
use std::borrow::Cow;

use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};

use crate::error::{CorruptReason, RecordIssue};
use crate::link::LinkType;
use crate::reader::{Record, Stats, common_issues};
use crate::timestamp::Timestamp;
use crate::{Endianness, rd16, rd32, rd64};

/// Section header block type (pcapng §4.1); also the file's magic number.
pub(crate) const SECTION_HEADER_BLOCK: u32 = 0x0a0d_0d0a;
const INTERFACE_DESCRIPTION_BLOCK: u32 = 1;
const PACKET_BLOCK: u32 = 2;
const SIMPLE_PACKET_BLOCK: u32 = 3;
const ENHANCED_PACKET_BLOCK: u32 = 6;

/// Byte-order magic of a section header, as read big-endian.
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Block type, total length, and trailing total length.
const BLOCK_OVERHEAD: usize = 12;
/// Default `if_tsresol`: microseconds (pcapng §4.2).
const DEFAULT_TSRESOL: u8 = 6;

/// Smallest total length of each block type: overhead plus fixed fields.
fn minimum_length(block_type: u32) -> u32 {
    match block_type {
        // byte-order magic, versions, section length
        SECTION_HEADER_BLOCK => 28,
        // link type, reserved, snaplen
        INTERFACE_DESCRIPTION_BLOCK => 20,
        // interface, timestamp, captured and original lengths (PB: u16 interface, u16 drops)
        ENHANCED_PACKET_BLOCK | PACKET_BLOCK => 32,
        // original length
        SIMPLE_PACKET_BLOCK => 16,
        _ => 12,
    }
}

/// An interface description: what its packets' bytes and timestamps mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interface {
    link_type: LinkType,
    /// 0: no limit.
    snaplen: u32,
    tsresol: u8,
    /// Seconds added to every timestamp (`if_tsoffset`, signed per pcapng §4.2).
    tsoffset: i64,
}

/// The state of the section being read.
pub(crate) struct Section {
    parser: PcapNgParser,
    pub(crate) endianness: Endianness,
    pub(crate) version: (u16, u16),
    interfaces: Vec<Interface>,
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Section")
            .field("endianness", &self.endianness)
            .field("version", &self.version)
            .field("interfaces", &self.interfaces)
            .finish_non_exhaustive()
    }
}

/// Checks the framing of the block at the start of `rest`: returns its type, total length
/// and byte order (a section header carries its own).
fn frame(order: Endianness, rest: &[u8]) -> Result<(u32, usize, Endianness), CorruptReason> {
    if rest.len() < BLOCK_OVERHEAD {
        return Err(CorruptReason::TruncatedBlockHeader {
            available: rest.len(),
        });
    }
    let block_type = rd32(order, rest, 0).unwrap_or(0);
    let order = if block_type == SECTION_HEADER_BLOCK {
        // pcapng §4.1: the byte-order magic follows the length and sets the section's order.
        match rd32(Endianness::Big, rest, 8).unwrap_or(0) {
            BYTE_ORDER_MAGIC => Endianness::Big,
            m if m == BYTE_ORDER_MAGIC.swap_bytes() => Endianness::Little,
            magic => return Err(CorruptReason::BadByteOrderMagic { magic }),
        }
    } else {
        order
    };
    let length = rd32(order, rest, 4).unwrap_or(0);
    // pcapng §3.1: the total length is a multiple of 4 and counts type, length and trailer.
    if length < BLOCK_OVERHEAD as u32 || !length.is_multiple_of(4) {
        return Err(CorruptReason::BadBlockLength { block_type, length });
    }
    let minimum = minimum_length(block_type);
    if length < minimum {
        return Err(CorruptReason::BlockTooShort {
            block_type,
            length,
            minimum,
        });
    }
    let len = length as usize;
    if len > rest.len() {
        return Err(CorruptReason::BlockBeyondEof {
            block_type,
            length,
            available: rest.len(),
        });
    }
    let trailing = rd32(order, rest, len - 4).unwrap_or(0);
    if trailing != length {
        return Err(CorruptReason::TrailerMismatch {
            block_type,
            leading: length,
            trailing,
        });
    }
    Ok((block_type, len, order))
}

/// A minimal section header in `order` with no options, for when pcap-file rejects the
/// options of a section header whose fixed fields are sound.
fn bare_section_header(order: Endianness, version: (u16, u16)) -> Vec<u8> {
    let u16b = |v: u16| match order {
        Endianness::Big => v.to_be_bytes(),
        Endianness::Little => v.to_le_bytes(),
    };
    let u32b = |v: u32| match order {
        Endianness::Big => v.to_be_bytes(),
        Endianness::Little => v.to_le_bytes(),
    };
    let mut b = Vec::with_capacity(28);
    b.extend_from_slice(&u32b(SECTION_HEADER_BLOCK));
    b.extend_from_slice(&u32b(28));
    b.extend_from_slice(&u32b(BYTE_ORDER_MAGIC));
    b.extend_from_slice(&u16b(version.0));
    b.extend_from_slice(&u16b(version.1));
    b.extend_from_slice(&[0xff; 8]); // section length -1: unspecified
    b.extend_from_slice(&u32b(28));
    b
}

fn borrowed(data: Cow<'_, [u8]>) -> Option<&[u8]> {
    match data {
        Cow::Borrowed(d) => Some(d),
        Cow::Owned(_) => None,
    }
}

/// The fields of a packet block, whichever its type.
struct PacketFields<'a> {
    interface: u32,
    /// `None` for a simple packet block, which has no timestamp.
    ticks: Option<u64>,
    orig_len: u32,
    data: &'a [u8],
}

impl Section {
    /// Opens the section whose header block starts `rest`; returns it and the block length.
    pub(crate) fn open(rest: &[u8], stats: &mut Stats) -> Result<(Section, usize), CorruptReason> {
        let (_, len, order) = frame(Endianness::Big, rest)?;
        let block = rest.get(..len).unwrap_or_default();
        let version = (
            rd16(order, block, 12).unwrap_or(0),
            rd16(order, block, 14).unwrap_or(0),
        );
        let parser = match PcapNgParser::new(block) {
            Ok((_, parser)) => parser,
            Err(_) => {
                stats.malformed_options += 1;
                let bare = bare_section_header(order, version);
                match PcapNgParser::new(&bare) {
                    Ok((_, parser)) => parser,
                    Err(pcap_file::PcapError::InvalidField(detail)) => {
                        return Err(CorruptReason::Parser { detail });
                    }
                    Err(_) => {
                        return Err(CorruptReason::Parser {
                            detail: "section header",
                        });
                    }
                }
            }
        };
        stats.sections += 1;
        Ok((
            Section {
                parser,
                endianness: order,
                version,
                interfaces: Vec::new(),
            },
            len,
        ))
    }

    /// Reads blocks from `*pos` up to and including the next packet block. Returns the
    /// packet's record, `None` at the end of the file, or the offset and reason of a corrupt
    /// block.
    pub(crate) fn next_packet<'a>(
        &mut self,
        input: &'a [u8],
        pos: &mut usize,
        index: usize,
        stats: &mut Stats,
    ) -> Result<Option<Record<'a>>, (usize, CorruptReason)> {
        loop {
            let start = *pos;
            let rest = input.get(start..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(None);
            }
            let at = |reason| (start, reason);
            let (block_type, len, _) = frame(self.endianness, rest).map_err(at)?;
            let block = rest.get(..len).unwrap_or_default();
            match block_type {
                SECTION_HEADER_BLOCK => {
                    // pcapng §4.1: a new section; its interfaces start afresh.
                    let (section, _) = Section::open(rest, stats).map_err(at)?;
                    *self = section;
                }
                INTERFACE_DESCRIPTION_BLOCK => self.add_interface(block, stats),
                ENHANCED_PACKET_BLOCK | PACKET_BLOCK | SIMPLE_PACKET_BLOCK => {
                    *pos = start + len;
                    return self
                        .packet(block_type, block, start, index)
                        .map(Some)
                        .map_err(at);
                }
                _ => stats.other_blocks += 1,
            }
            *pos = start + len;
        }
    }

    fn add_interface(&mut self, block: &[u8], stats: &mut Stats) {
        stats.interfaces += 1;
        let interface = match self.parser.next_block(block) {
            Ok((_, Block::InterfaceDescription(idb))) => {
                let mut interface = Interface {
                    link_type: LinkType::from_code(u32::from(idb.linktype)),
                    snaplen: idb.snaplen,
                    tsresol: DEFAULT_TSRESOL,
                    tsoffset: 0,
                };
                for option in &idb.options {
                    match option {
                        InterfaceDescriptionOption::IfTsResol(r) => interface.tsresol = *r,
                        // pcap-file reads the signed offset as u64: same bits.
                        InterfaceDescriptionOption::IfTsOffset(o) => {
                            interface.tsoffset = *o as i64;
                        }
                        _ => {}
                    }
                }
                interface
            }
            _ => {
                stats.malformed_options += 1;
                self.interface_fixed_fields(block)
            }
        };
        self.interfaces.push(interface);
    }

    /// An interface description read leniently: fixed fields, then only the options that
    /// matter here (`if_tsresol`, `if_tsoffset`), stopping at the first that does not fit.
    fn interface_fixed_fields(&self, block: &[u8]) -> Interface {
        let order = self.endianness;
        let body = block
            .get(8..block.len().saturating_sub(4))
            .unwrap_or_default();
        let mut interface = Interface {
            link_type: LinkType::from_code(u32::from(rd16(order, body, 0).unwrap_or(0))),
            snaplen: rd32(order, body, 4).unwrap_or(0),
            tsresol: DEFAULT_TSRESOL,
            tsoffset: 0,
        };
        // pcapng §3.5: options are (code u16, length u16, value padded to 32 bits).
        let mut options = body.get(8..).unwrap_or_default();
        while let (Some(code), Some(len)) = (rd16(order, options, 0), rd16(order, options, 2)) {
            if code == 0 {
                break;
            }
            let len = usize::from(len);
            let Some(value) = options.get(4..4 + len) else {
                break;
            };
            match (code, value) {
                (9, [resol]) => interface.tsresol = *resol,
                (14, v) if v.len() == 8 => {
                    interface.tsoffset = rd64(order, v, 0).unwrap_or(0) as i64;
                }
                _ => {}
            }
            let padded = (len + 3) & !3;
            options = options.get(4 + padded..).unwrap_or_default();
        }
        interface
    }

    /// Reads a packet block with pcap-file; falls back to the fixed fields (flagging the
    /// record) if pcap-file rejects it.
    fn packet<'a>(
        &mut self,
        block_type: u32,
        block: &'a [u8],
        offset: usize,
        index: usize,
    ) -> Result<Record<'a>, CorruptReason> {
        let order = self.endianness;
        // pcap-file 2.0 reads the obsolete packet block's timestamp as one u64, which puts
        // the halves in the wrong order in little-endian files: read it here (pcapng
        // appendix A: high 32 bits, then low 32 bits).
        let split_ticks = || {
            let high = u64::from(rd32(order, block, 12).unwrap_or(0));
            let low = u64::from(rd32(order, block, 16).unwrap_or(0));
            (high << 32) | low
        };
        let parsed = match self.parser.next_block(block) {
            Ok((_, Block::EnhancedPacket(b))) => borrowed(b.data).map(|data| PacketFields {
                interface: b.interface_id,
                // pcap-file stores the raw tick count as if it were nanoseconds.
                ticks: Some(u64::try_from(b.timestamp.as_nanos()).unwrap_or(u64::MAX)),
                orig_len: b.original_len,
                data,
            }),
            Ok((_, Block::Packet(b))) => borrowed(b.data).map(|data| PacketFields {
                interface: u32::from(b.interface_id),
                ticks: Some(split_ticks()),
                orig_len: b.original_len,
                data,
            }),
            Ok((_, Block::SimplePacket(b))) => borrowed(b.data).map(|data| PacketFields {
                interface: 0,
                ticks: None,
                orig_len: b.original_len,
                data,
            }),
            _ => None,
        };
        let mut issues = Vec::new();
        let mut fields = match parsed {
            Some(fields) => fields,
            None => {
                issues.push(RecordIssue::MalformedOptions { block_type });
                self.packet_fixed_fields(block_type, block)?
            }
        };

        let described = self.interfaces.len();
        let interface = usize::try_from(fields.interface)
            .ok()
            .and_then(|i| self.interfaces.get(i))
            .copied();
        if block_type == SIMPLE_PACKET_BLOCK {
            // pcapng §4.4: the data is min(snaplen, original length) bytes, then padding.
            let mut caplen = fields.data.len();
            caplen = caplen.min(fields.orig_len as usize);
            if let Some(i) = interface.filter(|i| i.snaplen != 0) {
                caplen = caplen.min(i.snaplen as usize);
            }
            fields.data = fields.data.get(..caplen).unwrap_or_default();
        }
        let caplen = u32::try_from(fields.data.len()).unwrap_or(u32::MAX);

        let (link_type, timestamp) = match interface {
            Some(i) => {
                let timestamp = fields.ticks.and_then(|ticks| {
                    let base = Timestamp::from_ticks(ticks, i.tsresol);
                    let secs = i128::from(base.secs()) + i128::from(i.tsoffset);
                    let shifted = u64::try_from(secs)
                        .ok()
                        .and_then(|s| Timestamp::new(s, base.subsec_nanos()));
                    if shifted.is_none() {
                        issues.push(RecordIssue::TimestampOutOfRange {
                            offset_secs: i.tsoffset,
                        });
                    }
                    shifted
                });
                common_issues(
                    &mut issues,
                    Some(i.link_type),
                    caplen,
                    fields.orig_len,
                    i.snaplen,
                );
                (Some(i.link_type), timestamp)
            }
            None => {
                issues.push(RecordIssue::UnknownInterface {
                    interface: fields.interface,
                    described,
                });
                common_issues(&mut issues, None, caplen, fields.orig_len, 0);
                (None, None)
            }
        };
        Ok(Record {
            index,
            offset: offset as u64,
            timestamp,
            link_type,
            interface: Some(fields.interface),
            data: fields.data,
            orig_len: fields.orig_len,
            issues,
        })
    }

    /// The fixed fields of a packet block whose options pcap-file rejected. The captured
    /// length must still lie inside the block.
    fn packet_fixed_fields<'a>(
        &self,
        block_type: u32,
        block: &'a [u8],
    ) -> Result<PacketFields<'a>, CorruptReason> {
        let order = self.endianness;
        let body = block
            .get(8..block.len().saturating_sub(4))
            .unwrap_or_default();
        let rd = |at: usize| rd32(order, body, at).unwrap_or(0);
        if block_type == SIMPLE_PACKET_BLOCK {
            return Ok(PacketFields {
                interface: 0,
                ticks: None,
                orig_len: rd(0),
                data: body.get(4..).unwrap_or_default(),
            });
        }
        // pcapng §4.3 (EPB) and appendix A (PB) share the layout after the interface id.
        let interface = if block_type == PACKET_BLOCK {
            u32::from(rd16(order, body, 0).unwrap_or(0))
        } else {
            rd(0)
        };
        let ticks = (u64::from(rd(4)) << 32) | u64::from(rd(8));
        let caplen = rd(12);
        let available = body.len().saturating_sub(20);
        let data = body
            .get(20..)
            .and_then(|d| d.get(..caplen as usize))
            .ok_or(CorruptReason::CaplenBeyondBlock {
                block_type,
                caplen,
                available,
            })?;
        Ok(PacketFields {
            interface,
            ticks: Some(ticks),
            orig_len: rd(16),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::PcapNg;
    use crate::{Capture, Format, PcapError, Reader};

    const ETH: u16 = 1;
    const SLL: u16 = 113;

    fn ts(secs: u64, nanos: u32) -> Option<Timestamp> {
        Timestamp::new(secs, nanos)
    }

    #[test]
    fn pcapng_enhanced_packets_in_both_byte_orders() {
        for order in [Endianness::Big, Endianness::Little] {
            let mut ng = PcapNg::new(order);
            ng.interface(ETH, 65535, &[]);
            let first = ng.enhanced(0, 1_700_000_000_123_456, &[1; 61], 61, &[]);
            let second = ng.enhanced(0, 1_700_000_001_000_000, &[2; 64], 100, &[]);
            let cap = Capture::read(&ng.bytes).unwrap();
            assert_eq!(
                cap.format,
                Format::PcapNg {
                    endianness: order,
                    version_major: 1,
                    version_minor: 0
                }
            );
            assert_eq!(cap.error, None);
            assert_eq!(cap.records.len(), 2);
            let r = &cap.records[0];
            assert_eq!((r.index, r.offset), (0, first as u64));
            // Default resolution: microseconds.
            assert_eq!(r.timestamp, ts(1_700_000_000, 123_456_000));
            assert_eq!(r.link_type, Some(LinkType::Ethernet));
            assert_eq!(r.interface, Some(0));
            assert_eq!(r.data, [1; 61]);
            assert!(r.issues.is_empty());
            let r = &cap.records[1];
            assert_eq!(r.offset, second as u64);
            assert_eq!((r.data.len(), r.orig_len), (64, 100));
            assert_eq!(cap.stats.sections, 1);
            assert_eq!(cap.stats.interfaces, 1);
        }
    }

    #[test]
    fn pcapng_each_interface_gives_link_type_and_resolution() {
        let mut ng = PcapNg::new(Endianness::Little);
        ng.interface(ETH, 0, &[(9, &[9])]);
        // 2^-10 s ticks, 100 s offset.
        ng.interface(SLL, 0, &[(9, &[0x80 | 10]), (14, &100i64.to_le_bytes())]);
        ng.interface(228, 0, &[(14, &(-50i64).to_le_bytes())]);
        ng.enhanced(1, 1536, &[0; 20], 20, &[]);
        ng.enhanced(0, 1_759_756_153_000_001_000, &[0; 14], 14, &[]);
        ng.enhanced(2, 60_000_001, &[0x45; 20], 20, &[]);
        let cap = Capture::read(&ng.bytes).unwrap();
        assert_eq!(cap.error, None);
        let r = &cap.records;
        assert_eq!(r[0].link_type, Some(LinkType::LinuxSll));
        assert_eq!(r[0].interface, Some(1));
        assert_eq!(r[0].timestamp, ts(101, 500_000_000));
        assert_eq!(r[1].link_type, Some(LinkType::Ethernet));
        assert_eq!(r[1].timestamp, ts(1_759_756_153, 1_000));
        assert_eq!(r[2].link_type, Some(LinkType::Ipv4));
        assert_eq!(r[2].timestamp, ts(10, 1_000));
        assert_eq!(cap.stats.interfaces, 3);
        assert_eq!(cap.stats.records_with_issues, 0);
    }

    #[test]
    fn pcapng_timestamp_offset_out_of_range_is_flagged() {
        let mut ng = PcapNg::new(Endianness::Big);
        ng.interface(ETH, 0, &[(14, &(-50i64).to_be_bytes())]);
        ng.enhanced(0, 10_000_000, &[0; 14], 14, &[]);
        ng.enhanced(0, 60_000_000, &[0; 14], 14, &[]);
        let cap = Capture::read(&ng.bytes).unwrap();
        assert_eq!(cap.records[0].timestamp, None);
        assert_eq!(
            cap.records[0].issues,
            [RecordIssue::TimestampOutOfRange { offset_secs: -50 }]
        );
        assert_eq!(cap.records[1].timestamp, ts(10, 0));
        assert_eq!(cap.stats.timestamps_out_of_range, 1);
    }

    #[test]
    fn pcapng_simple_packet_uses_interface_zero_and_drops_padding() {
        let mut ng = PcapNg::new(Endianness::Little);
        ng.interface(ETH, 16, &[]);
        // 18 bytes on the wire, snaplen 16: 16 stored.
        ng.simple(18, &[5; 16]);
        // 13 bytes on the wire: 13 stored, 3 of padding.
        ng.simple(13, &[6; 13]);
        let cap = Capture::read(&ng.bytes).unwrap();
        assert_eq!(cap.error, None);
        assert_eq!(cap.records[0].data, [5; 16]);
        assert_eq!(cap.records[0].orig_len, 18);
        assert_eq!(cap.records[0].timestamp, None);
        assert!(cap.records[0].issues.is_empty());
        assert_eq!(cap.records[1].data, [6; 13]);
        assert_eq!(cap.records[1].interface, Some(0));
        assert_eq!(cap.records[1].link_type, Some(LinkType::Ethernet));
    }

    #[test]
    fn pcapng_obsolete_packet_block_timestamp_halves_in_order() {
        for order in [Endianness::Big, Endianness::Little] {
            let mut ng = PcapNg::new(order);
            ng.interface(ETH, 0, &[]);
            ng.obsolete_packet(0, 1_700_000_000_000_007, &[9; 30], 30);
            let cap = Capture::read(&ng.bytes).unwrap();
            assert_eq!(cap.error, None);
            assert_eq!(
                cap.records[0].timestamp,
                ts(1_700_000_000, 7_000),
                "{order:?}"
            );
            assert_eq!(cap.records[0].data, [9; 30]);
        }
    }

    #[test]
    fn pcapng_unknown_interface_is_flagged() {
        let mut ng = PcapNg::new(Endianness::Little);
        ng.interface(ETH, 0, &[]);
        ng.enhanced(3, 5, &[1; 20], 20, &[]);
        ng.enhanced(0, 5, &[1; 20], 20, &[]);
        let cap = Capture::read(&ng.bytes).unwrap();
        assert_eq!(cap.records.len(), 2);
        let r = &cap.records[0];
        assert_eq!((r.link_type, r.timestamp), (None, None));
        assert_eq!(
            r.issues,
            [RecordIssue::UnknownInterface {
                interface: 3,
                described: 1
            }]
        );
        assert_eq!(r.network_payload(), Err(crate::LinkError::NoLinkType));
        assert_eq!(cap.stats.unknown_interfaces, 1);
        assert!(cap.records[1].issues.is_empty());
    }

    #[test]
    fn pcapng_new_section_resets_interfaces_and_byte_order() {
        let mut ng = PcapNg::new(Endianness::Little);
        ng.interface(ETH, 0, &[]);
        ng.enhanced(0, 1, &[1; 20], 20, &[]);
        ng.section(Endianness::Big, &[]);
        // Interface 0 of the old section is gone.
        ng.enhanced(0, 2, &[2; 20], 20, &[]);
        ng.interface(SLL, 0, &[(9, &[9])]);
        ng.enhanced(0, 3_000_000_004, &[3; 20], 20, &[]);
        let cap = Capture::read(&ng.bytes).unwrap();
        assert_eq!(cap.error, None);
        assert_eq!(cap.records.len(), 3);
        assert_eq!(cap.records[1].link_type, None);
        assert_eq!(cap.records[2].link_type, Some(LinkType::LinuxSll));
        assert_eq!(cap.records[2].timestamp, ts(3, 4));
        assert_eq!(cap.stats.sections, 2);
    }

    #[test]
    fn pcapng_options_pcap_file_rejects_do_not_stop_the_read() {
        let mut ng = PcapNg::new(Endianness::Little);
        // if_tzone with its specified 4 bytes (pcap-file 2.0 wants 1) before if_tsresol.
        ng.interface(ETH, 0, &[(10, &[0, 0, 0, 0]), (9, &[9])]);
        // An opt_comment that is not UTF-8.
        ng.enhanced(0, 7_000_000_001, &[4; 21], 21, &[(1, &[0xff, 0xfe])]);
        ng.enhanced(0, 8_000_000_000, &[5; 22], 22, &[(1, b"fine")]);
        let cap = Capture::read(&ng.bytes).unwrap();
        assert_eq!(cap.error, None);
        assert_eq!(cap.records.len(), 2);
        let r = &cap.records[0];
        assert_eq!(r.data, [4; 21]);
        assert_eq!(
            r.timestamp,
            ts(7, 1),
            "if_tsresol read past the odd if_tzone"
        );
        assert_eq!(r.issues, [RecordIssue::MalformedOptions { block_type: 6 }]);
        assert!(cap.records[1].issues.is_empty());
        // The interface and the packet.
        assert_eq!(cap.stats.malformed_options, 2);

        // A section header whose options do not parse still opens the section.
        let mut ng = PcapNg::new(Endianness::Big);
        ng.bytes.clear();
        ng.section(Endianness::Big, &[(2, &[0xc3, 0x28])]);
        ng.interface(ETH, 0, &[]);
        ng.enhanced(0, 1, &[1; 20], 20, &[]);
        let cap = Capture::read(&ng.bytes).unwrap();
        assert_eq!((cap.records.len(), cap.error), (1, None));
        assert_eq!(cap.stats.malformed_options, 1);
    }

    #[test]
    fn pcapng_other_blocks_are_skipped_and_counted() {
        let mut ng = PcapNg::new(Endianness::Little);
        ng.interface(ETH, 0, &[]);
        ng.block(4, &[0, 0, 0, 0]); // name resolution, end marker only
        ng.enhanced(0, 1, &[1; 20], 20, &[]);
        ng.block(5, &[0; 12]); // interface statistics
        ng.block(0x0000_0bad, &[1, 2, 3, 4, 5]); // custom
        ng.block(0x7777, &[]); // unknown
        let cap = Capture::read(&ng.bytes).unwrap();
        assert_eq!((cap.records.len(), cap.error), (1, None));
        assert_eq!(cap.stats.other_blocks, 4);
    }

    /// A file with two good packets, then `damage` applied to a third block.
    fn damaged(damage: impl Fn(&mut PcapNg, usize)) -> (Capture<'static>, usize) {
        let mut ng = PcapNg::new(Endianness::Little);
        ng.interface(ETH, 0, &[]);
        ng.enhanced(0, 1, &[1; 20], 20, &[]);
        ng.enhanced(0, 2, &[2; 20], 20, &[]);
        let third = ng.enhanced(0, 3, &[3; 20], 20, &[]);
        ng.enhanced(0, 4, &[4; 20], 20, &[]);
        damage(&mut ng, third);
        let bytes: &'static [u8] = Box::leak(ng.bytes.into_boxed_slice());
        (Capture::read(bytes).unwrap(), third)
    }

    fn corrupt_at(offset: usize, reason: CorruptReason) -> Option<PcapError> {
        Some(PcapError::CorruptRecord {
            record: 3,
            offset: offset as u64,
            reason,
        })
    }

    #[test]
    fn pcapng_corrupt_blocks_end_the_read_after_earlier_records() {
        // The third EPB is 52 bytes: 12 + 20 fixed + 20 data.
        let (cap, at) = damaged(|ng, at| ng.put32(at + 4, 50));
        assert_eq!(cap.records.len(), 2);
        assert_eq!(
            cap.error,
            corrupt_at(
                at,
                CorruptReason::BadBlockLength {
                    block_type: 6,
                    length: 50
                }
            )
        );
        let (cap, at) = damaged(|ng, at| ng.put32(at + 4, 28));
        assert_eq!(
            cap.error,
            corrupt_at(
                at,
                CorruptReason::BlockTooShort {
                    block_type: 6,
                    length: 28,
                    minimum: 32
                }
            )
        );
        let (cap, at) = damaged(|ng, at| ng.put32(at + 4, 4000));
        assert_eq!(
            cap.error,
            corrupt_at(
                at,
                CorruptReason::BlockBeyondEof {
                    block_type: 6,
                    length: 4000,
                    available: 104
                }
            )
        );
        let (cap, at) = damaged(|ng, at| ng.put32(at + 48, 56));
        assert_eq!(
            cap.error,
            corrupt_at(
                at,
                CorruptReason::TrailerMismatch {
                    block_type: 6,
                    leading: 52,
                    trailing: 56
                }
            )
        );
        // Captured length past the block: the packet cannot be found.
        let (cap, at) = damaged(|ng, at| ng.put32(at + 20, 21));
        assert_eq!(cap.records.len(), 2);
        assert_eq!(
            cap.error,
            corrupt_at(
                at,
                CorruptReason::CaplenBeyondBlock {
                    block_type: 6,
                    caplen: 21,
                    available: 20
                }
            )
        );
        // A file cut inside the third block's header.
        let (cap, at) = damaged(|ng, at| ng.bytes.truncate(at + 7));
        assert_eq!(
            cap.error,
            corrupt_at(at, CorruptReason::TruncatedBlockHeader { available: 7 })
        );
        // A file cut inside the third block.
        let (cap, at) = damaged(|ng, at| ng.bytes.truncate(at + 51));
        assert_eq!(cap.records.len(), 2);
        assert_eq!(
            cap.error,
            corrupt_at(
                at,
                CorruptReason::BlockBeyondEof {
                    block_type: 6,
                    length: 52,
                    available: 51
                }
            )
        );
        // A section header with a bad byte-order magic mid-file.
        let (cap, at) = damaged(|ng, at| {
            let mut tail = ng.bytes.split_off(at);
            ng.section(Endianness::Little, &[]);
            ng.put32(at + 8, 0x1234_5678);
            ng.bytes.append(&mut tail);
        });
        assert_eq!(
            cap.error,
            corrupt_at(at, CorruptReason::BadByteOrderMagic { magic: 0x7856_3412 })
        );
    }

    #[test]
    fn pcapng_bad_first_section_header_is_a_file_error() {
        let mut ng = PcapNg::new(Endianness::Little);
        ng.put32(8, 0xdead_beef);
        assert_eq!(
            Reader::new(&ng.bytes).unwrap_err(),
            PcapError::BadSectionHeader {
                offset: 0,
                reason: CorruptReason::BadByteOrderMagic { magic: 0xefbe_adde }
            }
        );
        let mut ng = PcapNg::new(Endianness::Big);
        ng.put32(4, 29);
        assert_eq!(
            Reader::new(&ng.bytes).unwrap_err(),
            PcapError::BadSectionHeader {
                offset: 0,
                reason: CorruptReason::BadBlockLength {
                    block_type: SECTION_HEADER_BLOCK,
                    length: 29
                }
            }
        );
        // A section header alone is an empty capture.
        let ng = PcapNg::new(Endianness::Big);
        let cap = Capture::read(&ng.bytes).unwrap();
        assert_eq!((cap.records.len(), cap.error), (0, None));
    }

    #[test]
    fn pcapng_every_cut_reads_the_records_before_it() {
        let mut ng = PcapNg::new(Endianness::Little);
        ng.interface(ETH, 0, &[(9, &[9])]);
        let interface_end = ng.bytes.len();
        let mut ends = Vec::new();
        for i in 0..4u8 {
            ng.enhanced(0, u64::from(i), &vec![i; 17 + usize::from(i)], 40, &[]);
            ends.push(ng.bytes.len());
        }
        for cut in 0..=ng.bytes.len() {
            let Ok(cap) = Capture::read(&ng.bytes[..cut]) else {
                assert!(cut < 28);
                continue;
            };
            let complete = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(cap.records.len(), complete, "cut {cut}");
            let clean_end = cut == 28 || cut == interface_end || ends.contains(&cut);
            assert_eq!(cap.error.is_none(), clean_end, "cut {cut}");
        }
    }
}
