//! Stage 9, archive: the original leaves the drop folder for the archive
//! (same sub-path, never replacing a file there). Only ever after its row
//! is committed and recorded.

use std::path::Path;

use crate::collection::Prepared;
use crate::context::Context;

/// Move the source to the archive (noting where in the ledger entry
/// `hash`, if given); the returned text goes into the report. A failed
/// move leaves the (already linked) source where it is, and the next scan
/// finishes the move.
pub async fn move_source(ctx: &Context, collection: &Prepared, path: &Path, hash: Option<&str>) -> String {
    let (drop, archive, file) = (
        collection.config.drop.clone(),
        collection.config.archive.clone(),
        path.to_path_buf(),
    );
    let moved = tokio::task::spawn_blocking(move || crate::archive::move_to_archive(&drop, &archive, &file)).await;
    match moved {
        Ok(Ok(target)) => {
            let Some(hash) = hash else { return String::new() };
            if let Err(e) = ctx.ledger.set_archived(hash, &target.to_string_lossy()).await {
                tracing::warn!("{}: {e}", path.display());
            }
            String::new()
        }
        Ok(Err(e)) => {
            tracing::warn!("{}: could not move it to the archive: {e}", path.display());
            format!("; NOT archived ({e}): left in the drop folder, retried next time")
        }
        Err(e) => format!("; NOT archived ({e})"),
    }
}
