//! `cargo xtask corpus`: seed corpora for every fuzz target, cut from the real captures in
//! ../shared/captures/tcpdump (and small whole captures for `pcap_file`); the `stack_frames`
//! script target gets seeded random bytes.
//!
//! Deterministic: files are named by a fixed-key hash of their bytes, and each target keeps at
//! most `MAX_PER_TARGET` inputs chosen in capture order, so rerunning changes nothing.

use anyhow::{Context, Result};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use weft_pcap::{NetworkProto, Reader};
use weft_wire::ethernet::{EtherType, EthernetFrame};
use weft_wire::ipv4::Ipv4Packet;

const MAX_PER_TARGET: usize = 200;
/// At most this many inputs per target from one capture, so every capture contributes.
const MAX_PER_FILE: usize = 12;
/// Whole capture files up to this size seed `pcap_file`.
const MAX_PCAP_SEED: usize = 16 * 1024;
/// Seed, sizes and count per size of the `stack_frames` seeds.
const STACK_FRAMES_SEED: u64 = 0x5741_434b;
const STACK_FRAMES_LENS: [usize; 4] = [64, 256, 1024, 4096];
const STACK_FRAMES_PER_LEN: usize = 16;

#[derive(Default)]
struct Corpora {
    /// target -> (name -> bytes); BTreeMap so output order is deterministic.
    by_target: BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>,
    /// Inputs taken per target from the capture being read.
    from_this_file: BTreeMap<&'static str, usize>,
}

impl Corpora {
    fn add(&mut self, target: &'static str, bytes: &[u8]) {
        let set = self.by_target.entry(target).or_default();
        let taken = self.from_this_file.entry(target).or_default();
        if set.len() >= MAX_PER_TARGET || *taken >= MAX_PER_FILE || bytes.is_empty() {
            return;
        }
        // std's DefaultHasher::new() uses fixed keys: stable names across runs.
        let mut h = std::hash::DefaultHasher::new();
        bytes.hash(&mut h);
        let name = format!("{:016x}", h.finish());
        if let std::collections::btree_map::Entry::Vacant(slot) = set.entry(name) {
            slot.insert(bytes.to_vec());
            *taken += 1;
        }
    }
}

pub fn run(root: &Path) -> Result<()> {
    let captures = root.join("../shared/captures/tcpdump");
    let mut files: Vec<_> = std::fs::read_dir(&captures)
        .with_context(|| format!("reading {}", captures.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    let mut c = Corpora::default();
    for path in &files {
        let bytes = std::fs::read(path)?;
        c.from_this_file.clear();
        if bytes.len() <= MAX_PCAP_SEED {
            c.add("pcap_file", &bytes);
        }
        let Ok(reader) = Reader::new(&bytes) else {
            continue;
        };
        for rec in reader.flatten() {
            let Ok((proto, net)) = rec.network_payload() else {
                continue;
            };
            let ip = match proto {
                NetworkProto::Ethernet => {
                    c.add("ethernet_frame", net);
                    c.add("etherparse_differential", net);
                    let Ok(f) = EthernetFrame::new_checked(net) else {
                        continue;
                    };
                    if f.ethertype() == EtherType::ARP {
                        c.add("arp_packet", f.payload());
                        continue;
                    }
                    if f.ethertype() != EtherType::IPV4 {
                        continue;
                    }
                    net.get(f.header_len()..).unwrap_or_default()
                }
                NetworkProto::Ipv4 => net,
                NetworkProto::Arp => {
                    c.add("arp_packet", net);
                    continue;
                }
                _ => continue,
            };
            c.add("ipv4_packet", ip);
            let Ok(p) = Ipv4Packet::new_checked(ip) else {
                continue;
            };
            let payload = p.payload();
            match p.protocol().0 {
                1 => c.add("icmpv4_packet", payload),
                6 => {
                    c.add("tcp_segment", payload);
                    let data_offset = payload.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
                    if let Some(opts) = payload.get(20..data_offset) {
                        c.add("tcp_options", opts);
                    }
                }
                17 => {
                    c.add("udp_datagram", payload);
                    let ports = (payload.get(0..2), payload.get(2..4));
                    let is_dhcp = |p: Option<&[u8]>| matches!(p, Some([0, 67]) | Some([0, 68]));
                    if let (true, Some(msg)) =
                        (is_dhcp(ports.0) || is_dhcp(ports.1), payload.get(8..))
                    {
                        c.add("dhcp_message", msg);
                    }
                }
                _ => {}
            }
        }
    }
    // The round-trip target reads its input as an `arbitrary::Unstructured`: any bytes are a
    // valid seed; use prefixes of real frames for variety.
    let frames: Vec<Vec<u8>> = c
        .by_target
        .get("ethernet_frame")
        .map(|m| m.values().take(64).cloned().collect())
        .unwrap_or_default();
    c.from_this_file.clear();
    for f in &frames {
        c.from_this_file.clear();
        c.add("repr_roundtrip", f);
    }
    // The stack target reads its input as a script (`arbitrary::Unstructured`: a configuration,
    // then operations), so any bytes are a valid seed: seeded random strings of a few sizes,
    // the same on every run.
    let mut rng = ChaCha8Rng::seed_from_u64(STACK_FRAMES_SEED);
    for len in STACK_FRAMES_LENS {
        for _ in 0..STACK_FRAMES_PER_LEN {
            let mut input = vec![0u8; len];
            rng.fill_bytes(&mut input);
            c.from_this_file.clear();
            c.add("stack_frames", &input);
        }
    }
    let corpus_root = root.join("fuzz/corpus");
    // Regenerate from scratch so a changed selection leaves no stale files behind.
    for target in c.by_target.keys() {
        let _ = std::fs::remove_dir_all(corpus_root.join(target));
    }
    let mut total = 0;
    for (target, inputs) in &c.by_target {
        let dir = corpus_root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in inputs {
            std::fs::write(dir.join(name), bytes)?;
        }
        total += inputs.len();
        println!("corpus {target}: {} inputs", inputs.len());
    }
    println!("wrote {total} seed inputs under {}", corpus_root.display());
    Ok(())
}
