//! The job list of `specdrop rebuild` in the ledger: one list per
//! collection (`rebuilds`) and one job per image row (`rebuild_jobs`),
//! in the SQLite file or the shared database (migrations.rs step 3), so
//! that every `rebuild` of the collection, on any host sharing the
//! ledger, takes its jobs from the same list and a run started again
//! after a kill goes on where the list stands.
//!
//! A job is `waiting`, `done` or `failed`. It is taken by one session
//! with a lease (`run`, `until`), as a source file is in `taken`
//! (instances.rs): renewed with the heartbeat on a shared ledger (by the
//! rebuild itself on the SQLite file), and taken over once the lease has
//! ended and, on a shared ledger, the session's claims are settled.

use sqlx::Row as _;

use crate::ledger::{Dialect, Ledger, LedgerError};

/// The SQLite ledger's tables, made when first needed (the shared
/// database's are step 3 of migrations.rs).
const SQLITE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS rebuilds (
    collection TEXT PRIMARY KEY,
    sizes      TEXT NOT NULL,
    since      TEXT NOT NULL,
    started    INTEGER NOT NULL,
    listed     INTEGER NOT NULL DEFAULT 0,
    finished   INTEGER
);
CREATE TABLE IF NOT EXISTS rebuild_jobs (
    collection    TEXT NOT NULL,
    media_id      INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'waiting',
    run           TEXT,
    until         INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    new_url       TEXT,
    old_url       TEXT,
    old_thumbnail TEXT,
    old_original  TEXT,
    reason        TEXT,
    finished      INTEGER,
    PRIMARY KEY (collection, media_id)
);
CREATE INDEX IF NOT EXISTS rebuild_jobs_state ON rebuild_jobs (collection, state);
CREATE INDEX IF NOT EXISTS rebuild_jobs_finished ON rebuild_jobs (collection, finished);
CREATE INDEX IF NOT EXISTS rebuild_jobs_run ON rebuild_jobs (run);
";

/// Rows listed per statement.
const LIST_BATCH: usize = 500;

/// What a collection's rebuild is (the request every participant must
/// share).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `large,web,thumbnail` or a part of it, in that order.
    pub sizes: String,
    /// `--since` as given ('' for every row).
    pub since: String,
}

/// What starting or joining a collection's rebuild found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// A new list (none, or the last one finished and this asks otherwise
    /// or again).
    Started,
    /// The list under way for the same request.
    Joined,
    /// A list under way for another request.
    Other(Request),
    /// The same request finished at this Unix time.
    Finished(i64),
}

/// A job this session holds.
#[derive(Debug, Clone)]
pub struct Job {
    pub media_id: i64,
    /// The URL the row is to get, once an earlier attempt got as far as
    /// the switch.
    pub new_url: Option<String>,
    /// The row's URLs before that attempt's switch.
    pub old: [Option<String>; 3],
    pub attempts: i64,
}

/// A job list as `status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ListProgress {
    pub collection: String,
    pub sizes: String,
    pub since: String,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    /// Rows per second over the last minutes (or since the start).
    pub rate: f64,
    /// Seconds left at that rate; `None` when it cannot be told.
    pub left_secs: Option<i64>,
    pub finished: bool,
}

/// A row's three URLs (url, thumbnailUrl, originalUrl) for the job list.
pub type Urls = [Option<String>; 3];

impl Ledger {
    /// The SQLite ledger makes the tables when a rebuild first needs them.
    async fn rebuild_tables(&self) -> Result<(), LedgerError> {
        if self.dialect() == Dialect::Sqlite {
            sqlx::raw_sql(SQLITE_TABLES).execute(self.pool()).await?;
        }
        Ok(())
    }

    /// Start collection `collection`'s rebuild for `request`, or join the
    /// one under way; with `again`, a finished one of the same request
    /// starts afresh.
    pub async fn start_rebuild(&self, collection: &str, request: &Request, again: bool) -> Result<Joined, LedgerError> {
        self.rebuild_tables().await?;
        let insert =
            self.sql("{insert_ignore} INTO rebuilds (collection, sizes, since, started) VALUES (?, ?, ?, {unix_now})");
        let new = sqlx::query(&insert)
            .bind(collection)
            .bind(&request.sizes)
            .bind(&request.since)
            .execute(self.pool())
            .await?
            .rows_affected();
        if new > 0 {
            return Ok(Joined::Started);
        }
        let row = sqlx::query("SELECT sizes, since, finished FROM rebuilds WHERE collection = ?")
            .bind(collection)
            .fetch_one(self.pool())
            .await?;
        let found = Request {
            sizes: row.try_get(0)?,
            since: row.try_get(1)?,
        };
        let finished: Option<i64> = row.try_get(2)?;
        match finished {
            None if found == *request => return Ok(Joined::Joined),
            None => return Ok(Joined::Other(found)),
            Some(at) if found == *request && !again => return Ok(Joined::Finished(at)),
            Some(_) => {}
        }
        // A finished list makes way for the new one; whoever resets it
        // first starts it, the others join.
        let mut tx = self.pool().begin().await?;
        let reset = self.sql(
            "UPDATE rebuilds SET sizes = ?, since = ?, started = {unix_now}, listed = 0, finished = NULL \
             WHERE collection = ? AND finished IS NOT NULL",
        );
        let took = sqlx::query(&reset)
            .bind(&request.sizes)
            .bind(&request.since)
            .bind(collection)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if took > 0 {
            sqlx::query("DELETE FROM rebuild_jobs WHERE collection = ?")
                .bind(collection)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if took > 0 {
            return Ok(Joined::Started);
        }
        // Another participant reset the finished list first: for this
        // request (join it) or another one (which is then under way).
        let now: (String, String) = sqlx::query_as("SELECT sizes, since FROM rebuilds WHERE collection = ?")
            .bind(collection)
            .fetch_one(self.pool())
            .await?;
        let under_way = Request {
            sizes: now.0,
            since: now.1,
        };
        Ok(if under_way == *request {
            Joined::Joined
        } else {
            Joined::Other(under_way)
        })
    }

    /// Whether every row of the collection's list is in it; and the
    /// highest image id listed so far (a listing goes on after it).
    pub async fn rebuild_listed(&self, collection: &str) -> Result<(bool, i64), LedgerError> {
        let listed: i64 = sqlx::query_scalar("SELECT listed FROM rebuilds WHERE collection = ?")
            .bind(collection)
            .fetch_one(self.pool())
            .await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(media_id) FROM rebuild_jobs WHERE collection = ?")
            .bind(collection)
            .fetch_one(self.pool())
            .await?;
        Ok((listed != 0, last.unwrap_or(0)))
    }

    /// Add jobs for these image rows (id and URLs); rows listed already
    /// (by another participant listing at the same time) are left.
    pub async fn add_rebuild_jobs(&self, collection: &str, rows: &[(i64, Urls)]) -> Result<(), LedgerError> {
        for chunk in rows.chunks(LIST_BATCH) {
            let values = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = self.sql(&format!(
                "{{insert_ignore}} INTO rebuild_jobs (collection, media_id, old_url, old_thumbnail, old_original) \
                 VALUES {values}"
            ));
            let mut query = sqlx::query(&sql);
            for (media_id, [url, thumbnail, original]) in chunk {
                query = query
                    .bind(collection)
                    .bind(*media_id)
                    .bind(url.clone())
                    .bind(thumbnail.clone())
                    .bind(original.clone());
            }
            query.execute(self.pool()).await?;
        }
        Ok(())
    }

    /// Every row of the collection is listed.
    pub async fn rebuild_all_listed(&self, collection: &str) -> Result<(), LedgerError> {
        sqlx::query("UPDATE rebuilds SET listed = 1 WHERE collection = ?")
            .bind(collection)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Take up to `count` waiting jobs of `collection` for session `run`
    /// for `lease_secs`: free ones, or ones whose lease ended (on a shared
    /// ledger only once that session is settled: its half-made files are
    /// gone); every waiting job the session holds.
    pub async fn take_rebuild_jobs(
        &self,
        run: &str,
        collection: &str,
        lease_secs: i64,
        count: i64,
    ) -> Result<Vec<Job>, LedgerError> {
        let take = "UPDATE rebuild_jobs SET run = ?, until = {unix_now} + ?, attempts = attempts + 1 \
                    WHERE collection = ? AND state = 'waiting' AND media_id IN ";
        match self.dialect() {
            Dialect::MySql => {
                let mut tx = self.pool().begin().await?;
                // Locked rows are another session's taking: skipped, not
                // waited for.
                let free: Vec<i64> = sqlx::query_scalar(
                    "SELECT media_id FROM rebuild_jobs j WHERE collection = ? AND state = 'waiting' \
                     AND (run IS NULL OR (until < UNIX_TIMESTAMP() AND NOT EXISTS \
                     (SELECT 1 FROM instances i WHERE i.run = j.run AND i.settled IS NULL))) \
                     ORDER BY media_id LIMIT ? FOR UPDATE SKIP LOCKED",
                )
                .bind(collection)
                .bind(count)
                .fetch_all(&mut *tx)
                .await?;
                if !free.is_empty() {
                    let ids = vec!["?"; free.len()].join(", ");
                    let sql = self.sql(&format!("{take}({ids})"));
                    let mut query = sqlx::query(&sql).bind(run).bind(lease_secs).bind(collection);
                    for id in &free {
                        query = query.bind(*id);
                    }
                    query.execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Dialect::Sqlite => {
                // One writer at a time: the statement is the taking.
                let sql = self.sql(&format!(
                    "{take}(SELECT media_id FROM rebuild_jobs WHERE collection = ? AND state = 'waiting' \
                     AND (run IS NULL OR until < {{unix_now}}) ORDER BY media_id LIMIT ?)"
                ));
                sqlx::query(&sql)
                    .bind(run)
                    .bind(lease_secs)
                    .bind(collection)
                    .bind(collection)
                    .bind(count)
                    .execute(self.pool())
                    .await?;
            }
        }
        let rows = sqlx::query(
            "SELECT media_id, new_url, old_url, old_thumbnail, old_original, attempts FROM rebuild_jobs \
             WHERE collection = ? AND run = ? AND state = 'waiting' ORDER BY media_id",
        )
        .bind(collection)
        .bind(run)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Job {
                    media_id: row.try_get(0)?,
                    new_url: row.try_get(1)?,
                    old: [row.try_get(2)?, row.try_get(3)?, row.try_get(4)?],
                    attempts: row.try_get(5)?,
                })
            })
            .collect()
    }

    /// Renew the leases of `run`'s jobs (the SQLite ledger, which has no
    /// heartbeat; a shared one renews them with it).
    pub async fn renew_rebuild_jobs(&self, run: &str, lease_secs: i64) -> Result<(), LedgerError> {
        sqlx::query(&self.sql("UPDATE rebuild_jobs SET until = {unix_now} + ? WHERE run = ?"))
            .bind(lease_secs)
            .bind(run)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// `run` is about to switch the row of `media_id` from `old` to a set
    /// whose URL `new_url` the row will carry: noted only while `run`
    /// still holds the job with a lease that has not ended (and, on a
    /// shared ledger, no instance has begun to settle `run` as gone: its
    /// claimed files would be removed). False when it does not: the job is no
    /// longer this session's to switch.
    pub async fn rebuild_switching(
        &self,
        run: &str,
        collection: &str,
        media_id: i64,
        new_url: &str,
        old: &Urls,
    ) -> Result<bool, LedgerError> {
        let not_settled = match self.dialect() {
            Dialect::MySql => format!(
                " AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.run = ? AND {})",
                crate::instances::TAKEN_FOR_GONE
            ),
            Dialect::Sqlite => String::new(),
        };
        let sql = self.sql(&format!(
            "UPDATE rebuild_jobs SET new_url = ?, old_url = ?, old_thumbnail = ?, old_original = ? \
             WHERE collection = ? AND media_id = ? AND run = ? AND state = 'waiting' \
             AND until >= {{unix_now}}{not_settled}"
        ));
        let mut query = sqlx::query(&sql)
            .bind(new_url)
            .bind(old[0].clone())
            .bind(old[1].clone())
            .bind(old[2].clone())
            .bind(collection)
            .bind(media_id)
            .bind(run);
        if self.dialect() == Dialect::MySql {
            query = query.bind(run);
        }
        Ok(query.execute(self.pool()).await?.rows_affected() == 1)
    }

    /// `run` lets go of the job of `media_id` undone (the database did not
    /// answer): it waits for its next taker.
    pub async fn rebuild_let_go(&self, run: &str, collection: &str, media_id: i64) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE rebuild_jobs SET run = NULL, until = NULL WHERE collection = ? AND media_id = ? AND run = ?",
        )
        .bind(collection)
        .bind(media_id)
        .bind(run)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// `run`'s job of `media_id` ended (`done` or `failed`, with
    /// `reason`); when done, the row's ledger entry learns its new
    /// derivatives (`relative`: large, web, thumbnail under the storage
    /// root, each only when made), in the same transaction. False (and
    /// nothing written) when `run` no longer holds the job: its next
    /// taker finds the row as it is and ends it.
    pub async fn rebuild_ended(
        &self,
        run: &str,
        collection: &str,
        media_id: i64,
        state: &str,
        reason: &str,
        relative: &[Option<String>; 3],
    ) -> Result<bool, LedgerError> {
        let mut tx = self.pool().begin().await?;
        let sql = self.sql(
            "UPDATE rebuild_jobs SET state = ?, reason = ?, run = NULL, until = NULL, finished = {unix_now} \
             WHERE collection = ? AND media_id = ? AND run = ? AND state = 'waiting'",
        );
        let held = sqlx::query(&sql)
            .bind(state)
            .bind(reason.chars().take(4000).collect::<String>())
            .bind(collection)
            .bind(media_id)
            .bind(run)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !held {
            tx.rollback().await?;
            return Ok(false);
        }
        if relative.iter().any(Option::is_some) {
            sqlx::query(
                "UPDATE files SET large = COALESCE(?, large), web = COALESCE(?, web), \
                 thumbnail = COALESCE(?, thumbnail) WHERE collection = ? AND media_id = ?",
            )
            .bind(relative[0].clone())
            .bind(relative[1].clone())
            .bind(relative[2].clone())
            .bind(collection)
            .bind(media_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Mark the collection's list finished when every row is listed and
    /// none waits; true when it is (now or before).
    pub async fn rebuild_finish(&self, collection: &str) -> Result<bool, LedgerError> {
        let sql = self.sql(
            "UPDATE rebuilds SET finished = {unix_now} WHERE collection = ? AND listed = 1 AND finished IS NULL \
             AND NOT EXISTS (SELECT 1 FROM rebuild_jobs WHERE collection = ? AND state = 'waiting')",
        );
        sqlx::query(&sql)
            .bind(collection)
            .bind(collection)
            .execute(self.pool())
            .await?;
        let finished: Option<i64> = sqlx::query_scalar("SELECT finished FROM rebuilds WHERE collection = ?")
            .bind(collection)
            .fetch_one(self.pool())
            .await?;
        Ok(finished.is_some())
    }

    /// The ledger's entry for image row `media_id` of `collection`: the
    /// content's hash and where its original went (the archive) and came
    /// from, newest entry first.
    pub async fn original_of(
        &self,
        collection: &str,
        media_id: i64,
    ) -> Result<Option<(String, Vec<std::path::PathBuf>)>, LedgerError> {
        let sql = self.sql(
            "SELECT hash, archived_to, {source} FROM files WHERE collection = ? AND media_id = ? \
             AND outcome IN ('linked', 'skeletal') ORDER BY updated DESC LIMIT 1",
        );
        let row = sqlx::query(&sql)
            .bind(collection)
            .bind(media_id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let archived: Option<String> = row.try_get(1)?;
        let source: Vec<u8> = row.try_get(2)?;
        let mut paths: Vec<std::path::PathBuf> = archived.into_iter().map(Into::into).collect();
        paths.push(std::path::PathBuf::from(
            <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(source),
        ));
        Ok(Some((row.try_get(0)?, paths)))
    }

    /// Whether a rebuild ever made the tables (the SQLite ledger makes
    /// them when first needed; a shared one has them from step 3).
    async fn has_rebuild_tables(&self) -> Result<bool, LedgerError> {
        if self.dialect() == Dialect::MySql {
            return Ok(true);
        }
        let made: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'rebuilds'")
            .fetch_one(self.pool())
            .await?;
        Ok(made > 0)
    }

    /// The lists under way (collection and request), without counting
    /// their jobs: what an idle daemon asks every few seconds.
    pub async fn open_rebuilds(&self) -> Result<Vec<(String, Request)>, LedgerError> {
        if !self.has_rebuild_tables().await? {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT collection, sizes, since FROM rebuilds WHERE finished IS NULL ORDER BY started")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(collection, sizes, since)| (collection, Request { sizes, since }))
            .collect())
    }

    /// Every job list, for `status`.
    pub async fn rebuild_lists(&self) -> Result<Vec<ListProgress>, LedgerError> {
        if !self.has_rebuild_tables().await? {
            return Ok(Vec::new());
        }
        let sql = self.sql(
            "SELECT r.collection, r.sizes, r.since, {unix_now} - r.started, r.finished, \
             (SELECT COUNT(*) FROM rebuild_jobs j WHERE j.collection = r.collection), \
             (SELECT COUNT(*) FROM rebuild_jobs j WHERE j.collection = r.collection AND j.state = 'done'), \
             (SELECT COUNT(*) FROM rebuild_jobs j WHERE j.collection = r.collection AND j.state = 'failed'), \
             (SELECT COUNT(*) FROM rebuild_jobs j WHERE j.collection = r.collection \
              AND j.finished >= {unix_now} - ?) \
             FROM rebuilds r ORDER BY r.started DESC",
        );
        let rows = sqlx::query(&sql).bind(RATE_WINDOW).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                let (age, finished): (i64, Option<i64>) = (row.try_get(3)?, row.try_get(4)?);
                let (total, done, failed, recent): (i64, i64, i64, i64) =
                    (row.try_get(5)?, row.try_get(6)?, row.try_get(7)?, row.try_get(8)?);
                let window = age.clamp(1, RATE_WINDOW);
                let rate = if finished.is_some() {
                    0.0
                } else {
                    recent as f64 / window as f64
                };
                let waiting = total - done - failed;
                let left_secs = match (finished, rate > 0.0) {
                    (Some(_), _) => Some(0),
                    (None, true) => Some((waiting as f64 / rate).ceil() as i64),
                    (None, false) => None,
                };
                Ok(ListProgress {
                    collection: row.try_get(0)?,
                    sizes: row.try_get(1)?,
                    since: row.try_get(2)?,
                    total,
                    done,
                    failed,
                    rate,
                    left_secs,
                    finished: finished.is_some(),
                })
            })
            .collect()
    }
}

/// The seconds of recent work the rate is taken over.
const RATE_WINDOW: i64 = 300;
