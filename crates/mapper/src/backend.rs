//! Which database engine a portal runs on, and the few SQL spellings that
//! differ between them. Shared by `portal` (connecting) and `schema`
//! (reading column lists), so it lives in neither.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

impl Backend {
    /// SQL for "now" as Symbiota stores it: server local time in MariaDB,
    /// UTC text in the embedded database (see schema-sqlite.sql).
    pub(crate) fn now(self) -> &'static str {
        match self {
            Backend::Sqlite => "datetime('now')",
            Backend::MySql => "NOW()",
        }
    }
}
