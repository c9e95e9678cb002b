//! Creator and copyright from the image itself (`collection.media_from_exif`):
//! the source's EXIF Artist and Copyright (else XMP dc:creator and
//! dc:rights, specdrop-derive's `Credit`) fill a row's `creator` and
//! `copyright` when neither the image's own line nor the collection's
//! `[collection.media]` gives them.

use specdrop_derive::Credit;
use specdrop_mapper::{MediaColumn, MediaValues};

use crate::collection::Prepared;
use crate::context::Context;

/// Fill the empty creator and copyright of `meta` from `credit`. A value
/// the portal's column cannot hold is left out (with a warning), never
/// cut short.
pub fn fill(ctx: &Context, collection: &Prepared, credit: &Credit, meta: &mut MediaValues, name: &str) {
    let cfg = &collection.config;
    if !cfg.media_from_exif {
        return;
    }
    let columns = [
        (MediaColumn::Creator, &cfg.fields.creator, &credit.creator),
        (MediaColumn::Copyright, &cfg.fields.copyright, &credit.copyright),
    ];
    for (column, configured, found) in columns {
        let Some(found) = found else { continue };
        if configured.is_some() || meta.get(column).is_some() {
            continue;
        }
        let mut alone = MediaValues::default();
        let checked = alone
            .set(column, found)
            .and_then(|()| ctx.portal.check_media(&alone).map_err(|e| e.to_string()));
        match checked {
            Ok(()) => {
                let _ = meta.set(column, found);
            }
            Err(e) => tracing::warn!("{name}: its EXIF/XMP {} is not written: {e}", column.column(false)),
        }
    }
}
