//! Files below a folder that other people can write to (a drop folder on
//! a share), opened so that nothing there is followed out of it.
//!
//! A [`Folder`] holds a descriptor of the folder itself (the path an admin
//! configured, which may itself be a link: that is the admin's choice).
//! Everything below it is reached one component at a time from that
//! descriptor with `openat(O_NOFOLLOW)`: a symbolic link at any component,
//! including a sub-folder swapped for a link after a walk listed it, is
//! refused ([`BeneathError::Link`]), never followed. `..` and absolute
//! paths are refused before any call. `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` would do the walk in one call, but not on kernels
//! before 5.6 nor on every FUSE share; the walk works everywhere and is
//! the one code path.

mod error;
mod walk;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

pub use error::BeneathError;
pub use walk::{Entry, Walked};

/// What a name below the folder is, from `lstat` (never following).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Link,
    /// A pipe, socket or device.
    Other,
}

impl Kind {
    fn of(file_type: FileType) -> Kind {
        match file_type {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Link,
            _ => Kind::Other,
        }
    }
}

/// A name's status, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    pub links: u64,
}

impl Node {
    fn of(stat: &rustix::fs::Stat) -> Node {
        Node {
            kind: Kind::of(FileType::from_raw_mode(stat.st_mode)),
            dev: stat.st_dev,
            ino: stat.st_ino,
            size: u64::try_from(stat.st_size).unwrap_or(0),
            mtime: stat.st_mtime,
            links: stat.st_nlink,
        }
    }
}

/// The folder that holds a name, opened without following links, and the
/// name in it: for `renameat`, `linkat` and the like.
#[derive(Debug)]
pub struct Place {
    pub dir: OwnedFd,
    pub name: OsString,
}

/// A folder whose contents are not trusted.
#[derive(Debug)]
pub struct Folder {
    dir: OwnedFd,
    root: PathBuf,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Folder {
    /// Open `root` itself (following links in the configured path).
    pub fn open(root: &Path) -> Result<Folder, BeneathError> {
        let dir = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io(root, e))?;
        Ok(Folder {
            dir,
            root: root.to_path_buf(),
        })
    }

    /// Open `root`, making it (and its parents, which are the admin's)
    /// when missing.
    pub fn open_or_create(root: &Path) -> Result<Folder, BeneathError> {
        std::fs::create_dir_all(root).map_err(|cause| BeneathError::Io {
            path: root.to_path_buf(),
            cause,
        })?;
        Folder::open(root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` relative to the folder: a relative path as it is, an absolute
    /// one when it is below the folder's path.
    pub fn relative<'a>(&self, path: &'a Path) -> Result<&'a Path, BeneathError> {
        let rel = if path.is_absolute() {
            path.strip_prefix(&self.root).map_err(|_| self.outside(path))?
        } else {
            path
        };
        if rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            Ok(rel)
        } else {
            Err(self.outside(path))
        }
    }

    fn outside(&self, path: &Path) -> BeneathError {
        BeneathError::Outside {
            path: path.to_path_buf(),
            root: self.root.clone(),
        }
    }

    /// The folder holding `path` and the name in it. Each folder on the way
    /// is opened from the one before with `O_NOFOLLOW`; with `create`,
    /// missing ones are made (`mkdirat`, which never follows either).
    pub fn place(&self, path: &Path, create: bool) -> Result<Place, BeneathError> {
        let rel = self.relative(path)?;
        let mut parts: Vec<&OsStr> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name),
                _ => None,
            })
            .collect();
        let name = parts.pop().ok_or_else(|| self.outside(path))?.to_os_string();
        let mut dir = self.dir.try_clone().map_err(|cause| BeneathError::Io {
            path: self.root.clone(),
            cause,
        })?;
        let mut shown = self.root.clone();
        for part in parts {
            shown.push(part);
            dir = open_dir(&dir, part, &shown, create)?;
        }
        Ok(Place { dir, name })
    }

    /// A sub-folder as a folder of its own (made when missing, with
    /// `create`); no component of `path` may be a link.
    pub fn sub(&self, path: &Path, create: bool) -> Result<Folder, BeneathError> {
        let rel = self.relative(path)?;
        if rel.components().all(|c| c == Component::CurDir) {
            return Ok(Folder {
                dir: self.dir.try_clone().map_err(|e| BeneathError::Io {
                    path: self.root.clone(),
                    cause: e,
                })?,
                root: self.root.clone(),
            });
        }
        let place = self.place(rel, create)?;
        let shown = self.root.join(rel);
        let dir = open_dir(&place.dir, &place.name, &shown, create)?;
        Ok(Folder { dir, root: shown })
    }

    /// The status of `path` itself (a link is reported as a link).
    pub fn stat(&self, path: &Path) -> Result<Node, BeneathError> {
        let place = self.place(path, false)?;
        rustix::fs::statat(&place.dir, place.name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
            .map(|s| Node::of(&s))
            .map_err(|e| io(&self.root.join(self.relative(path).unwrap_or(path)), e))
    }

    /// Open a regular file for reading: never a link, never blocking on a
    /// pipe swapped in.
    pub fn open_file(&self, path: &Path) -> Result<File, BeneathError> {
        let shown = self.shown(path);
        let place = self.place(path, false)?;
        let fd = rustix::fs::openat(
            &place.dir,
            place.name.as_os_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| refused_or_io(&place, &shown, e))?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|cause| BeneathError::Io {
            path: shown.clone(),
            cause,
        })?;
        if !meta.is_file() {
            return Err(BeneathError::NotFile { path: shown });
        }
        Ok(file)
    }

    /// Read a regular file of one name whole, at most `limit` bytes; the
    /// open handle is returned with the bytes (for a lock, or its status).
    pub fn read(&self, path: &Path, limit: u64) -> Result<(Vec<u8>, File), BeneathError> {
        use std::os::unix::fs::MetadataExt as _;
        let shown = self.shown(path);
        let file = self.open_file(path)?;
        let meta = file.metadata().map_err(|cause| BeneathError::Io {
            path: shown.clone(),
            cause,
        })?;
        if meta.nlink() > 1 {
            return Err(BeneathError::HardLink {
                path: shown,
                links: meta.nlink(),
            });
        }
        if meta.len() > limit {
            return Err(BeneathError::TooLarge {
                path: shown,
                mib: meta.len() >> 20,
                limit_mib: limit >> 20,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        // One byte past the limit tells a file that grew while read.
        (&file)
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|cause| BeneathError::Io {
                path: shown.clone(),
                cause,
            })?;
        if bytes.len() as u64 > limit {
            return Err(BeneathError::Grew {
                path: shown,
                limit_mib: limit >> 20,
            });
        }
        Ok((bytes, file))
    }

    /// Put `bytes` at `path` whole: written to a temporary name in the same
    /// folder, then renamed over. A link (or folder) at `path` is refused,
    /// not replaced: somebody put it there.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), BeneathError> {
        let shown = self.shown(path);
        let place = self.place(path, true)?;
        refuse_non_file(&place, &shown)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut temp = OsString::from(".specdrop-");
        temp.push(&place.name);
        temp.push(format!(".{}-{nanos}.tmp", std::process::id()));
        let fd = rustix::fs::openat(
            &place.dir,
            temp.as_os_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| io(&shown, e))?;
        let written = File::from(fd).write_all(bytes);
        let renamed = written
            .map_err(|cause| BeneathError::Io {
                path: shown.clone(),
                cause,
            })
            .and_then(|()| {
                // rename replaces a link swapped in meanwhile; it never
                // writes through one.
                rustix::fs::renameat(&place.dir, temp.as_os_str(), &place.dir, place.name.as_os_str())
                    .map_err(|e| io(&shown, e))
            });
        if renamed.is_err() {
            let _ = rustix::fs::unlinkat(&place.dir, temp.as_os_str(), AtFlags::empty());
        }
        renamed
    }

    /// Open `path` for appending, made when missing; never a link.
    pub fn append(&self, path: &Path) -> Result<File, BeneathError> {
        let shown = self.shown(path);
        let place = self.place(path, true)?;
        let fd = rustix::fs::openat(
            &place.dir,
            place.name.as_os_str(),
            OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| refused_or_io(&place, &shown, e))?;
        let file = File::from(fd);
        let regular = file.metadata().map(|m| m.is_file()).map_err(|cause| BeneathError::Io {
            path: shown.clone(),
            cause,
        })?;
        if !regular {
            return Err(BeneathError::NotFile { path: shown });
        }
        Ok(file)
    }

    /// Remove the name `path` (a link is removed itself, never its target).
    pub fn remove(&self, path: &Path) -> Result<(), BeneathError> {
        let shown = self.shown(path);
        let place = self.place(path, false)?;
        rustix::fs::unlinkat(&place.dir, place.name.as_os_str(), AtFlags::empty()).map_err(|e| io(&shown, e))
    }

    /// Remove the empty folder `path` (a link there is refused).
    pub fn remove_dir(&self, path: &Path) -> Result<(), BeneathError> {
        let shown = self.shown(path);
        let place = self.place(path, false)?;
        rustix::fs::unlinkat(&place.dir, place.name.as_os_str(), AtFlags::REMOVEDIR).map_err(|e| io(&shown, e))
    }

    /// The names in the folder `path` (`.` for the folder itself), sorted,
    /// with what each is.
    pub fn list(&self, path: &Path) -> Result<Vec<(OsString, Kind)>, BeneathError> {
        let sub = self.sub(path, false)?;
        walk::list(&sub.dir, &sub.root)
    }

    fn shown(&self, path: &Path) -> PathBuf {
        match self.relative(path) {
            Ok(rel) => self.root.join(rel),
            Err(_) => path.to_path_buf(),
        }
    }
}

fn open_dir(parent: &OwnedFd, name: &OsStr, shown: &Path, create: bool) -> Result<OwnedFd, BeneathError> {
    match rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(e) if e == Errno::NOENT && create => {
            match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755)) {
                Ok(()) => {}
                Err(e) if e == Errno::EXIST => {}
                Err(e) => return Err(io(shown, e)),
            }
            rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()).map_err(|e| link_or_io(parent, name, shown, e))
        }
        Err(e) => Err(link_or_io(parent, name, shown, e)),
    }
}

/// `O_NOFOLLOW` on a link fails with `ELOOP` (or `ENOTDIR` where a folder
/// was asked for): say that it is a link.
fn link_or_io(parent: &OwnedFd, name: &OsStr, shown: &Path, e: Errno) -> BeneathError {
    let is_link = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
    if is_link || e == Errno::LOOP {
        BeneathError::Link {
            path: shown.to_path_buf(),
        }
    } else {
        io(shown, e)
    }
}

fn refused_or_io(place: &Place, shown: &Path, e: Errno) -> BeneathError {
    link_or_io(&place.dir, &place.name, shown, e)
}

fn refuse_non_file(place: &Place, shown: &Path) -> Result<(), BeneathError> {
    match rustix::fs::statat(&place.dir, place.name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) => match FileType::from_raw_mode(s.st_mode) {
            FileType::RegularFile => Ok(()),
            FileType::Symlink => Err(BeneathError::Link {
                path: shown.to_path_buf(),
            }),
            _ => Err(BeneathError::NotFile {
                path: shown.to_path_buf(),
            }),
        },
        Err(e) if e == Errno::NOENT => Ok(()),
        Err(e) => Err(io(shown, e)),
    }
}

fn io(path: &Path, e: Errno) -> BeneathError {
    BeneathError::Io {
        path: path.to_path_buf(),
        cause: e.into(),
    }
}

#[cfg(test)]
mod tests;
