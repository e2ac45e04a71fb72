//! IPv4 fragmentation on send (RFC 791 §3.2, "Fragmentation and Reassembly").
//!
//! [`fragment`] checks a datagram against an MTU and returns [`Fragments`], which yields each
//! fragment as a header (an [`Ipv4Repr`] with its offset, More Fragments flag, length and
//! options set) and a borrowed slice of the original payload, or writes each fragment straight
//! into a frame buffer with [`Fragments::emit_next`]. The payload is never copied except into
//! the caller's buffer.
//!
//! Rules applied (RFC 791 §3.2):
//! * every fragment but the last carries a multiple of 8 data bytes and has More Fragments
//!   set; the last keeps the original datagram's More Fragments flag (so a fragment can be
//!   fragmented again);
//! * offsets are in 8-byte units, relative to the original datagram (the input's own offset
//!   is added);
//! * the first fragment carries every option; later ones only those whose copied flag is set
//!   ([`Ipv4Option::is_copied`]);
//! * every fragment's total length is at most the MTU;
//! * a datagram with Don't Fragment set that does not fit is refused with
//!   [`FragmentError::DontFragment`] (the caller counts `tx_too_big` and, for a forwarded
//!   datagram, would answer ICMP fragmentation needed, RFC 1191 §4).

#[cfg(doc)]
use weft_wire::Ipv4Option;
use weft_wire::ipv4::{HEADER_LEN, MAX_HEADER_LEN};
use weft_wire::{EmitError, Ipv4Repr};

/// RFC 791 §3.2: "Every internet module must be able to forward a datagram of 68 octets
/// without further fragmentation" (a 60-byte header and 8 data bytes).
pub const MIN_MTU: u16 = 68;

/// The largest IPv4 datagram (the 16-bit total length, RFC 791 §3.1).
const MAX_DATAGRAM: usize = 0xffff;

/// Why a datagram cannot be sent as fragments of an MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// Larger than the MTU with Don't Fragment set (RFC 791 §3.2: such a datagram is not
    /// fragmented; it is discarded, and a router would send ICMP fragmentation needed).
    #[error("datagram of {len} bytes exceeds the MTU {mtu} and has Don't Fragment set")]
    DontFragment {
        /// The datagram's total length.
        len: usize,
        /// The MTU.
        mtu: u16,
    },
    /// The MTU cannot carry the headers plus 8 data bytes (RFC 791 §3.2: every link carries at
    /// least 68).
    #[error("MTU {mtu} is too small: fragments of this datagram need at least {needed}")]
    MtuTooSmall {
        /// The MTU.
        mtu: u16,
        /// The smallest MTU that works: 68, or more for a header that does not fit in 60.
        needed: usize,
    },
    /// The datagram (header plus payload, at its fragment offset) would exceed 65535 bytes,
    /// which no receiver can reassemble (RFC 791 §3.1: 16-bit total length; 13-bit offset).
    #[error("datagram of {len} bytes (with its offset) exceeds the IPv4 maximum of 65535")]
    TooLarge {
        /// Offset plus header plus payload.
        len: usize,
    },
    /// The header cannot be encoded (options over 40 bytes, a field out of range).
    #[error("header cannot be encoded: {0}")]
    Header(EmitError),
}

/// One fragment's place in the original payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    /// Byte offset into the payload given to [`fragment`].
    start: usize,
    /// Byte count.
    len: usize,
    first: bool,
    last: bool,
}

/// The fragments of one datagram, in order (offset 0 first). An [`Iterator`] of
/// `(header, payload slice)`; or drive it with [`next_len`](Self::next_len) and
/// [`emit_next`](Self::emit_next) to write each fragment into a frame buffer.
#[derive(Debug, Clone)]
pub struct Fragments<'a, 'p> {
    /// The header of the first fragment (all options).
    first: Ipv4Repr<'a>,
    /// The header of later fragments (copied options only).
    later: Ipv4Repr<'a>,
    payload: &'p [u8],
    /// Offset of `payload` in the original datagram, in bytes.
    base: usize,
    /// The original datagram's More Fragments flag, kept by the last fragment.
    more_after: bool,
    /// Data bytes per fragment: first, later (multiples of 8 unless it is all the data).
    first_chunk: usize,
    later_chunk: usize,
    /// Next payload byte to send.
    next: usize,
    /// True until the first fragment has been produced (a datagram with an empty payload is
    /// still one fragment).
    started: bool,
}

/// `header` with its option list reduced to the options copied into every fragment
/// (RFC 791 §3.1: "copied flag: 1 = copied"), in order, and no padding.
fn copied_options<'a>(header: &Ipv4Repr<'a>) -> Ipv4Repr<'a> {
    let mut later = header.clone();
    later.options.retain(|o| o.is_copied());
    later.options_padding = &[];
    later
}

/// Splits a datagram with header `header` and payload `payload` into fragments of at most
/// `mtu` bytes each (total length, header included). Call for every datagram to send on an
/// interface, with the interface's MTU: a datagram that fits comes back as a single fragment
/// identical to the input (`header` with `payload_len` set to `payload.len()`).
///
/// `header.payload_len` is ignored; `header.ident` should already be the datagram's
/// identification (RFC 791 §3.2: all fragments share it). Returns an error, without
/// fragments, for a datagram that cannot be sent (see [`FragmentError`]).
pub fn fragment<'a, 'p>(
    header: &Ipv4Repr<'a>,
    payload: &'p [u8],
    mtu: u16,
) -> Result<Fragments<'a, 'p>, FragmentError> {
    let mut first = header.clone();
    first.payload_len = payload.len();
    let first_hlen = first.header_len();
    if first_hlen > MAX_HEADER_LEN {
        return Err(FragmentError::Header(EmitError::Unencodable {
            field: "options",
            reason: "options and padding exceed 40 bytes (RFC 791 §3.1: IHL is 4 bits)",
        }));
    }
    let base = header.frag_offset_bytes();
    let total = first_hlen + payload.len();
    if base + total > MAX_DATAGRAM {
        return Err(FragmentError::TooLarge { len: base + total });
    }
    let mtu_len = usize::from(mtu);
    let mut later = copied_options(&first);
    later.frag_offset_units = 0;
    let mut f = Fragments {
        later,
        first,
        payload,
        base,
        more_after: header.more_frags,
        first_chunk: payload.len(),
        later_chunk: payload.len(),
        next: 0,
        started: false,
    };
    if total <= mtu_len {
        return Ok(f);
    }
    // RFC 791 §3.2: "If the Don't Fragment flag (DF) bit is set, then internet fragmentation
    // of this datagram is NOT permitted".
    if header.dont_frag {
        return Err(FragmentError::DontFragment { len: total, mtu });
    }
    // RFC 791 §3.2: each fragment carries its header and at least 8 data bytes; the minimum
    // MTU of 68 guarantees that for any header of at most 60 bytes.
    let later_hlen = f.later.header_len().max(HEADER_LEN);
    let needed = usize::from(MIN_MTU).max(first_hlen + 8).max(later_hlen + 8);
    if mtu_len < needed {
        return Err(FragmentError::MtuTooSmall { mtu, needed });
    }
    // RFC 791 §3.2: "the number of 8-octet blocks" of data that fit after the header.
    f.first_chunk = (mtu_len - first_hlen) / 8 * 8;
    f.later_chunk = (mtu_len - later_hlen) / 8 * 8;
    Ok(f)
}

impl<'a, 'p> Fragments<'a, 'p> {
    /// The next fragment's place, without advancing.
    fn peek(&self) -> Option<Piece> {
        if self.started && self.next >= self.payload.len() {
            return None;
        }
        let first = !self.started;
        let chunk = if first {
            self.first_chunk
        } else {
            self.later_chunk
        };
        let len = chunk.min(self.payload.len() - self.next);
        Some(Piece {
            start: self.next,
            len,
            first,
            last: self.next + len >= self.payload.len(),
        })
    }

    fn advance(&mut self, p: Piece) {
        self.started = true;
        self.next = p.start + p.len;
    }

    /// Fills the template for `p` (offset, MF, payload length) and returns it.
    fn header_for(&mut self, p: Piece) -> &Ipv4Repr<'a> {
        let h = if p.first {
            &mut self.first
        } else {
            &mut self.later
        };
        // RFC 791 §3.2: "the fragment offset field ... in units of 8 octets", relative to the
        // original datagram; MF on every fragment but the last, which keeps the original's.
        // The offset fits 13 bits: `fragment` bounded base + length by 65535.
        h.frag_offset_units = u16::try_from((self.base + p.start) / 8).unwrap_or(0x1fff);
        h.more_frags = !p.last || self.more_after;
        h.payload_len = p.len;
        h
    }

    /// Total length (header plus data) of the next fragment, or `None` when all have been
    /// produced. Use it to size the frame buffer before [`emit_next`](Self::emit_next).
    pub fn next_len(&self) -> Option<usize> {
        let p = self.peek()?;
        let h = if p.first { &self.first } else { &self.later };
        Some(h.header_len() + p.len)
    }

    /// Writes the next fragment (header with checksum, then its data) at the start of `buf`
    /// and returns its total length; `None` when all have been produced. On an error nothing
    /// advances, so the call can be repeated with a larger buffer.
    pub fn emit_next(&mut self, buf: &mut [u8]) -> Option<Result<usize, EmitError>> {
        let p = self.peek()?;
        let data = self.payload.get(p.start..p.start + p.len).unwrap_or(&[]);
        let result = emit_fragment(self.header_for(p), data, buf);
        if result.is_ok() {
            self.advance(p);
        }
        Some(result)
    }
}

impl<'a, 'p> Iterator for Fragments<'a, 'p> {
    /// A fragment's header (its `payload_len` is the slice's length) and its data.
    type Item = (Ipv4Repr<'a>, &'p [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let p = self.peek()?;
        let payload: &'p [u8] = self.payload;
        let data = payload.get(p.start..p.start + p.len).unwrap_or(&[]);
        let h = self.header_for(p).clone();
        self.advance(p);
        Some((h, data))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self.peek() {
            None => 0,
            Some(p) => {
                let after = self.payload.len() - (p.start + p.len);
                1 + after.div_ceil(self.later_chunk.max(1))
            }
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Fragments<'_, '_> {}

/// Writes `header` (with `payload_len == data.len()`) and `data` at the start of `buf`,
/// returning the total length. A helper for the items [`Fragments`] yields.
pub fn emit_fragment(
    header: &Ipv4Repr<'_>,
    data: &[u8],
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    if header.payload_len != data.len() {
        return Err(EmitError::Unencodable {
            field: "payload_len",
            reason: "must equal the length of the fragment's data",
        });
    }
    let total = header.header_len() + data.len();
    let Some(out) = buf.get_mut(..total) else {
        return Err(EmitError::BufferTooSmall {
            needed: total,
            available: buf.len(),
        });
    };
    let hlen = header.emit(out)?;
    match out.get_mut(hlen..) {
        Some(dst) if dst.len() == data.len() => dst.copy_from_slice(data),
        _ => {
            return Err(EmitError::Unencodable {
                field: "options",
                reason: "header length differs from header_len()",
            });
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use weft_wire::{ChecksumMode, IpProtocol, Ipv4Addr, Ipv4Option, Ipv4Packet};

    pub(crate) fn header(len: usize) -> Ipv4Repr<'static> {
        Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: IpProtocol::UDP,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 0x1234,
            reserved_flag: false,
            dont_frag: false,
            more_frags: false,
            frag_offset_units: 0,
            options: Default::default(),
            options_padding: &[],
            payload_len: len,
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Emits every fragment, re-parses it, and returns (offset, MF, header_len, data).
    fn wire(f: Fragments<'_, '_>, mtu: u16) -> Vec<(usize, bool, usize, Vec<u8>)> {
        let mut f = f;
        let mut out = Vec::new();
        let mut buf = vec![0u8; usize::from(mtu)];
        while let Some(len) = f.next_len() {
            assert!(len <= usize::from(mtu), "fragment of {len} over MTU {mtu}");
            let n = f.emit_next(&mut buf).unwrap().unwrap();
            assert_eq!(n, len);
            let p = Ipv4Packet::new_checked(&buf[..n]).unwrap();
            assert!(p.verify_checksum());
            out.push((
                usize::from(p.frag_offset_bytes()),
                p.more_frags(),
                p.header_len(),
                p.payload().to_vec(),
            ));
        }
        out
    }

    #[test]
    fn fragment_60k_into_1500_reassembles() {
        // RFC 791 §3.2: offsets in 8-byte units, MF on all but the last, every fragment at
        // most the MTU; putting the data back at the offsets gives the original.
        let payload = pattern(60 * 1024);
        let h = header(payload.len());
        let f = fragment(&h, &payload, 1500).unwrap();
        assert_eq!(f.len(), (60 * 1024usize).div_ceil(1480));
        let frags = wire(f, 1500);
        assert_eq!(frags.len(), 42);
        let mut back = vec![0u8; payload.len()];
        let mut expect_off = 0;
        for (i, (off, mf, hlen, data)) in frags.iter().enumerate() {
            assert_eq!(*off, expect_off);
            assert_eq!(*off % 8, 0);
            assert_eq!(*hlen, 20);
            assert_eq!(*mf, i + 1 != frags.len());
            if *mf {
                assert_eq!(data.len(), 1480);
            }
            back[*off..*off + data.len()].copy_from_slice(data);
            expect_off += data.len();
        }
        assert_eq!(expect_off, payload.len());
        assert_eq!(back, payload);
        // The iterator yields the same headers and borrowed slices.
        let items: Vec<_> = fragment(&h, &payload, 1500).unwrap().collect();
        assert_eq!(items.len(), 42);
        assert_eq!(items[1].0.frag_offset_units, 185);
        assert_eq!(items[1].1.as_ptr(), payload[1480..].as_ptr());
        assert!(
            items
                .iter()
                .all(|(r, d)| r.ident == 0x1234 && r.payload_len == d.len())
        );
    }

    #[test]
    fn fragment_fits_is_one_datagram() {
        // RFC 791 §3.2: a datagram no larger than the MTU is sent whole, even with DF set.
        let payload = pattern(1480);
        let mut h = header(0);
        h.dont_frag = true;
        let items: Vec<_> = fragment(&h, &payload, 1500).unwrap().collect();
        assert_eq!(items.len(), 1);
        let (r, d) = &items[0];
        assert!(!r.more_frags && r.frag_offset_units == 0 && r.dont_frag);
        assert_eq!((r.payload_len, d.len()), (1480, 1480));
        // An empty payload is still one datagram.
        assert_eq!(fragment(&h, &[], 1500).unwrap().count(), 1);
    }

    #[test]
    fn fragment_option_copy_rule() {
        // RFC 791 §3.1/§3.2: options with the copied flag (Security 130, LSRR 131) go into
        // every fragment; the others (Record Route 7, Timestamp 68, NOP) only into the first.
        let sec = [0x01u8, 0x02];
        let route = [10u8, 0, 0, 9];
        let mut h = header(0);
        h.options.push(Ipv4Option::RecordRoute {
            pointer: 4,
            addresses: &[0; 8],
        });
        h.options.push(Ipv4Option::Nop);
        h.options.push(Ipv4Option::Security(&sec));
        h.options.push(Ipv4Option::LooseSourceRoute {
            pointer: 4,
            addresses: &route,
        });
        let payload = pattern(3000);
        let mtu = 1000;
        let items: Vec<_> = fragment(&h, &payload, mtu).unwrap().collect();
        assert!(items.len() >= 4);
        assert_eq!(items[0].0.options.as_slice(), h.options.as_slice());
        for (r, _) in &items[1..] {
            assert_eq!(
                r.options.as_slice(),
                &[
                    Ipv4Option::Security(&sec),
                    Ipv4Option::LooseSourceRoute {
                        pointer: 4,
                        addresses: &route
                    }
                ]
            );
        }
        // On the wire: first header 20 + 23 bytes of options + 1 padding, later 20 + 11 + 1.
        let frags = wire(fragment(&h, &payload, mtu).unwrap(), mtu);
        assert_eq!(frags[0].2, 44);
        assert!(frags[1..].iter().all(|f| f.2 == 32));
        // Data per fragment: the largest multiple of 8 after each header.
        assert_eq!(frags[0].3.len(), 952);
        assert_eq!(frags[1].3.len(), 968);
        assert_eq!(frags[1].0, 952);
        let mut back = vec![0u8; payload.len()];
        for (off, _, _, d) in &frags {
            back[*off..*off + d.len()].copy_from_slice(d);
        }
        assert_eq!(back, payload);
        // And the headers parse back with the copied options.
        let mut buf = vec![0u8; 1000];
        let mut f = fragment(&h, &payload, mtu).unwrap();
        f.emit_next(&mut buf).unwrap().unwrap();
        let n = f.emit_next(&mut buf).unwrap().unwrap();
        let p = Ipv4Packet::new_checked(&buf[..n]).unwrap();
        let r = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert_eq!(
            &r.options[..2],
            &[
                Ipv4Option::Security(&sec),
                Ipv4Option::LooseSourceRoute {
                    pointer: 4,
                    addresses: &route
                }
            ]
        );
    }

    #[test]
    fn fragment_dont_fragment_error() {
        // RFC 791 §3.2: DF set and larger than the MTU: not fragmented, refused.
        let payload = pattern(2000);
        let mut h = header(0);
        h.dont_frag = true;
        assert_eq!(
            fragment(&h, &payload, 1500).unwrap_err(),
            FragmentError::DontFragment {
                len: 2020,
                mtu: 1500
            }
        );
    }

    #[test]
    fn fragment_tiny_mtu_68() {
        // RFC 791 §3.2: every link carries 68 bytes: a 60-byte header and 8 data bytes, so
        // each fragment carries 8·k data bytes; below 68 fragmentation is refused.
        let payload = pattern(200);
        let h = header(0);
        let frags = wire(fragment(&h, &payload, 68).unwrap(), 68);
        // 20-byte headers leave 48 bytes (6 blocks) per fragment.
        assert_eq!(frags.len(), 5);
        assert!(frags[..4].iter().all(|f| f.3.len() == 48 && f.1));
        assert_eq!((frags[4].0, frags[4].3.len(), frags[4].1), (192, 8, false));
        // A 60-byte header at MTU 68: exactly 8 data bytes per fragment.
        let mut h60 = header(0);
        h60.options.push(Ipv4Option::Security(&[0u8; 38]));
        assert_eq!(h60.header_len(), 60);
        let frags = wire(fragment(&h60, &payload, 68).unwrap(), 68);
        assert_eq!(frags[0].3.len(), 8);
        assert_eq!(frags[0].2, 60);
        assert_eq!(frags.len(), 25);
        assert_eq!(
            fragment(&h, &payload, 67).unwrap_err(),
            FragmentError::MtuTooSmall {
                mtu: 67,
                needed: 68
            }
        );
    }

    #[test]
    fn fragment_refragments_and_limits() {
        // RFC 791 §3.2: a fragment fragmented again keeps its offset base, and its last piece
        // keeps the original MF; a datagram over 65535 bytes cannot be sent.
        let payload = pattern(1000);
        let mut h = header(0);
        h.frag_offset_units = 100;
        h.more_frags = true;
        let items: Vec<_> = fragment(&h, &payload, 500).unwrap().collect();
        assert_eq!(items[0].0.frag_offset_units, 100);
        assert_eq!(items[1].0.frag_offset_units, 100 + 480 / 8);
        assert!(items.iter().all(|(r, _)| r.more_frags));
        let big = vec![0u8; 65_516];
        assert_eq!(
            fragment(&header(0), &big, 1500).unwrap_err(),
            FragmentError::TooLarge { len: 65_536 }
        );
        // A buffer too small for the next fragment is an error that does not advance.
        let mut f = fragment(&header(0), &payload, 500).unwrap();
        let mut small = [0u8; 100];
        assert!(matches!(
            f.emit_next(&mut small),
            Some(Err(EmitError::BufferTooSmall { needed: 500, .. }))
        ));
        assert_eq!(f.next_len(), Some(500));
    }
}
