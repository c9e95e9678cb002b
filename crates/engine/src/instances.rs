//! Several instances on one shared ledger (`ledger.url`), on one host or
//! many. Each session (a daemon, a `scan`, a `retry`) is a row in
//! `instances` with a heartbeat in the database server's clock;
//!
//! - a source file is taken before it is read: a row in `taken` that one
//!   insert (or one update of an expired row) wins, kept by renewing its
//!   lease (`daemon.lease_secs`) with every heartbeat;
//! - a collection's link step is one session's at a time: a row in
//!   `link_locks`, taken and kept the same way;
//! - a session whose heartbeat is older than its lease, or that ended, is
//!   gone: one live session (whoever marks it first) settles its claims
//!   (claims.rs), and then the files it held are taken over.
//!
//! The SQLite ledger is one host's, and flock does all this there
//! (process_locks.rs, state_lock.rs); these calls are for the shared one.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

use crate::ledger::{Ledger, LedgerError};

/// This session as the shared ledger knows it.
#[derive(Debug, Clone)]
pub struct Me {
    /// The session's id (claims.rs `new_run`), the key of its row.
    pub run: String,
    /// `daemon.instance`, or `<name>-<pid>` for a `scan` or `retry`.
    pub name: String,
    pub lease_secs: i64,
}

/// Who has a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// This session, now.
    Ours,
    /// A live session of this instance name.
    Held(String),
}

/// An `instances` row `i` whose session another has begun to settle as
/// gone (its claimed files are, or are being, removed): such a session may
/// link or switch nothing more.
pub(crate) const TAKEN_FOR_GONE: &str = "(i.settled IS NOT NULL OR i.settled_by IS NOT NULL)";

/// A session that is gone, to be settled after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gone {
    pub run: String,
    /// Its process id when it ran on this host (its temporary files are
    /// found by it).
    pub here: Option<u32>,
}

/// An instance as `specdrop status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Instance {
    pub name: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    /// Seconds since its last heartbeat.
    pub heartbeat_age: i64,
    /// Source files it holds.
    pub in_hand: i64,
    /// `running`, `stopped` or `dead` (its heartbeat older than its lease).
    pub state: String,
}

/// The key of a path in `taken`: its bytes hashed (a path need not be
/// UTF-8, and may be longer than an index allows).
fn path_key(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    format!("{:x}", Sha256::digest(path.as_os_str().as_bytes()))
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

impl Ledger {
    /// Enter this session in `instances`.
    pub async fn register(&self, me: &Me) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO instances (run, name, host, pid, version, started, heartbeat, lease_secs) \
             VALUES (?, ?, ?, ?, ?, UNIX_TIMESTAMP(), UNIX_TIMESTAMP(), ?)",
        )
        .bind(&me.run)
        .bind(&me.name)
        .bind(host_name())
        .bind(i64::from(std::process::id()))
        .bind(env!("CARGO_PKG_VERSION"))
        .bind(me.lease_secs)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Still alive: every lease renewed, the heartbeat and the files in
    /// hand written.
    /// (Statements of their own, no transaction: each holds its row locks
    /// only as long as it runs, so instances never wait on each other's.)
    pub async fn heartbeat(&self, me: &Me) -> Result<(), LedgerError> {
        for table in ["taken", "link_locks", "rebuild_jobs"] {
            sqlx::query(&format!(
                "UPDATE {table} SET until = UNIX_TIMESTAMP() + ? WHERE run = ?"
            ))
            .bind(me.lease_secs)
            .bind(&me.run)
            .execute(self.pool())
            .await?;
        }
        sqlx::query(
            "UPDATE instances SET heartbeat = UNIX_TIMESTAMP(), \
             in_hand = (SELECT COUNT(*) FROM taken WHERE run = ?) WHERE run = ?",
        )
        .bind(&me.run)
        .bind(&me.run)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session ends: its files and turns are let go.
    pub async fn end(&self, me: &Me) -> Result<(), LedgerError> {
        let mut tx = self.pool().begin().await?;
        for table in ["taken", "link_locks"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE run = ?"))
                .bind(&me.run)
                .execute(&mut *tx)
                .await?;
        }
        // Rebuild jobs it held and did not finish wait for the next taker.
        sqlx::query("UPDATE rebuild_jobs SET run = NULL, until = NULL WHERE run = ? AND state = 'waiting'")
            .bind(&me.run)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE instances SET ended = UNIX_TIMESTAMP(), in_hand = 0 WHERE run = ?")
            .bind(&me.run)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Take `path` of `collection` for this session: free, or its lease
    /// ended (its session gone); else who has it.
    pub async fn take_file(&self, me: &Me, collection: &str, path: &Path) -> Result<Taken, LedgerError> {
        use std::os::unix::ffi::OsStrExt as _;
        let key = path_key(path);
        let inserted = sqlx::query(
            "INSERT IGNORE INTO taken (collection, path_key, path, run, until) \
             VALUES (?, ?, ?, ?, UNIX_TIMESTAMP() + ?)",
        )
        .bind(collection)
        .bind(&key)
        .bind(path.as_os_str().as_bytes())
        .bind(&me.run)
        .bind(me.lease_secs)
        .execute(self.pool())
        .await?
        .rows_affected();
        if inserted > 0 {
            return Ok(Taken::Ours);
        }
        let over = sqlx::query(
            "UPDATE taken SET run = ?, until = UNIX_TIMESTAMP() + ? \
             WHERE collection = ? AND path_key = ? AND (run = ? OR until < UNIX_TIMESTAMP())",
        )
        .bind(&me.run)
        .bind(me.lease_secs)
        .bind(collection)
        .bind(&key)
        .bind(&me.run)
        .execute(self.pool())
        .await?
        .rows_affected();
        if over > 0 {
            return Ok(Taken::Ours);
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT i.name FROM taken t JOIN instances i ON i.run = t.run \
             WHERE t.collection = ? AND t.path_key = ?",
        )
        .bind(collection)
        .bind(&key)
        .fetch_optional(self.pool())
        .await?;
        Ok(Taken::Held(holder.unwrap_or_else(|| "another instance".into())))
    }

    /// Whether another live session holds a file that goes before `path`
    /// in the link order: in the same folder, named before it, its name
    /// (without extension) the start of this one's (`X.jpg` before
    /// `X_b.jpg`, another image of the same specimen).
    pub async fn earlier_sibling_held(&self, me: &Me, collection: &str, path: &Path) -> Result<bool, LedgerError> {
        use std::os::unix::ffi::OsStringExt as _;
        let held: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT path FROM taken WHERE collection = ? AND run <> ? AND until >= UNIX_TIMESTAMP()",
        )
        .bind(collection)
        .bind(&me.run)
        .fetch_all(self.pool())
        .await?;
        let stem = |p: &Path| p.file_stem().map(|s| s.to_os_string().into_vec()).unwrap_or_default();
        let mine = stem(path);
        Ok(held
            .into_iter()
            .map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)))
            .any(|other| other.parent() == path.parent() && other.as_path() < path && mine.starts_with(&stem(&other))))
    }

    /// This session is done with `path`.
    pub async fn let_go(&self, me: &Me, collection: &str, path: &Path) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM taken WHERE collection = ? AND path_key = ? AND run = ?")
            .bind(collection)
            .bind(path_key(path))
            .bind(&me.run)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Whether `me` still holds `path` of `collection`: its lease on the
    /// file has not ended and no instance has begun to settle `me` as gone
    /// (which removes its claimed files). Asked just before the link, so an
    /// instance that stalled past its lease (paused, swapped out, cut off)
    /// leaves the file to whoever took it over instead of linking it too.
    pub async fn still_holds_file(&self, me: &Me, collection: &str, path: &Path) -> Result<bool, LedgerError> {
        let held: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM taken t WHERE t.collection = ? AND t.path_key = ? AND t.run = ? \
                 AND t.until >= UNIX_TIMESTAMP() AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.run = t.run \
                 AND {TAKEN_FOR_GONE})"
        ))
        .bind(collection)
        .bind(path_key(path))
        .bind(&me.run)
        .fetch_one(self.pool())
        .await?;
        Ok(held > 0)
    }

    /// Whether another instance has begun to settle `me` as gone.
    pub async fn taken_for_gone(&self, me: &Me) -> Result<bool, LedgerError> {
        let found: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM instances i WHERE i.run = ? AND {TAKEN_FOR_GONE}"
        ))
        .bind(&me.run)
        .fetch_one(self.pool())
        .await?;
        Ok(found > 0)
    }

    /// Try once to take `collection`'s link turn `turn` (a number of this
    /// session's own, so that ending one turn never ends the next); true
    /// when this session has it.
    pub async fn take_link_turn(&self, me: &Me, collection: &str, turn: i64) -> Result<bool, LedgerError> {
        let inserted = sqlx::query(
            "INSERT IGNORE INTO link_locks (collection, run, turn, until) VALUES (?, ?, ?, UNIX_TIMESTAMP() + ?)",
        )
        .bind(collection)
        .bind(&me.run)
        .bind(turn)
        .bind(me.lease_secs)
        .execute(self.pool())
        .await?
        .rows_affected();
        if inserted > 0 {
            return Ok(true);
        }
        // A turn whose session is gone ends with its lease.
        let over = sqlx::query(
            "UPDATE link_locks SET run = ?, turn = ?, until = UNIX_TIMESTAMP() + ? \
             WHERE collection = ? AND until < UNIX_TIMESTAMP()",
        )
        .bind(&me.run)
        .bind(turn)
        .bind(me.lease_secs)
        .bind(collection)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(over > 0)
    }

    /// This session's link turn `turn` in `collection` is over.
    pub async fn end_link_turn(&self, me: &Me, collection: &str, turn: i64) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM link_locks WHERE collection = ? AND run = ? AND turn = ?")
            .bind(collection)
            .bind(&me.run)
            .bind(turn)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Sessions that are gone (ended, or silent past their lease) and whose
    /// claims nobody has settled yet.
    pub async fn gone(&self) -> Result<Vec<Gone>, LedgerError> {
        let rows = sqlx::query(
            "SELECT run, host, pid FROM instances WHERE settled IS NULL AND settled_by IS NULL \
             AND (ended IS NOT NULL OR heartbeat + lease_secs < UNIX_TIMESTAMP()) ORDER BY heartbeat",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let pid: i64 = row.try_get(2)?;
                let host: String = row.try_get(1)?;
                Ok(Gone {
                    run: row.try_get(0)?,
                    here: (host == host_name()).then(|| u32::try_from(pid).ok()).flatten(),
                })
            })
            .collect()
    }

    /// Mark `run` as being settled by this session; false when another
    /// live session got there first.
    pub async fn settle_gone(&self, me: &Me, run: &str) -> Result<bool, LedgerError> {
        let marked = sqlx::query("UPDATE instances SET settled_by = ? WHERE run = ? AND settled_by IS NULL")
            .bind(&me.run)
            .bind(run)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(marked > 0)
    }

    /// `run` is settled (`done`), or could not be yet and is left for the
    /// next heartbeat.
    pub async fn settled(&self, run: &str, done: bool) -> Result<(), LedgerError> {
        let sql = if done {
            "UPDATE instances SET settled = UNIX_TIMESTAMP(), in_hand = 0 WHERE run = ?"
        } else {
            "UPDATE instances SET settled_by = NULL WHERE run = ?"
        };
        sqlx::query(sql).bind(run).execute(self.pool()).await?;
        Ok(())
    }

    /// Files held by gone sessions whose claims are settled: (collection,
    /// path), to be taken over.
    pub async fn left_behind(&self) -> Result<Vec<(String, PathBuf)>, LedgerError> {
        use std::os::unix::ffi::OsStringExt as _;
        let rows = sqlx::query(
            "SELECT t.collection, t.path FROM taken t LEFT JOIN instances i ON i.run = t.run \
             WHERE t.until < UNIX_TIMESTAMP() AND (i.run IS NULL OR i.settled IS NOT NULL) \
             ORDER BY t.path",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let path: Vec<u8> = row.try_get(1)?;
                Ok((row.try_get(0)?, PathBuf::from(std::ffi::OsString::from_vec(path))))
            })
            .collect()
    }

    /// The instances of the last day, newest heartbeat first.
    pub async fn instances(&self) -> Result<Vec<Instance>, LedgerError> {
        let rows = sqlx::query(
            "SELECT name, host, pid, version, UNIX_TIMESTAMP() - heartbeat, in_hand, \
             CASE WHEN ended IS NOT NULL THEN 'stopped' \
                  WHEN heartbeat + lease_secs < UNIX_TIMESTAMP() THEN 'dead' ELSE 'running' END \
             FROM instances WHERE heartbeat > UNIX_TIMESTAMP() - 86400 ORDER BY heartbeat DESC, name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Instance {
                    name: row.try_get(0)?,
                    host: row.try_get(1)?,
                    pid: row.try_get(2)?,
                    version: row.try_get(3)?,
                    heartbeat_age: row.try_get(4)?,
                    in_hand: row.try_get(5)?,
                    state: row.try_get(6)?,
                })
            })
            .collect()
    }
}
