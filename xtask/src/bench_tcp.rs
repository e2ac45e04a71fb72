//! `tcp_bulk_vs_smoltcp`: one TCP connection moving 256 MiB between two stacks over an
//! in-memory Ethernet link, weft-core against smoltcp 0.14 in the same run.
//!
//! Each side: two stacks (10.0.0.1 and 10.0.0.2, 1500-byte MTU), a listener on the second and
//! a connection from the first; the sending application writes from a 1 MiB pattern as fast
//! as the send buffer takes it, frames move straight from one stack's output to the other's
//! input, the receiving application reads everything and folds it into a digest. 64 KiB send
//! and receive buffers on both sides; checksums computed on send and verified on receive on
//! both; no loss. Virtual time advances 100 µs per loop turn (timers run when due). The run
//! fails unless both sides deliver exactly the same bytes (equal digests); the ratio is
//! smoltcp's wall time over weft's (x > 1: weft is faster), median of alternating runs.

use anyhow::{Result, bail};
use smoltcp::iface::SocketSet;
use smoltcp::socket::tcp;
use smoltcp::wire::IpAddress;
use std::path::Path;
use weft_core::tcp::{RecvError, TcpConfig};
use weft_core::time::{Duration as WDuration, Instant as WInstant};
use weft_core::{IfaceId, InterfaceConfig, RxMeta, Stack, StackConfig, TcpError};
use weft_wire::{Ipv4Addr, MacAddr};

const TOTAL: usize = 256 << 20;
const PATTERN: usize = 1 << 20;
const BUFFER: usize = 64 * 1024;
const RUNS: usize = 11;
const STEP_US: u64 = 100;
const PORT: u16 = 5001;
const SEED: u64 = 0x7463_7062_756c_6b21;

fn pattern() -> Vec<u8> {
    let mut x = SEED;
    (0..PATTERN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The receiving application's digest: a Fletcher-style pair of sums over 64-bit words in
/// four lanes (word i goes to lane i mod 4; `a` sums the words, `b` sums the running `a`s, so
/// a word's position counts as well as its value), then the lanes, the tail and the length
/// mixed into one value. Adds only, so it runs at memory speed: the digest is the harness's
/// cost, the same on both sides, and kept small beside the stacks'. Both sides run the same
/// function over the same bytes.
#[derive(Debug, Clone, Copy)]
struct Digest {
    a: [u64; 4],
    b: [u64; 4],
    len: u64,
    /// Bytes waiting to complete a 32-byte block.
    tail: [u8; 32],
    tail_len: usize,
}

fn fold(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29)
}

impl Digest {
    fn new() -> Digest {
        Digest {
            a: [
                0xcbf2_9ce4_8422_2325,
                0x9e37_79b9_7f4a_7c15,
                0xc2b2_ae3d_27d4_eb4f,
                0x1656_67b1_9e37_79f9,
            ],
            b: [0; 4],
            len: 0,
            tail: [0; 32],
            tail_len: 0,
        }
    }

    fn blocks(&mut self, blocks: &[[u8; 32]]) {
        let (mut a, mut b) = (self.a, self.b);
        for blk in blocks {
            let (words, _) = blk.as_chunks::<8>();
            for ((a, b), w) in a.iter_mut().zip(b.iter_mut()).zip(words) {
                *a = a.wrapping_add(u64::from_le_bytes(*w));
                *b = b.wrapping_add(*a);
            }
        }
        (self.a, self.b) = (a, b);
    }

    fn add(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        let mut rest = data;
        // Complete a block started by the previous call.
        if self.tail_len > 0 {
            let take = (32 - self.tail_len).min(rest.len());
            let (head, more) = rest.split_at(take);
            if let Some(dst) = self.tail.get_mut(self.tail_len..self.tail_len + take) {
                dst.copy_from_slice(head);
            }
            self.tail_len += take;
            rest = more;
            if self.tail_len < 32 {
                return;
            }
            let t = self.tail;
            self.blocks(&[t]);
            self.tail_len = 0;
        }
        let (blocks, r) = rest.as_chunks::<32>();
        self.blocks(blocks);
        if let Some(dst) = self.tail.get_mut(..r.len()) {
            dst.copy_from_slice(r);
        }
        self.tail_len = r.len();
    }

    /// The digest of everything added so far.
    fn value(&self) -> u64 {
        let mut h = self.len;
        for l in self.a.iter().chain(&self.b) {
            h = fold(h, *l);
        }
        for b in self.tail.iter().take(self.tail_len) {
            h = fold(h, u64::from(*b));
        }
        h
    }
}

struct Outcome {
    wall: std::time::Duration,
    digest: Digest,
    frames: u64,
    virtual_ms: u64,
}

// ---------------------------------------------------------------------------------------
// weft

fn weft_stack(seed: u64, n: u8, addr: Ipv4Addr) -> Result<Stack> {
    let mut c = StackConfig::new(seed);
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
    Stack::new(c, WInstant::ZERO).map_err(|e| anyhow::anyhow!("weft config: {e}"))
}

#[allow(clippy::disallowed_methods)] // wall-clock timing is the point of a benchmark
#[inline(never)]
fn run_weft(pat: &[u8]) -> Result<Outcome> {
    let (ip_a, ip_b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let mut a = weft_stack(1, 1, ip_a)?;
    let mut b = weft_stack(2, 2, ip_b)?;
    let start = std::time::Instant::now();
    let mut now = WInstant::ZERO;
    let listener = b
        .tcp_listen(Ipv4Addr::UNSPECIFIED, PORT, 1)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let conn = a
        .tcp_connect(now, (ip_b, PORT), (Ipv4Addr::UNSPECIFIED, 0))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut server = None;
    let (mut sent, mut received) = (0usize, 0usize);
    let mut digest = Digest::new();
    let mut buf = vec![0u8; 2048];
    let mut frames = 0u64;
    let mut turns = 0u64;
    while received < TOTAL {
        turns += 1;
        if turns > 50_000_000 {
            bail!("weft: stalled at {received} of {TOTAL} bytes");
        }
        while sent < TOTAL {
            let off = sent % PATTERN;
            let end = (off + (TOTAL - sent)).min(PATTERN);
            match a.tcp_send(now, conn, pat.get(off..end).unwrap_or_default()) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) => bail!("weft send: {e}"),
            }
        }
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            frames += 1;
            b.handle_frame(
                now,
                IfaceId(0),
                buf.get(..t.len).unwrap_or_default(),
                RxMeta::default(),
            );
        }
        if server.is_none() {
            server = b.tcp_accept(listener).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if let Some(s) = server {
            loop {
                match b.tcp_recv_with(now, s, |data| {
                    digest.add(data);
                    data.len()
                }) {
                    Ok(0) => break,
                    Ok(n) => received += n,
                    Err(TcpError::Recv(RecvError::Finished)) => break,
                    Err(e) => bail!("weft recv: {e}"),
                }
            }
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            frames += 1;
            a.handle_frame(
                now,
                IfaceId(0),
                buf.get(..t.len).unwrap_or_default(),
                RxMeta::default(),
            );
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        now = now + WDuration::from_micros(STEP_US);
        if a.poll_timeout().is_some_and(|t| t <= now) {
            a.handle_timeout(now);
        }
        if b.poll_timeout().is_some_and(|t| t <= now) {
            b.handle_timeout(now);
        }
    }
    Ok(Outcome {
        wall: start.elapsed(),
        digest,
        frames,
        virtual_ms: now.as_nanos() / 1_000_000,
    })
}

// ---------------------------------------------------------------------------------------
// smoltcp

#[allow(clippy::disallowed_methods)] // wall-clock timing is the point of a benchmark
#[inline(never)]
fn run_smol(pat: &[u8]) -> Result<Outcome> {
    let (mut dev_a, mut dev_b, link) = crate::smol_link::pair();
    let start = std::time::Instant::now();
    let mut now = smoltcp::time::Instant::from_secs(1);
    let mut ia = crate::smol_link::iface(&mut dev_a, [2, 0, 0, 0, 0, 1], [10, 0, 0, 1], now, SEED);
    let mut ib = crate::smol_link::iface(&mut dev_b, [2, 0, 0, 0, 0, 2], [10, 0, 0, 2], now, SEED);
    let mut sa = SocketSet::new(Vec::new());
    let mut sb = SocketSet::new(Vec::new());
    let mk = || {
        tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; BUFFER]),
            tcp::SocketBuffer::new(vec![0u8; BUFFER]),
        )
    };
    let mut server = mk();
    server
        .listen(PORT)
        .map_err(|e| anyhow::anyhow!("smoltcp listen: {e}"))?;
    let hb = sb.add(server);
    let client = mk();
    let ha = sa.add(client);
    sa.get_mut::<tcp::Socket<'_>>(ha)
        .connect(ia.context(), (IpAddress::v4(10, 0, 0, 2), PORT), 49152)
        .map_err(|e| anyhow::anyhow!("smoltcp connect: {e}"))?;
    let (mut sent, mut received) = (0usize, 0usize);
    let mut digest = Digest::new();
    let mut turns = 0u64;
    while received < TOTAL {
        turns += 1;
        if turns > 50_000_000 {
            bail!("smoltcp: stalled at {received} of {TOTAL} bytes");
        }
        {
            let s = sa.get_mut::<tcp::Socket<'_>>(ha);
            while sent < TOTAL && s.can_send() {
                let off = sent % PATTERN;
                let end = (off + (TOTAL - sent)).min(PATTERN);
                match s.send_slice(pat.get(off..end).unwrap_or_default()) {
                    Ok(0) => break,
                    Ok(n) => sent += n,
                    Err(e) => bail!("smoltcp send: {e}"),
                }
            }
        }
        let _ = ia.poll(now, &mut dev_a, &mut sa);
        let _ = ib.poll(now, &mut dev_b, &mut sb);
        {
            let s = sb.get_mut::<tcp::Socket<'_>>(hb);
            while s.can_recv() {
                match s.recv(|data| {
                    digest.add(data);
                    (data.len(), data.len())
                }) {
                    Ok(0) => break,
                    Ok(n) => received += n,
                    Err(e) => bail!("smoltcp recv: {e}"),
                }
            }
        }
        let _ = ib.poll(now, &mut dev_b, &mut sb);
        let _ = ia.poll(now, &mut dev_a, &mut sa);
        now += smoltcp::time::Duration::from_micros(STEP_US);
    }
    let n = link.counts().frames;
    Ok(Outcome {
        wall: start.elapsed(),
        digest,
        frames: n,
        virtual_ms: (now.total_millis() - 1000) as u64,
    })
}

pub fn tcp_bulk_vs_smoltcp(_root: &Path) -> Result<()> {
    let pat = pattern();
    println!(
        "work: one TCP connection, {} MiB from 10.0.0.1 to 10.0.0.2 over an in-memory Ethernet \
         link (1500-byte MTU, no loss), the receiver folding every byte into a digest; \
         virtual time +{STEP_US} µs per loop turn; seed {SEED:#018x}",
        TOTAL >> 20
    );
    println!(
        "weft settings: weft-core Stack per host, TcpConfig {{ send_buffer: {BUFFER}, \
         recv_buffer: {BUFFER}, ..default }} (window scaling on, delayed ACK 40 ms, Nagle on, \
         NewReno), RxMeta::default() (checksums verified in software), frames handed over by \
         poll_transmit → handle_frame, received bytes read in place with tcp_recv_with"
    );
    println!(
        "smoltcp settings: smoltcp 0.14 Interface per host (std, medium-ethernet, proto-ipv4, \
         socket-tcp), tcp::Socket with {BUFFER}-byte rx and tx buffers (defaults otherwise: \
         window scaling, delayed ACK 10 ms, Nagle on), ChecksumCapabilities::default(), frames \
         handed over through in-memory device queues (buffers recycled: no allocation per frame), received bytes read in place with tcp::Socket::recv"
    );
    // For profiling one side alone: `WEFT_BENCH_PROFILE=weft|smoltcp` runs only that side,
    // 20 times, and prints no ratio.
    if let Ok(side) = std::env::var("WEFT_BENCH_PROFILE") {
        for _ in 0..20 {
            let o = match side.as_str() {
                "weft" => run_weft(&pat)?,
                "smoltcp" => run_smol(&pat)?,
                other => bail!("WEFT_BENCH_PROFILE={other}: expected weft or smoltcp"),
            };
            println!("{side}: {:.3} s", o.wall.as_secs_f64());
        }
        return Ok(());
    }
    let mut ratios = Vec::new();
    let mut wt = Vec::new();
    let mut st = Vec::new();
    for run in 0..RUNS {
        let w = run_weft(&pat)?;
        let s = run_smol(&pat)?;
        if (w.digest.value(), w.digest.len) != (s.digest.value(), s.digest.len)
            || w.digest.len != TOTAL as u64
        {
            bail!(
                "digests differ: weft {:?} smoltcp {:?} (not the same work)",
                w.digest,
                s.digest
            );
        }
        let mb = TOTAL as f64 / (1 << 20) as f64;
        println!(
            "run {run}: weft {:.3} s ({:.0} MiB/s, {} frames, {} ms virtual) | smoltcp {:.3} s \
             ({:.0} MiB/s, {} frames, {} ms virtual) | digest {:016x}",
            w.wall.as_secs_f64(),
            mb / w.wall.as_secs_f64(),
            w.frames,
            w.virtual_ms,
            s.wall.as_secs_f64(),
            mb / s.wall.as_secs_f64(),
            s.frames,
            s.virtual_ms,
            w.digest.value()
        );
        wt.push(w.wall.as_secs_f64());
        st.push(s.wall.as_secs_f64());
        ratios.push(s.wall.as_secs_f64() / w.wall.as_secs_f64());
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "median wall time: weft {:.3} s, smoltcp {:.3} s",
        med(&mut wt),
        med(&mut st)
    );
    println!("RATIO tcp_bulk_vs_smoltcp {:.2}", med(&mut ratios));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(parts: &[&[u8]]) -> (u64, u64) {
        let mut d = Digest::new();
        for p in parts {
            d.add(p);
        }
        (d.value(), d.len)
    }

    #[test]
    fn digest_depends_on_position_and_not_on_how_the_bytes_were_split() {
        let data = pattern();
        let whole = digest_of(&[&data]);
        assert_eq!(
            whole,
            digest_of(&[&data[..7], &data[7..1000], &data[1000..]])
        );
        assert_eq!(whole.1, data.len() as u64);
        // Two 32-byte blocks swapped, one byte changed, one byte missing: all differ.
        let mut swapped = data.clone();
        swapped[..64].rotate_left(32);
        assert_ne!(whole, digest_of(&[&swapped]));
        let mut changed = data.clone();
        changed[12_345] ^= 1;
        assert_ne!(whole, digest_of(&[&changed]));
        // Values alone (the lengths differ anyway): a missing byte and a change in the
        // tail that does not fill a 32-byte block are seen too.
        assert_ne!(whole.0, digest_of(&[&data[1..]]).0);
        let odd = &data[..1000];
        let mut odd_changed = odd.to_vec();
        odd_changed[999] ^= 0x80;
        assert_ne!(digest_of(&[odd]).0, digest_of(&[&odd_changed]).0);
    }
}
