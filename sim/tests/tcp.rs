//! TCP on the simulator: the shared applications (weft_net::apps) on the direct backend over
//! simulated links, with the same transcripts as on the host OS's sockets, and still the same
//! under loss, duplication, reordering and corruption.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use weft_core::Duration;
use weft_net::apps::{self, Transcript};
use weft_net::socket::SocketNet;
use weft_sim::{HostConfig, LinkConfig, LinkSpec, Loss, Sim};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SEED: u64 = 0x51_7c9;
const MESSAGES: usize = 20;
const SIZE: usize = 4000;

fn reference() -> Transcript {
    weft_net::tokio_rt::block_on_local(async {
        let net = SocketNet::new(SEED);
        let (addr, _) = apps::tcp_echo_server_at(net, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("server");
        apps::tcp_echo_client(net, addr, MESSAGES, SIZE)
            .await
            .expect("client")
    })
    .expect("runtime")
}

/// Server and client on one switch; returns the client's transcript and the report.
fn sim(link: LinkSpec, seed: u64) -> (Option<Transcript>, weft_sim::Report) {
    let got: Rc<RefCell<Option<Transcript>>> = Rc::default();
    let slot = got.clone();
    let b = Sim::builder()
        .switch("lan")
        .idle_host(
            "server",
            HostConfig::on("lan", SERVER, 24).link(link.clone()),
        )
        .daemon("server", |net| async move {
            apps::tcp_echo_server(net, 7).await.expect("listen");
        })
        .idle_host("client", HostConfig::on("lan", CLIENT, 24).link(link))
        .app("client", move |net| {
            let slot = slot.clone();
            async move {
                // The client's payloads come from its rng: seed it like the reference.
                let t = apps::tcp_echo_client(
                    RngSeeded(net, SEED),
                    SocketAddrV4::new(SERVER, 7),
                    MESSAGES,
                    SIZE,
                )
                .await;
                match t {
                    Ok(t) => *slot.borrow_mut() = Some(t),
                    Err(e) => println!("client failed: {e}"),
                }
            }
        });
    println!("seed {seed}");
    let report = b.run(seed).expect("valid simulation");
    println!("{}", report.summary());
    let t = got.borrow_mut().take();
    (t, report)
}

/// The simulated host's `Net` with `rng` seeded like the reference run's socket backend, so
/// both send the same bytes (the transcript records content digests).
#[derive(Clone)]
struct RngSeeded(weft_sim::SimNet, u64);

impl weft_net::Net for RngSeeded {
    fn now(&self) -> weft_core::Instant {
        self.0.now()
    }
    fn sleep_until(
        &self,
        t: weft_core::Instant,
    ) -> impl std::future::Future<Output = ()> + 'static {
        self.0.sleep_until(t)
    }
    fn spawn(&self, task: impl std::future::Future<Output = ()> + 'static) {
        self.0.spawn(task)
    }
    fn rng(&self, purpose: &str) -> weft_net::ChaCha20Rng {
        weft_net::rng_for(self.1, purpose)
    }
}

impl weft_net::TcpNet for RngSeeded {
    type Flow = <weft_sim::SimNet as weft_net::TcpNet>::Flow;
    type Listener = <weft_sim::SimNet as weft_net::TcpNet>::Listener;
    async fn connect(&self, to: SocketAddrV4) -> Result<Self::Flow, weft_net::ConnectError> {
        self.0.connect(to).await
    }
    async fn bind_tcp(&self, local: SocketAddrV4) -> Result<Self::Listener, weft_net::NetError> {
        self.0.bind_tcp(local).await
    }
}

#[test]
fn sim_tcp_echo_transcript_equals_the_host_sockets() {
    let want = reference();
    let (got, report) = sim(LinkSpec::default(), 1);
    assert_eq!(got.expect("the client finished"), want);
    assert!(report.ok(), "{}", report.oracle_summary());
}

#[test]
fn sim_tcp_echo_survives_every_fault_kind() {
    let want = reference();
    let lossy = LinkSpec::symmetric(LinkConfig {
        latency: Duration::from_micros(300),
        jitter: Duration::from_micros(100),
        loss: Loss::Bernoulli { p: 0.03 },
        duplicate: 0.02,
        reorder: 0.02,
        corrupt: 0.02,
        ..LinkConfig::default()
    });
    for seed in 1..=5 {
        let (got, report) = sim(lossy.clone(), seed);
        for e in &report.tape.entries {
            if e.describe.contains("arp") {
                println!("TAPE {e:?}");
            }
        }
        assert_eq!(got.expect("the client finished"), want, "seed {seed}");
        let t = report.link_totals();
        assert!(
            t.lost > 0 && t.duplicated > 0 && t.reordered > 0,
            "seed {seed}: {t:?}"
        );
    }
}
