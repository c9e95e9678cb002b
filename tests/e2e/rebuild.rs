//! `specdrop rebuild`: a collection's derivatives made again from the
//! archived originals, on a MariaDB portal with a shared MariaDB ledger.
//! A small collection rebuilt whole and then by size; 200 rows rebuilt by
//! two processes while one is SIGKILLed mid-way (`SPECDROP_FULL=1`: 600).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::*;

/// The lease the processes keep (short, so a takeover comes soon).
const LEASE_SECS: u64 = 3;

/// A 500 px sheet made from a real one, in `count` distinct copies are
/// what `drop_specimens` takes; this is the one sheet.
fn small_sheet() -> Vec<u8> {
    let mut config = specdrop_derive::DeriveConfig::default();
    config.web.width = 500;
    let set = specdrop_derive::build(&sample(SMALL_7), &config).expect("derivatives of a real sheet");
    match set.web {
        Some(specdrop_derive::Web::Own(web)) => web.data,
        _ => panic!("a 500 px web image of a 1400 px sheet"),
    }
}

/// The test's config with a shared ledger (else the SQLite file), small
/// derivative sizes, one worker thread and a short lease; written as
/// `name`.
fn rebuild_config(env: &Env, ledger_url: Option<&str>, name: &str) -> String {
    let base = std::fs::read_to_string(env.path("specdrop.toml")).expect("the test's config");
    let ledger = ledger_url.map_or_else(String::new, |url| format!("[ledger]\nurl = \"{url}\"\n\n"));
    let text = base.replace(
        "[database]",
        &format!(
            "{ledger}[daemon]\nlease_secs = {LEASE_SECS}\n\n[workers]\nthreads = 1\n\n\
             [derive]\nweb = {{ width = 200 }}\nthumbnail = {{ width = 80 }}\n\n[database]"
        ),
    );
    env.write_file(name, text.as_bytes());
    name.to_string()
}

/// (mediaID, url, thumbnailUrl, originalUrl) of each image row, by occid.
async fn rows(env: &Env) -> BTreeMap<i64, (i64, String, String, String)> {
    use sqlx::Row as _;
    let mut conn = env.db().await;
    let (table, id) = env.table();
    let sql =
        format!("SELECT occid, {id}, url, thumbnailUrl, originalUrl FROM {table} WHERE occid >= 8000 ORDER BY occid");
    let found = sqlx::query(&sql)
        .fetch_all(&mut conn)
        .await
        .expect("read the image rows");
    found
        .iter()
        .map(|r| {
            let t = |i: usize| r.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_default();
            (
                r.try_get::<i64, _>(0).expect("occid"),
                (r.try_get::<i64, _>(1).expect("mediaID"), t(2), t(3), t(4)),
            )
        })
        .collect()
}

/// `specdrop rebuild --collection MICH-V --sizes thumbnail`.
fn rebuild_thumbnails(env: &Env, config: &str) -> Run {
    env.run(&[
        "rebuild",
        "--collection",
        "MICH-V",
        "--sizes",
        "thumbnail",
        "--config",
        config,
    ])
}

/// Every row keeps its mediaID and has three new files.
fn assert_all_new(
    before: &BTreeMap<i64, (i64, String, String, String)>,
    after: &BTreeMap<i64, (i64, String, String, String)>,
    said: &str,
) {
    for (occid, (id, url, thumbnail, original)) in before {
        let (new_id, new_url, new_thumbnail, new_original) = &after[occid];
        assert_eq!(id, new_id, "occid {occid} keeps its mediaID");
        for (old, new) in [(url, new_url), (thumbnail, new_thumbnail), (original, new_original)] {
            assert_ne!(old, new, "occid {occid}: every file is new\n{said}");
        }
    }
}

/// Every file a row points at is on disk, and no other file is in the
/// image library.
fn assert_whole(env: &Env, now: &BTreeMap<i64, (i64, String, String, String)>, said: &str) {
    let mut referenced = BTreeSet::new();
    for (occid, (_, url, thumbnail, original)) in now {
        for u in [url, thumbnail, original] {
            let file = env.served(u);
            assert!(
                file.is_file(),
                "occid {occid}: {u} is in its row but not on disk\n{said}"
            );
            referenced.insert(file);
        }
    }
    let orphans = env.orphans(&referenced);
    assert!(orphans.is_empty(), "files no row points to: {orphans:?}\n{said}");
}

/// Scan `count` small sheets into the portal (through the shared ledger,
/// which then knows where each original was archived).
async fn linked_collection(env: &Env, config: &str, count: u32) {
    env.drop_specimens(&small_sheet(), 7_300_000, 8000, count).await;
    let scan = env.run(&["scan", "--config", config]);
    assert_eq!(scan.code, 0, "{}\n{}", scan.stdout, scan.stderr);
    assert_eq!(scan.summary()[0], count as usize, "{}", scan.stdout);
}

/// On every portal kind, with the shared ledger.
async fn rebuild_changes_every_rows_files_once_keeps_media_ids_and_sizes_only_touch_those(backend: Backend) {
    let env = Env::new(backend).await;
    let ledger_db = crate::mariadb::TestDb::empty().await;
    let config = rebuild_config(&env, Some(&ledger_db.url), "rebuild.toml");
    linked_collection(&env, &config, 6).await;
    let before = rows(&env).await;
    assert_eq!(before.len(), 6);

    let run = env.run(&["rebuild", "--collection", "MICH-V", "--config", &config]);
    let said = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, 0, "{said}");
    assert!(run.stdout.contains("rebuild: 6 rebuilt, 0 finished"), "{said}");
    let after = rows(&env).await;
    for (occid, (id, url, thumbnail, original)) in &before {
        let (new_id, new_url, new_thumbnail, new_original) = &after[occid];
        assert_eq!(id, new_id, "occid {occid} keeps its mediaID");
        for (old, new) in [(url, new_url), (thumbnail, new_thumbnail), (original, new_original)] {
            assert_ne!(old, new, "occid {occid}: every file is new\n{said}");
            assert!(!env.served(old).exists(), "{old} is gone once its row has new files");
        }
        assert_eq!(
            run.stdout.matches(&format!("rebuilt  media {id}:")).count(),
            1,
            "media {id} rebuilt once\n{said}"
        );
    }
    assert_whole(&env, &after, &said);

    // Only the thumbnails: url and originalUrl stay.
    let thumbs = rebuild_thumbnails(&env, &config);
    let said = format!("{}\n{}", thumbs.stdout, thumbs.stderr);
    assert_eq!(thumbs.code, 0, "{said}");
    let last = rows(&env).await;
    for (occid, (id, url, thumbnail, original)) in &after {
        let (new_id, new_url, new_thumbnail, new_original) = &last[occid];
        assert_eq!(
            (id, url, original),
            (new_id, new_url, new_original),
            "occid {occid}\n{said}"
        );
        assert_ne!(thumbnail, new_thumbnail, "occid {occid}: a new thumbnail\n{said}");
        let (width, _) = env.served_size(new_thumbnail);
        assert_eq!(width, 80, "derive.thumbnail's width");
    }
    assert_whole(&env, &last, &said);

    // The same rebuild again: done already, nothing changes.
    let again = rebuild_thumbnails(&env, &config);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(rows(&env).await, last);

    // A run killed after a row's switch and before its clean-up left a job
    // whose row already carries the new URL, and an old file only that job
    // knows of: the next run removes the file and rebuilds nothing.
    let (occid, (id, url, thumbnail, original)) = last.iter().next().expect("a row");
    let leftover = thumbnail.replace("_tn.jpg", "_left_tn.jpg");
    assert_ne!(&leftover, thumbnail);
    std::fs::copy(env.served(thumbnail), env.served(&leftover)).expect("the pre-switch thumbnail");
    let mut ledger = ledger_db.connect().await;
    for (sql, binds) in [
        ("UPDATE rebuilds SET finished = NULL", vec![]),
        (
            "UPDATE rebuild_jobs SET state = 'waiting', new_url = ?, old_url = ?, old_thumbnail = ?, \
             old_original = ? WHERE media_id = ?",
            vec![
                thumbnail.clone(),
                url.clone(),
                leftover.clone(),
                original.clone(),
                id.to_string(),
            ],
        ),
    ] {
        let mut query = sqlx::query(sql);
        for b in binds {
            query = query.bind(b);
        }
        query.execute(&mut ledger).await.expect("the state a kill leaves");
    }
    let resumed = rebuild_thumbnails(&env, &config);
    let said = format!("{}\n{}", resumed.stdout, resumed.stderr);
    assert_eq!(resumed.code, 0, "{said}");
    assert!(resumed.stdout.contains("rebuild: 0 rebuilt, 1 finished"), "{said}");
    assert!(resumed.stdout.contains("switched by an interrupted attempt"), "{said}");
    assert!(
        !env.served(&leftover).exists(),
        "occid {occid}: the old file is removed\n{said}"
    );
    assert_eq!(rows(&env).await, last, "no row changes again");
    assert_whole(&env, &last, &said);

    let status = env.run(&["status", "--config", &config]);
    assert!(
        status
            .stdout
            .contains("rebuild MICH-V (thumbnail): 6/6 rows done, 0 failed; finished"),
        "{}",
        status.stdout
    );
    // --since: rows added before it are left out, on the portal's clock.
    let rebuild_since = |since: &str| {
        env.run(&[
            "rebuild",
            "--collection",
            "MICH-V",
            "--sizes",
            "web",
            "--since",
            since,
            "--config",
            &config,
        ])
    };
    let none = rebuild_since("2999-01-01");
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(none.stdout.contains("rebuild: 0 rebuilt"), "{}", none.stdout);
    assert_eq!(rows(&env).await, last, "nothing added since 2999");
    let all = rebuild_since("2000-01-01T01:00:00+01:00");
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(
        all.stdout.contains("rebuild: 6 rebuilt"),
        "{}\n{}",
        all.stdout,
        all.stderr
    );
    let webs = rows(&env).await;
    for (occid, (_, url, thumbnail, original)) in &last {
        let (_, new_url, new_thumbnail, new_original) = &webs[occid];
        assert_ne!(url, new_url, "occid {occid}: a new web image");
        assert_eq!((thumbnail, original), (new_thumbnail, new_original), "occid {occid}");
    }
    assert_whole(&env, &webs, &all.stdout);

    // A size [derive] does not make is refused by name.
    let refused = env.run(&[
        "rebuild",
        "--collection",
        "MICH-V",
        "--sizes",
        "medium",
        "--config",
        &config,
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("large,web,thumbnail"), "{}", refused.stderr);
}

/// A count in the test's ledger: the shared database, else the SQLite file.
async fn in_ledger(env: &Env, shared: Option<&crate::mariadb::TestDb>, sql: &str) -> i64 {
    match shared {
        Some(db) => sqlx::query_scalar(sql).fetch_one(&mut db.connect().await).await,
        None => sqlx::query_scalar(sql).fetch_one(&mut env.ledger().await).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn two_rebuilds_on_a_shared_ledger_one_killed_mid_way_leave_each_row_rebuilt_once() {
    two_rebuilds_one_killed(true).await;
}

/// Two processes with one config (one state_dir) share the SQLite ledger's
/// list; the killed one's half-made files go at the next start alone.
#[tokio::test]
async fn two_rebuilds_on_the_sqlite_ledger_one_killed_mid_way_leave_each_row_rebuilt_once() {
    two_rebuilds_one_killed(false).await;
}

async fn two_rebuilds_one_killed(shared: bool) {
    let full = std::env::var("SPECDROP_FULL").is_ok_and(|v| v == "1");
    let count: u32 = if full { 600 } else { 200 };
    let env = Env::new(Backend::MariaDb).await;
    let ledger_db = match shared {
        true => Some(crate::mariadb::TestDb::empty().await),
        false => None,
    };
    let config = rebuild_config(&env, ledger_db.as_ref().map(|d| d.url.as_str()), "rebuild.toml");
    linked_collection(&env, &config, count).await;
    let before = rows(&env).await;

    let args = ["rebuild", "--collection", "MICH-V", "--config", config.as_str()];
    let mut survivor = env.start(&args, &[]);
    let mut doomed = env.start(&args, &[]);
    let rebuilt = |l: &String| l.starts_with("rebuilt  media ");
    // Killed mid-way: once it has done a quarter (the two share the list,
    // so about half of it is done).
    let by_doomed = poll(
        Duration::from_secs(60),
        || {
            doomed.lines_for(Duration::from_millis(100));
            doomed.seen.iter().filter(|l| rebuilt(l)).count()
        },
        |n| *n >= (count / 4) as usize,
    );
    assert!(
        by_doomed >= (count / 4) as usize,
        "the second rebuild did little:\n{}",
        doomed.seen.join("\n")
    );
    // While they work, `status` shows the list: done of the total, and a
    // rate with the time left once rows are done.
    let status = env.run(&["status", "--config", &config]);
    let line = status
        .stdout
        .lines()
        .find(|l| l.starts_with("rebuild MICH-V (large,web,thumbnail): "))
        .unwrap_or_else(|| panic!("no rebuild line in:\n{}", status.stdout))
        .to_string();
    assert!(
        line.contains(&format!("/{count} rows done")) && (line.contains("rows/s, about") || line.contains("finished")),
        "{line}"
    );
    // Its session's id starts with its process id (claims::new_run).
    let held_by_doomed = format!(
        "SELECT COUNT(*) FROM rebuild_jobs WHERE state = 'waiting' AND run LIKE '{}-%'",
        doomed.pid()
    );
    // Killed while it holds jobs (between two batches it holds none).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while in_ledger(&env, ledger_db.as_ref(), &held_by_doomed).await == 0 && std::time::Instant::now() < deadline {
        doomed.lines_for(Duration::from_millis(5));
    }
    let killed = doomed.kill_hard();
    let held_when_killed = in_ledger(&env, ledger_db.as_ref(), &held_by_doomed).await;
    // Killed mid-way means holding jobs: what the survivor must take over.
    assert!(held_when_killed > 0, "the killed rebuild held no job when killed");

    let code = survivor.exit_code(Duration::from_secs(if full { 600 } else { 90 }));
    let mut lines = killed.clone();
    lines.extend(survivor.seen.clone());
    let said = lines.join("\n");
    assert_eq!(code, 0, "{said}");

    // Every row rebuilt exactly once: one line per row, across both.
    let after = rows(&env).await;
    assert_eq!(after.len(), count as usize);
    let mut once = 0;
    for (occid, (id, url, thumbnail, original)) in &before {
        let (new_id, new_url, new_thumbnail, new_original) = &after[occid];
        assert_eq!(id, new_id, "occid {occid} keeps its mediaID");
        for (old, new) in [(url, new_url), (thumbnail, new_thumbnail), (original, new_original)] {
            assert_ne!(old, new, "occid {occid}: every file is new\n{said}");
        }
        let times = lines
            .iter()
            .filter(|l| l.starts_with(&format!("rebuilt  media {id}:")))
            .count();
        assert_eq!(times, 1, "media {id} rebuilt {times} times\n{said}");
        once += 1;
    }
    // Distinct new file names: one new set per row.
    let names: BTreeSet<&String> = after.values().map(|(_, url, _, _)| url).collect();
    assert_eq!(names.len(), count as usize, "{said}");
    assert!(
        !lines.iter().any(|l| l.starts_with("failed") || l.contains("panicked")),
        "{said}"
    );

    // On a shared ledger the survivor settled what the killed one left; on
    // the SQLite file the next start alone does (the run below). Then: no
    // claim, no job undone, no file without its row, none of a row missing.
    let ledger = ledger_db.as_ref();
    let settled = || async {
        (
            in_ledger(&env, ledger, "SELECT COUNT(*) FROM writing").await,
            in_ledger(&env, ledger, "SELECT COUNT(*) FROM rebuild_jobs WHERE state <> 'done'").await,
        )
    };
    if shared {
        assert_eq!(settled().await, (0, 0), "{said}");
        assert_whole(&env, &after, &said);
    }

    // Run again, it finds the list finished and changes nothing.
    let again = env.run(&args);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(rows(&env).await, after);
    assert_eq!(settled().await, (0, 0), "{said}");
    assert_whole(&env, &after, &said);
    eprintln!(
        "{count} rows: the killed rebuild did {} and held {held_when_killed} job(s) when killed; \
         {once} rows rebuilt once, none broken",
        killed.iter().filter(|l| rebuilt(l)).count()
    );
}

on_every_backend!(rebuild_changes_every_rows_files_once_keeps_media_ids_and_sizes_only_touch_those);

/// A row Symbiota's loader made (no archived original, no originalUrl):
/// rebuilt from its `url`, which then stays as its originalUrl (the only
/// full-size copy is never removed), and an old thumbnail that a row of
/// another collection names too is kept.
#[tokio::test]
async fn a_row_rebuilt_from_its_url_keeps_that_file_as_its_original() {
    let env = Env::new(Backend::Sqlite).await;
    let config = rebuild_config(&env, None, "rebuild.toml");
    let sheet = small_sheet();
    env.write_file("var/www/imglib/legacy/a_med.jpg", &sheet);
    env.write_file("var/www/imglib/legacy/a_tn.jpg", &sheet);
    let (table, id) = env.table();
    env.execute(&format!(
        "INSERT INTO {table} ({id}, occid, url, thumbnailUrl, originalUrl) \
         VALUES (9001, 201, '/imglib/legacy/a_med.jpg', '/imglib/legacy/a_tn.jpg', NULL)"
    ))
    .await;
    // Occid 101 is in another collection (ASU), so not rebuilt here.
    env.execute(&format!(
        "INSERT INTO {table} ({id}, occid, url, thumbnailUrl, originalUrl) \
         VALUES (9002, 101, 'https://elsewhere.example/x.jpg', '/imglib/legacy/a_tn.jpg', NULL)"
    ))
    .await;

    let run = env.run(&["rebuild", "--collection", "MICH-V", "--config", &config]);
    let said = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, 0, "{said}");
    assert!(run.stdout.contains("rebuild: 1 rebuilt"), "{said}");
    let media = env.media_of(201).await;
    assert_eq!(media.len(), 1, "{media:?}");
    let (url, thumbnail, original) = &media[0];
    assert_ne!(url, "/imglib/legacy/a_med.jpg", "a new web image\n{said}");
    assert_ne!(thumbnail, "/imglib/legacy/a_tn.jpg", "a new thumbnail\n{said}");
    assert_eq!(
        original, "/imglib/legacy/a_med.jpg",
        "the source stays as the original\n{said}"
    );
    assert_eq!(env.served_size(url).0, 200, "derive.web's width");
    assert_eq!(env.served_size(thumbnail).0, 80, "derive.thumbnail's width");
    assert_eq!(
        std::fs::read(env.served("/imglib/legacy/a_med.jpg")).ok().as_deref(),
        Some(&sheet[..]),
        "the only full-size copy is untouched"
    );
    assert!(
        env.served("/imglib/legacy/a_tn.jpg").exists(),
        "another row names the old thumbnail: it stays\n{said}"
    );

    // Only thumbnails: a row with only a url keeps it as it was, and no
    // originalUrl appears.
    env.write_file("var/www/imglib/legacy/b_med.jpg", &sheet);
    env.write_file("var/www/imglib/legacy/b_tn.jpg", &sheet);
    env.execute(&format!(
        "INSERT INTO {table} ({id}, occid, url, thumbnailUrl, originalUrl) \
         VALUES (9003, 202, '/imglib/legacy/b_med.jpg', '/imglib/legacy/b_tn.jpg', NULL)"
    ))
    .await;
    let thumbs = rebuild_thumbnails(&env, &config);
    let said = format!("{}\n{}", thumbs.stdout, thumbs.stderr);
    assert_eq!(thumbs.code, 0, "{said}");
    let media = env.media_of(202).await;
    let (url, thumbnail, original) = &media[0];
    assert_eq!(url, "/imglib/legacy/b_med.jpg", "{said}");
    assert_ne!(thumbnail, "/imglib/legacy/b_tn.jpg", "{said}");
    assert_eq!(original, "", "originalUrl stays empty\n{said}");
    assert!(env.served("/imglib/legacy/b_med.jpg").exists(), "{said}");
}

/// A daemon sharing the ledger takes part in a rebuild under way: the
/// `rebuild` that made the list is killed once it has listed the rows, and
/// the daemon, with nothing in its drop folder, rebuilds every row once.
#[tokio::test]
async fn a_daemon_finishes_a_rebuild_whose_process_was_killed() {
    let count: u32 = 12;
    let env = Env::new(Backend::MariaDb).await;
    env.quick_watch("");
    let ledger_db = crate::mariadb::TestDb::empty().await;
    let config = rebuild_config(&env, Some(&ledger_db.url), "rebuild.toml");
    linked_collection(&env, &config, count).await;
    let before = rows(&env).await;
    let ledger = Some(&ledger_db);

    let mut starter = env.start(&["rebuild", "--collection", "MICH-V", "--config", &config], &[]);
    starter.wait_for("a new job list for MICH-V", Duration::from_secs(60));
    let listed = "SELECT COUNT(*) FROM rebuilds WHERE listed = 1";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while in_ledger(&env, ledger, listed).await == 0 {
        assert!(std::time::Instant::now() < deadline, "the list was never made whole");
        starter.lines_for(Duration::from_millis(5));
    }
    let killed = starter.kill_hard();
    let by_starter = killed.iter().filter(|l| l.starts_with("rebuilt  media ")).count();

    let mut daemon = env.start_daemon_with(&config, &[]);
    let finished = "SELECT COUNT(*) FROM rebuilds WHERE finished IS NOT NULL";
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while in_ledger(&env, ledger, finished).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not finish the list:\n{}",
            daemon.seen.join("\n")
        );
        daemon.lines_for(Duration::from_millis(200));
    }
    daemon.lines_for(Duration::from_millis(300));
    let said = format!("rebuild:\n{}\ndaemon:\n{}", killed.join("\n"), daemon.seen.join("\n"));
    daemon.stop_cleanly();
    let by_daemon = said.matches("rebuild MICH-V: rebuilt  media ").count();
    assert!(by_daemon > 0, "the daemon rebuilt nothing\n{said}");
    assert_eq!(by_daemon + by_starter, count as usize, "each row once\n{said}");

    let after = rows(&env).await;
    assert_all_new(&before, &after, &said);
    assert_eq!(
        in_ledger(&env, ledger, "SELECT COUNT(*) FROM writing").await,
        0,
        "{said}"
    );
    assert_whole(&env, &after, &said);
}
