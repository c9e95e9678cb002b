//! Where derivatives live: the image library's folder (`storage.root`) or
//! a bucket (`storage.kind = "s3"`). Every write, test and removal of a
//! derivative goes through here, so the pipeline, a replace, `undo` and
//! the start-up's settling of claims treat both alike.
//!
//! A derivative is named by its *location*: its path under
//! `storage.root`, or `s3://<bucket>/<key>`. Claims in the ledger and
//! `StoredFile::path` hold locations; a location outside this storage
//! (another root, another bucket, above the prefix) is never touched.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use specdrop_derive::store::{Claims, Modes, StoredSet};
use specdrop_derive::{Derivatives, DeriveError};
use specdrop_objstore::{Bucket, ObjStoreError};

use crate::config::Config;
use crate::config::storage::S3Config;

pub mod bucket;

/// What objects are served with: derivative names are never reused for
/// other content (a replace writes new names), so caches may keep them.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
pub const CONTENT_TYPE: &str = "image/jpeg";

/// The scheme of a bucket location.
const SCHEME: &str = "s3://";

#[derive(Clone)]
pub enum Storage {
    Folder { root: PathBuf },
    Bucket(Arc<Remote>),
}

/// A bucket and how keys are made in it.
pub struct Remote {
    pub bucket: Bucket,
    pub config: S3Config,
}

impl Remote {
    pub fn open(config: &S3Config) -> Result<Remote, ObjStoreError> {
        let bucket = Bucket::new(&specdrop_objstore::Settings {
            endpoint: config.endpoint.clone(),
            bucket: config.bucket.clone(),
            region: config.region.clone(),
            path_style: config.path_style,
            credentials: config.credentials.clone(),
            acl: config.acl.clone(),
            timeout: std::time::Duration::from_secs(60),
        })?;
        Ok(Remote {
            bucket,
            config: config.clone(),
        })
    }

    /// `s3://<bucket>/<key>`.
    pub fn location(&self, key: &str) -> String {
        format!("{SCHEME}{}/{key}", self.config.bucket)
    }

    /// The key of `location`, when it is one of this bucket's under the
    /// prefix.
    fn key_of<'l>(&self, location: &'l str) -> Option<&'l str> {
        let key = location
            .strip_prefix(SCHEME)?
            .strip_prefix(&self.config.bucket)?
            .strip_prefix('/')?;
        let below = if self.config.prefix.is_empty() {
            key
        } else {
            key.strip_prefix(&self.config.prefix)?.strip_prefix('/')?
        };
        let clean = !below.is_empty() && below.split('/').all(|part| !part.is_empty() && part != "..");
        clean.then_some(key)
    }
}

/// Where a writer notes the locations it is about to fill (the ledger's
/// claims, claims.rs), before the first of them appears.
pub trait LocationClaims: Claims {
    /// Claim `(location, url)` pairs; `AlreadyExists` when another
    /// session holds one.
    fn claim_locations(&mut self, files: &[(String, String)]) -> std::io::Result<()>;
    fn unclaim_locations(&mut self, locations: &[String]);
    /// The URL the derivative at `relative` will have.
    fn url_of(&self, relative: &str) -> String;
}

/// What `check` found the bucket able to do.
#[derive(Debug)]
pub struct Probe {
    /// The probe object written (and deleted again).
    pub key: String,
    /// Objects the listing of the prefix showed (at most 1 asked).
    pub listed: usize,
    /// A second conditional PUT of the probe was refused, as it must be.
    pub honours_if_none_match: bool,
}

impl Remote {
    /// List the prefix, create a probe object with a conditional PUT, try
    /// again (the server must refuse), delete it. Blocking.
    pub fn probe(&self) -> Result<Probe, ObjStoreError> {
        let listed = self.bucket.list(&self.config.key(""), 1)?.len();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let key = self.config.key(&format!(
            "{}check-{}-{nanos}.txt",
            specdrop_derive::store::TEMP_PREFIX,
            std::process::id()
        ));
        let kind = specdrop_objstore::ObjectKind {
            content_type: "text/plain",
            cache_control: "no-store",
        };
        let body = b"written by specdrop check, which deletes it again\n";
        self.bucket.create(&key, body, kind)?;
        let again = self.bucket.create(&key, body, kind);
        let deleted = self.bucket.delete(&key);
        let honours_if_none_match = matches!(again?, specdrop_objstore::Created::Exists);
        deleted?;
        Ok(Probe {
            key,
            listed,
            honours_if_none_match,
        })
    }
}

/// What removing a derivative did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// It was not there (removed before, or never written).
    Absent,
    /// Not inside this storage: left alone.
    Outside,
}

impl Storage {
    pub fn open(config: &Config) -> Result<Storage, crate::Error> {
        match &config.s3 {
            None => Ok(Storage::Folder {
                root: config.storage_root.clone(),
            }),
            Some(s3) => Remote::open(s3)
                .map(|remote| Storage::Bucket(Arc::new(remote)))
                .map_err(|e| crate::Error::Config(e.to_string())),
        }
    }

    /// The location of the derivative at `relative` (the folder layout).
    pub fn locate(&self, relative: &str) -> String {
        match self {
            Storage::Folder { root } => root.join(relative).to_string_lossy().into_owned(),
            Storage::Bucket(remote) => remote.location(&remote.config.key(relative)),
        }
    }

    /// For messages: the folder, or the bucket and its server.
    pub fn describe(&self) -> String {
        match self {
            Storage::Folder { root } => root.display().to_string(),
            Storage::Bucket(remote) => format!(
                "bucket {} at {} (prefix {:?})",
                remote.config.bucket, remote.config.endpoint, remote.config.prefix
            ),
        }
    }

    /// Write `set` under `relative_dir`, never replacing anything there,
    /// each location claimed before it appears (see `write_set_claimed`
    /// in specdrop-derive, and `bucket::write_set_claimed`). Blocking.
    pub fn write_set(
        &self,
        relative_dir: &str,
        name: &str,
        tag: Option<&str>,
        set: &Derivatives,
        modes: Modes,
        claims: &mut dyn LocationClaims,
    ) -> Result<StoredSet, WriteError> {
        match self {
            Storage::Folder { root } => {
                specdrop_derive::store::write_set_claimed(root, relative_dir, name, tag, set, modes, claims)
                    .map_err(WriteError::Derive)
            }
            Storage::Bucket(remote) => bucket::write_set_claimed(remote, relative_dir, name, tag, set, claims),
        }
    }

    /// Remove the derivative at `location`, only when it is inside this
    /// storage.
    pub async fn remove(&self, location: &str) -> Result<Removal, String> {
        match self {
            Storage::Folder { root } => {
                let file = Path::new(location);
                if !file.starts_with(root)
                    || root.as_os_str().is_empty()
                    || file.components().any(|c| c.as_os_str() == "..")
                {
                    return Ok(Removal::Outside);
                }
                match std::fs::remove_file(file) {
                    Ok(()) => Ok(Removal::Removed),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Removal::Absent),
                    Err(e) => Err(e.to_string()),
                }
            }
            Storage::Bucket(remote) => {
                let Some(key) = remote.key_of(location).map(str::to_string) else {
                    return Ok(Removal::Outside);
                };
                let remote = remote.clone();
                // S3 does not say whether a DELETE found anything; a HEAD
                // first lets the counts in reports be true.
                let done = tokio::task::spawn_blocking(move || {
                    if !remote.bucket.exists(&key)? {
                        return Ok(Removal::Absent);
                    }
                    remote.bucket.delete(&key).map(|()| Removal::Removed)
                })
                .await
                .map_err(|e| format!("removal task failed: {e}"))?;
                done.map_err(|e| e.to_string())
            }
        }
    }

    /// Is there a derivative at `location`? (For a dry run's counts.)
    pub async fn exists(&self, location: &str) -> bool {
        match self {
            Storage::Folder { .. } => Path::new(location).exists(),
            Storage::Bucket(remote) => {
                let Some(key) = remote.key_of(location).map(str::to_string) else {
                    return false;
                };
                let remote = remote.clone();
                tokio::task::spawn_blocking(move || remote.bucket.exists(&key).unwrap_or(false))
                    .await
                    .unwrap_or(false)
            }
        }
    }

    /// Remove every file of `set`; the first error is returned after all
    /// were tried.
    pub async fn remove_set(&self, set: &StoredSet) -> Result<(), String> {
        let mut first_error = None;
        for file in set.files() {
            if let Err(e) = self.remove(&file.path.to_string_lossy()).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Why a set could not be stored.
#[derive(Debug)]
pub enum WriteError {
    Derive(DeriveError),
    Bucket(ObjStoreError),
    /// The ledger would not take the claim.
    Claim(String),
    NoFreeName {
        dir: String,
        stem: String,
        tries: u32,
    },
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Derive(e) => e.fmt(f),
            WriteError::Bucket(e) => e.fmt(f),
            WriteError::Claim(e) => write!(f, "cannot claim the derivatives' names in the ledger: {e}"),
            WriteError::NoFreeName { dir, stem, tries } => {
                write!(
                    f,
                    "no free name for {stem} under {dir} after {tries} tries; clean up that prefix"
                )
            }
        }
    }
}

impl WriteError {
    /// The storage's trouble, not the file's: no space, no permission, an
    /// I/O error, a read-only or over-quota file system; for a bucket,
    /// every error (an unreachable or refusing server affects every file
    /// alike). The file waits and is tried again.
    pub fn is_storage_fault(&self) -> bool {
        use rustix::io::Errno;
        match self {
            WriteError::Bucket(_) => true,
            WriteError::Derive(DeriveError::Write { cause, .. }) => {
                let faults = [
                    Errno::NOSPC,
                    Errno::ACCESS,
                    Errno::IO,
                    Errno::ROFS,
                    Errno::DQUOT,
                    Errno::PERM,
                ];
                cause
                    .raw_os_error()
                    .is_some_and(|code| faults.iter().any(|f| f.raw_os_error() == code))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(prefix: &str) -> Remote {
        let config = S3Config {
            bucket: "herbarium".into(),
            endpoint: "http://127.0.0.1:9".into(),
            region: "us-east-1".into(),
            prefix: prefix.into(),
            path_style: true,
            acl: None,
            credentials: specdrop_objstore::Credentials {
                key: "k".into(),
                secret: "s".into(),
                token: None,
            },
        };
        Remote::open(&config).expect("valid settings")
    }

    #[test]
    fn only_locations_under_the_prefix_of_this_bucket_are_its_own() {
        let r = remote("/imglib");
        let at = r.location(&r.config.key("MICH_V/01390/x_med.jpg"));
        assert_eq!(at, "s3://herbarium//imglib/MICH_V/01390/x_med.jpg");
        assert_eq!(r.key_of(&at), Some("/imglib/MICH_V/01390/x_med.jpg"));
        for outside in [
            "s3://other//imglib/MICH_V/x.jpg",
            "s3://herbarium/imglib/MICH_V/x.jpg",
            "s3://herbarium//imglib/../x.jpg",
            "s3://herbarium//imglib/",
            "s3://herbarium//imglibx/a.jpg",
            "/var/www/imglib/MICH_V/x.jpg",
        ] {
            assert_eq!(r.key_of(outside), None, "{outside}");
        }
        let top = remote("");
        assert_eq!(top.key_of("s3://herbarium/MICH_V/x.jpg"), Some("MICH_V/x.jpg"));
    }
}
