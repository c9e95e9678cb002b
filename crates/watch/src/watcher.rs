//! The drop-folder watcher: a task that turns native events, polls and
//! rescans into "this file is complete" arrivals on a bounded channel.
//!
//! Every source of news only says "look at this path"; whether a file is
//! complete is always decided the same way, by [`Pending`] (unchanged for
//! the settle window) and [`jpeg::find_end`] (the JPEG reaches its end
//! marker). So a missed or duplicated event can delay an arrival until the
//! next rescan, but never hand on a half-written file or one twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::complete;
use crate::config::{Mode, WatchConfig};
use crate::names::{Accept, Class};
use crate::pending::{Pending, Stamp};
use crate::{fskind, tree};

/// A drop folder to watch, and folders below it that are never arrivals
/// (the archive, report folders).
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
    pub skip: Vec<PathBuf>,
    /// Which file names are looked at.
    pub accept: Accept,
    /// Files larger than this are handed on without being read (the
    /// pipeline refuses them by size); the watcher never holds more.
    pub max_read: u64,
}

/// A complete file in root number `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub root: usize,
    pub path: PathBuf,
}

/// Handle of a running watcher; dropping it does not stop the task, `stop` does.
pub struct Watcher {
    stop: Arc<Notify>,
    rescan: Arc<Notify>,
    ready: watch::Receiver<bool>,
    waiting: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Watcher {
    /// Start watching `roots`; complete files are sent on `out`, whose
    /// bound is the backpressure: when it is full the watcher waits.
    pub fn spawn(roots: Vec<Root>, config: WatchConfig, out: mpsc::Sender<Arrival>) -> Watcher {
        let stop = Arc::new(Notify::new());
        let rescan = Arc::new(Notify::new());
        let (ready_tx, ready) = watch::channel(false);
        let waiting = Arc::new(AtomicUsize::new(0));
        let settle = config.settle();
        let task = Task {
            roots,
            config,
            out,
            pending: Pending::new(settle),
            polled: Vec::new(),
            natives: Vec::new(),
            stop: stop.clone(),
            waiting: waiting.clone(),
            warned_links: Default::default(),
        };
        let task = tokio::spawn(task.run(ready_tx, rescan.clone()));
        Watcher {
            stop,
            rescan,
            ready,
            waiting,
            task,
        }
    }

    /// Wait until the start-up scan has looked at every file already there.
    pub async fn initial_scan_done(&mut self) {
        let _ = self.ready.wait_for(|done| *done).await;
    }

    /// Look at every drop folder again now.
    pub fn rescan(&self) {
        self.rescan.notify_one();
    }

    /// Files seen but not yet complete (or not yet handed on).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

/// News from the native watcher thread.
enum Signal {
    Look(usize, PathBuf),
    Rescan(&'static str),
    Failed(usize, notify::Error),
}

struct Task {
    roots: Vec<Root>,
    config: WatchConfig,
    out: mpsc::Sender<Arrival>,
    pending: Pending,
    /// Roots that are polled rather than watched.
    polled: Vec<bool>,
    natives: Vec<Option<notify::RecommendedWatcher>>,
    stop: Arc<Notify>,
    waiting: Arc<AtomicUsize>,
    /// Links already reported (see `warn_once_about`).
    warned_links: std::collections::HashSet<PathBuf>,
}

impl Task {
    async fn run(mut self, ready: watch::Sender<bool>, rescan: Arc<Notify>) {
        let (signals, mut news) = mpsc::unbounded_channel();
        for i in 0..self.roots.len() {
            let native = self.start_native(i, &signals);
            self.polled.push(native.is_none());
            self.natives.push(native);
        }
        if !self.full_scan(None).await {
            return;
        }
        let _ = ready.send(true);

        // Files are only looked at once they could have settled, so a
        // short tick costs little and keeps the delay after settling small.
        let tick_every = (self.config.settle() / 10).clamp(Duration::from_millis(50), Duration::from_millis(250));
        let mut tick = tokio::time::interval(tick_every);
        let mut poll = tokio::time::interval(self.config.poll());
        let mut rescan_every = tokio::time::interval(self.config.rescan());
        for timer in [&mut tick, &mut poll, &mut rescan_every] {
            timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        }
        poll.reset();
        rescan_every.reset();
        loop {
            let polling = self.polled.iter().any(|p| *p);
            let go_on = tokio::select! {
                () = self.stop.notified() => false,
                Some(signal) = news.recv() => self.on_signal(signal).await,
                _ = tick.tick() => self.hand_on_complete().await,
                _ = poll.tick(), if polling => {
                    let polled: Vec<usize> = (0..self.roots.len()).filter(|&i| self.polled[i]).collect();
                    self.full_scan(Some(&polled)).await
                }
                _ = rescan_every.tick() => self.full_scan(None).await,
                () = rescan.notified() => self.full_scan(None).await,
            };
            if !go_on {
                break;
            }
        }
    }

    /// Native events for root `i`, or `None` when it is to be polled.
    fn start_native(&self, i: usize, signals: &mpsc::UnboundedSender<Signal>) -> Option<notify::RecommendedWatcher> {
        let dir = &self.roots[i].dir;
        let poll_every = self.config.poll_secs;
        let reason = match self.config.mode {
            Mode::Poll => Some("watch.mode = \"poll\"".to_string()),
            Mode::Native => None,
            Mode::Auto => fskind::remote_file_system(dir)
                .map(|fs| format!("{fs} delivers no events for files written from other machines")),
        };
        if let Some(reason) = reason {
            tracing::info!("polling {} every {poll_every} s: {reason}", dir.display());
            return None;
        }
        let tx = signals.clone();
        let handler = move |event: notify::Result<notify::Event>| match event {
            Ok(event) => {
                if event.need_rescan() {
                    let _ = tx.send(Signal::Rescan("the kernel's event queue overflowed"));
                }
                if matches!(event.kind, EventKind::Access(notify::event::AccessKind::Open(_))) {
                    return;
                }
                for path in event.paths {
                    let _ = tx.send(Signal::Look(i, path));
                }
            }
            Err(e) => {
                let _ = tx.send(Signal::Failed(i, e));
            }
        };
        let started =
            notify::recommended_watcher(handler).and_then(|mut w| w.watch(dir, RecursiveMode::Recursive).map(|()| w));
        match started {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::warn!(
                    "{}; polling {} every {poll_every} s instead",
                    explain(&e),
                    dir.display()
                );
                None
            }
        }
    }

    async fn on_signal(&mut self, signal: Signal) -> bool {
        match signal {
            Signal::Look(i, path) => {
                self.look(i, &path).await;
                true
            }
            Signal::Rescan(why) => {
                tracing::warn!("{why}: rescanning every drop folder so that no file is missed");
                self.full_scan(None).await
            }
            Signal::Failed(i, e) => {
                let out_of_watches = matches!(e.kind, notify::ErrorKind::MaxFilesWatch)
                    || matches!(&e.kind, notify::ErrorKind::Io(io) if matches!(io.raw_os_error(), Some(24 | 28)));
                let dir = self.roots[i].dir.display().to_string();
                if out_of_watches {
                    tracing::warn!(
                        "{}; polling {dir} every {} s instead",
                        explain(&e),
                        self.config.poll_secs
                    );
                    self.natives[i] = None;
                    self.polled[i] = true;
                } else {
                    tracing::warn!("watching {dir}: {e}; rescanning it");
                }
                self.full_scan(Some(&[i])).await
            }
        }
    }

    /// Something happened at `path` in root `i`.
    async fn look(&mut self, i: usize, path: &Path) {
        let root = &self.roots[i];
        if !wanted(root, path) {
            return;
        }
        match tokio::fs::symlink_metadata(path).await {
            Ok(meta) if meta.is_dir() => {
                // A folder moved or copied in: its files raised no events
                // of their own before the new watch was in place.
                let (drop, dir, skip, accept) = (
                    root.dir.clone(),
                    path.strip_prefix(&root.dir).unwrap_or(path).to_path_buf(),
                    root.skip.clone(),
                    root.accept.clone(),
                );
                if let Ok(Ok(found)) = tokio::task::spawn_blocking(move || {
                    let skip: Vec<&Path> = skip.iter().map(PathBuf::as_path).collect();
                    tree::walk_in(&drop, &dir, &skip, &accept)
                })
                .await
                {
                    let now = Instant::now();
                    for file in found.images.into_iter().chain(found.archives).chain(found.skeletal) {
                        if let Ok(meta) = std::fs::symlink_metadata(&file) {
                            self.pending.seen(i, &file, stamp(&meta), now);
                        }
                    }
                }
            }
            Ok(meta) if meta.is_file() && is_candidate(&root.accept, path) => {
                self.pending.seen(i, path, stamp(&meta), Instant::now())
            }
            Ok(_) => {}
            Err(_) => self.pending.gone(path),
        }
    }

    /// Walk the given roots (all when `None`) and note every file there;
    /// forget files that left. False when the watcher is stopping.
    async fn full_scan(&mut self, which: Option<&[usize]>) -> bool {
        let all: Vec<usize> = (0..self.roots.len()).collect();
        for &i in which.unwrap_or(&all) {
            let root = self.roots[i].clone();
            let walked = tokio::task::spawn_blocking(move || {
                let skip: Vec<&Path> = root.skip.iter().map(PathBuf::as_path).collect();
                let found = tree::walk(&root.dir, &skip, &root.accept)?;
                let stamped: Vec<(PathBuf, Stamp)> = found
                    .images
                    .into_iter()
                    .chain(found.archives)
                    .chain(found.skeletal)
                    .filter_map(|p| std::fs::symlink_metadata(&p).ok().map(|m| (p, stamp(&m))))
                    .collect();
                let links: Vec<PathBuf> = found.links.into_iter().chain(found.linked_folders).collect();
                Ok::<_, crate::WatchError>((stamped, links))
            });
            let stamped = tokio::select! {
                () = self.stop.notified() => return false,
                walked = walked => walked,
            };
            match stamped {
                Ok(Ok((stamped, links))) => {
                    self.warn_once_about(links);
                    let now = Instant::now();
                    let present: std::collections::HashSet<&Path> = stamped.iter().map(|(p, _)| p.as_path()).collect();
                    self.pending.keep_only(i, &|p| present.contains(p));
                    for (path, s) in &stamped {
                        self.pending.seen(i, path, *s, now);
                    }
                }
                Ok(Err(e)) => tracing::warn!("{e}"),
                Err(e) => tracing::warn!("scanning {}: {e}", self.roots[i].dir.display()),
            }
        }
        self.waiting.store(self.pending.len_waiting(), Ordering::Relaxed);
        true
    }

    /// Links are never followed (they could lead out of the drop folder);
    /// say so once per link, not at every rescan.
    fn warn_once_about(&mut self, links: Vec<PathBuf>) {
        for link in links {
            if self.warned_links.insert(link.clone()) {
                tracing::warn!(
                    "{}: a symbolic link, not followed (it could lead out of the drop folder); \
                     put the files or folder themselves there",
                    link.display()
                );
            }
        }
    }

    /// Hand on every file that has settled and is complete. False when the
    /// watcher is stopping.
    async fn hand_on_complete(&mut self) -> bool {
        let now = Instant::now();
        let mut due = self.pending.waiting(now);
        due.sort();
        for (root, path) in due {
            let Ok(meta) = tokio::fs::symlink_metadata(&path).await else {
                self.pending.gone(&path);
                continue;
            };
            let before = stamp(&meta);
            self.pending.seen(root, &path, before, now);
            if !self.pending.settled(&path, now) {
                continue;
            }
            if !self.complete(root, &path, before).await
                && self.pending.still_for(&path, now) < self.config.incomplete()
            {
                let later = self.config.rescan().min(self.config.incomplete());
                self.pending.incomplete(&path, later, now);
                continue;
            }
            let arrival = Arrival {
                root,
                path: path.clone(),
            };
            let sent = tokio::select! {
                () = self.stop.notified() => return false,
                sent = self.out.send(arrival) => sent.is_ok(),
            };
            if !sent {
                return false;
            }
            self.pending.handed_on(&path);
        }
        self.waiting.store(self.pending.len_waiting(), Ordering::Relaxed);
        true
    }

    /// Readable, unchanged while read, and not cut short (a JPEG reaches
    /// its end marker, a PNG its IEND chunk, a WebP its RIFF length). A
    /// file that is none of these is handed on: the pipeline says what it
    /// is. Archive masters are not read (they can be huge): they are only
    /// refused.
    async fn complete(&self, root: usize, path: &Path, before: Stamp) -> bool {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if self.roots[root].accept.classify(&name) == Class::Archive || before.size > self.roots[root].max_read {
            return true;
        }
        // Read as the pipeline reads it (from the drop folder's descriptor,
        // never through a link): a link or a hard link is handed on, and
        // the pipeline refuses it with the reason.
        let (drop, file, limit) = (
            self.roots[root].dir.clone(),
            path.to_path_buf(),
            self.roots[root].max_read,
        );
        let read = tokio::task::spawn_blocking(move || {
            let folder = specdrop_beneath::Folder::open(&drop)?;
            let (data, handle) = folder.read(&file, limit)?;
            let now = handle.metadata().map_err(|cause| specdrop_beneath::BeneathError::Io {
                path: file.clone(),
                cause,
            })?;
            Ok::<_, specdrop_beneath::BeneathError>((data, stamp(&now)))
        })
        .await;
        let (data, now) = match read {
            Ok(Ok(read)) => read,
            Ok(Err(e)) if e.io_kind().is_none() => return true,
            Ok(Err(e)) => {
                tracing::warn!("{} cannot be read yet ({e}); will look again", path.display());
                return false;
            }
            Err(e) => {
                tracing::warn!("{} cannot be read yet ({e}); will look again", path.display());
                return false;
            }
        };
        now == before && !matches!(complete::check(&data), complete::Arrived::Truncated(_))
    }
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        size: meta.len(),
        mtime: meta.modified().ok(),
    }
}

fn is_candidate(accept: &Accept, path: &Path) -> bool {
    path.file_name().is_some_and(|n| accept.wants(&n.to_string_lossy()))
}

/// Inside the root, outside its skipped folders, not in a hidden folder.
fn wanted(root: &Root, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(&root.dir) else {
        return false;
    };
    if root.skip.iter().any(|s| path.starts_with(s)) {
        return false;
    }
    let mut parts = relative.components().peekable();
    while let Some(part) = parts.next() {
        let name = part.as_os_str().to_string_lossy();
        if parts.peek().is_some() && name.starts_with('.') {
            return false;
        }
    }
    true
}

/// What an inotify failure means and which limit to raise.
fn explain(e: &notify::Error) -> String {
    let code = match &e.kind {
        notify::ErrorKind::MaxFilesWatch => Some(28),
        notify::ErrorKind::Io(io) => io.raw_os_error(),
        _ => None,
    };
    match code {
        Some(28) => "out of inotify watches (ENOSPC): raise the sysctl fs.inotify.max_user_watches \
                     (e.g. sysctl -w fs.inotify.max_user_watches=524288)"
            .into(),
        Some(24) => "out of file handles or inotify instances (EMFILE): raise the sysctl \
                     fs.inotify.max_user_instances or the service's LimitNOFILE"
            .into(),
        _ => format!("native file events unavailable ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named_in_the_warning() {
        let e = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
        assert!(explain(&e).contains("fs.inotify.max_user_watches"));
        let e = notify::Error::io(std::io::Error::from_raw_os_error(24));
        assert!(explain(&e).contains("fs.inotify.max_user_instances"));
    }

    #[test]
    fn skipped_and_hidden_folders_are_not_wanted() {
        let root = Root {
            dir: PathBuf::from("/drop"),
            skip: vec![PathBuf::from("/drop/_specdrop")],
            accept: Accept::default(),
            max_read: u64::MAX,
        };
        assert!(wanted(&root, Path::new("/drop/a.jpg")));
        assert!(wanted(&root, Path::new("/drop/day1/a.jpg")));
        assert!(!wanted(&root, Path::new("/drop/_specdrop/a.jpg")));
        assert!(!wanted(&root, Path::new("/drop/.Trash/a.jpg")));
        assert!(!wanted(&root, Path::new("/elsewhere/a.jpg")));
    }
}
