//! TCP fuzz targets: `tcp_segment` (the checked view and the Repr) and `tcp_options` (the
//! standalone option parser and emitter).

use crate::checksum::ChecksumMode;
use crate::tcp::{
    MAX_OPTIONS_LEN, TcpOption, TcpPacket, TcpRepr, emit_options, options_len, parse_options,
};
use crate::{EmitError, Ipv4Addr};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// Checked parse of a segment; on success the accessors must agree with the Repr, and the
/// Repr must emit the same bytes (checksum aside) and parse back to itself.
pub fn tcp_segment(data: &[u8]) {
    let Ok(p) = TcpPacket::new_checked(data) else {
        return;
    };
    let r = TcpRepr::parse(&p, SRC, DST, ChecksumMode::Trust).expect("Trust never fails");
    assert_eq!(p.src_port(), r.src_port);
    assert_eq!(p.dst_port(), r.dst_port);
    assert_eq!(p.seq_number(), r.seq_number);
    assert_eq!(p.ack_number(), r.ack_number);
    assert_eq!(p.flags(), r.flags);
    assert_eq!(p.window_len(), r.window_len);
    assert_eq!(p.urgent_pointer(), r.urgent_pointer);
    assert_eq!(p.payload(), r.payload);
    assert_eq!(p.options_trailer(), r.options_trailer);
    assert!(p.options().eq(r.options.iter().cloned()));
    assert_eq!(p.mss(), r.mss());
    assert_eq!(p.window_scale(), r.window_scale());
    assert_eq!(p.sack_permitted(), r.sack_permitted());
    assert_eq!(p.timestamps(), r.timestamps());
    assert_eq!(p.sack_blocks().as_slice(), r.sack_blocks());
    assert_eq!(p.segment_len(), r.segment_len());
    assert_eq!(r.header_len(), p.header_len());
    assert_eq!(r.buffer_len(), data.len());
    // Options the view accepted are accepted by the standalone parser too.
    let (opts, trailer) = parse_options(p.options_raw()).unwrap();
    assert_eq!(opts, r.options);
    assert_eq!(trailer, r.options_trailer);

    let mut out = vec![0u8; r.buffer_len()];
    match r.emit(SRC, DST, &mut out) {
        Ok(n) => assert_eq!(n, data.len()),
        Err(EmitError::Unencodable {
            field: "payload", ..
        }) => {
            assert!(data.len() > usize::from(u16::MAX));
            return;
        }
        Err(e) => panic!("a parsed segment must emit: {e}"),
    }
    // Byte for byte, except the checksum, which is recomputed.
    assert_eq!(&out[..16], &data[..16]);
    assert_eq!(&out[18..], &data[18..]);
    if p.verify_checksum(SRC, DST) {
        // The ones'-complement sum has two zeros: a verifying segment re-emits its checksum
        // as carried, or as the other encoding of zero (0x0000 <-> 0xffff).
        let (was, now) = (p.checksum(), u16::from_be_bytes([out[16], out[17]]));
        assert!(
            was == now || (was ^ now) == 0xffff,
            "checksum {was:#06x} re-emitted as {now:#06x}"
        );
    }
    let p2 = TcpPacket::new_checked(&out[..]).unwrap();
    assert!(p2.verify_checksum(SRC, DST));
    let r2 = TcpRepr::parse(&p2, SRC, DST, ChecksumMode::Verify).unwrap();
    assert_eq!(r2, r);
}

/// Standalone option parse; on success the options re-emit to the same bytes (padded with
/// zeros to a multiple of 4) and parse back to the same list.
pub fn tcp_options(data: &[u8]) {
    let Ok((opts, trailer)) = parse_options(data) else {
        return;
    };
    assert!(data.len() <= MAX_OPTIONS_LEN);
    let padded = data.len().div_ceil(4) * 4;
    assert_eq!(options_len(&opts, trailer), Ok(padded));
    let mut out = [0xa5u8; MAX_OPTIONS_LEN];
    let n = emit_options(&opts, trailer, &mut out).unwrap();
    assert_eq!(n, padded);
    assert_eq!(&out[..data.len()], data);
    assert!(out[data.len()..n].iter().all(|&b| b == 0));

    let (opts2, trailer2) = parse_options(&out[..n]).unwrap();
    if opts.last() == Some(&TcpOption::EndOfList) {
        // The zero padding joins the trailer.
        assert_eq!(opts2, opts);
        assert_eq!(&trailer2[..trailer.len()], trailer);
    } else if n == data.len() {
        assert_eq!(opts2, opts);
        assert!(trailer2.is_empty());
    } else {
        // The first padding byte is an End of Option List.
        assert_eq!(opts2.len(), opts.len() + 1);
        assert_eq!(opts2[..opts.len()], opts[..]);
        assert_eq!(opts2.last(), Some(&TcpOption::EndOfList));
        assert!(trailer2.iter().all(|&b| b == 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_fuzz_targets_on_seeds_and_random_bytes() {
        use rand::{Rng, RngCore, SeedableRng};
        let seed = 0x7c9;
        println!("seed {seed:#x}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let syn = [
            0xc3, 0x50, 0x00, 0x50, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0xa0, 0x02, 0xfa, 0xf0, 0,
            0, 0, 0, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0, 1, 2, 3, 0, 0, 0, 0, 0x01,
            0x03, 0x03, 0x07,
        ];
        tcp_segment(&syn);
        tcp_options(&syn[20..]);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let mut b = syn.to_vec();
            b.resize(rng.gen_range(0..80), 0);
            // Mutate a few bytes, biased towards the data offset and the options.
            for _ in 0..rng.gen_range(0..4) {
                let i = rng.gen_range(0..b.len().max(1));
                if let Some(x) = b.get_mut(i) {
                    *x = rng.r#gen();
                }
            }
            if rng.gen_ratio(1, 4) {
                rng.fill_bytes(&mut b);
            }
            tcp_segment(&b);
            tcp_options(b.get(20..).unwrap_or(&[]));
            tcp_options(&b[..b.len().min(41)]);
            parsed += usize::from(TcpPacket::new_checked(&b[..]).is_ok());
        }
        println!("{parsed} of 20000 mutated segments parsed");
    }
}
