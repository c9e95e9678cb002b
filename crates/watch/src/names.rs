//! File names that are not (yet) arrivals: uploads in progress under a
//! temporary name, and clutter that desktops leave in shared folders.

/// Endings SFTP/SMB/browser clients use while a file is still arriving;
/// the client renames the file to its final name when done.
const UPLOAD_SUFFIXES: [&str; 5] = [".filepart", ".part", ".partial", ".tmp", ".crdownload"];
/// Files that operating systems drop into shares.
const CLUTTER: [&str; 3] = ["thumbs.db", "desktop.ini", "ehthumbs.db"];

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

/// True for the image files specdrop takes: `.jpg`/`.jpeg` in any case.
pub fn is_jpeg_name(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    !is_ignored(file_name) && (lower.ends_with(".jpg") || lower.ends_with(".jpeg"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_in_progress_and_clutter_are_ignored() {
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
            assert!(!is_jpeg_name(name), "{name}");
        }
    }

    #[test]
    fn jpegs_in_any_case_are_taken() {
        for name in ["a.jpg", "A.JPG", "b.jpeg", "b.JpEg", "MICH-V-1390992.jpg"] {
            assert!(is_jpeg_name(name), "{name}");
        }
        for name in ["a.tif", "a.png", "jpg", "a.jpg.txt"] {
            assert!(!is_jpeg_name(name), "{name}");
        }
    }
}
