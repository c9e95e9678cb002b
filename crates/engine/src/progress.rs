//! Progress of `scan`, `retry` and `rebuild`: a bar (files or rows,
//! rate, ETA) on a terminal, a plain line every few seconds in a log or a
//! pipe.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const LINE_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
    /// Plain lines only for runs long enough to need them.
    lines: bool,
    /// What is counted: `files`, `rows`.
    unit: &'static str,
}

impl Progress {
    /// `shown`: false for a run that must stay quiet (`check`).
    pub fn new(total: usize, shown: bool) -> Progress {
        Progress::counting(total, shown, "files")
    }

    /// [`Progress::new`] counting `unit` (`rows`).
    pub fn counting(total: usize, shown: bool, unit: &'static str) -> Progress {
        let total = total as u64;
        let terminal = std::io::stderr().is_terminal();
        let bar = (shown && terminal && total > 0).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template = format!("{{bar:30}} {{pos}}/{{len}} {unit}  {{per_sec}}  {{msg}}eta {{eta}}");
            let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            total,
            done: 0,
            started: now,
            last_line: now,
            lines: shown && !terminal && total > 0,
            unit,
        }
    }

    /// Print an outcome line without tearing the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    pub fn inc(&mut self) {
        self.set_done(self.done + 1);
    }

    /// `done` of the total are done (by this process and others: a job
    /// list shared by several).
    pub fn set_done(&mut self, done: u64) {
        self.done = done;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        } else if self.lines && self.last_line.elapsed() >= LINE_EVERY && self.done < self.total {
            self.last_line = Instant::now();
            eprintln!("{}", self.line());
        }
    }

    fn line(&self) -> String {
        let unit = self.unit;
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.done as f64 / seconds;
        let left = self.total.saturating_sub(self.done);
        let eta = if rate > 0.0 {
            format!("about {} left", human(Duration::from_secs_f64(left as f64 / rate)))
        } else {
            "time left unknown".into()
        };
        format!(
            "progress: {}/{} {unit} ({}%), {rate:.1} {unit}/s, {eta}",
            self.done,
            self.total,
            self.done * 100 / self.total.max(1)
        )
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_has_count_rate_and_time_left() {
        let mut p = Progress::new(10, false);
        p.done = 5;
        p.started = Instant::now() - Duration::from_secs(10);
        let line = p.line();
        assert!(
            line.starts_with("progress: 5/10 files (50%), 0.5 files/s, about 10s left"),
            "{line}"
        );
        assert_eq!(human(Duration::from_secs(3725)), "1h 2m");
    }
}
