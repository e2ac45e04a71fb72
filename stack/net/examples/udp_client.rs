//! A UDP request/response client for an echo server.
//!
//! ```text
//! cargo run -p weft-net --features turmoil --example udp_client -- --server 127.0.0.1:7007
//! cargo run -p weft-net --features turmoil --example udp_client -- --backend turmoil --seed 3
//! ```
//!
//! Sends seeded requests, waits for each echo (retrying after `--timeout-ms`), checks it and
//! prints the transcript. On turmoil the simulation has its own echo server host.

use clap::Parser;
use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::Duration;
use weft_net::apps::{Backend, ExampleConfig, Role, Service, run_example};

#[derive(Debug, Parser)]
#[command(about = "UDP echo client on the host's sockets or in a turmoil simulation")]
struct Args {
    /// Where to run: socket or turmoil.
    #[arg(long, default_value = "socket")]
    backend: Backend,
    /// The echo server (socket backend; on turmoil only its port counts).
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

fn main() -> ExitCode {
    let args = Args::parse();
    let mut cfg = ExampleConfig::new(Service::UdpEcho, Role::Client, args.backend, args.seed);
    cfg.addr = args.server;
    cfg.count = args.requests;
    cfg.size = args.size;
    cfg.timeout = Duration::from_millis(args.timeout_ms);
    match run_example(&cfg, &mut |event| println!("{event}")) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp_client: {e}");
            ExitCode::FAILURE
        }
    }
}
