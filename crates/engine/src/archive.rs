//! Moving a source into its collection's archive once its row is
//! committed: the original is kept, never deleted, under the same sub-path
//! it had in the drop folder.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use sha2::{Digest as _, Sha256};

/// What the file that was read is: the archive moves only that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
}

impl Identity {
    pub fn of(meta: &fs::Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: meta.mtime(),
        }
    }
}

/// How an archive move is checked: the file at the path must still be
/// the one read, and a copy across file systems must hash as it did.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub identity: Option<Identity>,
    /// SHA-256 (hex) of the bytes read.
    pub hash: Option<String>,
}

/// Move `file` (somewhere below `drop`) to the same sub-path below
/// `archive`. An existing archived file is never replaced: the new one is
/// stored as `name_1.jpg`, `name_2.jpg`..., and the name is taken
/// atomically (`renameat2(RENAME_NOREPLACE)`, or a hard link then unlink
/// where the file system has no such rename, as NFS). The archive folder
/// is fsynced after the move.
pub fn move_to_archive(drop: &Path, archive: &Path, file: &Path, expect: &Expect) -> io::Result<PathBuf> {
    if let Some(read) = expect.identity {
        let now = fs::symlink_metadata(file).map(|m| Identity::of(&m));
        if now.as_ref().ok() != Some(&read) {
            return Err(io::Error::other(
                "the file there now is not the one that was read (uploaded again meanwhile?); it is taken again as a new arrival",
            ));
        }
    }
    let relative = file
        .strip_prefix(drop)
        .unwrap_or(file.file_name().map_or(file, Path::new));
    let wanted = archive.join(relative);
    let parent = wanted
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| archive.to_path_buf());
    fs::create_dir_all(&parent)?;
    for candidate in candidates(&wanted) {
        match place(file, &candidate, expect) {
            Ok(()) => {
                fs::File::open(&parent)?.sync_all()?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "no free name for {} in the archive",
        wanted.display()
    )))
}

/// `wanted`, then `stem_1.ext`, `stem_2.ext`...
fn candidates(wanted: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    let stem = wanted
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let extension = wanted
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    std::iter::once(wanted.to_path_buf())
        .chain((1..10_000).map(move |n| wanted.with_file_name(format!("{stem}_{n}{extension}"))))
}

/// Move `file` to `target` unless `target` exists (AlreadyExists then).
fn place(file: &Path, target: &Path, expect: &Expect) -> io::Result<()> {
    match renameat_with(CWD, file, CWD, target, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::EXIST => Err(io::ErrorKind::AlreadyExists.into()),
        Err(e) if e == rustix::io::Errno::XDEV => copy_then_remove(file, target, expect),
        // No RENAME_NOREPLACE here (NFS, some FUSE): a hard link never
        // replaces either.
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::NOTSUP => {
            link_then_unlink(file, target)
        }
        Err(e) => Err(e.into()),
    }
}

fn link_then_unlink(file: &Path, target: &Path) -> io::Result<()> {
    match fs::hard_link(file, target) {
        Ok(()) => fs::remove_file(file),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
            copy_then_remove(file, target, &Expect::default())
        }
        Err(e) => Err(e),
    }
}

/// The archive is on another file system: copy to a temporary name of its
/// own, make it durable, check its SHA-256 against what was read, give it
/// its name without replacing anything, and only then remove the source.
fn copy_then_remove(file: &Path, target: &Path, expect: &Expect) -> io::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let temp = target.with_file_name(format!(".specdrop-archive-{}-{nanos}.tmp", std::process::id()));
    let result = (|| {
        fs::copy(file, &temp)?;
        fs::File::open(&temp)?.sync_all()?;
        if let Some(hash) = &expect.hash {
            let copied = format!("{:x}", Sha256::digest(fs::read(&temp)?));
            if &copied != hash {
                return Err(io::Error::other(
                    "the copy in the archive differs from the file that was read; the source is kept",
                ));
            }
        }
        fs::hard_link(&temp, target)
    })();
    let _ = fs::remove_file(&temp);
    result?;
    if let Some(parent) = target.parent() {
        fs::File::open(parent)?.sync_all()?;
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
        let moved = move_to_archive(&drop, &archive, &drop.join("day1/a.jpg"), &Expect::default())?;
        assert_eq!(moved, archive.join("day1/a.jpg"));
        assert!(!drop.join("day1/a.jpg").exists());

        fs::write(drop.join("day1/a.jpg"), b"second")?;
        let moved = move_to_archive(&drop, &archive, &drop.join("day1/a.jpg"), &Expect::default())?;
        assert_eq!(moved, archive.join("day1/a_1.jpg"));
        assert_eq!(fs::read(archive.join("day1/a.jpg"))?, b"first");
        assert_eq!(fs::read(archive.join("day1/a_1.jpg"))?, b"second");
        Ok(())
    }

    #[test]
    fn a_file_that_changed_since_it_was_read_is_not_archived() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let drop = dir.path().join("drop");
        let archive = dir.path().join("archive");
        fs::create_dir_all(&drop)?;
        let file = drop.join("a.jpg");
        fs::write(&file, b"the sheet that was read")?;
        let read = Identity::of(&fs::symlink_metadata(&file)?);
        // Re-uploaded under the same name while the first was in flight.
        fs::remove_file(&file)?;
        fs::write(&file, b"a new upload")?;
        let expect = Expect {
            identity: Some(read),
            hash: None,
        };
        let refused = move_to_archive(&drop, &archive, &file, &expect);
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(
            fs::read(&file)?,
            b"a new upload",
            "the new upload stays for the next run"
        );
        assert!(!archive.join("a.jpg").exists());
        Ok(())
    }

    #[test]
    fn the_archive_name_is_taken_without_replacing() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let (drop, archive) = (dir.path().join("drop"), dir.path().join("archive"));
        fs::create_dir_all(&drop)?;
        fs::create_dir_all(&archive)?;
        fs::write(archive.join("a.jpg"), b"archived before")?;
        fs::write(drop.join("a.jpg"), b"new")?;
        // The rename itself refuses an existing name.
        let placed = place(&drop.join("a.jpg"), &archive.join("a.jpg"), &Expect::default());
        assert_eq!(placed.map_err(|e| e.kind()), Err(io::ErrorKind::AlreadyExists));
        assert_eq!(
            link_then_unlink(&drop.join("a.jpg"), &archive.join("a.jpg")).map_err(|e| e.kind()),
            Err(io::ErrorKind::AlreadyExists)
        );
        assert_eq!(fs::read(archive.join("a.jpg"))?, b"archived before");
        assert_eq!(fs::read(drop.join("a.jpg"))?, b"new");
        Ok(())
    }
}
