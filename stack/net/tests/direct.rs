//! The direct backend over an in-memory cable on tokio: two weft stacks talking UDP and ICMP
//! through the same driver loop TAP and the simulator use.
#![cfg(feature = "tokio")]

use std::net::{Ipv4Addr, SocketAddrV4};
use weft_core::{Duration, IfaceId, InterfaceConfig, StackConfig};
use weft_net::direct::{self, DirectNet};
use weft_net::link::memory;
use weft_net::tokio_rt::{TokioRuntime, block_on_local};
use weft_net::{IcmpError, Net, NetError, UdpNet, UdpSocket};
use weft_wire::MacAddr;

const A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

fn two_stacks(capacity: usize) -> (DirectNet<TokioRuntime>, DirectNet<TokioRuntime>) {
    let (la, lb) = memory::pair(capacity, 1514);
    let rt = TokioRuntime::new();
    let mut a = direct::builder(StackConfig::new(1));
    a.interface(
        InterfaceConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), A, 24),
        la,
    );
    let mut b = direct::builder(StackConfig::new(2));
    b.interface(
        InterfaceConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), B, 24),
        lb,
    );
    (a.start(rt).expect("stack a"), b.start(rt).expect("stack b"))
}

#[test]
fn direct_udp_echo_and_fragmented_datagrams() {
    block_on_local(async {
        let (a, b) = two_stacks(64);
        let served = b
            .listen_udp(7, |sock, from, payload| async move {
                sock.send_to(&payload, from).await.expect("echo reply");
            })
            .await
            .expect("listen");
        assert_eq!(served.port(), 7);
        let client = a
            .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
            .await
            .expect("bind");
        assert!(client.local_addr().port() >= 49152, "ephemeral port");
        let mut buf = vec![0u8; 65_536];
        // 4000 bytes cross a 1500-byte MTU in three fragments each way.
        for size in [1usize, 512, 1472, 1473, 4000, 20_000] {
            let payload: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
            client
                .send_to(&payload, SocketAddrV4::new(B, 7))
                .await
                .expect("send");
            let (n, from) = client.recv_from(&mut buf).await.expect("echo");
            assert_eq!(from, SocketAddrV4::new(B, 7));
            assert_eq!(&buf[..n], &payload[..], "echo of {size} bytes");
        }
        let ca = a.counters();
        assert!(
            ca.ipv4.tx_fragments > 0 && ca.ipv4.reassembled > 0,
            "{ca:?}"
        );
        assert!(a.driver_counters().frames_out > 0);
        assert!(b.driver_counters().frames_in > 0);
    })
    .expect("runtime");
}

#[test]
fn direct_ping_and_port_unreachable() {
    block_on_local(async {
        let (a, b) = two_stacks(64);
        let rtt = a.ping(B, Duration::from_secs(2)).await.expect("pong");
        assert!(rtt < Duration::from_secs(2));
        assert!(
            b.counters().icmp.echo_replies_sent > 0,
            "{:?}",
            b.counters().icmp
        );
        // Nothing listens on B:9: B answers port unreachable, delivered to the socket.
        let s = a.bind_udp(SocketAddrV4::new(A, 5000)).await.expect("bind");
        s.send_to(b"anyone?", SocketAddrV4::new(B, 9))
            .await
            .expect("send");
        let mut buf = [0u8; 64];
        match s.recv_from(&mut buf).await {
            Err(NetError::Icmp {
                peer,
                reporter,
                error: IcmpError::PortUnreachable,
            }) => {
                assert_eq!(peer, SocketAddrV4::new(B, 9));
                assert_eq!(reporter, B);
            }
            other => panic!("expected port unreachable, got {other:?}"),
        }
        // A ping to an address nobody has times out (ARP never resolves).
        let lost = a
            .ping(Ipv4Addr::new(10, 9, 0, 99), Duration::from_millis(300))
            .await;
        assert_eq!(lost, Err(NetError::Timeout));
    })
    .expect("runtime");
}

#[test]
fn direct_bind_errors_are_typed() {
    block_on_local(async {
        let (a, _b) = two_stacks(8);
        let foreign = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 53);
        assert_eq!(
            a.bind_udp(foreign).await.err(),
            Some(NetError::AddrNotAvailable(foreign))
        );
        let first = a.bind_udp(SocketAddrV4::new(A, 53)).await.expect("bind");
        assert_eq!(
            a.bind_udp(SocketAddrV4::new(A, 53)).await.err(),
            Some(NetError::AddrInUse(SocketAddrV4::new(A, 53)))
        );
        drop(first);
        a.bind_udp(SocketAddrV4::new(A, 53))
            .await
            .expect("the port is free again once the last handle is dropped");
        let s = a.bind_udp(SocketAddrV4::new(A, 0)).await.expect("bind");
        assert_eq!(
            s.send_to(&vec![0u8; 70_000], SocketAddrV4::new(B, 9)).await,
            Err(NetError::TooLarge { len: 70_000 })
        );
        a.shutdown();
        let mut buf = [0u8; 8];
        assert_eq!(s.recv_from(&mut buf).await, Err(NetError::Closed));
    })
    .expect("runtime");
}

/// A cable that holds 2 frames per direction forces the driver to wait for room and the
/// senders to wait for the driver: nothing may be lost.
#[test]
fn direct_back_pressure_loses_nothing() {
    block_on_local(async {
        let (a, b) = two_stacks(2);
        // Resolve B first: datagrams waiting for ARP sit in a small bounded queue (counted
        // drops beyond it, as in Linux's unres_qlen); this test is about link back-pressure.
        a.ping(B, Duration::from_secs(2)).await.expect("pong");
        let rx = b.bind_udp(SocketAddrV4::new(B, 9000)).await.expect("bind");
        let tx = a.bind_udp(SocketAddrV4::new(A, 0)).await.expect("bind");
        let n = 300u32;
        let sender = {
            let tx = tx.clone();
            async move {
                for i in 0..n {
                    tx.send_to(&i.to_be_bytes(), SocketAddrV4::new(B, 9000))
                        .await
                        .expect("send");
                }
            }
        };
        a.spawn(sender);
        let mut buf = [0u8; 16];
        for i in 0..n {
            let (len, _) =
                tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv_from(&mut buf))
                    .await
                    .unwrap_or_else(|_| {
                        panic!(
                            "datagram {i} never came: {:?} {:?} {:?}",
                            a.counters(),
                            a.driver_counters(),
                            b.counters()
                        )
                    })
                    .expect("recv");
            assert_eq!(&buf[..len], &i.to_be_bytes(), "datagram {i} in order");
        }
        assert!(a.driver_counters().tx_blocked > 0, "the cable filled up");
        assert_eq!(b.counters().queues, Default::default());
    })
    .expect("runtime");
}

#[test]
fn direct_rng_and_clock() {
    block_on_local(async {
        let (a, _b) = two_stacks(2);
        use rand_core::RngCore;
        assert_eq!(a.rng("x").next_u64(), a.clone().rng("x").next_u64());
        let t0 = a.now();
        a.sleep(Duration::from_millis(20)).await;
        assert!(a.now().saturating_since(t0) >= Duration::from_millis(20));
        assert_eq!(a.address(IfaceId(0)), Some((A, 24)));
    })
    .expect("runtime");
}
