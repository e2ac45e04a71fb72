//! ARP: checked parse of any packet; an Ethernet/IPv4 one must survive emit and re-parse.

use crate::arp::{ArpError, ArpPacket, ArpRepr};

/// Parses `data` as an ARP packet; on success checks the generic accessors against the
/// announced lengths, and for Ethernet/IPv4 packets that emit reproduces the packet bytes and
/// re-parses to the same `Repr`.
pub fn arp_packet(data: &[u8]) {
    let Ok(p) = ArpPacket::new_checked(data) else {
        return;
    };
    let h = usize::from(p.hardware_len());
    let l = usize::from(p.protocol_len());
    assert_eq!(p.sender_hardware_addr().len(), h);
    assert_eq!(p.sender_protocol_addr().len(), l);
    assert_eq!(p.target_hardware_addr().len(), h);
    assert_eq!(p.target_protocol_addr().len(), l);
    assert_eq!(p.packet_len(), 8 + 2 * (h + l));
    assert_eq!(p.packet().len() + p.padding().len(), data.len());
    let r = match ArpRepr::parse(&p) {
        Ok(r) => r,
        Err(e) => {
            assert!(!p.is_ethernet_ipv4());
            assert!(!matches!(e, ArpError::Truncated { .. }));
            return;
        }
    };
    assert!(p.is_ethernet_ipv4());
    assert_eq!(r.operation, p.operation());
    let mut out = [0u8; 28];
    assert_eq!(r.emit(&mut out).unwrap(), r.buffer_len());
    assert_eq!(
        &out[..],
        p.packet(),
        "emit reproduces an Ethernet/IPv4 packet"
    );
    let p2 = ArpPacket::new_checked(&out[..]).unwrap();
    assert_eq!(ArpRepr::parse(&p2).unwrap(), r);
    assert!(
        !r.is_probe() || !r.is_announcement(),
        "a probe is never an announcement"
    );
}
