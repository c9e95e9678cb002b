//! Seen before, once the catalog number is known: content the ledger has
//! as linked under this collection and number is not linked again; the
//! copy is archived beside the first. The same content linked under
//! another number (a sheet renamed to correct its number and dropped
//! again, or a sheet that holds two specimens) is linked under this one
//! too, and the report names the specimen it was linked to before
//! (docs/decisions.md).
//!
//! Asked twice: early, so a duplicate costs no lookup and no derivatives,
//! and again in the file's turn under the collection's link lock, where
//! the copy linked just before it (in this batch, or by another process)
//! is in the ledger.

use std::path::Path;

use super::archive;
use crate::collection::Prepared;
use crate::context::Context;
use crate::ledger::Linked;
use crate::outcome::{Kind, printable};
use crate::process_locks::HeldSource;
use crate::stages::verdict::{LedgerEntry, Step, Verdict};

/// Ends the file (skipped, archived) when its content is already linked
/// under its collection and number, or to `occid` (the record the number
/// found, when known: another spelling of the same number). Otherwise the
/// note for the report when the same content is linked to other
/// specimens.
pub async fn not_linked_before(
    ctx: &Context,
    collection: &Prepared,
    path: &Path,
    held: &HeldSource,
    entry: &LedgerEntry,
    occid: Option<i64>,
) -> Step<Option<String>> {
    let code = &collection.config.code;
    let number = entry.catalog_number.as_deref().unwrap_or_default();
    let undone = ctx
        .ledger
        .undone(&entry.hash, code, number, path)
        .await
        .map_err(|e| Verdict::new(Kind::Failed, e.to_string(), None))?;
    if let Some(at) = undone {
        // `specdrop undo` brought it back here: linking it again under the
        // same number would undo the undo.
        let detail = format!(
            "taken back from catalog number {} by specdrop undo ({at} UTC) and not linked to it again; rename \
             the file to the right catalog number, or remove it",
            printable(number)
        );
        return Err(Verdict::new(Kind::Skipped, detail, None));
    }
    let linked = ctx
        .ledger
        .linked(&entry.hash)
        .await
        .map_err(|e| Verdict::new(Kind::Failed, e.to_string(), None))?;
    let same =
        |l: &&Linked| l.collection == *code && (l.catalog_number == number || (occid.is_some() && l.occid == occid));
    let Some(seen) = linked.iter().find(same) else {
        return Ok(elsewhere(&linked));
    };
    let occid = seen.occid.map_or_else(String::new, |o| format!(" (occid {o})"));
    let first = seen
        .source
        .file_name()
        .map_or_else(|| seen.source.to_string_lossy(), |n| n.to_string_lossy());
    let mut detail = format!(
        "duplicate of {}{occid}: already linked, nothing new written",
        printable(&first)
    );
    if !ctx.dry_run {
        // The ledger keeps where the first copy went.
        detail.push_str(&archive::move_source(ctx, collection, path, held, &entry.hash, &[]).await);
    }
    Err(Verdict::new(Kind::Skipped, detail, None))
}

/// "the same image is also linked to ...": each specimen, and what to do
/// when that link was the mistake this copy corrects.
fn elsewhere(linked: &[Linked]) -> Option<String> {
    if linked.is_empty() {
        return None;
    }
    let specimens: Vec<String> = linked
        .iter()
        .map(|l| {
            let occid = l.occid.map_or_else(String::new, |o| format!(" (occid {o})"));
            format!("{} {}{occid}", l.collection, printable(&l.catalog_number))
        })
        .collect();
    Some(format!(
        "the same image is also linked to {}; if that link is wrong (the file was renamed to correct its \
         number), remove that image from that record in the portal",
        specimens.join(", ")
    ))
}
