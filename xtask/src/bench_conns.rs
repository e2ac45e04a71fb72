//! `tcp_conns_segments`: segments per second through weft-core `Stack`s with 10,000
//! established TCP connections open, against the same work with 10 open, and against
//! smoltcp 0.14 with 10,000.
//!
//! Two stacks (10.0.0.1 and 10.0.0.2) over an in-memory Ethernet wire, `n` connections from
//! the first to a listener on the second, all established before the clock starts. Then, per
//! loop turn, the client application writes one [`MSG`]-byte message on each of the next
//! [`BATCH`] connections in round-robin order; the frames go to the server; the server
//! application reads every connection that has data and writes the bytes back; the frames
//! go back; the client reads the echoes and checks each against the message it sent on that
//! connection. Virtual time advances [`STEP`] per turn, so a connection's next message comes
//! long before any delayed-ACK timer (weft 40 ms, smoltcp 10 ms): every segment of the
//! measured phase carries data, with the ACK piggybacked. The number of messages is the same
//! whatever `n` is, so a ratio near 1 between 10,000 and 10 connections means demultiplexing,
//! timers and the rest do not slow down with the connection count.
//!
//! The digest adds up an FNV-1a hash of every echoed message (order-free: it does not depend
//! on the order in which connections are served), so equal digests mean equal work.

use anyhow::{Result, anyhow, bail};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::IpAddress;
use std::collections::VecDeque;
use std::path::Path;
use weft_core::tcp::TcpConfig;
use weft_core::time::{Duration as WDuration, Instant as WInstant};
use weft_core::{Event, IfaceId, InterfaceConfig, RxMeta, Stack, StackConfig};
use weft_wire::{Ipv4Addr, MacAddr};

/// Bytes per message.
const MSG: usize = 64;
/// Connections served per loop turn.
const BATCH: usize = 10;
/// Virtual time per loop turn.
const STEP: WDuration = WDuration::from_micros(1);
/// Send and receive buffer per connection, both stacks.
const BUFFER: usize = 4096;
const PORT: u16 = 5001;
/// The connection counts compared.
const FEW: usize = 10;
const MANY: usize = 10_000;
/// Messages per run in the weft@10,000 vs weft@10 comparison.
const MESSAGES_SCALE: usize = 400_000;
/// Messages per run in the weft vs smoltcp comparison (smoltcp finds a connection by walking
/// its socket set, so at 10,000 sockets it needs far more time per segment).
const MESSAGES_PEER: usize = 100_000;
/// Alternating runs per side.
const RUNS: usize = 3;
const SEED: u64 = 0x636f_6e6e_7365_6773;

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_BASIS, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// Message number `seq`: xorshift64 bytes.
fn message(seq: u64) -> [u8; MSG] {
    let mut x = SEED ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 1;
    let mut m = [0u8; MSG];
    for c in m.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.copy_from_slice(&x.to_le_bytes());
    }
    m
}

/// What a measured run did.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    wall: std::time::Duration,
    /// Sum of the echoed messages' FNV-1a hashes.
    digest: u64,
    /// Messages echoed and checked.
    messages: u64,
    /// Frames on the wire (both directions) during the measured phase.
    segments: u64,
    /// Segments without payload among them (pure ACKs, window updates).
    pure_acks: u64,
    /// weft only: segments retransmitted (both stacks' ConnStats), deadline-set operations
    /// and demultiplexing table operations (both stacks).
    weft: Option<WeftOps>,
}

#[derive(Debug, Clone, Copy)]
struct WeftOps {
    retransmitted: u64,
    timer_ops: u64,
    demux_ops: u64,
}

fn weft_ops(a: &Stack, b: &Stack) -> WeftOps {
    WeftOps {
        retransmitted: a.tcp_stats_total().retransmitted_segs
            + b.tcp_stats_total().retransmitted_segs,
        timer_ops: a.timer_ops() + b.timer_ops(),
        demux_ops: a.counters().tcp.demux_ops + b.counters().tcp.demux_ops,
    }
}

/// An echo must be the message sent on its connection; its FNV-1a hash for the digest.
fn check_echo(expected: &[u8; MSG], got: &[u8]) -> Result<u64> {
    if got != expected.as_slice() {
        bail!("an echo differs from the message sent on its connection");
    }
    Ok(fnv(got))
}

// ---------------------------------------------------------------------------------------
// weft

fn weft_stack(n: u8, addr: Ipv4Addr) -> Result<Stack> {
    let mut c = StackConfig::new(SEED ^ u64::from(n));
    c.add_interface(InterfaceConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, n]),
        addr,
        24,
    ));
    c.tcp = TcpConfig {
        send_buffer: BUFFER,
        recv_buffer: BUFFER,
        ..TcpConfig::default()
    };
    Stack::new(c, WInstant::ZERO).map_err(|e| anyhow!("weft config: {e}"))
}

/// Moves every frame `from` has queued into `to`; returns (frames, frames without TCP payload).
fn pump(from: &mut Stack, to: &mut Stack, now: WInstant, buf: &mut [u8]) -> (u64, u64) {
    let (mut n, mut bare) = (0, 0);
    while let Some(t) = from.poll_transmit(now, buf) {
        let frame = buf.get(..t.len).unwrap_or_default();
        // Ethernet 14 + IPv4 20 + TCP header (data offset): nothing beyond is a bare segment.
        let tcp_hdr = frame.get(46).map_or(0, |b| usize::from(b >> 4) * 4);
        if frame.len() <= 34 + tcp_hdr {
            bare += 1;
        }
        n += 1;
        to.handle_frame(now, IfaceId(0), frame, RxMeta::default());
    }
    (n, bare)
}

/// Two stacks with `n` established connections: (client, server, client sockets, server
/// sockets by the client connection they belong to, now).
struct WeftPair {
    a: Stack,
    b: Stack,
    clients: Vec<weft_core::tcp::sockets::TcpSocketId>,
    /// Client connection number by client socket slab index.
    number_of: Vec<usize>,
    now: WInstant,
    buf: Vec<u8>,
}

fn weft_setup(n: usize) -> Result<WeftPair> {
    let ip_b = Ipv4Addr::new(10, 0, 0, 2);
    let mut a = weft_stack(1, Ipv4Addr::new(10, 0, 0, 1))?;
    let mut b = weft_stack(2, ip_b)?;
    let mut now = WInstant::ZERO;
    let mut buf = vec![0u8; 2048];
    let listener = b
        .tcp_listen(Ipv4Addr::UNSPECIFIED, PORT, 1024)
        .map_err(|e| anyhow!("weft listen: {e}"))?;
    let mut clients = Vec::with_capacity(n);
    let mut accepted = 0usize;
    // The first connection alone (its SYN waits for ARP), then batches well inside the
    // transmit queue, the event queue and the listen backlog.
    let mut turns = 0u64;
    while accepted < n {
        turns += 1;
        if turns > 1_000_000 {
            bail!("weft setup stalled at {accepted} of {n} connections");
        }
        let want = if clients.is_empty() { 1 } else { 256 };
        if clients.len() == accepted {
            for _ in 0..want.min(n - clients.len()) {
                let s = a
                    .tcp_connect(now, (ip_b, PORT), (Ipv4Addr::UNSPECIFIED, 0))
                    .map_err(|e| anyhow!("weft connect: {e}"))?;
                clients.push(s);
            }
        }
        pump(&mut a, &mut b, now, &mut buf);
        while let Some(_s) = b
            .tcp_accept(listener)
            .map_err(|e| anyhow!("weft accept: {e}"))?
        {
            accepted += 1;
        }
        pump(&mut b, &mut a, now, &mut buf);
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        now = now + WDuration::from_millis(1);
        for s in [&mut a, &mut b] {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
    }
    // Let the last handshakes' ACKs land and every queue drain.
    for _ in 0..3 {
        pump(&mut a, &mut b, now, &mut buf);
        pump(&mut b, &mut a, now, &mut buf);
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
    }
    if a.tcp_connections() != n || b.tcp_connections() != n {
        bail!(
            "weft setup: {} and {} connections, wanted {n}",
            a.tcp_connections(),
            b.tcp_connections()
        );
    }
    let max_index = clients.iter().map(|s| s.index).max().unwrap_or(0) as usize;
    let mut number_of = vec![usize::MAX; max_index + 1];
    for (i, s) in clients.iter().enumerate() {
        if let Some(slot) = number_of.get_mut(s.index as usize) {
            *slot = i;
        }
    }
    Ok(WeftPair {
        a,
        b,
        clients,
        number_of,
        now,
        buf,
    })
}

#[allow(clippy::disallowed_methods)] // wall-clock timing is the point of a benchmark
fn run_weft(n: usize, messages: usize) -> Result<Outcome> {
    let WeftPair {
        mut a,
        mut b,
        clients,
        number_of,
        mut now,
        mut buf,
    } = weft_setup(n)?;
    let before = weft_ops(&a, &b);
    let mut sent_seq = vec![0u64; n];
    let mut rbuf = vec![0u8; BUFFER];
    let (mut digest, mut echoed, mut segments, mut bare) = (0u64, 0u64, 0u64, 0u64);
    let mut seq = 0u64;
    let mut cursor = 0usize;
    let start = std::time::Instant::now();
    let mut idle_turns = 0u32;
    while (echoed as usize) < messages {
        let before_turn = echoed;
        let batch = BATCH.min(messages - seq as usize);
        for _ in 0..batch {
            let (Some(&s), Some(slot)) = (clients.get(cursor), sent_seq.get_mut(cursor)) else {
                bail!("no connection {cursor}");
            };
            let m = message(seq);
            match a.tcp_send(now, s, &m) {
                Ok(MSG) => {}
                Ok(k) => bail!("weft: send buffer took {k} of {MSG} bytes"),
                Err(e) => bail!("weft send: {e}"),
            }
            *slot = seq;
            seq += 1;
            cursor = (cursor + 1) % n;
        }
        // The documented driver order per stack: frames in, poll_transmit until None (which
        // also brings out the events the frames caused), poll_event until None.
        let (f, z) = pump(&mut a, &mut b, now, &mut buf);
        segments += f;
        bare += z;
        let (f, z) = pump(&mut b, &mut a, now, &mut buf);
        segments += f;
        bare += z;
        while let Some(ev) = b.poll_event() {
            if let Event::TcpReadable { socket } = ev {
                loop {
                    let k = b
                        .tcp_recv(now, socket, &mut rbuf)
                        .map_err(|e| anyhow!("weft server recv: {e}"))?;
                    if k == 0 {
                        break;
                    }
                    let data = rbuf.get(..k).unwrap_or_default();
                    if b.tcp_send(now, socket, data)
                        .map_err(|e| anyhow!("weft server send: {e}"))?
                        != k
                    {
                        bail!("weft: the server's send buffer is full");
                    }
                }
            }
        }
        let (f, z) = pump(&mut b, &mut a, now, &mut buf);
        segments += f;
        bare += z;
        let (f, z) = pump(&mut a, &mut b, now, &mut buf);
        segments += f;
        bare += z;
        while let Some(ev) = a.poll_event() {
            if let Event::TcpReadable { socket } = ev {
                let Some(&i) = number_of.get(socket.index as usize) else {
                    bail!("weft: an unknown connection is readable");
                };
                let Some(&want) = sent_seq.get(i) else {
                    bail!("weft: no connection {i}");
                };
                loop {
                    let k = a
                        .tcp_recv(now, socket, &mut rbuf)
                        .map_err(|e| anyhow!("weft client recv: {e}"))?;
                    if k == 0 {
                        break;
                    }
                    if k != MSG {
                        bail!("weft: an echo of {k} bytes (messages are {MSG})");
                    }
                    digest = digest.wrapping_add(check_echo(
                        &message(want),
                        rbuf.get(..k).unwrap_or_default(),
                    )?);
                    echoed += 1;
                }
            }
        }
        idle_turns = if echoed == before_turn {
            idle_turns + 1
        } else {
            0
        };
        if idle_turns > 100_000 {
            bail!("weft: no echo in 100,000 turns ({echoed} of {seq})");
        }
        now = now + STEP;
        for s in [&mut a, &mut b] {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
    }
    let wall = start.elapsed();
    let after = weft_ops(&a, &b);
    for s in [&a, &b] {
        let q = s.counters().queues;
        if q.tx_queue_full + q.events_dropped > 0 {
            bail!("weft: a queue overflowed: {q:?}");
        }
    }
    Ok(Outcome {
        wall,
        digest,
        messages: echoed,
        segments,
        pure_acks: bare,
        weft: Some(WeftOps {
            retransmitted: after.retransmitted - before.retransmitted,
            timer_ops: after.timer_ops - before.timer_ops,
            demux_ops: after.demux_ops - before.demux_ops,
        }),
    })
}

// ---------------------------------------------------------------------------------------
// smoltcp

fn smol_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; BUFFER]),
        tcp::SocketBuffer::new(vec![0u8; BUFFER]),
    )
}

#[allow(clippy::disallowed_methods)] // wall-clock timing is the point of a benchmark
fn run_smol(n: usize, messages: usize) -> Result<Outcome> {
    let (mut dev_a, mut dev_b, link) = crate::smol_link::pair();
    let mut now = smoltcp::time::Instant::from_secs(1);
    let mut ia = crate::smol_link::iface(&mut dev_a, [2, 0, 0, 0, 0, 1], [10, 0, 0, 1], now, SEED);
    let mut ib = crate::smol_link::iface(&mut dev_b, [2, 0, 0, 0, 0, 2], [10, 0, 0, 2], now, SEED);
    let mut sa = SocketSet::new(Vec::with_capacity(n));
    let mut sb = SocketSet::new(Vec::with_capacity(n));
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = smol_socket();
        s.listen(PORT).map_err(|e| anyhow!("smoltcp listen: {e}"))?;
        servers.push(sb.add(s));
    }
    let mut clients: Vec<SocketHandle> = Vec::with_capacity(n);
    for i in 0..n {
        let h = sa.add(smol_socket());
        sa.get_mut::<tcp::Socket<'_>>(h)
            .connect(
                ia.context(),
                (IpAddress::v4(10, 0, 0, 2), PORT),
                10_000 + i as u16,
            )
            .map_err(|e| anyhow!("smoltcp connect: {e}"))?;
        clients.push(h);
    }
    // Establish everything (ARP first, then the handshakes), 1 ms per turn.
    let mut turns = 0;
    loop {
        let _ = ia.poll(now, &mut dev_a, &mut sa);
        let _ = ib.poll(now, &mut dev_b, &mut sb);
        let _ = ia.poll(now, &mut dev_a, &mut sa);
        let established = clients
            .iter()
            .filter(|h| sa.get::<tcp::Socket<'_>>(**h).state() == tcp::State::Established)
            .count();
        let accepted = servers
            .iter()
            .filter(|h| sb.get::<tcp::Socket<'_>>(**h).state() == tcp::State::Established)
            .count();
        if established == n && accepted == n {
            break;
        }
        turns += 1;
        if turns > 100_000 {
            bail!("smoltcp setup stalled: {established} and {accepted} of {n} established");
        }
        now += smoltcp::time::Duration::from_millis(1);
    }
    // The server socket of each client connection, by the client's port.
    let mut server_of = vec![None; n];
    for h in &servers {
        let s = sb.get::<tcp::Socket<'_>>(*h);
        let Some(remote) = s.remote_endpoint() else {
            bail!("smoltcp: an established server socket without a peer");
        };
        let i = usize::from(remote.port).wrapping_sub(10_000);
        if let Some(slot) = server_of.get_mut(i) {
            *slot = Some(*h);
        }
    }
    let server_of: Vec<SocketHandle> = server_of
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| anyhow!("smoltcp: a client connection has no server socket"))?;
    let c = link.counts();
    let (frames_before, bare_before) = (c.frames, c.empty_tcp);
    let mut rbuf = vec![0u8; BUFFER];
    let mut sent_seq = vec![0u64; n];
    // Connections with a message whose echo has not come back, oldest first.
    let mut waiting: VecDeque<usize> = VecDeque::with_capacity(BATCH);
    let (mut digest, mut echoed) = (0u64, 0u64);
    let mut seq = 0u64;
    let mut cursor = 0usize;
    let mut idle_turns = 0u64;
    let start = std::time::Instant::now();
    while (echoed as usize) < messages {
        let batch = BATCH.min(messages - seq as usize);
        for _ in 0..batch {
            let (Some(&h), Some(slot)) = (clients.get(cursor), sent_seq.get_mut(cursor)) else {
                bail!("no connection {cursor}");
            };
            let m = message(seq);
            match sa.get_mut::<tcp::Socket<'_>>(h).send_slice(&m) {
                Ok(MSG) => {}
                Ok(k) => bail!("smoltcp: send buffer took {k} of {MSG} bytes"),
                Err(e) => bail!("smoltcp send: {e}"),
            }
            *slot = seq;
            waiting.push_back(cursor);
            seq += 1;
            cursor = (cursor + 1) % n;
        }
        let _ = ia.poll(now, &mut dev_a, &mut sa);
        let _ = ib.poll(now, &mut dev_b, &mut sb);
        // smoltcp has no readiness events: the applications serve the connections with a
        // message outstanding (they know them; walking all n sockets would be their own cost).
        for &i in &waiting {
            let Some(&h) = server_of.get(i) else {
                bail!("no server socket {i}");
            };
            let s = sb.get_mut::<tcp::Socket<'_>>(h);
            while s.can_recv() {
                let got = s
                    .recv_slice(&mut rbuf)
                    .map_err(|e| anyhow!("smoltcp server recv: {e}"))?;
                if got == 0 {
                    break;
                }
                let put = s
                    .send_slice(rbuf.get(..got).unwrap_or_default())
                    .map_err(|e| anyhow!("smoltcp server send: {e}"))?;
                if put != got {
                    bail!("smoltcp: the server's send buffer is full");
                }
            }
        }
        let _ = ib.poll(now, &mut dev_b, &mut sb);
        let _ = ia.poll(now, &mut dev_a, &mut sa);
        let before = echoed;
        for _ in 0..waiting.len() {
            let Some(i) = waiting.pop_front() else { break };
            let (Some(&h), Some(&want)) = (clients.get(i), sent_seq.get(i)) else {
                bail!("no connection {i}");
            };
            let s = sa.get_mut::<tcp::Socket<'_>>(h);
            if s.recv_queue() < MSG {
                waiting.push_back(i);
                continue;
            }
            let got = s
                .recv_slice(&mut rbuf)
                .map_err(|e| anyhow!("smoltcp client recv: {e}"))?;
            if got != MSG {
                bail!("smoltcp: an echo of {got} bytes (messages are {MSG})");
            }
            digest = digest.wrapping_add(check_echo(
                &message(want),
                rbuf.get(..got).unwrap_or_default(),
            )?);
            echoed += 1;
        }
        idle_turns = if echoed == before { idle_turns + 1 } else { 0 };
        if idle_turns > 100_000 {
            bail!("smoltcp: no echo in 100,000 turns ({echoed} of {seq})");
        }
        now += smoltcp::time::Duration::from_micros(STEP.as_micros() as u64);
    }
    let wall = start.elapsed();
    let c = link.counts();
    let (f, z) = (c.frames, c.empty_tcp);
    Ok(Outcome {
        wall,
        digest,
        messages: echoed,
        segments: f - frames_before,
        pure_acks: z - bare_before,
        weft: None,
    })
}

// ---------------------------------------------------------------------------------------

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn describe(name: &str, n: usize, o: &Outcome) -> String {
    let secs = o.wall.as_secs_f64();
    format!(
        "{name}@{n}: {secs:.3} s, {} messages, {} segments ({} without payload{}), {:.0} \
         segments/s, {:.0} ns/segment",
        o.messages,
        o.segments,
        o.pure_acks,
        o.weft.map_or(String::new(), |w| format!(
            ", {} retransmitted, {:.2} deadline-set and {:.2} demux operations per segment",
            w.retransmitted,
            w.timer_ops as f64 / o.segments as f64,
            w.demux_ops as f64 / o.segments as f64
        )),
        o.segments as f64 / secs,
        secs * 1e9 / o.segments as f64
    )
}

pub fn tcp_conns_segments(_root: &Path) -> Result<()> {
    println!(
        "work: n TCP connections between two stacks (10.0.0.1 -> 10.0.0.2:{PORT}) over an \
         in-memory Ethernet wire, all established before timing; per loop turn the client \
         writes one {MSG}-byte message on each of the next {BATCH} connections (round robin), \
         the server echoes whatever is readable, the client reads and checks the echoes; \
         virtual time +{STEP:?} per turn; digest: sum of FNV-1a of every echoed message; \
         seed {SEED:#x}"
    );
    println!(
        "weft settings: weft-core Stack per side (features icmp, dhcp), TcpConfig {{ \
         send_buffer: {BUFFER}, recv_buffer: {BUFFER}, ..default }} (delayed ACK 40 ms, Nagle \
         on, NewReno), Limits::default() (65,536 connections, 1,024 queued frames, 4,096 \
         events), listen backlog 1,024, checksums computed and verified in software; the \
         server finds readable connections by TcpReadable events, the client by the same"
    );
    println!(
        "smoltcp settings: smoltcp 0.14 Interface per side over an in-memory Device, one \
         tcp::Socket per connection on each side ({BUFFER}-byte rx and tx buffers, defaults \
         otherwise: delayed ACK 10 ms, Nagle on), n server sockets listening on port {PORT}, \
         ChecksumCapabilities::default(); smoltcp has no readiness events, so its server and \
         client serve exactly the {BATCH} connections written to that turn"
    );
    println!(
        "segments/s: frames on the wire (each sent by one stack and received by the other) \
         per wall second of the measured phase, which covers both stacks and both \
         applications; {RUNS} alternating runs per pair, medians"
    );

    // For profiling one side alone: `WEFT_BENCH_PROFILE=weft|smoltcp:<connections>` runs
    // only that side, 5 times, and prints no ratio.
    if let Ok(spec) = std::env::var("WEFT_BENCH_PROFILE") {
        let (side, n) = spec
            .split_once(':')
            .and_then(|(s, n)| Some((s.to_string(), n.parse::<usize>().ok()?)))
            .ok_or_else(|| anyhow!("WEFT_BENCH_PROFILE={spec}: expected weft:N or smoltcp:N"))?;
        for _ in 0..5 {
            let o = match side.as_str() {
                "weft" => run_weft(n, MESSAGES_PEER)?,
                "smoltcp" => run_smol(n, MESSAGES_PEER)?,
                other => bail!("WEFT_BENCH_PROFILE: {other}: expected weft or smoltcp"),
            };
            println!("{}", describe(&side, n, &o));
        }
        return Ok(());
    }

    // weft with 10,000 connections against weft with 10: the same messages.
    let mut scale = Vec::new();
    let mut rate_few = Vec::new();
    let mut rate_many = Vec::new();
    let mut digest = None;
    for run in 0..RUNS {
        let few = run_weft(FEW, MESSAGES_SCALE)?;
        let many = run_weft(MANY, MESSAGES_SCALE)?;
        if few.digest != many.digest || few.messages != many.messages {
            bail!(
                "weft@{FEW} and weft@{MANY} did different work: digests {:#x} and {:#x}",
                few.digest,
                many.digest
            );
        }
        digest = Some(few.digest);
        println!(
            "run {run}: {} | {}",
            describe("weft", FEW, &few),
            describe("weft", MANY, &many)
        );
        let (rf, rm) = (
            few.segments as f64 / few.wall.as_secs_f64(),
            many.segments as f64 / many.wall.as_secs_f64(),
        );
        rate_few.push(rf);
        rate_many.push(rm);
        scale.push(rm / rf);
    }
    let scale = median(&mut scale);
    println!(
        "{MESSAGES_SCALE} messages, digest {:#018x} at both counts; weft segments/s: {:.0} \
         with {FEW} connections, {:.0} with {MANY}; weft@{MANY} / weft@{FEW} = {scale:.2} \
         (1.00: no slowdown with the connection count)",
        digest.unwrap_or_default(),
        median(&mut rate_few),
        median(&mut rate_many)
    );

    // weft against smoltcp with 10,000 connections (and smoltcp with 10, for its scaling).
    let mut ratios = Vec::new();
    for run in 0..RUNS {
        let w = run_weft(MANY, MESSAGES_PEER)?;
        let s = run_smol(MANY, MESSAGES_PEER)?;
        if w.digest != s.digest || w.messages != s.messages {
            bail!(
                "weft and smoltcp did different work: digests {:#x} and {:#x}",
                w.digest,
                s.digest
            );
        }
        println!(
            "peer run {run}: {} | {} | digest {:#018x} both",
            describe("weft", MANY, &w),
            describe("smoltcp", MANY, &s),
            w.digest
        );
        ratios.push(s.wall.as_secs_f64() / w.wall.as_secs_f64());
    }
    let s_few = run_smol(FEW, MESSAGES_PEER)?;
    let w_few = run_weft(FEW, MESSAGES_PEER)?;
    if s_few.digest != w_few.digest {
        bail!("weft@{FEW} and smoltcp@{FEW} did different work");
    }
    println!(
        "diagnostic, one run each: {} | {}",
        describe("weft", FEW, &w_few),
        describe("smoltcp", FEW, &s_few)
    );
    println!(
        "the ratio: smoltcp wall / weft wall for the same {MESSAGES_PEER} messages over \
         {MANY} connections (x > 1: weft faster); weft@{MANY} / weft@{FEW} segments/s = \
         {scale:.2} (above)"
    );
    println!("RATIO tcp_conns_segments {:.2}", median(&mut ratios));
    Ok(())
}
