//! `cargo xtask misses NAME --size N`: where one size of a simulator benchmark
//! (`sim_echo_vs_turmoil`, `sim_udp_scale`: those whose `WEFT_BENCH_PROFILE` run reports
//! "N events") takes its misses to memory, per event, by part of the code.
//!
//! Runs the benchmark's weft side alone (`WEFT_BENCH_PROFILE=N`) under cachegrind with this
//! machine's 32 MB L3 as the last level (`--LL=33554432,16,64`; the counts are deterministic,
//! unlike the machine's own, which a shared L3 blurs), then groups `cg_annotate`'s
//! per-function read and write misses by the part of the stack or simulator that took them
//! (inlined code counts in its caller) and divides by the events the benchmark reports. This
//! is the table in BENCHMARKS.md, sim_echo_vs_turmoil, "A connection's per-segment state in
//! nine lines". Needs valgrind (`.ci/install` installs it).

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// Cachegrind's last level: this machine's L3 (32 MB, 16-way, 64-byte lines).
const LAST_LEVEL: &str = "--LL=33554432,16,64";

/// The parts misses are grouped into, in the order they are printed.
const PARTS: [&str; 9] = [
    "weft-core TCP, IPv4 delivery",
    "weft-core other",
    "sender-side monitor",
    "event queue",
    "weft-net direct backend",
    "executor and wakers",
    "the benchmark's tasks",
    "memcpy",
    "the rest",
];

/// The part of the code a `cg_annotate` row (`file:function`) belongs to.
fn part_of(row: &str) -> &'static str {
    if row.contains("monitor") {
        "sender-side monitor"
    } else if row.contains("memmove") || row.contains("memcpy") {
        "memcpy"
    } else if row.contains("weft_core::tcp")
        || row.contains("stack::tcp")
        || row.contains("deliver_ipv4")
        || row.contains("timer::Deadlines")
    {
        "weft-core TCP, IPv4 delivery"
    } else if row.contains("weft_core::") {
        "weft-core other"
    } else if row.contains("weft_net::direct") {
        "weft-net direct backend"
    } else if row.contains("executor::Events") || row.contains("sim::Run::run") {
        "event queue"
    } else if row.contains("executor") || row.contains("wake") {
        "executor and wakers"
    } else if row.contains("xtask::bench") {
        "the benchmark's tasks"
    } else {
        "the rest"
    }
}

/// One row of `cg_annotate --show=DLmr,DLmw --auto=no`: read misses, write misses and the
/// `file:function` it names; `None` for any other line.
fn parse_row(line: &str) -> Option<(u64, u64, &str)> {
    let mut rest = line.trim_start();
    let mut counts = [0u64; 2];
    for c in &mut counts {
        let end = rest.find(' ').unwrap_or(rest.len());
        let (num, tail) = rest.split_at(end);
        *c = if num == "." {
            0
        } else {
            num.replace(',', "").parse().ok()?
        };
        rest = tail.trim_start();
        // A percentage after a count: "( 9.83%)".
        if rest.starts_with('(') {
            rest = rest.get(rest.find(')')? + 1..)?.trim_start();
        }
    }
    (rest.contains(':') && !rest.contains("PROGRAM TOTALS")).then_some((counts[0], counts[1], rest))
}

/// The events the benchmark's output reports: the sum of every "N events".
fn events_in(output: &str) -> u64 {
    output
        .split(',')
        .filter_map(|part| part.trim().strip_suffix(" events"))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

pub fn run(root: &Path, name: &str, size: &str) -> Result<()> {
    for tool in ["valgrind", "cg_annotate"] {
        Command::new(tool)
            .arg("--version")
            .output()
            .with_context(|| format!("{tool} is not installed (bash .ci/install installs it)"))?;
    }
    let exe = std::env::current_exe().context("this program's path")?;
    let dir = root.join("target");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = dir.join(format!("misses.{name}.{size}.cachegrind"));
    println!(
        "cachegrind {LAST_LEVEL}, WEFT_BENCH_PROFILE={size} xtask bench {name} (about 20x slower than a plain run)"
    );
    let run = Command::new("valgrind")
        .args(["--tool=cachegrind", "--cache-sim=yes", LAST_LEVEL])
        .arg(format!("--cachegrind-out-file={}", out.display()))
        .arg(&exe)
        .args(["bench", name])
        .env("WEFT_BENCH_PROFILE", size)
        .output()
        .context("running valgrind")?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    if !run.status.success() {
        bail!(
            "the benchmark failed under cachegrind:\n{stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let events = stdout.lines().map(events_in).sum::<u64>();
    if events == 0 {
        bail!(
            "`xtask bench {name}` with WEFT_BENCH_PROFILE={size} reported no \"N events\" \
             (sim_echo_vs_turmoil and sim_udp_scale do)"
        );
    }
    let table = Command::new("cg_annotate")
        .args([
            "--show=DLmr,DLmw",
            "--sort=DLmr",
            "--threshold=0",
            "--auto=no",
        ])
        .arg(&out)
        .output()
        .context("running cg_annotate")?;
    let text = String::from_utf8_lossy(&table.stdout);
    let mut by_part = [(0u64, 0u64); PARTS.len()];
    for (r, w, row) in text.lines().filter_map(parse_row) {
        let part = part_of(row);
        let i = PARTS
            .iter()
            .position(|p| *p == part)
            .unwrap_or(PARTS.len() - 1);
        if let Some(slot) = by_part.get_mut(i) {
            slot.0 += r;
            slot.1 += w;
        }
    }
    let per = |n: u64| n as f64 / events as f64;
    println!(
        "{events} events; last-level misses per event (read + write), by the function that took them:"
    );
    for (part, (r, w)) in PARTS.iter().zip(by_part) {
        println!(
            "  {part:<30} {:>6.2}  ({:.2} + {:.2})",
            per(r + w),
            per(r),
            per(w)
        );
    }
    let (r, w) = by_part
        .iter()
        .fold((0, 0), |(a, b), &(r, w)| (a + r, b + w));
    println!(
        "  {:<30} {:>6.2}  ({:.2} + {:.2})",
        "in all",
        per(r + w),
        per(r),
        per(w)
    );
    println!("(cachegrind's file: {})", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_rows_parse_and_fall_into_parts() {
        let text = "\
--------------------------------------------------------------------------------
53,339,516 (100.0%) 21,495,553 (100.0%)  PROGRAM TOTALS
DLmr               DLmw                file:function
5,240,954 ( 9.83%)         0           /w/sim/src/monitor/tcp.rs:weft_sim::monitor::tcp::TcpTracker::check
4,980,714 ( 9.34%)     2,091 ( 0.01%)  /w/stack/core/src/tcp/conn.rs:weft_core::tcp::conn::Conn::process_text_and_fin
   97,223 ( 0.18%) 9,496,760 (44.18%)  ./string/memmove-vec-unaligned-erms.S:__memcpy_avx_unaligned_erms
        0           6,079,067 (28.28%)  /r/ptr/mod.rs:weft_sim::sim::Run::run::{{closure}}
";
        let rows: Vec<_> = text.lines().filter_map(parse_row).collect();
        assert_eq!(rows.len(), 4, "{rows:?}");
        assert_eq!((rows[0].0, rows[0].1), (5_240_954, 0));
        assert_eq!((rows[1].0, rows[1].1), (4_980_714, 2_091));
        assert_eq!((rows[2].0, rows[2].1), (97_223, 9_496_760));
        assert_eq!((rows[3].0, rows[3].1), (0, 6_079_067));
        let parts: Vec<_> = rows.iter().map(|r| part_of(r.2)).collect();
        assert_eq!(
            parts,
            [
                "sender-side monitor",
                "weft-core TCP, IPv4 delivery",
                "memcpy",
                "event queue"
            ]
        );
        assert_eq!(
            part_of("/x/stack/core/src/arp.rs:weft_core::arp::ArpCache::poll_request"),
            "weft-core other"
        );
        assert_eq!(
            part_of(
                "/x/sim/src/executor.rs:<weft_sim::executor::TaskWaker as alloc::task::Wake>::wake_by_ref"
            ),
            "executor and wakers"
        );
        assert_eq!(
            part_of("/x/stack/net/src/direct.rs:weft_net::direct::Inner::turn"),
            "weft-net direct backend"
        );
        assert_eq!(part_of("./malloc/malloc.c:_int_free"), "the rest");
        assert_eq!(
            part_of("/x/xtask/src/bench_echo.rs:xtask::bench_echo::echo_connection::{{closure}}"),
            "the benchmark's tasks"
        );
    }

    #[test]
    fn misses_events_are_summed_from_the_output() {
        assert_eq!(
            events_in("weft 10000 clients: 67.452 s, 4183302 events, 16124 ns/event"),
            4_183_302
        );
        assert_eq!(
            events_in("weft 10000 hosts: 3 runs, 14151000 events"),
            14_151_000
        );
        // The full benchmark's lines (every size, both sides) are not counted.
        assert_eq!(
            events_in("run 0: weft 0.030 s (72342 events, 21102 frames sent"),
            0
        );
        assert_eq!(events_in("no count here"), 0);
    }
}
