//! The global deadline set (DESIGN.md, "Timers that scale"): every owner of timers (an ARP
//! cache, the reassembly buffer, a DHCP client, later each TCP connection) keeps its own
//! fixed table of deadlines and reports its earliest one here whenever it moves. The stack's
//! `poll_timeout` is then the first element of an ordered set: O(log n), never a scan.

use crate::time::Instant;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

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

/// TCP slab indexes below this keep their deadline in a vector indexed by slab index (the
/// slab reuses freed indexes, so the vector grows only to the connection limit); a larger
/// index, which the stack never hands out, falls back to the ordered map.
const DENSE_TCP: u32 = 1 << 24;

/// Earliest deadline per owner, and the same set ordered by time.
#[derive(Debug, Default, Clone)]
pub struct Deadlines {
    /// Owners other than TCP connections (a few per interface), and TCP indexes from
    /// `DENSE_TCP` up.
    by_owner: BTreeMap<TimerOwner, Instant>,
    /// TCP connections' deadlines by slab index: looking one up is O(1), so re-setting an
    /// unchanged deadline (the common case: most segments leave the RTO where it was) costs
    /// no ordered-set work at all.
    tcp: Vec<Option<Instant>>,
    ordered: BTreeSet<(Instant, TimerOwner)>,
    /// Ordered-set operations performed (for operation-count tests: they must not grow with
    /// the number of owners beyond O(log n)).
    pub ops: u64,
}

impl Deadlines {
    /// The dense slot of a TCP owner, if it has one; with `grow`, the vector is extended to
    /// hold it.
    fn tcp_slot(&mut self, owner: TimerOwner, grow: bool) -> Option<&mut Option<Instant>> {
        let TimerOwner::Tcp(i) = owner else {
            return None;
        };
        if i >= DENSE_TCP {
            return None;
        }
        let i = usize::try_from(i).ok()?;
        if grow && self.tcp.len() <= i {
            self.tcp.resize(i + 1, None);
        }
        self.tcp.get_mut(i)
    }

    /// `owner`'s deadline, if it has one.
    pub fn get(&self, owner: TimerOwner) -> Option<Instant> {
        match owner {
            TimerOwner::Tcp(i) if i < DENSE_TCP => usize::try_from(i)
                .ok()
                .and_then(|i| self.tcp.get(i).copied().flatten()),
            _ => self.by_owner.get(&owner).copied(),
        }
    }

    /// Sets (or, with `None`, clears) `owner`'s earliest deadline. An unchanged deadline
    /// costs one lookup and no ordered-set operation.
    pub fn set(&mut self, owner: TimerOwner, at: Option<Instant>) {
        let old = if matches!(owner, TimerOwner::Tcp(i) if i < DENSE_TCP) {
            let Some(slot) = self.tcp_slot(owner, at.is_some()) else {
                // Clearing an index never set: nothing to do.
                return;
            };
            if *slot == at {
                return;
            }
            core::mem::replace(slot, at)
        } else {
            let old = self.by_owner.get(&owner).copied();
            if old == at {
                return;
            }
            match at {
                Some(t) => self.by_owner.insert(owner, t),
                None => self.by_owner.remove(&owner),
            };
            old
        };
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
        match self.tcp_slot(owner, false) {
            Some(slot) => *slot = None,
            None => {
                self.by_owner.remove(&owner);
            }
        }
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

    #[test]
    fn timer_tcp_owners_unchanged_deadline_costs_no_ops() {
        let mut d = Deadlines::default();
        d.set(TimerOwner::Tcp(7), Some(Instant::from_secs(4)));
        d.set(TimerOwner::Tcp(u32::MAX), Some(Instant::from_secs(2)));
        d.set(TimerOwner::Arp(0), Some(Instant::from_secs(3)));
        let ops = d.ops;
        // The same deadline again, and clearing owners that have none: no ordered-set work.
        d.set(TimerOwner::Tcp(7), Some(Instant::from_secs(4)));
        d.set(TimerOwner::Tcp(u32::MAX), Some(Instant::from_secs(2)));
        d.set(TimerOwner::Arp(0), Some(Instant::from_secs(3)));
        d.set(TimerOwner::Tcp(1000), None);
        d.set(TimerOwner::Reassembly, None);
        assert_eq!(d.ops, ops);
        assert_eq!(d.get(TimerOwner::Tcp(7)), Some(Instant::from_secs(4)));
        assert_eq!(d.get(TimerOwner::Tcp(1000)), None);
        // Moving one replaces its entry in the ordered set.
        d.set(TimerOwner::Tcp(7), Some(Instant::from_secs(1)));
        assert_eq!(d.ops, ops + 2);
        assert_eq!(d.len(), 3);
        assert_eq!(d.next(), Some(Instant::from_secs(1)));
        let s = Instant::from_secs(5);
        assert_eq!(d.pop_due(s), Some(TimerOwner::Tcp(7)));
        assert_eq!(d.get(TimerOwner::Tcp(7)), None);
        assert_eq!(d.pop_due(s), Some(TimerOwner::Tcp(u32::MAX)));
        assert_eq!(d.get(TimerOwner::Tcp(u32::MAX)), None);
        assert_eq!(d.pop_due(s), Some(TimerOwner::Arp(0)));
        assert!(d.is_empty());
        // A popped owner set again to its old instant is back in the set.
        d.set(TimerOwner::Tcp(7), Some(Instant::from_secs(1)));
        assert_eq!(d.next(), Some(Instant::from_secs(1)));
    }
}
