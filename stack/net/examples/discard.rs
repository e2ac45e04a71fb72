//! An RFC 863 TCP discard server and client.
//!
//! ```text
//! cargo run -p weft-net --features tokio,turmoil --example discard -- --mode server --port 9009
//! cargo run -p weft-net --features tokio,turmoil --example discard -- --mode client --server 127.0.0.1:9009
//! cargo run -p weft-net --features tokio,turmoil --example discard -- --backend turmoil --bytes 1000000
//! cargo run -p weft-net --features tokio,turmoil --example discard -- --backend direct
//! ```
//!
//! The client sends `--bytes` seeded bytes, half-closes and waits for the server's end of
//! stream; the server counts what it received. On turmoil the simulation runs both; on
//! direct both run on two weft stacks in this process, over an in-memory cable.

use clap::Parser;
use std::net::SocketAddrV4;
use std::process::ExitCode;
use weft_net::apps::{Backend, ExampleConfig, Role, Service, example_main};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "discard",
    about = "TCP discard (RFC 863) on the host's sockets, in a turmoil simulation or on weft's own stack"
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
    /// turmoil and direct: 0 = 9).
    #[arg(long, default_value_t = 9009)]
    port: u16,
    /// Client mode: the server to connect to (turmoil and direct: only its port counts).
    #[arg(long, default_value = "127.0.0.1:9009")]
    server: SocketAddrV4,
    /// Seeds the payload and the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Server mode on the socket backend: stop after this many connections.
    #[arg(long)]
    serve: Option<u64>,
    /// Bytes the client sends.
    #[arg(long, default_value_t = 65_536)]
    bytes: usize,
}

impl Args {
    /// What the example runs.
    pub(crate) fn config(&self) -> ExampleConfig {
        let mut cfg = ExampleConfig::new(Service::Discard, self.mode, self.backend, self.seed);
        cfg.set_addr(self.port, self.server);
        cfg.serve = self.serve;
        cfg.size = self.bytes;
        cfg
    }
}

fn main() -> ExitCode {
    example_main("discard", &Args::parse().config())
}
