//! The same image under another catalog number, two copies in one batch,
//! a parked file whose name is not UTF-8, and a parked outcome that does
//! not change (issue 15, points 4, 6 and 11).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::time::Duration;

use sqlx::Row;

use crate::support::*;

/// (catalog number, outcome, source) of every ledger entry, by number.
async fn entries(env: &Env) -> Vec<(String, String, Vec<u8>)> {
    let mut ledger = env.ledger().await;
    sqlx::query("SELECT catalog_number, outcome, CAST(source AS BLOB) FROM files ORDER BY catalog_number")
        .fetch_all(&mut ledger)
        .await
        .expect("read the ledger's files")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn source_of(env: &Env, name: &str) -> Vec<u8> {
    env.path("var/drop/mich").join(name).as_os_str().as_bytes().to_vec()
}

/// One sheet copied under both `names` and taken by one scan, whose
/// summary must be `summary`.
async fn one_batch(backend: Backend, names: [&str; 2], summary: [usize; 5]) -> (Env, Run) {
    let env = Env::new(backend).await;
    for name in names {
        env.drop_sample(SMALL_7, name);
    }
    let run = env.scan();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary(), summary, "{}", run.stdout);
    (env, run)
}

/// A sheet linked under the wrong number is renamed and dropped again: it
/// is linked to the right specimen, and the report names the specimen the
/// same image is linked to already and what to do about it.
async fn a_renamed_sheet_is_linked_under_its_new_number(backend: Backend) {
    let env = Env::new(backend).await;
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);

    env.drop_sample(SMALL_7, "MICH-V-1390995.jpg");
    let run = env.scan();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}", run.stdout);
    let line = run.line_for("MICH-V-1390995.jpg");
    assert!(line.starts_with("linked") && line.contains("occid 205"), "{line}");
    assert!(
        line.contains("the same image is also linked to MICH-V 1390993 (occid 202)")
            && line.contains("if that link is wrong")
            && line.contains("remove that image"),
        "{line}"
    );
    assert_eq!(env.media_of(205).await.len(), 1, "linked to the right specimen");
    assert_eq!(env.media_of(202).await.len(), 1, "the first link is left to the team");
    assert_eq!(
        entries(&env).await,
        [
            ("1390993".into(), "linked".into(), source_of(&env, "MICH-V-1390993.jpg")),
            ("1390995".into(), "linked".into(), source_of(&env, "MICH-V-1390995.jpg")),
        ],
        "one entry per number, the first copy's kept"
    );
    assert_eq!(
        env.files_under("var/archive/mich"),
        ["MICH-V-1390993.jpg", "MICH-V-1390995.jpg"]
    );

    // The same bytes under the first number once more: a duplicate.
    env.drop_sample(SMALL_7, "MICH-V-1390993_again.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [0, 0, 0, 0, 1], "{}", run.stdout);
    run.assert_line(
        "MICH-V-1390993_again.jpg",
        "duplicate of MICH-V-1390993.jpg (occid 202)",
    );
    assert_eq!(entries(&env).await.len(), 2);
}
on_every_backend!(a_renamed_sheet_is_linked_under_its_new_number);

/// Two copies of one image under one number in one batch: both pass the
/// early look at the ledger, and the second is found a duplicate in its
/// turn, before anything of it is written.
async fn two_copies_of_one_number_in_one_batch_link_once(backend: Backend) {
    let (env, run) = one_batch(
        backend,
        ["MICH-V-1390993.jpg", "MICH-V-1390993_copy.jpg"],
        [1, 0, 0, 0, 1],
    )
    .await;
    run.assert_line("MICH-V-1390993_copy.jpg", "duplicate of MICH-V-1390993.jpg (occid 202)");
    assert_eq!(env.media_of(202).await.len(), 1);
    let library = env.files_under("var/www/imglib");
    assert!(
        library.len() == 2 && library.iter().all(|f| !f.contains("_copy")),
        "one set of derivatives: {library:?}"
    );
    assert_eq!(
        entries(&env).await,
        [("1390993".into(), "linked".into(), source_of(&env, "MICH-V-1390993.jpg"))],
        "the linked copy's entry, not overwritten by the duplicate"
    );
    assert_eq!(
        env.files_under("var/archive/mich"),
        ["MICH-V-1390993.jpg", "MICH-V-1390993_copy.jpg"]
    );
    assert_eq!(env.open_claims().await, 0);
}
on_every_backend!(two_copies_of_one_number_in_one_batch_link_once);

/// Two copies of one image under two numbers in one batch: each is linked
/// to its specimen, each keeps its entry, and the second, in its turn,
/// names the first.
async fn two_copies_of_two_numbers_in_one_batch_name_each_other(backend: Backend) {
    let (env, run) = one_batch(backend, ["MICH-V-1390993.jpg", "MICH-V-1390995.jpg"], [2, 0, 0, 0, 0]).await;
    assert!(
        !run.line_for("MICH-V-1390993.jpg").contains("same image"),
        "{}",
        run.stdout
    );
    run.assert_line(
        "MICH-V-1390995.jpg",
        "the same image is also linked to MICH-V 1390993 (occid 202)",
    );
    assert_eq!(env.media_of(202).await.len(), 1);
    assert_eq!(env.media_of(205).await.len(), 1);
    let numbers: Vec<String> = entries(&env).await.into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(numbers, ["1390993", "1390995"]);
}
on_every_backend!(two_copies_of_two_numbers_in_one_batch_name_each_other);

/// A parked file whose name is not UTF-8 is listed by `status` and taken
/// by `retry --parked` once its record exists; its one ledger entry goes
/// from parked to linked, keeping when it was first seen.
#[tokio::test]
async fn a_parked_file_whose_name_is_not_utf8_is_found_again() {
    let env = Env::new(Backend::Sqlite).await;
    let name = OsStr::from_bytes(b"MICH-V-7654321 \xff\xfe.jpg");
    let path = env.path("var/drop/mich").join(name);
    std::fs::create_dir_all(env.path("var/drop/mich")).expect("create the drop folder");
    std::fs::write(&path, sample(SMALL_9)).expect("write the sheet under a name that is not UTF-8");
    assert_eq!(env.scan().summary(), [0, 1, 0, 0, 0]);

    let status = env.cli(&["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json is JSON");
    let parked = json["parked"].as_array().cloned().unwrap_or_default();
    assert_eq!(parked.len(), 1, "still in the drop folder, so listed: {json}");
    assert!(
        parked[0]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("MICH-V-7654321 \u{fffd}\u{fffd}.jpg")),
        "shown readably: {json}"
    );

    let mut ledger = env.ledger().await;
    let first_seen: String = sqlx::query_scalar("SELECT first_seen FROM files")
        .fetch_one(&mut ledger)
        .await
        .expect("the parked entry");
    env.execute("INSERT INTO omoccurrences (occid, collid, catalogNumber) VALUES (299, 2, '7654321')")
        .await;
    let run = env.cli(&["retry", "--parked"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "found again: {}", run.stdout);
    assert_eq!(env.media_of(299).await.len(), 1);
    assert!(
        env.path("var/archive/mich").join(name).is_file(),
        "archived under its own name"
    );

    let rows = sqlx::query("SELECT outcome, CAST(source AS BLOB), first_seen FROM files")
        .fetch_all(&mut ledger)
        .await
        .expect("read the ledger's files");
    assert_eq!(rows.len(), 1, "one entry, not a second one");
    assert_eq!(rows[0].get::<String, _>(0), "linked");
    assert_eq!(
        rows[0].get::<Vec<u8>, _>(1),
        path.as_os_str().as_bytes(),
        "kept exactly"
    );
    assert_eq!(rows[0].get::<String, _>(2), first_seen, "its parked history is kept");
}

/// A parked file tried again and parked for the same reason is not news:
/// its ledger date (the report's "since") stays, and the day's report has
/// no second row for it.
#[tokio::test]
async fn an_unchanged_parked_outcome_keeps_its_date_and_adds_no_row() {
    let env = Env::new(Backend::Sqlite).await;
    env.drop_sample(SMALL_9, "MICH-V-7654321.jpg");
    assert_eq!(env.scan().summary(), [0, 1, 0, 0, 0]);
    let mut ledger = env.ledger().await;
    // As if parked long ago.
    sqlx::query("UPDATE files SET updated = '2020-01-01 00:00:00'")
        .execute(&mut ledger)
        .await
        .expect("date the parked entry back");

    let run = env.cli(&["retry", "--parked"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary(), [0, 1, 0, 0, 0], "{}", run.stdout);
    run.assert_line("MICH-V-7654321.jpg", "no specimen");
    let updated: String = sqlx::query_scalar("SELECT updated FROM files")
        .fetch_one(&mut ledger)
        .await
        .expect("the parked entry");
    assert_eq!(updated, "2020-01-01 00:00:00", "an unchanged outcome keeps its date");

    let report = env.path("var/drop/mich/_specdrop");
    let rows: usize = env
        .files_under("var/drop/mich/_specdrop")
        .iter()
        .filter(|f| f.len() == 14 && f.ends_with(".csv"))
        .map(|f| {
            let csv = std::fs::read_to_string(report.join(f)).unwrap_or_default();
            csv.lines().filter(|l| l.contains("MICH-V-7654321.jpg")).count()
        })
        .sum();
    assert_eq!(rows, 1, "the first parking only");
    let status = env.cli(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json is JSON");
    assert_eq!(
        json["parked"][0]["updated"], "2020-01-01 00:00:00",
        "parked since then: {json}"
    );
}

/// The daemon's timer finds a parked file whose name is not UTF-8 (its
/// record now exists) and links it; a parked file tried again and parked
/// for the same reason prints no second line and keeps its date.
#[tokio::test]
async fn the_daemon_retries_a_non_utf8_name_and_keeps_an_unchanged_outcome_quiet() {
    let env = Env::new(Backend::Sqlite).await;
    env.quick_watch("");
    env.edit_config("[watch]", "[daemon]\nretry_parked_mins = 1\n\n[watch]");
    env.execute(
        "INSERT INTO omoccurrences (occid, collid, catalogNumber) VALUES (297, 2, '7777777'), (298, 2, '7777777')",
    )
    .await;
    let mut daemon = env.start_watching();
    let odd = OsStr::from_bytes(b"MICH-V-7654321 \xff.jpg");
    std::fs::write(env.path("var/drop/mich").join(odd), sample(SMALL_9)).expect("write the oddly named sheet");
    let parked = daemon.wait_for("MICH-V-7654321 \u{fffd}.jpg:", Duration::from_secs(15));
    assert!(
        parked.starts_with("parked") && parked.contains("no specimen"),
        "{parked}"
    );
    env.drop_sample(SMALL_8, "MICH-V-7777777.jpg");
    let ambiguous = daemon.wait_for("MICH-V-7777777.jpg:", Duration::from_secs(15));
    assert!(
        ambiguous.starts_with("parked") && ambiguous.contains("297"),
        "{ambiguous}"
    );
    let mut ledger = env.ledger().await;
    sqlx::query("UPDATE files SET updated = '2020-01-01 00:00:00' WHERE catalog_number = '7777777'")
        .execute(&mut ledger)
        .await
        .expect("date the ambiguous entry back");
    env.execute("INSERT INTO omoccurrences (occid, collid, catalogNumber) VALUES (299, 2, '7654321')")
        .await;

    let tick = daemon.wait_for("due for another try", Duration::from_secs(75));
    assert!(tick.contains("2 of 2"), "both found by their paths: {tick}");
    let linked = daemon.wait_for("MICH-V-7654321 \u{fffd}.jpg:", Duration::from_secs(15));
    assert!(linked.starts_with("linked") && linked.contains("occid 299"), "{linked}");
    // A later arrival links only after every file started before it is
    // done (link order), so the ambiguous one's retry has ended by then.
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    let later = daemon.wait_for("MICH-V-1390993.jpg:", Duration::from_secs(15));
    assert!(later.starts_with("linked"), "{later}");
    assert_eq!(
        daemon.seen_for("MICH-V-7777777.jpg").len(),
        1,
        "parked again for the same reason, reported once: {:?}",
        daemon.seen
    );
    let updated: String = sqlx::query_scalar("SELECT updated FROM files WHERE catalog_number = '7777777'")
        .fetch_one(&mut ledger)
        .await
        .expect("the ambiguous entry");
    assert_eq!(updated, "2020-01-01 00:00:00");
    daemon.stop_cleanly();
}
