//! After a row was switched to new derivatives (a replace, `rebuild`):
//! the files it pointed to before are removed when specdrop made them and
//! no row points at them any more.

use specdrop_mapper::MediaUrls;

use crate::config::Collection;
use crate::storage::{Removal, Storage};

/// After a replace is committed, remove the files the row pointed to
/// before, when they are specdrop's to remove: under this collection's URL
/// base (hence in the storage), not one of the new files (`new`:
/// locations), and pointed to by no other row in any URL form (another
/// specimen's row may share them; a portal that cannot say keeps them).
pub async fn remove_replaced(
    portal: &specdrop_mapper::Portal,
    storage: &Storage,
    cfg: &Collection,
    old: &MediaUrls,
    new: &[String],
) -> usize {
    let olds = [Some(&old.url), old.thumbnail_url.as_ref(), old.original_url.as_ref()];
    let mut removed = 0;
    let mut seen = Vec::new();
    for url in olds.into_iter().flatten() {
        let Some(relative) = cfg.url_base.relative(url) else {
            continue;
        };
        if relative.split('/').any(|part| part == ".." || part.is_empty()) {
            continue;
        }
        let location = storage.locate(relative);
        if new.contains(&location) || seen.contains(&location) {
            continue;
        }
        seen.push(location.clone());
        if !matches!(portal.points_at_any(&cfg.url_base.forms(relative)).await, Ok(false)) {
            tracing::info!("kept the replaced file {location}: another row points at it (or the portal could not say)");
            continue;
        }
        match storage.remove(&location).await {
            Ok(Removal::Removed) => removed += 1,
            Ok(Removal::Absent | Removal::Outside) => {}
            Err(e) => tracing::warn!("could not remove the replaced file {location}: {e}"),
        }
    }
    removed
}
