//! How long from the last byte of an upload to its committed row, through
//! `specdrop run` with the default settle window (5 s), on this machine.
//! Target (issue #4): settle_secs + 1 s or less.
//!
//! `cargo bench -p specdrop --bench latency`

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sqlx::{Connection, Row, SqliteConnection};

mod support;

const SETTLE_SECS: u64 = 5;

fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = support::seeded_sqlite(dir.path()).await;
    support::write_config(
        dir.path(),
        &url,
        &format!("[watch]\nsettle_secs = {SETTLE_SECS}\n"),
        "unmatched = \"skeletal\"\n",
    );
    std::fs::create_dir_all(dir.path().join("drop")).expect("create the drop folder");
    let mut daemon = support::specdrop_command()
        .args(["run", "--config", "specdrop.toml"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start specdrop run");
    let mut conn = SqliteConnection::connect(&url).await.expect("open the portal");

    let sheets = [
        ("LM_Validate_LowRes_7.jpg", "1400x2100"),
        (
            "herb00ic_1390992_MICH-V-1390992_MICH-V-1390992_3753x5634.jpg",
            "3753x5634",
        ),
        ("LM_Validate_LowRes_8.jpg", "1400x2100"),
        (
            "herb00ic_1449838_MICH-V-1449838_MICH-V-1449838_3753x5634.jpg",
            "3753x5634",
        ),
        ("LM_Validate_LowRes_9.jpg", "1400x2100"),
        (
            "herb00ic_1450812_MICH-V-1450812_MICH-V-1450812_3744x5616.jpg",
            "3744x5616",
        ),
    ];
    println!("latency from last byte written to row committed (settle_secs = {SETTLE_SECS})");
    println!("{:<22} {:>10} {:>12}", "file", "pixels", "latency");
    let mut worst = Duration::ZERO;
    for (i, (name, pixels)) in sheets.iter().enumerate() {
        let file = format!("MICH-V-{}.jpg", 5_000_000 + i);
        let data = sample(name);
        let mut out = std::fs::File::create(dir.path().join("drop").join(&file)).expect("create the upload");
        for chunk in data.chunks(256 * 1024) {
            out.write_all(chunk).expect("write a chunk of the upload");
        }
        drop(out);
        let last_byte = Instant::now();
        let source = format!("filename: {file}");
        let latency = loop {
            let row = sqlx::query("SELECT COUNT(*) FROM media WHERE sourceIdentifier = ?")
                .bind(&source)
                .fetch_one(&mut conn)
                .await
                .and_then(|r| r.try_get::<i64, _>(0));
            if matches!(row, Ok(1)) {
                break last_byte.elapsed();
            }
            assert!(last_byte.elapsed() < Duration::from_secs(60), "{file} never linked");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        worst = worst.max(latency);
        println!("{file:<22} {pixels:>10} {:>10.2} s", latency.as_secs_f64());
    }
    let target = Duration::from_secs(SETTLE_SECS + 1);
    println!(
        "worst {:.2} s; target settle_secs + 1 s = {:.0} s; worst/target = {:.2}",
        worst.as_secs_f64(),
        target.as_secs_f64(),
        worst.as_secs_f64() / target.as_secs_f64()
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}
