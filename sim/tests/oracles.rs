//! The oracles, each proved on a bug planted on purpose (the `planted-bugs` feature), the
//! determinism mode (in one process and across two), and golden hashes of fixed runs.
#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)] // test code: a bad index or an unexpected error is a failure

use std::net::Ipv4Addr;
use weft_core::{Duration, Instant};
#[cfg(feature = "planted-bugs")]
use weft_sim::PlantedBug;
use weft_sim::determinism;
#[cfg(feature = "planted-bugs")]
use weft_sim::determinism::DeterminismError;
use weft_sim::{
    Action, ArpChurn, DhcpAcquisition, FaultSource, HostConfig, LinkConfig, LinkSpec, Loss, Report,
    Sim, SimBuilder, Tape, UdpEcho, UdpRequestResponse,
};
#[cfg(feature = "planted-bugs")]
use weft_sim::{Oracle, OracleFailure};

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

/// `server` (10.0.0.1), clients `c0..c3`, and `c9`, a bystander; `c9`'s link has `noisy`.
fn lan(link: &LinkSpec, noisy: &LinkSpec) -> SimBuilder {
    let mut b = Sim::builder().switch("lan").idle_host(
        "server",
        HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 1), 24).link(link.clone()),
    );
    for i in 0..4u8 {
        b = b.idle_host(
            &format!("c{i}"),
            HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 10 + i), 24).link(link.clone()),
        );
    }
    b.idle_host(
        "c9",
        HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 99), 24).link(noisy.clone()),
    )
}

fn workload(b: SimBuilder) -> SimBuilder {
    b.workload(UdpEcho {
        server: "server".into(),
        clients: vec!["c0".into(), "c1".into()],
        datagrams_per_client: 200,
        ..UdpEcho::default()
    })
    .workload(UdpRequestResponse {
        server: "server".into(),
        clients: vec!["c2".into(), "c3".into()],
        requests_per_client: 200,
        ..UdpRequestResponse::default()
    })
}

/// No faults except on the bystander's link (so faults fire in the run, but on no path the
/// workload uses).
fn clean() -> SimBuilder {
    let noisy = LinkSpec::symmetric(LinkConfig {
        loss: Loss::Bernoulli { p: 0.3 },
        duplicate: 0.3,
        ..LinkConfig::default()
    });
    workload(lan(&LinkSpec::default(), &noisy))
}

fn run(b: &SimBuilder, seed: u64) -> Report {
    println!("seed {seed}");
    let r = b.run(seed).expect("valid simulation");
    println!("{}", r.summary());
    r
}

#[cfg(feature = "planted-bugs")]
fn of(r: &Report, o: Oracle) -> Vec<&OracleFailure> {
    r.oracles.iter().filter(|f| f.oracle() == o).collect()
}

#[test]
fn oracles_pass_on_honest_runs_and_count_what_they_check() {
    let r = run(&clean(), 1);
    assert!(r.ok(), "{:?}", r.oracles);
    assert!(r.link_totals().lost > 0, "the bystander's faults fired");
    let r = run(&workload(lan(&lossy(), &lossy())), 2);
    assert!(r.ok(), "{:?}", r.oracles);
    assert!(r.datagrams.lost > 0 && r.datagrams.duplicates > 0);
    for rule in [
        "ethernet.header",
        "ethernet.src",
        "ipv4.checksum",
        "ipv4.src",
        "udp.checksum",
        "arp.format",
        "arp.sender",
    ] {
        assert!(r.monitor.checked(rule) > 0, "{rule} checked");
    }
}

#[test]
fn oracles_integrity_excuses_two_flips_that_cancel_in_the_udp_checksum() {
    // c0 sends 2,000-byte datagrams (two fragments) over an uplink that flips one bit in half
    // its frames. A flip in one fragment is caught by the UDP checksum; flips in both can
    // cancel in its ones' complement sum (the same bit of a 16-bit word, set in one and
    // cleared in the other), and the datagram arrives changed. The integrity oracle matches
    // each such arrival to a datagram with two corrupted fragments; anything else changed
    // is still a phantom (`oracles_integrity_catches_corruption_that_reaches_an_application`).
    let noisy_up = LinkSpec {
        a_to_b: LinkConfig {
            corrupt: 0.5,
            ..LinkConfig::default()
        },
        b_to_a: LinkConfig::default(),
    };
    let b = Sim::builder()
        .switch("lan")
        .idle_host(
            "server",
            HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 1), 24),
        )
        .idle_host(
            "c0",
            HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 10), 24).link(noisy_up),
        )
        .workload(UdpEcho {
            server: "server".into(),
            clients: vec!["c0".into()],
            datagrams_per_client: 1500,
            size: 2000,
            interval: Duration::from_millis(2),
            ..UdpEcho::default()
        });
    let mut cancelled = 0;
    for seed in 1..=3 {
        let r = run(&b, seed);
        assert!(r.ok(), "seed {seed}: {:?}", r.oracles);
        cancelled += r.datagrams.corrupted_past_checksum;
    }
    assert!(cancelled > 0, "some flips cancelled in three seeds");
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_integrity_catches_corruption_that_reaches_an_application() {
    let r = run(
        &clean().plant(PlantedBug::CorruptAfterMonitor { nth: 300 }),
        1,
    );
    let f = of(&r, Oracle::Integrity);
    assert_eq!(f.len(), 1, "{:?}", r.oracles);
    assert!(matches!(f[0], OracleFailure::Phantom { .. }), "{}", f[0]);
    println!("caught: {}", f[0]);
    assert!(
        r.monitor.clean(),
        "the monitor saw the frame before it was broken"
    );
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_loss_catches_a_frame_dropped_without_a_fault() {
    let r = run(&clean().plant(PlantedBug::SilentDrop { nth: 300 }), 1);
    let f = of(&r, Oracle::Loss);
    assert_eq!(f.len(), 1, "{:?}", r.oracles);
    let OracleFailure::UnaccountedLoss { count, .. } = f[0] else {
        panic!("{}", f[0]);
    };
    assert_eq!(*count, 1);
    println!("caught: {}", f[0]);
    // The same drop as a recorded fault is accounted for: the bug is the silence.
    let honest = run(&clean(), 1);
    assert!(honest.ok());
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_loss_a_crash_long_after_does_not_excuse_a_datagram_that_never_left() {
    // A crash loses what the sender's stack held, but a stack holds a datagram only while it
    // resolves the next hop (3 s by default). c0's one datagram (the first UDP frame of the
    // run) is swallowed before the wire; c0 crashes at 5 s, idle since; c1's echoes keep the
    // run going until then.
    let b = lan(&LinkSpec::default(), &LinkSpec::default())
        .workload(UdpEcho {
            server: "server".into(),
            clients: vec!["c0".into()],
            datagrams_per_client: 1,
            ..UdpEcho::default()
        })
        .workload(UdpEcho {
            server: "server".into(),
            port: 7008,
            clients: vec!["c1".into()],
            datagrams_per_client: 60,
            interval: Duration::from_millis(100),
            start: Duration::from_millis(100),
            ..UdpEcho::default()
        })
        .until(Instant::from_secs(30))
        .at(Instant::from_secs(5), Action::Crash { host: "c0".into() })
        .plant(PlantedBug::SwallowBeforeWire { nth: 0 });
    let r = run(&b, 1);
    assert_eq!(
        r.hosts.iter().map(|h| h.crashes).sum::<u32>(),
        1,
        "c0 crashed"
    );
    let f = of(&r, Oracle::Loss);
    assert!(
        matches!(
            f.as_slice(),
            [OracleFailure::UnaccountedLoss {
                what: "datagram",
                count: 1,
                ..
            }]
        ),
        "{:?}",
        r.oracles
    );
    assert!(
        f[0].to_string().contains("never left the sender"),
        "{}",
        f[0]
    );
    println!("caught: {}", f[0]);
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_duplicate_catches_a_copy_delivered_without_a_fault() {
    let r = run(&clean().plant(PlantedBug::SilentDuplicate { nth: 300 }), 1);
    let f = of(&r, Oracle::Duplicate);
    assert_eq!(f.len(), 1, "{:?}", r.oracles);
    println!("caught: {}", f[0]);
    assert!(matches!(
        f[0],
        OracleFailure::UnaccountedDuplicate { count: 1, .. }
    ));
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_monitor_catches_a_bad_checksum_at_the_sender() {
    let r = run(&clean().plant(PlantedBug::BadIpv4Checksum { nth: 123 }), 1);
    let f = of(&r, Oracle::Monitor);
    assert_eq!(f.len(), 1, "{:?}", r.oracles);
    let OracleFailure::Monitor { rule, .. } = f[0] else {
        panic!("{}", f[0]);
    };
    assert_eq!(*rule, "ipv4.checksum");
    assert_eq!(r.monitor.rules["ipv4.checksum"].failed, 1);
    println!("caught: {}", f[0]);
}

#[cfg(feature = "planted-bugs")]
fn partitioned() -> SimBuilder {
    workload(lan(&LinkSpec::default(), &LinkSpec::default()))
        .until(Instant::from_secs(30))
        .at(
            Instant::from_millis(5),
            Action::Partition {
                host: "c2".into(),
                iface: 0,
            },
        )
        .at(
            Instant::from_millis(400),
            Action::Heal {
                host: "c2".into(),
                iface: 0,
            },
        )
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_liveness_catches_a_partition_that_never_heals() {
    // Long retries: the client waits out the partition rather than giving up.
    let b = partitioned().set_workloads(vec![
        UdpRequestResponse {
            name: "rr".into(),
            server: "server".into(),
            clients: vec!["c2".into()],
            requests_per_client: 1000,
            retries: 1_000_000,
            ..UdpRequestResponse::default()
        }
        .into(),
    ]);
    let honest = run(&b, 1);
    assert!(honest.ok(), "{:?}", honest.oracles);
    assert_eq!(honest.quiet_since, Some(Instant::from_millis(400)));
    let r = run(&b.clone().plant(PlantedBug::IgnoreHeal), 1);
    let f = of(&r, Oracle::Liveness);
    assert_eq!(f.len(), 1, "{:?}", r.oracles);
    let OracleFailure::Liveness { host, apps, .. } = f[0] else {
        panic!("{}", f[0]);
    };
    assert_eq!(
        (host.as_str(), apps.as_slice()),
        ("c2", &["rr/client".to_string()][..])
    );
    println!("caught: {}", f[0]);
    // A partition the schedule never heals is not a liveness failure: faults never stopped.
    let open = run(
        &b.at(
            Instant::from_millis(500),
            Action::Partition {
                host: "c2".into(),
                iface: 0,
            },
        ),
        1,
    );
    assert_eq!(open.quiet_since, None);
    assert!(of(&open, Oracle::Liveness).is_empty(), "{:?}", open.oracles);
    assert!(!open.all_finished());
}

#[test]
fn oracles_determinism_two_runs_in_one_process_agree() {
    let a = determinism::check(|| workload(lan(&lossy(), &lossy())), 3).expect("deterministic");
    println!("{a:?}");
    assert!(a.events > 1000);
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_determinism_names_the_first_divergent_event() {
    let e = determinism::check(|| clean().plant(PlantedBug::Nondeterminism { nth: 40 }), 3)
        .unwrap_err();
    let DeterminismError::Diverged(d) = &e else {
        panic!("{e}");
    };
    println!("found: {e}");
    let (first, what) = d.first.clone().expect("an event");
    let (second, _) = d.second.clone().expect("an event");
    // One frame arrives a nanosecond late: the events at its instant come in another order.
    assert!(
        what.contains("frame") && what.contains("arriving at"),
        "{what}"
    );
    assert_eq!((first.index, second.index), (d.index, d.index));
    assert_ne!(first, second);
    assert!(e.to_string().contains(&format!("event #{}", d.index)));
}

/// Where a child process of the cross-process test writes its trace.
const CHILD_ENV: &str = "WEFT_SIM_DETERMINISM_CHILD";

fn child_sim() -> SimBuilder {
    workload(lan(&lossy(), &lossy())).trace_events(true)
}

#[test]
fn oracles_determinism_child() {
    // Runs only as the child of the cross-process test.
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let r = child_sim().run(5).expect("valid simulation");
    std::fs::write(path, determinism::trace_text(&r)).expect("write the trace");
}

#[test]
fn oracles_determinism_two_processes_agree() {
    let exe = std::env::current_exe().expect("the test binary");
    let dir = std::env::temp_dir().join(format!("weft-sim-determinism-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut texts = Vec::new();
    for i in 0..2 {
        let out = dir.join(format!("trace{i}.txt"));
        let status = std::process::Command::new(&exe)
            .args(["oracles_determinism_child", "--exact", "--test-threads=1"])
            .env(CHILD_ENV, &out)
            .status()
            .expect("spawn the test binary");
        assert!(status.success());
        texts.push(std::fs::read_to_string(&out).expect("the child wrote its trace"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let lines = texts[0].lines().count();
    println!("two processes, {lines} events each");
    assert!(lines > 1000);
    assert_eq!(
        determinism::compare_texts(&texts[0], &texts[1]).unwrap(),
        None
    );
    // And the comparison names a difference when there is one.
    let mut changed: Vec<&str> = texts[1].lines().collect();
    let edited = changed[500].replacen(" frame ", " timer ", 1);
    changed[500] = &edited;
    let d = determinism::compare_texts(&texts[0], &changed.join("\n"))
        .unwrap()
        .expect("a divergence");
    assert_eq!(d.index, 500);
    println!("{d}");
}

/// Golden hashes of fixed runs: they change when the simulator's or the stack's behaviour
/// changes, or when a run stops being deterministic. After an intended change, run
/// `cargo test -p weft-sim --all-features --test oracles golden -- --nocapture` and copy the
/// printed `golden` lines into `GOLDEN`.
const GOLDEN: [(&str, u64, u64, u64); 3] = [
    ("clean", 0xfe43dfb0a694dbe9, 0xba7bd5f79e60490d, 3666),
    ("lossy", 0xaa39a67469f545f7, 0xff18587eefe422ac, 3798),
    (
        "dhcp-arp-crash",
        0x23781d2d171d4edf,
        0x861e1405b58a7385,
        1042,
    ),
];

fn golden_runs() -> Vec<(&'static str, SimBuilder, u64)> {
    let mut dhcp = Sim::builder().switch("lan").idle_host(
        "dhcpd",
        HostConfig::on("lan", Ipv4Addr::new(10, 9, 0, 1), 24).limits(ArpChurn::limits()),
    );
    for i in 0..3u8 {
        dhcp = dhcp.idle_host(&format!("d{i}"), HostConfig::dhcp("lan").link(lossy()));
        dhcp = dhcp.idle_host(
            &format!("s{i}"),
            HostConfig::on("lan", Ipv4Addr::new(10, 9, 0, 10 + i), 24).limits(ArpChurn::limits()),
        );
    }
    let dhcp = dhcp
        .workload(DhcpAcquisition {
            server: "dhcpd".into(),
            clients: vec!["d0".into(), "d1".into(), "d2".into()],
            ..DhcpAcquisition::default()
        })
        .workload(ArpChurn {
            hosts: vec!["dhcpd".into(), "s0".into(), "s1".into(), "s2".into()],
            ..ArpChurn::default()
        })
        .at(Instant::from_secs(2), Action::Crash { host: "s1".into() })
        .at(Instant::from_secs(3), Action::Restart { host: "s1".into() });
    vec![
        (
            "clean",
            workload(lan(&LinkSpec::default(), &LinkSpec::default())),
            1,
        ),
        ("lossy", workload(lan(&lossy(), &lossy())), 7),
        ("dhcp-arp-crash", dhcp, 11),
    ]
}

#[test]
fn oracles_golden_hashes_of_fixed_runs() {
    let mut mismatches = Vec::new();
    for ((name, b, seed), (gname, trace, events, count)) in golden_runs().into_iter().zip(GOLDEN) {
        assert_eq!(name, gname);
        let r = run(&b, seed);
        assert!(r.ok(), "{name}: {:?}", r.oracles);
        println!(
            "golden (\"{name}\", 0x{:016x}, 0x{:016x}, {}),",
            r.trace_digest, r.event_digest, r.events
        );
        if (r.trace_digest, r.event_digest, r.events) != (trace, events, count) {
            mismatches.push(name);
        }
    }
    assert!(
        mismatches.is_empty(),
        "runs changed: {mismatches:?} (see GOLDEN's comment to update after an intended change)"
    );
}

#[test]
fn oracles_a_recorded_tape_accounts_for_every_loss() {
    // Faults replayed from a tape are as accountable as drawn ones.
    let b = workload(lan(&lossy(), &lossy()));
    let first = run(&b, 9);
    assert!(first.ok());
    let replay = run(&b.faults(FaultSource::Tape(first.tape.clone())), 9);
    assert!(replay.ok(), "{:?}", replay.oracles);
    assert_eq!(replay.datagrams, first.datagrams);
    let none = run(&clean().faults(FaultSource::Tape(Tape::default())), 9);
    assert!(none.ok() && none.tape.is_empty());
}

/// Two echo servers on port 7 — `server` for c0 and c1, `c9` for c3 — on clean links: a
/// request readdressed from one to the other lands on a listening port.
#[cfg(feature = "planted-bugs")]
fn two_echo_servers() -> SimBuilder {
    lan(&LinkSpec::default(), &LinkSpec::default())
        .workload(UdpEcho {
            server: "server".into(),
            clients: vec!["c0".into(), "c1".into()],
            datagrams_per_client: 200,
            ..UdpEcho::default()
        })
        .workload(UdpEcho {
            server: "c9".into(),
            clients: vec!["c3".into()],
            datagrams_per_client: 50,
            ..UdpEcho::default()
        })
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_integrity_catches_a_datagram_delivered_to_another_host() {
    let honest = run(&two_echo_servers(), 1);
    assert!(honest.ok(), "{:?}", honest.oracles);
    let r = run(
        &two_echo_servers().plant(PlantedBug::Misdeliver {
            nth: 44,
            to: Ipv4Addr::new(10, 0, 0, 99),
        }),
        1,
    );
    let f = of(&r, Oracle::Integrity);
    assert_eq!(f.len(), 1, "{:?}", r.oracles);
    let OracleFailure::Misdelivered {
        host,
        sent_to,
        port,
        ..
    } = f[0]
    else {
        panic!("{}", f[0]);
    };
    assert_eq!(
        (host.as_str(), sent_to.as_str(), *port),
        ("c9", "server", 7)
    );
    println!("caught: {}", f[0]);
    // Where it was owed, it is a loss no fault explains.
    let lost = of(&r, Oracle::Loss);
    assert!(
        matches!(lost.as_slice(), [OracleFailure::UnaccountedLoss { count: 1, to_host, .. }] if to_host == "server"),
        "{lost:?}"
    );
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_integrity_catches_a_connection_naming_a_stream_no_client_opened() {
    let b = lan(&LinkSpec::default(), &LinkSpec::default()).workload(weft_sim::TcpEcho {
        server: "server".into(),
        clients: vec!["c0".into(), "c1".into()],
        connections: 3,
        messages: 5,
        ..weft_sim::TcpEcho::default()
    });
    let honest = run(&b, 1);
    assert!(honest.ok(), "{:?}", honest.oracles);
    let r = run(&b.plant(PlantedBug::TcpForeignStream), 1);
    let f = of(&r, Oracle::Integrity);
    assert_eq!(f.len(), 1, "{:?}", r.oracles);
    let OracleFailure::PhantomStream { host, from, .. } = f[0] else {
        panic!("{}", f[0]);
    };
    assert_eq!(
        (host.as_str(), *from.ip()),
        ("server", Ipv4Addr::new(10, 0, 0, 10))
    );
    println!("caught: {}", f[0]);
}

/// `dhcpd` leases to `d0` and `d1` (clean links). `d1` is down until 3 s; `d0`, which had
/// its address by then, is cut off from 2 s to 30 s, so it cannot answer `d1`'s conflict
/// probes.
#[cfg(feature = "planted-bugs")]
fn two_leases() -> SimBuilder {
    let b = d1_boots_late(
        DhcpAcquisition {
            requests_after: 2,
            ..DhcpAcquisition::default()
        },
        3,
        60,
    );
    cut_off(b, "d0", 2, 30)
}

/// [`dhcp_pair`] with `w`, run until `until` seconds, `d1` down from the start until
/// `d1_back` seconds.
#[cfg(feature = "planted-bugs")]
fn d1_boots_late(w: DhcpAcquisition, d1_back: u64, until: u64) -> SimBuilder {
    dhcp_pair(w)
        .until(Instant::from_secs(until))
        .at(Instant::ZERO, Action::Crash { host: "d1".into() })
        .at(
            Instant::from_secs(d1_back),
            Action::Restart { host: "d1".into() },
        )
}

/// `host`'s link down from `from` to `to` seconds.
#[cfg(feature = "planted-bugs")]
fn cut_off(b: SimBuilder, host: &str, from: u64, to: u64) -> SimBuilder {
    let (host, iface) = (host.to_string(), 0);
    b.at(
        Instant::from_secs(from),
        Action::Partition {
            host: host.clone(),
            iface,
        },
    )
    .at(Instant::from_secs(to), Action::Heal { host, iface })
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_application_catches_one_address_leased_to_two_hosts() {
    let honest = run(&two_leases(), 1);
    assert!(
        of(&honest, Oracle::Application).is_empty(),
        "{:?}",
        honest.oracles
    );
    let r = run(&two_leases().plant(PlantedBug::DhcpSameAddress), 1);
    let f = of(&r, Oracle::Application);
    assert_eq!(f.len(), 1, "{:?}", r.oracles);
    let OracleFailure::DuplicateAddress { addr, hosts, .. } = f[0] else {
        panic!("{}", f[0]);
    };
    assert_eq!(*addr, Ipv4Addr::new(10, 9, 0, 100));
    assert_eq!(hosts, &["d0".to_string(), "d1".to_string()]);
    println!("caught: {}", f[0]);
    // A server that crashed lost its bindings: the same lie is then excused.
    let crashed = run(
        &two_leases()
            .plant(PlantedBug::DhcpSameAddress)
            .at(
                Instant::from_millis(2500),
                Action::Crash {
                    host: "dhcpd".into(),
                },
            )
            .at(
                Instant::from_millis(2600),
                Action::Restart {
                    host: "dhcpd".into(),
                },
            ),
        1,
    );
    assert!(
        of(&crashed, Oracle::Application).is_empty(),
        "{:?}",
        crashed.oracles
    );
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_application_a_duplicate_after_a_crash_before_both_leases_is_caught() {
    // The server crashed and came back before either client asked: it held both bindings
    // when it gave the second one the same address (d0, crashed by then, cannot defend it).
    let crashed_early = lapsing(14, 12)
        .plant(PlantedBug::DhcpSameAddress)
        .at(
            Instant::ZERO,
            Action::Crash {
                host: "dhcpd".into(),
            },
        )
        .at(
            Instant::from_millis(100),
            Action::Restart {
                host: "dhcpd".into(),
            },
        );
    let r = run(&crashed_early, 1);
    let f = of(&r, Oracle::Application);
    assert!(
        matches!(f.as_slice(), [OracleFailure::DuplicateAddress { .. }]),
        "{:?}",
        r.oracles
    );
}

/// `dhcpd` (10.9.0.1) leasing 10.9.0.100–109 to `d0` and `d1` on one switch, with `w`'s
/// other settings.
#[cfg(feature = "planted-bugs")]
fn dhcp_pair(w: DhcpAcquisition) -> SimBuilder {
    let mut b = Sim::builder().switch("lan").idle_host(
        "dhcpd",
        HostConfig::on("lan", Ipv4Addr::new(10, 9, 0, 1), 24),
    );
    for d in ["d0", "d1"] {
        b = b.idle_host(d, HostConfig::dhcp("lan"));
    }
    b.workload(DhcpAcquisition {
        server: "dhcpd".into(),
        clients: vec!["d0".into(), "d1".into()],
        pool_start: Some(Ipv4Addr::new(10, 9, 0, 100)),
        pool_end: Some(Ipv4Addr::new(10, 9, 0, 109)),
        ..w
    })
}

/// d0 leases for 20 s (T1 at 10 s) and crashes at `d0_crash` seconds (at 8 s: once its
/// address is in use, RFC 5227 probes done, and before it renews). d1 boots at `d1_back`
/// seconds and asks.
#[cfg(feature = "planted-bugs")]
fn lapsing(d1_back: u64, d0_crash: u64) -> SimBuilder {
    d1_boots_late(
        DhcpAcquisition {
            lease_secs: 20,
            ..DhcpAcquisition::default()
        },
        d1_back,
        50,
    )
    .at(
        Instant::from_secs(d0_crash),
        Action::Crash { host: "d0".into() },
    )
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_application_a_lapsed_lease_may_be_given_again() {
    for back in [12, 25] {
        let honest = run(&lapsing(back, 8), 1);
        assert!(
            of(&honest, Oracle::Application).is_empty(),
            "{:?}",
            honest.oracles
        );
    }
    // Within d0's lease the same address is a lie; after it ran out, a server may reuse it.
    let r = run(&lapsing(12, 8).plant(PlantedBug::DhcpSameAddress), 1);
    let f = of(&r, Oracle::Application);
    assert!(
        matches!(f.as_slice(), [OracleFailure::DuplicateAddress { .. }]),
        "{:?}",
        r.oracles
    );
    let r = run(&lapsing(25, 8).plant(PlantedBug::DhcpSameAddress), 1);
    assert!(of(&r, Oracle::Application).is_empty(), "{:?}", r.oracles);
}

/// d0 leases for 20 s, renews at T1 (10 s: its lease now runs to 30 s) and is cut off from
/// 12 s to 50 s, so it cannot defend its address; d1 boots at 25 s and asks.
#[cfg(feature = "planted-bugs")]
fn renewed_then_cut_off() -> SimBuilder {
    let b = d1_boots_late(
        DhcpAcquisition {
            lease_secs: 20,
            ..DhcpAcquisition::default()
        },
        25,
        60,
    );
    cut_off(b, "d0", 12, 50)
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_application_a_renewed_lease_has_not_lapsed() {
    let honest = run(&renewed_then_cut_off(), 1);
    assert!(
        of(&honest, Oracle::Application).is_empty(),
        "{:?}",
        honest.oracles
    );
    // 25 s is past the first grant's 20 s but within the renewal's: giving d0's address to
    // d1 then is a lie (counted from the first grant alone, it would pass as a lapsed lease).
    let r = run(
        &renewed_then_cut_off().plant(PlantedBug::DhcpSameAddress),
        1,
    );
    // The case is the renewal's: d0 renewed (before its cut-off at 12 s).
    let d0 = r.hosts.iter().find(|h| h.name == "d0").expect("d0");
    assert!(d0.counters.dhcp.renewals >= 1, "{:?}", d0.counters.dhcp);
    let f = of(&r, Oracle::Application);
    assert!(
        matches!(f.as_slice(), [OracleFailure::DuplicateAddress { .. }]),
        "{:?}",
        r.oracles
    );
    println!("caught: {}", f[0]);
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_application_catches_a_lease_outside_the_pool() {
    let b = Sim::builder()
        .switch("lan")
        .idle_host(
            "dhcpd",
            HostConfig::on("lan", Ipv4Addr::new(10, 9, 0, 1), 24),
        )
        .idle_host("d0", HostConfig::dhcp("lan"))
        .workload(DhcpAcquisition {
            server: "dhcpd".into(),
            clients: vec!["d0".into()],
            pool_start: Some(Ipv4Addr::new(10, 9, 0, 100)),
            pool_end: Some(Ipv4Addr::new(10, 9, 0, 109)),
            requests_after: 2,
            ..DhcpAcquisition::default()
        });
    let honest = run(&b, 1);
    assert!(honest.ok(), "{:?}", honest.oracles);
    let r = run(&b.plant(PlantedBug::DhcpOutsidePool), 1);
    let f = of(&r, Oracle::Application);
    assert_eq!(f.len(), 1, "{:?}", r.oracles);
    let OracleFailure::LeaseOutsidePool {
        host, addr, pool, ..
    } = f[0]
    else {
        panic!("{}", f[0]);
    };
    assert_eq!(
        (host.as_str(), *addr, *pool),
        (
            "d0",
            Ipv4Addr::new(10, 9, 0, 110),
            (Ipv4Addr::new(10, 9, 0, 100), Ipv4Addr::new(10, 9, 0, 109))
        )
    );
    println!("caught: {}", f[0]);
}

#[cfg(feature = "planted-bugs")]
#[test]
fn oracles_loss_catches_a_ping_lost_without_a_fault() {
    let b = lan(&LinkSpec::default(), &LinkSpec::default()).workload(ArpChurn {
        hosts: vec!["c0".into(), "c1".into(), "c2".into()],
        rounds: 2,
        ..ArpChurn::default()
    });
    let honest = run(&b, 1);
    assert!(honest.ok(), "{:?}", honest.oracles);
    let r = run(&b.plant(PlantedBug::SilentIcmpDrop { nth: 5 }), 1);
    let f = of(&r, Oracle::Loss);
    assert_eq!(f.len(), 1, "{:?}", r.oracles);
    assert!(
        matches!(
            f[0],
            OracleFailure::UnaccountedLoss {
                what: "ping",
                count: 1,
                ..
            }
        ),
        "{}",
        f[0]
    );
    println!("caught: {}", f[0]);
}
