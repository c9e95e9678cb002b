//! Walking a drop folder for candidate files, from the folder's
//! descriptor (specdrop-beneath): a sub-folder that is a link, or is
//! swapped for one during the walk, is listed as a link and never entered.

use std::path::{Path, PathBuf};

use specdrop_beneath::{BeneathError, Folder, Kind};

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
    /// Other symbolic links (linked sub-folders, mostly): not entered, for
    /// the same reason; reported so that nobody waits for their files.
    pub linked_folders: Vec<PathBuf>,
    /// Entries that could not be read (named, with the reason).
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Walk `drop` recursively for files `accept` wants. Folders in `skip`
/// (the archive, a report folder) and hidden folders are not entered.
pub fn walk(drop: &Path, skip: &[&Path], accept: &Accept) -> Result<Found, WatchError> {
    walk_in(drop, Path::new(""), skip, accept)
}

/// Walk the folder `below` inside `drop` (a folder moved in while
/// watching), reached from `drop` without following links.
pub fn walk_in(drop: &Path, below: &Path, skip: &[&Path], accept: &Accept) -> Result<Found, WatchError> {
    let unreadable = |cause: BeneathError| WatchError::Unreadable {
        path: drop.join(below),
        cause: cause.to_string(),
    };
    let top = Folder::open(drop).map_err(unreadable)?;
    let folder = if below.as_os_str().is_empty() {
        top
    } else {
        top.sub(below, false).map_err(unreadable)?
    };
    let base = folder.root().to_path_buf();
    let walked = folder
        .walk(|rel| {
            let hidden = rel.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
            !hidden && !skip.contains(&base.join(rel).as_path())
        })
        .map_err(unreadable)?;
    let mut found = Found {
        unreadable: walked
            .unreadable
            .into_iter()
            .map(|(rel, why)| (base.join(rel), why))
            .collect(),
        ..Found::default()
    };
    for entry in walked.entries {
        let name = entry
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = base.join(&entry.path);
        match (accept.classify(&name), entry.kind) {
            (Class::Other, Kind::Link) if !name.starts_with('.') => found.linked_folders.push(path),
            (Class::Other, _) => {}
            (_, Kind::Link) => found.links.push(path),
            (Class::Image, Kind::File) => found.images.push(path),
            (Class::Archive, Kind::File) => found.archives.push(path),
            (Class::Skeletal, Kind::File) => found.skeletal.push(path),
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
        std::os::unix::fs::symlink(dir.path(), drop.join("linked"))?;
        let archive = drop.join("archive");
        let found = walk(&drop, &[archive.as_path()], &Accept::default())?;
        let rel: Vec<_> = found
            .images
            .iter()
            .map(|p| p.strip_prefix(&drop).map(|r| r.display().to_string()))
            .collect::<Result<_, _>>()?;
        assert_eq!(rel, ["a.jpg", "day1/B.JPEG", "day1/box2/c.jpg"]);
        assert_eq!(found.links, [drop.join("link.jpg")]);
        assert_eq!(found.linked_folders, [drop.join("linked")]);
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
