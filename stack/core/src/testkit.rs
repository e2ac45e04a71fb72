//! A small in-memory network for the core's tests: stacks wired together on virtual time,
//! every frame written to a pcap, and explicit controls to drop a given frame or detach a
//! host. (Random fault models are the simulator's, not this testkit's.)
//!
//! Time only moves when the testkit moves it: `run_until` jumps from event to event (the
//! next frame arrival or the next stack timer), so a test of a 1-hour DHCP lease runs in
//! milliseconds.
//!
//! Host ids come from the test itself: a wrong one is a bug in the test and panics, which is
//! why this module (test infrastructure, never in a deployed stack) indexes freely.
#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)]

use crate::config::{IfaceId, StackConfig};
use crate::event::Event;
use crate::link::{RxMeta, TxMeta};
use crate::stack::Stack;
use crate::time::{Duration, Instant};
use std::collections::{BTreeMap, VecDeque};
use std::vec::Vec;

/// Frames kept for `pcap` and `frames` (the testkit is for tests, not floods).
const MAX_RECORDED: usize = 1_000_000;

/// A host in the testkit.
pub type HostId = usize;

/// Code run on a host after every step (an application: a DHCP server, an echo responder).
pub type App = Box<dyn FnMut(&mut Stack, Instant)>;

impl Stack {
    /// Sets the link metadata of every frame queued for transmission now to `meta(frame)`;
    /// returns how many frames it set. The stack computes every checksum itself and so
    /// queues its frames with `TxMeta::default()`: this lets a test check that a driver
    /// hands each frame's own metadata to its link (the seam a virtio-net header needs).
    /// Call [`Stack::peek_transmit`] first to queue the pending TCP segments too.
    pub fn testkit_set_queued_meta(&mut self, mut meta: impl FnMut(&[u8]) -> TxMeta) -> usize {
        for f in self.tx.iter_mut() {
            f.meta = meta(&f.bytes);
        }
        self.tx.len()
    }
}

/// A broadcast segment (a hub): every frame sent by one attachment reaches all the others
/// after `latency`. Stacks filter by MAC themselves.
#[derive(Debug, Clone)]
struct Segment {
    ports: Vec<(HostId, IfaceId)>,
    latency: Duration,
}

#[derive(Debug, Clone)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: (HostId, IfaceId),
    frame: Vec<u8>,
}

/// What a test asks the testkit to drop.
#[derive(Debug, Clone)]
pub struct DropRule {
    /// Drop the `nth` (0-based) frame sent by this host matching `matches`.
    pub host: HostId,
    /// Which matching frame.
    pub nth: usize,
    /// A predicate over the frame's bytes.
    pub matches: fn(&[u8]) -> bool,
    seen: usize,
}

impl DropRule {
    /// Drops the `nth` frame from `host` for which `matches` is true.
    pub fn new(host: HostId, nth: usize, matches: fn(&[u8]) -> bool) -> Self {
        DropRule {
            host,
            nth,
            matches,
            seen: 0,
        }
    }
}

struct Host {
    name: String,
    stack: Stack,
    attached: bool,
    app: Option<App>,
    events: Vec<(Instant, Event)>,
}

/// Stacks wired together on virtual time.
pub struct TestNet {
    now: Instant,
    hosts: Vec<Host>,
    segments: Vec<Segment>,
    in_flight: BTreeMap<(Instant, u64), InFlight>,
    seq: u64,
    drops: Vec<DropRule>,
    /// Frames dropped by drop rules.
    pub dropped: usize,
    /// Frames delivered.
    pub delivered: usize,
    /// Every frame sent (timestamp ns, bytes), up to `MAX_RECORDED`.
    recorded: Vec<(u64, Vec<u8>)>,
    log: VecDeque<String>,
    /// Drain hosts as a link that sizes each frame first does: `peek_transmit_len`, then
    /// `poll_transmit` (which queues TCP's segments instead of writing them straight out).
    peek_first: bool,
}

impl core::fmt::Debug for TestNet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestNet")
            .field("now", &self.now)
            .field("hosts", &self.hosts.len())
            .finish()
    }
}

impl Default for TestNet {
    fn default() -> Self {
        Self::new()
    }
}

impl TestNet {
    /// An empty network at time zero.
    pub fn new() -> Self {
        TestNet {
            now: Instant::ZERO,
            hosts: Vec::new(),
            segments: Vec::new(),
            in_flight: BTreeMap::new(),
            seq: 0,
            drops: Vec::new(),
            dropped: 0,
            delivered: 0,
            recorded: Vec::new(),
            log: VecDeque::new(),
            peek_first: false,
        }
    }

    /// With `true`, every host is drained with `peek_transmit_len` before each
    /// `poll_transmit`, as a link that sizes its buffer first does: the stack then queues
    /// its TCP segments (bounded by `Limits::tx_queue_frames`) instead of writing each one
    /// straight into the caller's buffer.
    pub fn set_peek_first(&mut self, on: bool) {
        self.peek_first = on;
    }

    /// Adds a host built from `config` at the current time.
    pub fn add_host(&mut self, name: &str, config: StackConfig) -> HostId {
        let stack = Stack::new(config, self.now).expect("testkit host configuration is valid");
        self.hosts.push(Host {
            name: name.into(),
            stack,
            attached: true,
            app: None,
            events: Vec::new(),
        });
        self.hosts.len() - 1
    }

    /// Runs `app` on `host` after every step.
    pub fn set_app(&mut self, host: HostId, app: App) {
        self.hosts[host].app = Some(app);
    }

    /// Joins interfaces into one broadcast segment with a one-way latency.
    pub fn add_segment(&mut self, ports: &[(HostId, IfaceId)], latency: Duration) {
        self.segments.push(Segment {
            ports: ports.to_vec(),
            latency,
        });
    }

    /// Adds a drop rule.
    pub fn drop_frame(&mut self, rule: DropRule) {
        self.drops.push(rule);
    }

    /// Detaches (`false`) or re-attaches a host: a detached host neither sends nor receives.
    pub fn set_attached(&mut self, host: HostId, attached: bool) {
        self.hosts[host].attached = attached;
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// A host's stack.
    pub fn stack(&mut self, host: HostId) -> &mut Stack {
        &mut self.hosts[host].stack
    }

    /// A host's stack, read-only.
    pub fn stack_ref(&self, host: HostId) -> &Stack {
        &self.hosts[host].stack
    }

    /// Events a host raised so far, with the time they were raised.
    pub fn events(&self, host: HostId) -> &[(Instant, Event)] {
        &self.hosts[host].events
    }

    /// A pcap (nanosecond timestamps) of every frame sent so far, dropped ones included.
    pub fn pcap(&self) -> Vec<u8> {
        let mut w = weft_pcap::Writer::new(
            Vec::new(),
            weft_pcap::LinkType::Ethernet,
            65535,
            weft_pcap::TimestampResolution::Nanosecond,
        )
        .expect("a pcap header fits in a Vec");
        for (ts, frame) in &self.recorded {
            w.write(*ts, frame)
                .expect("frames are under the snapshot length");
        }
        w.into_inner()
    }

    /// Frames sent so far, in order, with their send times.
    pub fn frames(&self) -> &[(u64, Vec<u8>)] {
        &self.recorded
    }

    /// A line per frame sent and dropped, for debugging failed tests.
    pub fn log(&self) -> impl Iterator<Item = &String> {
        self.log.iter()
    }

    /// Collects every host's transmissions and events, then runs apps.
    fn collect(&mut self) {
        // Not zeroed: a stack must write every byte of the frames it reports (and the
        // buffer keeps earlier frames' bytes besides).
        let mut buf = vec![0xa5u8; 65_536];
        for h in 0..self.hosts.len() {
            loop {
                let now = self.now;
                let host = &mut self.hosts[h];
                if self.peek_first {
                    // Queues what is pending; the length itself is not needed here.
                    let _ = host.stack.peek_transmit_len(now, IfaceId(0));
                }
                let Some(t) = host.stack.poll_transmit(now, &mut buf) else {
                    break;
                };
                if !host.attached {
                    continue;
                }
                let frame = buf[..t.len].to_vec();
                if self.recorded.len() < MAX_RECORDED {
                    self.recorded.push((now.as_nanos(), frame.clone()));
                }
                let mut drop = false;
                for rule in self.drops.iter_mut().filter(|r| r.host == h) {
                    if (rule.matches)(&frame) {
                        if rule.seen == rule.nth {
                            drop = true;
                        }
                        rule.seen += 1;
                    }
                }
                if self.log.len() >= 10_000 {
                    self.log.pop_front();
                }
                let name = self.hosts[h].name.clone();
                self.log.push_back(format!(
                    "{now} {name} sends {} bytes{}",
                    frame.len(),
                    if drop { " (dropped)" } else { "" }
                ));
                if drop {
                    self.dropped += 1;
                    continue;
                }
                for seg in &self.segments {
                    if !seg.ports.contains(&(h, t.iface)) {
                        continue;
                    }
                    for &to in seg.ports.iter().filter(|p| **p != (h, t.iface)) {
                        self.seq += 1;
                        let at = now + seg.latency;
                        self.in_flight.insert(
                            (at, self.seq),
                            InFlight {
                                at,
                                seq: self.seq,
                                to,
                                frame: frame.clone(),
                            },
                        );
                    }
                }
            }
            let now = self.now;
            let host = &mut self.hosts[h];
            while let Some(e) = host.stack.poll_event() {
                host.events.push((now, e));
            }
        }
    }

    fn run_apps(&mut self) {
        let now = self.now;
        for h in &mut self.hosts {
            if let Some(app) = h.app.as_mut() {
                app(&mut h.stack, now);
            }
        }
    }

    /// Runs until `deadline`: delivers frames and fires timers in time order.
    pub fn run_until(&mut self, deadline: Instant) {
        let mut steps_at_this_instant = 0u32;
        let mut last = self.now;
        loop {
            if self.now == last {
                steps_at_this_instant += 1;
                assert!(
                    steps_at_this_instant < 100_000,
                    "no progress at {}: a timer keeps firing",
                    self.now
                );
            } else {
                last = self.now;
                steps_at_this_instant = 0;
            }
            self.run_apps();
            self.collect();
            let next_frame = self.in_flight.keys().next().map(|(t, _)| *t);
            let next_timer = self
                .hosts
                .iter()
                .filter_map(|h| h.stack.poll_timeout())
                .min();
            let next = match (next_frame, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > deadline {
                break;
            }
            self.now = self.now.max(next);
            while let Some(entry) = self.in_flight.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let f = entry.remove();
                let _ = (f.at, f.seq);
                let (h, iface) = f.to;
                if self.hosts[h].attached {
                    self.delivered += 1;
                    let now = self.now;
                    self.hosts[h]
                        .stack
                        .handle_frame(now, iface, &f.frame, RxMeta::default());
                }
            }
            let now = self.now;
            for h in &mut self.hosts {
                if h.stack.poll_timeout().is_some_and(|t| t <= now) {
                    h.stack.handle_timeout(now);
                }
            }
        }
        self.now = self.now.max(deadline);
        self.run_apps();
        self.collect();
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }
}
