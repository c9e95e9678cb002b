//! Where the ledger's SQL differs between its two homes: the SQLite file
//! in `state_dir` and a MariaDB/MySQL database of specdrop's own
//! (`ledger.url`). Statements are written once with `{name}` placeholders
//! for the few spellings that differ; everything else is the SQL both
//! understand.

/// Which database holds the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    MySql,
}

/// Placeholder, SQLite spelling, MySQL spelling.
const SPELLINGS: [(&str, &str, &str); 8] = [
    // UTC as `YYYY-MM-DD HH:MM:SS` text in both: the Any driver cannot
    // decode a DATETIME column, and text compares in time order.
    (
        "{now}",
        "datetime('now')",
        "DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s')",
    ),
    // Paths are kept byte for byte (not UTF-8 names included). SQLite
    // holds UTF-8 ones as TEXT, so they are read through a cast; MySQL's
    // column is a BLOB already (a cast would make it text again).
    ("{source}", "CAST(source AS BLOB)", "source"),
    ("{image}", "CAST(image AS BLOB)", "image"),
    // The order entries were made in.
    ("{seq}", "rowid", "seq"),
    ("{insert_ignore}", "INSERT OR IGNORE", "INSERT IGNORE"),
    ("{replace}", "INSERT OR REPLACE", "REPLACE"),
    // Seconds since 1970 in the database's clock (leases).
    (
        "{unix_now}",
        "CAST(strftime('%s', 'now') AS INTEGER)",
        "UNIX_TIMESTAMP()",
    ),
    // `||` is OR in MySQL.
    (
        "{set_aside_run}",
        "'set aside by ' || run",
        "CONCAT('set aside by ', run)",
    ),
];

impl Dialect {
    /// `text` with its placeholders in this dialect's spelling.
    pub fn sql(self, text: &str) -> String {
        SPELLINGS.iter().fold(text.to_string(), |sql, (name, sqlite, mysql)| {
            sql.replace(
                name,
                match self {
                    Dialect::Sqlite => sqlite,
                    Dialect::MySql => mysql,
                },
            )
        })
    }

    /// `column` differs from the bound value, NULL counting as a value.
    pub fn differs(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{column} IS NOT ?"),
            Dialect::MySql => format!("NOT ({column} <=> ?)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_spelled_in_both() {
        let all: String = SPELLINGS.iter().map(|(name, _, _)| *name).collect();
        for dialect in [Dialect::Sqlite, Dialect::MySql] {
            assert!(!dialect.sql(&all).contains('{'), "{dialect:?}");
        }
        assert_eq!(
            Dialect::MySql.sql("SELECT {source} FROM files ORDER BY {seq}"),
            "SELECT source FROM files ORDER BY seq"
        );
    }
}
