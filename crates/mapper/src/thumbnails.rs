//! Image rows waiting for derivatives (what Symbiota's Thumbnail Builder
//! works through: no `thumbnailUrl`, a `processing ...` stub it left, or
//! `url = 'empty'`), and claiming one row at a time.
//!
//! Symbiota's builder (classes/ImageCleaner.php) locks a row with
//! `SELECT ... FOR UPDATE`, writes a `processing YYYY-MM-DD` stub, commits
//! and then makes the files, so a builder that dies leaves the stub
//! (Symbiota issue #3351). Here the row stays locked in one transaction
//! until its new URLs are written: a kill rolls it back and leaves the row
//! as it was. Only the image row is locked (its specimen record stays free
//! for portal edits and for new images of it). A second specdrop skips a
//! locked row (`NOWAIT`); the portal's builder waits for the lock up to
//! `innodb_lock_wait_timeout` (50 s by default): within it, it finds the
//! row done; a fetch that takes longer makes the builder's query fail on
//! the timeout. A stub of today is a portal builder at work and is left to
//! it.

use sqlx::{Any, Row, Transaction};

use crate::MapperError;
use crate::backend::Backend;
use crate::link::MediaUrls;
use crate::portal::Portal;
use crate::schema::MediaTable;

/// An image row waiting for its derivatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub media_id: i64,
    pub occid: i64,
    pub catalog_number: Option<String>,
    pub url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub original_url: Option<String>,
}

impl Waiting {
    /// The image to make derivatives from: `originalUrl`, else `url`
    /// (neither when empty, `empty` or a stub).
    pub fn source(&self) -> Option<&str> {
        fn usable(u: &Option<String>) -> Option<&str> {
            u.as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty() && *u != "empty" && !u.starts_with("processing"))
        }
        usable(&self.original_url).or_else(|| usable(&self.url))
    }
}

/// A row locked for this run until [`RowClaim::finish`] or
/// [`RowClaim::give_back`] (or the connection's end, which rolls back).
pub struct RowClaim {
    tx: Transaction<'static, Any>,
    media: MediaTable,
    pub row: Waiting,
}

/// What asking for a row's lock found.
pub enum Claim {
    Taken(Box<RowClaim>),
    /// Another specdrop holds the row, or the portal's builder marked it
    /// today.
    Busy(String),
    /// It has its derivatives now.
    Done,
}

/// The condition of a waiting row, for the image table aliased `m`.
const WAITING: &str = "(m.thumbnailUrl IS NULL OR m.thumbnailUrl = '' OR m.thumbnailUrl LIKE 'processing%' \
     OR m.url = 'empty' OR m.url LIKE 'processing%')";

/// [`WAITING`] for the image table without an alias (an UPDATE).
fn waiting_unaliased() -> String {
    WAITING.replace("m.", "")
}

pub(crate) fn waiting_of(row: &sqlx::any::AnyRow) -> Result<Waiting, MapperError> {
    let text = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten();
    Ok(Waiting {
        media_id: row.try_get(0)?,
        occid: row.try_get(1)?,
        catalog_number: text(2),
        url: text(3),
        thumbnail_url: text(4),
        original_url: text(5),
    })
}

impl Portal {
    fn waiting_select(&self) -> String {
        self.image_rows_where(WAITING)
    }

    /// The condition that keeps only images (the `media` table also holds
    /// audio and video), for the image table aliased `m`.
    fn image_only(&self) -> &'static str {
        if self.media.has_media_type {
            " AND (m.mediaType = 'image' OR m.mediaType IS NULL)"
        } else {
            ""
        }
    }

    /// The image rows (as [`Waiting`] reads them) that meet `condition`,
    /// for the image table aliased `m` and its specimen `o`.
    pub(crate) fn image_rows_where(&self, condition: &str) -> String {
        let m = &self.media;
        let image_only = self.image_only();
        format!(
            "SELECT m.{id}, m.occid, o.catalogNumber, m.url, m.thumbnailUrl, m.originalUrl \
             FROM {table} m JOIN omoccurrences o ON o.occid = m.occid \
             WHERE {condition}{image_only}",
            id = m.id,
            table = m.table
        )
    }

    /// The image rows of collection `collid` waiting for derivatives, in id
    /// order.
    pub async fn waiting_for_thumbnails(&self, collid: i64) -> Result<Vec<Waiting>, MapperError> {
        let sql = format!(
            "{} AND o.collid = ? ORDER BY m.{}",
            self.waiting_select(),
            self.media.id
        );
        let rows = sqlx::query(&sql).bind(collid).fetch_all(&self.pool).await?;
        rows.iter().map(waiting_of).collect()
    }

    /// Lock image row `media_id` for this run while it still waits.
    /// `today` (`YYYY-MM-DD`) tells a portal builder's fresh stub from one
    /// a dead builder left. Only the image row is locked: a join would
    /// lock the specimen record too for the whole fetch.
    pub async fn claim_for_thumbnails(&self, media_id: i64, today: &str) -> Result<Claim, MapperError> {
        let lock = match self.backend {
            // MariaDB 10.3+ and MySQL 8: a locked row is an error at once.
            Backend::MySql => " FOR UPDATE NOWAIT",
            // One writer at a time anyway; the update re-checks.
            Backend::Sqlite => "",
        };
        let m = &self.media;
        let image_only = self.image_only();
        let sql = format!(
            "SELECT m.{id}, m.occid, m.url, m.thumbnailUrl, m.originalUrl FROM {table} m \
             WHERE m.{id} = ? AND {WAITING}{image_only}{lock}",
            id = m.id,
            table = m.table
        );
        let mut tx = self.pool.begin().await?;
        let row = match sqlx::query(&sql).bind(media_id).fetch_optional(&mut *tx).await {
            Ok(row) => row,
            Err(sqlx::Error::Database(e)) if is_locked(e.as_ref()) => {
                let _ = tx.rollback().await;
                return Ok(Claim::Busy("another specdrop is making its derivatives".into()));
            }
            Err(e) => return Err(e.into()),
        };
        let Some(row) = row else {
            let _ = tx.rollback().await;
            return Ok(Claim::Done);
        };
        let text = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten();
        let occid: i64 = row.try_get(1)?;
        // A plain read: no lock on the specimen record.
        let catalog_number = sqlx::query("SELECT catalogNumber FROM omoccurrences WHERE occid = ?")
            .bind(occid)
            .fetch_optional(&mut *tx)
            .await?
            .and_then(|r| r.try_get::<Option<String>, _>(0).ok().flatten());
        let row = Waiting {
            media_id: row.try_get(0)?,
            occid,
            catalog_number,
            url: text(2),
            thumbnail_url: text(3),
            original_url: text(4),
        };
        if row.thumbnail_url.as_deref() == Some(&format!("processing {today}")) {
            let _ = tx.rollback().await;
            return Ok(Claim::Busy(
                "the portal's Thumbnail Builder marked it today (\"processing\"); left to it".into(),
            ));
        }
        Ok(Claim::Taken(Box::new(RowClaim {
            tx,
            media: self.media.clone(),
            row,
        })))
    }
}

/// A row lock NOWAIT could not take: MariaDB's 1205, MySQL's 3572 (the
/// number, not the SQLSTATE, which is the generic HY000).
fn is_locked(e: &dyn sqlx::error::DatabaseError) -> bool {
    e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|m| m.number() == 1205 || m.number() == 3572)
}

impl RowClaim {
    /// Write the row's new URLs, MD5 and the original's size, and commit;
    /// nothing when a value is longer than its column (a truncated URL is
    /// a broken link) or the row no longer waits.
    pub async fn finish(mut self, urls: &MediaUrls, md5: &str, size: (u32, u32)) -> Result<(), MapperError> {
        if let Err(e) = crate::link::check_url_lengths(&self.media, urls, Some(md5)) {
            let _ = self.tx.rollback().await;
            return Err(e);
        }
        let pixels = if self.media.has_pixel_size {
            ", pixelXDimension = ?, pixelYDimension = ?"
        } else {
            ""
        };
        // Re-checked here: SQLite took no lock when the row was claimed.
        let sql = format!(
            "UPDATE {} SET url = ?, thumbnailUrl = ?, originalUrl = ?, mediaMD5 = ?{pixels} WHERE {} = ? AND {}",
            self.media.table,
            self.media.id,
            waiting_unaliased()
        );
        let mut query = sqlx::query(&sql)
            .bind(urls.url.clone())
            .bind(urls.thumbnail_url.clone())
            .bind(urls.original_url.clone())
            .bind(md5.to_string());
        if self.media.has_pixel_size {
            query = query.bind(i64::from(size.0)).bind(i64::from(size.1));
        }
        let updated = query.bind(self.row.media_id).execute(&mut *self.tx).await;
        match updated {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                let _ = self.tx.rollback().await;
                return Err(MapperError::RowChanged {
                    media_id: self.row.media_id,
                });
            }
            Err(e) => {
                let _ = self.tx.rollback().await;
                return Err(e.into());
            }
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// Leave the row as it was.
    pub async fn give_back(self) {
        let _ = self.tx.rollback().await;
    }
}
