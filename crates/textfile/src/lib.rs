//! Reading a delimited text file as imaging teams save it: UTF-8 with or
//! without a BOM, or Windows-1252 from Excel; comma, semicolon, tab or `|`
//! between fields; quoted fields with delimiters and newlines inside.
//!
//! - [`read`]: bytes to header, records (each with the line it starts on)
//!   and a note when the encoding was converted; the same as [`decode`]
//!   then [`records`];
//! - [`delimiter`]: which of `, ; TAB |` a header line uses.
//!
//! It knows nothing of what the columns mean: the engine hands the records
//! to whoever checks them (skeletal data files, link lists).

mod error;

pub use error::TextFileError;

/// A file read whole: its header line, its records, and a note for the
/// team when its encoding had to be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub records: Vec<Record>,
    pub note: Option<String>,
}

/// [`decode`] `bytes`, then split the text into [`records`].
pub fn read(bytes: &[u8]) -> Result<Table, TextFileError> {
    let (text, note) = decode(bytes)?;
    let (header, records) = records(&text)?;
    Ok(Table { header, records, note })
}

/// Why `bytes` look like a file still being written, if they do: its
/// last line has no line end, or fewer fields than the header (a copy
/// cut off in "Ann Arb" must never reach the portal).
pub fn cut_off(bytes: &[u8]) -> Option<String> {
    if !bytes.ends_with(b"\n") {
        return Some("its last line has no line end".to_string());
    }
    let table = read(bytes).ok()?;
    let (line, fields) = table.records.last()?;
    // A line of empty fields only (an editor's trailing blank line) is
    // not data.
    if fields.len() < table.header.len() && fields.iter().any(|f| !f.is_empty()) {
        return Some(format!(
            "its last line (line {line}) has {} of the header's {} fields",
            fields.len(),
            table.header.len()
        ));
    }
    None
}

/// Windows-1252's characters for bytes 0x80-0x9F (`None`: undefined).
const CP1252_HIGH: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

/// The file's text, and a note when it had to be converted.
pub fn decode(bytes: &[u8]) -> Result<(String, Option<String>), TextFileError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(TextFileError::Utf16);
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_string(), None));
    }
    let mut text = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            0x80..=0x9F => match CP1252_HIGH[usize::from(b - 0x80)] {
                Some(c) => text.push(c),
                None => return Err(TextFileError::NotText { byte: b }),
            },
            _ => text.push(char::from(b)),
        }
    }
    Ok((
        text,
        Some("the file was read as Windows-1252 (not UTF-8) and converted".into()),
    ))
}

/// The delimiter of the header line: the one of `, ; TAB |` that occurs
/// most often outside quotes.
pub fn delimiter(header_line: &str) -> u8 {
    let mut counts = [(b',', 0), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for b in header_line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
            c.1 += 1;
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map_or(b',', |(d, _)| *d)
}

/// A record's values with the line of the file it starts on.
pub type Record = (u64, Vec<String>);

/// Header and records of the text.
pub fn records(text: &str) -> Result<(Vec<String>, Vec<Record>), TextFileError> {
    let first_line = text.lines().next().unwrap_or_default();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(first_line))
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|cause| TextFileError::Header { cause })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|cause| TextFileError::Records { cause })?;
        // Counted from the byte offset: the reader's own line count skips
        // blank lines, and the team looks the number up in an editor.
        let mut offset = (record.position().map_or(0, |p| p.byte()) as usize).min(text.len());
        // The position may point at blank lines before the record.
        while matches!(text.as_bytes().get(offset), Some(b'\n' | b'\r')) {
            offset += 1;
        }
        let line = text.as_bytes()[..offset.min(text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
            + 1;
        let values: Vec<String> = record.iter().map(|v| v.trim().to_string()).collect();
        if values.iter().all(String::is_empty) {
            continue;
        }
        rows.push((line, values));
    }
    Ok((header, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_cut_off_is_told_from_a_complete_one() {
        let complete = b"catalogNumber,locality\n1390992,Ann Arbor\n";
        assert_eq!(cut_off(complete), None);
        assert!(cut_off(b"catalogNumber,locality\n1390992,Ann Arb").is_some_and(|why| why.contains("line end")));
        let short = cut_off(b"catalogNumber,locality,county\n1390992,Ann Arbor\n");
        assert!(short.is_some_and(|why| why.contains("2 of the header's 3")));
        assert_eq!(cut_off(b"a;b\r\n1;2\r\n"), None);
    }

    #[test]
    fn bom_and_windows_1252_are_handled() -> Result<(), TextFileError> {
        let (text, note) = decode(b"\xEF\xBB\xBFcatalogNumber\n1")?;
        assert_eq!((text.as_str(), note), ("catalogNumber\n1", None));
        let (text, note) = decode(b"locality\nS\xE3o Paulo \x96 \x93x\x94")?;
        assert_eq!(text, "locality\nSão Paulo – “x”");
        assert!(note.is_some());
        assert!(decode(b"\xFF\xFEc\0a\0").is_err());
        assert!(decode(b"a\x81b").is_err());
        Ok(())
    }

    #[test]
    fn delimiters_are_detected_outside_quotes() {
        assert_eq!(delimiter("catalogNumber,sciname,locality"), b',');
        assert_eq!(delimiter("catalogNumber;sciname;\"a, b\""), b';');
        assert_eq!(delimiter("catalogNumber\tsciname"), b'\t');
        assert_eq!(delimiter("catalogNumber|sciname"), b'|');
        assert_eq!(delimiter("catalogNumber"), b',');
    }

    #[test]
    fn quoted_newlines_and_delimiters_stay_in_their_field() -> Result<(), TextFileError> {
        let (header, rows) = records("catalogNumber;locality\n1;\"a; b\nc\"\n\n2;x\n")?;
        assert_eq!(header, ["catalogNumber", "locality"]);
        assert_eq!(
            rows,
            [
                (2, vec!["1".into(), "a; b\nc".into()]),
                (5, vec!["2".into(), "x".into()])
            ]
        );
        Ok(())
    }

    #[test]
    fn read_gives_header_records_and_the_encoding_note() -> Result<(), TextFileError> {
        let table = read(b"catalogNumber\tlocality\n1\tS\xE3o Paulo\n")?;
        assert_eq!(table.header, ["catalogNumber", "locality"]);
        assert_eq!(table.records, [(2, vec!["1".into(), "São Paulo".into()])]);
        assert_eq!(
            table.note.as_deref(),
            Some("the file was read as Windows-1252 (not UTF-8) and converted")
        );
        assert_eq!(read(b"catalogNumber\n1\n")?.note, None);
        Ok(())
    }

    /// The imaging team reads these in result files; end-to-end tests
    /// compare them, so they must not drift.
    #[test]
    fn refusals_say_what_to_save_the_file_as() {
        let message = |bytes: &[u8]| read(bytes).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            message(b"\xFF\xFEc\0a\0"),
            "the file is saved as UTF-16; save it as \"CSV UTF-8\" (or plain CSV) instead"
        );
        assert_eq!(
            message(b"a\x81b"),
            "the file is neither UTF-8 nor Windows-1252 (byte 0x81); save it as \"CSV UTF-8\""
        );
    }
}
