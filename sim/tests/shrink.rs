//! Shrinking a failing run down to the faults it needs, proved on a planted bug that needs
//! two specific faults.
#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)] // test code: a bad index or an unexpected error is a failure

use std::net::Ipv4Addr;
use weft_core::Duration;
use weft_sim::shrink::{ShrinkOptions, shrink};
use weft_sim::{HostConfig, LinkConfig, LinkSpec, Loss, Sim, SimBuilder, UdpRequestResponse};
#[cfg(feature = "planted-bugs")]
use weft_sim::{OracleFailure, Report};

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

fn sim() -> SimBuilder {
    let mut b = Sim::builder().switch("lan").idle_host(
        "server",
        HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 1), 24).link(lossy()),
    );
    for i in 0..3u8 {
        b = b.idle_host(
            &format!("c{i}"),
            HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 10 + i), 24).link(lossy()),
        );
    }
    b.workload(UdpRequestResponse {
        name: "rr".into(),
        server: "server".into(),
        clients: vec!["c0".into(), "c1".into(), "c2".into()],
        requests_per_client: 300,
        ..UdpRequestResponse::default()
    })
}

#[cfg(feature = "planted-bugs")]
fn wrong_reply(r: &Report) -> Option<&OracleFailure> {
    r.oracles
        .iter()
        .find(|f| matches!(f, OracleFailure::WrongReply { host, .. } if host == "c0"))
}

#[test]
fn shrink_needs_a_failing_tape() {
    let b = sim();
    let r = b.run(1).unwrap();
    assert!(r.ok());
    let e = shrink(&b, 1, &r.tape, |r| !r.ok(), &ShrinkOptions::default()).unwrap_err();
    assert!(e.to_string().contains("does not reproduce"), "{e}");
}

#[cfg(feature = "planted-bugs")]
#[test]
fn shrink_finds_the_loss_and_the_duplicate_a_planted_bug_needs() {
    use weft_sim::{FaultSource, PlantedBug, Tape};
    // The bug: once client c0 has retried a request (a loss on its flow), it takes any
    // datagram from the server as the answer; only a duplicate makes one arrive unasked.
    let b = sim().plant(PlantedBug::AcceptStaleAfterRetry);
    let (seed, failing) = (1..40)
        .map(|seed| (seed, b.run(seed).unwrap()))
        .find(|(_, r)| wrong_reply(r).is_some() && r.tape.len() >= 100)
        .expect("a seed where the bug shows");
    println!("seed {seed}");
    println!("{}", failing.summary());
    let signature = wrong_reply(&failing).unwrap().signature();
    assert!(failing.tape.len() >= 100, "{}", failing.tape.len());
    // Without the bug the same faults are harmless.
    let honest = sim()
        .faults(FaultSource::Tape(failing.tape.clone()))
        .run(seed)
        .unwrap();
    assert!(honest.ok(), "{:?}", honest.oracles);

    let shrunk = shrink(
        &b,
        seed,
        &failing.tape,
        |r| wrong_reply(r).is_some_and(|f| f.signature() == signature),
        &ShrinkOptions::default(),
    )
    .unwrap();
    println!(
        "shrunk {} entries to {} in {} runs (workloads shrunk to {:?}, {} entries)",
        shrunk.original_entries,
        shrunk.tape.len(),
        shrunk.runs,
        shrunk
            .workloads
            .iter()
            .map(|w| (w.name().to_string(), w.planned()))
            .collect::<Vec<_>>(),
        shrunk.small_tape.len()
    );
    print!("{}", shrunk.tape.to_text());
    assert!(shrunk.tape.len() <= 5, "{}", shrunk.tape.to_text());
    assert!(
        shrunk.tape.len() >= 2,
        "a loss and a duplicate are both needed"
    );
    let faults: Vec<_> = shrunk
        .tape
        .entries
        .iter()
        .flat_map(|e| e.faults.iter().copied())
        .collect();
    assert!(
        faults.contains(&weft_sim::Fault::Duplicate),
        "a duplicate: {faults:?}"
    );
    assert!(
        faults
            .iter()
            .any(|f| matches!(f, weft_sim::Fault::Drop | weft_sim::Fault::Corrupt { .. })),
        "a loss: {faults:?}"
    );
    // The workloads shrank too: fewer requests, and the small tape with them still fails
    // the same way.
    assert!(shrunk.small_tape.len() <= shrunk.tape.len());
    assert!(
        shrunk.workloads[0].planned() < b.workloads()[0].planned(),
        "the workload did not shrink: {} requests",
        shrunk.workloads[0].planned()
    );
    assert_eq!(
        shrunk.smaller_workloads(),
        vec![(
            "rr".to_string(),
            "3 clients x 300 requests".to_string(),
            weft_sim::shrink::workload_size(&shrunk.workloads[0])
        )]
    );
    let small = b
        .clone()
        .set_workloads(shrunk.workloads.clone())
        .faults(FaultSource::Tape(shrunk.small_tape.clone()))
        .run(seed)
        .unwrap();
    let f = wrong_reply(&small).expect("the small tape with the small workloads fails");
    assert_eq!(f.signature(), signature);
    assert_eq!(
        small.workload("rr").unwrap().completed + small.workload("rr").unwrap().failed,
        shrunk.workloads[0].planned(),
        "the small run did the small workload's requests"
    );
    // The saved case: a tape file that replays the same failure and its pcaps. A simulation
    // built in Rust has no scenario file for `weft run` to replay it on: no command (the
    // command-line tests replay a scenario's).
    let dir = std::env::temp_dir().join(format!("weft-shrink-{}", std::process::id()));
    let saved = shrunk.save(&dir, None).unwrap();
    assert_eq!(saved.command, None);
    assert_eq!(saved.tape, dir.join("minimal.tape"));
    assert_eq!(saved.pcaps.len(), 4);
    assert!(
        saved
            .pcaps
            .iter()
            .all(|p| p.starts_with(dir.join("pcaps")) && p.exists())
    );
    let text = std::fs::read_to_string(&saved.tape).unwrap();
    assert!(!text.contains("# replay:"), "{text}");
    assert!(
        text.contains("# failure: [application] rr: c0 accepted a reply"),
        "{text}"
    );
    assert!(
        text.contains("# the failure also shows with smaller workloads (rr: "),
        "{text}"
    );
    let tape = Tape::from_text(&text).unwrap();
    assert_eq!(tape, shrunk.tape);
    let again = b
        .faults(FaultSource::Tape(tape))
        .pcap(true)
        .run(seed)
        .unwrap();
    let f = wrong_reply(&again).expect("the saved tape reproduces the failure");
    assert_eq!(f.signature(), signature);
    assert_eq!(again.trace_digest, shrunk.report.trace_digest);
    for (p, l) in saved.pcaps.iter().zip(&again.links) {
        assert_eq!(
            std::fs::read(p).unwrap(),
            *l.pcap.as_ref().unwrap(),
            "{}",
            p.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server and two clients over lossy links: TCP request/response from c0 (whose client the
/// planted bug makes impatient), a bulk transfer from c1 so the tape fills with faults that
/// have nothing to do with it.
#[cfg(feature = "planted-bugs")]
fn tcp_sim() -> SimBuilder {
    use weft_sim::{TcpBulk, TcpRequestResponse};
    let link = LinkSpec::symmetric(LinkConfig {
        latency: Duration::from_micros(300),
        jitter: Duration::from_micros(100),
        loss: Loss::Bernoulli { p: 0.03 },
        duplicate: 0.01,
        reorder: 0.01,
        ..LinkConfig::default()
    });
    let mut b = Sim::builder().switch("lan").idle_host(
        "server",
        HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 1), 24).link(link.clone()),
    );
    for i in 0..2u8 {
        b = b.idle_host(
            &format!("c{i}"),
            HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 10 + i), 24).link(link.clone()),
        );
    }
    b.workload(TcpRequestResponse {
        name: "rr".into(),
        server: "server".into(),
        clients: vec!["c0".into()],
        requests: 300,
        size: 100,
        response_size: 1000,
        ..TcpRequestResponse::default()
    })
    .workload(TcpBulk {
        name: "bulk".into(),
        server: "server".into(),
        port: 9,
        clients: vec!["c1".into()],
        upload: 100_000,
        download: 100_000,
        ..TcpBulk::default()
    })
}

#[cfg(feature = "planted-bugs")]
#[test]
fn shrink_finds_the_two_losses_of_one_segment_a_planted_tcp_bug_needs() {
    use weft_sim::{FaultSource, PlantedBug};
    // The bug: c0's request/response client waits only 500 ms for a response. A lost
    // segment is retransmitted after the 200 ms minimum RTO; lost again, the next try comes
    // 400 ms later, past the client's patience.
    let b = tcp_sim().plant(PlantedBug::TcpImpatientClient {
        wait: Duration::from_millis(500),
    });
    let (seed, failing) = (1..60)
        .map(|seed| (seed, b.run(seed).unwrap()))
        .find(|(_, r)| wrong_reply(r).is_some() && r.tape.len() >= 100)
        .expect("a seed where the bug shows");
    println!("seed {seed}");
    println!("{}", failing.summary());
    let signature = wrong_reply(&failing).unwrap().signature();
    assert!(failing.tape.len() >= 100, "{}", failing.tape.len());
    // Without the bug the same faults are harmless: TCP delivers every response.
    let honest = tcp_sim()
        .faults(FaultSource::Tape(failing.tape.clone()))
        .run(seed)
        .unwrap();
    assert!(honest.ok(), "{}", honest.oracle_summary());
    assert_eq!(honest.workload("rr").unwrap().completed, 300);

    let shrunk = shrink(
        &b,
        seed,
        &failing.tape,
        |r| wrong_reply(r).is_some_and(|f| f.signature() == signature),
        &ShrinkOptions::default(),
    )
    .unwrap();
    println!(
        "shrunk {} entries to {} in {} runs",
        shrunk.original_entries,
        shrunk.tape.len(),
        shrunk.runs,
    );
    print!("{}", shrunk.tape.to_text());
    assert!(shrunk.tape.len() <= 5, "{}", shrunk.tape.to_text());
    // One segment lost twice in a row: two losses of the same segment (one digest, on
    // whichever hops), its first transmission and its retransmission.
    let drops: Vec<_> = shrunk
        .tape
        .entries
        .iter()
        .filter(|e| e.faults.contains(&weft_sim::Fault::Drop))
        .map(|e| e.key)
        .collect();
    assert!(
        drops
            .iter()
            .any(|a| drops.iter().any(|b| a.digest == b.digest && a != b)),
        "one segment lost twice: {}",
        shrunk.tape.to_text()
    );
    // The minimal tape replays the same failure.
    let again = b
        .faults(FaultSource::Tape(shrunk.tape.clone()))
        .run(seed)
        .unwrap();
    let f = wrong_reply(&again).expect("the minimal tape reproduces the failure");
    assert_eq!(f.signature(), signature);
    assert_eq!(again.trace_digest, shrunk.report.trace_digest);
}
