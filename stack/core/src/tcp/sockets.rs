//! The TCP socket table: connections in a generational slab, an O(1) demultiplexing table
//! keyed by the 4-tuple (SipHash, keyed from the seed), listeners by (address, port), the
//! connections with output waiting, RFC 6528 ISNs and RFC 6056 ephemeral ports.

use super::conn::{Conn, ConnStats, TcpConfig};
use super::seq::Seq;
use crate::table::{SeededState, Table, table};
use crate::time::Instant;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::hash::{BuildHasher, Hasher};
use weft_wire::Ipv4Addr;

/// A TCP connection's handle: slab index and generation (a stale handle is refused, never
/// aliased to a newer connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TcpSocketId {
    /// Slab index.
    pub index: u32,
    /// Generation of the slot.
    pub generation: u32,
}

/// A listening socket's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TcpListenerId(pub u32);

/// The 4-tuple: (local address, local port, remote address, remote port).
pub type FourTuple = (Ipv4Addr, u16, Ipv4Addr, u16);

/// Who holds a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The application (it was connected or accepted).
    App,
    /// A listener, until the application accepts it.
    Listener(u32),
    /// Nobody: the application closed or aborted it; it lives until fully closed.
    Released,
}

/// A connection's entry: its state machine, then in one cache line what else a segment or
/// an application call touches (the output path, the 4-tuple, the owner, the dirty flag).
/// The entry's generation is in the table's dense `generations` array, not here: checking a
/// handle reads that array (a few lines for thousands of connections), not a line of the
/// entry. `repr(C)` keeps the order; `a_slot_is_its_conn_and_one_line` checks it.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Slot {
    pub(crate) conn: Conn,
    /// Its output path as last worked out (the stack checks it is still valid before use).
    pub(crate) path: Option<crate::stack::TcpPath>,
    pub(crate) tuple: FourTuple,
    pub(crate) owner: Owner,
    /// On the dirty list.
    pub(crate) dirty: bool,
    /// In its listener's accept queue.
    pub(crate) queued: bool,
}

#[derive(Debug)]
pub(crate) struct ListenerSlot {
    pub(crate) local: (Ipv4Addr, u16),
    pub(crate) backlog: usize,
    /// Established connections waiting for `accept`.
    pub(crate) accept_queue: VecDeque<u32>,
    /// Connections of this listener not yet accepted (handshaking or queued).
    pub(crate) pending: usize,
    pub(crate) config: TcpConfig,
}

/// What the table counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// Segments received (valid checksum and header).
    pub rx_segments: u64,
    /// Of those, data segments taken by header prediction (`Conn::handle_data_fast`: in
    /// order, nothing else to do) rather than the general rules.
    pub rx_predicted: u64,
    /// Segments with a bad checksum (MUST-3: dropped).
    pub rx_bad_checksum: u64,
    /// Segments too short or with a bad header.
    pub rx_malformed: u64,
    /// Segments to a port nobody listens on (answered with RST).
    pub rx_no_socket: u64,
    /// Segments sent to a broadcast or multicast address (dropped, RFC 1122 §4.2.3.10).
    pub rx_broadcast: u64,
    /// Segments sent.
    pub tx_segments: u64,
    /// RSTs sent for segments that matched no connection.
    pub rst_sent: u64,
    /// SYNs dropped because the listener's backlog was full.
    pub backlog_drops: u64,
    /// Connections refused by the connection limit.
    pub connection_limit: u64,
    /// Challenge ACKs suppressed by the rate limit (RFC 5961 §7).
    pub challenge_acks_limited: u64,
    /// Connections opened actively.
    pub connects: u64,
    /// Connections opened passively (SYN received on a listener).
    pub passive_opens: u64,
    /// Times a connection's output was held back by a full transmit queue (it is sent at a
    /// later `poll_transmit`).
    pub tx_deferred: u64,
    /// Demultiplexing table operations (operation-count tests).
    pub demux_ops: u64,
}

/// RFC 6056 §2.1: the dynamic port range.
pub(crate) const EPHEMERAL_FIRST: u16 = 49152;
const EPHEMERAL_COUNT: u32 = 65536 - 49152;

#[derive(Debug)]
pub(crate) struct TcpSockets {
    pub(crate) slots: Vec<Option<Slot>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    pub(crate) live: usize,
    demux: Table<FourTuple, u32>,
    /// The last 4-tuple `lookup` found and its slot, so a run of segments of one connection
    /// hashes once (forgotten whenever `demux` changes).
    last_demux: Option<(FourTuple, u32)>,
    pub(crate) listeners: Vec<Option<ListenerSlot>>,
    listen_table: Table<(Ipv4Addr, u16), u32>,
    /// Connections with output or events waiting.
    pub(crate) dirty: VecDeque<u32>,
    isn_key: SeededState,
    port_key: SeededState,
    next_ephemeral: u32,
    pub(crate) config: TcpConfig,
    pub(crate) max_connections: usize,
    pub(crate) max_backlog: usize,
    pub(crate) counters: TcpCounters,
    /// Per-connection counts of the connections already freed.
    pub(crate) closed_stats: ConnStats,
}

/// RFC 5961 §7: at most `per_sec` challenge ACKs per second, stack-wide.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChallengeLimiter {
    per_sec: u32,
    window: (Instant, u32),
    pub(crate) limited: u64,
}

impl ChallengeLimiter {
    pub(crate) fn new(per_sec: u32) -> ChallengeLimiter {
        ChallengeLimiter {
            per_sec,
            window: (Instant::ZERO, 0),
            limited: 0,
        }
    }

    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        let (start, n) = self.window;
        if n == 0 || now.saturating_since(start) >= crate::time::Duration::from_secs(1) {
            self.window = (now, 1);
            return self.per_sec > 0;
        }
        if n < self.per_sec {
            self.window = (start, n + 1);
            true
        } else {
            self.limited += 1;
            false
        }
    }
}

impl TcpSockets {
    pub(crate) fn new(
        keys: [u64; 8],
        config: TcpConfig,
        max_connections: usize,
        max_backlog: usize,
    ) -> TcpSockets {
        let [a, b, c, d, e, f, g, h] = keys;
        TcpSockets {
            slots: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            live: 0,
            demux: table(SeededState::new(a, b)),
            last_demux: None,
            listeners: Vec::new(),
            listen_table: table(SeededState::new(c, d)),
            dirty: VecDeque::new(),
            isn_key: SeededState::new(e, f),
            port_key: SeededState::new(g, h),
            next_ephemeral: 0,
            config,
            max_connections,
            max_backlog,
            counters: TcpCounters::default(),
            closed_stats: ConnStats::default(),
        }
    }

    /// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a
    /// 4-microsecond clock (MUST-8: clock-driven), F a keyed PRF (MUST-9: not computable
    /// from outside).
    pub(crate) fn isn(&self, now: Instant, t: FourTuple) -> Seq {
        let m = (now.as_nanos() / 4_000) as u32;
        let mut h = self.isn_key.build_hasher();
        h.write(&t.0.octets());
        h.write_u16(t.1);
        h.write(&t.2.octets());
        h.write_u16(t.3);
        Seq(m.wrapping_add(h.finish() as u32))
    }

    /// RFC 6056 §3.3.3 (Algorithm 3, "simple hash-based"): a per-destination offset from a
    /// keyed hash plus a global counter; the first port whose 4-tuple is free.
    pub(crate) fn ephemeral_port(
        &mut self,
        local: Ipv4Addr,
        remote: (Ipv4Addr, u16),
    ) -> Option<u16> {
        let mut h = self.port_key.build_hasher();
        h.write(&local.octets());
        h.write(&remote.0.octets());
        h.write_u16(remote.1);
        let offset = h.finish() as u32;
        for count in 0..EPHEMERAL_COUNT {
            let port = EPHEMERAL_FIRST as u32
                + (self.next_ephemeral.wrapping_add(offset).wrapping_add(count) % EPHEMERAL_COUNT);
            let port = port as u16;
            self.counters.demux_ops += 1;
            if !self.demux.contains_key(&(local, port, remote.0, remote.1))
                && self.listener_for(local, port).is_none()
            {
                self.next_ephemeral = self.next_ephemeral.wrapping_add(count + 1);
                return Some(port);
            }
        }
        None
    }

    /// [`lookup`](Self::lookup) with the 4-tuple's parts passed separately: the check
    /// against the last connection found compares them one by one, as they came (a tuple
    /// assembled in memory from them and read back whole stalls on store forwarding).
    #[inline]
    pub(crate) fn lookup_parts(
        &mut self,
        local: Ipv4Addr,
        lport: u16,
        remote: Ipv4Addr,
        rport: u16,
    ) -> Option<u32> {
        if let Some(((l, lp, r, rp), index)) = self.last_demux
            && lp == lport
            && rp == rport
            && l == local
            && r == remote
        {
            self.counters.demux_ops += 1;
            return Some(index);
        }
        self.lookup((local, lport, remote, rport))
    }

    pub(crate) fn lookup(&mut self, t: FourTuple) -> Option<u32> {
        self.counters.demux_ops += 1;
        if let Some((last, index)) = self.last_demux
            && last == t
        {
            return Some(index);
        }
        let found = self.demux.get(&t).copied();
        if let Some(index) = found {
            self.last_demux = Some((t, index));
        }
        found
    }

    pub(crate) fn listener_for(&self, addr: Ipv4Addr, port: u16) -> Option<u32> {
        self.listen_table
            .get(&(addr, port))
            .or_else(|| self.listen_table.get(&(Ipv4Addr::UNSPECIFIED, port)))
            .copied()
    }

    pub(crate) fn id_of(&self, index: u32) -> Option<TcpSocketId> {
        self.slots.get(index as usize)?.as_ref()?;
        Some(TcpSocketId {
            index,
            generation: self.generations.get(index as usize).copied()?,
        })
    }

    /// True when `id` names the connection now in its slot (a slot's generation moves on
    /// when it is freed).
    fn current(&self, id: TcpSocketId) -> bool {
        self.generations.get(id.index as usize) == Some(&id.generation)
    }

    pub(crate) fn slot(&self, id: TcpSocketId) -> Option<&Slot> {
        if !self.current(id) {
            return None;
        }
        self.slots.get(id.index as usize).and_then(|s| s.as_ref())
    }

    pub(crate) fn slot_mut(&mut self, id: TcpSocketId) -> Option<&mut Slot> {
        if !self.current(id) {
            return None;
        }
        self.slots
            .get_mut(id.index as usize)
            .and_then(|s| s.as_mut())
    }

    pub(crate) fn slot_at(&mut self, index: u32) -> Option<&mut Slot> {
        self.slots.get_mut(index as usize).and_then(|s| s.as_mut())
    }

    /// Adds a connection; `None` at the connection limit.
    pub(crate) fn insert(&mut self, conn: Conn, tuple: FourTuple, owner: Owner) -> Option<u32> {
        if self.live >= self.max_connections {
            self.counters.connection_limit += 1;
            return None;
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.generations.push(0);
                u32::try_from(self.slots.len() - 1).ok()?
            }
        };
        if let Some(s) = self.slots.get_mut(index as usize) {
            *s = Some(Slot {
                conn,
                tuple,
                owner,
                dirty: false,
                path: None,
                queued: false,
            });
        }
        self.counters.demux_ops += 1;
        self.last_demux = None;
        self.demux.insert(tuple, index);
        self.live += 1;
        self.mark_dirty(index);
        Some(index)
    }

    /// Frees a connection's slot and its demultiplexing entry.
    pub(crate) fn remove(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::take) else {
            return;
        };
        self.counters.demux_ops += 1;
        self.closed_stats.accumulate(&slot.conn.stats());
        if self.demux.get(&slot.tuple) == Some(&index) {
            self.last_demux = None;
            self.demux.remove(&slot.tuple);
        }
        if let Owner::Listener(l) = slot.owner
            && let Some(Some(ls)) = self.listeners.get_mut(l as usize)
        {
            ls.pending = ls.pending.saturating_sub(1);
            if slot.queued {
                ls.accept_queue.retain(|i| *i != index);
            }
        }
        if let Some(g) = self.generations.get_mut(index as usize) {
            *g = g.wrapping_add(1);
        }
        self.free.push(index);
        self.live -= 1;
    }

    pub(crate) fn mark_dirty(&mut self, index: u32) {
        if let Some(Some(s)) = self.slots.get_mut(index as usize)
            && !s.dirty
        {
            s.dirty = true;
            self.dirty.push_back(index);
        }
    }

    pub(crate) fn listen(
        &mut self,
        local: (Ipv4Addr, u16),
        backlog: usize,
        config: TcpConfig,
    ) -> Option<TcpListenerId> {
        if self.listen_table.contains_key(&local) {
            return None;
        }
        let index = match self.listeners.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.listeners.push(None);
                self.listeners.len() - 1
            }
        };
        let id = u32::try_from(index).ok()?;
        if let Some(s) = self.listeners.get_mut(index) {
            *s = Some(ListenerSlot {
                local,
                backlog: backlog.clamp(1, self.max_backlog.max(1)),
                accept_queue: VecDeque::new(),
                pending: 0,
                config,
            });
        }
        self.listen_table.insert(local, id);
        Some(TcpListenerId(id))
    }

    pub(crate) fn listener(&mut self, id: TcpListenerId) -> Option<&mut ListenerSlot> {
        self.listeners
            .get_mut(id.0 as usize)
            .and_then(|s| s.as_mut())
    }

    /// Removes a listener; returns the connections it still held (to be reset).
    pub(crate) fn unlisten(&mut self, id: TcpListenerId) -> Vec<u32> {
        let Some(ls) = self.listeners.get_mut(id.0 as usize).and_then(Option::take) else {
            return Vec::new();
        };
        self.listen_table.remove(&ls.local);
        let mut orphans = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            if let Some(s) = s
                && s.owner == Owner::Listener(id.0)
            {
                s.owner = Owner::Released;
                s.queued = false;
                orphans.push(i as u32);
            }
        }
        orphans
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    /// `Slot`'s note: the connection's lines, then one line holding everything else a
    /// segment or an application call reads in the entry (a second line would be a second
    /// miss per segment once the entry has left the caches).
    #[test]
    fn a_slot_is_its_conn_and_one_line() {
        const LINE: usize = 64;
        let conn = size_of::<Conn>();
        assert_eq!(conn % LINE, 0);
        assert_eq!(offset_of!(Slot, conn), 0);
        for (name, at, len) in [
            (
                "path",
                offset_of!(Slot, path),
                size_of::<Option<crate::stack::TcpPath>>(),
            ),
            ("tuple", offset_of!(Slot, tuple), size_of::<FourTuple>()),
            ("owner", offset_of!(Slot, owner), size_of::<Owner>()),
            ("dirty", offset_of!(Slot, dirty), 1),
            ("queued", offset_of!(Slot, queued), 1),
        ] {
            assert!(
                at >= conn && at + len <= conn + LINE,
                "{name} at {at}..{}, outside the line after the connection's {conn} bytes",
                at + len
            );
        }
        assert_eq!(size_of::<Option<Slot>>(), conn + LINE);
    }
}
