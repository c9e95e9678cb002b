//! The `[storage]` table: where derivatives go, a folder (`kind =
//! "local"`, the default) or an S3-compatible bucket (`kind = "s3"`).
//!
//! Bucket keys follow the folder layout under `prefix`, written as given,
//! the way Symbiota's own S3 driver forms them (`S3_MEDIA_PATH` + `/` +
//! path): `prefix = "/imglib"` gives `/imglib/MICH_V/01390/x_med.jpg`.
//! Credentials are never in the config: `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` in the environment, or `credentials_file` (the
//! AWS shared-credentials format), refused when every user may read it.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use specdrop_objstore::{CANNED_ACLS, Credentials};

/// `[storage]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Section {
    pub kind: Option<String>,
    pub root: Option<PathBuf>,
    pub url_base: Option<String>,
    pub file_mode: Option<String>,
    pub dir_mode: Option<String>,
    pub bucket: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub prefix: Option<String>,
    pub path_style: Option<bool>,
    pub credentials_file: Option<PathBuf>,
    pub acl: Option<String>,
}

/// The checked bucket settings of `kind = "s3"`.
#[derive(Debug, Clone)]
pub struct S3Config {
    pub bucket: String,
    pub endpoint: String,
    pub region: String,
    /// Written before each key as given, without a trailing `/`; may be
    /// empty (keys at the top of the bucket).
    pub prefix: String,
    pub path_style: bool,
    pub acl: Option<String>,
    pub credentials: Credentials,
}

impl S3Config {
    /// The key of the object at `relative` (the folder layout's path).
    pub fn key(&self, relative: &str) -> String {
        let relative = relative.trim_start_matches('/');
        if self.prefix.is_empty() {
            relative.to_string()
        } else {
            format!("{}/{relative}", self.prefix)
        }
    }
}

/// Where credentials come from when the environment has none.
pub const ACCESS_KEY_ENV: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_KEY_ENV: &str = "AWS_SECRET_ACCESS_KEY";
pub const SESSION_TOKEN_ENV: &str = "AWS_SESSION_TOKEN";

/// Is the storage a bucket? `Ok(None)` for the default, a folder.
/// Problems go to `problem(key, message)`; the local keys are checked by
/// the caller.
pub fn check_s3(
    section: &Section,
    resolve: &dyn Fn(&Path) -> PathBuf,
    problem: &mut dyn FnMut(&str, String),
) -> Option<Option<S3Config>> {
    match section.kind.as_deref().unwrap_or("local") {
        "local" => {
            for (key, set) in [
                ("bucket", section.bucket.is_some()),
                ("endpoint", section.endpoint.is_some()),
                ("region", section.region.is_some()),
                ("prefix", section.prefix.is_some()),
                ("path_style", section.path_style.is_some()),
                ("credentials_file", section.credentials_file.is_some()),
                ("acl", section.acl.is_some()),
            ] {
                if set {
                    problem(
                        &format!("storage.{key}"),
                        "is a bucket setting; set storage.kind = \"s3\" to store in a bucket, or remove it".into(),
                    );
                }
            }
            return Some(None);
        }
        "s3" => {}
        other => {
            problem(
                "storage.kind",
                format!("{other:?}: use \"local\" (a folder) or \"s3\" (a bucket)"),
            );
            return None;
        }
    }
    for (key, set) in [
        ("root", section.root.is_some()),
        ("file_mode", section.file_mode.is_some()),
        ("dir_mode", section.dir_mode.is_some()),
    ] {
        if set {
            problem(
                &format!("storage.{key}"),
                "is a folder setting, not used with storage.kind = \"s3\"; remove it".into(),
            );
        }
    }
    let bucket = section.bucket.as_deref().map(str::trim).unwrap_or_default().to_string();
    if bucket.is_empty() {
        problem(
            "storage.bucket",
            "is required with kind = \"s3\": the bucket's name".into(),
        );
    }
    let region = section.region.as_deref().map_or("us-east-1", str::trim).to_string();
    let endpoint = match section.endpoint.as_deref().map(str::trim) {
        Some(e) if e.starts_with("http://") || e.starts_with("https://") => e.trim_end_matches('/').to_string(),
        Some(e) => {
            problem(
                "storage.endpoint",
                format!("{e:?} must be the server's http(s) address, e.g. \"http://127.0.0.1:9000\""),
            );
            String::new()
        }
        // AWS itself when no server is named.
        None => format!("https://s3.{region}.amazonaws.com"),
    };
    let prefix = section
        .prefix
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    if prefix.split('/').any(|part| part == ".." || part == ".") || prefix.contains('\\') || prefix.contains("//") {
        problem(
            "storage.prefix",
            format!(
                "{prefix:?}: write the key prefix as folders, e.g. \"/imglib\" or \"imglib\", without \"..\", \".\" or \"//\""
            ),
        );
    }
    if prefix.chars().any(char::is_control) || prefix.contains(char::is_whitespace) {
        problem(
            "storage.prefix",
            format!("{prefix:?} contains white space or control characters"),
        );
    }
    let acl = section
        .acl
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    if let Some(acl) = &acl
        && !CANNED_ACLS.contains(&acl.as_str())
    {
        problem(
            "storage.acl",
            format!("{acl:?} is not a canned ACL; use one of {}", CANNED_ACLS.join(", ")),
        );
    }
    let credentials = credentials(section, resolve, problem)?;
    Some(Some(S3Config {
        bucket,
        endpoint,
        region,
        prefix,
        path_style: section.path_style.unwrap_or(true),
        acl,
        credentials,
    }))
}

/// The environment's keys, else `credentials_file`'s.
fn credentials(
    section: &Section,
    resolve: &dyn Fn(&Path) -> PathBuf,
    problem: &mut dyn FnMut(&str, String),
) -> Option<Credentials> {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if let (Some(key), Some(secret)) = (env(ACCESS_KEY_ENV), env(SECRET_KEY_ENV)) {
        return Some(Credentials {
            key,
            secret,
            token: env(SESSION_TOKEN_ENV),
        });
    }
    let Some(file) = &section.credentials_file else {
        problem(
            "storage.credentials_file",
            format!(
                "kind = \"s3\" needs credentials: set {ACCESS_KEY_ENV} and {SECRET_KEY_ENV} in specdrop's \
                 environment (systemd: EnvironmentFile=), or name a file in storage.credentials_file"
            ),
        );
        return None;
    };
    match read_credentials(&resolve(file)) {
        Ok(c) => Some(c),
        Err(e) => {
            problem("storage.credentials_file", e);
            None
        }
    }
}

/// An AWS shared-credentials file: `aws_access_key_id = ...` and
/// `aws_secret_access_key = ...` (and `aws_session_token`), from its
/// `[default]` profile when it has one, else from the first.
fn read_credentials(file: &Path) -> Result<Credentials, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let what = "it holds aws_access_key_id and aws_secret_access_key for the bucket";
    let mode = std::fs::metadata(file)
        .map_err(|e| format!("cannot read {}: {e}; {what}", file.display()))?
        .permissions()
        .mode();
    if mode & 0o004 != 0 {
        return Err(format!(
            "{} is readable by every user and holds the bucket's secret key; chmod 0640 it (group specdrop)",
            file.display()
        ));
    }
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}; {what}", file.display()))?;
    let mut sections: Vec<(String, Vec<(String, String)>)> = vec![(String::new(), Vec::new())];
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.trim().to_string(), Vec::new()));
        } else if let Some((k, v)) = line.split_once('=')
            && let Some((_, values)) = sections.last_mut()
        {
            values.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let chosen = sections
        .iter()
        .find(|(name, _)| name == "default")
        .or_else(|| sections.iter().find(|(_, values)| !values.is_empty()));
    let get =
        |name: &str| chosen.and_then(|(_, values)| values.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(key), Some(secret)) if !key.is_empty() && !secret.is_empty() => Ok(Credentials {
            key,
            secret,
            token: get("aws_session_token"),
        }),
        _ => Err(format!(
            "{} must hold aws_access_key_id = ... and aws_secret_access_key = ... (under [default] when it has profiles)",
            file.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let file = dir.join("s3-credentials");
        std::fs::write(&file, text).expect("write the credentials file");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        file
    }

    #[test]
    fn the_default_profile_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = write(
            dir.path(),
            "[other]\naws_access_key_id = NO\naws_secret_access_key = NO\n\n[default]\n# a comment\n\
             aws_access_key_id = AKID\naws_secret_access_key = s3cret\n",
            0o640,
        );
        let c = read_credentials(&file).expect("readable");
        assert_eq!((c.key.as_str(), c.secret.as_str(), c.token), ("AKID", "s3cret", None));
    }

    #[test]
    fn a_world_readable_or_incomplete_file_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = write(
            dir.path(),
            "aws_access_key_id = AKID\naws_secret_access_key = s\n",
            0o644,
        );
        let e = read_credentials(&file).err().unwrap_or_default();
        assert!(
            e.contains("readable by every user") && e.contains("s3-credentials"),
            "{e}"
        );
        let file = write(dir.path(), "aws_access_key_id = AKID\n", 0o600);
        let e = read_credentials(&file).err().unwrap_or_default();
        assert!(e.contains("aws_secret_access_key"), "{e}");
        assert!(!e.contains("AKID"), "no key in the message: {e}");
    }

    fn problems_of(text: &str) -> Vec<(String, String)> {
        let section: Section = toml::from_str(text).expect("a [storage] table");
        let mut found = Vec::new();
        let resolve = |p: &Path| p.to_path_buf();
        check_s3(&section, &resolve, &mut |key, message| {
            found.push((key.to_string(), message))
        });
        found
    }

    #[test]
    fn each_key_that_does_not_fit_the_kind_is_named() {
        fn keys(text: &str) -> Vec<String> {
            problems_of(text).into_iter().map(|(k, _)| k).collect()
        }
        assert_eq!(keys("root = \"/x\"\nbucket = \"b\""), ["storage.bucket"]);
        assert_eq!(keys("kind = \"ftp\""), ["storage.kind"]);
        let dir = tempfile::tempdir().expect("temp dir");
        let file = write(dir.path(), "aws_access_key_id = A\naws_secret_access_key = S\n", 0o600);
        let s3 = |extra: &str| format!("kind = \"s3\"\ncredentials_file = \"{}\"\n{extra}", file.display());
        assert_eq!(keys(&s3("root = \"/x\"\nbucket = \"b\"")), ["storage.root"]);
        assert_eq!(keys(&s3("")), ["storage.bucket"]);
        assert_eq!(keys(&s3("bucket = \"b\"\nprefix = \"a/../b\"")), ["storage.prefix"]);
        assert_eq!(keys(&s3("bucket = \"b\"\nacl = \"public\"")), ["storage.acl"]);
        assert_eq!(
            keys(&s3("bucket = \"b\"\nendpoint = \"127.0.0.1:9000\"")),
            ["storage.endpoint"]
        );
        assert!(keys(&s3("bucket = \"b\"\nprefix = \"/imglib/\"\nacl = \"public-read\"")).is_empty());
    }

    #[test]
    fn keys_are_the_prefix_as_given_then_the_layout() {
        let mut c = S3Config {
            bucket: "b".into(),
            endpoint: "http://127.0.0.1:9000".into(),
            region: "us-east-1".into(),
            prefix: "/imglib".into(),
            path_style: true,
            acl: None,
            credentials: Credentials {
                key: "k".into(),
                secret: "s".into(),
                token: None,
            },
        };
        assert_eq!(c.key("MICH_V/01390/x_med.jpg"), "/imglib/MICH_V/01390/x_med.jpg");
        c.prefix = String::new();
        assert_eq!(c.key("MICH_V/01390/x_med.jpg"), "MICH_V/01390/x_med.jpg");
    }
}
