//! The log sink: with `sink.kind = "log"`, image links are appended to a
//! CSV file instead of written to the portal (whose database is then only
//! read), and `specdrop load-log FILE` loads them later with the same
//! matching and policies. Symbiota's processor has the same mode
//! (`dbMetadata = 0`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One line of the log; the header names are the field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub collection: String,
    #[serde(rename = "catalogNumber")]
    pub catalog_number: String,
    pub file: String,
    pub url: String,
    #[serde(rename = "thumbnailUrl")]
    pub thumbnail_url: Option<String>,
    #[serde(rename = "originalUrl")]
    pub original_url: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub md5: String,
    pub time: String,
}

/// Append `lines` (with a header first when the file is new) in one write
/// (one image's lines, one per specimen, go in together) and make them
/// durable before the source is archived.
pub fn append(path: &Path, lines: &[LogLine]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let new = file.metadata()?.len() == 0;
    let mut writer = csv::WriterBuilder::new().has_headers(new).from_writer(Vec::new());
    for line in lines {
        writer.serialize(line).map_err(std::io::Error::other)?;
    }
    let bytes = writer.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
    file.write_all(&bytes)?;
    file.sync_data()
}

/// Read a log: each line with its line number in the file, or the reason
/// it cannot be read.
pub fn read(path: &Path) -> std::io::Result<Vec<(u64, Result<LogLine, String>)>> {
    let mut reader = csv::Reader::from_path(path).map_err(std::io::Error::other)?;
    Ok(reader
        .deserialize::<LogLine>()
        .map(|record| match record {
            Ok(line) => (0, Ok(line)),
            Err(e) => (e.position().map_or(0, |p| p.line()), Err(e.to_string())),
        })
        .enumerate()
        .map(|(i, (line, result))| (if line == 0 { i as u64 + 2 } else { line }, result))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(file: &str) -> LogLine {
        LogLine {
            collection: "MICH-V".into(),
            catalog_number: "1390992".into(),
            file: file.into(),
            url: "/imglib/a_med.jpg".into(),
            thumbnail_url: Some("/imglib/a_tn.jpg".into()),
            original_url: None,
            width: Some(3200),
            height: Some(4804),
            md5: "abc".into(),
            time: "2026-11-25T10:00:00Z".into(),
        }
    }

    #[test]
    fn appends_with_one_header_and_reads_back_with_line_numbers() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("logs/links.csv");
        append(&path, &[line("a, \"quoted\".jpg")])?;
        append(&path, &[line("b.jpg")])?;
        let text = std::fs::read_to_string(&path)?;
        assert_eq!(text.matches("catalogNumber").count(), 1, "{text}");
        let read = read(&path)?;
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], (2, Ok(line("a, \"quoted\".jpg"))));
        assert_eq!(read[1].0, 3);
        Ok(())
    }
}
