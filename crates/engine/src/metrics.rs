//! Prometheus metrics (`metrics.listen`): files by outcome, queue depth,
//! processing time, bytes written and database errors, rendered as the
//! text exposition format (the binary's http.rs serves it on
//! `GET /metrics`).
//!
//! A handful of atomics: the endpoint answers one scraper on a private
//! address, which does not need a metrics crate's registry (see
//! docs/decisions.md).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::outcome::{Kind, Report};

/// Upper bounds of the processing-time histogram, in seconds.
const BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Default)]
pub struct Metrics {
    files: [AtomicU64; 5],
    /// Cumulative counts per bucket, then +Inf.
    seconds_buckets: [AtomicU64; BUCKETS.len() + 1],
    seconds_sum_micros: AtomicU64,
    bytes_written: AtomicU64,
    /// Files waiting: found complete but not yet taken, or in progress.
    pub queue_depth: AtomicU64,
    pub database_errors: AtomicU64,
    /// `daemon.instance` (or `<name>-<pid>`), on every sample as
    /// `specdrop_instance`: several instances feed one portal.
    instance: std::sync::OnceLock<String>,
}

impl Metrics {
    /// Name the instance these metrics are of (the first name stays: a
    /// reload keeps the name a scraper knows).
    pub fn set_instance(&self, name: &str) {
        let _ = self.instance.set(name.to_string());
    }

    pub fn count(&self, report: &Report) {
        if let Some(i) = Kind::ALL.iter().position(|k| *k == report.kind) {
            self.files[i].fetch_add(1, Ordering::Relaxed);
        }
        self.bytes_written.fetch_add(report.fields.bytes, Ordering::Relaxed);
        if let Some(elapsed) = report.fields.elapsed {
            let seconds = elapsed.as_secs_f64();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    self.seconds_buckets[i].fetch_add(1, Ordering::Relaxed);
                }
            }
            self.seconds_buckets[BUCKETS.len()].fetch_add(1, Ordering::Relaxed);
            self.seconds_sum_micros
                .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let instance = self.instance.get().map_or_else(String::new, |name| label_value(name));
        let mut out = self.samples();
        if !instance.is_empty() {
            out = out
                .lines()
                .map(|line| with_instance(line, &instance))
                .collect::<Vec<_>>()
                .join("\n");
            out.push('\n');
        }
        out
    }

    fn samples(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        out.push_str("# HELP specdrop_files_total Files processed, by outcome.\n# TYPE specdrop_files_total counter\n");
        for (i, kind) in Kind::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "specdrop_files_total{{outcome=\"{kind}\"}} {}",
                get(&self.files[i])
            );
        }
        out.push_str("# HELP specdrop_queue_depth Files complete and waiting or in progress.\n# TYPE specdrop_queue_depth gauge\n");
        let _ = writeln!(out, "specdrop_queue_depth {}", get(&self.queue_depth));
        out.push_str(
            "# HELP specdrop_processing_seconds Time from taking a file to its outcome.\n# TYPE specdrop_processing_seconds histogram\n",
        );
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "specdrop_processing_seconds_bucket{{le=\"{bound}\"}} {}",
                get(&self.seconds_buckets[i])
            );
        }
        let count = get(&self.seconds_buckets[BUCKETS.len()]);
        let _ = writeln!(out, "specdrop_processing_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "specdrop_processing_seconds_sum {}",
            get(&self.seconds_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "specdrop_processing_seconds_count {count}");
        out.push_str("# HELP specdrop_bytes_written_total Bytes of derivatives written.\n# TYPE specdrop_bytes_written_total counter\n");
        let _ = writeln!(out, "specdrop_bytes_written_total {}", get(&self.bytes_written));
        out.push_str(
            "# HELP specdrop_database_errors_total Failed portal database operations (each retry counts).\n# TYPE specdrop_database_errors_total counter\n",
        );
        let _ = writeln!(out, "specdrop_database_errors_total {}", get(&self.database_errors));
        out
    }
}

/// A label value escaped as the exposition format wants it.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `line` with the `specdrop_instance` label first (comments as they are).
fn with_instance(line: &str, instance: &str) -> String {
    if line.starts_with('#') {
        return line.to_string();
    }
    let label = format!("specdrop_instance=\"{instance}\"");
    match line.split_once('{') {
        Some((name, rest)) => format!("{name}{{{label},{rest}"),
        None => match line.split_once(' ') {
            Some((name, value)) => format!("{name}{{{label}}} {value}"),
            None => line.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_carries_the_instance() {
        let metrics = Metrics::default();
        metrics.set_instance("herb\"1");
        let text = metrics.render();
        assert!(
            text.contains("specdrop_queue_depth{specdrop_instance=\"herb\\\"1\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("specdrop_files_total{specdrop_instance=\"herb\\\"1\",outcome=\"linked\"} 0"),
            "{text}"
        );
        let samples = text.lines().filter(|l| !l.starts_with('#'));
        assert!(samples.clone().count() > 10);
        assert!(samples.into_iter().all(|l| l.contains("specdrop_instance=")), "{text}");
    }
}
