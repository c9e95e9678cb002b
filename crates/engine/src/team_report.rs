//! The imaging team's report, inside each drop folder (`_specdrop/` by
//! default, `report.folder`): they see the share, not the journal.
//!
//! - `YYYY-MM-DD.csv`: every file taken that day (local time) with its
//!   outcome, reason, catalog number and specimen link, appended as it
//!   happens;
//! - `waiting.csv`: parked and failed files still in the drop folder,
//!   rewritten until they are resolved, and mapping lines whose image has
//!   not arrived;
//! - `index.html`: what happened in the last days as pictures, parked
//!   and failed files first (team_page.rs), opening from the share with
//!   no server;
//! - `thumbs/YYYY-MM-DD/`: a small copy of each linked sheet's thumbnail
//!   for the page, kept for the days the page shows. The page cannot know
//!   whether the portal's image URLs are reachable from where the team
//!   opens the share, so it shows the copy; a link without a local
//!   thumbnail (harvest, import-links) shows the portal's URL instead.
//!
//! The folder is never taken as an arrival (the watcher and the scan skip
//! it). A report that cannot be written is a warning, never a reason to
//! stop processing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use specdrop_beneath::{BeneathError, Folder};

use crate::clock;
use crate::config::{Collection, ReportConfig};
use crate::ledger::{Ledger, Listed};
use crate::mapping_lines::Unmatched;
use crate::outcome::{Kind, Report};
use crate::team_page::{Added, AddedCounts, Day, Page, column};

/// New columns go at the end: a day's file may hold rows of an earlier
/// version.
const HEADER: [&str; 12] = [
    "time",
    "file",
    "outcome",
    "reason",
    "catalog_number",
    "occid",
    "specimen",
    "image",
    "number_from",
    "thumbnail",
    "collection",
    "creator",
];
/// Rows of the page's table; the CSV files have them all.
const PAGE_ROWS: usize = 1000;
/// Days the page shows (and keeps thumbnails for).
const PAGE_DAYS: usize = 7;
const THUMBS: &str = "thumbs";
/// A thumbnail larger than this is not copied (they are about 10 KB).
const MAX_THUMBNAIL_BYTES: u64 = 1 << 20;
pub const WAITING_FILE: &str = "waiting.csv";
/// The outcome column of a mapping line in `waiting.csv` whose image has
/// not arrived.
pub const MAPPING_LINE_WAITING: &str = "waiting for its image";
pub const PAGE_FILE: &str = "index.html";

/// A day's CSV as counted: (drop folder, file name, size).
type CountedDay = (PathBuf, String, u64);

/// Images added in one day's CSV, by collection and by photographer.
#[derive(Default)]
struct Counted {
    collections: BTreeMap<String, usize>,
    photographers: BTreeMap<String, usize>,
}

pub struct TeamReport {
    config: ReportConfig,
    /// Drop folders whose page is out of date. Appends go one at a time.
    dirty: Mutex<BTreeSet<PathBuf>>,
    warned: std::sync::atomic::AtomicBool,
    /// Images added per collection in each day's CSV, by (drop folder,
    /// file name, its size): past days are not read again.
    counted: Mutex<HashMap<CountedDay, Counted>>,
}

impl TeamReport {
    pub fn new(config: &ReportConfig) -> TeamReport {
        TeamReport {
            config: config.clone(),
            dirty: Mutex::new(BTreeSet::new()),
            warned: std::sync::atomic::AtomicBool::new(false),
            counted: Mutex::new(HashMap::new()),
        }
    }

    /// The report folder of a drop folder, when reports are on.
    pub fn dir(config: &ReportConfig, drop: &Path) -> Option<PathBuf> {
        config.folder.as_ref().map(|f| drop.join(f))
    }

    /// Append one outcome to today's CSV of the collection's drop folder.
    pub fn record(&self, collection: &Collection, report: &Report) {
        let Some(dir) = Self::dir(&self.config, &collection.drop) else {
            return;
        };
        let Ok(mut dirty) = self.dirty.lock() else { return };
        let fields = &report.fields;
        let today = clock::today();
        let drop = &collection.drop;
        let thumbnail = crate::blocking::off_runtime(|| self.keep_thumbnail(drop, &today, report))
            .or_else(|| fields.url.as_deref().and_then(|url| self.absolute(url)))
            .unwrap_or_default();
        let row = [
            clock::time_of_day(),
            report.file.to_string_lossy().into_owned(),
            report.kind.as_str().to_string(),
            if report.kind.is_done() {
                // Only a remark (the same image is on another specimen
                // too, a barcode that disagreed with the name).
                fields.note.clone().unwrap_or_default()
            } else {
                report.detail.clone()
            },
            fields.catalog_number.clone().unwrap_or_default(),
            fields.occid.map(|o| o.to_string()).unwrap_or_default(),
            fields.occid.map(|o| self.specimen_link(o)).unwrap_or_default(),
            fields.url.clone().unwrap_or_default(),
            fields.number_from.map(|n| n.to_string()).unwrap_or_default(),
            thumbnail,
            collection.code.clone(),
            fields.creator.clone().unwrap_or_default(),
        ];
        let day = format!("{today}.csv");
        let file = dir.join(&day);
        match crate::blocking::off_runtime(|| append(&self.config, drop, &day, &row)) {
            Ok(()) => {
                dirty.insert(collection.drop.clone());
            }
            Err(e) => self.warn_once(&file, &e),
        }
    }

    /// Copy a linked sheet's thumbnail beside the page; its path relative
    /// to the page, or `None` when there is none to copy.
    fn keep_thumbnail(&self, drop: &Path, today: &str, report: &Report) -> Option<String> {
        use std::io::Read as _;
        // A file in local storage; an object in a bucket is shown by its URL.
        let source = report
            .fields
            .thumbnail
            .as_ref()
            .filter(|path| path.is_absolute() && report.kind.is_done())?;
        let mut bytes = Vec::new();
        std::fs::File::open(source)
            .and_then(|f| f.take(MAX_THUMBNAIL_BYTES).read_to_end(&mut bytes))
            .ok()?;
        // Storage names are safe (layout.rs); the catalog folder keeps two
        // sheets' names apart.
        let name: Vec<String> = source
            .iter()
            .rev()
            .take(2)
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let relative = format!(
            "{THUMBS}/{today}/{}_{}",
            name.get(1).map_or("", String::as_str),
            name.first()?
        );
        let written = open_folder(&self.config, drop).and_then(|dir| match dir {
            Some(dir) => dir.write(Path::new(&relative), &bytes),
            None => Ok(()),
        });
        match written {
            Ok(()) => Some(relative),
            Err(e) => {
                self.warn_once(source, &e);
                None
            }
        }
    }

    /// A URL the page can show from the share: absolute as it is, a path
    /// below the portal's address when `report.portal_url` is set.
    fn absolute(&self, url: &str) -> Option<String> {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Some(url.to_string());
        }
        let portal = self.config.portal_url.as_deref()?;
        url.starts_with('/').then(|| format!("{portal}{url}"))
    }

    fn specimen_link(&self, occid: i64) -> String {
        match &self.config.portal_url {
            Some(portal) => format!("{portal}/collections/individual/index.php?occid={occid}"),
            None => String::new(),
        }
    }

    fn warn_once(&self, file: &Path, e: &dyn std::fmt::Display) {
        if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                "cannot write the imaging team's report {}: {e}; processing goes on (set report.folder = \"\" to switch the report off)",
                file.display()
            );
        }
    }

    /// Rewrite the waiting list and the page of every drop folder that had
    /// outcomes since the last refresh (or of `all` of them).
    pub async fn refresh(&self, ledger: &Ledger, collections: &[&Collection], all: bool) {
        if self.config.folder.is_none() {
            return;
        }
        let dirty: BTreeSet<PathBuf> = match self.dirty.lock() {
            Ok(mut dirty) => std::mem::take(&mut *dirty),
            Err(_) => return,
        };
        // A drop folder with the code of (the first) collection it holds,
        // for rows of versions that did not write one.
        let mut drops: BTreeMap<&Path, &str> = BTreeMap::new();
        for c in collections.iter().filter(|c| all || dirty.contains(&c.drop)) {
            drops.entry(c.drop.as_path()).or_insert(c.code.as_str());
        }
        if drops.is_empty() {
            return;
        }
        let waiting = match ledger.listed(&[Kind::Parked, Kind::Failed], u32::MAX).await {
            Ok(waiting) => waiting,
            Err(e) => {
                tracing::warn!("cannot read the ledger for the imaging team's report: {e}");
                return;
            }
        };
        // Mapping lines whose image has not arrived: the team sees them
        // beside the files that wait.
        let unmatched = ledger.unmatched_mapping_lines().await.unwrap_or_else(|e| {
            tracing::warn!("cannot read the ledger's mapping lines for the imaging team's report: {e}");
            Vec::new()
        });
        crate::blocking::off_runtime(|| {
            for (drop, code) in drops {
                let Some(dir) = Self::dir(&self.config, drop) else {
                    continue;
                };
                let codes: Vec<&str> = collections
                    .iter()
                    .filter(|c| c.drop.as_path() == drop)
                    .map(|c| c.code.as_str())
                    .collect();
                let lines: Vec<&Unmatched> = unmatched
                    .iter()
                    .filter(|u| codes.contains(&u.collection.as_str()))
                    .collect();
                let here: Vec<&Listed> = waiting
                    .iter()
                    .filter(|w| {
                        // The exact path: a name that is not UTF-8 is found too.
                        w.path.starts_with(drop) && std::fs::symlink_metadata(&w.path).is_ok_and(|m| m.is_file())
                    })
                    .collect();
                if let Err(e) = self.write_folder(drop, code, &here, &lines) {
                    self.warn_once(&dir, &e);
                }
            }
        });
    }

    fn write_folder(
        &self,
        drop: &Path,
        default_code: &str,
        waiting: &[&Listed],
        unmatched: &[&Unmatched],
    ) -> std::io::Result<()> {
        let Some(dir) = open_folder(&self.config, drop)? else {
            return Ok(());
        };
        let relative = |source: &str| {
            Path::new(source)
                .strip_prefix(drop)
                .map_or_else(|_| source.to_string(), |p| p.to_string_lossy().into_owned())
        };
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(["since_utc", "file", "outcome", "reason", "catalog_number"])?;
        for w in waiting {
            out.write_record([
                w.updated.as_str(),
                &relative(&w.source),
                w.outcome.as_str(),
                &w.reason,
                w.catalog_number.as_deref().unwrap_or(""),
            ])?;
        }
        for u in unmatched {
            out.write_record([
                u.added.as_str(),
                u.path.as_str(),
                MAPPING_LINE_WAITING,
                &format!(
                    "listed on line {} of {}; no image of that name has arrived",
                    u.line, u.source
                ),
                "",
            ])?;
        }
        let bytes = out.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        dir.write(Path::new(WAITING_FILE), &bytes)?;

        let mut csv_files: Vec<String> = dir
            .list(Path::new("."))?
            .into_iter()
            .filter(|(_, kind)| *kind == specdrop_beneath::Kind::File)
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .filter(|n| n.len() == 14 && n.ends_with(".csv") && n.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        csv_files.sort_unstable_by(|a, b| b.cmp(a));
        let recent: Vec<Day> = csv_files
            .iter()
            .take(PAGE_DAYS)
            .map(|file| Day {
                date: file.trim_end_matches(".csv").to_string(),
                rows: read_rows(&dir, file),
            })
            .collect();
        let added = self.added(drop, &dir, &csv_files, default_code);
        let html = Page {
            updated: format!("{} {}", clock::today(), clock::time_of_day()),
            waiting,
            relative: &relative,
            recent: &recent,
            added: &added,
            csv_files: &csv_files,
            max_rows: PAGE_ROWS,
        }
        .html();
        // Written whole through a temporary name: a reader never sees half
        // a page.
        dir.write(Path::new(PAGE_FILE), html.as_bytes())?;
        forget_old_thumbnails(&dir, &recent);
        Ok(())
    }

    /// Images added per day and per month, by collection and by
    /// photographer, from every day's CSV (a day already counted is not
    /// read again unless it grew).
    fn added(&self, drop: &Path, dir: &Folder, csv_files: &[String], default_code: &str) -> AddedCounts {
        let mut added = AddedCounts {
            by_day: Added::new(),
            by_month: Added::new(),
            photographers_by_day: Added::new(),
            photographers_by_month: Added::new(),
        };
        let Ok(mut counted) = self.counted.lock() else {
            return added;
        };
        for file in csv_files {
            let Ok(node) = dir.stat(Path::new(file)) else { continue };
            let key = (drop.to_path_buf(), file.clone(), node.size);
            let day = counted.entry(key).or_insert_with(|| {
                let mut n = Counted::default();
                for row in read_rows(dir, file) {
                    let cell = |i: usize| row.get(i).map_or("", String::as_str);
                    if matches!(cell(column::OUTCOME), "linked" | "skeletal") {
                        let code = Some(cell(column::COLLECTION))
                            .filter(|c| !c.is_empty())
                            .unwrap_or(default_code);
                        *n.collections.entry(code.to_string()).or_insert(0) += 1;
                        let creator = cell(column::CREATOR).trim();
                        if !creator.is_empty() {
                            *n.photographers.entry(creator.to_string()).or_insert(0) += 1;
                        }
                    }
                }
                n
            });
            let date = file.trim_end_matches(".csv");
            let month = date.get(..7).unwrap_or(date);
            for (name, n) in &day.collections {
                *added.by_day.entry((date.to_string(), name.clone())).or_insert(0) += n;
                *added.by_month.entry((month.to_string(), name.clone())).or_insert(0) += n;
            }
            for (name, n) in &day.photographers {
                *added
                    .photographers_by_day
                    .entry((date.to_string(), name.clone()))
                    .or_insert(0) += n;
                *added
                    .photographers_by_month
                    .entry((month.to_string(), name.clone()))
                    .or_insert(0) += n;
            }
        }
        added
    }
}

/// Thumbnails of days the page no longer shows are removed.
fn forget_old_thumbnails(dir: &Folder, recent: &[Day]) {
    let Ok(days) = dir.list(Path::new(THUMBS)) else { return };
    for (day, kind) in days {
        let shown = recent.iter().any(|d| std::ffi::OsStr::new(&d.date) == day);
        if kind != specdrop_beneath::Kind::Dir || shown {
            continue;
        }
        let folder = Path::new(THUMBS).join(&day);
        for (name, _) in dir.list(&folder).unwrap_or_default() {
            let _ = dir.remove(&folder.join(name));
        }
        let _ = dir.remove_dir(&folder);
    }
}

/// The report folder of `drop`, reached (and made) from the drop folder's
/// descriptor without following a link; `None` when reports are off.
fn open_folder(config: &ReportConfig, drop: &Path) -> Result<Option<Folder>, BeneathError> {
    let Some(name) = &config.folder else {
        return Ok(None);
    };
    Folder::open(drop)?.sub(Path::new(name), true).map(Some)
}

fn append(config: &ReportConfig, drop: &Path, day: &str, row: &[String]) -> std::io::Result<()> {
    let Some(dir) = open_folder(config, drop)? else {
        return Ok(());
    };
    let handle = dir.append(Path::new(day))?;
    let new = handle.metadata()?.len() == 0;
    let mut out = csv::Writer::from_writer(handle);
    if new {
        out.write_record(HEADER)?;
    }
    out.write_record(row)?;
    out.flush()?;
    Ok(())
}

fn read_rows(dir: &Folder, day: &str) -> Vec<Vec<String>> {
    let Ok(file) = dir.open_file(Path::new(day)) else {
        return Vec::new();
    };
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(file)
        .records()
        .filter_map(Result::ok)
        .map(|r| r.iter().map(str::to_string).collect())
        .collect()
}
