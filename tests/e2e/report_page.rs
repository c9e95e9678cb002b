//! The imaging team's page in a real browser: Debian's Chromium, headless,
//! loads the page a scan wrote (served by a small HTTP server here), and
//! a probe page beside it reads back what rendered: every thumbnail's
//! natural width, and the order of the rows.

use std::io::{BufRead as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// A static file server on 127.0.0.1 for `root`, plus `/probe.html`.
/// Runs until the process ends (the test's tempdir outlives its use).
fn serve(root: PathBuf, probe: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port for the page");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(&stream);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // The rest of the header is not needed.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, kind, body) = if path == "/probe.html" {
                ("200 OK", "text/html", probe.clone().into_bytes())
            } else {
                let relative = path.trim_start_matches('/');
                let file = root.join(relative);
                match std::fs::read(&file) {
                    Ok(bytes) if !relative.split('/').any(|p| p == "..") => {
                        let kind = if relative.ends_with(".jpg") {
                            "image/jpeg"
                        } else {
                            "text/html"
                        };
                        ("200 OK", kind, bytes)
                    }
                    _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
                }
            };
            let mut out = &stream;
            let _ = write!(
                out,
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = out.write_all(&body);
        }
    });
    port
}

/// Loads the page in a frame, makes every image load (the page loads them
/// lazily), then writes what it found into `#result`.
const PROBE: &str = r#"<!doctype html><html><body>
<iframe id="page" src="/index.html" style="width:1000px;height:1400px"></iframe>
<script>
const frame = document.getElementById('page');
frame.onload = () => {
  const doc = frame.contentDocument;
  const images = [...doc.querySelectorAll('img')];
  images.forEach(i => { i.loading = 'eager'; });
  Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = r; i.onerror = r; })))
    .then(() => {
      const rows = [...doc.querySelectorAll('tr.day')].map(r => r.classList[2]);
      // The outcome filter, as a person uses it: a click on its label.
      doc.querySelector('label[for=o-parked]').click();
      const shown = [...doc.querySelectorAll('tr.row')]
        .filter(r => r.offsetParent !== null)
        .map(r => [...r.classList].find(c => ['parked', 'failed', 'linked', 'skeletal', 'skipped'].includes(c)));
      const out = { widths: images.map(i => i.naturalWidth), rows: rows, parked_only: shown };
      const pre = document.createElement('pre');
      pre.id = 'result';
      pre.textContent = JSON.stringify(out);
      document.body.appendChild(pre);
    });
};
</script></body></html>"#;

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn headless(browser: &Path, args: &[&str]) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            // Root (CI) has no user namespace sandbox.
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=15000",
        ])
        .args(args)
        .output()
        .expect("run chromium")
}

#[tokio::test]
async fn the_page_shows_thumbnails_and_parked_sheets_first_in_a_real_browser() {
    let Some(browser) = chromium() else {
        cannot_run_here(
            "report_page",
            "no chromium (Debian package chromium; .ci/run installs it)",
        );
        return;
    };
    let env = Env::new(Backend::Sqlite).await;
    env.edit_config(
        "[[collection]]",
        "[report]\nportal_url = \"https://portal.example.org\"\n\n[[collection]]",
    );
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    env.drop_sample(SMALL_8, "MICH-V-1390993.jpg");
    env.drop_sample(SMALL_9, "MICH-V-1390995.jpg");
    env.write_file(
        "var/drop/mich/MICH-V-7654321.jpg",
        &distinct(&sample(SMALL_8), "no record yet"),
    );
    env.write_file("var/drop/mich/MICH-V-1390994.jpg", b"");
    let run = env.scan();
    assert_eq!(run.summary(), [3, 1, 0, 1, 0], "{}", run.stdout);

    let report = env.path("var/drop/mich/_specdrop");
    let page = std::fs::read_to_string(report.join("index.html")).expect("the page");
    assert!(
        page.contains("https://portal.example.org/collections/individual/index.php?occid=201"),
        "catalog numbers link to the portal"
    );
    assert!(!page.contains("<script"), "no script on the page");
    let waiting = page.split("<h2>The last").next().unwrap_or_default();
    assert!(
        waiting.contains("MICH-V-7654321.jpg") && waiting.contains("MICH-V-1390994.jpg"),
        "both waiting files in the waiting table"
    );
    assert!(
        !page.contains("<link") && !page.contains("@import") && !page.contains("src=\"http"),
        "no external assets"
    );

    let port = serve(report.clone(), PROBE.to_string());
    let probe = headless(
        &browser,
        &["--dump-dom", &format!("http://127.0.0.1:{port}/probe.html")],
    );
    let dom = String::from_utf8_lossy(&probe.stdout);
    let json = dom
        .split("<pre id=\"result\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| {
            panic!(
                "the probe wrote no result:\n{dom}\n{}",
                String::from_utf8_lossy(&probe.stderr)
            )
        })
        .replace("&quot;", "\"");
    let result: serde_json::Value = serde_json::from_str(&json).expect("the probe's JSON");
    let widths: Vec<u64> = result["widths"]
        .as_array()
        .expect("widths")
        .iter()
        .filter_map(|w| w.as_u64())
        .collect();
    assert_eq!(widths.len(), 3, "one thumbnail per linked sheet: {result}");
    assert!(widths.iter().all(|w| *w > 0), "every thumbnail rendered: {widths:?}");
    let rows: Vec<&str> = result["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert_eq!(rows, ["parked", "failed", "linked", "linked", "linked"], "{result}");
    assert_eq!(
        result["parked_only"],
        serde_json::json!(["parked", "parked"]),
        "the filter leaves the parked rows of both tables"
    );

    let screenshot = env.path("report.png");
    let shot = headless(
        &browser,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=900,1300",
            &format!("http://127.0.0.1:{port}/index.html"),
        ],
    );
    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot ({e}): {}", String::from_utf8_lossy(&shot.stderr)));
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(png.len() > 20_000, "more than a blank page: {} bytes", png.len());
    // For docs/imaging-team.md: SPECDROP_SCREENSHOT=docs/report-page.png.
    if let Some(keep) = std::env::var_os("SPECDROP_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).expect("keep the screenshot");
    }
}
