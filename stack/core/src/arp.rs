//! The ARP state of one interface (RFC 826, RFC 1122 §2.3.2, RFC 5227): the address cache,
//! datagrams held while their next hop is resolved, request retries, and the probes and
//! announcements of IPv4 address conflict detection.
//!
//! [`ArpCache`] is a plain `&mut self` state machine with explicit time. It never sends
//! anything itself: requests, probes and announcements come out of
//! [`poll_request`](ArpCache::poll_request), replies and resolved datagrams are returned by
//! [`handle_packet`](ArpCache::handle_packet), failed resolutions by
//! [`handle_timeout`](ArpCache::handle_timeout). The interface's address is an argument of the
//! methods that need it, because DHCP changes it.
//!
//! Every table is bounded by [`Limits`]: the cache (`arp_cache_entries`, the entry closest to
//! expiry is evicted), the datagrams per unresolved next hop (`arp_pending_per_dest`) and in
//! total (`arp_pending_total`; beyond either the newest datagram is dropped). Each has an
//! ordered index so that expiry, retries and [`next_deadline`](ArpCache::next_deadline) cost
//! O(log n), never a scan. The counters ([`ArpCounters`]) are kept inside; the stack reads
//! them with [`counters`](ArpCache::counters).

use crate::config::Limits;
use crate::counters::ArpCounters;
use crate::time::{Duration, Instant};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::cell::Cell;
use rand_core::RngCore;
use weft_wire::arp::{ArpOperation, ArpRepr};
use weft_wire::{Ipv4Addr, MacAddr};

/// RFC 1122 §2.3.2.1: the recommended maximum rate of requests for one address is one per
/// second; a configured `arp_retry_interval` below this is raised to it.
pub const MIN_REQUEST_INTERVAL: Duration = Duration::from_secs(1);
/// RFC 5227 §1.1 PROBE_WAIT: initial random delay before the first probe (0 to 1 s).
pub const PROBE_WAIT: Duration = Duration::from_secs(1);
/// RFC 5227 §1.1 PROBE_NUM: number of probe packets.
pub const PROBE_NUM: usize = 3;
/// RFC 5227 §1.1 PROBE_MIN: minimum delay until the next probe.
pub const PROBE_MIN: Duration = Duration::from_secs(1);
/// RFC 5227 §1.1 PROBE_MAX: maximum delay until the next probe.
pub const PROBE_MAX: Duration = Duration::from_secs(2);
/// RFC 5227 §1.1 ANNOUNCE_WAIT: delay after the last probe before the address is clear.
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);
/// RFC 5227 §1.1 ANNOUNCE_NUM: number of announcement packets.
pub const ANNOUNCE_NUM: u8 = 2;
/// RFC 5227 §1.1 ANNOUNCE_INTERVAL: time between announcement packets.
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);

/// What a received ARP packet asks of the caller ([`ArpCache::handle_packet`]'s result).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArpInput {
    /// A reply to send (RFC 826: the packet was a request for our address). It goes to
    /// `reply.target_mac`, the requester.
    pub reply: Option<ArpRepr>,
    /// Datagrams that were waiting for the packet's sender, now resolvable: send each, in
    /// this order (the order they were queued), to the MAC beside it.
    pub released: Vec<(MacAddr, Vec<u8>)>,
    /// Another host (this MAC) uses our address (RFC 5227 §2.4): the packet's sender IP is
    /// our address but its sender MAC is not ours. The caller decides how to react (give the
    /// address up, or defend it with one announcement, RFC 5227 §2.4 (a)-(c)).
    pub conflict: Option<MacAddr>,
    /// This packet ended a probe in progress with a conflict (RFC 5227 §2.1.1): the address
    /// being probed is in use by this MAC. [`ArpCache::probe_result`] says the same from now
    /// on.
    pub probe_conflict: Option<MacAddr>,
}

/// What [`ArpCache::enqueue`] did with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueResult {
    /// Queued; it is the first datagram for this next hop, so a request is due now (call
    /// [`ArpCache::poll_request`]).
    Resolving,
    /// Queued behind a resolution already in progress.
    Queued,
    /// The next hop is in the cache after all: the datagram is handed back, to send to `mac`.
    Resolved {
        /// The next hop's MAC.
        mac: MacAddr,
        /// The datagram, unchanged.
        packet: Vec<u8>,
    },
    /// Dropped (and counted in `pending_dropped`): this next hop already has
    /// `arp_pending_per_dest` datagrams waiting.
    DroppedDestinationFull,
    /// Dropped (and counted in `pending_dropped`): the interface already has
    /// `arp_pending_total` datagrams waiting.
    DroppedTotalFull,
}

/// A resolution that failed after `arp_max_requests` unanswered requests: its queued
/// datagrams were dropped (counted in `resolution_failed`). The stack may report the next
/// hop as unreachable (RFC 1122 §2.3.2.2 leaves the reaction to the upper layers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolutionFailure {
    /// The next hop that did not answer.
    pub next_hop: Ipv4Addr,
    /// Datagrams dropped with it.
    pub dropped: usize,
}

/// The state of an address probe ([`ArpCache::start_probe`], RFC 5227 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// Probes are being sent, or the ANNOUNCE_WAIT after the last one has not passed.
    InProgress,
    /// Another host (this MAC) uses or is probing for the address: it must not be used
    /// (RFC 5227 §2.1.1; a DHCP client sends DHCPDECLINE, RFC 2131 §3.1.5).
    Conflict(MacAddr),
    /// No conflicting packet arrived: the address may be used, and should be announced
    /// ([`ArpCache::announce`], RFC 5227 §2.3).
    Clear,
}

/// A learned translation.
#[derive(Debug, Clone, Copy)]
struct Entry {
    mac: MacAddr,
    expires_at: Instant,
}

/// Datagrams waiting for one next hop, and where its requests stand.
#[derive(Debug)]
struct Resolution {
    queue: VecDeque<Vec<u8>>,
    /// Requests sent so far.
    sent: u8,
    /// When the next request is due (`sent < max_requests`, indexed in `request_due`) or
    /// when the resolution gives up (`sent == max_requests`, indexed in `give_up`).
    at: Instant,
}

/// An RFC 5227 §2.1.1 probe in progress or finished.
#[derive(Debug, Clone, Copy)]
struct Probe {
    addr: Ipv4Addr,
    /// The PROBE_MIN..PROBE_MAX gaps after each probe but the last, drawn at the start and
    /// counted from when each probe is actually sent, so a late poll never shortens one.
    gaps: [Duration; PROBE_NUM - 1],
    /// Probes sent.
    sent: usize,
    /// When the next probe is due or, once all are sent, the end of the conflict window
    /// (ANNOUNCE_WAIT after the last one).
    next_at: Instant,
    result: ProbeResult,
}

/// RFC 5227 §2.3 announcements still to send.
#[derive(Debug, Clone, Copy)]
struct Announce {
    addr: Ipv4Addr,
    next_at: Instant,
    remaining: u8,
}

/// The ARP state of one interface: a bounded cache of IPv4 → MAC translations with expiry,
/// bounded queues of datagrams awaiting resolution with rate-limited retries, and RFC 5227
/// probes and announcements.
///
/// Invariants: `expiry` holds exactly one `(expires_at, ip)` per entry of `entries`;
/// `request_due` and `give_up` together hold exactly one `(at, ip)` per resolution in
/// `pending` (in `request_due` while requests remain, in `give_up` after the last);
/// `pending_total` is the number of datagrams queued in `pending`; every resolution has at
/// least one datagram.
///
/// Use: call [`handle_packet`](Self::handle_packet) for every ARP packet received on the
/// interface, [`enqueue`](Self::enqueue) for a datagram whose next hop
/// [`lookup`](Self::lookup) did not resolve, [`handle_timeout`](Self::handle_timeout) at
/// [`next_deadline`](Self::next_deadline), and after each of these
/// [`poll_request`](Self::poll_request) until it returns `None`.
#[derive(Debug)]
pub struct ArpCache {
    our_mac: MacAddr,
    capacity: usize,
    lifetime: Duration,
    per_dest: usize,
    total: usize,
    retry_interval: Duration,
    max_requests: u8,
    entries: BTreeMap<Ipv4Addr, Entry>,
    expiry: BTreeSet<(Instant, Ipv4Addr)>,
    pending: BTreeMap<Ipv4Addr, Resolution>,
    request_due: BTreeSet<(Instant, Ipv4Addr)>,
    give_up: BTreeSet<(Instant, Ipv4Addr)>,
    pending_total: usize,
    probe: Option<Probe>,
    announce: Option<Announce>,
    counters: ArpCounters,
    /// Ordered-map and ordered-set operations performed (for operation-count tests: per call
    /// they must not grow with the number of entries beyond the O(log n) inside each). A
    /// `Cell` so that the `&self` methods count too.
    ops: Cell<u64>,
    /// Bumped whenever an entry is added, changed or removed: a translation remembered
    /// elsewhere (a connection's cached output path) is stale once it moved.
    generation: u64,
    /// [`poll_request`](Self::poll_request) has nothing to send before this instant: the
    /// earliest of the requests, the probe and the announcements due as of its last empty
    /// answer, lowered by whatever schedules one sooner since. Polled on every stack turn,
    /// mostly with nothing due, it answers from this one field instead of reading the probe,
    /// the announcements and the request schedule's first node (with thousands of hosts
    /// each of those was a cache miss per turn).
    poll_due: Instant,
}

impl ArpCache {
    /// An empty cache for an interface with MAC `our_mac`, bounded by `limits`.
    ///
    /// `arp_retry_interval` is raised to [`MIN_REQUEST_INTERVAL`] (RFC 1122 §2.3.2.1) and
    /// `arp_max_requests` to 1.
    pub fn new(our_mac: MacAddr, limits: &Limits) -> Self {
        ArpCache {
            our_mac,
            capacity: limits.arp_cache_entries,
            lifetime: limits.arp_entry_lifetime,
            per_dest: limits.arp_pending_per_dest,
            total: limits.arp_pending_total,
            retry_interval: limits.arp_retry_interval.max(MIN_REQUEST_INTERVAL),
            max_requests: limits.arp_max_requests.max(1),
            entries: BTreeMap::new(),
            expiry: BTreeSet::new(),
            pending: BTreeMap::new(),
            request_due: BTreeSet::new(),
            give_up: BTreeSet::new(),
            pending_total: 0,
            probe: None,
            announce: None,
            counters: ArpCounters::default(),
            ops: Cell::new(0),
            generation: 0,
            poll_due: Instant::ZERO,
        }
    }

    /// The interface's MAC address.
    pub fn our_mac(&self) -> MacAddr {
        self.our_mac
    }

    /// The counters (this cache's own copy; the stack sums the interfaces').
    pub fn counters(&self) -> &ArpCounters {
        &self.counters
    }

    /// Ordered-map and ordered-set operations performed so far.
    pub fn ops(&self) -> u64 {
        self.ops.get()
    }

    /// Entries held (expired ones not yet removed by `handle_timeout` included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Datagrams waiting for resolution, over all next hops.
    pub fn pending_packets(&self) -> usize {
        self.pending_total
    }

    /// Next hops being resolved.
    pub fn pending_destinations(&self) -> usize {
        self.pending.len()
    }

    fn op(&self, n: u64) {
        self.ops.set(self.ops.get().saturating_add(n));
    }

    /// The MAC of `ip`, if the cache holds an entry that has not expired at `now`. Call
    /// before sending a datagram to a next hop; on `None`, [`enqueue`](Self::enqueue) it.
    /// One ordered-map lookup.
    pub fn lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<MacAddr> {
        self.op(1);
        // RFC 1122 §2.3.2.1: an entry is used only until its timeout; at exactly
        // `expires_at` it is gone.
        self.entries
            .get(&ip)
            .filter(|e| now < e.expires_at)
            .map(|e| e.mac)
    }

    /// [`lookup`](Self::lookup) with the entry's end of life: the translation holds for
    /// every `now` before the returned instant while [`generation`](Self::generation) stays
    /// the same.
    pub fn lookup_until(&self, now: Instant, ip: Ipv4Addr) -> Option<(MacAddr, Instant)> {
        self.op(1);
        self.entries
            .get(&ip)
            .filter(|e| now < e.expires_at)
            .map(|e| (e.mac, e.expires_at))
    }

    /// Changes whenever an entry is added, refreshed, replaced or removed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Drops the entry for `ip`, so the next datagram to it asks again: the "negative
    /// advice" a transport gives when its retransmissions go unanswered (RFC 1122 §2.3.2.1
    /// and §4.2.3.5: a stale or wrong translation is revalidated). True when there was one.
    pub fn forget(&mut self, ip: Ipv4Addr) -> bool {
        self.op(1);
        match self.entries.remove(&ip) {
            Some(e) => {
                self.generation = self.generation.wrapping_add(1);
                self.op(1);
                self.expiry.remove(&(e.expires_at, ip));
                self.counters.revalidations += 1;
                true
            }
            None => false,
        }
    }

    /// Counts a received ARP packet that did not parse (the stack's checked parse failed, or
    /// it is not Ethernet/IPv4). Counts it as received and as malformed.
    pub fn count_malformed(&mut self) {
        self.counters.rx_packets += 1;
        self.counters.rx_malformed += 1;
    }

    /// Call for every parsed Ethernet/IPv4 ARP packet received on the interface, with the
    /// interface's current address (`None` while it has none). Learns from it, and returns
    /// the reply to send, the datagrams it makes resolvable, and any conflict.
    ///
    /// The RFC 826 "Packet Reception" merge rule is followed as written: an existing,
    /// unexpired entry for the sender is refreshed whoever the packet is for, but a new
    /// entry is added only when we are the target (`target_ip` is our address), so that
    /// broadcast requests between other hosts do not fill the cache. One addition: a reply
    /// addressed to our MAC from a next hop we are resolving is learned even when its
    /// target IP is not our address (we asked, so we are its target; this matters while we
    /// have no address and ask with sender IP 0.0.0.0).
    ///
    /// Ignored and counted as malformed: operations other than request and reply, sender
    /// MACs that are zero, broadcast or multicast, and sender IPs that are broadcast,
    /// multicast, or zero outside a probe (RFC 5227 §2.1.1 probes carry sender IP 0.0.0.0;
    /// they are answered when they ask for our address, but never learned). Packets with our
    /// own MAC as sender (our own frames looped back) are ignored.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        repr: &ArpRepr,
        our_addr: Option<Ipv4Addr>,
    ) -> ArpInput {
        self.counters.rx_packets += 1;
        let mut out = ArpInput::default();
        // RFC 826: only the request and reply opcodes are defined.
        if !repr.operation.is_known() {
            self.counters.rx_malformed += 1;
            return out;
        }
        // RFC 826 / RFC 1122 §2.3.2: a sender hardware address must be an individual
        // station's; a group or zero address cannot be learned.
        if repr.sender_mac.is_multicast() || repr.sender_mac == MacAddr::ZERO {
            self.counters.rx_malformed += 1;
            return out;
        }
        if repr.sender_mac == self.our_mac {
            // Our own packet reflected back: no conflict, nothing to learn (RFC 5227 §2.1.1
            // counts only senders that are not one of our interfaces).
            return out;
        }
        out.probe_conflict = self.check_probe_conflict(repr);
        let target_is_us = our_addr.is_some_and(|a| a == repr.target_ip);
        if repr.sender_ip.is_unspecified() {
            // RFC 5227 §2.1.1: an ARP Probe (sender IP zero). Nothing to learn; the owner of
            // the probed address answers, which is how the prober finds the conflict.
            if repr.is_probe() {
                if target_is_us {
                    out.reply = Some(self.reply_to(repr));
                }
            } else {
                self.counters.rx_malformed += 1;
            }
            return out;
        }
        if repr.sender_ip.is_broadcast() || repr.sender_ip.is_multicast() {
            self.counters.rx_malformed += 1;
            return out;
        }
        if our_addr == Some(repr.sender_ip) {
            // RFC 5227 §2.4: our address with someone else's MAC is a conflicting packet.
            // It is neither learned nor answered.
            self.counters.conflicts += 1;
            out.conflict = Some(repr.sender_mac);
            return out;
        }
        // RFC 826 "Packet Reception": ?Is the pair <protocol type, sender protocol address>
        // already in my translation table? Yes: update the sender hardware address
        // (Merge_flag := true).
        self.op(1);
        let merged = self
            .entries
            .get(&repr.sender_ip)
            .is_some_and(|e| now < e.expires_at);
        self.op(1);
        let resolving = self.pending.contains_key(&repr.sender_ip);
        // ?Am I the target protocol address? Yes: if Merge_flag is false, add the triple.
        let answers_us =
            resolving && repr.operation == ArpOperation::REPLY && repr.target_mac == self.our_mac;
        if merged || target_is_us || answers_us {
            self.learn(now, repr.sender_ip, repr.sender_mac);
            if resolving {
                out.released = self.release(repr.sender_ip, repr.sender_mac);
            }
        }
        // ?Is the opcode ares_op$REQUEST? Yes: swap, fill in our addresses, send a reply.
        if target_is_us && repr.operation == ArpOperation::REQUEST {
            out.reply = Some(self.reply_to(repr));
        }
        out
    }

    /// RFC 826: the reply to `request`, counted.
    fn reply_to(&mut self, request: &ArpRepr) -> ArpRepr {
        self.counters.replies_sent += 1;
        request.reply(self.our_mac)
    }

    /// RFC 5227 §2.1.1: during a probe, any packet whose sender IP is the probed address, or
    /// any probe for the probed address, from another MAC, is a conflict. Returns the MAC
    /// when this packet turns a probe in progress into a conflict.
    fn check_probe_conflict(&mut self, repr: &ArpRepr) -> Option<MacAddr> {
        let probe = self.probe.as_mut()?;
        if probe.result != ProbeResult::InProgress {
            return None;
        }
        let uses = repr.sender_ip == probe.addr;
        let probes = repr.is_probe() && repr.target_ip == probe.addr;
        if !(uses || probes) {
            return None;
        }
        probe.result = ProbeResult::Conflict(repr.sender_mac);
        self.counters.conflicts += 1;
        Some(repr.sender_mac)
    }

    /// Adds or refreshes `ip` → `mac`, expiring `arp_entry_lifetime` from `now`, evicting
    /// the entry closest to expiry when the cache is full.
    fn learn(&mut self, now: Instant, ip: Ipv4Addr, mac: MacAddr) {
        if self.capacity == 0 {
            return;
        }
        let expires_at = now + self.lifetime;
        self.op(1);
        if let Some(old) = self.entries.get(&ip).copied() {
            self.op(1);
            self.expiry.remove(&(old.expires_at, ip));
        } else if self.entries.len() >= self.capacity {
            // Bounded: the entry closest to expiry makes room (an already expired one counts
            // as an expiration, not an eviction).
            self.op(1);
            if let Some((t, victim)) = self.expiry.pop_first() {
                self.op(1);
                self.entries.remove(&victim);
                if t <= now {
                    self.counters.expirations += 1;
                } else {
                    self.counters.evictions += 1;
                }
            }
        }
        self.op(2);
        self.generation = self.generation.wrapping_add(1);
        self.entries.insert(ip, Entry { mac, expires_at });
        self.expiry.insert((expires_at, ip));
        self.counters.entries_updated += 1;
    }

    /// Ends the resolution of `ip`, returning its datagrams in queue order with `mac`.
    fn release(&mut self, ip: Ipv4Addr, mac: MacAddr) -> Vec<(MacAddr, Vec<u8>)> {
        self.op(1);
        let Some(r) = self.pending.remove(&ip) else {
            return Vec::new();
        };
        self.unschedule(ip, &r);
        self.pending_total = self.pending_total.saturating_sub(r.queue.len());
        r.queue.into_iter().map(|p| (mac, p)).collect()
    }

    /// Removes a resolution's entry from whichever schedule holds it.
    fn unschedule(&mut self, ip: Ipv4Addr, r: &Resolution) {
        self.op(1);
        if r.sent < self.max_requests {
            self.request_due.remove(&(r.at, ip));
        } else {
            self.give_up.remove(&(r.at, ip));
        }
    }

    /// Call with a datagram for `next_hop` when [`lookup`](Self::lookup) returned `None`:
    /// holds it until the next hop answers. The first datagram for a next hop starts its
    /// resolution with a request due at once ([`poll_request`](Self::poll_request)).
    ///
    /// Bounded (DESIGN.md, "Bounded everything"): at most `arp_pending_per_dest` datagrams
    /// per next hop and `arp_pending_total` in all; beyond either the datagram being
    /// enqueued, the newest, is dropped and counted in `pending_dropped`. The caller sends
    /// broadcast and multicast datagrams directly; they are never resolved.
    pub fn enqueue(&mut self, now: Instant, next_hop: Ipv4Addr, packet: Vec<u8>) -> EnqueueResult {
        if let Some(mac) = self.lookup(now, next_hop) {
            return EnqueueResult::Resolved { mac, packet };
        }
        if self.pending_total >= self.total {
            self.counters.pending_dropped += 1;
            return EnqueueResult::DroppedTotalFull;
        }
        self.op(1);
        if let Some(r) = self.pending.get_mut(&next_hop) {
            if r.queue.len() >= self.per_dest {
                self.counters.pending_dropped += 1;
                return EnqueueResult::DroppedDestinationFull;
            }
            r.queue.push_back(packet);
            self.pending_total += 1;
            return EnqueueResult::Queued;
        }
        if self.per_dest == 0 {
            self.counters.pending_dropped += 1;
            return EnqueueResult::DroppedDestinationFull;
        }
        let mut queue = VecDeque::new();
        queue.push_back(packet);
        self.op(2);
        self.pending.insert(
            next_hop,
            Resolution {
                queue,
                sent: 0,
                at: now,
            },
        );
        self.request_due.insert((now, next_hop));
        self.schedule_poll(now);
        self.pending_total += 1;
        EnqueueResult::Resolving
    }

    /// Call after `handle_packet`, `enqueue`, `handle_timeout`, `start_probe` and `announce`,
    /// and before sending, until it returns `None`: the next ARP packet due at `now`, to
    /// broadcast. Probes come first, then announcements, then resolution requests (earliest
    /// due first, then by address).
    ///
    /// A resolution request is "who-has next_hop tell `our_addr`"; with `our_addr` `None`
    /// its sender IP is 0.0.0.0, which makes it an RFC 5227 probe. Requests for one next hop
    /// are at least `arp_retry_interval` (at least 1 s) apart (RFC 1122 §2.3.2.1).
    pub fn poll_request(&mut self, now: Instant, our_addr: Option<Ipv4Addr>) -> Option<ArpRepr> {
        if now < self.poll_due {
            return None;
        }
        let sent = self.poll_sending(now, our_addr);
        if sent.is_none() {
            self.poll_due = self.earliest_poll();
        }
        sent
    }

    /// Something for `poll_request` to send comes due at `at`: every path that schedules a
    /// request, probe or announcement sooner than one already due calls this, so that
    /// `poll_due` stays a lower bound.
    fn schedule_poll(&mut self, at: Instant) {
        self.poll_due = self.poll_due.min(at);
    }

    /// When `poll_request` next has something to send, if ever ([`Instant::MAX`]: never,
    /// until a request, probe or announcement is scheduled).
    fn earliest_poll(&self) -> Instant {
        let probe = self.probe.and_then(|p| {
            (p.result == ProbeResult::InProgress && p.sent < PROBE_NUM).then_some(p.next_at)
        });
        [
            self.request_due.first().map(|&(t, _)| t),
            probe,
            self.announce.map(|a| a.next_at),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(Instant::MAX)
    }

    fn poll_sending(&mut self, now: Instant, our_addr: Option<Ipv4Addr>) -> Option<ArpRepr> {
        if let Some(repr) = self.poll_probe(now) {
            self.counters.requests_sent += 1;
            return Some(repr);
        }
        if let Some(repr) = self.poll_announce(now) {
            self.counters.requests_sent += 1;
            return Some(repr);
        }
        self.op(1);
        let &(at, ip) = self.request_due.first()?;
        if at > now {
            return None;
        }
        self.op(2);
        self.request_due.remove(&(at, ip));
        let max = self.max_requests;
        let next = now + self.retry_interval;
        let r = self.pending.get_mut(&ip)?;
        r.sent = r.sent.saturating_add(1);
        // RFC 1122 §2.3.2.1: the next request (or, after the last, the failure) comes one
        // retry interval after this one was actually sent, never sooner.
        r.at = next;
        let more = r.sent < max;
        self.op(1);
        if more {
            self.request_due.insert((next, ip));
        } else {
            self.give_up.insert((next, ip));
        }
        self.counters.requests_sent += 1;
        let sender_ip = our_addr.unwrap_or(Ipv4Addr::UNSPECIFIED);
        Some(ArpRepr::request(self.our_mac, sender_ip, ip))
    }

    fn poll_probe(&mut self, now: Instant) -> Option<ArpRepr> {
        let probe = self.probe.as_mut()?;
        if probe.result != ProbeResult::InProgress {
            return None;
        }
        if probe.sent >= PROBE_NUM || probe.next_at > now {
            return None;
        }
        // RFC 5227 §2.1.1: the next probe PROBE_MIN..PROBE_MAX after this one; after the
        // last, conflicts still count until ANNOUNCE_WAIT has passed.
        probe.next_at = now + probe.gaps.get(probe.sent).copied().unwrap_or(ANNOUNCE_WAIT);
        probe.sent += 1;
        // RFC 5227 §2.1.1: sender IP zero, target hardware address zero.
        Some(ArpRepr::probe(self.our_mac, probe.addr))
    }

    fn poll_announce(&mut self, now: Instant) -> Option<ArpRepr> {
        let a = self.announce.as_mut()?;
        if a.next_at > now {
            return None;
        }
        let repr = ArpRepr::announcement(self.our_mac, a.addr);
        a.remaining = a.remaining.saturating_sub(1);
        a.next_at = now + ANNOUNCE_INTERVAL;
        if a.remaining == 0 {
            self.announce = None;
        }
        Some(repr)
    }

    /// Starts RFC 5227 §2.1.1 conflict detection for `addr` (a DHCP client calls this for
    /// an offered address before using it): PROBE_NUM probes, the first after a random
    /// 0..PROBE_WAIT, the next ones PROBE_MIN..PROBE_MAX apart, all jitter drawn now from
    /// `rng` (the stack's `Purpose::Arp` stream, or any seeded ChaCha20 stream). Replaces a
    /// probe already running. The probes come out of [`poll_request`](Self::poll_request);
    /// watch [`probe_result`](Self::probe_result).
    pub fn start_probe<R: RngCore + ?Sized>(&mut self, now: Instant, addr: Ipv4Addr, rng: &mut R) {
        let wait = uniform(rng, Duration::ZERO, PROBE_WAIT);
        let mut gaps = [PROBE_MIN; PROBE_NUM - 1];
        for gap in gaps.iter_mut() {
            *gap = uniform(rng, PROBE_MIN, PROBE_MAX);
        }
        self.probe = Some(Probe {
            addr,
            gaps,
            sent: 0,
            next_at: now + wait,
            result: ProbeResult::InProgress,
        });
        self.schedule_poll(now + wait);
    }

    /// Stops a probe and forgets its result.
    pub fn cancel_probe(&mut self) {
        self.probe = None;
    }

    /// The state of the last probe started (`None` if none was, or it was cancelled) and
    /// the address it is for. `Clear` is reached in `handle_timeout` once ANNOUNCE_WAIT has
    /// passed after the last probe without a conflicting packet.
    pub fn probe_result(&self) -> Option<(Ipv4Addr, ProbeResult)> {
        self.probe.map(|p| (p.addr, p.result))
    }

    /// Starts RFC 5227 §2.3 announcements of `addr`, which we now use: ANNOUNCE_NUM
    /// gratuitous requests (sender and target IP `addr`), the first at once, then
    /// ANNOUNCE_INTERVAL apart, from [`poll_request`](Self::poll_request). Replaces
    /// announcements already running.
    pub fn announce(&mut self, now: Instant, addr: Ipv4Addr) {
        self.schedule_poll(now);
        self.announce = Some(Announce {
            addr,
            next_at: now,
            remaining: ANNOUNCE_NUM,
        });
    }

    /// The earliest instant at which `handle_timeout` (entry expiry, resolution failure,
    /// probe completion) or `poll_request` (a request, probe or announcement due) has work.
    /// O(log n).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.op(3);
        // A probe in progress also ends (clear) at its `next_at` after the last probe.
        let probe = self.probe.and_then(|p| match p.result {
            ProbeResult::InProgress => Some(p.next_at),
            _ => None,
        });
        let poll = Some(self.earliest_poll()).filter(|&t| t != Instant::MAX);
        [
            self.expiry.first().map(|&(t, _)| t),
            self.give_up.first().map(|&(t, _)| t),
            probe,
            poll,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Call when `next_deadline` has passed (early is harmless), then call `poll_request`
    /// until `None` (retries, probes and announcements that came due are sent from there).
    ///
    /// Removes entries whose lifetime has run out (`expirations`); ends resolutions whose
    /// last request went unanswered for `arp_retry_interval`, dropping their datagrams
    /// (`resolution_failed`, one per datagram) and returning one [`ResolutionFailure`] each,
    /// earliest first; marks a probe `Clear` once its conflict window has closed.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<ResolutionFailure> {
        // RFC 1122 §2.3.2.1: entries time out.
        loop {
            self.op(1);
            let Some(&(t, ip)) = self.expiry.first() else {
                break;
            };
            if t > now {
                break;
            }
            self.op(2);
            self.expiry.remove(&(t, ip));
            self.entries.remove(&ip);
            self.generation = self.generation.wrapping_add(1);
            self.counters.expirations += 1;
        }
        let mut failures = Vec::new();
        loop {
            self.op(1);
            let Some(&(t, ip)) = self.give_up.first() else {
                break;
            };
            if t > now {
                break;
            }
            self.op(2);
            self.give_up.remove(&(t, ip));
            let dropped = self.pending.remove(&ip).map_or(0, |r| r.queue.len());
            self.pending_total = self.pending_total.saturating_sub(dropped);
            self.counters.resolution_failed += u64::try_from(dropped).unwrap_or(u64::MAX);
            failures.push(ResolutionFailure {
                next_hop: ip,
                dropped,
            });
        }
        if let Some(p) = self.probe.as_mut() {
            // RFC 5227 §2.1.1: no conflicting packet from the start of probing until
            // ANNOUNCE_WAIT after the last probe: the address is ours to use.
            if p.result == ProbeResult::InProgress && p.sent >= PROBE_NUM && now >= p.next_at {
                p.result = ProbeResult::Clear;
            }
        }
        failures
    }
}

/// A duration uniformly in `lo..=hi` (nanosecond resolution), unbiased by rejection.
fn uniform<R: RngCore + ?Sized>(rng: &mut R, lo: Duration, hi: Duration) -> Duration {
    let lo_ns = u64::try_from(lo.as_nanos()).unwrap_or(u64::MAX);
    let hi_ns = u64::try_from(hi.as_nanos()).unwrap_or(u64::MAX);
    let span = hi_ns.saturating_sub(lo_ns);
    let Some(n) = span.checked_add(1) else {
        return Duration::from_nanos(lo_ns.saturating_add(rng.next_u64()));
    };
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = rng.next_u64();
        if v < zone {
            return Duration::from_nanos(lo_ns + v % n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
    const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn mac(n: u32) -> MacAddr {
        let b = n.to_be_bytes();
        MacAddr([0x02, 0x10, b[0], b[1], b[2], b[3]])
    }

    fn ip(n: u32) -> Ipv4Addr {
        // 10.0.1.0 and up: never our own 10.0.0.1.
        Ipv4Addr::from(0x0a00_0100 + n)
    }

    fn secs(s: u64) -> Instant {
        Instant::from_secs(s)
    }

    fn cache() -> ArpCache {
        ArpCache::new(OUR_MAC, &Limits::default())
    }

    fn reply_from(n: u32, to_ip: Ipv4Addr) -> ArpRepr {
        ArpRepr::request(OUR_MAC, to_ip, ip(n)).reply(mac(n))
    }

    /// Every request poll_request gives at `now`.
    fn drain(c: &mut ArpCache, now: Instant, our: Option<Ipv4Addr>) -> Vec<ArpRepr> {
        core::iter::from_fn(|| c.poll_request(now, our)).collect()
    }

    /// `poll_request` answers "nothing due" from its remembered earliest instant; whatever
    /// schedules something sooner after such an answer (a new resolution, a probe, an
    /// announcement) is sent when due all the same, and a retry comes no earlier than due.
    #[test]
    fn arp_poll_after_an_empty_answer_sends_what_was_scheduled_since() {
        let mut c = cache();
        let t = secs(10);
        assert_eq!(drain(&mut c, t, Some(OUR_IP)), vec![]);
        // A resolution: its request at once.
        assert_eq!(c.enqueue(t, ip(5), vec![1]), EnqueueResult::Resolving);
        assert_eq!(
            drain(&mut c, t, Some(OUR_IP)),
            vec![ArpRepr::request(OUR_MAC, OUR_IP, ip(5))]
        );
        // Its retry one interval later, not before.
        let interval = Limits::default().arp_retry_interval;
        let retry = t + interval;
        let just_before = t + (interval - Duration::from_millis(1));
        assert_eq!(drain(&mut c, just_before, Some(OUR_IP)), vec![]);
        assert_eq!(drain(&mut c, retry, Some(OUR_IP)).len(), 1);
        // Announcements, from now.
        let t2 = retry + Duration::from_millis(10);
        assert_eq!(drain(&mut c, t2, Some(OUR_IP)), vec![]);
        c.announce(t2, OUR_IP);
        assert_eq!(
            drain(&mut c, t2, Some(OUR_IP)),
            vec![ArpRepr::announcement(OUR_MAC, OUR_IP)]
        );
        // A probe, at its drawn start within PROBE_WAIT.
        let mut c = cache();
        assert_eq!(drain(&mut c, t, None), vec![]);
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        c.start_probe(t, ip(9), &mut rng);
        let probes = drain(&mut c, t + PROBE_WAIT, None);
        assert_eq!(probes, vec![ArpRepr::probe(OUR_MAC, ip(9))]);
    }

    #[test]
    fn arp_reply_to_request_for_our_address() {
        // RFC 826 "Packet Reception": a request for our address gets a reply with sender and
        // target swapped and our hardware address filled in.
        let mut c = cache();
        let req = ArpRepr::request(mac(2), ip(2), OUR_IP);
        let out = c.handle_packet(secs(1), &req, Some(OUR_IP));
        let reply = out.reply.unwrap();
        assert_eq!(reply.operation, ArpOperation::REPLY);
        assert_eq!((reply.sender_mac, reply.sender_ip), (OUR_MAC, OUR_IP));
        assert_eq!((reply.target_mac, reply.target_ip), (mac(2), ip(2)));
        assert_eq!(c.counters().replies_sent, 1);
        // We were the target, so the requester is learned.
        assert_eq!(c.lookup(secs(1), ip(2)), Some(mac(2)));
        // A request for another address, or any request while we have no address, is not
        // answered.
        let other = ArpRepr::request(mac(3), ip(3), ip(9));
        assert_eq!(c.handle_packet(secs(1), &other, Some(OUR_IP)).reply, None);
        assert_eq!(c.handle_packet(secs(1), &req, None).reply, None);
        // A reply for our address is not answered either.
        let r = reply_from(4, OUR_IP);
        assert_eq!(c.handle_packet(secs(1), &r, Some(OUR_IP)).reply, None);
        assert_eq!(c.counters().replies_sent, 1);
        assert_eq!(c.counters().rx_packets, 4);
    }

    #[test]
    fn arp_merge_rule_updates_existing_adds_only_when_target() {
        // RFC 826: an entry for the sender is updated whoever the packet targets; a new one
        // is added only when we are the target protocol address.
        let mut c = cache();
        let not_for_us = ArpRepr::request(mac(5), ip(5), ip(6));
        c.handle_packet(secs(0), &not_for_us, Some(OUR_IP));
        assert_eq!(
            c.lookup(secs(0), ip(5)),
            None,
            "not the target: nothing added"
        );
        assert!(c.is_empty());
        c.handle_packet(
            secs(0),
            &ArpRepr::request(mac(5), ip(5), OUR_IP),
            Some(OUR_IP),
        );
        assert_eq!(c.lookup(secs(0), ip(5)), Some(mac(5)));
        // The host moves to another MAC and asks for someone else: the entry follows, and
        // its lifetime restarts.
        let moved = ArpRepr::request(mac(55), ip(5), ip(6));
        c.handle_packet(secs(30), &moved, Some(OUR_IP));
        assert_eq!(c.lookup(secs(30), ip(5)), Some(mac(55)));
        assert_eq!(c.lookup(secs(89), ip(5)), Some(mac(55)));
        assert_eq!(c.counters().entries_updated, 2);
        assert_eq!(c.len(), 1);
        // A gratuitous announcement from an unknown host is not learned either.
        c.handle_packet(
            secs(31),
            &ArpRepr::announcement(mac(7), ip(7)),
            Some(OUR_IP),
        );
        assert_eq!(c.lookup(secs(31), ip(7)), None);
    }

    #[test]
    fn arp_entry_expires_at_exactly_the_lifetime() {
        // RFC 1122 §2.3.2.1: entries time out; at exactly learned + arp_entry_lifetime the
        // entry is no longer used, and handle_timeout removes it then.
        let mut c = cache();
        let t0 = Instant::from_millis(1500);
        c.handle_packet(t0, &ArpRepr::request(mac(2), ip(2), OUR_IP), Some(OUR_IP));
        let end = t0 + Duration::from_secs(60);
        assert_eq!(c.next_deadline(), Some(end));
        let just_before = Instant::from_nanos(end.as_nanos() - 1);
        assert_eq!(c.lookup(just_before, ip(2)), Some(mac(2)));
        c.handle_timeout(just_before);
        assert_eq!(c.len(), 1);
        assert_eq!(c.counters().expirations, 0);
        assert_eq!(c.lookup(end, ip(2)), None);
        c.handle_timeout(end);
        assert!(c.is_empty());
        assert_eq!(c.counters().expirations, 1);
        assert_eq!(c.next_deadline(), None);
        // An expired entry is not "in the table" for the merge rule: a packet not for us
        // does not revive it.
        let mut c = cache();
        c.handle_packet(t0, &ArpRepr::request(mac(2), ip(2), OUR_IP), Some(OUR_IP));
        c.handle_packet(end, &ArpRepr::request(mac(2), ip(2), ip(9)), Some(OUR_IP));
        assert_eq!(c.lookup(end, ip(2)), None);
    }

    #[test]
    fn arp_eviction_when_full_counts() {
        // Bounded cache (DESIGN.md "Bounded everything"): when full, the entry closest to
        // expiry goes, counted in `evictions`.
        let limits = Limits {
            arp_cache_entries: 3,
            ..Limits::default()
        };
        let mut c = ArpCache::new(OUR_MAC, &limits);
        for n in 1..=3 {
            c.handle_packet(
                secs(u64::from(n)),
                &ArpRepr::request(mac(n), ip(n), OUR_IP),
                Some(OUR_IP),
            );
        }
        // Refresh host 1 (RFC 826 merge): host 2 is now closest to expiry.
        c.handle_packet(
            secs(4),
            &ArpRepr::request(mac(1), ip(1), ip(9)),
            Some(OUR_IP),
        );
        c.handle_packet(
            secs(5),
            &ArpRepr::request(mac(4), ip(4), OUR_IP),
            Some(OUR_IP),
        );
        assert_eq!(c.len(), 3);
        assert_eq!(c.counters().evictions, 1);
        assert_eq!(c.lookup(secs(5), ip(2)), None);
        for n in [1, 3, 4] {
            assert_eq!(c.lookup(secs(5), ip(n)), Some(mac(n)));
        }
        // An already expired entry making room is an expiration, not an eviction.
        c.handle_packet(
            secs(63),
            &ArpRepr::request(mac(5), ip(5), OUR_IP),
            Some(OUR_IP),
        );
        assert_eq!(c.counters().evictions, 1);
        assert_eq!(c.counters().expirations, 1);
        assert_eq!(c.lookup(secs(63), ip(3)), None);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn arp_pending_queue_bounds_and_counted_drops() {
        // Bounded pending queues: per destination and in total, the newest is dropped.
        let limits = Limits {
            arp_pending_per_dest: 2,
            arp_pending_total: 3,
            ..Limits::default()
        };
        let mut c = ArpCache::new(OUR_MAC, &limits);
        let t = secs(0);
        assert_eq!(c.enqueue(t, ip(2), vec![1]), EnqueueResult::Resolving);
        assert_eq!(c.enqueue(t, ip(2), vec![2]), EnqueueResult::Queued);
        assert_eq!(
            c.enqueue(t, ip(2), vec![3]),
            EnqueueResult::DroppedDestinationFull
        );
        assert_eq!(c.enqueue(t, ip(3), vec![4]), EnqueueResult::Resolving);
        assert_eq!(
            c.enqueue(t, ip(3), vec![5]),
            EnqueueResult::DroppedTotalFull
        );
        assert_eq!(
            c.enqueue(t, ip(4), vec![6]),
            EnqueueResult::DroppedTotalFull
        );
        assert_eq!(c.counters().pending_dropped, 3);
        assert_eq!(c.pending_packets(), 3);
        // A destination refused for the total bound starts no resolution.
        assert_eq!(c.pending_destinations(), 2);
        let reqs = drain(&mut c, t, Some(OUR_IP));
        assert_eq!(
            reqs.iter().map(|r| r.target_ip).collect::<Vec<_>>(),
            vec![ip(2), ip(3)]
        );
        // The ones kept are the oldest.
        let out = c.handle_packet(t, &reply_from(2, OUR_IP), Some(OUR_IP));
        assert_eq!(out.released, vec![(mac(2), vec![1]), (mac(2), vec![2])]);
        assert_eq!(c.pending_packets(), 1);
        // Room again, and a resolved next hop hands the datagram back.
        assert_eq!(c.enqueue(t, ip(3), vec![7]), EnqueueResult::Queued);
        assert_eq!(
            c.enqueue(t, ip(2), vec![8]),
            EnqueueResult::Resolved {
                mac: mac(2),
                packet: vec![8]
            }
        );
    }

    #[test]
    fn arp_retry_rate_limit_then_failure_drops_queued() {
        // RFC 1122 §2.3.2.1: at most one request per second per address (a configured
        // interval below 1 s is raised); after arp_max_requests unanswered, the queued
        // datagrams are dropped and the failure reported (RFC 1122 §2.3.2.2).
        let limits = Limits {
            arp_retry_interval: Duration::from_millis(200),
            ..Limits::default()
        };
        let mut c = ArpCache::new(OUR_MAC, &limits);
        c.enqueue(secs(0), ip(2), vec![1]);
        c.enqueue(secs(0), ip(2), vec![2]);
        let mut sent = Vec::new();
        let mut failures = Vec::new();
        // Poll every 100 ms, as an eager caller would, and at every deadline.
        let mut now = Instant::ZERO;
        while now <= secs(10) {
            failures.extend(c.handle_timeout(now));
            for r in drain(&mut c, now, Some(OUR_IP)) {
                assert_eq!(
                    (r.operation, r.sender_ip, r.target_ip),
                    (ArpOperation::REQUEST, OUR_IP, ip(2))
                );
                sent.push(now);
            }
            now = now + Duration::from_millis(100);
        }
        assert_eq!(sent, vec![secs(0), secs(1), secs(2)]);
        for w in sent.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_secs(1));
        }
        assert_eq!(
            failures,
            vec![ResolutionFailure {
                next_hop: ip(2),
                dropped: 2
            }]
        );
        assert_eq!(c.counters().requests_sent, 3);
        assert_eq!(c.counters().resolution_failed, 2);
        assert_eq!(c.pending_packets(), 0);
        assert_eq!(c.next_deadline(), None);
        // A late reply releases nothing.
        assert!(
            c.handle_packet(secs(11), &reply_from(2, OUR_IP), Some(OUR_IP))
                .released
                .is_empty()
        );
        // The failure fires exactly one interval after the last request.
        let mut c = ArpCache::new(OUR_MAC, &Limits::default());
        c.enqueue(secs(0), ip(3), vec![9]);
        for s in 0..3 {
            assert_eq!(c.next_deadline(), Some(secs(s)));
            assert_eq!(drain(&mut c, secs(s), None).len(), 1);
        }
        assert_eq!(c.next_deadline(), Some(secs(3)));
        assert!(
            c.handle_timeout(Instant::from_nanos(secs(3).as_nanos() - 1))
                .is_empty()
        );
        assert_eq!(
            c.handle_timeout(secs(3)),
            vec![ResolutionFailure {
                next_hop: ip(3),
                dropped: 1
            }]
        );
    }

    #[test]
    fn arp_resolution_releases_queued_packets_in_order() {
        // RFC 1122 §2.3.2.2: datagrams held during resolution go out when it completes, in
        // the order they were queued.
        let mut c = cache();
        for p in 0..4u8 {
            c.enqueue(secs(0), ip(2), vec![p]);
        }
        let req = c.poll_request(secs(0), Some(OUR_IP)).unwrap();
        assert_eq!(req, ArpRepr::request(OUR_MAC, OUR_IP, ip(2)));
        let out = c.handle_packet(
            Instant::from_millis(3),
            &reply_from(2, OUR_IP),
            Some(OUR_IP),
        );
        let expected: Vec<_> = (0..4u8).map(|p| (mac(2), vec![p])).collect();
        assert_eq!(out.released, expected);
        assert_eq!(c.lookup(Instant::from_millis(3), ip(2)), Some(mac(2)));
        assert_eq!(c.pending_packets(), 0);
        // No retry remains scheduled: only the entry's expiry.
        assert_eq!(
            c.next_deadline(),
            Some(Instant::from_millis(3) + Duration::from_secs(60))
        );
        assert_eq!(c.poll_request(secs(5), Some(OUR_IP)), None);
    }

    #[test]
    fn arp_request_without_address_is_a_probe_and_its_reply_resolves() {
        // RFC 5227 §2.1.1: sender IP 0.0.0.0 while we have no address; the owner's reply
        // (RFC 826 swap: target IP 0.0.0.0, target MAC ours) still resolves, since we asked.
        let mut c = cache();
        c.enqueue(secs(0), ip(2), vec![1]);
        let req = c.poll_request(secs(0), None).unwrap();
        assert!(req.is_probe());
        let reply = req.reply(mac(2));
        assert_eq!(reply.target_ip, Ipv4Addr::UNSPECIFIED);
        let out = c.handle_packet(secs(0), &reply, None);
        assert_eq!(out.released, vec![(mac(2), vec![1])]);
        assert_eq!(c.lookup(secs(0), ip(2)), Some(mac(2)));
        // A reply to someone else's MAC does not resolve a pending next hop.
        c.enqueue(secs(0), ip(3), vec![2]);
        let other = ArpRepr::request(mac(9), Ipv4Addr::UNSPECIFIED, ip(3)).reply(mac(3));
        assert!(c.handle_packet(secs(0), &other, None).released.is_empty());
        assert_eq!(c.pending_packets(), 1);
    }

    #[test]
    fn arp_conflict_detection() {
        // RFC 5227 §2.4: a packet whose sender IP is our address and whose sender MAC is not
        // ours is a conflict; it is not learned or answered.
        let mut c = cache();
        let claim = ArpRepr::announcement(mac(8), OUR_IP);
        let out = c.handle_packet(secs(1), &claim, Some(OUR_IP));
        assert_eq!(out.conflict, Some(mac(8)));
        assert_eq!(out.reply, None);
        assert_eq!(c.lookup(secs(1), OUR_IP), None);
        let asks = ArpRepr::request(mac(8), OUR_IP, ip(5));
        assert_eq!(
            c.handle_packet(secs(2), &asks, Some(OUR_IP)).conflict,
            Some(mac(8))
        );
        assert_eq!(c.counters().conflicts, 2);
        // Our own announcement looped back is no conflict.
        let own = ArpRepr::announcement(OUR_MAC, OUR_IP);
        assert_eq!(
            c.handle_packet(secs(3), &own, Some(OUR_IP)),
            ArpInput::default()
        );
        // Nor is someone probing for our address: we answer it (RFC 5227 §2.1.1 relies on
        // the owner's reply).
        let probe = ArpRepr::probe(mac(9), OUR_IP);
        let out = c.handle_packet(secs(4), &probe, Some(OUR_IP));
        assert_eq!(out.conflict, None);
        assert_eq!(out.reply, Some(probe.reply(OUR_MAC)));
        assert_eq!(c.counters().conflicts, 2);
        assert_eq!(c.counters().rx_malformed, 0);
    }

    #[test]
    fn arp_bogus_senders_counted_malformed() {
        // RFC 826 / RFC 1122 §2.3.2: group or zero hardware addresses and zero, broadcast or
        // multicast protocol addresses cannot be a sender's; unknown opcodes are not ARP's.
        let mut c = cache();
        let bad = [
            ArpRepr::request(MacAddr::BROADCAST, ip(2), OUR_IP),
            ArpRepr::request(MacAddr([0x01, 0, 0x5e, 0, 0, 1]), ip(2), OUR_IP),
            ArpRepr::request(MacAddr::ZERO, ip(2), OUR_IP),
            ArpRepr::request(mac(2), Ipv4Addr::BROADCAST, OUR_IP),
            ArpRepr::request(mac(2), Ipv4Addr::new(224, 0, 0, 1), OUR_IP),
        ];
        for r in &bad {
            assert_eq!(
                c.handle_packet(secs(0), r, Some(OUR_IP)),
                ArpInput::default()
            );
        }
        // A reply with sender IP zero is not a probe.
        let zero_reply = ArpRepr {
            sender_ip: Ipv4Addr::UNSPECIFIED,
            ..reply_from(2, OUR_IP)
        };
        assert_eq!(
            c.handle_packet(secs(0), &zero_reply, Some(OUR_IP)),
            ArpInput::default()
        );
        let rarp = ArpRepr {
            operation: ArpOperation(3),
            ..ArpRepr::request(mac(2), ip(2), OUR_IP)
        };
        assert_eq!(
            c.handle_packet(secs(0), &rarp, Some(OUR_IP)),
            ArpInput::default()
        );
        c.count_malformed();
        assert_eq!(c.counters().rx_malformed, 8);
        assert_eq!(c.counters().rx_packets, 8);
        assert!(c.is_empty());
        assert_eq!(c.counters().replies_sent, 0);
    }

    #[test]
    fn arp_probe_sequence_timing_seeded() {
        // RFC 5227 §2.1.1: wait 0..PROBE_WAIT, send PROBE_NUM probes PROBE_MIN..PROBE_MAX
        // apart, then the address is clear ANNOUNCE_WAIT after the last one.
        let seed = 0x5227_0001u64;
        println!("arp_probe_sequence_timing_seeded: seed {seed:#x}");
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let probed = Ipv4Addr::new(10, 0, 0, 77);
        for _round in 0..50 {
            let mut c = cache();
            let start = secs(100);
            c.start_probe(start, probed, &mut rng);
            assert_eq!(c.probe_result(), Some((probed, ProbeResult::InProgress)));
            let mut sent = Vec::new();
            // Jump from deadline to deadline, as the stack does.
            while let Some(t) = c.next_deadline() {
                c.handle_timeout(t);
                for r in drain(&mut c, t, None) {
                    assert_eq!(r, ArpRepr::probe(OUR_MAC, probed));
                    assert_eq!(r.target_mac, MacAddr::ZERO);
                    sent.push(t);
                }
                if c.probe_result() != Some((probed, ProbeResult::InProgress)) {
                    assert_eq!(t, sent[2] + ANNOUNCE_WAIT);
                    break;
                }
            }
            assert_eq!(sent.len(), PROBE_NUM);
            assert!(sent[0] - start <= PROBE_WAIT);
            for w in sent.windows(2) {
                let gap = w[1] - w[0];
                assert!((PROBE_MIN..=PROBE_MAX).contains(&gap), "gap {gap:?}");
            }
            assert_eq!(c.probe_result(), Some((probed, ProbeResult::Clear)));
            assert_eq!(c.counters().requests_sent, 3);
        }
        // A caller that polls late (every 700 ms here) still never sends two probes less
        // than PROBE_MIN apart: each gap counts from the probe actually sent.
        for _round in 0..20 {
            let mut c = cache();
            c.start_probe(Instant::ZERO, probed, &mut rng);
            let mut sent = Vec::new();
            let mut now = Instant::ZERO;
            while c.probe_result() == Some((probed, ProbeResult::InProgress)) {
                c.handle_timeout(now);
                sent.extend(drain(&mut c, now, None).iter().map(|_| now));
                now = now + Duration::from_millis(700);
            }
            assert_eq!(sent.len(), PROBE_NUM);
            for w in sent.windows(2) {
                assert!(w[1] - w[0] >= PROBE_MIN);
            }
        }
        // Same seed, same schedule.
        let times = |seed: u64| {
            let mut c = cache();
            c.start_probe(Instant::ZERO, probed, &mut ChaCha20Rng::seed_from_u64(seed));
            let mut v = Vec::new();
            while let Some(t) = c.next_deadline() {
                c.handle_timeout(t);
                v.extend(drain(&mut c, t, None).iter().map(|_| t));
                if v.len() == PROBE_NUM {
                    break;
                }
            }
            v
        };
        assert_eq!(times(seed), times(seed));
        assert_ne!(times(seed), times(seed + 1));
    }

    #[test]
    fn arp_probe_conflict_stops_probing() {
        // RFC 5227 §2.1.1: a packet with the probed address as sender IP, or another host's
        // probe for it, during the probe window is a conflict; no more probes are sent.
        for other in [
            ArpRepr::request(mac(9), ip(9), Ipv4Addr::new(10, 0, 0, 77)).reply(mac(6)),
            ArpRepr::probe(mac(6), Ipv4Addr::new(10, 0, 0, 77)),
        ] {
            let mut c = cache();
            let probed = Ipv4Addr::new(10, 0, 0, 77);
            c.start_probe(secs(0), probed, &mut ChaCha20Rng::seed_from_u64(1));
            let first = c.next_deadline().unwrap();
            assert_eq!(drain(&mut c, first, None).len(), 1);
            let out = c.handle_packet(first, &other, None);
            assert_eq!(out.probe_conflict, Some(mac(6)));
            assert_eq!(
                c.probe_result(),
                Some((probed, ProbeResult::Conflict(mac(6))))
            );
            assert_eq!(c.counters().conflicts, 1);
            assert_eq!(c.next_deadline(), None);
            assert!(drain(&mut c, secs(60), None).is_empty());
            c.handle_timeout(secs(60));
            assert_eq!(
                c.probe_result(),
                Some((probed, ProbeResult::Conflict(mac(6))))
            );
            c.cancel_probe();
            assert_eq!(c.probe_result(), None);
        }
    }

    #[test]
    fn arp_announcements() {
        // RFC 5227 §2.3: ANNOUNCE_NUM announcements ANNOUNCE_INTERVAL apart, sender and
        // target IP the claimed address.
        let mut c = cache();
        c.announce(secs(5), OUR_IP);
        let mut sent = Vec::new();
        while let Some(t) = c.next_deadline() {
            for r in drain(&mut c, t, Some(OUR_IP)) {
                assert!(r.is_announcement());
                assert_eq!(r, ArpRepr::announcement(OUR_MAC, OUR_IP));
                sent.push(t);
            }
        }
        assert_eq!(sent, vec![secs(5), secs(5) + ANNOUNCE_INTERVAL]);
        assert_eq!(c.counters().requests_sent, 2);
    }

    #[test]
    fn arp_ops_do_not_grow_with_entries() {
        // DESIGN.md "Timers that scale": lookup, learning, expiry and next_deadline do a
        // fixed number of ordered-map/set operations whatever the cache size.
        let measure = |n: u32| {
            let limits = Limits {
                arp_cache_entries: 20_000,
                ..Limits::default()
            };
            let mut c = ArpCache::new(OUR_MAC, &limits);
            for i in 0..n {
                let t = Instant::from_millis(u64::from(i));
                c.handle_packet(
                    t,
                    &ArpRepr::request(mac(i + 2), ip(i + 2), OUR_IP),
                    Some(OUR_IP),
                );
            }
            assert_eq!(c.len(), n as usize);
            let now = Instant::from_millis(u64::from(n));
            let mut costs = Vec::new();
            let mut cost = |c: &mut ArpCache, f: &mut dyn FnMut(&mut ArpCache)| {
                let before = c.ops();
                f(c);
                costs.push(c.ops() - before);
            };
            cost(&mut c, &mut |c| {
                assert!(c.lookup(now, ip(n / 2 + 2)).is_some())
            });
            cost(&mut c, &mut |c| {
                assert!(c.lookup(now, ip(n + 100)).is_none())
            });
            cost(&mut c, &mut |c| assert!(c.next_deadline().is_some()));
            cost(&mut c, &mut |c| {
                c.handle_packet(now, &ArpRepr::request(mac(3), ip(3), ip(1)), Some(OUR_IP));
            });
            // Exactly one entry (the first learned) expires.
            let first_expiry = Instant::ZERO + Duration::from_secs(60);
            cost(&mut c, &mut |c| {
                assert!(c.handle_timeout(first_expiry).is_empty())
            });
            cost(&mut c, &mut |c| {
                c.enqueue(now, ip(n + 500), vec![0]);
            });
            cost(&mut c, &mut |c| {
                assert!(c.poll_request(now, Some(OUR_IP)).is_some())
            });
            assert_eq!(c.counters().expirations, 1);
            costs
        };
        let small = measure(10);
        let large = measure(10_000);
        println!("ARP ops per call, 10 entries {small:?}, 10000 entries {large:?}");
        assert_eq!(small, large);
    }
}
