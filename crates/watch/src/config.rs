//! The `[watch]` section of specdrop's config.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Poll on network file systems (statfs), native events elsewhere.
    #[default]
    Auto,
    /// inotify events (falls back to polling if the kernel refuses).
    Native,
    /// Walk the drop folders every `poll_secs`.
    Poll,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    pub mode: Mode,
    /// A file is complete when its size and mtime have not changed this long.
    pub settle_secs: u64,
    pub poll_secs: u64,
    /// A full rescan this often, whatever the events said.
    pub rescan_mins: u64,
    /// A file still cut short after standing still this long is handed on
    /// anyway, so it is reported ("incomplete") instead of waiting unseen.
    pub incomplete_secs: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            mode: Mode::Auto,
            settle_secs: 5,
            poll_secs: 10,
            rescan_mins: 10,
            incomplete_secs: 3600,
        }
    }
}

impl WatchConfig {
    pub fn settle(&self) -> Duration {
        Duration::from_secs(self.settle_secs)
    }

    pub fn poll(&self) -> Duration {
        Duration::from_secs(self.poll_secs.max(1))
    }

    pub fn rescan(&self) -> Duration {
        Duration::from_secs(self.rescan_mins.max(1) * 60)
    }

    pub fn incomplete(&self) -> Duration {
        Duration::from_secs(self.incomplete_secs.max(1))
    }

    /// Problems with the values, each as `(key, what to do)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.poll_secs == 0 {
            problems.push(("watch.poll_secs".into(), "must be at least 1".into()));
        }
        if self.incomplete_secs == 0 {
            problems.push((
                "watch.incomplete_secs".into(),
                "must be at least 1 (default 3600)".into(),
            ));
        }
        if self.rescan_mins == 0 {
            problems.push(("watch.rescan_mins".into(), "must be at least 1".into()));
        }
        problems
    }
}
