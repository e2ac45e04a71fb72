//! The simulation: hosts (weft stacks running user code, or raw hosts: anything else that
//! speaks Ethernet, given the bare NIC), switches, links, a schedule of partitions and
//! crashes, and the run loop.

use crate::determinism::{TraceEvent, TraceKind};
use crate::executor::{EventKind, Executor, HostId, Shared, SimRuntime};
use crate::fabric::{FNV_OFFSET, Fabric, FaultSource, LinkCounters, LinkSpec, SimLink, fnv};
use crate::monitor::MonitorReport;
#[cfg(feature = "planted-bugs")]
use crate::oracle::PlantedBug;
use crate::oracle::{
    DatagramTotals, Disruption, OracleConfig, OracleFailure, PathFaults, StreamTotals,
    WorkloadReport,
};
use crate::tape::Tape;
use crate::workload::{HostInfo, Workload};
use core::future::Future;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::rc::Rc;
use weft_core::tcp::conn::ConnStats;
use weft_core::{Counters, Duration, IfaceId, Instant, InterfaceConfig, Ipv4Config, StackConfig};
use weft_net::direct::{self, DirectCounters, DirectNet};
use weft_net::runtime::Task;
use weft_wire::MacAddr;

/// The handle a host's application gets: the direct backend on virtual time.
pub type SimNet = DirectNet<SimRuntime>;

type AppFn = Rc<dyn Fn(SimNet) -> Task>;

/// A raw host's application: its NIC and the virtual-time runtime.
type RawFn = Rc<dyn Fn(SimLink, SimRuntime) -> Task>;

/// What an application runs on.
#[derive(Clone)]
enum AppBody {
    /// The host's weft stack.
    Stack(AppFn),
    /// The bare NIC of a raw host.
    Raw(RawFn),
}

/// An application of a host.
#[derive(Clone)]
struct AppDef {
    name: String,
    body: AppBody,
    /// A server: not expected to finish, and the run does not wait for it.
    daemon: bool,
}

/// One interface of a host.
#[derive(Debug, Clone)]
struct IfaceSpec {
    switch: String,
    ipv4: Ipv4Config,
    link: LinkSpec,
}

/// A host's network configuration: its interfaces (each on a switch) and stack settings.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    ifaces: Vec<IfaceSpec>,
    limits: Option<weft_core::Limits>,
}

impl HostConfig {
    /// One interface on `switch` with a static address.
    pub fn on(switch: &str, addr: Ipv4Addr, prefix_len: u8) -> HostConfig {
        HostConfig::default().and_on(switch, addr, prefix_len)
    }

    /// One interface on `switch` that acquires its address by DHCP.
    pub fn dhcp(switch: &str) -> HostConfig {
        let mut c = HostConfig::default();
        c.ifaces.push(IfaceSpec {
            switch: switch.to_string(),
            ipv4: Ipv4Config::Dhcp,
            link: LinkSpec::default(),
        });
        c
    }

    /// Another interface, on `switch`, with a static address.
    pub fn and_on(mut self, switch: &str, addr: Ipv4Addr, prefix_len: u8) -> HostConfig {
        self.ifaces.push(IfaceSpec {
            switch: switch.to_string(),
            ipv4: Ipv4Config::Static {
                addr,
                prefix_len,
                gateway: None,
            },
            link: LinkSpec::default(),
        });
        self
    }

    /// The link of the interface added last.
    pub fn link(mut self, spec: LinkSpec) -> HostConfig {
        if let Some(i) = self.ifaces.last_mut() {
            i.link = spec;
        }
        self
    }

    /// The stack's limits.
    pub fn limits(mut self, limits: weft_core::Limits) -> HostConfig {
        self.limits = Some(limits);
        self
    }

    /// Interfaces.
    pub fn interfaces(&self) -> usize {
        self.ifaces.len()
    }

    /// Interface `iface`'s static address and prefix length (`None` for DHCP or no such
    /// interface).
    pub fn static_address(&self, iface: usize) -> Option<(Ipv4Addr, u8)> {
        match self.ifaces.get(iface).map(|i| &i.ipv4) {
            Some(Ipv4Config::Static {
                addr, prefix_len, ..
            }) => Some((*addr, *prefix_len)),
            _ => None,
        }
    }

    /// The switch interface `iface` is on.
    pub fn switch_of(&self, iface: usize) -> Option<&str> {
        self.ifaces.get(iface).map(|i| i.switch.as_str())
    }
}

/// Something scheduled to happen to the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The link of `host`'s interface `iface` goes down (frames on it are dropped).
    Partition {
        /// Host name.
        host: String,
        /// Interface index.
        iface: usize,
    },
    /// It comes back.
    Heal {
        /// Host name.
        host: String,
        /// Interface index.
        iface: usize,
    },
    /// The host stops: its tasks and stack are gone, its NICs lose what they held and drop
    /// what arrives until it restarts (counted as [`LinkCounters::down_drops`]).
    Crash {
        /// Host name.
        host: String,
    },
    /// The host boots again: a fresh stack and its application from the start.
    Restart {
        /// Host name.
        host: String,
    },
}

/// Why a simulation could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A host names a switch that was not added.
    #[error(
        "host `{host}` is on switch `{switch}`, which does not exist (add it with .switch(\"{switch}\"))"
    )]
    UnknownSwitch {
        /// The host.
        host: String,
        /// The missing switch.
        switch: String,
    },
    /// An action names a host or interface that does not exist.
    #[error("scheduled action names `{0}`, which is not a host (or not one of its interfaces)")]
    UnknownHost(String),
    /// Two nodes share a name.
    #[error("the name `{0}` is used twice")]
    DuplicateName(String),
    /// A host has no interface.
    #[error("host `{0}` has no interface")]
    NoInterface(String),
    /// The stack rejected a host's configuration.
    #[error("host `{host}`: {problem}")]
    Stack {
        /// The host.
        host: String,
        /// The stack's complaint.
        problem: String,
    },
    /// A workload cannot be installed.
    #[error("workload `{workload}`: {problem}")]
    Workload {
        /// The workload's name.
        workload: String,
        /// What is wrong.
        problem: String,
    },
    /// A raw host ([`SimBuilder::raw_host`]) was given what only a weft host can have: an
    /// application or workload on a weft stack, a crash or restart, an interface the
    /// simulator cannot describe to the monitor.
    #[error("host `{host}` is a raw host (not a weft stack): {problem}")]
    RawHost {
        /// The host.
        host: String,
        /// What it cannot have.
        problem: &'static str,
    },
}

/// [`SimError::RawHost`]: a raw host's configuration.
const RAW_CONFIG: &str = "it needs exactly one interface, with a static address (the sender-side \
     monitor checks its frames against that address and the MAC the simulator gives it)";
/// [`SimError::RawHost`]: applications and workloads.
const RAW_APPS: &str =
    "it has no weft stack to run applications or workloads on (its own closure is its application)";
/// [`SimError::RawHost`]: crash and restart.
const RAW_CRASH: &str = "crash and restart are not supported for raw hosts (partitions are)";

#[derive(Clone)]
struct HostDef {
    name: String,
    cfg: HostConfig,
    apps: Vec<AppDef>,
    /// Not a weft stack: its one application gets the bare NIC.
    raw: bool,
}

/// Builds a simulation. Cloning is cheap (applications are shared), so one builder can be
/// varied and run many times: with another fault source, smaller workloads, tracing.
#[derive(Clone)]
pub struct SimBuilder {
    switches: Vec<String>,
    hosts: Vec<HostDef>,
    schedule: Vec<(Instant, Action)>,
    until: Instant,
    pcap: bool,
    faults: FaultSource,
    /// Hosts named by `app` that do not exist.
    orphans: Vec<String>,
    workloads: Vec<Workload>,
    oracles: OracleConfig,
    trace_events: bool,
    #[cfg(feature = "planted-bugs")]
    planted: Vec<PlantedBug>,
}

impl core::fmt::Debug for SimBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimBuilder")
            .field("switches", &self.switches)
            .field(
                "hosts",
                &self.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .field("schedule", &self.schedule)
            .field("until", &self.until)
            .field("workloads", &self.workloads)
            .finish()
    }
}

/// The entry point: `Sim::builder()`.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// A simulation with nothing in it; runs for at most one virtual hour.
    pub fn builder() -> SimBuilder {
        SimBuilder {
            switches: Vec::new(),
            hosts: Vec::new(),
            schedule: Vec::new(),
            until: Instant::from_secs(3600),
            pcap: false,
            faults: FaultSource::Random,
            orphans: Vec::new(),
            workloads: Vec::new(),
            oracles: OracleConfig::default(),
            trace_events: false,
            #[cfg(feature = "planted-bugs")]
            planted: Vec::new(),
        }
    }
}

impl SimBuilder {
    /// A learning switch.
    pub fn switch(mut self, name: &str) -> SimBuilder {
        self.switches.push(name.to_string());
        self
    }

    /// A host running `app` (from the start, and again after each restart).
    pub fn host<F, Fut>(mut self, name: &str, cfg: HostConfig, app: F) -> SimBuilder
    where
        F: Fn(SimNet) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let app: AppFn = Rc::new(move |net| Box::pin(app(net)));
        self.hosts.push(HostDef {
            name: name.to_string(),
            cfg,
            apps: vec![AppDef {
                name: "main".to_string(),
                body: AppBody::Stack(app),
                daemon: false,
            }],
            raw: false,
        });
        self
    }

    /// A host with no application of its own (workloads may add some with [`SimBuilder::app`]).
    pub fn idle_host(mut self, name: &str, cfg: HostConfig) -> SimBuilder {
        self.hosts.push(HostDef {
            name: name.to_string(),
            cfg,
            apps: Vec::new(),
            raw: false,
        });
        self
    }

    /// A raw host: not a weft stack but anything else that speaks Ethernet (another TCP/IP
    /// stack, a frame generator, a misbehaving peer). `app` gets the host's bare NIC — frames
    /// in and out with weft-core's [`weft_core::link::Link`] (`receive`, `transmit`),
    /// readiness with [`weft_net::link::AsyncLink::poll_recv_ready`], its MAC with
    /// [`SimLink::mac`] — and the virtual-time runtime ([`weft_net::runtime::Runtime`]:
    /// `now`, `sleep_until`, `spawn`), and is the host's application: the run waits for it to
    /// return, as for [`SimBuilder::host`].
    ///
    /// `cfg` must have exactly one interface with a static address: the address the raw host
    /// uses, which the sender-side monitor checks its frames against (with the MAC). The
    /// link's spec, faults, tape, pcap and oracles apply to it like to any other. A raw host
    /// cannot be crashed or restarted, nor get [`SimBuilder::app`]s or workloads
    /// ([`SimError::RawHost`]).
    pub fn raw_host<F, Fut>(self, name: &str, cfg: HostConfig, app: F) -> SimBuilder
    where
        F: Fn(SimLink, SimRuntime) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.add_raw(
            name,
            cfg,
            Rc::new(move |nic, rt| Box::pin(app(nic, rt))),
            false,
        )
    }

    /// A raw host ([`SimBuilder::raw_host`]) whose application is a server: never expected
    /// to finish; the run does not wait for it.
    pub fn raw_daemon<F, Fut>(self, name: &str, cfg: HostConfig, app: F) -> SimBuilder
    where
        F: Fn(SimLink, SimRuntime) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.add_raw(
            name,
            cfg,
            Rc::new(move |nic, rt| Box::pin(app(nic, rt))),
            true,
        )
    }

    fn add_raw(mut self, name: &str, cfg: HostConfig, f: RawFn, daemon: bool) -> SimBuilder {
        self.hosts.push(HostDef {
            name: name.to_string(),
            cfg,
            apps: vec![AppDef {
                name: if daemon { "daemon" } else { "main" }.to_string(),
                body: AppBody::Raw(f),
                daemon,
            }],
            raw: true,
        });
        self
    }

    /// Another application on host `host`, started with it (and after each restart). An
    /// unknown host is reported by [`SimBuilder::run`].
    pub fn app<F, Fut>(self, host: &str, app: F) -> SimBuilder
    where
        F: Fn(SimNet) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.add_app(host, Rc::new(move |net| Box::pin(app(net))), false)
    }

    /// A server application on `host`: started with it (and after each restart), never
    /// expected to finish; the run does not wait for it.
    pub fn daemon<F, Fut>(self, host: &str, app: F) -> SimBuilder
    where
        F: Fn(SimNet) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.add_app(host, Rc::new(move |net| Box::pin(app(net))), true)
    }

    fn add_app(mut self, host: &str, f: AppFn, daemon: bool) -> SimBuilder {
        match self.hosts.iter_mut().find(|h| h.name == host) {
            Some(h) => {
                let name = format!("{}{}", if daemon { "daemon" } else { "app" }, h.apps.len());
                h.apps.push(AppDef {
                    name,
                    body: AppBody::Stack(f),
                    daemon,
                });
            }
            None => self.orphans.push(host.to_string()),
        }
        self
    }

    /// Adds a workload (see [`crate::workload`]); an unnamed one is named after its kind and
    /// position (`udp-echo0`, ...). Its hosts are checked by [`SimBuilder::run`].
    pub fn workload(mut self, w: impl Into<Workload>) -> SimBuilder {
        let mut w = w.into();
        if w.name().is_empty() {
            w.set_name(format!("{}{}", w.kind(), self.workloads.len()));
        }
        self.workloads.push(w);
        self
    }

    /// The workloads, in the order they were added.
    pub fn workloads(&self) -> &[Workload] {
        &self.workloads
    }

    /// Replaces the workloads (shrinking runs smaller ones).
    pub fn set_workloads(mut self, workloads: Vec<Workload>) -> SimBuilder {
        self.workloads = workloads;
        self
    }

    /// What the oracles allow.
    pub fn oracles(mut self, config: OracleConfig) -> SimBuilder {
        self.oracles = config;
        self
    }

    /// Records every event in [`Report::event_trace`] (for the determinism check; costs
    /// memory in proportion to the events).
    pub fn trace_events(mut self, on: bool) -> SimBuilder {
        self.trace_events = on;
        self
    }

    /// Plants a bug (test builds with the `planted-bugs` feature only).
    #[cfg(feature = "planted-bugs")]
    pub fn plant(mut self, bug: PlantedBug) -> SimBuilder {
        self.planted.push(bug);
        self
    }

    /// The fault source.
    pub fn fault_source(&self) -> &FaultSource {
        &self.faults
    }

    /// Host configurations by name, in the order hosts were added.
    pub fn host_configs(&self) -> Vec<(String, HostConfig)> {
        self.hosts
            .iter()
            .map(|h| (h.name.clone(), h.cfg.clone()))
            .collect()
    }

    /// Host names, in the order they were added.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }

    /// Schedules `action` at `at`.
    pub fn at(mut self, at: Instant, action: Action) -> SimBuilder {
        self.schedule.push((at, action));
        self
    }

    /// Stops the run at `t` even if applications are still running (they are reported as
    /// unfinished).
    pub fn until(mut self, t: Instant) -> SimBuilder {
        self.until = t;
        self
    }

    /// Captures every link's deliveries into a pcap (in the report).
    pub fn pcap(mut self, on: bool) -> SimBuilder {
        self.pcap = on;
        self
    }

    /// Where fault decisions come from (the seed's streams by default, or a tape).
    pub fn faults(mut self, source: FaultSource) -> SimBuilder {
        self.faults = source;
        self
    }

    /// Runs the simulation with `seed`.
    pub fn run(&self, seed: u64) -> Result<Report, SimError> {
        Run::new(self, seed)?.run()
    }
}

struct HostState {
    name: String,
    cfg: HostConfig,
    apps: Vec<AppDef>,
    /// A raw host (no stack: `net` stays `None`).
    raw: bool,
    endpoints: Vec<usize>,
    net: Option<SimNet>,
    /// Applications (not daemons) still running.
    running: Rc<Cell<usize>>,
    /// Per application of the current life: returned (daemons count as done).
    done: Rc<RefCell<Vec<bool>>>,
    incarnation: u32,
    crashes: u32,
    last_counters: Counters,
    last_driver: DirectCounters,
    /// TCP counters of the lives that ended in a crash.
    tcp_past: ConnStats,
    /// Datagram drops (out, in) the stacks of the lives that ended in a crash counted.
    drops_past: (u64, u64),
}

/// Why the run loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Every application returned.
    Finished,
    /// Nothing left to happen, ever.
    Idle,
    /// The time limit.
    Until,
}

struct Run {
    seed: u64,
    shared: Rc<Shared>,
    fabric: Rc<RefCell<Fabric>>,
    exec: Executor,
    hosts: Vec<HostState>,
    schedule: Vec<(Instant, Action)>,
    until: Instant,
    oracles: OracleConfig,
    trace: Option<Vec<TraceEvent>>,
    event_digest: u64,
    /// Hosts whose current life still has applications (not daemons) running.
    unfinished: Rc<Cell<usize>>,
    #[cfg(feature = "planted-bugs")]
    planted: Vec<PlantedBug>,
}

/// Host `h`'s interface MAC: locally administered, unique per host and interface.
fn mac_for(h: usize, iface: usize) -> MacAddr {
    let h = h as u32;
    MacAddr([
        0x02,
        (iface & 0xff) as u8,
        (h >> 24) as u8,
        (h >> 16) as u8,
        (h >> 8) as u8,
        h as u8,
    ])
}

impl Run {
    fn new(b: &SimBuilder, seed: u64) -> Result<Run, SimError> {
        if let Some(h) = b.orphans.first() {
            return Err(SimError::UnknownHost(h.clone()));
        }
        let mut names: Vec<&str> = b.switches.iter().map(String::as_str).collect();
        names.extend(b.hosts.iter().map(|h| h.name.as_str()));
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w.first() == w.get(1)) {
            return Err(SimError::DuplicateName(
                w.first().map(|s| s.to_string()).unwrap_or_default(),
            ));
        }
        #[cfg(feature = "planted-bugs")]
        let bugs = crate::workload::WorkloadBugs {
            accept_stale: b.planted.contains(&PlantedBug::AcceptStaleAfterRetry),
            impatient: b.planted.iter().find_map(|p| match p {
                PlantedBug::TcpImpatientClient { wait } => Some(*wait),
                _ => None,
            }),
            foreign_stream: b.planted.contains(&PlantedBug::TcpForeignStream),
            dhcp_lie: b.planted.iter().find_map(|p| match p {
                PlantedBug::DhcpSameAddress => Some(crate::workload::DhcpLie::SameAddress),
                PlantedBug::DhcpOutsidePool => Some(crate::workload::DhcpLie::OutsidePool),
                _ => None,
            }),
        };
        #[cfg(not(feature = "planted-bugs"))]
        let bugs = crate::workload::WorkloadBugs::default();
        let infos: Vec<HostInfo> = b
            .hosts
            .iter()
            .map(|h| HostInfo {
                name: h.name.clone(),
                static_addr: h.cfg.static_address(0),
            })
            .collect();
        let (installs, workloads) = crate::workload::install(&b.workloads, &infos, bugs)
            .map_err(|(workload, problem)| SimError::Workload { workload, problem })?;
        let mut host_apps: Vec<Vec<AppDef>> = b.hosts.iter().map(|h| h.apps.clone()).collect();
        for i in installs {
            if let Some(v) = host_apps.get_mut(i.host) {
                v.push(AppDef {
                    name: i.name,
                    body: AppBody::Stack(i.app),
                    daemon: i.daemon,
                });
            }
        }
        let mut fabric = Fabric::new(b.faults.clone(), b.oracles.monitor);
        #[cfg(feature = "planted-bugs")]
        fabric.plant(&b.planted);
        for name in &b.switches {
            fabric.add_switch(name.clone());
        }
        let shared = Shared::new();
        let mut hosts = Vec::new();
        for ((h, def), apps) in b.hosts.iter().enumerate().zip(host_apps) {
            if def.cfg.ifaces.is_empty() {
                return Err(SimError::NoInterface(def.name.clone()));
            }
            if def.raw {
                let raw_err = |problem| SimError::RawHost {
                    host: def.name.clone(),
                    problem,
                };
                if def.cfg.ifaces.len() != 1 || def.cfg.static_address(0).is_none() {
                    return Err(raw_err(RAW_CONFIG));
                }
                if apps.iter().any(|a| matches!(a.body, AppBody::Stack(_))) {
                    return Err(raw_err(RAW_APPS));
                }
            }
            let mut endpoints = Vec::new();
            for (i, iface) in def.cfg.ifaces.iter().enumerate() {
                let Some(sw) = b.switches.iter().position(|s| *s == iface.switch) else {
                    return Err(SimError::UnknownSwitch {
                        host: def.name.clone(),
                        switch: iface.switch.clone(),
                    });
                };
                let name = if def.cfg.ifaces.len() == 1 {
                    format!("{}-{}", def.name, iface.switch)
                } else {
                    format!("{}{}-{}", def.name, i, iface.switch)
                };
                let ep = fabric.connect(name, h, sw, &iface.link, seed, b.pcap);
                let addrs: Vec<Ipv4Addr> = def
                    .cfg
                    .static_address(i)
                    .map(|(a, _)| a)
                    .into_iter()
                    .collect();
                fabric.marks.set_nic(ep, mac_for(h, i).0, addrs.clone());
                if let Some(m) = fabric.monitor.as_mut() {
                    m.register(
                        ep,
                        h,
                        &def.name,
                        mac_for(h, i),
                        iface.link.a_to_b.mtu,
                        &addrs,
                    );
                }
                let mut l = shared.ledger.borrow_mut();
                for a in addrs {
                    l.own(h, a);
                }
                endpoints.push(ep);
            }
            hosts.push(HostState {
                name: def.name.clone(),
                cfg: def.cfg.clone(),
                apps,
                raw: def.raw,
                endpoints,
                net: None,
                running: Rc::new(Cell::new(0)),
                done: Rc::default(),
                incarnation: 0,
                crashes: 0,
                last_counters: Counters::default(),
                last_driver: DirectCounters::default(),
                tcp_past: ConnStats::default(),
                drops_past: (0, 0),
            });
        }
        for (_, a) in &b.schedule {
            let (host, iface) = match a {
                Action::Partition { host, iface } | Action::Heal { host, iface } => {
                    (host, Some(*iface))
                }
                Action::Crash { host } | Action::Restart { host } => (host, None),
            };
            let found = hosts.iter().find(|h| h.name == *host);
            let ok = found.is_some_and(|h| iface.is_none_or(|i| i < h.endpoints.len()));
            if !ok {
                return Err(SimError::UnknownHost(host.clone()));
            }
            if iface.is_none() && found.is_some_and(|h| h.raw) {
                return Err(SimError::RawHost {
                    host: host.clone(),
                    problem: RAW_CRASH,
                });
            }
        }
        {
            let mut l = shared.ledger.borrow_mut();
            l.host_names = hosts.iter().map(|h| h.name.clone()).collect();
            l.workloads = workloads;
        }
        let mut run = Run {
            seed,
            shared,
            fabric: Rc::new(RefCell::new(fabric)),
            exec: Executor::new(),
            hosts,
            schedule: b.schedule.clone(),
            until: b.until,
            oracles: b.oracles.clone(),
            trace: b.trace_events.then(Vec::new),
            event_digest: FNV_OFFSET,
            unfinished: Rc::new(Cell::new(0)),
            #[cfg(feature = "planted-bugs")]
            planted: b.planted.clone(),
        };
        for (i, (at, _)) in run.schedule.iter().enumerate() {
            run.shared
                .events
                .borrow_mut()
                .schedule(*at, EventKind::Scheduled(i));
        }
        for h in 0..run.hosts.len() {
            run.boot(h)?;
        }
        Ok(run)
    }

    /// Starts host `h`'s stack and applications.
    fn boot(&mut self, h: HostId) -> Result<(), SimError> {
        let Some(host) = self.hosts.get_mut(h) else {
            return Ok(());
        };
        let rt = SimRuntime {
            shared: self.shared.clone(),
            host: h,
        };
        let (net, mut nic) = if host.raw {
            // Run::new checked: one interface.
            let nic = host
                .cfg
                .ifaces
                .first()
                .zip(host.endpoints.first())
                .map(|(spec, ep)| SimLink {
                    fabric: self.fabric.clone(),
                    endpoint: *ep,
                    max_frame: usize::from(spec.link.a_to_b.mtu) + 14,
                    mac: mac_for(h, 0),
                });
            (None, nic)
        } else {
            (Some(self.start_stack(h, &rt)?), None)
        };
        let Some(host) = self.hosts.get_mut(h) else {
            return Ok(());
        };
        {
            let mut f = self.fabric.borrow_mut();
            for ep in &host.endpoints {
                f.nic_up(*ep);
            }
        }
        let running = Rc::new(Cell::new(host.apps.iter().filter(|a| !a.daemon).count()));
        // This life's applications replace the last life's in the count of unfinished hosts.
        let unfinished = &self.unfinished;
        if host.running.get() > 0 {
            unfinished.set(unfinished.get().saturating_sub(1));
        }
        if running.get() > 0 {
            unfinished.set(unfinished.get() + 1);
        }
        let done = Rc::new(RefCell::new(
            host.apps.iter().map(|a| a.daemon).collect::<Vec<_>>(),
        ));
        host.running = running.clone();
        host.done = done.clone();
        for (i, app) in host.apps.iter().enumerate() {
            let fut = match (&app.body, &net) {
                (AppBody::Stack(f), Some(net)) => f(net.clone()),
                (AppBody::Raw(f), _) => match nic.take() {
                    Some(nic) => f(nic, rt.clone()),
                    None => continue,
                },
                // Run::new refuses applications on a raw host's missing stack.
                (AppBody::Stack(_), None) => continue,
            };
            let daemon = app.daemon;
            let running = running.clone();
            let unfinished = self.unfinished.clone();
            let done = done.clone();
            weft_net::runtime::Runtime::spawn(
                &rt,
                Box::pin(async move {
                    fut.await;
                    if !daemon {
                        running.set(running.get().saturating_sub(1));
                        if running.get() == 0 {
                            unfinished.set(unfinished.get().saturating_sub(1));
                        }
                    }
                    if let Some(d) = done.borrow_mut().get_mut(i) {
                        *d = true;
                    }
                }),
            );
        }
        host.net = net;
        Ok(())
    }

    /// Starts host `h`'s weft stack on its interfaces.
    fn start_stack(&mut self, h: HostId, rt: &SimRuntime) -> Result<SimNet, SimError> {
        let Some(host) = self.hosts.get_mut(h) else {
            return Err(SimError::UnknownHost(h.to_string()));
        };
        // Each host, and each of its lives, gets its own stream of the run's seed.
        let host_seed = fnv(
            self.seed ^ FNV_OFFSET,
            format!("host/{}/{}", host.name, host.incarnation).as_bytes(),
        );
        let mut config = StackConfig::new(host_seed);
        if let Some(l) = &host.cfg.limits {
            config.limits = *l;
        }
        let mut b = direct::builder(config);
        for (i, (spec, ep)) in host.cfg.ifaces.iter().zip(&host.endpoints).enumerate() {
            let mut ic = InterfaceConfig::ethernet(mac_for(h, i), Ipv4Addr::UNSPECIFIED, 0);
            ic.ipv4 = spec.ipv4.clone();
            ic.mtu = spec.link.a_to_b.mtu;
            b.interface(
                ic,
                SimLink {
                    fabric: self.fabric.clone(),
                    endpoint: *ep,
                    max_frame: usize::from(spec.link.a_to_b.mtu) + 14,
                    mac: mac_for(h, i),
                },
            );
        }
        b.start(rt.clone()).map_err(|e| SimError::Stack {
            host: host.name.clone(),
            problem: e.to_string(),
        })
    }

    fn crash(&mut self, h: HostId) {
        let now = self.shared.now.get();
        if let Some(host) = self.hosts.get_mut(h) {
            if let Some(net) = host.net.take() {
                let grants = net.with_stack(|s, _| s.dhcp_grants().0.copied().collect::<Vec<_>>());
                self.shared.ledger.borrow_mut().grants(h, grants);
                host.last_counters = net.counters();
                host.last_driver = net.driver_counters();
                let tcp = net.with_stack(|s, _| s.tcp_stats_total());
                host.tcp_past.accumulate(&tcp);
                let (out, inn) = datagram_drops(&host.last_counters);
                host.drops_past.0 += out;
                host.drops_past.1 += inn;
                net.shutdown();
            }
            host.crashes += 1;
            host.incarnation += 1;
            let mut f = self.fabric.borrow_mut();
            for ep in &host.endpoints {
                f.nic_down(*ep);
            }
        }
        self.shared.ledger.borrow_mut().host_down(h, now);
        self.exec.kill_host(h);
    }

    fn apply(&mut self, i: usize) {
        let Some((_, action)) = self.schedule.get(i).cloned() else {
            return;
        };
        let find = |name: &str| self.hosts.iter().position(|h| h.name == name);
        match action {
            Action::Partition { host, iface } | Action::Heal { host, iface } => {
                let up = matches!(self.schedule.get(i), Some((_, Action::Heal { .. })));
                #[cfg(feature = "planted-bugs")]
                if up && self.planted.contains(&PlantedBug::IgnoreHeal) {
                    return;
                }
                if let Some(h) = find(&host)
                    && let Some(ep) = self.hosts.get(h).and_then(|s| s.endpoints.get(iface))
                {
                    let mut f = self.fabric.borrow_mut();
                    let link = f.endpoints.get(*ep).map(|e| e.link);
                    if let Some(l) = link.and_then(|l| f.links.get_mut(l)) {
                        l.up = up;
                    }
                }
            }
            Action::Crash { host } => {
                if let Some(h) = find(&host) {
                    self.crash(h);
                }
            }
            Action::Restart { host } => {
                if let Some(h) = find(&host)
                    && self.hosts.get(h).is_some_and(|s| s.net.is_none())
                {
                    // A configuration that booted once boots again.
                    let _ = self.boot(h);
                }
            }
        }
    }

    /// Records one event in the running event digest (and the trace, when on).
    fn note(&mut self, at: Instant, ev: &EventKind) {
        let (kind, place, digest) = match ev {
            EventKind::Timer { seq, host, .. } => (TraceKind::Timer, *host as u64, *seq),
            EventKind::Frame {
                endpoint,
                frame,
                tag,
            } => (
                TraceKind::Frame,
                *endpoint as u64,
                if self.trace.is_some() {
                    tag.bytes_digest.unwrap_or_else(|| fnv(FNV_OFFSET, frame))
                } else {
                    frame.len() as u64
                },
            ),
            EventKind::Scheduled(i) => (TraceKind::Scheduled, *i as u64, *i as u64),
        };
        let mut d = fnv(self.event_digest, &at.as_nanos().to_le_bytes());
        d = fnv(d, &[kind as u8]);
        d = fnv(d, &place.to_le_bytes());
        if !matches!(ev, EventKind::Frame { .. }) {
            d = fnv(d, &digest.to_le_bytes());
        }
        self.event_digest = d;
        if let Some(t) = self.trace.as_mut() {
            t.push(TraceEvent {
                index: t.len() as u64,
                at,
                kind,
                place,
                digest,
            });
        }
    }

    fn run(mut self) -> Result<Report, SimError> {
        let stop = loop {
            self.exec.run_until_idle(&self.shared);
            let now = self.shared.now.get();
            {
                let shared = &self.shared;
                let hosts = &self.hosts;
                let mut lookup = |h: HostId| -> Vec<Ipv4Addr> {
                    let Some(s) = hosts.get(h) else {
                        return Vec::new();
                    };
                    let Some(net) = s.net.as_ref() else {
                        return Vec::new();
                    };
                    (0..s.endpoints.len())
                        .filter_map(|i| {
                            let i = u8::try_from(i).ok()?;
                            net.address(IfaceId(i)).map(|(a, _)| a)
                        })
                        .collect()
                };
                self.fabric.borrow_mut().drain_outbox(
                    now,
                    |at, endpoint, frame, tag| {
                        shared.events.borrow_mut().schedule(
                            at,
                            EventKind::Frame {
                                endpoint,
                                frame,
                                tag,
                            },
                        );
                    },
                    &mut lookup,
                );
                let marks = self.fabric.borrow_mut().marks.take();
                if !marks.is_empty() {
                    shared.ledger.borrow_mut().apply_marks(marks);
                }
            }
            // Every host's applications have returned (kept as a count, not checked host by
            // host at every instant).
            if self.unfinished.get() == 0 {
                break Stop::Finished;
            }
            let Some(next) = self.shared.events.borrow_mut().next_time() else {
                break Stop::Idle;
            };
            if next > self.until {
                break Stop::Until;
            }
            self.shared.now.set(next);
            loop {
                let ev = self.shared.events.borrow_mut().pop_due(next);
                let Some((_, ev)) = ev else { break };
                self.note(next, &ev);
                match ev {
                    EventKind::Timer { seq, slot, .. } => {
                        self.shared.events.borrow_mut().fire_timer(seq, slot);
                    }
                    EventKind::Frame {
                        endpoint,
                        frame,
                        tag,
                    } => self.fabric.borrow_mut().arrive(next, endpoint, frame, tag),
                    EventKind::Scheduled(i) => self.apply(i),
                }
            }
        };
        Ok(self.report(stop))
    }

    /// When faults stopped, as the schedule intends it and the fabric saw them: `None` when
    /// they never did (a partition never healed, a host never restarted).
    fn quiet_since(&self, end: Instant) -> Option<Instant> {
        let mut t = self.fabric.borrow().last_fault.unwrap_or(Instant::ZERO);
        let mut down: BTreeSet<(String, Option<usize>)> = BTreeSet::new();
        let mut sched: Vec<&(Instant, Action)> =
            self.schedule.iter().filter(|(at, _)| *at <= end).collect();
        sched.sort_by_key(|(at, _)| *at);
        for (at, a) in sched {
            t = t.max(*at);
            match a {
                Action::Partition { host, iface } => {
                    down.insert((host.clone(), Some(*iface)));
                }
                Action::Heal { host, iface } => {
                    down.remove(&(host.clone(), Some(*iface)));
                }
                Action::Crash { host } => {
                    down.insert((host.clone(), None));
                }
                Action::Restart { host } => {
                    down.remove(&(host.clone(), None));
                }
            }
        }
        down.is_empty().then_some(t)
    }

    /// When each host was cut off, as the schedule applied it up to `end`: crashed until it
    /// restarted, an interface partitioned until healed.
    fn disruptions(&self, end: Instant) -> Vec<Disruption> {
        let mut sched: Vec<&(Instant, Action)> =
            self.schedule.iter().filter(|(at, _)| *at <= end).collect();
        sched.sort_by_key(|(at, _)| *at);
        let find = |name: &str| self.hosts.iter().position(|h| h.name == name);
        let mut open: Vec<(HostId, Option<usize>, Instant)> = Vec::new();
        let mut out = Vec::new();
        for (at, a) in sched {
            let (host, iface, starts) = match a {
                Action::Partition { host, iface } => (host, Some(*iface), true),
                Action::Heal { host, iface } => (host, Some(*iface), false),
                Action::Crash { host } => (host, None, true),
                Action::Restart { host } => (host, None, false),
            };
            let Some(h) = find(host) else { continue };
            if starts {
                open.push((h, iface, *at));
            } else if let Some(i) = open.iter().position(|o| o.0 == h && o.1 == iface) {
                let (_, _, from) = open.remove(i);
                out.push(Disruption {
                    host: h,
                    crash: iface.is_none(),
                    from,
                    until: *at,
                });
            }
        }
        out.extend(open.into_iter().map(|(host, iface, from)| Disruption {
            host,
            crash: iface.is_none(),
            from,
            until: Instant::MAX,
        }));
        out
    }

    fn report(self, stop: Stop) -> Report {
        let now = self.shared.now.get();
        let end_for_liveness = match stop {
            Stop::Finished => now,
            Stop::Idle => Instant::MAX,
            Stop::Until => self.until,
        };
        let quiet_since = self.quiet_since(now);
        let marks = self.fabric.borrow_mut().marks.finish();
        self.shared.ledger.borrow_mut().apply_marks(marks);
        let fabric = self.fabric.borrow();
        let hosts: Vec<HostReport> = self
            .hosts
            .iter()
            .map(|h| {
                let unfinished: Vec<String> = if h.net.is_some() || h.raw {
                    let done = h.done.borrow();
                    h.apps
                        .iter()
                        .zip(done.iter())
                        .filter(|(_, d)| !**d)
                        .map(|(a, _)| a.name.clone())
                        .collect()
                } else {
                    Vec::new()
                };
                HostReport {
                    name: h.name.clone(),
                    raw: h.raw,
                    counters: h.net.as_ref().map_or(h.last_counters, |n| n.counters()),
                    driver: h
                        .net
                        .as_ref()
                        .map_or(h.last_driver, |n| n.driver_counters()),
                    finished: h.running.get() == 0,
                    crashes: h.crashes,
                    unfinished,
                    tcp: {
                        let mut t = h.tcp_past;
                        if let Some(n) = h.net.as_ref() {
                            t.accumulate(&n.with_stack(|s, _| s.tcp_stats_total()));
                        }
                        t
                    },
                }
            })
            .collect();
        let links: Vec<LinkReport> = fabric
            .links
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let [up, down] = fabric.counters(i);
                LinkReport {
                    name: l.name.clone(),
                    to_switch: up,
                    from_switch: down,
                    pcap: l.pcap.as_ref().map(|w| w.get_ref().clone()),
                }
            })
            .collect();
        let switches: Vec<SwitchReport> = fabric
            .switches
            .iter()
            .map(|s| SwitchReport {
                name: s.name.clone(),
                learned: s.learned() as u64,
                flooded: s.flooded,
                filtered: s.filtered,
                table_full: s.table_full,
            })
            .collect();
        // Which hosts' paths saw faults.
        let mut paths = PathFaults::default();
        for (h, hr) in self.hosts.iter().zip(&hosts) {
            let mut lossy = h.crashes > 0;
            for ep in &h.endpoints {
                if let Some(e) = fabric.endpoints.get(*ep) {
                    let (l, _) = fabric.link_faults(e.link);
                    lossy |= l;
                }
            }
            let c = &hr.counters;
            lossy |= c.arp.pending_dropped
                + c.arp.resolution_failed
                + c.udp.rx_queue_full
                + c.queues.tx_queue_full
                + c.ipv4.reassembly_full
                + c.ipv4.reassembly_timeouts
                > 0;
            paths.names.push(h.name.clone());
            paths.lossy.push(lossy);
            let mut link_drops = 0u64;
            for ep in &h.endpoints {
                if let Some(e) = fabric.endpoints.get(*ep) {
                    for d in fabric.counters(e.link) {
                        link_drops += d.lost
                            + d.corrupted
                            + d.partition_drops
                            + d.queue_drops
                            + d.mtu_drops
                            + d.down_drops
                            + d.ring_drops;
                    }
                }
            }
            // The current life's drops (a host down at the end has none: its last life's are
            // already in `drops_past`, added when it crashed).
            let (out, inn) = h
                .net
                .as_ref()
                .map_or((0, 0), |n| datagram_drops(&n.counters()));
            paths
                .drops
                .push(link_drops + out + inn + h.drops_past.0 + h.drops_past.1);
            paths.crashed.push(h.crashes > 0);
            // How long its stack may hold a datagram before sending or dropping it: while it
            // resolves the next hop (every ARP request sent, the last one waited out).
            let limits = h.cfg.limits.unwrap_or_default();
            paths.max_hold.push(
                limits
                    .arp_retry_interval
                    .saturating_mul(u32::from(limits.arp_max_requests)),
            );
            // Datagrams its stack still held when the run ended (resolving their next hop,
            // or queued): they never left, and are accounted to it.
            let held = h.net.as_ref().map_or(0, |n| {
                n.with_stack(|s, _| {
                    let arp: usize = (0..h.endpoints.len())
                        .filter_map(|i| u8::try_from(i).ok())
                        .filter_map(|i| s.arp_cache_len(IfaceId(i)))
                        .map(|(_, pending)| pending)
                        .sum();
                    (arp + s.tx_queue_len()) as u64
                })
            });
            paths.tx_drops.push(out + h.drops_past.0 + held);
            paths.rx_drops.push(inn + h.drops_past.1);
        }
        paths.marks_missed = fabric.marks.missed;
        let mut oracles = Vec::new();
        for (h, host) in self.hosts.iter().enumerate() {
            if let Some(net) = &host.net {
                let grants = net.with_stack(|s, _| s.dhcp_grants().0.copied().collect::<Vec<_>>());
                self.shared.ledger.borrow_mut().grants(h, grants);
            }
        }
        let ledger = self.shared.ledger.borrow();
        let settle = self
            .oracles
            .settle
            .unwrap_or_else(|| (fabric.slowest_hop() * 2) * 3 + Duration::from_millis(20));
        let disruptions = self.disruptions(now);
        let (datagrams, streams) =
            crate::oracle::judge(&ledger, &paths, &disruptions, settle, now, &mut oracles);
        let monitor = fabric
            .monitor
            .as_ref()
            .map(|m| m.report())
            .unwrap_or_default();
        for v in &monitor.violations {
            oracles.push(OracleFailure::Monitor {
                at: v.at,
                host: v.host.clone(),
                rule: v.rule,
                detail: v.detail.clone(),
            });
        }
        if let Some(q) = quiet_since
            && end_for_liveness >= q.saturating_add(self.oracles.liveness_grace)
        {
            for h in &hosts {
                if !h.unfinished.is_empty() {
                    oracles.push(OracleFailure::Liveness {
                        host: h.name.clone(),
                        apps: h.unfinished.clone(),
                        quiet_since: q,
                        end: now,
                    });
                }
            }
        }
        let workloads = ledger.workloads.clone();
        let events = self.shared.events.borrow();
        Report {
            seed: self.seed,
            end: now,
            events: events.processed,
            polls: self.exec.polls,
            frames_sent: fabric.frames_sent,
            trace_digest: fabric.trace_digest,
            event_digest: self.event_digest,
            hosts,
            links,
            switches,
            tape: fabric.tape.clone(),
            tape_flows_untracked: fabric.identity.untracked,
            tape_occurrences_forgotten: fabric.occurrences_forgotten().0,
            jitter_occurrences_forgotten: fabric.occurrences_forgotten().1,
            oracles,
            monitor,
            workloads,
            datagrams,
            datagram_marks_missed: fabric.marks.missed,
            streams,
            quiet_since,
            event_trace: self.trace.clone(),
        }
    }
}

/// Datagrams a stack counted dropped on their way out (ARP given up or its queue full, a
/// full transmit queue or buffer) and on their way in (a full socket queue, reassembly
/// limits or timeouts): what the loss oracle may match a datagram to when no fault on a
/// frame carrying it explains its loss.
fn datagram_drops(c: &Counters) -> (u64, u64) {
    (
        c.arp.pending_dropped
            + c.arp.resolution_failed
            + c.queues.tx_queue_full
            + c.queues.tx_buffer_too_small,
        c.udp.rx_queue_full + c.ipv4.reassembly_full + c.ipv4.reassembly_timeouts,
    )
}

/// Oracle failures [`Report::summary`] lists (the rest are counted).
pub const SUMMARY_FAILURES: usize = 20;

/// One host at the end of a run.
#[derive(Debug, Clone)]
pub struct HostReport {
    /// Its name.
    pub name: String,
    /// A raw host ([`SimBuilder::raw_host`]): no stack, so its counters stay zero.
    pub raw: bool,
    /// Its stack's counters (the last life's, after a crash).
    pub counters: Counters,
    /// Its driver's counters.
    pub driver: DirectCounters,
    /// Whether its applications (daemons aside) returned.
    pub finished: bool,
    /// How many times it crashed.
    pub crashes: u32,
    /// Applications of its current life that had not returned (empty while it is down).
    pub unfinished: Vec<String>,
    /// Its TCP connections' counters (retransmissions, RTOs, fast retransmits ...), summed
    /// over every connection of every life.
    pub tcp: ConnStats,
}

/// One link at the end of a run.
#[derive(Debug, Clone)]
pub struct LinkReport {
    /// `host-switch`.
    pub name: String,
    /// Host → switch.
    pub to_switch: LinkCounters,
    /// Switch → host.
    pub from_switch: LinkCounters,
    /// The deliveries in both directions, as a pcap file (when capture was on).
    pub pcap: Option<Vec<u8>>,
}

/// One learning switch at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchReport {
    /// Its name.
    pub name: String,
    /// MAC addresses in its table at the end.
    pub learned: u64,
    /// Frames sent out of every port but the one they came in on: broadcast, multicast, or
    /// to an address not in the table.
    pub flooded: u64,
    /// Frames dropped because their destination was learned on the port they came in on
    /// (IEEE 802.1D filtering).
    pub filtered: u64,
    /// Source addresses not learned because the table held [`crate::SWITCH_TABLE`] already
    /// (frames to them are flooded).
    pub table_full: u64,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Virtual time at the end.
    pub end: Instant,
    /// Events processed.
    pub events: u64,
    /// Task polls.
    pub polls: u64,
    /// Frames hosts sent.
    pub frames_sent: u64,
    /// Digest of every delivery (time, place, bytes): equal digests, equal runs.
    pub trace_digest: u64,
    /// Digest of every event (time, kind, place): timers included.
    pub event_digest: u64,
    /// Hosts.
    pub hosts: Vec<HostReport>,
    /// Links.
    pub links: Vec<LinkReport>,
    /// Switches, in the order they were added.
    pub switches: Vec<SwitchReport>,
    /// The faults that fired.
    pub tape: Tape,
    /// TCP flows (SYNs) whose segments the tape keyed by sequence numbers as sent, not
    /// relative to the ISN, because [`crate::tape::MAX_KEYED_FLOWS`] were remembered
    /// already: their faults may miss their frames when the tape is replayed in part.
    pub tape_flows_untracked: u64,
    /// Frame identities whose occurrence counts a link direction forgot, keeping at most
    /// twice [`crate::OCCURRENCE_WINDOW`] (the least recently seen go first): a
    /// frame seen again after its identity was forgotten counts from occurrence 0 again.
    /// A full replay of the run's tape forgets the same ones; a partial replay (shrinking)
    /// may forget others, so a fault keyed past a forgotten count may miss its frame.
    pub tape_occurrences_forgotten: u64,
    /// Frame digests whose occurrence counts for the per-frame jitter draw a link direction
    /// forgot, the same way: a frame seen again after that draws the jitter of occurrence 0.
    pub jitter_occurrences_forgotten: u64,
    /// What the oracles found wrong (empty: the run passed).
    pub oracles: Vec<OracleFailure>,
    /// What the sender-side monitor checked.
    pub monitor: MonitorReport,
    /// What each workload did.
    pub workloads: Vec<WorkloadReport>,
    /// The workloads' datagrams and how they were accounted for.
    pub datagrams: DatagramTotals,
    /// Marks of what the fabric did to frames carrying datagrams that it could not keep
    /// ([`crate::MAX_PENDING_MARKS`] and the other bounds of its marks): the loss and
    /// duplicate oracles excuse at most this many they cannot match.
    pub datagram_marks_missed: u64,
    /// The workloads' TCP streams.
    pub streams: StreamTotals,
    /// When faults stopped (`None`: they never did).
    pub quiet_since: Option<Instant>,
    /// Every event, when [`SimBuilder::trace_events`] was on.
    pub event_trace: Option<Vec<TraceEvent>>,
}

impl Report {
    /// True when every oracle passed.
    pub fn ok(&self) -> bool {
        self.oracles.is_empty()
    }

    /// Every link's counters, both directions summed.
    pub fn link_totals(&self) -> LinkCounters {
        let mut t = LinkCounters::default();
        for l in &self.links {
            t.add(&l.to_switch);
            t.add(&l.from_switch);
        }
        t
    }

    /// Every host's TCP counters, summed.
    pub fn tcp_totals(&self) -> ConnStats {
        let mut t = ConnStats::default();
        for h in &self.hosts {
            t.accumulate(&h.tcp);
        }
        t
    }

    /// True when every application returned.
    pub fn all_finished(&self) -> bool {
        self.hosts.iter().all(|h| h.finished)
    }

    /// A workload's report by name.
    pub fn workload(&self, name: &str) -> Option<&WorkloadReport> {
        self.workloads.iter().find(|w| w.name == name)
    }

    /// A host's report by name.
    pub fn host(&self, name: &str) -> Option<&HostReport> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Where a traced event happened, for people: the host of a timer, the link end of a
    /// frame arrival, the scheduled action.
    pub fn describe_event(&self, e: &TraceEvent) -> String {
        let place = usize::try_from(e.place).unwrap_or(usize::MAX);
        match e.kind {
            TraceKind::Timer => format!(
                "timer {} of host {}",
                e.digest,
                self.hosts.get(place).map_or("?", |h| h.name.as_str())
            ),
            TraceKind::Frame => {
                let link = self.links.get(place / 2).map_or("?", |l| l.name.as_str());
                let end = if place % 2 == 0 { "host" } else { "switch" };
                format!(
                    "frame {:016x} arriving at the {end} end of link {link}",
                    e.digest
                )
            }
            TraceKind::Scheduled => format!("scheduled action #{}", e.place),
        }
    }

    /// A table of what happened, for people.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "seed {}  virtual time {:.3} s  events {}  polls {}  frames sent {}  trace {:016x}\n",
            self.seed,
            self.end.as_nanos() as f64 / 1e9,
            self.events,
            self.polls,
            self.frames_sent,
            self.trace_digest
        );
        s.push_str(&format!(
            "{:<20} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
            "link", "in", "deliv", "lost", "queue", "part", "dup", "reord", "corr", "mtu", "down"
        ));
        for l in &self.links {
            for (dir, c) in [("up", &l.to_switch), ("down", &l.from_switch)] {
                s.push_str(&format!(
                    "{:<20} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
                    format!("{} {}", l.name, dir),
                    c.frames_in,
                    c.delivered,
                    c.lost,
                    c.queue_drops,
                    c.partition_drops,
                    c.duplicated,
                    c.reordered,
                    c.corrupted,
                    c.mtu_drops,
                    c.down_drops
                ));
            }
        }
        let ring_drops = self.link_totals().ring_drops;
        if ring_drops > 0 {
            s.push_str(&format!(
                "nic rings: {ring_drops} frames dropped at full receive rings ({} frames each)\n",
                crate::NIC_RX_RING
            ));
        }
        s.push_str(&format!(
            "{:<20} {:>8} {:>8} {:>8} {:>10}\n",
            "switch", "learned", "flooded", "filtered", "table full"
        ));
        for w in &self.switches {
            s.push_str(&format!(
                "{:<20} {:>8} {:>8} {:>8} {:>10}\n",
                w.name, w.learned, w.flooded, w.filtered, w.table_full
            ));
        }
        s.push_str(&format!(
            "{:<12} {:>8} {:>9} {:>9} {:>8} {:>8}\n",
            "host", "finished", "udp tx", "udp rx", "crashes", "drops"
        ));
        for h in &self.hosts {
            let c = &h.counters;
            let finished = if h.finished { "yes" } else { "NO" };
            if h.raw {
                // No stack, no counters.
                s.push_str(&format!(
                    "{:<12} {:>8} {:>9} {:>9} {:>8} {:>8}\n",
                    format!("{} (raw)", h.name),
                    finished,
                    "-",
                    "-",
                    h.crashes,
                    "-"
                ));
                continue;
            }
            s.push_str(&format!(
                "{:<12} {:>8} {:>9} {:>9} {:>8} {:>8}\n",
                h.name,
                finished,
                c.udp.tx_datagrams,
                c.udp.rx_delivered,
                h.crashes,
                c.ipv4.rx_bad_checksum + c.udp.rx_bad_checksum + c.udp.rx_queue_full
            ));
        }
        if !self.workloads.is_empty() {
            s.push_str(&format!(
                "{:<24} {:>8} {:>8} {:>9} {:>7} {:>8} {:>7} {:>8}\n",
                "workload", "sent", "recv", "complete", "failed", "retries", "stale", "clients"
            ));
            for w in &self.workloads {
                s.push_str(&format!(
                    "{:<24} {:>8} {:>8} {:>9} {:>7} {:>8} {:>7} {:>8}\n",
                    w.name,
                    w.sent,
                    w.received,
                    w.completed,
                    w.failed,
                    w.retries,
                    w.stale,
                    format!("{}/{}", w.clients_finished, w.clients)
                ));
            }
            if self.workloads.iter().any(|w| w.connections + w.errors > 0) {
                s.push_str(&format!(
                    "{:<24} {:>8} {:>8} {:>12} {:>12}\n",
                    "tcp workload", "conns", "errors", "bytes sent", "bytes recv"
                ));
                for w in self.workloads.iter().filter(|w| w.kind.starts_with("tcp")) {
                    s.push_str(&format!(
                        "{:<24} {:>8} {:>8} {:>12} {:>12}\n",
                        w.name, w.connections, w.errors, w.bytes_sent, w.bytes_received
                    ));
                }
            }
        }
        let tcp = self.tcp_totals();
        if tcp.segs_out > 0 {
            s.push_str(&format!(
                "tcp: segments out {} in {}, retransmitted {}, fast retransmits {}, RTOs {}, dup ACKs {}, out-of-order {}\n",
                tcp.segs_out,
                tcp.segs_in,
                tcp.retransmitted_segs,
                tcp.fast_retransmits,
                tcp.rto_expirations,
                tcp.dup_acks,
                tcp.ooo_segments
            ));
        }
        if self.streams != StreamTotals::default() {
            let t = &self.streams;
            s.push_str(&format!(
                "streams: {} connections, {} bytes sent, {} received, {} directions complete, {} errors\n",
                t.streams, t.bytes_sent, t.bytes_received, t.complete_directions, t.errors
            ));
        }
        if self.datagrams != DatagramTotals::default() {
            let d = &self.datagrams;
            s.push_str(&format!(
                "datagrams: sent {} received {} owed {} lost {} (to faults on their frames {}, in their hosts {}) duplicates {}\n",
                d.sent, d.received, d.owed, d.lost, d.lost_to_faults, d.lost_in_hosts, d.duplicates
            ));
        }
        if self.datagrams.corrupted_past_checksum > 0 {
            s.push_str(&format!(
                "corruption: {} datagrams arrived changed, two flipped bits cancelling in the UDP checksum\n",
                self.datagrams.corrupted_past_checksum
            ));
        }
        if self.datagram_marks_missed > 0 {
            s.push_str(&format!(
                "marks: {} datagram marks missed past the fabric's bounds; {} losses or duplicates excused for them\n",
                self.datagram_marks_missed, self.datagrams.excused_unmarked
            ));
        }
        if self.tape_flows_untracked > 0 {
            s.push_str(&format!(
                "tape: {} TCP SYNs past the {} flows whose ISNs key the tape (their segments keyed as sent)\n",
                self.tape_flows_untracked,
                crate::tape::MAX_KEYED_FLOWS
            ));
        }
        if self.tape_occurrences_forgotten > 0 || self.jitter_occurrences_forgotten > 0 {
            s.push_str(&format!(
                "occurrences: {} frame identities (tape keys) and {} frame digests (jitter) forgotten past {} per link direction and generation\n",
                self.tape_occurrences_forgotten,
                self.jitter_occurrences_forgotten,
                crate::OCCURRENCE_WINDOW
            ));
        }
        if !self.oracles.is_empty() {
            s.push_str(&self.oracle_summary());
        }
        s
    }

    /// The oracles' verdict, for people: what the monitor checked, then `oracles: ok` or
    /// each failure ([`Report::summary`] includes it when something failed).
    pub fn oracle_summary(&self) -> String {
        let checked: u64 = self.monitor.rules.values().map(|r| r.checked).sum();
        let mut s = format!(
            "monitor: {} frames, {} rule checks, {} violations\n",
            self.monitor.frames, checked, self.monitor.total_violations
        );
        if self.oracles.is_empty() {
            s.push_str("oracles: ok\n");
        } else {
            s.push_str(&format!("oracles: {} FAILED\n", self.oracles.len()));
            for f in self.oracles.iter().take(SUMMARY_FAILURES) {
                s.push_str(&format!("  {f}\n"));
            }
            if self.oracles.len() > SUMMARY_FAILURES {
                s.push_str(&format!(
                    "  ... and {} more\n",
                    self.oracles.len() - SUMMARY_FAILURES
                ));
            }
        }
        s
    }

    /// Writes each link's pcap as `<dir>/<link>.pcap`; returns the paths written.
    pub fn write_pcaps(&self, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut out = Vec::new();
        for l in &self.links {
            if let Some(bytes) = &l.pcap {
                let p = dir.join(format!("{}.pcap", l.name));
                std::fs::write(&p, bytes)?;
                out.push(p);
            }
        }
        Ok(out)
    }
}

/// Virtual time helper for tests and apps: `secs(1.5)`.
pub fn secs(s: f64) -> Duration {
    Duration::from_nanos((s * 1e9) as u64)
}
