//! Images that already live on a web server: `specdrop harvest URL`
//! (an Apache or nginx directory listing, sub-directories included) and
//! `specdrop import-links FILE` (a spreadsheet of names or catalog numbers
//! and URLs, e.g. an iDigBio Media Ingestion Appliance report). Each link
//! goes to its specimen with the collection's pattern and policies. Without
//! `remote.derive` nothing is fetched but the listings themselves and url
//! and originalUrl are the link; with it each image is fetched and gets its
//! thumbnail and web image (remote_derive.rs), and originalUrl stays the
//! link.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use specdrop_mapper::{
    Action, ExistingImage, Key, LinkRequest, Lookup, MapperError, MediaColumn, MediaUrls, MediaValues, Portal,
};

use crate::Error;
use crate::batch;
use crate::collection::Prepared;
use crate::config::Config;
use crate::context::Context;
use crate::idigbio;
use crate::outage::Outage;
use crate::outcome::{Kind, Report, Summary};
use crate::web_url::{normalized, percent_decode, resolve};

/// Listings larger than this are not read.
const LISTING_LIMIT: u64 = 16 * 1024 * 1024;
/// Directory pages visited at most in one harvest.
const MAX_PAGES: usize = 10_000;

/// An image link to map: where it came from (for the report), its file
/// name and its URL; or a catalog number (or what `key` says) given
/// directly; and what else the row says of the image.
#[derive(Default)]
struct Link {
    origin: String,
    name: String,
    url: String,
    catalog_number: Option<String>,
    key: Key,
    thumbnail_url: Option<String>,
    original_url: Option<String>,
    md5: Option<String>,
    meta: MediaValues,
    /// The row is not linked: its outcome and why (a row iDigBio did not
    /// take, a value that cannot be stored).
    refused: Option<(Kind, String)>,
}

/// `specdrop harvest URL --collection CODE [--dry-run]`.
pub async fn harvest(config: &Config, start: &str, code: &str, dry_run: bool) -> Result<Summary, Error> {
    let start = if start.ends_with('/') {
        start.to_string()
    } else {
        format!("{start}/")
    };
    if !(start.starts_with("http://") || start.starts_with("https://")) {
        return Err(Error::Config(format!(
            "{start:?}: harvest reads http:// or https:// directory listings"
        )));
    }
    // `/mich/../../private/` is `/private/`: the scope is what the server
    // will serve.
    let start = normalized(&start).unwrap_or(start);
    crate::collection::position(config, code)?;
    let extensions: Vec<&str> = config
        .derive
        .formats
        .iter()
        .flat_map(|f| f.extensions())
        .copied()
        .collect();
    let listed = tokio::task::spawn_blocking({
        let start = start.clone();
        let extensions: Vec<String> = extensions.iter().map(|e| (*e).to_string()).collect();
        move || crawl(&start, &extensions)
    })
    .await
    .map_err(|e| Error::Run(format!("the harvest task failed: {e}")))?
    .map_err(Error::Run)?;
    let links = listed
        .into_iter()
        .map(|url| Link {
            origin: url.strip_prefix(&start).unwrap_or(&url).to_string(),
            name: percent_decode(url.rsplit('/').next().unwrap_or(&url)),
            url,
            ..Link::default()
        })
        .collect();
    link_all(config, code, links, dry_run).await
}

/// Link `links` to collection `code`'s specimens; with `remote.derive`
/// (and not a dry run) in a session that stores derivatives.
async fn link_all(config: &Config, code: &str, links: Vec<Link>, dry_run: bool) -> Result<Summary, Error> {
    if config.remote.derive && !dry_run {
        let session = crate::session::open_one(config, code).await?;
        let (ctx, collection) = (&session.ctx, &session.collections[0]);
        let deriving = Some(&**ctx);
        let summary = map_links(&ctx.portal, collection, &ctx.outage, links, dry_run, deriving).await;
        session.close().await;
        return Ok(summary);
    }
    let (portal, collection, outage) = crate::session::open_collection(config, code).await?;
    let summary = map_links(&portal, &collection, &outage, links, dry_run, None).await;
    portal.close().await;
    Ok(summary)
}

/// Column names of an import-links file, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub url: Option<String>,
    pub file: Option<String>,
    pub catalog: Option<String>,
    /// `--format`: `columns` (the default) or `idigbio`.
    pub format: Option<String>,
}

/// `specdrop import-links FILE --collection CODE`.
pub async fn import_links(
    config: &Config,
    file: &std::path::Path,
    code: &str,
    columns: &Columns,
    dry_run: bool,
) -> Result<Summary, Error> {
    let bytes = std::fs::read(file).map_err(|e| Error::Run(format!("cannot read {}: {e}", file.display())))?;
    crate::skeletal::refuse_cut_off(file, &bytes)?;
    let fail = |why: String| Error::Run(format!("{}: {why}", file.display()));
    let text = specdrop_textfile::read(&bytes).map_err(|e| fail(e.to_string()))?;
    let (header, rows) = (text.header, text.records);
    // A report given as it is, with no column named, is read as the
    // report it is: that is what a new user tries first.
    let named = columns.url.is_some() || columns.file.is_some() || columns.catalog.is_some();
    let looks_idigbio = !named && idigbio::Layout::of(&header).is_ok();
    let links = match columns.format.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None if looks_idigbio => {
            idigbio_links(&header, &rows).map_err(|why| Error::Config(format!("{}: {why}", file.display())))?
        }
        None | Some("columns") => column_links(file, &header, &rows, columns)?,
        Some("idigbio") => {
            if columns.url.is_some() || columns.file.is_some() || columns.catalog.is_some() {
                return Err(Error::Config(
                    "--format idigbio reads the report's own columns; leave out --url-column, --file-column and --catalog-column".into(),
                ));
            }
            idigbio_links(&header, &rows).map_err(|why| Error::Config(format!("{}: {why}", file.display())))?
        }
        Some(other) => {
            return Err(Error::Config(format!(
                "--format {other:?}: the formats are \"columns\" (the default) and \"idigbio\" (the iDigBio Media Ingestion Appliance's report)"
            )));
        }
    };
    link_all(config, code, links, dry_run).await
}

/// The links of a spreadsheet whose columns are named (or found by their
/// usual names): URL, file name or catalog number (or occurrenceID, occid,
/// otherCatalogNumbers), and any media column.
fn column_links(
    file: &std::path::Path,
    header: &[String],
    rows: &[(u64, Vec<String>)],
    columns: &Columns,
) -> Result<Vec<Link>, Error> {
    let position = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let find = |given: &Option<String>, defaults: &[&str]| -> Result<Option<usize>, Error> {
        match given {
            Some(name) => position(name).map(Some).ok_or_else(|| {
                Error::Config(format!(
                    "{}: no column {name:?}; the columns are {}",
                    file.display(),
                    header.join(", ")
                ))
            }),
            None => Ok(defaults.iter().find_map(|d| position(d))),
        }
    };
    let url_at = find(
        &columns.url,
        &[
            "url",
            "accessURI",
            "ac:accessURI",
            "mediaURL",
            "media url",
            "identifier",
            "dcterms:identifier",
        ],
    )?
    .ok_or_else(|| {
        Error::Config(format!(
            "{}: no URL column found; name it with --url-column (an iDigBio ingestion report is read with --format idigbio)",
            file.display()
        ))
    })?;
    let file_at = find(
        &columns.file,
        &[
            "filename",
            "file name",
            "originalFileName",
            "idigbio:OriginalFileName",
            "original file name",
            "file",
        ],
    )?;
    let catalog_at = find(&columns.catalog, &["catalogNumber", "catalog number"])?;
    let keys: Vec<(usize, Key)> = [Key::OccurrenceId, Key::Occid, Key::OtherCatalogNumbers]
        .into_iter()
        .filter_map(|k| position(k.name()).map(|i| (i, k)))
        .collect();
    let taken = [Some(url_at), file_at, catalog_at];
    let media: Vec<(usize, MediaColumn)> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| !taken.contains(&Some(*i)))
        .filter_map(|(i, h)| MediaColumn::from_header(h).map(|c| (i, c)))
        .collect();
    let value = |row: &[String], at: Option<usize>| {
        at.and_then(|i| row.get(i))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let links = rows
        .iter()
        .map(|(line, row)| {
            let url = value(row, Some(url_at)).unwrap_or_default();
            let name = value(row, file_at)
                .map(|n| idigbio::base_name(&n).to_string())
                .unwrap_or_else(|| percent_decode(url.rsplit('/').next().unwrap_or("")));
            let mut link = Link {
                origin: format!("line {line}"),
                name,
                url,
                catalog_number: value(row, catalog_at),
                ..Link::default()
            };
            if link.catalog_number.is_none()
                && let Some((at, key)) = keys.iter().find(|(at, _)| value(row, Some(*at)).is_some())
            {
                link.catalog_number = value(row, Some(*at));
                link.key = *key;
            }
            for (at, column) in &media {
                if let Err(why) = link.meta.set(*column, row.get(*at).map_or("", String::as_str)) {
                    link.refused = Some((Kind::Failed, why));
                }
            }
            link.thumbnail_url = link.meta.get(MediaColumn::ThumbnailUrl).map(str::to_string);
            link.original_url = link.meta.get(MediaColumn::OriginalUrl).map(str::to_string);
            link.md5 = link.meta.md5().map(str::to_string);
            link
        })
        .collect();
    Ok(links)
}

/// The links of an iDigBio ingestion report (`--format idigbio`).
fn idigbio_links(header: &[String], rows: &[(u64, Vec<String>)]) -> Result<Vec<Link>, String> {
    let layout = idigbio::Layout::of(header)?;
    Ok(rows
        .iter()
        .map(|(line, row)| {
            let origin = format!("line {line}");
            match layout.row(row) {
                Ok(idigbio::Row::Image(image)) => Link {
                    origin: format!("line {line} ({})", image.name),
                    url: image.web_url(),
                    thumbnail_url: Some(image.thumbnail_url()),
                    original_url: Some(image.access_uri.clone()),
                    md5: Some(image.md5.clone()),
                    name: image.name,
                    meta: image.meta,
                    ..Link::default()
                },
                Ok(idigbio::Row::Skipped { name, why }) => Link {
                    origin: format!("line {line} ({name})"),
                    name,
                    refused: Some((Kind::Skipped, why)),
                    ..Link::default()
                },
                Err(why) => Link {
                    origin,
                    refused: Some((Kind::Failed, why)),
                    ..Link::default()
                },
            }
        })
        .collect())
}

async fn map_links(
    portal: &Portal,
    collection: &Prepared,
    outage: &Outage,
    links: Vec<Link>,
    dry_run: bool,
    deriving: Option<&Context>,
) -> Summary {
    let mut summary = Summary::default();
    let cfg = &collection.config;
    let mut linked = 0;
    for link in links {
        let (kind, detail) = map_one(portal, collection, outage, &link, dry_run, deriving).await;
        linked += batch::tally(&mut summary, Report::new(&cfg.code, link.origin.clone(), kind, detail));
    }
    if linked > 0
        && !dry_run
        && let Some(report) = crate::collection_stats::refresh(portal, outage, collection).await
    {
        batch::tally(&mut summary, report);
    }
    summary.deferred = outage.deferred();
    summary
}

async fn map_one(
    portal: &Portal,
    collection: &Prepared,
    outage: &Outage,
    link: &Link,
    dry_run: bool,
    deriving: Option<&Context>,
) -> (Kind, String) {
    let cfg = &collection.config;
    if let Some((kind, why)) = &link.refused {
        return (*kind, why.clone());
    }
    for url in [Some(&link.url), link.thumbnail_url.as_ref(), link.original_url.as_ref()]
        .into_iter()
        .flatten()
    {
        if let Err(why) = portal.check_url(url) {
            return (Kind::Failed, why);
        }
    }
    let catalog = match link
        .catalog_number
        .clone()
        .or_else(|| cfg.pattern.catalog_number(&link.name))
    {
        Some(catalog) => catalog,
        None => return (Kind::Skipped, format!("no catalog number in name {:?}", link.name)),
    };
    let named = match link.key {
        Key::CatalogNumber => format!("catalog number {catalog}"),
        key => format!("{} {catalog}", key.name()),
    };
    if dry_run {
        return match outage
            .retry(&link.name, || {
                portal.find_by(cfg.collid, link.key, &catalog, cfg.match_rules)
            })
            .await
        {
            Ok(Lookup::Found(o)) => (Kind::Linked, format!("would link {} to occid {}", link.url, o.occid)),
            Ok(Lookup::Ambiguous(occids)) => (Kind::Parked, MapperError::Ambiguous(occids).to_string()),
            Ok(Lookup::NotFound) => (Kind::Parked, format!("no specimen with {named}")),
            Err(e) => (Kind::Failed, format!("database: {e}")),
        };
    }
    let original = link.original_url.clone().unwrap_or_else(|| link.url.clone());
    if deriving.is_some() {
        // Linked by an earlier run (perhaps without remote.derive): no
        // fetch, and no second row.
        match already_linked(portal, outage, collection, link, &catalog, &original).await {
            Ok(Some(media_id)) => return (Kind::Linked, format!("media {media_id} was already there")),
            Ok(None) => {}
            Err(e) => return (Kind::Failed, format!("database: {e}")),
        }
    }
    let made = match deriving {
        Some(ctx) => match crate::remote_derive::make(ctx, collection, &catalog, &original).await {
            Ok(made) => Some(made),
            Err(why) => return (Kind::Failed, why),
        },
        None => None,
    };
    let urls = match &made {
        Some(made) => made.urls.clone(),
        None => MediaUrls {
            url: link.url.clone(),
            thumbnail_url: link.thumbnail_url.clone(),
            original_url: Some(original),
        },
    };
    let request = LinkRequest {
        existing: match cfg.existing {
            // Replacing removes old files; remote links own none.
            ExistingImage::Replace => ExistingImage::Add,
            other => other,
        },
        format: match &made {
            Some(_) => "image/jpeg",
            None => specdrop_mapper::media_format::for_url(&link.url),
        },
        key: link.key,
        md5: made.as_ref().map(|m| m.md5.as_str()).or(link.md5.as_deref()),
        size: made.as_ref().map(|m| m.size),
        meta: link.meta.clone(),
        ..collection.link_request(&catalog, urls, &link.name, &link.name)
    };
    let (kind, detail) = link_one(portal, outage, link, &request, &named).await;
    match (made, deriving) {
        (Some(made), Some(ctx)) => {
            let note = made.settle(ctx, collection).await;
            (kind, format!("{detail}{note}"))
        }
        _ => (kind, detail),
    }
}

/// The image row of the link's specimen that has `original` (or the
/// link's url) as its url or originalUrl, if there is one.
async fn already_linked(
    portal: &Portal,
    outage: &Outage,
    collection: &Prepared,
    link: &Link,
    catalog: &str,
    original: &str,
) -> Result<Option<i64>, MapperError> {
    let cfg = &collection.config;
    let found = outage
        .retry(&link.name, || {
            portal.find_by(cfg.collid, link.key, catalog, cfg.match_rules)
        })
        .await?;
    let Lookup::Found(occurrence) = found else {
        return Ok(None);
    };
    for url in [original, link.url.as_str()] {
        let there = outage
            .retry(&link.name, || portal.image_linked_to(occurrence.occid, url))
            .await?;
        if there.is_some() {
            return Ok(there);
        }
    }
    Ok(None)
}

/// The link committed, and what the report says of it.
async fn link_one(
    portal: &Portal,
    outage: &Outage,
    link: &Link,
    request: &LinkRequest<'_>,
    named: &str,
) -> (Kind, String) {
    match outage.retry(&link.name, || portal.link(request)).await {
        Ok(linked) => {
            let kind = Kind::of_link(&linked);
            let what = match linked.action {
                Action::Inserted { media_id } => format!("media {media_id}"),
                Action::AlreadyThere { media_id } => format!("media {media_id} was already there"),
                Action::Replaced { media_id, .. } => format!("media {media_id} replaced"),
                Action::Skipped { images } => {
                    return (
                        Kind::Skipped,
                        format!("already has {images} image(s) and existing_image = \"skip\""),
                    );
                }
            };
            (kind, format!("{named} -> occid {}, {what}", linked.occid))
        }
        Err(MapperError::Vanished { .. }) => (Kind::Parked, format!("no specimen with {named}")),
        Err(e @ MapperError::Ambiguous(_)) => (Kind::Parked, e.to_string()),
        Err(e) => (Kind::Failed, e.to_string()),
    }
}

/// Every image URL under `start` (a directory listing), walking into
/// sub-directories; nothing outside `start` is visited.
fn crawl(start: &str, extensions: &[String]) -> Result<Vec<String>, String> {
    // Redirects are followed by hand, only within the listing's host.
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .max_redirects(0)
        .build()
        .new_agent();
    let mut queue = VecDeque::from([start.to_string()]);
    let mut visited = BTreeSet::new();
    let mut images = BTreeSet::new();
    let mut scope = start.to_string();
    while let Some(page) = queue.pop_front() {
        if !visited.insert(page.clone()) {
            continue;
        }
        if visited.len() > MAX_PAGES {
            return Err(format!(
                "more than {MAX_PAGES} directory pages under {start}; harvest a sub-directory"
            ));
        }
        let (at, html) = listing(&agent, &page)?;
        // A start page that redirects (within its host) moves the scope
        // with it; a sub-page's redirect does not.
        if visited.len() == 1 {
            scope = at.clone();
        }
        for href in hrefs(&html) {
            let Some(target) = resolve(&at, &href) else { continue };
            // Parent directories, other sites and sort links are not followed.
            if !target.starts_with(&scope) {
                continue;
            }
            if target.ends_with('/') {
                queue.push_back(target);
            } else {
                let lower = target.to_ascii_lowercase();
                let path = lower.split(['?', '#']).next().unwrap_or(&lower);
                if extensions.iter().any(|e| path.ends_with(&format!(".{e}"))) {
                    images.insert(target);
                }
            }
        }
    }
    Ok(images.into_iter().collect())
}

/// Redirects followed within one listing at most.
const MAX_REDIRECTS: usize = 5;

/// Where listing `page` was found and its text, at most [`LISTING_LIMIT`]
/// bytes, following redirects only to the same scheme, host and port.
fn listing(agent: &ureq::Agent, page: &str) -> Result<(String, String), String> {
    let origin = |url: &str| {
        url.split_once("://")
            .map(|(scheme, rest)| format!("{scheme}://{}", &rest[..rest.find('/').unwrap_or(rest.len())]))
    };
    let mut url = page.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let mut response = agent
            .get(&url)
            .call()
            .map_err(|e| format!("cannot read the listing {url}: {e}"))?;
        if !response.status().is_redirection() {
            let text = response
                .body_mut()
                .with_config()
                .limit(LISTING_LIMIT)
                .read_to_string()
                .map_err(|e| format!("cannot read the listing {url}: {e}"))?;
            return Ok((url, text));
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default();
        let target = resolve(&url, location).unwrap_or_default();
        if target.is_empty() || origin(&target) != origin(page) {
            return Err(format!(
                "the listing {url} redirects to {location:?}, outside {}; harvest that address itself if it is meant",
                origin(page).unwrap_or_default()
            ));
        }
        url = target;
    }
    Err(format!("the listing {page} redirects more than {MAX_REDIRECTS} times"))
}

/// The `href` values of a page's anchors.
fn hrefs(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("href=") {
        let start = from + at + 5;
        let quote = html.as_bytes().get(start).copied();
        let (value_start, end) = match quote {
            Some(q @ (b'"' | b'\'')) => {
                let end = html[start + 1..].find(char::from(q)).map(|e| start + 1 + e);
                (start + 1, end)
            }
            _ => (start, html[start..].find([' ', '>']).map(|e| start + e)),
        };
        let Some(end) = end else { break };
        out.push(html[value_start..end].replace("&amp;", "&"));
        from = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_are_found_in_both_listing_formats() {
        let apache = r#"<tr><td><a href="?C=N;O=D">Name</a></td></tr><tr><td><a href="/imglib/">Parent Directory</a></td></tr><tr><td><a href="MICH-V-1390992.jpg">MICH-V-1390992.jpg</a></td></tr>"#;
        assert_eq!(hrefs(apache), ["?C=N;O=D", "/imglib/", "MICH-V-1390992.jpg"]);
        let nginx =
            "<a href=\"../\">../</a>\n<a href=\"MICH-V-1390993%20b.jpg\">MICH-V-1390993 b.jpg</a>   10-Jun-2024";
        assert_eq!(hrefs(nginx), ["../", "MICH-V-1390993%20b.jpg"]);
        assert_eq!(percent_decode("MICH-V-1390993%20b.jpg"), "MICH-V-1390993 b.jpg");
    }
}
