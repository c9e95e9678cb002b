//! What every file's way through the pipeline shares, for one session.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use specdrop_derive::DeriveConfig;
use specdrop_derive::store;
use specdrop_mapper::Portal;

use crate::checkpoint::Checkpoints;
use crate::config::Sink;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::outage::Outage;
use crate::state_lock::StateLock;
use crate::team_report::TeamReport;

pub struct Context {
    pub portal: Portal,
    pub ledger: Ledger,
    /// Where derivatives go: the image library's folder or a bucket.
    pub storage: crate::storage::Storage,
    /// `watch.settle_secs`: a text file changed more recently than this
    /// is still arriving.
    pub settle: std::time::Duration,
    /// Where the ledger and the locks between processes live.
    pub state_dir: PathBuf,
    /// Permissions of derivative files and folders.
    pub modes: store::Modes,
    pub derive: DeriveConfig,
    pub sink: Sink,
    /// The threads that decode, resize and encode (`workers.threads`).
    pub workers: specdrop_derive::Workers,
    /// The pixels the workers may hold at once (`workers.memory_mb`).
    pub memory: crate::memory_budget::MemoryBudget,
    /// Waiting out an unreachable or locked portal database.
    pub outage: Outage,
    /// Set on shutdown: files between stages stop cleanly (nothing half
    /// written) and are taken again at the next start.
    pub stopping: AtomicBool,
    pub dry_run: bool,
    pub metrics: Arc<Metrics>,
    /// The imaging team's report in each drop folder.
    pub team_report: TeamReport,
    /// This session's id on its claims (claims.rs).
    pub run: String,
    /// This session in a shared ledger (instances.rs); none with the
    /// SQLite file, or in a dry run.
    pub me: Option<crate::instances::Me>,
    /// The collections' folders in the image library (none for a bucket),
    /// where a gone process's temporary files are looked for.
    pub temp_dirs: Vec<PathBuf>,
    /// The state folder's lock, held for the session's life (none in a
    /// dry run, which writes nothing).
    pub lock: Option<StateLock>,
    /// `[remote]`: fetching images that live elsewhere, for derivatives.
    pub remote: crate::config::remote::RemoteConfig,
    /// Where a test may stop the process (checkpoint.rs).
    pub checkpoints: Arc<dyn Checkpoints>,
    /// Told once when the other instances took this session for gone (it
    /// stalled past its lease and they settled its claims): it may link
    /// nothing more and ends, to start again as a new session.
    pub superseded: tokio::sync::Notify,
}

impl Context {
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}
