//! Mapping files in drop folders (`NAME.map.csv`, `.map.tsv`, `.map.txt`):
//! read and checked like skeletal files (the same reading from the drop
//! folder's descriptor, completeness, encodings, lines rejected by number,
//! a `NAME.result.txt`), their lines kept in the ledger
//! (mapping_lines.rs) for the images they name, then archived. The
//! pipeline's identify stage takes an image's line before its pattern.

use std::fmt::Write as _;
use std::path::Path;

use specdrop_mapper::mapping::{self, MappingFile};
use specdrop_mapper::skeletal::Table;

use crate::collection::Prepared;
use crate::context::Context;
use crate::outcome::Kind;
use crate::skeletal;

/// Endings of mapping files (before them, any name).
const ENDINGS: [&str; 3] = [".map.csv", ".map.tsv", ".map.txt"];

/// Whether a file of this name is a mapping file.
pub fn is_mapping_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ENDINGS.iter().any(|e| lower.ends_with(e) && lower.len() > e.len())
}

/// `path`'s folder below `drop`, `/`-separated; empty for the top.
pub fn folder_below(drop: &Path, path: &Path) -> String {
    let parent = path.parent().unwrap_or(Path::new(""));
    let rel = parent.strip_prefix(drop).unwrap_or(parent);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// `path` below `drop`, `/`-separated: how mapping lines name it.
pub fn path_below(drop: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(drop).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// A mapping file that arrived: (outcome, report text). Kept files go to
/// the archive with their result file; refused files stay, the result
/// file beside them saying why.
pub async fn from_drop(ctx: &Context, collection: &Prepared, path: &Path) -> (Kind, String) {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let (bytes, meta) = match skeletal::read_from_drop(ctx, collection, path, "mapping file").await {
        Ok(read) => read,
        Err(ended) => return ended,
    };
    let checked = specdrop_textfile::read(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|text| mapping::check(Table::new(text.header, text.records, text.note)));
    let mut file = match checked {
        Ok(file) => file,
        Err(why) => {
            let text = result_text(&name, collection, &Err(why.clone()));
            let note = skeletal::result_beside(collection, path, &text).await;
            return (Kind::Failed, format!("mapping file refused: {why}{note}"));
        }
    };
    // Values the portal's columns would cut short are refused here, by
    // line, rather than when the image arrives.
    let (kept, too_long): (Vec<_>, Vec<_>) = std::mem::take(&mut file.lines)
        .into_iter()
        .partition(|line| ctx.portal.check_media(&line.meta).is_ok());
    for line in too_long {
        let why = ctx
            .portal
            .check_media(&line.meta)
            .err()
            .map_or_else(String::new, |e| e.to_string());
        file.rejected.push((line.line, why));
    }
    file.rejected.sort_by_key(|(line, _)| *line);
    file.lines = kept;
    if ctx.dry_run {
        return (
            Kind::Skipped,
            format!(
                "would keep {} mapping line(s), {} rejected",
                file.lines.len(),
                file.rejected.len()
            ),
        );
    }
    let folder = folder_below(&collection.config.drop, path);
    let source = path_below(&collection.config.drop, path);
    if let Err(e) = ctx
        .ledger
        .keep_mapping_lines(&collection.config.code, &folder, &source, file.key, &file.lines)
        .await
    {
        return (
            Kind::Failed,
            format!("mapping file not taken (left in place): the ledger: {e}"),
        );
    }
    let text = result_text(&name, collection, &Ok(&file));
    let note = skeletal::archive_with_result(collection, path, &meta, &text).await;
    let kind = if file.rejected.is_empty() {
        Kind::Skipped
    } else {
        Kind::Failed
    };
    (
        kind,
        format!(
            "mapping file: {} line(s) kept, {} rejected{note}",
            file.lines.len(),
            file.rejected.len()
        ),
    )
}

/// The result file's text.
fn result_text(name: &str, collection: &Prepared, outcome: &Result<&MappingFile, String>) -> String {
    let mut t = skeletal::result_heading("mapping file", name, collection);
    let file = match outcome {
        Err(why) => {
            let _ = writeln!(t, "\nREFUSED, nothing was taken from it:\n  {why}");
            return t;
        }
        Ok(file) => file,
    };
    let _ = writeln!(
        t,
        "lines: {} kept (by {}), {} rejected",
        file.lines.len(),
        file.key.name(),
        file.rejected.len()
    );
    let _ = writeln!(
        t,
        "The images these lines name are linked as they arrive (or now, if they wait in the folder);\n\
         lines whose image has not arrived are listed in the report's waiting.csv."
    );
    if !file.warnings.is_empty() {
        let _ = writeln!(t, "\nwarnings:");
        for w in &file.warnings {
            let _ = writeln!(t, "  {w}");
        }
    }
    if !file.rejected.is_empty() {
        let _ = writeln!(t, "\nrejected (fix these lines and drop the file again):");
        for (line, why) in &file.rejected {
            let _ = writeln!(t, "  line {line}: {why}");
        }
    }
    if !file.lines.is_empty() {
        let _ = writeln!(t, "\nkept:");
        for line in &file.lines {
            let _ = writeln!(
                t,
                "  line {}: {} -> {} {}",
                line.line,
                line.file,
                file.key.name(),
                line.value
            );
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_files_are_known_by_their_ending() {
        assert!(is_mapping_file("batch7.map.csv"));
        assert!(is_mapping_file("Batch7.MAP.TSV"));
        assert!(is_mapping_file("x.map.txt"));
        assert!(!is_mapping_file(".map.csv"));
        assert!(!is_mapping_file("skeletal.csv"));
        assert!(!is_mapping_file("map.csv"));
    }

    #[test]
    fn paths_below_the_drop_folder() {
        let drop = Path::new("/srv/drop");
        assert_eq!(folder_below(drop, Path::new("/srv/drop/a.map.csv")), "");
        assert_eq!(folder_below(drop, Path::new("/srv/drop/box/7/a.map.csv")), "box/7");
        assert_eq!(path_below(drop, Path::new("/srv/drop/box/IMG_1.jpg")), "box/IMG_1.jpg");
    }
}
