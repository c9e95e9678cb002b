//! Web images for remote originals (`[remote] derive = true`) and
//! `specdrop thumbnails`: images served by a real HTTP server started here
//! on 127.0.0.1 (real sheets from samples/, a redirect within the host and
//! one to another host, a 404, a slow body, a huge body, HTML where an
//! image was promised, a truncated JPEG).

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md5::{Digest as _, Md5};
use sqlx::Row;

use crate::support::*;

/// What the server answers at a path.
#[derive(Clone)]
enum Reply {
    Image(Vec<u8>),
    /// 302 to this URL.
    Redirect(String),
    Html,
    /// An image sent a hundred bytes every 100 ms.
    Slow(Vec<u8>),
    /// A body of this many bytes, without Content-Length (ends at close).
    Unsized(usize),
    /// 302 to this URL, sent after this long (a slow server).
    SlowRedirect(String, Duration),
}

const SHEET: &str = "/ok/MICH-V-1390992.jpg";

struct ImageServer {
    base: String,
    port: u16,
    asked: Arc<Mutex<Vec<String>>>,
}

impl ImageServer {
    fn start(routes: Vec<(String, Reply)>) -> ImageServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the image server's port");
        let port = listener.local_addr().expect("its address").port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let routes = Arc::new(routes);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (routes, log) = (routes.clone(), log.clone());
                std::thread::spawn(move || answer(stream, &routes, &log));
            }
        });
        ImageServer {
            base: format!("http://127.0.0.1:{port}"),
            port,
            asked,
        }
    }

    /// A server of one sheet, at [`SHEET`].
    fn one_sheet() -> ImageServer {
        ImageServer::start(vec![(SHEET.into(), Reply::Image(sample(FULL_1390992)))])
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

fn answer(stream: TcpStream, routes: &[(String, Reply)], log: &Mutex<Vec<String>>) {
    let Some(path) = crate::remote::read_request(&stream, log) else {
        return;
    };
    let mut out = &stream;
    let head = |status: &str, kind: &str, length: Option<usize>| {
        let length = length.map_or(String::new(), |n| format!("Content-Length: {n}\r\n"));
        format!("HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n{length}Connection: close\r\n\r\n")
    };
    let _ = match routes.iter().find(|(p, _)| *p == path).map(|(_, r)| r) {
        None => out.write_all(format!("{}not found", head("404 Not Found", "text/plain", Some(9))).as_bytes()),
        Some(Reply::Image(bytes)) => out
            .write_all(head("200 OK", "image/jpeg", Some(bytes.len())).as_bytes())
            .and_then(|()| out.write_all(bytes)),
        Some(Reply::Redirect(to)) => out.write_all(
            format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        ),
        Some(Reply::SlowRedirect(to, after)) => {
            std::thread::sleep(*after);
            out.write_all(
                format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
        }
        Some(Reply::Html) => {
            let page = "<html><body><h1>Image viewer</h1><img src=\"x.jpg\"></body></html>";
            out.write_all(format!("{}{page}", head("200 OK", "text/html; charset=utf-8", Some(page.len()))).as_bytes())
        }
        Some(Reply::Slow(bytes)) => {
            let mut sent = out.write_all(head("200 OK", "image/jpeg", Some(bytes.len())).as_bytes());
            for chunk in bytes.chunks(100) {
                if sent.is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
                sent = out.write_all(chunk);
            }
            sent
        }
        Some(Reply::Unsized(n)) => {
            let mut sent = out.write_all(head("200 OK", "image/jpeg", None).as_bytes());
            let mut body = vec![0u8; 64 * 1024];
            body[..2].copy_from_slice(&[0xFF, 0xD8]);
            let mut left = *n;
            while left > 0 && sent.is_ok() {
                let take = left.min(body.len());
                sent = out.write_all(&body[..take]);
                body[..2].copy_from_slice(&[0, 0]);
                left -= take;
            }
            sent
        }
    };
}

fn md5_of(bytes: &[u8]) -> String {
    format!("{:x}", Md5::digest(bytes))
}

/// `[remote]` appended to the config, fetching from `hosts`.
fn use_remote(env: &Env, hosts: &[String], extra: &str) {
    let path = env.path("specdrop.toml");
    let mut text = std::fs::read_to_string(&path).expect("read specdrop.toml");
    let list: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    text.push_str(&format!(
        "\n[remote]\nderive = true\nallowed_hosts = [{}]\nmax_mb = 2\ntimeout_secs = 3\n{extra}\n",
        list.join(", ")
    ));
    std::fs::write(&path, text).expect("write specdrop.toml");
}

/// The sheets and every way a fetch can go wrong, on `server`'s paths;
/// `other` is a second host that is not allowed.
fn routes(other: &ImageServer) -> Vec<(String, Reply)> {
    let sheet = sample(FULL_1390992);
    let cut = sheet[..sheet.len() / 2].to_vec();
    vec![
        ("/ok/MICH-V-1390992.jpg".into(), Reply::Image(sheet.clone())),
        ("/moved/MICH-V-1390993.jpg".into(), Reply::Redirect("/ok/b.jpg".into())),
        ("/ok/b.jpg".into(), Reply::Image(sample(FULL_1449838))),
        (
            "/away/c.jpg".into(),
            Reply::Redirect(other.url("/ok/MICH-V-1390992.jpg")),
        ),
        ("/slow/d.jpg".into(), Reply::Slow(sheet)),
        ("/huge/e.jpg".into(), Reply::Unsized(3 << 20)),
        ("/page/f.jpg".into(), Reply::Html),
        ("/cut/g.jpg".into(), Reply::Image(cut)),
    ]
}

#[tokio::test]
async fn import_links_makes_web_images_of_remote_originals_and_failed_fetches_leave_nothing() {
    let env = Env::new(Backend::MariaDb).await;
    let other = ImageServer::one_sheet();
    let server = ImageServer::start(routes(&other));
    use_remote(&env, &[format!("127.0.0.1:{}", server.port)], "");
    let rows_before = env.image_rows().await;
    let u = |p: &str| server.url(p);
    let csv = format!(
        "catalogNumber,url\n\
         1390992,{}\n1390993,{}\n1390995,{}\n1390995,{}\n1390995,{}\n1390995,{}\n1390995,{}\n1390995,{}\n1390995,{}\n",
        u("/ok/MICH-V-1390992.jpg"),
        u("/moved/MICH-V-1390993.jpg"),
        u("/away/c.jpg"),
        u("/missing/h.jpg"),
        u("/slow/d.jpg"),
        u("/huge/e.jpg"),
        u("/page/f.jpg"),
        u("/cut/g.jpg"),
        other.url("/ok/MICH-V-1390992.jpg"),
    );
    env.write_file("links.csv", csv.as_bytes());
    let run = env.cli(&["import-links", "links.csv", "--collection", "MICH-V"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary(), [2, 0, 0, 7, 0], "{}\n{}", run.stdout, run.stderr);
    for (line, reason) in [
        ("line 4", "remote.allowed_hosts"),
        ("line 5", "HTTP 404"),
        ("line 6", "remote.timeout_secs"),
        ("line 7", "remote.max_mb"),
        ("line 8", "text/html"),
        ("line 9", "cut off"),
        ("line 10", "not in remote.allowed_hosts"),
    ] {
        run.assert_line(line, reason);
    }
    assert!(run.line_for("line 4").contains("redirects to"), "{}", run.stdout);

    for (occid, link, sheet) in [
        (201, u("/ok/MICH-V-1390992.jpg"), FULL_1390992),
        (202, u("/moved/MICH-V-1390993.jpg"), FULL_1449838),
    ] {
        let media = env.media_of(occid).await;
        assert_eq!(media.len(), 1, "{media:?}");
        let (url, thumbnail, original) = &media[0];
        assert_eq!(original, &link, "originalUrl stays the remote link");
        assert!(url.ends_with("_med.jpg") && thumbnail.ends_with("_tn.jpg"), "{media:?}");
        assert_eq!(env.served_size(url).0, 1400, "the web image is derive.web's width");
        assert_eq!(
            env.served_size(thumbnail).0,
            200,
            "the thumbnail is derive.thumbnail's width"
        );
        let with_md5 = env
            .count(&format!(
                "SELECT COUNT(*) FROM media WHERE occid = {occid} AND mediaMD5 = '{}'",
                md5_of(&sample(sheet))
            ))
            .await;
        assert_eq!(with_md5, 1, "mediaMD5 is the original's");
    }
    assert_eq!(env.image_rows().await, rows_before + 2, "no row for a failed fetch");
    assert!(env.media_of(205).await.is_empty());
    let files = env.files_under("var/www/imglib");
    assert_eq!(
        files.len(),
        4,
        "a web image and a thumbnail per linked row, nothing else: {files:?}"
    );
    assert_eq!(env.open_claims().await, 0);
    assert!(
        other.asked().is_empty(),
        "the host not allowed was asked: {:?}",
        other.asked()
    );
}

/// The packaged rule: a kept original goes to copy_dir, which may not be
/// inside the drop, archive or image library.
#[tokio::test]
async fn keep_copy_keeps_the_original_under_copy_dir_only() {
    let env = Env::new(Backend::MariaDb).await;
    let server = ImageServer::one_sheet();
    use_remote(
        &env,
        &["127.0.0.1".to_string()],
        "keep_copy = true\ncopy_dir = \"var/drop/mich/originals\"",
    );
    env.write_file(
        "links.csv",
        format!("catalogNumber,url\n1390992,{}\n", server.url(SHEET)).as_bytes(),
    );
    let refused = env.cli(&["import-links", "links.csv", "--collection", "MICH-V"]);
    assert_eq!(refused.code, 2, "{}\n{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("remote.copy_dir"), "{}", refused.stderr);
    env.edit_config("var/drop/mich/originals", "var/originals");
    let dropin = env.cli(&["systemd-dropin"]);
    assert!(
        dropin.stdout.contains(&env.path("var/originals").display().to_string()),
        "the unit may write the kept originals: {}",
        dropin.stdout
    );
    let run = env.cli(&["import-links", "links.csv", "--collection", "MICH-V"]);
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);
    let kept = env.files_under("var/originals");
    assert_eq!(kept.len(), 1, "{kept:?}");
    let copy = std::fs::read(env.path("var/originals").join(&kept[0])).expect("read the kept original");
    assert_eq!(copy, sample(FULL_1390992), "kept byte for byte");
}

/// Rows that wait for derivatives get them; a row another run has locked
/// (`SELECT ... FOR UPDATE`) is left to it, and a failed fetch leaves its
/// row as it was.
#[tokio::test]
async fn thumbnails_makes_derivatives_for_waiting_rows_and_skips_locked_ones() {
    let env = Env::new(Backend::MariaDb).await;
    let server = ImageServer::start(vec![
        ("/ok/MICH-V-1390992.jpg".into(), Reply::Image(sample(FULL_1390992))),
        ("/ok/b.jpg".into(), Reply::Image(sample(FULL_1449838))),
        ("/page/f.jpg".into(), Reply::Html),
    ]);
    use_remote(&env, &[format!("127.0.0.1:{}", server.port)], "");
    let (a, b, page) = (server.url(SHEET), server.url("/ok/b.jpg"), server.url("/page/f.jpg"));
    env.execute(&format!(
        "INSERT INTO media (mediaID, occid, url, thumbnailUrl, originalUrl, mediaType, format) VALUES \
         (9001, 201, '{a}', NULL, NULL, 'image', 'image/jpeg'), \
         (9002, 202, 'empty', 'processing 2020-01-01', '{b}', 'image', 'image/jpeg'), \
         (9003, 205, '{page}', NULL, '{page}', 'image', 'image/jpeg'), \
         (9004, 203, '{b}', NULL, '{b}', 'image', 'image/jpeg')"
    ))
    .await;
    // Another builder at work on 9004: its row is locked until it commits.
    let mut holder = env.db().await;
    sqlx::raw_sql("BEGIN; SELECT mediaID FROM media WHERE mediaID = 9004 FOR UPDATE")
        .execute(&mut holder)
        .await
        .expect("lock row 9004");

    let run = env.cli(&["thumbnails", "--collection", "MICH-V"]);
    assert_eq!(run.code, 1, "one fetch fails: {}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("4 image row(s) of MICH-V"), "{}", run.stdout);
    assert!(
        run.stdout.contains("thumbnails: 2 made, 1 failed, 1 left"),
        "{}",
        run.stdout
    );
    let line = |id: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(&format!("media {id}:")))
            .unwrap_or_else(|| panic!("no line for {id}: {}", run.stdout))
            .to_string()
    };
    assert!(
        line("9003").starts_with("failed") && line("9003").contains("text/html"),
        "{}",
        run.stdout
    );
    assert!(
        line("9004").starts_with("skipped") && line("9004").contains("another specdrop"),
        "{}",
        run.stdout
    );

    let mut conn = env.db().await;
    let row = |id: i64| {
        let sql = format!("SELECT url, thumbnailUrl, originalUrl, mediaMD5 FROM media WHERE mediaID = {id}");
        sql
    };
    for (id, original, sheet) in [(9001, &a, FULL_1390992), (9002, &b, FULL_1449838)] {
        let r = sqlx::query(&row(id)).fetch_one(&mut conn).await.expect("the row");
        let text = |i: usize| r.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_default();
        assert_eq!(&text(2), original, "originalUrl stays remote");
        assert_eq!(env.served_size(&text(0)).0, 1400);
        assert_eq!(env.served_size(&text(1)).0, 200);
        assert_eq!(text(3), md5_of(&sample(sheet)));
    }
    let r = sqlx::query(&row(9003)).fetch_one(&mut conn).await.expect("the row");
    let text = |i: usize| r.try_get::<Option<String>, _>(i).ok().flatten();
    assert_eq!(
        (text(0), text(1)),
        (Some(page.clone()), None),
        "a failed row is left as it was"
    );
    assert_eq!(env.files_under("var/www/imglib").len(), 4);
    assert_eq!(env.open_claims().await, 0);

    sqlx::raw_sql("COMMIT")
        .execute(&mut holder)
        .await
        .expect("release row 9004");
    let again = env.cli(&["thumbnails", "--collection", "MICH-V"]);
    assert!(
        again.stdout.contains("thumbnails: 1 made, 1 failed"),
        "{}\n{}",
        again.stdout,
        again.stderr
    );
    let media = env.media_of(203).await;
    assert!(media[0].1.ends_with("_tn.jpg"), "{media:?}");
    assert_eq!(env.files_under("var/www/imglib").len(), 6);
}

/// A skeletal file's associatedMedia links get derivatives too; one that
/// cannot be fetched is named in the result and leaves no row.
#[tokio::test]
async fn skeletal_associated_media_gets_derivatives() {
    let env = Env::new(Backend::Sqlite).await;
    let server = ImageServer::one_sheet();
    use_remote(&env, &["127.0.0.1".to_string()], "");
    let csv = format!(
        "catalogNumber,associatedMedia\n1390992,{}\n1390993,{}\n",
        server.url(SHEET),
        server.url("/missing.jpg")
    );
    env.write_file("skeletal.csv", csv.as_bytes());
    let run = env.cli(&["import-skeletal", "skeletal.csv", "--collection", "MICH-V"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("1 not fetched") && run.stdout.contains("HTTP 404"),
        "{}",
        run.stdout
    );
    let media = env.media_of(201).await;
    assert_eq!(media.len(), 1, "{media:?}");
    assert_eq!(env.served_size(&media[0].0).0, 1400);
    assert_eq!(media[0].2, server.url(SHEET));
    assert!(env.media_of(202).await.is_empty());
    assert_eq!(env.files_under("var/www/imglib").len(), 2);

    // The same from a drop folder: the file's result names the link.
    let dropped = format!("catalogNumber,associatedMedia\n1390995,{}\n", server.url("/gone.jpg"));
    env.drop_text("var/drop/mich/batch2.csv", dropped.as_bytes());
    let scan = env.scan();
    assert_eq!(scan.code, 1, "{}\n{}", scan.stdout, scan.stderr);
    scan.assert_line("batch2.csv", "1 not fetched");
    let result = std::fs::read_to_string(env.path("var/archive/mich/batch2.csv.result.txt")).expect("the result file");
    assert!(result.contains("line 2:") && result.contains("HTTP 404"), "{result}");
    assert!(env.media_of(205).await.is_empty());
    assert_eq!(env.files_under("var/www/imglib").len(), 2);
    assert_eq!(env.open_claims().await, 0);
}

/// With the storage a bucket, the derivatives of a remote original are
/// objects.
#[tokio::test]
async fn remote_originals_derive_into_a_bucket() {
    let Some(bucket) = crate::s3::S3Server::start("remote originals into s3") else {
        return;
    };
    let env = Env::new(Backend::Sqlite).await;
    crate::s3::use_bucket(&env, &bucket);
    let server = ImageServer::one_sheet();
    use_remote(&env, &[format!("127.0.0.1:{}", server.port)], "");
    env.write_file(
        "links.csv",
        format!("catalogNumber,url\n1390992,{}\n", server.url(SHEET)).as_bytes(),
    );
    let run = env.cli(&["import-links", "links.csv", "--collection", "MICH-V"]);
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);
    let media = env.media_of(201).await;
    let web = bucket.object_of(&media[0].0).expect("the web image is an object");
    let thumbnail = bucket.object_of(&media[0].1).expect("the thumbnail is an object");
    assert_eq!((jpeg_size(&web).0, jpeg_size(&thumbnail).0), (1400, 200));
    assert_eq!(bucket.keys().len(), 2, "{:?}", bucket.keys());
    assert_eq!(media[0].2, server.url(SHEET));
}

/// `thumbnails` on each portal kind (SQLite, `media`, the older `images`):
/// a row without a thumbnail gets both derivatives, its originalUrl stays
/// remote.
async fn thumbnails_on(backend: Backend) {
    let env = Env::new(backend).await;
    let server = ImageServer::one_sheet();
    use_remote(&env, &[format!("127.0.0.1:{}", server.port)], "");
    let (table, id) = env.table();
    let link = server.url(SHEET);
    env.execute(&format!(
        "INSERT INTO {table} ({id}, occid, url, thumbnailUrl, originalUrl) VALUES (9001, 201, '{link}', NULL, NULL)"
    ))
    .await;
    let run = env.cli(&["thumbnails", "--collection", "MICH-V"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("thumbnails: 1 made, 0 failed"), "{}", run.stdout);
    let media = env.media_of(201).await;
    let (url, thumbnail, original) = &media[media.len() - 1];
    assert_eq!(original, &link);
    assert_eq!((env.served_size(url).0, env.served_size(thumbnail).0), (1400, 200));
    let again = env.cli(&["thumbnails", "--collection", "MICH-V"]);
    assert!(
        again.stdout.contains("0 image row(s)"),
        "done rows wait no more: {}",
        again.stdout
    );
}
on_every_backend!(thumbnails_on);

/// A `thumbnails` killed while it fetches leaves the row as it was: no
/// stub, no lock (its transaction dies with its connection), no file.
#[tokio::test]
async fn a_killed_thumbnails_run_leaves_no_stub_and_no_lock() {
    let env = Env::new(Backend::MariaDb).await;
    let server = ImageServer::start(vec![("/slow/d.jpg".into(), Reply::Slow(sample(FULL_1390992)))]);
    use_remote(&env, &[format!("127.0.0.1:{}", server.port)], "");
    let link = server.url("/slow/d.jpg");
    env.execute(&format!(
        "INSERT INTO media (mediaID, occid, url, thumbnailUrl, originalUrl, mediaType) VALUES (9001, 201, '{link}', NULL, '{link}', 'image')"
    ))
    .await;
    let mut child = env
        .command(&["thumbnails", "--collection", "MICH-V", "--config", "specdrop.toml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start specdrop thumbnails");
    let asked = poll(Duration::from_secs(20), || server.asked(), |a| !a.is_empty());
    assert_eq!(asked, ["/slow/d.jpg"], "the fetch began");
    child.kill().expect("kill specdrop");
    let _ = child.wait();

    let mut conn = env.db().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let locked = loop {
        let mut tx = sqlx::Connection::begin(&mut conn).await.expect("begin");
        let got = sqlx::query("SELECT thumbnailUrl FROM media WHERE mediaID = 9001 FOR UPDATE NOWAIT")
            .fetch_one(&mut *tx)
            .await;
        let _ = tx.rollback().await;
        match got {
            Ok(row) => break Ok(row.try_get::<Option<String>, _>(0).expect("thumbnailUrl")),
            // The server sees the connection's end a moment after the kill.
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => break Err(e),
        }
    };
    assert_eq!(
        locked.expect("the row's lock is gone with the process"),
        None,
        "no stub is left"
    );
    assert!(env.files_under("var/www/imglib").is_empty());
}

/// A row whose url is a web image of its own and only lacks a thumbnail
/// keeps its url: only the thumbnail is made. With the thumbnail size
/// disabled the command is refused.
#[tokio::test]
async fn thumbnails_keeps_a_rows_own_web_image() {
    let env = Env::new(Backend::Sqlite).await;
    let server = ImageServer::start(vec![
        (SHEET.into(), Reply::Image(sample(FULL_1390992))),
        ("/web/a_med.jpg".into(), Reply::Image(sample(FULL_1449838))),
    ]);
    use_remote(&env, &[format!("127.0.0.1:{}", server.port)], "");
    let (original, web) = (server.url(SHEET), server.url("/web/a_med.jpg"));
    env.execute(&format!(
        "INSERT INTO media (mediaID, occid, url, thumbnailUrl, originalUrl, mediaType, format) VALUES \
         (9011, 201, '{web}', NULL, '{original}', 'image', 'image/jpeg')"
    ))
    .await;
    let run = env.cli(&["thumbnails", "--collection", "MICH-V"]);
    assert!(
        run.stdout.contains("thumbnails: 1 made"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let media = env.media_of(201).await;
    let row = media.iter().find(|m| m.2 == original).expect("the row");
    assert_eq!(row.0, web, "url stays the row's own web image: {media:?}");
    assert!(row.1.ends_with("_tn.jpg"), "{media:?}");
    assert_eq!(env.files_under("var/www/imglib").len(), 1, "only the thumbnail");
    assert_eq!(env.open_claims().await, 0);

    env.edit_config(
        "[storage]",
        "[derive]\nthumbnail = { width = 200, enabled = false }\n\n[storage]",
    );
    let refused = env.cli(&["thumbnails", "--collection", "MICH-V"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("derive.thumbnail is disabled"),
        "{}\n{}",
        refused.stdout,
        refused.stderr
    );
}

/// Links imported once without remote.derive are already there when
/// imported again with it: no fetch, no second row.
#[tokio::test]
async fn links_linked_without_derive_are_not_linked_twice() {
    let env = Env::new(Backend::Sqlite).await;
    let server = ImageServer::one_sheet();
    env.write_file(
        "links.csv",
        format!("catalogNumber,url\n1390992,{}\n", server.url(SHEET)).as_bytes(),
    );
    let first = env.cli(&["import-links", "links.csv", "--collection", "MICH-V"]);
    assert_eq!(first.summary(), [1, 0, 0, 0, 0], "{}\n{}", first.stdout, first.stderr);
    assert_eq!(env.media_of(201).await.len(), 1);

    use_remote(&env, &[format!("127.0.0.1:{}", server.port)], "");
    let again = env.cli(&["import-links", "links.csv", "--collection", "MICH-V"]);
    assert!(
        again.stdout.contains("already there"),
        "{}\n{}",
        again.stdout,
        again.stderr
    );
    assert_eq!(env.media_of(201).await.len(), 1, "no second row");
    assert!(server.asked().is_empty(), "nothing fetched: {:?}", server.asked());
    assert!(env.files_under("var/www/imglib").is_empty());
}

/// remote.timeout_secs (3 s here) is for the whole fetch: two redirects of
/// 2 s each are past it, though each hop alone is within it.
#[tokio::test]
async fn the_time_limit_covers_every_redirect() {
    let env = Env::new(Backend::Sqlite).await;
    let hop = Duration::from_secs(2);
    // Redirects to paths on the same server.
    let server = ImageServer::start(vec![
        ("/r1.jpg".into(), Reply::SlowRedirect("/r2.jpg".into(), hop)),
        ("/r2.jpg".into(), Reply::SlowRedirect(SHEET.into(), hop)),
        (SHEET.into(), Reply::Image(sample(FULL_1390992))),
    ]);
    use_remote(&env, &[format!("127.0.0.1:{}", server.port)], "");
    env.write_file(
        "links.csv",
        format!("catalogNumber,url\n1390992,{}\n", server.url("/r1.jpg")).as_bytes(),
    );
    let run = env.cli(&["import-links", "links.csv", "--collection", "MICH-V"]);
    assert!(
        run.stdout.contains("did not arrive within remote.timeout_secs = 3"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(env.media_of(201).await.is_empty());
}
