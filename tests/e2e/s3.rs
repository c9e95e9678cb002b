//! `storage.kind = "s3"` against a real S3-compatible server: s3s-fs
//! (`.ci/run` installs it), started per test on 127.0.0.1 with a
//! temporary root. What the bucket holds is read from that root's files,
//! not through specdrop's own client.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{
    Backend, Env, FULL_1390992, FULL_1449838, SMALL_7, SMALL_8, cannot_run_here, files_below, free_port, jpeg_size,
    poll, without_specdrop_env,
};

const BUCKET: &str = "herbarium";
const PREFIX: &str = "imglib";
const KEY: &str = "AKIDSPECDROPTEST";
const SECRET: &str = "specdrop-test-secret-key";

/// A running s3s-fs on 127.0.0.1, killed when dropped.
pub struct S3Server {
    child: Option<Child>,
    binary: PathBuf,
    pub port: u16,
    pub root: tempfile::TempDir,
}

/// The server binary: `SPECDROP_S3S_FS`, else `s3s-fs` on PATH or in
/// ~/.cargo/bin (where `cargo install` puts it).
fn server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SPECDROP_S3S_FS") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("s3s-fs")).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/s3s-fs"));
    on_path.into_iter().chain(cargo_bin).find(|p| p.is_file())
}

impl S3Server {
    /// `None` (and the test says why) when s3s-fs is not installed.
    pub fn start(test: &str) -> Option<S3Server> {
        let Some(binary) = server_binary() else {
            cannot_run_here(
                test,
                "no s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary --locked; .ci/run does)",
            );
            return None;
        };
        let root = tempfile::tempdir().expect("a temporary root for the server");
        std::fs::create_dir(root.path().join(BUCKET)).expect("the bucket is a folder of the root");
        let mut server = S3Server {
            child: None,
            binary,
            port: free_port(),
            root,
        };
        server.up();
        Some(server)
    }

    /// Start it (again) on its port; returns once it accepts connections.
    pub fn up(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", KEY, "--secret-key", SECRET])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        let listening = poll(
            Duration::from_secs(20),
            || std::net::TcpStream::connect(&addr).is_ok(),
            |up| *up,
        );
        assert!(listening, "s3s-fs did not listen on {addr}");
    }

    /// Stop it: its port refuses connections.
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url_base(&self) -> String {
        format!("{}/{BUCKET}/{PREFIX}", self.endpoint())
    }

    /// Every object in the bucket: key -> bytes (s3s-fs keeps each as a
    /// file below the bucket's folder).
    pub fn objects(&self) -> Vec<(String, Vec<u8>)> {
        let bucket = self.root.path().join(BUCKET);
        files_below(&bucket)
            .into_keys()
            .map(|path| {
                let key = path
                    .strip_prefix(&bucket)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                (key, data)
            })
            .collect()
    }

    /// The attributes s3s-fs keeps for each object (content type, cache
    /// control...), as the text of its metadata files beside the bucket.
    pub fn attributes(&self) -> Vec<String> {
        std::fs::read_dir(self.root.path())
            .expect("the server's root")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".metadata.json"))
            .map(|e| std::fs::read_to_string(e.path()).expect("a metadata file"))
            .collect()
    }

    pub fn keys(&self) -> Vec<String> {
        self.objects().into_iter().map(|(k, _)| k).collect()
    }

    /// The object a row's URL points at (url_base + the key below the prefix).
    pub fn object_of(&self, url: &str) -> Option<Vec<u8>> {
        let base = format!("{}/", self.url_base());
        let below = url.strip_prefix(&base)?;
        std::fs::read(self.root.path().join(BUCKET).join(PREFIX).join(below)).ok()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.down();
    }
}

/// `env` stores into `server`'s bucket, with credentials from a file.
pub fn use_bucket(env: &Env, server: &S3Server) {
    use std::os::unix::fs::PermissionsExt as _;
    env.write_file(
        "s3-credentials",
        format!("[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n").as_bytes(),
    );
    std::fs::set_permissions(env.path("s3-credentials"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod the credentials file");
    env.edit_config(
        "[storage]\nroot = \"var/www/imglib\"\nurl_base = \"/imglib\"",
        &format!(
            "[storage]\nkind = \"s3\"\nbucket = \"{BUCKET}\"\nendpoint = \"{}\"\nprefix = \"{PREFIX}\"\n\
             url_base = \"{}\"\ncredentials_file = \"s3-credentials\"",
            server.endpoint(),
            server.url_base()
        ),
    );
}

#[tokio::test]
async fn a_scan_puts_three_objects_under_the_prefix_and_the_next_overwrites_none() {
    let Some(server) = S3Server::start("s3 scan") else {
        return;
    };
    let env = Env::new(Backend::Sqlite).await;
    use_bucket(&env, &server);
    env.drop_sample(FULL_1390992, "MICH-V-1390992.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);
    assert!(!env.path("var/www/imglib").exists(), "nothing on disk");

    let media = env.media_of(201).await;
    assert_eq!(media.len(), 1, "{media:?}");
    let (url, thumbnail, original) = &media[0];
    for (u, size) in [(url, (1400, 2102)), (thumbnail, (200, 300)), (original, (3200, 4804))] {
        assert!(u.starts_with(&format!("{}/", server.url_base())), "{u}");
        let data = server.object_of(u).unwrap_or_else(|| panic!("no object behind {u}"));
        assert_eq!(jpeg_size(&data), size, "{u}");
    }
    let first = server.objects();
    assert_eq!(first.len(), 3, "{:?}", server.keys());
    assert!(
        first.iter().all(|(k, _)| k.starts_with(&format!("{PREFIX}/"))),
        "{:?}",
        server.keys()
    );
    assert_eq!(env.open_claims().await, 0, "claims released once the row was in");
    let attributes = server.attributes();
    assert_eq!(attributes.len(), 3, "{attributes:?}");
    for a in &attributes {
        assert!(
            a.contains("image/jpeg") && a.contains("public, max-age=31536000, immutable"),
            "{a}"
        );
    }
    let check = env.cli(&["check"]);
    assert!(
        check.stdout.contains("listed prefix \"imglib\" (not empty)"),
        "{}",
        check.stdout
    );

    // Another sheet under the same name: a new set beside the first, the
    // first set's objects untouched.
    env.drop_sample(FULL_1449838, "MICH-V-1390992.jpg");
    let second = env.scan();
    assert_eq!(
        second.summary(),
        [1, 0, 0, 0, 0],
        "{}\n{}",
        second.stdout,
        second.stderr
    );
    let after = server.objects();
    assert_eq!(after.len(), 6, "{:?}", server.keys());
    for (key, data) in &first {
        let now = after.iter().find(|(k, _)| k == key).map(|(_, d)| d);
        assert_eq!(now, Some(data), "{key} was overwritten");
    }
    let media = env.media_of(201).await;
    assert_eq!(media.len(), 2, "{media:?}");
    assert!(media[1].0.ends_with("MICH-V-1390992_1_med.jpg"), "{media:?}");
}

#[tokio::test]
async fn an_object_already_at_a_key_is_left_and_the_set_takes_the_next_name() {
    let Some(server) = S3Server::start("s3 existing object") else {
        return;
    };
    let env = Env::new(Backend::Sqlite).await;
    use_bucket(&env, &server);
    // Learn where the sheet goes, then take it back out of the portal.
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);
    let (url, _, _) = env.media_of(201).await.remove(0);
    // A small sheet: its large image serves as the web image, two objects.
    assert_eq!(server.keys().len(), 2, "{:?}", server.keys());
    let web_key = server
        .keys()
        .into_iter()
        .find(|k| !k.ends_with("_tn.jpg"))
        .expect("a web object");
    assert!(url.ends_with(&web_key), "{url} {web_key}");
    let undo = env.cli(&["undo", "var/drop/mich/MICH-V-1390992.jpg"]);
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    assert!(
        server.keys().is_empty(),
        "undo removes the objects: {:?}",
        server.keys()
    );

    // Someone else's object at the web image's key.
    let theirs = b"not specdrop's".to_vec();
    let planted = server.root.path().join(BUCKET).join(&web_key);
    std::fs::create_dir_all(planted.parent().expect("a folder")).expect("mkdir");
    std::fs::write(&planted, &theirs).expect("plant an object");
    // Another small sheet under the same name (undo brought the first one
    // back, and would not link it again).
    env.drop_sample(SMALL_8, "MICH-V-1390992.jpg");
    let again = env.scan();
    assert_eq!(again.summary(), [1, 0, 0, 0, 0], "{}\n{}", again.stdout, again.stderr);
    assert_eq!(
        std::fs::read(&planted).expect("still there"),
        theirs,
        "never overwritten"
    );
    let (url, _, _) = env.media_of(201).await.remove(0);
    assert!(url.ends_with("MICH-V-1390992_1.jpg"), "{url}");
    assert!(server.object_of(&url).is_some(), "{url}");
    // The planted object and the new set of two, nothing of the name in use.
    assert_eq!(server.keys().len(), 3, "{:?}", server.keys());
}

#[tokio::test]
async fn a_replaced_image_takes_its_old_objects_with_it() {
    let Some(server) = S3Server::start("s3 replace") else {
        return;
    };
    let env = Env::new(Backend::Sqlite).await;
    env.write_config("existing_image = \"replace\"");
    use_bucket(&env, &server);
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    let first = env.scan();
    assert_eq!(first.summary(), [1, 0, 0, 0, 0], "{}\n{}", first.stdout, first.stderr);
    let old = server.keys();
    assert_eq!(old.len(), 2, "{old:?}");
    env.drop_sample(SMALL_8, "MICH-V-1390992.jpg");
    let second = env.scan();
    assert_eq!(
        second.summary(),
        [1, 0, 0, 0, 0],
        "{}\n{}",
        second.stdout,
        second.stderr
    );
    assert!(
        second.line_for("MICH-V-1390992.jpg").contains("2 old file(s) removed"),
        "{}",
        second.stdout
    );
    let now = server.keys();
    assert_eq!(now.len(), 2, "only the new set: {now:?}");
    assert!(old.iter().all(|k| !now.contains(k)), "old {old:?} now {now:?}");
    let media = env.media_of(201).await;
    assert_eq!(media.len(), 1, "{media:?}");
    assert!(server.object_of(&media[0].0).is_some(), "{media:?}");
}

#[tokio::test]
async fn an_unreachable_bucket_leaves_the_file_for_the_next_run() {
    let Some(mut server) = S3Server::start("s3 down") else {
        return;
    };
    let env = Env::new(Backend::Sqlite).await;
    use_bucket(&env, &server);
    env.edit_config("[database]\n", "[database]\nretry_mins = 0\n");
    server.down();
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [0, 0, 0, 0, 1], "{}\n{}", run.stdout, run.stderr);
    let line = run.line_for("MICH-V-1390992.jpg");
    assert!(
        line.contains("storage unavailable") && line.contains("next run"),
        "{line}"
    );
    assert!(
        env.path("var/drop/mich/MICH-V-1390992.jpg").exists(),
        "left in the drop folder"
    );
    assert!(env.media_of(201).await.is_empty());

    server.up();
    let next = env.scan();
    assert_eq!(next.summary(), [1, 0, 0, 0, 0], "{}\n{}", next.stdout, next.stderr);
    assert_eq!(server.keys().len(), 2, "{:?}", server.keys());
}

#[tokio::test]
async fn the_daemon_waits_for_the_bucket_and_links_when_it_is_back() {
    let Some(mut server) = S3Server::start("s3 daemon outage") else {
        return;
    };
    let env = Env::new(Backend::Sqlite).await;
    use_bucket(&env, &server);
    env.quick_watch("");
    server.down();
    let mut daemon = env.start_watching();
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    let warning = daemon.wait_for("storage unavailable", Duration::from_secs(60));
    assert!(warning.contains(&format!("127.0.0.1:{}", server.port)), "{warning}");
    assert!(
        daemon.seen_for("MICH-V-1390992.jpg").is_empty(),
        "not failed or parked: {:?}",
        daemon.seen
    );
    server.up();
    let linked = daemon.wait_for("MICH-V-1390992.jpg:", Duration::from_secs(90));
    assert!(linked.starts_with("linked"), "{linked}");
    assert_eq!(server.keys().len(), 2, "{:?}", server.keys());
    daemon.stop_cleanly();
}

#[tokio::test]
async fn check_lists_the_bucket_and_writes_one_probe_it_deletes() {
    let Some(mut server) = S3Server::start("s3 check") else {
        return;
    };
    let env = Env::new(Backend::Sqlite).await;
    use_bucket(&env, &server);
    let run = env.cli(&["check"]);
    assert!(
        run.stdout.contains("listed prefix \"imglib\" (empty)")
            && run.stdout.contains("wrote the probe object")
            && run.stdout.contains("deleted it again"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(server.keys().is_empty(), "the probe is gone: {:?}", server.keys());
    let said = |run: &crate::support::Run| format!("{}{}", run.stdout, run.stderr);
    assert!(!said(&run).contains(SECRET) && !said(&run).contains(KEY));

    // The wrong secret: refused, named, and the secret never shown.
    env.write_file(
        "s3-credentials",
        format!("aws_access_key_id = {KEY}\naws_secret_access_key = not-{SECRET}\n").as_bytes(),
    );
    let wrong = env.cli(&["check"]);
    assert_eq!(wrong.code, 1, "{}", said(&wrong));
    assert!(
        wrong.stdout.contains("storage.bucket") && wrong.stdout.contains("AWS_SECRET_ACCESS_KEY"),
        "{}",
        wrong.stdout
    );
    assert!(!said(&wrong).contains(SECRET), "{}", said(&wrong));

    server.down();
    let down = env.cli(&["check"]);
    assert_eq!(down.code, 1, "{}", said(&down));
    assert!(
        down.stdout.contains("storage.bucket") && down.stdout.contains("cannot reach"),
        "{}",
        down.stdout
    );
    assert!(!said(&down).contains(KEY), "{}", said(&down));
}

#[tokio::test]
async fn credentials_in_a_file_every_user_can_read_are_refused_by_name() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(server) = S3Server::start("s3 credentials") else {
        return;
    };
    let env = Env::new(Backend::Sqlite).await;
    use_bucket(&env, &server);
    std::fs::set_permissions(env.path("s3-credentials"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = env.scan();
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("storage.credentials_file") && run.stderr.contains("chmod 0640"),
        "{}",
        run.stderr
    );
}

/// Killed exactly between the upload and the row: the next start removes
/// the objects, the file links once, and the bucket holds only that set.
#[tokio::test]
async fn killed_between_upload_and_row_leaves_no_orphan_object() {
    let Some(server) = S3Server::start("s3 crash") else {
        return;
    };
    let env = Env::new(Backend::Sqlite).await;
    use_bucket(&env, &server);
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    let killed = without_specdrop_env(Command::new(std::env::current_exe().expect("the test binary")))
        .args([
            "crash::scan_that_dies_after_store",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(crate::crash::CHILD_FOLDER, env.dir.path())
        .output()
        .expect("run the child process");
    let child_said = String::from_utf8_lossy(&killed.stderr);
    assert!(
        !killed.status.success(),
        "the checkpoint did not stop the run: {child_said}"
    );
    let orphans = server.keys();
    // A small sheet: large (serving as web) and thumbnail.
    assert_eq!(orphans.len(), 2, "uploaded when it died: {orphans:?}");
    assert_eq!(env.media_of(202).await.len(), 0, "no row yet");
    assert_eq!(env.open_claims().await, 2, "claimed before the upload");

    let next = env.scan();
    assert_eq!(next.summary(), [1, 0, 0, 0, 0], "{}\n{}", next.stdout, next.stderr);
    assert!(next.stderr.contains("removed 2 derivative file(s)"), "{}", next.stderr);
    let media = env.media_of(202).await;
    assert_eq!(media.len(), 1);
    let left = server.keys();
    assert_eq!(left.len(), 2, "only the linked set: {left:?}");
    for (url, thumbnail, original) in &media {
        for u in [url, thumbnail, original] {
            assert!(server.object_of(u).is_some(), "{u}");
        }
    }
    assert_eq!(env.open_claims().await, 0);
}
