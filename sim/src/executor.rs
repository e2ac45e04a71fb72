//! The virtual-time machinery: one event queue ordered by (time, sequence number), a
//! single-threaded FIFO executor, and [`SimRuntime`], the direct backend's runtime on it.
//!
//! Nothing here reads a clock or OS entropy; the order of everything is the order of the event
//! queue and the FIFO run queue, so a run is a function of its inputs.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Wake;
use weft_core::Instant;
use weft_net::runtime::{Runtime, Task};

/// Which host a task or timer belongs to (its index in the simulation).
pub type HostId = usize;

/// What happens at an instant.
#[derive(Debug)]
pub(crate) enum EventKind {
    /// A timer of [`SimRuntime::sleep_until`] fires: its sequence number, its host and its
    /// slot in the timer table.
    Timer { seq: u64, host: HostId, slot: u32 },
    /// A frame finishes arriving at a link endpoint.
    Frame {
        endpoint: usize,
        frame: Vec<u8>,
        /// What its earlier hops learnt about it.
        tag: crate::fabric::FrameTag,
    },
    /// A scheduled fault or repair (index into the simulation's schedule).
    Scheduled(usize),
}

/// Empty per-instant queues kept for reuse, at most.
const SPARE_BUCKETS: usize = 64;

/// The smallest capacity of an empty queue worth keeping for reuse.
const SPARE_MIN_CAPACITY: usize = 16;

/// Cancelled timers' events left in the queue before it is compacted (and then only when they
/// outnumber the live events).
const COMPACT_AT: usize = 4096;

/// A timer table slot's sequence number while the slot is free.
const FREE: u64 = u64::MAX;

/// A live timer: the sequence number of its event and the waker to call.
#[derive(Debug)]
struct TimerSlot {
    seq: u64,
    waker: Option<Waker>,
}

/// The event queue, ordered by (time, sequence number): events at the same instant run in
/// the order they were scheduled.
///
/// Events are kept per distinct instant: an ordered map from instant to a FIFO queue. The
/// sequence number grows with every `schedule`, so appending to an instant's queue keeps it
/// in sequence order, and the order of events is exactly the (time, sequence) order of a
/// priority queue. Simulations put many events on few instants (every frame crossing a link
/// of fixed latency, every host's timers on a tick grid): scheduling is one search among the
/// pending instants (a few hundred, hot in the cache) and a push; popping takes the front of
/// the earliest queue. A priority queue over all events instead moved whole events through
/// log(events) cold heap levels on every pop.
///
/// Timers live in a table of slots (reused through a free list); a cancelled timer's event
/// stays queued and is skipped when it comes due (it is live while its slot still holds its
/// sequence number), unless cancelled events come to outnumber the live ones (and number at
/// least [`COMPACT_AT`]): then every queue drops them at once. A task that re-arms a long
/// timeout on every wake-up would otherwise leave one dead event per wake-up queued until
/// its instant; compaction keeps the queue within twice the live events (plus
/// [`COMPACT_AT`]) at amortised constant cost per cancellation, and keeps the order of the
/// live ones.
#[derive(Debug, Default)]
pub(crate) struct Events {
    instants: BTreeMap<Instant, VecDeque<(u64, EventKind)>>,
    /// Emptied queues of at least [`SPARE_MIN_CAPACITY`] slots, cleared, for the next new
    /// instant of an event other than a timer (at most [`SPARE_BUCKETS`]).
    spare: Vec<VecDeque<(u64, EventKind)>>,
    /// Events queued (cancelled timers included until they come due or are compacted).
    queued: usize,
    /// Of those, cancelled timers' events.
    cancelled: usize,
    /// Compactions so far.
    pub(crate) compactions: u64,
    next_seq: u64,
    /// Live timers by slot; free slots hold [`FREE`].
    timers: Vec<TimerSlot>,
    free_timers: Vec<u32>,
    /// Events processed so far.
    pub(crate) processed: u64,
}

impl Events {
    pub(crate) fn schedule(&mut self, at: Instant, kind: EventKind) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        // A timer's instant is usually its own (deadlines fall anywhere): it gets a new,
        // small queue, and the spare ones (large, recently read) go to the instants frames
        // arrive at, which many share.
        let timer = matches!(kind, EventKind::Timer { .. });
        let spare = &mut self.spare;
        self.instants
            .entry(at)
            .or_insert_with(|| {
                if timer {
                    VecDeque::new()
                } else {
                    spare.pop().unwrap_or_default()
                }
            })
            .push_back((seq, kind));
        self.queued += 1;
        seq
    }

    /// Removes the earliest instant's queue once it is empty.
    fn retire_front(&mut self) {
        if let Some(e) = self.instants.first_entry()
            && e.get().is_empty()
        {
            let mut q = e.remove();
            // Only queues that held many events are kept (a timer's own queue would hand a
            // frame instant four slots and then reallocate).
            if self.spare.len() < SPARE_BUCKETS && q.capacity() >= SPARE_MIN_CAPACITY {
                // Empty, but its ring would go on where the last event left: `clear` starts
                // the next instant's events at the front again (std's `clear` resets the
                // ring's start; a matter of speed only), in the lines this one's events were
                // just read from, not in lines untouched since the ring last came round.
                q.clear();
                self.spare.push(q);
            }
        }
    }

    /// The earliest live event's time (cancelled timers ahead of it are dropped).
    pub(crate) fn next_time(&mut self) -> Option<Instant> {
        loop {
            let Events {
                instants,
                timers,
                queued,
                cancelled,
                ..
            } = self;
            let mut e = instants.first_entry()?;
            let at = *e.key();
            let q = e.get_mut();
            while let Some((_, kind)) = q.front() {
                if live(timers, kind) {
                    return Some(at);
                }
                q.pop_front();
                *queued -= 1;
                *cancelled = cancelled.saturating_sub(1);
            }
            self.retire_front();
        }
    }

    /// Pops the earliest live event if it is due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, EventKind)> {
        loop {
            let mut e = self.instants.first_entry()?;
            let at = *e.key();
            if at > now {
                return None;
            }
            let q = e.get_mut();
            let popped = q.pop_front();
            let emptied = q.is_empty();
            if emptied {
                self.retire_front();
            }
            let Some((_, kind)) = popped else {
                continue;
            };
            self.queued -= 1;
            if live(&self.timers, &kind) {
                self.processed += 1;
                return Some((at, kind));
            }
            self.cancelled = self.cancelled.saturating_sub(1);
        }
    }

    /// Events waiting (cancelled timers included until they come due).
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    /// Takes a free timer slot for the timer `seq` (with its waker).
    fn add_timer(&mut self, seq: u64, waker: Waker) -> u32 {
        if let Some(slot) = self.free_timers.pop()
            && let Some(t) = self.timers.get_mut(slot as usize)
        {
            t.seq = seq;
            t.waker = Some(waker);
            return slot;
        }
        let slot = u32::try_from(self.timers.len()).unwrap_or(u32::MAX);
        self.timers.push(TimerSlot {
            seq,
            waker: Some(waker),
        });
        slot
    }

    /// Replaces the waker of the live timer `seq` in `slot`.
    fn rewake_timer(&mut self, seq: u64, slot: u32, waker: &Waker) {
        if let Some(t) = self.timers.get_mut(slot as usize)
            && t.seq == seq
            && !t.waker.as_ref().is_some_and(|w| w.will_wake(waker))
        {
            t.waker = Some(waker.clone());
        }
    }

    /// Frees the timer `seq`'s slot if it still holds it; returns its waker.
    fn take_timer(&mut self, seq: u64, slot: u32) -> Option<Waker> {
        let t = self.timers.get_mut(slot as usize)?;
        if t.seq != seq {
            return None;
        }
        t.seq = FREE;
        self.free_timers.push(slot);
        t.waker.take()
    }

    fn cancel(&mut self, seq: u64, slot: u32) {
        let queued = self.timers.get(slot as usize).is_some_and(|t| t.seq == seq);
        drop(self.take_timer(seq, slot));
        if queued {
            self.cancelled += 1;
            if self.cancelled >= COMPACT_AT && self.cancelled * 2 > self.queued {
                self.compact();
            }
        }
    }

    /// Drops every cancelled timer's event from the queues, keeping the order of the rest.
    fn compact(&mut self) {
        let Events {
            instants,
            timers,
            queued,
            cancelled,
            ..
        } = self;
        instants.retain(|_, q| {
            let before = q.len();
            q.retain(|(_, kind)| live(timers, kind));
            *queued -= before - q.len();
            !q.is_empty()
        });
        *cancelled = 0;
        self.compactions += 1;
    }

    /// Wakes the timer `seq` (called when its event is popped).
    pub(crate) fn fire_timer(&mut self, seq: u64, slot: u32) {
        if let Some(w) = self.take_timer(seq, slot) {
            w.wake();
        }
    }
}

/// Whether an event is still to happen (a timer not cancelled).
fn live(timers: &[TimerSlot], kind: &EventKind) -> bool {
    match kind {
        EventKind::Timer { seq, slot, .. } => {
            timers.get(*slot as usize).is_some_and(|t| t.seq == *seq)
        }
        EventKind::Frame { .. } | EventKind::Scheduled(_) => true,
    }
}

/// State shared by the simulation and every host's runtime.
pub(crate) struct Shared {
    pub(crate) now: Cell<Instant>,
    pub(crate) events: RefCell<Events>,
    /// Tasks spawned since the executor last looked.
    pub(crate) spawned: RefCell<Vec<(HostId, Task)>>,
    /// What the workloads sent and received, for the oracles.
    pub(crate) ledger: RefCell<crate::oracle::Ledger>,
}

impl core::fmt::Debug for Shared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared")
            .field("now", &self.now.get())
            .field("events", &self.events.borrow().len())
            .finish()
    }
}

impl Shared {
    pub(crate) fn new() -> Rc<Shared> {
        Rc::new(Shared {
            now: Cell::new(Instant::ZERO),
            events: RefCell::new(Events::default()),
            spawned: RefCell::new(Vec::new()),
            ledger: RefCell::new(crate::oracle::Ledger::default()),
        })
    }
}

/// The direct backend's runtime inside the simulator: virtual time, timers on the event
/// queue, tasks on the simulation's executor (tagged with their host, so a crash can end
/// them).
#[derive(Clone)]
pub struct SimRuntime {
    pub(crate) shared: Rc<Shared>,
    pub(crate) host: HostId,
}

impl core::fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimRuntime")
            .field("host", &self.host)
            .field("now", &self.shared.now.get())
            .finish()
    }
}

/// A timer on virtual time.
#[derive(Debug)]
pub struct Sleep {
    shared: Rc<Shared>,
    host: HostId,
    deadline: Instant,
    /// Its event's sequence number and its slot in the timer table, once polled.
    timer: Option<(u64, u32)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.now.get() >= self.deadline {
            if let Some((seq, slot)) = self.timer.take() {
                self.shared.events.borrow_mut().cancel(seq, slot);
            }
            return Poll::Ready(());
        }
        let mut events = self.shared.events.borrow_mut();
        match self.timer {
            Some((seq, slot)) => events.rewake_timer(seq, slot, cx.waker()),
            None => {
                let seq = events.next_seq;
                let slot = events.add_timer(seq, cx.waker().clone());
                let host = self.host;
                events.schedule(self.deadline, EventKind::Timer { seq, host, slot });
                drop(events);
                self.timer = Some((seq, slot));
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((seq, slot)) = self.timer.take()
            && let Ok(mut events) = self.shared.events.try_borrow_mut()
        {
            events.cancel(seq, slot);
        }
    }
}

impl Runtime for SimRuntime {
    type Sleep = Sleep;

    fn now(&self) -> Instant {
        self.shared.now.get()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            shared: self.shared.clone(),
            host: self.host,
            deadline,
            timer: None,
        }
    }

    fn spawn(&self, task: Task) {
        self.shared.spawned.borrow_mut().push((self.host, task));
    }
}

struct TaskWaker {
    slot: usize,
    generation: u64,
    scheduled: AtomicBool,
    ready: Arc<Mutex<VecDeque<(usize, u64)>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // A task already queued is not queued again, and a plain load tells so without the
        // locked read-modify-write (a host's driver is woken by every socket operation of
        // its host's tasks, often while it is queued already).
        if !self.scheduled.load(Ordering::Relaxed)
            && !self.scheduled.swap(true, Ordering::Relaxed)
            && let Ok(mut q) = self.ready.lock()
        {
            q.push_back((self.slot, self.generation));
        }
    }
}

/// One task's entry, one cache line each (56 bytes, aligned): polling a task whose entry
/// has left the caches — with thousands of tasks, most of them — costs one line, never two.
#[repr(align(64))]
struct Slot {
    host: HostId,
    generation: u64,
    future: Task,
    waker: Arc<TaskWaker>,
    /// `waker` as a `Waker`, made once: polling lends it, no reference count moves.
    as_waker: Waker,
}

/// A FIFO executor of `!Send` tasks. Wakers are `Send` as `Waker` demands, but every task
/// runs on the simulation's thread, in the order it was woken.
pub(crate) struct Executor {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    ready: Arc<Mutex<VecDeque<(usize, u64)>>>,
    next_generation: u64,
    /// Polls so far.
    pub(crate) polls: u64,
}

impl core::fmt::Debug for Executor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Executor")
            .field("tasks", &self.live())
            .field("polls", &self.polls)
            .finish()
    }
}

impl Executor {
    pub(crate) fn new() -> Executor {
        Executor {
            slots: Vec::new(),
            free: Vec::new(),
            ready: Arc::new(Mutex::new(VecDeque::new())),
            next_generation: 0,
            polls: 0,
        }
    }

    /// Live tasks.
    pub(crate) fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    fn insert(&mut self, host: HostId, future: Task) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let generation = self.next_generation;
        self.next_generation += 1;
        let waker = Arc::new(TaskWaker {
            slot,
            generation,
            scheduled: AtomicBool::new(false),
            ready: self.ready.clone(),
        });
        waker.wake_by_ref();
        let as_waker = Waker::from(waker.clone());
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some(Slot {
                host,
                generation,
                future,
                waker,
                as_waker,
            });
        }
    }

    /// Ends every task of `host` (a crash): their futures are dropped unpolled.
    pub(crate) fn kill_host(&mut self, host: HostId) -> usize {
        let mut killed = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.as_ref().is_some_and(|s| s.host == host)
                && let Some(slot) = s.take()
            {
                killed.push(slot);
                self.free.push(i);
            }
        }
        let n = killed.len();
        // Dropping a future may drop handles whose destructors touch shared state; do it
        // after the slots are consistent.
        drop(killed);
        n
    }

    /// Runs tasks until none is ready: takes newly spawned tasks, then polls woken ones in
    /// FIFO order. Returns the number of polls.
    pub(crate) fn run_until_idle(&mut self, shared: &Shared) -> u64 {
        let mut polls = 0;
        loop {
            let spawned: Vec<(HostId, Task)> = std::mem::take(&mut *shared.spawned.borrow_mut());
            for (host, task) in spawned {
                self.insert(host, task);
            }
            let next = self.ready.lock().ok().and_then(|mut q| q.pop_front());
            let Some((slot, generation)) = next else {
                if shared.spawned.borrow().is_empty() {
                    return polls;
                }
                continue;
            };
            let Some(Some(s)) = self.slots.get_mut(slot) else {
                continue;
            };
            if s.generation != generation {
                continue;
            }
            s.waker.scheduled.store(false, Ordering::Relaxed);
            let mut cx = Context::from_waker(&s.as_waker);
            polls += 1;
            self.polls += 1;
            if s.future.as_mut().poll(&mut cx).is_ready()
                && let Some(slot_ref) = self.slots.get_mut(slot)
            {
                let done = slot_ref.take();
                self.free.push(slot);
                drop(done);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arms a timer at `at` on host 0; returns its (seq, slot).
    fn arm(e: &mut Events, at: Instant) -> (u64, u32) {
        let seq = e.next_seq;
        let slot = e.add_timer(seq, Waker::noop().clone());
        e.schedule(at, EventKind::Timer { seq, host: 0, slot });
        (seq, slot)
    }

    /// An emptied queue that held many events is kept for the next new instant of a frame
    /// (or other non-timer) event, cleared; a timer's new instant gets a queue of its own,
    /// whose small queue is not kept when it empties; the order of events is (time, sequence)
    /// throughout.
    #[test]
    fn executor_spare_queues_go_to_frame_instants_not_timers() {
        let mut e = Events::default();
        let t = |ms| Instant::from_millis(ms);
        for i in 0..20 {
            e.schedule(t(1), EventKind::Scheduled(i));
        }
        let popped: Vec<_> = core::iter::from_fn(|| e.pop_due(t(1))).collect();
        assert_eq!(popped.len(), 20);
        assert!(matches!(popped.last(), Some((_, EventKind::Scheduled(19)))));
        assert_eq!(e.spare.len(), 1, "the emptied 20-event queue is kept");
        // A timer's instant does not take it.
        let (seq, slot) = arm(&mut e, t(5));
        assert_eq!(e.spare.len(), 1);
        // A non-timer instant does, cleared (its events start at the front).
        e.schedule(t(3), EventKind::Scheduled(100));
        assert!(e.spare.is_empty());
        let q = e.instants.get(&t(3)).unwrap();
        assert!(q.capacity() >= SPARE_MIN_CAPACITY && q.len() == 1);
        assert!(matches!(
            q.as_slices().0.first(),
            Some((_, EventKind::Scheduled(100)))
        ));
        // In time order; the timer's small queue is not kept once it empties.
        assert!(matches!(e.pop_due(t(5)), Some((at, EventKind::Scheduled(100))) if at == t(3)));
        assert!(
            matches!(e.pop_due(t(5)), Some((at, EventKind::Timer { seq: s, .. })) if at == t(5) && s == seq)
        );
        e.fire_timer(seq, slot);
        assert_eq!(
            e.spare.len(),
            1,
            "the frame instant's queue again, not the timer's"
        );
        assert!(
            e.spare
                .iter()
                .all(|q| q.capacity() >= SPARE_MIN_CAPACITY && q.is_empty())
        );
    }

    #[test]
    fn executor_task_entries_are_one_cache_line() {
        assert_eq!(core::mem::size_of::<Option<Slot>>(), 64);
        assert_eq!(core::mem::align_of::<Option<Slot>>(), 64);
    }

    #[test]
    fn executor_cancelled_timers_are_compacted_and_live_order_kept() {
        let mut e = Events::default();
        // Live timers at a few instants, several per instant.
        let mut live = Vec::new();
        for i in 0..40u64 {
            live.push((
                Instant::from_millis(10 + i % 4),
                arm(&mut e, Instant::from_millis(10 + i % 4)).0,
            ));
        }
        // A task re-arming a 600 s timeout on every wake-up: arm, cancel, 100,000 times.
        for i in 0..100_000u64 {
            let (seq, slot) = arm(&mut e, Instant::from_secs(600 + i % 7));
            e.cancel(seq, slot);
            assert!(
                e.len() <= 2 * live.len() + COMPACT_AT + 1,
                "{} events queued for {} live after {i} cancellations",
                e.len(),
                live.len()
            );
        }
        assert!(
            e.compactions >= 100_000 / COMPACT_AT as u64 - 1,
            "{}",
            e.compactions
        );
        // The live timers come due in (time, sequence) order, and nothing else does.
        live.sort();
        let mut fired = Vec::new();
        while let Some((at, kind)) = e.pop_due(Instant::from_secs(10_000)) {
            let EventKind::Timer { seq, slot, .. } = kind else {
                panic!("only timers were queued");
            };
            e.fire_timer(seq, slot);
            fired.push((at, seq));
        }
        assert_eq!(fired, live);
        assert_eq!(e.len(), 0);
    }
}
