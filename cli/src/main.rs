//! `weft`: decode captures; run and sweep simulation scenarios.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use weft_cli::decode::{decode_bytes, print};
use weft_cli::render::RenderOptions;
use weft_cli::simulate::{self, RunArgs, SweepArgs};

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "weft: a deterministic TCP/IP stack and its harness"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Bugs planted on purpose (builds with the `planted-bugs` feature only).
#[derive(clap::Args, Debug, Default)]
struct Plant {
    /// Plant a bug into the simulation (test builds): `NAME` or `NAME=ARG`, like
    /// `bad-ipv4-checksum=3` or `tcp-impatient-client=500ms`; repeatable. Replay commands
    /// carry it.
    #[cfg(feature = "planted-bugs")]
    #[arg(long = "plant", value_name = "BUG")]
    plant: Vec<String>,
}

impl Plant {
    fn specs(self) -> Vec<String> {
        #[cfg(feature = "planted-bugs")]
        {
            self.plant
        }
        #[cfg(not(feature = "planted-bugs"))]
        {
            Vec::new()
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Decode a pcap or pcapng capture: one line per frame (like tcpdump) and totals.
    Decode {
        /// The capture file.
        file: PathBuf,
        /// One JSON object per frame, with every field, then a totals object.
        #[arg(long)]
        json: bool,
        /// Absolute TCP sequence numbers (default: relative, as tcpdump prints them).
        #[arg(short = 'S', long)]
        absolute: bool,
        /// Nanosecond timestamps.
        #[arg(long)]
        nano: bool,
    },
    /// Run a TOML scenario with one seed: a summary table, one pcap per link, the fault tape.
    /// Exits 1 (and prints the command that replays the run) when an expectation or an oracle
    /// fails; with --shrink, also shrinks the failure to a minimal tape.
    Run {
        /// The scenario file (see scenarios/).
        scenario: PathBuf,
        /// The seed (default: the scenario's `seeds.default`).
        #[arg(long)]
        seed: Option<u64>,
        /// Replay this fault tape: exactly its faults fire, none drawn from the seed.
        #[arg(long, value_name = "FILE")]
        tape: Option<PathBuf>,
        /// Write the run's fault tape (every fault that fired, keyed by the frame it hit).
        #[arg(long, value_name = "FILE")]
        record_tape: Option<PathBuf>,
        /// Write one pcap per link (both directions, frames as delivered, simulated
        /// timestamps) into this directory.
        #[arg(long, value_name = "DIR")]
        pcap_dir: Option<PathBuf>,
        /// Print every delivered frame in time order, decoded, and every fault that fired.
        #[arg(long)]
        trace: bool,
        /// Write every event of the run (time, kind, place, digest) to FILE, one per line.
        #[arg(long, value_name = "FILE")]
        events_out: Option<PathBuf>,
        /// Run the seed twice, in two fresh processes, and name the first event where they
        /// differ (exit 1) or confirm that every event agrees.
        #[arg(long, conflicts_with = "shrink")]
        check_determinism: bool,
        /// On failure, shrink the run by delta debugging over its fault tape (and its TCP
        /// workloads when an oracle failed) to the fewest faults that keep its first oracle
        /// failure (else its first failed expectation); save the minimal tape as
        /// DIR/minimal.tape with its pcaps in DIR/pcaps, and print the command that replays
        /// it.
        #[arg(long, value_name = "DIR")]
        shrink: Option<PathBuf>,
        #[command(flatten)]
        plant: Plant,
    },
    /// Run a scenario over a range of seeds on worker threads: a results table with the
    /// faults that fired by kind, and each failing seed with the command that replays it.
    /// Exits 1 when any seed fails.
    ///
    /// Splitting a sweep over machines: `--shard I/N` runs every N-th seed starting at the
    /// I-th; or give `--shard-count N` and the index comes from the environment variable
    /// JOB_COMPLETION_INDEX (Kubernetes indexed jobs; a CI matrix can set it too).
    Sweep {
        /// The scenario file.
        scenario: PathBuf,
        /// Seeds A..B, end exclusive (default: the scenario's `seeds.sweep`).
        #[arg(long, value_name = "A..B", value_parser = parse_seeds)]
        seeds: Option<std::ops::Range<u64>>,
        /// Worker threads (default: the machine's parallelism).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        /// Run only shard I of N.
        #[arg(long, value_name = "I/N", conflicts_with = "shard_count")]
        shard: Option<String>,
        /// Run shard $JOB_COMPLETION_INDEX of N.
        #[arg(long, value_name = "N")]
        shard_count: Option<u64>,
        /// Fail unless every fault kind fired at least once across the sweep.
        #[arg(long)]
        require_all_faults: bool,
        /// Shrink the first failing seed as `weft run --shrink DIR` does: the minimal tape
        /// and its pcaps in DIR, and the command that replays it.
        #[arg(long, value_name = "DIR")]
        shrink: Option<PathBuf>,
        #[command(flatten)]
        plant: Plant,
    },
}

fn parse_seeds(s: &str) -> Result<std::ops::Range<u64>, String> {
    weft_sim::scenario::parse_seed_range(s)
        .ok_or_else(|| format!("`{s}`: expected A..B with A < B, like 0..1000"))
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            scenario,
            seed,
            tape,
            record_tape,
            pcap_dir,
            trace,
            events_out,
            check_determinism,
            shrink,
            plant,
        } => {
            let args = RunArgs {
                scenario,
                seed,
                tape,
                record_tape,
                pcap_dir,
                trace,
                events_out,
                shrink,
                plant: plant.specs(),
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let result = if check_determinism {
                simulate::check_determinism(&args, &mut out)
            } else {
                simulate::run(&args, &mut out)
            };
            let ran = result.and_then(|ok| {
                out.flush()?;
                Ok(ok)
            });
            match ran {
                // `weft run --trace | head` closes the pipe early: not an error.
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
                {
                    Ok(ExitCode::SUCCESS)
                }
                other => Ok(exit(other?)),
            }
        }
        Cmd::Sweep {
            scenario,
            seeds,
            jobs,
            shard,
            shard_count,
            require_all_faults,
            shrink,
            plant,
        } => {
            let shard = match (shard, shard_count) {
                (Some(s), _) => Some(simulate::parse_shard(&s)?),
                (None, Some(n)) => {
                    let i = std::env::var("JOB_COMPLETION_INDEX").context(
                        "--shard-count takes the shard index from JOB_COMPLETION_INDEX, which is not set",
                    )?;
                    Some(simulate::parse_shard(&format!("{i}/{n}"))?)
                }
                (None, None) => None,
            };
            let args = SweepArgs {
                scenario,
                seeds,
                jobs,
                shard,
                require_all_faults,
                progress: true,
                shrink,
                plant: plant.specs(),
            };
            let mut out = std::io::stdout();
            let summary = simulate::sweep(&args, &mut out)?;
            Ok(exit(summary.ok(require_all_faults)))
        }
        Cmd::Decode {
            file,
            json,
            absolute,
            nano,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let decoded = decode_bytes(&bytes)
                .with_context(|| format!("{} is not a capture weft can read", file.display()))?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let printed = print(&decoded, json, RenderOptions { absolute, nano }, &mut out)
                .and_then(|()| out.flush());
            match printed {
                // `weft decode x.pcap | head` closes the pipe early: not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Ok(ExitCode::SUCCESS);
                }
                other => other?,
            }
            // A corrupt record ends the read: everything before it was printed; say so in
            // the exit status.
            Ok(if decoded.error.is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
