//! Per-layer counters, readable from the stack (`Stack::counters`). Every frame the stack
//! drops is counted under a reason; nothing is lost silently.

/// Ethernet layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EthernetCounters {
    /// Frames received.
    pub rx_frames: u64,
    /// Frames queued for transmission.
    pub tx_frames: u64,
    /// Dropped: not a valid Ethernet II frame.
    pub rx_malformed: u64,
    /// Dropped: destination is neither our MAC, broadcast nor a configured multicast group.
    pub rx_not_for_us: u64,
    /// Dropped: an EtherType the stack does not handle (IPv6, LLDP, ...).
    pub rx_unknown_ethertype: u64,
    /// Dropped: VLAN-tagged (the stack has no VLAN interfaces).
    pub rx_vlan_tagged: u64,
    /// Dropped: received on an interface id the stack does not have.
    pub rx_no_such_iface: u64,
}

/// ARP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArpCounters {
    /// Packets received.
    pub rx_packets: u64,
    /// Dropped: malformed or not Ethernet/IPv4.
    pub rx_malformed: u64,
    /// Requests for one of our addresses answered.
    pub replies_sent: u64,
    /// Requests sent (including retries, probes and announcements).
    pub requests_sent: u64,
    /// Entries learned or refreshed.
    pub entries_updated: u64,
    /// Entries evicted because the cache was full.
    pub evictions: u64,
    /// Entries expired.
    pub expirations: u64,
    /// Packets dropped because a resolution queue was full.
    pub pending_dropped: u64,
    /// Packets dropped because resolution failed after all retries.
    pub resolution_failed: u64,
    /// Address conflicts detected (RFC 5227 §2.1.1 / §2.4).
    pub conflicts: u64,
    /// Entries dropped on a transport's negative advice (TCP past R1), to be asked again.
    pub revalidations: u64,
}

/// IPv4.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ipv4Counters {
    /// Datagrams received (before validation).
    pub rx_datagrams: u64,
    /// Datagrams delivered to an upper layer.
    pub rx_delivered: u64,
    /// Dropped: malformed header.
    pub rx_malformed: u64,
    /// Dropped: bad header checksum.
    pub rx_bad_checksum: u64,
    /// Dropped: not addressed to us (hosts do not forward: RFC 1122 §3.3.1).
    pub rx_not_for_us: u64,
    /// Dropped: an upper protocol the stack does not handle.
    pub rx_unknown_protocol: u64,
    /// Fragments received.
    pub rx_fragments: u64,
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Fragments dropped: overlapping data (RFC 5722 spirit, applied to IPv4).
    pub reassembly_overlaps: u64,
    /// Fragments dropped: reassembly limits reached.
    pub reassembly_full: u64,
    /// Partial datagrams dropped on timeout.
    pub reassembly_timeouts: u64,
    /// Datagrams sent.
    pub tx_datagrams: u64,
    /// Fragments sent.
    pub tx_fragments: u64,
    /// Send refused: no route.
    pub tx_no_route: u64,
    /// Send refused: larger than the MTU with DF set.
    pub tx_too_big: u64,
}

/// ICMP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IcmpCounters {
    /// Messages received.
    pub rx_messages: u64,
    /// Dropped: malformed or bad checksum.
    pub rx_malformed: u64,
    /// Echo requests answered.
    pub echo_replies_sent: u64,
    /// Errors received and delivered as events.
    pub errors_delivered: u64,
    /// Errors received that matched no local flow.
    pub errors_unmatched: u64,
    /// Errors sent (port unreachable, ...).
    pub errors_sent: u64,
    /// Errors not sent because of the rate limit.
    pub errors_rate_limited: u64,
}

/// UDP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpCounters {
    /// Datagrams received.
    pub rx_datagrams: u64,
    /// Datagrams queued to a socket.
    pub rx_delivered: u64,
    /// Dropped: malformed.
    pub rx_malformed: u64,
    /// Dropped: bad checksum.
    pub rx_bad_checksum: u64,
    /// Dropped: no socket bound (answered with port unreachable when allowed).
    pub rx_no_socket: u64,
    /// Dropped: the socket's receive queue was full.
    pub rx_queue_full: u64,
    /// Datagrams sent.
    pub tx_datagrams: u64,
}

/// DHCP client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DhcpCounters {
    /// Messages sent.
    pub tx_messages: u64,
    /// Messages received and accepted.
    pub rx_messages: u64,
    /// Messages ignored (wrong xid, malformed, unexpected in this state).
    pub rx_ignored: u64,
    /// Leases acquired.
    pub leases: u64,
    /// Leases renewed.
    pub renewals: u64,
    /// Leases lost (expired or NAKed).
    pub leases_lost: u64,
    /// DECLINEs sent after an address conflict.
    pub declines: u64,
}

/// Whole-stack queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounters {
    /// Frames dropped because the transmit queue was full.
    pub tx_queue_full: u64,
    /// Frames dropped because `poll_transmit`'s buffer was too small.
    pub tx_buffer_too_small: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
}

/// All counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Ethernet.
    pub ethernet: EthernetCounters,
    /// ARP.
    pub arp: ArpCounters,
    /// IPv4.
    pub ipv4: Ipv4Counters,
    /// ICMP.
    pub icmp: IcmpCounters,
    /// UDP.
    pub udp: UdpCounters,
    /// DHCP.
    pub dhcp: DhcpCounters,
    /// TCP.
    pub tcp: crate::tcp::sockets::TcpCounters,
    /// Queues.
    pub queues: QueueCounters,
}
