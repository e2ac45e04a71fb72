//! Fuzz target body `sim_tape`: a small workload and a fault tape from the input, every
//! oracle checked.
//!
//! The input is read with [`arbitrary::Unstructured`]: a seed, a workload (UDP echo or
//! request/response, 1–3 clients, 1–12 datagrams each, 1–300 bytes) and fault rates for the
//! links. The run with faults drawn from the seed gives a tape; the input then edits it entry
//! by entry — keep, delete, or replace the faults with a drop, a duplicate, a reordering or a
//! single-bit corruption — and may aim extra entries at later occurrences of the same frames.
//! The edited tape is replayed. The harness panics when:
//!
//! * any oracle fails on the drawn run or the replay (integrity, loss and duplicate
//!   accounting, the sender-side monitor, liveness);
//! * replaying the replay's own tape does not give the same run (same deliveries).
//!
//! At most one corruption is aimed at a frame: two bit flips can cancel in the 16-bit
//! Internet checksum, and a datagram corrupted that way reaching an application is the
//! checksum's known weakness, not a bug.

use crate::fabric::{FaultSource, LinkConfig, LinkSpec, Loss};
use crate::sim::{HostConfig, Sim, SimBuilder};
use crate::tape::{Fault, Tape, TapeEntry};
use crate::workload::{UdpEcho, UdpRequestResponse};
use arbitrary::Unstructured;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use weft_core::{Duration, Instant};

type Res<T> = arbitrary::Result<T>;

fn rate(u: &mut Unstructured<'_>) -> Res<f64> {
    Ok(f64::from(u.int_in_range(0..=150u16)?) / 1000.0)
}

fn builder(u: &mut Unstructured<'_>) -> Res<SimBuilder> {
    let link = LinkSpec::symmetric(LinkConfig {
        latency: Duration::from_micros(u64::from(u.int_in_range(10..=2000u16)?)),
        jitter: Duration::from_micros(u64::from(u.int_in_range(0..=500u16)?)),
        loss: Loss::Bernoulli { p: rate(u)? },
        duplicate: rate(u)?,
        reorder: rate(u)?,
        corrupt: rate(u)?,
        ..LinkConfig::default()
    });
    let clients: usize = u.int_in_range(1..=3)?;
    let count: u32 = u.int_in_range(1..=12)?;
    let size: usize = u.int_in_range(1..=300)?;
    let mut b = Sim::builder().switch("lan").until(Instant::from_secs(120));
    let mut names = Vec::new();
    for i in 0..=clients {
        let name = if i == 0 {
            "server".to_string()
        } else {
            format!("c{i}")
        };
        let addr = Ipv4Addr::new(10, 0, 0, 1 + i as u8);
        b = b.idle_host(&name, HostConfig::on("lan", addr, 24).link(link.clone()));
        if i > 0 {
            names.push(name);
        }
    }
    Ok(if u.arbitrary::<bool>()? {
        b.workload(UdpEcho {
            server: "server".into(),
            clients: names,
            datagrams_per_client: count,
            size,
            ..UdpEcho::default()
        })
    } else {
        b.workload(UdpRequestResponse {
            server: "server".into(),
            clients: names,
            requests_per_client: count,
            size,
            response_size: u.int_in_range(1..=300)?,
            ..UdpRequestResponse::default()
        })
    })
}

fn edit(u: &mut Unstructured<'_>, tape: &Tape) -> Res<Tape> {
    let mut entries = Vec::new();
    for e in &tape.entries {
        let faults = match u.int_in_range(0..=7u8)? {
            0..=2 => e.faults.clone(),
            3 => continue,
            4 => vec![Fault::Drop],
            5 => vec![Fault::Duplicate],
            6 => vec![Fault::Reorder {
                delay_ns: u64::from(u.int_in_range(1..=20_000u32)?) * 1000,
            }],
            _ => vec![Fault::Corrupt {
                bit: u.int_in_range(0..=12_000u32)?,
            }],
        };
        let mut key = e.key;
        if u.ratio(1u8, 8)? {
            key.occurrence = key.occurrence.saturating_add(u.int_in_range(1..=3)?);
        }
        entries.push(TapeEntry {
            key,
            faults,
            describe: e.describe.clone(),
        });
    }
    // One entry per frame, so at most one bit flip per frame.
    let mut seen = BTreeSet::new();
    entries.retain(|e| seen.insert(e.key));
    Ok(Tape { entries })
}

/// The `sim_tape` target.
pub fn sim_tape(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(seed) = u.arbitrary::<u16>() else {
        return;
    };
    let seed = u64::from(seed);
    let Ok(b) = builder(&mut u) else { return };
    let drawn = b.run(seed).expect("the harness builds valid simulations");
    assert!(
        drawn.ok(),
        "drawn faults, seed {seed}:\n{}",
        drawn.summary()
    );
    let Ok(tape) = edit(&mut u, &drawn.tape) else {
        return;
    };
    let replay = b
        .clone()
        .faults(FaultSource::Tape(tape.clone()))
        .run(seed)
        .expect("valid simulation");
    assert!(
        replay.ok(),
        "edited tape, seed {seed}:\n{}\n{}",
        tape.to_text(),
        replay.summary()
    );
    let again = b
        .faults(FaultSource::Tape(replay.tape.clone()))
        .run(seed)
        .expect("valid simulation");
    assert_eq!(
        again.trace_digest, replay.trace_digest,
        "replaying a run's own tape gives the same run (seed {seed})"
    );
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    #[test]
    fn sim_tape_holds_on_seeded_random_inputs() {
        let seed = 0x5349_4d54;
        println!("seed {seed}");
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let n = 300;
        for _ in 0..n {
            let mut input = vec![0u8; 32 + (rng.next_u32() % 480) as usize];
            rng.fill_bytes(&mut input);
            super::sim_tape(&input);
        }
        println!("{n} sim_tape inputs checked");
    }
}
