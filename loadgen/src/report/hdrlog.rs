//! The HdrHistogram interval log (`--hdr-log`): one interval a second, tagged
//! `delivery_time`, `receipt_time` and `verify_time`, values in microseconds of scenario time,
//! timestamps relative to the `#[BaseTime]` (the start of the load). HdrHistogram's own tools
//! (`HistogramLogProcessor`, the Rust crate's `IntervalLogIterator`) read it, so runs can be
//! merged and re-cut later.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::measure::IntervalSnapshot;

/// An interval log being written.
pub struct HdrLog {
    file: std::io::BufWriter<std::fs::File>,
    ser: V2DeflateSerializer,
    path: PathBuf,
}

impl std::fmt::Debug for HdrLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HdrLog").field("path", &self.path).finish()
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> (PathBuf, std::io::Error) {
    (path.to_path_buf(), std::io::Error::other(e.to_string()))
}

impl HdrLog {
    /// Creates the log and writes its header; `started`: the wall-clock start of the load.
    pub fn create(
        path: &Path,
        scenario: &str,
        time_scale: f64,
        started: SystemTime,
    ) -> Result<Self, (PathBuf, std::io::Error)> {
        let file = std::fs::File::create(path).map_err(|e| (path.to_path_buf(), e))?;
        let mut log = Self {
            file: std::io::BufWriter::new(file),
            ser: V2DeflateSerializer::new(),
            path: path.to_path_buf(),
        };
        IntervalLogWriterBuilder::new()
            .add_comment(
                "loadgen run: tags delivery_time, receipt_time, verify_time; values in \
                 microseconds of scenario time",
            )
            .add_comment(&format!("scenario {scenario}, time scale {time_scale}"))
            .with_start_time(started)
            .with_base_time(started)
            .begin_log_with(&mut log.file, &mut log.ser)
            .map_err(|e| io(path, e))?;
        Ok(log)
    }

    /// Writes one interval, `from` after the base time and `len` long (wall).
    pub fn write(
        &mut self,
        snap: &IntervalSnapshot,
        from: Duration,
        len: Duration,
    ) -> Result<(), (PathBuf, std::io::Error)> {
        for (tag, h) in [
            ("delivery_time", &snap.delivery),
            ("receipt_time", &snap.receipt),
            ("verify_time", &snap.verify),
        ] {
            if h.is_empty() {
                continue;
            }
            IntervalLogWriterBuilder::new()
                .begin_log_with(&mut self.file, &mut self.ser)
                .map_err(|e| io(&self.path, e))?
                .write_histogram(&h.0, from, len, Tag::new(tag))
                .map_err(|e| io(&self.path, format!("{e:?}")))?;
        }
        Ok(())
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<(), (PathBuf, std::io::Error)> {
        self.file.flush().map_err(|e| (self.path.clone(), e))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    use super::*;
    use crate::measure::{Measure, Route};

    #[test]
    fn the_log_reads_back_with_hdrhistograms_own_iterator() {
        let path = std::env::temp_dir().join(format!("loadgen-hdr-{}.hlog", std::process::id()));
        let mut log = HdrLog::create(&path, "t", 1.0, SystemTime::now()).expect("created");
        let mut m = Measure::new(1.0, 1, 1);
        let route = Route {
            channel: "sms",
            carrier: "a".into(),
        };
        m.delivered(0, 0, Duration::from_millis(1500), &route);
        let snap = m.take_interval(1.0, 1.0);
        log.write(&snap, Duration::ZERO, Duration::from_secs(1))
            .expect("written");
        log.finish().expect("flushed");
        let text = std::fs::read(&path).expect("read");
        let tags: Vec<String> = IntervalLogIterator::new(&text)
            .filter_map(|e| match e {
                Ok(LogEntry::Interval(h)) => h.tag().map(|t| t.as_str().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(tags, vec!["delivery_time".to_string()]);
        std::fs::remove_file(&path).ok();
    }
}
