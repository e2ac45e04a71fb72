//! `cargo xtask …`: the project's own tasks (fuzzing, corpora, benchmarks, Linux interop).
//!
//! Runs in release (see `.cargo/config.toml`), so benchmarks are measured optimised.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

mod bench;
mod bench_conns;
mod bench_echo;
mod bench_sim;
mod bench_tcp;
mod bench_udp;
mod conformance;
mod corpus;
mod fuzz;
mod interop;
mod latency;
mod misses;
mod smol_link;

#[derive(Parser)]
#[command(name = "xtask", about = "weft's project tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one fuzz target (cargo +nightly fuzz) for a bounded time and print exec/s.
    Fuzz {
        /// Target name (see fuzz/targets.txt); `all` runs every target in turn.
        target: String,
        /// Seconds to run each target.
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// libFuzzer's random seed (`-seed`); without it libFuzzer picks one, which is
        /// printed so the run can be repeated.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Regenerate the seed corpora in fuzz/corpus from ../shared/captures.
    Corpus,
    /// Check docs/conformance/rfc9293.md: all 69 RFC 9293 MUST labels, each with tests that
    /// exist, cite it and run under --all-features (or a reason, or NOT MET).
    Conformance,
    /// Run a benchmark against its peer library (all of them without a name); prints
    /// `RATIO name x`, where x > 1 means weft is faster.
    Bench {
        /// Benchmark name, e.g. `wire_parse_vs_etherparse`.
        name: Option<String>,
    },
    /// Run weft against the Linux kernel over TAP devices in network namespaces (as root);
    /// prints one line per step and `N passed, M failed`.
    Interop(interop::InteropArgs),
    /// Where one size of a simulator benchmark takes its misses to memory, per event, by
    /// part of the code (cachegrind with this machine's L3 as the last level; needs valgrind).
    Misses {
        /// Benchmark name, e.g. `sim_echo_vs_turmoil`.
        name: String,
        /// The size to run, as `WEFT_BENCH_PROFILE` takes it (e.g. `10000` clients).
        #[arg(long)]
        size: String,
    },
    /// Load-to-use latency by working-set size: where this machine's caches end for this
    /// program (on a shared machine, far short of what `lscpu` says).
    Latency,
    /// The weft side of `interop`, run by it inside a namespace.
    #[command(hide = true)]
    InteropHost(interop::host::HostArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root()?;
    match cli.cmd {
        Cmd::Fuzz { target, time, seed } => fuzz::run(&root, &target, time, seed),
        Cmd::Corpus => corpus::run(&root),
        Cmd::Conformance => conformance::run(&root),
        Cmd::Bench { name } => bench::run(&root, name.as_deref()),
        Cmd::Misses { name, size } => misses::run(&root, &name, &size),
        Cmd::Latency => latency::run(),
        Cmd::Interop(args) => interop::run(&root, &args),
        Cmd::InteropHost(args) => interop::host::run(args),
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = dir.parent().context("xtask has no parent directory")?;
    if !root.join("Cargo.toml").exists() {
        bail!("workspace root {} has no Cargo.toml", root.display());
    }
    Ok(root.to_path_buf())
}
