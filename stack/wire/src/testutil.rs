//! Helpers shared by the protocol modules' unit tests: reading the real captures in
//! ../shared/captures/tcpdump (raw records, since some captures break snapshot-length rules
//! on purpose).
#![allow(clippy::unwrap_used, clippy::panic)]

use pcap_file::DataLink;
use std::vec::Vec;

/// Path of a shared capture.
pub(crate) fn capture_path(name: &str) -> std::string::String {
    std::format!(
        "{}/../../../shared/captures/tcpdump/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The link type and every record's bytes of a pcap or pcapng capture.
pub(crate) fn capture_records(name: &str) -> (DataLink, Vec<Vec<u8>>) {
    let path = capture_path(name);
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    if name.ends_with(".pcapng") {
        let mut r = pcap_file::pcapng::PcapNgReader::new(f).unwrap();
        while let Some(b) = r.next_block() {
            if let Some(epb) = b.unwrap().into_enhanced_packet() {
                out.push(epb.data.into_owned());
            }
        }
        return (DataLink::ETHERNET, out);
    }
    let mut r = pcap_file::pcap::PcapReader::new(f).unwrap();
    let link = r.header().datalink;
    while let Some(p) = r.next_raw_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    (link, out)
}

/// Every frame of an Ethernet capture. Some crash-regression captures set FCS bits above
/// the link type (0x30000001, 0x04000001): the low 16 bits say Ethernet.
pub(crate) fn ethernet_frames(name: &str) -> Vec<Vec<u8>> {
    let (link, frames) = capture_records(name);
    assert!(
        matches!(link, DataLink::ETHERNET)
            || matches!(link, DataLink::Unknown(x) if x & 0xffff == 1),
        "{name}: link type {link:?}"
    );
    frames
}
