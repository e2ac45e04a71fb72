//! weft-wire: checked, zero-copy views over protocol headers and the semantic `Repr`s that
//! parse from and emit into them.
//!
//! Every protocol module follows one shape (after smoltcp's `wire`):
//!
//! * `XxxPacket<T: AsRef<[u8]>>` (or `XxxFrame`) is a *view* over a byte buffer.
//!   `new_checked` validates every length and structural field and returns a typed error for
//!   each way the header can be wrong; after it succeeds no accessor can panic. Accessors read
//!   fields in place; with `T: AsMut<[u8]>` setters write them.
//! * `XxxRepr` is the *meaning* of a header: plain fields, typed enums, option lists. `parse`
//!   builds it from a checked view; `emit` writes it into a caller's buffer (which may sit
//!   behind headroom reserved for lower-layer headers) and returns the length written.
//! * Checksums are never skipped by accident: parse takes a [`ChecksumMode`], and the view
//!   exposes `verify_checksum` separately so a decoder can report a verdict instead of failing.
//!
//! The crate is `no_std`, allocation-free and forbids `unsafe`. Nothing here panics on input:
//! clippy's `indexing_slicing`, `unwrap_used` and `panic` lints are on, and every parser has a
//! fuzz target (see the `fuzzing` module) whose corpus `cargo test` replays.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod arp;
pub mod checksum;
pub mod dhcp;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod tcp;
pub mod udp;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(test)]
mod testutil;

pub use arp::{ArpError, ArpOperation, ArpPacket, ArpRepr};
pub use dhcp::{DhcpError, DhcpMessageType, DhcpPacket, DhcpRepr};
pub use ethernet::{EtherType, EthernetError, EthernetFrame, EthernetRepr, VlanTag};
pub use icmpv4::{Icmpv4Error, Icmpv4Packet, Icmpv4Repr};
pub use ipv4::{IpProtocol, Ipv4Error, Ipv4Header, Ipv4Option, Ipv4Packet, Ipv4Repr};
pub use tcp::{TcpError, TcpFlags, TcpHeader, TcpOption, TcpPacket, TcpRepr};
pub use udp::{UdpChecksumVerdict, UdpError, UdpPacket, UdpRepr};

pub use checksum::ChecksumMode;

/// An error from emitting a `Repr` into a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The buffer given to `emit` is smaller than the encoded header (plus payload).
    #[error("emit buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Bytes the encoding needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A field of the `Repr` cannot be encoded (for example an option list longer than the
    /// header can carry, or a payload longer than a 16-bit length field allows).
    #[error("cannot encode {field}: {reason}")]
    Unencodable {
        /// The field that does not fit.
        field: &'static str,
        /// Why it does not fit.
        reason: &'static str,
    },
}

/// Reads a big-endian u16 at `at`; `None` if the slice is too short.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

/// Reads a big-endian u32 at `at`; `None` if the slice is too short.
#[inline]
#[allow(dead_code)] // used by the IPv4, TCP and DHCP modules
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let a: [u8; 4] = s.try_into().ok()?;
    Some(u32::from_be_bytes(a))
}

/// Writes a big-endian u16 at `at`; does nothing if the slice is too short (callers check
/// lengths first, so this only guards against bugs, never input).
#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// Writes a big-endian u32 at `at`; see [`put16`].
#[inline]
#[allow(dead_code)]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// Checks that `buf` holds at least `needed` bytes for an emit.
#[inline]
pub(crate) fn need(buf: &[u8], needed: usize) -> Result<(), EmitError> {
    if buf.len() < needed {
        Err(EmitError::BufferTooSmall {
            needed,
            available: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// An IPv4 address (a plain 4-byte value; `core::net::Ipv4Addr` is used at the API edge).
pub type Ipv4Addr = core::net::Ipv4Addr;

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Builds an address from the first six bytes of `b`; `None` if shorter.
    pub fn from_slice(b: &[u8]) -> Option<MacAddr> {
        Some(MacAddr(b.get(..6)?.try_into().ok()?))
    }
    /// The group bit (I/G): multicast or broadcast.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    /// All ones.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
    /// A unicast address (group bit clear).
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl core::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl core::fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

/// Reads an IPv4 address at `at`.
#[inline]
#[allow(dead_code)]
pub(crate) fn ipv4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    be32(b, at).map(Ipv4Addr::from)
}
