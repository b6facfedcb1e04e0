//! Checks the command line adds around a run: warnings `weir validate` prints for a file format that
//! contradicts the path's extension, and `--max-dead-letters`, the limit that fails a run whose records
//! were mostly dead-lettered.

use crate::assemble::pipeline::PipelineConfig;
use crate::kernel::stats::RunSummary;
use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use crate::sources::file::FileFormat;

/// Warnings for file sources and sinks whose format contradicts their path's extension (a `.csv` read
/// as NDJSON dead-letters every line).
pub(crate) fn format_warnings(config: &PipelineConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, id: &str, path: &str, format: FileFormat| {
        if let Some(named) = FileFormat::from_extension(path).filter(|f| *f != format) {
            out.push(format!(
                "{what} `{id}`: `format: {}` but the path `{path}` looks like {}; set `format: {}` (or remove \
                 `format:` to follow the extension)",
                format.name(),
                named.name(),
                named.name()
            ));
        }
    };
    for source in &config.sources {
        if let SourceConfig::File(c) = &source.config
            && let Some(format) = c.format
        {
            check("source", &source.common.id, &c.path, format);
        }
    }
    for sink in &config.sinks {
        if let SinkConfig::File(c) = &sink.config {
            check("sink", &sink.common.id, &c.path, c.format);
        }
    }
    out
}

/// `--max-dead-letters N|P%`: the most dead-lettered inputs a run may have and still succeed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DeadLetterLimit {
    /// At most this many.
    Count(u64),
    /// At most this percentage of the inputs received.
    Percent(f64),
}

impl std::str::FromStr for DeadLetterLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}`: expected a count (`10`) or a percentage (`5%`)");
        match text.strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.trim().parse().map_err(|_| bad())?;
                if (0.0..=100.0).contains(&p) { Ok(Self::Percent(p)) } else { Err(bad()) }
            }
            None => text.trim().parse().map(Self::Count).map_err(|_| bad()),
        }
    }
}

impl std::fmt::Display for DeadLetterLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl DeadLetterLimit {
    /// True when the run dead-lettered more than the limit allows.
    pub(crate) fn exceeded(self, summary: &RunSummary) -> bool {
        let r = &summary.records;
        match self {
            Self::Count(n) => r.dead_lettered > n,
            Self::Percent(p) => r.dead_lettered as f64 > r.received as f64 * p / 100.0,
        }
    }
}

/// The plain warning for a run that dead-lettered most (more than half) of its inputs.
pub(crate) fn mostly_dead_lettered(summary: &RunSummary) -> Option<String> {
    let r = &summary.records;
    (r.dead_lettered > 0 && r.dead_lettered * 2 > r.received).then(|| {
        format!(
            "  warning: most records were dead-lettered ({} of {}): check the source's format and the first entries",
            r.dead_lettered, r.received
        )
    })
}

#[cfg(test)]
mod tests {
    use super::DeadLetterLimit;

    #[test]
    fn limits_parse_as_counts_or_percentages() {
        assert_eq!("10".parse(), Ok(DeadLetterLimit::Count(10)));
        assert_eq!("2.5%".parse(), Ok(DeadLetterLimit::Percent(2.5)));
        for bad in ["", "x", "-1", "101%", "%"] {
            assert!(bad.parse::<DeadLetterLimit>().is_err(), "{bad}");
        }
    }
}
