//! `specdrop load-log FILE`: load the links a `sink.kind = "log"` run
//! wrote, with the collection's matching and policies. Idempotent: a line
//! whose image is already linked (same MD5 or URL) changes nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use specdrop_mapper::{Action, LinkRequest, MediaUrls};

use crate::Error;
use crate::batch;
use crate::config::Config;
use crate::outage::Outage;
use crate::outcome::{Kind, Report, Summary};
use crate::pipeline::remove_replaced;
use crate::{collection, session};

pub async fn load(config: &Config, file: &Path) -> Result<Summary, Error> {
    let lines =
        crate::sink::read(file).map_err(|e| Error::Run(format!("cannot read the log {}: {e}", file.display())))?;
    let outage = Outage::new(config.database_wait);
    let portal = session::connect(config, &outage).await?;
    let storage = crate::storage::Storage::open(config)?;
    let collections: HashMap<String, _> = collection::prepare(config, &portal)
        .await?
        .into_iter()
        .map(|c| (c.config.code.clone(), c))
        .collect();
    let mut summary = Summary::default();
    // Collections that got an image: their statistics are refreshed at the end.
    let mut touched = std::collections::BTreeSet::new();
    for (number, line) in lines {
        let report = |collection: &str, kind, detail: String| {
            Report::new(collection, PathBuf::from(format!("line {number}")), kind, detail)
        };
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                batch::tally(&mut summary, report("-", Kind::Failed, format!("unreadable line: {e}")));
                continue;
            }
        };
        let Some(collection) = collections.get(&line.collection) else {
            let detail = format!(
                "collection {:?} is not in the config ({})",
                line.collection,
                config.file.display()
            );
            batch::tally(&mut summary, report(&line.collection, Kind::Failed, detail));
            continue;
        };
        let cfg = &collection.config;
        let urls = MediaUrls {
            url: line.url.clone(),
            thumbnail_url: line.thumbnail_url.clone(),
            original_url: line.original_url.clone(),
        };
        let stem = specdrop_derive::layout::stem(&line.file);
        let request = LinkRequest {
            md5: Some(line.md5.as_str()).filter(|m| !m.is_empty()),
            size: line.width.zip(line.height),
            ..collection.link_request(&line.catalog_number, urls, &line.file, &stem)
        };
        let (kind, detail) = match outage.retry(&line.file, || portal.link(&request)).await {
            Ok(linked) => {
                let kind = Kind::of_link(&linked);
                let what = match &linked.action {
                    Action::Inserted { media_id } => (kind, format!("media {media_id}")),
                    Action::AlreadyThere { media_id } => (kind, format!("media {media_id} was already there")),
                    Action::Replaced { media_id, old } => {
                        let new = [&line.url, &line.original_url.clone().unwrap_or_default()]
                            .into_iter()
                            .filter_map(|u| cfg.url_base.relative(u).map(|r| storage.locate(r)))
                            .collect::<Vec<_>>();
                        let removed = remove_replaced(&portal, &storage, cfg, old, &new).await;
                        (
                            kind,
                            format!("media {media_id} replaced ({removed} old file(s) removed)"),
                        )
                    }
                    Action::Skipped { images } => (
                        Kind::Skipped,
                        format!("already has {images} image(s) and existing_image = \"skip\""),
                    ),
                };
                (
                    what.0,
                    format!(
                        "{} {} -> occid {}, {}",
                        line.file, line.catalog_number, linked.occid, what.1
                    ),
                )
            }
            Err(e) => (
                Kind::of_link_error(&e),
                format!("{} {}: {e}", line.file, line.catalog_number),
            ),
        };
        if batch::tally(&mut summary, report(&cfg.code, kind, detail)) > 0 {
            touched.insert(cfg.code.clone());
        }
    }
    for code in &touched {
        if let Some(collection) = collections.get(code)
            && let Some(report) = crate::collection_stats::refresh(&portal, &outage, collection).await
        {
            batch::tally(&mut summary, report);
        }
    }
    portal.close().await;
    Ok(summary)
}
