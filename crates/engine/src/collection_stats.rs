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

/// The daemon's batches have no end: collections whose files were linked
/// (or made records) since the last refresh, refreshed together once the
/// daemon has nothing in hand, or after [`Pending::MAX_WAIT`] while files
/// keep coming: one refresh per burst, not per file.
#[derive(Debug, Default)]
pub struct Pending {
    codes: std::collections::BTreeSet<String>,
    since: Option<std::time::Instant>,
}

impl Pending {
    /// Longest a refresh waits while the daemon stays busy.
    pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

    /// Note a finished file; only a new row or record counts.
    pub fn note(&mut self, report: &Report) {
        if matches!(report.kind, Kind::Linked | Kind::Skeletal) && !report.unchanged {
            self.codes.insert(report.collection.clone());
            self.since.get_or_insert_with(std::time::Instant::now);
        }
    }

    /// The collections to refresh now (`idle`: nothing in flight or
    /// queued), taken from the list; none yet otherwise.
    pub fn take_due(&mut self, idle: bool) -> Vec<String> {
        let waited = self.since.is_some_and(|s| s.elapsed() >= Self::MAX_WAIT);
        if self.codes.is_empty() || !(idle || waited) {
            return Vec::new();
        }
        self.since = None;
        std::mem::take(&mut self.codes).into_iter().collect()
    }
}

/// Refresh `collections` in the background (a refresh that waits out an
/// outage must not stall the daemon); a failure is published as a report.
pub fn spawn_refresh(
    ctx: std::sync::Arc<crate::context::Context>,
    collections: Vec<std::sync::Arc<Prepared>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for collection in collections {
            if let Some(report) = refresh(&ctx.portal, &ctx.outage, &collection).await {
                crate::publish::publish(&ctx, &collection.config, &report);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_refreshed_once_when_the_daemon_is_idle() {
        let mut pending = Pending::default();
        let mut report = Report::new("MICH", "a.jpg", Kind::Parked, "x".to_string());
        pending.note(&report);
        assert!(pending.take_due(true).is_empty(), "a parked file changes no counts");
        report.kind = Kind::Linked;
        pending.note(&report);
        pending.note(&Report::new("MICH", "b.jpg", Kind::Skeletal, "y".to_string()));
        assert!(pending.take_due(false).is_empty(), "busy: waits");
        assert_eq!(pending.take_due(true), ["MICH"]);
        assert!(pending.take_due(true).is_empty(), "taken once");
    }
}
