//! One application, every backend — over a real kernel: the UDP request/response client and
//! the echo server run on weft's direct backend over a TAP device, against the Linux kernel's
//! own UDP sockets (the socket backend) on the other side, inside a network namespace of the
//! test's own. The transcripts equal the socket-only run's, byte for byte.
#![cfg(all(feature = "tap", target_os = "linux"))]

mod common;

use common::netns::{in_netns, ip, privileged};
use std::net::{Ipv4Addr, SocketAddrV4};
use weft_core::{Duration, IfaceId, InterfaceConfig, StackConfig};
use weft_net::apps::{self, Transcript};
use weft_net::direct::{self, DirectNet};
use weft_net::socket::SocketNet;
use weft_net::tap::TapLink;
use weft_net::tokio_rt::TokioRuntime;
use weft_wire::MacAddr;

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
const WEFT: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);
const SEED: u64 = 0x7a9_0001;

/// A TAP device `dev` whose kernel side is 10.201.0.1/24 (no IPv6), and a weft stack on it at
/// 10.201.0.2.
fn weft_on_tap(dev: &str) -> DirectNet<TokioRuntime> {
    let link = TapLink::open(dev).expect("open TAP");
    std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1").ok();
    ip(&["addr", "add", "10.201.0.1/24", "dev", dev]);
    ip(&["link", "set", dev, "up"]);
    let mut b = direct::builder(StackConfig::new(SEED));
    b.interface(
        InterfaceConfig::ethernet(MacAddr([2, 0, 0, 0x20, 0x1, 2]), WEFT, 24),
        link,
    );
    b.start(TokioRuntime::new()).expect("stack")
}

fn show(name: &str, t: &Transcript) {
    println!("--- {name}: digest {:016x}", t.digest());
    for l in t.lines() {
        println!("    {l}");
    }
}

const REQUESTS: usize = 12;
/// Larger than the MTU: every request and reply crosses the TAP in fragments.
const SIZE: usize = 3000;

/// The reference: the socket backend talking to itself on loopback.
fn reference() -> Transcript {
    weft_net::tokio_rt::block_on_local(async {
        let net = SocketNet::new(SEED);
        let addr = apps::udp_echo_server_at(net, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("server")
            .0;
        apps::udp_request_response(net, addr, REQUESTS, SIZE, Duration::from_secs(1))
            .await
            .expect("client")
    })
    .expect("runtime")
}

#[test]
fn tap_udp_transcripts_equal_the_socket_backend_both_ways() {
    if !privileged() {
        return;
    }
    println!("seed {SEED}");
    let want = reference();
    show("socket", &want);
    in_netns(move || async move {
        let weft = weft_on_tap("wtapapp0");
        // weft client → Linux echo server (the socket backend on the kernel side).
        let linux = SocketNet::new(SEED ^ 1);
        let (server, stats) = apps::udp_echo_server_at(linux, SocketAddrV4::new(KERNEL, 7007))
            .await
            .expect("kernel-side server");
        let got = apps::udp_request_response(
            weft.clone(),
            server,
            REQUESTS,
            SIZE,
            Duration::from_secs(1),
        )
        .await
        .expect("weft client");
        show("direct-over-TAP client", &got);
        assert_eq!(got, want);
        assert_eq!(stats.served(), REQUESTS as u64);
        let c = weft.counters();
        assert!(c.ipv4.tx_fragments > 0 && c.ipv4.reassembled > 0, "{c:?}");

        // Linux client (socket backend) → weft echo server on the direct backend.
        let (addr, weft_stats) = apps::udp_echo_server_at(weft.clone(), SocketAddrV4::new(WEFT, 7))
            .await
            .expect("weft server");
        let client = SocketNet::new(SEED);
        let got = apps::udp_request_response(client, addr, REQUESTS, SIZE, Duration::from_secs(1))
            .await
            .expect("kernel-side client");
        show("direct-over-TAP server", &got);
        assert_eq!(got, want);
        assert_eq!(weft_stats.served(), REQUESTS as u64);
        assert_eq!(weft.address(IfaceId(0)), Some((WEFT, 24)));
    });
}

/// TCP: RFC 862 echo with the Linux kernel's TCP on the other side, weft as client and as
/// server; the transcripts equal the socket backend's on loopback. A SYN to a closed Linux
/// port is refused.
#[test]
fn tap_tcp_transcripts_equal_the_socket_backend_both_ways() {
    if !privileged() {
        return;
    }
    const MESSAGES: usize = 10;
    const MSG: usize = 5000;
    println!("seed {SEED}");
    let want = weft_net::tokio_rt::block_on_local(async {
        let net = SocketNet::new(SEED);
        let (addr, _) = apps::tcp_echo_server_at(net, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("server");
        apps::tcp_echo_client(net, addr, MESSAGES, MSG)
            .await
            .expect("client")
    })
    .expect("runtime");
    show("socket", &want);
    in_netns(move || async move {
        let weft = weft_on_tap("wtapapp1");
        // weft client → Linux echo server.
        let linux = SocketNet::new(SEED ^ 1);
        let (server, _) = apps::tcp_echo_server_at(linux, SocketAddrV4::new(KERNEL, 7007))
            .await
            .expect("kernel-side server");
        let got = apps::tcp_echo_client(weft.clone(), server, MESSAGES, MSG)
            .await
            .expect("weft client");
        show("direct-over-TAP client", &got);
        assert_eq!(got, want);
        // Linux client → weft echo server.
        let (addr, stats) = apps::tcp_echo_server_at(weft.clone(), SocketAddrV4::new(WEFT, 7))
            .await
            .expect("weft server");
        let got = apps::tcp_echo_client(SocketNet::new(SEED), addr, MESSAGES, MSG)
            .await
            .expect("kernel-side client");
        show("direct-over-TAP server", &got);
        assert_eq!(got, want);
        stats.served_at_least(1).await;
        // A SYN to a closed Linux port is answered with RST: refused.
        let refused = weft_net::TcpNet::connect(&weft, SocketAddrV4::new(KERNEL, 9)).await;
        assert!(
            matches!(refused, Err(weft_net::ConnectError::Refused(_))),
            "{refused:?}"
        );
        let c = weft.counters().tcp;
        assert!(c.connects >= 2 && c.passive_opens >= 1, "{c:?}");
        assert_eq!(c.rx_bad_checksum, 0);
    });
}
