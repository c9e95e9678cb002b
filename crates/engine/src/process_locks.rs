//! What keeps two specdrop processes on one machine (a daemon and a
//! `scan` beside it, or two daemons on one config) apart:
//!
//! - a source file is locked (`flock`, exclusive, not waiting) by the
//!   process that takes it, from its read to its archiving: another
//!   process that finds it locked leaves it alone;
//! - a collection's link step (store, link, record, archive; and skeletal
//!   files) runs under `<state_dir>/link-<collection>.lock`, exclusive, so
//!   two processes never both make a skeletal record for one catalog
//!   number. Within one process link_order.rs already orders them.
//!
//! flock locks are released by the kernel when a process dies, so a
//! killed process leaves nothing locked.

use std::fs::File;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// A source file held by this process until dropped.
pub struct HeldSource {
    _file: File,
    identity: Option<crate::archive::Identity>,
}

/// Why a source could not be held.
pub enum NotHeld {
    /// Another process has it.
    Busy,
    /// Locking failed otherwise (a file system without locks).
    Failed(std::io::Error),
}

/// Lock `file` (just opened from `path`) for this process.
pub fn hold_source(file: &File) -> Result<(), NotHeld> {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(NotHeld::Busy),
        // NFS without lockd, say: the lock only guards against a second
        // process, which such a share cannot give anyway.
        Err(e) if e == rustix::io::Errno::NOLCK || e == rustix::io::Errno::NOTSUP => Ok(()),
        Err(e) => Err(NotHeld::Failed(e.into())),
    }
}

impl HeldSource {
    pub fn new(file: File) -> HeldSource {
        let identity = file.metadata().ok().map(|m| crate::archive::Identity::of(&m));
        HeldSource { _file: file, identity }
    }

    /// The file that was read, as the archive checks it.
    pub fn identity(&self) -> Option<crate::archive::Identity> {
        self.identity
    }
}

/// A collection's link lock, held until dropped.
pub struct LinkLock {
    _file: File,
}

/// The lock file of collection `code` in `state_dir`.
fn link_lock_path(state_dir: &Path, code: &str) -> PathBuf {
    state_dir.join(format!("link-{}.lock", specdrop_derive::layout::url_safe(code)))
}

/// Wait for collection `code`'s link lock (blocking: call off the async
/// workers). The error is a sentence for the report.
pub fn link_lock(state_dir: &Path, code: &str) -> Result<LinkLock, String> {
    let path = link_lock_path(state_dir, code);
    let file = crate::state_lock::open_lock_file(&path)?;
    match flock(&file, FlockOperation::LockExclusive) {
        Ok(()) => Ok(LinkLock { _file: file }),
        Err(e) if e == rustix::io::Errno::NOLCK || e == rustix::io::Errno::NOTSUP => Ok(LinkLock { _file: file }),
        Err(e) => Err(format!("cannot lock {} ({e})", path.display())),
    }
}
