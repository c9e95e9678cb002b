//! Several instances on one portal: three `specdrop run` processes, each
//! with its own state_dir and one worker thread, on one drop folder and
//! one shared ledger database (MariaDB, fresh, beside a fresh portal).
//! One is SIGKILLed mid-batch and never restarted; the two left must link
//! every file exactly once, leave no derivative without a row, and lose
//! no original. 60 files here; `SPECDROP_FULL=1` makes it 300.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::*;

/// The lease the instances keep (short, so the test sees a takeover soon).
const LEASE_SECS: u64 = 3;

/// One image row for each of the `files` records from occid `first`, every
/// file they point at on disk, and no other derivative there.
async fn assert_each_linked_once(env: &Env, first: u32, files: u32, said: &str) {
    let (table, _) = env.table();
    let rows = env
        .count(&format!(
            "SELECT COUNT(*) FROM {table} WHERE occid BETWEEN {first} AND {}",
            first + files - 1
        ))
        .await;
    assert_eq!(rows, i64::from(files), "one row per sheet:\n{said}");
    let mut referenced = BTreeSet::new();
    for i in 0..files {
        let media = env.media_of(i64::from(first + i)).await;
        assert_eq!(media.len(), 1, "occid {}: {media:?}\n{said}", first + i);
        let (url, thumbnail, original) = &media[0];
        for u in [url, thumbnail, original] {
            let file = env.served(u);
            assert!(file.is_file(), "{u} is in a row but not on disk\n{said}");
            referenced.insert(file);
        }
    }
    let orphans = env.orphans(&referenced);
    assert!(orphans.is_empty(), "derivatives no row points to: {orphans:?}\n{said}");
}

/// The sheets still in the drop folder.
fn jpegs_in_drop(env: &Env) -> Vec<String> {
    env.files_under("var/drop/mich")
        .into_iter()
        .filter(|f| f.ends_with(".jpg"))
        .collect()
}

/// specdrop.toml for instance `i`: its own state_dir and name, the shared
/// ledger, one worker thread.
fn instance_config(env: &Env, i: usize, ledger_url: &str) -> String {
    let base = std::fs::read_to_string(env.path("specdrop.toml")).expect("the test's config");
    let text = base
        .replace("state_dir = \"var/state\"", &format!("state_dir = \"var/state-{i}\""))
        .replace(
            "[database]",
            &format!(
                "[ledger]\nurl = \"{ledger_url}\"\n\n[daemon]\ninstance = \"node-{i}\"\nlease_secs = {LEASE_SECS}\n\n\
                 [workers]\nthreads = 1\n\n[database]"
            ),
        );
    let name = format!("specdrop-{i}.toml");
    env.write_file(&name, text.as_bytes());
    name
}

#[tokio::test]
async fn three_daemons_on_one_shared_ledger_link_each_file_once_when_one_is_killed() {
    let full = std::env::var("SPECDROP_FULL").is_ok_and(|v| v == "1");
    let files: u32 = if full { 300 } else { 60 };
    let env = Env::new(Backend::MariaDb).await;
    env.quick_watch("");
    let ledger_db = crate::mariadb::TestDb::empty().await;
    let configs: Vec<String> = (1..=3).map(|i| instance_config(&env, i, &ledger_db.url)).collect();

    let small = sample(SMALL_7);
    let originals: BTreeSet<String> = env
        .drop_specimens(&small, 7_100_000, 6000, files)
        .await
        .into_iter()
        .collect();

    let mut daemons: Vec<Daemon> = configs.iter().map(|c| env.start_daemon_with(c, &[])).collect();
    // Killed once it has linked a file and is at work on the next ones.
    let linked_line = |l: &String| l.starts_with("linked") && l.contains(" MICH-V ");
    let linked_before_kill = poll(
        Duration::from_secs(60),
        || {
            daemons[1].lines_for(Duration::from_millis(100));
            daemons[1].seen.iter().filter(|l| linked_line(l)).count()
        },
        |n| *n >= 2,
    );
    assert!(
        linked_before_kill >= 2,
        "node-2 linked nothing:\n{}",
        daemons[1].seen.join("\n")
    );
    let killed = daemons.remove(1).kill_hard();
    // It held files when it died: they must be taken over (`taken` is
    // empty at the end).
    let held_when_killed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM taken t JOIN instances i ON i.run = t.run WHERE i.name = 'node-2'")
            .fetch_one(&mut ledger_db.connect().await)
            .await
            .expect("count the killed instance's files");
    let by_killed = killed.iter().filter(|l| linked_line(l)).count();

    let jpegs_left = || jpegs_in_drop(&env);
    let left = poll(
        Duration::from_secs(if full { 600 } else { 120 }),
        jpegs_left,
        Vec::is_empty,
    );
    if !left.is_empty() {
        let mut said = killed.clone();
        for daemon in &mut daemons {
            daemon.lines_for(Duration::from_millis(200));
            said.extend(daemon.seen.clone());
        }
        panic!("files still in the drop folder: {left:?}\n{}", said.join("\n"));
    }

    // The survivors settle what the killed one left: no claim, no lease.
    let mut ledger = ledger_db.connect().await;
    let mut open = Vec::new();
    for table in ["writing", "taken"] {
        let mut n = -1;
        for _ in 0..300 {
            n = sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&mut ledger)
                .await
                .expect("count the shared ledger's rows");
            if n == 0 {
                break;
            }
            daemons[0].lines_for(Duration::from_millis(100));
        }
        open.push((table, n));
    }
    let mut lines = killed.clone();
    for daemon in daemons {
        let mut daemon = daemon;
        daemon.lines_for(Duration::from_millis(500));
        lines.extend(daemon.seen.clone());
        daemon.stop_cleanly();
    }
    let all = lines.join("\n");
    assert!(held_when_killed > 0, "node-2 held no file when it was killed:\n{all}");
    assert_eq!(
        open,
        [("writing", 0), ("taken", 0)],
        "left in the shared ledger:\n{all}"
    );
    for l in &lines {
        assert!(
            !(l.starts_with("failed") || l.contains("NOT archived") || l.contains("panicked")),
            "{l}\n{all}"
        );
    }

    // Every file linked exactly once, each row's files on disk, no other
    // derivative there.
    assert_each_linked_once(&env, 6000, files, &all).await;

    // Nothing lost: every original archived, byte for byte.
    let archived: BTreeSet<String> = env.files_under("var/archive/mich").into_iter().collect();
    assert_eq!(archived, originals, "every original archived once");
    for i in [0, files / 2, files - 1] {
        let number = 7_100_000 + i;
        let kept = std::fs::read(env.path(&format!("var/archive/mich/MICH-V-{number}.jpg"))).expect("archived");
        assert!(
            kept == distinct(&small, &number.to_string()),
            "MICH-V-{number}.jpg changed"
        );
    }
    let linked_in_ledger: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE outcome = 'linked'")
        .fetch_one(&mut ledger)
        .await
        .expect("count the ledger's linked entries");
    assert_eq!(linked_in_ledger, i64::from(files), "one ledger entry per file");

    // `status` shows every instance, the killed one as dead.
    let status = env.run(&["status", "--config", &configs[0]]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    for (name, state) in [("node-1", "stopped"), ("node-2", "dead"), ("node-3", "stopped")] {
        assert!(
            status.stdout.lines().any(|l| l.contains(&format!("{name}  {state}"))),
            "{name} {state}:\n{}",
            status.stdout
        );
    }
    let check = env.run(&["check", "--config", &configs[0]]);
    assert!(
        !check.stdout.contains("ledger.url") && !check.stderr.contains("ledger.url"),
        "{}\n{}",
        check.stdout,
        check.stderr
    );
    eprintln!(
        "{files} files: the killed instance linked {by_killed} and held {held_when_killed} when killed; \
         none lost, none doubled"
    );
}

/// Send `signal` (STOP, CONT) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// An instance paused (SIGSTOP) past its lease while it holds files it has
/// not linked is taken for gone and settled by the other, which links
/// everything else (the paused one's files stay locked by it: flock, one
/// host). Resumed, it links none of what it held, leaves no derivative
/// behind and stops with status 75; started again (as systemd's
/// Restart=on-failure does) it links those files, once.
#[tokio::test]
async fn a_paused_instance_taken_for_gone_links_nothing_twice_and_stops() {
    let files: u32 = 4;
    let env = Env::new(Backend::MariaDb).await;
    env.quick_watch("");
    let ledger_db = crate::mariadb::TestDb::empty().await;
    let configs: Vec<String> = (1..=2).map(|i| instance_config(&env, i, &ledger_db.url)).collect();
    // Full-size sheets: each takes a while to derive, so node-1 is caught
    // holding one it has not linked.
    env.drop_specimens(&sample(FULL_1390992), 7_200_000, 6100, files).await;
    // 0 until node-1 has made the ledger's tables.
    let count = |sql: &'static str| {
        let ledger_db = &ledger_db;
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut ledger_db.connect().await)
                .await
                .unwrap_or(0)
        }
    };
    let held = "SELECT COUNT(*) FROM taken t JOIN instances i ON i.run = t.run WHERE i.name = 'node-1'";
    let settled = "SELECT COUNT(*) FROM instances WHERE name = 'node-1' AND settled IS NOT NULL";
    let mut paused = env.start_daemon_with(&configs[0], &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count(held).await == 0 {
        assert!(std::time::Instant::now() < deadline, "node-1 took no file");
        paused.lines_for(Duration::from_millis(10));
    }
    signal(paused.pid(), "STOP");
    let locked = usize::try_from(count(held).await).expect("a count");
    let mut other = env.start_daemon_with(&configs[1], &[]);
    let jpegs_left = || jpegs_in_drop(&env);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while count(settled).await == 0 || jpegs_left().len() > locked {
        assert!(
            std::time::Instant::now() < deadline,
            "node-2 did not settle node-1 and link the rest: {:?}\n{}",
            jpegs_left(),
            other.seen.join("\n")
        );
        other.lines_for(Duration::from_millis(200));
    }

    signal(paused.pid(), "CONT");
    let code = paused.exit_code(Duration::from_secs(60));
    let resumed = paused.seen.join("\n");
    assert_eq!(code, 75, "node-1 stops to start again as a new session\n{resumed}");
    assert!(resumed.contains("took this one (node-1) for gone"), "{resumed}");
    assert!(!resumed.contains("panicked"), "{resumed}");

    let mut again = env.start_daemon_with(&configs[0], &[]);
    let left = poll(Duration::from_secs(120), jpegs_left, Vec::is_empty);
    again.lines_for(Duration::from_millis(500));
    other.lines_for(Duration::from_millis(500));
    let said = format!(
        "node-1:\n{resumed}\nnode-2:\n{}\nnode-1 again:\n{}",
        other.seen.join("\n"),
        again.seen.join("\n")
    );
    assert!(left.is_empty(), "still in the drop folder: {left:?}\n{said}");
    again.stop_cleanly();
    other.stop_cleanly();

    assert_each_linked_once(&env, 6100, files, &said).await;
    assert_eq!(env.files_under("var/archive/mich").len(), files as usize, "{said}");
    eprintln!("node-1 was paused holding {locked} file(s)\n{said}");
}

/// Forward every connection to `listener` to MariaDB on 127.0.0.1:3306.
fn forward_to_mariadb(listener: std::net::TcpListener) {
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let (Ok(client), Ok(server)) = (client, std::net::TcpStream::connect("127.0.0.1:3306")) else {
                continue;
            };
            for (mut from, mut to) in [
                (
                    client.try_clone().expect("the client socket"),
                    server.try_clone().expect("the server socket"),
                ),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

/// A daemon started while its shared ledger's server does not answer
/// waits for it, saying so, and links once it answers.
#[tokio::test]
async fn a_daemon_waits_for_a_ledger_that_does_not_answer_yet() {
    let env = Env::new(Backend::MariaDb).await;
    env.quick_watch("");
    let ledger_db = crate::mariadb::TestDb::empty().await;
    // A port nothing listens on yet; the ledger answers there later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = ledger_db.url.replace("127.0.0.1:3306", &format!("127.0.0.1:{port}"));
    assert_ne!(url, ledger_db.url, "the test ledger's URL names 127.0.0.1:3306");
    let config = instance_config(&env, 1, &url);
    env.drop_specimens(&sample(SMALL_7), 7_300_000, 6200, 1).await;
    let mut daemon = env.start_daemon_with(&config, &[]);
    // The pool tries for its acquire timeout (30 s) before it gives up.
    daemon.wait_for("does not answer", Duration::from_secs(60));
    forward_to_mariadb(std::net::TcpListener::bind(("127.0.0.1", port)).expect("listen on the ledger's port"));
    daemon.wait_for("linked   MICH-V MICH-V-7300000.jpg", Duration::from_secs(90));
    daemon.stop_cleanly();
    assert_eq!(env.media_of(6200).await.len(), 1);
}
