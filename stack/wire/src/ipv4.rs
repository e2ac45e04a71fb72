//! IPv4 datagrams (RFC 791): the header with its options, fragment fields and checksum, as a
//! checked view ([`Ipv4Packet`]) and a meaning ([`Ipv4Repr`]); plus a lenient view for the
//! IPv4 header quoted inside an ICMP error message (RFC 792).
//!
//! [`Ipv4Packet::new_checked`] makes these checks, in this order (RFC 791 §3.1, RFC 1122
//! §3.2.1):
//!
//! 1. the 20-byte fixed header is present;
//! 2. the version is 4 (RFC 1122 §3.2.1.1);
//! 3. IHL ≥ 5 and the IHL·4 header bytes are present;
//! 4. every option is well formed: a length byte ≥ 2 that stays inside the header, and the
//!    length and pointer rules RFC 791 fixes for the options it defines (RFC 1122 §3.2.1.8);
//!    an End of Option List ends the list and the bytes after it are padding;
//! 5. the total length is non-zero, ≥ IHL·4 and ≤ the buffer.
//!
//! The header is checked before the total length, so a capture cut short by its snap length
//! still reports what is wrong inside the header it holds. The view's payload ends at the total
//! length: link-layer padding (Ethernet's 46-byte minimum payload) is not part of it. The
//! header checksum is a verdict ([`Ipv4Packet::verify_checksum`]) or, through
//! [`Ipv4Repr::parse`] with [`ChecksumMode::Verify`], an error.
//!
//! Reassembly (RFC 815) belongs to the stack, not here: the view exposes the fragment fields
//! (DF, MF, offset in bytes and in 8-byte units, and the reserved flag) it needs.

use crate::checksum::{self, Checksum, ChecksumMode};
use crate::{EmitError, Ipv4Addr, be16, need, put16, put32};
use arrayvec::ArrayVec;

/// Length of the fixed IPv4 header (IHL = 5).
pub const HEADER_LEN: usize = 20;
/// Length of the longest IPv4 header (IHL = 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Most bytes of options (and padding) a header can carry (RFC 791 §3.1: IHL is 4 bits).
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

/// The largest total length (a 16-bit field).
const MAX_TOTAL_LEN: usize = 0xffff;

/// An IP protocol number (IANA "Assigned Internet Protocol Numbers"), the IPv4 header's
/// Protocol field (RFC 791 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// Internet Control Message Protocol (RFC 792).
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// Internet Group Management Protocol (RFC 2236).
    pub const IGMP: IpProtocol = IpProtocol(2);
    /// Transmission Control Protocol (RFC 9293).
    pub const TCP: IpProtocol = IpProtocol(6);
    /// User Datagram Protocol (RFC 768).
    pub const UDP: IpProtocol = IpProtocol(17);
}

impl core::fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::ICMP => f.write_str("ICMP"),
            Self::IGMP => f.write_str("IGMP"),
            Self::TCP => f.write_str("TCP"),
            Self::UDP => f.write_str("UDP"),
            other => write!(f, "protocol {}", other.0),
        }
    }
}

/// The length an option of a given kind must have: the `expected` of
/// [`Ipv4Error::BadOptionLength`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionLengthRule {
    /// Exactly this many bytes.
    Exactly(u8),
    /// At least this many bytes.
    AtLeast(u8),
    /// `base + step·n` bytes for some n ≥ 0.
    Stepped {
        /// The length with no entries.
        base: u8,
        /// The length of one entry.
        step: u8,
    },
}

impl core::fmt::Display for OptionLengthRule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Exactly(n) => write!(f, "exactly {n}"),
            Self::AtLeast(n) => write!(f, "at least {n}"),
            Self::Stepped { base, step } => write!(f, "{base} + {step}n"),
        }
    }
}

/// Why bytes are not a valid IPv4 datagram (or IPv4 header).
///
/// Option errors carry `offset`, the option's byte offset from the start of the IPv4 header:
/// the value an ICMP Parameter Problem's pointer takes (RFC 792, RFC 1122 §3.2.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ipv4Error {
    /// Fewer than the 20 bytes of the fixed header.
    #[error("IPv4 packet truncated: {len} bytes, the fixed header needs 20")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// The version field is not 4 (RFC 1122 §3.2.1.1: silently discard).
    #[error("IP version {version}, expected 4")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// IHL below 5 words: the header cannot even hold its fixed fields (RFC 791 §3.1).
    #[error("IPv4 header length {ihl} words is below the minimum of 5 (20 bytes)")]
    HeaderLenTooSmall {
        /// The IHL field (32-bit words).
        ihl: u8,
    },
    /// The header (IHL·4 bytes) is longer than the buffer.
    #[error("IPv4 header length {header_len} bytes exceeds the {len} bytes present")]
    HeaderTruncated {
        /// IHL·4.
        header_len: usize,
        /// Bytes present.
        len: usize,
    },
    /// A total length of 0: a capture artefact of segmentation offload (TSO, GSO, BIG TCP),
    /// where the device fills in the real lengths of the segments it cuts.
    #[error(
        "IPv4 total length is 0 (a segmentation-offload capture artefact: TSO/GSO/BIG TCP); \
         take the length from the frame instead"
    )]
    ZeroTotalLen,
    /// A total length shorter than the header (RFC 791 §3.1: it counts header and data).
    #[error("IPv4 total length {total_len} is smaller than the {header_len}-byte header")]
    TotalLenBelowHeader {
        /// The total length field.
        total_len: u16,
        /// IHL·4.
        header_len: usize,
    },
    /// A total length longer than the buffer: the datagram is truncated.
    #[error("IPv4 total length {total_len} exceeds the {len} bytes present (truncated datagram)")]
    TotalLenExceedsBuffer {
        /// The total length field.
        total_len: u16,
        /// Bytes present.
        len: usize,
    },
    /// A multi-byte option whose length byte lies beyond the header's end.
    #[error("IPv4 option {kind} at header offset {offset}: the header ends before its length byte")]
    OptionTruncated {
        /// Offset of the option from the start of the header.
        offset: usize,
        /// Option type octet.
        kind: u8,
    },
    /// An option length below 2 (RFC 791 §3.1: it counts the type and length octets).
    #[error("IPv4 option {kind} at header offset {offset}: length {length} is below 2")]
    OptionLengthTooSmall {
        /// Offset of the option from the start of the header.
        offset: usize,
        /// Option type octet.
        kind: u8,
        /// The length octet.
        length: u8,
    },
    /// An option whose length runs past the end of the header.
    #[error(
        "IPv4 option {kind} at header offset {offset}: length {length} runs past the header end \
         ({available} bytes left)"
    )]
    OptionOverrunsHeader {
        /// Offset of the option from the start of the header.
        offset: usize,
        /// Option type octet.
        kind: u8,
        /// The length octet.
        length: u8,
        /// Header bytes from the option's start to the header's end.
        available: usize,
    },
    /// A length the option's specification does not allow (for example a Router Alert that
    /// is not 4 bytes long, RFC 2113 §2.1).
    #[error("IPv4 option {kind} at header offset {offset}: length {length}, must be {expected}")]
    BadOptionLength {
        /// Offset of the option from the start of the header.
        offset: usize,
        /// Option type octet.
        kind: u8,
        /// The length octet.
        length: u8,
        /// What the length must be.
        expected: OptionLengthRule,
    },
    /// A route or timestamp pointer below its smallest legal value (RFC 791 §3.1: 4 for the
    /// route options, 5 for Internet Timestamp).
    #[error("IPv4 option {kind} at header offset {offset}: pointer {pointer} is below {min}")]
    BadOptionPointer {
        /// Offset of the option from the start of the header.
        offset: usize,
        /// Option type octet.
        kind: u8,
        /// The pointer octet.
        pointer: u8,
        /// Its smallest legal value.
        min: u8,
    },
    /// The header checksum does not verify (RFC 791 §3.1; RFC 1122 §3.2.1.2: discard).
    #[error("IPv4 header checksum {found:#06x} is wrong, expected {expected:#06x}")]
    BadChecksum {
        /// The checksum field.
        found: u16,
        /// The checksum the header should carry.
        expected: u16,
    },
}

/// One IPv4 option (RFC 791 §3.1 "Options"), borrowing its data from the header.
///
/// Address and timestamp data are kept as bytes, exactly as they appear on the wire; see
/// [`Ipv4Option::route_addresses`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Option<'a> {
    /// End of Option List (type 0): the options end here; any bytes after it are padding.
    EndOfList,
    /// No Operation (type 1), used to align the next option.
    Nop,
    /// Record Route (type 7).
    RecordRoute {
        /// Offset, from the option's start, of the next free address slot (≥ 4).
        pointer: u8,
        /// The route data: a whole number of 4-byte addresses.
        addresses: &'a [u8],
    },
    /// Loose Source and Record Route (type 131).
    LooseSourceRoute {
        /// Offset, from the option's start, of the next address to process (≥ 4).
        pointer: u8,
        /// The route data: a whole number of 4-byte addresses.
        addresses: &'a [u8],
    },
    /// Strict Source and Record Route (type 137).
    StrictSourceRoute {
        /// Offset, from the option's start, of the next address to process (≥ 4).
        pointer: u8,
        /// The route data: a whole number of 4-byte addresses.
        addresses: &'a [u8],
    },
    /// Internet Timestamp (type 68).
    Timestamp {
        /// Offset, from the option's start, of the next free timestamp slot (≥ 5).
        pointer: u8,
        /// Count of modules that could not register a timestamp (4 bits).
        overflow: u8,
        /// 0: timestamps only; 1: each preceded by an address; 3: prespecified addresses
        /// (4 bits; other values are kept as they are).
        flags: u8,
        /// The timestamp data: 4-byte entries for flag 0, 8-byte entries for flags 1 and 3.
        data: &'a [u8],
    },
    /// Router Alert (type 148, RFC 2113): the value (0 = "examine packet").
    RouterAlert(u16),
    /// Security (type 130; RFC 791 §3.1, redefined as the Basic Security Option by RFC 1108):
    /// the bytes after the type and length (at least one, the classification level).
    Security(&'a [u8]),
    /// Stream Identifier (type 136, obsolete): the stream id.
    StreamId(u16),
    /// Any other option, kept with its data (RFC 1122 §3.2.1.8: unknown options are ignored,
    /// not rejected).
    Unknown {
        /// Option type octet.
        kind: u8,
        /// The bytes after the type and length.
        data: &'a [u8],
    },
}

impl<'a> Ipv4Option<'a> {
    /// End of Option List.
    pub const KIND_END_OF_LIST: u8 = 0;
    /// No Operation.
    pub const KIND_NOP: u8 = 1;
    /// Record Route.
    pub const KIND_RECORD_ROUTE: u8 = 7;
    /// Internet Timestamp.
    pub const KIND_TIMESTAMP: u8 = 68;
    /// Security.
    pub const KIND_SECURITY: u8 = 130;
    /// Loose Source and Record Route.
    pub const KIND_LOOSE_SOURCE_ROUTE: u8 = 131;
    /// Stream Identifier.
    pub const KIND_STREAM_ID: u8 = 136;
    /// Strict Source and Record Route.
    pub const KIND_STRICT_SOURCE_ROUTE: u8 = 137;
    /// Router Alert.
    pub const KIND_ROUTER_ALERT: u8 = 148;

    /// The option type octet.
    pub fn kind(&self) -> u8 {
        match *self {
            Self::EndOfList => Self::KIND_END_OF_LIST,
            Self::Nop => Self::KIND_NOP,
            Self::RecordRoute { .. } => Self::KIND_RECORD_ROUTE,
            Self::LooseSourceRoute { .. } => Self::KIND_LOOSE_SOURCE_ROUTE,
            Self::StrictSourceRoute { .. } => Self::KIND_STRICT_SOURCE_ROUTE,
            Self::Timestamp { .. } => Self::KIND_TIMESTAMP,
            Self::RouterAlert(_) => Self::KIND_ROUTER_ALERT,
            Self::Security(_) => Self::KIND_SECURITY,
            Self::StreamId(_) => Self::KIND_STREAM_ID,
            Self::Unknown { kind, .. } => kind,
        }
    }

    /// RFC 791 §3.1: the copied flag (the type's top bit) says the option is copied into every
    /// fragment.
    pub fn is_copied(&self) -> bool {
        self.kind() & 0x80 != 0
    }

    /// Bytes the option occupies on the wire.
    pub fn encoded_len(&self) -> usize {
        let (head, tail) = self.parts();
        head.len() + tail.len()
    }

    /// The addresses of a route option (Record Route, Loose or Strict Source Route); empty for
    /// every other option.
    pub fn route_addresses(&self) -> impl Iterator<Item = Ipv4Addr> + 'a {
        let bytes: &'a [u8] = match *self {
            Self::RecordRoute { addresses, .. }
            | Self::LooseSourceRoute { addresses, .. }
            | Self::StrictSourceRoute { addresses, .. } => addresses,
            _ => &[],
        };
        bytes
            .chunks_exact(4)
            .filter_map(|c| <[u8; 4]>::try_from(c).ok())
            .map(Ipv4Addr::from)
    }

    /// The option's wire form as a fixed head (type, length and the option's own small
    /// fields) and a borrowed tail.
    fn parts(&self) -> (ArrayVec<u8, 4>, &'a [u8]) {
        let mut head = ArrayVec::new();
        let kind = self.kind();
        let tail: &'a [u8] = match *self {
            Self::EndOfList | Self::Nop => {
                head.push(kind);
                return (head, &[]);
            }
            Self::RecordRoute { pointer, addresses }
            | Self::LooseSourceRoute { pointer, addresses }
            | Self::StrictSourceRoute { pointer, addresses } => {
                head.extend([kind, 0, pointer]);
                addresses
            }
            Self::Timestamp {
                pointer,
                overflow,
                flags,
                data,
            } => {
                head.extend([kind, 0, pointer, (overflow << 4) | (flags & 0x0f)]);
                data
            }
            Self::RouterAlert(v) | Self::StreamId(v) => {
                let [hi, lo] = v.to_be_bytes();
                head.extend([kind, 4, hi, lo]);
                &[]
            }
            Self::Security(data) | Self::Unknown { data, .. } => {
                head.extend([kind, 0]);
                data
            }
        };
        // The length octet counts the whole option; emit bounds it by MAX_OPTIONS_LEN first.
        let len = head.len() + tail.len();
        if let Some(l) = head.get_mut(1) {
            *l = len as u8;
        }
        (head, tail)
    }
}

/// Parses the option at the start of `rest` (non-empty), which sits `offset` bytes into the
/// header. Returns the option and the bytes it occupies.
#[inline(always)]
fn parse_option(rest: &[u8], offset: usize) -> Result<(Ipv4Option<'_>, usize), Ipv4Error> {
    let kind = rest
        .first()
        .copied()
        .unwrap_or(Ipv4Option::KIND_END_OF_LIST);
    // RFC 791 §3.1: "Case 1: A single octet of option-type" for EOL and NOP.
    match kind {
        Ipv4Option::KIND_END_OF_LIST => return Ok((Ipv4Option::EndOfList, 1)),
        Ipv4Option::KIND_NOP => return Ok((Ipv4Option::Nop, 1)),
        _ => {}
    }
    // RFC 791 §3.1: "Case 2: An option-type octet, an option-length octet, and the actual
    // option-data octets. The option-length octet counts the option-type octet and the
    // option-length octet as well as the option-data octets."
    let length = *rest
        .get(1)
        .ok_or(Ipv4Error::OptionTruncated { offset, kind })?;
    if length < 2 {
        return Err(Ipv4Error::OptionLengthTooSmall {
            offset,
            kind,
            length,
        });
    }
    let n = usize::from(length);
    let body = rest.get(2..n).ok_or(Ipv4Error::OptionOverrunsHeader {
        offset,
        kind,
        length,
        available: rest.len(),
    })?;
    let bad_length = |expected| Ipv4Error::BadOptionLength {
        offset,
        kind,
        length,
        expected,
    };
    let opt = match kind {
        Ipv4Option::KIND_RECORD_ROUTE
        | Ipv4Option::KIND_LOOSE_SOURCE_ROUTE
        | Ipv4Option::KIND_STRICT_SOURCE_ROUTE => {
            // RFC 791 §3.1 (Loose/Strict Source and Record Route, Record Route): type, length,
            // pointer, then route data made of 4-byte internet addresses; "the smallest legal
            // value for the pointer is 4".
            let rule = OptionLengthRule::Stepped { base: 3, step: 4 };
            let (&pointer, addresses) = body.split_first().ok_or(bad_length(rule))?;
            if !addresses.len().is_multiple_of(4) {
                return Err(bad_length(rule));
            }
            if pointer < 4 {
                return Err(Ipv4Error::BadOptionPointer {
                    offset,
                    kind,
                    pointer,
                    min: 4,
                });
            }
            match kind {
                Ipv4Option::KIND_RECORD_ROUTE => Ipv4Option::RecordRoute { pointer, addresses },
                Ipv4Option::KIND_LOOSE_SOURCE_ROUTE => {
                    Ipv4Option::LooseSourceRoute { pointer, addresses }
                }
                _ => Ipv4Option::StrictSourceRoute { pointer, addresses },
            }
        }
        Ipv4Option::KIND_TIMESTAMP => {
            // RFC 791 §3.1 (Internet Timestamp): type, length, pointer, overflow/flag octet,
            // then 4-byte timestamps (flag 0) or 8-byte address + timestamp pairs (flags 1
            // and 3); "the smallest legal value [of the pointer] is 5".
            let [pointer, oflw_flg] = *body
                .first_chunk::<2>()
                .ok_or(bad_length(OptionLengthRule::AtLeast(4)))?;
            let data = body.get(2..).unwrap_or(&[]);
            let flags = oflw_flg & 0x0f;
            let step = match flags {
                0 => 4,
                1 | 3 => 8,
                _ => 1, // undefined flags: no entry size to check
            };
            if !data.len().is_multiple_of(usize::from(step)) {
                return Err(bad_length(OptionLengthRule::Stepped { base: 4, step }));
            }
            if pointer < 5 {
                return Err(Ipv4Error::BadOptionPointer {
                    offset,
                    kind,
                    pointer,
                    min: 5,
                });
            }
            Ipv4Option::Timestamp {
                pointer,
                overflow: oflw_flg >> 4,
                flags,
                data,
            }
        }
        Ipv4Option::KIND_ROUTER_ALERT => {
            // RFC 2113 §2.1: Router Alert has length 4 and a 2-octet value.
            let v = be16(body, 0).filter(|_| body.len() == 2);
            Ipv4Option::RouterAlert(v.ok_or(bad_length(OptionLengthRule::Exactly(4)))?)
        }
        Ipv4Option::KIND_STREAM_ID => {
            // RFC 791 §3.1 (Stream Identifier): length 4, a 16-bit stream id.
            let v = be16(body, 0).filter(|_| body.len() == 2);
            Ipv4Option::StreamId(v.ok_or(bad_length(OptionLengthRule::Exactly(4)))?)
        }
        Ipv4Option::KIND_SECURITY => {
            // RFC 1108 §2: the Basic Security Option has length ≥ 3 (type, length,
            // classification level, then protection authority flags); RFC 791's original
            // fixed-length (11) form satisfies this too.
            if body.is_empty() {
                return Err(bad_length(OptionLengthRule::AtLeast(3)));
            }
            Ipv4Option::Security(body)
        }
        _ => Ipv4Option::Unknown { kind, data: body },
    };
    Ok((opt, n))
}

/// Validates an option area in one pass.
fn check_options(mut rest: &[u8]) -> Result<(), Ipv4Error> {
    let mut offset = HEADER_LEN;
    while !rest.is_empty() {
        let (opt, n) = parse_option(rest, offset)?;
        if matches!(opt, Ipv4Option::EndOfList) {
            // RFC 791 §3.1: EOL marks the end of the option list; what follows is padding.
            break;
        }
        rest = rest.get(n..).unwrap_or(&[]);
        offset += n;
    }
    Ok(())
}

/// Checks the header's structure (steps 1-4 of the module doc) and returns IHL·4.
#[inline]
fn check_header(b: &[u8]) -> Result<usize, Ipv4Error> {
    let Some(&first) = b.first().filter(|_| b.len() >= HEADER_LEN) else {
        return Err(Ipv4Error::Truncated { len: b.len() });
    };
    // RFC 1122 §3.2.1.1: a datagram whose version number is not 4 MUST be silently discarded.
    let version = first >> 4;
    if version != 4 {
        return Err(Ipv4Error::BadVersion { version });
    }
    // RFC 791 §3.1: "the minimum value for a correct header is 5".
    let ihl = first & 0x0f;
    if ihl < 5 {
        return Err(Ipv4Error::HeaderLenTooSmall { ihl });
    }
    let header_len = usize::from(ihl) * 4;
    if header_len > b.len() {
        return Err(Ipv4Error::HeaderTruncated {
            header_len,
            len: b.len(),
        });
    }
    if header_len > HEADER_LEN {
        check_options(b.get(HEADER_LEN..header_len).unwrap_or(&[]))?;
    }
    Ok(header_len)
}

/// The total length field of a buffer already known to hold 20 bytes.
#[inline]
fn total_len_field(b: &[u8]) -> u16 {
    be16(b, 2).unwrap_or(0)
}

/// Checks the total length against the header (RFC 791 §3.1: it counts header and data).
#[inline]
fn check_total_len(total_len: u16, header_len: usize) -> Result<(), Ipv4Error> {
    if total_len == 0 {
        return Err(Ipv4Error::ZeroTotalLen);
    }
    if usize::from(total_len) < header_len {
        return Err(Ipv4Error::TotalLenBelowHeader {
            total_len,
            header_len,
        });
    }
    Ok(())
}

/// [`Ipv4Packet::new_checked`] for headers with options and for errors: the checks in the
/// module doc's order, so the first rule broken is the one reported.
#[inline(never)]
fn check_ordered(b: &[u8]) -> Result<(), Ipv4Error> {
    let header_len = check_header(b)?;
    let total_len = total_len_field(b);
    check_total_len(total_len, header_len)?;
    if usize::from(total_len) > b.len() {
        return Err(Ipv4Error::TotalLenExceedsBuffer {
            total_len,
            len: b.len(),
        });
    }
    Ok(())
}

/// The checksum a header should carry: its sum with the checksum field left out.
fn expected_checksum(header: &[u8]) -> u16 {
    Checksum::new()
        .add_bytes(header.get(..10).unwrap_or(&[]))
        .add_bytes(header.get(12..).unwrap_or(&[]))
        .finish()
}

/// A checked view of an IPv4 datagram (or, through [`Ipv4Packet::new_quoted`], of the header
/// and leading bytes of one quoted in an ICMP error).
///
/// Invariant: the buffer holds a structurally valid header (see the module doc) whose total
/// length is at least its header length; for a view made by `new_checked` it also holds the
/// whole datagram.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Read in place of a header when a buffer is shorter than 20 bytes, which a checked view
/// never is.
const NO_HEADER: [u8; HEADER_LEN] = [0; HEADER_LEN];

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Validates a whole datagram: header, options and total length (see the module doc).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Ipv4Error> {
        let b = buffer.as_ref();
        // Fast path for the common header, version 4 with IHL 5 and so no options: the rules
        // left are 20 ≤ total length ≤ len. Everything else takes the ordered path.
        if let Some(h) = b.first_chunk::<HEADER_LEN>() {
            let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
            if h[0] == 0x45 && total_len >= HEADER_LEN && total_len <= b.len() {
                return Ok(Ipv4Packet { buffer });
            }
        }
        match check_ordered(b) {
            // Re-stating the length lets the compiler drop the accessors' bounds checks on
            // this path too.
            Ok(()) if b.len() >= HEADER_LEN => Ok(Ipv4Packet { buffer }),
            Ok(()) => Err(Ipv4Error::Truncated { len: b.len() }),
            Err(e) => Err(e),
        }
    }

    /// Validates the IPv4 header quoted in an ICMP error message: the same checks as
    /// [`new_checked`](Self::new_checked) except that the total length may exceed the buffer.
    ///
    /// RFC 792 quotes "the internet header plus the first 64 bits of the original datagram's
    /// data" (RFC 1122 §3.2.2: at least that much, RFC 1812 §4.3.2.3: up to 576 bytes), so the
    /// quoted total length is usually larger than what is present; [`payload`](Self::payload)
    /// then returns the part that is, and [`is_truncated`](Self::is_truncated) says so. The
    /// quoted checksum is not checked (a NAT on the path may have rewritten the header).
    pub fn new_quoted(buffer: T) -> Result<Self, Ipv4Error> {
        let b = buffer.as_ref();
        let header_len = check_header(b)?;
        check_total_len(total_len_field(b), header_len)?;
        Ok(Ipv4Packet { buffer })
    }

    /// The fixed header, in place.
    #[inline]
    fn fixed(&self) -> &[u8; HEADER_LEN] {
        self.buffer.as_ref().first_chunk().unwrap_or(&NO_HEADER)
    }

    /// Version (always 4 in a checked view).
    #[inline]
    pub fn version(&self) -> u8 {
        self.fixed()[0] >> 4
    }
    /// Header length in bytes (IHL·4: 20 to 60).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.fixed()[0] & 0x0f) * 4
    }
    /// Differentiated Services codepoint (RFC 2474 §3: the top 6 bits of the former TOS).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.fixed()[1] >> 2
    }
    /// ECN field (RFC 3168 §5: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.fixed()[1] & 0x03
    }
    /// Total length of the datagram, header and data, in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        let h = self.fixed();
        u16::from_be_bytes([h[2], h[3]])
    }
    /// Identification, shared by a datagram's fragments (RFC 791 §3.2).
    #[inline]
    pub fn ident(&self) -> u16 {
        let h = self.fixed();
        u16::from_be_bytes([h[4], h[5]])
    }
    #[inline]
    fn flags_frag(&self) -> u16 {
        let h = self.fixed();
        u16::from_be_bytes([h[6], h[7]])
    }
    /// The reserved flag bit (bit 0). RFC 791 §3.1 says it "must be zero"; a receiver does
    /// not reject a datagram for it (RFC 1122 §3.2.1: be liberal in what you accept), and the
    /// [`Ipv4Repr`] keeps it so that such datagrams round-trip.
    #[inline]
    pub fn reserved_flag(&self) -> bool {
        self.flags_frag() & 0x8000 != 0
    }
    /// Don't Fragment (RFC 791 §3.1).
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & 0x4000 != 0
    }
    /// More Fragments (RFC 791 §3.1).
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & 0x2000 != 0
    }
    /// Fragment offset in 8-byte units, as carried in the 13-bit field.
    #[inline]
    pub fn frag_offset_units(&self) -> u16 {
        self.flags_frag() & 0x1fff
    }
    /// Fragment offset in bytes (units·8, at most 65528).
    #[inline]
    pub fn frag_offset_bytes(&self) -> u16 {
        self.frag_offset_units() << 3
    }
    /// True for a fragment: More Fragments set or a non-zero offset (RFC 815 §2).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & 0x3fff != 0
    }
    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.fixed()[8]
    }
    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.fixed()[9])
    }
    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        let h = self.fixed();
        u16::from_be_bytes([h[10], h[11]])
    }
    /// Source address.
    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        let h = self.fixed();
        Ipv4Addr::new(h[12], h[13], h[14], h[15])
    }
    /// Destination address.
    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        let h = self.fixed();
        Ipv4Addr::new(h[16], h[17], h[18], h[19])
    }
    /// The header bytes, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..self.header_len()).unwrap_or(b)
    }
    /// The option area (including any padding), empty when IHL is 5.
    #[inline]
    pub fn options_bytes(&self) -> &[u8] {
        self.header().get(HEADER_LEN..).unwrap_or(&[])
    }
    /// The options in order, up to and including an End of Option List. Cannot fail: the
    /// options were validated when the view was made.
    #[inline]
    pub fn options(&self) -> Ipv4Options<'_> {
        Ipv4Options {
            rest: self.options_bytes(),
            offset: HEADER_LEN,
            padding: &[],
        }
    }
    /// The bytes after an End of Option List (padding; RFC 791 says zero, but they are
    /// returned as found). Empty when the options fill the header without an EOL.
    pub fn options_padding(&self) -> &[u8] {
        let mut it = self.options();
        for _ in it.by_ref() {}
        it.padding
    }
    /// The payload: from the end of the header to the total length (excluding link-layer
    /// padding), or to the end of the buffer for a truncated quoted header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.total_len()).min(b.len());
        b.get(self.header_len()..end).unwrap_or(&[])
    }
    /// True when the total length exceeds the buffer (possible only for a view made by
    /// [`new_quoted`](Self::new_quoted)).
    #[inline]
    pub fn is_truncated(&self) -> bool {
        usize::from(self.total_len()) > self.buffer.as_ref().len()
    }
    /// True if the header checksum verifies (RFC 791 §3.1; RFC 1071).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        // The header without options (nearly every one): five words summed straight, in the
        // machine's byte order and compared unswapped (`checksum::native_sum_is_all_ones`).
        if self.header_len() == HEADER_LEN {
            let (words, _) = self.fixed().as_chunks::<4>();
            let sum = words
                .iter()
                .map(|w| u64::from(u32::from_ne_bytes(*w)))
                .sum();
            return checksum::native_sum_is_all_ones(sum);
        }
        checksum::verifies(self.header())
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the time to live (the checksum is not updated: call
    /// [`fill_checksum`](Self::fill_checksum)).
    pub fn set_ttl(&mut self, ttl: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(8) {
            *b = ttl;
        }
    }
    /// Sets the ECN field (RFC 3168 §5; the low two bits of `ecn`).
    pub fn set_ecn(&mut self, ecn: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(1) {
            *b = (*b & 0xfc) | (ecn & 0x03);
        }
    }
    /// Sets the identification.
    pub fn set_ident(&mut self, ident: u16) {
        put16(self.buffer.as_mut(), 4, ident);
    }
    /// Sets the source address.
    pub fn set_src(&mut self, addr: Ipv4Addr) {
        put32(self.buffer.as_mut(), 12, u32::from(addr));
    }
    /// Sets the destination address.
    pub fn set_dst(&mut self, addr: Ipv4Addr) {
        put32(self.buffer.as_mut(), 16, u32::from(addr));
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        put16(self.buffer.as_mut(), 10, value);
    }
    /// Computes the header checksum and writes it (RFC 791 §3.1: computed with the field
    /// zero).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }
    /// The payload, writable (see [`payload`](Ipv4Packet::payload)).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        let b = self.buffer.as_mut();
        let end = end.min(b.len());
        b.get_mut(start..end).unwrap_or(&mut [])
    }
}

/// The options of a checked header, in order; an End of Option List is yielded and ends the
/// iteration.
#[derive(Debug, Clone)]
pub struct Ipv4Options<'a> {
    rest: &'a [u8],
    offset: usize,
    padding: &'a [u8],
}

impl<'a> Ipv4Options<'a> {
    /// The bytes after the End of Option List, once it has been yielded (empty before).
    pub fn padding(&self) -> &'a [u8] {
        self.padding
    }
}

impl<'a> Iterator for Ipv4Options<'a> {
    type Item = Ipv4Option<'a>;

    #[inline]
    fn next(&mut self) -> Option<Ipv4Option<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        match parse_option(self.rest, self.offset) {
            Ok((Ipv4Option::EndOfList, _)) => {
                self.padding = self.rest.get(1..).unwrap_or(&[]);
                self.rest = &[];
                Some(Ipv4Option::EndOfList)
            }
            Ok((opt, n)) => {
                self.rest = self.rest.get(n..).unwrap_or(&[]);
                self.offset += n;
                Some(opt)
            }
            // Unreachable for a checked view; end rather than fail.
            Err(_) => {
                self.rest = &[];
                None
            }
        }
    }
}

/// The meaning of an IPv4 header.
///
/// A Repr parsed from the wire emits back byte for byte (the padding after an End of Option
/// List is kept in `options_padding`). A hand-built option list whose length is not a multiple
/// of 4 is padded by `emit` with zero bytes (RFC 791 §3.1 "padding"), which re-parse as an
/// [`Ipv4Option::EndOfList`] and padding: end such a list with `EndOfList` yourself if the
/// Repr must compare equal after a round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Repr<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Time to live.
    pub ttl: u8,
    /// Differentiated Services codepoint (6 bits, RFC 2474).
    pub dscp: u8,
    /// ECN field (2 bits, RFC 3168).
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// The reserved flag bit: RFC 791 says it must be zero, but receivers do not reject it,
    /// so it is kept (and emitted) as found.
    pub reserved_flag: bool,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in 8-byte units (13 bits); see [`Ipv4Repr::frag_offset_bytes`].
    pub frag_offset_units: u16,
    /// The options in order, unknown ones kept. An [`Ipv4Option::EndOfList`] may only be last.
    pub options: ArrayVec<Ipv4Option<'a>, MAX_OPTIONS_LEN>,
    /// The bytes after an End of Option List up to the end of the header (only with an
    /// `EndOfList` last in `options`).
    pub options_padding: &'a [u8],
    /// Length of the payload; the total length is `header_len() + payload_len`.
    pub payload_len: usize,
}

impl<'a> Ipv4Repr<'a> {
    /// Reads the header of a checked view, rejecting a wrong checksum under
    /// [`ChecksumMode::Verify`].
    ///
    /// For a view made by [`Ipv4Packet::new_quoted`], `payload_len` is the quoted datagram's,
    /// not the length present.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Ipv4Packet<&'a T>,
        mode: ChecksumMode,
    ) -> Result<Self, Ipv4Error> {
        let b: &'a [u8] = T::as_ref(packet.buffer);
        let header_len = packet.header_len();
        let header = b.get(..header_len).unwrap_or(b);
        // RFC 1122 §3.2.1.2: a host MUST verify the header checksum and silently discard a
        // datagram whose checksum is bad.
        if mode == ChecksumMode::Verify && !checksum::verifies(header) {
            return Err(Ipv4Error::BadChecksum {
                found: packet.checksum(),
                expected: expected_checksum(header),
            });
        }
        let mut options = ArrayVec::new();
        let mut options_padding: &'a [u8] = &[];
        let mut rest = header.get(HEADER_LEN..).unwrap_or(&[]);
        let mut offset = HEADER_LEN;
        while !rest.is_empty() {
            let (opt, n) = parse_option(rest, offset)?;
            // Every option is at least one byte, so 40 bytes hold at most 40 options.
            let _ = options.try_push(opt);
            if opt == Ipv4Option::EndOfList {
                options_padding = rest.get(1..).unwrap_or(&[]);
                break;
            }
            rest = rest.get(n..).unwrap_or(&[]);
            offset += n;
        }
        Ok(Ipv4Repr {
            src: packet.src(),
            dst: packet.dst(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            reserved_flag: packet.reserved_flag(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset_units: packet.frag_offset_units(),
            options,
            options_padding,
            payload_len: usize::from(packet.total_len()).saturating_sub(header_len),
        })
    }

    /// Fragment offset in bytes.
    pub fn frag_offset_bytes(&self) -> usize {
        usize::from(self.frag_offset_units) * 8
    }

    /// Bytes of options and padding before rounding up to a 32-bit boundary.
    fn options_len(&self) -> usize {
        self.options
            .iter()
            .map(Ipv4Option::encoded_len)
            .sum::<usize>()
            + self.options_padding.len()
    }

    /// Bytes `emit` writes: the header with options, padded to a 32-bit boundary.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len().next_multiple_of(4)
    }

    /// Header plus payload: the total length.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header (with options) at the start of `buf` and fills in its checksum. The
    /// payload goes at `buf[header_len()..][..payload_len]`; the caller writes it, and `buf`
    /// need only hold the header. On error the contents of `buf` are unspecified.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.emit_inner(buf, true)
    }

    /// Like [`emit`](Self::emit) but leaves the checksum field zero, for a device that
    /// computes it (checksum offload).
    pub fn emit_without_checksum(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.emit_inner(buf, false)
    }

    fn emit_inner(&self, buf: &mut [u8], fill_checksum: bool) -> Result<usize, EmitError> {
        let unencodable = |field, reason| Err(EmitError::Unencodable { field, reason });
        check_tos(self.dscp, self.ecn)?;
        if self.frag_offset_units > 0x1fff {
            return unencodable("frag_offset_units", "13-bit field: must be below 8192");
        }
        let options_len = self.options_len();
        if options_len > MAX_OPTIONS_LEN {
            return unencodable(
                "options",
                "options and padding exceed 40 bytes (RFC 791 §3.1: IHL is 4 bits)",
            );
        }
        if !self.options_padding.is_empty() && self.options.last() != Some(&Ipv4Option::EndOfList) {
            return unencodable(
                "options_padding",
                "padding bytes may only follow an EndOfList option",
            );
        }
        let header_len = HEADER_LEN + options_len.next_multiple_of(4);
        let total_len = header_len + self.payload_len;
        if total_len > MAX_TOTAL_LEN {
            return unencodable(
                "payload_len",
                "header plus payload exceed the 16-bit total length (RFC 791 §3.1)",
            );
        }
        need(buf, header_len)?;
        let Some(header) = buf.get_mut(..header_len) else {
            return unencodable("buffer", "too small");
        };

        let t = (total_len as u16).to_be_bytes();
        let id = self.ident.to_be_bytes();
        let flags = (u16::from(self.reserved_flag) << 15)
            | (u16::from(self.dont_frag) << 14)
            | (u16::from(self.more_frags) << 13)
            | self.frag_offset_units;
        let fl = flags.to_be_bytes();
        let s = self.src.octets();
        let d = self.dst.octets();
        let fixed: [u8; HEADER_LEN] = [
            0x40 | (header_len / 4) as u8,
            (self.dscp << 2) | self.ecn,
            t[0],
            t[1],
            id[0],
            id[1],
            fl[0],
            fl[1],
            self.ttl,
            self.protocol.0,
            0,
            0,
            s[0],
            s[1],
            s[2],
            s[3],
            d[0],
            d[1],
            d[2],
            d[3],
        ];
        let (fixed_out, opts_out) = header.split_at_mut(HEADER_LEN);
        fixed_out.copy_from_slice(&fixed);

        let mut at = 0;
        for (i, opt) in self.options.iter().enumerate() {
            if *opt == Ipv4Option::EndOfList && i + 1 != self.options.len() {
                return unencodable("options", "EndOfList must be the last option");
            }
            let (head, tail) = opt.parts();
            let n = head.len() + tail.len();
            let Some(out) = opts_out.get_mut(at..at + n) else {
                return unencodable("options", "options exceed the header");
            };
            let (h, t) = out.split_at_mut(head.len());
            h.copy_from_slice(&head);
            t.copy_from_slice(tail);
            // The option must read back as itself: this applies the parser's own length,
            // pointer and kind rules, so whatever emits also round-trips.
            match parse_option(out, HEADER_LEN + at) {
                Ok((back, m)) if back == *opt && m == n => {}
                Ok(_) => {
                    return unencodable(
                        "options",
                        "an option field is out of range, or an Unknown option uses the \
                         kind of a typed one (0, 1, 7, 68, 130, 131, 136, 137, 148)",
                    );
                }
                Err(Ipv4Error::BadOptionPointer { .. }) => {
                    return unencodable(
                        "options",
                        "route pointer below 4 or timestamp pointer below 5 (RFC 791 §3.1)",
                    );
                }
                Err(_) => {
                    return unencodable(
                        "options",
                        "option data length breaks its rule (route: 4n address bytes; \
                         timestamp: 4n or 8n; Security: at least 1 byte)",
                    );
                }
            }
            at += n;
        }
        let tail = opts_out.get_mut(at..).unwrap_or(&mut []);
        let (pad, zeros) = tail.split_at_mut(self.options_padding.len().min(tail.len()));
        pad.copy_from_slice(self.options_padding.get(..pad.len()).unwrap_or(&[]));
        // RFC 791 §3.1: "The internet header padding is used to ensure that the internet
        // header ends on a 32 bit boundary. The padding is zero."
        zeros.fill(0);

        if fill_checksum {
            // The options, rare, are read back.
            let mut c = fixed_header_sum(
                u16::from_be_bytes([fixed[0], fixed[1]]),
                total_len as u16,
                self.ident,
                flags,
                u16::from_be_bytes([self.ttl, self.protocol.0]),
                self.src,
                self.dst,
            );
            if let Some(opts) = header.get(HEADER_LEN..).filter(|o| !o.is_empty()) {
                c.add_bytes(opts);
            }
            put16(header, 10, c.finish());
        }
        Ok(header_len)
    }
}

/// The DSCP and ECN fields' ranges (RFC 2474 §3, RFC 3168 §5), checked before emitting.
fn check_tos(dscp: u8, ecn: u8) -> Result<(), EmitError> {
    let unencodable = |field, reason| Err(EmitError::Unencodable { field, reason });
    if dscp > 0x3f {
        return unencodable("dscp", "6-bit field (RFC 2474 §3): must be below 64");
    }
    if ecn > 3 {
        return unencodable("ecn", "2-bit field (RFC 3168 §5): must be below 4");
    }
    Ok(())
}

/// The sum of the fixed header's words (checksum field zero), from the values written rather
/// than read back from the buffer: a read right after narrower writes to the same bytes
/// stalls the CPU.
fn fixed_header_sum(
    word0: u16,
    total_len: u16,
    ident: u16,
    flags: u16,
    ttl_protocol: u16,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> checksum::Checksum {
    let mut c = checksum::Checksum::new();
    c.add_u16(word0)
        .add_u16(total_len)
        .add_u16(ident)
        .add_u16(flags)
        .add_u16(ttl_protocol)
        .add_u32(u32::from(src))
        .add_u32(u32::from(dst));
    c
}

/// An IPv4 header without options, for a sender that writes one per datagram (a TCP
/// segment): [`Ipv4Repr`] carries an option list and checks it on every emit; this writes the
/// 20 bytes and the header checksum summed from the field values. Fragment offset and the
/// reserved and more-fragments flags are zero. The bytes equal [`Ipv4Repr::emit`]'s for the
/// same fields and no options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: IpProtocol,
    /// Time to live.
    pub ttl: u8,
    /// Differentiated services code point (6 bits, RFC 2474 §3).
    pub dscp: u8,
    /// ECN field (2 bits, RFC 3168 §5).
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// Bytes after the header.
    pub payload_len: usize,
}

impl Ipv4Header {
    /// Writes the header into `buf`; returns its length (20).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let unencodable = |field, reason| Err(EmitError::Unencodable { field, reason });
        check_tos(self.dscp, self.ecn)?;
        let total_len = HEADER_LEN + self.payload_len;
        if total_len > MAX_TOTAL_LEN {
            return unencodable(
                "payload_len",
                "header plus payload exceed the 16-bit total length (RFC 791 §3.1)",
            );
        }
        need(buf, HEADER_LEN)?;
        let Some(header) = buf.get_mut(..HEADER_LEN) else {
            return unencodable("buffer", "too small");
        };
        // RFC 791 §3.1: version 4, IHL 5, then the type of service byte.
        let word0 = 0x4500 | u16::from((self.dscp << 2) | self.ecn);
        let flags = u16::from(self.dont_frag) << 14;
        let ttl_protocol = u16::from_be_bytes([self.ttl, self.protocol.0]);
        let c = fixed_header_sum(
            word0,
            total_len as u16,
            self.ident,
            flags,
            ttl_protocol,
            self.src,
            self.dst,
        );
        put16(header, 0, word0);
        put16(header, 2, total_len as u16);
        put16(header, 4, self.ident);
        put16(header, 6, flags);
        put16(header, 8, ttl_protocol);
        put16(header, 10, c.finish());
        put32(header, 12, u32::from(self.src));
        put32(header, 16, u32::from(self.dst));
        Ok(HEADER_LEN)
    }
}

#[cfg(feature = "arbitrary")]
mod arbitrary_impls {
    use super::*;
    use arbitrary::{Arbitrary, Result, Unstructured};

    /// Zero bytes to stand in when the input runs out.
    static ZEROS: [u8; MAX_OPTIONS_LEN] = [0; MAX_OPTIONS_LEN];

    /// `n` (≤ 40) bytes from the input, or zeros once it is exhausted.
    fn take<'a>(u: &mut Unstructured<'a>, n: usize) -> &'a [u8] {
        let n = n.min(MAX_OPTIONS_LEN);
        match u.bytes(n) {
            Ok(b) => b,
            Err(_) => ZEROS.get(..n).unwrap_or(&[]),
        }
    }

    /// One option other than EOL that fits in `room` (≥ 1) bytes.
    fn option<'a>(u: &mut Unstructured<'a>, room: usize) -> Result<Ipv4Option<'a>> {
        let opt = match u.int_in_range(0..=7u8)? {
            1 if room >= 3 => {
                let pointer = u.int_in_range(4..=u8::MAX)?;
                let n = 4 * u.int_in_range(0..=(room - 3) / 4)?;
                let addresses = take(u, n);
                match u.int_in_range(0..=2u8)? {
                    0 => Ipv4Option::RecordRoute { pointer, addresses },
                    1 => Ipv4Option::LooseSourceRoute { pointer, addresses },
                    _ => Ipv4Option::StrictSourceRoute { pointer, addresses },
                }
            }
            2 if room >= 4 => {
                let flags = match u.int_in_range(0..=3u8)? {
                    0 => 0,
                    1 => 1,
                    2 => 3,
                    _ => u.int_in_range(0..=15)?,
                };
                let step = match flags {
                    0 => 4,
                    1 | 3 => 8,
                    _ => 1,
                };
                let n = step * u.int_in_range(0..=(room - 4) / step)?;
                let data = take(u, n);
                Ipv4Option::Timestamp {
                    pointer: u.int_in_range(5..=u8::MAX)?,
                    overflow: u.int_in_range(0..=15)?,
                    flags,
                    data,
                }
            }
            3 if room >= 4 => Ipv4Option::RouterAlert(u.arbitrary()?),
            4 if room >= 4 => Ipv4Option::StreamId(u.arbitrary()?),
            5 if room >= 3 => {
                let n = u.int_in_range(1..=room - 2)?;
                Ipv4Option::Security(take(u, n))
            }
            6 | 7 if room >= 2 => {
                let kind = u.int_in_range(2..=u8::MAX)?;
                let n = u.int_in_range(0..=room - 2)?;
                let data = take(u, n);
                match parse_option(&[kind, 2], 0) {
                    Ok((Ipv4Option::Unknown { .. }, _)) => Ipv4Option::Unknown { kind, data },
                    _ => Ipv4Option::Nop,
                }
            }
            _ => Ipv4Option::Nop,
        };
        Ok(opt)
    }

    impl<'a> Arbitrary<'a> for Ipv4Repr<'a> {
        /// Valid by construction and canonical: field values fit, options obey RFC 791's
        /// rules, and an option list whose length is not a multiple of 4 ends with an
        /// `EndOfList` and padding, so `parse(emit(r)) == r`.
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let mut options = ArrayVec::new();
            let mut room = MAX_OPTIONS_LEN;
            if u.ratio(1, 2)? {
                for _ in 0..u.int_in_range(0..=8)? {
                    if room == 0 {
                        break;
                    }
                    let opt = option(u, room)?;
                    room -= opt.encoded_len();
                    options.push(opt);
                }
            }
            let used = MAX_OPTIONS_LEN - room;
            let mut options_padding: &'a [u8] = &[];
            if !used.is_multiple_of(4) || (room > 0 && u.ratio(1, 8)?) {
                options.push(Ipv4Option::EndOfList);
                let to_boundary = (used + 1).next_multiple_of(4) - (used + 1);
                let spare_words = (room - 1 - to_boundary) / 4;
                let pad = to_boundary + 4 * u.int_in_range(0..=spare_words)?;
                options_padding = if u.ratio(1, 2)? {
                    ZEROS.get(..pad).unwrap_or(&[])
                } else {
                    take(u, pad)
                };
            }
            let options_len =
                options.iter().map(Ipv4Option::encoded_len).sum::<usize>() + options_padding.len();
            let header_len = HEADER_LEN + options_len.next_multiple_of(4);
            let max_payload = MAX_TOTAL_LEN - header_len;
            let payload_len = if u.ratio(1, 16)? {
                u.int_in_range(0..=max_payload)?
            } else {
                u.int_in_range(0..=1500)?
            };
            Ok(Ipv4Repr {
                src: Ipv4Addr::from(u.arbitrary::<u32>()?),
                dst: Ipv4Addr::from(u.arbitrary::<u32>()?),
                protocol: u.arbitrary()?,
                ttl: u.arbitrary()?,
                dscp: u.int_in_range(0..=0x3f)?,
                ecn: u.int_in_range(0..=3)?,
                ident: u.arbitrary()?,
                reserved_flag: u.ratio(1, 8)?,
                dont_frag: u.arbitrary()?,
                more_frags: u.arbitrary()?,
                frag_offset_units: u.int_in_range(0..=0x1fff)?,
                options,
                options_padding,
                payload_len,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(not(feature = "std"))]
    extern crate std;
    use super::*;

    #[test]
    fn ipv4_header_emits_the_bytes_of_the_repr_without_options() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..5_000 {
            let r = next();
            let h = Ipv4Header {
                src: Ipv4Addr::from((r >> 32) as u32),
                dst: Ipv4Addr::from(r as u32),
                protocol: IpProtocol((r >> 8) as u8),
                ttl: (r >> 16) as u8,
                dscp: ((r >> 24) % 0x48) as u8,
                ecn: ((r >> 40) % 5) as u8,
                ident: (r >> 44) as u16,
                dont_frag: r & 1 == 1,
                payload_len: (next() % 0x1_0010) as usize,
            };
            let repr = Ipv4Repr {
                src: h.src,
                dst: h.dst,
                protocol: h.protocol,
                ttl: h.ttl,
                dscp: h.dscp,
                ecn: h.ecn,
                ident: h.ident,
                reserved_flag: false,
                dont_frag: h.dont_frag,
                more_frags: false,
                frag_offset_units: 0,
                options: ArrayVec::new(),
                options_padding: &[],
                payload_len: h.payload_len,
            };
            let (mut a, mut b) = ([0xa5u8; 24], [0xa5u8; 24]);
            let (ra, rb) = (h.emit(&mut a), repr.emit(&mut b));
            assert_eq!(ra, rb, "{h:?}");
            assert_eq!(a, b, "{h:?}");
            if ra.is_ok() {
                assert!(checksum::verifies(&a[..HEADER_LEN]), "{h:?}");
            }
        }
        let h = Ipv4Header {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: IpProtocol::TCP,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 1,
            dont_frag: false,
            payload_len: 0,
        };
        assert!(matches!(
            h.emit(&mut [0u8; 19]),
            Err(EmitError::BufferTooSmall { needed: 20, .. })
        ));
    }
    use std::{format, println, string::ToString, vec, vec::Vec};

    /// The well-known header from the checksum tests (UDP, 0x73 = 115 bytes total).
    const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    /// A datagram of `header` (checksum filled) followed by `payload`, then `trailer` bytes.
    fn datagram(header: &[u8], payload: usize, trailer: usize) -> Vec<u8> {
        let mut v = header.to_vec();
        v[0] = 0x40 | (header.len() / 4) as u8;
        let total = (header.len() + payload) as u16;
        v[2..4].copy_from_slice(&total.to_be_bytes());
        v[10..12].fill(0);
        let c = checksum::checksum(&v);
        v[10..12].copy_from_slice(&c.to_be_bytes());
        v.extend((0..payload).map(|i| i as u8));
        v.extend(std::iter::repeat_n(0xee, trailer));
        v
    }

    /// `HDR` with the given option bytes (a multiple of 4).
    fn with_options(opts: &[u8]) -> Vec<u8> {
        let mut h = HDR.to_vec();
        h.extend_from_slice(opts);
        datagram(&h, 4, 0)
    }

    fn option_error(opts: &[u8]) -> Ipv4Error {
        Ipv4Packet::new_checked(&with_options(opts)[..]).unwrap_err()
    }

    #[test]
    fn ipv4_parses_fixed_header_and_excludes_link_padding() {
        let d = datagram(&HDR, 95, 6);
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 115);
        assert_eq!((p.dscp(), p.ecn()), (0, 0));
        assert!(p.dont_frag() && !p.more_frags() && !p.reserved_flag() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::UDP);
        assert_eq!(p.checksum(), 0xb861);
        assert!(p.verify_checksum());
        assert_eq!(p.src(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(
            p.payload().len(),
            95,
            "the 6 trailing bytes are link padding"
        );
        assert_eq!(p.options().count(), 0);
        assert!(!p.is_truncated());
        let r = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert_eq!(r.payload_len, 95);
        let mut out = [0u8; 20];
        assert_eq!(r.emit(&mut out).unwrap(), 20);
        assert_eq!(out, HDR);
    }

    #[test]
    fn ipv4_rejects_each_structural_error() {
        let d = datagram(&HDR, 8, 0);
        let check = |b: &[u8]| Ipv4Packet::new_checked(b).unwrap_err();
        assert_eq!(check(&d[..19]), Ipv4Error::Truncated { len: 19 });
        let mut v6 = d.clone();
        v6[0] = 0x65;
        assert_eq!(check(&v6), Ipv4Error::BadVersion { version: 6 });
        let mut ihl4 = d.clone();
        ihl4[0] = 0x44;
        assert_eq!(check(&ihl4), Ipv4Error::HeaderLenTooSmall { ihl: 4 });
        let mut ihl15 = d.clone();
        ihl15[0] = 0x4f;
        assert_eq!(
            check(&ihl15),
            Ipv4Error::HeaderTruncated {
                header_len: 60,
                len: 28
            }
        );
        let mut zero = d.clone();
        zero[2..4].fill(0);
        assert_eq!(check(&zero), Ipv4Error::ZeroTotalLen);
        let mut short = d.clone();
        short[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            check(&short),
            Ipv4Error::TotalLenBelowHeader {
                total_len: 19,
                header_len: 20
            }
        );
        assert_eq!(
            check(&d[..27]),
            Ipv4Error::TotalLenExceedsBuffer {
                total_len: 28,
                len: 27
            }
        );
        // Display texts carry the values.
        assert_eq!(
            check(&d[..27]).to_string(),
            "IPv4 total length 28 exceeds the 27 bytes present (truncated datagram)"
        );
    }

    #[test]
    fn ipv4_rejects_each_option_error() {
        // Multi-byte kind as the header's last byte: no length byte.
        assert_eq!(
            option_error(&[1, 1, 1, 0x44]),
            Ipv4Error::OptionTruncated {
                offset: 23,
                kind: 0x44
            }
        );
        assert_eq!(
            option_error(&[0x99, 1, 0, 0]),
            Ipv4Error::OptionLengthTooSmall {
                offset: 20,
                kind: 0x99,
                length: 1
            }
        );
        assert_eq!(
            option_error(&[1, 0x99, 4, 0]),
            Ipv4Error::OptionOverrunsHeader {
                offset: 21,
                kind: 0x99,
                length: 4,
                available: 3
            }
        );
        // RFC 2113: Router Alert is exactly 4 bytes.
        assert_eq!(
            option_error(&[148, 3, 0, 0]),
            Ipv4Error::BadOptionLength {
                offset: 20,
                kind: 148,
                length: 3,
                expected: OptionLengthRule::Exactly(4)
            }
        );
        assert!(matches!(
            option_error(&[136, 2, 0, 0]),
            Ipv4Error::BadOptionLength {
                kind: 136,
                expected: OptionLengthRule::Exactly(4),
                ..
            }
        ));
        assert!(matches!(
            option_error(&[130, 2, 0, 0]),
            Ipv4Error::BadOptionLength {
                kind: 130,
                expected: OptionLengthRule::AtLeast(3),
                ..
            }
        ));
        // Record route with 5 bytes of route data.
        assert_eq!(
            option_error(&[7, 8, 4, 1, 2, 3, 4, 5]),
            Ipv4Error::BadOptionLength {
                offset: 20,
                kind: 7,
                length: 8,
                expected: OptionLengthRule::Stepped { base: 3, step: 4 }
            }
        );
        assert_eq!(
            option_error(&[7, 2, 0, 0]),
            Ipv4Error::BadOptionLength {
                offset: 20,
                kind: 7,
                length: 2,
                expected: OptionLengthRule::Stepped { base: 3, step: 4 }
            }
        );
        // Timestamp with flag 1 (address + timestamp) and 4 bytes of data.
        assert_eq!(
            option_error(&[68, 8, 5, 0x01, 0, 0, 0, 0]),
            Ipv4Error::BadOptionLength {
                offset: 20,
                kind: 68,
                length: 8,
                expected: OptionLengthRule::Stepped { base: 4, step: 8 }
            }
        );
        assert!(matches!(
            option_error(&[68, 3, 5, 0]),
            Ipv4Error::BadOptionLength {
                expected: OptionLengthRule::AtLeast(4),
                ..
            }
        ));
        assert_eq!(
            option_error(&[131, 7, 3, 1, 2, 3, 4, 0]),
            Ipv4Error::BadOptionPointer {
                offset: 20,
                kind: 131,
                pointer: 3,
                min: 4
            }
        );
        assert_eq!(
            option_error(&[1, 1, 1, 1, 68, 4, 4, 0]),
            Ipv4Error::BadOptionPointer {
                offset: 24,
                kind: 68,
                pointer: 4,
                min: 5
            }
        );
        // Bytes after EOL are padding and are not parsed.
        assert!(Ipv4Packet::new_checked(&with_options(&[0, 0x99, 0xff, 7])[..]).is_ok());
        // new_quoted applies the same option checks.
        assert!(matches!(
            Ipv4Packet::new_quoted(&with_options(&[148, 3, 0, 0])[..]),
            Err(Ipv4Error::BadOptionLength { .. })
        ));
    }

    #[test]
    fn ipv4_typed_options_round_trip_with_padding() {
        #[rustfmt::skip]
        let opts = [
            1,                                  // NOP
            7, 11, 8, 10, 0, 0, 1, 0, 0, 0, 0,  // RR, one address recorded, one free
            68, 12, 13, 0x21, 0, 0, 0, 1, 0, 0, 0, 2, // TS flag 1, overflow 2, one entry
            148, 4, 0, 0,                       // Router Alert 0
            136, 4, 0x12, 0x34,                 // Stream ID
            130, 3, 0xab,                       // Security, level only
            0x9e, 2,                            // unknown kind 158, no data
            0, 0xde, 0xad,                      // EOL, then non-zero padding
        ];
        assert_eq!(opts.len(), 40);
        let d = with_options(&opts);
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        let got: Vec<_> = p.options().collect();
        assert_eq!(
            got,
            vec![
                Ipv4Option::Nop,
                Ipv4Option::RecordRoute {
                    pointer: 8,
                    addresses: &[10, 0, 0, 1, 0, 0, 0, 0]
                },
                Ipv4Option::Timestamp {
                    pointer: 13,
                    overflow: 2,
                    flags: 1,
                    data: &[0, 0, 0, 1, 0, 0, 0, 2]
                },
                Ipv4Option::RouterAlert(0),
                Ipv4Option::StreamId(0x1234),
                Ipv4Option::Security(&[0xab]),
                Ipv4Option::Unknown {
                    kind: 0x9e,
                    data: &[]
                },
                Ipv4Option::EndOfList,
            ]
        );
        assert_eq!(p.options_padding(), &[0xde, 0xad]);
        assert_eq!(
            got[1].route_addresses().collect::<Vec<_>>(),
            vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::UNSPECIFIED]
        );
        assert!(got[3].is_copied() && !got[1].is_copied());
        let r = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert_eq!(r.options.as_slice(), &got[..]);
        assert_eq!(r.options_padding, &[0xde, 0xad]);
        assert_eq!(r.header_len(), 60);
        let mut out = vec![0u8; 60];
        assert_eq!(r.emit(&mut out).unwrap(), 60);
        assert_eq!(out[..], d[..60], "byte-exact, padding included");

        // A hand-built unaligned list gets EOL + zero padding.
        let mut r2 = r.clone();
        r2.options.clear();
        r2.options.push(Ipv4Option::Nop);
        r2.options_padding = &[];
        assert_eq!(r2.header_len(), 24);
        let mut out = vec![0u8; 24];
        r2.emit(&mut out).unwrap();
        assert_eq!(out[20..], [1, 0, 0, 0]);
    }

    #[test]
    fn ipv4_verify_checksum_agrees_with_the_general_sum() {
        // Seeded: random option-less headers (summed straight) and headers with options
        // (the general loop), half with the checksum filled in; both say what the plain
        // network-order sum says.
        use rand::{Rng, SeedableRng};
        let seed = 0x6970_7634u64;
        println!("seed {seed:#x}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (mut valid, mut invalid) = (0, 0);
        for i in 0..4000 {
            let ihl = if i % 4 == 0 {
                rng.gen_range(6..16usize)
            } else {
                5
            };
            let mut d = vec![0u8; ihl * 4 + 8];
            rng.fill(&mut d[..]);
            d[0] = 0x40 | ihl as u8;
            let total = d.len() as u16;
            d[2..4].copy_from_slice(&total.to_be_bytes());
            if rng.gen_bool(0.5) {
                d[10..12].fill(0);
                let c = checksum::checksum(&d[..ihl * 4]);
                d[10..12].copy_from_slice(&c.to_be_bytes());
            }
            let want = checksum::Checksum::new().add_bytes(&d[..ihl * 4]).sum() == 0xffff;
            let Ok(p) = Ipv4Packet::new_quoted(&d[..]) else {
                continue;
            };
            assert_eq!(p.verify_checksum(), want, "{d:02x?}");
            if want {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
        assert!(
            valid > 1000 && invalid > 1000,
            "{valid} valid, {invalid} invalid"
        );
    }

    #[test]
    fn ipv4_checksum_verdicts() {
        let mut d = datagram(&HDR, 4, 0);
        let found = u16::from_be_bytes([d[10], d[11]]);
        d[8] = 63; // TTL changed, checksum stale
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert!(!p.verify_checksum());
        let mut fixed = d.clone();
        let mut m = Ipv4Packet::new_checked(&mut fixed[..]).unwrap();
        m.fill_checksum();
        let expected = m.checksum();
        assert!(m.verify_checksum());
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap_err(),
            Ipv4Error::BadChecksum { found, expected }
        );
        let r = Ipv4Repr::parse(&p, ChecksumMode::Trust).unwrap();
        assert_eq!(r.ttl, 63);
        // Setters then fill_checksum keep the view valid.
        m.set_ttl(1);
        m.set_ecn(3);
        m.set_ident(7);
        m.set_src(Ipv4Addr::new(10, 0, 0, 1));
        m.set_dst(Ipv4Addr::new(10, 0, 0, 2));
        assert!(!m.verify_checksum());
        m.fill_checksum();
        assert!(m.verify_checksum());
        assert_eq!((m.ttl(), m.ecn(), m.ident()), (1, 3, 7));
        assert_eq!(m.dst(), Ipv4Addr::new(10, 0, 0, 2));
        m.payload_mut().fill(9);
        assert_eq!(m.payload(), &[9, 9, 9, 9]);
    }

    #[test]
    fn ipv4_fragment_fields() {
        let mut h = HDR;
        // Reserved + MF, offset 185 units (1480 bytes).
        h[6..8].copy_from_slice(&(0x8000u16 | 0x2000 | 185).to_be_bytes());
        let d = datagram(&h, 8, 0);
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert!(p.reserved_flag() && p.more_frags() && !p.dont_frag());
        assert_eq!(p.frag_offset_units(), 185);
        assert_eq!(p.frag_offset_bytes(), 1480);
        assert!(p.is_fragment());
        let r = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert!(r.reserved_flag, "kept, not rejected");
        assert_eq!(r.frag_offset_bytes(), 1480);
        let mut out = [0u8; 20];
        r.emit(&mut out).unwrap();
        assert_eq!(out[..], d[..20]);
        // Last fragment: offset only.
        let mut h = HDR;
        h[6..8].copy_from_slice(&0x1fffu16.to_be_bytes());
        let d = datagram(&h, 8, 0);
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert!(p.is_fragment() && !p.more_frags());
        assert_eq!(p.frag_offset_bytes(), 65528);
    }

    fn sample_repr() -> Ipv4Repr<'static> {
        Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(224, 0, 0, 22),
            protocol: IpProtocol::IGMP,
            ttl: 1,
            dscp: 48,
            ecn: 0,
            ident: 0x1234,
            reserved_flag: false,
            dont_frag: true,
            more_frags: false,
            frag_offset_units: 0,
            options: [Ipv4Option::RouterAlert(0)].into_iter().collect(),
            options_padding: &[],
            payload_len: 8,
        }
    }

    #[test]
    fn ipv4_emit_into_buffer_with_headroom() {
        let r = sample_repr();
        assert_eq!((r.header_len(), r.buffer_len()), (24, 32));
        let mut frame = [0xaau8; 14 + 32];
        let n = r.emit(&mut frame[14..]).unwrap();
        assert_eq!(n, 24);
        assert_eq!(frame[..14], [0xaa; 14], "headroom untouched");
        frame[14 + n..].copy_from_slice(&[0x16, 0, 0xfa, 0x04, 224, 0, 0, 22]);
        let p = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &[0x16, 0, 0xfa, 0x04, 224, 0, 0, 22]);
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), r);

        // Without checksum: field zero, parses under Trust.
        let mut buf = [0u8; 32];
        r.emit_without_checksum(&mut buf).unwrap();
        assert_eq!(buf[10..12], [0, 0]);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Trust).unwrap(), r);

        assert_eq!(
            r.emit(&mut [0u8; 23]),
            Err(EmitError::BufferTooSmall {
                needed: 24,
                available: 23
            })
        );
    }

    #[test]
    fn ipv4_emit_refuses_unencodable_reprs() {
        let field = |r: &Ipv4Repr<'_>| match r.emit(&mut [0u8; 64]) {
            Err(EmitError::Unencodable { field, .. }) => field,
            other => panic!("expected Unencodable, got {other:?}"),
        };
        let base = sample_repr();
        assert_eq!(
            field(&Ipv4Repr {
                dscp: 64,
                ..base.clone()
            }),
            "dscp"
        );
        assert_eq!(
            field(&Ipv4Repr {
                ecn: 4,
                ..base.clone()
            }),
            "ecn"
        );
        assert_eq!(
            field(&Ipv4Repr {
                frag_offset_units: 0x2000,
                ..base.clone()
            }),
            "frag_offset_units"
        );
        assert_eq!(
            field(&Ipv4Repr {
                payload_len: 65512,
                ..base.clone()
            }),
            "payload_len"
        );
        assert_eq!(
            field(&Ipv4Repr {
                options_padding: &[0],
                ..base.clone()
            }),
            "options_padding"
        );
        let with = |opts: &[Ipv4Option<'static>]| Ipv4Repr {
            options: opts.iter().copied().collect(),
            ..base.clone()
        };
        static ADDRS: [u8; 40] = [0; 40];
        let addrs = &ADDRS;
        for bad in [
            vec![Ipv4Option::EndOfList, Ipv4Option::Nop],
            vec![Ipv4Option::RecordRoute {
                pointer: 4,
                addresses: &addrs[..5],
            }],
            vec![Ipv4Option::RecordRoute {
                pointer: 3,
                addresses: &addrs[..4],
            }],
            vec![Ipv4Option::RecordRoute {
                pointer: 4,
                addresses: &addrs[..40],
            }],
            vec![Ipv4Option::Timestamp {
                pointer: 5,
                overflow: 16,
                flags: 0,
                data: &[],
            }],
            vec![Ipv4Option::Timestamp {
                pointer: 5,
                overflow: 0,
                flags: 0,
                data: &addrs[..3],
            }],
            vec![Ipv4Option::Security(&[])],
            vec![Ipv4Option::Unknown {
                kind: 148,
                data: &[0, 0],
            }],
            vec![Ipv4Option::Unknown { kind: 0, data: &[] }],
        ] {
            assert_eq!(field(&with(&bad)), "options", "{bad:?}");
        }
        // Exactly 40 bytes of options is fine.
        let full = with(&[Ipv4Option::RecordRoute {
            pointer: 4,
            addresses: &addrs[..36],
        }]);
        assert_eq!(full.emit(&mut [0u8; 60]), Ok(60));
    }

    #[test]
    fn ipv4_quoted_header_allows_truncation() {
        // An ICMP error quotes 20 header bytes + 8 data bytes of a 1500-byte datagram.
        let d = datagram(&HDR, 1480, 0);
        let quote = &d[..28];
        assert_eq!(
            Ipv4Packet::new_checked(quote).unwrap_err(),
            Ipv4Error::TotalLenExceedsBuffer {
                total_len: 1500,
                len: 28
            }
        );
        let q = Ipv4Packet::new_quoted(quote).unwrap();
        assert!(q.is_truncated());
        assert_eq!(q.total_len(), 1500);
        assert_eq!(q.payload(), &d[20..28]);
        assert!(q.verify_checksum());
        let r = Ipv4Repr::parse(&q, ChecksumMode::Verify).unwrap();
        assert_eq!(r.payload_len, 1480, "the quoted datagram's length");
        // Structure is still checked.
        assert_eq!(
            Ipv4Packet::new_quoted(&d[..19]).unwrap_err(),
            Ipv4Error::Truncated { len: 19 }
        );
        let mut zero = quote.to_vec();
        zero[2..4].fill(0);
        assert_eq!(
            Ipv4Packet::new_quoted(&zero[..]).unwrap_err(),
            Ipv4Error::ZeroTotalLen
        );
        // A whole datagram is not truncated.
        assert!(!Ipv4Packet::new_quoted(&d[..]).unwrap().is_truncated());
    }

    #[test]
    fn ipv4_protocol_display() {
        assert_eq!(IpProtocol::TCP.to_string(), "TCP");
        assert_eq!(IpProtocol::UDP.to_string(), "UDP");
        assert_eq!(IpProtocol::ICMP.to_string(), "ICMP");
        assert_eq!(IpProtocol::IGMP.to_string(), "IGMP");
        assert_eq!(IpProtocol(89).to_string(), "protocol 89");
        assert_eq!(
            OptionLengthRule::Stepped { base: 3, step: 4 }.to_string(),
            "3 + 4n"
        );
    }

    /// The IPv4 datagram (or fragment of one) in every frame of a capture, with the link type.
    fn capture_ipv4(name: &str) -> Vec<Vec<u8>> {
        use pcap_file::DataLink;
        let (link, records) = crate::testutil::capture_records(name);
        let mut out = Vec::new();
        for data in records {
            let ip = match link {
                DataLink::ETHERNET => match crate::EthernetFrame::new_checked(&data[..]) {
                    Ok(f) if f.ethertype() == crate::EtherType::IPV4 => f.payload().to_vec(),
                    _ => continue,
                },
                DataLink::RAW | DataLink::IPV4 => data,
                other => panic!("{name}: unexpected link type {other:?}"),
            };
            out.push(ip);
        }
        out
    }

    #[test]
    fn ipv4_igmp_capture_router_alert() {
        let frames = capture_ipv4("IGMP_V2.pcap");
        assert_eq!(frames.len(), 18);
        let mut with_alert = 0;
        for f in &frames {
            let p = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert_eq!(p.protocol(), IpProtocol::IGMP);
            assert!(p.verify_checksum());
            let r = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
            if p.header_len() > HEADER_LEN {
                assert_eq!(r.options.as_slice(), &[Ipv4Option::RouterAlert(0)]);
                with_alert += 1;
            }
            // IGMPv2 messages are 8 bytes; the rest of the frame is Ethernet padding.
            assert_eq!(p.payload().len(), 8);
            let mut out = vec![0u8; r.header_len()];
            r.emit(&mut out).unwrap();
            assert_eq!(out[..], f[..r.header_len()]);
        }
        assert_eq!(with_alert, 14);
    }

    #[test]
    fn ipv4_malformed_captures_give_typed_errors() {
        // Raw IPv4: three unknown options of type 3, length 3; the third overruns the header.
        let f = &capture_ipv4("extract_read2_asan.pcap")[0];
        let e = Ipv4Packet::new_checked(&f[..]).unwrap_err();
        assert_eq!(
            e,
            Ipv4Error::OptionOverrunsHeader {
                offset: 26,
                kind: 3,
                length: 3,
                available: 2
            }
        );
        assert_eq!(Ipv4Packet::new_quoted(&f[..]).unwrap_err(), e);
        // Timestamp with address pairs (flag 1) but 10 bytes of data: tcpdump's
        // "[bad length 14]".
        let f = &capture_ipv4("ip_ts_opts_asan.pcap")[0];
        assert_eq!(
            Ipv4Packet::new_checked(&f[..]).unwrap_err(),
            Ipv4Error::BadOptionLength {
                offset: 20,
                kind: 68,
                length: 14,
                expected: OptionLengthRule::Stepped { base: 4, step: 8 }
            }
        );
        type Expect = fn(&Ipv4Error) -> bool;
        let cases: [(&str, Expect); 6] = [
            ("ipv4_invalid_hdr_length.pcap", |e| {
                *e == Ipv4Error::HeaderLenTooSmall { ihl: 4 }
            }),
            (
                "ipv4_invalid_total_length.pcap",
                |e| matches!(e, Ipv4Error::TotalLenExceedsBuffer { total_len, len } if usize::from(*total_len) == len + 1),
            ),
            ("ipv4_invalid_total_length_2.pcap", |e| {
                *e == Ipv4Error::TotalLenBelowHeader {
                    total_len: 19,
                    header_len: 20,
                }
            }),
            ("ipv4_tcp_http_xml_tso.pcap", |e| {
                *e == Ipv4Error::ZeroTotalLen
            }),
            ("bigtcp-ipv4.pcap", |e| *e == Ipv4Error::ZeroTotalLen),
            ("heapoverflow-in_checksum.pcap", |e| {
                matches!(
                    e,
                    Ipv4Error::TotalLenExceedsBuffer {
                        total_len: 12336,
                        ..
                    }
                )
            }),
        ];
        for (name, ok) in cases {
            let f = &capture_ipv4(name)[0];
            let e = Ipv4Packet::new_checked(&f[..]).unwrap_err();
            assert!(ok(&e), "{name}: {e:?}");
        }
    }

    #[test]
    fn ipv4_capture_sweep_parses_or_rejects_and_round_trips() {
        let dir = format!(
            "{}/../../../shared/captures/tcpdump",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".pcap"))
            .collect();
        names.sort();
        let (mut ok, mut rejected) = (0, 0);
        for name in names {
            let Ok(file) = std::fs::File::open(format!("{dir}/{name}")) else {
                continue;
            };
            let Ok(reader) = pcap_file::pcap::PcapReader::new(file) else {
                continue;
            };
            let link = u32::from(reader.header().datalink);
            if !matches!(link, 1 | 101 | 228) {
                continue;
            }
            for f in capture_ipv4(&name) {
                match Ipv4Packet::new_checked(&f[..]) {
                    Ok(p) => {
                        ok += 1;
                        let r = Ipv4Repr::parse(&p, ChecksumMode::Trust).unwrap();
                        let mut out = vec![0u8; r.header_len()];
                        r.emit(&mut out).unwrap();
                        let hl = p.header_len();
                        assert_eq!(out[..10], f[..10], "{name}");
                        assert_eq!(out[12..], f[12..hl], "{name}");
                        assert_eq!(
                            Ipv4Repr::parse(&p, ChecksumMode::Verify).is_ok(),
                            p.verify_checksum()
                        );
                    }
                    Err(_) => rejected += 1,
                }
            }
        }
        println!("{ok} IPv4 datagrams parsed and re-emitted, {rejected} rejected");
        assert!(ok > 1000);
    }

    #[test]
    fn ipv4_agrees_with_etherparse() {
        use rand::{Rng, SeedableRng};
        let seed = 791;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut agreed = 0;
        for _ in 0..20_000 {
            let len = rng.gen_range(0..80);
            let mut b: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            if len > 0 && rng.gen_bool(0.9) {
                b[0] = 0x45 + rng.gen_range(0..3) * (len >= 28) as u8;
            }
            if len >= 20 && rng.gen_bool(0.8) {
                b[2..4].copy_from_slice(&(rng.gen_range(20..=len as u16)).to_be_bytes());
            }
            let ours = Ipv4Packet::new_checked(&b[..]);
            let theirs = etherparse::Ipv4HeaderSlice::from_slice(&b);
            // etherparse checks neither options nor total length, so it accepts a superset.
            if let Ok(p) = ours {
                let e = theirs.expect("etherparse accepts what we accept");
                assert_eq!(p.header(), e.slice());
                assert_eq!(p.src(), e.source_addr());
                assert_eq!(p.dst(), e.destination_addr());
                assert_eq!(p.protocol().0, e.protocol().0);
                assert_eq!(p.ttl(), e.ttl());
                assert_eq!(p.total_len(), e.total_len());
                assert_eq!(p.ident(), e.identification());
                assert_eq!(p.dont_frag(), e.dont_fragment());
                assert_eq!(p.more_frags(), e.more_fragments());
                assert_eq!(p.frag_offset_units(), e.fragments_offset().value());
                assert_eq!(p.checksum(), e.header_checksum());
                assert_eq!(p.dscp(), e.dcp().value());
                assert_eq!(p.ecn(), e.ecn().value());
                assert_eq!(p.options_bytes(), e.options());
                agreed += 1;
            }
        }
        println!("{agreed} IPv4 headers agree with etherparse");
        assert!(agreed > 1000);
    }

    #[cfg(feature = "arbitrary")]
    #[test]
    fn ipv4_round_trips() {
        use arbitrary::{Arbitrary, Unstructured};
        use rand::{RngCore, SeedableRng};
        let seed = 0x1b4_791;
        println!("seed {seed:#x}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut raw = [0u8; 512];
        let mut buf = vec![0u8; MAX_TOTAL_LEN + 8];
        let (mut n, mut with_options) = (0, 0);
        while n < 10_000 {
            rng.fill_bytes(&mut raw);
            let mut u = Unstructured::new(&raw);
            let r = Ipv4Repr::arbitrary(&mut u).unwrap();
            let headroom = (n % 3) * 7;
            let len = r.buffer_len();
            let out = &mut buf[headroom..headroom + len];
            assert_eq!(r.emit(out).unwrap(), r.header_len());
            let p = Ipv4Packet::new_checked(&out[..]).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(p.payload().len(), r.payload_len);
            let back = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
            assert_eq!(back, r);
            assert_eq!(p.options().collect::<Vec<_>>(), r.options.to_vec());
            with_options += usize::from(!r.options.is_empty());
            n += 1;
        }
        println!("{n} ipv4 round trips checked ({with_options} with options)");
        assert!(with_options > 2000);
    }
}
