//! `specdrop thumbnails --collection CODE`: the portal's Thumbnail Builder
//! done once more: every image row of the collection without a thumbnail
//! (or with a `processing` stub, or `url = 'empty'`) gets its thumbnail and
//! web image from its `originalUrl` (else its `url`), fetched under
//! `[remote]`'s rules (fetch.rs) and stored like a remote link's
//! (remote_derive.rs). Each row is locked while its derivatives are made
//! (specdrop-mapper's thumbnails.rs), so two runs never work on one row;
//! a failed fetch leaves the row as it was.

use specdrop_mapper::thumbnails::{Claim, Waiting};

use crate::Error;
use crate::collection::Prepared;
use crate::config::Config;
use crate::context::Context;
use crate::progress::Progress;

/// What one run did, row by row.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub made: usize,
    pub failed: usize,
    /// Another run (or the portal's builder) had the row.
    pub busy: usize,
    /// Done by someone else between the list and the lock.
    pub done: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} made, {} failed, {} left to another builder, {} done meanwhile",
            self.made, self.failed, self.busy, self.done
        )
    }
}

/// How one row went.
enum Outcome {
    Made(String),
    Failed(String),
    Busy(String),
    Done,
}

pub async fn run(config: &Config, code: &str) -> Result<Tally, Error> {
    let session = crate::session::open_one(config, code).await?;
    let result = run_in(&session.ctx, &session.collections[0]).await;
    session.close().await;
    result
}

async fn run_in(ctx: &Context, collection: &Prepared) -> Result<Tally, Error> {
    if !ctx.derive.thumbnail.enabled {
        return Err(Error::Run(
            "thumbnails makes thumbnails, but derive.thumbnail is disabled (enabled = false); set enabled = true in derive.thumbnail and run again"
                .into(),
        ));
    }
    let collid = collection.config.collid;
    let waiting = ctx
        .outage
        .retry("thumbnails", || ctx.portal.waiting_for_thumbnails(collid))
        .await?;
    println!(
        "thumbnails: {} image row(s) of {} without derivatives",
        waiting.len(),
        collection.config.code
    );
    let today = crate::clock::today();
    let mut progress = Progress::new(waiting.len(), true);
    let mut tally = Tally::default();
    for row in &waiting {
        let id = row.media_id;
        let line = match one(ctx, collection, row, &today).await {
            Outcome::Made(what) => {
                tally.made += 1;
                format!("made     media {id}: {what}")
            }
            Outcome::Failed(why) => {
                tally.failed += 1;
                format!("failed   media {id}: {why}; the row is left as it was")
            }
            Outcome::Busy(why) => {
                tally.busy += 1;
                format!("skipped  media {id}: {why}")
            }
            Outcome::Done => {
                tally.done += 1;
                format!("skipped  media {id}: it has its derivatives now")
            }
        };
        progress.println(&line);
        progress.inc();
    }
    progress.finish();
    Ok(tally)
}

async fn one(ctx: &Context, collection: &Prepared, listed: &Waiting, today: &str) -> Outcome {
    let claim = match ctx.portal.claim_for_thumbnails(listed.media_id, today).await {
        Ok(Claim::Taken(claim)) => *claim,
        Ok(Claim::Busy(why)) => return Outcome::Busy(why),
        Ok(Claim::Done) => return Outcome::Done,
        Err(e) => return Outcome::Failed(format!("database: {e}")),
    };
    let row = claim.row.clone();
    let Some(source) = row.source().map(str::to_string) else {
        claim.give_back().await;
        return Outcome::Failed("neither originalUrl nor url names an image to make derivatives from".into());
    };
    let number = row
        .catalog_number
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("occid{}", row.occid));
    // Only the thumbnail is missing and url is a web image of its own: it
    // stays, and only the thumbnail is made (a new url would orphan it).
    let keep_url = row
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| web_image(u) && *u != source && thumbnail_waits(row.thumbnail_url.as_deref()));
    let made = match crate::remote_derive::make_kept(ctx, collection, &number, &source, keep_url).await {
        Ok(made) => made,
        Err(why) => {
            claim.give_back().await;
            return Outcome::Failed(why);
        }
    };
    let written = claim.finish(&made.urls, &made.md5, made.size).await;
    let what = format!(
        "url {}, thumbnailUrl {}, from {source}",
        made.urls.url,
        made.urls.thumbnail_url.as_deref().unwrap_or("none")
    );
    let note = made.settle(ctx, collection).await;
    match written {
        Ok(()) => Outcome::Made(format!("{what}{note}")),
        Err(e) => Outcome::Failed(format!("database: {e}{note}")),
    }
}

/// A `url` that is a usable image of its own: not empty, `empty` or a stub.
fn web_image(url: &str) -> bool {
    !url.is_empty() && url != "empty" && !url.starts_with("processing")
}

/// Whether the thumbnail is what is missing (no thumbnailUrl or a stub).
fn thumbnail_waits(thumbnail: Option<&str>) -> bool {
    thumbnail
        .map(str::trim)
        .is_none_or(|t| t.is_empty() || t.starts_with("processing"))
}
