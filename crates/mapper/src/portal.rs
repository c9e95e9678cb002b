//! The portal database: MariaDB/MySQL for real portals, SQLite for the
//! embedded default. One connection pool (sqlx's `Any` driver) and one set
//! of statements serve both; the few differences are in [`Backend`].

use std::path::Path;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

use crate::MapperError;
use crate::schema::{MediaTable, SchemaChoice};

// Still reachable as `portal::Backend`, where it was defined before.
pub use crate::backend::Backend;

const SQLITE_SCHEMA: &str = include_str!("../sql/schema-sqlite.sql");

/// Facts about a collection that names and rows need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    pub collid: i64,
    pub institution_code: String,
    pub collection_code: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Portal {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) media: MediaTable,
    /// The URL with any password masked, for messages.
    display_url: String,
}

impl Portal {
    /// Open the database `url` points to: `sqlite://PATH` (created with
    /// Symbiota-compatible tables when the file does not exist) or
    /// `mysql://user:password@host:port/db` (`mariadb://` is accepted too),
    /// and find its image table as `schema` says.
    pub async fn connect(url: &str, schema: SchemaChoice) -> Result<Portal, MapperError> {
        sqlx::any::install_default_drivers();
        let display_url = mask_password(url);
        let sqlite_path = url.strip_prefix("sqlite://");
        let (backend, url) = if let Some(path) = sqlite_path {
            if path.is_empty() {
                return Err(MapperError::BadUrl {
                    url: display_url,
                    reason: "no file path after sqlite://".into(),
                });
            }
            (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if let Some(rest) = url.strip_prefix("mariadb://") {
            (Backend::MySql, format!("mysql://{rest}"))
        } else if url.starts_with("mysql://") {
            (Backend::MySql, url.to_string())
        } else {
            return Err(MapperError::BadUrl {
                url: display_url,
                reason: "use sqlite://PATH or mysql://user:password@host:port/database".into(),
            });
        };
        // A missing embedded database is created with Symbiota's tables.
        let fresh = sqlite_path.is_some_and(|path| !Path::new(path).exists());
        if let Some(parent) = sqlite_path.filter(|_| fresh).and_then(|p| Path::new(p).parent()) {
            std::fs::create_dir_all(parent).map_err(|e| MapperError::Create {
                path: display_url.clone(),
                cause: e.to_string(),
            })?;
        }
        let options = AnyConnectOptions::from_str(&url).map_err(|e| MapperError::BadUrl {
            url: display_url.clone(),
            reason: e.to_string(),
        })?;
        let pool_options = match backend {
            // One connection: the embedded database has one writer anyway,
            // and this rules out SQLite's lock upgrade deadlocks.
            Backend::Sqlite => AnyPoolOptions::new().max_connections(1).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                        .await?;
                    Ok(())
                })
            }),
            // A down server is reported (and retried by the caller) after
            // 10 s rather than sqlx's default 30 s.
            Backend::MySql => AnyPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(std::time::Duration::from_secs(10)),
        };
        // No idle reaper: sqlx 0.8's maintenance task can read a wrapped
        // idle count and spin a core for ever (launchbadge/sqlx#3645, seen
        // here in a scan on 2026-12-03). A connection that died idle is
        // found by the ping sqlx makes before handing one out.
        let pool = pool_options
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|cause| MapperError::Connect {
                url: display_url.clone(),
                cause,
            })?;
        if fresh {
            sqlx::raw_sql(SQLITE_SCHEMA)
                .execute(&pool)
                .await
                .map_err(|e| MapperError::Create {
                    path: display_url.clone(),
                    cause: e.to_string(),
                })?;
        }
        check_schema(&pool, &display_url).await?;
        let media = MediaTable::detect(&pool, backend, schema, &display_url).await?;
        Ok(Portal {
            pool,
            backend,
            media,
            display_url,
        })
    }

    /// The image table this portal has (`media` or the older `images`).
    pub fn media_table(&self) -> &MediaTable {
        &self.media
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL with its password masked.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Run SQL statements (several, separated by `;`), e.g. a fixture.
    pub async fn execute_script(&self, sql: &str) -> Result<(), MapperError> {
        sqlx::raw_sql(sql).execute(&self.pool).await?;
        Ok(())
    }

    /// Institution and collection codes and name of `collid`.
    pub async fn collection(&self, collid: i64) -> Result<CollectionInfo, MapperError> {
        let row =
            sqlx::query("SELECT institutionCode, collectionCode, collectionName FROM omcollections WHERE collID = ?")
                .bind(collid)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(MapperError::UnknownCollection { collid })?;
        Ok(CollectionInfo {
            collid,
            institution_code: row.try_get(0)?,
            collection_code: row.try_get(1)?,
            name: row.try_get(2)?,
        })
    }

    /// Images already linked to `occid`.
    pub async fn image_count(&self, occid: i64) -> Result<i64, MapperError> {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE occid = ?", self.media.table);
        let row = sqlx::query(&sql).bind(occid).fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    /// The image row of `occid` whose url or originalUrl is `link`, if
    /// any: that remote image is linked already.
    pub async fn image_linked_to(&self, occid: i64, link: &str) -> Result<Option<i64>, MapperError> {
        let sql = format!(
            "SELECT {id} FROM {table} WHERE occid = ? AND (url = ? OR originalUrl = ?) ORDER BY {id}",
            id = self.media.id,
            table = self.media.table
        );
        let row = sqlx::query(&sql)
            .bind(occid)
            .bind(link)
            .bind(link)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Whether any image row points at `url` (as its url, thumbnailUrl or
    /// originalUrl): files behind it are in use and must stay.
    pub async fn refers_to(&self, url: &str) -> Result<bool, MapperError> {
        self.points_at_any(&[url.to_string()]).await
    }

    /// Whether any image row points at one of `urls`, the forms one file
    /// may be named by (its absolute and host-relative URL, say), as its
    /// url, thumbnailUrl or originalUrl. Exact matches, so the portal's
    /// indexes on those columns answer it (docs/admin.md).
    pub async fn points_at_any(&self, urls: &[String]) -> Result<bool, MapperError> {
        if urls.is_empty() {
            return Ok(false);
        }
        let list = vec!["?"; urls.len()].join(", ");
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE url IN ({list}) OR thumbnailUrl IN ({list}) OR originalUrl IN ({list})",
            self.media.table
        );
        let mut query = sqlx::query(&sql);
        for _ in 0..3 {
            for url in urls {
                query = query.bind(url.as_str());
            }
        }
        let row = query.fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Call the portal's stored procedure `name` with the collection id, as
    /// Symbiota's processor can after each collection. `name` must be a
    /// plain (optionally schema-qualified) identifier: it cannot be bound
    /// as a parameter, so nothing else is let into the statement.
    pub async fn call_procedure(&self, name: &str, collid: i64) -> Result<(), MapperError> {
        check_procedure_name(name, self.backend)?;
        sqlx::query(&format!("CALL {name}(?)"))
            .bind(collid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn check_schema(pool: &AnyPool, url: &str) -> Result<(), MapperError> {
    for table in ["omcollections", "omoccurrences"] {
        let probe = format!("SELECT 1 FROM {table} WHERE 1 = 0");
        if let Err(e) = sqlx::query(&probe).fetch_optional(pool).await {
            tracing::debug!("schema probe of {table} failed: {e}");
            return Err(MapperError::Schema {
                url: url.to_string(),
                table,
                hint: "is this a Symbiota database?",
            });
        }
    }
    Ok(())
}

/// `mysql://user:secret@host/db` -> `mysql://user:***@host/db`.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// A stored procedure name specdrop may put into a CALL statement.
pub fn check_procedure_name(name: &str, backend: Backend) -> Result<(), MapperError> {
    let plain = |part: &str| {
        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !(name.split('.').count() <= 2 && name.split('.').all(plain)) {
        return Err(MapperError::Procedure {
            name: name.to_string(),
            reason: "use the procedure's plain name (letters, digits, _; optionally database.name)",
        });
    }
    if backend == Backend::Sqlite {
        return Err(MapperError::Procedure {
            name: name.to_string(),
            reason: "SQLite has no stored procedures; this needs a MariaDB/MySQL portal",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_procedure_names_are_called() {
        assert!(check_procedure_name("update_stats", Backend::MySql).is_ok());
        assert!(check_procedure_name("portal.update_stats", Backend::MySql).is_ok());
        for bad in ["x(); DROP TABLE media", "a b", "", "1abc", "a.b.c", "`x`"] {
            assert!(check_procedure_name(bad, Backend::MySql).is_err(), "{bad}");
        }
        assert!(check_procedure_name("update_stats", Backend::Sqlite).is_err());
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            mask_password("mysql://root:s3cret@db:3306/portal"),
            "mysql://root:***@db:3306/portal"
        );
        assert_eq!(mask_password("mysql://root@db/portal"), "mysql://root@db/portal");
        assert_eq!(mask_password("sqlite://var/portal.db"), "sqlite://var/portal.db");
    }
}
