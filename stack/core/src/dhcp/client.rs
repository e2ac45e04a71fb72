//! The DHCP client (RFC 2131 §4.4): one per interface configured with `Ipv4Config::Dhcp`.
//!
//! [`DhcpClient`] is the state machine of RFC 2131 §4.4, figure 5 (INIT, SELECTING,
//! REQUESTING, BOUND, RENEWING, REBINDING, INIT-REBOOT, REBOOTING), plus CHECKING, where an
//! acknowledged address waits for the caller's conflict check (RFC 2131 §4.4.1, RFC 5227)
//! before it is used, and STOPPED after a release. Time is an argument; xids and jitter come
//! from the ChaCha stream it is given (the stack's `Purpose::Dhcp` stream).
//!
//! Driving it:
//! * after [`DhcpClient::new`] and after each `handle_*`, [`address_checked`] or [`release`]
//!   call, drain [`poll_transmit`] and send each message from port 68 to port 67;
//! * hand every DHCP message received on port 68 to [`handle_message`];
//! * call [`handle_timeout`] once [`next_deadline`] has passed (then drain `poll_transmit`);
//! * on [`ClientEvent::CheckAddress`], probe the address (RFC 5227 §2.1) and report the
//!   outcome with [`address_checked`]; configure the address on [`ClientEvent::Bound`], keep it
//!   on [`ClientEvent::Renewed`] and remove it on [`ClientEvent::Lost`].
//!
//! The client keeps its own [`DhcpCounters`]; the stack reads them with [`counters`].
//!
//! [`address_checked`]: DhcpClient::address_checked
//! [`release`]: DhcpClient::release
//! [`poll_transmit`]: DhcpClient::poll_transmit
//! [`handle_message`]: DhcpClient::handle_message
//! [`handle_timeout`]: DhcpClient::handle_timeout
//! [`next_deadline`]: DhcpClient::next_deadline
//! [`counters`]: DhcpClient::counters

use crate::counters::DhcpCounters;
use crate::time::{Duration, Instant};
use arrayvec::ArrayVec;
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use weft_wire::dhcp::{ClientIdentifier, DhcpMessageType, DhcpOp, DhcpOptions, Ipv4List};
use weft_wire::{DhcpRepr, EmitError, Ipv4Addr, MacAddr};

/// DNS servers kept from a lease (the first ones of option 6, in order of preference).
pub const MAX_DNS_SERVERS: usize = 3;

/// The options the client asks for (option 55, RFC 2132 §9.8): subnet mask, router, DNS
/// servers, lease time, server identifier, T1, T2.
pub const PARAMETER_REQUEST_LIST: [u8; 7] = [1, 3, 6, 51, 54, 58, 59];

/// RFC 2131 §4.1: the first retransmission comes after 4 s, doubling up to 64 s.
const FIRST_RETRANSMIT: Duration = Duration::from_secs(4);
/// RFC 2131 §4.1: the retransmission delay doubles "up to a maximum of 64 seconds".
const MAX_RETRANSMIT_SHIFT: u32 = 4;
/// RFC 2131 §4.1: each delay is "randomized by the value of a uniform random number chosen
/// from the range -1 to +1" second.
const JITTER_NS: u64 = 1_000_000_000;
/// RFC 2131 §3.1 step 5: a client "might retransmit the DHCPREQUEST message four times, for
/// a total delay of 60 seconds, before restarting": transmissions at 0, 4, 12 and 28 s, and
/// INIT at 60 s.
const MAX_REQUEST_TRANSMISSIONS: u32 = 4;
/// RFC 2131 §4.4.5: in RENEWING and REBINDING, retransmissions wait half the remaining time
/// "down to a minimum of 60 seconds".
const MIN_RENEW_RETRANSMIT: Duration = Duration::from_secs(60);
/// RFC 2131 §4.4.1: after a DECLINE the client "SHOULD wait a minimum of ten seconds before
/// restarting the configuration process".
const DECLINE_WAIT: Duration = Duration::from_secs(10);

/// Where the client is in RFC 2131 §4.4, figure 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpState {
    /// About to send a DISCOVER (or waiting out the pause after a DECLINE).
    Init,
    /// DISCOVER sent; waiting for an OFFER (the first valid one is taken).
    Selecting,
    /// REQUEST for an offered address sent; waiting for ACK or NAK.
    Requesting,
    /// Acknowledged; waiting for the caller's conflict check ([`DhcpClient::address_checked`]).
    Checking,
    /// The lease is in use; the next timer is T1.
    Bound,
    /// Past T1: renewing with the leasing server by unicast.
    Renewing,
    /// Past T2: rebinding with any server by broadcast.
    Rebinding,
    /// Constructed with a previous address: about to request it again.
    InitReboot,
    /// REQUEST for the previous address sent; waiting for ACK or NAK.
    Rebooting,
    /// Released; nothing happens until [`DhcpClient::restart`].
    Stopped,
}

/// An address lease, as acknowledged by a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Our address (`yiaddr`).
    pub addr: Ipv4Addr,
    /// On-link prefix length, from the subnet mask (option 1), or the address class's when
    /// the server sent none.
    pub prefix_len: u8,
    /// The first router of option 3.
    pub router: Option<Ipv4Addr>,
    /// The first DNS servers of option 6, in order of preference.
    pub dns: ArrayVec<Ipv4Addr, MAX_DNS_SERVERS>,
    /// The leasing server (option 54).
    pub server_id: Ipv4Addr,
    /// Lease duration (option 51); [`Lease::INFINITE`] for 0xffffffff.
    pub lease_time: Duration,
    /// Renewal time T1 after `acquired_at`.
    pub t1: Duration,
    /// Rebinding time T2 after `acquired_at`.
    pub t2: Duration,
    /// When the REQUEST that obtained the lease was first sent; RFC 2131 §4.4.1: the lease
    /// runs from then, not from the ACK's arrival.
    pub acquired_at: Instant,
}

impl Lease {
    /// The duration of an infinite lease (RFC 2132 §9.2: 0xffffffff).
    pub const INFINITE: Duration = Duration::MAX;

    /// True for an infinite lease (no T1, T2 or expiry).
    pub fn is_infinite(&self) -> bool {
        self.lease_time == Self::INFINITE
    }
    /// When renewal starts (T1), `None` for an infinite lease.
    pub fn renew_at(&self) -> Option<Instant> {
        (!self.is_infinite()).then(|| self.acquired_at + self.t1)
    }
    /// When rebinding starts (T2), `None` for an infinite lease.
    pub fn rebind_at(&self) -> Option<Instant> {
        (!self.is_infinite()).then(|| self.acquired_at + self.t2)
    }
    /// When the lease expires, `None` for an infinite lease.
    pub fn expires_at(&self) -> Option<Instant> {
        (!self.is_infinite()).then(|| self.acquired_at + self.lease_time)
    }

    /// The lease an ACK grants, or `None` when it cannot be used: no usable `yiaddr`, no lease
    /// time (RFC 2131 §4.3.1 table 3: MUST in an ACK to a REQUEST), a zero lease, a
    /// non-contiguous subnet mask, or no server identifier.
    fn from_ack(
        ack: &DhcpRepr<'_>,
        server_fallback: Option<Ipv4Addr>,
        acquired_at: Instant,
    ) -> Option<Lease> {
        let addr = ack.your_ip;
        if !is_host_addr(addr) {
            return None;
        }
        let prefix_len = match ack.subnet_mask {
            Some(mask) => prefix_of(mask)?,
            None => classful_prefix(addr),
        };
        // The network and broadcast addresses of the subnet are not host addresses.
        if prefix_len < 31 {
            let host_mask = u32::MAX >> prefix_len;
            let host = u32::from(addr) & host_mask;
            if host == 0 || host == host_mask {
                return None;
            }
        }
        let server_id = ack
            .server_identifier
            .filter(|s| !s.is_unspecified())
            .or(server_fallback)?;
        let secs = ack.lease_time.filter(|&s| s != 0)?;
        let (lease_time, t1, t2) = lease_times(secs, ack.renewal_time, ack.rebinding_time);
        let mut dns = ArrayVec::new();
        for a in ack.dns_servers.into_iter().flatten().take(MAX_DNS_SERVERS) {
            dns.push(a);
        }
        Some(Lease {
            addr,
            prefix_len,
            router: ack.routers.and_then(|r| r.first()),
            dns,
            server_id,
            lease_time,
            t1,
            t2,
            acquired_at,
        })
    }
}

/// Lease duration, T1 and T2 from options 51, 58 and 59. RFC 2131 §4.4.5: T1 defaults to
/// 0.5 × lease and T2 to 0.875 × lease. A T2 beyond the lease or a T1 beyond T2 is not
/// usable and falls back to the default (T1 never beyond T2).
fn lease_times(lease: u32, t1: Option<u32>, t2: Option<u32>) -> (Duration, Duration, Duration) {
    // RFC 2132 §9.2: 0xffffffff is infinity.
    if lease == u32::MAX {
        return (Lease::INFINITE, Lease::INFINITE, Lease::INFINITE);
    }
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    let l = secs(lease);
    let t2 = t2.map(secs).filter(|t| *t <= l).unwrap_or(l * 7 / 8);
    let t1 = t1.map(secs).filter(|t| *t <= t2).unwrap_or((l / 2).min(t2));
    (l, t1, t2)
}

/// The prefix length of a contiguous mask (`None` for a non-contiguous or zero mask).
pub(crate) fn prefix_of(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    if ones == 0 || ones + m.trailing_zeros() != 32 {
        return None;
    }
    u8::try_from(ones).ok()
}

/// The class A/B/C prefix of an address (RFC 791 §3.2 address formats), used when a server
/// sends no subnet mask.
fn classful_prefix(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

/// True for an address a host can hold: not 0.0.0.0, broadcast, multicast, loopback or
/// class E.
pub(crate) fn is_host_addr(a: Ipv4Addr) -> bool {
    !(a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_loopback()
        || a.octets()[0] >= 240)
}

/// A DHCP message owned by its sender: what [`DhcpClient`] and
/// [`DhcpServer`](super::server::DhcpServer) produce. [`emit`](DhcpMessage::emit) writes it
/// through weft-wire's [`DhcpRepr`]; [`repr`](DhcpMessage::repr) gives the `Repr` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpMessage {
    /// BOOTREQUEST (client) or BOOTREPLY (server).
    pub op: DhcpOp,
    /// Option 53.
    pub message_type: DhcpMessageType,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began acquisition or renewal.
    pub secs: u16,
    /// The broadcast flag (RFC 2131 §4.1).
    pub broadcast: bool,
    /// `ciaddr`.
    pub client_ip: Ipv4Addr,
    /// `yiaddr`.
    pub your_ip: Ipv4Addr,
    /// `siaddr`.
    pub server_ip: Ipv4Addr,
    /// `giaddr`.
    pub relay_agent_ip: Ipv4Addr,
    /// `chaddr`.
    pub client_hardware_address: MacAddr,
    /// Option 61 with type 1 (Ethernet) and `chaddr` as the identifier.
    pub client_id: bool,
    /// Option 55 with [`PARAMETER_REQUEST_LIST`].
    pub parameter_request_list: bool,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_identifier: Option<Ipv4Addr>,
    /// Option 51, seconds.
    pub lease_time: Option<u32>,
    /// Option 58 (T1), seconds.
    pub renewal_time: Option<u32>,
    /// Option 59 (T2), seconds.
    pub rebinding_time: Option<u32>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3 (one router).
    pub router: Option<Ipv4Addr>,
    /// Option 6 (absent when empty).
    pub dns_servers: ArrayVec<Ipv4Addr, MAX_DNS_SERVERS>,
}

impl DhcpMessage {
    /// A message with every address zero and no options but option 53.
    pub fn new(op: DhcpOp, message_type: DhcpMessageType, xid: u32, chaddr: MacAddr) -> Self {
        DhcpMessage {
            op,
            message_type,
            xid,
            secs: 0,
            broadcast: false,
            client_ip: Ipv4Addr::UNSPECIFIED,
            your_ip: Ipv4Addr::UNSPECIFIED,
            server_ip: Ipv4Addr::UNSPECIFIED,
            relay_agent_ip: Ipv4Addr::UNSPECIFIED,
            client_hardware_address: chaddr,
            client_id: false,
            parameter_request_list: false,
            requested_ip: None,
            server_identifier: None,
            lease_time: None,
            renewal_time: None,
            rebinding_time: None,
            subnet_mask: None,
            router: None,
            dns_servers: ArrayVec::new(),
        }
    }

    /// The message as a weft-wire `Repr` borrowing from `self`.
    pub fn repr(&self) -> DhcpRepr<'_> {
        DhcpRepr {
            op: self.op,
            hops: 0,
            xid: self.xid,
            secs: self.secs,
            broadcast: self.broadcast,
            client_ip: self.client_ip,
            your_ip: self.your_ip,
            server_ip: self.server_ip,
            relay_agent_ip: self.relay_agent_ip,
            client_hardware_address: self.client_hardware_address,
            server_name: &[],
            boot_file: &[],
            message_type: Some(self.message_type),
            subnet_mask: self.subnet_mask,
            routers: self
                .router
                .as_ref()
                .map(|r| Ipv4List::from_addrs(core::slice::from_ref(r))),
            dns_servers: (!self.dns_servers.is_empty())
                .then(|| Ipv4List::from_addrs(&self.dns_servers)),
            host_name: None,
            requested_ip: self.requested_ip,
            lease_time: self.lease_time,
            server_identifier: self.server_identifier,
            parameter_request_list: self
                .parameter_request_list
                .then_some(&PARAMETER_REQUEST_LIST[..]),
            renewal_time: self.renewal_time,
            rebinding_time: self.rebinding_time,
            // RFC 2132 §9.14: type 1 (Ethernet) followed by the hardware address.
            client_identifier: self.client_id.then_some(ClientIdentifier {
                kind: 1,
                id: &self.client_hardware_address.0,
            }),
            other_options: DhcpOptions::new(),
        }
    }

    /// Bytes [`emit`](Self::emit) writes (a UDP payload, at least 300).
    pub fn buffer_len(&self) -> usize {
        self.repr().buffer_len()
    }

    /// Writes the message at the start of `buf` (the UDP payload) and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.repr().emit(buf)
    }
}

/// A message the client wants sent, from UDP port 68 to port 67 (RFC 2131 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The message.
    pub message: DhcpMessage,
    /// IP destination: 255.255.255.255, or the server for a unicast renewal or release.
    pub dst: Ipv4Addr,
    /// IP source: 0.0.0.0 until the client holds a lease (RFC 2131 §4.1).
    pub src: Ipv4Addr,
}

/// Why a lease was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReason {
    /// It expired without renewal (RFC 2131 §4.4.5).
    Expired,
    /// A server refused the renewal (RFC 2131 §4.4.5, §3.2).
    Nak,
    /// Another host uses the address; the client declined it (RFC 2131 §4.4.1).
    Declined,
}

/// What the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// An ACK assigned `addr`: probe it (RFC 5227 §2.1) without using it, then call
    /// [`DhcpClient::address_checked`] (RFC 2131 §4.4.1).
    CheckAddress {
        /// The address to probe.
        addr: Ipv4Addr,
    },
    /// A new lease, checked: configure its address.
    Bound(Lease),
    /// The lease was extended (the address is unchanged).
    Renewed(Lease),
    /// The address of the lease must no longer be used. Only ever follows `Bound`.
    Lost {
        /// The address.
        addr: Ipv4Addr,
        /// Why.
        reason: LostReason,
    },
}

/// The server and address chosen in SELECTING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Offer {
    addr: Ipv4Addr,
    server: Ipv4Addr,
}

/// Was a received message used?
enum Outcome {
    Ignored,
    Accepted(Option<ClientEvent>),
}

/// A DHCP client for one interface (see the module documentation for how to drive it).
///
/// Invariants: `lease` is `Some` exactly in CHECKING, BOUND, RENEWING and REBINDING; `offer`
/// is `Some` in REQUESTING; at most one DECLINE or RELEASE waits in `queued`.
#[derive(Debug, Clone)]
pub struct DhcpClient {
    mac: MacAddr,
    rng: ChaCha20Rng,
    state: DhcpState,
    /// The current exchange's transaction id.
    xid: u32,
    /// When the current acquisition or renewal process began (for `secs`).
    began: Instant,
    /// `secs` of the last DISCOVER: RFC 2131 §4.4.1, the REQUEST repeats it.
    discover_secs: u16,
    /// Transmissions of the current message so far.
    transmissions: u32,
    /// The current state's message is due now.
    transmit_pending: bool,
    retransmit_at: Option<Instant>,
    /// End of the pause after a DECLINE.
    restart_at: Option<Instant>,
    /// First transmission of the REQUEST of the current exchange (the lease starts there).
    first_request_at: Option<Instant>,
    offer: Option<Offer>,
    lease: Option<Lease>,
    /// The address to ask for: INIT-REBOOT's, or a hint (option 50) in DISCOVER.
    requested: Option<Ipv4Addr>,
    /// A one-off DECLINE or RELEASE.
    queued: Option<Outgoing>,
    counters: DhcpCounters,
}

impl DhcpClient {
    /// A client for the interface with hardware address `mac`. `rng` supplies xids and
    /// retransmission jitter (the stack passes its `Purpose::Dhcp` stream). With `previous`,
    /// the client starts in INIT-REBOOT and asks for that address again (RFC 2131 §3.2);
    /// otherwise in INIT. Call [`poll_transmit`](Self::poll_transmit) next.
    pub fn new(now: Instant, mac: MacAddr, rng: ChaCha20Rng, previous: Option<Ipv4Addr>) -> Self {
        let mut c = DhcpClient {
            mac,
            rng,
            state: DhcpState::Init,
            xid: 0,
            began: now,
            discover_secs: 0,
            transmissions: 0,
            transmit_pending: false,
            retransmit_at: None,
            restart_at: None,
            first_request_at: None,
            offer: None,
            lease: None,
            requested: previous.filter(|a| is_host_addr(*a)),
            queued: None,
            counters: DhcpCounters::default(),
        };
        c.new_exchange(now);
        c.transmit_pending = true;
        if c.requested.is_some() {
            c.state = DhcpState::InitReboot;
        }
        c
    }

    /// The state (RFC 2131 figure 5).
    pub fn state(&self) -> DhcpState {
        self.state
    }

    /// The lease in use (BOUND, RENEWING, REBINDING); `None` otherwise, CHECKING included.
    pub fn lease(&self) -> Option<&Lease> {
        match self.state {
            DhcpState::Bound | DhcpState::Renewing | DhcpState::Rebinding => self.lease.as_ref(),
            _ => None,
        }
    }

    /// The hardware address the client speaks for.
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// The client's counters (kept here; the stack sums them into its own).
    pub fn counters(&self) -> DhcpCounters {
        self.counters
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work:
    /// a retransmission, the end of the pause after a DECLINE, T1, T2 or expiry.
    pub fn next_deadline(&self) -> Option<Instant> {
        let lease = self.lease.as_ref();
        let lease_timer = match self.state {
            DhcpState::Bound => lease.and_then(Lease::renew_at),
            DhcpState::Renewing => lease.and_then(Lease::rebind_at),
            DhcpState::Checking | DhcpState::Rebinding => lease.and_then(Lease::expires_at),
            _ => None,
        };
        [lease_timer, self.retransmit_at, self.restart_at]
            .into_iter()
            .flatten()
            .filter(|t| *t != Instant::MAX)
            .min()
    }

    /// Runs the timers due at `now`. Call when [`next_deadline`](Self::next_deadline) has
    /// passed, then drain [`poll_transmit`](Self::poll_transmit). Returns
    /// [`ClientEvent::Lost`] when a lease in use expires.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<ClientEvent> {
        if let Some(lease) = &self.lease {
            let (addr, expires, rebind, renew) = (
                lease.addr,
                lease.expires_at(),
                lease.rebind_at(),
                lease.renew_at(),
            );
            let due = |t: Option<Instant>| t.is_some_and(|t| now >= t);
            match self.state {
                // RFC 2131 §4.4.5: "If the lease expires before the client receives a
                // DHCPACK, the client moves to INIT state, MUST immediately stop any other
                // network processing and requests network parameters as if the client were
                // uninitialized."
                DhcpState::Checking
                | DhcpState::Bound
                | DhcpState::Renewing
                | DhcpState::Rebinding
                    if due(expires) =>
                {
                    let was_bound = self.state != DhcpState::Checking;
                    // The expired address is still a sensible hint for the next DISCOVER
                    // (RFC 2131 §4.4.1: the client MAY suggest an address).
                    self.requested = Some(addr);
                    self.enter_init(now);
                    if was_bound {
                        self.counters.leases_lost += 1;
                        return Some(ClientEvent::Lost {
                            addr,
                            reason: LostReason::Expired,
                        });
                    }
                    return None;
                }
                // RFC 2131 §4.4.5: at T2 the client moves to REBINDING and broadcasts.
                DhcpState::Bound | DhcpState::Renewing if due(rebind) => {
                    self.state = DhcpState::Rebinding;
                    self.transmissions = 0;
                    self.transmit_pending = true;
                    self.retransmit_at = None;
                }
                // RFC 2131 §4.4.5: at T1 the client moves to RENEWING and unicasts a REQUEST
                // to the server that granted the lease.
                DhcpState::Bound if due(renew) => {
                    self.new_exchange(now);
                    self.state = DhcpState::Renewing;
                    self.transmit_pending = true;
                }
                _ => {}
            }
        }
        if self.restart_at.is_some_and(|t| now >= t) {
            // RFC 2131 §4.4.1: the pause after a DECLINE is over; start again from INIT.
            self.restart_at = None;
            self.began = now;
            self.transmit_pending = true;
        }
        if self.retransmit_at.is_some_and(|t| now >= t) {
            self.retransmit_at = None;
            match self.state {
                // RFC 2131 §3.1 step 5 (and §3.2 for INIT-REBOOT): no ACK or NAK after the
                // retransmissions: restart from INIT.
                DhcpState::Requesting | DhcpState::Rebooting
                    if self.transmissions >= MAX_REQUEST_TRANSMISSIONS =>
                {
                    self.enter_init(now);
                }
                DhcpState::Selecting
                | DhcpState::Requesting
                | DhcpState::Rebooting
                | DhcpState::Renewing
                | DhcpState::Rebinding => self.transmit_pending = true,
                _ => {}
            }
        }
        None
    }

    /// The next message to send, if any: a DECLINE or RELEASE first, then the current
    /// state's DISCOVER or REQUEST when it is due. Call after construction and after every
    /// other method until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Outgoing> {
        if let Some(q) = self.queued.take() {
            self.counters.tx_messages += 1;
            return Some(q);
        }
        if !self.transmit_pending {
            return None;
        }
        self.transmit_pending = false;
        let secs = u16::try_from((now - self.began).as_secs()).unwrap_or(u16::MAX);
        let mut m = self.message(DhcpMessageType::Request);
        m.secs = secs;
        m.parameter_request_list = true;
        let mut dst = Ipv4Addr::BROADCAST;
        let mut src = Ipv4Addr::UNSPECIFIED;
        match self.state {
            DhcpState::Init | DhcpState::Selecting => {
                // RFC 2131 §4.4.1: broadcast a DISCOVER, MAY suggest an address (option 50).
                self.state = DhcpState::Selecting;
                self.discover_secs = secs;
                m.message_type = DhcpMessageType::Discover;
                m.requested_ip = self.requested;
                // RFC 2131 §4.1: a client that cannot receive unicast before it has an
                // address sets the broadcast bit.
                m.broadcast = true;
            }
            DhcpState::Requesting => {
                // RFC 2131 §4.3.2 table 4 / §4.4.1: in SELECTING, REQUEST carries the
                // server identifier and requested IP, ciaddr 0, the DISCOVER's xid and secs.
                let offer = self.offer?;
                m.secs = self.discover_secs;
                m.requested_ip = Some(offer.addr);
                m.server_identifier = Some(offer.server);
                m.broadcast = true;
            }
            DhcpState::InitReboot | DhcpState::Rebooting => {
                // RFC 2131 §4.3.2: INIT-REBOOT: requested IP set, no server identifier,
                // ciaddr 0, broadcast.
                self.state = DhcpState::Rebooting;
                m.requested_ip = self.requested;
                m.broadcast = true;
            }
            DhcpState::Renewing | DhcpState::Rebinding => {
                // RFC 2131 §4.3.2 table 4: RENEWING/REBINDING: ciaddr set, no server
                // identifier or requested IP; unicast to the server when renewing,
                // broadcast when rebinding (RFC 2131 §4.4.5).
                let lease = self.lease.as_ref()?;
                m.client_ip = lease.addr;
                src = lease.addr;
                if self.state == DhcpState::Renewing {
                    dst = lease.server_id;
                }
            }
            DhcpState::Checking | DhcpState::Bound | DhcpState::Stopped => return None,
        }
        if matches!(
            self.state,
            DhcpState::Requesting | DhcpState::Rebooting | DhcpState::Renewing
        ) && self.first_request_at.is_none()
        {
            self.first_request_at = Some(now);
        }
        self.transmissions = self.transmissions.saturating_add(1);
        let wait = self.retransmit_delay(now);
        self.retransmit_at = Some(now + wait);
        self.counters.tx_messages += 1;
        Some(Outgoing {
            message: m,
            dst,
            src,
        })
    }

    /// Handles a DHCP message received on port 68. Messages that are not replies, carry
    /// another xid or `chaddr`, or do not fit the state are ignored (counted in
    /// `rx_ignored`). Drain [`poll_transmit`](Self::poll_transmit) afterwards.
    pub fn handle_message(&mut self, now: Instant, repr: &DhcpRepr<'_>) -> Option<ClientEvent> {
        // RFC 2131 §4.4.1: replies are matched to the request by xid (and chaddr).
        let outcome = if repr.op != DhcpOp::Reply
            || repr.xid != self.xid
            || repr.client_hardware_address != self.mac
        {
            Outcome::Ignored
        } else {
            match (self.state, repr.message_type) {
                (DhcpState::Selecting, Some(DhcpMessageType::Offer)) => self.on_offer(repr),
                (
                    DhcpState::Requesting
                    | DhcpState::Rebooting
                    | DhcpState::Renewing
                    | DhcpState::Rebinding,
                    Some(DhcpMessageType::Ack),
                ) => self.on_ack(now, repr),
                (
                    DhcpState::Requesting
                    | DhcpState::Rebooting
                    | DhcpState::Renewing
                    | DhcpState::Rebinding,
                    Some(DhcpMessageType::Nak),
                ) => self.on_nak(now, repr),
                _ => Outcome::Ignored,
            }
        };
        match outcome {
            Outcome::Ignored => {
                self.counters.rx_ignored += 1;
                None
            }
            Outcome::Accepted(event) => {
                self.counters.rx_messages += 1;
                event
            }
        }
    }

    /// Reports the conflict check of the address from [`ClientEvent::CheckAddress`]
    /// (RFC 5227 probes run by the caller). Without a conflict the lease is bound and
    /// [`ClientEvent::Bound`] returned. With one, the client sends a DECLINE and restarts from
    /// INIT after 10 s (RFC 2131 §4.4.1). Also call it with `conflict = true` when a host
    /// claims the address of a lease in use and the caller gives the address up (RFC 5227
    /// §2.4); the client then declines it too and returns [`ClientEvent::Lost`].
    pub fn address_checked(&mut self, now: Instant, conflict: bool) -> Option<ClientEvent> {
        match self.state {
            DhcpState::Checking if !conflict => {
                let lease = self.lease.clone()?;
                self.state = DhcpState::Bound;
                self.counters.leases += 1;
                Some(ClientEvent::Bound(lease))
            }
            DhcpState::Checking => {
                self.decline(now);
                None
            }
            DhcpState::Bound | DhcpState::Renewing | DhcpState::Rebinding if conflict => {
                let addr = self.decline(now)?;
                self.counters.leases_lost += 1;
                Some(ClientEvent::Lost {
                    addr,
                    reason: LostReason::Declined,
                })
            }
            _ => None,
        }
    }

    /// Gives the lease up: queues a RELEASE unicast to the server (RFC 2131 §4.4.6) and stops
    /// the client until [`restart`](Self::restart). Returns the released lease; the caller
    /// stops using its address. Drain [`poll_transmit`](Self::poll_transmit) afterwards.
    pub fn release(&mut self, _now: Instant) -> Option<Lease> {
        // Only an address in use is released: in CHECKING the address is not ours yet (the
        // RFC 5227 probe is still running), so no RELEASE may be sent from it (RFC 1122
        // §3.2.1.3: a source address must be one of the host's own).
        let lease = match self.state {
            DhcpState::Bound | DhcpState::Renewing | DhcpState::Rebinding => self.lease.take(),
            _ => None,
        };
        if let Some(l) = &lease {
            // RFC 2131 §4.4.6 and table 5: ciaddr set, server identifier, xid chosen by the
            // client, unicast to the server.
            let xid = self.rng.next_u32();
            let mut m = DhcpMessage::new(DhcpOp::Request, DhcpMessageType::Release, xid, self.mac);
            m.client_id = true;
            m.client_ip = l.addr;
            m.server_identifier = Some(l.server_id);
            self.queued = Some(Outgoing {
                message: m,
                dst: l.server_id,
                src: l.addr,
            });
        }
        self.state = DhcpState::Stopped;
        self.lease = None;
        self.offer = None;
        self.requested = None;
        self.transmit_pending = false;
        self.retransmit_at = None;
        self.restart_at = None;
        lease
    }

    /// After [`release`](Self::release), starts again from INIT. Does nothing in other states.
    pub fn restart(&mut self, now: Instant) {
        if self.state == DhcpState::Stopped {
            self.enter_init(now);
        }
    }

    // ---- internals ----------------------------------------------------------------------

    /// A fresh transaction: new xid (RFC 2131 §4.1: chosen by the client at random), `secs`
    /// counted from `now`.
    fn new_exchange(&mut self, now: Instant) {
        self.xid = self.rng.next_u32();
        self.began = now;
        self.transmissions = 0;
        self.retransmit_at = None;
        self.first_request_at = None;
    }

    /// INIT with a DISCOVER due now.
    fn enter_init(&mut self, now: Instant) {
        self.new_exchange(now);
        self.state = DhcpState::Init;
        self.lease = None;
        self.offer = None;
        self.restart_at = None;
        self.transmit_pending = true;
    }

    /// A BOOTREQUEST of this client with its client identifier (option 61).
    fn message(&self, kind: DhcpMessageType) -> DhcpMessage {
        let mut m = DhcpMessage::new(DhcpOp::Request, kind, self.xid, self.mac);
        m.client_id = true;
        m
    }

    /// Delay before retransmitting what was just sent for the `transmissions`-th time.
    fn retransmit_delay(&mut self, now: Instant) -> Duration {
        let half_until = |t: Option<Instant>| {
            let left = t.map_or(Duration::MAX, |t| t - now);
            (left / 2).max(MIN_RENEW_RETRANSMIT)
        };
        let lease = self.lease.as_ref();
        match self.state {
            // RFC 2131 §4.4.5: half the time remaining until T2 (RENEWING) or until expiry
            // (REBINDING), at least 60 s.
            DhcpState::Renewing => half_until(lease.and_then(Lease::rebind_at)),
            DhcpState::Rebinding => half_until(lease.and_then(Lease::expires_at)),
            // RFC 2131 §4.1: 4 s, doubling up to 64 s, each ±1 s uniformly at random.
            _ => {
                let shift = self
                    .transmissions
                    .saturating_sub(1)
                    .min(MAX_RETRANSMIT_SHIFT);
                let base = FIRST_RETRANSMIT * (1u32 << shift);
                let jitter = uniform_below(&mut self.rng, 2 * JITTER_NS + 1);
                (base + Duration::from_nanos(jitter))
                    .saturating_sub(Duration::from_nanos(JITTER_NS))
            }
        }
    }

    fn on_offer(&mut self, repr: &DhcpRepr<'_>) -> Outcome {
        // RFC 2131 §4.3.1 table 3: an OFFER carries yiaddr and MUST carry the server
        // identifier, which the REQUEST must name.
        let Some(server) = repr.server_identifier.filter(|s| !s.is_unspecified()) else {
            return Outcome::Ignored;
        };
        if !is_host_addr(repr.your_ip) {
            return Outcome::Ignored;
        }
        // RFC 2131 §4.4.1: the client chooses one offer (here the first) and moves to
        // REQUESTING, keeping the xid.
        self.offer = Some(Offer {
            addr: repr.your_ip,
            server,
        });
        self.state = DhcpState::Requesting;
        self.transmissions = 0;
        self.retransmit_at = None;
        self.first_request_at = None;
        self.transmit_pending = true;
        Outcome::Accepted(None)
    }

    fn on_ack(&mut self, now: Instant, repr: &DhcpRepr<'_>) -> Outcome {
        let (expected, server_fallback) = match self.state {
            DhcpState::Requesting => {
                let Some(offer) = self.offer else {
                    return Outcome::Ignored;
                };
                // The ACK must come from the server we selected.
                if repr.server_identifier.is_some_and(|s| s != offer.server) {
                    return Outcome::Ignored;
                }
                (Some(offer.addr), Some(offer.server))
            }
            DhcpState::Rebooting => (self.requested, None),
            _ => {
                let l = self.lease.as_ref();
                (l.map(|l| l.addr), l.map(|l| l.server_id))
            }
        };
        if Some(repr.your_ip) != expected {
            return Outcome::Ignored;
        }
        let acquired_at = self.first_request_at.unwrap_or(now);
        let Some(lease) = Lease::from_ack(repr, server_fallback, acquired_at) else {
            return Outcome::Ignored;
        };
        self.retransmit_at = None;
        self.transmit_pending = false;
        self.offer = None;
        match self.state {
            DhcpState::Requesting | DhcpState::Rebooting => {
                // RFC 2131 §4.4.1 (and §3.2 step 4): check the address before using it.
                let addr = lease.addr;
                self.lease = Some(lease);
                self.state = DhcpState::Checking;
                Outcome::Accepted(Some(ClientEvent::CheckAddress { addr }))
            }
            _ => {
                // RFC 2131 §4.4.5: an ACK in RENEWING or REBINDING extends the lease.
                self.lease = Some(lease.clone());
                self.state = DhcpState::Bound;
                self.counters.renewals += 1;
                Outcome::Accepted(Some(ClientEvent::Renewed(lease)))
            }
        }
    }

    fn on_nak(&mut self, now: Instant, repr: &DhcpRepr<'_>) -> Outcome {
        if self.state == DhcpState::Requesting
            && repr
                .server_identifier
                .is_some_and(|s| Some(s) != self.offer.map(|o| o.server))
        {
            return Outcome::Ignored;
        }
        let lost = match self.state {
            DhcpState::Renewing | DhcpState::Rebinding => self.lease.as_ref().map(|l| l.addr),
            _ => None,
        };
        // RFC 2131 §3.2 step 3 and §4.4.5: on a NAK the client cannot reuse its address and
        // restarts the configuration process.
        self.requested = None;
        self.enter_init(now);
        Outcome::Accepted(lost.map(|addr| {
            self.counters.leases_lost += 1;
            ClientEvent::Lost {
                addr,
                reason: LostReason::Nak,
            }
        }))
    }

    /// Queues a DECLINE for the current lease's address, forgets the lease and pauses 10 s
    /// before INIT. Returns the declined address.
    fn decline(&mut self, now: Instant) -> Option<Ipv4Addr> {
        let lease = self.lease.take()?;
        // RFC 2131 §4.4.1 and table 5: DECLINE with the requested IP and server identifier,
        // ciaddr 0, broadcast from 0.0.0.0.
        let mut m = self.message(DhcpMessageType::Decline);
        m.requested_ip = Some(lease.addr);
        m.server_identifier = Some(lease.server_id);
        self.queued = Some(Outgoing {
            message: m,
            dst: Ipv4Addr::BROADCAST,
            src: Ipv4Addr::UNSPECIFIED,
        });
        self.counters.declines += 1;
        self.requested = None;
        self.enter_init(now);
        // RFC 2131 §4.4.1: wait at least ten seconds before restarting.
        self.transmit_pending = false;
        self.restart_at = Some(now + DECLINE_WAIT);
        Some(lease.addr)
    }
}

/// A value uniformly in `0..n` (`n > 0`) from `rng`, by rejection so it is unbiased.
fn uniform_below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = rng.next_u64();
        if v < zone {
            return v % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::server::{DhcpServer, DhcpServerConfig, Reply};
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use rand_core::SeedableRng;
    use weft_wire::DhcpPacket;

    const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 254);
    const DNS: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 53);
    const POOL_START: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);

    fn secs(s: u64) -> Instant {
        Instant::from_secs(s)
    }

    fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    fn server_config() -> DhcpServerConfig {
        let mut c = DhcpServerConfig::new(
            SERVER,
            POOL_START,
            Ipv4Addr::new(192, 168, 1, 109),
            Ipv4Addr::new(255, 255, 255, 0),
        );
        c.router = Some(ROUTER);
        c.dns_servers.push(DNS);
        c.lease_time = 1000;
        c
    }

    /// Emits a message to bytes (as it would go on the wire).
    fn wire(m: &DhcpMessage) -> Vec<u8> {
        let mut b = vec![0u8; m.buffer_len()];
        let n = m.emit(&mut b).unwrap();
        assert_eq!(n, b.len());
        b
    }

    /// Parses bytes with the checked view and hands the Repr to `f`.
    fn parsed<R>(bytes: &[u8], f: impl FnOnce(&DhcpRepr<'_>) -> R) -> R {
        let p = DhcpPacket::new_checked(bytes).unwrap();
        let r = DhcpRepr::parse(&p).unwrap();
        f(&r)
    }

    /// A client and a server wired together in memory on virtual time.
    struct Net {
        now: Instant,
        client: DhcpClient,
        server: DhcpServer,
        /// When false, the server hears nothing.
        server_up: bool,
        /// When set, the client's conflict check reports a conflict.
        conflict: bool,
        /// Every message the client sent: (time, message, dst, src).
        sent: Vec<(Instant, DhcpMessage, Ipv4Addr, Ipv4Addr)>,
        /// Every reply the server sent.
        replies: Vec<(Instant, Reply)>,
        events: Vec<(Instant, ClientEvent)>,
    }

    impl Net {
        fn new(seed: u64, previous: Option<Ipv4Addr>) -> Net {
            println!("seed {seed}");
            Net {
                now: Instant::ZERO,
                client: DhcpClient::new(Instant::ZERO, MAC, rng(seed), previous),
                server: DhcpServer::new(server_config()).unwrap(),
                server_up: true,
                conflict: false,
                sent: Vec::new(),
                replies: Vec::new(),
                events: Vec::new(),
            }
        }

        fn event(&mut self, e: Option<ClientEvent>) {
            let Some(e) = e else { return };
            if let ClientEvent::CheckAddress { .. } = e {
                let r = self.client.address_checked(self.now, self.conflict);
                self.events.push((self.now, e));
                self.event(r);
            } else {
                self.events.push((self.now, e));
            }
        }

        /// Moves messages until both sides are quiet at `now`.
        fn exchange(&mut self) {
            while let Some(out) = self.client.poll_transmit(self.now) {
                let bytes = wire(&out.message);
                self.sent
                    .push((self.now, out.message.clone(), out.dst, out.src));
                if !self.server_up {
                    continue;
                }
                let now = self.now;
                let Some(reply) = parsed(&bytes, |r| self.server.handle(now, r)) else {
                    continue;
                };
                let back = wire(&reply.message);
                self.replies.push((now, reply));
                let e = parsed(&back, |r| self.client.handle_message(now, r));
                self.event(e);
            }
        }

        /// Runs timers and exchanges until `until`.
        fn run_until(&mut self, until: Instant) {
            self.exchange();
            loop {
                let next = [self.client.next_deadline(), self.server.next_deadline()]
                    .into_iter()
                    .flatten()
                    .min();
                let Some(next) = next.filter(|t| *t <= until) else {
                    break;
                };
                assert!(next >= self.now, "deadline in the past");
                self.now = next;
                let e = self.client.handle_timeout(self.now);
                self.event(e);
                self.server.handle_timeout(self.now);
                self.exchange();
            }
            self.now = until;
        }

        fn sent_types(&self) -> Vec<DhcpMessageType> {
            self.sent.iter().map(|s| s.1.message_type).collect()
        }
    }

    fn bound_lease(net: &Net) -> Lease {
        net.client.lease().cloned().expect("bound")
    }

    #[test]
    fn dhcp_full_dora_against_server() {
        // RFC 2131 §3.1 / §4.4.1: DISCOVER, OFFER, REQUEST, ACK, then the check.
        let mut net = Net::new(1, None);
        net.run_until(secs(1));
        assert_eq!(
            net.sent_types(),
            [DhcpMessageType::Discover, DhcpMessageType::Request]
        );
        let (_, d, dst, src) = &net.sent[0];
        // RFC 2131 §4.1: broadcast from 0.0.0.0 with the broadcast bit.
        assert_eq!((*dst, *src), (Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED));
        assert!(d.broadcast && d.client_id && d.parameter_request_list);
        let bytes = wire(d);
        parsed(&bytes, |r| {
            assert_eq!(r.op, DhcpOp::Request);
            assert_eq!(
                r.parameter_request_list,
                Some(&[1, 3, 6, 51, 54, 58, 59][..])
            );
            assert_eq!(
                r.client_identifier,
                Some(ClientIdentifier {
                    kind: 1,
                    id: &MAC.0
                })
            );
            assert_eq!(r.client_ip, Ipv4Addr::UNSPECIFIED);
            assert_eq!(r.requested_ip, None);
        });
        // RFC 2131 §4.3.2 table 4, SELECTING: requested IP and server id, ciaddr 0, same xid
        // and secs as the DISCOVER.
        let (_, q, dst, _) = &net.sent[1];
        assert_eq!(q.xid, d.xid);
        assert_eq!(q.secs, d.secs);
        assert_eq!(q.requested_ip, Some(POOL_START));
        assert_eq!(q.server_identifier, Some(SERVER));
        assert_eq!(q.client_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(*dst, Ipv4Addr::BROADCAST);
        let kinds: Vec<_> = net.events.iter().map(|e| &e.1).collect();
        assert!(matches!(kinds[0], ClientEvent::CheckAddress { addr } if *addr == POOL_START));
        assert!(matches!(kinds[1], ClientEvent::Bound(_)));
        let lease = bound_lease(&net);
        assert_eq!(lease.addr, POOL_START);
        assert_eq!(lease.prefix_len, 24);
        assert_eq!(lease.router, Some(ROUTER));
        assert_eq!(lease.dns.as_slice(), &[DNS]);
        assert_eq!(lease.server_id, SERVER);
        // RFC 2131 §4.4.5: T1 = 0.5 and T2 = 0.875 of the lease by default.
        assert_eq!(lease.lease_time, Duration::from_secs(1000));
        assert_eq!(lease.t1, Duration::from_secs(500));
        assert_eq!(lease.t2, Duration::from_millis(875_000));
        assert_eq!(lease.acquired_at, Instant::ZERO);
        assert_eq!(net.client.state(), DhcpState::Bound);
        assert_eq!(net.client.next_deadline(), Some(secs(500)));
        let c = net.client.counters();
        assert_eq!(
            (c.tx_messages, c.rx_messages, c.leases, c.rx_ignored),
            (2, 2, 1, 0)
        );
    }

    #[test]
    fn dhcp_renew_at_t1_by_unicast() {
        // RFC 2131 §4.4.5: at T1 the client unicasts a REQUEST to the leasing server, with
        // ciaddr and without options 50 and 54 (§4.3.2 table 4).
        let mut net = Net::new(2, None);
        net.run_until(secs(499));
        assert_eq!(net.sent.len(), 2);
        net.run_until(secs(501));
        assert_eq!(net.sent.len(), 3);
        let (t, q, dst, src) = &net.sent[2];
        assert_eq!(*t, secs(500));
        assert_eq!(q.message_type, DhcpMessageType::Request);
        assert_eq!((*dst, *src), (SERVER, POOL_START));
        assert_eq!(q.client_ip, POOL_START);
        assert_eq!((q.requested_ip, q.server_identifier), (None, None));
        assert!(!q.broadcast);
        assert_ne!(q.xid, net.sent[0].1.xid, "a renewal is a new transaction");
        assert!(
            matches!(net.events.last().unwrap(), (t, ClientEvent::Renewed(l))
            if *t == secs(500) && l.acquired_at == secs(500) && l.addr == POOL_START)
        );
        // The server answered by unicast to ciaddr (RFC 2131 §4.1).
        assert_eq!(net.replies.last().unwrap().1.dst, POOL_START);
        assert_eq!(net.client.state(), DhcpState::Bound);
        assert_eq!(net.client.next_deadline(), Some(secs(1000)));
        assert_eq!(net.client.counters().renewals, 1);
    }

    #[test]
    fn dhcp_rebind_at_t2_when_server_is_silent() {
        // RFC 2131 §4.4.5: RENEWING retransmits after half the time left to T2 (at least
        // 60 s); at T2 the client broadcasts in REBINDING, and any server may answer.
        let mut net = Net::new(3, None);
        net.run_until(secs(1));
        net.server_up = false;
        net.run_until(secs(875));
        let renew_times: Vec<Instant> = net.sent[2..].iter().map(|s| s.0).collect();
        // T1 = 500, T2 = 875: renewals at 500, then half the time left to T2 each time,
        // at least 60 s (687.5, 781.25, 841.25); the next (901.25) would pass T2, where the
        // client broadcasts instead.
        assert_eq!(
            renew_times,
            [
                secs(500),
                Instant::from_millis(687_500),
                Instant::from_millis(781_250),
                Instant::from_millis(841_250),
                secs(875)
            ]
        );
        assert!(
            net.sent[2..6]
                .iter()
                .all(|s| (s.2, s.3) == (SERVER, POOL_START))
        );
        assert_eq!(net.client.state(), DhcpState::Rebinding);
        let (_, q, dst, src) = &net.sent[6];
        assert_eq!((*dst, *src), (Ipv4Addr::BROADCAST, POOL_START));
        assert_eq!(q.client_ip, POOL_START);
        assert_eq!((q.requested_ip, q.server_identifier), (None, None));
        assert_eq!(
            q.xid, net.sent[2].1.xid,
            "rebinding continues the renewal transaction"
        );
        // Still silent: the next rebinding retransmission is half of the 125 s left.
        assert_eq!(
            net.client.next_deadline(),
            Some(Instant::from_millis(937_500))
        );
        net.server_up = true;
        net.run_until(secs(940));
        assert!(
            matches!(net.events.last().unwrap(), (t, ClientEvent::Renewed(l))
            if *t == Instant::from_millis(937_500) && l.acquired_at == secs(500))
        );
        assert_eq!(net.client.state(), DhcpState::Bound);
        assert_eq!(net.client.lease().unwrap().expires_at(), Some(secs(1500)));
    }

    #[test]
    fn dhcp_lease_expiry_is_lost_and_restarts_in_init() {
        // RFC 2131 §4.4.5: no ACK before expiry: INIT, stop using the address.
        let mut net = Net::new(4, None);
        net.run_until(secs(1));
        net.server_up = false;
        net.run_until(secs(999));
        assert_eq!(net.client.state(), DhcpState::Rebinding);
        net.run_until(secs(1000));
        assert_eq!(
            net.events.last().unwrap(),
            &(
                secs(1000),
                ClientEvent::Lost {
                    addr: POOL_START,
                    reason: LostReason::Expired
                }
            )
        );
        assert_eq!(net.client.lease(), None);
        assert_eq!(net.client.counters().leases_lost, 1);
        // A DISCOVER went out at once, suggesting the old address (RFC 2131 §4.4.1 MAY).
        assert_eq!(net.client.state(), DhcpState::Selecting);
        let (t, d, dst, src) = net.sent.last().unwrap();
        assert_eq!(*t, secs(1000));
        assert_eq!(d.message_type, DhcpMessageType::Discover);
        assert_eq!(d.requested_ip, Some(POOL_START));
        assert_eq!((*dst, *src), (Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED));
        assert_eq!(d.secs, 0);
        // The server comes back: a new lease.
        net.server_up = true;
        net.run_until(secs(1010));
        assert!(
            matches!(net.events.last().unwrap(), (_, ClientEvent::Bound(l)) if l.addr == POOL_START)
        );
    }

    #[test]
    fn dhcp_nak_while_renewing_loses_the_lease() {
        // RFC 2131 §4.4.5 / §3.2: a NAK in RENEWING: stop using the address, go to INIT.
        let mut net = Net::new(5, None);
        net.run_until(secs(1));
        // A server that has never heard of us and serves another network NAKs.
        let mut other = server_config();
        other.pool_start = Ipv4Addr::new(10, 0, 0, 10);
        other.pool_end = Ipv4Addr::new(10, 0, 0, 20);
        other.server_id = Ipv4Addr::new(10, 0, 0, 1);
        other.router = None;
        net.server = DhcpServer::new(other).unwrap();
        net.run_until(secs(500));
        let kinds: Vec<_> = net
            .replies
            .iter()
            .map(|r| r.1.message.message_type)
            .collect();
        assert_eq!(
            &kinds[2..],
            [
                DhcpMessageType::Nak,
                DhcpMessageType::Offer,
                DhcpMessageType::Ack
            ]
        );
        assert_eq!(net.replies[2].1.dst, Ipv4Addr::BROADCAST);
        assert!(net.events.iter().any(|e| e
            == &(
                secs(500),
                ClientEvent::Lost {
                    addr: POOL_START,
                    reason: LostReason::Nak
                }
            )));
        assert_eq!(net.client.counters().leases_lost, 1);
        // Restarted from INIT at once and got an address from the new server.
        assert_eq!(net.sent[3].1.message_type, DhcpMessageType::Discover);
        assert_eq!(
            net.sent[3].1.requested_ip, None,
            "a NAKed address is not suggested"
        );
        assert_eq!(bound_lease(&net).addr, Ipv4Addr::new(10, 0, 0, 10));
    }

    #[test]
    fn dhcp_nak_in_requesting_restarts_without_event() {
        // RFC 2131 §4.4.1: NAK in REQUESTING: back to INIT; there was no lease to lose.
        let mut c = DhcpClient::new(Instant::ZERO, MAC, rng(6), None);
        let d = c.poll_transmit(Instant::ZERO).unwrap().message;
        let mut offer = DhcpMessage::new(DhcpOp::Reply, DhcpMessageType::Offer, d.xid, MAC);
        offer.your_ip = POOL_START;
        offer.server_identifier = Some(SERVER);
        offer.lease_time = Some(100);
        assert_eq!(
            parsed(&wire(&offer), |r| c.handle_message(Instant::ZERO, r)),
            None
        );
        assert_eq!(c.state(), DhcpState::Requesting);
        let q = c.poll_transmit(Instant::ZERO).unwrap().message;
        assert_eq!(q.xid, d.xid);
        // A NAK naming another server is not for us.
        let mut nak = DhcpMessage::new(DhcpOp::Reply, DhcpMessageType::Nak, d.xid, MAC);
        nak.server_identifier = Some(Ipv4Addr::new(192, 168, 1, 2));
        assert_eq!(parsed(&wire(&nak), |r| c.handle_message(secs(1), r)), None);
        assert_eq!(c.state(), DhcpState::Requesting);
        nak.server_identifier = Some(SERVER);
        assert_eq!(parsed(&wire(&nak), |r| c.handle_message(secs(1), r)), None);
        assert_eq!(c.state(), DhcpState::Init);
        let again = c.poll_transmit(secs(1)).unwrap().message;
        assert_eq!(again.message_type, DhcpMessageType::Discover);
        assert_ne!(again.xid, d.xid);
        let k = c.counters();
        assert_eq!((k.rx_messages, k.rx_ignored, k.leases_lost), (2, 1, 0));
    }

    #[test]
    fn dhcp_init_reboot_reuses_the_previous_address() {
        // RFC 2131 §3.2 / §4.3.2: INIT-REBOOT broadcasts a REQUEST with the requested IP,
        // no server identifier and ciaddr 0; the server that knows the client ACKs.
        let mut net = Net::new(7, None);
        net.run_until(secs(10));
        let addr = bound_lease(&net).addr;
        // The host restarts and remembers its address.
        net.client = DhcpClient::new(secs(10), MAC, rng(70), Some(addr));
        assert_eq!(net.client.state(), DhcpState::InitReboot);
        let before = net.sent.len();
        net.run_until(secs(20));
        let (_, q, dst, src) = &net.sent[before];
        assert_eq!(q.message_type, DhcpMessageType::Request);
        assert_eq!((q.requested_ip, q.server_identifier), (Some(addr), None));
        assert_eq!(q.client_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!((*dst, *src), (Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED));
        assert_eq!(net.sent.len(), before + 1);
        let l = bound_lease(&net);
        assert_eq!((l.addr, l.acquired_at), (addr, secs(10)));

        // On the wrong network the server NAKs (RFC 2131 §4.3.2) and the client goes to
        // INIT, then DISCOVERs.
        let mut net = Net::new(8, Some(Ipv4Addr::new(10, 9, 9, 9)));
        net.run_until(secs(1));
        assert_eq!(net.replies[0].1.message.message_type, DhcpMessageType::Nak);
        assert_eq!(net.replies[0].1.dst, Ipv4Addr::BROADCAST);
        assert_eq!(
            net.sent_types(),
            [
                DhcpMessageType::Request,
                DhcpMessageType::Discover,
                DhcpMessageType::Request
            ]
        );
        assert_eq!(bound_lease(&net).addr, POOL_START);
        // No Lost event: the old address was never bound in this run.
        assert!(
            !net.events
                .iter()
                .any(|e| matches!(e.1, ClientEvent::Lost { .. }))
        );
    }

    #[test]
    fn dhcp_init_reboot_unknown_to_server_falls_back_to_init() {
        // RFC 2131 §4.3.2: a server without a record of the client stays silent; RFC 2131
        // §3.2: after the retransmissions the client restarts from INIT.
        let mut net = Net::new(9, Some(Ipv4Addr::new(192, 168, 1, 105)));
        net.run_until(secs(100));
        let types = net.sent_types();
        assert_eq!(&types[..4], &[DhcpMessageType::Request; 4]);
        assert_eq!(types[4], DhcpMessageType::Discover);
        let fallback = net.sent[4].0;
        assert!(fallback >= secs(56) && fallback <= secs(64), "{fallback}");
        // The DISCOVER suggests the old address and the server grants it (RFC 2131 §4.3.1).
        assert_eq!(
            net.sent[4].1.requested_ip,
            Some(Ipv4Addr::new(192, 168, 1, 105))
        );
        assert_eq!(bound_lease(&net).addr, Ipv4Addr::new(192, 168, 1, 105));
    }

    #[test]
    fn dhcp_retransmission_backoff_with_jitter() {
        // RFC 2131 §4.1: retransmit after 4, 8, 16, 32, 64, 64 ... s, each ±1 s uniformly.
        let mut spread = Vec::new();
        for seed in [11u64, 12, 13, 14, 15] {
            let mut net = Net::new(seed, None);
            net.server_up = false;
            net.run_until(secs(400));
            let times: Vec<u64> = net.sent.iter().map(|s| s.0.as_nanos()).collect();
            assert!(
                net.sent
                    .iter()
                    .all(|s| s.1.message_type == DhcpMessageType::Discover)
            );
            assert!(
                net.sent.iter().all(|s| s.1.xid == net.sent[0].1.xid),
                "same xid"
            );
            for (i, w) in times.windows(2).enumerate() {
                let base = 4u64 << i.min(4);
                let gap = w[1] - w[0];
                assert!(
                    gap >= (base - 1) * 1_000_000_000 && gap <= (base + 1) * 1_000_000_000,
                    "seed {seed}: gap {i} = {gap} ns, expected {base} ± 1 s"
                );
                spread.push(gap as i64 - (base * 1_000_000_000) as i64);
            }
            // secs counts from the first DISCOVER (RFC 2131 §2).
            let s: Vec<u16> = net.sent.iter().map(|s| s.1.secs).collect();
            assert_eq!(s[0], 0);
            assert!(s.windows(2).all(|w| w[1] > w[0]));
            assert!(times.len() >= 8, "{}", times.len());
        }
        // The jitter is drawn, not constant: both signs appear and no two are equal.
        assert!(spread.iter().any(|&j| j > 0) && spread.iter().any(|&j| j < 0));
        let mut sorted = spread.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), spread.len());
        // Same seed, same times.
        let run = |seed| {
            let mut net = Net::new(seed, None);
            net.server_up = false;
            net.run_until(secs(200));
            net.sent.iter().map(|s| s.0).collect::<Vec<_>>()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }

    #[test]
    fn dhcp_requesting_gives_up_after_four_transmissions() {
        // RFC 2131 §3.1 step 5: "retransmit the DHCPREQUEST message four times, for a total
        // delay of 60 seconds, before restarting": here 4 transmissions, INIT at ~60 s.
        let mut c = DhcpClient::new(Instant::ZERO, MAC, rng(16), None);
        let d = c.poll_transmit(Instant::ZERO).unwrap().message;
        let mut offer = DhcpMessage::new(DhcpOp::Reply, DhcpMessageType::Offer, d.xid, MAC);
        offer.your_ip = POOL_START;
        offer.server_identifier = Some(SERVER);
        parsed(&wire(&offer), |r| c.handle_message(Instant::ZERO, r));
        let mut times = Vec::new();
        let mut now = Instant::ZERO;
        loop {
            while let Some(o) = c.poll_transmit(now) {
                times.push((now, o.message.message_type));
            }
            if times.last().unwrap().1 == DhcpMessageType::Discover {
                break;
            }
            now = c.next_deadline().unwrap();
            assert_eq!(c.handle_timeout(now), None);
        }
        let kinds: Vec<_> = times.iter().map(|t| t.1).collect();
        assert_eq!(
            kinds,
            [
                DhcpMessageType::Request,
                DhcpMessageType::Request,
                DhcpMessageType::Request,
                DhcpMessageType::Request,
                DhcpMessageType::Discover
            ]
        );
        let at = times.last().unwrap().0;
        assert!(at >= secs(56) && at <= secs(64), "{at}");
        assert_eq!(c.state(), DhcpState::Selecting);
    }

    #[test]
    fn dhcp_wrong_xid_chaddr_or_kind_ignored() {
        // RFC 2131 §4.4.1: replies are matched by xid (and chaddr); others are discarded.
        let mut c = DhcpClient::new(Instant::ZERO, MAC, rng(17), None);
        let d = c.poll_transmit(Instant::ZERO).unwrap().message;
        let good = || {
            let mut o = DhcpMessage::new(DhcpOp::Reply, DhcpMessageType::Offer, d.xid, MAC);
            o.your_ip = POOL_START;
            o.server_identifier = Some(SERVER);
            o
        };
        let mut bad = Vec::new();
        let mut m = good();
        m.xid ^= 1;
        bad.push(m);
        let mut m = good();
        m.client_hardware_address = MacAddr([0x02, 0, 0, 0, 0, 0x99]);
        bad.push(m);
        let mut m = good();
        m.op = DhcpOp::Request;
        bad.push(m);
        let mut m = good();
        m.server_identifier = None; // RFC 2131 table 3: MUST be present
        bad.push(m);
        let mut m = good();
        m.your_ip = Ipv4Addr::BROADCAST;
        bad.push(m);
        let mut m = good();
        m.message_type = DhcpMessageType::Ack; // not expected in SELECTING
        bad.push(m);
        for m in &bad {
            assert_eq!(parsed(&wire(m), |r| c.handle_message(secs(1), r)), None);
            assert_eq!(c.state(), DhcpState::Selecting);
        }
        assert_eq!(c.counters().rx_ignored, bad.len() as u64);
        assert_eq!(c.poll_transmit(secs(1)), None);
        parsed(&wire(&good()), |r| c.handle_message(secs(1), r));
        assert_eq!(c.state(), DhcpState::Requesting);
        // A second offer in REQUESTING is ignored.
        parsed(&wire(&good()), |r| c.handle_message(secs(1), r));
        let k = c.counters();
        assert_eq!((k.rx_messages, k.rx_ignored), (1, bad.len() as u64 + 1));
    }

    #[test]
    fn dhcp_decline_on_conflict() {
        // RFC 2131 §4.4.1: an address in use: DECLINE (requested IP + server id), wait at
        // least 10 s, restart from INIT.
        let mut net = Net::new(18, None);
        net.conflict = true;
        net.run_until(secs(1));
        assert_eq!(
            net.sent_types(),
            [
                DhcpMessageType::Discover,
                DhcpMessageType::Request,
                DhcpMessageType::Decline
            ]
        );
        let (_, dec, dst, src) = &net.sent[2];
        assert_eq!(dec.requested_ip, Some(POOL_START));
        assert_eq!(dec.server_identifier, Some(SERVER));
        assert_eq!(dec.client_ip, Ipv4Addr::UNSPECIFIED);
        assert!(!dec.parameter_request_list, "RFC 2131 table 5: MUST NOT");
        assert_eq!((*dst, *src), (Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED));
        assert_eq!(net.client.counters().declines, 1);
        assert_eq!(net.client.state(), DhcpState::Init);
        assert_eq!(net.client.next_deadline(), Some(secs(10)));
        // No Bound, so no Lost either.
        assert!(
            net.events
                .iter()
                .all(|e| matches!(e.1, ClientEvent::CheckAddress { .. }))
        );
        net.conflict = false;
        net.run_until(secs(11));
        assert_eq!(net.sent[3].0, secs(10));
        assert_eq!(net.sent[3].1.message_type, DhcpMessageType::Discover);
        // The server marked the declined address unusable and offers the next one.
        assert_eq!(bound_lease(&net).addr, Ipv4Addr::new(192, 168, 1, 101));
        // A conflict on the address in use later (RFC 5227 §2.4): DECLINE and Lost.
        let e = net.client.address_checked(secs(20), true);
        assert_eq!(
            e,
            Some(ClientEvent::Lost {
                addr: Ipv4Addr::new(192, 168, 1, 101),
                reason: LostReason::Declined
            })
        );
        let out = net.client.poll_transmit(secs(20)).unwrap();
        assert_eq!(out.message.message_type, DhcpMessageType::Decline);
        let k = net.client.counters();
        assert_eq!((k.declines, k.leases_lost), (2, 1));
    }

    #[test]
    fn dhcp_release_forgets_the_lease() {
        // RFC 2131 §4.4.6: RELEASE unicast to the server with ciaddr and server id.
        let mut net = Net::new(19, None);
        net.run_until(secs(1));
        let lease = net.client.release(secs(2)).unwrap();
        assert_eq!(lease.addr, POOL_START);
        assert_eq!(net.client.lease(), None);
        assert_eq!(net.client.state(), DhcpState::Stopped);
        assert_eq!(net.client.next_deadline(), None);
        net.now = secs(2);
        net.exchange();
        let (_, rel, dst, src) = net.sent.last().unwrap();
        assert_eq!(rel.message_type, DhcpMessageType::Release);
        assert_eq!((*dst, *src), (SERVER, POOL_START));
        assert_eq!(rel.client_ip, POOL_START);
        assert_eq!(rel.server_identifier, Some(SERVER));
        assert_eq!(rel.requested_ip, None, "RFC 2131 table 5: MUST NOT");
        // The server freed the address; nothing more is sent.
        assert_eq!(
            net.server.binding(POOL_START).map(|b| b.0),
            Some(super::super::server::BindingState::Free)
        );
        assert_eq!(net.client.poll_transmit(secs(3)), None);
        assert_eq!(net.client.release(secs(3)), None);
        // Restarting acquires again (the same address, RFC 2131 §4.3.1).
        net.client.restart(secs(5));
        net.run_until(secs(6));
        assert_eq!(bound_lease(&net).addr, POOL_START);
    }

    #[test]
    fn dhcp_ack_options_t1_t2_mask_and_infinite_lease() {
        // RFC 2132 §9.11/§9.12: T1/T2 from options 58/59; RFC 2132 §3.3: a subnet mask must
        // be contiguous; RFC 2132 §9.2: 0xffffffff is an infinite lease.
        let ack = |xid, mask: Ipv4Addr, lease: u32, t1: Option<u32>, t2: Option<u32>| {
            let mut a = DhcpMessage::new(DhcpOp::Reply, DhcpMessageType::Ack, xid, MAC);
            a.your_ip = POOL_START;
            a.server_identifier = Some(SERVER);
            a.subnet_mask = Some(mask);
            a.lease_time = Some(lease);
            a.renewal_time = t1;
            a.rebinding_time = t2;
            a
        };
        let requesting = |seed| {
            let mut c = DhcpClient::new(Instant::ZERO, MAC, rng(seed), None);
            let d = c.poll_transmit(Instant::ZERO).unwrap().message;
            let mut o = DhcpMessage::new(DhcpOp::Reply, DhcpMessageType::Offer, d.xid, MAC);
            o.your_ip = POOL_START;
            o.server_identifier = Some(SERVER);
            parsed(&wire(&o), |r| c.handle_message(Instant::ZERO, r));
            c.poll_transmit(secs(2)).unwrap();
            (c, d.xid)
        };
        let (mut c, xid) = requesting(20);
        let mask = Ipv4Addr::new(255, 255, 0, 255);
        assert_eq!(
            parsed(&wire(&ack(xid, mask, 600, None, None)), |r| c
                .handle_message(secs(3), r)),
            None
        );
        assert_eq!(
            c.state(),
            DhcpState::Requesting,
            "non-contiguous mask refused"
        );
        assert_eq!(
            parsed(
                &wire(&ack(xid, Ipv4Addr::new(255, 255, 255, 0), 0, None, None)),
                |r| c.handle_message(secs(3), r)
            ),
            None
        );
        assert_eq!(c.counters().rx_ignored, 2);
        let good = ack(
            xid,
            Ipv4Addr::new(255, 255, 240, 0),
            600,
            Some(100),
            Some(200),
        );
        let e = parsed(&wire(&good), |r| c.handle_message(secs(3), r));
        assert_eq!(e, Some(ClientEvent::CheckAddress { addr: POOL_START }));
        assert_eq!(c.state(), DhcpState::Checking);
        assert_eq!(c.lease(), None, "not usable before the check");
        let Some(ClientEvent::Bound(l)) = c.address_checked(secs(4), false) else {
            panic!()
        };
        assert_eq!(l.prefix_len, 20);
        assert_eq!(
            (l.t1, l.t2),
            (Duration::from_secs(100), Duration::from_secs(200))
        );
        // The lease runs from the REQUEST's first transmission (RFC 2131 §4.4.1).
        assert_eq!(l.acquired_at, secs(2));
        assert_eq!(c.next_deadline(), Some(secs(102)));
        // T2 beyond the lease falls back to the defaults.
        assert_eq!(
            lease_times(600, Some(100), Some(700)),
            (
                Duration::from_secs(600),
                Duration::from_secs(100),
                Duration::from_secs(525)
            )
        );
        assert_eq!(
            lease_times(600, Some(550), Some(500)).1,
            Duration::from_secs(300)
        );

        let (mut c, xid) = requesting(21);
        let inf = ack(xid, Ipv4Addr::new(255, 255, 255, 0), u32::MAX, None, None);
        parsed(&wire(&inf), |r| c.handle_message(secs(3), r));
        let Some(ClientEvent::Bound(l)) = c.address_checked(secs(3), false) else {
            panic!()
        };
        assert!(l.is_infinite());
        assert_eq!((l.renew_at(), l.expires_at()), (None, None));
        assert_eq!(c.next_deadline(), None);
        assert_eq!(
            c.handle_timeout(Instant::from_secs(u64::MAX / 2_000_000_000)),
            None
        );
        assert_eq!(c.state(), DhcpState::Bound);

        assert_eq!(prefix_of(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(prefix_of(Ipv4Addr::new(0, 0, 0, 0)), None);
        assert_eq!(prefix_of(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(classful_prefix(Ipv4Addr::new(172, 16, 0, 5)), 16);
    }
}
