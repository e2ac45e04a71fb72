//! A UDP request/response client for an echo server.
//!
//! ```text
//! cargo run -p weft-net --features tokio,turmoil --example udp_client -- --server 127.0.0.1:7007
//! cargo run -p weft-net --features tokio,turmoil --example udp_client -- --backend turmoil --seed 3
//! cargo run -p weft-net --features tokio,turmoil --example udp_client -- --backend direct
//! ```
//!
//! Sends seeded requests, waits for each echo (retrying after `--timeout-ms`), checks it and
//! prints the transcript. On turmoil the simulation has its own echo server host; on direct
//! the echo server is a second weft stack in this process, over an in-memory cable.

use clap::Parser;
use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::Duration;
use weft_net::apps::{Backend, ExampleConfig, Role, Service, example_main};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "udp_client",
    about = "UDP echo client on the host's sockets, in a turmoil simulation or on weft's own stack"
)]
pub(crate) struct Args {
    /// Where to run: socket (the host's sockets), turmoil (a simulation with its own echo
    /// server) or direct (weft stacks in this process, one of them the echo server).
    #[arg(long, default_value = "socket")]
    backend: Backend,
    /// The echo server (socket backend; on turmoil and direct only its port counts).
    #[arg(long, default_value = "127.0.0.1:7007")]
    server: SocketAddrV4,
    /// Seeds the payloads and the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many requests.
    #[arg(long, default_value_t = 8)]
    requests: usize,
    /// Bytes per request.
    #[arg(long, default_value_t = 512)]
    size: usize,
    /// How long each request waits for its reply before it is sent again.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
}

impl Args {
    /// What the example runs.
    pub(crate) fn config(&self) -> ExampleConfig {
        let mut cfg = ExampleConfig::new(Service::UdpEcho, Role::Client, self.backend, self.seed);
        cfg.addr = self.server;
        cfg.count = self.requests;
        cfg.size = self.size;
        cfg.timeout = Duration::from_millis(self.timeout_ms);
        cfg
    }
}

fn main() -> ExitCode {
    example_main("udp_client", &Args::parse().config())
}
