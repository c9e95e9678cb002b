//! Stage 6, store: the derivatives into the image library, each location
//! claimed in the ledger before it appears (claims.rs), never replacing
//! anything: in a folder written to a temporary file, fsynced and
//! hard-linked into place; in a bucket a conditional PUT (storage/).

use md5::{Digest as _, Md5};
use specdrop_derive::Derivatives;
use specdrop_derive::store::{StoredFile, StoredSet};
use specdrop_mapper::MediaUrls;

use super::verdict::{LedgerEntry, Step, Verdict};
use crate::checkpoint::Checkpoint;
use crate::claims::LedgerClaims;
use crate::collection::Prepared;
use crate::config::Collection;
use crate::context::Context;
use crate::outcome::Kind;
use crate::storage::Storage;

/// Derivatives in the image library, claimed, not yet linked.
pub struct Stored {
    pub files: StoredSet,
    /// Symbiota's mediaMD5.
    pub md5: String,
    /// Bytes written.
    pub bytes: u64,
    pub urls: MediaUrls,
    /// Width and height of the largest image made.
    pub size: Option<(u32, u32)>,
}

/// Store `set` for catalog number `number` under `stored_name`.
pub async fn store(
    ctx: &Context,
    collection: &Prepared,
    number: &str,
    stored_name: &str,
    set: Derivatives,
    entry: &LedgerEntry,
) -> Step<Stored> {
    let failed = |detail: String| Verdict::new(Kind::Failed, detail, Some(entry));
    let md5 = md5_of_original(&set);
    let bytes = set.bytes();
    // A short content hash in the names, when asked, so a replaced image
    // never shows a cached old one.
    let tag = ctx.derive.hash_in_name.then(|| entry.hash[..8].to_string());
    let dir = format!(
        "{}/{}",
        collection.folder,
        specdrop_derive::layout::catalog_fragment(number, &year_month())
    );
    let storage = ctx.storage.clone();
    let name = stored_name.to_string();
    let modes = ctx.modes;
    let claims = LedgerClaims {
        runtime: tokio::runtime::Handle::current(),
        ledger: ctx.ledger.clone(),
        run: ctx.run.clone(),
        hash: entry.hash.clone(),
        root: match &storage {
            Storage::Folder { root } => root.clone(),
            Storage::Bucket(_) => std::path::PathBuf::new(),
        },
        url_base: collection.config.url_base.clone(),
    };
    let mut attempt = Attempt { set, claims };
    let mut delay = FIRST_DELAY;
    let started = std::time::Instant::now();
    // A full, read-only or failing disk, or an unreachable or refusing
    // bucket, is the storage's trouble, not the file's: it waits with a
    // warning, as for a database outage, and past the outage limit is left
    // untouched for the next run.
    let files = loop {
        let (storage, dir, name, tag) = (storage.clone(), dir.clone(), name.clone(), tag.clone());
        let done = tokio::task::spawn_blocking(move || {
            let Attempt { set, mut claims } = attempt;
            let written = storage.write_set(&dir, &name, tag.as_deref(), &set, modes, &mut claims);
            (written, Attempt { set, claims })
        })
        .await;
        let (written, back) = match done {
            Ok(done) => done,
            Err(e) => return Err(failed(format!("storage task failed: {e}"))),
        };
        attempt = back;
        // On failure write_set removed what it had put in place and gave
        // back those claims; a file it could not remove stays claimed, for
        // the next start.
        match written {
            Ok(files) => break files,
            Err(e) if e.is_storage_fault() && started.elapsed() < ctx.outage.limit() && !ctx.stopping() => {
                tracing::warn!("storage unavailable ({e}); {stored_name} waits and tries again in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_DELAY);
            }
            Err(e) if e.is_storage_fault() => {
                crate::claims::set_aside(ctx, &entry.hash).await;
                ctx.outage.note_deferred();
                let detail = format!("storage unavailable ({e}); left in place for the next run");
                return Err(Verdict::new(Kind::Skipped, detail, None));
            }
            Err(e) => {
                crate::claims::set_aside(ctx, &entry.hash).await;
                return Err(failed(e.to_string()));
            }
        }
    };
    ctx.checkpoints.reached(Checkpoint::DerivativesStored);
    let Some(urls) = urls_of(&collection.config, &files) else {
        return Err(failed("no derivative was made; enable a size in [derive]".into()));
    };
    let size = files.large.as_ref().or(files.web.as_ref()).map(|f| (f.width, f.height));
    Ok(Stored {
        files,
        md5,
        bytes,
        urls,
        size,
    })
}

const FIRST_DELAY: std::time::Duration = std::time::Duration::from_secs(1);
const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(60);

/// What one try at writing takes to its blocking thread and back.
struct Attempt {
    set: Derivatives,
    claims: LedgerClaims,
}

/// url = the web file (or the large one doing its job), originalUrl = the
/// large file; `None` when nothing was made.
fn urls_of(cfg: &Collection, stored: &StoredSet) -> Option<MediaUrls> {
    let url_of = |f: &StoredFile| cfg.url_base.join(&f.relative);
    let large = stored.large.as_ref();
    let main = stored.web.as_ref().or(large).or(stored.thumbnail.as_ref())?;
    Some(MediaUrls {
        url: url_of(main),
        thumbnail_url: stored.thumbnail.as_ref().map(url_of),
        original_url: Some(url_of(large.unwrap_or(main))),
    })
}

/// Symbiota's mediaMD5: the MD5 of the large file (of the largest file
/// made, when large is disabled).
fn md5_of_original(set: &Derivatives) -> String {
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

pub fn year_month() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:04}{:02}", now.year(), u8::from(now.month()))
}
