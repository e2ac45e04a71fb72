//! The retransmission timeout (RTO) of RFC 6298, "Computing TCP's Retransmission Timer".
//!
//! [`RttEstimator`] keeps the smoothed round-trip time (SRTT), its variation (RTTVAR) and the
//! RTO derived from them, plus the exponential backoff applied while retransmissions go
//! unanswered. All arithmetic is on whole nanoseconds (`u64`, widened to `u128` where a product
//! could overflow), so results are identical on every platform. Divisions truncate.
//!
//! Which samples to feed is the connection's business: RFC 6298 §3 requires Karn's algorithm
//! (no sample from an ACK of a retransmitted segment unless timestamps, RFC 7323 §4, remove the
//! ambiguity), and at least one sample per round trip (§3).

use crate::time::Duration;

/// RFC 6298 §2.1: "Until a round-trip time (RTT) measurement has been made for a segment sent
/// between the sender and receiver, the sender SHOULD set RTO <- 1 second".
pub const INITIAL_RTO: Duration = Duration::from_secs(1);
/// RFC 6298 §2.4: "if it is less than 1 second, then the RTO SHOULD be rounded up to 1
/// second".
pub const MIN_RTO: Duration = Duration::from_secs(1);
/// RFC 6298 §2.5: "A maximum value MAY be placed on RTO provided it is at least 60 seconds."
pub const MAX_RTO: Duration = Duration::from_secs(60);
/// RFC 6298 §5.7: the RTO used once the handshake completes when a SYN timed out.
pub const SYN_FALLBACK_RTO: Duration = Duration::from_secs(3);

/// RFC 6298 §2: K = 4.
const K: u64 = 4;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A connection's RTT estimate and retransmission timeout (RFC 6298).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RttEstimator {
    /// SRTT in nanoseconds; `None` until the first sample (RFC 6298 §2.1).
    srtt: Option<u64>,
    /// RTTVAR in nanoseconds.
    rttvar: u64,
    /// The RTO from the last computation (§2.1, §2.2, §2.3 and the §2.4/§2.5 bounds), before
    /// backoff.
    base: u64,
    /// Timer expirations since the RTO was last computed (§5.5).
    backoffs: u32,
    min: u64,
    max: u64,
    granularity: u64,
}

impl Default for RttEstimator {
    /// The RFC 6298 values: initial RTO 1 s (§2.1), minimum 1 s (§2.4), maximum 60 s (§2.5),
    /// clock granularity G = 1 ms.
    fn default() -> Self {
        RttEstimator::new(INITIAL_RTO, MIN_RTO, MAX_RTO, Duration::from_millis(1))
    }
}

impl RttEstimator {
    /// No sample yet: the RTO is `initial_rto` (RFC 6298 §2.1: 1 s; [`INITIAL_RTO`]), kept
    /// within `min_rto..=max_rto`. `min_rto` is the §2.4 floor (1 s, [`MIN_RTO`]; stacks that
    /// measure finely often use less), `max_rto` the §2.5 ceiling, which RFC 6298 requires to
    /// be at least 60 s ([`MAX_RTO`]; not enforced here, so simulations may use less).
    /// `granularity` is the clock granularity G of §2 (the resolution of the timer that will
    /// fire the RTO). If `max_rto < min_rto`, `max_rto` wins.
    pub fn new(
        initial_rto: Duration,
        min_rto: Duration,
        max_rto: Duration,
        granularity: Duration,
    ) -> Self {
        let mut e = RttEstimator {
            srtt: None,
            rttvar: 0,
            base: 0,
            backoffs: 0,
            min: nanos(min_rto),
            max: nanos(max_rto),
            granularity: nanos(granularity),
        };
        e.base = e.clamp(nanos(initial_rto));
        e
    }

    /// RFC 6298 §2.4 (round up to the minimum) and §2.5 (cap at the maximum).
    fn clamp(&self, rto: u64) -> u64 {
        rto.max(self.min).min(self.max)
    }

    /// Feeds one RTT measurement `rtt` (RFC 6298 §3: from a segment that was not
    /// retransmitted, or any segment when timestamps are in use) and recomputes the RTO.
    ///
    /// - First measurement, §2.2: SRTT ← R, RTTVAR ← R/2.
    /// - Later ones, §2.3 with alpha = 1/8 and beta = 1/4, RTTVAR first (it uses the old
    ///   SRTT): RTTVAR ← 3/4·RTTVAR + 1/4·|SRTT − R'|, SRTT ← 7/8·SRTT + 1/8·R'.
    /// - Then RTO ← SRTT + max(G, 4·RTTVAR), rounded up to the minimum (§2.4) and capped at
    ///   the maximum (§2.5).
    ///
    /// The newly computed RTO replaces a backed-off one, so the backoff count returns to 0:
    /// RFC 6298 §5, after rule 5.7, "once a new RTT measurement is obtained ... the
    /// computations outlined in Section 2 are performed, including the computation of RTO,
    /// which may result in 'collapsing' RTO back down after it has been subject to exponential
    /// back off (rule 5.5)".
    pub fn sample(&mut self, rtt: Duration) {
        let r = nanos(rtt);
        let (srtt, rttvar) = match self.srtt {
            // RFC 6298 §2.2.
            None => (r, r / 2),
            // RFC 6298 §2.3: beta = 1/4, alpha = 1/8.
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                let rttvar = (3 * u128::from(self.rttvar) + u128::from(delta)) / 4;
                let srtt = (7 * u128::from(srtt) + u128::from(r)) / 8;
                (
                    u64::try_from(srtt).unwrap_or(u64::MAX),
                    u64::try_from(rttvar).unwrap_or(u64::MAX),
                )
            }
        };
        self.srtt = Some(srtt);
        self.rttvar = rttvar;
        // RFC 6298 §2.2/§2.3: RTO <- SRTT + max (G, K*RTTVAR).
        let spread = self.granularity.max(rttvar.saturating_mul(K));
        self.base = self.clamp(srtt.saturating_add(spread));
        self.backoffs = 0;
    }

    /// The current RTO: the computed value doubled once per [`backoff`](Self::backoff), never
    /// above the maximum (RFC 6298 §5.5, §2.5). Call when (re)starting the retransmission
    /// timer (§5.1, §5.3, §5.6).
    pub fn rto(&self) -> Duration {
        let factor = 1u128 << self.backoffs.min(64);
        let rto = u128::from(self.base).saturating_mul(factor);
        let capped = u64::try_from(rto).unwrap_or(u64::MAX).min(self.max);
        Duration::from_nanos(capped)
    }

    /// Call when the retransmission timer expires (RFC 6298 §5.5: "The host MUST set RTO <-
    /// RTO * 2 ('back off the timer'). The maximum value discussed in (2.5) above may be used
    /// to provide an upper bound to this doubling operation."). The count keeps rising once
    /// the cap is reached, so the connection can give up after a number of retransmissions
    /// (RFC 9293 §3.8.3, R2).
    pub fn backoff(&mut self) {
        self.backoffs = self.backoffs.saturating_add(1);
    }

    /// Returns to the computed RTO without a new sample. [`sample`](Self::sample) already
    /// does this; call it when an acknowledgement shows the path works again but Karn's
    /// algorithm (RFC 6298 §3) forbids a sample, and the connection chooses not to keep the
    /// backed-off value until the next valid sample (RFC 6298 §5 keeps it, as does this type
    /// unless this is called). Also resets [`backoffs`](Self::backoffs).
    pub fn reset_backoff(&mut self) {
        self.backoffs = 0;
    }

    /// RFC 6298 §5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP
    /// implementation is using an RTO less than 3 seconds, the RTO MUST be re-initialized to 3
    /// seconds when data transmission begins (i.e., after the three-way handshake
    /// completes)." Call once the handshake completes if a SYN (or SYN-ACK) was
    /// retransmitted: an RTO (backoff included) under 3 s becomes 3 s (still within the
    /// maximum) with the backoff cleared; a larger one is left as it is.
    pub fn syn_timeout_fallback(&mut self) {
        let fallback = nanos(SYN_FALLBACK_RTO);
        if nanos(self.rto()) < fallback {
            self.base = self.clamp(fallback);
            self.backoffs = 0;
        }
    }

    /// SRTT, `None` before the first sample (RFC 6298 §2.1).
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt.map(Duration::from_nanos)
    }

    /// RTTVAR (zero before the first sample).
    pub fn rttvar(&self) -> Duration {
        Duration::from_nanos(self.rttvar)
    }

    /// Timer expirations since the RTO was last computed or reset.
    pub fn backoffs(&self) -> u32 {
        self.backoffs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// An estimator without the 1 s floor, so the §2.2/§2.3 formulas show in the RTO.
    fn fine() -> RttEstimator {
        RttEstimator::new(ms(1000), ms(1), ms(60_000), ms(1))
    }

    #[test]
    fn tcp_rtt_initial_rto() {
        // RFC 6298 §2.1: before any measurement RTO is 1 s; SRTT is unset.
        let e = RttEstimator::default();
        assert_eq!(e.rto(), Duration::from_secs(1));
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), Duration::ZERO);
        assert_eq!(e.backoffs(), 0);
        // The initial value is held within the bounds too.
        let e = RttEstimator::new(ms(100), ms(200), ms(60_000), ms(1));
        assert_eq!(e.rto(), ms(200));
        let e = RttEstimator::new(ms(90_000), ms(200), ms(60_000), ms(1));
        assert_eq!(e.rto(), ms(60_000));
    }

    #[test]
    fn tcp_rtt_first_sample() {
        // RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2, RTO <- SRTT + max(G, K*RTTVAR).
        let mut e = fine();
        e.sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        assert_eq!(e.rto(), ms(300)); // 100 + 4*50
        // Odd nanoseconds: R/2 truncates.
        let mut e = fine();
        e.sample(Duration::from_nanos(3));
        assert_eq!(e.rttvar(), Duration::from_nanos(1));
        // RTO = 3 ns + max(1 ms, 4 ns), then the 1 ms floor.
        assert_eq!(e.rto(), Duration::from_nanos(1_000_003));
    }

    #[test]
    fn tcp_rtt_sample_sequence() {
        // RFC 6298 §2.3, alpha = 1/8, beta = 1/4, RTTVAR updated with the old SRTT:
        //   R=100: SRTT 100,        RTTVAR 50,          RTO 300
        //   R=200: RTTVAR (3*50 + |100-200|)/4 = 62.5,  SRTT (7*100 + 200)/8 = 112.5,
        //          RTO 112.5 + 250 = 362.5
        //   R=50:  RTTVAR (3*62.5 + 62.5)/4 = 62.5,     SRTT (7*112.5 + 50)/8 = 104.6875,
        //          RTO 104.6875 + 250 = 354.6875
        //   R=104.6875: RTTVAR 3/4*62.5 = 46.875, SRTT unchanged, RTO 104.6875 + 187.5
        let mut e = fine();
        e.sample(ms(100));
        e.sample(ms(200));
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
        e.sample(ms(50));
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_nanos(104_687_500)));
        assert_eq!(e.rto(), Duration::from_nanos(354_687_500));
        e.sample(Duration::from_nanos(104_687_500));
        assert_eq!(e.rttvar(), Duration::from_nanos(46_875_000));
        assert_eq!(e.srtt(), Some(Duration::from_nanos(104_687_500)));
        assert_eq!(e.rto(), Duration::from_nanos(292_187_500));
    }

    #[test]
    fn tcp_rtt_integer_truncation() {
        // RFC 6298 §2.3 on whole nanoseconds: each division truncates.
        //   R=10: SRTT 10, RTTVAR 5
        //   R=13: RTTVAR (15 + 3)/4 = 4 (4.5), SRTT (70 + 13)/8 = 10 (10.375)
        let mut e = RttEstimator::new(ms(1000), Duration::ZERO, ms(60_000), Duration::ZERO);
        e.sample(Duration::from_nanos(10));
        e.sample(Duration::from_nanos(13));
        assert_eq!(e.rttvar(), Duration::from_nanos(4));
        assert_eq!(e.srtt(), Some(Duration::from_nanos(10)));
        // RTO = 10 + max(0, 16) with no floor.
        assert_eq!(e.rto(), Duration::from_nanos(26));
    }

    #[test]
    fn tcp_rtt_granularity_dominates_small_variance() {
        // RFC 6298 §2.3: RTO <- SRTT + max(G, K*RTTVAR); with steady samples RTTVAR decays and
        // G takes over.
        let mut e = RttEstimator::new(ms(1000), ms(1), ms(60_000), ms(10));
        for _ in 0..40 {
            e.sample(ms(100));
        }
        // RTTVAR: 50 ms * (3/4)^39, under 2.5 ms so 4*RTTVAR < G.
        assert!(e.rttvar() < Duration::from_micros(2_500));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rto(), ms(110));
    }

    #[test]
    fn tcp_rtt_min_and_max_clamp() {
        // RFC 6298 §2.4: a computed RTO under 1 s is rounded up to 1 s; §2.5: a maximum of at
        // least 60 s may cap it.
        let mut e = RttEstimator::default();
        e.sample(ms(100));
        assert_eq!(e.rto(), Duration::from_secs(1));
        assert_eq!(e.srtt(), Some(ms(100)));
        e.sample(Duration::from_secs(50));
        // RTTVAR (3*50ms + 49.9s)/4 = 12.5125 s, SRTT (0.7 + 50)/8 = 6.3375 s: 56.3875 s.
        assert_eq!(e.rto(), Duration::from_nanos(56_387_500_000));
        e.sample(Duration::from_secs(300));
        assert_eq!(e.rto(), Duration::from_secs(60));
        // An enormous sample saturates instead of overflowing.
        e.sample(Duration::MAX);
        assert_eq!(e.rto(), Duration::from_secs(60));
        assert_eq!(
            e.srtt().map(|d| d > Duration::from_secs(1 << 30)),
            Some(true)
        );
    }

    #[test]
    fn tcp_rtt_backoff_doubles_and_caps() {
        // RFC 6298 §5.5: each expiry doubles the RTO, bounded by the §2.5 maximum; the count
        // keeps rising (RFC 9293 §3.8.3 R2 counts retransmissions).
        let mut e = RttEstimator::default();
        let want = [1, 2, 4, 8, 16, 32, 60, 60, 60];
        for (i, &secs) in want.iter().enumerate() {
            assert_eq!(e.backoffs(), i as u32);
            assert_eq!(e.rto(), Duration::from_secs(secs), "after {i} backoffs");
            e.backoff();
        }
        for _ in 0..200 {
            e.backoff();
        }
        assert_eq!(e.backoffs(), 209);
        assert_eq!(e.rto(), Duration::from_secs(60));
        // The count saturates rather than wrapping.
        e.backoffs = u32::MAX;
        e.backoff();
        assert_eq!(e.backoffs(), u32::MAX);
        assert_eq!(e.rto(), Duration::from_secs(60));
    }

    #[test]
    fn tcp_rtt_sample_collapses_backoff() {
        // RFC 6298 §5 (after 5.7): a new measurement recomputes RTO per §2, "collapsing" the
        // backed-off value.
        let mut e = fine();
        e.sample(ms(100));
        e.backoff();
        e.backoff();
        assert_eq!(e.rto(), ms(1200));
        e.sample(ms(100));
        // RTTVAR 3/4*50 = 37.5, SRTT 100: RTO 250.
        assert_eq!(e.backoffs(), 0);
        assert_eq!(e.rto(), ms(250));
    }

    #[test]
    fn tcp_rtt_reset_backoff_keeps_estimates() {
        // RFC 6298 §5.5 backoff undone without a sample (Karn, §3, gave none): the computed
        // RTO returns, SRTT and RTTVAR are untouched.
        let mut e = fine();
        e.sample(ms(40));
        e.backoff();
        e.backoff();
        e.backoff();
        assert_eq!(e.rto(), ms(960));
        e.reset_backoff();
        assert_eq!(e.backoffs(), 0);
        assert_eq!(e.rto(), ms(120));
        assert_eq!(e.srtt(), Some(ms(40)));
        assert_eq!(e.rttvar(), ms(20));
        // Before any sample, the reset returns to the initial RTO (§2.1).
        let mut e = RttEstimator::default();
        e.backoff();
        e.reset_backoff();
        assert_eq!(e.rto(), Duration::from_secs(1));
    }

    #[test]
    fn tcp_rtt_syn_timeout_fallback() {
        // RFC 6298 §5.7: after a SYN timed out, an RTO under 3 s becomes 3 s when data
        // transmission begins; a larger one is kept; the maximum still applies.
        let mut e = RttEstimator::default();
        e.backoff();
        assert_eq!(e.rto(), Duration::from_secs(2));
        e.syn_timeout_fallback();
        assert_eq!((e.rto(), e.backoffs()), (Duration::from_secs(3), 0));
        let mut e = RttEstimator::default();
        e.sample(Duration::from_secs(2)); // RTO 2 + 4 = 6 s
        e.syn_timeout_fallback();
        assert_eq!(e.rto(), Duration::from_secs(6));
        // Backed off to 12 s: not under 3 s, left alone.
        e.backoff();
        e.syn_timeout_fallback();
        assert_eq!((e.rto(), e.backoffs()), (Duration::from_secs(12), 1));
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(2000), ms(1));
        e.syn_timeout_fallback();
        assert_eq!(e.rto(), ms(2000));
    }

    #[test]
    fn tcp_rtt_max_below_min() {
        // Misconfiguration does not panic: the maximum (RFC 6298 §2.5) wins over the minimum.
        let mut e = RttEstimator::new(ms(1000), ms(5000), ms(2000), ms(1));
        assert_eq!(e.rto(), ms(2000));
        e.sample(ms(1));
        assert_eq!(e.rto(), ms(2000));
        e.backoff();
        assert_eq!(e.rto(), ms(2000));
    }
}
