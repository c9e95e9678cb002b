//! Poll mode in a process of its own: it counts the process's inotify
//! instances, which watcher tests running beside it would change.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use specdrop_watch::{Mode, Root, WatchConfig, Watcher};
use tokio::sync::mpsc;
use tokio::time::timeout;

fn inotify_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("inotify")))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "current_thread")]
async fn poll_mode_finds_files_without_inotify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = inotify_fds();
    let (tx, mut rx) = mpsc::channel(4);
    let config = WatchConfig {
        mode: Mode::Poll,
        settle_secs: 1,
        poll_secs: 1,
        rescan_mins: 10,
        incomplete_secs: 3600,
    };
    let roots = vec![Root {
        dir: dir.path().to_path_buf(),
        skip: Vec::new(),
        accept: specdrop_watch::Accept::default(),
        max_read: u64::MAX,
    }];
    let mut watcher = Watcher::spawn(roots, config, tx);
    watcher.initial_scan_done().await;
    assert_eq!(inotify_fds(), before, "poll mode opened an inotify instance");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/LM_Validate_LowRes_7.jpg");
    let path = dir.path().join("MICH-V-1390993.jpg");
    std::fs::copy(&sample, &path).unwrap_or_else(|e| panic!("{}: {e}", sample.display()));
    // poll_secs + settle_secs, plus a margin for the tick.
    let arrival = timeout(Duration::from_secs(4), rx.recv()).await.ok().flatten();
    assert_eq!(arrival.map(|a| a.path), Some(path));
    watcher.stop().await;
}
