//! Linking an image to its specimen: one transaction per image that finds
//! the occurrence again (records change while derivatives are made),
//! creates a skeletal record when the collection asks for that, and
//! inserts the media row with what Symbiota's own uploader writes.
//!
//! Idempotent: a row of the same occurrence with the same MD5 or URL is
//! taken as this image's row, so a crash between the portal's commit and
//! specdrop's ledger never leads to a second row.

use serde::Deserialize;
use sqlx::any::AnyQueryResult;
use sqlx::{AnyConnection, Row};

use crate::MapperError;
use crate::lookup::{self, Lookup, MatchRules, Occurrence};
use crate::portal::{CollectionInfo, Portal};

/// Symbiota's default sortSequence for a specimen's first image.
const FIRST_SORT_SEQUENCE: i64 = 50;
const URL_MAX: usize = 255;
const SOURCE_IDENTIFIER_MAX: usize = 150;
const CATALOG_NUMBER_MAX: usize = 32;

/// What to do with an image whose specimen is not in the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    /// Leave the file where it is and try again later (the default).
    #[default]
    Park,
    /// Create a skeletal occurrence (processingStatus 'unprocessed').
    Skeletal,
}

/// The URLs stored in the media row, relative (`/imglib/...`) or absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaUrls {
    /// The web-size image (`url`).
    pub url: String,
    pub thumbnail_url: Option<String>,
    /// The large image (`originalUrl`).
    pub original_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LinkRequest<'a> {
    pub collection: &'a CollectionInfo,
    pub catalog_number: &'a str,
    pub rules: MatchRules,
    pub unmatched: Unmatched,
    pub urls: MediaUrls,
    /// Hex MD5 of the large file (Symbiota's mediaMD5).
    pub md5: &'a str,
    /// The source's file name, for `sourceIdentifier`.
    pub source_name: &'a str,
    /// Pixel size of the large image.
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linked {
    pub occid: i64,
    pub media_id: i64,
    /// A skeletal occurrence was created for this image.
    pub created_occurrence: bool,
    /// The row was already there (same MD5 or URL): nothing was inserted.
    pub existing_row: bool,
}

impl Portal {
    /// Look a catalog number up without writing anything.
    pub async fn find(&self, collid: i64, catalog_number: &str, rules: MatchRules) -> Result<Lookup, MapperError> {
        let mut conn = self.pool.acquire().await?;
        lookup::find(&mut conn, collid, catalog_number, rules).await
    }

    /// Link the image in one transaction; see the module docs.
    pub async fn link(&self, request: &LinkRequest<'_>) -> Result<Linked, MapperError> {
        check_lengths(request)?;
        let mut tx = self.pool.begin().await?;
        match self.link_in(&mut tx, request).await {
            Ok(linked) => {
                tx.commit().await?;
                Ok(linked)
            }
            Err(e) => {
                // Roll back now: a dropped transaction is only rolled back
                // when its pooled connection is next used, and until then
                // MariaDB keeps its locks.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn link_in(&self, tx: &mut AnyConnection, request: &LinkRequest<'_>) -> Result<Linked, MapperError> {
        let collid = request.collection.collid;
        let (occurrence, created_occurrence) =
            match lookup::find(tx, collid, request.catalog_number, request.rules).await? {
                Lookup::Found(occurrence) => (occurrence, false),
                Lookup::Ambiguous(occids) => return Err(MapperError::Ambiguous(occids)),
                Lookup::NotFound if request.unmatched == Unmatched::Skeletal => {
                    let occid = self.insert_skeletal(tx, collid, request.catalog_number).await?;
                    (Occurrence { occid, tid: None }, true)
                }
                Lookup::NotFound => {
                    return Err(MapperError::Vanished {
                        catalog_number: request.catalog_number.to_string(),
                        collid,
                    });
                }
            };

        let existing = sqlx::query("SELECT mediaID FROM media WHERE occid = ? AND (mediaMD5 = ? OR url = ?)")
            .bind(occurrence.occid)
            .bind(request.md5)
            .bind(request.urls.url.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            return Ok(Linked {
                occid: occurrence.occid,
                media_id: row.try_get(0)?,
                created_occurrence,
                existing_row: true,
            });
        }

        let highest: Option<i64> = sqlx::query("SELECT MAX(sortSequence) FROM media WHERE occid = ?")
            .bind(occurrence.occid)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let sort_sequence = highest.map_or(FIRST_SORT_SEQUENCE, |h| h + 1);
        let inserted = sqlx::query(
            "INSERT INTO media (tid, occid, url, thumbnailUrl, originalUrl, imageType, mediaType, format, \
             owner, sourceIdentifier, mediaMD5, pixelXDimension, pixelYDimension, recordID, sortSequence) \
             VALUES (?, ?, ?, ?, ?, 'specimen', 'image', 'image/jpeg', ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(occurrence.tid)
        .bind(occurrence.occid)
        .bind(request.urls.url.as_str())
        .bind(request.urls.thumbnail_url.as_deref())
        .bind(request.urls.original_url.as_deref())
        .bind(request.collection.name.as_str())
        .bind(source_identifier(request.source_name))
        .bind(request.md5)
        .bind(i64::from(request.width))
        .bind(i64::from(request.height))
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(sort_sequence)
        .execute(&mut *tx)
        .await?;
        let media_id = self.inserted_id(tx, &inserted).await?;
        Ok(Linked {
            occid: occurrence.occid,
            media_id,
            created_occurrence,
            existing_row: false,
        })
    }

    async fn insert_skeletal(
        &self,
        conn: &mut AnyConnection,
        collid: i64,
        catalog_number: &str,
    ) -> Result<i64, MapperError> {
        let sql = format!(
            "INSERT INTO omoccurrences (collid, catalogNumber, processingStatus, recordEnteredBy, recordID, dateEntered) \
             VALUES (?, ?, 'unprocessed', 'uploaded image', ?, {})",
            self.backend.now()
        );
        let result = sqlx::query(&sql)
            .bind(collid)
            .bind(catalog_number)
            .bind(uuid::Uuid::new_v4().to_string())
            .execute(&mut *conn)
            .await?;
        self.inserted_id(conn, &result).await
    }

    /// The id of the row just inserted on `conn`. sqlx's `Any` driver
    /// reports it for MySQL but not for SQLite, which is asked directly.
    async fn inserted_id(&self, conn: &mut AnyConnection, result: &AnyQueryResult) -> Result<i64, MapperError> {
        if let Some(id) = result.last_insert_id() {
            return Ok(id);
        }
        let row = sqlx::query("SELECT last_insert_rowid()").fetch_one(conn).await?;
        Ok(row.try_get(0)?)
    }
}

/// Refuse, before writing, anything the portal's columns would cut short:
/// a truncated URL is a broken image link.
fn check_lengths(request: &LinkRequest<'_>) -> Result<(), MapperError> {
    let urls = [
        ("url", Some(&request.urls.url)),
        ("thumbnailUrl", request.urls.thumbnail_url.as_ref()),
        ("originalUrl", request.urls.original_url.as_ref()),
    ];
    for (column, value) in urls {
        let len = value.map_or(0, |v| v.chars().count());
        if len > URL_MAX {
            return Err(MapperError::TooLong {
                column,
                len,
                max: URL_MAX,
            });
        }
    }
    let len = request.catalog_number.chars().count();
    if request.unmatched == Unmatched::Skeletal && len > CATALOG_NUMBER_MAX {
        return Err(MapperError::TooLong {
            column: "catalogNumber",
            len,
            max: CATALOG_NUMBER_MAX,
        });
    }
    Ok(())
}

/// `filename: NAME`, as Symbiota's uploader writes it. This column only
/// informs, so an over-long name is shortened rather than failing the image.
fn source_identifier(name: &str) -> String {
    let full = format!("filename: {name}");
    match full.char_indices().nth(SOURCE_IDENTIFIER_MAX) {
        Some((cut, _)) => full[..cut].to_string(),
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_identifier_fits_its_column() {
        assert_eq!(source_identifier("a.jpg"), "filename: a.jpg");
        let long = "é".repeat(300);
        assert_eq!(source_identifier(&long).chars().count(), SOURCE_IDENTIFIER_MAX);
    }
}
