//! Walking a drop folder for candidate files.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::WatchError;
use crate::names::{Accept, Class};

/// What a walk of a drop folder found.
#[derive(Debug, Default)]
pub struct Found {
    /// Regular files with an accepted image name, in a stable (sorted) order.
    pub images: Vec<PathBuf>,
    /// Archive masters (TIFF, DNG, RAW): refused with a reason, left in place.
    pub archives: Vec<PathBuf>,
    /// Skeletal data files (CSV and the like).
    pub skeletal: Vec<PathBuf>,
    /// Symbolic links with an image name: never followed, since they could
    /// lead out of the drop folder; reported and left where they are.
    pub links: Vec<PathBuf>,
    /// Entries that could not be read (named, with the reason).
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Walk `drop` recursively for files `accept` wants. Folders in `skip`
/// (the archive, a report folder) and hidden folders are not entered.
pub fn walk(drop: &Path, skip: &[&Path], accept: &Accept) -> Result<Found, WatchError> {
    std::fs::read_dir(drop).map_err(|cause| WatchError::Unreadable {
        path: drop.to_path_buf(),
        cause,
    })?;
    let mut found = Found::default();
    let walker = WalkDir::new(drop)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir()
                    && (skip.contains(&e.path()) || e.file_name().to_string_lossy().starts_with('.')))
        });
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().map_or_else(|| drop.to_path_buf(), Path::to_path_buf);
                found.unreadable.push((path, e.to_string()));
                continue;
            }
        };
        let class = accept.classify(&entry.file_name().to_string_lossy());
        let kind = entry.file_type();
        match class {
            Class::Other => {}
            _ if kind.is_symlink() => found.links.push(entry.into_path()),
            Class::Image if kind.is_file() => found.images.push(entry.into_path()),
            Class::Archive if kind.is_file() => found.archives.push(entry.into_path()),
            Class::Skeletal if kind.is_file() => found.skeletal.push(entry.into_path()),
            _ => {}
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn finds_jpegs_recursively_and_skips_what_it_must() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let drop = dir.path().join("drop");
        fs::create_dir_all(drop.join("day1/box2"))?;
        fs::create_dir_all(drop.join("archive"))?;
        fs::create_dir_all(drop.join(".hidden"))?;
        fs::create_dir_all(drop.join("folder.jpg"))?;
        for f in [
            "a.jpg",
            "day1/B.JPEG",
            "day1/box2/c.jpg",
            "archive/d.jpg",
            ".hidden/e.jpg",
            "f.jpg.part",
            "g.tif",
            "h.doc",
            "i.csv",
        ] {
            fs::write(drop.join(f), b"x")?;
        }
        std::os::unix::fs::symlink("/etc/passwd", drop.join("link.jpg"))?;
        let archive = drop.join("archive");
        let found = walk(&drop, &[archive.as_path()], &Accept::default())?;
        let rel: Vec<_> = found
            .images
            .iter()
            .map(|p| p.strip_prefix(&drop).map(|r| r.display().to_string()))
            .collect::<Result<_, _>>()?;
        assert_eq!(rel, ["a.jpg", "day1/B.JPEG", "day1/box2/c.jpg"]);
        assert_eq!(found.links, [drop.join("link.jpg")]);
        assert_eq!(found.archives, [drop.join("g.tif")]);
        assert_eq!(found.skeletal, [drop.join("i.csv")]);
        Ok(())
    }

    #[test]
    fn missing_drop_folder_is_an_error_naming_it() {
        let err = walk(Path::new("/nonexistent/drop"), &[], &Accept::default())
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("/nonexistent/drop")));
    }
}
