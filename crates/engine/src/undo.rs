//! `specdrop undo FILE | --batch RUN | --since TIME --collection CODE`:
//! take back what specdrop did for linked files, as far as nobody has
//! built on it since.
//!
//! For each file, in one portal transaction: its image row is removed
//! only while it is as specdrop wrote it (same specimen, same URLs), and a
//! skeletal record specdrop made for it only while it is still bare,
//! unprocessed and without other images (mapper's undo.rs). Then its
//! derivatives are removed where no image row points at them any more,
//! the original comes back from the archive to its place in the drop
//! folder (never over a file there), and the ledger moves the entry to
//! its `undone` table, so that the original, back under its name, is not
//! linked to the same number again. Whatever is left is listed with why.
//! Each collection's link lock is held meanwhile, so no link step of a
//! daemon or scan runs beside it.

use std::path::PathBuf;
use std::process::ExitCode;

use specdrop_mapper::MediaUrls;
use specdrop_mapper::undo::{RecordUndo, RowUndo};

use crate::Error;
use crate::archive::Expect;
use crate::collection::Prepared;
use crate::config::Config;
use crate::ledger::{Done, Ledger, Which};
use crate::outcome::{Kind, printable};
use crate::storage::{Removal, Storage};

/// Which linked files to take back.
#[derive(Debug, Clone)]
pub enum Selection {
    File(PathBuf),
    Batch(String),
    /// RFC 3339 (e.g. `2026-12-02T09:30:00Z`), and a collection's code.
    Since {
        time: String,
        collection: String,
    },
}

pub async fn command(config: &Config, selection: &Selection, dry_run: bool) -> Result<ExitCode, Error> {
    let ledger = Ledger::open_at(&config.ledger, dry_run).await?;
    let (path, utc);
    let which = match selection {
        Selection::File(file) => {
            path = std::path::absolute(file).map_err(|e| Error::Run(format!("{}: {e}", file.display())))?;
            Which::Path(&path)
        }
        Selection::Batch(run) => Which::Run(run),
        Selection::Since { time, collection } => {
            crate::collection::position(config, collection)?;
            utc = utc_of(time)?;
            Which::Since { collection, utc: &utc }
        }
    };
    let entries = ledger.done(which).await?;
    if entries.is_empty() {
        return Err(Error::Run(format!(
            "nothing to undo: the ledger has no file linked {}; give the file's path as it was in the drop \
             folder or in the archive, a run id from a summary line or `specdrop status`, or an earlier --since",
            match selection {
                Selection::File(f) => format!("from {}", f.display()),
                Selection::Batch(run) => format!("by run {run}"),
                Selection::Since { time, collection } => format!("in {collection} since {time}"),
            }
        )));
    }
    let run = crate::claims::new_run();
    // Each collection once: its entries need not be next to each other.
    let codes: std::collections::BTreeSet<&str> = entries.iter().map(|e| e.collection.as_str()).collect();
    let (mut undone, mut left) = (0, 0);
    for code in codes {
        let (portal, collection, _) = crate::session::open_collection(config, code).await?;
        let _lock = if dry_run {
            None
        } else {
            let (dir, code) = (config.state_dir.clone(), code.to_string());
            let lock = tokio::task::spawn_blocking(move || crate::process_locks::link_lock(&dir, &code))
                .await
                .map_err(|e| Error::Run(e.to_string()))?
                .map_err(Error::Run)?;
            Some(lock)
        };
        for entry in entries.iter().filter(|e| e.collection == code) {
            let (done, text) = undo_one(config, &portal, &collection, &ledger, entry, &run, dry_run).await;
            if done {
                undone += 1;
            } else {
                left += 1;
            }
            let shown = printable(&entry.source.to_string_lossy());
            println!("{} {code} {shown}: {text}", if done { "undone " } else { "left   " });
        }
        portal.close().await;
    }
    let verb = if dry_run { "would be undone" } else { "undone" };
    println!("undo: {undone} {verb}, {left} left as they are (run {run})");
    Ok(if left == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One file: (all of it taken back, what happened).
async fn undo_one(
    config: &Config,
    portal: &specdrop_mapper::Portal,
    collection: &Prepared,
    ledger: &Ledger,
    entry: &Done,
    run: &str,
    dry_run: bool,
) -> (bool, String) {
    let cfg = &collection.config;
    let (Some(media_id), Some(occid)) = (entry.media_id, entry.occid) else {
        return (
            false,
            "no image row of specdrop's is recorded for it (linked by a row that was already there); nothing undone"
                .into(),
        );
    };
    let url_of = |rel: &Option<String>| rel.as_ref().map(|r| cfg.url_base.join(r));
    let (large, web, thumbnail) = (url_of(&entry.large), url_of(&entry.web), url_of(&entry.thumbnail));
    let main = web.clone().or(large.clone()).or(thumbnail.clone()).unwrap_or_default();
    let urls = MediaUrls {
        url: main.clone(),
        thumbnail_url: thumbnail,
        original_url: large.or(Some(main)),
    };
    let made_record = entry.outcome == Kind::Skeletal;
    let row = match portal.undo_link(media_id, occid, &urls, made_record, dry_run).await {
        Ok(row) => row,
        Err(e) => return (false, format!("the portal: {e}; nothing undone")),
    };
    let mut said = match row {
        RowUndo::Changed(why) => {
            return (
                false,
                format!(
                    "image row {media_id} on occid {occid} was changed since specdrop made it ({why}); nothing undone"
                ),
            );
        }
        RowUndo::Gone => format!("image row {media_id} was already gone"),
        RowUndo::Removed { record, labels } => {
            let labels = if labels > 0 {
                format!(" with its {labels} OCR text row(s)")
            } else {
                String::new()
            };
            let record = match record {
                RecordUndo::NotOurs => String::new(),
                RecordUndo::Removed => format!("; skeletal record occid {occid} removed"),
                RecordUndo::Kept(why) => format!("; skeletal record occid {occid} kept: {why}"),
            };
            format!("image row {media_id}{labels} removed from occid {occid}{record}")
        }
    };
    match Storage::open(config) {
        Ok(storage) => said.push_str(&remove_derivatives(&storage, portal, collection, entry, dry_run).await),
        Err(e) => said.push_str(&format!("; derivatives kept: {e}")),
    }
    let mut complete = true;
    if let Some(archived) = &entry.archived_to {
        let back = if dry_run {
            Ok(())
        } else {
            let (drop, archive) = (cfg.drop.clone(), cfg.archive.clone());
            let (from, to) = (archived.clone(), entry.source.clone());
            let expect = Expect {
                identity: None,
                hash: Some(entry.hash.clone()),
            };
            tokio::task::spawn_blocking(move || crate::archive::restore(&drop, &archive, &from, &to, &expect))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
        };
        match back {
            Ok(()) => said.push_str("; the original is back in the drop folder"),
            Err(e) => {
                complete = false;
                said.push_str(&format!(
                    "; the original stays in the archive at {} ({e})",
                    archived.display()
                ));
            }
        }
    }
    if !dry_run && let Err(e) = ledger.record_undo(entry, run).await {
        return (false, format!("{said}; but the ledger: {e}"));
    }
    (complete, said)
}

/// The file's derivatives that no image row points at any more.
async fn remove_derivatives(
    storage: &Storage,
    portal: &specdrop_mapper::Portal,
    collection: &Prepared,
    entry: &Done,
    dry_run: bool,
) -> String {
    let mut relatives: Vec<&String> = [&entry.large, &entry.web, &entry.thumbnail]
        .into_iter()
        .flatten()
        .collect();
    relatives.dedup();
    let (mut removed, mut kept) = (0, 0);
    for relative in relatives {
        // Only paths specdrop made: below the storage root.
        if relative.split('/').any(|part| part == ".." || part.is_empty()) {
            continue;
        }
        if !matches!(
            portal.points_at_any(&collection.config.url_base.forms(relative)).await,
            Ok(false)
        ) {
            kept += 1;
            continue;
        }
        let location = storage.locate(relative);
        if dry_run {
            removed += usize::from(storage.exists(&location).await);
            continue;
        }
        match storage.remove(&location).await {
            Ok(Removal::Removed) => removed += 1,
            Ok(Removal::Absent | Removal::Outside) => {}
            Err(e) => {
                kept += 1;
                tracing::warn!("could not remove {location}: {e}");
            }
        }
    }
    let kept = if kept > 0 {
        format!(", {kept} kept (another row points at them)")
    } else {
        String::new()
    };
    format!("; {removed} derivative file(s) removed{kept}")
}

/// An RFC 3339 time as the ledger writes times: UTC `YYYY-MM-DD HH:MM:SS`.
fn utc_of(time: &str) -> Result<String, Error> {
    let parsed = time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).map_err(|e| {
        Error::Run(format!(
            "--since {time}: {e}; give a time in RFC 3339, e.g. 2026-12-02T09:30:00Z or 2026-12-02T10:30:00+01:00"
        ))
    })?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    Ok(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_rfc_3339_and_compared_in_utc() {
        assert_eq!(
            utc_of("2026-12-02T09:30:00Z").ok().as_deref(),
            Some("2026-12-02 09:30:00")
        );
        assert_eq!(
            utc_of("2026-12-02T10:30:00+01:00").ok().as_deref(),
            Some("2026-12-02 09:30:00")
        );
        assert!(utc_of("yesterday").is_err_and(|e| e.to_string().contains("RFC 3339")));
    }
}
