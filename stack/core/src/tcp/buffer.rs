//! A connection's byte buffers: what the application wrote and the peer has not acknowledged
//! ([`SendBuffer`]), and what arrived and the application has not read, in order or not
//! ([`RecvBuffer`]).
//!
//! Both hold their bytes in one ring (`VecDeque<u8>`) that grows on demand up to the bound
//! given at creation and is never shrunk, so once it has reached its working size no segment
//! costs an allocation. Neither knows about sequence numbers: offsets are relative to SND.UNA
//! (send side) and RCV.NXT (receive side); the connection does the modular arithmetic
//! (RFC 9293 §3.4) and hands these buffers plain byte offsets.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Grows `buf` so that it can hold `needed` bytes without reallocating, doubling as a `Vec`
/// would but never reserving beyond `bound` (the buffer's configured capacity).
fn reserve_bounded(buf: &mut VecDeque<u8>, needed: usize, bound: usize) {
    if needed <= buf.capacity() {
        return;
    }
    let target = buf
        .capacity()
        .saturating_mul(2)
        .max(64)
        .min(bound)
        .max(needed);
    buf.reserve_exact(target.saturating_sub(buf.len()));
}

/// Gives an empty ring's memory back; returns the bytes given back (0 when it holds data).
fn release_if_empty(buf: &mut VecDeque<u8>) -> usize {
    if !buf.is_empty() {
        return 0;
    }
    let freed = buf.capacity();
    *buf = VecDeque::new();
    freed
}

/// Copies `buf[offset..]` into `dst`, as much as is there and fits; returns how many bytes.
fn copy_out(buf: &VecDeque<u8>, offset: usize, dst: &mut [u8]) -> usize {
    let (a, b) = buf.as_slices();
    let mut done = 0;
    let mut skip = offset;
    for part in [a, b] {
        let src = part.get(skip..).unwrap_or(&[]);
        skip = skip.saturating_sub(part.len());
        let n = src.len().min(dst.len().saturating_sub(done));
        if let (Some(d), Some(s)) = (dst.get_mut(done..done + n), src.get(..n)) {
            d.copy_from_slice(s);
            done += n;
        }
    }
    done
}

/// Overwrites `buf[offset..offset + src.len()]` with `src` (the caller has made `buf` long
/// enough; bytes that would fall beyond its end are not written).
fn copy_in(buf: &mut VecDeque<u8>, offset: usize, src: &[u8]) {
    let (a, b) = buf.as_mut_slices();
    let mut done = 0;
    let mut skip = offset;
    for part in [a, b] {
        let plen = part.len();
        let dst = part.get_mut(skip..).unwrap_or(&mut []);
        skip = skip.saturating_sub(plen);
        let n = dst.len().min(src.len().saturating_sub(done));
        if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(done..done + n)) {
            d.copy_from_slice(s);
            done += n;
        }
    }
}

/// Copies `data[from - data_start..to - data_start]` into the receive window at `from..to`
/// (window offsets start after the `readable` in-order bytes).
fn copy_hole(
    buf: &mut VecDeque<u8>,
    readable: usize,
    (from, to): (usize, usize),
    data_start: usize,
    data: &[u8],
) {
    if let Some(src) = data.get(from - data_start..to - data_start) {
        copy_in(buf, readable + from, src);
    }
}

/// Bytes the application has written and the peer has not yet acknowledged: the sequence
/// space from SND.UNA onwards (RFC 9293 §3.3.1, "Send Sequence Space"). Bytes already sent
/// and bytes not yet sent sit here alike; which is which is the connection's business
/// (SND.NXT − SND.UNA), and a retransmission reads the same bytes again with [`read_at`].
///
/// [`read_at`]: SendBuffer::read_at
#[derive(Debug, Clone)]
pub struct SendBuffer {
    buf: VecDeque<u8>,
    capacity: usize,
}

impl SendBuffer {
    /// An empty buffer that will hold at most `capacity` bytes. Nothing is allocated until
    /// the first write.
    pub fn new(capacity: usize) -> Self {
        SendBuffer {
            buf: VecDeque::new(),
            capacity,
        }
    }

    /// Bytes held (written and not yet acknowledged).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// The most bytes the buffer holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of memory the ring holds now (0 until the first write).
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Gives the ring's memory back when every byte written was acknowledged; returns the
    /// bytes given back (0 while it holds data). The next write allocates again.
    pub fn release_if_empty(&mut self) -> usize {
        release_if_empty(&mut self.buf)
    }

    /// Room left for [`write`](SendBuffer::write).
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    /// True when every written byte has been acknowledged.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends as much of `data` as fits and returns how many bytes were taken (0 when the
    /// buffer is full: the application waits until acknowledgements free room). Call from the
    /// application's send.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        let Some(taken) = data.get(..n) else {
            return 0;
        };
        let needed = self.buf.len() + n;
        reserve_bounded(&mut self.buf, needed, self.capacity);
        self.buf.extend(taken);
        n
    }

    /// Copies the bytes starting `offset` bytes after the unacknowledged head (SND.UNA) into
    /// `dst`, as many as are held and fit, and returns how many. Call to build a segment:
    /// `offset` is SND.NXT − SND.UNA for new data, 0 for a retransmission from the head
    /// (RFC 9293 §3.8.1). An offset at or past [`len`](SendBuffer::len) copies nothing.
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> usize {
        copy_out(&self.buf, offset, dst)
    }

    /// Drops `n` acknowledged bytes from the head; `n` greater than [`len`](SendBuffer::len)
    /// drops all. Call when an ACK advances SND.UNA by `n` data bytes (RFC 9293 §3.10.7.4,
    /// ESTABLISHED: "any segments on the retransmission queue that are thereby entirely
    /// acknowledged are removed"); a SYN or FIN occupies sequence space but no byte here.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
    }
}

/// What [`RecvBuffer::insert`] did with a segment's data. Every byte of the insert is counted
/// once: `data.len() == trimmed + dropped_ooo + (bytes newly held) + (bytes already held)`,
/// where the bytes newly held are `stored_ooo` for an out-of-order insert and the segment's
/// own part of `advanced` for an in-order one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Insert {
    /// Bytes that became in order (readable): the segment's own bytes when it was at offset
    /// 0, plus any out-of-order bytes it joined. The caller advances RCV.NXT by this.
    pub advanced: usize,
    /// Bytes newly stored out of order (offset > 0); bytes already held are not counted.
    pub stored_ooo: usize,
    /// Bytes beyond the window, cut off (RFC 9293 §3.10.7.4: data beyond the receive window
    /// is trimmed).
    pub trimmed: usize,
    /// Out-of-order bytes dropped because they would have opened one range more than the
    /// buffer's `max_ooo_ranges`.
    pub dropped_ooo: usize,
}

/// Bytes received and not yet read: the in-order part (from the application's read point up
/// to RCV.NXT) and, within the receive window after it, out-of-order ranges waiting for the
/// holes before them to fill (RFC 9293 §3.10.7.4: segments "not starting at RCV.NXT" may be
/// held for later processing; RFC 1122 §4.2.2.20 (g) recommends queueing them).
///
/// Layout: the ring holds the readable bytes, then the window area up to the end of the last
/// out-of-order range, holes included (their contents are meaningless until filled). The
/// out-of-order ranges are kept sorted, disjoint and non-adjacent, as offsets from the
/// in-order end (RCV.NXT).
///
/// Overlaps: the first copy of a byte wins. A byte already held (in order or out of order) is
/// never overwritten by a later segment carrying the same sequence number; only the holes of a
/// new segment are copied. Bytes are bytes: a peer that sends different contents for the same
/// sequence number gets its first version delivered.
#[derive(Debug, Clone)]
pub struct RecvBuffer {
    buf: VecDeque<u8>,
    capacity: usize,
    /// Bytes beyond `capacity` the buffer also takes (see [`RecvBuffer::set_slack`]).
    slack: usize,
    readable: usize,
    /// `(start, end)` offsets from the in-order end, sorted, disjoint, with gaps between.
    ooo: Vec<(usize, usize)>,
    max_ooo_ranges: usize,
}

impl RecvBuffer {
    /// An empty buffer of `capacity` bytes (the largest window it will offer) that keeps at
    /// most `max_ooo_ranges` separate out-of-order ranges (0: out-of-order data is dropped and
    /// must be retransmitted). Nothing is allocated until data arrives.
    pub fn new(capacity: usize, max_ooo_ranges: usize) -> Self {
        RecvBuffer {
            buf: VecDeque::new(),
            capacity,
            slack: 0,
            readable: 0,
            ooo: Vec::new(),
            max_ooo_ranges,
        }
    }

    /// The most bytes the buffer holds (readable plus window).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Lets the buffer take `slack` bytes beyond its capacity (0 by default). A window scaled
    /// by 2^shift is announced in units of 2^shift bytes (RFC 7323 §2.3), so a window rounded
    /// up to the unit offers up to 2^shift − 1 bytes more than [`window`](RecvBuffer::window):
    /// with that much slack, everything the window offered fits. Data the buffer already holds
    /// stays.
    pub fn set_slack(&mut self, slack: usize) {
        self.slack = slack;
    }

    /// Free space counting the slack: what [`insert`](RecvBuffer::insert) takes at most, from
    /// the in-order end.
    pub fn room(&self) -> usize {
        (self.capacity + self.slack).saturating_sub(self.readable)
    }

    /// Bytes of memory the ring and its out-of-order ranges hold now (0 until data arrives).
    pub fn allocated(&self) -> usize {
        self.buf.capacity() + self.ooo.capacity() * core::mem::size_of::<(usize, usize)>()
    }

    /// Gives the memory back when nothing is held (every in-order byte was read and nothing
    /// waits out of order); returns the bytes given back. The next data allocates again.
    pub fn release_if_empty(&mut self) -> usize {
        if !self.buf.is_empty() || !self.ooo.is_empty() {
            return 0;
        }
        let ranges = self.ooo.capacity() * core::mem::size_of::<(usize, usize)>();
        self.ooo = Vec::new();
        ranges + release_if_empty(&mut self.buf)
    }

    /// The most out-of-order ranges kept at once.
    pub fn max_ooo_ranges(&self) -> usize {
        self.max_ooo_ranges
    }

    /// In-order bytes the application can read now.
    pub fn readable(&self) -> usize {
        self.readable
    }

    /// Copies up to `dst.len()` in-order bytes into `dst`, removes them and returns how many.
    /// Call from the application's receive; the window grows by the returned count (RFC 9293
    /// §3.8.6.2.2 says when to announce that).
    pub fn read(&mut self, dst: &mut [u8]) -> usize {
        let limit = dst.len().min(self.readable);
        let n = dst
            .get_mut(..limit)
            .map_or(0, |d| copy_out(&self.buf, 0, d));
        self.buf.drain(..n);
        self.readable -= n;
        n
    }

    /// Lends `f` the readable bytes that lie contiguous in the ring (all of them, or those
    /// before it wraps) and drops as many as `f` says it consumed (at most what it was lent).
    /// Returns that count.
    pub fn read_with(&mut self, f: impl FnOnce(&[u8]) -> usize) -> usize {
        let (a, b) = self.buf.as_slices();
        let first = if a.is_empty() { b } else { a };
        let lent = first.get(..self.readable.min(first.len())).unwrap_or(&[]);
        let n = f(lent).min(lent.len());
        self.buf.drain(..n);
        self.readable -= n;
        n
    }

    /// Free space counted from the in-order end, `capacity − readable`: what the receiver may
    /// advertise as RCV.WND (RFC 9293 §3.3.1, "Receive Sequence Space"). Out-of-order bytes lie
    /// inside this window and do not reduce it.
    pub fn window(&self) -> usize {
        self.capacity.saturating_sub(self.readable)
    }

    /// Out-of-order bytes held.
    pub fn ooo_bytes(&self) -> usize {
        self.ooo.iter().map(|&(s, e)| e - s).sum()
    }

    /// The out-of-order ranges as `(start, len)`, `start` counted from the in-order end
    /// (RCV.NXT), in increasing order, disjoint and never adjacent (for SACK blocks, RFC 2018
    /// §3).
    pub fn ooo_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ooo.iter().map(|&(s, e)| (s, e - s))
    }

    /// True when nothing is held: no readable byte and no out-of-order byte.
    pub fn is_empty(&self) -> bool {
        self.readable == 0 && self.ooo.is_empty()
    }

    /// Appends `data` at the in-order end in one copy when nothing is held out of order and
    /// all of it fits the room — what [`insert`](Self::insert) at offset 0 then does, with
    /// `advanced` = `data.len()` and nothing trimmed. False, changing nothing, otherwise.
    #[inline]
    pub fn append_in_order(&mut self, data: &[u8]) -> bool {
        if !self.ooo.is_empty() || self.buf.len() != self.readable || data.len() > self.room() {
            return false;
        }
        let needed = self.readable + data.len();
        reserve_bounded(&mut self.buf, needed, self.capacity + self.slack);
        self.buf.extend(data);
        self.readable = needed;
        true
    }

    /// Places a segment's data. `offset` is where `data` starts relative to the next expected
    /// byte (RCV.NXT). The caller first trims the part already received (bytes before RCV.NXT,
    /// RFC 9293 §3.10.7.4, "trimmed to the window"), so a `usize` offset is always at or after
    /// RCV.NXT.
    ///
    /// - Bytes at or beyond [`room`](RecvBuffer::room) are cut off (`trimmed`).
    /// - At offset 0 the data extends the in-order part, then joins every out-of-order range
    ///   that has become contiguous; `advanced` is how far RCV.NXT moves.
    /// - At offset > 0 the data is stored out of order, merged with the ranges it overlaps or
    ///   touches (first copy wins, see the type's documentation). If it touches none and
    ///   `max_ooo_ranges` ranges are already held, it is dropped whole (`dropped_ooo`).
    /// - Zero-length data (after trimming) changes nothing.
    pub fn insert(&mut self, offset: usize, data: &[u8]) -> Insert {
        let mut out = Insert::default();
        let window = self.room();
        let kept = if offset >= window {
            0
        } else {
            data.len().min(window - offset)
        };
        out.trimmed = data.len() - kept;
        let Some(data) = data.get(..kept) else {
            return out;
        };
        if data.is_empty() {
            return out;
        }
        // The common case: in order, nothing held out of order. Appended in one copy (no
        // zero fill, no range bookkeeping).
        if offset == 0 && self.append_in_order(data) {
            out.advanced = kept;
            return out;
        }
        let (start, end) = (offset, offset + kept);
        // Ranges overlapping or adjacent to [start, end): they merge with it into one.
        let first = self.ooo.partition_point(|&(_, e)| e < start);
        let last = self.ooo.partition_point(|&(s, _)| s <= end);
        if start > 0 && first == last && self.ooo.len() >= self.max_ooo_ranges {
            out.dropped_ooo = kept;
            return out;
        }
        // Make the ring reach the end of the new data, then copy only into the holes: the
        // first copy of each byte wins.
        let needed = self.readable + end;
        if needed > self.buf.len() {
            reserve_bounded(&mut self.buf, needed, self.capacity + self.slack);
            self.buf.resize(needed, 0);
        }
        let mut held = 0;
        let mut at = start;
        for &(s, e) in self.ooo.get(first..last).unwrap_or(&[]) {
            if s > at {
                copy_hole(&mut self.buf, self.readable, (at, s), start, data);
            }
            held += e.min(end).saturating_sub(s.max(start));
            at = at.max(e);
        }
        if at < end {
            copy_hole(&mut self.buf, self.readable, (at, end), start, data);
        }
        // Replace the merged ranges by their union with the new data.
        let (mut merged_start, mut merged_end) = (start, end);
        if let (Some(&(s, _)), Some(&(_, e))) = (
            self.ooo.get(first..last).and_then(<[_]>::first),
            self.ooo.get(first..last).and_then(<[_]>::last),
        ) {
            merged_start = merged_start.min(s);
            merged_end = merged_end.max(e);
        }
        self.ooo
            .splice(first..last, [(merged_start, merged_end)])
            .for_each(drop);
        if start == 0 {
            // The union starts at RCV.NXT: it becomes in order, and the remaining ranges are
            // re-based on the new in-order end (they all start after the union's end).
            out.advanced = merged_end;
            self.readable += merged_end;
            self.ooo.drain(..1.min(self.ooo.len()));
            for r in &mut self.ooo {
                r.0 -= merged_end;
                r.1 -= merged_end;
            }
        } else {
            out.stored_ooo = kept - held;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    fn ranges(r: &RecvBuffer) -> Vec<(usize, usize)> {
        r.ooo_ranges().collect()
    }

    fn read_all(r: &mut RecvBuffer) -> Vec<u8> {
        let mut v = vec![0; r.readable() + 10];
        let n = r.read(&mut v);
        v.truncate(n);
        v
    }

    fn ins(advanced: usize, stored_ooo: usize, trimmed: usize, dropped_ooo: usize) -> Insert {
        Insert {
            advanced,
            stored_ooo,
            trimmed,
            dropped_ooo,
        }
    }

    // ---- SendBuffer ----

    #[test]
    fn tcp_send_buffer_write_until_full() {
        // RFC 9293 §3.9.1.2 (SEND): data is queued only as far as buffer space allows.
        let mut s = SendBuffer::new(10);
        assert!(s.is_empty());
        assert_eq!((s.len(), s.capacity(), s.free()), (0, 10, 10));
        assert_eq!(s.write(b"hello"), 5);
        assert_eq!(s.write(b"world!!"), 5);
        assert_eq!(s.write(b"x"), 0);
        assert_eq!((s.len(), s.free()), (10, 0));
        assert!(!s.is_empty());
        let mut d = [0; 16];
        assert_eq!(s.read_at(0, &mut d), 10);
        assert_eq!(&d[..10], b"helloworld");
    }

    #[test]
    fn tcp_send_buffer_read_at_offsets() {
        // RFC 9293 §3.8.1: a retransmission re-reads bytes from SND.UNA; new data is read at
        // SND.NXT − SND.UNA.
        let mut s = SendBuffer::new(100);
        s.write(b"0123456789");
        let mut d = [0; 4];
        assert_eq!(s.read_at(3, &mut d), 4);
        assert_eq!(&d, b"3456");
        assert_eq!(s.read_at(8, &mut d), 2);
        assert_eq!(&d[..2], b"89");
        assert_eq!(s.read_at(10, &mut d), 0);
        assert_eq!(s.read_at(usize::MAX, &mut d), 0);
        assert_eq!(s.read_at(0, &mut []), 0);
        // read_at does not consume.
        assert_eq!(s.len(), 10);
    }

    #[test]
    fn tcp_send_buffer_consume_and_wrap() {
        // RFC 9293 §3.10.7.4: acknowledged bytes leave the retransmission queue; the ring
        // wraps around without losing order.
        let mut s = SendBuffer::new(8);
        assert_eq!(s.write(b"abcdefgh"), 8);
        s.consume(5);
        assert_eq!((s.len(), s.free()), (3, 5));
        assert_eq!(s.write(b"ijklmno"), 5);
        let mut d = [0; 8];
        assert_eq!(s.read_at(0, &mut d), 8);
        assert_eq!(&d, b"fghijklm");
        assert_eq!(s.read_at(2, &mut d), 6);
        assert_eq!(&d[..6], b"hijklm");
        s.consume(100);
        assert!(s.is_empty());
        assert_eq!(s.free(), 8);
        s.consume(1);
        assert!(s.is_empty());
    }

    #[test]
    fn tcp_send_buffer_capacity_zero() {
        // A zero-sized buffer takes nothing and never allocates.
        let mut s = SendBuffer::new(0);
        assert_eq!(s.write(b"abc"), 0);
        assert_eq!(s.free(), 0);
        assert!(s.is_empty());
        assert_eq!(s.buf.capacity(), 0);
    }

    #[test]
    fn tcp_send_buffer_allocation_bounded() {
        // Bounded everything: the ring never reserves far beyond the configured capacity, and
        // stops allocating once it has reached its working size.
        let mut s = SendBuffer::new(1000);
        for _ in 0..100 {
            s.write(&[1; 37]);
        }
        assert_eq!(s.len(), 1000);
        let cap = s.buf.capacity();
        assert!((1000..1100).contains(&cap), "{cap}");
        for _ in 0..1000 {
            s.consume(300);
            s.write(&[2; 300]);
            assert_eq!(s.buf.capacity(), cap);
        }
    }

    #[test]
    fn tcp_send_buffer_model_random() {
        // RFC 9293 §3.3.1: the buffer is exactly the bytes from SND.UNA on, checked against a
        // plain Vec model over random writes, partial reads and acknowledgements.
        let seed = 0x5e4d_b0ffu64;
        println!("tcp_send_buffer_model_random: seed {seed:#x}");
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut ops = 0usize;
        for _ in 0..100 {
            let cap = (rng.next_u32() % 300) as usize;
            let mut s = SendBuffer::new(cap);
            let mut model: Vec<u8> = Vec::new();
            for _ in 0..200 {
                ops += 1;
                match rng.next_u32() % 3 {
                    0 => {
                        let len = (rng.next_u32() % 120) as usize;
                        let data: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
                        let n = s.write(&data);
                        let want = len.min(cap - model.len());
                        assert_eq!(n, want);
                        model.extend_from_slice(&data[..want]);
                    }
                    1 => {
                        let off = (rng.next_u32() % 320) as usize;
                        let mut d = vec![0; (rng.next_u32() % 100) as usize];
                        let n = s.read_at(off, &mut d);
                        let src = model.get(off..).unwrap_or(&[]);
                        let want = src.len().min(d.len());
                        assert_eq!(n, want);
                        assert_eq!(&d[..n], &src[..want]);
                    }
                    _ => {
                        let n = (rng.next_u32() % 150) as usize;
                        s.consume(n);
                        model.drain(..n.min(model.len()));
                    }
                }
                assert_eq!(s.len(), model.len());
                assert_eq!(s.free(), cap - model.len());
                assert_eq!(s.is_empty(), model.is_empty());
                assert!(s.buf.capacity() <= cap.max(64) * 2);
            }
        }
        println!("{ops} send buffer operations checked");
    }

    // ---- RecvBuffer ----

    #[test]
    fn tcp_recv_buffer_in_order() {
        // RFC 9293 §3.10.7.4: a segment at RCV.NXT is accepted and RCV.NXT advances by its
        // length; the window shrinks until the application reads.
        let mut r = RecvBuffer::new(10, 4);
        assert!(r.is_empty());
        assert_eq!((r.capacity(), r.max_ooo_ranges()), (10, 4));
        assert_eq!(r.window(), 10);
        assert_eq!(r.insert(0, b"abcd"), ins(4, 0, 0, 0));
        assert_eq!((r.readable(), r.window()), (4, 6));
        assert_eq!(r.insert(0, b"ef"), ins(2, 0, 0, 0));
        let mut d = [0; 3];
        assert_eq!(r.read(&mut d), 3);
        assert_eq!(&d, b"abc");
        assert_eq!((r.readable(), r.window()), (3, 7));
        assert_eq!(read_all(&mut r), b"def");
        assert!(r.is_empty());
        assert_eq!(r.read(&mut d), 0);
    }

    #[test]
    fn tcp_recv_buffer_trim_to_window() {
        // RFC 9293 §3.10.7.4: data beyond RCV.NXT + RCV.WND is trimmed off.
        let mut r = RecvBuffer::new(8, 4);
        assert_eq!(r.insert(0, b"0123456789"), ins(8, 0, 2, 0));
        assert_eq!(r.window(), 0);
        assert_eq!(r.insert(0, b"x"), ins(0, 0, 1, 0));
        assert_eq!(r.insert(3, b"xy"), ins(0, 0, 2, 0));
        assert_eq!(read_all(&mut r), b"01234567");
        // Out of order, partly beyond the window.
        assert_eq!(r.insert(6, b"abcd"), ins(0, 2, 2, 0));
        assert_eq!(ranges(&r), [(6, 2)]);
        // Entirely beyond.
        assert_eq!(r.insert(8, b"z"), ins(0, 0, 1, 0));
        assert_eq!(r.insert(usize::MAX, b"z"), ins(0, 0, 1, 0));
    }

    #[test]
    fn tcp_recv_buffer_slack_takes_a_window_rounded_up_to_the_scale_unit() {
        // RFC 7323 §2.3: with a shift of 3 a 5-byte window goes out as one 8-byte unit; a
        // slack of 2^3 − 1 lets the buffer take all of it, and the window offered stays
        // capacity − readable.
        let mut r = RecvBuffer::new(5, 2);
        r.set_slack(7);
        assert_eq!((r.window(), r.room()), (5, 12));
        assert_eq!(r.insert(0, b"01234567"), ins(8, 0, 0, 0));
        assert_eq!((r.window(), r.room()), (0, 4));
        assert_eq!(r.insert(0, b"89abcdef"), ins(4, 0, 4, 0));
        assert_eq!(r.room(), 0);
        assert_eq!(read_all(&mut r), b"0123456789ab");
        assert!(r.buf.capacity() <= 64);
    }

    #[test]
    fn tcp_recv_buffer_exactly_fill_window() {
        // RFC 9293 §3.3.1: a segment ending exactly at RCV.NXT + RCV.WND is wholly acceptable.
        let mut r = RecvBuffer::new(6, 2);
        assert_eq!(r.insert(2, b"cdef"), ins(0, 4, 0, 0));
        assert_eq!(r.window(), 6);
        assert_eq!(r.insert(0, b"ab"), ins(6, 0, 0, 0));
        assert_eq!(r.window(), 0);
        assert_eq!(r.ooo_bytes(), 0);
        assert_eq!(read_all(&mut r), b"abcdef");
        assert_eq!(r.insert(0, b"123456"), ins(6, 0, 0, 0));
        assert_eq!(read_all(&mut r), b"123456");
    }

    #[test]
    fn tcp_recv_buffer_zero_length_and_capacity_zero() {
        // RFC 9293 §3.10.7.4: a zero-length segment carries no data to queue; a zero window
        // accepts no data byte.
        let mut r = RecvBuffer::new(4, 2);
        assert_eq!(r.insert(0, b""), Insert::default());
        assert_eq!(r.insert(2, b""), Insert::default());
        assert_eq!(r.insert(9, b""), Insert::default());
        assert!(r.is_empty());
        assert_eq!(r.ooo_ranges().count(), 0);
        let mut z = RecvBuffer::new(0, 2);
        assert_eq!(z.window(), 0);
        assert_eq!(z.insert(0, b"abc"), ins(0, 0, 3, 0));
        assert_eq!(z.insert(1, b"abc"), ins(0, 0, 3, 0));
        assert!(z.is_empty());
        assert_eq!(z.buf.capacity(), 0);
    }

    #[test]
    fn tcp_recv_buffer_ooo_then_fill() {
        // RFC 1122 §4.2.2.20 (g): out-of-order segments are queued and delivered once the hole
        // before them fills; RCV.NXT then jumps over all of it.
        let mut r = RecvBuffer::new(100, 4);
        assert_eq!(r.insert(10, b"klmno"), ins(0, 5, 0, 0));
        assert_eq!(r.insert(20, b"uvw"), ins(0, 3, 0, 0));
        assert_eq!(ranges(&r), [(10, 5), (20, 3)]);
        assert_eq!((r.ooo_bytes(), r.readable(), r.window()), (8, 0, 100));
        assert!(!r.is_empty());
        assert_eq!(r.read(&mut [0; 4]), 0);
        // Fill the first hole: in-order reaches 15.
        assert_eq!(r.insert(0, b"abcdefghij"), ins(15, 0, 0, 0));
        assert_eq!(ranges(&r), [(5, 3)]);
        assert_eq!(r.ooo_bytes(), 3);
        assert_eq!(read_all(&mut r), b"abcdefghijklmno");
        // The remaining range is still 5 bytes past the in-order end.
        assert_eq!(r.insert(0, b"pqrst"), ins(8, 0, 0, 0));
        assert_eq!(read_all(&mut r), b"pqrstuvw");
        assert!(r.is_empty());
    }

    #[test]
    fn tcp_recv_buffer_ooo_merge_adjacent_and_overlap() {
        // RFC 2018 §4: the receiver reports contiguous blocks; adjacent or overlapping
        // out-of-order data is one block.
        let mut r = RecvBuffer::new(100, 8);
        r.insert(10, b"aaaa"); // [10,14)
        r.insert(20, b"bbbb"); // [20,24)
        r.insert(30, b"cc"); // [30,32)
        assert_eq!(ranges(&r), [(10, 4), (20, 4), (30, 2)]);
        // Adjacent on the left of [20,24).
        assert_eq!(r.insert(18, b"xx"), ins(0, 2, 0, 0));
        assert_eq!(ranges(&r), [(10, 4), (18, 6), (30, 2)]);
        // Adjacent on the right of [10,14).
        assert_eq!(r.insert(14, b"y"), ins(0, 1, 0, 0));
        assert_eq!(ranges(&r), [(10, 5), (18, 6), (30, 2)]);
        // Spanning everything from 12 to 31: bridges three ranges; new bytes are only the
        // holes [15,18) and [24,30).
        assert_eq!(r.insert(12, &[b'z'; 19]), ins(0, 9, 0, 0));
        assert_eq!(ranges(&r), [(10, 22)]);
        assert_eq!(r.ooo_bytes(), 22);
        // A pure duplicate stores nothing.
        assert_eq!(r.insert(11, b"qqq"), ins(0, 0, 0, 0));
        r.insert(0, &[b'-'; 10]);
        assert_eq!(
            read_all(&mut r),
            b"----------aaaayzzzxxbbbbzzzzzzcc".as_slice()
        );
    }

    #[test]
    fn tcp_recv_buffer_first_copy_wins() {
        // The first copy of each byte wins: later segments carrying different bytes for
        // sequence numbers already held (in order or out of order) do not overwrite them.
        let mut r = RecvBuffer::new(20, 4);
        r.insert(4, b"EFGH");
        // In-order data overlapping the out-of-order range: its bytes 4..8 are ignored.
        assert_eq!(r.insert(0, b"abcdefghij"), ins(10, 0, 0, 0));
        assert_eq!(read_all(&mut r), b"abcdEFGHij");
        r.insert(2, b"XY");
        assert_eq!(r.insert(1, b"1234"), ins(0, 2, 0, 0));
        assert_eq!(r.insert(0, b"0"), ins(5, 0, 0, 0));
        assert_eq!(read_all(&mut r), b"01XY4");
    }

    #[test]
    fn tcp_recv_buffer_range_limit() {
        // Bounded everything: a segment that would open one range more than max_ooo_ranges
        // is dropped whole (and will be retransmitted); segments joining held ranges are
        // still taken, and in-order data always is.
        let mut r = RecvBuffer::new(100, 2);
        assert_eq!(r.insert(10, b"aa"), ins(0, 2, 0, 0));
        assert_eq!(r.insert(20, b"bb"), ins(0, 2, 0, 0));
        assert_eq!(r.insert(30, b"cc"), ins(0, 0, 0, 2));
        assert_eq!(r.insert(5, b"c"), ins(0, 0, 0, 1));
        assert_eq!(ranges(&r), [(10, 2), (20, 2)]);
        // Touching an existing range: accepted.
        assert_eq!(r.insert(22, b"dd"), ins(0, 2, 0, 0));
        assert_eq!(r.insert(8, b"ee"), ins(0, 2, 0, 0));
        assert_eq!(ranges(&r), [(8, 4), (20, 4)]);
        // Bridging both: count goes down.
        assert_eq!(r.insert(12, &[b'f'; 8]), ins(0, 8, 0, 0));
        assert_eq!(ranges(&r), [(8, 16)]);
        assert_eq!(r.insert(30, b"gg"), ins(0, 2, 0, 0));
        // In-order data while at the limit.
        assert_eq!(r.insert(0, b"01234567"), ins(24, 0, 0, 0));
        assert_eq!(ranges(&r), [(6, 2)]);
        // With no ranges allowed every out-of-order byte is dropped.
        let mut z = RecvBuffer::new(100, 0);
        assert_eq!(z.insert(1, b"abc"), ins(0, 0, 0, 3));
        assert_eq!(z.insert(0, b"abc"), ins(3, 0, 0, 0));
        // Trimming is counted before dropping.
        assert_eq!(z.insert(95, b"0123456789"), ins(0, 0, 8, 2));
    }

    #[test]
    fn tcp_recv_buffer_window_excludes_only_readable() {
        // RFC 9293 §3.3.1: RCV.WND starts at RCV.NXT; queued out-of-order bytes lie inside it
        // and do not shrink it, unread in-order bytes do.
        let mut r = RecvBuffer::new(50, 4);
        r.insert(10, &[1; 20]);
        assert_eq!(r.window(), 50);
        r.insert(0, &[2; 5]);
        assert_eq!(r.window(), 45);
        assert_eq!(ranges(&r), [(5, 20)]);
        // A read does not move the ranges relative to RCV.NXT.
        let mut d = [0; 5];
        assert_eq!(r.read(&mut d), 5);
        assert_eq!(ranges(&r), [(5, 20)]);
        assert_eq!(r.window(), 50);
    }

    #[test]
    fn tcp_recv_buffer_wraps_ring() {
        // RFC 9293 §3.3.1: the window slides along the sequence space; the ring wraps under it.
        let mut r = RecvBuffer::new(16, 4);
        let mut next = 0u8;
        let mut expect = 0u8;
        for round in 0..200 {
            // One segment out of order, then the one before it.
            let a: Vec<u8> = (0..5).map(|i| next.wrapping_add(i)).collect();
            let b: Vec<u8> = (5..9).map(|i| next.wrapping_add(i)).collect();
            assert_eq!(r.insert(5, &b), ins(0, 4, 0, 0), "round {round}");
            assert_eq!(r.insert(0, &a), ins(9, 0, 0, 0), "round {round}");
            next = next.wrapping_add(9);
            for byte in read_all(&mut r) {
                assert_eq!(byte, expect);
                expect = expect.wrapping_add(1);
            }
        }
        assert!(r.buf.capacity() <= 64);
    }

    #[test]
    fn tcp_recv_buffer_stream_reassembly_random() {
        // RFC 9293 §3.10.7.4 / RFC 1122 §4.2.2.20 (g): a byte stream cut into segments that
        // arrive reordered and duplicated, against a window the reader drains, comes out
        // exactly once and in order.
        let seed = 0x7c9_2930u64;
        println!("tcp_recv_buffer_stream_reassembly_random: seed {seed:#x}");
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        for _ in 0..20 {
            let total = 5000 + (rng.next_u32() % 5000) as usize;
            let stream: Vec<u8> = (0..total).map(|_| rng.next_u32() as u8).collect();
            let cap = 64 + (rng.next_u32() % 1024) as usize;
            let mut r = RecvBuffer::new(cap, 6);
            let mut nxt = 0usize; // RCV.NXT as a stream offset
            let mut out = Vec::new();
            while out.len() < total {
                // A segment somewhere from a little before RCV.NXT to past the window.
                let start = (nxt + (rng.next_u32() as usize % (cap + 40))).saturating_sub(20);
                let len = 1 + rng.next_u32() as usize % 200;
                let end = (start + len).min(total);
                if start < end {
                    // The caller trims what was already received.
                    let s = start.max(nxt);
                    if s < end {
                        let res = r.insert(s - nxt, &stream[s..end]);
                        nxt += res.advanced;
                    }
                }
                if rng.next_u32() % 3 == 0 {
                    let mut d = vec![0; rng.next_u32() as usize % 300];
                    let n = r.read(&mut d);
                    out.extend_from_slice(&d[..n]);
                }
                assert_eq!(nxt, out.len() + r.readable());
            }
            assert_eq!(out, stream);
        }
    }

    /// Reference model of the receive buffer: the readable bytes, and one `Option<u8>` per
    /// window byte after RCV.NXT.
    struct Model {
        cap: usize,
        max_ranges: usize,
        readable: VecDeque<u8>,
        window: Vec<Option<u8>>,
    }

    impl Model {
        fn new(cap: usize, max_ranges: usize) -> Self {
            Model {
                cap,
                max_ranges,
                readable: VecDeque::new(),
                window: vec![None; cap],
            }
        }
        fn win(&self) -> usize {
            self.cap - self.readable.len()
        }
        fn ranges(&self) -> Vec<(usize, usize)> {
            let mut v: Vec<(usize, usize)> = Vec::new();
            for (i, b) in self.window.iter().enumerate() {
                if b.is_some() {
                    match v.last_mut() {
                        Some((s, l)) if *s + *l == i => *l += 1,
                        _ => v.push((i, 1)),
                    }
                }
            }
            v
        }
        fn insert(&mut self, offset: usize, data: &[u8]) -> Insert {
            let mut out = Insert::default();
            let win = self.win();
            let kept: Vec<(usize, u8)> = data
                .iter()
                .enumerate()
                .map(|(i, &b)| (offset + i, b))
                .filter(|&(p, _)| p < win)
                .collect();
            out.trimmed = data.len() - kept.len();
            if kept.is_empty() {
                return out;
            }
            if offset > 0 {
                let lo = offset - 1;
                let hi = offset + kept.len();
                let touches = (lo..=hi).any(|p| self.window.get(p).is_some_and(|b| b.is_some()));
                if !touches && self.ranges().len() >= self.max_ranges {
                    out.dropped_ooo = kept.len();
                    return out;
                }
            }
            let mut new = 0;
            for (p, b) in kept {
                if self.window[p].is_none() {
                    self.window[p] = Some(b);
                    new += 1;
                }
            }
            if offset == 0 {
                while let Some(Some(b)) = self.window.first().copied() {
                    self.window.remove(0);
                    self.readable.push_back(b);
                    out.advanced += 1;
                }
                self.window.resize(self.cap, None);
            } else {
                out.stored_ooo = new;
            }
            out
        }
        fn read(&mut self, n: usize) -> Vec<u8> {
            let n = n.min(self.readable.len());
            let v: Vec<u8> = self.readable.drain(..n).collect();
            self.window.extend(core::iter::repeat_n(None, n));
            v
        }
    }

    #[test]
    fn tcp_recv_buffer_model_random() {
        // RFC 9293 §3.10.7.4 and the rules above (trim to the window, first copy wins, range
        // limit), checked operation by operation against a byte-per-slot reference model.
        let seed = 0x6298_9293u64;
        println!("tcp_recv_buffer_model_random: seed {seed:#x}");
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut ops = 0usize;
        let mut stats = [0usize; 4];
        for trial in 0..400 {
            let cap = match trial % 4 {
                0 => (rng.next_u32() % 8) as usize,
                _ => (rng.next_u32() % 200) as usize,
            };
            let max_ranges = (rng.next_u32() % 5) as usize;
            let mut r = RecvBuffer::new(cap, max_ranges);
            let mut m = Model::new(cap, max_ranges);
            for _ in 0..100 {
                ops += 1;
                if rng.next_u32() % 4 == 0 {
                    let n = (rng.next_u32() % 80) as usize;
                    let mut d = vec![0; n];
                    let got = r.read(&mut d);
                    let want = m.read(n);
                    assert_eq!(&d[..got], want.as_slice(), "trial {trial}");
                } else {
                    let offset = match rng.next_u32() % 4 {
                        0 => 0,
                        _ => (rng.next_u32() as usize) % (cap + 10),
                    };
                    let len = (rng.next_u32() % 40) as usize;
                    let data: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
                    let got = r.insert(offset, &data);
                    let want = m.insert(offset, &data);
                    assert_eq!(got, want, "trial {trial} insert({offset}, {len})");
                    stats[0] += got.advanced;
                    stats[1] += got.stored_ooo;
                    stats[2] += got.trimmed;
                    stats[3] += got.dropped_ooo;
                }
                assert_eq!(r.readable(), m.readable.len());
                assert_eq!(r.window(), m.win());
                assert_eq!(ranges(&r), m.ranges());
                assert_eq!(r.ooo_bytes(), m.window.iter().flatten().count());
                assert_eq!(r.is_empty(), m.readable.is_empty() && m.ranges().is_empty());
                assert!(r.ooo_ranges().count() <= max_ranges);
                assert_eq!(
                    r.buf.len(),
                    r.readable() + m.ranges().last().map_or(0, |&(s, l)| s + l)
                );
                assert!(r.buf.capacity() <= cap.max(64) * 2);
            }
            // Drain: identical bytes to the end.
            let rest = m.read(usize::MAX);
            assert_eq!(read_all(&mut r), rest);
        }
        // Every kind of outcome happened.
        assert!(stats.iter().all(|&s| s > 0), "{stats:?}");
        println!("{ops} receive buffer operations checked, totals {stats:?}");
    }
}
