//! `cargo xtask latency`: how long a load takes on this machine by how much memory a program
//! keeps touching — where its caches end, measured rather than read from `lscpu`.
//!
//! For each working-set size, the cache lines of a buffer of that size are linked into one
//! cycle in a random order (a seeded shuffle: every run walks the same cycle) and walked:
//! each load's address is the previous load's value, so no two loads overlap and no
//! prefetcher can guess the next line. The time per load is that of the level the working set
//! fits in. On a machine whose last-level cache is shared with other tenants (a VM) the size
//! where the time climbs is the cache this program actually gets, which can be far less than
//! the cache the CPU has; the simulator benchmarks' step in cost per event
//! (BENCHMARKS.md, sim_echo_vs_turmoil) lies where their working set crosses it.

use anyhow::{Result, bail};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Working sets walked, in KiB.
const SIZES_KIB: [usize; 15] = [
    256, 512, 1024, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768, 49152, 65536, 131072,
];
/// Loads timed per run.
const STEPS: usize = 2_000_000;
/// Runs per size (the median is printed).
const RUNS: usize = 3;
/// The cycle's seed.
const SEED: u64 = 0x6c61_7465_6e63_7921;

/// One cache line: the index of the next line in its first word.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line {
    next: usize,
    _pad: [usize; 7],
}

/// The lines of `n` linked into one cycle in a random order (Fisher–Yates): each line points
/// at the one after it in the shuffled order, the last at the first, so the walk visits every
/// line before it repeats, in an order no prefetcher follows.
fn cycle(n: usize, rng: &mut ChaCha8Rng) -> Vec<Line> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.gen_range(0..=i);
        order.swap(i, j);
    }
    let mut lines = vec![
        Line {
            next: 0,
            _pad: [0; 7]
        };
        n
    ];
    // Each line points at the one after it in `order`, the last at the first.
    for (&from, &to) in order.iter().zip(order.iter().cycle().skip(1)) {
        if let Some(l) = lines.get_mut(from) {
            l.next = to;
        }
    }
    lines
}

/// Nanoseconds per load walking `lines` for `steps` loads from line 0.
fn walk(lines: &[Line], steps: usize) -> Result<f64> {
    let mut at = 0usize;
    // A benchmark's own timer (the stack and the simulator never read a clock).
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    for _ in 0..steps {
        at = match lines.get(at) {
            Some(l) => l.next,
            None => bail!("line {at} outside the cycle"),
        };
    }
    let ns = start.elapsed().as_nanos() as f64;
    std::hint::black_box(at);
    Ok(ns / steps as f64)
}

pub fn run() -> Result<()> {
    println!(
        "load-to-use latency by working set: one dependent load per 64-byte line along a random \
         cycle (seed {SEED:#x}, {STEPS} loads a run, median of {RUNS} runs, after one pass \
         that touches every line)"
    );
    println!("{:>10}  {:>8}", "KiB", "ns/load");
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for kib in SIZES_KIB {
        let lines = cycle(kib * 1024 / 64, &mut rng);
        walk(&lines, lines.len())?;
        let mut t = (0..RUNS)
            .map(|_| walk(&lines, STEPS))
            .collect::<Result<Vec<f64>>>()?;
        t.sort_by(f64::total_cmp);
        let median = t.get(RUNS / 2).copied().unwrap_or(f64::NAN);
        println!("{kib:>10}  {median:>8.1}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk visits every line once per lap (a short cycle would stay in the caches and
    /// hide the latency being measured), and its steps go to lines in no particular order: a
    /// walk from one line to the next in memory would be the pattern prefetchers follow.
    #[test]
    fn the_lines_form_one_cycle_in_random_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        for n in [1usize, 2, 3, 64, 1000, 100_000] {
            let lines = cycle(n, &mut rng);
            let mut seen = vec![false; n];
            let mut at = 0;
            let mut sequential = 0;
            for _ in 0..n {
                assert!(!seen[at], "line {at} visited twice in one lap of {n}");
                seen[at] = true;
                let next = lines[at].next;
                if next == (at + 1) % n {
                    sequential += 1;
                }
                at = next;
            }
            assert_eq!(at, 0, "the lap of {n} ends where it began");
            assert!(seen.iter().all(|&s| s));
            if n >= 1000 {
                // A random order steps to the next line about once per lap.
                assert!(
                    sequential < 10,
                    "{sequential} of {n} steps to the next line"
                );
            }
        }
    }
}
