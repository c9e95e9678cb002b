//! `specdrop run`: the long-running daemon.
//!
//! The watcher hands complete files through a bounded channel
//! (`workers.queue`); at most `workers.threads + 2` files are in the
//! pipeline at once, so 10,000 files arriving together wait as paths on
//! disk, not as images in memory. Parked files are tried again every
//! `daemon.retry_parked_mins`. SIGTERM/SIGINT stop taking files and let
//! those in flight finish or stop between stages; SIGHUP reloads the
//! config (or says why it cannot and keeps the old one). Under systemd
//! (`NOTIFY_SOCKET`) it reports READY, STATUS, WATCHDOG and STOPPING.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sd_notify::NotifyState;
use specdrop_watch::{Arrival, Root, Watcher};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::Error;
use crate::collection::Prepared;
use crate::config::Config;
use crate::link_order::LinkOrder;
use crate::metrics::Metrics;
use crate::notify::{self, Notices, Notifier, Schedule};
use crate::outcome::{Kind, Report, Summary};
use crate::pipeline;
use crate::session::{self, Session};
use crate::status::DaemonStatus;
use crate::team_report::TeamReport;

/// A config put to work: its session, watcher and arrivals.
struct Running {
    config: Config,
    session: Session,
    watcher: Watcher,
    arrivals: mpsc::Receiver<Arrival>,
    /// Reading label text in the background, when `ocr.enabled`.
    ocr: Option<crate::ocr::Worker>,
}

impl Running {
    async fn start(config: Config, metrics: Arc<Metrics>) -> Result<Running, Error> {
        // A daemon waits out a database outage for as long as it lasts.
        let options = session::Options {
            wait: Duration::MAX,
            metrics,
            instance: config.instance.clone(),
            ..session::Options::new(&config, false)
        };
        let session = Session::open(&config, options).await?;
        let mut roots = Vec::new();
        for c in &session.collections {
            let drop = &c.config.drop;
            std::fs::create_dir_all(drop)
                .map_err(|e| Error::Run(format!("cannot create drop folder {}: {e}", drop.display())))?;
            roots.push(Root {
                dir: drop.clone(),
                skip: skipped_below(drop, &config, &c.config.archive),
                accept: config.accept(),
                max_read: config.derive.max_file_mb.saturating_mul(1 << 20),
            });
        }
        let (tx, arrivals) = mpsc::channel(config.queue);
        let mut watcher = Watcher::spawn(roots, config.watch.clone(), tx);
        watcher.initial_scan_done().await;
        let ocr = crate::ocr::Worker::start(&session.ctx, &config.ocr);
        Ok(Running {
            config,
            session,
            watcher,
            arrivals,
            ocr,
        })
    }

    async fn stop(self) {
        if let Some(ocr) = self.ocr {
            ocr.stop().await;
        }
        self.watcher.stop().await;
        self.session.close().await;
    }
}

/// specdrop's own folders that may lie below a drop folder and must never
/// be taken as arrivals.
fn skipped_below(drop: &Path, config: &Config, archive: &Path) -> Vec<PathBuf> {
    let report = TeamReport::dir(&config.report, drop);
    [archive, config.storage_root.as_path(), config.state_dir.as_path()]
        .into_iter()
        .chain(report.as_deref())
        .filter(|p| p.starts_with(drop))
        .map(Path::to_path_buf)
        .collect()
}

/// Run until SIGTERM or SIGINT; `metrics` are the ones `metrics.listen`
/// serves (the binary starts the listener).
pub async fn run(config_file: &Path, config: Config, metrics: Arc<Metrics>) -> Result<ExitCode, Error> {
    let mut running = Running::start(config, metrics.clone()).await?;
    let mut status = DaemonStatus::new(&running.config);
    let mut in_flight: HashSet<PathBuf> = HashSet::new();
    let mut tasks: JoinSet<(PathBuf, Report)> = JoinSet::new();
    let order = Arc::new(LinkOrder::default());
    let mut totals = Summary::default();
    // Parked files due for another try, taken as room allows.
    let mut retries: VecDeque<(String, PathBuf)> = VecDeque::new();
    let mut notices = Notifying::start(&running.config);

    let mut term = signal(SignalKind::terminate()).map_err(Error::from)?;
    let mut int = signal(SignalKind::interrupt()).map_err(Error::from)?;
    let mut hup = signal(SignalKind::hangup()).map_err(Error::from)?;

    let watchdog = sd_notify::watchdog_enabled();
    // Ping at half the watchdog interval, as systemd recommends.
    let mut watchdog_tick = tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |w| w / 2));
    let mut status_tick = tokio::time::interval(Duration::from_secs(5));
    let mut retry_tick = tokio::time::interval_at(
        Instant::now() + running.config.retry_parked,
        running.config.retry_parked,
    );
    // With a shared ledger: files a gone instance held, taken over.
    let mut left_behind_tick = tokio::time::interval(running.config.lease);
    for t in [
        &mut watchdog_tick,
        &mut status_tick,
        &mut retry_tick,
        &mut left_behind_tick,
    ] {
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    }
    notify(&[NotifyState::Ready]);
    tracing::info!(
        "watching {} drop folder(s); {} worker thread(s)",
        running.session.collections.len(),
        running.config.threads
    );

    // Files in flight when a mapping file was taken (see below).
    let mut recheck: HashSet<PathBuf> = HashSet::new();
    // Collection statistics after a burst of links (collection_stats.rs).
    let mut stats = Stats::default();
    let mut superseded = false;
    // The daemon's part in rebuilds under way: one batch at a time, only
    // while it has no file in hand (rebuild/mod.rs, take_part).
    let mut rebuild_tick = tokio::time::interval(REBUILD_LOOK);
    rebuild_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut rebuild_batch: JoinSet<usize> = JoinSet::new();
    loop {
        let room = tasks.len() < running.config.threads + 2;
        let ctx = running.session.ctx.clone();
        tokio::select! {
            () = ctx.superseded.notified() => {
                superseded = true;
                break;
            }
            _ = rebuild_tick.tick(), if tasks.is_empty() && retries.is_empty() && rebuild_batch.is_empty() => {
                rebuild_batch.spawn(rebuild_part(&running));
            }
            Some(done) = rebuild_batch.join_next() => {
                // Jobs were there: take the next batch at once while idle.
                if done.unwrap_or(0) > 0 && tasks.is_empty() && retries.is_empty() && !ctx.stopping() {
                    rebuild_batch.spawn(rebuild_part(&running));
                }
            }
            Some(arrival) = running.arrivals.recv(), if room => {
                if let Some(collection) = running.session.collections.get(arrival.root) {
                    start(&mut tasks, &mut in_flight, &running, collection.clone(), arrival.path, &order);
                }
            }
            Some(done) = tasks.join_next() => {
                let done_path = done.as_ref().ok().map(|(path, _)| path.clone());
                if let Ok((_, report)) = &done {
                    stats.pending.note(report);
                }
                let mapping = finished(done, &mut in_flight, &mut totals, notices.notices());
                let was_rechecking = !recheck.is_empty();
                if let Some(path) = &done_path {
                    recheck.remove(path);
                }
                // Images parked "waiting for a mapping line", or skipped for
                // having no number in their name, may have a line now: they
                // are tried again at once, not at the next tick; and once
                // more when the files in flight at that moment are done,
                // since they may have looked for their line before it was
                // in the ledger.
                let files_in_flight_done = was_rechecking && recheck.is_empty();
                if mapping {
                    recheck = in_flight.clone();
                }
                if mapping || files_in_flight_done {
                    let (due, parked) = files_to_retry(&running, &in_flight, &[Kind::Parked, Kind::Skipped]).await;
                    tracing::info!("a mapping file was taken: {} of {parked} parked file(s) tried again", due.len());
                    for file in due {
                        if !retries.contains(&file) {
                            retries.push_back(file);
                        }
                    }
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                // A rebuild batch ends on the session it began in.
                while rebuild_batch.join_next().await.is_some() {}
                running = reload(config_file, running, &metrics).await;
                if running.config.notify != notices.config {
                    notices.restart(&running.config);
                }
            }
            () = &mut notices.due, if notices.schedule.is_some() => notices.send_digest(&running),
            // Parked files go through the same bounded intake as arrivals.
            () = std::future::ready(()), if room && !retries.is_empty() => {
                if let Some((code, path)) = retries.pop_front()
                    && let Some(collection) = running.session.collections.iter().find(|c| c.config.code == code)
                {
                    start(&mut tasks, &mut in_flight, &running, collection.clone(), path, &order);
                }
            }
            _ = retry_tick.tick() => {
                if retries.is_empty() {
                    let (due, parked) = parked_to_retry(&running, &in_flight).await;
                    tracing::info!("parked files: {} of {parked} due for another try", due.len());
                    retries = due;
                }
                // Files the team removed or replaced leave the waiting list.
                running.session.refresh_reports(true).await;
            }
            _ = left_behind_tick.tick(), if running.session.ctx.me.is_some() => {
                for file in left_behind(&running, &in_flight).await {
                    if !retries.contains(&file) {
                        retries.push_back(file);
                    }
                }
            }
            _ = watchdog_tick.tick(), if watchdog.is_some() => notify(&[NotifyState::Watchdog]),
            _ = status_tick.tick() => {
                let waiting = running.watcher.waiting() + running.arrivals.len();
                let ctx = &running.session.ctx;
                metrics.queue_depth.store((waiting + tasks.len()) as u64, Ordering::Relaxed);
                metrics.database_errors.store(ctx.outage.errors() as u64, Ordering::Relaxed);
                status.update(waiting, tasks.len(), &totals, ctx.outage.down_for());
                notify(&[NotifyState::Status(&status.line())]);
                running.session.refresh_reports(false).await;
                stats.refresh(&running, waiting == 0 && tasks.is_empty() && retries.is_empty());
            }
        }
    }

    notify(&[NotifyState::Stopping]);
    tracing::info!("stopping: finishing {} file(s) in progress", tasks.len());
    running.session.ctx.stopping.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + running.config.shutdown;
    while !tasks.is_empty() {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(done)) => {
                finished(done, &mut in_flight, &mut totals, notices.notices());
            }
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    "{} file(s) not finished after daemon.shutdown_secs; they are taken again at the next start",
                    tasks.len()
                );
                tasks.abort_all();
                break;
            }
        }
    }
    // A rebuild batch under way ends its jobs (a few seconds at most).
    while !rebuild_batch.is_empty() {
        if tokio::time::timeout_at(deadline, rebuild_batch.join_next())
            .await
            .is_err()
        {
            tracing::warn!(
                "a rebuild batch did not end before daemon.shutdown_secs; its jobs wait for their next taker"
            );
            rebuild_batch.abort_all();
            break;
        }
    }
    // What the last files linked is counted before the session closes.
    stats.refresh(&running, true);
    if let Some(refreshing) = stats.refreshing.take()
        && tokio::time::timeout_at(deadline, refreshing).await.is_err()
    {
        tracing::warn!("omcollectionstats not refreshed before daemon.shutdown_secs; the next batch does it");
    }
    running.session.refresh_reports(false).await;
    notices.close().await;
    running.stop().await;
    status.stopped();
    tracing::info!("stopped; since start: {totals}");
    if superseded {
        // A failure, so that systemd (Restart=on-failure) starts it again
        // as a new session.
        return Ok(ExitCode::from(75));
    }
    Ok(ExitCode::SUCCESS)
}

/// How often an idle daemon looks for rebuild jobs of its collections.
const REBUILD_LOOK: Duration = Duration::from_secs(5);

/// One batch of rebuild jobs, as a task; how many were done.
fn rebuild_part(running: &Running) -> impl std::future::Future<Output = usize> + Send + 'static {
    let ctx = running.session.ctx.clone();
    let collections = running.session.collections.clone();
    let threads = running.config.threads;
    async move {
        match crate::rebuild::take_part(&ctx, &collections, threads).await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!("could not take part in a rebuild: {e}");
                0
            }
        }
    }
}

fn start(
    tasks: &mut JoinSet<(PathBuf, Report)>,
    in_flight: &mut HashSet<PathBuf>,
    running: &Running,
    collection: Arc<Prepared>,
    path: PathBuf,
    order: &Arc<LinkOrder>,
) {
    if !in_flight.insert(path.clone()) {
        return;
    }
    let ctx = running.session.ctx.clone();
    let ticket = order.ticket();
    tasks.spawn(async move {
        let report = pipeline::process(ctx, collection, path.clone(), ticket).await;
        (path, report)
    });
}

/// The collections whose statistics are due, and the refresh under way.
#[derive(Default)]
struct Stats {
    pending: crate::collection_stats::Pending,
    refreshing: Option<tokio::task::JoinHandle<()>>,
}

impl Stats {
    /// Start a refresh of the collections due (`idle`: nothing in hand),
    /// one at a time.
    fn refresh(&mut self, running: &Running, idle: bool) {
        if self.refreshing.as_ref().is_some_and(|r| !r.is_finished())
            || running.config.sink != crate::config::Sink::Database
        {
            return;
        }
        let codes = self.pending.take_due(idle);
        if codes.is_empty() {
            return;
        }
        let collections = running
            .session
            .collections
            .iter()
            .filter(|c| codes.contains(&c.config.code))
            .cloned()
            .collect();
        let ctx = running.session.ctx.clone();
        self.refreshing = Some(crate::collection_stats::spawn_refresh(ctx, collections));
    }
}

/// Count a finished file; true when it was a mapping file whose lines
/// were kept.
fn finished(
    done: Result<(PathBuf, Report), tokio::task::JoinError>,
    in_flight: &mut HashSet<PathBuf>,
    totals: &mut Summary,
    notices: Option<&Notices>,
) -> bool {
    let mut mapping = false;
    match done {
        Ok((path, report)) => {
            in_flight.remove(&path);
            mapping = path
                .file_name()
                .is_some_and(|n| crate::mapping_file::is_mapping_file(&n.to_string_lossy()))
                && report.detail.starts_with("mapping file:");
            // A parked file parked again for the same reason is not news.
            if crate::logging::print_outcomes() && !report.unchanged {
                println!("{report}");
            }
            if report.kind == Kind::Failed
                && !report.unchanged
                && let Some(notices) = notices
            {
                notices.failure(&report);
            }
            totals.add(report.kind);
        }
        Err(e) if e.is_cancelled() => {}
        Err(e) => {
            tracing::error!("a file's processing crashed: {e}");
            if let Some(notices) = notices {
                notices.failure_text(format!("specdrop: a file's processing crashed: {e}"));
            }
            totals.add(Kind::Failed);
        }
    }
    mapping
}

/// The daemon's notices: the sender for the current `[notify]` and the
/// timer of the daily digest.
struct Notifying {
    config: notify::NotifyConfig,
    notifier: Option<Notifier>,
    schedule: Option<Schedule>,
    due: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Notifying {
    /// Long enough to wait unused, short enough for `Instant` arithmetic.
    const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

    fn start(config: &Config) -> Notifying {
        let notifier = Notifier::start(&config.notify);
        let schedule = notifier.as_ref().and_then(|_| Schedule::new(config));
        let wait = schedule.as_ref().map_or(Self::NEVER, |s| s.wait(crate::clock::now()));
        Notifying {
            config: config.notify.clone(),
            notifier,
            schedule,
            due: Box::pin(tokio::time::sleep(wait)),
        }
    }

    fn notices(&self) -> Option<&Notices> {
        self.notifier.as_ref().map(Notifier::notices)
    }

    /// A reloaded config with another `[notify]`: the old sender finishes
    /// what it has in the background.
    fn restart(&mut self, config: &Config) {
        let old = std::mem::replace(self, Notifying::start(config));
        if let Some(notifier) = old.notifier {
            tokio::spawn(notifier.close(Self::CLOSE));
        }
    }

    /// What is queued at shutdown gets this long to go out.
    const CLOSE: Duration = Duration::from_secs(5);

    fn send_digest(&mut self, running: &Running) {
        let notices = self.notices().cloned();
        let (Some(schedule), Some(notices)) = (&mut self.schedule, notices) else {
            return;
        };
        schedule.sent(crate::clock::now());
        notify::queue_digest(&running.config, running.session.ctx.clone(), &notices);
        let wait = schedule.wait(crate::clock::now());
        self.due.as_mut().reset(Instant::now() + wait);
    }

    async fn close(self) {
        if let Some(notifier) = self.notifier {
            notifier.close(Self::CLOSE).await;
        }
    }
}

/// The parked files worth another try: still in their drop folders, not
/// in progress, and (when the ledger knows the number that found no
/// record) with a record now: a sheet whose specimen still does not exist
/// is not read and hashed again.
async fn parked_to_retry(running: &Running, in_flight: &HashSet<PathBuf>) -> (VecDeque<(String, PathBuf)>, usize) {
    files_to_retry(running, in_flight, &[Kind::Parked]).await
}

/// [`parked_to_retry`], and after a mapping file was taken also the files
/// skipped for having no catalog number in their name: their line may be
/// in it.
async fn files_to_retry(
    running: &Running,
    in_flight: &HashSet<PathBuf>,
    outcomes: &[Kind],
) -> (VecDeque<(String, PathBuf)>, usize) {
    let ctx = &running.session.ctx;
    let parked = match ctx.ledger.listed(outcomes, u32::MAX).await {
        Ok(parked) => parked,
        Err(e) => {
            tracing::warn!("cannot list parked files: {e}");
            return (VecDeque::new(), 0);
        }
    };
    let total = parked.len();
    let mut due = VecDeque::new();
    for entry in parked {
        if entry.outcome == Kind::Skipped && entry.reason != pipeline::NO_NUMBER_IN_NAME {
            continue;
        }
        let path = entry.path;
        let Some(collection) = running
            .session
            .collections
            .iter()
            .find(|c| c.config.code == entry.collection)
        else {
            continue;
        };
        let cfg = &collection.config;
        if !path.starts_with(&cfg.drop) || in_flight.contains(&path) {
            continue;
        }
        if !crate::blocking::off_runtime(|| path.is_file()) {
            continue;
        }
        if let Some(number) = entry.catalog_number.as_deref()
            && entry.reason.starts_with("no specimen:")
            && matches!(
                ctx.portal.find(cfg.collid, number, cfg.match_rules).await,
                Ok(specdrop_mapper::Lookup::NotFound)
            )
        {
            continue;
        }
        due.push_back((entry.collection, path));
    }
    (due, total)
}

/// Files of this daemon's collections that a gone instance held (its
/// claims settled), still in their drop folders and not in progress here.
async fn left_behind(running: &Running, in_flight: &HashSet<PathBuf>) -> Vec<(String, PathBuf)> {
    let files = match running.session.ctx.ledger.left_behind().await {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!("cannot ask the shared ledger for files a gone instance held: {e}");
            return Vec::new();
        }
    };
    let ours = |code: &str, path: &Path| {
        running
            .session
            .collections
            .iter()
            .any(|c| c.config.code == code && path.starts_with(&c.config.drop))
    };
    let due: Vec<(String, PathBuf)> = files
        .into_iter()
        .filter(|(code, path)| ours(code, path) && !in_flight.contains(path))
        .filter(|(_, path)| crate::blocking::off_runtime(|| path.is_file()))
        .collect();
    if !due.is_empty() {
        tracing::info!("taking over {} file(s) an instance that is gone held", due.len());
    }
    due
}

/// SIGHUP: read the config again and, when it is good, switch to it; the
/// files in progress finish under the old one.
async fn reload(config_file: &Path, running: Running, metrics: &Arc<Metrics>) -> Running {
    notify(&[NotifyState::Reloading]);
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        notify(&[now]);
    }
    let config = match Config::load(config_file) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("config reload failed, keeping the old config:\n{e}");
            notify(&[NotifyState::Ready]);
            return running;
        }
    };
    let Running {
        config: old_config,
        watcher,
        ..
    } = running;
    // Files the old watcher had queued are found again by the new
    // watcher's start-up scan; files in progress keep their old context.
    watcher.stop().await;
    let new = match Running::start(config, metrics.clone()).await {
        Ok(new) => {
            tracing::info!("config reloaded from {}", config_file.display());
            new
        }
        Err(failure) => {
            tracing::error!("config reload failed, keeping the old config: {failure:?}");
            match Running::start(old_config, metrics.clone()).await {
                Ok(old) => old,
                Err(again) => {
                    tracing::error!("the old config cannot be started again either ({again:?}); exiting");
                    std::process::exit(1);
                }
            }
        }
    };
    notify(&[NotifyState::Ready]);
    new
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!("sd_notify: {e}");
    }
}
