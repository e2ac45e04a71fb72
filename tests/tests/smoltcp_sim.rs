//! TCP interop with smoltcp 0.14 on the simulator: weft's TCP (weft-net's `TcpNet` on the
//! direct backend, `SimNet`) against smoltcp's `Interface` running as a raw host
//! (`SimBuilder::raw_host`), both on one simulated switch, over the simulator's link model.
//!
//! smoltcp's host is a `Device` over the bare NIC the simulator gives it (`SimLink`: frames
//! in and out through weft-core's `Link`, its MAC from `SimLink::mac`), and an `Interface`
//! polled on virtual time: poll, let the application move bytes, poll again, then sleep until
//! smoltcp's `poll_delay` or until a frame arrives (`AsyncLink::poll_recv_ready`), whichever
//! is first. Both sides compute and verify every checksum; ARP runs for real.
//!
//! Each run: a connection (weft client → smoltcp server, or smoltcp client → weft server),
//! `BULK` bytes each way at once, each side checking what it receives byte for byte against
//! what the other sent (and by digest), then a graceful close from both ends (each sends its
//! FIN once its data is written and reads to the peer's FIN) ending in TIME-WAIT or CLOSED
//! on both sides with no RST anywhere. First on clean links, then over lossy ones (loss,
//! duplication, reordering, jitter, single-bit corruption) for several seeds, where the faults
//! must have fired, both sides must have retransmitted, and the simulator's oracles (the
//! sender-side monitor checks smoltcp's frames too, against the address the raw host is
//! declared with and the MAC it was given; liveness) must pass.
//!
//! What the runs show (printed per run: virtual time, segments, retransmissions, fault
//! counts): on clean links 10 MiB each way take about 0.18 s of virtual time with no
//! retransmission. On the lossy links weft's 10 MiB reach smoltcp in 3-7 s, but smoltcp's
//! reach weft only after tens to hundreds of seconds: smoltcp repairs a second hole in a
//! window only by its retransmission timer (no partial-ACK retransmission, no SACK), resends
//! the whole window from there, its RTO has a 1 s floor and stays backed off (doubling to
//! 60 s) until a fresh RTT sample, which resent data never gives. Its longest silence is
//! printed; weft meanwhile acknowledges every segment and keeps what arrived out of order.
//!
//! `WEFT_SMOLTCP_SIM_SEEDS=a,b,c` runs the lossy test with other seeds; `WEFT_SMOLTCP_SIM_PCAPS`
//! names a directory to write each run's pcaps to.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::task::{Poll, Waker};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
use std::cell::{Cell, RefCell};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use weft_core::link::{Link, RxToken, TxMeta, TxToken};
use weft_core::tcp::State;
use weft_core::{Duration, Instant, TcpInfo};
use weft_net::link::AsyncLink;
use weft_net::runtime::Runtime;
use weft_net::{Flow, Listener, Net, TcpNet};
use weft_sim::{
    FaultSource, HostConfig, LinkConfig, LinkSpec, Loss, Report, Sim, SimLink, SimNet, SimRuntime,
    SimRx,
};

const WEFT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SMOL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PREFIX: u8 = 24;
/// The server's port (either side).
const PORT: u16 = 8080;
/// smoltcp's local port when it is the client.
const SMOL_CLIENT_PORT: u16 = 50_000;
/// smoltcp's send and receive buffers (weft's are its defaults, 64 KiB).
const SMOL_BUF: usize = 64 * 1024;
/// Bytes each way.
const BULK: usize = 10 << 20;
/// Virtual time a run may take.
const LIMIT: Instant = Instant::from_secs(600);
/// How often the weft application looks at its connection's state while closing.
const STATE_POLL: Duration = Duration::from_millis(5);

const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Weft,
    Smol,
}

const BOTH: [Client; 2] = [Client::Weft, Client::Smol];

fn secs(t: Instant) -> f64 {
    t.as_nanos() as f64 / 1e9
}

// ---------------------------------------------------------------------------------------
// Payloads.

const DIGEST_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// A 64-bit FNV-1a digest.
fn digest(mut h: u64, data: &[u8]) -> u64 {
    for b in data {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn payload(len: usize, seed: u64) -> Rc<Vec<u8>> {
    let mut data = vec![0u8; len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
    Rc::new(data)
}

/// What one side receives, checked byte for byte against what the other sent.
#[derive(Debug, Clone)]
struct Sink {
    expect: Rc<Vec<u8>>,
    got: usize,
    digest: u64,
    eof: bool,
    /// When the last byte arrived.
    complete_at: Option<Instant>,
}

impl Sink {
    fn new(expect: Rc<Vec<u8>>) -> Sink {
        Sink {
            expect,
            got: 0,
            digest: DIGEST_BASIS,
            eof: false,
            complete_at: None,
        }
    }

    fn take(&mut self, who: &str, now: Instant, data: &[u8]) {
        assert!(!self.eof, "{who} read data after the end of the stream");
        let end = self.got + data.len();
        assert!(
            end <= self.expect.len(),
            "{who} received {end} bytes, {} were sent",
            self.expect.len()
        );
        if let Some(i) = (0..data.len()).find(|&i| data[i] != self.expect[self.got + i]) {
            panic!(
                "{who} received byte {} = {:#04x}, {:#04x} was sent",
                self.got + i,
                data[i],
                self.expect[self.got + i]
            );
        }
        self.digest = digest(self.digest, data);
        self.got = end;
        if end == self.expect.len() && self.complete_at.is_none() {
            self.complete_at = Some(now);
        }
    }

    /// Everything arrived, then the end of the stream, and the digests agree.
    fn check(&self, who: &str) {
        assert_eq!(self.got, self.expect.len(), "{who}: bytes received");
        assert!(self.eof, "{who}: the end of the stream");
        let sent = digest(DIGEST_BASIS, &self.expect);
        assert_eq!(self.digest, sent, "{who}: digest of the received bytes");
        println!(
            "  {who} received {} bytes and the FIN, FNV-1a-64 {:#018x} (sender's {sent:#018x})",
            self.got, self.digest
        );
    }
}

// ---------------------------------------------------------------------------------------
// A tap on smoltcp's segments, as it sent them (before any fault).

/// The TCP fields of an Ethernet/IPv4/TCP frame (smoltcp sends no IPv4 options or tags).
#[derive(Debug, Clone, Copy)]
struct SegInfo {
    seq: u32,
    syn: bool,
    fin: bool,
    rst: bool,
    len: usize,
}

fn seg_info(f: &[u8]) -> Option<SegInfo> {
    if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let t = 14 + ihl;
    let doff = usize::from(f[t + 12] >> 4) * 4;
    let flags = f[t + 13];
    Some(SegInfo {
        seq: u32::from_be_bytes([f[t + 4], f[t + 5], f[t + 6], f[t + 7]]),
        fin: flags & 0x01 != 0,
        syn: flags & 0x02 != 0,
        rst: flags & 0x04 != 0,
        len: total - ihl - doff,
    })
}

/// `a - b` in sequence space.
fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

#[derive(Debug, Default, Clone)]
struct TcpTap {
    segments: u64,
    data_segments: u64,
    payload_bytes: u64,
    /// Segments whose payload ends at or below the highest sequence number already sent.
    retransmissions: u64,
    syn: u64,
    fin: u64,
    rst: u64,
    high: Option<u32>,
    /// The virtual time of each RST, with its SEG.SEQ.
    rsts: Vec<(Instant, u32)>,
    last: Option<Instant>,
    /// The longest silence between two segments, and when it ended.
    longest_silence: (Duration, Instant),
}

impl TcpTap {
    fn observe(&mut self, now: Instant, f: &[u8]) {
        let Some(SegInfo {
            seq,
            syn,
            fin,
            rst,
            len,
        }) = seg_info(f)
        else {
            return;
        };
        self.segments += 1;
        if let Some(last) = self.last {
            let gap = Duration::from_nanos(now.as_nanos() - last.as_nanos());
            if gap > self.longest_silence.0 {
                self.longest_silence = (gap, now);
            }
        }
        self.last = Some(now);
        self.syn += u64::from(syn);
        self.fin += u64::from(fin);
        self.rst += u64::from(rst);
        if rst {
            self.rsts.push((now, seq));
        }
        let end = seq
            .wrapping_add(len as u32)
            .wrapping_add(u32::from(syn) + u32::from(fin));
        if len > 0 {
            self.data_segments += 1;
            self.payload_bytes += len as u64;
            if self.high.is_some_and(|h| seq_diff(end, h) <= 0) {
                self.retransmissions += 1;
            }
        }
        if !rst && self.high.is_none_or(|h| seq_diff(end, h) > 0) {
            self.high = Some(end);
        }
    }
}

/// Frames that reached smoltcp with a checksum that does not verify (IPv4 header or TCP):
/// corruption smoltcp must drop.
fn bad_checksum(f: &[u8]) -> bool {
    let Ok(eth) = weft_wire::EthernetFrame::new_checked(f) else {
        return false;
    };
    if eth.ethertype() != weft_wire::EtherType::IPV4 {
        return false;
    }
    let Ok(ip) = weft_wire::Ipv4Packet::new_checked(eth.payload()) else {
        return false;
    };
    if !ip.verify_checksum() {
        return true;
    }
    ip.protocol() == weft_wire::IpProtocol::TCP
        && !ip.is_fragment()
        && weft_wire::TcpPacket::new_checked(ip.payload())
            .is_ok_and(|t| !t.verify_checksum(ip.src(), ip.dst()))
}

// ---------------------------------------------------------------------------------------
// smoltcp's device: the raw host's NIC.

struct SimDevice {
    nic: SimLink,
    /// smoltcp's segments as sent.
    tap: TcpTap,
    rx_frames: u64,
    /// Shared with the receive tokens, which see the frames.
    rx_bad_checksum: Rc<Cell<u64>>,
    /// Virtual time of the current poll.
    now: Instant,
}

struct SmolRx(SimRx, Rc<Cell<u64>>);

struct SmolTx<'a> {
    nic: &'a mut SimLink,
    tap: &'a mut TcpTap,
    now: Instant,
}

impl smoltcp::phy::RxToken for SmolRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let bad = self.1;
        self.0.consume(|frame, _meta| {
            if bad_checksum(frame) {
                bad.set(bad.get() + 1);
            }
            f(frame)
        })
    }
}

impl smoltcp::phy::TxToken for SmolTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let (tap, now) = (self.tap, self.now);
        let tx = self
            .nic
            .transmit()
            .expect("the simulated NIC always has room");
        tx.consume(len, TxMeta::default(), |buf| {
            let r = f(buf);
            tap.observe(now, buf);
            r
        })
    }
}

impl Device for SimDevice {
    type RxToken<'b>
        = SmolRx
    where
        Self: 'b;
    type TxToken<'b>
        = SmolTx<'b>
    where
        Self: 'b;

    fn receive(
        &mut self,
        _now: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let rx = self.nic.receive()?;
        self.rx_frames += 1;
        Some((
            SmolRx(rx, self.rx_bad_checksum.clone()),
            SmolTx {
                nic: &mut self.nic,
                tap: &mut self.tap,
                now: self.now,
            },
        ))
    }

    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(SmolTx {
            nic: &mut self.nic,
            tap: &mut self.tap,
            now: self.now,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.nic.max_frame_len();
        // `checksum` stays `ChecksumCapabilities::default()`: computed on send and verified
        // on receive for IPv4 and TCP.
        caps
    }
}

// ---------------------------------------------------------------------------------------
// The two applications.

/// Set once by the weft application when it is done; smoltcp's host keeps answering (a
/// retransmitted FIN in TIME-WAIT, say) until then.
#[derive(Default)]
struct Signal {
    set: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    fn set(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// What smoltcp's side did.
#[derive(Debug, Default)]
struct SmolOut {
    mac: Option<weft_wire::MacAddr>,
    sink: Option<Sink>,
    sent: usize,
    established: Option<Instant>,
    /// When its transfer was complete and it reached TIME-WAIT or CLOSED.
    finished: Option<Instant>,
    /// States in the order smoltcp's socket went through them.
    states: Vec<tcp::State>,
    tap: TcpTap,
    rx_frames: u64,
    rx_bad_checksum: u64,
    polls: u64,
    error: Option<String>,
}

impl SmolOut {
    /// Records smoltcp's socket state when it changed.
    fn note(&mut self, now: Instant, state: tcp::State) {
        if self.states.last() != Some(&state) {
            self.states.push(state);
        }
        if self.established.is_none() && state == tcp::State::Established {
            self.established = Some(now);
        }
    }
}

fn smol_instant(t: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros((t.as_nanos() / 1_000) as i64)
}

struct SmolJob {
    client: Client,
    seed: u64,
    send: Rc<Vec<u8>>,
    expect: Rc<Vec<u8>>,
    weft_done: Rc<Signal>,
    out: Rc<RefCell<SmolOut>>,
}

/// The raw host: smoltcp's `Interface` on the simulator's NIC and virtual time.
async fn smoltcp_host(nic: SimLink, rt: SimRuntime, job: SmolJob) {
    let mac = nic.mac();
    let mut dev = SimDevice {
        nic,
        tap: TcpTap::default(),
        rx_frames: 0,
        rx_bad_checksum: Rc::default(),
        now: rt.now(),
    };
    let mut config = Config::new(EthernetAddress(mac.0).into());
    config.random_seed = job.seed ^ 0x5eed;
    let mut iface = Interface::new(config, &mut dev, smol_instant(rt.now()));
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::Ipv4(SMOL_IP), PREFIX))
            .unwrap();
    });
    let mut sockets = SocketSet::new(Vec::new());
    let h = sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; SMOL_BUF]),
        tcp::SocketBuffer::new(vec![0u8; SMOL_BUF]),
    ));
    match job.client {
        Client::Weft => sockets.get_mut::<tcp::Socket<'_>>(h).listen(PORT).unwrap(),
        Client::Smol => {
            let cx = iface.context();
            sockets
                .get_mut::<tcp::Socket<'_>>(h)
                .connect(cx, (IpAddress::Ipv4(WEFT_IP), PORT), SMOL_CLIENT_PORT)
                .unwrap();
        }
    }
    let mut sink = Sink::new(job.expect.clone());
    let mut off = 0usize;
    let mut closed = false;
    let mut finished = false;
    let mut buf = vec![0u8; 32 * 1024];
    let mut polls = 0u64;
    {
        let mut o = job.out.borrow_mut();
        o.mac = Some(mac);
        o.states.push(sockets.get::<tcp::Socket<'_>>(h).state());
    }
    loop {
        let now = rt.now();
        let snow = smol_instant(now);
        dev.now = now;
        iface.poll(snow, &mut dev, &mut sockets);
        polls += 1;
        // The application: write what fits, read what arrived, close once all is written.
        let s = sockets.get_mut::<tcp::Socket<'_>>(h);
        job.out.borrow_mut().note(now, s.state());
        while off < job.send.len() && s.can_send() {
            match s.send_slice(&job.send[off..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => off += n,
            }
        }
        if off == job.send.len() && !closed && s.may_send() {
            s.close();
            closed = true;
            job.out.borrow_mut().note(now, s.state());
        }
        while !sink.eof {
            match s.recv_slice(&mut buf) {
                Ok(0) => break,
                Ok(n) => sink.take("smoltcp", now, &buf[..n]),
                Err(tcp::RecvError::Finished) => sink.eof = true,
                Err(tcp::RecvError::InvalidState) => break,
            }
        }
        let state = s.state();
        if !finished
            && closed
            && sink.eof
            && matches!(state, tcp::State::TimeWait | tcp::State::Closed)
        {
            finished = true;
            job.out.borrow_mut().finished = Some(now);
        }
        // LISTEN and SYN-SENT are left for CLOSED only by a failure (a RST, or giving up).
        let failed = state == tcp::State::Closed && !finished;
        iface.poll(snow, &mut dev, &mut sockets);
        job.out
            .borrow_mut()
            .note(now, sockets.get::<tcp::Socket<'_>>(h).state());
        if failed {
            job.out.borrow_mut().error = Some(format!(
                "smoltcp's connection closed at {:.6} s after {} bytes sent, {} received, eof {}",
                secs(now),
                off,
                sink.got,
                sink.eof
            ));
            break;
        }
        if finished && job.weft_done.set.get() {
            break;
        }
        // Sleep until smoltcp's next deadline (at least one of its microseconds on), a frame,
        // or, once finished, the weft side being done.
        let deadline = match iface.poll_delay(snow, &sockets) {
            Some(d) => {
                let us = snow.total_micros() as u64 + d.total_micros();
                Instant::from_nanos(us.max(snow.total_micros() as u64 + 1) * 1_000)
            }
            None => Instant::MAX,
        };
        let mut sleep = pin!(rt.sleep_until(deadline));
        let weft_done = &job.weft_done;
        poll_fn(|cx| {
            if dev.nic.poll_recv_ready(cx).is_ready() {
                return Poll::Ready(());
            }
            if finished {
                if weft_done.set.get() {
                    return Poll::Ready(());
                }
                *weft_done.waker.borrow_mut() = Some(cx.waker().clone());
            }
            sleep.as_mut().poll(cx)
        })
        .await;
    }
    let final_state = sockets.get::<tcp::Socket<'_>>(h).state();
    let mut o = job.out.borrow_mut();
    if o.states.last() != Some(&final_state) {
        o.states.push(final_state);
    }
    o.sink = Some(sink);
    o.sent = off;
    o.tap = dev.tap;
    o.rx_frames = dev.rx_frames;
    o.rx_bad_checksum = dev.rx_bad_checksum.get();
    o.polls = polls;
}

/// What weft's side did.
#[derive(Debug, Default)]
struct WeftOut {
    sink: Option<Sink>,
    sent: usize,
    established: Option<Instant>,
    finished: Option<Instant>,
    /// The connection's last introspection (state, counters) before it was released.
    info: Option<TcpInfo>,
    /// States seen while closing, in order.
    closing_states: Vec<State>,
    error: Option<String>,
}

struct WeftJob {
    client: Client,
    send: Rc<Vec<u8>>,
    expect: Rc<Vec<u8>>,
    done: Rc<Signal>,
    out: Rc<RefCell<WeftOut>>,
}

/// The weft host: weft-net's `TcpNet` on the simulator's direct backend.
async fn weft_host(net: SimNet, job: WeftJob) {
    let r = weft_transfer(&net, &job).await;
    if let Err(e) = r {
        job.out.borrow_mut().error = Some(e);
    }
    job.done.set();
}

async fn weft_transfer(net: &SimNet, job: &WeftJob) -> Result<(), String> {
    let mut flow = match job.client {
        Client::Weft => net
            .connect(SocketAddrV4::new(SMOL_IP, PORT))
            .await
            .map_err(|e| format!("connect: {e}"))?,
        Client::Smol => {
            let l = net
                .bind_tcp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
                .await
                .map_err(|e| format!("bind: {e}"))?;
            let (flow, peer) = l.accept().await.map_err(|e| format!("accept: {e}"))?;
            assert_eq!(peer, SocketAddrV4::new(SMOL_IP, SMOL_CLIENT_PORT));
            flow
        }
    };
    job.out.borrow_mut().established = Some(net.now());
    // Write everything and then shut down, while reading to the end of the stream.
    let mut sink = Sink::new(job.expect.clone());
    let mut off = 0usize;
    let mut shut = false;
    let mut buf = vec![0u8; 32 * 1024];
    let send = &job.send;
    let r = poll_fn(|cx| {
        loop {
            let mut progress = false;
            while off < send.len() {
                match Pin::new(&mut flow).poll_write(cx, &send[off..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err("write returned 0".to_string())),
                    Poll::Ready(Ok(n)) => {
                        off += n;
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err(format!("write after {off} bytes: {e}")));
                    }
                    Poll::Pending => break,
                }
            }
            if off == send.len() && !shut {
                match Pin::new(&mut flow).poll_shutdown(cx) {
                    Poll::Ready(Ok(())) => shut = true,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(format!("shutdown: {e}"))),
                    Poll::Pending => {}
                }
            }
            while !sink.eof {
                let mut rb = ReadBuf::new(&mut buf);
                match Pin::new(&mut flow).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) if rb.filled().is_empty() => sink.eof = true,
                    Poll::Ready(Ok(())) => {
                        sink.take("weft", net.now(), rb.filled());
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err(format!("read after {} bytes: {e}", sink.got)));
                    }
                    Poll::Pending => break,
                }
            }
            if shut && sink.eof {
                return Poll::Ready(Ok(()));
            }
            if !progress {
                return Poll::Pending;
            }
        }
    })
    .await;
    {
        let mut o = job.out.borrow_mut();
        o.sent = off;
        o.sink = Some(sink);
        o.info = flow.info();
    }
    r?;
    // Both FINs are out; wait for the close to complete (TIME-WAIT, or CLOSED after
    // LAST-ACK).
    loop {
        let info = flow.info();
        let state = info.as_ref().map_or(State::Closed, |i| i.state);
        {
            let mut o = job.out.borrow_mut();
            if info.is_some() {
                o.info = info;
            }
            if o.closing_states.last() != Some(&state) {
                o.closing_states.push(state);
            }
        }
        if matches!(state, State::TimeWait | State::Closed) {
            break;
        }
        if net.now() >= LIMIT {
            return Err(format!("weft's connection still {state:?}"));
        }
        net.sleep(STATE_POLL).await;
    }
    job.out.borrow_mut().finished = Some(net.now());
    flow.close().await.map_err(|e| format!("close: {e}"))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// A run.

struct Outcome {
    report: Report,
    weft: WeftOut,
    smol: SmolOut,
}

fn builder(
    client: Client,
    link: &LinkSpec,
    seed: u64,
    bulk: usize,
) -> (
    weft_sim::SimBuilder,
    Rc<RefCell<WeftOut>>,
    Rc<RefCell<SmolOut>>,
) {
    let w2s = payload(bulk, seed.wrapping_mul(2).wrapping_add(1));
    let s2w = payload(bulk, seed.wrapping_mul(2).wrapping_add(2));
    let weft_out: Rc<RefCell<WeftOut>> = Rc::default();
    let smol_out: Rc<RefCell<SmolOut>> = Rc::default();
    let done: Rc<Signal> = Rc::default();
    let (wo, so) = (weft_out.clone(), smol_out.clone());
    let (w2s_a, s2w_a, done_a) = (w2s.clone(), s2w.clone(), done.clone());
    let b = Sim::builder()
        .switch("lan")
        .host(
            "weft",
            HostConfig::on("lan", WEFT_IP, PREFIX).link(link.clone()),
            move |net| {
                weft_host(
                    net,
                    WeftJob {
                        client,
                        send: w2s_a.clone(),
                        expect: s2w_a.clone(),
                        done: done_a.clone(),
                        out: wo.clone(),
                    },
                )
            },
        )
        .raw_host(
            "smoltcp",
            HostConfig::on("lan", SMOL_IP, PREFIX).link(link.clone()),
            move |nic, rt| {
                smoltcp_host(
                    nic,
                    rt,
                    SmolJob {
                        client,
                        seed,
                        send: s2w.clone(),
                        expect: w2s.clone(),
                        weft_done: done.clone(),
                        out: so.clone(),
                    },
                )
            },
        )
        .until(LIMIT);
    (b, weft_out, smol_out)
}

fn run(client: Client, link: &LinkSpec, seed: u64, bulk: usize, label: &str) -> Outcome {
    let pcaps = std::env::var_os("WEFT_SMOLTCP_SIM_PCAPS");
    let (b, weft_out, smol_out) = builder(client, link, seed, bulk);
    let b = b.pcap(pcaps.is_some());
    println!("{label}: seed {seed}, {client:?} client, {bulk} bytes each way");
    let report = b.run(seed).expect("a valid simulation");
    if let Some(dir) = pcaps {
        let dir = std::path::Path::new(&dir).join(format!("{label}-{client:?}-{seed}"));
        let written = report.write_pcaps(&dir).unwrap();
        println!("  pcaps: {written:?}");
    }
    let o = Outcome {
        report,
        weft: weft_out.take(),
        smol: smol_out.take(),
    };
    print_outcome(&o);
    o
}

fn print_outcome(o: &Outcome) {
    let r = &o.report;
    print!("{}", r.summary());
    print!("{}", r.oracle_summary());
    println!(
        "  virtual time {:.3} s; weft established at {:?} s, finished at {:?} s; \
         smoltcp established at {:?} s, finished at {:?} s",
        secs(r.end),
        o.weft.established.map(secs),
        o.weft.finished.map(secs),
        o.smol.established.map(secs),
        o.smol.finished.map(secs),
    );
    let arrived = |s: &Option<Sink>| s.as_ref().and_then(|s| s.complete_at).map(secs);
    println!(
        "  weft's bytes had all reached smoltcp at {:?} s, smoltcp's had reached weft at {:?} s; \
         smoltcp's longest silence {:?} (ending at {:.3} s)",
        arrived(&o.smol.sink),
        arrived(&o.weft.sink),
        o.smol.tap.longest_silence.0,
        secs(o.smol.tap.longest_silence.1)
    );
    let t = r.link_totals();
    println!(
        "  link totals: {} frames in, {} delivered, {} lost, {} duplicated, {} reordered, {} \
         corrupted, {} queue drops; {} tape entries",
        t.frames_in,
        t.delivered,
        t.lost,
        t.duplicated,
        t.reordered,
        t.corrupted,
        t.queue_drops,
        r.tape.entries.len()
    );
    let s = &o.smol;
    let tap = &s.tap;
    println!(
        "  smoltcp: {} segments sent ({} with data, {} payload bytes, {} retransmitted, SYN {} \
         FIN {} RST {}); {} frames received, {} of them with a bad checksum; {} polls; states \
         {:?}; RSTs at {:?}",
        tap.segments,
        tap.data_segments,
        tap.payload_bytes,
        tap.retransmissions,
        tap.syn,
        tap.fin,
        tap.rst,
        s.rx_frames,
        s.rx_bad_checksum,
        s.polls,
        s.states,
        tap.rsts
    );
    if let Some(h) = r.host("weft") {
        let c = h.counters.tcp;
        println!(
            "  weft TCP counters: {} segments in, {} out, {} bad checksum, {} malformed, {} to \
             no socket, {} RST sent; IPv4 bad checksums {}",
            c.rx_segments,
            c.tx_segments,
            c.rx_bad_checksum,
            c.rx_malformed,
            c.rx_no_socket,
            c.rst_sent,
            h.counters.ipv4.rx_bad_checksum
        );
    }
    if let Some(info) = &o.weft.info {
        let st = info.stats;
        println!(
            "  weft connection: state {:?} (closing through {:?}), mss {}, cwnd {}, ssthresh {}, \
             rto {:?}, srtt {:?}; {} segments in, {} out, {} retransmitted ({} RTO \
             expirations, {} fast retransmits), {} dup ACKs in, {} out-of-order stored, {} \
             out-of-order dropped, {} unacceptable, {} challenge ACKs",
            info.state,
            o.weft.closing_states,
            info.send.mss,
            info.send.cwnd,
            info.send.ssthresh,
            info.send.rto,
            info.send.srtt,
            st.segs_in,
            st.segs_out,
            st.retransmitted_segs,
            st.rto_expirations,
            st.fast_retransmits,
            st.dup_acks,
            st.ooo_segments,
            st.ooo_dropped,
            st.unacceptable,
            st.challenge_acks
        );
    }
    if let Some(e) = &o.weft.error {
        println!("  weft error: {e}");
    }
    if let Some(e) = &o.smol.error {
        println!("  smoltcp error: {e}");
    }
}

/// Exact delivery both ways, a graceful close on both sides, no RST, every oracle passed.
fn check(o: &Outcome, bulk: usize) {
    let r = &o.report;
    assert_eq!(o.weft.error, None, "weft's side failed");
    assert_eq!(o.smol.error, None, "smoltcp's side failed");
    assert!(r.all_finished(), "both applications finished");
    assert_eq!(o.weft.sent, bulk);
    assert_eq!(o.smol.sent, bulk);
    o.weft.sink.as_ref().expect("weft's sink").check("weft");
    o.smol
        .sink
        .as_ref()
        .expect("smoltcp's sink")
        .check("smoltcp");
    // Graceful close: TIME-WAIT on the side that closed first (or both, when the FINs
    // crossed), CLOSED after LAST-ACK on the other.
    let weft_state = o.weft.closing_states.last().copied();
    let smol_state = o.smol.states.last().copied();
    assert!(
        matches!(weft_state, Some(State::TimeWait | State::Closed)),
        "weft ended {weft_state:?}"
    );
    assert!(
        matches!(smol_state, Some(tcp::State::TimeWait | tcp::State::Closed)),
        "smoltcp ended {smol_state:?}"
    );
    assert!(
        weft_state == Some(State::TimeWait) || smol_state == Some(tcp::State::TimeWait),
        "someone closed actively: weft {weft_state:?}, smoltcp {smol_state:?}"
    );
    // No RST while the connection lived. Once smoltcp's socket is CLOSED (after LAST-ACK, or
    // TIME-WAIT ran out), a late copy of one of weft's segments — duplicated or held back
    // on the link — meets no connection and is answered with a RST, as RFC 9293 §3.10.7.1
    // says it must be; only those are allowed.
    let smol_finished = o.smol.finished.expect("smoltcp finished");
    for (at, seq) in &o.smol.tap.rsts {
        assert!(
            *at >= smol_finished,
            "smoltcp sent a RST (SEG.SEQ {seq}) at {:.6} s, before its close completed at {:.6} s",
            secs(*at),
            secs(smol_finished)
        );
    }
    let graceful: &[&[tcp::State]] = &[
        &[
            tcp::State::FinWait1,
            tcp::State::FinWait2,
            tcp::State::TimeWait,
        ],
        &[
            tcp::State::FinWait1,
            tcp::State::Closing,
            tcp::State::TimeWait,
        ],
        &[tcp::State::FinWait1, tcp::State::TimeWait],
        &[
            tcp::State::CloseWait,
            tcp::State::LastAck,
            tcp::State::Closed,
        ],
    ];
    let states = &o.smol.states;
    let from = states
        .iter()
        .position(|s| *s == tcp::State::Established)
        .expect("smoltcp was established");
    let closing = &states[from + 1..];
    assert!(
        graceful.iter().any(|g| closing.starts_with(g)),
        "smoltcp closed through {closing:?}"
    );
    assert!(o.smol.tap.fin >= 1, "smoltcp sent its FIN");
    let weft = r.host("weft").unwrap();
    assert_eq!(weft.counters.tcp.rst_sent, 0, "weft sent no RST");
    assert!(r.host("smoltcp").unwrap().raw);
    // The monitor checked smoltcp's frames too: its source MAC is the one it was given.
    assert_eq!(
        o.smol.mac,
        Some(weft_wire::MacAddr([0x02, 0, 0, 0, 0, 1])),
        "host 1's MAC"
    );
    assert!(r.monitor.checked("ethernet.src") >= o.smol.tap.segments);
    assert!(r.ok(), "{}", r.oracle_summary());
}

fn lossy() -> LinkSpec {
    LinkSpec::symmetric(LinkConfig {
        latency: Duration::from_micros(200),
        jitter: Duration::from_micros(50),
        bandwidth_bps: 1_000_000_000,
        loss: Loss::Bernoulli { p: 0.01 },
        duplicate: 0.01,
        reorder: 0.01,
        reorder_delay: Duration::from_millis(2),
        corrupt: 0.005,
        ..LinkConfig::default()
    })
}

fn clean() -> LinkSpec {
    LinkSpec::symmetric(LinkConfig {
        latency: Duration::from_micros(200),
        bandwidth_bps: 1_000_000_000,
        ..LinkConfig::default()
    })
}

// ---------------------------------------------------------------------------------------
// The tests.

#[test]
fn smoltcp_sim_clean_links_both_ways() {
    for client in BOTH {
        let o = run(client, &clean(), 7, BULK, "clean");
        check(&o, BULK);
        let t = o.report.link_totals();
        assert_eq!(
            t.lost + t.duplicated + t.reordered + t.corrupted + t.queue_drops,
            0
        );
        assert!(o.report.tape.entries.is_empty());
        // Nothing was lost: neither side has a reason to retransmit.
        let st = o.weft.info.unwrap().stats;
        assert_eq!(
            st.retransmitted_segs, 0,
            "weft retransmitted on a clean link"
        );
        assert_eq!(o.smol.tap.retransmissions, 0, "smoltcp retransmitted");
        assert_eq!(o.smol.rx_bad_checksum, 0);
    }
}

#[test]
fn smoltcp_sim_lossy_links_both_ways() {
    let seeds: Vec<u64> = std::env::var("WEFT_SMOLTCP_SIM_SEEDS")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| SEEDS.to_vec());
    println!(
        "seeds {seeds:?} (set WEFT_SMOLTCP_SIM_SEEDS to run others), {:?}",
        lossy()
    );
    for seed in seeds {
        for client in BOTH {
            let o = run(client, &lossy(), seed, BULK, "lossy");
            check(&o, BULK);
            let t = o.report.link_totals();
            assert!(
                t.lost > 0 && t.duplicated > 0 && t.reordered > 0 && t.corrupted > 0,
                "seed {seed}: every fault kind fired: {t:?}"
            );
            let st = o.weft.info.unwrap().stats;
            assert!(st.retransmitted_segs > 0, "seed {seed}: weft retransmitted");
            assert!(
                o.smol.tap.retransmissions > 0,
                "seed {seed}: smoltcp retransmitted"
            );
            // Bit flips reached both ends and their checksums caught them (delivery was
            // exact, so none got through).
            let c = o.report.host("weft").unwrap().counters;
            assert!(
                c.tcp.rx_bad_checksum + c.ipv4.rx_bad_checksum > 0,
                "seed {seed}: weft caught corrupted frames"
            );
            assert!(
                o.smol.rx_bad_checksum > 0,
                "seed {seed}: corrupted frames reached smoltcp"
            );
        }
    }
}

/// The same seed gives the same run, and replaying its fault tape gives it again: the raw
/// host is as deterministic as a weft host.
#[test]
fn smoltcp_sim_runs_replay() {
    let bulk = 1 << 20;
    let seed = 11;
    println!("seed {seed}");
    // Every event of two runs, compared one by one (the first divergent one would be named).
    let agreement =
        weft_sim::determinism::check(|| builder(Client::Smol, &lossy(), seed, bulk).0, seed)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    println!("{agreement:?}");
    let (b, _, _) = builder(Client::Smol, &lossy(), seed, bulk);
    let first = b.run(seed).unwrap();
    print!("{}", first.summary());
    assert_eq!(first.trace_digest, agreement.trace_digest);
    assert!(!first.tape.entries.is_empty());
    // With a tape, exactly its faults fire: the link's own probabilities are not drawn.
    let (b, weft, smol) = builder(Client::Smol, &lossy(), seed, bulk);
    let replay = b
        .faults(FaultSource::Tape(first.tape.clone()))
        .run(seed)
        .unwrap();
    assert_eq!(
        replay.trace_digest, first.trace_digest,
        "the tape replays the run"
    );
    assert!(replay.ok(), "{}", replay.oracle_summary());
    weft.borrow().sink.as_ref().unwrap().check("weft");
    smol.borrow().sink.as_ref().unwrap().check("smoltcp");
}
