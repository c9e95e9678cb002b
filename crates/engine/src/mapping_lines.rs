//! The lines of mapping files, kept in the ledger until their images
//! arrive: a mapping file is archived once read, while its images may come
//! days later (or came before it, and wait parked).
//!
//! A line is keyed by the path it names below the drop folder (the mapping
//! file's folder joined with its `filename`); a bare name also matches an
//! image of that name in a folder below. Several lines of one file for
//! one path name several specimens on one sheet (`seq` orders them); a
//! later file's lines for a path replace the earlier ones (the team
//! corrected them).

use sqlx::Row as _;

use specdrop_mapper::mapping::MappingLine;
use specdrop_mapper::{Key, MediaColumn, MediaValues};

use crate::ledger::{Dialect, Ledger, LedgerError};

const TABLE: &str = "
CREATE TABLE IF NOT EXISTS mapping_lines (
    collection TEXT NOT NULL,
    path       TEXT NOT NULL,
    base       TEXT NOT NULL,
    folder     TEXT NOT NULL,
    bare       INTEGER NOT NULL,
    `key`      TEXT NOT NULL,
    value      TEXT NOT NULL,
    meta       TEXT NOT NULL,
    source     TEXT NOT NULL,
    line       INTEGER NOT NULL,
    matched    TEXT,
    added      TEXT NOT NULL DEFAULT (datetime('now')),
    seq        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, path, seq)
);
CREATE INDEX IF NOT EXISTS mapping_lines_base ON mapping_lines (collection, base);
";

/// A stored line that names an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub key: Key,
    pub value: String,
    pub meta: MediaValues,
    /// `NAME.map.csv line N`, for the report.
    pub origin: String,
    /// Its path below the drop folder (to mark it matched).
    pub path: String,
}

/// A line whose image has not arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    pub collection: String,
    pub path: String,
    pub source: String,
    pub line: i64,
    pub added: String,
}

fn key_of(name: &str) -> Key {
    [Key::OtherCatalogNumbers, Key::OccurrenceId, Key::Occid]
        .into_iter()
        .find(|k| k.name() == name)
        .unwrap_or(Key::CatalogNumber)
}

fn meta_json(meta: &MediaValues) -> String {
    let pairs: Vec<(&str, &str)> = meta.iter().map(|(c, v)| (c.column(false), v)).collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

fn meta_of(json: &str) -> MediaValues {
    let pairs: Vec<(String, String)> = serde_json::from_str(json).unwrap_or_default();
    let mut meta = MediaValues::default();
    for (name, value) in pairs {
        if let Some(column) = MediaColumn::from_header(&name) {
            // Checked when the file was read.
            let _ = meta.set(column, &value);
        }
    }
    meta
}

/// `folder/name`, `/`-separated, without a leading `/`.
fn joined(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else {
        format!("{folder}/{name}")
    }
}

impl Ledger {
    /// The SQLite ledger makes the table when first needed; the shared
    /// database has it from its first migration (ledger/migrations.rs).
    async fn mapping_table(&self) -> Result<(), LedgerError> {
        if self.dialect() == Dialect::Sqlite {
            if self.has_mapping_table().await? {
                self.rebuild_keyed_by_path().await?;
            }
            sqlx::raw_sql(TABLE).execute(self.pool()).await?;
        }
        Ok(())
    }

    /// Tables made before several lines per image were keyed by the path
    /// alone: made again with `seq`, every line kept (SQLite cannot change
    /// a primary key in place).
    async fn rebuild_keyed_by_path(&self) -> Result<(), LedgerError> {
        let has_seq: i64 = sqlx::query("SELECT COUNT(*) FROM pragma_table_info('mapping_lines') WHERE name = 'seq'")
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        if has_seq > 0 {
            return Ok(());
        }
        let columns = "collection, path, base, folder, bare, key, value, meta, source, line, matched, added";
        // One script on one connection, in one transaction.
        let script = format!(
            "BEGIN IMMEDIATE; ALTER TABLE mapping_lines RENAME TO mapping_lines_keyed_by_path; \
             DROP INDEX IF EXISTS mapping_lines_base; {TABLE} \
             INSERT INTO mapping_lines ({columns}) SELECT {columns} FROM mapping_lines_keyed_by_path; \
             DROP TABLE mapping_lines_keyed_by_path; COMMIT;"
        );
        sqlx::raw_sql(&script).execute(self.pool()).await?;
        Ok(())
    }

    /// Whether the table is there. Readers ask instead of creating it: a
    /// dry run opens an older ledger read-only, and no table is no lines.
    async fn has_mapping_table(&self) -> Result<bool, LedgerError> {
        if self.dialect() == Dialect::MySql {
            return Ok(true);
        }
        let found: i64 =
            sqlx::query("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'mapping_lines'")
                .fetch_one(self.pool())
                .await?
                .try_get(0)?;
        Ok(found > 0)
    }

    /// Keep `lines` of mapping file `source` (in `folder` below the drop
    /// folder, `/`-separated, empty for the top) for `collection`.
    pub async fn keep_mapping_lines(
        &self,
        collection: &str,
        folder: &str,
        source: &str,
        key: Key,
        lines: &[MappingLine],
    ) -> Result<(), LedgerError> {
        self.mapping_table().await?;
        let replace = self.sql(
            "{replace} INTO mapping_lines (collection, path, base, folder, bare, `key`, value, meta, source, line, seq) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let mut tx = self.pool().begin().await?;
        let mut taken: Vec<String> = Vec::new();
        for line in lines {
            let path = joined(folder, &line.file);
            let seq = taken.iter().filter(|p| **p == path).count();
            if seq == 0 {
                // This file's lines for the path replace any earlier file's.
                sqlx::query("DELETE FROM mapping_lines WHERE collection = ? AND path = ?")
                    .bind(collection)
                    .bind(&path)
                    .execute(&mut *tx)
                    .await?;
            }
            taken.push(path.clone());
            let base = path.rsplit('/').next().unwrap_or(&path).to_string();
            sqlx::query(&replace)
                .bind(collection)
                .bind(&path)
                .bind(&base)
                .bind(folder)
                .bind(i64::from(!line.file.contains('/')))
                .bind(key.name())
                .bind(&line.value)
                .bind(meta_json(&line.meta))
                .bind(source)
                .bind(i64::try_from(line.line).unwrap_or(i64::MAX))
                .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The lines for the image at `path` below the drop folder: those
    /// naming that path, else the bare name's in the nearest folder above;
    /// several when one sheet carries several specimens, in file order.
    pub async fn mapping_for(&self, collection: &str, path: &str) -> Result<Vec<Mapped>, LedgerError> {
        if !self.has_mapping_table().await? {
            return Ok(Vec::new());
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        // A dry run reads an older SQLite table as it is, without `seq`;
        // the shared database has it from its first step.
        let has_seq = self.dialect() != Dialect::Sqlite || {
            let count: i64 = sqlx::query("SELECT COUNT(*) FROM pragma_table_info('mapping_lines') WHERE name = 'seq'")
                .fetch_one(self.pool())
                .await?
                .try_get(0)?;
            count > 0
        };
        let seq = if has_seq { "seq" } else { "0" };
        let sql = format!(
            "SELECT path, folder, bare, `key`, value, meta, source, line FROM mapping_lines \
             WHERE collection = ? AND base = ? ORDER BY {seq}"
        );
        let rows = sqlx::query(&sql)
            .bind(collection)
            .bind(base)
            .fetch_all(self.pool())
            .await?;
        let mut best: Option<(usize, String)> = None;
        let mut found: Vec<(usize, Mapped)> = Vec::new();
        for row in rows {
            let (at, folder): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            let bare = row.try_get::<i64, _>(2)? != 0;
            let exact = at == path;
            let below = bare && (folder.is_empty() || path.starts_with(&format!("{folder}/")));
            if !(exact || below) {
                continue;
            }
            // The exact path first, then the deepest folder.
            let rank = if exact { usize::MAX } else { folder.len() };
            if best
                .as_ref()
                .is_some_and(|(r, p)| *r > rank || (*r == rank && *p != at))
            {
                continue;
            }
            if best.as_ref().is_none_or(|(r, _)| *r < rank) {
                best = Some((rank, at.clone()));
            }
            let (key, value, meta): (String, String, String) = (row.try_get(3)?, row.try_get(4)?, row.try_get(5)?);
            let (source, line): (String, i64) = (row.try_get(6)?, row.try_get(7)?);
            found.push((
                rank,
                Mapped {
                    key: key_of(&key),
                    value,
                    meta: meta_of(&meta),
                    origin: format!("{source} line {line}"),
                    path: at,
                },
            ));
        }
        let Some((rank, at)) = best else {
            return Ok(Vec::new());
        };
        Ok(found
            .into_iter()
            .filter(|(r, m)| *r == rank && m.path == at)
            .map(|(_, m)| m)
            .collect())
    }

    /// An image took the line at `path`.
    pub async fn mapping_matched(&self, collection: &str, path: &str) -> Result<(), LedgerError> {
        self.mapping_table().await?;
        let sql =
            self.sql("UPDATE mapping_lines SET matched = {now} WHERE collection = ? AND path = ? AND matched IS NULL");
        sqlx::query(&sql)
            .bind(collection)
            .bind(path)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Lines no image has taken, oldest first.
    pub async fn unmatched_mapping_lines(&self) -> Result<Vec<Unmatched>, LedgerError> {
        if !self.has_mapping_table().await? {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT collection, path, source, line, added FROM mapping_lines WHERE matched IS NULL ORDER BY added, source, line",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Unmatched {
                    collection: r.try_get(0)?,
                    path: r.try_get(1)?,
                    source: r.try_get(2)?,
                    line: r.try_get(3)?,
                    added: r.try_get(4)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> Result<tempfile::TempDir, LedgerError> {
        tempfile::tempdir().map_err(|e| LedgerError::Open {
            dir: "tempdir".into(),
            cause: e.to_string(),
        })
    }

    fn line(file: &str, value: &str) -> MappingLine {
        MappingLine {
            line: 2,
            file: file.into(),
            value: value.into(),
            meta: MediaValues::default(),
        }
    }

    /// A dry run opens an existing ledger read-only; one made before
    /// mapping files has no table, which is no lines, not an error.
    #[tokio::test]
    async fn a_read_only_ledger_without_the_table_has_no_lines() -> Result<(), LedgerError> {
        let dir = tempdir()?;
        Ledger::open(dir.path(), false).await?.close().await;
        let ledger = Ledger::open(dir.path(), true).await?;
        assert!(ledger.mapping_for("M", "a.jpg").await?.is_empty());
        assert!(ledger.unmatched_mapping_lines().await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn an_image_finds_the_nearest_line() -> Result<(), LedgerError> {
        let dir = tempdir()?;
        let ledger = Ledger::open(dir.path(), false).await?;
        let mut captioned = line("a.jpg", "TOP");
        let _ = captioned.meta.set(MediaColumn::Caption, "sheet a");
        ledger
            .keep_mapping_lines(
                "M",
                "",
                "top.map.csv",
                Key::CatalogNumber,
                &[captioned, line("x/b.jpg", "XB")],
            )
            .await?;
        ledger
            .keep_mapping_lines("M", "box", "box.map.csv", Key::OccurrenceId, &[line("a.jpg", "BOX")])
            .await?;
        let value = |m: Vec<Mapped>| m.into_iter().next().map(|m| m.value);
        assert_eq!(value(ledger.mapping_for("M", "a.jpg").await?).as_deref(), Some("TOP"));
        assert_eq!(
            value(ledger.mapping_for("M", "box/a.jpg").await?).as_deref(),
            Some("BOX")
        );
        assert_eq!(
            value(ledger.mapping_for("M", "box/deep/a.jpg").await?).as_deref(),
            Some("BOX")
        );
        assert_eq!(
            value(ledger.mapping_for("M", "other/a.jpg").await?).as_deref(),
            Some("TOP")
        );
        assert_eq!(value(ledger.mapping_for("M", "x/b.jpg").await?).as_deref(), Some("XB"));
        assert!(
            ledger.mapping_for("M", "y/x/b.jpg").await?.is_empty(),
            "a path names one place"
        );
        assert!(ledger.mapping_for("N", "a.jpg").await?.is_empty());
        let top = ledger.mapping_for("M", "a.jpg").await?;
        assert_eq!(
            top.first()
                .map(|m| m.meta.get(MediaColumn::Caption).map(str::to_string)),
            Some(Some("sheet a".into()))
        );

        assert_eq!(ledger.unmatched_mapping_lines().await?.len(), 3);
        ledger.mapping_matched("M", "box/a.jpg").await?;
        let left: Vec<String> = ledger
            .unmatched_mapping_lines()
            .await?
            .into_iter()
            .map(|u| u.path)
            .collect();
        assert_eq!(left.len(), 2);
        assert!(!left.contains(&"box/a.jpg".to_string()), "{left:?}");
        Ok(())
    }

    #[tokio::test]
    async fn several_lines_for_one_image_are_kept_until_a_later_file_replaces_them() -> Result<(), LedgerError> {
        let dir = tempdir()?;
        let ledger = Ledger::open(dir.path(), false).await?;
        // A ledger whose table was keyed by the path alone.
        sqlx::raw_sql(
            "CREATE TABLE mapping_lines (collection TEXT NOT NULL, path TEXT NOT NULL, base TEXT NOT NULL, \
             folder TEXT NOT NULL, bare INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, meta TEXT NOT NULL, \
             source TEXT NOT NULL, line INTEGER NOT NULL, matched TEXT, added TEXT NOT NULL DEFAULT (datetime('now')), \
             PRIMARY KEY (collection, path)); \
             INSERT INTO mapping_lines (collection, path, base, folder, bare, key, value, meta, source, line) \
             VALUES ('M', 'old.jpg', 'old.jpg', '', 1, 'catalogNumber', 'OLD', '[]', 'old.map.csv', 2)",
        )
        .execute(ledger.pool())
        .await?;
        let one = [line("s.jpg", "A"), line("s.jpg", "B"), line("t.jpg", "C")];
        ledger
            .keep_mapping_lines("M", "", "one.map.csv", Key::CatalogNumber, &one)
            .await?;
        let values = |m: Vec<Mapped>| m.into_iter().map(|m| m.value).collect::<Vec<_>>();
        assert_eq!(
            values(ledger.mapping_for("M", "old.jpg").await?),
            ["OLD"],
            "kept by the rebuild"
        );
        assert_eq!(values(ledger.mapping_for("M", "s.jpg").await?), ["A", "B"]);
        ledger
            .keep_mapping_lines("M", "", "two.map.csv", Key::CatalogNumber, &[line("s.jpg", "D")])
            .await?;
        assert_eq!(values(ledger.mapping_for("M", "s.jpg").await?), ["D"], "corrected");
        assert_eq!(values(ledger.mapping_for("M", "t.jpg").await?), ["C"]);
        Ok(())
    }
}
