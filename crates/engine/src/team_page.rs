//! The imaging team's page (`index.html` in the report folder): what
//! happened as pictures, parked and failed sheets first. Plain HTML and
//! CSS, no script and nothing fetched from elsewhere, so that it opens
//! from the share, on a phone, and reads with images blocked (every
//! thumbnail has its file name as text). The outcome and day filters are
//! radio buttons that CSS alone acts on.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ledger::Listed;
use crate::outcome::Kind;

/// Columns of a day's CSV (team_report.rs writes them).
pub mod column {
    pub const TIME: usize = 0;
    pub const FILE: usize = 1;
    pub const OUTCOME: usize = 2;
    pub const REASON: usize = 3;
    pub const CATALOG_NUMBER: usize = 4;
    pub const OCCID: usize = 5;
    pub const SPECIMEN: usize = 6;
    pub const NUMBER_FROM: usize = 8;
    pub const THUMBNAIL: usize = 9;
    pub const COLLECTION: usize = 10;
    pub const CREATOR: usize = 11;
}

/// One day's rows, as its CSV holds them (header left out).
pub struct Day {
    pub date: String,
    pub rows: Vec<Vec<String>>,
}

/// Images added (linked, or linked to a new skeletal record), by period
/// (`YYYY-MM-DD` or `YYYY-MM`) and collection.
pub type Added = BTreeMap<(String, String), usize>;

/// Images added per day and per month: by collection, and by photographer
/// where a mapping file named one.
pub struct AddedCounts {
    pub by_day: Added,
    pub by_month: Added,
    pub photographers_by_day: Added,
    pub photographers_by_month: Added,
}

pub struct Page<'a> {
    pub updated: String,
    pub waiting: &'a [&'a Listed],
    /// A waiting file's path as the team sees it (relative to the folder).
    pub relative: &'a dyn Fn(&str) -> String,
    /// The days shown, newest first.
    pub recent: &'a [Day],
    pub added: &'a AddedCounts,
    /// Every day's CSV file name, newest first.
    pub csv_files: &'a [String],
    /// Rows shown at most; the CSV files have them all.
    pub max_rows: usize,
}

const OUTCOMES: [&str; 5] = ["parked", "failed", "linked", "skeletal", "skipped"];

const STYLE: &str = "\
body{font-family:sans-serif;margin:0.6em;max-width:70em;line-height:1.35}\
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.2em}\
.scroll{overflow-x:auto}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\
.failed{background:#fdd}.parked{background:#ffd}.linked,.skeletal{background:#efe}\
img{max-width:120px;max-height:120px;display:block}\
.filters{display:flex;flex-wrap:wrap;gap:0.3em;margin:0.3em 0}\
input{position:absolute;opacity:0}\
label{border:1px solid #999;border-radius:1em;padding:0.2em 0.7em;cursor:pointer}";

impl Page<'_> {
    pub fn html(&self) -> String {
        let mut html = String::new();
        let _ = write!(
            html,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>specdrop: what happened to the files in this folder</title>\n<style>{STYLE}{}</style></head><body>\n\
             <h1>Files in this folder: what happened</h1>\n<p>Updated {} (local time). The CSV files beside this page \
             hold the same, every row.</p>\n",
            self.filter_rules(),
            escape(&self.updated)
        );
        self.filters(&mut html);
        html.push_str("<main>\n");
        self.waiting_table(&mut html);
        self.recent_table(&mut html);
        self.added(&mut html);
        html.push_str("<h2>Every day</h2>\n<ul>\n");
        for file in self.csv_files {
            let _ = writeln!(html, "<li><a href=\"{0}\">{0}</a></li>", escape(file));
        }
        html.push_str("</ul>\n</main>\n</body></html>\n");
        html
    }

    /// Every filter button: (group, id, label text).
    fn buttons(&self) -> Vec<(&'static str, String, String)> {
        let mut buttons = vec![("o", "o-all".to_string(), "every outcome".to_string())];
        buttons.extend(OUTCOMES.iter().map(|o| ("o", format!("o-{o}"), o.to_string())));
        buttons.push(("d", "d-all".to_string(), "every day shown".to_string()));
        buttons.extend(
            self.recent
                .iter()
                .map(|d| ("d", format!("d-{}", day_id(&d.date)), d.date.clone())),
        );
        buttons
    }

    /// A checked radio button hides the rows of other outcomes or days,
    /// and marks its label.
    fn filter_rules(&self) -> String {
        let mut css = String::new();
        for outcome in OUTCOMES {
            let _ = write!(css, "#o-{outcome}:checked~main tr.row:not(.{outcome}){{display:none}}");
        }
        for day in self.recent {
            let _ = write!(
                css,
                "#d-{0}:checked~main tr.day:not(.d-{0}){{display:none}}",
                day_id(&day.date)
            );
        }
        for (_, id, _) in self.buttons() {
            let _ = write!(
                css,
                "#{id}:checked~.filters label[for={id}]{{background:#333;color:#fff}}\
                 #{id}:focus-visible~.filters label[for={id}]{{outline:2px solid #06c}}"
            );
        }
        css
    }

    /// The radio buttons are siblings of `main` (so that the rules above
    /// reach its rows); their labels are the visible buttons.
    fn filters(&self, html: &mut String) {
        let buttons = self.buttons();
        for (group, id, _) in &buttons {
            let checked = if id.ends_with("-all") { " checked" } else { "" };
            let _ = write!(html, "<input type=\"radio\" name=\"{group}\" id=\"{id}\"{checked}>");
        }
        for (group, title) in [("o", "outcome"), ("d", "day")] {
            let _ = write!(html, "\n<div class=\"filters\" role=\"group\" aria-label=\"{title}\">");
            for (_, id, text) in buttons.iter().filter(|b| b.0 == group) {
                let _ = write!(html, "<label for=\"{id}\">{}</label>", escape(text));
            }
            html.push_str("</div>");
        }
        html.push('\n');
    }

    fn waiting_table(&self, html: &mut String) {
        let _ = write!(
            html,
            "<h2>Waiting: {} file(s) parked or failed</h2>\n<p>These stay in the folder. Parked files are tried again \
             on their own (their specimen record may not exist yet); failed files need a fix, such as a new copy.</p>\n",
            self.waiting.len()
        );
        if self.waiting.is_empty() {
            return;
        }
        html.push_str(
            "<div class=\"scroll\"><table><tr><th>file</th><th>outcome</th><th>reason</th><th>what to do</th>\
             <th>catalog number</th><th>since (UTC)</th></tr>\n",
        );
        let mut waiting = self.waiting.to_vec();
        waiting.sort_by_key(|w| (rank(w.outcome.as_str()), std::cmp::Reverse(w.updated.clone())));
        for w in waiting {
            let _ = writeln!(
                html,
                "<tr class=\"row {0}\"><td>{1}</td><td>{0}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td></tr>",
                w.outcome,
                escape(&(self.relative)(&w.source)),
                escape(&w.reason),
                what_to_do(w.outcome),
                escape(w.catalog_number.as_deref().unwrap_or("")),
                escape(&w.updated)
            );
        }
        html.push_str("</table></div>\n");
    }

    fn recent_table(&self, html: &mut String) {
        let total: usize = self.recent.iter().map(|d| d.rows.len()).sum();
        let _ = writeln!(
            html,
            "<h2>The last {} day(s): {total} file(s), parked and failed first</h2>",
            self.recent.len()
        );
        if total > self.max_rows {
            let _ = writeln!(
                html,
                "<p>The newest {} are shown; the day's CSV file has them all.</p>",
                self.max_rows
            );
        }
        if total == 0 {
            return;
        }
        let mut rows: Vec<(&str, &Vec<String>)> = self
            .recent
            .iter()
            .flat_map(|d| d.rows.iter().rev().map(move |r| (d.date.as_str(), r)))
            .take(self.max_rows)
            .collect();
        let cell = |row: &Vec<String>, i: usize| row.get(i).map_or("", String::as_str).to_string();
        // Stable: within a rank, newest first as read.
        rows.sort_by_key(|(_, row)| rank(&cell(row, column::OUTCOME)));
        html.push_str(
            "<div class=\"scroll\"><table><tr><th>when</th><th>sheet</th><th>file</th><th>outcome</th>\
             <th>catalog number</th><th>reason</th></tr>\n",
        );
        for (date, row) in rows {
            let outcome = cell(row, column::OUTCOME);
            let file = cell(row, column::FILE);
            let picture = match cell(row, column::THUMBNAIL) {
                src if src.is_empty() => String::new(),
                src => format!(
                    "<img src=\"{}\" alt=\"{}\" loading=\"lazy\">",
                    escape(&src),
                    escape(&format!("thumbnail of {file}"))
                ),
            };
            let number = match (cell(row, column::CATALOG_NUMBER), cell(row, column::NUMBER_FROM)) {
                (number, from) if from.is_empty() => escape(&number),
                (number, from) => format!("{} ({})", escape(&number), escape(&from)),
            };
            let number = match (cell(row, column::SPECIMEN), cell(row, column::OCCID)) {
                (link, _) if !link.is_empty() => format!("<a href=\"{}\">{number}</a>", escape(&link)),
                (_, occid) if !occid.is_empty() => format!("{number} (occid {})", escape(&occid)),
                _ => number,
            };
            let _ = writeln!(
                html,
                "<tr class=\"row day {} d-{}\"><td>{} {}</td><td>{picture}</td><td>{}</td><td>{}</td><td>{number}</td>\
                 <td>{}</td></tr>",
                css_class(&outcome),
                day_id(date),
                escape(date),
                escape(&cell(row, column::TIME)),
                escape(&file),
                escape(&outcome),
                escape(&cell(row, column::REASON)),
            );
        }
        html.push_str("</table></div>\n");
    }

    fn added(&self, html: &mut String) {
        html.push_str("<h2>Images added</h2>\n");
        let counts = self.added;
        for (title, added) in [
            ("per month", &counts.by_month),
            ("per day", &counts.by_day),
            ("per month, by photographer", &counts.photographers_by_month),
            ("per day, by photographer", &counts.photographers_by_day),
        ] {
            if added.is_empty() {
                continue;
            }
            let collections: std::collections::BTreeSet<&str> = added.keys().map(|(_, c)| c.as_str()).collect();
            let _ = write!(
                html,
                "<div class=\"scroll\"><table><caption>{title}</caption><tr><th></th>"
            );
            for c in &collections {
                let _ = write!(html, "<th>{}</th>", escape(c));
            }
            html.push_str("</tr>\n");
            let periods: std::collections::BTreeSet<&str> = added.keys().map(|(p, _)| p.as_str()).collect();
            for period in periods.iter().rev() {
                let _ = write!(html, "<tr><th>{}</th>", escape(period));
                for c in &collections {
                    let n = added.get(&(period.to_string(), c.to_string())).copied().unwrap_or(0);
                    let _ = write!(html, "<td>{n}</td>");
                }
                html.push_str("</tr>\n");
            }
            html.push_str("</table></div>\n");
        }
    }
}

/// Parked first, then failed, then the rest.
fn rank(outcome: &str) -> u8 {
    match outcome {
        "parked" => 0,
        "failed" => 1,
        _ => 2,
    }
}

fn what_to_do(kind: Kind) -> &'static str {
    match kind {
        Kind::Parked => {
            "nothing, if the specimen record is still to come: it is tried again on its own; otherwise enter \
             the record, or rename the file to the right catalog number"
        }
        Kind::Failed => "fix what the reason says, then put a new copy in the folder",
        _ => "",
    }
}

/// Only the outcome names become class names; anything else is left out.
fn css_class(outcome: &str) -> &str {
    OUTCOMES.iter().find(|o| **o == outcome).copied().unwrap_or("")
}

/// A day as an id: digits and dashes only (the dates come from file names
/// that were checked to be dates).
fn day_id(date: &str) -> String {
    date.chars().filter(|c| c.is_ascii_digit() || *c == '-').collect()
}

pub fn escape(text: &str) -> String {
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
    use super::*;

    #[test]
    fn names_cannot_break_out_of_the_page() {
        assert_eq!(
            escape("<script>a\"b'&</script>"),
            "&lt;script&gt;a&quot;b&#39;&amp;&lt;/script&gt;"
        );
    }

    fn row(time: &str, file: &str, outcome: &str, thumbnail: &str) -> Vec<String> {
        let mut row = vec![String::new(); 11];
        row[column::TIME] = time.into();
        row[column::FILE] = file.into();
        row[column::OUTCOME] = outcome.into();
        row[column::THUMBNAIL] = thumbnail.into();
        row
    }

    #[test]
    fn parked_and_failed_rows_come_first_and_every_picture_has_a_name() {
        let recent = [Day {
            date: "2026-12-03".into(),
            rows: vec![
                row("09:00:00", "a.jpg", "linked", "thumbs/2026-12-03/a_tn.jpg"),
                row("09:01:00", "b.jpg", "parked", ""),
                row("09:02:00", "c\"><script>.jpg", "linked", "thumbs/2026-12-03/c_tn.jpg"),
                row("09:03:00", "d.jpg", "failed", ""),
            ],
        }];
        let per_day: Added = [(("2026-12-03".to_string(), "MICH-V".to_string()), 2)].into();
        let per_photographer: Added = [(("2026-12-03".to_string(), "A. Reznicek".to_string()), 1)].into();
        let added = AddedCounts {
            by_day: per_day.clone(),
            by_month: Added::new(),
            photographers_by_day: per_photographer,
            photographers_by_month: Added::new(),
        };
        let page = Page {
            updated: "2026-12-03 09:04:00".into(),
            waiting: &[],
            relative: &|s| s.to_string(),
            recent: &recent,
            added: &added,
            csv_files: &["2026-12-03.csv".into()],
            max_rows: 1000,
        }
        .html();
        let order: Vec<usize> = ["b.jpg", "d.jpg", "c&quot;&gt;&lt;script&gt;.jpg", "a.jpg"]
            .iter()
            .map(|f| page.find(&format!("<td>{f}</td>")).unwrap_or(usize::MAX))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{page}");
        assert!(page.contains("alt=\"thumbnail of a.jpg\""));
        let by_photographer = page
            .find("<caption>per day, by photographer</caption>")
            .unwrap_or(usize::MAX);
        assert!(
            page[by_photographer.min(page.len())..].contains("<th>A. Reznicek</th>"),
            "counts by photographer:\n{page}"
        );
        assert!(!page.contains("<script>"));
        assert!(page.contains("#d-2026-12-03:checked~main tr.day:not(.d-2026-12-03)"));
    }
}
