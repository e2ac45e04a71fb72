//! An RFC 862 TCP echo server and client.
//!
//! ```text
//! cargo run -p weft-net --features tokio,turmoil --example tcp_echo -- --mode server --port 7007
//! cargo run -p weft-net --features tokio,turmoil --example tcp_echo -- --mode client --server 127.0.0.1:7007
//! cargo run -p weft-net --features tokio,turmoil --example tcp_echo -- --mode both
//! cargo run -p weft-net --features tokio,turmoil --example tcp_echo -- --backend turmoil --seed 3
//! cargo run -p weft-net --features tokio,turmoil --example tcp_echo -- --backend direct
//! ```
//!
//! The client writes seeded messages, reads each back in full, half-closes and reads to the
//! server's end of stream, then prints its transcript. On turmoil the simulation runs both;
//! on direct both run on two weft stacks in this process, over an in-memory cable.

use clap::Parser;
use std::net::SocketAddrV4;
use std::process::ExitCode;
use weft_net::apps::{Backend, ExampleConfig, Role, Service, example_main};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "tcp_echo",
    about = "TCP echo (RFC 862) on the host's sockets, in a turmoil simulation or on weft's own stack"
)]
pub(crate) struct Args {
    /// Where to run: socket (the host's sockets), turmoil (a simulation) or direct (weft
    /// stacks in this process).
    #[arg(long, default_value = "socket")]
    backend: Backend,
    /// server, client or both (socket backend; turmoil and direct always run both).
    #[arg(long, default_value = "both")]
    mode: Role,
    /// Server and both modes: the port to serve on (socket: on 127.0.0.1, 0 = ephemeral;
    /// turmoil and direct: 0 = 7).
    #[arg(long, default_value_t = 7007)]
    port: u16,
    /// Client mode: the server to connect to (turmoil and direct: only its port counts).
    #[arg(long, default_value = "127.0.0.1:7007")]
    server: SocketAddrV4,
    /// Seeds the payloads and the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Server mode on the socket backend: stop after this many connections.
    #[arg(long)]
    serve: Option<u64>,
    /// How many messages the client sends.
    #[arg(long, default_value_t = 8)]
    messages: usize,
    /// Bytes per message.
    #[arg(long, default_value_t = 512)]
    size: usize,
}

impl Args {
    /// What the example runs.
    pub(crate) fn config(&self) -> ExampleConfig {
        let mut cfg = ExampleConfig::new(Service::TcpEcho, self.mode, self.backend, self.seed);
        cfg.set_addr(self.port, self.server);
        cfg.serve = self.serve;
        cfg.count = self.messages;
        cfg.size = self.size;
        cfg
    }
}

fn main() -> ExitCode {
    example_main("tcp_echo", &Args::parse().config())
}
