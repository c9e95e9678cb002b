use std::fs;
use std::os::unix::fs::symlink;

use super::*;

struct Share {
    _dir: tempfile::TempDir,
    drop: PathBuf,
    outside: PathBuf,
}

/// A drop folder with a sub-folder and a file, and a folder beside it
/// holding a secret and an "archived original".
fn share() -> Share {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let drop = dir.path().join("drop");
    let outside = dir.path().join("outside");
    fs::create_dir_all(drop.join("day1")).expect("drop folder");
    fs::create_dir_all(&outside).expect("outside folder");
    fs::write(drop.join("day1/a.csv"), b"catalogNumber\n1\n").expect("a file");
    fs::write(outside.join("secret"), b"password").expect("a secret");
    fs::write(outside.join("original.jpg"), b"original").expect("an original");
    Share {
        _dir: dir,
        drop,
        outside,
    }
}

fn unchanged(share: &Share) {
    assert_eq!(fs::read(share.outside.join("secret")).expect("secret"), b"password");
    assert_eq!(
        fs::read(share.outside.join("original.jpg")).expect("original"),
        b"original"
    );
    let names: Vec<_> = fs::read_dir(&share.outside)
        .expect("outside")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "nothing new outside: {names:?}");
}

#[test]
fn reads_a_file_below_the_folder() {
    let share = share();
    let folder = Folder::open(&share.drop).expect("open");
    let (bytes, _) = folder.read(&share.drop.join("day1/a.csv"), 1 << 20).expect("read");
    assert_eq!(bytes, b"catalogNumber\n1\n");
    let (bytes, _) = folder.read(Path::new("day1/a.csv"), 1 << 20).expect("read relative");
    assert_eq!(bytes.len(), 16);
}

#[test]
fn a_link_as_the_file_or_any_folder_on_the_way_is_refused() {
    let share = share();
    symlink(share.outside.join("secret"), share.drop.join("b.csv")).expect("link");
    symlink(&share.outside, share.drop.join("linked")).expect("folder link");
    let folder = Folder::open(&share.drop).expect("open");
    for path in ["b.csv", "linked/secret", "linked/original.jpg"] {
        let err = folder.read(Path::new(path), 1 << 20).expect_err("a link is refused");
        assert!(matches!(err, BeneathError::Link { .. }), "{path}: {err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
    assert!(matches!(
        folder.stat(Path::new("linked/secret")),
        Err(BeneathError::Link { .. })
    ));
    unchanged(&share);
}

#[test]
fn a_write_never_goes_through_a_link() {
    let share = share();
    // The attack from the issue: a result file's name made a link to an
    // archived original.
    symlink(
        share.outside.join("original.jpg"),
        share.drop.join("bad.csv.result.txt"),
    )
    .expect("link");
    symlink(&share.outside, share.drop.join("_specdrop")).expect("report folder link");
    let folder = Folder::open(&share.drop).expect("open");
    let err = folder
        .write(Path::new("bad.csv.result.txt"), b"result")
        .expect_err("the link is refused");
    assert!(matches!(err, BeneathError::Link { .. }), "{err}");
    for path in ["_specdrop/index.html", "_specdrop/secret"] {
        let err = folder.write(Path::new(path), b"page").expect_err("link folder");
        assert!(matches!(err, BeneathError::Link { .. }), "{err}");
        let err = folder.append(Path::new(path)).expect_err("link folder");
        assert!(matches!(err, BeneathError::Link { .. }), "{err}");
    }
    assert!(matches!(
        folder.sub(Path::new("_specdrop"), true),
        Err(BeneathError::Link { .. })
    ));
    // The link itself is left where it is.
    assert!(fs::symlink_metadata(share.drop.join("bad.csv.result.txt")).is_ok_and(|m| m.file_type().is_symlink()));
    unchanged(&share);
}

#[test]
fn appending_to_a_linked_file_is_refused() {
    let share = share();
    fs::create_dir(share.drop.join("_specdrop")).expect("report folder");
    symlink(share.outside.join("secret"), share.drop.join("_specdrop/linked.csv")).expect("link");
    let folder = Folder::open(&share.drop).expect("open");
    let err = folder.append(Path::new("_specdrop/linked.csv")).expect_err("refused");
    assert!(matches!(err, BeneathError::Link { .. }), "{err}");
    let mut file = folder
        .append(Path::new("_specdrop/2026-12-03.csv"))
        .expect("a new file");
    file.write_all(b"row\n").expect("append");
    assert_eq!(
        fs::read(share.drop.join("_specdrop/2026-12-03.csv")).expect("read"),
        b"row\n"
    );
    unchanged(&share);
}

#[test]
fn writes_make_missing_folders_and_replace_whole() {
    let share = share();
    let folder = Folder::open(&share.drop).expect("open");
    folder
        .write(Path::new("_specdrop/day/index.html"), b"one")
        .expect("write");
    folder
        .write(Path::new("_specdrop/day/index.html"), b"two")
        .expect("rewrite");
    assert_eq!(
        fs::read(share.drop.join("_specdrop/day/index.html")).expect("read"),
        b"two"
    );
    let names = folder.list(Path::new("_specdrop/day")).expect("list");
    assert_eq!(names, [(OsString::from("index.html"), Kind::File)], "no temporary left");
}

#[test]
fn dot_dot_and_paths_elsewhere_are_refused() {
    let share = share();
    let folder = Folder::open(&share.drop).expect("open");
    for path in [
        PathBuf::from("../outside/secret"),
        PathBuf::from("day1/../../outside/secret"),
        share.outside.join("secret"),
    ] {
        let err = folder.read(&path, 1 << 20).expect_err("outside");
        assert!(matches!(err, BeneathError::Outside { .. }), "{}: {err}", path.display());
    }
}

#[test]
fn limits_fifos_and_hard_links_are_refused() {
    let share = share();
    fs::write(share.drop.join("big.csv"), vec![b'x'; 3 << 20]).expect("big");
    fs::hard_link(share.outside.join("secret"), share.drop.join("hard.csv")).expect("hard link");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        share.drop.join("fifo.csv"),
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .expect("fifo");
    let folder = Folder::open(&share.drop).expect("open");
    let too_large = folder.read(Path::new("big.csv"), 2 << 20).expect_err("too large");
    assert!(
        matches!(
            too_large,
            BeneathError::TooLarge {
                mib: 3,
                limit_mib: 2,
                ..
            }
        ),
        "{too_large}"
    );
    assert!(matches!(
        folder.read(Path::new("hard.csv"), 1 << 20),
        Err(BeneathError::HardLink { links: 2, .. })
    ));
    assert!(matches!(
        folder.read(Path::new("fifo.csv"), 1 << 20),
        Err(BeneathError::NotFile { .. })
    ));
}

#[test]
fn the_walk_lists_links_and_never_enters_them() {
    let share = share();
    symlink(&share.outside, share.drop.join("linked")).expect("folder link");
    fs::create_dir(share.drop.join("skipped")).expect("skipped folder");
    fs::write(share.drop.join("skipped/x.jpg"), b"x").expect("file");
    let folder = Folder::open(&share.drop).expect("open");
    let walked = folder.walk(|rel| rel != Path::new("skipped")).expect("walk");
    let listed: Vec<_> = walked
        .entries
        .iter()
        .map(|e| (e.path.display().to_string(), e.kind))
        .collect();
    assert_eq!(
        listed,
        [
            ("day1".to_string(), Kind::Dir),
            ("day1/a.csv".to_string(), Kind::File),
            ("linked".to_string(), Kind::Link),
            ("skipped".to_string(), Kind::Dir),
        ]
    );
    assert!(walked.unreadable.is_empty());
}

#[test]
fn a_folder_swapped_for_a_link_after_the_walk_is_refused() {
    let share = share();
    let folder = Folder::open(&share.drop).expect("open");
    let walked = folder.walk(|_| true).expect("walk");
    assert!(walked.entries.iter().any(|e| e.path == Path::new("day1/a.csv")));
    // Between the walk and the open, day1 becomes a link to a folder
    // that also holds an a.csv.
    fs::write(share.outside.join("a.csv"), b"secret,rows\n").expect("bait");
    fs::rename(share.drop.join("day1"), share.drop.join("day1.old")).expect("move away");
    symlink(&share.outside, share.drop.join("day1")).expect("swap in a link");
    let err = folder.read(Path::new("day1/a.csv"), 1 << 20).expect_err("refused");
    assert!(
        matches!(err, BeneathError::Link { ref path } if path.ends_with("day1")),
        "{err}"
    );
    assert!(matches!(
        folder.remove(Path::new("day1/a.csv")),
        Err(BeneathError::Link { .. })
    ));
    assert!(share.outside.join("a.csv").exists(), "nothing outside removed");
}
