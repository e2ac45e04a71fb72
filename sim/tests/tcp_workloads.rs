//! TCP workloads (echo, bulk, request/response, many concurrent connections) on clean and
//! faulty links, judged by the stream oracle; the sender-side monitor's TCP rules on them.
#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)] // test code: a bad index or an unexpected error is a failure

use std::net::Ipv4Addr;
use weft_core::Duration;
use weft_sim::{
    Action, HostConfig, LinkConfig, LinkSpec, Loss, Report, Sim, SimBuilder, TcpBulk, TcpEcho,
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

/// Lossy links, a partition of c1 and a crash of the server while transfers are under way:
/// connections reset by the restarted server are accounted to the crash, every byte that
/// arrives is the byte written, and no TCP rule of the monitor fires.
#[test]
fn tcp_workloads_survive_a_partition_and_a_server_crash() {
    let (mut errors, mut partitioned) = (0, 0);
    for seed in 1..=3 {
        println!("seed {seed}");
        let r = sim(lossy())
            .workload(TcpBulk {
                name: "paced".into(),
                server: "server".into(),
                port: 9,
                clients: vec!["c1".into(), "c2".into()],
                upload: 64 * 1024,
                download: 64 * 1024,
                chunk: 2048,
                interval: Duration::from_millis(25),
                idle_timeout: Duration::from_secs(5),
                ..TcpBulk::default()
            })
            .at(
                weft_core::Instant::ZERO + secs(0.1),
                Action::Partition {
                    host: "c1".into(),
                    iface: 0,
                },
            )
            .at(
                weft_core::Instant::ZERO + secs(0.3),
                Action::Heal {
                    host: "c1".into(),
                    iface: 0,
                },
            )
            .at(
                weft_core::Instant::ZERO + secs(0.4),
                Action::Crash {
                    host: "server".into(),
                },
            )
            .at(
                weft_core::Instant::ZERO + secs(0.5),
                Action::Restart {
                    host: "server".into(),
                },
            )
            .run(seed)
            .unwrap();
        println!("{}", r.summary());
        print!("{}", r.oracle_summary());
        assert!(r.ok(), "{}", r.oracle_summary());
        assert!(r.all_finished());
        assert!(
            r.monitor.checked("tcp.rst") > 0,
            "the restarted server reset connections"
        );
        let many = r.workload("many").unwrap();
        assert_eq!(many.completed, 3 * 24 * 3, "{many:?}");
        // The partitioned and reset transfers were retried to the end.
        let paced = r.workload("paced").unwrap();
        assert_eq!((paced.completed, paced.failed), (2, 0), "{paced:?}");
        errors += r.streams.errors;
        partitioned += r.link_totals().partition_drops;
    }
    assert!(errors > 0, "connections failed across the crash");
    assert!(partitioned > 0);
}

#[cfg(feature = "planted-bugs")]
mod planted {
    use super::*;
    use std::net::SocketAddrV4;
    use weft_net::TcpNet;
    use weft_sim::PlantedBug;

    fn pair(client_link: LinkSpec) -> SimBuilder {
        Sim::builder()
            .switch("lan")
            .idle_host(
                "server",
                HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 1), 24),
            )
            .idle_host(
                "c0",
                HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 10), 24).link(client_link),
            )
            .workload(TcpBulk {
                name: "bulk".into(),
                server: "server".into(),
                clients: vec!["c0".into()],
                upload: 100_000,
                download: 100_000,
                idle_timeout: Duration::from_secs(2),
                attempts: 2,
                ..TcpBulk::default()
            })
            .until(weft_core::Instant::ZERO + secs(30.0))
    }

    /// Runs `b` with `bug` planted: `rule` must have caught it; without it, nothing fires.
    fn caught(b: SimBuilder, bug: PlantedBug, rule: &str) -> Report {
        let honest = b.run(1).unwrap();
        assert_eq!(
            honest.monitor.rules[rule].failed,
            0,
            "{}",
            honest.oracle_summary()
        );
        let r = b.plant(bug).run(1).unwrap();
        println!("{bug:?}: {}", r.oracle_summary());
        let c = r.monitor.rules[rule];
        assert!(c.failed > 0, "{rule} missed {bug:?}: {c:?}");
        assert!(
            r.oracles.iter().any(|f| matches!(
                f,
                weft_sim::OracleFailure::Monitor { rule: got, .. } if *got == rule
            )),
            "{:?}",
            r.oracles
        );
        r
    }

    #[test]
    fn planted_tcp_checksum_is_caught() {
        caught(
            pair(LinkSpec::default()),
            PlantedBug::TcpBadChecksum { nth: 25 },
            "tcp.checksum",
        );
    }

    #[test]
    fn planted_tcp_header_is_caught() {
        caught(
            pair(LinkSpec::default()),
            PlantedBug::TcpBadHeader { nth: 25 },
            "tcp.header",
        );
    }

    #[test]
    fn planted_ack_of_unsent_data_is_caught() {
        caught(
            pair(LinkSpec::default()),
            PlantedBug::TcpAckUnsent { nth: 25 },
            "tcp.ack",
        );
    }

    #[test]
    fn planted_data_beyond_the_window_is_caught() {
        caught(
            pair(LinkSpec::default()),
            PlantedBug::TcpBeyondWindow { nth: 25 },
            "tcp.window",
        );
    }

    #[test]
    fn planted_segments_over_the_mss_are_caught() {
        // The client's link carries 576-byte packets: it announces MSS 536, which the
        // planted bug raises to 1460 on the way; the server then sends 1460-byte segments.
        let small = LinkSpec::symmetric(LinkConfig {
            mtu: 576,
            ..LinkConfig::default()
        });
        let r = caught(pair(small), PlantedBug::TcpMssInflated, "tcp.mss");
        let v = r
            .monitor
            .violations
            .iter()
            .find(|v| v.rule == "tcp.mss")
            .unwrap();
        assert_eq!(v.host, "server", "{v:?}");
        assert!(v.detail.contains("MSS 536"), "{v:?}");
    }

    #[test]
    fn planted_early_fin_is_caught() {
        let r = caught(
            pair(LinkSpec::default()),
            PlantedBug::TcpEarlyFin { nth: 25 },
            "tcp.fin",
        );
        // The receiver believed the FIN: the stream oracle sees the stream end short.
        assert!(
            r.oracles
                .iter()
                .any(|f| matches!(f, weft_sim::OracleFailure::StreamTruncated { .. })),
            "{:?}",
            r.oracles
        );
    }

    #[test]
    fn planted_stream_corruption_is_caught_by_the_stream_oracle() {
        let b = pair(LinkSpec::default());
        assert!(b.run(1).unwrap().ok());
        let r = b
            .plant(PlantedBug::TcpCorruptAfterMonitor { nth: 30 })
            .run(1)
            .unwrap();
        println!("{}", r.oracle_summary());
        assert!(
            r.monitor.clean(),
            "the monitor saw the frame before the damage"
        );
        assert!(
            r.oracles
                .iter()
                .any(|f| matches!(f, weft_sim::OracleFailure::StreamCorrupted { .. })),
            "{:?}",
            r.oracles
        );
    }

    #[test]
    fn planted_reset_without_a_fault_is_caught_by_the_stream_oracle() {
        let b = pair(LinkSpec::default());
        let r = b
            .plant(PlantedBug::TcpResetAfterMonitor { nth: 30 })
            .run(1)
            .unwrap();
        println!("{}", r.oracle_summary());
        assert!(
            r.oracles.iter().any(|f| matches!(
                f,
                weft_sim::OracleFailure::UnaccountedStreamError {
                    error: weft_sim::StreamError::Reset,
                    ..
                }
            )),
            "{:?}",
            r.oracles
        );
    }

    #[test]
    fn planted_rst_sequence_is_caught() {
        // A connect to a port nobody listens on: the server answers with a RST.
        let b = Sim::builder()
            .switch("lan")
            .idle_host(
                "server",
                HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 1), 24),
            )
            .host(
                "c0",
                HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 10), 24),
                |net| async move {
                    let to = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 9);
                    assert!(net.connect(to).await.is_err());
                },
            );
        let r = caught(b, PlantedBug::TcpRstSeq { nth: 0 }, "tcp.rst");
        assert!(r.monitor.checked("tcp.rst") >= 1);
    }
}
