//! One TCP connection: the RFC 9293 state machine as a plain `&mut self` value with explicit
//! time. It knows nothing of IP, ports or the socket table: the stack hands it parsed
//! segments ([`SegmentIn`]) and asks it for segments to send ([`Conn::poll_segment`]), for its
//! next deadline ([`Conn::poll_timeout`]) and for what happened ([`Conn::take_events`]).
//!
//! Rules and where they come from:
//! - states and segment processing: RFC 9293 §3.3.2, §3.10.7 (SEGMENT ARRIVES);
//! - RST and SYN hardening, ACK validation: RFC 5961 §3, §4, §5;
//! - retransmission timer: RFC 6298 (with Karn's algorithm, RFC 9293 §3.8.1);
//! - congestion control: RFC 5681 (slow start, congestion avoidance, fast retransmit and
//!   fast recovery);
//! - MSS (RFC 9293 §3.7.1), window scaling (RFC 7323 §2), Nagle (§3.7.4), SWS avoidance on
//!   both sides (§3.8.6.2), delayed ACKs (§3.8.6.3), zero-window probing (§3.8.6.1), keepalive
//!   (§3.8.4), urgent data (§3.8.5), R1/R2 (§3.8.3).

use super::buffer::{RecvBuffer, SendBuffer};
use super::cc::{CongestionControl, NewReno};
use super::rtt::RttEstimator;
use super::seq::Seq;
use crate::time::{Duration, Instant};

/// RFC 9293 §3.3.2: the connection states (LISTEN belongs to listening sockets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a connection request (a listening socket).
    Listen,
    /// SYN sent, waiting for the peer's SYN.
    SynSent,
    /// SYN received and answered, waiting for the ACK of ours.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed; our FIN is not acknowledged yet.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed first, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both closed; waiting 2·MSL for stray segments.
    TimeWait,
}

impl State {
    /// RFC 9293 §3.3.2: the states after the handshake.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }
}

/// Window scaling in our SYN (RFC 7323 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowScale {
    /// Do not offer it.
    Off,
    /// Offer the smallest shift that lets the receive buffer be advertised.
    Auto,
    /// Offer this shift (0..=14).
    Shift(u8),
}

/// TCP settings: stack-wide defaults, overridable per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// Send buffer bytes per connection.
    pub send_buffer: usize,
    /// Receive buffer bytes per connection (the largest window we advertise). With window
    /// scaling, windows go out rounded up to the scale unit (RFC 7323 §2.3), and the buffer
    /// takes up to one unit less a byte beyond this so that all they offer fits.
    pub recv_buffer: usize,
    /// Out-of-order ranges kept per connection; a segment that would need more is dropped.
    pub max_ooo_ranges: usize,
    /// The MSS we announce; `None`: the interface MTU minus 40 (RFC 9293 §3.7.1).
    pub mss: Option<u16>,
    /// RFC 7323 window scaling.
    pub window_scale: WindowScale,
    /// Initial congestion window in segments; `None`: RFC 5681 §3.1's rule (2 to 4
    /// segments by size).
    pub initial_window: Option<u32>,
    /// RFC 6298 §2.1: the RTO before any measurement (1 s).
    pub initial_rto: Duration,
    /// Lower bound of the RTO. RFC 6298 §2.4 says 1 s; the default here is 200 ms, as in
    /// Linux and most deployed stacks, because a 1 s floor makes every loss on a LAN or a
    /// simulated network cost a second; set it to 1 s for the RFC's conservative value.
    pub min_rto: Duration,
    /// Upper bound of the RTO (RFC 6298 §2.5: at least 60 s).
    pub max_rto: Duration,
    /// R1 (RFC 9293 §3.8.3): retransmissions of one segment after which the path is suspect
    /// (counted; IP is advised to revalidate its route).
    pub r1: u32,
    /// R2: how long retransmissions of data go on before the connection is given up
    /// (RFC 9293 §3.8.3, RFC 1122 §4.2.3.5: at least 100 s).
    pub r2: Duration,
    /// R2 for SYNs (MUST-23: at least 3 minutes).
    pub r2_syn: Duration,
    /// The application's user timeout (RFC 9293 §3.8.3 "ALP can set R2"; RFC 5482): when set,
    /// replaces R2 for data.
    pub user_timeout: Option<Duration>,
    /// TIME-WAIT duration, 2·MSL (MUST-13). Default 60 s (MSL 30 s, as Linux); RFC 9293's
    /// MSL of 2 minutes gives 240 s.
    pub time_wait: Duration,
    /// Longest delay of an ACK (RFC 9293 §3.8.6.3: less than 0.5 s).
    pub delayed_ack: Duration,
    /// Disable Nagle's algorithm (MUST-17: the application can).
    pub nodelay: bool,
    /// Keepalive idle interval; `None`: off (MUST-25: off by default). When on, MUST-28 asks
    /// for a default of at least 2 hours: see [`TcpConfig::KEEPALIVE_DEFAULT`].
    pub keepalive: Option<Duration>,
    /// Unanswered keepalive probes before the connection is given up.
    pub keepalive_probes: u32,
    /// The Diffserv code point of the connection's segments (RFC 2474; MUST-48: the
    /// application can set it). 0 = default forwarding.
    pub dscp: u8,
    /// An unacceptable segment without data is answered with an ACK at most once per this
    /// interval (RFC 5961 §7; default [`UNACCEPTABLE_ACK_INTERVAL`]). Zero answers every
    /// one, which gives up the protection against two peers that find each other's ACKs
    /// unacceptable exchanging them forever.
    pub unacceptable_ack_interval: Duration,
}

impl TcpConfig {
    /// The keepalive interval to use when an application turns keepalive on without one
    /// (RFC 9293 §3.8.4, MUST-28: at least two hours).
    pub const KEEPALIVE_DEFAULT: Duration = Duration::from_secs(7200);
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            send_buffer: 64 * 1024,
            recv_buffer: 64 * 1024,
            max_ooo_ranges: 32,
            mss: None,
            window_scale: WindowScale::Auto,
            initial_window: None,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            r1: 3,
            r2: Duration::from_secs(100),
            r2_syn: Duration::from_secs(180),
            user_timeout: None,
            time_wait: Duration::from_secs(60),
            delayed_ack: Duration::from_millis(40),
            nodelay: false,
            keepalive: None,
            keepalive_probes: 9,
            dscp: 0,
            unacceptable_ack_interval: UNACCEPTABLE_ACK_INTERVAL,
        }
    }
}

/// What the stack parsed out of a received segment.
#[derive(Debug, Clone, Copy)]
pub struct SegmentIn<'a> {
    /// SEG.SEQ.
    pub seq: Seq,
    /// SEG.ACK when the ACK bit is set.
    pub ack: Option<Seq>,
    /// SYN bit.
    pub syn: bool,
    /// FIN bit.
    pub fin: bool,
    /// RST bit.
    pub rst: bool,
    /// PSH bit.
    pub psh: bool,
    /// The urgent pointer when the URG bit is set.
    pub urgent: Option<u16>,
    /// SEG.WND as sent (unscaled).
    pub window: u16,
    /// The MSS option (SYN segments).
    pub mss: Option<u16>,
    /// The window scale option (SYN segments).
    pub window_scale: Option<u8>,
    /// SEG.TEXT.
    pub payload: &'a [u8],
}

impl SegmentIn<'_> {
    /// SEG.LEN: data plus SYN and FIN, which take one sequence number each.
    pub fn len(&self) -> usize {
        self.payload.len() + usize::from(self.syn) + usize::from(self.fin)
    }

    /// True when the segment occupies no sequence space.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A segment to send. The payload is `payload_len` bytes of the send buffer from
/// `payload_offset` (read with [`Conn::read_payload`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentOut {
    /// SEG.SEQ.
    pub seq: Seq,
    /// SEG.ACK (with the ACK bit) or `None`.
    pub ack: Option<Seq>,
    /// SYN.
    pub syn: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// PSH.
    pub psh: bool,
    /// The urgent pointer when URG is set.
    pub urgent: Option<u16>,
    /// SEG.WND as it goes on the wire (already scaled down).
    pub window: u16,
    /// The MSS option (SYN segments).
    pub mss: Option<u16>,
    /// The window scale option (SYN segments).
    pub window_scale: Option<u8>,
    /// Where the payload starts in the send buffer.
    pub payload_offset: usize,
    /// Payload length.
    pub payload_len: usize,
}

/// Why a connection failed, as the application sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    /// The peer answered our SYN with RST: nothing listens there.
    #[error("connection refused")]
    Refused,
    /// The peer reset the connection.
    #[error("connection reset by peer")]
    Reset,
    /// Retransmissions went unanswered for R2 (or the user timeout, or the keepalive
    /// probes).
    #[error("connection timed out")]
    TimedOut,
    /// The application aborted it.
    #[error("connection aborted")]
    Aborted,
    /// The network reported the destination unreachable (an ICMP error) and the handshake
    /// could not complete.
    #[error("destination unreachable")]
    Unreachable,
}

/// Events for the layer above, as bits.
pub mod events {
    /// The handshake completed.
    pub const CONNECTED: u16 = 1;
    /// Data can be read.
    pub const READABLE: u16 = 1 << 1;
    /// Send buffer space was freed.
    pub const WRITABLE: u16 = 1 << 2;
    /// The peer sent FIN (reads end after the buffered data).
    pub const PEER_CLOSED: u16 = 1 << 3;
    /// The connection failed (see [`super::Conn::error`]).
    pub const FAILED: u16 = 1 << 4;
    /// The connection is fully closed; its resources can be freed.
    pub const CLOSED: u16 = 1 << 5;
    /// Urgent data arrived (RFC 9293 §3.8.5).
    pub const URGENT: u16 = 1 << 6;
    /// Retransmissions reached R1: the path is suspect; IP should revalidate it (RFC 9293
    /// §3.8.3, MUST-20's negative advice).
    pub const PATH_SUSPECT: u16 = 1 << 7;
}

/// What happened, for tests and tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Segments handed to the connection.
    pub segs_in: u64,
    /// Segments it produced.
    pub segs_out: u64,
    /// Retransmission timeouts.
    pub rto_expirations: u64,
    /// Fast retransmits (third duplicate ACK).
    pub fast_retransmits: u64,
    /// Segments (re)sent that carried data already sent before.
    pub retransmitted_segs: u64,
    /// Segments outside the receive window.
    pub unacceptable: u64,
    /// Challenge ACKs wanted (RFC 5961).
    pub challenge_acks: u64,
    /// Duplicate ACKs received.
    pub dup_acks: u64,
    /// Out-of-order segments stored.
    pub ooo_segments: u64,
    /// Out-of-order data dropped (out-of-order ranges full).
    pub ooo_dropped: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
    /// Keepalive probes sent.
    pub keepalives: u64,
    /// Times R1 was reached.
    pub r1_reached: u64,
    /// Partial ACKs in NewReno recovery (RFC 6582), each retransmitting one segment.
    pub partial_acks: u64,
    /// ICMP errors that concerned outstanding data.
    pub icmp_errors: u64,
    /// ICMP errors ignored (their quote matched nothing outstanding, or the connection was
    /// closed).
    pub icmp_ignored: u64,
    /// ACKs not sent in answer to unacceptable segments without data, because one was sent
    /// less than [`TcpConfig::unacceptable_ack_interval`] before (RFC 5961 §7; breaks ACK
    /// loops).
    pub unacceptable_acks_limited: u64,
    /// Received data bytes cut off at the right edge of the receive window, or at the end of
    /// the buffer's room when a window rounded up to the scale unit promised a little more
    /// (RFC 7323 §2.3); the peer sends them again.
    pub trimmed_bytes: u64,
    /// ACKs sent in TIME-WAIT in answer to a segment that was not acceptable (a FIN sent
    /// again, or an old duplicate still in flight when the peer's FIN came; RFC 9293
    /// §3.10.7.4). A peer that closed meanwhile answers such an ACK with an RST.
    pub time_wait_acks: u64,
}

impl ConnStats {
    /// Adds `other`'s counts to these (totals over many connections).
    pub fn accumulate(&mut self, other: &ConnStats) {
        let ConnStats {
            segs_in,
            segs_out,
            rto_expirations,
            fast_retransmits,
            retransmitted_segs,
            unacceptable,
            challenge_acks,
            dup_acks,
            ooo_segments,
            ooo_dropped,
            window_probes,
            keepalives,
            r1_reached,
            partial_acks,
            icmp_errors,
            icmp_ignored,
            unacceptable_acks_limited,
            trimmed_bytes,
            time_wait_acks,
        } = *other;
        self.segs_in += segs_in;
        self.segs_out += segs_out;
        self.rto_expirations += rto_expirations;
        self.fast_retransmits += fast_retransmits;
        self.retransmitted_segs += retransmitted_segs;
        self.unacceptable += unacceptable;
        self.challenge_acks += challenge_acks;
        self.dup_acks += dup_acks;
        self.ooo_segments += ooo_segments;
        self.ooo_dropped += ooo_dropped;
        self.window_probes += window_probes;
        self.keepalives += keepalives;
        self.r1_reached += r1_reached;
        self.partial_acks += partial_acks;
        self.icmp_errors += icmp_errors;
        self.icmp_ignored += icmp_ignored;
        self.unacceptable_acks_limited += unacceptable_acks_limited;
        self.trimmed_bytes += trimmed_bytes;
        self.time_wait_acks += time_wait_acks;
    }
}

/// Send-side variables (RFC 9293 §3.3.1), for introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendVars {
    /// SND.UNA.
    pub una: Seq,
    /// SND.NXT.
    pub nxt: Seq,
    /// The highest sequence number sent plus one.
    pub max: Seq,
    /// SND.WND (scaled).
    pub wnd: u32,
    /// ISS.
    pub iss: Seq,
    /// Shift applied to windows the peer sends.
    pub wscale: u8,
    /// Effective send MSS.
    pub mss: usize,
    /// Congestion window (bytes).
    pub cwnd: usize,
    /// Slow start threshold (bytes).
    pub ssthresh: usize,
    /// Current RTO.
    pub rto: Duration,
    /// Smoothed RTT, once measured.
    pub srtt: Option<Duration>,
}

/// Receive-side variables, for introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvVars {
    /// RCV.NXT.
    pub nxt: Seq,
    /// RCV.WND (what we advertise).
    pub wnd: u32,
    /// IRS.
    pub irs: Seq,
    /// Shift we apply to the windows we advertise.
    pub wscale: u8,
    /// RCV.UP, when urgent data is pending.
    pub up: Option<Seq>,
}

/// The settings a segment reads, copied out of [`TcpConfig`] when the connection is made and
/// whenever [`Conn::configure`] changes it (the rest of the configuration stays cold).
#[derive(Debug, Clone, Copy)]
struct Tuned {
    /// [`TcpConfig::delayed_ack`], below 0.5 s (MUST-40).
    delayed_ack: Duration,
    /// [`TcpConfig::keepalive`].
    keepalive: Option<Duration>,
    /// How long data may wait unacknowledged: the user timeout, else R2 (RFC 9293 §3.8.3).
    una_limit: Duration,
    /// [`TcpConfig::nodelay`].
    nodelay: bool,
    /// [`TcpConfig::dscp`].
    dscp: u8,
}

impl Tuned {
    fn of(cfg: &TcpConfig) -> Tuned {
        Tuned {
            delayed_ack: cfg.delayed_ack,
            keepalive: cfg.keepalive,
            una_limit: cfg.user_timeout.unwrap_or(cfg.r2),
            nodelay: cfg.nodelay,
            dscp: cfg.dscp,
        }
    }
}

/// The connection.
///
/// **Layout.** With many connections open, each is visited once per round trip, thousands of
/// others in between, and every cache line a segment touches is a miss to memory
/// (BENCHMARKS.md, sim_echo_vs_turmoil: "The marginal cost per event"). So the fields are
/// laid out in the order of use (`repr(C)`, aligned to a line): what a segment of an
/// established connection reads and writes comes first, in eight lines (sequence variables and
/// flags; counters, timers' state and the FIN; the two buffers' headers; the deadlines — an
/// `Option<Instant>` is one word — and the RTT probe; the settings a segment reads; the RTT
/// estimator; the congestion controller), and
/// what only the handshake, urgent data, errors and introspection use comes after. The test
/// `the_per_segment_state_comes_first` checks the boundaries.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Conn {
    // --- line 0: sequence variables and flags.
    snd_una: Seq,
    snd_nxt: Seq,
    /// The highest sequence number sent plus one.
    snd_max: Seq,
    snd_wnd: u32,
    snd_wl1: Seq,
    snd_wl2: Seq,
    max_snd_wnd: u32,
    /// Sequence number of the first byte in `sendbuf`.
    buf_seq: Seq,
    rcv_nxt: Seq,
    /// The right edge of the window we last advertised (RCV.NXT + RCV.WND as the peer knows
    /// it). Never moves left (§3.8.6.2.2) but by less than the scale unit, when a window that
    /// was rounded up to the unit has to be rounded down (RFC 7323 §2.4).
    rcv_adv: Seq,
    /// The right edge of the largest window we advertised: segments up to it are in the
    /// window (RFC 7323 §2.4: "any segment that would have been in window for any ACK").
    rcv_edge_max: Seq,
    /// Full-sized segments received since our last ACK (ACK every second one).
    unacked_segs: u32,
    /// Duplicate ACKs still to send for out-of-order segments received.
    dup_acks_owed: u32,
    events: u16,
    peer_mss: u16,
    /// The MSS we announce.
    our_mss: u16,
    state: State,
    snd_wscale: u8,
    rcv_wscale: u8,
    /// The application has no more to send: a FIN follows the data.
    fin_queued: bool,
    fin_rcvd: bool,
    /// The application closed (it will not read): data arriving now resets.
    app_closed: bool,
    // --- line 1: what to send next, counters, the FIN.
    ack_now: bool,
    fast_retx: bool,
    probe_now: bool,
    /// The segment being polled is a zero-window probe: flow control, not data in flight, so
    /// R2 does not start from it (MUST-37).
    probe_out: bool,
    keepalive_now: bool,
    send_rst: bool,
    keepalive_probes_sent: u32,
    // Congestion control: duplicate ACKs are counted here (RFC 5681 §2), the rest is the
    // controller's (`cc`).
    dupacks: u32,
    /// Retransmissions of the oldest outstanding segment.
    retries: u32,
    persist_backoff: u32,
    /// [`ConnStats::segs_in`] (the other counters are cold).
    segs_in: u64,
    /// [`ConnStats::segs_out`].
    segs_out: u64,
    /// When a segment last arrived (keepalive idleness).
    last_rx: Instant,
    /// Sequence number of the peer's FIN, once seen (possibly ahead of RCV.NXT).
    fin_rcvd_at: Option<Seq>,
    /// An RST answering an unacceptable ACK: <SEQ=SEG.ACK><CTL=RST>.
    pending_reset_seq: Option<Seq>,
    // --- lines 2 and 3: the buffers' headers.
    sendbuf: SendBuffer,
    recvbuf: RecvBuffer,
    // --- line 4: deadlines and the RTT probe; line 5: urgent data sent and the settings.
    rto_at: Option<Instant>,
    delack_at: Option<Instant>,
    persist_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    timewait_at: Option<Instant>,
    /// Since when the oldest unacknowledged data has waited (R2 and the user timeout run
    /// from there).
    una_since: Option<Instant>,
    /// Karn: the one segment being timed, and when it was sent.
    rtt_probe: Option<(Seq, Instant)>,
    /// RFC 9293 §3.8.5: the end of urgent data we send (SND.UP).
    snd_up: Option<Seq>,
    // Settings a segment reads; then (line 6) the error.
    tuned: Tuned,
    error: Option<ConnError>,
    /// A soft ICMP error arrived (reported as `Unreachable` if the handshake times out).
    soft_error: bool,
    // --- lines 6 and 7: the RTT estimator, the congestion controller (its counters last,
    // in line 8).
    rtt: RttEstimator,
    cc: NewReno,
    // --- cold: configuration, counters, the handshake, urgent data received.
    cfg: TcpConfig,
    /// The counters but `segs_in` and `segs_out`, which stay 0 here: those two are the
    /// fields of the same names above (hot), and [`Conn::stats`] puts them together.
    stats: ConnStats,
    iss: Seq,
    irs: Seq,
    rcv_up: Option<Seq>,
    /// When the SYN was first sent.
    syn_sent_at: Option<Instant>,
    /// When an unacceptable segment without data was last answered with an ACK.
    last_unacceptable_ack: Option<Instant>,
}

/// Duplicate ACKs owed at most (a burst of out-of-order segments beyond this is answered by
/// fewer ACKs; fast retransmit needs three).
const MAX_DUP_ACKS_OWED: u32 = 8;

/// The default of [`TcpConfig::unacceptable_ack_interval`]: an unacceptable segment without
/// data is answered with an ACK at most once per this interval (RFC 5961 §7 asks to rate-limit the ACKs such segments draw; Linux's
/// `tcp_invalid_ratelimit` is the same 500 ms). Two stacks that each find the other's ACKs
/// unacceptable would otherwise exchange them forever; segments with data are always
/// answered (they are not part of such a loop, and the ACK tells their sender what to send).
pub const UNACCEPTABLE_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// `cfg` within what the RFCs allow, whatever was asked.
fn sanitized(mut cfg: TcpConfig) -> TcpConfig {
    // MUST-40: an ACK is never delayed 0.5 s or more, whatever the setting.
    cfg.delayed_ack = cfg.delayed_ack.min(Duration::from_millis(499));
    // MUST-29: keepalive must not give up on one or two lost ACKs.
    cfg.keepalive_probes = cfg.keepalive_probes.max(3);
    cfg
}

fn shift_for(buffer: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (buffer >> shift) > 65_535 {
        shift += 1;
    }
    shift
}

impl Conn {
    fn new(cfg: TcpConfig, our_mss: u16, iss: Seq, now: Instant) -> Conn {
        // RFC 9293 §3.7.1 (MUST-16, MUST-67): a configured MSS can only lower what the
        // interface allows (MTU − 40), and never promises more than the largest datagram IP
        // reassembles (65535 − 40).
        let our_mss = cfg.mss.map_or(our_mss, |m| m.min(our_mss)).clamp(1, 65_495);
        let cfg = sanitized(cfg);
        Conn {
            tuned: Tuned::of(&cfg),
            segs_in: 0,
            segs_out: 0,
            state: State::Closed,
            cfg,
            our_mss,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            snd_wscale: 0,
            buf_seq: iss + 1,
            sendbuf: SendBuffer::new(cfg.send_buffer),
            fin_queued: false,
            snd_up: None,
            // MUST-15: 536 until the peer says otherwise.
            peer_mss: 536,
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_wscale: 0,
            rcv_adv: Seq(0),
            rcv_edge_max: Seq(0),
            recvbuf: RecvBuffer::new(cfg.recv_buffer, cfg.max_ooo_ranges),
            fin_rcvd_at: None,
            fin_rcvd: false,
            rcv_up: None,
            app_closed: false,
            rto_at: None,
            persist_at: None,
            delack_at: None,
            keepalive_at: None,
            timewait_at: None,
            rtt: RttEstimator::new(
                cfg.initial_rto,
                cfg.min_rto,
                cfg.max_rto,
                Duration::from_millis(1),
            ),
            rtt_probe: None,
            retries: 0,
            una_since: None,
            syn_sent_at: None,
            last_rx: now,
            keepalive_probes_sent: 0,
            persist_backoff: 0,
            dupacks: 0,
            cc: NewReno::default(),
            ack_now: false,
            unacked_segs: 0,
            send_rst: false,
            dup_acks_owed: 0,
            soft_error: false,
            pending_reset_seq: None,
            fast_retx: false,
            probe_now: false,
            probe_out: false,
            keepalive_now: false,
            last_unacceptable_ack: None,
            events: 0,
            error: None,
            stats: ConnStats::default(),
        }
    }

    fn offered_wscale(&self) -> Option<u8> {
        match self.cfg.window_scale {
            WindowScale::Off => None,
            WindowScale::Auto => Some(shift_for(self.cfg.recv_buffer)),
            WindowScale::Shift(s) => Some(s.min(14)),
        }
    }

    /// An active open (RFC 9293 §3.10.1): the connection sends its SYN on the next
    /// [`Conn::poll_segment`].
    pub fn connect(cfg: TcpConfig, our_mss: u16, iss: Seq, now: Instant) -> Conn {
        let mut c = Conn::new(cfg, our_mss, iss, now);
        c.state = State::SynSent;
        c.rcv_wscale = c.offered_wscale().unwrap_or(0);
        c
    }

    /// A passive open: a listening socket got `syn` (RFC 9293 §3.10.7.2); the connection
    /// answers SYN-ACK on the next [`Conn::poll_segment`].
    pub fn accept(
        cfg: TcpConfig,
        our_mss: u16,
        iss: Seq,
        now: Instant,
        syn: &SegmentIn<'_>,
    ) -> Conn {
        let mut c = Conn::new(cfg, our_mss, iss, now);
        c.state = State::SynReceived;
        c.take_syn_options(syn);
        c.irs = syn.seq;
        c.rcv_nxt = syn.seq + 1;
        c.rcv_adv = c.rcv_nxt + c.recvbuf.window().min(65_535);
        c.rcv_edge_max = c.rcv_adv;
        // The SYN's window is never scaled (RFC 7323 §2.2).
        c.snd_wnd = u32::from(syn.window);
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = syn.seq;
        c.segs_in += 1;
        c
    }

    fn take_syn_options(&mut self, syn: &SegmentIn<'_>) {
        if let Some(m) = syn.mss {
            // RFC 9293 §3.7.1 (MUST-16): the peer's MSS bounds what we send, however small;
            // 0 is no MSS at all, so the default applies.
            self.peer_mss = if m == 0 { 536 } else { m };
        }
        // RFC 7323 §2.2: scaling is on only when both SYNs carry the option.
        match (syn.window_scale, self.offered_wscale()) {
            (Some(theirs), Some(ours)) => {
                // RFC 7323 §2.3: a shift above 14 is used as 14.
                self.snd_wscale = theirs.min(14);
                self.rcv_wscale = ours;
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        // Windows go out in units of 2^shift bytes, rounded up (`window_field`): the receive
        // buffer takes up to one unit less a byte beyond its size, so all a window offered
        // fits.
        self.recvbuf.set_slack((1usize << self.rcv_wscale) - 1);
    }

    // ------------------------------------------------------------------ introspection

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Send-side variables.
    pub fn send_vars(&self) -> SendVars {
        SendVars {
            una: self.snd_una,
            nxt: self.snd_nxt,
            max: self.snd_max,
            wnd: self.snd_wnd,
            iss: self.iss,
            wscale: self.snd_wscale,
            mss: self.smss(),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            rto: self.rtt.rto(),
            srtt: self.rtt.srtt(),
        }
    }

    /// Receive-side variables.
    pub fn recv_vars(&self) -> RecvVars {
        RecvVars {
            nxt: self.rcv_nxt,
            wnd: self.rcv_adv.since(self.rcv_nxt) as u32,
            irs: self.irs,
            wscale: self.rcv_wscale,
            up: self.rcv_up,
        }
    }

    /// Counters.
    pub fn stats(&self) -> ConnStats {
        ConnStats {
            segs_in: self.segs_in,
            segs_out: self.segs_out,
            ..self.stats
        }
    }

    /// Why the connection failed, if it did.
    pub fn error(&self) -> Option<ConnError> {
        self.error
    }

    /// Takes the events that happened since the last call (bits of [`events`]).
    pub fn take_events(&mut self) -> u16 {
        core::mem::take(&mut self.events)
    }

    /// Bytes the application can read now.
    pub fn readable(&self) -> usize {
        self.recvbuf.readable()
    }

    /// Bytes the application can write now.
    pub fn writable(&self) -> usize {
        if self.fin_queued || !self.can_send_state() {
            0
        } else {
            self.sendbuf.free()
        }
    }

    /// Bytes of memory the send and receive rings hold now: what they grew to (at most the
    /// configured sizes), kept while the connection lives unless
    /// [`release_empty_buffers`](Conn::release_empty_buffers) gives it back.
    pub fn buffer_bytes(&self) -> usize {
        self.sendbuf.allocated() + self.recvbuf.allocated()
    }

    /// Gives back the memory of the rings that hold nothing (every byte sent acknowledged,
    /// every byte received read); returns the bytes given back. They grow again with the next
    /// data. Not done by itself on every emptying: a ring that empties and refills on every
    /// message would allocate each time (BENCHMARKS.md, sim_echo_vs_turmoil, "Tried and not
    /// kept").
    pub fn release_empty_buffers(&mut self) -> usize {
        self.sendbuf.release_if_empty() + self.recvbuf.release_if_empty()
    }

    /// Bytes written and not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.sendbuf.len()
    }

    /// True when the peer's FIN arrived and every byte before it was read.
    pub fn at_eof(&self) -> bool {
        self.fin_rcvd && self.recvbuf.readable() == 0
    }

    /// The effective send MSS (RFC 9293 §3.7.1: the peer's MSS, bounded by ours; we send no
    /// options on data segments, so nothing is subtracted).
    pub fn smss(&self) -> usize {
        usize::from(self.peer_mss.min(self.our_mss))
    }

    // ------------------------------------------------------------------ application calls

    fn can_send_state(&self) -> bool {
        matches!(
            self.state,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        )
    }

    /// Queues `data` for sending (RFC 9293 §3.10.2: allowed before the handshake finishes);
    /// returns how much fit.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, SendError> {
        if let Some(e) = self.error {
            return Err(SendError::Failed(e));
        }
        if self.fin_queued {
            return Err(SendError::Closing);
        }
        if !self.can_send_state() {
            return Err(SendError::NotConnected);
        }
        Ok(self.sendbuf.write(data))
    }

    /// Queues urgent data (RFC 9293 §3.8.5): like [`Conn::send`], and the urgent pointer
    /// marks the end of it.
    pub fn send_urgent(&mut self, data: &[u8]) -> Result<usize, SendError> {
        let n = self.send(data)?;
        if n > 0 {
            self.snd_up = Some(self.buf_seq + self.sendbuf.len());
        }
        Ok(n)
    }

    /// Reads received data into `buf`. `Ok(0)` means nothing is there yet (or `buf` is
    /// empty); the end of the stream is [`RecvError::Finished`], reported once every byte
    /// before it was read (an empty `buf` gets `Ok(0)` while data waits).
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        let n = self.recvbuf.read(buf);
        self.after_recv(n)
    }

    /// [`Conn::recv`] without a copy: `f` is lent the received bytes that lie contiguous in
    /// the receive buffer (all of them, or the part before the ring wraps; never empty) and
    /// returns how many it consumed. `f` is not called when nothing is readable; the result
    /// is then what `recv` says.
    pub fn recv_with(&mut self, f: impl FnOnce(&[u8]) -> usize) -> Result<usize, RecvError> {
        let n = if self.recvbuf.readable() > 0 {
            self.recvbuf.read_with(f)
        } else {
            0
        };
        self.after_recv(n)
    }

    /// What a read of `n` bytes means: a window update when it opened the window enough;
    /// after an empty read, the end of the stream or a failure, once nothing is left.
    fn after_recv(&mut self, n: usize) -> Result<usize, RecvError> {
        if n > 0 {
            // RFC 9293 §3.8.6.2.2: reading opens the window; tell the peer once it has
            // grown enough (receiver-side SWS avoidance decides in `window_to_advertise`).
            let before = self.rcv_adv;
            // No window updates once the peer has sent FIN: it sends nothing more, and may
            // have closed (a late ACK would draw its RST).
            if self.advertise_edge().gt(before) && self.state.is_synchronized() && !self.fin_rcvd {
                let grown = self.advertise_edge().since(before);
                // Window update when the window was (nearly) closed or grew by a lot.
                let open = before.since(self.rcv_nxt);
                if open < self.smss() || grown >= self.recvbuf.capacity() / 2 {
                    self.ack_now = true;
                }
            }
            return Ok(n);
        }
        // RFC 9293 §3.10.3 (RECEIVE): the end of the stream ("connection closing") is
        // reported only once every byte before the FIN was read, and a failure only after
        // the data that came before it; an empty `buf` reads nothing, and learns nothing else.
        if self.recvbuf.readable() > 0 {
            return Ok(0);
        }
        if self.fin_rcvd {
            return Err(RecvError::Finished);
        }
        if let Some(e) = self.error {
            return Err(RecvError::Failed(e));
        }
        Ok(0)
    }

    /// The end of the stream in our direction (a FIN after the queued data); reading goes
    /// on. RFC 9293 §3.10.4.
    pub fn shutdown(&mut self) {
        if self.fin_queued {
            return;
        }
        match self.state {
            State::SynSent => {
                // Nothing was said yet: forget the connection.
                self.enter_closed(None);
            }
            // SYN-RECEIVED: the FIN waits for the handshake (RFC 9293 §3.10.4); the state
            // moves to FIN-WAIT-1 when the ACK of our SYN arrives.
            State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Closes both directions: a FIN after the queued data, and the application reads no
    /// more. Unread data, or data arriving later, resets the connection (RFC 9293 §3.10.4,
    /// RFC 2525 §2.17).
    pub fn close(&mut self) {
        self.app_closed = true;
        if self.recvbuf.readable() > 0 && self.state.is_synchronized() {
            self.abort();
            return;
        }
        self.shutdown();
    }

    /// Aborts: RST to the peer when synchronized, then closed (RFC 9293 §3.10.5).
    pub fn abort(&mut self) {
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
        ) {
            self.send_rst = true;
        }
        self.enter_closed(Some(ConnError::Aborted));
    }

    fn enter_closed(&mut self, error: Option<ConnError>) {
        if self.state != State::Closed {
            self.state = State::Closed;
            if error.is_some() {
                self.error = error;
                self.events |= events::FAILED;
            }
            self.events |= events::CLOSED;
        }
        self.rto_at = None;
        self.persist_at = None;
        self.delack_at = None;
        self.keepalive_at = None;
        self.timewait_at = None;
    }

    /// The Diffserv code point for this connection's segments.
    pub fn dscp(&self) -> u8 {
        self.tuned.dscp
    }

    /// Changes settings from now on (no-delay, keepalive, user timeout, R2, delayed ACK).
    /// Buffer sizes and the SYN profile apply to new connections only.
    pub fn configure(&mut self, now: Instant, f: impl FnOnce(&mut TcpConfig)) {
        let before = self.cfg;
        let mut cfg = before;
        f(&mut cfg);
        // Buffers are sized at creation.
        cfg.send_buffer = before.send_buffer;
        cfg.recv_buffer = before.recv_buffer;
        cfg.max_ooo_ranges = before.max_ooo_ranges;
        self.cfg = sanitized(cfg);
        self.tuned = Tuned::of(&self.cfg);
        if self.cfg.keepalive != before.keepalive {
            self.keepalive_at = None;
            self.arm_keepalive(now);
        }
    }

    /// An ICMP error about one of our segments (RFC 9293 §3.9.2.2, MUST-54..56). `seq` is the
    /// quoted segment's sequence number: a quote of nothing we have outstanding is ignored
    /// (RFC 5927 §4.1, against forged errors). A hard error aborts a connection that is
    /// still opening; everything else is a soft error, remembered and reported only if the
    /// connection later times out (RFC 1122 §4.2.3.9; RFC 5461 for established ones). Errors
    /// reaching a closed connection are ignored.
    pub fn icmp_error(&mut self, hard: bool, seq: Seq) {
        // A closed connection has nothing outstanding, whatever its frozen SND.UNA and
        // SND.MAX say: there is no connection left for the error to concern (RFC 9293
        // §3.10.7.1: in CLOSED "the TCB does not exist"), so it is ignored, not reported.
        if self.state == State::Closed {
            self.stats.icmp_ignored += 1;
            return;
        }
        if !(seq.ge(self.snd_una) && seq.lt(self.snd_max.max(self.snd_una + 1))) {
            self.stats.icmp_ignored += 1;
            return;
        }
        self.stats.icmp_errors += 1;
        match self.state {
            State::SynSent | State::SynReceived if hard => {
                self.enter_closed(Some(ConnError::Unreachable));
            }
            _ => self.soft_error = true,
        }
    }

    /// Copies `len` bytes of the send buffer from `offset` into `dst` (for a
    /// [`SegmentOut`]'s payload).
    pub fn read_payload(&self, offset: usize, dst: &mut [u8]) -> usize {
        self.sendbuf.read_at(offset, dst)
    }

    // ------------------------------------------------------------------ timers

    /// The earliest deadline of this connection.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let earliest = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, None) => x,
            (None, y) => y,
        };
        let t = earliest(self.rto_at, self.persist_at);
        let t = earliest(t, self.delack_at);
        let t = earliest(t, self.keepalive_at);
        earliest(t, self.timewait_at)
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timewait_at.is_some_and(|t| t <= now) {
            self.timewait_at = None;
            // RFC 9293 §3.10.8: TIME-WAIT timeout deletes the connection.
            self.enter_closed(None);
            return;
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            self.ack_now = true;
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            self.rto_at = None;
            self.on_rto(now);
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            self.probe_now = true;
        }
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.keepalive_at = None;
            self.on_keepalive(now);
        }
    }

    fn on_rto(&mut self, now: Instant) {
        if self.state == State::Closed || self.state == State::TimeWait {
            return;
        }
        let handshake = matches!(self.state, State::SynSent | State::SynReceived);
        if !handshake && self.snd_wnd == 0 {
            // MUST-36/37: the peer closed its window under our data: that is flow control,
            // not loss, and never counts towards R2. What the closed window did not take is
            // not in flight (RFC 9293 §3.8.6.1): it goes again from SND.UNA once the window
            // opens, and until then the window is probed (now, then on the persist timer,
            // which backs off).
            self.snd_nxt = self.snd_una;
            self.rtt_probe = None;
            self.una_since = None;
            self.probe_now = true;
            return;
        }
        self.stats.rto_expirations += 1;
        self.retries += 1;
        if self.retries == self.cfg.r1 {
            // RFC 9293 §3.8.3 (MUST-20): past R1, IP should revalidate the path.
            self.stats.r1_reached += 1;
            self.events |= events::PATH_SUSPECT;
        }
        let start = if handshake {
            self.syn_sent_at
        } else {
            Some(*self.una_since.get_or_insert(now))
        };
        // (R2 and the user timeout run from when the oldest unacknowledged data was sent,
        // as Linux's TCP_USER_TIMEOUT: "how long transmitted data may remain
        // unacknowledged".)
        let limit = if handshake {
            self.cfg.r2_syn
        } else {
            self.tuned.una_limit
        };
        // MUST-20/22: past R2, give up and tell the application (with the soft error that
        // explains it, if one came: RFC 1122 §4.2.3.9).
        if start.is_some_and(|s| now.saturating_since(s) >= limit) {
            let e = if handshake && self.soft_error {
                ConnError::Unreachable
            } else {
                ConnError::TimedOut
            };
            self.enter_closed(Some(e));
            return;
        }
        // RFC 6298 §5.5-5.6: back off and retransmit the earliest unacknowledged segment.
        self.rtt.backoff();
        // Karn (RFC 9293 §3.8.1, MUST-18): no sample from a retransmitted segment.
        self.rtt_probe = None;
        if !handshake {
            let flight = self.snd_max.since(self.snd_una);
            self.cc.on_timeout(flight, self.snd_max);
            self.dupacks = 0;
        }
        // Go back to the oldest unacknowledged byte (or the SYN).
        self.snd_nxt = self.snd_una;
        self.arm_rto(now);
    }

    fn on_keepalive(&mut self, now: Instant) {
        let Some(interval) = self.tuned.keepalive else {
            return;
        };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        // MUST-26: only when idle for the interval, and never while sent data is
        // outstanding (retransmissions test the path then).
        if self.snd_una != self.snd_max {
            self.keepalive_probes_sent = 0;
            self.keepalive_at = Some(now + interval);
            return;
        }
        let idle = now.saturating_since(self.last_rx);
        if self.keepalive_probes_sent == 0 && idle < interval {
            self.keepalive_at = Some(self.last_rx + interval);
            return;
        }
        if self.keepalive_probes_sent >= self.cfg.keepalive_probes {
            self.enter_closed(Some(ConnError::TimedOut));
            return;
        }
        self.keepalive_probes_sent += 1;
        self.keepalive_now = true;
        self.stats.keepalives += 1;
        // Probes follow each other at the keepalive interval, at most 75 s apart (Linux's
        // tcp_keepalive_intvl), never faster than the RTO; tolerant of lost ACKs (MUST-29):
        // only the whole series unanswered gives up.
        let gap = interval.min(Duration::from_secs(75)).max(self.rtt.rto());
        self.keepalive_at = Some(now + gap);
    }

    fn arm_rto(&mut self, now: Instant) {
        let mut at = now + self.rtt.rto();
        // The last retransmission timeout ends exactly at R2 (or the user timeout), so the
        // application hears of it on time rather than one backed-off RTO later.
        let handshake = matches!(self.state, State::SynSent | State::SynReceived);
        let deadline = if handshake {
            self.syn_sent_at.map(|s| s + self.cfg.r2_syn)
        } else {
            self.una_since.map(|s| s + self.tuned.una_limit)
        };
        if let Some(d) = deadline {
            at = at.min(d.max(now));
        }
        self.rto_at = Some(at);
    }

    fn arm_keepalive(&mut self, now: Instant) {
        if let Some(interval) = self.tuned.keepalive
            && matches!(self.state, State::Established | State::CloseWait)
        {
            self.keepalive_probes_sent = 0;
            self.keepalive_at = Some(now + interval);
        }
    }

    // ------------------------------------------------------------------ segment arrival

    /// A segment for this connection arrived (RFC 9293 §3.10.7). `challenge_ok` is asked
    /// before each RFC 5961 challenge ACK (the stack's rate limit, §7).
    pub fn handle_segment(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        challenge_ok: &mut dyn FnMut() -> bool,
    ) {
        self.segs_in += 1;
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent => self.segment_syn_sent(now, seg),
            _ => self.segment_synchronized(now, seg, challenge_ok),
        }
    }

    /// Header prediction (Jacobson's, as in BSD's `tcp_input`) for the common segment of a
    /// receiver in a bulk transfer: in ESTABLISHED, a segment with only ACK (and perhaps PSH)
    /// set — the caller checks the flags — carrying exactly the next expected data
    /// (SEG.SEQ = RCV.NXT), acknowledging nothing new (SEG.ACK = SND.UNA), all of it inside
    /// the window and the buffer, with nothing held out of order. For such a segment the
    /// general rules ([`handle_segment`](Self::handle_segment), RFC 9293 §3.10.7.4) come down
    /// to the steps taken here: it is acceptable; the ACK is in range (SND.UNA − MAX.SND.WND
    /// =< SEG.ACK =< SND.NXT, RFC 5961 §5.2, as the largest window is below 2^31) but neither
    /// new nor a duplicate (it carries data, RFC 5681 §2); the window update rule; the text
    /// appended in order; the delayed-ACK rule. Returns false, having changed nothing, for any
    /// other segment, which then takes `handle_segment`.
    pub fn handle_data_fast(
        &mut self,
        now: Instant,
        seq: Seq,
        ack: Seq,
        window: u16,
        psh: bool,
        payload: &[u8],
    ) -> bool {
        let len = payload.len();
        if self.state != State::Established
            || seq != self.rcv_nxt
            || ack != self.snd_una
            || len == 0
            || len > self.rcv_edge_max.since(self.rcv_nxt)
            || self.keepalive_probes_sent > 0
            || self.app_closed
            || self.fin_rcvd_at.is_some()
            || !self.recvbuf.append_in_order(payload)
        {
            return false;
        }
        self.segs_in += 1;
        self.last_rx = now;
        self.update_send_window(seq, ack, window);
        self.rcv_nxt = self.rcv_nxt + len;
        self.events |= events::READABLE;
        self.ack_in_order(now, len, psh);
        true
    }

    /// RFC 9293 §3.10.7.3.
    fn segment_syn_sent(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        // First: the ACK.
        let ack_ok = match seg.ack {
            Some(a) => {
                // SEG.ACK =< ISS or SEG.ACK > SND.NXT: unacceptable.
                if a.le(self.iss) || a.gt(self.snd_max) {
                    if !seg.rst {
                        self.reset_reply(a);
                    }
                    return;
                }
                true
            }
            None => false,
        };
        // Second: RST. RFC 5961 §3.2 leaves SYN-SENT to the ACK check above.
        if seg.rst {
            if ack_ok {
                self.enter_closed(Some(ConnError::Refused));
            }
            return;
        }
        // Fourth: SYN.
        if !seg.syn {
            return;
        }
        self.take_syn_options(seg);
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.snd_wl1 = seg.seq;
        if let Some(a) = seg.ack.filter(|_| ack_ok) {
            self.snd_una = a;
            self.snd_wl2 = a;
            // The SYN-ACK's window is not scaled (RFC 7323 §2.2).
            self.snd_wnd = u32::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.sample_rtt(now, a);
            self.established(now);
            self.ack_now = true;
            self.rcv_adv = self.rcv_nxt;
            self.rcv_adv = self.advertise_edge();
            self.rcv_edge_max = self.rcv_adv;
        } else {
            // Simultaneous open (MUST-10): SYN-RECEIVED, answer with SYN-ACK (same ISS).
            self.state = State::SynReceived;
            self.snd_wnd = u32::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_nxt = self.iss;
            self.rcv_adv = self.rcv_nxt;
            self.rcv_adv = self.advertise_edge();
            self.rcv_edge_max = self.rcv_adv;
            return;
        }
        // Data or FIN on the SYN-ACK: go on as in ESTABLISHED.
        if !seg.payload.is_empty() || seg.fin {
            let rest = SegmentIn {
                seq: seg.seq + 1,
                syn: false,
                ack: seg.ack,
                ..*seg
            };
            self.process_text_and_fin(now, &rest);
        }
    }

    fn established(&mut self, now: Instant) {
        self.state = State::Established;
        self.events |= events::CONNECTED | events::WRITABLE;
        self.retries = 0;
        self.rtt.reset_backoff();
        self.rto_at = None;
        // RFC 5681 §3.1: the initial window.
        let smss = self.smss();
        let iw = match self.cfg.initial_window {
            Some(n) => smss.saturating_mul(n.max(1) as usize),
            None if smss > 2190 => 2 * smss,
            None if smss > 1095 => 3 * smss,
            None => 4 * smss,
        };
        self.cc.init(smss, iw);
        self.arm_keepalive(now);
        if self.snd_max.gt(self.snd_una) {
            self.arm_rto(now);
        }
    }

    /// RFC 9293 §3.10.7.4: the receive window test.
    fn acceptable(&self, seg: &SegmentIn<'_>) -> bool {
        let wnd = self.rcv_edge_max.since(self.rcv_nxt);
        let len = seg.len();
        let end = self.rcv_nxt + wnd;
        match (len, wnd) {
            (0, 0) => seg.seq == self.rcv_nxt,
            // An empty segment exactly at the right edge is a peer that filled our window
            // sending a pure ACK: accept it (as Linux and FreeBSD do), or its ACK is lost and
            // the peer's data and ours stall until a timeout.
            (0, _) => seg.seq.in_range(self.rcv_nxt, end) || seg.seq == end,
            (_, 0) => false,
            (_, _) => {
                seg.seq.in_range(self.rcv_nxt, end)
                    || (seg.seq + (len - 1)).in_range(self.rcv_nxt, end)
            }
        }
    }

    fn segment_synchronized(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        challenge_ok: &mut dyn FnMut() -> bool,
    ) {
        self.last_rx = now;
        if self.keepalive_probes_sent > 0 {
            // An answer: the peer is alive (MUST-29: one answered probe is enough).
            self.keepalive_probes_sent = 0;
            self.keepalive_at = None;
            self.arm_keepalive(now);
        }
        if self.state == State::SynReceived && seg.syn && !seg.rst && seg.seq == self.irs {
            match seg.ack {
                // Simultaneous open (MUST-10): the peer's SYN-ACK acknowledges our SYN.
                Some(a) if a.gt(self.snd_una) && a.le(self.snd_max) => {
                    self.snd_wnd = u32::from(seg.window);
                    self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                    self.snd_wl1 = seg.seq;
                    self.snd_wl2 = a;
                    self.snd_una = a;
                    // RFC 9293 §3.3.1: SND.UNA =< SND.NXT (a SYN-ACK asked for again by a
                    // retransmitted SYN had moved SND.NXT back to ISS).
                    if self.snd_nxt.lt(a) {
                        self.snd_nxt = a;
                    }
                    self.sample_rtt(now, a);
                    let fin_was_queued = self.fin_queued;
                    self.established(now);
                    if fin_was_queued {
                        self.state = State::FinWait1;
                    }
                    self.ack_now = true;
                }
                // A retransmitted SYN: our SYN-ACK was lost; send it again. Its ACK will
                // not tell which one it answers: no RTT sample (RFC 6298 §3, Karn).
                _ => {
                    self.snd_nxt = self.iss;
                    self.rtt_probe = None;
                }
            }
            return;
        }
        // First: sequence number (window) check.
        let trimmed;
        let seg = if self.acceptable(seg) {
            seg
        } else if self.rcv_edge_max.le(self.rcv_nxt) && seg.seq == self.rcv_nxt {
            // RFC 9293 §3.10.7.4 (MUST-66): at a zero window the text cannot be taken, but
            // "special allowance should be made to accept valid ACKs, URGs, and RSTs".
            self.ack_now = true;
            trimmed = SegmentIn {
                payload: &[],
                fin: false,
                ..*seg
            };
            &trimmed
        } else {
            self.stats.unacceptable += 1;
            if seg.fin && self.state == State::TimeWait {
                // A retransmitted FIN: our last ACK was lost; 2·MSL starts again (§3.10.7.4).
                self.timewait_at = Some(now + self.cfg.time_wait);
            }
            // Unacceptable segments are answered with an ACK (unless RST); those without data
            // at most once per `unacceptable_ack_interval` (RFC 5961 §7: against ACK loops).
            if !seg.rst {
                let interval = self.cfg.unacceptable_ack_interval;
                let recent = self
                    .last_unacceptable_ack
                    .is_some_and(|t| now.saturating_since(t) < interval);
                if seg.is_empty() && recent {
                    self.stats.unacceptable_acks_limited += 1;
                } else {
                    if seg.is_empty() {
                        self.last_unacceptable_ack = Some(now);
                    }
                    if self.state == State::TimeWait {
                        self.stats.time_wait_acks += 1;
                    }
                    self.ack_now = true;
                }
            }
            return;
        };
        // Second: RST (RFC 5961 §3.2).
        if seg.rst {
            if seg.seq == self.rcv_nxt {
                match self.state {
                    // RFC 9293 §3.10.7.4: a passive open's SYN-RECEIVED just goes away (the
                    // listener stays); an active one's (simultaneous open) is refused.
                    State::SynReceived => self.enter_closed(Some(ConnError::Refused)),
                    State::Closing | State::LastAck | State::TimeWait => self.enter_closed(None),
                    _ => self.enter_closed(Some(ConnError::Reset)),
                }
            } else if challenge_ok() {
                self.stats.challenge_acks += 1;
                self.ack_now = true;
            }
            return;
        }
        // Fourth: SYN in a synchronized state (RFC 5961 §4.2): challenge ACK, drop.
        if seg.syn {
            if challenge_ok() {
                self.stats.challenge_acks += 1;
                self.ack_now = true;
            }
            return;
        }
        // Fifth: ACK.
        let Some(ack) = seg.ack else {
            return;
        };
        if self.state == State::SynReceived {
            if ack.gt(self.snd_una) && ack.le(self.snd_max) {
                self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = ack;
                self.snd_una = ack;
                // RFC 9293 §3.3.1 and §3.4: SND.UNA =< SND.NXT, and the first data octet is
                // ISS+1. A retransmitted SYN moved SND.NXT back to ISS to send the SYN-ACK
                // again; this ACK of the first one makes that unnecessary.
                if self.snd_nxt.lt(ack) {
                    self.snd_nxt = ack;
                }
                self.sample_rtt(now, ack);
                let fin_was_queued = self.fin_queued;
                self.established(now);
                if fin_was_queued {
                    self.state = State::FinWait1;
                }
            } else {
                self.reset_reply(ack);
                return;
            }
        } else {
            // RFC 5961 §5.2: SND.UNA − MAX.SND.WND =< SEG.ACK =< SND.NXT, else ACK and drop.
            let floor = self.snd_una - self.max_snd_wnd as usize;
            if ack.gt(self.snd_max) || ack.lt(floor) {
                if challenge_ok() {
                    self.stats.challenge_acks += 1;
                    self.ack_now = true;
                }
                return;
            }
            self.process_ack(now, seg, ack);
            if self.state == State::Closed {
                return;
            }
        }
        // Sixth: URG (RFC 9293 §3.8.5; MUST-31: tell the application).
        if let Some(up) = seg.urgent
            && matches!(
                self.state,
                State::Established | State::FinWait1 | State::FinWait2
            )
        {
            let end = seg.seq + usize::from(up);
            if self.rcv_up.is_none_or(|u| end.gt(u)) {
                self.rcv_up = Some(end);
                self.events |= events::URGENT;
            }
        }
        // Seventh and eighth: text and FIN.
        self.process_text_and_fin(now, seg);
    }

    fn process_ack(&mut self, now: Instant, seg: &SegmentIn<'_>, ack: Seq) {
        if ack.gt(self.snd_una) {
            let acked = ack.since(self.snd_una);
            let flight = self.snd_max.since(self.snd_una);
            // Data bytes acknowledged (the SYN and FIN take sequence space but no buffer).
            let data_acked = ack.since(self.buf_seq).min(self.sendbuf.len());
            self.sendbuf.consume(data_acked);
            self.buf_seq = self.buf_seq + data_acked;
            self.snd_una = ack;
            if self.snd_nxt.lt(ack) {
                self.snd_nxt = ack;
            }
            if data_acked > 0 {
                self.events |= events::WRITABLE;
            }
            self.sample_rtt(now, ack);
            self.retries = 0;
            // The oldest unacknowledged data is now younger: count from here.
            self.una_since = (self.snd_una != self.snd_max).then_some(now);
            self.rtt.reset_backoff();
            self.persist_backoff = 0;
            let action = self.cc.on_ack(ack, acked, flight, self.snd_max);
            if action.retransmit {
                // RFC 6582 §3.2 step 4: a partial ACK retransmits the next hole.
                self.fast_retx = true;
                self.rtt_probe = None;
                self.stats.partial_acks += 1;
            }
            self.dupacks = 0;
            // RFC 6298 §5.2-5.3: all acknowledged → stop the timer, else restart it.
            if self.snd_una == self.snd_max {
                self.rto_at = None;
            } else {
                self.arm_rto(now);
            }
        } else if ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.fin
            && !seg.syn
            && self.snd_max.gt(self.snd_una)
            && self.snd_wnd != 0
            && (u32::from(seg.window) << self.snd_wscale) == self.snd_wnd
        {
            // RFC 5681 §2: a duplicate ACK.
            self.stats.dup_acks += 1;
            self.dupacks += 1;
            let flight = self.snd_max.since(self.snd_una);
            if self.cc.on_dup_ack(self.dupacks, ack, flight, self.snd_max) {
                // §3.2 steps 2-3: fast retransmit, then fast recovery.
                self.fast_retx = true;
                self.stats.fast_retransmits += 1;
                self.rtt_probe = None;
            }
        }
        self.update_send_window(seg.seq, ack, seg.window);
        // Our FIN acknowledged?
        let fin_acked = self.fin_queued && self.snd_una == self.fin_seq() + 1;
        match self.state {
            State::FinWait1 if fin_acked => self.state = State::FinWait2,
            State::Closing if fin_acked => self.enter_time_wait(now),
            State::LastAck if fin_acked => self.enter_closed(None),
            _ => {}
        }
    }

    /// Window update (RFC 9293 §3.10.7.4): from the newest segment only.
    #[inline]
    fn update_send_window(&mut self, seq: Seq, ack: Seq, window: u16) {
        if self.snd_wl1.lt(seq) || (self.snd_wl1 == seq && self.snd_wl2.le(ack)) {
            // MUST-1: the window is unsigned.
            self.snd_wnd = u32::from(window) << self.snd_wscale;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            if self.snd_wnd > 0 && self.persist_at.is_some() {
                // The window opened: what waited goes now; a later closed window is probed
                // from the first interval again.
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }
    }

    fn sample_rtt(&mut self, now: Instant, ack: Seq) {
        if let Some((seq, sent)) = self.rtt_probe
            && ack.gt(seq)
        {
            self.rtt.sample(now.saturating_since(sent));
            self.rtt_probe = None;
        }
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.rto_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.delack_at = None;
        // MUST-13: 2·MSL.
        self.timewait_at = Some(now + self.cfg.time_wait);
    }

    /// The sequence number of our FIN (after all queued data).
    fn fin_seq(&self) -> Seq {
        self.buf_seq + self.sendbuf.len()
    }

    fn process_text_and_fin(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        if !seg.payload.is_empty() {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    if self.app_closed {
                        // RFC 9293 §3.10.4 / RFC 1122 §4.2.2.13: data after the application
                        // closed: reset.
                        self.abort();
                        return;
                    }
                    // Trim what we already have.
                    let skip = self.rcv_nxt.since(seg.seq).min(seg.payload.len());
                    let data = seg.payload.get(skip..).unwrap_or_default();
                    let start = seg.seq + skip;
                    let offset = start.since(self.rcv_nxt);
                    let had_gaps = self.recvbuf.ooo_bytes() > 0;
                    let r = self.recvbuf.insert(offset, data);
                    // Counted only when non-zero: the counters live apart from what every
                    // segment touches (see the layout note on `Conn`).
                    if r.dropped_ooo > 0 {
                        self.stats.ooo_dropped += r.dropped_ooo as u64;
                    }
                    if r.trimmed > 0 {
                        self.stats.trimmed_bytes += r.trimmed as u64;
                    }
                    if r.advanced > 0 {
                        self.rcv_nxt = self.rcv_nxt + r.advanced;
                        self.events |= events::READABLE;
                        // Duplicate ACKs still owed for out-of-order segments now carry the
                        // new RCV.NXT. With no gap left, the sender would count them as
                        // duplicates of the ACK of the fill and retransmit data that arrived
                        // (RFC 5681 §4.2's duplicates repeat the ACK of the hole they report):
                        // the fill's immediate ACK alone answers. With data still beyond a
                        // gap, they report that gap, and go out.
                        if self.recvbuf.ooo_bytes() == 0 {
                            self.dup_acks_owed = 0;
                        }
                    }
                    if offset > 0 {
                        self.stats.ooo_segments += 1;
                    }
                    // RFC 5681 §4.2: ACK out-of-order segments and gap fills at once; in
                    // order, every second full-sized segment (RFC 9293 §3.8.6.3), else
                    // delayed at most `delayed_ack`.
                    if offset > 0 || had_gaps || r.advanced < data.len() {
                        self.ack_now = true;
                        if offset > 0 {
                            // One duplicate ACK per out-of-order segment, even when several
                            // arrive before we get to send: the sender counts them (RFC
                            // 5681 §3.2, §4.2). In-order data is acknowledged in aggregate
                            // (MUST-58).
                            self.dup_acks_owed = (self.dup_acks_owed + 1).min(MAX_DUP_ACKS_OWED);
                        }
                    } else {
                        self.ack_in_order(now, data.len(), seg.psh);
                    }
                }
                // CLOSE-WAIT and later: the peer already sent FIN; ignore the text.
                _ => {}
            }
        }
        if seg.fin {
            let at = seg.seq + seg.payload.len();
            if self.fin_rcvd_at.is_none() {
                self.fin_rcvd_at = Some(at);
            }
        }
        // The FIN counts once every byte before it arrived.
        if let Some(at) = self.fin_rcvd_at
            && !self.fin_rcvd
            && at == self.rcv_nxt
            && matches!(
                self.state,
                State::SynReceived | State::Established | State::FinWait1 | State::FinWait2
            )
        {
            self.fin_rcvd = true;
            self.rcv_nxt = self.rcv_nxt + 1;
            self.ack_now = true;
            self.events |= events::PEER_CLOSED | events::READABLE;
            match self.state {
                State::SynReceived | State::Established => self.state = State::CloseWait,
                State::FinWait1 => {
                    let fin_acked = self.snd_una == self.fin_seq() + 1;
                    if fin_acked {
                        self.enter_time_wait(now);
                    } else {
                        self.state = State::Closing;
                    }
                }
                State::FinWait2 => self.enter_time_wait(now),
                _ => {}
            }
        } else if seg.fin && self.state == State::TimeWait {
            // A retransmitted FIN: ACK it and restart 2·MSL.
            self.ack_now = true;
            self.timewait_at = Some(now + self.cfg.time_wait);
        }
    }

    /// In-order data of `len` bytes arrived and left nothing out of order: every second
    /// full-sized segment is acknowledged at once (RFC 9293 §3.8.6.3), else within
    /// `delayed_ack` (at once for PSH when delayed ACKs are off).
    #[inline]
    fn ack_in_order(&mut self, now: Instant, len: usize, psh: bool) {
        if len >= self.smss() {
            self.unacked_segs += 1;
        }
        if self.unacked_segs >= 2 || psh && self.tuned.delayed_ack.is_zero() {
            self.ack_now = true;
        } else if self.delack_at.is_none() {
            self.delack_at = Some(now + self.tuned.delayed_ack);
        }
    }

    /// RST in reply to an unacceptable ACK (RFC 9293 §3.10.7.3 / .4: <SEQ=SEG.ACK><CTL=RST>).
    fn reset_reply(&mut self, ack: Seq) {
        self.pending_reset_seq = Some(ack);
    }

    // ------------------------------------------------------------------ output

    /// The right edge of the window to advertise: receiver-side SWS avoidance (RFC 9293
    /// §3.8.6.2.2) moves it right only by at least min(buffer/2, MSS), and never left.
    fn advertise_edge(&self) -> Seq {
        let free = self.recvbuf.window();
        // The largest window the field and scale can carry.
        let max = 65_535usize << self.rcv_wscale;
        let edge = self.rcv_nxt + free.min(max);
        let step = (self.recvbuf.capacity() / 2)
            .min(usize::from(self.our_mss))
            .max(1);
        if edge.gt(self.rcv_adv) && edge.since(self.rcv_adv) >= step {
            edge
        } else if self.rcv_adv.lt(self.rcv_nxt) {
            self.rcv_nxt
        } else {
            self.rcv_adv
        }
    }

    /// SEG.WND for a segment we send; RCV.ADV (and the largest edge) moved to what it
    /// announces.
    fn window_field(&mut self, syn: bool) -> u16 {
        let edge = self.advertise_edge();
        let wnd = edge.since(self.rcv_nxt);
        if syn {
            // RFC 7323 §2.2: the SYN's window is never scaled.
            let field = u16::try_from(wnd).unwrap_or(u16::MAX);
            self.announce(self.rcv_nxt + usize::from(field));
            return field;
        }
        // RFC 7323 §2.3: SEG.WND = RCV.WND >> Rcv.Wind.Shift. Shifted down, any window below
        // the scale unit reads as zero, and the peer sees a closed window we would take data
        // into (it would trickle one probe octet per persist interval). So the window is
        // rounded up to the unit (as Linux's `__tcp_select_window`) whenever what it then
        // offers fits the buffer (whose slack is one unit less a byte), and down otherwise:
        // always when the buffer is full, so a full buffer closes the window.
        let unit = 1usize << self.rcv_wscale;
        let up = wnd.div_ceil(unit);
        let units = if up * unit <= self.recvbuf.room() {
            up
        } else {
            wnd / unit
        };
        let field = u16::try_from(units).unwrap_or(u16::MAX);
        self.announce(self.rcv_nxt + (usize::from(field) << self.rcv_wscale));
        field
    }

    /// The peer now knows `edge` as our window's right edge. Rounded down to the scale unit it
    /// may lie left of the edge announced before, which stays in the window (RFC 7323 §2.4).
    fn announce(&mut self, edge: Seq) {
        self.rcv_adv = edge;
        if edge.gt(self.rcv_edge_max) {
            self.rcv_edge_max = edge;
        }
    }

    /// The next segment to send, if any. Call until `None` after every other call.
    pub fn poll_segment(&mut self, now: Instant) -> Option<SegmentOut> {
        let seg = self.next_segment(now)?;
        self.segs_out += 1;
        let probe = core::mem::take(&mut self.probe_out);
        if (seg.payload_len > 0 || seg.fin) && !seg.rst && !probe && self.una_since.is_none() {
            self.una_since = Some(now);
        }
        if seg.ack.is_some() {
            // Any segment carrying an ACK acknowledges what we have.
            self.ack_now = self.dup_acks_owed > 1;
            self.dup_acks_owed = self.dup_acks_owed.saturating_sub(1);
            self.unacked_segs = 0;
            self.delack_at = None;
        }
        Some(seg)
    }

    fn blank(&self, seq: Seq) -> SegmentOut {
        SegmentOut {
            seq,
            ack: None,
            syn: false,
            fin: false,
            rst: false,
            psh: false,
            urgent: None,
            window: 0,
            mss: None,
            window_scale: None,
            payload_offset: 0,
            payload_len: 0,
        }
    }

    fn next_segment(&mut self, now: Instant) -> Option<SegmentOut> {
        if let Some(seq) = self.pending_reset_seq.take() {
            return Some(SegmentOut {
                rst: true,
                ..self.blank(seq)
            });
        }
        if self.send_rst {
            self.send_rst = false;
            // RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST>, SND.NXT in the RFC's sense (the
            // peer takes a RST only at RCV.NXT, RFC 5961 §3.2).
            return Some(SegmentOut {
                rst: true,
                ack: Some(self.rcv_nxt),
                ..self.blank(self.empty_seq())
            });
        }
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent | State::SynReceived if self.snd_nxt == self.iss => {
                // The SYN (or SYN-ACK), first or again.
                let syn_ack = self.state == State::SynReceived;
                // RFC 6298 §3 (Karn): only the first transmission of the SYN (SYN-ACK) is
                // timed; an acknowledgment after it was sent again says nothing of the RTT.
                let first = self.syn_sent_at.is_none();
                if first {
                    self.syn_sent_at = Some(now);
                    if self.rtt_probe.is_none() {
                        self.rtt_probe = Some((self.iss, now));
                    }
                }
                self.snd_nxt = self.iss + 1;
                self.snd_max = self.snd_max.max(self.snd_nxt);
                if self.rto_at.is_none() {
                    self.arm_rto(now);
                }
                let window = self.window_field(true);
                let ws = match self.state {
                    State::SynSent => self.offered_wscale(),
                    // Answer with ours only when theirs came (RFC 7323 §2.2).
                    _ if self.snd_wscale > 0 || self.rcv_wscale > 0 => Some(self.rcv_wscale),
                    _ => None,
                };
                Some(SegmentOut {
                    syn: true,
                    ack: syn_ack.then_some(self.rcv_nxt),
                    window,
                    mss: Some(self.our_mss),
                    window_scale: ws,
                    ..self.blank(self.iss)
                })
            }
            State::SynSent | State::SynReceived => None,
            _ => self.next_data_segment(now),
        }
    }

    fn next_data_segment(&mut self, now: Instant) -> Option<SegmentOut> {
        let smss = self.smss();
        let fin_seq = self.fin_seq();
        // Fast retransmit: the oldest unacknowledged segment, once.
        if self.fast_retx {
            self.fast_retx = false;
            let offset = self.snd_una.since(self.buf_seq);
            let len = self.sendbuf.len().saturating_sub(offset).min(smss);
            if len > 0 {
                self.stats.retransmitted_segs += 1;
                return Some(self.data_segment(self.snd_una, offset, len, false));
            }
        }
        // Keepalive probe: SEG.SEQ = SND.NXT − 1, no data (RFC 9293 §3.8.4).
        if self.keepalive_now {
            self.keepalive_now = false;
            let mut s = self.blank(self.snd_nxt - 1);
            s.ack = Some(self.rcv_nxt);
            s.window = self.window_field(false);
            return Some(s);
        }
        let offset = self.snd_nxt.since(self.buf_seq);
        let queued = self.sendbuf.len().saturating_sub(offset);
        // The usable window: the offered window and the congestion window (RFC 5681 §2).
        let wnd = (self.snd_wnd as usize).min(self.cc.window());
        let in_flight = self.snd_nxt.since(self.snd_una);
        let usable = wnd.saturating_sub(in_flight);
        // The FIN is next: every byte before it was sent.
        let fin_next = self.fin_queued && queued == 0 && self.snd_nxt == fin_seq;
        let probe = core::mem::take(&mut self.probe_now);
        // The persist timer fired with a small window open: the sender-side SWS override
        // (RFC 9293 §3.8.6.2.1): send what the window takes.
        if probe && usable > 0 && queued > 0 {
            let len = queued.min(usable).min(smss);
            let seq = self.snd_nxt;
            let mut s = self.data_segment(seq, offset, len, false);
            s.psh = true;
            if seq.lt(self.snd_max) {
                self.stats.retransmitted_segs += 1;
            }
            self.snd_nxt = seq + len;
            self.snd_max = self.snd_max.max(self.snd_nxt);
            self.stats.window_probes += 1;
            if self.rto_at.is_none() {
                self.arm_rto(now);
            }
            return Some(s);
        }
        // Zero-window probe (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17): the first octet at
        // SND.UNA, one past the closed window, or the FIN when only the FIN is left. The
        // peer may drop it, so it is not in flight: SND.NXT stays (SND.MAX covers the octet,
        // so the peer may acknowledge it), nothing waits for its acknowledgment, and when the
        // window opens sending goes on from SND.UNA. The persist timer, not the
        // retransmission timer, repeats it.
        if probe && usable == 0 {
            let una_off = self.snd_una.since(self.buf_seq);
            let seg = if self.sendbuf.len() > una_off {
                Some(self.data_segment(self.snd_una, una_off, 1, false))
            } else if self.fin_queued && self.snd_una == fin_seq {
                Some(self.data_segment(fin_seq, 0, 0, true))
            } else {
                None
            };
            if let Some(s) = seg {
                self.snd_max = self.snd_max.max(s.seq + 1);
                self.stats.window_probes += 1;
                self.probe_out = true;
                self.arm_persist(now);
                return Some(s);
            }
        }
        if queued > 0 {
            let len = queued.min(usable).min(smss);
            // Sender SWS avoidance and Nagle (RFC 9293 §3.7.4, §3.8.6.2.1): send a full
            // segment, or everything queued when nothing is in flight (or no-delay), or at
            // least half the largest window the peer offered.
            let all = len == queued;
            let ok = len > 0
                && (len >= smss
                    || (all && (in_flight == 0 || self.tuned.nodelay))
                    || (self.max_snd_wnd > 0 && len >= self.max_snd_wnd as usize / 2));
            if ok {
                let seq = self.snd_nxt;
                let retransmission = seq.lt(self.snd_max);
                // FIN rides on the last data segment when it fits.
                let fin = self.fin_queued && all && (seq + len) == fin_seq && len < usable;
                let mut s = self.data_segment(seq, offset, len, fin);
                s.psh = all;
                self.snd_nxt = seq + len + usize::from(fin);
                self.snd_max = self.snd_max.max(self.snd_nxt);
                if retransmission {
                    self.stats.retransmitted_segs += 1;
                } else if self.rtt_probe.is_none() && self.retries == 0 {
                    self.rtt_probe = Some((seq, now));
                }
                if self.rto_at.is_none() {
                    self.arm_rto(now);
                }
                return Some(s);
            }
        }
        // FIN alone, once the data before it is sent, when the window takes it (it occupies
        // a sequence number; a closed window is probed with it instead).
        if fin_next && usable > 0 {
            let mut s = self.data_segment(fin_seq, 0, 0, true);
            s.payload_offset = 0;
            if fin_seq.lt(self.snd_max) {
                self.stats.retransmitted_segs += 1;
            }
            self.snd_nxt = fin_seq + 1;
            self.snd_max = self.snd_max.max(self.snd_nxt);
            if self.rto_at.is_none() {
                self.arm_rto(now);
            }
            return Some(s);
        }
        // Data or the FIN waits with nothing in flight — on a zero window (probe it,
        // §3.8.6.1) or on a window too small to fill a segment (the SWS override timeout,
        // §3.8.6.2.1): the persist timer covers both.
        if (queued > 0 || fin_next) && in_flight == 0 && self.persist_at.is_none() {
            self.arm_persist(now);
        }
        if self.ack_now {
            let mut s = self.blank(self.empty_seq());
            s.ack = Some(self.rcv_nxt);
            s.window = self.window_field(false);
            return Some(s);
        }
        None
    }

    /// The sequence number of a segment without data (an ACK, an abort's RST): RFC 9293's
    /// SND.NXT, the next new sequence number, is our SND.MAX (our SND.NXT moves back after
    /// a retransmission timeout), kept within the peer's window (a zero-window probe's octet
    /// lies beyond it). Any other would fail the peer's acceptability test (§3.10.7.4) and its
    /// acknowledgment be lost; as BSD's snd_max and Linux's `tcp_acceptable_seq`.
    fn empty_seq(&self) -> Seq {
        let edge = self.snd_una + self.snd_wnd as usize;
        if self.snd_max.le(edge) {
            self.snd_max
        } else {
            edge.max(self.snd_una)
        }
    }

    fn arm_persist(&mut self, now: Instant) {
        // The persist timer backs off like the RTO (RFC 9293 §3.8.6.1), capped at max_rto.
        let base = self.rtt.rto();
        let factor = 1u32 << self.persist_backoff.min(10);
        let d = base.saturating_mul(factor).min(self.cfg.max_rto);
        self.persist_backoff += 1;
        self.persist_at = Some(now + d);
    }

    fn data_segment(&mut self, seq: Seq, offset: usize, len: usize, fin: bool) -> SegmentOut {
        let window = self.window_field(false);
        // RFC 9293 §3.8.5: the urgent pointer is the offset from SEG.SEQ to the end of the
        // urgent data, while urgent data is ahead.
        let urgent = self.snd_up.and_then(|up| {
            if up.gt(seq) {
                // MUST-31: urgent data of any length: beyond 16 bits the pointer saturates
                // (URG stays set; the peer learns the rest from later segments).
                Some(u16::try_from(up.since(seq)).unwrap_or(u16::MAX))
            } else {
                None
            }
        });
        SegmentOut {
            ack: Some(self.rcv_nxt),
            fin,
            window,
            urgent,
            payload_offset: offset,
            payload_len: len,
            ..self.blank(seq)
        }
    }
}

/// Why [`Conn::send`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is not open for sending (closed, or in TIME-WAIT).
    #[error("the connection is not open for sending")]
    NotConnected,
    /// The application already shut down its direction.
    #[error("the sending direction is shut down")]
    Closing,
    /// The connection failed.
    #[error("{0}")]
    Failed(ConnError),
}

/// Why [`Conn::recv`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The peer closed its direction and every byte was read.
    #[error("end of stream")]
    Finished,
    /// The connection failed.
    #[error("{0}")]
    Failed(ConnError),
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use core::mem::{align_of, offset_of, size_of, size_of_val};

    const LINE: usize = 64;

    /// The layout note on [`Conn`]: each group of what a segment of an established connection
    /// touches lies in the cache lines the note gives it, and everything else comes after.
    #[test]
    fn the_per_segment_state_comes_first() {
        let c = Conn::connect(TcpConfig::default(), 1460, Seq(1), Instant::ZERO);
        assert_eq!(align_of::<Conn>(), LINE);
        // (first byte, last byte) of a field, as line numbers.
        macro_rules! lines {
            ($f:ident) => {{
                let at = offset_of!(Conn, $f);
                (at / LINE, (at + size_of_val(&c.$f) - 1) / LINE)
            }};
        }
        macro_rules! in_lines {
            ($from:expr, $to:expr; $($f:ident),+) => {$(
                let (a, b) = lines!($f);
                let want: core::ops::RangeInclusive<usize> = $from..=$to;
                assert!(
                    want.contains(&a) && want.contains(&b),
                    "{} spans lines {a}..={b}, expected within {want:?}",
                    stringify!($f)
                );
            )+};
        }
        in_lines!(0, 0; snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2, max_snd_wnd,
            buf_seq, rcv_nxt, rcv_adv, rcv_edge_max, unacked_segs, dup_acks_owed, events,
            peer_mss, our_mss, state, snd_wscale, rcv_wscale, fin_queued, fin_rcvd, app_closed);
        in_lines!(1, 1; ack_now, fast_retx, probe_now, probe_out, keepalive_now, send_rst,
            keepalive_probes_sent, dupacks, retries, persist_backoff, segs_in, segs_out,
            last_rx, fin_rcvd_at, pending_reset_seq);
        in_lines!(2, 3; sendbuf, recvbuf);
        in_lines!(4, 4; rto_at, delack_at, persist_at, keepalive_at, timewait_at, una_since,
            rtt_probe);
        in_lines!(5, 5; snd_up, tuned);
        in_lines!(6, 7; error, soft_error, rtt);
        // The congestion controller: what an ACK reads in line 7, its counters after.
        let cc_counters = offset_of!(Conn, cc) + offset_of!(NewReno, stats);
        assert_eq!(offset_of!(Conn, cc) / LINE, 7);
        assert!(cc_counters <= 8 * LINE, "{cc_counters}");
        // Everything else is cold: after the controller's counters.
        for (name, at) in [
            ("cfg", offset_of!(Conn, cfg)),
            ("stats", offset_of!(Conn, stats)),
            ("iss", offset_of!(Conn, iss)),
            ("irs", offset_of!(Conn, irs)),
            ("rcv_up", offset_of!(Conn, rcv_up)),
            ("syn_sent_at", offset_of!(Conn, syn_sent_at)),
            (
                "last_unacceptable_ack",
                offset_of!(Conn, last_unacceptable_ack),
            ),
        ] {
            assert!(
                at >= cc_counters,
                "{name} at {at}, among the per-segment lines"
            );
        }
        assert_eq!(size_of::<Conn>() % LINE, 0);
    }

    /// Settings changed on an open connection reach what segments read, within the RFCs'
    /// bounds (MUST-40: an ACK is never delayed 0.5 s or more; MUST-29: keepalive gives up
    /// only after several probes).
    #[test]
    fn configure_keeps_the_settings_segments_read_in_step_and_in_bounds() {
        let mut c = Conn::connect(TcpConfig::default(), 1460, Seq(1), Instant::ZERO);
        c.configure(Instant::ZERO, |cfg| {
            cfg.delayed_ack = Duration::from_secs(2);
            cfg.keepalive_probes = 1;
            cfg.nodelay = true;
            cfg.dscp = 46;
            cfg.user_timeout = Some(Duration::from_secs(7));
            cfg.keepalive = Some(Duration::from_secs(30));
        });
        assert_eq!(c.cfg.delayed_ack, Duration::from_millis(499));
        assert_eq!(c.tuned.delayed_ack, Duration::from_millis(499));
        assert_eq!(c.cfg.keepalive_probes, 3);
        assert!(c.tuned.nodelay);
        assert_eq!(c.dscp(), 46);
        assert_eq!(c.tuned.una_limit, Duration::from_secs(7));
        assert_eq!(c.tuned.keepalive, Some(Duration::from_secs(30)));
        c.configure(Instant::ZERO, |cfg| cfg.user_timeout = None);
        assert_eq!(c.tuned.una_limit, TcpConfig::default().r2);
    }
}
