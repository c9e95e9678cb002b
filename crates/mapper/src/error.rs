/// What went wrong talking to the portal database, or with a value that
/// was about to be written to it.
#[derive(Debug, thiserror::Error)]
pub enum MapperError {
    #[error("database.url {url:?} is not usable: {reason}")]
    BadUrl { url: String, reason: String },

    #[error("cannot open the portal database {url}: {cause}; check database.url and that the server is running")]
    Connect { url: String, cause: sqlx::Error },

    #[error("the portal database {url} has no `{table}` table: {hint}")]
    Schema {
        url: String,
        table: &'static str,
        hint: &'static str,
    },

    #[error("creating the embedded portal database {path} failed: {cause}")]
    Create { path: String, cause: String },

    #[error("portal database error: {0}")]
    Query(sqlx::Error),

    #[error(
        "{column} would be {len} characters, more than the portal's limit of {max}; \
         shorten storage.url_base or the file name (nothing was written)"
    )]
    TooLong {
        column: &'static str,
        len: usize,
        max: usize,
    },

    #[error(
        "{column} is {len} characters long, more than the portal's {max} for that column; \
         shorten it and give the line again (nothing was written for this image)"
    )]
    ValueTooLong {
        column: &'static str,
        len: usize,
        max: usize,
    },

    #[error("the portal's `{table}` table has no {column} column (an older Symbiota?); leave that column out")]
    NoSuchColumn { table: &'static str, column: &'static str },

    #[error("collid {collid} is not in omcollections of the portal database; check the collection's collid")]
    UnknownCollection { collid: i64 },

    #[error("no specimen record for {catalog_number} in collid {collid} any more (was it deleted?)")]
    Vanished { catalog_number: String, collid: i64 },

    #[error("ambiguous: occid {}", join_ids(.0))]
    Ambiguous(Vec<i64>),

    #[error("image row {media_id} got its derivatives from someone else meanwhile; nothing was written to it")]
    RowChanged { media_id: i64 },

    #[error("after_batch_procedure {name:?}: {reason}")]
    Procedure { name: String, reason: &'static str },
}

impl MapperError {
    /// True when the database could not be reached or was busy: the work
    /// should wait and be tried again, and no file is to blame.
    pub fn is_transient(&self) -> bool {
        let sqlx_error = match self {
            MapperError::Query(e) | MapperError::Connect { cause: e, .. } => e,
            _ => return false,
        };
        match sqlx_error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                true
            }
            sqlx::Error::Database(db) => {
                // MariaDB's error numbers (its `code()` is the SQLSTATE,
                // shared by many errors): lock wait timeout, deadlock, too
                // many connections, shutdown in progress, server gone away,
                // lost connection.
                if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                    return [1205, 1213, 1040, 1053, 2006, 2013].contains(&mysql.number());
                }
                // SQLite: busy, locked, busy in recovery.
                db.code().is_some_and(|code| ["5", "6", "517"].contains(&code.as_ref()))
            }
            _ => false,
        }
    }
}

// Not `#[from]`: that would also make it the error's source, and the
// message already carries it.
impl From<sqlx::Error> for MapperError {
    fn from(e: sqlx::Error) -> Self {
        MapperError::Query(e)
    }
}

pub(crate) fn join_ids(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}
