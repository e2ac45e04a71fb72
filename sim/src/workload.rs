//! Workloads: ready-made applications installed on named hosts of a simulation, which record
//! what they send and receive in the run's ledger so that the oracles can judge the run.
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use weft_sim::{HostConfig, Sim, UdpRequestResponse};
//!
//! let mut b = Sim::builder().switch("lan");
//! for (i, name) in ["server", "a", "b", "c"].iter().enumerate() {
//!     b = b.idle_host(name, HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 1 + i as u8), 24));
//! }
//! let report = b
//!     .workload(UdpRequestResponse {
//!         server: "server".into(),
//!         clients: vec!["a".into(), "b".into(), "c".into()],
//!         requests_per_client: 400,
//!         ..UdpRequestResponse::default()
//!     })
//!     .run(1)
//!     .expect("valid simulation");
//! assert!(report.ok(), "{}", report.summary());
//! ```
//!
//! Every workload uses interface 0 of its hosts. Servers are daemons (they serve for as long
//! as their host runs and are not expected to finish); clients finish, and the run ends when
//! every client application has. Payloads come from `net.rng("workload/<name>/<host>")`, so a
//! seed sends the same bytes every time, and a smaller workload sends a prefix of a larger
//! one's (which keeps a fault tape aimed at the same frames while shrinking).

pub(crate) mod tcp;

pub use tcp::{TcpBulk, TcpEcho, TcpRequestResponse};

use crate::executor::HostId;
use crate::oracle::{LeaseRec, Ledger, OracleFailure};
use crate::sim::SimNet;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;
use rand_core::RngCore;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use weft_core::dhcp::server::{DhcpServer, DhcpServerConfig};
use weft_core::{Duration, IfaceId, Instant};
use weft_net::{Net, UdpNet, UdpSocket};

/// A UDP echo workload: each client sends `datagrams_per_client` datagrams of `size` bytes,
/// one every `interval` without waiting, to an echo server on `server`:`port`, receiving the
/// echoes as they come; it finishes when every echo came back or `linger` after its last send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpEcho {
    /// Name in reports (default: `udp-echo<index>`).
    pub name: String,
    /// The host running the echo server.
    pub server: String,
    /// Its port.
    pub port: u16,
    /// Client hosts.
    pub clients: Vec<String>,
    /// Datagrams each client sends.
    pub datagrams_per_client: u32,
    /// Payload bytes.
    pub size: usize,
    /// Time between a client's sends.
    pub interval: Duration,
    /// How long a client waits for outstanding echoes after its last send.
    pub linger: Duration,
    /// Delay before the clients start.
    pub start: Duration,
}

impl Default for UdpEcho {
    fn default() -> Self {
        UdpEcho {
            name: String::new(),
            server: String::new(),
            port: 7,
            clients: Vec::new(),
            datagrams_per_client: 100,
            size: 64,
            interval: Duration::from_millis(1),
            linger: Duration::from_millis(500),
            start: Duration::ZERO,
        }
    }
}

/// A UDP request/response workload: each client sends `requests_per_client` requests of
/// `size` bytes to a responder on `server`:`port`, one at a time, waiting `timeout` for each
/// response and sending it again up to `retries` times. The response to a request is
/// `response_size` bytes derived from it ([`response_to`]), so a client can tell its answer
/// from a late or duplicated one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpRequestResponse {
    /// Name in reports (default: `udp-request-response<index>`).
    pub name: String,
    /// The host running the responder.
    pub server: String,
    /// Its port.
    pub port: u16,
    /// Client hosts.
    pub clients: Vec<String>,
    /// Requests each client sends.
    pub requests_per_client: u32,
    /// Request payload bytes.
    pub size: usize,
    /// Response payload bytes.
    pub response_size: usize,
    /// How long a client waits for a response before sending the request again.
    pub timeout: Duration,
    /// Retransmissions per request before the client gives up on it.
    pub retries: u32,
    /// Delay before the clients start.
    pub start: Duration,
}

impl Default for UdpRequestResponse {
    fn default() -> Self {
        UdpRequestResponse {
            name: String::new(),
            server: String::new(),
            port: 7007,
            clients: Vec::new(),
            requests_per_client: 100,
            size: 64,
            response_size: 64,
            timeout: Duration::from_millis(50),
            retries: 8,
            start: Duration::ZERO,
        }
    }
}

/// DHCP acquisition: `server` (a host with a static address) runs the project's DHCP server
/// ([`DhcpServer`]) on UDP port 67; each client (a host configured with
/// [`crate::HostConfig::dhcp`]) waits up to `timeout` for an address, then uses it for
/// `requests_after` request/response exchanges with a responder on `server`:`port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpAcquisition {
    /// Name in reports (default: `dhcp<index>`).
    pub name: String,
    /// The DHCP server's host.
    pub server: String,
    /// Client hosts (DHCP-configured).
    pub clients: Vec<String>,
    /// First pool address (default: the server's subnet + 100).
    pub pool_start: Option<Ipv4Addr>,
    /// Last pool address (default: pool start + 99, within the subnet).
    pub pool_end: Option<Ipv4Addr>,
    /// Lease seconds.
    pub lease_secs: u32,
    /// How long a client waits for its address.
    pub timeout: Duration,
    /// Request/response exchanges each client does with its new address.
    pub requests_after: u32,
    /// The responder's port on the server.
    pub port: u16,
    /// Request and response bytes.
    pub size: usize,
    /// Time to wait for a response, and retransmissions.
    pub request_timeout: Duration,
    /// Retransmissions per request.
    pub retries: u32,
}

impl Default for DhcpAcquisition {
    fn default() -> Self {
        DhcpAcquisition {
            name: String::new(),
            server: String::new(),
            clients: Vec::new(),
            pool_start: None,
            pool_end: None,
            lease_secs: 3600,
            timeout: Duration::from_secs(60),
            requests_after: 10,
            port: 7008,
            size: 32,
            request_timeout: Duration::from_millis(100),
            retries: 8,
        }
    }
}

/// ARP churn: each host pings every target in turn, `rounds` times, `gap` apart. With a
/// small ARP cache and a short entry lifetime on the hosts ([`ArpChurn::limits`]) entries
/// are evicted, expire and are resolved again all the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpChurn {
    /// Name in reports (default: `arp-churn<index>`).
    pub name: String,
    /// The pinging hosts.
    pub hosts: Vec<String>,
    /// Hosts pinged (static addresses); empty: every host of `hosts`, except oneself.
    pub targets: Vec<String>,
    /// Rounds over the targets.
    pub rounds: u32,
    /// Pause between rounds.
    pub gap: Duration,
    /// How long a ping waits for its reply.
    pub timeout: Duration,
}

impl Default for ArpChurn {
    fn default() -> Self {
        ArpChurn {
            name: String::new(),
            hosts: Vec::new(),
            targets: Vec::new(),
            rounds: 4,
            gap: Duration::from_millis(1500),
            timeout: Duration::from_millis(500),
        }
    }
}

impl ArpChurn {
    /// Stack limits that make ARP churn: a 2-entry cache whose entries live one second.
    pub fn limits() -> weft_core::Limits {
        weft_core::Limits {
            arp_cache_entries: 2,
            arp_entry_lifetime: Duration::from_secs(1),
            ..weft_core::Limits::default()
        }
    }
}

/// A workload (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Workload {
    /// [`UdpEcho`].
    UdpEcho(UdpEcho),
    /// [`UdpRequestResponse`].
    UdpRequestResponse(UdpRequestResponse),
    /// [`DhcpAcquisition`].
    Dhcp(DhcpAcquisition),
    /// [`ArpChurn`].
    ArpChurn(ArpChurn),
    /// [`TcpEcho`] (with [`TcpEcho::concurrent`]: many concurrent connections).
    TcpEcho(TcpEcho),
    /// [`TcpBulk`].
    TcpBulk(TcpBulk),
    /// [`TcpRequestResponse`].
    TcpRequestResponse(TcpRequestResponse),
}

impl From<UdpEcho> for Workload {
    fn from(w: UdpEcho) -> Self {
        Workload::UdpEcho(w)
    }
}
impl From<UdpRequestResponse> for Workload {
    fn from(w: UdpRequestResponse) -> Self {
        Workload::UdpRequestResponse(w)
    }
}
impl From<DhcpAcquisition> for Workload {
    fn from(w: DhcpAcquisition) -> Self {
        Workload::Dhcp(w)
    }
}
impl From<ArpChurn> for Workload {
    fn from(w: ArpChurn) -> Self {
        Workload::ArpChurn(w)
    }
}
impl From<TcpEcho> for Workload {
    fn from(w: TcpEcho) -> Self {
        Workload::TcpEcho(w)
    }
}
impl From<TcpBulk> for Workload {
    fn from(w: TcpBulk) -> Self {
        Workload::TcpBulk(w)
    }
}
impl From<TcpRequestResponse> for Workload {
    fn from(w: TcpRequestResponse) -> Self {
        Workload::TcpRequestResponse(w)
    }
}

fn halve(n: u32) -> Option<u32> {
    (n > 1).then_some(n / 2)
}

impl Workload {
    /// The kind: `udp-echo`, `udp-request-response`, `dhcp`, `arp-churn`, `tcp-echo`,
    /// `tcp-connections` (a concurrent [`TcpEcho`]), `tcp-bulk`, `tcp-request-response`.
    pub fn kind(&self) -> &'static str {
        match self {
            Workload::UdpEcho(_) => "udp-echo",
            Workload::UdpRequestResponse(_) => "udp-request-response",
            Workload::Dhcp(_) => "dhcp",
            Workload::ArpChurn(_) => "arp-churn",
            Workload::TcpEcho(w) if w.concurrent => "tcp-connections",
            Workload::TcpEcho(_) => "tcp-echo",
            Workload::TcpBulk(_) => "tcp-bulk",
            Workload::TcpRequestResponse(_) => "tcp-request-response",
        }
    }

    /// The name given (may be empty until added to a builder, which names it).
    pub fn name(&self) -> &str {
        match self {
            Workload::UdpEcho(w) => &w.name,
            Workload::UdpRequestResponse(w) => &w.name,
            Workload::Dhcp(w) => &w.name,
            Workload::ArpChurn(w) => &w.name,
            Workload::TcpEcho(w) => &w.name,
            Workload::TcpBulk(w) => &w.name,
            Workload::TcpRequestResponse(w) => &w.name,
        }
    }

    pub(crate) fn set_name(&mut self, name: String) {
        match self {
            Workload::UdpEcho(w) => w.name = name,
            Workload::UdpRequestResponse(w) => w.name = name,
            Workload::Dhcp(w) => w.name = name,
            Workload::ArpChurn(w) => w.name = name,
            Workload::TcpEcho(w) => w.name = name,
            Workload::TcpBulk(w) => w.name = name,
            Workload::TcpRequestResponse(w) => w.name = name,
        }
    }

    /// Client hosts (the pinging hosts of ARP churn).
    pub fn clients(&self) -> &[String] {
        match self {
            Workload::UdpEcho(w) => &w.clients,
            Workload::UdpRequestResponse(w) => &w.clients,
            Workload::Dhcp(w) => &w.clients,
            Workload::ArpChurn(w) => &w.hosts,
            Workload::TcpEcho(w) => &w.clients,
            Workload::TcpBulk(w) => &w.clients,
            Workload::TcpRequestResponse(w) => &w.clients,
        }
    }

    /// Datagrams (pings for ARP churn; messages, transfers or requests for TCP) the clients
    /// send when nothing is lost, not counting the servers' answers.
    pub fn planned(&self) -> u64 {
        let c = self.clients().len() as u64;
        match self {
            Workload::UdpEcho(w) => c * u64::from(w.datagrams_per_client),
            Workload::UdpRequestResponse(w) => c * u64::from(w.requests_per_client),
            Workload::Dhcp(w) => c * u64::from(w.requests_after),
            Workload::ArpChurn(w) => {
                let t = if w.targets.is_empty() {
                    c.saturating_sub(1)
                } else {
                    w.targets.len() as u64
                };
                c * t * u64::from(w.rounds)
            }
            Workload::TcpEcho(w) => c * u64::from(w.connections) * u64::from(w.messages),
            Workload::TcpBulk(_) => c,
            Workload::TcpRequestResponse(w) => c * u64::from(w.requests),
        }
    }

    /// Smaller versions of this workload, most reduced first (shrinking tries them): the
    /// per-client count halved, the last client dropped.
    pub fn smaller(&self) -> Vec<Workload> {
        let mut out = Vec::new();
        match self {
            Workload::UdpEcho(w) => {
                if let Some(n) = halve(w.datagrams_per_client) {
                    out.push(Workload::UdpEcho(UdpEcho {
                        datagrams_per_client: n,
                        ..w.clone()
                    }));
                }
                if w.clients.len() > 1 {
                    let mut s = w.clone();
                    s.clients.pop();
                    out.push(Workload::UdpEcho(s));
                }
            }
            Workload::UdpRequestResponse(w) => {
                if let Some(n) = halve(w.requests_per_client) {
                    out.push(Workload::UdpRequestResponse(UdpRequestResponse {
                        requests_per_client: n,
                        ..w.clone()
                    }));
                }
                if w.clients.len() > 1 {
                    let mut s = w.clone();
                    s.clients.pop();
                    out.push(Workload::UdpRequestResponse(s));
                }
            }
            Workload::Dhcp(w) => {
                if let Some(n) = halve(w.requests_after) {
                    out.push(Workload::Dhcp(DhcpAcquisition {
                        requests_after: n,
                        ..w.clone()
                    }));
                }
                if w.clients.len() > 1 {
                    let mut s = w.clone();
                    s.clients.pop();
                    out.push(Workload::Dhcp(s));
                }
            }
            Workload::ArpChurn(w) => {
                if let Some(n) = halve(w.rounds) {
                    out.push(Workload::ArpChurn(ArpChurn {
                        rounds: n,
                        ..w.clone()
                    }));
                }
                if w.hosts.len() > 2 {
                    let mut s = w.clone();
                    s.hosts.pop();
                    out.push(Workload::ArpChurn(s));
                }
            }
            Workload::TcpEcho(w) => {
                if let Some(n) = halve(w.messages) {
                    out.push(Workload::TcpEcho(TcpEcho {
                        messages: n,
                        ..w.clone()
                    }));
                }
                if let Some(n) = halve(w.connections) {
                    out.push(Workload::TcpEcho(TcpEcho {
                        connections: n,
                        ..w.clone()
                    }));
                }
                if w.clients.len() > 1 {
                    let mut s = w.clone();
                    s.clients.pop();
                    out.push(Workload::TcpEcho(s));
                }
            }
            Workload::TcpBulk(w) => {
                if w.upload > 1 || w.download > 1 {
                    out.push(Workload::TcpBulk(TcpBulk {
                        upload: w.upload / 2,
                        download: w.download / 2,
                        ..w.clone()
                    }));
                }
                if w.clients.len() > 1 {
                    let mut s = w.clone();
                    s.clients.pop();
                    out.push(Workload::TcpBulk(s));
                }
            }
            Workload::TcpRequestResponse(w) => {
                if let Some(n) = halve(w.requests) {
                    out.push(Workload::TcpRequestResponse(TcpRequestResponse {
                        requests: n,
                        ..w.clone()
                    }));
                }
                if w.clients.len() > 1 {
                    let mut s = w.clone();
                    s.clients.pop();
                    out.push(Workload::TcpRequestResponse(s));
                }
            }
        }
        out
    }
}

/// The response a request/response server sends for `request`: `size` bytes of FNV-1a
/// digests chained from the request's bytes.
pub fn response_to(request: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 8);
    let mut h = crate::fabric::fnv(crate::fabric::FNV_OFFSET, request);
    while out.len() < size {
        out.extend_from_slice(&h.to_le_bytes());
        h = crate::fabric::fnv(h, &[0x5a]);
    }
    out.truncate(size);
    out
}

/// A UDP service a workload runs on a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Echo,
    Respond {
        size: usize,
    },
    Dhcp,
    /// The TCP server of every TCP workload ([`tcp`]).
    Tcp,
}

impl Service {
    fn answer(&self, p: &[u8]) -> Vec<u8> {
        match self {
            Service::Echo | Service::Dhcp | Service::Tcp => p.to_vec(),
            Service::Respond { size } => response_to(p, *size),
        }
    }
}

/// What installing workloads needs to know about the hosts.
pub(crate) struct HostInfo {
    pub(crate) name: String,
    /// Interface 0's static address and prefix, if it has one.
    pub(crate) static_addr: Option<(Ipv4Addr, u8)>,
}

/// An application a workload puts on a host.
pub(crate) struct Install {
    pub(crate) host: HostId,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    pub(crate) app: Rc<dyn Fn(SimNet) -> weft_net::runtime::Task>,
}

/// Why workloads cannot be installed (the message of [`crate::SimError::Workload`]).
pub(crate) type InstallError = (String, String);

pub(crate) fn ledger(net: &SimNet) -> &RefCell<Ledger> {
    &net.runtime().shared.ledger
}

pub(crate) fn host_of(net: &SimNet) -> HostId {
    net.runtime().host
}

pub(crate) fn own_addr(net: &SimNet) -> Ipv4Addr {
    net.address(IfaceId(0))
        .map_or(Ipv4Addr::UNSPECIFIED, |(a, _)| a)
}

fn stats(net: &SimNet, w: usize, f: impl FnOnce(&mut crate::oracle::WorkloadReport)) {
    if let Some(s) = ledger(net).borrow_mut().stats(w) {
        f(s);
    }
}

/// Runs `fut` until `deadline`: `None` when the deadline came first.
async fn until<T>(net: &SimNet, deadline: Instant, fut: impl Future<Output = T>) -> Option<T> {
    let mut fut = pin!(fut);
    let mut sleep = pin!(net.sleep_until(deadline));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

fn payload(rng: &mut impl RngCore, size: usize) -> Vec<u8> {
    let mut p = vec![0u8; size];
    rng.fill_bytes(&mut p);
    p
}

/// Sends one datagram and records it.
async fn send(
    net: &SimNet,
    sock: &<SimNet as UdpNet>::UdpSocket,
    p: &[u8],
    to: SocketAddrV4,
) -> bool {
    if sock.send_to(p, to).await.is_err() {
        return false;
    }
    let src = SocketAddrV4::new(own_addr(net), sock.local_addr().port());
    ledger(net)
        .borrow_mut()
        .sent(net.now(), host_of(net), src, to, p);
    true
}

/// A UDP server: answers every datagram on `port` as `service` says, recording both.
async fn serve(net: SimNet, port: u16, service: Service) {
    let h = host_of(&net);
    let Ok(sock) = net
        .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .await
    else {
        return;
    };
    ledger(&net).borrow_mut().open(h, port, net.now());
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) if e.is_transient() => continue,
            Err(_) => break,
        };
        let p = buf.get(..n).unwrap_or_default();
        ledger(&net)
            .borrow_mut()
            .received(net.now(), h, from, port, p);
        let answer = service.answer(p);
        send(&net, &sock, &answer, from).await;
    }
    ledger(&net).borrow_mut().close(h, port, net.now());
}

/// The project's DHCP server on port 67 of `net` (with `lie` planted, if any).
async fn dhcp_server(net: SimNet, config: DhcpServerConfig, lie: Option<DhcpLie>) {
    let mut liar = lie.map(|lie| Liar {
        lie,
        pool: (config.pool_start, config.pool_end),
        told: BTreeMap::new(),
    });
    let Ok(mut server) = DhcpServer::new(config) else {
        return;
    };
    let Ok(sock) = net
        .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67))
        .await
    else {
        return;
    };
    let mut buf = vec![0u8; 2048];
    loop {
        let n = match sock.recv_from(&mut buf).await {
            Ok((n, _)) => n,
            Err(e) if e.is_transient() => continue,
            Err(_) => break,
        };
        let bytes = buf.get(..n).unwrap_or_default();
        let Ok(pkt) = weft_wire::dhcp::DhcpPacket::new_checked(bytes) else {
            continue;
        };
        let Ok(mut repr) = weft_wire::dhcp::DhcpRepr::parse(&pkt) else {
            continue;
        };
        if let Some(l) = &liar {
            l.incoming(&mut repr);
        }
        let Some(mut reply) = server.handle(net.now(), &repr) else {
            continue;
        };
        if let Some(l) = &mut liar {
            l.outgoing(&mut reply);
        }
        let mut out = vec![0u8; reply.message.buffer_len()];
        let Ok(len) = reply.message.emit(&mut out) else {
            continue;
        };
        out.truncate(len);
        // A unicast to a client without an address would need its MAC without ARP, which a
        // UDP socket cannot do; broadcast reaches it as well (RFC 2131 §4.1 allows either).
        let dst = if reply.dst_mac.is_some() {
            Ipv4Addr::BROADCAST
        } else {
            reply.dst
        };
        let _ = sock
            .send_to(&out, SocketAddrV4::new(dst, reply.dst_port))
            .await;
    }
}

/// How a request/response client behaves.
#[derive(Debug, Clone)]
struct ReqResp {
    workload: usize,
    name: String,
    server: SocketAddrV4,
    requests: u32,
    size: usize,
    response_size: usize,
    timeout: Duration,
    retries: u32,
    /// Planted bug: after a retry, take any datagram from the server as the answer.
    accept_stale: bool,
    /// Whether answered and abandoned requests count as the workload's units of work.
    units: bool,
}

/// Request/response exchanges from `net`; returns when all are answered or given up.
async fn request_response(net: &SimNet, c: &ReqResp, purpose: &str) {
    let h = host_of(net);
    let Ok(sock) = net
        .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
        .await
    else {
        return;
    };
    let port = sock.local_addr().port();
    ledger(net).borrow_mut().open(h, port, net.now());
    let mut rng = net.rng(purpose);
    let mut buf = vec![0u8; c.response_size.max(c.size) + 1024];
    let mut retried = false;
    for i in 0..c.requests {
        let req = payload(&mut rng, c.size);
        let want = response_to(&req, c.response_size);
        let mut answered = false;
        let mut attempts = 0u32;
        while !answered && attempts <= c.retries {
            if attempts > 0 {
                retried = true;
                stats(net, c.workload, |s| s.retries += 1);
            }
            attempts += 1;
            if send(net, &sock, &req, c.server).await {
                stats(net, c.workload, |s| s.sent += 1);
            }
            let deadline = net.now().saturating_add(c.timeout);
            loop {
                match until(net, deadline, sock.recv_from(&mut buf)).await {
                    Some(Ok((n, from))) => {
                        let p = buf.get(..n).unwrap_or_default();
                        ledger(net)
                            .borrow_mut()
                            .received(net.now(), h, from, port, p);
                        stats(net, c.workload, |s| s.received += 1);
                        let right = from == c.server && p == want.as_slice();
                        if right || (c.accept_stale && retried && from == c.server) {
                            answered = true;
                            if !right {
                                let host = net_name(net);
                                ledger(net).borrow_mut().app_failures.push(
                                    OracleFailure::WrongReply {
                                        workload: c.name.clone(),
                                        host,
                                        request: i,
                                    },
                                );
                            }
                            break;
                        }
                        stats(net, c.workload, |s| s.stale += 1);
                    }
                    // An ICMP error about an earlier datagram (a server rebooting).
                    Some(Err(e)) if e.is_transient() => continue,
                    Some(Err(_)) | None => break,
                }
            }
        }
        if c.units {
            stats(net, c.workload, |s| {
                if answered {
                    s.completed += 1;
                } else {
                    s.failed += 1;
                }
            });
        }
    }
    ledger(net).borrow_mut().close(h, port, net.now());
}

fn net_name(net: &SimNet) -> String {
    let h = host_of(net);
    ledger(net)
        .borrow()
        .host_names
        .get(h)
        .cloned()
        .unwrap_or_default()
}

/// The open-loop echo client.
async fn echo_client(net: SimNet, w: usize, cfg: Rc<UdpEcho>, server: SocketAddrV4) {
    net.sleep(cfg.start).await;
    let h = host_of(&net);
    let Ok(sock) = net
        .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
        .await
    else {
        return;
    };
    let port = sock.local_addr().port();
    ledger(&net).borrow_mut().open(h, port, net.now());
    let mut rng = net.rng(&format!("workload/{}/{}", cfg.name, net_name(&net)));
    let mut outstanding: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    let mut buf = vec![0u8; cfg.size + 1024];
    let mut sent = 0u32;
    let mut next = net.now();
    let mut last = net.now();
    loop {
        if sent < cfg.datagrams_per_client && net.now() >= next {
            let p = payload(&mut rng, cfg.size);
            if send(&net, &sock, &p, server).await {
                stats(&net, w, |s| s.sent += 1);
                *outstanding.entry(p).or_insert(0) += 1;
            }
            sent += 1;
            last = net.now();
            next = last.saturating_add(cfg.interval);
            continue;
        }
        if sent >= cfg.datagrams_per_client && outstanding.is_empty() {
            break;
        }
        let deadline = if sent < cfg.datagrams_per_client {
            next
        } else {
            last.saturating_add(cfg.linger)
        };
        if net.now() >= deadline && sent >= cfg.datagrams_per_client {
            break;
        }
        match until(&net, deadline, sock.recv_from(&mut buf)).await {
            Some(Ok((n, from))) => {
                let p = buf.get(..n).unwrap_or_default();
                ledger(&net)
                    .borrow_mut()
                    .received(net.now(), h, from, port, p);
                let matched = from == server
                    && outstanding.get_mut(p).is_some_and(|c| {
                        *c -= 1;
                        true
                    });
                if matched {
                    if outstanding.get(p) == Some(&0) {
                        outstanding.remove(p);
                    }
                    stats(&net, w, |s| {
                        s.received += 1;
                        s.completed += 1;
                    });
                } else {
                    stats(&net, w, |s| {
                        s.received += 1;
                        s.stale += 1;
                    });
                }
            }
            Some(Err(e)) if e.is_transient() => {}
            Some(Err(_)) => break,
            None => {}
        }
    }
    let missing: u32 = outstanding.values().sum();
    stats(&net, w, |s| s.failed += u64::from(missing));
    ledger(&net).borrow_mut().close(h, port, net.now());
}

fn finished(net: &SimNet, w: usize) {
    stats(net, w, |s| s.clients_finished += 1);
}

fn find(hosts: &[HostInfo], name: &str, workload: &str) -> Result<HostId, InstallError> {
    hosts.iter().position(|h| h.name == name).ok_or_else(|| {
        (
            workload.to_string(),
            format!("`{name}` is not a host of the simulation"),
        )
    })
}

fn static_addr(
    hosts: &[HostInfo],
    h: HostId,
    workload: &str,
) -> Result<(Ipv4Addr, u8), InstallError> {
    let host = hosts.get(h);
    host.and_then(|x| x.static_addr).ok_or_else(|| {
        (
            workload.to_string(),
            format!(
                "`{}` needs a static address on interface 0",
                host.map(|x| x.name.as_str()).unwrap_or_default()
            ),
        )
    })
}

fn prefix_mask(prefix: u8) -> Ipv4Addr {
    let bits = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    Ipv4Addr::from(bits)
}

/// Planted bugs the workloads carry (test builds plant them; otherwise all off).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WorkloadBugs {
    /// The first client of the first UDP request/response workload accepts stale replies.
    pub(crate) accept_stale: bool,
    /// The first client of the first TCP request/response workload waits this long for a
    /// response and then gives up on it.
    pub(crate) impatient: Option<Duration>,
    /// The first connection of the first TCP workload names a stream no client opened.
    pub(crate) foreign_stream: bool,
    /// The first DHCP workload's server lies about the addresses it leases.
    pub(crate) dhcp_lie: Option<DhcpLie>,
}

/// A planted DHCP server bug: what it tells a client instead of the address it chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "planted-bugs"), allow(dead_code))]
pub(crate) enum DhcpLie {
    /// The first address of the pool, to every client.
    SameAddress,
    /// The address chosen, moved past the end of the pool by the pool's size.
    OutsidePool,
}

/// A DHCP server planting a [`DhcpLie`]: it rewrites the addresses it offers and
/// acknowledges, and maps each client's requests for the address it was told back to the
/// one the server chose (so the server's own state stays consistent).
#[derive(Debug)]
struct Liar {
    lie: DhcpLie,
    pool: (Ipv4Addr, Ipv4Addr),
    /// Per client MAC: (chosen, told). Planted in tests only: as many as clients.
    told: BTreeMap<weft_wire::MacAddr, (Ipv4Addr, Ipv4Addr)>,
}

impl Liar {
    fn tell(&self, chosen: Ipv4Addr) -> Ipv4Addr {
        match self.lie {
            DhcpLie::SameAddress => self.pool.0,
            DhcpLie::OutsidePool => {
                let size = u32::from(self.pool.1)
                    .saturating_sub(u32::from(self.pool.0))
                    .saturating_add(1);
                Ipv4Addr::from(u32::from(chosen).saturating_add(size))
            }
        }
    }

    fn incoming(&self, repr: &mut weft_wire::dhcp::DhcpRepr<'_>) {
        if let Some((chosen, told)) = self.told.get(&repr.client_hardware_address) {
            if repr.requested_ip == Some(*told) {
                repr.requested_ip = Some(*chosen);
            }
            if repr.client_ip == *told {
                repr.client_ip = *chosen;
            }
        }
    }

    fn outgoing(&mut self, reply: &mut weft_core::dhcp::server::Reply) {
        let chosen = reply.message.your_ip;
        if chosen.is_unspecified() {
            return;
        }
        let told = self.tell(chosen);
        self.told
            .insert(reply.message.client_hardware_address, (chosen, told));
        reply.message.your_ip = told;
        if reply.dst == chosen {
            reply.dst = told;
        }
    }
}

/// Turns workloads into applications on hosts, with `bugs` planted.
pub(crate) fn install(
    workloads: &[Workload],
    hosts: &[HostInfo],
    bugs: WorkloadBugs,
) -> Result<(Vec<Install>, Vec<crate::oracle::WorkloadReport>), InstallError> {
    let accept_stale = bugs.accept_stale;
    let mut impatient_planted = false;
    let mut foreign_planted = false;
    let mut lie_planted = false;
    let mut apps = Vec::new();
    let mut reports = Vec::new();
    // TCP and UDP ports are apart: the key says which (true: TCP).
    let mut services: BTreeMap<(HostId, u16, bool), Service> = BTreeMap::new();
    let mut add_service = |host: HostId, port: u16, s: Service, wname: &str| {
        let key = (host, port, s == Service::Tcp);
        match services.get(&key) {
            Some(existing) if *existing != s => Err((
                wname.to_string(),
                format!(
                    "port {port} of `{}` already runs a different service",
                    hosts.get(host).map(|h| h.name.as_str()).unwrap_or_default()
                ),
            )),
            Some(_) => Ok(false),
            None => {
                services.insert(key, s);
                Ok(true)
            }
        }
    };
    let mut stale_planted = false;
    for (wi, w) in workloads.iter().enumerate() {
        let name = w.name().to_string();
        reports.push(crate::oracle::WorkloadReport {
            name: name.clone(),
            kind: w.kind(),
            clients: w.clients().len() as u64,
            ..Default::default()
        });
        match w {
            Workload::UdpEcho(cfg) => {
                let s = find(hosts, &cfg.server, &name)?;
                let (ip, _) = static_addr(hosts, s, &name)?;
                if add_service(s, cfg.port, Service::Echo, &name)? {
                    let port = cfg.port;
                    apps.push(Install {
                        host: s,
                        name: format!("{name}/echo-server"),
                        daemon: true,
                        app: Rc::new(move |net| Box::pin(serve(net, port, Service::Echo))),
                    });
                }
                let server = SocketAddrV4::new(ip, cfg.port);
                let cfg = Rc::new(cfg.clone());
                for c in &cfg.clients {
                    let h = find(hosts, c, &name)?;
                    let cfg = cfg.clone();
                    apps.push(Install {
                        host: h,
                        name: format!("{name}/client"),
                        daemon: false,
                        app: Rc::new(move |net| {
                            let cfg = cfg.clone();
                            Box::pin(async move {
                                echo_client(net.clone(), wi, cfg, server).await;
                                finished(&net, wi);
                            })
                        }),
                    });
                }
            }
            Workload::UdpRequestResponse(cfg) => {
                let s = find(hosts, &cfg.server, &name)?;
                let (ip, _) = static_addr(hosts, s, &name)?;
                let service = Service::Respond {
                    size: cfg.response_size,
                };
                if add_service(s, cfg.port, service, &name)? {
                    let port = cfg.port;
                    apps.push(Install {
                        host: s,
                        name: format!("{name}/responder"),
                        daemon: true,
                        app: Rc::new(move |net| Box::pin(serve(net, port, service))),
                    });
                }
                for (ci, c) in cfg.clients.iter().enumerate() {
                    let h = find(hosts, c, &name)?;
                    let rr = Rc::new(ReqResp {
                        workload: wi,
                        name: name.clone(),
                        server: SocketAddrV4::new(ip, cfg.port),
                        requests: cfg.requests_per_client,
                        size: cfg.size,
                        response_size: cfg.response_size,
                        timeout: cfg.timeout,
                        retries: cfg.retries,
                        accept_stale: accept_stale && !stale_planted && ci == 0,
                        units: true,
                    });
                    let start = cfg.start;
                    apps.push(Install {
                        host: h,
                        name: format!("{name}/client"),
                        daemon: false,
                        app: Rc::new(move |net| {
                            let rr = rr.clone();
                            Box::pin(async move {
                                net.sleep(start).await;
                                let purpose = format!("workload/{}/{}", rr.name, net_name(&net));
                                request_response(&net, &rr, &purpose).await;
                                finished(&net, wi);
                            })
                        }),
                    });
                }
                stale_planted |= accept_stale;
            }
            Workload::Dhcp(cfg) => {
                let s = find(hosts, &cfg.server, &name)?;
                let (ip, prefix) = static_addr(hosts, s, &name)?;
                let mask = prefix_mask(prefix);
                let net_base = u32::from(ip) & u32::from(mask);
                let start = cfg
                    .pool_start
                    .unwrap_or_else(|| Ipv4Addr::from(net_base.wrapping_add(100)));
                let broadcast = net_base | !u32::from(mask);
                let end = cfg.pool_end.unwrap_or_else(|| {
                    Ipv4Addr::from(
                        u32::from(start)
                            .saturating_add(99)
                            .min(broadcast.saturating_sub(1)),
                    )
                });
                let mut dc = DhcpServerConfig::new(ip, start, end, mask);
                dc.lease_time = cfg.lease_secs;
                if let Err(e) = DhcpServer::new(dc.clone()) {
                    return Err((name, e.to_string()));
                }
                if add_service(s, 67, Service::Dhcp, &name)? {
                    let lie = bugs.dhcp_lie.filter(|_| !lie_planted);
                    lie_planted = true;
                    apps.push(Install {
                        host: s,
                        name: format!("{name}/dhcp-server"),
                        daemon: true,
                        app: Rc::new(move |net| Box::pin(dhcp_server(net, dc.clone(), lie))),
                    });
                }
                let service = Service::Respond { size: cfg.size };
                if cfg.requests_after > 0 && add_service(s, cfg.port, service, &name)? {
                    let port = cfg.port;
                    apps.push(Install {
                        host: s,
                        name: format!("{name}/responder"),
                        daemon: true,
                        app: Rc::new(move |net| Box::pin(serve(net, port, service))),
                    });
                }
                for c in &cfg.clients {
                    let h = find(hosts, c, &name)?;
                    if hosts.get(h).is_some_and(|x| x.static_addr.is_some()) {
                        return Err((
                            name,
                            format!(
                                "client `{c}` has a static address; DHCP clients need HostConfig::dhcp"
                            ),
                        ));
                    }
                    let rr = Rc::new(ReqResp {
                        workload: wi,
                        name: name.clone(),
                        server: SocketAddrV4::new(ip, cfg.port),
                        requests: cfg.requests_after,
                        size: cfg.size,
                        response_size: cfg.size,
                        timeout: cfg.request_timeout,
                        retries: cfg.retries,
                        accept_stale: false,
                        units: false,
                    });
                    let timeout = cfg.timeout;
                    apps.push(Install {
                        host: h,
                        name: format!("{name}/client"),
                        daemon: false,
                        app: Rc::new(move |net| {
                            let rr = rr.clone();
                            Box::pin(async move {
                                let h = host_of(&net);
                                let got = net.wait_address(IfaceId(0), timeout).await;
                                let addr = got.ok().map(|(a, _)| a);
                                let lease = net
                                    .dhcp_lease(IfaceId(0))
                                    .map(|l| (l.acquired_at, l.lease_time));
                                {
                                    let mut l = ledger(&net).borrow_mut();
                                    l.lease(LeaseRec {
                                        workload: rr.name.clone(),
                                        host: h,
                                        server: s,
                                        addr,
                                        lease: lease.filter(|_| addr.is_some()),
                                        pool: (start, end),
                                        at: net.now(),
                                    });
                                    if let Some(a) = addr {
                                        l.own(h, a);
                                    }
                                }
                                stats(&net, wi, |st| {
                                    if addr.is_some() {
                                        st.completed += 1;
                                    } else {
                                        st.failed += 1;
                                    }
                                });
                                if addr.is_some() && rr.requests > 0 {
                                    let purpose =
                                        format!("workload/{}/{}", rr.name, net_name(&net));
                                    request_response(&net, &rr, &purpose).await;
                                }
                                finished(&net, wi);
                            })
                        }),
                    });
                }
            }
            Workload::TcpEcho(_) | Workload::TcpBulk(_) | Workload::TcpRequestResponse(_) => {
                let (server, port, clients, start, idle, attempts, job) = match w {
                    Workload::TcpEcho(c) => (
                        &c.server,
                        c.port,
                        &c.clients,
                        c.start,
                        c.idle_timeout,
                        c.attempts,
                        tcp::Job::Echo {
                            connections: c.connections,
                            concurrent: c.concurrent,
                            messages: c.messages,
                            size: c.size,
                            interval: c.interval,
                        },
                    ),
                    Workload::TcpBulk(c) => (
                        &c.server,
                        c.port,
                        &c.clients,
                        c.start,
                        c.idle_timeout,
                        c.attempts,
                        tcp::Job::Bulk {
                            upload: c.upload,
                            download: c.download,
                            chunk: c.chunk,
                            interval: c.interval,
                        },
                    ),
                    Workload::TcpRequestResponse(c) => (
                        &c.server,
                        c.port,
                        &c.clients,
                        c.start,
                        c.idle_timeout,
                        c.attempts,
                        tcp::Job::Request {
                            requests: c.requests,
                            size: c.size,
                            response_size: c.response_size,
                            interval: c.interval,
                        },
                    ),
                    _ => continue,
                };
                if let tcp::Job::Bulk { download, .. } = job
                    && download > u64::from(u32::MAX)
                {
                    return Err((
                        name,
                        format!("download {download}: at most {} bytes", u32::MAX),
                    ));
                }
                if attempts == 0 {
                    return Err((name, "attempts must be at least 1".to_string()));
                }
                // The same limits as a scenario file's (scenario.rs): sizes of 1 byte to
                // 1 MiB, at most 16,384 connections opened together.
                let sizes: &[(&str, usize)] = match &job {
                    tcp::Job::Echo { size, .. } => &[("size", *size)],
                    tcp::Job::Bulk { chunk, .. } => &[("chunk", *chunk)],
                    tcp::Job::Request {
                        size,
                        response_size,
                        ..
                    } => &[("size", *size), ("response_size", *response_size)],
                };
                for (key, v) in sizes {
                    if !(1..=tcp::MAX_MESSAGE).contains(v) {
                        return Err((name, format!("{key} {v}: 1 byte to 1 MiB")));
                    }
                }
                if let tcp::Job::Echo {
                    connections,
                    concurrent: true,
                    ..
                } = job
                    && !(1..=tcp::MAX_CONCURRENT).contains(&(connections as usize))
                {
                    return Err((
                        name,
                        format!(
                            "connections {connections}: 1 to {} at once",
                            tcp::MAX_CONCURRENT
                        ),
                    ));
                }
                let s = find(hosts, server, &name)?;
                let (ip, _) = static_addr(hosts, s, &name)?;
                if add_service(s, port, Service::Tcp, &name)? {
                    apps.push(Install {
                        host: s,
                        name: format!("{name}/tcp-server"),
                        daemon: true,
                        app: Rc::new(move |net| Box::pin(tcp::server(net, port))),
                    });
                }
                for (ci, c) in clients.iter().enumerate() {
                    let h = find(hosts, c, &name)?;
                    if h == s {
                        return Err((name, format!("client `{c}` is the server")));
                    }
                    let impatient = match (bugs.impatient, &job) {
                        (Some(d), tcp::Job::Request { .. }) if !impatient_planted && ci == 0 => {
                            impatient_planted = true;
                            Some(d)
                        }
                        _ => None,
                    };
                    let plan = Rc::new(tcp::Plan {
                        workload: wi,
                        name: name.clone(),
                        server: SocketAddrV4::new(ip, port),
                        server_host: s,
                        job,
                        start,
                        idle,
                        attempts,
                        impatient,
                        foreign: core::cell::Cell::new(bugs.foreign_stream && !foreign_planted),
                    });
                    foreign_planted |= bugs.foreign_stream;
                    apps.push(Install {
                        host: h,
                        name: format!("{name}/client"),
                        daemon: false,
                        app: Rc::new(move |net| Box::pin(tcp::client(net, plan.clone()))),
                    });
                }
            }
            Workload::ArpChurn(cfg) => {
                let pingers: Vec<HostId> = cfg
                    .hosts
                    .iter()
                    .map(|n| find(hosts, n, &name))
                    .collect::<Result<_, _>>()?;
                let target_names = if cfg.targets.is_empty() {
                    &cfg.hosts
                } else {
                    &cfg.targets
                };
                let mut targets = Vec::new();
                for t in target_names {
                    let th = find(hosts, t, &name)?;
                    targets.push((th, static_addr(hosts, th, &name)?.0));
                }
                let targets = Rc::new(targets);
                for h in pingers {
                    let targets = targets.clone();
                    let (rounds, gap, timeout) = (cfg.rounds, cfg.gap, cfg.timeout);
                    apps.push(Install {
                        host: h,
                        name: format!("{name}/pinger"),
                        daemon: false,
                        app: Rc::new(move |net| {
                            let targets = targets.clone();
                            Box::pin(async move {
                                for round in 0..rounds {
                                    if round > 0 {
                                        net.sleep(gap).await;
                                    }
                                    for (th, ip) in targets.iter() {
                                        if *th == h {
                                            continue;
                                        }
                                        let at = net.now();
                                        let ok = net.ping(*ip, timeout).await.is_ok();
                                        ledger(&net).borrow_mut().ping(at, h, *th, ok);
                                        stats(&net, wi, |s| {
                                            s.sent += 1;
                                            if ok {
                                                s.received += 1;
                                                s.completed += 1;
                                            } else {
                                                s.failed += 1;
                                            }
                                        });
                                    }
                                }
                                finished(&net, wi);
                            })
                        }),
                    });
                }
            }
        }
    }
    Ok((apps, reports))
}
