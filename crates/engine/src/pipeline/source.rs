//! Stage 1, read: the file's bytes through one checked handle, complete,
//! with their content hash; and whether they are an image specdrop takes.

use std::path::Path;

use sha2::{Digest as _, Sha256};
use specdrop_watch::complete::{self, Arrived};

use super::verdict::{LedgerEntry, Step, Verdict};
use crate::context::Context;
use crate::outcome::Kind;
use crate::process_locks::{self, HeldSource, NotHeld};

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
pub async fn read(ctx: &Context, path: &Path, name: &str) -> Step<(Source, HeldSource)> {
    let limit = ctx.derive.max_file_mb;
    let source = path.to_path_buf();
    // A dry run (`check`) writes nothing and must not make a daemon
    // beside it leave a file alone.
    let hold = !ctx.dry_run;
    let (bytes, held) = tokio::task::spawn_blocking(move || read_checked(&source, limit, hold))
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
/// the drop folder, or to somebody else's file), no larger than
/// `derive.max_file_mb`. The error is the reason for the report; the file
/// stays where it is.
fn read_checked(path: &Path, max_file_mb: u64, hold: bool) -> Result<(Vec<u8>, HeldSource), Unread> {
    use std::os::unix::fs::MetadataExt as _;
    let (bytes, file) = read_plain(path, max_file_mb)?;
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
    let ours = file
        .metadata()
        .map_err(|e| Unread::Refused(format!("cannot read the file: {e}")))?;
    let same = std::fs::symlink_metadata(path).is_ok_and(|now| now.dev() == ours.dev() && now.ino() == ours.ino());
    if !same {
        return Err(Unread::NotOurs(
            "moved or replaced while it was being taken (by another specdrop process?); a new file there is taken as a new arrival"
                .to_string(),
        ));
    }
    Ok((bytes, HeldSource::new(file)))
}

/// Open and read, with the checks above; the open handle is returned for
/// the lock.
fn read_plain(path: &Path, max_file_mb: u64) -> Result<(Vec<u8>, std::fs::File), Unread> {
    use std::io::Read as _;
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let file = std::fs::OpenOptions::new()
        .read(true)
        // Not blocking on a FIFO, not following a link swapped in.
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            _ if e.kind() == std::io::ErrorKind::NotFound => {
                Unread::NotOurs("gone before it was read (moved or removed; by another specdrop process?)".to_string())
            }
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => Unread::Refused(
                "refused: a symbolic link, which could lead out of the drop folder; copy the file itself \
                 (the link is left where it is)"
                    .to_string(),
            ),
            _ => Unread::Refused(format!("cannot read the file: {e}")),
        })?;
    let refused = Unread::Refused;
    let meta = file
        .metadata()
        .map_err(|e| refused(format!("cannot read the file: {e}")))?;
    if !meta.is_file() {
        return Err(refused(
            "refused: not a regular file (a folder, pipe or device with an image's name)".into(),
        ));
    }
    if meta.nlink() > 1 {
        return Err(refused(format!(
            "refused: a hard link ({} names for one file), which could be a file from outside the drop folder; \
             copy the file itself (the link is left where it is)",
            meta.nlink()
        )));
    }
    let limit = max_file_mb.saturating_mul(1 << 20);
    if meta.len() > limit {
        return Err(refused(format!(
            "refused: {} MiB, more than derive.max_file_mb = {max_file_mb}; export a smaller JPEG \
             (the file is left where it is)",
            meta.len() >> 20
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // One byte past the limit tells a file that grew while read.
    (&file)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| refused(format!("cannot read the file: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(refused(format!(
            "refused: grew past derive.max_file_mb = {max_file_mb} while being read"
        )));
    }
    Ok((bytes, file))
}
