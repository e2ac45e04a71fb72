//! Which UDP datagram a frame carries, and what the fabric did to it: the marks the loss and
//! duplicate oracles match each lost or duplicated datagram against.
//!
//! On a frame's first hop (from the sending NIC, before any fault) the fabric reads the UDP
//! datagram it carries into a [`DatagramId`] — the ledger's key: source address and port,
//! destination port, FNV-1a of the payload — and marks it emitted. A fragmented datagram is
//! known by its IPv4 (source, destination, identification) until its last fragment has
//! passed the first hop: the fragments' payloads are hashed there in order (a NIC emits them
//! in order), and the identity is then resolved to the datagram's. The identity travels with
//! the frame from hop to hop ([`crate::fabric`]'s frame tag), so a fault on any hop — a loss,
//! a corruption (the receiver's checksum drops the frame), a full queue, an oversized frame,
//! a partition, a full NIC ring, or a duplication — is marked against the datagram, with the
//! host whose link it happened on. So is a sound frame that no host takes because a
//! corrupted frame poisoned where it goes ([`Delivery`]: an ARP entry, having no checksum,
//! learnt a flipped MAC or address; a switch learnt a flipped source MAC, and sends a
//! destination to the wrong port or filters it back to the port it came from); such a mark
//! names no host.
//!
//! Everything here is bounded ([`MAX_PENDING_MARKS`], [`MAX_PARTIAL_DATAGRAMS`],
//! [`FRAGMENT_WINDOW`]); marks that do not fit, or whose fragments never resolve, are counted
//! ([`Marks::missed`]) and the oracles excuse that many losses or duplicates they cannot
//! match otherwise (reported in the summary).

use crate::executor::HostId;
use crate::fabric::{FNV_OFFSET, fnv};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use weft_core::Instant;

/// Marks the fabric holds between two hand-overs to the ledger (the run loop hands them over
/// after every batch of frames it moves); beyond this, new marks are counted and dropped.
pub const MAX_PENDING_MARKS: usize = 1 << 16;
/// Fragmented datagrams whose payload a first hop is hashing at once; a fragment that would
/// start one more is not followed (its datagram's marks stay unresolved, and are counted).
pub const MAX_PARTIAL_DATAGRAMS: usize = 1024;
/// Fragmented datagrams whose resolved identity is remembered, per generation (at most twice
/// this many): a fragment marked on a later hop is resolved while its datagram is among the
/// last this many to finish its first hop.
pub const FRAGMENT_WINDOW: usize = 4096;

/// A UDP datagram as the ledger keys it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DatagramId {
    pub(crate) src: SocketAddrV4,
    pub(crate) dst_port: u16,
    /// FNV-1a of the payload.
    pub(crate) digest: u64,
}

/// An IPv4 fragment's datagram: (source, destination, identification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FragmentKey {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
}

/// What a frame carries, as far as datagrams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carried {
    /// A whole UDP datagram.
    Datagram(DatagramId),
    /// A fragment of a UDP datagram (resolved to the datagram once its last fragment has
    /// passed the first hop).
    Fragment(FragmentKey),
}

/// What happened to a frame carrying a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkKind {
    /// It left the sender's NIC (its last fragment, for a fragmented one).
    Emitted,
    /// A fault lost it.
    Lost,
    /// A fault flipped a bit of a frame carrying it: the receiver's checksums drop it — or,
    /// when two frames of one fragmented datagram were flipped, the flips may cancel in the
    /// UDP checksum and the datagram arrives changed.
    Corrupted,
    /// A fault delivered it twice.
    Duplicated,
}

/// One mark, resolved to its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) id: DatagramId,
    pub(crate) kind: MarkKind,
    /// The host whose link (either direction) it happened on.
    pub(crate) host: HostId,
    pub(crate) at: Instant,
}

/// A fragmented datagram being hashed on its first hop.
#[derive(Debug, Clone, Copy)]
struct Partial {
    src_port: u16,
    dst_port: u16,
    /// Bytes of the IPv4 payload hashed so far (the next fragment's offset).
    next: usize,
    hash: u64,
}

/// The fabric's marks: pending ones, and what resolving fragments needs.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    pending: Vec<(Carried, MarkKind, HostId, Instant)>,
    partial: BTreeMap<FragmentKey, Partial>,
    resolved: BTreeMap<FragmentKey, DatagramId>,
    resolved_previous: BTreeMap<FragmentKey, DatagramId>,
    /// Each NIC's MAC and static addresses, by endpoint.
    nics: BTreeMap<usize, ([u8; 6], Vec<Ipv4Addr>)>,
    /// Marks lost to a bound, or whose fragment never resolved.
    pub(crate) missed: u64,
}

/// The IPv4 header fields a mark needs, from an untagged Ethernet frame carrying UDP.
struct Ipv4Udp<'a> {
    key: FragmentKey,
    /// Fragment offset in bytes.
    offset: usize,
    more: bool,
    /// The IPv4 payload (up to the total length).
    payload: &'a [u8],
}

fn ipv4_udp(frame: &[u8]) -> Option<Ipv4Udp<'_>> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let vihl = *ip.first()?;
    if vihl >> 4 != 4 || *ip.get(9)? != 17 {
        return None;
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let ident = u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]);
    let flags = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let b = ip.get(at..at + 4)?;
        Some(Ipv4Addr::new(
            *b.first()?,
            *b.get(1)?,
            *b.get(2)?,
            *b.get(3)?,
        ))
    };
    Some(Ipv4Udp {
        key: FragmentKey {
            src: addr(12)?,
            dst: addr(16)?,
            ident,
        },
        offset: usize::from(flags & 0x1fff) * 8,
        more: flags & 0x2000 != 0,
        payload: ip.get(ihl..total.max(ihl))?,
    })
}

/// The UDP header's ports and the datagram's length from the start of a UDP datagram.
fn udp_header(p: &[u8]) -> Option<(u16, u16, usize)> {
    let port = |at: usize| Some(u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]));
    Some((port(0)?, port(2)?, usize::from(port(4)?)))
}

/// What a frame a switch sends to a NIC means for the datagram it carries, as its
/// addresses say (see [`Marks::misaddressed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Its own, or a copy flooded past a bystander: nothing to mark.
    Fine,
    /// The host holding the destination address gets a copy addressed to another MAC (a
    /// flood of a MAC no NIC has): it drops it, and no host takes the datagram.
    WrongMac,
    /// A NIC gets it by its MAC although its host does not hold the destination address
    /// (an ARP entry or a switch's table poisoned by a corrupted frame): it drops it.
    WrongHost,
}

impl Marks {
    /// The MAC and static addresses of the NIC at `endpoint`.
    pub(crate) fn set_nic(&mut self, endpoint: usize, mac: [u8; 6], addrs: Vec<Ipv4Addr>) {
        self.nics.insert(endpoint, (mac, addrs));
    }

    /// Whether a unicast IPv4 frame the switch sends to the NIC at `endpoint`, whose host
    /// holds its static addresses or `addrs` (those it holds now), reaches the datagram's
    /// receiver. ARP has no checksum, so a flipped bit
    /// in an ARP packet is learnt as it is: a host then sends to a MAC no NIC has (every copy
    /// flooded, each dropped), or to another host's MAC with an address it does not hold;
    /// a flipped source MAC teaches the switch a wrong port for a MAC. The frames are
    /// sound, but no host takes them: the datagrams they carry are lost to that corruption.
    /// `flooded`: the switch did not know the destination MAC.
    pub(crate) fn misaddressed(
        &self,
        endpoint: usize,
        frame: &[u8],
        flooded: bool,
        addrs: impl FnOnce() -> Vec<Ipv4Addr>,
    ) -> Delivery {
        let (Some(dst_mac), Some(ip)) = (frame.get(0..6), ipv4_udp(frame)) else {
            return Delivery::Fine;
        };
        if dst_mac.first().is_none_or(|b| b & 1 != 0) {
            return Delivery::Fine;
        }
        let nic = self.nics.get(&endpoint);
        let mac_ok = nic.is_some_and(|(m, _)| m.as_slice() == dst_mac);
        let ip_ok =
            nic.is_some_and(|(_, a)| a.contains(&ip.key.dst)) || addrs().contains(&ip.key.dst);
        match (mac_ok, ip_ok) {
            (true, true) => Delivery::Fine,
            (false, true) => Delivery::WrongMac,
            (true, false) => Delivery::WrongHost,
            (false, false) if flooded => Delivery::Fine,
            (false, false) => Delivery::WrongHost,
        }
    }

    /// What a frame leaving a sender's NIC carries; marks an unfragmented datagram (or a
    /// fragmented one's last fragment) emitted by `host` at `now`.
    pub(crate) fn first_hop(
        &mut self,
        frame: &[u8],
        host: HostId,
        now: Instant,
    ) -> Option<Carried> {
        let ip = ipv4_udp(frame)?;
        if ip.offset == 0 && !ip.more {
            let (sport, dport, len) = udp_header(ip.payload)?;
            let body = ip.payload.get(8..len.clamp(8, ip.payload.len()))?;
            let id = DatagramId {
                src: SocketAddrV4::new(ip.key.src, sport),
                dst_port: dport,
                digest: fnv(FNV_OFFSET, body),
            };
            let carried = Carried::Datagram(id);
            self.push(carried, MarkKind::Emitted, host, now);
            return Some(carried);
        }
        let carried = Carried::Fragment(ip.key);
        if ip.offset == 0 {
            // The first fragment: the UDP header, then the start of the payload.
            let (src_port, dst_port, _) = udp_header(ip.payload)?;
            if self.partial.len() >= MAX_PARTIAL_DATAGRAMS && !self.partial.contains_key(&ip.key) {
                return Some(carried);
            }
            // A new datagram under a (source, destination, identification) an older one had
            // (the 16-bit identification wraps; a restarted host starts afresh): marks on
            // its fragments must not resolve to the old one.
            self.resolved.remove(&ip.key);
            self.resolved_previous.remove(&ip.key);
            let body = ip.payload.get(8..).unwrap_or_default();
            self.partial.insert(
                ip.key,
                Partial {
                    src_port,
                    dst_port,
                    next: ip.payload.len(),
                    hash: fnv(FNV_OFFSET, body),
                },
            );
            return Some(carried);
        }
        match self.partial.get_mut(&ip.key) {
            Some(p) if p.next == ip.offset => {
                p.hash = fnv(p.hash, ip.payload);
                p.next += ip.payload.len();
                if !ip.more {
                    let id = DatagramId {
                        src: SocketAddrV4::new(ip.key.src, p.src_port),
                        dst_port: p.dst_port,
                        digest: p.hash,
                    };
                    self.partial.remove(&ip.key);
                    self.resolve_as(ip.key, id);
                    self.push(carried, MarkKind::Emitted, host, now);
                }
            }
            // Out of order: this datagram is not followed.
            Some(_) => {
                self.partial.remove(&ip.key);
            }
            None => {}
        }
        Some(carried)
    }

    fn resolve_as(&mut self, key: FragmentKey, id: DatagramId) {
        self.resolved.insert(key, id);
        if self.resolved.len() >= FRAGMENT_WINDOW {
            self.resolved_previous = std::mem::take(&mut self.resolved);
        }
    }

    fn lookup(&self, key: &FragmentKey) -> Option<DatagramId> {
        self.resolved
            .get(key)
            .or_else(|| self.resolved_previous.get(key))
            .copied()
    }

    /// Marks what a fault did to a frame carrying `carried` on `host`'s link.
    pub(crate) fn push(&mut self, carried: Carried, kind: MarkKind, host: HostId, now: Instant) {
        if self.pending.len() >= MAX_PENDING_MARKS {
            self.missed += 1;
            return;
        }
        self.pending.push((carried, kind, host, now));
    }

    /// The marks resolved so far, in order. A fragment's mark whose datagram is still being
    /// hashed waits for the next call; one that can no longer resolve is counted missed.
    pub(crate) fn take(&mut self) -> Vec<Mark> {
        let mut out = Vec::with_capacity(self.pending.len());
        let mut waiting = Vec::new();
        for (carried, kind, host, at) in std::mem::take(&mut self.pending) {
            let id = match carried {
                Carried::Datagram(id) => Some(id),
                Carried::Fragment(key) => self.lookup(&key),
            };
            match (id, carried) {
                (Some(id), _) => out.push(Mark { id, kind, host, at }),
                (None, Carried::Fragment(key)) if self.partial.contains_key(&key) => {
                    waiting.push((carried, kind, host, at));
                }
                (None, _) => self.missed += 1,
            }
        }
        self.pending = waiting;
        out
    }

    /// At the end of a run: what still waits can never resolve.
    pub(crate) fn finish(&mut self) -> Vec<Mark> {
        let out = self.take();
        self.missed += self.pending.len() as u64;
        self.pending.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet frame with an IPv4 header (no options) and `payload` as its IP payload.
    fn frame(ident: u16, offset: usize, more: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let total = (20 + payload.len()) as u16;
        let flags = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&ident.to_be_bytes());
        f.extend_from_slice(&flags.to_be_bytes());
        f.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(payload);
        f
    }

    fn udp(payload: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&5000u16.to_be_bytes());
        u.extend_from_slice(&7u16.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        u
    }

    fn id_of(payload: &[u8]) -> DatagramId {
        DatagramId {
            src: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5000),
            dst_port: 7,
            digest: fnv(FNV_OFFSET, payload),
        }
    }

    #[test]
    fn a_whole_datagram_is_known_by_its_ledger_key_on_every_hop() {
        let mut m = Marks::default();
        let payload: Vec<u8> = (0..100u8).collect();
        // Ethernet padding after the IP total length is not payload.
        let mut f = frame(1, 0, false, &udp(&payload));
        f.extend_from_slice(&[0xee; 6]);
        let c = m.first_hop(&f, 3, Instant::ZERO).expect("a UDP frame");
        assert_eq!(c, Carried::Datagram(id_of(&payload)));
        m.push(c, MarkKind::Lost, 4, Instant::from_millis(1));
        let marks = m.take();
        assert_eq!(
            marks.iter().map(|k| (k.kind, k.host)).collect::<Vec<_>>(),
            [(MarkKind::Emitted, 3), (MarkKind::Lost, 4)]
        );
        assert!(marks.iter().all(|k| k.id == id_of(&payload)));
        // Not UDP: nothing.
        let mut tcp = frame(2, 0, false, &udp(&payload));
        tcp[23] = 6;
        assert_eq!(m.first_hop(&tcp, 3, Instant::ZERO), None);
        assert_eq!(m.first_hop(&[0u8; 10], 3, Instant::ZERO), None);
        assert_eq!(m.missed, 0);
    }

    #[test]
    fn fragments_resolve_to_their_datagram_once_the_last_has_passed() {
        let mut m = Marks::default();
        let payload: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        let whole = udp(&payload);
        let (a, rest) = whole.split_at(1480);
        let (b, c) = rest.split_at(1480);
        let f0 = m
            .first_hop(&frame(9, 0, true, a), 1, Instant::ZERO)
            .unwrap();
        // Fragment 0 lost on its first hop, before the datagram is known.
        m.push(f0, MarkKind::Lost, 1, Instant::ZERO);
        assert!(m.take().is_empty(), "waits for the datagram");
        m.first_hop(&frame(9, 1480, true, b), 1, Instant::ZERO);
        m.first_hop(&frame(9, 2960, false, c), 1, Instant::ZERO);
        let marks = m.take();
        assert_eq!(
            marks.iter().map(|k| k.kind).collect::<Vec<_>>(),
            [MarkKind::Lost, MarkKind::Emitted]
        );
        assert!(marks.iter().all(|k| k.id == id_of(&payload)));
        // A later hop's mark on a fragment resolves at once.
        m.push(f0, MarkKind::Duplicated, 2, Instant::ZERO);
        assert_eq!(m.take()[0].id, id_of(&payload));
        // A fragment of a datagram never followed is missed, and counted.
        let stray = m
            .first_hop(&frame(10, 1480, true, b), 1, Instant::ZERO)
            .unwrap();
        m.push(stray, MarkKind::Lost, 1, Instant::ZERO);
        assert!(m.take().is_empty());
        assert_eq!(m.missed, 1);
        // Out of order: given up, and what waited for it is missed at the end.
        let g0 = m
            .first_hop(&frame(11, 0, true, a), 1, Instant::ZERO)
            .unwrap();
        m.push(g0, MarkKind::Lost, 1, Instant::ZERO);
        m.first_hop(&frame(11, 2960, false, c), 1, Instant::ZERO);
        assert!(m.finish().is_empty());
        assert_eq!(m.missed, 2);
    }

    #[test]
    fn a_reused_identification_resolves_to_the_new_datagram() {
        let mut m = Marks::default();
        let (old, new): (Vec<u8>, Vec<u8>) = (vec![1; 2000], vec![2; 2000]);
        for payload in [&old, &new] {
            let whole = udp(payload);
            let (a, b) = whole.split_at(1480);
            let f0 = m
                .first_hop(&frame(5, 0, true, a), 1, Instant::ZERO)
                .unwrap();
            m.push(f0, MarkKind::Lost, 1, Instant::ZERO);
            // Taken while the datagram is still being hashed: the mark waits for it (the
            // older datagram under the same key must not claim it).
            assert!(m.take().is_empty());
            m.first_hop(&frame(5, 1480, false, b), 1, Instant::ZERO);
            let marks = m.take();
            assert!(marks.iter().all(|k| k.id == id_of(payload)), "{marks:?}");
            assert_eq!(marks.len(), 2);
        }
    }

    #[test]
    fn frames_no_host_takes_for_their_addresses_are_told_apart() {
        let mut m = Marks::default();
        let ours = [2, 0, 0, 0, 0, 2];
        m.set_nic(7, ours, vec![Ipv4Addr::new(10, 0, 0, 2)]);
        let mut f = frame(1, 0, false, &udp(b"hello"));
        let to = |f: &mut Vec<u8>, mac: [u8; 6]| f[..6].copy_from_slice(&mac);
        let none = Vec::new;
        // Its own frame; a copy of another's flooded past it.
        to(&mut f, ours);
        assert_eq!(m.misaddressed(7, &f, false, none), Delivery::Fine);
        // (The test frame goes to 10.0.0.2, this NIC's address.)
        to(&mut f, [2, 0, 0, 0, 0, 9]);
        assert_eq!(m.misaddressed(7, &f, true, none), Delivery::WrongMac);
        assert_eq!(m.misaddressed(7, &f, false, none), Delivery::WrongMac);
        // Another host's address: a flooded copy is fine, a frame sent here by its MAC is not.
        f[30..34].copy_from_slice(&[10, 0, 0, 3]);
        assert_eq!(m.misaddressed(7, &f, true, none), Delivery::Fine);
        assert_eq!(m.misaddressed(7, &f, false, none), Delivery::WrongHost);
        to(&mut f, ours);
        assert_eq!(m.misaddressed(7, &f, false, none), Delivery::WrongHost);
        // An address the host holds now (a lease) counts as its own.
        let leased = || vec![Ipv4Addr::new(10, 0, 0, 3)];
        assert_eq!(m.misaddressed(7, &f, false, leased), Delivery::Fine);
        // Broadcasts and frames without a datagram are never misaddressed.
        to(&mut f, [0xff; 6]);
        assert_eq!(m.misaddressed(7, &f, false, none), Delivery::Fine);
        assert_eq!(m.misaddressed(7, &[0u8; 20], false, none), Delivery::Fine);
    }

    #[test]
    fn marks_are_bounded_and_what_does_not_fit_is_counted() {
        let mut m = Marks::default();
        let c = Carried::Datagram(id_of(b"x"));
        for _ in 0..MAX_PENDING_MARKS + 5 {
            m.push(c, MarkKind::Lost, 0, Instant::ZERO);
        }
        assert_eq!(m.missed, 5);
        assert_eq!(m.take().len(), MAX_PENDING_MARKS);
        let mut beyond = None;
        for i in 0..MAX_PARTIAL_DATAGRAMS as u16 + 3 {
            beyond = m.first_hop(&frame(i, 0, true, &udp(&[1; 16])), 0, Instant::ZERO);
        }
        assert_eq!(m.partial.len(), MAX_PARTIAL_DATAGRAMS);
        // A datagram beyond the bound is not followed: a mark on it never resolves, and is
        // counted missed (at the end of the run at the latest).
        let missed = m.missed;
        m.push(beyond.unwrap(), MarkKind::Lost, 0, Instant::ZERO);
        assert!(m.take().is_empty());
        assert!(m.finish().is_empty());
        assert_eq!(m.missed, missed + 1);
        for i in 0..2 * FRAGMENT_WINDOW as u16 + 10 {
            m.resolve_as(
                FragmentKey {
                    src: Ipv4Addr::LOCALHOST,
                    dst: Ipv4Addr::LOCALHOST,
                    ident: i,
                },
                id_of(b"y"),
            );
            assert!(m.resolved.len() + m.resolved_previous.len() <= 2 * FRAGMENT_WINDOW);
        }
    }
}
