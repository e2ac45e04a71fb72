//! Errors that end a read, and the flaws a record can carry while reading goes on.

use core::fmt;

use crate::TimestampResolution;

/// An error that ends reading a capture.
///
/// The file-header variants come from [`Reader::new`](crate::Reader::new), before any
/// record; [`CorruptRecord`](PcapError::CorruptRecord) is the last item a reader yields,
/// after every record before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// The file is shorter than the header its magic number announces.
    #[error("file too short to be a capture: {len} bytes, the {format} file header needs {needed}")]
    TruncatedFileHeader {
        /// File length.
        len: usize,
        /// Header length the format needs.
        needed: usize,
        /// "pcap" or "pcapng".
        format: &'static str,
    },
    /// The first four bytes are no pcap or pcapng magic number.
    #[error(
        "not a pcap or pcapng file: magic number {magic:#010x} (expected a1b2c3d4 or a1b23c4d \
         in either byte order for pcap, 0a0d0d0a for pcapng)"
    )]
    UnknownMagic {
        /// The first four bytes, big-endian.
        magic: u32,
    },
    /// The pcapng file's first block, its section header, is damaged.
    #[error("pcapng section header at byte offset {offset}: {reason}")]
    BadSectionHeader {
        /// Byte offset of the block.
        offset: u64,
        /// What is wrong.
        reason: CorruptReason,
    },
    /// A record (or pcapng block) header is damaged so the records after it cannot be found.
    #[error("record {record} at byte offset {offset}: {reason}")]
    CorruptRecord {
        /// Number of the record being read, counting from 1 as tcpdump and Wireshark do
        /// (one more than the records yielded before it).
        record: u64,
        /// Byte offset of the record header (pcap) or block (pcapng) in the file.
        offset: u64,
        /// What is wrong.
        reason: CorruptReason,
    },
}

/// What is wrong with a record or block header that stops the read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptReason {
    /// Fewer bytes remain than a pcap record header (16).
    TruncatedRecordHeader {
        /// Bytes left in the file.
        available: usize,
    },
    /// The captured length is over the snapshot length and over
    /// [`MAX_SANE_CAPLEN`](crate::MAX_SANE_CAPLEN): the header is garbage.
    CaplenOverLimit {
        /// Captured length in the record header.
        caplen: u32,
        /// Snapshot length in the file header.
        snaplen: u32,
        /// The bound applied: the larger of the snapshot length and `MAX_SANE_CAPLEN`.
        limit: u32,
    },
    /// The captured data runs past the end of the file.
    CaplenBeyondEof {
        /// Captured length in the record header.
        caplen: u32,
        /// Bytes left after the record header.
        available: usize,
    },
    /// Fewer bytes remain than a pcapng block header and trailer (12).
    TruncatedBlockHeader {
        /// Bytes left in the file.
        available: usize,
    },
    /// A pcapng block's total length is below 12 or not a multiple of 4.
    BadBlockLength {
        /// Block type.
        block_type: u32,
        /// Block total length.
        length: u32,
    },
    /// A pcapng block is too short for its type's fixed fields.
    BlockTooShort {
        /// Block type.
        block_type: u32,
        /// Block total length.
        length: u32,
        /// Smallest total length the type allows.
        minimum: u32,
    },
    /// A pcapng block runs past the end of the file.
    BlockBeyondEof {
        /// Block type.
        block_type: u32,
        /// Block total length.
        length: u32,
        /// Bytes left in the file from the block's start.
        available: usize,
    },
    /// A pcapng block's trailing length differs from its leading length.
    TrailerMismatch {
        /// Block type.
        block_type: u32,
        /// Leading block total length.
        leading: u32,
        /// Trailing block total length.
        trailing: u32,
    },
    /// A pcapng section header's byte-order magic is neither 1a2b3c4d nor 4d3c2b1a.
    BadByteOrderMagic {
        /// The four bytes, big-endian.
        magic: u32,
    },
    /// A pcapng packet block's captured length runs past the end of the block.
    CaplenBeyondBlock {
        /// Block type.
        block_type: u32,
        /// Captured length in the block.
        caplen: u32,
        /// Bytes of the block body left for packet data.
        available: usize,
    },
    /// The pcap-file parser rejected a block this reader had framed (should not happen).
    Parser {
        /// pcap-file's description.
        detail: &'static str,
    },
}

fn block_name(block_type: u32) -> &'static str {
    match block_type {
        0x0a0d_0d0a => "section header block",
        1 => "interface description block",
        2 => "packet block",
        3 => "simple packet block",
        4 => "name resolution block",
        5 => "interface statistics block",
        6 => "enhanced packet block",
        _ => "block",
    }
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CorruptReason::TruncatedRecordHeader { available } => write!(
                f,
                "record header truncated: {available} bytes remain, a record header needs 16"
            ),
            CorruptReason::CaplenOverLimit {
                caplen,
                snaplen,
                limit,
            } => {
                write!(
                    f,
                    "captured length {caplen} exceeds the {snaplen}-byte snapshot length"
                )?;
                if limit != snaplen {
                    write!(f, " and the {limit}-byte limit for any record")?;
                }
                Ok(())
            }
            CorruptReason::CaplenBeyondEof { caplen, available } => write!(
                f,
                "captured length {caplen} runs past the end of the file ({available} bytes \
                 remain after the record header)"
            ),
            CorruptReason::TruncatedBlockHeader { available } => write!(
                f,
                "block truncated: {available} bytes remain, a pcapng block needs at least 12"
            ),
            CorruptReason::BadBlockLength { block_type, length } => write!(
                f,
                "{} (type {block_type:#x}) has total length {length}, which is not a \
                 multiple of 4 of at least 12",
                block_name(block_type)
            ),
            CorruptReason::BlockTooShort {
                block_type,
                length,
                minimum,
            } => write!(
                f,
                "{} (type {block_type:#x}) has total length {length}, below its minimum of \
                 {minimum}",
                block_name(block_type)
            ),
            CorruptReason::BlockBeyondEof {
                block_type,
                length,
                available,
            } => write!(
                f,
                "{} (type {block_type:#x}) of {length} bytes runs past the end of the file \
                 ({available} bytes remain)",
                block_name(block_type)
            ),
            CorruptReason::TrailerMismatch {
                block_type,
                leading,
                trailing,
            } => write!(
                f,
                "{} (type {block_type:#x}) has leading length {leading} but trailing length \
                 {trailing}",
                block_name(block_type)
            ),
            CorruptReason::BadByteOrderMagic { magic } => write!(
                f,
                "section header byte-order magic {magic:#010x} is neither 0x1a2b3c4d nor \
                 0x4d3c2b1a"
            ),
            CorruptReason::CaplenBeyondBlock {
                block_type,
                caplen,
                available,
            } => write!(
                f,
                "{} captured length {caplen} runs past the end of the block ({available} bytes \
                 of packet data)",
                block_name(block_type)
            ),
            CorruptReason::Parser { detail } => {
                write!(f, "block rejected by the pcap-file parser: {detail}")
            }
        }
    }
}

/// A flaw in a record whose length is sane: the record is still yielded, carrying the flaw
/// in [`Record::issues`](crate::Record::issues), and reading goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordIssue {
    /// The sub-second field is not below a second (tcpdump prints "invalid us/ns"); the
    /// record's timestamp is `None`.
    InvalidTimestamp {
        /// Seconds field.
        secs: u32,
        /// Sub-second field.
        fraction: u32,
        /// The file's timestamp resolution.
        resolution: TimestampResolution,
    },
    /// A pcapng timestamp plus the interface's `if_tsoffset` falls outside 0..=u64::MAX
    /// seconds; the record's timestamp is `None`.
    TimestampOutOfRange {
        /// The interface's `if_tsoffset` in seconds.
        offset_secs: i64,
    },
    /// The link type has no decoder here (see [`LinkType::is_known`](crate::LinkType)).
    UnknownLinkType {
        /// The LINKTYPE_ code.
        code: u32,
    },
    /// The captured length is above the snapshot length (libpcap truncates such records to
    /// the snapshot length; this reader yields all captured bytes).
    CaplenExceedsSnaplen {
        /// Captured length.
        caplen: u32,
        /// Snapshot length of the file or interface.
        snaplen: u32,
    },
    /// The original (wire) length is below the captured length.
    OrigLenBelowCaplen {
        /// Captured length.
        caplen: u32,
        /// Original length.
        orig_len: u32,
    },
    /// A pcapng packet block names an interface the section never described: its link type
    /// and timestamp resolution are unknown, so `link_type` and `timestamp` are `None`.
    UnknownInterface {
        /// The interface id in the block.
        interface: u32,
        /// How many interfaces the section described.
        described: usize,
    },
    /// The options of this pcapng packet block do not parse; its fixed fields were used.
    /// (pcap-file 2.0 also rejects an option list that ends without the end-of-options
    /// marker, which pcapng allows a reader to meet: such records are flagged too.)
    MalformedOptions {
        /// Block type.
        block_type: u32,
    },
}

impl fmt::Display for RecordIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecordIssue::InvalidTimestamp {
                secs,
                fraction,
                resolution,
            } => write!(
                f,
                "invalid timestamp {secs}.{fraction}: the sub-second field must be below \
                 {} at {resolution} resolution",
                resolution.fraction_limit()
            ),
            RecordIssue::TimestampOutOfRange { offset_secs } => write!(
                f,
                "timestamp out of range after adding the interface's {offset_secs}-second \
                 offset"
            ),
            RecordIssue::UnknownLinkType { code } => {
                write!(f, "link type {code} has no decoder")
            }
            RecordIssue::CaplenExceedsSnaplen { caplen, snaplen } => write!(
                f,
                "captured length {caplen} exceeds the {snaplen}-byte snapshot length"
            ),
            RecordIssue::OrigLenBelowCaplen { caplen, orig_len } => write!(
                f,
                "original length {orig_len} is below the captured length {caplen}"
            ),
            RecordIssue::UnknownInterface {
                interface,
                described,
            } => write!(
                f,
                "packet names interface {interface} but the section describes {described}"
            ),
            RecordIssue::MalformedOptions { block_type } => write!(
                f,
                "options of the {} do not parse; its fixed fields were used",
                block_name(block_type)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display_names_record_offset_and_lengths() {
        let e = PcapError::CorruptRecord {
            record: 17,
            offset: 4120,
            reason: CorruptReason::CaplenOverLimit {
                caplen: 70000,
                snaplen: 65535,
                limit: 65535,
            },
        };
        assert_eq!(
            e.to_string(),
            "record 17 at byte offset 4120: captured length 70000 exceeds the 65535-byte \
             snapshot length"
        );
        let e = PcapError::CorruptRecord {
            record: 3,
            offset: 176,
            reason: CorruptReason::CaplenOverLimit {
                caplen: 300_000,
                snaplen: 65535,
                limit: 262_144,
            },
        };
        assert_eq!(
            e.to_string(),
            "record 3 at byte offset 176: captured length 300000 exceeds the 65535-byte \
             snapshot length and the 262144-byte limit for any record"
        );
        assert_eq!(
            PcapError::UnknownMagic { magic: 0x1234_5678 }.to_string(),
            "not a pcap or pcapng file: magic number 0x12345678 (expected a1b2c3d4 or a1b23c4d \
             in either byte order for pcap, 0a0d0d0a for pcapng)"
        );
        assert_eq!(
            CorruptReason::TrailerMismatch {
                block_type: 6,
                leading: 32,
                trailing: 36
            }
            .to_string(),
            "enhanced packet block (type 0x6) has leading length 32 but trailing length 36"
        );
        assert_eq!(
            RecordIssue::InvalidTimestamp {
                secs: 1,
                fraction: 1_000_000,
                resolution: TimestampResolution::Microsecond
            }
            .to_string(),
            "invalid timestamp 1.1000000: the sub-second field must be below 1000000 at \
             microsecond resolution"
        );
    }

    #[test]
    fn error_every_reason_displays_its_numbers() {
        let reasons = [
            (
                CorruptReason::TruncatedRecordHeader { available: 7 },
                "7 bytes",
            ),
            (
                CorruptReason::CaplenBeyondEof {
                    caplen: 99,
                    available: 5,
                },
                "99",
            ),
            (
                CorruptReason::TruncatedBlockHeader { available: 9 },
                "9 bytes",
            ),
            (
                CorruptReason::BadBlockLength {
                    block_type: 1,
                    length: 13,
                },
                "13",
            ),
            (
                CorruptReason::BlockTooShort {
                    block_type: 6,
                    length: 16,
                    minimum: 32,
                },
                "minimum of 32",
            ),
            (
                CorruptReason::BlockBeyondEof {
                    block_type: 3,
                    length: 400,
                    available: 20,
                },
                "400 bytes",
            ),
            (
                CorruptReason::BadByteOrderMagic { magic: 0xdead_beef },
                "0xdeadbeef",
            ),
            (
                CorruptReason::CaplenBeyondBlock {
                    block_type: 6,
                    caplen: 77,
                    available: 8,
                },
                "77",
            ),
            (CorruptReason::Parser { detail: "x" }, "x"),
        ];
        for (reason, needle) in reasons {
            assert!(reason.to_string().contains(needle), "{reason}");
        }
        let issues = [
            (RecordIssue::TimestampOutOfRange { offset_secs: -5 }, "-5"),
            (RecordIssue::UnknownLinkType { code: 105 }, "105"),
            (
                RecordIssue::CaplenExceedsSnaplen {
                    caplen: 90,
                    snaplen: 53,
                },
                "53-byte",
            ),
            (
                RecordIssue::OrigLenBelowCaplen {
                    caplen: 60,
                    orig_len: 40,
                },
                "40",
            ),
            (
                RecordIssue::UnknownInterface {
                    interface: 3,
                    described: 1,
                },
                "interface 3",
            ),
            (
                RecordIssue::MalformedOptions { block_type: 6 },
                "enhanced packet block",
            ),
        ];
        for (issue, needle) in issues {
            assert!(issue.to_string().contains(needle), "{issue}");
        }
    }
}
