//! The virtual-time machinery: one event queue ordered by (time, sequence number), a
//! single-threaded FIFO executor, and [`SimRuntime`], the direct backend's runtime on it.
//!
//! Nothing here reads a clock or OS entropy; the order of everything is the order of the event
//! queue and the FIFO run queue, so a run is a function of its inputs.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
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
    /// A timer of [`SimRuntime::sleep_until`] fires (its sequence number, its host).
    Timer(u64, HostId),
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

/// An event on the queue, ordered by (time, sequence number) alone.
#[derive(Debug)]
struct Queued {
    at: Instant,
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The event queue: a min-heap on (time, sequence number), so events at the same instant run
/// in the order they were scheduled. Events live in the heap itself; a cancelled timer stays
/// there until it comes due and is skipped then (a timer is live while `timers` holds its
/// waker), so scheduling and popping touch nothing but the heap.
#[derive(Debug, Default)]
pub(crate) struct Events {
    heap: BinaryHeap<Reverse<Queued>>,
    next_seq: u64,
    /// Live timer events: sequence number → the waker to call.
    timers: BTreeMap<u64, Waker>,
    /// Events processed so far.
    pub(crate) processed: u64,
}

impl Events {
    pub(crate) fn schedule(&mut self, at: Instant, kind: EventKind) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Queued { at, seq, kind }));
        seq
    }

    /// Whether an event is still to happen (a timer not cancelled).
    fn live(&self, q: &Queued) -> bool {
        match q.kind {
            EventKind::Timer(seq, _) => self.timers.contains_key(&seq),
            EventKind::Frame { .. } | EventKind::Scheduled(_) => true,
        }
    }

    /// The earliest live event's time.
    pub(crate) fn next_time(&mut self) -> Option<Instant> {
        while let Some(Reverse(q)) = self.heap.peek() {
            if self.live(q) {
                return Some(q.at);
            }
            self.heap.pop();
        }
        None
    }

    /// Pops the earliest live event if it is due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, EventKind)> {
        loop {
            if self.heap.peek()?.0.at > now {
                return None;
            }
            let Reverse(q) = self.heap.pop()?;
            if self.live(&q) {
                self.processed += 1;
                return Some((q.at, q.kind));
            }
        }
    }

    fn cancel(&mut self, seq: u64) {
        self.timers.remove(&seq);
    }

    /// Events waiting (cancelled timers included until they come due).
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Wakes the timer `seq` (called when its event is popped).
    pub(crate) fn fire_timer(&mut self, seq: u64) {
        if let Some(w) = self.timers.remove(&seq) {
            w.wake();
        }
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
    seq: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.now.get() >= self.deadline {
            if let Some(seq) = self.seq.take() {
                self.shared.events.borrow_mut().cancel(seq);
            }
            return Poll::Ready(());
        }
        let mut events = self.shared.events.borrow_mut();
        let seq = match self.seq {
            Some(seq) => seq,
            None => {
                let seq = events.next_seq;
                events.schedule(self.deadline, EventKind::Timer(seq, self.host))
            }
        };
        events.timers.insert(seq, cx.waker().clone());
        drop(events);
        self.seq = Some(seq);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(seq) = self.seq.take()
            && let Ok(mut events) = self.shared.events.try_borrow_mut()
        {
            events.cancel(seq);
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
            seq: None,
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
        if !self.scheduled.swap(true, Ordering::Relaxed)
            && let Ok(mut q) = self.ready.lock()
        {
            q.push_back((self.slot, self.generation));
        }
    }
}

struct Slot {
    host: HostId,
    generation: u64,
    future: Task,
    waker: Arc<TaskWaker>,
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
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some(Slot {
                host,
                generation,
                future,
                waker,
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
            let waker = Waker::from(s.waker.clone());
            let mut cx = Context::from_waker(&waker);
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
