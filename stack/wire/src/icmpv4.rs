//! ICMP for IPv4 (RFC 792, with RFC 1122 §3.2.2 and RFC 1191 §4) as a checked view
//! ([`Icmpv4Packet`]) and a meaning ([`Icmpv4Repr`]).
//!
//! The view's buffer is the whole ICMP message: its length is the IPv4 payload length, which
//! the caller takes from the IPv4 header (`Ipv4Packet::payload`). `new_checked` needs only the
//! 8-byte header; the checksum covers the whole message (RFC 792: "starting with the ICMP
//! Type").
//!
//! Echo, Destination Unreachable, Time Exceeded and Parameter Problem have typed variants;
//! every other message (Source Quench, Redirect, Timestamp, Router Advertisement, RFC 8335
//! Extended Echo, ...) parses as [`Icmpv4Repr::Other`] with its bytes kept, so any message
//! emits back byte for byte. Codes are kept as values (newtypes with named constants), so no
//! code is ever rejected: RFC 1122 §3.2.2 asks a host to handle unknown codes, not drop them.
//!
//! An error message quotes the offending datagram's IPv4 header and at least its first 8 data
//! bytes (RFC 792; RFC 1122 §3.2.2). [`QuotedDatagram`] reads that quote with the lenient
//! IPv4 parse ([`Ipv4Packet::new_quoted`]), since the quoted total length is usually longer
//! than the quote.

use crate::checksum::{self, Checksum, ChecksumMode};
use crate::ipv4::{IpProtocol, Ipv4Error, Ipv4Packet};
use crate::{EmitError, be16, need, put16, put32};

/// Length of the ICMP header: type, code, checksum and the 4-byte "rest of header".
pub const HEADER_LEN: usize = 8;
/// The longest ICMP message an IPv4 datagram can carry (65535 less a 20-byte IPv4 header).
pub const MAX_MESSAGE_LEN: usize = 0xffff - crate::ipv4::HEADER_LEN;

/// An ICMP message type (IANA "ICMP Type Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Icmpv4Type(pub u8);

impl Icmpv4Type {
    /// Echo Reply (RFC 792).
    pub const ECHO_REPLY: Icmpv4Type = Icmpv4Type(0);
    /// Destination Unreachable (RFC 792).
    pub const DST_UNREACHABLE: Icmpv4Type = Icmpv4Type(3);
    /// Source Quench (RFC 792; deprecated by RFC 6633).
    pub const SOURCE_QUENCH: Icmpv4Type = Icmpv4Type(4);
    /// Redirect (RFC 792).
    pub const REDIRECT: Icmpv4Type = Icmpv4Type(5);
    /// Echo Request (RFC 792).
    pub const ECHO_REQUEST: Icmpv4Type = Icmpv4Type(8);
    /// Router Advertisement (RFC 1256).
    pub const ROUTER_ADVERTISEMENT: Icmpv4Type = Icmpv4Type(9);
    /// Router Solicitation (RFC 1256).
    pub const ROUTER_SOLICITATION: Icmpv4Type = Icmpv4Type(10);
    /// Time Exceeded (RFC 792).
    pub const TIME_EXCEEDED: Icmpv4Type = Icmpv4Type(11);
    /// Parameter Problem (RFC 792).
    pub const PARAMETER_PROBLEM: Icmpv4Type = Icmpv4Type(12);
    /// Timestamp (RFC 792).
    pub const TIMESTAMP: Icmpv4Type = Icmpv4Type(13);
    /// Timestamp Reply (RFC 792).
    pub const TIMESTAMP_REPLY: Icmpv4Type = Icmpv4Type(14);
    /// Extended Echo Request (RFC 8335).
    pub const EXTENDED_ECHO_REQUEST: Icmpv4Type = Icmpv4Type(42);
    /// Extended Echo Reply (RFC 8335).
    pub const EXTENDED_ECHO_REPLY: Icmpv4Type = Icmpv4Type(43);

    /// True for the error messages, which quote the datagram that caused them (RFC 1122
    /// §3.2.2: Destination Unreachable, Source Quench, Redirect, Time Exceeded, Parameter
    /// Problem).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Self::DST_UNREACHABLE
                | Self::SOURCE_QUENCH
                | Self::REDIRECT
                | Self::TIME_EXCEEDED
                | Self::PARAMETER_PROBLEM
        )
    }
}

impl core::fmt::Display for Icmpv4Type {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match *self {
            Self::ECHO_REPLY => "echo reply",
            Self::DST_UNREACHABLE => "destination unreachable",
            Self::SOURCE_QUENCH => "source quench",
            Self::REDIRECT => "redirect",
            Self::ECHO_REQUEST => "echo request",
            Self::ROUTER_ADVERTISEMENT => "router advertisement",
            Self::ROUTER_SOLICITATION => "router solicitation",
            Self::TIME_EXCEEDED => "time exceeded",
            Self::PARAMETER_PROBLEM => "parameter problem",
            Self::TIMESTAMP => "timestamp",
            Self::TIMESTAMP_REPLY => "timestamp reply",
            Self::EXTENDED_ECHO_REQUEST => "extended echo request",
            Self::EXTENDED_ECHO_REPLY => "extended echo reply",
            other => return write!(f, "type {}", other.0),
        };
        f.write_str(name)
    }
}

/// A Destination Unreachable code (RFC 792; 6-12 RFC 1122 §3.2.2.1; 13-15 RFC 1812
/// §5.2.7.1). Unknown codes are kept as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DstUnreachableCode(pub u8);

impl DstUnreachableCode {
    /// Net unreachable.
    pub const NET_UNREACHABLE: Self = Self(0);
    /// Host unreachable.
    pub const HOST_UNREACHABLE: Self = Self(1);
    /// Protocol unreachable.
    pub const PROTOCOL_UNREACHABLE: Self = Self(2);
    /// Port unreachable.
    pub const PORT_UNREACHABLE: Self = Self(3);
    /// Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191 §4).
    pub const FRAG_NEEDED: Self = Self(4);
    /// Source route failed.
    pub const SOURCE_ROUTE_FAILED: Self = Self(5);
    /// Destination network unknown.
    pub const DST_NET_UNKNOWN: Self = Self(6);
    /// Destination host unknown.
    pub const DST_HOST_UNKNOWN: Self = Self(7);
    /// Source host isolated.
    pub const SRC_HOST_ISOLATED: Self = Self(8);
    /// Communication with destination network administratively prohibited.
    pub const NET_PROHIBITED: Self = Self(9);
    /// Communication with destination host administratively prohibited.
    pub const HOST_PROHIBITED: Self = Self(10);
    /// Network unreachable for type of service.
    pub const NET_UNREACHABLE_FOR_TOS: Self = Self(11);
    /// Host unreachable for type of service.
    pub const HOST_UNREACHABLE_FOR_TOS: Self = Self(12);
    /// Communication administratively prohibited (RFC 1812).
    pub const COMM_PROHIBITED: Self = Self(13);
    /// Host precedence violation (RFC 1812).
    pub const HOST_PRECEDENCE_VIOLATION: Self = Self(14);
    /// Precedence cutoff in effect (RFC 1812).
    pub const PRECEDENCE_CUTOFF: Self = Self(15);
}

impl core::fmt::Display for DstUnreachableCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const NAMES: [&str; 16] = [
            "net unreachable",
            "host unreachable",
            "protocol unreachable",
            "port unreachable",
            "fragmentation needed and DF set",
            "source route failed",
            "destination network unknown",
            "destination host unknown",
            "source host isolated",
            "network administratively prohibited",
            "host administratively prohibited",
            "network unreachable for TOS",
            "host unreachable for TOS",
            "communication administratively prohibited",
            "host precedence violation",
            "precedence cutoff in effect",
        ];
        match NAMES.get(usize::from(self.0)) {
            Some(name) => f.write_str(name),
            None => write!(f, "code {}", self.0),
        }
    }
}

/// A Time Exceeded code (RFC 792). Unknown codes are kept as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TimeExceededCode(pub u8);

impl TimeExceededCode {
    /// Time to live exceeded in transit.
    pub const TTL_EXCEEDED: Self = Self(0);
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY_TIME_EXCEEDED: Self = Self(1);
}

impl core::fmt::Display for TimeExceededCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::TTL_EXCEEDED => f.write_str("TTL exceeded in transit"),
            Self::REASSEMBLY_TIME_EXCEEDED => f.write_str("fragment reassembly time exceeded"),
            other => write!(f, "code {}", other.0),
        }
    }
}

/// A Parameter Problem code (RFC 792; 1 from RFC 1108, 2 from RFC 1812). Unknown codes are
/// kept as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ParamProblemCode(pub u8);

impl ParamProblemCode {
    /// The pointer indicates the error.
    pub const POINTER: Self = Self(0);
    /// A required option is missing.
    pub const MISSING_OPTION: Self = Self(1);
    /// Bad length.
    pub const BAD_LENGTH: Self = Self(2);
}

impl core::fmt::Display for ParamProblemCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::POINTER => f.write_str("pointer indicates the error"),
            Self::MISSING_OPTION => f.write_str("missing a required option"),
            Self::BAD_LENGTH => f.write_str("bad length"),
            other => write!(f, "code {}", other.0),
        }
    }
}

/// Why bytes are not a valid ICMP message, or why an error message's quote cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Icmpv4Error {
    /// Fewer than the 8 bytes of the ICMP header.
    #[error("ICMP message truncated: {len} bytes, the header needs 8")]
    Truncated {
        /// Bytes present (the IPv4 payload length).
        len: usize,
    },
    /// The checksum over the message does not verify (RFC 792; RFC 1122 §3.2.2: discard).
    #[error("ICMP checksum {found:#06x} is wrong, expected {expected:#06x}")]
    BadChecksum {
        /// The checksum field.
        found: u16,
        /// The checksum the message should carry.
        expected: u16,
    },
    /// A quoted datagram was asked of a message that is not an error message.
    #[error("ICMP {msg_type} is not an error message and quotes no datagram")]
    NotAnErrorMessage {
        /// The message's type.
        msg_type: Icmpv4Type,
    },
    /// The quoted IPv4 header is malformed.
    #[error("quoted IPv4 header: {0}")]
    QuotedHeader(Ipv4Error),
    /// Fewer data bytes of the original datagram are quoted than RFC 1122 §3.2.2 requires
    /// (the first 8, or all of them if the datagram had fewer).
    #[error(
        "ICMP error quotes {len} data bytes of the original datagram, RFC 1122 §3.2.2 requires \
         {needed}"
    )]
    QuotedDataTruncated {
        /// Data bytes quoted after the IPv4 header.
        len: usize,
        /// Data bytes required.
        needed: usize,
    },
}

/// The datagram quoted in an ICMP error message: its IPv4 header, read leniently, and the
/// first data bytes (enough for the ports of a TCP or UDP header).
#[derive(Debug, Clone)]
pub struct QuotedDatagram<'a> {
    /// The quoted IPv4 header, checked by [`Ipv4Packet::new_quoted`] (its total length may
    /// exceed the quote; its checksum is not checked).
    pub header: Ipv4Packet<&'a [u8]>,
    /// The first 8 data bytes, or all of the original datagram's data if it had fewer.
    pub leading: &'a [u8],
}

impl<'a> QuotedDatagram<'a> {
    /// Reads the quote of an error message (everything after the ICMP header).
    pub fn parse(quoted: &'a [u8]) -> Result<Self, Icmpv4Error> {
        let header = Ipv4Packet::new_quoted(quoted).map_err(Icmpv4Error::QuotedHeader)?;
        let start = header.header_len();
        let end = usize::from(header.total_len()).min(quoted.len());
        let present = quoted.get(start..end).unwrap_or(&[]);
        // RFC 792: "Internet Header + 64 bits of Original Data Datagram"; RFC 1122 §3.2.2:
        // "at least the first 8 data octets".
        let original = usize::from(header.total_len()).saturating_sub(start);
        let needed = original.min(8);
        let leading = present
            .get(..needed)
            .ok_or(Icmpv4Error::QuotedDataTruncated {
                len: present.len(),
                needed,
            })?;
        Ok(QuotedDatagram { header, leading })
    }

    /// Source and destination ports, for a quoted TCP or UDP datagram that is not a non-first
    /// fragment (only the first fragment carries the transport header).
    pub fn ports(&self) -> Option<(u16, u16)> {
        let p = self.header.protocol();
        if (p != IpProtocol::TCP && p != IpProtocol::UDP) || self.header.frag_offset_units() != 0 {
            return None;
        }
        Some((be16(self.leading, 0)?, be16(self.leading, 2)?))
    }
}

/// The checksum a message should carry: its sum with the checksum field left out.
fn expected_checksum(message: &[u8]) -> u16 {
    Checksum::new()
        .add_bytes(message.get(..2).unwrap_or(&[]))
        .add_bytes(message.get(4..).unwrap_or(&[]))
        .finish()
}

/// A checked view of an ICMP message (the whole IPv4 payload).
///
/// Invariant: the buffer holds at least the 8-byte header.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

const NO_HEADER: [u8; HEADER_LEN] = [0; HEADER_LEN];

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Validates that the message holds its 8-byte header. `buffer` must be exactly the
    /// message: the IPv4 payload, whose length the IPv4 total length sets.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Icmpv4Error> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Icmpv4Error::Truncated { len });
        }
        Ok(Icmpv4Packet { buffer })
    }

    #[inline]
    fn fixed(&self) -> &[u8; HEADER_LEN] {
        self.buffer.as_ref().first_chunk().unwrap_or(&NO_HEADER)
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Icmpv4Type {
        Icmpv4Type(self.fixed()[0])
    }
    /// Code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.fixed()[1]
    }
    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        let h = self.fixed();
        u16::from_be_bytes([h[2], h[3]])
    }
    /// The 4 bytes after the checksum, whose meaning depends on the type.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        let h = self.fixed();
        u32::from_be_bytes([h[4], h[5], h[6], h[7]])
    }
    /// Echo identifier (bytes 4-5; RFC 792 Echo and Echo Reply).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        (self.rest_of_header() >> 16) as u16
    }
    /// Echo sequence number (bytes 6-7).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.rest_of_header() as u16
    }
    /// Next-hop MTU of a "fragmentation needed" Destination Unreachable (RFC 1191 §4: the
    /// low-order 16 bits of the rest of header; 0 from routers that predate RFC 1191).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        self.rest_of_header() as u16
    }
    /// Pointer of a Parameter Problem (byte 4): the offset of the offending octet in the
    /// quoted header.
    #[inline]
    pub fn pointer(&self) -> u8 {
        self.fixed()[4]
    }
    /// Everything after the 8-byte header (echo data, or the quoted datagram of an error).
    #[inline]
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
    /// Length of the whole message.
    #[inline]
    pub fn message_len(&self) -> usize {
        self.buffer.as_ref().len()
    }
    /// True if the checksum over the whole message verifies (RFC 792; RFC 1071).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(self.buffer.as_ref())
    }
    /// The datagram quoted by an error message (see [`QuotedDatagram`]).
    pub fn quoted_datagram(&self) -> Result<QuotedDatagram<'_>, Icmpv4Error> {
        let msg_type = self.msg_type();
        if !msg_type.is_error() {
            return Err(Icmpv4Error::NotAnErrorMessage { msg_type });
        }
        QuotedDatagram::parse(self.data())
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, msg_type: Icmpv4Type) {
        if let Some(b) = self.buffer.as_mut().get_mut(0) {
            *b = msg_type.0;
        }
    }
    /// Sets the code.
    pub fn set_code(&mut self, code: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(1) {
            *b = code;
        }
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        put16(self.buffer.as_mut(), 2, value);
    }
    /// Sets the 4 bytes after the checksum.
    pub fn set_rest_of_header(&mut self, value: u32) {
        put32(self.buffer.as_mut(), 4, value);
    }
    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, ident: u16) {
        put16(self.buffer.as_mut(), 4, ident);
    }
    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, seq_no: u16) {
        put16(self.buffer.as_mut(), 6, seq_no);
    }
    /// Everything after the header, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or(&mut [])
    }
    /// Computes the checksum over the whole message and writes it (RFC 792: computed with the
    /// field zero).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// The meaning of an ICMP message.
///
/// Every field of the header is kept somewhere, so any message emits back byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Echo (type 8, code 0; RFC 792).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, returned unchanged in the reply (RFC 1122 §3.2.2.6).
        data: &'a [u8],
    },
    /// Echo Reply (type 0, code 0; RFC 792).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data.
        data: &'a [u8],
    },
    /// Destination Unreachable (type 3).
    DstUnreachable {
        /// Why.
        code: DstUnreachableCode,
        /// Next-hop MTU (RFC 1191 §4), meaningful for [`DstUnreachableCode::FRAG_NEEDED`] and
        /// zero otherwise in well-formed messages (kept as found).
        next_hop_mtu: u16,
        /// Bytes 4-5, "unused" in RFC 792 (RFC 4884 §4.1 puts the quoted datagram's length in
        /// 32-bit words in byte 5 when extensions follow); kept as found.
        unused: u16,
        /// The quoted datagram (IPv4 header + leading data; see [`QuotedDatagram`]).
        quoted: &'a [u8],
    },
    /// Time Exceeded (type 11).
    TimeExceeded {
        /// Why.
        code: TimeExceededCode,
        /// Bytes 4-7, "unused" in RFC 792 (RFC 4884 length in byte 5); kept as found.
        unused: u32,
        /// The quoted datagram.
        quoted: &'a [u8],
    },
    /// Parameter Problem (type 12).
    ParameterProblem {
        /// What kind of problem.
        code: ParamProblemCode,
        /// Offset of the offending octet in the quoted datagram (code 0).
        pointer: u8,
        /// Bytes 5-7 (24 bits), "unused" in RFC 792 (RFC 4884 length in byte 5); kept as
        /// found.
        unused: u32,
        /// The quoted datagram.
        quoted: &'a [u8],
    },
    /// Any other message, including Echo with a non-zero code; kept exactly.
    Other {
        /// Type.
        msg_type: Icmpv4Type,
        /// Code.
        code: u8,
        /// The 4 bytes after the checksum.
        rest_of_header: u32,
        /// Everything after the header.
        data: &'a [u8],
    },
}

/// True if (type, code) parses as one of the typed variants rather than `Other`.
fn has_typed_variant(msg_type: Icmpv4Type, code: u8) -> bool {
    match msg_type {
        Icmpv4Type::DST_UNREACHABLE | Icmpv4Type::TIME_EXCEEDED | Icmpv4Type::PARAMETER_PROBLEM => {
            true
        }
        Icmpv4Type::ECHO_REQUEST | Icmpv4Type::ECHO_REPLY => code == 0,
        _ => false,
    }
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads a checked message, rejecting a wrong checksum under [`ChecksumMode::Verify`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv4Packet<&'a T>,
        mode: ChecksumMode,
    ) -> Result<Self, Icmpv4Error> {
        let b: &'a [u8] = T::as_ref(packet.buffer);
        // RFC 1122 §3.2.2: ICMP messages with a bad checksum are silently discarded.
        if mode == ChecksumMode::Verify && !checksum::verifies(b) {
            return Err(Icmpv4Error::BadChecksum {
                found: packet.checksum(),
                expected: expected_checksum(b),
            });
        }
        let body: &'a [u8] = b.get(HEADER_LEN..).unwrap_or(&[]);
        let (msg_type, code, rest) = (packet.msg_type(), packet.code(), packet.rest_of_header());
        let (hi, lo) = ((rest >> 16) as u16, rest as u16);
        Ok(match msg_type {
            // RFC 792 (Echo or Echo Reply Message): code 0, identifier, sequence number.
            Icmpv4Type::ECHO_REQUEST if code == 0 => Icmpv4Repr::EchoRequest {
                ident: hi,
                seq_no: lo,
                data: body,
            },
            Icmpv4Type::ECHO_REPLY if code == 0 => Icmpv4Repr::EchoReply {
                ident: hi,
                seq_no: lo,
                data: body,
            },
            // RFC 1191 §4: the next-hop MTU sits in the low-order 16 bits.
            Icmpv4Type::DST_UNREACHABLE => Icmpv4Repr::DstUnreachable {
                code: DstUnreachableCode(code),
                next_hop_mtu: lo,
                unused: hi,
                quoted: body,
            },
            Icmpv4Type::TIME_EXCEEDED => Icmpv4Repr::TimeExceeded {
                code: TimeExceededCode(code),
                unused: rest,
                quoted: body,
            },
            // RFC 792 (Parameter Problem Message): the pointer is the first byte after the
            // checksum.
            Icmpv4Type::PARAMETER_PROBLEM => Icmpv4Repr::ParameterProblem {
                code: ParamProblemCode(code),
                pointer: (rest >> 24) as u8,
                unused: rest & 0x00ff_ffff,
                quoted: body,
            },
            _ => Icmpv4Repr::Other {
                msg_type,
                code,
                rest_of_header: rest,
                data: body,
            },
        })
    }

    /// The message type.
    pub fn msg_type(&self) -> Icmpv4Type {
        match *self {
            Self::EchoRequest { .. } => Icmpv4Type::ECHO_REQUEST,
            Self::EchoReply { .. } => Icmpv4Type::ECHO_REPLY,
            Self::DstUnreachable { .. } => Icmpv4Type::DST_UNREACHABLE,
            Self::TimeExceeded { .. } => Icmpv4Type::TIME_EXCEEDED,
            Self::ParameterProblem { .. } => Icmpv4Type::PARAMETER_PROBLEM,
            Self::Other { msg_type, .. } => msg_type,
        }
    }

    /// The code.
    pub fn code(&self) -> u8 {
        match *self {
            Self::EchoRequest { .. } | Self::EchoReply { .. } => 0,
            Self::DstUnreachable { code, .. } => code.0,
            Self::TimeExceeded { code, .. } => code.0,
            Self::ParameterProblem { code, .. } => code.0,
            Self::Other { code, .. } => code,
        }
    }

    /// The 4 bytes after the checksum, as emitted.
    pub fn rest_of_header(&self) -> u32 {
        match *self {
            Self::EchoRequest { ident, seq_no, .. } | Self::EchoReply { ident, seq_no, .. } => {
                (u32::from(ident) << 16) | u32::from(seq_no)
            }
            Self::DstUnreachable {
                next_hop_mtu,
                unused,
                ..
            } => (u32::from(unused) << 16) | u32::from(next_hop_mtu),
            Self::TimeExceeded { unused, .. } => unused,
            Self::ParameterProblem {
                pointer, unused, ..
            } => (u32::from(pointer) << 24) | unused,
            Self::Other { rest_of_header, .. } => rest_of_header,
        }
    }

    /// Everything after the header: echo data, the quoted datagram, or other data.
    pub fn data(&self) -> &'a [u8] {
        match *self {
            Self::EchoRequest { data, .. }
            | Self::EchoReply { data, .. }
            | Self::Other { data, .. }
            | Self::DstUnreachable { quoted: data, .. }
            | Self::TimeExceeded { quoted: data, .. }
            | Self::ParameterProblem { quoted: data, .. } => data,
        }
    }

    /// The datagram quoted by an error message (including Source Quench and Redirect, which
    /// parse as `Other`).
    pub fn quoted_datagram(&self) -> Result<QuotedDatagram<'a>, Icmpv4Error> {
        let msg_type = self.msg_type();
        if !msg_type.is_error() {
            return Err(Icmpv4Error::NotAnErrorMessage { msg_type });
        }
        QuotedDatagram::parse(self.data())
    }

    /// Bytes of the ICMP header.
    pub fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Bytes `emit` writes: the whole message.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data().len()
    }

    /// Writes the whole message at the start of `buf` and fills in its checksum.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let unencodable = |field, reason| Err(EmitError::Unencodable { field, reason });
        if let Self::ParameterProblem { unused, .. } = *self
            && unused > 0x00ff_ffff
        {
            return unencodable(
                "unused",
                "Parameter Problem keeps 24 unused bits after the pointer",
            );
        }
        if let Self::Other { msg_type, code, .. } = *self
            && has_typed_variant(msg_type, code)
        {
            return unencodable(
                "msg_type",
                "Echo (code 0), Destination Unreachable, Time Exceeded and Parameter Problem \
                 have their own variants",
            );
        }
        let len = self.buffer_len();
        if len > MAX_MESSAGE_LEN {
            return unencodable(
                "data",
                "the message exceeds what an IPv4 datagram can carry",
            );
        }
        need(buf, len)?;
        let Some(out) = buf.get_mut(..len) else {
            return unencodable("buffer", "too small");
        };
        let r = self.rest_of_header().to_be_bytes();
        let header = [self.msg_type().0, self.code(), 0, 0, r[0], r[1], r[2], r[3]];
        let (h, d) = out.split_at_mut(HEADER_LEN);
        h.copy_from_slice(&header);
        d.copy_from_slice(self.data());
        let c = checksum::checksum(out);
        put16(out, 2, c);
        Ok(len)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Icmpv4Repr<'a> {
    /// Valid by construction: `Other` never takes a (type, code) that parses as a typed
    /// variant, Parameter Problem's unused bits fit 24 bits, and messages stay short.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let variant = u.int_in_range(0..=5u8)?;
        let n = u.int_in_range(0..=u.len().min(600))?;
        let data = u.bytes(n.min(u.len()))?;
        Ok(match variant {
            0 => Icmpv4Repr::EchoRequest {
                ident: u.arbitrary()?,
                seq_no: u.arbitrary()?,
                data,
            },
            1 => Icmpv4Repr::EchoReply {
                ident: u.arbitrary()?,
                seq_no: u.arbitrary()?,
                data,
            },
            2 => Icmpv4Repr::DstUnreachable {
                code: u.arbitrary()?,
                next_hop_mtu: u.arbitrary()?,
                unused: if u.ratio(1, 4)? { u.arbitrary()? } else { 0 },
                quoted: data,
            },
            3 => Icmpv4Repr::TimeExceeded {
                code: u.arbitrary()?,
                unused: if u.ratio(1, 4)? { u.arbitrary()? } else { 0 },
                quoted: data,
            },
            4 => Icmpv4Repr::ParameterProblem {
                code: u.arbitrary()?,
                pointer: u.arbitrary()?,
                unused: if u.ratio(1, 4)? {
                    u.int_in_range(0..=0x00ff_ffff)?
                } else {
                    0
                },
                quoted: data,
            },
            _ => {
                let mut msg_type: Icmpv4Type = u.arbitrary()?;
                let mut code: u8 = u.arbitrary()?;
                if has_typed_variant(msg_type, code) {
                    if matches!(msg_type, Icmpv4Type::ECHO_REQUEST | Icmpv4Type::ECHO_REPLY) {
                        code = 1;
                    } else {
                        msg_type = Icmpv4Type::EXTENDED_ECHO_REQUEST;
                    }
                }
                Icmpv4Repr::Other {
                    msg_type,
                    code,
                    rest_of_header: u.arbitrary()?,
                    data,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[cfg(not(feature = "std"))]
    extern crate std;
    use super::*;
    use crate::ipv4::{Ipv4Option, Ipv4Repr};
    use crate::{Ipv4Addr, ipv4};
    use std::{println, string::ToString, vec, vec::Vec};

    /// An emitted message.
    fn emitted(r: &Icmpv4Repr<'_>) -> Vec<u8> {
        let mut v = vec![0u8; r.buffer_len()];
        assert_eq!(r.emit(&mut v).unwrap(), v.len());
        v
    }

    /// The IPv4 header + first 8 data bytes of a `total`-byte UDP datagram, 5353 -> 53.
    fn udp_quote(total: usize) -> Vec<u8> {
        let ip = Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(192, 0, 2, 53),
            protocol: IpProtocol::UDP,
            ttl: 1,
            dscp: 0,
            ecn: 0,
            ident: 0x4242,
            reserved_flag: false,
            dont_frag: true,
            more_frags: false,
            frag_offset_units: 0,
            options: Default::default(),
            options_padding: &[],
            payload_len: total - 20,
        };
        let mut v = vec![0u8; 20];
        ip.emit(&mut v).unwrap();
        let udp_len = (total - 20) as u16;
        v.extend(5353u16.to_be_bytes());
        v.extend(53u16.to_be_bytes());
        v.extend(udp_len.to_be_bytes());
        v.extend([0xab, 0xcd]);
        v
    }

    #[test]
    fn icmp_echo_request_parses_and_emits_after_headroom() {
        let data = b"abcdefghijklmnopqrstuvwabcdefghi";
        let echo = Icmpv4Repr::EchoRequest {
            ident: 0x1a2b,
            seq_no: 7,
            data,
        };
        // Ethernet headroom, then IPv4, then ICMP.
        let ip = Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: IpProtocol::ICMP,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 1,
            reserved_flag: false,
            dont_frag: false,
            more_frags: false,
            frag_offset_units: 0,
            options: Default::default(),
            options_padding: &[],
            payload_len: echo.buffer_len(),
        };
        let mut frame = vec![0x55u8; 14 + ip.buffer_len()];
        let hl = ip.emit(&mut frame[14..]).unwrap();
        assert_eq!(echo.emit(&mut frame[14 + hl..]).unwrap(), 40);
        assert_eq!(frame[..14], [0x55; 14]);

        let ipp = ipv4::Ipv4Packet::new_checked(&frame[14..]).unwrap();
        let p = Icmpv4Packet::new_checked(ipp.payload()).unwrap();
        assert_eq!(p.msg_type(), Icmpv4Type::ECHO_REQUEST);
        assert_eq!((p.code(), p.echo_ident(), p.echo_seq_no()), (0, 0x1a2b, 7));
        assert_eq!(p.data(), data);
        assert_eq!(p.message_len(), 40);
        assert!(p.verify_checksum());
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), echo);
        assert_eq!(
            p.quoted_datagram().unwrap_err(),
            Icmpv4Error::NotAnErrorMessage {
                msg_type: Icmpv4Type::ECHO_REQUEST
            }
        );
        // The reply: same ident, seq and data.
        let reply = Icmpv4Repr::EchoReply {
            ident: 0x1a2b,
            seq_no: 7,
            data,
        };
        let b = emitted(&reply);
        assert_eq!(b[..2], [0, 0]);
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), reply);
    }

    #[test]
    fn icmp_rejects_truncated_and_bad_checksum() {
        assert_eq!(
            Icmpv4Packet::new_checked(&[8u8, 0, 0, 0, 0, 0, 0][..]).unwrap_err(),
            Icmpv4Error::Truncated { len: 7 }
        );
        let mut b = emitted(&Icmpv4Repr::EchoRequest {
            ident: 1,
            seq_no: 2,
            data: &[1, 2, 3],
        });
        let good = u16::from_be_bytes([b[2], b[3]]);
        b[9] ^= 0xff;
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum());
        let err = Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap_err();
        let Icmpv4Error::BadChecksum { found, expected } = err else {
            panic!("{err:?}")
        };
        assert_eq!(found, good);
        assert!(err.to_string().starts_with("ICMP checksum"));
        assert!(matches!(
            Icmpv4Repr::parse(&p, ChecksumMode::Trust),
            Ok(Icmpv4Repr::EchoRequest {
                data: &[1, 0xfd, 3],
                ..
            })
        ));
        let mut m = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        m.fill_checksum();
        assert_eq!(m.checksum(), expected);
        assert!(m.verify_checksum());
        m.set_echo_seq_no(9);
        m.set_echo_ident(8);
        m.data_mut()[0] = 0;
        m.fill_checksum();
        assert!(m.verify_checksum());
        assert_eq!((m.echo_ident(), m.echo_seq_no()), (8, 9));
    }

    #[test]
    fn icmp_frag_needed_carries_mtu_and_quoted_ports() {
        let quote = udp_quote(1500);
        let r = Icmpv4Repr::DstUnreachable {
            code: DstUnreachableCode::FRAG_NEEDED,
            next_hop_mtu: 1400,
            unused: 0,
            quoted: &quote,
        };
        let b = emitted(&r);
        assert_eq!(b[..8], [3, 4, b[2], b[3], 0, 0, 0x05, 0x78]);
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.next_hop_mtu(), 1400);
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), r);
        let q = p.quoted_datagram().unwrap();
        assert!(q.header.is_truncated());
        assert_eq!(q.header.total_len(), 1500);
        assert_eq!(q.header.dst(), Ipv4Addr::new(192, 0, 2, 53));
        assert_eq!(q.header.protocol(), IpProtocol::UDP);
        assert_eq!(q.leading, &quote[20..28]);
        assert_eq!(q.ports(), Some((5353, 53)));
        let q2 = r.quoted_datagram().unwrap();
        assert_eq!(q2.leading, q.leading);
        assert_eq!(
            DstUnreachableCode::FRAG_NEEDED.to_string(),
            "fragmentation needed and DF set"
        );
    }

    #[test]
    fn icmp_time_exceeded_and_parameter_problem() {
        let quote = udp_quote(60);
        // RFC 4884 length (byte 5) is kept as found.
        let te = Icmpv4Repr::TimeExceeded {
            code: TimeExceededCode::TTL_EXCEEDED,
            unused: 0x0000_2000,
            quoted: &quote,
        };
        let b = emitted(&te);
        assert_eq!(b[..2], [11, 0]);
        assert_eq!(b[4..8], [0, 0, 0x20, 0]);
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), te);
        assert_eq!(te.quoted_datagram().unwrap().ports(), Some((5353, 53)));

        let pp = Icmpv4Repr::ParameterProblem {
            code: ParamProblemCode::POINTER,
            pointer: 20,
            unused: 0x00_0a00,
            quoted: &quote,
        };
        let b = emitted(&pp);
        assert_eq!(b[..2], [12, 0]);
        assert_eq!(b[4..8], [20, 0, 0x0a, 0]);
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.pointer(), 20);
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), pp);
        assert_eq!(pp.msg_type(), Icmpv4Type::PARAMETER_PROBLEM);
        assert_eq!(pp.rest_of_header(), 0x1400_0a00);
        assert_eq!(
            TimeExceededCode(1).to_string(),
            "fragment reassembly time exceeded"
        );
        assert_eq!(ParamProblemCode(2).to_string(), "bad length");
        // Unknown codes are values, not errors.
        let b = emitted(&Icmpv4Repr::DstUnreachable {
            code: DstUnreachableCode(200),
            next_hop_mtu: 0,
            unused: 0,
            quoted: &quote,
        });
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert!(matches!(
            Icmpv4Repr::parse(&p, ChecksumMode::Verify),
            Ok(Icmpv4Repr::DstUnreachable {
                code: DstUnreachableCode(200),
                ..
            })
        ));
        assert_eq!(DstUnreachableCode(200).to_string(), "code 200");
    }

    #[test]
    fn icmp_quoted_datagram_errors() {
        let unreach = |quoted: &[u8]| {
            let r = Icmpv4Repr::DstUnreachable {
                code: DstUnreachableCode::PORT_UNREACHABLE,
                next_hop_mtu: 0,
                unused: 0,
                quoted,
            };
            Icmpv4Packet::new_checked(emitted(&r))
                .unwrap()
                .quoted_datagram()
                .map(|q| (q.leading.to_vec(), q.ports()))
        };
        let quote = udp_quote(100);
        assert_eq!(
            unreach(&quote[..19]).unwrap_err(),
            Icmpv4Error::QuotedHeader(Ipv4Error::Truncated { len: 19 })
        );
        let mut v6 = quote.clone();
        v6[0] = 0x60;
        assert_eq!(
            unreach(&v6).unwrap_err(),
            Icmpv4Error::QuotedHeader(Ipv4Error::BadVersion { version: 6 })
        );
        assert_eq!(
            unreach(&quote[..24]).unwrap_err(),
            Icmpv4Error::QuotedDataTruncated { len: 4, needed: 8 }
        );
        // A datagram with only 4 data bytes is quoted whole.
        let mut tiny = udp_quote(24);
        tiny.truncate(24);
        assert_eq!(
            unreach(&tiny).unwrap(),
            (tiny[20..24].to_vec(), Some((5353, 53)))
        );
        // A non-first fragment has no ports; neither has ICMP.
        let frag = ipv4::Ipv4Packet::new_quoted(&quote[..]).unwrap();
        let mut r = Ipv4Repr::parse(&frag, ChecksumMode::Verify).unwrap();
        r.frag_offset_units = 10;
        let mut q = quote.clone();
        r.emit(&mut q).unwrap();
        assert_eq!(unreach(&q).unwrap().1, None);
        r.frag_offset_units = 0;
        r.protocol = IpProtocol::ICMP;
        r.emit(&mut q).unwrap();
        assert_eq!(unreach(&q).unwrap().1, None);
        // A quoted header with options.
        r.options.push(Ipv4Option::RouterAlert(0));
        let mut q = vec![0u8; 24];
        r.emit(&mut q).unwrap();
        q.extend_from_slice(&quote[20..28]);
        assert_eq!(unreach(&q).unwrap().0, &quote[20..28]);
        assert_eq!(
            Icmpv4Error::QuotedDataTruncated { len: 4, needed: 8 }.to_string(),
            "ICMP error quotes 4 data bytes of the original datagram, RFC 1122 §3.2.2 requires 8"
        );
    }

    #[test]
    fn icmp_other_messages_round_trip_exactly() {
        let quote = udp_quote(100);
        let cases = [
            // Source quench quotes a datagram too.
            Icmpv4Repr::Other {
                msg_type: Icmpv4Type::SOURCE_QUENCH,
                code: 0,
                rest_of_header: 0,
                data: &quote,
            },
            // Redirect: gateway address in the rest of header.
            Icmpv4Repr::Other {
                msg_type: Icmpv4Type::REDIRECT,
                code: 1,
                rest_of_header: 0x0a00_00fe,
                data: &quote,
            },
            Icmpv4Repr::Other {
                msg_type: Icmpv4Type::TIMESTAMP,
                code: 0,
                rest_of_header: 0x0001_0002,
                data: &[0; 12],
            },
            // Echo with a non-zero code is not an Echo.
            Icmpv4Repr::Other {
                msg_type: Icmpv4Type::ECHO_REQUEST,
                code: 3,
                rest_of_header: 5,
                data: b"x",
            },
        ];
        for r in cases {
            let b = emitted(&r);
            let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
            assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), r);
            let q = r.quoted_datagram();
            assert_eq!(q.is_ok(), r.msg_type().is_error(), "{r:?}");
            if let Ok(q) = q {
                assert_eq!(q.ports(), Some((5353, 53)));
            }
        }
        assert_eq!(Icmpv4Type(42).to_string(), "extended echo request");
        assert_eq!(Icmpv4Type(99).to_string(), "type 99");
    }

    #[test]
    fn icmp_emit_refuses_unencodable_reprs() {
        let field = |r: Icmpv4Repr<'_>| match r.emit(&mut [0u8; 64]) {
            Err(EmitError::Unencodable { field, .. }) => field,
            other => panic!("expected Unencodable, got {other:?}"),
        };
        for (t, c) in [(3, 0), (11, 1), (12, 0), (8, 0), (0, 0)] {
            let r = Icmpv4Repr::Other {
                msg_type: Icmpv4Type(t),
                code: c,
                rest_of_header: 0,
                data: &[],
            };
            assert_eq!(field(r), "msg_type");
        }
        assert_eq!(
            field(Icmpv4Repr::ParameterProblem {
                code: ParamProblemCode::POINTER,
                pointer: 0,
                unused: 0x0100_0000,
                quoted: &[],
            }),
            "unused"
        );
        let big = vec![0u8; MAX_MESSAGE_LEN];
        assert_eq!(
            field(Icmpv4Repr::EchoRequest {
                ident: 0,
                seq_no: 0,
                data: &big
            }),
            "data"
        );
        let r = Icmpv4Repr::EchoReply {
            ident: 0,
            seq_no: 0,
            data: &[1, 2],
        };
        assert_eq!(
            r.emit(&mut [0u8; 9]),
            Err(EmitError::BufferTooSmall {
                needed: 10,
                available: 9
            })
        );
    }

    /// The ICMP message (IPv4 payload) of every ICMP frame in an Ethernet capture, with the
    /// IPv4 view's verdict on the whole datagram.
    fn capture_icmp(name: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for data in crate::testutil::ethernet_frames(name) {
            let Ok(eth) = crate::EthernetFrame::new_checked(&data[..]) else {
                continue;
            };
            let Ok(ip) = ipv4::Ipv4Packet::new_checked(eth.payload()) else {
                continue;
            };
            if ip.protocol() == IpProtocol::ICMP && !ip.is_fragment() {
                out.push(ip.payload().to_vec());
            }
        }
        out
    }

    #[test]
    fn icmp_captures_parse_verify_and_round_trip() {
        // RFC 8335 extended echo: types 42/43 kept as Other, byte-exact.
        let msgs = capture_icmp("icmp-rfc8335.pcap");
        assert_eq!(msgs.len(), 10);
        for m in &msgs {
            let p = Icmpv4Packet::new_checked(&m[..]).unwrap();
            let r = Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
            assert!(matches!(
                r,
                Icmpv4Repr::Other {
                    msg_type: Icmpv4Type::EXTENDED_ECHO_REQUEST | Icmpv4Type::EXTENDED_ECHO_REPLY,
                    ..
                }
            ));
            assert_eq!(&emitted(&r), m);
        }
        // AFS capture: the ICMP errors quote UDP datagrams whose ports are readable.
        let (mut errors, mut with_ports, mut others) = (0, 0, 0);
        for name in ["afs.pcap", "dhcp-rfc4388.pcap"] {
            for m in capture_icmp(name) {
                let p = Icmpv4Packet::new_checked(&m[..]).unwrap();
                let r = Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
                assert_eq!(emitted(&r), m);
                if r.msg_type().is_error() {
                    let q = r.quoted_datagram().unwrap();
                    let transport =
                        matches!(q.header.protocol(), IpProtocol::UDP | IpProtocol::TCP);
                    assert_eq!(q.ports().is_some(), transport, "{name}: {r:?}");
                    errors += 1;
                    with_ports += usize::from(transport);
                } else {
                    others += 1;
                }
            }
        }
        println!("{errors} ICMP errors ({with_ports} quoting ports), {others} other messages");
        assert!(with_ports > 0 && others > 0);
    }

    #[cfg(feature = "arbitrary")]
    #[test]
    fn icmp_round_trips() {
        use arbitrary::{Arbitrary, Unstructured};
        use rand::{RngCore, SeedableRng};
        let seed = 0x792_1191;
        println!("seed {seed:#x}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut raw = vec![0u8; 1024];
        let mut buf = vec![0u8; 2048];
        let mut n = 0;
        while n < 10_000 {
            rng.fill_bytes(&mut raw);
            let mut u = Unstructured::new(&raw);
            let r = Icmpv4Repr::arbitrary(&mut u).unwrap();
            let headroom = 20 + (n % 4) * 3;
            let len = r.emit(&mut buf[headroom..]).unwrap();
            assert_eq!(len, r.buffer_len());
            let msg = &buf[headroom..headroom + len];
            let p = Icmpv4Packet::new_checked(msg).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), r);
            assert_eq!(p.rest_of_header(), r.rest_of_header());
            n += 1;
        }
        println!("{n} icmpv4 round trips checked");
    }
}
