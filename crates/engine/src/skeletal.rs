//! Skeletal data files in drop folders and `specdrop import-skeletal`: read
//! and check the file, apply it in one transaction, and tell the imaging
//! team row by row what happened in a small result file beside it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use specdrop_beneath::{BeneathError, Folder};
use specdrop_mapper::skeletal::{self, Applied, Derived, SkeletalFile, SkeletalOptions};
use specdrop_mapper::{MapperError, Portal};

use crate::Error;
use crate::collection::Prepared;
use crate::config::{Collection, Config, Sink};
use crate::context::Context;
use crate::outcome::Kind;

/// The result file written beside `file` (`NAME.result.txt`).
pub fn result_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    file.with_file_name(format!("{name}{}", specdrop_watch::names::RESULT_SUFFIX))
}

/// Read and check a file against the portal's fields.
pub async fn read(portal: &Portal, bytes: &[u8]) -> Result<Result<SkeletalFile, String>, MapperError> {
    let fields = portal.occurrence_fields().await?;
    let text = match specdrop_textfile::read(bytes) {
        Ok(text) => text,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let table = skeletal::Table::new(text.header, text.records, text.note);
    Ok(skeletal::check(table, &fields))
}

fn options<'a>(collection: &'a Prepared, derived: &'a HashMap<String, Derived>) -> SkeletalOptions<'a> {
    let cfg: &Collection = &collection.config;
    SkeletalOptions {
        collection: &collection.info,
        pattern: &cfg.pattern,
        rules: cfg.match_rules,
        overwrite: cfg.skeletal_overwrite,
        media_fields: &cfg.fields,
        derived,
    }
}

/// The images of a checked file's associatedMedia links, fetched and
/// stored once, before the file is applied (and outside any retry of it):
/// what each link became, and the sets to settle after the apply.
#[derive(Default)]
pub struct Links {
    derived: HashMap<String, Derived>,
    made: Vec<crate::remote_derive::Made>,
}

/// With a session whose `remote.derive` is on (`deriving`), fetch each
/// associatedMedia link's image and store its thumbnail and web image
/// (remote_derive.rs); a link that cannot be fetched is not linked.
pub async fn fetch_links(
    portal: &Portal,
    collection: &Prepared,
    file: &SkeletalFile,
    deriving: Option<&Context>,
) -> Links {
    let mut links = Links::default();
    let Some(ctx) = deriving.filter(|ctx| ctx.remote.derive) else {
        return links;
    };
    for (catalog, url) in portal.skeletal_links(file, &options(collection, &links.derived)) {
        if links.derived.contains_key(&url) {
            continue;
        }
        let entry = match crate::remote_derive::make(ctx, collection, &catalog, &url).await {
            Ok(m) => {
                let entry = Derived::Made {
                    urls: m.urls.clone(),
                    md5: m.md5.clone(),
                    size: m.size,
                };
                links.made.push(m);
                entry
            }
            Err(why) => Derived::Refused(why),
        };
        links.derived.insert(url, entry);
    }
    links
}

impl Links {
    /// Apply `file` with these links' images (one transaction; may be
    /// retried, it fetches nothing).
    pub async fn apply(
        &self,
        portal: &Portal,
        collection: &Prepared,
        file: &SkeletalFile,
    ) -> Result<Applied, MapperError> {
        portal.apply_skeletal(file, &options(collection, &self.derived)).await
    }

    /// After the last try: the sets a committed row points to are kept,
    /// the rest removed.
    pub async fn settle(self, ctx: Option<&Context>, collection: &Prepared) {
        let Some(ctx) = ctx else { return };
        for m in self.made {
            m.settle(ctx, collection).await;
        }
    }
}

/// Apply a checked file for `collection`, its links' images fetched first
/// (see [`fetch_links`]); files no committed row points to are removed
/// again.
pub async fn apply(
    portal: &Portal,
    collection: &Prepared,
    file: &SkeletalFile,
    deriving: Option<&Context>,
) -> Result<Applied, MapperError> {
    let links = fetch_links(portal, collection, file, deriving).await;
    let applied = links.apply(portal, collection, file).await;
    links.settle(deriving, collection).await;
    applied
}

/// The summary line: counts and where the details are.
pub fn summary(applied: &Applied) -> String {
    let refused = match applied.media_refused.len() {
        0 => String::new(),
        n => format!(", {n} not fetched"),
    };
    format!(
        "{} created, {} filled, {} unchanged, {} rejected; {} image link(s){refused}",
        applied.created.len(),
        applied.filled.len(),
        applied.unchanged.len(),
        applied.rejected.len(),
        applied.media_linked
    )
}

/// The first line of a result file: what the file was, for which
/// collection, and when.
pub fn result_heading(what: &str, name: &str, collection: &Prepared) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "specdrop: {what} {name}, collection {} (collid {}), {} UTC\n",
        collection.config.code,
        collection.config.collid,
        now.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    )
}

/// The result file's text, for people who open it from the share.
pub fn result_text(
    name: &str,
    collection: &Prepared,
    warnings: &[String],
    outcome: &Result<Applied, String>,
) -> String {
    let mut t = result_heading("skeletal file", name, collection);
    let applied = match outcome {
        Err(why) => {
            let _ = writeln!(t, "\nREFUSED, nothing was written:\n  {why}");
            return t;
        }
        Ok(applied) => applied,
    };
    let _ = writeln!(t, "rows: {}", summary(applied));
    let mut section = |title: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            let _ = writeln!(t, "\n{title}:");
            for line in lines {
                let _ = writeln!(t, "  {line}");
            }
        }
    };
    section("warnings", warnings.to_vec());
    section(
        "rejected (fix these rows and drop them again)",
        applied
            .rejected
            .iter()
            .map(|(l, why)| format!("line {l}: {why}"))
            .collect(),
    );
    section(
        "image links not linked (their image could not be fetched; nothing was stored)",
        applied
            .media_refused
            .iter()
            .map(|(l, why)| format!("line {l}: {why}"))
            .collect(),
    );
    section(
        "created (processingStatus unprocessed)",
        applied
            .created
            .iter()
            .map(|(l, c, o)| format!("line {l}: {c} -> new record occid {o}"))
            .collect(),
    );
    section(
        "filled (only fields that were empty)",
        applied
            .filled
            .iter()
            .map(|(l, c, o, f)| format!("line {l}: {c} -> occid {o}: {}", f.join(", ")))
            .collect(),
    );
    section(
        "unchanged",
        applied
            .unchanged
            .iter()
            .map(|(l, c, o)| format!("line {l}: {c} -> occid {o}"))
            .collect(),
    );
    t
}

/// A skeletal file from a drop folder, read, checked and its links'
/// images fetched, ready to apply in the collection's turn.
pub struct Ready {
    name: String,
    meta: std::fs::Metadata,
    file: SkeletalFile,
    links: Links,
}

/// A skeletal file that arrived in a drop folder, read and checked, and
/// its associatedMedia fetched (before the collection's link turn: a slow
/// server holds up no other file); or how it ends now. A refused file
/// stays, with the result file beside it saying why. The file is read from
/// the drop folder's descriptor without following a link
/// (specdrop-beneath); a portal outage leaves it for the next run.
pub async fn ready_from_drop(ctx: &Context, collection: &Prepared, path: &Path) -> Result<Ready, (Kind, String)> {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let (bytes, meta) = read_from_drop(ctx, collection, path, "skeletal file").await?;
    let checked = match ctx.outage.retry(&name, || read(&ctx.portal, &bytes)).await {
        Ok(checked) => checked,
        Err(e) => return Err(database_failed(ctx, e, "not read")),
    };
    let file = match checked {
        Ok(file) => file,
        Err(why) => {
            let text = result_text(&name, collection, &[], &Err(why.clone()));
            let note = write_result(&collection.config.drop, None, &result_path(path), &text).await;
            return Err((Kind::Failed, format!("skeletal file refused: {why}{note}")));
        }
    };
    if ctx.dry_run {
        return Err((
            Kind::Skeletal,
            format!("would apply skeletal file ({} rows)", file.rows()),
        ));
    }
    let links = fetch_links(&ctx.portal, collection, &file, Some(ctx)).await;
    Ok(Ready {
        name,
        meta,
        file,
        links,
    })
}

impl Ready {
    /// Apply the file (in the collection's turn; a database retry applies
    /// the rows again, it fetches nothing), settle the links' images, and
    /// move the file to the archive with its result file: (outcome, report
    /// text).
    pub async fn apply(self, ctx: &Context, collection: &Prepared, path: &Path) -> (Kind, String) {
        let Ready {
            name,
            meta,
            file,
            links,
        } = self;
        let applied = ctx
            .outage
            .retry(&name, || links.apply(&ctx.portal, collection, &file))
            .await;
        links.settle(Some(ctx), collection).await;
        let applied = match applied {
            Ok(applied) => applied,
            Err(e) => return database_failed(ctx, e, "not applied (nothing written)"),
        };
        let text = result_text(&name, collection, &file.warnings, &Ok(applied.clone()));
        let note = archive_with_result(collection, path, &meta, &text).await;
        let kind = if applied.rejected.is_empty() && applied.media_refused.is_empty() {
            Kind::Skeletal
        } else {
            Kind::Failed
        };
        (kind, format!("skeletal file: {}{note}", summary(&applied)))
    }

    /// Not applied after all (the turn could not be had): the links'
    /// images are removed again.
    pub async fn drop_unapplied(self, ctx: &Context, collection: &Prepared) {
        self.links.settle(Some(ctx), collection).await;
    }
}

/// Read a text file that arrived in a drop folder (`what`: a skeletal or
/// mapping file) from the drop folder's descriptor without following a
/// link, with the status of the handle it was read from; or how it ends
/// now (left in place without a database sink; gone, unreadable, still
/// arriving).
pub(crate) async fn read_from_drop(
    ctx: &Context,
    collection: &Prepared,
    path: &Path,
    what: &str,
) -> Result<(Vec<u8>, std::fs::Metadata), (Kind, String)> {
    if ctx.sink != Sink::Database {
        return Err((
            Kind::Skipped,
            format!("{what} left in place: it needs sink.kind = \"database\""),
        ));
    }
    let drop = collection.config.drop.clone();
    let (file, limit) = (path.to_path_buf(), ctx.derive.max_file_mb.saturating_mul(1 << 20));
    let opened = tokio::task::spawn_blocking(move || {
        let folder = Folder::open(&drop)?;
        let (bytes, handle) = folder.read(&file, limit)?;
        let meta = handle
            .metadata()
            .map_err(|cause| BeneathError::Io { path: file, cause })?;
        Ok::<_, BeneathError>((bytes, meta))
    })
    .await;
    let (bytes, meta) = match opened {
        Ok(Ok(read)) => read,
        Ok(Err(e)) if e.is_not_found() => return Err((Kind::Skipped, "gone before it was read".into())),
        Ok(Err(e @ BeneathError::Io { .. })) => return Err((Kind::Failed, format!("cannot read the file: {e}"))),
        Ok(Err(e)) => return Err((Kind::Failed, e.to_string())),
        Err(e) => return Err((Kind::Failed, format!("cannot read the file: {e}"))),
    };
    if let Some(why) = still_arriving(&meta, &bytes, ctx.settle) {
        return Err((
            Kind::Skipped,
            format!("still arriving: {why}; it is taken once complete"),
        ));
    }
    Ok((bytes, meta))
}

/// Move a text file that was taken into the archive (only the file that
/// was read, by `meta`) with its result file beside it; when the move
/// fails, the result goes beside the file in the drop folder. The note
/// for the report.
pub(crate) async fn archive_with_result(
    collection: &Prepared,
    path: &Path,
    meta: &std::fs::Metadata,
    text: &str,
) -> String {
    let (drop, archive, source) = (
        collection.config.drop.clone(),
        collection.config.archive.clone(),
        path.to_path_buf(),
    );
    let expect = crate::archive::Expect {
        identity: Some(crate::archive::Identity::of(meta)),
        hash: None,
    };
    let moved =
        tokio::task::spawn_blocking(move || crate::archive::move_to_archive(&drop, &archive, &source, &expect)).await;
    match moved {
        Ok(Ok(target)) => {
            let (drop, stale) = (collection.config.drop.clone(), result_path(path));
            let _ = tokio::task::spawn_blocking(move || Folder::open(&drop)?.remove(&stale)).await;
            let cfg = &collection.config;
            write_result(&cfg.drop, Some(&cfg.archive), &result_path(&target), text).await
        }
        _ => write_result(&collection.config.drop, None, &result_path(path), text).await,
    }
}

/// Write the result file beside a refused text file in the drop folder.
pub(crate) async fn result_beside(collection: &Prepared, path: &Path, text: &str) -> String {
    write_result(&collection.config.drop, None, &result_path(path), text).await
}

/// A database error while reading or applying a skeletal file: an outage
/// past `database.retry_mins` leaves the file for the next run (nothing
/// was written: it is applied in one transaction); anything else fails it.
pub(crate) fn database_failed(ctx: &Context, e: MapperError, what: &str) -> (Kind, String) {
    if e.is_transient() {
        ctx.outage.note_deferred();
        return (
            Kind::Skipped,
            format!("portal database unavailable ({e}); skeletal file {what}, left in place for the next run"),
        );
    }
    (Kind::Failed, format!("skeletal file {what}: database: {e}"))
}

/// Why a text file in a drop folder is not complete yet, if it is not:
/// changed within `settle` (as the daemon waits), or cut off
/// (`specdrop_textfile::cut_off`). `meta` is the status of the handle the
/// bytes were read from.
pub fn still_arriving(meta: &std::fs::Metadata, bytes: &[u8], settle: std::time::Duration) -> Option<String> {
    let changed = meta.modified().ok().and_then(|t| t.elapsed().ok());
    if changed.is_some_and(|age| age < settle) {
        return Some(format!(
            "changed less than watch.settle_secs = {} s ago",
            settle.as_secs()
        ));
    }
    specdrop_textfile::cut_off(bytes)
}

/// A text file named on the command line is taken as it is, unless it is
/// cut off.
pub fn refuse_cut_off(file: &Path, bytes: &[u8]) -> Result<(), Error> {
    match specdrop_textfile::cut_off(bytes) {
        Some(why) => Err(Error::Run(format!(
            "{} looks cut off ({why}); wait until it is completely written and run again",
            file.display()
        ))),
        None => Ok(()),
    }
}

/// Write a result file below the drop folder, or below `archive` for an
/// applied file, without following a link: a link planted under the
/// result's name is refused and left, and nothing is written.
async fn write_result(drop: &Path, archive: Option<&Path>, path: &Path, text: &str) -> String {
    let (drop, archive) = (drop.to_path_buf(), archive.map(Path::to_path_buf));
    let (file, bytes) = (path.to_path_buf(), text.as_bytes().to_vec());
    let written = tokio::task::spawn_blocking(move || {
        let drop_folder = Folder::open(&drop)?;
        match &archive {
            Some(archive) => crate::archive::open_archive(&drop_folder, archive, false)?.write(&file, &bytes),
            None => drop_folder.write(&file, &bytes),
        }
    })
    .await;
    match written {
        Ok(Ok(())) => format!(
            " (details: {})",
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        ),
        Ok(Err(e)) => format!(" (the result file was not written: {e})"),
        Err(e) => format!(" (the result file {} could not be written: {e})", path.display()),
    }
}

/// `specdrop import-skeletal FILE --collection CODE`: apply the file where
/// it is and print the result. Exit 0 applied, 1 refused or rows rejected.
pub async fn import(config: &Config, file: &Path, code: &str) -> Result<std::process::ExitCode, Error> {
    crate::collection::position(config, code)?;
    let bytes = std::fs::read(file).map_err(|e| Error::Run(format!("cannot read {}: {e}", file.display())))?;
    refuse_cut_off(file, &bytes)?;
    let name = file
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let outcome = if config.remote.derive {
        let session = crate::session::open_one(config, code).await?;
        let (ctx, collection) = (&session.ctx, &session.collections[0]);
        let outcome = import_into(&ctx.portal, collection, &bytes, &name, Some(ctx)).await;
        session.close().await;
        outcome
    } else {
        let (portal, collection, _) = crate::session::open_collection(config, code).await?;
        let outcome = import_into(&portal, &collection, &bytes, &name, None).await;
        portal.close().await;
        outcome
    };
    Ok(match outcome? {
        Ok(applied) if applied.rejected.is_empty() && applied.media_refused.is_empty() => {
            std::process::ExitCode::SUCCESS
        }
        _ => std::process::ExitCode::from(1),
    })
}

/// Read, check and apply `bytes` (a file named `name`), printing the
/// result.
async fn import_into(
    portal: &Portal,
    collection: &Prepared,
    bytes: &[u8],
    name: &str,
    deriving: Option<&Context>,
) -> Result<Result<Applied, String>, Error> {
    let checked = read(portal, bytes).await?;
    let (warnings, outcome) = match checked {
        Err(why) => (Vec::new(), Err(why)),
        Ok(file) => {
            let applied = apply(portal, collection, &file, deriving).await?;
            (file.warnings.clone(), Ok(applied))
        }
    };
    print!("{}", result_text(name, collection, &warnings, &outcome));
    Ok(outcome)
}
