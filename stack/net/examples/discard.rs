//! An RFC 863 TCP discard server and client.
//!
//! ```text
//! cargo run -p weft-net --features turmoil --example discard -- --mode server --port 9009
//! cargo run -p weft-net --features turmoil --example discard -- --mode client --server 127.0.0.1:9009
//! cargo run -p weft-net --features turmoil --example discard -- --backend turmoil --bytes 1000000
//! ```
//!
//! The client sends `--bytes` seeded bytes, half-closes and waits for the server's end of
//! stream; the server counts what it received. On turmoil the simulation runs both.

use clap::Parser;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use weft_net::apps::{Backend, ExampleConfig, Role, Service, run_example};

#[derive(Debug, Parser)]
#[command(about = "TCP discard (RFC 863) on the host's sockets or in a turmoil simulation")]
struct Args {
    /// Where to run: socket or turmoil.
    #[arg(long, default_value = "socket")]
    backend: Backend,
    /// server, client or both (socket backend; turmoil always runs both).
    #[arg(long, default_value = "both")]
    mode: Role,
    /// Server and both modes: the port to serve on (127.0.0.1; 0 = ephemeral).
    #[arg(long, default_value_t = 9009)]
    port: u16,
    /// Client mode: the server to connect to.
    #[arg(long, default_value = "127.0.0.1:9009")]
    server: SocketAddrV4,
    /// Seeds the payload and the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Server mode: stop after this many connections.
    #[arg(long)]
    serve: Option<u64>,
    /// Bytes the client sends.
    #[arg(long, default_value_t = 65_536)]
    bytes: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut cfg = ExampleConfig::new(Service::Discard, args.mode, args.backend, args.seed);
    cfg.addr = match args.mode {
        Role::Client => args.server,
        Role::Server | Role::Both => SocketAddrV4::new(Ipv4Addr::LOCALHOST, args.port),
    };
    cfg.serve = args.serve;
    cfg.size = args.bytes;
    match run_example(&cfg, &mut |event| println!("{event}")) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("discard: {e}");
            ExitCode::FAILURE
        }
    }
}
