//! `cargo xtask fuzz TARGET --time SECS`: a bounded libFuzzer run over the committed corpus.
//!
//! New inputs go to a scratch directory (first corpus argument), the committed corpus
//! (`fuzz/corpus/TARGET`) is read only, and crashes land in `fuzz/artifacts/TARGET/`.
//! Prints one `FUZZ target runs=N exec/s=X` line per target from libFuzzer's final stats.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// Every target, from `fuzz/targets.txt` (one name per line).
pub fn targets(root: &Path) -> Result<Vec<String>> {
    let list = std::fs::read_to_string(root.join("fuzz/targets.txt"))
        .context("reading fuzz/targets.txt")?;
    Ok(list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

pub fn run(root: &Path, target: &str, secs: u64, seed: Option<u64>) -> Result<()> {
    let all = targets(root)?;
    let chosen: Vec<String> = if target == "all" {
        all
    } else if all.iter().any(|t| t == target) {
        vec![target.to_string()]
    } else {
        bail!(
            "unknown fuzz target {target:?}; targets: {}",
            all.join(", ")
        );
    };
    let fuzz_dir = root.join("fuzz");
    // Build every chosen target first so the timed runs measure fuzzing, not compiling.
    let mut build = Command::new("cargo");
    build.args(["+nightly", "fuzz", "build"]).current_dir(root);
    if let [only] = chosen.as_slice() {
        build.arg(only);
    }
    let st = build.status().context(
        "running cargo +nightly fuzz build (is cargo-fuzz installed? .ci/install installs it)",
    )?;
    if !st.success() {
        bail!("cargo fuzz build failed");
    }
    let mut summary = Vec::new();
    for t in &chosen {
        let corpus = fuzz_dir.join("corpus").join(t);
        std::fs::create_dir_all(&corpus)?;
        let scratch = std::env::temp_dir().join(format!("weft-fuzz-{t}"));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)?;
        let artifacts = fuzz_dir.join("artifacts").join(t);
        std::fs::create_dir_all(&artifacts)?;
        let mut cmd = Command::new("cargo");
        cmd.args(["+nightly", "fuzz", "run", t])
            .arg(&scratch)
            .arg(&corpus)
            .arg("--");
        if let Some(seed) = seed {
            cmd.arg(format!("-seed={seed}"));
        }
        let out = cmd
            .arg(format!("-max_total_time={secs}"))
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .current_dir(root)
            .output()
            .with_context(|| format!("running fuzz target {t}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stat = |name: &str| {
            stderr
                .lines()
                .find_map(|l| {
                    l.strip_prefix(&format!("stat::{name}:"))
                        .map(|v| v.trim().to_string())
                })
                .unwrap_or_else(|| "?".into())
        };
        // libFuzzer prints "INFO: Seed: N": with it (`--seed N`) the run repeats.
        let used_seed = stderr
            .lines()
            .find_map(|l| l.strip_prefix("INFO: Seed: ").map(|v| v.trim().to_string()))
            .unwrap_or_else(|| "?".into());
        let line = format!(
            "FUZZ {t} runs={} exec/s={} secs={secs} seed={used_seed}",
            stat("number_of_executed_units"),
            stat("average_exec_per_sec")
        );
        println!("{line}");
        summary.push(line);
        if !out.status.success() {
            // The panic message and sanitizer report first, then the tail; the whole log is
            // kept beside the crashing input.
            let log = artifacts.join("fuzz.log");
            let _ = std::fs::write(&log, stderr.as_bytes());
            for l in stderr.lines().filter(|l| {
                l.contains("panicked")
                    || l.contains("ERROR:")
                    || l.contains("SUMMARY")
                    || l.starts_with("  left")
                    || l.starts_with(" right")
            }) {
                eprintln!("{l}");
            }
            let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
            eprintln!("full log: {}", log.display());
            bail!(
                "fuzz target {t} failed; the input is in {}",
                artifacts.display()
            );
        }
        let _ = std::fs::remove_dir_all(&scratch);
    }
    if summary.len() > 1 {
        println!(
            "fuzzed {} targets for {secs} s each, no failures",
            summary.len()
        );
    }
    Ok(())
}
