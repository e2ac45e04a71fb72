//! TCP through the whole stack (Ethernet, ARP, IPv4, checksums) via the testkit: two hosts
//! back to back on virtual time.

#![cfg(feature = "testkit")]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;
use weft_core::tcp::{ConnError, RecvError, State, TcpSocketId};
use weft_core::testkit::{DropRule, TestNet};
use weft_core::time::{Duration, Instant};
use weft_core::{Event, IfaceId, InterfaceConfig, StackConfig, TcpError};
use weft_wire::{Ipv4Addr, MacAddr};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const LAN: Duration = Duration::from_micros(50);

fn host(seed: u64, n: u8, addr: Ipv4Addr) -> StackConfig {
    let mut c = StackConfig::new(seed);
    c.add_interface(InterfaceConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, n]),
        addr,
        24,
    ));
    c
}

fn pair() -> (TestNet, usize, usize) {
    let mut net = TestNet::new();
    let a = net.add_host("a", host(1, 1, A));
    let b = net.add_host("b", host(2, 2, B));
    net.add_segment(&[(a, IfaceId(0)), (b, IfaceId(0))], LAN);
    (net, a, b)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn is_tcp(f: &[u8]) -> bool {
    f.get(12..14) == Some(&[0x08, 0x00]) && f.get(23) == Some(&6)
}

/// b listens on 80; a connects, sends `data`, closes; b echoes back everything and closes.
/// Returns (what a got back, b's received bytes).
fn echo_transfer(net: &mut TestNet, a: usize, b: usize, data: Vec<u8>) -> (Vec<u8>, usize) {
    let listener = net
        .stack(b)
        .tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 16)
        .unwrap();
    let now = net.now();
    let sock = net
        .stack(a)
        .tcp_connect(now, (B, 80), (Ipv4Addr::UNSPECIFIED, 0))
        .unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let served = Rc::new(RefCell::new(0usize));
    {
        let got = got.clone();
        let mut off = 0usize;
        let mut closed = false;
        net.set_app(
            a,
            Box::new(move |s, now| {
                if off < data.len() {
                    off += s.tcp_send(now, sock, &data[off..]).unwrap_or(0);
                } else if !closed {
                    s.tcp_shutdown(now, sock).unwrap();
                    closed = true;
                }
                let mut buf = [0u8; 4096];
                loop {
                    match s.tcp_recv(now, sock, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => got.borrow_mut().extend_from_slice(&buf[..n]),
                        Err(TcpError::Recv(RecvError::Finished)) => break,
                        Err(e) => panic!("a recv: {e}"),
                    }
                }
            }),
        );
    }
    {
        let served = served.clone();
        let mut conn: Option<TcpSocketId> = None;
        let mut pending: Vec<u8> = Vec::new();
        let mut done = false;
        net.set_app(
            b,
            Box::new(move |s, now| {
                if conn.is_none() {
                    conn = s.tcp_accept(listener).unwrap();
                }
                let Some(c) = conn else { return };
                if done {
                    return;
                }
                let mut buf = [0u8; 4096];
                loop {
                    match s.tcp_recv(now, c, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            *served.borrow_mut() += n;
                            pending.extend_from_slice(&buf[..n]);
                        }
                        Err(TcpError::Recv(RecvError::Finished)) => {
                            if pending.is_empty() && !done {
                                s.tcp_close(now, c).unwrap();
                                done = true;
                            }
                            break;
                        }
                        Err(e) => panic!("b recv: {e}"),
                    }
                }
                if !pending.is_empty() && !done {
                    let n = s.tcp_send(now, c, &pending).unwrap_or(0);
                    pending.drain(..n);
                }
            }),
        );
    }
    for _ in 0..2000 {
        net.run_for(Duration::from_millis(50));
        if net
            .stack_ref(a)
            .tcp_info(sock)
            .is_some_and(|i| i.state == State::TimeWait)
        {
            break;
        }
    }
    let r = got.borrow().clone();
    let n = *served.borrow();
    (r, n)
}

#[test]
fn tcp_stack_echo_one_mebibyte_and_close() {
    let (mut net, a, b) = pair();
    let data = pattern(1 << 20);
    let (back, served) = echo_transfer(&mut net, a, b, data.clone());
    assert_eq!(served, data.len());
    assert_eq!(back, data);
    let ca = net.stack_ref(a).counters().tcp;
    let cb = net.stack_ref(b).counters().tcp;
    assert_eq!(ca.connects, 1);
    assert_eq!(cb.passive_opens, 1);
    assert_eq!(ca.rx_bad_checksum + cb.rx_bad_checksum, 0);
    assert!(
        ca.tx_segments > 700 && cb.tx_segments > 700,
        "{ca:?} {cb:?}"
    );
    // a closed first: TIME-WAIT; b's connection was released and freed.
    assert_eq!(net.stack_ref(b).tcp_connections(), 0);
    net.run_for(Duration::from_secs(61));
    let evs: Vec<_> = net.events(a).iter().map(|(_, e)| e.clone()).collect();
    assert!(evs.iter().any(|e| matches!(e, Event::TcpConnected { .. })));
    assert!(evs.iter().any(|e| matches!(e, Event::TcpPeerClosed { .. })));
    assert!(evs.iter().any(|e| matches!(e, Event::TcpClosed { .. })));
}

#[test]
fn tcp_stack_recovers_from_lost_segments() {
    let (mut net, a, b) = pair();
    // Lose the 10th, 11th and 40th TCP frames a sends.
    for nth in [10, 11, 40] {
        net.drop_frame(DropRule::new(a, nth, is_tcp));
    }
    let data = pattern(300_000);
    let (back, _) = echo_transfer(&mut net, a, b, data.clone());
    assert_eq!(back, data);
    // The retransmissions are counted (a's connection is still held by its handle) ...
    let total = net.stack_ref(a).tcp_stats_total();
    assert!(total.retransmitted_segs >= 3, "{total:?}");
    assert!(
        total.fast_retransmits + total.rto_expirations > 0,
        "{total:?}"
    );
    // ... and the totals outlive connections: b closed and freed its, which had taken the
    // segments after each hole out of order.
    assert_eq!(net.stack_ref(b).tcp_connections(), 0);
    let freed = net.stack_ref(b).tcp_stats_total();
    assert!(freed.ooo_segments > 0 && freed.segs_in > 200, "{freed:?}");
}

#[test]
fn tcp_stack_syn_to_closed_port_gets_rst_and_refused() {
    let (mut net, a, b) = pair();
    let now = net.now();
    let sock = net.stack(a).tcp_connect(now, (B, 81), (A, 0)).unwrap();
    net.run_for(Duration::from_millis(100));
    assert!(net.stack_ref(b).counters().tcp.rst_sent >= 1);
    let evs: Vec<_> = net.events(a).iter().map(|(_, e)| e.clone()).collect();
    assert!(
        evs.contains(&Event::TcpFailed {
            socket: sock,
            error: ConnError::Refused
        }),
        "{evs:?}"
    );
    assert_eq!(
        net.stack_ref(a).tcp_info(sock).unwrap().state,
        State::Closed
    );
}

#[test]
fn tcp_stack_errors_are_typed() {
    let (mut net, a, _b) = pair();
    let now = net.now();
    let s = net.stack(a);
    assert_eq!(
        s.tcp_connect(
            now,
            (Ipv4Addr::new(192, 0, 2, 1), 80),
            (Ipv4Addr::UNSPECIFIED, 0)
        ),
        Err(TcpError::NoRoute(Ipv4Addr::new(192, 0, 2, 1)))
    );
    assert_eq!(
        s.tcp_listen(Ipv4Addr::new(10, 0, 0, 77), 80, 4),
        Err(TcpError::AddrNotAvailable(Ipv4Addr::new(10, 0, 0, 77)))
    );
    s.tcp_listen(A, 80, 4).unwrap();
    assert_eq!(
        s.tcp_listen(A, 80, 4),
        Err(TcpError::AddrInUse { addr: A, port: 80 })
    );
    let stale = s.tcp_connect(now, (B, 9), (A, 0)).unwrap();
    s.tcp_abort(now, stale).unwrap();
    assert_eq!(s.tcp_send(now, stale, b"x"), Err(TcpError::NoSuchSocket));
}

#[test]
fn tcp_stack_ports_are_ephemeral_and_isns_keyed() {
    let (mut net, a, _b) = pair();
    let now = net.now();
    let mut ports = Vec::new();
    let mut isns = Vec::new();
    for _ in 0..20 {
        let s = net.stack(a).tcp_connect(now, (B, 80), (A, 0)).unwrap();
        let info = net.stack_ref(a).tcp_info(s).unwrap();
        assert!(info.local.1 >= 49152);
        ports.push(info.local.1);
        isns.push(info.send.iss.0);
    }
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 20, "distinct ports");
    isns.sort_unstable();
    isns.dedup();
    assert_eq!(
        isns.len(),
        20,
        "distinct ISNs (keyed per 4-tuple, RFC 6528)"
    );
    let _ = Instant::ZERO;
}

#[test]
fn tcp_stack_r1_revalidates_the_next_hop_reports_and_recovers_must_20_47() {
    let (mut net, a, b) = pair();
    let _listener = net
        .stack(b)
        .tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4)
        .unwrap();
    let now = net.now();
    let sock = net.stack(a).tcp_connect(now, (B, 80), (A, 0)).unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(
        net.stack_ref(a).tcp_info(sock).unwrap().state,
        State::Established
    );
    // b vanishes for a while: a's retransmissions go unanswered past R1 (3).
    net.set_attached(b, false);
    let now = net.now();
    net.stack(a).tcp_send(now, sock, b"are you there?").unwrap();
    net.run_for(Duration::from_secs(5));
    let info = net.stack_ref(a).tcp_info(sock).unwrap();
    assert!(info.stats.r1_reached >= 1, "{:?}", info.stats);
    // MUST-20's negative advice: the neighbour entry was dropped, to be asked again.
    assert!(net.stack_ref(a).counters().arp.revalidations >= 1);
    // MUST-47: the application heard of the excessive retransmissions.
    assert!(
        net.events(a)
            .iter()
            .any(|(_, e)| *e == Event::TcpRetransmitting { socket: sock })
    );
    net.set_attached(b, true);
    net.run_for(Duration::from_secs(20));
    let info = net.stack_ref(a).tcp_info(sock).unwrap();
    assert_eq!(
        info.unacked, 0,
        "delivered after the path came back: {info:?}"
    );
    assert_eq!(info.state, State::Established);
}

#[test]
fn tcp_stack_sends_urgent_data_through_the_socket_api_must_30() {
    let (mut net, a, b) = pair();
    let listener = net
        .stack(b)
        .tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4)
        .unwrap();
    let now = net.now();
    let sock = net.stack(a).tcp_connect(now, (B, 80), (A, 0)).unwrap();
    net.run_for(Duration::from_millis(100));
    let peer = net.stack(b).tcp_accept(listener).unwrap().unwrap();
    let now = net.now();
    assert_eq!(net.stack(a).tcp_send_urgent(now, sock, b"!").unwrap(), 1);
    net.run_for(Duration::from_millis(100));
    assert!(
        net.events(b)
            .iter()
            .any(|(_, e)| *e == Event::TcpUrgent { socket: peer }),
        "the peer was told of urgent data"
    );
    assert!(net.stack_ref(b).tcp_info(peer).unwrap().recv.up.is_some());
}

#[test]
fn tcp_stack_dscp_is_set_per_connection_must_48() {
    let (mut net, a, b) = pair();
    net.stack(b)
        .tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4)
        .unwrap();
    let now = net.now();
    let cfg = weft_core::tcp::TcpConfig {
        dscp: 46, // EF (RFC 3246)
        ..Default::default()
    };
    let sock = net
        .stack(a)
        .tcp_connect_with(now, (B, 80), (A, 0), cfg)
        .unwrap();
    net.run_for(Duration::from_millis(100));
    let now = net.now();
    net.stack(a).tcp_send(now, sock, b"expedited").unwrap();
    net.run_for(Duration::from_millis(100));
    let a_mac = [2u8, 0, 0, 0, 0, 1];
    let from_a: Vec<u8> = net
        .frames()
        .iter()
        .filter(|(_, f)| is_tcp(f) && f[6..12] == a_mac)
        .map(|(_, f)| f[15] >> 2)
        .collect();
    assert!(from_a.len() >= 3, "{from_a:?}");
    assert!(from_a.iter().all(|d| *d == 46), "{from_a:?}");
    // The other side keeps the default.
    assert!(
        net.frames()
            .iter()
            .filter(|(_, f)| is_tcp(f) && f[6..12] != a_mac)
            .all(|(_, f)| f[15] >> 2 == 0)
    );
}

#[test]
fn tcp_stack_sends_through_a_one_frame_transmit_queue() {
    // A full transmit queue holds TCP's segments back until `poll_transmit` takes a frame;
    // it must neither hang the stack (each changed connection is visited once per flush)
    // nor lose a segment. One frame of room: the ARP request alone fills it while the SYN
    // waits for the answer. Drained as a link that sizes frames first (`peek_transmit_len`
    // queues every segment) and as one that does not (segments written straight out).
    for peek_first in [true, false] {
        let mut net = TestNet::new();
        net.set_peek_first(peek_first);
        let mut ca = host(1, 1, A);
        ca.limits.tx_queue_frames = 1;
        let mut cb = host(2, 2, B);
        cb.limits.tx_queue_frames = 1;
        let a = net.add_host("a", ca);
        let b = net.add_host("b", cb);
        net.add_segment(&[(a, IfaceId(0)), (b, IfaceId(0))], LAN);
        let data = pattern(100_000);
        let (back, served) = echo_transfer(&mut net, a, b, data.clone());
        assert_eq!(served, data.len(), "peek_first {peek_first}");
        assert_eq!(back, data, "peek_first {peek_first}");
        let counters = net.stack_ref(a).counters();
        if peek_first {
            assert!(counters.tcp.tx_deferred > 0, "{:?}", counters.tcp);
        }
        // No segment was lost for want of room (TCP waited instead): nothing was sent twice.
        // (ARP's own frames are dropped, counted, when they find the queue full.)
        for h in [a, b] {
            let total = net.stack_ref(h).tcp_stats_total();
            assert_eq!(
                total.retransmitted_segs, 0,
                "peek_first {peek_first}: {total:?}"
            );
        }
    }
}

#[test]
fn tcp_stack_writes_the_same_frames_straight_out_as_through_its_queue() {
    // `poll_transmit` writes segments straight into the caller's (dirty) buffer unless a
    // `peek_transmit_len` made the stack queue them first: both paths must produce the same
    // TCP frames, byte for byte, in the same order.
    let mut runs = Vec::new();
    for peek_first in [true, false] {
        let (mut net, a, b) = pair();
        net.set_peek_first(peek_first);
        let data = pattern(300_000);
        let (back, served) = echo_transfer(&mut net, a, b, data.clone());
        assert_eq!(served, data.len());
        assert_eq!(back, data);
        let tcp: Vec<Vec<u8>> = net
            .frames()
            .iter()
            .filter(|(_, f)| is_tcp(f))
            .map(|(_, f)| f.clone())
            .collect();
        assert!(tcp.len() > 400, "{}", tcp.len());
        runs.push(tcp);
    }
    assert_eq!(runs[0].len(), runs[1].len());
    for (i, (q, d)) in runs[0].iter().zip(&runs[1]).enumerate() {
        assert_eq!(q, d, "TCP frame {i} differs (queued vs straight out)");
    }
}

#[test]
fn tcp_stack_recv_with_lends_the_stream_in_order_and_then_ends_it() {
    // The receiver reads only through `tcp_recv_with`, taking a few hundred bytes at a time
    // and sometimes none: it gets the whole stream, in order, then the end of it.
    let (mut net, a, b) = pair();
    let listener = net
        .stack(b)
        .tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4)
        .unwrap();
    let now = net.now();
    let sock = net
        .stack(a)
        .tcp_connect(now, (B, 80), (Ipv4Addr::UNSPECIFIED, 0))
        .unwrap();
    let data = pattern(200_000);
    {
        let data = data.clone();
        let mut off = 0usize;
        let mut closed = false;
        net.set_app(
            a,
            Box::new(move |s, now| {
                if off < data.len() {
                    off += s.tcp_send(now, sock, &data[off..]).unwrap_or(0);
                } else if !closed {
                    s.tcp_shutdown(now, sock).unwrap();
                    closed = true;
                }
            }),
        );
    }
    let got = Rc::new(RefCell::new(Vec::new()));
    let ended = Rc::new(RefCell::new(false));
    let (lent_max, calls) = (Rc::new(RefCell::new(0usize)), Rc::new(RefCell::new(0usize)));
    {
        let (got, ended, lent_max, calls) =
            (got.clone(), ended.clone(), lent_max.clone(), calls.clone());
        let mut conn = None;
        net.set_app(
            b,
            Box::new(move |s, now| {
                if conn.is_none() {
                    conn = s.tcp_accept(listener).unwrap();
                }
                let Some(c) = conn else { return };
                loop {
                    let mut calls = calls.borrow_mut();
                    *calls += 1;
                    let take = if *calls % 5 == 0 { 0 } else { 777 };
                    let r = s.tcp_recv_with(now, c, |lent| {
                        assert!(!lent.is_empty(), "lent an empty slice");
                        let mut m = lent_max.borrow_mut();
                        *m = (*m).max(lent.len());
                        let n = lent.len().min(take);
                        got.borrow_mut().extend_from_slice(&lent[..n]);
                        n
                    });
                    match r {
                        Ok(0) if take == 0 => continue,
                        Ok(0) => break,
                        Ok(n) => assert!(n <= 777),
                        Err(TcpError::Recv(RecvError::Finished)) => {
                            *ended.borrow_mut() = true;
                            break;
                        }
                        Err(e) => panic!("b recv_with: {e}"),
                    }
                }
            }),
        );
    }
    for _ in 0..200 {
        net.run_for(Duration::from_millis(50));
        if *ended.borrow() {
            break;
        }
    }
    assert!(*ended.borrow(), "the end of the stream was not reported");
    assert_eq!(got.borrow().len(), data.len());
    assert!(*got.borrow() == data, "the stream differs");
    // Whole runs of received data were lent at once, not a byte at a time.
    assert!(*lent_max.borrow() > 777, "{}", lent_max.borrow());
}
