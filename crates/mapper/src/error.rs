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

    #[error("collid {collid} is not in omcollections of the portal database; check the collection's collid")]
    UnknownCollection { collid: i64 },

    #[error("no specimen record for {catalog_number} in collid {collid} any more (was it deleted?)")]
    Vanished { catalog_number: String, collid: i64 },

    #[error("ambiguous: occid {}", join_ids(.0))]
    Ambiguous(Vec<i64>),
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
