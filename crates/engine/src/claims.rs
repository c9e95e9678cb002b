//! Derivatives between appearing in the image library and having their
//! row committed. A kill in that window would leave files no row points
//! to, so the paths are claimed in the ledger before they appear (see
//! `store::write_set_claimed`) and released once the row, or the undo, is
//! done. At start-up the claims a dead process left are settled: files a
//! row (or the sink log) points to stay, the others are removed.
//!
//! Only claims of processes that are gone may be settled. With the SQLite
//! ledger every process that writes holds the state folder's lock shared
//! for its life (state_lock.rs), and settling needs that lock exclusively,
//! so it happens only when no other specdrop (a daemon, a `scan`) is
//! running, and never on a reload, whose old session is still finishing
//! its files. With a shared ledger a session is gone when it ended or its
//! heartbeat is older than its lease (instances.rs): any live session
//! settles the claims of that session alone, from its heartbeat.

use std::path::{Path, PathBuf};

use specdrop_derive::store::{Claims, StoredSet};

use crate::config::{Sink, UrlBase};
use crate::context::Context;
use crate::instances::Gone;
use crate::ledger::{Claimed, Ledger};
use crate::storage::{LocationClaims, Removal};

/// An id for this session's claims: process id and start time.
pub fn new_run() -> String {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{started}", std::process::id())
}

/// Claims in the ledger for one file's derivatives, from the blocking
/// thread that writes them.
pub struct LedgerClaims {
    pub runtime: tokio::runtime::Handle,
    pub ledger: Ledger,
    pub run: String,
    pub hash: String,
    pub root: PathBuf,
    pub url_base: UrlBase,
}

impl LocationClaims for LedgerClaims {
    fn claim_locations(&mut self, files: &[(String, String)]) -> std::io::Result<()> {
        self.runtime
            .block_on(self.ledger.claim(&self.run, &self.hash, files))
            .map_err(|e| {
                if e.is_taken() {
                    std::io::Error::new(std::io::ErrorKind::AlreadyExists, e.to_string())
                } else {
                    std::io::Error::other(e)
                }
            })
    }

    fn unclaim_locations(&mut self, locations: &[String]) {
        if let Err(e) = self.runtime.block_on(self.ledger.unclaim(&self.run, locations)) {
            tracing::warn!("{e}");
        }
    }

    fn url_of(&self, relative: &str) -> String {
        self.url_base.join(relative)
    }
}

impl Claims for LedgerClaims {
    fn claim(&mut self, paths: &[&Path]) -> std::io::Result<()> {
        let files: Vec<(String, String)> = paths
            .iter()
            .map(|path| {
                let relative = path.strip_prefix(&self.root).unwrap_or(path).to_string_lossy();
                (path.to_string_lossy().into_owned(), self.url_base.join(&relative))
            })
            .collect();
        self.claim_locations(&files)
    }

    fn unclaim(&mut self, paths: &[&Path]) {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        self.unclaim_locations(&paths);
    }
}

/// Take back a set whose row was not written: remove its files and, once
/// they are gone, its claim. A file that cannot be removed keeps its claim,
/// so the next start tries again.
pub async fn undo(ctx: &Context, stored: &StoredSet, hash: &str, source: &Path) {
    match ctx.storage.remove_set(stored).await {
        Ok(()) => release(ctx, hash).await,
        Err(e) => {
            tracing::warn!(
                "could not remove the derivatives of {}: {e}; the next start removes them",
                source.display()
            );
            set_aside(ctx, hash).await;
        }
    }
}

/// This session's files of `hash` are settled (committed with their row,
/// or gone).
pub async fn release(ctx: &Context, hash: &str) {
    if let Err(e) = ctx.ledger.release(&ctx.run, hash).await {
        tracing::warn!("{e}");
    }
}

/// Leave this session's files of `hash` and their claim for the next
/// start to settle: whether a row points at them cannot be told now.
pub async fn set_aside(ctx: &Context, hash: &str) {
    if let Err(e) = ctx.ledger.set_aside(&ctx.run, hash).await {
        tracing::warn!("{e}");
    }
}

/// The claim keys of one stored set: its files' paths (or locations).
fn paths_of(stored: &StoredSet) -> Vec<String> {
    stored.files().map(|f| f.path.to_string_lossy().into_owned()).collect()
}

/// This session's files of one set are settled; unlike [`release`], a set
/// of the same content (two links to identical bytes) keeps its claims.
pub async fn release_set(ctx: &Context, stored: &StoredSet) {
    if let Err(e) = ctx.ledger.unclaim(&ctx.run, &paths_of(stored)).await {
        tracing::warn!("{e}");
    }
}

/// Leave one set of this session for the next start to settle (see
/// [`set_aside`]), by its own paths.
pub async fn set_aside_set(ctx: &Context, stored: &StoredSet) {
    if let Err(e) = ctx.ledger.set_aside_paths(&ctx.run, &paths_of(stored)).await {
        tracing::warn!("{e}");
    }
}

/// [`undo`] of one set, its claims taken back by its own paths.
pub async fn undo_set(ctx: &Context, stored: &StoredSet, source: &str) {
    match ctx.storage.remove_set(stored).await {
        Ok(()) => release_set(ctx, stored).await,
        Err(e) => {
            tracing::warn!("could not remove the derivatives of {source}: {e}; the next start removes them");
            set_aside_set(ctx, stored).await;
        }
    }
}

/// What start-up did with the claims an interrupted run left.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Files removed: no row points to them.
    pub removed: usize,
    /// Sets kept: their row was committed before the interruption.
    pub kept: usize,
}

/// Settle every claim left by processes that are gone (the caller holds
/// the lock exclusively). Nothing is removed while it cannot be known
/// whether a row points at it (the database does not answer, the sink log
/// cannot be read): that claim waits for the next start.
pub async fn settle(ctx: &Context) -> Settled {
    settle_runs(ctx, None).await.0
}

/// With a shared ledger, every third of the lease: renew this session's
/// leases, then settle the claims of sessions that are gone, one at a
/// time, each by the live session that marks it first.
pub async fn keep_alive(ctx: &Context) {
    let Some(me) = &ctx.me else { return };
    if let Err(e) = ctx.ledger.heartbeat(me).await {
        tracing::warn!("could not renew this instance's leases in the shared ledger: {e}");
        return;
    }
    if matches!(ctx.ledger.taken_for_gone(me).await, Ok(true)) && !ctx.stopping() {
        tracing::error!(
            "the other instances took this one ({}) for gone: it was silent for longer than daemon.lease_secs \
             (paused, swapped out or cut off) and they settled its files; it links nothing more and stops, \
             to start again as a new session",
            me.name
        );
        ctx.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        ctx.superseded.notify_one();
        return;
    }
    let gone = match ctx.ledger.gone().await {
        Ok(gone) => gone,
        Err(e) => {
            tracing::warn!("could not ask the shared ledger for instances that are gone: {e}");
            return;
        }
    };
    for Gone { run, here } in gone {
        if !matches!(ctx.ledger.settle_gone(me, &run).await, Ok(true)) {
            continue;
        }
        if let Some(pid) = here {
            remove_temp_files_of(ctx, pid);
        }
        let (settled, left) = settle_runs(ctx, Some(&run)).await;
        if settled.removed + settled.kept > 0 {
            tracing::info!(
                "settled after instance session {run}: {} derivative file(s) removed, {} set(s) kept",
                settled.removed,
                settled.kept
            );
        }
        if let Err(e) = ctx.ledger.settled(&run, left == 0).await {
            tracing::warn!("{e}");
        }
    }
}

/// Temporary files a gone process of this host left in the collections'
/// folders of the image library.
fn remove_temp_files_of(ctx: &Context, pid: u32) {
    for dir in &ctx.temp_dirs {
        match crate::blocking::off_runtime(|| specdrop_derive::store::remove_temp_files_of(dir, pid)) {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} temporary file(s) process {pid} left in {}", dir.display()),
            Err(e) => tracing::warn!("could not clean temporary files in {}: {e}", dir.display()),
        }
    }
}

/// Whether a claim's run is `run`'s (set aside by it, too).
fn of_run(claim_run: &str, run: &str) -> bool {
    claim_run == run || claim_run.strip_prefix("set aside by ") == Some(run)
}

/// Settle the claims of `only` (every claim when `None`); beside what was
/// done, how many claims are left unsettled.
async fn settle_runs(ctx: &Context, only: Option<&str>) -> (Settled, usize) {
    let claims = match ctx.ledger.claims().await {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!("could not read the derivatives an earlier run was writing: {e}");
            return (Settled::default(), 1);
        }
    };
    let claims: Vec<Claimed> = claims
        .into_iter()
        .filter(|c| only.is_none_or(|run| of_run(&c.set.1, run)))
        .collect();
    if claims.is_empty() {
        return (Settled::default(), 0);
    }
    let mut left = 0;
    let sink_log = match &ctx.sink {
        Sink::Database => None,
        // Read once: a line in it is what commits a set in that mode. A log
        // that cannot be read (rotated away, say) tells nothing.
        Sink::Log(path) => Some(std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))),
    };
    let mut settled = Settled::default();
    // One set: the files one session wrote for one content.
    for set in claims.chunk_by(|a, b| a.set == b.set) {
        let mut in_use = false;
        let mut unknown = false;
        for Claimed { path, url, .. } in set {
            let referred = match &sink_log {
                Some(Ok(text)) => Ok(text.contains(url.as_str())),
                Some(Err(e)) => Err(e.clone()),
                None => ctx.portal.refers_to(url).await.map_err(|e| e.to_string()),
            };
            match referred {
                Ok(true) => in_use = true,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!("cannot tell whether a row points at {path} ({e}); it is settled at the next start");
                    unknown = true;
                }
            }
        }
        if unknown {
            left += set.len();
            continue;
        }
        if in_use {
            settled.kept += 1;
            for Claimed { path, .. } in set {
                forget(&ctx.ledger, path).await;
            }
            continue;
        }
        for Claimed { path, .. } in set {
            // Only ever inside this storage, whatever the ledger says.
            match ctx.storage.remove(path).await {
                Ok(Removal::Removed) => {
                    settled.removed += 1;
                    forget(&ctx.ledger, path).await;
                }
                Ok(Removal::Absent) => forget(&ctx.ledger, path).await,
                Ok(Removal::Outside) => {
                    tracing::warn!(
                        "a claim outside the storage ({}) is ignored: {path}",
                        ctx.storage.describe()
                    );
                    forget(&ctx.ledger, path).await;
                }
                Err(e) => {
                    left += 1;
                    tracing::warn!("could not remove {path} (an interrupted run's): {e}");
                }
            }
        }
    }
    if settled.removed > 0 {
        tracing::info!(
            "removed {} derivative file(s) an interrupted run wrote but never linked",
            settled.removed
        );
    }
    (settled, left)
}

async fn forget(ledger: &Ledger, path: &str) {
    if let Err(e) = ledger.forget_claim(path).await {
        tracing::warn!("{e}");
    }
}
