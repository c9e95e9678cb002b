//! Images already on a web server: `harvest` of directory listings served
//! here on 127.0.0.1 in Apache and nginx formats, and `import-links`.

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};

use crate::support::*;

/// A web server for fixed pages; remembers every path asked for.
struct Site {
    base: String,
    asked: Arc<Mutex<Vec<String>>>,
}

fn site(pages: Vec<(&'static str, String)>) -> Site {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the web server's port");
    let base = format!("http://{}", listener.local_addr().expect("the web server's address"));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Some(path) = read_request(&stream, &log) else {
                continue;
            };
            let (status, body) = match pages.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => ("200 OK", body.clone()),
                None => ("404 Not Found", "not found".to_string()),
            };
            // A page "REDIRECT <url>" answers 302 to that URL.
            let (status, location, body) = match body.strip_prefix("REDIRECT ") {
                Some(to) => ("302 Found", format!("Location: {to}\r\n"), String::new()),
                None => (status, String::new(), body),
            };
            let mut out = &stream;
            let _ = write!(
                out,
                "HTTP/1.1 {status}\r\n{location}Content-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Site { base, asked }
}

/// The path a request on `stream` asks for (its headers read and
/// dropped), noted in `log`; `None` when nothing readable came.
pub fn read_request(stream: &std::net::TcpStream, log: &Mutex<Vec<String>>) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut request = String::new();
    reader.read_line(&mut request).ok()?;
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    if let Ok(mut l) = log.lock() {
        l.push(path.clone());
    }
    Some(path)
}

fn listings() -> Vec<(&'static str, String)> {
    let apache = r#"<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN"><html><head><title>Index of /imglib/mich</title></head><body>
<h1>Index of /imglib/mich</h1><table>
<tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th></tr>
<tr><td><a href="/imglib/">Parent Directory</a></td></tr>
<tr><td><a href="MICH-V-1390992.jpg">MICH-V-1390992.jpg</a></td><td>2024-06-10 12:00</td></tr>
<tr><td><a href="IMG_0001.jpg">IMG_0001.jpg</a></td></tr>
<tr><td><a href="notes.txt">notes.txt</a></td></tr>
<tr><td><a href="box2/">box2/</a></td></tr>
</table></body></html>"#;
    let nginx = "<html><head><title>Index of /imglib/mich/box2/</title></head><body><h1>Index of /imglib/mich/box2/</h1><hr><pre><a href=\"../\">../</a>\n\
<a href=\"MICH-V-1390993%20b.jpg\">MICH-V-1390993 b.jpg</a>                               10-Jun-2024 12:00    812345\n\
<a href=\"MICH-V-7654321.jpg\">MICH-V-7654321.jpg</a>                                  10-Jun-2024 12:01    712345\n\
</pre><hr></body></html>";
    vec![
        ("/imglib/mich/", apache.to_string()),
        ("/imglib/mich/box2/", nginx.to_string()),
        ("/imglib/", "<a href=\"other/secret.jpg\">outside</a>".to_string()),
    ]
}

#[tokio::test]
async fn harvest_links_every_listed_image_and_fetches_only_listings() {
    let env = Env::new(Backend::MariaDb).await;
    let site = site(listings());
    let url = format!("{}/imglib/mich", site.base);
    let args = ["harvest", url.as_str(), "--collection", "MICH-V"];

    let dry = env.cli(&[&args[..], &["--dry-run"]].concat());
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("would link"), "{}", dry.stdout);
    assert_eq!(env.image_rows().await, 1, "a dry run writes nothing");

    let run = env.cli(&args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary(), [2, 1, 0, 0, 1], "{}", run.stdout);
    run.assert_line("IMG_0001.jpg", "no catalog number");
    assert!(
        run.line_for("box2/MICH-V-7654321.jpg").starts_with("parked"),
        "{}",
        run.stdout
    );
    let rows = env.media_of(201).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, format!("{}/imglib/mich/MICH-V-1390992.jpg", site.base));
    assert_eq!(rows[0].0, rows[0].2);
    let rows = env.media_of(202).await;
    assert_eq!(
        rows[0].0,
        format!("{}/imglib/mich/box2/MICH-V-1390993%20b.jpg", site.base)
    );

    let again = env.cli(&args);
    assert!(again.stdout.contains("already there"), "{}", again.stdout);
    assert_eq!(env.image_rows().await, 3, "the seed's row and two links, once");

    let asked = site.asked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(
        asked.iter().all(|p| p.ends_with('/')),
        "only listings are fetched: {asked:?}"
    );
    assert!(
        !asked.contains(&"/imglib/".to_string()),
        "the parent is not visited: {asked:?}"
    );
}

/// A listing's `..` and a redirect cannot take a harvest out of its
/// scope: a redirect within the host is followed, one to another host is
/// refused (and that host never asked), and `/mich/../private/` is
/// `/private/`.
#[tokio::test]
async fn harvest_stays_on_its_host_and_inside_its_folder() {
    let env = Env::new(Backend::Sqlite).await;
    let other = site(listings());
    let mut pages = listings();
    pages.push(("/moved/", "REDIRECT /imglib/mich/".to_string()));
    let away = format!("REDIRECT {}/imglib/mich/", other.base);
    pages.push(("/away/", away));
    let site = site(pages);

    let moved = format!("{}/moved/", site.base);
    let run = env.cli(&["harvest", moved.as_str(), "--collection", "MICH-V", "--dry-run"]);
    assert_eq!(
        run.code, 0,
        "a redirect within the host is followed: {}\n{}",
        run.stdout, run.stderr
    );
    assert!(run.stdout.contains("would link"), "{}", run.stdout);

    let away = format!("{}/away/", site.base);
    let run = env.cli(&["harvest", away.as_str(), "--collection", "MICH-V", "--dry-run"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stderr.contains("redirects to"), "{}", run.stderr);
    let asked = other.asked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(asked.is_empty(), "the other host was asked: {asked:?}");

    let sneaky = format!("{}/imglib/mich/../", site.base);
    let run = env.cli(&["harvest", sneaky.as_str(), "--collection", "MICH-V", "--dry-run"]);
    let asked = site.asked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(
        !asked.iter().any(|p| p.contains("..")),
        "a path with .. reached the server: {asked:?} ({})",
        run.stdout
    );
}

#[tokio::test]
async fn import_links_reads_names_or_catalog_numbers_and_urls() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_file(
        "mia.csv",
        b"OriginalFileName,MediaURL,notes\n\
          MICH-V-1390992.jpg,https://media.example.org/a/1.jpg,x\n\
          MICH-V-1390993_b.jpg,https://media.example.org/a/2.jpg,\n\
          MICH-V-1390995.jpg,ftp://media.example.org/a/3.jpg,\n",
    );
    let run = env.cli(&["import-links", "mia.csv", "--collection", "MICH-V"]);
    assert_eq!(run.code, 1, "the ftp row fails: {}", run.stdout);
    assert_eq!(run.summary(), [2, 0, 0, 1, 0], "{}", run.stdout);
    run.assert_line("line 4", "not an http(s) URL");
    assert_eq!(env.media_of(202).await[0].0, "https://media.example.org/a/2.jpg");

    env.write_file("cat.csv", b"cat;link\n0045678;https://media.example.org/b/9.jpg\n");
    let run = env.cli(&[
        "import-links",
        "cat.csv",
        "--collection",
        "MICH-V",
        "--catalog-column",
        "cat",
        "--url-column",
        "link",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(env.media_of(203).await.len(), 1);
    let missing = env.cli(&[
        "import-links",
        "cat.csv",
        "--collection",
        "MICH-V",
        "--url-column",
        "nope",
    ]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("no column \"nope\""), "{}", missing.stderr);
}
