//! Oracles that judge every run, and the ledger the workloads keep for them.
//!
//! - **Datagram integrity** ([`Oracle::Integrity`]): every datagram an application received
//!   is one that was sent — the same bytes, from the same address and port, to that port on
//!   that host. A datagram nobody sent is corruption that got past the checksums.
//! - **Loss accounting** ([`Oracle::Loss`]): each datagram that was owed and never arrived
//!   must be matched to something that lost it, one for one: a fault on a frame carrying it
//!   on its sender's or its receiver's link (the fabric marks every frame with the datagram
//!   it carries, `sim/src/marks.rs`): a loss, a corruption (which a checksum then drops), a
//!   full queue or NIC ring, an oversized frame, a partition; or, when no frame carrying it
//!   ever left the sender, the sender's crash or a drop its stack counted (ARP given up or
//!   its queue full, a full transmit queue); or a drop the receiver's stack counted (a full
//!   socket queue, reassembly limits). A datagram is owed when its receiver was listening
//!   from the moment it was sent until `settle` after it left the sender's NIC (or after
//!   the send, when it never left) ([`OracleConfig::settle`], by default derived from the
//!   links) and the run lasted that long. Pings and DHCP acquisitions, several frames each
//!   (ARP's among them), are counted per path instead: those that failed between two hosts
//!   may not outnumber the frames lost on the two hosts' links (both directions: ARP replies
//!   travel back) and the drops their stacks counted, unless either host crashed.
//! - **Stream integrity** ([`Oracle::Integrity`] too): each end of a workload's TCP stream
//!   receives exactly the bytes the other end wrote, in order, once: every byte read is
//!   compared with the byte written at that offset, and an end that reads the end of the
//!   stream (the peer's FIN) must have read everything the peer wrote.
//! - **Stream errors** ([`Oracle::Loss`] too): a connection reset or refused must be explained
//!   by a crash or a partition of either host while the connection was open (or being
//!   opened), or by the other end's abort after an error explained itself; a timeout (the
//!   stack's, or the workload's idle limit) by any loss-causing fault on the path (a stall
//!   of consecutive losses and backed-off retransmissions is TCP working as specified, and
//!   the oracle cannot tell it from a stall of the stack's own making).
//! - **Duplicates** ([`Oracle::Duplicate`]): each copy of a datagram an application receives
//!   beyond the times it was sent (a workload's retransmission is a send) must be matched to
//!   a duplication fault on a frame carrying it.
//! - Marks the fabric could not keep ([`DatagramTotals::excused_unmarked`]) excuse at most as
//!   many losses or duplicates as were missed, and the summary says how many.
//! - **The sender-side monitor** ([`Oracle::Monitor`], [`crate::monitor`]).
//! - **Liveness** ([`Oracle::Liveness`]): once faults stop — the last fault fired, every
//!   partition healed, every crashed host restarted — applications given
//!   [`OracleConfig::liveness_grace`] must finish.
//! - **Application checks** ([`Oracle::Application`]): what the workloads check themselves
//!   (a reply that is not the answer to its request, two hosts leased one address, an
//!   address leased from outside the server's pool).

use crate::executor::HostId;
use crate::fabric::fnv;
use crate::marks::{DatagramId, Mark, MarkKind};
use core::fmt;
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use weft_core::{Duration, IfaceId, Instant};

/// What the oracles allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OracleConfig {
    /// How long a datagram may take to arrive (queueing, reordering, jitter, ARP): one sent
    /// to a receiver that listened for this long afterwards must have arrived. `None`: three
    /// times the slowest host-to-host path the links allow (latency, jitter, reordering delay
    /// and a full queue at the link's rate, both hops), plus 20 ms — once for the datagram,
    /// twice for an ARP exchange before it.
    pub settle: Option<Duration>,
    /// How long after faults stop applications must have finished.
    pub liveness_grace: Duration,
    /// Whether the sender-side monitor runs.
    pub monitor: bool,
}

impl Default for OracleConfig {
    fn default() -> Self {
        OracleConfig {
            settle: None,
            liveness_grace: Duration::from_secs(5),
            monitor: true,
        }
    }
}

/// Which oracle a failure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Oracle {
    /// An application received bytes nobody sent (or at the wrong host).
    Integrity,
    /// Something was lost with no fault on its path.
    Loss,
    /// Something arrived twice with no duplication fault on its path.
    Duplicate,
    /// A sender emitted a frame that breaks a protocol rule.
    Monitor,
    /// Applications did not finish after faults stopped.
    Liveness,
    /// A workload's own check failed.
    Application,
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Oracle::Integrity => "integrity",
            Oracle::Loss => "loss",
            Oracle::Duplicate => "duplicate",
            Oracle::Monitor => "monitor",
            Oracle::Liveness => "liveness",
            Oracle::Application => "application",
        })
    }
}

/// One thing an oracle found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OracleFailure {
    /// An application received a datagram that no one sent: corruption reached it.
    Phantom {
        /// When.
        at: Instant,
        /// The receiving host.
        host: String,
        /// The datagram's source as received.
        from: SocketAddrV4,
        /// The port it arrived on.
        port: u16,
        /// Its length.
        len: usize,
    },
    /// A datagram arrived at a host it was not sent to.
    Misdelivered {
        /// When.
        at: Instant,
        /// Where it arrived.
        host: String,
        /// Where it was sent.
        sent_to: String,
        /// Its source.
        from: SocketAddrV4,
        /// Its port.
        port: u16,
    },
    /// Things were lost between two hosts while no fault touched their path.
    UnaccountedLoss {
        /// What was lost: "datagram", "ping", "dhcp".
        what: &'static str,
        /// Sender.
        from_host: String,
        /// Receiver.
        to_host: String,
        /// How many.
        count: u64,
        /// One of them, described.
        example: String,
    },
    /// Datagrams arrived more often than sent while no duplication fault touched the path.
    UnaccountedDuplicate {
        /// Sender.
        from_host: String,
        /// Receiver.
        to_host: String,
        /// Extra copies received.
        count: u64,
        /// One of them, described.
        example: String,
    },
    /// A frame broke a monitor rule.
    Monitor {
        /// When it was emitted.
        at: Instant,
        /// Who emitted it.
        host: String,
        /// The rule ([`crate::monitor::RULES`]).
        rule: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Applications had not finished although faults had stopped long enough before the end.
    Liveness {
        /// The host.
        host: String,
        /// Its unfinished applications.
        apps: Vec<String>,
        /// When faults stopped.
        quiet_since: Instant,
        /// When the run ended.
        end: Instant,
    },
    /// A request/response client accepted a reply that does not answer its request.
    WrongReply {
        /// The workload.
        workload: String,
        /// The client host.
        host: String,
        /// The request's number.
        request: u32,
    },
    /// A TCP stream delivered a byte that differs from the one written at its offset (or
    /// more bytes than were written).
    StreamCorrupted {
        /// The workload.
        workload: String,
        /// The writing host.
        from_host: String,
        /// The reading host.
        to_host: String,
        /// The offset of the first wrong byte.
        offset: u64,
    },
    /// A TCP stream ended (the reader got the peer's FIN) before every written byte arrived.
    StreamTruncated {
        /// The workload.
        workload: String,
        /// The writing host.
        from_host: String,
        /// The reading host.
        to_host: String,
        /// Bytes read before the end.
        received: u64,
        /// Bytes written.
        sent: u64,
    },
    /// A TCP connection failed (reset, refused, timed out) with no fault that explains it.
    UnaccountedStreamError {
        /// The workload.
        workload: String,
        /// The host that saw the error.
        host: String,
        /// The other end.
        peer: String,
        /// What happened.
        error: StreamError,
        /// When.
        at: Instant,
    },
    /// A server accepted a connection whose first bytes name no stream a client opened.
    PhantomStream {
        /// When.
        at: Instant,
        /// The server host.
        host: String,
        /// The connection's source.
        from: SocketAddrV4,
    },
    /// Two hosts of a workload held the same leased address, and the server had not crashed
    /// (losing its bindings) before the second got it.
    DuplicateAddress {
        /// The workload.
        workload: String,
        /// The address.
        addr: Ipv4Addr,
        /// The hosts.
        hosts: [String; 2],
    },
    /// A host was leased an address outside its DHCP server's pool.
    LeaseOutsidePool {
        /// The workload.
        workload: String,
        /// The host.
        host: String,
        /// The address.
        addr: Ipv4Addr,
        /// The pool: first and last address.
        pool: (Ipv4Addr, Ipv4Addr),
    },
}

impl OracleFailure {
    /// The oracle that found it.
    pub fn oracle(&self) -> Oracle {
        match self {
            OracleFailure::Phantom { .. }
            | OracleFailure::Misdelivered { .. }
            | OracleFailure::StreamCorrupted { .. }
            | OracleFailure::StreamTruncated { .. }
            | OracleFailure::PhantomStream { .. } => Oracle::Integrity,
            OracleFailure::UnaccountedLoss { .. }
            | OracleFailure::UnaccountedStreamError { .. } => Oracle::Loss,
            OracleFailure::UnaccountedDuplicate { .. } => Oracle::Duplicate,
            OracleFailure::Monitor { .. } => Oracle::Monitor,
            OracleFailure::Liveness { .. } => Oracle::Liveness,
            OracleFailure::WrongReply { .. }
            | OracleFailure::DuplicateAddress { .. }
            | OracleFailure::LeaseOutsidePool { .. } => Oracle::Application,
        }
    }

    /// A stable identity for "the same failure" across runs (shrinking, replay): the oracle,
    /// the hosts and rule involved, without times or counts.
    pub fn signature(&self) -> String {
        match self {
            OracleFailure::Phantom { host, port, .. } => format!("phantom {host}:{port}"),
            OracleFailure::Misdelivered { host, sent_to, .. } => {
                format!("misdelivered {sent_to}->{host}")
            }
            OracleFailure::UnaccountedLoss {
                what,
                from_host,
                to_host,
                ..
            } => format!("loss {what} {from_host}->{to_host}"),
            OracleFailure::UnaccountedDuplicate {
                from_host, to_host, ..
            } => format!("duplicate {from_host}->{to_host}"),
            OracleFailure::Monitor { host, rule, .. } => format!("monitor {rule} {host}"),
            OracleFailure::Liveness { host, .. } => format!("liveness {host}"),
            OracleFailure::WrongReply { workload, host, .. } => {
                format!("wrong-reply {workload} {host}")
            }
            OracleFailure::DuplicateAddress { workload, addr, .. } => {
                format!("duplicate-address {workload} {addr}")
            }
            OracleFailure::LeaseOutsidePool { workload, host, .. } => {
                format!("lease-outside-pool {workload} {host}")
            }
            OracleFailure::StreamCorrupted {
                workload,
                from_host,
                to_host,
                ..
            } => format!("stream-corrupted {workload} {from_host}->{to_host}"),
            OracleFailure::StreamTruncated {
                workload,
                from_host,
                to_host,
                ..
            } => format!("stream-truncated {workload} {from_host}->{to_host}"),
            OracleFailure::UnaccountedStreamError {
                workload,
                host,
                peer,
                error,
                ..
            } => format!("stream-error {workload} {host}<-{peer} {error}"),
            OracleFailure::PhantomStream { host, .. } => format!("phantom-stream {host}"),
        }
    }
}

impl fmt::Display for OracleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] ", self.oracle())?;
        match self {
            OracleFailure::Phantom {
                at,
                host,
                from,
                port,
                len,
            } => write!(
                f,
                "at {at} {host}:{port} received {len} bytes from {from} that nobody sent (corruption reached the application)"
            ),
            OracleFailure::Misdelivered {
                at,
                host,
                sent_to,
                from,
                port,
            } => write!(
                f,
                "at {at} {host} received on port {port} a datagram from {from} that was sent to {sent_to}"
            ),
            OracleFailure::UnaccountedLoss {
                what,
                from_host,
                to_host,
                count,
                example,
            } => write!(
                f,
                "{count} {what}(s) from {from_host} to {to_host} lost with no fault on their path (e.g. {example})"
            ),
            OracleFailure::UnaccountedDuplicate {
                from_host,
                to_host,
                count,
                example,
            } => write!(
                f,
                "{count} extra copies of datagrams from {from_host} to {to_host} with no duplication fault on their path (e.g. {example})"
            ),
            OracleFailure::Monitor {
                at,
                host,
                rule,
                detail,
            } => write!(
                f,
                "at {at} {host} emitted a frame breaking {rule}: {detail}"
            ),
            OracleFailure::Liveness {
                host,
                apps,
                quiet_since,
                end,
            } => write!(
                f,
                "{host}: {} unfinished at {end}, although faults stopped at {quiet_since}",
                apps.join(", ")
            ),
            OracleFailure::WrongReply {
                workload,
                host,
                request,
            } => write!(
                f,
                "{workload}: {host} accepted a reply to request {request} that does not answer it"
            ),
            OracleFailure::DuplicateAddress {
                workload,
                addr,
                hosts,
            } => write!(
                f,
                "{workload}: {} and {} were both leased {addr}",
                hosts[0], hosts[1]
            ),
            OracleFailure::StreamCorrupted {
                workload,
                from_host,
                to_host,
                offset,
            } => write!(
                f,
                "{workload}: the stream {from_host} -> {to_host} delivered a byte at offset {offset} that was not the one written there"
            ),
            OracleFailure::StreamTruncated {
                workload,
                from_host,
                to_host,
                received,
                sent,
            } => write!(
                f,
                "{workload}: the stream {from_host} -> {to_host} ended after {received} of the {sent} bytes written"
            ),
            OracleFailure::UnaccountedStreamError {
                workload,
                host,
                peer,
                error,
                at,
            } => write!(
                f,
                "{workload}: at {at} {host}'s connection with {peer} failed ({error}) with no fault to explain it"
            ),
            OracleFailure::PhantomStream { at, host, from } => write!(
                f,
                "at {at} {host} accepted a connection from {from} whose first bytes name no stream a client opened"
            ),
            OracleFailure::LeaseOutsidePool {
                workload,
                host,
                addr,
                pool,
            } => write!(
                f,
                "{workload}: {host} was leased {addr}, outside the server's pool {}-{}",
                pool.0, pool.1
            ),
        }
    }
}

/// What one workload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadReport {
    /// Its name.
    pub name: String,
    /// Its kind: `udp-echo`, `udp-request-response`, `dhcp`, `arp-churn`.
    pub kind: &'static str,
    /// Client applications.
    pub clients: u64,
    /// Client applications that returned.
    pub clients_finished: u64,
    /// Datagrams (or pings) the clients sent, retries included.
    pub sent: u64,
    /// Datagrams (or ping replies) the clients received.
    pub received: u64,
    /// Units of work done: echoes received, requests answered, addresses acquired, pings
    /// answered.
    pub completed: u64,
    /// Units given up on: requests after their last retry, acquisitions or pings timed out.
    pub failed: u64,
    /// Retransmissions.
    pub retries: u64,
    /// Datagrams received that were not the one awaited (late or duplicate replies).
    pub stale: u64,
    /// TCP connections opened (clients' successful connects).
    pub connections: u64,
    /// TCP connections that failed: refused or timed-out connects, resets, timeouts.
    pub errors: u64,
    /// TCP bytes written by both ends of the workload's connections.
    pub bytes_sent: u64,
    /// TCP bytes read by both ends (each byte checked against the one written).
    pub bytes_received: u64,
}

impl WorkloadReport {
    /// A counter by name (`clients`, `clients_finished`, `sent`, `received`, `completed`,
    /// `failed`, `retries`, `stale`, `connections`, `errors`, `bytes_sent`,
    /// `bytes_received`), for expectations written as text.
    pub fn counter(&self, name: &str) -> Option<u64> {
        Some(match name {
            "clients" => self.clients,
            "clients_finished" => self.clients_finished,
            "sent" => self.sent,
            "received" => self.received,
            "completed" => self.completed,
            "failed" => self.failed,
            "retries" => self.retries,
            "stale" => self.stale,
            "connections" => self.connections,
            "errors" => self.errors,
            "bytes_sent" => self.bytes_sent,
            "bytes_received" => self.bytes_received,
            _ => return None,
        })
    }
}

/// Datagrams the workloads sent and received, and how the oracles accounted for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatagramTotals {
    /// Datagrams sent by workload applications.
    pub sent: u64,
    /// Datagrams received by workload applications.
    pub received: u64,
    /// Sent datagrams the oracles held owed (the receiver listened long enough).
    pub owed: u64,
    /// Owed datagrams that never arrived (each explained by a fault, or a failure).
    pub lost: u64,
    /// Lost datagrams matched to a fault on a frame carrying them (a loss, a corruption, a
    /// full queue or NIC ring, an oversized frame, a partition).
    pub lost_to_faults: u64,
    /// Lost datagrams matched to their host: one that never left its sender, which then
    /// crashed or whose stack counted a drop (ARP given up or full, a full transmit queue);
    /// or one the receiver's stack counted dropped (a full socket queue, reassembly limits).
    pub lost_in_hosts: u64,
    /// Extra copies received.
    pub duplicates: u64,
    /// Losses and duplicates excused because the fabric's marks for them may have been
    /// missed ([`crate::MAX_PENDING_MARKS`] and the other bounds of its marks): at most as
    /// many as were missed.
    pub excused_unmarked: u64,
    /// Datagrams that arrived changed, each matched to a datagram of the same sender, port
    /// and length two of whose fragments a fault corrupted: one-bit flips in two frames can
    /// cancel in the UDP checksum (RFC 768's ones' complement sum), which then passes.
    pub corrupted_past_checksum: u64,
}

/// How a TCP connection of a workload failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum StreamError {
    /// The connect was refused (a RST answered the SYN).
    Refused,
    /// The connect got no answer in time.
    ConnectTimeout,
    /// The peer reset the connection.
    Reset,
    /// The stack gave up on the connection (R2, the user timeout).
    TimedOut,
    /// The workload gave up: nothing moved for its idle limit.
    Idle,
    /// The stream ended before what the protocol expected (a FIN where data was owed).
    UnexpectedEnd,
    /// Anything else the stack reported.
    Other,
}

impl StreamError {
    /// Whether only a crash or partition explains it (a RST); otherwise any loss on the path
    /// does.
    fn needs_disruption(self) -> bool {
        matches!(
            self,
            StreamError::Refused
                | StreamError::Reset
                | StreamError::UnexpectedEnd
                | StreamError::Other
        )
    }

    /// From an I/O error of a connection.
    pub(crate) fn from_io(kind: std::io::ErrorKind) -> StreamError {
        use std::io::ErrorKind as K;
        match kind {
            K::ConnectionRefused => StreamError::Refused,
            K::ConnectionReset => StreamError::Reset,
            K::TimedOut => StreamError::TimedOut,
            K::UnexpectedEof => StreamError::UnexpectedEnd,
            _ => StreamError::Other,
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamError::Refused => "connection refused",
            StreamError::ConnectTimeout => "connect timed out",
            StreamError::Reset => "connection reset",
            StreamError::TimedOut => "connection timed out",
            StreamError::Idle => "idle limit reached",
            StreamError::UnexpectedEnd => "unexpected end of stream",
            StreamError::Other => "connection aborted",
        })
    }
}

/// The workloads' TCP streams, over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamTotals {
    /// Connections opened.
    pub streams: u64,
    /// Bytes written by either end.
    pub bytes_sent: u64,
    /// Bytes read by either end.
    pub bytes_received: u64,
    /// Connections that failed (refused, reset, timed out), with connects that failed.
    pub errors: u64,
    /// Directions that ended with every written byte read (the reader saw the FIN).
    pub complete_directions: u64,
}

/// One direction of a stream: what was written and not yet read, how far it was read.
///
/// Only the bytes written and not yet read are kept (compared with what is read, then
/// dropped): at most what the connection's buffers and the path hold, whatever the stream's
/// length. Once the stream is known corrupted nothing more is kept.
#[derive(Debug, Clone, Default)]
struct StreamDir {
    unread: VecDeque<u8>,
    /// Bytes written in all.
    written: u64,
    received: u64,
    /// The first offset where the bytes read differ from those written.
    mismatch: Option<u64>,
    /// The reader saw the end: (bytes read, bytes written) then.
    end: Option<(u64, u64)>,
}

/// One TCP connection of a workload: client to server is direction 0.
#[derive(Debug, Clone)]
struct Stream {
    workload: usize,
    /// [client, server].
    hosts: [HostId; 2],
    opened: Instant,
    attached: bool,
    dirs: [StreamDir; 2],
    /// (side, when, what): side 0 is the client.
    errors: Vec<(usize, Instant, StreamError)>,
}

/// A connect that failed: (workload, client, server, started, when, what).
type ConnectFailure = (usize, HostId, HostId, Instant, Instant, StreamError);

/// A time a host was cut off: crashed (until it restarted) or partitioned (until healed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Disruption {
    pub(crate) host: HostId,
    /// A crash (otherwise a partition).
    pub(crate) crash: bool,
    pub(crate) from: Instant,
    /// `Instant::MAX` when it never ended.
    pub(crate) until: Instant,
}

/// A datagram by its source, destination port and payload digest (what the fabric's marks
/// name too).
type DgKey = DatagramId;

#[derive(Debug, Clone)]
struct SendRec {
    at: Instant,
    src_host: HostId,
    /// `HostId::MAX` when the destination is no known host's address.
    dst_host: HostId,
}

#[derive(Debug, Clone, Default)]
struct DgEntry {
    bytes: Vec<u8>,
    sends: Vec<SendRec>,
    /// (time, host) of each receipt.
    receipts: Vec<(Instant, HostId)>,
    /// When a frame carrying it left the sender's NIC, in order (its sends in order left it
    /// in order; one that never left has none).
    emitted: Vec<Instant>,
    /// The hosts on whose links a fault lost (or corrupted) a frame carrying it.
    lost_on: Vec<HostId>,
    /// The hosts on whose links a fault duplicated a frame carrying it.
    duplicated_on: Vec<HostId>,
    /// Frames carrying it that a fault corrupted (also in `lost_on`).
    corrupted: u32,
}

#[derive(Debug, Clone)]
struct PingRec {
    from: HostId,
    to: HostId,
    ok: bool,
    at: Instant,
}

/// A DHCP client's acquisition.
#[derive(Debug, Clone)]
pub(crate) struct LeaseRec {
    /// The workload's name.
    pub(crate) workload: String,
    pub(crate) host: HostId,
    /// The DHCP server's host.
    pub(crate) server: HostId,
    /// The address acquired; `None`: none in time.
    pub(crate) addr: Option<Ipv4Addr>,
    /// The lease as the client holds it: when the REQUEST that obtained it was first sent
    /// (the server bound the address after that; RFC 2131 §4.4.1) and its duration.
    pub(crate) lease: Option<(Instant, Duration)>,
    /// The server's pool (first, last).
    pub(crate) pool: (Ipv4Addr, Ipv4Addr),
    pub(crate) at: Instant,
}

/// A time a workload listened on a port: from, until (open while `None`).
type Listening = (Instant, Option<Instant>);

/// What the workloads sent and received, kept per run (it lives in the run's shared state).
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Host names, by id.
    pub(crate) host_names: Vec<String>,
    /// Which host holds (or held) each address.
    addr_owner: BTreeMap<Ipv4Addr, HostId>,
    datagrams: BTreeMap<DgKey, DgEntry>,
    /// Open intervals of each (host, port) a workload listened on.
    endpoints: BTreeMap<(HostId, u16), Vec<Listening>>,
    phantoms: Vec<(Instant, HostId, SocketAddrV4, u16, usize)>,
    pings: Vec<PingRec>,
    leases: Vec<LeaseRec>,
    /// Every DHCP grant (binding or renewal) each host's stacks made, oldest first, taken
    /// from a stack when its host crashes and at the end of the run.
    grants: BTreeMap<HostId, Vec<weft_core::DhcpGrant>>,
    pub(crate) app_failures: Vec<OracleFailure>,
    pub(crate) workloads: Vec<WorkloadReport>,
    totals: DatagramTotals,
    streams: Vec<Stream>,
    connect_failures: Vec<ConnectFailure>,
    phantom_streams: Vec<(Instant, HostId, SocketAddrV4)>,
}

impl Ledger {
    pub(crate) fn stats(&mut self, workload: usize) -> Option<&mut WorkloadReport> {
        self.workloads.get_mut(workload)
    }

    /// `host` holds `addr` (static, or leased).
    pub(crate) fn own(&mut self, host: HostId, addr: Ipv4Addr) {
        self.addr_owner.insert(addr, host);
    }

    /// A workload application on `src_host` sent `payload` from `src` to `dst`.
    pub(crate) fn sent(
        &mut self,
        at: Instant,
        src_host: HostId,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: &[u8],
    ) {
        self.totals.sent += 1;
        let dst_host = self
            .addr_owner
            .get(dst.ip())
            .copied()
            .unwrap_or(HostId::MAX);
        let key = DgKey {
            src,
            dst_port: dst.port(),
            digest: fnv(crate::fabric::FNV_OFFSET, payload),
        };
        let e = self.datagrams.entry(key).or_default();
        if e.bytes.is_empty() {
            e.bytes = payload.to_vec();
        }
        e.sends.push(SendRec {
            at,
            src_host,
            dst_host,
        });
    }

    /// A workload application on `host` received `payload` from `from` on `port`.
    pub(crate) fn received(
        &mut self,
        at: Instant,
        host: HostId,
        from: SocketAddrV4,
        port: u16,
        payload: &[u8],
    ) {
        self.totals.received += 1;
        let key = DgKey {
            src: from,
            dst_port: port,
            digest: fnv(crate::fabric::FNV_OFFSET, payload),
        };
        match self.datagrams.get_mut(&key) {
            Some(e) if e.bytes == payload => e.receipts.push((at, host)),
            _ => self.phantoms.push((at, host, from, port, payload.len())),
        }
    }

    /// What the fabric did to frames carrying datagrams ([`crate::marks`]): kept with the
    /// workloads' datagrams, ignored for others (nothing a workload sent).
    pub(crate) fn apply_marks(&mut self, marks: Vec<Mark>) {
        for m in marks {
            let Some(e) = self.datagrams.get_mut(&m.id) else {
                continue;
            };
            match m.kind {
                MarkKind::Emitted => e.emitted.push(m.at),
                MarkKind::Lost => e.lost_on.push(m.host),
                MarkKind::Corrupted => {
                    e.lost_on.push(m.host);
                    e.corrupted += 1;
                }
                MarkKind::Duplicated => e.duplicated_on.push(m.host),
            }
        }
    }

    pub(crate) fn open(&mut self, host: HostId, port: u16, at: Instant) {
        self.endpoints
            .entry((host, port))
            .or_default()
            .push((at, None));
    }

    pub(crate) fn close(&mut self, host: HostId, port: u16, at: Instant) {
        if let Some(v) = self.endpoints.get_mut(&(host, port))
            && let Some(last) = v.last_mut()
            && last.1.is_none()
        {
            last.1 = Some(at);
        }
    }

    /// The host crashed: everything it listened on is closed.
    pub(crate) fn host_down(&mut self, host: HostId, at: Instant) {
        for ((h, _), v) in self.endpoints.iter_mut() {
            if *h == host
                && let Some(last) = v.last_mut()
                && last.1.is_none()
            {
                last.1 = Some(at);
            }
        }
    }

    pub(crate) fn ping(&mut self, at: Instant, from: HostId, to: HostId, ok: bool) {
        self.pings.push(PingRec { from, to, ok, at });
    }

    /// A DHCP client's acquisition (or its failure).
    pub(crate) fn lease(&mut self, lease: LeaseRec) {
        self.leases.push(lease);
    }

    /// `host`'s stack granted these leases (its `Stack::dhcp_grants`, oldest first).
    pub(crate) fn grants(
        &mut self,
        host: HostId,
        grants: impl IntoIterator<Item = weft_core::DhcpGrant>,
    ) {
        self.grants.entry(host).or_default().extend(grants);
    }

    /// A client of `workload` on `client` connected to `server`: the new stream's id.
    pub(crate) fn stream_open(
        &mut self,
        workload: usize,
        client: HostId,
        server: HostId,
        at: Instant,
    ) -> u64 {
        self.streams.push(Stream {
            workload,
            hosts: [client, server],
            opened: at,
            attached: false,
            dirs: [StreamDir::default(), StreamDir::default()],
            errors: Vec::new(),
        });
        if let Some(w) = self.workloads.get_mut(workload) {
            w.connections += 1;
        }
        self.streams.len() as u64 - 1
    }

    /// A server on `host` accepted the connection whose header names stream `id`: false
    /// when no client opened such a stream, or another connection claimed it already.
    pub(crate) fn stream_attach(
        &mut self,
        id: u64,
        host: HostId,
        from: SocketAddrV4,
        at: Instant,
    ) -> bool {
        let s = usize::try_from(id)
            .ok()
            .and_then(|i| self.streams.get_mut(i));
        match s {
            Some(s) if !s.attached && s.hosts[1] == host => {
                s.attached = true;
                true
            }
            _ => {
                self.phantom_streams.push((at, host, from));
                false
            }
        }
    }

    fn stream_mut(&mut self, id: u64) -> Option<&mut Stream> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.streams.get_mut(i))
    }

    /// `bytes` were written on stream `id` in direction `dir` (0: client to server).
    pub(crate) fn stream_sent(&mut self, id: u64, dir: usize, bytes: &[u8]) {
        let Some(s) = self.stream_mut(id) else { return };
        let w = s.workload;
        if let Some(d) = s.dirs.get_mut(dir) {
            d.written += bytes.len() as u64;
            if d.mismatch.is_none() {
                d.unread.extend(bytes);
            }
        }
        if let Some(r) = self.workloads.get_mut(w) {
            r.bytes_sent += bytes.len() as u64;
        }
    }

    /// `bytes` were read on stream `id` in direction `dir`: compared with those written.
    pub(crate) fn stream_received(&mut self, id: u64, dir: usize, bytes: &[u8]) {
        let Some(s) = self.stream_mut(id) else { return };
        let w = s.workload;
        if let Some(d) = s.dirs.get_mut(dir) {
            if d.mismatch.is_none() {
                // The bytes at these offsets as written: the front of `unread`.
                let differs = d
                    .unread
                    .iter()
                    .zip(bytes)
                    .position(|(a, b)| a != b)
                    .or((bytes.len() > d.unread.len()).then_some(d.unread.len()));
                match differs {
                    Some(i) => {
                        d.mismatch = Some(d.received + i as u64);
                        d.unread = VecDeque::new();
                    }
                    None => {
                        let n = bytes.len().min(d.unread.len());
                        d.unread.drain(..n);
                    }
                }
            }
            d.received += bytes.len() as u64;
        }
        if let Some(r) = self.workloads.get_mut(w) {
            r.bytes_received += bytes.len() as u64;
        }
    }

    /// The reader of direction `dir` of stream `id` saw its end (the peer's FIN).
    pub(crate) fn stream_end(&mut self, id: u64, dir: usize) {
        let Some(s) = self.stream_mut(id) else { return };
        if let Some(d) = s.dirs.get_mut(dir)
            && d.end.is_none()
        {
            d.end = Some((d.received, d.written));
        }
    }

    /// Side `side` (0: client) of stream `id` saw `error`.
    pub(crate) fn stream_error(&mut self, id: u64, side: usize, at: Instant, error: StreamError) {
        let Some(s) = self.stream_mut(id) else { return };
        let w = s.workload;
        s.errors.push((side, at, error));
        if let Some(r) = self.workloads.get_mut(w) {
            r.errors += 1;
        }
    }

    /// A client's connect that started at `started` failed at `at`.
    pub(crate) fn connect_failed(
        &mut self,
        workload: usize,
        client: HostId,
        server: HostId,
        started: Instant,
        at: Instant,
        error: StreamError,
    ) {
        self.connect_failures
            .push((workload, client, server, started, at, error));
        if let Some(r) = self.workloads.get_mut(workload) {
            r.errors += 1;
        }
    }

    fn open_through(&self, host: HostId, port: u16, from: Instant, to: Instant) -> bool {
        self.endpoints.get(&(host, port)).is_some_and(|v| {
            v.iter()
                .any(|(o, c)| *o <= from && c.is_none_or(|c| c >= to))
        })
    }
}

/// Which hosts' paths saw faults (per host: anything on its links, its crashes, its
/// stack's own drops).
#[derive(Debug, Clone, Default)]
pub(crate) struct PathFaults {
    pub(crate) names: Vec<String>,
    /// Loss-causing faults touched the host.
    pub(crate) lossy: Vec<bool>,
    /// Datagrams each host's stack counted dropped on their way out (ARP given up or its
    /// queue full, the transmit queue full), over all its lives, and those it still held
    /// when the run ended (resolving their next hop, queued).
    pub(crate) tx_drops: Vec<u64>,
    /// Datagrams each host's stack counted dropped on their way in (a full socket queue,
    /// reassembly limits or timeouts), over all its lives.
    pub(crate) rx_drops: Vec<u64>,
    /// The fabric's datagram marks missed past their bounds.
    pub(crate) marks_missed: u64,
    /// Frames lost on each host's links (loss, corruption, full queue or NIC ring,
    /// oversized, partition) plus the drops its stack counted: what may explain its failed
    /// pings and acquisitions, which are not matched frame by frame.
    pub(crate) drops: Vec<u64>,
    /// Whether each host crashed.
    pub(crate) crashed: Vec<bool>,
    /// How long each host's stack may hold a datagram it does not send at once (resolving
    /// its next hop) before it sends or drops it.
    pub(crate) max_hold: Vec<Duration>,
}

impl PathFaults {
    fn name(&self, h: HostId) -> String {
        self.names.get(h).cloned().unwrap_or_default()
    }
    fn lossy(&self, a: HostId, b: HostId) -> bool {
        self.lossy.get(a).copied().unwrap_or(true) || self.lossy.get(b).copied().unwrap_or(true)
    }
    /// How many failed exchanges between `a` and `b` their paths' drops can explain: all
    /// when either crashed, otherwise the frames lost on their links and the drops their
    /// stacks counted.
    fn allowance(&self, a: HostId, b: HostId) -> u64 {
        let crashed = |h: HostId| self.crashed.get(h).copied().unwrap_or(true);
        if crashed(a) || crashed(b) {
            return u64::MAX;
        }
        let drops = |h: HostId| self.drops.get(h).copied().unwrap_or(u64::MAX);
        drops(a).saturating_add(drops(b))
    }
}

/// True when `host` was cut off (crashed or partitioned) at some time in `from..=to`.
fn disrupted(disruptions: &[Disruption], host: HostId, from: Instant, to: Instant) -> bool {
    disruptions
        .iter()
        .any(|d| d.host == host && d.from <= to && d.until >= from)
}

/// Judges the workloads' TCP streams (integrity, errors accounted to faults).
fn judge_streams(
    ledger: &Ledger,
    paths: &PathFaults,
    disruptions: &[Disruption],
    out: &mut Vec<OracleFailure>,
) -> StreamTotals {
    let mut t = StreamTotals::default();
    let workload = |w: usize| {
        ledger
            .workloads
            .get(w)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    };
    // An error is explained by a crash or partition of either host between `from` and
    // `at`, or, unless it needs one (a RST), by any loss on the path.
    let explained = |e: StreamError, a: HostId, b: HostId, from: Instant, at: Instant| {
        disrupted(disruptions, a, from, at)
            || disrupted(disruptions, b, from, at)
            || (!e.needs_disruption() && paths.lossy(a, b))
    };
    for (at, host, from) in &ledger.phantom_streams {
        out.push(OracleFailure::PhantomStream {
            at: *at,
            host: paths.name(*host),
            from: *from,
        });
    }
    for s in &ledger.streams {
        t.streams += 1;
        for (dir, d) in s.dirs.iter().enumerate() {
            let (from, to) = if dir == 0 {
                (s.hosts[0], s.hosts[1])
            } else {
                (s.hosts[1], s.hosts[0])
            };
            t.bytes_sent += d.written;
            t.bytes_received += d.received;
            if let Some(offset) = d.mismatch {
                out.push(OracleFailure::StreamCorrupted {
                    workload: workload(s.workload),
                    from_host: paths.name(from),
                    to_host: paths.name(to),
                    offset,
                });
            }
            match d.end {
                Some((received, sent)) if received != sent && d.mismatch.is_none() => {
                    out.push(OracleFailure::StreamTruncated {
                        workload: workload(s.workload),
                        from_host: paths.name(from),
                        to_host: paths.name(to),
                        received,
                        sent,
                    });
                }
                Some(_) => t.complete_directions += 1,
                None => {}
            }
        }
        // In time order: a workload aborts a connection (a RST) only after it recorded an
        // error on it, so a reset of one end that follows an explained error of the other
        // end is explained by it.
        let mut errors = s.errors.clone();
        errors.sort_by_key(|(_, at, _)| *at);
        let mut aborted_by: [Option<Instant>; 2] = [None, None];
        for (side, at, e) in &errors {
            t.errors += 1;
            let (me, peer) = if *side == 0 {
                (s.hosts[0], s.hosts[1])
            } else {
                (s.hosts[1], s.hosts[0])
            };
            let other = 1 - (*side).min(1);
            let after_abort = *e == StreamError::Reset
                && aborted_by
                    .get(other)
                    .copied()
                    .flatten()
                    .is_some_and(|a| a <= *at);
            let ok = after_abort || explained(*e, me, peer, s.opened, *at);
            if ok && let Some(slot) = aborted_by.get_mut(*side) {
                slot.get_or_insert(*at);
            }
            if !ok {
                out.push(OracleFailure::UnaccountedStreamError {
                    workload: workload(s.workload),
                    host: paths.name(me),
                    peer: paths.name(peer),
                    error: *e,
                    at: *at,
                });
            }
        }
    }
    for (w, client, server, started, at, e) in &ledger.connect_failures {
        t.errors += 1;
        if !explained(*e, *client, *server, *started, *at) {
            out.push(OracleFailure::UnaccountedStreamError {
                workload: workload(*w),
                host: paths.name(*client),
                peer: paths.name(*server),
                error: *e,
                at: *at,
            });
        }
    }
    t
}

/// Counts one more under `key`, with `example` the first time.
fn tally<K: Ord>(map: &mut BTreeMap<K, (u64, String)>, key: K, example: impl FnOnce() -> String) {
    map.entry(key).or_insert_with(|| (0, example())).0 += 1;
}

/// Excuses one loss or duplicate with a mark the fabric missed, if any is left.
fn excuse_unmarked(missed: &mut u64, totals: &mut DatagramTotals) -> bool {
    if *missed == 0 {
        return false;
    }
    *missed -= 1;
    totals.excused_unmarked += 1;
    true
}

/// Judges a run's ledger: integrity, loss, duplicates, streams and the workloads' own checks.
pub(crate) fn judge(
    ledger: &Ledger,
    paths: &PathFaults,
    disruptions: &[Disruption],
    settle: Duration,
    end: Instant,
    out: &mut Vec<OracleFailure>,
) -> (DatagramTotals, StreamTotals) {
    let streams = judge_streams(ledger, paths, disruptions, out);
    let mut totals = ledger.totals;
    // A datagram that arrived changed is a phantom unless two corrupted fragments of one
    // sent to that host and port, from that sender and as long, explain it; each pair of
    // corruptions explains one.
    let mut cancel_pool: BTreeMap<&DgKey, u32> = ledger
        .datagrams
        .iter()
        .filter(|(_, e)| e.corrupted >= 2)
        .map(|(k, e)| (k, e.corrupted / 2))
        .collect();
    for (at, host, from, port, len) in &ledger.phantoms {
        let explained = cancel_pool.iter_mut().find(|(k, n)| {
            **n > 0
                && k.src == *from
                && k.dst_port == *port
                && ledger.datagrams.get(**k).is_some_and(|e| {
                    e.bytes.len() == *len && e.sends.iter().any(|s| s.dst_host == *host)
                })
        });
        if let Some((_, n)) = explained {
            *n -= 1;
            totals.corrupted_past_checksum += 1;
            continue;
        }
        out.push(OracleFailure::Phantom {
            at: *at,
            host: paths.name(*host),
            from: *from,
            port: *port,
            len: *len,
        });
    }
    // (kind, from, to) -> (count, example)
    let mut lost: BTreeMap<(&'static str, HostId, HostId), (u64, String)> = BTreeMap::new();
    let mut dups: BTreeMap<(HostId, HostId), (u64, String)> = BTreeMap::new();
    let mut misdelivered = 0usize;
    // Drops the stacks counted, and marks the fabric missed: each excuses one loss (or
    // duplicate) that no mark explains, and is used up by it.
    let mut tx_pool = paths.tx_drops.clone();
    let mut rx_pool = paths.rx_drops.clone();
    let mut missed_pool = paths.marks_missed;
    let take = |pool: &mut Vec<u64>, h: HostId| match pool.get_mut(h) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    };
    for (key, e) in &ledger.datagrams {
        let Some(first) = e.sends.first() else {
            continue;
        };
        let describe = |what: &str| {
            format!(
                "{} bytes {} -> port {} digest {:016x} sent at {}{what}",
                e.bytes.len(),
                key.src,
                key.dst_port,
                key.digest,
                first.at
            )
        };
        for (at, h) in &e.receipts {
            if !e.sends.iter().any(|s| s.dst_host == *h) && misdelivered < 16 {
                misdelivered += 1;
                out.push(OracleFailure::Misdelivered {
                    at: *at,
                    host: paths.name(*h),
                    sent_to: paths.name(first.dst_host),
                    from: key.src,
                    port: key.dst_port,
                });
            }
        }
        // Marks count only on the links of the datagram's own hosts (a frame flooded to a
        // third host and lost there is not its loss), or naming no host (a frame no host
        // took for its addresses, [`crate::marks::Delivery`]).
        let ours = |h: &&HostId| {
            **h == HostId::MAX || **h == first.src_host || e.sends.iter().any(|s| s.dst_host == **h)
        };
        let marked_lost = e.lost_on.iter().filter(ours).count() as u64;
        let marked_dups = e.duplicated_on.iter().filter(ours).count() as u64;
        // A send is owed when its receiver listened from the send until `settle` after a
        // frame carrying it left the sender (a stack may hold a datagram back while it
        // resolves the next hop), or after the send if none did.
        let mut owed_left = 0u64;
        let mut stuck: Vec<&SendRec> = Vec::new();
        for (i, s) in e.sends.iter().enumerate() {
            let left = e.emitted.get(i).copied();
            let by = left.unwrap_or(s.at).max(s.at).saturating_add(settle);
            if by > end || !ledger.open_through(s.dst_host, key.dst_port, s.at, by) {
                continue;
            }
            match left {
                Some(_) => owed_left += 1,
                None => stuck.push(s),
            }
        }
        let owed = owed_left + stuck.len() as u64;
        totals.owed += owed;
        // Receipts where it was sent (one elsewhere is misdelivered, and no delivery).
        let recv = e
            .receipts
            .iter()
            .filter(|(_, h)| e.sends.iter().any(|s| s.dst_host == *h))
            .count() as u64;
        let missing = owed.saturating_sub(recv);
        totals.lost += missing;
        // Those that never left the sender cannot have arrived: each needs the sender's
        // crash while it held it, or a drop its stack counted.
        let stuck_lost = missing.min(stuck.len() as u64);
        for s in stuck.iter().take(stuck_lost as usize) {
            // A crash loses what the stack held: one while it could still hold this one.
            let held_until = paths.max_hold.get(s.src_host).map_or(Instant::MAX, |h| {
                s.at.saturating_add(*h).saturating_add(settle)
            });
            let crashed = disruptions
                .iter()
                .any(|d| d.crash && d.host == s.src_host && d.from >= s.at && d.from <= held_until);
            if crashed || take(&mut tx_pool, s.src_host) {
                totals.lost_in_hosts += 1;
            } else if !excuse_unmarked(&mut missed_pool, &mut totals) {
                tally(&mut lost, ("datagram", s.src_host, s.dst_host), || {
                    describe(", never left the sender")
                });
            }
        }
        // Those that left: each needs a fault on a frame carrying it, or a drop the
        // receiver's stack counted.
        let left_lost = missing - stuck_lost;
        let by_faults = left_lost.min(marked_lost);
        totals.lost_to_faults += by_faults;
        for _ in by_faults..left_lost {
            if take(&mut rx_pool, first.dst_host) {
                totals.lost_in_hosts += 1;
            } else if !excuse_unmarked(&mut missed_pool, &mut totals) {
                tally(
                    &mut lost,
                    ("datagram", first.src_host, first.dst_host),
                    || describe(", with no fault on its frames"),
                );
            }
        }
        // Each copy beyond the sends needs a duplication fault on a frame carrying it.
        let extra = recv.saturating_sub(e.sends.len() as u64);
        totals.duplicates += extra;
        for _ in marked_dups.min(extra)..extra {
            if !excuse_unmarked(&mut missed_pool, &mut totals) {
                tally(&mut dups, (first.src_host, first.dst_host), || describe(""));
            }
        }
    }
    // Pings and acquisitions are not matched frame by frame (an ICMP exchange or a DHCP
    // one is several frames, ARP's among them): those that failed between two hosts may not
    // outnumber the frames lost on their links and the drops their stacks counted.
    let mut failed: BTreeMap<(&'static str, HostId, HostId), (u64, String)> = BTreeMap::new();
    for p in ledger.pings.iter().filter(|p| !p.ok) {
        tally(&mut failed, ("ping", p.from, p.to), || {
            format!("ping sent at {}", p.at)
        });
    }
    for l in ledger.leases.iter().filter(|l| l.addr.is_none()) {
        tally(&mut failed, ("dhcp", l.server, l.host), || {
            format!("no address by {}", l.at)
        });
    }
    for ((what, from, to), (count, example)) in failed {
        let allowed = paths.allowance(from, to);
        if count > allowed {
            lost.insert((what, from, to), (count - allowed, example));
        }
    }
    // Leases: inside the pool, and no address held by two hosts of a workload.
    let mut by_addr: BTreeMap<(&str, Ipv4Addr), Vec<&LeaseRec>> = BTreeMap::new();
    for l in &ledger.leases {
        let Some(addr) = l.addr else { continue };
        let (first, last) = l.pool;
        if !(u32::from(first)..=u32::from(last)).contains(&u32::from(addr)) {
            out.push(OracleFailure::LeaseOutsidePool {
                workload: l.workload.clone(),
                host: paths.name(l.host),
                addr,
                pool: l.pool,
            });
        }
        by_addr
            .entry((l.workload.as_str(), addr))
            .or_default()
            .push(l);
    }
    for ((workload, addr), mut holders) in by_addr {
        // In the order the clients asked; a lease without its details counts from when it
        // was recorded and never lapses.
        let asked = |l: &LeaseRec| l.lease.map_or(l.at, |(t, _)| t);
        holders.sort_by_key(|l| asked(l));
        for (i, l) in holders.iter().enumerate() {
            let Some(prev) = holders
                .get(..i)
                .and_then(|h| h.iter().rev().find(|p| p.host != l.host))
            else {
                continue;
            };
            // A server that keeps its bindings never leases one address twice (RFC 2131
            // §4.3.1), and the clients' conflict probes (RFC 5227 §2.1) would refuse it.
            // Excused: the server crashed after `prev` asked (it may have lost that binding)
            // and before `l` had its answer; or `prev`'s lease ran out before `l` asked (its
            // holder crashed or was cut off and did not renew, or gave it up). The lease runs
            // to the end of the last grant of the address to `prev`'s host (interface 0, the
            // one a DHCP workload leases on) made before `l` asked — its binding or a renewal
            // (RFC 2131 §4.4.5), or sooner if the client lost, declined or released it — else,
            // with no grant recorded, to the end of the first.
            let forgot = disruptions
                .iter()
                .any(|d| d.crash && d.host == l.server && d.from >= asked(prev) && d.from <= l.at);
            // (A history its stack had to cut short — more than `DHCP_GRANTS_KEPT` grants in
            // one life — keeps its newest grants: when none of them precedes `l`'s asking,
            // the first grant's end is used, as before grants were kept.)
            let renewed_until = ledger.grants.get(&prev.host).and_then(|gs| {
                gs.iter()
                    .filter(|g| {
                        g.iface == IfaceId(0) && g.addr == addr && g.acquired_at <= asked(l)
                    })
                    .map(weft_core::DhcpGrant::until)
                    .max()
            });
            let lapsed = match renewed_until {
                Some(end) => end <= asked(l),
                None => prev.lease.is_some_and(|(t, len)| {
                    len != Duration::MAX && t.saturating_add(len) <= asked(l)
                }),
            };
            if !forgot && !lapsed {
                out.push(OracleFailure::DuplicateAddress {
                    workload: workload.to_string(),
                    addr,
                    hosts: [paths.name(prev.host), paths.name(l.host)],
                });
            }
        }
    }
    for ((what, from, to), (count, example)) in lost {
        out.push(OracleFailure::UnaccountedLoss {
            what,
            from_host: paths.name(from),
            to_host: paths.name(to),
            count,
            example,
        });
    }
    for ((from, to), (count, example)) in dups {
        out.push(OracleFailure::UnaccountedDuplicate {
            from_host: paths.name(from),
            to_host: paths.name(to),
            count,
            example,
        });
    }
    out.extend(ledger.app_failures.iter().cloned());
    (totals, streams)
}

/// Bugs planted on purpose so that tests can prove each oracle catches what it is for.
/// Compiled only with the `planted-bugs` feature; off unless a test plants one with
/// [`crate::SimBuilder::plant`].
#[cfg(feature = "planted-bugs")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlantedBug {
    /// The fabric loses the `nth` (from 0) UDP frame a NIC emits and records nothing: no
    /// counter, no tape entry (the loss oracle must catch it).
    SilentDrop {
        /// Which UDP frame.
        nth: u64,
    },
    /// The NIC swallows the `nth` UDP frame its stack hands it, before it reaches the wire,
    /// and records nothing: the datagram never left its sender, and no drop is counted (the
    /// loss oracle; a crash of the sender long after must not excuse it).
    SwallowBeforeWire {
        /// Which UDP frame.
        nth: u64,
    },
    /// The fabric loses the `nth` ICMP frame a NIC emits and records nothing (the loss
    /// oracle's count of failed pings per path).
    SilentIcmpDrop {
        /// Which ICMP frame.
        nth: u64,
    },
    /// The fabric delivers the `nth` UDP frame twice without a duplication fault (the
    /// duplicate oracle).
    SilentDuplicate {
        /// Which UDP frame.
        nth: u64,
    },
    /// After the monitor, the fabric flips a payload bit of the `nth` UDP frame and fixes
    /// its checksum, as a broken checksum offload would, recording no fault (integrity).
    CorruptAfterMonitor {
        /// Which UDP frame.
        nth: u64,
    },
    /// The NIC emits the `nth` IPv4 frame with a broken header checksum (the monitor).
    BadIpv4Checksum {
        /// Which IPv4 frame.
        nth: u64,
    },
    /// Scheduled heals do nothing: partitions last for ever (liveness).
    IgnoreHeal,
    /// Every other run in this process delays the `nth` frame a NIC emits by 1 ns
    /// (determinism mode).
    Nondeterminism {
        /// Which frame.
        nth: u64,
    },
    /// The first client of the first request/response workload, once it has retried a
    /// request, takes any datagram from the server as the reply: it fails only when a loss
    /// and then a duplicate hit its flow (shrinking).
    AcceptStaleAfterRetry,
    /// The first client of the first TCP request/response workload waits only `wait` for
    /// a response, then gives up on it and records the request as unanswered (an
    /// application failure): with a 200 ms minimum RTO it fails only when one segment is
    /// lost twice in a row (shrinking).
    TcpImpatientClient {
        /// How long it waits.
        wait: weft_core::Duration,
    },
    /// The NIC breaks the `nth` TCP segment's checksum (the monitor's `tcp.checksum`).
    TcpBadChecksum {
        /// Which TCP segment.
        nth: u64,
    },
    /// The NIC sets the `nth` TCP segment's data offset to 4 words (`tcp.header`).
    TcpBadHeader {
        /// Which TCP segment.
        nth: u64,
    },
    /// The NIC moves the ACK number of the `nth` segment carrying an ACK 16 MiB ahead,
    /// acknowledging data never sent (`tcp.ack`).
    TcpAckUnsent {
        /// Which segment with ACK.
        nth: u64,
    },
    /// The NIC moves the `nth` data segment 16 MiB ahead in sequence space, beyond the
    /// window (`tcp.window`).
    TcpBeyondWindow {
        /// Which data segment.
        nth: u64,
    },
    /// After the monitor, every SYN's MSS option is raised to 1460: the peer sends
    /// segments larger than the MSS the host announced (`tcp.mss`).
    TcpMssInflated,
    /// The NIC sets FIN on the `nth` data segment: more data follows the FIN, and the real
    /// FIN comes at another place (`tcp.fin`).
    TcpEarlyFin {
        /// Which data segment.
        nth: u64,
    },
    /// After the monitor, the fabric flips a payload bit of the `nth` TCP data segment and
    /// fixes its checksum, recording no fault (the stream oracle's integrity check).
    TcpCorruptAfterMonitor {
        /// Which data segment.
        nth: u64,
    },
    /// After the monitor, the fabric turns the `nth` TCP data segment into a RST with the
    /// same (acceptable) sequence number, recording no fault: the receiver's connection is
    /// reset with no crash or partition to explain it (the stream oracle's error check).
    TcpResetAfterMonitor {
        /// Which data segment.
        nth: u64,
    },
    /// The NIC moves the `nth` RST's sequence number 1 GiB ahead (`tcp.rst`).
    TcpRstSeq {
        /// Which RST.
        nth: u64,
    },
    /// After the monitor, the fabric readdresses the `nth` UDP frame a NIC emits to `to` and
    /// broadcasts it (checksums fixed, no fault recorded), as a broken forwarding table
    /// would: the host holding `to` receives a datagram sent to another (integrity:
    /// misdelivered).
    Misdeliver {
        /// Which UDP frame.
        nth: u64,
        /// Where it goes instead.
        to: Ipv4Addr,
    },
    /// The first connection of the first TCP workload's first client names, in its header,
    /// a stream no client opened, as a stack mixing up its connections' data would: its
    /// server accepts a phantom stream (integrity).
    TcpForeignStream,
    /// The first DHCP workload's server tells every client the first address of its pool,
    /// whatever it chose (and maps the clients' requests back): without a crash that lost
    /// its bindings, two hosts then hold one address once a conflict probe goes unanswered
    /// (the application check's duplicate address).
    DhcpSameAddress,
    /// The first DHCP workload's server tells each client the address it chose moved past
    /// the end of its pool by the pool's size (and maps the clients' requests back): the
    /// clients hold addresses outside the pool (the application check).
    DhcpOutsidePool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(from: u64, n: usize) -> Vec<u8> {
        (from..from + n as u64)
            .map(|i| (i * 7 + i / 251) as u8)
            .collect()
    }

    #[test]
    fn stream_ledger_keeps_only_unread_bytes_and_finds_the_first_wrong_one() {
        let mut l = Ledger::default();
        let id = l.stream_open(0, 0, 1, Instant::ZERO);
        // 64 MiB through one direction, written 16 KiB and read 10 KiB at a time: the ledger
        // never holds more than what was written and not yet read.
        let (mut written, mut read) = (0u64, 0u64);
        let mut most = 0;
        while read < 64 << 20 {
            if written - read < 64 << 10 {
                l.stream_sent(id, 0, &bytes(written, 16 << 10));
                written += 16 << 10;
            }
            let n = (10 << 10).min(written - read) as usize;
            l.stream_received(id, 0, &bytes(read, n));
            read += n as u64;
            let d = &l.streams[0].dirs[0];
            most = most.max(d.unread.len());
            assert_eq!(d.unread.len() as u64, written - read);
        }
        assert!(most <= 80 << 10, "{most}");
        assert_eq!(l.streams[0].dirs[0].mismatch, None);
        // A wrong byte is reported at its offset, and nothing more is kept after it.
        l.stream_sent(id, 0, &bytes(written, 100));
        let mut wrong = bytes(read, (written - read) as usize + 100);
        let at = wrong.len() - 30;
        wrong[at] ^= 1;
        l.stream_received(id, 0, &wrong);
        let d = &l.streams[0].dirs[0];
        assert_eq!(d.mismatch, Some(read + at as u64));
        assert!(d.unread.is_empty());
        l.stream_sent(id, 0, &bytes(0, 1000));
        assert!(l.streams[0].dirs[0].unread.is_empty());
        assert_eq!(l.streams[0].dirs[0].written, written + 1100);
    }
}
