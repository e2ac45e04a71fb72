//! ICMP policy (RFC 792, RFC 1122 §3.2.2): when an error may be sent, how much of the
//! offending datagram it quotes, and the rate limiter that bounds how many are sent.

use crate::time::{Duration, Instant};
use weft_wire::Ipv4Addr;
use weft_wire::ipv4::{IpProtocol, Ipv4Packet};

/// How many bytes of the offending datagram an error quotes: its header and the first 64 bits
/// of data (RFC 792 "Internet Header + 64 bits of Data Datagram"); RFC 1812 §4.3.2.3 allows
/// more, this stack quotes up to this bound so errors stay small.
pub const QUOTE_MAX: usize = 576 - 20 - 8;

/// Whether an ICMP error may be sent about `offending` (RFC 1122 §3.2.2: "An ICMP error
/// message MUST NOT be sent as the result of receiving": an ICMP error message, a datagram
/// destined to an IP broadcast or multicast address, a link-layer broadcast, a non-initial
/// fragment, or a datagram whose source is not a unicast host address).
pub fn may_send_error(
    offending: &Ipv4Packet<&[u8]>,
    link_broadcast: bool,
    dst_is_broadcast: bool,
) -> bool {
    if link_broadcast || dst_is_broadcast || offending.frag_offset_units() != 0 {
        return false;
    }
    let src = offending.src();
    if src.is_unspecified() || src.is_broadcast() || src.is_multicast() || src.is_loopback() {
        return false;
    }
    if offending.dst().is_multicast() {
        return false;
    }
    if offending.protocol() == IpProtocol::ICMP {
        // Errors are never sent about errors; queries (echo, ...) may be answered with one.
        let ty = offending.payload().first().copied().unwrap_or(0);
        let is_query = matches!(ty, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18);
        if !is_query {
            return false;
        }
    }
    true
}

/// The bytes of `offending` an error quotes (header and as much data as `QUOTE_MAX` allows).
pub fn quote(offending: &[u8]) -> &[u8] {
    offending
        .get(..QUOTE_MAX.min(offending.len()))
        .unwrap_or(offending)
}

/// A token bucket bounding the ICMP errors the stack sends (RFC 1812 §4.3.2.8; RFC 1122
/// §3.2.2 recommends limiting error rates).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    tokens: u32,
    burst: u32,
    interval: Duration,
    last_refill: Instant,
}

impl RateLimiter {
    /// `per_sec` tokens a second, at most `burst` saved up (both at least 1).
    pub fn new(per_sec: u32, burst: u32) -> Self {
        let per_sec = per_sec.max(1);
        RateLimiter {
            tokens: burst.max(1),
            burst: burst.max(1),
            interval: Duration::from_nanos(1_000_000_000 / u64::from(per_sec)),
            last_refill: Instant::ZERO,
        }
    }

    /// Takes a token if one is left at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_since(self.last_refill);
        let interval_ns = self.interval.as_nanos().max(1);
        let add = elapsed.as_nanos() / interval_ns;
        if add > 0 {
            let add = u32::try_from(add).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(add).min(self.burst);
            let used =
                u64::try_from(interval_ns.saturating_mul(u128::from(add))).unwrap_or(u64::MAX);
            self.last_refill = self.last_refill.saturating_add(Duration::from_nanos(used));
            if self.tokens == self.burst {
                self.last_refill = now;
            }
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

/// Whether `addr` can be the source of a datagram we answer (a unicast host address).
pub fn is_unicast(addr: Ipv4Addr) -> bool {
    !(addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_wire::ipv4::Ipv4Repr;

    fn datagram(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload: &[u8],
        frag: u16,
    ) -> alloc::vec::Vec<u8> {
        let r = Ipv4Repr {
            src,
            dst,
            protocol,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 1,
            reserved_flag: false,
            dont_frag: false,
            more_frags: false,
            frag_offset_units: frag,
            options: arrayvec::ArrayVec::new(),
            options_padding: &[],
            payload_len: payload.len(),
        };
        let mut b = alloc::vec![0u8; r.buffer_len()];
        r.emit(&mut b).unwrap();
        b[20..].copy_from_slice(payload);
        b
    }

    #[test]
    fn icmp_no_error_about_errors_broadcasts_or_later_fragments() {
        // RFC 1122 §3.2.2: the MUST NOT list.
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        let udp = datagram(a, b, IpProtocol::UDP, &[0; 8], 0);
        let p = Ipv4Packet::new_checked(&udp[..]).unwrap();
        assert!(may_send_error(&p, false, false));
        assert!(!may_send_error(&p, true, false), "link-layer broadcast");
        assert!(!may_send_error(&p, false, true), "IP broadcast");
        let unreachable = datagram(a, b, IpProtocol::ICMP, &[3, 3, 0, 0, 0, 0, 0, 0], 0);
        assert!(!may_send_error(
            &Ipv4Packet::new_checked(&unreachable[..]).unwrap(),
            false,
            false
        ));
        let echo = datagram(a, b, IpProtocol::ICMP, &[8, 0, 0, 0, 0, 0, 0, 0], 0);
        assert!(may_send_error(
            &Ipv4Packet::new_checked(&echo[..]).unwrap(),
            false,
            false
        ));
        let later = datagram(a, b, IpProtocol::UDP, &[0; 8], 1);
        assert!(!may_send_error(
            &Ipv4Packet::new_checked(&later[..]).unwrap(),
            false,
            false
        ));
        let from_zero = datagram(Ipv4Addr::UNSPECIFIED, b, IpProtocol::UDP, &[0; 8], 0);
        assert!(!may_send_error(
            &Ipv4Packet::new_checked(&from_zero[..]).unwrap(),
            false,
            false
        ));
    }

    #[test]
    fn icmp_rate_limiter_bounds_bursts_and_refills() {
        // RFC 1812 §4.3.2.8: a token bucket.
        let mut r = RateLimiter::new(10, 3);
        let t0 = Instant::from_secs(1);
        assert!(r.allow(t0) && r.allow(t0) && r.allow(t0));
        assert!(!r.allow(t0), "burst of 3 spent");
        assert!(!r.allow(t0 + Duration::from_millis(99)));
        assert!(
            r.allow(t0 + Duration::from_millis(100)),
            "one token per 100 ms"
        );
        assert!(!r.allow(t0 + Duration::from_millis(150)));
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        assert!(r.allow(later) && r.allow(later) && r.allow(later));
        assert!(!r.allow(later));
    }

    #[test]
    fn icmp_quote_is_bounded() {
        let big = alloc::vec![0u8; 2000];
        assert_eq!(quote(&big).len(), QUOTE_MAX);
        assert_eq!(quote(&big[..28]).len(), 28);
    }
}
