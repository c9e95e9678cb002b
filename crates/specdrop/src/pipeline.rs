//! One file through the whole path: complete? -> seen before? -> catalog
//! number -> specimen -> derivatives -> row -> ledger -> archive.
//!
//! Order is what keeps originals safe: the source is only moved after its
//! derivatives are on disk and its row is committed, and derivatives whose
//! row could not be committed are removed again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::{Digest as _, Md5};
use sha2::Sha256;
use specdrop_derive::store::{self, StoredSet};
use specdrop_derive::{DeriveConfig, DeriveError};
use specdrop_mapper::{CollectionInfo, LinkRequest, Lookup, MapperError, MediaUrls, Portal, Unmatched};
use specdrop_watch::jpeg::{self, JpegEnd};
use tokio::sync::{Mutex, Semaphore};

use crate::archive;
use crate::config::Collection;
use crate::ledger::{Ledger, Record};
use crate::outcome::{Kind, Report};

/// A configured collection with what the portal says about it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub config: Collection,
    pub info: CollectionInfo,
    /// `<institutionCode>_<collectionCode>`: its folder in the image library.
    pub folder: String,
}

/// What every file's processing shares.
pub struct Context {
    pub portal: Portal,
    pub ledger: Ledger,
    pub storage_root: PathBuf,
    pub derive: DeriveConfig,
    /// Held while decoding, resizing and encoding: CPU work never exceeds
    /// `workers.threads`, whatever else is waiting.
    pub cpu: Semaphore,
    /// Links one image at a time, so two images of one unknown number
    /// cannot both create a skeletal record.
    pub link_lock: Mutex<()>,
    pub dry_run: bool,
}

/// Everything `process` learns along the way, for the ledger.
#[derive(Clone)]
struct Facts {
    hash: String,
    catalog_number: Option<String>,
}

pub async fn process(ctx: Arc<Context>, collection: Arc<Prepared>, path: PathBuf) -> Report {
    let display = path
        .strip_prefix(&collection.config.drop)
        .unwrap_or(&path)
        .to_path_buf();
    let report = |kind: Kind, detail: String| Report {
        collection: collection.config.code.clone(),
        file: display.clone(),
        kind,
        detail,
    };
    let (kind, detail, facts) = match take(&ctx, &collection, &path).await {
        Ok(done) => done,
        Err((kind, detail, facts)) => (kind, detail, facts),
    };
    if !ctx.dry_run
        && let Some(facts) = &facts
        && !kind.is_done()
    {
        let record = Record {
            hash: &facts.hash,
            collection: &collection.config.code,
            source: &path.to_string_lossy(),
            reason: Some(&detail),
            catalog_number: facts.catalog_number.as_deref(),
            ..Record::default()
        };
        if let Err(e) = ctx.ledger.record(kind, &record).await {
            tracing::warn!("{}: {e}", path.display());
        }
    }
    report(kind, detail)
}

type Step<T> = Result<T, (Kind, String, Option<Facts>)>;

async fn take(ctx: &Context, collection: &Prepared, path: &Path) -> Step<(Kind, String, Option<Facts>)> {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| (Kind::Failed, format!("cannot read the file: {e}"), None))?;
    match jpeg::find_end(&bytes) {
        JpegEnd::Complete(_) => {}
        JpegEnd::Truncated(at) => {
            return Err((
                Kind::Skipped,
                format!(
                    "incomplete: the JPEG ends at byte {at} before its end marker; still uploading? it is taken once complete"
                ),
                None,
            ));
        }
        JpegEnd::NotJpeg => {}
    }
    let hash = format!("{:x}", Sha256::digest(&bytes));
    let mut facts = Facts {
        hash,
        catalog_number: None,
    };

    if let Some(seen) = ctx
        .ledger
        .get(&facts.hash)
        .await
        .map_err(|e| (Kind::Failed, e.to_string(), None))?
        .filter(|seen| seen.outcome.is_done())
    {
        let occid = seen.occid.map_or_else(String::new, |o| format!(" (occid {o})"));
        let first = Path::new(&seen.source)
            .file_name()
            .map_or(seen.source.clone(), |n| n.to_string_lossy().into_owned());
        let mut detail = format!("duplicate of {first}{occid}: already linked, nothing new written");
        if !ctx.dry_run {
            // The ledger keeps where the first copy went.
            detail.push_str(&archive_note(ctx, collection, path, None).await);
        }
        return Ok((Kind::Skipped, detail, None));
    }

    if let Err(e) = specdrop_derive::probe(&bytes, ctx.derive.max_pixels) {
        return Err((Kind::Failed, e.to_string(), Some(facts)));
    }
    let Some(catalog_number) = collection.config.pattern.catalog_number(&name) else {
        return Err((Kind::Skipped, "no catalog number in name".into(), Some(facts)));
    };
    facts.catalog_number = Some(catalog_number.clone());

    let cfg = &collection.config;
    let lookup = ctx
        .portal
        .find(cfg.collid, &catalog_number, cfg.match_rules)
        .await
        .map_err(|e| (Kind::Failed, format!("database: {e}"), None))?;
    let skeletal = match lookup {
        Lookup::Found(_) => false,
        Lookup::Ambiguous(occids) => {
            return Err((Kind::Parked, MapperError::Ambiguous(occids).to_string(), Some(facts)));
        }
        Lookup::NotFound if cfg.unmatched == Unmatched::Skeletal => true,
        Lookup::NotFound => {
            return Err((
                Kind::Parked,
                format!(
                    "no specimen: no record with catalog number {catalog_number} in collid {}",
                    cfg.collid
                ),
                Some(facts),
            ));
        }
    };
    if ctx.dry_run {
        let what = match lookup {
            Lookup::Found(o) => format!("would link catalog number {catalog_number} to occid {}", o.occid),
            _ => format!("would create a skeletal record for catalog number {catalog_number}"),
        };
        return Ok((if skeletal { Kind::Skeletal } else { Kind::Linked }, what, None));
    }

    let failed = |e: DeriveError| (Kind::Failed, e.to_string(), Some(facts.clone()));
    let set = derive(ctx, bytes).await.map_err(failed)?;
    let md5 = md5_of_original(&set);
    let stored = store(ctx, collection, &catalog_number, &name, set)
        .await
        .map_err(failed)?;

    let linked = {
        let _one_at_a_time = ctx.link_lock.lock().await;
        link(ctx, collection, &catalog_number, &name, &md5, &stored).await
    };
    let linked = match linked {
        Ok(linked) => linked,
        Err(e) => {
            if let Err(undo) = stored.remove() {
                tracing::warn!("could not remove the derivatives of {}: {undo}", path.display());
            }
            let kind = match e {
                MapperError::Ambiguous(_) | MapperError::Vanished { .. } => Kind::Parked,
                _ => Kind::Failed,
            };
            return Err((kind, e.to_string(), Some(facts)));
        }
    };
    if linked.existing_row {
        // The portal already had this image (an earlier run stopped before
        // its ledger entry): the new copies are not needed.
        let _ = stored.remove();
    }

    let kind = if linked.created_occurrence {
        Kind::Skeletal
    } else {
        Kind::Linked
    };
    // Paths of the files this row points to; none of ours when the row
    // was already there (its files are an earlier run's).
    let rel = |f: &Option<store::StoredFile>| f.as_ref().filter(|_| !linked.existing_row).map(|f| f.relative.clone());
    let (large, web, thumbnail) = (rel(&stored.large), rel(&stored.web), rel(&stored.thumbnail));
    let record = Record {
        hash: &facts.hash,
        collection: &cfg.code,
        source: &path.to_string_lossy(),
        reason: None,
        catalog_number: Some(&catalog_number),
        occid: Some(linked.occid),
        media_id: Some(linked.media_id),
        large: large.as_deref(),
        web: web.as_deref(),
        thumbnail: thumbnail.as_deref(),
    };
    ctx.ledger.record(kind, &record).await.map_err(|e| {
        (
            Kind::Failed,
            format!("linked (media {}) but {e}", linked.media_id),
            None,
        )
    })?;

    let made = if linked.existing_row {
        "row was already there".to_string()
    } else {
        format!(
            "{} file{}",
            stored.files().count(),
            if stored.files().count() == 1 { "" } else { "s" }
        )
    };
    let created = if linked.created_occurrence {
        "new skeletal record "
    } else {
        ""
    };
    let mut detail = format!(
        "catalog number {catalog_number} -> {created}occid {}, media {} ({made})",
        linked.occid, linked.media_id
    );
    detail.push_str(&archive_note(ctx, collection, path, Some(&facts.hash)).await);
    Ok((kind, detail, None))
}

async fn derive(ctx: &Context, bytes: Vec<u8>) -> Result<specdrop_derive::Derivatives, DeriveError> {
    let _permit = ctx
        .cpu
        .acquire()
        .await
        .map_err(|_| DeriveError::Resize("the worker pool is shut down".into()))?;
    let config = ctx.derive.clone();
    tokio::task::spawn_blocking(move || specdrop_derive::build(&bytes, &config))
        .await
        .unwrap_or_else(|e| Err(DeriveError::Corrupt(format!("the decoder crashed on this file ({e})"))))
}

async fn store(
    ctx: &Context,
    collection: &Prepared,
    catalog_number: &str,
    name: &str,
    set: specdrop_derive::Derivatives,
) -> Result<StoredSet, DeriveError> {
    let dir = format!(
        "{}/{}",
        collection.folder,
        specdrop_derive::layout::catalog_fragment(catalog_number, &year_month())
    );
    let root = ctx.storage_root.clone();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || store::write_set(&root, &dir, &name, &set))
        .await
        .unwrap_or_else(|e| Err(DeriveError::Resize(format!("storage task failed: {e}"))))
}

async fn link(
    ctx: &Context,
    collection: &Prepared,
    catalog_number: &str,
    name: &str,
    md5: &str,
    stored: &StoredSet,
) -> Result<specdrop_mapper::Linked, MapperError> {
    let url_of = |f: &store::StoredFile| collection.config.url_base.join(&f.relative);
    let large = stored.large.as_ref();
    let main = stored.web.as_ref().or(large).or(stored.thumbnail.as_ref());
    // Config validation refuses disabling every size; this guards the rest.
    let Some(main) = main else {
        return Err(MapperError::Query(sqlx::Error::Protocol(
            "no derivative was made".into(),
        )));
    };
    let original = large.unwrap_or(main);
    ctx.portal
        .link(&LinkRequest {
            collection: &collection.info,
            catalog_number,
            rules: collection.config.match_rules,
            unmatched: collection.config.unmatched,
            urls: MediaUrls {
                url: url_of(main),
                thumbnail_url: stored.thumbnail.as_ref().map(url_of),
                original_url: Some(url_of(original)),
            },
            md5,
            source_name: name,
            width: original.width,
            height: original.height,
        })
        .await
}

/// Move the source to the archive (noting where in the ledger entry
/// `hash`, if given); the returned text goes into the report. A failed
/// move leaves the (already linked) source where it is, and the next scan
/// finishes the move.
async fn archive_note(ctx: &Context, collection: &Prepared, path: &Path, hash: Option<&str>) -> String {
    let (drop, archive, file) = (
        collection.config.drop.clone(),
        collection.config.archive.clone(),
        path.to_path_buf(),
    );
    let moved = tokio::task::spawn_blocking(move || archive::move_to_archive(&drop, &archive, &file)).await;
    match moved {
        Ok(Ok(target)) => {
            let Some(hash) = hash else { return String::new() };
            if let Err(e) = ctx.ledger.set_archived(hash, &target.to_string_lossy()).await {
                tracing::warn!("{}: {e}", path.display());
            }
            String::new()
        }
        Ok(Err(e)) => {
            tracing::warn!("{}: could not move it to the archive: {e}", path.display());
            format!("; NOT archived ({e}): left in the drop folder, retried next time")
        }
        Err(e) => format!("; NOT archived ({e})"),
    }
}

/// Symbiota's mediaMD5: the MD5 of the large file (of the largest file
/// made, when large is disabled).
fn md5_of_original(set: &specdrop_derive::Derivatives) -> String {
    let web = match &set.web {
        Some(specdrop_derive::Web::Own(d)) => Some(d),
        _ => None,
    };
    let data = set
        .large
        .as_ref()
        .or(web)
        .or(set.thumbnail.as_ref())
        .map_or(&[][..], |d| &d.data[..]);
    format!("{:x}", Md5::digest(data))
}

fn year_month() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:04}{:02}", now.year(), u8::from(now.month()))
}
