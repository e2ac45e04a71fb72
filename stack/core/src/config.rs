//! Configuration of a [`Stack`](crate::Stack): interfaces, addresses, routes, limits, seed.
//! Every bound on memory that input can grow is a field of [`Limits`]; `docs/bounds.md`
//! lists them with their defaults.

use crate::time::Duration;
use alloc::vec::Vec;
use weft_wire::{Ipv4Addr, MacAddr};

/// An interface's index in the stack (its position in [`StackConfig::interfaces`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfaceId(pub u8);

/// How an interface gets its IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipv4Config {
    /// No address: the interface receives only what needs none (ARP, DHCP replies).
    None,
    /// A fixed address and on-link prefix, with an optional default gateway.
    Static {
        /// The address.
        addr: Ipv4Addr,
        /// On-link prefix length (0..=32).
        prefix_len: u8,
        /// Default gateway through this interface.
        gateway: Option<Ipv4Addr>,
    },
    /// Acquire an address with the DHCP client (RFC 2131).
    Dhcp,
}

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// The interface's MAC address (unicast).
    pub mac: MacAddr,
    /// IP MTU: the largest IPv4 datagram sent without fragmenting (68..=65535; RFC 791 §3.2
    /// requires every host to handle 68).
    pub mtu: u16,
    /// Address configuration.
    pub ipv4: Ipv4Config,
    /// Multicast MAC addresses accepted besides our own and broadcast.
    pub multicast: Vec<MacAddr>,
}

impl InterfaceConfig {
    /// An Ethernet interface with a 1500-byte MTU and a static address.
    pub fn ethernet(mac: MacAddr, addr: Ipv4Addr, prefix_len: u8) -> Self {
        InterfaceConfig {
            mac,
            mtu: 1500,
            ipv4: Ipv4Config::Static {
                addr,
                prefix_len,
                gateway: None,
            },
            multicast: Vec::new(),
        }
    }
}

/// A static route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination network.
    pub dest: Ipv4Addr,
    /// Prefix length of `dest` (0 is the default route).
    pub prefix_len: u8,
    /// Next hop; `None` for an on-link network.
    pub via: Option<Ipv4Addr>,
    /// Interface to send through.
    pub iface: IfaceId,
}

/// Every bound on state that input can grow, with what happens when it is reached. Defaults
/// are documented in `docs/bounds.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// ARP cache entries per interface; when full, the entry closest to expiry is evicted.
    pub arp_cache_entries: usize,
    /// How long a learned ARP entry stays valid.
    pub arp_entry_lifetime: Duration,
    /// Packets queued awaiting resolution, per destination; more are dropped (counted).
    pub arp_pending_per_dest: usize,
    /// Packets queued awaiting resolution, per interface in total.
    pub arp_pending_total: usize,
    /// Interval between ARP requests for one address (RFC 1122 §2.3.2.1 rate limit: at most
    /// one per second).
    pub arp_retry_interval: Duration,
    /// Requests sent before a resolution fails and its queued packets are dropped.
    pub arp_max_requests: u8,
    /// Datagrams under reassembly at once; a new one beyond this is dropped.
    pub reassembly_datagrams: usize,
    /// Bytes held by reassembly in total.
    pub reassembly_bytes: usize,
    /// Time a partial datagram is kept (RFC 791 §3.2 suggests 15 s; RFC 1122 §3.3.2 60-120 s).
    pub reassembly_timeout: Duration,
    /// Bound UDP sockets (at most `udp::MAX_SOCKETS`, 1,048,576).
    pub udp_sockets: usize,
    /// Datagrams queued per UDP socket; beyond, new datagrams are dropped (counted).
    pub udp_rx_datagrams: usize,
    /// Payload bytes queued per UDP socket.
    pub udp_rx_bytes: usize,
    /// Frames waiting for `poll_transmit`; beyond, new frames are dropped (counted).
    pub tx_queue_frames: usize,
    /// Events waiting for `poll_event`; beyond, new events are dropped (counted).
    pub event_queue: usize,
    /// ICMP errors sent per second (token bucket, RFC 1812 §4.3.2.8 / RFC 1122 §3.2.2).
    pub icmp_errors_per_sec: u32,
    /// Burst of ICMP errors allowed.
    pub icmp_error_burst: u32,
    /// TCP connections at once (every state, TIME-WAIT included); a SYN or connect beyond
    /// is refused (counted).
    pub tcp_connections: usize,
    /// The largest listen backlog (handshaking plus not yet accepted connections per
    /// listener); SYNs beyond a listener's backlog are dropped (counted).
    pub tcp_backlog: usize,
    /// Challenge ACKs sent per second, stack-wide (RFC 5961 §7).
    pub tcp_challenge_acks_per_sec: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            arp_cache_entries: 256,
            arp_entry_lifetime: Duration::from_secs(60),
            arp_pending_per_dest: 64,
            arp_pending_total: 256,
            arp_retry_interval: Duration::from_secs(1),
            arp_max_requests: 3,
            reassembly_datagrams: 16,
            reassembly_bytes: 256 * 1024,
            reassembly_timeout: Duration::from_secs(30),
            udp_sockets: 65_536,
            udp_rx_datagrams: 64,
            udp_rx_bytes: 256 * 1024,
            tx_queue_frames: 1024,
            event_queue: 4096,
            icmp_errors_per_sec: 100,
            icmp_error_burst: 10,
            tcp_connections: 65_536,
            tcp_backlog: 1024,
            tcp_challenge_acks_per_sec: 1000,
        }
    }
}

/// A whole stack's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackConfig {
    /// The seed of every random stream (ISNs, ports, DHCP xids, jitter, table keys).
    pub seed: u64,
    /// Interfaces, indexed by [`IfaceId`].
    pub interfaces: Vec<InterfaceConfig>,
    /// Static routes besides the on-link networks and gateways of the interfaces.
    pub routes: Vec<Route>,
    /// Bounds.
    pub limits: Limits,
    /// TTL of datagrams we originate (RFC 1122 §3.2.1.7: 64 is common practice).
    pub ttl: u8,
    /// TCP defaults for every connection (each can be changed per connection).
    pub tcp: crate::tcp::conn::TcpConfig,
}

impl StackConfig {
    /// A configuration with one seed and no interfaces.
    pub fn new(seed: u64) -> Self {
        StackConfig {
            seed,
            interfaces: Vec::new(),
            routes: Vec::new(),
            limits: Limits::default(),
            ttl: 64,
            tcp: crate::tcp::conn::TcpConfig::default(),
        }
    }
    /// Adds an interface; returns its id.
    pub fn add_interface(&mut self, iface: InterfaceConfig) -> IfaceId {
        self.interfaces.push(iface);
        IfaceId(u8::try_from(self.interfaces.len() - 1).unwrap_or(u8::MAX))
    }
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// More than 255 interfaces.
    #[error("{count} interfaces configured; at most 255 are supported")]
    TooManyInterfaces {
        /// Interfaces given.
        count: usize,
    },
    /// A MAC address that is multicast or zero.
    #[error("interface {iface}: MAC {mac} must be a non-zero unicast address")]
    BadMac {
        /// Interface index.
        iface: u8,
        /// The address.
        mac: MacAddr,
    },
    /// An MTU outside 68..=65535 (RFC 791 §3.2: every internet module must forward 68).
    #[error("interface {iface}: MTU {mtu} is below the IPv4 minimum of 68")]
    BadMtu {
        /// Interface index.
        iface: u8,
        /// The MTU.
        mtu: u16,
    },
    /// A prefix length over 32.
    #[error("prefix length {prefix_len} for {addr} is over 32")]
    BadPrefix {
        /// The address or network.
        addr: Ipv4Addr,
        /// The prefix length.
        prefix_len: u8,
    },
    /// A static address that cannot be a host address.
    #[error(
        "interface {iface}: {addr} cannot be a host address (unspecified, broadcast, multicast or the network's broadcast)"
    )]
    BadAddress {
        /// Interface index.
        iface: u8,
        /// The address.
        addr: Ipv4Addr,
    },
    /// A route through an interface that does not exist.
    #[error("route to {dest}/{prefix_len} uses interface {iface}, but only {count} are configured")]
    NoSuchInterface {
        /// Route destination.
        dest: Ipv4Addr,
        /// Route prefix length.
        prefix_len: u8,
        /// The interface named.
        iface: u8,
        /// Interfaces configured.
        count: usize,
    },
    /// A limit of zero where at least one is needed.
    #[error("limit {name} must be at least 1")]
    ZeroLimit {
        /// The limit's field name.
        name: &'static str,
    },
}
