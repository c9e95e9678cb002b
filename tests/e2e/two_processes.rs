//! Two specdrop processes on one config (the daemon and a `scan` beside
//! it, as the state-folder lock allows) never work on the same file,
//! never link one image twice and never make two skeletal records for one
//! catalog number.

use std::time::Duration;

use crate::support::*;

const FILES: u32 = 40;

#[tokio::test]
async fn a_daemon_and_a_scan_on_the_same_files_link_each_once() {
    let env = Env::new(Backend::MariaDb).await;
    env.write_config("unmatched = \"skeletal\"");
    env.quick_watch("");
    let small = sample(SMALL_7);
    env.drop_specimens(&small, 7_000_000, 5000, FILES).await;
    // Two sheets of one specimen that has no record yet.
    for name in ["MICH-V-8000001.jpg", "MICH-V-8000001_b.jpg"] {
        env.write_file(&format!("var/drop/mich/{name}"), &distinct(&small, name));
    }
    let total = FILES as usize + 2;

    // The scan starts once the daemon is at work on the same files.
    let mut daemon = env.start_daemon(&[]);
    daemon.wait_for("MICH-V-70000", Duration::from_secs(30));
    let scan = env.scan();
    let drop = env.path("var/drop/mich");
    let left = poll(
        Duration::from_secs(120),
        || {
            env.files_under("var/drop/mich")
                .into_iter()
                .filter(|f| f.ends_with(".jpg"))
                .count()
        },
        |n| *n == 0,
    );
    assert_eq!(
        left,
        0,
        "files still in {}: {:?}",
        drop.display(),
        env.files_under("var/drop/mich")
    );
    daemon.lines_for(Duration::from_secs(2));
    let daemon_lines = daemon.seen.clone();
    daemon.stop_cleanly();
    let by_scan = scan
        .stdout
        .lines()
        .filter(|l| l.starts_with("linked") || l.starts_with("skeletal"))
        .count();
    let left_to_daemon = scan.stdout.matches("left to another").count();
    eprintln!("the scan linked {by_scan} of {total}; left to the daemon: {left_to_daemon}");
    let mut lines: Vec<String> = scan.stdout.lines().map(str::to_string).collect();
    lines.extend(daemon_lines);
    let outcome = |l: &String, kind: &str| l.starts_with(kind) && l.contains(" MICH-V ");
    let done = lines
        .iter()
        .filter(|l| outcome(l, "linked") || outcome(l, "skeletal"))
        .count();
    assert_eq!(
        done,
        total,
        "each file linked once between the two:\n{}",
        lines.join("\n")
    );
    for l in &lines {
        assert!(
            !outcome(l, "failed") && !l.contains("NOT archived"),
            "{l}\n{}",
            lines.join("\n")
        );
    }

    let (table, _) = env.table();
    let rows = env
        .count(&format!(
            "SELECT COUNT(*) FROM {table} WHERE occid BETWEEN 5000 AND 5039"
        ))
        .await;
    assert_eq!(rows, i64::from(FILES), "one row per sheet");
    let doubled = env
        .count(&format!(
            "SELECT COUNT(*) FROM (SELECT url FROM {table} GROUP BY url HAVING COUNT(*) > 1) d"
        ))
        .await;
    assert_eq!(doubled, 0, "an image linked twice");
    let records = env
        .count("SELECT COUNT(*) FROM omoccurrences WHERE catalogNumber = '8000001'")
        .await;
    assert_eq!(records, 1, "two skeletal records for one catalog number");
    let archived = env.files_under("var/archive/mich");
    assert_eq!(archived.len(), total, "every original archived once: {archived:?}");
}
