//! `specdrop rebuild` on this machine: rows per second for 1, 2 and 3
//! rebuild processes (one worker thread each) sharing a MariaDB ledger,
//! and the statements each row costs the ledger and the portal.
//!
//! The rows are the corpus's 1400×2100 sheets (made distinct), or with
//! `SPECDROP_BENCH_SHEETS=full` its 3753×5634 ones, scanned once; each
//! round rebuilds every row again (`--again`) from the archived originals
//! at the default sizes. The ledger and the portal are
//! reached as users of their own, whose statements MariaDB counts in
//! `information_schema.USER_STATISTICS` (`userstat` is switched on for the
//! run and back after); the server's global `Questions` and `Com_*` are
//! shown beside them, but count every client of the server.
//!
//! `cargo bench -p specdrop --bench rebuild` (`SPECDROP_BENCH_ROWS`,
//! default 240 small or 40 full sheets)

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../../../tests/support/mariadb.rs"]
mod mariadb;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use sqlx::{Connection as _, MySqlConnection, Row as _};

const LEDGER_USER: &str = "sdbench_ledger";
const PORTAL_USER: &str = "sdbench_portal";
const COUNTERS: [&str; 5] = ["Questions", "Com_select", "Com_insert", "Com_update", "Com_delete"];

async fn admin() -> MySqlConnection {
    let server = std::env::var("SPECDROP_TEST_MARIADB").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    MySqlConnection::connect(&format!("{server}/mysql"))
        .await
        .expect("MariaDB for the bench")
}

/// A user of its own for database `db`; its URL.
async fn user_for(conn: &mut MySqlConnection, user: &str, db: &str) -> String {
    for host in ["%", "localhost"] {
        for sql in [
            format!("CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY 'bench'"),
            format!("GRANT ALL ON `{db}`.* TO '{user}'@'{host}'"),
        ] {
            sqlx::raw_sql(&sql)
                .execute(&mut *conn)
                .await
                .expect("make the bench's user");
        }
    }
    format!("mysql://{user}:bench@127.0.0.1:3306/{db}")
}

/// Statements by user (`SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS`).
async fn by_user(conn: &mut MySqlConnection, user: &str) -> i64 {
    let row = sqlx::query(
        "SELECT CAST(IFNULL(SUM(SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS), 0) AS SIGNED) \
         FROM information_schema.USER_STATISTICS WHERE USER = ?",
    )
    .bind(user)
    .fetch_one(&mut *conn)
    .await
    .expect("read USER_STATISTICS");
    row.try_get(0).expect("a count")
}

async fn global(conn: &mut MySqlConnection) -> BTreeMap<String, i64> {
    let rows = sqlx::query("SHOW GLOBAL STATUS")
        .fetch_all(&mut *conn)
        .await
        .expect("read the global status");
    rows.iter()
        .filter_map(|r| {
            let name: String = r.try_get(0).ok()?;
            let value: String = r.try_get(1).ok()?;
            COUNTERS
                .contains(&name.as_str())
                .then(|| (name, value.parse().unwrap_or(0)))
        })
        .collect()
}

/// The corpus sheets whose names start with one of `prefixes`.
fn sheets(prefixes: &[&str]) -> Vec<Vec<u8>> {
    let dir = support::default_dir();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("the corpus")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| prefixes.iter().any(|x| n.to_string_lossy().starts_with(x)))
        })
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).expect("a sheet")).collect()
}

fn rebuild(dir: &Path, processes: usize) -> (f64, Vec<String>) {
    let started = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|_| {
            support::specdrop_command()
                .args([
                    "rebuild",
                    "--collection",
                    "MICH-V",
                    "--again",
                    "--config",
                    "specdrop.toml",
                ])
                .current_dir(dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start specdrop rebuild")
        })
        .collect();
    let mut summaries = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("wait for specdrop rebuild");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
        summaries.push(
            text.lines()
                .find(|l| l.starts_with("rebuild: ") && l.contains(" rebuilt"))
                .unwrap_or("?")
                .to_string(),
        );
    }
    (started.elapsed().as_secs_f64(), summaries)
}

#[tokio::main]
async fn main() {
    let full = std::env::var("SPECDROP_BENCH_SHEETS").is_ok_and(|v| v == "full");
    let (prefixes, kind, default_rows): (&[&str], _, _) = if full {
        (&["herb00ic_", "MICH_"], "3753x5634", 40)
    } else {
        (&["LM_Validate_LowRes"], "1400x2100", 240)
    };
    let rows: usize = std::env::var("SPECDROP_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_rows);
    let portal = mariadb::TestDb::seeded().await;
    let ledger = mariadb::TestDb::empty().await;
    let mut conn = admin().await;
    let portal_url = user_for(&mut conn, PORTAL_USER, &portal.name).await;
    let ledger_url = user_for(&mut conn, LEDGER_USER, &ledger.name).await;
    let userstat: i64 = sqlx::query_scalar("SELECT CAST(@@global.userstat AS SIGNED)")
        .fetch_one(&mut conn)
        .await
        .expect("read userstat");
    sqlx::raw_sql("SET GLOBAL userstat = 1")
        .execute(&mut conn)
        .await
        .expect("switch userstat on");

    let dir = tempfile::tempdir().expect("tempdir");
    let sheets = sheets(prefixes);
    std::fs::create_dir_all(dir.path().join("drop")).expect("the drop folder");
    let mut records = portal.connect().await;
    for i in 0..rows {
        let number = 7_400_000 + i;
        sqlx::query("INSERT INTO omoccurrences (occid, collid, catalogNumber) VALUES (?, 2, ?)")
            .bind(i64::try_from(9000 + i).expect("an occid"))
            .bind(number.to_string())
            .execute(&mut records)
            .await
            .expect("a record");
        // Distinct contents: bytes after the end marker, which decoders
        // ignore.
        let mut sheet = sheets[i % sheets.len()].clone();
        sheet.extend_from_slice(format!("bench copy {i}").as_bytes());
        std::fs::write(dir.path().join(format!("drop/MICH-V-{number}.jpg")), sheet).expect("a sheet");
    }
    support::write_config(
        dir.path(),
        &portal_url,
        &format!("[ledger]\nurl = \"{ledger_url}\"\n[workers]\nthreads = 1\n"),
        "archive = \"archive\"\n",
    );
    let started = Instant::now();
    let scan = support::specdrop_command()
        .args(["scan", "--config", "specdrop.toml"])
        .current_dir(dir.path())
        .output()
        .expect("run specdrop scan");
    assert!(scan.status.success(), "{}", String::from_utf8_lossy(&scan.stdout));
    println!(
        "{rows} rows ({kind} sheets) linked by one scan in {:.1} s; default sizes, workers.threads = 1 per process; \
         {} cores here",
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    println!("processes  seconds  rows/s  ledger stmts/row  portal stmts/row  global Questions/row (all clients)");
    for processes in 1..=3 {
        let (ledger_before, portal_before) = (
            by_user(&mut conn, LEDGER_USER).await,
            by_user(&mut conn, PORTAL_USER).await,
        );
        let global_before = global(&mut conn).await;
        let (took, summaries) = rebuild(dir.path(), processes);
        let (ledger_after, portal_after) = (
            by_user(&mut conn, LEDGER_USER).await,
            by_user(&mut conn, PORTAL_USER).await,
        );
        let global_after = global(&mut conn).await;
        let per_row = |a: i64, b: i64| (a - b) as f64 / rows as f64;
        let delta = |name: &str| global_after.get(name).unwrap_or(&0) - global_before.get(name).unwrap_or(&0);
        println!(
            "{processes:>9}  {took:>7.1}  {:>6.1}  {:>16.1}  {:>16.1}  {:>8.1}   (Com_ select {} insert {} update {} delete {})",
            rows as f64 / took,
            per_row(ledger_after, ledger_before),
            per_row(portal_after, portal_before),
            per_row(delta("Questions"), 0),
            delta("Com_select"),
            delta("Com_insert"),
            delta("Com_update"),
            delta("Com_delete"),
        );
        for s in summaries {
            println!("             {s}");
        }
    }
    sqlx::raw_sql(&format!("SET GLOBAL userstat = {userstat}"))
        .execute(&mut conn)
        .await
        .expect("switch userstat back");
    for user in [LEDGER_USER, PORTAL_USER] {
        for host in ["%", "localhost"] {
            let _ = sqlx::raw_sql(&format!("DROP USER IF EXISTS '{user}'@'{host}'"))
                .execute(&mut conn)
                .await;
        }
    }
}
