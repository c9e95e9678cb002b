//! Image rows whose derivatives are made again (`specdrop rebuild`): a
//! collection's rows in id order, one row read as it is now, and its URLs
//! switched to the new files in one statement that changes the row only
//! while it still points where it did when its files were made (an edit
//! in the portal meanwhile wins; the caller removes its new files).

use crate::MapperError;
use crate::backend::Backend;
use crate::link::MediaUrls;
use crate::portal::Portal;
use crate::thumbnails::{Waiting, waiting_of};

impl Portal {
    /// Up to `limit` image rows of collection `collid` with an id above
    /// `after`, in id order; with `since` (Unix seconds) only those whose
    /// `initialTimestamp` is not earlier.
    pub async fn rows_to_rebuild(
        &self,
        collid: i64,
        since: Option<i64>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Waiting>, MapperError> {
        let seconds = match self.backend {
            Backend::MySql => "UNIX_TIMESTAMP(m.initialTimestamp)",
            Backend::Sqlite => "CAST(strftime('%s', m.initialTimestamp) AS INTEGER)",
        };
        let id = self.media.id;
        let condition = format!("o.collid = ? AND m.{id} > ? AND (? IS NULL OR {seconds} >= ?)");
        let sql = format!("{} ORDER BY m.{id} LIMIT ?", self.image_rows_where(&condition));
        let rows = sqlx::query(&sql)
            .bind(collid)
            .bind(after)
            .bind(since)
            .bind(since)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(waiting_of).collect()
    }

    /// Image row `media_id` as it is now; `None` when it is gone.
    pub async fn image_row(&self, media_id: i64) -> Result<Option<Waiting>, MapperError> {
        let condition = format!("m.{} = ?", self.media.id);
        let row = sqlx::query(&self.image_rows_where(&condition))
            .bind(media_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(waiting_of).transpose()
    }

    /// Point image row `was.media_id` at `new` (and `md5` as its
    /// mediaMD5, when the large image was made again), in one statement
    /// that finds the row only while its three URLs are still `was`'s;
    /// `RowChanged` when it is not.
    pub async fn switch_urls(&self, was: &Waiting, new: &MediaUrls, md5: Option<&str>) -> Result<(), MapperError> {
        crate::link::check_url_lengths(&self.media, new, md5)?;
        let same = match self.backend {
            Backend::MySql => "<=>",
            Backend::Sqlite => "IS",
        };
        let set_md5 = if md5.is_some() { ", mediaMD5 = ?" } else { "" };
        let sql = format!(
            "UPDATE {table} SET url = ?, thumbnailUrl = ?, originalUrl = ?{set_md5} \
             WHERE {id} = ? AND url {same} ? AND thumbnailUrl {same} ? AND originalUrl {same} ?",
            table = self.media.table,
            id = self.media.id
        );
        let mut query = sqlx::query(&sql)
            .bind(new.url.clone())
            .bind(new.thumbnail_url.clone())
            .bind(new.original_url.clone());
        if let Some(md5) = md5 {
            query = query.bind(md5.to_string());
        }
        let done = query
            .bind(was.media_id)
            .bind(was.url.clone())
            .bind(was.thumbnail_url.clone())
            .bind(was.original_url.clone())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(MapperError::RowChanged { media_id: was.media_id })
        }
    }
}
