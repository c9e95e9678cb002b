//! After a batch that linked images or made records: the collection's
//! statistics in the portal (`omcollectionstats`, specdrop-mapper's
//! `stats`), so its page and the aggregators' counts follow without a
//! hand-written stored procedure.

use specdrop_mapper::Portal;

use crate::collection::Prepared;
use crate::outage::Outage;
use crate::outcome::{Kind, Report};

/// What the report shows for this step.
pub const ORIGIN: &str = "(collection statistics)";

/// Refresh `collection`'s statistics; a report only when that failed (the
/// images stay linked: the next batch tries again).
pub async fn refresh(portal: &Portal, outage: &Outage, collection: &Prepared) -> Option<Report> {
    let collid = collection.config.collid;
    match outage.retry(ORIGIN, || portal.refresh_collection_stats(collid)).await {
        Ok(Some(stats)) => {
            tracing::info!(
                "omcollectionstats of collid {collid}: {} records, imgcnt {}:{}{}",
                stats.records,
                stats.images,
                stats.specimens_with_images,
                if stats.unreadable_properties {
                    " (dynamicProperties is not a JSON object: left as it was, imgcnt not written)"
                } else {
                    ""
                }
            );
            None
        }
        Ok(None) => {
            // An embedded portal made before the table was in its schema.
            tracing::info!("the portal has no omcollectionstats table: collid {collid}'s statistics not refreshed");
            None
        }
        Err(e) => Some(Report::new(
            &collection.config.code,
            ORIGIN,
            Kind::Failed,
            format!(
                "the images are linked, but omcollectionstats was not refreshed: {e}; the next batch tries again (grant UPDATE, INSERT on omcollectionstats, docs/admin.md)"
            ),
        )),
    }
}
