//! A temporary specdrop installation: config, folders, portal database,
//! and helpers that read like the behaviour under test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Connection, Row};

use crate::mariadb::TestDb;

pub const FULL_1390992: &str = "herb00ic_1390992_MICH-V-1390992_MICH-V-1390992_3753x5634.jpg";
pub const FULL_1449838: &str = "herb00ic_1449838_MICH-V-1449838_MICH-V-1449838_3753x5634.jpg";
pub const SMALL_7: &str = "LM_Validate_LowRes_7.jpg";
pub const SMALL_8: &str = "LM_Validate_LowRes_8.jpg";
pub const SMALL_9: &str = "LM_Validate_LowRes_9.jpg";

/// How long `specdrop run` may take to start watching its drop folders.
const READY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
    /// A portal before Symbiota 3.2: images in `images`.
    MariaDbLegacy,
}

pub fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("sample {} missing: {e}", path.display()))
}

/// `command` without any `SPECDROP_*` variable of this process: an
/// exported `SPECDROP_DATABASE_URL` must not point the suite at a real
/// portal. Every spawn of the binary goes through here; a test sets the
/// variables it means with `.env` afterwards.
pub fn without_specdrop_env(mut command: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if name.as_encoded_bytes().starts_with(b"SPECDROP_") {
            command.env_remove(&name);
        }
    }
    command
}

/// The built `specdrop` binary, without this process's `SPECDROP_*`
/// variables.
pub fn specdrop_command() -> Command {
    without_specdrop_env(Command::new(env!("CARGO_BIN_EXE_specdrop")))
}

/// Ask `probe` every 100 ms until `done` holds for its answer or `within`
/// has passed; the last answer either way (the caller asserts on it).
pub fn poll<T>(within: Duration, mut probe: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + within;
    loop {
        let answer = probe();
        if done(&answer) || Instant::now() >= deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every file below `dir` (hidden ones too, links not followed) with its
/// size.
pub fn files_below(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                todo.push(path);
            } else {
                out.insert(path, meta.len());
            }
        }
    }
    out
}

/// Width and height from a JPEG's SOF marker, read independently of
/// specdrop's own code.
pub fn jpeg_size(data: &[u8]) -> (u32, u32) {
    let mut i = 2;
    while i + 9 < data.len() {
        assert_eq!(data[i], 0xFF, "JPEG marker expected at byte {i}");
        let marker = data[i + 1];
        let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
        if (0xC0..=0xC2).contains(&marker) {
            let h = u16::from_be_bytes([data[i + 5], data[i + 6]]);
            let w = u16::from_be_bytes([data[i + 7], data[i + 8]]);
            return (u32::from(w), u32::from(h));
        }
        i += 2 + len;
    }
    panic!("no SOF marker");
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub db_url: String,
    pub backend: Backend,
    _mariadb: Option<TestDb>,
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The numbers of the summary line, in order linked, parked, skeletal,
    /// failed, skipped.
    pub fn summary(&self) -> [usize; 5] {
        let line = self
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("summary: "))
            .map(|l| l.split(" (run ").next().unwrap_or(l))
            .unwrap_or_else(|| panic!("no summary in:\n{}\n{}", self.stdout, self.stderr));
        let mut out = [0; 5];
        for part in line.split(", ") {
            let (n, kind) = part.split_once(' ').unwrap_or(("0", ""));
            let i = ["linked", "parked", "skeletal", "failed", "skipped"]
                .iter()
                .position(|k| *k == kind)
                .unwrap_or_else(|| panic!("unknown outcome {kind:?} in {line:?}"));
            out[i] = n.parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
        }
        out
    }

    pub fn line_for(&self, file: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.contains(&format!(" {file}:")))
            .unwrap_or_else(|| panic!("no line for {file} in:\n{}", self.stdout))
    }

    /// Assert that the report line of `file` contains `piece`.
    #[track_caller]
    pub fn assert_line(&self, file: &str, piece: &str) {
        assert!(self.line_for(file).contains(piece), "{}", self.stdout);
    }
}

impl Env {
    pub async fn new(backend: Backend) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db_url, mariadb) = match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("portal.db").display());
                let portal = specdrop_mapper::Portal::connect(&url, specdrop_mapper::SchemaChoice::Auto)
                    .await
                    .expect("create the SQLite portal");
                portal
                    .execute_script(crate::mariadb::SEED)
                    .await
                    .expect("seed the SQLite portal");
                portal.close().await;
                (url, None)
            }
            Backend::MariaDb | Backend::MariaDbLegacy => {
                let db = if backend == Backend::MariaDb {
                    TestDb::seeded().await
                } else {
                    TestDb::seeded_legacy().await
                };
                (db.url.clone(), Some(db))
            }
        };
        let env = Env {
            dir,
            db_url,
            backend,
            _mariadb: mariadb,
        };
        env.write_config("");
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The minimal config (README.md's example); `collection_extra` is added
    /// to the `[[collection]]` table.
    pub fn write_config(&self, collection_extra: &str) {
        let text = format!(
            r#"state_dir = "var/state"

[database]
url = "{}"

[storage]
root = "var/www/imglib"
url_base = "/imglib"

[[collection]]
code = "MICH-V"
collid = 2
drop = "var/drop/mich"
pattern = '^MICH-V-(\d{{7}})\D*'
archive = "var/archive/mich"
{collection_extra}
"#,
            self.db_url
        );
        self.write_file("specdrop.toml", text.as_bytes());
    }

    pub fn write_file(&self, rel: &str, bytes: &[u8]) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
        }
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Put a sample sheet into the drop folder under `name`.
    /// A text file (skeletal, links) written into the drop folder at
    /// `rel` and settled: its mtime a minute back, past watch.settle_secs,
    /// so a scan takes it at once.
    pub fn drop_text(&self, rel: &str, bytes: &[u8]) {
        self.write_file(rel, bytes);
        let settled = std::time::SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(self.path(rel))
            .and_then(|f| f.set_modified(settled))
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
    }

    pub fn drop_sample(&self, sample_name: &str, name: &str) {
        self.write_file(&format!("var/drop/mich/{name}"), &sample(sample_name));
    }

    /// The binary with `args`, in the installation's folder, without this
    /// process's `SPECDROP_*` variables.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = specdrop_command();
        command.args(args).current_dir(self.dir.path());
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self
            .command(args)
            .env_remove("RUST_LOG")
            .output()
            .expect("run the specdrop binary");
        Run::from(output)
    }

    /// `specdrop ARGS --config specdrop.toml`.
    pub fn cli(&self, args: &[&str]) -> Run {
        self.run(&[args, &["--config", "specdrop.toml"]].concat())
    }

    pub fn scan(&self) -> Run {
        self.cli(&["scan"])
    }

    /// The config file's text with `from` replaced by `to`.
    pub fn edit_config(&self, from: &str, to: &str) {
        let path = self.path("specdrop.toml");
        let text = std::fs::read_to_string(&path).expect("read specdrop.toml");
        assert!(text.contains(from), "{from:?} not in the config");
        std::fs::write(&path, text.replace(from, to)).expect("write specdrop.toml");
    }

    pub async fn db(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.db_url)
            .await
            .expect("connect to the test portal")
    }

    /// Run `sql` (one or more statements) on the portal.
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.db().await;
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.db().await;
        let row = sqlx::query(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        row.try_get::<i64, _>(0).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// specdrop's ledger (`var/state/ledger.db`).
    pub async fn ledger(&self) -> sqlx::SqliteConnection {
        use sqlx::Connection as _;
        let url = format!("sqlite://{}", self.path("var/state/ledger.db").display());
        sqlx::SqliteConnection::connect(&url).await.expect("open the ledger")
    }

    /// Claims in the ledger not yet settled (claims.rs).
    pub async fn open_claims(&self) -> i64 {
        let mut ledger = self.ledger().await;
        sqlx::query("SELECT COUNT(*) FROM writing")
            .fetch_one(&mut ledger)
            .await
            .expect("count the ledger's claims")
            .try_get(0)
            .expect("a count")
    }

    /// The image table and its id column.
    pub fn table(&self) -> (&'static str, &'static str) {
        match self.backend {
            Backend::MariaDbLegacy => ("images", "imgid"),
            _ => ("media", "mediaID"),
        }
    }

    /// Rows in the image table.
    pub async fn image_rows(&self) -> i64 {
        self.count(&format!("SELECT COUNT(*) FROM {}", self.table().0)).await
    }

    /// (url, thumbnailUrl, originalUrl) of every image row of `occid`.
    pub async fn media_of(&self, occid: i64) -> Vec<(String, String, String)> {
        let mut conn = self.db().await;
        let (table, id) = self.table();
        let sql = format!("SELECT url, thumbnailUrl, originalUrl FROM {table} WHERE occid = ? ORDER BY {id}");
        let rows = sqlx::query(&sql)
            .bind(occid)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter()
            .map(|r| {
                let t = |i: usize| r.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_default();
                (t(0), t(1), t(2))
            })
            .collect()
    }

    /// The file a relative URL (`/imglib/...`) points to.
    pub fn served(&self, url: &str) -> PathBuf {
        let rel = url
            .strip_prefix("/imglib/")
            .unwrap_or_else(|| panic!("{url} does not start with the url_base /imglib/"));
        self.path("var/www/imglib").join(rel)
    }

    /// Width and height of the file behind a URL (which must exist).
    pub fn served_size(&self, url: &str) -> (u32, u32) {
        let path = self.served(url);
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{url} -> {}: {e}", path.display()));
        jpeg_size(&data)
    }

    /// `count` sheets in the drop folder, `MICH-V-<first_number + i>.jpg`,
    /// each a distinct copy of `sheet` (tagged with its number) whose
    /// record exists (occid `first_occid + i`); their names.
    pub async fn drop_specimens(&self, sheet: &[u8], first_number: u32, first_occid: u32, count: u32) -> Vec<String> {
        let mut names = Vec::new();
        for i in 0..count {
            let number = first_number + i;
            self.execute(&format!(
                "INSERT INTO omoccurrences (occid, collid, catalogNumber) VALUES ({}, 2, '{number}')",
                first_occid + i
            ))
            .await;
            let name = format!("MICH-V-{number}.jpg");
            self.write_file(&format!("var/drop/mich/{name}"), &distinct(sheet, &number.to_string()));
            names.push(name);
        }
        names
    }

    /// Files in the image library that are not in `referenced` (what
    /// rows point to): orphaned derivatives, or temporary files.
    pub fn orphans(&self, referenced: &BTreeSet<PathBuf>) -> Vec<PathBuf> {
        let library = self.path("var/www/imglib");
        self.files_under("var/www/imglib")
            .iter()
            .map(|f| library.join(f))
            .filter(|f| !referenced.contains(f))
            .collect()
    }

    /// Every file below a folder of the installation, relative, sorted.
    /// Files below `rel`, without the imaging team's report folder
    /// (`_specdrop`), which tests of the report look at themselves.
    pub fn files_under(&self, rel: &str) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() && entry.file_name() == "_specdrop" {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, base, out);
                } else if let Ok(r) = path.strip_prefix(base) {
                    out.push(r.display().to_string());
                }
            }
        }
        let base = self.path(rel);
        let mut out = Vec::new();
        walk(&base, &base, &mut out);
        out.sort();
        out
    }
}

/// A port on 127.0.0.1 that nothing listens on (at the moment of asking).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port on 127.0.0.1");
    listener.local_addr().map(|a| a.port()).expect("the bound address")
}

/// The test server's `host:port` in `url` (from SPECDROP_TEST_MARIADB, or
/// the default), and `url` with that replaced by 127.0.0.1:`port`: the
/// address of a [`Proxy`] in front of it.
pub fn through_port(url: &str, port: u16) -> (String, String) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let host_start = rest[..authority_end].rfind('@').map_or(0, |i| i + 1);
    let server = rest[host_start..authority_end].to_string();
    let proxied = format!(
        "{}127.0.0.1:{port}{}",
        &url[..after_scheme + host_start],
        &rest[authority_end..]
    );
    let server = if server.contains(':') {
        server
    } else {
        format!("{server}:3306")
    };
    (server, proxied)
}

/// A TCP forwarder from 127.0.0.1:`from` to `to` (`host:port`), for as long as
/// it lives: lets a test decide when "the database" is reachable. While it
/// is down (`set_up(false)`) its port refuses connections and the ones it
/// was carrying are cut, as when a database server goes away.
pub struct Proxy {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    pub fn start(from: u16, to: &str) -> Proxy {
        let to = to.to_string();
        use std::sync::atomic::{AtomicBool, Ordering};
        let bind = move || {
            let listener =
                std::net::TcpListener::bind(("127.0.0.1", from)).unwrap_or_else(|e| panic!("proxy port {from}: {e}"));
            listener.set_nonblocking(true).expect("a non-blocking listener");
            listener
        };
        let mut listener = Some(bind());
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let up = std::sync::Arc::new(AtomicBool::new(true));
        let (stopped, is_up) = (stop.clone(), up.clone());
        std::thread::spawn(move || {
            let mut carried: Vec<std::net::TcpStream> = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                match (is_up.load(Ordering::Relaxed), listener.is_some()) {
                    (false, true) => {
                        listener = None;
                        for stream in carried.drain(..) {
                            let _ = stream.shutdown(std::net::Shutdown::Both);
                        }
                    }
                    (true, false) => listener = Some(bind()),
                    _ => {}
                }
                let Some(open) = &listener else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                match open.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = std::net::TcpStream::connect(to.as_str()) else {
                            continue;
                        };
                        let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
                            continue;
                        };
                        carried.extend(client.try_clone().ok());
                        carried.extend(server.try_clone().ok());
                        let (mut c1, mut s1) = (client, server);
                        std::thread::spawn(move || std::io::copy(&mut c1, &mut s1));
                        std::thread::spawn(move || std::io::copy(&mut s2, &mut c2));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => break,
                }
            }
        });
        Proxy { stop, up }
    }

    /// Take "the database" away (`false`) or give it back (`true`).
    pub fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `sample` made distinct by a JPEG comment segment carrying `tag`, so
/// every copy has its own content hash.
pub fn distinct(sample: &[u8], tag: &str) -> Vec<u8> {
    let text = format!("specdrop test copy {tag}");
    let len = u16::try_from(text.len() + 2).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(sample.len() + text.len() + 4);
    out.extend_from_slice(&sample[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&sample[2..]);
    out
}

/// A running `specdrop run`, its output read line by line.
pub struct Daemon {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every line read so far (stdout and stderr, in arrival order).
    pub seen: Vec<String>,
}

impl Env {
    /// Settle and poll in one second, so tests run quickly.
    pub fn quick_watch(&self, extra: &str) {
        self.edit_config(
            "[database]",
            &format!("[watch]\nsettle_secs = 1\npoll_secs = 1\n{extra}\n\n[database]"),
        );
    }

    /// `specdrop run`, with `env` added to its environment, its output
    /// read line by line from the start.
    pub fn start_daemon(&self, env: &[(&str, &str)]) -> Daemon {
        self.start_daemon_with("specdrop.toml", env)
    }

    /// [`Env::start_daemon`] on the config file `config`.
    pub fn start_daemon_with(&self, config: &str, env: &[(&str, &str)]) -> Daemon {
        self.start(&["run", "--config", config], env)
    }

    /// `specdrop ARGS` (any command that runs a while: `run`, `rebuild`),
    /// with `env` added, its output read line by line from the start.
    pub fn start(&self, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        use std::io::BufRead;
        let mut child = self
            .command(args)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start specdrop");
        let (tx, lines) = std::sync::mpsc::channel();
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout is piped")),
            Box::new(child.stderr.take().expect("stderr is piped")),
        ];
        for stream in streams {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Daemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// `specdrop run`, once it says that it is watching its drop folders.
    pub fn start_watching(&self) -> Daemon {
        let mut daemon = self.start_daemon(&[]);
        daemon.wait_for("watching", READY);
        daemon
    }
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first line from now on containing `needle`.
    pub fn wait_for(&mut self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line containing {needle:?} within {within:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The outcome lines of `file` seen so far.
    pub fn seen_for(&self, file: &str) -> Vec<String> {
        let needle = format!(" {file}:");
        self.seen.iter().filter(|l| l.contains(&needle)).cloned().collect()
    }

    /// The report line of each file in `files` (seen before or arriving
    /// within `within`), in the order of `files`.
    pub fn reports_for(&mut self, files: &[&str], within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let find = |seen: &[String], file: &str| seen.iter().find(|l| l.contains(&format!(" {file}:"))).cloned();
        while files.iter().any(|f| find(&self.seen, f).is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "not every one of {files:?} was reported; output:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
        files.iter().filter_map(|f| find(&self.seen, f)).collect()
    }

    /// Lines arriving within `quiet` (a bounded look for something that
    /// must not happen).
    pub fn lines_for(&mut self, quiet: Duration) -> Vec<String> {
        let deadline = Instant::now() + quiet;
        let mut got = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line.clone());
            got.push(line);
        }
        got
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Peak resident memory so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// The next line, if one arrives within `within`.
    pub fn next_line(&mut self, within: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(within).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// SIGKILL (no chance to clean up anything), wait until the process is
    /// gone, and return every line it wrote.
    pub fn kill_hard(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.lines_for(Duration::from_millis(100));
        std::mem::take(&mut self.seen)
    }

    /// SIGTERM; the daemon must exit with status 0 within 10 s.
    #[track_caller]
    pub fn stop_cleanly(self) {
        let (code, _, _) = self.stop(Duration::from_secs(10));
        assert_eq!(code, Some(0));
    }

    /// SIGTERM, then wait (at most `within`) for the exit code.
    pub fn stop(mut self, within: Duration) -> (Option<i32>, Duration, Vec<String>) {
        let asked = Instant::now();
        self.signal("TERM");
        let deadline = asked + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let took = asked.elapsed();
                let rest = self.lines_for(Duration::from_millis(200));
                return (status.code(), took, rest);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "specdrop run did not exit within {within:?}; output:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Daemon {
    /// Wait (at most `within`, reading its output) for the process to end
    /// by itself; its exit code.
    pub fn exit_code(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        loop {
            self.lines_for(Duration::from_millis(100));
            if let Ok(Some(status)) = self.child.try_wait() {
                self.lines_for(Duration::from_millis(200));
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                panic!(
                    "specdrop did not end within {within:?}; output:\n{}",
                    self.seen.join("\n")
                );
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test that cannot run on this machine (no root for a mount, no
/// journald): a loud message, and a failure where `.ci/run` has set
/// SPECDROP_REQUIRE_ALL=1, so CI never counts it as passed.
pub fn cannot_run_here(test: &str, why: &str) {
    let message = format!("{test} cannot run here: {why}");
    if std::env::var_os(REQUIRE_ALL).is_some_and(|v| v == "1") {
        panic!("{message} (and {REQUIRE_ALL}=1 requires every test to run)");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
}

pub const REQUIRE_ALL: &str = "SPECDROP_REQUIRE_ALL";

#[test]
fn through_port_keeps_the_user_and_the_database() {
    assert_eq!(
        through_port("mysql://root@127.0.0.1:3306", 4000),
        ("127.0.0.1:3306".to_string(), "mysql://root@127.0.0.1:4000".to_string())
    );
    assert_eq!(
        through_port("mysql://u:p@db.example:3307/specdrop_t1", 4000),
        (
            "db.example:3307".to_string(),
            "mysql://u:p@127.0.0.1:4000/specdrop_t1".to_string()
        )
    );
    assert_eq!(
        through_port("mysql://root@db/x", 4000),
        ("db:3306".to_string(), "mysql://root@127.0.0.1:4000/x".to_string())
    );
}
