//! The connection state machine on its own: two `Conn`s wired back to back on virtual time,
//! segments passed as values, with drops, reordering and crafted segments. Test names cite
//! the RFC 9293 requirement labels (MUST-n) they check.

use super::conn::{Conn, ConnError, RecvError, SegmentIn, SegmentOut, State, TcpConfig, events};
use super::seq::Seq;
use crate::time::{Duration, Instant};
use alloc::vec;
use alloc::vec::Vec;

/// A segment on the wire between the two: the header values and the payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wire {
    out: SegmentOut,
    payload: Vec<u8>,
}

impl Wire {
    fn as_in(&self) -> SegmentIn<'_> {
        SegmentIn {
            seq: self.out.seq,
            ack: self.out.ack,
            syn: self.out.syn,
            fin: self.out.fin,
            rst: self.out.rst,
            psh: self.out.psh,
            urgent: self.out.urgent,
            window: self.out.window,
            mss: self.out.mss,
            window_scale: self.out.window_scale,
            payload: &self.payload,
        }
    }
}

fn drain(c: &mut Conn, now: Instant) -> Vec<Wire> {
    let mut v = Vec::new();
    while let Some(out) = c.poll_segment(now) {
        let mut payload = vec![0u8; out.payload_len];
        let n = c.read_payload(out.payload_offset, &mut payload);
        assert_eq!(n, out.payload_len, "the payload is in the send buffer");
        v.push(Wire { out, payload });
        assert!(v.len() < 10_000, "runaway output");
    }
    v
}

/// Two connections and a clock. `a` is the active opener.
struct Pair {
    a: Conn,
    b: Conn,
    now: Instant,
    /// Drop the n-th segment from a (0-based counter over a's output) when listed.
    drop_a: Vec<usize>,
    drop_b: Vec<usize>,
    sent_a: usize,
    sent_b: usize,
    /// One-way delay.
    delay: Duration,
    in_flight: Vec<(Instant, bool, Wire)>,
    log: Vec<(bool, SegmentOut)>,
}

const MSS: u16 = 1460;

fn cfg() -> TcpConfig {
    TcpConfig::default()
}

impl Pair {
    /// Opens: a's SYN goes to b, which is created from it (as a listener would).
    fn open(ca: TcpConfig, cb: TcpConfig) -> Pair {
        let now = Instant::from_secs(1);
        let mut a = Conn::connect(ca, MSS, Seq(1000), now);
        let syn = drain(&mut a, now);
        assert_eq!(syn.len(), 1);
        let b = Conn::accept(cb, MSS, Seq(5_000_000), now, &syn[0].as_in());
        let mut p = Pair {
            a,
            b,
            now,
            drop_a: Vec::new(),
            drop_b: Vec::new(),
            sent_a: 1,
            sent_b: 0,
            delay: Duration::from_millis(5),
            in_flight: Vec::new(),
            log: Vec::new(),
        };
        p.log.push((true, syn[0].out));
        p.run_for(Duration::from_millis(100));
        p
    }

    /// Moves segments until nothing is in flight and no timer is due before `until`.
    fn run_until(&mut self, until: Instant) {
        for _ in 0..1_000_000 {
            for (from_a, c) in [(true, &mut self.a), (false, &mut self.b)] {
                for w in drain(c, self.now) {
                    let (n, drops) = if from_a {
                        self.sent_a += 1;
                        (self.sent_a - 1, &self.drop_a)
                    } else {
                        self.sent_b += 1;
                        (self.sent_b - 1, &self.drop_b)
                    };
                    self.log.push((from_a, w.out));
                    if !drops.contains(&n) {
                        self.in_flight.push((self.now + self.delay, from_a, w));
                    }
                }
            }
            let next_arrival = self.in_flight.iter().map(|(t, _, _)| *t).min();
            let next_timer = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = [next_arrival, next_timer].into_iter().flatten().min() else {
                return;
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            let now = self.now;
            let mut i = 0;
            while i < self.in_flight.len() {
                if self.in_flight[i].0 <= now {
                    let (_, from_a, w) = self.in_flight.remove(i);
                    let to = if from_a { &mut self.b } else { &mut self.a };
                    to.handle_segment(now, &w.as_in(), &mut || true);
                } else {
                    i += 1;
                }
            }
            if self.a.poll_timeout().is_some_and(|t| t <= now) {
                self.a.handle_timeout(now);
            }
            if self.b.poll_timeout().is_some_and(|t| t <= now) {
                self.b.handle_timeout(now);
            }
        }
        panic!("the pair never went quiet");
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Sends `data` from a to b (as far as buffers allow, looping) and returns what b read.
    fn transfer(&mut self, data: &[u8], a_to_b: bool) -> Vec<u8> {
        let mut got = Vec::new();
        let mut off = 0;
        let mut buf = vec![0u8; 8192];
        for _ in 0..100_000 {
            let (tx, rx) = if a_to_b {
                (&mut self.a, &mut self.b)
            } else {
                (&mut self.b, &mut self.a)
            };
            if off < data.len() {
                off += tx.send(&data[off..]).expect("send");
            }
            loop {
                match rx.recv(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("recv: {e}"),
                }
            }
            if got.len() == data.len() {
                return got;
            }
            self.run_for(Duration::from_millis(20));
        }
        panic!("transfer stalled at {} of {} bytes", got.len(), data.len());
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 7) as u8).collect()
}

#[test]
fn tcp_three_way_handshake_and_options() {
    let mut p = Pair::open(cfg(), cfg());
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    assert!(p.a.take_events() & events::CONNECTED != 0);
    assert!(p.b.take_events() & events::CONNECTED != 0);
    // SYN carried MSS and window scale; the SYN-ACK answered both (MUST-14, RFC 7323).
    let syn = p.log[0].1;
    assert!(syn.syn && syn.ack.is_none() && syn.mss == Some(MSS) && syn.window_scale.is_some());
    let synack = p.log[1].1;
    assert!(synack.syn && synack.ack == Some(Seq(1001)) && synack.mss == Some(MSS));
    assert_eq!(p.a.send_vars().mss, 1460);
    assert_eq!(p.a.recv_vars().irs, Seq(5_000_000));
    // 64 KiB buffers need a shift of 1 to be advertised whole.
    assert_eq!(p.a.recv_vars().wscale, 1);
    assert_eq!(p.b.send_vars().wscale, 1);
}

#[test]
fn tcp_bulk_both_ways_and_graceful_close() {
    let mut p = Pair::open(cfg(), cfg());
    let data = pattern(1_000_000);
    assert_eq!(p.transfer(&data, true), data);
    let back = pattern(300_000);
    assert_eq!(p.transfer(&back, false), back);
    // a closes first: FIN-WAIT-1 → FIN-WAIT-2; b sees the FIN (CLOSE-WAIT) then closes.
    p.a.close();
    assert_eq!(p.a.state(), State::FinWait1);
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.state(), State::FinWait2);
    assert_eq!(p.b.state(), State::CloseWait);
    let mut buf = [0u8; 16];
    assert_eq!(p.b.recv(&mut buf), Err(RecvError::Finished));
    p.b.close();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.state(), State::Closed);
    assert_eq!(p.a.state(), State::TimeWait);
    // MUST-13: TIME-WAIT lasts 2·MSL.
    p.run_for(cfg().time_wait - Duration::from_millis(200));
    assert_eq!(p.a.state(), State::TimeWait);
    p.run_for(Duration::from_millis(400));
    assert_eq!(p.a.state(), State::Closed);
    assert!(p.a.take_events() & events::CLOSED != 0);
    assert_eq!(p.a.error(), None);
}

#[test]
fn tcp_time_wait_answers_old_duplicates_and_counts_the_acks() {
    // RFC 9293 §3.10.7.4: in TIME-WAIT an old duplicate (data the peer sent again before our
    // ACK of its FIN reached it) is not acceptable and is answered with an ACK; a peer that
    // has closed meanwhile answers that ACK with an RST, so the ACKs are counted.
    let mut p = Pair::open(cfg(), cfg());
    let data = pattern(3_000);
    assert_eq!(p.transfer(&data, false), data, "b → a");
    p.a.close();
    p.run_for(Duration::from_millis(50));
    let mut buf = [0u8; 16];
    assert_eq!(p.b.recv(&mut buf), Err(RecvError::Finished));
    p.b.close();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.state(), State::TimeWait);
    assert_eq!(p.a.stats().time_wait_acks, 0, "{:?}", p.a.stats());
    let now = p.now;
    let rcv = p.a.recv_vars();
    // b's last data segment again (it ends one before b's FIN).
    let old = SegmentIn {
        payload: &data[1_000..2_000],
        ..seg(rcv.nxt - 1_001, p.a.send_vars().una)
    };
    for _ in 0..3 {
        p.a.handle_segment(now, &old, &mut || true);
    }
    let acks = drain(&mut p.a, now);
    assert!(!acks.is_empty(), "old duplicates in TIME-WAIT are answered");
    assert!(
        acks.iter()
            .all(|w| w.out.ack == Some(rcv.nxt) && w.out.payload_len == 0)
    );
    assert_eq!(p.a.stats().time_wait_acks, 3, "{:?}", p.a.stats());
    assert_eq!(p.a.state(), State::TimeWait);
}

#[test]
fn tcp_half_close_lets_the_other_side_keep_sending() {
    let mut p = Pair::open(cfg(), cfg());
    p.a.shutdown();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.state(), State::CloseWait);
    let data = pattern(50_000);
    assert_eq!(
        p.transfer(&data, false),
        data,
        "b still sends after a's FIN"
    );
    assert!(p.a.send(b"x").is_err(), "a's direction is shut");
}

#[test]
fn tcp_simultaneous_open_must_10() {
    let now = Instant::from_secs(1);
    let mut a = Conn::connect(cfg(), MSS, Seq(100), now);
    let mut b = Conn::connect(cfg(), MSS, Seq(9000), now);
    let sa = drain(&mut a, now);
    let sb = drain(&mut b, now);
    a.handle_segment(now, &sb[0].as_in(), &mut || true);
    b.handle_segment(now, &sa[0].as_in(), &mut || true);
    // Both in SYN-RECEIVED (MUST-11 remembers it came from SYN-SENT) and answer SYN-ACK.
    assert_eq!(
        (a.state(), b.state()),
        (State::SynReceived, State::SynReceived)
    );
    let sa2 = drain(&mut a, now);
    let sb2 = drain(&mut b, now);
    assert!(sa2[0].out.syn && sa2[0].out.ack == Some(Seq(9001)));
    a.handle_segment(now, &sb2[0].as_in(), &mut || true);
    b.handle_segment(now, &sa2[0].as_in(), &mut || true);
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    // Each ACKs the other's SYN-ACK; the ACKs change nothing.
    let (fa, fb) = (drain(&mut a, now), drain(&mut b, now));
    assert!(fa.iter().all(|w| !w.out.syn) && !fa.is_empty());
    b.handle_segment(now, &fa[0].as_in(), &mut || true);
    a.handle_segment(now, &fb[0].as_in(), &mut || true);
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
}

#[test]
fn tcp_simultaneous_close() {
    let mut p = Pair::open(cfg(), cfg());
    p.a.close();
    p.b.close();
    p.run_for(Duration::from_millis(50));
    // Both FINs crossed: CLOSING → TIME-WAIT on both sides.
    assert_eq!(p.a.state(), State::TimeWait);
    assert_eq!(p.b.state(), State::TimeWait);
}

#[test]
fn tcp_lost_segments_are_retransmitted_must_19() {
    let mut p = Pair::open(cfg(), cfg());
    // Drop a few data segments from a.
    let base = p.sent_a;
    p.drop_a = vec![base + 2, base + 5, base + 6, base + 20];
    let data = pattern(200_000);
    assert_eq!(p.transfer(&data, true), data);
    let s = p.a.stats();
    assert!(s.retransmitted_segs >= 4, "{s:?}");
    assert!(s.fast_retransmits + s.rto_expirations > 0, "{s:?}");
}

#[test]
fn tcp_rto_backs_off_and_gives_up_after_r2_must_20() {
    let mut c = cfg();
    c.r2 = Duration::from_secs(30);
    let mut p = Pair::open(c, cfg());
    // Everything from b is lost from now on: a's data is never acknowledged.
    p.drop_b = (p.sent_b..p.sent_b + 100_000).collect();
    p.a.send(b"hello").unwrap();
    let start = p.now;
    let mut rtos = Vec::new();
    for _ in 0..10_000 {
        p.run_for(Duration::from_millis(100));
        let r = p.a.send_vars().rto;
        if rtos.last() != Some(&r) {
            rtos.push(r);
        }
        if p.a.state() == State::Closed {
            break;
        }
    }
    assert_eq!(p.a.state(), State::Closed);
    assert_eq!(p.a.error(), Some(ConnError::TimedOut));
    let took = p.now.saturating_since(start);
    // On time: at R2 after the data was sent, not one backed-off RTO later.
    assert!(
        took >= Duration::from_secs(30) && took <= Duration::from_millis(30_100),
        "{took:?}"
    );
    // Exponential backoff (RFC 6298 §5.5).
    assert!(
        rtos.windows(2)
            .any(|w| w[1] >= w[0] * 2 - Duration::from_millis(1)),
        "{rtos:?}"
    );
    assert!(p.a.stats().r1_reached > 0);
}

#[test]
fn tcp_syn_retries_span_r2_syn_must_23() {
    let now = Instant::from_secs(1);
    let mut a = Conn::connect(cfg(), MSS, Seq(1), now);
    let mut t = now;
    let mut syns = 0;
    while a.state() != State::Closed {
        syns += drain(&mut a, t).iter().filter(|w| w.out.syn).count();
        t = a.poll_timeout().expect("a timer while connecting");
        a.handle_timeout(t);
        assert!(syns < 100);
    }
    assert_eq!(a.error(), Some(ConnError::TimedOut));
    assert!(
        t.saturating_since(now) >= Duration::from_secs(180),
        "MUST-23: {t:?}"
    );
    assert!(syns >= 5, "{syns}");
}

#[test]
fn tcp_rst_in_syn_sent_is_refused() {
    let now = Instant::from_secs(1);
    let mut a = Conn::connect(cfg(), MSS, Seq(1), now);
    drain(&mut a, now);
    let rst = SegmentIn {
        seq: Seq(0),
        ack: Some(Seq(2)),
        syn: false,
        fin: false,
        rst: true,
        psh: false,
        urgent: None,
        window: 0,
        mss: None,
        window_scale: None,
        payload: &[],
    };
    // RST with an unacceptable ACK is ignored.
    a.handle_segment(
        now,
        &SegmentIn {
            ack: Some(Seq(7)),
            ..rst
        },
        &mut || true,
    );
    assert_eq!(a.state(), State::SynSent);
    a.handle_segment(now, &rst, &mut || true);
    assert_eq!(a.state(), State::Closed);
    assert_eq!(a.error(), Some(ConnError::Refused));
}

fn seg(seq: Seq, ack: Seq) -> SegmentIn<'static> {
    SegmentIn {
        seq,
        ack: Some(ack),
        syn: false,
        fin: false,
        rst: false,
        psh: false,
        urgent: None,
        window: 65535,
        mss: None,
        window_scale: None,
        payload: &[],
    }
}

#[test]
fn tcp_rfc5961_rst_and_syn_get_challenge_acks() {
    let mut p = Pair::open(cfg(), cfg());
    let now = p.now;
    let rcv = p.a.recv_vars().nxt;
    let una = p.a.send_vars().una;
    // In-window RST that is not exactly RCV.NXT: challenge ACK, connection stays.
    p.a.handle_segment(
        now,
        &SegmentIn {
            rst: true,
            ..seg(rcv + 10, una)
        },
        &mut || true,
    );
    assert_eq!(p.a.state(), State::Established);
    let out = drain(&mut p.a, now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].out.ack, Some(rcv));
    // The rate limit can refuse it.
    p.a.handle_segment(
        now,
        &SegmentIn {
            rst: true,
            ..seg(rcv + 10, una)
        },
        &mut || false,
    );
    assert!(drain(&mut p.a, now).is_empty());
    // SYN in a synchronized state: challenge ACK.
    p.a.handle_segment(
        now,
        &SegmentIn {
            syn: true,
            ack: None,
            ..seg(rcv, una)
        },
        &mut || true,
    );
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(drain(&mut p.a, now).len(), 1);
    assert_eq!(p.a.stats().challenge_acks, 2);
    // An ACK of data never sent: ACK back, drop (RFC 5961 §5.2).
    p.a.handle_segment(now, &seg(rcv, una + 100_000), &mut || true);
    assert_eq!(drain(&mut p.a, now).len(), 1);
    assert_eq!(p.a.send_vars().una, una);
    // Exactly RCV.NXT: reset (MUST-12: the application is told).
    p.a.handle_segment(
        now,
        &SegmentIn {
            rst: true,
            ..seg(rcv, una)
        },
        &mut || true,
    );
    assert_eq!(p.a.state(), State::Closed);
    assert_eq!(p.a.error(), Some(ConnError::Reset));
    assert!(p.a.take_events() & events::FAILED != 0);
}

#[test]
fn tcp_out_of_window_segments_are_acked_not_taken() {
    let mut p = Pair::open(cfg(), cfg());
    let now = p.now;
    let rcv = p.a.recv_vars().nxt;
    let una = p.a.send_vars().una;
    let far = SegmentIn {
        payload: b"junk",
        ..seg(rcv + 1_000_000, una)
    };
    p.a.handle_segment(now, &far, &mut || true);
    assert_eq!(p.a.readable(), 0);
    assert_eq!(drain(&mut p.a, now).len(), 1, "answered with an ACK");
    assert_eq!(p.a.stats().unacceptable, 1);
}

#[test]
fn tcp_out_of_order_data_is_reassembled_and_acked_at_once() {
    let mut p = Pair::open(cfg(), cfg());
    let now = p.now;
    let rcv = p.a.recv_vars().nxt;
    let una = p.a.send_vars().una;
    let second = SegmentIn {
        payload: b"world",
        ..seg(rcv + 5, una)
    };
    p.a.handle_segment(now, &second, &mut || true);
    let acks = drain(&mut p.a, now);
    assert_eq!(
        acks.len(),
        1,
        "immediate duplicate ACK for out-of-order data"
    );
    assert_eq!(acks[0].out.ack, Some(rcv));
    let first = SegmentIn {
        payload: b"hello",
        ..seg(rcv, una)
    };
    p.a.handle_segment(now, &first, &mut || true);
    let acks = drain(&mut p.a, now);
    assert_eq!(
        acks[0].out.ack,
        Some(rcv + 10),
        "the gap fill is ACKed at once"
    );
    let mut buf = [0u8; 32];
    assert_eq!(p.a.recv(&mut buf), Ok(10));
    assert_eq!(&buf[..10], b"helloworld");
}

#[test]
fn tcp_duplicate_acks_owed_are_dropped_when_the_gap_fills() {
    // RFC 5681 §4.2: one immediate duplicate ACK per out-of-order segment. Owed ones not yet
    // sent when the last gap fills would carry the new ACK number, and the sender would count
    // them as duplicates of it (a spurious fast retransmit, or RSTs from a peer that closed
    // meanwhile): the fill is answered with one ACK. While a gap remains they report it.
    let mut p = Pair::open(cfg(), cfg());
    let now = p.now;
    let rcv = p.a.recv_vars().nxt;
    let una = p.a.send_vars().una;
    let data = pattern(900);
    let piece = |i: usize| SegmentIn {
        payload: &data[i * 100..(i + 1) * 100],
        ..seg(rcv + i * 100, una)
    };
    // Out-of-order 1..4 and 5..9 before anything is sent.
    for i in (1..4).chain(5..9) {
        p.a.handle_segment(now, &piece(i), &mut || true);
    }
    // 0 fills the first gap; 4..5 is still missing: the owed duplicates report it.
    p.a.handle_segment(now, &piece(0), &mut || true);
    let acks: Vec<_> = drain(&mut p.a, now).iter().map(|w| w.out.ack).collect();
    assert!(acks.len() > 1, "{acks:?}");
    assert!(acks.iter().all(|a| *a == Some(rcv + 400)), "{acks:?}");
    // Out-of-order 5, 6 and 7 again (three more owed), then 4 fills the last gap.
    for i in 5..8 {
        p.a.handle_segment(now, &piece(i), &mut || true);
    }
    p.a.handle_segment(now, &piece(4), &mut || true);
    let acks: Vec<_> = drain(&mut p.a, now).iter().map(|w| w.out.ack).collect();
    assert_eq!(
        acks,
        vec![Some(rcv + 900)],
        "one ACK for the fill, no stale duplicates of it"
    );
}

#[test]
fn tcp_delayed_ack_every_second_segment() {
    let mut p = Pair::open(cfg(), cfg());
    let now = p.now;
    let rcv = p.a.recv_vars().nxt;
    let una = p.a.send_vars().una;
    let full = vec![7u8; 1460];
    p.a.handle_segment(
        now,
        &SegmentIn {
            payload: &full,
            ..seg(rcv, una)
        },
        &mut || true,
    );
    assert!(
        drain(&mut p.a, now).is_empty(),
        "the first full segment waits"
    );
    assert!(
        p.a.poll_timeout()
            .is_some_and(|t| t <= now + Duration::from_millis(500))
    );
    p.a.handle_segment(
        now,
        &SegmentIn {
            payload: &full,
            ..seg(rcv + 1460, una)
        },
        &mut || true,
    );
    let acks = drain(&mut p.a, now);
    assert_eq!(acks.len(), 1, "the second full segment is ACKed at once");
    // A small segment alone is ACKed when the delayed-ACK timer fires.
    p.a.handle_segment(
        now,
        &SegmentIn {
            payload: b"x",
            ..seg(rcv + 2920, una)
        },
        &mut || true,
    );
    assert!(drain(&mut p.a, now).is_empty());
    let t = p.a.poll_timeout().unwrap();
    assert!(t.saturating_since(now) <= Duration::from_millis(500));
    p.a.handle_timeout(t);
    assert_eq!(drain(&mut p.a, t).len(), 1);
}

#[test]
fn tcp_nagle_holds_small_segments_unless_nodelay_must_17() {
    for nodelay in [false, true] {
        let mut c = cfg();
        c.nodelay = nodelay;
        let mut p = Pair::open(c, cfg());
        let now = p.now;
        p.a.send(b"a").unwrap();
        let first = drain(&mut p.a, now);
        assert_eq!(first.len(), 1, "nothing in flight: the small segment goes");
        p.a.send(b"b").unwrap();
        let second = drain(&mut p.a, now);
        if nodelay {
            assert_eq!(second.len(), 1, "no-delay sends at once");
        } else {
            assert!(second.is_empty(), "Nagle waits for the ACK of the first");
        }
    }
}

#[test]
fn tcp_zero_window_is_probed() {
    let mut cb = cfg();
    cb.recv_buffer = 4096;
    let mut p = Pair::open(cfg(), cb);
    // b never reads: its window closes after 4096 bytes.
    let data = pattern(20_000);
    let mut off = 0;
    for _ in 0..50 {
        off += p.a.send(&data[off..]).unwrap();
        p.run_for(Duration::from_millis(200));
    }
    assert_eq!(p.b.readable(), 4096);
    assert_eq!(p.a.send_vars().wnd, 0);
    assert!(p.a.stats().window_probes > 0, "{:?}", p.a.stats());
    assert_eq!(p.a.state(), State::Established, "probing does not give up");
    // Reading opens the window; the rest flows.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    for _ in 0..200 {
        while let Ok(n) = p.b.recv(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if off < data.len() {
            off += p.a.send(&data[off..]).unwrap();
        }
        if got.len() == data.len() {
            break;
        }
        p.run_for(Duration::from_millis(300));
    }
    assert_eq!(got, data);
}

#[test]
fn tcp_peer_without_mss_option_gets_536_byte_segments_must_15() {
    let now = Instant::from_secs(1);
    let syn = SegmentIn {
        seq: Seq(77),
        ack: None,
        syn: true,
        mss: None,
        window_scale: None,
        ..seg(Seq(77), Seq(0))
    };
    let mut b = Conn::accept(cfg(), MSS, Seq(1), now, &syn);
    drain(&mut b, now);
    b.handle_segment(now, &seg(Seq(78), Seq(2)), &mut || true);
    assert_eq!(b.state(), State::Established);
    b.send(&pattern(5000)).unwrap();
    let out = drain(&mut b, now);
    assert!(!out.is_empty());
    assert!(out.iter().all(|w| w.payload.len() <= 536), "MUST-15");
    assert_eq!(
        b.send_vars().wscale,
        0,
        "no scaling without the peer's option"
    );
}

#[test]
fn tcp_abort_sends_rst_and_data_after_close_resets() {
    let mut p = Pair::open(cfg(), cfg());
    p.a.abort();
    let out = drain(&mut p.a, p.now);
    assert_eq!(out.len(), 1);
    assert!(out[0].out.rst);
    b_gets(&mut p.b, &out[0], p.now);
    assert_eq!(p.b.state(), State::Closed);
    assert_eq!(p.b.error(), Some(ConnError::Reset));

    // Close with unread data: RST (RFC 2525 §2.17).
    let mut p = Pair::open(cfg(), cfg());
    p.a.send(b"unread").unwrap();
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.b.readable(), 6);
    p.b.close();
    let out = drain(&mut p.b, p.now);
    assert!(out.iter().any(|w| w.out.rst));
}

fn b_gets(b: &mut Conn, w: &Wire, now: Instant) {
    b.handle_segment(now, &w.as_in(), &mut || true);
}

#[test]
fn tcp_keepalive_off_by_default_and_probes_when_idle_must_24_to_29() {
    let mut p = Pair::open(cfg(), cfg());
    p.run_for(Duration::from_secs(3 * 3600));
    assert_eq!(p.a.stats().keepalives, 0, "MUST-25: off by default");
    let mut c = cfg();
    c.keepalive = Some(TcpConfig::KEEPALIVE_DEFAULT);
    let mut p = Pair::open(c, cfg());
    p.run_for(Duration::from_secs(7200 - 10));
    assert_eq!(p.a.stats().keepalives, 0, "MUST-26/28: only after 2 h idle");
    p.run_for(Duration::from_secs(20));
    assert_eq!(p.a.stats().keepalives, 1);
    assert_eq!(p.a.state(), State::Established, "answered: still up");
    // The peer vanishes: probes go unanswered and the connection times out.
    p.drop_b = (p.sent_b..p.sent_b + 1000).collect();
    p.run_for(Duration::from_secs(4 * 3600));
    assert_eq!(p.a.error(), Some(ConnError::TimedOut));
}

#[test]
fn tcp_window_field_is_unsigned_must_1() {
    let mut p = Pair::open(cfg(), cfg());
    let now = p.now;
    let rcv = p.a.recv_vars().nxt;
    let una = p.a.send_vars().una;
    p.a.handle_segment(
        now,
        &SegmentIn {
            window: 0xfff0,
            ..seg(rcv, una)
        },
        &mut || true,
    );
    assert_eq!(p.a.send_vars().wnd, 0xfff0 << p.a.send_vars().wscale);
}

#[test]
fn tcp_urgent_pointer_is_signalled_must_30_31() {
    let mut p = Pair::open(cfg(), cfg());
    p.a.send_urgent(b"!urgent").unwrap();
    let out = drain(&mut p.a, p.now);
    assert_eq!(out[0].out.urgent, Some(7));
    b_gets(&mut p.b, &out[0], p.now);
    assert!(p.b.take_events() & events::URGENT != 0);
    assert_eq!(p.b.recv_vars().up, Some(p.b.recv_vars().nxt));
}

#[test]
fn tcp_icmp_errors_hard_abort_opening_soft_do_not_must_54_56() {
    let now = Instant::from_secs(1);
    // Hard (port unreachable) while opening: the connect fails as unreachable.
    let mut a = Conn::connect(cfg(), MSS, Seq(500), now);
    drain(&mut a, now);
    a.icmp_error(true, Seq(9999));
    assert_eq!(
        a.state(),
        State::SynSent,
        "a quote of nothing outstanding is ignored"
    );
    assert_eq!(a.stats().icmp_ignored, 1);
    a.icmp_error(true, Seq(500));
    assert_eq!(a.state(), State::Closed);
    assert_eq!(a.error(), Some(ConnError::Unreachable));
    // Soft while opening: the handshake goes on; if it times out, the error says why.
    let mut a = Conn::connect(cfg(), MSS, Seq(500), now);
    drain(&mut a, now);
    a.icmp_error(false, Seq(500));
    assert_eq!(
        a.state(),
        State::SynSent,
        "MUST-56: soft errors do not abort"
    );
    while a.state() != State::Closed {
        let t = a.poll_timeout().unwrap();
        a.handle_timeout(t);
        drain(&mut a, t);
    }
    assert_eq!(a.error(), Some(ConnError::Unreachable));
    // Established: even a hard error does not abort (RFC 5461).
    let mut p = Pair::open(cfg(), cfg());
    p.a.send(b"data").unwrap();
    drain(&mut p.a, p.now);
    let una = p.a.send_vars().una;
    p.a.icmp_error(true, una);
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.a.stats().icmp_errors, 1);
}

#[test]
fn tcp_newreno_recovers_several_losses_in_one_window_without_a_timeout() {
    let mut p = Pair::open(cfg(), cfg());
    // Grow the window first.
    let warm = pattern(300_000);
    assert_eq!(p.transfer(&warm, true), warm);
    let s0 = p.a.stats();
    // Three segments of the same window lost.
    let base = p.sent_a;
    p.drop_a = vec![base + 5, base + 8, base + 11];
    let data = pattern(200_000);
    assert_eq!(p.transfer(&data, true), data);
    let s = p.a.stats();
    println!("{s:?}");
    assert_eq!(
        s.fast_retransmits - s0.fast_retransmits,
        1,
        "one recovery episode"
    );
    assert!(
        s.partial_acks - s0.partial_acks >= 2,
        "RFC 6582 partial ACKs: {s:?}"
    );
    assert_eq!(s.rto_expirations, s0.rto_expirations, "no timeout needed");
}

#[test]
fn tcp_pure_ack_at_the_right_window_edge_is_processed() {
    let mut p = Pair::open(cfg(), cfg());
    let now = p.now;
    p.a.send(b"payload").unwrap();
    drain(&mut p.a, now);
    let rcv = p.a.recv_vars();
    let una = p.a.send_vars().una;
    // The peer filled our window; its pure ACK carries SEG.SEQ = RCV.NXT + RCV.WND.
    let edge = rcv.nxt + rcv.wnd as usize;
    p.a.handle_segment(now, &seg(edge, una + 7), &mut || true);
    assert_eq!(p.a.send_vars().una, una + 7, "the ACK was taken in");
    assert_eq!(p.a.stats().unacceptable, 0);
}

#[test]
fn tcp_user_timeout_fires_on_time_must_21() {
    let mut c = cfg();
    c.user_timeout = Some(Duration::from_secs(5));
    let mut p = Pair::open(c, cfg());
    p.drop_b = (p.sent_b..p.sent_b + 100_000).collect();
    p.a.send(b"anyone?").unwrap();
    let start = p.now;
    while p.a.state() != State::Closed {
        p.run_for(Duration::from_millis(10));
        assert!(p.now.saturating_since(start) < Duration::from_secs(30));
    }
    let took = p.now.saturating_since(start);
    assert_eq!(p.a.error(), Some(ConnError::TimedOut));
    assert!(
        took >= Duration::from_secs(5) && took <= Duration::from_millis(5_020),
        "{took:?}"
    );
}

#[test]
fn tcp_recv_into_an_empty_buffer_reports_the_end_only_after_the_data() {
    // RFC 9293 §3.10.3 (RECEIVE in CLOSE-WAIT): the end of the stream comes once the data
    // before the FIN was delivered; an empty buffer reads nothing and must not learn it early.
    let mut p = Pair::open(cfg(), cfg());
    p.a.send(b"ten bytes!").unwrap();
    p.a.shutdown();
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.b.state(), State::CloseWait);
    assert_eq!(p.b.readable(), 10);
    assert_eq!(p.b.recv(&mut []), Ok(0), "data waits: not the end yet");
    let mut buf = [0u8; 64];
    assert_eq!(p.b.recv(&mut buf), Ok(10));
    assert_eq!(&buf[..10], b"ten bytes!");
    assert_eq!(p.b.recv(&mut []), Err(RecvError::Finished));
    assert_eq!(p.b.recv(&mut buf), Err(RecvError::Finished));

    // The same for a failure: the data that came before a reset is read first.
    let mut p = Pair::open(cfg(), cfg());
    p.a.send(b"before the reset").unwrap();
    p.run_for(Duration::from_millis(100));
    p.a.abort();
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.b.error(), Some(ConnError::Reset));
    assert_eq!(p.b.recv(&mut []), Ok(0));
    assert_eq!(p.b.recv(&mut buf), Ok(16));
    assert_eq!(p.b.recv(&mut []), Err(RecvError::Failed(ConnError::Reset)));
}

#[test]
fn tcp_icmp_error_about_a_closed_connection_is_ignored() {
    // RFC 9293 §3.10.7.1: once CLOSED no connection is left for an ICMP error to concern;
    // the frozen SND.UNA and SND.MAX must not make it look outstanding (RFC 5927 §4.1).
    let mut p = Pair::open(cfg(), cfg());
    p.a.send(b"in flight").unwrap();
    drain(&mut p.a, p.now);
    let una = p.a.send_vars().una;
    p.a.abort();
    assert_eq!(p.a.state(), State::Closed);
    let before = p.a.stats();
    p.a.icmp_error(false, una);
    p.a.icmp_error(true, una);
    assert_eq!(
        p.a.stats().icmp_errors,
        before.icmp_errors,
        "nothing reported"
    );
    assert_eq!(p.a.stats().icmp_ignored, before.icmp_ignored + 2, "counted");
    assert_eq!(p.a.error(), Some(ConnError::Aborted), "the reason stays");
}

/// b with a `rcv`-byte receive buffer that a's `sent` bytes filled: a sees a zero window.
fn pair_with_full_receiver(rcv: usize, sent: usize) -> Pair {
    let mut cb = cfg();
    cb.recv_buffer = rcv;
    let mut p = Pair::open(cfg(), cb);
    p.a.send(&pattern(sent)).unwrap();
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.b.readable(), rcv);
    assert_eq!(p.a.send_vars().wnd, 0);
    p
}

#[test]
fn tcp_dropped_zero_window_probe_is_not_held_in_flight() {
    // RFC 9293 §3.8.6.1 (RFC 1122 §4.2.2.17): the probe octet goes one past a closed window
    // and the receiver may drop it. It must not count as in flight: once the window opens the
    // rest goes at once (Nagle waits for nothing), not after a timer that no one armed.
    let mut p = pair_with_full_receiver(100, 150);
    p.run_for(Duration::from_secs(1));
    let v = p.a.send_vars();
    assert!(p.a.stats().window_probes >= 1, "{:?}", p.a.stats());
    assert_eq!(p.b.readable(), 100, "b had no room for the probe");
    assert_eq!(v.nxt, v.una, "the probe octet is not in flight");
    assert_eq!(v.max, v.una + 1, "the peer may still acknowledge it");
    let mut buf = [0u8; 100];
    assert_eq!(p.b.recv(&mut buf), Ok(100));
    p.run_for(Duration::from_millis(30));
    assert_eq!(p.b.readable(), 50, "the rest followed the window update");
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.a.unacked(), 0);
}

#[test]
fn tcp_fin_waiting_on_a_closed_window_is_probed_and_sent_when_it_opens() {
    // RFC 9293 §3.8.6.1: with only the FIN left to send on a closed window, the FIN is the
    // probe (the persist timer repeats it), and it goes once the window opens.
    let mut p = pair_with_full_receiver(100, 100);
    p.a.shutdown();
    p.run_for(Duration::from_secs(3));
    assert_eq!(p.a.state(), State::FinWait1);
    assert_eq!(p.b.state(), State::Established, "no room for the FIN yet");
    let fins = p.log.iter().filter(|(from_a, s)| *from_a && s.fin).count();
    assert!(fins >= 2, "the FIN is probed with, again and again: {fins}");
    assert!(p.a.stats().window_probes >= 2, "{:?}", p.a.stats());
    let mut buf = [0u8; 100];
    assert_eq!(p.b.recv(&mut buf), Ok(100));
    p.run_for(Duration::from_millis(30));
    assert_eq!(p.b.state(), State::CloseWait);
    assert_eq!(p.a.state(), State::FinWait2);
    assert_eq!(p.b.recv(&mut buf), Err(RecvError::Finished));
}

#[test]
fn tcp_window_below_the_scale_unit_is_rounded_up_not_down_to_zero() {
    // RFC 7323 §2.3: SEG.WND = RCV.WND >> shift would read any window below the scale unit
    // as zero. A 1000-byte buffer with a shift of 10: the window goes out as one unit, and
    // all of it is taken (the buffer's slack): nothing cut off and sent again.
    let mut cb = cfg();
    cb.recv_buffer = 1000;
    cb.window_scale = super::conn::WindowScale::Shift(10);
    let mut p = Pair::open(cfg(), cb);
    assert_eq!(p.b.recv_vars().wscale, 10);
    let start = p.now;
    let data = pattern(30_000);
    assert_eq!(p.transfer(&data, true), data);
    let took = p.now.saturating_since(start);
    assert!(took < Duration::from_secs(10), "{took:?} for 30 kB");
    let windows: Vec<u16> = p
        .log
        .iter()
        .filter(|(from_a, s)| !from_a && !s.syn)
        .map(|(_, s)| s.window)
        .collect();
    assert!(
        windows.contains(&1),
        "a window below 1024 goes out as one unit"
    );
    assert!(
        windows.iter().all(|w| *w <= 1),
        "never more than the buffer's unit"
    );
    assert_eq!(p.b.stats().trimmed_bytes, 0, "{:?}", p.b.stats());
    assert_eq!(p.a.stats().retransmitted_segs, 0, "{:?}", p.a.stats());
}

#[test]
fn tcp_window_rounded_down_to_zero_when_full_opens_again_on_a_read() {
    // RFC 7323 §2.4: a window rounded up to the scale unit and then rounded down (the buffer
    // filled) retracts the edge the peer knows by less than a unit; that edge stays in the
    // window, and reading must still announce the reopened window. A 1-byte buffer with a
    // shift of 10: every byte read opens a one-unit window.
    let mut cb = cfg();
    cb.recv_buffer = 1;
    cb.window_scale = super::conn::WindowScale::Shift(10);
    let mut p = Pair::open(cfg(), cb);
    let data = pattern(5000);
    let start = p.now;
    assert_eq!(p.transfer(&data, true), data);
    let took = p.now.saturating_since(start);
    assert!(took < Duration::from_secs(10), "{took:?} for 5 kB");
    assert_eq!(p.b.stats().trimmed_bytes, 0, "{:?}", p.b.stats());
}

#[test]
fn tcp_empty_segments_carry_the_highest_sequence_sent_after_a_timeout() {
    // RFC 9293 §3.10.7.4: an ACK is taken in only if its sequence number passes the peer's
    // acceptability test. After a retransmission timeout SND.NXT moves back to SND.UNA, but
    // the peer may hold more: ACKs carry the highest sequence number sent (RFC 9293's SND.NXT).
    let mut p = Pair::open(cfg(), cfg());
    let now = p.now;
    p.a.send(&pattern(2920)).unwrap();
    let first = drain(&mut p.a, now);
    assert_eq!(first.len(), 2);
    let max = p.a.send_vars().max;
    let t = p.a.poll_timeout().unwrap();
    p.a.handle_timeout(t);
    let again = drain(&mut p.a, t);
    assert_eq!(again.len(), 1, "one segment again after the timeout");
    assert!(p.a.send_vars().nxt.lt(max));
    // b's data arrives: a acknowledges it at once (an old, unacceptable segment here).
    let rcv = p.a.recv_vars();
    p.a.handle_segment(t, &seg(rcv.nxt - 10, p.a.send_vars().una), &mut || true);
    let acks = drain(&mut p.a, t);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].out.seq, max, "{:?}", acks[0].out);
}

#[test]
fn tcp_acks_to_unacceptable_empty_segments_are_rate_limited_rfc5961_7() {
    // RFC 5961 §7 (as Linux's tcp_invalid_ratelimit): unacceptable segments without data are
    // answered at most once per UNACCEPTABLE_ACK_INTERVAL, so two stacks that find each other's
    // ACKs unacceptable cannot ping-pong forever; segments with data are always answered.
    use super::conn::UNACCEPTABLE_ACK_INTERVAL;
    let mut p = Pair::open(cfg(), cfg());
    let now = p.now;
    let old = seg(p.a.recv_vars().nxt - 1000, p.a.send_vars().una);
    for _ in 0..10 {
        p.a.handle_segment(now, &old, &mut || true);
    }
    assert_eq!(drain(&mut p.a, now).len(), 1, "one ACK for ten");
    assert_eq!(p.a.stats().unacceptable, 10);
    assert_eq!(p.a.stats().unacceptable_acks_limited, 9);
    let with_data = SegmentIn {
        payload: b"old data",
        ..old
    };
    p.a.handle_segment(now, &with_data, &mut || true);
    assert_eq!(drain(&mut p.a, now).len(), 1, "data is always answered");
    let later = now + UNACCEPTABLE_ACK_INTERVAL;
    p.a.handle_segment(later, &old, &mut || true);
    assert_eq!(
        drain(&mut p.a, later).len(),
        1,
        "answered again after the interval"
    );
    assert_eq!(p.a.stats().unacceptable_acks_limited, 9);
}

#[test]
fn tcp_unacceptable_ack_interval_is_configurable() {
    // A shorter interval answers sooner; zero answers every unacceptable empty segment.
    for (interval, gap, answered) in [
        (Duration::from_millis(100), Duration::from_millis(100), 5),
        (Duration::from_millis(100), Duration::from_millis(50), 3),
        (Duration::ZERO, Duration::ZERO, 5),
    ] {
        let c = TcpConfig {
            unacceptable_ack_interval: interval,
            ..cfg()
        };
        let mut p = Pair::open(c, cfg());
        let old = seg(p.a.recv_vars().nxt - 1000, p.a.send_vars().una);
        let mut acks = 0;
        let mut t = p.now;
        for _ in 0..5 {
            p.a.handle_segment(t, &old, &mut || true);
            acks += drain(&mut p.a, t).len();
            t = t + gap;
        }
        assert_eq!(acks, answered, "interval {interval:?}, one every {gap:?}");
        assert_eq!(p.a.stats().unacceptable_acks_limited, 5 - answered as u64);
    }
}
