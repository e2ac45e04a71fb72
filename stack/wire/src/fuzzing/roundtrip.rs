//! Round trips of valid-by-construction `Repr`s: draw one from the input through its
//! `Arbitrary` impl, emit it behind some headroom, parse it back (checksums verified) and
//! require the same `Repr`; emitting the parsed `Repr` again must give the same bytes.
//!
//! The buffer around the emitted bytes is filled with a canary that must survive: `emit`
//! writes exactly the bytes it reports, never the caller's headroom or anything after.

use crate::arp::{ArpPacket, ArpRepr};
use crate::checksum::ChecksumMode;
use crate::dhcp::{DhcpPacket, DhcpRepr};
use crate::ethernet::{EthernetFrame, EthernetRepr};
use crate::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use crate::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::tcp::{TcpPacket, TcpRepr};
use crate::udp::{UdpPacket, UdpRepr};
use crate::{EmitError, Ipv4Addr};
use arbitrary::Unstructured;

/// The `Repr`s this module round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReprKind {
    /// [`EthernetRepr`].
    Ethernet,
    /// [`ArpRepr`].
    Arp,
    /// [`Ipv4Repr`].
    Ipv4,
    /// [`Icmpv4Repr`].
    Icmpv4,
    /// [`UdpRepr`].
    Udp,
    /// [`TcpRepr`].
    Tcp,
    /// [`DhcpRepr`].
    Dhcp,
}

impl ReprKind {
    /// Every kind.
    pub const ALL: [ReprKind; 7] = [
        ReprKind::Ethernet,
        ReprKind::Arp,
        ReprKind::Ipv4,
        ReprKind::Icmpv4,
        ReprKind::Udp,
        ReprKind::Tcp,
        ReprKind::Dhcp,
    ];

    /// The protocol's name.
    pub fn name(self) -> &'static str {
        match self {
            ReprKind::Ethernet => "Ethernet",
            ReprKind::Arp => "ARP",
            ReprKind::Ipv4 => "IPv4",
            ReprKind::Icmpv4 => "ICMPv4",
            ReprKind::Udp => "UDP",
            ReprKind::Tcp => "TCP",
            ReprKind::Dhcp => "DHCP",
        }
    }
}

/// Most headroom reserved in front of an emitted header.
pub const MAX_HEADROOM: usize = 64;
/// Canary bytes after the emitted bytes.
const TAIL: usize = 16;
/// The canary.
const CANARY: u8 = 0xa5;
/// Input a TCP option list can consume at most (40 bytes of options, and a few bytes of
/// choices per option), with margin.
const MIN_TCP_INPUT: usize = 128;

/// Fuzz body: the first choice picks the protocol, the rest of `data` draws its `Repr`.
pub fn repr_roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(&kind) = u.choose(&ReprKind::ALL) else {
        return;
    };
    let _ = roundtrip(kind, &mut u);
}

/// Draws one `Repr` of `kind` from `u` and checks its round trip (panicking on a broken
/// invariant). `Err` only when the input ran out before a `Repr` could be drawn; nothing was
/// checked then.
pub fn roundtrip(kind: ReprKind, u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let headroom = u.int_in_range(0..=MAX_HEADROOM)?;
    match kind {
        ReprKind::Ethernet => {
            let r: EthernetRepr = u.arbitrary()?;
            let out = emit_framed(headroom, r.header_len(), |b| r.emit(b));
            let f = EthernetFrame::new_checked(&out[..]).expect("emitted header parses");
            let back = EthernetRepr::parse(&f);
            assert_eq!(back, r);
            assert_eq!(emit_framed(0, back.header_len(), |b| back.emit(b)), out);
        }
        ReprKind::Arp => {
            let r: ArpRepr = u.arbitrary()?;
            let out = emit_framed(headroom, r.buffer_len(), |b| r.emit(b));
            let p = ArpPacket::new_checked(&out[..]).expect("emitted ARP parses");
            let back = ArpRepr::parse(&p).expect("emitted ARP is Ethernet/IPv4");
            assert_eq!(back, r);
            assert_eq!(emit_framed(0, back.buffer_len(), |b| back.emit(b)), out);
        }
        ReprKind::Ipv4 => {
            let r: Ipv4Repr<'_> = u.arbitrary()?;
            // emit writes the header; the payload is the caller's.
            let header = emit_framed(headroom, r.header_len(), |b| r.emit(b));
            let mut datagram = header.clone();
            datagram.extend((0..r.payload_len).map(|i| i as u8));
            let p = Ipv4Packet::new_checked(&datagram[..]).expect("emitted datagram parses");
            assert!(p.verify_checksum());
            let back = Ipv4Repr::parse(&p, ChecksumMode::Verify).expect("checksum verifies");
            assert_eq!(back, r);
            assert_eq!(back.buffer_len(), datagram.len());
            assert_eq!(emit_framed(0, back.header_len(), |b| back.emit(b)), header);
        }
        ReprKind::Icmpv4 => {
            let r: Icmpv4Repr<'_> = u.arbitrary()?;
            let out = emit_framed(headroom, r.buffer_len(), |b| r.emit(b));
            let p = Icmpv4Packet::new_checked(&out[..]).expect("emitted ICMP parses");
            let back = Icmpv4Repr::parse(&p, ChecksumMode::Verify).expect("checksum verifies");
            assert_eq!(back, r);
            assert_eq!(emit_framed(0, back.buffer_len(), |b| back.emit(b)), out);
        }
        ReprKind::Udp => {
            let (src, dst) = addresses(u)?;
            let r: UdpRepr<'_> = u.arbitrary()?;
            let out = emit_framed(headroom, r.buffer_len(), |b| r.emit(src, dst, b));
            let p = UdpPacket::new_checked(&out[..]).expect("emitted UDP parses");
            let back = UdpRepr::parse(&p, src, dst, ChecksumMode::Verify).expect("checksum");
            assert_eq!(back, r);
            assert_eq!(
                emit_framed(0, back.buffer_len(), |b| back.emit(src, dst, b)),
                out
            );
        }
        ReprKind::Tcp => {
            let (src, dst) = addresses(u)?;
            // TcpOption's generator draws kinds until one is untyped, and an exhausted
            // Unstructured yields 0 (End of Option List, a typed kind) forever: with fewer
            // bytes than an option list can consume, the draw may never return.
            if u.len() < MIN_TCP_INPUT {
                return Err(arbitrary::Error::NotEnoughData);
            }
            let r: TcpRepr<'_> = u.arbitrary()?;
            let out = emit_framed(headroom, r.buffer_len(), |b| r.emit(src, dst, b));
            let p = TcpPacket::new_checked(&out[..]).expect("emitted TCP parses");
            let back = TcpRepr::parse(&p, src, dst, ChecksumMode::Verify).expect("checksum");
            assert_eq!(back, r);
            assert_eq!(
                emit_framed(0, back.buffer_len(), |b| back.emit(src, dst, b)),
                out
            );
        }
        ReprKind::Dhcp => {
            let r: DhcpRepr<'_> = u.arbitrary()?;
            let out = emit_framed(headroom, r.buffer_len(), |b| r.emit(b));
            let p = DhcpPacket::new_checked(&out[..]).expect("emitted DHCP parses");
            let back = DhcpRepr::parse(&p).expect("emitted DHCP reads back");
            assert_eq!(back, r);
            assert_eq!(emit_framed(0, back.buffer_len(), |b| back.emit(b)), out);
        }
    }
    Ok(())
}

fn addresses(u: &mut Unstructured<'_>) -> arbitrary::Result<(Ipv4Addr, Ipv4Addr)> {
    Ok((
        Ipv4Addr::from(u.arbitrary::<u32>()?),
        Ipv4Addr::from(u.arbitrary::<u32>()?),
    ))
}

/// Emits `len` bytes through `emit` into a canary-filled buffer after `headroom` bytes, checks
/// the reported length and that the canary around them survived, and returns the bytes.
fn emit_framed(
    headroom: usize,
    len: usize,
    emit: impl FnOnce(&mut [u8]) -> Result<usize, EmitError>,
) -> Vec<u8> {
    let mut buf = vec![CANARY; headroom + len + TAIL];
    // The caller's buffer runs to the end of the allocation: emit must stop at its own length.
    let n = emit(&mut buf[headroom..]).unwrap_or_else(|e| panic!("a valid Repr emits: {e}"));
    assert_eq!(n, len, "emit reports the length it announced");
    assert!(
        buf[..headroom].iter().all(|&b| b == CANARY),
        "emit wrote into the headroom"
    );
    assert!(
        buf[headroom + len..].iter().all(|&b| b == CANARY),
        "emit wrote past its length"
    );
    buf[headroom..headroom + len].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_every_kind_on_seeded_inputs() {
        use rand::{Rng, RngCore, SeedableRng};
        let seed = 0x7272;
        println!("seed {seed:#x}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for kind in ReprKind::ALL {
            let mut checked = 0;
            for _ in 0..200 {
                let mut data = vec![0u8; rng.gen_range(0..4096)];
                rng.fill_bytes(&mut data);
                checked += usize::from(roundtrip(kind, &mut Unstructured::new(&data)).is_ok());
                repr_roundtrip(&data);
            }
            println!("{checked} {} round trips checked", kind.name());
            assert!(
                checked > 100,
                "{}: only {checked} of 200 drew a Repr",
                kind.name()
            );
        }
    }

    #[test]
    fn roundtrip_empty_input_checks_nothing_and_does_not_panic() {
        repr_roundtrip(&[]);
        for kind in ReprKind::ALL {
            // An exhausted Unstructured yields defaults; whatever it draws must round-trip.
            let _ = roundtrip(kind, &mut Unstructured::new(&[]));
        }
    }

    #[test]
    #[should_panic(expected = "emit wrote past its length")]
    fn roundtrip_canary_catches_an_overlong_write() {
        emit_framed(4, 2, |b| {
            b[..3].fill(0);
            Ok(2)
        });
    }
}
