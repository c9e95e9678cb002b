//! One file through the whole path: complete? -> seen before? -> catalog
//! number -> specimen -> derivatives -> row (or log line) -> ledger ->
//! archive.
//!
//! Order is what keeps originals safe: the source is only moved after its
//! derivatives are on disk and its row is committed, and derivatives whose
//! row could not be committed are removed again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use md5::{Digest as _, Md5};
use sha2::Sha256;
use specdrop_derive::store::{self, StoredFile, StoredSet};
use specdrop_derive::{DeriveConfig, DeriveError};
use specdrop_mapper::{
    Action, CollectionInfo, ExistingImage, LinkRequest, Lookup, MapperError, MediaUrls, Portal, Unmatched,
};
use specdrop_watch::complete::{self, Arrived};
use specdrop_watch::{Accept, Class};

use crate::archive;
use crate::config::{BarcodeRules, Collection, Identifier, Sink};
use crate::identify;
use crate::ledger::{Ledger, Record};
use crate::outage::Outage;
use crate::outcome::{Kind, Known, NumberFrom, Report};
use crate::sink::{self, LogLine};
use crate::turnstile::Ticket;

/// Test hook (tests/e2e/crash.rs): when set, the process dies right after
/// a file's derivatives are in place and before its row, the moment a
/// kill is hardest to survive, so the test need not hit it by chance.
const ABORT_AFTER_STORE: &str = "SPECDROP_TEST_ABORT_AFTER_STORE";

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
    /// Permissions of derivative files and folders.
    pub modes: store::Modes,
    pub derive: DeriveConfig,
    pub sink: Sink,
    /// The threads that decode, resize and encode (`workers.threads`).
    pub workers: specdrop_derive::Workers,
    /// Waiting out an unreachable or locked portal database.
    pub outage: Outage,
    /// Set on shutdown: files between stages stop cleanly (nothing half
    /// written) and are taken again at the next start.
    pub stopping: AtomicBool,
    pub dry_run: bool,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The imaging team's report in each drop folder.
    pub share: crate::share::ShareReport,
    /// This session's id on its claims (claims.rs).
    pub run: String,
    /// The state folder's lock, held for the session's life, and whether
    /// it was taken exclusively (claims.rs).
    pub lock: Option<(std::fs::File, bool)>,
}

/// Everything `process` learns along the way, for the ledger.
#[derive(Clone)]
struct Facts {
    hash: String,
    catalog_number: Option<String>,
    number_from: Option<NumberFrom>,
}

/// How a file ended, and whether the ledger should remember it.
struct Ending {
    kind: Kind,
    detail: String,
    /// Remember as not done (parked, failed...) under this content hash.
    remember: Option<Facts>,
    known: Known,
}

fn ending(kind: Kind, detail: impl Into<String>, remember: Option<Facts>) -> Ending {
    let known = Known {
        catalog_number: remember.as_ref().and_then(|f| f.catalog_number.clone()),
        number_from: remember.as_ref().and_then(|f| f.number_from),
        ..Known::default()
    };
    Ending {
        kind,
        detail: detail.into(),
        remember,
        known,
    }
}

/// Take one file. `ticket` orders its link step after every file started
/// before it (see turnstile.rs).
pub async fn process(ctx: Arc<Context>, collection: Arc<Prepared>, path: PathBuf, ticket: Ticket) -> Report {
    let started = std::time::Instant::now();
    let end = match take(&ctx, &collection, &path, &ticket).await {
        Ok(end) | Err(end) => end,
    };
    if !ctx.dry_run
        && let Some(facts) = &end.remember
    {
        let record = Record {
            hash: &facts.hash,
            collection: &collection.config.code,
            source: &path.to_string_lossy(),
            reason: Some(&end.detail),
            catalog_number: facts.catalog_number.as_deref(),
            number_from: facts.number_from,
            ..Record::default()
        };
        if let Err(e) = ctx.ledger.record(end.kind, &record).await {
            tracing::warn!("{}: {e}", path.display());
        }
    }
    let report = Report {
        collection: collection.config.code.clone(),
        file: path
            .strip_prefix(&collection.config.drop)
            .unwrap_or(&path)
            .to_path_buf(),
        kind: end.kind,
        detail: end.detail,
        known: Known {
            elapsed: Some(started.elapsed()),
            ..end.known
        },
    };
    crate::events::told(&ctx, &collection.config, &report);
    report
}

/// `Ok` and `Err` both end the file; `Err` is an early exit.
async fn take(ctx: &Context, collection: &Prepared, path: &Path, ticket: &Ticket) -> Result<Ending, Ending> {
    let cfg = &collection.config;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let class = Accept::default().classify(&name);
    if class == Class::Skeletal {
        // Records change: in turn with the images, one at a time.
        ticket.my_turn().await;
        let (kind, detail) = crate::skeletal::from_drop(ctx, collection, path).await;
        return Ok(ending(kind, detail, None));
    }
    if class == Class::Archive {
        return Err(ending(
            Kind::Failed,
            "refused: an archive format (TIFF, DNG or camera RAW), not for the web; export a JPEG for the portal \
             (the file is left where it is)",
            None,
        ));
    }
    let limit = ctx.derive.max_file_mb;
    let source = path.to_path_buf();
    let bytes = tokio::task::spawn_blocking(move || read_source(&source, limit))
        .await
        .unwrap_or_else(|e| Err(format!("cannot read the file: {e}")))
        .map_err(|detail| ending(Kind::Failed, detail, None))?;
    if let Arrived::Truncated(at) = complete::check(&bytes) {
        let detail = format!(
            "incomplete: the image ends at byte {at} before its end marker; still uploading? it is taken once complete"
        );
        return Err(ending(Kind::Skipped, detail, None));
    }
    let mut facts = Facts {
        hash: format!("{:x}", Sha256::digest(&bytes)),
        catalog_number: None,
        number_from: None,
    };

    let seen = ctx
        .ledger
        .get(&facts.hash)
        .await
        .map_err(|e| ending(Kind::Failed, e.to_string(), None))?;
    if let Some(seen) = seen.filter(|seen| seen.outcome.is_done()) {
        let occid = seen.occid.map_or_else(String::new, |o| format!(" (occid {o})"));
        let first = Path::new(&seen.source)
            .file_name()
            .map_or(seen.source.clone(), |n| n.to_string_lossy().into_owned());
        let mut detail = format!("duplicate of {first}{occid}: already linked, nothing new written");
        if !ctx.dry_run {
            // The ledger keeps where the first copy went.
            detail.push_str(&archive_note(ctx, collection, path, None).await);
        }
        return Ok(ending(Kind::Skipped, detail, None));
    }

    if let Err(e) = specdrop_derive::probe(&bytes, ctx.derive.max_pixels, &ctx.derive.formats) {
        return Err(ending(Kind::Failed, e.to_string(), Some(facts)));
    }
    let stopping = || ctx.stopping.load(Ordering::Relaxed);
    let abandoned = || {
        ending(
            Kind::Skipped,
            "not finished: specdrop is stopping; it is taken again at the next start",
            None,
        )
    };
    let database_trouble = |e: MapperError, facts: &Facts| database_ending(ctx, e, facts);

    let from_name = match cfg.identifier {
        Identifier::Barcode => None,
        _ => cfg.pattern.catalog_number(&name),
    };
    let mut source = Some(bytes);
    // Derivatives made early, when their pixels were needed to read the
    // barcodes.
    let mut made = None;
    let (catalog_number, note) = if identify::needs_barcode(cfg.identifier, cfg.barcode.verify, from_name.as_deref()) {
        if ctx.dry_run {
            let detail = match &from_name {
                Some(n) => format!("would read the sheet's barcode to check catalog number {n}"),
                None => "would read the sheet's barcode for its catalog number".to_string(),
            };
            let mut end = ending(Kind::Skipped, detail, None);
            end.known.catalog_number = from_name;
            return Ok(end);
        }
        if stopping() {
            return Err(abandoned());
        }
        let bytes = source.take().unwrap_or_default();
        let (set, number, from, note) = by_barcode(ctx, cfg, &name, from_name.as_deref(), bytes, &facts).await?;
        made = Some(set);
        facts.number_from = Some(from);
        (number, note)
    } else {
        let Some(number) = from_name else {
            return Err(ending(Kind::Skipped, "no catalog number in name", Some(facts)));
        };
        facts.number_from = Some(NumberFrom::FileName);
        (number, None)
    };
    facts.catalog_number = Some(catalog_number.clone());
    // Read from a barcode, the camera's name means nothing: derivatives
    // are named after the catalog number, so IMG_0001.jpg from two
    // sessions never collide.
    let stored_name = match facts.number_from {
        Some(NumberFrom::Barcode(_)) => format!("{catalog_number}.jpg"),
        _ => name.clone(),
    };

    let lookup = ctx
        .outage
        .retry(&name, || ctx.portal.find(cfg.collid, &catalog_number, cfg.match_rules))
        .await
        .map_err(|e| database_trouble(e, &facts))?;
    let found = match lookup {
        Lookup::Found(occurrence) => Some(occurrence),
        Lookup::Ambiguous(occids) => {
            return Err(ending(
                Kind::Parked,
                MapperError::Ambiguous(occids).to_string(),
                Some(facts),
            ));
        }
        Lookup::NotFound if cfg.unmatched == Unmatched::Skeletal => None,
        Lookup::NotFound => {
            let detail = format!(
                "no specimen: no record with catalog number {catalog_number} in collid {}",
                cfg.collid
            );
            return Err(ending(Kind::Parked, detail, Some(facts)));
        }
    };
    if let (Some(occurrence), ExistingImage::Skip) = (found, cfg.existing) {
        let images = ctx
            .outage
            .retry(&name, || ctx.portal.image_count(occurrence.occid))
            .await
            .map_err(|e| database_trouble(e, &facts))?;
        if images > 0 {
            let detail = format!(
                "occid {} already has {images} image(s) and existing_image = \"skip\"; left in place",
                occurrence.occid
            );
            return Err(ending(Kind::Skipped, detail, Some(facts)));
        }
    }
    if ctx.dry_run {
        let mut end = match found {
            Some(o) => ending(
                Kind::Linked,
                format!("would link catalog number {catalog_number} to occid {}", o.occid),
                None,
            ),
            None => ending(
                Kind::Skeletal,
                format!("would create a skeletal record for catalog number {catalog_number}"),
                None,
            ),
        };
        end.known.catalog_number = Some(catalog_number);
        end.known.occid = found.map(|o| o.occid);
        return Ok(end);
    }

    let failed = |e: DeriveError| ending(Kind::Failed, e.to_string(), Some(facts.clone()));
    if stopping() {
        return Err(abandoned());
    }
    let set = match (made, source) {
        (Some(set), _) => set,
        (None, Some(bytes)) => derive(ctx, bytes).await.map_err(failed)?,
        (None, None) => return Err(failed(DeriveError::Resize("the source was already used".into()))),
    };
    if stopping() {
        return Err(abandoned());
    }
    let md5 = md5_of_original(&set);
    let bytes = set.bytes();
    // From here on files go one at a time in name order: derivative names
    // (`_1` when taken) and sortSequence follow the order of the files,
    // not the order their pixels happened to be ready in.
    ticket.my_turn().await;
    if stopping() {
        return Err(abandoned());
    }
    // A short content hash in the names, when asked, so a replaced image
    // never shows a cached old one.
    let tag = ctx.derive.hash_in_name.then(|| facts.hash[..8].to_string());
    // On failure write_set removed what it had put in place and gave back
    // those claims; a file it could not remove stays claimed, for the next
    // start.
    let stored = match store(ctx, collection, &catalog_number, &stored_name, tag, &facts.hash, set).await {
        Ok(stored) => stored,
        Err(e) => {
            crate::claims::set_aside(ctx, &facts.hash).await;
            return Err(failed(e));
        }
    };
    if std::env::var_os(ABORT_AFTER_STORE).is_some() {
        std::process::abort();
    }
    let Some(urls) = urls_of(cfg, &stored) else {
        return Err(ending(
            Kind::Failed,
            "no derivative was made; enable a size in [derive]",
            Some(facts),
        ));
    };
    let size = stored
        .large
        .as_ref()
        .or(stored.web.as_ref())
        .map(|f| (f.width, f.height));
    let request_url = urls.url.clone();
    let request = LinkRequest {
        collection: &collection.info,
        catalog_number: &catalog_number,
        rules: cfg.match_rules,
        unmatched: cfg.unmatched,
        existing: cfg.existing,
        fields: &cfg.fields,
        urls,
        md5: Some(&md5),
        source_name: &name,
        stem: &specdrop_derive::layout::stem(&stored_name),
        size,
        format: "image/jpeg",
    };

    // `keep`: the new files are in use, and the ledger lists them (not
    // when the row was already there and they were removed again).
    let (kind, occid, media_id, what, keep) = match &ctx.sink {
        Sink::Log(log) => {
            if let Err(e) = sink::append(log, &log_line(cfg, &request)) {
                // The line may be in the log all the same (a failed flush):
                // the next start looks for it before removing anything.
                crate::claims::set_aside(ctx, &facts.hash).await;
                let detail = format!("cannot append to sink.path {}: {e}", log.display());
                return Err(ending(Kind::Failed, detail, Some(facts)));
            }
            let kind = if found.is_some() { Kind::Linked } else { Kind::Skeletal };
            let occid = found.map(|o| o.occid);
            (
                kind,
                occid,
                None,
                format!("logged to {} for load-log", log.display()),
                true,
            )
        }
        Sink::Database => {
            let linked = ctx.outage.retry(&name, || ctx.portal.link(&request)).await;
            let linked = match linked {
                Ok(linked) => linked,
                Err(e) => {
                    // The commit may have gone through before the error (or
                    // an earlier try's did): the files go only when the
                    // portal says no row points at them; when it cannot
                    // say, the next start asks again.
                    match ctx.portal.refers_to(&request_url).await {
                        Ok(false) => crate::claims::undo(ctx, &stored, &facts.hash, path).await,
                        _ => crate::claims::set_aside(ctx, &facts.hash).await,
                    }
                    return Err(database_trouble(e, &facts));
                }
            };
            // A retry can find the row an earlier try of this very link
            // committed before its answer was lost: it points at these
            // files, which then stay.
            let ours = match &linked.action {
                Action::AlreadyThere { .. } => ctx.portal.refers_to(&request_url).await.ok(),
                _ => Some(true),
            };
            let keep = ours == Some(true);
            let what = match &linked.action {
                Action::Inserted { .. } => files_made(&stored),
                Action::AlreadyThere { .. } if ours == Some(true) => {
                    format!("{}; its row was committed by an earlier try", files_made(&stored))
                }
                Action::AlreadyThere { .. } if ours == Some(false) => {
                    // The portal already had this image (an earlier run
                    // stopped before its ledger entry): no new copies needed.
                    crate::claims::undo(ctx, &stored, &facts.hash, path).await;
                    "row was already there".to_string()
                }
                Action::AlreadyThere { .. } => {
                    crate::claims::set_aside(ctx, &facts.hash).await;
                    "row was already there (new copies are checked at the next start)".to_string()
                }
                Action::Replaced { old, .. } => {
                    let removed =
                        remove_replaced(&ctx.storage_root, cfg, old, stored.files().map(|f| f.path.as_path()));
                    format!(
                        "{}, replacing the image of the same name ({removed} old file(s) removed)",
                        files_made(&stored)
                    )
                }
                Action::Skipped { images } => {
                    crate::claims::undo(ctx, &stored, &facts.hash, path).await;
                    let detail = format!(
                        "occid {} already has {images} image(s) and existing_image = \"skip\"; left in place",
                        linked.occid
                    );
                    return Err(ending(Kind::Skipped, detail, Some(facts)));
                }
            };
            let kind = if linked.created_occurrence {
                Kind::Skeletal
            } else {
                Kind::Linked
            };
            (kind, Some(linked.occid), linked.media_id(), what, keep)
        }
    };
    // Committed (or given back above): from here a row or a log line
    // points at the files, whatever happens to the ledger entry.
    crate::claims::release(ctx, &facts.hash).await;

    let rel = |f: &Option<StoredFile>| f.as_ref().filter(|_| keep).map(|f| f.relative.clone());
    let (large, web, thumbnail) = (rel(&stored.large), rel(&stored.web), rel(&stored.thumbnail));
    let record = Record {
        hash: &facts.hash,
        collection: &cfg.code,
        source: &path.to_string_lossy(),
        reason: None,
        catalog_number: Some(&catalog_number),
        occid,
        media_id,
        large: large.as_deref(),
        web: web.as_deref(),
        thumbnail: thumbnail.as_deref(),
        number_from: facts.number_from,
    };
    ctx.ledger
        .record(kind, &record)
        .await
        .map_err(|e| ending(Kind::Failed, format!("linked but {e}"), None))?;

    let target = match (kind, occid) {
        (Kind::Skeletal, Some(occid)) => format!("new skeletal record occid {occid}"),
        (_, Some(occid)) => format!("occid {occid}"),
        (_, None) => "a new skeletal record".to_string(),
    };
    let media = media_id.map_or_else(String::new, |m| format!(", media {m}"));
    let from = match facts.number_from {
        Some(from @ NumberFrom::Barcode(_)) => format!(" ({from})"),
        _ => String::new(),
    };
    let note = note.map_or_else(String::new, |n| format!("; {n}"));
    let mut detail = format!("catalog number {catalog_number}{from} -> {target}{media} ({what}){note}");
    detail.push_str(&archive_note(ctx, collection, path, Some(&facts.hash)).await);
    let mut end = ending(kind, detail, None);
    end.known = Known {
        catalog_number: Some(catalog_number),
        occid,
        media_id,
        url: Some(request_url),
        bytes: if keep { bytes } else { 0 },
        elapsed: None,
        number_from: facts.number_from,
    };
    Ok(end)
}

/// The source's bytes, read through one handle that is checked first: a
/// regular file with one name (a symbolic or hard link could lead out of
/// the drop folder, or to somebody else's file), no larger than
/// `derive.max_file_mb`. The error is the reason for the report; the file
/// stays where it is.
fn read_source(path: &Path, max_file_mb: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let file = std::fs::OpenOptions::new()
        .read(true)
        // Not blocking on a FIFO, not following a link swapped in.
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
                "refused: a symbolic link, which could lead out of the drop folder; copy the file itself \
                 (the link is left where it is)"
                    .to_string()
            }
            _ => format!("cannot read the file: {e}"),
        })?;
    let meta = file.metadata().map_err(|e| format!("cannot read the file: {e}"))?;
    if !meta.is_file() {
        return Err("refused: not a regular file (a folder, pipe or device with an image's name)".into());
    }
    if meta.nlink() > 1 {
        return Err(format!(
            "refused: a hard link ({} names for one file), which could be a file from outside the drop folder; \
             copy the file itself (the link is left where it is)",
            meta.nlink()
        ));
    }
    let limit = max_file_mb.saturating_mul(1 << 20);
    if meta.len() > limit {
        return Err(format!(
            "refused: {} MiB, more than derive.max_file_mb = {max_file_mb}; export a smaller JPEG \
             (the file is left where it is)",
            meta.len() >> 20
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // One byte past the limit tells a file that grew while read.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "refused: grew past derive.max_file_mb = {max_file_mb} while being read"
        ));
    }
    Ok(bytes)
}

/// Make the derivatives, reading the sheet's barcodes on the way, and
/// decide its catalog number (identify.rs); of several numbers, the one
/// that finds a record is used when it is the only one that does.
async fn by_barcode(
    ctx: &Context,
    cfg: &Collection,
    name: &str,
    from_name: Option<&str>,
    bytes: Vec<u8>,
    facts: &Facts,
) -> Result<(specdrop_derive::Derivatives, String, NumberFrom, Option<String>), Ending> {
    let (set, read) = derive_and_read(ctx, bytes, &cfg.barcode)
        .await
        .map_err(|e| ending(Kind::Failed, e.to_string(), Some(facts.clone())))?;
    let park = |reason: String| ending(Kind::Parked, reason, Some(facts.clone()));
    match identify::decide(&cfg.barcode, cfg.match_rules.leading_zeros, from_name, &read) {
        identify::Decision::Use { number, from, note } => Ok((set, number, from, note)),
        identify::Decision::Park(reason) => Err(park(reason)),
        identify::Decision::ByRecord { candidates, note } => {
            let mut with_records = Vec::new();
            for candidate in &candidates {
                let find = || ctx.portal.find(cfg.collid, &candidate.number, cfg.match_rules);
                let lookup = ctx
                    .outage
                    .retry(name, find)
                    .await
                    .map_err(|e| database_ending(ctx, e, facts))?;
                if !matches!(lookup, Lookup::NotFound) {
                    with_records.push(candidate);
                }
            }
            match with_records[..] {
                [only] => Ok((set, only.number.clone(), NumberFrom::Barcode(only.symbology), note)),
                _ => Err(park(identify::not_one_record(&candidates, with_records.len(), &read))),
            }
        }
    }
}

/// A database problem ends the file: an outage leaves it untouched for the
/// next run (never parked or failed for it); anything else is the file's.
fn database_ending(ctx: &Context, e: MapperError, facts: &Facts) -> Ending {
    ctx.outage.note_error();
    if e.is_transient() {
        ctx.outage.note_deferred();
        return ending(
            Kind::Skipped,
            format!("portal database unavailable ({e}); left in place for the next run"),
            None,
        );
    }
    let kind = match e {
        MapperError::Ambiguous(_) | MapperError::Vanished { .. } => Kind::Parked,
        _ => Kind::Failed,
    };
    ending(kind, e.to_string(), Some(facts.clone()))
}

fn files_made(stored: &StoredSet) -> String {
    let n = stored.files().count();
    format!("{n} file{}", if n == 1 { "" } else { "s" })
}

async fn derive(ctx: &Context, bytes: Vec<u8>) -> Result<specdrop_derive::Derivatives, DeriveError> {
    let config = ctx.derive.clone();
    on_worker(ctx, move || specdrop_derive::build(&bytes, &config)).await
}

/// [`derive`], reading the sheet's barcodes from the full-size pixels on
/// the way (docs/performance.md: what reads, and what it costs).
async fn derive_and_read(
    ctx: &Context,
    bytes: Vec<u8>,
    rules: &BarcodeRules,
) -> Result<(specdrop_derive::Derivatives, Vec<specdrop_barcode::Found>), DeriveError> {
    let config = ctx.derive.clone();
    let (kinds, pattern) = (rules.symbologies.clone(), rules.pattern.clone());
    on_worker(ctx, move || {
        let mut read = Vec::new();
        let set = specdrop_derive::build_and_look(&bytes, &config, &mut |view| {
            let pixels = specdrop_barcode::Pixels {
                width: view.width,
                height: view.height,
                channels: view.channels,
                data: view.pixels,
            };
            let wanted = |text: &str| pattern.catalog_number(text).is_some();
            // A reader crash on one sheet costs its barcodes, not its
            // derivatives: the file is parked as carrying none.
            let reading = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                specdrop_barcode::read(pixels, &kinds, &wanted)
            }));
            match reading {
                Ok(Ok(found)) => read = found,
                Ok(Err(e)) => tracing::warn!("{e}"),
                Err(_) => tracing::warn!("the barcode reader crashed on a sheet; it is treated as carrying none"),
            }
        })?;
        Ok((set, read))
    })
    .await
}

/// Run `job` on the derivative workers and wait for it.
async fn on_worker<T: Send + 'static>(
    ctx: &Context,
    job: impl FnOnce() -> Result<T, DeriveError> + Send + 'static,
) -> Result<T, DeriveError> {
    let (reply, result) = tokio::sync::oneshot::channel();
    let submitted = ctx.workers.submit(move || {
        let _ = reply.send(job());
    });
    if !submitted {
        return Err(DeriveError::Resize("the worker pool is shut down".into()));
    }
    // No reply: the job panicked inside a decoder or resizer.
    result
        .await
        .unwrap_or_else(|_| Err(DeriveError::Corrupt("the image crashed the decoder".into())))
}

async fn store(
    ctx: &Context,
    collection: &Prepared,
    catalog_number: &str,
    name: &str,
    tag: Option<String>,
    hash: &str,
    set: specdrop_derive::Derivatives,
) -> Result<StoredSet, DeriveError> {
    let dir = format!(
        "{}/{}",
        collection.folder,
        specdrop_derive::layout::catalog_fragment(catalog_number, &year_month())
    );
    let root = ctx.storage_root.clone();
    let name = name.to_string();
    let modes = ctx.modes;
    let mut claims = crate::claims::LedgerClaims {
        runtime: tokio::runtime::Handle::current(),
        ledger: ctx.ledger.clone(),
        run: ctx.run.clone(),
        hash: hash.to_string(),
        root: root.clone(),
        url_base: collection.config.url_base.clone(),
    };
    tokio::task::spawn_blocking(move || {
        store::write_set_claimed(&root, &dir, &name, tag.as_deref(), &set, modes, &mut claims)
    })
    .await
    .unwrap_or_else(|e| Err(DeriveError::Resize(format!("storage task failed: {e}"))))
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

fn log_line(cfg: &Collection, request: &LinkRequest<'_>) -> LogLine {
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

/// After a replace is committed, remove the files the row pointed to
/// before, when they are specdrop's to remove: under this collection's URL
/// base (hence under the storage root) and not one of the new files.
pub fn remove_replaced<'a>(
    storage_root: &Path,
    cfg: &Collection,
    old: &MediaUrls,
    new: impl Iterator<Item = &'a Path>,
) -> usize {
    let new: Vec<&Path> = new.collect();
    let olds = [Some(&old.url), old.thumbnail_url.as_ref(), old.original_url.as_ref()];
    let mut removed = 0;
    let mut seen = Vec::new();
    for url in olds.into_iter().flatten() {
        let Some(relative) = cfg.url_base.relative(url) else {
            continue;
        };
        if relative.split('/').any(|part| part == ".." || part.is_empty()) {
            continue;
        }
        let path = storage_root.join(relative);
        if new.contains(&path.as_path()) || seen.contains(&path) {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("could not remove the replaced file {}: {e}", path.display()),
        }
        seen.push(path);
    }
    removed
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
