//! The applications of `weft_net::apps` on the socket and turmoil backends: the same work
//! gives the same transcript on both, turmoil replays a seed exactly, errors are typed, and
//! every example's code path runs (`apps::run_example`, which each example's `main` calls).
//!
//! Seeds: `WEFT_NET_SEED` (decimal or 0x hex) overrides the default; each test prints its own.
#![cfg(all(feature = "tokio", feature = "turmoil"))]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::time::Duration;
use weft_net::apps::{
    self, AppError, Backend, Counts, ExampleConfig, ExampleReport, Role, Service, Transcript,
};
use weft_net::socket::SocketNet;
use weft_net::tokio_rt::block_on_local;
use weft_net::turmoil_net::TurmoilNet;
use weft_net::{ConnectError, Flow, Listener, Net, NetError, TcpNet, UdpNet, UdpSocket};

const DEFAULT_SEED: u64 = 0x5eed_0001;

/// The seed for this run (`WEFT_NET_SEED` overrides it), printed.
fn seed() -> u64 {
    common::seed(DEFAULT_SEED)
}

fn counts(served: u64, bytes: u64) -> Counts {
    Counts {
        served,
        bytes,
        failed: 0,
    }
}

fn localhost(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

/// Runs `f` with a socket backend on a current-thread runtime.
fn on_socket<F, Fut, T>(seed: u64, f: F) -> T
where
    F: FnOnce(SocketNet) -> Fut,
    Fut: Future<Output = T>,
{
    block_on_local(f(SocketNet::new(seed))).unwrap()
}

/// A turmoil simulation seeded with `seed`: host "server" runs `server` (then idles), host
/// "client" runs `client` with the server's address. Returns the client's output and the
/// simulated time the run took.
fn on_turmoil<S, SF, C, CF, T>(seed: u64, server: S, client: C) -> (T, Duration)
where
    S: Fn(TurmoilNet) -> SF + 'static,
    SF: Future<Output = Result<(), NetError>> + 'static,
    C: FnOnce(TurmoilNet, Ipv4Addr) -> CF + 'static,
    CF: Future<Output = T> + 'static,
    T: 'static,
{
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(600))
        .build();
    let server = Rc::new(server);
    sim.host("server", move || {
        let server = server.clone();
        async move {
            server(TurmoilNet::new(seed)).await?;
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    let out: Rc<RefCell<Option<T>>> = Rc::default();
    let slot = out.clone();
    sim.client("client", async move {
        let IpAddr::V4(ip) = turmoil::lookup("server") else {
            panic!("turmoil gave the server an IPv6 address");
        };
        let result = client(TurmoilNet::new(seed), ip).await;
        *slot.borrow_mut() = Some(result);
        Ok(())
    });
    sim.run().unwrap();
    let elapsed = sim.elapsed();
    let result = out.borrow_mut().take().expect("the client finished");
    (result, elapsed)
}

fn show(backend: &str, t: &Transcript) {
    println!(
        "--- {backend}: {} lines, digest {:016x}",
        t.lines().len(),
        t.digest()
    );
    for line in t.lines() {
        println!("    {line}");
    }
}

// ---------------------------------------------------------------------------------------
// The same work on both backends

#[test]
fn udp_echo_transcripts_match_across_backends() {
    let seed = seed();
    let (requests, size, timeout) = (16, 300, Duration::from_secs(1));
    let socket = on_socket(seed, |net| async move {
        let addr = apps::udp_echo_server(net, 0).await.unwrap();
        assert_eq!(*addr.ip(), Ipv4Addr::UNSPECIFIED);
        apps::udp_request_response(net, localhost(addr.port()), requests, size, timeout).await
    })
    .unwrap();
    let (turmoil, _) = on_turmoil(
        seed,
        |net| async move { apps::udp_echo_server(net, apps::ECHO_PORT).await.map(drop) },
        move |net, ip| async move {
            let server = SocketAddrV4::new(ip, apps::ECHO_PORT);
            apps::udp_request_response(net, server, requests, size, timeout).await
        },
    );
    let turmoil = turmoil.unwrap();
    // weft's own stack: a server stack and a client stack over an in-memory cable.
    let mut cfg = ExampleConfig::new(Service::UdpEcho, Role::Both, Backend::Direct, seed);
    cfg.count = requests;
    cfg.size = size;
    cfg.timeout = timeout;
    let direct = run(&cfg).unwrap().transcript.unwrap();
    show("socket", &socket);
    show("turmoil", &turmoil);
    show("direct", &direct);
    assert_eq!(socket.lines().len(), 1 + 2 * requests);
    assert_eq!(socket, turmoil);
    assert_eq!(socket, direct);
    assert_eq!(socket.digest(), turmoil.digest());
    // No network lost anything.
    assert_eq!(
        (socket.retries(), turmoil.retries(), direct.retries()),
        (0, 0, 0)
    );
}

#[test]
fn tcp_echo_transcripts_match_across_backends() {
    let seed = seed();
    let (messages, size) = (12, 3000);
    let socket = on_socket(seed, |net| async move {
        let addr = apps::tcp_echo_server(net, 0).await.unwrap();
        apps::tcp_echo_client(net, localhost(addr.port()), messages, size).await
    })
    .unwrap();
    let (turmoil, _) = on_turmoil(
        seed,
        |net| async move { apps::tcp_echo_server(net, apps::ECHO_PORT).await.map(drop) },
        move |net, ip| async move {
            apps::tcp_echo_client(net, SocketAddrV4::new(ip, apps::ECHO_PORT), messages, size).await
        },
    );
    let turmoil = turmoil.unwrap();
    let mut cfg = ExampleConfig::new(Service::TcpEcho, Role::Both, Backend::Direct, seed);
    cfg.count = messages;
    cfg.size = size;
    let direct = run(&cfg).unwrap().transcript.unwrap();
    show("socket", &socket);
    show("turmoil", &turmoil);
    show("direct", &direct);
    assert_eq!(socket.lines().len(), 2 + 2 * messages + 3);
    assert_eq!(socket, turmoil);
    assert_eq!(socket, direct);
}

#[test]
fn discard_transcripts_and_counts_match_across_backends() {
    let seed = seed();
    let bytes: u64 = 200_000;
    let (socket, socket_count) = on_socket(seed, |net| async move {
        let (addr, stats) = apps::discard_server(net, 0).await.unwrap();
        let t = apps::discard_client(net, localhost(addr.port()), bytes).await;
        (t, stats.counts())
    });
    let socket = socket.unwrap();
    let stats_slot = Rc::new(RefCell::new(None));
    let slot = stats_slot.clone();
    let (turmoil, _) = on_turmoil(
        seed,
        move |net| {
            let slot = slot.clone();
            async move {
                let (_, stats) = apps::discard_server(net, apps::DISCARD_PORT).await?;
                *slot.borrow_mut() = Some(stats);
                Ok(())
            }
        },
        move |net, ip| async move {
            apps::discard_client(net, SocketAddrV4::new(ip, apps::DISCARD_PORT), bytes).await
        },
    );
    let turmoil = turmoil.unwrap();
    let stats = stats_slot.borrow_mut().take().unwrap();
    let mut cfg = ExampleConfig::new(Service::Discard, Role::Both, Backend::Direct, seed);
    cfg.size = bytes as usize;
    let report = run(&cfg).unwrap();
    let direct = report.transcript.unwrap();
    show("socket", &socket);
    show("turmoil", &turmoil);
    show("direct", &direct);
    assert_eq!(socket, turmoil);
    assert_eq!(socket, direct);
    assert_eq!(report.served.unwrap(), counts(1, bytes));
    // The server counted every byte, on both, by the time the client saw its end of stream.
    assert_eq!(socket_count, counts(1, bytes));
    assert_eq!(
        (stats.served(), stats.bytes(), stats.failed()),
        (1, bytes, 0)
    );
}

// ---------------------------------------------------------------------------------------
// turmoil replays a seed

fn turmoil_example(service: Service, seed: u64) -> ExampleReport {
    let mut cfg = ExampleConfig::new(service, Role::Both, Backend::Turmoil, seed);
    cfg.count = 6;
    cfg.size = 700;
    let mut events = Vec::new();
    let report = apps::run_example(&cfg, &mut |e| events.push(e.to_string())).unwrap();
    assert!(
        events.iter().any(|e| e.contains(&format!("seed {seed}"))),
        "the seed is printed: {events:?}"
    );
    report
}

#[test]
fn turmoil_same_seed_same_run() {
    let seed = seed();
    for service in [Service::UdpEcho, Service::TcpEcho, Service::Discard] {
        let a = turmoil_example(service, seed);
        let b = turmoil_example(service, seed);
        let c = turmoil_example(service, seed.wrapping_add(1));
        let (ta, tb, tc) = (
            a.transcript.as_ref().unwrap(),
            b.transcript.as_ref().unwrap(),
            c.transcript.as_ref().unwrap(),
        );
        println!(
            "{service}: seed {seed} -> {:016x} twice in {:?}; seed {} -> {:016x}",
            ta.digest(),
            a.sim_elapsed.unwrap(),
            seed.wrapping_add(1),
            tc.digest()
        );
        // Same seed: the same transcript, counts and simulated time.
        assert_eq!(a, b, "{service}");
        assert_eq!(ta.digest(), tb.digest());
        // Another seed: other payloads, so other digests; the same shape.
        assert_ne!(ta, tc, "{service}");
        assert_eq!(ta.lines().len(), tc.lines().len());
    }
}

// ---------------------------------------------------------------------------------------
// Typed errors

#[test]
fn socket_connect_to_closed_port_is_refused() {
    on_socket(seed(), |net| async move {
        // A port that was just ours and is closed now.
        let listener = net.bind_tcp(localhost(0)).await.unwrap();
        let addr = listener.local_addr();
        drop(listener);
        let err = net.connect(addr).await.unwrap_err();
        println!("connect to closed {addr}: {err}");
        assert_eq!(err, ConnectError::Refused(addr));
        // The applications pass it on typed.
        assert_eq!(
            apps::tcp_echo_client(net, addr, 1, 1).await.unwrap_err(),
            AppError::Connect(ConnectError::Refused(addr))
        );
    });
}

#[test]
fn socket_udp_to_closed_port_gets_no_reply() {
    on_socket(seed(), |net| async move {
        let socket = net.bind_udp(localhost(0)).await.unwrap();
        let addr = socket.local_addr();
        drop(socket);
        // Linux reports ICMP port unreachable only to connected UDP sockets: the client's
        // socket is not connected, so it just hears nothing.
        let timeout = Duration::from_millis(30);
        let err = apps::udp_request_response(net, addr, 1, 16, timeout)
            .await
            .unwrap_err();
        println!("udp to closed {addr}: {err}");
        assert_eq!(
            err,
            AppError::NoReply {
                request: 0,
                server: addr,
                attempts: apps::UDP_ATTEMPTS,
                timeout,
            }
        );
    });
}

#[test]
fn turmoil_connect_errors_are_typed() {
    let seed = seed();
    let (errors, _) = on_turmoil(
        seed,
        // The server host listens on nothing.
        |_net| async move { Ok(()) },
        |net, ip| async move {
            let net = net.with_connect_timeout(Duration::from_secs(2));
            let closed = SocketAddrV4::new(ip, 80);
            let nobody = SocketAddrV4::new(Ipv4Addr::new(192, 168, 250, 250), 80);
            let refused = net.connect(closed).await.map(drop);
            let no_host = net.connect(nobody).await.map(drop);
            // A held link keeps the SYN: nobody answers within the timeout.
            turmoil::hold("client", "server");
            let t0 = net.now();
            let held = net.connect(closed).await.map(drop);
            let waited = net.now().saturating_since(t0);
            turmoil::release("client", "server");
            // A partitioned link drops the SYN, which turmoil reports as refused.
            turmoil::partition("client", "server");
            let partitioned = net.connect(closed).await.map(drop);
            turmoil::repair("client", "server");
            (closed, nobody, refused, no_host, held, waited, partitioned)
        },
    );
    let (closed, nobody, refused, no_host, held, waited, partitioned) = errors;
    println!(
        "closed port: {refused:?}\nno such host: {no_host:?}\nheld: {held:?} after {waited:?}\npartitioned: {partitioned:?}"
    );
    assert_eq!(refused, Err(ConnectError::Refused(closed)));
    assert_eq!(no_host, Err(ConnectError::Refused(nobody)));
    assert_eq!(held, Err(ConnectError::Timeout(closed)));
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    assert_eq!(partitioned, Err(ConnectError::Refused(closed)));
}

#[test]
fn turmoil_udp_to_closed_port_gets_no_reply() {
    let seed = seed();
    let timeout = Duration::from_millis(200);
    let (err, elapsed) = on_turmoil(
        seed,
        |_net| async move { Ok(()) },
        move |net, ip| async move {
            apps::udp_request_response(net, SocketAddrV4::new(ip, 7), 1, 16, timeout).await
        },
    );
    let err = err.unwrap_err();
    println!("{err} (simulated {elapsed:?})");
    assert!(matches!(
        err,
        AppError::NoReply {
            request: 0,
            attempts: apps::UDP_ATTEMPTS,
            ..
        }
    ));
    assert!(elapsed >= timeout * apps::UDP_ATTEMPTS);
}

#[test]
fn bind_conflicts_are_addr_in_use_on_both_backends() {
    on_socket(seed(), |net| async move {
        let (addr, _) = apps::discard_server_at(net, localhost(0)).await.unwrap();
        assert_eq!(
            apps::tcp_echo_server_at(net, addr).await.unwrap_err(),
            NetError::AddrInUse(addr)
        );
        let (addr, _) = apps::udp_echo_server_at(net, localhost(0)).await.unwrap();
        assert_eq!(
            apps::udp_echo_server_at(net, addr).await.unwrap_err(),
            NetError::AddrInUse(addr)
        );
    });
    let (errors, _) = on_turmoil(
        seed(),
        |_net| async move { Ok(()) },
        |net, _ip| async move {
            let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9);
            apps::discard_server(net, 9).await.unwrap();
            let tcp = apps::tcp_echo_server(net, 9).await.unwrap_err();
            apps::udp_echo_server(net, 9).await.unwrap();
            let udp = apps::udp_echo_server_at(net, any).await.unwrap_err();
            // turmoil binds only the wildcard and loopback.
            let other = SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 9);
            let foreign = net.bind_udp(other).await.map(drop);
            (any, tcp, udp, other, foreign)
        },
    );
    let (any, tcp, udp, other, foreign) = errors;
    assert_eq!(tcp, NetError::AddrInUse(any));
    assert_eq!(udp, NetError::AddrInUse(any));
    assert_eq!(foreign, Err(NetError::AddrNotAvailable(other)));
}

// ---------------------------------------------------------------------------------------
// The examples: each `main` builds an `ExampleConfig` and calls `apps::run_example`.

/// Runs the server role of an example on the socket backend on its own thread until it has
/// served `serve` datagrams or connections; returns where it listens and its thread.
fn socket_server(service: Service, seed: u64, serve: u64) -> common::SocketServer {
    let mut cfg = ExampleConfig::new(service, Role::Server, Backend::Socket, seed);
    cfg.serve = Some(serve);
    common::socket_server("server", cfg)
}

fn run(cfg: &ExampleConfig) -> Result<ExampleReport, AppError> {
    apps::run_example(cfg, &mut |e| println!("{e}"))
}

/// udp_echo (server) and udp_client on the socket backend, then both on turmoil.
#[test]
fn example_udp_echo_and_udp_client() {
    let seed = seed();
    let (addr, server) = socket_server(Service::UdpEcho, seed, 8);
    assert_eq!(*addr.ip(), Ipv4Addr::LOCALHOST);
    let mut client = ExampleConfig::new(Service::UdpEcho, Role::Client, Backend::Socket, seed);
    client.addr = addr;
    let socket = run(&client).unwrap();
    let served = server.join().unwrap().unwrap();
    assert_eq!(served.served, Some(counts(8, 8 * 512)));
    assert!(served.transcript.is_none());

    // The same examples on turmoil: the client's transcript is the same.
    let mut echo = ExampleConfig::new(Service::UdpEcho, Role::Server, Backend::Turmoil, seed);
    echo.addr = localhost(7007);
    let on_turmoil = run(&echo).unwrap();
    client.backend = Backend::Turmoil;
    let client_on_turmoil = run(&client).unwrap();
    assert_eq!(socket.transcript, on_turmoil.transcript);
    assert_eq!(socket.transcript, client_on_turmoil.transcript);
    assert_eq!(on_turmoil.served, Some(counts(8, 8 * 512)));

    // The client needs a server.
    client.backend = Backend::Socket;
    client.addr = localhost(0);
    assert_eq!(run(&client).unwrap_err(), AppError::NoServer(localhost(0)));
}

/// The direct backend runs every service in every role, its peer on a second weft stack in
/// the process: the server role reports the client's transcript too, the client role the
/// server's counts, and the transcripts equal the turmoil run's.
#[test]
fn example_direct_runs_every_service_in_every_role() {
    let seed = seed();
    for service in [Service::UdpEcho, Service::TcpEcho, Service::Discard] {
        let on_turmoil = run(&ExampleConfig::new(
            service,
            Role::Both,
            Backend::Turmoil,
            seed,
        ))
        .unwrap();
        for role in [Role::Both, Role::Server, Role::Client] {
            let cfg = ExampleConfig::new(service, role, Backend::Direct, seed);
            let report = run(&cfg).unwrap();
            assert_eq!(report.served, on_turmoil.served, "{service} {role:?}");
            assert!(report.transcript.is_some(), "{service} {role:?}");
            assert_eq!(
                report.transcript, on_turmoil.transcript,
                "{service} {role:?}"
            );
        }
    }
}

/// tcp_echo in its three modes on the socket backend, and on turmoil.
#[test]
fn example_tcp_echo() {
    let seed = seed();
    let both = run(&ExampleConfig::new(
        Service::TcpEcho,
        Role::Both,
        Backend::Socket,
        seed,
    ))
    .unwrap();
    assert_eq!(both.served, Some(counts(1, 8 * 512)));

    let (addr, server) = socket_server(Service::TcpEcho, seed, 1);
    let mut client = ExampleConfig::new(Service::TcpEcho, Role::Client, Backend::Socket, seed);
    client.addr = addr;
    let separate = run(&client).unwrap();
    let served = server.join().unwrap().unwrap();
    assert_eq!(served.served, Some(counts(1, 8 * 512)));

    let turmoil = run(&ExampleConfig::new(
        Service::TcpEcho,
        Role::Both,
        Backend::Turmoil,
        seed,
    ))
    .unwrap();
    assert!(both.transcript.is_some());
    assert_eq!(both.transcript, separate.transcript);
    assert_eq!(both.transcript, turmoil.transcript);
    assert_eq!(turmoil.served, both.served);
}

/// discard in its three modes on the socket backend, and on turmoil.
#[test]
fn example_discard() {
    let seed = seed();
    let mut cfg = ExampleConfig::new(Service::Discard, Role::Both, Backend::Socket, seed);
    cfg.size = 100_000;
    let both = run(&cfg).unwrap();
    assert_eq!(both.served, Some(counts(1, 100_000)));

    let (addr, server) = socket_server(Service::Discard, seed, 1);
    let mut client = cfg.clone();
    client.role = Role::Client;
    client.addr = addr;
    let separate = run(&client).unwrap();
    let served = server.join().unwrap().unwrap();
    assert_eq!(served.served, Some(counts(1, 100_000)));

    cfg.backend = Backend::Turmoil;
    let turmoil = run(&cfg).unwrap();
    assert_eq!(both.transcript, separate.transcript);
    assert_eq!(both.transcript, turmoil.transcript);
    assert_eq!(turmoil.served, Some(counts(1, 100_000)));
}

// ---------------------------------------------------------------------------------------
// Misbehaving servers: the clients' checks and counters

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quirk {
    /// Replies twice to each datagram.
    Duplicate,
    /// Ignores every other datagram (the 1st, 3rd, ...).
    DropOdd,
    /// Flips the first byte of each reply.
    Corrupt,
}

/// A UDP echo server with a quirk, on `local`.
async fn quirky_udp_server<N: UdpNet>(net: N, local: SocketAddrV4, quirk: Quirk) -> SocketAddrV4 {
    let socket = net.bind_udp(local).await.unwrap();
    let addr = socket.local_addr();
    net.spawn(async move {
        let mut buf = vec![0u8; 65_536];
        let mut seen = 0u64;
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            seen += 1;
            let mut reply = buf[..n].to_vec();
            match quirk {
                Quirk::Duplicate => socket.send_to(&reply, from).await.unwrap(),
                Quirk::DropOdd if seen % 2 == 1 => continue,
                Quirk::DropOdd => {}
                Quirk::Corrupt => reply[0] ^= 0xff,
            }
            socket.send_to(&reply, from).await.unwrap();
        }
    });
    addr
}

#[test]
fn udp_client_ignores_duplicates_and_retries_after_loss() {
    let seed = seed();
    let timeout = Duration::from_millis(200);
    let (clean, duplicated, lossy) = on_socket(seed, |net| async move {
        let clean = apps::udp_echo_server(net, 0).await.unwrap();
        let dup = quirky_udp_server(net, localhost(0), Quirk::Duplicate).await;
        let lossy = quirky_udp_server(net, localhost(0), Quirk::DropOdd).await;
        let run = |port| apps::udp_request_response(net, localhost(port), 6, 64, timeout);
        (
            run(clean.port()).await.unwrap(),
            run(dup.port()).await.unwrap(),
            run(lossy.port()).await.unwrap(),
        )
    });
    println!(
        "ignored {} with duplicates; {} retries with loss",
        duplicated.ignored(),
        lossy.retries()
    );
    // The same requests and replies, whatever the network did.
    assert_eq!(clean, duplicated);
    assert_eq!(clean, lossy);
    assert_eq!((clean.retries(), clean.ignored()), (0, 0));
    // Each request's second reply arrives while the next request waits (the last one's
    // may come after the client is done).
    assert!(duplicated.ignored() >= 5, "{}", duplicated.ignored());
    // Every request's first datagram is lost: one retry each.
    assert_eq!(lossy.retries(), 6);

    // The same on turmoil: the lossy server gives the same transcript there.
    let (on_turmoil, _) = on_turmoil(
        seed,
        |net| async move {
            quirky_udp_server(
                net,
                SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7),
                Quirk::DropOdd,
            )
            .await;
            Ok(())
        },
        move |net, ip| async move {
            let server = SocketAddrV4::new(ip, 7);
            apps::udp_request_response(net, server, 6, 64, Duration::from_millis(500)).await
        },
    );
    let on_turmoil = on_turmoil.unwrap();
    assert_eq!(clean, on_turmoil);
    assert_eq!(on_turmoil.retries(), 6);
}

#[test]
fn udp_client_reports_a_corrupt_echo() {
    let seed = seed();
    let err = on_socket(seed, |net| async move {
        let server = quirky_udp_server(net, localhost(0), Quirk::Corrupt).await;
        apps::udp_request_response(net, server, 3, 32, Duration::from_secs(1)).await
    })
    .unwrap_err();
    println!("{err}");
    let AppError::Mismatch {
        what,
        index,
        sent,
        sent_digest,
        got,
        got_digest,
    } = err
    else {
        panic!("expected a mismatch, got {err:?}");
    };
    assert_eq!((what, index, sent, got), ("request", 0, 32, 32));
    assert_ne!(sent_digest, got_digest);
}

#[test]
fn tcp_clients_report_truncated_and_unexpected_streams() {
    let seed = seed();
    let (truncated, unexpected) = on_socket(seed, |net| async move {
        // Echoes half of what arrives, then closes.
        let half = net.bind_tcp(localhost(0)).await.unwrap();
        let half_addr = half.local_addr();
        net.spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut flow, _) = half.accept().await.unwrap();
            let mut buf = vec![0u8; 100];
            flow.read_exact(&mut buf).await.unwrap();
            flow.write_all(&buf[..50]).await.unwrap();
            flow.close().await.unwrap();
        });
        // Greets every client: not what a discard server does.
        let chatty = net.bind_tcp(localhost(0)).await.unwrap();
        let chatty_addr = chatty.local_addr();
        net.spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut flow, _) = chatty.accept().await.unwrap();
            flow.write_all(b"hello").await.unwrap();
            let mut sink = Vec::new();
            flow.read_to_end(&mut sink).await.unwrap();
            flow.close().await.unwrap();
        });
        (
            apps::tcp_echo_client(net, half_addr, 1, 100).await,
            apps::discard_client(net, chatty_addr, 1000).await,
        )
    });
    assert_eq!(
        truncated.unwrap_err(),
        AppError::Truncated {
            message: 0,
            expected: 100,
            got: 50
        }
    );
    assert_eq!(unexpected.unwrap_err(), AppError::Unexpected { extra: 5 });
}
