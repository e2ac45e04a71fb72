//! `xtask interop-host`: the weft side of the interop harness. Runs inside a namespace the
//! harness made, attaches to its TAP device, starts a direct weft stack on it, prints `READY
//! {…}` and then answers commands read from stdin, one per line, each with one line on
//! stdout: `OK {json}` or `ERR {json}`; every answer carries the stack's counters and the
//! driver's frame counts after the command, so the harness can assert them step by step. `quit` (or the end of stdin) ends it.
//!
//! Commands:
//! - `counters`
//! - `echo PORT` — serve UDP echo on PORT (every local address)
//! - `ping IP COUNT TIMEOUT_MS` — ICMP echo requests, one after another; the RTTs
//! - `arp IP` — the MAC weft's ARP cache holds for IP (null when none)
//! - `udp IP:PORT SIZE TIMEOUT_MS` — send SIZE bytes from an ephemeral port, expect them back
//! - `unreach IP:PORT TIMEOUT_MS` — send one datagram to a closed port, expect the ICMP error
//!   as the application's error
//! - `dhcp-wait TIMEOUT_MS` — wait for a DHCP address; the lease
//! - `dhcp-renew TIMEOUT_MS` — wait for the lease to be renewed (at T1); the new lease
//! - `tcp-…` — TCP connections, listeners and the echo server: see [`super::tcp_host`]
//! - `quit`

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use weft_core::{Counters, IfaceId, InterfaceConfig, Ipv4Config, StackConfig};
use weft_net::direct::DirectNet;
use weft_net::tap::TapLink;
use weft_net::tokio_rt::{TokioRuntime, block_on_local};
use weft_net::{IcmpError, NetError, UdpNet, UdpSocket};
use weft_wire::MacAddr;

use super::tcp_host::TcpHost;

/// The flags of `interop-host`.
#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// TAP device to attach to (made by the harness).
    #[arg(long)]
    pub tap: String,
    /// Our MAC address, aa:bb:cc:dd:ee:ff.
    #[arg(long)]
    pub mac: String,
    /// Static address, a.b.c.d/len (without it: DHCP).
    #[arg(long)]
    pub addr: Option<String>,
    /// Default gateway (with --addr).
    #[arg(long)]
    pub gateway: Option<Ipv4Addr>,
    /// The stack's seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// TCP user timeout (RFC 5482) for every connection, in milliseconds: how long sent data
    /// may go unacknowledged before the connection fails with a timeout.
    #[arg(long)]
    pub user_timeout_ms: Option<u64>,
}

pub fn parse_mac(s: &str) -> Result<MacAddr> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let p = parts
            .next()
            .with_context(|| format!("MAC {s:?}: too short"))?;
        *b = u8::from_str_radix(p, 16).with_context(|| format!("MAC {s:?}: {p:?}"))?;
    }
    if parts.next().is_some() {
        bail!("MAC {s:?}: too long");
    }
    Ok(MacAddr(mac))
}

pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8)> {
    let (a, l) = s
        .split_once('/')
        .with_context(|| format!("{s:?} is not a.b.c.d/len"))?;
    let addr = a.parse().with_context(|| format!("address {a:?}"))?;
    let len: u8 = l.parse().with_context(|| format!("prefix {l:?}"))?;
    if len > 32 {
        bail!("prefix {len} > 32");
    }
    Ok((addr, len))
}

pub fn run(args: HostArgs) -> Result<()> {
    block_on_local(serve(args)).context("starting the tokio runtime")?
}

async fn serve(args: HostArgs) -> Result<()> {
    let mac = parse_mac(&args.mac)?;
    let link = TapLink::open(&args.tap).map_err(|e| anyhow!("opening TAP {}: {e}", args.tap))?;
    let iface_cfg = match &args.addr {
        Some(cidr) => {
            let (addr, prefix_len) = parse_cidr(cidr)?;
            let mut c = InterfaceConfig::ethernet(mac, addr, prefix_len);
            c.ipv4 = Ipv4Config::Static {
                addr,
                prefix_len,
                gateway: args.gateway,
            };
            c
        }
        None => {
            let mut c = InterfaceConfig::ethernet(mac, Ipv4Addr::UNSPECIFIED, 0);
            c.ipv4 = Ipv4Config::Dhcp;
            c
        }
    };
    let mut b = weft_net::direct::builder(StackConfig::new(args.seed));
    if let Some(ms) = args.user_timeout_ms {
        b.config_mut().tcp.user_timeout = Some(Duration::from_millis(ms));
    }
    let iface = b.interface(iface_cfg, link);
    let net = b
        .start(TokioRuntime::new())
        .map_err(|e| anyhow!("starting the stack: {e}"))?;
    let host = Host {
        net,
        iface,
        tcp: TcpHost::default(),
    };
    println!(
        "READY {}",
        json!({ "tap": args.tap, "mac": args.mac, "addr": args.addr })
    );

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let line = line.trim().to_string();
        if line.is_empty() {
            continue;
        }
        if line == "quit" {
            break;
        }
        let (tag, body) = match host.command(&line).await {
            Ok(v) => ("OK", json!({ "cmd": line, "result": v })),
            Err(e) => ("ERR", json!({ "cmd": line, "error": format!("{e:#}") })),
        };
        let mut body = body;
        if let Some(o) = body.as_object_mut() {
            let mut c = counters_json(&host.net.counters());
            // Per-connection counts summed over every connection, live or closed.
            let t = host.net.with_stack(|s, _| s.tcp_stats_total());
            if let Some(c) = c.as_object_mut() {
                c.insert(
                    "tcp_conns".into(),
                    json!({
                        "time_wait_acks": t.time_wait_acks,
                        "unacceptable": t.unacceptable,
                    }),
                );
            }
            o.insert("counters".into(), c);
            let d = host.net.driver_counters();
            o.insert(
                "driver".into(),
                json!({
                    "frames_in": d.frames_in,
                    "frames_out": d.frames_out,
                    "tx_blocked": d.tx_blocked,
                    "socket_errors_dropped": d.socket_errors_dropped,
                }),
            );
        }
        println!("{tag} {body}");
    }
    Ok(())
}

struct Host {
    net: DirectNet<TokioRuntime>,
    iface: IfaceId,
    tcp: TcpHost,
}

fn ms(arg: Option<&str>) -> Result<Duration> {
    let v: u64 = arg.context("missing TIMEOUT_MS")?.parse()?;
    Ok(Duration::from_millis(v))
}

fn sock(arg: Option<&str>) -> Result<SocketAddrV4> {
    let s = arg.context("missing IP:PORT")?;
    s.parse().with_context(|| format!("{s:?} is not IP:PORT"))
}

/// The payload of a `udp` test datagram: a recognisable pattern, not zeros.
pub fn pattern(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect()
}

impl Host {
    async fn command(&self, line: &str) -> Result<Value> {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or_default();
        let (a, b, c) = (words.next(), words.next(), words.next());
        match cmd {
            "counters" => Ok(Value::Null),
            "echo" => {
                let port: u16 = a.context("missing PORT")?.parse()?;
                let local = self
                    .net
                    .listen_udp(port, |socket, from, payload| async move {
                        let _ = socket.send_to(&payload, from).await;
                    })
                    .await?;
                Ok(json!({ "local": local.to_string() }))
            }
            "ping" => {
                let dst: Ipv4Addr = a.context("missing IP")?.parse()?;
                let count: u32 = b.context("missing COUNT")?.parse()?;
                let timeout = ms(c)?;
                let mut rtts = Vec::new();
                for _ in 0..count {
                    let rtt = self.net.ping(dst, timeout).await?;
                    rtts.push(rtt.as_secs_f64() * 1000.0);
                }
                Ok(json!({ "rtt_ms": rtts }))
            }
            "arp" => {
                let addr: Ipv4Addr = a.context("missing IP")?.parse()?;
                let iface = self.iface;
                let mac = self.net.with_stack(|s, now| s.arp_lookup(now, iface, addr));
                Ok(json!({ "mac": mac.map(|m| m.to_string()) }))
            }
            "udp" => {
                let to = sock(a)?;
                let size: usize = b.context("missing SIZE")?.parse()?;
                let timeout = ms(c)?;
                let socket = self
                    .net
                    .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
                    .await?;
                let payload = pattern(size);
                socket.send_to(&payload, to).await?;
                let mut buf = vec![0u8; 65_536];
                let (n, from) = tokio::time::timeout(timeout, socket.recv_from(&mut buf))
                    .await
                    .map_err(|_| anyhow!("no echo from {to} within {timeout:?}"))??;
                let got = buf.get(..n).unwrap_or_default();
                if got != payload.as_slice() {
                    bail!("echo of {size} bytes came back as {n} different bytes");
                }
                Ok(
                    json!({ "local": socket.local_addr().to_string(), "from": from.to_string(), "len": n }),
                )
            }
            "unreach" => {
                let to = sock(a)?;
                let timeout = ms(b)?;
                let socket = self
                    .net
                    .bind_udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
                    .await?;
                socket.send_to(b"is anyone there?", to).await?;
                let mut buf = [0u8; 2048];
                match tokio::time::timeout(timeout, socket.recv_from(&mut buf)).await {
                    Err(_) => bail!("no ICMP error within {timeout:?}"),
                    Ok(Ok((n, from))) => bail!("a {n}-byte datagram from {from}, not an error"),
                    Ok(Err(NetError::Icmp {
                        peer,
                        reporter,
                        error: IcmpError::PortUnreachable,
                    })) => Ok(json!({
                        "error": "port unreachable",
                        "peer": peer.to_string(),
                        "reporter": reporter.to_string(),
                    })),
                    Ok(Err(e)) => bail!("another error: {e}"),
                }
            }
            "dhcp-wait" => {
                let timeout = ms(a)?;
                let (addr, prefix) = self.net.wait_address(self.iface, timeout).await?;
                Ok(json!({ "addr": addr.to_string(), "prefix": prefix, "lease": self.lease() }))
            }
            "dhcp-renew" => {
                let timeout = ms(a)?;
                let before = self.net.counters().dhcp.renewals;
                let deadline = tokio::time::Instant::now() + timeout;
                while self.net.counters().dhcp.renewals == before {
                    if tokio::time::Instant::now() >= deadline {
                        bail!("no renewal within {timeout:?} (lease {})", self.lease());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(json!({ "lease": self.lease() }))
            }
            tcp if tcp.starts_with("tcp-") => self.tcp.command(&self.net, line).await,
            other => bail!("unknown command {other:?}"),
        }
    }

    /// The DHCP lease as JSON (times in seconds from the stack's start), with the current
    /// time.
    fn lease(&self) -> Value {
        let iface = self.iface;
        self.net.with_stack(|s, now| {
            let secs = |d: Duration| d.as_secs_f64();
            let at = |i: weft_core::Instant| i.as_nanos() as f64 / 1e9;
            match s.dhcp_lease(iface) {
                None => json!({ "now": at(now) }),
                Some(l) => json!({
                    "now": at(now),
                    "addr": l.addr.to_string(),
                    "prefix": l.prefix_len,
                    "router": l.router.map(|r| r.to_string()),
                    "server_id": l.server_id.to_string(),
                    "lease_time": secs(l.lease_time),
                    "t1": secs(l.t1),
                    "t2": secs(l.t2),
                    "acquired_at": at(l.acquired_at),
                }),
            }
        })
    }
}

/// Every counter the harness asserts on, by layer.
pub fn counters_json(c: &Counters) -> Value {
    json!({
        "ethernet": {
            "rx_frames": c.ethernet.rx_frames,
            "tx_frames": c.ethernet.tx_frames,
            "rx_malformed": c.ethernet.rx_malformed,
            "rx_not_for_us": c.ethernet.rx_not_for_us,
            "rx_unknown_ethertype": c.ethernet.rx_unknown_ethertype,
        },
        "arp": {
            "rx_packets": c.arp.rx_packets,
            "replies_sent": c.arp.replies_sent,
            "requests_sent": c.arp.requests_sent,
            "entries_updated": c.arp.entries_updated,
            "resolution_failed": c.arp.resolution_failed,
            "conflicts": c.arp.conflicts,
        },
        "ipv4": {
            "rx_datagrams": c.ipv4.rx_datagrams,
            "rx_delivered": c.ipv4.rx_delivered,
            "rx_bad_checksum": c.ipv4.rx_bad_checksum,
            "rx_fragments": c.ipv4.rx_fragments,
            "reassembled": c.ipv4.reassembled,
            "tx_datagrams": c.ipv4.tx_datagrams,
            "tx_fragments": c.ipv4.tx_fragments,
            "tx_no_route": c.ipv4.tx_no_route,
        },
        "icmp": {
            "rx_messages": c.icmp.rx_messages,
            "echo_replies_sent": c.icmp.echo_replies_sent,
            "errors_delivered": c.icmp.errors_delivered,
            "errors_unmatched": c.icmp.errors_unmatched,
            "errors_sent": c.icmp.errors_sent,
        },
        "udp": {
            "rx_datagrams": c.udp.rx_datagrams,
            "rx_delivered": c.udp.rx_delivered,
            "rx_bad_checksum": c.udp.rx_bad_checksum,
            "rx_no_socket": c.udp.rx_no_socket,
            "tx_datagrams": c.udp.tx_datagrams,
        },
        "dhcp": {
            "tx_messages": c.dhcp.tx_messages,
            "rx_messages": c.dhcp.rx_messages,
            "rx_ignored": c.dhcp.rx_ignored,
            "leases": c.dhcp.leases,
            "renewals": c.dhcp.renewals,
            "leases_lost": c.dhcp.leases_lost,
        },
        "tcp": {
            "rx_segments": c.tcp.rx_segments,
            "rx_predicted": c.tcp.rx_predicted,
            "rx_bad_checksum": c.tcp.rx_bad_checksum,
            "rx_malformed": c.tcp.rx_malformed,
            "rx_no_socket": c.tcp.rx_no_socket,
            "tx_segments": c.tcp.tx_segments,
            "rst_sent": c.tcp.rst_sent,
            "backlog_drops": c.tcp.backlog_drops,
            "connects": c.tcp.connects,
            "passive_opens": c.tcp.passive_opens,
            "tx_deferred": c.tcp.tx_deferred,
            "challenge_acks_limited": c.tcp.challenge_acks_limited,
        },
        "queues": {
            "tx_queue_full": c.queues.tx_queue_full,
            "events_dropped": c.queues.events_dropped,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_args_parse() {
        assert_eq!(
            parse_mac("02:77:00:01:00:02").unwrap().0,
            [2, 0x77, 0, 1, 0, 2]
        );
        assert!(parse_mac("02:77:00:01:00").is_err());
        assert!(parse_mac("02:77:00:01:00:02:03").is_err());
        assert_eq!(
            parse_cidr("10.77.1.2/24").unwrap(),
            (Ipv4Addr::new(10, 77, 1, 2), 24)
        );
        assert!(parse_cidr("10.77.1.2/33").is_err());
        assert_eq!(pattern(300).get(251), Some(&0));
    }
}
