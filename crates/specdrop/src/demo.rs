//! `specdrop demo`: a complete, self-contained run for a newcomer. Makes a
//! folder with a config, an embedded SQLite portal holding the test seed's
//! collections and specimens, and four real herbarium sheets in the drop
//! folder (three with a specimen record, one without), scans it, and shows
//! the derivatives and rows that came out.
//!
//! The sheets are compiled into the binary so the demo works from any
//! directory; their origin is in samples/README.md.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sqlx::{Connection, Row, SqliteConnection};

use crate::config::Config;
use crate::exit::Failure;

/// Marks a folder as made by `specdrop demo`, so a rerun may replace it.
const MARKER: &str = ".specdrop-demo";
const SEED: &str = include_str!("../../mapper/sql/seed-mariadb.sql");

const SHEETS: [(&str, &[u8]); 4] = [
    (
        "MICH-V-1390992.jpg",
        include_bytes!("../../../samples/herb00ic_1390992_MICH-V-1390992_MICH-V-1390992_3753x5634.jpg"),
    ),
    (
        "MICH-V-1390993.jpg",
        include_bytes!("../../../samples/LM_Validate_LowRes_7.jpg"),
    ),
    (
        "MICH-V-1390995.jpg",
        include_bytes!("../../../samples/LM_Validate_LowRes_8.jpg"),
    ),
    (
        "MICH-V-7654321.jpg",
        include_bytes!("../../../samples/LM_Validate_LowRes_9.jpg"),
    ),
];

const CONFIG: &str = r#"# specdrop demo config: every path is relative to this file's folder.
state_dir = "state"

[database]
url = "sqlite://portal.db"

[storage]
root = "www/imglib"
url_base = "/imglib"

[[collection]]
code = "MICH-V"
collid = 2
drop = "drop/mich"
archive = "archive/mich"
# catalogNumber is the 7 digits after MICH-V- (the portal stores 1390992)
pattern = '^MICH-V-(\d{7})'
unmatched = "park"
"#;

pub async fn run(dir: &Path) -> Result<std::process::ExitCode, Failure> {
    prepare(dir).await.map_err(Failure::Run)?;
    let config_file = dir.join("specdrop.toml");
    println!(
        "Made {}: config, SQLite portal (portal.db), 4 sheets in drop/mich/.",
        dir.display()
    );
    println!("Running: specdrop scan --config {}\n", config_file.display());
    let config = Config::load(&config_file)?;
    let summary = crate::scan::scan(&config, false).await?;
    let code = crate::finish(&summary);
    show(dir, &config).await.map_err(Failure::Run)?;
    Ok(code)
}

async fn prepare(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        anyhow::ensure!(
            dir.join(MARKER).exists(),
            "{} exists and was not made by `specdrop demo`; pass --dir with another folder",
            dir.display()
        );
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing the old demo in {}", dir.display()))?;
    }
    let drop = dir.join("drop/mich");
    std::fs::create_dir_all(&drop).with_context(|| format!("creating {}", drop.display()))?;
    std::fs::write(dir.join(MARKER), "made by specdrop demo; safe to delete\n")?;
    std::fs::write(dir.join("specdrop.toml"), CONFIG)?;
    for (name, bytes) in SHEETS {
        std::fs::write(drop.join(name), bytes)?;
    }
    let url = format!("sqlite://{}", dir.join("portal.db").display());
    let portal = specdrop_mapper::Portal::connect(&url, specdrop_mapper::SchemaChoice::Auto).await?;
    portal
        .execute_script(SEED)
        .await
        .context("loading the sample collections")?;
    portal.close().await;
    Ok(())
}

async fn show(dir: &Path, config: &Config) -> anyhow::Result<()> {
    println!("\nDerivatives under {}:", config.storage_root.display());
    let mut files: Vec<PathBuf> = walk(&config.storage_root);
    files.sort();
    for file in &files {
        let bytes = std::fs::read(file)?;
        let size = specdrop_derive::probe(&bytes, u64::MAX, &[specdrop_derive::Format::Jpeg])
            .map_or_else(|_| "?".into(), |(w, h)| format!("{w}x{h}"));
        let rel = file.strip_prefix(&config.storage_root).unwrap_or(file);
        println!("  {:<48} {:>10} px {:>9} bytes", rel.display(), size, bytes.len());
    }
    let db = dir.join("portal.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display())).await?;
    let rows = sqlx::query(
        "SELECT m.mediaID, m.occid, o.catalogNumber, m.url, m.thumbnailUrl, m.originalUrl \
         FROM media m JOIN omoccurrences o ON o.occid = m.occid WHERE m.sourceIdentifier IS NOT NULL ORDER BY m.mediaID",
    )
    .fetch_all(&mut conn)
    .await?;
    println!("\nRows linked in {} (table media):", db.display());
    for row in rows {
        let text = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_default();
        println!(
            "  mediaID {} -> occid {} (catalogNumber {})\n    url          {}\n    thumbnailUrl {}\n    originalUrl  {}",
            row.try_get::<i64, _>(0)?,
            row.try_get::<i64, _>(1)?,
            text(2),
            text(3),
            text(4),
            text(5)
        );
    }
    let mich = config.collections.first();
    if let Some(c) = mich {
        println!("\nOriginals of linked sheets were moved to {}.", c.archive.display());
        println!("Sheets with no specimen record stay parked in {}.", c.drop.display());
        if let Some(report) = crate::share::ShareReport::dir(&config.report, &c.drop) {
            println!(
                "What the imaging team sees: {} (and a CSV per day beside it).",
                report.join(crate::share::PAGE_FILE).display()
            );
        }
    }
    println!(
        "Look for yourself: sqlite3 {} \"SELECT mediaID, occid, url FROM media\"",
        db.display()
    );
    Ok(())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() { walk(&path) } else { vec![path] }
        })
        .collect()
}
