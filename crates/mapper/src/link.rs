//! Linking an image to its specimen: one transaction per image that finds
//! the occurrence again (records change while derivatives are made),
//! creates a skeletal record when the collection asks for that, and writes
//! the image row with what Symbiota's own uploader writes.
//!
//! Idempotent: a row of the same occurrence with the same MD5 or URL is
//! taken as this image's row, so a crash between the portal's commit and
//! specdrop's ledger never leads to a second row.

use serde::Deserialize;
use sqlx::any::AnyQueryResult;
use sqlx::{AnyConnection, Row};

use crate::MapperError;
use crate::lookup::{self, Key, Lookup, MatchRules, Occurrence};
use crate::media_columns::{MediaColumn, MediaValues};
use crate::portal::{CollectionInfo, Portal};
use crate::schema::MediaTable;

/// Symbiota's default sortSequence for a specimen's first image.
const FIRST_SORT_SEQUENCE: i64 = 50;

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

/// What to do when the specimen already has images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExistingImage {
    /// Add this image beside them (the default).
    #[default]
    Add,
    /// Update the row of the image with the same file name in place
    /// (keeping its id, recordID and annotations); add when there is none.
    Replace,
    /// Leave the specimen's images alone; this file is not linked.
    Skip,
}

/// Optional columns a collection fills on every image row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaFields {
    /// `creator` (`photographer` in the older `images` table).
    pub creator: Option<String>,
    pub copyright: Option<String>,
    pub rights: Option<String>,
    pub access_rights: Option<String>,
}

/// The URLs stored in the image row, relative (`/imglib/...`) or absolute.
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
    /// The catalog number, or what `key` says the value is.
    pub catalog_number: &'a str,
    pub key: Key,
    pub rules: MatchRules,
    pub unmatched: Unmatched,
    pub existing: ExistingImage,
    pub fields: &'a MediaFields,
    pub urls: MediaUrls,
    /// Hex MD5 of the large file (Symbiota's mediaMD5); `None` for images
    /// that live elsewhere and were never read.
    pub md5: Option<&'a str>,
    /// The source's file name, for `sourceIdentifier`.
    pub source_name: &'a str,
    /// The derivatives' base name without `_1`-style suffix or extension
    /// (`MICH-V-1390992`): how `replace` recognises "the same file name".
    pub stem: &'a str,
    /// Pixel size of the large image, when known.
    pub size: Option<(u32, u32)>,
    /// MIME type of the linked images (`image/jpeg` for derivatives).
    pub format: &'a str,
    /// This image's own media fields (a mapping line, an import-links
    /// row): they win over the collection's `fields` and over what
    /// specdrop would write (owner, sourceIdentifier). Its URL columns and
    /// MD5 are the caller's to put into `urls` and `md5`.
    pub meta: MediaValues,
}

/// What the transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Inserted {
        media_id: i64,
    },
    /// The row was already there (same MD5 or URL): nothing written.
    AlreadyThere {
        media_id: i64,
    },
    /// The row of the same file name now points to the new files; `old`
    /// are the URLs it had (their files can go once this is committed).
    Replaced {
        media_id: i64,
        old: MediaUrls,
    },
    /// `existing_image = "skip"` and the specimen has this many images.
    Skipped {
        images: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub occid: i64,
    /// A skeletal occurrence was created for this image.
    pub created_occurrence: bool,
    pub action: Action,
}

impl Linked {
    pub fn media_id(&self) -> Option<i64> {
        match self.action {
            Action::Inserted { media_id } | Action::AlreadyThere { media_id } | Action::Replaced { media_id, .. } => {
                Some(media_id)
            }
            Action::Skipped { .. } => None,
        }
    }
}

/// A value for a dynamically assembled statement.
enum Value<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

impl Portal {
    /// Look a catalog number up without writing anything.
    pub async fn find(&self, collid: i64, catalog_number: &str, rules: MatchRules) -> Result<Lookup, MapperError> {
        let mut conn = self.pool.acquire().await?;
        lookup::find(&mut conn, collid, catalog_number, rules).await
    }

    /// Look a value up as `key` says, without writing anything.
    pub async fn find_by(&self, collid: i64, key: Key, value: &str, rules: MatchRules) -> Result<Lookup, MapperError> {
        let mut conn = self.pool.acquire().await?;
        lookup::find_by(&mut conn, collid, key, value, rules).await
    }

    /// Link the image in one transaction; see the module docs.
    pub async fn link(&self, request: &LinkRequest<'_>) -> Result<Linked, MapperError> {
        self.check_lengths(request)?;
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

    /// Link one image to several specimens (`requests`, one per specimen,
    /// the same URLs) in one transaction: every row is written, or none.
    /// When any specimen's row is skipped (`existing_image = "skip"`), the
    /// transaction is rolled back: nothing is written for any of them.
    pub async fn link_each(&self, requests: &[LinkRequest<'_>]) -> Result<Vec<Linked>, MapperError> {
        for request in requests {
            self.check_lengths(request)?;
        }
        let mut tx = self.pool.begin().await?;
        let mut linked = Vec::with_capacity(requests.len());
        for request in requests {
            match self.link_in(&mut tx, request).await {
                Ok(one) => linked.push(one),
                Err(e) => {
                    // As in `link`: roll back now, not when the connection
                    // is next used.
                    let _ = tx.rollback().await;
                    return Err(e);
                }
            }
        }
        if linked.iter().any(|l| matches!(l.action, Action::Skipped { .. })) {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(linked)
    }

    async fn link_in(&self, tx: &mut AnyConnection, request: &LinkRequest<'_>) -> Result<Linked, MapperError> {
        let collid = request.collection.collid;
        let (occurrence, created_occurrence) =
            match lookup::find_by(tx, collid, request.key, request.catalog_number, request.rules).await? {
                Lookup::Found(occurrence) => (occurrence, false),
                Lookup::Ambiguous(occids) => return Err(MapperError::Ambiguous(occids)),
                // Only a catalog number makes a skeletal record: a GUID or
                // occid that finds nothing names a record that is not there.
                Lookup::NotFound if request.unmatched == Unmatched::Skeletal && request.key == Key::CatalogNumber => {
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
        let action = self.attach(tx, occurrence, request).await?;
        Ok(Linked {
            occid: occurrence.occid,
            created_occurrence,
            action,
        })
    }

    /// Write the image row of `request` for `occurrence` (or find it there
    /// already), inside the caller's transaction.
    pub(crate) async fn attach(
        &self,
        tx: &mut AnyConnection,
        occurrence: Occurrence,
        request: &LinkRequest<'_>,
    ) -> Result<Action, MapperError> {
        let m = &self.media;

        let sql = format!(
            "SELECT {}, url, originalUrl, sourceIdentifier, mediaMD5, thumbnailUrl FROM {} WHERE occid = ? ORDER BY {}",
            m.id, m.table, m.id
        );
        let rows = sqlx::query(&sql).bind(occurrence.occid).fetch_all(&mut *tx).await?;
        let mut same_name = None;
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            let text = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten();
            let (url, original, source, md5) = (text(1), text(2), text(3), text(4));
            let same_md5 = request.md5.is_some() && md5.as_deref() == request.md5;
            // The same remote original linked before (a run without
            // remote.derive wrote it as url and originalUrl).
            let same_original = request
                .urls
                .original_url
                .as_deref()
                .is_some_and(|o| original.as_deref() == Some(o));
            if same_md5 || same_original || url.as_deref() == Some(request.urls.url.as_str()) {
                return Ok(Action::AlreadyThere { media_id: id });
            }
            // A mapping line's own sourceIdentifier stands in for
            // specdrop's "filename: NAME" on the rows it made.
            let given = request.meta.get(MediaColumn::SourceIdentifier);
            let named_alike = source.as_deref() == Some(source_identifier(request.source_name).as_str())
                || given.is_some_and(|given| source.as_deref() == Some(given))
                || original.as_deref().is_some_and(|u| same_file_name(u, request.stem, ""))
                || url.as_deref().is_some_and(|u| same_file_name(u, request.stem, "_med"));
            if named_alike && same_name.is_none() {
                let old = MediaUrls {
                    url: url.unwrap_or_default(),
                    thumbnail_url: text(5),
                    original_url: original,
                };
                same_name = Some((id, old));
            }
        }

        match request.existing {
            ExistingImage::Skip if !rows.is_empty() => {
                return Ok(Action::Skipped {
                    images: rows.len() as i64,
                });
            }
            ExistingImage::Replace => {
                if let Some((media_id, old)) = same_name {
                    self.update_row(tx, media_id, request).await?;
                    return Ok(Action::Replaced { media_id, old });
                }
            }
            _ => {}
        }

        let sql = format!("SELECT MAX(sortSequence) FROM {} WHERE occid = ?", m.table);
        let highest: Option<i64> = sqlx::query(&sql)
            .bind(occurrence.occid)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let media_id = self
            .insert_row(tx, &occurrence, highest.map_or(FIRST_SORT_SEQUENCE, |h| h + 1), request)
            .await?;
        Ok(Action::Inserted { media_id })
    }

    /// The columns every written row gets, as Symbiota's uploader writes them.
    fn row_values<'a>(&self, request: &'a LinkRequest<'a>, source: &'a str) -> Vec<(&'static str, Value<'a>)> {
        let m = &self.media;
        let f = request.fields;
        let mut values = vec![
            ("url", Value::Text(Some(request.urls.url.as_str()))),
            ("thumbnailUrl", Value::Text(request.urls.thumbnail_url.as_deref())),
            ("originalUrl", Value::Text(request.urls.original_url.as_deref())),
            ("mediaMD5", Value::Text(request.md5)),
            ("sourceIdentifier", Value::Text(Some(source))),
        ];
        if m.has_pixel_size {
            let (w, h) = request
                .size
                .map_or((None, None), |(w, h)| (Some(i64::from(w)), Some(i64::from(h))));
            values.push(("pixelXDimension", Value::Int(w)));
            values.push(("pixelYDimension", Value::Int(h)));
        }
        let optional = [
            (m.creator, &f.creator),
            ("copyright", &f.copyright),
            ("rights", &f.rights),
            ("accessRights", &f.access_rights),
        ];
        for (column, value) in optional {
            if let Some(value) = value {
                values.push((column, Value::Text(Some(value.as_str()))));
            }
        }
        values
    }

    /// Put the image's own fields over `values` (replacing a column given
    /// twice): the row says more about its image than the collection does.
    fn overlay<'a>(&self, values: &mut Vec<(&'static str, Value<'a>)>, meta: &'a MediaValues) {
        let legacy = self.media.table == "images";
        for (column, value) in meta.iter() {
            if column.is_link() || column == MediaColumn::MediaMd5 {
                continue;
            }
            let name = column.column(legacy);
            let value = if column.is_integer() {
                Value::Int(value.parse().ok())
            } else {
                Value::Text(Some(value))
            };
            values.retain(|(c, _)| !c.eq_ignore_ascii_case(name));
            values.push((name, value));
        }
    }

    async fn insert_row(
        &self,
        tx: &mut AnyConnection,
        occurrence: &Occurrence,
        sort_sequence: i64,
        request: &LinkRequest<'_>,
    ) -> Result<i64, MapperError> {
        let source = source_identifier(request.source_name);
        let record_id = uuid::Uuid::new_v4().to_string();
        let mut values = vec![
            ("occid", Value::Int(Some(occurrence.occid))),
            ("tid", Value::Int(occurrence.tid)),
            ("imageType", Value::Text(Some("specimen"))),
            ("format", Value::Text(Some(request.format))),
            ("owner", Value::Text(Some(request.collection.name.as_str()))),
            ("recordID", Value::Text(Some(record_id.as_str()))),
            ("sortSequence", Value::Int(Some(sort_sequence))),
        ];
        if self.media.has_media_type {
            values.push(("mediaType", Value::Text(Some("image"))));
        }
        values.extend(self.row_values(request, &source));
        self.overlay(&mut values, &request.meta);
        let columns: Vec<&str> = values.iter().map(|(c, _)| *c).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.media.table,
            columns.join(", "),
            vec!["?"; columns.len()].join(", ")
        );
        let result = bind_all(sqlx::query(&sql), values).execute(&mut *tx).await?;
        self.inserted_id(tx, &result).await
    }

    async fn update_row(&self, tx: &mut AnyConnection, id: i64, request: &LinkRequest<'_>) -> Result<(), MapperError> {
        let source = source_identifier(request.source_name);
        let mut values = self.row_values(request, &source);
        self.overlay(&mut values, &request.meta);
        let set: Vec<String> = values.iter().map(|(c, _)| format!("{c} = ?")).collect();
        let sql = format!(
            "UPDATE {} SET {} WHERE {} = ?",
            self.media.table,
            set.join(", "),
            self.media.id
        );
        bind_all(sqlx::query(&sql), values).bind(id).execute(&mut *tx).await?;
        Ok(())
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
    pub(crate) async fn inserted_id(
        &self,
        conn: &mut AnyConnection,
        result: &AnyQueryResult,
    ) -> Result<i64, MapperError> {
        if let Some(id) = result.last_insert_id() {
            return Ok(id);
        }
        let row = sqlx::query("SELECT last_insert_rowid()").fetch_one(conn).await?;
        Ok(row.try_get(0)?)
    }

    /// Refuse, before writing, anything the portal's columns would cut
    /// short: a truncated URL is a broken image link.
    fn check_lengths(&self, request: &LinkRequest<'_>) -> Result<(), MapperError> {
        let m = &self.media;
        let f = request.fields;
        check_url_lengths(m, &request.urls, request.md5)?;
        let checks = [
            (m.creator, f.creator.as_ref()),
            ("copyright", f.copyright.as_ref()),
            ("rights", f.rights.as_ref()),
            ("accessRights", f.access_rights.as_ref()),
        ];
        for (column, value) in checks {
            let len = value.map_or(0, |v| v.chars().count());
            let max = m.limit(column);
            if len > max {
                return Err(MapperError::TooLong { column, len, max });
            }
        }
        self.check_media(&request.meta)?;
        let len = request.catalog_number.chars().count();
        let max = m.catalog_number_max();
        if request.unmatched == Unmatched::Skeletal && len > max {
            return Err(MapperError::TooLong {
                column: "catalogNumber",
                len,
                max,
            });
        }
        Ok(())
    }
}

impl Portal {
    /// Whether this portal's image table takes `meta` as it is: every
    /// column there, no value longer than its column (lengths read from
    /// the server, schema.rs).
    pub fn check_media(&self, meta: &MediaValues) -> Result<(), MapperError> {
        let m = &self.media;
        let legacy = m.table == "images";
        for (column, value) in meta.iter() {
            if column.is_link() {
                continue;
            }
            let name = column.column(legacy);
            if !m.has(name) {
                return Err(MapperError::NoSuchColumn {
                    table: m.table,
                    column: name,
                });
            }
            let (len, max) = (value.chars().count(), m.limit(name));
            if !column.is_integer() && len > max {
                return Err(MapperError::ValueTooLong { column: name, len, max });
            }
        }
        Ok(())
    }
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    values: Vec<(&'static str, Value<'q>)>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for (_, value) in values {
        query = match value {
            Value::Int(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
        };
    }
    query
}

/// Whether `url` names a derivative of `stem`: `stem.jpg`, or with
/// `suffix` "_med", `stem_med.jpg`. Names with `_1`-style suffixes do not
/// count: imaging teams use the same shape for distinct images (`X_2.jpg`),
/// and specdrop's own renamed files are found by their sourceIdentifier.
fn same_file_name(url: &str, stem: &str, suffix: &str) -> bool {
    let name = url.rsplit('/').next().unwrap_or(url);
    name.strip_suffix(".jpg")
        .and_then(|base| base.strip_suffix(suffix))
        .is_some_and(|base| base == stem)
}

/// `filename: NAME`, as Symbiota's uploader writes it. This column only
/// informs, so an over-long name is shortened rather than failing the image.
fn source_identifier(name: &str) -> String {
    const MAX: usize = 150;
    let full = format!("filename: {name}");
    match full.char_indices().nth(MAX) {
        Some((cut, _)) => full[..cut].to_string(),
        None => full,
    }
}

/// Refuse URLs and an MD5 longer than the image table's columns take:
/// non-strict MariaDB would cut them short, and a cut URL is a broken
/// link.
pub(crate) fn check_url_lengths(m: &MediaTable, urls: &MediaUrls, md5: Option<&str>) -> Result<(), MapperError> {
    let checks = [
        ("url", Some(&urls.url)),
        ("thumbnailUrl", urls.thumbnail_url.as_ref()),
        ("originalUrl", urls.original_url.as_ref()),
    ];
    for (column, value) in checks {
        let len = value.map_or(0, |v| v.chars().count());
        let max = m.limit(column);
        if len > max {
            return Err(MapperError::TooLong { column, len, max });
        }
    }
    if let Some(md5) = md5 {
        let (len, max) = (md5.chars().count(), m.limit("mediaMD5"));
        if len > max {
            return Err(MapperError::ValueTooLong {
                column: "mediaMD5",
                len,
                max,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_identifier_fits_its_column() {
        assert_eq!(source_identifier("a.jpg"), "filename: a.jpg");
        let long = "é".repeat(300);
        assert_eq!(source_identifier(&long).chars().count(), 150);
    }

    #[test]
    fn same_file_name_is_exact() {
        assert!(same_file_name("/imglib/A/01390/X-1.jpg", "X-1", ""));
        assert!(same_file_name("https://h/l/X-1_med.jpg", "X-1", "_med"));
        assert!(!same_file_name("/imglib/A/01390/X-1_2.jpg", "X-1", ""));
        assert!(!same_file_name("X-12.jpg", "X-1", ""));
        assert!(!same_file_name("X-1_med.jpg", "X-1", ""));
    }
}
