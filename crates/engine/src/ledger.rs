//! specdrop's own memory: which file contents it has seen and what became
//! of them, keyed by the SHA-256 of the bytes. The same content arriving
//! again, under any name, is recognised and not linked twice.
//!
//! An embedded SQLite database at `<state_dir>/ledger.db`.

use std::path::Path;
use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::outcome::{Kind, NumberFrom};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS files (
    hash           TEXT PRIMARY KEY,
    collection     TEXT NOT NULL,
    source         TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    reason         TEXT,
    catalog_number TEXT,
    occid          INTEGER,
    media_id       INTEGER,
    large          TEXT,
    web            TEXT,
    thumbnail      TEXT,
    archived_to    TEXT,
    number_from    TEXT,
    symbology      TEXT,
    first_seen     TEXT NOT NULL DEFAULT (datetime('now')),
    updated        TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS files_outcome ON files (outcome);
-- Derivatives being put in place whose row is not yet committed: written
-- before the first of them appears, removed once the row (or the undo)
-- is done, by the run (one process's session) that wrote them. What a
-- crash leaves here is settled at the next start (claims.rs).
CREATE TABLE IF NOT EXISTS writing (
    path  TEXT PRIMARY KEY,
    url   TEXT NOT NULL,
    hash  TEXT NOT NULL,
    run   TEXT NOT NULL,
    since TEXT NOT NULL DEFAULT (datetime('now'))
);
";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the ledger in {dir}: {cause}; check state_dir and that specdrop's user may write there")]
    Open { dir: String, cause: String },
    #[error("ledger error: {0}")]
    Query(sqlx::Error),
}

impl LedgerError {
    /// A path claimed already (by another session).
    pub fn is_taken(&self) -> bool {
        matches!(self, LedgerError::Query(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Query(e)
    }
}

/// What the ledger holds about one content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub source: String,
    pub outcome: Kind,
    pub occid: Option<i64>,
}

/// A ledger entry as `status` and the imaging team's report show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub collection: String,
    pub source: String,
    pub outcome: Kind,
    pub reason: String,
    pub catalog_number: Option<String>,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub updated: String,
}

/// One row to record.
#[derive(Debug, Clone, Default)]
pub struct Record<'a> {
    pub hash: &'a str,
    pub collection: &'a str,
    pub source: &'a str,
    pub reason: Option<&'a str>,
    pub catalog_number: Option<&'a str>,
    pub occid: Option<i64>,
    pub media_id: Option<i64>,
    pub large: Option<&'a str>,
    pub web: Option<&'a str>,
    pub thumbnail: Option<&'a str>,
    /// Where the catalog number came from: stored as `filename` or
    /// `barcode`, and the barcode's kind.
    pub number_from: Option<NumberFrom>,
}

/// Columns later versions added, for ledgers an earlier version made.
const ADDED_COLUMNS: [(&str, &str, &str); 3] = [
    ("files", "number_from", "TEXT"),
    ("files", "symbology", "TEXT"),
    ("writing", "run", "TEXT NOT NULL DEFAULT 'an earlier version'"),
];

async fn add_missing_columns(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    for (table, column, kind) in ADDED_COLUMNS {
        let have: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info(?)")
            .bind(table)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        if !have.iter().any(|h| h == column) {
            sqlx::raw_sql(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// A claim not yet released.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// (hash, run): the files one session wrote for one content.
    pub set: (String, String),
    pub path: String,
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct Ledger {
    pool: SqlitePool,
}

impl Ledger {
    /// Open (or create) the ledger. With `read_only`, nothing is created:
    /// a missing ledger is an empty one in memory (for dry runs).
    pub async fn open(state_dir: &Path, read_only: bool) -> Result<Ledger, LedgerError> {
        let fail = |cause: &dyn std::fmt::Display| LedgerError::Open {
            dir: state_dir.display().to_string(),
            cause: cause.to_string(),
        };
        let file = state_dir.join("ledger.db");
        let url = if read_only && !file.exists() {
            "sqlite::memory:".to_string()
        } else {
            if !read_only {
                std::fs::create_dir_all(state_dir).map_err(|e| fail(&e))?;
            }
            format!("sqlite://{}", file.display())
        };
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| fail(&e))?
            .create_if_missing(!read_only)
            .read_only(read_only && file.exists())
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| fail(&e))?;
        if !(read_only && file.exists()) {
            sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(|e| fail(&e))?;
            add_missing_columns(&pool).await.map_err(|e| fail(&e))?;
        }
        Ok(Ledger { pool })
    }

    pub async fn get(&self, hash: &str) -> Result<Option<Entry>, LedgerError> {
        let row = sqlx::query("SELECT source, outcome, occid FROM files WHERE hash = ?")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let outcome: String = row.try_get(1)?;
        Ok(Some(Entry {
            source: row.try_get(0)?,
            outcome: Kind::from_str(&outcome).unwrap_or(Kind::Failed),
            occid: row.try_get(2)?,
        }))
    }

    /// Record (or update) what happened to the content `record.hash`.
    pub async fn record(&self, outcome: Kind, record: &Record<'_>) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO files (hash, collection, source, outcome, reason, catalog_number, occid, media_id, \
             large, web, thumbnail, number_from, symbology) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (hash) DO UPDATE SET collection = excluded.collection, source = excluded.source, \
             outcome = excluded.outcome, reason = excluded.reason, catalog_number = excluded.catalog_number, \
             occid = excluded.occid, media_id = excluded.media_id, large = excluded.large, web = excluded.web, \
             thumbnail = excluded.thumbnail, number_from = excluded.number_from, \
             symbology = excluded.symbology, updated = datetime('now')",
        )
        .bind(record.hash)
        .bind(record.collection)
        .bind(record.source)
        .bind(outcome.as_str())
        .bind(record.reason)
        .bind(record.catalog_number)
        .bind(record.occid)
        .bind(record.media_id)
        .bind(record.large)
        .bind(record.web)
        .bind(record.thumbnail)
        .bind(record.number_from.map(NumberFrom::code))
        .bind(record.number_from.and_then(NumberFrom::symbology).map(|s| s.as_str()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// (collection, source path) of every content whose outcome is one of
    /// `outcomes`.
    pub async fn sources(&self, outcomes: &[Kind]) -> Result<Vec<(String, String)>, LedgerError> {
        let mut found = Vec::new();
        for outcome in outcomes {
            let rows = sqlx::query("SELECT collection, source FROM files WHERE outcome = ? ORDER BY source")
                .bind(outcome.as_str())
                .fetch_all(&self.pool)
                .await?;
            for row in rows {
                found.push((row.try_get(0)?, row.try_get(1)?));
            }
        }
        Ok(found)
    }

    pub async fn set_archived(&self, hash: &str, archived_to: &str) -> Result<(), LedgerError> {
        sqlx::query("UPDATE files SET archived_to = ?, updated = datetime('now') WHERE hash = ?")
            .bind(archived_to)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many contents have each outcome: all of them, or (`today`)
    /// those whose outcome was reached today, local time.
    pub async fn counts(&self, today: bool) -> Result<Vec<(Kind, u64)>, LedgerError> {
        let sql = if today {
            "SELECT outcome, COUNT(*) FROM files WHERE date(updated, 'localtime') = date('now', 'localtime') \
             GROUP BY outcome"
        } else {
            "SELECT outcome, COUNT(*) FROM files GROUP BY outcome"
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        let mut counts: Vec<(Kind, u64)> = Kind::ALL.iter().map(|k| (*k, 0)).collect();
        for row in rows {
            let outcome: String = row.try_get(0)?;
            let n: i64 = row.try_get(1)?;
            if let Some(slot) = counts.iter_mut().find(|(k, _)| k.as_str() == outcome) {
                slot.1 = n.max(0) as u64;
            }
        }
        Ok(counts)
    }

    /// Entries with one of `outcomes`, most recently updated first.
    pub async fn listed(&self, outcomes: &[Kind], limit: u32) -> Result<Vec<Listed>, LedgerError> {
        let mut found = Vec::new();
        for outcome in outcomes {
            let rows = sqlx::query(
                "SELECT collection, source, outcome, reason, catalog_number, updated FROM files \
                 WHERE outcome = ? ORDER BY updated DESC, source LIMIT ?",
            )
            .bind(outcome.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                let outcome: String = row.try_get(2)?;
                found.push(Listed {
                    collection: row.try_get(0)?,
                    source: row.try_get(1)?,
                    outcome: Kind::from_str(&outcome).unwrap_or(Kind::Failed),
                    reason: row.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
                    catalog_number: row.try_get(4)?,
                    updated: row.try_get(5)?,
                });
            }
        }
        found.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.source.cmp(&b.source)));
        Ok(found)
    }

    /// Note that derivatives of content `hash` are about to appear at
    /// these (path, URL) pairs, written by `run`.
    pub async fn claim(&self, run: &str, hash: &str, files: &[(String, String)]) -> Result<(), LedgerError> {
        let mut tx = self.pool.begin().await?;
        for (path, url) in files {
            // A path another session has claimed is taken: the insert
            // fails and the caller tries the next name.
            sqlx::query("INSERT INTO writing (path, url, hash, run) VALUES (?, ?, ?, ?)")
                .bind(path)
                .bind(url)
                .bind(hash)
                .bind(run)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// These paths `run` claimed are not its files after all.
    pub async fn unclaim(&self, run: &str, paths: &[String]) -> Result<(), LedgerError> {
        let mut tx = self.pool.begin().await?;
        for path in paths {
            sqlx::query("DELETE FROM writing WHERE path = ? AND run = ?")
                .bind(path)
                .bind(run)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The derivatives `run` wrote of `hash` are settled: committed with
    /// their row, or removed again. Another run's claims on the same
    /// content stay for the start-up clean-up.
    pub async fn release(&self, run: &str, hash: &str) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM writing WHERE hash = ? AND run = ?")
            .bind(hash)
            .bind(run)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Hand `run`'s claims on `hash` to the next start-up's clean-up: no
    /// later release by this run touches them.
    pub async fn set_aside(&self, run: &str, hash: &str) -> Result<(), LedgerError> {
        sqlx::query("UPDATE writing SET run = 'set aside by ' || run WHERE hash = ? AND run = ?")
            .bind(hash)
            .bind(run)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forget one claim (settled at start-up).
    pub async fn forget_claim(&self, path: &str) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM writing WHERE path = ?")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every claim not yet released, grouped by set.
    pub async fn claims(&self) -> Result<Vec<Claimed>, LedgerError> {
        let rows = sqlx::query("SELECT hash, run, path, url FROM writing ORDER BY hash, run, path")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    set: (row.try_get(0)?, row.try_get(1)?),
                    path: row.try_get(2)?,
                    url: row.try_get(3)?,
                })
            })
            .collect()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ledger made before `number_from` and `symbology` existed gets them
    /// when opened, and keeps its entries.
    #[tokio::test]
    async fn an_older_ledger_gains_the_new_columns() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
        let options = SqliteConnectOptions::from_str(&url)?.create_if_missing(true);
        let old = SqlitePoolOptions::new().connect_with(options).await?;
        let before = SCHEMA
            .replace("    number_from    TEXT,\n    symbology      TEXT,\n", "")
            .replace("    run   TEXT NOT NULL,\n", "");
        assert!(
            !before.contains("number_from") && !before.contains("run   TEXT"),
            "both older shapes are made"
        );
        sqlx::raw_sql(&before).execute(&old).await?;
        sqlx::query("INSERT INTO files (hash, collection, source, outcome) VALUES ('h0', 'C', 'a.jpg', 'linked')")
            .execute(&old)
            .await?;
        old.close().await;

        let ledger = Ledger::open(dir.path(), false).await?;
        let record = Record {
            hash: "h1",
            collection: "C",
            source: "IMG_0001.jpg",
            catalog_number: Some("1122841"),
            number_from: Some(NumberFrom::Barcode(specdrop_barcode::Symbology::Code39)),
            ..Record::default()
        };
        ledger.record(Kind::Linked, &record).await?;
        let row = sqlx::query("SELECT number_from, symbology FROM files WHERE hash = 'h1'")
            .fetch_one(&ledger.pool)
            .await?;
        assert_eq!(row.try_get::<String, _>(0)?, "barcode");
        assert_eq!(row.try_get::<String, _>(1)?, "Code 39");
        assert!(ledger.get("h0").await?.is_some(), "older entries are kept");
        ledger
            .claim("run", "h1", &[("/lib/a.jpg".into(), "/imglib/a.jpg".into())])
            .await?;
        let taken = ledger
            .claim("other", "h2", &[("/lib/a.jpg".into(), "/imglib/a.jpg".into())])
            .await;
        assert!(
            taken.is_err_and(|e| e.is_taken()),
            "a path claimed by another run is taken"
        );
        Ok(())
    }
}
