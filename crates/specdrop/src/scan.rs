//! `specdrop scan` and `specdrop retry`: process files now, then exit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use specdrop_mapper::{Backend, MapperError, Portal};
use tokio::task::JoinSet;

use crate::config::{Config, Sink};
use crate::exit::Failure;
use crate::ledger::Ledger;
use crate::outage::Outage;
use crate::outcome::{Kind, Report, Summary};
use crate::pipeline::{self, Context, Prepared};
use crate::progress::Progress;
use crate::turnstile::Turnstile;

/// Which files a run takes from a collection.
pub enum Selection {
    /// Everything in the drop folder.
    DropFolder,
    /// These files only (e.g. the parked ones), when still there.
    Listed(HashMap<String, Vec<PathBuf>>),
}

/// Process every waiting file; each outcome is printed as it happens.
pub async fn scan(config: &Config, dry_run: bool) -> Result<Summary, Failure> {
    Ok(run(config, dry_run, Selection::DropFolder, Output::Print).await?.0)
}

/// Process again the files the ledger lists as parked and/or failed.
pub async fn retry(config: &Config, parked: bool, failed: bool) -> Result<Summary, Failure> {
    let mut outcomes = Vec::new();
    if parked {
        outcomes.push(Kind::Parked);
    }
    if failed {
        outcomes.push(Kind::Failed);
    }
    let ledger = Ledger::open(&config.state_dir, true)
        .await
        .map_err(|e| Failure::Run(e.into()))?;
    let listed = ledger.sources(&outcomes).await.map_err(|e| Failure::Run(e.into()))?;
    ledger.close().await;
    let mut by_collection: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for (collection, source) in listed {
        by_collection.entry(collection).or_default().push(PathBuf::from(source));
    }
    Ok(run(config, false, Selection::Listed(by_collection), Output::Print)
        .await?
        .0)
}

/// Open the portal database `config` names, waiting out an outage; a wrong
/// URL or schema is the config's fault (exit 2).
pub async fn connect(config: &Config, outage: &Outage) -> Result<Portal, Failure> {
    let connect = || Portal::connect(&config.database_url, config.schema);
    outage.retry("the run", connect).await.map_err(|e| match e {
        MapperError::BadUrl { .. } => Failure::Config(format!("database.url: {e}")),
        MapperError::Schema { .. } => Failure::Config(format!("database: {e}")),
        other => Failure::Run(anyhow::Error::new(other)),
    })
}

/// Everything a run needs: the shared context and the collections with
/// their portal facts, in config order.
pub struct Session {
    pub ctx: Arc<Context>,
    pub collections: Vec<Arc<Prepared>>,
}

impl Session {
    /// Connect (waiting out an outage for up to `wait`), read the
    /// collections, open the ledger and remove temporary files and
    /// unlinked derivatives a crash left.
    pub async fn open(
        config: &Config,
        dry_run: bool,
        wait: std::time::Duration,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Session, Failure> {
        tracing::debug!("session with config {}", config.file.display());
        let outage = Outage::new(wait);
        let portal = connect(config, &outage).await?;
        let collections = prepare(config, &portal).await?;
        let ledger = Ledger::open(&config.state_dir, dry_run)
            .await
            .map_err(|e| Failure::Run(e.into()))?;
        // Writing needs the state folder's lock; whoever has it alone
        // cleans up after processes that are gone (claims.rs).
        let lock = if dry_run {
            None
        } else {
            let dir = config.state_dir.clone();
            let locked = tokio::task::spawn_blocking(move || crate::claims::lock(&dir))
                .await
                .map_err(|e| Failure::Run(anyhow::anyhow!("locking the state folder: {e}")))?;
            Some(locked.map_err(|e| Failure::Run(anyhow::anyhow!(e)))?)
        };
        let alone = matches!(lock, Some((_, true)));
        if alone {
            for c in &collections {
                let dir = config.storage_root.join(&c.folder);
                match specdrop_derive::store::remove_temp_files(&dir) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("removed {n} temporary file(s) an earlier run left in {}", dir.display()),
                    Err(e) => tracing::warn!("could not clean temporary files in {}: {e}", dir.display()),
                }
            }
        }
        let ctx = Arc::new(Context {
            portal,
            ledger,
            storage_root: config.storage_root.clone(),
            modes: config.modes,
            derive: config.derive.clone(),
            sink: config.sink.clone(),
            workers: specdrop_derive::Workers::new(config.threads),
            outage,
            stopping: AtomicBool::new(false),
            dry_run,
            metrics,
            share: crate::share::ShareReport::new(&config.report),
            run: crate::claims::new_run(),
            lock,
        });
        if let Some((lock, true)) = &ctx.lock {
            crate::claims::settle(&ctx).await;
            crate::claims::share(lock).map_err(|e| Failure::Run(anyhow::anyhow!(e)))?;
        }
        Ok(Session {
            ctx,
            collections: collections.into_iter().map(Arc::new).collect(),
        })
    }

    /// Rewrite the imaging team's pages that have news (or all of them).
    pub async fn refresh_reports(&self, all: bool) {
        let configs: Vec<_> = self.collections.iter().map(|c| &c.config).collect();
        self.ctx.share.refresh(&self.ctx.ledger, &configs, all).await;
    }

    pub async fn close(&self) {
        self.ctx.ledger.close().await;
        self.ctx.portal.close().await;
    }
}

/// Where a run's outcomes go: printed as they happen (with progress), or
/// kept for the caller (`check`'s table).
pub enum Output {
    Print,
    Collect,
}

/// Outcomes so far.
struct Tally {
    summary: Summary,
    progress: Progress,
    kept: Option<Vec<Report>>,
}

impl Tally {
    /// Count one report; 1 when it put an image into the portal.
    fn add(&mut self, report: Report) -> usize {
        self.summary.add(report.kind);
        let done = usize::from(report.kind.is_done());
        match &mut self.kept {
            Some(kept) => kept.push(report),
            None if crate::events::print_outcomes() => self.progress.println(&report.to_string()),
            None => {}
        }
        done
    }
}

pub async fn run(
    config: &Config,
    dry_run: bool,
    selection: Selection,
    output: Output,
) -> Result<(Summary, Vec<Report>), Failure> {
    let session = Session::open(config, dry_run, config.database_wait, Default::default()).await?;
    let ctx = &session.ctx;
    let mut found = Vec::new();
    let mut refused = Vec::new();
    for collection in &session.collections {
        let files = match &selection {
            Selection::DropFolder => find_files(collection, config, dry_run),
            Selection::Listed(listed) => Ok(still_there(collection, listed)),
        };
        match files {
            Ok(files) => {
                refused.extend(files.refused.into_iter().map(|r| (collection, r)));
                found.push((collection, files.images));
            }
            Err(report) => refused.push((collection, *report)),
        }
    }
    let total = found.iter().map(|(_, images)| images.len()).sum();
    let mut tally = Tally {
        summary: Summary::default(),
        progress: Progress::new(total, matches!(output, Output::Print)),
        kept: matches!(output, Output::Collect).then(Vec::new),
    };
    for (collection, report) in refused {
        crate::events::told(ctx, &collection.config, &report);
        tally.add(report);
    }
    // Enough files in flight to keep every worker busy while others wait
    // for the database or the disk; bounded so memory is too.
    let in_flight = config.threads + 2;
    let turnstile = Arc::new(Turnstile::default());
    for (collection, images) in found {
        let mut done_here = 0;
        let mut tasks = JoinSet::new();
        for path in images {
            if tasks.len() >= in_flight
                && let Some(done) = tasks.join_next().await
            {
                done_here += tally.add(joined(done, collection));
                tally.progress.inc();
            }
            tasks.spawn(pipeline::process(
                ctx.clone(),
                collection.clone(),
                path,
                turnstile.ticket(),
            ));
        }
        while let Some(done) = tasks.join_next().await {
            done_here += tally.add(joined(done, collection));
            tally.progress.inc();
        }
        if let Some(procedure) = &collection.config.after_batch_procedure
            && done_here > 0
            && !dry_run
            && config.sink == Sink::Database
        {
            let called = ctx
                .outage
                .retry(procedure, || {
                    ctx.portal.call_procedure(procedure, collection.config.collid)
                })
                .await;
            match called {
                Ok(()) => tracing::info!("called after_batch_procedure {procedure}({})", collection.config.collid),
                Err(e) => {
                    let report = Report::new(
                        &collection.config.code,
                        "(after_batch_procedure)",
                        Kind::Failed,
                        e.to_string(),
                    );
                    crate::events::told(ctx, &collection.config, &report);
                    tally.add(report);
                }
            }
        }
    }
    tally.progress.finish();
    tally.summary.deferred = ctx.outage.deferred();
    if !dry_run {
        session.refresh_reports(false).await;
    }
    session.close().await;
    Ok((tally.summary, tally.kept.unwrap_or_default()))
}

/// Print and count one report of a command that is not a scan (`load-log`,
/// `harvest`...); 1 when it put an image into the portal.
pub fn tally(summary: &mut Summary, report: Report) -> usize {
    if crate::events::print_outcomes() {
        println!("{report}");
    } else {
        crate::events::log_outcome(&report);
    }
    summary.add(report.kind);
    usize::from(report.kind.is_done())
}

/// A task that panicked is one failed file, not a failed run.
fn joined(done: Result<Report, tokio::task::JoinError>, collection: &Prepared) -> Report {
    done.unwrap_or_else(|e| {
        Report::new(
            &collection.config.code,
            collection.config.drop.clone(),
            Kind::Failed,
            format!("internal error while processing a file: {e}"),
        )
    })
}

pub async fn prepare(config: &Config, portal: &Portal) -> Result<Vec<Prepared>, Failure> {
    let mut prepared = Vec::new();
    for (i, c) in config.collections.iter().enumerate() {
        if c.after_batch_procedure.is_some() && portal.backend() == Backend::Sqlite {
            return Err(Failure::Config(format!(
                "collection[{i}].after_batch_procedure: SQLite has no stored procedures; remove the key or use a MariaDB/MySQL portal"
            )));
        }
        let info = portal.collection(c.collid).await.map_err(|e| match e {
            MapperError::UnknownCollection { .. } => {
                Failure::Config(format!("collection[{i}].collid ({}): {e}", c.code))
            }
            other => Failure::Run(anyhow::Error::new(other).context(format!("reading collection {}", c.code))),
        })?;
        let folder =
            specdrop_derive::layout::collection_fragment(&info.institution_code, info.collection_code.as_deref());
        prepared.push(Prepared {
            config: c.clone(),
            info,
            folder,
        });
    }
    Ok(prepared)
}

struct Files {
    images: Vec<PathBuf>,
    refused: Vec<Report>,
}

fn still_there(collection: &Prepared, listed: &HashMap<String, Vec<PathBuf>>) -> Files {
    let c = &collection.config;
    let images = listed
        .get(&c.code)
        .map(|paths| {
            paths
                .iter()
                .filter(|p| p.starts_with(&c.drop) && p.is_file())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Files {
        images,
        refused: Vec::new(),
    }
}

fn find_files(collection: &Prepared, config: &Config, dry_run: bool) -> Result<Files, Box<Report>> {
    let c = &collection.config;
    let report = |file: PathBuf, kind, detail: String| Report::new(&c.code, file, kind, detail);
    if !c.drop.exists() && !dry_run {
        // A drop folder is created on first run; the share is then ready.
        std::fs::create_dir_all(&c.drop)
            .with_context(|| format!("creating drop folder {}", c.drop.display()))
            .map_err(|e| Box::new(report(c.drop.clone(), Kind::Failed, format!("{e:#}"))))?;
    }
    let report_dir = crate::share::ShareReport::dir(&config.report, &c.drop);
    let skip: Vec<&std::path::Path> = [Some(c.archive.as_path()), report_dir.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let found = specdrop_watch::tree::walk(&c.drop, &skip, &config.accept())
        .map_err(|e| Box::new(report(c.drop.clone(), Kind::Failed, e.to_string())))?;
    let relative = |p: &std::path::Path| p.strip_prefix(&c.drop).unwrap_or(p).to_path_buf();
    let mut refused: Vec<Report> = found
        .links
        .iter()
        .map(|link| {
            report(
                relative(link),
                Kind::Skipped,
                "refused: a symbolic link, which could lead out of the drop folder; copy the file itself".into(),
            )
        })
        .collect();
    refused.extend(
        found
            .unreadable
            .into_iter()
            .map(|(path, reason)| report(relative(&path), Kind::Failed, format!("cannot read: {reason}"))),
    );
    // Archive masters go through the pipeline too, which refuses them by
    // name with the reason (and without reading them).
    let mut images = found.images;
    images.extend(found.archives);
    images.extend(found.skeletal);
    images.sort();
    Ok(Files { images, refused })
}
