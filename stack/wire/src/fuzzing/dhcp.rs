//! DHCP: checked parse of a UDP payload; a message that parses must survive emit and
//! re-parse, and the view's accessors must agree with the `Repr`.

use crate::dhcp::{DhcpPacket, DhcpRepr, is_typed};

/// Parses `data` as a DHCP message; on success walks every option, builds the `Repr`, emits
/// it, re-parses the output and asserts equality.
pub fn dhcp_message(data: &[u8]) {
    let Ok(p) = DhcpPacket::new_checked(data) else {
        return;
    };
    // The walk the view validated never stops early: every option lies inside the buffer.
    for o in p.options() {
        assert!(o.code != 0 && o.code != 255);
        assert!(o.data.len() <= 255);
    }
    assert!(p.client_hardware_addr().len() <= 16);
    assert_eq!(p.check_end().is_ok(), p.missing_end().is_none());
    let Ok(r) = DhcpRepr::parse(&p) else {
        return;
    };
    assert_eq!(r.xid, p.xid());
    assert_eq!(r.op, p.op());
    assert_eq!(r.broadcast, p.broadcast());
    assert_eq!(r.relay_agent_ip, p.giaddr());
    assert_eq!(&r.client_hardware_address.0[..], p.client_hardware_addr());
    let untyped = p.options().filter(|o| !is_typed(o.code)).count();
    assert_eq!(r.other_options.len(), untyped);

    let n = r.buffer_len();
    let mut out = vec![0u8; n];
    assert_eq!(r.emit(&mut out).unwrap(), n);
    let p2 = DhcpPacket::new_checked(&out[..]).unwrap();
    assert!(
        p2.missing_end().is_none(),
        "emit always writes the end option"
    );
    assert!(p2.overload().is_none(), "emit never overloads");
    let r2 = DhcpRepr::parse(&p2).unwrap();
    assert_eq!(r2, r);
    // A second emit is byte-identical: the encoding is canonical.
    let mut again = vec![0u8; r2.buffer_len()];
    r2.emit(&mut again).unwrap();
    assert_eq!(again, out);
}
