//! weft-pcap against the tcpdump project's test captures (read in place from
//! ../shared/captures), with tcpdump's own decodes (`expected/*.out`) as the oracle for
//! timestamps, and the captures README's table for record counts and link types.
// Test code: the helpers below panic on purpose when a capture or an oracle is not as
// expected (clippy's test allowances cover only `#[test]` functions).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use weft_pcap::{
    Capture, CorruptReason, Format, LinkType, NetworkProto, PcapError, Reader, Record, RecordIssue,
    Timestamp, TimestampResolution, Writer,
};

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/captures")
}

fn tcpdump(name: &str) -> PathBuf {
    captures().join("tcpdump").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(tcpdump(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every capture file in tcpdump/, by name.
fn capture_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(captures().join("tcpdump"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() > 50, "captures missing: {names:?}");
    names
}

/// A row of the README's table.
#[derive(Debug)]
struct Row {
    pkts: usize,
    /// "contents (link type, counts)": the link-type name, then NAME=count pairs.
    contents: String,
}

/// The README's capture table, parsed by its header row (no numbers copied here).
fn readme_table() -> BTreeMap<String, Row> {
    let text = std::fs::read_to_string(captures().join("README.md")).unwrap();
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let header = text
        .lines()
        .find(|l| l.starts_with("| path |"))
        .expect("table header");
    let columns = cells(header);
    let col = |name: &str| columns.iter().position(|c| c.starts_with(name)).unwrap();
    let (path, pkts, contents) = (col("path"), col("pkts"), col("contents"));
    let mut rows = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `tcpdump/")) {
        let c = cells(line);
        let name = c[path]
            .trim_matches('`')
            .strip_prefix("tcpdump/")
            .unwrap()
            .to_string();
        let row = Row {
            pkts: c[pkts].parse().unwrap(),
            contents: c[contents].clone(),
        };
        rows.insert(name, row);
    }
    rows
}

impl Row {
    fn link_name(&self) -> &str {
        self.contents.split_whitespace().next().unwrap()
    }

    fn count(&self, key: &str) -> usize {
        self.contents
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map_or(0, |(_, v)| v.parse().unwrap())
    }
}

/// Reads a capture whole and checks the reader's invariants on it.
fn read_checked(name: &str, bytes: &[u8]) -> Capture<'static> {
    let bytes: &'static [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
    let cap = Capture::read(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    for pair in cap.records.windows(2) {
        assert!(
            pair[0].offset < pair[1].offset,
            "{name}: offsets out of order"
        );
        assert_eq!(pair[0].index + 1, pair[1].index);
    }
    assert_eq!(cap.stats.records, cap.records.len() as u64);
    cap
}

#[test]
fn captures_every_file_reads_without_error() {
    let mut records = 0;
    for name in capture_files() {
        let cap = read_checked(&name, &read(&name));
        assert_eq!(cap.error, None, "{name}");
        assert!(!cap.records.is_empty(), "{name}");
        records += cap.records.len();
    }
    println!("{records} records read from the tcpdump captures");
}

#[test]
fn captures_record_counts_match_the_readme() {
    let table = readme_table();
    let files = capture_files();
    assert_eq!(
        table.keys().cloned().collect::<Vec<_>>(),
        files,
        "README table and directory differ"
    );
    for (name, row) in &table {
        let cap = read_checked(name, &read(name));
        assert_eq!(cap.records.len(), row.pkts, "{name}");
    }
    println!("{} capture record counts match the README", table.len());
}

/// Days since 1970-01-01 to a civil (proleptic Gregorian) date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A timestamp as tcpdump prints it in UTC: date (or not), time, and `digits` of fraction.
fn tcpdump_time(ts: Timestamp, with_date: bool, digits: usize) -> String {
    let secs = ts.secs() as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let frac = match digits {
        6 => format!("{:06}", ts.subsec_micros()),
        9 => format!("{:09}", ts.subsec_nanos()),
        _ => panic!("{digits} fraction digits"),
    };
    let time = format!("{:02}:{:02}:{:02}.{frac}", s / 3600, s / 60 % 60, s % 60);
    if with_date {
        format!("{y:04}-{mo:02}-{d:02} {time}")
    } else {
        time
    }
}

/// A first line of a packet in a tcpdump output: "  N  [YYYY-MM-DD ]HH:MM:SS.frac ...".
/// Returns the packet number, whether a date is printed, the timestamp text, and whether
/// tcpdump marked it invalid.
fn timestamp_line(line: &str) -> Option<(usize, bool, String, bool)> {
    let trimmed = line.trim_start();
    let (num, rest) = trimmed.split_once("  ")?;
    let num: usize = num.parse().ok()?;
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut words = rest.split(' ');
    let first = words.next()?;
    let (with_date, time) = if first.len() == 10 && first.as_bytes().get(4) == Some(&b'-') {
        (true, words.next()?)
    } else {
        (false, first)
    };
    let (hms, frac) = time.split_once('.')?;
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() != 3 || !parts.iter().all(|p| p.len() == 2 && is_digits(p)) {
        return None;
    }
    if !is_digits(frac) {
        return None;
    }
    let text = if with_date {
        format!("{first} {time}")
    } else {
        time.to_string()
    };
    let invalid = words.next().is_some_and(|w| w == "(invalid");
    Some((num, with_date, text, invalid))
}

#[test]
fn captures_timestamps_match_tcpdump() {
    let list = std::fs::read_to_string(tcpdump("expected/TESTLIST.subset")).unwrap();
    let skip = [
        "-t",
        "-tt",
        "-ttt",
        "-ttttt",
        "--skip",
        "-c",
        "--print-sampling",
    ];
    let mut lines_checked = 0;
    let mut invalid_checked = 0;
    let mut files = 0;
    let mut pcapng_files = 0;
    for entry in list.lines().filter(|l| !l.starts_with('#')) {
        let tokens: Vec<&str> = entry.split_whitespace().collect();
        let [_, capture, out, options @ ..] = tokens.as_slice() else {
            continue;
        };
        if options.iter().any(|o| {
            skip.iter()
                .any(|s| o == s || o.starts_with(&format!("{s}=")))
        }) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(tcpdump(&format!("expected/{out}"))) else {
            continue;
        };
        let digits = if options.contains(&"--nano") { 9 } else { 6 };
        let cap = read_checked(capture, &read(capture));
        let mut seen = 0;
        for line in text.lines() {
            let Some((num, with_date, expected, invalid)) = timestamp_line(line) else {
                continue;
            };
            let record: &Record<'_> = cap
                .records
                .get(num - 1)
                .unwrap_or_else(|| panic!("{out}: packet {num} beyond the capture"));
            seen += 1;
            if invalid {
                assert_eq!(record.timestamp, None, "{out}: packet {num}");
                assert!(matches!(
                    record.issues.as_slice(),
                    [RecordIssue::InvalidTimestamp { .. }]
                ));
                invalid_checked += 1;
                continue;
            }
            let ts = record
                .timestamp
                .unwrap_or_else(|| panic!("{out}: packet {num} has no timestamp"));
            assert_eq!(
                tcpdump_time(ts, with_date, digits),
                expected,
                "{out}: packet {num}"
            );
            lines_checked += 1;
        }
        if seen > 0 {
            assert_eq!(seen, cap.records.len(), "{out}: packets printed");
            files += 1;
            if capture.ends_with(".pcapng") {
                pcapng_files += 1;
            }
        }
    }
    println!(
        "{lines_checked} timestamps and {invalid_checked} invalid ones match tcpdump in \
         {files} outputs ({pcapng_files} of pcapng captures)"
    );
    assert!(files >= 60 && pcapng_files >= 4 && invalid_checked == 4);
}

#[test]
fn captures_nanosecond_timestamps_are_exact() {
    let cap = read_checked("tcp-handshake-nano.pcap", &read("tcp-handshake-nano.pcap"));
    let Format::Pcap(h) = cap.format else {
        panic!("not pcap")
    };
    assert_eq!(h.resolution, TimestampResolution::Nanosecond);
    // tcpdump -tt --nano prints seconds since the epoch with nanoseconds.
    let text = std::fs::read_to_string(tcpdump("expected/tcp-handshake-nano-tt.out")).unwrap();
    let expected: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(expected.len(), 3);
    let ours: Vec<String> = cap
        .records
        .iter()
        .map(|r| r.timestamp.unwrap().to_string())
        .collect();
    assert_eq!(ours, expected);
    assert_eq!(
        cap.records[0].timestamp,
        Timestamp::new(1_418_145_369, 924_505_488)
    );
    // And the time-of-day form tcpdump prints by default with --nano.
    let text = std::fs::read_to_string(tcpdump("expected/tcp-handshake-nano.out")).unwrap();
    for (line, r) in text.lines().zip(&cap.records) {
        let (_, _, expected, _) = timestamp_line(line).unwrap();
        assert_eq!(tcpdump_time(r.timestamp.unwrap(), false, 9), expected);
    }
}

#[test]
fn captures_invalid_timestamps_are_counted_and_reading_goes_on() {
    for (name, resolution) in [
        (
            "timestamp_invalid_micro.pcap",
            TimestampResolution::Microsecond,
        ),
        (
            "timestamp_invalid_nano.pcap",
            TimestampResolution::Nanosecond,
        ),
    ] {
        let cap = read_checked(name, &read(name));
        assert_eq!(cap.error, None, "{name}");
        assert_eq!(cap.records.len(), 3, "{name}");
        assert_eq!(cap.stats.invalid_timestamps, 2, "{name}");
        let first = cap.records[0].timestamp.unwrap();
        assert_eq!(first.secs(), 1_418_145_369);
        assert_eq!(
            first.subsec_nanos(),
            match resolution {
                TimestampResolution::Microsecond => 999_999_000,
                TimestampResolution::Nanosecond => 999_999_999,
            }
        );
        // tcpdump: "17:16:10.1000000 (invalid us)", "17:16:10.2147483648 (invalid us)".
        let fractions: Vec<u32> = cap.records[1..]
            .iter()
            .map(|r| match r.issues.as_slice() {
                [
                    RecordIssue::InvalidTimestamp {
                        fraction,
                        resolution: res,
                        secs,
                    },
                ] => {
                    assert_eq!((*res, *secs), (resolution, 1_418_145_370));
                    *fraction
                }
                other => panic!("{name}: {other:?}"),
            })
            .collect();
        let limit = resolution.fraction_limit();
        assert_eq!(fractions, [limit, 2_147_483_648]);
        // The flagged records still carry their packets.
        for r in &cap.records {
            assert!(matches!(r.network_payload(), Ok((NetworkProto::Ipv4, p)) if p[0] == 0x45));
        }
    }
}

#[test]
fn captures_pcapng_timestamps_past_2106() {
    for (name, secs, date) in [
        (
            "time_2106_overflow.pcapng",
            1u64 << 32,
            "2106-02-07 06:28:16.000000",
        ),
        (
            "time_2107.pcapng",
            4_323_283_200,
            "2107-01-01 00:00:00.000000",
        ),
    ] {
        let cap = read_checked(name, &read(name));
        assert!(matches!(cap.format, Format::PcapNg { .. }));
        assert_eq!(cap.records.len(), 1);
        let ts = cap.records[0].timestamp.unwrap();
        assert_eq!((ts.secs(), ts.subsec_nanos()), (secs, 0), "{name}");
        assert_eq!(tcpdump_time(ts, true, 6), date);
        assert!(cap.records[0].issues.is_empty());
    }
    // The year 2038 in pcap's 32-bit seconds.
    let cap = read_checked("time_2038.pcap", &read("time_2038.pcap"));
    let ts = cap.records[0].timestamp.unwrap();
    assert_eq!(ts.secs(), 2_145_916_800);
    assert_eq!(tcpdump_time(ts, true, 6), "2038-01-01 00:00:00.000000");
}

#[test]
fn captures_pcapng_interfaces_and_blocks() {
    // if_tsresol 9: nanosecond ticks.
    let cap = read_checked("icmp-length-zero.pcapng", &read("icmp-length-zero.pcapng"));
    assert_eq!(
        cap.records[0].timestamp,
        Timestamp::new(1_759_756_153, 1_000)
    );
    assert_eq!(cap.records[0].link_type, Some(LinkType::Ethernet));
    assert_eq!(cap.records[0].interface, Some(0));
    // An interface statistics block after the packets is skipped.
    let cap = read_checked("dhcp-option-108.pcapng", &read("dhcp-option-108.pcapng"));
    assert_eq!(cap.records.len(), 2);
    assert_eq!(cap.stats.other_blocks, 1);
    assert_eq!((cap.stats.sections, cap.stats.interfaces), (1, 1));
    // 174 enhanced packet blocks, the first at byte 88 after the SHB (44) and IDB (44).
    let cap = read_checked("of13_ericsson.pcapng", &read("of13_ericsson.pcapng"));
    assert_eq!(cap.records.len(), 174);
    assert_eq!(cap.records[0].offset, 88);
    assert_eq!(cap.records[1].offset, 372);
    assert_eq!(
        cap.records.iter().filter(|r| r.data.len() == 11858).count(),
        8
    );
    assert_eq!(cap.stats.records_with_issues, 0);
}

/// The README's link-type names.
fn readme_link(name: &str) -> Option<LinkType> {
    Some(match name {
        "EN10MB" => LinkType::Ethernet,
        "LINUX_SLL" => LinkType::LinuxSll,
        "NULL" => LinkType::Null,
        "RAW" => LinkType::RawIp,
        "IPV4" => LinkType::Ipv4,
        _ => return None,
    })
}

#[test]
fn captures_link_types_decode_to_their_network_payload() {
    let mut checked: BTreeMap<u32, usize> = BTreeMap::new();
    for (name, row) in readme_table() {
        let cap = read_checked(&name, &read(&name));
        let Format::Pcap(h) = cap.format else {
            assert_eq!(row.link_name(), "EN10MB", "{name}");
            continue;
        };
        match readme_link(row.link_name()) {
            Some(link) => assert_eq!(h.link_type, link, "{name}"),
            // "67108865": the whole field, F bit set, FCS length 0, Ethernet beneath.
            None => {
                assert_eq!(row.link_name(), h.link_field.to_string(), "{name}");
                assert_eq!((h.link_type, h.fcs_len), (LinkType::Ethernet, Some(0)));
            }
        }
        if h.link_type == LinkType::Ethernet {
            continue;
        }
        // Count what the link decoders find, the way the README's counter did: IPv4 and
        // IPv6 by the version nibble of the network payload, ARP by the SLL protocol.
        let (mut v4, mut v6, mut arp) = (0, 0, 0);
        for r in &cap.records {
            let (proto, payload) = r
                .network_payload()
                .unwrap_or_else(|e| panic!("{name} #{}: {e}", r.number()));
            match proto {
                NetworkProto::Arp => arp += 1,
                _ => match payload[0] >> 4 {
                    4 => v4 += 1,
                    6 => v6 += 1,
                    v => panic!("{name}: version {v}"),
                },
            }
            if h.link_type == LinkType::Ipv4 {
                assert_eq!(proto, NetworkProto::Ipv4);
            }
            *checked.entry(h.link_type.code()).or_default() += 1;
        }
        assert_eq!(
            (v4, v6, arp),
            (row.count("IPv4"), row.count("IPv6"), row.count("ARP")),
            "{name}"
        );
    }
    for code in [0, 101, 113, 228] {
        assert!(
            checked.get(&code).is_some_and(|&n| n > 0),
            "link type {code}"
        );
    }
    println!("non-Ethernet records decoded per link type: {checked:?}");

    // Spot checks of the stripped headers.
    let one = |name: &str| {
        let cap = read_checked(name, &read(name));
        let r = cap.records[0].clone();
        let (proto, payload) = r.network_payload().unwrap();
        (proto, payload.len(), r.data.len(), payload[0])
    };
    // BSD loopback: 4 bytes of AF_INET.
    assert_eq!(
        one("tcp_rst_diag_payload.pcap"),
        (NetworkProto::Ipv4, 48, 52, 0x45)
    );
    // Linux cooked capture: 16 bytes.
    assert_eq!(
        one("tcp-handshake-nano.pcap"),
        (NetworkProto::Ipv4, 60, 76, 0x45)
    );
    // Raw IP and IPv4: nothing to strip.
    assert_eq!(
        one("LINKTYPE_RAW_ipv4.pcap"),
        (NetworkProto::Ipv4, 57, 57, 0x45)
    );
    assert_eq!(
        one("LINKTYPE_IPV4.pcap"),
        (NetworkProto::Ipv4, 57, 57, 0x45)
    );
    // Link type IPv4 carrying IPv6: the link type decides, the IPv4 parser will object.
    assert_eq!(one("LINKTYPE_IPV4_invalid.pcap").0, NetworkProto::Ipv4);
    assert_eq!(one("LINKTYPE_IPV4_invalid.pcap").3 >> 4, 6);
}

/// Offsets of every record in a capture.
fn offsets(bytes: &[u8]) -> Vec<usize> {
    Reader::new(bytes)
        .unwrap()
        .map(|r| r.unwrap().offset as usize)
        .collect()
}

#[test]
fn captures_corrupt_third_caplen_reports_two_records_then_the_offset() {
    let original = read("print-flags.pcap");
    let third = offsets(&original)[2];
    for (caplen, reason) in [
        (
            0x0010_0000,
            CorruptReason::CaplenOverLimit {
                caplen: 0x0010_0000,
                snaplen: 65535,
                limit: 262_144,
            },
        ),
        (
            (original.len() - third - 16 + 1) as u32,
            CorruptReason::CaplenBeyondEof {
                caplen: (original.len() - third - 16 + 1) as u32,
                available: original.len() - third - 16,
            },
        ),
    ] {
        let mut bytes = original.clone();
        bytes[third + 8..third + 12].copy_from_slice(&caplen.to_le_bytes());
        let mut reader = Reader::new(&bytes).unwrap();
        let first = reader.next().unwrap().unwrap();
        let second = reader.next().unwrap().unwrap();
        assert_eq!(
            (first.offset, second.offset),
            (24, offsets(&original)[1] as u64)
        );
        let err = reader.next().unwrap().unwrap_err();
        assert_eq!(
            err,
            PcapError::CorruptRecord {
                record: 3,
                offset: third as u64,
                reason
            }
        );
        assert!(
            err.to_string()
                .starts_with(&format!("record 3 at byte offset {third}: "))
        );
        assert!(reader.next().is_none());
        assert_eq!(reader.stats().records, 2);
    }

    // The same in pcapng: the third packet block's length.
    let original = read("of13_ericsson.pcapng");
    let third = offsets(&original)[2];
    let mut bytes = original.clone();
    bytes[third + 4..third + 8].copy_from_slice(&0x00ff_fff0u32.to_le_bytes());
    let cap = read_checked("of13_ericsson.pcapng (damaged)", &bytes);
    assert_eq!(cap.records.len(), 2);
    assert!(matches!(
        cap.error,
        Some(PcapError::CorruptRecord { record: 3, offset, reason: CorruptReason::BlockBeyondEof { .. } })
            if offset == third as u64
    ));
}

#[test]
fn captures_truncated_final_record() {
    for name in [
        "ssh.pcap",
        "of13_ericsson.pcapng",
        "tcp-handshake-nano.pcap",
    ] {
        let bytes = read(name);
        let all = offsets(&bytes);
        let last = *all.last().unwrap();
        for cut in [1, 8, bytes.len() - last - 1] {
            let cap = read_checked(name, &bytes[..bytes.len() - cut]);
            assert_eq!(cap.records.len(), all.len() - 1, "{name} cut {cut}");
            match cap.error {
                Some(PcapError::CorruptRecord { record, offset, .. }) => {
                    assert_eq!((record, offset), (all.len() as u64, last as u64), "{name}");
                }
                other => panic!("{name} cut {cut}: {other:?}"),
            }
        }
    }
}

#[test]
fn captures_write_then_read_round_trip() {
    let mut files = 0;
    for name in capture_files() {
        let bytes = read(&name);
        let cap = read_checked(&name, &bytes);
        let (resolution, link) = match cap.format {
            Format::Pcap(h) => (h.resolution, h.link_type),
            Format::PcapNg { .. } => (
                TimestampResolution::Nanosecond,
                cap.records[0].link_type.unwrap(),
            ),
        };
        let kept: Vec<&Record<'_>> = cap
            .records
            .iter()
            .filter(|r| r.timestamp.is_some())
            .collect();
        let snaplen = kept.iter().map(|r| r.data.len() as u32).max().unwrap_or(1);
        let Ok(mut w) = Writer::new(Vec::new(), link, snaplen, resolution) else {
            panic!("{name}: writer")
        };
        let mut pcapng_beyond_2106 = false;
        for r in &kept {
            let ns = u64::try_from(r.timestamp.unwrap().as_nanos()).unwrap();
            match w.write_captured(ns, r.data, r.orig_len) {
                Ok(()) => {}
                Err(weft_pcap::WriteError::TimestampOutOfRange { .. }) => {
                    pcapng_beyond_2106 = true;
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
        if pcapng_beyond_2106 {
            assert!(name.starts_with("time_210"), "{name}");
            continue;
        }
        assert_eq!(w.frames(), kept.len() as u64);
        let written = w.into_inner();
        let back = read_checked(&name, &written);
        assert_eq!(back.error, None, "{name}");
        assert_eq!(back.records.len(), kept.len(), "{name}");
        for (a, b) in back.records.iter().zip(&kept) {
            assert_eq!(a.data, b.data, "{name}");
            assert_eq!(a.orig_len, b.orig_len.max(b.data.len() as u32), "{name}");
            assert_eq!(a.timestamp, b.timestamp, "{name}");
            assert_eq!(a.link_type, Some(link));
        }
        files += 1;
    }
    println!("{files} captures written and read back unchanged");
}

#[cfg(feature = "fuzzing")]
#[test]
fn captures_fuzz_target_survives_real_and_mutated_captures() {
    use weft_pcap::fuzzing::pcap_file;
    // SplitMix64: a seeded, dependency-free stream of mutations.
    let mut state: u64 = 0x5eed_0ffc_a900;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut runs = 0;
    for name in capture_files() {
        let bytes = read(&name);
        pcap_file(&bytes);
        runs += 1;
        if bytes.len() > 16_384 {
            continue;
        }
        for cut in 0..bytes.len().min(400) {
            pcap_file(&bytes[..cut]);
            runs += 1;
        }
        for _ in 0..100 {
            let mut m = bytes.clone();
            let flips = 1 + next() % 4;
            for _ in 0..flips {
                let at = (next() % m.len() as u64) as usize;
                m[at] = match next() % 3 {
                    0 => m[at] ^ (1 << (next() % 8)),
                    1 => 0xff,
                    _ => 0,
                };
            }
            pcap_file(&m);
            runs += 1;
        }
    }
    println!("{runs} fuzz-target runs over real and mutated captures");
}
