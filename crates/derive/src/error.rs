use std::path::PathBuf;

/// Why a source gave no derivatives, or why they could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// Not a format specdrop takes (or not an image at all).
    #[error("not taken: {0}")]
    NotJpeg(String),

    #[error(
        "image is {width}x{height} = {pixels} pixels, more than derive.max_pixels ({max}); \
         if this is a real sheet, raise derive.max_pixels"
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        max: u64,
    },

    #[error("corrupt or truncated JPEG: {0}; export or upload the file again")]
    Corrupt(String),

    #[error("{0}")]
    Color(String),

    #[error("JPEG encoding failed: {0}")]
    Encode(String),

    #[error("resizing failed: {0}")]
    Resize(String),

    #[error("could not write {path}: {cause}; check free space and permissions under storage.root")]
    Write { path: PathBuf, cause: std::io::Error },

    #[error("no free name for {stem} in {dir} after {tries} tries; clean up that folder")]
    NoFreeName { dir: PathBuf, stem: String, tries: u32 },
}

impl DeriveError {
    pub(crate) fn write(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        DeriveError::Write {
            path: path.into(),
            cause,
        }
    }

    /// True when the fault lies with the storage (disk full, permissions),
    /// not with the source file: the file should be retried, not blamed.
    pub fn is_storage(&self) -> bool {
        matches!(self, DeriveError::Write { .. } | DeriveError::NoFreeName { .. })
    }
}
