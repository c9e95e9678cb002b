//! Moving a source into its collection's archive once its row is
//! committed: the original is kept, never deleted, under the same sub-path
//! it had in the drop folder.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, linkat, openat, renameat_with, unlinkat};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};
use specdrop_beneath::{BeneathError, Folder, Place};

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
///
/// Both ends are reached from their folder's descriptor without following
/// a link (specdrop-beneath): a drop sub-folder, or an archive sub-folder
/// inside the share, swapped for a link moves nothing in or out.
pub fn move_to_archive(drop: &Path, archive: &Path, file: &Path, expect: &Expect) -> io::Result<PathBuf> {
    let drop_folder = Folder::open(drop).map_err(to_io)?;
    let relative = match drop_folder.relative(file) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => PathBuf::from(file.file_name().unwrap_or(file.as_os_str())),
    };
    let from = drop_folder.place(&relative, false).map_err(to_io)?;
    if let Some(read) = expect.identity {
        let now = rustix::fs::statat(&from.dir, from.name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW).map(|s| Identity {
            dev: s.st_dev,
            ino: s.st_ino,
            size: u64::try_from(s.st_size).unwrap_or(0),
            mtime: s.st_mtime,
        });
        if now.ok() != Some(read) {
            return Err(io::Error::other(
                "the file there now is not the one that was read (uploaded again meanwhile?); it is taken again as a new arrival",
            ));
        }
    }
    let archive_folder = open_archive(&drop_folder, archive, true).map_err(to_io)?;
    for candidate in candidates(&relative) {
        let to = archive_folder.place(&candidate, true).map_err(to_io)?;
        match place(&from, &to, expect) {
            Ok(()) => {
                rustix::fs::fsync(&to.dir)?;
                return Ok(archive.join(candidate));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "no free name for {} in the archive",
        archive.join(&relative).display()
    )))
}

/// Put an archived original back at its place in the drop folder
/// (`specdrop undo`): `archived` (below `archive`) to `original` (below
/// `drop`), never over a file there, reached as archiving reaches them.
pub fn restore(drop: &Path, archive: &Path, archived: &Path, original: &Path, expect: &Expect) -> io::Result<()> {
    let drop_folder = Folder::open(drop).map_err(to_io)?;
    let archive_folder = open_archive(&drop_folder, archive, false).map_err(to_io)?;
    let from = archive_folder.place(archived, false).map_err(to_io)?;
    let to = drop_folder.place(original, true).map_err(to_io)?;
    match place(&from, &to, expect) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file of that name is in the drop folder now",
        )),
        other => {
            other?;
            Ok(rustix::fs::fsync(&to.dir)?)
        }
    }
}

/// The archive folder (made when missing, with `create`). An archive
/// inside the drop folder is reached through it, so that a share user
/// cannot swap it for a link either.
pub fn open_archive(drop_folder: &Folder, archive: &Path, create: bool) -> Result<Folder, BeneathError> {
    match archive.strip_prefix(drop_folder.root()) {
        Ok(inside) => drop_folder.sub(inside, create),
        Err(_) if create => Folder::open_or_create(archive),
        Err(_) => Folder::open(archive),
    }
}

fn to_io(e: BeneathError) -> io::Error {
    e.into()
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

/// Move `from` to `to` unless `to` exists (AlreadyExists then).
fn place(from: &Place, to: &Place, expect: &Expect) -> io::Result<()> {
    match renameat_with(&from.dir, &from.name, &to.dir, &to.name, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == Errno::EXIST => Err(io::ErrorKind::AlreadyExists.into()),
        Err(e) if e == Errno::XDEV => copy_then_remove(from, to, expect),
        // No RENAME_NOREPLACE here (NFS, some FUSE): a hard link never
        // replaces either.
        Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::NOTSUP => link_then_unlink(from, to, expect),
        Err(e) => Err(e.into()),
    }
}

fn link_then_unlink(from: &Place, to: &Place, expect: &Expect) -> io::Result<()> {
    match linkat(&from.dir, &from.name, &to.dir, &to.name, AtFlags::empty()) {
        Ok(()) => Ok(unlinkat(&from.dir, &from.name, AtFlags::empty())?),
        Err(e) if e == Errno::EXIST => Err(io::ErrorKind::AlreadyExists.into()),
        Err(e) if e == Errno::XDEV => copy_then_remove(from, to, expect),
        Err(e) => Err(e.into()),
    }
}

/// The archive is on another file system: copy to a temporary name of its
/// own, make it durable, check its SHA-256 against what was read, give it
/// its name without replacing anything, and only then remove the source.
fn copy_then_remove(from: &Place, to: &Place, expect: &Expect) -> io::Result<()> {
    use std::io::{Read as _, Write as _};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let temp = format!(".specdrop-archive-{}-{nanos}.tmp", std::process::id());
    let result = (|| {
        let mut source = fs::File::from(openat(
            &from.dir,
            &from.name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?);
        let mut copy = fs::File::from(openat(
            &to.dir,
            temp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?);
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = source.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            copy.write_all(&buffer[..n])?;
        }
        copy.sync_all()?;
        if let Some(hash) = &expect.hash
            && &format!("{:x}", hasher.finalize()) != hash
        {
            return Err(io::Error::other(
                "the copy in the archive differs from the file that was read; the source is kept",
            ));
        }
        match linkat(&to.dir, temp.as_str(), &to.dir, &to.name, AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(e) if e == Errno::EXIST => Err(io::ErrorKind::AlreadyExists.into()),
            Err(e) => Err(io::Error::from(e)),
        }
    })();
    let _ = unlinkat(&to.dir, temp.as_str(), AtFlags::empty());
    result?;
    rustix::fs::fsync(&to.dir)?;
    Ok(unlinkat(&from.dir, &from.name, AtFlags::empty())?)
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
    fn links_swapped_in_at_either_end_move_nothing() -> io::Result<()> {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir()?;
        let drop = dir.path().join("drop");
        let archive = drop.join("archive");
        let outside = dir.path().join("outside");
        fs::create_dir_all(drop.join("day1"))?;
        fs::create_dir_all(&archive)?;
        fs::create_dir_all(&outside)?;
        fs::write(outside.join("a.jpg"), b"somebody else's file")?;
        // The drop sub-folder swapped for a link to a folder outside.
        fs::rename(drop.join("day1"), drop.join("day1.old"))?;
        symlink(&outside, drop.join("day1"))?;
        let refused = move_to_archive(&drop, &archive, &drop.join("day1/a.jpg"), &Expect::default());
        assert!(refused.is_err_and(|e| e.to_string().contains("symbolic link")));
        assert_eq!(fs::read(outside.join("a.jpg"))?, b"somebody else's file");
        // The archive's sub-folder (inside the share) a link to outside.
        fs::remove_file(drop.join("day1"))?;
        fs::rename(drop.join("day1.old"), drop.join("day1"))?;
        fs::write(drop.join("day1/b.jpg"), b"sheet")?;
        symlink(&outside, archive.join("day1"))?;
        let refused = move_to_archive(&drop, &archive, &drop.join("day1/b.jpg"), &Expect::default());
        assert!(refused.is_err_and(|e| e.to_string().contains("symbolic link")));
        assert!(!outside.join("b.jpg").exists(), "nothing moved out of the share");
        assert_eq!(fs::read(drop.join("day1/b.jpg"))?, b"sheet", "the source stays");
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
        let at = |root: &Path| {
            Folder::open(root)
                .and_then(|f| f.place(Path::new("a.jpg"), false))
                .map_err(to_io)
        };
        let (from, to) = (at(&drop)?, at(&archive)?);
        let placed = place(&from, &to, &Expect::default());
        assert_eq!(placed.map_err(|e| e.kind()), Err(io::ErrorKind::AlreadyExists));
        assert_eq!(
            link_then_unlink(&from, &to, &Expect::default()).map_err(|e| e.kind()),
            Err(io::ErrorKind::AlreadyExists)
        );
        assert_eq!(
            copy_then_remove(&from, &to, &Expect::default()).map_err(|e| e.kind()),
            Err(io::ErrorKind::AlreadyExists)
        );
        assert_eq!(fs::read(archive.join("a.jpg"))?, b"archived before");
        assert_eq!(fs::read(drop.join("a.jpg"))?, b"new");
        Ok(())
    }
}
