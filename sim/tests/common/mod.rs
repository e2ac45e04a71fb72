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
use weft_sim::{HostConfig, LinkSpec, Sim, SimBuilder, SimLink};
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
    /// Its whole length, at least [`MIN_FRAME`] (4 more when tagged).
    pub len: usize,
    /// Sent with one 802.1Q tag (VLAN 1) before its EtherType.
    pub tagged: bool,
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
            tagged: false,
        }
    }

    /// The same frame with one 802.1Q tag, 4 bytes longer than an untagged one would be.
    pub fn tagged(mut self) -> Planned {
        self.tagged = true;
        self
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

/// [`frame`] with one 802.1Q tag (VLAN 1) after the addresses: `len` counts the tag.
pub fn tagged_frame(dst: MacAddr, src: MacAddr, seq: u32, len: usize) -> Vec<u8> {
    let mut f = frame(dst, src, seq, len - 4);
    f.splice(12..12, [0x81, 0x00, 0x00, 0x01]);
    f
}

/// The sequence number of a frame built by [`frame`] or [`tagged_frame`].
pub fn seq_of(f: &[u8]) -> u32 {
    let at = if f[12..14] == [0x81, 0x00] { 18 } else { 14 };
    u32::from_be_bytes(f[at..at + 4].try_into().unwrap())
}

/// The destination MAC of a frame.
pub fn dst_of(f: &[u8]) -> MacAddr {
    MacAddr(f[0..6].try_into().unwrap())
}

fn transmit(nic: &mut SimLink, f: &[u8]) {
    let tx = nic.transmit().expect("the simulated NIC always has room");
    tx.consume(f.len(), TxMeta::default(), |buf| buf.copy_from_slice(f));
}

/// What a sender sent and received.
#[derive(Debug, Default)]
pub struct Logs {
    /// Frames as sent, when sent.
    pub sent: Log,
    /// Frames that arrived, when they arrived.
    pub got: Log,
}

/// A simulation of raw hosts: one switch `lan` (more with [`RawLan::with`]), hosts numbered
/// from 1 in the order added (their address is 10.0.0.n).
pub struct RawLan {
    pub sim: SimBuilder,
    pub macs: Macs,
    hosts: u8,
}

impl Default for RawLan {
    fn default() -> Self {
        RawLan {
            sim: Sim::builder().switch("lan"),
            macs: Macs::default(),
            hosts: 0,
        }
    }
}

impl RawLan {
    /// Changes the builder (another switch, oracle settings).
    pub fn with(&mut self, f: impl FnOnce(SimBuilder) -> SimBuilder) {
        let b = std::mem::replace(&mut self.sim, Sim::builder());
        self.sim = f(b);
    }

    fn config(&mut self, switch: &str, link: LinkSpec) -> HostConfig {
        self.hosts += 1;
        HostConfig::on(switch, Ipv4Addr::new(10, 0, 0, self.hosts), 24).link(link)
    }

    /// A raw host on `lan` that transmits `plan` (in time order) and records what arrives,
    /// returning at `end` (the run waits for it).
    pub fn sender(&mut self, name: &str, link: LinkSpec, plan: Vec<Planned>, end: Instant) -> Logs {
        self.sender_on("lan", name, link, plan, end)
    }

    /// [`RawLan::sender`] on `switch`.
    pub fn sender_on(
        &mut self,
        switch: &str,
        name: &str,
        link: LinkSpec,
        mut plan: Vec<Planned>,
        end: Instant,
    ) -> Logs {
        plan.sort_by_key(|p| p.at);
        let cfg = self.config(switch, link);
        let logs = Logs::default();
        let (me, macs, sent, got) = (
            name.to_string(),
            self.macs.clone(),
            logs.sent.clone(),
            logs.got.clone(),
        );
        self.with(|b| {
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
                        let src = p.from.unwrap_or(nic.mac());
                        let f = if p.tagged {
                            tagged_frame(dst, src, p.seq, p.len)
                        } else {
                            frame(dst, src, p.seq, p.len)
                        };
                        transmit(&mut nic, &f);
                        sent.borrow_mut().push((rt.now(), f));
                    }
                    sleep_receiving(&mut nic, &rt, Some(end), &got).await;
                }
            })
        });
        logs
    }

    /// A raw host on `lan` that never sends; returns what arrives there.
    pub fn sink(&mut self, name: &str, link: LinkSpec) -> Log {
        let cfg = self.config("lan", link);
        let got = Log::default();
        let (me, macs, log) = (name.to_string(), self.macs.clone(), got.clone());
        self.with(|b| {
            b.raw_daemon(name, cfg, move |mut nic, rt| {
                let (me, macs, log) = (me.clone(), macs.clone(), log.clone());
                async move {
                    macs.borrow_mut().insert(me, nic.mac());
                    sleep_receiving(&mut nic, &rt, None, &log).await;
                }
            })
        });
        got
    }

    /// The MAC raw host `name` published.
    pub fn mac(&self, name: &str) -> MacAddr {
        self.macs.borrow()[name]
    }
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
