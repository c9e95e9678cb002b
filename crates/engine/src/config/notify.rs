//! The `[notify]` table: who is told, through which server, and when.
//!
//! The SMTP password is never in the config: `notify.smtp_credentials_file`
//! names a file of one `USER:PASSWORD` line, refused when every user may
//! read it. Values here are checked at load like every other key, so a
//! mistake shows at `specdrop check`, not on the first failed digest.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use lettre::message::Mailbox;
use serde::Deserialize;

/// `[notify]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Section {
    email: Option<Recipients>,
    from: Option<String>,
    smtp: Option<String>,
    smtp_credentials_file: Option<PathBuf>,
    smtp_ca_file: Option<PathBuf>,
    webhook: Option<String>,
    digest_at: Option<String>,
}

/// One address or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Recipients {
    One(String),
    Many(Vec<String>),
}

/// The checked `[notify]`: nothing is sent when both `email` and
/// `webhook` are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyConfig {
    pub email: Option<Email>,
    /// Where each failure and the digest are posted as `{"text": ...}`.
    pub webhook: Option<Webhook>,
    /// Local time of the daemon's daily digest; `None` for none (sites
    /// that run `specdrop digest` from cron).
    pub digest_at: Option<(u8, u8)>,
}

impl NotifyConfig {
    pub fn is_on(&self) -> bool {
        self.email.is_some() || self.webhook.is_some()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub to: Vec<Mailbox>,
    pub from: Mailbox,
    pub smtp: Smtp,
}

/// The mail server (`notify.smtp`) and how to talk to it.
#[derive(Clone, PartialEq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    /// `smtps://`: TLS from the first byte; otherwise STARTTLS when the
    /// server offers it (required when there are credentials).
    pub implicit_tls: bool,
    pub credentials: Option<Credentials>,
    /// PEM certificates trusted beside the public roots
    /// (`notify.smtp_ca_file`), for a relay with a site's own CA.
    pub ca_pem: Option<Vec<u8>>,
}

impl Smtp {
    /// `smtp://host:port`, for messages: never with credentials.
    pub fn address(&self) -> String {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for Smtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smtp")
            .field("address", &self.address())
            .field("credentials", &self.credentials)
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .finish()
    }
}

/// The SMTP login; its Debug shows the user only.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials {{ user: {:?}, password: (hidden) }}", self.user)
    }
}

/// The webhook URL; a Slack or Teams webhook URL is itself a secret, so
/// Debug and messages show its host only.
#[derive(Clone, PartialEq)]
pub struct Webhook(pub String);

impl Webhook {
    pub fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, r)| r);
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Webhook({}/...)", self.host())
    }
}

const DEFAULT_DIGEST_AT: (u8, u8) = (7, 0);

/// The checked table; each problem goes to `problem(key, message)` and
/// leaves its part off.
/// `resolve` makes a path written in the config absolute.
pub fn check(
    section: &Section,
    resolve: &dyn Fn(&Path) -> PathBuf,
    problem: &mut dyn FnMut(&str, String),
) -> NotifyConfig {
    let to: Vec<Mailbox> = match &section.email {
        None => Vec::new(),
        Some(Recipients::One(a)) => addresses("notify.email", std::slice::from_ref(a), problem),
        Some(Recipients::Many(list)) => {
            if list.is_empty() {
                problem("notify.email", "is an empty list; name at least one address".into());
            }
            addresses("notify.email", list, problem)
        }
    };
    let from = match &section.from {
        Some(from) => addresses("notify.from", std::slice::from_ref(from), problem).pop(),
        // The team's own address is the one relays accept without a
        // site-specific sender; notify.from overrides it.
        None => to.first().cloned(),
    };
    let smtp = section.smtp.as_deref().and_then(|url| match parse_smtp(url) {
        Ok(smtp) => Some(smtp),
        Err(e) => {
            problem("notify.smtp", e);
            None
        }
    });
    match (&section.email, &section.smtp) {
        (Some(_), None) => problem(
            "notify.email",
            "needs notify.smtp, the mail server to send through (e.g. \"smtp://localhost:25\")".into(),
        ),
        (None, Some(_)) => problem(
            "notify.smtp",
            "is set but notify.email is not: name the address the digest goes to".into(),
        ),
        _ => {}
    }
    let credentials =
        section
            .smtp_credentials_file
            .as_deref()
            .and_then(|file| match read_credentials(&resolve(file)) {
                Ok(c) => Some(c),
                Err(e) => {
                    problem("notify.smtp_credentials_file", e);
                    None
                }
            });
    let ca_pem = section
        .smtp_ca_file
        .as_deref()
        .and_then(|file| match read_ca(&resolve(file)) {
            Ok(pem) => Some(pem),
            Err(e) => {
                problem("notify.smtp_ca_file", e);
                None
            }
        });
    let email = match (smtp, from) {
        (Some(smtp), Some(from)) if !to.is_empty() => Some(Email {
            to,
            from,
            smtp: Smtp {
                credentials,
                ca_pem,
                ..smtp
            },
        }),
        _ => None,
    };
    let webhook = section.webhook.as_deref().and_then(|url| {
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
        match host {
            Some(host) if !host.is_empty() && !url.chars().any(char::is_whitespace) => Some(Webhook(url.to_string())),
            // Not echoed: a webhook URL carries its secret token.
            _ => {
                problem(
                    "notify.webhook",
                    "must be an http(s) URL with a host, e.g. \"https://hooks.example.org/services/...\"".into(),
                );
                None
            }
        }
    });
    let on = section.email.is_some() || section.webhook.is_some();
    let digest_at = match section.digest_at.as_deref().map(str::trim) {
        None if on => Some(DEFAULT_DIGEST_AT),
        None | Some("") | Some("off") => None,
        Some(text) => match parse_time_of_day(text) {
            Some(at) => Some(at),
            None => {
                problem(
                    "notify.digest_at",
                    format!("{text:?} is not a time of day; write it as \"HH:MM\" (24 h, local), or \"off\""),
                );
                None
            }
        },
    };
    if section.digest_at.is_some() && !on {
        problem(
            "notify.digest_at",
            "is set but neither notify.email nor notify.webhook is: there is no one to send the digest to".into(),
        );
    }
    NotifyConfig {
        email,
        webhook,
        digest_at,
    }
}

fn addresses(key: &str, list: &[String], problem: &mut dyn FnMut(&str, String)) -> Vec<Mailbox> {
    list.iter()
        .filter_map(|a| match Mailbox::from_str(a.trim()) {
            Ok(mailbox) => Some(mailbox),
            Err(e) => {
                problem(
                    key,
                    format!("{a:?} is not an e-mail address ({e}); write e.g. \"imaging@example.org\""),
                );
                None
            }
        })
        .collect()
}

/// `smtp://host[:port]` or `smtps://host[:port]`; never with credentials,
/// which would then be in the config file (and are not echoed here).
fn parse_smtp(url: &str) -> Result<Smtp, String> {
    let usage = "write smtp://HOST[:PORT] (STARTTLS when the server offers it, plain to a local relay that does not) \
                 or smtps://HOST[:PORT] (TLS from the start, usually port 465)";
    let (implicit_tls, rest) = if let Some(rest) = url.strip_prefix("smtps://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("smtp://") {
        (false, rest)
    } else {
        return Err(format!("is not an SMTP URL; {usage}"));
    };
    if rest.contains('@') {
        return Err(
            "holds credentials; they never go in the config: put USER:PASSWORD in the file named by \
             notify.smtp_credentials_file (mode 0600 or 0640) and write smtp://HOST:PORT here"
                .into(),
        );
    }
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, port)) => (host, port.strip_prefix(':')),
            None => return Err(format!("{url:?} has an unclosed '['; {usage}")),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() || host.contains(['/', ' ', '?', '#']) {
        return Err(format!("{url:?} has no host name; {usage}"));
    }
    let port = match port {
        None => {
            if implicit_tls {
                465
            } else {
                25
            }
        }
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(format!("{url:?} has no valid port; {usage}")),
        },
    };
    Ok(Smtp {
        host: host.to_string(),
        port,
        implicit_tls,
        credentials: None,
        ca_pem: None,
    })
}

/// The first non-empty line, `USER:PASSWORD` (split at the first colon: a
/// password may hold one, a user name rarely does). Messages name the
/// file, never its content.
fn read_credentials(file: &Path) -> Result<Credentials, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(file)
        .map_err(|e| {
            format!(
                "cannot read {}: {e}; it holds USER:PASSWORD for notify.smtp",
                file.display()
            )
        })?
        .permissions()
        .mode();
    if mode & 0o004 != 0 {
        return Err(format!(
            "{} is readable by every user and holds the SMTP password; chmod 0640 it (group specdrop)",
            file.display()
        ));
    }
    let text = std::fs::read_to_string(file).map_err(|e| {
        format!(
            "cannot read {}: {e}; it holds USER:PASSWORD for notify.smtp",
            file.display()
        )
    })?;
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    match line.and_then(|l| l.split_once(':')) {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(Credentials {
            user: user.to_string(),
            password: password.to_string(),
        }),
        _ => Err(format!(
            "{} must hold one line USER:PASSWORD (the SMTP login)",
            file.display()
        )),
    }
}

fn read_ca(file: &Path) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if lettre::transport::smtp::client::Certificate::from_pem(&pem).is_err() {
        return Err(format!(
            "{} is not a PEM certificate (-----BEGIN CERTIFICATE-----)",
            file.display()
        ));
    }
    Ok(pem)
}

fn parse_time_of_day(text: &str) -> Option<(u8, u8)> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.len() <= 5).then_some((h, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let s = parse_smtp("smtp://localhost:2525").expect("a plain URL");
        assert_eq!((s.host.as_str(), s.port, s.implicit_tls), ("localhost", 2525, false));
        let s = parse_smtp("smtps://mail.example.org").expect("smtps without a port");
        assert_eq!((s.port, s.implicit_tls), (465, true));
        assert_eq!(parse_smtp("smtp://[::1]:25/").map(|s| s.host), Ok("::1".into()));
        let e = parse_smtp("smtp://me:hunter2@mail.example.org")
            .err()
            .unwrap_or_default();
        assert!(e.contains("smtp_credentials_file") && !e.contains("hunter2"), "{e}");
        assert!(parse_smtp("http://mail.example.org").is_err());
        assert!(parse_smtp("smtp://mail:0").is_err());
        assert!(parse_smtp("smtp://:25").is_err());
    }

    #[test]
    fn times_of_day() {
        assert_eq!(parse_time_of_day("07:00"), Some((7, 0)));
        assert_eq!(parse_time_of_day("23:59"), Some((23, 59)));
        assert_eq!(parse_time_of_day("24:00"), None);
        assert_eq!(parse_time_of_day("7"), None);
    }

    #[test]
    fn credentials_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("test setup");
        let file = dir.path().join("smtp.credentials");
        std::fs::write(&file, "\nspecdrop@example.org:pa:ss\n").expect("test setup");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("test setup");
        let c = read_credentials(&file).expect("a good file");
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("specdrop@example.org", "pa:ss")
        );
        assert!(!format!("{c:?}").contains("pa:ss"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("test setup");
        let e = read_credentials(&file).err().unwrap_or_default();
        assert!(e.contains("readable by every user") && !e.contains("pa:ss"), "{e}");
        std::fs::write(&file, "just-a-password\n").expect("test setup");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("test setup");
        let e = read_credentials(&file).err().unwrap_or_default();
        assert!(e.contains("USER:PASSWORD") && !e.contains("just-a-password"), "{e}");
    }
}
