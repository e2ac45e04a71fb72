//! Writing pcap files.

use std::io::{self, Write};

use crate::link::LinkType;
use crate::timestamp::TimestampResolution;

/// Why a frame or header could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The underlying writer failed.
    #[error("writing the capture failed: {0}")]
    Io(#[from] io::Error),
    /// A snapshot length of 0 would keep no bytes of any frame.
    #[error("snapshot length must be at least 1 byte")]
    ZeroSnaplen,
    /// pcap stores unsigned 32-bit seconds: timestamps from 2106-02-07T06:28:16Z on do not fit.
    #[error("timestamp {ts_ns} ns is past the last time pcap can store (4294967295.999999999 s)")]
    TimestampOutOfRange {
        /// The timestamp given, in nanoseconds since the epoch.
        ts_ns: u64,
    },
    /// The frame is longer than a 32-bit length field can say.
    #[error("frame of {len} bytes is longer than pcap's 32-bit length field allows")]
    FrameTooLong {
        /// The frame's length.
        len: usize,
    },
}

/// pcap format version written (the only one in use).
const VERSION: (u16, u16) = (2, 4);

/// Writes a pcap file: a little-endian header, then one record per frame.
///
/// Frames longer than the snapshot length are cut to it, keeping their full length as the
/// original length, as a capturing host does.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    link_type: LinkType,
    snaplen: u32,
    resolution: TimestampResolution,
    frames: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the file header.
    pub fn new(
        mut out: W,
        link_type: LinkType,
        snaplen: u32,
        resolution: TimestampResolution,
    ) -> Result<Writer<W>, WriteError> {
        if snaplen == 0 {
            return Err(WriteError::ZeroSnaplen);
        }
        let mut header = [0u8; 24];
        let fields: [&[u8]; 7] = [
            &resolution.magic().to_le_bytes(),
            &VERSION.0.to_le_bytes(),
            &VERSION.1.to_le_bytes(),
            &0i32.to_le_bytes(), // thiszone: UTC
            &0u32.to_le_bytes(), // sigfigs
            &snaplen.to_le_bytes(),
            &link_type.code().to_le_bytes(),
        ];
        let mut at = 0;
        for field in fields {
            if let Some(dst) = header.get_mut(at..at + field.len()) {
                dst.copy_from_slice(field);
            }
            at += field.len();
        }
        out.write_all(&header)?;
        Ok(Writer {
            out,
            link_type,
            snaplen,
            resolution,
            frames: 0,
        })
    }

    /// Writes one frame captured at `ts_ns` nanoseconds since the epoch (truncated to
    /// microseconds in a microsecond file). The original length is the frame's length.
    pub fn write(&mut self, ts_ns: u64, frame: &[u8]) -> Result<(), WriteError> {
        let orig_len = u32::try_from(frame.len())
            .map_err(|_| WriteError::FrameTooLong { len: frame.len() })?;
        self.write_captured(ts_ns, frame, orig_len)
    }

    /// Writes the captured bytes of a packet whose wire length was `orig_len` (raised to the
    /// captured length if below it).
    pub fn write_captured(
        &mut self,
        ts_ns: u64,
        captured: &[u8],
        orig_len: u32,
    ) -> Result<(), WriteError> {
        let secs = u32::try_from(ts_ns / 1_000_000_000)
            .map_err(|_| WriteError::TimestampOutOfRange { ts_ns })?;
        let nanos = (ts_ns % 1_000_000_000) as u32;
        let fraction = match self.resolution {
            TimestampResolution::Microsecond => nanos / 1000,
            TimestampResolution::Nanosecond => nanos,
        };
        let len = u32::try_from(captured.len()).map_err(|_| WriteError::FrameTooLong {
            len: captured.len(),
        })?;
        let caplen = len.min(self.snaplen);
        let data = captured.get(..caplen as usize).unwrap_or(captured);
        let mut header = [0u8; 16];
        for (i, field) in [secs, fraction, caplen, orig_len.max(len)]
            .into_iter()
            .enumerate()
        {
            if let Some(dst) = header.get_mut(i * 4..i * 4 + 4) {
                dst.copy_from_slice(&field.to_le_bytes());
            }
        }
        self.out.write_all(&header)?;
        self.out.write_all(data)?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The file's link type.
    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.out.flush()?;
        Ok(())
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Returns the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Capture, Format, Timestamp};

    #[test]
    fn writer_header_bytes_are_exact() {
        let w = Writer::new(
            Vec::new(),
            LinkType::Ethernet,
            65535,
            TimestampResolution::Microsecond,
        )
        .unwrap();
        assert_eq!(
            w.into_inner(),
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0,
                0, 0
            ]
        );
        let w = Writer::new(
            Vec::new(),
            LinkType::LinuxSll,
            262_144,
            TimestampResolution::Nanosecond,
        )
        .unwrap();
        assert_eq!(w.get_ref()[..4], [0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(w.get_ref()[20..24], [113, 0, 0, 0]);
    }

    fn round_trip(resolution: TimestampResolution) {
        let frames: Vec<(u64, Vec<u8>)> = (0..5u8)
            .map(|i| {
                (
                    1_700_000_000_123_456_789 + u64::from(i) * 1_000_001_001,
                    vec![i; 60 + usize::from(i)],
                )
            })
            .collect();
        let mut w = Writer::new(Vec::new(), LinkType::Ethernet, 65535, resolution).unwrap();
        for (ts, f) in &frames {
            w.write(*ts, f).unwrap();
        }
        assert_eq!(w.frames(), 5);
        w.flush().unwrap();
        let bytes = w.into_inner();
        let cap = Capture::read(&bytes).unwrap();
        assert_eq!(cap.error, None);
        let Format::Pcap(h) = cap.format else {
            panic!("not pcap")
        };
        assert_eq!(h.resolution, resolution);
        assert_eq!(h.link_type, LinkType::Ethernet);
        assert_eq!(cap.records.len(), 5);
        for (r, (ts, f)) in cap.records.iter().zip(&frames) {
            assert_eq!(r.data, &f[..]);
            assert_eq!(r.orig_len as usize, f.len());
            assert!(r.issues.is_empty());
            let expected = match resolution {
                TimestampResolution::Microsecond => ts / 1000 * 1000,
                TimestampResolution::Nanosecond => *ts,
            };
            assert_eq!(
                r.timestamp,
                Timestamp::from_nanos(u128::from(expected)),
                "{resolution}"
            );
        }
    }

    #[test]
    fn writer_round_trip_microseconds() {
        round_trip(TimestampResolution::Microsecond);
    }

    #[test]
    fn writer_round_trip_nanoseconds() {
        round_trip(TimestampResolution::Nanosecond);
    }

    #[test]
    fn writer_cuts_frames_to_the_snapshot_length() {
        let mut w = Writer::new(
            Vec::new(),
            LinkType::Ethernet,
            20,
            TimestampResolution::Nanosecond,
        )
        .unwrap();
        let frame: Vec<u8> = (0..50).collect();
        w.write(5, &frame).unwrap();
        w.write_captured(6, &frame[..10], 4).unwrap();
        let bytes = w.into_inner();
        let cap = Capture::read(&bytes).unwrap();
        assert_eq!(cap.records[0].data, &frame[..20]);
        assert_eq!(cap.records[0].orig_len, 50);
        assert!(cap.records[0].is_truncated());
        // An original length below the captured length is raised to it.
        assert_eq!(cap.records[1].orig_len, 10);
        assert_eq!(cap.stats.records_with_issues, 0);
    }

    #[test]
    fn writer_errors() {
        assert!(matches!(
            Writer::new(
                Vec::new(),
                LinkType::Ethernet,
                0,
                TimestampResolution::Nanosecond
            ),
            Err(WriteError::ZeroSnaplen)
        ));
        let mut w = Writer::new(
            Vec::new(),
            LinkType::Ethernet,
            100,
            TimestampResolution::Nanosecond,
        )
        .unwrap();
        let last = u64::from(u32::MAX) * 1_000_000_000 + 999_999_999;
        w.write(last, &[1]).unwrap();
        let err = w.write(last + 1, &[1]).unwrap_err();
        assert!(matches!(err, WriteError::TimestampOutOfRange { ts_ns } if ts_ns == last + 1));
        assert!(err.to_string().contains("4294967295.999999999"));
        assert_eq!(w.frames(), 1);

        #[derive(Debug)]
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = Writer::new(
            Broken,
            LinkType::Ethernet,
            100,
            TimestampResolution::Nanosecond,
        )
        .unwrap_err();
        assert!(matches!(err, WriteError::Io(_)));
        assert_eq!(err.to_string(), "writing the capture failed: disk full");
    }
}
