//! Which file systems deliver no inotify events for remote writers.
//!
//! inotify sees only changes made through this kernel: a file copied into
//! an NFS export or SMB share from another machine raises no event here.
//! Such drop folders must be polled; `statfs` tells which they are.

use std::path::Path;

/// statfs `f_type` magic numbers (linux/magic.h) of file systems whose
/// writers may be other machines.
const REMOTE: [(u64, &str); 12] = [
    (0x6969, "NFS"),
    (0x517B, "SMB"),
    (0xFF53_4D42, "CIFS"),
    (0xFE53_4D42, "SMB2"),
    (0x6573_5546, "FUSE (sshfs, rclone...)"),
    (0x0102_1997, "9P"),
    (0x00C3_6400, "CephFS"),
    (0x5346_414F, "AFS"),
    (0x6B41_4653, "kAFS"),
    (0x0BD0_0BD0, "Lustre"),
    (0x4750_4653, "GPFS"),
    (0x7366_7378, "NCP/SMB (old)"),
];

/// The name of the network file system with statfs magic `magic`, if it
/// is one.
pub fn remote_kind(magic: u64) -> Option<&'static str> {
    REMOTE.iter().find(|(m, _)| *m == magic).map(|(_, name)| *name)
}

/// The network file system `dir` lives on, or `None` when it is local
/// (or cannot be told: then native events are tried, and periodic rescans
/// still catch anything missed).
pub fn remote_file_system(dir: &Path) -> Option<&'static str> {
    let stat = rustix::fs::statfs(dir).ok()?;
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    let magic = stat.f_type as u64;
    remote_kind(magic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_file_systems_are_recognised_by_their_magic() {
        assert_eq!(remote_kind(0x6969), Some("NFS"));
        assert_eq!(remote_kind(0xFF53_4D42), Some("CIFS"));
        assert_eq!(remote_kind(0xFE53_4D42), Some("SMB2"));
        assert_eq!(remote_kind(0x6573_5546), Some("FUSE (sshfs, rclone...)"));
        // ext4, xfs, btrfs, tmpfs
        for local in [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994] {
            assert_eq!(remote_kind(local), None, "{local:#x}");
        }
    }

    #[test]
    fn a_local_temp_folder_is_not_remote() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(remote_file_system(dir.path()), None);
        Ok(())
    }
}
