//! A derivative set into a bucket with the guarantees the folder has: the
//! keys are claimed in the ledger before the first object appears, no
//! object is ever replaced (a HEAD passes over names in use, and each PUT
//! is conditional, `If-None-Match: *`), and a set is all there or, after a
//! failure, removed again (what cannot be removed stays claimed for the
//! next start).

use specdrop_derive::layout::Names;
use specdrop_derive::store::{StoredFile, StoredSet};
use specdrop_derive::{Derivative, Derivatives, Web};
use specdrop_objstore::{Created, ObjectKind};

use super::{CACHE_CONTROL, CONTENT_TYPE, LocationClaims, Remote, WriteError};

const MAX_ATTEMPTS: u32 = 1000;

const KIND: ObjectKind<'static> = ObjectKind {
    content_type: CONTENT_TYPE,
    cache_control: CACHE_CONTROL,
};

/// Blocking: run it on a blocking thread.
pub fn write_set_claimed(
    remote: &Remote,
    relative_dir: &str,
    source_file_name: &str,
    tag: Option<&str>,
    set: &Derivatives,
    claims: &mut dyn LocationClaims,
) -> Result<StoredSet, WriteError> {
    let web = match &set.web {
        Some(Web::Own(d)) => Some(d),
        _ => None,
    };
    let dir = relative_dir.trim_end_matches('/');
    for attempt in 0..MAX_ATTEMPTS {
        let names = Names::for_source(source_file_name, tag, attempt);
        let wanted: Vec<(&Derivative, String)> = [
            (set.large.as_ref(), &names.large),
            (web, &names.web),
            (set.thumbnail.as_ref(), &names.thumbnail),
        ]
        .into_iter()
        .filter_map(|(d, name)| d.map(|d| (d, format!("{dir}/{name}"))))
        .collect();
        let mut in_use = false;
        for (_, relative) in &wanted {
            if remote
                .bucket
                .exists(&remote.config.key(relative))
                .map_err(WriteError::Bucket)?
            {
                in_use = true;
                break;
            }
        }
        if in_use {
            continue;
        }
        let targets: Vec<(String, String)> = wanted
            .iter()
            .map(|(_, relative)| (remote.location(&remote.config.key(relative)), claims.url_of(relative)))
            .collect();
        match claims.claim_locations(&targets) {
            Ok(()) => {}
            // Claimed by another writer that has not put it there yet.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(WriteError::Claim(e.to_string())),
        }
        let mut written: Vec<StoredFile> = Vec::new();
        let mut taken = false;
        for (derivative, relative) in &wanted {
            let key = remote.config.key(relative);
            match remote.bucket.create(&key, &derivative.data, KIND) {
                Ok(Created::New) => written.push(StoredFile {
                    relative: relative.clone(),
                    path: remote.location(&key).into(),
                    width: derivative.width,
                    height: derivative.height,
                    bytes: derivative.data.len() as u64,
                }),
                Ok(Created::Exists) => {
                    // Another writer (the portal, say) made it since our
                    // HEAD: that object is theirs, never ours to remove.
                    tracing::info!("{key} appeared in the bucket while specdrop was writing; another name is used");
                    taken = true;
                    break;
                }
                Err(e) => {
                    // The server may have stored the body before the
                    // error reached us (a timeout on the reply): that key
                    // is removed too, or stays claimed.
                    undo(remote, &written, Some(&key), &targets, claims);
                    return Err(WriteError::Bucket(e));
                }
            }
        }
        if taken {
            undo(remote, &written, None, &targets, claims);
            continue;
        }
        let find = |name: &str| written.iter().find(|f| f.relative == format!("{dir}/{name}")).cloned();
        return Ok(StoredSet {
            large: set.large.as_ref().and_then(|_| find(&names.large)),
            web: web.and_then(|_| find(&names.web)),
            thumbnail: set.thumbnail.as_ref().and_then(|_| find(&names.thumbnail)),
        });
    }
    Err(WriteError::NoFreeName {
        dir: remote.location(&remote.config.key(dir)),
        stem: source_file_name.to_string(),
        tries: MAX_ATTEMPTS,
    })
}

/// Remove what an attempt wrote (and `unsure`, a key whose upload ended
/// in an error, which may or may not have landed); the claims of what is
/// gone (or was never written) are given back, an object that would not
/// go stays claimed for the next start.
fn undo(
    remote: &Remote,
    written: &[StoredFile],
    unsure: Option<&str>,
    targets: &[(String, String)],
    claims: &mut dyn LocationClaims,
) {
    let mut kept = Vec::new();
    let keys = written
        .iter()
        .map(|file| remote.config.key(&file.relative))
        .chain(unsure.map(str::to_string));
    for key in keys {
        if let Err(e) = remote.bucket.delete(&key) {
            tracing::warn!("could not remove {key} again: {e}; the next start removes it");
            kept.push(remote.location(&key));
        }
    }
    let gone: Vec<String> = targets
        .iter()
        .map(|(location, _)| location.clone())
        .filter(|location| !kept.contains(location))
        .collect();
    claims.unclaim_locations(&gone);
}
