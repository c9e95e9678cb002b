//! Label text into the portal's `specprocessorrawlabels`, where Symbiota's
//! NLP parsers and crowdsourcing read it (`[ocr]`).
//!
//! Never in a file's way: a linked file's ledger entry queues its sheet
//! (`ocr_jobs`, ledger.rs) in the same transaction, after the row is
//! committed; the jobs are read here afterwards, `ocr.threads` at a time,
//! by Tesseract at the lowest CPU priority. The daemon reads them in the
//! background ([`Worker`]), `scan` at its end and `specdrop ocr` (a
//! backfill) at once ([`drain`]). A job is marked done only after its row
//! is in the portal, and the row is written only where the image row has
//! none: a crash or SIGKILL at any point loses no job and never leaves a
//! second row.

pub mod tesseract;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use specdrop_mapper::RawLabel;
use tokio::sync::Notify;
use tokio::task::JoinSet;

pub use self::tesseract::{Tesseract, installed};
use crate::Error;
use crate::config::{Config, OcrConfig};
use crate::context::Context;
use crate::ledger::{OcrEnd, OcrJob};
use crate::progress::Progress;
use crate::session::{self, Session};

/// New jobs were queued: a waiting worker looks at once.
static QUEUED: Notify = Notify::const_new();

/// A worker with nothing to do looks at the queue this often anyway (jobs
/// another process queued, failures due for another try).
const IDLE_LOOK: Duration = Duration::from_secs(30);

pub fn wake() {
    QUEUED.notify_one();
}

/// The message for a config that asks for OCR without Tesseract.
pub const MISSING: &str = "the tesseract program is not installed (not on PATH); install it \
     (Debian/Ubuntu: apt-get install tesseract-ocr) or set ocr.enabled = false. Linking goes on; \
     the sheets wait in the ledger for the first run that finds it (a scan, or the daemon started or \
     reloaded)";

/// What one pass of reading did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub read: usize,
    /// Tesseract found no text.
    pub empty: usize,
    /// Not read: the record's status, text already there, the record gone.
    pub skipped: usize,
    /// Failed this time (tried again up to the ledger's limit).
    pub failed: usize,
    /// Left queued: the portal could not be reached.
    pub waiting: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} read, {} without text, {} skipped, {} failed",
            self.read, self.empty, self.skipped, self.failed
        )?;
        if self.waiting > 0 {
            write!(f, ", {} waiting for the database", self.waiting)?;
        }
        Ok(())
    }
}

/// How one job went.
enum Outcome {
    Ended(OcrEnd, String),
    Failed(String),
    /// The portal was not there: the job stays queued, its tries uncounted.
    Wait(String),
}

/// What every job of one pass shares.
#[derive(Clone)]
struct Reader {
    ctx: Arc<Context>,
    tesseract: Arc<Tesseract>,
    statuses: Arc<Vec<String>>,
    scratch: PathBuf,
    /// Set on shutdown: a running Tesseract is killed, its job stays queued.
    cancel: Arc<AtomicBool>,
}

impl Reader {
    fn new(ctx: &Arc<Context>, tesseract: Tesseract, ocr: &OcrConfig) -> Result<Reader, Error> {
        let scratch = ctx.state_dir.join("ocr");
        std::fs::create_dir_all(&scratch)
            .map_err(|e| Error::Run(format!("cannot create {}: {e}", scratch.display())))?;
        Ok(Reader {
            ctx: ctx.clone(),
            tesseract: Arc::new(tesseract),
            statuses: Arc::new(ocr.statuses.clone()),
            scratch,
            cancel: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn read(self, job: OcrJob) -> Outcome {
        let portal = &self.ctx.portal;
        let wait_or_fail = |e: specdrop_mapper::MapperError| {
            if e.is_transient() {
                Outcome::Wait(e.to_string())
            } else {
                Outcome::Failed(e.to_string())
            }
        };
        // Checked before reading, too, so that a job whose row a killed
        // process wrote is not read again.
        match portal.has_raw_label(job.media_id).await {
            Ok(true) => return Outcome::Ended(OcrEnd::Skipped, "the image has OCR text already".into()),
            Ok(false) => {}
            Err(e) => return wait_or_fail(e),
        }
        match portal.processing_status(job.occid).await {
            Ok(None) => return Outcome::Ended(OcrEnd::Skipped, format!("record {} is gone", job.occid)),
            Ok(Some(status)) if !self.statuses.contains(&status.to_lowercase()) => {
                return Outcome::Ended(
                    OcrEnd::Skipped,
                    format!("processingStatus is {status:?}, not one of ocr.statuses"),
                );
            }
            Ok(Some(_)) => {}
            Err(e) => return wait_or_fail(e),
        }
        let scratch = self.scratch.join(format!("{}-{}", std::process::id(), job.media_id));
        let (tesseract, cancel, image) = (self.tesseract.clone(), self.cancel.clone(), job.image.clone());
        let reading = tokio::task::spawn_blocking(move || {
            if !image.is_file() {
                return Err(format!("{} is not there any more", image.display()));
            }
            tesseract.read(&image, &scratch, &cancel)
        })
        .await
        .unwrap_or_else(|e| Err(format!("internal error while reading: {e}")));
        let reading = match reading {
            Ok(reading) => reading,
            Err(e) => return Outcome::Failed(e),
        };
        if reading.text.is_empty() {
            return Outcome::Ended(OcrEnd::Empty, "tesseract read no text".into());
        }
        let notes = format!("specdrop: {} {}", self.tesseract.version, tesseract::SETTINGS);
        let source = format!("Tesseract: {}", crate::clock::today());
        let label = RawLabel {
            media_id: job.media_id,
            occid: job.occid,
            text: &reading.text,
            score: reading.score,
            notes: &notes,
            source: &source,
        };
        match portal.insert_raw_label(&label).await {
            Ok(true) => Outcome::Ended(OcrEnd::Done, format!("{} characters", reading.text.chars().count())),
            Ok(false) => Outcome::Ended(OcrEnd::Skipped, "the image has OCR text already".into()),
            Err(e) => wait_or_fail(e),
        }
    }
}

/// How a pass goes on when the queue is empty.
enum Until {
    /// Return (scan, backfill).
    Empty,
    /// Wait for more until told to stop (the daemon).
    Stopped(Arc<Notify>),
}

/// Read queued jobs (of `collection` only, when given), `threads` at a
/// time, until `until`.
async fn pass(
    reader: &Reader,
    threads: usize,
    collection: Option<&str>,
    until: Until,
    mut progress: Option<&mut Progress>,
) -> Tally {
    let ledger = &reader.ctx.ledger;
    let mut tally = Tally::default();
    let mut tasks: JoinSet<(i64, Outcome)> = JoinSet::new();
    let mut busy: Vec<i64> = Vec::new();
    // Jobs that failed or waited in this pass are tried again at the next
    // one, not at once.
    let mut passed: Vec<i64> = Vec::new();
    loop {
        if tasks.len() < threads {
            let exclude: Vec<i64> = busy.iter().chain(&passed).copied().collect();
            match ledger.ocr_due(collection, &exclude, threads - tasks.len()).await {
                Ok(due) => {
                    for job in due {
                        busy.push(job.media_id);
                        let reader = reader.clone();
                        tasks.spawn(async move { (job.media_id, reader.read(job).await) });
                    }
                }
                Err(e) => tracing::warn!("OCR: cannot read the job queue: {e}"),
            }
        }
        if tasks.is_empty() {
            match &until {
                Until::Empty => break,
                Until::Stopped(stop) => {
                    tokio::select! {
                        () = QUEUED.notified() => {}
                        () = tokio::time::sleep(IDLE_LOOK) => passed.clear(),
                        () = stop.notified() => break,
                    }
                    continue;
                }
            }
        }
        let joined = match &until {
            Until::Empty => tasks.join_next().await,
            Until::Stopped(stop) => tokio::select! {
                joined = tasks.join_next() => joined,
                () = stop.notified() => break,
            },
        };
        let Some(joined) = joined else { continue };
        let (media_id, outcome) = match joined {
            Ok(done) => done,
            Err(e) => {
                tracing::error!("OCR: a reading crashed: {e}");
                tally.failed += 1;
                continue;
            }
        };
        busy.retain(|id| *id != media_id);
        settle(reader, media_id, outcome, &mut tally, &mut passed).await;
        if let Some(progress) = progress.as_deref_mut() {
            progress.inc();
        }
    }
    // Stopping: a Tesseract still running is killed; its job stays queued.
    reader.cancel.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    tally
}

/// Note how job `media_id` went, in the ledger and the log.
async fn settle(reader: &Reader, media_id: i64, outcome: Outcome, tally: &mut Tally, passed: &mut Vec<i64>) {
    let ledger = &reader.ctx.ledger;
    let noted = match outcome {
        Outcome::Ended(end, reason) => {
            match end {
                OcrEnd::Done => tally.read += 1,
                OcrEnd::Empty => tally.empty += 1,
                OcrEnd::Skipped => tally.skipped += 1,
            }
            tracing::info!("OCR of image row {media_id}: {}: {reason}", end.as_str());
            ledger.ocr_ended(media_id, end, &reason).await
        }
        Outcome::Failed(reason) => {
            tally.failed += 1;
            passed.push(media_id);
            match ledger.ocr_failed(media_id, &reason).await {
                Ok(true) => {
                    tracing::error!("OCR of image row {media_id} failed for the last time, left as failed: {reason}");
                    Ok(())
                }
                Ok(false) => {
                    tracing::warn!("OCR of image row {media_id} failed (tried again later): {reason}");
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        Outcome::Wait(reason) => {
            tally.waiting += 1;
            passed.push(media_id);
            tracing::warn!("OCR of image row {media_id} waits for the database: {reason}");
            Ok(())
        }
    };
    if let Err(e) = noted {
        tracing::warn!("OCR of image row {media_id}: cannot note it in the ledger: {e}");
    }
}

/// The daemon's background reader; dropped (a config reload drops the
/// old one), it stops.
pub struct Worker {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<Tally>,
}

impl Worker {
    /// Start reading `ctx`'s queue when `ocr.enabled`; without Tesseract,
    /// say so and read nothing (linking goes on).
    pub fn start(ctx: &Arc<Context>, ocr: &OcrConfig) -> Option<Worker> {
        let reader = prepare(ctx, ocr)?;
        let stop = Arc::new(Notify::new());
        let until = Until::Stopped(stop.clone());
        let threads = ocr.threads;
        tracing::info!(
            "OCR: reading label text with {}, {threads} at a time",
            reader.tesseract.version
        );
        let task = tokio::spawn(async move { pass(&reader, threads, None, until, None).await });
        Some(Worker { stop, task })
    }

    /// Stop reading; a sheet being read is left queued for the next start.
    pub async fn stop(mut self) {
        self.stop.notify_one();
        match (&mut self.task).await {
            Ok(tally) => tracing::info!("OCR since start: {tally}"),
            Err(e) => tracing::error!("OCR worker crashed: {e}"),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}

/// A reader when OCR is on, the run writes and Tesseract is there.
fn prepare(ctx: &Arc<Context>, ocr: &OcrConfig) -> Option<Reader> {
    if !ocr.enabled || ctx.dry_run {
        return None;
    }
    let Some(tesseract) = crate::blocking::off_runtime(Tesseract::find) else {
        tracing::warn!("ocr.enabled: {MISSING}");
        return None;
    };
    Reader::new(ctx, tesseract, ocr)
        .map_err(|e| tracing::warn!("OCR: {e}"))
        .ok()
}

/// Read every sheet queued now (the end of a scan); nothing when OCR is
/// off or cannot run.
pub async fn drain(ctx: &Arc<Context>, ocr: &OcrConfig) -> Option<Tally> {
    let reader = prepare(ctx, ocr)?;
    let tally = pass(&reader, ocr.threads, None, Until::Empty, None).await;
    Some(tally)
}

/// `specdrop ocr --collection CODE`: queue every image of the
/// collection's records with a status of `ocr.statuses` and no OCR text,
/// then read them, with a progress bar.
pub async fn backfill(config: &Config, code: &str) -> Result<Tally, Error> {
    let tesseract =
        crate::blocking::off_runtime(Tesseract::find).ok_or_else(|| Error::Run(format!("specdrop ocr: {MISSING}")))?;
    let session = session::open_one(config, code).await?;
    let result = backfill_in(&session, config, tesseract).await;
    session.close().await;
    result
}

async fn backfill_in(session: &Session, config: &Config, tesseract: Tesseract) -> Result<Tally, Error> {
    let ctx = &session.ctx;
    let mut jobs = Vec::new();
    let mut elsewhere = 0;
    for collection in &session.collections {
        let c = &collection.config;
        let unread = ctx.portal.unread_images(c.collid, &config.ocr.statuses).await?;
        for image in unread {
            // Only files of this image library can be read; a portal URL
            // elsewhere is named, not fetched.
            let Some(relative) = c.url_base.relative(&image.url) else {
                elsewhere += 1;
                tracing::info!(
                    "OCR: image row {} ({}) is not under url_base; not read",
                    image.media_id,
                    image.url
                );
                continue;
            };
            jobs.push(OcrJob {
                media_id: image.media_id,
                occid: image.occid,
                collection: c.code.clone(),
                image: config.storage_root.join(relative),
            });
        }
    }
    ctx.ledger.enqueue_ocr(&jobs).await?;
    let code = session.collections.first().map(|c| c.config.code.clone());
    let waiting = ctx.ledger.ocr_waiting(code.as_deref()).await?;
    println!(
        "ocr: {} image(s) without text in records of status {}; {waiting} to read{}",
        jobs.len(),
        config.ocr.statuses.join(", "),
        if elsewhere > 0 {
            format!("; {elsewhere} not under url_base, not read")
        } else {
            String::new()
        }
    );
    let reader = Reader::new(ctx, tesseract, &config.ocr)?;
    let mut progress = Progress::new(usize::try_from(waiting).unwrap_or(usize::MAX), true);
    let tally = pass(
        &reader,
        config.ocr.threads,
        code.as_deref(),
        Until::Empty,
        Some(&mut progress),
    )
    .await;
    progress.finish();
    Ok(tally)
}
