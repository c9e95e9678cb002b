//! `[notify]`: the digest through a real SMTP server (Python's aiosmtpd,
//! plain, STARTTLS with a login, and TLS from the start, under a CA made
//! for the test) and a real HTTP server recording webhook posts; and a
//! mail server that is not there holding up nothing.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

const SOON: Duration = Duration::from_secs(20);

/// aiosmtpd keeping each message as `N.eml` (written, then renamed), with
/// the envelope, whether it came over TLS and who logged in, in headers
/// before the message.
const SERVER: &str = r#"
import itertools, os, signal, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
numbers = itertools.count()

class Keep:
    async def handle_DATA(self, server, session, envelope):
        n = next(numbers)
        head = "X-Envelope-From: %s\r\nX-Envelope-To: %s\r\nX-TLS: %s\r\nX-Login: %s\r\n" % (
            envelope.mail_from, ",".join(envelope.rcpt_tos),
            "yes" if session.ssl is not None or server.transport.get_extra_info("ssl_object") else "no",
            session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else "-")
        tmp = os.path.join(folder, ".%d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(head.encode() + envelope.original_content)
        os.rename(tmp, os.path.join(folder, "%d.eml" % n))
        return "250 kept"

def login(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == b"digest@example.org" and data.password == b"s3:cret"
    return AuthResult(success=ok, auth_data=data)

def tls():
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    return context

if mode == "plain":
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
elif mode == "starttls":
    controller = Controller(Keep(), hostname="127.0.0.1", port=port, tls_context=tls(),
                            require_starttls=True, authenticator=login, auth_required=True)
else:
    controller = Controller(Keep(), hostname="127.0.0.1", port=port, ssl_context=tls())
controller.start()
print("ready", flush=True)
signal.pause()
"#;

struct SmtpServer {
    child: Child,
    port: u16,
    folder: PathBuf,
}

impl SmtpServer {
    /// `mode`: plain, starttls (login required) or smtps; `None` (after
    /// saying why) where aiosmtpd or openssl is missing.
    fn start(env: &Env, mode: &str, test: &str) -> Option<SmtpServer> {
        let has = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !has {
            cannot_run_here(
                test,
                "python3 has no aiosmtpd (pip install aiosmtpd; .ci/run installs it)",
            );
            return None;
        }
        let folder = env.path(&format!("mail-{mode}"));
        std::fs::create_dir_all(&folder).expect("make the mail folder");
        env.write_file("smtp_server.py", SERVER.as_bytes());
        let port = free_port();
        let mut command = Command::new("python3");
        command
            .arg(env.path("smtp_server.py"))
            .args([mode, &port.to_string()])
            .arg(&folder);
        if mode != "plain" {
            let (cert, key) = certificates(env, test)?;
            command.arg(cert).arg(key);
        }
        let mut child = command.stdout(Stdio::piped()).spawn().expect("start the SMTP server");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let ready = rx.recv_timeout(SOON);
        assert_eq!(ready.as_deref(), Ok("ready"), "the SMTP server did not start");
        Some(SmtpServer { child, port, folder })
    }

    /// The messages received so far, oldest first.
    fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.folder)
            .expect("read the mail folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read a message"))
            .collect()
    }

    /// The one message that arrives within [`SOON`].
    fn message(&self) -> String {
        let got = poll(SOON, || self.messages(), |m| !m.is_empty());
        assert_eq!(got.len(), 1, "{got:#?}");
        got.into_iter().next().unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA made for the test (`ca.pem`, which specdrop is told to trust) and
/// a server certificate for localhost signed by it.
fn certificates(env: &Env, test: &str) -> Option<(PathBuf, PathBuf)> {
    let dir = env.path("tls");
    std::fs::create_dir_all(&dir).expect("make the certificate folder");
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write the extensions");
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=specdrop test CA",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let made = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .stderr(Stdio::null())
            .status();
        if !made.is_ok_and(|s| s.success()) {
            cannot_run_here(test, "openssl cannot make the test's certificates");
            return None;
        }
    }
    Some((dir.join("server.pem"), dir.join("server.key")))
}

/// An HTTP server on 127.0.0.1 answering 200 to every request and
/// keeping each body.
struct Webhook {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the webhook server");
        let url = format!(
            "http://{}/hooks/T0KEN",
            listener.local_addr().expect("the webhook's address")
        );
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if let Some(body) = read_request(&mut stream) {
                    kept.lock().expect("the bodies' lock").push(body);
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            }
        });
        Webhook { url, bodies }
    }

    /// The `text` field of each JSON body posted so far.
    fn texts(&self) -> Vec<String> {
        self.bodies
            .lock()
            .expect("the bodies' lock")
            .iter()
            .map(|b| {
                let json: serde_json::Value = serde_json::from_str(b).unwrap_or_else(|e| panic!("{b:?}: {e}"));
                json["text"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no text field in {b}"))
                    .to_string()
            })
            .collect()
    }

    /// The first text posted containing `needle`, within [`SOON`].
    fn text_with(&self, needle: &str) -> String {
        let texts = poll(SOON, || self.texts(), |t| t.iter().any(|t| t.contains(needle)));
        texts
            .into_iter()
            .find(|t| t.contains(needle))
            .unwrap_or_else(|| panic!("no webhook post containing {needle:?}"))
    }
}

/// The body of one POST with a Content-Length.
fn read_request(stream: &mut std::net::TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(SOON)).ok()?;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            assert!(head.starts_with("post "), "{head}");
            assert!(head.contains("content-type: application/json"), "{head}");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse().ok())?;
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).ok()?;
                if n == 0 {
                    return None;
                }
                data.extend_from_slice(&buf[..n]);
            }
            return Some(String::from_utf8_lossy(&data[end + 4..end + 4 + length]).into_owned());
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
}

/// One linked, one parked (no such specimen) and one failed (not an
/// image) sheet.
fn drop_three(env: &Env) {
    env.drop_sample(SMALL_7, "MICH-V-0045678.jpg");
    env.drop_sample(SMALL_8, "MICH-V-9999999.jpg");
    env.write_file("var/drop/mich/MICH-V-1390993.jpg", b"this is not a photograph");
}

fn notify_config(env: &Env, table: &str) {
    env.edit_config("[database]", &format!("[notify]\n{table}\n\n[database]"));
}

fn assert_digest_text(text: &str) {
    for piece in [
        "1 linked, 1 parked, 0 skeletal, 1 failed, 0 skipped",
        "MICH-V MICH-V-9999999.jpg: no specimen",
        "MICH-V MICH-V-1390993.jpg: ",
        "Failed, still in the drop folders (1)",
        "Parked, still in the drop folders (1)",
    ] {
        assert!(text.contains(piece), "{piece:?} missing from the digest:\n{text}");
    }
    assert!(
        !text.contains("MICH-V-0045678.jpg"),
        "linked files are counted, not listed:\n{text}"
    );
}

/// A header of a received message, unfolded.
fn header<'m>(message: &'m str, name: &str) -> &'m str {
    message
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in:\n{message}"))
}

/// The message's body, quoted-printable or not, as one text.
fn body(message: &str) -> String {
    let (_, body) = message.split_once("\r\n\r\n").unwrap_or(("", message));
    let mut text = String::new();
    for line in body.split("\r\n") {
        match line.strip_suffix('=') {
            Some(soft) => text.push_str(soft),
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text.replace("=3D", "=")
}

#[tokio::test]
async fn specdrop_digest_mails_the_parked_and_failed_files_and_posts_them_to_the_webhook() {
    let env = Env::new(Backend::Sqlite).await;
    let Some(smtp) = SmtpServer::start(&env, "plain", "specdrop_digest_mails") else {
        return;
    };
    let hook = Webhook::start();
    drop_three(&env);
    let scan = env.scan();
    assert_eq!(scan.summary(), [1, 1, 0, 1, 0], "{}", scan.stdout);
    notify_config(
        &env,
        &format!(
            "email = [\"imaging@example.org\", \"curator@example.org\"]\nfrom = \"specdrop <specdrop@example.org>\"\n\
             smtp = \"smtp://127.0.0.1:{}\"\nwebhook = \"{}\"\ndigest_at = \"off\"",
            smtp.port, hook.url
        ),
    );

    let run = env.cli(&["digest"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("digest sent by e-mail to imaging@example.org, curator@example.org"),
        "{}",
        run.stdout
    );

    let message = smtp.message();
    assert_eq!(
        header(&message, "X-Envelope-To"),
        "imaging@example.org,curator@example.org"
    );
    assert_eq!(
        header(&message, "X-TLS"),
        "no",
        "aiosmtpd offers no STARTTLS here: plain"
    );
    assert_eq!(header(&message, "From"), "specdrop <specdrop@example.org>");
    assert_eq!(header(&message, "To"), "imaging@example.org, curator@example.org");
    assert_eq!(
        header(&message, "Subject"),
        "specdrop: 1 linked, 2 waiting (parked 1, failed 1)"
    );
    assert_digest_text(&body(&message));

    let text = hook.text_with("specdrop digest");
    assert!(
        text.starts_with("specdrop: 1 linked, 2 waiting (parked 1, failed 1)\n\n"),
        "{text}"
    );
    assert_digest_text(&text);
}

#[tokio::test]
async fn the_daemon_sends_the_days_digest_and_posts_each_failure_as_it_happens() {
    let env = Env::new(Backend::Sqlite).await;
    let hook = Webhook::start();
    drop_three(&env);
    assert_eq!(env.scan().summary(), [1, 1, 0, 1, 0]);
    env.quick_watch("");
    // The day's digest is due from midnight: the daemon, started after
    // it, sends today's at once (and only once).
    notify_config(&env, &format!("webhook = \"{}\"\ndigest_at = \"00:00\"", hook.url));
    let mut daemon = env.start_watching();
    assert_digest_text(&hook.text_with("specdrop digest"));

    env.write_file("var/drop/mich/MICH-V-1390994.jpg", b"not a photograph either");
    let line = daemon.wait_for("MICH-V-1390994.jpg", SOON);
    assert!(line.starts_with("failed"), "{line}");
    let detail = line
        .split_once("MICH-V-1390994.jpg: ")
        .map(|(_, d)| d)
        .unwrap_or_default();
    let posted = hook.text_with("MICH-V-1390994.jpg");
    assert_eq!(posted, format!("specdrop: failed MICH-V MICH-V-1390994.jpg: {detail}"));
    daemon.stop_cleanly();

    let mut again = env.start_watching();
    let quiet = again.lines_for(Duration::from_secs(2));
    let digests = hook.texts().iter().filter(|t| t.contains("specdrop digest")).count();
    assert_eq!(digests, 1, "a restart the same day sends no second digest: {quiet:?}");
    again.stop_cleanly();
}

#[tokio::test]
async fn a_mail_server_that_is_not_there_holds_up_nothing_and_is_logged() {
    let env = Env::new(Backend::Sqlite).await;
    env.quick_watch("");
    let closed = free_port();
    notify_config(
        &env,
        &format!("email = \"imaging@example.org\"\nsmtp = \"smtp://127.0.0.1:{closed}\"\ndigest_at = \"00:00\""),
    );
    let mut daemon = env.start_watching();
    env.drop_sample(SMALL_7, "MICH-V-0045678.jpg");
    let line = daemon.wait_for("MICH-V-0045678.jpg", SOON);
    assert!(line.starts_with("linked"), "{line}");
    let warning = daemon.wait_for("could not be sent", SOON);
    assert!(
        warning.contains(&format!("the digest e-mail through smtp://127.0.0.1:{closed}"))
            && warning.contains("trying again"),
        "{warning}"
    );
    // Stopping does not wait out the pause before the next try.
    let (code, took, _) = daemon.stop(Duration::from_secs(10));
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(8), "{took:?}");

    let run = env.cli(&["digest"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "the digest was not delivered by e-mail through smtp://127.0.0.1:{closed}"
        )),
        "{}",
        run.stderr
    );
}

/// STARTTLS with a login, the server's certificate from the site's own CA.
#[tokio::test]
async fn starttls_with_a_login_from_the_credentials_file_under_the_sites_ca() {
    let env = Env::new(Backend::Sqlite).await;
    let test = "starttls_with_a_login";
    let Some(smtp) = SmtpServer::start(&env, "starttls", test) else {
        return;
    };
    env.write_file("smtp.credentials", b"digest@example.org:s3:cret\n");
    set_mode(&env.path("smtp.credentials"), 0o640);
    let table = format!(
        "email = \"imaging@example.org\"\nsmtp = \"smtp://localhost:{}\"\nsmtp_credentials_file = \"smtp.credentials\"\n\
         digest_at = \"off\"",
        smtp.port
    );
    // Without the CA the server's certificate is not trusted: nothing is
    // sent, and the password never went out in clear.
    notify_config(&env, &table);
    let refused = env.cli(&["digest"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("not delivered") && refused.stderr.contains("UnknownIssuer"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("s3:cret"), "{}", refused.stderr);
    assert!(smtp.messages().is_empty());

    env.edit_config(
        "digest_at = \"off\"",
        "digest_at = \"off\"\nsmtp_ca_file = \"tls/ca.pem\"",
    );
    let run = env.cli(&["digest"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let message = smtp.message();
    assert_eq!(header(&message, "X-TLS"), "yes");
    assert_eq!(header(&message, "X-Login"), "digest@example.org");
    assert_eq!(
        header(&message, "From"),
        "imaging@example.org",
        "from defaults to the first address"
    );

    // A password is refused to a server that offers no STARTTLS.
    let plain = SmtpServer::start(&env, "plain", test).expect("aiosmtpd was there a moment ago");
    env.edit_config(
        &format!("localhost:{}", smtp.port),
        &format!("localhost:{}", plain.port),
    );
    let run = env.cli(&["digest"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("STARTTLS is not supported"), "{}", run.stderr);
    assert!(plain.messages().is_empty(), "{:?}", plain.messages());
}

#[tokio::test]
async fn smtps_is_tls_from_the_first_byte() {
    let env = Env::new(Backend::Sqlite).await;
    let Some(smtp) = SmtpServer::start(&env, "smtps", "smtps_is_tls_from_the_first_byte") else {
        return;
    };
    notify_config(
        &env,
        &format!(
            "email = \"imaging@example.org\"\nsmtp = \"smtps://localhost:{}\"\nsmtp_ca_file = \"tls/ca.pem\"\ndigest_at = \"off\"",
            smtp.port
        ),
    );
    let run = env.cli(&["digest"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(header(&smtp.message(), "X-TLS"), "yes");
}

#[tokio::test]
async fn a_credentials_file_every_user_can_read_is_refused() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_file("smtp.credentials", b"digest@example.org:s3:cret\n");
    set_mode(&env.path("smtp.credentials"), 0o644);
    notify_config(
        &env,
        "email = \"imaging@example.org\"\nsmtp = \"smtp://localhost:25\"\nsmtp_credentials_file = \"smtp.credentials\"",
    );
    let run = env.cli(&["digest"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("notify.smtp_credentials_file") && run.stderr.contains("readable by every user"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3:cret"));
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("set the file's mode");
}

#[tokio::test]
async fn a_scan_posts_each_failure_to_the_webhook_before_it_exits() {
    let env = Env::new(Backend::Sqlite).await;
    let hook = Webhook::start();
    drop_three(&env);
    notify_config(&env, &format!("webhook = \"{}\"\ndigest_at = \"off\"", hook.url));
    let run = env.scan();
    assert_eq!(run.summary(), [1, 1, 0, 1, 0], "{}\n{}", run.stdout, run.stderr);
    // Posted before the scan exited: the server kept it before answering.
    let texts = hook.texts();
    assert_eq!(texts.len(), 1, "only the failure is posted: {texts:?}");
    assert!(
        texts[0].starts_with("specdrop: failed MICH-V MICH-V-1390993.jpg: "),
        "{texts:?}"
    );
    // The same file failing again for the same reason is not news.
    let again = env.scan();
    assert_eq!(again.summary()[3], 1, "{}", again.stdout);
    assert_eq!(hook.texts().len(), 1, "{:?}", hook.texts());
}
