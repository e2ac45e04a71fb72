//! An RFC 862 TCP echo server and client.
//!
//! ```text
//! cargo run -p weft-net --features turmoil --example tcp_echo -- --mode server --port 7007
//! cargo run -p weft-net --features turmoil --example tcp_echo -- --mode client --server 127.0.0.1:7007
//! cargo run -p weft-net --features turmoil --example tcp_echo -- --mode both
//! cargo run -p weft-net --features turmoil --example tcp_echo -- --backend turmoil --seed 3
//! ```
//!
//! The client writes seeded messages, reads each back in full, half-closes and reads to the
//! server's end of stream, then prints its transcript. On turmoil the simulation runs both.

use clap::Parser;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use weft_net::apps::{Backend, ExampleConfig, Role, Service, run_example};

#[derive(Debug, Parser)]
#[command(about = "TCP echo (RFC 862) on the host's sockets or in a turmoil simulation")]
struct Args {
    /// Where to run: socket or turmoil.
    #[arg(long, default_value = "socket")]
    backend: Backend,
    /// server, client or both (socket backend; turmoil always runs both).
    #[arg(long, default_value = "both")]
    mode: Role,
    /// Server and both modes: the port to serve on (127.0.0.1; 0 = ephemeral).
    #[arg(long, default_value_t = 7007)]
    port: u16,
    /// Client mode: the server to connect to.
    #[arg(long, default_value = "127.0.0.1:7007")]
    server: SocketAddrV4,
    /// Seeds the payloads and the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Server mode: stop after this many connections.
    #[arg(long)]
    serve: Option<u64>,
    /// How many messages the client sends.
    #[arg(long, default_value_t = 8)]
    messages: usize,
    /// Bytes per message.
    #[arg(long, default_value_t = 512)]
    size: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut cfg = ExampleConfig::new(Service::TcpEcho, args.mode, args.backend, args.seed);
    cfg.addr = match args.mode {
        Role::Client => args.server,
        Role::Server | Role::Both => SocketAddrV4::new(Ipv4Addr::LOCALHOST, args.port),
    };
    cfg.serve = args.serve;
    cfg.count = args.messages;
    cfg.size = args.size;
    match run_example(&cfg, &mut |event| println!("{event}")) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
