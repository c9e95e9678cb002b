//! specdrop's TOML config: the file the collection manager edits.
//!
//! Every key of docs/admin.md's "Config reference" is read; relative paths are relative
//! to the config file's folder. Problems are collected and reported
//! together, each with its key, so one run of `specdrop scan` (or `check`)
//! shows everything to fix. Values whose behaviour this version does not
//! have yet are refused by name rather than silently ignored.

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

pub mod lines;
pub mod notify;
pub mod remote;
pub mod storage;
pub use crate::config::lines::Problem;
use specdrop_barcode::Symbology;
use specdrop_derive::DeriveConfig;
use specdrop_mapper::{CatalogPattern, ExistingImage, MatchRules, MediaFields, SchemaChoice, Unmatched};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_state_dir")]
    state_dir: PathBuf,
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    ledger: LedgerSection,
    storage: Option<storage::Section>,
    #[serde(default)]
    derive: DeriveConfig,
    #[serde(default)]
    workers: WorkersSection,
    #[serde(default)]
    watch: specdrop_watch::WatchConfig,
    #[serde(default)]
    daemon: DaemonSection,
    #[serde(default)]
    sink: SinkSection,
    #[serde(default)]
    log: LogSection,
    #[serde(default)]
    metrics: MetricsSection,
    #[serde(default)]
    report: ReportSection,
    #[serde(default)]
    notify: notify::Section,
    #[serde(default)]
    ocr: OcrSection,
    #[serde(default)]
    remote: remote::Section,
    #[serde(default)]
    collection: Vec<RawCollection>,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/specdrop")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DatabaseSection {
    url: Option<String>,
    url_file: Option<PathBuf>,
    schema: SchemaChoice,
    retry_mins: u64,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            url: None,
            url_file: None,
            schema: SchemaChoice::Auto,
            retry_mins: 10,
        }
    }
}

/// Overrides `database.url` and `database.url_file`, so a password need
/// not be in the config file at all.
pub const DATABASE_URL_ENV: &str = "SPECDROP_DATABASE_URL";

/// `[ledger]`: where specdrop keeps its ledger. Neither key: the SQLite
/// file in `state_dir`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct LedgerSection {
    url: Option<String>,
    url_file: Option<PathBuf>,
}

/// Overrides `ledger.url` and `ledger.url_file`, as [`DATABASE_URL_ENV`]
/// does for the portal.
pub const LEDGER_URL_ENV: &str = "SPECDROP_LEDGER_URL";

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct WorkersSection {
    threads: Option<usize>,
    queue: Option<usize>,
    memory_mb: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DaemonSection {
    shutdown_secs: u64,
    retry_parked_mins: u64,
    instance: Option<String>,
    lease_secs: u64,
}

impl Default for DaemonSection {
    fn default() -> Self {
        DaemonSection {
            shutdown_secs: 30,
            retry_parked_mins: 30,
            instance: None,
            lease_secs: 30,
        }
    }
}

/// The shortest `daemon.lease_secs`.
const MIN_LEASE_SECS: u64 = 3;

/// This host's name (`daemon.instance`'s default).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct SinkSection {
    kind: SinkKind,
    path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum SinkKind {
    #[default]
    Database,
    Log,
}

/// Where image links go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Rows in the portal database (the default).
    Database,
    /// Lines in this CSV file, for `specdrop load-log` to load later; the
    /// database is only read.
    Log(PathBuf),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LogSection {
    target: String,
    filter: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            target: "auto".into(),
            filter: "info".into(),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct MetricsSection {
    listen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ReportSection {
    folder: String,
    portal_url: Option<String>,
}

impl Default for ReportSection {
    fn default() -> Self {
        ReportSection {
            folder: "_specdrop".into(),
            portal_url: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct OcrSection {
    enabled: bool,
    statuses: Vec<String>,
    threads: usize,
}

impl Default for OcrSection {
    fn default() -> Self {
        OcrSection {
            enabled: false,
            statuses: vec!["unprocessed".into()],
            threads: 1,
        }
    }
}

/// Reading label text into the portal (`[ocr]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrConfig {
    pub enabled: bool,
    /// Records whose processingStatus is one of these (lower case) get
    /// their sheets read.
    pub statuses: Vec<String>,
    /// Sheets read at once.
    pub threads: usize,
}

/// Where log lines go (`log.target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// The journal when systemd started us, stderr otherwise.
    Auto,
    Journald,
    Stderr,
}

/// The imaging team's report in each drop folder (`[report]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportConfig {
    /// The folder's name inside each drop folder; `None` when switched off
    /// (`report.folder = ""`).
    pub folder: Option<String>,
    /// The portal's address, for links to specimen pages.
    pub portal_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollection {
    code: Option<String>,
    collid: Option<i64>,
    drop: Option<PathBuf>,
    pattern: Option<String>,
    archive: Option<PathBuf>,
    replace: Option<(String, String)>,
    #[serde(default)]
    unmatched: Unmatched,
    #[serde(default)]
    existing_image: ExistingImage,
    #[serde(default)]
    media: MediaFields,
    after_batch_procedure: Option<String>,
    #[serde(default, rename = "match")]
    match_rules: MatchRules,
    #[serde(default)]
    identifier: Identifier,
    #[serde(default)]
    barcode: BarcodeSection,
    #[serde(default)]
    skeletal: SkeletalSection,
    url_base: Option<String>,
    #[serde(default)]
    mapping: Mapping,
    #[serde(default)]
    multi_specimen: MultiSpecimen,
    #[serde(default)]
    media_from_exif: bool,
}

/// A sheet that names several specimens (`collection.multi_specimen`):
/// several barcodes that each find a record, or several mapping lines for
/// one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MultiSpecimen {
    /// Which one is meant is not guessed: the file waits, parked.
    #[default]
    Park,
    /// One set of derivatives, one media row per specimen (as Symbiota's
    /// URL map does).
    LinkAll,
}

/// Whether an image needs a line in a mapping file (`collection.mapping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mapping {
    /// A listed image goes by its line; any other by the pattern.
    #[default]
    Optional,
    /// An image no mapping line lists waits (parked) until one does.
    Required,
}

/// Where a file's catalog number comes from (`collection.identifier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Identifier {
    #[default]
    Filename,
    Barcode,
    FilenameThenBarcode,
    /// As `Barcode`, then `barcode.pattern` looked for in the label text
    /// (Tesseract) when no barcode gives a number.
    BarcodeThenOcr,
    /// As `FilenameThenBarcode`, then the label text.
    FilenameThenBarcodeThenOcr,
}

impl Identifier {
    /// Whether the label text is read when no name or barcode gives a number.
    pub fn reads_text(self) -> bool {
        matches!(
            self,
            Identifier::BarcodeThenOcr | Identifier::FilenameThenBarcodeThenOcr
        )
    }
}

/// What to do when the file name and the barcode give different numbers
/// (`barcode.conflict`, with `barcode.verify = true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Conflict {
    #[default]
    Park,
    Filename,
    Barcode,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BarcodeSection {
    symbologies: Option<Vec<String>>,
    pattern: Option<String>,
    replace: Option<(String, String)>,
    #[serde(default)]
    verify: bool,
    #[serde(default)]
    conflict: Conflict,
}

/// How barcodes on a sheet become a catalog number.
#[derive(Debug, Clone)]
pub struct BarcodeRules {
    pub symbologies: Vec<Symbology>,
    /// A value read counts when it matches; group 1 (then `replace`) is
    /// the catalog number.
    pub pattern: CatalogPattern,
    /// Read the barcode even when the file name gives a number, and
    /// compare.
    pub verify: bool,
    pub conflict: Conflict,
}

/// Any value read, whole.
const ANY_VALUE: &str = r"^\s*(.+?)\s*$";

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct SkeletalSection {
    overwrite: bool,
}

/// The checked config, paths made absolute.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub state_dir: PathBuf,
    pub database_url: String,
    /// `[ledger]`: the SQLite file in `state_dir`, or a shared database.
    pub ledger: crate::ledger::Place,
    pub schema: SchemaChoice,
    /// How long a run waits for an unreachable or locked database before it
    /// leaves the remaining files for the next run.
    pub database_wait: std::time::Duration,
    pub sink: Sink,
    /// The image library's folder; empty when the storage is a bucket.
    pub storage_root: PathBuf,
    /// `storage.kind = "s3"`: the bucket derivatives go to instead of
    /// `storage_root`.
    pub s3: Option<storage::S3Config>,
    /// `storage.file_mode` / `storage.dir_mode`.
    pub modes: specdrop_derive::store::Modes,
    pub derive: DeriveConfig,
    pub threads: usize,
    /// Complete files waiting for a worker (`workers.queue`).
    pub queue: usize,
    /// What all workers' pixels may hold at once (`workers.memory_mb`).
    pub memory_mb: u32,
    pub watch: specdrop_watch::WatchConfig,
    pub shutdown: std::time::Duration,
    pub retry_parked: std::time::Duration,
    /// `daemon.instance`: this instance's name in a shared ledger.
    pub instance: String,
    /// `daemon.lease_secs`: how long a file claimed in a shared ledger
    /// stays this instance's without a renewal.
    pub lease: std::time::Duration,
    pub log_filter: String,
    pub log_target: LogTarget,
    /// Where to serve Prometheus metrics (`metrics.listen`).
    pub metrics_listen: Option<std::net::SocketAddr>,
    pub report: ReportConfig,
    /// Digests and failure notices (`[notify]`).
    pub notify: notify::NotifyConfig,
    pub ocr: OcrConfig,
    /// `[remote]`: fetching images from other servers.
    pub remote: remote::RemoteConfig,
    pub collections: Vec<Collection>,
}

#[derive(Debug, Clone)]
pub struct Collection {
    pub code: String,
    pub collid: i64,
    pub drop: PathBuf,
    pub archive: PathBuf,
    pub pattern: CatalogPattern,
    pub unmatched: Unmatched,
    pub match_rules: MatchRules,
    pub existing: ExistingImage,
    pub fields: MediaFields,
    pub after_batch_procedure: Option<String>,
    /// Skeletal files may replace non-empty values (`skeletal.overwrite`).
    pub skeletal_overwrite: bool,
    pub url_base: UrlBase,
    pub identifier: Identifier,
    pub barcode: BarcodeRules,
    /// Linked sheets are queued for OCR (`ocr.enabled`).
    pub ocr: bool,
    pub mapping: Mapping,
    pub multi_specimen: MultiSpecimen,
    /// Empty creator and copyright come from the source's EXIF/XMP
    /// (`collection.media_from_exif`).
    pub media_from_exif: bool,
}

impl Config {
    /// File names the drop folders are searched for: the endings of the
    /// formats `derive.formats` takes.
    pub fn accept(&self) -> specdrop_watch::Accept {
        specdrop_watch::Accept::extensions(self.derive.formats.iter().flat_map(|f| f.extensions()))
    }
}

/// Where stored URLs start: a path on the portal's own host (`/imglib`)
/// or an absolute URL of another server (`https://images.example.org/lib`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlBase(String);

impl UrlBase {
    pub fn parse(value: &str) -> Result<UrlBase, String> {
        let trimmed = value.trim().trim_end_matches('/');
        let absolute = ["http://", "https://"]
            .iter()
            .find_map(|scheme| trimmed.strip_prefix(scheme))
            .map(|rest| rest.split('/').next().unwrap_or("").is_empty());
        match absolute {
            Some(false) => {}
            Some(true) => return Err(format!("{value:?} has no host name after the scheme")),
            None if value.starts_with('/') => {}
            None => {
                return Err(format!(
                    "{value:?} must be a path on the portal's host (\"/imglib\") or an absolute http(s) URL; \
                     never a file system path"
                ));
            }
        }
        if trimmed.chars().any(char::is_whitespace) {
            return Err(format!("{value:?} contains white space"));
        }
        Ok(UrlBase(trimmed.to_string()))
    }

    /// The path under the storage root that `url` points to, when it is
    /// under this base.
    pub fn relative<'u>(&self, url: &'u str) -> Option<&'u str> {
        url.strip_prefix(self.0.as_str())?.strip_prefix('/')
    }

    /// The URL of a file at `relative` under the storage root.
    pub fn join(&self, relative: &str) -> String {
        format!("{}/{}", self.0, relative.trim_start_matches('/'))
    }

    /// Every form a row may name the file at `relative` by, asked before
    /// the file is removed: the URL specdrop writes and, under an
    /// absolute base, the same URL by the other scheme (http, https) and
    /// host-relative (the path alone, as rows of a portal on that host
    /// carry it). Under a host-relative base the portal's host is not
    /// known, so only the path is (docs/admin.md).
    pub fn forms(&self, relative: &str) -> Vec<String> {
        let url = self.join(relative);
        let mut forms = vec![url.clone()];
        for (scheme, other) in [("https://", "http://"), ("http://", "https://")] {
            if let Some(rest) = url.strip_prefix(scheme) {
                forms.push(format!("{other}{rest}"));
                if let Some(slash) = rest.find('/') {
                    forms.push(rest[slash..].to_string());
                }
            }
        }
        forms
    }
}

/// Everything wrong with a config file.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{} problem{} in config {}:",
            n,
            if n == 1 { "" } else { "s" },
            self.file.display()
        )?;
        for p in &self.problems {
            match p.line {
                Some(line) => writeln!(f, "  {} (line {line}): {}", p.key, p.message)?,
                None => writeln!(f, "  {}: {}", p.key, p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// What could be read of a config file, mistakes or not, so that `check`
/// can go on to test the folders, the database and the ledger of every
/// part that has no mistake of its own.
#[derive(Debug)]
pub struct Readable {
    /// A part with a mistake holds its default here: ask [`Readable::read`]
    /// before using it. Collections that could not be built are left out.
    pub config: Config,
    pub problems: Vec<Problem>,
    /// The index of each of `config.collections` among the file's
    /// `[[collection]]` tables (the ones that could not be built leave gaps).
    pub collection_index: Vec<usize>,
    lines: HashMap<String, usize>,
}

impl Readable {
    /// Whether `key` (`storage.root`, `collection[1].drop`, `database`) was
    /// read without a mistake: none in it, in a table holding it, or in a
    /// key inside it.
    pub fn read(&self, key: &str) -> bool {
        let within = |inner: &str, outer: &str| {
            inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        !self.problems.iter().any(|p| {
            let problem = p.key.split(['/', ' ']).next().unwrap_or(&p.key);
            within(key, problem) || within(problem, key)
        })
    }

    /// The config file's line for `key`, or for the nearest table holding
    /// it; `None` when neither is in the file (a default).
    pub fn line(&self, key: &str) -> Option<usize> {
        lines::locate(&self.lines, key.split(' ').next().unwrap_or(key))
    }
}

impl Config {
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let readable = Config::read(file)?;
        if readable.problems.is_empty() {
            Ok(readable.config)
        } else {
            Err(ConfigError {
                file: file.to_path_buf(),
                problems: readable.problems,
            })
        }
    }

    /// Every problem of the config file and whatever could still be read;
    /// an error only when nothing could (no file, a TOML syntax error).
    pub fn read(file: &Path) -> Result<Readable, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: file.to_path_buf(),
            problems: vec![Problem {
                key: "(file)".into(),
                line: None,
                message: format!("cannot read it: {e}; pass the right file with --config PATH"),
            }],
        })?;
        let (raw, mut problems) = lines::parse_all::<RawConfig>(&text);
        let Some(raw) = raw else {
            return Err(ConfigError {
                file: file.to_path_buf(),
                problems,
            });
        };
        let base = file.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let base = std::path::absolute(&base).unwrap_or(base);
        let mut found = Vec::new();
        let (config, collection_index) = check(raw, &base, &mut found);
        let lines = lines::key_lines(&text);
        problems.extend(found.into_iter().map(|(key, message)| Problem {
            line: lines::locate(&lines, &key),
            key,
            message,
        }));
        Ok(Readable {
            config: Config {
                file: file.to_path_buf(),
                ..config
            },
            problems,
            collection_index,
            lines,
        })
    }
}

/// The config built from `raw`, each problem sent to `problems`; a value
/// with a problem is left at its default. Beside it, each built
/// collection's index in the file.
fn check(raw: RawConfig, base: &Path, problems: &mut Vec<(String, String)>) -> (Config, Vec<usize>) {
    let mut problem = |key: &str, message: String| problems.push((key.to_string(), message));
    let resolve = |p: &Path| normalize(&base.join(p));

    let database = UrlKeys {
        section: "database",
        env: DATABASE_URL_ENV,
    };
    let database_url = match database.read(&raw.database.url, &raw.database.url_file, base) {
        Ok(url) => resolve_database_url(&url.unwrap_or_else(|| "sqlite://portal.db".into()), base),
        Err((key, message)) => {
            problem(&key, message);
            String::new()
        }
    };
    let ledger_keys = UrlKeys {
        section: "ledger",
        env: LEDGER_URL_ENV,
    };
    let ledger = match ledger_keys.read(&raw.ledger.url, &raw.ledger.url_file, base) {
        Ok(None) => crate::ledger::Place::File(resolve(&raw.state_dir)),
        Ok(Some(url)) if url.starts_with("mysql://") || url.starts_with("mariadb://") => {
            crate::ledger::Place::Server(url)
        }
        Ok(Some(url)) => {
            problem(
                "ledger.url",
                format!(
                    "{:?} is not a MariaDB/MySQL URL; write mysql://user:password@host:3306/specdrop \
                     (or leave [ledger] out for the SQLite file in state_dir)",
                    specdrop_mapper::mask_password(&url)
                ),
            );
            crate::ledger::Place::File(resolve(&raw.state_dir))
        }
        Err((key, message)) => {
            problem(&key, message);
            crate::ledger::Place::File(resolve(&raw.state_dir))
        }
    };
    let instance = raw.daemon.instance.clone().unwrap_or_else(host_name).trim().to_string();
    if instance.is_empty() || instance.chars().count() > 100 || instance.chars().any(char::is_control) {
        problem(
            "daemon.instance",
            format!(
                "{instance:?} must be a name of 1 to 100 printable characters, one per instance (default: the host name)"
            ),
        );
    }
    if raw.daemon.lease_secs < MIN_LEASE_SECS {
        problem(
            "daemon.lease_secs",
            format!(
                "{} is too short: an instance renews its leases every third of it; use at least {MIN_LEASE_SECS} (default 30)",
                raw.daemon.lease_secs
            ),
        );
    }
    let sink = match (raw.sink.kind, &raw.sink.path) {
        (SinkKind::Database, _) => Sink::Database,
        (SinkKind::Log, Some(path)) => Sink::Log(resolve(path)),
        (SinkKind::Log, None) => {
            problem(
                "sink.path",
                "is required with sink.kind = \"log\": the CSV file to append to".into(),
            );
            Sink::Database
        }
    };
    let metrics_listen = raw.metrics.listen.as_deref().and_then(|listen| match listen.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problem(
                "metrics.listen",
                format!("{listen:?} is not an address and port; write e.g. \"127.0.0.1:9184\""),
            );
            None
        }
    });
    let report_folder = raw.report.folder.trim().to_string();
    if report_folder.contains('/') || report_folder == "." || report_folder == ".." {
        problem(
            "report.folder",
            format!(
                "{report_folder:?} must be a plain folder name (made inside each drop folder), or \"\" for no report"
            ),
        );
    }
    if let Some(url) = &raw.report.portal_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        problem(
            "report.portal_url",
            format!("{url:?} must be the portal's http(s) address, e.g. \"https://portal.example.org/portal\""),
        );
    }
    let notify = notify::check(&raw.notify, &resolve, &mut problem);
    for (key, message) in raw.watch.validate() {
        problem(&key, message);
    }
    if raw.workers.memory_mb.is_some_and(|mb| mb < 64) {
        problem(
            "workers.memory_mb",
            "must be at least 64 (default: a quarter of the machine's memory, at least 512)".into(),
        );
    }
    if raw.workers.queue == Some(0) {
        problem("workers.queue", "must be at least 1 (default 64)".into());
    }
    if raw.daemon.retry_parked_mins == 0 {
        problem("daemon.retry_parked_mins", "must be at least 1 (default 30)".into());
    }
    let log_target = match raw.log.target.as_str() {
        "auto" => LogTarget::Auto,
        "journald" => LogTarget::Journald,
        "stderr" => LogTarget::Stderr,
        other => {
            problem(
                "log.target",
                format!("{other:?}: use \"auto\", \"journald\" or \"stderr\""),
            );
            LogTarget::Auto
        }
    };
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&raw.log.filter) {
        problem("log.filter", format!("{:?} is not a valid filter: {e}", raw.log.filter));
    }
    for (key, message) in raw.derive.validate() {
        problem(&key, message);
    }
    let threads = match raw.workers.threads {
        Some(0) => {
            problem("workers.threads", "must be at least 1".into());
            1
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };

    let storage = raw.storage.unwrap_or_default();
    let s3 = storage::check_s3(&storage, &resolve, &mut problem).flatten();
    let mut mode = |key: &str, value: &Option<String>, default: u32| match value {
        None => default,
        Some(text) => match u32::from_str_radix(text.trim_start_matches("0o"), 8) {
            Ok(m) if m <= 0o777 => m,
            _ => {
                problem(
                    key,
                    format!("{text:?} is not a file mode; write it in octal, e.g. \"0644\""),
                );
                default
            }
        },
    };
    let modes = specdrop_derive::store::Modes {
        file: mode("storage.file_mode", &storage.file_mode, 0o644),
        dir: mode("storage.dir_mode", &storage.dir_mode, 0o755),
    };
    let storage_root = match &storage.root {
        Some(root) => Some(resolve(root)),
        // A bucket has no folder; the bucket's keys were checked above.
        None if storage.kind.as_deref() == Some("s3") => None,
        None => {
            problem(
                "storage.root",
                "is required: the folder the portal serves images from".into(),
            );
            None
        }
    };
    let url_base = match storage.url_base.as_deref().map(UrlBase::parse) {
        Some(Ok(base)) => Some(base),
        Some(Err(e)) => {
            problem("storage.url_base", e);
            None
        }
        None if s3.is_some() => {
            problem(
                "storage.url_base",
                "is required: the public start of the objects' URLs, where storage.prefix is served, \
                 e.g. \"https://s3.example.org/bucket/imglib\""
                    .into(),
            );
            None
        }
        None => {
            problem("storage.url_base", "is required, e.g. \"/imglib\"".into());
            None
        }
    };

    let ocr = ocr_config(raw.ocr, &mut problem);
    if ocr.enabled && s3.is_some() {
        problem(
            "ocr.enabled",
            "OCR reads the web images from storage.root; it does not yet read them from a bucket \
             (storage.kind = \"s3\"): set it to false"
                .into(),
        );
    }
    if raw.collection.is_empty() {
        problem(
            "collection",
            "no [[collection]] is configured; nothing would be processed".into(),
        );
    }
    let mut collections = Vec::new();
    let mut collection_index = Vec::new();
    for (i, c) in raw.collection.into_iter().enumerate() {
        let at = |key: &str| format!("collection[{i}].{key}");
        let code = c.code.clone().unwrap_or_default();
        if code.trim().is_empty() {
            problem(&at("code"), "is required (e.g. \"MICH-V\")".into());
        }
        if collections.iter().any(|other: &Collection| other.code == code) {
            problem(&at("code"), format!("{code:?} is used by two collections"));
        }
        let collid = match c.collid {
            Some(id) if id > 0 => id,
            Some(id) => {
                problem(
                    &at("collid"),
                    format!("{id} is not a collection id (omcollections.collID)"),
                );
                0
            }
            None => {
                problem(
                    &at("collid"),
                    "is required: the collection's omcollections.collID".into(),
                );
                0
            }
        };
        let pattern = match c.pattern.as_deref() {
            Some(p) => {
                let replace = c.replace.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
                CatalogPattern::new(p, replace)
                    .map_err(|e| {
                        problem(
                            &at(if e.contains("no capture") {
                                "pattern"
                            } else {
                                "pattern/replace"
                            }),
                            e,
                        )
                    })
                    .ok()
            }
            None => {
                problem(
                    &at("pattern"),
                    "is required: a regex whose group 1 is the catalog number".into(),
                );
                None
            }
        };
        let drop = c.drop.as_deref().map(resolve);
        if drop.is_none() {
            problem(
                &at("drop"),
                "is required: the folder imaging teams copy files into".into(),
            );
        }
        let archive = c
            .archive
            .as_deref()
            .map(resolve)
            .or_else(|| drop.as_deref().map(default_archive));
        if let (Some(drop), Some(archive)) = (&drop, &archive) {
            if archive.starts_with(drop) {
                problem(
                    &at("archive"),
                    format!("{} is inside the drop folder; put it beside it", archive.display()),
                );
            }
            if drop.starts_with(archive) {
                problem(
                    &at("drop"),
                    format!("{} is inside the archive folder {}", drop.display(), archive.display()),
                );
            }
            if let Some(root) = &storage_root {
                for (key, folder) in [("drop", drop), ("archive", archive)] {
                    if folder.starts_with(root) || root.starts_with(folder) {
                        problem(
                            &at(key),
                            format!(
                                "{} overlaps storage.root {}; the image library holds derivatives only",
                                folder.display(),
                                root.display()
                            ),
                        );
                    }
                }
            }
        }
        if let Some(name) = &c.after_batch_procedure
            && let Err(e) = specdrop_mapper::portal::check_procedure_name(name, specdrop_mapper::Backend::MySql)
        {
            problem(&at("after_batch_procedure"), e.to_string());
        }
        let barcode = barcode_rules(&c.barcode, &mut |key, message| problem(&at(key), message));
        // Label text is full of numbers (years, collectors' numbers,
        // elevations): only a pattern of the collection's own finds its
        // catalog number there.
        if c.identifier.reads_text() && c.barcode.pattern.is_none() {
            problem(
                &at("barcode.pattern"),
                "must be set with identifier = \"...-then-ocr\": the label text is searched for this pattern (e.g. \
                 '^MICH[- ]?(\\d{7})$'), and any value would match a year or a collector's number"
                    .into(),
            );
        }
        let collection_url_base = match c.url_base.as_deref().map(UrlBase::parse) {
            Some(Ok(base)) => Some(base),
            Some(Err(e)) => {
                problem(&at("url_base"), e);
                None
            }
            None => url_base.clone(),
        };
        if let (Some(pattern), Some(drop), Some(archive), Some(url_base), Some(barcode)) =
            (pattern, drop, archive, collection_url_base, barcode)
        {
            collections.push(Collection {
                code,
                collid,
                drop,
                archive,
                pattern,
                unmatched: c.unmatched,
                match_rules: c.match_rules,
                existing: c.existing_image,
                fields: c.media,
                after_batch_procedure: c.after_batch_procedure,
                skeletal_overwrite: c.skeletal.overwrite,
                url_base,
                identifier: c.identifier,
                barcode,
                ocr: ocr.enabled,
                mapping: c.mapping,
                multi_specimen: c.multi_specimen,
                media_from_exif: c.media_from_exif,
            });
            collection_index.push(i);
        }
    }

    let remote = remote::check(&raw.remote, &resolve, &mut problem);
    if let Some(copy_dir) = &remote.copy_dir {
        let mut folders = vec![("storage.root".to_string(), storage_root.clone().unwrap_or_default())];
        for (c, i) in collections.iter().zip(&collection_index) {
            folders.push((format!("collection[{i}].drop"), c.drop.clone()));
            folders.push((format!("collection[{i}].archive"), c.archive.clone()));
        }
        remote::check_copy_dir(copy_dir, &folders, &mut problem);
    }
    let config = Config {
        file: PathBuf::new(),
        state_dir: resolve(&raw.state_dir),
        database_url,
        ledger,
        schema: raw.database.schema,
        database_wait: std::time::Duration::from_secs(raw.database.retry_mins.saturating_mul(60)),
        sink,
        storage_root: storage_root.unwrap_or_default(),
        s3,
        modes,
        derive: raw.derive,
        threads,
        queue: raw.workers.queue.unwrap_or(64).max(1),
        memory_mb: raw
            .workers
            .memory_mb
            .unwrap_or_else(crate::memory_budget::default_mb)
            .max(64),
        watch: raw.watch,
        shutdown: std::time::Duration::from_secs(raw.daemon.shutdown_secs),
        retry_parked: std::time::Duration::from_secs(raw.daemon.retry_parked_mins.max(1) * 60),
        instance,
        lease: std::time::Duration::from_secs(raw.daemon.lease_secs.max(MIN_LEASE_SECS)),
        log_filter: raw.log.filter,
        log_target,
        metrics_listen,
        report: ReportConfig {
            folder: (!report_folder.is_empty()).then_some(report_folder),
            portal_url: raw.report.portal_url.map(|u| u.trim_end_matches('/').to_string()),
        },
        notify,
        ocr,
        remote,
        collections,
    };
    (config, collection_index)
}

/// The checked `[ocr]` table; problems go to `problem(key, message)`.
fn ocr_config(section: OcrSection, problem: &mut dyn FnMut(&str, String)) -> OcrConfig {
    if section.threads == 0 {
        problem("ocr.threads", "must be at least 1 (default 1)".into());
    }
    let statuses: Vec<String> = section
        .statuses
        .iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if section.enabled && statuses.is_empty() {
        problem(
            "ocr.statuses",
            "is empty: no record would be read; name at least one processingStatus, e.g. [\"unprocessed\"]".into(),
        );
    }
    OcrConfig {
        enabled: section.enabled,
        statuses,
        threads: section.threads.max(1),
    }
}

/// The checked `barcode` table; problems go to `problem(key, message)`.
fn barcode_rules(section: &BarcodeSection, problem: &mut dyn FnMut(&str, String)) -> Option<BarcodeRules> {
    let symbologies = match &section.symbologies {
        None => Symbology::ALL.to_vec(),
        Some(names) => {
            let mut known = Vec::new();
            for name in names {
                match Symbology::from_name(name) {
                    Some(s) if !known.contains(&s) => known.push(s),
                    Some(_) => {}
                    None => problem(
                        "barcode.symbologies",
                        format!(
                            "{name:?} is not a barcode kind specdrop reads; use \"code39\", \"code128\", \"qr\" or \"datamatrix\""
                        ),
                    ),
                }
            }
            if names.is_empty() {
                problem(
                    "barcode.symbologies",
                    "is empty; name at least one of \"code39\", \"code128\", \"qr\", \"datamatrix\" (or leave it out for all four)".into(),
                );
            }
            known
        }
    };
    let replace = section.replace.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
    let pattern = CatalogPattern::new(section.pattern.as_deref().unwrap_or(ANY_VALUE), replace)
        .map_err(|e| problem("barcode.pattern", e))
        .ok()?;
    (!symbologies.is_empty()).then_some(BarcodeRules {
        symbologies,
        pattern,
        verify: section.verify,
        conflict: section.conflict,
    })
}

/// `<drop>/../<drop name>-archive`: beside the drop folder, never inside.
fn default_archive(drop: &Path) -> PathBuf {
    let name = drop
        .file_name()
        .map_or_else(|| "drop".into(), |n| n.to_string_lossy().into_owned());
    drop.with_file_name(format!("{name}-archive"))
}

/// A section with a database URL: `url`, or `url_file` holding it, or
/// an environment variable overriding both.
struct UrlKeys {
    section: &'static str,
    env: &'static str,
}

impl UrlKeys {
    /// The URL from, in this order, the environment variable,
    /// `url_file` (its first line) or `url`; `None` when none is set.
    fn read(
        &self,
        url: &Option<String>,
        url_file: &Option<PathBuf>,
        base: &Path,
    ) -> Result<Option<String>, (String, String)> {
        let section = self.section;
        if let Ok(url) = std::env::var(self.env)
            && !url.trim().is_empty()
        {
            return Ok(Some(url.trim().to_string()));
        }
        let file_key = format!("{section}.url_file");
        match (url, url_file) {
            (Some(_), Some(_)) => Err((
                file_key,
                format!("set either {section}.url or {section}.url_file, not both"),
            )),
            (Some(url), None) => Ok(Some(url.clone())),
            (None, Some(file)) => {
                let file = normalize(&base.join(file));
                let text = std::fs::read_to_string(&file).map_err(|e| {
                    (
                        file_key.clone(),
                        format!(
                            "cannot read {}: {e}; it holds the database URL (mode 0640, readable by specdrop's group)",
                            file.display()
                        ),
                    )
                })?;
                match text.lines().map(str::trim).find(|l| !l.is_empty()) {
                    Some(url) => Ok(Some(url.to_string())),
                    None => Err((
                        file_key,
                        format!("{} is empty; write the database URL in it", file.display()),
                    )),
                }
            }
            (None, None) => Ok(None),
        }
    }
}

/// A relative `sqlite://PATH` is relative to the config file's folder.
fn resolve_database_url(url: &str, base: &Path) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() && !path.starts_with('/') => {
            format!("sqlite://{}", normalize(&base.join(path)).display())
        }
        _ => url.to_string(),
    }
}

/// Remove `.` and `..` without touching the file system (folders the
/// daemon creates may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_url_forms_are_the_written_one_the_other_scheme_and_the_path() {
        let absolute = UrlBase::parse("https://portal.example/imglib/").expect("an absolute base");
        assert_eq!(
            absolute.forms("MICH/a_tn.jpg"),
            [
                "https://portal.example/imglib/MICH/a_tn.jpg",
                "http://portal.example/imglib/MICH/a_tn.jpg",
                "/imglib/MICH/a_tn.jpg"
            ]
        );
        let path = UrlBase::parse("/imglib").expect("a host-relative base");
        assert_eq!(path.forms("MICH/a_tn.jpg"), ["/imglib/MICH/a_tn.jpg"]);
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().map_err(|e| ConfigError {
            file: PathBuf::new(),
            problems: vec![Problem {
                key: "tempdir".into(),
                line: None,
                message: e.to_string(),
            }],
        })?;
        let file = dir.path().join("specdrop.toml");
        std::fs::write(&file, text).map_err(|e| ConfigError {
            file: file.clone(),
            problems: vec![Problem {
                key: "write".into(),
                line: None,
                message: e.to_string(),
            }],
        })?;
        Config::load(&file)
    }

    const MINIMAL: &str = r#"
state_dir = "var/state"

[database]
url = "sqlite://var/portal.db"

[storage]
root = "var/www/imglib"
url_base = "/imglib"

[[collection]]
code = "MICH-V"
collid = 2
drop = "var/drop/mich"
pattern = '^(MICH-V-\d{7})\D*'
unmatched = "park"
archive = "var/archive/mich"
match = { other_catalog_numbers = true }
"#;

    #[test]
    fn design_minimal_config_loads_with_paths_beside_the_file() -> Result<(), ConfigError> {
        let c = load(MINIMAL)?;
        let base = c.file.parent().map(Path::to_path_buf).unwrap_or_default();
        assert_eq!(c.state_dir, base.join("var/state"));
        assert_eq!(
            c.database_url,
            format!("sqlite://{}", base.join("var/portal.db").display())
        );
        let mich = &c.collections[0];
        assert_eq!(mich.archive, base.join("var/archive/mich"));
        assert!(mich.match_rules.other_catalog_numbers && mich.match_rules.leading_zeros);
        assert_eq!(mich.url_base.join("MICH_Vascular/x.jpg"), "/imglib/MICH_Vascular/x.jpg");
        Ok(())
    }

    #[test]
    fn ocr_is_off_by_default_and_its_keys_are_checked() -> Result<(), ConfigError> {
        let c = load(MINIMAL)?;
        assert!(!c.ocr.enabled && !c.collections[0].ocr);
        assert_eq!(
            (c.ocr.statuses.as_slice(), c.ocr.threads),
            (["unprocessed".to_string()].as_slice(), 1)
        );
        let on = MINIMAL.replace(
            "[storage]",
            "[ocr]\nenabled = true\nstatuses = [\"Unprocessed\", \"pending review\"]\nthreads = 2\n\n[storage]",
        );
        let c = load(&on)?;
        assert!(c.collections[0].ocr, "a collection's sheets are queued");
        assert_eq!(
            c.ocr.statuses,
            ["unprocessed", "pending review"],
            "compared in lower case"
        );
        assert_eq!(c.ocr.threads, 2);
        let bad = on
            .replace("threads = 2", "threads = 0")
            .replace("statuses = [\"Unprocessed\", \"pending review\"]", "statuses = []");
        let err = load(&bad).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("ocr.threads") && err.contains("ocr.statuses"), "{err}");
        Ok(())
    }

    /// The ledger is the SQLite file in state_dir unless `[ledger]` names a
    /// MariaDB/MySQL database; the instance keys are checked by name.
    #[test]
    fn the_ledger_and_the_instance_keys_are_read_and_checked() -> Result<(), ConfigError> {
        let c = load(MINIMAL)?;
        assert_eq!(c.ledger, crate::ledger::Place::File(c.state_dir.clone()));
        assert_eq!(c.lease, std::time::Duration::from_secs(30));
        assert!(!c.instance.is_empty(), "the host name by default");
        let shared = MINIMAL.replace(
            "[database]",
            "[ledger]\nurl = \"mysql://specdrop:pw@db:3306/specdrop\"\n\n[daemon]\ninstance = \"imaging-2\"\nlease_secs = 10\n\n[database]",
        );
        let c = load(&shared)?;
        assert_eq!(
            c.ledger,
            crate::ledger::Place::Server("mysql://specdrop:pw@db:3306/specdrop".into())
        );
        assert_eq!((c.instance.as_str(), c.lease.as_secs()), ("imaging-2", 10));
        let bad = shared
            .replace("mysql://specdrop:pw@db:3306/specdrop", "sqlite://ledger.db")
            .replace("lease_secs = 10", "lease_secs = 1")
            .replace("imaging-2", "");
        let err = load(&bad).err().map(|e| e.to_string()).unwrap_or_default();
        for key in ["ledger.url", "daemon.lease_secs", "daemon.instance"] {
            assert!(err.contains(key), "{key}: {err}");
        }
        let both = shared.replace("[ledger]\n", "[ledger]\nurl_file = \"ledger-url\"\n");
        let err = load(&both).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("set either ledger.url or ledger.url_file"), "{err}");
        Ok(())
    }

    #[test]
    fn default_archive_is_beside_the_drop_folder() -> Result<(), ConfigError> {
        let c = load(&MINIMAL.replace("archive = \"var/archive/mich\"\n", ""))?;
        let base = c.file.parent().map(Path::to_path_buf).unwrap_or_default();
        assert_eq!(c.collections[0].archive, base.join("var/drop/mich-archive"));
        Ok(())
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = MINIMAL
            .replace(r"'^(MICH-V-\d{7})\D*'", r"'^MICH-V-\d{7}'")
            .replace("archive = \"var/archive/mich\"", "archive = \"var/drop/mich/done\"")
            .replace("url_base = \"/imglib\"", "url_base = \"imglib\"")
            .replace("collid = 2", "collid = 0");
        let err = load(&text).err().map(|e| e.to_string()).unwrap_or_default();
        for expected in [
            "collection[0].pattern",
            "no capture group",
            "collection[0].archive",
            "inside the drop folder",
            "storage.url_base",
            "collection[0].collid",
            "4 problems",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
    }

    #[test]
    fn what_could_be_read_is_kept_beside_the_mistakes() {
        let dir = tempfile::tempdir().expect("test setup");
        let file = dir.path().join("specdrop.toml");
        let second = MINIMAL
            .split_once("[[collection]]")
            .map(|(_, c)| c.replace("MICH-V", "MICH-B").replace("mich", "bryo"))
            .expect("MINIMAL has a collection");
        let text = MINIMAL
            .replace("[storage]", "[storage]\nroots = 1")
            .replace(r"'^(MICH-V-\d{7})\D*'", r"'^MICH-V-\d{7}'");
        std::fs::write(
            &file,
            format!("{text}\n[[collection]]{}", second.replace("collid = 2", "collid = 0")),
        )
        .expect("test setup");
        let readable = Config::read(&file).expect("the TOML itself is readable");
        assert_eq!(readable.problems.len(), 3, "{:#?}", readable.problems);
        // The first collection's pattern is wrong: only the second is built.
        assert_eq!(readable.collection_index, [1]);
        assert_eq!(readable.config.collections[0].code, "MICH-B");
        assert!(readable.read("storage.root") && readable.read("database") && readable.read("state_dir"));
        assert!(
            !readable.read("storage"),
            "a mistake inside a table is one of the table's"
        );
        assert!(readable.read("collection[1].drop"));
        assert!(!readable.read("collection[1].collid") && !readable.read("collection[1]"));
        assert!(!readable.read("collection[0].pattern"));
        assert_eq!(readable.line("collection[1].drop"), Some(24));
        assert_eq!(readable.line("collection[1].collid (MICH-B)"), Some(23));
    }

    #[test]
    fn unknown_keys_and_unbuilt_values_are_named() {
        let err = load(&MINIMAL.replace("[storage]", "[storage]\nroots = 1"))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("unknown field `roots`") && e.contains("line")),
            "{err:?}"
        );
        let err = load(&MINIMAL.replace("unmatched = \"park\"", "identifier = \"qr-only\""))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("unknown variant `qr-only`")));
    }

    #[test]
    fn notify_mistakes_are_named_with_their_keys_and_no_secret() {
        let err = load(&MINIMAL.replace(
            "[storage]",
            "[notify]\nemail = \"not an address\"\nsmtp = \"smtp://me:hunter2@mail.example.org\"\n\
             webhook = \"hooks.example.org/T0KEN\"\ndigest_at = \"7am\"\n\n[storage]",
        ))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        for expected in [
            "notify.email (line 8)",
            "notify.smtp (line 9): holds credentials",
            "notify.webhook (line 10)",
            "notify.digest_at (line 11)",
            "4 problems",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
        assert!(!err.contains("hunter2") && !err.contains("T0KEN"), "{err}");

        let c = load(&MINIMAL.replace(
            "[storage]",
            "[notify]\nemail = \"imaging@example.org\"\nsmtp = \"smtp://localhost\"\n\n[storage]",
        ))
        .expect("a minimal [notify]");
        let email = c.notify.email.expect("e-mail is on");
        assert_eq!(
            (email.smtp.address().as_str(), email.from.to_string().as_str()),
            ("smtp://localhost:25", "imaging@example.org")
        );
        assert_eq!(c.notify.digest_at, Some((7, 0)));
        assert!(!load(MINIMAL).expect("no [notify]").notify.is_on());
    }

    #[test]
    fn barcode_rules_are_read_and_checked() {
        let config = load(&MINIMAL.replace(
            "unmatched = \"park\"",
            "identifier = \"filename-then-barcode\"\nbarcode = { symbologies = [\"Code 39\"], pattern = '^(\\d{7})$', \
             replace = ['^', 'MICH-V-'], verify = true, conflict = \"barcode\" }",
        ))
        .expect("test setup");
        let c = &config.collections[0];
        assert_eq!(c.identifier, Identifier::FilenameThenBarcode);
        assert_eq!(c.barcode.symbologies, [Symbology::Code39]);
        assert_eq!(
            c.barcode.pattern.catalog_number("1556924").as_deref(),
            Some("MICH-V-1556924")
        );
        assert_eq!(c.barcode.pattern.catalog_number("QR-1556924"), None);
        assert!(c.barcode.verify);
        assert_eq!(c.barcode.conflict, Conflict::Barcode);

        let defaults = load(MINIMAL).expect("test setup");
        let c = &defaults.collections[0];
        assert_eq!(c.identifier, Identifier::Filename);
        assert_eq!(c.barcode.symbologies, Symbology::ALL);
        assert_eq!(
            c.barcode.pattern.catalog_number(" 0045678 ").as_deref(),
            Some("0045678")
        );
        assert_eq!(c.barcode.conflict, Conflict::Park);

        let err = load(&MINIMAL.replace(
            "unmatched = \"park\"",
            "barcode = { symbologies = [\"ean13\"], pattern = '\\d+' }",
        ))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.contains("collection[0].barcode.symbologies") && err.contains("\"ean13\""),
            "{err}"
        );
        assert!(
            err.contains("collection[0].barcode.pattern") && err.contains("no capture group"),
            "{err}"
        );

        // Searching label text needs the collection's own pattern.
        let err = load(&MINIMAL.replace("unmatched = \"park\"", "identifier = \"barcode-then-ocr\""))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("collection[0].barcode.pattern") && err.contains("-then-ocr"),
            "{err}"
        );
    }

    /// Every key the code reads, as `section.key` (`collection.pattern`,
    /// `derive.large.width`), asked of serde itself: an unknown key in a
    /// table makes it list the table's keys.
    fn keys_known_to_the_code() -> Vec<String> {
        let probes: [(&str, &str); 16] = [
            ("", "zz_probe = 1"),
            ("database", "[database]\nzz_probe = 1"),
            ("ledger", "[ledger]\nzz_probe = 1"),
            ("storage", "[storage]\nzz_probe = 1"),
            ("derive", "[derive]\nzz_probe = 1"),
            ("derive.large", "[derive]\nlarge = { zz_probe = 1 }"),
            ("workers", "[workers]\nzz_probe = 1"),
            ("watch", "[watch]\nzz_probe = 1"),
            ("daemon", "[daemon]\nzz_probe = 1"),
            ("sink", "[sink]\nzz_probe = 1"),
            ("log", "[log]\nzz_probe = 1"),
            ("metrics", "[metrics]\nzz_probe = 1"),
            ("report", "[report]\nzz_probe = 1"),
            ("notify", "[notify]\nzz_probe = 1"),
            ("collection", "[[collection]]\nzz_probe = 1"),
            ("collection.match", "[[collection]]\nmatch = { zz_probe = 1 }"),
        ];
        let more = [
            ("collection.media", "[[collection]]\nmedia = { zz_probe = 1 }"),
            ("collection.barcode", "[[collection]]\nbarcode = { zz_probe = 1 }"),
            ("collection.skeletal", "[[collection]]\nskeletal = { zz_probe = 1 }"),
            ("remote", "[remote]\nzz_probe = 1"),
        ];
        let mut keys = Vec::new();
        for (section, text) in probes.into_iter().chain(more) {
            let message = toml::from_str::<RawConfig>(text)
                .err()
                .map(|e| e.message().to_string())
                .unwrap_or_default();
            let expected = message
                .split_once("expected")
                .map(|(_, list)| list.to_string())
                .unwrap_or_else(|| panic!("{section}: no list of keys in {message:?}"));
            for name in expected.split('`').skip(1).step_by(2) {
                keys.push(if section.is_empty() {
                    name.to_string()
                } else {
                    format!("{section}.{name}")
                });
            }
        }
        keys
    }

    const PACKAGED: &str = include_str!("../../../../packaging/specdrop.toml");

    /// The packaged config with every key uncommented.
    fn uncommented() -> String {
        PACKAGED
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest)
                    if rest.starts_with('[') || rest.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')) =>
                {
                    rest
                }
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_packaged_config_lists_every_key_and_is_valid_uncommented() {
        let text = uncommented();
        let lines = crate::config::lines::key_lines(&text);
        let tables = [
            "derive",
            "collection",
            "database",
            "ledger",
            "storage",
            "workers",
            "watch",
            "daemon",
            "sink",
            "log",
            "notify",
            "remote",
        ];
        for key in keys_known_to_the_code() {
            let path = key.replacen("collection", "collection[0]", 1);
            let (parent, name) = path.rsplit_once('.').unwrap_or(("", &path));
            let listed = lines.contains_key(&path)
                || ["metrics", "report"].contains(&path.as_str())
                || tables.contains(&path.as_str())
                || lines
                    .get(parent)
                    .and_then(|n| text.lines().nth(n - 1))
                    .is_some_and(|line| line.contains(&format!(" {name} =")));
            assert!(listed, "{key} is not in packaging/specdrop.toml");
        }
        // url and url_file are alternatives: one of them at a time.
        let text = text.replace("\nurl_file = ", "\n#url_file = ");
        // Files of secrets read at load: the examples' paths do not exist here.
        let text = text
            .replace("\nsmtp_credentials_file = ", "\n#smtp_credentials_file = ")
            .replace("\nsmtp_ca_file = ", "\n#smtp_ca_file = ")
            // Kept originals need keep_copy = true, which the example leaves off.
            .replace("\ncopy_dir = ", "\n#copy_dir = ");
        // The bucket's keys are the alternative to the folder's (kind = "local").
        let text = [
            "bucket",
            "endpoint",
            "region",
            "prefix",
            "path_style",
            "credentials_file",
            "acl",
        ]
        .iter()
        .fold(text, |text, key| {
            text.replace(&format!("\n{key} = "), &format!("\n#{key} = "))
        });
        let dir = tempfile::tempdir().expect("test setup");
        let file = dir.path().join("specdrop.toml");
        std::fs::write(&file, text).expect("test setup");
        if let Err(e) = Config::load(&file) {
            panic!("{e}");
        }
    }

    #[test]
    fn the_admin_guide_documents_every_key() {
        let guide = include_str!("../../../../docs/admin.md");
        for key in keys_known_to_the_code() {
            // Inline tables' keys are described with their table.
            let shown = match key.matches('.').count() {
                2 => key
                    .rsplit_once('.')
                    .map_or(key.clone(), |(parent, _)| parent.to_string()),
                _ => key.clone(),
            };
            assert!(
                guide.contains(&format!("`{shown}`")),
                "docs/admin.md does not document `{shown}`"
            );
        }
    }

    #[test]
    fn url_bases() {
        assert!(UrlBase::parse("/imglib/").is_ok_and(|b| b.join("a/b.jpg") == "/imglib/a/b.jpg"));
        assert!(
            UrlBase::parse("https://img.example.org/lib")
                .is_ok_and(|b| b.join("a.jpg") == "https://img.example.org/lib/a.jpg")
        );
        assert!(UrlBase::parse("https:///lib").is_err());
        assert!(UrlBase::parse("/var/www/imglib").is_ok(), "a path on the portal host");
        assert!(UrlBase::parse("imglib").is_err());
    }
}
