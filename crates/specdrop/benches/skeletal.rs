//! A 10,000-row skeletal file: how long `specdrop import-skeletal` takes to
//! create the records, and to find them all unchanged the second time.
//!
//! `cargo bench -p specdrop --bench skeletal`

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../../../tests/support/mariadb.rs"]
mod mariadb;
mod support;

use std::time::Instant;

const ROWS: usize = 10_000;

fn file() -> String {
    let mut text = String::from(
        "catalogNumber,sciname,family,recordedBy,recordNumber,eventDate,country,stateProvince,county,locality\n",
    );
    for i in 0..ROWS {
        text.push_str(&format!(
            "{},Carex lacustris,Cyperaceae,A. A. Reznicek,{},2001-09-13,USA,Michigan,Washtenaw,\"Ann Arbor, marsh {i}\"\n",
            8_000_000 + i,
            10_000 + i
        ));
    }
    text
}

fn run(dir: &std::path::Path, db_url: &str, label: &str) {
    support::write_config(dir, db_url, "", "");
    for pass in ["first (creates)", "second (unchanged)"] {
        let started = Instant::now();
        let out = support::specdrop_command()
            .args([
                "import-skeletal",
                "rows.csv",
                "--collection",
                "MICH-V",
                "--config",
                "specdrop.toml",
            ])
            .current_dir(dir)
            .output()
            .expect("run specdrop import-skeletal");
        let took = started.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout);
        let counts = text.lines().find(|l| l.starts_with("rows:")).unwrap_or("?").to_string();
        assert!(out.status.success(), "{text}");
        println!(
            "{label:<8} {pass:<20} {took:>7.2} s  {:>8.0} rows/s   {counts}",
            ROWS as f64 / took
        );
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rows.csv"), file()).expect("write the skeletal file");
    println!("{ROWS}-row skeletal file, 10 fields a row, through specdrop import-skeletal");

    let sqlite = support::seeded_sqlite(dir.path()).await;
    run(dir.path(), &sqlite, "SQLite");

    let db = mariadb::TestDb::seeded().await;
    run(dir.path(), &db.url, "MariaDB");
}
