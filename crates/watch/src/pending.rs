//! The files seen in drop folders and how long each has stood still.
//!
//! A file is due for the completeness check once its size and mtime have
//! not changed for the settle window. After it has been handed on it is
//! remembered with the size and mtime it had, so events and rescans do not
//! hand it on again unless it changes (a re-upload).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// What `stat` says about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub mtime: Option<SystemTime>,
}

#[derive(Debug, Clone)]
struct Entry {
    root: usize,
    stamp: Stamp,
    /// When the stamp last changed (or the file was first seen).
    still_since: Instant,
    /// Earliest time to look again (grows for a file that stands still
    /// but is not a complete JPEG).
    next_check: Instant,
    incomplete_checks: u32,
    handed_on: bool,
}

#[derive(Debug)]
pub struct Pending {
    entries: HashMap<PathBuf, Entry>,
    settle: Duration,
}

impl Pending {
    pub fn new(settle: Duration) -> Pending {
        Pending {
            entries: HashMap::new(),
            settle,
        }
    }

    /// A file was seen with `stamp` (an event, a poll, a rescan).
    pub fn seen(&mut self, root: usize, path: &Path, stamp: Stamp, now: Instant) {
        match self.entries.get_mut(path) {
            Some(e) if e.stamp == stamp => {}
            Some(e) => {
                e.stamp = stamp;
                e.still_since = now;
                // Nothing to look at before it could have settled.
                e.next_check = now + self.settle;
                e.incomplete_checks = 0;
                e.handed_on = false;
            }
            None => {
                self.entries.insert(
                    path.to_path_buf(),
                    Entry {
                        root,
                        stamp,
                        still_since: now,
                        next_check: now + self.settle,
                        incomplete_checks: 0,
                        handed_on: false,
                    },
                );
            }
        }
    }

    pub fn gone(&mut self, path: &Path) {
        self.entries.remove(path);
    }

    /// Forget entries of `root` not in `present` (moved away, deleted).
    pub fn keep_only(&mut self, root: usize, present: &dyn Fn(&Path) -> bool) {
        self.entries.retain(|path, e| e.root != root || present(path));
    }

    /// Files not handed on yet, with their root, to look at now.
    pub fn waiting(&self, now: Instant) -> Vec<(usize, PathBuf)> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.handed_on && e.next_check <= now)
            .map(|(p, e)| (e.root, p.clone()))
            .collect()
    }

    /// True when `path` has stood still for the settle window as of `now`.
    pub fn settled(&self, path: &Path, now: Instant) -> bool {
        self.entries
            .get(path)
            .is_some_and(|e| !e.handed_on && now.duration_since(e.still_since) >= self.settle)
    }

    /// How long `path` has stood still as of `now`.
    pub fn still_for(&self, path: &Path, now: Instant) -> Duration {
        self.entries
            .get(path)
            .map_or(Duration::ZERO, |e| now.duration_since(e.still_since))
    }

    pub fn handed_on(&mut self, path: &Path) {
        if let Some(e) = self.entries.get_mut(path) {
            e.handed_on = true;
        }
    }

    /// The file stood still but is not complete (a JPEG without its end):
    /// look again later, less and less often, up to `max`.
    pub fn incomplete(&mut self, path: &Path, max: Duration, now: Instant) {
        if let Some(e) = self.entries.get_mut(path) {
            e.incomplete_checks = e.incomplete_checks.saturating_add(1);
            let wait = self.settle.max(Duration::from_secs(1)) * 2u32.saturating_pow(e.incomplete_checks.min(10));
            e.next_check = now + wait.min(max);
        }
    }

    pub fn len_waiting(&self) -> usize {
        self.entries.values().filter(|e| !e.handed_on).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(size: u64) -> Stamp {
        Stamp { size, mtime: None }
    }

    #[test]
    fn a_growing_file_never_settles_and_a_still_one_does_once() {
        let mut p = Pending::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let path = Path::new("/drop/a.jpg");
        for (i, size) in [10, 20, 30, 40].into_iter().enumerate() {
            let now = t0 + Duration::from_secs(3 * i as u64);
            p.seen(0, path, stamp(size), now);
            assert!(
                !p.settled(path, now + Duration::from_secs(3)),
                "still growing at {size}"
            );
            assert!(
                p.waiting(now + Duration::from_secs(3)).is_empty(),
                "not looked at before it could settle"
            );
        }
        let last_change = t0 + Duration::from_secs(9);
        p.seen(0, path, stamp(40), last_change + Duration::from_secs(4));
        assert!(!p.settled(path, last_change + Duration::from_secs(4)));
        assert!(p.settled(path, last_change + Duration::from_secs(5)));
        assert_eq!(p.waiting(last_change + Duration::from_secs(5)).len(), 1);
        p.handed_on(path);
        assert!(p.waiting(last_change + Duration::from_secs(60)).is_empty());
        // Seen again unchanged: not handed on twice. Changed: it is back.
        p.seen(0, path, stamp(40), last_change + Duration::from_secs(70));
        assert!(p.waiting(last_change + Duration::from_secs(70)).is_empty());
        p.seen(0, path, stamp(41), last_change + Duration::from_secs(80));
        assert_eq!(p.len_waiting(), 1);
    }

    #[test]
    fn incomplete_files_are_looked_at_less_often() {
        let mut p = Pending::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let path = Path::new("/drop/b.jpg");
        p.seen(0, path, stamp(1), t0);
        p.incomplete(path, Duration::from_secs(600), t0);
        assert!(p.waiting(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(p.waiting(t0 + Duration::from_secs(10)).len(), 1);
    }

    #[test]
    fn keep_only_forgets_what_left() {
        let mut p = Pending::new(Duration::ZERO);
        let t0 = Instant::now();
        p.seen(0, Path::new("/d/a.jpg"), stamp(1), t0);
        p.seen(1, Path::new("/e/a.jpg"), stamp(1), t0);
        p.keep_only(0, &|_| false);
        assert_eq!(p.waiting(t0).len(), 1);
    }
}
