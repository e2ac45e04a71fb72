//! Workloads: UDP echo, request/response, DHCP acquisition and ARP churn on simulated hosts,
//! judged by the oracles.
#![allow(clippy::indexing_slicing, clippy::panic)] // test code: a bad index or an unexpected error is a failure

use std::net::Ipv4Addr;
use weft_core::{Duration, Instant};
use weft_sim::{
    Action, ArpChurn, DhcpAcquisition, FaultSource, HostConfig, LinkConfig, LinkSpec, Loss, Report,
    Sim, SimBuilder, Tape, UdpEcho, UdpRequestResponse,
};

fn lossy() -> LinkSpec {
    LinkSpec::symmetric(LinkConfig {
        latency: Duration::from_micros(300),
        jitter: Duration::from_micros(100),
        loss: Loss::Bernoulli { p: 0.02 },
        duplicate: 0.01,
        reorder: 0.01,
        corrupt: 0.01,
        ..LinkConfig::default()
    })
}

/// A switch with `server` (10.0.0.1) and clients `c0..` (10.0.0.10..).
fn lan(clients: usize, link: &LinkSpec) -> SimBuilder {
    let mut b = Sim::builder().switch("lan").idle_host(
        "server",
        HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 1), 24).link(link.clone()),
    );
    for i in 0..clients {
        b = b.idle_host(
            &format!("c{i}"),
            HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 10 + i as u8), 24).link(link.clone()),
        );
    }
    b
}

fn names(r: std::ops::Range<usize>) -> Vec<String> {
    r.map(|i| format!("c{i}")).collect()
}

fn run(b: &SimBuilder, seed: u64) -> Report {
    println!("seed {seed}");
    let r = b.run(seed).expect("valid simulation");
    println!("{}", r.summary());
    r
}

fn mixed(link: &LinkSpec) -> SimBuilder {
    lan(4, link)
        .workload(UdpEcho {
            server: "server".into(),
            clients: names(0..2),
            datagrams_per_client: 300,
            ..UdpEcho::default()
        })
        .workload(UdpRequestResponse {
            server: "server".into(),
            clients: names(2..4),
            requests_per_client: 250,
            size: 100,
            response_size: 200,
            ..UdpRequestResponse::default()
        })
}

#[test]
fn workloads_echo_and_request_response_carry_a_thousand_datagrams_over_five_hosts() {
    let r = run(&mixed(&lossy()), 1);
    assert!(r.ok(), "oracles: {:?}", r.oracles);
    assert!(r.all_finished());
    let echo = r.workload("udp-echo0").expect("named after its kind");
    let rr = r
        .workload("udp-request-response1")
        .expect("named after its kind");
    assert_eq!(echo.clients_finished, 2);
    assert_eq!(echo.sent, 600);
    assert!(echo.completed > 500 && echo.completed <= 600, "{echo:?}");
    assert_eq!(echo.completed + echo.failed, 600);
    assert_eq!(rr.clients_finished, 2);
    assert_eq!(rr.completed + rr.failed, 500);
    assert!(rr.retries > 0, "losses caused retries: {rr:?}");
    assert_eq!(rr.sent, 500 + rr.retries);
    // Servers' answers included, well over a thousand datagrams, some lost to faults.
    assert!(r.datagrams.sent >= 2000, "{:?}", r.datagrams);
    assert!(
        r.datagrams.lost > 0 && r.datagrams.duplicates > 0,
        "{:?}",
        r.datagrams
    );
    assert!(r.monitor.checked("udp.checksum") >= 2000);
    assert!(r.monitor.checked("arp.sender") >= 5);
    assert!(r.monitor.clean());
}

#[test]
fn workloads_on_a_clean_network_lose_nothing() {
    let r = run(&mixed(&LinkSpec::default()), 2);
    assert!(r.ok(), "oracles: {:?}", r.oracles);
    let d = r.datagrams;
    assert_eq!((d.lost, d.duplicates), (0, 0), "{d:?}");
    assert_eq!(d.sent, d.received);
    assert_eq!(r.workload("udp-echo0").unwrap().completed, 600);
    let rr = r.workload("udp-request-response1").unwrap();
    assert_eq!((rr.completed, rr.retries, rr.stale), (500, 0, 0));
    assert!(r.tape.is_empty());
}

#[test]
fn workloads_survive_a_server_crash_and_a_partition() {
    let b = lan(2, &LinkSpec::default())
        .workload(UdpRequestResponse {
            server: "server".into(),
            clients: names(0..2),
            requests_per_client: 400,
            retries: 50,
            ..UdpRequestResponse::default()
        })
        .at(
            Instant::from_millis(30),
            Action::Crash {
                host: "server".into(),
            },
        )
        .at(
            Instant::from_millis(200),
            Action::Restart {
                host: "server".into(),
            },
        )
        .at(
            Instant::from_millis(250),
            Action::Partition {
                host: "c1".into(),
                iface: 0,
            },
        )
        .at(
            Instant::from_millis(400),
            Action::Heal {
                host: "c1".into(),
                iface: 0,
            },
        );
    let r = run(&b, 3);
    assert!(r.ok(), "oracles: {:?}", r.oracles);
    let rr = &r.workloads[0];
    assert_eq!((rr.completed, rr.failed), (800, 0), "{rr:?}");
    assert!(rr.retries > 0);
    assert_eq!(r.quiet_since, Some(Instant::from_millis(400)));
    assert!(r.link_totals().partition_drops > 0);
}

#[test]
fn workloads_dhcp_clients_acquire_addresses_and_use_them() {
    let mut b = Sim::builder().switch("lan").idle_host(
        "dhcpd",
        HostConfig::on("lan", Ipv4Addr::new(192, 168, 7, 1), 24).link(lossy()),
    );
    for i in 0..4 {
        b = b.idle_host(&format!("d{i}"), HostConfig::dhcp("lan").link(lossy()));
    }
    let b = b.workload(DhcpAcquisition {
        server: "dhcpd".into(),
        clients: (0..4).map(|i| format!("d{i}")).collect(),
        requests_after: 20,
        ..DhcpAcquisition::default()
    });
    let r = run(&b, 4);
    assert!(r.ok(), "oracles: {:?}", r.oracles);
    let w = &r.workloads[0];
    assert_eq!((w.kind, w.completed, w.failed), ("dhcp", 4, 0), "{w:?}");
    assert_eq!(w.clients_finished, 4);
    // Each client's 20 requests: acquisition is not a datagram of the ledger.
    assert!(r.datagrams.sent >= 160, "{:?}", r.datagrams);
    for h in &r.hosts[1..] {
        assert!(
            h.counters.dhcp.leases >= 1,
            "{}: {:?}",
            h.name,
            h.counters.dhcp
        );
    }
    assert!(
        r.monitor.checked("dhcp.chaddr") >= 8,
        "{:?}",
        r.monitor.rules
    );
    assert!(r.monitor.checked("dhcp.xid") >= 8);
    assert!(r.monitor.checked("dhcp.message") >= 16);
}

#[test]
fn workloads_arp_churn_evicts_expires_and_resolves_again() {
    let mut b = Sim::builder().switch("lan");
    let mut hosts = Vec::new();
    for i in 0..5u8 {
        let name = format!("h{i}");
        b = b.idle_host(
            &name,
            HostConfig::on("lan", Ipv4Addr::new(10, 1, 0, 1 + i), 24).limits(ArpChurn::limits()),
        );
        hosts.push(name);
    }
    let b = b.workload(ArpChurn {
        hosts,
        rounds: 4,
        ..ArpChurn::default()
    });
    let r = run(&b, 5);
    assert!(r.ok(), "oracles: {:?}", r.oracles);
    let w = &r.workloads[0];
    assert_eq!((w.sent, w.completed, w.failed), (80, 80, 0), "{w:?}");
    let arp = r.hosts.iter().fold((0, 0, 0), |a, h| {
        let c = &h.counters.arp;
        (
            a.0 + c.evictions,
            a.1 + c.expirations,
            a.2 + c.requests_sent,
        )
    });
    println!(
        "arp evictions {} expirations {} requests {}",
        arp.0, arp.1, arp.2
    );
    assert!(arp.0 > 0, "a 2-entry cache evicts");
    assert!(arp.1 > 0, "1-second entries expire between rounds");
    assert!(arp.2 > 40, "resolved again and again");
    assert!(r.monitor.checked("arp.sender") > 40);
    assert!(r.monitor.checked("icmp.checksum") >= 160);
}

#[test]
fn workloads_bad_definitions_are_errors() {
    let e = lan(1, &LinkSpec::default())
        .workload(UdpEcho {
            server: "nobody".into(),
            clients: names(0..1),
            ..UdpEcho::default()
        })
        .run(1)
        .unwrap_err();
    assert!(e.to_string().contains("`nobody` is not a host"), "{e}");
    let e = lan(1, &LinkSpec::default())
        .workload(DhcpAcquisition {
            server: "server".into(),
            clients: names(0..1),
            ..DhcpAcquisition::default()
        })
        .run(1)
        .unwrap_err();
    assert!(e.to_string().contains("HostConfig::dhcp"), "{e}");
    let e = lan(2, &LinkSpec::default())
        .workload(UdpEcho {
            server: "server".into(),
            clients: names(0..1),
            port: 9,
            ..UdpEcho::default()
        })
        .workload(UdpRequestResponse {
            server: "server".into(),
            clients: names(1..2),
            port: 9,
            ..UdpRequestResponse::default()
        })
        .run(1)
        .unwrap_err();
    assert!(e.to_string().contains("different service"), "{e}");
    // TCP workloads built in Rust get the scenario file's limits.
    let e = lan(1, &LinkSpec::default())
        .workload(weft_sim::TcpRequestResponse {
            server: "server".into(),
            clients: names(0..1),
            size: 0,
            ..weft_sim::TcpRequestResponse::default()
        })
        .run(1)
        .unwrap_err();
    assert!(e.to_string().contains("size 0: 1 byte to 1 MiB"), "{e}");
    let e = lan(1, &LinkSpec::default())
        .workload(weft_sim::TcpEcho {
            server: "server".into(),
            clients: names(0..1),
            connections: 100_000,
            concurrent: true,
            ..weft_sim::TcpEcho::default()
        })
        .run(1)
        .unwrap_err();
    assert!(e.to_string().contains("1 to 16384 at once"), "{e}");
}

#[test]
fn workloads_send_the_same_prefix_when_smaller() {
    // A smaller workload sends the first datagrams of the larger one: a tape recorded on the
    // larger run still hits frames of the smaller.
    let big = lan(1, &lossy()).workload(UdpRequestResponse {
        server: "server".into(),
        clients: names(0..1),
        requests_per_client: 200,
        ..UdpRequestResponse::default()
    });
    let r = run(&big, 6);
    let small_ws: Vec<_> = big.workloads()[0].smaller().into_iter().take(1).collect();
    let small = big
        .clone()
        .set_workloads(small_ws)
        .faults(FaultSource::Tape(r.tape.clone()));
    let s = run(&small, 6);
    assert!(s.ok(), "{:?}", s.oracles);
    assert_eq!(s.workloads[0].completed + s.workloads[0].failed, 100);
    assert!(
        !s.tape.is_empty() && s.tape.len() < r.tape.len(),
        "{} of {} entries still hit",
        s.tape.len(),
        r.tape.len()
    );
    let none = run(&big.faults(FaultSource::Tape(Tape::default())), 6);
    assert!(none.ok());
}
