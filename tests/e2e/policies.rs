//! The mapper's policies through the binary: existing images, the log
//! sink and load-log, retrying parked files, the after-batch procedure,
//! and waiting for a locked or unreachable database.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::support::*;

async fn replace_updates_the_row_in_place_and_removes_old_files(backend: Backend) {
    let env = Env::new(backend).await;
    env.write_config("existing_image = \"replace\"");
    env.drop_sample(FULL_1390992, "MICH-V-1390992.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);
    let (table, id) = env.table();
    let first_id = env.count(&format!("SELECT {id} FROM {table} WHERE occid = 201")).await;
    let before = env.files_under("var/www/imglib");
    assert_eq!(before.len(), 3);

    // A re-shot sheet of the same name.
    env.drop_sample(FULL_1449838, "MICH-V-1390992.jpg");
    let run = env.scan();
    assert_eq!(run.code, 0, "{}", run.stdout);
    run.assert_line("MICH-V-1390992.jpg", "replacing");
    assert_eq!(env.media_of(201).await.len(), 1, "still one row");
    assert_eq!(
        env.count(&format!("SELECT {id} FROM {table} WHERE occid = 201")).await,
        first_id,
        "same id"
    );
    let rows = env.media_of(201).await;
    assert_eq!(rows[0].0, "/imglib/MICH_Vascular/01390/MICH-V-1390992_1_med.jpg");
    assert_eq!(
        std::fs::read(env.served(&rows[0].2)).map(|d| jpeg_size(&d)).ok(),
        Some((3200, 4804))
    );
    let after = env.files_under("var/www/imglib");
    assert_eq!(after.len(), 3, "the old files are gone: {after:?}");
    assert!(after.iter().all(|f| f.contains("MICH-V-1390992_1")), "{after:?}");
    assert_eq!(
        env.files_under("var/archive/mich"),
        ["MICH-V-1390992.jpg", "MICH-V-1390992_1.jpg"]
    );
}

/// A replaced file that another specimen's row also points at (as a
/// Symbiota URL map can make) stays; the others go.
#[tokio::test]
async fn replace_keeps_an_old_file_another_row_points_at() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_config("existing_image = \"replace\"");
    env.drop_sample(FULL_1390992, "MICH-V-1390992.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);
    let old = env.media_of(201).await;
    let shared_url = old[0].0.clone();
    env.execute(&format!("INSERT INTO media (occid, url) VALUES (202, '{shared_url}')"))
        .await;

    env.drop_sample(FULL_1449838, "MICH-V-1390992.jpg");
    let run = env.scan();
    run.assert_line("MICH-V-1390992.jpg", "replacing");
    assert!(env.served(&shared_url).is_file(), "the shared web file was removed");
    let after = env.files_under("var/www/imglib");
    assert_eq!(after.len(), 4, "three new files and the shared old one: {after:?}");
}

async fn skip_leaves_a_specimen_with_images_alone(backend: Backend) {
    let env = Env::new(backend).await;
    env.write_config("existing_image = \"skip\"");
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);
    env.drop_sample(SMALL_8, "MICH-V-1390993_b.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [0, 0, 0, 0, 1], "{}", run.stdout);
    run.assert_line("MICH-V-1390993_b.jpg", "already has 1 image");
    assert_eq!(env.media_of(202).await.len(), 1);
    assert_eq!(
        env.files_under("var/drop/mich"),
        ["MICH-V-1390993_b.jpg"],
        "left in place"
    );
    assert_eq!(env.files_under("var/www/imglib").len(), 2, "no derivatives made for it");
}

on_every_backend!(replace_updates_the_row_in_place_and_removes_old_files);
on_every_backend!(skip_leaves_a_specimen_with_images_alone);

/// (occid, url, thumbnailUrl, originalUrl, mediaMD5, sortSequence) of the
/// rows specdrop wrote.
async fn our_rows(env: &Env) -> Vec<(i64, String, String, String, String, i64)> {
    use sqlx::Row;
    let mut conn = env.db().await;
    let (table, id) = env.table();
    let sql = format!(
        "SELECT occid, url, thumbnailUrl, originalUrl, mediaMD5, sortSequence FROM {table} \
         WHERE sourceIdentifier IS NOT NULL ORDER BY occid, {id}"
    );
    let rows = sqlx::query(&sql)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            let t = |i| r.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_default();
            (
                r.try_get(0).unwrap_or(0),
                t(1),
                t(2),
                t(3),
                t(4),
                r.try_get(5).unwrap_or(0),
            )
        })
        .collect()
}

async fn log_sink_then_load_log_gives_the_same_rows(backend: Backend) {
    let drop_all = |env: &Env| {
        env.drop_sample(FULL_1390992, "MICH-V-1390992.jpg");
        env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
        env.drop_sample(SMALL_8, "MICH-V-1390993_b.jpg");
        env.drop_sample(SMALL_9, "MICH-V-7654321.jpg");
    };
    let direct = Env::new(backend).await;
    drop_all(&direct);
    assert_eq!(direct.scan().summary(), [3, 1, 0, 0, 0]);

    let logged = Env::new(backend).await;
    logged.edit_config(
        "[storage]",
        "[sink]\nkind = \"log\"\npath = \"var/links.csv\"\n\n[storage]",
    );
    drop_all(&logged);
    let run = logged.scan();
    assert_eq!(run.summary(), [3, 1, 0, 0, 0], "{}", run.stdout);
    run.assert_line("MICH-V-1390992.jpg", "logged to");
    assert_eq!(logged.image_rows().await, 1, "nothing written to the portal yet");
    assert_eq!(logged.files_under("var/archive/mich").len(), 3);

    let load = logged.cli(&["load-log", "var/links.csv"]);
    assert_eq!(load.code, 0, "{}\n{}", load.stdout, load.stderr);
    assert_eq!(load.summary(), [3, 0, 0, 0, 0], "{}", load.stdout);
    assert_eq!(our_rows(&logged).await, our_rows(&direct).await);

    let again = logged.cli(&["load-log", "var/links.csv"]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("already there"), "{}", again.stdout);
    assert_eq!(
        our_rows(&logged).await,
        our_rows(&direct).await,
        "loading twice changes nothing"
    );
}
on_every_backend!(log_sink_then_load_log_gives_the_same_rows);

#[tokio::test]
async fn load_log_reports_bad_lines_by_number() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_file(
        "links.csv",
        b"collection,catalogNumber,file,url,thumbnailUrl,originalUrl,width,height,md5,time\n\
          MICH-V,1390993,a.jpg,/imglib/a_med.jpg,,,,,abc,t\n\
          NOPE,1,b.jpg,/imglib/b.jpg,,,,,abd,t\n\
          MICH-V,9999999,c.jpg,/imglib/c.jpg,,,,,abe,t\n\
          MICH-V,1390993,d.jpg,/imglib/d.jpg,,,notanumber,,abf,t\n",
    );
    let run = env.cli(&["load-log", "links.csv"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.summary(), [1, 1, 0, 2, 0], "{}", run.stdout);
    run.assert_line("line 3", "\"NOPE\" is not in the config");
    run.assert_line("line 4", "9999999");
    run.assert_line("line 5", "unreadable");
}

#[tokio::test]
async fn retry_parked_links_files_once_their_record_exists() {
    let env = Env::new(Backend::MariaDb).await;
    env.drop_sample(SMALL_9, "MICH-V-7654321.jpg");
    assert_eq!(env.scan().summary(), [0, 1, 0, 0, 0]);
    env.drop_sample(SMALL_8, "MICH-V-1390995.jpg");

    env.execute("INSERT INTO omoccurrences (occid, collid, catalogNumber) VALUES (299, 2, '7654321')")
        .await;
    let run = env.cli(&["retry", "--parked"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "only the parked file: {}", run.stdout);
    run.assert_line("MICH-V-7654321.jpg", "occid 299");
    assert_eq!(
        env.files_under("var/drop/mich"),
        ["MICH-V-1390995.jpg"],
        "new arrivals wait for scan"
    );
}

#[tokio::test]
async fn after_batch_procedure_runs_once_per_collection_with_work() {
    let env = Env::new(Backend::MariaDb).await;
    for sql in [
        "CREATE TABLE batch_log (collid INT)",
        "CREATE PROCEDURE log_batch(IN c INT) INSERT INTO batch_log VALUES (c)",
    ] {
        env.execute(sql).await;
    }
    env.write_config("after_batch_procedure = \"log_batch\"");
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    env.drop_sample(SMALL_8, "MICH-V-1390995.jpg");
    assert_eq!(env.scan().summary(), [2, 0, 0, 0, 0]);
    assert_eq!(env.count("SELECT COUNT(*) FROM batch_log WHERE collid = 2").await, 1);
    assert_eq!(env.scan().summary(), [0, 0, 0, 0, 0]);
    assert_eq!(env.count("SELECT COUNT(*) FROM batch_log").await, 1, "no work, no call");

    let sqlite = Env::new(Backend::Sqlite).await;
    sqlite.write_config("after_batch_procedure = \"log_batch\"");
    let run = sqlite.scan();
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("SQLite has no stored procedures"), "{}", run.stderr);
}

#[tokio::test]
async fn a_locked_table_makes_files_wait_not_fail() {
    let env = Env::new(Backend::MariaDb).await;
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    let mut lock = env.db().await;
    sqlx::raw_sql("LOCK TABLES media WRITE, omoccurrences WRITE, omoccuridentifiers WRITE")
        .execute(&mut lock)
        .await
        .expect("lock the portal's tables");
    let child = env
        .command(&["scan", "--config", "specdrop.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start specdrop scan");
    // Wait until specdrop's lookup is queued behind our lock, seen from
    // the server's side, then let it go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut admin = env.db().await;
    loop {
        use sqlx::Row;
        let waiting = sqlx::query(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND STATE LIKE 'Waiting for table%'",
        )
        .fetch_one(&mut admin)
        .await
        .map(|r| r.try_get::<i64, _>(0).unwrap_or(0))
        .unwrap_or(0);
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "specdrop never reached the locked table"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    sqlx::raw_sql("UNLOCK TABLES")
        .execute(&mut lock)
        .await
        .expect("unlock the portal's tables");
    let out = child.wait_with_output().expect("wait for specdrop scan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("summary: 1 linked"), "{stdout}");
}

#[tokio::test]
async fn an_unreachable_database_is_waited_for() {
    let env = Env::new(Backend::MariaDb).await;
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    // A port nobody listens on yet; the proxy opens it once specdrop has
    // said that it is waiting.
    let port = free_port();
    let (server, proxied) = through_port(&env.db_url, port);
    env.edit_config(&env.db_url, &proxied);
    let mut child = env
        .command(&["scan", "--config", "specdrop.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start specdrop scan");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let warning = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("portal database unavailable"))
        .expect("specdrop did not warn about the outage");
    assert!(warning.contains("tries again"), "{warning}");
    let _proxy = Proxy::start(port, &server);
    let out = child.wait_with_output().expect("wait for specdrop scan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("summary: 1 linked"), "{stdout}");
    assert_eq!(env.media_of(202).await.len(), 1);
}
