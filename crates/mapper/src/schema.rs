//! Which image table the portal has and how long its columns are.
//!
//! Symbiota 3.2 renamed `images` to `media` (and `imgid` to `mediaID`,
//! `photographer` to `creator`, and added `mediaType`); 3.0 portals lack
//! the pixel-size columns. Portals also widen columns locally, so on
//! MariaDB the lengths are read from the server rather than assumed.

use std::collections::HashMap;

use serde::Deserialize;
use sqlx::{AnyPool, Row};

use crate::MapperError;
use crate::backend::Backend;
use crate::fields::{Field, FieldSet, Kind};

/// Symbiota's MariaDB DDL: the lengths SQLite does not keep.
const MARIADB_SCHEMA: &str = include_str!("../sql/schema-mariadb.sql");

/// `database.schema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SchemaChoice {
    /// `media` if the portal has it, else `images`.
    #[default]
    Auto,
    Media,
    Images,
}

/// The image table as this portal has it.
#[derive(Debug, Clone)]
pub struct MediaTable {
    pub table: &'static str,
    pub id: &'static str,
    pub creator: &'static str,
    pub has_media_type: bool,
    pub has_pixel_size: bool,
    /// Maximum characters of the text columns we write, by lower-case name.
    limits: HashMap<String, usize>,
    /// Every column of the table, by lower-case name.
    columns: std::collections::HashSet<String>,
    catalog_number_max: usize,
}

/// Symbiota's lengths, for SQLite (which does not enforce them) and any
/// column the server does not report.
const DEFAULT_LIMITS: [(&str, usize); 19] = [
    ("caption", 100),
    ("anatomy", 100),
    ("notes", 350),
    ("hashfunction", 45),
    ("hashvalue", 45),
    ("sourceurl", 255),
    ("referenceurl", 255),
    ("archiveurl", 255),
    ("url", 255),
    ("thumbnailurl", 255),
    ("originalurl", 255),
    ("owner", 250),
    ("sourceidentifier", 150),
    ("mediamd5", 45),
    ("creator", 100),
    ("photographer", 100),
    ("copyright", 255),
    ("rights", 255),
    ("accessrights", 255),
];
const CATALOG_NUMBER_MAX: usize = 32;

impl MediaTable {
    /// Find the image table `choice` asks for in the portal behind `pool`.
    pub(crate) async fn detect(
        pool: &AnyPool,
        backend: Backend,
        choice: SchemaChoice,
        url: &str,
    ) -> Result<MediaTable, MapperError> {
        let media = columns(pool, backend, "media").await?;
        let images = columns(pool, backend, "images").await?;
        let (table, found) = match choice {
            SchemaChoice::Media | SchemaChoice::Auto if !media.is_empty() => ("media", media),
            SchemaChoice::Images | SchemaChoice::Auto if !images.is_empty() => ("images", images),
            SchemaChoice::Media => {
                return Err(missing(
                    url,
                    "media",
                    "set database.schema = \"images\" for portals before Symbiota 3.2, or \"auto\"",
                ));
            }
            SchemaChoice::Images => {
                return Err(missing(
                    url,
                    "images",
                    "set database.schema = \"media\" for Symbiota 3.2 and later, or \"auto\"",
                ));
            }
            SchemaChoice::Auto => {
                return Err(missing(
                    url,
                    "media",
                    "neither `media` (Symbiota 3.2+) nor `images` (older) exists: is this a Symbiota database?",
                ));
            }
        };
        let mut limits: HashMap<String, usize> = DEFAULT_LIMITS.iter().map(|(c, n)| ((*c).to_string(), *n)).collect();
        for (column, length) in &found {
            if let Some(length) = length {
                limits.insert(column.clone(), *length);
            }
        }
        let occurrence = columns(pool, backend, "omoccurrences").await?;
        let catalog_number_max = occurrence
            .get("catalognumber")
            .copied()
            .flatten()
            .unwrap_or(CATALOG_NUMBER_MAX);
        let media = table == "media";
        Ok(MediaTable {
            table,
            id: if media { "mediaID" } else { "imgid" },
            creator: if media { "creator" } else { "photographer" },
            has_media_type: found.contains_key("mediatype"),
            has_pixel_size: found.contains_key("pixelxdimension") && found.contains_key("pixelydimension"),
            limits,
            columns: found.keys().cloned().collect(),
            catalog_number_max,
        })
    }

    /// Longest value `column` takes, in characters.
    pub fn limit(&self, column: &str) -> usize {
        self.limits.get(&column.to_ascii_lowercase()).copied().unwrap_or(255)
    }

    /// Whether the table has `column` (any case).
    pub fn has(&self, column: &str) -> bool {
        self.columns.contains(&column.to_ascii_lowercase())
    }

    pub fn catalog_number_max(&self) -> usize {
        self.catalog_number_max
    }
}

/// The columns of `omoccurrences` with their kinds and lengths.
pub(crate) async fn occurrence_fields(pool: &AnyPool, backend: Backend) -> Result<FieldSet, MapperError> {
    let rows = match backend {
        Backend::MySql => sqlx::query(
            "SELECT COLUMN_NAME, DATA_TYPE, CAST(CHARACTER_MAXIMUM_LENGTH AS SIGNED) FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'omoccurrences'",
        )
        .fetch_all(pool)
        .await?,
        Backend::Sqlite => {
            sqlx::query("SELECT name, type, NULL FROM pragma_table_info('omoccurrences')")
                .fetch_all(pool)
                .await?
        }
    };
    let mut fields = Vec::new();
    for row in rows {
        let name: String = row.try_get(0)?;
        let declared: String = row.try_get::<String, _>(1)?.to_ascii_lowercase();
        let length: Option<i64> = row.try_get(2).unwrap_or(None);
        let kind = match declared.as_str() {
            t if t.contains("int") => Kind::Integer,
            t if t.contains("double") || t.contains("real") || t.contains("float") || t.contains("decimal") => {
                Kind::Decimal
            }
            "date" => Kind::Date,
            _ => Kind::Text,
        };
        let max = length
            .and_then(|l| usize::try_from(l).ok())
            .or_else(|| mariadb_length(&name));
        // SQLite keeps dates as text: the MariaDB DDL says which are dates.
        let kind = if backend == Backend::Sqlite && mariadb_type(&name).as_deref() == Some("date") {
            Kind::Date
        } else {
            kind
        };
        fields.push(Field { name, kind, max });
    }
    Ok(FieldSet::new(fields))
}

/// `name varchar(N)` in the omoccurrences block of the MariaDB DDL.
fn mariadb_length(column: &str) -> Option<usize> {
    let declared = mariadb_type(column)?;
    let inner = declared.strip_prefix("varchar(")?.strip_suffix(')')?;
    inner.parse().ok()
}

fn mariadb_type(column: &str) -> Option<String> {
    let block = MARIADB_SCHEMA
        .split("create table omoccurrences")
        .nth(1)?
        .split(") engine")
        .next()?;
    block.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let name = words.next()?;
        name.eq_ignore_ascii_case(column)
            .then(|| words.next().map(str::to_ascii_lowercase))?
    })
}

fn missing(url: &str, table: &'static str, hint: &'static str) -> MapperError {
    MapperError::Schema {
        url: url.to_string(),
        table,
        hint,
    }
}

/// Lower-case column names of `table` with their maximum character length
/// where the server knows it; empty when there is no such table.
async fn columns(pool: &AnyPool, backend: Backend, table: &str) -> Result<HashMap<String, Option<usize>>, MapperError> {
    let rows = match backend {
        Backend::MySql => {
            sqlx::query(
                "SELECT COLUMN_NAME, CAST(CHARACTER_MAXIMUM_LENGTH AS SIGNED) FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            )
            .bind(table)
            .fetch_all(pool)
            .await?
        }
        Backend::Sqlite => {
            sqlx::query("SELECT name, NULL FROM pragma_table_info(?)")
                .bind(table)
                .fetch_all(pool)
                .await?
        }
    };
    let mut out = HashMap::new();
    for row in rows {
        let name: String = row.try_get(0)?;
        let length: Option<i64> = row.try_get(1).unwrap_or(None);
        out.insert(name.to_ascii_lowercase(), length.and_then(|l| usize::try_from(l).ok()));
    }
    Ok(out)
}
