//! Shrinking a failing run: delta debugging (ddmin, Zeller and Hildebrandt 2002) over the
//! fault tape, then over the workloads' sizes, down to a minimal tape that still fails.
//!
//! Tape entries are keyed by the frames they hit, not by position ([`crate::tape`]), so a
//! subset of a tape replayed with [`FaultSource::Tape`] still hits the same frames as long as
//! the run reaches them; and workloads send a prefix of the same payloads when made smaller
//! ([`crate::workload`]). A candidate is kept when the run still satisfies the caller's
//! predicate ("an oracle failed", or one particular failure).
//!
//! The tape [`shrink`] returns always reproduces with the builder's own workloads, so
//! `weft run SCENARIO --seed N --tape FILE` ([`replay_command`]) replays it; the smaller
//! workloads that also fail with it are reported beside it.

use crate::fabric::FaultSource;
use crate::oracle::OracleFailure;
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

/// The result of shrinking.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The seed.
    pub seed: u64,
    /// Entries in the tape shrinking started from.
    pub original_entries: usize,
    /// The minimal tape: it fails with the builder's own workloads.
    pub tape: Tape,
    /// The replay of [`Shrunk::tape`] with pcaps on.
    pub report: Report,
    /// The smallest workloads found that still fail (with [`Shrunk::small_tape`]); equal to
    /// the builder's when they could not be made smaller.
    pub workloads: Vec<Workload>,
    /// The minimal tape for [`Shrunk::workloads`].
    pub small_tape: Tape,
    /// Simulation runs used.
    pub runs: usize,
}

impl Shrunk {
    /// The failures of the minimal replay.
    pub fn failures(&self) -> &[OracleFailure] {
        &self.report.oracles
    }

    /// Saves the minimal case in `dir`: `<stem>.tape` (with the replay command and failures
    /// as comments) and the pcaps of its replay in `<stem>-pcap/`. `scenario` is the file
    /// the command names.
    pub fn save(&self, dir: &Path, stem: &str, scenario: &Path) -> std::io::Result<Saved> {
        std::fs::create_dir_all(dir)?;
        let tape_path = dir.join(format!("{stem}.tape"));
        let command = replay_command(scenario, self.seed, &tape_path);
        let mut text = format!(
            "# minimal fault tape: {} entries (shrunk from {} in {} runs), seed {}\n# replay: {command}\n",
            self.tape.len(),
            self.original_entries,
            self.runs,
            self.seed
        );
        for f in &self.report.oracles {
            text.push_str(&format!("# failure: {f}\n"));
        }
        text.push_str(&self.tape.to_text());
        std::fs::write(&tape_path, text)?;
        let pcaps = self.report.write_pcaps(&dir.join(format!("{stem}-pcap")))?;
        Ok(Saved {
            tape: tape_path,
            pcaps,
            command,
        })
    }
}

/// Where [`Shrunk::save`] put things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The tape file.
    pub tape: PathBuf,
    /// The pcaps of its replay, one per link.
    pub pcaps: Vec<PathBuf>,
    /// The command that replays it.
    pub command: String,
}

fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-=:,+@".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command that replays `tape` on `scenario` with `seed`.
pub fn replay_command(scenario: &Path, seed: u64, tape: &Path) -> String {
    format!(
        "weft run {} --seed {seed} --tape {}",
        shell_word(&scenario.display().to_string()),
        shell_word(&tape.display().to_string())
    )
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

struct Runner<'a, P> {
    builder: &'a SimBuilder,
    seed: u64,
    failing: P,
    runs: usize,
    max_runs: usize,
}

impl<P: FnMut(&Report) -> bool> Runner<'_, P> {
    fn replay(
        &mut self,
        workloads: &[Workload],
        entries: &[TapeEntry],
        pcap: bool,
    ) -> Option<Report> {
        self.runs += 1;
        self.builder
            .clone()
            .set_workloads(workloads.to_vec())
            .faults(FaultSource::Tape(Tape {
                entries: entries.to_vec(),
            }))
            .trace_events(false)
            .pcap(pcap)
            .run(self.seed)
            .ok()
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
            Some(r) if (self.failing)(&r) && r.tape.len() <= min.len() => r.tape.entries,
            _ => min,
        }
    }
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
    let full = builder.workloads().to_vec();
    let mut r = Runner {
        builder,
        seed,
        failing,
        runs: 0,
        max_runs: options.max_runs,
    };
    // The builder must be valid, and the whole tape must fail.
    builder
        .clone()
        .faults(FaultSource::Tape(tape.clone()))
        .run(seed)?;
    if !r.fails(&full, &tape.entries) {
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
        workloads,
        small_tape: Tape { entries: small },
        runs: r.runs,
    })
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
                Path::new("out/min.tape")
            ),
            "weft run scenarios/lossy.toml --seed 7 --tape out/min.tape"
        );
        assert_eq!(
            replay_command(Path::new("my dir/a.toml"), 1, Path::new("it's.tape")),
            r"weft run 'my dir/a.toml' --seed 1 --tape 'it'\''s.tape'"
        );
    }
}
