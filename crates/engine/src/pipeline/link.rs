//! Stage 7, link: the media row committed in one transaction (or, with
//! `sink.kind = "log"`, a CSV line appended and fsynced for `load-log`).
//! After this stage a row or a log line points at the files, whatever
//! happens next; before it, derivatives no row points at are removed.

use std::path::Path;

use specdrop_derive::store::StoredSet;
use specdrop_mapper::Action;

use super::specimen::Specimen;
use crate::collection::Prepared;
use crate::config::{Collection, Sink};
use crate::context::Context;
use crate::outcome::Kind;
use crate::sink::{self, LogLine};
use crate::stages::store::Stored;
use crate::stages::verdict::{LedgerEntry, Step, Verdict};

/// One row committed (or log line appended): one specimen the image is
/// linked to.
pub struct Row {
    pub number: String,
    /// Linked, or skeletal when a record was made for the image.
    pub kind: Kind,
    pub occid: Option<i64>,
    pub media_id: Option<i64>,
}

/// The rows (or log lines) are committed, together.
pub struct Committed {
    /// One per specimen, the first the file's own number.
    pub rows: Vec<Row>,
    /// What was written, for the report.
    pub what: String,
    /// The new files are in use and the ledger lists them (not when the
    /// rows were already there and they were removed again).
    pub keep: bool,
}

impl Committed {
    /// The first row: the file's own catalog number.
    pub fn first(&self) -> Option<&Row> {
        self.rows.first()
    }
}

/// A specimen the image is linked to.
pub struct Target<'a> {
    pub number: &'a str,
    /// What `number` is (a mapping line may name an occurrenceID, occid...).
    pub key: specdrop_mapper::Key,
    /// The image's own media fields (from its mapping line).
    pub meta: &'a specdrop_mapper::MediaValues,
    pub specimen: Specimen,
}

/// What the link is of.
pub struct Linking<'a> {
    pub path: &'a Path,
    pub name: &'a str,
    pub stored_name: &'a str,
    /// One, or several with `collection.multi_specimen = "link_all"`: the
    /// same files for each, every row in one transaction.
    pub targets: Vec<Target<'a>>,
}

pub async fn link(
    ctx: &Context,
    collection: &Prepared,
    what: &Linking<'_>,
    stored: &Stored,
    entry: &LedgerEntry,
) -> Step<Committed> {
    let cfg = &collection.config;
    super::shared::still_ours(ctx, collection, what.path, &stored.files, &entry.hash).await?;
    let stem = specdrop_derive::layout::stem(what.stored_name);
    let requests: Vec<specdrop_mapper::LinkRequest<'_>> = what
        .targets
        .iter()
        .map(|t| specdrop_mapper::LinkRequest {
            md5: Some(&stored.md5),
            size: stored.size,
            key: t.key,
            meta: t.meta.clone(),
            ..collection.link_request(t.number, stored.urls.clone(), what.name, &stem)
        })
        .collect();
    let committed = match &ctx.sink {
        Sink::Log(log) => {
            let lines: Vec<LogLine> = requests.iter().map(|r| log_line(cfg, r)).collect();
            if let Err(e) = sink::append(log, &lines) {
                // The lines may be in the log all the same (a failed flush):
                // the next start looks for them before removing anything.
                crate::claims::set_aside(ctx, &entry.hash).await;
                let detail = format!("cannot append to sink.path {}: {e}", log.display());
                return Err(Verdict::new(Kind::Failed, detail, Some(entry)));
            }
            let rows = what
                .targets
                .iter()
                .map(|t| Row {
                    number: t.number.to_string(),
                    kind: if t.specimen.is_some() {
                        Kind::Linked
                    } else {
                        Kind::Skeletal
                    },
                    occid: t.specimen.map(|o| o.occid),
                    media_id: None,
                })
                .collect();
            Committed {
                rows,
                what: format!("logged to {} for load-log", log.display()),
                keep: true,
            }
        }
        Sink::Database => in_portal(ctx, cfg, what.path, &requests, stored, entry).await?,
    };
    // Committed (or given back above): from here rows or log lines point
    // at the files, whatever happens to the ledger entries.
    crate::claims::release(ctx, &entry.hash).await;
    Ok(committed)
}

async fn in_portal(
    ctx: &Context,
    cfg: &Collection,
    path: &Path,
    requests: &[specdrop_mapper::LinkRequest<'_>],
    stored: &Stored,
    entry: &LedgerEntry,
) -> Step<Committed> {
    let url = &stored.urls.url;
    let files = &stored.files;
    let name = requests.first().map_or("", |r| r.source_name);
    let each = match ctx.outage.retry(name, || ctx.portal.link_each(requests)).await {
        Ok(each) => each,
        Err(e) => {
            // The commit may have gone through before the error (or an
            // earlier try's did): the files go only when the portal says
            // no row points at them; when it cannot say, the next start
            // asks again.
            match ctx.portal.refers_to(url).await {
                Ok(false) => crate::claims::undo(ctx, files, &entry.hash, path).await,
                _ => crate::claims::set_aside(ctx, &entry.hash).await,
            }
            return Err(Verdict::of_database(ctx, e, entry));
        }
    };
    let skipped = each.iter().find_map(|l| match l.action {
        Action::Skipped { images } => Some((l.occid, images)),
        _ => None,
    });
    if let Some((occid, images)) = skipped {
        // Rolled back for every specimen: nothing points at the files.
        crate::claims::undo(ctx, files, &entry.hash, path).await;
        let detail =
            format!("occid {occid} already has {images} image(s) and existing_image = \"skip\"; left in place");
        return Err(Verdict::new(Kind::Skipped, detail, Some(entry)));
    }
    // A retry can find the rows an earlier try of this very link committed
    // before its answer was lost: they point at these files, which then
    // stay.
    let all_there = each.iter().all(|l| matches!(l.action, Action::AlreadyThere { .. }));
    let ours = if all_there {
        ctx.portal.refers_to(url).await.ok()
    } else {
        Some(true)
    };
    let mut replaced = 0;
    for linked in &each {
        if let Action::Replaced { old, .. } = &linked.action {
            let new_files: Vec<String> = files.files().map(|f| f.path.to_string_lossy().into_owned()).collect();
            replaced += crate::stages::replaced::remove_replaced(&ctx.portal, &ctx.storage, cfg, old, &new_files).await;
        }
    }
    let what = match ours {
        _ if each.iter().any(|l| matches!(l.action, Action::Replaced { .. })) => format!(
            "{}, replacing the image of the same name ({replaced} old file(s) removed)",
            files_made(files)
        ),
        Some(true) if all_there => format!("{}; its row was committed by an earlier try", files_made(files)),
        Some(true) => files_made(files),
        Some(false) => {
            // The portal already had this image (an earlier run stopped
            // before its ledger entry): no new copies needed.
            crate::claims::undo(ctx, files, &entry.hash, path).await;
            "row was already there".to_string()
        }
        None => {
            crate::claims::set_aside(ctx, &entry.hash).await;
            "row was already there (new copies are checked at the next start)".to_string()
        }
    };
    let rows = each
        .iter()
        .zip(requests)
        .map(|(linked, request)| Row {
            number: request.catalog_number.to_string(),
            kind: Kind::of_link(linked),
            occid: Some(linked.occid),
            media_id: linked.media_id(),
        })
        .collect();
    Ok(Committed {
        rows,
        what,
        keep: ours == Some(true),
    })
}

fn files_made(stored: &StoredSet) -> String {
    let n = stored.files().count();
    format!("{n} file{}", if n == 1 { "" } else { "s" })
}

fn log_line(cfg: &Collection, request: &specdrop_mapper::LinkRequest<'_>) -> LogLine {
    let now = time::OffsetDateTime::now_utc();
    LogLine {
        collection: cfg.code.clone(),
        catalog_number: request.catalog_number.to_string(),
        file: request.source_name.to_string(),
        url: request.urls.url.clone(),
        thumbnail_url: request.urls.thumbnail_url.clone(),
        original_url: request.urls.original_url.clone(),
        width: request.size.map(|s| s.0),
        height: request.size.map(|s| s.1),
        md5: request.md5.unwrap_or_default().to_string(),
        time: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    }
}
