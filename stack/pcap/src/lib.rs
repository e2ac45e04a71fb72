//! weft-pcap: reading pcap and pcapng captures, and writing pcap, with defined behaviour for
//! every way a capture can be damaged.
//!
//! Reading ([`Reader`], or [`Capture::read`] to collect everything):
//!
//! * pcap with microsecond (`a1b2c3d4`) or nanosecond (`a1b23c4d`) timestamps, in either byte
//!   order, through `pcap-file`'s `PcapParser::next_raw_packet` so that a bad timestamp does
//!   not stop the read;
//! * pcapng through `pcap-file`'s `PcapNgParser`, with each interface description block
//!   giving the link type, snapshot length, timestamp resolution (`if_tsresol`) and offset
//!   (`if_tsoffset`) of the packet blocks that name it.
//!
//! Two kinds of damage are told apart:
//!
//! * A *flawed record* whose length is sane (an invalid timestamp, an unknown link type, a
//!   captured length above the snapshot length, options that do not parse) is still yielded,
//!   with its flaws listed in [`Record::issues`] and counted in [`Stats`]; reading goes on.
//! * A *corrupt record header* (a captured length past the end of the file or beyond any
//!   sane bound, a header cut off at the end of the file, a bad pcapng block length) means the
//!   next record cannot be found: the reader yields [`PcapError::CorruptRecord`] naming the
//!   record number and byte offset, after every earlier record, and then stops.
//!
//! A damaged file header is an error from [`Reader::new`], before any record.
//!
//! [`network_payload`] strips the link-layer header of the supported link types (BSD
//! loopback, raw IP, IPv4, IPv6, Linux cooked capture) and leaves Ethernet frames whole for
//! weft-wire. [`Writer`] writes pcap files (little-endian, microsecond or nanosecond).
//!
//! Nothing here panics on input: clippy's `indexing_slicing`, `unwrap_used` and `panic` lints
//! are on, and the `fuzzing` feature exposes [`fuzzing::pcap_file`] for the fuzzer.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
mod build;
mod error;
mod link;
mod pcapng;
mod reader;
mod timestamp;
mod writer;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use error::{CorruptReason, PcapError, RecordIssue};
pub use link::{LinkError, LinkType, NetworkProto, network_payload};
pub use reader::{Capture, Format, MAX_SANE_CAPLEN, PcapHeader, Reader, Record, Stats};
pub use timestamp::{Timestamp, TimestampResolution};
pub use writer::{WriteError, Writer};

/// Byte order of a capture's header fields (packet bytes are always in network order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endianness {
    /// Most significant byte first.
    Big,
    /// Least significant byte first.
    Little,
}

impl Endianness {
    fn from_lib(e: pcap_file::Endianness) -> Self {
        match e {
            pcap_file::Endianness::Big => Endianness::Big,
            pcap_file::Endianness::Little => Endianness::Little,
        }
    }
}

/// Reads a u16 in `order` at `at`; `None` if the slice is too short.
#[inline]
pub(crate) fn rd16(order: Endianness, b: &[u8], at: usize) -> Option<u16> {
    let a: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(match order {
        Endianness::Big => u16::from_be_bytes(a),
        Endianness::Little => u16::from_le_bytes(a),
    })
}

/// Reads a u32 in `order` at `at`; `None` if the slice is too short.
#[inline]
pub(crate) fn rd32(order: Endianness, b: &[u8], at: usize) -> Option<u32> {
    let a: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(match order {
        Endianness::Big => u32::from_be_bytes(a),
        Endianness::Little => u32::from_le_bytes(a),
    })
}

/// Reads a u64 in `order` at `at`; `None` if the slice is too short.
#[inline]
pub(crate) fn rd64(order: Endianness, b: &[u8], at: usize) -> Option<u64> {
    let a: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(match order {
        Endianness::Big => u64::from_be_bytes(a),
        Endianness::Little => u64::from_le_bytes(a),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_readers_respect_order_and_bounds() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(rd16(Endianness::Big, &b, 0), Some(0x0102));
        assert_eq!(rd16(Endianness::Little, &b, 0), Some(0x0201));
        assert_eq!(rd32(Endianness::Big, &b, 4), Some(0x0506_0708));
        assert_eq!(rd32(Endianness::Little, &b, 4), Some(0x0807_0605));
        assert_eq!(rd64(Endianness::Big, &b, 0), Some(0x0102_0304_0506_0708));
        assert_eq!(rd32(Endianness::Big, &b, 5), None);
        assert_eq!(rd16(Endianness::Big, &b, usize::MAX), None);
        assert_eq!(rd64(Endianness::Little, &b, 1), None);
    }
}
