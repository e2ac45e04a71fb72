//! `weft run` and `weft sweep`: run a TOML scenario with one seed (summary, pcaps, tapes,
//! trace), or with many seeds on worker threads (progress, fault totals, failing seeds with
//! the command that replays each); shrink a failing run to a minimal tape, its pcaps and the
//! command that replays it.

use crate::decode::decode_bytes;
use crate::plant::Plants;
use crate::render::{RenderOptions, SeqTracker, render_line};
use anyhow::{Context, Result, bail};
use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use weft_sim::scenario::{FaultCounts, FaultKind, Outcome, RunOptions, Scenario};
use weft_sim::shrink::{ScenarioFailure, ShrinkOptions, entries, replay_command, shrink_scenario};
use weft_sim::{FaultSource, SimError, Tape};

/// What `weft run` was asked.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The seed (the scenario's default without it).
    pub seed: Option<u64>,
    /// Replay this fault tape instead of drawing faults from the seed.
    pub tape: Option<PathBuf>,
    /// Write the run's fault tape here.
    pub record_tape: Option<PathBuf>,
    /// Write one pcap per link here.
    pub pcap_dir: Option<PathBuf>,
    /// Print every delivered frame in time order, then the faults that fired.
    pub trace: bool,
    /// Write every event of the run (time, kind, place, digest), one per line.
    pub events_out: Option<PathBuf>,
    /// On failure, shrink the run and save the minimal case here.
    pub shrink: Option<PathBuf>,
    /// Bugs to plant (`--plant`, test builds only).
    pub plant: Vec<String>,
}

/// Loads a scenario, with the file, line and column of what is wrong.
pub fn load(path: &Path) -> Result<Scenario> {
    Scenario::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The command that replays one run (with `tape`, and the same bugs planted).
pub fn repro_command(scenario: &Path, seed: u64, tape: Option<&Path>, plants: &Plants) -> String {
    replay_command(scenario, seed, tape, None, &plants.args())
}

/// Runs `scenario` with `seed`, the bugs in `plants` planted, and judges the run.
pub fn run_scenario(
    scenario: &Scenario,
    seed: u64,
    opts: &RunOptions,
    plants: &Plants,
) -> Result<Outcome, SimError> {
    scenario.run_with(seed, opts, |b| plants.apply(b))
}

/// Shrinks the failing run `outcome` of the scenario at `path` (seed `seed`, bugs `plants`):
/// delta debugging over its fault tape, and over its TCP workloads when an oracle failed;
/// saves the minimal tape and its pcaps in `dir` and prints the command that replays them.
/// Returns that command, or `None` when the failure could not be reproduced from the tape.
pub fn shrink_failure(
    path: &Path,
    scenario: &Scenario,
    seed: u64,
    outcome: &Outcome,
    plants: &Plants,
    dir: &Path,
    out: &mut impl Write,
) -> Result<Option<String>> {
    let Some(target) = ScenarioFailure::target(outcome) else {
        return Ok(None);
    };
    let tape = &outcome.report.tape;
    writeln!(
        out,
        "shrinking seed {seed}'s tape of {}, keeping: {}",
        entries(tape.len()),
        target.text
    )?;
    out.flush()?;
    let shrunk = match shrink_scenario(
        scenario,
        seed,
        tape,
        &target,
        |b| plants.apply(b),
        &ShrinkOptions::default(),
    ) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "could not shrink: {e}")?;
            return Ok(None);
        }
    };
    let also = shrunk
        .smaller_summary()
        .map(|s| format!("; it also fails with {s}"))
        .unwrap_or_default();
    writeln!(
        out,
        "shrunk to {} in {} runs{also}",
        entries(shrunk.tape.len()),
        shrunk.runs
    )?;
    let saved = shrunk
        .save(dir, Some((path, &plants.args())))
        .with_context(|| format!("saving the minimal case in {}", dir.display()))?;
    writeln!(
        out,
        "minimal case: {} ({}), {} pcaps in {}",
        saved.tape.display(),
        entries(shrunk.tape.len()),
        saved.pcaps.len(),
        dir.join(weft_sim::shrink::MINIMAL_PCAPS).display()
    )?;
    for f in shrunk.failures() {
        writeln!(out, "  - {f}")?;
    }
    let Some(command) = saved.command else {
        bail!("the minimal case was saved without its replay command");
    };
    writeln!(out, "replay the minimal case: {command}")?;
    Ok(Some(command))
}

/// `weft run`: prints the summary (and the trace), writes pcaps and the tape; shrinks a
/// failing run when asked; returns whether every expectation held.
pub fn run(args: &RunArgs, out: &mut impl Write) -> Result<bool> {
    let scenario = load(&args.scenario)?;
    let plants = Plants::parse(&args.plant)?;
    let seed = args.seed.unwrap_or(scenario.default_seed);
    let faults = match &args.tape {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading the tape {}", p.display()))?;
            let tape =
                Tape::from_text(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            FaultSource::Tape(tape)
        }
        None => FaultSource::Random,
    };
    let opts = RunOptions {
        faults,
        pcap: args.pcap_dir.is_some() || args.trace,
        trace_events: args.events_out.is_some(),
    };
    let outcome = run_scenario(&scenario, seed, &opts, &plants)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.scenario.display()))?;
    if args.trace {
        print_trace(&outcome, out)?;
    }
    write!(out, "{}", outcome.summary())?;
    if let Some(dir) = &args.pcap_dir {
        let written = outcome
            .report
            .write_pcaps(dir)
            .with_context(|| format!("writing pcaps to {}", dir.display()))?;
        writeln!(
            out,
            "pcaps: {} files in {} (one per link, both directions, frames as delivered, simulated time)",
            written.len(),
            dir.display()
        )?;
        for p in &written {
            writeln!(out, "  {}", p.display())?;
        }
    }
    if let Some(p) = &args.events_out {
        std::fs::write(p, weft_sim::determinism::trace_text(&outcome.report))
            .with_context(|| format!("writing the event trace {}", p.display()))?;
    }
    if let Some(p) = &args.record_tape {
        std::fs::write(p, outcome.report.tape.to_text())
            .with_context(|| format!("writing the tape {}", p.display()))?;
        writeln!(
            out,
            "tape: {} ({} entries; replay with --tape)",
            p.display(),
            outcome.report.tape.len()
        )?;
    }
    if !outcome.ok() {
        writeln!(
            out,
            "FAILED; replay: {}",
            repro_command(&args.scenario, seed, args.tape.as_deref(), &plants)
        )?;
        if let Some(dir) = &args.shrink {
            shrink_failure(&args.scenario, &scenario, seed, &outcome, &plants, dir, out)?;
        }
    }
    Ok(outcome.ok())
}

/// `weft run --check-determinism`: runs the same seed in two fresh processes (this program,
/// twice, each writing its event trace) and compares the traces event by event. Returns
/// whether they agree; on a divergence, prints the first event where they differ.
pub fn check_determinism(args: &RunArgs, out: &mut impl Write) -> Result<bool> {
    let scenario = load(&args.scenario)?;
    let plants = Plants::parse(&args.plant)?;
    let seed = args.seed.unwrap_or(scenario.default_seed);
    let exe = std::env::current_exe().context("finding this program to run it again")?;
    let dir = std::env::temp_dir().join(format!("weft-determinism-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut traces = Vec::new();
    for i in 0..2 {
        let path = dir.join(format!("events-{i}.txt"));
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("run")
            .arg(&args.scenario)
            .arg("--seed")
            .arg(seed.to_string())
            .arg("--events-out")
            .arg(&path)
            .args(plants.args());
        if let Some(t) = &args.tape {
            cmd.arg("--tape").arg(t);
        }
        let o = cmd
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "run {} wrote no event trace (exit {:?}): {}",
                i + 1,
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            )
        })?;
        traces.push(text);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let [a, b] = traces.as_slice() else {
        bail!("expected two event traces, got {}", traces.len());
    };
    match weft_sim::determinism::compare_texts(a, b).map_err(|e| anyhow::anyhow!(e))? {
        None => {
            writeln!(
                out,
                "deterministic: seed {seed}, two processes, {} events agree",
                a.lines().count()
            )?;
            Ok(true)
        }
        Some(d) => {
            writeln!(out, "NOT deterministic: seed {seed}: {d}")?;
            Ok(false)
        }
    }
}

/// Every delivered frame of every link in time order, one decoded line each, then the tape.
fn print_trace(o: &Outcome, out: &mut impl Write) -> Result<()> {
    let mut lines = Vec::new();
    for (li, l) in o.report.links.iter().enumerate() {
        let Some(bytes) = &l.pcap else { continue };
        let decoded =
            decode_bytes(bytes).with_context(|| format!("reading {}'s capture", l.name))?;
        let mut seq = SeqTracker::default();
        for (fi, f) in decoded.frames.iter().enumerate() {
            let text = render_line(
                f,
                &mut seq,
                RenderOptions {
                    absolute: false,
                    nano: true,
                },
            );
            // Drop the frame number and the calendar date and time: the trace prints virtual
            // seconds instead.
            let rest = text
                .split_whitespace()
                .skip(3)
                .collect::<Vec<_>>()
                .join(" ");
            let ns = f.timestamp_ns.unwrap_or(0);
            lines.push((
                ns,
                li,
                fi,
                format!("{:>14.9} {:<16} {rest}", ns as f64 / 1e9, l.name),
            ));
        }
    }
    lines.sort_by_key(|(t, l, f, _)| (*t, *l, *f));
    writeln!(out, "trace: {} frames delivered", lines.len())?;
    for (_, _, _, line) in &lines {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "faults fired: {}", o.report.tape.len())?;
    for e in &o.report.tape.entries {
        let link = o
            .report
            .links
            .get(e.key.link as usize)
            .map_or("?", |l| l.name.as_str());
        let dir = if e.key.dir == 0 { "up" } else { "down" };
        let faults: Vec<String> = e.faults.iter().map(|f| format!("{f:?}")).collect();
        writeln!(
            out,
            "  {link} {dir}: {}  # {}",
            faults.join(", "),
            e.describe
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Sweeps

/// What `weft sweep` was asked.
#[derive(Debug, Clone, Default)]
pub struct SweepArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Seeds (the scenario's `seeds.sweep` without it).
    pub seeds: Option<Range<u64>>,
    /// Worker threads (the machine's parallelism without it).
    pub jobs: Option<usize>,
    /// This machine's share: (index, count).
    pub shard: Option<(u64, u64)>,
    /// Fail unless every fault kind fired at least once across the sweep.
    pub require_all_faults: bool,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Shrink the first failing seed and save the minimal case here.
    pub shrink: Option<PathBuf>,
    /// Bugs to plant (`--plant`, test builds only).
    pub plant: Vec<String>,
}

/// Parses `I/N` (0 <= I < N).
pub fn parse_shard(s: &str) -> Result<(u64, u64)> {
    let Some((i, n)) = s.split_once('/') else {
        bail!("shard `{s}`: expected INDEX/COUNT, like 0/4");
    };
    let (Ok(i), Ok(n)) = (i.trim().parse::<u64>(), n.trim().parse::<u64>()) else {
        bail!("shard `{s}`: expected INDEX/COUNT with numbers, like 0/4");
    };
    if n == 0 || i >= n {
        bail!("shard `{s}`: expected 0 <= INDEX < COUNT");
    }
    Ok((i, n))
}

/// The seeds of `range` that belong to shard `(i, n)`: every n-th, starting at the i-th.
pub fn shard_seeds(range: Range<u64>, shard: Option<(u64, u64)>) -> Vec<u64> {
    let (i, n) = shard.unwrap_or((0, 1));
    let start = range.start;
    range.filter(|s| (s - start) % n == i).collect()
}

/// One seed's result.
#[derive(Debug, Clone)]
struct SeedResult {
    seed: u64,
    /// Why it failed (empty: it passed).
    failures: Vec<String>,
    /// The simulation ran to its end (it was built and did not panic): a failure can be
    /// shrunk.
    ran: bool,
    faults: FaultCounts,
    datagrams: u64,
    tcp_bytes: u64,
    events: u64,
    frames: u64,
}

impl SeedResult {
    /// A seed whose simulation did not run to its end, and why.
    fn broken(seed: u64, why: String) -> SeedResult {
        SeedResult {
            seed,
            failures: vec![why],
            ran: false,
            faults: FaultCounts::default(),
            datagrams: 0,
            tcp_bytes: 0,
            events: 0,
            frames: 0,
        }
    }
}

fn run_seed(scenario: &Scenario, seed: u64, plants: &Plants) -> SeedResult {
    // A panicking simulation fails its seed, not the sweep: each seed runs on its own thread.
    let r = std::thread::scope(|s| {
        s.spawn(|| run_scenario(scenario, seed, &RunOptions::default(), plants))
            .join()
    });
    match r {
        Ok(Ok(o)) => SeedResult {
            seed,
            failures: o.failures.clone(),
            ran: true,
            faults: o.faults,
            datagrams: o.datagrams(),
            tcp_bytes: o.tcp_bytes(),
            events: o.report.events,
            frames: o.report.frames_sent,
        },
        Ok(Err(e)) => SeedResult::broken(seed, format!("the simulation could not be built: {e}")),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".to_string());
            SeedResult::broken(seed, format!("panicked: {msg}"))
        }
    }
}

/// The totals of a sweep.
#[derive(Debug, Clone, Default)]
pub struct SweepSummary {
    /// Seeds run.
    pub seeds: usize,
    /// Failing seeds and the first reason for each, in seed order.
    pub failed: Vec<(u64, String)>,
    /// Faults by kind over every seed.
    pub faults: FaultCounts,
    /// Datagrams sent by workloads over every seed.
    pub datagrams: u64,
    /// TCP stream bytes the workloads moved (read and checked) over every seed.
    pub tcp_bytes: u64,
    /// Events over every seed.
    pub events: u64,
    /// Frames hosts sent over every seed.
    pub frames: u64,
    /// Fault kinds that never fired.
    pub missing_faults: Vec<FaultKind>,
}

impl SweepSummary {
    /// True when no seed failed (and, if asked, every fault kind fired).
    pub fn ok(&self, require_all_faults: bool) -> bool {
        self.failed.is_empty() && (!require_all_faults || self.missing_faults.is_empty())
    }
}

/// `weft sweep`: runs the seeds on `jobs` threads, prints the table, failing seeds with
/// their repro commands; returns the totals.
pub fn sweep(args: &SweepArgs, out: &mut impl Write) -> Result<SweepSummary> {
    let scenario = load(&args.scenario)?;
    let plants = Plants::parse(&args.plant)?;
    let Some(range) = args.seeds.clone().or_else(|| scenario.sweep.clone()) else {
        bail!(
            "{}: no seeds: pass --seeds A..B or set `sweep = \"A..B\"` under [seeds]",
            args.scenario.display()
        );
    };
    let seeds = shard_seeds(range.clone(), args.shard);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, seeds.len().max(1));
    let shard_text = args
        .shard
        .map(|(i, n)| format!(", shard {i}/{n}"))
        .unwrap_or_default();
    writeln!(
        out,
        "sweep {}: {} seeds of {}..{}{shard_text} on {jobs} threads",
        scenario.name,
        seeds.len(),
        range.start,
        range.end
    )?;
    out.flush()?;
    let bar = if args.progress && std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(seeds.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} seeds  {per_sec}  eta {eta}  {msg}",
        ) {
            b.set_style(style);
        }
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<SeedResult>();
    let mut results = Vec::with_capacity(seeds.len());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, seeds, scenario, plants) = (&next, &seeds, &scenario, &plants);
            s.spawn(move || {
                // Each simulation is single-threaded and not Send: it is built and run here.
                while let Some(seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if tx.send(run_seed(scenario, *seed, plants)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut failed = 0usize;
        for r in rx {
            if !r.failures.is_empty() {
                failed += 1;
                bar.set_message(format!("{failed} failed"));
            }
            bar.inc(1);
            results.push(r);
        }
    });
    bar.finish_and_clear();
    results.sort_by_key(|r| r.seed);
    let mut sum = SweepSummary {
        seeds: results.len(),
        ..SweepSummary::default()
    };
    for r in &results {
        sum.faults.merge(&r.faults);
        sum.datagrams += r.datagrams;
        sum.tcp_bytes += r.tcp_bytes;
        sum.events += r.events;
        sum.frames += r.frames;
        if let Some(f) = r.failures.first() {
            let more = match r.failures.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            sum.failed.push((r.seed, format!("{f}{more}")));
        }
    }
    sum.missing_faults = sum.faults.missing();
    writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>14} {:>16} {:>14} {:>14}",
        "seeds", "passed", "failed", "datagrams", "tcp bytes", "frames", "events"
    )?;
    writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>14} {:>16} {:>14} {:>14}",
        sum.seeds,
        sum.seeds - sum.failed.len(),
        sum.failed.len(),
        sum.datagrams,
        sum.tcp_bytes,
        sum.frames,
        sum.events
    )?;
    writeln!(out, "{:<20} {:>12}", "fault", "fired")?;
    for k in FaultKind::ALL {
        writeln!(
            out,
            "{:<20} {:>12}{}",
            k.name(),
            sum.faults.get(k),
            if sum.faults.get(k) == 0 {
                "  never"
            } else {
                ""
            }
        )?;
    }
    const SHOWN: usize = 20;
    if !sum.failed.is_empty() {
        writeln!(out, "failing seeds ({}):", sum.failed.len())?;
        for (seed, why) in sum.failed.iter().take(SHOWN) {
            writeln!(out, "  seed {seed}: {why}")?;
            writeln!(
                out,
                "    {}",
                repro_command(&args.scenario, *seed, None, &plants)
            )?;
        }
        if sum.failed.len() > SHOWN {
            writeln!(out, "  ... and {} more", sum.failed.len() - SHOWN)?;
        }
    }
    if let Some(dir) = &args.shrink {
        // The first failing seed whose simulation ran to its end, run again for its tape.
        let first = results.iter().find(|r| r.ran && !r.failures.is_empty());
        if let Some(r) = first {
            let o = run_scenario(&scenario, r.seed, &RunOptions::default(), &plants)
                .map_err(|e| anyhow::anyhow!("{}: {e}", args.scenario.display()))?;
            shrink_failure(&args.scenario, &scenario, r.seed, &o, &plants, dir, out)?;
        } else if !sum.failed.is_empty() {
            writeln!(
                out,
                "nothing to shrink: no failing seed's simulation ran to its end"
            )?;
        }
    }
    if args.require_all_faults && !sum.missing_faults.is_empty() {
        let names: Vec<&str> = sum.missing_faults.iter().map(|k| k.name()).collect();
        writeln!(
            out,
            "fault kinds that never fired (--require-all-faults): {}",
            names.join(", ")
        )?;
    }
    writeln!(
        out,
        "{}",
        if sum.ok(args.require_all_faults) {
            "sweep passed"
        } else {
            "sweep FAILED"
        }
    )?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_shards_split_the_seeds_without_overlap() {
        let all: Vec<u64> = (0..4)
            .flat_map(|i| shard_seeds(10..30, Some((i, 4))))
            .collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (10..30).collect::<Vec<_>>());
        assert_eq!(shard_seeds(10..30, Some((1, 4))), vec![11, 15, 19, 23, 27]);
        assert_eq!(shard_seeds(0..3, None), vec![0, 1, 2]);
        assert_eq!(parse_shard("2/5").unwrap(), (2, 5));
        assert!(parse_shard("5/5").is_err());
        assert!(parse_shard("1-5").is_err());
        assert!(parse_shard("a/5").is_err());
    }

    #[test]
    fn run_repro_commands_quote_what_a_shell_would_split() {
        let none = Plants::default();
        assert_eq!(
            repro_command(Path::new("scenarios/x.toml"), 7, None, &none),
            "weft run scenarios/x.toml --seed 7"
        );
        assert_eq!(
            repro_command(
                Path::new("my dir/x.toml"),
                7,
                Some(Path::new("t.tape")),
                &none
            ),
            "weft run 'my dir/x.toml' --seed 7 --tape t.tape"
        );
    }
}
