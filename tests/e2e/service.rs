//! Running it as a service: `check`, `status`, the imaging team's report,
//! metrics, the journal, the systemd drop-in, secrets kept out of the
//! config file, and the modes of what is written.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use crate::support::*;

const SOON: Duration = Duration::from_secs(15);

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// A collection of three waiting files: one with a specimen (occid 202),
/// one without, one that is not an image.
fn three_waiting(env: &Env) {
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    env.drop_sample(SMALL_8, "MICH-V-9999999.jpg");
    env.write_file("var/drop/mich/MICH-V-0045678.jpg", b"not a jpeg at all, just text");
}

#[tokio::test]
async fn check_reports_five_config_mistakes_at_once_with_their_lines() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_file(
        "specdrop.toml",
        format!(
            r#"state_dir = "var/state"

[database]
url = "{}"

[storage]
root = "var/www/imglib"
url_base = "/imglib"
file_mode = "0999"

[workers]
threads = "two"

[log]
level = "debug"

[[collection]]
code = "MICH-V"
collid = 2
drop = "var/drop/mich"
pattern = '^MICH-V-\d{{7}}'
unmatched = "parkk"
"#,
            env.db_url
        )
        .as_bytes(),
    );
    let run = env.cli(&["check"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    for expected in [
        "5 problems",
        "storage.file_mode (line 9)",
        "workers.threads (line 12)",
        "log.level (line 15): unknown field `level`",
        "collection[0].pattern (line 21)",
        "no capture group",
        "collection[0].unmatched (line 22): unknown variant `parkk`",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} missing from:\n{}",
            run.stdout
        );
    }
}

#[tokio::test]
async fn check_says_what_each_waiting_file_would_become_and_writes_nothing() {
    let env = Env::new(Backend::MariaDb).await;
    three_waiting(&env);
    let rows_before = env.image_rows().await;
    let run = env.cli(&["check"]);
    assert_eq!(run.code, 1, "a file would fail:\n{}\n{}", run.stdout, run.stderr);
    let row = |file: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("no row for {file}:\n{}", run.stdout))
            .to_string()
    };
    assert!(
        row("MICH-V-1390993.jpg").contains("link to occid 202"),
        "{}",
        run.stdout
    );
    assert!(
        row("MICH-V-9999999.jpg").contains("park: no specimen"),
        "{}",
        run.stdout
    );
    assert!(row("MICH-V-0045678.jpg").contains("fail:"), "{}", run.stdout);
    assert!(run.stdout.contains("1 waiting file(s) would fail"), "{}", run.stdout);
    assert_eq!(env.image_rows().await, rows_before);
    assert_eq!(env.files_under("var/drop/mich").len(), 3);
    assert!(!env.path("var/drop/mich/_specdrop").exists(), "check writes no report");
    assert!(!env.path("var/www").exists());

    std::fs::remove_file(env.path("var/drop/mich/MICH-V-0045678.jpg")).expect("remove the failing file");
    let run = env.cli(&["check"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("all good"), "{}", run.stdout);
}

#[tokio::test]
async fn check_names_an_unreachable_database_and_a_folder_that_cannot_be_made() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_file("var/not-a-folder", b"a file where a folder is wanted");
    let port = free_port();
    env.edit_config(&env.db_url.clone(), &format!("mysql://root@127.0.0.1:{port}/test"));
    env.edit_config("root = \"var/www/imglib\"", "root = \"var/not-a-folder/imglib\"");
    let run = env.cli(&["check"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("2 problem(s)"), "{}", run.stdout);
    let line = |key: &str| {
        run.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{}", run.stdout))
            .to_string()
    };
    assert!(line("storage.root:").contains("is a file"), "{}", run.stdout);
    assert!(line("database.url:").contains(&port.to_string()), "{}", run.stdout);
}

#[tokio::test]
async fn status_is_zero_before_anything_ran_and_counts_after_a_scan() {
    let env = Env::new(Backend::Sqlite).await;
    let run = env.cli(&["status", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = json(&run.stdout);
    assert!(status["daemon"].is_null());
    assert_eq!(status["total"]["linked"], 0);
    assert_eq!(status["today"]["failed"], 0);
    assert_eq!(status["queue_depth"], 0);
    assert!(!env.path("var/state/ledger.db").exists(), "status creates nothing");

    three_waiting(&env);
    assert_eq!(env.scan().summary(), [1, 1, 0, 1, 0]);
    let status = json(&env.cli(&["status", "--json"]).stdout);
    for (outcome, n) in [("linked", 1), ("parked", 1), ("failed", 1), ("skipped", 0)] {
        assert_eq!(status["total"][outcome], n, "{outcome}: {status}");
        assert_eq!(status["today"][outcome], n, "{outcome}: {status}");
    }
    let parked = status["parked"].as_array().cloned().unwrap_or_default();
    assert_eq!(parked.len(), 1, "{status}");
    assert!(
        parked[0]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("MICH-V-9999999.jpg"))
    );
    assert!(parked[0]["reason"].as_str().is_some_and(|r| r.contains("no specimen")));
    let failures = status["last_failures"].as_array().cloned().unwrap_or_default();
    assert!(
        failures[0]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("MICH-V-0045678.jpg"))
    );

    let human = env.cli(&["status"]);
    assert!(
        human.stdout.contains("total:    1 linked, 1 parked"),
        "{}",
        human.stdout
    );
}

#[tokio::test]
async fn status_while_the_daemon_runs_shows_it() {
    let env = Env::new(Backend::Sqlite).await;
    env.quick_watch("");
    let mut daemon = env.start_watching();
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    daemon.wait_for("MICH-V-1390993.jpg:", SOON);
    // The daemon writes its status every few seconds.
    let status = poll(
        SOON,
        || json(&env.cli(&["status", "--json"]).stdout),
        |status| status["daemon"]["since_start"]["linked"] == 1,
    );
    assert_eq!(status["daemon"]["running"], true, "{status}");
    assert_eq!(status["daemon"]["pid"], daemon.pid(), "{status}");
    assert_eq!(status["daemon"]["since_start"]["linked"], 1, "{status}");
    assert_eq!(status["total"]["linked"], 1, "{status}");
    daemon.stop_cleanly();
    let status = json(&env.cli(&["status", "--json"]).stdout);
    assert_eq!(status["daemon"]["running"], false, "{status}");
}

/// Today's CSV in a report folder (its name is the local date).
fn day_file(dir: &std::path::Path) -> String {
    let name = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.len() == 14 && n.ends_with(".csv") && n.starts_with("20"))
        .unwrap_or_else(|| panic!("no day file in {}", dir.display()));
    std::fs::read_to_string(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn the_imaging_teams_report_lists_every_file_and_is_never_taken_as_an_arrival() {
    let env = Env::new(Backend::Sqlite).await;
    env.edit_config(
        "[[collection]]",
        "[report]\nportal_url = \"https://portal.example.org/portal/\"\n\n[[collection]]",
    );
    three_waiting(&env);
    assert_eq!(env.scan().summary(), [1, 1, 0, 1, 0]);
    let dir = env.path("var/drop/mich/_specdrop");
    let day = day_file(&dir);
    let mut lines = day.lines();
    assert_eq!(
        lines.next(),
        Some("time,file,outcome,reason,catalog_number,occid,specimen,image,number_from,thumbnail,collection,creator")
    );
    let row = |file: &str| {
        day.lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("no row for {file}:\n{day}"))
            .to_string()
    };
    assert!(
        row("MICH-V-1390993.jpg").contains(
            ",linked,,1390993,202,https://portal.example.org/portal/collections/individual/index.php?occid=202,/imglib/"
        ),
        "{day}"
    );
    assert!(
        row("MICH-V-1390993.jpg").contains(",file name,thumbs/")
            && row("MICH-V-1390993.jpg").ends_with("_tn.jpg,MICH-V,"),
        "where the number came from, the thumbnail's copy, the collection: {day}"
    );
    assert!(row("MICH-V-9999999.jpg").contains(",parked,no specimen"), "{day}");
    assert!(row("MICH-V-0045678.jpg").contains(",failed,"), "{day}");

    let waiting = std::fs::read_to_string(dir.join("waiting.csv")).expect("read the report's waiting.csv");
    assert_eq!(
        waiting.lines().count(),
        3,
        "header, the parked and the failed file:\n{waiting}"
    );
    assert!(waiting.contains("MICH-V-9999999.jpg") && waiting.contains("MICH-V-0045678.jpg"));
    assert!(!waiting.contains("1390993"));
    let page = std::fs::read_to_string(dir.join("index.html")).expect("read the report's index.html");
    assert!(
        page.contains("Waiting: 2 file(s)") && page.contains("MICH-V-9999999.jpg"),
        "{page}"
    );
    assert!(page.contains("occid=202"), "{page}");

    // The report's own CSV files are not skeletal data to apply, and a
    // resolved file leaves the waiting list.
    std::fs::remove_file(env.path("var/drop/mich/MICH-V-0045678.jpg")).expect("remove the failing file");
    let again = env.scan();
    assert_eq!(again.summary(), [0, 1, 0, 0, 0], "{}", again.stdout);
    assert!(!again.stdout.contains("_specdrop"), "{}", again.stdout);
    let waiting = std::fs::read_to_string(dir.join("waiting.csv")).expect("read the report's waiting.csv");
    assert_eq!(waiting.lines().count(), 2, "{waiting}");
}

/// A daemon watching with `metrics.listen` on a free port.
fn watching_with_metrics(env: &Env) -> (u16, Daemon) {
    let port = free_port();
    env.quick_watch("");
    env.edit_config(
        "[database]",
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n[database]"),
    );
    (port, env.start_watching())
}

#[tokio::test]
async fn the_daemon_skips_its_report_folder_and_serves_metrics() {
    let env = Env::new(Backend::Sqlite).await;
    let (port, mut daemon) = watching_with_metrics(&env);
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    env.drop_sample(SMALL_8, "MICH-V-9999999.jpg");
    daemon.reports_for(&["MICH-V-1390993.jpg", "MICH-V-9999999.jpg"], SOON);
    // The report is written within a status tick; anything the watcher
    // took from it would show up as an outcome line.
    let dir = env.path("var/drop/mich/_specdrop");
    poll(SOON, || dir.join("index.html").exists(), |exists| *exists);
    assert!(day_file(&dir).contains("MICH-V-1390993.jpg"));
    let quiet = daemon.lines_for(Duration::from_secs(3));
    assert!(quiet.iter().all(|l| !l.contains("_specdrop")), "{quiet:?}");

    let body = http_get(port, "/metrics");
    // Every sample names the instance (by default the host name).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("the host name");
    let label = format!("specdrop_instance=\"{}\"", host.trim());
    let samples = body.lines().filter(|l| !l.starts_with('#'));
    assert!(
        samples.into_iter().all(|l| l.contains(&label)),
        "{label} missing in:\n{body}"
    );
    let body = body
        .replace(&format!("{{{label},"), "{")
        .replace(&format!("{{{label}}}"), "");
    for expected in [
        "specdrop_files_total{outcome=\"linked\"} 1",
        "specdrop_files_total{outcome=\"parked\"} 1",
        "specdrop_processing_seconds_count 2",
        "# TYPE specdrop_processing_seconds histogram",
        "specdrop_database_errors_total 0",
    ] {
        assert!(body.contains(expected), "{expected:?} missing from:\n{body}");
    }
    let written: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("specdrop_bytes_written_total "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let on_disk: u64 = env
        .files_under("var/www/imglib")
        .iter()
        .map(|f| std::fs::metadata(env.path("var/www/imglib").join(f)).map_or(0, |m| m.len()))
        .sum();
    assert_eq!(written, on_disk, "{body}");
    assert!(http_get(port, "/nothing").starts_with("HTTP/1.1 404"));
    daemon.stop_cleanly();
}

/// A flood of silent connections to the metrics port holds at most a few
/// descriptors of the daemon, which goes on linking files.
#[tokio::test]
async fn a_flood_on_the_metrics_port_does_not_starve_the_daemon() {
    let env = Env::new(Backend::Sqlite).await;
    let (port, mut daemon) = watching_with_metrics(&env);
    let open_files = |pid: u32| std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    let before = open_files(daemon.pid());
    // Connections that never send a byte: accepted ones wait for their
    // request, the rest wait in the kernel's backlog.
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let flood: Vec<std::net::TcpStream> = (0..64)
        .filter_map(|_| std::net::TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok())
        .collect();
    assert!(flood.len() >= 32, "only {} connections were made", flood.len());
    let during = poll(Duration::from_secs(2), || open_files(daemon.pid()), |_| false);
    assert!(
        during <= before + 16,
        "the daemon holds {during} descriptors with {} silent clients (had {before})",
        flood.len()
    );
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    let lines = daemon.reports_for(&["MICH-V-1390993.jpg"], SOON);
    assert!(lines.iter().any(|l| l.starts_with("linked")), "{lines:?}");
    drop(flood);
    daemon.stop_cleanly();
}

/// The whole response for `path`, or its body for `/metrics`.
fn http_get(port: u16, path: &str) -> String {
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("metrics port {port}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a read timeout on the metrics connection");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    if path == "/metrics" {
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        return response
            .split_once("\r\n\r\n")
            .map_or(response.clone(), |(_, b)| b.to_string());
    }
    response
}

#[tokio::test]
async fn outcomes_reach_the_journal_with_their_fields() {
    // A socket file whose journald has exited is still there but refuses
    // messages, so try to connect rather than look for the file.
    let socket = std::path::Path::new("/run/systemd/journal/socket");
    if let Err(e) = std::os::unix::net::UnixDatagram::unbound().and_then(|s| s.connect(socket)) {
        let why = format!("journald is not running ({}: {e}); .ci/run starts it", socket.display());
        cannot_run_here("outcomes_reach_the_journal_with_their_fields", &why);
        return;
    }
    let env = Env::new(Backend::Sqlite).await;
    env.edit_config("[database]", "[log]\ntarget = \"journald\"\n\n[database]");
    // A name no earlier run used, to find this run's entries.
    let unique = format!(
        "MICH-V-1390993_{}_{}.jpg",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    env.drop_sample(SMALL_7, &unique);
    let run = env.scan();
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);
    assert!(
        !run.stdout.contains(&unique),
        "outcomes go to the journal, not twice:\n{}",
        run.stdout
    );

    let journal = || {
        let out = std::process::Command::new("journalctl")
            .args(["-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=specdrop"])
            .arg(format!("FILE={unique}"))
            .output()
            .expect("run journalctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = poll(SOON, journal, |text| text.lines().next().is_some());
    let entry = json(
        text.lines()
            .next()
            .unwrap_or_else(|| panic!("no journal entry for {unique}")),
    );
    assert_eq!(entry["OUTCOME"], "linked", "{entry}");
    assert_eq!(entry["COLLECTION"], "MICH-V", "{entry}");
    assert_eq!(entry["CATALOG_NUMBER"], "1390993", "{entry}");
    assert_eq!(entry["NUMBER_FROM"], "filename", "{entry}");
    assert!(entry.get("SYMBOLOGY").is_none(), "no barcode was read: {entry}");
    assert_eq!(entry["OCCID"], "202", "{entry}");
    assert!(
        entry["MEDIA_ID"].as_str().is_some_and(|m| m.parse::<u64>().is_ok()),
        "{entry}"
    );
    assert!(
        entry["ELAPSED_MS"].as_str().is_some_and(|m| m.parse::<u64>().is_ok()),
        "{entry}"
    );
    assert!(
        entry["MESSAGE"].as_str().is_some_and(|m| m.starts_with("linked")),
        "{entry}"
    );
    assert!(entry.get("REASON").is_none(), "a linked file has no reason: {entry}");
    assert_eq!(entry["PRIORITY"], "5", "info is notice (5): {entry}");
}

/// The drop-in's `ReadWritePaths=`, sorted.
fn read_write_paths(run: &Run) -> Vec<String> {
    let line = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("ReadWritePaths="))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let mut paths: Vec<String> = line.split(' ').map(str::to_string).collect();
    paths.sort_unstable();
    paths
}

#[tokio::test]
async fn the_systemd_dropin_opens_exactly_the_configured_folders() {
    let env = Env::new(Backend::Sqlite).await;
    let run = env.cli(&["systemd-dropin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let paths = read_write_paths(&run);
    let base = env.dir.path();
    // The SQLite portal lives in the test folder itself, which holds all
    // the others: one path covers them.
    assert_eq!(paths, [base.display().to_string()], "{}", run.stdout);
    assert!(run.stdout.contains("[Service]"));

    env.edit_config(&env.db_url.clone(), "mysql://root@127.0.0.1:3306/test");
    let run = env.cli(&["systemd-dropin"]);
    let paths = read_write_paths(&run);
    let want: Vec<String> = ["var/archive/mich", "var/drop/mich", "var/state", "var/www/imglib"]
        .iter()
        .map(|p| base.join(p).display().to_string())
        .collect();
    assert_eq!(paths, want, "{}", run.stdout);
    assert!(
        run.stdout.contains("install -d -o specdrop -g specdrop"),
        "missing folders are named"
    );
}

#[tokio::test]
async fn the_database_url_can_come_from_a_file_or_the_environment() {
    let env = Env::new(Backend::MariaDb).await;
    let url = env.db_url.clone();
    env.write_file("secret/db-url", format!("{url}\n").as_bytes());
    env.edit_config(&format!("url = \"{url}\""), "url_file = \"secret/db-url\"");
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);

    // The environment wins over a wrong file.
    env.write_file("secret/db-url", b"mysql://nobody:wrong@127.0.0.1:1/none\n");
    env.drop_sample(SMALL_8, "MICH-V-0045678.jpg");
    let output = env
        .command(&["scan", "--config", "specdrop.toml"])
        .env("SPECDROP_DATABASE_URL", &url)
        .output()
        .expect("run specdrop scan");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("summary: 1 linked"), "{stdout}");

    env.write_file("secret/db-url", b"");
    let run = env.cli(&["check"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("database.url_file") && run.stdout.contains("is empty"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn derivatives_get_the_configured_modes_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new(Backend::Sqlite).await;
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    let run = |dir: &std::path::Path| {
        without_specdrop_env(std::process::Command::new("sh"))
            .args(["-c", "umask 077 && exec \"$0\" scan --config specdrop.toml"])
            .arg(env!("CARGO_BIN_EXE_specdrop"))
            .current_dir(dir)
            .output()
            .expect("run specdrop scan under umask 077")
    };
    assert!(run(env.dir.path()).status.success());
    let mode = |p: std::path::PathBuf| std::fs::metadata(&p).map_or(0, |m| m.permissions().mode() & 0o777);
    // A 1400 px sheet: large and thumbnail (web is the large file).
    let files = env.files_under("var/www/imglib");
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        assert_eq!(mode(env.path("var/www/imglib").join(f)), 0o644, "{f}");
    }
    assert_eq!(mode(env.path("var/www/imglib/MICH_Vascular")), 0o755);

    env.edit_config(
        "url_base = \"/imglib\"",
        "url_base = \"/imglib\"\nfile_mode = \"0640\"\ndir_mode = \"0750\"",
    );
    env.drop_sample(SMALL_8, "MICH-V-0045678.jpg");
    assert!(run(env.dir.path()).status.success());
    let new: Vec<String> = env
        .files_under("var/www/imglib")
        .into_iter()
        .filter(|f| f.contains("0045678"))
        .collect();
    assert_eq!(new.len(), 2, "{new:?}");
    for f in &new {
        assert_eq!(mode(env.path("var/www/imglib").join(f)), 0o640, "{f}");
    }
}
