//! Congestion control behind a small trait, so another algorithm (CUBIC, RFC 9438; SACK-based
//! recovery, RFC 6675; RACK-TLP, RFC 8985) can be added without touching the state machine.
//! The connection tells the controller what happened (new ACK, duplicate ACK, timeout) and
//! asks it how much may be in flight and whether to retransmit.
//!
//! [`NewReno`] is RFC 5681 (slow start, congestion avoidance, fast retransmit) with RFC 6582's
//! NewReno fast recovery and RFC 3042's limited transmit.

use super::seq::Seq;

/// What the connection should do after an ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckAction {
    /// Retransmit the first unacknowledged segment now.
    pub retransmit: bool,
    /// Restart the retransmission timer (RFC 6582 §3.2 step 5: on the first partial ACK).
    pub restart_timer: bool,
}

/// A congestion controller.
pub trait CongestionControl: core::fmt::Debug {
    /// The connection is established: `smss` is the send MSS, `initial_window` in bytes.
    fn init(&mut self, smss: usize, initial_window: usize);
    /// Bytes that may be outstanding (the congestion window plus any limited-transmit
    /// allowance).
    fn window(&self) -> usize;
    /// The congestion window proper.
    fn cwnd(&self) -> usize;
    /// The slow start threshold.
    fn ssthresh(&self) -> usize;
    /// True during fast recovery.
    fn in_recovery(&self) -> bool;
    /// An ACK for new data: `ack` is the new SND.UNA, `acked` bytes newly acknowledged,
    /// `flight` the bytes outstanding before it, `snd_max` the highest sequence number sent.
    fn on_ack(&mut self, ack: Seq, acked: usize, flight: usize, snd_max: Seq) -> AckAction;
    /// A duplicate ACK (RFC 5681 §2), the `n`th in a row; `flight` as above. Returns true
    /// when the first unacknowledged segment should be retransmitted now (fast retransmit).
    fn on_dup_ack(&mut self, n: u32, ack: Seq, flight: usize, snd_max: Seq) -> bool;
    /// The retransmission timer expired.
    fn on_timeout(&mut self, flight: usize, snd_max: Seq);
}

/// What NewReno did, for tests and tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CcStats {
    /// Fast retransmits (entries into fast recovery).
    pub fast_retransmits: u64,
    /// Partial ACKs during recovery (each retransmits one more segment).
    pub partial_acks: u64,
    /// Duplicate ACKs that let one new segment out (RFC 3042).
    pub limited_transmits: u64,
    /// Timeouts.
    pub timeouts: u64,
}

/// RFC 5681 + RFC 6582 + RFC 3042.
///
/// `repr(C)`: what an ACK reads first, the counters (touched only when something happens)
/// last, apart (see the layout note on [`Conn`](super::conn::Conn)).
#[derive(Debug, Clone)]
#[repr(C)]
pub struct NewReno {
    smss: usize,
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew (byte counting).
    ca_acked: usize,
    /// RFC 3042: extra bytes allowed out by the first two duplicate ACKs.
    limited: usize,
    /// RFC 6582 `recover`: the highest sequence number sent when recovery began.
    recover: Option<Seq>,
    in_recovery: bool,
    /// Counters.
    pub stats: CcStats,
}

impl Default for NewReno {
    fn default() -> Self {
        NewReno {
            smss: 536,
            cwnd: 0,
            ssthresh: usize::MAX,
            ca_acked: 0,
            recover: None,
            in_recovery: false,
            limited: 0,
            stats: CcStats::default(),
        }
    }
}

impl CongestionControl for NewReno {
    fn init(&mut self, smss: usize, initial_window: usize) {
        self.smss = smss.max(1);
        self.cwnd = initial_window.max(self.smss);
    }

    fn window(&self) -> usize {
        self.cwnd.saturating_add(self.limited).max(self.smss)
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    fn on_ack(&mut self, ack: Seq, acked: usize, flight: usize, _snd_max: Seq) -> AckAction {
        self.limited = 0;
        let smss = self.smss;
        if self.in_recovery {
            let full = self.recover.is_none_or(|r| ack.gt(r));
            if full {
                // RFC 6582 §3.2 step 3: a full acknowledgment ends recovery; cwnd =
                // min(ssthresh, max(FlightSize, SMSS) + SMSS) ("option 1").
                let flight_after = flight.saturating_sub(acked);
                self.cwnd = self.ssthresh.min(flight_after.max(smss) + smss);
                self.in_recovery = false;
                self.ca_acked = 0;
                return AckAction::default();
            }
            // Step 4 (partial ACK): retransmit the next unacknowledged segment, deflate the
            // window by what was acknowledged, add back one SMSS if that was at least one.
            self.stats.partial_acks += 1;
            self.cwnd = self.cwnd.saturating_sub(acked);
            if acked >= smss {
                self.cwnd += smss;
            }
            self.cwnd = self.cwnd.max(smss);
            let first = self.stats.partial_acks == 1;
            return AckAction {
                retransmit: true,
                restart_timer: first,
            };
        }
        if self.cwnd < self.ssthresh {
            // RFC 5681 §3.1 slow start: cwnd += min(N, SMSS).
            self.cwnd += acked.min(smss);
        } else {
            // Congestion avoidance: about one SMSS per RTT (appropriate byte counting).
            self.ca_acked += acked;
            if self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd += smss;
            }
        }
        AckAction::default()
    }

    fn on_dup_ack(&mut self, n: u32, ack: Seq, flight: usize, snd_max: Seq) -> bool {
        let smss = self.smss;
        if self.in_recovery {
            // RFC 6582 §3.2 step 4 / RFC 5681 §3.2 step 4: inflate by one SMSS for each
            // segment that left the network.
            self.cwnd += smss;
            return false;
        }
        match n {
            1 | 2 => {
                // RFC 3042: the first two duplicate ACKs may each send one new segment.
                self.limited = n as usize * smss;
                self.stats.limited_transmits += 1;
                false
            }
            3 => {
                // RFC 6582 §3.2 step 2: no new recovery for duplicate ACKs of data sent
                // before the last one began (avoids multiple reductions per window).
                if self.recover.is_some_and(|r| ack.le(r)) {
                    return false;
                }
                self.limited = 0;
                // RFC 5681 §3.2 steps 2-3, equation 4.
                self.ssthresh = (flight / 2).max(2 * smss);
                self.recover = Some(snd_max - 1);
                self.cwnd = self.ssthresh + 3 * smss;
                self.in_recovery = true;
                self.stats.fast_retransmits += 1;
                self.stats.partial_acks = 0;
                true
            }
            _ => false,
        }
    }

    fn on_timeout(&mut self, flight: usize, snd_max: Seq) {
        self.stats.timeouts += 1;
        // RFC 5681 §3.1 equations 4 and 5 (loss window of one segment).
        self.ssthresh = (flight / 2).max(2 * self.smss);
        self.cwnd = self.smss;
        self.ca_acked = 0;
        self.in_recovery = false;
        self.limited = 0;
        // RFC 6582 §3.2 step 2 / RFC 6582 §4: after a timeout, recover = highest sent.
        self.recover = Some(snd_max - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newreno_slow_start_then_congestion_avoidance() {
        let mut c = NewReno::default();
        c.init(1000, 4000);
        assert_eq!(c.cwnd(), 4000);
        c.on_ack(Seq(1000), 1000, 4000, Seq(4000));
        assert_eq!(c.cwnd(), 5000, "slow start: +SMSS per ACK");
        c.ssthresh = 5000;
        for _ in 0..5 {
            c.on_ack(Seq(2000), 1000, 5000, Seq(6000));
        }
        assert_eq!(
            c.cwnd(),
            6000,
            "congestion avoidance: +SMSS per window acknowledged"
        );
    }

    #[test]
    fn newreno_limited_transmit_then_fast_retransmit_and_partial_acks() {
        let mut c = NewReno::default();
        c.init(1000, 10_000);
        let snd_max = Seq(10_000);
        assert!(!c.on_dup_ack(1, Seq(0), 10_000, snd_max));
        assert_eq!(c.window(), 11_000, "RFC 3042: one more segment");
        assert!(!c.on_dup_ack(2, Seq(0), 10_000, snd_max));
        assert_eq!(c.window(), 12_000);
        assert!(c.on_dup_ack(3, Seq(0), 10_000, snd_max), "fast retransmit");
        assert!(c.in_recovery());
        assert_eq!(c.ssthresh(), 5000);
        assert_eq!(c.cwnd(), 8000);
        assert!(!c.on_dup_ack(4, Seq(0), 10_000, snd_max));
        assert_eq!(c.cwnd(), 9000, "inflation");
        // Partial ACK: 2000 of the 10 000 acknowledged: deflate by 2000, add SMSS back.
        let a = c.on_ack(Seq(2000), 2000, 10_000, snd_max);
        assert_eq!(
            a,
            AckAction {
                retransmit: true,
                restart_timer: true
            }
        );
        assert_eq!(c.cwnd(), 8000);
        assert!(c.in_recovery());
        let a = c.on_ack(Seq(4000), 2000, 8000, snd_max);
        assert_eq!(
            a,
            AckAction {
                retransmit: true,
                restart_timer: false
            }
        );
        // Full ACK: beyond recover (9999) ends recovery.
        let a = c.on_ack(Seq(10_000), 6000, 6000, snd_max);
        assert_eq!(a, AckAction::default());
        assert!(!c.in_recovery());
        // min(ssthresh, max(flight after the ACK = 0, SMSS) + SMSS).
        assert_eq!(c.cwnd(), 2000);
        assert_eq!(c.stats.fast_retransmits, 1);
        assert_eq!(c.stats.partial_acks, 2);
    }

    #[test]
    fn newreno_no_second_reduction_for_the_same_window() {
        let mut c = NewReno::default();
        c.init(1000, 10_000);
        c.on_timeout(10_000, Seq(10_000));
        assert_eq!(c.cwnd(), 1000);
        // Duplicate ACKs for data sent before the timeout do not start fast recovery.
        assert!(!c.on_dup_ack(3, Seq(5000), 5000, Seq(10_000)));
        assert!(c.on_dup_ack(3, Seq(12_000), 5000, Seq(20_000)));
    }
}
