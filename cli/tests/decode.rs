//! `weft decode` as a user runs it: the binary, real captures, a corrupt one, a non-capture.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/captures/tcpdump")
        .join(name)
}

fn weft(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn decode_prints_a_line_per_frame_and_totals() {
    let p = capture("whois.pcap");
    let (code, out, _) = weft(&["decode", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 12, "11 frames and a totals line:\n{out}");
    assert!(lines[0].contains("10.0.2.15.44188 > 192.0.47.59.43: Flags [S], seq 2239453442, win 29200, options [mss 1460,sackOK,TS val 2943013729 ecr 0,nop,wscale 6], length 0"), "{}", lines[0]);
    assert!(
        lines[2].contains("Flags [.], ack 1, win 29200, length 0"),
        "{}",
        lines[2]
    );
    assert!(lines[0].contains("ip cksum ok"), "{}", lines[0]);
    assert_eq!(
        lines[11],
        "frames 11: ethernet 11, ipv4 11, tcp 11; rejected 0; checksums: tcp bad 6"
    );
}

#[test]
fn decode_reports_rejections_by_reason() {
    let p = capture("kday3.pcap");
    let (code, out, _) = weft(&["decode", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("REJECTED ipv4.BadVersion: "), "{out}");
    let totals = out.lines().last().unwrap();
    assert!(
        totals.contains("rejected 1 (ipv4.BadVersion 1)"),
        "{totals}"
    );
    assert!(totals.contains("ipv4 bad 6"), "{totals}");
}

#[test]
fn decode_json_has_every_field() {
    let p = capture("accecn_handshake.pcap");
    let (code, out, _) = weft(&["decode", "--json", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 7, "6 frames and totals");
    let tcp = objs[0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == "tcp")
        .unwrap();
    assert_eq!(tcp["flags"], "SEWe");
    assert_eq!(tcp["seq"], 1_948_076_589u64);
    assert_eq!(tcp["checksum"]["verdict"]["status"], "bad");
    assert_eq!(tcp["checksum"]["verdict"]["expected"], 0xe443);
    assert_eq!(tcp["options"][0]["kind"], "mss");
    assert_eq!(tcp["options"][0]["value"], 1460);
    assert_eq!(objs[6]["totals"]["frames"], 6);
}

#[test]
fn decode_corrupt_record_reports_earlier_frames_then_the_offset() {
    let mut bytes = std::fs::read(capture("whois.pcap")).unwrap();
    // Record 3's header: 24-byte file header, then records; walk two records.
    let mut at = 24;
    for _ in 0..2 {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    bytes[at + 8..at + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let dir = std::env::temp_dir().join(format!("weft-decode-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("corrupt.pcap");
    std::fs::write(&f, &bytes).unwrap();
    let (code, out, _) = weft(&["decode", f.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 2, "a corrupt record is a non-zero exit:\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("    1 ") && lines[1].starts_with("    2 "),
        "{out}"
    );
    assert!(lines[2].starts_with("frames 2:"), "{out}");
    assert!(
        lines[3].starts_with("read stopped: record 3 at byte offset"),
        "{}",
        lines[3]
    );
    assert!(
        lines[3].contains(&at.to_string()),
        "offset {at} named: {}",
        lines[3]
    );
}

#[test]
fn decode_refuses_a_file_that_is_not_a_capture() {
    let this = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/decode.rs");
    let (code, _, err) = weft(&["decode", this.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("is not a capture weft can read"), "{err}");
    let (code, _, err) = weft(&["decode", "/nonexistent/x.pcap"]);
    assert_ne!(code, 0);
    assert!(err.contains("reading /nonexistent/x.pcap"), "{err}");
}
