//! The engine: hosts on virtual time, links with faults, determinism, tape replay.
#![allow(clippy::indexing_slicing, clippy::panic)] // test code: a bad index or an unexpected error is a failure

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use weft_core::{Duration, Instant};
use weft_net::{Net, NetError, UdpNet, UdpSocket};
use weft_sim::{
    Action, FaultSource, HostConfig, LinkConfig, LinkSpec, Loss, Report, Sim, SimBuilder, Tape,
};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// A server echoing on port 7 and `clients` clients each sending `n` numbered datagrams,
/// retrying each until its echo comes back; every client records what it got.
fn echo_sim(clients: usize, n: u32, link: LinkSpec, log: Rc<RefCell<Vec<String>>>) -> SimBuilder {
    let mut b = Sim::builder().switch("lan").host(
        "server",
        HostConfig::on("lan", SERVER, 24).link(link.clone()),
        |net| async move {
            net.listen_udp(7, |s, from, p| async move {
                let _ = s.send_to(&p, from).await;
            })
            .await
            .expect("listen");
        },
    );
    for c in 0..clients {
        let log = log.clone();
        b = b.host(
            &format!("client{c}"),
            HostConfig::on("lan", Ipv4Addr::new(10, 0, 0, 10 + c as u8), 24).link(link.clone()),
            move |net| {
                let log = log.clone();
                async move {
                    let s = net
                        .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
                        .await
                        .expect("bind");
                    let mut buf = [0u8; 64];
                    let mut retries = 0u32;
                    for i in 0..n {
                        let msg = format!("c{c} m{i}");
                        loop {
                            s.send_to(msg.as_bytes(), SocketAddrV4::new(SERVER, 7))
                                .await
                                .expect("send");
                            let deadline = net.now().saturating_add(Duration::from_millis(50));
                            let got = loop {
                                let r = with_timeout(&net, deadline, s.recv_from(&mut buf)).await;
                                match r {
                                    Some(Ok((len, _))) if buf[..len] == *msg.as_bytes() => {
                                        break true;
                                    }
                                    Some(Ok(_)) => continue, // a late echo of an earlier try
                                    // A host that is booting answers port unreachable.
                                    Some(Err(e)) if e.is_transient() => continue,
                                    Some(Err(e)) => panic!("recv: {e}"),
                                    None => break false,
                                }
                            };
                            if got {
                                break;
                            }
                            retries += 1;
                        }
                    }
                    log.borrow_mut()
                        .push(format!("client{c} done {n} retries {retries}"));
                }
            },
        );
    }
    b
}

async fn with_timeout<N: Net, T>(
    net: &N,
    deadline: Instant,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = std::pin::pin!(net.sleep_until(deadline));
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(v));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(None);
        }
        std::task::Poll::Pending
    })
    .await
}

fn lossy() -> LinkSpec {
    LinkSpec::symmetric(LinkConfig {
        latency: Duration::from_micros(500),
        jitter: Duration::from_micros(200),
        loss: Loss::Bernoulli { p: 0.05 },
        duplicate: 0.02,
        reorder: 0.02,
        corrupt: 0.02,
        ..LinkConfig::default()
    })
}

fn run(b: &SimBuilder, seed: u64) -> Report {
    println!("seed {seed}");
    let r = b.run(seed).expect("valid simulation");
    println!("{}", r.summary());
    r
}

#[test]
fn sim_udp_echo_over_a_lossy_switch_finishes_and_faults_fire() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let b = echo_sim(3, 200, lossy(), log.clone());
    let r = run(&b, 1);
    assert!(r.all_finished(), "every client got all its echoes");
    assert_eq!(log.borrow().len(), 3);
    let t = r.link_totals();
    assert!(
        t.lost > 0 && t.duplicated > 0 && t.reordered > 0 && t.corrupted > 0,
        "{t:?}"
    );
    // Corrupted frames are caught by checksums, never delivered as data.
    let bad: u64 = r
        .hosts
        .iter()
        .map(|h| {
            h.counters.ipv4.rx_bad_checksum
                + h.counters.udp.rx_bad_checksum
                + h.counters.ipv4.rx_malformed
                + h.counters.ethernet.rx_malformed
                + h.counters.arp.rx_malformed
        })
        .sum();
    assert!(bad > 0, "some corruption reached a checksum");
    // The tape holds exactly the decisions the counters count.
    let count = |f: fn(&weft_sim::Fault) -> bool| {
        r.tape
            .entries
            .iter()
            .map(|e| e.faults.iter().filter(|x| f(x)).count() as u64)
            .sum::<u64>()
    };
    use weft_sim::Fault;
    assert_eq!(count(|f| matches!(f, Fault::Drop)), t.lost);
    assert_eq!(count(|f| matches!(f, Fault::Duplicate)), t.duplicated);
    assert_eq!(count(|f| matches!(f, Fault::Reorder { .. })), t.reordered);
    assert_eq!(count(|f| matches!(f, Fault::Corrupt { .. })), t.corrupted);
}

#[test]
fn sim_same_seed_same_run_different_seed_different_run() {
    let b = echo_sim(2, 50, lossy(), Rc::default());
    let a1 = run(&b, 7);
    let a2 = run(&b, 7);
    let c = run(&b, 8);
    assert_eq!(a1.trace_digest, a2.trace_digest);
    assert_eq!(a1.events, a2.events);
    assert_eq!(a1.tape, a2.tape);
    assert_ne!(a1.trace_digest, c.trace_digest);
}

#[test]
fn sim_tape_replay_reproduces_the_run() {
    let b = echo_sim(2, 50, lossy(), Rc::default()).pcap(true);
    let first = run(&b, 11);
    assert!(first.tape.len() > 5, "faults fired: {}", first.tape.len());
    let text = first.tape.to_text();
    let tape = Tape::from_text(&text).expect("tape parses");
    // A different seed: only the tape decides faults now.
    let replay = run(&b.faults(FaultSource::Tape(tape.clone())), 11);
    assert_eq!(replay.trace_digest, first.trace_digest);
    assert_eq!(replay.tape, tape);
    let p1: Vec<_> = first.links.iter().map(|l| l.pcap.clone()).collect();
    let p2: Vec<_> = replay.links.iter().map(|l| l.pcap.clone()).collect();
    assert_eq!(p1, p2, "same pcaps");
    // Without faults the same workload differs.
    let clean = run(
        &echo_sim(2, 50, lossy(), Rc::default()).faults(FaultSource::Tape(Tape::default())),
        11,
    );
    assert_eq!(clean.link_totals().lost, 0);
    assert_ne!(clean.trace_digest, first.trace_digest);
}

#[test]
fn sim_partition_and_crash_restart() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let b = echo_sim(1, 2000, LinkSpec::default(), log.clone())
        .at(
            Instant::from_millis(20),
            Action::Partition {
                host: "client0".into(),
                iface: 0,
            },
        )
        .at(
            Instant::from_millis(300),
            Action::Heal {
                host: "client0".into(),
                iface: 0,
            },
        )
        .at(
            Instant::from_millis(400),
            Action::Crash {
                host: "server".into(),
            },
        )
        .at(
            Instant::from_millis(600),
            Action::Restart {
                host: "server".into(),
            },
        );
    let r = run(&b, 3);
    let t = r.link_totals();
    assert!(t.partition_drops > 0, "{t:?}");
    assert_eq!(r.hosts[0].crashes, 1);
    assert!(
        r.all_finished(),
        "the client finished after the heal and the restart"
    );
    assert!(r.end > Instant::from_millis(300));
}

#[test]
fn sim_bad_configurations_are_errors() {
    let e = Sim::builder()
        .host("a", HostConfig::on("nowhere", SERVER, 24), |_net| async {})
        .run(1)
        .unwrap_err();
    assert!(e.to_string().contains("switch `nowhere`"), "{e}");
    let e = Sim::builder()
        .switch("lan")
        .host("lan", HostConfig::on("lan", SERVER, 24), |_net| async {})
        .run(1)
        .unwrap_err();
    assert!(e.to_string().contains("used twice"), "{e}");
    let _ = NetError::Closed;
}
