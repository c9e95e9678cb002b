//! `specdrop check`: everything that would stop or hurt the daemon, found
//! at once and before it is live, as the user running `check`; then what
//! each waiting file would become.
//!
//! Exit 2 when the config itself is wrong, 1 when the config is right but
//! something else is (a folder, free space, the database, a file that
//! would fail), 0 when all is well.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustix::fs::{Access, access, statvfs};

use crate::Error;
use crate::batch::{self, Output, Selection};
use crate::config::{Config, Sink};
use crate::outage::Outage;
use crate::outcome::{Kind, Report};
use crate::{collection, session};

/// Less free space than this on the storage or archive file system is a
/// problem: a day of a busy imaging line writes a few GiB.
pub const MIN_FREE_BYTES: u64 = 2 << 30;

/// Something wrong, named by the config key it comes from.
#[derive(Debug)]
struct Finding {
    key: String,
    message: String,
}

pub async fn command(config_file: &Path) -> Result<ExitCode, Error> {
    let config = match Config::load(config_file) {
        Ok(config) => config,
        Err(e) => {
            println!("{e}");
            println!("Fix these and run `specdrop check` again; the folders and the database are checked then.");
            return Ok(ExitCode::from(2));
        }
    };
    println!("config {}: read, no problems", config_file.display());
    let mut findings = folders(&config);
    findings.extend(secrets(&config));
    let database = database(&config).await;
    let database_ok = database.is_empty();
    findings.extend(database);

    let mut would_fail = 0;
    if database_ok {
        let (_, reports) = batch::run(&config, true, Selection::DropFolder, Output::Collect).await?;
        would_fail = reports.iter().filter(|r| r.kind == Kind::Failed).count();
        print_table(&reports);
    } else {
        println!("waiting files: not looked at (the database is needed to say what each would do)");
    }
    if findings.is_empty() && would_fail == 0 {
        println!("all good");
        return Ok(ExitCode::SUCCESS);
    }
    if !findings.is_empty() {
        println!("{} problem(s):", findings.len());
        for f in &findings {
            println!("  {}: {}", f.key, f.message);
        }
    }
    if would_fail > 0 {
        println!("{would_fail} waiting file(s) would fail; the table above says why");
    }
    Ok(ExitCode::from(1))
}

/// Every folder specdrop writes to must be writable by this user, or
/// creatable when the daemon makes it on first run.
fn folders(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut wanted: Vec<(String, PathBuf)> = vec![
        ("state_dir".into(), config.state_dir.clone()),
        ("storage.root".into(), config.storage_root.clone()),
    ];
    for (i, c) in config.collections.iter().enumerate() {
        wanted.push((format!("collection[{i}].drop"), c.drop.clone()));
        wanted.push((format!("collection[{i}].archive"), c.archive.clone()));
    }
    if let Sink::Log(path) = &config.sink
        && let Some(parent) = path.parent()
    {
        wanted.push(("sink.path".into(), parent.to_path_buf()));
    }
    if let Some(path) = config.database_url.strip_prefix("sqlite://")
        && let Some(parent) = Path::new(path).parent()
    {
        // SQLite writes its journal beside the database file.
        wanted.push(("database.url".into(), parent.to_path_buf()));
    }
    for (key, folder) in &wanted {
        if let Some(message) = writable(folder) {
            findings.push(Finding {
                key: key.clone(),
                message,
            });
        }
    }
    let mut seen = Vec::new();
    let storage = [("storage.root".to_string(), &config.storage_root)];
    let archives = config
        .collections
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("collection[{i}].archive"), &c.archive));
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
            findings.push(Finding {
                key,
                message: format!(
                    "only {} MiB free on the file system of {} (less than {} MiB); free some space or move the folder",
                    free >> 20,
                    folder.display(),
                    MIN_FREE_BYTES >> 20
                ),
            });
        }
    }
    findings
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

/// A password in a file others can read is a problem.
fn secrets(config: &Config) -> Vec<Finding> {
    use std::os::unix::fs::PermissionsExt as _;
    let has_password = config
        .database_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .is_some_and(|(credentials, _)| credentials.contains(':'));
    let in_file = std::fs::read_to_string(&config.file).is_ok_and(|t| t.contains(&config.database_url));
    let world_readable = std::fs::metadata(&config.file).is_ok_and(|m| m.permissions().mode() & 0o004 != 0);
    if has_password && in_file && world_readable {
        return vec![Finding {
            key: "database.url".into(),
            message: format!(
                "holds a password and {} is readable by every user; chmod 0640 it (group specdrop), or use \
                 database.url_file or SPECDROP_DATABASE_URL",
                config.file.display()
            ),
        }];
    }
    Vec::new()
}

/// One attempt, no waiting: is the database there, with a schema and the
/// configured collections?
async fn database(config: &Config) -> Vec<Finding> {
    let outage = Outage::new(std::time::Duration::ZERO);
    let portal = match session::connect(config, &outage).await {
        Ok(portal) => portal,
        Err(failure) => {
            let message = failure.to_string();
            return vec![Finding {
                key: "database.url".into(),
                message: format!(
                    "{message} (specdrop waits for an unreachable database, but it must be there to start)"
                ),
            }];
        }
    };
    let prepared = collection::prepare(config, &portal).await;
    portal.close().await;
    match prepared {
        Ok(_) => Vec::new(),
        Err(failure) => {
            let message = failure.to_string();
            let (key, message) = message.split_once(": ").map_or_else(
                || ("database".to_string(), message.clone()),
                |(k, m)| (k.to_string(), m.to_string()),
            );
            vec![Finding { key, message }]
        }
    }
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
