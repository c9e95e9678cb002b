//! One file through the whole path, in stages, each in its own file with
//! a typed hand-off to the next:
//!
//! ```text
//! source::read        the bytes, through one checked handle; complete?   -> Source
//! Source::check_image a JPEG of allowed size, from its header
//! identify            catalog number from name or barcode                 -> Identified
//! seen                linked before (same content, same number)? then only archived
//! specimen::find      the record it names (never a guess)                 -> Specimen
//! derive::make        large, web, thumbnail on the workers                -> Derivatives
//! credit::fill        creator, copyright from the source's EXIF/XMP (media_from_exif)
//!    (wait for the file's turn: link order is name order, link_order.rs;
//!     then for the collection's link lock, shared with other processes)
//! seen                again, now that every earlier copy is linked
//! store               claimed, written, fsynced, linked into place        -> Stored
//! link                the row committed (or the log line appended)        -> Committed
//! record              the ledger's entry
//! archive             the original leaves the drop folder
//! ```
//!
//! A stage that ends the file returns its [`Verdict`] (parked, failed,
//! skipped...); [`process`] records, reports and publishes it.
//!
//! # Why an original is never lost and an image never linked twice
//!
//! - The source is moved only in the last stage, after its derivatives are
//!   on disk (store: fsynced before they appear under their names) and its
//!   row is committed (link) and recorded (record). Before that nothing
//!   touches the source; a stage that fails leaves it where it is.
//! - Nothing is deleted except specdrop's own derivatives whose row was
//!   not committed (or turned out to exist already): derivative paths are
//!   claimed in the ledger before they appear (store), released once the
//!   row is committed (link), and a kill in between leaves a claim that
//!   the next start settles (claims.rs: files no row points to go, the
//!   others stay). A derivative path is never replaced. In a bucket
//!   (storage/) the same holds for objects: keys claimed before the
//!   upload, each PUT conditional (`If-None-Match: *`) and checked
//!   (`Content-MD5`) before the row is written.
//! - A kill at any other moment is handled by the normal path: a source
//!   not yet in the ledger is taken again (the mapper finds its row by
//!   mediaMD5 or URL, and the new copies are removed: link), a source the
//!   ledger has as linked is only archived (seen).
//! - Whether the same content is linked under the same number is asked
//!   again in the file's turn, under the link lock (seen): two copies in
//!   one batch, or in two processes, cannot both pass it.
//! - Files are linked one at a time in name order (link_order.rs), and
//!   one process at a time per collection (process_locks.rs), so two
//!   images of one unknown number cannot both create a skeletal record.
//! - With a shared ledger (several instances, instances.rs) the file is
//!   taken there before it is read, and the collection's link turn is a
//!   row there, both with leases; a gone instance's claims are settled
//!   before its files are taken over (shared.rs, claims.rs).
//! - One image for several specimens (`multi_specimen = "link_all"`) is
//!   one set of files, every row in one portal transaction
//!   (`Portal::link_each`) and every ledger entry in one ledger
//!   transaction (`Ledger::record_linked`): a kill before the commit
//!   leaves claims that settle removes; one between the commit and the
//!   ledger is the case above (every row found again, all recorded).
//! - A source is held (`flock`) from its read to its archiving, so a
//!   second specdrop process never works on it meanwhile; the archive
//!   moves only the file that was read (its identity is checked) and never
//!   replaces a file there.
//! - A database outage makes a file wait and, past `database.retry_mins`,
//!   leaves it untouched; it is never parked or failed for it (outage.rs,
//!   [`Verdict::of_database`]).

// A verdict ends a file once per file; its 200 bytes cost nothing next
// to decoding a sheet, and unboxed it reads plainly at every stage.
#![allow(clippy::result_large_err)]

mod archive;
mod credit;
mod identify;
pub use identify::NO_NUMBER_IN_NAME;
mod link;
mod record;
mod seen;
mod shared;
mod source;
mod specimen;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use specdrop_watch::{Accept, Class};

use self::identify::Identified;
use self::link::Linking;
use crate::collection::Prepared;
use crate::context::Context;
use crate::ledger::Recorded;
use crate::link_order::Ticket;
use crate::outcome::{Kind, NumberFrom, Report, ReportFields};
pub use crate::stages::replaced::remove_replaced;
pub use crate::stages::verdict::{LedgerEntry, Verdict};
use crate::stages::verdict::{Step, unless_stopping};
use crate::stages::{derive, store};

/// Take one file. `ticket` orders its link step after every file started
/// before it (link_order.rs).
pub async fn process(ctx: Arc<Context>, collection: Arc<Prepared>, path: PathBuf, ticket: Ticket) -> Report {
    let started = std::time::Instant::now();
    // With a shared ledger the file is taken there before anything reads
    // it (instances.rs): one instance has it, the others leave it be.
    let (verdict, quiet) = match shared::take(&ctx, &collection, &path).await {
        Ok(()) => {
            let verdict = match stages(&ctx, &collection, &path, &ticket).await {
                Ok(verdict) | Err(verdict) => verdict,
            };
            shared::let_go(&ctx, &collection, &path).await;
            (verdict, false)
        }
        Err(held) => (held, true),
    };
    let recorded = if quiet {
        Recorded::Unchanged
    } else {
        record::unfinished(&ctx, &collection, &path, &verdict).await
    };
    let report = Report {
        collection: collection.config.code.clone(),
        file: path
            .strip_prefix(&collection.config.drop)
            .unwrap_or(&path)
            .to_path_buf(),
        kind: verdict.kind,
        detail: verdict.detail,
        fields: ReportFields {
            elapsed: Some(started.elapsed()),
            ..verdict.fields
        },
        unchanged: recorded == Recorded::Unchanged,
    };
    if !report.unchanged {
        crate::publish::publish(&ctx, &collection.config, &report);
    }
    report
}

/// The stages in order; `Err` is a file that ended early.
async fn stages(ctx: &Context, collection: &Prepared, path: &Path, ticket: &Ticket) -> Step<Verdict> {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    match Accept::default().classify(&name) {
        Class::Skeletal if crate::mapping_file::is_mapping_file(&name) => {
            let (kind, detail) = crate::mapping_file::from_drop(ctx, collection, path).await;
            return Ok(Verdict::new(kind, detail, None));
        }
        Class::Skeletal => return Ok(skeletal_file(ctx, collection, path, ticket).await),
        Class::Archive => return Err(archive_master()),
        _ => {}
    }
    // Held (process_locks.rs) until the file is done: no other specdrop
    // process takes it meanwhile.
    let (source, held) = source::read(ctx, &collection.config.drop, path, &name).await?;
    let mut entry = source.ledger_entry();
    source.check_image(ctx, &entry)?;
    let Identified {
        number,
        from,
        note,
        image,
        stored_name,
        mapped,
        also,
    } = identify::identify(ctx, collection, path, source, &mut entry).await?;
    let key = mapped.as_ref().map_or(specdrop_mapper::Key::CatalogNumber, |m| m.key);
    let mut meta = mapped.map(|m| m.meta).unwrap_or_default();
    let mut also = also;
    seen::not_linked_before(ctx, collection, path, &held, &entry, None).await?;
    let specimen = specimen::find(ctx, collection, &name, key, &number, &entry).await?;
    // The sheet's other specimens (multi_specimen = "link_all"): each must
    // be found as the first is, or the file ends here for all of them.
    let mut others = Vec::with_capacity(also.len());
    for other in &also {
        let found = specimen::find(ctx, collection, &name, other.key, &other.number, &entry).await?;
        others.push(found);
    }
    unless_stopping(ctx)?;
    let derive::Upright { set, decision } = derive::make(ctx, image, &entry).await?;
    for meta in std::iter::once(&mut meta).chain(also.iter_mut().map(|a| &mut a.meta)) {
        credit::fill(ctx, collection, &set.credit, meta, &name);
    }
    unless_stopping(ctx)?;
    // From here on files go one at a time in name order: derivative names
    // (`_1` when taken) and sortSequence follow the order of the files,
    // not the order their pixels happened to be ready in.
    ticket.my_turn().await;
    let _link_lock = link_lock(ctx, collection, path).await?;
    unless_stopping(ctx)?;
    let occid = specimen.map(|o| o.occid);
    let seen_also = seen::not_linked_before(ctx, collection, path, &held, &entry, occid).await?;
    let stored = store::store(ctx, collection, &number, &stored_name, set, &entry).await?;
    let mut targets = vec![link::Target {
        number: &number,
        key,
        meta: &meta,
        specimen,
    }];
    for (other, specimen) in also.iter().zip(others) {
        // Two lines (or labels) that find one record are one row.
        if specimen.is_some_and(|s| targets.iter().any(|t| t.specimen.is_some_and(|o| o.occid == s.occid))) {
            continue;
        }
        targets.push(link::Target {
            number: &other.number,
            key: other.key,
            meta: &other.meta,
            specimen,
        });
    }
    let linking = Linking {
        path,
        name: &name,
        stored_name: &stored_name,
        targets,
    };
    let committed = link::link(ctx, collection, &linking, &stored, &entry).await?;
    record::linked(ctx, collection, path, &committed, &stored, &entry).await?;
    let numbers: Vec<&str> = committed.rows.iter().map(|r| r.number.as_str()).collect();
    let archived = archive::move_source(ctx, collection, path, &held, &entry.hash, &numbers).await;
    let notes: Vec<String> = note.into_iter().chain(decision.note()).chain(seen_also).collect();
    let mut verdict = linked_verdict(
        from,
        (!notes.is_empty()).then(|| notes.join("; ")),
        &committed,
        &stored,
        &archived,
    );
    verdict.fields.creator = meta.get(specdrop_mapper::MediaColumn::Creator).map(str::to_string);
    Ok(verdict)
}

/// The report of a linked file: what it was linked to, and how.
fn linked_verdict(
    from: NumberFrom,
    note: Option<String>,
    committed: &link::Committed,
    stored: &store::Stored,
    archived: &str,
) -> Verdict {
    let from_text = match from {
        NumberFrom::Barcode(_) | NumberFrom::MappingFile | NumberFrom::LabelText => format!(" ({from})"),
        NumberFrom::FileName => String::new(),
    };
    let each: Vec<String> = committed
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let target = match (row.kind, row.occid) {
                (Kind::Skeletal, Some(occid)) => format!("new skeletal record occid {occid}"),
                (_, Some(occid)) => format!("occid {occid}"),
                (_, None) => "a new skeletal record".to_string(),
            };
            let media = row.media_id.map_or_else(String::new, |m| format!(", media {m}"));
            let from_text = if i == 0 { from_text.as_str() } else { "" };
            format!("catalog number {}{from_text} -> {target}{media}", row.number)
        })
        .collect();
    let remark = note.as_ref().map_or_else(String::new, |n| format!("; {n}"));
    let what = &committed.what;
    let first = committed.first();
    // One image for several specimens is linked when any of its rows is;
    // skeletal only when every row made a record.
    let kind = if committed.rows.iter().all(|r| r.kind == Kind::Skeletal) {
        Kind::Skeletal
    } else {
        Kind::Linked
    };
    Verdict {
        kind,
        detail: format!("{} ({what}){remark}{archived}", each.join("; ")),
        unfinished: None,
        fields: ReportFields {
            catalog_number: first.map(|r| r.number.clone()),
            occid: first.and_then(|r| r.occid),
            media_id: first.and_then(|r| r.media_id),
            url: Some(stored.urls.url.clone()),
            bytes: if committed.keep { stored.bytes } else { 0 },
            elapsed: None,
            number_from: Some(from),
            thumbnail: stored.files.thumbnail.as_ref().map(|t| t.path.clone()),
            note,
            creator: None,
        },
    }
}

/// A skeletal data file in the drop folder: applied in turn with the
/// images (records change), one at a time, also across processes.
async fn skeletal_file(ctx: &Context, collection: &Prepared, path: &Path, ticket: &Ticket) -> Verdict {
    // Read, checked and its links fetched before the turn: a slow image
    // server holds up neither this collection's other files nor another
    // process's link step.
    let ready = match crate::skeletal::ready_from_drop(ctx, collection, path).await {
        Ok(ready) => ready,
        Err((kind, detail)) => return Verdict::new(kind, detail, None),
    };
    ticket.my_turn().await;
    let _link_lock = match link_lock(ctx, collection, path).await {
        Ok(lock) => lock,
        Err(verdict) => {
            ready.drop_unapplied(ctx, collection).await;
            return verdict;
        }
    };
    let (kind, detail) = ready.apply(ctx, collection, path).await;
    Verdict::new(kind, detail, None)
}

/// The collection's link step, one process at a time (process_locks.rs);
/// a dry run writes nothing and needs none.
async fn link_lock(ctx: &Context, collection: &Prepared, path: &Path) -> Step<Option<LinkTurn>> {
    if ctx.dry_run {
        return Ok(None);
    }
    if ctx.me.is_some() {
        return shared::link_turn(ctx, collection, path).await.map(|turn| {
            Some(LinkTurn {
                _host: None,
                _shared: Some(turn),
            })
        });
    }
    let (dir, code) = (ctx.state_dir.clone(), collection.config.code.clone());
    tokio::task::spawn_blocking(move || crate::process_locks::link_lock(&dir, &code))
        .await
        .unwrap_or_else(|e| Err(format!("locking the collection: {e}")))
        .map(|lock| {
            Some(LinkTurn {
                _host: Some(lock),
                _shared: None,
            })
        })
        .map_err(|detail| Verdict::new(Kind::Failed, detail, None))
}

/// A collection's link step held: on this host (flock), or in the shared
/// ledger; ended when dropped.
struct LinkTurn {
    _host: Option<crate::process_locks::LinkLock>,
    _shared: Option<shared::SharedTurn>,
}

fn archive_master() -> Verdict {
    Verdict::new(
        Kind::Failed,
        "refused: an archive format (TIFF, DNG or camera RAW), not for the web; export a JPEG for the portal \
         (the file is left where it is)",
        None,
    )
}
