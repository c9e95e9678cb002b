//! What one run opens and closes: the portal, the collections with the
//! portal's facts, the ledger, the workers and the state folder's lock;
//! and the clean-up after processes that are gone.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use specdrop_mapper::{MapperError, Portal};

use crate::Error;
use crate::checkpoint::{Checkpoints, NoCheckpoints};
use crate::collection::{self, Prepared};
use crate::config::Config;
use crate::context::Context;
use crate::instances::Me;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::outage::Outage;
use crate::state_lock::StateLock;
use crate::storage::Storage;
use crate::team_report::TeamReport;

/// Everything a run needs: the shared context and the collections with
/// their portal facts, in config order.
pub struct Session {
    pub ctx: Arc<Context>,
    pub collections: Vec<Arc<Prepared>>,
    /// With a shared ledger: the task that keeps this session alive there
    /// and settles after sessions that are gone (instances.rs).
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

/// How a session is opened.
pub struct Options {
    /// Say what would happen; write nothing (no lock, no clean-up).
    pub dry_run: bool,
    /// How long to wait out an unreachable database (a daemon: for ever).
    pub wait: Duration,
    pub metrics: Arc<Metrics>,
    pub checkpoints: Arc<dyn Checkpoints>,
    /// This session's name in a shared ledger: `daemon.instance` for the
    /// daemon, `<name>-<pid>` (the default) for anything beside it.
    pub instance: String,
}

impl Options {
    pub fn new(config: &Config, dry_run: bool) -> Options {
        Options {
            dry_run,
            wait: config.database_wait,
            metrics: Arc::default(),
            checkpoints: Arc::new(NoCheckpoints),
            instance: format!("{}-{}", config.instance, std::process::id()),
        }
    }
}

/// Open the portal database `config` names, waiting out an outage; a wrong
/// URL or schema is the config's fault (exit 2).
pub async fn connect(config: &Config, outage: &Outage) -> Result<Portal, Error> {
    let connect = || Portal::connect(&config.database_url, config.schema);
    outage.retry("the run", connect).await.map_err(|e| match e {
        MapperError::BadUrl { .. } => Error::Config(format!("database.url: {e}")),
        MapperError::Schema { .. } => Error::Config(format!("database: {e}")),
        other => Error::from(other),
    })
}

/// Open the ledger; a shared one that does not answer is waited for (as
/// long as an outage of the portal database: a daemon for ever), so a
/// daemon started before its ledger's server comes up when that does.
async fn open_ledger(config: &Config, dry_run: bool, wait: Duration) -> Result<Ledger, Error> {
    let unreachable = |e: &crate::ledger::LedgerError| matches!(e, crate::ledger::LedgerError::Unreachable { .. });
    crate::outage::with_backoff(wait, "opening the ledger", unreachable, || {
        Ledger::open_at(&config.ledger, dry_run)
    })
    .await
    .map_err(Error::from)
}

impl Session {
    /// Connect (waiting out an outage for up to `options.wait`), read the
    /// collections, open the ledger and, when no other specdrop runs,
    /// remove temporary files and unlinked derivatives a crash left.
    pub async fn open(config: &Config, options: Options) -> Result<Session, Error> {
        tracing::debug!("session with config {}", config.file.display());
        let dry_run = options.dry_run;
        let outage = Outage::new(options.wait);
        let portal = connect(config, &outage).await?;
        let collections = collection::prepare(config, &portal).await?;
        let ledger = open_ledger(config, dry_run, options.wait).await?;
        let run = crate::claims::new_run();
        let me = (ledger.shared() && !dry_run).then(|| Me {
            run: run.clone(),
            name: options.instance.clone(),
            lease_secs: i64::try_from(config.lease.as_secs()).unwrap_or(30),
        });
        if let Some(me) = &me {
            ledger.register(me).await?;
        }
        options.metrics.set_instance(&options.instance);
        // Writing needs the state folder's lock; whoever has it alone
        // cleans up after processes that are gone (claims.rs).
        let lock = if dry_run {
            None
        } else {
            // The SQLite ledger made it already; a shared one does not.
            std::fs::create_dir_all(&config.state_dir).map_err(|e| {
                Error::Run(format!(
                    "cannot create state_dir {} ({e}); specdrop's user must be able to write there",
                    config.state_dir.display()
                ))
            })?;
            let dir = config.state_dir.clone();
            let locked = tokio::task::spawn_blocking(move || StateLock::take(&dir))
                .await
                .map_err(|e| Error::Run(format!("locking the state folder: {e}")))?;
            Some(locked.map_err(Error::Run)?)
        };
        let alone = lock.as_ref().is_some_and(StateLock::alone);
        let storage = Storage::open(config)?;
        // A bucket has no temporary objects: each PUT is whole or absent.
        // With a shared ledger, another host may be writing one now.
        if alone && me.is_none() && matches!(storage, Storage::Folder { .. }) {
            remove_temp_files(config, &collections);
        }
        let storage_kind_is_folder = matches!(storage, Storage::Folder { .. });
        let ctx = Arc::new(Context {
            portal,
            ledger,
            storage,
            state_dir: config.state_dir.clone(),
            settle: config.watch.settle(),
            modes: config.modes,
            derive: config.derive.clone(),
            sink: config.sink.clone(),
            workers: specdrop_derive::Workers::new(config.threads),
            memory: crate::memory_budget::MemoryBudget::new(config.memory_mb),
            outage,
            stopping: AtomicBool::new(false),
            dry_run,
            metrics: options.metrics,
            team_report: TeamReport::new(&config.report),
            run,
            me,
            temp_dirs: if storage_kind_is_folder {
                collections
                    .iter()
                    .map(|c| config.storage_root.join(&c.folder))
                    .collect()
            } else {
                Vec::new()
            },
            lock,
            remote: config.remote.clone(),
            checkpoints: options.checkpoints,
            superseded: tokio::sync::Notify::new(),
        });
        // With a shared ledger, claims are settled by whose they were
        // (gone sessions only), never by being alone on this host.
        if alone && let Some(lock) = &ctx.lock {
            if ctx.me.is_none() {
                crate::claims::settle(&ctx).await;
            }
            lock.let_others_write().map_err(Error::Run)?;
        }
        let heartbeat = ctx.me.as_ref().map(|me| {
            let (ctx, every) = (ctx.clone(), Duration::from_secs((me.lease_secs / 3).max(1) as u64));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    crate::claims::keep_alive(&ctx).await;
                }
            })
        });
        Ok(Session {
            ctx,
            collections: collections.into_iter().map(Arc::new).collect(),
            heartbeat,
        })
    }

    /// Rewrite the imaging team's pages that have news (or all of them).
    pub async fn refresh_reports(&self, all: bool) {
        let configs: Vec<_> = self.collections.iter().map(|c| &c.config).collect();
        self.ctx.team_report.refresh(&self.ctx.ledger, &configs, all).await;
    }

    pub async fn close(&self) {
        if let Some(heartbeat) = &self.heartbeat {
            heartbeat.abort();
        }
        if let Some(me) = &self.ctx.me
            && let Err(e) = self.ctx.ledger.end(me).await
        {
            tracing::warn!("could not let go of this instance's files in the shared ledger: {e}");
        }
        self.ctx.ledger.close().await;
        self.ctx.portal.close().await;
    }
}

/// Temporary files of writes a killed process never finished.
fn remove_temp_files(config: &Config, collections: &[Prepared]) {
    for c in collections {
        let dir = config.storage_root.join(&c.folder);
        match specdrop_derive::store::remove_temp_files(&dir) {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} temporary file(s) an earlier run left in {}", dir.display()),
            Err(e) => tracing::warn!("could not clean temporary files in {}: {e}", dir.display()),
        }
    }
}

/// A session of collection `code` alone, for a command that writes
/// derivatives for one collection (`ocr`, `thumbnails`, remote links with
/// `remote.derive`); its one collection is `collections[0]`.
pub async fn open_one(config: &Config, code: &str) -> Result<Session, Error> {
    collection::position(config, code)?;
    let only = Config {
        collections: config.collections.iter().filter(|c| c.code == code).cloned().collect(),
        ..config.clone()
    };
    Session::open(&only, Options::new(&only, false)).await
}

/// The portal and collection `code` alone, for a command that works on
/// one collection (`import-skeletal`, `harvest`, `import-links`).
pub async fn open_collection(config: &Config, code: &str) -> Result<(Portal, Prepared, Outage), Error> {
    let index = collection::position(config, code)?;
    let outage = Outage::new(config.database_wait);
    let portal = connect(config, &outage).await?;
    let mut collections = collection::prepare(config, &portal).await?;
    Ok((portal, collections.swap_remove(index), outage))
}
