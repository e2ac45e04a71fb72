//! The fault tape: every fault decision that did something, keyed by what it hit — the link,
//! the direction, the frame's content digest and which occurrence of that content it was —
//! not by its position in the run. Removing one entry therefore leaves the others aimed at
//! the same frames, which is what makes shrinking by deletion work.
//!
//! Text format, one entry per line (`#` starts a comment):
//!
//! ```text
//! weft-tape 1
//! <link> <dir> <digest:16 hex> <occurrence> <fault>[,<fault>...]   # what the frame was
//! ```
//! with faults `drop`, `dup`, `reorder=<ns>`, `corrupt=<bit>`.

use std::collections::BTreeMap;
use weft_wire::ethernet::EthernetFrame;

/// What a fault decision hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameKey {
    /// Link index (in the order links were added).
    pub link: u32,
    /// 0: host → switch, 1: switch → host.
    pub dir: u8,
    /// FNV-1a of the frame's bytes as sent.
    pub digest: u64,
    /// How many frames with these bytes went this way before (0 = the first).
    pub occurrence: u32,
}

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The frame is lost.
    Drop,
    /// The frame arrives twice.
    Duplicate,
    /// The frame is held back this long.
    Reorder {
        /// Extra delay in nanoseconds.
        delay_ns: u64,
    },
    /// One bit is flipped (bit `bit` of the frame, from the start, LSB first in each byte).
    Corrupt {
        /// Bit index.
        bit: u32,
    },
}

/// One tape entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapeEntry {
    /// What it hit.
    pub key: FrameKey,
    /// What happened to it.
    pub faults: Vec<Fault>,
    /// A one-line description of the frame (informational; not used for matching).
    pub describe: String,
}

/// A run's fault decisions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tape {
    /// Entries in the order they fired.
    pub entries: Vec<TapeEntry>,
}

/// A tape file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tape line {line}: {problem}")]
pub struct TapeError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub problem: String,
}

impl Tape {
    /// Entries by key, for replay.
    pub fn index(&self) -> BTreeMap<FrameKey, Vec<Fault>> {
        let mut m: BTreeMap<FrameKey, Vec<Fault>> = BTreeMap::new();
        for e in &self.entries {
            m.entry(e.key).or_default().extend(e.faults.iter().copied());
        }
        m
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing fired.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = String::from("weft-tape 1\n");
        for e in &self.entries {
            let faults: Vec<String> = e
                .faults
                .iter()
                .map(|f| match f {
                    Fault::Drop => "drop".to_string(),
                    Fault::Duplicate => "dup".to_string(),
                    Fault::Reorder { delay_ns } => format!("reorder={delay_ns}"),
                    Fault::Corrupt { bit } => format!("corrupt={bit}"),
                })
                .collect();
            s.push_str(&format!(
                "{} {} {:016x} {} {}",
                e.key.link,
                e.key.dir,
                e.key.digest,
                e.key.occurrence,
                faults.join(",")
            ));
            if !e.describe.is_empty() {
                s.push_str("  # ");
                s.push_str(&e.describe);
            }
            s.push('\n');
        }
        s
    }

    /// Parses the text form.
    pub fn from_text(text: &str) -> Result<Tape, TapeError> {
        let mut entries = Vec::new();
        let mut saw_header = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let (body, comment) = match raw.split_once('#') {
                Some((b, c)) => (b.trim(), c.trim()),
                None => (raw.trim(), ""),
            };
            if body.is_empty() {
                continue;
            }
            if !saw_header {
                if body != "weft-tape 1" {
                    return Err(TapeError {
                        line,
                        problem: format!("expected the header `weft-tape 1`, found `{body}`"),
                    });
                }
                saw_header = true;
                continue;
            }
            let err = |problem: String| TapeError { line, problem };
            let f: Vec<&str> = body.split_whitespace().collect();
            let [link, dir, digest, occ, faults] = f.as_slice() else {
                return Err(err(format!(
                    "expected `<link> <dir> <digest> <occurrence> <faults>`, found {} fields",
                    f.len()
                )));
            };
            let key = FrameKey {
                link: link
                    .parse()
                    .map_err(|_| err(format!("link `{link}` is not a number")))?,
                dir: match *dir {
                    "0" => 0,
                    "1" => 1,
                    d => return Err(err(format!("direction `{d}` must be 0 or 1"))),
                },
                digest: u64::from_str_radix(digest, 16)
                    .map_err(|_| err(format!("digest `{digest}` is not 16 hex digits")))?,
                occurrence: occ
                    .parse()
                    .map_err(|_| err(format!("occurrence `{occ}` is not a number")))?,
            };
            let mut list = Vec::new();
            for f in faults.split(',') {
                let fault = match f.split_once('=') {
                    None if f == "drop" => Fault::Drop,
                    None if f == "dup" => Fault::Duplicate,
                    Some(("reorder", v)) => Fault::Reorder {
                        delay_ns: v
                            .parse()
                            .map_err(|_| err(format!("reorder delay `{v}` is not a number")))?,
                    },
                    Some(("corrupt", v)) => Fault::Corrupt {
                        bit: v
                            .parse()
                            .map_err(|_| err(format!("corrupt bit `{v}` is not a number")))?,
                    },
                    _ => {
                        return Err(err(format!(
                            "unknown fault `{f}` (expected drop, dup, reorder=<ns>, corrupt=<bit>)"
                        )));
                    }
                };
                list.push(fault);
            }
            entries.push(TapeEntry {
                key,
                faults: list,
                describe: comment.to_string(),
            });
        }
        if !saw_header {
            return Err(TapeError {
                line: 1,
                problem: "empty file: expected the header `weft-tape 1`".to_string(),
            });
        }
        Ok(Tape { entries })
    }
}

/// A short description of a frame for humans reading a tape.
pub(crate) fn describe(frame: &[u8]) -> String {
    use weft_wire::ipv4::Ipv4Packet;
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return format!("{} bytes, not Ethernet", frame.len());
    };
    match eth.ethertype() {
        weft_wire::ethernet::EtherType::ARP => "arp".to_string(),
        weft_wire::ethernet::EtherType::IPV4 => match Ipv4Packet::new_checked(eth.payload()) {
            Ok(ip) => {
                let p = ip.payload();
                let proto = ip.protocol();
                let ports = match (p.get(0..2), p.get(2..4)) {
                    (Some(&[s0, s1]), Some(&[d0, d1]))
                        if proto == weft_wire::ipv4::IpProtocol::UDP
                            || proto == weft_wire::ipv4::IpProtocol::TCP =>
                    {
                        format!(
                            " ports {} > {}",
                            u16::from_be_bytes([s0, s1]),
                            u16::from_be_bytes([d0, d1])
                        )
                    }
                    _ => String::new(),
                };
                format!(
                    "{proto} {} > {}{ports} len {}",
                    ip.src(),
                    ip.dst(),
                    ip.total_len()
                )
            }
            Err(_) => "ipv4 (malformed)".to_string(),
        },
        other => format!("ethertype {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tape_text_round_trips_and_errors_name_the_line() {
        let t = Tape {
            entries: vec![
                TapeEntry {
                    key: FrameKey {
                        link: 3,
                        dir: 1,
                        digest: 0xdead_beef_0123_4567,
                        occurrence: 2,
                    },
                    faults: vec![Fault::Duplicate, Fault::Corrupt { bit: 77 }],
                    describe: "udp".to_string(),
                },
                TapeEntry {
                    key: FrameKey {
                        link: 0,
                        dir: 0,
                        digest: 1,
                        occurrence: 0,
                    },
                    faults: vec![Fault::Drop, Fault::Reorder { delay_ns: 5 }],
                    describe: String::new(),
                },
            ],
        };
        assert_eq!(Tape::from_text(&t.to_text()), Ok(t));
        let e = Tape::from_text("weft-tape 1\n0 0 00 0 drop\n1 2 00 0 drop\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.problem.contains("direction"), "{e}");
        let e = Tape::from_text("weft-tape 1\n0 0 00 0 explode\n").unwrap_err();
        assert!(e.problem.contains("unknown fault `explode`"), "{e}");
        assert_eq!(Tape::from_text("").unwrap_err().line, 1);
    }
}
