//! The learning switch: what it floods, forwards and filters, seen from a third host's
//! downlink, and its counters in the report.

#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)]

mod common;

use common::{Log, Planned, RawLan, To};
use weft_core::Instant;
use weft_sim::{LinkSpec, OracleConfig, Report, SWITCH_TABLE, SimBuilder, SwitchReport};
use weft_wire::MacAddr;

fn run(sim: &SimBuilder, seed: u64) -> Report {
    println!("seed {seed}");
    let r = sim.run(seed).expect("valid simulation");
    println!("{}", r.summary());
    r
}

fn at_us(us: u64) -> Instant {
    Instant::from_nanos(us * 1000)
}

/// Senders `a` and `b` and the sink `c` on `lan` (given its settings), run with `seed`: the
/// report, the hosts' MACs, and what each received.
fn three_hosts(
    mut lan: RawLan,
    a_plan: Vec<Planned>,
    b_plan: Vec<Planned>,
    end: Instant,
    seed: u64,
) -> (Report, [MacAddr; 3], [Log; 3]) {
    let a = lan.sender("a", LinkSpec::default(), a_plan, end);
    let b = lan.sender("b", LinkSpec::default(), b_plan, end);
    let c = lan.sink("c", LinkSpec::default());
    let r = run(&lan.sim, seed);
    assert!(r.ok(), "{}", r.oracle_summary());
    let macs = [lan.mac("a"), lan.mac("b"), lan.mac("c")];
    (r, macs, [a.got, b.got, c])
}

/// Frame numbers and destinations of what a host received.
fn received(log: &Log) -> Vec<(u32, MacAddr)> {
    log.borrow()
        .iter()
        .map(|(_, f)| (common::seq_of(f), common::dst_of(f)))
        .collect()
}

#[test]
fn switch_floods_to_a_third_host_only_until_addresses_are_learned() {
    let to = |h: &str| To::Host(h.into());
    // a: one frame to b before the switch knows b, ten after, and a broadcast.
    let mut a_plan = vec![Planned::new(at_us(1_000), to("b"), 0, 64)];
    a_plan.extend((2..12).map(|i| Planned::new(at_us(3_000 + 100 * u64::from(i)), to("b"), i, 64)));
    a_plan.push(Planned::new(at_us(10_000), To::Broadcast, 50, 64));
    // b: a broadcast (the switch learns b), then ten frames to a.
    let mut b_plan = vec![Planned::new(at_us(2_000), To::Broadcast, 1, 64)];
    b_plan.extend(
        (100..110).map(|i| Planned::new(at_us(3_050 + 100 * u64::from(i - 100)), to("a"), i, 64)),
    );
    let end = Instant::from_millis(20);
    let (r, [_, b_mac, _], [a_got, b_got, c_got]) =
        three_hosts(RawLan::default(), a_plan, b_plan, end, 1);
    // c got the frame to b sent before b was known, and the broadcasts: none of the twenty
    // unicast frames between a and b once the switch knew both.
    assert_eq!(
        received(&c_got),
        [
            (0, b_mac),
            (1, MacAddr::BROADCAST),
            (50, MacAddr::BROADCAST)
        ]
    );
    assert_eq!(r.links[2].from_switch.delivered, 3);
    assert_eq!(received(&b_got).len(), 1 + 10 + 1);
    assert_eq!(received(&a_got).len(), 1 + 10);
    assert_eq!(
        r.switches,
        [SwitchReport {
            name: "lan".into(),
            learned: 2,
            flooded: 3,
            filtered: 0,
            table_full: 0,
        }]
    );
}

/// A locally administered unicast address no host has.
fn fake(n: usize) -> MacAddr {
    MacAddr([0x06, 0, 0, 0, (n >> 8) as u8, n as u8])
}

#[test]
fn switch_with_a_full_table_floods_and_counts() {
    // a fills the table with made-up sources, then is not learned itself; one frame to an
    // address learned on a's own port is filtered.
    let mut a_plan: Vec<Planned> = (0..SWITCH_TABLE)
        .map(|n| Planned {
            from: Some(fake(n)),
            ..Planned::new(
                at_us(2_000 + n as u64),
                To::Host("b".into()),
                1000 + n as u32,
                64,
            )
        })
        .collect();
    a_plan.push(Planned::new(at_us(10_000), To::Host("b".into()), 10, 64));
    a_plan.push(Planned::new(at_us(12_000), To::Mac(fake(0)), 12, 64));
    // b: a broadcast, so b is learned first; then a frame to a (unknown: flooded) and one to
    // a made-up source learned on a's port (forwarded there).
    let b_plan = vec![
        Planned::new(at_us(1_000), To::Broadcast, 0, 64),
        Planned::new(at_us(20_000), To::Host("a".into()), 1, 64),
        Planned::new(at_us(21_000), To::Mac(fake(0)), 2, 64),
    ];
    let end = Instant::from_millis(30);
    let mut lan = RawLan::default();
    // Made-up sources break the monitor's `ethernet.src` rule, on purpose.
    lan.with(|b| {
        b.oracles(OracleConfig {
            monitor: false,
            ..OracleConfig::default()
        })
    });
    let (r, [a_mac, _, _], [a_got, b_got, c_got]) = three_hosts(lan, a_plan, b_plan, end, 2);
    // b and SWITCH_TABLE - 1 made-up sources fill the table; the last made-up source and
    // a's own two frames find it full.
    assert_eq!(
        r.switches,
        [SwitchReport {
            name: "lan".into(),
            learned: SWITCH_TABLE as u64,
            flooded: 2,
            filtered: 1,
            table_full: 3,
        }]
    );
    // c sees b's broadcast and b's frame to the unlearned a, flooded; nothing else.
    assert_eq!(received(&c_got), [(0, MacAddr::BROADCAST), (1, a_mac)]);
    // a gets both of b's frames; b gets every one of a's but the filtered one.
    assert_eq!(
        received(&a_got),
        [(0, MacAddr::BROADCAST), (1, a_mac), (2, fake(0))]
    );
    assert_eq!(received(&b_got).len(), SWITCH_TABLE + 1);
    assert_eq!(r.links[0].to_switch.delivered, SWITCH_TABLE as u64 + 2);
}
