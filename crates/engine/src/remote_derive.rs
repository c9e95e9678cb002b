//! Web images for remote originals: a link's image fetched (fetch.rs),
//! its thumbnail and web image made on the derivative workers and stored
//! like a dropped file's (claimed in the ledger before they appear, in a
//! folder or a bucket), for a row whose `originalUrl` stays the link.
//! After the row's commit [`Made::settle`] keeps the files a row points to
//! and removes the rest; a kill before that leaves claims that the next
//! start settles (claims.rs), so no file is left that no row names.

use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};
use sha2::Sha256;
use specdrop_derive::store::StoredSet;
use specdrop_derive::{Derivatives, Web};
use specdrop_mapper::MediaUrls;

use crate::collection::Prepared;
use crate::context::Context;
use crate::stages::verdict::LedgerEntry;
use crate::stages::{derive, store};

/// Derivatives of a remote image, stored and claimed, not yet linked.
pub struct Made {
    /// url = the web image, thumbnailUrl = the thumbnail, originalUrl = the
    /// link.
    pub urls: MediaUrls,
    /// MD5 of the fetched original (Symbiota's mediaMD5).
    pub md5: String,
    /// The original's pixel size.
    pub size: (u32, u32),
    pub files: StoredSet,
    /// The stored file's URL a row points at once it took this set.
    probe: String,
    /// derive.auto_rotate's note when it turned the image.
    upright: Option<String>,
    /// The fetched bytes, when remote.keep_copy wants them.
    original: Option<Vec<u8>>,
    name: String,
    number: String,
}

/// Fetch `url` (for catalog number `number` of `collection`) and store its
/// thumbnail and web image; the error is the reason, and nothing is left
/// behind.
pub async fn make(ctx: &Context, collection: &Prepared, number: &str, url: &str) -> Result<Made, String> {
    make_kept(ctx, collection, number, url, None).await
}

/// [`make`], or with `keep_url` (a row's usable web image) only the
/// thumbnail: `url` stays the row's own web image and no second one is
/// stored.
pub async fn make_kept(
    ctx: &Context,
    collection: &Prepared,
    number: &str,
    url: &str,
    keep_url: Option<&str>,
) -> Result<Made, String> {
    let bytes = fetch_original(ctx, url).await?;
    let md5 = format!("{:x}", Md5::digest(&bytes));
    let entry = LedgerEntry {
        hash: format!("{:x}", Sha256::digest(&bytes)),
        catalog_number: Some(number.to_string()),
        number_from: None,
    };
    let original = ctx.remote.copy_dir.is_some().then(|| bytes.clone());
    let made = derive::make(ctx, derive::Image::Bytes(bytes), &entry)
        .await
        .map_err(|v| v.detail)?;
    let (set, upright) = (made.set, made.decision.note());
    let size = (set.source_width, set.source_height);
    let name = name_of(url);
    let mut set = web_and_thumbnail(set);
    if keep_url.is_some() {
        set.large = None;
        set.web = None;
    }
    let stored = store::store(ctx, collection, number, &name, set, &entry)
        .await
        .map_err(|v| v.detail)?;
    // The URL that tells whether a row took this set (see settle).
    let probe = match keep_url {
        Some(_) => stored
            .urls
            .thumbnail_url
            .clone()
            .unwrap_or_else(|| stored.urls.url.clone()),
        None => stored.urls.url.clone(),
    };
    Ok(Made {
        urls: MediaUrls {
            url: keep_url.map_or(stored.urls.url, str::to_string),
            thumbnail_url: stored.urls.thumbnail_url,
            original_url: Some(url.to_string()),
        },
        probe,
        upright,
        md5,
        size,
        files: stored.files,
        original,
        name,
        number: number.to_string(),
    })
}

/// The image at `url`, fetched under `[remote]`'s rules (fetch.rs); the
/// error is the reason.
pub async fn fetch_original(ctx: &Context, url: &str) -> Result<Vec<u8>, String> {
    let (settings, derive, link) = (ctx.remote.clone(), ctx.derive.clone(), url.to_string());
    let fetched = tokio::task::spawn_blocking(move || crate::fetch::fetch(&settings, &derive, &link))
        .await
        .map_err(|e| format!("the fetch task failed: {e}"))??;
    Ok(fetched.bytes)
}

/// The original stays where it is: no large copy is stored, unless the
/// large image is also the web one (a source barely wider than the web
/// size).
pub fn web_and_thumbnail(mut set: Derivatives) -> Derivatives {
    if !matches!(set.web, Some(Web::SameAsLarge)) {
        set.large = None;
    }
    set
}

/// The file name a link's derivatives are named after.
pub fn name_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = crate::web_url::percent_decode(path.rsplit('/').next().unwrap_or(""));
    if last.trim().is_empty() {
        "remote.jpg".to_string()
    } else {
        last
    }
}

impl Made {
    /// After the link was tried: when a row points at the web image, the
    /// files are the row's (claims released, and the original kept when
    /// asked; the note says so, and whether derive.auto_rotate turned the
    /// image); when none does, they are removed; when the portal cannot
    /// say, the next start settles them. A note for the report.
    pub async fn settle(self, ctx: &Context, collection: &Prepared) -> String {
        match ctx.portal.refers_to(&self.probe).await {
            Ok(true) => {
                // By the set's own paths: two links to identical bytes
                // (a placeholder image) share a content hash.
                crate::claims::release_set(ctx, &self.files).await;
                let turned = self.upright.as_ref().map_or_else(String::new, |n| format!("; {n}"));
                let kept = match (&ctx.remote.copy_dir, &self.original) {
                    (Some(dir), Some(bytes)) => self.keep_copy(dir, collection, bytes).await,
                    _ => String::new(),
                };
                format!("{turned}{kept}")
            }
            Ok(false) => {
                let origin = self.urls.original_url.clone().unwrap_or_default();
                crate::claims::undo_set(ctx, &self.files, &origin).await;
                String::new()
            }
            Err(e) => {
                crate::claims::set_aside_set(ctx, &self.files).await;
                format!(" (whether a row points at the new files is checked at the next start: {e})")
            }
        }
    }

    async fn keep_copy(&self, dir: &Path, collection: &Prepared, bytes: &[u8]) -> String {
        let folder = dir
            .join(&collection.folder)
            .join(specdrop_derive::layout::catalog_fragment(
                &self.number,
                &store::year_month(),
            ));
        let (name, bytes) = (self.name.clone(), bytes.to_vec());
        let written = tokio::task::spawn_blocking(move || write_new(&folder, &name, &bytes)).await;
        match written {
            Ok(Ok(path)) => format!("; original kept at {}", path.display()),
            Ok(Err(e)) => format!("; the original was not kept: {e}"),
            Err(e) => format!("; the original was not kept: {e}"),
        }
    }
}

/// Write `bytes` as `name` in `folder` (or `stem_1.ext`...), never over an
/// existing file: written under a temporary name, then hard-linked.
fn write_new(folder: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    std::fs::create_dir_all(folder)?;
    let safe = specdrop_derive::layout::stem(name);
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "jpg".into());
    let temp = folder.join(format!(
        "{}{}-{safe}.tmp",
        specdrop_derive::store::TEMP_PREFIX,
        std::process::id()
    ));
    let mut file = std::fs::File::create(&temp)?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    let mut result = Err(std::io::Error::other("no free name"));
    for attempt in 0..1000 {
        let target = if attempt == 0 {
            folder.join(format!("{safe}.{extension}"))
        } else {
            folder.join(format!("{safe}_{attempt}.{extension}"))
        };
        match std::fs::hard_link(&temp, &target) {
            Ok(()) => {
                result = Ok(target);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&temp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_link_and_copies_never_replace() {
        assert_eq!(name_of("https://h/a/MICH-V-1%20b.jpg?x=1"), "MICH-V-1 b.jpg");
        assert_eq!(name_of("https://h/"), "remote.jpg");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let first = write_new(dir.path(), "a.jpg", b"one").expect("written");
        let second = write_new(dir.path(), "a.jpg", b"two").expect("written");
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).expect("read"), b"one");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("listed").collect();
        assert_eq!(left.len(), 2, "no temporary file is left");
    }
}
