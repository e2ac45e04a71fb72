//! Every scenario in scenarios/ (each file there, found by listing the directory) runs with
//! its default seed, its expectations hold, and its summary matches its snapshot; bad files
//! are rejected with their line, column and what was expected.
#![allow(clippy::indexing_slicing, clippy::panic)] // test code: a bad index or an unexpected error is a failure

use std::path::{Path, PathBuf};
use weft_sim::scenario::{RunOptions, Scenario, ScenarioError};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn run_file(name: &str) -> String {
    let s = Scenario::load(&scenarios_dir().join(name)).unwrap_or_else(|e| panic!("{e}"));
    println!("scenario {name} seed {}", s.default_seed);
    let o = s
        .run(s.default_seed, &RunOptions::default())
        .expect("valid simulation");
    let summary = o.summary();
    println!("{summary}");
    assert!(o.ok(), "{name}: {:?}", o.failures);
    summary
}

/// Every file in scenarios/, by name.
fn scenario_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(scenarios_dir())
        .expect("the scenarios directory")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    names
}

/// Every scenario in scenarios/ — whatever files are there — runs with its default seed,
/// meets its expectations and matches its snapshot (`scenario_<file name>`, dashes as
/// underscores): a new file without a snapshot fails here until its summary is accepted.
#[test]
fn scenario_every_file_runs_and_matches_its_snapshot() {
    let names = scenario_files();
    for known in [
        "arp-churn.toml",
        "dhcp.toml",
        "fault-matrix.toml",
        "lossy-echo.toml",
    ] {
        assert!(names.iter().any(|n| n == known), "{known} in {names:?}");
    }
    let stems: Vec<String> = names
        .iter()
        .map(|n| n.trim_end_matches(".toml").replace('-', "_"))
        .collect();
    for (name, stem) in names.iter().zip(&stems) {
        insta::assert_snapshot!(format!("scenario_{stem}"), run_file(name));
    }
    // And no snapshot outlives its file.
    let snaps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    for e in std::fs::read_dir(snaps).expect("the snapshots directory") {
        let file = e.expect("a directory entry").file_name();
        let file = file.to_string_lossy();
        let Some(stem) = file
            .strip_prefix("scenarios__scenario_")
            .and_then(|f| f.strip_suffix(".snap"))
        else {
            continue;
        };
        assert!(
            stems.iter().any(|s| s == stem),
            "snapshot {file} has no scenario file"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Bad files

/// A small valid scenario; tests append or replace lines to break it.
const BASE: &str = r#"name = "t"

[[switches]]
name = "lan"

[links.default]
latency = "1ms"

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
"#;

/// Parses `text`, which must fail: (line, column, message), printed.
fn reject(text: &str) -> (usize, usize, String) {
    let e = Scenario::parse(text, "bad.toml", "bad").expect_err("the file is rejected");
    println!("{e}\n");
    let shown = e.to_string();
    let (line, column) = e.position().expect("a position");
    assert!(
        shown.starts_with(&format!("bad.toml:{line}:{column}: ")),
        "{shown}"
    );
    (line, column, e.message().to_string())
}

/// The 1-based line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("`{needle}` not in the text"))
}

#[test]
fn scenario_base_is_valid() {
    let s = Scenario::parse(BASE, "base.toml", "base").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.host_names(), ["server", "client"]);
    assert_eq!(s.default_seed, 1);
    let o = s.run(1, &RunOptions::default()).expect("runs");
    assert!(o.ok(), "{}", o.summary());
    assert_eq!(o.workloads[0].delivered, 100);
    // The same through the builder, with capture added by the caller.
    let (b, ledger) = s.build();
    let o2 = s.judge(b.pcap(true).run(1).expect("runs"), &ledger);
    assert!(o2.ok(), "{}", o2.summary());
    assert_eq!(o2.report.trace_digest, o.report.trace_digest);
    assert!(o2.report.links.iter().all(|l| l.pcap.is_some()));
}

#[test]
fn scenario_rejects_toml_syntax_errors() {
    let text = BASE.replace("latency = \"1ms\"", "latency = \"1ms");
    let (line, col, msg) = reject(&text);
    assert_eq!(line, line_of(&text, "latency"));
    assert!(col > 1, "{col}");
    assert!(msg.contains("string"), "{msg}");
}

#[test]
fn scenario_rejects_unknown_keys_everywhere() {
    for (find, replace, key) in [
        ("name = \"t\"", "name = \"t\"\nuntill = \"5s\"", "untill"),
        ("latency = \"1ms\"", "latncy = \"1ms\"", "latncy"),
        (
            "switch = \"lan\"\naddress = \"10.0.0.2/24\"",
            "switch = \"lan\"\naddress = \"10.0.0.2/24\"\ngateway = \"10.0.0.254\"",
            "gateway",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"udp_echo\"\nrate = 5",
            "rate",
        ),
        (
            "latency = \"1ms\"",
            "latency = \"1ms\"\nup = { latency = \"1ms\", colour = \"red\" }",
            "colour",
        ),
        (
            "latency = \"1ms\"",
            "loss = { gilbert_elliott = { p_good_to_bad = 0.1, p_bad_to_good = 0.5, p_ugly = 1 } }",
            "p_ugly",
        ),
    ] {
        let text = BASE.replacen(find, replace, 1);
        assert_ne!(text, BASE, "{find}");
        let (line, _, msg) = reject(&text);
        assert_eq!(line, line_of(&text, key), "{msg}");
        // serde says "unknown field `k`, expected one of ..."; toml, inside an enum's
        // table, "unexpected keys in table: k, available keys: ...".
        assert!(
            msg.contains(&format!("unknown field `{key}`"))
                || msg.contains(&format!("unexpected keys in table: {key}")),
            "{msg}"
        );
        assert!(
            msg.contains("expected") || msg.contains("available keys"),
            "{msg}"
        );
    }
}

#[test]
fn scenario_rejects_wrong_types_and_values() {
    for (find, replace, needle, says) in [
        (
            "kind = \"udp_echo\"",
            "kind = \"udp_echo\"\ndatagrams = \"ten\"",
            "datagrams",
            "expected u32",
        ),
        (
            "latency = \"1ms\"",
            "latency = \"5 parsecs\"",
            "latency",
            "expected a number and a unit",
        ),
        (
            "latency = \"1ms\"",
            "latency = 5",
            "latency",
            "a duration with a unit",
        ),
        (
            "latency = \"1ms\"",
            "duplicate = 1.5",
            "duplicate",
            "between 0 and 1",
        ),
        (
            "latency = \"1ms\"",
            "bandwidth = \"fast\"",
            "bandwidth",
            "like \"10Mbit\"",
        ),
        ("latency = \"1ms\"", "mtu = 20", "mtu", "below 68"),
        (
            "latency = \"1ms\"",
            "loss = { sometimes = 0.1 }",
            "loss",
            "unknown variant `sometimes`",
        ),
        (
            "address = \"10.0.0.2/24\"",
            "address = \"10.0.0.300/24\"",
            "10.0.0.300",
            "is not an address",
        ),
        (
            "address = \"10.0.0.2/24\"",
            "address = \"10.0.0.2/31\"",
            "10.0.0.2/31",
            "expected 1 to 30",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"tcp_stream\"",
            "tcp_stream",
            "unknown variant `tcp_stream`",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"tcp_bulk\"\nmessages = 3",
            "messages",
            "does not apply to a tcp_bulk workload",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"tcp_bulk\"\nupload = 5000000000",
            "upload",
            "at most 4294967295 bytes",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"tcp_echo\"\nsize = 0",
            "size",
            "expected 1 to 1048576 bytes",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"tcp_connections\"\nconnections = 0",
            "connections = 0",
            "at least 1",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"tcp_connections\"\nconnections = 4000000000",
            "connections = 4000000000",
            "at most 16384",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"tcp_request_response\"\nidle_timeout = \"0s\"",
            "idle_timeout",
            "more than zero",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"udp_echo\"\ndatagrams = 0",
            "datagrams",
            "at least 1",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"udp_echo\"\nsize = 4",
            "size",
            "expected 12 to 65507",
        ),
    ] {
        let text = BASE.replacen(find, replace, 1);
        assert_ne!(text, BASE, "{find}");
        let (line, _, msg) = reject(&text);
        assert_eq!(line, line_of(&text, needle), "{msg}");
        assert!(msg.contains(says), "{msg} should say {says}");
    }
}

#[test]
fn scenario_rejects_bad_references_and_combinations() {
    let cases = [
        (
            "switch = \"lan\"\naddress = \"10.0.0.2/24\"",
            "switch = \"wan\"\naddress = \"10.0.0.2/24\"",
            "\"wan\"",
            "switch `wan`, which is not defined",
        ),
        (
            "switch = \"lan\"\naddress = \"10.0.0.2/24\"",
            "switch = \"lan\"\naddress = \"10.0.0.2/24\"\nlink = \"fibre\"",
            "fibre",
            "link profile `fibre` is not defined",
        ),
        (
            "switch = \"lan\"\naddress = \"10.0.0.2/24\"",
            "switch = \"lan\"\naddress = \"10.0.0.2/24\"\ndhcp = true",
            "10.0.0.2/24",
            "not both",
        ),
        (
            "name = \"client\"\nswitch = \"lan\"\naddress = \"10.0.0.2/24\"",
            "name = \"client\"\nswitch = \"lan\"",
            "\"client\"",
            "has no address",
        ),
        (
            "name = \"client\"",
            "name = \"server\"",
            "name = \"server\"\nswitch = \"lan\"\n\n[[work",
            "used twice",
        ),
        (
            "server = \"server\"",
            "server = \"sever\"",
            "sever",
            "`sever` is not a host",
        ),
        (
            "clients = [\"client\"]",
            "clients = [\"laptop*\"]",
            "laptop",
            "names no host",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"request_response\"\nburst = 4",
            "burst",
            "`burst` does not apply to a request_response workload",
        ),
        (
            "kind = \"udp_echo\"",
            "kind = \"dhcp\"\npool = \"10.0.0.100-10.0.0.110\"",
            "clients = [",
            "needs `dhcp = true`",
        ),
        (
            "name = \"t\"",
            "name = \"t\"\n[seeds]\nsweep = \"9..3\"",
            "9..3",
            "not a seed range",
        ),
        (
            "name = \"t\"",
            "name = \"t\"\n[expect]\nfaults = [\"gremlins\"]",
            "gremlins",
            "unknown fault kind `gremlins`",
        ),
    ];
    for (find, replace, needle, says) in cases {
        let text = BASE.replacen(find, replace, 1);
        assert_ne!(text, BASE, "{find}");
        let (line, _, msg) = reject(&text);
        let want = if needle.contains('\n') {
            line_of(&text, needle.lines().next().unwrap_or_default()) + 1
        } else {
            line_of(&text, needle)
        };
        assert!(msg.contains(says), "{msg} should say {says}");
        assert!(
            line == want
                || (says == "used twice"
                    && text
                        .lines()
                        .nth(line - 1)
                        .is_some_and(|l| l.contains("server"))),
            "line {line}, expected {want}: {msg}"
        );
    }
    // A schedule that names no host.
    let text = format!("{BASE}\n[[schedule]]\nat = \"1s\"\naction = \"crash\"\nhost = \"ghost\"\n");
    let (line, _, msg) = reject(&text);
    assert_eq!(line, line_of(&text, "ghost"));
    assert!(msg.contains("`ghost` is not a host"), "{msg}");
    let text =
        format!("{BASE}\n[[schedule]]\nat = \"1s\"\naction = \"explode\"\nhost = \"server\"\n");
    let (line, _, msg) = reject(&text);
    assert_eq!(line, line_of(&text, "explode"));
    assert!(
        msg.contains("unknown variant `explode`, expected one of"),
        "{msg}"
    );
}

#[test]
fn scenario_volume_expectations_parse_and_are_judged() {
    // Bad values: the line and column of the value, and what was expected.
    for (line, says) in [
        ("min_datagrams = -5", "expected u64"),
        ("min_datagrams = 1.5", "expected u64"),
        ("min_stream_bytes = \"1MiB\"", "expected u64"),
        ("min_datagrams = 0", "min_datagrams must be at least 1"),
        (
            "min_stream_bytes = 0",
            "min_stream_bytes must be at least 1",
        ),
        ("min_datagram = 5", "unknown field `min_datagram`"),
    ] {
        let text = format!("{BASE}\n[expect]\n{line}\n");
        let (l, col, msg) = reject(&text);
        assert_eq!(l, line_of(&text, line), "{msg}");
        let key = line.split(' ').next().unwrap_or_default();
        let want = if says.starts_with("unknown") {
            1
        } else {
            key.len() + 4
        };
        assert_eq!(col, want, "{line}: {msg}");
        assert!(msg.contains(says), "{msg} should say {says}");
    }
    // BASE's one client sends 100 datagrams and no stream bytes.
    let run = |expect: &str| {
        let text = format!("{BASE}\n[expect]\n{expect}\n");
        let s = Scenario::parse(&text, "t.toml", "t").unwrap_or_else(|e| panic!("{e}"));
        s.run(1, &RunOptions::default()).expect("runs")
    };
    let o = run("min_datagrams = 100");
    assert!(o.ok(), "{:?}", o.failures);
    assert_eq!(o.datagrams(), 100);
    let o = run("min_datagrams = 101\nmin_stream_bytes = 1");
    assert_eq!(
        o.failures,
        [
            "the workloads' clients sent 100 datagrams, fewer than min_datagrams = 101",
            "the TCP workloads read 0 stream bytes, fewer than min_stream_bytes = 1",
        ],
        "{}",
        o.summary()
    );
}

#[test]
fn scenario_missing_file_is_an_io_error() {
    let e = Scenario::load(Path::new("no/such/scenario.toml")).expect_err("missing");
    assert!(matches!(e, ScenarioError::Io { .. }), "{e}");
    assert!(e.to_string().starts_with("no/such/scenario.toml: "), "{e}");
}

// ---------------------------------------------------------------------------------------
// The engine's datagram oracles judge scenario runs, datagram by datagram

/// lossy-echo with `bug` planted: its run, judged.
#[cfg(feature = "planted-bugs")]
fn lossy_echo_with(bug: weft_sim::PlantedBug) -> weft_sim::scenario::Outcome {
    let s =
        Scenario::load(&scenarios_dir().join("lossy-echo.toml")).unwrap_or_else(|e| panic!("{e}"));
    println!("scenario lossy-echo seed {} with {bug:?}", s.default_seed);
    let (b, ledger) = s.build();
    let o = s.judge(b.plant(bug).run(s.default_seed).expect("runs"), &ledger);
    println!("{}", o.summary());
    o
}

/// The one failure of `oracle` a planted bug caused, on a path that faults of the same kind
/// hit: the link counters of both hosts show them.
#[cfg(feature = "planted-bugs")]
fn caught_on_a_faulty_path(
    o: &weft_sim::scenario::Outcome,
    oracle: weft_sim::Oracle,
    fired: impl Fn(&weft_sim::LinkCounters) -> u64,
) -> weft_sim::OracleFailure {
    let found: Vec<_> = o
        .report
        .oracles
        .iter()
        .filter(|f| f.oracle() == oracle)
        .collect();
    assert_eq!(found.len(), 1, "{:?}", o.report.oracles);
    assert!(!o.ok(), "the scenario's expectations fail with it");
    let (from, to) = match found[0] {
        weft_sim::OracleFailure::UnaccountedLoss {
            from_host, to_host, ..
        }
        | weft_sim::OracleFailure::UnaccountedDuplicate {
            from_host, to_host, ..
        } => (from_host.clone(), to_host.clone()),
        f => panic!("{f}"),
    };
    for host in [&from, &to] {
        let link = o
            .report
            .links
            .iter()
            .find(|l| l.name == format!("{host}-lan"))
            .expect("the host's link");
        let n = fired(&link.to_switch) + fired(&link.from_switch);
        assert!(n > 0, "{host}'s link had such faults: {link:?}");
    }
    println!("caught: {}", found[0]);
    found[0].clone()
}

#[cfg(feature = "planted-bugs")]
#[test]
fn scenario_lossy_echo_catches_a_silent_drop_on_a_lossy_path() {
    use weft_sim::{Oracle, OracleFailure, PlantedBug};
    let o = lossy_echo_with(PlantedBug::SilentDrop { nth: 500 });
    let f = caught_on_a_faulty_path(&o, Oracle::Loss, |c| c.lost);
    assert!(
        matches!(
            f,
            OracleFailure::UnaccountedLoss {
                what: "datagram",
                count: 1,
                ..
            }
        ),
        "{f}"
    );
    // Every other loss of the run was matched to a fault on its frames.
    assert!(
        o.report.datagrams.lost_to_faults > 50,
        "{:?}",
        o.report.datagrams
    );
}

#[cfg(feature = "planted-bugs")]
#[test]
fn scenario_lossy_echo_catches_a_silent_duplicate_on_a_duplicating_path() {
    use weft_sim::{Oracle, OracleFailure, PlantedBug};
    let o = lossy_echo_with(PlantedBug::SilentDuplicate { nth: 400 });
    let f = caught_on_a_faulty_path(&o, Oracle::Duplicate, |c| c.duplicated);
    assert!(
        matches!(f, OracleFailure::UnaccountedDuplicate { count: 1, .. }),
        "{f}"
    );
    assert!(
        o.report.datagrams.duplicates > 1,
        "{:?}",
        o.report.datagrams
    );
}
