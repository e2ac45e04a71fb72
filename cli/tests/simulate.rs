//! `weft run` and `weft sweep` as a user runs them: the binary, the repository's scenarios,
//! tshark over the pcaps, tapes, failing expectations, bad files, shards.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("simulate-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn weft_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let r = (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    println!("weft {}: exit {}\n{}{}", args.join(" "), r.0, r.1, r.2);
    r
}

fn weft(args: &[&str]) -> (i32, String, String) {
    weft_env(args, &[])
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("tshark could not run ({e}): `bash .ci/install` installs it"));
    assert!(out.status.success(), "tshark {args:?}: {:?}", out);
    String::from_utf8(out.stdout).unwrap()
}

/// The pcaps in `a` and `b`: the same `n` files, byte for byte.
fn assert_same_pcaps(a: &Path, b: &Path, n: usize) {
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".pcap"))
            .collect();
        v.sort();
        v
    };
    let files = names(a);
    assert_eq!(files.len(), n, "{}: {files:?}", a.display());
    assert_eq!(files, names(b));
    for f in &files {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x.len() > 24, "{f}: no frames");
        assert!(x == y, "{f}: the replay's pcap differs");
    }
}

/// The first summary line's trace digest.
fn trace_digest(out: &str) -> String {
    let line = out.lines().find(|l| l.contains(" trace ")).unwrap();
    line.rsplit(' ').next().unwrap().to_string()
}

/// Distinct echo-request payloads (UDP to port 7) from each client address, and how many
/// frames carried them, in one capture.
fn requests(pcap: &Path) -> BTreeMap<String, (usize, std::collections::BTreeSet<String>)> {
    let text = tshark(&[
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        "udp.dstport == 7",
        "-T",
        "fields",
        "-e",
        "ip.src",
        "-e",
        "udp.payload",
    ]);
    let mut m: BTreeMap<String, (usize, std::collections::BTreeSet<String>)> = BTreeMap::new();
    for line in text.lines() {
        let (src, payload) = line.split_once('\t').unwrap();
        let e = m.entry(src.to_string()).or_default();
        e.0 += 1;
        e.1.insert(payload.to_string());
    }
    m
}

#[test]
fn run_writes_pcaps_tshark_reads_cleanly_with_the_injected_loss_visible() {
    // lossy-echo has loss, duplication, reordering and jitter but no corruption: the pcaps
    // hold frames as delivered, so every one of them must decode without complaint.
    let dir = scratch("pcaps");
    let (code, out, _) = weft(&[
        "run",
        scenario("lossy-echo.toml").to_str().unwrap(),
        "--pcap-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("expectations: all met"), "{out}");
    assert!(out.contains("pcaps: 4 files in"), "{out}");
    let links = ["server-lan", "client0-lan", "client1-lan", "client2-lan"];
    for l in links {
        let p = dir.join(format!("{l}.pcap"));
        assert!(p.exists(), "{}", p.display());
        let malformed = tshark(&["-r", p.to_str().unwrap(), "-Y", "_ws.malformed"]);
        assert!(malformed.is_empty(), "{l}: malformed frames:\n{malformed}");
        // Simulated timestamps: the run starts at the epoch and lasts seconds.
        let times = tshark(&[
            "-r",
            p.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
        ]);
        let last: f64 = times.lines().last().unwrap().trim().parse().unwrap();
        assert!(last > 0.0 && last < 30.0, "{l}: last frame at {last}");
    }
    // Each client's requests as they reached the switch (its own link's capture) against the
    // same requests as they reached the server (the server link's capture): the loss on the
    // way shows as requests missing at the server, duplication as more frames than requests.
    let at_server = requests(&dir.join("server-lan.pcap"));
    let mut lost = 0;
    let mut duplicated = 0;
    for (i, l) in links.iter().skip(1).enumerate() {
        let ip = format!("10.0.0.{}", 10 + i);
        let at_switch = requests(&dir.join(format!("{l}.pcap")));
        let (frames, sent) = &at_switch[&ip];
        let (server_frames, got) = &at_server[&ip];
        assert!(
            got.is_subset(sent),
            "{l}: the server got requests never sent"
        );
        lost += sent.len() - got.len();
        duplicated += frames - sent.len() + server_frames - got.len();
        println!(
            "{l}: {} requests reached the switch in {frames} frames, {} reached the server in {server_frames}",
            sent.len(),
            got.len()
        );
    }
    assert!(lost > 0, "no loss visible between the captures");
    assert!(duplicated > 0, "no duplicate visible in the captures");
}

#[test]
fn run_records_a_tape_and_replays_it_to_the_same_pcaps() {
    let dir = scratch("tape");
    let tape = dir.join("run.tape");
    let file = scenario("lossy-echo.toml");
    let (code, first, _) = weft(&[
        "run",
        file.to_str().unwrap(),
        "--seed",
        "4",
        "--record-tape",
        tape.to_str().unwrap(),
        "--pcap-dir",
        dir.join("a").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(first.contains("tape: "), "{first}");
    let text = std::fs::read_to_string(&tape).unwrap();
    assert!(
        text.starts_with("weft-tape 2\n") && text.lines().count() > 10,
        "{text}"
    );
    // Replayed with the same seed: the tape decides every fault (none is drawn), and the
    // hosts' own randomness comes from --seed, so the replay is the same run.
    let (code, replay, _) = weft(&[
        "run",
        file.to_str().unwrap(),
        "--seed",
        "4",
        "--tape",
        tape.to_str().unwrap(),
        "--pcap-dir",
        dir.join("b").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(trace_digest(&first), trace_digest(&replay));
    assert_same_pcaps(&dir.join("a"), &dir.join("b"), 4);
    // An empty tape: no faults at all, a different run (which fails the scenario's
    // expectation that loss, duplication and reordering fire).
    std::fs::write(dir.join("empty.tape"), "weft-tape 2\n").unwrap();
    let (code, clean, _) = weft(&[
        "run",
        file.to_str().unwrap(),
        "--seed",
        "4",
        "--tape",
        dir.join("empty.tape").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(clean.contains("faults: loss 0 "), "{clean}");
    assert!(
        clean.contains("fault loss was expected to fire and did not"),
        "{clean}"
    );
    assert_ne!(trace_digest(&first), trace_digest(&clean));
    // A broken tape names its line.
    std::fs::write(dir.join("bad.tape"), "weft-tape 2\n0 0 00 0 explode\n").unwrap();
    let (code, _, err) = weft(&[
        "run",
        file.to_str().unwrap(),
        "--tape",
        dir.join("bad.tape").to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("tape line 2"), "{err}");
}

#[test]
fn run_traces_every_delivery_in_time_order() {
    let (code, out, _) = weft(&[
        "run",
        scenario("arp-churn.toml").to_str().unwrap(),
        "--trace",
    ]);
    assert_eq!(code, 0);
    let n: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("trace: "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let frames: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("trace: "))
        .skip(1)
        .take(n)
        .collect();
    assert_eq!(frames.len(), n);
    let times: Vec<f64> = frames
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");
    assert!(frames.iter().any(|l| l.contains("ARP, Request who-has")));
    assert!(
        frames.iter().any(|l| l.contains("ICMP echo request")),
        "{}",
        frames[100]
    );
    assert!(out.contains("faults fired: "), "{out}");
}

/// A scenario of UDP echoes from a client to a server over links with `loss` in each
/// direction, expecting `min_delivered` of `datagrams` to come back.
fn echo_scenario(name: &str, loss: f64, datagrams: u32, min_delivered: f64) -> String {
    format!(
        r#"
name = "{name}"
until = "10s"
[seeds]
default = 2
[[switches]]
name = "lan"
[links.default]
loss = {{ bernoulli = {loss} }}
[[hosts]]
name = "server"
switch = "lan"
address = "10.0.0.1/24"
[[hosts]]
name = "client"
switch = "lan"
address = "10.0.0.2/24"
[[workloads]]
kind = "udp_echo"
server = "server"
clients = ["client"]
datagrams = {datagrams}
[expect]
min_delivered = {min_delivered}
"#
    )
}

/// A scenario whose expectation cannot hold: every echo crosses four lossy link directions.
fn demanding() -> String {
    echo_scenario("demanding", 0.2, 50, 0.99)
}

#[test]
fn run_fails_with_a_replay_command_when_an_expectation_fails() {
    let dir = scratch("failing");
    let file = dir.join("demanding.toml");
    std::fs::write(&file, demanding()).unwrap();
    let (code, out, _) = weft(&["run", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("expectations: FAILED"), "{out}");
    assert!(out.contains("< 99.0% expected"), "{out}");
    let repro = out.lines().last().unwrap();
    assert_eq!(
        repro,
        format!("FAILED; replay: weft run {} --seed 2", file.display())
    );
    // The printed command replays the same run.
    let (code, again, _) = weft(&["run", file.to_str().unwrap(), "--seed", "2"]);
    assert_eq!(code, 1);
    assert_eq!(trace_digest(&out), trace_digest(&again));
}

#[test]
fn run_rejects_a_bad_scenario_naming_file_line_and_column() {
    let dir = scratch("bad");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "name = \"x\"\n[[switches]]\nname = \"lan\"\nlatency = \"1ms\"\n",
    )
    .unwrap();
    let (code, out, err) = weft(&["run", file.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!(
            "{}:4:1: unknown field `latency`, expected `name`",
            file.display()
        )),
        "{err}"
    );
    let (code, _, err) = weft(&["run", "no-such-scenario.toml"]);
    assert_ne!(code, 0);
    assert!(err.contains("no-such-scenario.toml"), "{err}");
}

#[test]
fn sweep_runs_seeds_in_parallel_and_totals_faults() {
    let file = scenario("lossy-echo.toml");
    let (code, out, _) = weft(&[
        "sweep",
        file.to_str().unwrap(),
        "--seeds",
        "0..8",
        "--jobs",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("sweep lossy-echo: 8 seeds of 0..8 on 2 threads"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()[..3] == ["8", "8", "0"]),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("loss ") && !l.ends_with("never")),
        "{out}"
    );
    assert!(out.trim_end().ends_with("sweep passed"), "{out}");
    // lossy-echo has no corruption, crashes or partitions.
    let (code, out, _) = weft(&[
        "sweep",
        file.to_str().unwrap(),
        "--seeds",
        "0..4",
        "--require-all-faults",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("fault kinds that never fired (--require-all-faults): burst-loss, corrupt"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("sweep FAILED"), "{out}");
}

#[test]
fn sweep_lists_failing_seeds_with_their_replay_commands() {
    let dir = scratch("sweep-failing");
    let file = dir.join("demanding.toml");
    std::fs::write(&file, demanding()).unwrap();
    let (code, out, _) = weft(&["sweep", file.to_str().unwrap(), "--seeds", "10..13"]);
    assert_eq!(code, 1);
    assert!(out.contains("failing seeds (3):"), "{out}");
    for seed in 10..13 {
        assert!(
            out.contains(&format!("  seed {seed}: workload udp_echo#0: delivered")),
            "{out}"
        );
        assert!(
            out.contains(&format!("    weft run {} --seed {seed}\n", file.display())),
            "{out}"
        );
    }
}

#[test]
fn sweep_shards_by_flag_or_job_completion_index() {
    let file = scenario("arp-churn.toml");
    let f = file.to_str().unwrap();
    let (code, out, _) = weft(&["sweep", f, "--seeds", "0..10", "--shard", "1/3"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 seeds of 0..10, shard 1/3"), "{out}");
    let (code, out, _) = weft_env(
        &["sweep", f, "--seeds", "0..10", "--shard-count", "3"],
        &[("JOB_COMPLETION_INDEX", "0")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 seeds of 0..10, shard 0/3"), "{out}");
    let (code, _, err) = weft(&["sweep", f, "--shard", "3/3"]);
    assert_ne!(code, 0);
    assert!(err.contains("expected 0 <= INDEX < COUNT"), "{err}");
    // Without --seeds, the scenario's own range.
    let (code, out, _) = weft(&["sweep", f, "--shard", "0/50"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 seeds of 0..200, shard 0/50"), "{out}");
}

#[test]
fn run_checks_determinism_across_two_processes() {
    let s = scenario("fault-matrix.toml");
    let (code, out, err) = weft(&[
        "run",
        s.to_str().unwrap(),
        "--seed",
        "5",
        "--check-determinism",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("deterministic: seed 5, two processes, "),
        "{out}"
    );
    // The event trace itself: one line per event, the same in a second run.
    let dir = scratch("events");
    let a = dir.join("a.txt");
    let b = dir.join("b.txt");
    for p in [&a, &b] {
        let (code, _, err) = weft(&[
            "run",
            s.to_str().unwrap(),
            "--seed",
            "5",
            "--events-out",
            p.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let (ta, tb) = (
        std::fs::read_to_string(&a).unwrap(),
        std::fs::read_to_string(&b).unwrap(),
    );
    assert!(ta.lines().count() > 1000);
    assert_eq!(ta, tb);
    assert_eq!(weft_sim::determinism::compare_texts(&ta, &tb), Ok(None));
}

/// Runs a command `weft` printed (`weft run ...`): its words, none quoted here.
fn run_printed(command: &str) -> (i32, String, String) {
    assert!(!command.contains('\''), "quoted words: {command}");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "weft", "{command}");
    weft(&words[1..])
}

/// The command after `prefix` on its own line of `out`.
fn printed_command<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{out}"))
}

/// The failures a run lists under `expectations: FAILED`.
fn failures(out: &str) -> Vec<&str> {
    out.lines()
        .skip_while(|l| *l != "expectations: FAILED")
        .skip(1)
        .map_while(|l| l.strip_prefix("  - "))
        .collect()
}

/// Entry lines of a tape file (not its header or comments).
fn tape_entries(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("weft-tape") && !l.trim().is_empty())
        .collect()
}

/// A scenario whose expectation fails on any lost datagram or echo: 200 echoes across four
/// link directions with 5% loss each.
fn strict() -> String {
    echo_scenario("strict", 0.05, 200, 0.999)
}

#[test]
fn sweep_shrinks_the_first_failing_seed_to_a_replayable_minimal_tape() {
    let dir = scratch("sweep-shrink");
    let file = dir.join("strict.toml");
    std::fs::write(&file, strict()).unwrap();
    let min = dir.join("min");
    let (code, out, _) = weft(&[
        "sweep",
        file.to_str().unwrap(),
        "--seeds",
        "10..13",
        "--shrink",
        min.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.trim_end().ends_with("sweep FAILED"), "{out}");
    // The first failing seed, and the expectation it failed.
    let kept = printed_command(&out, "shrinking seed 10's tape of ");
    let (entries, failure) = kept.split_once(" entries, keeping: ").unwrap();
    let entries: usize = entries.parse().unwrap();
    assert!(
        failure.starts_with("workload udp_echo#0: delivered "),
        "{failure}"
    );
    // The seed's tape has many losses, and one lost datagram or echo is enough to miss
    // 99.9% of 200.
    let text = std::fs::read_to_string(min.join("minimal.tape")).unwrap();
    let minimal = tape_entries(&text);
    assert!(entries >= 10, "{entries}");
    assert_eq!(minimal.len(), 1, "{text}");
    assert!(minimal[0].contains(" drop "), "{text}");
    let pcaps = min.join("pcaps");
    for l in ["server-lan", "client-lan"] {
        assert!(pcaps.join(format!("{l}.pcap")).exists(), "{l}");
    }
    // The printed command names the scenario file and replays the same failure.
    let command = printed_command(&out, "replay the minimal case: ");
    assert_eq!(
        command,
        format!(
            "weft run {} --seed 10 --tape {} --pcap-dir {}",
            file.display(),
            min.join("minimal.tape").display(),
            pcaps.display()
        )
    );
    let saved = dir.join("saved");
    std::fs::rename(&pcaps, &saved).unwrap();
    let (code, again, _) = run_printed(command);
    assert_eq!(code, 1, "{again}");
    let listed = failures(&again);
    assert_eq!(listed.len(), 1, "{again}");
    assert!(
        listed[0].starts_with("workload udp_echo#0: delivered "),
        "{again}"
    );
    assert!(
        text.contains(&format!("# failure: {}\n", listed[0])),
        "{text}"
    );
    assert!(again.contains("faults: loss 1 "), "{again}");
    assert_same_pcaps(&saved, &pcaps, 2);
}

#[test]
fn run_shrinks_only_a_failure_and_not_with_the_determinism_check() {
    // A passing run shrinks nothing and writes nothing.
    let dir = scratch("shrink-pass");
    let min = dir.join("min");
    let (code, out, _) = weft(&[
        "run",
        scenario("arp-churn.toml").to_str().unwrap(),
        "--shrink",
        min.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("shrinking"), "{out}");
    assert!(!min.exists());
    // Shrinking and the determinism check do not go together.
    let (code, _, err) = weft(&[
        "run",
        scenario("arp-churn.toml").to_str().unwrap(),
        "--shrink",
        min.to_str().unwrap(),
        "--check-determinism",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "{err}");
}

/// A TCP request/response client on lossy links beside a bulk transfer that fills the tape
/// with faults: with `tcp-impatient-client=500ms` planted, the client gives up on a response
/// after 500 ms, which only one segment lost twice in a row (200 ms, then 400 ms of
/// retransmission timeout) makes it do.
#[cfg(feature = "planted-bugs")]
const IMPATIENT: &str = r#"
name = "impatient"
until = "60s"
[[switches]]
name = "lan"
[links.default]
latency = "300us"
jitter = "100us"
loss = { bernoulli = 0.03 }
duplicate = 0.01
reorder = 0.01
[[hosts]]
name = "server"
switch = "lan"
address = "10.0.0.1/24"
[[hosts]]
name = "c0"
switch = "lan"
address = "10.0.0.10/24"
[[hosts]]
name = "c1"
switch = "lan"
address = "10.0.0.11/24"
[[workloads]]
kind = "tcp_request_response"
name = "rr"
server = "server"
clients = ["c0"]
requests = 300
size = 100
response_size = 1000
[[workloads]]
kind = "tcp_bulk"
name = "bulk"
server = "server"
port = 9
clients = ["c1"]
upload = 100000
download = 100000
"#;

#[cfg(feature = "planted-bugs")]
const IMPATIENT_BUG: &str = "tcp-impatient-client=500ms";

#[cfg(feature = "planted-bugs")]
#[test]
fn run_exits_non_zero_when_an_oracle_fails() {
    // lossy-echo passes as it is (see above); a NIC that breaks one IPv4 header checksum
    // fails the sender-side monitor, an oracle, not an expectation on counts.
    let file = scenario("lossy-echo.toml");
    let (code, out, _) = weft(&[
        "run",
        file.to_str().unwrap(),
        "--plant",
        "bad-ipv4-checksum=3",
    ]);
    assert_eq!(code, 1, "{out}");
    // The monitor names the broken frame; the receiver's stack drops it, so the loss oracle
    // may also find its datagram lost with no fault on its path. Nothing else fails.
    let listed = failures(&out);
    assert_eq!(
        listed
            .iter()
            .filter(
                |f| f.starts_with("oracle: [monitor] at ") && f.contains("breaking ipv4.checksum")
            )
            .count(),
        1,
        "{out}"
    );
    assert!(
        listed.iter().all(|f| f.starts_with("oracle: [monitor] at ")
            || f.starts_with("oracle: [loss] 1 datagram(s) ")),
        "{out}"
    );
    // The replay command plants the same bug, and fails the same way.
    let command = printed_command(&out, "FAILED; replay: ");
    assert_eq!(
        command,
        format!(
            "weft run {} --seed 1 --plant bad-ipv4-checksum=3",
            file.display()
        )
    );
    let (code, again, _) = run_printed(command);
    assert_eq!(code, 1);
    assert_eq!(failures(&again), listed);
    // So does a sweep.
    let (code, out, _) = weft(&[
        "sweep",
        file.to_str().unwrap(),
        "--seeds",
        "0..2",
        "--plant",
        "bad-ipv4-checksum=3",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failing seeds (2):"), "{out}");
    assert!(
        out.contains(&format!(
            "    weft run {} --seed 1 --plant bad-ipv4-checksum=3\n",
            file.display()
        )),
        "{out}"
    );
    // A bug that does not exist is refused by name.
    let (code, _, err) = weft(&["run", file.to_str().unwrap(), "--plant", "explode"]);
    assert_ne!(code, 0);
    assert!(err.contains("--plant `explode`: unknown bug"), "{err}");
}

#[cfg(feature = "planted-bugs")]
#[test]
fn run_shrinks_a_planted_bug_to_the_two_faults_it_needs_and_prints_its_replay() {
    let dir = scratch("shrink-planted");
    let file = dir.join("impatient.toml");
    std::fs::write(&file, IMPATIENT).unwrap();
    let f = file.to_str().unwrap();
    // Without the bug every seed passes; find a seed where the bug shows in a run of at
    // least 100 faults.
    let tape = dir.join("run.tape");
    let seed = (1..40)
        .find(|seed| {
            let s = seed.to_string();
            let (code, _, _) = weft(&[
                "run",
                f,
                "--seed",
                &s,
                "--plant",
                IMPATIENT_BUG,
                "--record-tape",
                tape.to_str().unwrap(),
            ]);
            code == 1 && tape_entries(&std::fs::read_to_string(&tape).unwrap()).len() >= 100
        })
        .expect("a seed where the bug shows in 100 faults");
    let s = seed.to_string();
    let (code, honest, _) = weft(&["run", f, "--seed", &s]);
    assert_eq!(code, 0, "{honest}");

    let min = dir.join("min");
    let (code, out, _) = weft(&[
        "run",
        f,
        "--seed",
        &s,
        "--plant",
        IMPATIENT_BUG,
        "--shrink",
        min.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    let kept = printed_command(&out, &format!("shrinking seed {seed}'s tape of "));
    let (entries, failure) = kept.split_once(" entries, keeping: ").unwrap();
    assert!(entries.parse::<usize>().unwrap() >= 100, "{kept}");
    assert!(
        failure.starts_with("oracle: [application] rr: c0 accepted a reply to request "),
        "{failure}"
    );
    // At most five entries (the issue's bound), two of them the drops the bug needs: one
    // segment lost twice in a row. The request/response workload shrank too (an oracle
    // failed, so workloads may): fewer requests.
    let text = std::fs::read_to_string(min.join("minimal.tape")).unwrap();
    let minimal = tape_entries(&text);
    assert!((2..=5).contains(&minimal.len()), "{text}");
    assert_eq!(
        minimal.iter().filter(|l| l.contains(" drop ")).count(),
        2,
        "{text}"
    );
    assert!(
        out.contains("it also fails with smaller workloads (rr: 1 clients x 300 requests -> "),
        "{out}"
    );
    let pcaps = min.join("pcaps");
    for l in ["server-lan", "c0-lan", "c1-lan"] {
        assert!(pcaps.join(format!("{l}.pcap")).exists(), "{l}");
    }
    // One command, naming the scenario file and the bug, replays the same failure and
    // writes the same pcaps.
    let command = printed_command(&out, "replay the minimal case: ");
    assert_eq!(
        command,
        format!(
            "weft run {f} --seed {seed} --tape {} --pcap-dir {} --plant {IMPATIENT_BUG}",
            min.join("minimal.tape").display(),
            pcaps.display()
        )
    );
    assert!(text.contains(&format!("# replay: {command}\n")), "{text}");
    let saved = dir.join("saved");
    std::fs::rename(&pcaps, &saved).unwrap();
    let (code, again, _) = run_printed(command);
    assert_eq!(code, 1, "{again}");
    let listed = failures(&again);
    assert!(!listed.is_empty(), "{again}");
    assert!(
        listed
            .iter()
            .all(|l| l.starts_with("oracle: [application] rr: c0 accepted a reply to request ")),
        "{again}"
    );
    for l in &listed {
        assert!(text.contains(&format!("# failure: {l}\n")), "{text}");
    }
    assert_same_pcaps(&saved, &pcaps, 3);
    // The two faults are harmless without the bug.
    let (code, clean, _) = weft(&[
        "run",
        f,
        "--seed",
        &s,
        "--tape",
        min.join("minimal.tape").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{clean}");
}
