//! TCP segments (RFC 9293 §3.1), with the options of RFC 7323 (window scale, timestamps),
//! RFC 2018 (SACK), the ECN flags of RFC 3168 and AccECN's AE flag (RFC 9768).
//!
//! The view's buffer is exactly the segment: the IPv4 payload cut at the IPv4 total length.
//! [`TcpPacket::new_checked`] validates the data offset and every option in one pass, so the
//! option iterator and all accessors afterwards are infallible. The checksum covers the IPv4
//! pseudo-header (RFC 9293 §3.1 "Checksum"), so checksum work takes both addresses.

mod options;

pub use options::{
    MAX_OPTIONS_LEN, TcpOption, TcpOptionIter, TcpOptionList, emit_options, kind, options_len,
    parse_options,
};

use crate::checksum::{Checksum, ChecksumMode};
use crate::{EmitError, Ipv4Addr, need, put16, put32};

/// Length of the fixed header (data offset 5).
pub const HEADER_LEN: usize = 20;

/// Longest header: data offset 15.
pub const MAX_HEADER_LEN: usize = 60;

/// IP protocol number of TCP (used in the pseudo-header).
pub const PROTOCOL: u8 = 6;

/// Why bytes are not a valid TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// Fewer than the 20 bytes of the fixed header.
    #[error("TCP segment truncated: {len} bytes, header needs 20")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// The data offset is below 5 words (RFC 9293 §3.1).
    #[error("TCP data offset {data_offset} words is below the minimum of 5 (20 bytes)")]
    DataOffsetTooSmall {
        /// The data offset field, in 32-bit words.
        data_offset: u8,
    },
    /// The data offset points past the end of the segment.
    #[error("TCP data offset gives a {header_len}-byte header but the segment has {len} bytes")]
    DataOffsetBeyondBuffer {
        /// Header length the data offset gives, in bytes.
        header_len: usize,
        /// Bytes present.
        len: usize,
    },
    /// An option kind byte ends the option area, leaving no room for its length byte.
    #[error("TCP option kind {kind} at offset {offset} has no length byte: the option area ends")]
    OptionTruncated {
        /// Offset of the option's kind byte.
        offset: usize,
        /// The option kind.
        kind: u8,
    },
    /// An option length below 2 (it counts the kind and length bytes).
    #[error("TCP option kind {kind} at offset {offset} has length {len}, the minimum is 2")]
    OptionLengthTooSmall {
        /// Offset of the option's kind byte.
        offset: usize,
        /// The option kind.
        kind: u8,
        /// The length byte.
        len: u8,
    },
    /// An option runs past the end of the option area.
    #[error(
        "TCP option kind {kind} at offset {offset} has length {len} but only {available} bytes \
         of the option area remain"
    )]
    OptionOverrun {
        /// Offset of the option's kind byte.
        offset: usize,
        /// The option kind.
        kind: u8,
        /// The length byte.
        len: u8,
        /// Option-area bytes from the kind byte to the end of the area.
        available: usize,
    },
    /// A fixed-length option with the wrong length.
    #[error(
        "TCP {} option (kind {kind}) at offset {offset} has length {len}, must be {}",
        options::fixed_length_rule(*kind).0,
        options::fixed_length_rule(*kind).1
    )]
    OptionBadLength {
        /// Offset of the option's kind byte.
        offset: usize,
        /// The option kind.
        kind: u8,
        /// The length byte.
        len: u8,
    },
    /// A standalone option area longer than the 40 bytes a header can carry
    /// ([`parse_options`] only).
    #[error("TCP option area of {len} bytes is longer than the 40-byte maximum")]
    OptionsTooLong {
        /// Bytes given.
        len: usize,
    },
    /// The checksum does not match the segment (only with [`ChecksumMode::Verify`]).
    #[error("TCP checksum {found:#06x} is wrong, expected {expected:#06x}")]
    ChecksumMismatch {
        /// The transmitted checksum.
        found: u16,
        /// The checksum the segment should carry.
        expected: u16,
    },
}

/// The 12 flag bits after the data offset (RFC 9293 §3.1 "Control bits"; RFC 3168 §6.1 ECE
/// and CWR; RFC 9768 AE): bit 0 is FIN, bit 7 CWR, bit 8 AE, bits 9..=11 reserved.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u16);

impl TcpFlags {
    /// No flags.
    pub const EMPTY: TcpFlags = TcpFlags(0);
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECN-Echo (RFC 3168 §6.1).
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// Congestion Window Reduced (RFC 3168 §6.1).
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// Accurate ECN (RFC 9768; formerly the NS bit of RFC 3540).
    pub const AE: TcpFlags = TcpFlags(0x100);
    /// The three reserved bits (RFC 9293 §3.1: "must be zero", kept as received).
    pub const RESERVED: TcpFlags = TcpFlags(0xe00);
    /// All twelve bits.
    pub const ALL: TcpFlags = TcpFlags(0xfff);

    /// Flags from the low 12 bits of `bits`; higher bits are dropped.
    pub const fn from_bits_truncate(bits: u16) -> TcpFlags {
        TcpFlags(bits & 0x0fff)
    }
    /// The 12 bits.
    pub const fn bits(self) -> u16 {
        self.0
    }
    /// True if every flag of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// True if any flag of `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// True if no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }
    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }
    /// FIN is set.
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// SYN is set.
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// RST is set.
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// PSH is set.
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    /// ACK is set.
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// URG is set.
    pub const fn urg(self) -> bool {
        self.contains(Self::URG)
    }
    /// ECE is set.
    pub const fn ece(self) -> bool {
        self.contains(Self::ECE)
    }
    /// CWR is set.
    pub const fn cwr(self) -> bool {
        self.contains(Self::CWR)
    }
    /// AE is set.
    pub const fn ae(self) -> bool {
        self.contains(Self::AE)
    }
    /// The three reserved bits, as a number 0..=7.
    pub const fn reserved(self) -> u8 {
        (self.0 >> 9) as u8
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}
impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}
impl core::ops::BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

/// tcpdump's letters, in tcpdump's order (print-tcp.c `tcp_flag_values`).
const LETTERS: [(TcpFlags, char); 9] = [
    (TcpFlags::FIN, 'F'),
    (TcpFlags::SYN, 'S'),
    (TcpFlags::RST, 'R'),
    (TcpFlags::PSH, 'P'),
    (TcpFlags::ACK, '.'),
    (TcpFlags::URG, 'U'),
    (TcpFlags::ECE, 'E'),
    (TcpFlags::CWR, 'W'),
    (TcpFlags::AE, 'e'),
];

impl core::fmt::Display for TcpFlags {
    /// As tcpdump prints them inside `Flags [..]`: "S", "S.", "P.", "FSRP.UEW", "SEWe";
    /// "none" when no flag is set. The reserved bits are not shown (tcpdump does not either);
    /// `Debug` shows them.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use core::fmt::Write;
        if !self.intersects(TcpFlags(0x1ff)) {
            return f.write_str("none");
        }
        for (flag, c) in LETTERS {
            if self.contains(flag) {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

impl core::fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const NAMES: [&str; 9] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "AE"];
        f.write_str("TcpFlags(")?;
        let mut first = true;
        for (i, name) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if self.reserved() != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "RSV({:#x})", self.reserved())?;
        }
        f.write_str(")")
    }
}

/// A checked view of a TCP segment.
///
/// Invariant (established by [`TcpPacket::new_checked`]): the buffer holds the 20-byte fixed
/// header, `20 <= data offset * 4 <= buffer length`, and the option area is well formed.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

const ZERO_HEADER: [u8; HEADER_LEN] = [0; HEADER_LEN];

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Validates the fixed header, the data offset and the options, in one pass.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, TcpError> {
        let b = buffer.as_ref();
        let len = b.len();
        let Some(h) = b.first_chunk::<HEADER_LEN>() else {
            return Err(TcpError::Truncated { len });
        };
        // RFC 9293 §3.1 "Data Offset": the header length in 32-bit words, at least 5.
        let data_offset = h[12] >> 4;
        if data_offset < 5 {
            return Err(TcpError::DataOffsetTooSmall { data_offset });
        }
        let header_len = usize::from(data_offset) * 4;
        let Some(opts) = b.get(HEADER_LEN..header_len) else {
            return Err(TcpError::DataOffsetBeyondBuffer { header_len, len });
        };
        options::validate(opts, HEADER_LEN)?;
        Ok(TcpPacket { buffer })
    }

    /// The fixed header (all zero only if the invariant were broken).
    #[inline]
    fn hdr(&self) -> &[u8; HEADER_LEN] {
        self.buffer
            .as_ref()
            .first_chunk::<HEADER_LEN>()
            .unwrap_or(&ZERO_HEADER)
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        let h = self.hdr();
        u16::from_be_bytes([h[0], h[1]])
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        let h = self.hdr();
        u16::from_be_bytes([h[2], h[3]])
    }
    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        let h = self.hdr();
        u32::from_be_bytes([h[4], h[5], h[6], h[7]])
    }
    /// Acknowledgment number (meaningful when ACK is set).
    #[inline]
    pub fn ack_number(&self) -> u32 {
        let h = self.hdr();
        u32::from_be_bytes([h[8], h[9], h[10], h[11]])
    }
    /// The data offset field, in 32-bit words (5..=15).
    #[inline]
    pub fn data_offset(&self) -> u8 {
        self.hdr()[12] >> 4
    }
    /// Header length in bytes, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.data_offset()) * 4
    }
    /// The 12 flag bits.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        let h = self.hdr();
        TcpFlags::from_bits_truncate(u16::from_be_bytes([h[12], h[13]]))
    }
    /// The window field (unscaled).
    #[inline]
    pub fn window_len(&self) -> u16 {
        let h = self.hdr();
        u16::from_be_bytes([h[14], h[15]])
    }
    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        let h = self.hdr();
        u16::from_be_bytes([h[16], h[17]])
    }
    /// The urgent pointer field (meaningful when URG is set).
    #[inline]
    pub fn urgent_pointer(&self) -> u16 {
        let h = self.hdr();
        u16::from_be_bytes([h[18], h[19]])
    }
    /// The raw option area (header bytes after the first 20).
    #[inline]
    pub fn options_raw(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }
    /// The options in wire order, up to and including End of Option List.
    #[inline]
    pub fn options(&self) -> TcpOptionIter<'_> {
        TcpOptionIter::new(self.options_raw())
    }
    /// The bytes after End of Option List up to the data offset (padding; zero from a
    /// conforming sender), empty without End of Option List.
    pub fn options_trailer(&self) -> &[u8] {
        let mut it = self.options();
        for _ in &mut it {}
        it.trailer()
    }
    /// The payload (everything after the header).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }

    /// The first MSS option's value.
    pub fn mss(&self) -> Option<u16> {
        self.options().find_map(|o| match o {
            TcpOption::Mss(v) => Some(v),
            _ => None,
        })
    }
    /// The first window scale option's shift count.
    pub fn window_scale(&self) -> Option<u8> {
        self.options().find_map(|o| match o {
            TcpOption::WindowScale(v) => Some(v),
            _ => None,
        })
    }
    /// True if a SACK-permitted option is present.
    pub fn sack_permitted(&self) -> bool {
        self.options().any(|o| o == TcpOption::SackPermitted)
    }
    /// The first timestamps option as (TSval, TSecr).
    pub fn timestamps(&self) -> Option<(u32, u32)> {
        self.options().find_map(|o| match o {
            TcpOption::Timestamps { tsval, tsecr } => Some((tsval, tsecr)),
            _ => None,
        })
    }
    /// The blocks of the first SACK option (empty without one).
    pub fn sack_blocks(&self) -> arrayvec::ArrayVec<(u32, u32), 4> {
        self.options()
            .find_map(|o| match o {
                TcpOption::Sack(b) => Some(b),
                _ => None,
            })
            .unwrap_or_default()
    }
    /// Sequence space the segment occupies: payload plus one each for SYN and FIN
    /// (RFC 9293 §3.4).
    pub fn segment_len(&self) -> usize {
        let f = self.flags();
        self.payload().len() + usize::from(f.syn()) + usize::from(f.fin())
    }

    /// The sum of the pseudo-header and the whole segment (checksum field included), in
    /// network order: what `verify_checksum` tests, the plain way.
    #[cfg(test)]
    fn sum_all(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let b = self.buffer.as_ref();
        // RFC 9293 §3.1: the TCP length in the pseudo-header counts header and data; a
        // segment over 65535 bytes (a capture of an offloaded super-segment) cannot carry a
        // valid checksum, and the length wraps as it would in 16 bits.
        let mut c = Checksum::new();
        c.add_pseudo_header(src, dst, PROTOCOL, b.len() as u16)
            .add_bytes(b);
        c.sum()
    }

    /// The checksum the segment should carry when sent from `src` to `dst`.
    pub fn compute_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let b = self.buffer.as_ref();
        let mut c = Checksum::new();
        c.add_pseudo_header(src, dst, PROTOCOL, b.len() as u16)
            .add_bytes(b.get(..16).unwrap_or(&[]))
            .add_bytes(b.get(18..).unwrap_or(&[]));
        c.finish()
    }

    /// True if the checksum is right for a segment sent from `src` to `dst`
    /// (RFC 1071 §1: the covered data, checksum included, sums to all ones).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        // The whole sum in the machine's byte order (the pseudo-header's words as they would
        // lie in memory), compared with all ones unswapped (`native_sum_is_all_ones`). RFC
        // 9293 §3.1: the TCP length in the pseudo-header counts header and data; a segment
        // over 65535 bytes (a capture of an offloaded super-segment) cannot carry a valid
        // checksum, and the length wraps as it would in 16 bits.
        let b = self.buffer.as_ref();
        let pseudo = u64::from(u32::from_ne_bytes(src.octets()))
            + u64::from(u32::from_ne_bytes(dst.octets()))
            + u64::from(u16::from_ne_bytes([0, PROTOCOL]))
            + u64::from(u16::from_ne_bytes((b.len() as u16).to_be_bytes()));
        crate::checksum::native_sum_is_all_ones(crate::checksum::native_sum(b) + pseudo)
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// The options, borrowed for the lifetime of the underlying buffer.
    pub fn options_ref(&self) -> TcpOptionIter<'a> {
        let b: &'a [u8] = self.buffer.as_ref();
        TcpOptionIter::new(b.get(HEADER_LEN..self.header_len()).unwrap_or(&[]))
    }
    /// The payload, borrowed for the lifetime of the underlying buffer.
    pub fn payload_ref(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        b.get(self.header_len()..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 0, v);
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v);
    }
    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), 4, v);
    }
    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), 8, v);
    }
    /// Sets the 12 flag bits, keeping the data offset.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        let word = (u16::from(self.data_offset()) << 12) | flags.bits();
        put16(self.buffer.as_mut(), 12, word);
    }
    /// Sets the window field.
    pub fn set_window_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 14, v);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 16, v);
    }
    /// Sets the urgent pointer.
    pub fn set_urgent_pointer(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 18, v);
    }
    /// Computes and writes the checksum (after every other field and the payload are final).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let c = self.compute_checksum(src, dst);
        self.set_checksum(c);
    }
    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        self.buffer.as_mut().get_mut(at..).unwrap_or(&mut [])
    }
}

/// The meaning of a TCP segment. Every header field is kept as sent (the acknowledgment
/// number and urgent pointer even when their flags are clear, the reserved bits in `flags`),
/// so a parsed segment re-emits byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number.
    pub ack_number: u32,
    /// The 12 flag bits.
    pub flags: TcpFlags,
    /// Window field (unscaled).
    pub window_len: u16,
    /// Urgent pointer.
    pub urgent_pointer: u16,
    /// Options in wire order, up to and including End of Option List if present.
    pub options: TcpOptionList<'a>,
    /// Bytes after End of Option List up to the data offset (RFC 9293 §3.1 padding: zeros
    /// from a conforming sender, kept exactly whatever they are). Emission writes them after
    /// the options, then zeros up to a 4-byte boundary; non-empty only after End of Option List.
    pub options_trailer: &'a [u8],
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Reads a checked segment sent from `src` to `dst`; with [`ChecksumMode::Verify`] a wrong
    /// checksum is rejected.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<TcpRepr<'a>, TcpError> {
        if mode == ChecksumMode::Verify && !packet.verify_checksum(src, dst) {
            return Err(TcpError::ChecksumMismatch {
                found: packet.checksum(),
                expected: packet.compute_checksum(src, dst),
            });
        }
        let mut it = packet.options_ref();
        let mut options = TcpOptionList::new();
        for o in &mut it {
            // The option area has at most 40 bytes, so at most 40 options.
            let _ = options.try_push(o);
        }
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            urgent_pointer: packet.urgent_pointer(),
            options,
            options_trailer: it.trailer(),
            payload: packet.payload_ref(),
        })
    }

    /// Header length `emit` writes (options padded to 4 bytes), or why it cannot.
    pub fn try_header_len(&self) -> Result<usize, EmitError> {
        Ok(HEADER_LEN + options_len(&self.options, self.options_trailer)?)
    }

    /// Header length `emit` writes; for an unencodable option list, the unpadded sum.
    pub fn header_len(&self) -> usize {
        self.try_header_len().unwrap_or_else(|_| {
            HEADER_LEN
                + self.options_trailer.len()
                + self
                    .options
                    .iter()
                    .map(TcpOption::encoded_len)
                    .sum::<usize>()
        })
    }

    /// Bytes `emit` writes: header and payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN
    /// (RFC 9293 §3.4).
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// The first MSS option's value.
    pub fn mss(&self) -> Option<u16> {
        self.options.iter().find_map(|o| match o {
            TcpOption::Mss(v) => Some(*v),
            _ => None,
        })
    }
    /// The first window scale option's shift count.
    pub fn window_scale(&self) -> Option<u8> {
        self.options.iter().find_map(|o| match o {
            TcpOption::WindowScale(v) => Some(*v),
            _ => None,
        })
    }
    /// True if a SACK-permitted option is present.
    pub fn sack_permitted(&self) -> bool {
        self.options.contains(&TcpOption::SackPermitted)
    }
    /// The blocks of the first SACK option (empty without one).
    pub fn sack_blocks(&self) -> &[(u32, u32)] {
        self.options
            .iter()
            .find_map(|o| match o {
                TcpOption::Sack(b) => Some(b.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }
    /// The first timestamps option as (TSval, TSecr).
    pub fn timestamps(&self) -> Option<(u32, u32)> {
        self.options.iter().find_map(|o| match o {
            TcpOption::Timestamps { tsval, tsecr } => Some((*tsval, *tsecr)),
            _ => None,
        })
    }

    /// Writes header, options (then the trailer, then zeros to a 4-byte boundary), payload and
    /// checksum (over the pseudo-header for `src` -> `dst`) at the start of `buf`, which may
    /// sit after headroom the caller reserved for lower layers. Returns the bytes written.
    ///
    /// Refuses an option list that does not fit in 40 bytes or would not parse back (see
    /// [`options_len`]) and a segment longer than 65535 bytes.
    pub fn emit(&self, src: Ipv4Addr, dst: Ipv4Addr, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.emit_with(src, dst, buf, Some(self.payload), self.payload.len())
    }

    /// [`TcpRepr::emit`] for a payload the caller already wrote in place: the `payload_len`
    /// bytes at `buf[self.header_len()..]` are the payload (`self.payload` is not used). The
    /// header, options and the checksum over the pseudo-header, header and those bytes are
    /// written around it, so a sender can copy its payload once, straight into the frame.
    /// The bytes equal `emit`'s for a `self.payload` holding that payload.
    pub fn emit_around_payload(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_len: usize,
        buf: &mut [u8],
    ) -> Result<usize, EmitError> {
        self.emit_with(src, dst, buf, None, payload_len)
    }

    /// The header fields and options, borrowed: what emission needs.
    pub fn header(&self) -> TcpHeader<'_> {
        TcpHeader {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq_number: self.seq_number,
            ack_number: self.ack_number,
            flags: self.flags,
            window_len: self.window_len,
            urgent_pointer: self.urgent_pointer,
            options: &self.options,
            options_trailer: self.options_trailer,
        }
    }

    fn emit_with(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        buf: &mut [u8],
        payload: Option<&[u8]>,
        payload_len: usize,
    ) -> Result<usize, EmitError> {
        self.header().emit_with(src, dst, buf, payload, payload_len)
    }
}

/// A TCP header to send: the fixed fields and a borrowed option slice. [`TcpRepr`] owns an
/// option list as long as any parsed segment can carry (40 options, over a kilobyte); a
/// sender that emits a few options of its own builds this instead and copies nothing but
/// the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number.
    pub ack_number: u32,
    /// The 12 flag bits.
    pub flags: TcpFlags,
    /// Window field (unscaled).
    pub window_len: u16,
    /// Urgent pointer.
    pub urgent_pointer: u16,
    /// Options in wire order (see [`TcpRepr::options`]).
    pub options: &'a [TcpOption<'a>],
    /// Bytes after End of Option List (see [`TcpRepr::options_trailer`]).
    pub options_trailer: &'a [u8],
}

impl TcpHeader<'_> {
    /// Header length emission writes (options padded to 4 bytes), or why it cannot.
    pub fn try_header_len(&self) -> Result<usize, EmitError> {
        Ok(HEADER_LEN + options_len(self.options, self.options_trailer)?)
    }

    /// Writes the header and options around the `payload_len` bytes of payload the caller
    /// already wrote at `buf[header_len..]`, then the checksum over the pseudo-header for
    /// `src` -> `dst`, the header and those bytes. The bytes equal [`TcpRepr::emit`]'s for
    /// the same fields and payload. Returns the bytes of the segment.
    pub fn emit_around_payload(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_len: usize,
        buf: &mut [u8],
    ) -> Result<usize, EmitError> {
        self.emit_with(src, dst, buf, None, payload_len)
    }

    fn emit_with(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        buf: &mut [u8],
        payload: Option<&[u8]>,
        payload_len: usize,
    ) -> Result<usize, EmitError> {
        let header_len = self.try_header_len()?;
        let n = header_len + payload_len;
        // RFC 9293 §3.1: the pseudo-header's TCP length is 16 bits.
        let tcp_len = u16::try_from(n).map_err(|_| EmitError::Unencodable {
            field: "payload",
            reason: "TCP segment longer than 65535 bytes (16-bit pseudo-header length)",
        })?;
        need(buf, n)?;
        put16(buf, 0, self.src_port);
        put16(buf, 2, self.dst_port);
        put32(buf, 4, self.seq_number);
        put32(buf, 8, self.ack_number);
        // RFC 9293 §3.1: data offset (4 bits), then the 12 flag bits.
        let word = ((header_len as u16 / 4) << 12) | self.flags.bits();
        put16(buf, 12, word);
        put16(buf, 14, self.window_len);
        put16(buf, 16, 0);
        put16(buf, 18, self.urgent_pointer);
        if let Some(opts) = buf.get_mut(HEADER_LEN..header_len) {
            emit_options(self.options, self.options_trailer, opts)?;
        }
        if let (Some(p), Some(payload)) = (buf.get_mut(header_len..n), payload) {
            p.copy_from_slice(payload);
        }
        // The fixed header's words are summed from the values just written rather than read
        // back from the buffer (a read right after narrower writes to the same bytes stalls
        // the CPU); options and payload are read from the buffer.
        let mut c = Checksum::new();
        c.add_pseudo_header(src, dst, PROTOCOL, tcp_len)
            .add_u16(self.src_port)
            .add_u16(self.dst_port)
            .add_u32(self.seq_number)
            .add_u32(self.ack_number)
            .add_u16(word)
            .add_u16(self.window_len)
            .add_u16(self.urgent_pointer)
            .add_bytes(buf.get(HEADER_LEN..n).unwrap_or(&[]));
        put16(buf, 16, c.finish());
        Ok(n)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for TcpFlags {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(TcpFlags::from_bits_truncate(u.arbitrary()?))
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for TcpRepr<'a> {
    /// Valid by construction: options that encode in at most 40 bytes and parse back to
    /// themselves (a multiple of 4 bytes, a trailer only after End of Option List), a segment
    /// within 65535 bytes.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let (options, options_trailer) = options::arbitrary_options(u)?;
        let max = usize::from(u16::MAX) - MAX_HEADER_LEN;
        let want = u.arbitrary_len::<u8>()?.min(max);
        Ok(TcpRepr {
            src_port: u.arbitrary()?,
            dst_port: u.arbitrary()?,
            seq_number: u.arbitrary()?,
            ack_number: u.arbitrary()?,
            flags: u.arbitrary()?,
            window_len: u.arbitrary()?,
            urgent_pointer: u.arbitrary()?,
            options,
            options_trailer,
            payload: u.bytes(want)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrayvec::ArrayVec;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    #[test]
    fn verify_checksum_agrees_with_the_network_order_sum() {
        // Seeded: random segments of every length up to 1,600 bytes (odd ones too), half of
        // them with their checksum filled in (valid), the rest damaged or random; the
        // native-order verification says what the network-order sum says.
        use rand::{Rng, SeedableRng};
        let seed = 0x7665_7269_6679u64;
        println!("seed {seed:#x}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (mut valid, mut invalid) = (0, 0);
        for len in 20..1600usize {
            let mut seg = vec![0u8; len];
            rng.fill(&mut seg[..]);
            seg[12] = 0x50;
            let (src, dst) = (
                Ipv4Addr::from(rng.r#gen::<u32>()),
                Ipv4Addr::from(rng.r#gen::<u32>()),
            );
            if rng.gen_bool(0.5) {
                let c = TcpPacket::new_checked(&seg[..])
                    .unwrap()
                    .compute_checksum(src, dst);
                seg[16..18].copy_from_slice(&c.to_be_bytes());
                if rng.gen_bool(0.3) {
                    let at = rng.gen_range(0..len);
                    seg[at] ^= 1 << rng.gen_range(0..8);
                }
            }
            let p = TcpPacket::new_checked(&seg[..]).unwrap();
            let want = p.sum_all(src, dst) == 0xffff;
            assert_eq!(p.verify_checksum(src, dst), want, "len {len}");
            if want {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
        assert!(
            valid > 400 && invalid > 400,
            "{valid} valid, {invalid} invalid"
        );
    }

    /// A Linux-style SYN: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
    fn linux_syn() -> Vec<u8> {
        let mut b = vec![
            0xc3, 0x50, 0x00, 0x50, // ports 50000 -> 80
            0x11, 0x22, 0x33, 0x44, // seq
            0x00, 0x00, 0x00, 0x00, // ack
            0xa0, 0x02, // data offset 10, SYN
            0xfa, 0xf0, // window 64240
            0x00, 0x00, // checksum
            0x00, 0x00, // urgent
            0x02, 0x04, 0x05, 0xb4, // MSS 1460
            0x04, 0x02, // SACK-permitted
            0x08, 0x0a, 0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, // TS
            0x01, // NOP
            0x03, 0x03, 0x07, // WS 7
        ];
        let c = TcpPacket::new_checked(&b[..])
            .unwrap()
            .compute_checksum(SRC, DST);
        b[16..18].copy_from_slice(&c.to_be_bytes());
        b
    }

    fn repr_with(options: &[TcpOption<'static>], payload: &'static [u8]) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq_number: 3,
            ack_number: 4,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window_len: 5,
            urgent_pointer: 0,
            options: options.iter().cloned().collect(),
            options_trailer: &[],
            payload,
        }
    }

    #[test]
    fn tcp_emit_around_payload_equals_emit() {
        let payloads: [&'static [u8]; 4] = [b"", b"x", b"odd-length payload", &[0xff; 1460]];
        let option_sets: [&[TcpOption<'static>]; 3] = [
            &[],
            &[
                TcpOption::Mss(1460),
                TcpOption::Nop,
                TcpOption::WindowScale(7),
            ],
            &[TcpOption::Timestamps { tsval: 9, tsecr: 1 }],
        ];
        for options in option_sets {
            for payload in payloads {
                let repr = repr_with(options, payload);
                let mut want = vec![0u8; repr.buffer_len() + 3];
                let n = repr.emit(SRC, DST, &mut want).unwrap();
                // Stale bytes in the header region (here 0x5a) must all be overwritten.
                let mut got = vec![0x5au8; repr.buffer_len() + 3];
                let hl = repr.header_len();
                got[hl..hl + payload.len()].copy_from_slice(payload);
                got[hl + payload.len()..].fill(0);
                let header_only = TcpRepr {
                    payload: &[],
                    ..repr.clone()
                };
                let m = header_only
                    .emit_around_payload(SRC, DST, payload.len(), &mut got)
                    .unwrap();
                assert_eq!(m, n);
                assert_eq!(got, want, "options {options:?}, {} bytes", payload.len());
            }
        }
        // Too short a buffer is refused, not a panic.
        let repr = repr_with(&[], b"");
        let mut short = [0u8; 25];
        assert!(repr.emit_around_payload(SRC, DST, 10, &mut short).is_err());
    }

    #[test]
    fn tcp_parses_header_fields_and_options() {
        let b = linux_syn();
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (50000, 80));
        assert_eq!(p.seq_number(), 0x1122_3344);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.data_offset(), 10);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.urgent_pointer(), 0);
        assert!(p.verify_checksum(SRC, DST));
        let opts: Vec<_> = p.options().collect();
        assert_eq!(
            opts,
            [
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 0x0001_0203,
                    tsecr: 0
                },
                TcpOption::Nop,
                TcpOption::WindowScale(7),
            ]
        );
        assert_eq!(p.mss(), Some(1460));
        assert_eq!(p.window_scale(), Some(7));
        assert!(p.sack_permitted());
        assert_eq!(p.timestamps(), Some((0x0001_0203, 0)));
        assert!(p.sack_blocks().is_empty());
        assert_eq!(p.segment_len(), 1, "SYN occupies one sequence number");
        assert!(p.payload().is_empty());
        let r = TcpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(r.mss(), Some(1460));
        assert_eq!(r.window_scale(), Some(7));
        assert!(r.sack_permitted());
        assert_eq!(r.timestamps(), Some((0x0001_0203, 0)));
        assert_eq!(r.segment_len(), 1);
        assert_eq!(r.header_len(), 40);
        let mut out = vec![0u8; r.buffer_len()];
        assert_eq!(r.emit(SRC, DST, &mut out).unwrap(), 40);
        assert_eq!(out, b, "re-emits byte for byte");
    }

    #[test]
    fn tcp_rejects_header_errors() {
        let b = linux_syn();
        assert_eq!(
            TcpPacket::new_checked(&b[..19]).unwrap_err(),
            TcpError::Truncated { len: 19 }
        );
        let mut short = b.clone();
        short[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&short[..]).unwrap_err(),
            TcpError::DataOffsetTooSmall { data_offset: 4 }
        );
        assert_eq!(
            TcpPacket::new_checked(&b[..39]).unwrap_err(),
            TcpError::DataOffsetBeyondBuffer {
                header_len: 40,
                len: 39
            }
        );
        assert_eq!(
            TcpError::DataOffsetTooSmall { data_offset: 4 }.to_string(),
            "TCP data offset 4 words is below the minimum of 5 (20 bytes)"
        );
    }

    /// A 20-byte header followed by `opts` (a multiple of 4 bytes).
    fn with_options(opts: &[u8]) -> Vec<u8> {
        assert_eq!(opts.len() % 4, 0);
        let mut b = vec![0u8; 20];
        b[12] = (((20 + opts.len()) / 4) << 4) as u8;
        b.extend_from_slice(opts);
        b
    }

    #[test]
    fn tcp_rejects_each_option_error() {
        let cases: [(&[u8], TcpError); 12] = [
            (
                &[1, 1, 1, 2],
                TcpError::OptionTruncated {
                    offset: 23,
                    kind: 2,
                },
            ),
            (
                &[0x1e, 1, 0, 0],
                TcpError::OptionLengthTooSmall {
                    offset: 20,
                    kind: 30,
                    len: 1,
                },
            ),
            (
                &[1, 0xfe, 0, 0],
                TcpError::OptionLengthTooSmall {
                    offset: 21,
                    kind: 254,
                    len: 0,
                },
            ),
            (
                &[1, 1, 0x22, 3],
                TcpError::OptionOverrun {
                    offset: 22,
                    kind: 34,
                    len: 3,
                    available: 2,
                },
            ),
            (
                &[2, 3, 5, 0],
                TcpError::OptionBadLength {
                    offset: 20,
                    kind: 2,
                    len: 3,
                },
            ),
            (
                &[3, 4, 7, 0],
                TcpError::OptionBadLength {
                    offset: 20,
                    kind: 3,
                    len: 4,
                },
            ),
            (
                &[4, 3, 0, 0],
                TcpError::OptionBadLength {
                    offset: 20,
                    kind: 4,
                    len: 3,
                },
            ),
            (
                &[8, 8, 0, 0, 0, 0, 0, 0],
                TcpError::OptionBadLength {
                    offset: 20,
                    kind: 8,
                    len: 8,
                },
            ),
            (
                &[5, 2, 0, 0],
                TcpError::OptionBadLength {
                    offset: 20,
                    kind: 5,
                    len: 2,
                },
            ),
            (
                &[5, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                TcpError::OptionBadLength {
                    offset: 20,
                    kind: 5,
                    len: 12,
                },
            ),
            (
                // MSS with length 4 but only 3 bytes left.
                &[1, 2, 4, 5],
                TcpError::OptionOverrun {
                    offset: 21,
                    kind: 2,
                    len: 4,
                    available: 3,
                },
            ),
            (
                // A wrong fixed length is reported before the overrun it also causes...
                &[2, 5, 0, 0],
                TcpError::OptionBadLength {
                    offset: 20,
                    kind: 2,
                    len: 5,
                },
            ),
        ];
        for (opts, err) in cases {
            let b = with_options(opts);
            assert_eq!(TcpPacket::new_checked(&b[..]).unwrap_err(), err, "{opts:?}");
            // The standalone parser reports the same error, offsets from the option start.
            let standalone = match err {
                TcpError::OptionTruncated { offset, kind } => TcpError::OptionTruncated {
                    offset: offset - 20,
                    kind,
                },
                TcpError::OptionLengthTooSmall { offset, kind, len } => {
                    TcpError::OptionLengthTooSmall {
                        offset: offset - 20,
                        kind,
                        len,
                    }
                }
                TcpError::OptionOverrun {
                    offset,
                    kind,
                    len,
                    available,
                } => TcpError::OptionOverrun {
                    offset: offset - 20,
                    kind,
                    len,
                    available,
                },
                TcpError::OptionBadLength { offset, kind, len } => TcpError::OptionBadLength {
                    offset: offset - 20,
                    kind,
                    len,
                },
                e => e,
            };
            assert_eq!(parse_options(opts).unwrap_err(), standalone);
        }
        // ...and nothing after End of Option List is checked.
        let b = with_options(&[1, 0, 2, 9]);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.options_trailer(), &[2, 9]);
        assert_eq!(
            parse_options(&[1; 41]).unwrap_err(),
            TcpError::OptionsTooLong { len: 41 }
        );
        assert_eq!(parse_options(&[1; 40]).unwrap().0.len(), 40);
        assert_eq!(
            TcpError::OptionBadLength {
                offset: 20,
                kind: 5,
                len: 12
            }
            .to_string(),
            "TCP SACK option (kind 5) at offset 20 has length 12, must be 10, 18, 26 or 34"
        );
        assert_eq!(
            TcpError::OptionOverrun {
                offset: 22,
                kind: 34,
                len: 3,
                available: 2
            }
            .to_string(),
            "TCP option kind 34 at offset 22 has length 3 but only 2 bytes of the option area \
             remain"
        );
    }

    #[test]
    fn tcp_flags_display_like_tcpdump() {
        use TcpFlags as F;
        let cases = [
            (F::SYN, "S"),
            (F::SYN | F::ACK, "S."),
            (F::PSH | F::ACK, "P."),
            (F::FIN | F::ACK, "F."),
            (F::RST, "R"),
            (F::RST | F::ACK, "R."),
            (F::ACK, "."),
            (F::ECE | F::ACK, ".E"),
            (F::SYN | F::ECE | F::CWR | F::AE, "SEWe"),
            (F::PSH | F::ACK | F::ECE | F::AE, "P.Ee"),
            (F::from_bits_truncate(0x0ff), "FSRP.UEW"),
            (F::EMPTY, "none"),
            (F::RESERVED, "none"),
        ];
        for (f, s) in cases {
            assert_eq!(f.to_string(), s);
        }
        assert_eq!(
            format!("{:?}", F::from_bits_truncate(0xa12)),
            "TcpFlags(SYN|ACK|RSV(0x5))"
        );
        let mut f = F::from_bits_truncate(0xffff);
        assert_eq!(f, F::ALL);
        assert_eq!(f.reserved(), 7);
        f.remove(F::RESERVED | F::AE);
        assert_eq!(f.bits(), 0x0ff);
        assert!(f.fin() && f.syn() && f.rst() && f.psh() && f.ack() && f.urg());
        assert!(f.ece() && f.cwr() && !f.ae());
        f.insert(F::AE);
        assert!(f.ae());
        assert_eq!((f & F::SYN), F::SYN);
    }

    #[test]
    fn tcp_checksum_verify_and_mismatch_error() {
        let mut b = linux_syn();
        let good = u16::from_be_bytes([b[16], b[17]]);
        b[4] ^= 0x80; // corrupt the sequence number
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum(SRC, DST));
        let expected = p.compute_checksum(SRC, DST);
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap_err(),
            TcpError::ChecksumMismatch {
                found: good,
                expected
            }
        );
        assert!(TcpRepr::parse(&p, SRC, DST, ChecksumMode::Trust).is_ok());
        // The pseudo-header binds the addresses.
        b[4] ^= 0x80;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(SRC, Ipv4Addr::new(192, 0, 2, 3)));
        // Setters then fill_checksum.
        let mut b2 = b.clone();
        let mut p = TcpPacket::new_checked(&mut b2[..]).unwrap();
        p.set_seq_number(7);
        p.set_ack_number(8);
        p.set_flags(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::AE);
        p.set_window_len(9);
        p.set_urgent_pointer(10);
        p.set_src_port(11);
        p.set_dst_port(12);
        assert!(!p.verify_checksum(SRC, DST));
        p.fill_checksum(SRC, DST);
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(p.data_offset(), 10, "set_flags keeps the data offset");
        assert_eq!(p.flags().to_string(), "S.e");
        assert_eq!(
            (
                p.seq_number(),
                p.ack_number(),
                p.window_len(),
                p.urgent_pointer()
            ),
            (7, 8, 9, 10)
        );
        assert_eq!((p.src_port(), p.dst_port()), (11, 12));
    }

    #[test]
    fn tcp_emit_with_headroom_pads_options() {
        let r = repr_with(
            &[
                TcpOption::Mss(1400),
                TcpOption::WindowScale(2),
                TcpOption::EndOfList,
            ],
            b"data",
        );
        assert_eq!(r.header_len(), 28);
        let mut frame = [0xaau8; 14 + 20 + 32 + 3];
        let n = r.emit(SRC, DST, &mut frame[34..]).unwrap();
        assert_eq!(n, 32);
        assert_eq!(&frame[..34], &[0xaa; 34], "headroom untouched");
        assert_eq!(&frame[66..], &[0xaa; 3], "tail untouched");
        assert_eq!(&frame[54..62], &[2, 4, 0x05, 0x78, 3, 3, 2, 0]);
        let p = TcpPacket::new_checked(&frame[34..66]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(p.payload(), b"data");
        let back = TcpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(back, r);
        // Without End of Option List, emission pads with one (7 bytes -> 8).
        let r = repr_with(&[TcpOption::Mss(1400), TcpOption::WindowScale(2)], b"");
        let mut out = [0u8; 28];
        assert_eq!(r.emit(SRC, DST, &mut out).unwrap(), 28);
        let p = TcpPacket::new_checked(&out[..]).unwrap();
        assert_eq!(p.options().last(), Some(TcpOption::EndOfList));
        assert_eq!(
            r.emit(SRC, DST, &mut [0u8; 27]),
            Err(EmitError::BufferTooSmall {
                needed: 28,
                available: 27
            })
        );
    }

    #[test]
    fn tcp_emit_refuses_unencodable_options() {
        let sack5: ArrayVec<(u32, u32), 4> = ArrayVec::new();
        let big = [0u8; 39];
        let refused: [(Vec<TcpOption<'_>>, &[u8]); 6] = [
            (vec![TcpOption::Sack(sack5)], &[]),
            (
                vec![TcpOption::Unknown {
                    kind: 2,
                    data: &[5, 0],
                }],
                &[],
            ),
            (
                vec![TcpOption::Unknown {
                    kind: 99,
                    data: &big,
                }],
                &[],
            ),
            (vec![TcpOption::EndOfList, TcpOption::Nop], &[]),
            (vec![TcpOption::Nop], &[1]),
            (
                vec![
                    TcpOption::Timestamps { tsval: 1, tsecr: 2 };
                    4 // 40 bytes, then one more
                ]
                .into_iter()
                .chain([TcpOption::Nop])
                .collect(),
                &[],
            ),
        ];
        for (opts, trailer) in refused {
            let mut r = repr_with(&[], b"");
            r.options = opts.iter().cloned().collect();
            r.options_trailer = trailer;
            let mut out = [0u8; 100];
            assert!(
                matches!(
                    r.emit(SRC, DST, &mut out),
                    Err(EmitError::Unencodable { .. })
                ),
                "{opts:?} {trailer:?}"
            );
            assert!(emit_options(&r.options, trailer, &mut out).is_err());
        }
        // Exactly 40 bytes is fine.
        let r = repr_with(&vec![TcpOption::Timestamps { tsval: 1, tsecr: 2 }; 4], b"");
        assert_eq!(r.try_header_len(), Ok(60));
        // A payload that would overflow the 16-bit TCP length is refused.
        let big = vec![0u8; 65516];
        let mut r = repr_with(&[], b"");
        r.payload = &big;
        let mut out = vec![0u8; 70_000];
        assert!(matches!(
            r.emit(SRC, DST, &mut out),
            Err(EmitError::Unencodable {
                field: "payload",
                ..
            })
        ));
        r.payload = &big[..65515];
        assert_eq!(r.emit(SRC, DST, &mut out).unwrap(), 65535);
    }

    #[test]
    fn tcp_non_zero_bytes_after_end_of_list_are_kept() {
        // RFC 9293 §3.1 wants zeros after End of Option List; a sender that puts other bytes
        // there gets them kept as the trailer and re-emitted exactly.
        let b = with_options(&[1, 1, 0, 0xde, 0xad, 0, 0, 0]);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            p.options().collect::<Vec<_>>(),
            [TcpOption::Nop, TcpOption::Nop, TcpOption::EndOfList]
        );
        assert_eq!(p.options_trailer(), &[0xde, 0xad, 0, 0, 0]);
        let r = TcpRepr::parse(&p, SRC, DST, ChecksumMode::Trust).unwrap();
        assert_eq!(r.options_trailer, &[0xde, 0xad, 0, 0, 0]);
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(SRC, DST, &mut out).unwrap();
        assert_eq!(&out[..16], &b[..16]);
        assert_eq!(&out[18..], &b[18..]);
        // The standalone parser agrees.
        let (opts, trailer) = parse_options(&b[20..]).unwrap();
        assert_eq!(opts.len(), 3);
        assert_eq!(trailer, &[0xde, 0xad, 0, 0, 0]);
    }

    #[test]
    fn tcp_sack_blocks_and_unknown_options() {
        let r = repr_with(
            &[
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Sack([(1, 2), (3, 4), (5, 6)].into_iter().collect()),
                TcpOption::Unknown {
                    kind: kind::EXPERIMENT2,
                    data: &[0xf9, 0x89],
                },
                TcpOption::Unknown {
                    kind: kind::MPTCP,
                    data: &[0x20],
                },
                TcpOption::EndOfList,
            ],
            b"",
        );
        assert_eq!(r.sack_blocks(), &[(1, 2), (3, 4), (5, 6)]);
        assert_eq!(r.options[3].experiment_id(), Some(0xf989));
        assert_eq!(r.options[4].experiment_id(), None);
        let mut out = [0u8; 60];
        let n = r.emit(SRC, DST, &mut out).unwrap();
        assert_eq!(n, 20 + 36);
        let p = TcpPacket::new_checked(&out[..n]).unwrap();
        assert_eq!(p.sack_blocks().as_slice(), &[(1, 2), (3, 4), (5, 6)]);
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap(),
            r
        );
        assert_eq!(p.mss(), None);
        assert_eq!(p.timestamps(), None);
    }

    #[test]
    fn tcp_segment_len_counts_syn_and_fin() {
        let mut r = repr_with(&[], b"abc");
        assert_eq!(r.segment_len(), 3);
        r.flags = TcpFlags::SYN | TcpFlags::FIN;
        assert_eq!(r.segment_len(), 5);
        r.flags = TcpFlags::RST;
        r.payload = b"";
        assert_eq!(r.segment_len(), 0);
    }

    // ---- real captures ----

    /// Frames of an Ethernet capture, in order.
    fn frames(name: &str) -> Vec<Vec<u8>> {
        crate::testutil::ethernet_frames(name)
    }

    /// Source, destination and segment (IPv4 payload cut at the total length when it fits)
    /// of an untagged Ethernet/IPv4 frame, read by hand.
    fn segment(frame: &[u8]) -> (Ipv4Addr, Ipv4Addr, &[u8]) {
        let ip = &frame[14..];
        assert_eq!(ip[0] >> 4, 4);
        assert_eq!(ip[9], PROTOCOL);
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let end = if (ihl..=ip.len()).contains(&total) {
            total
        } else {
            ip.len()
        };
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        (src, dst, &ip[ihl..end])
    }

    /// Parses (trusting the checksum), re-emits and checks the bytes are identical apart from
    /// a recomputed checksum.
    fn reemit_exact(src: Ipv4Addr, dst: Ipv4Addr, seg: &[u8]) -> TcpRepr<'_> {
        let p = TcpPacket::new_checked(seg).unwrap();
        let r = TcpRepr::parse(&p, src, dst, ChecksumMode::Trust).unwrap();
        let mut out = vec![0u8; r.buffer_len()];
        assert_eq!(r.emit(src, dst, &mut out).unwrap(), seg.len());
        assert_eq!(&out[..16], &seg[..16]);
        assert_eq!(&out[18..], &seg[18..]);
        if p.verify_checksum(src, dst) {
            assert_eq!(out, seg);
        }
        r
    }

    #[test]
    fn tcp_capture_eight_flags_set() {
        // tcpdump: "Flags [FSRP.UEW], seq 576462951, ack 486026015, win 512, urg 0".
        let f = &frames("tcp_eight_lowest_weight_flags_set.pcap")[0];
        let (src, dst, seg) = segment(f);
        let p = TcpPacket::new_checked(seg).unwrap();
        assert_eq!(p.flags().to_string(), "FSRP.UEW");
        assert_eq!(p.flags().bits(), 0x0ff);
        assert_eq!((p.src_port(), p.dst_port()), (6260, 80));
        assert_eq!(p.seq_number(), 576462951);
        assert_eq!(p.ack_number(), 486026015);
        assert_eq!(p.window_len(), 512);
        assert_eq!(p.urgent_pointer(), 0);
        assert_eq!(p.options().count(), 0);
        assert_eq!(p.segment_len(), 2, "SYN and FIN");
        let r = reemit_exact(src, dst, seg);
        assert_eq!(r.flags, TcpFlags::from_bits_truncate(0xff));
    }

    #[test]
    fn tcp_capture_accecn_handshake() {
        let fr = frames("accecn_handshake.pcap");
        assert_eq!(fr.len(), 6);
        // tcpdump -v: flags, and checksum verdicts (the sender offloads its checksums).
        let expect: [(&str, Option<u16>); 6] = [
            ("SEWe", Some(0xe443)),
            ("S.W", None),
            (".W", Some(0x3b19)),
            ("P.Ee", Some(0x9373)),
            (".Ee", None),
            (".Ee", None),
        ];
        for (i, (frame, (flags, bad))) in fr.iter().zip(expect).enumerate() {
            let (src, dst, seg) = segment(frame);
            let p = TcpPacket::new_checked(seg).unwrap();
            assert_eq!(p.flags().to_string(), flags, "packet {}", i + 1);
            match bad {
                None => {
                    assert!(p.verify_checksum(src, dst), "packet {}", i + 1);
                    TcpRepr::parse(&p, src, dst, ChecksumMode::Verify).unwrap();
                }
                Some(expected) => {
                    assert!(!p.verify_checksum(src, dst));
                    assert_eq!(p.compute_checksum(src, dst), expected);
                    assert_eq!(
                        TcpRepr::parse(&p, src, dst, ChecksumMode::Verify).unwrap_err(),
                        TcpError::ChecksumMismatch {
                            found: p.checksum(),
                            expected
                        }
                    );
                }
            }
            reemit_exact(src, dst, seg);
        }
        // SYN-ACK: "options [mss 1460,sackOK,TS val 2783239876 ecr 112147477,exp-acc0,
        // wscale 7]": the AccECN experiment (kind 254, ExID 0xacc0) is kept with its bytes.
        let (_, _, seg) = segment(&fr[1]);
        let p = TcpPacket::new_checked(seg).unwrap();
        let opts: Vec<_> = p.options().collect();
        assert_eq!(opts[0], TcpOption::Mss(1460));
        assert_eq!(opts[1], TcpOption::SackPermitted);
        assert_eq!(
            opts[2],
            TcpOption::Timestamps {
                tsval: 2783239876,
                tsecr: 112147477
            }
        );
        let acc = opts
            .iter()
            .find(|o| o.kind() == kind::EXPERIMENT2)
            .expect("AccECN experimental option");
        assert_eq!(acc.experiment_id(), Some(0xacc0));
        assert!(matches!(acc, TcpOption::Unknown { .. }));
        assert_eq!(p.window_scale(), Some(7));
        // Third packet ends with End of Option List: "[nop,nop,TS ...,exp-acc0,eol]".
        let (_, _, seg) = segment(&fr[2]);
        let p = TcpPacket::new_checked(seg).unwrap();
        assert_eq!(p.options().last(), Some(TcpOption::EndOfList));
        assert!(p.options_trailer().iter().all(|&b| b == 0));
    }

    #[test]
    fn tcp_capture_fast_open_option_kept() {
        let fr = frames("tfo-5c1fa7f9ae91.pcap");
        assert_eq!(fr.len(), 14);
        let mut exp = 0;
        for frame in &fr {
            let (src, dst, seg) = segment(frame);
            let r = reemit_exact(src, dst, seg);
            for o in &r.options {
                if o.kind() == kind::EXPERIMENT2 {
                    assert_eq!(o.experiment_id(), Some(0xf989), "RFC 7413 §4.1.1 ExID");
                    exp += 1;
                }
            }
        }
        // tcpdump shows exp-tfo in packets 1, 2, 3, 4 and 13.
        assert_eq!(exp, 5);
        // Packet 1: "exp-tfo cookiereq" (no cookie: the option is just the ExID).
        let (_, _, seg) = segment(&fr[0]);
        let p = TcpPacket::new_checked(seg).unwrap();
        assert!(p.options().any(|o| o
            == TcpOption::Unknown {
                kind: 254,
                data: &[0xf9, 0x89]
            }));
        // Packet 3: "exp-tfo cookie 090909090000,nop,nop".
        let (_, _, seg) = segment(&fr[2]);
        let p = TcpPacket::new_checked(seg).unwrap();
        let opts: Vec<_> = p.options().collect();
        assert_eq!(
            opts,
            [
                TcpOption::Unknown {
                    kind: 254,
                    data: &[0xf9, 0x89, 9, 9, 9, 9, 0, 0]
                },
                TcpOption::Nop,
                TcpOption::Nop
            ]
        );
    }

    #[test]
    fn tcp_capture_mptcp_short_dss_kept() {
        // tcpdump: "options [mss 16396,sackOK,TS val 597120308 ecr 0,mptcp 3 dss[bad opt]]":
        // a 3-byte MPTCP option is well formed at the TCP layer and is kept.
        let f = &frames("mptcp-dss-oobr.pcap")[0];
        let (src, dst, seg) = segment(f);
        let p = TcpPacket::new_checked(seg).unwrap();
        let opts: Vec<_> = p.options().collect();
        assert_eq!(
            opts,
            [
                TcpOption::Mss(16396),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 597120308,
                    tsecr: 0
                },
                TcpOption::Unknown {
                    kind: kind::MPTCP,
                    data: &[0x20]
                },
                TcpOption::EndOfList,
            ]
        );
        reemit_exact(src, dst, seg);
    }

    #[test]
    fn tcp_capture_truncated_options_are_typed_errors() {
        // heapoverflow-tcp_print: data offset 15 (60 bytes) over a 30-byte capture; the option
        // bytes present hold kind 48 claiming 40 bytes (tcpdump: "unknown-48 ... [|tcp]").
        let f = &frames("heapoverflow-tcp_print.pcap")[0];
        let (_, _, seg) = segment(f);
        assert_eq!(
            TcpPacket::new_checked(seg).unwrap_err(),
            TcpError::DataOffsetBeyondBuffer {
                header_len: 60,
                len: 30
            }
        );
        assert_eq!(
            parse_options(&seg[20..]).unwrap_err(),
            TcpError::OptionOverrun {
                offset: 0,
                kind: 48,
                len: 40,
                available: 10
            }
        );
        // tcp-auth-heapoverflow: a TCP-AO option (kind 29) of length 21 over 10 bytes.
        let f = &frames("tcp-auth-heapoverflow.pcap")[0];
        let (_, _, seg) = segment(f);
        assert_eq!(
            TcpPacket::new_checked(seg).unwrap_err(),
            TcpError::DataOffsetBeyondBuffer {
                header_len: 52,
                len: 30
            }
        );
        assert_eq!(
            parse_options(&seg[20..]).unwrap_err(),
            TcpError::OptionOverrun {
                offset: 0,
                kind: kind::TCP_AO,
                len: 21,
                available: 10
            }
        );
        // tcp_header_heapoverflow: 12 bytes of header.
        let f = &frames("tcp_header_heapoverflow.pcap")[0];
        let (_, _, seg) = segment(f);
        assert_eq!(
            TcpPacket::new_checked(seg).unwrap_err(),
            TcpError::Truncated { len: 12 }
        );
    }

    #[test]
    fn tcp_capture_print_flags_checksums_verify() {
        // A loopback HTTP session. The two data segments (4 and 6) carry the partial
        // checksums of loopback offload (a plain 16-bit reference sum over the pseudo-header
        // and segment does not give 0xffff for them either); every other checksum is valid.
        let fr = frames("print-flags.pcap");
        assert_eq!(fr.len(), 10);
        let mut flags = Vec::new();
        let mut verdicts = Vec::new();
        for frame in &fr {
            let (src, dst, seg) = segment(frame);
            let p = TcpPacket::new_checked(seg).unwrap();
            verdicts.push(p.verify_checksum(src, dst));
            flags.push(p.flags().to_string());
            let r = reemit_exact(src, dst, seg);
            if p.verify_checksum(src, dst) {
                assert_eq!(
                    TcpRepr::parse(&p, src, dst, ChecksumMode::Verify).unwrap(),
                    r
                );
            }
        }
        assert_eq!(
            verdicts,
            [true, true, true, false, true, false, true, true, true, true]
        );
        assert_eq!(flags[..4], ["S", "S.", ".", "P."]);
        assert_eq!(flags.iter().filter(|f| f.contains('F')).count(), 2);
    }

    #[test]
    fn tcp_every_capture_segment_parses_or_is_a_typed_error() {
        // RFC 9293 §3.1 MUST-7 (cope with illegal option lengths): every untagged
        // Ethernet/IPv4/TCP frame of every pcap capture, fuzzed sessions (kday*) included,
        // either parses and re-emits byte for byte or is refused with a typed error.
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
        let (mut ok, mut big, mut refused) = (0, 0, Vec::new());
        for name in &names {
            let f = std::fs::File::open(format!("{dir}/{name}")).unwrap();
            let Ok(mut r) = pcap_file::pcap::PcapReader::new(f) else {
                continue;
            };
            let link = u32::from(r.header().datalink);
            if link & 0xffff != 1 {
                continue;
            }
            while let Some(Ok(rec)) = r.next_raw_packet() {
                let frame = &rec.data[..];
                if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
                    continue;
                }
                let ip = &frame[14..];
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                if ip[0] >> 4 != 4 || ip[9] != PROTOCOL || ihl < 20 || ihl > ip.len() {
                    continue;
                }
                let (src, dst, seg) = segment(frame);
                match TcpPacket::new_checked(seg) {
                    Ok(p) if seg.len() > usize::from(u16::MAX) => {
                        // bigtcp-ipv4: an 80 KB offloaded super-segment parses, but no
                        // 16-bit TCP length can describe it, so it does not emit.
                        let r = TcpRepr::parse(&p, src, dst, ChecksumMode::Trust).unwrap();
                        assert!(!p.verify_checksum(src, dst));
                        assert!(matches!(
                            r.emit(src, dst, &mut vec![0u8; seg.len()]),
                            Err(EmitError::Unencodable {
                                field: "payload",
                                ..
                            })
                        ));
                        big += 1;
                    }
                    Ok(_) => {
                        reemit_exact(src, dst, seg);
                        ok += 1;
                    }
                    Err(e) => refused.push((name.clone(), e)),
                }
            }
        }
        println!("{ok} segments parsed and re-emitted exactly, {big} too long to emit");
        println!("refused: {refused:?}");
        assert_eq!(ok, 328);
        assert_eq!(refused.len(), 3);
        assert_eq!(big, 1);
        let refused_in = |n: &str| refused.iter().filter(|(f, _)| f == n).count();
        assert_eq!(refused_in("heapoverflow-tcp_print.pcap"), 1);
        assert_eq!(refused_in("tcp-auth-heapoverflow.pcap"), 1);
        assert_eq!(refused_in("tcp_header_heapoverflow.pcap"), 1);
    }

    #[test]
    fn tcp_agrees_with_etherparse_on_captures() {
        use etherparse::TcpOptionElement as E;
        let mut n = 0;
        for name in [
            "print-flags.pcap",
            "accecn_handshake.pcap",
            "tfo-5c1fa7f9ae91.pcap",
            "mptcp-dss-oobr.pcap",
            "dns_tcp.pcap",
            "whois.pcap",
            "ssh.pcap",
        ] {
            for frame in frames(name) {
                let (_, _, seg) = segment(&frame);
                let p = TcpPacket::new_checked(seg).unwrap();
                let e = etherparse::TcpHeaderSlice::from_slice(seg).unwrap();
                assert_eq!(p.src_port(), e.source_port());
                assert_eq!(p.dst_port(), e.destination_port());
                assert_eq!(p.seq_number(), e.sequence_number());
                assert_eq!(p.ack_number(), e.acknowledgment_number());
                assert_eq!(p.header_len(), usize::from(e.data_offset()) * 4);
                let f = p.flags();
                assert_eq!(
                    (
                        f.fin(),
                        f.syn(),
                        f.rst(),
                        f.psh(),
                        f.ack(),
                        f.urg(),
                        f.ece(),
                        f.cwr()
                    ),
                    (
                        e.fin(),
                        e.syn(),
                        e.rst(),
                        e.psh(),
                        e.ack(),
                        e.urg(),
                        e.ece(),
                        e.cwr()
                    )
                );
                assert_eq!(f.ae(), e.ns());
                assert_eq!(p.window_len(), e.window_size());
                assert_eq!(p.checksum(), e.checksum());
                assert_eq!(p.urgent_pointer(), e.urgent_pointer());
                // etherparse types the same kinds; it reports others as errors and stops.
                for (ours, theirs) in p.options().zip(e.options_iterator()) {
                    match (ours, theirs) {
                        (TcpOption::Nop, Ok(E::Noop)) => {}
                        (TcpOption::Mss(a), Ok(E::MaximumSegmentSize(b))) => assert_eq!(a, b),
                        (TcpOption::WindowScale(a), Ok(E::WindowScale(b))) => assert_eq!(a, b),
                        (TcpOption::SackPermitted, Ok(E::SelectiveAcknowledgementPermitted)) => {}
                        (TcpOption::Timestamps { tsval, tsecr }, Ok(E::Timestamp(a, b))) => {
                            assert_eq!((tsval, tsecr), (a, b))
                        }
                        (TcpOption::Sack(blocks), Ok(E::SelectiveAcknowledgement(first, rest))) => {
                            assert_eq!(blocks[0], first);
                            let rest: Vec<_> = rest.iter().flatten().copied().collect();
                            assert_eq!(&blocks[1..], &rest[..]);
                        }
                        (TcpOption::Unknown { .. }, Err(_)) => break,
                        (TcpOption::EndOfList, _) => break,
                        (a, b) => panic!("{name}: {a:?} vs {b:?}"),
                    }
                }
                n += 1;
            }
        }
        println!("{n} segments agree with etherparse");
    }

    #[cfg(feature = "arbitrary")]
    #[test]
    fn tcp_arbitrary_round_trips() {
        use arbitrary::{Arbitrary, Unstructured};
        use rand::{RngCore, SeedableRng};
        let seed = 9293;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut raw = vec![0u8; 2048];
        let mut out = vec![0u8; 70_000];
        let (mut n, mut with_options, mut with_trailer) = (0, 0, 0);
        while n < 10_000 {
            let len = (rng.next_u32() % 2048) as usize;
            rng.fill_bytes(&mut raw[..len]);
            let mut u = Unstructured::new(&raw[..len]);
            let Ok(r) = TcpRepr::arbitrary(&mut u) else {
                continue;
            };
            let src = Ipv4Addr::from(rng.next_u32());
            let dst = Ipv4Addr::from(rng.next_u32());
            let headroom = (rng.next_u32() % 64) as usize;
            let w = r.emit(src, dst, &mut out[headroom..]).unwrap();
            assert_eq!(w, r.buffer_len());
            let seg = &out[headroom..headroom + w];
            let p = TcpPacket::new_checked(seg).unwrap();
            assert!(p.verify_checksum(src, dst));
            let back = TcpRepr::parse(&p, src, dst, ChecksumMode::Verify).unwrap();
            assert_eq!(back, r);
            // The standalone option parser agrees with the view.
            let (opts, trailer) = parse_options(p.options_raw()).unwrap();
            assert_eq!(opts, r.options);
            assert_eq!(trailer, r.options_trailer);
            with_options += usize::from(!r.options.is_empty());
            with_trailer += usize::from(!r.options_trailer.is_empty());
            n += 1;
        }
        assert!(with_options > n / 2 && with_trailer > n / 50);
        println!(
            "{n} tcp round trips checked ({with_options} with options, {with_trailer} trailers)"
        );
    }
}
