//! `sim_echo_vs_turmoil`: 100 TCP echo clients × 100 round trips of 64-byte messages against
//! one echo server, on weft-sim (every Ethernet/ARP/IPv4/TCP frame simulated through weft-core
//! stacks, a learning switch and links) and on turmoil 0.7 (its simulated TCP), in the same
//! process, with the same application code: [`echo_server`] and [`client_host`] are written
//! once against weft-net's `TcpNet` and run on `SimNet` and on `TurmoilNet`.
//!
//! Each client connects (client `i` at `i` × [`STAGGER`], so the listen backlog is never
//! exceeded), waits until every client has had time to connect, then — after its own phase
//! offset, [`PHASES`] of them spread over one round trip — sends [`ROUND_TRIPS`] messages of
//! [`MSG`] bytes one at a time, reading each echo in full before the next, half-closes,
//! expects the server's end of stream and closes. Message bytes are a function of the
//! client's number and the round trip alone, so both simulators carry the same bytes. The
//! digest folds every echoed byte per client, chained in client order: equal digests, equal
//! work. The ratio is turmoil's wall time over weft's (median of alternating single runs; each
//! side timed from building the simulation to the end of its run).
//!
//! After the comparison weft runs alone at 100, 1,000 and 10,000 clients (the same 100
//! client hosts with 1, 10 and 100 clients each; medians of several runs) and prints the
//! cost per simulated event and per round trip at each size, relative to 100 clients, and the
//! marginal cost per event of each step up: the wall time the step adds over the events it
//! adds. Every size has the same 101 hosts and so the same fixed start-up (boot, ARP probes
//! and announcements, each broadcast copied to every host: about 30,800 of the 72,342 events
//! at 100 clients, 30,000 of them broadcast copies, cheap ones), which cancels in the step,
//! while the events a step adds are the same per added client at both steps (connect, round
//! trips, close: 415.2 each). The linearity
//! figure (1.00 = linear) is the marginal cost per event from 1,000 to 10,000 clients over
//! that from 100 to 1,000: like events against like.

use anyhow::{Result, anyhow, bail};
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::rc::Rc;
use std::task::{Poll, Waker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_core::tcp::conn::ConnStats;
use weft_core::{Duration, Instant};
use weft_net::turmoil_net::TurmoilNet;
use weft_net::{Flow, Listener, NetError, TcpNet};
use weft_sim::{HostConfig, LinkConfig, LinkSpec, Report, Sim, SimNet};

/// Clients in the comparison.
const CLIENTS: usize = 100;
/// Round trips per client.
const ROUND_TRIPS: usize = 100;
/// Bytes per message.
const MSG: usize = 64;
/// The echo server's port.
const PORT: u16 = 7;
/// Client hosts at most; more clients share them. One switch floods every ARP request and
/// announcement to every host, so hosts stay few and the clients per host grow instead.
const MAX_CLIENT_HOSTS: usize = 100;
/// Client `i` connects at `i` × this. weft-net's listeners have a backlog of 128
/// (handshaking plus not yet accepted), and a connection counts against it from its SYN's
/// arrival until accepted: one round trip (40 ms on weft-sim's links here), so about 40 are in
/// flight — 80 while the first clients of each host still wait for ARP and their SYNs overlap
/// the next ones'. (At 0.5 ms the overlap reached 160 and SYNs were dropped.)
const STAGGER: Duration = Duration::from_millis(1);
/// After the last client's connect, before the round trips start.
const MARGIN: Duration = Duration::from_millis(500);
/// Client `i` starts its round trips `i mod PHASES` × [`PHASE_GAP`] after the common start:
/// spread over one round trip (40 ms), so no more than clients / 40 messages reach the server
/// in the same instant. (Started all at once, 10,000 requests arrived together and overflowed
/// the server NIC's 4,096-frame ring.)
const PHASES: usize = 40;
const PHASE_GAP: Duration = Duration::from_millis(1);
/// weft-sim's link latency per hop (host → switch, switch → host): 20 ms host to host, about
/// turmoil's mean message latency (Exp(5) over 0..100 ms).
const LINK_LATENCY: Duration = Duration::from_millis(10);
/// Alternating runs per side.
const RUNS: usize = 5;
/// Both simulators' seed.
const SEED: u64 = 0x6563_686f_7475_726d;
/// weft alone at these client counts.
const SCALE: [usize; 2] = [1_000, 10_000];
/// Runs per size at those counts (median).
const SCALE_RUNS: usize = 3;
/// How far apart the events per added client of two steps may be (relative) for their
/// marginal costs to compare like with like.
const STEP_EVENTS_TOLERANCE: f64 = 0.001;

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME))
}

/// What one client got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClientResult {
    /// FNV-1a over every echoed byte.
    digest: u64,
    bytes: u64,
}

/// Per client (by number): its result, `None` while it runs.
type Results = Rc<RefCell<Vec<Option<Result<ClientResult, String>>>>>;

/// Which clients run on which host, and when.
#[derive(Debug, Clone, Copy)]
struct Plan {
    clients: usize,
    hosts: usize,
}

impl Plan {
    fn new(clients: usize) -> Plan {
        Plan {
            clients,
            hosts: clients.clamp(1, MAX_CLIENT_HOSTS),
        }
    }

    /// The clients of host `h`: h, h + hosts, h + 2·hosts, ...
    fn ids(self, h: usize) -> impl Iterator<Item = usize> {
        (h..self.clients).step_by(self.hosts)
    }

    /// When the round trips start, from the hosts' start (client `id`'s own start is up to
    /// one round trip later).
    fn start(self) -> Duration {
        STAGGER * self.clients as u32 + MARGIN
    }

    /// When client `id` starts its round trips, from the hosts' start.
    fn start_of(self, id: usize) -> Duration {
        self.start() + PHASE_GAP * (id % PHASES) as u32
    }
}

/// The bytes of client `id`'s message `round`: xorshift64 from both.
fn message(id: usize, round: usize) -> [u8; MSG] {
    let mut x = SEED ^ ((id as u64) << 32 | round as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut m = [0u8; MSG];
    for c in m.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.copy_from_slice(&x.to_le_bytes());
    }
    m
}

// ---------------------------------------------------------------------------------------
// The application, written once against weft-net's traits.

/// An RFC 862 echo server on `port`: one task per connection, echoing until the client's end
/// of stream, then closing.
async fn echo_server<N: TcpNet>(net: N, port: u16) -> Result<(), NetError> {
    let listener = net
        .bind_tcp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .await?;
    loop {
        match listener.accept().await {
            Ok((flow, _)) => net.spawn(echo_connection(flow)),
            Err(e) if e.is_transient() => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn echo_connection<F: Flow>(mut flow: F) {
    let mut buf = [0u8; 512];
    loop {
        match flow.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if flow
                    .write_all(buf.get(..n).unwrap_or_default())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    let _ = flow.close().await;
}

/// Counts finished clients; wakes the host's main task when all are.
#[derive(Default)]
struct Countdown {
    left: Cell<usize>,
    waker: RefCell<Option<Waker>>,
}

impl Countdown {
    fn done_one(&self) {
        self.left.set(self.left.get().saturating_sub(1));
        if self.left.get() == 0
            && let Some(w) = self.waker.borrow_mut().take()
        {
            w.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.left.get() == 0 {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

/// Client host `h`'s application: its clients, each on its own task; returns when all have.
async fn client_host<N: TcpNet>(
    net: N,
    server: SocketAddrV4,
    plan: Plan,
    h: usize,
    results: Results,
) {
    let t0 = net.now();
    let countdown = Rc::new(Countdown::default());
    countdown.left.set(plan.ids(h).count());
    for id in plan.ids(h) {
        let (net2, results, countdown) = (net.clone(), results.clone(), countdown.clone());
        let connect_at = t0.saturating_add(STAGGER * id as u32);
        let start_at = t0.saturating_add(plan.start_of(id));
        net.spawn(async move {
            let r = echo_client(&net2, server, id, connect_at, start_at).await;
            if let Some(slot) = results.borrow_mut().get_mut(id) {
                *slot = Some(r);
            }
            countdown.done_one();
        });
    }
    countdown.wait().await;
}

/// One client: connect at `connect_at`, round trips from `start_at`, then a clean close.
async fn echo_client<N: TcpNet>(
    net: &N,
    server: SocketAddrV4,
    id: usize,
    connect_at: Instant,
    start_at: Instant,
) -> Result<ClientResult, String> {
    net.sleep_until(connect_at).await;
    let mut flow = net
        .connect(server)
        .await
        .map_err(|e| format!("client {id}: connect: {e}"))?;
    net.sleep_until(start_at).await;
    let mut digest = FNV_BASIS;
    let mut back = [0u8; MSG];
    let mut bytes = 0u64;
    for round in 0..ROUND_TRIPS {
        let msg = message(id, round);
        flow.write_all(&msg)
            .await
            .map_err(|e| format!("client {id}: write {round}: {e}"))?;
        flow.read_exact(&mut back)
            .await
            .map_err(|e| format!("client {id}: read {round}: {e}"))?;
        if back != msg {
            return Err(format!(
                "client {id}: echo {round} differs from the message"
            ));
        }
        digest = fnv(digest, &back);
        bytes += MSG as u64;
    }
    flow.shutdown()
        .await
        .map_err(|e| format!("client {id}: shutdown: {e}"))?;
    let mut rest = [0u8; 16];
    match flow.read(&mut rest).await {
        Ok(0) => {}
        Ok(n) => return Err(format!("client {id}: {n} bytes after the last echo")),
        Err(e) => return Err(format!("client {id}: reading the end of stream: {e}")),
    }
    match flow.close().await {
        Ok(()) | Err(NetError::Closed) => {}
        Err(e) => return Err(format!("client {id}: close: {e}")),
    }
    Ok(ClientResult { digest, bytes })
}

/// Every client's result chained in client order; fails unless each echoed all its bytes.
fn digest(results: &Results, plan: Plan) -> Result<u64> {
    let mut h = FNV_BASIS;
    for (id, r) in results.borrow().iter().enumerate() {
        match r {
            Some(Ok(r)) if r.bytes == (ROUND_TRIPS * MSG) as u64 => {
                h = fnv(h, &(id as u64).to_le_bytes());
                h = fnv(h, &r.digest.to_le_bytes());
            }
            Some(Ok(r)) => bail!("client {id} echoed {} bytes", r.bytes),
            Some(Err(e)) => bail!("{e}"),
            None => bail!("client {id} did not finish"),
        }
    }
    if results.borrow().len() != plan.clients {
        bail!(
            "{} results for {} clients",
            results.borrow().len(),
            plan.clients
        );
    }
    Ok(h)
}

// ---------------------------------------------------------------------------------------
// weft-sim

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn client_ip(h: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(SERVER_IP) + 1 + h as u32)
}

struct WeftRun {
    wall: std::time::Duration,
    digest: u64,
    report: Report,
    /// Every host's TCP connection statistics summed (live and freed connections).
    tcp: ConnStats,
}

#[allow(clippy::disallowed_methods)] // wall-clock timing is the point of a benchmark
fn run_weft(plan: Plan) -> Result<WeftRun> {
    let start = std::time::Instant::now();
    let results: Results = Rc::new(RefCell::new(vec![None; plan.clients]));
    let link = LinkSpec::symmetric(LinkConfig {
        latency: LINK_LATENCY,
        ..LinkConfig::default()
    });
    // Each host's SimNet, kept to read its stack's TCP statistics after the run.
    let nets: Rc<RefCell<Vec<SimNet>>> = Rc::default();
    let server_nets = nets.clone();
    let mut b = Sim::builder()
        .switch("lan")
        .idle_host(
            "server",
            HostConfig::on("lan", SERVER_IP, 16).link(link.clone()),
        )
        .daemon("server", move |net| {
            server_nets.borrow_mut().push(net.clone());
            async move {
                let _ = echo_server(net, PORT).await;
            }
        });
    for h in 0..plan.hosts {
        let (results, nets) = (results.clone(), nets.clone());
        b = b.host(
            &format!("client{h}"),
            HostConfig::on("lan", client_ip(h), 16).link(link.clone()),
            move |net| {
                nets.borrow_mut().push(net.clone());
                client_host(
                    net,
                    SocketAddrV4::new(SERVER_IP, PORT),
                    plan,
                    h,
                    results.clone(),
                )
            },
        );
    }
    let report = b.run(SEED)?;
    let wall = start.elapsed();
    let mut tcp = ConnStats::default();
    for net in nets.borrow().iter() {
        tcp.accumulate(&net.with_stack(|s, _| s.tcp_stats_total()));
    }
    if !report.all_finished() {
        bail!(
            "weft-sim: not every client host finished:\n{}",
            report.summary()
        );
    }
    if !report.ok() {
        bail!("weft-sim: oracles failed:\n{}", report.oracle_summary());
    }
    for h in &report.hosts {
        let (q, t) = (h.counters.queues, h.counters.tcp);
        let lost = q.tx_queue_full + q.events_dropped + t.backlog_drops + t.connection_limit;
        if lost > 0 {
            bail!(
                "weft-sim: host {} dropped frames, events or SYNs at a limit: {q:?}, \
                 backlog_drops {}, connection_limit {}",
                h.name,
                t.backlog_drops,
                t.connection_limit
            );
        }
    }
    let digest = digest(&results, plan)?;
    Ok(WeftRun {
        wall,
        digest,
        report,
        tcp,
    })
}

// ---------------------------------------------------------------------------------------
// turmoil

struct TurmoilRun {
    wall: std::time::Duration,
    digest: u64,
    elapsed: std::time::Duration,
}

#[allow(clippy::disallowed_methods)] // wall-clock timing is the point of a benchmark
fn run_turmoil(plan: Plan) -> Result<TurmoilRun> {
    let start = std::time::Instant::now();
    let results: Results = Rc::new(RefCell::new(vec![None; plan.clients]));
    let mut sim = turmoil::Builder::new().rng_seed(SEED).build();
    sim.host("server", || async {
        echo_server(TurmoilNet::new(SEED), PORT).await?;
        Ok(())
    });
    for h in 0..plan.hosts {
        let results = results.clone();
        sim.client(format!("client{h}"), async move {
            let IpAddr::V4(server) = turmoil::lookup("server") else {
                return Err("turmoil gave the server an IPv6 address".into());
            };
            let net = TurmoilNet::new(SEED);
            client_host(net, SocketAddrV4::new(server, PORT), plan, h, results).await;
            Ok(())
        });
    }
    sim.run().map_err(|e| anyhow!("turmoil: {e}"))?;
    let elapsed = sim.elapsed();
    let wall = start.elapsed();
    drop(sim);
    let digest = digest(&results, plan)?;
    Ok(TurmoilRun {
        wall,
        digest,
        elapsed,
    })
}

// ---------------------------------------------------------------------------------------

/// Frames and segments of a weft run.
struct WeftStats {
    events: u64,
    frames_sent: u64,
    delivered: u64,
    segments: u64,
    retransmitted: u64,
    round_trips: u64,
}

fn weft_stats(w: &WeftRun, plan: Plan) -> WeftStats {
    let r = &w.report;
    let segments = r.hosts.iter().map(|h| h.counters.tcp.tx_segments).sum();
    let retransmitted = w.tcp.retransmitted_segs;
    WeftStats {
        events: r.events,
        frames_sent: r.frames_sent,
        delivered: r.link_totals().delivered,
        segments,
        retransmitted,
        round_trips: (plan.clients * ROUND_TRIPS) as u64,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn sim_echo_vs_turmoil(_root: &Path) -> Result<()> {
    let plan = Plan::new(CLIENTS);
    println!(
        "work: {CLIENTS} TCP echo clients on {} client hosts, {ROUND_TRIPS} round trips of \
         {MSG}-byte messages each to one echo server (port {PORT}); client i connects at \
         i x {STAGGER:?} and starts its round trips {:?} + (i mod {PHASES}) x {PHASE_GAP:?} \
         after the hosts start (every connection is open by then); the same async fns \
         (echo_server, client_host) run on both simulators; digest: every echoed byte, per \
         client, chained in client order",
        plan.hosts,
        plan.start()
    );
    println!(
        "weft settings: weft-sim, seed {SEED:#x}, one learning switch, every host a weft-core \
         stack with StackConfig::new's defaults (TcpConfig::default(), Limits::default(): \
         65,536 connections, 1,024 queued frames, 4,096 queued events; the run fails if any \
         host's queue, listen backlog or connection limit dropped anything) on weft-net's \
         direct backend (SimNet), listen backlog 128 (weft-net's BACKLOG); links \
         {LINK_LATENCY:?} per hop each way (20 ms host to host), unlimited bandwidth, no \
         faults; oracles and the sender-side monitor on (OracleConfig::default()); every \
         Ethernet, ARP, IPv4 and TCP frame built, checksummed, switched and parsed"
    );
    println!(
        "turmoil settings: turmoil 0.7 Builder::new().rng_seed({SEED:#x}), defaults otherwise \
         (tick 1 ms, simulation duration 10 s, latency 0-100 ms Exp(5), no loss, TCP \
         capacity 64 messages), TurmoilNet (weft-net's turmoil backend) in every host"
    );
    println!(
        "method: {RUNS} alternating single runs per side (weft, turmoil, ...), each timed from building the simulation to the end of its run; ratio turmoil wall / weft wall, median"
    );
    // For profiling weft alone: `WEFT_BENCH_PROFILE=<clients>[x<runs>]` runs weft-sim only,
    // at that many clients (100 client hosts at most), the given number of times (default 1),
    // and prints no ratio.
    if let Ok(spec) = std::env::var("WEFT_BENCH_PROFILE") {
        let (clients, runs) = spec.split_once('x').unwrap_or((spec.as_str(), "1"));
        let (Ok(clients), Ok(runs)) = (clients.parse::<usize>(), runs.parse::<usize>()) else {
            bail!("WEFT_BENCH_PROFILE={spec}: expected <clients>[x<runs>], e.g. 10000 or 100x30");
        };
        let plan = Plan::new(clients);
        for _ in 0..runs {
            let w = run_weft(plan)?;
            let s = weft_stats(&w, plan);
            println!(
                "weft {clients} clients: {:.3} s, {} events, {:.0} ns/event",
                w.wall.as_secs_f64(),
                s.events,
                w.wall.as_secs_f64() * 1e9 / s.events as f64
            );
        }
        return Ok(());
    }
    let mut ratios = Vec::new();
    let mut wt = Vec::new();
    let mut tt = Vec::new();
    let mut last = None;
    for run in 0..RUNS {
        let w = run_weft(plan)?;
        let t = run_turmoil(plan)?;
        if w.digest != t.digest {
            bail!(
                "digests differ: weft {:#018x}, turmoil {:#018x} (not the same work)",
                w.digest,
                t.digest
            );
        }
        let s = weft_stats(&w, plan);
        println!(
            "run {run}: weft {:.3} s ({} events, {} frames sent, {} delivered, {} TCP \
             segments, {} retransmitted, {:.3} s virtual) | turmoil {:.3} s ({:.3} s virtual) \
             | digest {:#018x} both",
            w.wall.as_secs_f64(),
            s.events,
            s.frames_sent,
            s.delivered,
            s.segments,
            s.retransmitted,
            w.report.end.as_nanos() as f64 / 1e9,
            t.wall.as_secs_f64(),
            t.elapsed.as_secs_f64(),
            w.digest
        );
        wt.push(w.wall.as_secs_f64());
        tt.push(t.wall.as_secs_f64());
        ratios.push(t.wall.as_secs_f64() / w.wall.as_secs_f64());
        last = Some(s);
    }
    let (mw, mt) = (median(&mut wt), median(&mut tt));
    let Some(s) = last else {
        bail!("no run");
    };
    println!(
        "median wall time: weft {mw:.3} s, turmoil {mt:.3} s; weft simulated {:.0} events/s, \
         {:.0} frames delivered/s, {:.0} TCP segments/s",
        s.events as f64 / mw,
        s.delivered as f64 / mw,
        s.segments as f64 / mw
    );
    let ratio = median(&mut ratios);
    println!(
        "weft alone at each size (the same 100 client hosts, more clients each; median of \
         {RUNS} runs at 100 clients, {SCALE_RUNS} at larger sizes; cost relative to 100 \
         clients; +: what the step up from the size above adds, the hosts' fixed start-up \
         cancelling, and its cost per added event relative to the first step's; 1.00 = \
         linear):"
    );
    println!(
        "{:>8} {:>6} {:>10} {:>10} {:>10} {:>8} {:>8} {:>9} {:>9} {:>10} {:>11} {:>10} {:>10} \
         {:>8}",
        "clients",
        "hosts",
        "events",
        "delivered",
        "segments",
        "retrans",
        "wall s",
        "ns/event",
        "us/rtrip",
        "event x",
        "rtrip x",
        "+events",
        "+ns/event",
        "+event x"
    );
    let (base, _) = scale_row(plan, RUNS, None, None, None)?;
    let mut prev = base;
    let mut steps = Vec::new();
    for clients in SCALE {
        let (row, st) = scale_row(
            Plan::new(clients),
            SCALE_RUNS,
            Some(base),
            Some(prev),
            steps.first().copied(),
        )?;
        steps.extend(st);
        prev = row;
    }
    let (Some(first), Some(last_step)) = (steps.first(), steps.last()) else {
        bail!("no step between sizes");
    };
    let mid = SCALE.first().copied().unwrap_or(CLIENTS);
    let top = prev.clients;
    println!(
        "marginal ns/event (wall time a step adds / events it adds; {:.2} and {:.2} events per \
         added client): {:.0} from {CLIENTS} to {mid} clients, {:.0} from {mid} to {top}; \
         ratio {:.2} (1.00 = linear; whole runs, ns/event at {top} / at {CLIENTS}: {:.2})",
        first.events_per_client,
        last_step.events_per_client,
        first.per_event * 1e9,
        last_step.per_event * 1e9,
        last_step.per_event / first.per_event,
        prev.per_event() / base.per_event()
    );
    println!("RATIO sim_echo_vs_turmoil {ratio:.2}");
    Ok(())
}

/// One size's results: median wall time (s) and the work.
#[derive(Debug, Clone, Copy)]
struct SizeRow {
    clients: usize,
    wall: f64,
    events: u64,
    round_trips: u64,
}

impl SizeRow {
    fn per_event(&self) -> f64 {
        self.wall / self.events as f64
    }

    fn per_rt(&self) -> f64 {
        self.wall / self.round_trips as f64
    }
}

/// The step from one size up to a larger one: what it adds.
#[derive(Debug, Clone, Copy)]
struct Step {
    events: u64,
    /// Wall time per added event, s.
    per_event: f64,
    /// Added events per added client.
    events_per_client: f64,
}

fn step(from: &SizeRow, to: &SizeRow) -> Result<Step> {
    let events = to.events.saturating_sub(from.events);
    let clients = to.clients.saturating_sub(from.clients);
    if events == 0 || clients == 0 {
        bail!(
            "no events added from {} to {} clients",
            from.clients,
            to.clients
        );
    }
    Ok(Step {
        events,
        per_event: (to.wall - from.wall) / events as f64,
        events_per_client: events as f64 / clients as f64,
    })
}

/// Runs weft `runs` times at `plan`'s size and prints one row of the scaling table (median
/// wall time), relative to `base` and with the marginal cost of the step up from `prev`
/// (`first`: the step from `base`'s size to the next, the reference for the others).
fn scale_row(
    plan: Plan,
    runs: usize,
    base: Option<SizeRow>,
    prev: Option<SizeRow>,
    first: Option<Step>,
) -> Result<(SizeRow, Option<Step>)> {
    let mut walls = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let w = run_weft(plan)?;
        walls.push(w.wall.as_secs_f64());
        last = Some(weft_stats(&w, plan));
    }
    let Some(s) = last else {
        bail!("no run at {} clients", plan.clients);
    };
    let row = SizeRow {
        clients: plan.clients,
        wall: median(&mut walls),
        events: s.events,
        round_trips: s.round_trips,
    };
    let b = base.unwrap_or(row);
    let st = prev.map(|p| step(&p, &row)).transpose()?;
    let (added, marginal, marginal_x) = match st {
        Some(st) => {
            let reference = first.unwrap_or(st);
            let apart = (st.events_per_client / reference.events_per_client - 1.0).abs();
            if apart > STEP_EVENTS_TOLERANCE {
                bail!(
                    "the step to {} clients adds {:.2} events per client, the first step {:.2}: \
                     not the same work per added client, so their costs do not compare",
                    plan.clients,
                    st.events_per_client,
                    reference.events_per_client
                );
            }
            (
                format!("+{}", st.events),
                format!("{:.0}", st.per_event * 1e9),
                format!("{:.2}", st.per_event / reference.per_event),
            )
        }
        None => ("-".into(), "-".into(), "-".into()),
    };
    println!(
        "{:>8} {:>6} {:>10} {:>10} {:>10} {:>8} {:>8.3} {:>9.0} {:>9.2} {:>10.2} {:>11.2} \
         {:>10} {:>10} {:>8}",
        plan.clients,
        plan.hosts + 1,
        s.events,
        s.delivered,
        s.segments,
        s.retransmitted,
        row.wall,
        row.per_event() * 1e9,
        row.per_rt() * 1e6,
        row.per_event() / b.per_event(),
        row.per_rt() / b.per_rt(),
        added,
        marginal,
        marginal_x
    );
    Ok((row, st))
}
