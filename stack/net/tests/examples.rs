//! The examples' own command lines and `main` paths on every backend: each example's source
//! is compiled in here as a module, its `Args` parsed from the words a user would type, and
//! the configuration it builds run as its `main` runs it. Every `--backend` value works with
//! every mode, and the same seed gives the same client transcript everywhere.
//!
//! Seeds: `WEFT_NET_SEED` (decimal or 0x hex) overrides the default; each test prints its own.
#![cfg(all(feature = "tokio", feature = "turmoil"))]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::socket_server;

#[allow(dead_code)]
#[path = "../examples/discard.rs"]
mod discard;
#[allow(dead_code)]
#[path = "../examples/tcp_echo.rs"]
mod tcp_echo;
#[allow(dead_code)]
#[path = "../examples/udp_client.rs"]
mod udp_client;
#[allow(dead_code)]
#[path = "../examples/udp_echo.rs"]
mod udp_echo;

use clap::Parser;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use weft_net::apps::{self, Backend, Counts, ExampleConfig, ExampleReport, Role, Transcript};

const DEFAULT_SEED: u64 = 0x5eed_0002;

/// The seed for this run (`WEFT_NET_SEED` overrides it), printed.
fn seed() -> u64 {
    common::seed(DEFAULT_SEED)
}

/// An example's configuration from its command line (`argv[0]` first).
fn config<A: Parser>(argv: &[&str], config: impl Fn(&A) -> ExampleConfig) -> ExampleConfig {
    let args = A::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    config(&args)
}

/// Runs `cfg` as an example's `main` does, printing what it prints.
fn run(name: &str, cfg: &ExampleConfig) -> ExampleReport {
    apps::run_example(cfg, &mut |e| println!("[{name} {}] {e}", cfg.backend))
        .unwrap_or_else(|e| panic!("{name} on {}: {e}", cfg.backend))
}

fn names() -> Vec<&'static str> {
    Backend::ALL.iter().map(|b| b.name()).collect()
}

/// Every transcript equals the first; returns it.
fn all_equal(what: &str, reports: &[(String, ExampleReport)]) -> Transcript {
    let (first_name, first) = &reports[0];
    let want = first.transcript.clone().expect("a transcript");
    for (name, r) in reports {
        assert_eq!(
            r.transcript.as_ref(),
            Some(&want),
            "{what}: {name} differs from {first_name}"
        );
    }
    println!(
        "{what}: {} runs, transcript {:016x}",
        reports.len(),
        want.digest()
    );
    want
}

#[test]
fn examples_udp_echo_and_udp_client_on_every_backend() {
    let seed = seed().to_string();
    let s = seed.as_str();
    let mut reports = Vec::new();
    for backend in names() {
        let (client, server) = if backend == "socket" {
            // The server first, on an ephemeral port; the client is told where.
            let echo = config(
                &[
                    "udp_echo",
                    "--backend",
                    backend,
                    "--port",
                    "0",
                    "--serve",
                    "8",
                    "--seed",
                    s,
                ],
                udp_echo::Args::config,
            );
            assert_eq!(echo.role, Role::Server);
            let (addr, thread) = socket_server("udp_echo", echo);
            let server = addr.to_string();
            let client = run(
                "udp_client",
                &config(
                    &[
                        "udp_client",
                        "--backend",
                        backend,
                        "--server",
                        &server,
                        "--seed",
                        s,
                    ],
                    udp_client::Args::config,
                ),
            );
            (client, thread.join().unwrap().unwrap())
        } else {
            // The peer runs in this process (turmoil's hosts, a second weft stack).
            let client = run(
                "udp_client",
                &config(
                    &["udp_client", "--backend", backend, "--seed", s],
                    udp_client::Args::config,
                ),
            );
            let server = run(
                "udp_echo",
                &config(
                    &["udp_echo", "--backend", backend, "--seed", s],
                    udp_echo::Args::config,
                ),
            );
            assert_eq!(client.served, Some(full(8, 8 * 512)), "{backend}");
            reports.push((format!("udp_echo on {backend}"), server.clone()));
            (client, server)
        };
        assert_eq!(server.served, Some(full(8, 8 * 512)), "{backend}");
        reports.push((format!("udp_client on {backend}"), client));
    }
    let t = all_equal("udp echo", &reports);
    assert_eq!(t.lines().len(), 1 + 2 * 8);
}

fn full(served: u64, bytes: u64) -> Counts {
    Counts {
        served,
        bytes,
        failed: 0,
    }
}

/// tcp_echo and discard: every backend in every mode.
fn tcp_example_on_every_backend(
    name: &'static str,
    config_of: fn(&[&str]) -> ExampleConfig,
    extra: &[&str],
    bytes: u64,
) {
    let seed = seed().to_string();
    let s = seed.as_str();
    let argv = |words: &[&str]| -> ExampleConfig {
        let mut v = vec![name];
        v.extend_from_slice(words);
        v.extend_from_slice(&["--seed", s]);
        v.extend_from_slice(extra);
        config_of(&v)
    };
    let mut reports = Vec::new();
    for backend in names() {
        for mode in ["both", "server", "client"] {
            let label = format!("{name} --backend {backend} --mode {mode}");
            let report = match (backend, mode) {
                ("socket", "server") => continue, // run with the client below
                ("socket", "client") => {
                    let server = argv(&[
                        "--backend",
                        backend,
                        "--mode",
                        "server",
                        "--port",
                        "0",
                        "--serve",
                        "1",
                    ]);
                    let (addr, thread) = socket_server(name, server);
                    let addr = addr.to_string();
                    let client = run(
                        name,
                        &argv(&["--backend", backend, "--mode", "client", "--server", &addr]),
                    );
                    let served = thread.join().unwrap().unwrap();
                    assert_eq!(served.served, Some(full(1, bytes)), "{label}");
                    assert!(client.served.is_none(), "{label}");
                    client
                }
                ("socket", _) => {
                    let r = run(
                        name,
                        &argv(&["--backend", backend, "--mode", mode, "--port", "0"]),
                    );
                    assert_eq!(r.served, Some(full(1, bytes)), "{label}");
                    r
                }
                _ => {
                    let r = run(name, &argv(&["--backend", backend, "--mode", mode]));
                    assert_eq!(r.served, Some(full(1, bytes)), "{label}");
                    r
                }
            };
            reports.push((label, report));
        }
    }
    all_equal(name, &reports);
}

#[test]
fn examples_tcp_echo_on_every_backend_and_mode() {
    tcp_example_on_every_backend(
        "tcp_echo",
        |argv| config(argv, tcp_echo::Args::config),
        &["--messages", "4", "--size", "3000"],
        4 * 3000,
    );
}

#[test]
fn examples_discard_on_every_backend_and_mode() {
    tcp_example_on_every_backend(
        "discard",
        |argv| config(argv, discard::Args::config),
        &["--bytes", "100000"],
        100_000,
    );
}

/// What a user sees: the help names every backend; a wrong word is refused with the choices;
/// a failing run exits non-zero.
#[test]
fn examples_command_lines_say_what_they_take() {
    fn help<A: Parser + std::fmt::Debug>(name: &str) -> String {
        let e = A::try_parse_from([name, "--help"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        e.to_string()
    }
    for (name, text) in [
        ("udp_echo", help::<udp_echo::Args>("udp_echo")),
        ("udp_client", help::<udp_client::Args>("udp_client")),
        ("tcp_echo", help::<tcp_echo::Args>("tcp_echo")),
        ("discard", help::<discard::Args>("discard")),
    ] {
        for backend in names() {
            assert!(
                text.contains(backend),
                "{name} --help does not name {backend}:\n{text}"
            );
        }
    }
    let wrong = udp_client::Args::try_parse_from(["udp_client", "--backend", "tap0"]).unwrap_err();
    assert!(
        wrong
            .to_string()
            .contains("unknown backend `tap0`: expected one of socket, turmoil, direct"),
        "{wrong}"
    );
    let wrong = tcp_echo::Args::try_parse_from(["tcp_echo", "--mode", "serve"]).unwrap_err();
    assert!(
        wrong.to_string().contains("server, client, both"),
        "{wrong}"
    );
    // The defaults are the documented ones.
    let cfg = config(&["udp_client"], udp_client::Args::config);
    assert_eq!(
        (cfg.backend, cfg.role, cfg.addr, cfg.count, cfg.size),
        (
            Backend::Socket,
            Role::Client,
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7007),
            8,
            512
        )
    );
    // `main`'s failure path: no server port, so nothing to talk to.
    let cfg = config(
        &["udp_client", "--server", "127.0.0.1:0"],
        udp_client::Args::config,
    );
    assert_eq!(apps::example_main("udp_client", &cfg), ExitCode::FAILURE);
    let cfg = config(
        &["udp_client", "--backend", "direct", "--requests", "2"],
        udp_client::Args::config,
    );
    assert_eq!(apps::example_main("udp_client", &cfg), ExitCode::SUCCESS);
}
