//! UDP datagrams (RFC 768; host requirements in RFC 1122 §4.1.3).
//!
//! The view's buffer is the IPv4 payload. The UDP length field says where the datagram ends:
//! bytes past it (a lower layer's padding) are not payload and are not checksummed. The
//! checksum covers the IPv4 pseudo-header, so checksum work takes the source and destination
//! addresses; a transmitted checksum of zero means "no checksum" (RFC 768).

use crate::checksum::{Checksum, ChecksumMode};
use crate::{EmitError, Ipv4Addr, be16, need, put16};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// IP protocol number of UDP (used in the pseudo-header).
pub const PROTOCOL: u8 = 17;

/// Why bytes are not a valid UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UdpError {
    /// Fewer than the 8 header bytes.
    #[error("UDP datagram truncated: {len} bytes, header needs 8")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// The length field is smaller than the header it includes.
    #[error("UDP length field {length} is below the 8-byte header")]
    LengthTooSmall {
        /// The length field.
        length: u16,
    },
    /// The length field claims more bytes than the buffer holds.
    #[error("UDP length field {length} exceeds the {available} bytes present")]
    LengthBeyondBuffer {
        /// The length field.
        length: u16,
        /// Bytes present.
        available: usize,
    },
    /// The checksum does not match the datagram (only with [`ChecksumMode::Verify`]).
    #[error("UDP checksum {found:#06x} is wrong, expected {expected:#06x}")]
    ChecksumMismatch {
        /// The transmitted checksum.
        found: u16,
        /// The checksum the datagram should carry.
        expected: u16,
    },
}

/// The verdict on a datagram's checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpChecksumVerdict {
    /// The checksum is present and correct.
    Good,
    /// The checksum is present and wrong.
    Bad {
        /// The transmitted checksum.
        found: u16,
        /// The checksum the datagram should carry.
        expected: u16,
    },
    /// The checksum field is zero: the sender computed none (RFC 768; RFC 1122 §4.1.3.4
    /// lets a receiver accept such a datagram).
    Absent,
}

impl UdpChecksumVerdict {
    /// True unless the checksum is present and wrong.
    pub fn is_acceptable(self) -> bool {
        !matches!(self, UdpChecksumVerdict::Bad { .. })
    }
}

/// The transmitted form of a computed checksum: RFC 768: "If the computed checksum is zero,
/// it is transmitted as all ones", since zero means "no checksum".
#[inline]
fn transmitted(computed: u16) -> u16 {
    if computed == 0 { 0xffff } else { computed }
}

/// A checked view of a UDP datagram.
///
/// Invariant (established by [`UdpPacket::new_checked`]): the buffer holds at least 8 bytes
/// and `8 <= length field <= buffer length`.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Validates the header and the length field.
    pub fn new_checked(buffer: T) -> Result<Self, UdpError> {
        let b = buffer.as_ref();
        let len = b.len();
        // RFC 768: the header is 8 bytes.
        if len < HEADER_LEN {
            return Err(UdpError::Truncated { len });
        }
        let length = be16(b, 4).unwrap_or(0);
        // RFC 768: "Length is the length in octets of this user datagram including this
        // header and the data. (This means the minimum value of the length is eight.)"
        if usize::from(length) < HEADER_LEN {
            return Err(UdpError::LengthTooSmall { length });
        }
        if usize::from(length) > len {
            return Err(UdpError::LengthBeyondBuffer {
                length,
                available: len,
            });
        }
        Ok(UdpPacket { buffer })
    }

    #[inline]
    fn field(&self, at: usize) -> u16 {
        be16(self.buffer.as_ref(), at).unwrap_or(0)
    }

    /// Source port (zero: none given, RFC 768).
    pub fn src_port(&self) -> u16 {
        self.field(0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.field(2)
    }
    /// The length field: header plus payload.
    pub fn len_field(&self) -> u16 {
        self.field(4)
    }
    /// The checksum field (zero: none computed).
    pub fn checksum(&self) -> u16 {
        self.field(6)
    }
    /// Header length (always 8).
    pub fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The datagram as the length field delimits it (header and payload, no padding).
    pub fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..usize::from(self.len_field())).unwrap_or(b)
    }

    /// The payload: from the end of the header to the end given by the length field.
    pub fn payload(&self) -> &[u8] {
        self.datagram().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// Bytes after the datagram (lower-layer padding), usually empty.
    pub fn padding(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(usize::from(self.len_field())..)
            .unwrap_or(&[])
    }

    /// The checksum the datagram should carry (in its transmitted form, never zero).
    pub fn compute_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let d = self.datagram();
        let mut c = Checksum::new();
        c.add_pseudo_header(src, dst, PROTOCOL, self.len_field());
        c.add_bytes(d.get(..6).unwrap_or(&[]));
        c.add_bytes(d.get(HEADER_LEN..).unwrap_or(&[]));
        transmitted(c.finish())
    }

    /// The checksum verdict for a datagram sent from `src` to `dst`.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> UdpChecksumVerdict {
        let found = self.checksum();
        if found == 0 {
            return UdpChecksumVerdict::Absent;
        }
        // RFC 1071 §1: a region that includes its own checksum sums to all ones.
        let mut c = Checksum::new();
        c.add_pseudo_header(src, dst, PROTOCOL, self.len_field())
            .add_bytes(self.datagram());
        if c.sum() == 0xffff {
            UdpChecksumVerdict::Good
        } else {
            UdpChecksumVerdict::Bad {
                found,
                expected: self.compute_checksum(src, dst),
            }
        }
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> UdpPacket<&'a T> {
    /// The payload, borrowed for the lifetime of the underlying buffer.
    pub fn payload_ref(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        b.get(HEADER_LEN..usize::from(self.len_field()))
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 0, v);
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 6, v);
    }
    /// Computes and writes the checksum (after the other fields and the payload are final).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let c = self.compute_checksum(src, dst);
        self.set_checksum(c);
    }
    /// The payload, writable (its length is fixed by the length field).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len_field());
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..end)
            .unwrap_or(&mut [])
    }
}

/// The meaning of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Reads a checked datagram sent from `src` to `dst`. With [`ChecksumMode::Verify`] a
    /// present, wrong checksum is rejected; an absent one (zero) is accepted (RFC 1122
    /// §4.1.3.4 leaves discarding it to the application).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &UdpPacket<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<UdpRepr<'a>, UdpError> {
        if mode == ChecksumMode::Verify
            && let UdpChecksumVerdict::Bad { found, expected } = packet.verify_checksum(src, dst)
        {
            return Err(UdpError::ChecksumMismatch { found, expected });
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: packet.payload_ref(),
        })
    }

    /// Header length (always 8).
    pub fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Bytes `emit` writes: header and payload.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes header, payload and checksum (computed over the pseudo-header for `src` ->
    /// `dst`) at the start of `buf`, which may sit after headroom the caller reserved for
    /// lower layers. Returns the bytes written.
    pub fn emit(&self, src: Ipv4Addr, dst: Ipv4Addr, buf: &mut [u8]) -> Result<usize, EmitError> {
        let n = self.buffer_len();
        // RFC 768: the length field is 16 bits.
        let length = u16::try_from(n).map_err(|_| EmitError::Unencodable {
            field: "payload",
            reason: "UDP datagram longer than 65535 bytes (16-bit length field)",
        })?;
        need(buf, n)?;
        put16(buf, 0, self.src_port);
        put16(buf, 2, self.dst_port);
        put16(buf, 4, length);
        put16(buf, 6, 0);
        if let Some(p) = buf.get_mut(HEADER_LEN..n) {
            p.copy_from_slice(self.payload);
        }
        let mut c = Checksum::new();
        c.add_pseudo_header(src, dst, PROTOCOL, length)
            .add_bytes(buf.get(..n).unwrap_or(&[]));
        put16(buf, 6, transmitted(c.finish()));
        Ok(n)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for UdpRepr<'a> {
    /// Valid by construction: the payload keeps the datagram within the 16-bit length.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let src_port = u.arbitrary()?;
        let dst_port = u.arbitrary()?;
        let max = usize::from(u16::MAX) - HEADER_LEN;
        let want = u.arbitrary_len::<u8>()?.min(max);
        let payload = u.bytes(want)?;
        Ok(UdpRepr {
            src_port,
            dst_port,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn build(payload: &[u8]) -> Vec<u8> {
        let r = UdpRepr {
            src_port: 5353,
            dst_port: 53,
            payload,
        };
        let mut buf = vec![0u8; r.buffer_len()];
        assert_eq!(r.emit(SRC, DST, &mut buf).unwrap(), r.buffer_len());
        buf
    }

    #[test]
    fn udp_parses_fields_and_round_trips() {
        let buf = build(b"hello");
        assert_eq!(&buf[..6], &[0x14, 0xe9, 0x00, 0x35, 0x00, 13]);
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.src_port(), 5353);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len_field(), 13);
        assert_eq!(p.payload(), b"hello");
        assert_eq!(p.verify_checksum(SRC, DST), UdpChecksumVerdict::Good);
        let r = UdpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(r.payload, b"hello");
        assert_eq!((r.src_port, r.dst_port), (5353, 53));
    }

    #[test]
    fn udp_rejects_each_structural_error() {
        assert_eq!(
            UdpPacket::new_checked(&[0u8; 7][..]).unwrap_err(),
            UdpError::Truncated { len: 7 }
        );
        let mut b = build(b"abcd");
        b[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            UdpError::LengthTooSmall { length: 7 }
        );
        b[4..6].copy_from_slice(&13u16.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            UdpError::LengthBeyondBuffer {
                length: 13,
                available: 12
            }
        );
        // Each error's Display names the values.
        assert_eq!(
            UdpError::LengthBeyondBuffer {
                length: 13,
                available: 12
            }
            .to_string(),
            "UDP length field 13 exceeds the 12 bytes present"
        );
    }

    #[test]
    fn udp_padding_after_length_is_not_payload() {
        let mut b = build(b"xyz");
        b.extend_from_slice(&[0xee; 5]); // Ethernet-style padding
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), b"xyz");
        assert_eq!(p.padding(), &[0xee; 5]);
        assert_eq!(p.verify_checksum(SRC, DST), UdpChecksumVerdict::Good);
    }

    #[test]
    fn udp_checksum_verdicts_and_mismatch_error() {
        let mut b = build(b"payload!");
        let good = u16::from_be_bytes([b[6], b[7]]);
        b[8] ^= 0x40;
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        let v = p.verify_checksum(SRC, DST);
        let expected = p.compute_checksum(SRC, DST);
        assert_ne!(expected, good);
        assert_eq!(
            v,
            UdpChecksumVerdict::Bad {
                found: good,
                expected
            }
        );
        assert!(!v.is_acceptable());
        assert_eq!(
            UdpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap_err(),
            UdpError::ChecksumMismatch {
                found: good,
                expected
            }
        );
        // Trust skips verification.
        assert!(UdpRepr::parse(&p, SRC, DST, ChecksumMode::Trust).is_ok());
        // Writing the expected value repairs it.
        b[6..8].copy_from_slice(&expected.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&b[..])
                .unwrap()
                .verify_checksum(SRC, DST),
            UdpChecksumVerdict::Good
        );
        // Wrong addresses are caught by the pseudo-header.
        assert!(matches!(
            UdpPacket::new_checked(&b[..])
                .unwrap()
                .verify_checksum(SRC, Ipv4Addr::new(192, 0, 2, 3)),
            UdpChecksumVerdict::Bad { .. }
        ));
    }

    #[test]
    fn udp_zero_checksum_is_absent_and_accepted() {
        let mut b = build(b"no checksum");
        b[6..8].copy_from_slice(&[0, 0]);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        let v = p.verify_checksum(SRC, DST);
        assert_eq!(v, UdpChecksumVerdict::Absent);
        assert!(v.is_acceptable());
        let r = UdpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(r.payload, b"no checksum");
    }

    #[test]
    fn udp_computed_zero_is_sent_as_ffff() {
        // Find a payload whose checksum computes to zero: pick the last two payload bytes so
        // the folded sum becomes 0xffff.
        let mut payload = [0u8; 4];
        let r = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload: &payload,
        };
        let mut buf = [0u8; 12];
        r.emit(SRC, DST, &mut buf).unwrap();
        buf[6..8].copy_from_slice(&[0, 0]);
        let mut c = Checksum::new();
        c.add_pseudo_header(SRC, DST, PROTOCOL, 12).add_bytes(&buf);
        // sum + x == 0xffff (ones' complement) makes the computed checksum zero.
        let x = !c.sum();
        payload[2..4].copy_from_slice(&x.to_be_bytes());
        let r = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload: &payload,
        };
        let mut out = [0u8; 12];
        r.emit(SRC, DST, &mut out).unwrap();
        assert_eq!(
            &out[6..8],
            &[0xff, 0xff],
            "computed zero goes out as 0xffff"
        );
        let p = UdpPacket::new_checked(&out[..]).unwrap();
        assert_eq!(p.verify_checksum(SRC, DST), UdpChecksumVerdict::Good);
        assert_eq!(
            UdpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap(),
            r
        );
    }

    #[test]
    fn udp_emit_with_headroom_and_small_buffer() {
        let r = UdpRepr {
            src_port: 68,
            dst_port: 67,
            payload: &[1, 2, 3],
        };
        let mut frame = [0xaau8; 14 + 20 + 11 + 4];
        let n = r.emit(SRC, DST, &mut frame[34..]).unwrap();
        assert_eq!(n, 11);
        assert_eq!(&frame[..34], &[0xaa; 34], "headroom untouched");
        assert_eq!(&frame[45..], &[0xaa; 4], "tail untouched");
        let p = UdpPacket::new_checked(&frame[34..45]).unwrap();
        assert_eq!(
            UdpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap(),
            r
        );
        assert_eq!(
            r.emit(SRC, DST, &mut [0u8; 10]),
            Err(EmitError::BufferTooSmall {
                needed: 11,
                available: 10
            })
        );
        let big = vec![0u8; 65528];
        let r = UdpRepr { payload: &big, ..r };
        let mut out = vec![0u8; 65536];
        assert!(matches!(
            r.emit(SRC, DST, &mut out),
            Err(EmitError::Unencodable { .. })
        ));
        let r = UdpRepr {
            payload: &big[..65527],
            ..r
        };
        assert_eq!(r.emit(SRC, DST, &mut out).unwrap(), 65535);
    }

    #[test]
    fn udp_setters_and_fill_checksum() {
        let mut b = build(b"abc");
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        p.set_src_port(1000);
        p.set_dst_port(2000);
        p.payload_mut().copy_from_slice(b"xyz");
        assert!(matches!(
            p.verify_checksum(SRC, DST),
            UdpChecksumVerdict::Bad { .. }
        ));
        p.fill_checksum(SRC, DST);
        assert_eq!(p.verify_checksum(SRC, DST), UdpChecksumVerdict::Good);
        let b2 = p.into_inner();
        let p = UdpPacket::new_checked(&b2[..]).unwrap();
        let r = UdpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(
            (r.src_port, r.dst_port, r.payload),
            (1000, 2000, &b"xyz"[..])
        );
    }

    /// Frames of an Ethernet capture, in order.
    fn frames(name: &str) -> Vec<Vec<u8>> {
        crate::testutil::ethernet_frames(name)
    }

    /// Source, destination and IPv4 payload (cut at the total length when it fits) of an
    /// untagged Ethernet/IPv4 frame, read by hand.
    fn ipv4_payload(frame: &[u8]) -> (Ipv4Addr, Ipv4Addr, &[u8]) {
        let ip = &frame[14..];
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

    #[test]
    fn udp_real_captures_checksums_verify() {
        // tcpdump reports "[udp sum ok]" for every datagram in these captures.
        let mut n = 0;
        for name in ["dns_udp.pcap", "dhcp-option-33.pcap", "dhcp-mud.pcap"] {
            for frame in frames(name) {
                let (src, dst, udp) = ipv4_payload(&frame);
                let p = UdpPacket::new_checked(udp).unwrap();
                assert_eq!(
                    p.verify_checksum(src, dst),
                    UdpChecksumVerdict::Good,
                    "{name}"
                );
                let r = UdpRepr::parse(&p, src, dst, ChecksumMode::Verify).unwrap();
                let mut out = vec![0u8; r.buffer_len()];
                r.emit(src, dst, &mut out).unwrap();
                assert_eq!(
                    &out[..],
                    p.datagram(),
                    "{name}: emit reproduces the datagram"
                );
                n += 1;
            }
        }
        assert_eq!(n, 2 + 5 + 2);
        // dns_udp: the first datagram is 192.168.1.11.43966 > 209.87.249.18.53.
        let f = &frames("dns_udp.pcap")[0];
        let (_, _, udp) = ipv4_payload(f);
        let p = UdpPacket::new_checked(udp).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len_field()), (43966, 53, 64));
    }

    #[test]
    fn udp_real_capture_truncated_header() {
        // udp-length-heapoverflow: IPv4 claims 12336 bytes, 4 bytes of UDP were captured
        // (tcpdump prints "[|udp]").
        let f = &frames("udp-length-heapoverflow.pcap")[0];
        let (_, _, udp) = ipv4_payload(f);
        assert_eq!(
            UdpPacket::new_checked(udp).unwrap_err(),
            UdpError::Truncated { len: 4 }
        );
    }

    #[cfg(feature = "arbitrary")]
    #[test]
    fn udp_arbitrary_round_trips() {
        use arbitrary::{Arbitrary, Unstructured};
        use rand::{RngCore, SeedableRng};
        let seed = 768;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut raw = vec![0u8; 4096];
        let mut out = vec![0u8; 70_000];
        let mut n = 0;
        while n < 10_000 {
            let len = (rng.next_u32() % 4096) as usize;
            rng.fill_bytes(&mut raw[..len]);
            let mut u = Unstructured::new(&raw[..len]);
            let Ok(r) = UdpRepr::arbitrary(&mut u) else {
                continue;
            };
            let src = Ipv4Addr::from(rng.next_u32());
            let dst = Ipv4Addr::from(rng.next_u32());
            let headroom = (rng.next_u32() % 64) as usize;
            let w = r.emit(src, dst, &mut out[headroom..]).unwrap();
            assert_eq!(w, r.buffer_len());
            let p = UdpPacket::new_checked(&out[headroom..headroom + w]).unwrap();
            assert_eq!(p.verify_checksum(src, dst), UdpChecksumVerdict::Good);
            assert_eq!(
                UdpRepr::parse(&p, src, dst, ChecksumMode::Verify).unwrap(),
                r
            );
            n += 1;
        }
        println!("{n} udp round trips checked");
    }
}
