//! UDP fuzz target: `udp_datagram`.

use crate::Ipv4Addr;
use crate::checksum::ChecksumMode;
use crate::udp::{UdpChecksumVerdict, UdpPacket, UdpRepr};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// Checked parse of a datagram; on success the accessors must agree with the Repr, and the
/// Repr must emit the datagram's bytes (checksum aside, padding dropped) and parse back.
pub fn udp_datagram(data: &[u8]) {
    let Ok(p) = UdpPacket::new_checked(data) else {
        return;
    };
    let r = UdpRepr::parse(&p, SRC, DST, ChecksumMode::Trust).expect("Trust never fails");
    assert_eq!(p.src_port(), r.src_port);
    assert_eq!(p.dst_port(), r.dst_port);
    assert_eq!(p.payload(), r.payload);
    assert_eq!(usize::from(p.len_field()), r.buffer_len());
    assert_eq!(p.datagram().len() + p.padding().len(), data.len());
    let verdict = p.verify_checksum(SRC, DST);
    assert_eq!(verdict == UdpChecksumVerdict::Absent, p.checksum() == 0);

    let mut out = vec![0u8; r.buffer_len()];
    let n = r.emit(SRC, DST, &mut out).unwrap();
    assert_eq!(n, usize::from(p.len_field()));
    assert_eq!(&out[..6], &data[..6]);
    assert_eq!(&out[8..], &p.datagram()[8..]);
    if verdict == UdpChecksumVerdict::Good {
        assert_eq!(&out[..], p.datagram());
    }
    let p2 = UdpPacket::new_checked(&out[..]).unwrap();
    assert_eq!(p2.verify_checksum(SRC, DST), UdpChecksumVerdict::Good);
    let r2 = UdpRepr::parse(&p2, SRC, DST, ChecksumMode::Verify).unwrap();
    assert_eq!(r2, r);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_fuzz_target_on_random_bytes() {
        use rand::{Rng, RngCore, SeedableRng};
        let seed = 0x768;
        println!("seed {seed:#x}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let mut b = vec![0u8; rng.gen_range(0..64)];
            rng.fill_bytes(&mut b);
            if b.len() >= 8 && rng.gen_ratio(3, 4) {
                // A plausible length field, sometimes with padding after it.
                let l = rng.gen_range(8..=b.len()) as u16;
                b[4..6].copy_from_slice(&l.to_be_bytes());
            }
            if b.len() >= 8 && rng.gen_ratio(1, 8) {
                b[6..8].copy_from_slice(&[0, 0]);
            }
            udp_datagram(&b);
            parsed += usize::from(UdpPacket::new_checked(&b[..]).is_ok());
        }
        println!("{parsed} of 20000 random datagrams parsed");
    }
}
