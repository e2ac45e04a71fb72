//! Round trips of valid-by-construction Reprs through `weft_wire::fuzzing::roundtrip`: for each
//! protocol, at least 20,000 Reprs drawn from seeded ChaCha bytes are emitted behind headroom,
//! parsed back with checksums verified, and must compare equal (and re-emit the same bytes).
//! The fuzz body `repr_roundtrip`, which picks the protocol from its input, runs over the same
//! inputs.
//!
//! Set WEFT_ROUNDTRIP_SEED to replay another stream.

// Test code: a panic is a failure report, and indexes are checked by construction.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use arbitrary::Unstructured;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_wire::fuzzing::roundtrip::{ReprKind, repr_roundtrip, roundtrip};

const DEFAULT_SEED: u64 = 0x0072_7472;
/// Round trips to check per protocol.
const PER_PROTOCOL: usize = 20_000;

fn seed() -> u64 {
    weft_tests::seed_from_env("WEFT_ROUNDTRIP_SEED", DEFAULT_SEED)
}

#[test]
fn roundtrip_every_protocol_on_seeded_inputs() {
    let seed = seed();
    println!("seed {seed:#x} (set WEFT_ROUNDTRIP_SEED to replay another)");
    let mut data = vec![0u8; 8192];
    for (i, kind) in ReprKind::ALL.into_iter().enumerate() {
        // A separate stream per protocol, so that adding one does not reshuffle the others.
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(i as u64));
        let (mut checked, mut drawn) = (0usize, 0usize);
        while checked < PER_PROTOCOL {
            // Mostly short inputs (small Reprs, exhausted generators), some long ones.
            let len = if rng.gen_ratio(1, 4) {
                rng.gen_range(0..data.len())
            } else {
                rng.gen_range(0..1024)
            };
            rng.fill_bytes(&mut data[..len]);
            drawn += 1;
            if roundtrip(kind, &mut Unstructured::new(&data[..len])).is_ok() {
                checked += 1;
            }
            repr_roundtrip(&data[..len]);
            assert!(
                drawn < 5 * PER_PROTOCOL,
                "{}: only {checked} of {drawn} inputs drew a Repr",
                kind.name()
            );
        }
        println!(
            "{checked} {} round trips checked ({drawn} inputs)",
            kind.name()
        );
    }
}
