//! `specdrop scan` and `specdrop retry`: process files now, then exit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::Error;
use crate::collection::Prepared;
use crate::config::{Config, Sink};
use crate::ledger::Ledger;
use crate::link_order::LinkOrder;
use crate::notify::Notifier;
use crate::outcome::{Kind, Report, Summary};
use crate::pipeline;
use crate::progress::Progress;
use crate::publish::publish;
use crate::session::{self, Session};

/// Which files a run takes from a collection.
pub enum Selection {
    /// Everything in the drop folder.
    DropFolder,
    /// These files only (e.g. the parked ones), when still there.
    Listed(HashMap<String, Vec<PathBuf>>),
}

/// Process every waiting file; each outcome is printed as it happens.
pub async fn scan(config: &Config, dry_run: bool) -> Result<Summary, Error> {
    Ok(run(config, dry_run, Selection::DropFolder, Output::Print).await?.0)
}

/// Process again the files the ledger lists as parked and/or failed.
pub async fn retry(config: &Config, parked: bool, failed: bool) -> Result<Summary, Error> {
    let mut outcomes = Vec::new();
    if parked {
        outcomes.push(Kind::Parked);
    }
    if failed {
        outcomes.push(Kind::Failed);
    }
    let ledger = Ledger::open_at(&config.ledger, true).await?;
    let listed = ledger.sources(&outcomes).await?;
    ledger.close().await;
    let mut by_collection: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for (collection, source) in listed {
        by_collection.entry(collection).or_default().push(source);
    }
    Ok(run(config, false, Selection::Listed(by_collection), Output::Print)
        .await?
        .0)
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
    /// Each failure goes to `notify.webhook` as in the daemon; sent
    /// meanwhile, and what is left at the end for a bounded time.
    notifier: Option<Notifier>,
}

/// How long a scan waits at its end for failure notices still unsent.
const NOTICES_AT_END: Duration = Duration::from_secs(30);

impl Tally {
    /// Count one report; 1 when it put an image into the portal.
    fn add(&mut self, report: Report) -> usize {
        self.summary.add(report.kind);
        if report.kind == Kind::Failed
            && !report.unchanged
            && let Some(notifier) = &self.notifier
        {
            notifier.notices().failure(&report);
        }
        let done = usize::from(report.kind.is_done());
        match &mut self.kept {
            Some(kept) => kept.push(report),
            None if crate::logging::print_outcomes() => self.progress.println(&report.to_string()),
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
) -> Result<(Summary, Vec<Report>), Error> {
    run_with(config, session::Options::new(config, dry_run), selection, output).await
}

/// [`run`], with the session opened as `options` say (a test's
/// checkpoints, say).
pub async fn run_with(
    config: &Config,
    options: session::Options,
    selection: Selection,
    output: Output,
) -> Result<(Summary, Vec<Report>), Error> {
    let dry_run = options.dry_run;
    let session = Session::open(config, options).await?;
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
        notifier: if dry_run { None } else { Notifier::start(&config.notify) },
    };
    tally.summary.run = (!dry_run).then(|| ctx.run.clone());
    for (collection, report) in refused {
        publish(ctx, &collection.config, &report);
        tally.add(report);
    }
    // Enough files in flight to keep every worker busy while others wait
    // for the database or the disk; bounded so memory is too.
    let in_flight = config.threads + 2;
    let order = Arc::new(LinkOrder::default());
    for (collection, images) in found {
        let mut done_here = 0;
        // Mapping files first, each to its end: the images they list must
        // find their lines when they are identified.
        let (maps, images): (Vec<PathBuf>, Vec<PathBuf>) = images.into_iter().partition(|p| {
            p.file_name()
                .is_some_and(|n| crate::mapping_file::is_mapping_file(&n.to_string_lossy()))
        });
        for path in maps {
            let report = pipeline::process(ctx.clone(), collection.clone(), path, order.ticket()).await;
            done_here += tally.add(report);
            tally.progress.inc();
        }
        let mut tasks = JoinSet::new();
        for path in images {
            if tasks.len() >= in_flight
                && let Some(done) = tasks.join_next().await
            {
                done_here += tally.add(joined(done, collection));
                tally.progress.inc();
            }
            tasks.spawn(pipeline::process(ctx.clone(), collection.clone(), path, order.ticket()));
        }
        while let Some(done) = tasks.join_next().await {
            done_here += tally.add(joined(done, collection));
            tally.progress.inc();
        }
        if done_here > 0
            && !dry_run
            && config.sink == Sink::Database
            && let Some(report) = crate::collection_stats::refresh(&ctx.portal, &ctx.outage, collection).await
        {
            publish(ctx, &collection.config, &report);
            tally.add(report);
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
                    publish(ctx, &collection.config, &report);
                    tally.add(report);
                }
            }
        }
    }
    tally.progress.finish();
    tally.summary.deferred = ctx.outage.deferred();
    if !dry_run {
        // A file parked again for the same reason marks no page as having
        // news, yet others may have left the folder since the last run.
        session.refresh_reports(total > 0).await;
    }
    // Sheets linked now (and any still queued) are read after every link
    // is done: OCR never holds up a file.
    if let Some(read) = crate::ocr::drain(&session.ctx, &config.ocr).await {
        let line = format!("ocr: {read}");
        if crate::logging::print_outcomes() {
            println!("{line}");
        } else {
            tracing::info!("{line}");
        }
    }
    session.close().await;
    if let Some(notifier) = tally.notifier.take() {
        notifier.close(NOTICES_AT_END).await;
    }
    Ok((tally.summary, tally.kept.unwrap_or_default()))
}

/// Print and count one report of a command that is not a scan (`load-log`,
/// `harvest`...); 1 when it put an image into the portal.
pub fn tally(summary: &mut Summary, report: Report) -> usize {
    if crate::logging::print_outcomes() {
        println!("{report}");
    } else {
        crate::logging::log_outcome(&report);
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
        std::fs::create_dir_all(&c.drop).map_err(|e| {
            let detail = format!("creating drop folder {}: {e}", c.drop.display());
            Box::new(report(c.drop.clone(), Kind::Failed, detail))
        })?;
    }
    let report_dir = crate::team_report::TeamReport::dir(&config.report, &c.drop);
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
    refused.extend(found.linked_folders.iter().map(|link| {
        report(
            relative(link),
            Kind::Skipped,
            "refused: a symbolic link (to a folder?), not entered, since it could lead out of the drop folder; \
             put the folder itself there"
                .into(),
        )
    }));
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
