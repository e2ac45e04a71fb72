//! `udp_rx_vs_smoltcp`: UDP datagrams through the whole receive path into a bound socket and
//! out to the application, weft-core's `Stack` against smoltcp's `Interface` in the same run.
//!
//! Both sides get the same pre-built Ethernet II / IPv4 / UDP frames (valid checksums, a seeded
//! mix of 64-, 512- and 1400-byte payloads, addressed to the stack's MAC and IPv4 address and
//! the bound port, from one peer on a few source ports) in batches; after each batch the
//! application reads every datagram out of the socket and folds its source endpoint, length
//! and payload into a digest. Both sides verify the IPv4 header and UDP checksums in software.
//! The peer's ARP entry is learned from an ARP request before the measurement, so no ARP
//! traffic is in the measured loop (the run fails if either side sends anything).

use anyhow::{Context, Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::socket::udp;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpListenEndpoint};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;
use weft_core::{IfaceId, InterfaceConfig, Limits, RxMeta, Stack, StackConfig, UdpSocketId};
use weft_wire::arp::{ArpOperation, ArpRepr};
use weft_wire::ethernet::{EtherType, EthernetRepr};
use weft_wire::ipv4::{IpProtocol, Ipv4Repr};
use weft_wire::udp::UdpRepr;
use weft_wire::{Ipv4Addr, MacAddr};

// ---------------------------------------------------------------------------------------
// The scenario.

const OUR_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
const OUR_IP: [u8; 4] = [10, 0, 0, 1];
const PEER_IP: [u8; 4] = [10, 0, 0, 2];
const PREFIX: u8 = 24;
/// The port both sides bind (on the wildcard address).
const PORT: u16 = 9000;
/// Distinct frames in the mix; each pass feeds all of them once.
const FRAMES: usize = 1024;
/// Payload sizes, drawn uniformly per frame.
const SIZES: [usize; 3] = [64, 512, 1400];
/// Frames handed to a side before the application drains its socket.
const BATCH: usize = 32;
/// Datagrams and payload bytes the smoltcp socket's receive ring holds; weft's per-socket
/// bounds are `Limits::default()`'s (printed). Both are above one batch.
const SMOL_RX_SLOTS: usize = 64;
const SMOL_RX_BYTES: usize = 64 * 1500;
const SEED: u64 = 0x7564_7072_7862_656e;

fn our_ip() -> Ipv4Addr {
    let [a, b, c, d] = OUR_IP;
    Ipv4Addr::new(a, b, c, d)
}
fn peer_ip() -> Ipv4Addr {
    let [a, b, c, d] = PEER_IP;
    Ipv4Addr::new(a, b, c, d)
}

/// One datagram of the mix: the frame and what the application must see.
struct Datagram {
    frame: Vec<u8>,
    src_port: u16,
    payload: Vec<u8>,
}

/// Builds the mix with weft-wire's Reprs (which compute both checksums).
fn build_mix() -> Result<Vec<Datagram>> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let ports: [u16; 4] = [rng.gen_range(49152..=65535), 53, 5353, 40001];
    let mut out = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        let len = *SIZES.get(rng.gen_range(0..SIZES.len())).context("size")?;
        let src_port = *ports.get(rng.gen_range(0..ports.len())).context("port")?;
        let payload: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let frame = udp_frame(src_port, i as u16, &payload)?;
        out.push(Datagram {
            frame,
            src_port,
            payload,
        });
    }
    Ok(out)
}

fn udp_frame(src_port: u16, ident: u16, payload: &[u8]) -> Result<Vec<u8>> {
    let udp = UdpRepr {
        src_port,
        dst_port: PORT,
        payload,
    };
    let ip = Ipv4Repr {
        src: peer_ip(),
        dst: our_ip(),
        protocol: IpProtocol::UDP,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident,
        reserved_flag: false,
        dont_frag: true,
        more_frags: false,
        frag_offset_units: 0,
        options: Default::default(),
        options_padding: &[],
        payload_len: udp.buffer_len(),
    };
    let eth = EthernetRepr {
        dst: MacAddr(OUR_MAC),
        src: MacAddr(PEER_MAC),
        vlans: Default::default(),
        ethertype: EtherType::IPV4,
    };
    let (eth_len, ip_len) = (eth.header_len(), ip.header_len());
    let mut buf = vec![0u8; eth_len + ip.buffer_len()];
    eth.emit(&mut buf)?;
    ip.emit(buf.get_mut(eth_len..).context("ipv4 buffer")?)?;
    udp.emit(
        peer_ip(),
        our_ip(),
        buf.get_mut(eth_len + ip_len..).context("udp buffer")?,
    )?;
    Ok(buf)
}

/// The peer's ARP request for our address, from which both sides learn its MAC.
fn arp_request() -> Result<Vec<u8>> {
    let arp = ArpRepr {
        operation: ArpOperation::REQUEST,
        sender_mac: MacAddr(PEER_MAC),
        sender_ip: peer_ip(),
        target_mac: MacAddr::ZERO,
        target_ip: our_ip(),
    };
    let eth = EthernetRepr {
        dst: MacAddr::BROADCAST,
        src: MacAddr(PEER_MAC),
        vlans: Default::default(),
        ethertype: EtherType::ARP,
    };
    let mut buf = vec![0u8; eth.header_len() + 28];
    let n = eth.emit(&mut buf)?;
    arp.emit(buf.get_mut(n..).context("arp buffer")?)?;
    Ok(buf)
}

// ---------------------------------------------------------------------------------------
// The digest the application folds what it reads into.

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[inline(always)]
fn fnv(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(FNV_PRIME)
}

/// Reads every payload byte: a sum and a rotated xor of its little-endian 64-bit words (the
/// tail zero-padded). Cheap and vectorisable, so the application's share stays small and is
/// the same code on both sides.
#[inline(always)]
fn fold_payload(p: &[u8]) -> u64 {
    let (mut sum, mut x) = (0u64, 0u64);
    let mut words = p.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let v = u64::from_le_bytes(b);
        sum = sum.wrapping_add(v);
        x ^= v.rotate_left(17);
    }
    let rest = words.remainder();
    let mut b = [0u8; 8];
    if let Some(t) = b.get_mut(..rest.len()) {
        t.copy_from_slice(rest);
    }
    let v = u64::from_le_bytes(b);
    sum.wrapping_add(v) ^ (x ^ v.rotate_left(17)).rotate_left(32)
}

/// One datagram's contribution, chained into the running digest.
#[inline(always)]
fn fold_datagram(acc: u64, src_ip: u32, src_port: u16, payload: &[u8]) -> u64 {
    let mut h = fnv(FNV_BASIS, (u64::from(src_ip) << 16) | u64::from(src_port));
    h = fnv(h, payload.len() as u64);
    h = fnv(h, fold_payload(payload));
    fnv(acc, h)
}

/// What one pass over a frame list produced: the digest, datagrams read, frames sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PassResult {
    digest: u64,
    delivered: usize,
    sent: usize,
}

/// The digest a pass must produce: every datagram, in order.
fn expected(mix: &[&Datagram]) -> PassResult {
    let digest = mix.iter().fold(FNV_BASIS, |acc, d| {
        fold_datagram(acc, u32::from(peer_ip()), d.src_port, &d.payload)
    });
    PassResult {
        digest,
        delivered: mix.len(),
        sent: 0,
    }
}

// ---------------------------------------------------------------------------------------
// weft-core.

struct WeftSide {
    stack: Stack,
    socket: UdpSocketId,
    now: weft_core::Instant,
    tx_buf: Vec<u8>,
}

const IFACE: IfaceId = IfaceId(0);

impl WeftSide {
    fn new(arp: &[u8]) -> Result<WeftSide> {
        let mut config = StackConfig::new(SEED);
        config.add_interface(InterfaceConfig::ethernet(
            MacAddr(OUR_MAC),
            our_ip(),
            PREFIX,
        ));
        let t0 = weft_core::Instant::from_secs(1);
        let mut stack = Stack::new(config, t0).context("weft Stack::new")?;
        let socket = stack
            .udp_bind(Ipv4Addr::UNSPECIFIED, PORT)
            .context("weft udp_bind")?;
        let mut side = WeftSide {
            stack,
            socket,
            now: t0,
            tx_buf: vec![0u8; 2048],
        };
        // Let the start-up announcements (RFC 5227 §2.3) run out, then learn the peer.
        side.drain();
        let settle = weft_core::Instant::from_secs(10);
        while let Some(t) = side.stack.poll_timeout().filter(|t| *t <= settle) {
            side.stack.handle_timeout(t);
            side.drain();
        }
        side.now = settle;
        side.stack
            .handle_frame(side.now, IFACE, arp, RxMeta::default());
        side.drain();
        if side.stack.arp_lookup(side.now, IFACE, peer_ip()) != Some(MacAddr(PEER_MAC)) {
            bail!("weft did not learn the peer's MAC from its ARP request");
        }
        Ok(side)
    }

    /// Takes every frame to send and every event; returns the frames.
    fn drain(&mut self) -> usize {
        let mut sent = 0;
        while self
            .stack
            .poll_transmit(self.now, &mut self.tx_buf)
            .is_some()
        {
            sent += 1;
        }
        while self.stack.poll_event().is_some() {}
        sent
    }

    /// The documented driver loop per batch: `handle_frame` for each frame, then
    /// `poll_transmit` and `poll_event` until `None`; then the application reads the socket.
    #[inline(never)]
    fn pass(&mut self, frames: &[&[u8]]) -> PassResult {
        let mut r = PassResult {
            digest: FNV_BASIS,
            delivered: 0,
            sent: 0,
        };
        for batch in frames.chunks(BATCH) {
            for f in batch {
                self.stack
                    .handle_frame(self.now, IFACE, f, RxMeta::default());
            }
            r.sent += self.drain();
            // Both sides lend the payload from their receive rings (smoltcp's `recv`,
            // weft's `udp_recv_with`): no copy out, no allocation.
            loop {
                let digest = r.digest;
                let read = self.stack.udp_recv_with(self.socket, |m, payload| {
                    fold_datagram(digest, u32::from(m.src.0), m.src.1, payload)
                });
                match read {
                    Ok(Some(d)) => {
                        r.digest = d;
                        r.delivered += 1;
                    }
                    _ => break,
                }
            }
        }
        r
    }
}

// ---------------------------------------------------------------------------------------
// smoltcp.

/// A device that hands over a slice of frames from memory and counts what is sent.
struct MemDevice<'a> {
    frames: &'a [&'a [u8]],
    next: usize,
    tx_buf: &'a mut Vec<u8>,
    sent: &'a mut usize,
}

struct MemRx<'a>(&'a [u8]);

struct MemTx<'a> {
    buf: &'a mut Vec<u8>,
    sent: &'a mut usize,
}

impl smoltcp::phy::RxToken for MemRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl smoltcp::phy::TxToken for MemTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.buf.resize(len, 0);
        *self.sent += 1;
        f(self.buf)
    }
}

impl Device for MemDevice<'_> {
    type RxToken<'b>
        = MemRx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = MemTx<'b>
    where
        Self: 'b;

    fn receive(
        &mut self,
        _now: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let f = self.frames.get(self.next)?;
        self.next += 1;
        Some((
            MemRx(f),
            MemTx {
                buf: self.tx_buf,
                sent: self.sent,
            },
        ))
    }

    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(MemTx {
            buf: self.tx_buf,
            sent: self.sent,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        // `checksum` stays `ChecksumCapabilities::default()`: verify on receive, compute on
        // send, for IPv4, UDP, TCP and ICMP.
        caps
    }
}

struct SmolSide {
    iface: Interface,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
    now: smoltcp::time::Instant,
    tx_buf: Vec<u8>,
}

impl SmolSide {
    fn new(arp: &[u8]) -> Result<SmolSide> {
        let now = smoltcp::time::Instant::from_secs(10);
        let mut tx_buf = Vec::with_capacity(2048);
        let mut sent = 0;
        let mut config = Config::new(EthernetAddress(OUR_MAC).into());
        config.random_seed = SEED;
        let mut iface = {
            let mut dev = MemDevice {
                frames: &[],
                next: 0,
                tx_buf: &mut tx_buf,
                sent: &mut sent,
            };
            Interface::new(config, &mut dev, now)
        };
        let [a, b, c, d] = OUR_IP;
        iface.update_ip_addrs(|addrs| {
            // One address into an empty list cannot overflow it.
            let _ = addrs.push(IpCidr::new(IpAddress::v4(a, b, c, d), PREFIX));
        });
        let mut sockets = SocketSet::new(Vec::new());
        let rx = udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; SMOL_RX_SLOTS],
            vec![0u8; SMOL_RX_BYTES],
        );
        let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0u8; 2048]);
        let mut socket = udp::Socket::new(rx, tx);
        socket
            .bind(IpListenEndpoint {
                addr: None,
                port: PORT,
            })
            .map_err(|e| anyhow::anyhow!("smoltcp bind: {e}"))?;
        let handle = sockets.add(socket);
        let mut side = SmolSide {
            iface,
            sockets,
            handle,
            now,
            tx_buf,
        };
        // Learn the peer from its ARP request (smoltcp answers it; the reply is discarded).
        side.poll(&[arp]);
        Ok(side)
    }

    /// One `Interface::poll` over `frames`; returns the frames sent.
    #[inline(always)]
    fn poll(&mut self, frames: &[&[u8]]) -> usize {
        let mut sent = 0;
        let mut dev = MemDevice {
            frames,
            next: 0,
            tx_buf: &mut self.tx_buf,
            sent: &mut sent,
        };
        let _ = self.iface.poll(self.now, &mut dev, &mut self.sockets);
        sent
    }

    /// Per batch: one `Interface::poll` (it takes frames until the device has none, then
    /// runs egress); then the application reads the socket with `recv`.
    #[inline(never)]
    fn pass(&mut self, frames: &[&[u8]]) -> PassResult {
        let mut r = PassResult {
            digest: FNV_BASIS,
            delivered: 0,
            sent: 0,
        };
        for batch in frames.chunks(BATCH) {
            r.sent += self.poll(batch);
            let socket = self.sockets.get_mut::<udp::Socket<'_>>(self.handle);
            while let Ok((payload, meta)) = socket.recv() {
                let src = match meta.endpoint.addr {
                    IpAddress::Ipv4(a) => u32::from(a),
                };
                r.digest = fold_datagram(r.digest, src, meta.endpoint.port, payload);
                r.delivered += 1;
            }
        }
        r
    }
}

// ---------------------------------------------------------------------------------------
// Timing.

/// Runs per side (at least 15; odd, so the median is one run).
const RUNS: usize = 21;
/// Wall time one run aims at.
const RUN_TARGET: Duration = Duration::from_millis(75);
/// Warm-up before calibration.
const WARMUP: Duration = Duration::from_millis(300);

/// Runs `pass` over `frames` `reps` times; returns the time taken and the last result,
/// failing if any pass differs from the others.
// xtask measures wall time; the stack itself never reads a clock.
#[allow(clippy::disallowed_methods)]
fn time_side(
    frames: &[&[u8]],
    reps: usize,
    mut pass: impl FnMut(&[&[u8]]) -> PassResult,
) -> (Duration, PassResult) {
    let start = std::time::Instant::now();
    let mut last = PassResult {
        digest: 0,
        delivered: 0,
        sent: 0,
    };
    for _ in 0..reps {
        last = black_box(pass(black_box(frames)));
    }
    (start.elapsed(), last)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("min {lo:.2}, max {hi:.2}")
}

fn check(side: &str, got: PassResult, want: PassResult) -> Result<()> {
    if got != want {
        bail!(
            "{side}: pass gave digest {:#018x}, {} datagrams read, {} frames sent; expected \
             {:#018x}, {}, 0: the two sides did not do the same work",
            got.digest,
            got.delivered,
            got.sent,
            want.digest,
            want.delivered
        );
    }
    Ok(())
}

/// Per-side medians (ns/datagram) and the per-pair ratios of alternating runs.
struct Measured {
    weft: Vec<f64>,
    smol: Vec<f64>,
    ratios: Vec<f64>,
    reps: usize,
    warm: Duration,
    /// The last run's results (both equal to the expected one).
    last: (PassResult, PassResult),
}

fn measure(
    weft: &mut WeftSide,
    smol: &mut SmolSide,
    frames: &[&[u8]],
    want: PassResult,
    runs: usize,
    warmup: Duration,
    target: Duration,
) -> Result<Measured> {
    let (mut warm, mut reps) = (Duration::ZERO, 1);
    let (mut per_w, mut per_s) = (Duration::ZERO, Duration::ZERO);
    while warm < warmup {
        let (tw, rw) = time_side(frames, reps, |f| weft.pass(f));
        let (ts, rs) = time_side(frames, reps, |f| smol.pass(f));
        check("weft", rw, want)?;
        check("smoltcp", rs, want)?;
        warm += tw + ts;
        per_w = tw / reps as u32;
        per_s = ts / reps as u32;
        reps *= 2;
    }
    let per_pass = (per_w + per_s) / 2;
    let reps = (target.as_nanos() / per_pass.as_nanos().max(1)).max(1) as usize;
    let per_run = (reps * frames.len()) as f64;
    let mut m = Measured {
        weft: Vec::new(),
        smol: Vec::new(),
        ratios: Vec::new(),
        reps,
        warm,
        last: (want, want),
    };
    for _ in 0..runs {
        let (tw, rw) = time_side(frames, reps, |f| weft.pass(f));
        let (ts, rs) = time_side(frames, reps, |f| smol.pass(f));
        check("weft", rw, want)?;
        check("smoltcp", rs, want)?;
        m.last = (rw, rs);
        m.weft.push(tw.as_nanos() as f64 / per_run);
        m.smol.push(ts.as_nanos() as f64 / per_run);
        m.ratios.push(ts.as_secs_f64() / tw.as_secs_f64());
    }
    Ok(m)
}

pub fn udp_rx_vs_smoltcp(_root: &Path) -> Result<()> {
    let mix = build_mix()?;
    let arp = arp_request()?;
    let all: Vec<&Datagram> = mix.iter().collect();
    let frames: Vec<&[u8]> = mix.iter().map(|d| d.frame.as_slice()).collect();
    let want = expected(&all);
    let counts: Vec<String> = SIZES
        .iter()
        .map(|s| {
            let n = mix.iter().filter(|d| d.payload.len() == *s).count();
            format!("{s} B x{n}")
        })
        .collect();
    let bytes: usize = mix.iter().map(|d| d.payload.len()).sum();
    println!(
        "mix: {FRAMES} Ethernet/IPv4/UDP frames ({}; {:.0} payload bytes on average), valid \
         IPv4 and UDP checksums, {} -> {}:{PORT} from 4 source ports; seed {SEED:#018x}",
        counts.join(", "),
        bytes as f64 / FRAMES as f64,
        peer_ip(),
        our_ip()
    );

    let mut weft = WeftSide::new(&arp)?;
    let mut smol = SmolSide::new(&arp)?;
    let limits = Limits::default();
    println!(
        "weft settings: weft-core Stack (features icmp, dhcp), one interface {}/{PREFIX}, \
         socket bound to 0.0.0.0:{PORT}; RxMeta::default() (ChecksumState::Unknown: IPv4 header \
         and UDP checksums verified in software); receive queue {} datagrams / {} bytes \
         (Limits::default()); per batch: handle_frame per frame, poll_transmit and poll_event \
         until None, udp_recv_with until None (the payload lent from the socket's ring)",
        our_ip(),
        limits.udp_rx_datagrams,
        limits.udp_rx_bytes
    );
    println!(
        "smoltcp settings: smoltcp 0.14 Interface (features std, medium-ethernet, proto-ipv4, \
         socket-udp), one address {}/{PREFIX}, udp::Socket bound to *:{PORT}; \
         ChecksumCapabilities::default() (verify on receive); receive ring {SMOL_RX_SLOTS} \
         datagrams / {SMOL_RX_BYTES} bytes; per batch: one Interface::poll over an in-memory \
         Device, then udp::Socket::recv until Exhausted (a borrowed slice each)",
        our_ip()
    );
    println!(
        "both: batches of {BATCH} frames, well inside both receive queues; the peer's MAC \
         learned from its ARP request before measuring; the application folds source \
         address/port, length and every payload byte into a digest"
    );

    let m = measure(
        &mut weft, &mut smol, &frames, want, RUNS, WARMUP, RUN_TARGET,
    )?;
    println!(
        "method: {} ms warm-up, then {RUNS} alternating runs per side (weft, smoltcp, weft, \
         ...), each {} passes over the {FRAMES}-frame mix (~{} ms), std::hint::black_box on \
         the frames and each pass's result, std::time::Instant; per-pass functions \
         #[inline(never)]",
        m.warm.as_millis(),
        m.reps,
        RUN_TARGET.as_millis()
    );
    let c = weft.stack.counters();
    if c.udp.rx_queue_full != 0 || c.queues.events_dropped != 0 {
        bail!(
            "weft dropped datagrams ({} queue full) or events ({}): the batches are too large",
            c.udp.rx_queue_full,
            c.queues.events_dropped
        );
    }
    println!(
        "datagrams: {FRAMES} per pass, {} per run; every pass read all of them on both sides, \
         no frame sent by either side in the measured loop",
        m.reps * FRAMES
    );
    println!(
        "digest: weft {:#018x}, smoltcp {:#018x}, expected {:#018x} (equal)",
        m.last.0.digest, m.last.1.digest, want.digest
    );
    println!(
        "weft:    median {:.1} ns/datagram ({})",
        median(&m.weft),
        spread(&m.weft)
    );
    println!(
        "smoltcp: median {:.1} ns/datagram ({})",
        median(&m.smol),
        spread(&m.smol)
    );
    println!("per-pair ratio smoltcp/weft: {}", spread(&m.ratios));

    // Diagnostic: each payload size alone (shorter runs).
    let mut parts = Vec::new();
    for size in SIZES {
        let sub: Vec<&Datagram> = mix.iter().filter(|d| d.payload.len() == size).collect();
        let f: Vec<&[u8]> = sub.iter().map(|d| d.frame.as_slice()).collect();
        let k = measure(
            &mut weft,
            &mut smol,
            &f,
            expected(&sub),
            7,
            Duration::from_millis(20),
            Duration::from_millis(20),
        )?;
        parts.push(format!(
            "{size} B {:.1}/{:.1} ({:.2})",
            median(&k.weft),
            median(&k.smol),
            median(&k.ratios)
        ));
    }
    println!(
        "by payload size, weft/smoltcp ns/datagram (ratio), diagnostic: {}",
        parts.join(", ")
    );
    println!("RATIO udp_rx_vs_smoltcp {:.2}", median(&m.ratios));
    Ok(())
}
