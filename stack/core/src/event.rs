//! Events for the layer above (`Stack::poll_event`).

use crate::config::IfaceId;
use weft_wire::{Ipv4Addr, MacAddr};

/// A UDP socket's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UdpSocketId(pub u32);

/// What an incoming ICMP error reported (RFC 792, RFC 1122 §3.2.2.1, RFC 1191).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpErrorKind {
    /// Destination unreachable with this code (3 = port unreachable, 1 = host, ...).
    Unreachable {
        /// The ICMP code.
        code: u8,
    },
    /// Fragmentation needed and DF set, with the next-hop MTU (0 if the router gave none).
    FragmentationNeeded {
        /// Next-hop MTU (RFC 1191 §4).
        mtu: u16,
    },
    /// Time exceeded (0 TTL in transit, 1 reassembly).
    TimeExceeded {
        /// The ICMP code.
        code: u8,
    },
    /// Parameter problem at this octet of the quoted header.
    ParameterProblem {
        /// The pointer.
        pointer: u8,
    },
}

/// Something the application may need to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A UDP socket has datagrams to read.
    UdpReadable {
        /// The socket.
        socket: UdpSocketId,
    },
    /// An ICMP error about a datagram a local UDP socket sent.
    UdpError {
        /// The socket that sent the offending datagram.
        socket: UdpSocketId,
        /// The remote address and port the datagram went to.
        remote: (Ipv4Addr, u16),
        /// What went wrong.
        kind: IcmpErrorKind,
        /// Who reported it.
        reporter: Ipv4Addr,
    },
    /// An ICMP echo reply arrived (for applications that ping).
    EchoReply {
        /// Who answered.
        from: Ipv4Addr,
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
    },
    /// An interface has an address (static at start, or a DHCP lease).
    AddressUp {
        /// The interface.
        iface: IfaceId,
        /// The address.
        addr: Ipv4Addr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// An interface lost its address (lease expired, NAK, or conflict).
    AddressDown {
        /// The interface.
        iface: IfaceId,
        /// The address lost.
        addr: Ipv4Addr,
    },
    /// A TCP connection we opened is established.
    TcpConnected {
        /// The connection.
        socket: crate::tcp::TcpSocketId,
    },
    /// A listener has an established connection to accept.
    TcpAcceptable {
        /// The listener.
        listener: crate::tcp::TcpListenerId,
    },
    /// Data (or the end of the stream) can be read.
    TcpReadable {
        /// The connection.
        socket: crate::tcp::TcpSocketId,
    },
    /// Send buffer space was freed.
    TcpWritable {
        /// The connection.
        socket: crate::tcp::TcpSocketId,
    },
    /// The peer closed its direction (FIN): reads end after the buffered data.
    TcpPeerClosed {
        /// The connection.
        socket: crate::tcp::TcpSocketId,
    },
    /// Urgent data arrived (RFC 9293 §3.8.5).
    TcpUrgent {
        /// The connection.
        socket: crate::tcp::TcpSocketId,
    },
    /// The network sent an ICMP error about the connection's data (RFC 9293 §3.9.1.8,
    /// MUST-47). A soft error: the connection goes on (MUST-56).
    TcpIcmpError {
        /// The connection.
        socket: crate::tcp::TcpSocketId,
        /// What the error said.
        kind: IcmpErrorKind,
        /// Who sent it.
        reporter: Ipv4Addr,
    },
    /// Retransmissions of one segment reached R1 (RFC 9293 §3.8.3): the path is suspect;
    /// the connection goes on until R2 or the user timeout (MUST-47's report).
    TcpRetransmitting {
        /// The connection.
        socket: crate::tcp::TcpSocketId,
    },
    /// The connection failed: refused, reset, timed out.
    TcpFailed {
        /// The connection.
        socket: crate::tcp::TcpSocketId,
        /// Why.
        error: crate::tcp::ConnError,
    },
    /// The connection is fully closed (after TIME-WAIT or LAST-ACK, or a failure).
    TcpClosed {
        /// The connection.
        socket: crate::tcp::TcpSocketId,
    },
    /// Another host claims one of our addresses (RFC 5227 §2.4).
    AddressConflict {
        /// The interface.
        iface: IfaceId,
        /// The address.
        addr: Ipv4Addr,
        /// The other host's MAC.
        other: MacAddr,
    },
}
