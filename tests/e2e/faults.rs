//! Faults while the daemon runs: the database going away mid-batch, the
//! image library's file system filling up, and the limits that protect
//! the host from one oversized file.

use std::time::{Duration, Instant};

use crate::support::*;

const SOON: Duration = Duration::from_secs(20);

fn status(env: &Env) -> serde_json::Value {
    let run = env.cli(&["status", "--json"]);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn outcome_lines<'a>(lines: &'a [String], file: &str) -> Vec<&'a String> {
    lines.iter().filter(|l| l.contains(&format!(" {file}:"))).collect()
}

#[tokio::test]
async fn a_database_outage_mid_batch_makes_files_wait_and_all_link_after_it() {
    let env = Env::new(Backend::MariaDb).await;
    let port = free_port();
    let (server, proxied) = through_port(&env.db_url, port);
    let proxy = Proxy::start(port, &server);
    env.edit_config(&env.db_url.clone(), &proxied);
    env.quick_watch("");
    let mut daemon = env.start_watching();
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    let first = daemon.wait_for("MICH-V-1390993.jpg:", SOON);
    assert!(first.starts_with("linked"), "{first}");

    proxy.set_up(false);
    let names = ["MICH-V-1390993_a.jpg", "MICH-V-1390993_b.jpg", "MICH-V-0045678.jpg"];
    for (i, name) in names.iter().enumerate() {
        env.write_file(
            &format!("var/drop/mich/{name}"),
            &distinct(&sample(SMALL_8), &format!("outage {i}")),
        );
    }
    let warning = daemon.wait_for("portal database unavailable", SOON);
    assert!(warning.contains("tries again"), "{warning}");
    // status shows the outage while it lasts.
    let s = poll(
        SOON,
        || status(&env),
        |s| s["daemon"]["database_unavailable_secs"].is_u64(),
    );
    assert!(
        s["daemon"]["database_unavailable_secs"].is_u64(),
        "status never showed the outage: {s}"
    );
    let during = daemon.lines_for(Duration::from_secs(3));
    for name in names {
        assert!(
            outcome_lines(&during, name).is_empty(),
            "{name} was given an outcome during the outage: {during:?}"
        );
    }

    proxy.set_up(true);
    let reports = daemon.reports_for(&names, Duration::from_secs(90));
    for report in &reports {
        assert!(report.starts_with("linked"), "{report}");
    }
    assert_eq!(
        env.media_of(202).await.len(),
        3,
        "one row per distinct file, none twice"
    );
    assert_eq!(env.media_of(203).await.len(), 1);
    assert!(env.files_under("var/drop/mich").is_empty());
    let gave_up: Vec<&String> = daemon
        .seen
        .iter()
        .filter(|l| l.starts_with("failed ") || l.starts_with("parked "))
        .collect();
    assert!(gave_up.is_empty(), "{gave_up:?}");
    daemon.stop_cleanly();
}

/// Mount a tmpfs of `size` on `dir`; `false` (and a loud message) where
/// this machine does not allow it.
fn small_filesystem(dir: &std::path::Path, size: &str, test: &str) -> bool {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output();
    match mounted {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            let why = format!(
                "cannot mount a small file system ({}); it needs root",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            crate::support::cannot_run_here(test, &why);
            false
        }
        Err(e) => {
            crate::support::cannot_run_here(test, &format!("no mount command ({e})"));
            false
        }
    }
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_image_library_makes_the_file_wait_and_it_links_when_space_returns() {
    let env = Env::new(Backend::Sqlite).await;
    let library = env.path("var/www/imglib");
    if !small_filesystem(&library, "1700k", "the disk-full test") {
        return;
    }
    let _unmount = Unmount(library.clone());
    env.quick_watch("");
    let mut daemon = env.start_watching();

    // A full sheet makes about 1.2 MB of derivatives: the first fits, the
    // second does not.
    env.drop_sample(FULL_1390992, "MICH-V-1390992.jpg");
    let first = daemon.wait_for("MICH-V-1390992.jpg:", SOON);
    assert!(first.starts_with("linked"), "{first}");
    let kept = env.files_under("var/www/imglib");
    let original = sample(FULL_1449838);
    env.write_file("var/drop/mich/MICH-V-0045678.jpg", &original);
    // Not failed: it waits, as for a database outage, with a warning.
    let warning = daemon.wait_for("storage unavailable", SOON);
    assert!(warning.contains("No space left on device"), "{warning}");
    assert!(daemon.seen_for("MICH-V-0045678.jpg").is_empty(), "{:?}", daemon.seen);
    assert_eq!(env.files_under("var/www/imglib"), kept, "no partial derivative");
    let hidden: Vec<String> = files_below(&library)
        .into_keys()
        .map(|f| f.display().to_string())
        .filter(|f| f.contains(".specdrop-"))
        .collect();
    assert!(hidden.is_empty(), "temporary files left: {hidden:?}");
    assert_eq!(
        std::fs::read(env.path("var/drop/mich/MICH-V-0045678.jpg")).unwrap_or_default(),
        original,
        "the source is untouched"
    );
    assert!(env.media_of(203).await.is_empty(), "no row without its files");

    // Space comes back: the waiting file links by itself.
    let remount = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&library)
        .status()
        .expect("run mount -o remount");
    assert!(remount.success());
    let again = daemon.wait_for("MICH-V-0045678.jpg:", Duration::from_secs(90));
    assert!(again.starts_with("linked"), "{again}");
    assert_eq!(env.media_of(203).await.len(), 1);
    daemon.stop_cleanly();
}

#[tokio::test]
async fn a_source_over_max_file_mb_is_refused_before_it_is_read() {
    let env = Env::new(Backend::Sqlite).await;
    env.edit_config("[storage]", "[derive]\nmax_file_mb = 1\n\n[storage]");
    // A real sheet with 2 MiB of trailer after its end marker: complete,
    // valid, and too big.
    let mut big = sample(SMALL_7);
    big.extend(std::iter::repeat_n(0u8, 2 << 20));
    env.write_file("var/drop/mich/MICH-V-1390993.jpg", &big);
    env.drop_sample(SMALL_8, "MICH-V-0045678.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [1, 0, 0, 1, 0], "{}", run.stdout);
    let line = run.line_for("MICH-V-1390993.jpg");
    assert!(line.contains("more than derive.max_file_mb = 1"), "{line}");
    assert!(env.path("var/drop/mich/MICH-V-1390993.jpg").exists());
}

#[tokio::test]
async fn a_file_that_never_completes_is_reported_once() {
    let env = Env::new(Backend::Sqlite).await;
    env.quick_watch("incomplete_secs = 3");
    let mut daemon = env.start_watching();
    let sheet = sample(SMALL_7);
    let started = Instant::now();
    env.write_file("var/drop/mich/MICH-V-1390993.jpg", &sheet[..sheet.len() / 2]);
    let line = daemon.wait_for("MICH-V-1390993.jpg:", SOON);
    assert!(line.starts_with("skipped") && line.contains("incomplete"), "{line}");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "reported before watch.incomplete_secs: {line}"
    );
    let later = daemon.lines_for(Duration::from_secs(5));
    assert!(
        outcome_lines(&later, "MICH-V-1390993.jpg").is_empty(),
        "reported twice: {later:?}"
    );
    // The rest of the upload arrives: now it is taken.
    env.write_file("var/drop/mich/MICH-V-1390993.jpg", &sheet);
    let line = daemon.wait_for("MICH-V-1390993.jpg:", SOON);
    assert!(line.starts_with("linked"), "{line}");
    daemon.stop_cleanly();
}

#[tokio::test]
async fn an_archive_on_another_file_system_gets_a_checked_copy_and_never_replaces() {
    let env = Env::new(Backend::Sqlite).await;
    let archive = env.path("var/archive/mich");
    if !small_filesystem(&archive, "64m", "the cross-device archive test") {
        return;
    }
    let _unmount = Unmount(archive.clone());
    {
        use std::os::unix::fs::MetadataExt as _;
        let dev = |p: &std::path::Path| std::fs::metadata(p).expect("stat").dev();
        std::fs::create_dir_all(env.path("var/drop/mich")).expect("drop folder");
        assert_ne!(dev(&archive), dev(&env.path("var/drop/mich")), "two file systems");
    }
    let first = sample(SMALL_7);
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);
    // Same name, other bytes, another specimen's number in its folder: a
    // second archived file of that name must not replace the first.
    let second = distinct(&sample(SMALL_8), "second upload");
    env.write_file("var/drop/mich/MICH-V-1390992.jpg", &second);
    env.edit_config("[[collection]]", "[[collection]]\nexisting_image = \"add\"");
    let run = env.scan();
    assert_eq!(run.summary()[0], 1, "{}", run.stdout);
    assert_eq!(
        std::fs::read(archive.join("MICH-V-1390992.jpg")).expect("the first archived copy"),
        first,
        "copied byte for byte across file systems"
    );
    assert_eq!(
        std::fs::read(archive.join("MICH-V-1390992_1.jpg")).expect("the second archived copy"),
        second,
        "the second under a new name"
    );
    assert_eq!(
        env.files_under("var/archive/mich"),
        ["MICH-V-1390992.jpg", "MICH-V-1390992_1.jpg"],
        "no temporary copy left"
    );
    assert!(
        env.files_under("var/drop/mich").is_empty(),
        "sources removed once copied"
    );
}
