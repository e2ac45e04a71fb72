//! Sequence numbers: 32-bit, compared modulo 2^32 (RFC 9293 §3.4: "all arithmetic dealing
//! with sequence numbers must be performed modulo 2**32").

use core::ops::{Add, Sub};

/// A TCP sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// `self < other` in sequence space (the signed 32-bit difference; valid while the two
    /// are less than 2^31 apart, which the window bounds guarantee).
    pub fn lt(self, other: Seq) -> bool {
        (self.0.wrapping_sub(other.0) as i32) < 0
    }
    /// `self <= other`.
    pub fn le(self, other: Seq) -> bool {
        (self.0.wrapping_sub(other.0) as i32) <= 0
    }
    /// `self > other`.
    pub fn gt(self, other: Seq) -> bool {
        other.lt(self)
    }
    /// `self >= other`.
    pub fn ge(self, other: Seq) -> bool {
        other.le(self)
    }
    /// The later of two.
    pub fn max(self, other: Seq) -> Seq {
        if self.lt(other) { other } else { self }
    }
    /// `lo <= self < hi`.
    pub fn in_range(self, lo: Seq, hi: Seq) -> bool {
        lo.le(self) && self.lt(hi)
    }
    /// Bytes from `earlier` to `self` (0 when `self` is not after `earlier`).
    pub fn since(self, earlier: Seq) -> usize {
        if self.lt(earlier) {
            0
        } else {
            self.0.wrapping_sub(earlier.0) as usize
        }
    }
}

impl Add<usize> for Seq {
    type Output = Seq;
    fn add(self, n: usize) -> Seq {
        // Only the low 32 bits matter: sequence space wraps.
        Seq(self.0.wrapping_add(n as u32))
    }
}

impl Sub<usize> for Seq {
    type Output = Seq;
    fn sub(self, n: usize) -> Seq {
        Seq(self.0.wrapping_sub(n as u32))
    }
}

impl core::fmt::Display for Seq {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_compares_across_the_wrap() {
        let a = Seq(u32::MAX - 5);
        let b = a + 10;
        assert_eq!(b, Seq(4));
        assert!(a.lt(b) && b.gt(a) && a.le(a) && a.ge(a));
        assert_eq!(b.since(a), 10);
        assert_eq!(a.since(b), 0);
        assert!(Seq(3).in_range(a, b));
        assert!(!b.in_range(a, b));
        assert_eq!(a.max(b), b);
        assert_eq!(b - 10, a);
    }
}
