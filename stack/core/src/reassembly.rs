//! IPv4 reassembly (RFC 791 §3.2; RFC 815; RFC 1122 §3.3.2), bounded in datagrams, bytes and
//! age, with overlapping fragments rejected.
//!
//! [`Reassembler`] keeps each partial datagram, keyed by (source, destination, protocol,
//! identification) as RFC 791 §3.2 says, as a sorted map of disjoint received intervals
//! (offset → data), the sorted-interval equivalent of RFC 815's hole descriptors: since no two
//! intervals may overlap, the datagram is complete exactly when its last fragment has fixed
//! the length and the received bytes add up to it.
//!
//! Rules, each with the reason:
//! * **Overlaps drop the whole datagram** (counted in `reassembly_overlaps`). RFC 791 lets
//!   later data overwrite earlier, but overlapping fragments are the vehicle of the
//!   "teardrop" and overlapping-header attacks that slip past filters (RFC 1858 §4,
//!   RFC 3128); RFC 5722 §4 makes "discard the entire datagram" mandatory for IPv6 and weft
//!   adopts the same rule for IPv4.
//! * **Exact duplicates are tolerated**: a fragment with the same offset, length and bytes
//!   as one already held is ignored (links duplicate frames; RFC 5722 §4 allows silently
//!   dropping exact duplicates instead of treating them as overlaps). The same offset and
//!   length with different bytes is an overlap.
//! * A datagram longer than 65535 bytes (RFC 791 §3.1: 16-bit total length; the "ping of
//!   death") is dropped whole, counted in `rx_malformed`. So is a fragment that contradicts
//!   the length another fragment fixed (data beyond the last fragment's end, or two
//!   different ends).
//! * A fragment other than the last whose data is empty or not a multiple of 8 bytes
//!   (RFC 791 §3.2: fragments carry "8-octet blocks") is dropped alone, counted in
//!   `rx_malformed`.
//! * **Bounds** (`Limits::reassembly_datagrams`, `reassembly_bytes`): a fragment that would
//!   start a datagram beyond the datagram limit is dropped; a fragment that would push the
//!   bytes held over the byte limit is dropped together with the rest of its datagram, which
//!   could no longer complete. Both count `reassembly_full` (once per fragment refused). The
//!   byte count charges each fragment its data plus [`FRAGMENT_OVERHEAD`] and each datagram
//!   [`DATAGRAM_OVERHEAD`], so a flood of tiny fragments is bounded in memory too.
//! * **Age** (`Limits::reassembly_timeout`): a partial datagram lives a fixed time from its
//!   first fragment, not extended by later ones (RFC 1122 §3.3.2 recommends a fixed timeout;
//!   RFC 791 §3.2's TTL-based extension would let a trickle of fragments keep it forever).
//!   Expiry counts `reassembly_timeouts` and hands back the first fragment's header and 8 data
//!   bytes, when fragment zero arrived, for an ICMP time exceeded, code 1 (RFC 1122 §3.3.2,
//!   RFC 792).
//!
//! Counters: the methods update the caller's [`Ipv4Counters`] passed by `&mut`: `rx_fragments`
//! (every fragment given to [`Reassembler::insert`]), `reassembled`, `reassembly_overlaps`,
//! `reassembly_full`, `reassembly_timeouts` and `rx_malformed` as above.
//!
//! Cost: partial datagrams sit in an ordered map and an ordered expiry index
//! (`BTreeSet<(deadline, key)>`), so every operation is O(log n) in the number of partial
//! datagrams (plus O(log k) in the fragments of the one touched); expiry never scans.

use crate::config::Limits;
use crate::counters::Ipv4Counters;
use crate::time::{Duration, Instant};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::ops::Bound;
use weft_wire::{IpProtocol, Ipv4Addr, Ipv4Packet};

/// Bytes charged to `reassembly_bytes` for each fragment held, besides its data (its
/// allocation, map entry and node share).
pub const FRAGMENT_OVERHEAD: usize = 64;
/// Bytes charged to `reassembly_bytes` for each partial datagram: its state and saved first
/// header (~170 bytes), its index entries, and the first node of its fragment map (~364
/// bytes), as measured by the counting allocator in `tests/flood.rs`.
pub const DATAGRAM_OVERHEAD: usize = 640;
/// Longest quote: a 60-byte header and the first 8 data bytes (RFC 792).
pub const QUOTE_LEN: usize = 68;
/// The largest datagram, header included (RFC 791 §3.1).
const MAX_DATAGRAM: usize = 0xffff;

/// What identifies the fragments of one datagram (RFC 791 §3.2: "the identification field is
/// used together with the source and destination address, and the protocol fields").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatagramKey {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol.
    pub protocol: IpProtocol,
    /// Identification.
    pub ident: u16,
}

/// Up to 68 bytes of a datagram as received: a header, or a header and the first 8 data
/// bytes (what ICMP errors quote, RFC 792).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    bytes: [u8; QUOTE_LEN],
    len: u8,
}

impl Quote {
    /// `header` followed by up to 8 bytes of `data`, cut at `QUOTE_LEN` bytes.
    fn new(header: &[u8], data: &[u8]) -> Quote {
        let mut bytes = [0u8; QUOTE_LEN];
        let mut len = 0u8;
        for (dst, src) in bytes
            .iter_mut()
            .zip(header.iter().chain(data.iter().take(8)))
        {
            *dst = *src;
            len += 1;
        }
        Quote { bytes, len }
    }
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl core::fmt::Debug for Quote {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Quote").field(&self.as_bytes()).finish()
    }
}

/// A datagram put back together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// Source, destination, protocol and identification.
    pub key: DatagramKey,
    /// TTL of the first fragment.
    pub ttl: u8,
    /// DSCP of the first fragment.
    pub dscp: u8,
    /// ECN of the first fragment.
    pub ecn: u8,
    /// The first fragment's header as received, options included (RFC 791 §3.2: the
    /// reassembled datagram's header is the first fragment's; its total length, MF and offset
    /// fields describe that fragment, not the whole). `Ipv4Packet::new_quoted` reads it.
    pub header: Quote,
    /// The whole payload.
    pub payload: Vec<u8>,
}

/// A partial datagram dropped on timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// Which datagram.
    pub key: DatagramKey,
    /// Fragment zero's header and first 8 data bytes, if it arrived: the body of an ICMP time
    /// exceeded, code 1 "fragment reassembly time exceeded" (RFC 792; RFC 1122 §3.3.2: sent
    /// only if fragment zero has been received).
    pub quote: Option<Quote>,
}

/// Why a fragment was refused. Each is counted (see the module doc) except `NotAFragment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReassemblyError {
    /// The datagram is not a fragment (MF clear and offset zero): deliver it directly.
    #[error("not a fragment (MF clear, offset 0): deliver it without reassembly")]
    NotAFragment,
    /// The view does not hold the whole fragment (a quoted header, not a received datagram).
    #[error("fragment truncated: total length {total_len}, {present} bytes present")]
    Truncated {
        /// Total length field.
        total_len: u16,
        /// Bytes present.
        present: usize,
    },
    /// A fragment with MF set whose data is empty or not a multiple of 8 bytes (RFC 791 §3.2);
    /// the fragment alone is dropped.
    #[error(
        "fragment at offset {offset} has MF set but {len} data bytes, not a non-zero multiple of 8"
    )]
    Misaligned {
        /// Byte offset.
        offset: usize,
        /// Data length.
        len: usize,
    },
    /// The datagram would be longer than 65535 bytes; the whole datagram is dropped.
    #[error("fragment ending at {end} (header {header_len}) makes the datagram exceed 65535 bytes")]
    TooLarge {
        /// End of the fragment's data.
        end: usize,
        /// The header length counted.
        header_len: usize,
    },
    /// The fragment overlaps one already held; the whole datagram is dropped (RFC 5722 §4's
    /// rule, applied to IPv4).
    #[error("fragment {offset}..{end} overlaps data already received; datagram dropped")]
    Overlap {
        /// Byte offset.
        offset: usize,
        /// End of the fragment's data.
        end: usize,
    },
    /// The fragment contradicts the datagram's length fixed by a last fragment (data beyond
    /// it, or a second, different end); the whole datagram is dropped.
    #[error("fragment {offset}..{end} contradicts the datagram length {total}; datagram dropped")]
    Inconsistent {
        /// Byte offset.
        offset: usize,
        /// End of the fragment's data.
        end: usize,
        /// The length known so far (the largest end seen when a last fragment arrives).
        total: usize,
    },
    /// `reassembly_datagrams` partial datagrams are held already; the fragment is dropped.
    #[error("{limit} datagrams already under reassembly; fragment dropped")]
    TooManyDatagrams {
        /// The limit.
        limit: usize,
    },
    /// Holding the fragment would exceed `reassembly_bytes`; it is dropped with its datagram.
    #[error("reassembly byte limit {limit} reached; fragment and its datagram dropped")]
    TooManyBytes {
        /// The limit.
        limit: usize,
    },
}

/// Fragment zero's facts, saved for the reassembled header and the ICMP quote.
#[derive(Debug, Clone, Copy)]
struct First {
    /// Header and first 8 data bytes.
    quote: Quote,
    header_len: usize,
    ttl: u8,
    dscp: u8,
    ecn: u8,
}

/// One partial datagram.
#[derive(Debug)]
struct Partial {
    deadline: Instant,
    /// Disjoint received intervals: offset → data.
    fragments: BTreeMap<usize, Vec<u8>>,
    /// Sum of the data lengths in `fragments`.
    received: usize,
    /// Payload length, once the last fragment (MF clear) has arrived.
    total: Option<usize>,
    first: Option<First>,
    /// Bytes charged to the budget.
    charge: usize,
}

impl Partial {
    /// End of the highest interval held.
    fn max_end(&self) -> usize {
        self.fragments
            .last_key_value()
            .map_or(0, |(o, d)| o + d.len())
    }
}

/// The reassembly buffer. Feed it every received fragment ([`insert`](Self::insert)); put
/// [`next_deadline`](Self::next_deadline) in the stack's deadline set after each call, and call
/// [`handle_timeout`](Self::handle_timeout) when it is due.
#[derive(Debug)]
pub struct Reassembler {
    datagrams: BTreeMap<DatagramKey, Partial>,
    /// Expiry index: exactly one entry `(deadline, key)` per entry of `datagrams`.
    expiry: BTreeSet<(Instant, DatagramKey)>,
    max_datagrams: usize,
    max_bytes: usize,
    timeout: Duration,
    /// Bytes charged, the sum of every partial datagram's `charge`.
    bytes: usize,
    /// Ordered-map operations and entries visited, for operation-count tests: per call this
    /// must not grow with the number of partial datagrams beyond the O(log n) inside each.
    pub ops: u64,
}

impl Reassembler {
    /// An empty buffer with the reassembly bounds of `limits`.
    pub fn new(limits: &Limits) -> Self {
        Reassembler {
            datagrams: BTreeMap::new(),
            expiry: BTreeSet::new(),
            max_datagrams: limits.reassembly_datagrams,
            max_bytes: limits.reassembly_bytes,
            timeout: limits.reassembly_timeout,
            bytes: 0,
            ops: 0,
        }
    }

    /// Partial datagrams held.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// True when no partial datagram is held.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Bytes charged against `reassembly_bytes` (data plus the fixed overheads).
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    /// Drops a partial datagram and its index entry.
    fn remove(&mut self, key: &DatagramKey) -> Option<Partial> {
        self.ops += 1;
        let p = self.datagrams.remove(key)?;
        self.ops += 1;
        self.expiry.remove(&(p.deadline, *key));
        self.bytes = self.bytes.saturating_sub(p.charge);
        Some(p)
    }

    /// Drops `key`'s datagram (if any) and returns `err`.
    fn drop_datagram<T>(
        &mut self,
        key: &DatagramKey,
        err: ReassemblyError,
    ) -> Result<T, ReassemblyError> {
        self.remove(key);
        Err(err)
    }

    /// Takes one received fragment (a datagram whose MF flag is set or whose offset is not
    /// zero), from a view made by `Ipv4Packet::new_checked` whose header checksum has been
    /// verified and whose destination is ours. Call for every such datagram, at its arrival
    /// time `now`; afterwards the earliest deadline may have moved.
    ///
    /// Returns `Ok(Some(datagram))` when this fragment completes its datagram, `Ok(None)` when
    /// it was stored (or was an exact duplicate), and an error when it was dropped (see
    /// [`ReassemblyError`] for which errors drop the whole datagram). Counters in `counters`
    /// are updated as the module doc says.
    pub fn insert<T: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        packet: &Ipv4Packet<T>,
        counters: &mut Ipv4Counters,
    ) -> Result<Option<Reassembled>, ReassemblyError> {
        // RFC 815 §2 / RFC 791 §3.2: a fragment has MF set or a non-zero offset.
        if !packet.is_fragment() {
            return Err(ReassemblyError::NotAFragment);
        }
        counters.rx_fragments += 1;
        let result = self.insert_fragment(now, packet);
        match result {
            Ok(Some(_)) => counters.reassembled += 1,
            Ok(None) => {}
            Err(ReassemblyError::Overlap { .. }) => counters.reassembly_overlaps += 1,
            Err(
                ReassemblyError::TooManyDatagrams { .. } | ReassemblyError::TooManyBytes { .. },
            ) => {
                counters.reassembly_full += 1;
            }
            Err(_) => counters.rx_malformed += 1,
        }
        result
    }

    fn insert_fragment<T: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        packet: &Ipv4Packet<T>,
    ) -> Result<Option<Reassembled>, ReassemblyError> {
        if packet.is_truncated() {
            return Err(ReassemblyError::Truncated {
                total_len: packet.total_len(),
                present: packet.header().len() + packet.payload().len(),
            });
        }
        let key = DatagramKey {
            src: packet.src(),
            dst: packet.dst(),
            protocol: packet.protocol(),
            ident: packet.ident(),
        };
        let data = packet.payload();
        let header_len = packet.header_len();
        let offset = usize::from(packet.frag_offset_bytes());
        let len = data.len();
        let end = offset + len;
        let more = packet.more_frags();
        // RFC 791 §3.2: every fragment but the last carries a whole number of 8-octet blocks.
        if more && (len == 0 || !len.is_multiple_of(8)) {
            return Err(ReassemblyError::Misaligned { offset, len });
        }
        // RFC 791 §3.1: the total length is 16 bits; a datagram reassembling beyond 65535
        // bytes is the "ping of death" and is dropped whole.
        if end + header_len > MAX_DATAGRAM {
            return self.drop_datagram(&key, ReassemblyError::TooLarge { end, header_len });
        }

        self.ops += 1;
        let existing = self.datagrams.get(&key);
        let charge = len + if len > 0 { FRAGMENT_OVERHEAD } else { 0 };
        if let Some(p) = existing {
            // The length fixed by the last fragment (RFC 791 §3.2: MF clear marks the end)
            // must agree with every other fragment.
            let known = p.total.unwrap_or_else(|| p.max_end());
            let contradicts = match (more, p.total) {
                (false, Some(t)) => t != end,
                (false, None) => p.max_end() > end,
                (true, Some(t)) => end > t,
                (true, None) => false,
            };
            if contradicts {
                let err = ReassemblyError::Inconsistent {
                    offset,
                    end,
                    total: known,
                };
                return self.drop_datagram(&key, err);
            }
            self.ops += 2;
            let pred = p.fragments.range(..=offset).next_back();
            let succ = p
                .fragments
                .range((Bound::Excluded(offset), Bound::Unbounded))
                .next();
            // RFC 5722 §4: an exact duplicate MAY be silently dropped.
            let duplicate = match pred {
                _ if len == 0 => p.total == Some(end),
                Some((&o, d)) => o == offset && d.as_slice() == data,
                None => false,
            };
            if duplicate {
                return Ok(None);
            }
            // RFC 5722 §4 (adopted for IPv4): any overlap discards the entire datagram.
            let overlaps = len > 0
                && (pred.is_some_and(|(&o, d)| o + d.len() > offset)
                    || succ.is_some_and(|(&o, _)| o < end));
            if overlaps {
                return self.drop_datagram(&key, ReassemblyError::Overlap { offset, end });
            }
            if self.bytes.saturating_add(charge) > self.max_bytes {
                let err = ReassemblyError::TooManyBytes {
                    limit: self.max_bytes,
                };
                return self.drop_datagram(&key, err);
            }
        } else {
            if self.datagrams.len() >= self.max_datagrams {
                return Err(ReassemblyError::TooManyDatagrams {
                    limit: self.max_datagrams,
                });
            }
            if self.bytes.saturating_add(charge + DATAGRAM_OVERHEAD) > self.max_bytes {
                return Err(ReassemblyError::TooManyBytes {
                    limit: self.max_bytes,
                });
            }
            // RFC 1122 §3.3.2: a fixed timeout from the first fragment received.
            let deadline = now + self.timeout;
            self.ops += 2;
            self.expiry.insert((deadline, key));
            self.datagrams.insert(
                key,
                Partial {
                    deadline,
                    fragments: BTreeMap::new(),
                    received: 0,
                    total: None,
                    first: None,
                    charge: DATAGRAM_OVERHEAD,
                },
            );
            self.bytes += DATAGRAM_OVERHEAD;
        }

        self.ops += 1;
        let Some(p) = self.datagrams.get_mut(&key) else {
            return Ok(None);
        };
        if len > 0 {
            self.ops += 1;
            p.fragments.insert(offset, data.to_vec());
        }
        p.received += len;
        p.charge += charge;
        self.bytes += charge;
        if offset == 0 {
            // Fragment zero: its header becomes the datagram's (RFC 791 §3.2), and its
            // header plus 8 data bytes are what ICMP quotes (RFC 792).
            p.first = Some(First {
                quote: Quote::new(packet.header(), data),
                header_len,
                ttl: packet.ttl(),
                dscp: packet.dscp(),
                ecn: packet.ecn(),
            });
        }
        if !more {
            p.total = Some(end);
        }
        // Disjoint intervals inside [0, total) whose lengths add up to total cover it.
        if p.total != Some(p.received) {
            return Ok(None);
        }
        let Some(p) = self.remove(&key) else {
            return Ok(None);
        };
        let Some(first) = p.first else {
            // Unreachable: full coverage includes offset 0. Dropped, as inconsistent.
            return Err(ReassemblyError::Inconsistent {
                offset,
                end,
                total: p.received,
            });
        };
        // RFC 791 §3.1: the reassembled datagram, with fragment zero's header, must fit the
        // 16-bit total length.
        if first.header_len + p.received > MAX_DATAGRAM {
            let err = ReassemblyError::TooLarge {
                end: p.received,
                header_len: first.header_len,
            };
            return Err(err);
        }
        let mut payload = Vec::with_capacity(p.received);
        for d in p.fragments.values() {
            payload.extend_from_slice(d);
        }
        Ok(Some(Reassembled {
            key,
            ttl: first.ttl,
            dscp: first.dscp,
            ecn: first.ecn,
            header: Quote::new(
                first
                    .quote
                    .as_bytes()
                    .get(..first.header_len)
                    .unwrap_or(&[]),
                &[],
            ),
            payload,
        }))
    }

    /// The earliest time a partial datagram expires, for the stack's deadline set
    /// (`TimerOwner::Reassembly`). Call after every `insert` and `handle_timeout`.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.expiry.first().map(|(t, _)| *t)
    }

    /// Drops the earliest partial datagram whose deadline is at or before `now` and returns
    /// it, or `None` when none is due. Counts `reassembly_timeouts`.
    pub fn pop_expired(&mut self, now: Instant, counters: &mut Ipv4Counters) -> Option<Expired> {
        self.ops += 1;
        let &(t, key) = self.expiry.first()?;
        if t > now {
            return None;
        }
        let p = self.remove(&key)?;
        counters.reassembly_timeouts += 1;
        Some(Expired {
            key,
            quote: p.first.map(|f| f.quote),
        })
    }

    /// Expires every partial datagram due at `now` (RFC 1122 §3.3.2: "the partially-
    /// reassembled datagram MUST be discarded"), earliest first, calling `on_expired` for
    /// each so the stack can send ICMP time exceeded (code 1) when `quote` is present. Call
    /// when [`next_deadline`](Self::next_deadline) is due.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        counters: &mut Ipv4Counters,
        mut on_expired: impl FnMut(Expired),
    ) {
        while let Some(e) = self.pop_expired(now, counters) {
            on_expired(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::{emit_fragment, fragment};
    use alloc::vec;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};
    use weft_wire::{Ipv4Option, Ipv4Repr};

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn header(ident: u16) -> Ipv4Repr<'static> {
        Ipv4Repr {
            src: SRC,
            dst: DST,
            protocol: IpProtocol::UDP,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident,
            reserved_flag: false,
            dont_frag: false,
            more_frags: false,
            frag_offset_units: 0,
            options: Default::default(),
            options_padding: &[],
            payload_len: 0,
        }
    }

    fn pattern(len: usize, salt: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 8) as u8 ^ salt)
            .collect()
    }

    /// One fragment on the wire: `data` at byte offset `offset` (a multiple of 8).
    fn raw(ident: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
        let mut h = header(ident);
        h.frag_offset_units = (offset / 8) as u16;
        h.more_frags = more;
        h.payload_len = data.len();
        let mut buf = vec![0u8; h.header_len() + data.len()];
        emit_fragment(&h, data, &mut buf).unwrap();
        buf
    }

    /// The fragments of `payload` for `mtu`, on the wire, through fragment.rs.
    fn split(h: &Ipv4Repr<'_>, payload: &[u8], mtu: u16) -> Vec<Vec<u8>> {
        let mut f = fragment(h, payload, mtu).unwrap();
        let mut out = Vec::new();
        while let Some(n) = f.next_len() {
            let mut buf = vec![0u8; n];
            f.emit_next(&mut buf).unwrap().unwrap();
            out.push(buf);
        }
        out
    }

    fn ins(
        r: &mut Reassembler,
        now: Instant,
        frame: &[u8],
        c: &mut Ipv4Counters,
    ) -> Result<Option<Reassembled>, ReassemblyError> {
        r.insert(now, &Ipv4Packet::new_checked(frame).unwrap(), c)
    }

    /// Inserts `frags` in the given order; asserts only the last completes and returns it.
    fn feed(r: &mut Reassembler, frags: &[&Vec<u8>], c: &mut Ipv4Counters) -> Reassembled {
        let (last, rest) = frags.split_last().unwrap();
        for f in rest {
            assert_eq!(ins(r, Instant::ZERO, f, c), Ok(None));
        }
        ins(r, Instant::ZERO, last, c)
            .unwrap()
            .expect("last fragment completes")
    }

    fn assert_empty(r: &Reassembler) {
        assert!(r.is_empty());
        assert_eq!(r.bytes_held(), 0);
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn fragment_reassembly_in_order() {
        // RFC 791 §3.2: fragments in order rebuild the datagram, with fragment zero's header.
        let payload = pattern(5000, 1);
        let frags = split(&header(7), &payload, 1500);
        assert_eq!(frags.len(), 4);
        let mut r = Reassembler::new(&Limits::default());
        let mut c = Ipv4Counters::default();
        let got = feed(&mut r, &frags.iter().collect::<Vec<_>>(), &mut c);
        assert_eq!(got.payload, payload);
        assert_eq!(
            got.key,
            DatagramKey {
                src: SRC,
                dst: DST,
                protocol: IpProtocol::UDP,
                ident: 7
            }
        );
        assert_eq!(got.header.as_bytes(), &frags[0][..20]);
        assert_eq!(got.ttl, 64);
        assert_eq!((c.rx_fragments, c.reassembled), (4, 1));
        assert_empty(&r);
    }

    #[test]
    fn fragment_reassembly_reverse_order() {
        // RFC 815 §3: fragments may arrive in any order; the last one to arrive (here fragment
        // zero) completes the datagram.
        let payload = pattern(7000, 2);
        let frags = split(&header(8), &payload, 1000);
        let mut r = Reassembler::new(&Limits::default());
        let mut c = Ipv4Counters::default();
        let got = feed(&mut r, &frags.iter().rev().collect::<Vec<_>>(), &mut c);
        assert_eq!(got.payload, payload);
        assert_eq!(c.reassembled, 1);
        assert_empty(&r);
    }

    #[test]
    fn fragment_reassembly_random_order_seeded() {
        // RFC 815 §3: any arrival order, interleaved datagrams and exact duplicates (tolerated,
        // RFC 5722 §4) all give back the original payloads.
        let seed = 0x5eed_f4a6u64;
        println!("fragment_reassembly_random_order_seeded: seed {seed:#x}");
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut r = Reassembler::new(&Limits::default());
        let mut c = Ipv4Counters::default();
        for trial in 0..200u16 {
            let len = 1 + (rng.next_u32() % 20_000) as usize;
            let mtu = 68 + (rng.next_u32() % 1500) as u16;
            let payload = pattern(len, trial as u8);
            let frags = split(&header(trial), &payload, mtu);
            let mut order: Vec<&Vec<u8>> = frags.iter().collect();
            for i in (1..order.len()).rev() {
                order.swap(i, (rng.next_u32() as usize) % (i + 1));
            }
            // A few exact duplicates, each after its original and before the fragment that
            // completes the datagram.
            if order.len() > 2 {
                for _ in 0..(rng.next_u32() % 3) {
                    let at = 1 + (rng.next_u32() as usize) % (order.len() - 2);
                    let copy = order[(rng.next_u32() as usize) % at];
                    order.insert(at, copy);
                }
            }
            let mut done = None;
            for f in order {
                match ins(&mut r, Instant::ZERO, f, &mut c) {
                    Ok(Some(d)) => {
                        assert!(done.is_none(), "completed twice");
                        done = Some(d);
                    }
                    Ok(None) => {}
                    // A datagram that fitted the MTU is not a fragment.
                    Err(e) => assert_eq!((e, frags.len()), (ReassemblyError::NotAFragment, 1)),
                }
            }
            assert_eq!(
                done.map(|d| d.payload),
                if frags.len() > 1 { Some(payload) } else { None }
            );
            assert!(r.is_empty());
        }
        assert_eq!(c.reassembly_overlaps, 0);
        assert_empty(&r);
    }

    #[test]
    fn fragment_reassembly_overlap_rejected() {
        // RFC 5722 §4 (adopted for IPv4): an overlapping fragment discards the entire
        // datagram; exact duplicates may be dropped silently instead.
        let mut r = Reassembler::new(&Limits::default());
        let mut c = Ipv4Counters::default();
        let a = pattern(16, 3);
        assert_eq!(
            ins(&mut r, Instant::ZERO, &raw(1, 0, true, &a), &mut c),
            Ok(None)
        );
        // Exact duplicate: ignored, not counted.
        assert_eq!(
            ins(&mut r, Instant::ZERO, &raw(1, 0, true, &a), &mut c),
            Ok(None)
        );
        assert_eq!(c.reassembly_overlaps, 0);
        // Overlaps the tail of [0, 16): the whole datagram goes.
        let e = ins(
            &mut r,
            Instant::ZERO,
            &raw(1, 8, false, &pattern(16, 4)),
            &mut c,
        );
        assert_eq!(e, Err(ReassemblyError::Overlap { offset: 8, end: 24 }));
        assert_eq!(c.reassembly_overlaps, 1);
        assert_empty(&r);
        // A fragment overlapping its successor; then same offset and length, other bytes.
        ins(&mut r, Instant::ZERO, &raw(2, 16, true, &a), &mut c).unwrap();
        let e = ins(&mut r, Instant::ZERO, &raw(2, 8, true, &a), &mut c);
        assert_eq!(e, Err(ReassemblyError::Overlap { offset: 8, end: 24 }));
        ins(&mut r, Instant::ZERO, &raw(3, 16, true, &a), &mut c).unwrap();
        let e = ins(
            &mut r,
            Instant::ZERO,
            &raw(3, 16, true, &pattern(16, 9)),
            &mut c,
        );
        assert_eq!(
            e,
            Err(ReassemblyError::Overlap {
                offset: 16,
                end: 32
            })
        );
        assert_eq!(c.reassembly_overlaps, 3);
        assert_empty(&r);
        // After the drop, the remaining fragments alone never complete a datagram.
        ins(&mut r, Instant::ZERO, &raw(1, 16, false, &a), &mut c).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(c.reassembled, 0);
    }

    #[test]
    fn fragment_reassembly_timeout() {
        // RFC 1122 §3.3.2: a partial datagram is discarded when its (fixed) timer expires, and
        // ICMP time exceeded quotes fragment zero's header and 8 data bytes (RFC 792) only if
        // fragment zero arrived.
        let limits = Limits::default();
        let t = limits.reassembly_timeout;
        let mut r = Reassembler::new(&limits);
        let mut c = Ipv4Counters::default();
        let first = raw(1, 0, true, &pattern(64, 5));
        ins(&mut r, Instant::ZERO, &first, &mut c).unwrap();
        let t1 = Instant::from_secs(5);
        ins(&mut r, t1, &raw(2, 64, true, &pattern(64, 6)), &mut c).unwrap();
        // A later fragment does not extend the first datagram's life.
        ins(&mut r, t1, &raw(1, 128, true, &pattern(64, 7)), &mut c).unwrap();
        assert_eq!(r.next_deadline(), Some(Instant::ZERO + t));
        let mut expired = Vec::new();
        r.handle_timeout(Instant::from_nanos(t.as_nanos() as u64 - 1), &mut c, |e| {
            expired.push(e)
        });
        assert!(expired.is_empty());
        r.handle_timeout(Instant::ZERO + t, &mut c, |e| expired.push(e));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].key.ident, 1);
        assert_eq!(expired[0].quote.unwrap().as_bytes(), &first[..28]);
        assert_eq!(r.next_deadline(), Some(t1 + t));
        assert_eq!(c.reassembly_timeouts, 1);
        let e = r.pop_expired(Instant::MAX, &mut c).unwrap();
        assert_eq!((e.key.ident, e.quote), (2, None));
        assert_eq!(c.reassembly_timeouts, 2);
        assert_empty(&r);
    }

    #[test]
    fn fragment_reassembly_bounds() {
        // Bounded everything (DESIGN.md): beyond `reassembly_datagrams` a new datagram's
        // fragment is dropped; beyond `reassembly_bytes` the fragment and its datagram are
        // dropped; both counted in reassembly_full.
        let limits = Limits {
            reassembly_datagrams: 2,
            reassembly_bytes: 2 * (DATAGRAM_OVERHEAD + 2 * (800 + FRAGMENT_OVERHEAD)),
            ..Limits::default()
        };
        let mut r = Reassembler::new(&limits);
        let mut c = Ipv4Counters::default();
        let d = pattern(800, 1);
        ins(&mut r, Instant::ZERO, &raw(1, 0, true, &d), &mut c).unwrap();
        ins(&mut r, Instant::ZERO, &raw(2, 0, true, &d), &mut c).unwrap();
        let e = ins(&mut r, Instant::ZERO, &raw(3, 0, true, &d), &mut c);
        assert_eq!(e, Err(ReassemblyError::TooManyDatagrams { limit: 2 }));
        assert_eq!((c.reassembly_full, r.len()), (1, 2));
        assert_eq!(
            r.bytes_held(),
            2 * (DATAGRAM_OVERHEAD + 800 + FRAGMENT_OVERHEAD)
        );
        // Existing datagrams still take fragments up to the byte limit...
        ins(&mut r, Instant::ZERO, &raw(1, 800, true, &d), &mut c).unwrap();
        ins(&mut r, Instant::ZERO, &raw(2, 800, true, &d), &mut c).unwrap();
        assert_eq!(r.bytes_held(), limits.reassembly_bytes);
        // ...and beyond it the fragment's datagram is dropped, freeing its bytes.
        let e = ins(&mut r, Instant::ZERO, &raw(1, 1600, false, &d), &mut c);
        assert_eq!(
            e,
            Err(ReassemblyError::TooManyBytes {
                limit: limits.reassembly_bytes
            })
        );
        assert_eq!((c.reassembly_full, r.len()), (2, 1));
        assert_eq!(r.bytes_held(), limits.reassembly_bytes / 2);
        // A new datagram fits again, and datagram 2 completes within the bytes left.
        ins(&mut r, Instant::ZERO, &raw(4, 0, true, &d), &mut c).unwrap();
        let got = ins(&mut r, Instant::ZERO, &raw(2, 1600, false, &d), &mut c).unwrap();
        assert_eq!(got.unwrap().payload.len(), 2400);
        assert_eq!(r.bytes_held(), DATAGRAM_OVERHEAD + 800 + FRAGMENT_OVERHEAD);
        // Alone, datagram 4 may use the whole budget: four fragments, not five.
        for off in [800, 1600, 2400] {
            ins(&mut r, Instant::ZERO, &raw(4, off, true, &d), &mut c).unwrap();
        }
        let e = ins(&mut r, Instant::ZERO, &raw(4, 3200, true, &d), &mut c);
        assert_eq!(
            e,
            Err(ReassemblyError::TooManyBytes {
                limit: limits.reassembly_bytes
            })
        );
        assert_eq!(
            (c.reassembly_full, c.rx_fragments, c.reassembled),
            (3, 12, 1)
        );
        assert_empty(&r);
        // A byte limit below one datagram's overhead refuses even a first fragment.
        let mut tiny = Reassembler::new(&Limits {
            reassembly_bytes: 100,
            ..Limits::default()
        });
        let e = ins(&mut tiny, Instant::ZERO, &raw(1, 0, true, &d), &mut c);
        assert_eq!(e, Err(ReassemblyError::TooManyBytes { limit: 100 }));
        assert_empty(&tiny);
    }

    #[test]
    fn fragment_reassembly_60k_round_trip() {
        // RFC 791 §3.2 both ways: a 60 KiB datagram with a copied option (Security) and a
        // first-fragment-only option (Record Route), fragmented for a 1500-byte MTU by
        // fragment.rs, reassembles to the same payload with fragment zero's full header.
        let payload = pattern(60 * 1024, 9);
        let mut h = header(0xbeef);
        h.options.push(Ipv4Option::RecordRoute {
            pointer: 4,
            addresses: &[0; 8],
        });
        h.options.push(Ipv4Option::Security(&[1, 2]));
        let frags = split(&h, &payload, 1500);
        assert_eq!(frags.len(), 42);
        let mut r = Reassembler::new(&Limits::default());
        let mut c = Ipv4Counters::default();
        let mut order: Vec<&Vec<u8>> = frags.iter().collect();
        order.rotate_left(17);
        let got = feed(&mut r, &order, &mut c);
        assert_eq!(got.payload, payload);
        let hlen = h.header_len();
        assert_eq!(hlen, 36);
        assert_eq!(got.header.as_bytes(), &frags[0][..hlen]);
        let back = Ipv4Packet::new_quoted(got.header.as_bytes()).unwrap();
        let opts: Vec<_> = back.options().collect();
        assert!(opts.contains(&Ipv4Option::Security(&[1, 2])));
        assert!(
            opts.iter()
                .any(|o| matches!(o, Ipv4Option::RecordRoute { .. }))
        );
        assert_eq!((c.rx_fragments, c.reassembled), (42, 1));
        assert_empty(&r);
    }

    #[test]
    fn fragment_reassembly_malformed_fragments() {
        // RFC 791 §3.2: non-last fragments carry 8-octet blocks; RFC 791 §3.1: nothing
        // reassembles beyond 65535 bytes; a fragment contradicting the end fixed by the last
        // fragment drops the datagram.
        let mut r = Reassembler::new(&Limits::default());
        let mut c = Ipv4Counters::default();
        let whole = raw(1, 0, false, &pattern(100, 0));
        assert_eq!(
            ins(&mut r, Instant::ZERO, &whole, &mut c),
            Err(ReassemblyError::NotAFragment)
        );
        assert_eq!(c.rx_fragments, 0);
        let e = ins(
            &mut r,
            Instant::ZERO,
            &raw(1, 0, true, &pattern(12, 0)),
            &mut c,
        );
        assert_eq!(e, Err(ReassemblyError::Misaligned { offset: 0, len: 12 }));
        let e = ins(&mut r, Instant::ZERO, &raw(1, 8, true, &[]), &mut c);
        assert_eq!(e, Err(ReassemblyError::Misaligned { offset: 8, len: 0 }));
        // Ping of death: the datagram held so far is dropped too.
        ins(
            &mut r,
            Instant::ZERO,
            &raw(2, 0, true, &pattern(8, 0)),
            &mut c,
        )
        .unwrap();
        let e = ins(
            &mut r,
            Instant::ZERO,
            &raw(2, 65_512, false, &pattern(8, 0)),
            &mut c,
        );
        assert_eq!(
            e,
            Err(ReassemblyError::TooLarge {
                end: 65_520,
                header_len: 20
            })
        );
        assert_empty(&r);
        // Data beyond the end the last fragment fixed; then a second, different end; then a
        // last fragment ending inside data already held.
        ins(
            &mut r,
            Instant::ZERO,
            &raw(3, 16, false, &pattern(8, 0)),
            &mut c,
        )
        .unwrap();
        let e = ins(
            &mut r,
            Instant::ZERO,
            &raw(3, 24, true, &pattern(8, 0)),
            &mut c,
        );
        assert_eq!(
            e,
            Err(ReassemblyError::Inconsistent {
                offset: 24,
                end: 32,
                total: 24
            })
        );
        ins(
            &mut r,
            Instant::ZERO,
            &raw(4, 16, false, &pattern(8, 0)),
            &mut c,
        )
        .unwrap();
        let e = ins(
            &mut r,
            Instant::ZERO,
            &raw(4, 32, false, &pattern(8, 0)),
            &mut c,
        );
        assert_eq!(
            e,
            Err(ReassemblyError::Inconsistent {
                offset: 32,
                end: 40,
                total: 24
            })
        );
        ins(
            &mut r,
            Instant::ZERO,
            &raw(5, 16, true, &pattern(16, 0)),
            &mut c,
        )
        .unwrap();
        let e = ins(
            &mut r,
            Instant::ZERO,
            &raw(5, 8, false, &pattern(8, 0)),
            &mut c,
        );
        assert_eq!(
            e,
            Err(ReassemblyError::Inconsistent {
                offset: 8,
                end: 16,
                total: 32
            })
        );
        assert_empty(&r);
        // A view of a quoted header whose data is cut short.
        let frame = raw(6, 8, true, &pattern(16, 0));
        let quoted = Ipv4Packet::new_quoted(&frame[..28]).unwrap();
        let e = r.insert(Instant::ZERO, &quoted, &mut c);
        assert_eq!(
            e,
            Err(ReassemblyError::Truncated {
                total_len: 36,
                present: 28
            })
        );
        assert_eq!((c.rx_malformed, c.rx_fragments), (7, 11));
        // A zero-length last fragment fixes the end; a duplicate of it is tolerated.
        ins(&mut r, Instant::ZERO, &raw(7, 8, false, &[]), &mut c).unwrap();
        ins(&mut r, Instant::ZERO, &raw(7, 8, false, &[]), &mut c).unwrap();
        let got = ins(
            &mut r,
            Instant::ZERO,
            &raw(7, 0, true, &pattern(8, 1)),
            &mut c,
        )
        .unwrap();
        assert_eq!(got.unwrap().payload, pattern(8, 1));
        assert_empty(&r);
    }

    #[test]
    fn fragment_reassembly_operation_count() {
        // Timers that scale (DESIGN.md): inserting, completing, reporting the deadline and
        // expiring cost the same ordered-map work with 10 or 10,000 partial datagrams held
        // (O(log n) inside each map operation, never a scan); RFC 1122 §3.3.2 expiry still
        // removes exactly the datagram due.
        fn run(n: u16) -> [u64; 4] {
            let limits = Limits {
                reassembly_datagrams: 20_000,
                reassembly_bytes: usize::MAX / 2,
                ..Limits::default()
            };
            let mut r = Reassembler::new(&limits);
            let mut c = Ipv4Counters::default();
            let d = pattern(8, 0);
            for i in 0..n {
                ins(
                    &mut r,
                    Instant::from_millis(u64::from(i)),
                    &raw(i, 0, true, &d),
                    &mut c,
                )
                .unwrap();
            }
            let base = Instant::from_secs(1000);
            let mut ops = [0u64; 4];
            let o = r.ops;
            ins(&mut r, base, &raw(60_000, 8, false, &d), &mut c).unwrap();
            ops[0] = r.ops - o;
            let o = r.ops;
            let done = ins(&mut r, base, &raw(60_000, 0, true, &d), &mut c).unwrap();
            assert!(done.is_some());
            ops[1] = r.ops - o;
            let first = r.next_deadline().unwrap();
            assert_eq!(first, Instant::ZERO + limits.reassembly_timeout);
            let o = r.ops;
            let mut expired = 0;
            r.handle_timeout(first, &mut c, |e| {
                assert_eq!(e.key.ident, 0);
                expired += 1;
            });
            assert_eq!(expired, 1);
            ops[2] = r.ops - o;
            let o = r.ops;
            r.handle_timeout(first, &mut c, |_| unreachable!());
            ops[3] = r.ops - o;
            assert_eq!(r.len(), usize::from(n) - 1);
            ops
        }
        let small = run(10);
        let large = run(10_000);
        println!("ops per insert, complete, expire one, nothing due: {small:?} vs {large:?}");
        assert_eq!(small, large);
    }
}
