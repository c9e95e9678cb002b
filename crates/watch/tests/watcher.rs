//! The watcher on real folders: slow uploads, temporary names, renames,
//! polling. Settle windows are short (1 s) to keep the tests quick; every
//! wait for an arrival is a wait on the channel with a deadline.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use specdrop_watch::{Arrival, Mode, Root, WatchConfig, Watcher};
use tokio::sync::mpsc;
use tokio::time::timeout;

fn sample() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/LM_Validate_LowRes_7.jpg");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn config(mode: Mode) -> WatchConfig {
    WatchConfig {
        mode,
        settle_secs: 1,
        poll_secs: 1,
        rescan_mins: 10,
        incomplete_secs: 3600,
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    drop: PathBuf,
    archive: PathBuf,
    rx: mpsc::Receiver<Arrival>,
    watcher: Watcher,
}

async fn start(mode: Mode, before: impl FnOnce(&Path)) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let drop = dir.path().join("drop");
    let archive = drop.join("done");
    std::fs::create_dir_all(&archive).expect("create the drop and archive folders");
    before(&drop);
    let (tx, rx) = mpsc::channel(16);
    let roots = vec![Root {
        dir: drop.clone(),
        skip: vec![archive.clone()],
        accept: specdrop_watch::Accept::default(),
        max_read: u64::MAX,
    }];
    let mut watcher = Watcher::spawn(roots, config(mode), tx);
    watcher.initial_scan_done().await;
    Setup {
        _dir: dir,
        drop,
        archive,
        rx,
        watcher,
    }
}

impl Setup {
    async fn next(&mut self, within: Duration) -> Option<Arrival> {
        timeout(within, self.rx.recv()).await.ok().flatten()
    }

    /// Nothing arrives for `quiet` (settle window + a margin).
    async fn nothing_for(&mut self, quiet: Duration) {
        if let Some(a) = self.next(quiet).await {
            panic!("unexpected arrival {a:?}");
        }
    }
}

const SOON: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(1800);

#[tokio::test]
async fn a_slow_upload_is_handed_on_once_only_after_it_is_complete() {
    let mut s = start(Mode::Native, |_| {}).await;
    let data = sample();
    let path = s.drop.join("MICH-V-1390993.jpg");
    let mut file = std::fs::File::create(&path).expect("create the upload");
    // 64 KiB at a time with pauses shorter than the 1 s settle window: the
    // file keeps changing, and a JPEG without its end is never complete.
    for chunk in data.chunks(64 * 1024) {
        file.write_all(chunk).expect("write a chunk of the upload");
        file.flush().expect("flush the upload");
        if let Ok(Some(a)) = timeout(Duration::from_millis(400), s.rx.recv()).await {
            panic!("handed on while still being written: {a:?}");
        }
    }
    drop(file);
    let arrival = s.next(SOON).await.expect("the finished file never arrived");
    assert_eq!(arrival.path, path);
    s.nothing_for(QUIET).await;
    s.watcher.stop().await;
}

#[tokio::test]
async fn a_stalled_upload_without_its_end_is_never_handed_on() {
    let mut s = start(Mode::Native, |_| {}).await;
    let data = sample();
    let path = s.drop.join("MICH-V-1390995.jpg");
    std::fs::write(&path, &data[..data.len() / 2]).expect("write half an upload");
    s.nothing_for(Duration::from_secs(3)).await;
    std::fs::write(&path, &data).expect("write the rest of the upload");
    assert_eq!(s.next(SOON).await.map(|a| a.path), Some(path));
    s.watcher.stop().await;
}

#[tokio::test]
async fn a_temporary_name_waits_for_its_rename() {
    let mut s = start(Mode::Native, |_| {}).await;
    let part = s.drop.join("MICH-V-1390993.jpg.filepart");
    std::fs::write(&part, sample()).expect("write the upload under its temporary name");
    s.nothing_for(QUIET).await;
    let done = s.drop.join("MICH-V-1390993.jpg");
    std::fs::rename(&part, &done).expect("rename the finished upload");
    assert_eq!(s.next(SOON).await.map(|a| a.path), Some(done));
    s.nothing_for(QUIET).await;
    s.watcher.stop().await;
}

#[tokio::test]
async fn files_already_there_and_folders_moved_in_arrive_but_not_the_archive() {
    let data = sample();
    let mut s = start(Mode::Native, |drop| {
        std::fs::create_dir_all(drop.join("day1")).expect("create a day folder");
        std::fs::write(drop.join("day1/a.jpg"), &data).expect("write a sheet already there");
    })
    .await;
    assert_eq!(s.next(SOON).await.map(|a| a.path), Some(s.drop.join("day1/a.jpg")));

    std::fs::write(s.archive.join("archived.jpg"), sample()).expect("write a sheet into the archive");
    let outside = s.drop.parent().map(|p| p.join("box7")).unwrap_or_default();
    std::fs::create_dir_all(&outside).expect("create a folder outside");
    std::fs::write(outside.join("b.jpg"), sample()).expect("write a sheet outside");
    std::fs::rename(&outside, s.drop.join("box7")).expect("move the folder into the drop folder");
    assert_eq!(s.next(SOON).await.map(|a| a.path), Some(s.drop.join("box7/b.jpg")));
    s.nothing_for(QUIET).await;
    s.watcher.stop().await;
}
