//! Taking back an image row specdrop made (`specdrop undo`): only as it
//! left it, and the skeletal record it made for it only while nobody has
//! worked on that record.

use sqlx::Row;

use crate::link::MediaUrls;
use crate::{MapperError, Portal};

/// Fields a person fills when they work on a record; a skeletal record
/// with any of them set is somebody's work and stays.
const WORKED_ON: [&str; 12] = [
    "sciname",
    "family",
    "recordedBy",
    "recordNumber",
    "eventDate",
    "country",
    "stateProvince",
    "county",
    "municipality",
    "locality",
    "habitat",
    "otherCatalogNumbers",
];

/// What became of one image row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowUndo {
    /// Removed, with its OCR text rows; and the skeletal record too when
    /// it was bare.
    Removed { record: RecordUndo, labels: u64 },
    /// Not there any more (removed in the portal already).
    Gone,
    /// Changed since specdrop made it: left, with what differs.
    Changed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordUndo {
    /// The image was linked to a record that existed: it stays.
    NotOurs,
    Removed,
    /// Specdrop made it, but it is no longer bare: left, with why.
    Kept(String),
}

impl Portal {
    /// Remove image row `media_id` when it is still as specdrop wrote it
    /// (on `occid`, with these URLs), and then, when `made_record`, the
    /// record `occid` if it is still bare and unprocessed and has no other
    /// image. One transaction; `dry_run` rolls it back.
    pub async fn undo_link(
        &self,
        media_id: i64,
        occid: i64,
        urls: &MediaUrls,
        made_record: bool,
        dry_run: bool,
    ) -> Result<RowUndo, MapperError> {
        let media = &self.media;
        let mut tx = self.pool.begin().await?;
        let select = format!(
            "SELECT occid, url, thumbnailUrl, originalUrl FROM {} WHERE {} = ?",
            media.table, media.id
        );
        let Some(row) = sqlx::query(&select).bind(media_id).fetch_optional(&mut *tx).await? else {
            return Ok(RowUndo::Gone);
        };
        let now_occid: Option<i64> = row.try_get(0)?;
        let now = MediaUrls {
            url: text(&row, 1).unwrap_or_default(),
            thumbnail_url: text(&row, 2),
            original_url: text(&row, 3),
        };
        let mut differs = Vec::new();
        if now_occid != Some(occid) {
            differs.push(format!(
                "it is now on occid {}",
                now_occid.map_or_else(|| "none".to_string(), |o| o.to_string())
            ));
        }
        for (what, was, is) in [
            ("url", Some(&urls.url), Some(&now.url)),
            ("thumbnailUrl", urls.thumbnail_url.as_ref(), now.thumbnail_url.as_ref()),
            ("originalUrl", urls.original_url.as_ref(), now.original_url.as_ref()),
        ] {
            if was != is {
                differs.push(format!("{what} is now {}", is.map_or("empty", String::as_str)));
            }
        }
        if !differs.is_empty() {
            return Ok(RowUndo::Changed(differs.join("; ")));
        }
        // Its OCR text first: before 3.2 a label row's imgid refers to the
        // image without ON DELETE CASCADE, and the label is of this image.
        let labels = format!("DELETE FROM specprocessorrawlabels WHERE {} = ?", media.id);
        let labels = match sqlx::query(&labels).bind(media_id).execute(&mut *tx).await {
            Ok(done) => done.rows_affected(),
            // A portal without the table has no labels to remove.
            Err(sqlx::Error::Database(e)) if e.message().contains("specprocessorrawlabels") => 0,
            Err(e) => return Err(e.into()),
        };
        sqlx::query(&format!("DELETE FROM {} WHERE {} = ?", media.table, media.id))
            .bind(media_id)
            .execute(&mut *tx)
            .await?;
        let record = if made_record {
            self.remove_bare_record(&mut tx, occid).await?
        } else {
            RecordUndo::NotOurs
        };
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(RowUndo::Removed { record, labels })
    }

    async fn remove_bare_record(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        occid: i64,
    ) -> Result<RecordUndo, MapperError> {
        let casts: Vec<String> = WORKED_ON.iter().map(|c| format!("CAST({c} AS CHAR)")).collect();
        let select = format!(
            "SELECT CAST(processingStatus AS CHAR), {} FROM omoccurrences WHERE occid = ?",
            casts.join(", ")
        );
        let Some(row) = sqlx::query(&select).bind(occid).fetch_optional(&mut **tx).await? else {
            return Ok(RecordUndo::Kept("the record is gone already".into()));
        };
        let status = text(&row, 0).unwrap_or_default();
        if !status.eq_ignore_ascii_case("unprocessed") {
            return Ok(RecordUndo::Kept(format!("its processingStatus is now \"{status}\"")));
        }
        let filled: Vec<&str> = WORKED_ON
            .iter()
            .enumerate()
            .filter(|(i, _)| text(&row, i + 1).is_some_and(|v| !v.trim().is_empty()))
            .map(|(_, c)| *c)
            .collect();
        if !filled.is_empty() {
            return Ok(RecordUndo::Kept(format!("someone filled {}", filled.join(", "))));
        }
        let others = format!("SELECT COUNT(*) FROM {} WHERE occid = ?", self.media.table);
        let images: i64 = sqlx::query(&others)
            .bind(occid)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
        if images > 0 {
            return Ok(RecordUndo::Kept(format!("it has {images} other image(s)")));
        }
        match sqlx::query("DELETE FROM omoccurrences WHERE occid = ?")
            .bind(occid)
            .execute(&mut **tx)
            .await
        {
            Ok(_) => Ok(RecordUndo::Removed),
            // Another table refers to it (a determination, an edit): it is
            // somebody's work too.
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                Ok(RecordUndo::Kept("other portal tables refer to it".into()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A text column; NULL and the empty string alike are `None`.
fn text(row: &sqlx::any::AnyRow, i: usize) -> Option<String> {
    crate::skeletal::text_value(row, i).filter(|t| !t.is_empty())
}
