//! Shrinking a failing run: delta debugging (ddmin, Zeller and Hildebrandt 2002) over the
//! fault tape, then over the workloads' sizes, down to a minimal tape that still fails.
//!
//! Tape entries are keyed by the frames they hit, not by position ([`crate::tape`]), so a
//! subset of a tape replayed with [`FaultSource::Tape`] still hits the same frames as long as
//! the run reaches them; and workloads send a prefix of the same payloads when made smaller
//! ([`crate::workload`]). A candidate is kept when the run still satisfies the caller's
//! predicate ("an oracle failed", or one particular failure).
//!
//! The tape a shrink returns always reproduces with the run's own workloads, so
//! `weft run SCENARIO --seed N --tape FILE` ([`replay_command`]) replays it; the smaller
//! workloads that also fail are reported beside it. [`shrink`] shrinks a [`SimBuilder`]'s
//! run, [`shrink_scenario`] a scenario's (judged by its expectations too, keeping one
//! [`ScenarioFailure`]), [`shrink_with`] any run a closure makes.

use crate::fabric::FaultSource;
use crate::oracle::OracleFailure;
use crate::scenario::{Outcome, RunOptions, Scenario};
use crate::sim::{Report, SimBuilder, SimError};
use crate::tape::{Tape, TapeEntry};
use crate::workload::Workload;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How hard to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShrinkOptions {
    /// Runs at most (each candidate is one run).
    pub max_runs: usize,
    /// Whether to shrink the workloads too.
    pub workloads: bool,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions {
            max_runs: 5000,
            workloads: true,
        }
    }
}

/// Why shrinking could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShrinkError {
    /// The simulation could not be built.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// Replaying the whole tape does not fail: there is nothing to shrink.
    #[error("replaying the tape of {entries} entries does not reproduce the failure")]
    NotReproduced {
        /// Entries in the tape.
        entries: usize,
    },
}

/// A run shrinking replays: the engine's report and the failures it shows.
pub trait Replayed {
    /// The engine's report.
    fn report(&self) -> &Report;
    /// What failed, one line each (saved as comments beside the minimal tape).
    fn failure_lines(&self) -> Vec<String>;
}

impl Replayed for Report {
    fn report(&self) -> &Report {
        self
    }

    fn failure_lines(&self) -> Vec<String> {
        self.oracles.iter().map(ToString::to_string).collect()
    }
}

impl Replayed for Outcome {
    fn report(&self) -> &Report {
        &self.report
    }

    fn failure_lines(&self) -> Vec<String> {
        self.failures.clone()
    }
}

/// The result of shrinking.
#[derive(Debug, Clone)]
pub struct Shrunk<R = Report> {
    /// The seed.
    pub seed: u64,
    /// Entries in the tape shrinking started from.
    pub original_entries: usize,
    /// The minimal tape: it fails with the run's own workloads.
    pub tape: Tape,
    /// The replay of [`Shrunk::tape`] with pcaps on.
    pub report: R,
    /// The run's own workloads.
    pub original_workloads: Vec<Workload>,
    /// The smallest workloads found that still fail (with [`Shrunk::small_tape`]); equal to
    /// [`Shrunk::original_workloads`] when they could not be made smaller.
    pub workloads: Vec<Workload>,
    /// The minimal tape for [`Shrunk::workloads`].
    pub small_tape: Tape,
    /// Simulation runs used.
    pub runs: usize,
}

/// The files a minimal case is saved in, under its directory.
pub const MINIMAL_TAPE: &str = "minimal.tape";
/// The directory of the minimal case's pcaps, under its directory.
pub const MINIMAL_PCAPS: &str = "pcaps";

impl<R: Replayed> Shrunk<R> {
    /// The failures of the minimal replay.
    pub fn failures(&self) -> Vec<String> {
        self.report.failure_lines()
    }

    /// The workloads made smaller: (name, size before, size after), sizes as
    /// [`workload_size`] gives them.
    pub fn smaller_workloads(&self) -> Vec<(String, String, String)> {
        self.original_workloads
            .iter()
            .zip(&self.workloads)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| (a.name().to_string(), workload_size(a), workload_size(b)))
            .collect()
    }

    /// "smaller workloads (NAME: FROM -> TO, ...) and a tape of N entries" when the failure
    /// also showed with smaller workloads, `None` when it did not.
    pub fn smaller_summary(&self) -> Option<String> {
        let list: Vec<String> = self
            .smaller_workloads()
            .iter()
            .map(|(name, from, to)| format!("{name}: {from} -> {to}"))
            .collect();
        (!list.is_empty()).then(|| {
            format!(
                "smaller workloads ({}) and a tape of {}",
                list.join(", "),
                entries(self.small_tape.len())
            )
        })
    }

    /// Saves the minimal case in `dir`: [`MINIMAL_TAPE`] (with the failures, and the replay
    /// command when there is one, as comments) and the pcaps of its replay in
    /// [`MINIMAL_PCAPS`]. `replay` is the scenario file that `weft run` replays the tape on
    /// and any further arguments it needs; a run built in Rust has no such file (`None`).
    pub fn save(&self, dir: &Path, replay: Option<(&Path, &[String])>) -> std::io::Result<Saved> {
        std::fs::create_dir_all(dir)?;
        let tape_path = dir.join(MINIMAL_TAPE);
        let pcap_dir = dir.join(MINIMAL_PCAPS);
        let command = replay.map(|(scenario, args)| {
            replay_command(scenario, self.seed, Some(&tape_path), Some(&pcap_dir), args)
        });
        let mut text = format!(
            "# minimal fault tape: {} (shrunk from {} in {} runs), seed {}\n",
            entries(self.tape.len()),
            self.original_entries,
            self.runs,
            self.seed
        );
        if let Some(c) = &command {
            text.push_str(&format!("# replay: {c}\n"));
        }
        for f in self.failures() {
            text.push_str(&format!("# failure: {f}\n"));
        }
        if let Some(smaller) = self.smaller_summary() {
            text.push_str(&format!("# the failure also shows with {smaller}\n"));
        }
        text.push_str(&self.tape.to_text());
        std::fs::write(&tape_path, text)?;
        let pcaps = self.report.report().write_pcaps(&pcap_dir)?;
        Ok(Saved {
            tape: tape_path,
            pcaps,
            command,
        })
    }
}

/// What a workload's size is made of: its clients and what each does, the counts
/// [`Workload::smaller`] reduces.
pub fn workload_size(w: &Workload) -> String {
    let n = w.clients().len();
    match w {
        Workload::UdpEcho(w) => format!("{n} clients x {} datagrams", w.datagrams_per_client),
        Workload::UdpRequestResponse(w) => {
            format!("{n} clients x {} requests", w.requests_per_client)
        }
        Workload::Dhcp(w) => format!("{n} clients x {} requests", w.requests_after),
        Workload::ArpChurn(w) => format!("{n} hosts x {} rounds", w.rounds),
        Workload::TcpEcho(w) => format!(
            "{n} clients x {} connections x {} messages",
            w.connections, w.messages
        ),
        Workload::TcpBulk(w) => format!(
            "{n} clients x {} bytes up and {} down",
            w.upload, w.download
        ),
        Workload::TcpRequestResponse(w) => format!("{n} clients x {} requests", w.requests),
    }
}

/// Where [`Shrunk::save`] put things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The tape file.
    pub tape: PathBuf,
    /// The pcaps of its replay, one per link.
    pub pcaps: Vec<PathBuf>,
    /// The command that replays it (with its pcaps written again, byte for byte), when the
    /// run came from a scenario file.
    pub command: Option<String>,
}

/// A tape's size in words: `1 entry`, `2 entries`.
pub fn entries(n: usize) -> String {
    if n == 1 {
        "1 entry".to_string()
    } else {
        format!("{n} entries")
    }
}

/// `s` as one shell word: as it is when nothing in it is special to a shell, else quoted.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-=:,+@".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The `weft run` command that replays `scenario` with `seed`: with a fault tape, writing
/// pcaps into `pcap_dir`, and `args` (already separate words) appended.
pub fn replay_command(
    scenario: &Path,
    seed: u64,
    tape: Option<&Path>,
    pcap_dir: Option<&Path>,
    args: &[String],
) -> String {
    let mut s = format!(
        "weft run {} --seed {seed}",
        shell_word(&scenario.display().to_string())
    );
    for (flag, p) in [("--tape", tape), ("--pcap-dir", pcap_dir)] {
        if let Some(p) = p {
            s.push_str(&format!(" {flag} {}", shell_word(&p.display().to_string())));
        }
    }
    for a in args {
        s.push(' ');
        s.push_str(&shell_word(a));
    }
    s
}
/// Delta debugging: a 1-minimal subset of `items` (by position) for which `test` holds,
/// assuming it holds for all of them. Subsets already tried are not run again.
pub fn ddmin<T: Clone>(items: &[T], mut test: impl FnMut(&[T]) -> bool) -> Vec<T> {
    let mut cache: BTreeMap<Vec<usize>, bool> = BTreeMap::new();
    let mut run = |idx: &[usize], test: &mut dyn FnMut(&[T]) -> bool| -> bool {
        if let Some(r) = cache.get(idx) {
            return *r;
        }
        let subset: Vec<T> = idx.iter().filter_map(|i| items.get(*i).cloned()).collect();
        let r = test(&subset);
        cache.insert(idx.to_vec(), r);
        r
    };
    let mut cur: Vec<usize> = (0..items.len()).collect();
    if run(&[], &mut test) {
        return Vec::new();
    }
    let mut n = 2usize;
    while cur.len() >= 2 {
        let len = cur.len();
        let chunk = len.div_ceil(n);
        let parts: Vec<Vec<usize>> = cur.chunks(chunk).map(<[usize]>::to_vec).collect();
        let mut next = None;
        for p in &parts {
            if run(p, &mut test) {
                next = Some((p.clone(), 2));
                break;
            }
        }
        if next.is_none() && parts.len() > 2 {
            for (i, _) in parts.iter().enumerate() {
                let comp: Vec<usize> = parts
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, p)| p.iter().copied())
                    .collect();
                if run(&comp, &mut test) {
                    next = Some((comp, (n - 1).max(2)));
                    break;
                }
            }
        }
        match next {
            Some((c, m)) => {
                cur = c;
                n = m;
            }
            None if n >= len => break,
            None => n = (2 * n).min(len),
        }
    }
    if cur.len() == 1 && run(&[], &mut test) {
        cur.clear();
    }
    cur.iter().filter_map(|i| items.get(*i).cloned()).collect()
}

/// Runs candidates: `run` makes a run of some workloads with a tape (pcaps on or off),
/// `failing` says whether it still fails.
struct Runner<F, P> {
    run: F,
    failing: P,
    runs: usize,
    max_runs: usize,
}

impl<R, F, P> Runner<F, P>
where
    R: Replayed,
    F: FnMut(&[Workload], Tape, bool) -> Result<R, SimError>,
    P: FnMut(&R) -> bool,
{
    fn replay(&mut self, workloads: &[Workload], entries: &[TapeEntry], pcap: bool) -> Option<R> {
        self.runs += 1;
        let tape = Tape {
            entries: entries.to_vec(),
        };
        (self.run)(workloads, tape, pcap).ok()
    }

    /// Whether the run with `entries` still fails (false once out of runs).
    fn fails(&mut self, workloads: &[Workload], entries: &[TapeEntry]) -> bool {
        if self.runs >= self.max_runs {
            return false;
        }
        self.replay(workloads, entries, false)
            .is_some_and(|r| (self.failing)(&r))
    }

    /// ddmin over `entries`, then what actually fired in the minimal replay.
    fn minimize(&mut self, workloads: &[Workload], entries: &[TapeEntry]) -> Vec<TapeEntry> {
        let min = ddmin(entries, |sub| self.fails(workloads, sub));
        match self.replay(workloads, &min, false) {
            Some(r) if (self.failing)(&r) && r.report().tape.len() <= min.len() => {
                r.report().tape.entries.clone()
            }
            _ => min,
        }
    }
}

/// Shrinks a failing run whose faults are `tape` (the report's tape) and whose workloads are
/// `workloads`: `run(workloads, tape, pcap)` makes a run of the same simulation with `seed`
/// and other workloads or faults (pcaps on or off), `failing` says whether a run still shows
/// the failure.
pub fn shrink_with<R: Replayed>(
    workloads: &[Workload],
    seed: u64,
    tape: &Tape,
    run: impl FnMut(&[Workload], Tape, bool) -> Result<R, SimError>,
    failing: impl FnMut(&R) -> bool,
    options: &ShrinkOptions,
) -> Result<Shrunk<R>, ShrinkError> {
    let full = workloads.to_vec();
    let mut r = Runner {
        run,
        failing,
        runs: 1,
        max_runs: options.max_runs,
    };
    // The simulation must build, and the whole tape must fail.
    let first = (r.run)(&full, tape.clone(), false)?;
    if !(r.failing)(&first) {
        return Err(ShrinkError::NotReproduced {
            entries: tape.len(),
        });
    }
    let t1 = r.minimize(&full, &tape.entries);
    let mut workloads = full.clone();
    let mut small = t1.clone();
    if options.workloads {
        let mut progress = true;
        while progress {
            progress = false;
            for i in 0..workloads.len() {
                let Some(w) = workloads.get(i) else { break };
                for cand in w.smaller() {
                    let mut ws = workloads.clone();
                    if let Some(slot) = ws.get_mut(i) {
                        *slot = cand;
                    }
                    if r.fails(&ws, &small) {
                        workloads = ws;
                        progress = true;
                        break;
                    }
                }
            }
        }
        if workloads != full {
            small = r.minimize(&workloads, &small);
        }
    }
    // Prefer the smaller tape when it also fails with the full workloads.
    let tape_final = if small.len() < t1.len() && r.fails(&full, &small) {
        small.clone()
    } else {
        t1
    };
    let report = r
        .replay(&full, &tape_final, true)
        .filter(|rep| (r.failing)(rep))
        .ok_or(ShrinkError::NotReproduced {
            entries: tape_final.len(),
        })?;
    Ok(Shrunk {
        seed,
        original_entries: tape.len(),
        tape: Tape {
            entries: tape_final,
        },
        report,
        original_workloads: full,
        workloads,
        small_tape: Tape { entries: small },
        runs: r.runs,
    })
}

/// Shrinks a failing run of `builder` with `seed` whose faults are `tape` (the report's
/// tape): `failing` says whether a run still shows the failure.
pub fn shrink(
    builder: &SimBuilder,
    seed: u64,
    tape: &Tape,
    failing: impl FnMut(&Report) -> bool,
    options: &ShrinkOptions,
) -> Result<Shrunk, ShrinkError> {
    shrink_with(
        builder.workloads(),
        seed,
        tape,
        |workloads, tape, pcap| {
            builder
                .clone()
                .set_workloads(workloads.to_vec())
                .faults(FaultSource::Tape(tape))
                .trace_events(false)
                .pcap(pcap)
                .run(seed)
        },
        failing,
        options,
    )
}

/// One failure of a scenario run, and what makes it "the same failure" in another run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioFailure {
    /// As the run listed it ([`Outcome::failures`]).
    pub text: String,
    /// What stays the same from run to run: an oracle's [`OracleFailure::signature`]
    /// (hosts, workload, rule; no times or counts), or an expectation's text with its
    /// numbers masked.
    pub signature: String,
    /// An engine oracle failed (not an expectation on the scenario's counts): only then
    /// may the workloads shrink, as expectations count against the file's workload sizes.
    pub oracle: bool,
}

impl ScenarioFailure {
    /// Every failure of `outcome`, in its order.
    pub fn of(outcome: &Outcome) -> Vec<ScenarioFailure> {
        let oracles: Vec<(String, &OracleFailure)> = outcome
            .report
            .oracles
            .iter()
            .map(|f| (format!("oracle: {f}"), f))
            .collect();
        outcome
            .failures
            .iter()
            .map(|text| match oracles.iter().find(|(line, _)| line == text) {
                Some((_, f)) => ScenarioFailure {
                    text: text.clone(),
                    signature: format!("oracle {}", f.signature()),
                    oracle: true,
                },
                None => ScenarioFailure {
                    text: text.clone(),
                    signature: expectation_signature(text),
                    oracle: false,
                },
            })
            .collect()
    }

    /// The failure shrinking keeps: the first failure of one of the engine's oracles, else
    /// the first failure (a scenario workload's own integrity check counts as an expectation
    /// here, so a later engine-oracle failure is kept before it).
    pub fn target(outcome: &Outcome) -> Option<ScenarioFailure> {
        let all = ScenarioFailure::of(outcome);
        all.iter()
            .find(|f| f.oracle)
            .or_else(|| all.first())
            .cloned()
    }

    /// True when `outcome` shows this failure.
    pub fn shown_by(&self, outcome: &Outcome) -> bool {
        ScenarioFailure::of(outcome)
            .iter()
            .any(|f| f.signature == self.signature)
    }
}

/// An expectation's text without what varies from run to run: numbers that stand alone
/// (`45.0%`, `3 of 4`, not the `0` of `udp_echo#0`) become `#`, and an example after
/// `, first:` is cut.
fn expectation_signature(text: &str) -> String {
    let text = text.split_once(", first:").map_or(text, |(head, _)| head);
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            let starts = !prev.is_some_and(|p| p.is_alphanumeric() || "_#-".contains(p));
            if in_number || starts {
                if !in_number {
                    out.push('#');
                }
                in_number = true;
                prev = Some(c);
                continue;
            }
        } else if in_number && c == '.' {
            // A decimal point inside a number: the number goes on.
            prev = Some(c);
            continue;
        }
        in_number = false;
        out.push(c);
        prev = Some(c);
    }
    out
}

/// Shrinks a failing run of `scenario` with `seed` whose faults are `tape`, keeping the
/// failure `target` (see [`ScenarioFailure::target`]). `prepare` adds to each run's
/// simulation what the failing run had beyond the file (planted bugs in test builds; the
/// identity otherwise). Workloads shrink only when `target` is an oracle's failure.
pub fn shrink_scenario(
    scenario: &Scenario,
    seed: u64,
    tape: &Tape,
    target: &ScenarioFailure,
    prepare: impl Fn(SimBuilder) -> SimBuilder,
    options: &ShrinkOptions,
) -> Result<Shrunk<Outcome>, ShrinkError> {
    let workloads = scenario.build().0.workloads().to_vec();
    let options = ShrinkOptions {
        workloads: options.workloads && target.oracle,
        ..options.clone()
    };
    shrink_with(
        &workloads,
        seed,
        tape,
        |workloads, tape, pcap| {
            let opts = RunOptions {
                faults: FaultSource::Tape(tape),
                pcap,
                trace_events: false,
            };
            scenario.run_with(seed, &opts, |b| {
                prepare(b).set_workloads(workloads.to_vec())
            })
        },
        |o| target.shown_by(o),
        &options,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_ddmin_finds_the_two_needed_items() {
        let items: Vec<u32> = (0..200).collect();
        let mut runs = 0;
        let min = ddmin(&items, |s| {
            runs += 1;
            s.contains(&17) && s.contains(&150)
        });
        assert_eq!(min, vec![17, 150]);
        println!("ddmin: 2 of 200 in {runs} tests");
        assert!(runs < 200, "{runs}");
        assert_eq!(ddmin(&items, |_| true), Vec::<u32>::new());
        assert_eq!(ddmin(&items, |s| s.contains(&3)), vec![3]);
    }

    #[test]
    fn shrink_replay_command_quotes_what_a_shell_would_split() {
        assert_eq!(
            replay_command(
                Path::new("scenarios/lossy.toml"),
                7,
                Some(Path::new("out/minimal.tape")),
                Some(Path::new("out/pcaps")),
                &[]
            ),
            "weft run scenarios/lossy.toml --seed 7 --tape out/minimal.tape --pcap-dir out/pcaps"
        );
        assert_eq!(
            replay_command(
                Path::new("my dir/a.toml"),
                1,
                Some(Path::new("it's.tape")),
                None,
                &["--plant".to_string(), "x y".to_string()]
            ),
            r"weft run 'my dir/a.toml' --seed 1 --tape 'it'\''s.tape' --plant 'x y'"
        );
        assert_eq!(
            replay_command(Path::new("a.toml"), 3, None, None, &[]),
            "weft run a.toml --seed 3"
        );
    }

    #[test]
    fn shrink_expectation_signatures_mask_numbers_not_names() {
        assert_eq!(
            expectation_signature("workload udp_echo#0: delivered 45.0% < 99.0% expected"),
            "workload udp_echo#0: delivered #% < #% expected"
        );
        assert_eq!(
            expectation_signature(
                "workload rr: 1 of 2 clients finished (still running at the time limit (10.000 s))"
            ),
            "workload rr: # of # clients finished (still running at the time limit (# s))"
        );
        assert_eq!(
            expectation_signature(
                "oracle: workload e: 3 integrity violations, first: c0: echo 17 differs"
            ),
            "oracle: workload e: # integrity violations"
        );
        assert_eq!(
            expectation_signature("fault loss was expected to fire and did not"),
            "fault loss was expected to fire and did not"
        );
        assert_eq!(
            expectation_signature("host c10 at 10.0.0.12 and c-2"),
            "host c10 at # and c-2"
        );
    }
}
