//! Stage 4, find the specimen: the record the catalog number names, or
//! none when the collection makes skeletal records; never a guess.

use specdrop_mapper::lookup::Occurrence;
use specdrop_mapper::{ExistingImage, Key, Lookup, MapperError, Unmatched};

use crate::collection::Prepared;
use crate::context::Context;
use crate::outcome::Kind;
use crate::stages::verdict::{LedgerEntry, Step, Verdict};

/// The record to link to; `None`: a skeletal record is made for it.
pub type Specimen = Option<Occurrence>;

/// Look the number up. Several records, or none when the collection
/// parks: parked. A record that has images under `existing_image =
/// "skip"`: skipped. A dry run ends here, saying what would happen.
pub async fn find(
    ctx: &Context,
    collection: &Prepared,
    name: &str,
    key: Key,
    number: &str,
    entry: &LedgerEntry,
) -> Step<Specimen> {
    let cfg = &collection.config;
    let lookup = ctx
        .outage
        .retry(name, || ctx.portal.find_by(cfg.collid, key, number, cfg.match_rules))
        .await
        .map_err(|e| Verdict::of_database(ctx, e, entry))?;
    let found = match lookup {
        Lookup::Found(occurrence) => Some(occurrence),
        Lookup::Ambiguous(occids) => {
            return Err(Verdict::new(
                Kind::Parked,
                MapperError::Ambiguous(occids).to_string(),
                Some(entry),
            ));
        }
        Lookup::NotFound if cfg.unmatched == Unmatched::Skeletal && key == Key::CatalogNumber => None,
        Lookup::NotFound => {
            // The daemon's retry looks "no specimen:" numbers up as catalog
            // numbers before reading a file again; other keys are not that.
            let detail = match key {
                Key::CatalogNumber => format!(
                    "no specimen: no record with catalog number {number} in collid {}",
                    cfg.collid
                ),
                other => format!(
                    "no specimen for its mapping line: no record with {} {number} in collid {}",
                    other.name(),
                    cfg.collid
                ),
            };
            return Err(Verdict::new(Kind::Parked, detail, Some(entry)));
        }
    };
    if let (Some(occurrence), ExistingImage::Skip) = (found, cfg.existing) {
        let images = ctx
            .outage
            .retry(name, || ctx.portal.image_count(occurrence.occid))
            .await
            .map_err(|e| Verdict::of_database(ctx, e, entry))?;
        if images > 0 {
            let detail = format!(
                "occid {} already has {images} image(s) and existing_image = \"skip\"; left in place",
                occurrence.occid
            );
            return Err(Verdict::new(Kind::Skipped, detail, Some(entry)));
        }
    }
    if ctx.dry_run {
        let mut verdict = match found {
            Some(o) => Verdict::new(
                Kind::Linked,
                format!("would link catalog number {number} to occid {}", o.occid),
                None,
            ),
            None => Verdict::new(
                Kind::Skeletal,
                format!("would create a skeletal record for catalog number {number}"),
                None,
            ),
        };
        verdict.fields.catalog_number = Some(number.to_string());
        verdict.fields.occid = found.map(|o| o.occid);
        return Err(verdict);
    }
    Ok(found)
}
