//! Oracles that judge every run, and the ledger the workloads keep for them.
//!
//! - **Datagram integrity** ([`Oracle::Integrity`]): every datagram an application received
//!   is one that was sent — the same bytes, from the same address and port, to that port on
//!   that host. A datagram nobody sent is corruption that got past the checksums.
//! - **Loss accounting** ([`Oracle::Loss`]): a datagram (or ping, or DHCP acquisition) that
//!   was owed and never arrived must be explained by a fault on its path: a drop, corruption,
//!   a partition, a full queue, an oversized frame, a crash of either end, or a drop the
//!   stack itself counted (ARP resolution given up, a full receive queue). A path is the
//!   links of its two hosts, both directions (ARP replies travel back). A datagram is owed
//!   when its receiver was listening from the moment it was sent until `settle` later
//!   ([`OracleConfig::settle`], by default derived from the links) and the run lasted that
//!   long.
//! - **Duplicates** ([`Oracle::Duplicate`]): an application receives a datagram more often
//!   than it was sent only when a duplication fault fired on the path.
//! - **The sender-side monitor** ([`Oracle::Monitor`], [`crate::monitor`]).
//! - **Liveness** ([`Oracle::Liveness`]): once faults stop — the last fault fired, every
//!   partition healed, every crashed host restarted — applications given
//!   [`OracleConfig::liveness_grace`] must finish.
//! - **Application checks** ([`Oracle::Application`]): what the workloads check themselves
//!   (a reply that is not the answer to its request, two hosts leased one address).

use crate::executor::HostId;
use crate::fabric::fnv;
use core::fmt;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use weft_core::{Duration, Instant};

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
    /// Two hosts were leased the same address with no fault on their paths to the server.
    DuplicateAddress {
        /// The workload.
        workload: String,
        /// The address.
        addr: Ipv4Addr,
        /// The hosts.
        hosts: [String; 2],
    },
}

impl OracleFailure {
    /// The oracle that found it.
    pub fn oracle(&self) -> Oracle {
        match self {
            OracleFailure::Phantom { .. } | OracleFailure::Misdelivered { .. } => Oracle::Integrity,
            OracleFailure::UnaccountedLoss { .. } => Oracle::Loss,
            OracleFailure::UnaccountedDuplicate { .. } => Oracle::Duplicate,
            OracleFailure::Monitor { .. } => Oracle::Monitor,
            OracleFailure::Liveness { .. } => Oracle::Liveness,
            OracleFailure::WrongReply { .. } | OracleFailure::DuplicateAddress { .. } => {
                Oracle::Application
            }
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
}

impl WorkloadReport {
    /// A counter by name (`clients`, `clients_finished`, `sent`, `received`, `completed`,
    /// `failed`, `retries`, `stale`), for expectations written as text.
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
    /// Extra copies received.
    pub duplicates: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DgKey {
    src: SocketAddrV4,
    dst_port: u16,
    digest: u64,
}

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
}

#[derive(Debug, Clone)]
struct PingRec {
    from: HostId,
    to: HostId,
    ok: bool,
    at: Instant,
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
    /// (workload, host, server host, acquired address or None on timeout, time).
    leases: Vec<(usize, HostId, HostId, Option<Ipv4Addr>, Instant)>,
    pub(crate) app_failures: Vec<OracleFailure>,
    pub(crate) workloads: Vec<WorkloadReport>,
    totals: DatagramTotals,
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

    pub(crate) fn lease(
        &mut self,
        workload: usize,
        host: HostId,
        server: HostId,
        addr: Option<Ipv4Addr>,
        at: Instant,
    ) {
        self.leases.push((workload, host, server, addr, at));
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
    /// Duplication faults touched the host.
    pub(crate) duplicating: Vec<bool>,
}

impl PathFaults {
    fn name(&self, h: HostId) -> String {
        self.names.get(h).cloned().unwrap_or_default()
    }
    fn lossy(&self, a: HostId, b: HostId) -> bool {
        self.lossy.get(a).copied().unwrap_or(true) || self.lossy.get(b).copied().unwrap_or(true)
    }
    fn duplicating(&self, a: HostId, b: HostId) -> bool {
        self.duplicating.get(a).copied().unwrap_or(true)
            || self.duplicating.get(b).copied().unwrap_or(true)
    }
}

/// Judges a run's ledger: integrity, loss, duplicates and the workloads' own checks.
pub(crate) fn judge(
    ledger: &Ledger,
    paths: &PathFaults,
    settle: Duration,
    end: Instant,
    out: &mut Vec<OracleFailure>,
) -> DatagramTotals {
    let mut totals = ledger.totals;
    for (at, host, from, port, len) in &ledger.phantoms {
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
    for (key, e) in &ledger.datagrams {
        let Some(first) = e.sends.first() else {
            continue;
        };
        let describe = || {
            format!(
                "{} bytes {} -> port {} digest {:016x} sent at {}",
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
        let owed: Vec<&SendRec> = e
            .sends
            .iter()
            .filter(|s| {
                let by = s.at.saturating_add(settle);
                by <= end && ledger.open_through(s.dst_host, key.dst_port, s.at, by)
            })
            .collect();
        totals.owed += owed.len() as u64;
        let recv = e.receipts.len();
        if let Some(s) = owed.first()
            && owed.len() > recv
        {
            let n = (owed.len() - recv) as u64;
            totals.lost += n;
            if !paths.lossy(s.src_host, s.dst_host) {
                let slot = lost
                    .entry(("datagram", s.src_host, s.dst_host))
                    .or_insert_with(|| (0, describe()));
                slot.0 += n;
            }
        }
        if recv > e.sends.len() {
            let n = (recv - e.sends.len()) as u64;
            totals.duplicates += n;
            if !paths.duplicating(first.src_host, first.dst_host) {
                let slot = dups
                    .entry((first.src_host, first.dst_host))
                    .or_insert_with(|| (0, describe()));
                slot.0 += n;
            }
        }
    }
    for p in ledger.pings.iter().filter(|p| !p.ok) {
        if !paths.lossy(p.from, p.to) {
            let slot = lost
                .entry(("ping", p.from, p.to))
                .or_insert_with(|| (0, format!("ping sent at {}", p.at)));
            slot.0 += 1;
        }
    }
    for (_, host, server, addr, at) in &ledger.leases {
        if addr.is_none() && !paths.lossy(*host, *server) {
            let slot = lost
                .entry(("dhcp", *server, *host))
                .or_insert_with(|| (0, format!("no address by {at}")));
            slot.0 += 1;
        }
    }
    // Two hosts holding one address.
    let mut holders: BTreeMap<(usize, Ipv4Addr), (HostId, HostId)> = BTreeMap::new();
    for (w, host, server, addr, _) in &ledger.leases {
        let Some(addr) = addr else { continue };
        match holders.get(&(*w, *addr)) {
            None => {
                holders.insert((*w, *addr), (*host, *server));
            }
            Some((other, _)) if other == host => {}
            Some((other, _)) => {
                if !paths.lossy(*host, *server) && !paths.lossy(*other, *server) {
                    let workload = ledger
                        .workloads
                        .get(*w)
                        .map(|r| r.name.clone())
                        .unwrap_or_default();
                    out.push(OracleFailure::DuplicateAddress {
                        workload,
                        addr: *addr,
                        hosts: [paths.name(*other), paths.name(*host)],
                    });
                }
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
    totals
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
}
