//! TCP workloads (echo, bulk, request/response, many concurrent connections) on clean and
//! faulty links, judged by the stream oracle; the sender-side monitor's TCP rules on them.
#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)] // test code: a bad index or an unexpected error is a failure

use std::net::Ipv4Addr;
use weft_core::Duration;
use weft_sim::{
    HostConfig, LinkConfig, LinkSpec, Loss, Report, Sim, SimBuilder, TcpBulk, TcpEcho,
    TcpRequestResponse, secs,
};

fn lossy() -> LinkSpec {
    LinkSpec::symmetric(LinkConfig {
        latency: Duration::from_micros(300),
        jitter: Duration::from_micros(100),
        loss: Loss::Bernoulli { p: 0.02 },
        duplicate: 0.02,
        reorder: 0.02,
        corrupt: 0.02,
        ..LinkConfig::default()
    })
}

/// A server and three clients with every TCP workload.
fn sim(link: LinkSpec) -> SimBuilder {
    let mut b = Sim::builder().switch("lan").idle_host(
        "server",
        HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 1), 24).link(link.clone()),
    );
    for i in 0..3u8 {
        b = b.idle_host(
            &format!("c{i}"),
            HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 10 + i), 24).link(link.clone()),
        );
    }
    b.workload(TcpBulk {
        name: "bulk".into(),
        server: "server".into(),
        clients: vec!["c0".into()],
        upload: 300_000,
        download: 200_000,
        ..TcpBulk::default()
    })
    .workload(TcpEcho {
        name: "echo".into(),
        server: "server".into(),
        clients: vec!["c1".into()],
        connections: 3,
        messages: 20,
        size: 3000,
        ..TcpEcho::default()
    })
    .workload(TcpRequestResponse {
        name: "rr".into(),
        server: "server".into(),
        clients: vec!["c2".into()],
        requests: 50,
        size: 100,
        response_size: 2000,
        ..TcpRequestResponse::default()
    })
    .workload(TcpEcho {
        name: "many".into(),
        server: "server".into(),
        port: 8,
        clients: vec!["c0".into(), "c1".into(), "c2".into()],
        connections: 24,
        concurrent: true,
        messages: 3,
        size: 200,
        ..TcpEcho::default()
    })
    .until(weft_core::Instant::ZERO + secs(120.0))
}

fn check_clean(r: &Report) {
    println!("{}", r.summary());
    print!("{}", r.oracle_summary());
    assert!(r.ok(), "{}", r.oracle_summary());
    assert!(r.all_finished());
    let bulk = r.workload("bulk").unwrap();
    assert_eq!(bulk.completed, 1);
    // Header + upload one way, download the other; each read and checked.
    assert!(bulk.bytes_received >= 500_000 + 20, "{bulk:?}");
    assert_eq!(r.workload("echo").unwrap().completed, 60);
    assert_eq!(r.workload("rr").unwrap().completed, 50);
    let many = r.workload("many").unwrap();
    assert_eq!(many.completed, 3 * 24 * 3);
    assert_eq!(many.connections, 72);
    for rule in [
        "tcp.header",
        "tcp.checksum",
        "tcp.ack",
        "tcp.window",
        "tcp.mss",
        "tcp.fin",
    ] {
        assert!(r.monitor.checked(rule) > 0, "{rule} never checked");
    }
}

#[test]
fn tcp_workloads_move_every_byte_on_a_clean_network() {
    let r = sim(LinkSpec::default()).run(1).unwrap();
    check_clean(&r);
    assert_eq!(r.streams.errors, 0);
    assert_eq!(r.tcp_totals().retransmitted_segs, 0);
}

#[test]
fn tcp_workloads_survive_loss_duplication_reordering_and_corruption() {
    for seed in 1..=4 {
        println!("seed {seed}");
        let r = sim(lossy()).run(seed).unwrap();
        check_clean(&r);
        let t = r.link_totals();
        assert!(t.lost > 0 && t.duplicated > 0 && t.reordered > 0 && t.corrupted > 0);
        assert!(r.tcp_totals().retransmitted_segs > 0);
    }
}
