//! The `[remote]` table: fetching images that live on other web servers,
//! to make their thumbnail and web image (`derive = true` for links that
//! `harvest`, `import-links` and a skeletal file's `associatedMedia` add;
//! always for `specdrop thumbnails`).
//!
//! Nothing is fetched from a host that `allowed_hosts` does not name: a
//! link list is input from people, and a fetch from inside the network is
//! a request the link's author makes with specdrop's address.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// `[remote]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Section {
    pub derive: bool,
    pub allowed_hosts: Vec<String>,
    pub max_mb: Option<u64>,
    pub timeout_secs: Option<u64>,
    pub connect_timeout_secs: Option<u64>,
    pub keep_copy: bool,
    pub copy_dir: Option<PathBuf>,
}

pub const DEFAULT_MAX_MB: u64 = 100;
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;

/// The checked `[remote]` settings.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Make derivatives for remote links as they are added.
    pub derive: bool,
    /// Lower-case `host`, `host:port` or `*.domain` entries.
    pub allowed_hosts: Vec<String>,
    /// Largest body read (`max_mb`).
    pub max_bytes: u64,
    /// The whole fetch, redirects included (`timeout_secs`).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Where fetched originals are kept (`keep_copy = true`); `None`: not
    /// kept.
    pub copy_dir: Option<PathBuf>,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            derive: false,
            allowed_hosts: Vec::new(),
            max_bytes: DEFAULT_MAX_MB << 20,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            connect_timeout: Duration::from_secs(DEFAULT_CONNECT_TIMEOUT_SECS),
            copy_dir: None,
        }
    }
}

impl RemoteConfig {
    /// Whether `host` (lower case, without brackets) on `port` may be
    /// fetched from.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allowed_hosts.iter().any(|rule| {
            if let Some(domain) = rule.strip_prefix("*.") {
                return host.ends_with(&format!(".{domain}"));
            }
            match rule.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()) {
                Some((h, p)) => h == host && p.parse::<u16>().ok() == Some(port),
                None => rule == host,
            }
        })
    }
}

/// The checked table; problems go to `problem(key, message)`.
pub fn check(
    section: &Section,
    resolve: &dyn Fn(&Path) -> PathBuf,
    problem: &mut dyn FnMut(&str, String),
) -> RemoteConfig {
    let mut hosts = Vec::new();
    for host in &section.allowed_hosts {
        let host = host.trim().to_ascii_lowercase();
        let bad = host.is_empty() || host.contains("://") || host.contains('/') || host.contains('@');
        if bad {
            problem(
                "remote.allowed_hosts",
                format!(
                    "{host:?}: write a host name alone, e.g. \"media.example.org\", \"media.example.org:8080\" or \"*.example.org\""
                ),
            );
        } else {
            hosts.push(host);
        }
    }
    if section.derive && section.allowed_hosts.is_empty() {
        problem(
            "remote.allowed_hosts",
            "is empty, so remote.derive = true could fetch nothing; list the image servers, e.g. [\"media.example.org\"]"
                .into(),
        );
    }
    let positive = |key: &str, value: Option<u64>, default: u64, problem: &mut dyn FnMut(&str, String)| match value {
        Some(0) => {
            problem(
                &format!("remote.{key}"),
                format!("must be at least 1 (default {default})"),
            );
            default
        }
        Some(n) => n,
        None => default,
    };
    let max_mb = positive("max_mb", section.max_mb, DEFAULT_MAX_MB, problem);
    let timeout = positive("timeout_secs", section.timeout_secs, DEFAULT_TIMEOUT_SECS, problem);
    let connect = positive(
        "connect_timeout_secs",
        section.connect_timeout_secs,
        DEFAULT_CONNECT_TIMEOUT_SECS,
        problem,
    );
    let copy_dir = match (section.keep_copy, &section.copy_dir) {
        (true, Some(dir)) => Some(resolve(dir)),
        (true, None) => {
            problem(
                "remote.copy_dir",
                "is required with remote.keep_copy = true: a folder of its own for the fetched originals".into(),
            );
            None
        }
        (false, Some(_)) => {
            problem(
                "remote.copy_dir",
                "is only used with remote.keep_copy = true; set that, or remove the key".into(),
            );
            None
        }
        (false, None) => None,
    };
    RemoteConfig {
        derive: section.derive,
        allowed_hosts: hosts,
        max_bytes: max_mb.saturating_mul(1 << 20),
        timeout: Duration::from_secs(timeout),
        connect_timeout: Duration::from_secs(connect),
        copy_dir,
    }
}

/// `copy_dir` must be a tree of its own: never inside (or around) a drop
/// folder, an archive or the image library (`folders`: key and folder).
pub fn check_copy_dir(copy_dir: &Path, folders: &[(String, PathBuf)], problem: &mut dyn FnMut(&str, String)) {
    for (key, folder) in folders {
        if folder.as_os_str().is_empty() {
            continue;
        }
        if copy_dir.starts_with(folder) || folder.starts_with(copy_dir) {
            problem(
                "remote.copy_dir",
                format!(
                    "{} overlaps {key} {}; keep the fetched originals in a folder of their own",
                    copy_dir.display(),
                    folder.display()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_by_name_port_or_domain() {
        let remote = RemoteConfig {
            allowed_hosts: vec![
                "media.example.org".into(),
                "127.0.0.1:8080".into(),
                "*.cdn.example".into(),
            ],
            ..RemoteConfig::default()
        };
        assert!(remote.allows("media.example.org", 443));
        assert!(remote.allows("127.0.0.1", 8080));
        assert!(!remote.allows("127.0.0.1", 8081));
        assert!(remote.allows("a.cdn.example", 80));
        assert!(!remote.allows("cdn.example", 80));
        assert!(!remote.allows("evil-media.example.org", 443));
    }

    #[test]
    fn copy_dir_is_a_tree_of_its_own() {
        let folders = vec![
            ("storage.root".to_string(), PathBuf::from("/srv/imglib")),
            ("collection[0].drop".to_string(), PathBuf::from("/srv/drop/mich")),
            ("collection[0].archive".to_string(), PathBuf::from("/srv/archive/mich")),
        ];
        let refused = |dir: &str| {
            let mut problems = Vec::new();
            check_copy_dir(Path::new(dir), &folders, &mut |key, message| {
                problems.push(format!("{key}: {message}"));
            });
            problems
        };
        for inside in ["/srv/imglib/originals", "/srv/drop/mich/x", "/srv/archive/mich", "/srv"] {
            let problems = refused(inside);
            assert!(problems.len() == 1 || inside == "/srv", "{inside}: {problems:?}");
            assert!(
                problems.iter().all(|p| p.starts_with("remote.copy_dir")),
                "{problems:?}"
            );
            assert!(!problems.is_empty(), "{inside} is refused");
        }
        assert!(refused("/srv/originals").is_empty());
    }
}
