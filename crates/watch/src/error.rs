use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot read drop folder {path}: {source}; check that it exists and that specdrop's user may read it")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
