//! Symbolic links planted in a drop folder by anyone who can write the
//! share: where specdrop writes its result files and report, where it
//! reads skeletal files, and a sub-folder swapped for a link before a
//! parked file is retried. Nothing outside the drop folder may be read
//! or changed, and the link is reported, never followed.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;

const SECRET: &[u8] = b"db_password = \"hunter2-not-for-reports\"\n";

/// Every file below `dir` with its bytes (links planted by the test
/// are not read through).
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_below(dir)
        .into_keys()
        .filter(|p| !is_link(p))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// No file below `dir` holds the secret.
fn no_secret_below(dir: &Path) {
    for (path, bytes) in contents(dir) {
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET) && !String::from_utf8_lossy(&bytes).contains("hunter2"),
            "the secret reached {}",
            path.display()
        );
    }
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[tokio::test]
async fn links_planted_where_specdrop_writes_and_reads_change_nothing_outside() {
    let env = Env::new(Backend::Sqlite).await;
    let drop = env.path("var/drop/mich");
    // A first scan archives an original and makes the report folder.
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);
    // A second sheet to link in the run with the links: its thumbnail
    // must not be copied through the linked thumbnails' folder.
    env.drop_sample(SMALL_9, "MICH-V-1390995.jpg");
    let original = env.path("var/archive/mich/MICH-V-1390992.jpg");
    assert!(original.is_file(), "archived");
    env.write_file("outside/secret.toml", SECRET);
    env.write_file(
        "outside/rows.csv",
        b"catalogNumber,municipality\n1390993,Planted Town\n",
    );
    env.write_file("outside/MICH-V-1390993.jpg", &sample(SMALL_8));

    // The attack: a refused skeletal file whose result file's name
    // is a link to the archived original.
    env.drop_text("var/drop/mich/bad.csv", b"no_such_field\nx\n");
    symlink(&original, drop.join("bad.csv.result.txt")).expect("plant the result link");
    // A skeletal file that is a link to rows outside.
    symlink(env.path("outside/rows.csv"), drop.join("linked.csv")).expect("plant a skeletal link");
    // A linked sub-folder holding a sheet with a record.
    symlink(env.path("outside"), drop.join("elsewhere")).expect("plant a folder link");
    // Every report file a link: to the secret (appending today's rows or
    // rewriting the page would land there) and to the original.
    let report = drop.join("_specdrop");
    let report_files: Vec<PathBuf> = std::fs::read_dir(&report)
        .expect("the report folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(
        report_files.len() >= 4,
        "a day's CSV, waiting.csv, index.html, thumbs: {report_files:?}"
    );
    for (i, file) in report_files.iter().enumerate() {
        let target = if file.is_dir() {
            // The thumbnails' folder: a link to the folder outside.
            std::fs::remove_dir_all(file).expect("remove the thumbnails");
            env.path("outside")
        } else {
            std::fs::remove_file(file).expect("remove a report file");
            if i % 2 == 0 {
                env.path("outside/secret.toml")
            } else {
                original.clone()
            }
        };
        symlink(target, file).expect("plant a report link");
    }
    let outside_before = contents(&env.path("outside"));
    let rows_before = env.image_rows().await;
    let original_before = std::fs::read(&original).expect("read the original");

    let run = env.scan();
    run.assert_line("bad.csv", "refused");
    run.assert_line("bad.csv", "result file was not written");
    run.assert_line("bad.csv", "symbolic link");
    run.assert_line("linked.csv", "refused: a symbolic link");
    run.assert_line("elsewhere", "symbolic link (to a folder?), not entered");
    assert_eq!(
        run.stdout.matches("elsewhere").count(),
        1,
        "reported once: {}",
        run.stdout
    );

    assert_eq!(
        std::fs::read(&original).expect("original"),
        original_before,
        "the original is untouched"
    );
    assert_eq!(
        contents(&env.path("outside")),
        outside_before,
        "nothing outside changed"
    );
    assert!(
        env.path("outside/MICH-V-1390993.jpg").exists(),
        "not moved into the archive"
    );
    run.assert_line("MICH-V-1390995.jpg", "occid 205");
    assert_eq!(
        env.image_rows().await,
        rows_before + 1,
        "only the sheet in the drop folder linked"
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM omoccurrences WHERE municipality = 'Planted Town'")
            .await,
        0,
        "the linked rows were never applied"
    );
    for file in report_files.iter().chain([&drop.join("bad.csv.result.txt")]) {
        assert!(is_link(file), "{} left as it was", file.display());
    }
    no_secret_below(&drop);
    no_secret_below(&env.path("var/archive"));
    let warned = format!("{}{}", run.stdout, run.stderr);
    assert!(!warned.contains("hunter2"), "the secret reached the output");
}

#[tokio::test]
async fn a_report_folder_that_is_a_link_is_refused_and_nothing_is_written_there() {
    let env = Env::new(Backend::Sqlite).await;
    let drop = env.path("var/drop/mich");
    std::fs::create_dir_all(&drop).expect("drop folder");
    env.write_file("outside/secret.toml", SECRET);
    symlink(env.path("outside"), drop.join("_specdrop")).expect("plant the report folder link");
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [1, 0, 0, 0, 1], "processing goes on: {}", run.stdout);
    run.assert_line("_specdrop", "not entered");
    assert_eq!(
        files_below(&env.path("outside")).into_keys().collect::<Vec<_>>(),
        [env.path("outside/secret.toml")],
        "no report written through the link"
    );
    assert!(
        run.stderr.contains("_specdrop") && run.stderr.contains("symbolic link"),
        "the refusal is told: {}",
        run.stderr
    );
}

#[tokio::test]
async fn a_sub_folder_swapped_for_a_link_before_a_retry_is_refused() {
    let env = Env::new(Backend::Sqlite).await;
    let drop = env.path("var/drop/mich");
    // Parked: no record for this number yet; its path is in waiting.csv.
    env.write_file("var/drop/mich/day1/MICH-V-7654321.jpg", &sample(SMALL_9));
    assert_eq!(env.scan().summary(), [0, 1, 0, 0, 0]);
    let rows_before = env.image_rows().await;
    let waiting = std::fs::read_to_string(drop.join("_specdrop/waiting.csv")).expect("waiting.csv");
    assert!(waiting.contains("day1/MICH-V-7654321.jpg"), "{waiting}");
    // The record appears, and someone swaps day1 for a link to a folder
    // outside holding somebody else's file of that name.
    env.execute("INSERT INTO omoccurrences (occid, collid, catalogNumber) VALUES (299, 2, '7654321')")
        .await;
    env.write_file("outside/MICH-V-7654321.jpg", &distinct(&sample(SMALL_8), "not ours"));
    let bait = std::fs::read(env.path("outside/MICH-V-7654321.jpg")).expect("bait");
    std::fs::rename(drop.join("day1"), env.path("var/day1-moved")).expect("move day1 away");
    symlink(env.path("outside"), drop.join("day1")).expect("swap in a link");

    let run = env.cli(&["retry", "--parked"]);
    run.assert_line("day1/MICH-V-7654321.jpg", "is a symbolic link");
    assert_eq!(run.summary()[0], 0, "nothing linked: {}", run.stdout);
    assert_eq!(env.image_rows().await, rows_before);
    assert_eq!(
        std::fs::read(env.path("outside/MICH-V-7654321.jpg")).expect("the bait stays"),
        bait
    );
    assert!(env.files_under("var/archive").is_empty(), "nothing archived");
}

#[tokio::test]
async fn the_daemon_tells_of_a_linked_sub_folder_once() {
    let env = Env::new(Backend::Sqlite).await;
    // Polled every second: a full walk each time, each one sees the link.
    env.quick_watch("mode = \"poll\"");
    let drop = env.path("var/drop/mich");
    std::fs::create_dir_all(&drop).expect("drop folder");
    env.write_file("outside/MICH-V-1390993.jpg", &sample(SMALL_8));
    symlink(env.path("outside"), drop.join("elsewhere")).expect("plant a folder link");
    // Told in the start-up walk, before "watching".
    let mut daemon = env.start_watching();
    assert!(
        daemon
            .seen
            .iter()
            .any(|l| l.contains("elsewhere: a symbolic link, not followed")),
        "{:?}",
        daemon.seen
    );
    // Several walks later (the sheet is taken after its settle time)...
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    daemon.reports_for(&["MICH-V-1390992.jpg"], Duration::from_secs(60));
    daemon.lines_for(Duration::from_millis(2500));
    let told: Vec<&String> = daemon.seen.iter().filter(|l| l.contains("elsewhere")).collect();
    assert_eq!(told.len(), 1, "told once: {told:?}");
    assert!(env.path("outside/MICH-V-1390993.jpg").exists(), "never taken");
    daemon.stop_cleanly();
}
