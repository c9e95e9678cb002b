//! Mapping files: a spreadsheet in a drop folder that says which specimen
//! each image file is (column `filename` and one of `catalogNumber`,
//! `otherCatalogNumbers`, `occurrenceID`, `occid`) and, per image, any
//! media column ([`crate::media_columns`]). Checked like skeletal files:
//! a header that cannot be read refuses the whole file, a bad line is
//! rejected by its number and the others are kept.

use crate::lookup::Key;
use crate::media_columns::{MediaColumn, MediaValues};
use crate::skeletal::Table;

/// Names the file-name column goes by.
const FILE_COLUMNS: [&str; 4] = ["filename", "file name", "file", "originalfilename"];

/// One line of a mapping file that was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingLine {
    pub line: u64,
    /// The file name as written, with `\` turned into `/` (a path below
    /// the mapping file's folder, or a bare name).
    pub file: String,
    /// The catalog number (or what the file's key column names).
    pub value: String,
    pub meta: MediaValues,
}

/// A mapping file read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingFile {
    /// What the specimen column names.
    pub key: Key,
    pub lines: Vec<MappingLine>,
    /// (line, why)
    pub rejected: Vec<(u64, String)>,
    /// Notes for the result file (a converted encoding).
    pub warnings: Vec<String>,
}

/// Check `table`; the error says why the whole file is refused.
pub fn check(table: Table) -> Result<MappingFile, String> {
    let Table { header, rows, notes } = table;
    let mut file_at = None;
    let mut keys = Vec::new();
    let mut media = Vec::new();
    let mut problems = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let position = i + 1;
        let lower = name.trim().to_ascii_lowercase();
        if lower.is_empty() {
            if rows.iter().any(|r| r.values.get(i).is_some_and(|v| !v.is_empty())) {
                problems.push(format!("column {position} has values but no name in the header line"));
            }
            continue;
        }
        if FILE_COLUMNS.contains(&lower.as_str()) {
            if file_at.replace(i).is_some() {
                problems.push(format!(
                    "column {position} {name:?} is a second file-name column; keep one"
                ));
            }
            continue;
        }
        let key = [
            Key::CatalogNumber,
            Key::OtherCatalogNumbers,
            Key::OccurrenceId,
            Key::Occid,
        ]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(&lower));
        if let Some(key) = key {
            keys.push((i, key, name.clone()));
            continue;
        }
        match MediaColumn::from_header(name) {
            Some(column) if column.is_link() => problems.push(format!(
                "column {position} {name:?}: specdrop writes the image's URLs from the derivatives it makes; leave that column out"
            )),
            Some(column) => {
                if media.iter().any(|(_, c)| *c == column) {
                    problems.push(format!(
                        "column {position} {name:?} names {} a second time; keep one",
                        column.column(false)
                    ));
                }
                media.push((i, column));
            }
            None => problems.push(format!(
                "column {position} {name:?} is neither the file name, the specimen (catalogNumber, otherCatalogNumbers, occurrenceID, occid) nor a media field (caption, creator, rights, owner, notes...)"
            )),
        }
    }
    let Some(file_at) = file_at else {
        problems.insert(
            0,
            "there is no filename column; every line needs the image's file name".into(),
        );
        return Err(refused(&problems));
    };
    let (key_at, key) = match keys.as_slice() {
        [(at, key, _)] => (*at, *key),
        [] => {
            problems.insert(
                0,
                "there is no specimen column: name one of catalogNumber, otherCatalogNumbers, occurrenceID, occid"
                    .into(),
            );
            return Err(refused(&problems));
        }
        [first, second, ..] => {
            problems.insert(
                0,
                format!(
                    "columns {:?} and {:?} both name the specimen; keep one",
                    first.2, second.2
                ),
            );
            return Err(refused(&problems));
        }
    };
    if !problems.is_empty() {
        return Err(refused(&problems));
    }
    let mut file = MappingFile {
        key,
        lines: Vec::new(),
        rejected: Vec::new(),
        warnings: notes,
    };
    for row in rows {
        let get = |i: usize| row.values.get(i).map_or("", |v| v.trim());
        if row.values.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        if row.values.len() > header.len() {
            file.rejected.push((
                row.line,
                format!(
                    "has {} values but the header names {} columns",
                    row.values.len(),
                    header.len()
                ),
            ));
            continue;
        }
        let name = get(file_at).replace('\\', "/");
        let value = get(key_at).to_string();
        let mut why = Vec::new();
        if name.is_empty() || name.ends_with('/') {
            why.push("filename is empty".to_string());
        } else if name.split('/').any(|part| part == "..") {
            why.push(format!("filename {name:?} leads out of the mapping file's folder"));
        }
        if value.is_empty() {
            why.push(format!("{} is empty", key.name()));
        }
        let mut meta = MediaValues::default();
        for (i, column) in &media {
            if let Err(e) = meta.set(*column, get(*i)) {
                why.push(e);
            }
        }
        let name = name.trim_start_matches("./").trim_start_matches('/').to_string();
        // Several lines for one file name several specimens on one sheet
        // (the collection's `multi_specimen` decides); the same specimen
        // twice is a repeat.
        if let Some(earlier) = file.lines.iter().find(|l| l.file == name && l.value == value) {
            why.push(format!(
                "{name} is already on line {} for {} {value}; keep one line",
                earlier.line,
                key.name()
            ));
        }
        if why.is_empty() {
            file.lines.push(MappingLine {
                line: row.line,
                file: name,
                value,
                meta,
            });
        } else {
            file.rejected.push((row.line, why.join("; ")));
        }
    }
    Ok(file)
}

fn refused(problems: &[String]) -> String {
    format!(
        "{}. Nothing was taken from it; fix the header line and drop the file again",
        problems.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<MappingFile, String> {
        let text = specdrop_textfile::read(bytes).map_err(|e| e.to_string())?;
        check(Table::new(text.header, text.records, text.note))
    }

    #[test]
    fn lines_are_kept_or_rejected_by_number() -> Result<(), String> {
        let file = read(
            b"FileName;catalogNumber;dc:creator;sortOccurrence\n\
              IMG_0001.jpg;MICH-1;A. Reznicek;1\n\
              ;MICH-2;;\n\
              box\\IMG_0003.jpg;MICH-3;;first\n\
              IMG_0001.jpg;MICH-1;;\n\
              IMG_0001.jpg;MICH-4;;\n",
        )?;
        assert_eq!(file.key, Key::CatalogNumber);
        let kept: Vec<(&str, &str)> = file.lines.iter().map(|l| (l.file.as_str(), l.value.as_str())).collect();
        assert_eq!(
            kept,
            [("IMG_0001.jpg", "MICH-1"), ("IMG_0001.jpg", "MICH-4")],
            "a second specimen"
        );
        assert_eq!(file.lines[0].meta.get(MediaColumn::Creator), Some("A. Reznicek"));
        let lines: Vec<u64> = file.rejected.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 4, 5], "{:?}", file.rejected);
        assert!(file.rejected[0].1.contains("filename is empty"), "{:?}", file.rejected);
        assert!(file.rejected[1].1.contains("not a whole number"), "{:?}", file.rejected);
        assert!(file.rejected[2].1.contains("already on line 2"), "{:?}", file.rejected);
        Ok(())
    }

    #[test]
    fn headers_that_cannot_be_used_refuse_the_file() {
        for (bytes, want) in [
            (&b"catalogNumber,caption\n1,a\n"[..], "no filename column"),
            (b"filename,caption\na.jpg,x\n", "no specimen column"),
            (b"filename,catalogNumber,occid\na.jpg,1,2\n", "both name the specimen"),
            (
                b"filename,occurrenceID,url\na.jpg,g,http://x/a.jpg\n",
                "leave that column out",
            ),
            (
                b"filename,occid,colour\na.jpg,1,red\n",
                "column 3 \"colour\" is neither",
            ),
        ] {
            let err = read(bytes).err().unwrap_or_default();
            assert!(err.contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn paths_are_kept_below_the_folder() -> Result<(), String> {
        let file = read(b"filename,occurrenceID\nsub\\a.jpg,g1\n../b.jpg,g2\n./c.jpg,g3\n")?;
        assert_eq!(file.key, Key::OccurrenceId);
        let names: Vec<&str> = file.lines.iter().map(|l| l.file.as_str()).collect();
        assert_eq!(names, ["sub/a.jpg", "c.jpg"]);
        assert_eq!(file.rejected.len(), 1);
        Ok(())
    }
}
