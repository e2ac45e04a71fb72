//! `weft decode FILE`: read a capture, dissect every frame, print lines (or JSON) and totals.

use crate::dissect::dissect;
use crate::model::{FrameReport, Totals};
use crate::render::{RenderOptions, SeqTracker, render_line, render_totals};
use std::io::Write;
use weft_pcap::{PcapError, Reader};

/// The outcome of decoding a whole capture.
#[derive(Debug)]
pub struct Decoded {
    /// One report per record, in file order.
    pub frames: Vec<FrameReport>,
    /// Totals over `frames`.
    pub totals: Totals,
    /// The error that ended the read early (a corrupt record header), after every earlier
    /// record was reported.
    pub error: Option<PcapError>,
}

/// Decodes every record of a capture held in memory.
pub fn decode_bytes(bytes: &[u8]) -> Result<Decoded, PcapError> {
    let reader = Reader::new(bytes)?;
    let mut frames = Vec::new();
    let mut totals = Totals::default();
    let mut error = None;
    for item in reader {
        match item {
            Ok(rec) => {
                let f = dissect(&rec);
                totals.add(&f);
                frames.push(f);
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    Ok(Decoded {
        frames,
        totals,
        error,
    })
}

/// Prints a decoded capture: one line per frame (or one JSON object per line) and a totals
/// line (a final JSON object with `"totals"` under `--json`).
pub fn print(
    d: &Decoded,
    json: bool,
    opts: RenderOptions,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut seq = SeqTracker::default();
    for f in &d.frames {
        if json {
            serde_json::to_writer(&mut *out, f)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", render_line(f, &mut seq, opts))?;
        }
    }
    if json {
        let err = d.error.as_ref().map(|e| e.to_string());
        serde_json::to_writer(
            &mut *out,
            &serde_json::json!({ "totals": d.totals, "read_error": err }),
        )?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", render_totals(&d.totals))?;
        if let Some(e) = &d.error {
            writeln!(out, "read stopped: {e}")?;
        }
    }
    Ok(())
}
