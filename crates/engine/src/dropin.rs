//! `specdrop systemd-dropin`: the unit's ProtectSystem=strict makes the
//! whole file system read-only; this prints the drop-in that opens the
//! folders the config names, and only those.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{Config, Sink};

/// The folders specdrop writes to, deduplicated, without those inside
/// another one in the list.
pub fn writable_paths(config: &Config) -> Vec<PathBuf> {
    let mut paths = vec![config.state_dir.clone()];
    // A bucket needs no folder of its own.
    if config.s3.is_none() {
        paths.push(config.storage_root.clone());
    }
    for c in &config.collections {
        paths.push(c.drop.clone());
        paths.push(c.archive.clone());
    }
    // Originals kept by remote.keep_copy.
    if let Some(dir) = &config.remote.copy_dir {
        paths.push(dir.clone());
    }
    if let Sink::Log(file) = &config.sink
        && let Some(parent) = file.parent()
    {
        paths.push(parent.to_path_buf());
    }
    if let Some(file) = config.database_url.strip_prefix("sqlite://")
        && let Some(parent) = Path::new(file).parent()
    {
        paths.push(parent.to_path_buf());
    }
    paths.sort();
    paths.dedup();
    let all = paths.clone();
    paths.retain(|p| !all.iter().any(|other| other != p && p.starts_with(other)));
    paths
}

pub fn render(config: &Config) -> String {
    let paths = writable_paths(config);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `specdrop systemd-dropin --config {}`.\n\
         # Install: mkdir -p /etc/systemd/system/specdrop.service.d\n\
         #          specdrop systemd-dropin > /etc/systemd/system/specdrop.service.d/paths.conf\n\
         #          systemctl daemon-reload && systemctl restart specdrop",
        config.file.display()
    );
    let missing: Vec<&PathBuf> = paths.iter().filter(|p| !p.exists()).collect();
    if !missing.is_empty() {
        out.push_str("# These do not exist yet and must before the service starts:\n");
        for p in &missing {
            let _ = writeln!(out, "#   install -d -o specdrop -g specdrop {}", quote(p));
        }
    }
    out.push_str("[Service]\n");
    let home = paths
        .iter()
        .any(|p| ["/home", "/root", "/run/user"].iter().any(|h| p.starts_with(h)));
    if home {
        out.push_str("# A folder is under /home, /root or /run/user, which ProtectHome=yes hides.\nProtectHome=no\n");
    }
    let listed: Vec<String> = paths.iter().map(|p| quote(p)).collect();
    let _ = writeln!(out, "ReadWritePaths={}", listed.join(" "));
    out
}

/// systemd's quoting for a path with spaces or quotes in it.
fn quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    if text
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c == '\'')
    {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text.into_owned()
    }
}
