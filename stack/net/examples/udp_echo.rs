//! A UDP echo server.
//!
//! ```text
//! cargo run -p weft-net --features turmoil --example udp_echo -- --backend socket --port 7007
//! cargo run -p weft-net --features turmoil --example udp_echo -- --backend turmoil --seed 3
//! ```
//!
//! On the socket backend it serves on 127.0.0.1 (until `--serve` datagrams were answered, or
//! forever); on turmoil it runs a simulation with a server host and a client host that sends
//! it requests, and prints the client's transcript.

use clap::Parser;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use weft_net::apps::{Backend, ExampleConfig, Role, Service, run_example};

#[derive(Debug, Parser)]
#[command(about = "UDP echo server on the host's sockets or in a turmoil simulation")]
struct Args {
    /// Where to run: socket or turmoil.
    #[arg(long, default_value = "socket")]
    backend: Backend,
    /// The port to serve on (socket: on 127.0.0.1, 0 = ephemeral; turmoil: 0 = 7).
    #[arg(long, default_value_t = 7007)]
    port: u16,
    /// Seeds the payloads and the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Socket backend: stop after answering this many datagrams.
    #[arg(long)]
    serve: Option<u64>,
    /// Turmoil: requests the simulated client sends.
    #[arg(long, default_value_t = 8)]
    requests: usize,
    /// Turmoil: bytes per request.
    #[arg(long, default_value_t = 512)]
    size: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut cfg = ExampleConfig::new(Service::UdpEcho, Role::Server, args.backend, args.seed);
    cfg.addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, args.port);
    cfg.serve = args.serve;
    cfg.count = args.requests;
    cfg.size = args.size;
    match run_example(&cfg, &mut |event| println!("{event}")) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
