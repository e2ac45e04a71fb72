//! The direct backend over in-memory cables on tokio: weft stacks talking UDP, TCP and ICMP
//! through the same driver loop TAP and the simulator use; a stack with two interfaces; a
//! raw peer played by the test where a weft stack cannot misbehave enough.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::future::poll_fn;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_core::link::{ChecksumState, Link, RxToken, TxMeta, TxToken};
use weft_core::{Duration, IfaceId, InterfaceConfig, StackConfig};
use weft_net::direct::{self, DirectNet, LinkCounters};
use weft_net::link::{AsyncLink, memory};
use weft_net::tokio_rt::{TokioRuntime, block_on_local};
use weft_net::{ConnectError, IcmpError, Net, NetError, TcpNet, UdpNet, UdpSocket};
use weft_wire::icmpv4::DstUnreachableCode;
use weft_wire::{
    ArpOperation, ArpPacket, ArpRepr, ChecksumMode, EtherType, EthernetFrame, EthernetRepr,
    Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr,
};

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
fn direct_bind_and_connect_errors_are_typed() {
    block_on_local(async {
        let (a, _b) = two_stacks(8);
        let foreign = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 53);
        assert_eq!(
            a.bind_udp(foreign).await.err(),
            Some(NetError::AddrNotAvailable(foreign))
        );
        // No gateway: nothing outside 10.9.0.0/24 has a route.
        let to = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80);
        let unreachable = a.connect(to).await.err();
        assert_eq!(unreachable, Some(ConnectError::Unreachable(to)));
        assert_eq!(
            unreachable.map(|e| e.to_string()),
            Some("192.0.2.1:80 is unreachable".to_string())
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

/// `TcpNet::release_idle_buffers` on the direct backend gives back the rings of connections
/// whose data has all been acknowledged and read, and the stream goes on intact after.
#[test]
fn direct_release_idle_buffers_after_a_transfer() {
    block_on_local(async {
        let (a, b) = two_stacks(64);
        b.listen_tcp(7, |mut flow| async move {
            let mut buf = [0u8; 4096];
            loop {
                match flow.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => flow.write_all(&buf[..n]).await.expect("echo"),
                }
            }
        })
        .await
        .expect("listen");
        let mut flow = a.connect(SocketAddrV4::new(B, 7)).await.expect("connect");
        let sent: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut back = vec![0u8; sent.len()];
        for round in 0..2 {
            flow.write_all(&sent).await.expect("write");
            flow.read_exact(&mut back).await.expect("read");
            assert!(back == sent, "round {round}: the echo differs");
            // Let the last ACKs cross, so both ends' rings are empty.
            a.sleep(Duration::from_millis(300)).await;
            let freed = (a.release_idle_buffers(), b.release_idle_buffers());
            assert!(
                freed.0 > 0 && freed.1 > 0,
                "round {round}: both ends held rings after 20 kB each way: {freed:?}"
            );
            assert_eq!(
                (a.release_idle_buffers(), b.release_idle_buffers()),
                (0, 0),
                "round {round}: nothing is left to give back"
            );
        }
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

// ---------------------------------------------------------------------------------------
// Several interfaces in one stack

const R0: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const R1: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 1);
const LEFT: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const RIGHT: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 2);

/// A stack R on two networks, 10.9.0.0/24 (interface 0, to LEFT) and 10.9.1.0/24
/// (interface 1, to RIGHT), each an in-memory cable of its own.
fn router_and_two_hosts() -> (
    DirectNet<TokioRuntime>,
    DirectNet<TokioRuntime>,
    DirectNet<TokioRuntime>,
) {
    let rt = TokioRuntime::new();
    let (r0, l) = memory::pair(64, 1514);
    let (r1, rr) = memory::pair(64, 1514);
    let mut r = direct::builder(StackConfig::new(10));
    let i0 = r.interface(
        InterfaceConfig::ethernet(MacAddr([2, 0, 0, 0, 1, 0]), R0, 24),
        r0,
    );
    let i1 = r.interface(
        InterfaceConfig::ethernet(MacAddr([2, 0, 0, 0, 1, 1]), R1, 24),
        r1,
    );
    assert_eq!((i0, i1), (IfaceId(0), IfaceId(1)));
    let mut left = direct::builder(StackConfig::new(11));
    left.interface(
        InterfaceConfig::ethernet(MacAddr([2, 0, 0, 0, 2, 0]), LEFT, 24),
        l,
    );
    let mut right = direct::builder(StackConfig::new(12));
    right.interface(
        InterfaceConfig::ethernet(MacAddr([2, 0, 0, 0, 3, 0]), RIGHT, 24),
        rr,
    );
    (
        r.start(rt).expect("stack r"),
        left.start(rt).expect("stack left"),
        right.start(rt).expect("stack right"),
    )
}

/// Sends `payload` from `sock` to `to` and expects it back from `to`.
async fn echoed(sock: &impl UdpSocket, to: SocketAddrV4, payload: &[u8]) {
    sock.send_to(payload, to).await.expect("send");
    let mut buf = [0u8; 2048];
    let (n, from) =
        tokio::time::timeout(std::time::Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no echo from {to}"))
            .expect("recv");
    assert_eq!(from, to);
    assert_eq!(&buf[..n], payload);
}

#[test]
fn direct_one_stack_on_two_links() {
    block_on_local(async {
        let (r, left, right) = router_and_two_hosts();
        assert_eq!(r.address(IfaceId(0)), Some((R0, 24)));
        assert_eq!(r.address(IfaceId(1)), Some((R1, 24)));
        let (_, left_echo) =
            weft_net::apps::udp_echo_server_at(left.clone(), SocketAddrV4::new(LEFT, 7))
                .await
                .expect("left echo");
        let (_, right_echo) =
            weft_net::apps::udp_echo_server_at(right.clone(), SocketAddrV4::new(RIGHT, 7))
                .await
                .expect("right echo");

        // From R's wildcard socket to both sides: each leaves on its own interface.
        let any = r
            .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
            .await
            .expect("bind wildcard");
        echoed(&any, SocketAddrV4::new(LEFT, 7), b"to the left").await;
        echoed(&any, SocketAddrV4::new(RIGHT, 7), b"to the right").await;
        // Bound to each of R's addresses, to the host on that address's network.
        for (ours, theirs) in [(R0, LEFT), (R1, RIGHT)] {
            let local = SocketAddrV4::new(ours, 5000);
            let sock = r.bind_udp(local).await.expect("bind one of R's addresses");
            assert_eq!(sock.local_addr(), local);
            echoed(&sock, SocketAddrV4::new(theirs, 7), b"from one address").await;
        }
        assert_eq!((left_echo.served(), right_echo.served()), (2, 2));
        // An address R does not have.
        let foreign = SocketAddrV4::new(Ipv4Addr::new(10, 9, 2, 1), 5000);
        assert_eq!(
            r.bind_udp(foreign).await.err(),
            Some(NetError::AddrNotAvailable(foreign))
        );
        // Neither network reaches a third.
        let nowhere = SocketAddrV4::new(Ipv4Addr::new(10, 9, 2, 2), 7);
        assert_eq!(
            any.send_to(b"?", nowhere).await,
            Err(NetError::NoRoute(*nowhere.ip()))
        );

        // Each host reaches R's address on its own side: ping, and R's one echo server on
        // every address.
        let (_, r_echo) = weft_net::apps::udp_echo_server_at(
            r.clone(),
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7),
        )
        .await
        .expect("R echo");
        for (host, theirs, ours) in [(&left, LEFT, R0), (&right, RIGHT, R1)] {
            host.ping(ours, Duration::from_secs(2))
                .await
                .unwrap_or_else(|e| panic!("{theirs} pings {ours}: {e}"));
            let sock = host
                .bind_udp(SocketAddrV4::new(theirs, 0))
                .await
                .expect("bind");
            echoed(&sock, SocketAddrV4::new(ours, 7), b"to R").await;
        }
        assert_eq!(r_echo.served(), 2);

        // The driver counted frames on both links, and the per-link counts add up.
        let c0 = r.link_counters(IfaceId(0)).expect("link 0");
        let c1 = r.link_counters(IfaceId(1)).expect("link 1");
        println!("R link 0 {c0:?}, link 1 {c1:?}");
        for c in [c0, c1] {
            assert!(c.frames_in >= 4 && c.frames_out >= 4, "{c:?}");
        }
        assert_eq!(r.link_counters(IfaceId(2)), None);
        let total = r.driver_counters();
        assert_eq!(total.frames_in, c0.frames_in + c1.frames_in);
        assert_eq!(total.frames_out, c0.frames_out + c1.frames_out);
        // What R sent on each link is what the host there received, and back.
        assert_eq!(left.driver_counters().frames_in, c0.frames_out);
        assert_eq!(right.driver_counters().frames_in, c1.frames_out);
        assert_eq!(left.driver_counters().frames_out, c0.frames_in);
        assert_eq!(right.driver_counters().frames_out, c1.frames_in);
    })
    .expect("runtime");
}

// ---------------------------------------------------------------------------------------
// Connect errors the network causes, with the test playing the peer

const PEER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x99]);

/// A stack at A whose peer at PEER is the test itself, holding the cable's other end. The
/// stack's SYN retransmissions give up after `r2_syn`.
fn stack_and_raw_peer(r2_syn: Duration) -> (DirectNet<TokioRuntime>, memory::MemoryLink) {
    let (la, raw) = memory::pair(64, 1514);
    let mut cfg = StackConfig::new(1);
    cfg.tcp.r2_syn = r2_syn;
    let mut a = direct::builder(cfg);
    a.interface(
        InterfaceConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), A, 24),
        la,
    );
    (a.start(TokioRuntime::new()).expect("stack"), raw)
}

fn ethernet(dst: MacAddr, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let eth = EthernetRepr {
        dst,
        src: PEER_MAC,
        vlans: Default::default(),
        ethertype,
    };
    let mut frame = vec![0u8; eth.header_len() + payload.len()];
    let at = eth.emit(&mut frame).unwrap();
    frame[at..].copy_from_slice(payload);
    frame
}

/// What the raw peer does with a TCP SYN sent to it.
#[derive(Debug, Clone, Copy)]
enum SynAnswer {
    /// Nothing.
    Ignore,
    /// An ICMP destination unreachable with this code, quoting the SYN.
    Unreachable(u8),
}

/// The raw peer: answers ARP requests for PEER, and each TCP SYN to PEER as `answer` says.
/// Counts the TCP segments it sees for PEER in `syns`; runs until the test ends.
async fn raw_peer(mut link: memory::MemoryLink, answer: SynAnswer, syns: Rc<RefCell<u32>>) {
    loop {
        poll_fn(|cx: &mut Context<'_>| link.poll_recv_ready(cx)).await;
        while let Some(rx) = link.receive() {
            let frame = rx.consume(|f, _| f.to_vec());
            let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
            let reply = if eth.ethertype() == EtherType::ARP {
                let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
                (arp.operation == ArpOperation::REQUEST && arp.target_ip == PEER).then(|| {
                    let mut bytes = [0u8; 28];
                    arp.reply(PEER_MAC).emit(&mut bytes).unwrap();
                    ethernet(arp.sender_mac, EtherType::ARP, &bytes)
                })
            } else if eth.ethertype() == EtherType::IPV4 {
                let packet = Ipv4Packet::new_checked(eth.payload()).unwrap();
                let ip = Ipv4Repr::parse(&packet, ChecksumMode::Verify).unwrap();
                if ip.protocol == IpProtocol::TCP && ip.dst == PEER {
                    *syns.borrow_mut() += 1;
                    match answer {
                        SynAnswer::Ignore => None,
                        SynAnswer::Unreachable(code) => {
                            // RFC 792: the IP header and the first 64 bits of its data.
                            let quoted = &eth.payload()[..packet.header_len() + 8];
                            Some(icmp_frame(eth.src(), ip, code, quoted))
                        }
                    }
                } else {
                    None
                }
            } else {
                None
            };
            if let Some(reply) = reply {
                poll_fn(|cx: &mut Context<'_>| link.poll_send_ready(cx)).await;
                link.transmit()
                    .expect("room")
                    .consume(reply.len(), TxMeta::default(), |buf| {
                        buf.copy_from_slice(&reply)
                    });
            }
        }
    }
}

/// An ICMP destination unreachable from PEER about the datagram whose header is `about`,
/// back to its sender.
fn icmp_frame(dst_mac: MacAddr, about: Ipv4Repr<'_>, code: u8, quoted: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Repr::DstUnreachable {
        code: DstUnreachableCode(code),
        next_hop_mtu: 0,
        unused: 0,
        quoted,
    };
    // The datagram's own header turned round, carrying ICMP.
    let ip = Ipv4Repr {
        src: PEER,
        dst: about.src,
        protocol: IpProtocol::ICMP,
        dont_frag: false,
        payload_len: icmp.buffer_len(),
        ..about
    };
    let mut packet = vec![0u8; ip.buffer_len()];
    let at = ip.emit(&mut packet).unwrap();
    icmp.emit(&mut packet[at..]).unwrap();
    ethernet(dst_mac, EtherType::IPV4, &packet)
}

/// RFC 1122 §4.2.3.9: a hard ICMP error (protocol or port unreachable) for the SYN ends
/// the connection attempt at once; a soft one (host unreachable) does not, but is the reason
/// given when the handshake then times out. A SYN nobody answers times out.
#[test]
fn direct_connect_unreachable_from_icmp_errors() {
    let to = SocketAddrV4::new(PEER, 80);
    for (answer, want) in [
        (SynAnswer::Unreachable(2), ConnectError::Unreachable(to)),
        (SynAnswer::Unreachable(3), ConnectError::Unreachable(to)),
        (SynAnswer::Unreachable(1), ConnectError::Unreachable(to)),
        (SynAnswer::Ignore, ConnectError::Timeout(to)),
    ] {
        block_on_local(async move {
            let r2_syn = Duration::from_millis(1500);
            let (a, raw) = stack_and_raw_peer(r2_syn);
            let syns = Rc::new(RefCell::new(0u32));
            a.spawn(raw_peer(raw, answer, syns.clone()));
            let t0 = a.now();
            let got = a.connect(to).await.err();
            let took = a.now().saturating_since(t0);
            println!("{answer:?}: {got:?} after {took:?}, {} SYNs", syns.borrow());
            assert_eq!(got, Some(want), "{answer:?}");
            let icmp = a.counters().icmp;
            match answer {
                SynAnswer::Unreachable(2 | 3) => {
                    assert_eq!(*syns.borrow(), 1, "hard: no retransmission");
                    assert!(took < r2_syn, "hard: at once");
                    assert_eq!(icmp.errors_delivered, 1, "{icmp:?}");
                }
                SynAnswer::Unreachable(_) => {
                    assert!(*syns.borrow() >= 2, "soft: the SYN is sent again");
                    assert!(took >= r2_syn);
                    assert!(icmp.errors_delivered >= 1, "{icmp:?}");
                }
                SynAnswer::Ignore => {
                    assert!(took >= r2_syn);
                    assert_eq!(icmp.errors_delivered, 0, "{icmp:?}");
                }
            }
        })
        .expect("runtime");
    }
}

// ---------------------------------------------------------------------------------------
// Link metadata

/// Frames handed to a link, each with the metadata its transmit token got.
type Sent = Rc<RefCell<Vec<(TxMeta, Vec<u8>)>>>;

/// A memory link that keeps every frame it is handed, with the metadata its token got.
struct Recording {
    link: memory::MemoryLink,
    sent: Sent,
}

struct RecordingTx<'a> {
    tx: memory::MemoryTx<'a>,
    sent: Sent,
}

impl TxToken for RecordingTx<'_> {
    fn consume<R>(self, len: usize, meta: TxMeta, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let sent = self.sent;
        self.tx.consume(len, meta, |buf| {
            let r = f(buf);
            sent.borrow_mut().push((meta, buf.to_vec()));
            r
        })
    }
}

impl Link for Recording {
    type Rx<'a> = memory::MemoryRx;
    type Tx<'a> = RecordingTx<'a>;

    fn receive(&mut self) -> Option<memory::MemoryRx> {
        self.link.receive()
    }

    fn transmit(&mut self) -> Option<RecordingTx<'_>> {
        let sent = self.sent.clone();
        self.link.transmit().map(|tx| RecordingTx { tx, sent })
    }

    fn max_frame_len(&self) -> usize {
        self.link.max_frame_len()
    }
}

impl AsyncLink for Recording {
    fn poll_recv_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.link.poll_recv_ready(cx)
    }

    fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.link.poll_send_ready(cx)
    }
}

/// The metadata planted on a frame: derived from its bytes, so frames differ.
fn planted_meta(frame: &[u8]) -> TxMeta {
    let sum = frame.iter().enumerate().fold(0u16, |s, (i, b)| {
        s.wrapping_mul(31).wrapping_add(u16::from(*b) ^ i as u16)
    });
    TxMeta {
        checksum: ChecksumState::Blank,
        segment_size: Some(sum),
    }
}

/// The driver hands each frame's own link metadata (`Stack::peek_transmit`) to the link's
/// transmit token: the seam through which TAP's virtio-net header will carry offloads.
#[test]
fn direct_driver_gives_the_link_each_frames_metadata() {
    block_on_local(async {
        let (la, lb) = memory::pair(64, 1514);
        let sent = Rc::new(RefCell::new(Vec::new()));
        let rt = TokioRuntime::new();
        let mut a = direct::builder(StackConfig::new(1));
        a.interface(
            InterfaceConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), A, 24),
            Recording {
                link: la,
                sent: sent.clone(),
            },
        );
        let mut b = direct::builder(StackConfig::new(2));
        b.interface(
            InterfaceConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), B, 24),
            lb,
        );
        let (a, b) = (a.start(rt).expect("a"), b.start(rt).expect("b"));
        a.ping(B, Duration::from_secs(2)).await.expect("pong");
        let before = sent.borrow().len();
        assert!(before > 0);
        assert!(
            sent.borrow().iter().all(|(m, _)| *m == TxMeta::default()),
            "the stack's own frames carry software checksums"
        );
        let rx = b.bind_udp(SocketAddrV4::new(B, 9000)).await.expect("bind");
        // Datagrams queued (one in fragments) and marked while the driver cannot run.
        let planted = a.with_stack(|s, now| {
            let id = s.udp_bind(A, 6000).expect("bind");
            for size in [10usize, 600, 3000] {
                s.udp_send_to(now, id, (B, 9000), &vec![size as u8; size])
                    .expect("send");
            }
            let (_, meta) = s.peek_transmit(now, IfaceId(0)).expect("queued");
            assert_eq!(meta, TxMeta::default());
            let planted = s.testkit_set_queued_meta(planted_meta);
            let (len, meta) = s.peek_transmit(now, IfaceId(0)).expect("queued");
            assert_eq!(meta.checksum, ChecksumState::Blank, "{len} bytes");
            planted
        });
        assert_eq!(planted, 5, "1 + 1 + 3 fragments");
        let mut buf = [0u8; 4096];
        for size in [10usize, 600, 3000] {
            let (n, _) = rx.recv_from(&mut buf).await.expect("datagram");
            assert_eq!(n, size);
        }
        let sent = sent.borrow();
        let marked = &sent[before..before + planted];
        for (meta, frame) in marked {
            assert_eq!(
                *meta,
                planted_meta(frame),
                "the token got its frame's metadata"
            );
        }
        assert_eq!(
            a.link_counters(IfaceId(0))
                .map(|c: LinkCounters| c.frames_out),
            Some(sent.len() as u64)
        );
    })
    .expect("runtime");
}
