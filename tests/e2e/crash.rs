//! Crash safety: `specdrop run` killed with SIGKILL at random moments in a
//! batch of real sheets, then a scan that lets it finish. Afterwards every
//! original is in the archive with exactly one image row whose
//! derivatives exist (three files; two for a 1400×2100 sheet, whose large
//! image is also its web image), or still in the drop folder with its reason; no row
//! is doubled, no derivative is orphaned, the ledger agrees with the
//! portal. 60 files and 5 kills here; `SPECDROP_FULL=1` makes it 300 and
//! 20, and `SPECDROP_CRASH_SEED` repeats a run's moments.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use sqlx::{Connection as _, Row as _};

use crate::support::*;

const SOON: Duration = Duration::from_secs(30);
/// Every this-many-th file has no specimen and is parked.
const UNMATCHED_EVERY: usize = 6;
/// Every this-many-th file is a full ~21 MP sheet; the others are
/// 1400×2100 ones.
const FULL_EVERY: usize = 10;

/// xorshift64*: enough to spread kill moments, and repeatable from a seed.
struct Moments(u64);

impl Moments {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn file_name(i: usize) -> String {
    format!("MICH-V-{}.jpg", 4_000_000 + i)
}

fn matched(i: usize) -> bool {
    i % UNMATCHED_EVERY != UNMATCHED_EVERY - 1
}

/// (file name, bytes) of the batch: distinct contents, mixed sizes.
fn batch(files: usize) -> Vec<(String, Vec<u8>)> {
    let (full, small) = (
        sample(FULL_1390992),
        [sample(SMALL_7), sample(SMALL_8), sample(SMALL_9)],
    );
    (0..files)
        .map(|i| {
            let base = if i % FULL_EVERY == 0 { &full } else { &small[i % 3] };
            (file_name(i), distinct(base, &format!("crash {i}")))
        })
        .collect()
}

async fn killed_at_random_moments(backend: Backend) {
    let full_run = std::env::var("SPECDROP_FULL").is_ok_and(|v| v == "1");
    let (files, kills) = if full_run { (300, 20) } else { (60, 5) };
    let seed = std::env::var("SPECDROP_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("crash harness ({backend:?}): {files} files, {kills} kills, SPECDROP_CRASH_SEED={seed}");
    let mut moments = Moments(seed);

    let env = Env::new(backend).await;
    env.quick_watch("");
    let (table, id) = env.table();
    let seeded_rows = env.image_rows().await;
    {
        let mut db = env.db().await;
        for i in (0..files).filter(|i| matched(*i)) {
            sqlx::query(
                "INSERT INTO omoccurrences (collid, catalogNumber, processingStatus) VALUES (2, ?, 'unprocessed')",
            )
            .bind((4_000_000 + i).to_string())
            .execute(&mut db)
            .await
            .expect("insert a specimen of the batch");
        }
    }
    let batch = batch(files);
    for (name, data) in &batch {
        env.write_file(&format!("var/drop/mich/{name}"), data);
    }

    // Each kill comes at a random moment up to 0.8 s after a file was
    // reported, so it lands while others are being decoded, written,
    // linked or archived.
    let mut removed_at_start = 0;
    let mut reported_before_kills = Vec::new();
    for _ in 0..kills {
        let mut daemon = env.start_daemon(&[]);
        let mut reported = 0;
        while let Some(line) = daemon.next_line(SOON) {
            if line.contains("MICH-V-4") {
                reported += 1;
                break;
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_millis(moments.below(800));
        while let Some(line) = daemon.next_line(deadline.saturating_duration_since(std::time::Instant::now())) {
            reported += usize::from(line.contains("MICH-V-4"));
        }
        let lines = daemon.kill_hard();
        removed_at_start += removed_count(&lines);
        reported_before_kills.push(reported);
    }

    let finish = env.scan();
    assert_eq!(finish.code, 0, "{}\n{}", finish.stdout, finish.stderr);
    removed_at_start += removed_count(&finish.stderr.lines().map(str::to_string).collect::<Vec<_>>());

    // Every original: archived and linked once, or waiting with a reason.
    let mut db = env.db().await;
    let mut linked_files = BTreeSet::new();
    let mut referenced = BTreeSet::new();
    for (i, (name, data)) in batch.iter().enumerate() {
        let dropped = env.path(&format!("var/drop/mich/{name}"));
        let archived = env.path(&format!("var/archive/mich/{name}"));
        let rows = sqlx::query(&format!(
            "SELECT {id}, url, thumbnailUrl, originalUrl FROM {table} WHERE sourceIdentifier = ?"
        ))
        .bind(format!("filename: {name}"))
        .fetch_all(&mut db)
        .await
        .unwrap_or_else(|e| panic!("{name}: image rows: {e}"));
        if matched(i) {
            assert!(
                !dropped.exists(),
                "{name} has a specimen but is still in the drop folder"
            );
            let kept = std::fs::read(&archived).unwrap_or_else(|e| panic!("{name} lost: not in the archive ({e})"));
            assert!(kept == *data, "{name}: the archived copy differs from the original");
            assert_eq!(rows.len(), 1, "{name}: {} image rows, want exactly one", rows.len());
            for column in 1..=3 {
                let url: String = rows[0]
                    .try_get(column)
                    .unwrap_or_else(|e| panic!("{name}: url column {column}: {e}"));
                let file = env.served(&url);
                assert!(file.is_file(), "{name}: {url} is in the row but not on disk");
                referenced.insert(file);
            }
            linked_files.insert(name.clone());
        } else {
            let kept = std::fs::read(&dropped).unwrap_or_else(|e| panic!("{name} lost: not in the drop folder ({e})"));
            assert!(kept == *data, "{name}: changed in the drop folder");
            assert!(!archived.exists(), "{name} has no specimen but was archived");
            assert!(rows.is_empty(), "{name} has no specimen but got a row");
            assert!(finish.line_for(name).starts_with("parked"), "{}", finish.line_for(name));
        }
    }
    let rows = env.image_rows().await;
    assert_eq!(rows - seeded_rows, linked_files.len() as i64, "duplicate image rows");

    // No derivative without a row, no temporary file.
    let orphans = env.orphans(&referenced);
    assert!(orphans.is_empty(), "derivatives no row points to: {orphans:?}");

    // The ledger agrees with the portal.
    let mut ledger = env.ledger().await;
    let entries = sqlx::query("SELECT source, outcome, media_id FROM files")
        .fetch_all(&mut ledger)
        .await
        .expect("read the ledger's files");
    let mut by_outcome: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &entries {
        let (source, outcome): (String, String) = (entry.get(0), entry.get(1));
        *by_outcome.entry(outcome.clone()).or_default() += 1;
        let name = source.rsplit('/').next().unwrap_or_default().to_string();
        if outcome == "linked" {
            let media_id: i64 = entry.try_get(2).unwrap_or_else(|e| panic!("{name}: no media id: {e}"));
            let source_of_row: String = sqlx::query(&format!("SELECT sourceIdentifier FROM {table} WHERE {id} = ?"))
                .bind(media_id)
                .fetch_one(&mut db)
                .await
                .unwrap_or_else(|e| panic!("{name}: the ledger's media {media_id} is not in the portal: {e}"))
                .get(0);
            assert_eq!(source_of_row, format!("filename: {name}"), "ledger and portal disagree");
        }
    }
    assert_eq!(
        by_outcome.get("linked").copied().unwrap_or(0),
        linked_files.len(),
        "{by_outcome:?}"
    );
    assert_eq!(
        by_outcome.get("parked").copied().unwrap_or(0),
        files - linked_files.len(),
        "{by_outcome:?}"
    );
    assert_eq!(env.open_claims().await, 0, "claims left unsettled");

    eprintln!(
        "crash harness ({backend:?}): {kills} SIGKILLs survived (files reported before each: {reported_before_kills:?}); \
         {files} originals checked: {} archived with one row each, whose {} derivative files all exist, \
         {} parked in place; {} rows checked, 0 duplicates, 0 lost, 0 orphans; \
         {removed_at_start} unlinked derivative(s) removed at start-up",
        linked_files.len(),
        referenced.len(),
        files - linked_files.len(),
        rows - seeded_rows,
    );
}

/// Derivatives the start-up clean-up reported removing.
fn removed_count(lines: &[String]) -> usize {
    lines
        .iter()
        .filter_map(|l| {
            let (_, rest) = l.split_once("removed ")?;
            rest.contains("derivative file(s) an interrupted run")
                .then(|| rest.split(' ').next()?.parse::<usize>().ok())?
        })
        .sum()
}

#[tokio::test]
async fn sigkill_at_random_moments_loses_and_doubles_nothing_sqlite() {
    killed_at_random_moments(Backend::Sqlite).await;
}

#[tokio::test]
async fn sigkill_at_random_moments_loses_and_doubles_nothing_mariadb() {
    killed_at_random_moments(Backend::MariaDb).await;
}

/// Killed exactly between a file's derivatives appearing and its row (a
/// test hook aborts there): the next start removes them and the file is
/// linked once, with nothing left over.
#[tokio::test]
async fn killed_between_derivatives_and_row_leaves_nothing_behind() {
    let env = Env::new(Backend::Sqlite).await;
    env.drop_sample(FULL_1390992, "MICH-V-1390993.jpg");
    // The scan runs in a child process (this test binary again, running
    // only the ignored test below) whose checkpoints abort it there: the
    // release binary has no such hook.
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let killed = without_specdrop_env(Command::new(test_binary))
        .args([
            "crash::scan_that_dies_after_store",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_FOLDER, env.dir.path())
        .output()
        .expect("run the child process");
    let child_said = String::from_utf8_lossy(&killed.stderr);
    assert!(
        !killed.status.success(),
        "the checkpoint did not stop the run: {child_said}"
    );
    assert!(
        !child_said.contains("did not abort"),
        "the child's scan finished: {child_said}"
    );
    let left = env.files_under("var/www/imglib");
    assert_eq!(left.len(), 3, "derivatives in place when it died: {left:?}");
    assert_eq!(env.media_of(202).await.len(), 0, "no row yet");
    assert_eq!(env.open_claims().await, 3, "they were claimed before they appeared");

    let next = env.scan();
    assert_eq!(next.summary(), [1, 0, 0, 0, 0], "{}\n{}", next.stdout, next.stderr);
    assert_eq!(
        removed_count(&next.stderr.lines().map(str::to_string).collect::<Vec<_>>()),
        3,
        "{}",
        next.stderr
    );
    let media = env.media_of(202).await;
    assert_eq!(media.len(), 1);
    let on_disk = env.files_under("var/www/imglib");
    assert_eq!(on_disk.len(), 3, "only the linked set is left: {on_disk:?}");
    for (url, thumbnail, original) in &media {
        for u in [url, thumbnail, original] {
            assert!(env.served(u).is_file(), "{u}");
        }
    }
    assert_eq!(env.open_claims().await, 0, "the finished run released its claims");
}

/// Where the child process of the test above finds its installation.
pub const CHILD_FOLDER: &str = "SPECDROP_CRASH_CHILD";

/// Aborts the process, as a kill would, between a file's derivatives
/// appearing and its row.
struct DieAfterStore;

impl specdrop_engine::checkpoint::Checkpoints for DieAfterStore {
    fn reached(&self, at: specdrop_engine::checkpoint::Checkpoint) {
        if at == specdrop_engine::checkpoint::Checkpoint::DerivativesStored {
            std::process::abort();
        }
    }
}

/// The child process of
/// `killed_between_derivatives_and_row_leaves_nothing_behind`: the
/// engine's scan of the installation it names, with checkpoints that die.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by killed_between_derivatives_and_row_leaves_nothing_behind"]
async fn scan_that_dies_after_store() {
    let dir = std::path::PathBuf::from(std::env::var_os(CHILD_FOLDER).expect("run only as the child process"));
    let config = specdrop_engine::config::Config::load(&dir.join("specdrop.toml")).expect("the test's config");
    let options = specdrop_engine::session::Options {
        checkpoints: std::sync::Arc::new(DieAfterStore),
        ..specdrop_engine::session::Options::new(&config, false)
    };
    let selection = specdrop_engine::batch::Selection::DropFolder;
    let output = specdrop_engine::batch::Output::Collect;
    let ran = specdrop_engine::batch::run_with(&config, options, selection, output).await;
    panic!(
        "the scan did not abort at the checkpoint: {:?}",
        ran.map(|(summary, _)| summary.to_string())
    );
}

/// The window a kill can hit between derivatives appearing and their row
/// being committed, set up by hand: one claimed set no row points to (it
/// must go) and one whose row was committed (it must stay).
#[tokio::test]
async fn start_up_removes_claimed_derivatives_no_row_points_to() {
    let env = Env::new(Backend::Sqlite).await;
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    let first = env.scan();
    assert_eq!(first.summary(), [1, 0, 0, 0, 0], "{}", first.stdout);
    assert_eq!(env.open_claims().await, 0, "a finished run releases its claims");
    let linked = env.media_of(202).await;
    let (url, thumbnail, original) = &linked[0];
    // The large file is the web one too when the sheet is small.
    let mut linked_paths = vec![env.served(url), env.served(thumbnail), env.served(original)];
    linked_paths.sort();
    linked_paths.dedup();
    assert!(linked_paths.len() >= 2, "{linked_paths:?}");

    // A copy of each file under a name a killed run would have given the
    // next set, claimed but never linked.
    let mut unlinked = Vec::new();
    for path in &linked_paths {
        let copy = path.with_file_name(format!(
            "{}_1.jpg",
            path.file_stem()
                .map_or(String::new(), |s| s.to_string_lossy().into_owned())
        ));
        std::fs::copy(path, &copy).unwrap_or_else(|e| panic!("{} -> {}: {e}", path.display(), copy.display()));
        unlinked.push(copy);
    }
    let mut ledger = env.ledger().await;
    let claims = unlinked
        .iter()
        .map(|p| (p, "unlinked"))
        .chain(linked_paths.iter().map(|p| (p, "committed")));
    for (path, hash) in claims {
        let relative = path
            .strip_prefix(env.path("var/www/imglib"))
            .expect("a derivative is below the image library")
            .to_string_lossy()
            .into_owned();
        sqlx::query("INSERT INTO writing (path, url, hash, run) VALUES (?, ?, ?, 'a run that was killed')")
            .bind(path.to_string_lossy().into_owned())
            .bind(format!("/imglib/{relative}"))
            .bind(hash)
            .execute(&mut ledger)
            .await
            .expect("insert a claim into the ledger");
    }
    ledger.close().await.expect("close the ledger");

    let next = env.scan();
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert_eq!(
        removed_count(&next.stderr.lines().map(str::to_string).collect::<Vec<_>>()),
        unlinked.len(),
        "{}",
        next.stderr
    );
    for path in &unlinked {
        assert!(!path.exists(), "{} is in no row and should be gone", path.display());
    }
    for path in &linked_paths {
        assert!(path.exists(), "{} is in a row and must stay", path.display());
    }
    assert_eq!(env.open_claims().await, 0, "every claim is settled");
}

/// Claims are only settled when no other specdrop is running: a `scan`
/// while the daemon runs must not touch files the daemon may be about to
/// link; once the daemon is gone, the next start settles them.
#[tokio::test]
async fn claims_are_settled_only_when_no_other_specdrop_runs() {
    let env = Env::new(Backend::Sqlite).await;
    env.quick_watch("");
    let daemon = env.start_watching();
    // A file as a live run would have it: in place, claimed, no row yet.
    let live = env.path("var/www/imglib/MICH_Vascular/01390/in-flight_med.jpg");
    env.write_file("var/www/imglib/MICH_Vascular/01390/in-flight_med.jpg", b"derivative");
    let mut ledger = env.ledger().await;
    sqlx::query("INSERT INTO writing (path, url, hash, run) VALUES (?, '/imglib/MICH_Vascular/01390/in-flight_med.jpg', 'h', 'the daemon')")
        .bind(live.to_string_lossy().into_owned())
        .execute(&mut ledger)
        .await
        .expect("insert the daemon's claim into the ledger");

    let beside = env.scan();
    assert_eq!(beside.code, 0, "{}", beside.stderr);
    assert!(
        live.exists(),
        "a scan beside the running daemon settled the daemon's claim"
    );
    assert_eq!(env.open_claims().await, 1);

    daemon.stop_cleanly();
    let after = env.scan();
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert!(!live.exists(), "with no specdrop left running, the claim is settled");
    assert_eq!(env.open_claims().await, 0);
}
