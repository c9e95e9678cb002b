//! Stage 8, record: the ledger's entry for the file, linked (with where
//! its derivatives are) or not done (why, under its content hash).

use std::path::Path;

use specdrop_derive::store::StoredFile;

use super::link::{Committed, Row};
use crate::collection::Prepared;
use crate::context::Context;
use crate::ledger::{OcrJob, Record, Recorded};
use crate::outcome::Kind;
use crate::stages::store::Stored;
use crate::stages::verdict::{LedgerEntry, Step, Verdict};

/// The linked file, with the files that are its: one entry per specimen
/// it was linked to, recorded together.
pub async fn linked(
    ctx: &Context,
    collection: &Prepared,
    path: &Path,
    committed: &Committed,
    stored: &Stored,
    entry: &LedgerEntry,
) -> Step<()> {
    let rel = |f: &Option<StoredFile>| f.as_ref().filter(|_| committed.keep).map(|f| f.relative.clone());
    let files = &stored.files;
    let (large, web, thumbnail) = (rel(&files.large), rel(&files.web), rel(&files.thumbnail));
    let jobs: Vec<Option<OcrJob>> = committed
        .rows
        .iter()
        .map(|row| ocr_job(collection, committed.keep, row, stored))
        .collect();
    let records: Vec<(Kind, Record<'_>)> = committed
        .rows
        .iter()
        .zip(&jobs)
        .map(|(row, ocr)| {
            let record = Record {
                catalog_number: Some(row.number.as_str()),
                occid: row.occid,
                media_id: row.media_id,
                large: large.as_deref(),
                web: web.as_deref(),
                thumbnail: thumbnail.as_deref(),
                number_from: entry.number_from,
                ocr: ocr.as_ref(),
                ..Record::of(&entry.hash, &collection.config.code, path)
            };
            (row.kind, record)
        })
        .collect();
    // Which run linked them, for `specdrop undo --batch`.
    let recorded = ctx.ledger.record_linked(&records, &ctx.run).await;
    if jobs.iter().any(Option::is_some) && recorded.is_ok() {
        crate::ocr::wake();
    }
    recorded.map_err(|e| Verdict::new(Kind::Failed, format!("linked but {e}"), None))
}

/// The sheet's label is to be read when OCR is on and a row was written
/// with files of ours to read (the large image, else the web one); the
/// record's status is looked at when the job runs, not here.
fn ocr_job(collection: &Prepared, keep: bool, row: &Row, stored: &Stored) -> Option<OcrJob> {
    let (Some(media_id), Some(occid)) = (row.media_id, row.occid) else {
        return None;
    };
    let files = &stored.files;
    let image = files.large.as_ref().or(files.web.as_ref())?;
    (collection.config.ocr && keep).then(|| OcrJob {
        media_id,
        occid,
        collection: collection.config.code.clone(),
        image: image.path.clone(),
    })
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
