//! TOML scenarios: a layer over [`Sim::builder`] for hosts, switches, links with faults, a
//! schedule of partitions and crashes, workloads, expectations and seeds.
//!
//! ```toml
//! name = "lossy-echo"
//! about = "Three clients echo datagrams off a server over a lossy switch"
//! until = "30s"                    # virtual time limit
//!
//! [seeds]
//! default = 1                      # `weft run` without --seed
//! sweep = "0..100"                 # `weft sweep` without --seeds
//!
//! [[switches]]
//! name = "lan"
//!
//! [links.lossy]                    # a link profile, both directions...
//! latency = "500us"
//! jitter = "200us"
//! bandwidth = "100Mbit"
//! queue = 64
//! mtu = 1500
//! loss = { bernoulli = 0.05 }      # or { gilbert_elliott = { p_good_to_bad = 0.01, p_bad_to_good = 0.3 } }
//! duplicate = 0.01
//! reorder = 0.01
//! reorder_delay = "5ms"
//! corrupt = 0.0
//! down = { mtu = 1000 }            # ...with switch → host overrides (`up`: host → switch)
//!
//! [[hosts]]
//! name = "server"
//! switch = "lan"
//! address = "10.0.0.1/24"          # or `dhcp = true`
//! link = "lossy"                   # a profile of [links]; default: `links.default` or a clean link
//!
//! [[hosts]]
//! name = "client"                  # client0, client1, client2 ...
//! count = 3
//! switch = "lan"
//! address = "10.0.0.10/24"         # ... at .10, .11, .12
//!
//! [[schedule]]
//! at = "1s"
//! action = "partition"             # partition, heal, crash, restart
//! host = "client1"
//!
//! [[workloads]]
//! kind = "udp_echo"                # udp_echo, request_response, dhcp, arp_churn
//! server = "server"
//! clients = ["client*"]            # names, or prefixes ending in `*`
//! datagrams = 200                  # per client
//!
//! [expect]
//! all_finished = true              # every workload's clients finished
//! min_delivered = 0.8              # per workload (a workload may set its own)
//! oracles = true                   # the ledger's integrity checks and the engine's oracles pass
//! faults = ["loss", "duplicate"]   # fault kinds that must fire
//! min_datagrams = 500              # the UDP clients send at least this many (retries included)
//! min_stream_bytes = 1048576       # TCP workloads read (and check) at least this many bytes
//! ```
//!
//! Unknown keys are errors, and every error names the file, line and column and says what was
//! expected there ([`ScenarioError`]). [`Scenario::run`] builds the simulation and returns an
//! [`Outcome`]: the engine's [`Report`], each workload's ledger, the faults that fired by
//! kind, and the expectations that failed.

use crate::workload::tcp::{MAX_CONCURRENT, MAX_MESSAGE};
use crate::{
    Action, FaultSource, HostConfig, LinkConfig, LinkSpec, Loss, Report, Sim, SimBuilder, SimError,
    SimNet,
};
use core::ops::Range;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use toml::Spanned;
use weft_core::{Duration, IfaceId, Instant, Limits};
use weft_net::{Net, UdpNet, UdpSocket};

// ---------------------------------------------------------------------------------------
// Errors

/// A scenario that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// The operating system's message.
        message: String,
    },
    /// The file is not a valid scenario.
    #[error("{file}:{line}:{column}: {message}\n  {line:>4} | {source_line}\n       | {caret}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong and what was expected.
        message: String,
        /// The offending line of the file.
        source_line: String,
        /// A caret under the offending column.
        caret: String,
    },
}

impl ScenarioError {
    /// Builds an [`ScenarioError::Invalid`] for byte offset `at` of `text`.
    fn at(file: &str, text: &str, at: usize, message: String) -> ScenarioError {
        let at = at.min(text.len());
        let before = text.get(..at).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text.get(line_start..at).map_or(0, |s| s.chars().count()) + 1;
        let source_line = text
            .get(line_start..)
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        ScenarioError::Invalid {
            file: file.to_string(),
            line,
            column,
            message,
            source_line,
            caret: format!("{}^", " ".repeat(column.saturating_sub(1))),
        }
    }

    /// The (line, column) of an invalid file, if that is what this is.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ScenarioError::Invalid { line, column, .. } => Some((*line, *column)),
            ScenarioError::Io { .. } => None,
        }
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        match self {
            ScenarioError::Invalid { message, .. } | ScenarioError::Io { message, .. } => message,
        }
    }
}

/// A problem found after parsing: where (byte range) and what.
struct Problem(Range<usize>, String);

type Checked<T> = Result<T, Problem>;

fn problem<T>(span: Range<usize>, msg: impl Into<String>) -> Checked<T> {
    Err(Problem(span, msg.into()))
}

// ---------------------------------------------------------------------------------------
// Value types with their own syntax

/// A duration written with a unit: `250ns`, `500us`, `5ms`, `1.5s`, `2m`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Dur(Duration);

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.trim().parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    let ns = v * scale;
    (ns < u64::MAX as f64).then(|| Duration::from_nanos(ns as u64))
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a duration with a unit, like \"500us\", \"5ms\" or \"1.5s\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Dur, E> {
                parse_duration(s).map(Dur).ok_or_else(|| {
                    E::custom(format!(
                        "`{s}` is not a duration: expected a number and a unit (ns, us, ms, s, m, h), like \"5ms\""
                    ))
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// A probability in `0..=1`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Prob(f64);

impl<'de> Deserialize<'de> for Prob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Prob, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Prob;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a probability between 0 and 1, like 0.05")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Prob, E> {
                if (0.0..=1.0).contains(&v) {
                    Ok(Prob(v))
                } else {
                    Err(E::custom(format!(
                        "{v} is not a probability: expected a number between 0 and 1"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Prob, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Prob, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// Bits per second: an integer, or a string with a unit (`"10Mbit"`, `"1Gbit"`, `"512kbit"`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bandwidth(u64);

fn parse_bandwidth(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.trim().parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "bit" | "bps" => 1.0,
        "kbit" | "kbps" => 1e3,
        "mbit" | "mbps" => 1e6,
        "gbit" | "gbps" => 1e9,
        _ => return None,
    };
    let bps = v * scale;
    (bps.is_finite() && bps >= 0.0 && bps < u64::MAX as f64).then_some(bps as u64)
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bandwidth, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bandwidth;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a bandwidth: bits per second, or a string like \"10Mbit\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bandwidth, E> {
                u64::try_from(v)
                    .map(Bandwidth)
                    .map_err(|_| E::custom("a bandwidth cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bandwidth, E> {
                Ok(Bandwidth(v))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Bandwidth, E> {
                parse_bandwidth(s).map(Bandwidth).ok_or_else(|| {
                    E::custom(format!(
                        "`{s}` is not a bandwidth: expected a number and a unit (bit, kbit, Mbit, Gbit), like \"10Mbit\""
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// An address with its prefix length: `"10.0.0.1/24"`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cidr(Ipv4Addr, u8);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Cidr;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("an IPv4 address with a prefix length, like \"10.0.0.1/24\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Cidr, E> {
                let bad = || {
                    E::custom(format!(
                        "`{s}` is not an address: expected an IPv4 address with a prefix length, like \"10.0.0.1/24\""
                    ))
                };
                let (a, p) = s.split_once('/').ok_or_else(bad)?;
                let a: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
                let p: u8 = p.trim().parse().map_err(|_| bad())?;
                if p == 0 || p > 30 {
                    return Err(E::custom(format!(
                        "prefix length /{p} in `{s}`: expected 1 to 30"
                    )));
                }
                Ok(Cidr(a, p))
            }
        }
        d.deserialize_str(V)
    }
}

/// A range of seeds: `"0..1000"` (end exclusive).
pub fn parse_seed_range(s: &str) -> Option<Range<u64>> {
    let (a, b) = s.trim().split_once("..")?;
    let a: u64 = a.trim().parse().ok()?;
    let b: u64 = b.trim().parse().ok()?;
    (a < b).then_some(a..b)
}

// ---------------------------------------------------------------------------------------
// The file as written

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    about: Option<String>,
    until: Option<Dur>,
    seeds: Option<RawSeeds>,
    #[serde(default)]
    switches: Vec<RawSwitch>,
    #[serde(default)]
    links: BTreeMap<String, Spanned<RawLink>>,
    #[serde(default)]
    hosts: Vec<RawHost>,
    #[serde(default)]
    schedule: Vec<RawEvent>,
    #[serde(default)]
    workloads: Vec<Spanned<RawWorkload>>,
    expect: Option<RawExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeeds {
    default: Option<u64>,
    sweep: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwitch {
    name: Spanned<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawLoss {
    None,
    Bernoulli(Prob),
    GilbertElliott {
        p_good_to_bad: Prob,
        p_bad_to_good: Prob,
        #[serde(default)]
        loss_good: Prob,
        #[serde(default = "certain")]
        loss_bad: Prob,
    },
}

fn certain() -> Prob {
    Prob(1.0)
}

/// One direction's overrides.
#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct RawLinkDir {
    latency: Option<Dur>,
    jitter: Option<Dur>,
    bandwidth: Option<Bandwidth>,
    queue: Option<usize>,
    mtu: Option<Spanned<u16>>,
    loss: Option<RawLoss>,
    duplicate: Option<Prob>,
    reorder: Option<Prob>,
    reorder_delay: Option<Dur>,
    corrupt: Option<Prob>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawLink {
    latency: Option<Dur>,
    jitter: Option<Dur>,
    bandwidth: Option<Bandwidth>,
    queue: Option<usize>,
    mtu: Option<Spanned<u16>>,
    loss: Option<RawLoss>,
    duplicate: Option<Prob>,
    reorder: Option<Prob>,
    reorder_delay: Option<Dur>,
    corrupt: Option<Prob>,
    /// Host → switch overrides.
    up: Option<RawLinkDir>,
    /// Switch → host overrides.
    down: Option<RawLinkDir>,
}

impl RawLink {
    fn both(&self) -> RawLinkDir {
        RawLinkDir {
            latency: self.latency,
            jitter: self.jitter,
            bandwidth: self.bandwidth,
            queue: self.queue,
            mtu: self.mtu.clone(),
            loss: self.loss,
            duplicate: self.duplicate,
            reorder: self.reorder,
            reorder_delay: self.reorder_delay,
            corrupt: self.corrupt,
        }
    }
}

fn apply_dir(c: &mut LinkConfig, d: &RawLinkDir) -> Checked<()> {
    if let Some(v) = d.latency {
        c.latency = v.0;
    }
    if let Some(v) = d.jitter {
        c.jitter = v.0;
    }
    if let Some(v) = d.bandwidth {
        c.bandwidth_bps = v.0;
    }
    if let Some(v) = d.queue {
        c.queue_frames = v;
    }
    if let Some(v) = &d.mtu {
        if *v.get_ref() < 68 {
            // RFC 791: every host must take 68-octet datagrams.
            return problem(
                v.span(),
                format!("mtu {} is below 68: expected 68 to 65535", v.get_ref()),
            );
        }
        c.mtu = *v.get_ref();
    }
    if let Some(v) = d.loss {
        c.loss = match v {
            RawLoss::None => Loss::None,
            RawLoss::Bernoulli(p) => Loss::Bernoulli { p: p.0 },
            RawLoss::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_good,
                loss_bad,
            } => Loss::GilbertElliott {
                p_good_to_bad: p_good_to_bad.0,
                p_bad_to_good: p_bad_to_good.0,
                loss_good: loss_good.0,
                loss_bad: loss_bad.0,
            },
        };
    }
    if let Some(v) = d.duplicate {
        c.duplicate = v.0;
    }
    if let Some(v) = d.reorder {
        c.reorder = v.0;
    }
    if let Some(v) = d.reorder_delay {
        c.reorder_delay = v.0;
    }
    if let Some(v) = d.corrupt {
        c.corrupt = v.0;
    }
    Ok(())
}

fn link_spec(l: &RawLink) -> Checked<LinkSpec> {
    let mut spec = LinkSpec::default();
    let both = l.both();
    apply_dir(&mut spec.a_to_b, &both)?;
    apply_dir(&mut spec.b_to_a, &both)?;
    if let Some(up) = &l.up {
        apply_dir(&mut spec.a_to_b, up)?;
    }
    if let Some(down) = &l.down {
        apply_dir(&mut spec.b_to_a, down)?;
    }
    Ok(spec)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Spanned<String>,
    count: Option<Spanned<u32>>,
    switch: Spanned<String>,
    address: Option<Spanned<Cidr>>,
    dhcp: Option<Spanned<bool>>,
    link: Option<Spanned<String>>,
    /// ARP cache entries (the stack's limit).
    arp_cache: Option<Spanned<usize>>,
    /// How long a learned ARP entry lives.
    arp_lifetime: Option<Dur>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum RawAction {
    Partition,
    Heal,
    Crash,
    Restart,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: Dur,
    action: RawAction,
    host: Spanned<String>,
}

/// The kinds of workload a scenario can run.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// Clients send numbered datagrams at a pace to a UDP echo server and count the echoes.
    UdpEcho,
    /// Clients send requests one at a time to a UDP echo server, each retried until its
    /// reply comes.
    RequestResponse,
    /// Clients acquire addresses from a DHCP server host, then ping it.
    Dhcp,
    /// Hosts ping random peers, with small ARP caches: resolution over and over.
    ArpChurn,
    /// TCP echo: each client's connections, one after another, each echoing messages.
    TcpEcho,
    /// Many concurrent TCP connections per client, all open before any sends.
    TcpConnections,
    /// A TCP bulk transfer each way at once per client.
    TcpBulk,
    /// TCP requests and responses, one at a time on one connection per client.
    TcpRequestResponse,
}

impl WorkloadKind {
    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::UdpEcho => "udp_echo",
            WorkloadKind::RequestResponse => "request_response",
            WorkloadKind::Dhcp => "dhcp",
            WorkloadKind::ArpChurn => "arp_churn",
            WorkloadKind::TcpEcho => "tcp_echo",
            WorkloadKind::TcpConnections => "tcp_connections",
            WorkloadKind::TcpBulk => "tcp_bulk",
            WorkloadKind::TcpRequestResponse => "tcp_request_response",
        }
    }

    /// True for the TCP kinds (run by [`crate::workload`], judged by the stream oracle).
    pub fn is_tcp(self) -> bool {
        matches!(
            self,
            WorkloadKind::TcpEcho
                | WorkloadKind::TcpConnections
                | WorkloadKind::TcpBulk
                | WorkloadKind::TcpRequestResponse
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    kind: WorkloadKind,
    name: Option<String>,
    server: Option<Spanned<String>>,
    clients: Option<Spanned<Vec<String>>>,
    port: Option<Spanned<u16>>,
    datagrams: Option<Spanned<u32>>,
    size: Option<Spanned<usize>>,
    max_size: Option<Spanned<usize>>,
    interval: Option<Spanned<Dur>>,
    burst: Option<Spanned<u32>>,
    timeout: Option<Spanned<Dur>>,
    attempts: Option<Spanned<u32>>,
    start: Option<Spanned<Dur>>,
    pool: Option<Spanned<String>>,
    lease: Option<Spanned<Dur>>,
    min_delivered: Option<Spanned<Prob>>,
    connections: Option<Spanned<u32>>,
    messages: Option<Spanned<u32>>,
    requests: Option<Spanned<u32>>,
    response_size: Option<Spanned<usize>>,
    upload: Option<Spanned<u64>>,
    download: Option<Spanned<u64>>,
    chunk: Option<Spanned<usize>>,
    idle_timeout: Option<Spanned<Dur>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    all_finished: Option<bool>,
    min_delivered: Option<Prob>,
    oracles: Option<bool>,
    faults: Option<Vec<Spanned<String>>>,
    min_datagrams: Option<Spanned<u64>>,
    min_stream_bytes: Option<Spanned<u64>>,
}

// ---------------------------------------------------------------------------------------
// The scenario, resolved

/// One host of a scenario.
#[derive(Debug, Clone)]
struct Host {
    name: String,
    switch: String,
    /// `None`: DHCP.
    addr: Option<(Ipv4Addr, u8)>,
    link: LinkSpec,
    limits: Option<Limits>,
}

/// One workload of a scenario, resolved against its hosts.
#[derive(Debug, Clone)]
struct Workload {
    name: String,
    kind: WorkloadKind,
    server: Option<usize>,
    clients: Vec<usize>,
    port: u16,
    datagrams: u32,
    size: usize,
    max_size: usize,
    interval: Duration,
    burst: u32,
    timeout: Duration,
    attempts: u32,
    start: Duration,
    pool: (Ipv4Addr, Ipv4Addr),
    lease_secs: u32,
    min_delivered: Option<f64>,
    /// The TCP kinds' workload, as the engine runs it.
    tcp: Option<crate::workload::Workload>,
}

/// What a run must show.
#[derive(Debug, Clone)]
struct Expect {
    all_finished: bool,
    min_delivered: f64,
    oracles: bool,
    faults: Vec<FaultKind>,
    /// Datagrams the UDP workloads' clients must send (0: no minimum).
    min_datagrams: u64,
    /// TCP stream bytes the workloads must read, each checked (0: no minimum).
    min_stream_bytes: u64,
}

/// A scenario read from a file: a simulation to build and run with any seed. Plain data
/// (`Send + Sync`): sweeps share one between worker threads, each building its own
/// simulation.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name (the file's `name`, or the file name).
    pub name: String,
    /// What it is about.
    pub about: String,
    /// Virtual time limit.
    pub until: Instant,
    /// The seed `weft run` uses without `--seed`.
    pub default_seed: u64,
    /// The seeds `weft sweep` uses without `--seeds`.
    pub sweep: Option<Range<u64>>,
    switches: Vec<String>,
    hosts: Vec<Host>,
    schedule: Vec<(Instant, Action)>,
    workloads: Vec<Workload>,
    expect: Expect,
}

/// Header bytes of a workload payload: magic, workload, client, life, sequence number.
const HEADER: usize = 12;
const MAGIC: [u8; 2] = [0x57, 0xef];

fn duration_of(d: &Option<Spanned<Dur>>, default: Duration) -> Duration {
    d.as_ref().map_or(default, |d| d.get_ref().0)
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Io {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".to_string());
        Scenario::parse(&text, &file, &stem)
    }

    /// Parses and checks scenario `text`; `file` names it in errors, `default_name` is its
    /// name when the file gives none.
    pub fn parse(text: &str, file: &str, default_name: &str) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            ScenarioError::at(file, text, at, e.message().trim().to_string())
        })?;
        resolve(raw, default_name)
            .map_err(|Problem(span, msg)| ScenarioError::at(file, text, span.start, msg))
    }

    /// Host names, in order.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }

    /// The scenario as a simulation to run (a caller may add hosts, applications, a fault
    /// source or capture to it), and the ledger its workloads write; [`Scenario::judge`]
    /// turns the run's report and the ledger into an [`Outcome`]. [`Scenario::run`] does all
    /// of it.
    pub fn build(&self) -> (SimBuilder, ScenarioLedger) {
        let ledger = Rc::new(RefCell::new(Ledger::new(self)));
        (self.builder(&ledger), ScenarioLedger(ledger))
    }

    /// The simulation, with its workloads reporting into `ledger`.
    fn builder(&self, ledger: &Rc<RefCell<Ledger>>) -> SimBuilder {
        let mut b = Sim::builder().until(self.until);
        for s in &self.switches {
            b = b.switch(s);
        }
        for (i, h) in self.hosts.iter().enumerate() {
            let mut cfg = match h.addr {
                Some((a, p)) => HostConfig::on(&h.switch, a, p),
                None => HostConfig::dhcp(&h.switch),
            }
            .link(h.link.clone());
            if let Some(l) = h.limits {
                cfg = cfg.limits(l);
            }
            let ledger = ledger.clone();
            // Counts the host's lives (restarts are lives after the first).
            b = b.host(&h.name, cfg, move |_net| {
                if let Some(n) = ledger.borrow_mut().boots.get_mut(i) {
                    *n += 1;
                }
                async {}
            });
        }
        // Servers, once per host and port.
        let mut echo_servers = BTreeSet::new();
        for (wi, w) in self.workloads.iter().enumerate() {
            let server = w.server.and_then(|s| self.hosts.get(s));
            match w.kind {
                WorkloadKind::UdpEcho | WorkloadKind::RequestResponse => {
                    if let Some(s) = server
                        && echo_servers.insert((s.name.clone(), w.port))
                    {
                        let port = w.port;
                        b = b.app(&s.name, move |net| echo_server(net, port));
                    }
                }
                WorkloadKind::Dhcp => {
                    if let Some(s) = server
                        && let Some(cfg) = self.dhcp_config(w)
                    {
                        b = b.app(&s.name, move |net| dhcp_server(net, cfg.clone()));
                    }
                }
                WorkloadKind::ArpChurn => {}
                WorkloadKind::TcpEcho
                | WorkloadKind::TcpConnections
                | WorkloadKind::TcpBulk
                | WorkloadKind::TcpRequestResponse => {
                    if let Some(t) = &w.tcp {
                        b = b.workload(t.clone());
                    }
                    continue;
                }
            }
            let server_addr = server
                .and_then(|s| s.addr)
                .map(|(a, _)| SocketAddrV4::new(a, w.port));
            let peers: Vec<(usize, Ipv4Addr)> = w
                .clients
                .iter()
                .filter_map(|c| {
                    self.hosts
                        .get(*c)
                        .and_then(|h| h.addr)
                        .map(|(a, _)| (*c, a))
                })
                .collect();
            for (ci, c) in w.clients.iter().enumerate() {
                let Some(host) = self.hosts.get(*c) else {
                    continue;
                };
                let ctx = Rc::new(ClientCtx {
                    w: w.clone(),
                    wi,
                    ci,
                    server: server_addr,
                    own: host.addr.map(|(a, _)| a),
                    peers: peers.clone(),
                    ledger: ledger.clone(),
                });
                b = b.app(&host.name, move |net| {
                    let ctx = ctx.clone();
                    async move {
                        let life = ctx.begin();
                        if !ctx.w.start.is_zero() {
                            net.sleep(ctx.w.start).await;
                        }
                        let result = match ctx.w.kind {
                            WorkloadKind::UdpEcho => echo_client(&net, &ctx, life).await,
                            WorkloadKind::RequestResponse => rr_client(&net, &ctx, life).await,
                            WorkloadKind::Dhcp => dhcp_client(&net, &ctx).await,
                            WorkloadKind::ArpChurn => churn_client(&net, &ctx).await,
                            // Run by the engine's workloads (skipped above).
                            _ => Ok(()),
                        };
                        ctx.with(|c| match result {
                            Ok(()) => c.done = true,
                            Err(e) => c.error = Some(e),
                        });
                    }
                });
            }
        }
        for (at, a) in &self.schedule {
            b = b.at(*at, a.clone());
        }
        b
    }

    fn dhcp_config(&self, w: &Workload) -> Option<weft_core::dhcp::server::DhcpServerConfig> {
        let (addr, prefix) = w.server.and_then(|s| self.hosts.get(s))?.addr?;
        let mask = Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix)));
        let mut cfg =
            weft_core::dhcp::server::DhcpServerConfig::new(addr, w.pool.0, w.pool.1, mask);
        cfg.lease_time = w.lease_secs;
        Some(cfg)
    }

    /// Runs the scenario with `seed`.
    pub fn run(&self, seed: u64, opts: &RunOptions) -> Result<Outcome, SimError> {
        self.run_with(seed, opts, |b| b)
    }

    /// [`Scenario::run`], with `prepare` applied to the built simulation first (bugs planted,
    /// workloads replaced) before `opts` are.
    pub fn run_with(
        &self,
        seed: u64,
        opts: &RunOptions,
        prepare: impl FnOnce(SimBuilder) -> SimBuilder,
    ) -> Result<Outcome, SimError> {
        let (b, ledger) = self.build();
        let report = prepare(b)
            .pcap(opts.pcap)
            .faults(opts.faults.clone())
            .trace_events(opts.trace_events)
            .run(seed)?;
        Ok(self.judge(report, &ledger))
    }

    /// Compares a run of [`Scenario::build`]'s simulation with the expectations.
    pub fn judge(&self, report: Report, ledger: &ScenarioLedger) -> Outcome {
        let ledger = ledger.0.borrow();
        let ledger = &*ledger;
        let mut workloads = Vec::new();
        for (w, clients) in self.workloads.iter().zip(&ledger.clients) {
            if w.kind.is_tcp() {
                // Run by the engine: its report has the counts, the stream oracle the checks.
                let r = report.workload(&w.name).cloned().unwrap_or_default();
                let planned = w.tcp.as_ref().map_or(0, |t| t.planned());
                workloads.push(WorkloadOutcome {
                    name: w.name.clone(),
                    kind: w.kind,
                    clients: usize::try_from(r.clients).unwrap_or(usize::MAX),
                    finished: usize::try_from(r.clients_finished).unwrap_or(usize::MAX),
                    sent: planned,
                    delivered: r.completed,
                    duplicates: 0,
                    retries: 0,
                    errors: Vec::new(),
                    violations: Vec::new(),
                    connections: r.connections,
                    connection_errors: r.errors,
                    bytes: r.bytes_received,
                });
                continue;
            }
            let mut o = WorkloadOutcome {
                name: w.name.clone(),
                kind: w.kind,
                clients: clients.len(),
                finished: clients.iter().filter(|c| c.done).count(),
                sent: 0,
                delivered: 0,
                duplicates: 0,
                retries: 0,
                errors: Vec::new(),
                violations: Vec::new(),
                connections: 0,
                connection_errors: 0,
                bytes: 0,
            };
            for (ci, c) in clients.iter().enumerate() {
                let host = w
                    .clients
                    .get(ci)
                    .and_then(|h| self.hosts.get(*h))
                    .map_or("?", |h| h.name.as_str());
                o.sent += c.attempted;
                o.delivered += c.answered.len() as u64;
                o.duplicates += c.duplicates;
                o.retries += c.retries;
                if let Some(e) = &c.error {
                    o.errors.push(format!("{host}: {e}"));
                }
                for v in &c.violations {
                    o.violations.push(format!("{host}: {v}"));
                }
            }
            workloads.push(o);
        }
        let faults = self.fault_counts(&report, ledger);
        let mut failures = Vec::new();
        for (w, o) in self.workloads.iter().zip(&workloads) {
            if self.expect.all_finished && o.finished < o.clients {
                let why = o.errors.first().cloned().unwrap_or_else(|| {
                    format!(
                        "still running at the time limit ({:.3} s)",
                        self.until.as_nanos() as f64 / 1e9
                    )
                });
                failures.push(format!(
                    "workload {}: {} of {} clients finished ({why})",
                    o.name, o.finished, o.clients
                ));
            }
            let min = w.min_delivered.unwrap_or(self.expect.min_delivered);
            if o.delivery() < min {
                failures.push(format!(
                    "workload {}: delivered {:.1}% < {:.1}% expected",
                    o.name,
                    o.delivery() * 100.0,
                    min * 100.0
                ));
            }
            if self.expect.oracles
                && let Some(v) = o.violations.first()
            {
                failures.push(format!(
                    "oracle: workload {}: {} integrity violations, first: {v}",
                    o.name,
                    o.violations.len()
                ));
            }
        }
        // The engine's own oracles: datagram integrity and accounting, the sender-side
        // monitor, liveness once faults stop.
        if self.expect.oracles {
            for f in &report.oracles {
                failures.push(format!("oracle: {f}"));
            }
        }
        let datagrams = client_datagrams(&workloads);
        if datagrams < self.expect.min_datagrams {
            failures.push(format!(
                "the workloads' clients sent {datagrams} datagrams, fewer than min_datagrams = {}",
                self.expect.min_datagrams
            ));
        }
        let bytes = report.streams.bytes_received;
        if bytes < self.expect.min_stream_bytes {
            failures.push(format!(
                "the TCP workloads read {bytes} stream bytes, fewer than min_stream_bytes = {}",
                self.expect.min_stream_bytes
            ));
        }
        for k in &self.expect.faults {
            if faults.get(*k) == 0 {
                failures.push(format!(
                    "fault {} was expected to fire and did not",
                    k.name()
                ));
            }
        }
        Outcome {
            scenario: self.name.clone(),
            report,
            workloads,
            faults,
            failures,
        }
    }

    fn fault_counts(&self, report: &Report, ledger: &Ledger) -> FaultCounts {
        let mut f = FaultCounts::default();
        for (h, l) in self.hosts.iter().zip(&report.links) {
            for (c, cfg) in [
                (&l.to_switch, &h.link.a_to_b),
                (&l.from_switch, &h.link.b_to_a),
            ] {
                let kind = match cfg.loss {
                    Loss::GilbertElliott { .. } => FaultKind::BurstLoss,
                    _ => FaultKind::Loss,
                };
                f.add(kind, c.lost);
                f.add(FaultKind::Duplicate, c.duplicated);
                f.add(FaultKind::Reorder, c.reordered);
                f.add(FaultKind::Corrupt, c.corrupted);
                f.add(FaultKind::QueueDrop, c.queue_drops);
                f.add(FaultKind::MtuDrop, c.mtu_drops);
                f.add(FaultKind::Partition, c.partition_drops);
            }
        }
        for (h, boots) in report.hosts.iter().zip(&ledger.boots) {
            f.add(FaultKind::Crash, u64::from(h.crashes));
            f.add(FaultKind::Restart, u64::from(boots.saturating_sub(1)));
        }
        let tcp = report.tcp_totals();
        f.add(FaultKind::TcpRetransmit, tcp.retransmitted_segs);
        f.add(FaultKind::TcpFastRetransmit, tcp.fast_retransmits);
        f.add(FaultKind::TcpRto, tcp.rto_expirations);
        f
    }
}

fn resolve(raw: RawScenario, default_name: &str) -> Checked<Scenario> {
    let mut names: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut claim = |name: &str, span: Range<usize>| -> Checked<()> {
        if name.is_empty() {
            return problem(span, "a name cannot be empty");
        }
        if name.contains(|c: char| c.is_whitespace() || c == '/' || c == '*') {
            return problem(
                span,
                format!("name `{name}`: expected no spaces, `/` or `*`"),
            );
        }
        if names.insert(name.to_string(), span.clone()).is_some() {
            return problem(
                span,
                format!("the name `{name}` is used twice (hosts and switches share names)"),
            );
        }
        Ok(())
    };
    let mut switches = Vec::new();
    for s in &raw.switches {
        claim(s.name.get_ref(), s.name.span())?;
        switches.push(s.name.get_ref().clone());
    }
    let mut profiles = BTreeMap::new();
    for (name, l) in &raw.links {
        profiles.insert(name.clone(), link_spec(l.get_ref())?);
    }
    let mut hosts: Vec<Host> = Vec::new();
    for h in &raw.hosts {
        if !switches.contains(h.switch.get_ref()) {
            return problem(
                h.switch.span(),
                format!(
                    "host `{}` is on switch `{}`, which is not defined: expected one of the [[switches]] ({})",
                    h.name.get_ref(),
                    h.switch.get_ref(),
                    list(&switches)
                ),
            );
        }
        let link = match &h.link {
            Some(l) => profiles.get(l.get_ref()).cloned().map_or_else(
                || {
                    let known: Vec<String> = profiles.keys().cloned().collect();
                    problem(
                        l.span(),
                        format!(
                            "link profile `{}` is not defined: expected one of the [links.NAME] tables ({})",
                            l.get_ref(),
                            list(&known)
                        ),
                    )
                },
                Ok,
            )?,
            None => profiles.get("default").cloned().unwrap_or_default(),
        };
        let dhcp = h.dhcp.as_ref().is_some_and(|d| *d.get_ref());
        let addr = match (&h.address, dhcp) {
            (Some(a), true) => {
                return problem(
                    a.span(),
                    "a host has either an `address` or `dhcp = true`, not both",
                );
            }
            (Some(a), false) => Some(*a.get_ref()),
            (None, true) => None,
            (None, false) => {
                return problem(
                    h.name.span(),
                    format!(
                        "host `{}` has no address: expected `address = \"10.0.0.1/24\"` or `dhcp = true`",
                        h.name.get_ref()
                    ),
                );
            }
        };
        let limits = if h.arp_cache.is_some() || h.arp_lifetime.is_some() {
            let mut l = Limits::default();
            if let Some(n) = &h.arp_cache {
                if *n.get_ref() == 0 {
                    return problem(n.span(), "arp_cache must be at least 1");
                }
                l.arp_cache_entries = *n.get_ref();
            }
            if let Some(d) = h.arp_lifetime {
                l.arp_entry_lifetime = d.0;
            }
            Some(l)
        } else {
            None
        };
        let count = match &h.count {
            Some(c) if *c.get_ref() == 0 => {
                return problem(c.span(), "count must be at least 1");
            }
            Some(c) => Some(*c.get_ref()),
            None => None,
        };
        for i in 0..count.unwrap_or(1) {
            let name = match count {
                Some(_) => format!("{}{i}", h.name.get_ref()),
                None => h.name.get_ref().clone(),
            };
            claim(&name, h.name.span())?;
            let addr = match addr {
                Some(Cidr(a, p)) => {
                    let next = u32::from(a).checked_add(i).map(Ipv4Addr::from);
                    match next {
                        Some(n) if same_subnet(a, n, p) => Some((n, p)),
                        _ => {
                            return problem(
                                h.address.as_ref().map_or(h.name.span(), |a| a.span()),
                                format!(
                                    "{} hosts from {a}/{p} do not fit in the subnet",
                                    count.unwrap_or(1)
                                ),
                            );
                        }
                    }
                }
                None => None,
            };
            hosts.push(Host {
                name,
                switch: h.switch.get_ref().clone(),
                addr,
                link: link.clone(),
                limits,
            });
        }
    }
    let find_host = |s: &Spanned<String>| -> Checked<usize> {
        hosts
            .iter()
            .position(|h| h.name == *s.get_ref())
            .map_or_else(
                || {
                    problem(
                        s.span(),
                        format!(
                            "`{}` is not a host: expected one of {}",
                            s.get_ref(),
                            list(&hosts.iter().map(|h| h.name.clone()).collect::<Vec<_>>())
                        ),
                    )
                },
                Ok,
            )
    };
    let mut schedule = Vec::new();
    for e in &raw.schedule {
        let h = find_host(&e.host)?;
        let host = hosts.get(h).map(|h| h.name.clone()).unwrap_or_default();
        let action = match e.action {
            RawAction::Partition => Action::Partition { host, iface: 0 },
            RawAction::Heal => Action::Heal { host, iface: 0 },
            RawAction::Crash => Action::Crash { host },
            RawAction::Restart => Action::Restart { host },
        };
        schedule.push((Instant::ZERO + e.at.0, action));
    }
    let mut workloads = Vec::new();
    for (i, sw) in raw.workloads.iter().enumerate() {
        workloads.push(resolve_workload(sw, i, &hosts, &find_host)?);
    }
    let at_least_one = |v: &Option<Spanned<u64>>, key: &str| -> Checked<u64> {
        match v {
            Some(n) if *n.get_ref() == 0 => problem(
                n.span(),
                format!("{key} must be at least 1 (leave it out for no minimum)"),
            ),
            Some(n) => Ok(*n.get_ref()),
            None => Ok(0),
        }
    };
    let (min_datagrams, min_stream_bytes) = match &raw.expect {
        Some(e) => (
            at_least_one(&e.min_datagrams, "min_datagrams")?,
            at_least_one(&e.min_stream_bytes, "min_stream_bytes")?,
        ),
        None => (0, 0),
    };
    let (all_finished, min_delivered, oracles, faults) = match &raw.expect {
        Some(e) => {
            let mut faults = Vec::new();
            for f in e.faults.iter().flatten() {
                match FaultKind::ALL.iter().find(|k| k.name() == f.get_ref()) {
                    Some(k) => faults.push(*k),
                    None => {
                        let known: Vec<String> = FaultKind::ALL
                            .iter()
                            .map(|k| k.name().to_string())
                            .collect();
                        return problem(
                            f.span(),
                            format!(
                                "unknown fault kind `{}`: expected one of {}",
                                f.get_ref(),
                                list(&known)
                            ),
                        );
                    }
                }
            }
            (
                e.all_finished.unwrap_or(true),
                e.min_delivered.map_or(0.0, |p| p.0),
                e.oracles.unwrap_or(true),
                faults,
            )
        }
        None => (true, 0.0, true, Vec::new()),
    };
    let (default_seed, sweep) = match &raw.seeds {
        Some(s) => {
            let sweep = match &s.sweep {
                Some(r) => Some(parse_seed_range(r.get_ref()).map_or_else(
                    || {
                        problem(
                            r.span(),
                            format!(
                                "`{}` is not a seed range: expected \"A..B\" with A < B, like \"0..1000\"",
                                r.get_ref()
                            ),
                        )
                    },
                    Ok,
                )?),
                None => None,
            };
            (s.default.unwrap_or(1), sweep)
        }
        None => (1, None),
    };
    Ok(Scenario {
        name: raw.name.unwrap_or_else(|| default_name.to_string()),
        about: raw.about.unwrap_or_default(),
        until: Instant::ZERO + raw.until.map_or(Duration::from_secs(3600), |d| d.0),
        default_seed,
        sweep,
        switches,
        hosts,
        schedule,
        workloads,
        expect: Expect {
            all_finished,
            min_delivered,
            oracles,
            faults,
            min_datagrams,
            min_stream_bytes,
        },
    })
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX << (32 - u32::from(prefix));
    let host = !mask;
    u32::from(a) & mask == u32::from(b) & mask && u32::from(b) & host != host
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none are defined".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A workload key: its name, where it was written, and the kinds that take it.
type KeyUse<'a> = (&'a str, Option<Range<usize>>, &'a [WorkloadKind]);

fn resolve_workload(
    sw: &Spanned<RawWorkload>,
    index: usize,
    hosts: &[Host],
    find_host: &dyn Fn(&Spanned<String>) -> Checked<usize>,
) -> Checked<Workload> {
    let w = sw.get_ref();
    let kind = w.kind;
    // The keys each kind takes.
    let fields: [KeyUse<'_>; 22] = {
        use WorkloadKind::*;
        [
            (
                "server",
                w.server.as_ref().map(|s| s.span()),
                &[
                    UdpEcho,
                    RequestResponse,
                    Dhcp,
                    TcpEcho,
                    TcpConnections,
                    TcpBulk,
                    TcpRequestResponse,
                ],
            ),
            (
                "port",
                w.port.as_ref().map(|s| s.span()),
                &[
                    UdpEcho,
                    RequestResponse,
                    TcpEcho,
                    TcpConnections,
                    TcpBulk,
                    TcpRequestResponse,
                ],
            ),
            (
                "datagrams",
                w.datagrams.as_ref().map(|s| s.span()),
                &[UdpEcho, RequestResponse, ArpChurn],
            ),
            (
                "size",
                w.size.as_ref().map(|s| s.span()),
                &[
                    UdpEcho,
                    RequestResponse,
                    TcpEcho,
                    TcpConnections,
                    TcpRequestResponse,
                ],
            ),
            (
                "max_size",
                w.max_size.as_ref().map(|s| s.span()),
                &[UdpEcho, RequestResponse],
            ),
            (
                "interval",
                w.interval.as_ref().map(|s| s.span()),
                &[
                    UdpEcho,
                    RequestResponse,
                    ArpChurn,
                    TcpEcho,
                    TcpBulk,
                    TcpRequestResponse,
                ],
            ),
            ("burst", w.burst.as_ref().map(|s| s.span()), &[UdpEcho]),
            (
                "timeout",
                w.timeout.as_ref().map(|s| s.span()),
                &[UdpEcho, RequestResponse, Dhcp, ArpChurn],
            ),
            (
                "attempts",
                w.attempts.as_ref().map(|s| s.span()),
                &[
                    RequestResponse,
                    TcpEcho,
                    TcpConnections,
                    TcpBulk,
                    TcpRequestResponse,
                ],
            ),
            (
                "start",
                w.start.as_ref().map(|s| s.span()),
                &[
                    UdpEcho,
                    RequestResponse,
                    Dhcp,
                    ArpChurn,
                    TcpEcho,
                    TcpConnections,
                    TcpBulk,
                    TcpRequestResponse,
                ],
            ),
            ("pool", w.pool.as_ref().map(|s| s.span()), &[Dhcp]),
            ("lease", w.lease.as_ref().map(|s| s.span()), &[Dhcp]),
            (
                "clients",
                w.clients.as_ref().map(|s| s.span()),
                &[
                    UdpEcho,
                    RequestResponse,
                    Dhcp,
                    ArpChurn,
                    TcpEcho,
                    TcpConnections,
                    TcpBulk,
                    TcpRequestResponse,
                ],
            ),
            (
                "min_delivered",
                w.min_delivered.as_ref().map(|s| s.span()),
                &[
                    UdpEcho,
                    RequestResponse,
                    Dhcp,
                    ArpChurn,
                    TcpEcho,
                    TcpConnections,
                    TcpBulk,
                    TcpRequestResponse,
                ],
            ),
            (
                "connections",
                w.connections.as_ref().map(|s| s.span()),
                &[TcpEcho, TcpConnections],
            ),
            (
                "messages",
                w.messages.as_ref().map(|s| s.span()),
                &[TcpEcho, TcpConnections],
            ),
            (
                "requests",
                w.requests.as_ref().map(|s| s.span()),
                &[TcpRequestResponse],
            ),
            (
                "response_size",
                w.response_size.as_ref().map(|s| s.span()),
                &[TcpRequestResponse],
            ),
            ("upload", w.upload.as_ref().map(|s| s.span()), &[TcpBulk]),
            (
                "download",
                w.download.as_ref().map(|s| s.span()),
                &[TcpBulk],
            ),
            ("chunk", w.chunk.as_ref().map(|s| s.span()), &[TcpBulk]),
            (
                "idle_timeout",
                w.idle_timeout.as_ref().map(|s| s.span()),
                &[TcpEcho, TcpConnections, TcpBulk, TcpRequestResponse],
            ),
        ]
    };
    for (key, span, kinds) in &fields {
        if let Some(span) = span
            && !kinds.contains(&kind)
        {
            let takes: Vec<String> = fields
                .iter()
                .filter(|(_, _, k)| k.contains(&kind))
                .map(|(n, _, _)| n.to_string())
                .collect();
            return problem(
                span.clone(),
                format!(
                    "`{key}` does not apply to a {} workload: expected one of `kind`, `name`, {}",
                    kind.name(),
                    list(&takes)
                ),
            );
        }
    }
    let name = w
        .name
        .clone()
        .unwrap_or_else(|| format!("{}#{index}", kind.name()));
    let server = match (&w.server, kind) {
        (Some(s), _) => Some(find_host(s)?),
        (None, WorkloadKind::ArpChurn) => None,
        (None, _) => {
            return problem(
                sw.span(),
                format!("a {} workload needs `server = \"HOST\"`", kind.name()),
            );
        }
    };
    let Some(clients_raw) = &w.clients else {
        return problem(
            sw.span(),
            format!(
                "a {} workload needs `clients = [\"HOST\", \"PREFIX*\"...]`",
                kind.name()
            ),
        );
    };
    let mut clients = Vec::new();
    for pat in clients_raw.get_ref() {
        let matched: Vec<usize> = match pat.strip_suffix('*') {
            Some(prefix) => hosts
                .iter()
                .enumerate()
                .filter(|(i, h)| h.name.starts_with(prefix) && Some(*i) != server)
                .map(|(i, _)| i)
                .collect(),
            None => hosts
                .iter()
                .position(|h| h.name == *pat)
                .into_iter()
                .collect(),
        };
        if matched.is_empty() {
            return problem(
                clients_raw.span(),
                format!("`{pat}` names no host: expected host names or prefixes ending in `*`"),
            );
        }
        for m in matched {
            if Some(m) == server {
                return problem(
                    clients_raw.span(),
                    format!("`{pat}` includes the workload's server"),
                );
            }
            if !clients.contains(&m) {
                clients.push(m);
            }
        }
    }
    let server_host = server.and_then(|s| hosts.get(s));
    if let Some(s) = server_host
        && s.addr.is_none()
    {
        return problem(
            w.server.as_ref().map_or(sw.span(), |s| s.span()),
            format!("server `{}` needs a static address", s.name),
        );
    }
    for c in &clients {
        let Some(h) = hosts.get(*c) else { continue };
        let dhcp = h.addr.is_none();
        if kind == WorkloadKind::Dhcp && !dhcp {
            return problem(
                clients_raw.span(),
                format!("client `{}` of a dhcp workload needs `dhcp = true`", h.name),
            );
        }
        if kind == WorkloadKind::ArpChurn && dhcp {
            return problem(
                clients_raw.span(),
                format!(
                    "host `{}` of an arp_churn workload needs a static address",
                    h.name
                ),
            );
        }
    }
    if kind == WorkloadKind::ArpChurn && clients.len() < 2 {
        return problem(
            clients_raw.span(),
            "an arp_churn workload needs at least two hosts",
        );
    }
    let size = w.size.as_ref().map_or(64, |s| *s.get_ref());
    if let Some(s) = &w.size
        && !kind.is_tcp()
        && !(HEADER..=65_507).contains(s.get_ref())
    {
        return problem(
            s.span(),
            format!("size {}: expected {HEADER} to 65507 bytes", s.get_ref()),
        );
    }
    let max_size = w.max_size.as_ref().map_or(size, |s| *s.get_ref());
    if let Some(m) = &w.max_size
        && !(size..=65_507).contains(m.get_ref())
    {
        return problem(
            m.span(),
            format!(
                "max_size {}: expected {size} (the size) to 65507 bytes",
                m.get_ref()
            ),
        );
    }
    let mut pool = (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
    let mut lease_secs = 3600;
    if kind == WorkloadKind::Dhcp {
        let Some(p) = &w.pool else {
            return problem(
                sw.span(),
                "a dhcp workload needs `pool = \"FIRST-LAST\"`, like \"10.0.0.100-10.0.0.199\"",
            );
        };
        let parsed = p.get_ref().split_once('-').and_then(|(a, b)| {
            Some((
                a.trim().parse::<Ipv4Addr>().ok()?,
                b.trim().parse::<Ipv4Addr>().ok()?,
            ))
        });
        let Some((a, b)) = parsed else {
            return problem(
                p.span(),
                format!(
                    "`{}` is not an address pool: expected \"FIRST-LAST\", like \"10.0.0.100-10.0.0.199\"",
                    p.get_ref()
                ),
            );
        };
        pool = (a, b);
        if let Some(l) = &w.lease {
            lease_secs = u32::try_from(l.get_ref().0.as_secs()).unwrap_or(u32::MAX);
        }
        if let Some((addr, prefix)) = server_host.and_then(|s| s.addr) {
            let mask = Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix)));
            let mut cfg = weft_core::dhcp::server::DhcpServerConfig::new(addr, a, b, mask);
            cfg.lease_time = lease_secs;
            if let Err(e) = weft_core::dhcp::server::DhcpServer::new(cfg) {
                return problem(
                    w.lease
                        .as_ref()
                        .filter(|_| lease_secs == 0)
                        .map_or(p.span(), |l| l.span()),
                    format!("DHCP server: {e}"),
                );
            }
        }
    }
    let positive = |v: &Option<Spanned<u32>>, key: &str, default: u32| -> Checked<u32> {
        match v {
            Some(n) if *n.get_ref() == 0 => problem(n.span(), format!("{key} must be at least 1")),
            Some(n) => Ok(*n.get_ref()),
            None => Ok(default),
        }
    };
    let tcp = if kind.is_tcp() {
        Some(tcp_workload(w, &name, server, &clients, hosts, &positive)?)
    } else {
        None
    };
    Ok(Workload {
        name,
        kind,
        server,
        clients,
        port: w.port.as_ref().map_or(7, |p| *p.get_ref()),
        datagrams: positive(&w.datagrams, "datagrams", 100)?,
        size,
        max_size,
        interval: duration_of(&w.interval, Duration::from_millis(1)),
        burst: positive(&w.burst, "burst", 1)?,
        timeout: duration_of(
            &w.timeout,
            match kind {
                WorkloadKind::Dhcp => Duration::from_secs(30),
                WorkloadKind::UdpEcho => Duration::from_millis(500),
                _ => Duration::from_millis(200),
            },
        ),
        attempts: positive(&w.attempts, "attempts", 50)?,
        start: duration_of(&w.start, Duration::ZERO),
        pool,
        lease_secs,
        min_delivered: w.min_delivered.as_ref().map(|p| p.get_ref().0),
        tcp,
    })
}

/// Reads a count that must be at least 1 (key, default).
type Positive<'a> = dyn Fn(&Option<Spanned<u32>>, &str, u32) -> Checked<u32> + 'a;

/// A TCP kind's workload for the engine, with its keys checked.
fn tcp_workload(
    w: &RawWorkload,
    name: &str,
    server: Option<usize>,
    clients: &[usize],
    hosts: &[Host],
    positive: &Positive<'_>,
) -> Checked<crate::workload::Workload> {
    use crate::workload::{TcpBulk, TcpEcho, TcpRequestResponse, Workload as W};
    let host = |i: usize| hosts.get(i).map(|h| h.name.clone()).unwrap_or_default();
    let server = server.map(host).unwrap_or_default();
    let clients: Vec<String> = clients.iter().map(|c| host(*c)).collect();
    let bytes = |v: &Option<Spanned<usize>>, key: &str, default: usize, max: usize| match v {
        Some(n) if !(1..=max).contains(n.get_ref()) => problem(
            n.span(),
            format!("{key} {}: expected 1 to {max} bytes", n.get_ref()),
        ),
        Some(n) => Ok(*n.get_ref()),
        None => Ok(default),
    };
    let transfer = |v: &Option<Spanned<u64>>, key: &str| match v {
        Some(n) if *n.get_ref() > u64::from(u32::MAX) => problem(
            n.span(),
            format!("{key} {}: expected at most {} bytes", n.get_ref(), u32::MAX),
        ),
        Some(n) => Ok(*n.get_ref()),
        None => Ok(256 * 1024),
    };
    let port = w.port.as_ref().map_or(7, |p| *p.get_ref());
    let start = duration_of(&w.start, Duration::ZERO);
    let interval = duration_of(&w.interval, Duration::ZERO);
    let idle_timeout = duration_of(&w.idle_timeout, Duration::from_secs(20));
    if idle_timeout.is_zero()
        && let Some(t) = &w.idle_timeout
    {
        return problem(t.span(), "idle_timeout must be more than zero");
    }
    let attempts = positive(&w.attempts, "attempts", 10)?;
    let size = bytes(&w.size, "size", 512, MAX_MESSAGE)?;
    Ok(match w.kind {
        WorkloadKind::TcpBulk => W::TcpBulk(TcpBulk {
            name: name.to_string(),
            server,
            port,
            clients,
            upload: transfer(&w.upload, "upload")?,
            download: transfer(&w.download, "download")?,
            chunk: bytes(&w.chunk, "chunk", 16 * 1024, MAX_MESSAGE)?,
            interval,
            start,
            idle_timeout,
            attempts,
        }),
        WorkloadKind::TcpRequestResponse => W::TcpRequestResponse(TcpRequestResponse {
            name: name.to_string(),
            server,
            port,
            clients,
            requests: positive(&w.requests, "requests", 100)?,
            size: bytes(&w.size, "size", 64, MAX_MESSAGE)?,
            response_size: bytes(&w.response_size, "response_size", 256, MAX_MESSAGE)?,
            interval,
            start,
            idle_timeout,
            attempts,
        }),
        kind => {
            let concurrent = kind == WorkloadKind::TcpConnections;
            W::TcpEcho(TcpEcho {
                name: name.to_string(),
                server,
                port,
                clients,
                connections: match &w.connections {
                    // Opened at once: see `MAX_CONCURRENT` (one after another, any number).
                    Some(n) if concurrent && *n.get_ref() as usize > MAX_CONCURRENT => {
                        return problem(
                            n.span(),
                            format!("connections must be at most {MAX_CONCURRENT} at once"),
                        );
                    }
                    _ => positive(
                        &w.connections,
                        "connections",
                        if concurrent { 32 } else { 1 },
                    )?,
                },
                concurrent,
                messages: positive(&w.messages, "messages", if concurrent { 4 } else { 50 })?,
                size,
                interval,
                start,
                idle_timeout,
                attempts,
            })
        }
    })
}

// ---------------------------------------------------------------------------------------
// Running

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where fault decisions come from.
    pub faults: FaultSource,
    /// Capture every link into a pcap.
    pub pcap: bool,
    /// Record every event (`Report::event_trace`, for the determinism check).
    pub trace_events: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            faults: FaultSource::Random,
            pcap: false,
            trace_events: false,
        }
    }
}

/// One client's ledger: what it sent and what came back.
#[derive(Debug, Default, Clone)]
struct ClientLedger {
    /// Lives (the client's host may restart).
    lives: u16,
    /// Datagrams, requests, pings or lease attempts made (retries included).
    attempted: u64,
    /// Distinct (life, sequence number) answered.
    answered: BTreeSet<(u16, u32)>,
    duplicates: u64,
    retries: u64,
    violations: Vec<String>,
    done: bool,
    error: Option<String>,
}

/// What a scenario's workloads recorded during a run (see [`Scenario::build`]).
#[derive(Debug, Clone)]
pub struct ScenarioLedger(Rc<RefCell<Ledger>>);

#[derive(Debug, Default)]
struct Ledger {
    /// Lives per host.
    boots: Vec<u32>,
    /// Per workload, per client.
    clients: Vec<Vec<ClientLedger>>,
}

impl Ledger {
    fn new(s: &Scenario) -> Ledger {
        Ledger {
            boots: vec![0; s.hosts.len()],
            clients: s
                .workloads
                .iter()
                .map(|w| vec![ClientLedger::default(); w.clients.len()])
                .collect(),
        }
    }
}

/// What one client application needs.
struct ClientCtx {
    w: Workload,
    wi: usize,
    ci: usize,
    server: Option<SocketAddrV4>,
    own: Option<Ipv4Addr>,
    /// Peers by host (the scenario's hosts are the simulation's first, in order) and
    /// address.
    peers: Vec<(usize, Ipv4Addr)>,
    ledger: Rc<RefCell<Ledger>>,
}

impl ClientCtx {
    fn with<T>(&self, f: impl FnOnce(&mut ClientLedger) -> T) -> Option<T> {
        let mut l = self.ledger.borrow_mut();
        l.clients
            .get_mut(self.wi)
            .and_then(|c| c.get_mut(self.ci))
            .map(f)
    }

    /// A new life of this client: returns its number.
    fn begin(&self) -> u16 {
        self.with(|c| {
            c.lives = c.lives.saturating_add(1);
            c.done = false;
            c.error = None;
            c.lives
        })
        .unwrap_or(0)
    }

    /// The payload for (life, seq) of `len` bytes: a header, then bytes derived from it.
    fn payload(&self, life: u16, seq: u32, len: usize) -> Vec<u8> {
        let mut p = Vec::with_capacity(len);
        p.extend_from_slice(&MAGIC);
        p.extend_from_slice(&(self.wi as u16).to_be_bytes());
        p.extend_from_slice(&(self.ci as u16).to_be_bytes());
        p.extend_from_slice(&life.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        let mut h = crate::fabric::fnv(crate::fabric::FNV_OFFSET, &p);
        while p.len() < len {
            h = h.wrapping_mul(0x0000_0100_0000_01b3) ^ (p.len() as u64);
            p.push((h >> 56) as u8);
        }
        p.truncate(len.max(HEADER));
        p
    }

    /// Checks a datagram that came back: the (life, seq) it answers, or a violation.
    fn check(&self, got: &[u8]) -> Result<(u16, u32), String> {
        let field = |r: Range<usize>| got.get(r).unwrap_or_default();
        let be16 = |b: &[u8]| <[u8; 2]>::try_from(b).map(u16::from_be_bytes).ok();
        let be32 = |b: &[u8]| <[u8; 4]>::try_from(b).map(u32::from_be_bytes).ok();
        let (Some(wi), Some(ci), Some(life), Some(seq)) = (
            be16(field(2..4)),
            be16(field(4..6)),
            be16(field(6..8)),
            be32(field(8..12)),
        ) else {
            return Err(format!("a {}-byte datagram that is no echo", got.len()));
        };
        if field(0..2) != MAGIC || usize::from(wi) != self.wi || usize::from(ci) != self.ci {
            return Err(format!(
                "a {}-byte datagram that is not an echo of this client's",
                got.len()
            ));
        }
        if self.payload(life, seq, got.len()) != got {
            return Err(format!(
                "the echo of datagram {seq} (life {life}) differs from what was sent"
            ));
        }
        Ok((life, seq))
    }

    /// Records an echo.
    fn answered(&self, got: &[u8]) {
        let r = self.check(got);
        self.with(|c| match r {
            Ok(k) => {
                if !c.answered.insert(k) {
                    c.duplicates += 1;
                }
            }
            Err(v) => c.violations.push(v),
        });
    }

    fn size_for(&self, rng: &mut weft_net::ChaCha20Rng) -> usize {
        use rand_core::RngCore;
        let span = (self.w.max_size - self.w.size) as u64;
        if span == 0 {
            self.w.size
        } else {
            self.w.size + (rng.next_u64() % (span + 1)) as usize
        }
    }
}

/// Polls `fut` until it completes or `deadline` passes.
async fn until<T>(net: &SimNet, deadline: Instant, fut: impl Future<Output = T>) -> Option<T> {
    let mut fut = core::pin::pin!(fut);
    let mut sleep = core::pin::pin!(net.sleep_until(deadline));
    core::future::poll_fn(|cx| {
        if let core::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
            return core::task::Poll::Ready(Some(v));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return core::task::Poll::Ready(None);
        }
        core::task::Poll::Pending
    })
    .await
}

use core::future::Future;

fn wildcard() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)
}

/// udp_echo: send numbered datagrams at a pace (bursts of `burst` every `interval`), count
/// the echoes (a spawned receiver), then wait `timeout` for the last ones.
async fn echo_client(net: &SimNet, ctx: &Rc<ClientCtx>, life: u16) -> Result<(), String> {
    let server = ctx.server.ok_or("no server address")?;
    let socket = net.bind_udp(wildcard()).await.map_err(|e| e.to_string())?;
    let port = socket.local_addr().port();
    let rec = Recorder::open(net, port);
    let rx = socket.clone();
    let rctx = ctx.clone();
    let rrec = rec.clone();
    net.spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            match rx.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    let got = buf.get(..n).unwrap_or_default();
                    rrec.received(from, got);
                    if from == server {
                        rctx.answered(got);
                    } else {
                        rctx.with(|c| {
                            c.violations
                                .push(format!("a {n}-byte datagram from {from}, not the server"))
                        });
                    }
                }
                Err(e) if e.is_transient() => continue,
                Err(_) => break,
            }
        }
    });
    let mut rng = net.rng(&format!("scenario/{}/{}/sizes", ctx.wi, ctx.ci));
    for seq in 0..ctx.w.datagrams {
        if seq > 0 && seq % ctx.w.burst == 0 {
            net.sleep(ctx.w.interval).await;
        }
        let p = ctx.payload(life, seq, ctx.size_for(&mut rng));
        match socket.send_to(&p, server).await {
            Ok(()) => rec.sent(server, &p),
            Err(e) if e.is_transient() => {}
            Err(e) => {
                rec.close();
                return Err(format!("send: {e}"));
            }
        }
        ctx.with(|c| c.attempted += 1);
    }
    net.sleep(ctx.w.timeout).await;
    rec.close();
    Ok(())
}

/// A workload socket's entries in the run's ledger, which the engine's oracles judge
/// (datagram integrity, loss and duplicates): when it listened, what it sent and received.
#[derive(Clone)]
struct Recorder {
    net: SimNet,
    host: crate::HostId,
    port: u16,
}

impl Recorder {
    /// The socket bound to `port` of `net` listens from now on.
    fn open(net: &SimNet, port: u16) -> Recorder {
        let host = crate::workload::host_of(net);
        crate::workload::ledger(net)
            .borrow_mut()
            .open(host, port, net.now());
        Recorder {
            net: net.clone(),
            host,
            port,
        }
    }

    fn sent(&self, to: SocketAddrV4, payload: &[u8]) {
        let src = SocketAddrV4::new(crate::workload::own_addr(&self.net), self.port);
        crate::workload::ledger(&self.net).borrow_mut().sent(
            self.net.now(),
            self.host,
            src,
            to,
            payload,
        );
    }

    fn received(&self, from: SocketAddrV4, payload: &[u8]) {
        crate::workload::ledger(&self.net).borrow_mut().received(
            self.net.now(),
            self.host,
            from,
            self.port,
            payload,
        );
    }

    /// It no longer listens (datagrams on their way to it are no longer owed).
    fn close(&self) {
        crate::workload::ledger(&self.net)
            .borrow_mut()
            .close(self.host, self.port, self.net.now());
    }
}

/// The echo server of `udp_echo` and `request_response` workloads on `port`: every datagram
/// back to its sender, both recorded in the run's ledger.
async fn echo_server(net: SimNet, port: u16) {
    // A bind that fails shows as a workload that gets no echoes.
    let Ok(socket) = net
        .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .await
    else {
        return;
    };
    let rec = Recorder::open(&net, port);
    net.spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            match socket.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    let payload = buf.get(..n).unwrap_or_default().to_vec();
                    rec.received(from, &payload);
                    // UDP is best effort: a reply that cannot be sent is dropped, like a
                    // lost one.
                    if socket.send_to(&payload, from).await.is_ok() {
                        rec.sent(from, &payload);
                    }
                }
                // An ICMP error for an earlier reply is not the server's concern.
                Err(e) if e.is_transient() => continue,
                Err(_) => break,
            }
        }
        rec.close();
    });
}

/// request_response: one request at a time, each sent again after `timeout` without its
/// reply, at most `attempts` times.
async fn rr_client(net: &SimNet, ctx: &Rc<ClientCtx>, life: u16) -> Result<(), String> {
    let server = ctx.server.ok_or("no server address")?;
    let socket = net.bind_udp(wildcard()).await.map_err(|e| e.to_string())?;
    let rec = Recorder::open(net, socket.local_addr().port());
    let r = rr_requests(net, ctx, life, server, &socket, &rec).await;
    rec.close();
    r
}

/// The requests of [`rr_client`] on `socket`.
async fn rr_requests(
    net: &SimNet,
    ctx: &Rc<ClientCtx>,
    life: u16,
    server: SocketAddrV4,
    socket: &<SimNet as UdpNet>::UdpSocket,
    rec: &Recorder,
) -> Result<(), String> {
    let mut rng = net.rng(&format!("scenario/{}/{}/sizes", ctx.wi, ctx.ci));
    let mut buf = vec![0u8; 65_536];
    for seq in 0..ctx.w.datagrams {
        if seq > 0 && !ctx.w.interval.is_zero() {
            net.sleep(ctx.w.interval).await;
        }
        let p = ctx.payload(life, seq, ctx.size_for(&mut rng));
        let mut attempts = 0;
        'attempt: loop {
            if attempts == ctx.w.attempts {
                return Err(format!(
                    "no reply to request {seq} after {attempts} attempts of {:?}",
                    ctx.w.timeout
                ));
            }
            if attempts > 0 {
                ctx.with(|c| c.retries += 1);
            }
            attempts += 1;
            match socket.send_to(&p, server).await {
                Ok(()) => rec.sent(server, &p),
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(format!("send: {e}")),
            }
            ctx.with(|c| c.attempted += 1);
            let deadline = net.now().saturating_add(ctx.w.timeout);
            loop {
                match until(net, deadline, socket.recv_from(&mut buf)).await {
                    None => continue 'attempt,
                    Some(Ok((n, from))) => {
                        let got = buf.get(..n).unwrap_or_default();
                        rec.received(from, got);
                        if from != server {
                            ctx.with(|c| {
                                c.violations.push(format!(
                                    "a {n}-byte datagram from {from}, not the server"
                                ))
                            });
                            continue;
                        }
                        let r = ctx.check(got);
                        let this = r.as_ref().is_ok_and(|k| *k == (life, seq));
                        ctx.answered(got);
                        if this {
                            break 'attempt;
                        }
                    }
                    // A server that is rebooting answers port unreachable.
                    Some(Err(e)) if e.is_transient() => continue,
                    Some(Err(e)) => return Err(format!("receive: {e}")),
                }
            }
        }
    }
    Ok(())
}

/// dhcp: wait for a lease, then ping the server from the leased address.
async fn dhcp_client(net: &SimNet, ctx: &Rc<ClientCtx>) -> Result<(), String> {
    ctx.with(|c| c.attempted += 1);
    let me = crate::workload::host_of(net);
    // The engine's oracles judge each acquisition: one that failed (accounted to faults),
    // an address outside the pool, one address held by two hosts.
    let record = |addr: Option<Ipv4Addr>| {
        let mut l = crate::workload::ledger(net).borrow_mut();
        if let Some(a) = addr {
            l.own(me, a);
        }
        let lease = addr.and_then(|_| {
            net.dhcp_lease(IfaceId(0))
                .map(|l| (l.acquired_at, l.lease_time))
        });
        l.lease(crate::oracle::LeaseRec {
            workload: ctx.w.name.clone(),
            host: me,
            server: ctx.w.server.unwrap_or(crate::HostId::MAX),
            addr,
            lease,
            pool: ctx.w.pool,
            at: net.now(),
        });
    };
    let (addr, _) = match net.wait_address(IfaceId(0), ctx.w.timeout).await {
        Ok(a) => a,
        Err(e) => {
            record(None);
            return Err(format!("no lease within {:?}: {e}", ctx.w.timeout));
        }
    };
    let server = ctx.server.ok_or("no server address")?;
    // The address is usable once its conflict probes are done (RFC 5227): until then a
    // ping fails at once, so try for a while, not a number of times.
    let deadline = net.now().saturating_add(ctx.w.timeout);
    loop {
        if net.ping(*server.ip(), Duration::from_secs(1)).await.is_ok() {
            // Held: its conflict probes are done.
            record(Some(addr));
            ctx.with(|c| {
                c.answered.insert((0, 0));
            });
            return Ok(());
        }
        if net.now() >= deadline {
            return Err(format!(
                "leased {addr} but the server did not answer pings from it within {:?}",
                ctx.w.timeout
            ));
        }
        net.sleep(Duration::from_millis(250)).await;
    }
}

/// arp_churn: ping random peers, one at a time.
async fn churn_client(net: &SimNet, ctx: &Rc<ClientCtx>) -> Result<(), String> {
    use rand_core::RngCore;
    let peers: Vec<(usize, Ipv4Addr)> = ctx
        .peers
        .iter()
        .copied()
        .filter(|(_, p)| Some(*p) != ctx.own)
        .collect();
    let me = crate::workload::host_of(net);
    if peers.is_empty() {
        return Err("no peers".to_string());
    }
    let mut rng = net.rng(&format!("scenario/{}/{}/peers", ctx.wi, ctx.ci));
    for seq in 0..ctx.w.datagrams {
        if seq > 0 {
            net.sleep(ctx.w.interval).await;
        }
        let i = (rng.next_u64() % peers.len() as u64) as usize;
        let Some((peer_host, peer)) = peers.get(i).copied() else {
            continue;
        };
        ctx.with(|c| c.attempted += 1);
        let at = net.now();
        let ok = net.ping(peer, ctx.w.timeout).await.is_ok();
        // The engine's loss oracle accounts for the pings that failed.
        crate::workload::ledger(net)
            .borrow_mut()
            .ping(at, me, peer_host, ok);
        if ok {
            ctx.with(|c| {
                c.answered.insert((0, seq));
            });
        }
    }
    Ok(())
}

/// The project's DHCP server on port 67 (state lost when the host crashes).
async fn dhcp_server(net: SimNet, cfg: weft_core::dhcp::server::DhcpServerConfig) {
    use weft_wire::dhcp::{DhcpPacket, DhcpRepr};
    let Ok(mut server) = weft_core::dhcp::server::DhcpServer::new(cfg) else {
        return;
    };
    let Ok(socket) = net
        .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67))
        .await
    else {
        return;
    };
    let task_net = net.clone();
    net.spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, _) = match socket.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) if e.is_transient() => continue,
                Err(_) => break,
            };
            let reply = {
                let Ok(p) = DhcpPacket::new_checked(buf.get(..n).unwrap_or_default()) else {
                    continue;
                };
                let Ok(repr) = DhcpRepr::parse(&p) else {
                    continue;
                };
                server.handle(task_net.now(), &repr)
            };
            if let Some(r) = reply {
                let mut out = vec![0u8; r.message.buffer_len()];
                if r.message.emit(&mut out).is_ok() {
                    let _ = socket
                        .send_to(&out, SocketAddrV4::new(r.dst, r.dst_port))
                        .await;
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// Outcomes

/// A kind of fault, as counted across a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Frames lost on Bernoulli links.
    Loss,
    /// Frames lost on Gilbert-Elliott links.
    BurstLoss,
    /// Frames delivered twice.
    Duplicate,
    /// Frames held back so later ones passed.
    Reorder,
    /// Frames with a bit flipped.
    Corrupt,
    /// Frames dropped by a full link queue.
    QueueDrop,
    /// Frames dropped as larger than the link's MTU.
    MtuDrop,
    /// Frames dropped on a partitioned link.
    Partition,
    /// Host crashes.
    Crash,
    /// Host restarts.
    Restart,
    /// TCP segments sent again (the stacks' loss recovery, as their counters say).
    TcpRetransmit,
    /// TCP fast retransmits (a third duplicate ACK, RFC 5681 §3.2).
    TcpFastRetransmit,
    /// TCP retransmission timeouts (RFC 6298 §5).
    TcpRto,
}

impl FaultKind {
    /// Every kind: the faults injected, then TCP's recovery from them.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Loss,
        FaultKind::BurstLoss,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::Corrupt,
        FaultKind::QueueDrop,
        FaultKind::MtuDrop,
        FaultKind::Partition,
        FaultKind::Crash,
        FaultKind::Restart,
        FaultKind::TcpRetransmit,
        FaultKind::TcpFastRetransmit,
        FaultKind::TcpRto,
    ];

    /// Its name in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Loss => "loss",
            FaultKind::BurstLoss => "burst-loss",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::Corrupt => "corrupt",
            FaultKind::QueueDrop => "queue-drop",
            FaultKind::MtuDrop => "mtu-drop",
            FaultKind::Partition => "partition",
            FaultKind::Crash => "crash",
            FaultKind::Restart => "restart",
            FaultKind::TcpRetransmit => "tcp-retransmit",
            FaultKind::TcpFastRetransmit => "tcp-fast-retransmit",
            FaultKind::TcpRto => "tcp-rto",
        }
    }
}

/// Faults that fired, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts([u64; 13]);

impl FaultCounts {
    /// How many of `kind`.
    pub fn get(&self, kind: FaultKind) -> u64 {
        self.0.get(kind as usize).copied().unwrap_or(0)
    }

    fn add(&mut self, kind: FaultKind, n: u64) {
        if let Some(v) = self.0.get_mut(kind as usize) {
            *v += n;
        }
    }

    /// Adds another run's counts.
    pub fn merge(&mut self, o: &FaultCounts) {
        for k in FaultKind::ALL {
            self.add(k, o.get(k));
        }
    }

    /// The kinds that did not fire.
    pub fn missing(&self) -> Vec<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .filter(|k| self.get(*k) == 0)
            .collect()
    }
}

/// One workload at the end of a run.
#[derive(Debug, Clone)]
pub struct WorkloadOutcome {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: WorkloadKind,
    /// Clients.
    pub clients: usize,
    /// Clients that finished.
    pub finished: usize,
    /// Datagrams, requests, pings or lease attempts made (retries included).
    pub sent: u64,
    /// Distinct datagrams, requests, pings or leases answered.
    pub delivered: u64,
    /// Answers that came more than once.
    pub duplicates: u64,
    /// Requests sent again.
    pub retries: u64,
    /// Why clients stopped early.
    pub errors: Vec<String>,
    /// Integrity violations the clients saw: an answer that was not one sent, or a datagram
    /// from another host than the server (the engine's oracles judge leases).
    pub violations: Vec<String>,
    /// TCP connections opened.
    pub connections: u64,
    /// TCP connections (and connects) that failed.
    pub connection_errors: u64,
    /// TCP bytes read by both ends, each checked against the byte written.
    pub bytes: u64,
}

impl WorkloadOutcome {
    /// Delivered over sent (without retries), 1 when nothing was sent.
    pub fn delivery(&self) -> f64 {
        let base = self.sent.saturating_sub(self.retries);
        if base == 0 {
            1.0
        } else {
            self.delivered as f64 / base as f64
        }
    }
}

/// Datagrams the `udp_echo` and `request_response` clients sent, retries included.
fn client_datagrams(workloads: &[WorkloadOutcome]) -> u64 {
    workloads
        .iter()
        .filter(|w| {
            matches!(
                w.kind,
                WorkloadKind::UdpEcho | WorkloadKind::RequestResponse
            )
        })
        .map(|w| w.sent)
        .sum()
}

/// A scenario run: the engine's report, the workloads' ledgers, the faults by kind and the
/// expectations that failed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario's name.
    pub scenario: String,
    /// The engine's report.
    pub report: Report,
    /// Each workload.
    pub workloads: Vec<WorkloadOutcome>,
    /// Faults that fired, by kind.
    pub faults: FaultCounts,
    /// Expectations that failed (empty: the run passed).
    pub failures: Vec<String>,
}

impl Outcome {
    /// True when every expectation held.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// Datagrams the UDP workloads' clients sent (echoes and requests, retries included;
    /// `min_datagrams` counts these).
    pub fn datagrams(&self) -> u64 {
        client_datagrams(&self.workloads)
    }

    /// TCP stream bytes the workloads moved (read by either end, each checked;
    /// `min_stream_bytes` counts these).
    pub fn tcp_bytes(&self) -> u64 {
        self.report.streams.bytes_received
    }

    /// The run as text: the engine's tables, the workloads, faults by kind, the verdict.
    /// Deterministic (no wall-clock times).
    pub fn summary(&self) -> String {
        let mut s = format!("scenario {}\n", self.scenario);
        s.push_str(&self.report.summary());
        s.push_str(&format!(
            "{:<20} {:<20} {:>7} {:>8} {:>8} {:>7} {:>5} {:>7} {:>6}\n",
            "workload", "kind", "clients", "sent", "answered", "rate", "dup", "retries", "errors"
        ));
        for w in &self.workloads {
            s.push_str(&format!(
                "{:<20} {:<20} {:>7} {:>8} {:>8} {:>6.1}% {:>5} {:>7} {:>6}\n",
                w.name,
                w.kind.name(),
                format!("{}/{}", w.finished, w.clients),
                w.sent,
                w.delivered,
                w.delivery() * 100.0,
                w.duplicates,
                w.retries,
                w.errors.len() + w.violations.len() + w.connection_errors as usize
            ));
        }
        s.push_str("faults:");
        for k in FaultKind::ALL {
            s.push_str(&format!(" {} {}", k.name(), self.faults.get(k)));
        }
        s.push('\n');
        if self.ok() {
            s.push_str("expectations: all met\n");
        } else {
            s.push_str("expectations: FAILED\n");
            for f in &self.failures {
                s.push_str(&format!("  - {f}\n"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_durations_bandwidths_and_ranges_parse() {
        assert_eq!(parse_duration("5ms"), Some(Duration::from_millis(5)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250 us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_bandwidth("10Mbit"), Some(10_000_000));
        assert_eq!(parse_bandwidth("1.5 Gbit"), Some(1_500_000_000));
        assert_eq!(parse_bandwidth("10 furlongs"), None);
        assert_eq!(parse_seed_range("0..1000"), Some(0..1000));
        assert_eq!(parse_seed_range("5..5"), None);
        assert_eq!(parse_seed_range("x..5"), None);
    }

    #[test]
    fn scenario_error_positions_count_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        let e = ScenarioError::at("f.toml", text, text.find('2').unwrap(), "bad".into());
        assert_eq!(e.position(), Some((2, 6)));
        let shown = e.to_string();
        assert!(shown.starts_with("f.toml:2:6: bad"), "{shown}");
        assert!(shown.contains("bé = 2"), "{shown}");
        assert!(shown.contains("     ^"), "{shown}");
    }

    #[test]
    fn scenario_payloads_check_their_own_bytes() {
        let s = Scenario::parse(
            "[[switches]]\nname='l'\n[[hosts]]\nname='s'\nswitch='l'\naddress='10.0.0.1/24'\n\
             [[hosts]]\nname='c'\nswitch='l'\naddress='10.0.0.2/24'\n\
             [[workloads]]\nkind='udp_echo'\nserver='s'\nclients=['c']\n",
            "t",
            "t",
        )
        .unwrap();
        let ctx = ClientCtx {
            w: s.workloads[0].clone(),
            wi: 0,
            ci: 0,
            server: None,
            own: None,
            peers: Vec::new(),
            ledger: Rc::new(RefCell::new(Ledger::new(&s))),
        };
        let p = ctx.payload(1, 42, 100);
        assert_eq!(p.len(), 100);
        assert_eq!(ctx.check(&p), Ok((1, 42)));
        let mut bad = p.clone();
        bad[50] ^= 1;
        assert!(ctx.check(&bad).unwrap_err().contains("differs"));
        assert!(ctx.check(&p[..5]).is_err());
        assert_ne!(ctx.payload(2, 42, 100), p, "lives differ");
    }
}
