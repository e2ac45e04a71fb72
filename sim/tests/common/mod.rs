//! Raw hosts that send numbered frames on a plan and record what arrives, for tests of the
//! link model, the switch and the engine: every frame is an Ethernet frame of the local
//! experimental EtherType (IEEE 802 0x88B5) carrying a sequence number and filler that
//! follows from it, so a test knows exactly what was sent and when, and what arrived.

#![allow(
    dead_code,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used
)]

use core::future::{Future, poll_fn};
use core::task::Poll;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;
use weft_core::Instant;
use weft_core::link::{Link, RxToken, TxMeta, TxToken};
use weft_net::link::AsyncLink;
use weft_net::runtime::Runtime;
use weft_sim::{HostConfig, LinkSpec, SimBuilder, SimLink};
use weft_wire::MacAddr;

/// IEEE 802 local experimental EtherType: the monitor checks only the Ethernet rules.
pub const EXPERIMENTAL: [u8; 2] = [0x88, 0xb5];
/// Ethernet header, then a 4-byte sequence number.
pub const MIN_FRAME: usize = 18;

/// Frames with the virtual time they were sent or arrived at.
pub type Log = Rc<RefCell<Vec<(Instant, Vec<u8>)>>>;

/// The MACs of the raw hosts, by name, as each found its own when it started.
pub type Macs = Rc<RefCell<BTreeMap<String, MacAddr>>>;

/// Where a planned frame goes.
#[derive(Debug, Clone)]
pub enum To {
    /// To the broadcast address.
    Broadcast,
    /// To the raw host of this name.
    Host(String),
    /// To this address.
    Mac(MacAddr),
}

/// One frame a sender transmits.
#[derive(Debug, Clone)]
pub struct Planned {
    /// When (at or after 1 ms, when every raw host has published its MAC).
    pub at: Instant,
    pub to: To,
    /// The source MAC, if not the sender's own (the monitor must be off for that).
    pub from: Option<MacAddr>,
    pub seq: u32,
    /// Its whole length, at least [`MIN_FRAME`].
    pub len: usize,
}

impl Planned {
    /// A frame of `len` bytes numbered `seq`, at `at`, to `to`.
    pub fn new(at: Instant, to: To, seq: u32, len: usize) -> Planned {
        Planned {
            at,
            to,
            from: None,
            seq,
            len,
        }
    }
}

/// The frame numbered `seq`, `len` bytes long, from `src` to `dst`.
pub fn frame(dst: MacAddr, src: MacAddr, seq: u32, len: usize) -> Vec<u8> {
    assert!(
        len >= MIN_FRAME,
        "a frame of {len} bytes has no room for its number"
    );
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&EXPERIMENTAL);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend((0..len - MIN_FRAME).map(|i| (seq as usize).wrapping_mul(31).wrapping_add(i) as u8));
    f
}

/// The sequence number of a frame built by [`frame`].
pub fn seq_of(f: &[u8]) -> u32 {
    u32::from_be_bytes(f[14..18].try_into().unwrap())
}

/// The destination MAC of a frame.
pub fn dst_of(f: &[u8]) -> MacAddr {
    MacAddr(f[0..6].try_into().unwrap())
}

fn transmit(nic: &mut SimLink, f: &[u8]) {
    let tx = nic.transmit().expect("the simulated NIC always has room");
    tx.consume(f.len(), TxMeta::default(), |buf| buf.copy_from_slice(f));
}

/// A static address on `switch` for the `n`th raw host of a test, with `link`.
pub fn config(switch: &str, n: u8, link: LinkSpec) -> HostConfig {
    HostConfig::on(switch, Ipv4Addr::new(10, 0, 0, n), 24).link(link)
}

/// A raw host that transmits `plan` (in time order), logging each frame as sent in `sent`,
/// records every frame that arrives in `got`, and returns at `end` (the run waits for it).
#[allow(clippy::too_many_arguments)]
pub fn sender(
    b: SimBuilder,
    name: &str,
    cfg: HostConfig,
    macs: &Macs,
    mut plan: Vec<Planned>,
    end: Instant,
    sent: &Log,
    got: &Log,
) -> SimBuilder {
    plan.sort_by_key(|p| p.at);
    let (me, macs, sent, got) = (name.to_string(), macs.clone(), sent.clone(), got.clone());
    b.raw_host(name, cfg, move |mut nic, rt| {
        let (me, macs, sent, got, plan) = (
            me.clone(),
            macs.clone(),
            sent.clone(),
            got.clone(),
            plan.clone(),
        );
        async move {
            macs.borrow_mut().insert(me, nic.mac());
            for p in &plan {
                sleep_receiving(&mut nic, &rt, Some(p.at), &got).await;
                let dst = match &p.to {
                    To::Broadcast => MacAddr::BROADCAST,
                    To::Host(h) => *macs
                        .borrow()
                        .get(h)
                        .unwrap_or_else(|| panic!("no raw host `{h}` published its MAC")),
                    To::Mac(m) => *m,
                };
                let f = frame(dst, p.from.unwrap_or(nic.mac()), p.seq, p.len);
                transmit(&mut nic, &f);
                sent.borrow_mut().push((rt.now(), f));
            }
            sleep_receiving(&mut nic, &rt, Some(end), &got).await;
        }
    })
}

/// A raw host that never sends and records every frame that arrives in `got`.
pub fn sink(b: SimBuilder, name: &str, cfg: HostConfig, macs: &Macs, got: &Log) -> SimBuilder {
    let (me, macs, got) = (name.to_string(), macs.clone(), got.clone());
    b.raw_daemon(name, cfg, move |mut nic, rt| {
        let (me, macs, got) = (me.clone(), macs.clone(), got.clone());
        async move {
            macs.borrow_mut().insert(me, nic.mac());
            sleep_receiving(&mut nic, &rt, None, &got).await;
        }
    })
}

/// Records every frame arriving at `nic` in `got` until `until` (for ever: `None`).
async fn sleep_receiving(
    nic: &mut SimLink,
    rt: &weft_sim::SimRuntime,
    until: Option<Instant>,
    got: &Log,
) {
    let mut sleep = core::pin::pin!(until.map(|t| rt.sleep_until(t)));
    loop {
        while let Some(rx) = nic.receive() {
            let f = rx.consume(|f, _| f.to_vec());
            got.borrow_mut().push((rt.now(), f));
        }
        let woke = poll_fn(|cx| {
            if nic.poll_recv_ready(cx).is_ready() {
                return Poll::Ready(false);
            }
            match sleep.as_mut().as_pin_mut().map(|s| s.poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(true),
                _ => Poll::Pending,
            }
        })
        .await;
        if woke {
            return;
        }
    }
}
