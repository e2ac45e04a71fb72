//! Fuzz target body for ICMPv4 messages: the checked view, the Repr (which must re-emit the
//! message byte for byte) and the lenient read of a quoted datagram.

use crate::ChecksumMode;
use crate::icmpv4::{Icmpv4Packet, Icmpv4Repr};

/// Parses `data` as an ICMP message (an IPv4 payload); on success emits the Repr, re-parses
/// it and checks that Repr, accessors and bytes agree.
pub fn icmpv4_packet(data: &[u8]) {
    let Ok(packet) = Icmpv4Packet::new_checked(data) else {
        assert!(data.len() < 8);
        return;
    };
    let verdict = packet.verify_checksum();
    assert_eq!(
        Icmpv4Repr::parse(&packet, ChecksumMode::Verify).is_ok(),
        verdict
    );
    let repr = Icmpv4Repr::parse(&packet, ChecksumMode::Trust).unwrap();
    assert_eq!(repr.msg_type(), packet.msg_type());
    assert_eq!(repr.code(), packet.code());
    assert_eq!(repr.rest_of_header(), packet.rest_of_header());
    assert_eq!(repr.data(), packet.data());
    assert_eq!(repr.buffer_len(), data.len());

    // The quote reads the same through the view and the Repr, and never panics.
    match (packet.quoted_datagram(), repr.quoted_datagram()) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.header.header(), b.header.header());
            assert_eq!(a.leading, b.leading);
            assert_eq!(a.ports(), b.ports());
            assert!(a.leading.len() <= 8);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("view and Repr disagree on the quote: {a:?} vs {b:?}"),
    }

    if repr.buffer_len() > crate::icmpv4::MAX_MESSAGE_LEN {
        return;
    }
    let mut out = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut out).unwrap(), data.len());
    assert_eq!(out[..2], data[..2]);
    assert_eq!(out[4..], data[4..]);
    if verdict {
        // The ones'-complement sum has two zeros; a verifying message re-emits its checksum
        // unless it carried the other one.
        let (a, b) = (&out[2..4], &data[2..4]);
        assert!(a == b || (a == [0xff, 0xff] && b == [0, 0]) || (a == [0, 0] && b == [0xff, 0xff]));
    }
    let again = Icmpv4Packet::new_checked(&out[..]).unwrap();
    assert!(again.verify_checksum());
    assert_eq!(
        Icmpv4Repr::parse(&again, ChecksumMode::Verify).unwrap(),
        repr
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbitrary::{Arbitrary, Unstructured};
    use rand::{Rng, RngCore, SeedableRng};

    /// Runs the target over emitted Reprs (with valid quoted headers half the time) under
    /// seeded byte mutations.
    #[test]
    fn icmp_fuzz_target_survives_mutated_messages() {
        let seed = 0xf0_0792;
        println!("seed {seed:#x}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut raw = [0u8; 512];
        let mut quote = vec![
            0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 1, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x14, 0xe9,
            0, 53, 0x05, 0xc8, 0, 0,
        ];
        let c = crate::checksum::checksum(&quote[..20]);
        quote[10..12].copy_from_slice(&c.to_be_bytes());
        let mut runs = 0;
        for _ in 0..5_000 {
            rng.fill_bytes(&mut raw);
            let mut repr = Icmpv4Repr::arbitrary(&mut Unstructured::new(&raw)).unwrap();
            if rng.gen_bool(0.5) {
                repr = Icmpv4Repr::DstUnreachable {
                    code: crate::icmpv4::DstUnreachableCode(rng.gen_range(0..16)),
                    next_hop_mtu: rng.r#gen(),
                    unused: 0,
                    quoted: &quote,
                };
            }
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf).unwrap();
            for _ in 0..8 {
                let mut m = buf.clone();
                for _ in 0..rng.gen_range(0..3) {
                    let i = rng.gen_range(0..m.len());
                    m[i] = rng.r#gen();
                }
                let cut = rng.gen_range(0..=m.len());
                let m = if rng.gen_bool(0.2) { &m[..cut] } else { &m[..] };
                icmpv4_packet(m);
                runs += 1;
            }
        }
        println!("{runs} mutated ICMP inputs");
    }
}
