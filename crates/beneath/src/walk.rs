//! Listing a folder tree from descriptors: each sub-folder is opened from
//! its parent with `O_NOFOLLOW`, so a folder swapped for a link while the
//! walk runs is reported as a link, never listed.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType};

use crate::{BeneathError, Folder, Kind, open_dir};

/// One name the walk found, relative to the folder walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub kind: Kind,
}

/// What a walk found: every name (folders before what they hold, names
/// sorted within a folder), and the folders it could not open.
#[derive(Debug, Default)]
pub struct Walked {
    pub entries: Vec<Entry>,
    pub unreadable: Vec<(PathBuf, String)>,
}

impl Folder {
    /// Every name below the folder. `enter` says, for a folder's relative
    /// path, whether to descend into it; links are listed as links and
    /// never entered.
    pub fn walk(&self, mut enter: impl FnMut(&Path) -> bool) -> Result<Walked, BeneathError> {
        let mut walked = Walked::default();
        let names = list(&self.dir, &self.root)?;
        descend(&self.dir, &self.root, Path::new(""), names, &mut enter, &mut walked);
        Ok(walked)
    }
}

fn descend(
    dir: &OwnedFd,
    root: &Path,
    rel: &Path,
    names: Vec<(OsString, Kind)>,
    enter: &mut impl FnMut(&Path) -> bool,
    walked: &mut Walked,
) {
    for (name, kind) in names {
        let path = rel.join(&name);
        walked.entries.push(Entry {
            path: path.clone(),
            kind,
        });
        if kind != Kind::Dir || !enter(&path) {
            continue;
        }
        let shown = root.join(&path);
        let opened = open_dir(dir, &name, &shown, false).and_then(|sub| Ok((list(&sub, &shown)?, sub)));
        match opened {
            Ok((names, sub)) => descend(&sub, root, &path, names, enter, walked),
            Err(BeneathError::Link { .. }) => {
                // Swapped for a link since it was listed.
                if let Some(last) = walked.entries.iter_mut().rev().find(|e| e.path == path) {
                    last.kind = Kind::Link;
                }
            }
            Err(e) => walked.unreadable.push((path, e.to_string())),
        }
    }
}

/// The names in the folder open at `dir`, sorted; a file system that does
/// not give the type in the listing is asked with `lstat`.
pub(crate) fn list(dir: &OwnedFd, shown: &Path) -> Result<Vec<(OsString, Kind)>, BeneathError> {
    let failed = |e: rustix::io::Errno| BeneathError::Io {
        path: shown.to_path_buf(),
        cause: e.into(),
    };
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir).map_err(failed)? {
        let entry = entry.map_err(failed)?;
        let bytes = entry.file_name().to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let name = std::ffi::OsStr::from_bytes(bytes).to_os_string();
        let kind = match entry.file_type() {
            FileType::Unknown => rustix::fs::statat(dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map_or(Kind::Other, |s| Kind::of(FileType::from_raw_mode(s.st_mode))),
            known => Kind::of(known),
        };
        names.push((name, kind));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(names)
}
