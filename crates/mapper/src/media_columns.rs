//! Per-image media fields from a spreadsheet (a mapping file, an
//! `import-links` CSV, an iDigBio report): which header names which media
//! column, and the values of one row, checked before anything is written.
//!
//! Names are Symbiota's Media Field Map names (docs/symbiota.md), matched
//! without case, with a namespace prefix (`ac:`, `dcterms:`, `dc:`,
//! `xmpRights:`, `idigbio:`) dropped, and with the Audubon Core terms that
//! mean the same column (`ac:accessURI` is originalUrl, `xmpRights:Owner`
//! is owner, `dcterms:rights` is rights...).

/// A media column a row may fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaColumn {
    Caption,
    Creator,
    CreatorUid,
    Owner,
    Rights,
    AccessRights,
    Copyright,
    Notes,
    Anatomy,
    SourceUrl,
    ReferenceUrl,
    ArchiveUrl,
    SortOccurrence,
    SourceIdentifier,
    MediaMd5,
    HashFunction,
    HashValue,
    /// The web-size image: only for links to images that live elsewhere.
    Url,
    ThumbnailUrl,
    OriginalUrl,
}

/// Namespace prefixes teams and tools put before the names.
const PREFIXES: [&str; 5] = ["ac:", "dcterms:", "dc:", "xmprights:", "idigbio:"];

/// Lower-case names (prefix, spaces and underscores removed) and their column.
const NAMES: [(&str, MediaColumn); 37] = [
    ("caption", MediaColumn::Caption),
    ("title", MediaColumn::Caption),
    ("description", MediaColumn::Caption),
    ("creator", MediaColumn::Creator),
    ("photographer", MediaColumn::Creator),
    ("creatoruid", MediaColumn::CreatorUid),
    ("photographeruid", MediaColumn::CreatorUid),
    ("owner", MediaColumn::Owner),
    ("rightsholder", MediaColumn::Owner),
    ("rights", MediaColumn::Rights),
    ("license", MediaColumn::Rights),
    ("usageterms", MediaColumn::Rights),
    ("accessrights", MediaColumn::AccessRights),
    ("copyright", MediaColumn::Copyright),
    ("webstatement", MediaColumn::Copyright),
    ("notes", MediaColumn::Notes),
    ("comments", MediaColumn::Notes),
    ("anatomy", MediaColumn::Anatomy),
    ("subjectpart", MediaColumn::Anatomy),
    ("sourceurl", MediaColumn::SourceUrl),
    ("referenceurl", MediaColumn::ReferenceUrl),
    ("associatedspecimenreference", MediaColumn::ReferenceUrl),
    ("archiveurl", MediaColumn::ArchiveUrl),
    ("sortoccurrence", MediaColumn::SortOccurrence),
    ("sourceidentifier", MediaColumn::SourceIdentifier),
    ("providermanagedid", MediaColumn::SourceIdentifier),
    ("mediamd5", MediaColumn::MediaMd5),
    ("md5", MediaColumn::MediaMd5),
    ("hashfunction", MediaColumn::HashFunction),
    ("hashvalue", MediaColumn::HashValue),
    ("url", MediaColumn::Url),
    ("goodqualityaccessuri", MediaColumn::Url),
    ("mediaurl", MediaColumn::Url),
    ("thumbnailurl", MediaColumn::ThumbnailUrl),
    ("thumbnailaccessuri", MediaColumn::ThumbnailUrl),
    ("originalurl", MediaColumn::OriginalUrl),
    ("accessuri", MediaColumn::OriginalUrl),
];

/// `header` without case, namespace prefix, spaces or underscores, as the
/// names in [`NAMES`] are written.
pub fn normalized(header: &str) -> String {
    let lower = header.trim().to_ascii_lowercase();
    let bare = PREFIXES.iter().find_map(|p| lower.strip_prefix(p)).unwrap_or(&lower);
    bare.chars().filter(|c| !matches!(c, ' ' | '_' | '-')).collect()
}

impl MediaColumn {
    /// The column a header names, if it names one.
    pub fn from_header(header: &str) -> Option<MediaColumn> {
        let name = normalized(header);
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }

    /// The column's name in the portal's image table (`legacy`: the
    /// `images` table before Symbiota 3.2).
    pub fn column(self, legacy: bool) -> &'static str {
        match self {
            MediaColumn::Caption => "caption",
            MediaColumn::Creator if legacy => "photographer",
            MediaColumn::Creator => "creator",
            MediaColumn::CreatorUid if legacy => "photographerUid",
            MediaColumn::CreatorUid => "creatorUid",
            MediaColumn::Owner => "owner",
            MediaColumn::Rights => "rights",
            MediaColumn::AccessRights => "accessRights",
            MediaColumn::Copyright => "copyright",
            MediaColumn::Notes => "notes",
            MediaColumn::Anatomy => "anatomy",
            MediaColumn::SourceUrl => "sourceUrl",
            MediaColumn::ReferenceUrl => "referenceUrl",
            MediaColumn::ArchiveUrl => "archiveUrl",
            MediaColumn::SortOccurrence => "sortOccurrence",
            MediaColumn::SourceIdentifier => "sourceIdentifier",
            MediaColumn::MediaMd5 => "mediaMD5",
            MediaColumn::HashFunction => "hashFunction",
            MediaColumn::HashValue => "hashValue",
            MediaColumn::Url => "url",
            MediaColumn::ThumbnailUrl => "thumbnailUrl",
            MediaColumn::OriginalUrl => "originalUrl",
        }
    }

    /// Whole-number columns (the others hold text).
    pub fn is_integer(self) -> bool {
        matches!(self, MediaColumn::CreatorUid | MediaColumn::SortOccurrence)
    }

    /// The image's own URLs: set by specdrop for the derivatives it makes,
    /// so a mapping file may not name them.
    pub fn is_link(self) -> bool {
        matches!(
            self,
            MediaColumn::Url | MediaColumn::ThumbnailUrl | MediaColumn::OriginalUrl
        )
    }
}

/// The media values of one row, in the order of the file's columns; an
/// empty value is not kept (the collection's default, if any, stays).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaValues {
    values: Vec<(MediaColumn, String)>,
}

impl MediaValues {
    /// Set `column` to `value` (trimmed); empty values are left out.
    /// Whole-number columns are checked here; the error names the column.
    pub fn set(&mut self, column: MediaColumn, value: &str) -> Result<(), String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(());
        }
        // The ranges of Symbiota's columns (creatorUid int unsigned,
        // sortOccurrence int): a strict server refuses anything beyond them.
        let fits = match column {
            MediaColumn::CreatorUid => value.parse::<u32>().is_ok(),
            MediaColumn::SortOccurrence => value.parse::<i32>().is_ok(),
            _ => true,
        };
        if !fits {
            return Err(format!(
                "{} {value:?} is not a whole number the column holds",
                column.column(false)
            ));
        }
        self.values.retain(|(c, _)| *c != column);
        self.values.push((column, value.to_string()));
        Ok(())
    }

    pub fn get(&self, column: MediaColumn) -> Option<&str> {
        self.values.iter().find(|(c, _)| *c == column).map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (MediaColumn, &str)> {
        self.values.iter().map(|(c, v)| (*c, v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The MD5 the row gives: `mediaMD5`, or `hashValue` when
    /// `hashFunction` is MD5 (or not given and the value looks like one).
    pub fn md5(&self) -> Option<&str> {
        if let Some(md5) = self.get(MediaColumn::MediaMd5) {
            return Some(md5);
        }
        let value = self.get(MediaColumn::HashValue)?;
        let looks_md5 = value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit());
        match self.get(MediaColumn::HashFunction) {
            Some(f) if f.eq_ignore_ascii_case("md5") => Some(value),
            None if looks_md5 => Some(value),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_without_case_prefix_or_spacing() {
        for (header, want) in [
            ("Caption", MediaColumn::Caption),
            ("ac:accessURI", MediaColumn::OriginalUrl),
            ("dcterms:rights", MediaColumn::Rights),
            ("dc:rights", MediaColumn::Rights),
            ("xmpRights:Owner", MediaColumn::Owner),
            ("xmpRights:UsageTerms", MediaColumn::Rights),
            ("ac:hashValue", MediaColumn::HashValue),
            ("MediaMD5", MediaColumn::MediaMd5),
            ("access_rights", MediaColumn::AccessRights),
            ("Thumbnail URL", MediaColumn::ThumbnailUrl),
            ("idigbio:sourceIdentifier", MediaColumn::SourceIdentifier),
            ("dcterms:creator", MediaColumn::Creator),
        ] {
            assert_eq!(MediaColumn::from_header(header), Some(want), "{header}");
        }
        assert_eq!(MediaColumn::from_header("catalogNumber"), None);
        assert_eq!(MediaColumn::from_header("idigbio:OriginalFileName"), None);
    }

    #[test]
    fn the_md5_comes_from_either_form() -> Result<(), String> {
        let mut v = MediaValues::default();
        v.set(MediaColumn::HashValue, "0123456789abcdef0123456789abcdef")?;
        assert_eq!(v.md5(), Some("0123456789abcdef0123456789abcdef"));
        v.set(MediaColumn::HashFunction, "SHA-256")?;
        assert_eq!(v.md5(), None);
        v.set(MediaColumn::MediaMd5, "ffff")?;
        assert_eq!(v.md5(), Some("ffff"));
        assert!(v.set(MediaColumn::SortOccurrence, "first").is_err());
        v.set(MediaColumn::Caption, "  ")?;
        assert_eq!(v.get(MediaColumn::Caption), None);
        Ok(())
    }
}
