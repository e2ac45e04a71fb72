//! Two weft stacks on two TAP devices at once, in one process and one thread.
//!
//! Stack A sits on one TAP, stack B on another; whatever connects the two devices (the Linux
//! kernel routing between their subnets, in `cargo xtask interop`) carries A's datagrams to
//! B. B serves UDP echo on port 7; A sends `--count` datagrams to it and waits for each echo.
//! The last line printed is `RESULT key=value …` with what came back and both stacks'
//! counters.
//!
//! ```text
//! # as root, with wtapa (10.77.3.1/24) and wtapb (10.77.4.1/24) made and forwarding on:
//! cargo run -p weft-net --features tap --example two_taps -- \
//!     --tap-a wtapa --addr-a 10.77.3.2/24 --gw-a 10.77.3.1 \
//!     --tap-b wtapb --addr-b 10.77.4.2/24 --gw-b 10.77.4.1 --count 5
//! ```
//!
//! Needs the `tap` feature (Linux only).

#[cfg(all(feature = "tap", target_os = "linux"))]
mod run {
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::time::Duration;
    use weft_core::{Counters, InterfaceConfig, Ipv4Config, StackConfig};
    use weft_net::direct::DirectNet;
    use weft_net::tap::TapLink;
    use weft_net::tokio_rt::{TokioRuntime, block_on_local};
    use weft_net::{UdpNet, UdpSocket};
    use weft_wire::MacAddr;

    /// One side's settings.
    struct Side {
        tap: String,
        addr: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
        mac: MacAddr,
    }

    struct Args {
        a: Side,
        b: Side,
        count: u32,
        size: usize,
        port: u16,
    }

    fn usage() -> String {
        "usage: two_taps --tap-a NAME --addr-a A.B.C.D/LEN [--gw-a GW] --tap-b NAME \
         --addr-b A.B.C.D/LEN [--gw-b GW] [--count N] [--size BYTES] [--port P]"
            .to_string()
    }

    fn cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
        let (a, l) = s
            .split_once('/')
            .ok_or(format!("{s:?} is not A.B.C.D/LEN"))?;
        let addr = a.parse().map_err(|e| format!("{a:?}: {e}"))?;
        let len = l.parse::<u8>().map_err(|e| format!("{l:?}: {e}"))?;
        if len > 32 {
            return Err(format!("prefix length {len} is more than 32"));
        }
        Ok((addr, len))
    }

    fn parse_args() -> Result<Args, String> {
        let mut get = std::collections::BTreeMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .ok_or(format!("{flag} needs a value; {}", usage()))?;
            get.insert(flag, value);
        }
        let need = |k: &str| {
            get.get(k)
                .cloned()
                .ok_or(format!("missing {k}; {}", usage()))
        };
        let ip = |k: &str| -> Result<Option<Ipv4Addr>, String> {
            get.get(k)
                .map(|v| v.parse().map_err(|e| format!("{k} {v:?}: {e}")))
                .transpose()
        };
        let (addr_a, len_a) = cidr(&need("--addr-a")?)?;
        let (addr_b, len_b) = cidr(&need("--addr-b")?)?;
        let num = |k: &str, default: u64| -> Result<u64, String> {
            get.get(k)
                .map(|v| v.parse().map_err(|e| format!("{k} {v:?}: {e}")))
                .unwrap_or(Ok(default))
        };
        for k in get.keys() {
            if ![
                "--tap-a", "--addr-a", "--gw-a", "--tap-b", "--addr-b", "--gw-b", "--count",
                "--size", "--port",
            ]
            .contains(&k.as_str())
            {
                return Err(format!("unknown flag {k}; {}", usage()));
            }
        }
        Ok(Args {
            a: Side {
                tap: need("--tap-a")?,
                addr: addr_a,
                prefix_len: len_a,
                gateway: ip("--gw-a")?,
                mac: MacAddr([0x02, 0x77, 0, 0x0a, 0, 0x02]),
            },
            b: Side {
                tap: need("--tap-b")?,
                addr: addr_b,
                prefix_len: len_b,
                gateway: ip("--gw-b")?,
                mac: MacAddr([0x02, 0x77, 0, 0x0b, 0, 0x02]),
            },
            count: u32::try_from(num("--count", 5)?).map_err(|e| e.to_string())?,
            size: usize::try_from(num("--size", 1000)?).map_err(|e| e.to_string())?,
            port: u16::try_from(num("--port", 7)?).map_err(|e| e.to_string())?,
        })
    }

    /// A stack of its own on `side`'s TAP device.
    fn stack(side: &Side, seed: u64) -> Result<DirectNet<TokioRuntime>, String> {
        let link = TapLink::open(&side.tap).map_err(|e| format!("TAP {}: {e}", side.tap))?;
        let mut iface = InterfaceConfig::ethernet(side.mac, side.addr, side.prefix_len);
        iface.ipv4 = Ipv4Config::Static {
            addr: side.addr,
            prefix_len: side.prefix_len,
            gateway: side.gateway,
        };
        let mut b = weft_net::direct::builder(StackConfig::new(seed));
        b.interface(iface, link);
        b.start(TokioRuntime::new())
            .map_err(|e| format!("stack on {}: {e}", side.tap))
    }

    async fn exchange(args: &Args) -> Result<String, String> {
        let a = stack(&args.a, 0xa)?;
        let b = stack(&args.b, 0xb)?;
        // B: UDP echo.
        b.listen_udp(args.port, |socket, from, payload| async move {
            let _ = socket.send_to(&payload, from).await;
        })
        .await
        .map_err(|e| format!("B listen: {e}"))?;
        // A: requests, one after another, each waiting for its echo.
        let socket = a
            .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
            .await
            .map_err(|e| format!("A bind: {e}"))?;
        let to = SocketAddrV4::new(args.b.addr, args.port);
        let mut echoed = 0u32;
        let mut buf = vec![0u8; 65_536];
        for i in 0..args.count {
            let payload: Vec<u8> = (0..args.size)
                .map(|j| (j as u32).wrapping_add(i) as u8)
                .collect();
            // A lost datagram is sent again, as an application on UDP would; a late echo of
            // an earlier try (or datagram) is skipped. (Linux turns a TAP's transmit queue on
            // up to a second after a process attaches, so its first ARP reply can be lost;
            // the stack's own ARP retry, one second on, resolves the router well within
            // the three seconds waited here.)
            'tries: for _try in 0..3 {
                socket
                    .send_to(&payload, to)
                    .await
                    .map_err(|e| format!("A send: {e}"))?;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
                loop {
                    match tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
                        Ok(Ok((n, from))) => {
                            if from == to && buf.get(..n) == Some(payload.as_slice()) {
                                echoed += 1;
                                break 'tries;
                            }
                        }
                        Ok(Err(e)) => return Err(format!("A receive: {e}")),
                        Err(_) => {
                            eprintln!("two_taps: datagram {i}: no echo within three seconds");
                            continue 'tries;
                        }
                    }
                }
            }
        }
        let (ca, cb) = (a.counters(), b.counters());
        println!(
            "two_taps: {echoed}/{} datagrams of {} bytes from A {} ({}) to B {} ({}) came back",
            args.count, args.size, args.a.addr, args.a.tap, args.b.addr, args.b.tap
        );
        Ok(format!(
            "RESULT sent={} echoed={echoed} {} {}",
            args.count,
            counters("a", &ca),
            counters("b", &cb)
        ))
    }

    fn counters(who: &str, c: &Counters) -> String {
        format!(
            "{who}_udp_tx={} {who}_udp_rx={} {who}_ip_tx={} {who}_ip_rx={} {who}_arp_requests={} \
             {who}_arp_replies={} {who}_eth_rx={} {who}_eth_tx={}",
            c.udp.tx_datagrams,
            c.udp.rx_delivered,
            c.ipv4.tx_datagrams,
            c.ipv4.rx_delivered,
            c.arp.requests_sent,
            c.arp.replies_sent,
            c.ethernet.rx_frames,
            c.ethernet.tx_frames
        )
    }

    pub fn main() -> std::process::ExitCode {
        let args = match parse_args() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("two_taps: {e}");
                return std::process::ExitCode::from(2);
            }
        };
        match block_on_local(exchange(&args)) {
            Ok(Ok(result)) => {
                println!("{result}");
                std::process::ExitCode::SUCCESS
            }
            Ok(Err(e)) => {
                eprintln!("two_taps: {e}");
                std::process::ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("two_taps: tokio runtime: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    }
}

#[cfg(all(feature = "tap", target_os = "linux"))]
fn main() -> std::process::ExitCode {
    run::main()
}

#[cfg(not(all(feature = "tap", target_os = "linux")))]
fn main() {
    eprintln!("two_taps needs Linux and the `tap` feature: --features tap");
}
