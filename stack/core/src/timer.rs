//! The global deadline set (DESIGN.md, "Timers that scale"): every owner of timers (an ARP
//! cache, the reassembly buffer, a DHCP client, later each TCP connection) keeps its own
//! fixed table of deadlines and reports its earliest one here whenever it moves. The stack's
//! `poll_timeout` is then the first element of an ordered set: O(log n), never a scan.

use crate::time::Instant;
use alloc::collections::{BTreeMap, BTreeSet};

/// Who owns a deadline. Ordered, so owners due at the same instant fire in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerOwner {
    /// The ARP cache and pending resolutions of an interface.
    Arp(u8),
    /// The IPv4 reassembly buffer.
    Reassembly,
    /// The DHCP client of an interface.
    Dhcp(u8),
    /// The ICMP error rate limiter's refill.
    IcmpRate,
    /// A TCP connection (its slab index).
    Tcp(u32),
}

/// Earliest deadline per owner, and the same set ordered by time.
#[derive(Debug, Default, Clone)]
pub struct Deadlines {
    by_owner: BTreeMap<TimerOwner, Instant>,
    ordered: BTreeSet<(Instant, TimerOwner)>,
    /// Ordered-set operations performed (for operation-count tests: they must not grow with
    /// the number of owners beyond O(log n)).
    pub ops: u64,
}

impl Deadlines {
    /// Sets (or, with `None`, clears) `owner`'s earliest deadline.
    pub fn set(&mut self, owner: TimerOwner, at: Option<Instant>) {
        let old = match at {
            Some(t) => self.by_owner.insert(owner, t),
            None => self.by_owner.remove(&owner),
        };
        if old == at {
            return;
        }
        if let Some(t) = old {
            self.ordered.remove(&(t, owner));
            self.ops += 1;
        }
        if let Some(t) = at {
            self.ordered.insert((t, owner));
            self.ops += 1;
        }
    }

    /// The earliest deadline of all owners.
    pub fn next(&self) -> Option<Instant> {
        self.ordered.first().map(|(t, _)| *t)
    }

    /// Removes and returns an owner whose deadline is at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerOwner> {
        let &(t, owner) = self.ordered.first()?;
        if t > now {
            return None;
        }
        self.ordered.remove(&(t, owner));
        self.by_owner.remove(&owner);
        self.ops += 1;
        Some(owner)
    }

    /// Number of owners with a deadline.
    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    /// True when no owner has a deadline.
    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_deadlines_order_and_move() {
        let mut d = Deadlines::default();
        d.set(TimerOwner::Arp(0), Some(Instant::from_secs(5)));
        d.set(TimerOwner::Reassembly, Some(Instant::from_secs(3)));
        d.set(TimerOwner::Dhcp(0), Some(Instant::from_secs(3)));
        assert_eq!(d.next(), Some(Instant::from_secs(3)));
        // Moving a deadline replaces the old one.
        d.set(TimerOwner::Reassembly, Some(Instant::from_secs(9)));
        assert_eq!(d.len(), 3);
        assert_eq!(d.pop_due(Instant::from_secs(2)), None);
        assert_eq!(d.pop_due(Instant::from_secs(6)), Some(TimerOwner::Dhcp(0)));
        assert_eq!(d.pop_due(Instant::from_secs(6)), Some(TimerOwner::Arp(0)));
        assert_eq!(d.pop_due(Instant::from_secs(6)), None);
        d.set(TimerOwner::Reassembly, None);
        assert!(d.is_empty());
    }
}
