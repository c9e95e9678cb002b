//! Stage 2, seen before: content the ledger has as linked is not linked
//! again; the copy is archived beside the first.

use std::path::Path;

use super::archive;
use super::verdict::{Step, Verdict};
use crate::collection::Prepared;
use crate::context::Context;
use crate::outcome::Kind;
use crate::process_locks::HeldSource;

/// Ends the file (skipped, archived) when its content is already linked.
pub async fn not_linked_before(
    ctx: &Context,
    collection: &Prepared,
    path: &Path,
    held: &HeldSource,
    hash: &str,
) -> Step<()> {
    let linked = ctx
        .ledger
        .linked(hash)
        .await
        .map_err(|e| Verdict::new(Kind::Failed, e.to_string(), None))?;
    let Some(seen) = linked.first() else {
        return Ok(());
    };
    let occid = seen.occid.map_or_else(String::new, |o| format!(" (occid {o})"));
    let first = seen
        .source
        .file_name()
        .map_or_else(|| seen.source.to_string_lossy(), |n| n.to_string_lossy());
    let mut detail = format!("duplicate of {first}{occid}: already linked, nothing new written");
    if !ctx.dry_run {
        // The ledger keeps where the first copy went.
        detail.push_str(&archive::move_source(ctx, collection, path, held, hash, None).await);
    }
    Err(Verdict::new(Kind::Skipped, detail, None))
}
