//! The TCP commands of `interop-host` ([`super::host`]): weft's side of the TCP steps, on the
//! direct backend's `TcpNet` (flows are tokio `AsyncRead`/`AsyncWrite`).
//!
//! Commands (times in ms; every answer that concerns one connection carries its
//! [`flow_json`]):
//! - `tcp-echo PORT` — an RFC 862 echo server (`apps::tcp_echo_server_at`) on PORT
//! - `tcp-echo-stats PORT` — what that server has done: connections served, bytes, failures
//! - `tcp-listen PORT` — a listener on PORT, for one `tcp-accept`
//! - `tcp-accept PORT MODE TIMEOUT` — accepts one connection on PORT's listener (then drops
//!   the listener) and runs MODE on it:
//!   - `after-eof`: reads to the peer's end of stream, then sends everything back and closes
//!     (sending in CLOSE-WAIT, after the peer's FIN)
//!   - `ready-read`: sends `ready\n`, then reads until end of stream or an error; the error
//! - `tcp-client IP:PORT BYTES SEED TIMEOUT` — connects, sends BYTES seeded bytes
//!   ([`SeededBytes`]) while reading, shuts its sending side down after the last, reads to the
//!   peer's end of stream; SHA-256 and counts of both directions, timings
//! - `tcp-client-abort IP:PORT TIMEOUT` — connects, sends `hello\n`, reads `ready\n`, aborts
//!   (RST)
//! - `tcp-refused IP:PORT TIMEOUT` — connects, expecting `ConnectError::Refused`
//! - `tcp-connect IP:PORT TIMEOUT` — connects and keeps the connection: its id
//! - `tcp-write ID BYTES TIMEOUT` — sends BYTES and waits until the peer acknowledged them all
//! - `tcp-write-until-error ID TIMEOUT` — keeps sending until the connection fails; the error
//!   and how long after the first unacknowledged byte it came
//! - `tcp-close ID` — closes (drops) a kept connection

use super::host::pattern;
use anyhow::{Context, Result, anyhow, bail, ensure};
use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use weft_net::apps::{self, ServerStats};
use weft_net::direct::{DirectFlow, DirectListener, DirectNet};
use weft_net::tokio_rt::TokioRuntime;
use weft_net::{ConnectError, Flow, Listener, TcpNet};

type Net = DirectNet<TokioRuntime>;
type Conn = DirectFlow<TokioRuntime>;

/// The bytes of a bulk transfer: ChaCha20 keyed by a seed, so both ends (and the harness,
/// which hashes the same stream to know what to expect) produce them without storing them.
pub struct SeededBytes(ChaCha20Rng);

impl SeededBytes {
    pub fn new(seed: u64) -> SeededBytes {
        SeededBytes(ChaCha20Rng::seed_from_u64(seed))
    }

    /// The next `buf.len()` bytes of the stream. The stream does not depend on how it is cut
    /// as long as every piece but the last is a multiple of 4 bytes long (ChaCha's word).
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }

    /// SHA-256 of the first `len` bytes of the stream of `seed`, and those bytes written to
    /// `out` (when given).
    pub fn sha256(
        seed: u64,
        len: usize,
        mut out: Option<&mut dyn std::io::Write>,
    ) -> Result<String> {
        let mut s = SeededBytes::new(seed);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len());
            let chunk = buf.get_mut(..n).unwrap_or_default();
            s.fill(chunk);
            h.update(&*chunk);
            if let Some(w) = out.as_mut() {
                w.write_all(chunk)?;
            }
            left -= n;
        }
        Ok(hex(&h.finalize()))
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes` in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The TCP part of the host: listeners and connections kept between commands.
#[derive(Default)]
pub struct TcpHost {
    listeners: RefCell<BTreeMap<u16, DirectListener<TokioRuntime>>>,
    flows: RefCell<BTreeMap<u32, Conn>>,
    next_flow: Cell<u32>,
    echo: RefCell<BTreeMap<u16, ServerStats>>,
}

fn ms(arg: Option<&str>) -> Result<Duration> {
    let v: u64 = arg.context("missing TIMEOUT (ms)")?.parse()?;
    Ok(Duration::from_millis(v))
}

fn sock(arg: Option<&str>) -> Result<SocketAddrV4> {
    let s = arg.context("missing IP:PORT")?;
    s.parse().with_context(|| format!("{s:?} is not IP:PORT"))
}

fn num<T: std::str::FromStr>(arg: Option<&str>, what: &str) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let s = arg.with_context(|| format!("missing {what}"))?;
    s.parse().with_context(|| format!("{what} {s:?}"))
}

/// Milliseconds since `t`.
fn since_ms(t: Instant) -> f64 {
    Instant::now().saturating_duration_since(t).as_secs_f64() * 1000.0
}

/// A kind of I/O error as the harness checks it.
fn kind_name(e: &std::io::Error) -> String {
    format!("{:?}", e.kind())
}

/// The connection's state and the counters of its `TcpInfo`.
pub fn flow_json(flow: &Conn) -> Value {
    let mut v = json!({
        "local": flow.local_addr().to_string(),
        "peer": flow.peer_addr().to_string(),
    });
    if let (Some(o), Some(i)) = (v.as_object_mut(), flow.info()) {
        o.insert("state".into(), json!(format!("{:?}", i.state)));
        o.insert(
            "stats".into(),
            json!({
                "segs_in": i.stats.segs_in,
                "segs_out": i.stats.segs_out,
                "rto_expirations": i.stats.rto_expirations,
                "fast_retransmits": i.stats.fast_retransmits,
                "retransmitted_segs": i.stats.retransmitted_segs,
                "dup_acks": i.stats.dup_acks,
                "ooo_segments": i.stats.ooo_segments,
                "r1_reached": i.stats.r1_reached,
            }),
        );
        o.insert(
            "send".into(),
            json!({
                "mss": i.send.mss,
                "cwnd": i.send.cwnd,
                "wscale": i.send.wscale,
                "rto_ms": i.send.rto.as_secs_f64() * 1000.0,
                "srtt_ms": i.send.srtt.map(|d| d.as_secs_f64() * 1000.0),
            }),
        );
        o.insert("unacked".into(), json!(i.unacked));
    }
    v
}

/// Reads to end of stream: (bytes, SHA-256).
async fn read_to_eof(r: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok((total, hex(&h.finalize())));
        }
        h.update(buf.get(..n).unwrap_or_default());
        total += n as u64;
    }
}

/// Reads until `want` ends what was read.
async fn read_until(r: &mut Conn, want: &[u8]) -> Result<()> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(want) {
        let n = r.read(&mut buf).await?;
        ensure!(
            n > 0,
            "end of stream before {:?}",
            String::from_utf8_lossy(want)
        );
        got.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    Ok(())
}

impl TcpHost {
    fn keep(&self, flow: Conn) -> u32 {
        let id = self.next_flow.get();
        self.next_flow.set(id + 1);
        self.flows.borrow_mut().insert(id, flow);
        id
    }

    fn take(&self, id: Option<&str>) -> Result<(u32, Conn)> {
        let id: u32 = num(id, "ID")?;
        let flow = self
            .flows
            .borrow_mut()
            .remove(&id)
            .with_context(|| format!("no connection {id}"))?;
        Ok((id, flow))
    }

    /// Runs one `tcp-…` command.
    pub async fn command(&self, net: &Net, line: &str) -> Result<Value> {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        let arg = |i: usize| args.get(i).copied();
        match cmd {
            "tcp-echo" => {
                let port: u16 = num(arg(0), "PORT")?;
                let (local, stats) = apps::tcp_echo_server_at(
                    net.clone(),
                    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port),
                )
                .await?;
                self.echo.borrow_mut().insert(port, stats);
                Ok(json!({ "local": local.to_string() }))
            }
            "tcp-echo-stats" => {
                let port: u16 = num(arg(0), "PORT")?;
                let stats = self
                    .echo
                    .borrow()
                    .get(&port)
                    .cloned()
                    .with_context(|| format!("no echo server on {port}"))?;
                Ok(json!({
                    "served": stats.served(),
                    "bytes": stats.bytes(),
                    "failed": stats.failed(),
                    "last_error": stats.last_error().map(|e| e.to_string()),
                }))
            }
            "tcp-listen" => {
                let port: u16 = num(arg(0), "PORT")?;
                let l = net
                    .bind_tcp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
                    .await?;
                let local = l.local_addr();
                self.listeners.borrow_mut().insert(port, l);
                Ok(json!({ "local": local.to_string() }))
            }
            "tcp-accept" => {
                let port: u16 = num(arg(0), "PORT")?;
                let mode = arg(1).context("missing MODE")?;
                let timeout = ms(arg(2))?;
                let l = self
                    .listeners
                    .borrow_mut()
                    .remove(&port)
                    .with_context(|| format!("no listener on {port}"))?;
                let (flow, peer) = tokio::time::timeout(timeout, l.accept())
                    .await
                    .map_err(|_| anyhow!("no connection on {port} within {timeout:?}"))??;
                drop(l);
                let r = tokio::time::timeout(timeout, accepted(flow, mode))
                    .await
                    .map_err(|_| {
                        anyhow!("{mode} with {peer} did not finish within {timeout:?}")
                    })??;
                Ok(r)
            }
            "tcp-client" => {
                let to = sock(arg(0))?;
                let bytes: u64 = num(arg(1), "BYTES")?;
                let seed: u64 = num(arg(2), "SEED")?;
                let timeout = ms(arg(3))?;
                tokio::time::timeout(timeout, client(net, to, bytes, seed))
                    .await
                    .map_err(|_| anyhow!("exchange with {to} did not finish within {timeout:?}"))?
            }
            "tcp-client-abort" => {
                let to = sock(arg(0))?;
                let timeout = ms(arg(1))?;
                tokio::time::timeout(timeout, async {
                    let mut flow = net.connect(to).await?;
                    flow.write_all(b"hello\n").await?;
                    read_until(&mut flow, b"ready\n").await?;
                    let before = flow_json(&flow);
                    flow.abort();
                    Ok::<Value, anyhow::Error>(json!({ "flow": before }))
                })
                .await
                .map_err(|_| anyhow!("no `ready` from {to} within {timeout:?}"))?
            }
            "tcp-refused" => {
                let to = sock(arg(0))?;
                let timeout = ms(arg(1))?;
                let t0 = Instant::now();
                match tokio::time::timeout(timeout, net.connect(to)).await {
                    Err(_) => bail!("no answer from {to} within {timeout:?}"),
                    Ok(Ok(flow)) => bail!("connected to {to} ({})", flow_json(&flow)),
                    Ok(Err(ConnectError::Refused(a))) => Ok(json!({
                        "error": "refused",
                        "to": a.to_string(),
                        "ms": since_ms(t0),
                    })),
                    Ok(Err(e)) => bail!("another error: {e}"),
                }
            }
            "tcp-connect" => {
                let to = sock(arg(0))?;
                let timeout = ms(arg(1))?;
                let flow = tokio::time::timeout(timeout, net.connect(to))
                    .await
                    .map_err(|_| anyhow!("no connection to {to} within {timeout:?}"))??;
                let v = flow_json(&flow);
                let id = self.keep(flow);
                Ok(json!({ "id": id, "flow": v }))
            }
            "tcp-write" => {
                let (id, mut flow) = self.take(arg(0))?;
                let bytes: usize = num(arg(1), "BYTES")?;
                let timeout = ms(arg(2))?;
                let r = tokio::time::timeout(timeout, async {
                    flow.write_all(&pattern(bytes)).await?;
                    // Until the peer has acknowledged every byte.
                    while flow.info().is_some_and(|i| i.unacked > 0) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Ok::<(), anyhow::Error>(())
                })
                .await;
                let v = flow_json(&flow);
                self.flows.borrow_mut().insert(id, flow);
                r.map_err(|_| anyhow!("{bytes} bytes not acknowledged within {timeout:?}"))??;
                Ok(json!({ "flow": v }))
            }
            "tcp-write-until-error" => {
                let (_, flow) = self.take(arg(0))?;
                let timeout = ms(arg(1))?;
                write_until_error(flow, timeout).await
            }
            "tcp-close" => {
                let (_, flow) = self.take(arg(0))?;
                let v = flow_json(&flow);
                flow.close().await?;
                Ok(json!({ "flow": v }))
            }
            other => bail!("unknown command {other:?}"),
        }
    }
}

/// The server side of `tcp-accept`.
async fn accepted(mut flow: Conn, mode: &str) -> Result<Value> {
    match mode {
        "after-eof" => {
            let mut got = Vec::new();
            flow.read_to_end(&mut got).await?;
            // The peer's FIN is in: CLOSE-WAIT, and we may still send (RFC 9293 §3.6).
            let at_eof = flow_json(&flow);
            flow.write_all(&got).await?;
            let before_close = flow_json(&flow);
            flow.close().await?;
            Ok(json!({
                "received": got.len(),
                "sha256": sha256_hex(&got),
                "at_eof": at_eof,
                "before_close": before_close,
            }))
        }
        "ready-read" => {
            flow.write_all(b"ready\n").await?;
            let mut buf = [0u8; 1024];
            let mut received = 0usize;
            let error = loop {
                match flow.read(&mut buf).await {
                    Ok(0) => break "eof".to_string(),
                    Ok(n) => received += n,
                    Err(e) => break kind_name(&e),
                }
            };
            Ok(json!({ "error": error, "received": received, "flow": flow_json(&flow) }))
        }
        other => bail!("unknown accept mode {other:?}"),
    }
}

/// `tcp-client`: sends `bytes` seeded bytes while reading, then shuts down its side and reads
/// to the peer's end of stream.
async fn client(net: &Net, to: SocketAddrV4, bytes: u64, seed: u64) -> Result<Value> {
    let t0 = Instant::now();
    let flow = net.connect(to).await?;
    let connect_ms = since_ms(t0);
    let local = flow.local_addr();
    let t1 = Instant::now();
    let (mut rd, mut wr) = tokio::io::split(flow);
    let send = async {
        let mut s = SeededBytes::new(seed);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            let chunk = buf.get_mut(..n).unwrap_or_default();
            s.fill(chunk);
            h.update(&*chunk);
            wr.write_all(chunk).await?;
            left -= n as u64;
        }
        let sent_ms = since_ms(t1);
        // Our FIN: the peer may go on sending (half-close, RFC 9293 §3.6).
        wr.shutdown().await?;
        Ok::<_, std::io::Error>((hex(&h.finalize()), sent_ms))
    };
    let recv = async {
        let r = read_to_eof(&mut rd).await;
        (r, since_ms(t1))
    };
    let (sent, (received, recv_ms)) = tokio::join!(send, recv);
    let (sent_sha, sent_ms) = sent.context("sending")?;
    let (received, received_sha) = received.context("receiving")?;
    let flow = rd.unsplit(wr);
    let v = flow_json(&flow);
    flow.close().await?;
    Ok(json!({
        "local": local.to_string(),
        "sent": bytes,
        "sent_sha256": sent_sha,
        "received": received,
        "received_sha256": received_sha,
        "connect_ms": connect_ms,
        "sent_ms": sent_ms,
        "eof_ms": recv_ms,
        "flow": v,
    }))
}

/// `tcp-write-until-error`: writes until the connection fails (the peer has vanished).
async fn write_until_error(mut flow: Conn, timeout: Duration) -> Result<Value> {
    let chunk = pattern(16 * 1024);
    let t0 = Instant::now();
    let mut written = 0u64;
    let mut last = flow_json(&flow);
    let mut first_rto_ms = None;
    let error = loop {
        ensure!(
            Instant::now() < t0 + timeout,
            "still no error after {timeout:?}: {last}"
        );
        // A write that waits for room gives way every 20 ms to look at the connection.
        match tokio::time::timeout(Duration::from_millis(20), flow.write(&chunk)).await {
            Ok(Ok(n)) => written += n as u64,
            Ok(Err(e)) => break e,
            Err(_) => {}
        }
        if flow.info().is_some() {
            last = flow_json(&flow);
        }
        let rtos = last
            .pointer("/stats/rto_expirations")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if first_rto_ms.is_none() && rtos > 0 {
            first_rto_ms = Some(since_ms(t0));
        }
    };
    let elapsed_ms = since_ms(t0);
    // A read tells the same.
    let mut buf = [0u8; 16];
    let read_error = match flow.read(&mut buf).await {
        Ok(n) => format!("read {n} bytes"),
        Err(e) => kind_name(&e),
    };
    Ok(json!({
        "error": kind_name(&error),
        "message": error.to_string(),
        "read_error": read_error,
        "elapsed_ms": elapsed_ms,
        "first_rto_ms": first_rto_ms,
        "written": written,
        "last": last,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_host_sha256_known_answers() {
        // FIPS 180-4 examples.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn tcp_host_seeded_bytes_hash_by_chunks() {
        // The hash of a stream does not depend on how it is cut.
        let mut s = SeededBytes::new(7);
        let mut all = vec![0u8; 200_000];
        for c in all.chunks_mut(1000) {
            s.fill(c);
        }
        let mut file = Vec::new();
        let h = SeededBytes::sha256(7, all.len(), Some(&mut file)).unwrap();
        assert_eq!(file, all);
        assert_eq!(h, sha256_hex(&all));
        assert_ne!(h, SeededBytes::sha256(8, all.len(), None).unwrap());
    }
}
