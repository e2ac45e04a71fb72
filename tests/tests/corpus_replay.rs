//! Replays every committed fuzz corpus input and regression file through the same target
//! functions cargo-fuzz runs (`fuzz/fuzz_targets/*.rs` are one-line wrappers), on stable.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

/// Every target in fuzz/targets.txt, by name.
fn target(name: &str) -> Option<Target> {
    use weft_wire::fuzzing as w;
    Some(match name {
        "ethernet_frame" => w::ethernet::ethernet_frame,
        "arp_packet" => w::arp::arp_packet,
        "ipv4_packet" => w::ipv4::ipv4_packet,
        "icmpv4_packet" => w::icmpv4::icmpv4_packet,
        "udp_datagram" => w::udp::udp_datagram,
        "tcp_segment" => w::tcp::tcp_segment,
        "tcp_options" => w::tcp::tcp_options,
        "dhcp_message" => w::dhcp::dhcp_message,
        "pcap_file" => weft_pcap::fuzzing::pcap_file,
        "repr_roundtrip" => w::roundtrip::repr_roundtrip,
        "etherparse_differential" => w::differential::etherparse_differential,
        "stack_frames" => weft_core::fuzzing::stack_frames,
        "tcp_ops" => weft_core::fuzzing::tcp_ops,
        "sim_tape" => weft_sim::fuzzing::sim_tape,
        _ => return None,
    })
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn corpus_replay_every_target() {
    let list = std::fs::read_to_string(fuzz_dir().join("targets.txt")).unwrap();
    let names: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut missing = Vec::new();
    let mut total = 0;
    for name in &names {
        let Some(run) = target(name) else {
            missing.push(*name);
            continue;
        };
        let corpus = files_in(&fuzz_dir().join("corpus").join(name));
        let regressions = files_in(&fuzz_dir().join("regressions").join(name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name} is empty: run `cargo xtask corpus`"
        );
        for f in corpus.iter().chain(&regressions) {
            run(&std::fs::read(f).unwrap());
        }
        println!(
            "replayed {name}: {} corpus inputs, {} regressions",
            corpus.len(),
            regressions.len()
        );
        total += corpus.len() + regressions.len();
    }
    assert!(
        missing.is_empty(),
        "fuzz targets with no replay mapping: {missing:?}"
    );
    println!("replayed {total} inputs through {} targets", names.len());
}
