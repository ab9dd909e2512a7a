//! [`LinkTrace`]: a link's rate over time, read from a trace file's text.
//!
//! Two formats:
//! - **`seconds mbps`**: one `TIME RATE` pair per line, the time in seconds from the start
//!   (non-decreasing), the rate in Mbit/s (0: the link is cut). Each rate holds from its time
//!   until the next line's; the last holds until the run ends. `#` starts a comment.
//! - **Mahimahi**: one integer per line, the millisecond at which the link may deliver one
//!   1,500-byte packet (non-decreasing; several lines may share a millisecond). Read here as the
//!   rate of each [`MAHIMAHI_BIN`], the trace's length being its last timestamp.
//!
//! Trace files come from outside: every line is checked, and an error names it.

use crate::units::Seconds;

/// The largest trace text read (bytes).
pub const MAX_TRACE_BYTES: usize = 16 << 20;
/// The most rate changes a trace may hold.
pub const MAX_SEGMENTS: usize = 1 << 20;
/// The bins a Mahimahi trace's delivery opportunities are counted in.
pub const MAHIMAHI_BIN: Seconds = Seconds(0.1);
/// Bytes per Mahimahi delivery opportunity.
pub const MAHIMAHI_PACKET: u64 = 1500;

/// A trace file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// `TIME RATE` lines: seconds and Mbit/s.
    SecondsMbps,
    /// Mahimahi: one millisecond timestamp per 1,500-byte delivery opportunity.
    Mahimahi,
}

/// One stretch of constant rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// When it starts, from the trace's start.
    pub start: Seconds,
    /// Its rate, in bits per second (0: cut).
    pub bps: f64,
}

/// A link's rate over time: segments in time order, the first starting at 0.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkTrace {
    segments: Vec<Segment>,
    end: Seconds,
}

/// Why a trace was refused. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraceError {
    /// The text is larger than [`MAX_TRACE_BYTES`].
    #[error("trace is {0} bytes, more than the {MAX_TRACE_BYTES} read")]
    TooLarge(usize),
    /// It holds no data line.
    #[error("trace holds no data line")]
    Empty,
    /// A line is not in the format.
    #[error("line {line}: expected {expected}, found {found:?}")]
    Syntax {
        /// The line.
        line: usize,
        /// What the format wants.
        expected: &'static str,
        /// What the line holds (its first 40 characters).
        found: String,
    },
    /// A time or rate is negative or not finite.
    #[error("line {line}: {what} {value} must be finite and >= 0")]
    Negative {
        /// The line.
        line: usize,
        /// `time` or `rate`.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// A time is before the previous line's.
    #[error("line {line}: time {time} is before the previous line's {previous}")]
    NotMonotonic {
        /// The line.
        line: usize,
        /// Its time.
        time: f64,
        /// The previous line's.
        previous: f64,
    },
    /// More segments than [`MAX_SEGMENTS`].
    #[error("line {0}: more than {MAX_SEGMENTS} rate changes")]
    TooManySegments(usize),
}

impl TraceFormat {
    /// The format of `text`: Mahimahi when its first data line is one integer, else
    /// `seconds mbps`.
    pub fn detect(text: &str) -> TraceFormat {
        match data_lines(text).next() {
            Some((_, l)) if l.split_whitespace().count() == 1 && l.parse::<u64>().is_ok() => {
                TraceFormat::Mahimahi
            }
            _ => TraceFormat::SecondsMbps,
        }
    }
}

impl LinkTrace {
    /// A trace from segments (sorted by start, the first moved to 0) lasting until `end`.
    pub fn from_segments(mut segments: Vec<Segment>, end: Seconds) -> Option<Self> {
        let ok = |s: &Segment| s.start.0.is_finite() && s.bps.is_finite() && s.bps >= 0.0;
        if segments.is_empty() || !segments.iter().all(ok) {
            return None;
        }
        segments.sort_by(|a, b| a.start.0.total_cmp(&b.start.0));
        segments[0].start = Seconds(0.0);
        let end = Seconds(end.0.max(segments[segments.len() - 1].start.0));
        Some(LinkTrace { segments, end })
    }

    /// Reads `text` in `format`.
    pub fn parse(text: &str, format: TraceFormat) -> Result<Self, TraceError> {
        if text.len() > MAX_TRACE_BYTES {
            return Err(TraceError::TooLarge(text.len()));
        }
        match format {
            TraceFormat::SecondsMbps => parse_seconds_mbps(text),
            TraceFormat::Mahimahi => parse_mahimahi(text),
        }
    }

    /// The segments, in time order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// When the trace ends: its last line's time.
    pub fn end(&self) -> Seconds {
        self.end
    }

    /// The rate at `t` (bits per second): the last segment's beyond the end.
    pub fn bps_at(&self, t: Seconds) -> f64 {
        let i = self.segments.partition_point(|s| s.start.0 <= t.0);
        self.segments[i.saturating_sub(1)].bps
    }
}

fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty())
}

fn syntax(line: usize, expected: &'static str, found: &str) -> TraceError {
    TraceError::Syntax {
        line,
        expected,
        found: found.chars().take(40).collect(),
    }
}

fn parse_seconds_mbps(text: &str) -> Result<LinkTrace, TraceError> {
    const EXPECTED: &str = "two numbers: seconds and Mbit/s";
    let mut segments: Vec<Segment> = Vec::new();
    for (n, l) in data_lines(text) {
        let mut it = l.split_whitespace();
        let (Some(t), Some(r), None) = (it.next(), it.next(), it.next()) else {
            return Err(syntax(n, EXPECTED, l));
        };
        let (Ok(t), Ok(r)) = (t.parse::<f64>(), r.parse::<f64>()) else {
            return Err(syntax(n, EXPECTED, l));
        };
        for (what, value) in [("time", t), ("rate", r)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(TraceError::Negative {
                    line: n,
                    what,
                    value,
                });
            }
        }
        if let Some(prev) = segments.last()
            && t < prev.start.0
        {
            return Err(TraceError::NotMonotonic {
                line: n,
                time: t,
                previous: prev.start.0,
            });
        }
        if segments.len() >= MAX_SEGMENTS {
            return Err(TraceError::TooManySegments(n));
        }
        segments.push(Segment {
            start: Seconds(t),
            bps: r * 1e6,
        });
    }
    let end = segments.last().ok_or(TraceError::Empty)?.start;
    LinkTrace::from_segments(segments, end).ok_or(TraceError::Empty)
}

fn parse_mahimahi(text: &str) -> Result<LinkTrace, TraceError> {
    const EXPECTED: &str = "one whole millisecond timestamp";
    let bin_ms = (MAHIMAHI_BIN.0 * 1e3).round() as u64;
    // Opportunities per bin, bins from 0.
    let mut bins: Vec<u64> = Vec::new();
    let mut last: Option<u64> = None;
    for (n, l) in data_lines(text) {
        let Ok(ms) = l.parse::<u64>() else {
            return match l.parse::<f64>() {
                Ok(v) if v < 0.0 => Err(TraceError::Negative {
                    line: n,
                    what: "time",
                    value: v,
                }),
                _ => Err(syntax(n, EXPECTED, l)),
            };
        };
        if let Some(prev) = last.filter(|&p| ms < p) {
            return Err(TraceError::NotMonotonic {
                line: n,
                time: ms as f64 / 1e3,
                previous: prev as f64 / 1e3,
            });
        }
        last = Some(ms);
        let bin = usize::try_from(ms / bin_ms).map_err(|_| TraceError::TooManySegments(n))?;
        if bin >= MAX_SEGMENTS {
            return Err(TraceError::TooManySegments(n));
        }
        if bins.len() <= bin {
            bins.resize(bin + 1, 0);
        }
        bins[bin] += 1;
    }
    let last = last.ok_or(TraceError::Empty)?;
    let per_bin = (MAHIMAHI_PACKET * 8) as f64 / MAHIMAHI_BIN.0;
    let mut segments: Vec<Segment> = Vec::new();
    for (i, &count) in bins.iter().enumerate() {
        let bps = count as f64 * per_bin;
        if segments.last().is_none_or(|s| s.bps != bps) {
            segments.push(Segment {
                start: Seconds(i as f64 * MAHIMAHI_BIN.0),
                bps,
            });
        }
    }
    LinkTrace::from_segments(segments, Seconds(last as f64 / 1e3)).ok_or(TraceError::Empty)
}

impl LinkTrace {
    /// Phases of constant rate one after the other: `(duration, Mbit/s)` each (0: cut).
    /// `None` when a duration or rate is negative or not finite, or there is no phase.
    pub fn phases(phases: &[(Seconds, f64)]) -> Option<Self> {
        let mut t = 0.0;
        let mut segments = Vec::with_capacity(phases.len());
        for &(d, mbps) in phases {
            if !(d.0.is_finite() && d.0 >= 0.0 && mbps.is_finite() && mbps >= 0.0) {
                return None;
            }
            segments.push(Segment {
                start: Seconds(t),
                bps: mbps * 1e6,
            });
            t += d.0;
        }
        LinkTrace::from_segments(segments, Seconds(t))
    }

    /// A sawtooth: from `high` down to `low` Mbit/s in `steps` equal steps over `period`,
    /// repeated `periods` times.
    pub fn sawtooth(
        high: f64,
        low: f64,
        period: Seconds,
        steps: usize,
        periods: usize,
    ) -> Option<Self> {
        let steps = steps.max(1);
        let d = Seconds(period.0 / steps as f64);
        let one: Vec<(Seconds, f64)> = (0..steps)
            .map(|i| {
                (
                    d,
                    high - (high - low) * i as f64 / (steps.max(2) - 1) as f64,
                )
            })
            .collect();
        LinkTrace::phases(&one.repeat(periods))
    }

    /// The trace in the `seconds mbps` format, with its end as a last line.
    pub fn to_seconds_mbps(&self) -> String {
        let mut out = String::from("# seconds mbps\n");
        for s in &self.segments {
            out.push_str(&format!("{} {}\n", s.start.0, s.bps / 1e6));
        }
        if let Some(last) = self.segments.last()
            && self.end.0 > last.start.0
        {
            out.push_str(&format!("{} {}\n", self.end.0, last.bps / 1e6));
        }
        out
    }
}
