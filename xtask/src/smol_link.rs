//! The in-memory link the smoltcp side of the TCP benchmarks runs over: two smoltcp
//! `Device`s whose frames queue for each other. Frame buffers are recycled through a shared
//! pool (a frame received is given back once smoltcp has read it), so once warm no frame
//! costs an allocation or a zero fill — as weft's side reuses one buffer.

use smoltcp::iface::{Config, Interface};
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Frames on the wire, counted as they are sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameCounts {
    /// Every frame either device sent.
    pub frames: u64,
    /// IPv4/TCP frames with nothing after the TCP header (pure ACKs, SYNs, FINs, RSTs).
    pub empty_tcp: u64,
}

#[derive(Default)]
struct Shared {
    counts: FrameCounts,
    pool: Vec<Vec<u8>>,
}

/// Buffers kept for reuse, at most: more than a 64 KiB window of full frames in flight.
const POOL_MAX: usize = 256;

/// Frames in flight: a buffer (at least [`FRAME_MAX`] long) and the frame's length in it.
type Queue = Rc<RefCell<VecDeque<(Vec<u8>, usize)>>>;

/// The largest frame (1500-byte MTU plus the Ethernet header): every buffer is at least this
/// long, so a reused one is never grown or zero-filled again.
const FRAME_MAX: usize = 1514;

/// One end of the link: frames sent go to the other end's receive queue.
pub struct QueueDevice {
    rx: Queue,
    tx: Queue,
    shared: Rc<RefCell<Shared>>,
}

/// Two connected devices and the counts of the frames they send.
pub struct Link {
    shared: Rc<RefCell<Shared>>,
}

impl Link {
    /// The frames sent so far, by both devices.
    pub fn counts(&self) -> FrameCounts {
        self.shared.borrow().counts
    }
}

/// Two devices, each sending to the other.
pub fn pair() -> (QueueDevice, QueueDevice, Link) {
    let a2b: Queue = Rc::default();
    let b2a: Queue = Rc::default();
    let shared = Rc::new(RefCell::new(Shared::default()));
    let a = QueueDevice {
        rx: b2a.clone(),
        tx: a2b.clone(),
        shared: shared.clone(),
    };
    let b = QueueDevice {
        rx: a2b,
        tx: b2a,
        shared: shared.clone(),
    };
    (a, b, Link { shared })
}

pub struct QRx<'a> {
    frame: Vec<u8>,
    len: usize,
    shared: &'a Rc<RefCell<Shared>>,
}

pub struct QTx<'a> {
    tx: &'a Queue,
    shared: &'a Rc<RefCell<Shared>>,
}

impl smoltcp::phy::RxToken for QRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(self.frame.get(..self.len).unwrap_or_default());
        let mut s = self.shared.borrow_mut();
        if s.pool.len() < POOL_MAX {
            s.pool.push(self.frame);
        }
        r
    }
}

impl smoltcp::phy::TxToken for QTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = self.shared.borrow_mut().pool.pop().unwrap_or_default();
        // A reused buffer is not zeroed (smoltcp writes every byte of the frame it asks
        // for); a new one is allocated at the largest frame's size once.
        if frame.len() < len.max(FRAME_MAX) {
            frame.resize(len.max(FRAME_MAX), 0);
        }
        let r = f(frame.get_mut(..len).unwrap_or_default());
        let tcp_hdr = frame.get(46).map_or(0, |b| usize::from(b >> 4) * 4);
        {
            let mut s = self.shared.borrow_mut();
            s.counts.frames += 1;
            if frame.get(12..14) == Some(&[8, 0])
                && frame.get(23) == Some(&6)
                && len <= 34 + tcp_hdr
            {
                s.counts.empty_tcp += 1;
            }
        }
        self.tx.borrow_mut().push_back((frame, len));
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'b>
        = QRx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = QTx<'b>
    where
        Self: 'b;

    fn receive(
        &mut self,
        _now: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (frame, len) = self.rx.borrow_mut().pop_front()?;
        Some((
            QRx {
                frame,
                len,
                shared: &self.shared,
            },
            QTx {
                tx: &self.tx,
                shared: &self.shared,
            },
        ))
    }

    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(QTx {
            tx: &self.tx,
            shared: &self.shared,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        // ChecksumCapabilities::default(): compute on send, verify on receive.
        caps
    }
}

/// A smoltcp interface on `dev` with one address, `ip`/24, and `seed` for its randomness.
pub fn iface(
    dev: &mut QueueDevice,
    mac: [u8; 6],
    ip: [u8; 4],
    now: smoltcp::time::Instant,
    seed: u64,
) -> Interface {
    let mut config = Config::new(EthernetAddress(mac).into());
    config.random_seed = seed;
    let mut iface = Interface::new(config, dev, now);
    let [a, b, c, d] = ip;
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(IpAddress::v4(a, b, c, d), 24));
    });
    iface
}
