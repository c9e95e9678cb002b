//! `specdrop rebuild --collection CODE [--since DATE] [--sizes ...]`: the
//! derivatives of a collection's existing image rows made again, from
//! their archived originals (the ledger knows where each linked file
//! went) or, failing that, from `originalUrl` (read from the image
//! library when it is there, else fetched under `[remote]`'s rules).
//!
//! The work is a job list in the ledger (jobs.rs), one job per image row;
//! every `rebuild` of the collection (on any host sharing the ledger)
//! takes jobs from it, and one started again after a kill goes on where
//! the list stands. Daemons take part while idle, one batch at a time
//! (`take_part`, called from daemon.rs).
//!
//! One job, in order: the new files are stored beside the old ones
//! (never over them; claimed in the ledger before they appear, as a
//! dropped file's are), the job notes the URL the row will get and what
//! it pointed at, the row is switched in one statement (same mediaID),
//! and only then are the old files removed when no row points at them
//! (stages/replaced.rs), and the job is done with the ledger entry's new
//! paths in one transaction. A kill before the switch leaves claims that
//! the claims protocol settles (the new files go: no row points at them);
//! a kill after it leaves a job whose row already carries its noted URL:
//! whoever takes it next removes the old files and marks it done, so no
//! row's files change twice.

pub mod jobs;

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use specdrop_derive::store::StoredSet;
use specdrop_mapper::MediaUrls;
use specdrop_mapper::thumbnails::Waiting;

use self::jobs::{Job, Joined, Request};
use crate::Error;
use crate::collection::Prepared;
use crate::config::Config;
use crate::context::Context;
use crate::progress::Progress;
use crate::stages::derive::{self, Image};
use crate::stages::store;
use crate::stages::verdict::LedgerEntry;
use crate::storage::Storage;

/// Which derivatives are made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub large: bool,
    pub web: bool,
    pub thumbnail: bool,
}

impl Sizes {
    /// `--sizes large,web,thumbnail` (any of them, any order).
    pub fn parse(text: &str) -> Result<Sizes, Error> {
        let mut sizes = Sizes {
            large: false,
            web: false,
            thumbnail: false,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "large" => sizes.large = true,
                "web" => sizes.web = true,
                "thumbnail" => sizes.thumbnail = true,
                other => {
                    return Err(Error::Config(format!(
                        "--sizes: {other:?} is not a size; give any of large,web,thumbnail separated by commas"
                    )));
                }
            }
        }
        if !(sizes.large || sizes.web || sizes.thumbnail) {
            return Err(Error::Config(
                "--sizes names no size; give any of large,web,thumbnail".into(),
            ));
        }
        Ok(sizes)
    }

    /// Every size `[derive]` makes.
    pub fn enabled(config: &Config) -> Sizes {
        Sizes::enabled_in(&config.derive)
    }

    fn enabled_in(derive: &specdrop_derive::DeriveConfig) -> Sizes {
        Sizes {
            large: derive.large.enabled,
            web: derive.web.enabled,
            thumbnail: derive.thumbnail.enabled,
        }
    }

    /// `large,web,thumbnail` or the part of it asked for: the job list's
    /// key.
    pub fn text(self) -> String {
        [("large", self.large), ("web", self.web), ("thumbnail", self.thumbnail)]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What one `rebuild` was asked.
#[derive(Debug, Clone)]
pub struct Asked {
    /// `None`: every size `[derive]` makes.
    pub sizes: Option<Sizes>,
    /// `--since`: `YYYY-MM-DD` (00:00 UTC) or an RFC 3339 time.
    pub since: Option<String>,
    /// A finished list of the same request starts afresh.
    pub again: bool,
}

/// What this process did, row by row.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub rebuilt: usize,
    /// Switched by an earlier attempt that was killed before its clean-up;
    /// the clean-up done now.
    pub finished: usize,
    pub failed: usize,
    /// The row is gone from the portal.
    pub gone: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rebuilt, {} finished after an interrupted attempt, {} failed, {} gone from the portal",
            self.rebuilt, self.finished, self.failed, self.gone
        )
    }
}

/// How often the progress bar counts the list again (everyone's work; in
/// between it counts this process's): the count reads the collection's
/// whole list, millions of rows in a large library.
const COUNT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Takes of one job before it is given up as failed: a job that kills or
/// stalls whoever takes it must not hold the list for ever.
const MAX_ATTEMPTS: i64 = 5;

/// Rows read from the portal per listing query.
const LIST_PAGE: i64 = 1000;

pub async fn run(config: &Config, code: &str, asked: &Asked) -> Result<Tally, Error> {
    let sizes = asked.sizes.unwrap_or_else(|| Sizes::enabled(config));
    let enabled = Sizes::enabled(config);
    for (name, wanted, on) in [
        ("large", sizes.large, enabled.large),
        ("web", sizes.web, enabled.web),
        ("thumbnail", sizes.thumbnail, enabled.thumbnail),
    ] {
        if wanted && !on {
            return Err(Error::Config(format!(
                "--sizes asks for {name}, but derive.{name} is disabled (enabled = false); \
                 enable it or leave {name} out of --sizes"
            )));
        }
    }
    if sizes.text().is_empty() {
        return Err(Error::Config(
            "every size in [derive] is disabled: there is nothing to rebuild".into(),
        ));
    }
    let since = asked.since.as_deref().map(unix_of).transpose()?;
    // The sizes not asked for are not made at all.
    let mut only = config.clone();
    only.derive.large.enabled = sizes.large;
    only.derive.web.enabled = sizes.web;
    only.derive.thumbnail.enabled = sizes.thumbnail;
    let session = crate::session::open_one(&only, code).await?;
    let shape = Shape {
        sizes,
        since,
        lease: i64::try_from(config.lease.as_secs()).unwrap_or(30),
        at_once: i64::try_from(config.threads + 1).unwrap_or(2),
    };
    let result = run_in(&session.ctx, &session.collections[0], &shape, asked).await;
    session.close().await;
    result
}

/// How this run works its jobs.
struct Shape {
    sizes: Sizes,
    /// `--since` in Unix seconds.
    since: Option<i64>,
    /// `daemon.lease_secs`.
    lease: i64,
    /// Jobs taken (and done at once) at a time: `workers.threads` + 1.
    at_once: i64,
}

async fn run_in(ctx: &Arc<Context>, collection: &Arc<Prepared>, shape: &Shape, asked: &Asked) -> Result<Tally, Error> {
    let code = collection.config.code.clone();
    let request = Request {
        sizes: shape.sizes.text(),
        since: asked.since.clone().unwrap_or_default(),
    };
    match ctx.ledger.start_rebuild(&code, &request, asked.again).await? {
        Joined::Started => println!("rebuild: a new job list for {code} ({})", request.sizes),
        Joined::Joined => println!("rebuild: joining the job list of {code} under way ({})", request.sizes),
        Joined::Other(other) => {
            return Err(Error::Run(format!(
                "a rebuild of {code} with --sizes {} --since {:?} is under way; run that one (to its end), \
                 then this one",
                other.sizes, other.since
            )));
        }
        Joined::Finished(at) => {
            println!(
                "rebuild: {code} was rebuilt ({}) to the end at {}; nothing to do (--again rebuilds it once more)",
                request.sizes,
                utc_text(at)
            );
            return Ok(Tally::default());
        }
    }
    list_rows(ctx, collection, shape.since).await?;
    let lease = shape.lease;
    // The SQLite ledger has no heartbeat: the rebuild renews its leases.
    let renewer = ctx.me.is_none().then(|| {
        let (ctx, every) = (ctx.clone(), std::time::Duration::from_secs((lease / 3).max(1) as u64));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = ctx.ledger.renew_rebuild_jobs(&ctx.run, lease).await {
                    tracing::warn!("could not renew this rebuild's jobs: {e}");
                }
            }
        })
    });
    let result = work(ctx, collection, shape).await;
    if let Some(renewer) = renewer {
        renewer.abort();
    }
    result
}

/// Put every image row of the collection (added since `since`) in the job
/// list, unless that was done: going on after the last row listed, so a
/// listing cut short is finished by whoever comes next.
async fn list_rows(ctx: &Context, collection: &Prepared, since: Option<i64>) -> Result<(), Error> {
    let code = &collection.config.code;
    let (listed, mut after) = ctx.ledger.rebuild_listed(code).await?;
    if listed {
        return Ok(());
    }
    let collid = collection.config.collid;
    loop {
        let rows = ctx
            .outage
            .retry("rebuild", || {
                ctx.portal.rows_to_rebuild(collid, since, after, LIST_PAGE)
            })
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.media_id;
        let jobs: Vec<(i64, jobs::Urls)> = rows.iter().map(|r| (r.media_id, urls_of(r))).collect();
        ctx.ledger.add_rebuild_jobs(code, &jobs).await?;
    }
    ctx.ledger.rebuild_all_listed(code).await?;
    Ok(())
}

/// Take jobs until none is left to take, a few at a time, done at once
/// on the derivative workers.
async fn work(ctx: &Arc<Context>, collection: &Arc<Prepared>, shape: &Shape) -> Result<Tally, Error> {
    let sizes = shape.sizes;
    let code = collection.config.code.clone();
    let total_of = |lists: Vec<jobs::ListProgress>| {
        lists
            .into_iter()
            .find(|l| l.collection == code)
            .map_or((0, 0), |l| (l.total, l.done + l.failed))
    };
    let (total, done) = total_of(patiently(ctx, "count the job list", || ctx.ledger.rebuild_lists()).await?);
    let mut progress = Progress::counting(usize::try_from(total).unwrap_or(0), true, "rows");
    progress.set_done(u64::try_from(done).unwrap_or(0));
    let mut tally = Tally::default();
    let mut counted = std::time::Instant::now();
    loop {
        let taken = patiently(ctx, "take jobs", || {
            ctx.ledger
                .take_rebuild_jobs(&ctx.run, &code, shape.lease, shape.at_once)
        })
        .await?;
        if taken.is_empty() {
            if patiently(ctx, "end the job list", || ctx.ledger.rebuild_finish(&code)).await? {
                break;
            }
            // Jobs held by others (alive, or gone and not yet settled):
            // wait for them to end or to be free to take.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            continue;
        }
        let mut idle = false;
        do_jobs(ctx, collection, sizes, taken, |media_id, outcome| {
            idle |= matches!(outcome, Outcome::Waits(_));
            progress.println(&outcome.line(media_id, &mut tally));
            progress.inc();
        })
        .await?;
        // The list's counts (everyone's work) every few seconds: counting
        // a long list for each batch would load the ledger.
        if counted.elapsed() >= COUNT_EVERY {
            counted = std::time::Instant::now();
            let (_, done) = total_of(patiently(ctx, "count the job list", || ctx.ledger.rebuild_lists()).await?);
            progress.set_done(u64::try_from(done).unwrap_or(0));
        }
        if idle {
            // A database that does not answer: not tried again at once.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
    progress.finish();
    Ok(tally)
}

/// A ledger call tried again with backoff while it fails, for as long as
/// an outage of the portal database is waited out: a participant does not
/// leave the list for a ledger that is away for a moment.
async fn patiently<T, F, Fut>(ctx: &Context, what: &str, op: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::ledger::LedgerError>>,
{
    let what = format!("rebuild: could not {what} in the ledger");
    crate::outage::with_backoff(ctx.outage.limit(), &what, |_| true, op)
        .await
        .map_err(Error::from)
}

/// Do the jobs taken, at once on the derivative workers, telling
/// `each_done` how each went as it ends (a line printed only when the
/// whole batch is done would be lost with a kill mid-batch); how many.
async fn do_jobs(
    ctx: &Arc<Context>,
    collection: &Arc<Prepared>,
    sizes: Sizes,
    taken: Vec<Job>,
    mut each_done: impl FnMut(i64, &Outcome),
) -> Result<usize, Error> {
    let mut running = tokio::task::JoinSet::new();
    for job in taken {
        let (ctx, collection) = (ctx.clone(), collection.clone());
        running.spawn(async move {
            let outcome = one(&ctx, &collection, sizes, &job).await;
            (job.media_id, outcome)
        });
    }
    let mut done = 0;
    while let Some(joined) = running.join_next().await {
        let (media_id, outcome) = joined.map_err(|e| Error::Run(format!("a rebuild task failed: {e}")))?;
        each_done(media_id, &outcome);
        done += 1;
    }
    Ok(done)
}

/// A daemon's part in the rebuilds under way (docs/admin.md): when it has
/// no file in hand, it takes one batch of jobs of the first unfinished
/// list of its collections and does them, as a `rebuild` process would;
/// how many it did. Called again while it stays idle, so drop-folder work
/// waits at most for one batch.
pub async fn take_part(ctx: &Arc<Context>, collections: &[Arc<Prepared>], threads: usize) -> Result<usize, Error> {
    for (code, list) in ctx.ledger.open_rebuilds().await? {
        let Some(collection) = collections.iter().find(|c| c.config.code == code) else {
            continue;
        };
        let sizes = Sizes::parse(&list.sizes)?;
        let enabled = Sizes::enabled_in(&ctx.derive);
        if (sizes.large && !enabled.large) || (sizes.web && !enabled.web) || (sizes.thumbnail && !enabled.thumbnail) {
            // This daemon's [derive] does not make a size the list asks
            // for: left to the `rebuild` runs.
            continue;
        }
        let since = (!list.since.is_empty()).then(|| unix_of(&list.since)).transpose()?;
        list_rows(ctx, collection, since).await?;
        let lease = ctx.me.as_ref().map_or(30, |me| me.lease_secs);
        let at_once = i64::try_from(threads + 1).unwrap_or(2);
        let taken = ctx
            .ledger
            .take_rebuild_jobs(&ctx.run, &collection.config.code, lease, at_once)
            .await?;
        if taken.is_empty() {
            ctx.ledger.rebuild_finish(&collection.config.code).await?;
            continue;
        }
        let mut tally = Tally::default();
        let code = &collection.config.code;
        return do_jobs(ctx, collection, sizes, taken, |media_id, outcome| {
            tracing::info!("rebuild {code}: {}", outcome.line(media_id, &mut tally));
        })
        .await;
    }
    Ok(0)
}

/// How one job went.
enum Outcome {
    Rebuilt(String),
    Finished(String),
    Failed(String),
    /// Left for a next try (the database did not answer).
    Waits(String),
    Gone,
}

impl Outcome {
    /// The job's line for the terminal or the log, counted in `tally`.
    fn line(&self, media_id: i64, tally: &mut Tally) -> String {
        match self {
            Outcome::Rebuilt(what) => {
                tally.rebuilt += 1;
                format!("rebuilt  media {media_id}: {what}")
            }
            Outcome::Finished(what) => {
                tally.finished += 1;
                format!("rebuilt  media {media_id}: {what} (switched by an interrupted attempt, cleaned up now)")
            }
            Outcome::Failed(why) => {
                tally.failed += 1;
                format!("failed   media {media_id}: {why}")
            }
            Outcome::Waits(why) => format!("waits    media {media_id}: {why}"),
            Outcome::Gone => {
                tally.gone += 1;
                format!("skipped  media {media_id}: the row is gone from the portal")
            }
        }
    }
}

/// Note a job's end in the ledger (a warning when it cannot be: the job
/// is then done again by its next taker, which finds the row switched).
async fn end_job(ctx: &Context, code: &str, media_id: i64, state: &str, reason: String, relative: [Option<String>; 3]) {
    match ctx
        .ledger
        .rebuild_ended(&ctx.run, code, media_id, state, &reason, &relative)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::info!(
            "media {media_id}'s rebuild job was taken over (this run's lease ended); its next taker ends it"
        ),
        Err(e) => tracing::warn!("could not note media {media_id}'s rebuild as {state}: {e}"),
    }
}

/// A job left undone for trouble that is not the row's own: let go, to be
/// taken again (it finds out then whether its row was switched).
async fn waits(ctx: &Context, code: &str, job: &Job, why: String) -> Outcome {
    if let Err(e) = ctx.ledger.rebuild_let_go(&ctx.run, code, job.media_id).await {
        tracing::warn!("could not let go of media {}'s rebuild: {e}", job.media_id);
    }
    Outcome::Waits(format!("{why}; the job waits for its next taker"))
}

/// A row's (url, thumbnailUrl, originalUrl).
fn urls_of(row: &Waiting) -> jobs::Urls {
    [row.url.clone(), row.thumbnail_url.clone(), row.original_url.clone()]
}

/// The three URLs as the removal of replaced files takes them.
fn media_urls(urls: &jobs::Urls) -> MediaUrls {
    MediaUrls {
        url: urls[0].clone().unwrap_or_default(),
        thumbnail_url: urls[1].clone(),
        original_url: urls[2].clone(),
    }
}

async fn one(ctx: &Context, collection: &Prepared, sizes: Sizes, job: &Job) -> Outcome {
    let mut derive = ctx.derive.clone();
    derive.large.enabled &= sizes.large;
    derive.web.enabled &= sizes.web;
    derive.thumbnail.enabled &= sizes.thumbnail;
    let code = &collection.config.code;
    let ended = |state: &'static str, reason: String, relative: [Option<String>; 3]| {
        end_job(ctx, code, job.media_id, state, reason, relative)
    };
    let row = match ctx.outage.retry("rebuild", || ctx.portal.image_row(job.media_id)).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            ended("done", "the row is gone from the portal".into(), Default::default()).await;
            return Outcome::Gone;
        }
        Err(e) => return waits(ctx, code, job, format!("database: {e}")).await,
    };
    let now = urls_of(&row);
    // An earlier attempt switched the row and was stopped before its
    // clean-up: finish that, make nothing new.
    if let Some(noted) = &job.new_url
        && now.iter().any(|u| u.as_deref() == Some(noted.as_str()))
    {
        let removed = remove_old(ctx, collection, &job.old, &now).await;
        ended(
            "done",
            "switched by an interrupted attempt".into(),
            relatives(collection, &now),
        )
        .await;
        return Outcome::Finished(format!("{removed} old file(s) removed"));
    }
    if job.attempts > MAX_ATTEMPTS {
        let why = format!(
            "taken {} times without an end (each attempt was stopped or lost its lease); \
             left as it was, see the log for why",
            job.attempts - 1
        );
        ended("failed", why.clone(), Default::default()).await;
        return Outcome::Failed(why);
    }
    match remake(ctx, collection, sizes, &row, derive).await {
        Ok(made) => switch(ctx, collection, job, &row, made).await,
        Err(why) => {
            ended("failed", why.clone(), Default::default()).await;
            Outcome::Failed(format!("{why}; the row is left as it was"))
        }
    }
}

/// New derivatives of a row, stored and claimed, not yet in the row.
struct Remade {
    files: StoredSet,
    urls: MediaUrls,
    /// The new mediaMD5, when the large image was made again.
    md5: Option<String>,
    from: String,
}

/// Find the row's original, derive the sizes asked for, store them.
async fn remake(
    ctx: &Context,
    collection: &Prepared,
    sizes: Sizes,
    row: &Waiting,
    derive: specdrop_derive::DeriveConfig,
) -> Result<Remade, String> {
    let original = original(ctx, collection, row).await?;
    let number = row
        .catalog_number
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("occid{}", row.occid));
    let entry = LedgerEntry {
        hash: format!("{:x}", Sha256::digest(&original.bytes)),
        catalog_number: Some(number.clone()),
        number_from: None,
    };
    let made = derive::make_with(ctx, Image::Bytes(original.bytes), &entry, derive)
        .await
        .map_err(|v| v.detail)?;
    // Without the archived original, originalUrl is the original: no
    // large copy of it is made (unless it also serves as the web image).
    let set = if original.archived {
        made.set
    } else {
        crate::remote_derive::web_and_thumbnail(made.set)
    };
    let stored = store::store(ctx, collection, &number, &original.name, set, &entry)
        .await
        .map_err(|v| v.detail)?;
    let url_of = |f: &specdrop_derive::store::StoredFile| collection.config.url_base.join(&f.relative);
    let files = stored.files;
    let large = files.large.as_ref().map(url_of);
    let web = files
        .web
        .as_ref()
        .map(url_of)
        .or_else(|| large.clone().filter(|_| sizes.web));
    let url = web.unwrap_or_else(|| row.url.clone().unwrap_or_default());
    // Derived from the row's own link (originalUrl, else url): that file
    // is the full-size copy the row keeps. A row with no originalUrl whose
    // url is replaced keeps it named there, so it is not removed with the
    // replaced files; otherwise originalUrl stays as it was.
    let original_url = if original.archived {
        large.clone().or_else(|| row.original_url.clone())
    } else if row.original_url.is_none() && row.url.as_deref() != Some(url.as_str()) {
        Some(original.from.clone())
    } else {
        row.original_url.clone()
    };
    let urls = MediaUrls {
        url,
        thumbnail_url: files
            .thumbnail
            .as_ref()
            .map(url_of)
            .or_else(|| row.thumbnail_url.clone()),
        original_url,
    };
    Ok(Remade {
        md5: (original.archived && files.large.is_some()).then_some(stored.md5),
        files,
        urls,
        from: original.from,
    })
}

/// Note the switch in the job, switch the row, then clean up.
async fn switch(ctx: &Context, collection: &Prepared, job: &Job, row: &Waiting, made: Remade) -> Outcome {
    let code = &collection.config.code;
    let old = urls_of(row);
    let new = [
        Some(made.urls.url.clone()),
        made.urls.thumbnail_url.clone(),
        made.urls.original_url.clone(),
    ];
    // The URL that tells whether the row took this set: one it did not
    // have before.
    let Some(probe) = new
        .iter()
        .zip(&old)
        .find_map(|(n, o)| n.clone().filter(|n| Some(n) != o.as_ref()))
    else {
        crate::claims::undo_set(ctx, &made.files, &made.from).await;
        return Outcome::Failed("no new derivative was made; enable a size in [derive]".into());
    };
    match ctx
        .ledger
        .rebuild_switching(&ctx.run, code, job.media_id, &probe, &old)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            // Its lease ended (or this run was taken for gone): the job
            // may be another's now, and this run's claimed files removed.
            crate::claims::undo_set(ctx, &made.files, &made.from).await;
            return Outcome::Waits(
                "this run no longer holds the job (its lease ended); the row is left to its next taker".into(),
            );
        }
        Err(e) => {
            crate::claims::undo_set(ctx, &made.files, &made.from).await;
            return waits(ctx, code, job, format!("ledger: {e}")).await;
        }
    }
    let switched = ctx.portal.switch_urls(row, &made.urls, made.md5.as_deref()).await;
    let ended = |state: &'static str, reason: String, relative: [Option<String>; 3]| {
        end_job(ctx, code, job.media_id, state, reason, relative)
    };
    match switched {
        Ok(()) => {
            crate::claims::release_set(ctx, &made.files).await;
            let removed = remove_old(ctx, collection, &old, &new).await;
            ended("done", String::new(), relatives(collection, &new)).await;
            Outcome::Rebuilt(format!(
                "url {}, thumbnailUrl {}, originalUrl {}, from {}; {removed} old file(s) removed",
                made.urls.url,
                made.urls.thumbnail_url.as_deref().unwrap_or("none"),
                made.urls.original_url.as_deref().unwrap_or("none"),
                made.from
            ))
        }
        Err(specdrop_mapper::MapperError::RowChanged { .. }) => {
            crate::claims::undo_set(ctx, &made.files, &made.from).await;
            let why = "the row was changed in the portal meanwhile; it is left as the portal has it".to_string();
            ended("failed", why.clone(), Default::default()).await;
            Outcome::Failed(why)
        }
        Err(e) if e.is_transient() => {
            // Whether the row took the files cannot be told now: the claims
            // are settled later, the job by its next taker.
            crate::claims::set_aside_set(ctx, &made.files).await;
            waits(ctx, code, job, format!("database: {e}")).await
        }
        Err(e) => {
            // Refused for good (a URL too long for its column, no UPDATE
            // grant, ...): trying again would only write more files. The
            // row is read again to know whether it took them.
            match ctx.portal.image_row(job.media_id).await {
                Ok(now)
                    if now
                        .as_ref()
                        .is_some_and(|r| urls_of(r).iter().any(|u| u.as_deref() == Some(&probe))) =>
                {
                    crate::claims::release_set(ctx, &made.files).await;
                    let removed = remove_old(ctx, collection, &old, &new).await;
                    ended("done", String::new(), relatives(collection, &new)).await;
                    Outcome::Rebuilt(format!("{removed} old file(s) removed (the database reported {e})"))
                }
                Ok(_) => {
                    crate::claims::undo_set(ctx, &made.files, &made.from).await;
                    let why = format!("the portal refused the new URLs: {e}; the row is left as it was");
                    ended("failed", why.clone(), Default::default()).await;
                    Outcome::Failed(why)
                }
                Err(read) => {
                    crate::claims::set_aside_set(ctx, &made.files).await;
                    waits(ctx, code, job, format!("database: {e}; then {read}")).await
                }
            }
        }
    }
}

/// Remove the files `old` named that the row no longer does and no other
/// row points at; how many went.
async fn remove_old(ctx: &Context, collection: &Prepared, old: &jobs::Urls, now: &jobs::Urls) -> usize {
    let keep: Vec<String> = now
        .iter()
        .flatten()
        .filter_map(|u| collection.config.url_base.relative(u))
        .map(|r| ctx.storage.locate(r))
        .collect();
    crate::stages::replaced::remove_replaced(&ctx.portal, &ctx.storage, &collection.config, &media_urls(old), &keep)
        .await
}

/// The ledger's large, web and thumbnail paths for a row's URLs (those
/// under the collection's URL base).
fn relatives(collection: &Prepared, urls: &jobs::Urls) -> [Option<String>; 3] {
    let relative = |u: &Option<String>| {
        u.as_deref()
            .and_then(|u| collection.config.url_base.relative(u))
            .map(str::to_string)
    };
    [relative(&urls[2]), relative(&urls[0]), relative(&urls[1])]
}

/// An original to derive from.
struct Original {
    bytes: Vec<u8>,
    /// Read from where the ledger says the linked file went (or came
    /// from), its content checked against the ledger's hash.
    archived: bool,
    /// The name the derivatives are named after.
    name: String,
    /// For the report: the path or URL.
    from: String,
}

/// The row's original: the archived file, else `originalUrl` (else
/// `url`), read from the image library when it is there.
async fn original(ctx: &Context, collection: &Prepared, row: &Waiting) -> Result<Original, String> {
    let known = ctx
        .ledger
        .original_of(&collection.config.code, row.media_id)
        .await
        .map_err(|e| format!("ledger: {e}"))?;
    if let Some((hash, paths)) = known {
        for path in paths {
            let read = {
                let path = path.clone();
                tokio::task::spawn_blocking(move || std::fs::read(path)).await
            };
            if let Ok(Ok(bytes)) = read
                && format!("{:x}", Sha256::digest(&bytes)) == hash
            {
                let name = path
                    .file_name()
                    .map_or_else(|| "image.jpg".to_string(), |n| n.to_string_lossy().into_owned());
                return Ok(Original {
                    bytes,
                    archived: true,
                    name,
                    from: path.display().to_string(),
                });
            }
        }
    }
    let Some(link) = row.source().map(str::to_string) else {
        return Err("no archived original, and neither originalUrl nor url names an image".into());
    };
    let name = crate::remote_derive::name_of(&link);
    let in_library = match (&ctx.storage, collection.config.url_base.relative(&link)) {
        (Storage::Folder { .. }, Some(relative)) if !relative.split('/').any(|p| p == ".." || p.is_empty()) => {
            Some(ctx.storage.locate(relative))
        }
        _ => None,
    };
    let bytes = match in_library {
        Some(location) => {
            let path = location.clone();
            tokio::task::spawn_blocking(move || std::fs::read(path))
                .await
                .map_err(|e| format!("reading {location}: {e}"))?
                .map_err(|e| format!("no archived original, and {location} ({link}) cannot be read: {e}"))?
        }
        None => crate::remote_derive::fetch_original(ctx, &link)
            .await
            .map_err(|e| format!("no archived original, and {link}: {e}"))?,
    };
    Ok(Original {
        bytes,
        archived: false,
        name,
        from: link,
    })
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc_text(at: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at.to_string())
}

/// `--since` as Unix seconds: a date is 00:00 UTC of that day.
fn unix_of(text: &str) -> Result<i64, Error> {
    use time::format_description::well_known::Rfc3339;
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(text, &date_format) {
        return Ok(date.midnight().assume_utc().unix_timestamp());
    }
    time::OffsetDateTime::parse(text, &Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|e| {
            Error::Config(format!(
                "--since {text}: {e}; give a date (2026-12-01, from 00:00 UTC) or a time in RFC 3339 \
                 (2026-12-01T09:30:00+01:00)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_since_are_read_as_documented() {
        let sizes = Sizes::parse("thumbnail, web").expect("two sizes");
        assert_eq!(sizes.text(), "web,thumbnail");
        assert!(Sizes::parse("medium").is_err_and(|e| e.to_string().contains("large,web,thumbnail")));
        assert!(Sizes::parse("").is_err());
        assert_eq!(unix_of("1970-01-02").ok(), Some(86_400));
        assert_eq!(unix_of("1970-01-01T01:00:00+01:00").ok(), Some(0));
        assert!(unix_of("yesterday").is_err_and(|e| e.to_string().contains("RFC 3339")));
    }
}
