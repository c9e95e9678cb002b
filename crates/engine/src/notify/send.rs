//! One try at delivering a notice: blocking (lettre's SMTP client and
//! ureq are), each bounded by [`TIMEOUT`], so a server that never answers
//! costs a sending thread that long and no more.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials as Login;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::digest::Digest;
use crate::config::notify::{Email, Webhook};

const TIMEOUT: Duration = Duration::from_secs(30);

/// The digest as one plain-text e-mail to every `notify.email` address.
pub fn email(email: &Email, digest: &Digest) -> Result<(), String> {
    let mut message = Message::builder()
        .from(email.from.clone())
        .subject(digest.subject.clone())
        .header(ContentType::TEXT_PLAIN);
    for to in &email.to {
        message = message.to(to.clone());
    }
    let message = message
        .body(digest.text.clone())
        .map_err(|e| format!("cannot write the message: {e}"))?;
    let smtp = &email.smtp;
    let mut tls = TlsParameters::builder(smtp.host.clone());
    if let Some(pem) = &smtp.ca_pem {
        let ca = Certificate::from_pem(pem).map_err(|e| format!("notify.smtp_ca_file: {e}"))?;
        tls = tls.add_root_certificate(ca);
    }
    let tls = tls.build_rustls().map_err(|e| format!("cannot set up TLS: {e}"))?;
    let tls = if smtp.implicit_tls {
        Tls::Wrapper(tls)
    } else if smtp.credentials.is_some() {
        // A password never crosses the network in clear: a server that
        // does not offer STARTTLS is refused rather than sent it.
        Tls::Required(tls)
    } else {
        Tls::Opportunistic(tls)
    };
    let mut transport = SmtpTransport::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(TIMEOUT));
    if let Some(c) = &smtp.credentials {
        transport = transport.credentials(Login::new(c.user.clone(), c.password.clone()));
    }
    transport.build().send(&message).map(|_| ()).map_err(|e| e.to_string())
}

/// `{"text": ...}`: the field Slack, Teams and Matrix (hookshot) webhooks
/// all read.
pub fn webhook(hook: &Webhook, text: &str) -> Result<(), String> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build()
        .new_agent();
    let body = serde_json::json!({ "text": text }).to_string();
    agent
        .post(&hook.0)
        .header("Content-Type", "application/json")
        .send(&body)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
