//! Writing a derivative set into the image library: each file through a
//! temporary name in its target folder, fsync, then linked into place so
//! that an existing file is never replaced; a set is all there or not
//! there at all.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::layout::Names;
use crate::{Derivative, Derivatives, DeriveError, Web};

/// Prefix of temporary files; anything left with it by a crash is removed
/// by [`remove_temp_files`].
pub const TEMP_PREFIX: &str = ".specdrop-";
const MAX_ATTEMPTS: u32 = 1000;

/// Permissions given to what is written, whatever the process umask, so
/// the web server can read the derivatives (`storage.file_mode`,
/// `storage.dir_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modes {
    pub file: u32,
    pub dir: u32,
}

impl Default for Modes {
    fn default() -> Self {
        Modes {
            file: 0o644,
            dir: 0o755,
        }
    }
}

/// A derivative file in place under the storage root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Path under the storage root, `/`-separated: what goes after the URL base.
    pub relative: String,
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// The files written for one source. `web` is `None` when the large file
/// also serves as the web image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSet {
    pub large: Option<StoredFile>,
    pub web: Option<StoredFile>,
    pub thumbnail: Option<StoredFile>,
}

impl StoredSet {
    pub fn files(&self) -> impl Iterator<Item = &StoredFile> {
        [&self.large, &self.web, &self.thumbnail].into_iter().flatten()
    }

    /// Undo the set (its database row could not be committed).
    pub fn remove(&self) -> io::Result<()> {
        remove_files(self.files())
    }
}

fn remove_files<'a>(files: impl Iterator<Item = &'a StoredFile>) -> io::Result<()> {
    let mut first_error = None;
    for file in files {
        if let Err(e) = fs::remove_file(&file.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Where the paths a set is about to put in place are written down before
/// the first of them appears, so that a crash between these files
/// appearing and their database row being committed leaves files the
/// caller can find and remove again.
pub trait Claims {
    /// These paths are about to appear; `AlreadyExists` means another
    /// writer claimed one (the next names are tried), any other error stops
    /// the write.
    fn claim(&mut self, paths: &[&Path]) -> io::Result<()>;
    /// These claimed paths are not ours after all: another writer took
    /// one of the names, or the write failed and removed what it made.
    fn unclaim(&mut self, paths: &[&Path]);
}

/// For callers that keep no record.
pub struct NoClaims;

impl Claims for NoClaims {
    fn claim(&mut self, _: &[&Path]) -> io::Result<()> {
        Ok(())
    }
    fn unclaim(&mut self, _: &[&Path]) {}
}

/// Write `set` into `root/relative_dir` under names made from
/// `source_file_name` (and `tag`, see [`Names::for_source`]), adding `_1`,
/// `_2`... when any of the names is taken.
pub fn write_set(
    root: &Path,
    relative_dir: &str,
    source_file_name: &str,
    tag: Option<&str>,
    set: &Derivatives,
    modes: Modes,
) -> Result<StoredSet, DeriveError> {
    write_set_claimed(root, relative_dir, source_file_name, tag, set, modes, &mut NoClaims)
}

/// [`write_set`], telling `claim` the target paths before they are made.
pub fn write_set_claimed(
    root: &Path,
    relative_dir: &str,
    source_file_name: &str,
    tag: Option<&str>,
    set: &Derivatives,
    modes: Modes,
    claims: &mut dyn Claims,
) -> Result<StoredSet, DeriveError> {
    let dir = root.join(relative_dir);
    // Only folders made here get the dir mode: one an admin made (perhaps
    // owned by someone else) keeps its own.
    let made: Vec<&Path> = dir
        .ancestors()
        .take_while(|folder| *folder != root && folder.starts_with(root) && !folder.exists())
        .collect();
    fs::create_dir_all(&dir).map_err(|e| DeriveError::write(&dir, e))?;
    for folder in made {
        fs::set_permissions(folder, Permissions::from_mode(modes.dir)).map_err(|e| DeriveError::write(folder, e))?;
    }
    let web = match &set.web {
        Some(Web::Own(d)) => Some(d),
        _ => None,
    };
    for attempt in 0..MAX_ATTEMPTS {
        let names = Names::for_source(source_file_name, tag, attempt);
        let wanted = [
            (set.large.as_ref(), &names.large),
            (web, &names.web),
            (set.thumbnail.as_ref(), &names.thumbnail),
        ];
        if wanted.iter().any(|(d, name)| d.is_some() && dir.join(name).exists()) {
            continue;
        }
        let targets: Vec<PathBuf> = wanted
            .iter()
            .filter(|(d, _)| d.is_some())
            .map(|(_, name)| dir.join(name))
            .collect();
        let targets: Vec<&Path> = targets.iter().map(PathBuf::as_path).collect();
        match claims.claim(&targets) {
            Ok(()) => {}
            // Claimed by another writer that has not put it in place yet.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(DeriveError::write(&dir, e)),
        }
        let mut files: [Option<StoredFile>; 3] = [None, None, None];
        let mut taken = false;
        for ((derivative, name), slot) in wanted.into_iter().zip(files.iter_mut()) {
            let Some(derivative) = derivative else { continue };
            match write_new(&dir, name, derivative, modes.file) {
                Ok(path) => {
                    *slot = Some(StoredFile {
                        relative: format!("{}/{name}", relative_dir.trim_end_matches('/')),
                        path,
                        width: derivative.width,
                        height: derivative.height,
                        bytes: derivative.data.len() as u64,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    taken = true;
                    break;
                }
                Err(e) => {
                    undo(&files, &targets, claims);
                    return Err(DeriveError::write(dir.join(name), e));
                }
            }
        }
        if taken {
            // Another writer took a name between our check and our link:
            // that file is theirs, never ours to remove.
            let _ = remove_files(files.iter().flatten());
            claims.unclaim(&targets);
            continue;
        }
        if let Err(e) = sync_dir(&dir) {
            undo(&files, &targets, claims);
            return Err(DeriveError::write(&dir, e));
        }
        let [large, web, thumbnail] = files;
        return Ok(StoredSet { large, web, thumbnail });
    }
    Err(DeriveError::NoFreeName {
        dir,
        stem: source_file_name.to_string(),
        tries: MAX_ATTEMPTS,
    })
}

/// Write `derivative` as `dir/name`, failing with `AlreadyExists` rather
/// than replacing a file that is there.
fn write_new(dir: &Path, name: &str, derivative: &Derivative, mode: u32) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let target = dir.join(name);
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(&derivative.data)?;
        file.sync_all()?;
        drop(file);
        match fs::hard_link(&temp, &target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            // File systems without hard links: check, then rename.
            Err(_) if target.exists() => Err(io::Error::from(io::ErrorKind::AlreadyExists)),
            Err(_) => fs::rename(&temp, &target),
        }
    })();
    let _ = fs::remove_file(&temp);
    result.map(|()| target)
}

/// Remove what an attempt made; the claims of whatever is gone go too, a
/// file that would not go stays claimed for the caller's clean-up.
fn undo(files: &[Option<StoredFile>], targets: &[&Path], claims: &mut dyn Claims) {
    let _ = remove_files(files.iter().flatten());
    let gone: Vec<&Path> = targets.iter().copied().filter(|p| !p.exists()).collect();
    claims.unclaim(&gone);
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Remove temporary files a crash left below `dir`; returns how many.
pub fn remove_temp_files(dir: &Path) -> io::Result<usize> {
    remove_temp_named(dir, TEMP_PREFIX)
}

/// Remove the temporary files process `pid` of this host left below
/// `dir`, and no other: other processes (on other hosts, with a shared
/// image library) may be writing theirs now.
pub fn remove_temp_files_of(dir: &Path, pid: u32) -> io::Result<usize> {
    remove_temp_named(dir, &format!("{TEMP_PREFIX}{pid}-"))
}

fn remove_temp_named(dir: &Path, prefix: &str) -> io::Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            removed += remove_temp_named(&entry.path(), prefix)?;
        } else if kind.is_file() && entry.file_name().to_string_lossy().starts_with(prefix) {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derivative(byte: u8) -> Derivative {
        Derivative {
            width: 10,
            height: 20,
            data: vec![byte; 100],
            copied: false,
        }
    }

    fn three() -> Derivatives {
        Derivatives {
            source_width: 10,
            source_height: 20,
            large: Some(derivative(1)),
            web: Some(Web::Own(derivative(2))),
            thumbnail: Some(derivative(3)),
            credit: crate::Credit::default(),
        }
    }

    #[test]
    fn files_and_folders_get_the_configured_modes() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let modes = Modes {
            file: 0o640,
            dir: 0o750,
        };
        let stored = write_set(root.path(), "C/01", "x.jpg", None, &three(), modes)?;
        for file in stored.files() {
            let mode = fs::metadata(root.path().join(&file.relative))?.permissions().mode() & 0o777;
            assert_eq!(mode, 0o640, "{}", file.relative);
        }
        for dir in ["C", "C/01"] {
            assert_eq!(fs::metadata(root.path().join(dir))?.permissions().mode() & 0o777, 0o750);
        }
        Ok(())
    }

    #[test]
    fn writes_three_files_and_never_overwrites() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let first = write_set(
            root.path(),
            "MICH_V/01390",
            "1390992.jpeg",
            None,
            &three(),
            Modes::default(),
        )?;
        let rel: Vec<_> = first.files().map(|f| f.relative.as_str()).collect();
        assert_eq!(
            rel,
            [
                "MICH_V/01390/1390992.jpg",
                "MICH_V/01390/1390992_med.jpg",
                "MICH_V/01390/1390992_tn.jpg"
            ]
        );
        assert_eq!(
            fs::read(root.path().join("MICH_V/01390/1390992_med.jpg"))?,
            vec![2; 100]
        );

        let second = write_set(
            root.path(),
            "MICH_V/01390",
            "1390992.jpg",
            None,
            &three(),
            Modes::default(),
        )?;
        let large = second.large.as_ref().map(|f| f.relative.clone());
        assert_eq!(large.as_deref(), Some("MICH_V/01390/1390992_1.jpg"));
        assert_eq!(fs::read(root.path().join("MICH_V/01390/1390992.jpg"))?, vec![1; 100]);

        second.remove()?;
        assert!(!root.path().join("MICH_V/01390/1390992_1.jpg").exists());
        assert_eq!(remove_temp_files(root.path())?, 0, "no temp file is left behind");
        Ok(())
    }

    #[test]
    fn web_same_as_large_writes_two_files() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let mut set = three();
        set.web = Some(Web::SameAsLarge);
        let stored = write_set(root.path(), "A", "x.jpg", None, &set, Modes::default())?;
        assert_eq!(stored.files().count(), 2);
        assert!(stored.web.is_none());
        Ok(())
    }

    #[test]
    fn the_claim_hears_every_path_before_it_exists_and_can_stop_the_write() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let mut told = Told::default();
        let stored = write_set_claimed(root.path(), "A", "x.jpg", None, &three(), Modes::default(), &mut told)?;
        let written: Vec<PathBuf> = stored.files().map(|f| f.path.clone()).collect();
        assert_eq!(told.claimed, written);
        assert!(told.unclaimed.is_empty());

        told.refuse = true;
        let refused = write_set_claimed(root.path(), "B", "x.jpg", None, &three(), Modes::default(), &mut told);
        assert!(refused.is_err());
        assert!(!root.path().join("B/x.jpg").exists(), "nothing is written unclaimed");
        Ok(())
    }

    #[derive(Default)]
    struct Told {
        claimed: Vec<PathBuf>,
        unclaimed: Vec<PathBuf>,
        refuse: bool,
        /// Paths another writer has claimed.
        taken: Vec<PathBuf>,
    }

    impl Claims for Told {
        fn claim(&mut self, paths: &[&Path]) -> io::Result<()> {
            if self.refuse {
                return Err(io::Error::other("ledger is read-only"));
            }
            if paths.iter().any(|p| self.taken.iter().any(|t| t == p)) {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            for path in paths {
                assert!(!path.exists(), "{} exists before it was claimed", path.display());
                self.claimed.push(path.to_path_buf());
            }
            Ok(())
        }
        fn unclaim(&mut self, paths: &[&Path]) {
            self.unclaimed.extend(paths.iter().map(|p| p.to_path_buf()));
        }
    }

    #[test]
    fn a_name_another_writer_claimed_is_passed_over() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let mut told = Told {
            taken: vec![root.path().join("A/x_med.jpg")],
            ..Told::default()
        };
        let stored = write_set_claimed(root.path(), "A", "x.jpg", None, &three(), Modes::default(), &mut told)?;
        let large = stored.large.as_ref().map(|f| f.relative.as_str());
        assert_eq!(large, Some("A/x_1.jpg"));
        assert!(!root.path().join("A/x.jpg").exists());
        Ok(())
    }

    #[test]
    fn an_undone_attempt_gives_back_the_claims_of_what_it_removed() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let stored = write_set(root.path(), "A", "x.jpg", None, &three(), Modes::default())?;
        let files = [stored.large.clone(), stored.web.clone(), stored.thumbnail.clone()];
        let targets: Vec<&Path> = stored.files().map(|f| f.path.as_path()).collect();
        let mut told = Told::default();
        undo(&files, &targets, &mut told);
        assert!(targets.iter().all(|p| !p.exists()));
        assert_eq!(told.unclaimed.len(), 3, "{:?}", told.unclaimed);
        Ok(())
    }

    #[test]
    fn removes_leftover_temp_files() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        fs::create_dir_all(root.path().join("a/b"))?;
        fs::write(root.path().join("a/b/.specdrop-1-2.tmp"), b"x")?;
        fs::write(root.path().join("a/b/keep.jpg"), b"x")?;
        assert_eq!(remove_temp_files(root.path())?, 1);
        assert!(root.path().join("a/b/keep.jpg").exists());
        Ok(())
    }
}
