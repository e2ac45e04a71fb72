//! RFC 9293 requirements checked on the connection state machine alone: one `Conn` driven by
//! crafted segments (or two back to back) on virtual time, where the whole stack would hide
//! the variable under test (the RTT estimate, cwnd, the advertised right edge, the timers).
//! Each test names the MUST label it checks; `docs/conformance/rfc9293.md` lists them.

use super::conn::{Conn, ConnError, SegmentIn, SegmentOut, State, TcpConfig, WindowScale, events};
use super::seq::Seq;
use crate::time::{Duration, Instant};
use alloc::vec;
use alloc::vec::Vec;

const MSS: u16 = 1460;
const SMSS: usize = 1460;

/// A segment a connection sent, with its payload bytes.
#[derive(Debug, Clone)]
struct Sent {
    out: SegmentOut,
    payload: Vec<u8>,
}

impl Sent {
    /// The sequence number after this segment's data (SYN and FIN not counted).
    fn data_end(&self) -> Seq {
        self.out.seq + self.payload.len()
    }
}

fn drain(c: &mut Conn, now: Instant) -> Vec<Sent> {
    let mut v = Vec::new();
    while let Some(out) = c.poll_segment(now) {
        let mut payload = vec![0u8; out.payload_len];
        let n = c.read_payload(out.payload_offset, &mut payload);
        assert_eq!(n, out.payload_len);
        v.push(Sent { out, payload });
        assert!(v.len() < 10_000, "runaway output");
    }
    v
}

/// A segment from the peer: `<SEQ=seq><ACK=ack><CTL=ACK>` with a 65535 window.
fn ack_seg(seq: Seq, ack: Seq) -> SegmentIn<'static> {
    SegmentIn {
        seq,
        ack: Some(ack),
        syn: false,
        fin: false,
        rst: false,
        psh: false,
        urgent: None,
        window: 65_535,
        mss: None,
        window_scale: None,
        payload: &[],
    }
}

fn give(c: &mut Conn, now: Instant, seg: &SegmentIn<'_>) {
    c.handle_segment(now, seg, &mut || true);
}

/// Runs `c`'s timers up to `until`, returning what it sent at each firing.
fn run_timers(c: &mut Conn, until: Instant) -> Vec<(Instant, Sent)> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let Some(t) = c.poll_timeout() else {
            return out;
        };
        if t > until {
            return out;
        }
        c.handle_timeout(t);
        out.extend(drain(c, t).into_iter().map(|s| (t, s)));
    }
    panic!("timers never settled");
}

/// An active open against a scripted peer: our SYN, the peer's SYN-ACK (window `window`, MSS
/// 1460, no window scale unless `wscale`), our ACK. Returns the connection, the peer's next
/// sequence number and the time.
fn open_active(cfg: TcpConfig, window: u16, wscale: Option<u8>) -> (Conn, Seq, Instant) {
    let now = Instant::from_secs(1);
    let mut c = Conn::connect(cfg, MSS, Seq(1000), now);
    let syn = drain(&mut c, now);
    assert!(syn.len() == 1 && syn[0].out.syn);
    let peer_iss = Seq(50_000);
    give(
        &mut c,
        now,
        &SegmentIn {
            syn: true,
            window,
            mss: Some(MSS),
            window_scale: wscale,
            ..ack_seg(peer_iss, Seq(1001))
        },
    );
    assert_eq!(c.state(), State::Established);
    let ack = drain(&mut c, now);
    assert_eq!(ack.len(), 1);
    (c, peer_iss + 1, now)
}

/// A passive open from a scripted peer's SYN (no window scale, MSS 1460).
fn open_passive(cfg: TcpConfig) -> (Conn, Seq, Seq, Instant) {
    let now = Instant::from_secs(1);
    let peer_iss = Seq(70_000);
    let syn = SegmentIn {
        syn: true,
        ack: None,
        mss: Some(MSS),
        ..ack_seg(peer_iss, Seq(0))
    };
    let mut c = Conn::accept(cfg, MSS, Seq(3000), now, &syn);
    let synack = drain(&mut c, now);
    assert!(synack.len() == 1 && synack[0].out.syn);
    give(&mut c, now, &ack_seg(peer_iss + 1, Seq(3001)));
    assert_eq!(c.state(), State::Established);
    (c, peer_iss + 1, Seq(3001), now)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + i / 5) as u8).collect()
}

// ------------------------------------------------------------------------------ §3.8.1

#[test]
fn tcp_conf_karn_no_rtt_sample_from_retransmissions_must_18() {
    // MUST-18: RFC 6298 with Karn's algorithm: an ACK for a retransmitted segment gives no
    // RTT sample (it is ambiguous which transmission it answers).
    let t0 = Instant::from_secs(1);
    let mut c = Conn::connect(TcpConfig::default(), MSS, Seq(1000), t0);
    assert!(drain(&mut c, t0)[0].out.syn);
    // The SYN is lost; it goes again at the RTO (1 s) and the SYN-ACK comes 5 ms later.
    let sent = run_timers(&mut c, t0 + Duration::from_millis(1500));
    assert!(
        sent.iter().any(|(_, s)| s.out.syn),
        "the SYN is retransmitted"
    );
    let t1 = sent[0].0 + Duration::from_millis(5);
    give(
        &mut c,
        t1,
        &SegmentIn {
            syn: true,
            mss: Some(MSS),
            ..ack_seg(Seq(50_000), Seq(1001))
        },
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(
        c.send_vars().srtt,
        None,
        "no sample from the ACK of a retransmitted SYN"
    );
    drain(&mut c, t1);
    // New data answered after 30 ms: the first sample.
    let t2 = t1 + Duration::from_millis(100);
    c.send(b"first").unwrap();
    let d = drain(&mut c, t2);
    assert_eq!(d.len(), 1);
    let t2a = t2 + Duration::from_millis(30);
    give(&mut c, t2a, &ack_seg(Seq(50_001), d[0].data_end()));
    assert_eq!(c.send_vars().srtt, Some(Duration::from_millis(30)));
    // Data lost, retransmitted at the RTO, the ACK 1 ms after the retransmission: no sample
    // (measured from the first transmission it would be a whole RTO).
    let t3 = t2a + Duration::from_millis(100);
    c.send(b"second").unwrap();
    let d = drain(&mut c, t3);
    assert_eq!(d.len(), 1);
    let retx = run_timers(&mut c, t3 + Duration::from_secs(5));
    let (t_retx, seg) = retx.first().expect("retransmitted at the RTO").clone();
    assert_eq!(seg.out.seq, d[0].out.seq);
    give(
        &mut c,
        t_retx + Duration::from_millis(1),
        &ack_seg(Seq(50_001), seg.data_end()),
    );
    assert_eq!(
        c.send_vars().srtt,
        Some(Duration::from_millis(30)),
        "Karn: the ACK of a retransmission is not a sample"
    );
}

// ------------------------------------------------------------------------------ §3.8.2

#[test]
fn tcp_conf_slow_start_congestion_avoidance_and_rto_backoff_must_19() {
    // MUST-19: slow start, congestion avoidance and exponential backoff (RFC 5681 §3.1,
    // RFC 6298 §5.5).
    let cfg = TcpConfig {
        send_buffer: 1 << 20,
        nodelay: true,
        ..TcpConfig::default()
    };
    let (mut c, peer_seq, mut now) = open_active(cfg, 65_535, Some(7));
    // RFC 5681 §3.1: IW = 3 segments for an SMSS of 1460 (1095 < SMSS <= 2190).
    assert_eq!(c.send_vars().cwnd, 3 * SMSS);
    c.send(&pattern(1 << 19)).unwrap();
    let flight = drain(&mut c, now);
    assert_eq!(
        flight.len(),
        3,
        "the initial window limits the first flight"
    );
    assert!(flight.iter().all(|s| s.payload.len() == SMSS));
    // Slow start: each ACK of a full segment grows cwnd by SMSS.
    now = now + Duration::from_millis(10);
    for (i, s) in flight.iter().enumerate() {
        give(&mut c, now, &ack_seg(peer_seq, s.data_end()));
        assert_eq!(c.send_vars().cwnd, (4 + i) * SMSS, "slow start");
    }
    let flight = drain(&mut c, now);
    assert_eq!(flight.len(), 6, "cwnd of 6 segments");
    // A timeout: cwnd falls to one segment, ssthresh to half the flight (RFC 5681 eq. 4),
    // and the RTO doubles at each expiry (RFC 6298 §5.5).
    let rto0 = c.send_vars().rto;
    let first = c.poll_timeout().unwrap();
    c.handle_timeout(first);
    let v = c.send_vars();
    assert_eq!(v.cwnd, SMSS);
    assert_eq!(v.ssthresh, 3 * SMSS, "flight of 6 segments halved");
    assert_eq!(v.rto, rto0 * 2);
    let retx = drain(&mut c, first);
    assert_eq!(retx.len(), 1, "one segment after the timeout");
    let second = c.poll_timeout().unwrap();
    assert_eq!(second.saturating_since(first), rto0 * 2);
    c.handle_timeout(second);
    assert_eq!(c.send_vars().rto, rto0 * 4);
    drain(&mut c, second);
    // Everything acknowledged: slow start again up to ssthresh, then congestion avoidance,
    // about one SMSS per cwnd of acknowledged data.
    now = second + Duration::from_millis(10);
    give(&mut c, now, &ack_seg(peer_seq, flight[0].data_end()));
    assert_eq!(c.send_vars().cwnd, 2 * SMSS);
    give(&mut c, now, &ack_seg(peer_seq, flight[1].data_end()));
    assert_eq!(c.send_vars().cwnd, 3 * SMSS);
    let mut end = flight[1].data_end();
    let mut grew = Vec::new();
    for _ in 0..12 {
        drain(&mut c, now);
        end = end + SMSS;
        let before = c.send_vars().cwnd;
        give(&mut c, now, &ack_seg(peer_seq, end));
        grew.push(c.send_vars().cwnd - before);
    }
    assert!(
        grew.iter().all(|g| *g == 0 || *g == SMSS),
        "congestion avoidance grows by whole SMSS steps: {grew:?}"
    );
    let steps = grew.iter().filter(|g| **g == SMSS).count();
    assert!(
        (2..=4).contains(&steps),
        "about one SMSS per window acknowledged, not one per ACK: {grew:?}"
    );
}

// ------------------------------------------------------------------------------ §3.8.6

#[test]
fn tcp_conf_shrinking_window_is_survived_must_34() {
    // MUST-34: the peer moves its right edge left; the usable window goes negative. No new
    // data goes out while it is, nothing breaks, and the transfer completes once the window
    // opens again.
    let (mut c, peer_seq, mut now) = open_active(TcpConfig::default(), 20_000, None);
    let data = pattern(30_000);
    c.send(&data).unwrap();
    let flight = drain(&mut c, now);
    assert_eq!(flight.len(), 3);
    let una = flight[0].out.seq;
    let sent_to = flight[2].data_end();
    // ACK of the first segment with a window of 100: the edge moves from una+20000 to
    // una+1460+100, left of SND.NXT.
    now = now + Duration::from_millis(10);
    give(
        &mut c,
        now,
        &SegmentIn {
            window: 100,
            ..ack_seg(peer_seq, una + SMSS)
        },
    );
    assert_eq!(c.state(), State::Established);
    let out = drain(&mut c, now);
    assert!(
        out.iter()
            .all(|s| s.payload.is_empty() || s.out.seq.lt(sent_to)),
        "no new data beyond a shrunk window: {out:?}"
    );
    assert_eq!(c.send_vars().nxt, sent_to);
    // The window opens: everything goes through.
    now = now + Duration::from_millis(10);
    let mut acked = una + SMSS;
    for _ in 0..200 {
        give(&mut c, now, &ack_seg(peer_seq, acked));
        for s in drain(&mut c, now) {
            if s.data_end().gt(acked) {
                acked = s.data_end();
            }
        }
        now = now + Duration::from_millis(10);
        if c.unacked() == 0 {
            break;
        }
        if let Some(t) = c.poll_timeout().filter(|t| *t <= now) {
            c.handle_timeout(t);
        }
    }
    assert_eq!(c.unacked(), 0, "the whole 30000 bytes were acknowledged");
    assert_eq!(c.state(), State::Established);
}

#[test]
fn tcp_conf_window_shrunk_to_zero_is_probed_must_35() {
    // MUST-35: a window that shrinks to zero is probed the standard way (§3.8.6.1).
    let (mut c, peer_seq, mut now) = open_active(TcpConfig::default(), 20_000, None);
    c.send(&pattern(30_000)).unwrap();
    let flight = drain(&mut c, now);
    let una = flight[0].out.seq;
    now = now + Duration::from_millis(10);
    // The peer takes the first segment only and closes its window.
    give(
        &mut c,
        now,
        &SegmentIn {
            window: 0,
            ..ack_seg(peer_seq, una + SMSS)
        },
    );
    assert!(drain(&mut c, now).iter().all(|s| s.payload.is_empty()));
    let later = run_timers(&mut c, now + Duration::from_secs(30));
    let probes: Vec<_> = later
        .iter()
        .filter(|(_, s)| !s.payload.is_empty())
        .collect();
    assert!(!probes.is_empty(), "the zero window is probed");
    assert!(
        probes
            .iter()
            .all(|(_, s)| s.out.seq == una + SMSS && s.payload.len() <= SMSS),
        "probes start at SND.UNA: {probes:?}"
    );
    assert!(c.stats().window_probes + c.stats().rto_expirations > 0);
}

#[test]
fn tcp_conf_window_shrunk_to_zero_under_flight_resumes_from_snd_una_must_35() {
    // MUST-35: the data in flight that a window shrunk to zero did not take is probed for,
    // not held as in flight: once the window opens, sending goes on at once from SND.UNA.
    let (mut c, peer_seq, now) = open_active(TcpConfig::default(), 20_000, None);
    c.send(&pattern(30_000)).unwrap();
    let flight = drain(&mut c, now);
    let acked = flight[0].out.seq + SMSS;
    give(
        &mut c,
        now,
        &SegmentIn {
            window: 0,
            ..ack_seg(peer_seq, acked)
        },
    );
    drain(&mut c, now);
    // The retransmission timeout finds the window closed: a probe, nothing in flight.
    let later = run_timers(&mut c, now + Duration::from_secs(2));
    assert!(
        later
            .iter()
            .all(|(_, s)| s.out.seq == acked && s.payload.len() <= 1)
    );
    assert!(c.stats().window_probes >= 1, "{:?}", c.stats());
    assert_eq!(c.send_vars().nxt, acked, "nothing counts as in flight");
    // The window opens (an update acknowledging nothing new): data goes at once.
    let t = now + Duration::from_secs(2);
    give(&mut c, t, &ack_seg(peer_seq, acked));
    let out = drain(&mut c, t);
    assert!(!out.is_empty(), "sending resumes without a timer");
    assert_eq!(out[0].out.seq, acked, "from SND.UNA");
    assert!(out[0].payload.len() == SMSS);
}

#[test]
fn tcp_conf_zero_window_is_probed_with_data_and_backs_off_must_36() {
    // MUST-36: probing of zero windows; SHLD-29/30: the first probe after an RTO, then
    // exponentially further apart.
    let (mut c, peer_seq, mut now) = open_active(TcpConfig::default(), 65_535, None);
    c.send(&pattern(4380)).unwrap();
    let flight = drain(&mut c, now);
    let end = flight.last().unwrap().data_end();
    now = now + Duration::from_millis(10);
    // Everything acknowledged, window zero; more data waits.
    give(
        &mut c,
        now,
        &SegmentIn {
            window: 0,
            ..ack_seg(peer_seq, end)
        },
    );
    c.send(b"more data").unwrap();
    assert!(
        drain(&mut c, now).is_empty(),
        "nothing sent into a zero window"
    );
    let mut probes = Vec::new();
    let mut t = now;
    while probes.len() < 5 {
        let next = c.poll_timeout().expect("the persist timer runs");
        c.handle_timeout(next);
        let out = drain(&mut c, next);
        if !out.is_empty() {
            probes.push(next);
        }
        for s in out {
            // §3.8.6.1: "at least one octet of new data".
            assert!(!s.payload.is_empty(), "a probe carries data");
            assert_eq!(s.out.seq, end, "the first unsent octet");
            // The peer answers with its window still zero.
            give(
                &mut c,
                next,
                &SegmentIn {
                    window: 0,
                    ..ack_seg(peer_seq, end)
                },
            );
        }
        assert!(next.saturating_since(t) < Duration::from_secs(3600));
        t = next;
    }
    let gaps: Vec<_> = probes
        .windows(2)
        .map(|w| w[1].saturating_since(w[0]))
        .collect();
    assert!(
        gaps.windows(2).all(|g| g[1] >= g[0]) && gaps.last() > gaps.first(),
        "probe intervals grow: {gaps:?}"
    );
    assert_eq!(c.state(), State::Established);
}

#[test]
fn tcp_conf_zero_window_may_stay_closed_for_an_hour_must_37() {
    // MUST-37: as long as the peer answers the probes, the connection stays open however
    // long its window stays zero.
    let (mut c, peer_seq, now) = open_active(TcpConfig::default(), 65_535, None);
    c.send(&pattern(4380)).unwrap();
    let end = drain(&mut c, now).last().unwrap().data_end();
    give(
        &mut c,
        now,
        &SegmentIn {
            window: 0,
            ..ack_seg(peer_seq, end)
        },
    );
    c.send(b"queued").unwrap();
    assert!(drain(&mut c, now).is_empty());
    let until = now + Duration::from_secs(3600);
    let mut answered = 0;
    while let Some(t) = c.poll_timeout().filter(|t| *t <= until) {
        c.handle_timeout(t);
        for s in drain(&mut c, t) {
            if !s.payload.is_empty() {
                answered += 1;
                give(
                    &mut c,
                    t,
                    &SegmentIn {
                        window: 0,
                        ..ack_seg(peer_seq, end)
                    },
                );
            }
        }
    }
    assert!(answered > 10, "{answered} probes in an hour");
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.error(), None);
    // The window opens: the queued data goes.
    for _ in 0..10 {
        let nxt = c.send_vars().nxt;
        give(&mut c, until, &ack_seg(peer_seq, nxt));
        drain(&mut c, until);
    }
    assert_eq!(
        c.unacked(),
        0,
        "everything queued was sent and acknowledged"
    );
}

#[test]
fn tcp_conf_window_shrunk_to_zero_under_flight_stays_open_must_37() {
    // MUST-37 (with MUST-34/35): the peer shrinks its window to zero while our data is in
    // flight and then answers every probe: the connection must stay open.
    let (mut c, peer_seq, now) = open_active(TcpConfig::default(), 20_000, None);
    c.send(&pattern(30_000)).unwrap();
    let flight = drain(&mut c, now);
    let una = flight[0].out.seq;
    let acked = una + SMSS;
    give(
        &mut c,
        now,
        &SegmentIn {
            window: 0,
            ..ack_seg(peer_seq, acked)
        },
    );
    drain(&mut c, now);
    let until = now + Duration::from_secs(600);
    while let Some(t) = c.poll_timeout().filter(|t| *t <= until) {
        c.handle_timeout(t);
        for s in drain(&mut c, t) {
            if !s.payload.is_empty() {
                give(
                    &mut c,
                    t,
                    &SegmentIn {
                        window: 0,
                        ..ack_seg(peer_seq, acked)
                    },
                );
            }
        }
        if c.state() == State::Closed {
            break;
        }
    }
    assert_eq!(c.error(), None, "the peer answered every probe");
    assert_eq!(c.state(), State::Established);
}

#[test]
fn tcp_conf_sender_sws_avoidance_must_38() {
    // MUST-38 (§3.8.6.2.1): with a small usable window and more data queued, send only a
    // full segment, or at least Fs = 1/2 of the largest window seen, or at the override
    // timeout.
    let (mut c, peer_seq, mut now) = open_active(TcpConfig::default(), 10_000, None);
    c.send(&pattern(20_000)).unwrap();
    let flight = drain(&mut c, now);
    assert_eq!(flight.len(), 3);
    let end = flight[2].data_end();
    now = now + Duration::from_millis(10);
    // All acknowledged, a usable window of 200 octets: silly.
    give(
        &mut c,
        now,
        &SegmentIn {
            window: 200,
            ..ack_seg(peer_seq, end)
        },
    );
    assert!(
        drain(&mut c, now).iter().all(|s| s.payload.is_empty()),
        "no 200-octet segment while 15620 octets wait"
    );
    // The override timeout eventually sends what fits.
    let forced = run_timers(&mut c, now + Duration::from_secs(5));
    let (t_forced, seg) = forced
        .iter()
        .find(|(_, s)| !s.payload.is_empty())
        .expect("the override timeout sends")
        .clone();
    assert!(seg.payload.len() <= 200);
    assert!(
        t_forced.saturating_since(now) >= Duration::from_millis(100),
        "the override waits (0.1-1 s recommended)"
    );
    // A window of half the largest seen is enough to send at once.
    let end = seg.data_end();
    give(
        &mut c,
        t_forced,
        &SegmentIn {
            window: 5000,
            ..ack_seg(peer_seq, end)
        },
    );
    let out = drain(&mut c, t_forced);
    assert!(!out.is_empty() && out.iter().all(|s| !s.payload.is_empty()));
}

#[test]
fn tcp_conf_receiver_sws_avoidance_must_39() {
    // MUST-39 (§3.8.6.2.2): the right edge moves only once the freed space reaches
    // min(RCV.BUFF / 2, Eff.snd.MSS).
    let cfg = TcpConfig {
        recv_buffer: 8192,
        ..TcpConfig::default()
    };
    let (mut c, mut peer_seq, _our_seq, now) = open_passive(cfg);
    assert_eq!(c.recv_vars().wnd, 8192);
    // The peer fills the window.
    let chunk = pattern(1024);
    for _ in 0..8 {
        give(
            &mut c,
            now,
            &SegmentIn {
                payload: &chunk,
                ..ack_seg(peer_seq, Seq(3001))
            },
        );
        peer_seq = peer_seq + 1024;
    }
    let acks = run_timers(&mut c, now + Duration::from_secs(1));
    assert_eq!(acks.last().unwrap().1.out.window, 0, "the window is closed");
    let now = acks.last().unwrap().0;
    // The application reads 100 octets: the edge stays where it is.
    let mut buf = [0u8; 1460];
    assert_eq!(c.recv(&mut buf[..100]), Ok(100));
    assert!(
        drain(&mut c, now).is_empty(),
        "no window update for 100 octets"
    );
    // A probe from the peer is answered with the window still zero.
    let probe = [0u8; 1];
    give(
        &mut c,
        now,
        &SegmentIn {
            payload: &probe,
            ..ack_seg(peer_seq, Seq(3001))
        },
    );
    let ans = drain(&mut c, now);
    assert_eq!(ans.len(), 1);
    assert_eq!(ans[0].out.window, 0, "100 free octets are not offered");
    // Reading up to one MSS (below RCV.BUFF / 2) opens the window by at least that much.
    assert_eq!(c.recv(&mut buf[..1360]), Ok(1360));
    let upd = drain(&mut c, now);
    assert_eq!(upd.len(), 1, "a window update once an MSS is free");
    assert!(usize::from(upd[0].out.window) >= SMSS, "{:?}", upd[0].out);
}

// ------------------------------------------------------------------------------ §3.8.6.3

#[test]
fn tcp_conf_delayed_ack_is_under_half_a_second_must_40() {
    // MUST-40: an ACK is never delayed by 0.5 s or more.
    let (mut c, peer_seq, _, now) = open_passive(TcpConfig::default());
    give(
        &mut c,
        now,
        &SegmentIn {
            payload: b"one small segment",
            ..ack_seg(peer_seq, Seq(3001))
        },
    );
    assert!(drain(&mut c, now).is_empty(), "the ACK is delayed");
    let t = c.poll_timeout().unwrap();
    assert!(t.saturating_since(now) < Duration::from_millis(500));
    c.handle_timeout(t);
    let acks = drain(&mut c, t);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].out.ack, Some(peer_seq + 17));
}

#[test]
fn tcp_conf_delayed_ack_setting_stays_under_half_a_second_must_40() {
    // MUST-40: "the delay MUST be less than 0.5 seconds", whatever the configuration asks.
    let cfg = TcpConfig {
        delayed_ack: Duration::from_secs(2),
        ..TcpConfig::default()
    };
    let (mut c, peer_seq, _, now) = open_passive(cfg);
    give(
        &mut c,
        now,
        &SegmentIn {
            payload: b"x",
            ..ack_seg(peer_seq, Seq(3001))
        },
    );
    drain(&mut c, now);
    let sent = run_timers(&mut c, now + Duration::from_secs(3));
    let (t, _) = sent.first().expect("an ACK");
    assert!(
        t.saturating_since(now) < Duration::from_millis(500),
        "ACK after {:?}",
        t.saturating_since(now)
    );
}

// ------------------------------------------------------------------------------ §3.4

/// A receiver whose 4096-octet window the peer has filled (the application reads nothing).
fn zero_window_receiver() -> (Conn, Seq, Instant) {
    let cfg = TcpConfig {
        recv_buffer: 4096,
        ..TcpConfig::default()
    };
    let (mut c, mut peer_seq, _, now) = open_passive(cfg);
    let chunk = pattern(1024);
    for _ in 0..4 {
        give(
            &mut c,
            now,
            &SegmentIn {
                payload: &chunk,
                ..ack_seg(peer_seq, Seq(3001))
            },
        );
        peer_seq = peer_seq + 1024;
    }
    let acks = run_timers(&mut c, now + Duration::from_secs(1));
    assert_eq!(acks.last().unwrap().1.out.window, 0);
    c.take_events();
    (c, peer_seq, acks.last().unwrap().0)
}

#[test]
fn tcp_conf_rst_and_bare_urg_are_processed_at_zero_window_must_66() {
    // MUST-66: RST and URG are processed even when the receive window is zero.
    let (mut c, peer_seq, now) = zero_window_receiver();
    // A bare ACK with URG (no data: acceptable at RCV.NXT).
    give(
        &mut c,
        now,
        &SegmentIn {
            urgent: Some(1),
            ..ack_seg(peer_seq, Seq(3001))
        },
    );
    assert!(c.take_events() & events::URGENT != 0, "URG processed");
    assert_eq!(c.recv_vars().up, Some(peer_seq + 1));
    // RST at RCV.NXT.
    give(
        &mut c,
        now,
        &SegmentIn {
            rst: true,
            ..ack_seg(peer_seq, Seq(3001))
        },
    );
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(ConnError::Reset));
}

#[test]
fn tcp_conf_urg_on_data_at_zero_window_is_processed_must_66() {
    // MUST-66 / §3.10.7.4 ("special allowance should be made to accept valid ACKs, URGs, and
    // RSTs"): the peer's urgent octet arrives while our window is zero (a Telnet interrupt
    // to a receiver that stopped reading): the data cannot be taken, the URG must be.
    let (mut c, peer_seq, now) = zero_window_receiver();
    give(
        &mut c,
        now,
        &SegmentIn {
            urgent: Some(1),
            psh: true,
            payload: b"!",
            ..ack_seg(peer_seq, Seq(3001))
        },
    );
    assert!(c.take_events() & events::URGENT != 0, "URG processed");
    assert_eq!(c.recv_vars().up, Some(peer_seq + 1));
}

// ------------------------------------------------------------------------------ §3.8.4

fn keepalive_cfg(interval: Duration) -> TcpConfig {
    TcpConfig {
        keepalive: Some(interval),
        ..TcpConfig::default()
    }
}

#[test]
fn tcp_conf_no_keepalive_while_data_is_outstanding_must_26() {
    // MUST-26: keep-alives only when no sent data is outstanding.
    let mut cfg = keepalive_cfg(Duration::from_secs(60));
    cfg.r2 = Duration::from_secs(3600);
    let (mut c, _, now) = open_active(cfg, 65_535, None);
    c.send(b"never acknowledged").unwrap();
    assert_eq!(drain(&mut c, now).len(), 1);
    // The peer goes silent; retransmissions go on for R2 (an hour).
    run_timers(&mut c, now + Duration::from_secs(600));
    assert_eq!(c.stats().keepalives, 0, "no keep-alive with data in flight");
    assert_eq!(c.state(), State::Established, "R2 is an hour");
}

#[test]
fn tcp_conf_keepalive_only_after_idle_interval_must_26() {
    // MUST-26: a probe only after the interval without any segment received; a segment
    // received restarts the interval. The probe is SEG.SEQ = SND.NXT - 1 without data.
    let interval = Duration::from_secs(300);
    let (mut c, peer_seq, now) = open_active(keepalive_cfg(interval), 65_535, None);
    let nxt = c.send_vars().nxt;
    // A segment from the peer at +200 s pushes the first probe to +500 s.
    run_timers(&mut c, now + Duration::from_secs(200));
    assert_eq!(c.stats().keepalives, 0);
    give(
        &mut c,
        now + Duration::from_secs(200),
        &ack_seg(peer_seq, nxt),
    );
    let sent = run_timers(&mut c, now + Duration::from_secs(499));
    assert!(sent.is_empty() && c.stats().keepalives == 0, "{sent:?}");
    let sent = run_timers(&mut c, now + Duration::from_millis(500_500));
    assert_eq!(sent.len(), 1);
    let probe = &sent[0].1.out;
    assert_eq!(probe.seq, nxt - 1);
    assert_eq!(probe.payload_len, 0);
}

#[test]
fn tcp_conf_keepalive_survives_a_lost_probe_answer_must_29() {
    // MUST-29: an unanswered probe is not a dead connection.
    let interval = Duration::from_secs(300);
    let (mut c, peer_seq, now) = open_active(keepalive_cfg(interval), 65_535, None);
    let nxt = c.send_vars().nxt;
    let first = run_timers(&mut c, now + interval + Duration::from_millis(1));
    assert_eq!(first.len(), 1, "first probe");
    // Its answer is lost; the next probe is answered.
    let mut t = first[0].0;
    let second = loop {
        let next = c.poll_timeout().unwrap();
        c.handle_timeout(next);
        let out = drain(&mut c, next);
        if !out.is_empty() {
            break (next, out);
        }
        t = next;
    };
    assert!(second.0 > t || second.0 >= first[0].0);
    give(&mut c, second.0, &ack_seg(peer_seq, nxt));
    assert_eq!(c.state(), State::Established);
    run_timers(&mut c, second.0 + Duration::from_secs(60));
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.error(), None);
}

#[test]
fn tcp_conf_one_unanswered_probe_never_closes_must_29() {
    // MUST-29: "MUST NOT interpret failure to respond to any specific probe as a dead
    // connection", whatever the configured probe count.
    let interval = Duration::from_secs(300);
    let mut cfg = keepalive_cfg(interval);
    cfg.keepalive_probes = 1;
    let (mut c, _, now) = open_active(cfg, 65_535, None);
    // One probe went unanswered: the connection stays.
    let first = run_timers(&mut c, now + interval + Duration::from_secs(30));
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(c.state(), State::Established);
    // Only a series of unanswered probes (at least three, paced like Linux's 75 s) ends it.
    let all = run_timers(&mut c, now + interval + Duration::from_secs(3600));
    assert!(first.len() + all.len() >= 3, "{all:?}");
    assert_eq!(c.error(), Some(ConnError::TimedOut));
}

// ------------------------------------------------------------------------------ §3.8.5

#[test]
fn tcp_conf_urgent_pointer_points_past_the_urgent_data_must_62() {
    // MUST-62: the urgent pointer points to the octet after the urgent data.
    let cfg = TcpConfig {
        nodelay: true,
        ..TcpConfig::default()
    };
    let (mut c, peer_seq, now) = open_active(cfg, 65_535, None);
    let start = c.send_vars().nxt;
    c.send(b"abc").unwrap();
    c.send_urgent(b"XYZ").unwrap();
    c.send(b"def").unwrap();
    let out = drain(&mut c, now);
    let urg_end = start + 6;
    let flagged: Vec<_> = out.iter().filter(|s| s.out.urgent.is_some()).collect();
    assert!(!flagged.is_empty());
    for s in &flagged {
        assert_eq!(
            s.out.seq + usize::from(s.out.urgent.unwrap()),
            urg_end,
            "SEG.SEQ + SEG.UP is the first non-urgent octet"
        );
    }
    // The receiving side keeps RCV.UP at the same place.
    let (mut r, _, _, _) = open_passive(TcpConfig::default());
    let base = Seq(70_001);
    let data = b"abcXYZdef";
    give(
        &mut r,
        now,
        &SegmentIn {
            urgent: Some(6),
            payload: data,
            ..ack_seg(base, Seq(3001))
        },
    );
    assert_eq!(r.recv_vars().up, Some(base + 6));
    let _ = peer_seq;
}

#[test]
fn tcp_conf_receiver_follows_an_advancing_urgent_pointer_must_31() {
    // MUST-31: urgent data of any length: a pointer 0xffff ahead in each segment, advancing
    // until the real end, leaves RCV.UP at the end of the urgent data; MUST-32: each advance
    // is signalled.
    let cfg = TcpConfig {
        recv_buffer: 1 << 20,
        window_scale: WindowScale::Off,
        ..TcpConfig::default()
    };
    let (mut c, mut seq, _, now) = open_passive(cfg);
    let total = 200_000usize;
    let urg_end = seq + total;
    let chunk = pattern(1000);
    let mut read = vec![0u8; 4096];
    let mut signalled = 0;
    let mut sent = 0;
    while sent < total {
        let to_end = urg_end.since(seq);
        let up = u16::try_from(to_end).unwrap_or(u16::MAX);
        give(
            &mut c,
            now,
            &SegmentIn {
                urgent: Some(up),
                payload: &chunk,
                ..ack_seg(seq, Seq(3001))
            },
        );
        seq = seq + chunk.len();
        sent += chunk.len();
        if c.take_events() & events::URGENT != 0 {
            signalled += 1;
        }
        while c.recv(&mut read).unwrap() > 0 {}
        drain(&mut c, now);
    }
    assert_eq!(c.recv_vars().up, Some(urg_end));
    assert!(signalled > 1, "each advance is told ({signalled})");
}

#[test]
fn tcp_conf_long_urgent_data_is_flagged_from_its_first_segment_must_31() {
    // MUST-31: a sequence of urgent data of any length. Segments sent while urgent data is
    // ahead carry URG (§3.8.5: its absence means "no urgent data outstanding"), the pointer
    // saturating at 0xffff until the end comes within reach.
    let cfg = TcpConfig {
        send_buffer: 256 * 1024,
        ..TcpConfig::default()
    };
    let (mut c, _, now) = open_active(cfg, 65_535, None);
    let n = c.send_urgent(&pattern(100_000)).unwrap();
    assert_eq!(n, 100_000);
    let out = drain(&mut c, now);
    assert!(!out.is_empty());
    for s in &out {
        assert!(s.out.urgent.is_some(), "URG on {:?}", s.out);
    }
}

// ------------------------------------------------------------------------------ §3.5

#[test]
fn tcp_conf_rst_in_active_syn_received_closes_and_reports_must_11() {
    // MUST-11: SYN-RECEIVED reached from an active OPEN (simultaneous open) goes to CLOSED
    // on an acceptable RST, and the user is told (the passive case, back to LISTEN, is
    // checked through the stack in tests/tcp_conformance.rs).
    let now = Instant::from_secs(1);
    let mut c = Conn::connect(TcpConfig::default(), MSS, Seq(100), now);
    drain(&mut c, now);
    give(
        &mut c,
        now,
        &SegmentIn {
            syn: true,
            ack: None,
            mss: Some(MSS),
            ..ack_seg(Seq(9000), Seq(0))
        },
    );
    assert_eq!(c.state(), State::SynReceived);
    let synack = drain(&mut c, now);
    assert!(synack[0].out.syn && synack[0].out.ack == Some(Seq(9001)));
    c.take_events();
    give(
        &mut c,
        now,
        &SegmentIn {
            rst: true,
            ack: None,
            ..ack_seg(Seq(9001), Seq(0))
        },
    );
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(ConnError::Refused));
    assert!(c.take_events() & events::FAILED != 0);
}

// ------------------------------------------------------------------------------ §3.10.7.4

/// A retransmitted SYN in SYN-RECEIVED asks for the SYN-ACK again (SND.NXT back to ISS); the
/// ACK of the first SYN-ACK arriving before it went out completes the handshake, and SND.NXT
/// must then move up to SEG.ACK: the SYN occupies ISS, the first data octet is ISS+1 (RFC 9293
/// §3.4), and SND.UNA =< SND.NXT always (§3.3.1). Before the fix the first data went out on
/// the SYN's sequence number, shifting the stream by one octet at the peer.
#[test]
fn tcp_conf_ack_after_retransmitted_syn_leaves_snd_nxt_past_the_syn() {
    let now = Instant::from_secs(1);
    let peer_iss = Seq(70_000);
    let syn = SegmentIn {
        syn: true,
        ack: None,
        mss: Some(MSS),
        ..ack_seg(peer_iss, Seq(0))
    };
    let iss = Seq(3000);
    let mut c = Conn::accept(TcpConfig::default(), MSS, iss, now, &syn);
    let synack = drain(&mut c, now);
    assert!(synack.len() == 1 && synack[0].out.syn);
    // The peer's SYN again (our SYN-ACK looked lost), then its ACK of the first SYN-ACK,
    // both before we send anything.
    give(&mut c, now, &syn);
    assert_eq!(c.state(), State::SynReceived);
    give(&mut c, now, &ack_seg(peer_iss + 1, iss + 1));
    assert_eq!(c.state(), State::Established);
    let v = c.send_vars();
    assert_eq!((v.una, v.nxt), (iss + 1, iss + 1), "{v:?}");
    assert_eq!(c.send(b"hello").unwrap(), 5);
    let out = drain(&mut c, now);
    assert!(
        out.iter().all(|s| !s.out.syn),
        "no SYN-ACK after ESTABLISHED"
    );
    let data: Vec<_> = out.iter().filter(|s| !s.payload.is_empty()).collect();
    assert_eq!(data.len(), 1, "{out:?}");
    assert_eq!(data[0].out.seq, iss + 1, "data starts after the SYN");
    assert_eq!(data[0].payload, b"hello");
}

/// Karn's algorithm (RFC 6298 §3) on the handshake: a SYN-ACK sent again because the peer's
/// SYN came again is a retransmission, so the ACK that completes the handshake gives no RTT
/// sample (timing it from the first SYN-ACK took the peer's whole SYN timeout, ~1 s, as the
/// RTT and tripled the RTO).
#[test]
fn tcp_conf_syn_ack_sent_again_is_not_timed_karn() {
    let t0 = Instant::from_secs(1);
    let peer_iss = Seq(70_000);
    let syn = SegmentIn {
        syn: true,
        ack: None,
        mss: Some(MSS),
        ..ack_seg(peer_iss, Seq(0))
    };
    let iss = Seq(3000);
    let mut c = Conn::accept(TcpConfig::default(), MSS, iss, t0, &syn);
    assert!(drain(&mut c, t0)[0].out.syn);
    // The first SYN-ACK is lost; the peer's SYN comes again a second later.
    let t1 = t0 + Duration::from_secs(1);
    give(&mut c, t1, &syn);
    let again = drain(&mut c, t1);
    assert!(again.len() == 1 && again[0].out.syn, "SYN-ACK sent again");
    let t2 = t1 + Duration::from_millis(1);
    give(&mut c, t2, &ack_seg(peer_iss + 1, iss + 1));
    assert_eq!(c.state(), State::Established);
    let v = c.send_vars();
    assert_eq!(v.srtt, None, "no RTT sample from an ambiguous ACK: {v:?}");
    // Control: an ACK of a SYN-ACK sent once is timed.
    let mut d = Conn::accept(TcpConfig::default(), MSS, iss, t0, &syn);
    drain(&mut d, t0);
    give(&mut d, t2, &ack_seg(peer_iss + 1, iss + 1));
    assert_eq!(
        d.send_vars().srtt,
        Some(t2.saturating_since(t0)),
        "{:?}",
        d.send_vars()
    );
}
