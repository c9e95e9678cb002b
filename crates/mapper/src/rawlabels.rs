//! Label text read from an image, where Symbiota keeps OCR:
//! `specprocessorrawlabels`, one row per image row. Symbiota 3.2+ keys it
//! by `mediaID`, older portals by `imgid` (a 3.0 portal's trigger copies
//! each row into a full-text table whose `imgid` may not be NULL), so the
//! key column is the image table's own id column.

use sqlx::Row;

use crate::MapperError;
use crate::backend::Backend;
use crate::portal::Portal;

/// `rawStr` is a TEXT column (65,535 bytes in MariaDB); a longer reading
/// is cut rather than refused.
const RAW_STR_MAX_BYTES: usize = 60_000;

/// One reading of an image's label text.
#[derive(Debug, Clone)]
pub struct RawLabel<'a> {
    pub media_id: i64,
    pub occid: i64,
    pub text: &'a str,
    /// Mean word confidence, 0-100.
    pub score: Option<i64>,
    /// How it was read, for whoever looks at the row later.
    pub notes: &'a str,
    /// `Tesseract: YYYY-MM-DD`, as Symbiota's own OCR writes it.
    pub source: &'a str,
}

/// An image row of a record waiting for OCR text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub media_id: i64,
    pub occid: i64,
    /// The large image's URL (`originalUrl`), else the web image's.
    pub url: String,
}

impl Portal {
    /// The record's `processingStatus`; `None` when the record is gone,
    /// `Some("")` when it has none.
    pub async fn processing_status(&self, occid: i64) -> Result<Option<String>, MapperError> {
        let row = sqlx::query("SELECT processingStatus FROM omoccurrences WHERE occid = ?")
            .bind(occid)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(r.try_get::<Option<String>, _>(0)?.unwrap_or_default()))
            .transpose()
    }

    /// Whether the image row has OCR text already (from anyone).
    pub async fn has_raw_label(&self, media_id: i64) -> Result<bool, MapperError> {
        let sql = format!(
            "SELECT COUNT(*) FROM specprocessorrawlabels WHERE {} = ?",
            self.media.id
        );
        let row = sqlx::query(&sql).bind(media_id).fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Store `label` unless the image row has OCR text already; false when
    /// it had. One statement, so that a retry after a crash, or two
    /// processes reading the same image, never leave a second row.
    pub async fn insert_raw_label(&self, label: &RawLabel<'_>) -> Result<bool, MapperError> {
        let id = self.media.id;
        // MariaDB wants a table to put a WHERE on; SQLite has no DUAL.
        let from = match self.backend {
            Backend::MySql => " FROM DUAL",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "INSERT INTO specprocessorrawlabels ({id}, occid, rawStr, score, notes, source) \
             SELECT ?, ?, ?, ?, ?, ?{from} \
             WHERE NOT EXISTS (SELECT 1 FROM specprocessorrawlabels WHERE {id} = ?)"
        );
        let inserted = sqlx::query(&sql)
            .bind(label.media_id)
            .bind(label.occid)
            .bind(cut(label.text, RAW_STR_MAX_BYTES))
            .bind(label.score)
            .bind(cut(label.notes, 255))
            .bind(cut(label.source, 150))
            .bind(label.media_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(inserted > 0)
    }

    /// Image rows of collection `collid` whose record's processingStatus is
    /// one of `statuses` (compared without case) and that have no OCR text:
    /// what Symbiota's own batch OCR would pick.
    pub async fn unread_images(&self, collid: i64, statuses: &[String]) -> Result<Vec<Unread>, MapperError> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        let (table, id) = (self.media.table, self.media.id);
        let marks = vec!["?"; statuses.len()].join(", ");
        let sql = format!(
            "SELECT m.{id}, m.occid, m.originalUrl, m.url FROM {table} m \
             JOIN omoccurrences o ON o.occid = m.occid \
             WHERE o.collid = ? AND LOWER(o.processingStatus) IN ({marks}) \
             AND NOT EXISTS (SELECT 1 FROM specprocessorrawlabels r WHERE r.{id} = m.{id}) \
             ORDER BY m.{id}"
        );
        let mut query = sqlx::query(&sql).bind(collid);
        for status in statuses {
            query = query.bind(status.to_lowercase());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for row in rows {
            let original: Option<String> = row.try_get(2)?;
            let url: Option<String> = row.try_get(3)?;
            let Some(url) = original.filter(|u| !u.is_empty()).or(url).filter(|u| !u.is_empty()) else {
                continue;
            };
            out.push(Unread {
                media_id: row.try_get(0)?,
                occid: row.try_get(1)?,
                url,
            });
        }
        Ok(out)
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn long_text_is_cut_between_characters() {
        assert_eq!(cut("Carex", 10), "Carex");
        assert_eq!(cut("Carex", 3), "Car");
        // "é" is two bytes: a cut inside it falls back before it.
        assert_eq!(cut("éé", 3), "é");
    }
}
