//! Skeletal data files: a CSV (or tab-, semicolon- or `|`-separated file)
//! whose columns are Symbiota occurrence fields, written by the imaging
//! team beside the images, that seeds and fills specimen records.
//!
//! The caller reads the file's bytes into a [`Table`] (header, rows with
//! their line numbers, notes such as a converted encoding); [`check`] then
//! checks the whole table against the portal's fields before anything is
//! written: an unknown column refuses the file. [`Portal::
//! apply_skeletal`] then applies it in one transaction: an existing record
//! gets only its empty fields filled (unless `overwrite`), a missing one is
//! created with processingStatus `unprocessed` when the row carries more
//! than the catalog number, and a row with a bad value is rejected by its
//! line number while the others are applied.

use sqlx::AnyConnection;
use sqlx::Row as _;

use crate::MapperError;
use crate::fields::{Field, FieldSet, NEVER_LOADED};
use crate::link::{ExistingImage, LinkRequest, MediaFields, MediaUrls, Unmatched};
use crate::lookup::{self, Lookup, MatchRules, Occurrence};
use crate::media_format;
use crate::pattern::CatalogPattern;
use crate::portal::{CollectionInfo, Portal};

/// A skeletal file split into its header and rows, as the caller read it
/// (the engine, with specdrop-textfile).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Column names, trimmed, in the file's order.
    pub header: Vec<String>,
    pub rows: Vec<Row>,
    /// Notes for the result file from reading it (e.g. "the file was read
    /// as Windows-1252 (not UTF-8) and converted"); they come first in
    /// [`SkeletalFile::warnings`].
    pub notes: Vec<String>,
}

impl Table {
    /// From a text reader's parts: header, `(line, values)` records, and
    /// a note on the encoding.
    pub fn new(header: Vec<String>, records: Vec<(u64, Vec<String>)>, note: Option<String>) -> Table {
        Table {
            header,
            rows: records.into_iter().map(Row::from).collect(),
            notes: note.into_iter().collect(),
        }
    }
}

/// One record of the file: its values, trimmed, and the line of the file
/// it starts on (what the team looks up in an editor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub values: Vec<String>,
}

/// `(line, values)`, as specdrop-textfile gives each record.
impl From<(u64, Vec<String>)> for Row {
    fn from((line, values): (u64, Vec<String>)) -> Row {
        Row { line, values }
    }
}

/// What a column of the file holds.
#[derive(Debug, Clone)]
enum Column {
    CatalogNumber,
    /// `associatedMedia`: image URLs to link.
    Media,
    Field(Field),
    /// A real field Symbiota never loads from these files, or an empty
    /// trailing column.
    Ignored,
}

/// A file read and checked, ready to apply.
#[derive(Debug, Clone)]
pub struct SkeletalFile {
    columns: Vec<Column>,
    rows: Vec<Row>,
    /// Notes for the result file (ignored columns, a converted encoding).
    pub warnings: Vec<String>,
}

impl SkeletalFile {
    pub fn rows(&self) -> usize {
        self.rows.len()
    }
}

/// Check `table`'s header against `fields`; the error says why the whole
/// file is refused (nothing is written then).
pub fn check(table: Table, fields: &FieldSet) -> Result<SkeletalFile, String> {
    let Table { header, rows, notes } = table;
    let mut warnings = notes;
    let mut unknown = Vec::new();
    let mut columns = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, name) in header.iter().enumerate() {
        let position = i + 1;
        let lower = name.to_ascii_lowercase();
        if !lower.is_empty() && !seen.insert(lower.clone()) {
            return Err(format!("column {position} {name:?} appears twice; keep one"));
        }
        let column = match lower.as_str() {
            "" if rows.iter().all(|row| row.values.get(i).is_none_or(String::is_empty)) => Column::Ignored,
            "" => return Err(format!("column {position} has values but no name in the header line")),
            "catalognumber" => Column::CatalogNumber,
            "associatedmedia" => Column::Media,
            _ => match fields.get(name) {
                Some(field) if fields.loadable(name) => Column::Field(field.clone()),
                Some(_) => {
                    let why = if NEVER_LOADED.contains(&lower.as_str()) {
                        "is never loaded from skeletal files"
                    } else {
                        "is written by specdrop itself"
                    };
                    warnings.push(format!("column {position} {name:?} {why}; ignored"));
                    Column::Ignored
                }
                None => {
                    let hint = fields
                        .closest(name)
                        .map_or_else(String::new, |c| format!("; did you mean {c:?}?"));
                    unknown.push(format!(
                        "column {position} {name:?} is not a Symbiota occurrence field{hint}"
                    ));
                    Column::Ignored
                }
            },
        };
        columns.push(column);
    }
    if !unknown.is_empty() {
        return Err(format!(
            "{}. Nothing was written; fix the header line and drop the file again",
            unknown.join("; ")
        ));
    }
    if !columns.iter().any(|c| matches!(c, Column::CatalogNumber)) {
        return Err("there is no catalogNumber column; every row needs the specimen's catalog number".into());
    }
    Ok(SkeletalFile {
        columns,
        rows,
        warnings,
    })
}

/// How a collection applies skeletal files.
#[derive(Debug, Clone)]
pub struct SkeletalOptions<'a> {
    pub collection: &'a CollectionInfo,
    /// The collection's file-name pattern: a catalog number it matches is
    /// normalised as a file name's would be (capture group, `replace`).
    pub pattern: &'a CatalogPattern,
    pub rules: MatchRules,
    /// Replace non-empty values that differ (`skeletal.overwrite`).
    pub overwrite: bool,
    /// Columns filled on rows made for `associatedMedia` links.
    pub media_fields: &'a MediaFields,
    /// Derivatives made for `associatedMedia` links before the file is
    /// applied (`remote.derive`), by link; a link not here is linked as
    /// it is.
    pub derived: &'a std::collections::HashMap<String, Derived>,
}

/// What was made of an `associatedMedia` link before the file is applied.
#[derive(Debug, Clone)]
pub enum Derived {
    /// Its thumbnail and web image: the row's URLs, the original's MD5
    /// and size.
    Made {
        urls: MediaUrls,
        md5: String,
        size: (u32, u32),
    },
    /// Not fetched or not an image: the link is not linked, for this reason.
    Refused(String),
}

/// What applying a file did, row by row (line numbers of the file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// (line, catalog number, new occid)
    pub created: Vec<(u64, String, i64)>,
    /// (line, catalog number, occid, fields filled)
    pub filled: Vec<(u64, String, i64, Vec<String>)>,
    /// (line, catalog number, occid)
    pub unchanged: Vec<(u64, String, i64)>,
    /// (line, why)
    pub rejected: Vec<(u64, String)>,
    /// Image links made from associatedMedia.
    pub media_linked: usize,
    /// (line, link and why) of associatedMedia links not linked because
    /// their image could not be fetched or was not one.
    pub media_refused: Vec<(u64, String)>,
}

/// One row, checked: catalog number, values to write, image URLs.
struct Checked {
    catalog: String,
    values: Vec<(String, String)>,
    urls: Vec<String>,
}

impl Portal {
    /// The occurrence fields of this portal, for [`check`].
    pub async fn occurrence_fields(&self) -> Result<FieldSet, MapperError> {
        crate::schema::occurrence_fields(&self.pool, self.backend).await
    }

    /// Apply `file` in one transaction (all or nothing on a database
    /// error; rows with bad values are rejected and the rest applied).
    pub async fn apply_skeletal(
        &self,
        file: &SkeletalFile,
        options: &SkeletalOptions<'_>,
    ) -> Result<Applied, MapperError> {
        let mut tx = self.pool.begin().await?;
        let mut applied = Applied::default();
        for row in &file.rows {
            let checked = match self.check_row(file, &row.values, options) {
                Ok(checked) => checked,
                Err(why) => {
                    applied.rejected.push((row.line, why));
                    continue;
                }
            };
            if let Err(e) = self.apply_row(&mut tx, row.line, &checked, options, &mut applied).await {
                let _ = tx.rollback().await;
                return Err(e);
            }
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// The (catalog number, associatedMedia link) pairs of the rows of
    /// `file` that pass their checks: what to fetch before applying it.
    pub fn skeletal_links(&self, file: &SkeletalFile, options: &SkeletalOptions<'_>) -> Vec<(String, String)> {
        file.rows
            .iter()
            .filter_map(|row| self.check_row(file, &row.values, options).ok())
            .flat_map(|checked| {
                let catalog = checked.catalog;
                checked.urls.into_iter().map(move |url| (catalog.clone(), url))
            })
            .collect()
    }

    fn check_row(
        &self,
        file: &SkeletalFile,
        values: &[String],
        options: &SkeletalOptions<'_>,
    ) -> Result<Checked, String> {
        if values.len() > file.columns.len() {
            return Err(format!(
                "has {} values but the header names {} columns",
                values.len(),
                file.columns.len()
            ));
        }
        let mut checked = Checked {
            catalog: String::new(),
            values: Vec::new(),
            urls: Vec::new(),
        };
        let mut problems = Vec::new();
        for (column, value) in file.columns.iter().zip(values) {
            if value.is_empty() {
                continue;
            }
            match column {
                Column::CatalogNumber => {
                    checked.catalog = options.pattern.catalog_number(value).unwrap_or_else(|| value.clone());
                }
                Column::Media => {
                    for url in value.split(['|', ';']).map(str::trim).filter(|u| !u.is_empty()) {
                        match self.check_url(url) {
                            Ok(()) => checked.urls.push(url.to_string()),
                            Err(why) => problems.push(why),
                        }
                    }
                }
                Column::Field(field) => match field.check(value) {
                    Ok(v) => checked.values.push((field.name.clone(), v)),
                    Err(why) => problems.push(why),
                },
                Column::Ignored => {}
            }
        }
        let max = self.media.catalog_number_max();
        if checked.catalog.is_empty() {
            problems.insert(0, "catalogNumber is empty".into());
        } else if checked.catalog.chars().count() > max {
            problems.insert(0, format!("catalogNumber is longer than the portal's {max} characters"));
        }
        if problems.is_empty() {
            Ok(checked)
        } else {
            Err(problems.join("; "))
        }
    }

    /// Links in associatedMedia: http(s) only, short enough for the column.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        let host = url.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("");
        if !scheme_ok || host.is_empty() {
            return Err(format!("{url:?} is not an http(s) URL"));
        }
        if url.chars().any(char::is_whitespace) {
            return Err(format!("{url:?} contains white space"));
        }
        let max = self.media.limit("url");
        if url.chars().count() > max {
            return Err(format!("{url:?} is longer than the portal's {max} characters"));
        }
        Ok(())
    }

    async fn apply_row(
        &self,
        tx: &mut AnyConnection,
        line: u64,
        row: &Checked,
        options: &SkeletalOptions<'_>,
        applied: &mut Applied,
    ) -> Result<(), MapperError> {
        let collid = options.collection.collid;
        let occurrence = match lookup::find(tx, collid, &row.catalog, options.rules).await? {
            Lookup::Ambiguous(occids) => {
                applied
                    .rejected
                    .push((line, MapperError::Ambiguous(occids).to_string()));
                return Ok(());
            }
            Lookup::Found(occurrence) => {
                let changed = self.fill(tx, occurrence.occid, &row.values, options.overwrite).await?;
                if changed.is_empty() {
                    applied.unchanged.push((line, row.catalog.clone(), occurrence.occid));
                } else {
                    applied
                        .filled
                        .push((line, row.catalog.clone(), occurrence.occid, changed));
                }
                occurrence
            }
            Lookup::NotFound if row.values.is_empty() && row.urls.is_empty() => {
                applied.rejected.push((
                    line,
                    format!(
                        "no record with catalogNumber {} and nothing else in the row to create one from",
                        row.catalog
                    ),
                ));
                return Ok(());
            }
            Lookup::NotFound => {
                let occid = self.create(tx, collid, &row.catalog, &row.values).await?;
                applied.created.push((line, row.catalog.clone(), occid));
                Occurrence { occid, tid: None }
            }
        };
        for url in &row.urls {
            let name = url.rsplit('/').next().unwrap_or(url);
            let (urls, md5, size, format) = match options.derived.get(url) {
                Some(Derived::Refused(why)) => {
                    applied.media_refused.push((line, format!("{url}: {why}")));
                    continue;
                }
                Some(Derived::Made { urls, md5, size }) => {
                    (urls.clone(), Some(md5.as_str()), Some(*size), "image/jpeg")
                }
                None => (
                    MediaUrls {
                        url: url.clone(),
                        thumbnail_url: None,
                        original_url: Some(url.clone()),
                    },
                    None,
                    None,
                    media_format::for_url(url),
                ),
            };
            let request = LinkRequest {
                collection: options.collection,
                catalog_number: &row.catalog,
                key: crate::lookup::Key::CatalogNumber,
                rules: options.rules,
                unmatched: Unmatched::Park,
                existing: ExistingImage::Add,
                fields: options.media_fields,
                urls,
                md5,
                source_name: name,
                stem: name,
                size,
                format,
                meta: crate::media_columns::MediaValues::default(),
            };
            if matches!(
                self.attach(tx, occurrence, &request).await?,
                crate::link::Action::Inserted { .. }
            ) {
                applied.media_linked += 1;
            }
        }
        Ok(())
    }

    /// Set the empty fields (all differing ones with `overwrite`) of
    /// `occid`; the names of those changed.
    async fn fill(
        &self,
        tx: &mut AnyConnection,
        occid: i64,
        values: &[(String, String)],
        overwrite: bool,
    ) -> Result<Vec<String>, MapperError> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        // Names come from the portal's own column list, never from the file.
        let current_sql = format!(
            "SELECT {} FROM omoccurrences WHERE occid = ?",
            values
                .iter()
                .map(|(c, _)| format!("CAST({c} AS CHAR)"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let current = sqlx::query(&current_sql).bind(occid).fetch_one(&mut *tx).await?;
        let mut set: Vec<(&str, &str)> = Vec::new();
        for (i, (column, value)) in values.iter().enumerate() {
            // A value that cannot be read is never taken for empty: curated
            // data is not overwritten by accident.
            let Some(now) = text_value(&current, i) else { continue };
            let empty = now.trim().is_empty();
            if empty || (overwrite && !same_value(&now, value)) {
                set.push((column, value));
            }
        }
        if set.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE omoccurrences SET {} WHERE occid = ?",
            set.iter()
                .map(|(c, _)| format!("{c} = ?"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (_, value) in &set {
            query = query.bind(*value);
        }
        query.bind(occid).execute(&mut *tx).await?;
        Ok(set.iter().map(|(c, _)| (*c).to_string()).collect())
    }

    async fn create(
        &self,
        tx: &mut AnyConnection,
        collid: i64,
        catalog: &str,
        values: &[(String, String)],
    ) -> Result<i64, MapperError> {
        let mut columns = vec![
            "collid",
            "catalogNumber",
            "processingStatus",
            "recordEnteredBy",
            "recordID",
        ];
        columns.extend(values.iter().map(|(c, _)| c.as_str()));
        let sql = format!(
            "INSERT INTO omoccurrences ({}, dateEntered) VALUES ({}, {})",
            columns.join(", "),
            vec!["?"; columns.len()].join(", "),
            self.backend.now()
        );
        let mut query = sqlx::query(&sql)
            .bind(collid)
            .bind(catalog)
            .bind("unprocessed")
            .bind("skeletal file")
            .bind(uuid::Uuid::new_v4().to_string());
        for (_, value) in values {
            query = query.bind(value.as_str());
        }
        let result = query.execute(&mut *tx).await?;
        self.inserted_id(tx, &result).await
    }
}

/// Column `i` as text: MariaDB sends TEXT columns (and casts of them) as
/// blobs, which sqlx's Any driver will not decode as a string. `None` when
/// it cannot be read; NULL is the empty string.
pub(crate) fn text_value(row: &sqlx::any::AnyRow, i: usize) -> Option<String> {
    if let Ok(text) = row.try_get::<Option<String>, _>(i) {
        return Some(text.unwrap_or_default());
    }
    row.try_get::<Option<Vec<u8>>, _>(i)
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned())
}

/// Values that mean the same (`42.5` and `42.50`, `2004-06-10` and
/// `2004-06-10 00:00:00`).
fn same_value(now: &str, new: &str) -> bool {
    let (now, new) = (now.trim(), new.trim());
    now == new
        || matches!((now.parse::<f64>(), new.parse::<f64>()), (Ok(a), Ok(b)) if a == b)
        || now.starts_with(new) && now[new.len()..].trim() == "00:00:00"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Kind;

    /// The file's bytes as the engine reads them.
    fn read(bytes: &[u8], fields: &FieldSet) -> Result<SkeletalFile, String> {
        let text = specdrop_textfile::read(bytes).map_err(|e| e.to_string())?;
        check(Table::new(text.header, text.records, text.note), fields)
    }

    fn fields() -> FieldSet {
        let f = |name: &str, kind| Field {
            name: name.into(),
            kind,
            max: Some(32),
        };
        FieldSet::new([
            f("catalogNumber", Kind::Text),
            f("sciname", Kind::Text),
            f("locality", Kind::Text),
            f("eventDate", Kind::Date),
            f("collid", Kind::Integer),
        ])
    }

    #[test]
    fn unknown_columns_refuse_the_file_naming_position_and_suggestion() {
        let err = read(b"catalogNumber,scinme,localty\n1,a,b\n", &fields())
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("column 2 \"scinme\"") && err.contains("\"sciname\""),
            "{err}"
        );
        assert!(
            err.contains("column 3 \"localty\"") && err.contains("\"locality\""),
            "{err}"
        );
        assert!(err.contains("Nothing was written"), "{err}");
    }

    #[test]
    fn never_loaded_columns_are_ignored_with_a_warning() -> Result<(), String> {
        let file = read(b"CATALOGNUMBER;collid;SciName\n1;5;x\n", &fields())?;
        assert_eq!(file.rows(), 1);
        assert!(
            file.warnings
                .iter()
                .any(|w| w.contains("column 2 \"collid\" is never loaded")),
            "{:?}",
            file.warnings
        );
        Ok(())
    }

    #[test]
    fn the_readers_notes_come_first_in_the_warnings() -> Result<(), String> {
        let table = Table {
            header: vec!["catalogNumber".into(), "collid".into()],
            rows: vec![Row::from((2, vec!["1".into(), "5".into()]))],
            notes: vec!["the file was read as Windows-1252 (not UTF-8) and converted".into()],
        };
        let file = check(table, &fields())?;
        assert_eq!(
            file.warnings,
            [
                "the file was read as Windows-1252 (not UTF-8) and converted",
                "column 2 \"collid\" is never loaded from skeletal files; ignored"
            ]
        );
        let file = read(b"catalogNumber;collid\nS\xE3o;5\n", &fields())?;
        assert_eq!(file.warnings.len(), 2);
        assert!(file.warnings[0].contains("Windows-1252"), "{:?}", file.warnings);
        Ok(())
    }

    #[test]
    fn a_file_without_catalog_numbers_is_refused() {
        let err = read(b"sciname\nx\n", &fields()).err().unwrap_or_default();
        assert!(err.contains("no catalogNumber column"), "{err}");
    }

    #[test]
    fn same_values_are_recognised() {
        assert!(same_value("42.50", "42.5"));
        assert!(same_value("2004-06-10 00:00:00", "2004-06-10"));
        assert!(!same_value("Carex", "Carex sp."));
    }
}
