//! Moving a source into its collection's archive once its row is
//! committed: the original is kept, never deleted, under the same sub-path
//! it had in the drop folder.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Move `file` (somewhere below `drop`) to the same sub-path below
/// `archive`. An existing archived file is never replaced: the new one is
/// stored as `name_1.jpg`, `name_2.jpg`...
pub fn move_to_archive(drop: &Path, archive: &Path, file: &Path) -> io::Result<PathBuf> {
    let relative = file
        .strip_prefix(drop)
        .unwrap_or(file.file_name().map_or(file, Path::new));
    let wanted = archive.join(relative);
    if let Some(parent) = wanted.parent() {
        fs::create_dir_all(parent)?;
    }
    let target = free_name(&wanted)?;
    match fs::rename(file, &target) {
        Ok(()) => Ok(target),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            copy_then_remove(file, &target)?;
            Ok(target)
        }
        Err(e) => Err(e),
    }
}

fn free_name(wanted: &Path) -> io::Result<PathBuf> {
    if !wanted.exists() {
        return Ok(wanted.to_path_buf());
    }
    let stem = wanted
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let extension = wanted
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (1..10_000)
        .map(|n| wanted.with_file_name(format!("{stem}_{n}{extension}")))
        .find(|candidate| !candidate.exists())
        .ok_or_else(|| io::Error::other(format!("no free name for {} in the archive", wanted.display())))
}

/// The archive is on another file system: copy, make the copy durable,
/// and only then remove the source.
fn copy_then_remove(file: &Path, target: &Path) -> io::Result<()> {
    let temp = target.with_file_name(format!(
        ".specdrop-archive-{}.tmp",
        target
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    ));
    fs::copy(file, &temp)?;
    fs::File::open(&temp)?.sync_all()?;
    if let Err(e) = fs::rename(&temp, target) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    fs::remove_file(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_sub_path_and_never_replaces() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let drop = dir.path().join("drop");
        let archive = dir.path().join("drop-archive");
        fs::create_dir_all(drop.join("day1"))?;
        fs::write(drop.join("day1/a.jpg"), b"first")?;
        let moved = move_to_archive(&drop, &archive, &drop.join("day1/a.jpg"))?;
        assert_eq!(moved, archive.join("day1/a.jpg"));
        assert!(!drop.join("day1/a.jpg").exists());

        fs::write(drop.join("day1/a.jpg"), b"second")?;
        let moved = move_to_archive(&drop, &archive, &drop.join("day1/a.jpg"))?;
        assert_eq!(moved, archive.join("day1/a_1.jpg"));
        assert_eq!(fs::read(archive.join("day1/a.jpg"))?, b"first");
        assert_eq!(fs::read(archive.join("day1/a_1.jpg"))?, b"second");
        Ok(())
    }
}
