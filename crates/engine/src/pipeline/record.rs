//! Stage 8, record: the ledger's entry for the file, linked (with where
//! its derivatives are) or not done (why, under its content hash).

use std::path::Path;

use specdrop_derive::store::StoredFile;

use super::link::Committed;
use super::store::Stored;
use super::verdict::{LedgerEntry, Step, Verdict};
use crate::collection::Prepared;
use crate::context::Context;
use crate::ledger::{Record, Recorded};
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
        catalog_number: Some(number),
        occid: committed.occid,
        media_id: committed.media_id,
        large: large.as_deref(),
        web: web.as_deref(),
        thumbnail: thumbnail.as_deref(),
        number_from: entry.number_from,
        ..Record::of(&entry.hash, &collection.config.code, path)
    };
    let recorded = ctx.ledger.record(committed.kind, &record).await;
    let with_run = match recorded {
        // Which run linked it, for `specdrop undo --batch`.
        Ok(_) => {
            ctx.ledger
                .set_run(&entry.hash, &collection.config.code, number, &ctx.run)
                .await
        }
        Err(e) => Err(e),
    };
    with_run.map_err(|e| Verdict::new(Kind::Failed, format!("linked but {e}"), None))
}

/// A file that is not done, when the verdict says the ledger keeps it. A
/// ledger that cannot write loses only the note, not the file: it stays
/// in the drop folder. [`Recorded::Unchanged`] when the ledger had this
/// outcome and reason for it already (and keeps its date).
pub async fn unfinished(ctx: &Context, collection: &Prepared, path: &Path, verdict: &Verdict) -> Recorded {
    let Some(entry) = &verdict.unfinished else {
        return Recorded::Changed;
    };
    if ctx.dry_run {
        return Recorded::Changed;
    }
    let record = Record {
        reason: Some(&verdict.detail),
        catalog_number: entry.catalog_number.as_deref(),
        number_from: entry.number_from,
        ..Record::of(&entry.hash, &collection.config.code, path)
    };
    ctx.ledger.record(verdict.kind, &record).await.unwrap_or_else(|e| {
        tracing::warn!("{}: {e}", path.display());
        Recorded::Changed
    })
}
