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

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use weft_wire::tcp::TcpPacket;

/// Earlier incarnations remembered per end.
const PAST: usize = 8;
/// Distinct ACK numbers remembered per end (for RSTs that answer them).
const RECENT_ACKS: usize = 16;
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
    /// the highest SEG.ACK + SEG.WND (scaled) it emitted.
    right_edge: Option<u32>,
    /// Recent distinct ACK numbers this end emitted.
    acks: Vec<u32>,
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
            if self.acks.len() >= RECENT_ACKS {
                self.acks.remove(0);
            }
            self.acks.push(ack);
        }
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
pub(crate) struct Verdict(pub(crate) Vec<(&'static str, Option<String>)>);

impl Verdict {
    fn rule(&mut self, rule: &'static str, ok: bool, detail: impl FnOnce() -> String) {
        self.0.push((rule, (!ok).then(detail)));
    }
}

/// TCP state over a run.
#[derive(Debug, Default)]
pub(crate) struct TcpTracker {
    conns: BTreeMap<(Endpoint, Endpoint), Conn>,
    /// Connections seen once [`MAX_CONNECTIONS`] were tracked: not checked.
    pub(crate) untracked: u64,
}

impl TcpTracker {
    /// Checks a segment (the IP payload `p`, from `src` to `dst`, with `ip_options` bytes of
    /// IPv4 options) and updates the connection's state.
    pub(crate) fn check(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ip_options: usize,
        p: &[u8],
    ) -> Verdict {
        let mut v = Verdict::default();
        // RFC 9293 §3.1: a data offset of at least 5 words, within the segment, and a well
        // formed option list.
        let seg = TcpPacket::new_checked(p);
        let detail = seg.as_ref().err().map(ToString::to_string);
        v.rule("tcp.header", seg.is_ok(), || detail.unwrap_or_default());
        let Ok(seg) = seg else { return v };
        // RFC 9293 §3.1 "Checksum": over the pseudo-header and the whole segment.
        let sum = seg.checksum();
        let good = seg.verify_checksum(src, dst);
        v.rule("tcp.checksum", good, || {
            format!("checksum {sum:#06x} does not verify")
        });
        if !good {
            return v;
        }
        let me = (src, seg.src_port());
        let peer = (dst, seg.dst_port());
        let (key, mine) = if me <= peer {
            ((me, peer), 0usize)
        } else {
            ((peer, me), 1usize)
        };
        if !self.conns.contains_key(&key) && self.conns.len() >= MAX_CONNECTIONS {
            self.untracked += 1;
            return v;
        }
        let conn = self.conns.entry(key).or_default();
        let [a, b] = &mut conn.ends;
        let (end, other) = if mine == 0 { (a, b) } else { (b, a) };
        check_segment(&seg, ip_options, end, other, &mut v);
        v
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
        // The peer's window for this end's old sequence space says nothing about the new.
        other.right_edge = None;
    }

    // RFC 9293 §3.10.7.4: an ACK of something not yet sent is never sent.
    if flags.ack() {
        let ack = seg.ack_number();
        let ok = other.acked_ok(ack);
        v.rule("tcp.ack", ok, || match other.space {
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
            let edge = ack.wrapping_add(wnd);
            end.right_edge = Some(match end.right_edge {
                Some(e) if le(edge, e) => e,
                _ => edge,
            });
        }
    }

    if rst {
        // RFC 9293 §3.10.7.1: a reset answering a segment without ACK has SEQ 0 and ACKs
        // it; otherwise its SEQ is the ACK it answers, or (an abort, §3.10.4) SND.NXT.
        let ok = (flags.ack() && seq == 0)
            || end.spaces().any(|s| within(seq, s.isn, s.max))
            || other.acks.contains(&seq);
        v.rule("tcp.rst", ok, || {
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
    v.rule("tcp.mss", used <= usize::from(mss), || {
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
        // RFC 9293 §3.8.6: no data beyond the right edge of the window the peer advertised
        // (SND.UNA + SND.WND); a zero-window probe may carry one octet past it (§3.8.6.1).
        let ok = end
            .space
            .is_some_and(|s| le(s.isn.wrapping_add(1), data_start))
            && other
                .right_edge
                .is_some_and(|e| le(data_end, e.wrapping_add(1)) && (len == 1 || le(data_end, e)));
        v.rule("tcp.window", ok, || match other.right_edge {
            Some(e) => format!(
                "data {data_start}..{data_end} ({len} bytes) beyond the window's right edge {e}"
            ),
            None => format!("{len} bytes of data before the peer advertised a window"),
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
        v.rule("tcp.fin", fin_ok, || match prev {
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
        v.rule("tcp.fin", !beyond, || {
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
