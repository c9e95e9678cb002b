//! Moments in a file's way through the pipeline that a test can stop the
//! process at, to show that a kill there loses nothing. The release binary
//! passes [`NoCheckpoints`]; tests/e2e/crash.rs passes one that aborts.
//! A trait rather than an environment variable, so no test hook ships in
//! the binary.

/// A moment in [`crate::pipeline::process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// The derivatives are in place (and claimed), the row is not yet
    /// committed: the moment a kill is hardest to survive.
    DerivativesStored,
}

pub trait Checkpoints: Send + Sync {
    fn reached(&self, at: Checkpoint);
}

/// What every real run uses: nothing happens at any checkpoint.
pub struct NoCheckpoints;

impl Checkpoints for NoCheckpoints {
    fn reached(&self, _: Checkpoint) {}
}
