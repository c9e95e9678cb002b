//! `specdrop undo`: a file, a run, or a collection's files since a time,
//! taken back so that the portal, the image library and the archive are
//! as they were before the file arrived; a row somebody changed stays.

use crate::support::*;

/// The run id in a scan's summary line.
fn run_id(run: &Run) -> String {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .and_then(|l| l.split(" (run ").nth(1))
        .map(|r| r.trim_end_matches(')').to_string())
        .unwrap_or_else(|| panic!("no run id in:\n{}", run.stdout))
}

async fn undo_leaves_the_portal_and_the_archive_as_before(backend: Backend) {
    let env = Env::new(backend).await;
    env.write_config("unmatched = \"skeletal\"");
    let rows_before = env.image_rows().await;
    let records_before = env.count("SELECT COUNT(*) FROM omoccurrences").await;
    let original = distinct(&sample(SMALL_7), "undo");
    env.write_file("var/drop/mich/MICH-V-1390992.jpg", &original);
    env.write_file(
        "var/drop/mich/MICH-V-7654321.jpg",
        &distinct(&sample(SMALL_9), "skeletal"),
    );
    let first = env.scan();
    assert_eq!(first.summary(), [1, 0, 1, 0, 0], "{}", first.stdout);
    let run = run_id(&first);
    let status = env.cli(&["status"]);
    assert!(
        status.stdout.contains(&format!("run {run}  2 file(s)")),
        "{}",
        status.stdout
    );
    let named = |env: &Env, number: &str| {
        env.files_under("var/www/imglib")
            .iter()
            .filter(|f| f.contains(number))
            .count()
    };
    assert!(named(&env, "1390992") >= 2, "{:?}", env.files_under("var/www/imglib"));

    // A dry run changes nothing.
    let dry = env.cli(&["undo", "--batch", &run, "--dry-run"]);
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("2 would be undone"), "{}", dry.stdout);
    assert_eq!(env.image_rows().await, rows_before + 2);

    // One file, by the path it had in the drop folder.
    let its_files = named(&env, "1390992");
    let one = env.cli(&["undo", "var/drop/mich/MICH-V-1390992.jpg"]);
    assert_eq!(one.code, 0, "{}\n{}", one.stdout, one.stderr);
    assert!(
        one.stdout.contains("removed from occid 201")
            && one.stdout.contains(&format!("{its_files} derivative file(s) removed")),
        "{}",
        one.stdout
    );
    assert!(env.media_of(201).await.is_empty(), "the row is gone");
    assert_eq!(named(&env, "1390992"), 0, "its derivatives are gone");
    assert_eq!(
        std::fs::read(env.path("var/drop/mich/MICH-V-1390992.jpg")).expect("the original is back"),
        original
    );
    assert_eq!(env.files_under("var/archive/mich"), ["MICH-V-7654321.jpg"]);

    // Back under its name it is not linked to the same number again...
    let again = env.scan();
    again.assert_line(
        "MICH-V-1390992.jpg",
        "taken back from catalog number 1390992 by specdrop undo",
    );
    assert!(env.media_of(201).await.is_empty());
    // ...but renamed to the right number it is.
    std::fs::rename(
        env.path("var/drop/mich/MICH-V-1390992.jpg"),
        env.path("var/drop/mich/MICH-V-1390993.jpg"),
    )
    .expect("rename");
    let renamed = env.scan();
    renamed.assert_line("MICH-V-1390993.jpg", "occid 202");

    // The rest of the first run: the skeletal record goes with its image.
    let batch = env.cli(&["undo", "--batch", &run]);
    assert_eq!(batch.code, 0, "{}\n{}", batch.stdout, batch.stderr);
    assert!(batch.stdout.contains("skeletal record occid"), "{}", batch.stdout);
    assert!(batch.stdout.contains("removed"), "{}", batch.stdout);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM omoccurrences WHERE catalogNumber = '7654321'")
            .await,
        0,
        "the bare skeletal record is gone"
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM omoccurrences").await, records_before);
    assert_eq!(env.image_rows().await, rows_before + 1, "only the renamed sheet's row");
    assert!(
        env.path("var/drop/mich/MICH-V-7654321.jpg").is_file(),
        "its original is back"
    );
    let left = env.files_under("var/www/imglib");
    assert!(
        !left.is_empty() && left.iter().all(|f| f.contains("1390993")),
        "only the renamed sheet's files: {left:?}"
    );
}

on_every_backend!(undo_leaves_the_portal_and_the_archive_as_before);

#[tokio::test]
async fn a_row_somebody_changed_is_left_and_listed() {
    let env = Env::new(Backend::Sqlite).await;
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    env.drop_sample(SMALL_8, "MICH-V-1390993.jpg");
    assert_eq!(env.scan().summary(), [2, 0, 0, 0, 0]);
    // A curator pointed 202's image at another file meanwhile.
    env.execute("UPDATE media SET url = '/imglib/elsewhere.jpg' WHERE occid = 202")
        .await;
    let since = env.cli(&["undo", "--since", "2000-01-01T00:00:00Z", "--collection", "MICH-V"]);
    assert_eq!(since.code, 1, "something was left: {}", since.stdout);
    assert!(
        since
            .stdout
            .contains("changed since specdrop made it (url is now /imglib/elsewhere.jpg)"),
        "{}",
        since.stdout
    );
    assert!(since.stdout.contains("1 undone, 1 left"), "{}", since.stdout);
    assert_eq!(env.media_of(202).await.len(), 1, "the changed row stays");
    assert!(env.media_of(201).await.is_empty(), "the unchanged one went");
    assert_eq!(
        env.files_under("var/archive/mich"),
        ["MICH-V-1390993.jpg"],
        "its original stays archived"
    );
    let bad = env.cli(&["undo", "--since", "yesterday", "--collection", "MICH-V"]);
    assert!(bad.stderr.contains("RFC 3339"), "{}", bad.stderr);
}

#[tokio::test]
async fn an_image_with_ocr_text_is_undone_with_it_on_a_portal_before_3_2() {
    // Before 3.2 a label row's imgid refers to the image with no cascade:
    // the image row could not go while its OCR text stayed.
    let env = Env::new(Backend::MariaDbLegacy).await;
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);
    env.execute(
        "INSERT INTO specprocessorrawlabels (imgid, occid, rawStr, source) \
         SELECT imgid, occid, 'UNIVERSITY OF MICHIGAN HERBARIUM', 'Tesseract: 2026-12-03' FROM images WHERE occid = 201",
    )
    .await;
    let undo = env.cli(&["undo", "var/drop/mich/MICH-V-1390992.jpg"]);
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    assert!(
        undo.stdout
            .contains("with its 1 OCR text row(s) removed from occid 201"),
        "{}",
        undo.stdout
    );
    assert!(env.media_of(201).await.is_empty());
    assert_eq!(env.count("SELECT COUNT(*) FROM specprocessorrawlabels").await, 0);
}
