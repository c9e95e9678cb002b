//! The imaging team's report, inside each drop folder (`_specdrop/` by
//! default, `report.folder`): they see the share, not the journal.
//!
//! - `YYYY-MM-DD.csv`: every file taken that day (local time) with its
//!   outcome, reason, catalog number and specimen link, appended as it
//!   happens;
//! - `waiting.csv`: parked and failed files still in the drop folder,
//!   rewritten until they are resolved;
//! - `index.html`: both as a page that opens from the share, no server
//!   needed.
//!
//! The folder is never taken as an arrival (the watcher and the scan skip
//! it). A report that cannot be written is a warning, never a reason to
//! stop processing.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use specdrop_beneath::{BeneathError, Folder};

use crate::clock;
use crate::config::{Collection, ReportConfig};
use crate::ledger::{Ledger, Listed};
use crate::outcome::{Kind, Report};

/// New columns go at the end: a day's file may hold rows of an earlier
/// version.
const HEADER: [&str; 9] = [
    "time",
    "file",
    "outcome",
    "reason",
    "catalog_number",
    "occid",
    "specimen",
    "image",
    "number_from",
];
/// Rows of today's table on the page; the CSV has them all.
const PAGE_ROWS: usize = 1000;
pub const WAITING_FILE: &str = "waiting.csv";
pub const PAGE_FILE: &str = "index.html";

pub struct TeamReport {
    config: ReportConfig,
    /// Drop folders whose page is out of date. Appends go one at a time.
    dirty: Mutex<BTreeSet<PathBuf>>,
    warned: std::sync::atomic::AtomicBool,
}

impl TeamReport {
    pub fn new(config: &ReportConfig) -> TeamReport {
        TeamReport {
            config: config.clone(),
            dirty: Mutex::new(BTreeSet::new()),
            warned: std::sync::atomic::AtomicBool::new(false),
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
        let row = [
            clock::time_of_day(),
            report.file.to_string_lossy().into_owned(),
            report.kind.as_str().to_string(),
            if report.kind.is_done() {
                String::new()
            } else {
                report.detail.clone()
            },
            fields.catalog_number.clone().unwrap_or_default(),
            fields.occid.map(|o| o.to_string()).unwrap_or_default(),
            fields.occid.map(|o| self.specimen_link(o)).unwrap_or_default(),
            fields.url.clone().unwrap_or_default(),
            fields.number_from.map(|n| n.to_string()).unwrap_or_default(),
        ];
        let day = format!("{}.csv", clock::today());
        let file = dir.join(&day);
        match crate::blocking::off_runtime(|| append(&self.config, &collection.drop, &day, &row)) {
            Ok(()) => {
                dirty.insert(collection.drop.clone());
            }
            Err(e) => self.warn_once(&file, &e),
        }
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
        let drops: BTreeSet<&Path> = collections
            .iter()
            .map(|c| c.drop.as_path())
            .filter(|d| all || dirty.contains(*d))
            .collect();
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
        crate::blocking::off_runtime(|| {
            for drop in drops {
                let Some(dir) = Self::dir(&self.config, drop) else {
                    continue;
                };
                let here: Vec<&Listed> = waiting
                    .iter()
                    .filter(|w| {
                        let source = Path::new(&w.source);
                        source.starts_with(drop) && std::fs::symlink_metadata(source).is_ok_and(|m| m.is_file())
                    })
                    .collect();
                if let Err(e) = self.write_folder(drop, &here) {
                    self.warn_once(&dir, &e);
                }
            }
        });
    }

    fn write_folder(&self, drop: &Path, waiting: &[&Listed]) -> std::io::Result<()> {
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
        let bytes = out.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        dir.write(Path::new(WAITING_FILE), &bytes)?;

        let today = clock::today();
        let rows = read_rows(&dir, &format!("{today}.csv"));
        let mut days: Vec<String> = dir
            .list(Path::new("."))?
            .into_iter()
            .filter(|(_, kind)| *kind == specdrop_beneath::Kind::File)
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .filter(|n| n.len() == 14 && n.ends_with(".csv") && n.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        days.sort_unstable_by(|a, b| b.cmp(a));
        // Written whole through a temporary name: a reader never sees half
        // a page.
        dir.write(
            Path::new(PAGE_FILE),
            page(&today, waiting, &relative, &rows, &days).as_bytes(),
        )?;
        Ok(())
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

fn page(
    today: &str,
    waiting: &[&Listed],
    relative: &dyn Fn(&str) -> String,
    rows: &[Vec<String>],
    days: &[String],
) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>specdrop report {today}</title>\n\
         <style>body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}}\
         .failed{{background:#fdd}}.parked{{background:#ffd}}.linked,.skeletal{{background:#dfd}}</style></head><body>\n\
         <h1>Files in this folder: what happened</h1>\n<p>Updated {} (local time). Plain CSV files beside this page hold the same.</p>\n",
        escape(&format!("{today} {}", clock::time_of_day()))
    );
    let _ = write!(
        html,
        "<h2>Waiting: {} file(s) parked or failed</h2>\n<p>These stay in the folder. Parked files are tried again on \
         their own (their specimen record may not exist yet); failed files need a fix, e.g. a new copy.</p>\n",
        waiting.len()
    );
    if !waiting.is_empty() {
        html.push_str(
            "<table><tr><th>file</th><th>outcome</th><th>reason</th><th>catalog number</th><th>since (UTC)</th></tr>\n",
        );
        for w in waiting {
            let _ = writeln!(
                html,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                w.outcome,
                escape(&relative(&w.source)),
                w.outcome,
                escape(&w.reason),
                escape(w.catalog_number.as_deref().unwrap_or("")),
                escape(&w.updated)
            );
        }
        html.push_str("</table>\n");
    }
    let _ = writeln!(html, "<h2>Today, {today}: {} file(s)</h2>", rows.len());
    if rows.len() > PAGE_ROWS {
        let _ = writeln!(html, "<p>The last {PAGE_ROWS} are shown; {today}.csv has them all.</p>");
    }
    if !rows.is_empty() {
        html.push_str("<table><tr><th>time</th><th>file</th><th>outcome</th><th>reason</th><th>catalog number</th><th>specimen</th></tr>\n");
        for row in rows.iter().rev().take(PAGE_ROWS) {
            let cell = |i: usize| row.get(i).map_or("", String::as_str);
            let number = match (cell(4), cell(8)) {
                (number, "") => escape(number),
                (number, from) => format!("{} ({})", escape(number), escape(from)),
            };
            let specimen = match (cell(5), cell(6)) {
                ("", _) => String::new(),
                (occid, "") => format!("occid {}", escape(occid)),
                (occid, link) => format!("<a href=\"{}\">occid {}</a>", escape(link), escape(occid)),
            };
            let _ = writeln!(
                html,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{number}</td><td>{specimen}</td></tr>",
                escape(cell(2)),
                escape(cell(0)),
                escape(cell(1)),
                escape(cell(2)),
                escape(cell(3)),
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str("<h2>Every day</h2>\n<ul>\n");
    for day in days {
        let _ = writeln!(html, "<li><a href=\"{0}\">{0}</a></li>", escape(day));
    }
    html.push_str("</ul>\n</body></html>\n");
    html
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn names_cannot_break_out_of_the_page() {
        assert_eq!(
            escape("<script>a\"b'&</script>"),
            "&lt;script&gt;a&quot;b&#39;&amp;&lt;/script&gt;"
        );
    }
}
