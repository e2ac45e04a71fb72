//! The monitor's TCP rules: per-connection state built from the segments both ends emit
//! (before any fault), and the checks each new segment must pass against it.
//!
//! A connection is keyed by its two endpoints. Each end's *incarnation* starts with a SYN
//! that carries a new initial sequence number; a host that crashes and comes back, or a
//! 4-tuple used again after TIME-WAIT, starts a new one, and the old ones are remembered
//! (a few per end) because segments and RSTs about them may still be emitted: a surviving
//! peer retransmits into the old sequence space, a restarted host resets it.
//!
//! Sequence numbers are compared in serial-number arithmetic (RFC 9293 §3.4, modulo 2^32).

use super::Rule;
use arrayvec::ArrayVec;
use std::net::Ipv4Addr;
use weft_core::table::{SeededState, Table, table};
use weft_wire::tcp::TcpPacket;

/// Earlier incarnations remembered per end.
const PAST: usize = 8;
/// Distinct ACK numbers remembered per end (for RSTs that answer them).
const RECENT_ACKS: usize = 16;
/// Steps of the window staircase remembered per end (see [`WindowsAhead`]).
const WINDOW_STEPS: usize = 32;
/// Steps kept inside the connection's record before the staircase moves to an allocation.
const INLINE_STEPS: usize = 4;
/// Connections tracked at once; beyond, new ones are counted and not checked.
pub(crate) const MAX_CONNECTIONS: usize = 1 << 16;
/// RFC 9293 §3.7.1: the send MSS without an MSS option (MUST-15).
pub(crate) const DEFAULT_MSS: u16 = 536;

/// `a <= b` in sequence space.
fn le(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) >= 0
}

/// `lo <= x <= hi` in sequence space (with `lo <= hi`).
fn within(x: u32, lo: u32, hi: u32) -> bool {
    x.wrapping_sub(lo) <= hi.wrapping_sub(lo)
}

/// One incarnation's sequence space: the ISN and one past the highest sequence number sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Space {
    isn: u32,
    /// SND.MAX: one past the last sequence number any segment occupied (SYN and FIN count).
    max: u32,
}

/// What one end of a connection emitted.
#[derive(Debug, Clone, Default)]
struct End {
    /// The current incarnation (from this end's SYN).
    space: Option<Space>,
    /// Earlier incarnations, newest last.
    past: Vec<Space>,
    /// The sequence number the FIN of this incarnation occupies.
    fin: Option<u32>,
    /// The MSS option of this incarnation's SYN.
    mss: Option<u16>,
    /// The window-scale option of this incarnation's SYN.
    wscale: Option<u8>,
    /// The right edge of the window this end advertised for the peer's current incarnation:
    /// the highest SND.UNA + SND.WND a peer could hold from what this end emitted (see
    /// [`WindowsAhead`]).
    right_edge: Option<u32>,
    /// The windows this end advertised (for the peer's current incarnation), by where in this
    /// end's own sequence space the segments carrying them lay.
    windows: WindowsAhead,
    /// Recent distinct ACK numbers this end emitted (kept inside the connection's entry, like
    /// `windows`: one segment's checks touch one contiguous record).
    acks: ArrayVec<u32, RECENT_ACKS>,
}

impl End {
    fn spaces(&self) -> impl Iterator<Item = &Space> {
        self.space.iter().chain(self.past.iter())
    }

    /// True when `ack` acknowledges something this end sent: ISN < ack <= SND.MAX in one of
    /// its incarnations.
    fn acked_ok(&self, ack: u32) -> bool {
        self.spaces()
            .any(|s| within(ack, s.isn.wrapping_add(1), s.max))
    }

    fn note_ack(&mut self, ack: u32) {
        if !self.acks.contains(&ack) {
            if self.acks.is_full() {
                self.acks.pop_at(0);
            }
            // Room was just made.
            let _ = self.acks.try_push(ack);
        }
    }
}

/// The windows one end advertised, for the question "what is the largest window carried by a
/// segment whose sequence number lies beyond this one?".
///
/// RFC 9293 §3.10.7.4 takes SND.WND only from a segment with SND.WL1 < SEG.SEQ (or an equal
/// SEG.SEQ and SND.WL2 =< SEG.ACK), while any acceptable ACK moves SND.UNA. So when a segment
/// with a lower sequence number but a higher ACK arrives after one that set the window (the
/// receiver retransmitted its own data after pure ACKs, or the network reordered them), the
/// sender keeps the older, larger SND.WND and counts it from the newer SND.UNA: its right edge
/// SND.UNA + SND.WND lies beyond any SEG.ACK + SEG.WND the receiver emitted, legally. The
/// monitor therefore allows, for each segment A, A's SEG.ACK plus the largest window any
/// earlier segment at a higher sequence number carried (with a lower ACK the sum is below
/// that segment's own right edge, so the ACK condition needs no checking).
///
/// Kept as a staircase: offsets from the ISN ascending, windows strictly descending (an entry
/// with both a lower offset and a smaller window than another never answers). Past
/// [`WINDOW_STEPS`] the two lowest steps merge into one at the higher offset with the larger
/// window: answers only grow, so the rule stays free of false alarms.
///
/// The first [`INLINE_STEPS`] steps live inside the connection's record (a steady connection
/// needs one or two); a staircase that grows past them moves to its own allocation.
#[derive(Debug, Clone)]
enum WindowsAhead {
    Inline(ArrayVec<(u32, u32), INLINE_STEPS>),
    Spilled(Box<ArrayVec<(u32, u32), { WINDOW_STEPS + 1 }>>),
}

impl Default for WindowsAhead {
    fn default() -> Self {
        WindowsAhead::Inline(ArrayVec::new())
    }
}

impl WindowsAhead {
    /// The steps, offsets ascending.
    fn steps(&self) -> &[(u32, u32)] {
        match self {
            WindowsAhead::Inline(a) => a,
            WindowsAhead::Spilled(a) => a,
        }
    }

    /// The largest window a segment at an offset beyond `offset` carried.
    fn beyond(&self, offset: u32) -> Option<u32> {
        self.steps()
            .iter()
            .find(|&&(o, _)| o > offset)
            .map(|&(_, w)| w)
    }

    /// Notes a segment at `offset` that advertised `wnd`.
    fn note(&mut self, offset: u32, wnd: u32) {
        if self.steps().iter().any(|&(o, w)| o >= offset && w >= wnd) {
            return;
        }
        let keep = |&mut (o, w): &mut (u32, u32)| !(o <= offset && w <= wnd);
        match self {
            WindowsAhead::Inline(a) => {
                a.retain(keep);
                if a.is_full() {
                    let mut spilled = Box::new(ArrayVec::new());
                    spilled.extend(a.iter().copied());
                    *self = WindowsAhead::Spilled(spilled);
                }
            }
            WindowsAhead::Spilled(a) => a.retain(keep),
        }
        match self {
            WindowsAhead::Inline(a) => insert_step(a, offset, wnd),
            WindowsAhead::Spilled(a) => insert_step(a, offset, wnd),
        }
    }
}

/// Inserts the step (`offset`, `wnd`) in offset order (the steps it covers are gone), then
/// merges the two lowest steps if there are more than [`WINDOW_STEPS`]; `steps` has room
/// for one more.
fn insert_step<const N: usize>(steps: &mut ArrayVec<(u32, u32), N>, offset: u32, wnd: u32) {
    let at = steps.partition_point(|&(o, _)| o < offset);
    let _ = steps.try_insert(at, (offset, wnd));
    if steps.len() > WINDOW_STEPS
        && let Some((_, lowest)) = steps.pop_at(0)
        && let Some(next) = steps.first_mut()
    {
        next.1 = lowest;
    }
}

/// Both ends of one connection; `ends[0]` is the lower endpoint.
#[derive(Debug, Clone, Default)]
struct Conn {
    ends: [End; 2],
}

type Endpoint = (Ipv4Addr, u16);

/// The rules a segment was checked against, each with what was wrong if it broke it.
#[derive(Debug, Default)]
pub(crate) struct Verdict(pub(crate) Vec<(Rule, Option<String>)>);

impl Verdict {
    fn rule(&mut self, rule: Rule, ok: bool, detail: impl FnOnce() -> String) {
        self.0.push((rule, (!ok).then(detail)));
    }
}

/// TCP state over a run.
#[derive(Debug)]
pub(crate) struct TcpTracker {
    /// Connections by their two endpoints: a lookup table, never iterated (a fixed key: the
    /// endpoints are the simulation's own, no peer chooses them).
    conns: Table<(Endpoint, Endpoint), Conn>,
    /// Connections seen once [`MAX_CONNECTIONS`] were tracked: not checked.
    pub(crate) untracked: u64,
}

impl Default for TcpTracker {
    fn default() -> Self {
        TcpTracker {
            conns: table(SeededState::new(
                0x7463_705f_6d6f_6e69,
                0x746f_725f_636f_6e6e,
            )),
            untracked: 0,
        }
    }
}

impl TcpTracker {
    /// Checks a segment (the IP payload `p`, from `src` to `dst`, with `ip_options` bytes of
    /// IPv4 options), updates the connection's state and appends the rules it was checked
    /// against to `v`.
    pub(crate) fn check(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ip_options: usize,
        p: &[u8],
        v: &mut Verdict,
    ) {
        // RFC 9293 §3.1: a data offset of at least 5 words, within the segment, and a well
        // formed option list.
        let seg = TcpPacket::new_checked(p);
        let detail = seg.as_ref().err().map(ToString::to_string);
        v.rule(Rule::TcpHeader, seg.is_ok(), || detail.unwrap_or_default());
        let Ok(seg) = seg else { return };
        // RFC 9293 §3.1 "Checksum": over the pseudo-header and the whole segment.
        let sum = seg.checksum();
        let good = seg.verify_checksum(src, dst);
        v.rule(Rule::TcpChecksum, good, || {
            format!("checksum {sum:#06x} does not verify")
        });
        if !good {
            return;
        }
        let me = (src, seg.src_port());
        let peer = (dst, seg.dst_port());
        let (key, mine) = if me <= peer {
            ((me, peer), 0usize)
        } else {
            ((peer, me), 1usize)
        };
        if self.conns.len() >= MAX_CONNECTIONS && !self.conns.contains_key(&key) {
            self.untracked += 1;
            return;
        }
        let conn = self.conns.entry(key).or_default();
        let [a, b] = &mut conn.ends;
        let (end, other) = if mine == 0 { (a, b) } else { (b, a) };
        check_segment(&seg, ip_options, end, other, v);
    }
}

fn check_segment(
    seg: &TcpPacket<&[u8]>,
    ip_options: usize,
    end: &mut End,
    other: &mut End,
    v: &mut Verdict,
) {
    let flags = seg.flags();
    let (syn, fin, rst) = (flags.syn(), flags.fin(), flags.rst());
    let seq = seg.seq_number();
    let len = seg.payload().len() as u32;
    let data_start = seq.wrapping_add(u32::from(syn));
    let data_end = data_start.wrapping_add(len);

    // A SYN with a new ISN starts a new incarnation of this end.
    if syn && !rst && end.space.map(|s| s.isn) != Some(seq) {
        if let Some(old) = end.space.take() {
            if end.past.len() >= PAST {
                end.past.remove(0);
            }
            end.past.push(old);
        }
        end.space = Some(Space {
            isn: seq,
            max: seq.wrapping_add(1),
        });
        end.fin = None;
        end.mss = seg.mss();
        end.wscale = seg.window_scale();
        // Windows this end advertised were placed in its old sequence space, and the peer's
        // window for this end's old sequence space says nothing about the new.
        end.windows = WindowsAhead::default();
        other.right_edge = None;
        other.windows = WindowsAhead::default();
    }

    // RFC 9293 §3.10.7.4: an ACK of something not yet sent is never sent.
    if flags.ack() {
        let ack = seg.ack_number();
        let ok = other.acked_ok(ack);
        v.rule(Rule::TcpAck, ok, || match other.space {
            Some(s) => format!(
                "ACK {ack} acknowledges data the peer never sent (peer ISN {}, highest sent {})",
                s.isn, s.max
            ),
            None => format!("ACK {ack} on a connection the peer never opened"),
        });
        end.note_ack(ack);
        // The window it advertises, for the peer's current incarnation only.
        if !rst
            && let Some(s) = other.space
            && within(ack, s.isn.wrapping_add(1), s.max)
        {
            // RFC 7323 §2.2-2.3: windows are scaled once both SYNs carried the option,
            // never in a SYN segment itself.
            let shift = match (end.wscale, other.wscale) {
                (Some(mine), Some(_)) if !syn => u32::from(mine.min(14)),
                _ => 0,
            };
            let wnd = u32::from(seg.window_len()) << shift;
            let mut edge = ack.wrapping_add(wnd);
            // A window from a segment further on in this end's sequence space may still be
            // the peer's SND.WND, counted from this ACK (RFC 9293 §3.10.7.4, see
            // `WindowsAhead`).
            if let Some(mine) = end.space
                && within(seq, mine.isn, mine.max)
            {
                let offset = seq.wrapping_sub(mine.isn);
                if let Some(w) = end.windows.beyond(offset)
                    && w > wnd
                {
                    edge = ack.wrapping_add(w);
                }
                end.windows.note(offset, wnd);
            }
            end.right_edge = Some(match end.right_edge {
                Some(e) if le(edge, e) => e,
                _ => edge,
            });
        }
    }

    if rst {
        // RFC 9293 §3.10.7.1: a reset answering a segment without ACK has SEQ 0 and ACKs
        // it; otherwise its SEQ is the ACK it answers, or (an abort, §3.10.4) SND.NXT.
        // SND.NXT may lie past everything the NIC emitted: segments TCP sent can be dropped
        // inside the host below it (a full ARP resolution queue, RFC 1122 §2.3.2.2), but
        // never past the window's right edge, plus one for a FIN.
        let sent_up_to = |s: &Space| match other.right_edge {
            Some(e) if le(s.max, e.wrapping_add(1)) => e.wrapping_add(1),
            _ => s.max,
        };
        let ok = (flags.ack() && seq == 0)
            || end.spaces().any(|s| within(seq, s.isn, s.max))
            || end
                .space
                .is_some_and(|s| within(seq, s.isn, sent_up_to(&s)))
            || other.acks.contains(&seq);
        v.rule(Rule::TcpRst, ok, || {
            let range = end
                .space
                .map_or("none".to_string(), |s| format!("{}..={}", s.isn, s.max));
            format!(
                "RST with SEQ {seq}: neither in this end's sequence space ({range}) nor an ACK the peer sent"
            )
        });
        return;
    }

    // RFC 9293 §3.8.6.2.1 and §3.7.1 (MUST-15): the send MSS is the peer's MSS option, or
    // 536; the option counts data only, so TCP and IP options come off it.
    let mss = other.mss.unwrap_or(DEFAULT_MSS);
    let used = len as usize + seg.header_len().saturating_sub(20) + ip_options;
    v.rule(Rule::TcpMss, used <= usize::from(mss), || {
        format!(
            "{len} bytes of data and {} of options exceed the peer's MSS {mss}{}",
            used - len as usize,
            if other.mss.is_none() {
                " (no MSS option: 536)"
            } else {
                ""
            }
        )
    });

    if len > 0 {
        // RFC 9293 §3.4: the SYN occupies the ISN, data starts at ISN + 1.
        let first = end.space.map(|s| s.isn.wrapping_add(1));
        let in_space = first.is_some_and(|f| le(f, data_start));
        // RFC 9293 §3.8.6: no data beyond the right edge of the window the peer advertised
        // (SND.UNA + SND.WND); a zero-window probe may carry one octet past it (§3.8.6.1).
        let in_window = other
            .right_edge
            .is_some_and(|e| le(data_end, e.wrapping_add(1)) && (len == 1 || le(data_end, e)));
        v.rule(Rule::TcpWindow, in_space && in_window, || {
            match (first, other.right_edge) {
                (Some(f), _) if !in_space => format!(
                    "data {data_start}..{data_end} ({len} bytes) starts before this end's first data sequence number {f} (the SYN occupies ISN {})",
                    f.wrapping_sub(1)
                ),
                (None, _) => format!("{len} bytes of data before this end sent a SYN"),
                (Some(_), Some(e)) => format!(
                    "data {data_start}..{data_end} ({len} bytes) beyond the window's right edge {e}"
                ),
                (Some(_), None) => {
                    format!("{len} bytes of data before the peer advertised a window")
                }
            }
        });
    }

    // RFC 9293 §3.5 and §3.10.4: a FIN takes one sequence number, after the last data, and
    // nothing comes after it; retransmitted, it keeps its place.
    let fin_at = data_end;
    let fin_ok = match end.fin {
        Some(f) => (!fin || fin_at == f) && (len == 0 || le(data_end, f)),
        None => true,
    };
    if fin || end.fin.is_some() {
        let prev = end.fin;
        v.rule(Rule::TcpFin, fin_ok, || match prev {
            Some(f) if fin && fin_at != f => {
                format!("FIN at {fin_at}, but the connection's FIN was at {f}")
            }
            Some(f) => format!("data {data_start}..{data_end} after the FIN at {f}"),
            None => String::new(),
        });
    }
    if fin && end.fin.is_none() {
        // The first FIN: nothing sent before may lie beyond it.
        let beyond = end.space.is_some_and(|s| !le(s.max, fin_at));
        v.rule(Rule::TcpFin, !beyond, || {
            let max = end.space.map_or(0, |s| s.max);
            format!("FIN at {fin_at}, below data already sent up to {max}")
        });
        end.fin = Some(fin_at);
    }

    // SND.MAX grows with what this segment occupies, in the current incarnation.
    if let Some(s) = end.space.as_mut() {
        let occupied = data_end.wrapping_add(u32::from(fin));
        if le(s.isn, seq) && le(s.max, occupied) {
            s.max = occupied;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

    use super::*;
    use weft_wire::tcp::{TcpFlags, TcpOption, TcpOptionList, TcpRepr};

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
    const A_ISN: u32 = 1_000_000;
    const B_ISN: u32 = 5_000_000;

    struct Seg {
        seq: u32,
        ack: Option<u32>,
        syn: bool,
        rst: bool,
        wnd: u16,
        len: usize,
    }

    /// Checks one segment from `src` and returns the rules it broke, with their details.
    fn send(t: &mut TcpTracker, src: Ipv4Addr, s: Seg) -> Vec<(&'static str, String)> {
        let (dst, sport, dport) = if src == A {
            (B, 7, 40000)
        } else {
            (A, 40000, 7)
        };
        let mut flags = TcpFlags::EMPTY;
        let mut options = TcpOptionList::new();
        if s.syn {
            flags.insert(TcpFlags::SYN);
            options.push(TcpOption::Mss(1460));
            options.push(TcpOption::WindowScale(1));
        }
        if s.ack.is_some() {
            flags.insert(TcpFlags::ACK);
        }
        if s.rst {
            flags.insert(TcpFlags::RST);
        }
        let payload = vec![0x5a; s.len];
        let repr = TcpRepr {
            src_port: sport,
            dst_port: dport,
            seq_number: s.seq,
            ack_number: s.ack.unwrap_or(0),
            flags,
            window_len: s.wnd,
            urgent_pointer: 0,
            options,
            options_trailer: &[],
            payload: &payload,
        };
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(src, dst, &mut buf).unwrap();
        let mut v = Verdict::default();
        t.check(src, dst, 0, &buf, &mut v);
        v.0.into_iter()
            .filter_map(|(rule, bad)| bad.map(|d| (rule.name(), d)))
            .collect()
    }

    /// A opens to B (both scale windows by 2), A's next sequence number is A_ISN + 1.
    fn open() -> TcpTracker {
        let mut t = TcpTracker::default();
        let syn = |seq, ack| Seg {
            seq,
            ack,
            syn: true,
            rst: false,
            wnd: 65535,
            len: 0,
        };
        assert!(send(&mut t, B, syn(B_ISN, None)).is_empty());
        assert!(send(&mut t, A, syn(A_ISN, Some(B_ISN + 1))).is_empty());
        t
    }

    fn data(seq: u32, ack: u32, len: usize) -> Seg {
        Seg {
            seq,
            ack: Some(ack),
            syn: false,
            rst: false,
            wnd: 32768,
            len,
        }
    }

    #[test]
    fn data_within_the_advertised_window_passes_and_one_byte_more_does_not() {
        let mut t = open();
        // B acknowledges the SYN-ACK with 2 × 1000 = 2000 bytes of window.
        let ack = Seg {
            wnd: 1000,
            ..data(B_ISN + 1, A_ISN + 1, 0)
        };
        assert!(send(&mut t, B, ack).is_empty());
        assert!(send(&mut t, A, data(A_ISN + 1, B_ISN + 1, 1000)).is_empty());
        assert!(send(&mut t, A, data(A_ISN + 1001, B_ISN + 1, 1000)).is_empty());
        let broke = send(&mut t, A, data(A_ISN + 2001, B_ISN + 1, 2));
        assert_eq!(broke.len(), 1, "{broke:?}");
        assert_eq!(broke[0].0, "tcp.window");
        assert!(
            broke[0].1.contains("beyond the window's right edge"),
            "{broke:?}"
        );
    }

    /// Seed 507 of the fault matrix: the receiver B sends pure ACKs at its SND.NXT with a
    /// full window, then retransmits a hole of its own data (a lower SEG.SEQ) with a higher
    /// ACK and a window smaller by as much. RFC 9293 §3.10.7.4 does not take SND.WND from
    /// the retransmission (SEG.SEQ < SND.WL1) but moves SND.UNA: the sender's right edge
    /// grows by the ACK's advance, past every SEG.ACK + SEG.WND B emitted.
    #[test]
    fn a_window_kept_from_a_later_segment_counts_from_a_newer_ack() {
        let mut t = open();
        // B sends 3000 bytes of its own; A sends 4000.
        for i in 0..3 {
            assert!(send(&mut t, B, data(B_ISN + 1 + i * 1000, A_ISN + 1, 1000)).is_empty());
        }
        for i in 0..4 {
            assert!(send(&mut t, A, data(A_ISN + 1 + i * 1000, B_ISN + 3001, 1000)).is_empty());
        }
        // B's pure ACK at its SND.NXT: ACK A_ISN + 1001, window 2 × 32768.
        let edge = A_ISN + 1001 + 65536;
        assert!(send(&mut t, B, data(B_ISN + 3001, A_ISN + 1001, 0)).is_empty());
        // B retransmits its first segment, acknowledging 1000 more with a window 1000
        // smaller: the same right edge.
        let retx = Seg {
            wnd: 32268,
            ..data(B_ISN + 1, A_ISN + 2001, 1000)
        };
        assert!(send(&mut t, B, retx).is_empty());
        // A, holding SND.WND = 65536 from the pure ACK and SND.UNA = A_ISN + 2001, may send
        // up to A_ISN + 2001 + 65536: 1000 bytes past `edge`.
        let from = A_ISN + 4001;
        let upto = edge + 1000;
        let mut seq = from;
        while seq < upto {
            let len = (upto - seq).min(1460);
            let broke = send(&mut t, A, data(seq, B_ISN + 3001, len as usize));
            assert!(broke.is_empty(), "at {seq}: {broke:?}");
            seq += len;
        }
        let broke = send(&mut t, A, data(upto, B_ISN + 3001, 2));
        assert_eq!(broke.len(), 1, "{broke:?}");
        assert!(
            broke[0].1.contains(&format!("right edge {upto}")),
            "{broke:?}"
        );
    }

    /// A window from a segment *behind* the ACK's segment in sequence space would have been
    /// replaced by it (RFC 9293 §3.10.7.4): it does not widen the edge.
    #[test]
    fn a_window_from_an_earlier_segment_does_not_widen_the_edge() {
        let mut t = open();
        // B: a full window at ACK A_ISN + 1, then (after A's 2000 bytes) a newer segment
        // further on with a higher ACK and a window smaller by more than the ACK's advance.
        assert!(send(&mut t, B, data(B_ISN + 1, A_ISN + 1, 0)).is_empty());
        assert!(send(&mut t, A, data(A_ISN + 1, B_ISN + 1, 1000)).is_empty());
        assert!(send(&mut t, A, data(A_ISN + 1001, B_ISN + 1, 1000)).is_empty());
        let shrinking = Seg {
            wnd: 100,
            ..data(B_ISN + 1, A_ISN + 2001, 1000)
        };
        assert!(send(&mut t, B, shrinking).is_empty());
        // The edge stays A_ISN + 1 + 65536 (from the first ACK), not A_ISN + 2001 + 65536.
        let edge = A_ISN + 1 + 65536;
        let mut seq = A_ISN + 2001;
        while seq < edge {
            let len = (edge - seq).min(1460);
            assert!(send(&mut t, A, data(seq, B_ISN + 1001, len as usize)).is_empty());
            seq += len;
        }
        let broke = send(&mut t, A, data(edge, B_ISN + 1001, 2));
        assert_eq!(broke.len(), 1, "{broke:?}");
        assert_eq!(broke[0].0, "tcp.window");
    }

    fn rst(seq: u32) -> Seg {
        Seg {
            rst: true,
            wnd: 0,
            ..data(seq, 0, 0)
        }
    }

    /// Seed 3717 of the fault matrix: the host's FIN waited for ARP and was dropped from
    /// the resolution queue; the abort's RST carries SND.NXT, one past anything emitted.
    #[test]
    fn an_abort_may_carry_a_snd_nxt_past_what_was_emitted_but_not_past_the_window() {
        let mut t = open();
        assert!(send(&mut t, B, data(B_ISN + 1, A_ISN + 1, 0)).is_empty());
        assert!(send(&mut t, A, data(A_ISN + 1, B_ISN + 1, 300)).is_empty());
        // The FIN at A_ISN + 301 never reached the NIC; the RST follows it.
        let mut abort = rst(A_ISN + 302);
        abort.ack = Some(B_ISN + 1);
        assert!(send(&mut t, A, abort).is_empty());
        // Past the window B advertised (A_ISN + 1 + 65536), plus one: implausible.
        let mut far = rst(A_ISN + 1 + 65536 + 2);
        far.ack = Some(B_ISN + 1);
        let broke = send(&mut t, A, far);
        assert_eq!(broke.len(), 1, "{broke:?}");
        assert_eq!(broke[0].0, "tcp.rst");
    }

    /// Seed 856 of the fault matrix: data placed on the SYN's sequence number.
    #[test]
    fn data_on_the_syns_sequence_number_is_named() {
        let mut t = open();
        assert!(send(&mut t, B, data(B_ISN + 1, A_ISN + 1, 20)).is_empty());
        let broke = send(&mut t, A, data(A_ISN, B_ISN + 21, 300));
        assert_eq!(broke.len(), 1, "{broke:?}");
        assert_eq!(broke[0].0, "tcp.window");
        assert!(
            broke[0].1.contains(&format!(
                "starts before this end's first data sequence number {}",
                A_ISN + 1
            )),
            "{broke:?}"
        );
    }

    /// The staircase answers the largest window ahead of an offset, and merging past the
    /// bound only ever raises answers.
    #[test]
    fn windows_ahead_answer_the_largest_window_beyond_and_merges_only_raise() {
        let mut w = WindowsAhead::default();
        w.note(100, 50);
        w.note(200, 70);
        w.note(300, 10);
        assert_eq!(w.beyond(0), Some(70));
        assert_eq!(w.beyond(199), Some(70));
        assert_eq!(w.beyond(200), Some(10));
        assert_eq!(w.beyond(300), None);
        // Exact answers for a long run of notes, against which the bounded staircase may
        // only answer at least as much.
        let mut notes = Vec::new();
        let mut w = WindowsAhead::default();
        // The same staircase in one vector, as the rule defines it: inline and spilled
        // storage must hold exactly these steps.
        let mut reference: Vec<(u32, u32)> = Vec::new();
        fn reference_note(v: &mut Vec<(u32, u32)>, offset: u32, wnd: u32) {
            if v.iter().any(|&(o, w)| o >= offset && w >= wnd) {
                return;
            }
            v.retain(|&(o, w)| !(o <= offset && w <= wnd));
            let at = v.partition_point(|&(o, _)| o < offset);
            v.insert(at, (offset, wnd));
            if v.len() > WINDOW_STEPS {
                let (_, lowest) = v.remove(0);
                v[0].1 = lowest;
            }
        }
        for i in 0..500u32 {
            let offset = i * 37 % 4096;
            let wnd = 65536 - (i * 131 % 5000);
            notes.push((offset, wnd));
            w.note(offset, wnd);
            reference_note(&mut reference, offset, wnd);
            assert_eq!(w.steps(), reference.as_slice());
            assert!(w.steps().len() <= WINDOW_STEPS);
            assert!(
                w.steps()
                    .windows(2)
                    .all(|p| p[0].0 < p[1].0 && p[0].1 > p[1].1)
            );
        }
        assert!(matches!(w, WindowsAhead::Spilled(_)));
        for q in (0..4200).step_by(7) {
            let exact = notes.iter().filter(|n| n.0 > q).map(|n| n.1).max();
            let got = w.beyond(q);
            assert!(got >= exact, "at {q}: {got:?} < {exact:?}");
        }
    }
}
