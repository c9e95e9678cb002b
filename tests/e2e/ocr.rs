//! Label text read with the real Tesseract into the portal's
//! specprocessorrawlabels, after linking and never in its way.

use std::path::Path;
use std::time::Duration;

use crate::support::*;

/// The printed label of this sheet says "PLANTS OF ILLINOIS, USA" and
/// "Carex typhina" (what tesseract 5.3 reads from the original).
const LABELLED: &str = FULL_1390992;
const LABEL_WORDS: [&str; 2] = ["ILLINOIS", "Carex"];

/// Tesseract is needed; where it is missing the test says so (and fails
/// under SPECDROP_REQUIRE_ALL=1).
fn tesseract_here(test: &str) -> bool {
    let found = std::process::Command::new("tesseract")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        cannot_run_here(test, "tesseract is not installed (apt-get install tesseract-ocr)");
    }
    found
}

/// For a daemon test: OCR on, quick watching; `None` without tesseract.
async fn daemon_env(test: &str) -> Option<Env> {
    if !tesseract_here(test) {
        return None;
    }
    let env = skeletal_env(Backend::Sqlite, true).await;
    env.quick_watch("");
    Some(env)
}

/// `specdrop COMMAND` with a PATH that has no tesseract: its exit code,
/// stdout and stderr.
fn without_tesseract(env: &Env, command: &str) -> (Option<i32>, String, String) {
    let output = env
        .command(&[command, "--config", "specdrop.toml"])
        .env("PATH", path_without_tesseract(env))
        .output()
        .expect("run specdrop");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// An installation whose unknown numbers get new (unprocessed) records,
/// with `[ocr] enabled = true` when `ocr`.
async fn skeletal_env(backend: Backend, ocr: bool) -> Env {
    let env = Env::new(backend).await;
    env.write_config("unmatched = \"skeletal\"");
    if ocr {
        env.edit_config("[database]", "[ocr]\nenabled = true\n\n[database]");
    }
    env
}

/// (id column value, occid, text, source) of every OCR row, oldest first.
async fn raw_labels(env: &Env) -> Vec<(i64, i64, String, String)> {
    let mut conn = env.db().await;
    let id = env.table().1;
    // As bytes on both: MariaDB sends TEXT as bytes anyway.
    let bytes = if env.backend == Backend::Sqlite {
        "BLOB"
    } else {
        "BINARY"
    };
    let sql = format!("SELECT {id}, occid, CAST(rawStr AS {bytes}), source FROM specprocessorrawlabels ORDER BY prlid");
    let rows: Vec<(i64, i64, Vec<u8>, String)> = sqlx::query_as(&sql)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|(id, occid, text, source)| (id, occid, String::from_utf8_lossy(&text).into_owned(), source))
        .collect()
}

fn today() -> String {
    let out = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The OCR jobs' states in the ledger.
async fn job_states(env: &Env) -> Vec<String> {
    let mut ledger = env.ledger().await;
    sqlx::query_scalar("SELECT state FROM ocr_jobs ORDER BY media_id")
        .fetch_all(&mut ledger)
        .await
        .expect("read ocr_jobs")
}

/// A PATH with the system's programs but no tesseract.
fn path_without_tesseract(env: &Env) -> String {
    let bin = env.path("bin-without-tesseract");
    std::fs::create_dir_all(&bin).expect("make a bin folder");
    for tool in ["nice", "date", "sh"] {
        for dir in ["/usr/bin", "/bin"] {
            let from = Path::new(dir).join(tool);
            if from.exists() {
                let _ = std::os::unix::fs::symlink(&from, bin.join(tool));
                break;
            }
        }
    }
    bin.display().to_string()
}

async fn a_new_skeletal_record_gets_its_label_text(backend: Backend) {
    if !tesseract_here("a_new_skeletal_record_gets_its_label_text") {
        return;
    }
    let env = skeletal_env(backend, true).await;
    env.drop_sample(LABELLED, "MICH-V-7654321.jpg");
    // occid 201 is "reviewed": linked, not read.
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    let run = env.scan();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary(), [1, 0, 1, 0, 0], "{}", run.stdout);
    assert!(
        run.stdout.contains("ocr: 1 read, 0 without text, 1 skipped, 0 failed"),
        "{}",
        run.stdout
    );

    let occid = env
        .count("SELECT occid FROM omoccurrences WHERE collid = 2 AND catalogNumber = '7654321'")
        .await;
    let (table, id) = env.table();
    let media_id = env
        .count(&format!("SELECT {id} FROM {table} WHERE occid = {occid}"))
        .await;
    let labels = raw_labels(&env).await;
    assert_eq!(labels.len(), 1, "{labels:?}");
    let (label_media, label_occid, text, source) = &labels[0];
    assert_eq!(
        (*label_media, *label_occid),
        (media_id, occid),
        "keyed by the image row"
    );
    for word in LABEL_WORDS {
        assert!(text.contains(word), "{word:?} not in the OCR text:\n{text}");
    }
    assert_eq!(source, &format!("Tesseract: {}", today()));
    let status = env.cli(&["status"]);
    assert!(
        status
            .stdout
            .contains("ocr:      0 queued, 1 read (0 with no text), 1 skipped, 0 failed"),
        "{}",
        status.stdout
    );
    let scored = env
        .count("SELECT COUNT(*) FROM specprocessorrawlabels WHERE score BETWEEN 1 AND 100")
        .await;
    assert_eq!(scored, 1, "the mean word confidence is the score");

    // Scanned again: nothing new to read, no second row.
    let again = env.scan();
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(raw_labels(&env).await.len(), 1);
}
on_every_backend!(a_new_skeletal_record_gets_its_label_text);

/// Without tesseract a scan links the sheet and its job waits; `check`
/// says what is missing.
#[tokio::test]
async fn without_tesseract_linking_goes_on_and_check_says_so() {
    let env = skeletal_env(Backend::Sqlite, true).await;
    env.drop_sample(LABELLED, "MICH-V-7654321.jpg");
    let (code, stdout, stderr) = without_tesseract(&env, "scan");
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 skeletal"), "linking goes on: {stdout}");
    assert!(stderr.contains("tesseract program is not installed"), "{stderr}");
    assert_eq!(job_states(&env).await, ["queued"], "the sheet waits in the ledger");
    assert!(raw_labels(&env).await.is_empty());

    let (code, said, _) = without_tesseract(&env, "check");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("ocr.enabled: the tesseract program is not installed"),
        "{said}"
    );
    if tesseract_here("without_tesseract_linking_goes_on_and_check_says_so") {
        let with_tesseract = env.cli(&["check"]);
        assert!(
            !with_tesseract.stdout.contains("ocr.enabled"),
            "{}",
            with_tesseract.stdout
        );
    }
}

/// A job queued by a daemon that is then SIGKILLed is read at the next
/// start; a job whose row is already in the portal (a SIGKILL after the
/// insert, before the ledger heard) gets no second row.
#[tokio::test]
async fn a_queued_job_survives_a_kill_and_is_never_written_twice() {
    let Some(env) = daemon_env("a_queued_job_survives_a_kill_and_is_never_written_twice").await else {
        return;
    };
    let no_tesseract = path_without_tesseract(&env);

    // Tesseract missing, the job stays queued while the daemon links.
    let mut daemon = env.start_daemon(&[("PATH", no_tesseract.as_str())]);
    daemon.wait_for("watching", Duration::from_secs(30));
    env.drop_sample(LABELLED, "MICH-V-7654321.jpg");
    let line = daemon.reports_for(&["MICH-V-7654321.jpg"], Duration::from_secs(60));
    assert!(line[0].contains("skeletal"), "{line:?}");
    assert_eq!(job_states(&env).await, ["queued"]);
    daemon.kill_hard();

    // The next start, with tesseract, reads the queued sheet.
    let daemon = env.start_watching();
    let states = poll_jobs(&env, Duration::from_secs(60), |s| s == ["done"]).await;
    assert_eq!(states, ["done"]);
    daemon.stop_cleanly();
    let labels = raw_labels(&env).await;
    assert_eq!(labels.len(), 1);
    assert!(labels[0].2.contains("ILLINOIS"), "{}", labels[0].2);

    // As after a SIGKILL between the insert and the ledger's note.
    let mut ledger = env.ledger().await;
    sqlx::query("UPDATE ocr_jobs SET state = 'queued'")
        .execute(&mut ledger)
        .await
        .expect("requeue the job");
    drop(ledger);
    let daemon = env.start_watching();
    let states = poll_jobs(&env, Duration::from_secs(60), |s| s != ["queued"]).await;
    daemon.stop_cleanly();
    assert_eq!(states, ["skipped"], "the row was found, not written again");
    assert_eq!(raw_labels(&env).await.len(), 1, "still one row");
}

/// The daemon reads a sheet it links without waiting for its idle look.
#[tokio::test]
async fn the_daemon_reads_a_sheet_soon_after_linking_it() {
    let Some(env) = daemon_env("the_daemon_reads_a_sheet_soon_after_linking_it").await else {
        return;
    };
    let mut daemon = env.start_watching();
    env.drop_sample(LABELLED, "MICH-V-7654321.jpg");
    daemon.reports_for(&["MICH-V-7654321.jpg"], Duration::from_secs(60));
    // Well inside the worker's 30 s idle look: the new job woke it.
    let states = poll_jobs(&env, Duration::from_secs(20), |s| s == ["done"]).await;
    assert_eq!(states, ["done"]);
    daemon.stop_cleanly();
    assert_eq!(raw_labels(&env).await.len(), 1);
}

/// The ledger's job states once `done` holds for them, or when `within`
/// has passed (the caller asserts on them): `poll`, for an async probe.
async fn poll_jobs(env: &Env, within: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let states = job_states(env).await;
        if done(&states) || std::time::Instant::now() >= deadline {
            return states;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `specdrop ocr --collection CODE` reads what was linked before OCR was
/// on, for records of the configured statuses only, once.
#[tokio::test]
async fn the_backfill_reads_unprocessed_records_once() {
    if !tesseract_here("the_backfill_reads_unprocessed_records_once") {
        return;
    }
    let env = skeletal_env(Backend::Sqlite, false).await;
    // 7654321 becomes a new unprocessed record; 1390992 is "reviewed".
    env.drop_sample(LABELLED, "MICH-V-7654321.jpg");
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [1, 0, 1, 0, 0], "{}", run.stdout);
    assert!(raw_labels(&env).await.is_empty(), "OCR is off by default");

    let backfill = env.cli(&["ocr", "--collection", "MICH-V"]);
    assert_eq!(backfill.code, 0, "{}\n{}", backfill.stdout, backfill.stderr);
    assert!(backfill.stdout.contains("ocr: 1 read"), "{}", backfill.stdout);
    let labels = raw_labels(&env).await;
    assert_eq!(labels.len(), 1, "{labels:?}");
    let skeletal = env
        .count("SELECT occid FROM omoccurrences WHERE catalogNumber = '7654321'")
        .await;
    assert_eq!(labels[0].1, skeletal, "only the unprocessed record's image");
    assert!(labels[0].2.contains("ILLINOIS"), "{}", labels[0].2);

    let again = env.cli(&["ocr", "--collection", "MICH-V"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("0 to read"), "{}", again.stdout);
    assert_eq!(raw_labels(&env).await.len(), 1);

    let unknown = env.cli(&["ocr", "--collection", "NOPE"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
}

/// `identifier = "barcode-then-ocr"` on a collection that reads QR codes
/// only, so the Code 39 label of FULL_1390992 gives nothing: its number,
/// printed under the bars, is found in the label text at full size and
/// finds occid 201; a sheet whose text holds no such number is parked with
/// what was read.
#[tokio::test]
async fn a_number_printed_but_not_barcoded_is_read_from_the_label_text() {
    if !tesseract_here("a_number_printed_but_not_barcoded_is_read_from_the_label_text") {
        return;
    }
    let env = Env::new(Backend::Sqlite).await;
    env.write_config("identifier = \"barcode-then-ocr\"\nbarcode = { symbologies = [\"qr\"], pattern = '^(\\d{7})$' }");
    env.drop_sample(LABELLED, "IMG_0001.jpg");
    env.drop_sample(SMALL_7, "IMG_0002.jpg");
    let run = env.scan();
    assert_eq!(run.summary()[..2], [1, 1], "{}\n{}", run.stdout, run.stderr);
    let line = run.line_for("IMG_0001.jpg");
    assert!(
        line.starts_with("linked") && line.contains("catalog number 1390992 (label text) -> occid 201"),
        "{line}"
    );
    let media = env.media_of(201).await;
    assert_eq!(media.len(), 1, "{media:?}");
    assert!(
        media[0].0.ends_with("/1390992_med.jpg"),
        "named after the number read: {media:?}"
    );
    let parked = run.line_for("IMG_0002.jpg");
    assert!(
        parked.starts_with("parked") && parked.contains("barcode.pattern is not in the label text either"),
        "{parked}"
    );
}
