//! Derivatives between appearing in the image library and having their
//! row committed. A kill in that window would leave files no row points
//! to, so the paths are claimed in the ledger before they appear (see
//! `store::write_set_claimed`) and released once the row, or the undo, is
//! done. At start-up every claim still there is settled: files a row (or
//! the sink log) points to stay, the others are removed.

use std::path::Path;

use specdrop_derive::store::StoredSet;

use crate::config::Sink;
use crate::ledger::Ledger;
use crate::pipeline::Context;

/// Take back a set whose row was not written: remove its files and, once
/// they are gone, its claim. A file that cannot be removed keeps its claim,
/// so the next start tries again.
pub async fn undo(ctx: &Context, stored: &StoredSet, hash: &str, source: &Path) {
    match stored.remove() {
        Ok(()) => release(&ctx.ledger, hash).await,
        Err(e) => tracing::warn!(
            "could not remove the derivatives of {}: {e}; the next start removes them",
            source.display()
        ),
    }
}

/// The files of `hash` are settled (committed with their row, or gone).
pub async fn release(ledger: &Ledger, hash: &str) {
    if let Err(e) = ledger.release(hash).await {
        tracing::warn!("{e}");
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

/// Settle every claim left by a run that was killed. Nothing is removed
/// while it cannot be known whether a row points at it (the database does
/// not answer): that claim waits for the next start.
pub async fn settle(ctx: &Context) -> Settled {
    let claims = match ctx.ledger.claims().await {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!("could not read the derivatives an earlier run was writing: {e}");
            return Settled::default();
        }
    };
    let sink_log = match &ctx.sink {
        Sink::Database => None,
        // Read once: a line in it is what commits a set in that mode.
        Sink::Log(path) => Some(std::fs::read_to_string(path).unwrap_or_default()),
    };
    let mut settled = Settled::default();
    for set in claims.chunk_by(|a, b| a.0 == b.0) {
        let hash = &set[0].0;
        let mut in_use = false;
        let mut unknown = false;
        for (_, path, url) in set {
            let referred = match &sink_log {
                Some(text) => Ok(text.contains(url.as_str())),
                None => ctx.portal.refers_to(url).await,
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
            continue;
        }
        if in_use {
            settled.kept += 1;
            release(&ctx.ledger, hash).await;
            continue;
        }
        let mut all_gone = true;
        for (_, path, _) in set {
            let path = Path::new(path);
            // Only ever inside the image library, whatever the ledger says.
            if !path.starts_with(&ctx.storage_root) || path.components().any(|c| c.as_os_str() == "..") {
                tracing::warn!("a claim outside storage.root is ignored: {}", path.display());
                continue;
            }
            match std::fs::remove_file(path) {
                Ok(()) => settled.removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!("could not remove {} (an interrupted run's): {e}", path.display());
                    all_gone = false;
                }
            }
        }
        if all_gone {
            release(&ctx.ledger, hash).await;
        }
    }
    if settled.removed > 0 {
        tracing::info!(
            "removed {} derivative file(s) an interrupted run wrote but never linked",
            settled.removed
        );
    }
    settled
}
