//! `cargo xtask bench sim_udp_scale`: how fast the simulator runs a UDP workload, and how that
//! scales from 100 to 1,000 and 10,000 hosts.
//!
//! The network is racks of [`RACK`] hosts, each rack on its own learning switch: one echo
//! server and nine clients, each client sending [`DATAGRAMS`] datagrams of [`SIZE`] bytes to
//! its rack's server, one every [`INTERVAL`], and receiving the echoes (links: 100 µs, no
//! faults). Racks keep broadcast domains the same size at every scale — on one switch every
//! ARP request and announcement would reach every host, so the frame count itself would grow
//! with hosts² — which makes the work per host constant and the ideal wall time linear.
//!
//! Prints, per size: simulated events, frames hosts sent, frames delivered by links, wall
//! time, events and delivered frames per wall second, and wall time per host relative to the
//! smallest size (1.00 = linear). The simulation itself never reads a clock; only this
//! harness does.

use anyhow::{Result, bail};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration as WallDuration;
use weft_core::Duration;
use weft_net::{Net, UdpNet, UdpSocket};
use weft_sim::{HostConfig, LinkConfig, LinkSpec, Report, Sim, SimBuilder};

/// Hosts per rack (one switch each): a server and nine clients.
const RACK: usize = 10;
/// Datagrams per client.
const DATAGRAMS: u32 = 100;
/// Payload bytes.
const SIZE: usize = 100;
/// Gap between a client's datagrams.
const INTERVAL: Duration = Duration::from_millis(1);
/// The sizes measured.
const HOSTS: [usize; 3] = [100, 1_000, 10_000];
/// Runs per size (the median is reported).
const RUNS: usize = 3;
const SEED: u64 = 1;

/// Host `i` of rack `r`: 10.R.R.i+1 (a /24 per rack).
fn addr(rack: usize, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, (rack / 250) as u8, (rack % 250) as u8, i as u8 + 1)
}

fn build(hosts: usize) -> SimBuilder {
    let link = LinkSpec::symmetric(LinkConfig {
        latency: Duration::from_micros(100),
        ..LinkConfig::default()
    });
    let mut b = Sim::builder();
    for r in 0..hosts.div_ceil(RACK) {
        let switch = format!("rack{r}");
        b = b.switch(&switch);
        let server = addr(r, 0);
        b = b.host(
            &format!("s{r}"),
            HostConfig::on(&switch, server, 24).link(link.clone()),
            |net| async move {
                let _ = weft_net::apps::udp_echo_server(net, 7).await;
            },
        );
        for i in 1..RACK.min(hosts - r * RACK) {
            b = b.host(
                &format!("c{r}-{i}"),
                HostConfig::on(&switch, addr(r, i), 24).link(link.clone()),
                move |net| client(net, SocketAddrV4::new(server, 7)),
            );
        }
    }
    b
}

/// Sends `DATAGRAMS` datagrams one `INTERVAL` apart, echoes received by a spawned reader;
/// waits 50 ms after the last.
async fn client(net: weft_sim::SimNet, server: SocketAddrV4) {
    let Ok(s) = net
        .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
        .await
    else {
        return;
    };
    let rx = s.clone();
    net.spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok(_) | Err(weft_net::NetError::Icmp { .. }) = rx.recv_from(&mut buf).await {}
    });
    let payload = [0x5au8; SIZE];
    for _ in 0..DATAGRAMS {
        let _ = s.send_to(&payload, server).await;
        net.sleep(INTERVAL).await;
    }
    net.sleep(Duration::from_millis(50)).await;
}

// xtask measures wall time; the simulator itself never reads a clock.
#[allow(clippy::disallowed_methods)]
fn timed(b: &SimBuilder) -> Result<(WallDuration, Report)> {
    let start = std::time::Instant::now();
    let r = b.run(SEED)?;
    Ok((start.elapsed(), r))
}

pub fn sim_udp_scale(_root: &Path) -> Result<()> {
    println!(
        "workload: racks of {RACK} hosts on their own switch (1 UDP echo server, {} clients), \
         each client sends {DATAGRAMS} datagrams of {SIZE} bytes, one every {INTERVAL:?}, \
         links 100 us without faults; seed {SEED}; median of {RUNS} runs",
        RACK - 1
    );
    println!(
        "{:>7} {:>11} {:>11} {:>11} {:>9} {:>13} {:>13} {:>10}",
        "hosts", "events", "sent", "delivered", "wall s", "events/s", "frames/s", "vs linear"
    );
    // For profiling one size alone: `WEFT_BENCH_PROFILE=<hosts>` runs only that size (still
    // checked, and printed as the others; "vs linear" is then relative to itself).
    let profiling = std::env::var_os("WEFT_BENCH_PROFILE").is_some();
    let sizes: Vec<usize> =
        match std::env::var("WEFT_BENCH_PROFILE") {
            Ok(v) => vec![v.parse().map_err(|_| {
                anyhow::anyhow!("WEFT_BENCH_PROFILE={v}: expected a number of hosts")
            })?],
            Err(_) => HOSTS.to_vec(),
        };
    let mut base_per_host = None;
    for hosts in sizes {
        let b = build(hosts);
        let mut walls = Vec::new();
        let mut report = None;
        for _ in 0..RUNS {
            let (wall, r) = timed(&b)?;
            walls.push(wall);
            report = Some(r);
        }
        let Some(r) = report else {
            bail!("no run");
        };
        if !r.all_finished() {
            bail!("{hosts} hosts: not every client finished:\n{}", r.summary());
        }
        walls.sort();
        let wall = walls
            .get(walls.len() / 2)
            .copied()
            .unwrap_or_default()
            .as_secs_f64();
        let delivered = r.link_totals().delivered;
        let clients = (hosts - hosts.div_ceil(RACK)) as u64;
        let echoes: u64 = r.hosts.iter().map(|h| h.counters.udp.rx_delivered).sum();
        if echoes < 2 * clients * u64::from(DATAGRAMS) {
            bail!(
                "{hosts} hosts: {echoes} datagrams delivered to sockets, expected {}",
                2 * clients * u64::from(DATAGRAMS)
            );
        }
        let per_host = wall / hosts as f64;
        let base = *base_per_host.get_or_insert(per_host);
        println!(
            "{:>7} {:>11} {:>11} {:>11} {:>9.3} {:>13.0} {:>13.0} {:>10.2}",
            hosts,
            r.events,
            r.frames_sent,
            delivered,
            wall,
            r.events as f64 / wall,
            delivered as f64 / wall,
            per_host / base
        );
        if profiling {
            // What `cargo xtask misses` divides by: every run's events.
            println!(
                "weft {hosts} hosts: {RUNS} runs, {} events",
                r.events * RUNS as u64
            );
        }
    }
    Ok(())
}
