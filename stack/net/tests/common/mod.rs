//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[cfg(all(feature = "tap", target_os = "linux"))]
pub mod netns;

/// The seed for a randomised test: `WEFT_NET_SEED` (decimal or 0x hex) if set, else
/// `default`; printed so a failure can be replayed.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("WEFT_NET_SEED")
        .ok()
        .and_then(|s| {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            }
        })
        .unwrap_or(default);
    println!("seed {seed} (WEFT_NET_SEED={seed:#x} replays it)");
    seed
}

/// A server the socket backend runs on its own thread, and where it listens.
#[cfg(feature = "tokio")]
pub type SocketServer = (
    std::net::SocketAddrV4,
    std::thread::JoinHandle<Result<weft_net::apps::ExampleReport, weft_net::apps::AppError>>,
);

/// Runs an example's server configuration (socket backend, `serve` set so it stops) on its
/// own thread, printing what it reports under `name`, until it has served that many.
#[cfg(feature = "tokio")]
pub fn socket_server(name: &'static str, cfg: weft_net::apps::ExampleConfig) -> SocketServer {
    use weft_net::apps::{Backend, Event};
    assert_eq!(cfg.backend, Backend::Socket);
    assert!(cfg.serve.is_some(), "a server that stops");
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        weft_net::apps::run_example(&cfg, &mut |e| {
            println!("[{name}] {e}");
            if let Event::Listening { addr, .. } = e {
                tx.send(*addr).expect("the test waits for the address");
            }
        })
    });
    let addr = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the server listens");
    (addr, thread)
}
