//! The link model, frame by frame: raw hosts send numbered frames on a plan over links with
//! one property each, and every test checks what arrived, when, and what the counters say
//! against the model: exact times, exact drops, or statistical bounds over many frames.

#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)]

mod common;

use common::{Log, Planned, RawLan, To};
use std::collections::BTreeSet;
use weft_core::{Duration, Instant};
use weft_sim::{Fault, LinkConfig, LinkSpec, Loss, Report, SimBuilder};

/// What one run of a sender `a` and a receiver `b` did.
struct Out {
    report: Report,
    /// What `a` sent, and when.
    sent: Vec<(Instant, Vec<u8>)>,
    /// What reached `b`, and when.
    got: Vec<(Instant, Vec<u8>)>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap()
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// Serialisation of `len` bytes at `bps`, as the model computes it (whole nanoseconds).
fn serialisation(len: usize, bps: u64) -> Duration {
    Duration::from_nanos(len as u64 * 8 * 1_000_000_000 / bps)
}

/// `a` sends `plan` to `b`; `idle` hosts are added first (they never send).
fn one_way(idle: usize, a: LinkSpec, b: LinkSpec, plan: Vec<Planned>, seed: u64) -> Out {
    let end = plan.iter().map(|p| p.at).max().unwrap() + Duration::from_secs(1);
    let mut lan = RawLan::default();
    for i in 0..idle {
        lan.sink(&format!("idle{i}"), LinkSpec::default());
    }
    let a = lan.sender("a", a, plan, end);
    let got = lan.sink("b", b);
    let report = run(&lan.sim, seed);
    assert!(report.ok(), "{}", report.oracle_summary());
    assert!(a.got.borrow().is_empty(), "nothing is sent to a");
    Out {
        report,
        sent: a.sent.take(),
        got: got.take(),
    }
}

fn run(sim: &SimBuilder, seed: u64) -> Report {
    println!("seed {seed}");
    let r = sim.run(seed).expect("valid simulation");
    println!("{}", r.summary());
    r
}

/// `n` frames of `len` bytes to `b`, one every `gap` from 1 ms.
fn stream(n: u32, len: usize, gap: Duration) -> Vec<Planned> {
    (0..n)
        .map(|i| {
            Planned::new(
                Instant::from_millis(1) + Duration::from_nanos(nanos(gap) * u64::from(i)),
                To::Host("b".into()),
                i,
                len,
            )
        })
        .collect()
}

/// The link of a host: `up` host → switch, default switch → host.
fn up(up: LinkConfig) -> LinkSpec {
    LinkSpec {
        a_to_b: up,
        b_to_a: LinkConfig::default(),
    }
}

/// The link of a host: default host → switch, `down` switch → host.
fn down(down: LinkConfig) -> LinkSpec {
    LinkSpec {
        a_to_b: LinkConfig::default(),
        b_to_a: down,
    }
}

/// When each frame (by number) was sent.
fn sent_at(out: &Out) -> Vec<Instant> {
    let mut at = vec![Instant::ZERO; out.sent.len()];
    for (t, f) in &out.sent {
        at[common::seq_of(f) as usize] = *t;
    }
    at
}

/// Each received frame's number and time in flight.
fn delays(out: &Out) -> Vec<(u32, Duration)> {
    let at = sent_at(out);
    out.got
        .iter()
        .map(|(t, f)| {
            let s = common::seq_of(f);
            (s, *t - at[s as usize])
        })
        .collect()
}

#[test]
fn link_arrival_is_latency_plus_serialisation_on_each_hop() {
    let a_up = LinkConfig {
        latency: us(300),
        bandwidth_bps: 8_000_000,
        ..LinkConfig::default()
    };
    let b_down = LinkConfig {
        latency: us(200),
        bandwidth_bps: 80_000_000,
        ..LinkConfig::default()
    };
    let to_b = || To::Host("b".into());
    let plan = vec![
        // Alone on idle links.
        Planned::new(Instant::from_millis(1), to_b(), 0, 1000),
        Planned::new(Instant::from_millis(5), to_b(), 1, 64),
        // Two at once: the second waits for the first to leave each hop.
        Planned::new(Instant::from_millis(10), to_b(), 2, 500),
        Planned::new(Instant::from_millis(10), to_b(), 3, 1000),
    ];
    let out = one_way(0, up(a_up.clone()), down(b_down.clone()), plan, 1);
    let hop = |len: usize, c: &LinkConfig| serialisation(len, c.bandwidth_bps) + c.latency;
    let alone = |len| hop(len, &a_up) + hop(len, &b_down);
    let got: Vec<(u32, Instant)> = out
        .got
        .iter()
        .map(|(t, f)| (common::seq_of(f), *t))
        .collect();
    // 1000 bytes: 1 ms at 8 Mbit/s + 300 µs, then 100 µs at 80 Mbit/s + 200 µs.
    assert_eq!(alone(1000), us(1600));
    let t10 = Instant::from_millis(10);
    // Frame 3 leaves a's NIC when frame 2 is through (500 µs), reaches the switch 300 µs
    // after its own 1 ms of serialisation; b's hop is idle again by then.
    let third_at_switch = t10 + serialisation(500, 8_000_000) + hop(1000, &a_up);
    assert_eq!(
        got,
        [
            (0, Instant::from_millis(1) + alone(1000)),
            (1, Instant::from_millis(5) + alone(64)),
            (2, t10 + alone(500)),
            (3, third_at_switch + hop(1000, &b_down)),
        ]
    );
    assert_eq!(got[3].1, Instant::from_nanos(12_100_000));
}

#[test]
fn link_drop_tail_queue_takes_exactly_queue_frames() {
    // 1000 bytes at 8 Mbit/s: one frame a millisecond.
    let a_up = LinkConfig {
        bandwidth_bps: 8_000_000,
        queue_frames: 5,
        ..LinkConfig::default()
    };
    let to_b = || To::Host("b".into());
    let at = |us: u64| Instant::from_nanos(us * 1000);
    let mut plan = Vec::new();
    // 12 at once: 5 queue (the one on the wire counts), 7 are dropped.
    for i in 0..12 {
        plan.push(Planned::new(at(1_000), to_b(), i, 1000));
    }
    // Well after the queue drained: all 3 pass.
    for i in 12..15 {
        plan.push(Planned::new(at(20_000), to_b(), i, 1000));
    }
    // 5 fill it; 1.5 ms later one has left, so 1 of 3 more gets in.
    for i in 15..20 {
        plan.push(Planned::new(at(40_000), to_b(), i, 1000));
    }
    for i in 20..23 {
        plan.push(Planned::new(at(41_500), to_b(), i, 1000));
    }
    let out = one_way(0, up(a_up), LinkSpec::default(), plan, 2);
    let got: Vec<u32> = out.got.iter().map(|(_, f)| common::seq_of(f)).collect();
    let expect: Vec<u32> = (0..5).chain(12..15).chain(15..21).collect();
    assert_eq!(got, expect);
    let c = out.report.links[0].to_switch;
    assert_eq!((c.frames_in, c.queue_drops, c.delivered), (23, 7 + 2, 14));
}

#[test]
fn link_jitter_stays_within_its_bound_and_keeps_order() {
    let (latency, jitter) = (us(1000), us(500));
    let a_up = LinkConfig {
        latency,
        jitter,
        ..LinkConfig::default()
    };
    let b_hop = LinkConfig::default().latency;
    // Sparse: 2 ms apart, so no frame waits for the one before.
    let sparse = one_way(
        0,
        up(a_up.clone()),
        LinkSpec::default(),
        stream(500, 100, us(2000)),
        3,
    );
    let d: Vec<u64> = delays(&sparse)
        .iter()
        .map(|(_, d)| nanos(*d - b_hop - latency))
        .collect();
    assert_eq!(d.len(), 500);
    let j = nanos(jitter);
    assert!(d.iter().all(|x| *x <= j), "within 0..=jitter");
    let (min, max) = (*d.iter().min().unwrap(), *d.iter().max().unwrap());
    let mean = d.iter().sum::<u64>() / d.len() as u64;
    println!("jitter over 500 sparse frames: min {min} max {max} mean {mean} ns");
    // Uniform on 0..=500 µs: min and max near the ends, mean near the middle (its standard
    // deviation is 6.5 µs over 500 frames).
    assert!(min < j / 10 && max > j * 9 / 10, "spread {min}..{max}");
    assert!(mean.abs_diff(j / 2) < 40_000, "mean {mean}");
    assert!(
        d.iter().collect::<BTreeSet<_>>().len() > 400,
        "per-frame draws"
    );
    // Dense: 20 µs apart, far less than the jitter; frames never pass each other.
    let dense = one_way(
        0,
        up(a_up),
        LinkSpec::default(),
        stream(2000, 100, us(20)),
        3,
    );
    let d = delays(&dense);
    assert_eq!(d.len(), 2000);
    assert!(
        d.windows(2).all(|w| w[0].0 + 1 == w[1].0),
        "arrived in the order sent"
    );
    assert!(dense.got.windows(2).all(|w| w[0].0 <= w[1].0));
    let extra: Vec<u64> = d.iter().map(|(_, x)| nanos(*x - b_hop - latency)).collect();
    assert!(
        extra.iter().all(|x| *x <= j),
        "the order costs no more than the bound"
    );
    assert!(extra.iter().collect::<BTreeSet<_>>().len() > 100);
}

#[test]
fn link_reordering_inverts_order_by_the_reorder_delay() {
    let delay = us(1000);
    let a_up = LinkConfig {
        reorder: 0.1,
        reorder_delay: delay,
        ..LinkConfig::default()
    };
    let base = a_up.latency + LinkConfig::default().latency;
    let out = one_way(
        0,
        up(a_up),
        LinkSpec::default(),
        stream(1000, 100, us(50)),
        4,
    );
    let d = delays(&out);
    assert_eq!(d.len(), 1000, "reordering loses nothing");
    let held: BTreeSet<u32> = d
        .iter()
        .filter(|(_, x)| *x == base + delay)
        .map(|(s, _)| *s)
        .collect();
    assert!(
        d.iter().all(|(_, x)| *x == base || *x == base + delay),
        "on time or held back by exactly the reorder delay"
    );
    let c = out.report.links[0].to_switch;
    assert_eq!(held.len() as u64, c.reordered);
    let tape_held = out
        .report
        .tape
        .entries
        .iter()
        .filter(|e| {
            e.faults
                == [Fault::Reorder {
                    delay_ns: nanos(delay),
                }]
        })
        .count();
    assert_eq!(tape_held, held.len(), "the tape holds each");
    // Between 60 and 140 of 1000 at p = 0.1 (σ ≈ 9.5: ±4.2 standard deviations).
    assert!((60..=140).contains(&held.len()), "{} held back", held.len());
    // Every held frame arrives after the next frame (sent 50 µs later), unless that one was
    // held too.
    let pos: Vec<usize> = {
        let mut p = vec![0; 1000];
        for (i, (s, _)) in d.iter().enumerate() {
            p[*s as usize] = i;
        }
        p
    };
    for s in &held {
        let next = s + 1;
        if next < 1000 && !held.contains(&next) {
            assert!(pos[*s as usize] > pos[next as usize], "frame {s} passed");
        }
    }
    let inversions = d.windows(2).filter(|w| w[0].0 > w[1].0).count();
    assert!(inversions >= held.len() / 2, "{inversions} inversions");
}

#[test]
fn link_mtu_passes_exactly_mtu_plus_header_and_drops_one_byte_more() {
    let b_down = LinkConfig {
        mtu: 1000,
        ..LinkConfig::default()
    };
    let to_b = || To::Host("b".into());
    let at = Instant::from_millis;
    let plan = vec![
        Planned::new(at(1), to_b(), 0, 1014),
        Planned::new(at(2), to_b(), 1, 1015),
        Planned::new(at(3), to_b(), 2, 1014),
        Planned::new(at(4), to_b(), 3, 60),
        Planned::new(at(5), to_b(), 4, 1514),
        // The MTU counts what follows the header and its 802.1Q tag (IEEE 802.3 §3.5).
        Planned::new(at(6), to_b(), 5, 1018).tagged(),
        Planned::new(at(7), to_b(), 6, 1019).tagged(),
    ];
    let out = one_way(0, LinkSpec::default(), down(b_down), plan, 5);
    let got: Vec<(u32, usize)> = out
        .got
        .iter()
        .map(|(_, f)| (common::seq_of(f), f.len()))
        .collect();
    assert_eq!(got, [(0, 1014), (2, 1014), (3, 60), (5, 1018)]);
    let b = &out.report.links[1];
    assert_eq!((b.from_switch.mtu_drops, b.from_switch.delivered), (3, 4));
    assert_eq!(
        out.report.links[0].to_switch.mtu_drops, 0,
        "a's MTU is 1500"
    );
}

/// The bit positions where two frames of one length differ.
fn flipped_bits(a: &[u8], b: &[u8]) -> Vec<u32> {
    assert_eq!(a.len(), b.len());
    let mut bits = Vec::new();
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        for bit in 0..8 {
            if (x ^ y) >> bit & 1 == 1 {
                bits.push(i as u32 * 8 + bit);
            }
        }
    }
    bits
}

#[test]
fn link_corruption_flips_exactly_one_bit_end_to_end() {
    let corrupt = LinkConfig {
        corrupt: 1.0,
        ..LinkConfig::default()
    };
    // On b's hop only: every frame arrives with one bit flipped, the bit the tape names.
    // (One idle host first: a is host 1, b host 2, whose MACs differ in two bits, so no
    // single flip of b's address makes it a's, which the switch would filter.)
    let out = one_way(
        1,
        LinkSpec::default(),
        down(corrupt.clone()),
        stream(500, 200, us(100)),
        6,
    );
    assert_eq!(out.got.len(), 500);
    let mut positions = BTreeSet::new();
    for (((_, sent), (_, got)), entry) in
        out.sent.iter().zip(&out.got).zip(&out.report.tape.entries)
    {
        let bits = flipped_bits(sent, got);
        assert_eq!(bits.len(), 1, "exactly one bit flipped");
        assert_eq!(entry.faults, [Fault::Corrupt { bit: bits[0] }]);
        positions.insert(bits[0]);
    }
    assert_eq!(out.report.links[2].from_switch.corrupted, 500);
    assert!(positions.len() > 300, "{} positions", positions.len());
    // On both hops, every frame: still one flip, on the first hop.
    let both = LinkSpec::symmetric(corrupt);
    let out = one_way(1, both.clone(), both, stream(500, 200, us(100)), 6);
    assert_eq!(out.got.len(), 500);
    for ((_, sent), (_, got)) in out.sent.iter().zip(&out.got) {
        assert_eq!(flipped_bits(sent, got).len(), 1);
    }
    assert_eq!(out.report.links[1].to_switch.corrupted, 500);
    assert_eq!(out.report.links[2].from_switch.corrupted, 0);
}

/// Runs of consecutive frames (by number) that did not arrive, of `n` sent.
fn loss_runs(out: &Out, n: u32) -> Vec<u32> {
    let got: BTreeSet<u32> = out.got.iter().map(|(_, f)| common::seq_of(f)).collect();
    let mut runs = Vec::new();
    let mut run = 0;
    for s in 0..n {
        if got.contains(&s) {
            if run > 0 {
                runs.push(run);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    if run > 0 {
        runs.push(run);
    }
    runs
}

#[test]
fn link_gilbert_elliott_loses_in_bursts_bernoulli_at_the_same_rate_does_not() {
    const N: u32 = 40_000;
    let (p_gb, p_bg) = (0.02, 0.25);
    let ge = Loss::GilbertElliott {
        p_good_to_bad: p_gb,
        p_bad_to_good: p_bg,
        loss_good: 0.0,
        loss_bad: 1.0,
    };
    // The chain's share of time in the bad state, where every frame is lost.
    let rate = p_gb / (p_gb + p_bg);
    let bernoulli = Loss::Bernoulli { p: rate };
    for seed in [7, 8, 9] {
        let mut means = Vec::new();
        for loss in [ge, bernoulli] {
            let a_up = LinkConfig {
                loss,
                ..LinkConfig::default()
            };
            let out = one_way(
                0,
                up(a_up),
                LinkSpec::default(),
                stream(N, 64, us(10)),
                seed,
            );
            let runs = loss_runs(&out, N);
            let lost: u32 = runs.iter().sum();
            assert_eq!(u64::from(lost), out.report.links[0].to_switch.lost);
            let measured = f64::from(lost) / f64::from(N);
            let mean = f64::from(lost) / runs.len() as f64;
            println!(
                "seed {seed} {loss:?}: lost {lost} of {N} ({measured:.4}, expected {rate:.4}), {} runs, mean run {mean:.3}",
                runs.len()
            );
            // About 3,000 losses: a standard deviation of about 1.8% of the rate for Bernoulli, a
            // few times that for bursts of 4.
            assert!(
                (measured - rate).abs() < rate * 0.25,
                "loss rate {measured}"
            );
            means.push(mean);
        }
        // A bad state lasts 1/p(bad→good) = 4 frames on average; the mean of about 740
        // bursts has a standard deviation of 0.13.
        assert!(
            (means[0] - 1.0 / p_bg).abs() < 0.5,
            "burst mean {}",
            means[0]
        );
        // Independent losses at 7.4%: runs of 1/(1-p) = 1.08.
        assert!(
            (means[1] - 1.0 / (1.0 - rate)).abs() < 0.1,
            "run mean {}",
            means[1]
        );
    }
}

#[test]
fn link_directions_configured_separately_behave_separately() {
    let a = LinkSpec {
        a_to_b: LinkConfig {
            latency: us(2000),
            loss: Loss::Bernoulli { p: 0.3 },
            ..LinkConfig::default()
        },
        b_to_a: LinkConfig {
            latency: us(50),
            ..LinkConfig::default()
        },
    };
    let to = |h: &str| -> Vec<Planned> {
        (0..500)
            .map(|i| {
                Planned::new(
                    Instant::from_millis(1 + u64::from(i)),
                    To::Host(h.into()),
                    i,
                    100,
                )
            })
            .collect()
    };
    let end = Instant::from_secs(1);
    let mut lan = RawLan::default();
    let a = lan.sender("a", a, to("b"), end);
    let b = lan.sender("b", LinkSpec::default(), to("a"), end);
    let (a_sent, a_got, b_sent, b_got) = (a.sent, a.got, b.sent, b.got);
    let sim = lan.sim;
    let r = run(&sim, 10);
    assert!(r.ok());
    let a_link = &r.links[0];
    let lost = a_link.to_switch.lost;
    // 30% of 500: 150, standard deviation 10.
    assert!((110..=190).contains(&lost), "{lost}");
    assert_eq!(a_link.from_switch.lost, 0);
    let hop = LinkConfig::default().latency;
    let check = |sent: &Log, got: &Log, delay: Duration| {
        let sent = sent.borrow();
        for (t, f) in got.borrow().iter() {
            let s = common::seq_of(f) as usize;
            assert_eq!(*t - sent[s].0, delay, "frame {s}");
        }
    };
    // a → b: a's slow, lossy way up, then b's default hop.
    assert_eq!(b_got.borrow().len() as u64, 500 - lost);
    check(&a_sent, &b_got, us(2000) + hop);
    // b → a: b's default hop, then a's fast, clean way down.
    assert_eq!(a_got.borrow().len(), 500);
    check(&b_sent, &a_got, hop + us(50));
}

#[test]
fn link_duplication_delivers_two_identical_copies() {
    let dup = |p| {
        up(LinkConfig {
            duplicate: p,
            ..LinkConfig::default()
        })
    };
    let out = one_way(
        0,
        dup(1.0),
        LinkSpec::default(),
        stream(300, 120, us(100)),
        11,
    );
    assert_eq!(out.got.len(), 600);
    for (pair, (_, sent)) in out.got.chunks(2).zip(&out.sent) {
        assert_eq!(pair[0], pair[1], "same bytes at the same time");
        assert_eq!(pair[0].1, *sent);
    }
    assert_eq!(out.report.links[0].to_switch.duplicated, 300);
    // Some of them: each sent frame arrives once or twice, the extra copies counted.
    let out = one_way(
        0,
        dup(0.2),
        LinkSpec::default(),
        stream(1000, 120, us(100)),
        12,
    );
    let dups = out.report.links[0].to_switch.duplicated;
    assert_eq!(out.got.len() as u64, 1000 + dups);
    assert!((120..=280).contains(&dups), "{dups}");
    let mut copies = vec![0u32; 1000];
    for (t, f) in &out.got {
        let s = common::seq_of(f) as usize;
        copies[s] += 1;
        assert_eq!(*f, out.sent[s].1);
        assert_eq!(*t - out.sent[s].0, us(200));
    }
    assert!(copies.iter().all(|c| *c == 1 || *c == 2));
}
