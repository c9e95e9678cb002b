//! File names: uploads in progress under a temporary name and clutter that
//! desktops leave in shared folders are never arrivals; images of the
//! accepted formats and skeletal data files are; archive masters (TIFF,
//! DNG, RAW) are arrivals only so that they can be refused with a reason.

/// Endings SFTP/SMB/browser clients use while a file is still arriving;
/// the client renames the file to its final name when done.
const UPLOAD_SUFFIXES: [&str; 5] = [".filepart", ".part", ".partial", ".tmp", ".crdownload"];
/// Files that operating systems drop into shares.
const CLUTTER: [&str; 3] = ["thumbs.db", "desktop.ini", "ehthumbs.db"];
/// Skeletal data files (Symbiota's skeletal CSV and its variants).
const SKELETAL: [&str; 5] = ["csv", "tsv", "tab", "txt", "dat"];
/// The result files specdrop writes beside skeletal files.
pub const RESULT_SUFFIX: &str = ".result.txt";
/// Archive masters: never for the web, refused with a reason.
const ARCHIVE: [&str; 14] = [
    "tif", "tiff", "dng", "cr2", "cr3", "nef", "nrw", "arw", "orf", "rw2", "raf", "pef", "srw", "raw",
];

/// True when a file of this name must be left alone: it is an upload in
/// progress, a hidden file (including macOS `._*` resource forks and
/// specdrop's own `.specdrop-*` temporaries) or desktop clutter.
pub fn is_ignored(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    file_name.starts_with('.')
        || file_name.ends_with('~')
        || UPLOAD_SUFFIXES.iter().any(|s| lower.ends_with(s))
        || CLUTTER.contains(&lower.as_str())
}

/// What a file name makes of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// An image of an accepted format.
    Image,
    /// An archive master, to be refused with a reason.
    Archive,
    /// A skeletal data file (delimited text).
    Skeletal,
    /// Anything else: not specdrop's business.
    Other,
}

/// Which file name endings are images specdrop takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    /// Lower-case endings without the dot.
    extensions: Vec<String>,
}

impl Default for Accept {
    /// JPEG only (`.jpg`/`.jpeg` in any case).
    fn default() -> Self {
        Accept::extensions(["jpg", "jpeg"])
    }
}

impl Accept {
    pub fn extensions<S: AsRef<str>>(extensions: impl IntoIterator<Item = S>) -> Accept {
        Accept {
            extensions: extensions
                .into_iter()
                .map(|e| e.as_ref().to_ascii_lowercase())
                .collect(),
        }
    }

    pub fn classify(&self, file_name: &str) -> Class {
        if is_ignored(file_name) {
            return Class::Other;
        }
        let Some((stem, ext)) = file_name.rsplit_once('.') else {
            return Class::Other;
        };
        let ext = ext.to_ascii_lowercase();
        if stem.is_empty() {
            Class::Other
        } else if self.extensions.contains(&ext) {
            Class::Image
        } else if ARCHIVE.contains(&ext.as_str()) {
            Class::Archive
        } else if SKELETAL.contains(&ext.as_str()) && !file_name.to_ascii_lowercase().ends_with(RESULT_SUFFIX) {
            Class::Skeletal
        } else {
            Class::Other
        }
    }

    /// An image or an archive master: something specdrop must look at.
    pub fn wants(&self, file_name: &str) -> bool {
        self.classify(file_name) != Class::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_in_progress_and_clutter_are_ignored() {
        let accept = Accept::default();
        for name in [
            "a.jpg.filepart",
            "a.jpg.part",
            "a.JPG.PARTIAL",
            "a.tmp",
            "a.jpg.crdownload",
            "a.jpg~",
            ".a.jpg",
            "._a.jpg",
            ".specdrop-1-2.tmp",
            "Thumbs.db",
            "desktop.ini",
        ] {
            assert!(is_ignored(name), "{name}");
            assert_eq!(accept.classify(name), Class::Other, "{name}");
        }
    }

    #[test]
    fn jpegs_in_any_case_are_taken_and_others_only_when_accepted() {
        let accept = Accept::default();
        for name in ["a.jpg", "A.JPG", "b.jpeg", "b.JpEg", "MICH-V-1390992.jpg"] {
            assert_eq!(accept.classify(name), Class::Image, "{name}");
        }
        for name in ["a.png", "jpg", "a.doc", "x.csv.result.txt"] {
            assert_eq!(accept.classify(name), Class::Other, "{name}");
        }
        for name in ["batch.csv", "b.TSV", "c.tab", "d.txt", "e.DAT"] {
            assert_eq!(accept.classify(name), Class::Skeletal, "{name}");
        }
        for name in ["a.tif", "A.TIFF", "b.dng", "c.CR2", "d.nef"] {
            assert_eq!(accept.classify(name), Class::Archive, "{name}");
        }
        let more = Accept::extensions(["jpg", "jpeg", "png", "webp"]);
        assert_eq!(more.classify("a.PNG"), Class::Image);
        assert_eq!(more.classify("a.webp"), Class::Image);
    }
}
