//! What the benches share.

use std::path::{Path, PathBuf};

/// The sheets to measure on: ../shared/corpus when present, else samples/.
pub fn default_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = here.join("../../../shared/corpus");
    if corpus.is_dir() {
        corpus
    } else {
        here.join("../../samples")
    }
}
