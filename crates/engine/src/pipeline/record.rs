//! Stage 8, record: the ledger's entry for the file, linked (with where
//! its derivatives are) or not done (why, under its content hash).

use std::path::Path;

use specdrop_derive::store::StoredFile;

use super::link::Committed;
use super::store::Stored;
use super::verdict::{LedgerEntry, Step, Verdict};
use crate::collection::Prepared;
use crate::context::Context;
use crate::ledger::Record;
use crate::outcome::Kind;

/// The linked file, with the files that are its.
pub async fn linked(
    ctx: &Context,
    collection: &Prepared,
    path: &Path,
    number: &str,
    committed: &Committed,
    stored: &Stored,
    entry: &LedgerEntry,
) -> Step<()> {
    let rel = |f: &Option<StoredFile>| f.as_ref().filter(|_| committed.keep).map(|f| f.relative.clone());
    let files = &stored.files;
    let (large, web, thumbnail) = (rel(&files.large), rel(&files.web), rel(&files.thumbnail));
    let record = Record {
        hash: &entry.hash,
        collection: &collection.config.code,
        source: &path.to_string_lossy(),
        reason: None,
        catalog_number: Some(number),
        occid: committed.occid,
        media_id: committed.media_id,
        large: large.as_deref(),
        web: web.as_deref(),
        thumbnail: thumbnail.as_deref(),
        number_from: entry.number_from,
    };
    ctx.ledger
        .record(committed.kind, &record)
        .await
        .map_err(|e| Verdict::new(Kind::Failed, format!("linked but {e}"), None))
}

/// A file that is not done, when the verdict says the ledger keeps it. A
/// ledger that cannot write loses only the note, not the file: it stays
/// in the drop folder.
pub async fn unfinished(ctx: &Context, collection: &Prepared, path: &Path, verdict: &Verdict) {
    let Some(entry) = &verdict.unfinished else {
        return;
    };
    if ctx.dry_run {
        return;
    }
    let record = Record {
        hash: &entry.hash,
        collection: &collection.config.code,
        source: &path.to_string_lossy(),
        reason: Some(&verdict.detail),
        catalog_number: entry.catalog_number.as_deref(),
        number_from: entry.number_from,
        ..Record::default()
    };
    if let Err(e) = ctx.ledger.record(verdict.kind, &record).await {
        tracing::warn!("{}: {e}", path.display());
    }
}
