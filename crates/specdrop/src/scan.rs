//! `specdrop scan`: everything in the drop folders now, then exit.

use std::sync::Arc;

use anyhow::Context as _;
use specdrop_mapper::{MapperError, Portal};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::exit::Failure;
use crate::ledger::Ledger;
use crate::outcome::{Kind, Report, Summary};
use crate::pipeline::{self, Context, Prepared};

/// Process every waiting file; each outcome is printed as it happens.
pub async fn scan(config: &Config, dry_run: bool) -> Result<Summary, Failure> {
    tracing::debug!("scan with config {}", config.file.display());
    let portal = Portal::connect(&config.database_url).await.map_err(|e| match e {
        MapperError::BadUrl { .. } => Failure::Config(format!("database.url: {e}")),
        other => Failure::Run(anyhow::Error::new(other)),
    })?;
    let collections = prepare(config, &portal).await?;
    let ledger = Ledger::open(&config.state_dir, dry_run)
        .await
        .map_err(|e| Failure::Run(e.into()))?;
    if !dry_run {
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
        portal: portal.clone(),
        ledger: ledger.clone(),
        storage_root: config.storage_root.clone(),
        derive: config.derive.clone(),
        cpu: Semaphore::new(config.threads),
        link_lock: Mutex::new(()),
        dry_run,
    });

    let mut summary = Summary::default();
    let mut tally = |report: Report| {
        println!("{report}");
        summary.add(report.kind);
    };
    // Enough files in flight to keep every worker busy while others wait
    // for the database or the disk; bounded so memory is too.
    let in_flight = config.threads + 2;
    for collection in collections {
        let collection = Arc::new(collection);
        let files = match find_files(&collection, dry_run) {
            Ok(files) => files,
            Err(report) => {
                tally(report);
                continue;
            }
        };
        for report in files.refused {
            tally(report);
        }
        let mut tasks = JoinSet::new();
        for path in files.images {
            if tasks.len() >= in_flight
                && let Some(done) = tasks.join_next().await
            {
                tally(joined(done, &collection));
            }
            tasks.spawn(pipeline::process(ctx.clone(), collection.clone(), path));
        }
        while let Some(done) = tasks.join_next().await {
            tally(joined(done, &collection));
        }
    }
    ledger.close().await;
    portal.close().await;
    Ok(summary)
}

/// A task that panicked is one failed file, not a failed run.
fn joined(done: Result<Report, tokio::task::JoinError>, collection: &Prepared) -> Report {
    done.unwrap_or_else(|e| Report {
        collection: collection.config.code.clone(),
        file: collection.config.drop.clone(),
        kind: Kind::Failed,
        detail: format!("internal error while processing a file: {e}"),
    })
}

async fn prepare(config: &Config, portal: &Portal) -> Result<Vec<Prepared>, Failure> {
    let mut prepared = Vec::new();
    for (i, c) in config.collections.iter().enumerate() {
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
    images: Vec<std::path::PathBuf>,
    refused: Vec<Report>,
}

fn find_files(collection: &Prepared, dry_run: bool) -> Result<Files, Report> {
    let c = &collection.config;
    let report = |file: std::path::PathBuf, kind, detail: String| Report {
        collection: c.code.clone(),
        file,
        kind,
        detail,
    };
    if !c.drop.exists() && !dry_run {
        // A drop folder is created on first run; the share is then ready.
        std::fs::create_dir_all(&c.drop)
            .with_context(|| format!("creating drop folder {}", c.drop.display()))
            .map_err(|e| report(c.drop.clone(), Kind::Failed, format!("{e:#}")))?;
    }
    let found = specdrop_watch::tree::walk(&c.drop, &[c.archive.as_path()])
        .map_err(|e| report(c.drop.clone(), Kind::Failed, e.to_string()))?;
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
    Ok(Files {
        images: found.images,
        refused,
    })
}
