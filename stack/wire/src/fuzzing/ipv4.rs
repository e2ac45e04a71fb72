//! Fuzz target body for IPv4 datagrams: the checked view, the lenient quoted view and the
//! Repr, which must re-emit the header byte for byte.

use crate::ChecksumMode;
use crate::ipv4::{Ipv4Packet, Ipv4Repr};

/// Parses `data` as an IPv4 datagram; on success emits the Repr, re-parses it and checks that
/// Repr, accessors and header bytes agree.
pub fn ipv4_packet(data: &[u8]) {
    // The lenient view accepts everything the strict one does, and fails the same way on
    // anything but the total length.
    let quoted = Ipv4Packet::new_quoted(data);
    let packet = match Ipv4Packet::new_checked(data) {
        Ok(p) => p,
        Err(e) => {
            if let Err(q) = &quoted {
                assert_eq!(*q, e);
            }
            if let Ok(q) = quoted {
                // Only a too-long total length separates them.
                assert!(
                    matches!(e, crate::ipv4::Ipv4Error::TotalLenExceedsBuffer { .. }),
                    "{e}"
                );
                assert!(q.is_truncated(), "{e}");
                let _ = Ipv4Repr::parse(&q, ChecksumMode::Trust).unwrap();
                assert!(q.payload().len() < usize::from(q.total_len()));
            }
            return;
        }
    };
    assert!(quoted.is_ok());
    assert!(!packet.is_truncated());

    let verdict = packet.verify_checksum();
    assert_eq!(
        Ipv4Repr::parse(&packet, ChecksumMode::Verify).is_ok(),
        verdict
    );
    let repr = Ipv4Repr::parse(&packet, ChecksumMode::Trust).unwrap();

    // Accessors agree with the Repr.
    let hl = packet.header_len();
    assert_eq!(repr.header_len(), hl);
    assert_eq!(repr.buffer_len(), usize::from(packet.total_len()));
    assert_eq!(packet.payload().len(), repr.payload_len);
    assert_eq!(packet.options().collect::<Vec<_>>(), repr.options.to_vec());
    assert_eq!(packet.options_padding(), repr.options_padding);
    assert_eq!(packet.frag_offset_bytes(), packet.frag_offset_units() * 8,);

    // Emit: the header comes back byte for byte, checksum aside.
    let mut out = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut out).unwrap(), hl);
    assert_eq!(out[..10], data[..10]);
    assert_eq!(out[12..hl], data[12..hl]);
    if verdict {
        // The ones'-complement sum has two zeros: a verifying header re-emits its checksum
        // unless it carried the other one.
        let (a, b) = (&out[10..12], &data[10..12]);
        assert!(a == b || (a == [0, 0] && b == [0xff, 0xff]));
    }
    out[hl..].copy_from_slice(packet.payload());
    let again = Ipv4Packet::new_checked(&out[..]).unwrap();
    assert!(again.verify_checksum());
    assert_eq!(again.payload(), packet.payload());
    assert_eq!(Ipv4Repr::parse(&again, ChecksumMode::Verify).unwrap(), repr);
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbitrary::{Arbitrary, Unstructured};
    use rand::{Rng, RngCore, SeedableRng};

    /// Runs the target over emitted Reprs with seeded byte mutations, so that both the
    /// accepting and the rejecting paths (every option error) are exercised.
    #[test]
    fn ipv4_fuzz_target_survives_mutated_datagrams() {
        let seed = 0xf0_0791;
        println!("seed {seed:#x}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut raw = [0u8; 512];
        let (mut accepted, mut runs) = (0, 0);
        for _ in 0..5_000 {
            rng.fill_bytes(&mut raw);
            let mut repr = Ipv4Repr::arbitrary(&mut Unstructured::new(&raw)).unwrap();
            repr.payload_len = repr.payload_len.min(64);
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf).unwrap();
            for _ in 0..8 {
                let mut m = buf.clone();
                for _ in 0..rng.gen_range(0..4) {
                    let i = rng.gen_range(0..m.len());
                    m[i] = rng.r#gen();
                }
                let cut = rng.gen_range(0..=m.len());
                let m = if rng.gen_bool(0.2) { &m[..cut] } else { &m[..] };
                accepted += usize::from(Ipv4Packet::new_checked(m).is_ok());
                ipv4_packet(m);
                runs += 1;
            }
        }
        println!("{runs} mutated IPv4 inputs, {accepted} accepted");
        assert!(accepted > runs / 10 && accepted < runs);
    }
}
