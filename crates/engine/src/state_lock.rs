//! `<state_dir>/specdrop.lock`: every process that writes holds it shared
//! for its life; a process that gets it exclusively knows no other
//! specdrop runs, and only then cleans up what dead processes left
//! (temporary files, unlinked derivatives: claims.rs).

use std::fs::File;
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

pub const LOCK_FILE: &str = "specdrop.lock";

/// The state folder's lock, held until dropped.
pub struct StateLock {
    file: File,
    /// Taken exclusively: no other specdrop was running.
    alone: bool,
}

/// Open (or make) a lock file in state_dir; the error is a sentence for
/// the user.
pub fn open_lock_file(path: &Path) -> Result<File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| {
            format!(
                "cannot open {} ({e}); specdrop's user must be able to write in state_dir",
                path.display()
            )
        })
}

impl StateLock {
    /// Exclusively if no other specdrop holds it (then the caller may
    /// clean up, and must call [`StateLock::let_others_write`] after),
    /// else shared. The error is a sentence for the user.
    pub fn take(state_dir: &Path) -> Result<StateLock, String> {
        let path = state_dir.join(LOCK_FILE);
        let file = open_lock_file(&path)?;
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok() {
            return Ok(StateLock { file, alone: true });
        }
        // Blocks only while another process cleans up.
        flock(&file, FlockOperation::LockShared)
            .map(|()| StateLock { file, alone: false })
            .map_err(|e| {
                format!(
                    "cannot lock {} ({e}); is state_dir on a file system without locks?",
                    path.display()
                )
            })
    }

    /// Whether this process got the lock alone (and may clean up).
    pub fn alone(&self) -> bool {
        self.alone
    }

    /// Cleaning up is done: let other processes start writing.
    pub fn let_others_write(&self) -> Result<(), String> {
        flock(&self.file, FlockOperation::LockShared).map_err(|e| format!("cannot share the state folder's lock ({e})"))
    }
}
