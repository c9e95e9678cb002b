//! `specdrop check`: everything that would stop or hurt the daemon, found
//! at once and before it is live, as the user running `check`; then what
//! each waiting file would become.
//!
//! A config with mistakes does not stop it: the folders, the storage, the
//! database and the ledger are checked for every part that could still be
//! read, so one run names everything to fix.
//!
//! Exit 2 when the config itself is wrong, 1 when the config is right but
//! something else is (a folder, free space, the database, the ledger, a
//! file that would fail), 0 when all is well. Notes (a drop folder the
//! first run creates) do not change it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustix::fs::{Access, access, statvfs};

use crate::Error;
use crate::batch::{self, Output, Selection};
use crate::config::{Config, ConfigError, Readable, Sink};
use crate::ledger::{Ledger, LedgerError, Place};
use crate::outage::Outage;
use crate::outcome::{Kind, Report};
use crate::{collection, session};

/// Less free space than this on the storage or archive file system is a
/// problem: a day of a busy imaging line writes a few GiB.
pub const MIN_FREE_BYTES: u64 = 2 << 30;

/// Something wrong, or worth knowing, named by the config key it comes
/// from.
#[derive(Debug)]
struct Finding {
    key: String,
    message: String,
}

impl Finding {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// What the folder checks found: problems, and notes that change nothing.
#[derive(Debug, Default)]
struct Folders {
    problems: Vec<Finding>,
    notes: Vec<Finding>,
}

pub async fn command(config_file: &Path) -> Result<ExitCode, Error> {
    let readable = match Config::read(config_file) {
        Ok(readable) => readable,
        Err(e) => {
            println!("{e}");
            println!(
                "Fix this and run `specdrop check` again: until the file reads as TOML, nothing in it can be checked."
            );
            return Ok(ExitCode::from(2));
        }
    };
    let config_ok = readable.problems.is_empty();
    if config_ok {
        println!("config {}: read, no problems", config_file.display());
    } else {
        let error = ConfigError {
            file: config_file.to_path_buf(),
            problems: readable.problems.clone(),
        };
        print!("{error}");
    }
    let Folders {
        problems: mut findings,
        notes,
    } = folders(&readable);
    findings.extend(secrets(&readable));
    findings.extend(bucket(&readable).await);
    let mut notes = notes;
    // `check` changes nothing: an embedded portal that is not there yet is
    // not created by connecting to it (the first scan or run makes it).
    let unborn = readable
        .read("database")
        .then(|| missing_embedded_portal(&readable.config.database_url))
        .flatten();
    let database = match &unborn {
        Some(file) => {
            notes.push(Finding::new(
                "database.url",
                format!(
                    "the embedded portal {} does not exist yet; the first `specdrop scan` or `run` creates it",
                    file.display()
                ),
            ));
            Vec::new()
        }
        None => database(&readable).await,
    };
    let database_ok = database.is_empty() && readable.read("database") && unborn.is_none();
    findings.extend(database);
    let ledger = ledger(&readable).await;
    let ledger_ok = ledger.is_empty();
    findings.extend(ledger);
    findings.extend(ocr(&readable));
    findings.extend(auto_rotate(&readable));

    let mut would_fail = 0;
    if config_ok && database_ok && ledger_ok {
        // A drop folder the first run creates has nothing waiting, and a
        // dry run would report it as a failure.
        let mut present = readable.config.clone();
        present.collections.retain(|c| c.drop.is_dir());
        let (_, reports) = batch::run(&present, true, Selection::DropFolder, Output::Collect).await?;
        would_fail = reports.iter().filter(|r| r.kind == Kind::Failed).count();
        print_table(&reports);
    } else if !config_ok {
        println!("waiting files: not looked at (the config must be right to say what each would do)");
    } else if unborn.is_some() {
        println!("waiting files: not looked at (the embedded portal does not exist yet)");
    } else if !ledger_ok {
        println!("waiting files: not looked at (the ledger is needed to say what each would do)");
    } else {
        println!("waiting files: not looked at (the database is needed to say what each would do)");
    }
    let show = |f: &Finding| match readable.line(&f.key) {
        Some(line) => println!("  {}: {} (line {line})", f.key, f.message),
        None => println!("  {}: {}", f.key, f.message),
    };
    if !notes.is_empty() {
        println!("{} note(s):", notes.len());
        notes.iter().for_each(show);
    }
    if !findings.is_empty() {
        println!("{} problem(s):", findings.len());
        findings.iter().for_each(show);
    }
    if would_fail > 0 {
        println!("{would_fail} waiting file(s) would fail; the table above says why");
    }
    if !config_ok {
        println!(
            "The folders, the storage, the database and the ledger were checked for every part of the config \
             without a mistake; fix the config and run `specdrop check` again."
        );
        return Ok(ExitCode::from(2));
    }
    if findings.is_empty() && would_fail == 0 {
        println!("all good");
        return Ok(ExitCode::SUCCESS);
    }
    Ok(ExitCode::from(1))
}

/// Every folder specdrop writes to must be writable by this user, or
/// creatable when the daemon makes it on first run; only parts of the
/// config read without a mistake are looked at.
fn folders(readable: &Readable) -> Folders {
    let config = &readable.config;
    let mut found = Folders::default();
    let mut wanted: Vec<(String, PathBuf)> = Vec::new();
    if readable.read("state_dir") {
        wanted.push(("state_dir".into(), config.state_dir.clone()));
    }
    let storage = (readable.read("storage.root") && config.s3.is_none())
        .then(|| ("storage.root".to_string(), &config.storage_root));
    wanted.extend(storage.iter().map(|(k, p)| (k.clone(), p.to_path_buf())));
    let mut drops = Vec::new();
    let mut archives = Vec::new();
    for (c, i) in config.collections.iter().zip(&readable.collection_index) {
        let drop = format!("collection[{i}].drop");
        if readable.read(&drop) {
            drops.push(drop.clone());
            wanted.push((drop, c.drop.clone()));
        }
        let archive = format!("collection[{i}].archive");
        if readable.read(&archive) {
            archives.push((archive.clone(), &c.archive));
            wanted.push((archive, c.archive.clone()));
        }
    }
    if readable.read("sink")
        && let Sink::Log(path) = &config.sink
        && let Some(parent) = path.parent()
    {
        wanted.push(("sink.path".into(), parent.to_path_buf()));
    }
    if readable.read("database")
        && let Some(path) = config.database_url.strip_prefix("sqlite://")
        && let Some(parent) = Path::new(path).parent()
    {
        // SQLite writes its journal beside the database file.
        wanted.push(("database.url".into(), parent.to_path_buf()));
    }
    for (key, folder) in &wanted {
        match writable(folder) {
            Some(message) => found.problems.push(Finding::new(key, message)),
            None if drops.contains(key) && !folder.exists() => found.notes.push(Finding::new(
                key,
                format!(
                    "{} does not exist yet; it will be created at the first run",
                    folder.display()
                ),
            )),
            None => {}
        }
    }
    let mut seen = Vec::new();
    for (key, folder) in storage.into_iter().chain(archives) {
        let Some(existing) = folder.ancestors().find(|p| p.exists()) else {
            continue;
        };
        let Ok(fs) = statvfs(existing) else { continue };
        if seen.contains(&fs.f_fsid) {
            continue;
        }
        seen.push(fs.f_fsid);
        let free = fs.f_bavail.saturating_mul(fs.f_frsize);
        if free < MIN_FREE_BYTES {
            found.problems.push(Finding::new(
                key,
                format!(
                    "only {} MiB free on the file system of {} (less than {} MiB); free some space or move the folder",
                    free >> 20,
                    folder.display(),
                    MIN_FREE_BYTES >> 20
                ),
            ));
        }
    }
    found
}

/// `None` when `folder` is writable, or missing with a writable folder
/// above it (the daemon creates it).
fn writable(folder: &Path) -> Option<String> {
    if folder.exists() {
        if !folder.is_dir() {
            return Some(format!("{} is not a folder", folder.display()));
        }
        return access(folder, Access::WRITE_OK | Access::EXEC_OK).err().map(|e| {
            format!(
                "{} is not writable by this user ({e}); give specdrop's user write access (chown/chmod, or an ACL)",
                folder.display()
            )
        });
    }
    let parent = folder.ancestors().skip(1).find(|p| p.exists())?;
    if !parent.is_dir() {
        return Some(format!(
            "{} cannot be created: {} is a file, not a folder",
            folder.display(),
            parent.display()
        ));
    }
    access(parent, Access::WRITE_OK | Access::EXEC_OK).err().map(|_| {
        format!(
            "{} does not exist and cannot be created by this user ({} is not writable); create it and give specdrop's user write access",
            folder.display(),
            parent.display()
        )
    })
}

/// A bucket (`storage.kind = "s3"`) must list, take a conditional write
/// and a delete: the one thing `check` writes is that probe object, and
/// it says so.
async fn bucket(readable: &Readable) -> Vec<Finding> {
    let Some(s3) = readable.config.s3.clone().filter(|_| readable.read("storage")) else {
        return Vec::new();
    };
    let remote = match crate::storage::Remote::open(&s3) {
        Ok(remote) => remote,
        Err(e) => return vec![Finding::new("storage", e.to_string())],
    };
    let at = format!("bucket {} at {}", s3.bucket, s3.endpoint);
    let probed = tokio::task::spawn_blocking(move || remote.probe()).await;
    match probed {
        Ok(Ok(probe)) => {
            println!(
                "storage: {at}: listed prefix {:?} ({}), wrote the probe object {} with a conditional PUT and \
                 deleted it again (the only thing `check` writes)",
                s3.prefix,
                if probe.listed > 0 { "not empty" } else { "empty" },
                probe.key
            );
            if probe.honours_if_none_match {
                Vec::new()
            } else {
                vec![Finding::new(
                    "storage.endpoint",
                    format!(
                        "{at} ignores If-None-Match: a second create of the probe replaced it. specdrop looks \
                         (HEAD) before each upload, but a writer other than specdrop could still be overwritten \
                         between the look and the upload; use a server that honours conditional writes"
                    ),
                )]
            }
        }
        Ok(Err(e)) => vec![Finding::new(
            "storage.bucket",
            format!("{e} (specdrop waits for an unreachable bucket, but it must work to start)"),
        )],
        Err(e) => vec![Finding::new("storage.bucket", format!("the probe task failed: {e}"))],
    }
}

/// A password in a file others can read is a problem.
fn secrets(readable: &Readable) -> Vec<Finding> {
    use std::os::unix::fs::PermissionsExt as _;
    let config = &readable.config;
    if !readable.read("database") {
        return Vec::new();
    }
    let has_password = config
        .database_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .is_some_and(|(credentials, _)| credentials.contains(':'));
    let in_file = std::fs::read_to_string(&config.file).is_ok_and(|t| t.contains(&config.database_url));
    let world_readable = std::fs::metadata(&config.file).is_ok_and(|m| m.permissions().mode() & 0o004 != 0);
    if has_password && in_file && world_readable {
        return vec![Finding::new(
            "database.url",
            format!(
                "holds a password and {} is readable by every user; chmod 0640 it (group specdrop), or use \
                 database.url_file or SPECDROP_DATABASE_URL",
                config.file.display()
            ),
        )];
    }
    Vec::new()
}

/// One attempt, no waiting: is the database there, with a schema and each
/// configured collection whose id could be read?
async fn database(readable: &Readable) -> Vec<Finding> {
    if !readable.read("database") {
        return Vec::new();
    }
    let config = &readable.config;
    let outage = Outage::new(std::time::Duration::ZERO);
    let portal = match session::connect(config, &outage).await {
        Ok(portal) => portal,
        Err(failure) => {
            return vec![Finding::new(
                "database.url",
                format!("{failure} (specdrop waits for an unreachable database, but it must be there to start)"),
            )];
        }
    };
    let mut findings = Vec::new();
    for (c, i) in config.collections.iter().zip(&readable.collection_index) {
        let at = format!("collection[{i}]");
        if !readable.read(&format!("{at}.collid")) || !readable.read(&format!("{at}.after_batch_procedure")) {
            continue;
        }
        // One at a time, so that every collection's problem is named, not
        // only the first.
        let one = Config {
            collections: vec![c.clone()],
            ..config.clone()
        };
        if let Err(failure) = collection::prepare(&one, &portal).await {
            let message = failure.to_string();
            // prepare names the collection by its place in `one`.
            let message = message.strip_prefix("collection[0]").unwrap_or(&message);
            findings.push(match message.split_once(": ") {
                Some((key, m)) if key.starts_with('.') => Finding::new(format!("{at}{key}"), m),
                _ => Finding::new(at, message.trim_start_matches('.')),
            });
        }
    }
    portal.close().await;
    findings
}

/// With `ocr.enabled`, Tesseract and its English data must be installed;
/// without them linking goes on, but no label is read.
fn ocr(readable: &Readable) -> Vec<Finding> {
    if !readable.read("ocr") || !readable.config.ocr.enabled {
        return Vec::new();
    }
    match crate::ocr::Tesseract::find() {
        None => vec![Finding::new("ocr.enabled", crate::ocr::MISSING)],
        Some(tesseract) if !tesseract.has_english() => vec![Finding::new(
            "ocr.enabled",
            format!(
                "{} has no English data (`tesseract --list-langs` lacks eng); install tesseract-ocr-eng",
                tesseract.version
            ),
        )],
        Some(_) => Vec::new(),
    }
}

/// With `derive.auto_rotate`, Tesseract and its orientation data must be
/// installed; without them sheets are derived as they lie.
fn auto_rotate(readable: &Readable) -> Vec<Finding> {
    if !readable.read("derive.auto_rotate") || !readable.config.derive.auto_rotate {
        return Vec::new();
    }
    match crate::ocr::Tesseract::find() {
        None => vec![Finding::new(
            "derive.auto_rotate",
            "the tesseract program is not installed (not on PATH); install it (Debian/Ubuntu: apt-get install \
             tesseract-ocr) or set derive.auto_rotate = false. Until then sheets are derived as they lie",
        )],
        Some(tesseract) if !tesseract.has_orientation_data() => vec![Finding::new(
            "derive.auto_rotate",
            format!(
                "{} has no orientation data (`tesseract --list-langs` lacks osd); install tesseract-ocr-osd",
                tesseract.version
            ),
        )],
        Some(_) => Vec::new(),
    }
}

/// The ledger in `state_dir` opens and answers, read only. A `state_dir`
/// that is not a folder is already named by the folder checks.
async fn ledger(readable: &Readable) -> Vec<Finding> {
    if let Place::Server(_) = &readable.config.ledger {
        return if readable.read("ledger") {
            shared_ledger(&readable.config.ledger).await
        } else {
            Vec::new()
        };
    }
    let state_dir = &readable.config.state_dir;
    if !readable.read("state_dir") || !state_dir.is_dir() {
        return Vec::new();
    }
    let answered = match Ledger::open(state_dir, true).await {
        Ok(ledger) => {
            let counted = ledger.counts(false).await;
            ledger.close().await;
            counted.map(drop)
        }
        Err(e) => Err(e),
    };
    match answered {
        Ok(()) => Vec::new(),
        Err(e) => vec![Finding::new(
            "state_dir",
            format!(
                "the ledger {} cannot be read ({}); restore it from a backup, or move it aside and specdrop starts \
                 a new one (which does not know the files seen before)",
                state_dir.join("ledger.db").display(),
                // Open's own advice is about writing, which is not the trouble here.
                match &e {
                    LedgerError::Open { cause, .. } => cause.clone(),
                    other => other.to_string(),
                }
            ),
        )],
    }
}

/// The shared ledger database answers and is at the schema version this
/// specdrop expects (older: the next `run` or `scan` migrates it).
async fn shared_ledger(place: &Place) -> Vec<Finding> {
    let expected = crate::ledger::migrations::SCHEMA_VERSION;
    let found = match Ledger::open_at(place, true).await {
        Ok(ledger) => {
            let version = ledger.schema_version().await;
            ledger.close().await;
            version
        }
        Err(e) => Err(e),
    };
    let problem = match found {
        Ok(Some(version)) if version == expected => return Vec::new(),
        Ok(Some(0)) => format!(
            "the ledger database has no specdrop tables yet (schema version 0, expected {expected}); \
             `specdrop run` or `scan` makes them"
        ),
        Ok(Some(version)) if version < expected => format!(
            "the ledger database is at schema version {version}, expected {expected}; \
             the next `specdrop run` or `scan` migrates it"
        ),
        Ok(Some(version)) => LedgerError::Newer {
            found: version,
            expected,
        }
        .to_string(),
        Ok(None) => return Vec::new(),
        Err(e) => e.to_string(),
    };
    vec![Finding::new("ledger.url", problem)]
}

/// What each waiting file would become.
fn print_table(reports: &[Report]) {
    if reports.is_empty() {
        println!("waiting files: none");
        return;
    }
    println!("waiting files ({}): what would happen", reports.len());
    let width = |f: &dyn Fn(&Report) -> usize, min: usize| reports.iter().map(f).max().unwrap_or(0).max(min);
    let cw = width(&|r| r.collection.len(), 10);
    let fw = width(&|r| r.file.to_string_lossy().len(), 4).min(60);
    println!("  {:<cw$}  {:<fw$}  WOULD", "COLLECTION", "FILE");
    for r in reports {
        println!(
            "  {:<cw$}  {:<fw$}  {}",
            r.collection,
            r.file.to_string_lossy(),
            would(r)
        );
    }
}

fn would(r: &Report) -> String {
    let catalog = r
        .fields
        .catalog_number
        .as_deref()
        .map_or_else(String::new, |c| format!(" (catalog number {c})"));
    match (r.kind, r.fields.occid) {
        (Kind::Linked, Some(occid)) => format!("link to occid {occid}{catalog}"),
        (Kind::Skeletal, _) => format!("skeletal: new record{catalog}"),
        (Kind::Parked, _) => format!("park: {}", r.detail),
        (Kind::Failed, _) => format!("fail: {}", r.detail),
        (Kind::Skipped, _) => format!("skip: {}", r.detail),
        (Kind::Linked, None) => r.detail.clone(),
    }
}

/// The file of a `sqlite://PATH` portal that does not exist yet.
fn missing_embedded_portal(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://")?.split('?').next()?;
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    let file = PathBuf::from(path);
    (!file.exists()).then_some(file)
}
