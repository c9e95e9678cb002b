use std::path::PathBuf;

/// Why a file below a folder was not opened, read or written. The messages
/// go to the imaging team's report as they are, so they say what to do.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    /// A symbolic link where a file or folder was expected.
    #[error(
        "refused: {path} is a symbolic link, which could lead out of the drop folder; \
         put the file or folder itself there (the link is left where it is, nothing was read or written through it)"
    )]
    Link { path: PathBuf },

    #[error("refused: {path} is not a regular file (a folder, pipe or device); nothing was read or written")]
    NotFile { path: PathBuf },

    #[error(
        "refused: {path} is a hard link ({links} names for one file), which could be a file from outside \
         the drop folder; copy the file itself (the link is left where it is)"
    )]
    HardLink { path: PathBuf, links: u64 },

    #[error("refused: {path} is {mib} MiB, more than the {limit_mib} MiB allowed; export a smaller file")]
    TooLarge { path: PathBuf, mib: u64, limit_mib: u64 },

    #[error("refused: {path} grew past the {limit_mib} MiB allowed while it was read")]
    Grew { path: PathBuf, limit_mib: u64 },

    /// `..`, an absolute path or a path outside the folder.
    #[error("refused: {path} is not below {root}")]
    Outside { path: PathBuf, root: PathBuf },

    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
}

impl BeneathError {
    /// The file (or a folder on its way) is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BeneathError::Io { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound)
    }

    /// Full, out of space, read-only or failing: the storage's fault, not
    /// the file's.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            BeneathError::Io { cause, .. } => Some(cause.kind()),
            _ => None,
        }
    }
}

/// For callers that report I/O errors: the message is kept, and the kind
/// where the error is the disk's.
impl From<BeneathError> for std::io::Error {
    fn from(e: BeneathError) -> Self {
        match e.io_kind() {
            Some(kind) => std::io::Error::new(kind, e.to_string()),
            None => std::io::Error::other(e.to_string()),
        }
    }
}
