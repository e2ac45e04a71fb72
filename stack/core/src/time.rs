//! Time as an argument: a plain nanosecond counter with no relation to any clock.

use core::num::NonZeroU64;
use core::ops::{Add, Sub};
pub use core::time::Duration;

/// A point in time: nanoseconds since an origin the caller chooses (the simulator's start, a
/// monotonic clock's reading at start-up). The core never reads a clock; every method that
/// needs the time takes `now: Instant`.
///
/// Held as nanoseconds plus one in a `NonZeroU64`, so that `Option<Instant>` — a deadline, of
/// which a connection keeps several — takes 8 bytes, not 16. The range is therefore
/// 0..=`u64::MAX − 1` nanoseconds (584 years); [`Instant::MAX`] is its end, and everything
/// past it saturates there. Order and equality are those of the nanoseconds (hashing agrees
/// with equality).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(NonZeroU64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(NonZeroU64::MIN);
    /// The far future; never reached.
    pub const MAX: Instant = Instant(NonZeroU64::MAX);

    /// From nanoseconds since the origin (saturating at [`Instant::MAX`]).
    pub const fn from_nanos(ns: u64) -> Instant {
        Instant(NonZeroU64::MIN.saturating_add(ns))
    }
    /// From milliseconds since the origin (saturating).
    pub const fn from_millis(ms: u64) -> Instant {
        Instant::from_nanos(ms.saturating_mul(1_000_000))
    }
    /// From seconds since the origin (saturating).
    pub const fn from_secs(s: u64) -> Instant {
        Instant::from_nanos(s.saturating_mul(1_000_000_000))
    }
    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0.get() - 1
    }
    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.get().saturating_sub(earlier.0.get()))
    }
    /// `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ns))
    }
}

impl Default for Instant {
    /// The origin.
    fn default() -> Self {
        Instant::ZERO
    }
}

impl core::fmt::Debug for Instant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Instant").field(&self.as_nanos()).finish()
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

impl core::fmt::Display for Instant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.as_nanos() / 1_000_000_000,
            self.as_nanos() % 1_000_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The niche: an optional instant is one word; the representation does not show.
    #[test]
    fn an_optional_instant_is_one_word_and_keeps_nanosecond_order() {
        assert_eq!(size_of::<Option<Instant>>(), 8);
        assert_eq!(Instant::ZERO.as_nanos(), 0);
        assert_eq!(Instant::default(), Instant::ZERO);
        assert_eq!(Instant::from_nanos(7).as_nanos(), 7);
        assert_eq!(Instant::MAX.as_nanos(), u64::MAX - 1);
        assert_eq!(Instant::from_nanos(u64::MAX), Instant::MAX);
        assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert!(Instant::from_nanos(1) < Instant::from_nanos(2));
        assert_eq!(
            Instant::from_millis(1500) - Instant::from_secs(1),
            Duration::from_millis(500)
        );
        assert_eq!(
            Instant::from_secs(1) - Instant::from_secs(2),
            Duration::ZERO
        );
        assert_eq!(format!("{:?}", Instant::from_nanos(5)), "Instant(5)");
        assert_eq!(Instant::from_millis(1500).to_string(), "1.500000000s");
    }
}
