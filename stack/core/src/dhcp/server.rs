//! A small, deterministic DHCP server (RFC 2131 §4.3) for tests and simulated hosts.
//!
//! [`DhcpServer`] serves one subnet from one address pool. It answers DISCOVER with OFFER,
//! REQUEST with ACK or NAK, INFORM with an ACK without lease, and takes DECLINE and RELEASE.
//! Every decision depends only on its configuration, the messages it is given and `now`:
//! addresses are handed out lowest first, tables are ordered maps, and nothing is random.
//!
//! Driving it:
//! * hand every DHCP message received on port 67 to [`handle`](DhcpServer::handle) and send
//!   the [`Reply`] it returns, if any, as it says (source, destination, port, link address);
//! * call [`handle_timeout`](DhcpServer::handle_timeout) once
//!   [`next_deadline`](DhcpServer::next_deadline) has passed (offers, leases and declined
//!   addresses time out; `handle` also applies what is due before it answers).
//!
//! Bounds: the lease table holds at most one entry per pool address, and the pool is at most
//! [`MAX_POOL_SIZE`] addresses; the client index holds at most one entry per table entry.

use super::client::{DhcpMessage, MAX_DNS_SERVERS, is_host_addr, prefix_of};
use crate::time::{Duration, Instant};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use arrayvec::ArrayVec;
use weft_wire::dhcp::{CLIENT_PORT, DhcpMessageType, DhcpOp, SERVER_PORT};
use weft_wire::{DhcpRepr, Ipv4Addr, MacAddr};

/// The largest pool a server accepts (a /16's worth of addresses).
pub const MAX_POOL_SIZE: u32 = 65_536;

/// What a server hands out and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpServerConfig {
    /// Our address, sent as the server identifier (option 54) and used as the reply source.
    pub server_id: Ipv4Addr,
    /// First address of the pool.
    pub pool_start: Ipv4Addr,
    /// Last address of the pool (inclusive). `server_id` is never handed out.
    pub pool_end: Ipv4Addr,
    /// The subnet's mask (option 1); must be contiguous.
    pub subnet_mask: Ipv4Addr,
    /// Default router (option 3).
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6), in order of preference.
    pub dns_servers: ArrayVec<Ipv4Addr, MAX_DNS_SERVERS>,
    /// Lease duration in seconds (option 51; 0xffffffff is infinite).
    pub lease_time: u32,
    /// T1 in seconds (option 58); omitted when `None` (clients use 0.5 × lease).
    pub renewal_time: Option<u32>,
    /// T2 in seconds (option 59); omitted when `None` (clients use 0.875 × lease).
    pub rebinding_time: Option<u32>,
    /// How long an offered address stays reserved for the client it was offered to.
    pub offer_hold: Duration,
    /// How long a declined address is kept out of the pool.
    pub decline_hold: Duration,
}

impl DhcpServerConfig {
    /// A configuration with a one-hour lease, no router, no DNS servers, no T1/T2 options,
    /// offers held 60 s and declined addresses kept out for 10 minutes.
    pub fn new(
        server_id: Ipv4Addr,
        pool_start: Ipv4Addr,
        pool_end: Ipv4Addr,
        subnet_mask: Ipv4Addr,
    ) -> Self {
        DhcpServerConfig {
            server_id,
            pool_start,
            pool_end,
            subnet_mask,
            router: None,
            dns_servers: ArrayVec::new(),
            lease_time: 3600,
            renewal_time: None,
            rebinding_time: None,
            offer_hold: Duration::from_secs(60),
            decline_hold: Duration::from_secs(600),
        }
    }
}

/// Why a server configuration is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DhcpServerConfigError {
    /// The subnet mask's one bits are not contiguous (or it is zero).
    #[error("subnet mask {mask} is not a contiguous, non-zero mask")]
    BadMask {
        /// The mask.
        mask: Ipv4Addr,
    },
    /// `server_id` is not a host address.
    #[error("server identifier {addr} is not a host address")]
    BadServerId {
        /// The address.
        addr: Ipv4Addr,
    },
    /// The pool ends before it starts.
    #[error("address pool {start} - {end} is empty: the end is below the start")]
    EmptyPool {
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
    /// The pool has more than [`MAX_POOL_SIZE`] addresses.
    #[error("address pool of {size} addresses exceeds the maximum of {max}")]
    PoolTooLarge {
        /// Addresses in the pool.
        size: u64,
        /// [`MAX_POOL_SIZE`].
        max: u32,
    },
    /// A pool address is outside the server's subnet, or is its network or broadcast address.
    #[error("pool address {addr} is not a host address of the subnet of {server_id}/{prefix_len}")]
    PoolOutsideSubnet {
        /// The offending pool end.
        addr: Ipv4Addr,
        /// The server's address.
        server_id: Ipv4Addr,
        /// The subnet's prefix length.
        prefix_len: u8,
    },
    /// A zero lease time.
    #[error("lease time must be at least 1 second")]
    ZeroLeaseTime,
    /// T1 is beyond T2 or T2 beyond the lease (RFC 2131 §4.4.5 expects T1 < T2 < lease).
    #[error("renewal time {t1:?} s, rebinding time {t2:?} s and lease {lease} s are not in order")]
    TimesOutOfOrder {
        /// T1.
        t1: Option<u32>,
        /// T2.
        t2: Option<u32>,
        /// Lease.
        lease: u32,
    },
}

/// The state of one pool address in the lease table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingState {
    /// Offered to a client and held for it until the offer times out.
    Offered,
    /// Leased to a client until the lease expires.
    Leased,
    /// Released or expired: free for anyone, remembered for the client that had it
    /// (RFC 2131 §4.3.1 prefers a client's previous address).
    Free,
    /// Declined by a client (in use by someone else): out of the pool until the hold ends.
    Declined,
}

/// Server counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DhcpServerCounters {
    /// Messages received and acted on.
    pub rx_messages: u64,
    /// Messages ignored (replies, BOOTP, another server's, unknown client, wrong state).
    pub rx_ignored: u64,
    /// OFFERs sent.
    pub offers: u64,
    /// ACKs sent (INFORM answers included).
    pub acks: u64,
    /// NAKs sent.
    pub naks: u64,
    /// DECLINEs taken.
    pub declines: u64,
    /// RELEASEs taken.
    pub releases: u64,
    /// DISCOVERs left unanswered because no address was free.
    pub pool_exhausted: u64,
}

/// A reply to send from `src`:67 to `dst`:`dst_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The message.
    pub message: DhcpMessage,
    /// IP source: the server identifier.
    pub src: Ipv4Addr,
    /// IP destination, chosen by the rules of RFC 2131 §4.1.
    pub dst: Ipv4Addr,
    /// UDP destination port: 68, or 67 when replying to a relay agent.
    pub dst_port: u16,
    /// When set, send the frame to this MAC without ARP: the unicast to `yiaddr` of a client
    /// that has no address yet (RFC 2131 §4.1).
    pub dst_mac: Option<MacAddr>,
}

/// Who a client is: its client identifier (option 61, type octet first) or, without one,
/// its hardware address (RFC 2131 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ClientKey {
    Id(Vec<u8>),
    Hw(MacAddr),
}

impl ClientKey {
    fn of(repr: &DhcpRepr<'_>) -> ClientKey {
        match repr.client_identifier {
            Some(c) => {
                let mut v = Vec::with_capacity(1 + c.id.len());
                v.push(c.kind);
                v.extend_from_slice(c.id);
                ClientKey::Id(v)
            }
            None => ClientKey::Hw(repr.client_hardware_address),
        }
    }
}

/// One lease-table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    /// The client holding, or last holding, the address (`None` once declined).
    client: Option<ClientKey>,
    state: BindingState,
    /// When `state` times out (offer, lease, decline hold); `None` for free or infinite.
    until: Option<Instant>,
}

/// A DHCP server for one subnet (see the module documentation for how to drive it).
///
/// Invariants: every key of `bindings` is a pool address; `clients[k] == a` exactly when
/// `bindings[a].client == Some(k)`; `deadlines` holds `(until, a)` for each binding with a
/// deadline.
#[derive(Debug, Clone)]
pub struct DhcpServer {
    config: DhcpServerConfig,
    /// Pool bounds as integers, inclusive.
    first: u32,
    last: u32,
    /// The subnet's mask as an integer.
    mask: u32,
    bindings: BTreeMap<Ipv4Addr, Binding>,
    clients: BTreeMap<ClientKey, Ipv4Addr>,
    deadlines: BTreeSet<(Instant, Ipv4Addr)>,
    counters: DhcpServerCounters,
}

impl DhcpServer {
    /// A server with an empty lease table, or why `config` cannot work.
    pub fn new(config: DhcpServerConfig) -> Result<Self, DhcpServerConfigError> {
        let Some(prefix_len) = prefix_of(config.subnet_mask) else {
            return Err(DhcpServerConfigError::BadMask {
                mask: config.subnet_mask,
            });
        };
        if !is_host_addr(config.server_id) {
            return Err(DhcpServerConfigError::BadServerId {
                addr: config.server_id,
            });
        }
        let (first, last) = (u32::from(config.pool_start), u32::from(config.pool_end));
        if last < first {
            return Err(DhcpServerConfigError::EmptyPool {
                start: config.pool_start,
                end: config.pool_end,
            });
        }
        let size = u64::from(last - first) + 1;
        if size > u64::from(MAX_POOL_SIZE) {
            return Err(DhcpServerConfigError::PoolTooLarge {
                size,
                max: MAX_POOL_SIZE,
            });
        }
        let mask = u32::from(config.subnet_mask);
        let net = u32::from(config.server_id) & mask;
        for addr in [config.pool_start, config.pool_end] {
            let a = u32::from(addr);
            let host = a & !mask;
            let edge = prefix_len < 31 && (host == 0 || host == !mask);
            if a & mask != net || edge || !is_host_addr(addr) {
                return Err(DhcpServerConfigError::PoolOutsideSubnet {
                    addr,
                    server_id: config.server_id,
                    prefix_len,
                });
            }
        }
        if config.lease_time == 0 {
            return Err(DhcpServerConfigError::ZeroLeaseTime);
        }
        let (t1, t2, lease) = (
            config.renewal_time,
            config.rebinding_time,
            config.lease_time,
        );
        let t1_ok = t1.is_none_or(|t1| t1 <= t2.unwrap_or(lease) && t1 <= lease);
        if !t1_ok || t2.is_some_and(|t2| t2 > lease) {
            return Err(DhcpServerConfigError::TimesOutOfOrder { t1, t2, lease });
        }
        Ok(DhcpServer {
            config,
            first,
            last,
            mask,
            bindings: BTreeMap::new(),
            clients: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            counters: DhcpServerCounters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DhcpServerConfig {
        &self.config
    }

    /// The server's counters.
    pub fn counters(&self) -> DhcpServerCounters {
        self.counters
    }

    /// The state of a pool address and when it times out; `None` for an address never
    /// handed out (or outside the pool).
    pub fn binding(&self, addr: Ipv4Addr) -> Option<(BindingState, Option<Instant>)> {
        self.bindings.get(&addr).map(|b| (b.state, b.until))
    }

    /// Entries in the lease table (at most the pool size).
    pub fn table_len(&self) -> usize {
        self.bindings.len()
    }

    /// The earliest instant at which an offer, lease or decline hold times out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Times out offers, leases and decline holds due at `now`. Call when
    /// [`next_deadline`](Self::next_deadline) has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, addr)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.remove(&(t, addr));
            let Some(b) = self.bindings.get_mut(&addr) else {
                continue;
            };
            b.until = None;
            match b.state {
                // RFC 2131 §4.3.1: an unclaimed offer's reservation ends; RFC 2131 §4.2: an
                // expired lease returns to the pool, remembered for its client.
                BindingState::Offered | BindingState::Leased => b.state = BindingState::Free,
                BindingState::Declined | BindingState::Free => {
                    self.bindings.remove(&addr);
                }
            }
        }
    }

    /// Handles a message received on port 67 and returns the reply to send, if any. Runs
    /// the timeouts due at `now` first.
    pub fn handle(&mut self, now: Instant, repr: &DhcpRepr<'_>) -> Option<Reply> {
        self.handle_timeout(now);
        // RFC 2131 §4.1: servers take BOOTREQUESTs; a message without option 53 is BOOTP,
        // which this server does not serve.
        let kind = match (repr.op, repr.message_type) {
            (DhcpOp::Request, Some(k)) => k,
            _ => return self.ignore(),
        };
        let key = ClientKey::of(repr);
        match kind {
            DhcpMessageType::Discover => self.discover(now, repr, key),
            DhcpMessageType::Request => self.request(now, repr, key),
            DhcpMessageType::Decline => self.decline(now, repr, key),
            DhcpMessageType::Release => self.release(repr, key),
            DhcpMessageType::Inform => self.inform(repr),
            _ => self.ignore(),
        }
    }

    // ---- message handlers -----------------------------------------------------------------

    fn ignore<T>(&mut self) -> Option<T> {
        self.counters.rx_ignored += 1;
        None
    }

    /// RFC 2131 §4.3.1: answer a DISCOVER with an OFFER, choosing the client's current or
    /// previous address, then the requested one, then a free one.
    fn discover(&mut self, now: Instant, repr: &DhcpRepr<'_>, key: ClientKey) -> Option<Reply> {
        let Some(addr) = self.choose(&key, repr.requested_ip) else {
            self.counters.pool_exhausted += 1;
            return self.ignore();
        };
        let leased = self
            .bindings
            .get(&addr)
            .is_some_and(|b| b.state == BindingState::Leased && b.client.as_ref() == Some(&key));
        // A client that already holds the lease keeps it; otherwise the address is held for
        // it while the offer stands.
        if !leased {
            let until = now + self.config.offer_hold;
            self.bind(addr, key, BindingState::Offered, Some(until));
        }
        self.counters.rx_messages += 1;
        self.counters.offers += 1;
        Some(self.reply(repr, DhcpMessageType::Offer, addr))
    }

    /// RFC 2131 §4.3.2: REQUEST in SELECTING (server identifier), INIT-REBOOT (requested IP,
    /// ciaddr 0) or RENEWING/REBINDING (ciaddr).
    fn request(&mut self, now: Instant, repr: &DhcpRepr<'_>, key: ClientKey) -> Option<Reply> {
        if let Some(sid) = repr.server_identifier {
            // SELECTING.
            if sid != self.config.server_id {
                // RFC 2131 §4.3.2: the client chose another server; our offer is void.
                if let Some(&addr) = self.clients.get(&key)
                    && self.state_of(addr) == Some(BindingState::Offered)
                {
                    self.set_state(addr, BindingState::Free, None);
                }
                return self.ignore();
            }
            let Some(addr) = repr.requested_ip else {
                // Table 4: the requested IP MUST be present; nothing to answer.
                return self.ignore();
            };
            return if self.available_to(&key, addr) {
                Some(self.ack(now, repr, key, addr))
            } else {
                Some(self.nak(repr))
            };
        }
        if repr.client_ip.is_unspecified() {
            // INIT-REBOOT.
            let Some(addr) = repr.requested_ip else {
                return self.ignore();
            };
            // RFC 2131 §4.3.2: "If the DHCP server detects that the client is on the wrong
            // net ... the server SHOULD send a DHCPNAK".
            if !self.in_subnet(addr) {
                return Some(self.nak(repr));
            }
            // "If the DHCP server has no record of this client, then it MUST remain silent."
            let Some(&known) = self.clients.get(&key) else {
                return self.ignore();
            };
            // "... check if the client's notion of its IP address is correct. If not, then
            // the server SHOULD send a DHCPNAK".
            return if known == addr && self.available_to(&key, addr) {
                Some(self.ack(now, repr, key, addr))
            } else {
                Some(self.nak(repr))
            };
        }
        // RENEWING or REBINDING: extend the lease on ciaddr if it is ours to give to this
        // client (an address in the pool that no other client holds), NAK otherwise.
        let addr = repr.client_ip;
        if self.available_to(&key, addr) {
            Some(self.ack(now, repr, key, addr))
        } else {
            Some(self.nak(repr))
        }
    }

    /// RFC 2131 §4.3.3: a client found its address in use: mark it unavailable.
    fn decline(&mut self, now: Instant, repr: &DhcpRepr<'_>, key: ClientKey) -> Option<Reply> {
        let (Some(sid), Some(addr)) = (repr.server_identifier, repr.requested_ip) else {
            return self.ignore();
        };
        let holder = self.bindings.get(&addr).and_then(|b| b.client.as_ref());
        if sid != self.config.server_id || holder != Some(&key) {
            return self.ignore();
        }
        if let Some(b) = self.bindings.get_mut(&addr) {
            b.client = None;
        }
        self.clients.remove(&key);
        let until = now + self.config.decline_hold;
        self.set_state(addr, BindingState::Declined, Some(until));
        self.counters.rx_messages += 1;
        self.counters.declines += 1;
        None
    }

    /// RFC 2131 §4.3.4: the client gives its address back; it stays remembered for it.
    fn release(&mut self, repr: &DhcpRepr<'_>, key: ClientKey) -> Option<Reply> {
        let addr = repr.client_ip;
        let b = self.bindings.get(&addr);
        let held = b.is_some_and(|b| {
            b.client.as_ref() == Some(&key)
                && matches!(b.state, BindingState::Leased | BindingState::Offered)
        });
        if repr.server_identifier != Some(self.config.server_id) || !held {
            return self.ignore();
        }
        self.set_state(addr, BindingState::Free, None);
        self.counters.rx_messages += 1;
        self.counters.releases += 1;
        None
    }

    /// RFC 2131 §4.3.5: an ACK with the local parameters, without lease time or `yiaddr`.
    fn inform(&mut self, repr: &DhcpRepr<'_>) -> Option<Reply> {
        let mut r = self.reply(repr, DhcpMessageType::Ack, Ipv4Addr::UNSPECIFIED);
        r.message.lease_time = None;
        r.message.renewal_time = None;
        r.message.rebinding_time = None;
        self.counters.rx_messages += 1;
        self.counters.acks += 1;
        Some(r)
    }

    fn ack(&mut self, now: Instant, repr: &DhcpRepr<'_>, key: ClientKey, addr: Ipv4Addr) -> Reply {
        let until = (self.config.lease_time != u32::MAX)
            .then(|| now + Duration::from_secs(u64::from(self.config.lease_time)));
        self.bind(addr, key, BindingState::Leased, until);
        self.counters.rx_messages += 1;
        self.counters.acks += 1;
        self.reply(repr, DhcpMessageType::Ack, addr)
    }

    /// RFC 2131 §4.3.2 table 3: a NAK carries only the server identifier; `yiaddr` and
    /// `ciaddr` are zero.
    fn nak(&mut self, repr: &DhcpRepr<'_>) -> Reply {
        let mut m = DhcpMessage::new(
            DhcpOp::Reply,
            DhcpMessageType::Nak,
            repr.xid,
            repr.client_hardware_address,
        );
        m.broadcast = repr.broadcast;
        m.relay_agent_ip = repr.relay_agent_ip;
        m.server_identifier = Some(self.config.server_id);
        self.counters.rx_messages += 1;
        self.counters.naks += 1;
        self.addressed(repr, m, true)
    }

    /// An OFFER or ACK (RFC 2131 §4.3.1 table 3) with the configured parameters.
    fn reply(&self, repr: &DhcpRepr<'_>, kind: DhcpMessageType, addr: Ipv4Addr) -> Reply {
        let c = &self.config;
        let mut m = DhcpMessage::new(DhcpOp::Reply, kind, repr.xid, repr.client_hardware_address);
        m.broadcast = repr.broadcast;
        m.relay_agent_ip = repr.relay_agent_ip;
        // Table 3: ciaddr is 0 in an OFFER, the request's in an ACK.
        if kind == DhcpMessageType::Ack {
            m.client_ip = repr.client_ip;
        }
        m.your_ip = addr;
        m.server_identifier = Some(c.server_id);
        m.lease_time = Some(c.lease_time);
        m.renewal_time = c.renewal_time;
        m.rebinding_time = c.rebinding_time;
        m.subnet_mask = Some(c.subnet_mask);
        m.router = c.router;
        m.dns_servers = c.dns_servers.clone();
        self.addressed(repr, m, false)
    }

    /// RFC 2131 §4.1: where a reply goes. `giaddr` set: to the relay agent's port 67.
    /// Otherwise a NAK is broadcast; with `ciaddr` set, unicast to it; with the broadcast
    /// bit, broadcast; else unicast to `yiaddr` at `chaddr`, without ARP.
    fn addressed(&self, req: &DhcpRepr<'_>, message: DhcpMessage, nak: bool) -> Reply {
        let (dst, dst_port, dst_mac) = if !req.relay_agent_ip.is_unspecified() {
            (req.relay_agent_ip, SERVER_PORT, None)
        } else if nak {
            (Ipv4Addr::BROADCAST, CLIENT_PORT, None)
        } else if !req.client_ip.is_unspecified() {
            (req.client_ip, CLIENT_PORT, None)
        } else if req.broadcast || message.your_ip.is_unspecified() {
            (Ipv4Addr::BROADCAST, CLIENT_PORT, None)
        } else {
            (
                message.your_ip,
                CLIENT_PORT,
                Some(req.client_hardware_address),
            )
        };
        Reply {
            message,
            src: self.config.server_id,
            dst,
            dst_port,
            dst_mac,
        }
    }

    // ---- the lease table ----------------------------------------------------------------

    fn in_pool(&self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        (self.first..=self.last).contains(&a) && addr != self.config.server_id
    }

    fn in_subnet(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask == u32::from(self.config.server_id) & self.mask
    }

    fn state_of(&self, addr: Ipv4Addr) -> Option<BindingState> {
        self.bindings.get(&addr).map(|b| b.state)
    }

    /// True when `addr` is a pool address that `key` may hold: never handed out, free, or
    /// already offered or leased to `key`.
    fn available_to(&self, key: &ClientKey, addr: Ipv4Addr) -> bool {
        if !self.in_pool(addr) {
            return false;
        }
        match self.bindings.get(&addr) {
            None => true,
            Some(b) => match b.state {
                BindingState::Free => true,
                BindingState::Declined => false,
                BindingState::Offered | BindingState::Leased => b.client.as_ref() == Some(key),
            },
        }
    }

    /// RFC 2131 §4.3.1's order: the client's current binding or previous address, then the
    /// requested address, then the lowest never-used address, then the lowest free one.
    fn choose(&self, key: &ClientKey, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if let Some(&addr) = self.clients.get(key)
            && self.available_to(key, addr)
        {
            return Some(addr);
        }
        if let Some(addr) = requested.filter(|a| self.available_to(key, *a)) {
            return Some(addr);
        }
        // Never-used addresses first, so remembered ones stay with their clients longer.
        // Bounded by the pool size (at most MAX_POOL_SIZE lookups).
        let fresh = (self.first..=self.last)
            .map(Ipv4Addr::from)
            .find(|a| *a != self.config.server_id && !self.bindings.contains_key(a));
        fresh.or_else(|| {
            self.bindings
                .iter()
                .find(|(_, b)| b.state == BindingState::Free)
                .map(|(a, _)| *a)
        })
    }

    /// Gives `addr` to `key` in `state`: the client's other entry and the address's previous
    /// client are forgotten.
    fn bind(
        &mut self,
        addr: Ipv4Addr,
        key: ClientKey,
        state: BindingState,
        until: Option<Instant>,
    ) {
        if let Some(old) = self.clients.get(&key).copied().filter(|a| *a != addr) {
            // The client moves: its old address returns to the pool.
            self.set_deadline(old, None);
            self.bindings.remove(&old);
        }
        if let Some(prev) = self.bindings.get(&addr).and_then(|b| b.client.clone())
            && prev != key
        {
            self.clients.remove(&prev);
        }
        self.set_deadline(addr, None);
        self.clients.insert(key.clone(), addr);
        self.bindings.insert(
            addr,
            Binding {
                client: Some(key),
                state,
                until: None,
            },
        );
        self.set_state(addr, state, until);
    }

    fn set_state(&mut self, addr: Ipv4Addr, state: BindingState, until: Option<Instant>) {
        self.set_deadline(addr, until);
        if let Some(b) = self.bindings.get_mut(&addr) {
            b.state = state;
        }
    }

    fn set_deadline(&mut self, addr: Ipv4Addr, until: Option<Instant>) {
        let Some(b) = self.bindings.get_mut(&addr) else {
            return;
        };
        if let Some(old) = b.until.take() {
            self.deadlines.remove(&(old, addr));
        }
        if let Some(t) = until.filter(|t| *t != Instant::MAX) {
            b.until = Some(t);
            self.deadlines.insert((t, addr));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use weft_wire::DhcpPacket;

    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xa]);
    const B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xb]);

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, last)
    }

    fn config() -> DhcpServerConfig {
        let mut c = DhcpServerConfig::new(SERVER, ip(10), ip(12), Ipv4Addr::new(255, 255, 255, 0));
        c.router = Some(SERVER);
        c.dns_servers.push(ip(53));
        c.lease_time = 100;
        c.renewal_time = Some(40);
        c.rebinding_time = Some(80);
        c
    }

    fn server() -> DhcpServer {
        DhcpServer::new(config()).unwrap()
    }

    fn request(kind: DhcpMessageType, mac: MacAddr) -> DhcpMessage {
        let mut m = DhcpMessage::new(DhcpOp::Request, kind, 0x1234, mac);
        m.client_id = true;
        m
    }

    /// Sends `m` through the wire format to the server.
    fn send(s: &mut DhcpServer, now: Instant, m: &DhcpMessage) -> Option<Reply> {
        let mut b = vec![0u8; m.buffer_len()];
        m.emit(&mut b).unwrap();
        let p = DhcpPacket::new_checked(&b[..]).unwrap();
        let r = DhcpRepr::parse(&p).unwrap();
        let reply = s.handle(now, &r)?;
        // Every reply emits and parses back.
        let mut out = vec![0u8; reply.message.buffer_len()];
        reply.message.emit(&mut out).unwrap();
        let p = DhcpPacket::new_checked(&out[..]).unwrap();
        assert_eq!(DhcpRepr::parse(&p).unwrap(), reply.message.repr());
        Some(reply)
    }

    fn discover(s: &mut DhcpServer, now: Instant, mac: MacAddr) -> Option<Reply> {
        send(s, now, &request(DhcpMessageType::Discover, mac))
    }

    fn select(s: &mut DhcpServer, now: Instant, mac: MacAddr, addr: Ipv4Addr) -> Option<Reply> {
        let mut q = request(DhcpMessageType::Request, mac);
        q.requested_ip = Some(addr);
        q.server_identifier = Some(SERVER);
        send(s, now, &q)
    }

    fn t(s: u64) -> Instant {
        Instant::from_secs(s)
    }

    #[test]
    fn dhcp_server_offers_the_same_address_to_the_same_client() {
        // RFC 2131 §4.3.1: the client's current binding first, then a new address.
        let mut s = server();
        let o = discover(&mut s, t(0), A).unwrap();
        let m = &o.message;
        assert_eq!(
            (m.op, m.message_type),
            (DhcpOp::Reply, DhcpMessageType::Offer)
        );
        assert_eq!(
            (m.your_ip, m.client_ip, m.xid),
            (ip(10), Ipv4Addr::UNSPECIFIED, 0x1234)
        );
        assert_eq!(m.server_identifier, Some(SERVER));
        assert_eq!(
            (m.lease_time, m.renewal_time, m.rebinding_time),
            (Some(100), Some(40), Some(80))
        );
        assert_eq!(m.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(
            (m.router, m.dns_servers.as_slice()),
            (Some(SERVER), &[ip(53)][..])
        );
        assert!(
            !m.client_id,
            "RFC 2131 table 3: no client identifier in replies"
        );
        assert_eq!(
            s.binding(ip(10)),
            Some((BindingState::Offered, Some(t(60))))
        );
        assert_eq!(discover(&mut s, t(1), A).unwrap().message.your_ip, ip(10));
        assert_eq!(discover(&mut s, t(1), B).unwrap().message.your_ip, ip(11));
        // Keyed by client identifier when there is one: the same MAC without option 61 is
        // another client.
        let mut anon = request(DhcpMessageType::Discover, A);
        anon.client_id = false;
        assert_eq!(send(&mut s, t(1), &anon).unwrap().message.your_ip, ip(12));
        // The pool (10..=12) is exhausted for a fourth client.
        let c = MacAddr([0x02, 0, 0, 0, 0, 0xc]);
        assert_eq!(discover(&mut s, t(1), c), None);
        assert_eq!(s.counters().pool_exhausted, 1);
        // Offers time out (RFC 2131 §4.3.1 reservation) and the address is free again, still
        // preferred by its old client.
        // (Each DISCOVER at t = 1 renewed its client's hold until 61.)
        assert_eq!(s.next_deadline(), Some(t(61)));
        s.handle_timeout(t(61));
        assert_eq!(s.binding(ip(10)), Some((BindingState::Free, None)));
        assert_eq!(discover(&mut s, t(62), A).unwrap().message.your_ip, ip(10));
        // A requested address (option 50) is honoured when available.
        let mut s = server();
        let mut d = request(DhcpMessageType::Discover, A);
        d.requested_ip = Some(ip(12));
        assert_eq!(send(&mut s, t(0), &d).unwrap().message.your_ip, ip(12));
        assert!(s.table_len() <= 3);
    }

    #[test]
    fn dhcp_server_request_ack_nak_and_other_server() {
        // RFC 2131 §4.3.2: SELECTING REQUEST for our offer: ACK; for an unavailable address:
        // NAK; naming another server: silence, and our offer is withdrawn.
        let mut s = server();
        discover(&mut s, t(0), A).unwrap();
        let ack = select(&mut s, t(1), A, ip(10)).unwrap();
        assert_eq!(ack.message.message_type, DhcpMessageType::Ack);
        assert_eq!(ack.message.your_ip, ip(10));
        assert_eq!(
            s.binding(ip(10)),
            Some((BindingState::Leased, Some(t(101))))
        );
        // B asks for A's address: NAK, broadcast (RFC 2131 §4.1).
        let nak = select(&mut s, t(2), B, ip(10)).unwrap();
        assert_eq!(nak.message.message_type, DhcpMessageType::Nak);
        assert_eq!(nak.message.your_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(nak.message.lease_time, None);
        assert_eq!(nak.message.server_identifier, Some(SERVER));
        assert_eq!((nak.dst, nak.dst_port), (Ipv4Addr::BROADCAST, 68));
        // Outside the pool: NAK.
        assert_eq!(
            select(&mut s, t(2), B, ip(99))
                .unwrap()
                .message
                .message_type,
            DhcpMessageType::Nak
        );
        // B was offered .11 but chose another server.
        assert_eq!(discover(&mut s, t(3), B).unwrap().message.your_ip, ip(11));
        let mut q = request(DhcpMessageType::Request, B);
        q.requested_ip = Some(Ipv4Addr::new(10, 0, 0, 200));
        q.server_identifier = Some(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(send(&mut s, t(4), &q), None);
        assert_eq!(s.binding(ip(11)), Some((BindingState::Free, None)));
        // Renewal (ciaddr set): ACK unicast to ciaddr with ciaddr echoed.
        let mut r = request(DhcpMessageType::Request, A);
        r.client_ip = ip(10);
        let ack = send(&mut s, t(50), &r).unwrap();
        assert_eq!(ack.message.message_type, DhcpMessageType::Ack);
        assert_eq!(
            (ack.message.client_ip, ack.message.your_ip),
            (ip(10), ip(10))
        );
        assert_eq!((ack.dst, ack.dst_port, ack.dst_mac), (ip(10), 68, None));
        assert_eq!(
            s.binding(ip(10)),
            Some((BindingState::Leased, Some(t(150))))
        );
        // B renewing A's address: NAK.
        let mut r = request(DhcpMessageType::Request, B);
        r.client_ip = ip(10);
        assert_eq!(
            send(&mut s, t(51), &r).unwrap().message.message_type,
            DhcpMessageType::Nak
        );
        let k = s.counters();
        assert_eq!((k.acks, k.naks, k.offers, k.rx_ignored), (2, 3, 2, 1));
    }

    #[test]
    fn dhcp_server_init_reboot_rules() {
        // RFC 2131 §4.3.2 INIT-REBOOT: wrong network: NAK; no record: silent; wrong address:
        // NAK; the client's address: ACK.
        let mut s = server();
        let reboot = |mac, addr| {
            let mut q = request(DhcpMessageType::Request, mac);
            q.requested_ip = Some(addr);
            q
        };
        let nak = send(&mut s, t(0), &reboot(A, Ipv4Addr::new(192, 168, 0, 5))).unwrap();
        assert_eq!(nak.message.message_type, DhcpMessageType::Nak);
        assert_eq!(send(&mut s, t(0), &reboot(A, ip(10))), None);
        discover(&mut s, t(1), A).unwrap();
        select(&mut s, t(1), A, ip(10)).unwrap();
        let nak = send(&mut s, t(2), &reboot(A, ip(11))).unwrap();
        assert_eq!(nak.message.message_type, DhcpMessageType::Nak);
        let ack = send(&mut s, t(3), &reboot(A, ip(10))).unwrap();
        assert_eq!(ack.message.message_type, DhcpMessageType::Ack);
        assert_eq!(
            s.binding(ip(10)),
            Some((BindingState::Leased, Some(t(103))))
        );
    }

    #[test]
    fn dhcp_server_reply_destinations() {
        // RFC 2131 §4.1: giaddr -> relay port 67; ciaddr -> unicast; broadcast bit ->
        // broadcast; else unicast to yiaddr at chaddr; a NAK is broadcast unless relayed.
        let mut s = server();
        let o = discover(&mut s, t(0), A).unwrap();
        assert_eq!((o.dst, o.dst_port, o.dst_mac), (ip(10), 68, Some(A)));
        assert_eq!(o.src, SERVER);
        let mut d = request(DhcpMessageType::Discover, B);
        d.broadcast = true;
        let o = send(&mut s, t(0), &d).unwrap();
        assert!(o.message.broadcast);
        assert_eq!(
            (o.dst, o.dst_port, o.dst_mac),
            (Ipv4Addr::BROADCAST, 68, None)
        );
        let relay = Ipv4Addr::new(10, 0, 0, 254);
        d.relay_agent_ip = relay;
        let o = send(&mut s, t(0), &d).unwrap();
        assert_eq!(o.message.relay_agent_ip, relay);
        assert_eq!((o.dst, o.dst_port, o.dst_mac), (relay, 67, None));
        let mut q = request(DhcpMessageType::Request, B);
        q.requested_ip = Some(ip(99));
        q.server_identifier = Some(SERVER);
        q.relay_agent_ip = relay;
        let n = send(&mut s, t(0), &q).unwrap();
        assert_eq!(
            (n.message.message_type, n.dst, n.dst_port),
            (DhcpMessageType::Nak, relay, 67)
        );
    }

    #[test]
    fn dhcp_server_decline_marks_the_address_bad_for_a_while() {
        // RFC 2131 §4.3.3: a declined address is marked unavailable.
        let mut s = server();
        discover(&mut s, t(0), A).unwrap();
        select(&mut s, t(0), A, ip(10)).unwrap();
        let mut d = request(DhcpMessageType::Decline, A);
        d.requested_ip = Some(ip(10));
        // Another client cannot decline A's address, nor a message for another server.
        d.client_hardware_address = B;
        assert_eq!(send(&mut s, t(1), &d), None);
        d.client_hardware_address = A;
        d.server_identifier = Some(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(send(&mut s, t(1), &d), None);
        assert_eq!(s.binding(ip(10)).unwrap().0, BindingState::Leased);
        d.server_identifier = Some(SERVER);
        assert_eq!(send(&mut s, t(1), &d), None);
        assert_eq!(
            s.binding(ip(10)),
            Some((BindingState::Declined, Some(t(601))))
        );
        assert_eq!(s.counters().declines, 1);
        // A is offered another address; nobody gets .10 until the hold ends.
        assert_eq!(discover(&mut s, t(2), A).unwrap().message.your_ip, ip(11));
        let mut d2 = request(DhcpMessageType::Discover, B);
        d2.requested_ip = Some(ip(10));
        assert_eq!(send(&mut s, t(3), &d2).unwrap().message.your_ip, ip(12));
        s.handle_timeout(t(601));
        assert_eq!(s.binding(ip(10)), None);
        let c = MacAddr([0x02, 0, 0, 0, 0, 0xc]);
        assert_eq!(discover(&mut s, t(602), c).unwrap().message.your_ip, ip(10));
    }

    #[test]
    fn dhcp_server_release_expiry_and_inform() {
        // RFC 2131 §4.3.4: RELEASE frees the address (remembered for the client); §4.2: a
        // lease expires by time; §4.3.5: INFORM gets an ACK without lease.
        let mut s = server();
        discover(&mut s, t(0), A).unwrap();
        select(&mut s, t(0), A, ip(10)).unwrap();
        let mut r = request(DhcpMessageType::Release, A);
        r.client_ip = ip(10);
        r.server_identifier = Some(SERVER);
        assert_eq!(send(&mut s, t(5), &r), None);
        assert_eq!(s.binding(ip(10)), Some((BindingState::Free, None)));
        assert_eq!(s.counters().releases, 1);
        assert_eq!(send(&mut s, t(5), &r), None, "nothing left to release");
        assert_eq!(s.counters().rx_ignored, 1);
        // The client comes back and gets the same address; the lease expires at 106.
        assert_eq!(discover(&mut s, t(6), A).unwrap().message.your_ip, ip(10));
        select(&mut s, t(6), A, ip(10)).unwrap();
        assert_eq!(s.next_deadline(), Some(t(106)));
        s.handle_timeout(t(106));
        assert_eq!(s.binding(ip(10)), Some((BindingState::Free, None)));
        assert_eq!(s.next_deadline(), None);
        // Renewing an expired but free address re-grants it.
        let mut q = request(DhcpMessageType::Request, A);
        q.client_ip = ip(10);
        assert_eq!(
            send(&mut s, t(107), &q).unwrap().message.message_type,
            DhcpMessageType::Ack
        );

        let mut i = request(DhcpMessageType::Inform, B);
        i.client_ip = Ipv4Addr::new(10, 0, 0, 77);
        let a = send(&mut s, t(108), &i).unwrap();
        assert_eq!(a.message.message_type, DhcpMessageType::Ack);
        assert_eq!(a.message.your_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(a.message.lease_time, None, "RFC 2131 §4.3.5: MUST NOT");
        assert_eq!(a.message.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(a.dst, Ipv4Addr::new(10, 0, 0, 77));
        assert_eq!(s.binding(Ipv4Addr::new(10, 0, 0, 77)), None);
        // Replies and BOOTP messages are not served.
        let mut reply = request(DhcpMessageType::Discover, B);
        reply.op = DhcpOp::Reply;
        assert_eq!(send(&mut s, t(109), &reply), None);
    }

    #[test]
    fn dhcp_server_config_errors() {
        let bad = |f: &dyn Fn(&mut DhcpServerConfig)| {
            let mut c = config();
            f(&mut c);
            DhcpServer::new(c).unwrap_err()
        };
        assert_eq!(
            bad(&|c| c.subnet_mask = Ipv4Addr::new(255, 0, 255, 0)),
            DhcpServerConfigError::BadMask {
                mask: Ipv4Addr::new(255, 0, 255, 0)
            }
        );
        assert_eq!(
            bad(&|c| c.server_id = Ipv4Addr::UNSPECIFIED),
            DhcpServerConfigError::BadServerId {
                addr: Ipv4Addr::UNSPECIFIED
            }
        );
        assert_eq!(
            bad(&|c| c.pool_end = ip(9)),
            DhcpServerConfigError::EmptyPool {
                start: ip(10),
                end: ip(9)
            }
        );
        assert_eq!(
            bad(&|c| {
                c.subnet_mask = Ipv4Addr::new(255, 0, 0, 0);
                c.pool_start = Ipv4Addr::new(10, 0, 0, 1);
                c.pool_end = Ipv4Addr::new(10, 1, 0, 1);
            }),
            DhcpServerConfigError::PoolTooLarge {
                size: 65_537,
                max: MAX_POOL_SIZE
            }
        );
        assert_eq!(
            bad(&|c| c.pool_end = ip(255)),
            DhcpServerConfigError::PoolOutsideSubnet {
                addr: ip(255),
                server_id: SERVER,
                prefix_len: 24
            }
        );
        assert_eq!(
            bad(&|c| c.lease_time = 0),
            DhcpServerConfigError::ZeroLeaseTime
        );
        assert_eq!(
            bad(&|c| c.renewal_time = Some(90)),
            DhcpServerConfigError::TimesOutOfOrder {
                t1: Some(90),
                t2: Some(80),
                lease: 100
            }
        );
        let e = bad(&|c| {
            c.pool_start = Ipv4Addr::new(10, 0, 1, 5);
            c.pool_end = Ipv4Addr::new(10, 0, 1, 9);
        });
        assert!(matches!(e, DhcpServerConfigError::PoolOutsideSubnet { .. }));
        assert!(e.to_string().contains("10.0.1.5"), "{e}");
        // The server's own address inside the pool is skipped.
        let mut c = config();
        c.pool_start = SERVER;
        let mut s = DhcpServer::new(c).unwrap();
        assert_eq!(discover(&mut s, t(0), A).unwrap().message.your_ip, ip(2));
    }
}
