//! The global deadline set (DESIGN.md, "Timers that scale"): every owner of timers (an ARP
//! cache, the reassembly buffer, a DHCP client, later each TCP connection) keeps its own
//! fixed table of deadlines and reports its earliest one here whenever it moves. The stack's
//! `poll_timeout` is then the top of a binary heap: O(1) to read, never a scan.
//!
//! The heap is updated lazily. Each owner's current deadline lives in its own slot (a
//! vector indexed by slab index for TCP connections, a small ordered map for the rest) with
//! a stamp; the owner's heap entry carries the same stamp. An entry whose stamp its owner no
//! longer holds is stale; an entry with the right stamp may lag, holding an earlier instant
//! than the owner's deadline, never a later one. So:
//!
//! * a deadline moved later (the common case: a connection's RTO re-armed by every ACK) only
//!   updates the slot: no heap work, unless the entry is on top;
//! * a deadline moved earlier (or set anew) pushes a new entry with a new stamp, which the
//!   old one, now stale, leaves to be dropped;
//! * a cleared deadline only clears the slot.
//!
//! After every change the top is made exact: a stale top is popped, a lagging one is popped
//! and pushed back at its owner's deadline, until the top holds a live owner's exact
//! deadline.
//! Every other live owner's entry holds an instant no later than its deadline, so the top is
//! the earliest deadline (ties by owner) and `next` is a read. Stale entries left deep in the
//! heap are dropped all at once when they outnumber the live ones (the heap is rebuilt from
//! the live entries: O(n) once per more than n pushes, so O(1) per push amortised; the heap
//! never holds more than twice the live deadlines plus [`COMPACT_SLACK`]). Ordered B-trees
//! did a search, a remove and an insert through cold nodes on every move instead.

use crate::time::Instant;
use alloc::collections::{BTreeMap, BinaryHeap};
use alloc::vec::Vec;
use core::cmp::Reverse;

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

/// Stale heap entries tolerated beyond the number of live ones before the heap is rebuilt.
pub const COMPACT_SLACK: usize = 64;

/// An owner's current deadline and the stamp of its heap entry; stamp 0: no deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    at: Instant,
    stamp: u64,
}

impl Slot {
    fn deadline(self) -> Option<Instant> {
        (self.stamp != 0).then_some(self.at)
    }
}

/// `owner`'s slot in `tcp` or `by_owner` (a copy; no deadline when it has none).
fn slot_of(tcp: &[Slot], by_owner: &BTreeMap<TimerOwner, Slot>, owner: TimerOwner) -> Slot {
    match owner {
        TimerOwner::Tcp(i) if i < DENSE_TCP => usize::try_from(i)
            .ok()
            .and_then(|i| tcp.get(i).copied())
            .unwrap_or_default(),
        _ => by_owner.get(&owner).copied().unwrap_or_default(),
    }
}

/// A heap entry: ordered by (deadline, owner) — among live entries there is one per owner,
/// so the stamp never decides the order of live entries.
type Entry = (Instant, TimerOwner, u64);

/// Earliest deadline per owner, and the same set ordered by time.
#[derive(Debug, Default, Clone)]
pub struct Deadlines {
    /// Owners other than TCP connections (a few per interface), and TCP indexes from
    /// `DENSE_TCP` up.
    by_owner: BTreeMap<TimerOwner, Slot>,
    /// TCP connections' deadlines by slab index: looking one up is O(1), so re-setting an
    /// unchanged deadline (the common case: most segments leave the RTO where it was) costs
    /// no heap work at all.
    tcp: Vec<Slot>,
    /// Every deadline set, live or stale, earliest on top; the top is always live.
    heap: BinaryHeap<Reverse<Entry>>,
    /// Owners with a deadline.
    live: usize,
    /// The stamp of the next entry pushed (stamps start at 1).
    next_stamp: u64,
    /// Heap operations performed: pushes and pops (of a due owner, a stale entry, or a
    /// lagging one, which is pushed back). For operation-count tests: they must not grow
    /// with the number of owners. Rebuilds are counted apart, in `compacted`.
    pub ops: u64,
    /// Stale entries dropped by rebuilding the heap (each was pushed once, counted in
    /// `ops`; never more than `ops`).
    pub compacted: u64,
}

impl Deadlines {
    /// The dense slot of a TCP owner, if it has one; with `grow`, the vector is extended to
    /// hold it.
    fn tcp_slot(&mut self, owner: TimerOwner, grow: bool) -> Option<&mut Slot> {
        let TimerOwner::Tcp(i) = owner else {
            return None;
        };
        if i >= DENSE_TCP {
            return None;
        }
        let i = usize::try_from(i).ok()?;
        if grow && self.tcp.len() <= i {
            self.tcp.resize(i + 1, Slot::default());
        }
        self.tcp.get_mut(i)
    }

    /// `owner`'s slot (a copy; no deadline when it has none).
    fn slot(&self, owner: TimerOwner) -> Slot {
        slot_of(&self.tcp, &self.by_owner, owner)
    }

    /// `owner`'s deadline, if it has one.
    pub fn get(&self, owner: TimerOwner) -> Option<Instant> {
        self.slot(owner).deadline()
    }

    /// Sets (or, with `None`, clears) `owner`'s earliest deadline. An unchanged deadline
    /// costs one lookup and no heap operation; so does a deadline moved later or cleared,
    /// unless the owner's entry is on top (it is then pushed back or dropped); a deadline
    /// moved earlier pushes one entry.
    pub fn set(&mut self, owner: TimerOwner, at: Option<Instant>) {
        let old = self.slot(owner);
        if old.deadline() == at {
            return;
        }
        let new = match at {
            None => Slot::default(),
            // Later: the owner's entry stays where it is, at the earlier instant, and is
            // moved to the new one only when it reaches the top.
            Some(t) if old.stamp != 0 && t > old.at => Slot {
                at: t,
                stamp: old.stamp,
            },
            Some(t) => {
                self.next_stamp += 1;
                self.heap.push(Reverse((t, owner, self.next_stamp)));
                self.ops += 1;
                Slot {
                    at: t,
                    stamp: self.next_stamp,
                }
            }
        };
        if matches!(owner, TimerOwner::Tcp(i) if i < DENSE_TCP) {
            if let Some(slot) = self.tcp_slot(owner, at.is_some()) {
                *slot = new;
            }
        } else if at.is_some() {
            self.by_owner.insert(owner, new);
        } else {
            self.by_owner.remove(&owner);
        }
        match (old.stamp != 0, at.is_some()) {
            (false, true) => self.live += 1,
            (true, false) => self.live -= 1,
            _ => {}
        }
        self.settle();
    }

    /// Restores the heap's invariants after a change: the top entry is live and holds its
    /// owner's deadline exactly, and stale entries are at most as many as live ones plus
    /// [`COMPACT_SLACK`].
    fn settle(&mut self) {
        let Deadlines {
            by_owner,
            tcp,
            heap,
            ops,
            ..
        } = self;
        if heap.len() > 2 * self.live + COMPACT_SLACK {
            let before = heap.len();
            let mut entries = core::mem::take(heap).into_vec();
            entries.retain_mut(|Reverse((t, owner, stamp))| {
                let slot = slot_of(tcp, by_owner, *owner);
                *t = slot.at;
                slot.stamp == *stamp
            });
            self.compacted += (before - entries.len()) as u64;
            *heap = BinaryHeap::from(entries);
        }
        while let Some(&Reverse((t, owner, stamp))) = heap.peek() {
            let slot = slot_of(tcp, by_owner, owner);
            if slot.stamp == stamp && slot.at == t {
                break;
            }
            // Stale (cleared, or moved earlier: a newer entry holds it), or lagging (moved
            // later while the entry waited): off the top. A lagging entry goes back at its
            // owner's deadline: popped and pushed, not sifted down in place — a pop walks
            // the heap's depth with one comparison per level, where a sift-down takes two,
            // and a later deadline pushed stays near the bottom.
            heap.pop();
            *ops += 1;
            if slot.stamp == stamp {
                heap.push(Reverse((slot.at, owner, stamp)));
                *ops += 1;
            }
        }
    }

    /// The earliest deadline of all owners.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Removes and returns an owner whose deadline is at or before `now`, earliest first (the
    /// top is exact: see `settle`).
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerOwner> {
        let &Reverse((t, owner, _)) = self.heap.peek()?;
        if t > now {
            return None;
        }
        self.heap.pop();
        self.ops += 1;
        match self.tcp_slot(owner, false) {
            Some(slot) => *slot = Slot::default(),
            None => {
                self.by_owner.remove(&owner);
            }
        }
        self.live -= 1;
        self.settle();
        Some(owner)
    }

    /// Number of owners with a deadline.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no owner has a deadline.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Heap entries held, live and stale (at most twice [`Deadlines::len`] plus
    /// [`COMPACT_SLACK`]).
    pub fn heap_len(&self) -> usize {
        self.heap.len()
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
        // Moving one pushes its new entry (the old one stays behind, stale).
        d.set(TimerOwner::Tcp(7), Some(Instant::from_secs(1)));
        assert_eq!(d.ops, ops + 1);
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

    /// A deterministic xorshift64 stream for the model test.
    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn timer_heap_matches_an_ordered_set_model() {
        use alloc::collections::BTreeSet;
        for seed in [1u64, 7, 0x5eed] {
            std::println!("seed {seed}");
            let mut x = seed;
            let mut d = Deadlines::default();
            let mut model: BTreeMap<TimerOwner, Instant> = BTreeMap::new();
            let mut now = Instant::ZERO;
            for _ in 0..20_000 {
                let r = xorshift(&mut x);
                let owner = match r % 7 {
                    0 => TimerOwner::Arp((r >> 8) as u8 % 2),
                    1 => TimerOwner::Reassembly,
                    2 => TimerOwner::Tcp(DENSE_TCP + (r >> 8) as u32 % 3),
                    _ => TimerOwner::Tcp((r >> 8) as u32 % 50),
                };
                match (r >> 16) % 10 {
                    0 | 1 => {
                        d.set(owner, None);
                        model.remove(&owner);
                    }
                    2 => {
                        now = now + crate::time::Duration::from_millis((r >> 24) % 50);
                        loop {
                            let want = model
                                .iter()
                                .map(|(o, t)| (*t, *o))
                                .collect::<BTreeSet<_>>()
                                .first()
                                .copied()
                                .filter(|(t, _)| *t <= now);
                            let got = d.pop_due(now);
                            assert_eq!(got, want.map(|(_, o)| o));
                            let Some((_, o)) = want else { break };
                            model.remove(&o);
                        }
                    }
                    _ => {
                        // Mostly within 200 ms, sometimes seconds ahead, at microsecond
                        // resolution.
                        let span = if (r >> 40).is_multiple_of(8) {
                            5_000_000
                        } else {
                            200_000
                        };
                        let t = now + crate::time::Duration::from_micros((r >> 24) % span);
                        d.set(owner, Some(t));
                        model.insert(owner, t);
                    }
                }
                assert_eq!(d.len(), model.len());
                assert_eq!(d.next(), model.values().min().copied());
                assert_eq!(d.get(owner), model.get(&owner).copied());
                assert!(d.heap_len() <= 2 * d.len() + COMPACT_SLACK);
            }
            assert!(d.compacted <= d.ops, "{} > {}", d.compacted, d.ops);
        }
    }

    /// Heap work for one TCP owner's deadline (the earliest) moving later, moving earlier and
    /// being cleared, then for another owner's (not the earliest) moving later, with `n` other
    /// owners holding deadlines; and the heap work, rebuilds included, of moving every owner's
    /// deadline `rounds` times.
    fn heap_costs(n: u32, rounds: u32) -> ([u64; 4], u64) {
        let mut d = Deadlines::default();
        let s = Instant::from_secs;
        for i in 1..=n {
            d.set(TimerOwner::Tcp(i), Some(s(100 + u64::from(i))));
        }
        d.set(TimerOwner::Tcp(0), Some(s(50)));
        let mut costs = [0; 4];
        let moves = [
            (0, Some(s(60))),
            (0, Some(s(10))),
            (0, None),
            (n / 2, Some(s(1_000_000))),
        ];
        for (cost, (owner, at)) in costs.iter_mut().zip(moves) {
            let before = d.ops;
            d.set(TimerOwner::Tcp(owner), at);
            *cost = d.ops - before;
        }
        let before = d.ops + d.compacted;
        // Each round moves every owner to a scattered instant: earlier for some, later for
        // others.
        for r in 0..rounds {
            for i in 1..=n {
                let spread = (i.wrapping_mul(2_654_435_761) ^ r.wrapping_mul(40_503)) % (3 * n);
                d.set(TimerOwner::Tcp(i), Some(s(1000 + u64::from(spread))));
            }
        }
        assert!(d.heap_len() <= 2 * d.len() + COMPACT_SLACK);
        (costs, d.ops + d.compacted - before)
    }

    #[test]
    fn timer_heap_work_does_not_grow_with_owners() {
        let mut per_move = Vec::new();
        for n in [10, 10_000, 100_000] {
            let (costs, total) = heap_costs(n, 4);
            // Later, the earliest owner: its entry, on top, is popped and pushed back. Earlier:
            // one push. Cleared: the top (the owner's) is stale now and popped; the next top,
            // the owner's entry from before it moved earlier, is stale too and popped. Later,
            // an owner not on top: no heap work at all.
            assert_eq!(costs, [2, 1, 2, 0], "{n} owners");
            per_move.push(total as f64 / f64::from(4 * n));
        }
        // At most a push per move, each push dropped once (popped or rebuilt away), and a
        // lagging entry popped and pushed back at most once per move that made it lag.
        for m in &per_move {
            assert!(*m <= 4.0, "{per_move:?}");
        }
    }
}
