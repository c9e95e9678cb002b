//! Stage 9, archive: the original leaves the drop folder for the archive
//! (same sub-path, never replacing a file there). Only ever after its row
//! is committed and recorded.

use std::path::Path;

use crate::archive::Expect;
use crate::collection::Prepared;
use crate::context::Context;
use crate::process_locks::HeldSource;

/// Move the source to the archive (noting where in the ledger entry of
/// `hash` under the collection and each of `records`, the catalog numbers
/// it was linked under); the returned text goes into the report. Only
/// the file that was read moves (`held`: its identity; `hash`: its bytes,
/// checked on a copy across file systems). A failed move leaves the
/// (already linked) source where it is, and the next scan finishes the
/// move.
pub async fn move_source(
    ctx: &Context,
    collection: &Prepared,
    path: &Path,
    held: &HeldSource,
    hash: &str,
    records: &[&str],
) -> String {
    let (drop, archive, file) = (
        collection.config.drop.clone(),
        collection.config.archive.clone(),
        path.to_path_buf(),
    );
    let expect = Expect {
        identity: held.identity(),
        hash: Some(hash.to_string()),
    };
    let moved =
        tokio::task::spawn_blocking(move || crate::archive::move_to_archive(&drop, &archive, &file, &expect)).await;
    match moved {
        Ok(Ok(target)) => {
            let code = &collection.config.code;
            for number in records {
                if let Err(e) = ctx.ledger.set_archived(hash, code, number, &target).await {
                    tracing::warn!("{}: {e}", path.display());
                }
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
