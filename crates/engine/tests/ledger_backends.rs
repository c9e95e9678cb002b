//! The ledger behaves alike in its two homes: the SQLite file in
//! `state_dir` and a MariaDB database of its own (`ledger.url`), each test
//! on a fresh one. MariaDB is real (tests/support/mariadb.rs): a run
//! without it fails.

#[path = "../../../tests/support/mariadb.rs"]
mod mariadb;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use specdrop_engine::ledger::migrations::SCHEMA_VERSION;
use specdrop_engine::ledger::{Ledger, LedgerError, OcrEnd, OcrJob, Place, Record, Recorded, Which};
use specdrop_engine::outcome::Kind;
use specdrop_mapper::Key;
use specdrop_mapper::mapping::MappingLine;

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

fn record<'a>(hash: &'a str, source: &'a Path, number: Option<&'a str>) -> Record<'a> {
    Record {
        catalog_number: number,
        ..Record::of(hash, "C", source)
    }
}

/// Everything the pipeline, undo, OCR and mapping files ask of a ledger.
async fn the_ledger_keeps_what_the_pipeline_tells_it(ledger: &Ledger) -> Result {
    // An unchanged outcome is not news; another reason is.
    let source = Path::new("/drop/MICH-V-7654321.jpg");
    let parked = Record {
        reason: Some("no specimen: no record with catalog number 7654321 in collid 2"),
        ..record("h", source, Some("7654321"))
    };
    assert_eq!(ledger.record(Kind::Parked, &parked).await?, Recorded::Changed);
    assert_eq!(ledger.record(Kind::Parked, &parked).await?, Recorded::Unchanged);
    let other = Record {
        reason: Some("ambiguous: occid 12, 57"),
        ..parked.clone()
    };
    assert_eq!(ledger.record(Kind::Parked, &other).await?, Recorded::Changed);
    assert_eq!(ledger.listed(&[Kind::Parked], 10).await?.len(), 1);

    // One entry per content, collection and number; the same path's entry
    // from before its number was known is replaced.
    let (a, b) = (Path::new("/drop/A.jpg"), Path::new("/drop/B.jpg"));
    ledger.record(Kind::Parked, &record("g", a, None)).await?;
    ledger.record(Kind::Parked, &record("g", b, None)).await?;
    ledger.record(Kind::Linked, &record("g", a, Some("1"))).await?;
    let unknown: Vec<PathBuf> = ledger
        .listed(&[Kind::Parked], 10)
        .await?
        .into_iter()
        .filter(|l| l.catalog_number.is_none())
        .map(|l| l.path)
        .collect();
    assert_eq!(unknown, [b.to_path_buf()]);
    // The second number's entry comes with its run, as a linked file's do.
    ledger
        .record_linked(&[(Kind::Linked, record("g", b, Some("2")))], "run-1")
        .await?;
    let numbers: Vec<String> = ledger
        .linked("g")
        .await?
        .into_iter()
        .map(|l| l.catalog_number)
        .collect();
    assert_eq!(numbers, ["1", "2"], "the earliest first");
    ledger.set_archived("g", "C", "2", Path::new("/archive/B.jpg")).await?;
    let by_run = ledger.done(Which::Run("run-1")).await?;
    assert_eq!(by_run.len(), 1);
    assert_eq!(by_run[0].archived_to.as_deref(), Some(Path::new("/archive/B.jpg")));
    assert_eq!(ledger.done(Which::Path(Path::new("/archive/B.jpg"))).await?.len(), 1);
    assert_eq!(ledger.runs(10).await?.len(), 1);
    let today: u64 = ledger.counts(true).await?.iter().map(|(_, n)| n).sum();
    let all: u64 = ledger.counts(false).await?.iter().map(|(_, n)| n).sum();
    assert_eq!((today, all), (3, 3), "three entries, every one reached today");

    // Undo: the entry leaves, and is remembered.
    ledger.record_undo(&by_run[0], "undo-run").await?;
    assert_eq!(ledger.linked("g").await?.len(), 1);
    assert!(ledger.undone("g", "C", "2", b).await?.is_some());
    assert!(ledger.undone("g", "C", "1", a).await?.is_none());

    // A name that is not UTF-8 comes back byte for byte.
    let name = Path::new(OsStr::from_bytes(b"/drop/MICH-V-1 \xff\xfe.jpg"));
    let lossy = Path::new(OsStr::from_bytes(b"/drop/MICH-V-1 \xfe\xff.jpg"));
    ledger.record(Kind::Failed, &record("n1", name, Some("1"))).await?;
    ledger.record(Kind::Failed, &record("n2", lossy, Some("1"))).await?;
    let mut failed: Vec<PathBuf> = ledger
        .sources(&[Kind::Failed])
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    failed.sort();
    assert_eq!(failed, [lossy.to_path_buf(), name.to_path_buf()]);
    assert_eq!(
        ledger.record(Kind::Failed, &record("n1", name, Some("1"))).await?,
        Recorded::Unchanged
    );

    // Claims: a path is one run's; set aside, it waits for the clean-up.
    let files = [("/lib/a.jpg".to_string(), "/imglib/a.jpg".to_string())];
    ledger.claim("run-1", "h", &files).await?;
    let taken = ledger.claim("run-2", "h2", &files).await;
    assert!(
        taken.is_err_and(|e| e.is_taken()),
        "a path claimed by another run is taken"
    );
    ledger.set_aside("run-1", "h").await?;
    ledger.release("run-1", "h").await?;
    let claims = ledger.claims().await?;
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].set.1, "set aside by run-1");
    ledger.forget_claim("/lib/a.jpg").await?;
    assert!(ledger.claims().await?.is_empty());

    // OCR jobs: queued with the entry, asked again when skipped, failed
    // after three attempts.
    let job = OcrJob {
        media_id: 7,
        occid: 201,
        collection: "C".into(),
        image: PathBuf::from("/lib/MICH-V-1390992.jpg"),
    };
    let linked = Record {
        ocr: Some(&job),
        ..record("o", Path::new("/drop/MICH-V-1390992.jpg"), Some("1390992"))
    };
    ledger.record(Kind::Linked, &linked).await?;
    assert_eq!(ledger.ocr_due(None, &[], 10).await?, std::slice::from_ref(&job));
    ledger.ocr_ended(7, OcrEnd::Done, "120 characters").await?;
    assert_eq!(
        ledger.enqueue_ocr(std::slice::from_ref(&job)).await?,
        0,
        "done stays done"
    );
    ledger.ocr_ended(7, OcrEnd::Skipped, "reviewed").await?;
    assert_eq!(
        ledger.enqueue_ocr(std::slice::from_ref(&job)).await?,
        1,
        "skipped is asked again"
    );
    let mut last = Vec::new();
    for _ in 0..3 {
        last.push(ledger.ocr_failed(7, &"tesseract failed ".repeat(400)).await?);
    }
    assert_eq!(last, [false, false, true], "the third failure is the last");
    assert_eq!(ledger.ocr_waiting(None).await?, 0);

    // Mapping lines wait for their images.
    let line = MappingLine {
        line: 2,
        file: "a.jpg".into(),
        value: "TOP".into(),
        meta: Default::default(),
    };
    ledger
        .keep_mapping_lines("M", "box", "box.map.csv", Key::CatalogNumber, &[line])
        .await?;
    let found = ledger.mapping_for("M", "box/deep/a.jpg").await?;
    let values: Vec<String> = found.into_iter().map(|m| m.value).collect();
    assert_eq!(values, ["TOP"]);
    assert_eq!(ledger.unmatched_mapping_lines().await?.len(), 1);
    ledger.mapping_matched("M", "box/a.jpg").await?;
    assert!(ledger.unmatched_mapping_lines().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_sqlite_ledger_keeps_what_the_pipeline_tells_it() -> Result {
    let dir = tempfile::tempdir()?;
    let ledger = Ledger::open_at(&Place::File(dir.path().to_path_buf()), false).await?;
    assert_eq!(ledger.schema_version().await?, None, "the file has no schema version");
    the_ledger_keeps_what_the_pipeline_tells_it(&ledger).await
}

#[tokio::test]
async fn the_mariadb_ledger_keeps_what_the_pipeline_tells_it() -> Result {
    let db = mariadb::TestDb::empty().await;
    let ledger = Ledger::open_at(&Place::Server(db.url.clone()), false).await?;
    the_ledger_keeps_what_the_pipeline_tells_it(&ledger).await?;
    ledger.close().await;
    Ok(())
}

/// Instances starting together migrate a fresh database once; a database
/// a newer specdrop migrated is refused by name, never written.
#[tokio::test]
async fn the_shared_ledger_is_migrated_once_and_a_newer_one_is_refused() -> Result {
    let db = mariadb::TestDb::empty().await;
    let place = Place::Server(db.url.clone());
    let reader = Ledger::open_at(&place, true).await?;
    assert_eq!(reader.schema_version().await?, Some(0), "read only: nothing is made");
    let (one, two, three) = tokio::join!(
        Ledger::open_at(&place, false),
        Ledger::open_at(&place, false),
        Ledger::open_at(&place, false)
    );
    let (one, _two, _three) = (one?, two?, three?);
    assert_eq!(one.schema_version().await?, Some(SCHEMA_VERSION));
    let steps: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_version")
        .fetch_one(&mut db.connect().await)
        .await?;
    assert_eq!(steps, SCHEMA_VERSION, "each step once");

    // A last step cut short after its DDL (which commits itself) but before
    // its version row is run again whole: its index is found made.
    sqlx::query("DELETE FROM schema_version WHERE version = ?")
        .bind(SCHEMA_VERSION)
        .execute(&mut db.connect().await)
        .await?;
    let again = Ledger::open_at(&place, false).await?;
    assert_eq!(
        again.schema_version().await?,
        Some(SCHEMA_VERSION),
        "the step ran again"
    );

    sqlx::query("INSERT INTO schema_version (version, specdrop, applied) VALUES (?, 'later', 0)")
        .bind(SCHEMA_VERSION + 1)
        .execute(&mut db.connect().await)
        .await?;
    let refused = Ledger::open_at(&place, false).await;
    assert!(
        matches!(refused, Err(LedgerError::Newer { found, expected }) if found == SCHEMA_VERSION + 1 && expected == SCHEMA_VERSION),
        "{refused:?}"
    );
    Ok(())
}

/// Files taken by one session are another's only once its lease ends; an
/// earlier image of the same name held elsewhere holds back the link of
/// a later one; a session gone silent is found, settled once.
#[tokio::test]
async fn files_are_taken_once_and_a_silent_session_is_gone() -> Result {
    use specdrop_engine::instances::{Me, Taken};
    let db = mariadb::TestDb::empty().await;
    let ledger = Ledger::open_at(&Place::Server(db.url.clone()), false).await?;
    let me = |run: &str, lease_secs| Me {
        run: run.into(),
        name: format!("node-{run}"),
        lease_secs,
    };
    let (a, b) = (me("a", 1), me("b", 30));
    ledger.register(&a).await?;
    ledger.register(&b).await?;
    let x = Path::new("/drop/MICH-V-1.jpg");
    assert_eq!(ledger.take_file(&a, "C", x).await?, Taken::Ours);
    assert!(ledger.still_holds_file(&a, "C", x).await?);
    assert!(!ledger.still_holds_file(&b, "C", x).await?);
    assert_eq!(ledger.take_file(&b, "C", x).await?, Taken::Held("node-a".into()));
    assert_eq!(
        ledger.take_file(&a, "C", x).await?,
        Taken::Ours,
        "a session's own file stays its own"
    );
    let later = Path::new("/drop/MICH-V-1_b.jpg");
    assert!(ledger.earlier_sibling_held(&b, "C", later).await?);
    assert!(
        !ledger.earlier_sibling_held(&a, "C", later).await?,
        "its own file is no other's"
    );
    assert!(
        !ledger
            .earlier_sibling_held(&b, "C", Path::new("/drop/MICH-V-2.jpg"))
            .await?
    );
    assert!(
        !ledger
            .earlier_sibling_held(&b, "C", Path::new("/other/MICH-V-1_b.jpg"))
            .await?
    );

    // a falls silent: after its lease, b takes its file over.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while ledger.take_file(&b, "C", x).await? != Taken::Ours {
        assert!(std::time::Instant::now() < deadline, "a's lease never ended");
        ledger.heartbeat(&b).await?;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        !ledger.still_holds_file(&a, "C", x).await?,
        "a, stalled past its lease, may not link what b took over"
    );
    assert!(ledger.still_holds_file(&b, "C", x).await?);
    let gone: Vec<String> = ledger.gone().await?.into_iter().map(|g| g.run).collect();
    assert_eq!(gone, ["a"]);
    assert!(ledger.settle_gone(&b, "a").await?);
    assert!(!ledger.settle_gone(&b, "a").await?, "settled by one session only");
    ledger.settled("a", true).await?;
    assert!(ledger.gone().await?.is_empty());
    let states: Vec<(String, String)> = ledger
        .instances()
        .await?
        .into_iter()
        .map(|i| (i.name, i.state))
        .collect();
    assert!(states.contains(&("node-a".into(), "dead".into())), "{states:?}");
    assert!(states.contains(&("node-b".into(), "running".into())), "{states:?}");
    ledger.let_go(&b, "C", x).await?;
    ledger.end(&b).await?;
    assert!(ledger.left_behind().await?.is_empty());
    Ok(())
}

/// `rebuild`'s job list alike in both homes: one list per collection
/// (joined, refused for another request, finished once), jobs taken once
/// and taken over after their lease, a switch noted, the row's entry
/// told its new paths.
async fn the_rebuild_job_list_is_shared(ledger: &Ledger, shared: bool) -> Result {
    use specdrop_engine::instances::Me;
    use specdrop_engine::rebuild::jobs::{Joined, Request};
    let request = Request {
        sizes: "large,web,thumbnail".into(),
        since: String::new(),
    };
    assert_eq!(ledger.start_rebuild("C", &request, false).await?, Joined::Started);
    assert_eq!(ledger.start_rebuild("C", &request, false).await?, Joined::Joined);
    let other = Request {
        sizes: "thumbnail".into(),
        ..request.clone()
    };
    assert_eq!(
        ledger.start_rebuild("C", &other, false).await?,
        Joined::Other(request.clone())
    );
    let urls = |i: i64| {
        [
            Some(format!("/imglib/{i}_med.jpg")),
            Some(format!("/imglib/{i}_tn.jpg")),
            None,
        ]
    };
    let rows: Vec<_> = (1..=5).map(|i| (i, urls(i))).collect();
    ledger.add_rebuild_jobs("C", &rows[..3]).await?;
    assert_eq!(ledger.rebuild_listed("C").await?, (false, 3));
    ledger.add_rebuild_jobs("C", &rows).await?;
    ledger.rebuild_all_listed("C").await?;
    assert_eq!(ledger.rebuild_listed("C").await?, (true, 5));

    if shared {
        for (run, lease_secs) in [("a", 1), ("b", 30)] {
            ledger
                .register(&Me {
                    run: run.into(),
                    name: format!("node-{run}"),
                    lease_secs,
                })
                .await?;
        }
    }
    let a = ledger.take_rebuild_jobs("a", "C", 1, 2).await?;
    assert_eq!(a.iter().map(|j| j.media_id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(a[0].old[0].as_deref(), Some("/imglib/1_med.jpg"));
    let b = ledger.take_rebuild_jobs("b", "C", 30, 2).await?;
    assert_eq!(b.iter().map(|j| j.media_id).collect::<Vec<_>>(), [3, 4], "taken once");
    assert!(
        ledger
            .rebuild_switching("a", "C", 1, "/imglib/1_1_med.jpg", &urls(1))
            .await?,
        "a holds the job"
    );
    assert!(
        !ledger
            .rebuild_switching("b", "C", 2, "/imglib/2_1_med.jpg", &urls(2))
            .await?,
        "b does not hold a's job"
    );
    // a falls silent: its jobs are b's once its lease ends (and, on a
    // shared ledger, once a is settled).
    let b_me = Me {
        run: "b".into(),
        name: "node-b".into(),
        lease_secs: 30,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let taken_over = loop {
        if shared {
            ledger.heartbeat(&b_me).await?;
            for gone in ledger.gone().await? {
                if ledger.settle_gone(&b_me, &gone.run).await? {
                    ledger.settled(&gone.run, true).await?;
                }
            }
        }
        let held = ledger.take_rebuild_jobs("b", "C", 30, 5).await?;
        if held.len() == 5 {
            break held;
        }
        assert!(std::time::Instant::now() < deadline, "a's lease never ended: {held:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let first: Vec<_> = taken_over
        .iter()
        .filter(|j| j.media_id == 1)
        .map(|j| (j.new_url.as_deref(), j.attempts))
        .collect();
    assert_eq!(
        first,
        [(Some("/imglib/1_1_med.jpg"), 2)],
        "the switch noted, taken twice"
    );
    // a, alive after all, may neither switch nor end what b holds now.
    assert!(
        !ledger
            .rebuild_switching("a", "C", 2, "/imglib/2_1_med.jpg", &urls(2))
            .await?
    );
    assert!(
        !ledger
            .rebuild_ended("a", "C", 2, "done", "", &[None, None, None])
            .await?
    );
    for job in &taken_over {
        let relative = [None, Some(format!("C/{}_1_med.jpg", job.media_id)), None];
        assert!(
            ledger
                .rebuild_ended("b", "C", job.media_id, "done", "", &relative)
                .await?
        );
        assert_eq!(ledger.rebuild_finish("C").await?, job.media_id == 5);
    }
    let lists = ledger.rebuild_lists().await?;
    assert_eq!((lists[0].done, lists[0].total, lists[0].finished), (5, 5, true));
    assert!(matches!(
        ledger.start_rebuild("C", &request, false).await?,
        Joined::Finished(_)
    ));
    assert_eq!(
        ledger.start_rebuild("C", &other, false).await?,
        Joined::Started,
        "another request, a new list"
    );
    assert_eq!(
        ledger.rebuild_listed("C").await?,
        (false, 0),
        "the finished list's jobs are gone"
    );
    Ok(())
}

#[tokio::test]
async fn the_rebuild_job_list_on_sqlite() -> Result {
    let dir = tempfile::tempdir()?;
    let ledger = Ledger::open(dir.path(), false).await?;
    the_rebuild_job_list_is_shared(&ledger, false).await
}

#[tokio::test]
async fn the_rebuild_job_list_on_mariadb() -> Result {
    let db = mariadb::TestDb::empty().await;
    let ledger = Ledger::open_at(&Place::Server(db.url.clone()), false).await?;
    the_rebuild_job_list_is_shared(&ledger, true).await
}
