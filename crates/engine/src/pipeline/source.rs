//! Stage 1, read: the file's bytes through one checked handle, complete,
//! with their content hash; and whether they are an image specdrop takes.

use std::path::Path;

use sha2::{Digest as _, Sha256};
use specdrop_beneath::{BeneathError, Folder};
use specdrop_watch::complete::{self, Arrived};

use crate::context::Context;
use crate::outcome::Kind;
use crate::process_locks::{self, HeldSource, NotHeld};
use crate::stages::verdict::{LedgerEntry, Step, Verdict};

/// A source file read whole.
pub struct Source {
    /// The file name, as text (lossy for names that are not UTF-8).
    pub name: String,
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes, hex: the ledger's key.
    pub hash: String,
}

/// Why a source was not read.
enum Unread {
    /// The file's own fault: failed, with the reason.
    Refused(String),
    /// Gone, or another process has it: skipped, nothing remembered.
    NotOurs(String),
}

/// Read `path` and hold it (process_locks.rs) until the returned
/// [`HeldSource`] is dropped: refused (failed, with the reason) when it is
/// not a plain file of one name within `derive.max_file_mb`; skipped when
/// another specdrop has it or it is gone, and while its JPEG end marker is
/// missing (still uploading).
pub async fn read(ctx: &Context, drop: &Path, path: &Path, name: &str) -> Step<(Source, HeldSource)> {
    let limit = ctx.derive.max_file_mb;
    let (drop, source) = (drop.to_path_buf(), path.to_path_buf());
    // A dry run (`check`) writes nothing and must not make a daemon
    // beside it leave a file alone.
    let hold = !ctx.dry_run;
    let (bytes, held) = tokio::task::spawn_blocking(move || read_checked(&drop, &source, limit, hold))
        .await
        .unwrap_or_else(|e| Err(Unread::Refused(format!("cannot read the file: {e}"))))
        .map_err(|unread| match unread {
            Unread::Refused(detail) => Verdict::new(Kind::Failed, detail, None),
            Unread::NotOurs(detail) => Verdict::new(Kind::Skipped, detail, None),
        })?;
    if let Arrived::Truncated(at) = complete::check(&bytes) {
        let detail = format!(
            "incomplete: the image ends at byte {at} before its end marker; still uploading? it is taken once complete"
        );
        return Err(Verdict::new(Kind::Skipped, detail, None));
    }
    let hash = format!("{:x}", Sha256::digest(&bytes));
    let source = Source {
        name: name.to_string(),
        bytes,
        hash,
    };
    Ok((source, held))
}

impl Source {
    /// What the ledger keeps of this file while nothing more is known.
    pub fn ledger_entry(&self) -> LedgerEntry {
        LedgerEntry {
            hash: self.hash.clone(),
            catalog_number: None,
            number_from: None,
        }
    }

    /// From the header alone: an image of a configured format, within
    /// `derive.max_pixels`.
    pub fn check_image(&self, ctx: &Context, entry: &LedgerEntry) -> Step<()> {
        specdrop_derive::probe(&self.bytes, ctx.derive.max_pixels, &ctx.derive.formats)
            .map(|_| ())
            .map_err(|e| Verdict::new(Kind::Failed, e.to_string(), Some(entry)))
    }
}

/// The source's bytes, read through one handle that is checked first: a
/// regular file with one name (a symbolic or hard link could lead out of
/// the drop folder, or to somebody else's file), reached from the drop
/// folder without following a link at any component (a sub-folder
/// swapped for a link since the walk is refused too), no larger than
/// `derive.max_file_mb`. The error is the reason for the report; the file
/// stays where it is.
fn read_checked(drop: &Path, path: &Path, max_file_mb: u64, hold: bool) -> Result<(Vec<u8>, HeldSource), Unread> {
    // A file named on the command line, outside the drop folder, is read
    // from its own folder (no link as its name all the same).
    let (root, relative) = match path.strip_prefix(drop) {
        Ok(relative) => (drop, relative),
        Err(_) => (
            path.parent().unwrap_or(Path::new(".")),
            path.file_name().map_or(path, Path::new),
        ),
    };
    let folder = Folder::open(root).map_err(|e| unread(e, path, max_file_mb))?;
    let (bytes, file) = folder
        .read(relative, max_file_mb.saturating_mul(1 << 20))
        .map_err(|e| unread(e, path, max_file_mb))?;
    if !hold {
        return Ok((bytes, HeldSource::new(file)));
    }
    match process_locks::hold_source(&file) {
        Ok(()) => {}
        Err(NotHeld::Busy) => {
            return Err(Unread::NotOurs(
                "left to another specdrop process that is taking it".to_string(),
            ));
        }
        Err(NotHeld::Failed(e)) => return Err(Unread::Refused(format!("cannot lock the file: {e}"))),
    }
    // Held now; but another process may have finished with it (and
    // archived it) between our open and our lock: then the name leads
    // elsewhere, or nowhere.
    use std::os::unix::fs::MetadataExt as _;
    let ours = file
        .metadata()
        .map_err(|e| Unread::Refused(format!("cannot read the file: {e}")))?;
    let same = folder
        .stat(relative)
        .is_ok_and(|now| now.dev == ours.dev() && now.ino == ours.ino());
    if !same {
        return Err(Unread::NotOurs(
            "moved or replaced while it was being taken (by another specdrop process?); a new file there is taken as a new arrival"
                .to_string(),
        ));
    }
    Ok((bytes, HeldSource::new(file)))
}

/// The report's words for a file that was not read.
fn unread(e: BeneathError, path: &Path, max_file_mb: u64) -> Unread {
    match e {
        _ if e.is_not_found() => {
            Unread::NotOurs("gone before it was read (moved or removed; by another specdrop process?)".to_string())
        }
        BeneathError::Link { path: link } if link == path => Unread::Refused(
            "refused: a symbolic link, which could lead out of the drop folder; copy the file itself \
             (the link is left where it is)"
                .to_string(),
        ),
        BeneathError::Link { path: link } => Unread::Refused(format!(
            "refused: its folder {} is a symbolic link (swapped in after the folder was listed?), which could \
             lead out of the drop folder; nothing was read; put the folder itself there",
            link.display()
        )),
        BeneathError::NotFile { .. } => {
            Unread::Refused("refused: not a regular file (a folder, pipe or device with an image's name)".to_string())
        }
        BeneathError::HardLink { links, .. } => Unread::Refused(format!(
            "refused: a hard link ({links} names for one file), which could be a file from outside the drop folder; \
             copy the file itself (the link is left where it is)"
        )),
        BeneathError::TooLarge { mib, .. } => Unread::Refused(format!(
            "refused: {mib} MiB, more than derive.max_file_mb = {max_file_mb}; export a smaller JPEG \
             (the file is left where it is)"
        )),
        BeneathError::Grew { .. } => Unread::Refused(format!(
            "refused: grew past derive.max_file_mb = {max_file_mb} while being read"
        )),
        BeneathError::Io { cause, .. } => Unread::Refused(format!("cannot read the file: {cause}")),
        BeneathError::Outside { .. } => Unread::Refused(e.to_string()),
    }
}
