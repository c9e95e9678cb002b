//! specdrop's own memory: which file contents it has seen and what became
//! of them. One entry per content (the SHA-256 of the bytes), collection
//! and catalog number: the same bytes again under the same number are
//! recognised and not linked twice; under another number they are another
//! link (a sheet renamed to correct its number, or a sheet with two
//! specimens), and each keeps its own entry.
//!
//! An embedded SQLite database at `<state_dir>/ledger.db` by default, or
//! a MariaDB/MySQL database of specdrop's own (`ledger.url`) that several
//! instances share (migrations.rs makes its tables). One set of
//! statements for both through sqlx's Any driver; dialect.rs holds the
//! few spellings that differ.

mod dialect;
pub mod migrations;

use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::{AnyArguments, AnyPoolOptions};

pub use self::dialect::Dialect;
use crate::outcome::{Kind, NumberFrom};

/// A query on the ledger's pool.
type Query<'q> = sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>>;

/// The files table, under a name: [`SCHEMA`] makes it as `files`, the
/// rebuild of an older ledger as `files_rebuilt` first.
///
/// `catalog_number` is '' while the number is not known (a file that
/// ended before it was identified): a primary key column cannot be NULL
/// in SQLite's sense of "unique". `source` is the path exactly as the
/// file system gave it (see [`bind_path`]): a name that is not UTF-8 must
/// lead back to its file.
const FILES_TABLE: &str = "
CREATE TABLE IF NOT EXISTS {table} (
    hash           TEXT NOT NULL,
    collection     TEXT NOT NULL,
    catalog_number TEXT NOT NULL DEFAULT '',
    source         BLOB NOT NULL,
    outcome        TEXT NOT NULL,
    reason         TEXT,
    occid          INTEGER,
    media_id       INTEGER,
    large          TEXT,
    web            TEXT,
    thumbnail      TEXT,
    archived_to    TEXT,
    number_from    TEXT,
    symbology      TEXT,
    first_seen     TEXT NOT NULL DEFAULT (datetime('now')),
    updated        TEXT NOT NULL DEFAULT (datetime('now')),
    run            TEXT,
    PRIMARY KEY (hash, collection, catalog_number)
);
";

const FILES_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS files_outcome ON files (outcome);
CREATE INDEX IF NOT EXISTS files_source ON files (source);
CREATE INDEX IF NOT EXISTS files_media ON files (collection, media_id);
";

const WRITING_TABLE: &str = "
-- Derivatives being put in place whose row is not yet committed: written
-- before the first of them appears, removed once the row (or the undo)
-- is done, by the run (one process's session) that wrote them. What a
-- crash leaves here is settled at the next start (claims.rs).
CREATE TABLE IF NOT EXISTS writing (
    path  TEXT PRIMARY KEY,
    url   TEXT NOT NULL,
    hash  TEXT NOT NULL,
    run   TEXT NOT NULL,
    since TEXT NOT NULL DEFAULT (datetime('now'))
);
";

/// What `specdrop undo` took back: the entry leaves `files` and is kept
/// here, so that the original, back in the drop folder under its name, is
/// not linked to the same specimen again (pipeline/seen.rs).
const UNDONE_TABLE: &str = "
CREATE TABLE IF NOT EXISTS undone (
    hash           TEXT NOT NULL,
    collection     TEXT NOT NULL,
    catalog_number TEXT NOT NULL,
    source         BLOB NOT NULL,
    occid          INTEGER,
    media_id       INTEGER,
    linked_by      TEXT,
    undone_by      TEXT NOT NULL,
    at             TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (hash, collection, catalog_number)
);
";

/// Sheets whose label text is to be read (ocr.rs), one per image row:
/// written in the same transaction as the linked file's entry, so that no
/// crash loses one, and kept on disk however many wait. `state` is
/// `queued` until the reading is in the portal (`done`), found nothing
/// (`empty`), was not wanted (`skipped`: the record's status, say) or
/// failed [`OCR_ATTEMPTS`] times (`failed`); `reason` says why.
const OCR_JOBS_TABLE: &str = "
CREATE TABLE IF NOT EXISTS ocr_jobs (
    media_id   INTEGER PRIMARY KEY,
    occid      INTEGER NOT NULL,
    collection TEXT NOT NULL,
    image      BLOB NOT NULL,
    state      TEXT NOT NULL DEFAULT 'queued',
    attempts   INTEGER NOT NULL DEFAULT 0,
    reason     TEXT,
    queued     TEXT NOT NULL DEFAULT (datetime('now')),
    updated    TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS ocr_jobs_state ON ocr_jobs (state);
";

/// The longest reason the shared database keeps (its column's length).
const REASON_CHARS: usize = 4000;

/// Failed readings of one sheet before its job is left as `failed`.
pub const OCR_ATTEMPTS: i64 = 3;

/// A queued OCR job: the image row and the file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrJob {
    pub media_id: i64,
    pub occid: i64,
    pub collection: String,
    pub image: PathBuf,
}

/// How an OCR job ended, with the reason kept beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcrEnd {
    Done,
    Empty,
    Skipped,
}

impl OcrEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            OcrEnd::Done => "done",
            OcrEnd::Empty => "empty",
            OcrEnd::Skipped => "skipped",
        }
    }
}

/// Queue `job` (the first of two statements: a new job)...
const ENQUEUE_OCR: &str = "{insert_ignore} INTO ocr_jobs (media_id, occid, collection, image) VALUES (?, ?, ?, ?)";
/// ... or one that ended `skipped` or `failed` queued again (a backfill
/// asks once more); a reading already done stays done.
const REQUEUE_OCR: &str = "UPDATE ocr_jobs SET occid = ?, collection = ?, image = ?, state = 'queued', attempts = 0, \
     reason = NULL, updated = {now} WHERE media_id = ? AND state IN ('skipped', 'failed')";

fn schema() -> String {
    [
        &FILES_TABLE.replace("{table}", "files"),
        FILES_INDEXES,
        WRITING_TABLE,
        UNDONE_TABLE,
        OCR_JOBS_TABLE,
    ]
    .concat()
}

/// The columns an entry's outcome sets, after its key: what a new record
/// of the same key replaces, and compares to tell an unchanged outcome.
const OUTCOME_COLUMNS: [&str; 10] = [
    "source",
    "outcome",
    "reason",
    "occid",
    "media_id",
    "large",
    "web",
    "thumbnail",
    "number_from",
    "symbology",
];

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the ledger in {dir}: {cause}; check state_dir and that specdrop's user may write there")]
    Open { dir: String, cause: String },
    #[error(
        "cannot use the ledger database {url}: {cause}; check ledger.url (or ledger.url_file, SPECDROP_LEDGER_URL), \
         that the server answers and that the user may create tables in that database"
    )]
    Server { url: String, cause: String },
    #[error(
        "the ledger database {url} does not answer: {cause}; check that its server runs and that this host may \
         reach it (ledger.url)"
    )]
    Unreachable { url: String, cause: String },
    #[error(
        "the ledger database is at schema version {found}, newer than this specdrop knows ({expected}); \
         upgrade specdrop on this host to the version the other instances run"
    )]
    Newer { found: i64, expected: i64 },
    #[error("ledger database busy: {0}; try again, or look for a hung specdrop")]
    Busy(String),
    #[error("ledger error: {0}")]
    Query(sqlx::Error),
}

impl LedgerError {
    /// A path claimed already (by another session).
    pub fn is_taken(&self) -> bool {
        matches!(self, LedgerError::Query(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// MySQL chose this transaction as a deadlock's victim (SQLSTATE
    /// 40001): nothing of it was written, and it may run again.
    pub fn is_deadlock(&self) -> bool {
        matches!(self, LedgerError::Query(sqlx::Error::Database(e)) if e.code().as_deref() == Some("40001"))
    }
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Query(e)
    }
}

/// The step the shared database is at: 0 before the first.
async fn current_version(conn: &mut sqlx::AnyConnection) -> Result<i64, LedgerError> {
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME = 'schema_version'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if tables == 0 {
        return Ok(0);
    }
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&mut *conn)
        .await?;
    Ok(version.unwrap_or(0))
}

/// A content the ledger has as linked, under one collection and number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub collection: String,
    pub catalog_number: String,
    /// The copy that was linked (its path when it was taken).
    pub source: PathBuf,
    pub occid: Option<i64>,
}

/// A ledger entry as `status` and the imaging team's report show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub collection: String,
    /// The path as text, for showing (lossy where the name is not UTF-8).
    pub source: String,
    /// The path exactly, to find the file again; not in JSON, which
    /// cannot hold a name that is not UTF-8.
    #[serde(skip)]
    pub path: PathBuf,
    pub outcome: Kind,
    pub reason: String,
    pub catalog_number: Option<String>,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub updated: String,
}

/// One row to record.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub hash: &'a str,
    pub collection: &'a str,
    pub source: &'a Path,
    pub reason: Option<&'a str>,
    pub catalog_number: Option<&'a str>,
    pub occid: Option<i64>,
    pub media_id: Option<i64>,
    pub large: Option<&'a str>,
    pub web: Option<&'a str>,
    pub thumbnail: Option<&'a str>,
    /// Where the catalog number came from: stored as `filename` or
    /// `barcode`, and the barcode's kind.
    pub number_from: Option<NumberFrom>,
    /// The sheet's label is to be read: queued with the entry.
    pub ocr: Option<&'a OcrJob>,
}

impl<'a> Record<'a> {
    /// A record of `hash` from `source` with nothing else known yet.
    pub fn of(hash: &'a str, collection: &'a str, source: &'a Path) -> Record<'a> {
        Record {
            hash,
            collection,
            source,
            reason: None,
            catalog_number: None,
            occid: None,
            media_id: None,
            large: None,
            web: None,
            thumbnail: None,
            number_from: None,
            ocr: None,
        }
    }
}

/// Whether recording an outcome changed the ledger: an outcome recorded
/// again as it was (a parked file parked again for the same reason) is
/// not news, and keeps its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Changed,
    Unchanged,
}

/// Columns later versions added, for ledgers an earlier version made.
const ADDED_COLUMNS: [(&str, &str, &str); 4] = [
    ("files", "number_from", "TEXT"),
    ("files", "symbology", "TEXT"),
    ("files", "run", "TEXT"),
    ("writing", "run", "TEXT NOT NULL DEFAULT 'an earlier version'"),
];

async fn add_missing_columns(pool: &AnyPool) -> Result<(), sqlx::Error> {
    for (table, column, kind) in ADDED_COLUMNS {
        let have: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info(?)")
            .bind(table)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        if !have.iter().any(|h| h == column) {
            sqlx::raw_sql(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// Ledgers before one entry per (content, collection, catalog number)
/// keyed `files` by the hash alone, with the source as text: the table is
/// made again in the new shape, every entry kept. SQLite cannot change a
/// primary key in place.
async fn rebuild_keyed_by_hash(pool: &AnyPool) -> Result<(), sqlx::Error> {
    let keyed_by_hash = "SELECT COUNT(*) FROM pragma_table_info('files') WHERE pk > 0";
    let key_columns = |n: i64| n == 1;
    if !key_columns(sqlx::query_scalar(keyed_by_hash).fetch_one(pool).await?) {
        return Ok(());
    }
    let mut conn = pool.acquire().await?;
    // IMMEDIATE: two processes opening one old ledger together rebuild it
    // once; the second finds it done when it gets the write lock.
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let rebuilt = async {
        if !key_columns(sqlx::query_scalar(keyed_by_hash).fetch_one(&mut *conn).await?) {
            return Ok(());
        }
        let columns = "hash, collection, catalog_number, source, outcome, reason, occid, media_id, large, web, \
                       thumbnail, archived_to, number_from, symbology, first_seen, updated";
        let script = [
            FILES_TABLE.replace("{table}", "files_rebuilt"),
            format!(
                "INSERT INTO files_rebuilt ({columns}) SELECT hash, collection, IFNULL(catalog_number, ''), \
                 source, outcome, reason, occid, media_id, large, web, thumbnail, archived_to, \
                 number_from, symbology, first_seen, updated FROM files;"
            ),
            "DROP TABLE files; ALTER TABLE files_rebuilt RENAME TO files;".to_string(),
            FILES_INDEXES.to_string(),
        ]
        .concat();
        sqlx::raw_sql(&script).execute(&mut *conn).await.map(|_| ())
    }
    .await;
    let end = if rebuilt.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = sqlx::raw_sql(end).execute(&mut *conn).await;
    rebuilt.and(ended.map(|_| ()))
}

/// A path as a query's value: text when it is UTF-8 (as earlier versions
/// stored every path, and as someone reading the ledger with `sqlite3`
/// expects), else a BLOB of its exact bytes. One path always binds alike,
/// so it compares equal to itself.
fn bind_path<'q>(query: Query<'q>, path: &'q Path) -> Query<'q> {
    match path.to_str() {
        Some(text) => query.bind(text),
        None => query.bind(path.as_os_str().as_bytes()),
    }
}

/// A path read back (`{source}`: text and BLOB alike).
fn path_of(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// The catalog number as the key holds it ('' for not known).
fn number_key(number: Option<&str>) -> &str {
    number.unwrap_or("")
}

/// Which linked entries `specdrop undo` takes back.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// The file: where it was taken from, or where it was archived.
    Path(&'a Path),
    /// Every file one run linked.
    Run(&'a str),
    /// A collection's files linked since a UTC time (`YYYY-MM-DD HH:MM:SS`).
    Since { collection: &'a str, utc: &'a str },
}

/// A linked entry, as `specdrop undo` needs it.
#[derive(Debug, Clone)]
pub struct Done {
    pub hash: String,
    pub collection: String,
    pub catalog_number: String,
    pub source: PathBuf,
    pub outcome: Kind,
    pub occid: Option<i64>,
    pub media_id: Option<i64>,
    /// Derivatives, relative to the storage root.
    pub large: Option<String>,
    pub web: Option<String>,
    pub thumbnail: Option<String>,
    pub archived_to: Option<PathBuf>,
    pub run: Option<String>,
    pub updated: String,
}

/// A claim not yet released.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// (hash, run): the files one session wrote for one content.
    pub set: (String, String),
    pub path: String,
    pub url: String,
}

/// Where the ledger lives (`[ledger]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `ledger.db` in this folder (`state_dir`): this host's alone.
    File(PathBuf),
    /// A MariaDB/MySQL database (`ledger.url`) that several instances share.
    Server(String),
}

#[derive(Debug, Clone)]
pub struct Ledger {
    pool: AnyPool,
    dialect: Dialect,
}

impl Ledger {
    /// Open (or create) the SQLite ledger in `state_dir`. With `read_only`,
    /// nothing is created: a missing ledger is an empty one in memory (for
    /// dry runs).
    pub async fn open(state_dir: &Path, read_only: bool) -> Result<Ledger, LedgerError> {
        sqlx::any::install_default_drivers();
        let fail = |cause: &dyn std::fmt::Display| LedgerError::Open {
            dir: state_dir.display().to_string(),
            cause: cause.to_string(),
        };
        let file = state_dir.join("ledger.db");
        let exists = file.exists();
        let url = if read_only && !exists {
            "sqlite::memory:".to_string()
        } else {
            if !read_only {
                std::fs::create_dir_all(state_dir).map_err(|e| fail(&e))?;
            }
            let mode = if read_only { "ro" } else { "rwc" };
            format!("sqlite://{}?mode={mode}", file.display())
        };
        let writable = !read_only;
        // No idle reaper for one local connection: sqlx 0.8's maintenance
        // task can read a wrapped idle count and spin a core for ever
        // (launchbadge/sqlx#3645; a scan here hung so on 2026-12-03).
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    use sqlx::Executor as _;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    // WAL: a reader (`status`) never waits for the daemon.
                    if writable {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| fail(&e))?;
        if !(read_only && exists) {
            sqlx::raw_sql(&schema()).execute(&pool).await.map_err(|e| fail(&e))?;
            add_missing_columns(&pool).await.map_err(|e| fail(&e))?;
            rebuild_keyed_by_hash(&pool).await.map_err(|e| fail(&e))?;
        }
        Ok(Ledger {
            pool,
            dialect: Dialect::Sqlite,
        })
    }

    /// Open the ledger `place` names: the SQLite file, or the shared
    /// database, its tables made or brought up to date unless `read_only`.
    pub async fn open_at(place: &Place, read_only: bool) -> Result<Ledger, LedgerError> {
        match place {
            Place::File(state_dir) => Ledger::open(state_dir, read_only).await,
            Place::Server(url) => Ledger::open_server(url, read_only).await,
        }
    }

    async fn open_server(url: &str, read_only: bool) -> Result<Ledger, LedgerError> {
        sqlx::any::install_default_drivers();
        let shown = specdrop_mapper::mask_password(url);
        let fail = |cause: &dyn std::fmt::Display| LedgerError::Server {
            url: shown.clone(),
            cause: cause.to_string(),
        };
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None if url.starts_with("mysql://") => url.to_string(),
            None => return Err(fail(&"it is neither mysql://... nor mariadb://...")),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect(&url)
            .await
            .map_err(|e| match e {
                // Nothing answered: worth waiting for, unlike a refusal.
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => LedgerError::Unreachable {
                    url: shown.clone(),
                    cause: e.to_string(),
                },
                e => fail(&e),
            })?;
        let ledger = Ledger {
            pool,
            dialect: Dialect::MySql,
        };
        if !read_only {
            ledger.migrate().await.map_err(|e| match e {
                LedgerError::Query(e) => fail(&e),
                other => other,
            })?;
        }
        Ok(ledger)
    }

    /// Bring the shared database to [`migrations::SCHEMA_VERSION`], one
    /// step at a time, under a server lock: instances starting together
    /// migrate it once.
    async fn migrate(&self) -> Result<(), LedgerError> {
        let mut conn = self.pool.acquire().await?;
        let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(CONCAT('specdrop-migrate:', DATABASE()), 120)")
            .fetch_one(&mut *conn)
            .await?;
        if locked != Some(1) {
            return Err(LedgerError::Busy(
                "another specdrop has been migrating the ledger database for two minutes".into(),
            ));
        }
        let migrated = async {
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL PRIMARY KEY, \
                 specdrop VARCHAR(32) NOT NULL, applied BIGINT NOT NULL) ENGINE=InnoDB",
            )
            .execute(&mut *conn)
            .await?;
            let found = current_version(&mut conn).await?;
            if found > migrations::SCHEMA_VERSION {
                return Err(LedgerError::Newer {
                    found,
                    expected: migrations::SCHEMA_VERSION,
                });
            }
            for (version, step) in (1..).zip(migrations::steps()).skip(usize::try_from(found).unwrap_or(0)) {
                for statement in step {
                    match sqlx::raw_sql(&statement).execute(&mut *conn).await {
                        Ok(_) => {}
                        // MySQL has no CREATE INDEX IF NOT EXISTS, and DDL
                        // commits itself: a step cut short after its index
                        // was made finds it there when run again
                        // (1061: duplicate key name).
                        Err(sqlx::Error::Database(e))
                            if e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                                .is_some_and(|e| e.number() == 1061) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                sqlx::query("INSERT INTO schema_version (version, specdrop, applied) VALUES (?, ?, UNIX_TIMESTAMP())")
                    .bind(version)
                    .bind(env!("CARGO_PKG_VERSION"))
                    .execute(&mut *conn)
                    .await?;
                tracing::info!("ledger database migrated to schema version {version}");
            }
            Ok(())
        }
        .await;
        let released = sqlx::query("SELECT RELEASE_LOCK(CONCAT('specdrop-migrate:', DATABASE()))")
            .execute(&mut *conn)
            .await;
        migrated.and(released.map(|_| ()).map_err(LedgerError::from))
    }

    /// The shared database's schema version (0: never migrated); the
    /// SQLite file has none and says `None`.
    pub async fn schema_version(&self) -> Result<Option<i64>, LedgerError> {
        if self.dialect == Dialect::Sqlite {
            return Ok(None);
        }
        let mut conn = self.pool.acquire().await?;
        Ok(Some(current_version(&mut conn).await?))
    }

    /// Which database holds the ledger.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Whether several instances may share this ledger (a database server).
    pub fn shared(&self) -> bool {
        self.dialect == Dialect::MySql
    }

    /// The connection, for tables kept in modules of their own
    /// (mapping_lines.rs, instances.rs).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// `text` in this ledger's dialect (dialect.rs).
    pub(crate) fn sql(&self, text: &str) -> String {
        self.dialect.sql(text)
    }

    /// A reason as the shared database's column holds it (4000
    /// characters; SQLite keeps any length).
    fn fit<'r>(&self, text: &'r str) -> &'r str {
        match (self.dialect, text.char_indices().nth(REASON_CHARS)) {
            (Dialect::MySql, Some((end, _))) => &text[..end],
            _ => text,
        }
    }

    /// Queue one OCR job in `tx`: 1 when it is new or queued again.
    async fn enqueue_one(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, job: &OcrJob) -> Result<u64, LedgerError> {
        let insert = self.sql(ENQUEUE_OCR);
        let new = sqlx::query(&insert)
            .bind(job.media_id)
            .bind(job.occid)
            .bind(job.collection.as_str());
        let inserted = bind_path(new, &job.image).execute(&mut **tx).await?.rows_affected();
        if inserted > 0 {
            return Ok(inserted);
        }
        let requeue = self.sql(REQUEUE_OCR);
        let again = sqlx::query(&requeue).bind(job.occid).bind(job.collection.as_str());
        Ok(bind_path(again, &job.image)
            .bind(job.media_id)
            .execute(&mut **tx)
            .await?
            .rows_affected())
    }

    /// Every entry of content `hash` that put it in the portal, under any
    /// collection and number, the earliest first.
    pub async fn linked(&self, hash: &str) -> Result<Vec<Linked>, LedgerError> {
        let sql = self.sql(
            // IFNULL: a dry run reads an older ledger as it is, not rebuilt.
            "SELECT collection, IFNULL(catalog_number, ''), {source}, occid FROM files \
             WHERE hash = ? AND outcome IN (?, ?) ORDER BY first_seen, {seq}",
        );
        let rows = sqlx::query(&sql)
            .bind(hash)
            .bind(Kind::Linked.as_str())
            .bind(Kind::Skeletal.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Linked {
                    collection: row.try_get(0)?,
                    catalog_number: row.try_get(1)?,
                    source: path_of(row.try_get(2)?),
                    occid: row.try_get(3)?,
                })
            })
            .collect()
    }

    /// Record (or update) what happened to the content `record.hash` under
    /// its collection and catalog number. Entries of the same content under
    /// another number are another copy's and stay as they are, except one
    /// not done from this very path: that was this copy before its number
    /// was known (or changed), and it is replaced.
    pub async fn record(&self, outcome: Kind, record: &Record<'_>) -> Result<Recorded, LedgerError> {
        // Instances sharing a MySQL ledger can deadlock on its row locks;
        // the server then rolls one transaction back, to be run again.
        let mut attempt = 0;
        loop {
            let once = async {
                let mut tx = self.pool.begin().await?;
                let changed = self.record_in(&mut tx, outcome, record).await?;
                tx.commit().await?;
                Ok::<u64, LedgerError>(changed)
            };
            match once.await {
                Err(e) if e.is_deadlock() && attempt < 3 => attempt += 1,
                Err(e) => return Err(e),
                Ok(changed) => {
                    return Ok(if changed == 0 {
                        Recorded::Unchanged
                    } else {
                        Recorded::Changed
                    });
                }
            }
        }
    }

    /// One entry recorded inside `tx` (see [`Ledger::record`]); how many
    /// rows it changed.
    async fn record_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        outcome: Kind,
        record: &Record<'_>,
    ) -> Result<u64, LedgerError> {
        // Two statements rather than one upsert: SQLite's `ON CONFLICT ...
        // WHERE` has no MySQL twin that says whether anything changed.
        let insert = self.sql(&format!(
            "{{insert_ignore}} INTO files (hash, collection, catalog_number, {}) VALUES (?, ?, ?, {})",
            OUTCOME_COLUMNS.join(", "),
            vec!["?"; OUTCOME_COLUMNS.len()].join(", "),
        ));
        let assign: Vec<String> = OUTCOME_COLUMNS.iter().map(|c| format!("{c} = ?")).collect();
        let differs: Vec<String> = OUTCOME_COLUMNS.iter().map(|c| self.dialect.differs(c)).collect();
        let update = self.sql(&format!(
            "UPDATE files SET {}, updated = {{now}} WHERE hash = ? AND collection = ? AND catalog_number = ? AND ({})",
            assign.join(", "),
            differs.join(" OR ")
        ));
        let number = number_key(record.catalog_number);
        let reason = record.reason.map(|r| self.fit(r));
        let key = sqlx::query(&insert)
            .bind(record.hash)
            .bind(record.collection)
            .bind(number);
        let mut written = bind_outcome(key, outcome, record, reason)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if written == 0 {
            let changed = bind_outcome(sqlx::query(&update), outcome, record, reason)
                .bind(record.hash)
                .bind(record.collection)
                .bind(number);
            written = bind_outcome(changed, outcome, record, reason)
                .execute(&mut **tx)
                .await?
                .rows_affected();
        }
        let same_copy = sqlx::query(
            "DELETE FROM files WHERE hash = ? AND collection = ? AND source = ? AND catalog_number <> ? \
             AND outcome NOT IN (?, ?)",
        )
        .bind(record.hash)
        .bind(record.collection);
        let replaced = bind_path(same_copy, record.source)
            .bind(number)
            .bind(Kind::Linked.as_str())
            .bind(Kind::Skeletal.as_str())
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if let Some(job) = record.ocr {
            self.enqueue_one(tx, job).await?;
        }
        Ok(written + replaced)
    }

    /// Record the entries of one linked image (one per specimen it was
    /// linked to, each with its outcome) with the run that linked them,
    /// for `specdrop undo --batch RUN`, in one transaction: a kill leaves
    /// all of them or none. The run is kept out of the outcome columns: it
    /// is not part of what an unchanged outcome compares.
    pub async fn record_linked(&self, records: &[(Kind, Record<'_>)], run: &str) -> Result<(), LedgerError> {
        // As in `record`: a transaction a MySQL deadlock rolled back is run again.
        let mut attempt = 0;
        loop {
            let once = async {
                let mut tx = self.pool.begin().await?;
                for (outcome, record) in records {
                    self.record_in(&mut tx, *outcome, record).await?;
                    sqlx::query("UPDATE files SET run = ? WHERE hash = ? AND collection = ? AND catalog_number = ?")
                        .bind(run)
                        .bind(record.hash)
                        .bind(record.collection)
                        .bind(number_key(record.catalog_number))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok::<(), LedgerError>(())
            };
            match once.await {
                Err(e) if e.is_deadlock() && attempt < 3 => attempt += 1,
                done => return done,
            }
        }
    }

    /// (collection, source path) of every file whose outcome is one of
    /// `outcomes`, each once.
    pub async fn sources(&self, outcomes: &[Kind]) -> Result<Vec<(String, PathBuf)>, LedgerError> {
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for outcome in outcomes {
            let sql = self.sql("SELECT DISTINCT collection, {source} FROM files WHERE outcome = ? ORDER BY 2, 1");
            let rows = sqlx::query(&sql).bind(outcome.as_str()).fetch_all(&self.pool).await?;
            for row in rows {
                let pair = (row.try_get(0)?, path_of(row.try_get(1)?));
                if !found.contains(&pair) {
                    found.push(pair);
                }
            }
        }
        Ok(found)
    }

    /// Where the linked copy of `hash` under `collection` and
    /// `catalog_number` went.
    pub async fn set_archived(
        &self,
        hash: &str,
        collection: &str,
        catalog_number: &str,
        archived_to: &Path,
    ) -> Result<(), LedgerError> {
        let sql = self.sql(
            "UPDATE files SET archived_to = ?, updated = {now} \
             WHERE hash = ? AND collection = ? AND catalog_number = ?",
        );
        sqlx::query(&sql)
            .bind(archived_to.to_string_lossy().into_owned())
            .bind(hash)
            .bind(collection)
            .bind(catalog_number)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The linked entries `which` selects, oldest first.
    pub async fn done(&self, which: Which<'_>) -> Result<Vec<Done>, LedgerError> {
        let columns = "hash, collection, catalog_number, {source}, outcome, occid, media_id, large, \
                       web, thumbnail, archived_to, run, updated";
        let base = format!("SELECT {columns} FROM files WHERE outcome IN (?, ?) AND ");
        let query = |condition: &str| self.sql(&format!("{base}{condition} ORDER BY updated, {{seq}}"));
        let (linked, skeletal) = (Kind::Linked.as_str(), Kind::Skeletal.as_str());
        let rows = match which {
            Which::Path(path) => {
                let sql = query("(source = ? OR archived_to = ?)");
                let q = sqlx::query(&sql).bind(linked).bind(skeletal);
                bind_path(q, path)
                    .bind(path.to_string_lossy().into_owned())
                    .fetch_all(&self.pool)
                    .await?
            }
            Which::Run(run) => {
                let sql = query("run = ?");
                sqlx::query(&sql)
                    .bind(linked)
                    .bind(skeletal)
                    .bind(run)
                    .fetch_all(&self.pool)
                    .await?
            }
            Which::Since { collection, utc } => {
                let sql = query("collection = ? AND updated >= ?");
                sqlx::query(&sql)
                    .bind(linked)
                    .bind(skeletal)
                    .bind(collection)
                    .bind(utc)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.into_iter()
            .map(|row| {
                let outcome: String = row.try_get(4)?;
                Ok(Done {
                    hash: row.try_get(0)?,
                    collection: row.try_get(1)?,
                    catalog_number: row.try_get(2)?,
                    source: path_of(row.try_get(3)?),
                    outcome: Kind::from_str(&outcome).unwrap_or(Kind::Linked),
                    occid: row.try_get(5)?,
                    media_id: row.try_get(6)?,
                    large: row.try_get(7)?,
                    web: row.try_get(8)?,
                    thumbnail: row.try_get(9)?,
                    archived_to: row.try_get::<Option<String>, _>(10)?.map(PathBuf::from),
                    run: row.try_get(11)?,
                    updated: row.try_get(12)?,
                })
            })
            .collect()
    }

    /// `done` was taken back by run `run`: it leaves the linked entries and
    /// is remembered as undone, in one transaction.
    pub async fn record_undo(&self, done: &Done, run: &str) -> Result<(), LedgerError> {
        let mut tx = self.pool.begin().await?;
        let sql = self.sql(
            "{replace} INTO undone (hash, collection, catalog_number, source, occid, media_id, linked_by, \
             undone_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let keep = sqlx::query(&sql)
            .bind(&done.hash)
            .bind(&done.collection)
            .bind(&done.catalog_number);
        bind_path(keep, &done.source)
            .bind(done.occid)
            .bind(done.media_id)
            .bind(&done.run)
            .bind(run)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM files WHERE hash = ? AND collection = ? AND catalog_number = ?")
            .bind(&done.hash)
            .bind(&done.collection)
            .bind(&done.catalog_number)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// When (UTC) content `hash`, from this very `source`, was taken back
    /// from `catalog_number` by `specdrop undo`, if it was.
    pub async fn undone(
        &self,
        hash: &str,
        collection: &str,
        catalog_number: &str,
        source: &Path,
    ) -> Result<Option<String>, LedgerError> {
        let q = sqlx::query(
            "SELECT at FROM undone WHERE hash = ? AND collection = ? AND catalog_number = ? AND source = ?",
        )
        .bind(hash)
        .bind(collection)
        .bind(catalog_number);
        let row = bind_path(q, source).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// The latest runs that linked files: (run, first and last UTC time,
    /// files), newest first.
    pub async fn runs(&self, limit: u32) -> Result<Vec<(String, String, String, i64)>, LedgerError> {
        let rows = sqlx::query(
            "SELECT run, MIN(updated), MAX(updated), COUNT(*) FROM files WHERE run IS NOT NULL \
             GROUP BY run ORDER BY MAX(updated) DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// How many entries have each outcome: all of them, or (`today`)
    /// those whose outcome was reached today, local time.
    pub async fn counts(&self, today: bool) -> Result<Vec<(Kind, u64)>, LedgerError> {
        let rows = if today {
            // Since local midnight, as UTC text (the column's form).
            sqlx::query("SELECT outcome, COUNT(*) FROM files WHERE updated >= ? GROUP BY outcome")
                .bind(crate::clock::midnight_utc())
                .fetch_all(&self.pool)
                .await?
        } else {
            sqlx::query("SELECT outcome, COUNT(*) FROM files GROUP BY outcome")
                .fetch_all(&self.pool)
                .await?
        };
        let mut counts: Vec<(Kind, u64)> = Kind::ALL.iter().map(|k| (*k, 0)).collect();
        for row in rows {
            let outcome: String = row.try_get(0)?;
            let n: i64 = row.try_get(1)?;
            if let Some(slot) = counts.iter_mut().find(|(k, _)| k.as_str() == outcome) {
                slot.1 = n.max(0) as u64;
            }
        }
        Ok(counts)
    }

    /// Entries with one of `outcomes`, most recently updated first.
    pub async fn listed(&self, outcomes: &[Kind], limit: u32) -> Result<Vec<Listed>, LedgerError> {
        let mut found = Vec::new();
        for outcome in outcomes {
            let sql = self.sql(
                "SELECT collection, {source}, outcome, reason, NULLIF(catalog_number, ''), updated \
                 FROM files WHERE outcome = ? ORDER BY updated DESC, source LIMIT ?",
            );
            let rows = sqlx::query(&sql)
                .bind(outcome.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
            for row in rows {
                let outcome: String = row.try_get(2)?;
                let path = path_of(row.try_get(1)?);
                found.push(Listed {
                    collection: row.try_get(0)?,
                    source: path.to_string_lossy().into_owned(),
                    path,
                    outcome: Kind::from_str(&outcome).unwrap_or(Kind::Failed),
                    reason: row.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
                    catalog_number: row.try_get(4)?,
                    updated: row.try_get(5)?,
                });
            }
        }
        found.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.path.cmp(&b.path)));
        Ok(found)
    }

    /// Note that derivatives of content `hash` are about to appear at
    /// these (path, URL) pairs, written by `run`.
    pub async fn claim(&self, run: &str, hash: &str, files: &[(String, String)]) -> Result<(), LedgerError> {
        if files.is_empty() {
            return Ok(());
        }
        // One statement, all or nothing: a path another session has
        // claimed is taken, the insert fails and the caller tries the next
        // name.
        let values = vec!["(?, ?, ?, ?)"; files.len()].join(", ");
        let sql = format!("INSERT INTO writing (path, url, hash, run) VALUES {values}");
        let mut query = sqlx::query(&sql);
        for (path, url) in files {
            query = query.bind(path).bind(url).bind(hash).bind(run);
        }
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// These paths `run` claimed are not its files after all.
    pub async fn unclaim(&self, run: &str, paths: &[String]) -> Result<(), LedgerError> {
        self.each_claim(run, paths, "DELETE FROM writing").await
    }

    /// Run `sql` (a statement on `writing` without its WHERE) on the claims
    /// of `run` at `paths`, in one statement.
    async fn each_claim(&self, run: &str, paths: &[String], sql: &str) -> Result<(), LedgerError> {
        if paths.is_empty() {
            return Ok(());
        }
        let marks = vec!["?"; paths.len()].join(", ");
        let sql = format!("{sql} WHERE run = ? AND path IN ({marks})");
        let mut query = sqlx::query(&sql).bind(run);
        for path in paths {
            query = query.bind(path);
        }
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// The derivatives `run` wrote of `hash` are settled: committed with
    /// their row, or removed again. Another run's claims on the same
    /// content stay for the start-up clean-up.
    pub async fn release(&self, run: &str, hash: &str) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM writing WHERE hash = ? AND run = ?")
            .bind(hash)
            .bind(run)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Hand `run`'s claims on `hash` to the next start-up's clean-up: no
    /// later release by this run touches them.
    pub async fn set_aside(&self, run: &str, hash: &str) -> Result<(), LedgerError> {
        sqlx::query(&self.sql("UPDATE writing SET run = {set_aside_run} WHERE hash = ? AND run = ?"))
            .bind(hash)
            .bind(run)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Hand `run`'s claims on these paths (one set) to the next start-up's
    /// clean-up; other sets of the same content are not touched.
    pub async fn set_aside_paths(&self, run: &str, paths: &[String]) -> Result<(), LedgerError> {
        let sql = self.sql("UPDATE writing SET run = {set_aside_run}");
        self.each_claim(run, paths, &sql).await
    }

    /// Forget one claim (settled at start-up).
    pub async fn forget_claim(&self, path: &str) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM writing WHERE path = ?")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every claim not yet released, grouped by set.
    pub async fn claims(&self) -> Result<Vec<Claimed>, LedgerError> {
        let rows = sqlx::query("SELECT hash, run, path, url FROM writing ORDER BY hash, run, path")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    set: (row.try_get(0)?, row.try_get(1)?),
                    path: row.try_get(2)?,
                    url: row.try_get(3)?,
                })
            })
            .collect()
    }

    /// Queue OCR jobs (a backfill); how many were new or queued again.
    pub async fn enqueue_ocr(&self, jobs: &[OcrJob]) -> Result<u64, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let mut queued = 0;
        for job in jobs {
            queued += self.enqueue_one(&mut tx, job).await?;
        }
        tx.commit().await?;
        Ok(queued)
    }

    /// Up to `limit` queued OCR jobs (of `collection` only, when given),
    /// oldest first, leaving out `busy` (being read).
    pub async fn ocr_due(
        &self,
        collection: Option<&str>,
        busy: &[i64],
        limit: usize,
    ) -> Result<Vec<OcrJob>, LedgerError> {
        let sql = self.sql(
            "SELECT media_id, occid, collection, {image} FROM ocr_jobs \
             WHERE state = 'queued' AND (? IS NULL OR collection = ?) ORDER BY queued, media_id",
        );
        let rows = sqlx::query(&sql)
            .bind(collection)
            .bind(collection)
            .fetch_all(&self.pool)
            .await?;
        let mut due = Vec::new();
        for row in rows {
            let media_id: i64 = row.try_get(0)?;
            if busy.contains(&media_id) {
                continue;
            }
            due.push(OcrJob {
                media_id,
                occid: row.try_get(1)?,
                collection: row.try_get(2)?,
                image: path_of(row.try_get(3)?),
            });
            if due.len() >= limit {
                break;
            }
        }
        Ok(due)
    }

    /// Queued OCR jobs (of `collection` only, when given).
    pub async fn ocr_waiting(&self, collection: Option<&str>) -> Result<u64, LedgerError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM ocr_jobs WHERE state = 'queued' AND (? IS NULL OR collection = ?)",
        )
        .bind(collection)
        .bind(collection)
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    /// OCR jobs by state (`queued`, `done`, `empty`, `skipped`,
    /// `failed`), for `status`.
    pub async fn ocr_counts(&self) -> Result<Vec<(String, i64)>, LedgerError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM ocr_jobs GROUP BY state ORDER BY state")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows)
    }

    /// The OCR job of `media_id` ended as `end`.
    pub async fn ocr_ended(&self, media_id: i64, end: OcrEnd, reason: &str) -> Result<(), LedgerError> {
        sqlx::query(&self.sql("UPDATE ocr_jobs SET state = ?, reason = ?, updated = {now} WHERE media_id = ?"))
            .bind(end.as_str())
            .bind(self.fit(reason))
            .bind(media_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The OCR job of `media_id` failed once more; true when that was its
    /// last attempt and it is left as failed.
    pub async fn ocr_failed(&self, media_id: i64, reason: &str) -> Result<bool, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let sql = self.sql(
            "UPDATE ocr_jobs SET attempts = attempts + 1, reason = ?, updated = {now}, \
             state = CASE WHEN attempts >= ? THEN 'failed' ELSE state END WHERE media_id = ?",
        );
        // MySQL sets columns left to right: `attempts` is the new count by
        // the time `state` is set; SQLite reads the old row throughout.
        let counted = match self.dialect {
            Dialect::Sqlite => OCR_ATTEMPTS - 1,
            Dialect::MySql => OCR_ATTEMPTS,
        };
        sqlx::query(&sql)
            .bind(self.fit(reason))
            .bind(counted)
            .bind(media_id)
            .execute(&mut *tx)
            .await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM ocr_jobs WHERE media_id = ?")
            .bind(media_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(state.as_deref() == Some("failed"))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The outcome columns of `record`, in [`OUTCOME_COLUMNS`] order.
fn bind_outcome<'q>(query: Query<'q>, outcome: Kind, record: &Record<'q>, reason: Option<&'q str>) -> Query<'q> {
    bind_path(query, record.source)
        .bind(outcome.as_str())
        .bind(reason)
        .bind(record.occid)
        .bind(record.media_id)
        .bind(record.large)
        .bind(record.web)
        .bind(record.thumbnail)
        .bind(record.number_from.map(NumberFrom::code))
        .bind(record.number_from.and_then(NumberFrom::symbology).map(|s| s.as_str()))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

    use super::*;

    /// The `files` table as version d2feedf made it: keyed by the hash
    /// alone, the source as text. Written out, not derived from
    /// [`FILES_TABLE`]: it must stay what that version made whatever the
    /// current shape becomes.
    const KEYED_BY_HASH: &str = "
CREATE TABLE files (
    hash           TEXT PRIMARY KEY,
    collection     TEXT NOT NULL,
    source         TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    reason         TEXT,
    catalog_number TEXT,
    occid          INTEGER,
    media_id       INTEGER,
    large          TEXT,
    web            TEXT,
    thumbnail      TEXT,
    archived_to    TEXT,
    number_from    TEXT,
    symbology      TEXT,
    first_seen     TEXT NOT NULL DEFAULT (datetime('now')),
    updated        TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX files_outcome ON files (outcome);
CREATE TABLE writing (
    path  TEXT PRIMARY KEY,
    url   TEXT NOT NULL,
    hash  TEXT NOT NULL,
    run   TEXT NOT NULL,
    since TEXT NOT NULL DEFAULT (datetime('now'))
);
";

    async fn old_ledger(dir: &Path, schema: &str, rows: &str) -> Result<(), sqlx::Error> {
        let url = format!("sqlite://{}", dir.join("ledger.db").display());
        // In WAL mode, as every version made it.
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let old = SqlitePoolOptions::new().connect_with(options).await?;
        sqlx::raw_sql(schema).execute(&old).await?;
        sqlx::raw_sql(rows).execute(&old).await?;
        old.close().await;
        Ok(())
    }

    fn record<'a>(hash: &'a str, source: &'a Path, number: Option<&'a str>) -> Record<'a> {
        Record {
            catalog_number: number,
            ..Record::of(hash, "C", source)
        }
    }

    async fn updated(ledger: &Ledger, hash: &str, number: &str) -> Result<String, sqlx::Error> {
        sqlx::query_scalar("SELECT updated FROM files WHERE hash = ? AND catalog_number = ?")
            .bind(hash)
            .bind(number)
            .fetch_one(&ledger.pool)
            .await
    }

    /// A ledger made before `number_from`, `symbology` and `run` existed
    /// gets them when opened, and keeps its entries.
    #[tokio::test]
    async fn an_older_ledger_gains_the_new_columns() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let before = KEYED_BY_HASH
            .replace("    number_from    TEXT,\n    symbology      TEXT,\n", "")
            .replace("    run   TEXT NOT NULL,\n", "");
        assert!(
            !before.contains("number_from") && !before.contains("run   TEXT"),
            "both older shapes are made"
        );
        let h0 = "INSERT INTO files (hash, collection, source, outcome) VALUES ('h0', 'C', 'a.jpg', 'linked')";
        old_ledger(dir.path(), &before, h0).await?;

        let ledger = Ledger::open(dir.path(), false).await?;
        let record = Record {
            catalog_number: Some("1122841"),
            number_from: Some(NumberFrom::Barcode(specdrop_barcode::Symbology::Code39)),
            ..Record::of("h1", "C", Path::new("IMG_0001.jpg"))
        };
        ledger.record(Kind::Linked, &record).await?;
        let row = sqlx::query("SELECT number_from, symbology FROM files WHERE hash = 'h1'")
            .fetch_one(&ledger.pool)
            .await?;
        assert_eq!(row.try_get::<String, _>(0)?, "barcode");
        assert_eq!(row.try_get::<String, _>(1)?, "Code 39");
        assert_eq!(ledger.linked("h0").await?.len(), 1, "older entries are kept");
        ledger
            .claim("run", "h1", &[("/lib/a.jpg".into(), "/imglib/a.jpg".into())])
            .await?;
        let taken = ledger
            .claim("other", "h2", &[("/lib/a.jpg".into(), "/imglib/a.jpg".into())])
            .await;
        assert!(
            taken.is_err_and(|e| e.is_taken()),
            "a path claimed by another run is taken"
        );
        Ok(())
    }

    /// A ledger keyed by the hash alone is rebuilt keyed by content,
    /// collection and number, every entry and date kept, and then holds a
    /// second entry of the same content under another number.
    #[tokio::test]
    async fn a_ledger_keyed_by_hash_is_rebuilt_with_its_entries() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let rows = "INSERT INTO files (hash, collection, source, outcome, catalog_number, occid, archived_to, \
                    first_seen, updated) VALUES \
                    ('h1', 'C', '/drop/MICH-V-1390992.jpg', 'linked', '1390992', 201, '/archive/MICH-V-1390992.jpg', \
                     '2024-01-02 03:04:05', '2024-01-02 03:04:06'), \
                    ('h2', 'C', '/drop/IMG_0001.jpg', 'failed', NULL, NULL, NULL, \
                     '2024-02-02 00:00:00', '2024-02-02 00:00:00');";
        old_ledger(dir.path(), KEYED_BY_HASH, rows).await?;

        // `status` and `check` read it as it is, before anything rebuilt it.
        let reader = Ledger::open(dir.path(), true).await?;
        assert_eq!(reader.linked("h1").await?.len(), 1);
        assert_eq!(reader.listed(&[Kind::Failed], 10).await?.len(), 1);
        assert_eq!(reader.sources(&[Kind::Failed]).await?.len(), 1);
        reader.close().await;

        let ledger = Ledger::open(dir.path(), false).await?;
        let key: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pragma_table_info('files') WHERE pk > 0")
            .fetch_one(&ledger.pool)
            .await?;
        assert_eq!(key, 3, "keyed by hash, collection and catalog number");
        let linked = ledger.linked("h1").await?;
        assert_eq!(
            linked,
            [Linked {
                collection: "C".into(),
                catalog_number: "1390992".into(),
                source: PathBuf::from("/drop/MICH-V-1390992.jpg"),
                occid: Some(201),
            }]
        );
        let failed = ledger.listed(&[Kind::Failed], 10).await?;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].catalog_number, None, "an unknown number stays unknown");
        assert_eq!(failed[0].updated, "2024-02-02 00:00:00", "dates are kept");
        assert_eq!(failed[0].path, Path::new("/drop/IMG_0001.jpg"));
        let archived: String = sqlx::query_scalar("SELECT archived_to FROM files WHERE hash = 'h1'")
            .fetch_one(&ledger.pool)
            .await?;
        assert_eq!(archived, "/archive/MICH-V-1390992.jpg");

        let renamed = Path::new("/drop/MICH-V-1390993.jpg");
        let second = Record {
            occid: Some(202),
            ..record("h1", renamed, Some("1390993"))
        };
        ledger.record(Kind::Linked, &second).await?;
        assert_eq!(ledger.linked("h1").await?.len(), 2, "the first copy's entry stays");
        ledger.close().await;

        let again = Ledger::open(dir.path(), false).await?;
        assert_eq!(
            again.linked("h1").await?.len(),
            2,
            "opened again, nothing is rebuilt or lost"
        );
        Ok(())
    }

    /// The same outcome and reason recorded again is not news: the entry
    /// keeps its date, and the caller hears that nothing changed.
    #[tokio::test]
    async fn an_unchanged_outcome_keeps_its_date() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let ledger = Ledger::open(dir.path(), false).await?;
        let source = Path::new("/drop/MICH-V-7654321.jpg");
        let parked = Record {
            reason: Some("no specimen: no record with catalog number 7654321 in collid 2"),
            ..record("h", source, Some("7654321"))
        };
        assert_eq!(ledger.record(Kind::Parked, &parked).await?, Recorded::Changed);
        sqlx::query("UPDATE files SET updated = '2020-01-01 00:00:00'")
            .execute(&ledger.pool)
            .await?;
        assert_eq!(ledger.record(Kind::Parked, &parked).await?, Recorded::Unchanged);
        assert_eq!(updated(&ledger, "h", "7654321").await?, "2020-01-01 00:00:00");

        let other_reason = Record {
            reason: Some("ambiguous: occid 12, 57"),
            ..parked.clone()
        };
        assert_eq!(ledger.record(Kind::Parked, &other_reason).await?, Recorded::Changed);
        assert_ne!(updated(&ledger, "h", "7654321").await?, "2020-01-01 00:00:00");
        Ok(())
    }

    /// One entry per content, collection and number: another number is
    /// another entry; the same path's entry from before its number was
    /// known is replaced, another copy's is not.
    #[tokio::test]
    async fn each_number_of_one_content_keeps_its_own_entry() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let ledger = Ledger::open(dir.path(), false).await?;
        let (a, b) = (Path::new("/drop/A.jpg"), Path::new("/drop/B.jpg"));
        ledger.record(Kind::Parked, &record("h", a, None)).await?;
        ledger.record(Kind::Parked, &record("h", b, None)).await?;
        ledger.record(Kind::Linked, &record("h", a, Some("1"))).await?;
        let parked = ledger.listed(&[Kind::Parked], 10).await?;
        assert_eq!(parked.len(), 1, "A's unknown-number entry is replaced: {parked:?}");
        assert_eq!(parked[0].path, b, "B's is another copy's and stays");
        ledger.record(Kind::Linked, &record("h", b, Some("2"))).await?;
        let numbers: Vec<String> = ledger
            .linked("h")
            .await?
            .into_iter()
            .map(|l| l.catalog_number)
            .collect();
        assert_eq!(numbers, ["1", "2"]);
        ledger.set_archived("h", "C", "2", Path::new("/archive/B.jpg")).await?;
        let archived: Vec<Option<String>> =
            sqlx::query_scalar("SELECT archived_to FROM files WHERE hash = 'h' ORDER BY catalog_number")
                .fetch_all(&ledger.pool)
                .await?;
        assert_eq!(archived, [None, Some("/archive/B.jpg".to_string())], "only B's entry");
        Ok(())
    }

    /// An OCR job is queued with its linked entry; a job that ended stays
    /// ended unless it was skipped or failed (a backfill asks again); three
    /// failures leave it failed.
    #[tokio::test]
    async fn ocr_jobs_are_queued_with_the_entry_and_retried_a_bounded_number_of_times()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let ledger = Ledger::open(dir.path(), false).await?;
        let job = OcrJob {
            media_id: 7,
            occid: 201,
            collection: "C".into(),
            image: PathBuf::from("/lib/MICH_Vascular/01390/MICH-V-1390992.jpg"),
        };
        let linked = Record {
            ocr: Some(&job),
            ..record("h", Path::new("/drop/MICH-V-1390992.jpg"), Some("1390992"))
        };
        ledger.record(Kind::Linked, &linked).await?;
        assert_eq!(ledger.ocr_due(None, &[], 10).await?, std::slice::from_ref(&job));
        assert!(
            ledger.ocr_due(None, &[7], 10).await?.is_empty(),
            "a job being read is left out"
        );
        assert!(ledger.ocr_due(Some("other"), &[], 10).await?.is_empty());

        ledger.ocr_ended(7, OcrEnd::Done, "120 characters").await?;
        assert_eq!(
            ledger.enqueue_ocr(std::slice::from_ref(&job)).await?,
            0,
            "done stays done"
        );
        assert_eq!(ledger.ocr_waiting(None).await?, 0);

        ledger
            .ocr_ended(7, OcrEnd::Skipped, "processingStatus is \"reviewed\"")
            .await?;
        assert_eq!(
            ledger.enqueue_ocr(std::slice::from_ref(&job)).await?,
            1,
            "skipped is asked again"
        );
        let mut last = Vec::new();
        for _ in 0..OCR_ATTEMPTS {
            last.push(ledger.ocr_failed(7, "tesseract failed").await?);
        }
        assert_eq!(last, [false, false, true], "the third failure is the last");
        assert_eq!(ledger.ocr_waiting(None).await?, 0, "a failed job is not due");
        Ok(())
    }

    /// A name that is not UTF-8 comes back byte for byte, so the file is
    /// found again; shown lossily.
    #[tokio::test]
    async fn a_name_that_is_not_utf8_is_kept_exactly() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let ledger = Ledger::open(dir.path(), false).await?;
        let name = Path::new(OsStr::from_bytes(b"/drop/MICH-V-7654321 \xff\xfe.jpg"));
        let lossy = Path::new(OsStr::from_bytes(b"/drop/MICH-V-7654321 \xfe\xff.jpg"));
        ledger.record(Kind::Parked, &record("h", name, Some("7654321"))).await?;
        ledger
            .record(Kind::Parked, &record("g", lossy, Some("7654321")))
            .await?;
        let listed = ledger.listed(&[Kind::Parked], 10).await?;
        let mut paths: Vec<&Path> = listed.iter().map(|l| l.path.as_path()).collect();
        paths.sort();
        assert_eq!(paths, [lossy, name], "two names alike when shown stay two");
        assert!(
            listed
                .iter()
                .all(|l| l.source == "/drop/MICH-V-7654321 \u{fffd}\u{fffd}.jpg")
        );
        let kinds: Vec<String> = sqlx::query_scalar("SELECT DISTINCT typeof(source) FROM files")
            .fetch_all(&ledger.pool)
            .await?;
        assert_eq!(kinds, ["blob"], "not text, which could not hold these bytes");
        let sources = ledger.sources(&[Kind::Parked]).await?;
        assert!(sources.contains(&("C".to_string(), name.to_path_buf())), "{sources:?}");
        assert_eq!(
            ledger.record(Kind::Parked, &record("h", name, Some("7654321"))).await?,
            Recorded::Unchanged,
            "the same name is the same entry"
        );
        Ok(())
    }
}
