//! `specdrop demo`: a complete, self-contained run for a newcomer. Makes a
//! folder with a config, an embedded SQLite portal holding the test seed's
//! collections and specimens, and four real herbarium sheets in the drop
//! folder (three with a specimen record, one without), scans it, and shows
//! the derivatives and rows that came out.
//!
//! The sheets are compiled into the binary so the demo works from any
//! directory; their origin is in samples/README.md.

use std::path::{Path, PathBuf};

use sqlx::{Connection, Row, SqliteConnection};

use crate::Error;
use crate::config::Config;

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

/// Make the demo folder and return its config, ready to scan (the binary
/// runs the scan, then [`show`]).
pub async fn make(dir: &Path) -> Result<Config, Error> {
    prepare(dir).await?;
    let config_file = dir.join("specdrop.toml");
    println!(
        "Made {}: config, SQLite portal (portal.db), 4 sheets in drop/mich/.",
        dir.display()
    );
    println!("Running: specdrop scan --config {}\n", config_file.display());
    Ok(Config::load(&config_file)?)
}

async fn prepare(dir: &Path) -> Result<(), Error> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            return Err(Error::Run(format!(
                "{} exists and was not made by `specdrop demo`; pass --dir with another folder",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir)
            .map_err(|e| Error::Run(format!("clearing the old demo in {}: {e}", dir.display())))?;
    }
    let drop = dir.join("drop/mich");
    std::fs::create_dir_all(&drop).map_err(|e| Error::Run(format!("creating {}: {e}", drop.display())))?;
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
        .map_err(|e| Error::Run(format!("loading the sample collections: {e}")))?;
    portal.close().await;
    Ok(())
}

/// What the scan made: the derivatives, the rows, where the originals went.
pub async fn show(dir: &Path, config: &Config) -> Result<(), Error> {
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
    let demo_db = |e: sqlx::Error| Error::Run(format!("reading the demo portal {}: {e}", db.display()));
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .map_err(demo_db)?;
    let rows = sqlx::query(
        "SELECT m.mediaID, m.occid, o.catalogNumber, m.url, m.thumbnailUrl, m.originalUrl \
         FROM media m JOIN omoccurrences o ON o.occid = m.occid WHERE m.sourceIdentifier IS NOT NULL ORDER BY m.mediaID",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(demo_db)?;
    println!("\nRows linked in {} (table media):", db.display());
    for row in rows {
        let text = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_default();
        println!(
            "  mediaID {} -> occid {} (catalogNumber {})\n    url          {}\n    thumbnailUrl {}\n    originalUrl  {}",
            row.try_get::<i64, _>(0).map_err(demo_db)?,
            row.try_get::<i64, _>(1).map_err(demo_db)?,
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
        if let Some(report) = crate::team_report::TeamReport::dir(&config.report, &c.drop) {
            println!(
                "What the imaging team sees: {} (and a CSV per day beside it).",
                report.join(crate::team_report::PAGE_FILE).display()
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
