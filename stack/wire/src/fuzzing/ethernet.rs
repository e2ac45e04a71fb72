//! Ethernet II: checked parse; the header must survive emit and re-parse with the payload
//! unchanged.

use crate::ethernet::{EthernetFrame, EthernetRepr};

/// Parses `data` as an Ethernet II frame; on success emits the `Repr` followed by the
/// payload, re-parses, and checks that header, payload and accessors agree.
pub fn ethernet_frame(data: &[u8]) {
    let Ok(f) = EthernetFrame::new_checked(data) else {
        return;
    };
    let r = EthernetRepr::parse(&f);
    assert_eq!(r.header_len(), f.header_len());
    assert_eq!(r.dst, f.dst());
    assert_eq!(r.src, f.src());
    assert_eq!(r.ethertype, f.ethertype());
    assert_eq!(r.vlans, f.vlan_tags());
    assert_eq!(f.header_len() + f.payload().len(), data.len());
    let mut out = vec![0u8; r.header_len() + f.payload().len()];
    let n = r.emit(&mut out).unwrap();
    assert_eq!(n, r.header_len());
    out[n..].copy_from_slice(f.payload());
    assert_eq!(&out[..], data, "emit reproduces the header bytes");
    let f2 = EthernetFrame::new_checked(&out[..]).unwrap();
    assert_eq!(EthernetRepr::parse(&f2), r);
    assert_eq!(f2.payload(), f.payload());
}
