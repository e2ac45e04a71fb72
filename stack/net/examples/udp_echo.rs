//! A UDP echo server.
//!
//! ```text
//! cargo run -p weft-net --features tokio,turmoil --example udp_echo -- --backend socket --port 7007
//! cargo run -p weft-net --features tokio,turmoil --example udp_echo -- --backend turmoil --seed 3
//! cargo run -p weft-net --features tokio,turmoil --example udp_echo -- --backend direct
//! ```
//!
//! On the socket backend it serves on 127.0.0.1 (until `--serve` datagrams were answered, or
//! forever); on turmoil it runs a simulation with a server host and a client host that sends
//! it requests, and prints the client's transcript; on direct the server and its client are
//! two weft stacks in this process, over an in-memory cable, and it prints the same.

use clap::Parser;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use weft_net::apps::{Backend, ExampleConfig, Role, Service, example_main};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "udp_echo",
    about = "UDP echo server on the host's sockets, in a turmoil simulation or on weft's own stack"
)]
pub(crate) struct Args {
    /// Where to run: socket (the host's sockets), turmoil (a simulation with a client host)
    /// or direct (weft stacks in this process, one of them the client).
    #[arg(long, default_value = "socket")]
    backend: Backend,
    /// The port to serve on (socket: on 127.0.0.1, 0 = ephemeral; turmoil and direct:
    /// 0 = 7).
    #[arg(long, default_value_t = 7007)]
    port: u16,
    /// Seeds the payloads and the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Socket backend: stop after answering this many datagrams.
    #[arg(long)]
    serve: Option<u64>,
    /// Turmoil and direct: requests the client sends.
    #[arg(long, default_value_t = 8)]
    requests: usize,
    /// Turmoil and direct: bytes per request.
    #[arg(long, default_value_t = 512)]
    size: usize,
}

impl Args {
    /// What the example runs.
    pub(crate) fn config(&self) -> ExampleConfig {
        let mut cfg = ExampleConfig::new(Service::UdpEcho, Role::Server, self.backend, self.seed);
        cfg.addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        cfg.serve = self.serve;
        cfg.count = self.requests;
        cfg.size = self.size;
        cfg
    }
}

fn main() -> ExitCode {
    example_main("udp_echo", &Args::parse().config())
}
