use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot read drop folder {path}: {cause}; check that it exists and that specdrop's user may read it")]
    Unreadable { path: PathBuf, cause: String },
}
