//! The capture reader: file header, then records one at a time.

use std::borrow::Cow;

use pcap_file::pcap::PcapParser;

use crate::error::{CorruptReason, PcapError, RecordIssue};
use crate::link::{LinkError, LinkType, NetworkProto, network_payload};
use crate::pcapng::{self, Section};
use crate::timestamp::{Timestamp, TimestampResolution};
use crate::{Endianness, rd32};

/// Upper bound on a pcap record's captured length when the file's snapshot length is
/// smaller: libpcap's largest snapshot length for ordinary link types (256 KiB). A record
/// header claiming more than both is garbage and ends the read.
pub const MAX_SANE_CAPLEN: u32 = 262_144;

/// Length of a pcap file header.
const PCAP_HEADER_LEN: usize = 24;
/// Length of a pcap record header.
const RECORD_HEADER_LEN: usize = 16;
/// Smallest pcapng section header block.
const SHB_MIN_LEN: usize = 28;

/// The fields of a pcap file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapHeader {
    /// Byte order of the header fields.
    pub endianness: Endianness,
    /// Timestamp resolution (from the magic number).
    pub resolution: TimestampResolution,
    /// Major version (2 in every current file).
    pub version_major: u16,
    /// Minor version (4 in every current file).
    pub version_minor: u16,
    /// Snapshot length: the most bytes captured from each packet.
    pub snaplen: u32,
    /// Link type: the low 16 bits of the link-type field.
    pub link_type: LinkType,
    /// The whole 32-bit link-type field (upper bits may carry FCS information).
    pub link_field: u32,
    /// Bytes of frame check sequence at the end of each frame, when the field's F bit
    /// (0x04000000) says so: the top four bits count 16-bit words.
    pub fcs_len: Option<u8>,
}

/// The kind of capture being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A pcap file.
    Pcap(PcapHeader),
    /// A pcapng file; the fields are from its first section header.
    PcapNg {
        /// Byte order of the first section.
        endianness: Endianness,
        /// Major version (1).
        version_major: u16,
        /// Minor version (0).
        version_minor: u16,
    },
}

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Position among the records, from 0 (tcpdump's packet number is `index + 1`).
    pub index: usize,
    /// Byte offset of the record header (pcap) or packet block (pcapng) in the file.
    pub offset: u64,
    /// Capture time; `None` if invalid (see `issues`), or absent (pcapng simple packet
    /// blocks carry none).
    pub timestamp: Option<Timestamp>,
    /// Link type; `None` only for a pcapng packet naming an undescribed interface.
    pub link_type: Option<LinkType>,
    /// The pcapng interface id; `None` for pcap.
    pub interface: Option<u32>,
    /// The captured bytes.
    pub data: &'a [u8],
    /// The packet's length on the wire.
    pub orig_len: u32,
    /// The record's flaws, in the order found; empty for a clean record.
    pub issues: Vec<RecordIssue>,
}

impl<'a> Record<'a> {
    /// The packet number as tcpdump and Wireshark show it (from 1).
    pub fn number(&self) -> u64 {
        self.index as u64 + 1
    }

    /// The network-layer bytes of the packet (see [`network_payload`]).
    pub fn network_payload(&self) -> Result<(NetworkProto, &'a [u8]), LinkError> {
        network_payload(self.link_type.ok_or(LinkError::NoLinkType)?, self.data)
    }

    /// True if the captured bytes are fewer than the packet's wire length.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}

/// Counters kept while reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records yielded.
    pub records: u64,
    /// Records with at least one issue.
    pub records_with_issues: u64,
    /// Records whose sub-second timestamp field was out of range.
    pub invalid_timestamps: u64,
    /// pcapng records whose timestamp overflowed after the interface offset.
    pub timestamps_out_of_range: u64,
    /// Records of a link type without a decoder.
    pub unknown_link_types: u64,
    /// Records with more captured bytes than the snapshot length.
    pub caplen_over_snaplen: u64,
    /// Records whose original length is below their captured length.
    pub orig_len_below_caplen: u64,
    /// pcapng records naming an undescribed interface.
    pub unknown_interfaces: u64,
    /// pcapng blocks (section header, interface description or packet) whose options did
    /// not parse; their fixed fields were used.
    pub malformed_options: u64,
    /// Captured bytes in all records yielded.
    pub captured_bytes: u64,
    /// pcapng sections (section header blocks) read.
    pub sections: u64,
    /// pcapng interface description blocks read.
    pub interfaces: u64,
    /// pcapng blocks that carry no packet and no interface (statistics, name resolution,
    /// custom, unknown types), skipped.
    pub other_blocks: u64,
}

impl Stats {
    fn account(&mut self, record: &Record<'_>) {
        self.records += 1;
        self.captured_bytes += record.data.len() as u64;
        if !record.issues.is_empty() {
            self.records_with_issues += 1;
        }
        for issue in &record.issues {
            let counter = match issue {
                RecordIssue::InvalidTimestamp { .. } => &mut self.invalid_timestamps,
                RecordIssue::TimestampOutOfRange { .. } => &mut self.timestamps_out_of_range,
                RecordIssue::UnknownLinkType { .. } => &mut self.unknown_link_types,
                RecordIssue::CaplenExceedsSnaplen { .. } => &mut self.caplen_over_snaplen,
                RecordIssue::OrigLenBelowCaplen { .. } => &mut self.orig_len_below_caplen,
                RecordIssue::UnknownInterface { .. } => &mut self.unknown_interfaces,
                RecordIssue::MalformedOptions { .. } => &mut self.malformed_options,
            };
            *counter += 1;
        }
    }
}

/// Appends the checks every record gets, whatever its format.
pub(crate) fn common_issues(
    issues: &mut Vec<RecordIssue>,
    link_type: Option<LinkType>,
    caplen: u32,
    orig_len: u32,
    snaplen: u32,
) {
    if let Some(LinkType::Other(code)) = link_type {
        issues.push(RecordIssue::UnknownLinkType { code });
    }
    // A snapshot length of 0 means "no limit" in pcapng and is meaningless in pcap.
    if snaplen != 0 && caplen > snaplen {
        issues.push(RecordIssue::CaplenExceedsSnaplen { caplen, snaplen });
    }
    if orig_len < caplen {
        issues.push(RecordIssue::OrigLenBelowCaplen { caplen, orig_len });
    }
}

#[derive(Debug)]
enum State {
    Pcap {
        parser: PcapParser,
        header: PcapHeader,
    },
    PcapNg(Section),
}

/// A streaming reader over a capture held in memory.
///
/// An iterator of `Result<Record, PcapError>`: every record in file order, then, if a record
/// header is corrupt, one [`PcapError::CorruptRecord`], then nothing. [`stats`](Self::stats)
/// counts what was read; [`error`](Self::error) keeps the error that ended the read.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
    /// Offset of the next record header or block.
    pos: usize,
    format: Format,
    state: State,
    stats: Stats,
    finished: bool,
    error: Option<PcapError>,
}

impl<'a> Reader<'a> {
    /// Reads the file header (pcap) or first section header (pcapng).
    pub fn new(input: &'a [u8]) -> Result<Reader<'a>, PcapError> {
        let magic_bytes: [u8; 4] = input.get(..4).and_then(|m| m.try_into().ok()).ok_or(
            PcapError::TruncatedFileHeader {
                len: input.len(),
                needed: PCAP_HEADER_LEN,
                format: "pcap",
            },
        )?;
        let magic = u32::from_be_bytes(magic_bytes);
        let swapped = magic.swap_bytes();
        let is_pcap = |m: u32| {
            m == TimestampResolution::Microsecond.magic()
                || m == TimestampResolution::Nanosecond.magic()
        };
        if magic == pcapng::SECTION_HEADER_BLOCK {
            Self::new_pcapng(input)
        } else if is_pcap(magic) || is_pcap(swapped) {
            Self::new_pcap(input)
        } else {
            Err(PcapError::UnknownMagic { magic })
        }
    }

    fn new_pcap(input: &'a [u8]) -> Result<Reader<'a>, PcapError> {
        if input.len() < PCAP_HEADER_LEN {
            return Err(PcapError::TruncatedFileHeader {
                len: input.len(),
                needed: PCAP_HEADER_LEN,
                format: "pcap",
            });
        }
        let (_, parser) = PcapParser::new(input).map_err(|e| match e {
            pcap_file::PcapError::InvalidField(_) => PcapError::UnknownMagic {
                magic: rd32(Endianness::Big, input, 0).unwrap_or(0),
            },
            _ => PcapError::TruncatedFileHeader {
                len: input.len(),
                needed: PCAP_HEADER_LEN,
                format: "pcap",
            },
        })?;
        let h = parser.header();
        let link_field = u32::from(h.datalink);
        // The link-type field: LinkType in the low 16 bits; bit 26 (F) says the top four
        // bits give the FCS length in 16-bit words (libpcap's LT_FCS_LENGTH_PRESENT).
        let fcs_len = (link_field & 0x0400_0000 != 0).then(|| ((link_field >> 28) * 2) as u8);
        let header = PcapHeader {
            endianness: Endianness::from_lib(h.endianness),
            resolution: TimestampResolution::from_lib(h.ts_resolution),
            version_major: h.version_major,
            version_minor: h.version_minor,
            snaplen: h.snaplen,
            link_type: LinkType::from_code(link_field & 0xffff),
            link_field,
            fcs_len,
        };
        Ok(Reader {
            input,
            pos: PCAP_HEADER_LEN,
            format: Format::Pcap(header),
            state: State::Pcap { parser, header },
            stats: Stats::default(),
            finished: false,
            error: None,
        })
    }

    fn new_pcapng(input: &'a [u8]) -> Result<Reader<'a>, PcapError> {
        if input.len() < SHB_MIN_LEN {
            return Err(PcapError::TruncatedFileHeader {
                len: input.len(),
                needed: SHB_MIN_LEN,
                format: "pcapng",
            });
        }
        let mut stats = Stats::default();
        let (section, len) = Section::open(input, &mut stats)
            .map_err(|reason| PcapError::BadSectionHeader { offset: 0, reason })?;
        let format = Format::PcapNg {
            endianness: section.endianness,
            version_major: section.version.0,
            version_minor: section.version.1,
        };
        Ok(Reader {
            input,
            pos: len,
            format,
            state: State::PcapNg(section),
            stats,
            finished: false,
            error: None,
        })
    }

    /// The capture's format and header fields.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Counters so far (final once the iterator has returned `None`).
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The error that ended the read, if one did.
    pub fn error(&self) -> Option<PcapError> {
        self.error
    }

    /// Byte offset where reading stopped or will resume.
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    fn next_pcap(
        input: &'a [u8],
        pos: &mut usize,
        index: usize,
        parser: &PcapParser,
        header: &PcapHeader,
    ) -> Result<Option<Record<'a>>, CorruptReason> {
        let rest = input.get(*pos..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(None);
        }
        if rest.len() < RECORD_HEADER_LEN {
            return Err(CorruptReason::TruncatedRecordHeader {
                available: rest.len(),
            });
        }
        let order = header.endianness;
        let caplen = rd32(order, rest, 8).unwrap_or(u32::MAX);
        let limit = header.snaplen.max(MAX_SANE_CAPLEN);
        if caplen > limit {
            return Err(CorruptReason::CaplenOverLimit {
                caplen,
                snaplen: header.snaplen,
                limit,
            });
        }
        let available = rest.len() - RECORD_HEADER_LEN;
        if caplen as usize > available {
            return Err(CorruptReason::CaplenBeyondEof { caplen, available });
        }
        // next_raw_packet does not validate the timestamp, so a bad one cannot stop us.
        let (rem, raw) = parser.next_raw_packet(rest).map_err(|e| match e {
            pcap_file::PcapError::InvalidField(detail) => CorruptReason::Parser { detail },
            _ => CorruptReason::CaplenBeyondEof { caplen, available },
        })?;
        let consumed = rest.len() - rem.len();
        let data = match raw.data {
            Cow::Borrowed(d) => d,
            Cow::Owned(_) => rest.get(RECORD_HEADER_LEN..consumed).unwrap_or_default(),
        };
        let offset = *pos as u64;
        *pos += consumed;

        let mut issues = Vec::new();
        let timestamp = header.resolution.timestamp(raw.ts_sec, raw.ts_frac);
        if timestamp.is_none() {
            issues.push(RecordIssue::InvalidTimestamp {
                secs: raw.ts_sec,
                fraction: raw.ts_frac,
                resolution: header.resolution,
            });
        }
        common_issues(
            &mut issues,
            Some(header.link_type),
            raw.incl_len,
            raw.orig_len,
            header.snaplen,
        );
        Ok(Some(Record {
            index,
            offset,
            timestamp,
            link_type: Some(header.link_type),
            interface: None,
            data,
            orig_len: raw.orig_len,
            issues,
        }))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Record<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let index = usize::try_from(self.stats.records).unwrap_or(usize::MAX);
        let start = self.pos;
        let result = match &mut self.state {
            State::Pcap { parser, header } => {
                Self::next_pcap(self.input, &mut self.pos, index, parser, header)
                    .map_err(|reason| (start, reason))
            }
            State::PcapNg(section) => {
                section.next_packet(self.input, &mut self.pos, index, &mut self.stats)
            }
        };
        match result {
            Ok(Some(record)) => {
                self.stats.account(&record);
                Some(Ok(record))
            }
            Ok(None) => {
                self.finished = true;
                None
            }
            Err((offset, reason)) => {
                self.finished = true;
                let error = PcapError::CorruptRecord {
                    record: self.stats.records + 1,
                    offset: offset as u64,
                    reason,
                };
                self.error = Some(error);
                Some(Err(error))
            }
        }
    }
}

impl core::iter::FusedIterator for Reader<'_> {}

/// A whole capture read at once: the records before any corrupt one, and the error that
/// ended the read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture<'a> {
    /// Format and header fields.
    pub format: Format,
    /// Every record read, in file order.
    pub records: Vec<Record<'a>>,
    /// Counters.
    pub stats: Stats,
    /// The corrupt record that ended the read early, if any.
    pub error: Option<PcapError>,
}

impl<'a> Capture<'a> {
    /// Reads every record of `input`. A bad file header is an error; a corrupt record
    /// header ends the read and is kept in [`error`](Self::error) with the records before it.
    pub fn read(input: &'a [u8]) -> Result<Capture<'a>, PcapError> {
        let mut reader = Reader::new(input)?;
        let records: Vec<Record<'a>> = reader.by_ref().filter_map(Result::ok).collect();
        Ok(Capture {
            format: reader.format(),
            records,
            stats: reader.stats(),
            error: reader.error(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::Pcap;

    const US: u32 = 0xa1b2_c3d4;
    const NS: u32 = 0xa1b2_3c4d;

    fn frame(n: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| n.wrapping_add(i as u8)).collect()
    }

    /// Three clean Ethernet records.
    fn three(order: Endianness, magic: u32) -> (Vec<u8>, Vec<usize>) {
        let mut p = Pcap::new(order, magic, 65535, 1);
        let offsets = vec![
            p.record(100, 1, &frame(1, 60), 60),
            p.record(101, 2, &frame(2, 70), 80),
            p.record(102, 999_999, &frame(3, 42), 42),
        ];
        (p.bytes, offsets)
    }

    #[test]
    fn pcap_reads_both_byte_orders_and_resolutions() {
        for order in [Endianness::Big, Endianness::Little] {
            for (magic, resolution, unit) in [
                (US, TimestampResolution::Microsecond, 1000),
                (NS, TimestampResolution::Nanosecond, 1),
            ] {
                let (bytes, offsets) = three(order, magic);
                let cap = Capture::read(&bytes).unwrap();
                let Format::Pcap(h) = cap.format else {
                    panic!("not pcap")
                };
                assert_eq!(h.endianness, order);
                assert_eq!(h.resolution, resolution);
                assert_eq!((h.version_major, h.version_minor), (2, 4));
                assert_eq!(h.snaplen, 65535);
                assert_eq!(h.link_type, LinkType::Ethernet);
                assert_eq!(h.fcs_len, None);
                assert_eq!(cap.error, None);
                assert_eq!(cap.records.len(), 3);
                let r = &cap.records[1];
                assert_eq!(r.index, 1);
                assert_eq!(r.number(), 2);
                assert_eq!(r.offset, offsets[1] as u64);
                assert_eq!(r.timestamp, Timestamp::new(101, 2 * unit));
                assert_eq!(r.link_type, Some(LinkType::Ethernet));
                assert_eq!(r.interface, None);
                assert_eq!(r.data, &frame(2, 70)[..]);
                assert_eq!(r.orig_len, 80);
                assert!(r.is_truncated());
                assert!(r.issues.is_empty());
                assert_eq!(
                    cap.records[2].timestamp,
                    Timestamp::new(102, 999_999 * unit)
                );
                assert_eq!(cap.stats.records, 3);
                assert_eq!(cap.stats.captured_bytes, 172);
                assert_eq!(cap.stats.records_with_issues, 0);
            }
        }
    }

    #[test]
    fn pcap_invalid_timestamp_is_flagged_and_reading_goes_on() {
        for (magic, resolution, bad) in [
            (US, TimestampResolution::Microsecond, 1_000_000),
            (NS, TimestampResolution::Nanosecond, 1_000_000_000),
        ] {
            let mut p = Pcap::new(Endianness::Little, magic, 65535, 1);
            p.record(1, 5, &[1; 20], 20);
            p.record(2, bad, &[2; 20], 20);
            p.record(3, u32::MAX, &[3; 20], 20);
            p.record(4, 0, &[4; 20], 20);
            let cap = Capture::read(&p.bytes).unwrap();
            assert_eq!(cap.error, None);
            assert_eq!(cap.records.len(), 4);
            assert_eq!(cap.records[1].timestamp, None);
            assert_eq!(
                cap.records[1].issues,
                [RecordIssue::InvalidTimestamp {
                    secs: 2,
                    fraction: bad,
                    resolution
                }]
            );
            assert_eq!(cap.records[2].timestamp, None);
            assert_eq!(cap.records[3].timestamp, Timestamp::new(4, 0));
            assert_eq!(cap.records[3].data, [4; 20]);
            assert_eq!(cap.stats.invalid_timestamps, 2);
            assert_eq!(cap.stats.records_with_issues, 2);
        }
    }

    #[test]
    fn pcap_corrupt_third_caplen_yields_two_records_then_the_error() {
        let (mut bytes, offsets) = three(Endianness::Little, US);
        let third = offsets[2];
        // Past the 256 KiB bound: garbage.
        bytes[third + 8..third + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let mut reader = Reader::new(&bytes).unwrap();
        assert_eq!(reader.next().unwrap().unwrap().index, 0);
        assert_eq!(reader.next().unwrap().unwrap().index, 1);
        let err = reader.next().unwrap().unwrap_err();
        let expected = PcapError::CorruptRecord {
            record: 3,
            offset: third as u64,
            reason: CorruptReason::CaplenOverLimit {
                caplen: 0x7fff_ffff,
                snaplen: 65535,
                limit: MAX_SANE_CAPLEN,
            },
        };
        assert_eq!(err, expected);
        assert_eq!(reader.next(), None);
        assert_eq!(reader.next(), None);
        assert_eq!(reader.error(), Some(expected));
        assert_eq!(reader.stats().records, 2);
        assert_eq!(reader.position(), third as u64);

        // Within the bound but past the end of the file.
        let (mut bytes, offsets) = three(Endianness::Big, US);
        let third = offsets[2];
        bytes[third + 8..third + 12].copy_from_slice(&43u32.to_be_bytes());
        let cap = Capture::read(&bytes).unwrap();
        assert_eq!(cap.records.len(), 2);
        assert_eq!(
            cap.error,
            Some(PcapError::CorruptRecord {
                record: 3,
                offset: third as u64,
                reason: CorruptReason::CaplenBeyondEof {
                    caplen: 43,
                    available: 42
                },
            })
        );
    }

    #[test]
    fn pcap_truncated_final_record_and_header() {
        let (bytes, offsets) = three(Endianness::Little, NS);
        // Data cut short.
        let cap = Capture::read(&bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(cap.records.len(), 2);
        assert_eq!(
            cap.error,
            Some(PcapError::CorruptRecord {
                record: 3,
                offset: offsets[2] as u64,
                reason: CorruptReason::CaplenBeyondEof {
                    caplen: 42,
                    available: 41
                },
            })
        );
        // Header cut short.
        let cap = Capture::read(&bytes[..offsets[2] + 15]).unwrap();
        assert_eq!(cap.records.len(), 2);
        assert_eq!(
            cap.error,
            Some(PcapError::CorruptRecord {
                record: 3,
                offset: offsets[2] as u64,
                reason: CorruptReason::TruncatedRecordHeader { available: 15 },
            })
        );
        // Cut exactly between records: a clean end.
        let cap = Capture::read(&bytes[..offsets[2]]).unwrap();
        assert_eq!((cap.records.len(), cap.error), (2, None));
        // Every cut reads the records before it and never panics.
        for cut in 0..bytes.len() {
            if let Ok(cap) = Capture::read(&bytes[..cut]) {
                let whole = offsets.iter().filter(|&&o| o < cut).count();
                assert!(cap.records.len() == whole || cap.records.len() + 1 == whole);
            }
        }
    }

    #[test]
    fn pcap_caplen_bounds_and_snaplen() {
        // Over the snapshot length but under 256 KiB: flagged, read on.
        let mut p = Pcap::new(Endianness::Little, US, 53, 1);
        p.record(1, 0, &[7; 90], 90);
        p.record(2, 0, &[8; 10], 10);
        let cap = Capture::read(&p.bytes).unwrap();
        assert_eq!(cap.error, None);
        assert_eq!(
            cap.records[0].issues,
            [RecordIssue::CaplenExceedsSnaplen {
                caplen: 90,
                snaplen: 53
            }]
        );
        assert_eq!(cap.records[0].data.len(), 90);
        assert_eq!(cap.stats.caplen_over_snaplen, 1);

        // Exactly the bound is accepted; one more is not.
        let big = vec![0u8; MAX_SANE_CAPLEN as usize + 1];
        let mut p = Pcap::new(Endianness::Little, US, 100, 1);
        p.record(1, 0, &big[..MAX_SANE_CAPLEN as usize], MAX_SANE_CAPLEN);
        let at = p.record(2, 0, &big, MAX_SANE_CAPLEN + 1);
        let cap = Capture::read(&p.bytes).unwrap();
        assert_eq!(cap.records.len(), 1);
        assert_eq!(
            cap.error,
            Some(PcapError::CorruptRecord {
                record: 2,
                offset: at as u64,
                reason: CorruptReason::CaplenOverLimit {
                    caplen: MAX_SANE_CAPLEN + 1,
                    snaplen: 100,
                    limit: MAX_SANE_CAPLEN
                },
            })
        );

        // A snapshot length above the bound raises it.
        let mut p = Pcap::new(Endianness::Little, US, MAX_SANE_CAPLEN + 10, 1);
        p.record(1, 0, &big, MAX_SANE_CAPLEN + 1);
        let cap = Capture::read(&p.bytes).unwrap();
        assert_eq!((cap.records.len(), cap.error), (1, None));
    }

    #[test]
    fn pcap_orig_len_below_caplen_is_flagged() {
        let mut p = Pcap::new(Endianness::Little, US, 65535, 1);
        p.record(1, 0, &[1; 60], 40);
        let cap = Capture::read(&p.bytes).unwrap();
        assert_eq!(
            cap.records[0].issues,
            [RecordIssue::OrigLenBelowCaplen {
                caplen: 60,
                orig_len: 40
            }]
        );
        assert_eq!(cap.stats.orig_len_below_caplen, 1);
    }

    #[test]
    fn pcap_link_field_and_unknown_link_types() {
        for (field, link, fcs) in [
            (0x3000_0001, LinkType::Ethernet, None),
            (0x0400_0001, LinkType::Ethernet, Some(0)),
            (0x2400_0071, LinkType::LinuxSll, Some(4)),
            (228, LinkType::Ipv4, None),
        ] {
            let mut p = Pcap::new(Endianness::Little, US, 65535, field);
            p.record(1, 0, &[0x45; 20], 20);
            let cap = Capture::read(&p.bytes).unwrap();
            let Format::Pcap(h) = cap.format else {
                panic!("not pcap")
            };
            assert_eq!((h.link_type, h.link_field, h.fcs_len), (link, field, fcs));
            assert!(cap.records[0].issues.is_empty());
        }
        let mut p = Pcap::new(Endianness::Big, US, 65535, 105);
        p.record(1, 0, &[0; 24], 24);
        p.record(2, 0, &[0; 24], 24);
        let cap = Capture::read(&p.bytes).unwrap();
        assert_eq!(cap.records.len(), 2);
        assert_eq!(
            cap.records[1].issues,
            [RecordIssue::UnknownLinkType { code: 105 }]
        );
        assert_eq!(cap.stats.unknown_link_types, 2);
        assert_eq!(
            cap.records[0].network_payload(),
            Err(LinkError::Unsupported {
                link_type: LinkType::Other(105)
            })
        );
    }

    #[test]
    fn pcap_file_header_errors() {
        assert_eq!(
            Reader::new(&[]).unwrap_err(),
            PcapError::TruncatedFileHeader {
                len: 0,
                needed: 24,
                format: "pcap"
            }
        );
        let (bytes, _) = three(Endianness::Little, US);
        assert_eq!(
            Reader::new(&bytes[..23]).unwrap_err(),
            PcapError::TruncatedFileHeader {
                len: 23,
                needed: 24,
                format: "pcap"
            }
        );
        assert_eq!(
            Reader::new(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0]).unwrap_err(),
            PcapError::TruncatedFileHeader {
                len: 6,
                needed: 28,
                format: "pcapng"
            }
        );
        let mut bad = bytes.clone();
        bad[..4].copy_from_slice(&[0xa1, 0xb2, 0xcd, 0x34]);
        let err = Reader::new(&bad).unwrap_err();
        assert_eq!(err, PcapError::UnknownMagic { magic: 0xa1b2_cd34 });
        assert!(err.to_string().contains("0xa1b2cd34"));
        // A header alone is an empty capture.
        let cap = Capture::read(&bytes[..24]).unwrap();
        assert_eq!((cap.records.len(), cap.error), (0, None));
    }
}
