//! Determinism mode: run a seed twice and name the first event where the runs differ.
//!
//! With [`crate::SimBuilder::trace_events`] on, a run records every event it processes as a
//! [`TraceEvent`]: its number, virtual time, kind (timer, frame arrival, scheduled action),
//! place (the host of a timer, the link end a frame arrives at, the action's number) and a
//! digest (the timer's sequence number, the frame's FNV-1a). Two runs of one seed must have
//! equal traces.
//!
//! - In one process: [`check`] builds and runs the simulation twice and compares.
//! - Across processes (what `weft run --trace` style commands do): each process prints
//!   [`trace_text`] of its report; a parent compares two outputs with [`compare_texts`]. Same
//!   lines, or the first line that differs, described.

use crate::fabric::{FNV_OFFSET, fnv};
use crate::sim::{Report, SimBuilder, SimError};
use core::fmt;
use weft_core::Instant;

/// What kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum TraceKind {
    /// A timer fired.
    Timer = 0,
    /// A frame finished arriving at a link end.
    Frame = 1,
    /// A scheduled action (partition, heal, crash, restart).
    Scheduled = 2,
}

impl TraceKind {
    fn as_str(self) -> &'static str {
        match self {
            TraceKind::Timer => "timer",
            TraceKind::Frame => "frame",
            TraceKind::Scheduled => "action",
        }
    }
}

/// One processed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceEvent {
    /// Its number in the run (from 0).
    pub index: u64,
    /// When.
    pub at: Instant,
    /// What.
    pub kind: TraceKind,
    /// Where: host number (timer), endpoint number (frame: link × 2, + 1 at the switch
    /// end), action number.
    pub place: u64,
    /// The timer's sequence number, the frame's FNV-1a digest, the action's number.
    pub digest: u64,
}

impl TraceEvent {
    /// The text form: `index time_ns kind place digest`.
    pub fn to_line(&self) -> String {
        format!(
            "{} {} {} {} {:016x}",
            self.index,
            self.at.as_nanos(),
            self.kind.as_str(),
            self.place,
            self.digest
        )
    }

    /// Parses [`TraceEvent::to_line`]'s form (anything after `#` is ignored).
    pub fn parse_line(line: &str) -> Result<TraceEvent, String> {
        let body = line.split('#').next().unwrap_or_default();
        let f: Vec<&str> = body.split_whitespace().collect();
        let [index, at, kind, place, digest] = f.as_slice() else {
            return Err(format!("expected 5 fields, found {}", f.len()));
        };
        let num = |s: &str, what: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("{what} `{s}` is not a number"))
        };
        Ok(TraceEvent {
            index: num(index, "index")?,
            at: Instant::from_nanos(num(at, "time")?),
            kind: match *kind {
                "timer" => TraceKind::Timer,
                "frame" => TraceKind::Frame,
                "action" => TraceKind::Scheduled,
                k => return Err(format!("unknown event kind `{k}`")),
            },
            place: num(place, "place")?,
            digest: u64::from_str_radix(digest, 16)
                .map_err(|_| format!("digest `{digest}` is not hex"))?,
        })
    }
}

/// A digest of a whole trace (equal traces, equal digests).
pub fn trace_digest(trace: &[TraceEvent]) -> u64 {
    trace
        .iter()
        .fold(FNV_OFFSET, |h, e| fnv(h, e.to_line().as_bytes()))
}

/// Where two runs first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The first event number at which they differ.
    pub index: u64,
    /// The first run's event there (`None`: its trace ended), described.
    pub first: Option<(TraceEvent, String)>,
    /// The second run's.
    pub second: Option<(TraceEvent, String)>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: &Option<(TraceEvent, String)>| match s {
            Some((e, d)) => format!("at {} {d} ({})", e.at, e.to_line()),
            None => "no event (the run had ended)".to_string(),
        };
        write!(
            f,
            "runs diverge at event #{}: first run {}; second run {}",
            self.index,
            side(&self.first),
            side(&self.second)
        )
    }
}

/// The first index at which two traces differ.
pub fn first_divergence(a: &[TraceEvent], b: &[TraceEvent]) -> Option<usize> {
    let n = a.len().min(b.len());
    (0..n)
        .find(|&i| a.get(i) != b.get(i))
        .or_else(|| (a.len() != b.len()).then_some(n))
}

/// Two runs of a seed agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// Events in each run.
    pub events: u64,
    /// Their (equal) delivery digest.
    pub trace_digest: u64,
    /// Their (equal) event-trace digest.
    pub event_trace_digest: u64,
}

/// Why [`check`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeterminismError {
    /// The simulation could not be built.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The runs differ.
    #[error("{0}")]
    Diverged(Box<Divergence>),
}

fn describe(r: &Report, e: Option<&TraceEvent>) -> Option<(TraceEvent, String)> {
    e.map(|e| (*e, r.describe_event(e)))
}

/// Runs the simulation `build` returns twice with `seed`, tracing every event, and compares
/// the traces (then the delivery digests and tapes).
pub fn check(build: impl Fn() -> SimBuilder, seed: u64) -> Result<Agreement, DeterminismError> {
    let a = build().trace_events(true).run(seed)?;
    let b = build().trace_events(true).run(seed)?;
    let ta = a.event_trace.as_deref().unwrap_or_default();
    let tb = b.event_trace.as_deref().unwrap_or_default();
    if let Some(i) = first_divergence(ta, tb) {
        return Err(DeterminismError::Diverged(Box::new(Divergence {
            index: i as u64,
            first: describe(&a, ta.get(i)),
            second: describe(&b, tb.get(i)),
        })));
    }
    if a.trace_digest != b.trace_digest || a.tape != b.tape {
        // Same events but different bytes delivered somewhere: name the end.
        let i = ta.len();
        return Err(DeterminismError::Diverged(Box::new(Divergence {
            index: i as u64,
            first: None,
            second: None,
        })));
    }
    Ok(Agreement {
        events: ta.len() as u64,
        trace_digest: a.trace_digest,
        event_trace_digest: trace_digest(ta),
    })
}

/// A run's event trace as text, one event per line with a description after `#` (empty
/// when the run was not traced). What a process prints for another to compare.
pub fn trace_text(report: &Report) -> String {
    let mut s = String::new();
    for e in report.event_trace.as_deref().unwrap_or_default() {
        s.push_str(&e.to_line());
        s.push_str("  # ");
        s.push_str(&report.describe_event(e));
        s.push('\n');
    }
    s
}

/// Parses [`trace_text`] output; errors name the line.
pub fn parse_trace(text: &str) -> Result<Vec<(TraceEvent, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e = TraceEvent::parse_line(line).map_err(|p| format!("trace line {}: {p}", i + 1))?;
        let d = line
            .split_once('#')
            .map(|(_, d)| d.trim().to_string())
            .unwrap_or_default();
        out.push((e, d));
    }
    Ok(out)
}

/// Compares two processes' [`trace_text`] outputs: `None` when equal, else where they first
/// differ.
pub fn compare_texts(a: &str, b: &str) -> Result<Option<Divergence>, String> {
    let a = parse_trace(a)?;
    let b = parse_trace(b)?;
    let ea: Vec<TraceEvent> = a.iter().map(|x| x.0).collect();
    let eb: Vec<TraceEvent> = b.iter().map(|x| x.0).collect();
    Ok(first_divergence(&ea, &eb).map(|i| Divergence {
        index: i as u64,
        first: a.get(i).cloned(),
        second: b.get(i).cloned(),
    }))
}
