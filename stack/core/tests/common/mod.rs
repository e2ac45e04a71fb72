//! Pieces the flood and scale tests share: the host under test and its peers, and an
//! Ethernet header writer.

#![allow(dead_code)]

use weft_core::IfaceId;
use weft_wire::ethernet::{EtherType, EthernetRepr};
use weft_wire::{Ipv4Addr, MacAddr};

/// The stack under test: 10.0.0.1 on interface 0.
pub const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Its MAC.
pub const US_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
/// Its one interface.
pub const IFACE: IfaceId = IfaceId(0);

/// The `i`th distinct peer: 10.0.0.2 upwards (on-link in a /8), a locally administered MAC.
pub fn peer(i: u64) -> (Ipv4Addr, MacAddr) {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 2)) + i as u32);
    let b = (i as u32).to_be_bytes();
    (ip, MacAddr([0x02, 0x10, b[0], b[1], b[2], b[3]]))
}

/// Writes an untagged Ethernet header at the start of `buf`; returns its length.
pub fn eth(buf: &mut [u8], src: MacAddr, dst: MacAddr, ethertype: EtherType) -> usize {
    EthernetRepr {
        dst,
        src,
        vlans: Default::default(),
        ethertype,
    }
    .emit(buf)
    .unwrap()
}
