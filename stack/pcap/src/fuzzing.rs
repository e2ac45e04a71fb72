//! Fuzz target bodies (compiled with the `fuzzing` feature): the cargo-fuzz targets in
//! `fuzz/` call these, and the corpus replay tests run them on stable. A panic here is a
//! broken invariant: that is the bug being hunted.
#![allow(clippy::panic)]

use crate::{
    Capture, LinkType, NetworkProto, PcapError, Reader, Timestamp, TimestampResolution, Writer,
};

/// Reads arbitrary bytes as a capture and checks the reader's invariants:
///
/// * records come in strictly increasing offset order, numbered 0, 1, 2, ...;
/// * every record's bytes lie inside the input, after its offset;
/// * a corrupt-record error is the last item, at an offset at or after the last record's,
///   and is what [`Reader::error`] reports;
/// * the counters agree with the records;
/// * stripping the link header never yields more bytes than the record holds;
/// * records with a timestamp survive a write to pcap (nanoseconds) and a read back.
pub fn pcap_file(data: &[u8]) {
    let Ok(mut reader) = Reader::new(data) else {
        return;
    };
    let mut records = Vec::new();
    let mut error = None;
    let mut last_offset: Option<u64> = None;
    let input_start = data.as_ptr() as usize;
    let input_end = input_start + data.len();
    for item in reader.by_ref() {
        assert!(error.is_none(), "an item after the error");
        match item {
            Ok(record) => {
                assert_eq!(record.index, records.len());
                if let Some(last) = last_offset {
                    assert!(record.offset > last, "offsets not increasing");
                }
                last_offset = Some(record.offset);
                let start = record.data.as_ptr() as usize;
                assert!(
                    record.data.is_empty()
                        || (start >= input_start + record.offset as usize
                            && start + record.data.len() <= input_end),
                    "record bytes outside the input"
                );
                if let Some(ts) = record.timestamp {
                    assert!(ts.subsec_nanos() < 1_000_000_000);
                    assert_eq!(Timestamp::from_nanos(ts.as_nanos()), Some(ts));
                }
                if let Ok((proto, payload)) = record.network_payload() {
                    assert!(payload.len() <= record.data.len());
                    if proto == NetworkProto::Ethernet {
                        assert_eq!(payload, record.data);
                    }
                }
                for issue in &record.issues {
                    assert!(!issue.to_string().is_empty());
                }
                records.push(record);
            }
            Err(e) => {
                if let PcapError::CorruptRecord { record, offset, .. } = e {
                    assert_eq!(record, records.len() as u64 + 1);
                    assert!(last_offset.is_none_or(|last| offset > last));
                    assert!(offset < data.len() as u64);
                }
                assert!(!e.to_string().is_empty());
                error = Some(e);
            }
        }
    }
    assert!(reader.next().is_none(), "reader not fused");
    assert_eq!(reader.error(), error);
    let stats = reader.stats();
    assert_eq!(stats.records, records.len() as u64);
    assert_eq!(
        stats.records_with_issues,
        records.iter().filter(|r| !r.issues.is_empty()).count() as u64
    );
    assert_eq!(
        stats.captured_bytes,
        records.iter().map(|r| r.data.len() as u64).sum::<u64>()
    );

    // Write what has a storable timestamp and read it back.
    let kept: Vec<_> = records
        .iter()
        .filter_map(|r| {
            let ts = r.timestamp?;
            let ns = u64::try_from(ts.as_nanos()).ok()?;
            (ts.secs() <= u64::from(u32::MAX)).then_some((ns, r.data))
        })
        .collect();
    let Ok(mut writer) = Writer::new(
        Vec::new(),
        LinkType::Ethernet,
        u32::MAX,
        TimestampResolution::Nanosecond,
    ) else {
        return;
    };
    for (ns, frame) in &kept {
        assert!(writer.write(*ns, frame).is_ok(), "write failed");
    }
    let bytes = writer.into_inner();
    let Ok(back) = Capture::read(&bytes) else {
        panic!("written capture does not read back");
    };
    assert_eq!(back.error, None);
    assert_eq!(back.records.len(), kept.len());
    for (r, (ns, frame)) in back.records.iter().zip(&kept) {
        assert_eq!(r.data, *frame);
        assert_eq!(r.timestamp.map(Timestamp::as_nanos), Some(u128::from(*ns)));
    }
}
