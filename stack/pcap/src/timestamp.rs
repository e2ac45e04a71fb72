//! Capture timestamps: seconds and nanoseconds since the Unix epoch.

use core::fmt;

/// A capture timestamp: whole seconds since 1970-01-01T00:00:00Z and a sub-second part in
/// nanoseconds. Invariant: the nanoseconds are below 1,000,000,000.
///
/// Seconds are 64-bit: pcap's unsigned 32-bit seconds reach 2106, and pcapng's 64-bit tick
/// counts reach well beyond (`time_2107.pcapng`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: u64,
    nanos: u32,
}

const NANOS_PER_SEC: u32 = 1_000_000_000;

impl Timestamp {
    /// A timestamp from seconds and nanoseconds; `None` if `nanos` is a second or more.
    pub const fn new(secs: u64, nanos: u32) -> Option<Timestamp> {
        if nanos < NANOS_PER_SEC {
            Some(Timestamp { secs, nanos })
        } else {
            None
        }
    }

    /// A timestamp from nanoseconds since the epoch; `None` if the seconds overflow u64.
    pub fn from_nanos(nanos: u128) -> Option<Timestamp> {
        let secs = u64::try_from(nanos / u128::from(NANOS_PER_SEC)).ok()?;
        // The remainder is below 1e9, so it fits u32.
        let sub = (nanos % u128::from(NANOS_PER_SEC)) as u32;
        Some(Timestamp { secs, nanos: sub })
    }

    /// Whole seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.secs
    }

    /// The sub-second part in nanoseconds (below 1,000,000,000).
    pub const fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// The sub-second part in microseconds, truncated (as tcpdump prints it).
    pub const fn subsec_micros(self) -> u32 {
        self.nanos / 1000
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> u128 {
        u128::from(self.secs) * u128::from(NANOS_PER_SEC) + u128::from(self.nanos)
    }

    /// Converts a pcapng tick count with the interface's `if_tsresol` byte (pcapng §4.2:
    /// most significant bit clear: units of 10^-n s; set: units of 2^-n s). Sub-nanosecond
    /// resolutions are truncated to nanoseconds. Never fails: the seconds are at most the
    /// tick count.
    pub(crate) fn from_ticks(ticks: u64, tsresol: u8) -> Timestamp {
        let exp = u32::from(tsresol & 0x7f);
        let t = u128::from(ticks);
        let (secs, nanos) = if tsresol & 0x80 != 0 {
            // Binary: 2^-exp seconds per tick. exp <= 127 so the shifts stay in u128.
            let (secs, frac) = if exp >= 64 {
                (0, t)
            } else {
                (t >> exp, t & ((1u128 << exp) - 1))
            };
            // frac < 2^64, so frac * 1e9 < 2^94: no overflow; the result is below 1e9.
            (secs, (frac * u128::from(NANOS_PER_SEC)) >> exp)
        } else {
            match 10u128.checked_pow(exp) {
                Some(div) => {
                    let frac = t % div;
                    let nanos = if exp <= 9 {
                        frac * 10u128.pow(9 - exp)
                    } else {
                        // exp <= 38 here, so 10^(exp-9) fits u128.
                        frac / 10u128.pow(exp - 9)
                    };
                    (t / div, nanos)
                }
                // 10^exp overflows u128 (exp > 38): a u64 tick count is under a second and
                // under a nanosecond.
                None => (0, 0),
            }
        };
        Timestamp {
            // Both fit: secs <= ticks <= u64::MAX, nanos < 1e9.
            secs: secs as u64,
            nanos: nanos as u32,
        }
    }
}

impl fmt::Display for Timestamp {
    /// `seconds.nanoseconds`, as `tcpdump -tt --nano` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs, self.nanos)
    }
}

/// Resolution of the timestamps in a pcap file (fixed by its magic number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampResolution {
    /// Magic `a1b2c3d4`: the sub-second field counts microseconds.
    Microsecond,
    /// Magic `a1b23c4d`: the sub-second field counts nanoseconds.
    Nanosecond,
}

impl TimestampResolution {
    /// The exclusive upper bound of the sub-second field.
    pub const fn fraction_limit(self) -> u32 {
        match self {
            TimestampResolution::Microsecond => 1_000_000,
            TimestampResolution::Nanosecond => NANOS_PER_SEC,
        }
    }

    /// The pcap magic number written for this resolution.
    pub const fn magic(self) -> u32 {
        match self {
            TimestampResolution::Microsecond => 0xa1b2_c3d4,
            TimestampResolution::Nanosecond => 0xa1b2_3c4d,
        }
    }

    /// A pcap timestamp from its seconds and sub-second fields; `None` if the sub-second
    /// field is not below [`fraction_limit`](Self::fraction_limit).
    pub fn timestamp(self, secs: u32, fraction: u32) -> Option<Timestamp> {
        if fraction >= self.fraction_limit() {
            return None;
        }
        let nanos = match self {
            TimestampResolution::Microsecond => fraction * 1000,
            TimestampResolution::Nanosecond => fraction,
        };
        Timestamp::new(u64::from(secs), nanos)
    }

    pub(crate) fn from_lib(r: pcap_file::TsResolution) -> Self {
        match r {
            pcap_file::TsResolution::MicroSecond => TimestampResolution::Microsecond,
            pcap_file::TsResolution::NanoSecond => TimestampResolution::Nanosecond,
        }
    }
}

impl fmt::Display for TimestampResolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampResolution::Microsecond => "microsecond",
            TimestampResolution::Nanosecond => "nanosecond",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_new_rejects_a_full_second_of_nanos() {
        assert!(Timestamp::new(1, 999_999_999).is_some());
        assert_eq!(Timestamp::new(1, 1_000_000_000), None);
    }

    #[test]
    fn timestamp_nanos_round_trip_and_display() {
        let t = Timestamp::new(1_418_145_369, 924_505_488).unwrap();
        assert_eq!(Timestamp::from_nanos(t.as_nanos()), Some(t));
        assert_eq!(t.to_string(), "1418145369.924505488");
        assert_eq!(t.subsec_micros(), 924_505);
        assert_eq!(Timestamp::from_nanos(u128::MAX), None);
        let max = Timestamp::new(u64::MAX, 999_999_999).unwrap();
        assert_eq!(Timestamp::from_nanos(max.as_nanos()), Some(max));
    }

    #[test]
    fn timestamp_resolution_checks_the_fraction() {
        let us = TimestampResolution::Microsecond;
        let ns = TimestampResolution::Nanosecond;
        assert_eq!(us.timestamp(5, 999_999), Timestamp::new(5, 999_999_000));
        assert_eq!(us.timestamp(5, 1_000_000), None);
        assert_eq!(ns.timestamp(5, 999_999_999), Timestamp::new(5, 999_999_999));
        assert_eq!(ns.timestamp(5, 1_000_000_000), None);
        assert_eq!(ns.timestamp(5, u32::MAX), None);
        assert_eq!(us.magic(), 0xa1b2c3d4);
        assert_eq!(ns.magic(), 0xa1b23c4d);
    }

    #[test]
    fn timestamp_from_decimal_ticks() {
        // Default resolution 10^-6.
        let t = Timestamp::from_ticks(1_742_291_025_393_317, 6);
        assert_eq!((t.secs(), t.subsec_nanos()), (1_742_291_025, 393_317_000));
        let t = Timestamp::from_ticks(1_759_756_153_000_001_000, 9);
        assert_eq!((t.secs(), t.subsec_nanos()), (1_759_756_153, 1_000));
        // Seconds resolution.
        let t = Timestamp::from_ticks(u64::MAX, 0);
        assert_eq!((t.secs(), t.subsec_nanos()), (u64::MAX, 0));
        // Picoseconds: truncated to nanoseconds.
        let t = Timestamp::from_ticks(1_500_000_000_999, 12);
        assert_eq!((t.secs(), t.subsec_nanos()), (1, 500_000_000));
        // 10^-38 still computes; beyond it everything is below a nanosecond.
        let t = Timestamp::from_ticks(u64::MAX, 38);
        assert_eq!((t.secs(), t.subsec_nanos()), (0, 0));
        let t = Timestamp::from_ticks(u64::MAX, 127);
        assert_eq!((t.secs(), t.subsec_nanos()), (0, 0));
        let t = Timestamp::from_ticks(u64::MAX, 19);
        assert_eq!((t.secs(), t.subsec_nanos()), (1, 844_674_407));
    }

    #[test]
    fn timestamp_from_binary_ticks() {
        // 2^-10 s per tick: 1536 ticks = 1.5 s.
        let t = Timestamp::from_ticks(1536, 0x80 | 10);
        assert_eq!((t.secs(), t.subsec_nanos()), (1, 500_000_000));
        // 2^0: seconds.
        let t = Timestamp::from_ticks(7, 0x80);
        assert_eq!((t.secs(), t.subsec_nanos()), (7, 0));
        // 2^-64 and finer: all sub-second, below 1e9 nanoseconds.
        let t = Timestamp::from_ticks(u64::MAX, 0x80 | 64);
        assert_eq!(t.secs(), 0);
        assert_eq!(t.subsec_nanos(), 999_999_999);
        let t = Timestamp::from_ticks(u64::MAX, 0xff);
        assert_eq!((t.secs(), t.subsec_nanos()), (0, 0));
        let t = Timestamp::from_ticks(u64::MAX, 0x80 | 63);
        assert_eq!(t.secs(), 1);
    }
}
