//! `specdrop status`: what the ledger and the running daemon say.
//!
//! The daemon rewrites `<state_dir>/daemon-status.json` every few seconds
//! (queue depth, files in progress, whether the database is reachable);
//! counts and lists come from the ledger, opened read-only, so `status`
//! works while the daemon runs and before anything has run at all.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::config::Config;
use crate::ledger::{Ledger, Listed};
use crate::outcome::{Kind, Summary};

const STATUS_FILE: &str = "daemon-status.json";
/// A status file older than this is from a daemon that is gone.
const STALE: Duration = Duration::from_secs(60);
const LISTED: u32 = 100;
const LAST_FAILURES: usize = 10;

/// What the daemon says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Daemon {
    pub pid: u32,
    pub config: PathBuf,
    pub started_unix: u64,
    pub updated_unix: u64,
    pub waiting: usize,
    pub in_progress: usize,
    /// Seconds the portal database has been unavailable, while it is.
    pub database_unavailable_secs: Option<u64>,
    pub since_start: Counts,
    #[serde(default)]
    pub running: bool,
}

/// Counts by outcome, as JSON keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    pub linked: u64,
    pub parked: u64,
    pub skeletal: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl Counts {
    fn set(&mut self, kind: Kind, n: u64) {
        match kind {
            Kind::Linked => self.linked = n,
            Kind::Parked => self.parked = n,
            Kind::Skeletal => self.skeletal = n,
            Kind::Failed => self.failed = n,
            Kind::Skipped => self.skipped = n,
        }
    }

    fn from_summary(summary: &Summary) -> Counts {
        let mut counts = Counts::default();
        for kind in Kind::ALL {
            counts.set(kind, summary.count(kind) as u64);
        }
        counts
    }

    fn from_pairs(pairs: &[(Kind, u64)]) -> Counts {
        let mut counts = Counts::default();
        for (kind, n) in pairs {
            counts.set(*kind, *n);
        }
        counts
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} linked, {} parked, {} skeletal, {} failed, {} skipped",
            self.linked, self.parked, self.skeletal, self.failed, self.skipped
        )
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The daemon's side: keeps the status file up to date.
pub struct DaemonStatus {
    file: PathBuf,
    daemon: Daemon,
}

impl DaemonStatus {
    pub fn new(config: &Config) -> DaemonStatus {
        let now = unix_now();
        DaemonStatus {
            file: config.state_dir.join(STATUS_FILE),
            daemon: Daemon {
                pid: std::process::id(),
                config: config.file.clone(),
                started_unix: now,
                updated_unix: now,
                waiting: 0,
                in_progress: 0,
                database_unavailable_secs: None,
                since_start: Counts::default(),
                running: true,
            },
        }
    }

    pub fn update(&mut self, waiting: usize, in_progress: usize, totals: &Summary, down: Option<Duration>) {
        let d = &mut self.daemon;
        d.updated_unix = unix_now();
        d.waiting = waiting;
        d.in_progress = in_progress;
        d.database_unavailable_secs = down.map(|d| d.as_secs());
        d.since_start = Counts::from_summary(totals);
        self.write();
    }

    /// The one-line STATUS= systemd shows.
    pub fn line(&self) -> String {
        let d = &self.daemon;
        let db = match d.database_unavailable_secs {
            Some(s) => format!("; portal database UNAVAILABLE for {s}s"),
            None => String::new(),
        };
        format!(
            "{} waiting, {} in progress; since start: {}{db}",
            d.waiting, d.in_progress, d.since_start
        )
    }

    pub fn stopped(&mut self) {
        self.daemon.running = false;
        self.daemon.waiting = 0;
        self.daemon.in_progress = 0;
        self.daemon.updated_unix = unix_now();
        self.write();
    }

    fn write(&self) {
        let Ok(json) = serde_json::to_vec_pretty(&self.daemon) else {
            return;
        };
        let temp = self.file.with_extension("json.tmp");
        let written = std::fs::write(&temp, json).and_then(|()| std::fs::rename(&temp, &self.file));
        if let Err(e) = written {
            tracing::debug!("cannot write {}: {e}", self.file.display());
        }
    }
}

/// What `status --json` prints.
#[derive(Debug, Serialize)]
pub struct Status {
    /// `null` when no daemon has run with this state_dir.
    pub daemon: Option<Daemon>,
    /// Complete files waiting or in progress in the running daemon.
    pub queue_depth: usize,
    pub today: Counts,
    pub total: Counts,
    /// Parked files still in their drop folders, newest first.
    pub parked: Vec<Listed>,
    pub last_failures: Vec<Listed>,
    /// The latest runs that linked files, newest first: their ids are
    /// what `specdrop undo --batch` takes.
    pub runs: Vec<RunListed>,
    /// With a shared ledger: every instance of the last day (instances.rs);
    /// empty with the SQLite file.
    pub instances: Vec<crate::instances::Instance>,
    /// Every `rebuild` job list: rows done of the total, rate, time left.
    pub rebuilds: Vec<crate::rebuild::jobs::ListProgress>,
    /// The OCR queue (`[ocr]`) by state: `queued` waits for Tesseract,
    /// `done` and `empty` were read, `skipped` and `failed` were not.
    pub ocr: std::collections::BTreeMap<String, i64>,
}

#[derive(Debug, Serialize)]
pub struct RunListed {
    pub run: String,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub first: String,
    pub last: String,
    pub files: i64,
}

/// Runs listed by `status`.
const RUNS: u32 = 5;

pub async fn gather(config: &Config) -> Result<Status, Error> {
    let ledger = Ledger::open_at(&config.ledger, true).await.map_err(Error::from)?;
    let run = |e: crate::ledger::LedgerError| Error::from(e);
    let today = Counts::from_pairs(&ledger.counts(true).await.map_err(run)?);
    let total = Counts::from_pairs(&ledger.counts(false).await.map_err(run)?);
    let parked: Vec<Listed> = ledger
        .listed(&[Kind::Parked], LISTED)
        .await
        .map_err(run)?
        .into_iter()
        .filter(|p| p.path.is_file())
        .collect();
    let mut last_failures = ledger.listed(&[Kind::Failed], LISTED).await.map_err(run)?;
    last_failures.truncate(LAST_FAILURES);
    // A ledger of an earlier version, read as it is, has no runs.
    let runs = ledger
        .runs(RUNS)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(run, first, last, files)| RunListed {
            run,
            first,
            last,
            files,
        })
        .collect();
    let instances = if ledger.shared() {
        ledger.instances().await.map_err(run)?
    } else {
        Vec::new()
    };
    let rebuilds = ledger.rebuild_lists().await.unwrap_or_default();
    // A ledger from before OCR has no queue.
    let ocr = ledger.ocr_counts().await.unwrap_or_default().into_iter().collect();
    ledger.close().await;
    let daemon = read_daemon(&config.state_dir);
    let queue_depth = daemon
        .as_ref()
        .filter(|d| d.running)
        .map_or(0, |d| d.waiting + d.in_progress);
    Ok(Status {
        daemon,
        queue_depth,
        today,
        total,
        parked,
        last_failures,
        runs,
        instances,
        rebuilds,
        ocr,
    })
}

/// The daemon's status file; `running` is false when the daemon stopped
/// or vanished (its process is gone or the file is stale).
fn read_daemon(state_dir: &Path) -> Option<Daemon> {
    let text = std::fs::read(state_dir.join(STATUS_FILE)).ok()?;
    let mut daemon: Daemon = serde_json::from_slice(&text).ok()?;
    let alive = Path::new(&format!("/proc/{}", daemon.pid)).exists();
    let fresh = unix_now().saturating_sub(daemon.updated_unix) < STALE.as_secs();
    daemon.running = daemon.running && alive && fresh;
    Some(daemon)
}

pub async fn command(config: &Config, json: bool) -> Result<ExitCode, Error> {
    let status = gather(config).await?;
    if json {
        let text = serde_json::to_string_pretty(&status).map_err(|e| Error::Run(format!("status as JSON: {e}")))?;
        println!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    match &status.daemon {
        Some(d) if d.running => {
            let db = match d.database_unavailable_secs {
                Some(s) => format!("portal database UNAVAILABLE for {s}s (files wait, none are failed for it)"),
                None => "portal database reachable".into(),
            };
            println!(
                "daemon:   running (pid {}), {} waiting, {} in progress; {db}",
                d.pid, d.waiting, d.in_progress
            );
            println!("          since start: {}", d.since_start);
        }
        Some(d) => println!(
            "daemon:   not running (last seen {}s ago)",
            unix_now().saturating_sub(d.updated_unix)
        ),
        None => println!("daemon:   has not run with state_dir {}", config.state_dir.display()),
    }
    println!("today:    {}", status.today);
    println!("total:    {}", status.total);
    let show = |title: &str, list: &[Listed]| {
        println!("{title} ({}):", list.len());
        for item in list {
            println!(
                "  {} UTC  {}  {}: {}",
                item.updated,
                item.collection,
                crate::outcome::printable(&item.source),
                item.reason
            );
        }
    };
    show("parked, still in the drop folder", &status.parked);
    show("last failures", &status.last_failures);
    println!("runs that linked files ({}), newest first:", status.runs.len());
    for r in &status.runs {
        println!("  run {}  {} file(s), {} to {} UTC", r.run, r.files, r.first, r.last);
    }
    if matches!(config.ledger, crate::ledger::Place::Server(_)) {
        println!(
            "instances on the shared ledger ({}), latest heartbeat first:",
            status.instances.len()
        );
        for i in &status.instances {
            println!(
                "  {}  {}, last heartbeat {}s ago, {} file(s) in hand, version {} (host {}, pid {})",
                i.name, i.state, i.heartbeat_age, i.in_hand, i.version, i.host, i.pid
            );
        }
    }
    if !status.ocr.is_empty() {
        let count = |state: &str| status.ocr.get(state).copied().unwrap_or(0);
        println!(
            "ocr:      {} queued, {} read ({} with no text), {} skipped, {} failed",
            count("queued"),
            count("done") + count("empty"),
            count("empty"),
            count("skipped"),
            count("failed")
        );
    }
    for r in &status.rebuilds {
        let since = if r.since.is_empty() {
            String::new()
        } else {
            format!(" since {}", r.since)
        };
        let pace = match (r.finished, r.left_secs) {
            (true, _) => "finished".to_string(),
            (false, Some(left)) => format!("{:.1} rows/s, about {left}s left", r.rate),
            (false, None) => "rate not known yet".to_string(),
        };
        println!(
            "rebuild {} ({}{since}): {}/{} rows done, {} failed; {pace}",
            r.collection, r.sizes, r.done, r.total, r.failed
        );
    }
    Ok(ExitCode::SUCCESS)
}
