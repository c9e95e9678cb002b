//! Waiting out an unreachable or locked portal database.
//!
//! An outage is a property of the database, not of a file: the first file
//! that meets it starts the clock, every file waits with backoff and a
//! warning, and when the database has been away for longer than
//! `database.retry_mins` the remaining files are left untouched for the
//! next run instead of all waiting their own full time. Nothing is parked
//! or failed because of an outage.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use specdrop_mapper::MapperError;

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(60);

pub struct Outage {
    since: Mutex<Option<Instant>>,
    limit: Duration,
    deferred: AtomicUsize,
    errors: AtomicUsize,
}

impl Outage {
    pub fn new(limit: Duration) -> Outage {
        Outage {
            since: Mutex::new(None),
            limit,
            deferred: AtomicUsize::new(0),
            errors: AtomicUsize::new(0),
        }
    }

    /// How long an outage is waited out (`database.retry_mins`; a daemon:
    /// for ever). Storage faults are waited out as long.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Run `op` until it succeeds, fails for a reason of its own, or the
    /// outage has lasted longer than the limit.
    pub async fn retry<T, F, Fut>(&self, file: &str, mut op: F) -> Result<T, MapperError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, MapperError>>,
    {
        let mut delay = FIRST_DELAY;
        loop {
            match op().await {
                Ok(value) => {
                    if let Ok(mut since) = self.since.lock()
                        && since.take().is_some()
                    {
                        tracing::info!("portal database reachable again");
                    }
                    return Ok(value);
                }
                Err(e) if e.is_transient() => {
                    self.note_error();
                    let started = match self.since.lock() {
                        Ok(mut since) => *since.get_or_insert_with(Instant::now),
                        Err(_) => Instant::now(),
                    };
                    let left = self.limit.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(e);
                    }
                    let wait = delay.min(left);
                    tracing::warn!(
                        "portal database unavailable ({e}); {file} waits {}s and tries again \
                         (gives up after database.retry_mins = {} min)",
                        wait.as_secs_f32().ceil(),
                        self.limit.as_secs() / 60
                    );
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(MAX_DELAY);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A file was left for the next run because of the outage.
    pub fn note_deferred(&self) {
        self.deferred.fetch_add(1, Ordering::Relaxed);
    }

    /// A database operation failed (each retry counts).
    pub fn note_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn errors(&self) -> usize {
        self.errors.load(Ordering::Relaxed)
    }

    /// How long the database has been unavailable, while it is.
    pub fn down_for(&self) -> Option<Duration> {
        self.since.lock().ok().and_then(|since| since.map(|s| s.elapsed()))
    }

    pub fn deferred(&self) -> usize {
        self.deferred.load(Ordering::Relaxed)
    }
}

/// Run `op` until it succeeds, fails in a way `worth_waiting` does not
/// accept, or `limit` has passed since the first try; each failure is
/// waited out with a doubling delay (1 s up to a minute) and a warning
/// naming `what`. For the ledger, which has no outage clock of its own.
pub async fn with_backoff<T, E, F, Fut>(
    limit: Duration,
    what: &str,
    worth_waiting: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut delay = FIRST_DELAY;
    loop {
        match op().await {
            Err(e) if worth_waiting(&e) => {
                let left = limit.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(e);
                }
                let wait = delay.min(left);
                tracing::warn!("{what}: {e}; trying again in {}s", wait.as_secs_f32().ceil());
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(MAX_DELAY);
            }
            done => return done,
        }
    }
}
