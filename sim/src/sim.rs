//! The simulation: hosts (weft stacks running user code), switches, links, a schedule of
//! partitions and crashes, and the run loop.

use crate::executor::{EventKind, Executor, HostId, Shared, SimRuntime};
use crate::fabric::{Fabric, FaultSource, LinkCounters, LinkSpec, SimLink};
use crate::tape::Tape;
use core::future::Future;
use std::cell::{Cell, RefCell};
use std::net::Ipv4Addr;
use std::rc::Rc;
use weft_core::{Counters, Duration, Instant, InterfaceConfig, Ipv4Config, StackConfig};
use weft_net::direct::{self, DirectCounters, DirectNet};
use weft_net::runtime::Task;
use weft_wire::MacAddr;

/// The handle a host's application gets: the direct backend on virtual time.
pub type SimNet = DirectNet<SimRuntime>;

type AppFn = Rc<dyn Fn(SimNet) -> Task>;

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
    /// The host stops: its tasks and stack are gone, its NICs lose what they held.
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
}

struct HostDef {
    name: String,
    cfg: HostConfig,
    apps: Vec<AppFn>,
}

/// Builds a simulation.
pub struct SimBuilder {
    switches: Vec<String>,
    hosts: Vec<HostDef>,
    schedule: Vec<(Instant, Action)>,
    until: Instant,
    pcap: bool,
    faults: FaultSource,
    /// Hosts named by `app` that do not exist.
    orphans: Vec<String>,
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
            apps: vec![app],
        });
        self
    }

    /// A host with no application of its own (workloads may add some with [`SimBuilder::app`]).
    pub fn idle_host(mut self, name: &str, cfg: HostConfig) -> SimBuilder {
        self.hosts.push(HostDef {
            name: name.to_string(),
            cfg,
            apps: Vec::new(),
        });
        self
    }

    /// Another application on host `host`, started with it (and after each restart). An
    /// unknown host is reported by [`SimBuilder::run`].
    pub fn app<F, Fut>(mut self, host: &str, app: F) -> SimBuilder
    where
        F: Fn(SimNet) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let app: AppFn = Rc::new(move |net| Box::pin(app(net)));
        match self.hosts.iter_mut().find(|h| h.name == host) {
            Some(h) => h.apps.push(app),
            None => self.orphans.push(host.to_string()),
        }
        self
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
    apps: Vec<AppFn>,
    endpoints: Vec<usize>,
    net: Option<SimNet>,
    /// Applications still running.
    running: Rc<Cell<usize>>,
    incarnation: u32,
    crashes: u32,
    last_counters: Counters,
    last_driver: DirectCounters,
}

struct Run {
    seed: u64,
    shared: Rc<Shared>,
    fabric: Rc<RefCell<Fabric>>,
    exec: Executor,
    hosts: Vec<HostState>,
    schedule: Vec<(Instant, Action)>,
    until: Instant,
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
        let mut fabric = Fabric::new(b.faults.clone());
        for _ in &b.switches {
            fabric.add_switch();
        }
        let mut hosts = Vec::new();
        for (h, def) in b.hosts.iter().enumerate() {
            if def.cfg.ifaces.is_empty() {
                return Err(SimError::NoInterface(def.name.clone()));
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
                endpoints.push(fabric.connect(name, h, sw, &iface.link, seed, b.pcap));
            }
            hosts.push(HostState {
                name: def.name.clone(),
                cfg: def.cfg.clone(),
                apps: def.apps.clone(),
                endpoints,
                net: None,
                running: Rc::new(Cell::new(0)),
                incarnation: 0,
                crashes: 0,
                last_counters: Counters::default(),
                last_driver: DirectCounters::default(),
            });
        }
        for (_, a) in &b.schedule {
            let (host, iface) = match a {
                Action::Partition { host, iface } | Action::Heal { host, iface } => {
                    (host, Some(*iface))
                }
                Action::Crash { host } | Action::Restart { host } => (host, None),
            };
            let ok = hosts
                .iter()
                .find(|h| h.name == *host)
                .is_some_and(|h| iface.is_none_or(|i| i < h.endpoints.len()));
            if !ok {
                return Err(SimError::UnknownHost(host.clone()));
            }
        }
        let shared = Shared::new();
        let mut run = Run {
            seed,
            shared,
            fabric: Rc::new(RefCell::new(fabric)),
            exec: Executor::new(),
            hosts,
            schedule: b.schedule.clone(),
            until: b.until,
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

    /// Starts host `h`'s stack and application.
    fn boot(&mut self, h: HostId) -> Result<(), SimError> {
        let Some(host) = self.hosts.get_mut(h) else {
            return Ok(());
        };
        // Each host, and each of its lives, gets its own stream of the run's seed.
        let host_seed = crate::fabric::fnv(
            self.seed ^ crate::fabric::FNV_OFFSET,
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
                },
            );
        }
        let rt = SimRuntime {
            shared: self.shared.clone(),
            host: h,
        };
        let net = b.start(rt.clone()).map_err(|e| SimError::Stack {
            host: host.name.clone(),
            problem: e.to_string(),
        })?;
        let running = Rc::new(Cell::new(host.apps.len()));
        host.running = running.clone();
        for app in &host.apps {
            let app = app(net.clone());
            let running = running.clone();
            weft_net::runtime::Runtime::spawn(
                &rt,
                Box::pin(async move {
                    app.await;
                    running.set(running.get().saturating_sub(1));
                }),
            );
        }
        host.net = Some(net);
        Ok(())
    }

    fn crash(&mut self, h: HostId) {
        if let Some(host) = self.hosts.get_mut(h) {
            if let Some(net) = host.net.take() {
                host.last_counters = net.counters();
                host.last_driver = net.driver_counters();
                net.shutdown();
            }
            host.crashes += 1;
            host.incarnation += 1;
            let mut f = self.fabric.borrow_mut();
            for ep in &host.endpoints {
                f.clear_nic(*ep);
            }
        }
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

    fn run(mut self) -> Result<Report, SimError> {
        loop {
            self.exec.run_until_idle(&self.shared);
            let now = self.shared.now.get();
            {
                let shared = &self.shared;
                self.fabric
                    .borrow_mut()
                    .drain_outbox(now, |at, endpoint, frame| {
                        shared
                            .events
                            .borrow_mut()
                            .schedule(at, EventKind::Frame { endpoint, frame });
                    });
            }
            if self.hosts.iter().all(|h| h.running.get() == 0) {
                break;
            }
            let Some(next) = self.shared.events.borrow_mut().next_time() else {
                break;
            };
            if next > self.until {
                break;
            }
            self.shared.now.set(next);
            loop {
                let ev = self.shared.events.borrow_mut().pop_due(next);
                let Some((_, ev)) = ev else { break };
                match ev {
                    EventKind::Timer(seq) => self.shared.events.borrow_mut().fire_timer(seq),
                    EventKind::Frame { endpoint, frame } => {
                        self.fabric.borrow_mut().arrive(next, endpoint, frame)
                    }
                    EventKind::Scheduled(i) => self.apply(i),
                }
            }
        }
        Ok(self.report())
    }

    fn report(self) -> Report {
        let fabric = self.fabric.borrow();
        let hosts = self
            .hosts
            .iter()
            .map(|h| HostReport {
                name: h.name.clone(),
                counters: h.net.as_ref().map_or(h.last_counters, |n| n.counters()),
                driver: h
                    .net
                    .as_ref()
                    .map_or(h.last_driver, |n| n.driver_counters()),
                finished: h.running.get() == 0,
                crashes: h.crashes,
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
        let events = self.shared.events.borrow();
        Report {
            seed: self.seed,
            end: self.shared.now.get(),
            events: events.processed,
            polls: self.exec.polls,
            frames_sent: fabric.frames_sent,
            trace_digest: fabric.trace_digest,
            hosts,
            links,
            tape: fabric.tape.clone(),
        }
    }
}

/// One host at the end of a run.
#[derive(Debug, Clone)]
pub struct HostReport {
    /// Its name.
    pub name: String,
    /// Its stack's counters (the last life's, after a crash).
    pub counters: Counters,
    /// Its driver's counters.
    pub driver: DirectCounters,
    /// Whether its application returned.
    pub finished: bool,
    /// How many times it crashed.
    pub crashes: u32,
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
    /// Hosts.
    pub hosts: Vec<HostReport>,
    /// Links.
    pub links: Vec<LinkReport>,
    /// The faults that fired.
    pub tape: Tape,
}

impl Report {
    /// Every link's counters, both directions summed.
    pub fn link_totals(&self) -> LinkCounters {
        let mut t = LinkCounters::default();
        for l in &self.links {
            t.add(&l.to_switch);
            t.add(&l.from_switch);
        }
        t
    }

    /// True when every application returned.
    pub fn all_finished(&self) -> bool {
        self.hosts.iter().all(|h| h.finished)
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
            "{:<20} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
            "link", "in", "deliv", "lost", "queue", "part", "dup", "reord", "corr", "mtu"
        ));
        for l in &self.links {
            for (dir, c) in [("up", &l.to_switch), ("down", &l.from_switch)] {
                s.push_str(&format!(
                    "{:<20} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
                    format!("{} {}", l.name, dir),
                    c.frames_in,
                    c.delivered,
                    c.lost,
                    c.queue_drops,
                    c.partition_drops,
                    c.duplicated,
                    c.reordered,
                    c.corrupted,
                    c.mtu_drops
                ));
            }
        }
        s.push_str(&format!(
            "{:<12} {:>8} {:>9} {:>9} {:>8} {:>8}\n",
            "host", "finished", "udp tx", "udp rx", "crashes", "drops"
        ));
        for h in &self.hosts {
            let c = &h.counters;
            s.push_str(&format!(
                "{:<12} {:>8} {:>9} {:>9} {:>8} {:>8}\n",
                h.name,
                if h.finished { "yes" } else { "NO" },
                c.udp.tx_datagrams,
                c.udp.rx_delivered,
                h.crashes,
                c.ipv4.rx_bad_checksum + c.udp.rx_bad_checksum + c.udp.rx_queue_full
            ));
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
