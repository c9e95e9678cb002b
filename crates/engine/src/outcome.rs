//! What happened to a file, and the tally of a run.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The outcome of one file; the names are the stable codes used in the
/// ledger and in reports (and later the journal's OUTCOME= field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Derivatives made and linked to an existing specimen record.
    Linked,
    /// Linked to a new skeletal record.
    Skeletal,
    /// Left in the drop folder to be tried again (no specimen yet, ambiguous).
    Parked,
    /// Something is wrong with the file or its storage; left in place.
    Failed,
    /// Not taken (no catalog number in the name, still arriving, a duplicate).
    Skipped,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Linked, Kind::Parked, Kind::Skeletal, Kind::Failed, Kind::Skipped];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Linked => "linked",
            Kind::Skeletal => "skeletal",
            Kind::Parked => "parked",
            Kind::Failed => "failed",
            Kind::Skipped => "skipped",
        }
    }

    /// Content with this outcome has its row in the portal.
    pub fn is_done(self) -> bool {
        matches!(self, Kind::Linked | Kind::Skeletal)
    }

    /// A committed link: to a record that was there, or to one made for it.
    pub fn of_link(linked: &specdrop_mapper::Linked) -> Kind {
        if linked.created_occurrence {
            Kind::Skeletal
        } else {
            Kind::Linked
        }
    }

    /// A link the portal would not make: parked when new records may yet
    /// settle it (several records, or the record vanished), else failed.
    pub fn of_link_error(e: &specdrop_mapper::MapperError) -> Kind {
        match e {
            specdrop_mapper::MapperError::Ambiguous(_) | specdrop_mapper::MapperError::Vanished { .. } => Kind::Parked,
            _ => Kind::Failed,
        }
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown outcome {s:?}"))
    }
}

impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file's outcome with the sentence that explains it.
#[derive(Debug, Clone)]
pub struct Report {
    pub collection: String,
    /// Relative to the drop folder when it is in one.
    pub file: PathBuf,
    pub kind: Kind,
    pub detail: String,
    pub fields: ReportFields,
    /// The ledger had this very outcome and reason for the file already (a
    /// parked file tried again and parked again): not news, so no journal
    /// event and no report row.
    pub unchanged: bool,
}

/// What was learnt about the file on the way, for the journal's fields,
/// the imaging team's report and the metrics.
#[derive(Debug, Clone, Default)]
pub struct ReportFields {
    pub catalog_number: Option<String>,
    pub occid: Option<i64>,
    pub media_id: Option<i64>,
    /// The URL of the web (or main) derivative.
    pub url: Option<String>,
    /// Bytes of derivatives written.
    pub bytes: u64,
    pub elapsed: Option<std::time::Duration>,
    /// Where the catalog number came from.
    pub number_from: Option<NumberFrom>,
    /// The thumbnail written to local storage, for the imaging team's
    /// page to keep a small copy of.
    pub thumbnail: Option<std::path::PathBuf>,
    /// A remark on a done outcome (a barcode that disagreed with the name,
    /// the same image linked to another specimen too), already part of the
    /// detail: for reports that leave a done outcome's detail out.
    pub note: Option<String>,
    /// Who made the image, where a mapping file named them: the team's
    /// page counts images by photographer.
    pub creator: Option<String>,
}

/// Where a file's catalog number was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberFrom {
    FileName,
    Barcode(specdrop_barcode::Symbology),
    /// A line of a mapping file (mapping_file.rs).
    MappingFile,
    /// `barcode.pattern` found in the label text Tesseract read
    /// (`identifier = "...-then-ocr"`).
    LabelText,
}

impl NumberFrom {
    /// `filename` or `barcode`: the ledger's and the journal's code.
    pub fn code(self) -> &'static str {
        match self {
            NumberFrom::FileName => "filename",
            NumberFrom::Barcode(_) => "barcode",
            NumberFrom::MappingFile => "mapping",
            NumberFrom::LabelText => "ocr",
        }
    }

    pub fn symbology(self) -> Option<specdrop_barcode::Symbology> {
        match self {
            NumberFrom::FileName | NumberFrom::MappingFile | NumberFrom::LabelText => None,
            NumberFrom::Barcode(s) => Some(s),
        }
    }
}

impl fmt::Display for NumberFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberFrom::FileName => f.write_str("file name"),
            NumberFrom::MappingFile => f.write_str("mapping file"),
            NumberFrom::LabelText => f.write_str("label text"),
            NumberFrom::Barcode(s) => write!(f, "barcode, {s}"),
        }
    }
}

impl Report {
    pub fn new(collection: &str, file: impl Into<PathBuf>, kind: Kind, detail: impl Into<String>) -> Report {
        Report {
            collection: collection.to_string(),
            file: file.into(),
            kind,
            detail: detail.into(),
            fields: ReportFields::default(),
            unchanged: false,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {} {}: {}",
            self.kind.as_str(),
            self.collection,
            printable(&self.file.to_string_lossy()),
            self.detail
        )
    }
}

/// A file name as one line: control characters (a newline in a name would
/// forge a second report line) written as escapes.
pub fn printable(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Counts by outcome.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    counts: [usize; 5],
    /// Files left untouched because the portal database was unavailable.
    pub deferred: usize,
    /// The run's id (`specdrop undo --batch RUN`); none for a dry run.
    pub run: Option<String>,
}

impl Summary {
    pub fn add(&mut self, kind: Kind) {
        if let Some(i) = Kind::ALL.iter().position(|k| *k == kind) {
            self.counts[i] += 1;
        }
    }

    pub fn count(&self, kind: Kind) -> usize {
        Kind::ALL.iter().position(|k| *k == kind).map_or(0, |i| self.counts[i])
    }

    /// A batch command exits 1 when a file failed or had to wait for the
    /// database.
    pub fn has_trouble(&self) -> bool {
        self.count(Kind::Failed) > 0 || self.deferred > 0
    }

    /// The lines a batch command ends with.
    pub fn closing_lines(&self) -> String {
        let mut text = format!("summary: {self}");
        if let Some(run) = &self.run {
            text.push_str(&format!(" (run {run})"));
        }
        if self.deferred > 0 {
            text.push_str(&format!(
                "\n{} file(s) left untouched for the next run: the portal database was unavailable",
                self.deferred
            ));
        }
        text
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Kind::ALL.iter().map(|k| format!("{} {}", self.count(*k), k)).collect();
        f.write_str(&parts.join(", "))
    }
}
